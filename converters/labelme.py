"""LabelMe JSON <-> KeypointDataset.

Conventions (see README "LabelMe conventions"):

* one ``point`` shape per keypoint, label = keypoint name of the layout (case, ``_``, ``-`` and
  spaces are ignored, so "Left Shoulder" and "left-shoulder" both match ``left_shoulder``);
* a person is a ``group_id``; points without one form a single person when no label repeats;
* a ``rectangle`` shape labelled ``person`` with the same ``group_id`` is the person's box,
  else the keypoints' extent grown by a margin;
* a point is v=1 (occluded) when its ``flags.occluded`` is true, its label ends in
  ``_occluded``, or it has ``difficult: true`` (X-AnyLabeling); otherwise v=2. Missing points
  are v=0 at (0, 0). A shape-level ``visible`` key is a display flag and is ignored.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import check_image_header
from annotate.io import dumps_json, read_json, safe_relative
from annotate.skeletons import Layout, normalise_name

OCCLUDED_SUFFIX = "_occluded"
LABELME_VERSION = "5.5.0"


@dataclass
class LabelmePerson:
    keypoints: np.ndarray  # (K, 3)
    bbox: list[float] | None
    attributes: dict[str, Any]
    group_id: int | None


@dataclass
class LabelmeImage:
    """One parsed LabelMe file: the image's path relative to the LabelMe root, size and persons."""

    json_path: Path
    file_name: str
    width: int
    height: int
    persons: list[LabelmePerson]
    image_meta: dict[str, Any]


_NUMBER = (int, float)


def _number_pair(pt: Any) -> bool:
    if type(pt) is not list or len(pt) != 2:
        return False
    x, y = pt
    return (type(x) in _NUMBER and type(y) in _NUMBER and math.isfinite(x) and math.isfinite(y))


def parse_labelme(obj: Any, json_path: Path, root: Path, layout: Layout,
                  person_label: str = "person") -> LabelmeImage:
    """Parse one LabelMe JSON object; raises :class:`PosekitError` naming the file and shape.

    ``root`` is the images folder: ``imagePath`` (relative to the JSON file) must lie inside it,
    and the COCO ``file_name`` is the image's path relative to it."""
    if not isinstance(obj, dict):
        raise PosekitError(json_path, f"expected a LabelMe JSON object, found a {type(obj).__name__}")
    shapes = obj.get("shapes")
    if not isinstance(shapes, list):
        raise PosekitError(json_path, "no 'shapes' list; not a LabelMe file")
    image_path = obj.get("imagePath")
    img_full = safe_relative(json_path.parent, image_path, "imagePath", json_path, root)
    file_name = img_full.relative_to(root.resolve()).as_posix()
    w, h = obj.get("imageWidth"), obj.get("imageHeight")
    if w is None or h is None:
        try:
            w, h = check_image_header(img_full)
        except PosekitError as exc:
            raise PosekitError(json_path, f"imageWidth/imageHeight absent and {exc}") from None
    elif not (isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool) and w > 0 and h > 0):
        raise PosekitError(json_path, f"imageWidth/imageHeight {w!r}x{h!r} must be positive integers")

    names = {normalise_name(n): i for i, n in enumerate(layout.keypoints)}
    K = layout.num_keypoints
    person_key = normalise_name(person_label)
    groups: dict[Any, dict[str, Any]] = {}

    def group(gid: Any) -> dict[str, Any]:
        return groups.setdefault(gid, {"kps": np.zeros((K, 3)), "seen": {}, "box": None, "attrs": {}})

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
                                              f"{layout.name} (use --layout to choose another)")
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
                    raise PosekitError(json_path, f"label {layout.keypoints[j]!r} appears more than once without "
                                                  f"group_id; set group_id per person (ambiguous)")
                raise PosekitError(json_path, f"label {layout.keypoints[j]!r} appears twice in group_id {gid}")
            g["seen"][j] = shape
            g["kps"][j] = (pts[0][0], pts[0][1], 1 if occluded else 2)
            if isinstance(shape.get("score"), (int, float)):
                g.setdefault("kp_scores", {})[j] = float(shape["score"])
        elif stype == "rectangle" and norm == person_key:
            if len(pts) != 2:
                raise PosekitError(json_path, f"{where} ({label!r}) is a rectangle with {len(pts)} points; expected 2")
            g = group(gid)
            if g["box"] is not None:
                raise PosekitError(json_path, f"two '{person_label}' rectangles share group_id {gid}")
            (x1, y1), (x2, y2) = pts
            g["box"] = [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)]
            attrs = shape.get("attributes")
            g["attrs"] = dict(attrs) if isinstance(attrs, dict) else {}
            if isinstance(shape.get("description"), str) and shape["description"]:
                g["attrs"].setdefault("description", shape["description"])
        # other shapes (polygons, other labels) are not keypoint data and are ignored

    # a lone rectangle without group_id belongs to the single person of the image
    if None in groups and groups[None]["box"] is not None and not groups[None]["seen"]:
        grouped = [k for k in groups if k is not None]
        if len(grouped) == 1 and groups[grouped[0]]["box"] is None:
            groups[grouped[0]]["box"] = groups.pop(None)["box"]
    persons = []
    for gid in sorted(groups, key=lambda k: (k is None, k if k is not None else 0)):
        g = groups[gid]
        attrs = dict(g["attrs"])
        if "kp_scores" in g:
            attrs["keypoint_scores"] = [g["kp_scores"].get(j, 0.0) for j in range(K)]
        persons.append(LabelmePerson(g["kps"], g["box"], attrs, gid))
    meta = obj.get("posekit") if isinstance(obj.get("posekit"), dict) else {}
    return LabelmeImage(json_path, file_name, int(w), int(h), persons, meta)


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


