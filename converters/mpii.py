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
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset, clip_boxes, keypoint_extent
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


class _Collector:
    """Adds MPII persons (16 joints, 0-based) to a builder in the requested layout."""

    def __init__(self, layout: str, images_dir: Path | None, margin: float, owner: Path) -> None:
        self.mapping = get_mapping("mpii16", layout)
        self.builder = DatasetBuilder(Category.from_layout(self.mapping.dst))
        self.images_dir, self.margin, self.owner = images_dir, margin, owner
        self.image_ids: dict[str, int] = {}
        self.rows: list[tuple[int, np.ndarray, tuple[float, float], float, dict[str, Any]]] = []

    def image(self, name: str, **extra: Any) -> int:
        if name not in self.image_ids:
            w = h = None
            if self.images_dir is not None:
                try:
                    w, h = check_image_header(safe_relative(self.images_dir, name, "image", self.owner))
                except PosekitError as exc:
                    raise PosekitError(self.owner, f"image {name!r}: {exc}") from None
            self.image_ids[name] = self.builder.add_image(name, w, h, **extra)
        return self.image_ids[name]

    def person(self, image_id: int, kps16: np.ndarray, center: tuple[float, float] | None,
               scale: float | None, **extra: Any) -> None:
        if center is not None:
            extra["center"] = [float(center[0]), float(center[1])]
        if scale is not None:
            extra["scale"] = float(scale)
        self.rows.append((image_id, kps16, center or (np.nan, np.nan), np.nan if scale is None else scale, extra))

    def build(self) -> KeypointDataset:
        """All persons at once: boxes from the 16 MPII joints, then the mapping to the layout."""
        n = len(self.rows)
        kps16 = np.stack([r[1] for r in self.rows]) if n else np.zeros((0, 16, 3))
        center = np.array([r[2] for r in self.rows], dtype=np.float64).reshape(n, 2)
        scale = np.array([r[3] for r in self.rows], dtype=np.float64)
        image_id = np.array([r[0] for r in self.rows], dtype=np.int64)
        boxes = person_boxes(kps16, center, scale, self.margin)
        size = {im.id: (im.width or np.inf, im.height or np.inf) for im in self.builder.images}
        boxes = clip_boxes(boxes, np.array([size[i] for i in image_id], dtype=np.float64).reshape(n, 2))
        ds = KeypointDataset(self.builder.category, self.builder.images, np.arange(1, n + 1, dtype=np.int64),
                             image_id, self.mapping.apply(kps16), boxes, boxes[:, 2] * boxes[:, 3],
                             np.zeros(n, bool), np.full(n, np.nan), [r[4] for r in self.rows])
        ds.info = {"description": "converted from MPII Human Pose by posekit",
                   "source_layout": "mpii16", "layout": self.mapping.dst.name}
        if self.mapping.dropped:
            ds.info["dropped_keypoints"] = self.mapping.dropped
        return ds


# ----------------------------------------------------------------------------- mmpose JSON

def read_mpii_json(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                   margin: float = 0.1) -> KeypointDataset:
    """Read mmpose's MPII JSON (a list of ``{image, joints, joints_vis, center, scale}``)."""
    path = Path(path)
    return mpii_json_to_dataset(read_json(path), path, layout, images_dir, margin)


def mpii_json_to_dataset(obj: Any, path: Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                         margin: float = 0.1) -> KeypointDataset:
    """Build a dataset from parsed mmpose MPII JSON; problems raise PosekitError naming ``path``."""
    if not isinstance(obj, list):
        raise PosekitError(path, "expected mmpose's MPII JSON: a list of person entries")
    col = _Collector(layout, Path(images_dir) if images_dir else None, margin, path)
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
    return col.build()


def write_mpii_json(ds: KeypointDataset) -> list[dict[str, Any]]:
    """The dataset as mmpose MPII JSON entries (1-based; the 16 MPII joints)."""
    kps16 = get_mapping(ds.category.layout.name, "mpii16").apply(ds.keypoints) \
        if ds.category.layout.name in ("coco17", "mpii16") else None
    if kps16 is None:
        raise PosekitError(None, f"cannot write MPII from a '{ds.category.layout.name}' category "
                                 f"(known: coco17, mpii16)")
    names = {im.id: im.file_name for im in ds.images}
    out = []
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
        out.append(entry)
    return out


# ----------------------------------------------------------------------------- .mat release

