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

What users see of a task is kept through the dataset: a task read from Label Studio keeps its
image URL (``/data/upload/18/abc-x.jpg`` stays so, unless it is what ``--image-root-url`` +
file name gives), its ``id`` and its ``meta`` in the image's field ``label_studio`` (``{"url",
"id", "meta"}``; COCO and LabelMe carry it, other targets count it), and its other data fields
as the image's fields; writing Label Studio gives them back (the URL while it still names the
image's file).

Reading also takes Label Studio's own exports (JSON; JSON-MIN; ``completions`` of Label Studio
0.x): the first non-cancelled annotation of a task (else its first prediction; the others are
counted). A person is a box with the keypoints linked to it -- by ``parentID`` or by a
``relation`` result (``{"type": "relation", "from_id", "to_id", "direction"}``, either
direction; how multi-person projects tie points to an individual) -- or, without a box, the
keypoints that relations chain together. Links win over position: a keypoint linked to box b
is b's even when it lies inside box a. A keypoint with no link is joined per label by position
(the guess, counted): to the box holding it or nearest (within half its diagonal), each box
taking one point of a label (a point inside exactly one box free for its label is counted
apart from the real guesses); the points no box takes make one person when no label repeats.
label-studio-converter's COCO import (every keypoint labelled with its category, in order after
its box; ``hidden`` points, its mark for COCO v<2, as v=1, or v=0 at (0, 0), counted) is read
in order; rotated rectangles as the upright box around them; region ``score``s as the person's
score and ``keypoint_scores``; sizes from the image files when the results have none. The file
name is the path of an http(s) or cloud URL (``https://host/cam1/0001.jpg`` -> ``cam1/0001.jpg``;
the query dropped, unless the path has no image suffix: ``https://host/image?id=1`` ->
``image?id=1``), an upload's name, or what follows ``?d=``; when the images folder lacks
``<folder>/<name>`` but has ``<name>``, the name is that file's (counted). Two tasks with one URL
are two images of one file name; different URLs naming one file are refused. The results' sizes
must be positive whole numbers (``"100"`` is read as 100); a ``data.width``/``height`` that is
not one is not used, and kept as the image's ``data_width``/``data_height`` (counted). Other
task fields Label Studio makes anew on import (``created_at``, ``inner_id``, ...) are not read.
"""
from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from annotate.dataset import Category, DatasetBuilder, ImageInfo, KeypointDataset, boxes_from_keypoints
from annotate.errors import PosekitError
from annotate.images import IMAGE_SUFFIXES, image_size
from annotate.io import dumps_json, read_json, relative_name, safe_relative
from annotate.notes import Account, Notes
from annotate.skeletons import LAYOUTS, NameIndex, canonical_name, get_layout, layout_for_names

from .formats import Context, Output, Probe, Source, class_index, note_unheld

BOX_TAG, KEYPOINT_TAG, VISIBILITY_TAG, CROWD_TAG, IMAGE_TAG = "person", "keypoint", "visibility", "crowd", "image"
OCCLUDED, CROWD = "occluded", "crowd"
#: The image field that keeps a task's URL, id and meta.
TASK_FIELD = "label_studio"
#: Data fields the writer fills itself.
_RESERVED = (IMAGE_TAG, "image_id", "width", "height")
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


# --------------------------------------------------------------------------- writing

def write(ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
    """Tasks JSON and the labeling config beside it."""
    notes = ctx.notes
    _note_unwritable(ds, notes)
    boxes, drawn = _boxes(ds, ctx.box_margin, notes)
    notes.lost("keypoint scores of unlabeled keypoints (no region to carry them)",
               _unheld_scores(ds, np.flatnonzero(drawn & ~ds.iscrowd.astype(bool))))
    writer = _TaskWriter(ds, boxes, drawn, ctx)
    by_image = ds.indices_by_image()
    tasks = [writer.task(im, by_image[im.id].tolist()) for im in ds.images]
    notes.changed("task image URLs kept from the source (not --image-root-url)", writer.kept_urls)
    notes.changed("kept task image URLs that no longer name the image's file, written as --image-root-url + "
                  "file name", writer.stale_urls)
    cfg = config_path(dst)
    persons = int(drawn.sum())
    return Output(dst.parent, {dst.name: dumps_json(tasks, indent=2),
                               cfg.name: labeling_config(ds.categories).encode("utf-8")},
                  summary=f"{len(tasks)} tasks, {persons} persons; labeling config {cfg.name}", persons=persons)


def _note_unwritable(ds: KeypointDataset, notes: Notes) -> None:
    """Count what Label Studio tasks cannot hold: fields, crowd segmentations, odd visibilities,
    coordinates of unlabeled keypoints, keypoints of crowd regions."""
    image_fields = tuple({k for im in ds.images for k in im.extra if k not in _RESERVED})
    note_unheld(ds, notes, ann_fields=("keypoint_scores",), image_fields=image_fields, image_ids=True, score=True)
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions' segmentation (a Label Studio crowd region is its box)",
               sum(1 for r in np.flatnonzero(crowd).tolist() if ds.extra[r].get("segmentation")))
    kps = ds.keypoints
    v = kps[..., 2]
    notes.changed("keypoints with visibility other than 0, 1 or 2 written as occluded (0 < v < 1.5) or visible",
                  int((~np.isin(v, (0, 1, 2)) & (v > 0)).sum()))
    notes.lost("coordinates of unlabeled (v=0) keypoints (Label Studio has no region for them)",
               int(((v <= 0) & ((kps[..., 0] != 0) | (kps[..., 1] != 0))).sum()))
    notes.lost("keypoints of crowd regions", int((v[crowd] > 0).sum()))


class _TaskWriter:
    """Writes one image's task: its data (the kept URL, or ``--image-root-url`` + file name),
    the kept task id and meta, and per person a box with its keypoints."""

    def __init__(self, ds: KeypointDataset, boxes: np.ndarray, drawn: np.ndarray, ctx: Context) -> None:
        self.ds, self.boxes, self.drawn, self.ctx = ds, boxes, drawn, ctx
        self.cls = class_index(ds)[0]
        self.crowd = ds.iscrowd.astype(bool)
        self.explicit_root = ctx.image_root_url != Context.image_root_url
        self.kept_urls = self.stale_urls = 0

    def task(self, im: ImageInfo, rows: list[int]) -> dict[str, Any]:
        common = {"to_name": IMAGE_TAG, "original_width": im.width, "original_height": im.height, "image_rotation": 0}
        result: list[dict[str, Any]] = []
        for k, r in enumerate(rows, start=1):
            if self.drawn[r]:
                result += self._person(r, f"p{k}", float(im.width), float(im.height), common)
        kept = im.extra.get(TASK_FIELD)
        kept = kept if isinstance(kept, dict) else {}
        data = {IMAGE_TAG: self._url(im.file_name, kept.get("url")), "image_id": im.id, "width": im.width,
                "height": im.height}
        data.update({k: val for k, val in im.extra.items() if k not in _RESERVED and val is not kept})
        task: dict[str, Any] = {} if kept.get("id") is None else {"id": kept["id"]}
        task["data"] = data
        if kept.get("meta") is not None:
            task["meta"] = kept["meta"]
        task["annotations"] = [{"result": result, "ground_truth": False}]
        return task

    def _url(self, file_name: str, kept: Any) -> str:
        """The kept URL while it still names ``file_name``; else the image root URL + file name."""
        if isinstance(kept, str) and kept:
            named = _file_name(kept, self.ctx.image_root_url)
            if named == file_name or named.endswith("/" + file_name):
                self.kept_urls += int(self.explicit_root and not kept.startswith(self.ctx.image_root_url))
                return kept
            self.stale_urls += 1
        return self.ctx.image_root_url + file_name

    def _person(self, r: int, rid: str, W: float, H: float, common: dict[str, Any]) -> list[dict[str, Any]]:
        """A person's box region, its crowd choice, or its keypoint regions and occlusion choices."""
        ds = self.ds
        x, y, w, h = self.boxes[r].tolist()
        box = {"x": x / W * 100, "y": y / H * 100, "width": w / W * 100, "height": h / H * 100, "rotation": 0}
        out = [{"id": rid, "type": "rectanglelabels", "from_name": BOX_TAG, **common,
                "value": {**box, "rectanglelabels": [ds.categories[self.cls[r]].name]},
                **({} if np.isnan(ds.score[r]) else {"score": float(ds.score[r])})}]
        if self.crowd[r]:
            return out + [{"id": rid, "type": "choices", "from_name": CROWD_TAG, **common,
                           "value": {**box, "choices": [CROWD]}}]
        kps, K = ds.keypoints[r], ds.keypoints.shape[1]
        for j in np.flatnonzero(kps[:, 2] > 0).tolist():
            pt = {"x": kps[j, 0] / W * 100, "y": kps[j, 1] / H * 100, "width": POINT_WIDTH}
            kid = f"{rid}k{j}"
            out.append({"id": kid, "type": "keypointlabels", "from_name": KEYPOINT_TAG, **common, "parentID": rid,
                        "value": {**pt, "keypointlabels": [ds.category.keypoints[j]]}, **_score(ds.extra[r], j, K)})
            if kps[j, 2] < 1.5:
                out.append({"id": kid, "type": "choices", "from_name": VISIBILITY_TAG, **common,
                            "value": {**pt, "choices": [OCCLUDED]}})
        return out


