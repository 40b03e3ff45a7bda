"""CVAT for images 1.1 XML <-> KeypointDataset.

As CVAT's own exporter writes it (``cvat/apps/dataset_manager/formats/cvat.py``): the meta's
``<labels>`` declare each category as a ``skeleton`` label whose ``<svg>`` holds its points
(``data-label-name``) and edges (``data-node-from``/``data-node-to``), each keypoint as a
``points`` label with that ``<parent>``; every ``<image id name width height>`` holds, per
person, a ``<skeleton label=CATEGORY>`` with one ``<points label=KEYPOINT outside occluded
points="x,y">`` per keypoint, and the person's box as a ``<box label=CATEGORY_box>`` with the
same ``group_id`` (the grouping Datumaro's COCO exporter uses to pair a box with its points).

Visibility: ``outside="1"`` -> v=0 (at 0,0), ``occluded="1"`` -> v=1, else v=2. Crowd regions
are boxes with the ``is_crowd`` attribute true (Datumaro's name) and no skeleton. A skeleton's
``<attribute>``s are kept in the annotation's ``attributes``, its points' in ``keypoint_attributes``
(keypoint name -> attributes), a ``source`` other than manual and a ``z_order`` other than 0 as
such; all are written back. Coordinates are written with all their digits (CVAT writes two
decimals; it reads any).

Reading also takes project exports (labels under ``<meta><project>``, images in
``images/<subset>/``: the subset leads the file name) and CVAT for video 1.1: each frame of the
task is an image ``frame_NNNNNN`` (CVAT's own name for a video frame; the suffix of the exported
image when one is there), a skeleton track a person on each frame where not all its points are
outside, with the box track of its group and its ``track_id``. A skeleton track's points come
either inside each ``<skeleton frame>`` (``<points label>``) or as point tracks nested in the
skeleton track (``<track label=POINT><points frame>``, as in Datumaro's CVAT-for-video test
asset); both read into the same persons. Shapes CVAT interpolated between keyframes
(``keyframe="0"``) are read as persons like the others; CVAT for images, which the writer
writes, has no keyframe flag, so the flag is not kept in the person's fields but counted in the
notes line. The skeleton label read is ``--person-label`` when it names one, else the one with
the most skeletons.

The reader counts what the source holds as it walks it (``ctx.account``): every image (or video
frame), every skeleton (and skeleton track frame that is a person), every unpaired person box,
every labeled (not outside) point of a skeleton; whatever it does not carry is counted in the
notes.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import IMAGE_SUFFIXES, image_stem
from annotate.notes import Notes
from annotate.skeletons import NameIndex, layout_for_names

from .formats import Context, Output, Probe, Source, class_index, note_unheld

BOX_SUFFIX = "_box"
CROWD_ATTR = "is_crowd"


# --------------------------------------------------------------------------- writing

def _num(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


def _svg(cat: Category, kps: np.ndarray, bbox: np.ndarray) -> str:
    """CVAT's skeleton drawing: a node per keypoint where it sits on average inside its
    person's box (a circle for keypoints never labeled), an edge per limb."""
    K = cat.num_keypoints
    ang = np.linspace(0, 2 * np.pi, K, endpoint=False)
    pos = np.stack([50 + 40 * np.cos(ang), 50 + 40 * np.sin(ang)], 1)
    if len(kps):
        with np.errstate(invalid="ignore", divide="ignore"):
            u = (kps[..., 0] - bbox[:, None, 0]) / bbox[:, None, 2]
            v = (kps[..., 1] - bbox[:, None, 1]) / bbox[:, None, 3]
        ok = (kps[..., 2] > 0) & np.isfinite(u) & np.isfinite(v)
        n = ok.sum(0)
        has = n > 0
        mu = np.where(ok, u, 0).sum(0)[has] / n[has]
        mv = np.where(ok, v, 0).sum(0)[has] / n[has]
        pos[has] = np.stack([5 + 90 * np.clip(mu, 0, 1), 5 + 90 * np.clip(mv, 0, 1)], 1)
    parts = []
    for a, b in cat.skeleton:
        parts.append(f'<line x1="{pos[a, 0]:.2f}" y1="{pos[a, 1]:.2f}" x2="{pos[b, 0]:.2f}" y2="{pos[b, 1]:.2f}" '
                     f'stroke="black" data-type="edge" data-node-from="{a + 1}" stroke-width="0.5" '
                     f'data-node-to="{b + 1}"></line>')
    for i, name in enumerate(cat.keypoints):
        parts.append(f'<circle r="1.5" stroke="black" fill="#b3b3b3" cx="{pos[i, 0]:.2f}" cy="{pos[i, 1]:.2f}" '
                     f'stroke-width="0.1" data-type="element node" data-element-id="{i + 1}" '
                     f'data-node-id="{i + 1}" data-label-name={quoteattr(name)}></circle>')
    return "".join(parts)


