"""COCO person-keypoint JSON <-> KeypointDataset (the canonical file format).

Reading is strict by default: the first structural problem raises :class:`PosekitError`
naming the file and the annotation. With a ``report`` callback, problems are reported
one by one and the offending annotations are left out instead (used by the validator).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .dataset import Category, ImageInfo, KeypointDataset
from .errors import PosekitError
from .io import read_json, write_json_atomic

#: ``report(rule, severity, image_id, ann_id, message, value)``
Reporter = Callable[[str, str, Any, Any, str, Any], None]

_ANN_CORE = ("id", "image_id", "category_id", "keypoints", "bbox", "area", "iscrowd", "score")
_IMG_CORE = ("id", "file_name", "width", "height")
_CAT_CORE = ("id", "name", "keypoints", "skeleton")


def load_coco(path: str | Path, report: Reporter | None = None) -> KeypointDataset:
    """Read a COCO keypoint file into a :class:`KeypointDataset`."""
    return from_coco_dict(read_json(path), path, report)


# Defects that leave the data representable: loading for conversion keeps the file as it is
# (so it round-trips unchanged) and only the validator reports them.
KEPT_WHEN_LOADING = {"schema.skeleton_range", "schema.skeleton_zero_based"}


def _raiser(path: str | Path) -> Reporter:
    def report(rule, severity, image_id, ann_id, message, value=None):
        if severity == "error" and rule not in KEPT_WHEN_LOADING:
            where = f"annotation {ann_id}: " if ann_id is not None else (
                f"image {image_id}: " if image_id is not None else "")
            raise PosekitError(path, where + message)
    return report


MAX_IMAGE_SIDE = 1_000_000  # pixels; anything larger is a corrupt size, not an image


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def from_coco_dict(obj: Any, path: str | Path = "<memory>", report: Reporter | None = None) -> KeypointDataset:
    """Build a dataset from parsed COCO JSON. Structural problems go to ``report`` (or raise)."""
    rep = report or _raiser(path)
    if not isinstance(obj, dict):
        raise PosekitError(path, f"expected a COCO JSON object, found a {type(obj).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in obj:
            raise PosekitError(path, f"not a COCO keypoint file: no '{key}' list")
        if not isinstance(obj[key], list):
            raise PosekitError(path, f"'{key}' must be a list, found {type(obj[key]).__name__}")

    category, other_cats = _parse_category(obj["categories"], path, rep)
    if report is None:
        _adopt_annotation_length(category, obj["annotations"])
    K = category.num_keypoints
    images = _parse_images(obj["images"], rep)
    image_ids = {im.id for im in images}

    other_anns: list[dict] = []
    good: list[dict] = []
    seen_ids: set = set()
    for i, ann in enumerate(obj["annotations"]):
        if not isinstance(ann, dict):
            rep("schema.annotation_type", "error", None, None, f"annotations[{i}] is not an object", None)
            continue
        aid = ann.get("id")
        if not _is_int(aid):
            rep("schema.annotation_id", "error", ann.get("image_id"), aid,
                f"annotations[{i}] has id {aid!r}; expected an integer", aid)
            continue
        if aid in seen_ids:
            rep("schema.duplicate_id", "error", ann.get("image_id"), aid, f"annotation id {aid} is used twice", aid)
            continue
        seen_ids.add(aid)
        cid = ann.get("category_id")
        if not _is_int(cid) or cid != category.id:
            if _is_int(cid) and cid in other_cats:
                other_anns.append(ann)
            else:
                rep("schema.category_id", "error", ann.get("image_id"), aid,
                    f"category_id {ann.get('category_id')!r} is not a category of this file", ann.get("category_id"))
            continue
        if not _is_int(ann.get("image_id")) or ann["image_id"] not in image_ids:
            rep("schema.image_id", "error", ann.get("image_id"), aid,
                f"image_id {ann.get('image_id')!r} is not an image of this file", ann.get("image_id"))
            continue
        kp = ann.get("keypoints")
        if not isinstance(kp, list):
            rep("schema.keypoints_type", "error", ann["image_id"], aid,
                f"'keypoints' must be a list, found {type(kp).__name__}", None)
            continue
        if len(kp) != 3 * K:
            rep("schema.keypoints_length", "error", ann["image_id"], aid,
                f"has {len(kp)} keypoint values; category '{category.name}' needs 3x{K}={3 * K}", len(kp))
            continue
        good.append(ann)

    kps = _keypoint_array(good, K, rep)
    keep = ~np.isnan(kps).all(axis=(1, 2)) if len(good) else np.zeros(0, bool)
    # rows whose keypoints had the wrong types were reported and are marked all-NaN: drop them
    kps = kps[keep]
    good = [a for a, k in zip(good, keep) if k]
    _check_visibility(good, kps, rep, flags=report is not None)

    n = len(good)
    bbox = np.full((n, 4), np.nan)
    area = np.full(n, np.nan)
    score = np.full(n, np.nan)
    iscrowd = np.zeros(n, bool)
    extras = []
    for r, ann in enumerate(good):
        box = ann.get("bbox")
        if box is not None:
            if isinstance(box, list) and len(box) == 4 and all(_is_number(b) for b in box):
                bbox[r] = box
            else:
                rep("schema.bbox", "error", ann["image_id"], ann["id"], f"bbox {box!r} is not [x, y, w, h] finite numbers", None)
        for key, column in (("area", area), ("score", score)):
            val = ann.get(key)
            if val is None:
                continue
            if _is_number(val):
                column[r] = val
            else:
                rep(f"schema.{key}", "error", ann["image_id"], ann["id"], f"{key} {val!r} is not a finite number", None)
        c = ann.get("iscrowd", 0)
        if c in (0, 1, True, False):
            iscrowd[r] = bool(c)
        else:
            rep("schema.iscrowd", "error", ann["image_id"], ann["id"], f"iscrowd {c!r} must be 0 or 1", None)
        extras.append({k: v for k, v in ann.items() if k not in _ANN_CORE})

    top = {k: v for k, v in obj.items() if k not in ("images", "annotations", "categories", "info", "licenses")}
    return KeypointDataset(
        category, images,
        np.array([a["id"] for a in good], dtype=np.int64),
        np.array([a["image_id"] for a in good], dtype=np.int64),
        kps.reshape(n, K, 3), bbox, area, iscrowd, score, extras,
        dict(obj.get("info") or {}) if isinstance(obj.get("info"), dict) else {},
        obj.get("licenses"), list(other_cats.values()), other_anns, top)


def _adopt_annotation_length(category: Category, anns: list) -> None:
    """When every annotation has the same number of keypoints and it is not the category's
    (e.g. whole-body keypoints under a 17-name category), use that number so the file loads
    unchanged; the extra keypoints get generated names and the file's own list is kept."""
    lengths = {len(a["keypoints"]) for a in anns if isinstance(a, dict) and a.get("category_id") == category.id
               and isinstance(a.get("keypoints"), list)}
    if len(lengths) != 1:
        return
    n = lengths.pop()
    if n % 3 or n // 3 == category.num_keypoints or n == 0:
        return
    category.extra["_keypoints_raw"] = list(category.keypoints)
    k = n // 3
    category.keypoints = (list(category.keypoints) + [f"keypoint_{i}" for i in range(category.num_keypoints, k)])[:k]
    category.skeleton = [(a, b) for a, b in category.skeleton if a < k and b < k]