def _boxes(ds: KeypointDataset, margin: float, notes: Notes) -> tuple[np.ndarray, np.ndarray]:
    """Each person's box (Label Studio joins keypoints to a box): its own, else its keypoints'
    extent grown by ``margin``; and whether the person is written (a person with neither a box
    nor a labeled keypoint has nothing to draw: counted)."""
    boxes = ds.bbox.copy()
    no_box = np.isnan(boxes).any(axis=1)
    if no_box.any():
        size = {im.id: (im.width, im.height) for im in ds.images}
        wh = np.array([size[int(i)] for i in ds.image_id[no_box]], dtype=np.float64).reshape(-1, 2)
        boxes[no_box] = boxes_from_keypoints(ds.keypoints[no_box], wh, margin)
    drawn = ~np.isnan(boxes).any(axis=1)
    notes.changed("persons without a box given their keypoints' extent as box", int((no_box & drawn).sum()))
    notes.lost("persons with neither a box nor a labeled keypoint (nothing to draw)", int((~drawn).sum()),
               unit="persons")
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


# --------------------------------------------------------------------------- reading: the tasks' shape

#: JSON-MIN's fields of a record that are not the task's data nor a result.
_MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
_MIN_TYPES = ("keypointlabels", "rectanglelabels", "polygonlabels", "brushlabels", "ellipselabels", "labels",
              "choices", "text", "rating", "taxonomy", "number", "datetime")