def _attr_decl(name: str, input_type: str, default: str, values: str) -> list[str]:
    return ["            <attribute>", f"              <name>{escape(name)}</name>",
            "              <mutable>False</mutable>", f"              <input_type>{input_type}</input_type>",
            f"              <default_value>{default}</default_value>", f"              <values>{values}</values>",
            "            </attribute>"]


def _attribute_names(ds: KeypointDataset, notes: Notes) -> tuple[dict[int, list[str]], dict[str, list[str]]]:
    """The attribute names each category's skeletons carry, and each keypoint's points (as the
    meta declares them); point attributes of keypoints the category lacks are counted."""
    attr_names: dict[int, list[str]] = {c.id: [] for c in ds.categories}
    point_names: dict[str, list[str]] = {}
    known = {k for c in ds.categories for k in c.keypoints}
    for r in range(len(ds)):
        attrs = ds.extra[r].get("attributes")
        if isinstance(attrs, dict):
            names = attr_names[int(ds.category_id[r])]
            names += [k for k in attrs if k not in names]
        points = ds.extra[r].get("keypoint_attributes")
        for kp, attrs in (points.items() if isinstance(points, dict) else ()):
            if kp not in known or not isinstance(attrs, dict):
                notes.lost("keypoint attributes of keypoints the layout lacks", 1)
                continue
            names = point_names.setdefault(kp, [])
            names += [str(k) for k in attrs if str(k) not in names]
    return attr_names, point_names


def _label_lines(name: str, kind: str, attrs: list[list[str]], more: list[str]) -> list[str]:
    """One ``<label>`` of the meta: name, type, attribute declarations, then ``more`` lines."""
    lines = ["        <label>", f"          <name>{escape(name)}</name>", f"          <type>{kind}</type>",
             "          <attributes>"]
    for decl in attrs:
        lines += decl
    return lines + ["          </attributes>", *more, "        </label>"]


def _meta_lines(ds: KeypointDataset, name: str, cls: np.ndarray, kps: np.ndarray, notes: Notes) -> list[str]:
    """The ``<meta>``: per category a skeleton label, a points label per keypoint, a box label."""
    attr_names, point_attr_names = _attribute_names(ds, notes)
    lines = ["  <meta>", "    <task>", f"      <name>{escape(name)}</name>", f"      <size>{len(ds.images)}</size>",
             "      <mode>annotation</mode>", "      <labels>"]
    for i, c in enumerate(ds.categories):
        mine = cls == i
        svg = f"          <svg>{escape(_svg(c, kps[mine], ds.bbox[mine]))}</svg>"
        lines += _label_lines(c.name, "skeleton", [_attr_decl(a, "text", "", "") for a in attr_names[c.id]], [svg])
        for k in c.keypoints:
            decls = [_attr_decl(a, "text", "", "") for a in point_attr_names.get(k, [])]
            lines += _label_lines(k, "points", decls, [f"          <parent>{escape(c.name)}</parent>"])
        lines += _label_lines(c.name + BOX_SUFFIX, "rectangle", [_attr_decl(CROWD_ATTR, "checkbox", "false", "false")],
                              [])
    return lines + ["      </labels>", "    </task>", "  </meta>"]


def _writable_keypoints(ds: KeypointDataset, notes: Notes) -> np.ndarray:
    """The keypoints as CVAT holds them: v rounded to 0, 1 or 2; unlabeled ones at 0,0."""
    kps = ds.keypoints.copy()
    v = kps[..., 2]
    odd = ~np.isin(v, (0, 1, 2))
    if odd.any():
        v[odd] = np.clip(np.rint(v[odd]), 0, 2)
        notes.changed("keypoints with visibility other than 0, 1 or 2 rounded to 0, 1 or 2", int(odd.sum()))
    moved = (v == 0) & ((kps[..., 0] != 0) | (kps[..., 1] != 0))
    notes.lost("coordinates of unlabeled (v=0) keypoints (written outside at 0,0)", int(moved.sum()))
    kps[v == 0, :2] = 0
    return kps


