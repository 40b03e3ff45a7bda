"""MPII Human Pose (the original ``.mat`` release and mmpose's MPII JSON) <-> KeypointDataset.

Both MPII forms are MATLAB 1-based; the dataset is 0-based (1 is subtracted on reading and
added on writing). Persons are read in the MPII-16 layout and mapped to another layout by
:mod:`annotate.skeletons` when asked.

Visibility: labeled and ``is_visible`` 1 -> v=2; labeled and ``is_visible`` 0 -> v=1; not
labeled -> v=0. A labeled joint whose ``is_visible`` is missing or empty -> v=2 (labeled,
visibility unknown; mmpose and the MPII evaluation use every labeled joint). mmpose's JSON has
only ``joints_vis`` (labeled or not), so its labeled joints are v=2 too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, ImageInfo, KeypointDataset, clip_boxes, keypoint_extent
from annotate.errors import PosekitError
from annotate.images import check_image_header
from annotate.io import read_json, safe_relative
from annotate.skeletons import get_mapping

PIXEL_STD = 200.0  # MPII's scale is the person's height / 200 px
BOX_ASPECT = 0.5  # width / height of the box made from objpos and scale alone
MIN_POINTS_FOR_EXTENT = 2


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


def build_dataset(names: list[str], image_extra: list[dict[str, Any]], persons: MpiiPersons, layout: str,
                  images_dir: Path | None, margin: float, owner: Path,
                  known_sizes: list[tuple[int, int] | tuple[None, None]] | None = None) -> KeypointDataset:
    """The dataset of MPII images and people: image sizes from headers when ``images_dir`` is
    given (else ``known_sizes``, from the file), boxes from the 16 joints (or objpos/scale), then
    the mapping to ``layout``; joints the layout cannot hold are counted in the notes."""
    mapping = get_mapping("mpii16", layout)
    sizes: list[tuple[int, int] | tuple[None, None]] = list(known_sizes or [(None, None)] * len(names))
    if images_dir is not None:
        for i, name in enumerate(names):
            try:
                sizes[i] = check_image_header(safe_relative(images_dir, name, "image", owner))
            except PosekitError as exc:
                raise PosekitError(owner, f"image {name!r}: {exc}") from None
    images = [ImageInfo(i, name, w, h, extra) for i, name, (w, h), extra in
              zip(range(1, len(names) + 1), names, sizes, image_extra)]
    n = persons.image.shape[0]
    boxes = person_boxes(persons.kps16, persons.center, persons.scale, margin)
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
        ds.notes.lost(f"labeled MPII joints with no place in {mapping.dst.name} ({', '.join(mapping.dropped)}; "
                      f"--layout mpii16 keeps them)", int((persons.kps16[:, gone, 2] > 0).sum()))
    return ds


class _Collector:
    """Collects mmpose MPII JSON entries one person at a time."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.image_ids: dict[str, int] = {}
        self.rows: list[tuple[int, np.ndarray, tuple[float, float], float, dict[str, Any]]] = []

    def image(self, name: str) -> int:
        if name not in self.image_ids:
            self.image_ids[name] = len(self.names)
            self.names.append(name)
        return self.image_ids[name]

    def person(self, image: int, kps16: np.ndarray, center: tuple[float, float] | None,
               scale: float | None, **extra: Any) -> None:
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


# ----------------------------------------------------------------------------- mmpose JSON

def read_mpii_json(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                   margin: float = 0.1) -> KeypointDataset:
    """Read mmpose's MPII JSON (a list of ``{image, joints, joints_vis, center, scale}``)."""
    path = Path(path)
    return mpii_json_to_dataset(read_json(path), path, layout, images_dir, margin)


