"""Label Studio JSON tasks <-> KeypointDataset.

One task per image (``data.image`` = ``--image-root-url`` + file name, as label-studio-converter
writes it; ``data.image_id``, ``data.width`` and ``data.height`` keep the COCO image's id and
size). Per person, in the task's first annotation:

* a ``rectanglelabels`` region (from ``person``) labelled with the person's category: the box;
* one ``keypointlabels`` region (from ``keypoint``) per labeled keypoint, labelled with the
  keypoint's name, with ``parentID`` = the box's region id (Label Studio's link from a region to
  the region it belongs to); unlabeled keypoints (v=0) have no region;
* occlusion: a per-region ``choices`` result (from ``visibility``, the keypoint's region id,
  choice ``occluded``) that Label Studio shows when the keypoint is selected: v=1; else v=2;
* a crowd region is a box with the per-region choice ``crowd`` (from ``crowd``).

Coordinates are percent of the image (``original_width``/``original_height`` on every result).
The labeling config that declares all of this is written beside the tasks as
``<name>.label_config.xml`` (label-studio-converter's naming).

Reading also takes Label Studio's own exports: the first non-cancelled annotation of a task
(else its first prediction), keypoints without ``parentID`` attached to the one box that
contains them (or, when no box does and no label repeats, made one person), and
label-studio-converter's ``hidden`` points (its mark for COCO v<2) as v=1, or v=0 at (0, 0).
"""
from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.io import dumps_json, read_json
from annotate.notes import Notes
from annotate.skeletons import LAYOUTS, NameIndex, canonical_name, layout_for_names

from .formats import Options, Output, Source, class_index, note_unheld

BOX_TAG, KEYPOINT_TAG, VISIBILITY_TAG, CROWD_TAG, IMAGE_TAG = "person", "keypoint", "visibility", "crowd", "image"
OCCLUDED, CROWD = "occluded", "crowd"
POINT_WIDTH = 1.0
_COLOURS = {"left": "#00c853", "right": "#ff8f00", "": "#2f80ed"}


def config_path(tasks_path: Path) -> Path:
    """Where the labeling config sits beside a tasks file."""
    name = tasks_path.name[:-5] if tasks_path.name.lower().endswith(".json") else tasks_path.name
    return tasks_path.with_name(name + ".label_config.xml")


def labeling_config(categories: list[Category]) -> str:
    """Label Studio's labeling config for persons with these keypoints."""
    def side(n: str) -> str:
        c = canonical_name(n)
        return "left" if c.startswith("left_") else "right" if c.startswith("right_") else ""

    lines = ["<View>", f'  <Image name="{IMAGE_TAG}" value="${IMAGE_TAG}" zoom="true" zoomControl="true"/>',
             f'  <RectangleLabels name="{BOX_TAG}" toName="{IMAGE_TAG}">']
    lines += [f"    <Label value={quoteattr(c.name)} background=\"#ffa39e\"/>" for c in categories]
    lines += ["  </RectangleLabels>", f'  <KeyPointLabels name="{KEYPOINT_TAG}" toName="{IMAGE_TAG}" strokeWidth="2">']
    lines += [f"    <Label value={quoteattr(k)} background=\"{_COLOURS[side(k)]}\"/>" for k in categories[0].keypoints]
    lines += ["  </KeyPointLabels>",
              f'  <View visibleWhen="region-selected" whenTagName="{KEYPOINT_TAG}">',
              f'    <Choices name="{VISIBILITY_TAG}" toName="{IMAGE_TAG}" perRegion="true" '
              f'whenTagName="{KEYPOINT_TAG}" showInline="true">',
              f'      <Choice value="{OCCLUDED}" hint="labeled but not visible (COCO v=1)"/>',
              "    </Choices>", "  </View>",
              f'  <View visibleWhen="region-selected" whenTagName="{BOX_TAG}">',
              f'    <Choices name="{CROWD_TAG}" toName="{IMAGE_TAG}" perRegion="true" whenTagName="{BOX_TAG}" '
              f'showInline="true">',
              f'      <Choice value="{CROWD}" hint="a crowd region, not one person (COCO iscrowd)"/>',
              "    </Choices>", "  </View>", "</View>", ""]
    return "\n".join(lines)


