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

Reading also takes Label Studio's own exports (JSON; JSON-MIN; ``completions`` of Label Studio
0.x): the first non-cancelled annotation of a task (else its first prediction; the others are
counted), keypoints without ``parentID`` joined per label to the box holding them or nearest
(else, when no label repeats, made one person; a join that is a guess -- the point inside
several boxes, none, or a box with another point of its label -- counted apart),
label-studio-converter's COCO import (every keypoint labelled with its category, in order after
its box; ``hidden`` points, its mark for COCO v<2, as v=1, or v=0 at (0, 0)), rotated rectangles
as the upright box around them, region ``score``s as the person's score and ``keypoint_scores``,
sizes from the image files when the results have none. The file name is the path of an http(s)
or cloud URL (``https://host/cam1/0001.jpg`` -> ``cam1/0001.jpg``; the query dropped, unless the
path has no image suffix: ``https://host/image?id=1`` -> ``image?id=1``), an upload's name, or
what follows ``?d=``; when the images folder lacks ``<folder>/<name>`` but has ``<name>``, the
name is that file's (counted). Two tasks with one URL are two images of one file name; different
URLs naming one file are refused. The results' sizes must be positive whole numbers (``"100"``
is read as 100); a ``data.width``/``height`` that is not one is not used, and kept as the image's
``data_width``/``data_height`` (counted). The task's other data fields are the image's fields
(and written back).
"""
from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
from scipy.optimize import linear_sum_assignment

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import IMAGE_SUFFIXES
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
    reserved = (IMAGE_TAG, "image_id", "width", "height")
    image_fields = tuple({k for im in ds.images for k in im.extra if k not in reserved})
    note_unheld(ds, notes, ann_fields=("keypoint_scores",), image_fields=image_fields, image_ids=True, score=True)
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions' segmentation (a Label Studio crowd region is its box)",
               int(sum(1 for r in np.flatnonzero(crowd).tolist() if ds.extra[r].get("segmentation"))))
    cls, _ = class_index(ds)
    kps = ds.keypoints
    K = kps.shape[1]
    v = kps[..., 2]
    odd = ~np.isin(v, (0, 1, 2))
    notes.changed("keypoints with visibility other than 0, 1 or 2 written as occluded (0 < v < 1.5) or visible",
                  int((odd & (v > 0)).sum()))
    notes.lost("coordinates of unlabeled (v=0) keypoints (Label Studio has no region for them)",
               int(((v <= 0) & ((kps[..., 0] != 0) | (kps[..., 1] != 0))).sum()))
    boxes, drawn = _boxes(ds, opts.box_margin, notes)
    notes.lost("keypoint scores of unlabeled keypoints (no region to carry them)",
               _unheld_scores(ds, np.flatnonzero(drawn & ~crowd)))
    by_image = ds.indices_by_image()
    tasks = []
    for im in ds.images:
        W, H = float(im.width), float(im.height)
        common = {"to_name": IMAGE_TAG, "original_width": im.width, "original_height": im.height, "image_rotation": 0}
        result: list[dict[str, Any]] = []
        for k, r in enumerate(by_image[im.id].tolist(), start=1):
            if not drawn[r]:
                continue
            rid = f"p{k}"
            x, y, w, h = boxes[r].tolist()
            box = {"x": x / W * 100, "y": y / H * 100, "width": w / W * 100, "height": h / H * 100, "rotation": 0}
            result.append({"id": rid, "type": "rectanglelabels", "from_name": BOX_TAG, **common,
                           "value": {**box, "rectanglelabels": [ds.categories[cls[r]].name]},
                           **({} if np.isnan(ds.score[r]) else {"score": float(ds.score[r])})})
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
                               "parentID": rid, "value": {**pt, "keypointlabels": [name]}, **_score(ds.extra[r], j, K)})
                if vis < 1.5:
                    result.append({"id": kid, "type": "choices", "from_name": VISIBILITY_TAG, **common,
                                   "value": {**pt, "choices": [OCCLUDED]}})
        url = opts.image_root_url + im.file_name
        data = {IMAGE_TAG: url, "image_id": im.id, "width": im.width, "height": im.height}
        data.update({k: val for k, val in im.extra.items() if k not in reserved})
        tasks.append({"data": data,
                      "annotations": [{"result": result, "ground_truth": False}]})
    cfg = config_path(dst)
    return Output(dst.parent, {dst.name: dumps_json(tasks, indent=2),
                               cfg.name: labeling_config(ds.categories).encode("utf-8")},
                  summary=f"{len(tasks)} tasks, {len(ds)} persons; labeling config {cfg.name}")


def _boxes(ds: KeypointDataset, margin: float, notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """Each person's box (Label Studio joins keypoints to a box): its own, else its keypoints'
    extent grown by ``margin``; and whether the person is written (a person with neither a box
    nor a labeled keypoint has nothing to draw)."""
    from annotate.dataset import boxes_from_keypoints

    boxes = ds.bbox.copy()
    no_box = np.isnan(boxes).any(axis=1)
    if no_box.any():
        size = {im.id: (im.width, im.height) for im in ds.images}
        wh = np.array([size[int(i)] for i in ds.image_id[no_box]], dtype=np.float64).reshape(-1, 2)
        boxes[no_box] = boxes_from_keypoints(ds.keypoints[no_box], wh, margin)
    drawn = ~np.isnan(boxes).any(axis=1)
    notes.changed("persons without a box given their keypoints' extent as box", int((no_box & drawn).sum()))
    notes.lost("persons with neither a box nor a labeled keypoint (nothing to draw)", int((~drawn).sum()))
    return boxes, drawn


def _unheld_scores(ds: KeypointDataset, rows: np.ndarray) -> int:
    """How many non-zero ``keypoint_scores`` of these persons belong to unlabeled keypoints."""
    n = 0
    for r in rows.tolist():
        sc = ds.extra[r].get("keypoint_scores")
        if isinstance(sc, list) and len(sc) == ds.keypoints.shape[1]:
            n += sum(1 for j, x in enumerate(sc) if x and ds.keypoints[r, j, 2] <= 0)
    return n


def _score(extra: dict[str, Any], j: int, K: int) -> dict[str, float]:
    """A keypoint's ``score`` (from the person's ``keypoint_scores``), as Label Studio results carry one."""
    sc = extra.get("keypoint_scores")
    if isinstance(sc, list) and len(sc) == K and _number(sc[j]) is not None:
        return {"score": float(sc[j])}
    return {}


# --------------------------------------------------------------------------- reading

#: JSON-MIN's fields of a record that are not the task's data nor a result.
_MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
_MIN_TYPES = ("keypointlabels", "rectanglelabels", "polygonlabels", "brushlabels", "ellipselabels", "labels",
              "choices", "text", "rating", "taxonomy", "number", "datetime")


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
    """The image's file name from ``data.image``: after the image root URL or local files' ``?d=``;
    an upload's name (``/data/upload/<project>/<file>`` -> ``<file>``); a cloud storage URL's key
    (``s3://bucket/a/b.jpg`` -> ``a/b.jpg``) and an http(s) URL's path (``https://host/a/b.jpg``
    -> ``a/b.jpg``), query strings dropped unless the path has no image suffix (an API's
    ``/image?id=1`` -> ``image?id=1``); else the string as it is."""
    if root_url and url.startswith(root_url):
        return urllib.parse.unquote(url[len(root_url):])
    if "?d=" in url:
        return urllib.parse.unquote(url.split("?d=", 1)[1])
    parts = urllib.parse.urlsplit(url)
    web = parts.scheme in ("http", "https")
    if url.startswith("/data/") or (web and parts.path.startswith("/data/upload/")):
        return urllib.parse.unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    if (web or parts.scheme in ("s3", "gs", "azure-blob")) and parts.path.strip("/"):
        path = urllib.parse.unquote(parts.path.strip("/"))
        if web and parts.query and not path.lower().endswith(IMAGE_SUFFIXES + (".gif",)):
            return f"{path}?{urllib.parse.unquote(parts.query)}"
        return path
    return url


def _image_file(name: str, images_dir: Path) -> tuple[str, Path | None]:
    """The image's name and its file under ``images_dir`` (None when not there): ``name``, else
    (a URL's folders the images folder does not have) the last part of ``name``."""
    from annotate.io import safe_relative

    for cand in dict.fromkeys((name, name.rsplit("/", 1)[-1])):
        try:
            path = safe_relative(images_dir, cand, "image file_name", images_dir)
        except PosekitError:
            continue
        if path.is_file():
            return cand, path
    return name, None


def _from_json_min(records: list[Any], src: Path, notes: Notes) -> list[dict[str, Any]]:
    """JSON-MIN records (one per annotation: the task's data, then per control tag a list of
    region values with ``original_width``/``height``) as tasks; records of one task id join as
    that task's annotations (other annotators). Region ids are made up (JSON-MIN has none). A
    per-region choice with one value is a bare string there, without its region: the occluded
    and crowd choices are counted and dropped."""
    tasks: dict[Any, dict[str, Any]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise PosekitError(src, f"record {i} is not an object (JSON-MIN is a list of objects)")
        data: dict[str, Any] = {}
        result: list[dict[str, Any]] = []
        for key, val in rec.items():
            if key in _MIN_META:
                continue
            if isinstance(val, list) and val and all(isinstance(v, dict) for v in val):
                for v in val:
                    typ = next((t for t in _MIN_TYPES if t in v), "other")
                    result.append({"id": f"min{len(result)}", "type": typ, "from_name": key, "value": v,
                                   "original_width": v.get("original_width"),
                                   "original_height": v.get("original_height")})
            elif val in (OCCLUDED, CROWD) or (isinstance(val, list) and val and all(isinstance(v, str) for v in val)
                                              and set(val) <= {OCCLUDED, CROWD}):
                notes.lost("occluded/crowd choices of JSON-MIN records (JSON-MIN drops their region; keypoints read "
                           "as visible, boxes as persons)", len(val) if isinstance(val, list) else 1)
            else:
                data[key] = val
        task = tasks.setdefault(rec.get("id", f"record {i}"), {"id": rec.get("id"), "data": data, "annotations": []})
        task["annotations"].append({"result": result})
    return list(tasks.values())


def _is_json_min(tasks: list[Any]) -> bool:
    return bool(tasks) and all(isinstance(t, dict) and "data" not in t and "annotations" not in t
                               and "predictions" not in t and "completions" not in t for t in tasks)


def _annotations(task: dict[str, Any]) -> list[dict[str, Any]]:
    """A task's annotations (``completions`` in Label Studio before 1.0)."""
    anns = task.get("annotations") if "annotations" in task else task.get("completions")
    return [a for a in anns or [] if isinstance(a, dict)]


def _cancelled(ann: dict[str, Any]) -> bool:
    return bool(ann.get("was_cancelled") or ann.get("skipped"))


def _results(task: Any) -> tuple[list[Any], str]:
    """The results read for a task: its first annotation not cancelled, else its first prediction."""
    if not isinstance(task, dict):
        return [], "none"
    anns = [a for a in _annotations(task) if not _cancelled(a)]
    if anns:
        return anns[0].get("result") or [], "annotation"
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if preds:
        return preds[0].get("result") or [], "prediction"
    return [], "none"


_LABEL_LISTS = ("rectanglelabels", "keypointlabels", "choices")


def _where(i: int, task: dict[str, Any]) -> str:
    """How a message names a task: its place in the file, and its id when it has one."""
    tid = task.get("id")
    return f"task {i}" if tid is None or tid == i else f"task {i} (id {tid!r})"


def _check_task(task: dict[str, Any], where: str, src: Path) -> None:
    """Refuse a task whose read results are not shaped as Label Studio writes them: annotations,
    predictions and results are lists, a region's ``value`` an object, its labels a list of strings."""
    for key in ("annotations", "completions", "predictions", "drafts"):
        if task.get(key) is not None and not isinstance(task[key], list):
            raise PosekitError(src, f"{where}: {key!r} is {type(task[key]).__name__}; Label Studio writes a list")
    results = next((a.get("result") for a in _annotations(task) if not _cancelled(a)), None)
    if results is None:
        results = next((p.get("result") for p in task.get("predictions") or [] if isinstance(p, dict)), None)
    if results is not None and not isinstance(results, list):
        raise PosekitError(src, f"{where}: 'result' is {type(results).__name__}; Label Studio writes a list of regions")
    for k, r in enumerate(results or []):
        if not isinstance(r, dict):
            raise PosekitError(src, f"{where}: result {k} is {r!r}; Label Studio writes each region as an object")
        val, typ, rid = r.get("value"), r.get("type"), r.get("id")
        if val is not None and not isinstance(val, dict):
            raise PosekitError(src, f"{where}: region {rid!r} ({typ}) has value {val!r}; Label Studio writes an object")
        labels = (val or {}).get(typ) if typ in _LABEL_LISTS else None
        if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            raise PosekitError(src, f"{where}: region {rid!r} has {typ} {labels!r}; Label Studio writes a list of "
                                    f"strings")


def _labels_of(tasks: list[Any], typ: str) -> list[str]:
    seen: dict[str, None] = {}
    for t in tasks:
        for r in _results(t)[0]:
            if isinstance(r, dict) and r.get("type") == typ:
                for n in (r.get("value") or {}).get(typ) or []:
                    if isinstance(n, str):
                        seen.setdefault(n, None)
    return list(seen)


def _names_from_results(tasks: list[Any]) -> list[str]:
    names = _labels_of(tasks, "keypointlabels")
    want = {canonical_name(n) for n in names}
    for lay in LAYOUTS.values():  # every label a keypoint of one built-in layout: that layout's order
        if want and want <= {canonical_name(n) for n in lay.keypoints}:
            return list(lay.keypoints)
    return names


def _run_lengths(tasks: list[Any]) -> set[int]:
    """The lengths of the runs of keypoints after each rectangle (label-studio-converter's COCO
    import writes a person as its box, then its K keypoints in order)."""
    runs: set[int] = set()
    for t in tasks:
        n = None
        for r in _results(t)[0]:
            typ = r.get("type") if isinstance(r, dict) else None
            if typ == "rectanglelabels":
                if n is not None:
                    runs.add(n)
                n = 0
            elif typ == "keypointlabels":
                n = (n or 0) + 1
        if n is not None:
            runs.add(n)
    return runs


def _positional_names(tasks: list[Any], opts: Options, src: Path) -> list[str]:
    """Keypoint names when every keypoint is labelled with its category (label-studio-converter's
    COCO import): ``--layout``'s, else COCO-17 for 17 points, else ``keypoint_0``..."""
    runs = _run_lengths(tasks) - {0}
    if opts.layout:
        from annotate.skeletons import get_layout

        names = list(get_layout(opts.layout).keypoints)
        if runs - {len(names)}:
            raise PosekitError(src, f"keypoints labelled with their category come in runs of {sorted(runs)} after "
                                    f"each box; --layout {opts.layout} has {len(names)}")
        return names
    if len(runs) != 1:
        raise PosekitError(src, f"keypoints are labelled with their category (label-studio-converter's COCO import) "
                                f"but come in runs of {sorted(runs) or 'no'} points after each box; pass --layout")
    K = runs.pop()
    return list(LAYOUTS["coco17"].keypoints) if K == 17 else [f"keypoint_{i}" for i in range(K)]


def _pixels(x: Any) -> int | None:
    """A positive whole number of pixels (``100``, ``100.0`` or ``"100"``) as an int; else None."""
    if isinstance(x, str):
        try:
            x = float(x.strip())
        except ValueError:
            return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x) or x <= 0 or x != int(x):
        return None
    return int(x)


def _image_size(results: list[Any], data: dict[str, Any], path: Path | None, notes: Notes,
                where: str, src: Path) -> tuple[int | None, int | None]:
    """The image's size: the results' ``original_width``/``height`` (refused unless positive whole
    numbers), else ``data.width``/``height`` (when they are), else the image file's header (when
    the file is there)."""
    size: list[int | None] = []
    for key, fallback in (("original_width", "width"), ("original_height", "height")):
        given = next((r for r in results if isinstance(r, dict) and r.get(key) is not None), None)
        if given is None:
            size.append(_pixels(data.get(fallback)))
            continue
        px = _pixels(given[key])
        if px is None:
            raise PosekitError(src, f"{where}: region {given.get('id')!r}'s {key} is {given[key]!r}; expected a "
                                    f"positive whole number of pixels")
        size.append(px)
    W, H = size
    if not (W and H) and path is not None:
        from annotate.images import oriented_size

        W, H = oriented_size(path)
        notes.changed("image sizes read from the image files (tasks without original_width/height)", 1)
    return W, H


def _bad_data_sizes(data: dict[str, Any]) -> dict[str, Any]:
    """``data.width``/``height`` that are not a size in pixels (``""`` from a CSV import, 1920.5),
    as the image fields ``data_width``/``data_height`` that keep them."""
    return {f"data_{k}": data[k] for k in ("width", "height") if data.get(k) is not None and _pixels(data[k]) is None}


def _box(val: dict[str, Any], W: float, H: float, notes: Notes) -> list[float]:
    """A rectangle's ``[x, y, w, h]`` in pixels; a rotated one (degrees clockwise about its
    top-left corner, as Label Studio turns it) as the upright box around its corners."""
    x, y, w, h = val["x"] / 100 * W, val["y"] / 100 * H, val["width"] / 100 * W, val["height"] / 100 * H
    rot = float(val.get("rotation") or 0)
    if rot % 360 == 0:
        return [x, y, w, h]
    t = np.radians(rot)
    c, s = np.cos(t), np.sin(t)
    xs = x + np.array([0, w * c, w * c - h * s, -h * s])
    ys = y + np.array([0, w * s, w * s + h * c, h * c])
    notes.changed("rotated boxes read as the upright box around them", 1)
    return [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))]