def read_labelme_folder(folder: str | Path, layout: Layout, person_label: str = "person",
                        box_margin: float = 0.1, progress: Any = None, images_dir: str | Path | None = None,
                        ) -> tuple[KeypointDataset, list[PosekitError]]:
    """Read every LabelMe file below ``folder`` (images inside ``images_dir``, default ``folder``).
    Returns the dataset of the good files and the errors of the bad ones (the caller decides)."""
    folder = Path(folder)
    root = Path(images_dir) if images_dir is not None else folder
    files = find_labelme_files(folder)
    parsed: list[LabelmeImage] = []
    errors: list[PosekitError] = []
    for path in files:
        try:
            parsed.append(parse_labelme(read_json(path), path, root, layout, person_label))
        except PosekitError as exc:
            errors.append(exc)
        if progress is not None:
            progress(1)
    return images_to_dataset(parsed, layout, box_margin), errors


def images_to_dataset(parsed: Iterable[LabelmeImage], layout: Layout, box_margin: float = 0.1) -> KeypointDataset:
    """Assemble parsed LabelMe images into one dataset; ids from ``posekit`` metadata when present."""
    cat = Category.from_layout(layout)
    b = DatasetBuilder(cat)
    used_img: set[int] = set()
    used_ann: set[int] = set()
    pending: list[tuple[int, LabelmePerson]] = []
    next_img = 1
    for item in parsed:
        meta = item.image_meta
        iid = meta.get("image_id")
        if not isinstance(iid, int) or iid in used_img:
            while next_img in used_img:
                next_img += 1
            iid = next_img
        used_img.add(iid)
        extra = meta.get("image_extra") if isinstance(meta.get("image_extra"), dict) else {}
        b.add_image(item.file_name, item.width, item.height, image_id=iid, **extra)
        for p in item.persons:
            pending.append((iid, p))
            aid = p.attributes.get("ann_id")
            if isinstance(aid, int):
                used_ann.add(aid)
    next_ann = 1
    seen_ann: set[int] = set()
    for iid, p in pending:
        attrs = dict(p.attributes)
        aid = attrs.pop("ann_id", None)
        if not isinstance(aid, int) or aid in seen_ann:
            while next_ann in used_ann or next_ann in seen_ann:
                next_ann += 1
            aid = next_ann
        seen_ann.add(aid)
        iscrowd = bool(attrs.pop("iscrowd", False))
        area = attrs.pop("area", None)
        score = attrs.pop("score", None)
        b.add_person(iid, p.keypoints, p.bbox, area if isinstance(area, (int, float)) else None,
                     iscrowd, score if isinstance(score, (int, float)) else None, ann_id=aid, **attrs)
    return b.build(box_margin)