def _as_list(x: Any) -> list:
    """MATLAB struct arrays load as ndarrays, single structs as objects, empty as size-0 arrays."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _scalar(x: Any) -> float | None:
    if type(x) in (float, int):  # the common case after squeeze_me
        return float(x)
    if isinstance(x, np.ndarray):
        if x.size != 1:
            return None
        x = x.item()
    if isinstance(x, str):
        x = x.strip()
        try:
            return float(x)
        except ValueError:
            return None
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        return float(x)
    return None


def _field(s: Any, name: str) -> Any:
    return getattr(s, name, None)


def _mat_person(rect: Any) -> tuple[np.ndarray, tuple[float, float] | None, float | None, list[float] | None]:
    kps = np.zeros((16, 3))
    ap = _field(rect, "annopoints")
    for p in _as_list(_field(ap, "point") if ap is not None and not isinstance(ap, np.ndarray) else None):
        pid, x, y = _scalar(_field(p, "id")), _scalar(_field(p, "x")), _scalar(_field(p, "y"))
        if pid is None or x is None or y is None or not (0 <= pid <= 15) or not (math.isfinite(x) and math.isfinite(y)):
            continue
        vis = _scalar(_field(p, "is_visible"))
        kps[int(pid)] = (x - 1, y - 1, 1 if vis == 0 else 2)
    op = _field(rect, "objpos")
    center = None
    if op is not None and not isinstance(op, np.ndarray):
        cx, cy = _scalar(_field(op, "x")), _scalar(_field(op, "y"))
        if cx is not None and cy is not None:
            center = (cx - 1, cy - 1)
    scale = _scalar(_field(rect, "scale"))
    head = [_scalar(_field(rect, k)) for k in ("x1", "y1", "x2", "y2")]
    head_box = None
    if all(h is not None for h in head):
        x1, y1, x2, y2 = head
        head_box = [min(x1, x2) - 1, min(y1, y2) - 1, abs(x2 - x1), abs(y2 - y1)]
    return kps, center, scale, head_box


def load_mat_release(path: str | Path) -> Any:
    """Load the ``RELEASE`` struct of ``mpii_human_pose_v1_u12_1.mat``."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except FileNotFoundError:
        raise PosekitError(path, "file not found") from None
    except Exception as exc:  # scipy raises many types for corrupt files
        raise PosekitError(path, f"not a readable MATLAB .mat file ({exc.__class__.__name__}: {exc})") from None
    release = mat.get("RELEASE")
    if release is None:
        raise PosekitError(path, "no RELEASE struct; not the MPII Human Pose .mat release")
    if _field(release, "annolist") is None:
        raise PosekitError(path, "RELEASE has no 'annolist'; not the MPII Human Pose .mat release")
    return release


def read_mpii_mat(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
                  split: str = "all", margin: float = 0.1) -> KeypointDataset:
    """Read the original MPII ``.mat`` release."""
    path = Path(path)
    release = load_mat_release(path)
    annolist = _as_list(release.annolist)
    img_train = _field(release, "img_train")
    train = np.asarray(img_train).ravel() if img_train is not None else None
    if train is not None and train.size != len(annolist):
        raise PosekitError(path, f"img_train has {train.size} entries but annolist has {len(annolist)}")
    if split != "all" and train is None:
        raise PosekitError(path, f"--split {split} needs RELEASE.img_train, which this file lacks")
    singles = _as_list(_field(release, "single_person"))
    acts = _as_list(_field(release, "act"))
    col = _Collector(layout, Path(images_dir) if images_dir else None, margin, path)
    for i, entry in enumerate(annolist):
        is_train = None if train is None else bool(train[i])
        if split == "train" and not is_train or split == "test" and is_train:
            continue
        image = _field(entry, "image")
        name = _field(image, "name") if image is not None else None
        if not isinstance(name, str) or not name:
            raise PosekitError(path, f"annolist({i + 1}) has no image.name")
        extra: dict[str, Any] = {}
        if is_train is not None:
            extra["is_train"] = is_train
        if i < len(singles):
            sp = np.atleast_1d(np.asarray(singles[i], dtype=float)).astype(int).tolist() if np.size(singles[i]) else []
            extra["single_person"] = [s - 1 for s in sp]
        if i < len(acts):
            act = acts[i]
            for k_src, k_dst in (("cat_name", "activity_category"), ("act_name", "activity"), ("act_id", "activity_id")):
                val = _field(act, k_src)
                if isinstance(val, str) and val:
                    extra[k_dst] = val
                elif k_src == "act_id" and _scalar(val) is not None:
                    extra[k_dst] = int(_scalar(val))
        iid = col.image(name, **extra)
        for r, rect in enumerate(_as_list(_field(entry, "annorect"))):
            kps, center, scale, head_box = _mat_person(rect)
            if not (kps[:, 2] > 0).any() and center is None:
                continue  # an empty annorect carries no person
            pextra: dict[str, Any] = {"person_index": r}
            if head_box is not None:
                pextra["head_box"] = head_box
            col.person(iid, kps, center, scale, **pextra)
    return col.build()


def read_mpii(path: str | Path, layout: str = "mpii16", images_dir: str | Path | None = None,
              split: str = "all", margin: float = 0.1) -> KeypointDataset:
    """Read MPII from a ``.mat`` release or an mmpose ``.json`` file (chosen by the suffix)."""
    path = Path(path)
    if path.suffix.lower() == ".mat":
        return read_mpii_mat(path, layout, images_dir, split, margin)
    if split != "all":
        raise PosekitError(path, "--split applies to the .mat release only (mmpose's JSON files are already split)")
    return read_mpii_json(path, layout, images_dir, margin)
