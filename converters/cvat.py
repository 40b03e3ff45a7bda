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
outside, with the box track of its group and its ``track_id``. Shapes CVAT interpolated between
keyframes (``keyframe="0"``) are read as persons like the others; CVAT for images, which the
writer writes, has no keyframe flag, so the flag is not kept in the person's fields but counted
in the notes line ("keyframe flags of track shapes": the persons whose skeleton, a point of it
or its box was interpolated). The skeleton label read is ``--person-label`` when it names one,
else the one with the most skeletons.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.notes import Notes
from annotate.skeletons import NameIndex, layout_for_names

from .formats import IMAGE_SUFFIXES, Options, Output, Source, class_index, note_unheld

BOX_SUFFIX = "_box"
CROWD_ATTR = "is_crowd"


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
    return ["          <attribute>", f"            <name>{escape(name)}</name>", "            <mutable>False</mutable>",
            f"            <input_type>{input_type}</input_type>", f"            <default_value>{default}</default_value>",
            f"            <values>{values}</values>", "          </attribute>"]


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


def write_cvat(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    """The dataset as one CVAT for images 1.1 XML document."""
    note_unheld(ds, notes, ann_fields=("attributes", "keypoint_attributes", "source", "z_order"))
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions' segmentation (a CVAT crowd region is its box)",
               int(sum(1 for r in np.flatnonzero(crowd).tolist() if ds.extra[r].get("segmentation"))))
    cls, _ = class_index(ds)
    kps = ds.keypoints.copy()
    v = kps[..., 2]
    odd = ~np.isin(v, (0, 1, 2))
    if odd.any():
        v[odd] = np.clip(np.rint(v[odd]), 0, 2)
        notes.changed("keypoints with visibility other than 0, 1 or 2 rounded to 0, 1 or 2", int(odd.sum()))
    moved = (v == 0) & ((kps[..., 0] != 0) | (kps[..., 1] != 0))
    notes.lost("coordinates of unlabeled (v=0) keypoints (written outside at 0,0)", int(moved.sum()))
    kps[v == 0, :2] = 0
    no_box = np.isnan(ds.bbox).any(axis=1)
    notes.changed("persons without a box (no <box> written; read back from the keypoints' extent)",
                  int(no_box.sum()))

    attr_names, point_attr_names = _attribute_names(ds, notes)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>", "  <meta>",
             "    <task>", f"      <name>{escape(dst.stem)}</name>", f"      <size>{len(ds.images)}</size>",
             "      <mode>annotation</mode>", "      <labels>"]
    for i, c in enumerate(ds.categories):
        mine = cls == i
        lines += ["        <label>", f"          <name>{escape(c.name)}</name>", "          <type>skeleton</type>",
                  "          <attributes>"]
        for a in attr_names[c.id]:
            lines += ["  " + x for x in _attr_decl(a, "text", "", "")]
        lines += ["          </attributes>", f"          <svg>{escape(_svg(c, kps[mine], ds.bbox[mine]))}</svg>",
                  "        </label>"]
        for k in c.keypoints:
            lines += ["        <label>", f"          <name>{escape(k)}</name>", "          <type>points</type>",
                      "          <attributes>"]
            for a in point_attr_names.get(k, []):
                lines += ["  " + x for x in _attr_decl(a, "text", "", "")]
            lines += ["          </attributes>", f"          <parent>{escape(c.name)}</parent>", "        </label>"]
        lines += ["        <label>", f"          <name>{escape(c.name + BOX_SUFFIX)}</name>",
                  "          <type>rectangle</type>", "          <attributes>"]
        lines += ["  " + x for x in _attr_decl(CROWD_ATTR, "checkbox", "false", "false")]
        lines += ["          </attributes>", "        </label>"]
    lines += ["      </labels>", "    </task>", "  </meta>"]

    by_image = ds.indices_by_image()
    group = 0
    for frame, im in enumerate(ds.images):
        size = "" if im.width is None or im.height is None else f' width="{im.width}" height="{im.height}"'
        lines.append(f"  <image id=\"{frame}\" name={quoteattr(im.file_name)}{size}>")
        for r in by_image[im.id].tolist():
            group += 1
            c = ds.categories[cls[r]]
            box = ds.bbox[r]
            if not no_box[r]:
                x, y, w, h = box.tolist()
                lines.append(f'    <box label={quoteattr(c.name + BOX_SUFFIX)} source="manual" occluded="0" '
                             f'xtl="{_num(x)}" ytl="{_num(y)}" xbr="{_num(x + w)}" ybr="{_num(y + h)}" '
                             f'z_order="0" group_id="{group}">')
                lines.append(f'      <attribute name="{CROWD_ATTR}">{"true" if crowd[r] else "false"}</attribute>')
                lines.append("    </box>")
            if crowd[r]:
                notes.lost("keypoints of crowd regions", int((kps[r, :, 2] > 0).sum()))
                continue
            e = ds.extra[r]
            source = e["source"] if isinstance(e.get("source"), str) else "manual"
            z = e["z_order"] if isinstance(e.get("z_order"), int) and not isinstance(e["z_order"], bool) else 0
            lines.append(f'    <skeleton label={quoteattr(c.name)} source={quoteattr(source)} z_order="{z}" '
                         f'group_id="{group}">')
            point_attrs = e.get("keypoint_attributes") if isinstance(e.get("keypoint_attributes"), dict) else {}
            for j, name in enumerate(c.keypoints):
                x, y, vis = kps[r, j].tolist()
                lines.append(f'      <points label={quoteattr(name)} source={quoteattr(source)} '
                             f'outside="{int(vis == 0)}" occluded="{int(vis == 1)}" points="{_num(x)},{_num(y)}">')
                attrs = point_attrs.get(name)
                for k, val in (attrs.items() if isinstance(attrs, dict) else ()):
                    lines.append(f"        <attribute name={quoteattr(str(k))}>{escape(str(val))}</attribute>")
                lines.append("      </points>")
            attrs = ds.extra[r].get("attributes")
            if isinstance(attrs, dict):
                for k, val in attrs.items():
                    lines.append(f"      <attribute name={quoteattr(str(k))}>{escape(str(val))}</attribute>")
            lines.append("    </skeleton>")
        lines.append("  </image>")
    lines += ["</annotations>", ""]
    return Output(dst.parent, {dst.name: "\n".join(lines).encode("utf-8")},
                  summary=f"{len(ds.images)} images, {int((~crowd).sum())} skeletons, {int(crowd.sum())} crowd boxes")