def _attribute_lines(attrs: Any, indent: str) -> list[str]:
    return [f"{indent}<attribute name={quoteattr(str(k))}>{escape(str(v))}</attribute>"
            for k, v in (attrs.items() if isinstance(attrs, dict) else ())]


def _box_lines(label: str, box: np.ndarray, crowd: bool, group: int) -> list[str]:
    x, y, w, h = box.tolist()
    return [f'    <box label={quoteattr(label)} source="manual" occluded="0" xtl="{_num(x)}" ytl="{_num(y)}" '
            f'xbr="{_num(x + w)}" ybr="{_num(y + h)}" z_order="0" group_id="{group}">',
            f'      <attribute name="{CROWD_ATTR}">{"true" if crowd else "false"}</attribute>', "    </box>"]


def _skeleton_lines(cat: Category, kps: np.ndarray, extra: dict[str, Any], group: int) -> list[str]:
    """A person's ``<skeleton>``: a ``<points>`` per keypoint, then the skeleton's attributes."""
    source = extra["source"] if isinstance(extra.get("source"), str) else "manual"
    z = extra.get("z_order")
    z = z if isinstance(z, int) and not isinstance(z, bool) else 0
    point_attrs = extra.get("keypoint_attributes")
    point_attrs = point_attrs if isinstance(point_attrs, dict) else {}
    lines = [f'    <skeleton label={quoteattr(cat.name)} source={quoteattr(source)} z_order="{z}" group_id="{group}">']
    for j, name in enumerate(cat.keypoints):
        x, y, vis = kps[j].tolist()
        lines.append(f'      <points label={quoteattr(name)} source={quoteattr(source)} outside="{int(vis == 0)}" '
                     f'occluded="{int(vis == 1)}" points="{_num(x)},{_num(y)}">')
        lines += _attribute_lines(point_attrs.get(name), "        ")
        lines.append("      </points>")
    return lines + _attribute_lines(extra.get("attributes"), "      ") + ["    </skeleton>"]


def _image_lines(ds: KeypointDataset, cls: np.ndarray, kps: np.ndarray, notes: Notes) -> list[str]:
    """Every ``<image>`` with its persons: a box (when the person has one) grouped with a
    skeleton; a crowd region is its box alone."""
    crowd = ds.iscrowd.astype(bool)
    no_box = np.isnan(ds.bbox).any(axis=1)
    by_image = ds.indices_by_image()
    lines: list[str] = []
    group = 0
    for frame, im in enumerate(ds.images):
        size = "" if im.width is None or im.height is None else f' width="{im.width}" height="{im.height}"'
        lines.append(f"  <image id=\"{frame}\" name={quoteattr(im.file_name)}{size}>")
        for r in by_image[im.id].tolist():
            group += 1
            c = ds.categories[cls[r]]
            if not no_box[r]:
                lines += _box_lines(c.name + BOX_SUFFIX, ds.bbox[r], bool(crowd[r]), group)
            if crowd[r]:
                notes.lost("keypoints of crowd regions", int((kps[r, :, 2] > 0).sum()))
            else:
                lines += _skeleton_lines(c, kps[r], ds.extra[r], group)
        lines.append("  </image>")
    return lines


def write(ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
    """The dataset as one CVAT for images 1.1 XML document (``images_dir`` is not needed: the
    document names the images)."""
    notes = ctx.notes
    note_unheld(ds, notes, ann_fields=("attributes", "keypoint_attributes", "source", "z_order"))
    crowd = ds.iscrowd.astype(bool)
    no_box = np.isnan(ds.bbox).any(axis=1)
    notes.lost("crowd regions' segmentation (a CVAT crowd region is its box)",
               int(sum(1 for r in np.flatnonzero(crowd).tolist() if ds.extra[r].get("segmentation"))))
    unwritten = int((crowd & no_box).sum())
    notes.lost("crowd regions without a box (a CVAT crowd region is its box)", unwritten, unit="persons")
    notes.changed("persons without a box (no <box> written; read back from the keypoints' extent)",
                  int((no_box & ~crowd).sum()))
    kps = _writable_keypoints(ds, notes)
    cls, _ = class_index(ds)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
             *_meta_lines(ds, dst.stem, cls, kps, notes), *_image_lines(ds, cls, kps, notes), "</annotations>", ""]
    return Output(dst.parent, {dst.name: "\n".join(lines).encode("utf-8")}, persons=len(ds) - unwritten,
                  summary=f"{len(ds.images)} images, {int((~crowd).sum())} skeletons, "
                          f"{int(crowd.sum()) - unwritten} crowd boxes")


