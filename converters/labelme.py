"""LabelMe JSON <-> KeypointDataset.

Conventions (see README "LabelMe conventions"):

* one ``point`` shape per keypoint, label = keypoint name (case, ``_``, ``-`` and spaces are
  ignored, so "Left Shoulder" and "left-shoulder" both match ``left_shoulder``);
* a person is a ``group_id``; points without one form a single person when no label repeats;
* a ``rectangle`` labelled ``person`` with the same ``group_id`` is the person's box (2 corner
  points, or 4 axis-aligned corners as some auto-labeling tools write), else the keypoints'
  extent grown by a margin; ``polygon`` shapes labelled ``person`` are its segmentation;
* a point is v=1 (occluded) when its ``flags.occluded`` is true, its label ends in
  ``_occluded``, or it has ``difficult: true`` (X-AnyLabeling); otherwise v=2. Missing points
  are v=0 at (0, 0). A shape-level ``visible`` key is a display flag and is ignored.

What COCO holds that LabelMe shapes cannot (ids, the category with its skeleton, iscrowd, area,
exact boxes, other fields) travels in each file's ``posekit`` block, and the dataset's
``info``/``licenses`` in ``.posekit-dataset.json`` at the folder's root, so COCO -> LabelMe ->
COCO gives the same JSON back. Anything read but not carried is counted in the dataset's notes.
"""
from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from annotate.coco import NO_ISCROWD, category_from_json, category_to_json
from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import LABELME_IMAGE_SUFFIXES, check_image_header
from annotate.io import dumps_json, json_numbers, read_json, resolved_folder, safe_relative
from annotate.notes import Notes
from annotate.skeletons import Layout, normalise_name

OCCLUDED_SUFFIX = "_occluded"
LABELME_VERSION = "5.5.0"
DATASET_FILE = ".posekit-dataset.json"
_SCORE_PREFIX = "score "
# keys of a point shape that are read (others are counted as not carried)
_POINT_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags", "mask", "score",
               "difficult", "visible", "attributes", "kie_linking", "direction"}


@dataclass
class LabelmePerson:
    keypoints: np.ndarray  # (K, 3)
    bbox: list[float] | None
    attributes: dict[str, Any]
    group_id: int | None
    segmentation: list[list[float]] = field(default_factory=list)


@dataclass
class LabelmeImage:
    """One parsed LabelMe file: the image's path relative to the images root, size and persons."""

    json_path: Path
    file_name: str
    width: int | None
    height: int | None
    persons: list[LabelmePerson]
    image_meta: dict[str, Any]
    notes: Notes = field(default_factory=Notes)


_NUMBER = (int, float)


def _number_pair(pt: Any) -> bool:
    if type(pt) is not list or len(pt) != 2:
        return False
    x, y = pt
    return (type(x) in _NUMBER and type(y) in _NUMBER and math.isfinite(x) and math.isfinite(y))


def _rectangle_box(pts: list, json_path: Path, where: str, label: str) -> list[float]:
    """``[x, y, w, h]`` of a rectangle given by 2 opposite corners or 4 axis-aligned corners."""
    if len(pts) == 4:
        xs, ys = sorted({p[0] for p in pts}), sorted({p[1] for p in pts})
        corners = {(x, y) for x in xs for y in ys}
        if len(xs) > 2 or len(ys) > 2 or {tuple(p) for p in pts} != corners:
            raise PosekitError(json_path, f"{where} ({label!r}) is a rectangle with 4 points that are not the "
                                          f"corners of an axis-aligned box")
        pts = [[xs[0], ys[0]], [xs[-1], ys[-1]]]
    elif len(pts) != 2:
        raise PosekitError(json_path, f"{where} ({label!r}) is a rectangle with {len(pts)} points; expected 2 or 4")
    (x1, y1), (x2, y2) = pts
    return [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)]