def write_labelstudio(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes,
                      images_dir: Path | None) -> Output:
    """Tasks JSON and the labeling config beside it."""
    note_unheld(ds, notes, image_ids=True)
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions' segmentation (a Label Studio crowd region is its box)",
               int(sum(1 for r in np.flatnonzero(crowd).tolist() if ds.extra[r].get("segmentation"))))
    cls, _ = class_index(ds)
    kps = ds.keypoints
    v = kps[..., 2]
    odd = ~np.isin(v, (0, 1, 2))
    notes.changed("keypoints with visibility other than 0, 1 or 2 written as occluded (0 < v < 1.5) or visible",
                  int((odd & (v > 0)).sum()))
    notes.lost("coordinates of unlabeled (v=0) keypoints (Label Studio has no region for them)",
               int(((v <= 0) & ((kps[..., 0] != 0) | (kps[..., 1] != 0))).sum()))
    no_box = np.isnan(ds.bbox).any(axis=1)
    if no_box.any():
        raise PosekitError(None, f"{int(no_box.sum())} person(s) have no box (e.g. annotation "
                                 f"{int(ds.ann_id[np.flatnonzero(no_box)[0]])}); Label Studio links keypoints to a box")
    by_image = ds.indices_by_image()
    tasks = []
    for im in ds.images:
        W, H = float(im.width), float(im.height)
        common = {"to_name": IMAGE_TAG, "original_width": im.width, "original_height": im.height, "image_rotation": 0}
        result: list[dict[str, Any]] = []
        for k, r in enumerate(by_image[im.id].tolist(), start=1):
            rid = f"p{k}"
            x, y, w, h = ds.bbox[r].tolist()
            box = {"x": x / W * 100, "y": y / H * 100, "width": w / W * 100, "height": h / H * 100, "rotation": 0}
            result.append({"id": rid, "type": "rectanglelabels", "from_name": BOX_TAG, **common,
                           "value": {**box, "rectanglelabels": [ds.categories[cls[r]].name]}})
            if crowd[r]:
                result.append({"id": rid, "type": "choices", "from_name": CROWD_TAG, **common,
                               "value": {**box, "choices": [CROWD]}})
                notes.lost("keypoints of crowd regions", int((v[r] > 0).sum()))
                continue
            for j, name in enumerate(ds.category.keypoints):
                vis = v[r, j]
                if vis <= 0:
                    continue
                pt = {"x": kps[r, j, 0] / W * 100, "y": kps[r, j, 1] / H * 100, "width": POINT_WIDTH}
                kid = f"{rid}k{j}"
                result.append({"id": kid, "type": "keypointlabels", "from_name": KEYPOINT_TAG, **common,
                               "parentID": rid, "value": {**pt, "keypointlabels": [name]}})
                if vis < 1.5:
                    result.append({"id": kid, "type": "choices", "from_name": VISIBILITY_TAG, **common,
                                   "value": {**pt, "choices": [OCCLUDED]}})
        url = opts.image_root_url + im.file_name
        tasks.append({"data": {IMAGE_TAG: url, "image_id": im.id, "width": im.width, "height": im.height},
                      "annotations": [{"result": result, "ground_truth": False}]})
    cfg = config_path(dst)
    return Output(dst.parent, {dst.name: dumps_json(tasks, indent=2),
                               cfg.name: labeling_config(ds.categories).encode("utf-8")},
                  summary=f"{len(tasks)} tasks, {len(ds)} persons; labeling config {cfg.name}")


# --------------------------------------------------------------------------- reading

def _config(path: Path) -> tuple[list[str] | None, list[str] | None, str | None]:
    """(keypoint names, box labels, the Image tag's data key) from a labeling config."""
    if not path.is_file():
        return None, None, None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise PosekitError(path, f"not well-formed XML: {exc}") from None
    kp = [lab.get("value") for tag in root.iter("KeyPointLabels") for lab in tag.iter("Label") if lab.get("value")]
    boxes = [lab.get("value") for tag in root.iter("RectangleLabels") for lab in tag.iter("Label") if lab.get("value")]
    image = next((t.get("value", "").lstrip("$") for t in root.iter("Image")), None)
    return kp or None, boxes or None, image


def _file_name(url: str, root_url: str) -> str:
    if root_url and url.startswith(root_url):
        return urllib.parse.unquote(url[len(root_url):])
    if "?d=" in url:
        return urllib.parse.unquote(url.split("?d=", 1)[1])
    if url.startswith(("http://", "https://", "s3://", "gs://", "/data/")):
        return urllib.parse.unquote(url.rstrip("/").rsplit("/", 1)[-1])
    return url