# --------------------------------------------------------------------------- reading

_SHAPES = ("box", "polygon", "polyline", "points", "skeleton", "ellipse", "cuboid", "mask", "tag")

#: One shape of an image: tag, label, element, group key (None: ungrouped), the person's extra fields.
Shape = tuple[str, str, ET.Element, "str | None", dict[str, Any]]


def _labels(meta: ET.Element | None) -> tuple[dict[str, list[str]], dict[str, list[tuple[int, int]]]]:
    """Skeleton labels -> their point names (in the meta's order) and limbs (from the svg). The
    labels may sit in ``<task>``, ``<job>`` or ``<project>``; one declared twice counts once."""
    skeletons: dict[str, list[str]] = {}
    svgs: dict[str, str] = {}
    children: dict[tuple[str, str], None] = {}
    if meta is None:
        return {}, {}
    for lab in meta.iter("label"):
        name = (lab.findtext("name") or "").strip()
        kind = (lab.findtext("type") or "").strip()
        parent = lab.findtext("parent")
        if kind == "skeleton":
            skeletons.setdefault(name, [])
            svgs.setdefault(name, lab.findtext("svg") or "")
        elif parent:
            children[(parent.strip(), name)] = None
    for parent, name in children:
        if parent in skeletons:
            skeletons[parent].append(name)
    limbs: dict[str, list[tuple[int, int]]] = {}
    for name, svg in svgs.items():
        nodes = {}
        for m in re.finditer(r"<circle\b[^>]*>", svg):
            nid, lname = _svg_attr(m.group(0), "data-node-id"), _svg_attr(m.group(0), "data-label-name")
            if nid is not None and lname is not None:
                nodes[nid] = lname
        index = {n: i for i, n in enumerate(skeletons[name])}
        out = []
        for m in re.finditer(r"<line\b[^>]*>", svg):
            a, b = _svg_attr(m.group(0), "data-node-from"), _svg_attr(m.group(0), "data-node-to")
            if nodes.get(a) in index and nodes.get(b) in index:
                out.append((index[nodes[a]], index[nodes[b]]))
        limbs[name] = out
    return skeletons, limbs


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


