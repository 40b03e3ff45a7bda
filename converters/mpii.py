"""MPII Human Pose (the original ``.mat`` release and mmpose's MPII JSON) <-> KeypointDataset.

Both MPII forms are MATLAB 1-based; the dataset is 0-based (1 is subtracted on reading and
added on writing). Persons are read in the MPII-16 layout (lossless, the default) and mapped to
another layout (``--layout coco17``) by :mod:`annotate.skeletons` when asked.

Visibility: labeled and ``is_visible`` 1 -> v=2; labeled and ``is_visible`` 0 -> v=1; not
labeled -> v=0. A labeled joint whose ``is_visible`` is missing or empty -> v=2 (labeled,
visibility unknown; mmpose and the MPII evaluation use every labeled joint). mmpose's JSON has
only ``joints_vis`` (labeled or not), so its labeled joints are v=2 too.

Reading counts every image, person (annorect element, JSON entry) and labeled joint in
``ctx.account``; what is not carried is counted in ``ctx.notes``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, ImageInfo, KeypointDataset, clip_boxes, keypoint_extent
from annotate.errors import PosekitError
from annotate.images import image_size
from annotate.io import dumps_json, read_json, safe_relative
from annotate.notes import Notes
from annotate.skeletons import Mapping, get_mapping

from .formats import Context, Output, Probe, Source

PIXEL_STD = 200.0  # MPII's scale is the person's height / 200 px
BOX_ASPECT = 0.5  # width / height of the box made from objpos and scale alone
MIN_POINTS_FOR_EXTENT = 2
DEFAULT_LAYOUT = "mpii16"  # lossless


def person_boxes(kps: np.ndarray, center: np.ndarray, scale: np.ndarray, margin: float) -> np.ndarray:
    """``(N, 4)`` boxes: the keypoints' extent grown by ``margin``; where fewer than two points are
    labeled, a box of height ``scale * 200`` px and half that width around objpos; else NaN."""
    boxes = keypoint_extent(kps, margin)
    ok = ((kps[:, :, 2] > 0).sum(axis=1) >= MIN_POINTS_FOR_EXTENT) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    h = scale * PIXEL_STD
    w = h * BOX_ASPECT
    fallback = np.stack([center[:, 0] - w / 2, center[:, 1] - h / 2, w, h], axis=1)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(fallback).all(axis=1) & (scale > 0)
    return np.where(ok[:, None], boxes, np.where(usable[:, None], fallback, np.nan))


@dataclass
class MpiiPersons:
    """MPII people in columns (16 joints, 0-based), as every MPII reader produces them.

    ``center``/``scale`` are NaN where absent; ``extra`` holds each person's other fields for
    the COCO annotation (``person_index``, ``head_box``, ``center``, ``scale``)."""

    image: np.ndarray         # index into the reader's image list
    kps16: np.ndarray         # (P, 16, 3)
    center: np.ndarray        # (P, 2)
    scale: np.ndarray         # (P,)
    extra: list[dict[str, Any]]


def layout_mapping(layout: str, owner: Path) -> Mapping:
    """The mapping from MPII-16 to ``layout``; refused where it would derive keypoints the file
    does not hold (``--map-to`` does that, and says so)."""
    try:
        mapping = get_mapping("mpii16", layout)
    except KeyError as exc:
        raise PosekitError(owner, f"--layout: {exc.args[0]}") from None
    if mapping.midpoints:
        raise PosekitError(owner, f"--layout {mapping.dst.name} would derive keypoints MPII does not hold; read "
                                  f"MPII as mpii16 (the default) and add --map-to {mapping.dst.name}")
    return mapping


def _image_sizes(names: list[str], ctx: Context, owner: Path,
                 known: list[tuple[int, int] | tuple[None, None]] | None) -> list[tuple[int, int] | tuple[None, None]]:
    """Each image's size: from its header when ``ctx.images`` is given, else ``known`` (from the file)."""
    if ctx.images is None:
        return list(known or [(None, None)] * len(names))
    sizes: list[tuple[int, int] | tuple[None, None]] = []
    for name in names:
        try:
            sizes.append(image_size(safe_relative(ctx.images, name, "image", owner)))
        except PosekitError as exc:
            raise PosekitError(owner, f"image {name!r}: {exc}") from None
    return sizes