_LABEL_LISTS = ("rectanglelabels", "keypointlabels", "choices")


def _load_tasks(src: Path, notes: Notes) -> list[dict[str, Any]]:
    """The file's tasks (one task object, a list of them, or JSON-MIN records), each checked."""
    tasks = read_json(src)
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise PosekitError(src, "expected Label Studio tasks: a list of {data, annotations}")
    if _is_json_min(tasks):
        tasks = _from_json_min(tasks, src, notes)
    for i, t in enumerate(tasks):
        if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
            raise PosekitError(src, f"task {i} has no 'data' object")
        _check_task(t, _where(i, t), src)
    return tasks


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


# --------------------------------------------------------------------------- reading: keypoint names

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


def _positional_names(tasks: list[Any], ctx: Context, src: Path) -> list[str]:
    """Keypoint names when every keypoint is labelled with its category (label-studio-converter's
    COCO import): ``--layout``'s, else COCO-17 for 17 points, else ``keypoint_0``..."""
    runs = _run_lengths(tasks) - {0}
    if ctx.layout:
        names = list(get_layout(ctx.layout).keypoints)
        if runs - {len(names)}:
            raise PosekitError(src, f"keypoints labelled with their category come in runs of {sorted(runs)} after "
                                    f"each box; --layout {ctx.layout} has {len(names)}")
        return names
    if len(runs) != 1:
        raise PosekitError(src, f"keypoints are labelled with their category (label-studio-converter's COCO import) "
                                f"but come in runs of {sorted(runs) or 'no'} points after each box; pass --layout")
    K = runs.pop()
    return list(LAYOUTS["coco17"].keypoints) if K == 17 else [f"keypoint_{i}" for i in range(K)]