def _names_from_results(tasks: list[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for t in tasks:
        for r in _results(t)[0]:
            if isinstance(r, dict) and r.get("type") == "keypointlabels":
                for n in (r.get("value") or {}).get("keypointlabels") or []:
                    seen.setdefault(n, None)
    names = list(seen)
    want = {canonical_name(n) for n in names}
    for lay in LAYOUTS.values():  # every label a keypoint of one built-in layout: that layout's order
        if want and want <= {canonical_name(n) for n in lay.keypoints}:
            return list(lay.keypoints)
    return names


def _results(task: Any) -> tuple[list[Any], str]:
    if not isinstance(task, dict):
        return [], "none"
    anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if anns:
        return anns[0].get("result") or [], "annotation"
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if preds:
        return preds[0].get("result") or [], "prediction"
    return [], "none"


def read_labelstudio(src: Path, opts: Options) -> Source:
    """Read Label Studio JSON tasks (an export, or what :func:`write_labelstudio` wrote)."""
    tasks = read_json(src)
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise PosekitError(src, "expected Label Studio tasks: a list of {data, annotations}")
    kp_names, box_labels, image_key = _config(config_path(src))
    names = kp_names or _names_from_results(tasks)
    if opts.layout and not kp_names:
        from annotate.skeletons import get_layout

        names = list(get_layout(opts.layout).keypoints)
    if not names:
        raise PosekitError(src, "no keypoint labels in the tasks (and no labeling config beside them)")
    index = NameIndex(names)
    K = len(names)
    box_labels = box_labels or sorted({n for t in tasks for r in _results(t)[0] if isinstance(r, dict)
                                       and r.get("type") == "rectanglelabels"
                                       for n in (r.get("value") or {}).get("rectanglelabels") or []}) or ["person"]
    skeleton = [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"})
            for i, n in enumerate(box_labels)]
    cat_id = {c.name: c.id for c in cats}
    b = DatasetBuilder(cats[0])
    b.categories = cats
    notes = Notes()
    other: dict[str, int] = {}
    ids = [t.get("data", {}).get("image_id") if isinstance(t, dict) and isinstance(t.get("data"), dict) else None
           for t in tasks]
    keep_ids = all(isinstance(i, int) and not isinstance(i, bool) for i in ids) and len(set(ids)) == len(ids)
    if not keep_ids and any(i is not None for i in ids):
        notes.changed("image ids renumbered (data.image_id missing or repeated in some tasks)", len(ids))
    for t_i, task in enumerate(tasks):
        where = f"task {t_i}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise PosekitError(src, f"{where} has no 'data' object")
        data = task["data"]
        url = data.get(image_key or IMAGE_TAG)
        if url is None:
            strings = [v for v in data.values() if isinstance(v, str)]
            url = strings[0] if len(strings) == 1 else None
        if not isinstance(url, str) or not url:
            raise PosekitError(src, f"{where}: data has no image URL ({image_key or IMAGE_TAG!r})")
        results, kind = _results(task)
        if kind == "prediction":
            notes.changed("tasks without an annotation read from their first prediction", 1)
        n_ann = len([a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")])
        notes.lost("further annotations of a task (other annotators; the first is read)", max(0, n_ann - 1))
        W = next((r.get("original_width") for r in results if isinstance(r, dict) and r.get("original_width")),
                 data.get("width"))
        H = next((r.get("original_height") for r in results if isinstance(r, dict) and r.get("original_height")),
                 data.get("height"))
        iid = b.add_image(_file_name(url, opts.image_root_url), W, H, image_id=ids[t_i] if keep_ids else None)
        if results and not (W and H):
            raise PosekitError(src, f"{where}: no original_width/original_height; percent coordinates cannot be "
                                    f"turned into pixels")
        persons: dict[str, dict[str, Any]] = {}
        points: list[tuple[str, dict[str, Any]]] = []
        flags: dict[str, set[str]] = {}
        for r in results:
            if not isinstance(r, dict):
                continue
            typ, val, rid = r.get("type"), r.get("value") or {}, str(r.get("id"))
            if typ == "rectanglelabels":
                lab = (val.get("rectanglelabels") or [None])[0]
                if lab not in cat_id:
                    other["rectangles of other labels"] = other.get("rectangles of other labels", 0) + 1
                    continue
                try:
                    box = [val["x"] / 100 * W, val["y"] / 100 * H, val["width"] / 100 * W, val["height"] / 100 * H]
                except (KeyError, TypeError):
                    raise PosekitError(src, f"{where}: rectangle {rid} has no x/y/width/height") from None
                if val.get("rotation"):
                    notes.lost("box rotations", 1)
                persons[rid] = {"box": box, "cat": cat_id[lab], "kps": np.zeros((K, 3))}
            elif typ == "keypointlabels":
                points.append((rid, r))
            elif typ == "choices":
                flags.setdefault(rid, set()).update(val.get("choices") or [])
            else:
                other[f"{typ} results"] = other.get(f"{typ} results", 0) + 1
        loose: list[tuple[str, dict[str, Any]]] = []
        for rid, r in points:
            parent = r.get("parentID")
            if parent is not None and str(parent) in persons:
                _place(persons[str(parent)], r, rid, flags, index, W, H, src, where)
            else:
                loose.append((rid, r))
        if loose:
            _place_loose(loose, persons, flags, index, W, H, K, cats[0].id, src, where)
        for rid, p in persons.items():
            b.add_person(iid, p["kps"], p["box"], iscrowd=CROWD in flags.get(rid, set()), category_id=p["cat"])
    for what, n in sorted(other.items()):
        notes.lost(f"Label Studio {what} (not person boxes or keypoints)", n)
    b.notes.merge(notes)
    ds = b.build(opts.box_margin)
    return Source(ds, opts.images or src.parent)


def _place(person: dict[str, Any], r: dict[str, Any], rid: str, flags: dict[str, set[str]],
           index: NameIndex, W: float, H: float, src: Path, where: str) -> None:
    val = r.get("value") or {}
    lab = (val.get("keypointlabels") or [None])[0]
    j = index.get(lab) if isinstance(lab, str) else None
    if j is None:
        raise PosekitError(src, f"{where}: keypoint label {lab!r} is not one of the keypoints "
                                f"({', '.join(list(index.exact)[:5])}, ...)")
    try:
        x, y = val["x"] / 100 * W, val["y"] / 100 * H
    except (KeyError, TypeError):
        raise PosekitError(src, f"{where}: keypoint {rid} has no x/y") from None
    if person["kps"][j, 2] > 0:
        raise PosekitError(src, f"{where}: person {r.get('parentID')} has two {lab!r} keypoints")
    if val.get("hidden"):  # label-studio-converter's mark for COCO v < 2
        person["kps"][j] = (0, 0, 0) if x == 0 and y == 0 else (x, y, 1)
        return
    person["kps"][j] = (x, y, 1 if OCCLUDED in flags.get(rid, set()) else 2)


def _place_loose(loose: list[tuple[str, dict[str, Any]]], persons: dict[str, dict[str, Any]],
                 flags: dict[str, set[str]], index: NameIndex, W: float, H: float, K: int, cat: int,
                 src: Path, where: str) -> None:
    """Keypoints without a (known) parentID: into the one box that contains each; the rest
    form one person when no label repeats."""
    rest = []
    for rid, r in loose:
        val = r.get("value") or {}
        try:
            x, y = val["x"] / 100 * W, val["y"] / 100 * H
        except (KeyError, TypeError):
            raise PosekitError(src, f"{where}: keypoint {rid} has no x/y") from None
        inside = [p for p in persons.values() if p["box"][0] <= x <= p["box"][0] + p["box"][2]
                  and p["box"][1] <= y <= p["box"][1] + p["box"][3]]
        if len(inside) == 1:
            _place(inside[0], r, rid, flags, index, W, H, src, where)
        else:
            rest.append((rid, r))
    if not rest:
        return
    labels = [((r.get("value") or {}).get("keypointlabels") or [None])[0] for _, r in rest]
    if len(set(labels)) != len(labels):
        raise PosekitError(src, f"{where}: keypoints without parentID that no single box holds repeat a label "
                                f"({len(rest)} points); cannot tell the persons apart")
    person = {"box": None, "cat": cat, "kps": np.zeros((K, 3))}
    for rid, r in rest:
        _place(person, r, rid, flags, index, W, H, src, where)
    persons[f"loose-{len(persons)}"] = person