def build_dataset(names: list[str], image_extra: list[dict[str, Any]], persons: MpiiPersons, layout: str,
                  ctx: Context, owner: Path,
                  known_sizes: list[tuple[int, int] | tuple[None, None]] | None = None) -> KeypointDataset:
    """The dataset of MPII images and people: image sizes from headers when ``ctx.images`` is
    given (else ``known_sizes``, from the file), boxes from the 16 joints (or objpos/scale), then
    the mapping to ``layout``; joints the layout cannot hold are counted in ``ctx.notes``."""
    mapping = layout_mapping(layout, owner)
    sizes = _image_sizes(names, ctx, owner, known_sizes)
    images = [ImageInfo(i, name, w, h, extra) for i, name, (w, h), extra in
              zip(range(1, len(names) + 1), names, sizes, image_extra)]
    n = persons.image.shape[0]
    boxes = person_boxes(persons.kps16, persons.center, persons.scale, ctx.box_margin)
    wh = np.array([(w or np.inf, h or np.inf) for w, h in sizes], dtype=np.float64).reshape(len(names), 2)
    boxes = clip_boxes(boxes, wh[persons.image] if n else np.zeros((0, 2)))
    ds = KeypointDataset(Category.from_layout(mapping.dst), images, np.arange(1, n + 1, dtype=np.int64),
                         persons.image.astype(np.int64) + 1, mapping.apply(persons.kps16), boxes,
                         boxes[:, 2] * boxes[:, 3], np.zeros(n, bool), np.full(n, np.nan), persons.extra)
    ds.info = {"description": "converted from MPII Human Pose by posekit",
               "source_layout": "mpii16", "layout": mapping.dst.name}
    if mapping.dropped:
        ds.info["dropped_keypoints"] = mapping.dropped
        gone = [mapping.src.index(n) for n in mapping.dropped]
        ctx.notes.lost(f"labeled MPII joints with no place in {mapping.dst.name} ({', '.join(mapping.dropped)}; "
                       f"--layout mpii16 keeps them)", int((persons.kps16[:, gone, 2] > 0).sum()), unit="keypoints")
    return ds