# --------------------------------------------------------------------------- reading: the document

_SHAPES = ("box", "polygon", "polyline", "points", "skeleton", "ellipse", "cuboid", "mask", "tag")


class Shape(NamedTuple):
    """One shape of an image: its tag, label, element, group key (None: ungrouped) and the
    person's fields it brings (a track's ``track_id`` and ``source``)."""

    tag: str
    label: str
    el: ET.Element
    group: str | None
    fields: dict[str, Any]


class Entry(NamedTuple):
    """One image (or video frame) of the document: file name, size, image fields, shapes."""

    name: str
    width: int | None
    height: int | None
    extra: dict[str, Any]
    shapes: list[Shape]


def _parse(src: Path) -> ET.Element:
    """The document's ``<annotations>`` root; PosekitError for anything else."""
    try:
        root = ET.parse(src).getroot()
    except ET.ParseError as exc:
        raise PosekitError(src, f"not well-formed XML: {exc}") from None
    except OSError as exc:
        raise PosekitError(src, f"cannot read: {exc.strerror}") from None
    if root.tag != "annotations":
        raise PosekitError(src, f"root element <{root.tag}>; CVAT for images has <annotations>")
    if root.find("track") is not None and root.find("image") is not None:
        raise PosekitError(src, "has both <image>s and <track>s; CVAT writes one or the other")
    return root


def _labels(meta: ET.Element | None) -> tuple[dict[str, list[str]], dict[str, list[tuple[int, int]]]]:
    """Skeleton labels -> their point names (in the meta's order) and limbs (from the svg). The
    labels may sit in ``<task>``, ``<job>`` or ``<project>``; one declared twice counts once."""
    if meta is None:
        return {}, {}
    skeletons: dict[str, list[str]] = {}
    svgs: dict[str, str] = {}
    children: dict[tuple[str, str], None] = {}
    for lab in meta.iter("label"):
        name = (lab.findtext("name") or "").strip()
        parent = lab.findtext("parent")
        if (lab.findtext("type") or "").strip() == "skeleton":
            skeletons.setdefault(name, [])
            svgs.setdefault(name, lab.findtext("svg") or "")
        elif parent:
            children[(parent.strip(), name)] = None
    for parent, name in children:
        if parent in skeletons:
            skeletons[parent].append(name)
    return skeletons, {name: _svg_limbs(svg, skeletons[name]) for name, svg in svgs.items()}


def _svg_limbs(svg: str, names: list[str]) -> list[tuple[int, int]]:
    """The edges of a skeleton label's svg, as 0-based pairs of its points."""
    nodes = {}
    for m in re.finditer(r"<circle\b[^>]*>", svg):
        nid, lname = _svg_attr(m.group(0), "data-node-id"), _svg_attr(m.group(0), "data-label-name")
        if nid is not None and lname is not None:
            nodes[nid] = lname
    index = {n: i for i, n in enumerate(names)}
    out = []
    for m in re.finditer(r"<line\b[^>]*>", svg):
        a, b = _svg_attr(m.group(0), "data-node-from"), _svg_attr(m.group(0), "data-node-to")
        if nodes.get(a) in index and nodes.get(b) in index:
            out.append((index[nodes[a]], index[nodes[b]]))
    return out


def _svg_attr(tag: str, name: str) -> str | None:
    m = re.search(rf"""\b{name}=(?:"([^"]*)"|'([^']*)')""", tag)
    return None if m is None else html.unescape(m.group(1) if m.group(1) is not None else m.group(2))


def _float(el: ET.Element, key: str, where: str, path: Path) -> float:
    try:
        x = float(el.attrib[key])
    except (KeyError, ValueError):
        raise PosekitError(path, f"{where}: <{el.tag}> has no number {key}") from None
    if not np.isfinite(x):
        raise PosekitError(path, f"{where}: <{el.tag}> {key} is not finite")
    return x


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text and text.strip() else None
    except ValueError:
        return None


def _group(el: ET.Element, prefix: str = "") -> str | None:
    g = el.get("group_id")
    return None if g in (None, "", "0") else prefix + g