def _keypoint_array(good: list[dict], K: int, rep: Reporter) -> np.ndarray:
    if not good:
        return np.zeros((0, K, 3))
    try:  # numbers only give an int or float array; strings, None or lists give another dtype
        arr = np.array([a["keypoints"] for a in good])
        if arr.dtype.kind in "if" and arr.shape == (len(good), 3 * K):
            return arr.astype(np.float64).reshape(len(good), K, 3)
    except (TypeError, ValueError):
        pass
    out = np.full((len(good), K, 3), np.nan)
    for r, ann in enumerate(good):
        bad = [j for j, x in enumerate(ann["keypoints"]) if not isinstance(x, (int, float)) or isinstance(x, bool)]
        if bad:
            j = bad[0]
            rep("schema.keypoint_value", "error", ann["image_id"], ann["id"],
                f"keypoint {j // 3} value {ann['keypoints'][j]!r} is not a number", None)
        else:
            out[r] = np.asarray(ann["keypoints"], dtype=np.float64).reshape(K, 3)
    return out


def _check_visibility(good: list[dict], kps: np.ndarray, rep: Reporter, flags: bool) -> None:
    """Report non-finite values and (with ``flags``) visibility flags outside {0, 1, 2}; rows stay
    in the arrays. Loading for conversion keeps odd flags (e.g. scores in whole-body files) as
    they are, so that files round-trip unchanged; the validator reports them."""
    if not len(good):
        return
    nonfinite = ~np.isfinite(kps).all(axis=(1, 2))
    for r in np.flatnonzero(nonfinite):
        j = int(np.flatnonzero(~np.isfinite(kps[r]).all(axis=1))[0])
        rep("schema.nonfinite", "error", good[r]["image_id"], good[r]["id"],
            f"keypoint {j} has a NaN or infinite value", None)
    if not flags:
        return
    v = kps[:, :, 2]
    bad = ~np.isin(v, (0, 1, 2)) & np.isfinite(v)
    for r in np.flatnonzero(bad.any(axis=1)):
        j = int(np.flatnonzero(bad[r])[0])
        rep("schema.visibility_value", "error", good[r]["image_id"], good[r]["id"],
            f"keypoint {j} has visibility {v[r, j]:g}; must be 0, 1 or 2", float(v[r, j]))
    float_flags = [r for r, a in enumerate(good)
                   if any(isinstance(x, float) and x in (0.0, 1.0, 2.0) for x in a["keypoints"][2::3])]
    for r in float_flags:
        rep("schema.visibility_float", "warning", good[r]["image_id"], good[r]["id"],
            "visibility flags written as floats (e.g. 2.0); COCO uses integers", None)