def _image_entries(root: ET.Element, src: Path) -> list[tuple[str, int | None, int | None, dict, list[Shape]]]:
    """CVAT for images: each ``<image>`` as (file name, width, height, image fields, shapes). A
    project export's images sit in ``images/<subset>/``: the subset leads the file name."""
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
        shapes = [(el.tag, el.get("label", ""), el, el.get("group_id") if el.get("group_id") not in (None, "", "0")
                   else None, {}) for el in img if el.tag in _SHAPES]
        out.append((name, w, h, extra, shapes))
    return out


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


def _track_entries(root: ET.Element, src: Path,
                   notes: Notes) -> list[tuple[str, int | None, int | None, dict, list[Shape]]]:
    """CVAT for video: every frame of the task as an image ``frame_NNNNNN`` (CVAT's own name for a
    video frame), holding each track's shape on that frame where the track is not outside. A
    skeleton track is outside where all its points are. The track's id is kept as ``track_id``,
    a source other than manual as ``source``."""
    task_ids = {t.get("task_id") for t in root.findall("track") if t.get("task_id")}
    if len(task_ids) > 1:
        raise PosekitError(src, f"a CVAT for video export of {len(task_ids)} tasks (frame numbers repeat "
                                f"between tasks); export each task on its own, or as CVAT for images 1.1")
    tasks = [t for t in root.findall("meta/task") + root.findall("meta/job") + root.findall("meta/project/tasks/task")]
    task = next((t for t in tasks if not task_ids or (t.findtext("id") or "").strip() in task_ids),
                tasks[0] if tasks else None)
    by_frame: dict[int, list[Shape]] = {}
    for tr in root.findall("track"):
        label, group = tr.get("label", ""), tr.get("group_id")
        key = f"track-group-{group}" if group not in (None, "", "0") else None
        fields: dict[str, Any] = {} if _int(tr.get("id")) is None else {"track_id": _int(tr.get("id"))}
        if tr.get("source") not in (None, "", "manual"):
            fields["source"] = tr.get("source")
        for el in tr:
            if el.tag not in _SHAPES:
                continue
            frame = _int(el.get("frame"))
            if frame is None:
                raise PosekitError(src, f"track {tr.get('id')}: <{el.tag}> has no whole-number frame")
            if el.get("outside") == "1":
                continue
            if el.tag == "skeleton":
                pts = el.findall("points")
                if not pts or all(p.get("outside") == "1" for p in pts):
                    continue
            by_frame.setdefault(frame, []).append((el.tag, label, el, key, fields))
    frames = _frame_range(task, set(by_frame))
    size = task.find("original_size") if task is not None else None
    w = _int(size.findtext("width")) if size is not None else None
    h = _int(size.findtext("height")) if size is not None else None
    if task is not None and (task.findtext("mode") or "").strip() == "annotation":
        notes.changed("image names made from frame numbers (an image task exported as CVAT for video has no "
                      "image names; export it as CVAT for images 1.1 to keep them)", len(frames))
    return [(f"frame_{f:06d}", w, h, {}, by_frame.get(f, [])) for f in frames]