def _image_entries(root: ET.Element, src: Path) -> list[Entry]:
    """CVAT for images: each ``<image>`` with its shapes. A project export's images sit in
    ``images/<subset>/``: the subset leads the file name."""
    out = []
    for img in root.findall("image"):
        where = f"image {img.get('id')} ({img.get('name')!r})"
        name = img.get("name")
        if not name:
            raise PosekitError(src, f"{where} has no name")
        try:
            w = int(img.get("width")) if img.get("width") else None
            h = int(img.get("height")) if img.get("height") else None
        except ValueError:
            raise PosekitError(src, f"{where}: width/height are not whole numbers") from None
        extra: dict[str, Any] = {}
        if img.get("subset"):
            extra["subset"] = img.get("subset")
            name = f"{img.get('subset')}/{name}"
        if _int(img.get("task_id")) is not None:
            extra["task_id"] = _int(img.get("task_id"))
        shapes = [Shape(el.tag, el.get("label", ""), el, _group(el), {}) for el in img if el.tag in _SHAPES]
        out.append(Entry(name, w, h, extra, shapes))
    return out


# --------------------------------------------------------------------------- reading: CVAT for video

def _frame_range(task: ET.Element | None, seen: set[int]) -> list[int]:
    """The frames of a video task (``start_frame``..``stop_frame`` by the ``step=`` of its frame
    filter; else ``size`` frames), with any frame a track names beyond them."""
    frames: set[int] = set(seen)
    if task is not None:
        start = _int(task.findtext("start_frame")) or 0
        stop = _int(task.findtext("stop_frame"))
        m = re.search(r"step\s*=\s*(\d+)", task.findtext("frame_filter") or "")
        step = max(int(m.group(1)), 1) if m else 1
        size = _int(task.findtext("size"))
        if stop is None and size:
            stop = start + (size - 1) * step
        if stop is not None:
            frames.update(range(start, stop + 1, step))
    return sorted(frames)


def _video_task(root: ET.Element, src: Path) -> ET.Element | None:
    """The meta's task (or job) the tracks belong to; PosekitError for an export of several tasks."""
    task_ids = {t.get("task_id") for t in root.findall("track") if t.get("task_id")}
    if len(task_ids) > 1:
        raise PosekitError(src, f"a CVAT for video export of {len(task_ids)} tasks (frame numbers repeat "
                                f"between tasks); export each task on its own, or as CVAT for images 1.1")
    tasks = root.findall("meta/task") + root.findall("meta/job") + root.findall("meta/project/tasks/task")
    return next((t for t in tasks if not task_ids or (t.findtext("id") or "").strip() in task_ids),
                tasks[0] if tasks else None)


def _frame(el: ET.Element, track: ET.Element, src: Path) -> int:
    frame = _int(el.get("frame"))
    if frame is None:
        raise PosekitError(src, f"track {track.get('id')} ({track.get('label')!r}): <{el.tag}> has no "
                                f"whole-number frame")
    return frame


def _labeled(points: list[ET.Element]) -> int:
    """How many of a skeleton's points are labeled (not outside)."""
    return sum(p.get("outside") != "1" for p in points)


def _skeleton_frames(track: ET.Element, src: Path, ctx: Context) -> Iterator[tuple[int, ET.Element]]:
    """A skeleton track's shape on each frame, as one ``<skeleton>`` holding its points: CVAT
    writes them inside each ``<skeleton frame>`` in some versions and as point tracks nested in
    the skeleton track (``<track label=POINT><points frame>``) in others; both read the same.
    Frames where the skeleton is outside, or all its points are, are not persons (its labeled
    points on a frame where the skeleton is outside are counted); a frame with no points at all
    is a person that cannot be read, counted."""
    attrib: dict[int, dict[str, str]] = {}
    points: dict[int, list[ET.Element]] = {}
    for el in track:
        if el.tag == "skeleton":
            frame = _frame(el, track, src)
            attrib[frame] = dict(el.attrib)
            points.setdefault(frame, []).extend(el.findall("points"))
        elif el.tag == "track":
            for p in el.findall("points"):
                point = ET.Element("points", {**p.attrib, "label": el.get("label", "")})
                point.extend(list(p))
                points.setdefault(_frame(p, el, src), []).append(point)
    for frame in sorted(attrib.keys() | points.keys()):
        pts = points.get(frame, [])
        if attrib.get(frame, {}).get("outside") == "1":
            n = _labeled(pts)
            ctx.account.seen("keypoints", n)
            ctx.notes.lost("labeled points of skeleton track frames where the skeleton is outside", n,
                           unit="keypoints")
        elif not pts:
            ctx.account.seen("persons")
            ctx.notes.lost("skeleton track frames with no points (neither <points> in the <skeleton> nor point "
                           "tracks)", 1, unit="persons")
        elif _labeled(pts):
            skeleton = ET.Element("skeleton", attrib.get(frame, {"frame": str(frame)}))
            skeleton.extend(pts)
            yield frame, skeleton