def mpii_json_to_dataset(obj: Any, path: Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                         margin: float = 0.1) -> KeypointDataset:
    """Build a dataset from parsed MPII JSON (mmpose's, or the Hourglass/OpenPose preprocessing
    dialect with ``joint_self``); problems raise PosekitError naming ``path``."""
    if isinstance(obj, dict) and isinstance(obj.get("root"), list):
        obj = obj["root"]  # OpenPose's genJSON writes {"root": [...]}
    if not isinstance(obj, list):
        raise PosekitError(path, "expected MPII JSON: a list of person entries (mmpose's, or with joint_self)")
    if obj and isinstance(obj[0], dict) and "joint_self" in obj[0]:
        return _joint_self_to_dataset(obj, path, layout, images_dir, margin)
    col = _Collector()
    for i, e in enumerate(obj):
        where = f"entry {i}"
        if not isinstance(e, dict):
            raise PosekitError(path, f"{where} is not an object")
        name, joints, vis = e.get("image"), e.get("joints"), e.get("joints_vis")
        if not isinstance(name, str) or not name:
            raise PosekitError(path, f"{where} has no 'image' file name")
        if not isinstance(joints, list) or not isinstance(vis, list):
            raise PosekitError(path, f"{where} ({name}): joints and joints_vis must be lists")
        try:
            j = np.asarray(joints, dtype=np.float64)
            v = np.asarray(vis, dtype=np.float64)
        except (TypeError, ValueError):
            raise PosekitError(path, f"{where} ({name}): joints/joints_vis are not numbers") from None
        if j.shape != (16, 2) or v.shape != (16,):
            raise PosekitError(path, f"{where} ({name}): expected 16 joints [x, y] and 16 joints_vis, "
                                     f"found shapes {j.shape} and {v.shape}")
        if not np.isfinite(j).all() or not np.isin(v, (0, 1)).all():
            raise PosekitError(path, f"{where} ({name}): joints must be finite and joints_vis 0 or 1")
        kps = np.zeros((16, 3))
        lab = v > 0
        kps[lab, :2] = j[lab] - 1
        kps[lab, 2] = 2
        center, scale = e.get("center"), e.get("scale")
        c = None
        if center is not None:
            if not (isinstance(center, list) and len(center) == 2 and all(isinstance(x, (int, float)) for x in center)):
                raise PosekitError(path, f"{where} ({name}): center must be [x, y]")
            c = (center[0] - 1.0, center[1] - 1.0)
        if c is not None and not np.isfinite(c).all():
            raise PosekitError(path, f"{where} ({name}): center must be finite")
        if scale is not None and (not isinstance(scale, (int, float)) or isinstance(scale, bool) or not np.isfinite(scale)):
            raise PosekitError(path, f"{where} ({name}): scale must be a number")
        extra = {k: val for k, val in e.items() if k not in ("image", "joints", "joints_vis", "center", "scale")}
        col.person(col.image(name), kps, c, None if scale is None else float(scale), **extra)
    return build_dataset(col.names, [{} for _ in col.names], col.persons(), layout,
                         Path(images_dir) if images_dir else None, margin, path)


# Fields of the joint_self dialect that repeat the other people of an image; each of those people
# is an entry of its own, so they are not carried (and the notes say so).
_OTHERS = ("joint_others", "objpos_other", "scale_provided_other")


def _joint_self_to_dataset(entries: list, path: Path, layout: str, images_dir: str | Path | None,
                           margin: float) -> KeypointDataset:
    """The MPII JSON of the Hourglass (pose-hg-train) and OpenPose preprocessing scripts: one entry
    per person with ``img_paths``, ``joint_self`` (16 x [x, y, is_visible], MATLAB 1-based,
    [0, 0, 0] where not labeled), ``objpos``, ``scale_provided``, ``img_width``/``img_height``
    and ``isValidation``. A labeled joint (x or y non-zero) is v=2 when visible, v=1 when not."""
    col = _Collector()
    sizes: dict[int, tuple[int, int] | tuple[None, None]] = {}
    image_extra: dict[int, dict[str, Any]] = {}
    dropped = 0
    for i, e in enumerate(entries):
        where = f"entry {i}"
        if not isinstance(e, dict):
            raise PosekitError(path, f"{where} is not an object")
        name, joints = e.get("img_paths"), e.get("joint_self")
        if not isinstance(name, str) or not name:
            raise PosekitError(path, f"{where} has no 'img_paths' file name")
        try:
            j = np.asarray(joints, dtype=np.float64)
        except (TypeError, ValueError):
            raise PosekitError(path, f"{where} ({name}): joint_self is not numbers") from None
        if j.shape != (16, 3) or not np.isfinite(j).all():
            raise PosekitError(path, f"{where} ({name}): joint_self must be 16 finite [x, y, is_visible], "
                                     f"found shape {j.shape}")
        kps = np.zeros((16, 3))
        lab = (j[:, 0] != 0) | (j[:, 1] != 0)
        kps[lab, :2] = j[lab, :2] - 1
        kps[lab, 2] = np.where(j[lab, 2] > 0, 2, 1)
        c = e.get("objpos")
        center = None
        if isinstance(c, list) and len(c) == 2 and all(_is_num(x) for x in c):
            center = (float(c[0]) - 1.0, float(c[1]) - 1.0)
        scale = e.get("scale_provided")
        scale = float(scale) if _is_num(scale) else None
        image = col.image(name)
        w, h = e.get("img_width"), e.get("img_height")
        if image not in sizes:
            ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer() and x > 0
                     for x in (w, h))
            sizes[image] = (int(w), int(h)) if ok else (None, None)
            image_extra[image] = {k: e[k] for k in ("dataset", "isValidation", "annolist_index") if k in e}
        dropped += sum(1 for k in _OTHERS if k in e)
        extra = {k: v for k, v in e.items() if k not in ("img_paths", "joint_self", "objpos", "scale_provided",
                                                         "img_width", "img_height", "dataset", "isValidation",
                                                         "annolist_index", *_OTHERS)}
        col.person(image, kps, center, scale, **extra)
    ds = build_dataset(col.names, [image_extra[i] for i in range(len(col.names))], col.persons(), layout,
                       Path(images_dir) if images_dir else None, margin, path,
                       [sizes[i] for i in range(len(col.names))])
    ds.notes.lost("fields repeating other people of the image (joint_others, objpos_other, "
                  "scale_provided_other; each of those people is an entry of its own)", dropped)
    return ds


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def write_mpii_json(ds: KeypointDataset) -> list[dict[str, Any]]:
    """The dataset as mmpose MPII JSON entries (1-based; the 16 MPII joints)."""
    kps16 = get_mapping(ds.category.layout.name, "mpii16").apply(ds.keypoints) \
        if ds.category.layout.name in ("coco17", "mpii16") else None
    if kps16 is None:
        raise PosekitError(None, f"cannot write MPII from a '{ds.category.layout.name}' category "
                                 f"(known: coco17, mpii16): add --map-to mpii16")
    names = {im.id: im.file_name for im in ds.images}
    if ds.category.layout.name != "mpii16":
        mapping = get_mapping(ds.category.layout.name, "mpii16")
        gone = [mapping.src.index(n) for n in mapping.dropped]
        ds.notes.lost(f"labeled keypoints with no MPII joint ({', '.join(mapping.dropped)})",
                      int((ds.keypoints[:, gone, 2] > 0).sum()))
    ds.notes.lost("annotations with no labeled MPII joint written as entries without joints (crowd regions "
                  "included)", int(((kps16[:, :, 2] > 0).sum(axis=1) == 0).sum()))
    ds.notes.lost("crowd annotations written as persons (MPII has no crowd regions)", int(ds.iscrowd.sum()))
    out = []
    lost_fields: set[str] = set()
    for r in range(len(ds)):
        lab = kps16[r, :, 2] > 0
        joints = np.where(lab[:, None], kps16[r, :, :2] + 1, -1.0)
        extra = dict(ds.extra[r])
        center = extra.pop("center", None)
        scale = extra.pop("scale", None)
        if center is None or scale is None:
            x, y, w, h = ds.bbox[r]
            center = [x + w / 2, y + h / 2] if center is None else center
            scale = h / PIXEL_STD if scale is None else scale
        entry = {"joints_vis": lab.astype(int).tolist(), "joints": joints.tolist(),
                 "image": names[int(ds.image_id[r])], "scale": float(scale),
                 "center": [float(center[0]) + 1, float(center[1]) + 1]}
        for k in ("head_box", "num_keypoints"):
            extra.pop(k, None)
        entry.update({k: v for k, v in extra.items() if k in ("person_index",)})
        lost_fields.update(k for k in extra if k != "person_index" and not k.startswith("_"))
        out.append(entry)
    for k in sorted(lost_fields):
        ds.notes.lost(f"annotations' '{k}' field (mmpose's MPII JSON has no place for it)",
                      sum(1 for e in ds.extra if k in e))
    return out