def _with_suffix(entries: list, images_dir: Path) -> None:
    """CVAT names a video's frames without a suffix (``frame_000012``) and exports them as
    ``frame_000012.PNG``: such names get the suffix of the one image of that stem in ``images_dir``."""
    if not images_dir.is_dir() or all(Path(e[0]).suffix for e in entries):
        return
    stems: dict[str, str | None] = {}
    for p in images_dir.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            rel = p.relative_to(images_dir).as_posix()
            stem = rel[: -len(p.suffix)]
            stems[stem] = None if stem in stems else rel
    for i, e in enumerate(entries):
        if not Path(e[0]).suffix and stems.get(e[0]):
            entries[i] = (stems[e[0]], *e[1:])


def _primary(skeletons: dict[str, list[str]], counts: dict[str, int], opts: Options) -> str:
    """The skeleton label read as the person: ``--person-label`` when it names one, else the one
    with the most skeletons (the first declared on a tie)."""
    if opts.person_label in skeletons:
        return opts.person_label
    return max(skeletons, key=lambda n: counts.get(n, 0))  # max keeps the first of equals


def read_cvat(src: Path, opts: Options) -> Source:
    """Read a CVAT for images 1.1 XML file (skeletons; boxes grouped with them), or a CVAT for
    video 1.1 file (skeleton tracks: a person per frame where the track is not outside)."""
    try:
        root = ET.parse(src).getroot()
    except ET.ParseError as exc:
        raise PosekitError(src, f"not well-formed XML: {exc}") from None
    except OSError as exc:
        raise PosekitError(src, f"cannot read: {exc.strerror}") from None
    if root.tag != "annotations":
        raise PosekitError(src, f"root element <{root.tag}>; CVAT for images has <annotations>")
    notes = Notes()
    if root.find("track") is not None:
        if root.find("image") is not None:
            raise PosekitError(src, "has both <image>s and <track>s; CVAT writes one or the other")
        entries = _track_entries(root, src, notes)
    else:
        entries = _image_entries(root, src)
    images_dir = opts.images or (src.parent / "images" if (src.parent / "images").is_dir() else src.parent)
    _with_suffix(entries, opts.images or src.parent / "images")
    counts: dict[str, int] = {}
    for *_, shapes in entries:
        for tag, label, *_ in shapes:
            if tag == "skeleton":
                counts[label] = counts.get(label, 0) + 1
    skeletons, limbs = _labels(root.find("meta"))
    if not skeletons:  # no meta: the points of the first skeleton, in their order
        first = next((el for *_, shapes in entries for tag, _, el, *_ in shapes if tag == "skeleton"), None)
        if first is None:
            raise PosekitError(src, "no skeleton label in <meta> and no <skeleton> in any image: nothing to read")
        label = next(s[1] for *_, shapes in entries for s in shapes if s[2] is first)
        skeletons = {label: [p.get("label", "") for p in first.findall("points")]}
    main = _primary(skeletons, counts, opts)
    names = skeletons[main]
    if not names:
        raise PosekitError(src, f"skeleton label {main!r} declares no points")
    same = [n for n in skeletons if skeletons[n] == names]
    for other in skeletons:
        if other not in same:
            notes.lost(f"skeletons of label {other!r} (other points than {main!r}; convert them separately "
                       f"with --person-label {other})", counts.get(other, 0))
    for other in counts.keys() - skeletons.keys():
        notes.lost(f"skeletons of label {other!r} (not a skeleton label of <meta>)", counts[other])
    skeleton = limbs.get(main) or [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"}) for i, n in enumerate(same)]
    cat_id = {c.name: c.id for c in cats}
    box_cat = {c.name + BOX_SUFFIX: c.id for c in cats}
    if len(cats) == 1:
        box_cat.setdefault(opts.person_label, cats[0].id)
    b = DatasetBuilder(cats[0])
    b.categories = cats
    other_shapes: dict[str, int] = {}
    interpolated = 0
    index = NameIndex(names)
    for name, w, h, img_extra, shapes in entries:
        where = f"image {name!r}"
        iid = b.add_image(name, w, h, **img_extra)
        boxes: list[tuple[str | None, list[float], bool, str, ET.Element]] = []
        persons: list[Shape] = []
        for shape in shapes:
            tag, label, el = shape[:3]
            if tag == "skeleton" and label in cat_id:
                persons.append(shape)
            elif tag == "box" and label in box_cat:
                boxes.append((shape[3], *_person_box(el, where, src, notes), label, el))
            elif tag != "skeleton":
                other_shapes[tag] = other_shapes.get(tag, 0) + 1
        used: set[int] = set()
        for tag, label, el, group, extra in persons:
            kps, more = _skeleton(el, names, index, where, src, notes)
            box = None
            k = next((i for i, bx in enumerate(boxes) if group and bx[0] == group and i not in used), None)
            if k is not None:
                box = boxes[k][1]
                used.add(k)
            interpolated += int(_interpolated(el) or (k is not None and _interpolated(boxes[k][4])))
            b.add_person(iid, kps, box, category_id=cat_id[label], **{**extra, **more})
        for k, (_, box, is_crowd, label, el) in enumerate(boxes):
            if k not in used:  # a crowd region, or a person box without a skeleton (a person with no keypoints)
                interpolated += int(_interpolated(el))
                b.add_person(iid, np.zeros((len(names), 3)), box, iscrowd=is_crowd, category_id=box_cat[label])
    for tag, n in sorted(other_shapes.items()):
        notes.lost(f"CVAT <{tag}> shapes (not person skeletons or their boxes)", n)
    notes.lost("keyframe flags of track shapes (persons on interpolated frames, keyframe=\"0\", read as annotated "
               "persons)", interpolated)
    b.notes.merge(notes)
    return Source(b.build(opts.box_margin), images_dir)


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


def _skeleton(el: ET.Element, names: list[str], index: NameIndex, where: str, src: Path,
              notes: Notes) -> tuple[np.ndarray, dict[str, Any]]:
    """A ``<skeleton>``'s keypoints (K, 3) and the person's fields: the skeleton's ``attributes``,
    its points' ``keypoint_attributes``, ``source`` (other than manual) and ``z_order`` (other than 0)."""
    kps = np.zeros((len(names), 3))
    point_attrs: dict[str, dict[str, str]] = {}
    for p in el.findall("points"):
        j = index.get(p.get("label", ""))
        if j is None:
            raise PosekitError(src, f"{where}: skeleton point {p.get('label')!r} is not a point of {el.get('label')!r}")
        pts = (p.get("points") or "").split(";")[0].split(",")
        try:
            x, y = float(pts[0]), float(pts[1])
        except (ValueError, IndexError):
            raise PosekitError(src, f"{where}: point {p.get('label')!r} has points={p.get('points')!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise PosekitError(src, f"{where}: point {p.get('label')!r} has points={p.get('points')!r}")
        attrs = {a.get("name"): a.text or "" for a in p.findall("attribute") if a.get("name")}
        if attrs:
            point_attrs[names[j]] = attrs
        if p.get("outside") == "1":
            notes.lost("coordinates of outside (hidden) CVAT points (read as v=0 at 0,0)", int(x != 0 or y != 0))
            continue
        kps[j] = (x, y, 1 if p.get("occluded") == "1" else 2)
    more: dict[str, Any] = {}
    attrs = {a.get("name"): a.text or "" for a in el.findall("attribute") if a.get("name")}
    if attrs:
        more["attributes"] = attrs
    if point_attrs:
        more["keypoint_attributes"] = point_attrs
    if el.get("source") not in (None, "", "manual"):
        more["source"] = el.get("source")
    if _int(el.get("z_order")):
        more["z_order"] = _int(el.get("z_order"))
    return kps, more