def _track_shapes(track: ET.Element, src: Path, ctx: Context) -> Iterator[tuple[int, ET.Element]]:
    """A track's shape on each frame where it is not outside."""
    if any(el.tag in ("skeleton", "track") for el in track):
        yield from _skeleton_frames(track, src, ctx)
    for el in track:
        if el.tag in _SHAPES and el.tag != "skeleton":
            frame = _frame(el, track, src)
            if el.get("outside") != "1":
                yield frame, el


def _track_entries(root: ET.Element, src: Path, ctx: Context) -> list[Entry]:
    """CVAT for video: every frame of the task as an image ``frame_NNNNNN`` (CVAT's own name for a
    video frame), holding each track's shape on that frame where the track is not outside. The
    track's id is kept as ``track_id``, a source other than manual as ``source``."""
    task = _video_task(root, src)
    by_frame: dict[int, list[Shape]] = {}
    for tr in root.findall("track"):
        fields: dict[str, Any] = {} if _int(tr.get("id")) is None else {"track_id": _int(tr.get("id"))}
        if tr.get("source") not in (None, "", "manual"):
            fields["source"] = tr.get("source")
        for frame, el in _track_shapes(tr, src, ctx):
            shape = Shape(el.tag, tr.get("label", ""), el, _group(tr, "track-group-"), fields)
            by_frame.setdefault(frame, []).append(shape)
    frames = _frame_range(task, set(by_frame))
    size = task.find("original_size") if task is not None else None
    w = _int(size.findtext("width")) if size is not None else None
    h = _int(size.findtext("height")) if size is not None else None
    if task is not None and (task.findtext("mode") or "").strip() == "annotation":
        ctx.notes.changed("image names made from frame numbers (an image task exported as CVAT for video has "
                          "no image names; export it as CVAT for images 1.1 to keep them)", len(frames))
    return [Entry(f"frame_{f:06d}", w, h, {}, by_frame.get(f, [])) for f in frames]


def _with_suffix(entries: list[Entry], images_dir: Path) -> list[Entry]:
    """CVAT names a video's frames without a suffix (``frame_000012``) and exports them as
    ``frame_000012.PNG``: names without an image suffix (``cam01.0030`` has none) get the one of
    the single image file of that stem in ``images_dir``."""
    bare = [image_stem(e.name) == e.name for e in entries]
    if not any(bare) or not images_dir.is_dir():
        return entries
    stems: dict[str, str | None] = {}
    for p in images_dir.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            rel = p.relative_to(images_dir).as_posix()
            stem = image_stem(rel)
            stems[stem] = None if stem in stems else rel
    return [e._replace(name=stems.get(e.name) or e.name) if b else e for e, b in zip(entries, bare)]


# --------------------------------------------------------------------------- reading: persons

@dataclass
class _Schema:
    """What the skeletons are read as: the categories (skeleton labels with the person's points),
    their point names, the box labels of their persons."""

    names: list[str]
    index: NameIndex
    cat_id: dict[str, int]
    box_cat: dict[str, int]
    categories: list[Category]
    lost_labels: dict[str, str]  # skeleton label not read -> why


def _primary(skeletons: dict[str, list[str]], counts: dict[str, int], ctx: Context) -> str:
    """The skeleton label read as the person: ``--person-label`` when it names one, else the one
    with the most skeletons (the first declared on a tie)."""
    if ctx.person_label in skeletons:
        return ctx.person_label
    return max(skeletons, key=lambda n: counts.get(n, 0))  # max keeps the first of equals