class _Collector:
    """Collects MPII JSON entries one person at a time, counting each in the account."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.names: list[str] = []
        self.image_ids: dict[str, int] = {}
        self.rows: list[tuple[int, np.ndarray, tuple[float, float], float, dict[str, Any]]] = []

    def image(self, name: str) -> int:
        if name not in self.image_ids:
            self.image_ids[name] = len(self.names)
            self.names.append(name)
            self.ctx.account.seen("images", 1)
        return self.image_ids[name]

    def person(self, image: int, kps16: np.ndarray, center: tuple[float, float] | None,
               scale: float | None, **extra: Any) -> None:
        self.ctx.account.seen("persons", 1)
        self.ctx.account.seen("keypoints", int((kps16[:, 2] > 0).sum()))
        if center is not None:
            extra["center"] = [float(center[0]), float(center[1])]
        if scale is not None:
            extra["scale"] = float(scale)
        self.rows.append((image, kps16, center or (np.nan, np.nan), np.nan if scale is None else scale, extra))

    def persons(self) -> MpiiPersons:
        n = len(self.rows)
        return MpiiPersons(np.array([r[0] for r in self.rows], dtype=np.int64),
                           np.stack([r[1] for r in self.rows]) if n else np.zeros((0, 16, 3)),
                           np.array([r[2] for r in self.rows], dtype=np.float64).reshape(n, 2),
                           np.array([r[3] for r in self.rows], dtype=np.float64), [r[4] for r in self.rows])


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ----------------------------------------------------------------------------- mmpose JSON

def mpii_json_to_dataset(obj: Any, path: Path, layout: str = DEFAULT_LAYOUT,
                         ctx: Context | None = None) -> KeypointDataset:
    """Build a dataset from parsed MPII JSON (mmpose's, or the Hourglass/OpenPose preprocessing
    dialect with ``joint_self``); problems raise PosekitError naming ``path`` (a bad entry goes
    to ``ctx.bad``: skipped and counted with ``--skip-bad``)."""
    ctx = ctx or Context()
    if isinstance(obj, dict) and isinstance(obj.get("root"), list):
        obj = obj["root"]  # OpenPose's genJSON writes {"root": [...]}
    if not isinstance(obj, list):
        raise PosekitError(path, "expected MPII JSON: a list of person entries (mmpose's, or with joint_self)")
    if obj and isinstance(obj[0], dict) and "joint_self" in obj[0]:
        return _joint_self_to_dataset(obj, path, layout, ctx)
    col = _Collector(ctx)
    for i, e in enumerate(obj):
        try:
            name, kps, center, scale, extra = _mmpose_entry(e, f"entry {i}", path)
        except PosekitError as exc:
            ctx.bad(exc, unit="entries")
            continue
        col.person(col.image(name), kps, center, scale, **extra)
    return build_dataset(col.names, [{} for _ in col.names], col.persons(), layout, ctx, path)


def _mmpose_entry(e: Any, where: str, path: Path) -> tuple[str, np.ndarray, tuple[float, float] | None,
                                                            float | None, dict[str, Any]]:
    """One mmpose entry ``{image, joints, joints_vis, center, scale}``: its image name, 0-based
    ``(16, 3)`` joints, center, scale and other fields; PosekitError when it is not one."""
    if not isinstance(e, dict):
        raise PosekitError(path, f"{where} is not an object")
    name, joints, vis = e.get("image"), e.get("joints"), e.get("joints_vis")
    if not isinstance(name, str) or not name:
        raise PosekitError(path, f"{where} has no 'image' file name")
    where = f"{where} ({name})"
    if not isinstance(joints, list) or not isinstance(vis, list):
        raise PosekitError(path, f"{where}: joints and joints_vis must be lists")
    try:
        j = np.asarray(joints, dtype=np.float64)
        v = np.asarray(vis, dtype=np.float64)
    except (TypeError, ValueError):
        raise PosekitError(path, f"{where}: joints/joints_vis are not numbers") from None
    if j.shape != (16, 2) or v.shape != (16,):
        raise PosekitError(path, f"{where}: expected 16 joints [x, y] and 16 joints_vis, "
                                 f"found shapes {j.shape} and {v.shape}")
    if not np.isfinite(j).all() or not np.isin(v, (0, 1)).all():
        raise PosekitError(path, f"{where}: joints must be finite and joints_vis 0 or 1")
    kps = np.zeros((16, 3))
    lab = v > 0
    kps[lab, :2] = j[lab] - 1
    kps[lab, 2] = 2
    center, scale = e.get("center"), e.get("scale")
    if center is not None and not (isinstance(center, list) and len(center) == 2 and all(map(_is_num, center))):
        raise PosekitError(path, f"{where}: center must be [x, y], finite numbers")
    if scale is not None and not _is_num(scale):
        raise PosekitError(path, f"{where}: scale must be a number")
    extra = {k: val for k, val in e.items() if k not in ("image", "joints", "joints_vis", "center", "scale")}
    return (name, kps, None if center is None else (center[0] - 1.0, center[1] - 1.0),
            None if scale is None else float(scale), extra)


# Fields of the joint_self dialect that repeat the other people of an image; each of those people
# is an entry of its own, so they are not carried (and the notes say so).
_OTHERS = ("joint_others", "objpos_other", "scale_provided_other")
_IMAGE_FIELDS = ("dataset", "isValidation", "annolist_index")


def _joint_self_to_dataset(entries: list, path: Path, layout: str, ctx: Context) -> KeypointDataset:
    """The MPII JSON of the Hourglass (pose-hg-train) and OpenPose preprocessing scripts: one entry
    per person with ``img_paths``, ``joint_self`` (16 x [x, y, is_visible], MATLAB 1-based,
    [0, 0, 0] where not labeled), ``objpos``, ``scale_provided``, ``img_width``/``img_height``
    and ``isValidation``. A labeled joint (x or y non-zero) is v=2 when visible, v=1 when not."""
    col = _Collector(ctx)
    sizes: dict[int, tuple[int, int] | tuple[None, None]] = {}
    image_extra: dict[int, dict[str, Any]] = {}
    others = 0
    for i, e in enumerate(entries):
        try:
            name, kps = _joint_self_entry(e, f"entry {i}", path)
        except PosekitError as exc:
            ctx.bad(exc, unit="entries")
            continue
        image = col.image(name)
        if image not in sizes:
            w, h = e.get("img_width"), e.get("img_height")
            ok = all(_is_num(x) and float(x).is_integer() and x > 0 for x in (w, h))
            sizes[image] = (int(w), int(h)) if ok else (None, None)
            image_extra[image] = {k: e[k] for k in _IMAGE_FIELDS if k in e}
        others += sum(1 for k in _OTHERS if k in e)
        c, scale = e.get("objpos"), e.get("scale_provided")
        center = (float(c[0]) - 1.0, float(c[1]) - 1.0) \
            if isinstance(c, list) and len(c) == 2 and all(map(_is_num, c)) else None
        extra = {k: v for k, v in e.items() if k not in ("img_paths", "joint_self", "objpos", "scale_provided",
                                                         "img_width", "img_height", *_IMAGE_FIELDS, *_OTHERS)}
        col.person(image, kps, center, float(scale) if _is_num(scale) else None, **extra)
    ds = build_dataset(col.names, [image_extra[i] for i in range(len(col.names))], col.persons(), layout,
                       ctx, path, [sizes[i] for i in range(len(col.names))])
    ctx.notes.lost("fields repeating other people of the image (joint_others, objpos_other, "
                   "scale_provided_other; each of those people is an entry of its own)", others)
    return ds


def _joint_self_entry(e: Any, where: str, path: Path) -> tuple[str, np.ndarray]:
    """One ``joint_self`` entry's image name and 0-based ``(16, 3)`` joints; PosekitError when it
    is not one."""
    if not isinstance(e, dict):
        raise PosekitError(path, f"{where} is not an object")
    name = e.get("img_paths")
    if not isinstance(name, str) or not name:
        raise PosekitError(path, f"{where} has no 'img_paths' file name")
    try:
        j = np.asarray(e.get("joint_self"), dtype=np.float64)
    except (TypeError, ValueError):
        raise PosekitError(path, f"{where} ({name}): joint_self is not numbers") from None
    if j.shape != (16, 3) or not np.isfinite(j).all():
        raise PosekitError(path, f"{where} ({name}): joint_self must be 16 finite [x, y, is_visible], "
                                 f"found shape {j.shape}")
    kps = np.zeros((16, 3))
    lab = (j[:, 0] != 0) | (j[:, 1] != 0)
    kps[lab, :2] = j[lab, :2] - 1
    kps[lab, 2] = np.where(j[lab, 2] > 0, 2, 1)
    return name, kps


# ----------------------------------------------------------------------------- .mat release

def read_mpii_mat(path: str | Path, layout: str = DEFAULT_LAYOUT, ctx: Context | None = None,
                  split: str = "all", fast: bool = True) -> KeypointDataset:
    """Read the original MPII ``.mat`` release: every image of ``split`` (all, train, test by
    ``img_train``) counted in ``ctx.account`` with its persons and points (``fast=False``
    forces the scipy reader)."""
    from converters.mpii_release import read_release

    ctx = ctx or Context()
    path = Path(path)
    rel = read_release(path, fast)
    if split != "all" and rel.train is None:
        raise PosekitError(path, f"--split {split} needs RELEASE.img_train, which this file lacks")
    keep = np.ones(len(rel.names), bool) if split == "all" else rel.train == (split == "train")
    for i in np.flatnonzero(keep).tolist():
        if not rel.names[i]:
            raise PosekitError(path, f"annolist({i + 1}) has no image.name")
    _count_release(rel.walked, keep, ctx)
    new_index = np.cumsum(keep) - 1
    mine = keep[rel.person_image]
    center, scale = rel.center[mine], rel.scale[mine]
    extra = _release_extra(rel.person_index[mine], rel.head_box[mine], center, scale)
    persons = MpiiPersons(new_index[rel.person_image[mine]], rel.kps16[mine], center, scale, extra)
    names = [n for n, k in zip(rel.names, keep.tolist()) if k]
    image_extra = [e for e, k in zip(rel.image_extra, keep.tolist()) if k]
    return build_dataset(names, image_extra, persons, layout, ctx, path)


def _count_release(walked: Any, keep: np.ndarray, ctx: Context) -> None:
    """The account of the images ``keep`` of a release: what they hold and what is not read."""
    ctx.account.seen("images", int(keep.sum()))
    ctx.account.seen("persons", int(walked.persons[keep].sum()))
    ctx.account.seen("keypoints", int(walked.points[keep].sum()))
    ctx.notes.lost("MPII annorect entries with neither a placeable point nor an objpos (no person)",
                   int(walked.empty_persons[keep].sum()), unit="persons")
    ctx.notes.lost("MPII points with an id outside 0..15 or a coordinate that is not a number",
                   int(walked.bad_points[keep].sum()), unit="keypoints")
    ctx.notes.lost("MPII points repeating a joint id of their person (the last one is read)",
                   int(walked.replaced_points[keep].sum()), unit="keypoints")


def _release_extra(index: np.ndarray, head: np.ndarray, center: np.ndarray, scale: np.ndarray) -> list[dict[str, Any]]:
    """Each person's fields kept for the annotation: position in annorect, head box, center, scale."""
    has_head = ~np.isnan(head).any(axis=1)
    extra: list[dict[str, Any]] = []
    for r, hb, ok, c, s in zip(index.tolist(), head.tolist(), has_head.tolist(), center.tolist(), scale.tolist()):
        e: dict[str, Any] = {"person_index": r}
        if ok:
            e["head_box"] = hb
        if not math.isnan(c[0]):
            e["center"] = c
        if not math.isnan(s):
            e["scale"] = s
        extra.append(e)
    return extra


