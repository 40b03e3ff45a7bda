"""LabelMe JSON <-> KeypointDataset.

Conventions (see README "LabelMe conventions"):

* one ``point`` shape per keypoint, label = keypoint name: the name spelled exactly, else the one
  keypoint the label is a spelling of (:class:`~annotate.skeletons.NameIndex`: "Left Shoulder"
  and "left-shoulder" name ``left_shoulder``; a spelling that fits two names is refused);
* a person is a ``group_id``; points without one form a single person when no label repeats;
* a ``rectangle`` labelled ``person`` with the same ``group_id`` is the person's box (2 corner
  points, or 4 axis-aligned corners as some auto-labeling tools write), else the keypoints'
  extent grown by a margin; ``polygon`` shapes labelled ``person`` are its segmentation;
* a point is v=1 (occluded) when its ``flags.occluded`` is true, its label ends in
  ``_occluded``, or it has ``difficult: true`` (X-AnyLabeling); otherwise v=2. Missing points
  are v=0 at (0, 0). A shape-level ``visible`` key is a display flag and is ignored.

What COCO holds that LabelMe shapes cannot (ids, the image's file name, the category with its
skeleton, iscrowd, area, exact boxes, other fields, what the COCO file left out) travels in each
file's ``posekit`` block, and the dataset's ``info``/``licenses`` in ``.posekit-dataset.json`` at
the folder's root, so COCO -> LabelMe -> COCO gives the same JSON back. Anything read but not
carried is counted in the notes.
"""
from __future__ import annotations

import base64
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from annotate.coco import category_from_json, category_to_json
from annotate.dataset import Category, ImageInfo, KeypointDataset, fill_boxes_from_keypoints
from annotate.errors import PosekitError
from annotate.images import LABELME_IMAGE_SUFFIXES, image_size, image_stem
from annotate.io import dumps_json, json_numbers, read_json, relative_name, resolved_folder, safe_relative
from annotate.notes import Notes
from annotate.skeletons import COCO17, Layout, NameIndex

if TYPE_CHECKING:
    from .formats import Context, Output, Probe, Source

LABELME_VERSION = "5.5.0"
DATASET_FILE = ".posekit-dataset.json"
_SCORE_PREFIX = "score "
_OCCLUDED = re.compile(r"[\s_\-]+occluded$", re.IGNORECASE)
# keys of a point shape that are read (others are counted as not carried)
_POINT_KEYS = {"label", "points", "group_id", "description", "shape_type", "flags", "mask", "score",
               "difficult", "visible", "attributes", "kie_linking", "direction"}
_NUMBER = (int, float)


# --------------------------------------------------------------------------- reading one file

@dataclass
class LabelmePerson:
    """One person as read: keypoints, box (None: none drawn) and what the ``posekit`` block adds."""

    keypoints: np.ndarray  # (K, 3)
    bbox: list[float] | None
    group_id: int | None
    fields: dict[str, Any] = field(default_factory=dict)  # the annotation's other fields
    ann_id: int | None = None
    category_id: int | None = None
    iscrowd: bool = False
    iscrowd_given: bool = True  # False: the COCO file this came from had no iscrowd
    area: float | None = None
    score: float | None = None
    order: float = math.inf  # place in the COCO file's annotations
    derive_box: bool = True  # no box: make one from the keypoints (False: the source had none)


@dataclass
class LabelmeImage:
    """One parsed LabelMe file: where its image is, its size and persons. ``file_name`` (the
    image's path relative to the images root) is set by :func:`place_image`."""

    json_path: Path
    image_rel: str  # the image's path relative to the JSON file's folder
    image: Path     # that path made absolute (lexically; checked against the root when placed)
    meta: dict[str, Any]  # the file's posekit block ({} for files of other tools)
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    persons: list[LabelmePerson] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)
    points: int = 0          # point shapes read (labeled keypoints)
    persons_seen: int = 0    # person groups found (and persons only the posekit block holds)


@dataclass
class PersonGroup:
    """The shapes of one ``group_id`` as they are read."""

    points: dict[int, tuple[float, float, int]] = field(default_factory=dict)  # keypoint -> (x, y, v)
    box: list[float] | None = None
    corners: tuple[float, float, float, float] | None = None
    box_description: str = ""
    box_attributes: dict[str, Any] = field(default_factory=dict)
    polygons: list[list[float]] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)
    descriptions: dict[int, str] = field(default_factory=dict)

    @property
    def is_person(self) -> bool:
        """A person has a labeled point or a box (polygons alone place nobody)."""
        return bool(self.points) or self.box is not None

    def keypoints(self, K: int) -> np.ndarray:
        """``(K, 3)``: the points read, v=0 at (0, 0) elsewhere."""
        kps = np.zeros((K, 3))
        if self.points:
            kps[list(self.points)] = list(self.points.values())
        return kps


def _number_pair(pt: Any) -> bool:
    if type(pt) is not list or len(pt) != 2:
        return False
    x, y = pt
    return type(x) in _NUMBER and type(y) in _NUMBER and math.isfinite(x) and math.isfinite(y)