def resolve_image(obj: dict, json_path: Path, root: Path) -> Path:
    """The image a LabelMe file annotates. ``imagePath`` is relative to the JSON file and must lie
    inside ``root``; when it names no image (labelme's own examples point it at the JSON file
    itself and embed the picture in ``imageData``), an image with the JSON file's name beside it
    is used; with none there, the file is refused: COCO needs an image file to name."""
    image_path = obj.get("imagePath")
    full = safe_relative(json_path.parent, image_path, "imagePath", json_path, root)
    if full.suffix.lower() in LABELME_IMAGE_SUFFIXES or (full.is_file() and full.suffix.lower() != ".json"):
        return full
    for suffix in LABELME_IMAGE_SUFFIXES:
        for cand in (json_path.with_suffix(suffix), json_path.with_suffix(suffix.upper())):
            if cand.is_file():
                return safe_relative(json_path.parent, cand.name, "image beside the file", json_path, root)
    embedded = " (the picture is only embedded in imageData: save it as an image file beside the " \
               "JSON file, e.g. with labelme's 'labelme_export_json')" if obj.get("imageData") else ""
    raise PosekitError(json_path, f"imagePath {image_path!r} is not an image and no image named "
                                  f"{json_path.stem}.* lies beside the file{embedded}")


def _embedded_size(obj: dict) -> tuple[int, int] | None:
    data = obj.get("imageData")
    if not isinstance(data, str) or not data:
        return None
    import io

    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=False))) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def file_category(obj: dict, json_path: Path) -> tuple[Category, list[Category]] | None:
    """The keypoint categories a file written by posekit carries in its ``posekit`` block."""
    meta = obj.get("posekit")
    if not isinstance(meta, dict) or not isinstance(meta.get("categories"), list) or not meta["categories"]:
        return None
    try:
        cats = [category_from_json(c) for c in meta["categories"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise PosekitError(json_path, f"posekit block: bad category ({exc})") from None
    return cats[0], cats


def parse_labelme(obj: Any, json_path: Path, root: Path, layout: Layout | Category,
                  person_label: str = "person") -> LabelmeImage:
    """Parse one LabelMe JSON object; raises :class:`PosekitError` naming the file and shape.

    ``root`` is the images folder: ``imagePath`` (relative to the JSON file) must lie inside it,
    and the COCO ``file_name`` is the image's path relative to it. ``layout`` names the point
    labels (a file's own ``posekit`` category wins)."""
    if not isinstance(obj, dict):
        raise PosekitError(json_path, f"expected a LabelMe JSON object, found a {type(obj).__name__}")
    shapes = obj.get("shapes")
    if not isinstance(shapes, list):
        raise PosekitError(json_path, "no 'shapes' list; not a LabelMe file")
    img_full = resolve_image(obj, json_path, root)
    # inside root (resolve_image makes sure of it): the path below the resolved root
    file_name = str(img_full)[len(resolved_folder(str(root))):].lstrip(os.sep).replace(os.sep, "/")
    w, h = obj.get("imageWidth"), obj.get("imageHeight")
    meta = obj.get("posekit") if isinstance(obj.get("posekit"), dict) else {}
    im_extra = meta.get("image_extra") if isinstance(meta.get("image_extra"), dict) else {}
    if w is None and h is None and im_extra.get("_no_width") and im_extra.get("_no_height"):
        pass  # the COCO file this came from gave no size; nor does this file
    elif w is None or h is None:
        try:
            w, h = check_image_header(img_full)
        except PosekitError as exc:
            size = _embedded_size(obj)
            if size is None:
                raise PosekitError(json_path, f"imageWidth/imageHeight absent and {exc}") from None
            w, h = size
    elif not (isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool) and w > 0 and h > 0):
        raise PosekitError(json_path, f"imageWidth/imageHeight {w!r}x{h!r} must be positive integers")

    own = file_category(obj, json_path)
    keypoints = own[0].keypoints if own else list(layout.keypoints)
    lay_name = own[0].name if own else getattr(layout, "name", "custom")
    names = {normalise_name(n): i for i, n in enumerate(keypoints)}
    K = len(keypoints)
    person_key = normalise_name(person_label)
    groups: dict[Any, dict[str, Any]] = {}
    notes = Notes()

    def group(gid: Any) -> dict[str, Any]:
        g = groups.get(gid)
        if g is None:
            g = groups[gid] = {"kps": np.zeros((K, 3)), "seen": {}, "box": None, "attrs": {}, "seg": [],
                               "kp_scores": {}, "kp_desc": {}}
        return g

    for s_idx, shape in enumerate(shapes):
        where = f"shape {s_idx}"
        if not isinstance(shape, dict):
            raise PosekitError(json_path, f"{where} is not an object")
        label, stype = shape.get("label"), shape.get("shape_type", "polygon")
        gid = shape.get("group_id")
        if not isinstance(label, str):
            raise PosekitError(json_path, f"{where} has label {label!r}; expected a string")
        if gid is not None and not (isinstance(gid, int) and not isinstance(gid, bool)):
            raise PosekitError(json_path, f"{where} ({label!r}) has group_id {gid!r}; expected an integer or null")
        pts = shape.get("points")
        if not isinstance(pts, list) or not all(_number_pair(p) for p in pts):
            raise PosekitError(json_path, f"{where} ({label!r}) has points that are not [x, y] numbers")
        norm = normalise_name(label)
        if stype == "point":
            occluded = norm.endswith(OCCLUDED_SUFFIX)
            if occluded:
                norm = norm[: -len(OCCLUDED_SUFFIX)]
            if norm not in names:
                raise PosekitError(json_path, f"{where}: point label {label!r} is not a keypoint of layout "
                                              f"{lay_name} (use --layout to choose another)")
            if len(pts) != 1:
                raise PosekitError(json_path, f"{where} ({label!r}) is a point with {len(pts)} coordinates")
            flags = shape.get("flags") or {}
            if not isinstance(flags, dict):
                raise PosekitError(json_path, f"{where} ({label!r}) has flags that are not an object")
            occluded = occluded or bool(flags.get("occluded")) or shape.get("difficult") is True
            g = group(gid)
            j = names[norm]
            if j in g["seen"]:
                if gid is None:
                    raise PosekitError(json_path, f"label {keypoints[j]!r} appears more than once without "
                                                  f"group_id; set group_id per person (ambiguous)")
                raise PosekitError(json_path, f"label {keypoints[j]!r} appears twice in group_id {gid}")
            g["seen"][j] = shape
            g["kps"][j] = (pts[0][0], pts[0][1], 1 if occluded else 2)
            if isinstance(shape.get("score"), (int, float)) and not isinstance(shape.get("score"), bool):
                g["kp_scores"][j] = float(shape["score"])
            desc = shape.get("description")
            if isinstance(desc, str) and desc and not (desc.startswith(_SCORE_PREFIX) and j in g["kp_scores"]):
                g["kp_desc"][j] = desc
            if flags:
                other_flags = [k for k, v in flags.items() if k != "occluded" and v]
                notes.lost("point flags other than 'occluded' (COCO keypoints have no place for them)",
                           len(other_flags))
            if not shape.keys() <= _POINT_KEYS:
                notes.lost("point shape keys COCO keypoints cannot hold", len(shape.keys() - _POINT_KEYS))
        elif stype == "rectangle" and norm == person_key:
            g = group(gid)
            if g["box"] is not None:
                raise PosekitError(json_path, f"two '{person_label}' rectangles share group_id {gid}")
            g["box"] = _rectangle_box(pts, json_path, where, label)
            g["corners"] = (min(p[0] for p in pts), min(p[1] for p in pts),
                            max(p[0] for p in pts), max(p[1] for p in pts))
            attrs = shape.get("attributes")
            g["attrs"] = dict(attrs) if isinstance(attrs, dict) else {}
            if isinstance(shape.get("description"), str) and shape["description"]:
                g["desc"] = shape["description"]
                g["attrs"].setdefault("description", shape["description"])
        elif stype == "polygon" and norm == person_key and gid is not None and len(pts) >= 3:
            group(gid)["seg"].append([c for p in pts for c in p])
        else:
            why = "not a keypoint, person box or person polygon"
            notes.lost(f"{stype} shapes ({why})", 1)

    # a lone rectangle without group_id belongs to the single person of the image
    if None in groups and groups[None]["box"] is not None and not groups[None]["seen"]:
        grouped = [k for k in groups if k is not None]
        if len(grouped) == 1 and groups[grouped[0]]["box"] is None:
            groups[grouped[0]]["box"] = groups.pop(None)["box"]
    carried = {p.get("group_id"): p for p in meta.get("persons", []) if isinstance(p, dict)}
    persons = []
    for gid in sorted(set(groups) | {g for g, p in carried.items() if not p.get("shapes")},
                      key=lambda k: (k is None, k if k is not None else 0)):
        g = groups.get(gid) or group(gid)
        attrs = dict(carried[gid]) if gid in carried else dict(g["attrs"])
        attrs.pop("group_id", None)
        attrs.pop("shapes", None)
        if g.get("desc"):  # the box's description as a person left it in labelme
            attrs["description"] = g["desc"]
        box = g["box"]
        if "bbox" in attrs:  # the exact box written, unless the rectangle was moved since
            exact = attrs.pop("bbox")
            if exact is None and box is None:
                attrs["_no_bbox"] = True
            elif isinstance(exact, list) and box is not None and _corners(exact) == g.get("corners"):
                box = exact  # compared with the corners as read: x + (x2 - x) need not give x2 back
        for j, x, y in attrs.pop("unlabeled_xy", []) if isinstance(attrs.get("unlabeled_xy"), list) else []:
            if isinstance(j, int) and 0 <= j < K and g["kps"][j, 2] == 0:
                g["kps"][j, :2] = (x, y)  # a v=0 point's coordinates, as the COCO file had them
        if g["kp_scores"]:
            attrs["keypoint_scores"] = [g["kp_scores"].get(j, 0.0) for j in range(K)]
        if g["kp_desc"]:
            attrs["keypoint_descriptions"] = [g["kp_desc"].get(j, "") for j in range(K)]
        if g["seg"] and not isinstance(attrs.get("segmentation"), dict):
            attrs["segmentation"] = g["seg"]
        persons.append(LabelmePerson(g["kps"], box, attrs, gid, g["seg"]))
    lost = [g for g, p in carried.items() if p.get("shapes") and g not in groups]
    notes.lost("persons deleted in LabelMe (in the file's posekit block, no shapes left)", len(lost))
    return LabelmeImage(json_path, file_name, None if w is None else int(w), None if h is None else int(h),
                        persons, meta, notes)


def _corners(box: list) -> tuple[float, ...] | None:
    """The rectangle corners the writer makes of a box (to tell an untouched rectangle)."""
    try:
        x, y, w, h = (float(c) for c in box)
    except (TypeError, ValueError):
        return None
    return (x, y, x + w, y + h)


def find_labelme_files(folder: Path) -> list[Path]:
    """All ``*.json`` files below ``folder``, sorted; hidden files and folders, and COCO files
    named ``*.coco.json`` (as ``annotate prelabel`` writes beside its LabelMe files), skipped."""
    if not folder.is_dir():
        raise PosekitError(folder, "not a folder")
    files = sorted(p for p in folder.rglob("*.json")
                   if not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and not p.name.endswith(".coco.json"))
    if not files:
        raise PosekitError(folder, "no LabelMe .json files found")
    return files


def read_labelme_folder(folder: str | Path, layout: Layout | None = None, person_label: str = "person",
                        box_margin: float = 0.1, progress: Any = None, images_dir: str | Path | None = None,
                        ) -> tuple[KeypointDataset, list[PosekitError]]:
    """Read every LabelMe file below ``folder`` (images inside ``images_dir``, default ``folder``).
    Point labels name ``layout``'s keypoints (default: the category the files carry, else
    COCO-17). Returns the dataset of the good files and the errors of the bad ones."""
    from annotate.skeletons import COCO17

    folder = Path(folder)
    root = Path(images_dir) if images_dir is not None else folder
    files = find_labelme_files(folder)
    parsed: list[LabelmeImage] = []
    errors: list[PosekitError] = []
    categories: list[Category] | None = None
    for path in files:
        try:
            obj = read_json(path)
            own = file_category(obj, path) if isinstance(obj, dict) else None
            if own:
                if layout is not None and tuple(own[0].keypoints) != tuple(layout.keypoints):
                    raise PosekitError(path, f"carries the keypoints of category {own[0].name!r} "
                                             f"({own[0].num_keypoints}), not layout {layout.name}; leave out --layout")
                if categories is None:
                    categories = own[1]
                elif own[0].keypoints != categories[0].keypoints:
                    raise PosekitError(path, f"carries keypoints {own[0].keypoints[:3]}... unlike the folder's "
                                             f"other files ({categories[0].keypoints[:3]}...); one layout per folder")
            parsed.append(parse_labelme(obj, path, root, layout or (categories[0] if categories else COCO17),
                                        person_label))
        except PosekitError as exc:
            errors.append(exc)
        if progress is not None:
            progress(1)
    if categories is None:
        categories = [Category.from_layout(layout or COCO17)]
    ds = images_to_dataset(parsed, categories, box_margin)
    dataset_meta = folder / DATASET_FILE
    if dataset_meta.is_file():
        _apply_dataset_meta(ds, read_json(dataset_meta), dataset_meta)
    return ds, errors


def _apply_dataset_meta(ds: KeypointDataset, meta: Any, path: Path) -> None:
    if not isinstance(meta, dict):
        raise PosekitError(path, "expected a JSON object")
    ds.info = meta.get("info") or {}
    ds.licenses = meta.get("licenses")
    ds.top_extra = meta.get("top_extra") or {}
    ds.other_categories = meta.get("other_categories") or []
    if ds.info.get("_no_info"):
        ds.info = {}


def images_to_dataset(parsed: Iterable[LabelmeImage], layout: Layout | list[Category],
                      box_margin: float = 0.1) -> KeypointDataset:
    """Assemble parsed LabelMe images into one dataset; ids from ``posekit`` metadata when present."""
    cats = layout if isinstance(layout, list) else [Category.from_layout(layout)]
    b = DatasetBuilder(cats[0])
    b.categories = list(cats)
    cat_ids = {c.id for c in cats}
    used_img: set[int] = set()
    used_ann: set[int] = set()
    pending: list[tuple[int, LabelmePerson]] = []
    other_anns: list[dict] = []
    next_img = 1
    # the order the files were written in (COCO's image and annotation order), new ones last
    parsed = sorted(parsed, key=lambda it: _order(it.image_meta))
    for item in parsed:
        b.notes.merge(item.notes)
        iid = item.image_meta.get("image_id")
        if isinstance(iid, int) and not isinstance(iid, bool):
            used_img.add(iid)
        for p in item.persons:
            aid = p.attributes.get("id", p.attributes.get("ann_id"))
            if isinstance(aid, int):
                used_ann.add(aid)
    seen_img: set[int] = set()
    for item in parsed:
        meta = item.image_meta
        iid = meta.get("image_id")
        if not isinstance(iid, int) or isinstance(iid, bool) or iid in seen_img:
            while next_img in used_img or next_img in seen_img:
                next_img += 1
            iid = next_img
        seen_img.add(iid)
        extra = meta.get("image_extra") if isinstance(meta.get("image_extra"), dict) else {}
        extra = dict(extra)
        width, height = item.width, item.height
        if extra.pop("_no_width", False):
            width = None
        if extra.pop("_no_height", False):
            height = None
        b.add_image(item.file_name, width, height, image_id=iid, **extra)
        other_anns += [a for a in meta.get("other_annotations", []) if isinstance(a, dict)]
        for p in item.persons:
            pending.append((iid, p))
    next_ann = 1
    seen_ann: set[int] = set()
    derive = []
    pending.sort(key=lambda item: _order(item[1].attributes))
    for iid, p in pending:
        attrs = dict(p.attributes)
        attrs.pop("order", None)
        aid = attrs.pop("id", attrs.pop("ann_id", None))
        attrs.pop("ann_id", None)
        if not isinstance(aid, int) or isinstance(aid, bool) or aid in seen_ann:
            while next_ann in used_ann or next_ann in seen_ann:
                next_ann += 1
            aid = next_ann
        seen_ann.add(aid)
        iscrowd = attrs.pop("iscrowd", 0)
        area = attrs.pop("area", None)
        score = attrs.pop("score", None)
        cid = attrs.pop("category_id", cats[0].id)
        no_bbox = attrs.pop("_no_bbox", False)
        if cid not in cat_ids:
            cid = cats[0].id
        b.add_person(iid, p.keypoints, p.bbox, area if isinstance(area, (int, float)) else None,
                     bool(iscrowd), score if isinstance(score, (int, float)) else None, ann_id=aid,
                     category_id=cid, **attrs)
        derive.append(not no_bbox)
    ds = b.build(box_margin, derive=np.array(derive, dtype=bool))
    ds.other_annotations = other_anns
    return ds


def _order(meta: dict) -> float:
    order = meta.get("order")
    return order if isinstance(order, int) and not isinstance(order, bool) else math.inf


def _point_shape(label: str, x: float, y: float, v: float, gid: int, score: float | None,
                 description: str) -> dict[str, Any]:
    s: dict[str, Any] = {"label": label, "points": [[x, y]], "group_id": gid,
                         "description": description, "shape_type": "point",
                         "flags": {"occluded": bool(v == 1)}, "mask": None}
    if score is not None:
        s["score"] = score
        if not description:
            s["description"] = f"{_SCORE_PREFIX}{score:.3f}"
    return s


def person_shapes(kps: np.ndarray, bbox: np.ndarray, gid: int, layout: Layout | Category, person_label: str,
                  kp_scores: Any = None, kp_desc: Any = None, segmentation: Any = None,
                  description: str = "") -> list[dict[str, Any]]:
    """The shapes of one person: a point per labeled keypoint (its score, when known, in the point's
    description, as labelme's edit dialog shows it), the box, and polygon segmentations."""
    names = layout.keypoints
    shapes = []
    for j in np.flatnonzero(kps[:, 2] > 0).tolist():
        x, y, v = kps[j].tolist()
        shapes.append(_point_shape(names[j], x, y, v, gid,
                                   float(kp_scores[j]) if kp_scores is not None else None,
                                   str(kp_desc[j]) if kp_desc is not None else ""))
    if not np.isnan(bbox).any():
        x, y, w, h = bbox.tolist()
        shapes.append({"label": person_label, "points": [[x, y], [x + w, y + h]], "group_id": gid,
                       "description": description, "shape_type": "rectangle", "flags": {}, "mask": None})
    if isinstance(segmentation, list):
        for poly in segmentation:
            shapes.append({"label": person_label, "points": [[poly[i], poly[i + 1]] for i in range(0, len(poly) - 1, 2)],
                           "group_id": gid, "description": "", "shape_type": "polygon", "flags": {}, "mask": None})
    return shapes


def _polygons(seg: Any) -> bool:
    """A COCO polygon segmentation that LabelMe polygons hold exactly (3+ points each)."""
    return isinstance(seg, list) and bool(seg) and all(
        isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in p) for p in seg)


