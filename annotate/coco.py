"""COCO person-keypoint JSON <-> KeypointDataset (the canonical file format).

Reading is strict by default: the first structural problem raises :class:`PosekitError`
naming the file and the annotation. With a ``report`` callback, problems are reported
one by one and the offending annotations are left out instead (used by the validator).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import orjson

from .dataset import Category, ImageInfo, KeypointDataset
from .errors import PosekitError
from .io import dumps_json, json_numbers, parse_json_bytes, paused_gc, read_bytes, write_bytes_atomic
from .notes import Notes

if TYPE_CHECKING:
    from converters.formats import Context, Output, Probe, Source

#: ``report(rule, severity, image_id, ann_id, message, value)``
Reporter = Callable[[str, str, Any, Any, str, Any], None]

_ANN_CORE = ("id", "image_id", "category_id", "keypoints", "bbox", "area", "iscrowd", "score")
_IMG_CORE = ("id", "file_name", "width", "height")
_CAT_CORE = ("id", "name", "keypoints", "skeleton")


def load_coco(path: str | Path, report: Reporter | None = None) -> KeypointDataset:
    """Read a COCO keypoint file into a :class:`KeypointDataset`."""
    with paused_gc():  # millions of new objects, none of them garbage
        obj, booleans = read_coco_json(path)
        return from_coco_dict(obj, path, report, booleans)


def read_coco_json(path: str | Path) -> tuple[Any, bool]:
    """A COCO file parsed, and whether its text holds any true/false: JSON booleans are Python
    bools, which numpy takes as 1/0, so values are looked at one by one only when it does."""
    raw = read_bytes(path)
    return parse_json_bytes(raw, path), b"true" in raw or b"false" in raw


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
    """An integer JSON number that fits the int64 columns ids are held in."""
    return isinstance(x, int) and not isinstance(x, bool) and -2**63 <= x < 2**63


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def from_coco_dict(obj: Any, path: str | Path = "<memory>", report: Reporter | None = None,
                   booleans: bool = True, category: str | None = None) -> KeypointDataset:
    """Build a dataset from parsed COCO JSON. Structural problems go to ``report`` (or raise).
    ``booleans=False`` says the JSON holds no true/false (so no number can be one).
    ``category``: keep only the keypoint category of that name (or id), e.g. one layout of a
    file holding several; the other categories' annotations are counted as not carried."""
    rep = report or _raiser(path)
    _check_top(obj, path)
    categories, other_cats, skipped = _parse_categories(obj["categories"], path, rep, category)
    images = _parse_images(obj["images"], rep)
    anns = obj["annotations"]
    notes = Notes()
    if skipped:
        anns = _without_categories(anns, skipped, notes)
    good, other_anns, columns = _good_annotations(anns, categories, other_cats, {im.id for im in images}, rep)
    K = categories[0].num_keypoints
    kps, bad = _keypoint_array(good, K, rep, booleans)
    bad |= _check_visibility(good, kps, rep, warn_float_flags=report is not None)
    # rows reported above (values that are not numbers, NaN, flags outside {0, 1, 2}) are left
    # out: an explicit mask, never a marker value that real data could hold
    if bad.any():
        kps = kps[~bad]
        good = [a for a, b in zip(good, bad.tolist()) if not b]
        columns = None if columns is None else tuple(c[~bad] for c in columns)
    if columns is None:
        columns = tuple(np.array(list(map(itemgetter(k), good)), dtype=np.int64)
                        for k in ("id", "image_id", "category_id"))
    n = len(good)
    top = {k: v for k, v in obj.items() if k not in ("images", "annotations", "categories", "info", "licenses")}
    info = obj.get("info")
    if info is not None and not isinstance(info, dict):
        top["info"] = info  # not COCO's object: carried as it is
        info = None
    ann_id, image_id, category_id = columns
    return KeypointDataset(
        categories[0], images, ann_id, image_id, kps.reshape(n, K, 3),
        _number_column(good, "bbox", (4,), rep, "is not [x, y, w, h] finite numbers", booleans),
        _number_column(good, "area", (), rep, "is not a finite number", booleans),
        _iscrowd_column(good, rep),
        _number_column(good, "score", (), rep, "is not a finite number", booleans),
        _extras(good, _ANN_CORE), dict(info) if info is not None else {}, obj.get("licenses"),
        list(other_cats.values()), other_anns, top, categories, category_id, notes,
        iscrowd_given=np.fromiter(("iscrowd" in a for a in good), bool, n))