def _rectangle_box(pts: list, json_path: Path, where: str) -> list[float]:
    """``[x, y, w, h]`` of a rectangle given by 2 opposite corners or 4 axis-aligned corners."""
    if len(pts) == 4:
        xs, ys = sorted({p[0] for p in pts}), sorted({p[1] for p in pts})
        corners = {(x, y) for x in xs for y in ys}
        if len(xs) > 2 or len(ys) > 2 or {tuple(p) for p in pts} != corners:
            raise PosekitError(json_path, f"{where} is a rectangle with 4 points that are not the corners of an "
                                          f"axis-aligned box")
        pts = [[xs[0], ys[0]], [xs[-1], ys[-1]]]
    elif len(pts) != 2:
        raise PosekitError(json_path, f"{where} is a rectangle with {len(pts)} points; expected 2 or 4")
    (x1, y1), (x2, y2) = pts
    return [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)]


def locate_image(obj: dict, json_path: Path) -> tuple[str, Path]:
    """The image a LabelMe file annotates: its path relative to the file's folder and that path
    made absolute (lexically; :func:`place_image` checks it against the images root).
    ``imagePath`` is relative to the JSON file; when it names no image (labelme's own examples
    point it at the JSON file itself and embed the picture in ``imageData``), an image with the
    JSON file's name beside it is used; with none there, the file is refused: COCO needs an image
    file to name."""
    image_path = obj.get("imagePath")
    # NUL bytes and absolute paths refused here; whether it lies inside the root: place_image
    full = safe_relative(json_path.parent, image_path, "imagePath", json_path, Path(json_path.absolute().anchor))
    if full.suffix.lower() in LABELME_IMAGE_SUFFIXES or (full.is_file() and full.suffix.lower() != ".json"):
        return image_path, full
    for suffix in LABELME_IMAGE_SUFFIXES:
        for cand in (json_path.with_suffix(suffix), json_path.with_suffix(suffix.upper())):
            if cand.is_file():
                return cand.name, Path(resolved_folder(str(json_path.parent))) / cand.name
    embedded = " (the picture is only embedded in imageData: save it as an image file beside the " \
               "JSON file, e.g. with labelme's 'labelme_export_json')" if obj.get("imageData") else ""
    raise PosekitError(json_path, f"imagePath {image_path!r} is not an image and no image named "
                                  f"{json_path.stem}.* lies beside the file{embedded}")


def place_image(item: LabelmeImage, root: Path) -> None:
    """Set ``item.file_name``: the image's path relative to ``root``, which it must lie inside."""
    full = safe_relative(item.json_path.parent, item.image_rel, "imagePath", item.json_path, root)
    below = str(full)[len(resolved_folder(str(root))):].lstrip(os.sep).replace(os.sep, "/")
    item.file_name = relative_name(below, "imagePath", item.json_path)


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


def _image_size(obj: dict, meta: dict, image: Path, json_path: Path) -> tuple[int | None, int | None]:
    """``imageWidth``/``imageHeight``; where one is absent, None when the posekit block says the
    COCO file gave none, else the image header's (or the embedded picture's)."""
    size = [obj.get("imageWidth"), obj.get("imageHeight")]
    given = [meta.get("width_given", True) is not False, meta.get("height_given", True) is not False]
    for v in size:
        if v is not None and not (type(v) is int and v > 0):
            raise PosekitError(json_path, f"imageWidth/imageHeight {size[0]!r}x{size[1]!r} must be positive integers")
    if all(v is not None or not g for v, g in zip(size, given)):
        return size[0], size[1]
    try:
        header = image_size(image)
    except PosekitError as exc:
        header = _embedded_size(obj)
        if header is None:
            raise PosekitError(json_path, f"imageWidth/imageHeight absent and {exc}") from None
    w, h = (v if v is not None or not g else int(hv) for v, g, hv in zip(size, given, header))
    return w, h