# ----------------------------------------------------------------------------- writing

def write_mpii_json(ds: KeypointDataset, notes: Notes | None = None) -> list[dict[str, Any]]:
    """The dataset as mmpose MPII JSON entries (1-based; the 16 MPII joints), one per annotation;
    what they cannot hold is counted in ``notes`` (default ``ds.notes``)."""
    notes = ds.notes if notes is None else notes
    name = ds.category.layout.name
    if name not in ("coco17", "mpii16"):
        raise PosekitError(None, f"cannot write MPII from a '{name}' category (known: coco17, mpii16): "
                                 f"add --map-to mpii16")
    mapping = get_mapping(name, "mpii16")
    kps16 = mapping.apply(ds.keypoints)
    if mapping.dropped:
        gone = [mapping.src.index(n) for n in mapping.dropped]
        notes.lost(f"labeled keypoints with no MPII joint ({', '.join(mapping.dropped)})",
                   int((ds.keypoints[:, gone, 2] > 0).sum()))
    notes.lost("annotations with no labeled MPII joint written as entries without joints (crowd regions "
               "included)", int(((kps16[:, :, 2] > 0).sum(axis=1) == 0).sum()))
    notes.lost("crowd annotations written as persons (MPII has no crowd regions)", int(ds.iscrowd.sum()))
    names = {im.id: im.file_name for im in ds.images}
    out = [_mpii_entry(ds, r, kps16[r], names[int(ds.image_id[r])]) for r in range(len(ds))]
    lost_fields = {k for e in ds.extra for k in e
                   if k not in ("center", "scale", "head_box", "num_keypoints", "person_index") and not k.startswith("_")}
    for k in sorted(lost_fields):
        notes.lost(f"annotations' '{k}' field (mmpose's MPII JSON has no place for it)",
                   sum(1 for e in ds.extra if k in e))
    return out