def _check_top(obj: Any, path: str | Path) -> None:
    if not isinstance(obj, dict):
        raise PosekitError(path, f"expected a COCO JSON object, found a {type(obj).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in obj:
            raise PosekitError(path, f"not a COCO keypoint file: no '{key}' list")
        if not isinstance(obj[key], list):
            raise PosekitError(path, f"'{key}' must be a list, found {type(obj[key]).__name__}")


def _without_categories(anns: list, skipped: dict[int, str], notes: Notes) -> list:
    """The annotations not of the ``skipped`` keypoint categories (``id -> name``); those are
    counted as persons not carried."""
    keep, dropped = [], Counter()
    for a in anns:
        cid = a.get("category_id") if isinstance(a, dict) else None
        if _is_int(cid) and cid in skipped:
            dropped[skipped[cid]] += 1
        else:
            keep.append(a)
    for name, n in sorted(dropped.items()):
        notes.lost(f"persons of category {name!r} (not the --category read)", n, unit="persons")
    return keep


def _good_annotations(anns: list, categories: list[Category], other_cats: dict, image_ids: set,
                      rep: Reporter) -> tuple[list[dict], list[dict], Columns | None]:
    """The keypoint annotations, the other categories' annotations, and (when the fast screen
    passed) the id columns; faults are reported one by one (and left out)."""
    kp_cat_ids = {c.id for c in categories}
    screened = _screen_annotations(anns, kp_cat_ids, other_cats, image_ids, categories[0].num_keypoints)
    if screened is not None:
        return screened
    good: list[dict] = []
    other: list[dict] = []
    seen_ids: set = set()
    for i, ann in enumerate(anns):  # a fault: find and report it
        where = _annotation_fault(i, ann, seen_ids, kp_cat_ids, other_cats, image_ids, categories[0])
        if where == "other":
            other.append(ann)
        elif where is None:
            good.append(ann)
        elif where != "skip":
            rep(*where)
    return good, other, None


def _annotation_fault(i: int, ann: Any, seen_ids: set, kp_cat_ids: set, other_cats: dict, image_ids: set,
                      category: Category) -> tuple | str | None:
    """None for a good keypoint annotation, "other" for another category's, else the report's
    arguments (rule, severity, image id, annotation id, message, value)."""
    if not isinstance(ann, dict):
        return ("schema.annotation_type", "error", None, None, f"annotations[{i}] is not an object", None)
    aid, iid = ann.get("id"), ann.get("image_id")
    if not _is_int(aid):
        return ("schema.annotation_id", "error", iid, aid, f"annotations[{i}] has id {aid!r}; expected an integer", aid)
    if aid in seen_ids:
        return ("schema.duplicate_id", "error", iid, aid, f"annotation id {aid} is used twice", aid)
    seen_ids.add(aid)
    cid = ann.get("category_id")
    if not _is_int(cid) or cid not in kp_cat_ids:
        if _is_int(cid) and cid in other_cats:
            return "other"
        return ("schema.category_id", "error", iid, aid, f"category_id {cid!r} is not a category of this file", cid)
    if not _is_int(iid) or iid not in image_ids:
        return ("schema.image_id", "error", iid, aid, f"image_id {iid!r} is not an image of this file", iid)
    kp = ann.get("keypoints")
    if not isinstance(kp, list):
        return ("schema.keypoints_type", "error", iid, aid, f"'keypoints' must be a list, found {type(kp).__name__}",
                None)
    K = category.num_keypoints
    if len(kp) != 3 * K:
        return ("schema.keypoints_length", "error", iid, aid,
                f"has {len(kp)} keypoint values; category '{category.name}' needs 3x{K}={3 * K}", len(kp))
    return None


def _same_type(values: list, kind: type) -> bool:
    """Every value is exactly of ``kind`` (so ``True`` is not an ``int``); one C-level pass."""
    return set(map(type, values)) == {kind}


def _int64s(values: list) -> np.ndarray | None:
    """The values as an int64 array when every one is a Python int (not a bool) in its range."""
    if not _same_type(values, int):
        return None
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return None


Columns = tuple[np.ndarray, np.ndarray, np.ndarray]


def _screen_annotations(anns: list, kp_cat_ids: set, other_cats: dict, image_ids: set,
                        K: int) -> tuple[list[dict], list[dict], Columns] | None:
    """``(keypoint annotations, other categories' annotations, (their ids, image ids, category
    ids))`` when every annotation passes the structural checks, each check one pass over a column;
    None when any fails (the annotation loop in :func:`from_coco_dict` then finds and reports each
    fault)."""
    empty = np.zeros(0, np.int64)
    if not anns:
        return [], [], (empty, empty, empty)
    if not _same_type(anns, dict):
        return None
    try:
        ids = list(map(itemgetter("id"), anns))
        cids = list(map(itemgetter("category_id"), anns))
    except KeyError:
        return None
    id_arr, cid_arr = _int64s(ids), _int64s(cids)
    if id_arr is None or cid_arr is None or len(set(ids)) != len(ids):
        return None
    if set(cids) <= kp_cat_ids:
        good, other = list(anns), []
    else:
        mine = np.fromiter((c in kp_cat_ids for c in cids), bool, len(cids))
        good = [a for a, m in zip(anns, mine.tolist()) if m]
        other = [a for a, c in zip(anns, cids) if c in other_cats]
        if len(good) + len(other) != len(anns):
            return None
        id_arr, cid_arr = id_arr[mine], cid_arr[mine]
    if not good:
        return good, other, (empty, empty, empty)
    try:
        iids = list(map(itemgetter("image_id"), good))
        kps = list(map(itemgetter("keypoints"), good))
    except KeyError:
        return None
    if not _same_type(iids, int) or not set(iids) <= image_ids:
        return None  # (image ids are int64s, so these are too)
    if not _same_type(kps, list) or set(map(len, kps)) != {3 * K}:
        return None
    return good, other, (id_arr, np.array(iids, dtype=np.int64), cid_arr)


def _extras(rows: list[dict], core: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each object's fields other than ``core``, in the file's order (objects sharing a key
    order, as a file's objects mostly do, share the work of finding them)."""
    cache: dict[tuple, Any] = {}
    out = []
    for row in rows:
        layout = tuple(row)
        get = cache.get(layout)
        if get is None:
            keys = tuple(k for k in layout if k not in core)
            get = cache[layout] = (keys, itemgetter(*keys) if len(keys) > 1 else None)
        keys, many = get
        if many is not None:
            out.append(dict(zip(keys, many(row))))
        else:
            out.append({keys[0]: row[keys[0]]} if keys else {})
    return out


def _has_bool(values: list, nested: bool) -> bool:
    """Whether any value (of the lists, when ``nested``) is a bool (true/false in the JSON)."""
    kinds = set(map(type, chain.from_iterable(v for v in values if isinstance(v, list)) if nested else values))
    return bool in kinds


def _number_column(good: list[dict], key: str, shape: tuple[int, ...], rep: Reporter, why: str,
                   booleans: bool = True) -> np.ndarray:
    """The annotations' ``key`` values as a float column (NaN where absent); values that are not
    finite numbers of that shape are reported and left NaN. One numpy call when all are good."""
    vals = list(map(dict.get, good, repeat(key)))
    out = np.full((len(good), *shape), np.nan)
    every = None not in vals
    present = range(len(vals)) if every else [i for i, v in enumerate(vals) if v is not None]
    if not present:
        return out
    try:
        arr = np.array(vals if every else [vals[i] for i in present])
        if arr.dtype.kind in "if" and arr.shape == (len(present), *shape) and np.isfinite(arr).all() and \
                not (booleans and _has_bool(vals, nested=bool(shape))):
            if every:
                return arr.astype(np.float64, copy=False)
            out[present] = arr
            return out
    except (TypeError, ValueError):
        pass
    for i in present:  # some value is off: find and report each
        v = vals[i]
        items = v if shape else [v]
        if (not shape or (isinstance(v, list) and len(v) == shape[0])) and all(_is_number(x) for x in items):
            out[i] = v
        else:
            rep(f"schema.{key}", "error", good[i]["image_id"], good[i]["id"], f"{key} {v!r} {why}", None)
    return out


def _iscrowd_column(good: list[dict], rep: Reporter) -> np.ndarray:
    """``iscrowd`` as booleans (absent = 0); other values than 0/1 are reported."""
    vals = [a.get("iscrowd", 0) for a in good]
    try:
        arr = np.array(vals)
        if arr.shape == (len(good),) and (arr.dtype.kind == "b" or (arr.dtype.kind == "i" and np.isin(arr, (0, 1)).all())):
            return arr.astype(bool)
    except (TypeError, ValueError):
        pass
    out = np.zeros(len(good), bool)
    for r, c in enumerate(vals):
        if c in (0, 1, True, False):
            out[r] = bool(c)
        else:
            rep("schema.iscrowd", "error", good[r]["image_id"], good[r]["id"], f"iscrowd {c!r} must be 0 or 1", None)
    return out


def _keypoint_array(good: list[dict], K: int, rep: Reporter, booleans: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K, 3)`` keypoints and a mask of the rows reported bad (values that are not numbers)."""
    bad = np.zeros(len(good), bool)
    if not good:
        return np.zeros((0, K, 3)), bad
    try:  # numbers only give an int or float array; strings, None or lists give another dtype
        rows = list(map(itemgetter("keypoints"), good))
        arr = np.array(rows)
        if arr.dtype.kind in "if" and arr.shape == (len(good), 3 * K) and not (booleans and _has_bool(rows, True)):
            return arr.astype(np.float64, copy=False).reshape(len(good), K, 3), bad
    except (TypeError, ValueError):
        pass
    out = np.zeros((len(good), K, 3))
    for r, ann in enumerate(good):
        wrong = [j for j, x in enumerate(ann["keypoints"]) if not isinstance(x, (int, float)) or isinstance(x, bool)]
        if wrong:
            j = wrong[0]
            rep("schema.keypoint_value", "error", ann["image_id"], ann["id"],
                f"keypoint {j // 3} value {ann['keypoints'][j]!r} is not a number", None)
            bad[r] = True
        else:
            out[r] = np.asarray(ann["keypoints"], dtype=np.float64).reshape(K, 3)
    return out, bad


def _check_visibility(good: list[dict], kps: np.ndarray, rep: Reporter, warn_float_flags: bool) -> np.ndarray:
    """Report NaN/infinite values and visibility flags outside {0, 1, 2} (errors for every
    command: a score in the flag's place is not a COCO flag); returns the mask of rows reported.
    With ``warn_float_flags``, flags written as floats (2.0) are warned about."""
    bad = np.zeros(len(good), bool)
    if not len(good):
        return bad
    nonfinite = ~np.isfinite(kps).all(axis=2)
    for r in np.flatnonzero(nonfinite.any(axis=1)):
        j = int(np.flatnonzero(nonfinite[r])[0])
        rep("schema.nonfinite", "error", good[r]["image_id"], good[r]["id"],
            f"keypoint {j} has a NaN or infinite value", None)
        bad[r] = True
    v = kps[:, :, 2]
    odd = ~np.isin(v, (0, 1, 2)) & ~nonfinite
    for r in np.flatnonzero(odd.any(axis=1)):
        j = int(np.flatnonzero(odd[r])[0])
        rep("schema.visibility_value", "error", good[r]["image_id"], good[r]["id"],
            f"keypoint {j} has visibility {v[r, j]:g}; must be 0, 1 or 2", float(v[r, j]))
        bad[r] = True
    if warn_float_flags:
        flags = list(map(itemgetter(slice(2, None, 3)), map(itemgetter("keypoints"), good)))
        if float in set(map(type, chain.from_iterable(flags))):  # one pass; rows looked at only if any
            for r, (a, fl) in enumerate(zip(good, flags)):
                if not bad[r] and any(isinstance(x, float) for x in fl):
                    rep("schema.visibility_float", "warning", a["image_id"], a["id"],
                        "visibility flags written as floats (e.g. 2.0); COCO uses integers", None)
    return bad


def _parse_categories(cats: list, path, rep: Reporter,
                      wanted: str | None = None) -> tuple[list[Category], dict, dict[int, str]]:
    """The keypoint categories read (several may share one layout, e.g. "male" and "female"),
    the other categories by id (carried through unchanged), and the keypoint categories left
    out by ``wanted`` (``id -> name``). Several layouts need ``wanted``."""
    kp_cats = [c for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)]
    if not kp_cats:
        raise PosekitError(path, "no category with a 'keypoints' list; not a COCO keypoint file")
    parsed = [_parse_category(c, path, rep if i == 0 else _silent) for i, c in enumerate(kp_cats)]
    ids = [c.id for c in parsed]
    if len(set(ids)) != len(ids):
        raise PosekitError(path, f"category ids {ids} repeat")
    chosen = _choose_categories(parsed, wanted, path)
    skipped = {c.id: c.name for c in parsed if c not in chosen}
    others = {c2["id"]: c2 for c2 in cats
              if not (isinstance(c2, dict) and isinstance(c2.get("keypoints"), list))
              and isinstance(c2, dict) and _is_int(c2.get("id"))}
    return chosen, others, skipped


def _choose_categories(parsed: list[Category], wanted: str | None, path) -> list[Category]:
    """The categories named ``wanted`` (by name or id), else all when they share one layout."""
    if wanted is not None:
        chosen = [c for c in parsed if wanted in (c.name, str(c.id))]
        if not chosen:
            raise PosekitError(path, f"--category {wanted!r}: no keypoint category of that name or id; the file has "
                                     + ", ".join(f"{c.name!r} (id {c.id}, {c.num_keypoints} keypoints)" for c in parsed))
        parsed = chosen
    first = parsed[0]
    for c in parsed[1:]:
        if c.keypoints != first.keypoints:
            raise PosekitError(path, f"keypoint categories {first.id} ({first.name!r}, {first.num_keypoints} "
                                     f"keypoints) and {c.id} ({c.name!r}, {c.num_keypoints}) have different "
                                     f"keypoint layouts; pass --category NAME to read one of them")
    return parsed


def _silent(*_args, **_kw) -> None:
    """Skeleton defects of a second category sharing the layout are the first's (reported once)."""


def _parse_category(c: dict, path, rep: Reporter) -> Category:
    if not _is_int(c.get("id")):
        raise PosekitError(path, f"category id {c.get('id')!r} is not an integer")
    names = c["keypoints"]
    if not all(isinstance(n, str) for n in names) or not names:
        raise PosekitError(path, "category keypoint names must be a non-empty list of strings")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise PosekitError(path, f"category {c['id']} names keypoint {dup!r} twice")
    K = len(names)
    skel_raw = c.get("skeleton", [])
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
    return category_from_json(c, skeleton)


def category_from_json(c: dict, skeleton: list[tuple[int, int]] | None = None) -> Category:
    """A :class:`Category` from its COCO JSON object; every field is kept, with the file's own
    skeleton list and whether it had ``name``/``skeleton`` at all, so that
    :func:`category_to_json` gives the object back unchanged."""
    if skeleton is None:
        K = len(c["keypoints"])
        raw = c.get("skeleton") or []
        skeleton = [(a - 1, b - 1) for a, b in raw if 1 <= a <= K and 1 <= b <= K]
    extra = {k: v for k, v in c.items() if k not in _CAT_CORE}
    return Category(c["id"], str(c.get("name", "person")), list(c["keypoints"]), skeleton, extra,
                    file_skeleton=c.get("skeleton"), has_skeleton="skeleton" in c, has_name="name" in c)


def category_to_json(cat: Category) -> dict[str, Any]:
    """The category as a COCO JSON object (1-based skeleton), in its original key order."""
    if not cat.has_skeleton and not cat.skeleton:
        skeleton = None
    elif cat.has_skeleton and cat.file_skeleton is not None and _skeleton_matches(cat.file_skeleton, cat):
        skeleton = cat.file_skeleton
    else:
        skeleton = [[a + 1, b + 1] for a, b in cat.skeleton]
    out: dict[str, Any] = {"id": cat.id}
    if cat.has_name:
        out["name"] = cat.name
    out.update(cat.extra)
    out["keypoints"] = list(cat.keypoints)
    if skeleton is not None:
        out["skeleton"] = skeleton
    return out


def _parse_images(imgs: list, rep: Reporter) -> list[ImageInfo]:
    fast = _images_fast(imgs)
    if fast is not None:
        return fast
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


def _images_fast(imgs: list) -> list[ImageInfo] | None:
    """The images when every one has a unique int64 id, a file name and integral sizes in range
    (each check one pass over a column); None when any does not (:func:`_parse_images` then
    reports each fault)."""
    if not imgs:
        return []
    if not _same_type(imgs, dict):
        return None
    try:
        ids, names, widths, heights = (list(map(itemgetter(k), imgs)) for k in _IMG_CORE)
    except KeyError:
        return None
    if _int64s(ids) is None or len(set(ids)) != len(ids) or not _same_type(names, str) or not all(names):
        return None
    for sizes in (widths, heights):
        if not _same_type(sizes, int) or not 0 < min(sizes) <= max(sizes) <= MAX_IMAGE_SIDE:
            return None
    return list(map(ImageInfo, ids, names, widths, heights, _extras(imgs, _IMG_CORE)))


def _json_rows(arr: np.ndarray, arrays: bool = False) -> list:
    """Rows of a 2-D float array for JSON, each value integral written as an integer (as COCO's
    own files write pixel coordinates and every visibility flag), others as the shortest float
    that reads back the same. ``arrays``: rows as :class:`orjson.Fragment` (no Python number
    per value), else lists of Python numbers."""
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if len(arr) == 0:
        return []
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2**53)
    if whole.all():
        ints = arr.astype(np.int64)
        return list(ints) if arrays else ints.tolist()
    text = orjson.dumps(arr, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson writes an integral float as "12.0": drop the ".0" (nothing else ends so)
    text = text.replace(b".0,", b",").replace(b".0]", b"]")
    if not arrays:
        return orjson.loads(text)
    return [orjson.Fragment(b"[" + row + b"]") for row in text[2:-2].split(b"],[")]


def to_coco_dict(ds: KeypointDataset, arrays: bool = False, notes: Notes | None = None) -> dict[str, Any]:
    """The dataset as a COCO keypoint JSON object (1-based skeleton, num_keypoints from v);
    with ``arrays`` keypoints and boxes are pre-serialised rows (for :func:`annotate.io.dumps_json`).

    Fields that pycocotools' COCOeval needs are completed and counted in ``notes``: ``iscrowd``
    (0 where absent) and ``area`` (the box's where absent)."""
    images = []
    for im in ds.images:
        d: dict[str, Any] = {"id": im.id, "file_name": im.file_name}
        if im.width is not None:
            d["width"] = im.width
        if im.height is not None:
            d["height"] = im.height
        d.update(im.extra)
        images.append(d)
    has_box = ~np.isnan(ds.bbox).any(axis=1)
    area = ds.area.copy()
    fill = np.isnan(area) & has_box
    area[fill] = ds.bbox[fill, 2] * ds.bbox[fill, 3]
    if notes is not None:
        notes.changed("annotations without area given their box's area (COCOeval needs one)", int(fill.sum()))
        notes.changed("annotations without iscrowd given iscrowd 0 (COCOeval needs it)",
                      int((~ds.iscrowd_given).sum()))
        counted = ds.num_keypoints.tolist()
        notes.changed("annotations' num_keypoints set to their count of labeled keypoints",
                      sum(1 for e, n in zip(ds.extra, counted) if "num_keypoints" in e and e["num_keypoints"] != n))
    flat = _json_rows(ds.keypoints.reshape(len(ds), ds.keypoints.shape[1] * 3), arrays)
    boxes = _json_rows(ds.bbox, arrays)
    areas = json_numbers(area)
    has_area, has_score = ~np.isnan(area), ~np.isnan(ds.score)
    anns = []
    for r, (aid, iid, cid, crowd, extra, kp, nk, box, ar) in enumerate(zip(
            ds.ann_id.tolist(), ds.image_id.tolist(), ds.category_id.tolist(), ds.iscrowd.astype(np.int64).tolist(),
            ds.extra, flat, ds.num_keypoints.tolist(), boxes, areas)):
        a: dict[str, Any] = {"id": aid, "image_id": iid, "category_id": cid, "iscrowd": crowd}
        if extra:
            a.update(extra)
        a["keypoints"] = kp
        a["num_keypoints"] = nk
        if has_box[r]:
            a["bbox"] = box
        if has_area[r]:
            a["area"] = ar
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
    out["categories"] = [category_to_json(c) for c in ds.categories] + ds.other_categories
    return out


def _skeleton_matches(raw: Any, cat: Category) -> bool:
    K = cat.num_keypoints
    try:
        conv = [(a - 1, b - 1) for a, b in raw if 1 <= a <= K and 1 <= b <= K]
    except (TypeError, ValueError):
        return False
    return conv == [tuple(s) for s in cat.skeleton]


def coco_bytes(ds: KeypointDataset, path: str | Path, notes: Notes, indent: int | None = None) -> bytes:
    """The dataset as COCO keypoint JSON bytes (the one COCO writer); what the writer completed
    (area, iscrowd, num_keypoints) is counted in ``notes``. PosekitError naming ``path`` for
    NaN or infinite coordinates."""
    if not (np.isfinite(ds.keypoints).all() and np.isfinite(ds.bbox[~np.isnan(ds.bbox).any(1)]).all()):
        bad = ~np.isfinite(ds.keypoints).all(axis=(1, 2))
        who = f"annotation {int(ds.ann_id[np.flatnonzero(bad)[0]])}" if bad.any() else "a box"
        raise PosekitError(path, f"refusing to write: {who} has NaN or infinite values")
    try:
        # pre-serialised rows need orjson, which writes no other indent than 2
        return dumps_json(to_coco_dict(ds, arrays=indent in (None, 2), notes=notes), indent)
    except ValueError as exc:
        raise PosekitError(path, f"refusing to write: {exc}") from None


def save_coco(ds: KeypointDataset, path: str | Path, indent: int | None = None) -> Notes:
    """Write the dataset as COCO keypoint JSON, atomically; returns what the writer completed."""
    notes = Notes()
    write_bytes_atomic(path, coco_bytes(ds, path, notes, indent))
    return notes



# --------------------------------------------------------------------------- the format's three functions

def detect(probe: "Probe") -> int:
    """A JSON object with images, annotations or categories (50: other formats' marks win), or a
    folder whose top-level JSON files are all such objects (40: one file per split)."""
    if probe.is_dir:
        from converters.formats import head_bytes

        files = _split_files(probe.path)
        return 40 if files and all(_coco_head(head_bytes(f)) for f in files) else 0
    return 50 if _coco_head(probe.head) else 0


def _coco_head(head: bytes) -> bool:
    return head.startswith(b"{") and (b'"images"' in head or b'"annotations"' in head or b'"categories"' in head) \
        and b'"shapes"' not in head and b'"people"' not in head


def _split_files(folder: Path) -> list[Path]:
    """The COCO files of a folder of splits: its top-level ``*.json`` files, hidden ones left out."""
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".") and p.is_file())


def read(src: Path, ctx: "Context") -> "Source":
    """A COCO file's dataset (``ctx.category``: one keypoint category of it). A folder of COCO
    files, one per split (as ``-o DIR`` writes them, or COCO's ``annotations/`` folder with
    ``person_keypoints_train2017.json`` and ``person_keypoints_val2017.json``), reads as one
    dataset, each image in the split its file is named for."""
    from converters.formats import Source

    if Path(src).is_dir():
        return Source(_read_split_files(Path(src), ctx), ctx.images)
    return Source(_read_file(Path(src), ctx, None), ctx.images)


def _read_file(src: Path, ctx: "Context", split: str | None) -> KeypointDataset:
    with paused_gc():  # millions of new objects, none of them garbage
        obj, booleans = read_coco_json(src)
        ds = from_coco_dict(obj, src, None, booleans, ctx.category)
    ctx.account.seen("images", len(obj["images"]))
    ctx.account.seen("persons", len(obj["annotations"]) - len(ds.other_annotations))
    for im in ds.images:
        im.split = split
    return ds


def _read_split_files(folder: Path, ctx: "Context") -> KeypointDataset:
    """The files of a folder, one dataset: same categories, ids that do not repeat across files."""
    from .dataset import concatenate

    files = _split_files(folder)
    if not files:
        raise PosekitError(folder, "no COCO .json file in this folder")
    parts = [_read_file(f, ctx, split_named_by(f.stem) or f.stem) for f in files]
    for f, part in zip(files[1:], parts[1:]):
        if [category_to_json(c) for c in part.categories] != [category_to_json(c) for c in parts[0].categories]:
            raise PosekitError(f, f"has other categories than {files[0].name}; files of one folder are one dataset")
    for ids, what in (([im.id for p in parts for im in p.images], "image"),
                      (np.concatenate([p.ann_id for p in parts]).tolist(), "annotation")):
        if len(set(ids)) != len(ids):
            raise PosekitError(folder, f"{what} ids repeat across the files (e.g. {_first_repeat(ids)}); they are "
                                       f"not splits of one dataset: join them with `annotate merge`")
    ds = concatenate(parts)
    for f, part in zip(files[1:], parts[1:]):
        ds.notes.merge(part.notes)
        if (part.info, part.licenses, part.top_extra) != (ds.info, ds.licenses, ds.top_extra):
            ds.notes.lost(f"COCO info/licenses/other top-level fields of {f.name} that differ from {files[0].name}'s", 1)
    return ds


def _first_repeat(ids: list) -> Any:
    seen: set = set()
    return next(i for i in ids if i in seen or seen.add(i))


_SPLIT_WORD = re.compile(r"(?:^|[_\-. ])(train|val|valid|validation|test)(?:\d*)(?=$|[_\-. ])", re.IGNORECASE)


def split_named_by(stem: str) -> str | None:
    """``train``, ``val`` or ``test`` when a file stem names exactly one of them as a word
    (``person_keypoints_val2017``, ``coco_train``, ``test``); else None."""
    found = {m.group(1).lower() for m in _SPLIT_WORD.finditer(stem)}
    found = {"val" if w in ("valid", "validation") else w for w in found}
    return found.pop() if len(found) == 1 else None


def write(ds: KeypointDataset, dst: Path, ctx: "Context", images_dir: Path | None) -> "Output":
    """One COCO file; to a folder (``-o DIR``: an existing folder or a path without suffix), one
    file per split (``train.json``, ``val.json``, ...; images of no split in ``annotations.json``)."""
    from converters.formats import Output

    if not (dst.is_dir() or not dst.suffix):
        if any(im.split is not None for im in ds.images):
            ctx.notes.lost("images' split (train/val/test) (write to a folder, -o DIR, for one COCO file per split)",
                           sum(im.split is not None for im in ds.images))
        return Output(dst.parent, {dst.name: coco_bytes(ds, dst, ctx.notes)},
                      summary=f"{len(ds.images)} images, {len(ds)} persons")
    splits = sorted({im.split for im in ds.images}, key=lambda s: (s is None, s or ""))
    files, parts = {}, []
    for split in splits:
        part = ds.on_images([im.split == split for im in ds.images])
        name = f"{split or 'annotations'}.json"
        files[name] = coco_bytes(part, dst / name, ctx.notes)
        parts.append(f"{name} {len(part.images)} images, {len(part)} persons")
    placed = {im.id for im in ds.images}
    ctx.notes.lost("annotations of categories without keypoints on no image of the file (one file per split)",
                   sum(1 for a in ds.other_annotations if a.get("image_id") not in placed))
    return Output(dst, files, folder=True, reads_back=("*.json",), summary="; ".join(parts))