def labelme_document(image_rel: str, width: int | None, height: int | None, shapes: list[dict],
                     meta: dict[str, Any]) -> dict[str, Any]:
    """A LabelMe file's JSON object (imageData null)."""
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_rel,
            "imageData": None, "imageHeight": height, "imageWidth": width, "posekit": meta}


def labelme_json_path(out_dir: Path, file_name: str) -> Path:
    """Where the LabelMe file of image ``file_name`` goes: beside it, with ``.json``."""
    return out_dir / Path(file_name).with_suffix(".json")


def dataset_to_labelme(ds: KeypointDataset, out_dir: str | Path, images_dir: str | Path | None = None,
                       person_label: str = "person") -> dict[Path, bytes]:
    """Every image of the dataset as a LabelMe JSON document, plus ``.posekit-dataset.json``
    (the dataset's info and licenses) when the dataset has any.

    Returns ``{json_path: bytes}``; nothing is written here so that the caller can check
    all targets first and then write atomically. Two images that would share a LabelMe file
    (``x.jpg`` and ``x.png``) are refused, naming both."""
    out_dir = Path(out_dir)
    images_dir = Path(images_dir) if images_dir is not None else out_dir
    by_image = ds.indices_by_image()
    categories = [category_to_json(c) for c in ds.categories]
    by_image_other: dict[Any, list] = {}
    for a in ds.other_annotations:
        by_image_other.setdefault(a.get("image_id"), []).append(a)
    docs: dict[Path, bytes] = {}
    owner: dict[Path, str] = {}
    for order, im in enumerate(ds.images):
        rel = Path(im.file_name)
        if rel.is_absolute() or ".." in rel.parts:
            raise PosekitError(None, f"image {im.id}: file_name {im.file_name!r} must be a relative path inside the images folder")
        json_path = labelme_json_path(out_dir, im.file_name)
        if json_path in owner:
            raise PosekitError(None, f"images {owner[json_path]!r} and {im.file_name!r} would share the LabelMe "
                                     f"file {json_path} (labelme pairs an image with <name>.json); rename one")
        owner[json_path] = im.file_name
        image_rel = os.path.relpath(images_dir / rel, json_path.parent)
        shapes: list[dict[str, Any]] = []
        persons = []
        for gid, r in enumerate(by_image[im.id].tolist(), start=1):
            extra = {k: v for k, v in ds.extra[r].items() if k != NO_ISCROWD}
            kp_scores = extra.pop("keypoint_scores", None)
            kp_desc = extra.pop("keypoint_descriptions", None)
            seg = extra.get("segmentation")
            if _polygons(seg):
                extra.pop("segmentation")
            else:
                seg = None
            new = person_shapes(ds.keypoints[r], ds.bbox[r], gid, ds.category, person_label, kp_scores, kp_desc,
                                seg, str(extra.get("description", "")) if "description" in extra else "")
            shapes += new
            entry: dict[str, Any] = {"group_id": gid, "shapes": len(new), "order": r, "id": int(ds.ann_id[r])}
            if int(ds.category_id[r]) != ds.category.id:
                entry["category_id"] = int(ds.category_id[r])
            entry["iscrowd"] = int(ds.iscrowd[r])
            entry["bbox"] = None if np.isnan(ds.bbox[r]).any() else json_numbers(ds.bbox[r])
            if not np.isnan(ds.area[r]):
                entry["area"] = json_numbers([ds.area[r]])[0]
            if not np.isnan(ds.score[r]):
                entry["score"] = float(ds.score[r])
            unlabeled = np.flatnonzero((ds.keypoints[r, :, 2] == 0) & (ds.keypoints[r, :, :2] != 0).any(axis=1))
            if len(unlabeled):  # v=0 points that still have coordinates: no shape, kept here
                entry["unlabeled_xy"] = [[j, *ds.keypoints[r, j, :2].tolist()] for j in unlabeled.tolist()]
            entry.update(extra)
            persons.append(entry)
        image_extra = dict(im.extra)
        if im.width is None:
            image_extra["_no_width"] = True
        if im.height is None:
            image_extra["_no_height"] = True
        meta: dict[str, Any] = {"image_id": im.id, "order": order, "image_extra": image_extra, "categories": categories,
                                "persons": persons}
        if im.id in by_image_other:
            meta["other_annotations"] = by_image_other[im.id]
        docs[json_path] = dumps_json(labelme_document(image_rel, im.width, im.height, shapes, meta), indent=2)
    if ds.info or ds.licenses is not None or ds.top_extra or ds.other_categories:
        docs[out_dir / DATASET_FILE] = dumps_json(
            {"info": ds.info or {"_no_info": True}, "licenses": ds.licenses, "top_extra": ds.top_extra,
             "other_categories": ds.other_categories}, indent=2)
    return docs