def _schema(root: ET.Element, entries: list[Entry], src: Path, ctx: Context) -> _Schema:
    """The categories read: the primary skeleton label and those with the same points."""
    counts: dict[str, int] = {}
    for e in entries:
        for s in e.shapes:
            if s.tag == "skeleton":
                counts[s.label] = counts.get(s.label, 0) + 1
    skeletons, limbs = _labels(root.find("meta"))
    if not skeletons:  # no meta: the points of the first skeleton, in their order
        first = next((s for e in entries for s in e.shapes if s.tag == "skeleton"), None)
        if first is None:
            raise PosekitError(src, "no skeleton label in <meta> and no <skeleton> in any image: nothing to read")
        skeletons = {first.label: list(dict.fromkeys(p.get("label", "") for p in first.el.findall("points")))}
    main = _primary(skeletons, counts, ctx)
    names = skeletons[main]
    if not names:
        raise PosekitError(src, f"skeleton label {main!r} declares no points")
    same = [n for n in skeletons if skeletons[n] == names]
    lost = {n: f"other points than {main!r}; convert them separately with --person-label {n}"
            for n in skeletons if n not in same}
    skeleton = limbs.get(main) or [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"}) for i, n in enumerate(same)]
    box_cat = {c.name + BOX_SUFFIX: c.id for c in cats}
    if len(cats) == 1:
        box_cat.setdefault(ctx.person_label, cats[0].id)
    return _Schema(names, NameIndex(names), {c.name: c.id for c in cats}, box_cat, cats, lost)


_INTERPOLATED = ('keyframe flags of track shapes (persons on interpolated frames, keyframe="0", read as annotated '
                 'persons)')


def _interpolated(el: ET.Element) -> bool:
    """Whether a track's shape on a frame is interpolated by CVAT (``keyframe="0"``: the shape,
    or one of its points that is not outside), not drawn by the annotator."""
    return el.get("keyframe") == "0" or any(p.get("keyframe") == "0" and p.get("outside") != "1"
                                            for p in el.findall("points"))


def _person_box(el: ET.Element, where: str, src: Path, notes: Notes) -> tuple[list[float], bool]:
    """A person's ``<box>``: ``[x, y, w, h]`` and whether it is a crowd region."""
    x0, y0 = _float(el, "xtl", where, src), _float(el, "ytl", where, src)
    x1, y1 = _float(el, "xbr", where, src), _float(el, "ybr", where, src)
    if float(el.get("rotation", 0) or 0):
        notes.lost("box rotations", 1)
    notes.lost("occluded flags of person boxes", int(el.get("occluded") == "1"))
    attrs = el.findall("attribute")
    notes.lost("attributes of person boxes (other than is_crowd)", sum(a.get("name") != CROWD_ATTR for a in attrs))
    is_crowd = any(a.get("name") == CROWD_ATTR and (a.text or "").strip().lower() == "true" for a in attrs)
    return [x0, y0, x1 - x0, y1 - y0], is_crowd


def _point_index(p: ET.Element, skeleton: ET.Element, index: NameIndex, where: str, src: Path) -> int:
    """The keypoint a ``<points>`` of a skeleton is (exact label, else its one spelling)."""
    label = p.get("label", "")
    j = index.get(label)
    if j is not None:
        return j
    both = index.ambiguous(label)
    if both:
        raise PosekitError(src, f"{where}: skeleton point {label!r} could be {both[0]!r} or {both[1]!r} of "
                                f"{skeleton.get('label')!r}; label it with one of these names exactly")
    raise PosekitError(src, f"{where}: skeleton point {label!r} is not a point of {skeleton.get('label')!r}")


def _point_xy(p: ET.Element, where: str, src: Path, notes: Notes) -> tuple[float, float]:
    """A ``<points>``'s first x,y (a keypoint is one point; any more are counted)."""
    pairs = (p.get("points") or "").split(";")
    xy = pairs[0].split(",")
    try:
        x, y = float(xy[0]), float(xy[1])
    except (ValueError, IndexError):
        raise PosekitError(src, f"{where}: point {p.get('label')!r} has points={p.get('points')!r}") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise PosekitError(src, f"{where}: point {p.get('label')!r} has points={p.get('points')!r}")
    notes.lost("coordinates beyond the first of skeleton points (a keypoint is one point)", len(pairs) - 1)
    return x, y


def _attributes(el: ET.Element) -> dict[str, str]:
    return {a.get("name"): a.text or "" for a in el.findall("attribute") if a.get("name")}


def _skeleton(el: ET.Element, sch: _Schema, where: str, src: Path, notes: Notes) -> tuple[np.ndarray, dict[str, Any]]:
    """A ``<skeleton>``'s keypoints (K, 3) and the person's fields: the skeleton's ``attributes``,
    its points' ``keypoint_attributes``, ``source`` (other than manual) and ``z_order`` (other than 0)."""
    kps = np.zeros((len(sch.names), 3))
    point_attrs: dict[str, dict[str, str]] = {}
    for p in el.findall("points"):
        j = _point_index(p, el, sch.index, where, src)
        x, y = _point_xy(p, where, src, notes)
        attrs = _attributes(p)
        if attrs:
            point_attrs[sch.names[j]] = attrs
        if p.get("outside") == "1":
            notes.lost("coordinates of outside (hidden) CVAT points (read as v=0 at 0,0)", int(x != 0 or y != 0))
            continue
        notes.lost("labeled points given twice in one skeleton (the last one kept)", int(kps[j, 2] > 0),
                   unit="keypoints")
        kps[j] = (x, y, 1 if p.get("occluded") == "1" else 2)
    attrs = _attributes(el)
    more: dict[str, Any] = {"attributes": attrs} if attrs else {}
    if point_attrs:
        more["keypoint_attributes"] = point_attrs
    if el.get("source") not in (None, "", "manual"):
        more["source"] = el.get("source")
    if _int(el.get("z_order")):
        more["z_order"] = _int(el.get("z_order"))
    return kps, more


def _sort_shapes(entry: Entry, sch: _Schema, ctx: Context) -> tuple[list[Shape], list[Shape]]:
    """An image's skeletons read as persons and its person boxes; every skeleton and its labeled
    points are counted as seen, those of other labels as lost, other shapes as lost."""
    persons, boxes = [], []
    for s in entry.shapes:
        if s.tag == "skeleton":
            n = _labeled(s.el.findall("points"))
            ctx.account.seen("persons")
            ctx.account.seen("keypoints", n)
            if s.label in sch.cat_id:
                persons.append(s)
                continue
            why = sch.lost_labels.get(s.label, "not a skeleton label of <meta>")
            ctx.notes.lost(f"skeletons of label {s.label!r} ({why})", 1, unit="persons")
            ctx.notes.lost(f"labeled points of skeletons of label {s.label!r}", n, unit="keypoints")
        elif s.tag == "box" and s.label in sch.box_cat:
            boxes.append(s)
        else:
            ctx.notes.lost(f"CVAT <{s.tag}> shapes (not person skeletons or their boxes)", 1)
    return persons, boxes


def _read_entry(b: DatasetBuilder, entry: Entry, sch: _Schema, src: Path, ctx: Context) -> None:
    """One image and its persons: each skeleton with the first unused box of its group; the
    boxes left are persons too (crowd regions, or persons with no keypoints)."""
    where, notes = f"image {entry.name!r}", ctx.notes
    iid = b.add_image(entry.name, entry.width, entry.height, **entry.extra)
    persons, boxes = _sort_shapes(entry, sch, ctx)
    read_boxes = [_person_box(s.el, where, src, notes) for s in boxes]
    used: set[int] = set()
    for s in persons:
        kps, more = _skeleton(s.el, sch, where, src, notes)
        k = next((i for i, bx in enumerate(boxes) if s.group and bx.group == s.group and i not in used), None)
        if k is not None:
            used.add(k)
        interpolated = _interpolated(s.el) or (k is not None and _interpolated(boxes[k].el))
        notes.lost(_INTERPOLATED, int(interpolated))
        b.add_person(iid, kps, None if k is None else read_boxes[k][0], category_id=sch.cat_id[s.label],
                    **{**s.fields, **more})
    for k, s in enumerate(boxes):
        if k not in used:
            ctx.account.seen("persons")
            notes.lost(_INTERPOLATED, int(_interpolated(s.el)))
            box, is_crowd = read_boxes[k]
            b.add_person(iid, np.zeros((len(sch.names), 3)), box, iscrowd=is_crowd,
                        category_id=sch.box_cat[s.label])


def read(src: Path, ctx: Context) -> Source:
    """Read a CVAT for images 1.1 XML file (skeletons; boxes grouped with them), or a CVAT for
    video 1.1 file (skeleton tracks: a person per frame where the track is not outside)."""
    root = _parse(src)
    video = root.find("track") is not None
    entries = _track_entries(root, src, ctx) if video else _image_entries(root, src)
    local_images = src.parent / "images"
    images_dir = ctx.images or (local_images if local_images.is_dir() else src.parent)
    entries = _with_suffix(entries, ctx.images or local_images)
    ctx.account.seen("images", len(entries))
    sch = _schema(root, entries, src, ctx)
    b = DatasetBuilder(sch.categories[0])
    b.categories = sch.categories
    for i, entry in enumerate(entries, 1):
        _read_entry(b, entry, sch, src, ctx)
        if i % 1024 == 0:
            ctx.advance(1024)
    ctx.advance(len(entries) % 1024)
    return Source(b.build(ctx.box_margin), images_dir)


def detect(probe: Probe) -> int:
    """An XML file whose root is <annotations> (90)."""
    return 90 if not probe.is_dir and probe.head.startswith(b"<") and b"<annotations" in probe.head else 0