@dataclass
class _Schema:
    """What the tasks hold: keypoint names, the categories (box labels), whether keypoints are
    read in order after their box (label-studio-converter's COCO import), the image's data key."""

    names: list[str]
    categories: list[Category]
    positional: bool
    image_key: str | None


def _schema(tasks: list[dict[str, Any]], src: Path, ctx: Context) -> _Schema:
    """The keypoint names and categories: the labeling config's beside the tasks, else the labels
    of the results (``--layout`` for keypoints labelled with their category, or no config)."""
    kp_names, box_labels, image_key = _config(config_path(src))
    box_labels = box_labels or _labels_of(tasks, "rectanglelabels") or ["person"]
    labels = kp_names or _labels_of(tasks, "keypointlabels")
    positional = bool(labels) and set(labels) <= set(box_labels)
    if positional:
        names = _positional_names(tasks, ctx, src)
    elif ctx.layout and not kp_names:
        names = list(get_layout(ctx.layout).keypoints)
    else:
        names = kp_names or _names_from_results(tasks)
    if not names:
        raise PosekitError(src, "no keypoint labels in the tasks (and no labeling config beside them)")
    skeleton = [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"})
            for i, n in enumerate(box_labels)]
    return _Schema(names, cats, positional, image_key)


# --------------------------------------------------------------------------- reading: sizes and ids

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
        W, H = image_size(path)
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


# --------------------------------------------------------------------------- reading

def read(src: Path, ctx: Context) -> Source:
    """Read Label Studio JSON tasks (an export, JSON-MIN, or what :func:`write` wrote); every task,
    person (box, relation group, guessed group) and keypoint region counted in ``ctx.account``."""
    tasks = _load_tasks(src, ctx.notes)
    schema = _schema(tasks, src, ctx)
    if schema.positional:
        ctx.notes.changed("keypoints labelled with their category read in order (label-studio-converter's COCO "
                          "import)", sum(1 for t in tasks for r in _results(t)[0]
                                         if isinstance(r, dict) and r.get("type") == "keypointlabels"))
    builder = DatasetBuilder(schema.categories[0])
    builder.categories = schema.categories
    reader = _FileReader(src, ctx, schema, builder)
    for t_i, (task, image_id) in enumerate(zip(tasks, _image_ids(tasks, ctx.notes))):
        reader.task(t_i, task, image_id)
        ctx.advance()
    return Source(builder.build(ctx.box_margin), reader.images_dir)