def _parse_category(cats: list, path, rep: Reporter) -> tuple[Category, dict]:
    kp_cats = [c for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)]
    if not kp_cats:
        raise PosekitError(path, "no category with a 'keypoints' list; not a COCO keypoint file")
    if len(kp_cats) > 1:
        raise PosekitError(path, f"{len(kp_cats)} keypoint categories; only one is supported per file")
    c = kp_cats[0]
    if not _is_int(c.get("id")):
        raise PosekitError(path, f"category id {c.get('id')!r} is not an integer")
    names = c["keypoints"]
    if not all(isinstance(n, str) for n in names) or not names:
        raise PosekitError(path, "category keypoint names must be a non-empty list of strings")
    K = len(names)
    skel_raw = c.get("skeleton") or []
    skeleton: list[tuple[int, int]] = []
    ok = isinstance(skel_raw, list) and all(
        isinstance(s, list) and len(s) == 2 and all(_is_int(x) for x in s) for s in skel_raw)
    if not ok:
        rep("schema.skeleton", "error", None, None, "category skeleton must be a list of [a, b] integer pairs", None)
    else:
        flat = [x for s in skel_raw for x in s]
        zero_based = bool(flat) and min(flat) == 0 and max(flat) <= K - 1
        if zero_based:
            rep("schema.skeleton_zero_based", "error", None, None,
                "category skeleton looks 0-based (contains index 0); COCO skeletons are 1-based", 0)
            skeleton = [(a, b) for a, b in skel_raw]
        else:
            out_of_range = [s for s in skel_raw if not (1 <= s[0] <= K and 1 <= s[1] <= K)]
            if out_of_range:
                rep("schema.skeleton_range", "error", None, None,
                    f"{len(out_of_range)} skeleton limb(s) index keypoints beyond the category's {K} "
                    f"(1-based), e.g. {out_of_range[0]}", len(out_of_range))
            skeleton = [(a - 1, b - 1) for a, b in skel_raw if 1 <= a <= K and 1 <= b <= K]
    extra = {k: v for k, v in c.items() if k not in _CAT_CORE}
    extra["_skeleton_raw"] = skel_raw  # kept so that a file round-trips unchanged
    cat = Category(c["id"], str(c.get("name", "person")), list(names), skeleton, extra)
    others = {c2["id"]: c2 for c2 in cats if c2 is not c and isinstance(c2, dict) and _is_int(c2.get("id"))}
    return cat, others


def _parse_images(imgs: list, rep: Reporter) -> list[ImageInfo]:
    out = []
    seen: set = set()
    for i, im in enumerate(imgs):
        if not isinstance(im, dict):
            rep("schema.image_type", "error", None, None, f"images[{i}] is not an object", None)
            continue
        iid = im.get("id")
        if not _is_int(iid):
            rep("schema.image_id_type", "error", iid, None, f"images[{i}] has id {iid!r}; expected an integer", None)
            continue
        if iid in seen:
            rep("schema.duplicate_image_id", "error", iid, None, f"image id {iid} is used twice", None)
            continue
        seen.add(iid)
        fn = im.get("file_name")
        if not isinstance(fn, str) or not fn:
            rep("schema.file_name", "error", iid, None, f"image {iid} has no file_name string", None)
            continue
        size = []
        for key in ("width", "height"):
            val = im.get(key)
            if val is None:
                size.append(None)
            elif _is_number(val) and float(val).is_integer() and 0 < val <= MAX_IMAGE_SIDE:
                size.append(int(val))
            else:
                rep("schema.image_size", "error", iid, None,
                    f"image {iid} has {key} {val!r}; expected a positive integer up to {MAX_IMAGE_SIDE}", val)
                size.append(None)
        out.append(ImageInfo(iid, fn, size[0], size[1], {k: v for k, v in im.items() if k not in _IMG_CORE}))
    return out


