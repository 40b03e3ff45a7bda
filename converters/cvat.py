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
``<attribute>``s are kept in the annotation's ``attributes`` and written back. Coordinates are
written with all their digits (CVAT writes two decimals; it reads any).
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

from .formats import Options, Output, Source, class_index, note_unheld

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


def write_cvat(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    """The dataset as one CVAT for images 1.1 XML document."""
    note_unheld(ds, notes, ann_fields=("attributes",))
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

    attr_names: dict[int, list[str]] = {c.id: [] for c in ds.categories}
    for r in range(len(ds)):
        attrs = ds.extra[r].get("attributes")
        if isinstance(attrs, dict):
            names = attr_names[int(ds.category_id[r])]
            names += [k for k in attrs if k not in names]
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
                      "          <attributes>", "          </attributes>", f"          <parent>{escape(c.name)}</parent>",
                      "        </label>"]
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
            lines.append(f'    <skeleton label={quoteattr(c.name)} source="manual" z_order="0" group_id="{group}">')
            for j, name in enumerate(c.keypoints):
                x, y, vis = kps[r, j].tolist()
                lines.append(f'      <points label={quoteattr(name)} source="manual" outside="{int(vis == 0)}" '
                             f'occluded="{int(vis == 1)}" points="{_num(x)},{_num(y)}">')
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


def _labels(meta: ET.Element | None) -> tuple[dict[str, list[str]], dict[str, list[tuple[int, int]]]]:
    """Skeleton labels -> their point names (in the meta's order) and limbs (from the svg)."""
    skeletons: dict[str, list[str]] = {}
    svgs: dict[str, str] = {}
    children: list[tuple[str, str]] = []
    if meta is None:
        return {}, {}
    for lab in meta.iter("label"):
        name = (lab.findtext("name") or "").strip()
        kind = (lab.findtext("type") or "").strip()
        parent = lab.findtext("parent")
        if kind == "skeleton":
            skeletons[name] = []
            svgs[name] = lab.findtext("svg") or ""
        elif parent:
            children.append((parent.strip(), name))
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


def read_cvat(src: Path, opts: Options) -> Source:
    """Read a CVAT for images 1.1 XML file (skeletons; boxes grouped with them)."""
    try:
        root = ET.parse(src).getroot()
    except ET.ParseError as exc:
        raise PosekitError(src, f"not well-formed XML: {exc}") from None
    except OSError as exc:
        raise PosekitError(src, f"cannot read: {exc.strerror}") from None
    if root.tag != "annotations":
        raise PosekitError(src, f"root element <{root.tag}>; CVAT for images has <annotations>")
    if root.find("track") is not None:
        raise PosekitError(src, "has <track>s (CVAT for video 1.1); export the task as CVAT for images 1.1")
    skeletons, limbs = _labels(root.find("meta"))
    if not skeletons:  # no meta: the points of the first skeleton, in their order
        first = root.find(".//image/skeleton")
        if first is None:
            raise PosekitError(src, "no skeleton label in <meta> and no <skeleton> in any image: nothing to read")
        skeletons = {first.get("label", ""): [p.get("label", "") for p in first.findall("points")]}
        limbs = {}
    cat_names = list(skeletons)
    names = skeletons[cat_names[0]]
    if not names:
        raise PosekitError(src, f"skeleton label {cat_names[0]!r} declares no points")
    notes = Notes()
    same = [n for n in cat_names if skeletons[n] == names]
    for other in cat_names:
        if other not in same:
            notes.lost(f"skeletons of label {other!r} (other points than {cat_names[0]!r}; convert them separately)",
                       len(root.findall(f".//image/skeleton[@label={quoteattr(other)}]")))
    skeleton = limbs.get(cat_names[0]) or [tuple(x) for x in layout_for_names(names).limbs]
    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"}) for i, n in enumerate(same)]
    cat_id = {c.name: c.id for c in cats}
    box_cat = {c.name + BOX_SUFFIX: c.id for c in cats}
    if len(cats) == 1:
        box_cat.setdefault(opts.person_label, cats[0].id)
    index = NameIndex(names)
    K = len(names)
    b = DatasetBuilder(cats[0])
    b.categories = cats
    other_shapes: dict[str, int] = {}
    for img in root.iter("image"):
        where = f"image {img.get('id')} ({img.get('name')!r})"
        name = img.get("name")
        if not name:
            raise PosekitError(src, f"{where} has no name")
        try:
            w = int(img.get("width")) if img.get("width") else None
            h = int(img.get("height")) if img.get("height") else None
        except ValueError:
            raise PosekitError(src, f"{where}: width/height are not whole numbers") from None
        iid = b.add_image(name, w, h)
        boxes: dict[str, tuple[list[float], bool, str]] = {}
        persons: list[tuple[ET.Element, str | None]] = []
        for el in img:
            if el.tag == "skeleton":
                if el.get("label") not in cat_id:
                    continue  # counted above
                persons.append((el, el.get("group_id")))
            elif el.tag == "box" and el.get("label") in box_cat:
                x0, y0 = _float(el, "xtl", where, src), _float(el, "ytl", where, src)
                x1, y1 = _float(el, "xbr", where, src), _float(el, "ybr", where, src)
                if float(el.get("rotation", 0) or 0):
                    notes.lost("box rotations", 1)
                is_crowd = any(a.get("name") == CROWD_ATTR and (a.text or "").strip().lower() == "true"
                               for a in el.findall("attribute"))
                key = el.get("group_id") or f"box-{len(boxes)}"
                boxes[key] = ([x0, y0, x1 - x0, y1 - y0], is_crowd, el.get("label"))
            elif el.tag in _SHAPES:
                other_shapes[el.tag] = other_shapes.get(el.tag, 0) + 1
        used: set[str] = set()
        for el, gid in persons:
            kps = np.zeros((K, 3))
            for p in el.findall("points"):
                j = index.get(p.get("label", ""))
                if j is None:
                    raise PosekitError(src, f"{where}: skeleton point {p.get('label')!r} is not a point of "
                                            f"{el.get('label')!r}")
                pts = (p.get("points") or "").split(";")[0].split(",")
                try:
                    x, y = float(pts[0]), float(pts[1])
                except (ValueError, IndexError):
                    raise PosekitError(src, f"{where}: point {p.get('label')!r} has points={p.get('points')!r}") from None
                if p.get("outside") == "1":
                    continue
                kps[j] = (x, y, 1 if p.get("occluded") == "1" else 2)
            box = None
            if gid and gid in boxes:
                box = boxes[gid][0]
                used.add(gid)
            extra: dict[str, Any] = {}
            attrs = {a.get("name"): a.text or "" for a in el.findall("attribute") if a.get("name")}
            if attrs:
                extra["attributes"] = attrs
            b.add_person(iid, kps, box, category_id=cat_id[el.get("label")], **extra)
        for key, (box, is_crowd, label) in boxes.items():
            if key in used:
                continue
            # a crowd region, or a person box without a skeleton (a person with no keypoints)
            b.add_person(iid, np.zeros((K, 3)), box, iscrowd=is_crowd, category_id=box_cat[label])
    for tag, n in sorted(other_shapes.items()):
        notes.lost(f"CVAT <{tag}> shapes (not person skeletons or their boxes)", n)
    b.notes.merge(notes)
    ds = b.build(opts.box_margin)
    images_dir = opts.images or (src.parent / "images" if (src.parent / "images").is_dir() else src.parent)
    return Source(ds, images_dir)