class _FileReader:
    """Reads a file's tasks one at a time into ``builder``: the image (file name from the URL,
    size, data fields, the task's kept URL, id and meta) and its persons."""

    def __init__(self, src: Path, ctx: Context, schema: _Schema, builder: DatasetBuilder) -> None:
        self.src, self.ctx, self.schema, self.builder = src, ctx, schema, builder
        self.notes = ctx.notes
        self.images_dir = ctx.images or src.parent
        self.persons = _TaskReader(schema, ctx.notes, ctx.account, src)
        self.seen: dict[str, tuple[str, str]] = {}  # file name -> (task, URL) that named it first

    def task(self, t_i: int, task: dict[str, Any], image_id: int | None) -> None:
        data, where = task["data"], _where(t_i, task)
        self.ctx.account.seen("images")
        key, url = self._url(data, where)
        _count_unread(task, self.notes)
        results, kind = _results(task)
        self.notes.changed("tasks without an annotation read from their first prediction", int(kind == "prediction"))
        name, path, url_name = self._image_file(url, where)
        W, H = _image_size(results, data, path, self.notes, where, self.src)
        if results and not (W and H):
            self._no_size(url_name, where)
        iid = self.builder.add_image(name, W, H, image_id=image_id, **self._fields(task, key, url, name))
        for p in self.persons.persons(results, float(W or 0), float(H or 0), where):
            extra = {"keypoint_scores": [p.scores.get(j, 0.0) for j in range(len(p.kps))]} if p.scores else {}
            self.builder.add_person(iid, p.kps, p.box, iscrowd=p.crowd, category_id=p.cat, score=p.score, **extra)

    def _url(self, data: dict[str, Any], where: str) -> tuple[str, str]:
        """The data key of the image and its URL: the config's Image value, else ``image``, else
        the one string of the data."""
        key = self.schema.image_key or IMAGE_TAG
        if key not in data:
            strings = [k for k, v in data.items() if isinstance(v, str)]
            key = strings[0] if len(strings) == 1 else key
        url = data.get(key)
        if not isinstance(url, str) or not url:
            raise PosekitError(self.src, f"{where}: data has no image URL ({self.schema.image_key or IMAGE_TAG!r})")
        return key, url

    def _image_file(self, url: str, where: str) -> tuple[str, Path | None, str]:
        """(file name, the file under the images folder or None, the name the URL gives)."""
        named = _file_name(url, self.ctx.image_root_url)
        try:
            url_name = relative_name(named, "image file name", self.src)
        except PosekitError as exc:
            hint = "; pass --image-root-url with the URL's prefix to strip it" if named.startswith("/") else ""
            raise PosekitError(self.src, f"{where}: image URL {url!r}: {exc.message}{hint}") from None
        name, path = _image_file(url_name, self.images_dir)
        self.notes.changed("image URLs whose file was found by its name alone in the images folder (the URL's "
                           "folders dropped from the file name)", int(name != url_name))
        first = self.seen.setdefault(name, (where, url))
        if first[1] != url:
            raise PosekitError(self.src, f"{first[0]} and {where} both name image {name!r} ({first[1]!r}, {url!r}); "
                                         f"two images cannot share a file name")
        return name, path, url_name

    def _no_size(self, url_name: str, where: str) -> None:
        last = url_name.rsplit("/", 1)[-1]
        raise PosekitError(self.src, f"{where}: no original_width/original_height and no image {url_name!r}"
                                     f"{'' if last == url_name else f' (nor {last!r})'} under {self.images_dir} to "
                                     f"read its size from; {'check' if self.ctx.images else 'pass'} --images DIR, or "
                                     f"pass --image-root-url URL to strip the URL's prefix from the file name")

    def _fields(self, task: dict[str, Any], key: str, url: str, name: str) -> dict[str, Any]:
        """The image's fields: the task's other data fields, data sizes that are not sizes (as
        ``data_width``/``data_height``), and under ``label_studio`` what of the task Label Studio
        shows that the dataset has no place for: its URL (unless the default one of the file
        name), its id and meta."""
        data = task["data"]
        fields = {k: v for k, v in data.items() if k not in (key, "image_id", "width", "height")}
        bad = _bad_data_sizes(data)
        self.notes.changed("tasks' data.width/height that are not a size in pixels (not used; kept as the image's "
                           "data_width/data_height)", int(bool(bad)))
        fields.update(bad)
        kept = {"url": url} if url != Context.image_root_url + name else {}
        if task.get("id") is not None:
            kept["id"] = task["id"]
        if task.get("meta") not in (None, {}):
            kept["meta"] = task["meta"]
        if kept:
            self.notes.lost(f"tasks' data field {TASK_FIELD!r} (the image field that keeps the task's URL, id and "
                            f"meta)", int(TASK_FIELD in fields))
            fields[TASK_FIELD] = kept
        return fields


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


# --------------------------------------------------------------------------- reading: a task's persons

@dataclass
class _Person:
    """A person being read: box (None: none), category id, keypoints, how messages name it."""

    box: list[float] | None
    cat: int
    kps: np.ndarray
    name: str
    score: float | None = None
    crowd: bool = False
    scores: dict[int, float] = field(default_factory=dict)
    n: int = 0  # keypoints placed in order (label-studio-converter's COCO import)


@dataclass
class _Regions:
    """A task's results sorted: person boxes by region id, keypoint regions (and the box each
    follows), per-region choices, relations (from_id, to_id)."""

    boxes: dict[str, _Person] = field(default_factory=dict)
    points: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    after: list[str | None] = field(default_factory=list)
    choices: list[tuple[str, set[str]]] = field(default_factory=list)
    relations: list[tuple[str, str]] = field(default_factory=list)


_SURE = "keypoints joined to a person by position (no relation): inside the one box free for their label"
_GUESS = ("keypoints joined to a person by position (no relation), a guess: inside several persons' boxes, or none, "
          "or in a box with another point of that label; check them")
_HIDDEN = ("keypoint regions marked hidden at (0, 0) (label-studio-converter's mark for an unlabeled COCO point) "
           "read as unlabeled")