def _mpii_entry(ds: KeypointDataset, r: int, kps16: np.ndarray, image: str) -> dict[str, Any]:
    """Row ``r`` as an mmpose entry: center and scale as read, else from the box."""
    lab = kps16[:, 2] > 0
    extra = ds.extra[r]
    center, scale = extra.get("center"), extra.get("scale")
    if center is None or scale is None:
        x, y, w, h = ds.bbox[r]
        center = [x + w / 2, y + h / 2] if center is None else center
        scale = h / PIXEL_STD if scale is None else scale
    entry = {"joints_vis": lab.astype(int).tolist(), "joints": np.where(lab[:, None], kps16[:, :2] + 1, -1.0).tolist(),
             "image": image, "scale": float(scale), "center": [float(center[0]) + 1, float(center[1]) + 1]}
    if "person_index" in extra:
        entry["person_index"] = extra["person_index"]
    return entry


# --------------------------------------------------------------------------- the format's three functions

def detect(probe: Probe) -> int:
    """The .mat release (90) or a JSON list of joints (mmpose's, or ``joint_self``) (80)."""
    if probe.is_dir:
        return 0
    if probe.suffix == ".mat":
        return 90
    head = probe.head
    if head.startswith(b"[") and (b'"joints' in head or b'"joint_self"' in head):
        return 80
    return 0


def read(src: Path, ctx: Context) -> Source:
    """Read MPII from the ``.mat`` release or an MPII ``.json`` file (chosen by the suffix), in
    ``ctx.layout`` (default mpii16, lossless)."""
    layout = ctx.layout or DEFAULT_LAYOUT
    if src.suffix.lower() == ".mat":
        return Source(read_mpii_mat(src, layout, ctx), ctx.images)
    return Source(mpii_json_to_dataset(read_json(src), src, layout, ctx), ctx.images)


def write(ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
    """mmpose's MPII JSON: one entry per person (every person written)."""
    entries = write_mpii_json(ds, ctx.notes)
    return Output(dst.parent, {dst.name: dumps_json(entries)}, summary=f"{len(entries)} persons")