def _json_rows(arr: np.ndarray, arrays: bool = False) -> list:
    """Rows of a 2-D float array for JSON: a row whose values are all integral as ints (as
    COCO's own files write pixel coordinates), other rows as floats. Lists of Python numbers,
    or with ``arrays`` numpy rows (orjson writes those without making a Python object per value)."""
    with np.errstate(invalid="ignore"):
        whole = (np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2**53)).all(axis=1)
    if not arrays:
        rows = arr.tolist()
        for i, row in zip(np.flatnonzero(whole).tolist(), arr[whole].astype(np.int64).tolist()):
            rows[i] = row
        return rows
    rows = list(np.ascontiguousarray(arr))
    for i, row in zip(np.flatnonzero(whole).tolist(), arr[whole].astype(np.int64)):
        rows[i] = row
    return rows


def to_coco_dict(ds: KeypointDataset, arrays: bool = False) -> dict[str, Any]:
    """The dataset as a COCO keypoint JSON object (1-based skeleton, num_keypoints from v);
    with ``arrays`` keypoints and boxes are numpy rows (for :func:`annotate.io.dumps_json`)."""
    cat_extra = dict(ds.category.extra)
    skel_raw = cat_extra.pop("_skeleton_raw", None)
    names = cat_extra.pop("_keypoints_raw", None) or list(ds.category.keypoints)
    skeleton = skel_raw if skel_raw is not None and _skeleton_matches(skel_raw, ds.category) else \
        [[a + 1, b + 1] for a, b in ds.category.skeleton]
    category = {"id": ds.category.id, "name": ds.category.name, **cat_extra,
                "keypoints": names, "skeleton": skeleton}
    images = []
    for im in ds.images:
        d: dict[str, Any] = {"id": im.id, "file_name": im.file_name}
        if im.width is not None:
            d["width"] = im.width
        if im.height is not None:
            d["height"] = im.height
        d.update(im.extra)
        images.append(d)
    flat = _json_rows(ds.keypoints.reshape(len(ds), ds.keypoints.shape[1] * 3), arrays)
    boxes = _json_rows(ds.bbox, arrays)
    areas = [int(a) if a.is_integer() and abs(a) < 2**53 else a for a in ds.area.tolist()]
    has_box = ~np.isnan(ds.bbox).any(axis=1)
    has_area, has_score = ~np.isnan(ds.area), ~np.isnan(ds.score)
    anns = []
    cat_id = ds.category.id
    for r, (aid, iid, crowd, extra, kp, nk, box, area) in enumerate(zip(
            ds.ann_id.tolist(), ds.image_id.tolist(), ds.iscrowd.astype(np.int64).tolist(), ds.extra, flat,
            ds.num_keypoints.tolist(), boxes, areas)):
        a: dict[str, Any] = {"id": aid, "image_id": iid, "category_id": cat_id, "iscrowd": crowd, **extra,
                             "keypoints": kp, "num_keypoints": nk}
        if has_box[r]:
            a["bbox"] = box
        if has_area[r]:
            a["area"] = area
        if has_score[r]:
            a["score"] = float(ds.score[r])
        anns.append(a)
    out: dict[str, Any] = {}
    if ds.info:
        out["info"] = ds.info
    if ds.licenses is not None:
        out["licenses"] = ds.licenses
    out.update(ds.top_extra)
    out["images"] = images
    out["annotations"] = anns + ds.other_annotations
    out["categories"] = [category] + ds.other_categories
    return out


def _skeleton_matches(raw: Any, cat: Category) -> bool:
    K = cat.num_keypoints
    try:
        conv = [(a - 1, b - 1) for a, b in raw if 1 <= a <= K and 1 <= b <= K]
    except (TypeError, ValueError):
        return False
    return conv == [tuple(s) for s in cat.skeleton]


def save_coco(ds: KeypointDataset, path: str | Path, indent: int | None = None) -> None:
    """Write the dataset as COCO keypoint JSON, atomically."""
    if not (np.isfinite(ds.keypoints).all() and np.isfinite(ds.bbox[~np.isnan(ds.bbox).any(1)]).all()):
        bad = ~np.isfinite(ds.keypoints).all(axis=(1, 2))
        who = f"annotation {int(ds.ann_id[np.flatnonzero(bad)[0]])}" if bad.any() else "a box"
        raise PosekitError(path, f"refusing to write: {who} has NaN or infinite values")
    write_json_atomic(path, to_coco_dict(ds, arrays=True), indent)