def _label(r: dict[str, Any]) -> Any:
    return ((r.get("value") or {}).get("keypointlabels") or [None])[0]


class _TaskReader:
    """Turns one task's results into persons: a box per ``rectanglelabels`` region with the
    keypoints linked to it (``parentID``, relations; in order after it when labelled with the
    category), keypoints chained by relations without a box, the rest joined by position;
    occlusion and crowd from per-region choices."""

    def __init__(self, schema: _Schema, notes: Notes, account: Account, src: Path) -> None:
        self.index, self.K = NameIndex(schema.names), len(schema.names)
        self.cat_id = {c.name: c.id for c in schema.categories}
        self.positional = schema.positional
        self.notes, self.account, self.src = notes, account, src
        self.W = self.H = 0.0
        self.where = ""

    def persons(self, results: list[Any], W: float, H: float, where: str) -> list[_Person]:
        self.W, self.H, self.where = W, H, where
        reg = self._regions(results)
        occluded = {rid for rid, cs in reg.choices if OCCLUDED in cs}
        groups, loose = self._groups(reg)
        persons = list(reg.boxes.values())
        for box_id, members in groups:
            if box_id is None:
                ids = ", ".join(repr(reg.points[k][0]) for k in members[:4]) + ", ..." * (len(members) > 4)
                persons.append(self._new_person(f"the keypoints linked by relations ({ids})"))
            person = persons[-1] if box_id is None else reg.boxes[box_id]
            for k in members:
                self._put(person, *reg.points[k], occluded)
        rest = self._place_loose([reg.points[k] for k in loose], persons, occluded)
        if rest:
            persons.append(self._guessed(rest, occluded))
        self._apply_choices(reg)
        return [p for p in persons if self._drawable(p)]

    def _regions(self, results: list[Any]) -> _Regions:
        reg = _Regions()
        last_box = None
        for r in results:
            if not isinstance(r, dict):
                continue
            typ, val, rid = r.get("type"), r.get("value") or {}, str(r.get("id"))
            if typ == "rectanglelabels":
                last_box = self._rectangle(reg, r, rid) or last_box
            elif typ == "keypointlabels":
                reg.points.append((rid, r))
                reg.after.append(last_box)
            elif typ == "choices":
                reg.choices.append((rid, {c for c in val.get("choices") or [] if isinstance(c, str)}))
            elif typ == "relation":
                reg.relations.append((str(r.get("from_id")), str(r.get("to_id"))))
            else:
                self.notes.lost(f"Label Studio {typ} results (not person boxes or keypoints)", 1)
        self.account.seen("keypoints", len(reg.points))
        return reg

    def _rectangle(self, reg: _Regions, r: dict[str, Any], rid: str) -> str | None:
        """A person's box (its region id, made unique), or None for a rectangle of another label."""
        val = r.get("value") or {}
        lab = (val.get("rectanglelabels") or [None])[0]
        if lab not in self.cat_id:
            self.notes.lost("Label Studio rectangles of other labels (not person boxes or keypoints)", 1)
            return None
        try:
            box = _box(val, self.W, self.H, self.notes)
        except (KeyError, TypeError, ValueError):
            raise PosekitError(self.src, f"{self.where}: rectangle {rid} has no x/y/width/height") from None
        rid = rid if rid not in reg.boxes else f"{rid}#{len(reg.boxes)}"
        self.account.seen("persons")
        reg.boxes[rid] = _Person(box, self.cat_id[lab], np.zeros((self.K, 3)), f"box {rid!r}",
                                 score=_number(r.get("score")))
        return rid

    def _groups(self, reg: _Regions) -> tuple[list[tuple[str | None, list[int]]], list[int]]:
        """The keypoints linked -- by ``parentID`` or relations (either direction), or in order after
        their box when labelled with the category -- as groups (the box's id or None, the points'
        indices in result order); and the points linked to nothing. A relation between two boxes,
        or naming no box or keypoint, is counted; keypoints linked to two boxes are refused."""
        box_ids = list(reg.boxes)
        nb = len(box_ids)
        node = {rid: i for i, rid in enumerate(box_ids)}
        for k, (rid, _) in enumerate(reg.points):
            node.setdefault(rid, nb + k)
        edges = []
        for k, (_, r) in enumerate(reg.points):
            target = node.get(str(r["parentID"])) if r.get("parentID") is not None else None
            if target is None and self.positional and reg.after[k] is not None:
                target = node[reg.after[k]]
            if target is not None:
                edges.append((nb + k, target))
        links = [(node.get(a), node.get(b)) for a, b in reg.relations]
        good = [(a, b) for a, b in links if a is not None and b is not None and max(a, b) >= nb]
        self.notes.lost("Label Studio relations not linking a keypoint to a person box or another keypoint",
                        len(links) - len(good))
        groups: list[tuple[str | None, list[int]]] = []
        loose: list[int] = []
        for members in _components(nb + len(reg.points), edges + good):
            boxes = [box_ids[i] for i in members if i < nb]
            points = [i - nb for i in members if i >= nb]
            if len(boxes) > 1:
                ids = ", ".join(repr(reg.points[k][0]) for k in points)
                raise PosekitError(self.src, f"{self.where}: keypoints {ids} are linked (parentID or relations) to "
                                             f"boxes {boxes[0]!r} and {boxes[1]!r}; a keypoint belongs to one person")
            if boxes and points or len(points) > 1:
                groups.append((boxes[0] if boxes else None, points))
            elif points:
                loose.append(points[0])
        return groups, loose

    def _new_person(self, name: str) -> _Person:
        self.account.seen("persons")
        return _Person(None, next(iter(self.cat_id.values())), np.zeros((self.K, 3)), name)

    def _apply_choices(self, reg: _Regions) -> None:
        """Per-region choices: crowd on a box (occluded on a keypoint is read with the keypoint);
        the others counted."""
        points = {rid for rid, _ in reg.points}
        for rid, cs in reg.choices:
            if rid in reg.boxes and cs <= {CROWD}:
                reg.boxes[rid].crowd = CROWD in cs
            elif not (rid in points and cs <= {OCCLUDED}):
                self.notes.lost("Label Studio choices results (not a keypoint's occluded or a box's crowd choice)", 1)

    def _drawable(self, p: _Person) -> bool:
        """False (counted) for a person without a box whose keypoints are all unlabeled."""
        if p.box is not None or (p.kps[:, 2] > 0).any():
            return True
        self.notes.lost("keypoint groups without a box whose keypoints are all unlabeled (hidden at 0, 0)", 1,
                        unit="persons")
        return False

    def _xy(self, r: dict[str, Any], rid: str) -> tuple[float, float]:
        val = r.get("value") or {}
        try:
            return val["x"] / 100 * self.W, val["y"] / 100 * self.H
        except (KeyError, TypeError):
            raise PosekitError(self.src, f"{self.where}: keypoint {rid} has no x/y") from None

    def _set(self, person: _Person, j: int, r: dict[str, Any], rid: str, occluded: set[str]) -> None:
        x, y = self._xy(r, rid)
        if (r.get("value") or {}).get("hidden"):  # label-studio-converter's mark for COCO v < 2
            person.kps[j] = (0, 0, 0) if x == 0 and y == 0 else (x, y, 1)
            self.notes.lost(_HIDDEN, int(x == 0 and y == 0), unit="keypoints")
        else:
            person.kps[j] = (x, y, 1 if rid in occluded else 2)
        score = _number(r.get("score"))
        if score is not None:
            person.scores[j] = score

    def _index(self, lab: Any) -> int:
        """The keypoint a label names (:class:`NameIndex`); refused when none, or two, fit it."""
        j = self.index.get(lab) if isinstance(lab, str) else None
        if j is not None:
            return j
        both = self.index.ambiguous(lab) if isinstance(lab, str) else None
        if both:
            raise PosekitError(self.src, f"{self.where}: keypoint label {lab!r} is a spelling of two keypoints, "
                                         f"{both[0]!r} and {both[1]!r}; label it with one of their names")
        raise PosekitError(self.src, f"{self.where}: keypoint label {lab!r} is not one of the keypoints "
                                     f"({', '.join(list(self.index.exact)[::-1][:5])}, ...)")

    def _put(self, person: _Person, rid: str, r: dict[str, Any], occluded: set[str]) -> None:
        """Place a keypoint in a person: by its label, or next in order when labelled with the category."""
        if self.positional:
            if person.n >= self.K:
                raise PosekitError(self.src, f"{self.where}: {person.name} is followed by more than {self.K} keypoints")
            self._set(person, person.n, r, rid, occluded)
            person.n += 1
            return
        lab = _label(r)
        j = self._index(lab)
        if person.kps[j, 2] > 0:
            raise PosekitError(self.src, f"{self.where}: the person of {person.name} has two {lab!r} keypoints")
        self._set(person, j, r, rid, occluded)

    def _place_loose(self, loose: list[tuple[str, dict[str, Any]]], persons: list[_Person],
                     occluded: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """Keypoints linked to no person (Label Studio links none by itself; JSON-MIN keeps no ids),
        joined by position: per label, each box takes at most one, the one inside it or nearest
        it (within half its diagonal). A point inside exactly one box free for its label, that
        holds no other such point, is counted apart from the guesses. Returns the points no box takes."""
        boxed = [p for p in persons if p.box is not None]
        if self.positional or not boxed or not loose:
            return loose
        from scipy.optimize import linear_sum_assignment  # (imported when used: detection imports this module)

        by_label: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
        for rid, r in loose:
            by_label.setdefault(_label(r), []).append((rid, r))
        rest: list[tuple[str, dict[str, Any]]] = []
        sure = guessed = 0
        for lab, group in by_label.items():
            j = self._index(lab)
            cost = _box_cost(np.array([self._xy(r, rid) for rid, r in group]), np.array([p.box for p in boxed]))
            cost[:, [p.kps[j, 2] > 0 for p in boxed]] = np.inf  # a box holds one point of a label
            inside = cost < 1
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e18))
            take = {int(i): int(c) for i, c in zip(rows, cols) if cost[i, c] <= 1.5}
            for i, (rid, r) in enumerate(group):
                c = take.get(i)
                if c is None:
                    rest.append((rid, r))
                    continue
                self._set(boxed[c], j, r, rid, occluded)
                one = bool(inside[i, c] and inside[i].sum() == 1 and inside[:, c].sum() == 1)
                sure, guessed = sure + one, guessed + (not one)
        self.notes.changed(_SURE, sure)
        self.notes.changed(_GUESS, guessed)
        return rest

    def _guessed(self, rest: list[tuple[str, dict[str, Any]]], occluded: set[str]) -> _Person:
        """The keypoints no link and no box takes, as one person (refused when a label repeats)."""
        labels = [_label(r) for _, r in rest]
        if len(set(labels)) != len(labels) and not self.positional:
            raise PosekitError(self.src, f"{self.where}: keypoints linked to no person (no parentID or relation) that "
                                         f"no box takes repeat a label ({len(rest)} points); cannot tell the persons "
                                         f"apart (link each person's keypoints by relations)")
        person = self._new_person("the keypoints linked to no box")
        for rid, r in rest:
            self._put(person, rid, r, occluded)
        self.notes.changed("keypoints linked to no box nor each other made one person (a guess: no label repeats)",
                           len(rest))
        return person


def _components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    """The groups of nodes ``0..n-1`` that ``edges`` connect, each in ascending order, in the
    order of their first node (union-find: a task's few regions need no sparse matrix)."""
    root = list(range(n))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in edges:
        ra, rb = find(a), find(b)
        root[max(ra, rb)] = min(ra, rb)  # a group's root is its first node
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


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


# --------------------------------------------------------------------------- detection

def _regions_in(head: bytes) -> bool:
    """Label Studio results: regions of a control (``from_name``) with keypoint or box labels."""
    return (b'"from_name"' in head or b'"annotation_id"' in head) and \
        (b'"keypointlabels"' in head or b'"rectanglelabels"' in head)


def detect(probe: Probe) -> int:
    """A JSON list of tasks (with data, results or JSON-MIN's annotation_id) (80), or one task (80)."""
    head = probe.head
    if probe.is_dir:
        return 0
    if head.startswith(b"[") and not head[1:].lstrip().startswith(b"]"):
        # (a task's results may fill the first 64 kB before its "data"; JSON-MIN has no "data")
        return 80 if (b'"data"' in head or _regions_in(head) or b'"annotation_id"' in head) else 0
    return 80 if head.startswith(b"{") and _regions_in(head) and b'"images"' not in head else 0