# ----------------------------------------------------------------------------- .mat release

def read_mpii_mat(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                  split: str = "all", margin: float = 0.1, fast: bool = True) -> KeypointDataset:
    """Read the original MPII ``.mat`` release (``fast=False`` forces the scipy reader)."""
    from converters.mpii_release import read_release

    path = Path(path)
    rel = read_release(path, fast)
    if split != "all" and rel.train is None:
        raise PosekitError(path, f"--split {split} needs RELEASE.img_train, which this file lacks")
    keep = np.ones(len(rel.names), bool) if split == "all" else rel.train == (split == "train")
    for i in np.flatnonzero(keep).tolist():
        if not rel.names[i]:
            raise PosekitError(path, f"annolist({i + 1}) has no image.name")
    new_index = np.cumsum(keep) - 1
    mine = keep[rel.person_image]
    head = rel.head_box[mine]
    has_head = ~np.isnan(head).any(axis=1)
    center, scale = rel.center[mine], rel.scale[mine]
    extra: list[dict[str, Any]] = []
    for r, hb, ok, c, s in zip(rel.person_index[mine].tolist(), head.tolist(), has_head.tolist(),
                               center.tolist(), scale.tolist()):
        e: dict[str, Any] = {"person_index": r}
        if ok:
            e["head_box"] = hb
        if not math.isnan(c[0]):
            e["center"] = c
        if not math.isnan(s):
            e["scale"] = s
        extra.append(e)
    persons = MpiiPersons(new_index[rel.person_image[mine]], rel.kps16[mine], center, scale, extra)
    names = [n for n, k in zip(rel.names, keep.tolist()) if k]
    image_extra = [e for e, k in zip(rel.image_extra, keep.tolist()) if k]
    return build_dataset(names, image_extra, persons, layout, Path(images_dir) if images_dir else None, margin, path)


def read_mpii(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
              split: str = "all", margin: float = 0.1) -> KeypointDataset:
    """Read MPII from a ``.mat`` release or an mmpose ``.json`` file (chosen by the suffix)."""
    path = Path(path)
    if path.suffix.lower() == ".mat":
        return read_mpii_mat(path, layout, images_dir, split, margin)
    if split != "all":
        raise PosekitError(path, "--split applies to the .mat release only (mmpose's JSON files are already split)")
    return read_mpii_json(path, layout, images_dir, margin)