def _image_ids(tasks: list[dict[str, Any]], notes: Notes) -> list[int | None]:
    """Image ids: ``data.image_id`` (what we write), else the task ids, when whole numbers and
    unique; else None (renumbered, and said so when ids were there)."""
    def usable(ids: list[Any]) -> bool:
        return all(isinstance(i, int) and not isinstance(i, bool) for i in ids) and len(set(ids)) == len(ids)

    own = [t["data"].get("image_id") for t in tasks]
    if usable(own):
        return own
    task_ids = [t.get("id") for t in tasks]
    if usable(task_ids):
        return task_ids
    if any(i is not None for i in own + task_ids):
        notes.changed("image ids renumbered (data.image_id and the task ids are not unique whole numbers)", len(tasks))
    return [None] * len(tasks)


def read_labelstudio(src: Path, opts: Options) -> Source:
    """Read Label Studio JSON tasks (an export, JSON-MIN, or what :func:`write_labelstudio` wrote)."""
    tasks = read_json(src)
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise PosekitError(src, "expected Label Studio tasks: a list of {data, annotations}")
    notes = Notes()
    if _is_json_min(tasks):
        tasks = _from_json_min(tasks, src, notes)
    for i, t in enumerate(tasks):
        if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
            raise PosekitError(src, f"task {i} has no 'data' object")
        _check_task(t, _where(i, t), src)
    kp_names, box_labels, image_key = _config(config_path(src))
    box_labels = box_labels or _labels_of(tasks, "rectanglelabels") or ["person"]
    labels = kp_names or _labels_of(tasks, "keypointlabels")
    positional = bool(labels) and set(labels) <= set(box_labels)
    if positional:
        names = _positional_names(tasks, opts, src)
    elif opts.layout and not kp_names:
        from annotate.skeletons import get_layout

        names = list(get_layout(opts.layout).keypoints)
    else:
        names = kp_names or _names_from_results(tasks)
    if not names:
        raise PosekitError(src, "no keypoint labels in the tasks (and no labeling config beside them)")
    skeleton = [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"})
            for i, n in enumerate(box_labels)]
    b = DatasetBuilder(cats[0])
    b.categories = cats
    if positional:
        notes.changed("keypoints labelled with their category read in order (label-studio-converter's COCO "
                      "import)", sum(1 for t in tasks for r in _results(t)[0]
                                     if isinstance(r, dict) and r.get("type") == "keypointlabels"))
    other: dict[str, int] = {}
    ids = _image_ids(tasks, notes)
    images_dir = opts.images or src.parent
    reader = _TaskReader(NameIndex(names), len(names), {c.name: c.id for c in cats}, positional, notes, other, src)
    seen: dict[str, tuple[str, str]] = {}
    for t_i, task in enumerate(tasks):
        data, where = task["data"], _where(t_i, task)
        key = image_key or IMAGE_TAG
        if key not in data:  # no config: the one string of the data
            strings = [k for k, v in data.items() if isinstance(v, str)]
            key = strings[0] if len(strings) == 1 else key
        url = data.get(key)
        if not isinstance(url, str) or not url:
            raise PosekitError(src, f"{where}: data has no image URL ({image_key or IMAGE_TAG!r})")
        _count_unread(task, notes)
        results, kind = _results(task)
        if kind == "prediction":
            notes.changed("tasks without an annotation read from their first prediction", 1)
        url_name = _file_name(url, opts.image_root_url)
        name, path = _image_file(url_name, images_dir)
        notes.changed("image URLs whose file was found by its name alone in the images folder (the URL's folders "
                      "dropped from the file name)", int(name != url_name))
        if name in seen and seen[name][1] != url:
            raise PosekitError(src, f"{seen[name][0]} and {where} both name image {name!r} ({seen[name][1]!r}, "
                                    f"{url!r}); two images cannot share a file name")
        seen.setdefault(name, (where, url))
        W, H = _image_size(results, data, path, notes, where, src)
        bad = _bad_data_sizes(data)
        notes.changed("tasks' data.width/height that are not a size in pixels (not used; kept as the image's "
                      "data_width/data_height)", int(bool(bad)))
        extra = {k: v for k, v in data.items() if k not in (key, "image_id", "width", "height")}
        iid = b.add_image(name, W, H, image_id=ids[t_i], **extra, **bad)
        if results and not (W and H):
            last = url_name.rsplit("/", 1)[-1]
            raise PosekitError(src, f"{where}: no original_width/original_height and no image {url_name!r}"
                                    f"{'' if last == url_name else f' (nor {last!r})'} under {images_dir} to read "
                                    f"its size from; {'check' if opts.images else 'pass'} --images DIR, or pass "
                                    f"--image-root-url URL to strip the URL's prefix from the file name")
        for p in reader.persons(results, float(W or 0), float(H or 0), where):
            b.add_person(iid, p["kps"], p["box"], iscrowd=p["crowd"], category_id=p["cat"], score=p["score"],
                         **p["extra"])
    for what, n in sorted(other.items()):
        notes.lost(f"Label Studio {what} (not person boxes or keypoints)", n)
    b.notes.merge(notes)
    return Source(b.build(opts.box_margin), images_dir)