def file_category(obj: dict, json_path: Path) -> tuple[Category, list[Category]] | None:
    """The keypoint categories a file written by posekit carries in its ``posekit`` block."""
    meta = obj.get("posekit")
    if not isinstance(meta, dict) or not isinstance(meta.get("categories"), list) or not meta["categories"]:
        return None
    try:
        cats = [category_from_json(c) for c in meta["categories"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PosekitError(json_path, f"posekit block: bad category ({exc})") from None
    if not cats[0].keypoints or not all(isinstance(n, str) for c in cats for n in c.keypoints):
        raise PosekitError(json_path, "posekit block: a category's keypoints are not a list of names")
    if not all(type(c.id) is int for c in cats):
        raise PosekitError(json_path, "posekit block: a category's id is not an integer")
    return cats[0], cats


def _shape_fields(shape: Any, where: str, json_path: Path) -> tuple[str, str, int | None, list]:
    """A shape's label, type, group id and points, checked."""
    if not isinstance(shape, dict):
        raise PosekitError(json_path, f"{where} is not an object")
    label, stype, gid = shape.get("label"), shape.get("shape_type", "polygon"), shape.get("group_id")
    if not isinstance(label, str):
        raise PosekitError(json_path, f"{where} has label {label!r}; expected a string")
    if not _group_id(gid):
        raise PosekitError(json_path, f"{where} ({label!r}) has group_id {gid!r}; expected an integer or null")
    pts = shape.get("points")
    if type(pts) is not list or not all(map(_number_pair, pts)):
        raise PosekitError(json_path, f"{where} ({label!r}) has points that are not [x, y] numbers")
    return label, stype, gid, pts


@dataclass
class ShapeReader:
    """Reads one file's shapes into person groups (``group_id`` -> :class:`PersonGroup`)."""

    json_path: Path
    keypoints: list[str]
    layout_name: str
    person_label: str
    notes: Notes
    groups: dict[int | None, PersonGroup] = field(default_factory=dict)
    points: int = 0

    def __post_init__(self) -> None:
        self.index = NameIndex(self.keypoints)
        self.person = NameIndex([self.person_label])

    def group(self, gid: int | None) -> PersonGroup:
        g = self.groups.get(gid)
        if g is None:
            g = self.groups[gid] = PersonGroup()
        return g

    def read(self, shapes: list) -> None:
        for s_idx, shape in enumerate(shapes):
            where = f"shape {s_idx}"
            label, stype, gid, pts = _shape_fields(shape, where, self.json_path)
            where = f"{where} ({label!r})"
            if stype == "point":
                self.point(shape, label, gid, pts, where)
            elif stype == "rectangle" and self.person.get(label) is not None:
                self.box(shape, gid, pts, where)
            elif stype == "polygon" and self.person.get(label) is not None and gid is not None and len(pts) >= 3:
                self.group(gid).polygons.append([c for p in pts for c in p])
            else:
                self.notes.lost(f"{stype} shapes (not a keypoint, person box or person polygon)", 1)

    def keypoint(self, label: str, where: str) -> tuple[int, bool]:
        """The keypoint a point label names and whether the label says it is occluded."""
        j = self.index.get(label)
        if j is not None:
            return j, False
        stem = _OCCLUDED.sub("", label)
        j = self.index.get(stem) if stem and stem != label else None
        if j is not None:
            return j, True
        both = self.index.ambiguous(label) or (self.index.ambiguous(stem) if stem else None)
        if both:
            raise PosekitError(self.json_path, f"{where}: point label {label!r} is a spelling of two keypoints, "
                                               f"{both[0]!r} and {both[1]!r}; label it with one of the names exactly")
        raise PosekitError(self.json_path, f"{where}: point label {label!r} is not a keypoint of layout "
                                           f"{self.layout_name} (use --layout to choose another)")

    def point(self, shape: dict, label: str, gid: int | None, pts: list, where: str) -> None:
        j, occluded = self.keypoint(label, where)
        if len(pts) != 1:
            raise PosekitError(self.json_path, f"{where} is a point with {len(pts)} coordinates")
        flags = shape.get("flags") or {}
        if not isinstance(flags, dict):
            raise PosekitError(self.json_path, f"{where} has flags that are not an object")
        g = self.group(gid)
        if j in g.points:
            if gid is None:
                raise PosekitError(self.json_path, f"label {self.keypoints[j]!r} appears more than once without "
                                                   f"group_id; set group_id per person (ambiguous)")
            raise PosekitError(self.json_path, f"label {self.keypoints[j]!r} appears twice in group_id {gid}")
        occluded = occluded or bool(flags.get("occluded")) or shape.get("difficult") is True
        g.points[j] = (pts[0][0], pts[0][1], 1 if occluded else 2)
        self.points += 1
        score, desc = shape.get("score"), shape.get("description")
        if type(score) in _NUMBER and math.isfinite(score):
            g.scores[j] = float(score)
        if isinstance(desc, str) and desc and not (j in g.scores and desc == _score_text(g.scores[j])):
            g.descriptions[j] = desc
        if len(flags) > 1 or (flags and "occluded" not in flags):
            self.notes.lost("point flags other than 'occluded' (COCO keypoints have no place for them)",
                            sum(1 for k, v in flags.items() if k != "occluded" and v))
        if not shape.keys() <= _POINT_KEYS:
            self.notes.lost("point shape keys COCO keypoints cannot hold", len(shape.keys() - _POINT_KEYS))

    def box(self, shape: dict, gid: int | None, pts: list, where: str) -> None:
        g = self.group(gid)
        if g.box is not None:
            raise PosekitError(self.json_path, f"two '{self.person_label}' rectangles share group_id {gid}")
        g.box = _rectangle_box(pts, self.json_path, where)
        g.corners = (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
        attrs, desc = shape.get("attributes"), shape.get("description")
        g.box_attributes = dict(attrs) if isinstance(attrs, dict) else {}
        g.box_description = desc if isinstance(desc, str) else ""

    def attach_lone_box(self) -> None:
        """A lone rectangle without group_id is the box of the image's one grouped person."""
        lone = self.groups.get(None)
        grouped = [g for k, g in self.groups.items() if k is not None]
        if lone is not None and lone.box is not None and not lone.points and not lone.polygons \
                and len(grouped) == 1 and grouped[0].box is None:
            box = self.groups.pop(None)
            grouped[0].box, grouped[0].corners = box.box, box.corners
            grouped[0].box_attributes, grouped[0].box_description = box.box_attributes, box.box_description


def _score_text(score: float) -> str:
    return f"{_SCORE_PREFIX}{score:.3f}"


def _group_id(value: Any) -> bool:
    return value is None or type(value) is int


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _number(value: Any) -> float | None:
    return float(value) if type(value) in _NUMBER and math.isfinite(value) else None


def _fields(g: PersonGroup, entry: dict | None, K: int) -> dict[str, Any]:
    """The annotation's other fields: the posekit block's (another tool's file: the box's
    attributes), with what the shapes say where the block does not say it."""
    fields: dict[str, Any] = {}
    if entry is None:
        fields.update(g.box_attributes)
    elif isinstance(entry.get("fields"), dict):
        fields.update(entry["fields"])
    if g.box_description:  # as a person left it in labelme
        fields["description"] = g.box_description
    if g.scores and "keypoint_scores" not in fields:
        fields["keypoint_scores"] = [g.scores.get(j, 0.0) for j in range(K)]
    if g.descriptions and "keypoint_descriptions" not in fields:
        fields["keypoint_descriptions"] = [g.descriptions.get(j, "") for j in range(K)]
    if g.polygons and not isinstance(fields.get("segmentation"), dict):
        fields["segmentation"] = g.polygons
    return fields


def _exact_box(g: PersonGroup, entry: dict) -> tuple[list[float] | None, bool]:
    """The person's box and whether one is to be made from its keypoints: the box written (the
    rectangle's corners need not give it back exactly) unless the rectangle was moved since;
    none when the COCO file had none and no rectangle was drawn since."""
    exact = entry.get("bbox", [])
    if g.box is None:
        return None, bool(g.points) and exact is not None
    if _box(exact) and _corners(exact) == g.corners:
        return exact, False
    return g.box, False


def _unlabeled_xy(kps: np.ndarray, entry: dict) -> None:
    """The coordinates of v=0 points (no shape), as the COCO file had them."""
    rows = entry.get("unlabeled_xy")
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, list) and len(row) == 3 and type(row[0]) is int and 0 <= row[0] < len(kps) \
                and _number_pair(row[1:]) and kps[row[0], 2] == 0:
            kps[row[0], :2] = row[1:]


def _person(g: PersonGroup, gid: int | None, entry: dict | None, K: int) -> LabelmePerson:
    """A person from its shapes and, for files posekit wrote, its entry in the posekit block."""
    fields, kps = _fields(g, entry, K), g.keypoints(K)
    if entry is None:  # another tool's file: a person, not a crowd
        box, derive = g.box, g.box is None and bool(g.points)
        return LabelmePerson(kps, box, gid, fields, derive_box=derive)
    box, derive = _exact_box(g, entry)
    _unlabeled_xy(kps, entry)
    return LabelmePerson(kps, box, gid, fields, ann_id=_int(entry.get("id")),
                         category_id=_int(entry.get("category_id")), iscrowd=bool(entry.get("iscrowd", 0)),
                         iscrowd_given="iscrowd" in entry, area=_number(entry.get("area")),
                         score=_number(entry.get("score")), order=_order(entry.get("order")), derive_box=derive)


def _box(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 4 and _number_pair(value[:2]) and _number_pair(value[2:])


def _corners(box: list) -> tuple[float, ...]:
    """The rectangle corners the writer makes of a box (to tell an untouched rectangle)."""
    x, y, w, h = box
    return (x, y, x + w, y + h)


def _persons(reader: ShapeReader, meta: dict, item: LabelmeImage) -> None:
    """The file's persons: its person groups, and persons only its posekit block holds (written
    with no shape). Groups of another tool's file with nothing to place a person by (a polygon
    alone) are counted as not carried."""
    K = len(reader.keypoints)
    listed = meta.get("persons")
    entries = {p.get("group_id"): p for p in listed if isinstance(p, dict) and _group_id(p.get("group_id"))} \
        if isinstance(listed, list) else {}
    groups = dict(reader.groups)
    for gid, p in entries.items():
        if not p.get("shapes") and gid not in groups:
            groups[gid] = PersonGroup()
    item.persons_seen = len(groups)
    placed = {gid: g for gid, g in groups.items() if g.is_person or gid in entries}
    item.notes.lost("person polygons without a labeled point or box (nothing to place the person by)",
                    len(groups) - len(placed), unit="persons")
    for gid in sorted(placed, key=lambda k: (k is None, k or 0)):
        item.persons.append(_person(placed[gid], gid, entries.get(gid), K))
    deleted = [gid for gid, p in entries.items() if p.get("shapes") and gid not in groups]
    item.notes.lost("persons deleted in LabelMe (in the file's posekit block, no shapes left)", len(deleted))


def parse_labelme(obj: Any, json_path: Path, root: Path | None, layout: Layout | Category,
                  person_label: str = "person") -> LabelmeImage:
    """Parse one LabelMe JSON object; raises :class:`PosekitError` naming the file and shape.

    ``root`` is the images folder: ``imagePath`` (relative to the JSON file) must lie inside it,
    and the COCO ``file_name`` is the image's path relative to it (None: placed later with
    :func:`place_image`). ``layout`` names the point labels (a file's own ``posekit`` category wins)."""
    if not isinstance(obj, dict):
        raise PosekitError(json_path, f"expected a LabelMe JSON object, found a {type(obj).__name__}")
    shapes = obj.get("shapes")
    if not isinstance(shapes, list):
        raise PosekitError(json_path, "no 'shapes' list; not a LabelMe file")
    meta = obj.get("posekit") if isinstance(obj.get("posekit"), dict) else {}
    item = LabelmeImage(json_path, *locate_image(obj, json_path), meta)
    if root is not None:
        place_image(item, root)
    item.width, item.height = _image_size(obj, meta, item.image, json_path)
    own = file_category(obj, json_path)
    names = own[0].keypoints if own else list(layout.keypoints)
    reader = ShapeReader(json_path, list(names), own[0].name if own else getattr(layout, "name", "custom"),
                         person_label, item.notes)
    reader.read(shapes)
    reader.attach_lone_box()
    item.points = reader.points
    _persons(reader, meta, item)
    return item


# --------------------------------------------------------------------------- reading a folder

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


def _folder_categories(obj: Any, path: Path, layout: Layout | None,
                       categories: list[Category] | None) -> list[Category]:
    """The folder's categories: the first file's (its posekit block's, else ``layout``'s, else
    COCO-17's); a file carrying other keypoints is refused (one layout per folder)."""
    own = file_category(obj, path) if isinstance(obj, dict) else None
    if own and layout is not None and tuple(own[0].keypoints) != tuple(layout.keypoints):
        raise PosekitError(path, f"carries the keypoints of category {own[0].name!r} ({own[0].num_keypoints}), "
                                 f"not layout {layout.name}; leave out --layout")
    if categories is None:
        return own[1] if own else [Category.from_layout(layout or COCO17)]
    if own and own[0].keypoints != categories[0].keypoints:
        raise PosekitError(path, f"carries keypoints {own[0].keypoints[:3]}... unlike the folder's other files "
                                 f"({categories[0].keypoints[:3]}...); one layout per folder")
    return categories


def _parse_files(files: list[Path], root: Path | None, layout: Layout | None, ctx: "Context"
                 ) -> tuple[list[LabelmeImage], list[PosekitError], list[Category]]:
    """Every file parsed: the good ones, the errors of the bad ones, the folder's categories."""
    items: list[LabelmeImage] = []
    errors: list[PosekitError] = []
    categories: list[Category] | None = None
    for path in files:
        try:
            obj = read_json(path)
            categories = _folder_categories(obj, path, layout, categories)
            items.append(parse_labelme(obj, path, root, categories[0], ctx.person_label))
        except PosekitError as exc:
            errors.append(exc)
        ctx.advance(1)
    return items, errors, categories or [Category.from_layout(layout or COCO17)]


def _root_by_file_name(item: LabelmeImage) -> Path | None:
    """For a file posekit wrote: the image's path minus the COCO ``file_name`` its block names."""
    name = item.meta.get("file_name")
    try:
        parts = Path(relative_name(name)).parts if isinstance(name, str) else ()
    except PosekitError:
        return None
    if not parts or item.image.parts[-len(parts):] != parts or len(item.image.parts) <= len(parts):
        return None
    return Path(*item.image.parts[: -len(parts)])


def _inside(path: Path, root: Path) -> bool:
    return root in path.parents


def images_root(folder: Path, items: list[LabelmeImage]) -> Path:
    """The folder the images' file names are relative to when ``--images`` is not given: the
    one the posekit blocks' file names give (``imagePath`` minus ``file_name``), else the LabelMe
    folder when every image lies inside it, else the folder the images share (as
    ``labelme IMAGES --output OUT`` writes them). PosekitError when there is no such one folder."""
    roots = sorted({r for r in map(_root_by_file_name, items) if r is not None})
    if len(roots) > 1:
        raise PosekitError(folder, f"the files name images below two different folders ({roots[0]} and "
                                   f"{roots[1]}); pass --images DIR, the folder their file names are relative to")
    here = Path(resolved_folder(str(folder)))
    if not roots and all(_inside(it.image, here) for it in items):
        return folder
    root = roots[0] if roots else Path(os.path.commonpath([str(it.image.parent) for it in items]))
    outside = [it for it in items if not _inside(it.image, root)]
    if outside or root == Path(root.anchor):
        it = (outside or items)[0]
        raise PosekitError(folder, f"imagePath points outside the LabelMe folder ({it.json_path.name}: "
                                   f"{it.image_rel!r}) and the files name no one images folder; pass --images DIR, "
                                   f"the folder the images' file names are relative to")
    return root


def _place_all(items: list[LabelmeImage], root: Path, errors: list[PosekitError]) -> list[LabelmeImage]:
    placed = []
    for item in items:
        try:
            place_image(item, root)
            placed.append(item)
        except PosekitError as exc:
            errors.append(exc)
    return placed


def _bad_files(errors: list[PosekitError], ctx: "Context") -> None:
    """Hand the bad files to the error policy (the conversion refuses them, each listed, or with
    --skip-bad counts them)."""
    for exc in errors:
        ctx.bad(exc, "LabelMe files")


def _apply_dataset_meta(ds: KeypointDataset, path: Path) -> None:
    """The dataset's info, licenses and other fields from ``.posekit-dataset.json``."""
    if not path.is_file():
        return
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise PosekitError(path, "expected a JSON object")
    ds.info = meta.get("info") or {}
    ds.licenses = meta.get("licenses")
    ds.top_extra = meta.get("top_extra") or {}
    ds.other_categories = meta.get("other_categories") or []


def read(src: Path, ctx: "Context") -> "Source":
    """Read every LabelMe file below ``src``. Point labels name the keypoints of ``ctx.layout``
    (default: the category the files carry, else COCO-17); images lie inside ``ctx.images``
    (default: :func:`images_root`). Bad files refuse the conversion, or with ``ctx.skip_bad``
    are counted and left out."""
    from .formats import Source, layout_option

    layout = layout_option(ctx.layout) if ctx.layout else None
    files = find_labelme_files(src)
    items, errors, categories = _parse_files(files, ctx.images, layout, ctx)
    root = ctx.images
    if root is None:
        try:
            root = images_root(src, items)
        except PosekitError:
            _bad_files(errors, ctx)  # bad files first: they may be why
            raise
        items = _place_all(items, root, errors)
    _bad_files(errors, ctx)
    for item in items:
        ctx.account.seen("images", 1)
        ctx.account.seen("persons", item.persons_seen)
        ctx.account.seen("keypoints", item.points)
        ctx.notes.merge(item.notes)
    ds = images_to_dataset(items, categories, ctx.box_margin)
    _apply_dataset_meta(ds, src / DATASET_FILE)
    return Source(ds, root)


# --------------------------------------------------------------------------- parsed files -> dataset

def _order(value: Any) -> float:
    return value if type(value) is int else math.inf


def _unique_ids(wanted: list[Any]) -> list[int]:
    """Each wanted id where it is an integer not taken before; the others get the smallest
    positive integers no one wants."""
    taken = {v for v in wanted if type(v) is int}
    out, seen, nxt = [], set(), 1
    for v in wanted:
        if type(v) is not int or v in seen:
            while nxt in taken or nxt in seen:
                nxt += 1
            v = nxt
        seen.add(v)
        out.append(v)
    return out


def images_to_dataset(parsed: Iterable[LabelmeImage], layout: Layout | list[Category],
                      box_margin: float = 0.1) -> KeypointDataset:
    """Assemble parsed LabelMe images (placed: ``file_name`` set) into one dataset, in the order
    the files were written in (COCO's image and annotation order; new ones last); ids from the
    posekit blocks where present and unique."""
    cats = layout if isinstance(layout, list) else [Category.from_layout(layout)]
    items = sorted(parsed, key=lambda it: _order(it.meta.get("order")))
    images, rows, others = [], [], []
    for item, iid in zip(items, _unique_ids([it.meta.get("image_id") for it in items])):
        extra = item.meta.get("image_extra")
        images.append(ImageInfo(iid, item.file_name, item.width, item.height, dict(extra) if isinstance(extra, dict) else {}))
        rows += [(iid, p) for p in item.persons]
        listed = item.meta.get("other_annotations")
        others += [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    rows.sort(key=lambda r: r[1].order)
    persons = [p for _, p in rows]
    cat_ids = {c.id for c in cats}
    K = cats[0].num_keypoints
    ds = KeypointDataset(
        cats[0], images, np.array(_unique_ids([p.ann_id for p in persons]), dtype=np.int64),
        np.array([iid for iid, _ in rows], dtype=np.int64),
        np.stack([p.keypoints for p in persons]) if persons else np.zeros((0, K, 3)),
        np.array([p.bbox if p.bbox is not None else [np.nan] * 4 for p in persons], dtype=np.float64).reshape(-1, 4),
        np.array([np.nan if p.area is None else p.area for p in persons], dtype=np.float64),
        np.array([p.iscrowd for p in persons], dtype=bool),
        np.array([np.nan if p.score is None else p.score for p in persons], dtype=np.float64),
        [p.fields for p in persons], categories=list(cats),
        category_id=np.array([p.category_id if p.category_id in cat_ids else cats[0].id for p in persons],
                             dtype=np.int64),
        iscrowd_given=np.array([p.iscrowd_given for p in persons], dtype=bool))
    ds.other_annotations = others
    fill_boxes_from_keypoints(ds, box_margin, np.array([p.derive_box for p in persons], dtype=bool))
    return ds


# --------------------------------------------------------------------------- writing

def _point_shape(label: str, x: float, y: float, v: float, gid: int, score: float | None,
                 description: str) -> dict[str, Any]:
    s: dict[str, Any] = {"label": label, "points": [[x, y]], "group_id": gid,
                         "description": description, "shape_type": "point",
                         "flags": {"occluded": bool(v == 1)}, "mask": None}
    if score is not None:
        s["score"] = score
        if not description:
            s["description"] = _score_text(score)
    return s


def person_shapes(kps: np.ndarray, bbox: np.ndarray, gid: int, layout: Layout | Category, person_label: str,
                  kp_scores: list[float] | None = None, kp_desc: list[str] | None = None,
                  segmentation: list[list[float]] | None = None, description: str = "") -> list[dict[str, Any]]:
    """The shapes of one person: a point per labeled keypoint (its score, when known, in the point's
    description, as labelme's edit dialog shows it), the box, and polygon segmentations."""
    names = layout.keypoints
    shapes = []
    for j in np.flatnonzero(kps[:, 2] > 0).tolist():
        x, y, v = kps[j].tolist()
        shapes.append(_point_shape(names[j], x, y, v, gid, None if kp_scores is None else kp_scores[j],
                                   "" if kp_desc is None else kp_desc[j]))
    if not np.isnan(bbox).any():
        x, y, w, h = bbox.tolist()
        shapes.append({"label": person_label, "points": [[x, y], [x + w, y + h]], "group_id": gid,
                       "description": description, "shape_type": "rectangle", "flags": {}, "mask": None})
    for poly in segmentation or []:
        shapes.append({"label": person_label, "points": [[poly[i], poly[i + 1]] for i in range(0, len(poly) - 1, 2)],
                       "group_id": gid, "description": "", "shape_type": "polygon", "flags": {}, "mask": None})
    return shapes


def _polygons(seg: Any) -> bool:
    """A COCO polygon segmentation that LabelMe polygons hold exactly (3+ points each)."""
    return isinstance(seg, list) and bool(seg) and all(
        isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and all(
            type(c) in _NUMBER and math.isfinite(c) for c in p) for p in seg)


def _per_keypoint(values: Any, K: int, kind: type) -> list | None:
    """A per-keypoint list the points can show (K values of ``kind``), else None."""
    if isinstance(values, list) and len(values) == K and all(type(v) is kind for v in values):
        if kind is not float or all(math.isfinite(v) for v in values):
            return values
    return None


def _shown_exactly(scores: list[float] | None, descs: list[str] | None,
                   labeled: np.ndarray) -> tuple[bool, bool]:
    """Whether the reader gets the keypoint scores and descriptions back from the point shapes
    alone (else they stay in the posekit block): unlabeled points (no shape) at the reader's
    default, at least one shape to carry them, no description it would take for a score's."""
    lab = labeled.tolist()
    any_point = any(lab)
    scores_ok = scores is not None and any_point and all(s == 0.0 for s, on in zip(scores, lab) if not on)
    descs_ok = descs is not None and any(d for d, on in zip(descs, lab) if on) and \
        all(d == "" for d, on in zip(descs, lab) if not on) and \
        not (scores is not None and any(on and d == _score_text(s) for d, s, on in zip(descs, scores, lab)))
    return scores_ok, descs_ok


def _person_entry(ds: KeypointDataset, r: int, gid: int, person_label: str) -> tuple[list[dict], dict[str, Any]]:
    """One person's shapes and its entry in the posekit block (what the shapes cannot hold)."""
    fields = dict(ds.extra[r])
    K = ds.category.num_keypoints
    labeled = ds.keypoints[r, :, 2] > 0
    scores = _per_keypoint(fields.get("keypoint_scores"), K, float)
    descs = _per_keypoint(fields.get("keypoint_descriptions"), K, str)
    seg = fields.get("segmentation") if _polygons(fields.get("segmentation")) else None
    desc = fields.get("description")
    shapes = person_shapes(ds.keypoints[r], ds.bbox[r], gid, ds.category, person_label, scores, descs, seg,
                           desc if isinstance(desc, str) else "")
    scores_ok, descs_ok = _shown_exactly(scores, descs, labeled)
    for key, shown in (("segmentation", seg is not None), ("keypoint_scores", scores_ok),
                       ("keypoint_descriptions", descs_ok)):
        if shown:
            fields.pop(key)
    entry: dict[str, Any] = {"group_id": gid, "shapes": len(shapes), "order": r, "id": int(ds.ann_id[r])}
    if int(ds.category_id[r]) != ds.category.id:
        entry["category_id"] = int(ds.category_id[r])
    if ds.iscrowd_given[r]:  # left out: the COCO file had no iscrowd
        entry["iscrowd"] = int(ds.iscrowd[r])
    entry["bbox"] = None if np.isnan(ds.bbox[r]).any() else json_numbers(ds.bbox[r])
    if not np.isnan(ds.area[r]):
        entry["area"] = json_numbers([ds.area[r]])[0]
    if not np.isnan(ds.score[r]):
        entry["score"] = float(ds.score[r])
    unlabeled = np.flatnonzero(~labeled & (ds.keypoints[r, :, :2] != 0).any(axis=1))
    if len(unlabeled):  # v=0 points that still have coordinates: no shape, kept here
        entry["unlabeled_xy"] = [[j, *ds.keypoints[r, j, :2].tolist()] for j in unlabeled.tolist()]
    if fields:
        entry["fields"] = fields
    return shapes, entry


def labelme_document(image_rel: str, width: int | None, height: int | None, shapes: list[dict],
                     meta: dict[str, Any]) -> dict[str, Any]:
    """A LabelMe file's JSON object (imageData null)."""
    return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_rel,
            "imageData": None, "imageHeight": height, "imageWidth": width, "posekit": meta}


def labelme_json_path(out_dir: Path, file_name: str) -> Path:
    """Where the LabelMe file of image ``file_name`` goes: beside it, ``<stem>.json`` (labelme's pairing)."""
    return out_dir / f"{image_stem(relative_name(file_name))}.json"


def _json_target(out_dir: Path, im: ImageInfo, owner: dict[Path, str]) -> Path:
    """The image's LabelMe file; refused when another image has it or the reader would skip it."""
    json_path = labelme_json_path(out_dir, im.file_name)
    if json_path in owner:
        raise PosekitError(None, f"images {owner[json_path]!r} and {im.file_name!r} would share the LabelMe "
                                 f"file {json_path} (labelme pairs an image with <name>.json); rename one")
    rel = json_path.relative_to(out_dir)
    if json_path.name.endswith(".coco.json") or any(p.startswith(".") for p in rel.parts):
        raise PosekitError(None, f"image {im.file_name!r}: its LabelMe file {rel.as_posix()} would be skipped when "
                                 f"read back (hidden, or named like a COCO file); rename the image")
    owner[json_path] = im.file_name
    return json_path


def _image_block(im: ImageInfo, order: int, categories: list[dict], persons: list[dict],
                 others: list[dict] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"image_id": im.id, "file_name": im.file_name, "order": order,
                            "image_extra": dict(im.extra), "categories": categories, "persons": persons}
    if im.width is None:
        meta["width_given"] = False  # the COCO file gave none: not read from the image on the way back
    if im.height is None:
        meta["height_given"] = False
    if others:
        meta["other_annotations"] = others
    return meta


def dataset_to_labelme(ds: KeypointDataset, out_dir: str | Path, images_dir: str | Path | None = None,
                       person_label: str = "person") -> dict[Path, bytes]:
    """Every image of the dataset as a LabelMe JSON document, plus ``.posekit-dataset.json``
    (the dataset's info and licenses) when the dataset has any.

    Returns ``{json_path: bytes}``; nothing is written here so that the caller can check all
    targets first and then write atomically. Two images that would share a LabelMe file
    (``x.jpg`` and ``x.png``) are refused, naming both."""
    out_dir = Path(out_dir)
    images_dir = Path(images_dir) if images_dir is not None else out_dir
    by_image = ds.indices_by_image()
    categories = [category_to_json(c) for c in ds.categories]
    others: dict[Any, list] = {}
    for a in ds.other_annotations:
        others.setdefault(a.get("image_id"), []).append(a)
    docs: dict[Path, bytes] = {}
    owner: dict[Path, str] = {}
    for order, im in enumerate(ds.images):
        rel = relative_name(im.file_name, f"image {im.id}: file_name")
        json_path = _json_target(out_dir, im, owner)
        image_rel = os.path.relpath(images_dir / rel, json_path.parent).replace(os.sep, "/")
        shapes: list[dict[str, Any]] = []
        persons = []
        for gid, r in enumerate(by_image[im.id].tolist(), start=1):
            new, entry = _person_entry(ds, r, gid, person_label)
            shapes += new
            persons.append(entry)
        meta = _image_block(im, order, categories, persons, others.get(im.id))
        docs[json_path] = dumps_json(labelme_document(image_rel, im.width, im.height, shapes, meta), indent=2)
    if ds.info or ds.licenses is not None or ds.top_extra or ds.other_categories:
        docs[out_dir / DATASET_FILE] = dumps_json(
            {"info": ds.info, "licenses": ds.licenses, "top_extra": ds.top_extra,
             "other_categories": ds.other_categories}, indent=2)
    return docs


def write(ds: KeypointDataset, dst: Path, ctx: "Context", images_dir: Path | None) -> "Output":
    """One LabelMe file per image in ``dst`` (``imagePath`` into ``images_dir``, default ``dst``)."""
    from .formats import Output

    docs = dataset_to_labelme(ds, dst, images_dir, ctx.person_label)
    files = {p.relative_to(dst).as_posix(): data for p, data in docs.items()}
    # (no reads_back: a LabelMe folder is where people work; other files there are theirs, and
    # adding an export beside them is how sets are merged)
    return Output(dst, files, folder=True, summary=f"{len(docs)} LabelMe files, {len(ds)} persons")


# --------------------------------------------------------------------------- detection

def detect(probe: "Probe") -> int:
    """A folder whose first JSON files hold LabelMe ``shapes`` (70); one such file is refused."""
    if not probe.is_dir:
        if probe.head.startswith(b"{") and b'"shapes"' in probe.head and b'"images"' not in probe.head:
            from .formats import refuse_single_file
            refuse_single_file(probe, "labelme")
        return 0
    return 70 if any(h.startswith(b"{") and b'"shapes"' in h for h in probe.json_heads) else 0