def person_shapes(kps: np.ndarray, bbox: np.ndarray, gid: int, attrs: dict[str, Any],
                   layout: Layout, person_label: str, kp_scores: Any = None) -> list[dict[str, Any]]:
    shapes = []
    for j, (x, y, v) in enumerate(kps):
        if v <= 0:
            continue
        s: dict[str, Any] = {"label": layout.keypoints[j], "points": [[float(x), float(y)]],
                             "group_id": gid, "description": "", "shape_type": "point",
                             "flags": {"occluded": bool(v == 1)}, "mask": None}
        if kp_scores is not None:
            s["score"] = float(kp_scores[j])
        shapes.append(s)
    if not np.isnan(bbox).any():
        x, y, w, h = (float(c) for c in bbox)
        shapes.append({"label": person_label, "points": [[x, y], [x + w, y + h]], "group_id": gid,
                       "description": str(attrs.pop("description", "")), "shape_type": "rectangle",
                       "flags": {}, "mask": None, "attributes": attrs})
    return shapes


def labelme_document(image_rel: str, width: int | None, height: int | None, shapes: list[dict],
                     meta: dict[str, Any]) -> dict[str, Any]:
    """A LabelMe file's JSON object (imageData null)."""
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_rel,
            "imageData": None, "imageHeight": height, "imageWidth": width, "posekit": meta}


def dataset_to_labelme(ds: KeypointDataset, out_dir: str | Path, images_dir: str | Path | None = None,
                       person_label: str = "person") -> dict[Path, bytes]:
    """Render every image of the dataset as a LabelMe JSON document.

    Returns ``{json_path: bytes}``; nothing is written here so that the caller can check
    all targets first and then write atomically.
    """
    out_dir = Path(out_dir)
    layout = ds.category.layout
    images_dir = Path(images_dir) if images_dir is not None else out_dir
    by_image = ds.indices_by_image()
    docs: dict[Path, bytes] = {}
    for im in ds.images:
        rel = Path(im.file_name)
        if rel.is_absolute() or ".." in rel.parts:
            raise PosekitError(None, f"image {im.id}: file_name {im.file_name!r} must be a relative path inside the images folder")
        json_path = out_dir / rel.with_suffix(".json")
        if json_path in docs:
            raise PosekitError(None, f"image {im.id}: {json_path} would be written twice (two images share a name)")
        image_rel = os.path.relpath(images_dir / rel, json_path.parent)
        shapes: list[dict[str, Any]] = []
        for gid, r in enumerate(by_image[im.id], start=1):
            attrs: dict[str, Any] = {"ann_id": int(ds.ann_id[r]), "iscrowd": int(ds.iscrowd[r])}
            if not np.isnan(ds.area[r]):
                attrs["area"] = float(ds.area[r])
            if not np.isnan(ds.score[r]):
                attrs["score"] = float(ds.score[r])
            extra = dict(ds.extra[r])
            kp_scores = extra.pop("keypoint_scores", None)
            attrs.update(extra)
            shapes += person_shapes(ds.keypoints[r], ds.bbox[r], gid, attrs, layout, person_label, kp_scores)
        meta = {"image_id": im.id, "image_extra": im.extra}
        docs[json_path] = dumps_json(labelme_document(image_rel, im.width, im.height, shapes, meta), indent=2)
    return docs