def _count_unread(task: dict[str, Any], notes: Notes) -> None:
    """Count what of a task is not read: further annotations, cancelled ones with results,
    predictions beside a read annotation, drafts."""
    anns = _annotations(task)
    done = [a for a in anns if not _cancelled(a)]
    notes.lost("further annotations of a task (other annotators; the first is read)", max(0, len(done) - 1))
    notes.lost("cancelled annotations with results (was_cancelled)",
               sum(1 for a in anns if _cancelled(a) and a.get("result")))
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict) and p.get("result")]
    notes.lost("predictions of tasks whose annotation is read" if done else "further predictions of a task (the "
               "first is read)", len(preds) if done else max(0, len(preds) - 1))
    notes.lost("drafts (not submitted annotations)", sum(1 for d in task.get("drafts") or []
                                                         if isinstance(d, dict) and d.get("result")))


class _TaskReader:
    """Turns one task's results into persons: a box per ``rectanglelabels`` region, keypoints
    joined to it by ``parentID`` (else by the box that holds them, or in order after it when
    labelled with the category), occlusion and crowd from per-region choices."""

    def __init__(self, index: NameIndex, K: int, cat_id: dict[str, int], positional: bool, notes: Notes,
                 other: dict[str, int], src: Path) -> None:
        self.index, self.K, self.cat_id, self.positional = index, K, cat_id, positional
        self.notes, self.other, self.src = notes, other, src

    def persons(self, results: list[Any], W: float, H: float, where: str) -> list[dict[str, Any]]:
        self.W, self.H, self.where = W, H, where
        persons: dict[str, dict[str, Any]] = {}
        points: list[tuple[str, dict[str, Any], str | None]] = []
        choices: list[tuple[str, set[str]]] = []
        last_box = None
        for r in results:
            if not isinstance(r, dict):
                continue
            typ, val, rid = r.get("type"), r.get("value") or {}, str(r.get("id"))
            if typ == "rectanglelabels":
                lab = (val.get("rectanglelabels") or [None])[0]
                if lab not in self.cat_id:
                    self.other["rectangles of other labels"] = self.other.get("rectangles of other labels", 0) + 1
                    continue
                try:
                    box = _box(val, W, H, self.notes)
                except (KeyError, TypeError, ValueError):
                    raise PosekitError(self.src, f"{where}: rectangle {rid} has no x/y/width/height") from None
                rid = rid if rid not in persons else f"{rid}#{len(persons)}"
                persons[rid] = {"box": box, "cat": self.cat_id[lab], "kps": np.zeros((self.K, 3)), "crowd": False,
                                "score": _number(r.get("score")), "scores": {}, "n": 0, "rid": rid}
                last_box = rid
            elif typ == "keypointlabels":
                points.append((rid, r, last_box))
            elif typ == "choices":
                choices.append((rid, set(c for c in val.get("choices") or [] if isinstance(c, str))))
            else:
                self.other[f"{typ} results"] = self.other.get(f"{typ} results", 0) + 1
        occluded = {rid for rid, cs in choices if OCCLUDED in cs}
        placed: set[str] = set()
        loose = []
        for rid, r, after in points:
            parent = r.get("parentID")
            if parent is not None and str(parent) in persons:
                self._place(persons[str(parent)], r, rid, occluded)
            elif self.positional and after is not None:
                self._place_next(persons[after], r, rid, occluded)
            else:
                loose.append((rid, r))
                continue
            placed.add(rid)
        if loose:
            placed |= self._place_loose(loose, persons, occluded)
        for rid, cs in choices:  # per-region choices: occluded on a keypoint, crowd on a box
            if rid in persons and cs <= {CROWD}:
                persons[rid]["crowd"] = CROWD in cs
            elif not (rid in placed and cs <= {OCCLUDED}):
                self.notes.lost("Label Studio choices results (not a keypoint's occluded or a box's crowd choice)", 1)
        out = []
        for p in persons.values():
            extra: dict[str, Any] = {}
            if p["scores"]:
                extra["keypoint_scores"] = [p["scores"].get(j, 0.0) for j in range(self.K)]
            out.append({**p, "extra": extra})
        return out

    def _xy(self, r: dict[str, Any], rid: str) -> tuple[float, float]:
        val = r.get("value") or {}
        try:
            return val["x"] / 100 * self.W, val["y"] / 100 * self.H
        except (KeyError, TypeError):
            raise PosekitError(self.src, f"{self.where}: keypoint {rid} has no x/y") from None

    def _set(self, person: dict[str, Any], j: int, r: dict[str, Any], rid: str, occluded: set[str]) -> None:
        x, y = self._xy(r, rid)
        if (r.get("value") or {}).get("hidden"):  # label-studio-converter's mark for COCO v < 2
            person["kps"][j] = (0, 0, 0) if x == 0 and y == 0 else (x, y, 1)
        else:
            person["kps"][j] = (x, y, 1 if rid in occluded else 2)
        score = _number(r.get("score"))
        if score is not None:
            person["scores"][j] = score

    def _index(self, lab: Any) -> int:
        j = self.index.get(lab) if isinstance(lab, str) else None
        if j is None:
            raise PosekitError(self.src, f"{self.where}: keypoint label {lab!r} is not one of the keypoints "
                                         f"({', '.join(list(self.index.exact)[::-1][:5])}, ...)")
        return j

    def _place(self, person: dict[str, Any], r: dict[str, Any], rid: str, occluded: set[str]) -> None:
        lab = ((r.get("value") or {}).get("keypointlabels") or [None])[0]
        j = self._index(lab)
        if person["kps"][j, 2] > 0:
            raise PosekitError(self.src, f"{self.where}: the person of box {person.get('rid')!r} has two {lab!r} "
                                         f"keypoints")
        self._set(person, j, r, rid, occluded)

    def _place_next(self, person: dict[str, Any], r: dict[str, Any], rid: str, occluded: set[str]) -> None:
        if person["n"] >= self.K:
            raise PosekitError(self.src, f"{self.where}: box {person.get('rid')!r} is followed by more than "
                                         f"{self.K} keypoints")
        self._set(person, person["n"], r, rid, occluded)
        person["n"] += 1

    def _place_loose(self, loose: list[tuple[str, dict[str, Any]]], persons: dict[str, dict[str, Any]],
                     occluded: set[str]) -> set[str]:
        """Keypoints without a (known) parentID (Label Studio links no keypoint to a box; JSON-MIN
        keeps no ids): per label, each box takes at most one, the one inside it or nearest it
        (within half its diagonal); the rest form one person when no label repeats. A point inside
        exactly one free box that holds no other point of its label is joined to it for sure; the
        others (inside several boxes, or none, or sharing the box) by a guess, counted apart."""
        boxed = [p for p in persons.values() if p["box"] is not None]
        rest: list[tuple[str, dict[str, Any]]] = []
        by_label: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
        for rid, r in loose:
            by_label.setdefault(((r.get("value") or {}).get("keypointlabels") or [None])[0], []).append((rid, r))
        joined = guessed = 0
        for lab, group in by_label.items():
            if self.positional or not boxed:
                rest += group
                continue
            j = self._index(lab)
            xy = np.array([self._xy(r, rid) for rid, r in group])
            cost = _box_cost(xy, np.array([p["box"] for p in boxed]))
            cost[:, [p["kps"][j, 2] > 0 for p in boxed]] = np.inf  # a box holds one point of a label
            inside = cost < 1  # inside a box still free for this label
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e18))
            take = {int(i): int(c) for i, c in zip(rows, cols) if cost[i, c] <= 1.5}
            for i, (rid, r) in enumerate(group):
                if i in take:
                    self._set(boxed[take[i]], j, r, rid, occluded)
                    c = take[i]  # sure: the one free box holding it, and the one point of this label in that box
                    sure = inside[i, c] and inside[i].sum() == 1 and inside[:, c].sum() == 1
                    joined += int(sure)
                    guessed += int(not sure)
                else:
                    rest.append((rid, r))
        self.notes.changed("keypoints without parentID joined to the one box that holds them", joined)
        self.notes.changed("keypoints without parentID joined to a person by a guess (inside several persons' boxes, "
                           "or none, or in a box with another point of that label); check them", guessed)
        if rest:
            labels = [((r.get("value") or {}).get("keypointlabels") or [None])[0] for _, r in rest]
            if len(set(labels)) != len(labels) and not self.positional:
                raise PosekitError(self.src, f"{self.where}: keypoints without parentID that no box takes repeat a "
                                             f"label ({len(rest)} points); cannot tell the persons apart")
            person = {"box": None, "cat": next(iter(self.cat_id.values())), "kps": np.zeros((self.K, 3)),
                      "crowd": False, "score": None, "scores": {}, "n": 0, "rid": None}
            for rid, r in rest:
                (self._place_next if self.positional else self._place)(person, r, rid, occluded)
            persons[f"loose-{len(persons)}"] = person
        return {rid for rid, _ in loose}


def _box_cost(xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(points, boxes) cost of joining a point to a box: inside, up to 0.005 (nearer the
    centre less); outside, 1 + the distance to the box over its diagonal."""
    x, y = xy[:, :1], xy[:, 1:]
    x0, y0, w, h = (boxes[:, i][None] for i in range(4))
    diag = np.maximum(np.hypot(w, h), 1e-9)
    dx = np.maximum(np.maximum(x0 - x, x - (x0 + w)), 0)
    dy = np.maximum(np.maximum(y0 - y, y - (y0 + h)), 0)
    out = np.hypot(dx, dy) / diag
    centre = np.hypot(x - (x0 + w / 2), y - (y0 + h / 2)) / diag
    return np.where(out > 0, 1 + out, 0.01 * centre)


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) else None
