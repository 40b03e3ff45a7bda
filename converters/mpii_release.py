"""The original MPII Human Pose ``.mat`` release (``RELEASE`` struct) in columns.

Two readers give the same :class:`Release`: a vectorised one over :mod:`converters.matv5`
(used whenever the file has the release's usual shape) and one over ``scipy.io.loadmat``
(for everything else: odd shapes, big-endian or v4 files, sparse or object arrays, which
scipy then reads or rejects). Files whose bytes do not add up are rejected, not handed to scipy:
its MAT reader can crash the interpreter on them. Tests check both readers agree on generated
releases.

Semantics shared by both (MATLAB coordinates are 1-based; 1 is subtracted):

* a field is taken from a struct of one element; a struct array of several elements is a
  list (people in ``annorect``, points in ``annopoints.point``); anything else counts as absent;
* a scalar is a numeric or logical array of one element, or a one-row text holding a number;
* a point needs ``id`` in 0..15 and finite ``x``, ``y``; ``is_visible`` 0 -> v=1, anything
  else (1, missing, empty, text "1") -> v=2; a later point with the same id replaces an earlier;
* a person needs a labeled point or an ``objpos``; ``objpos``, ``scale`` and the head box are
  kept only when finite.

What each image holds and what is left out of it is counted (:class:`Walked`) for the account.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotate.errors import PosekitError
from converters.matfile import Corrupt
from converters.matv5 import CELL, STRUCT, MatTree, Unsupported, group_ranks, read_variable

NO_ANNOLIST = "RELEASE has no 'annolist'; not the MPII Human Pose .mat release"


@dataclass
class Walked:
    """Per image (``(n,)`` counts): its person elements (``annorect``) and their point elements,
    and those not read: persons with neither a placed point nor an ``objpos``, points that cannot
    be placed (id outside 0..15, a coordinate not a finite number), points replaced by a later
    point of the same id."""

    persons: np.ndarray
    points: np.ndarray
    empty_persons: np.ndarray
    bad_points: np.ndarray
    replaced_points: np.ndarray


@dataclass
class Release:
    """Images (``names`` is None where an entry has no usable ``image.name``) and people."""

    names: list[str | None]
    image_extra: list[dict[str, Any]]
    train: np.ndarray | None      # img_train per image, None when the file has none
    person_image: np.ndarray      # (P,) index into names
    person_index: np.ndarray      # (P,) position in the image's annorect
    kps16: np.ndarray             # (P, 16, 3), 0-based, v in {0, 1, 2}
    center: np.ndarray            # (P, 2), NaN where absent
    scale: np.ndarray             # (P,), NaN where absent
    head_box: np.ndarray          # (P, 4) [x, y, w, h], NaN where absent
    walked: Walked                # what each image holds and what was left out, counted


def read_release(path: Path, fast: bool = True) -> Release:
    """The release in ``path`` (vectorised reader, scipy when the file needs it)."""
    if fast:
        try:
            tree = read_variable(path, "RELEASE")
            if tree is not None:
                return _release_from_tree(tree, path)
        except FileNotFoundError:
            raise PosekitError(path, "file not found") from None
        except (IsADirectoryError, PermissionError) as exc:
            raise PosekitError(path, f"cannot read: {exc.strerror}") from None
        except Corrupt as exc:
            raise PosekitError(path, f"corrupt MATLAB .mat file ({exc})") from None
        except Unsupported:
            pass  # an unusual shape: scipy reads it
    return _release_from_scipy(path)


def _head_box(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # inf - inf: such boxes are dropped just below
        box = np.stack([np.minimum(x1, x2) - 1, np.minimum(y1, y2) - 1, np.abs(x2 - x1), np.abs(y2 - y1)],
                       axis=-1)
    return np.where(np.isfinite(box).all(axis=-1, keepdims=True), box, np.nan)


def _act_extra(cat: Any, act: Any, act_id: float) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if isinstance(cat, str) and cat:
        extra["activity_category"] = cat
    if isinstance(act, str) and act:
        extra["activity"] = act
    if math.isfinite(act_id):
        extra["activity_id"] = int(act_id)
    return extra


# ----------------------------------------------------------------------------- vectorised

def _release_from_tree(t: MatTree, path: Path) -> Release:
    root = np.zeros(1, np.int64)
    if t.get("cls", root)[0] != STRUCT or t.get("count", root)[0] != 1:
        raise Unsupported("RELEASE is not a struct")
    annolist = int(t.field(root, "annolist")[0])
    if annolist < 0:
        raise PosekitError(path, NO_ANNOLIST)
    n = _struct_list_length(t, annolist)
    images = np.full(n, annolist)
    elems = np.arange(n)

    train = None
    node = int(t.field(root, "img_train")[0])
    if node >= 0:
        values = t.numbers(node)
        if values.size != n:
            raise PosekitError(path, f"img_train has {values.size} entries but annolist has {n}")
        train = values != 0

    names = t.strings(_one(t, t.field(images, "image", elems), "name"))
    extra: list[dict[str, Any]] = [{} for _ in range(n)]
    if train is not None:
        for e, tr in zip(extra, train.tolist()):
            e["is_train"] = tr
    _tree_single_person(t, int(t.field(root, "single_person")[0]), extra)
    _tree_act(t, int(t.field(root, "act")[0]), extra)

    # people: the elements of each image's annorect struct array
    rect = t.field(images, "annorect", elems)
    pimg, pidx = _list_elements(t, rect, "annorect")
    prect = rect[pimg]
    *corners, scale, objpos, annopoints = t.fields(prect, ("x1", "y1", "x2", "y2", "scale", "objpos", "annopoints"),
                                                    pidx)
    head = _head_box(*(t.scalars(c) for c in corners))
    scale = t.scalars(scale)
    center = np.stack([t.scalars(c) for c in t.fields(_one(t, objpos), ("x", "y"))], 1) - 1

    # points: the elements of each person's annopoints.point struct array
    point = _one(t, _one(t, annopoints), "point")
    owner, pe = _list_elements(t, point, "annopoints.point")
    pid, x, y, vis = (t.scalars(c) for c in t.fields(point[owner], ("id", "x", "y", "is_visible"), pe))
    kps, bad, replaced = _place_points(prect.shape[0], owner, pid, x, y, vis)
    return _release(names, extra, train, pimg, pidx, kps, center, scale, head, (owner, bad, replaced))


def _list_elements(t: MatTree, nodes: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The elements of struct arrays used as lists: for each, the index of its node in ``nodes``
    and its position there. Anything but a struct has none; Unsupported for a cell or a 2-D
    array (scipy's reading of those differs)."""
    cls, count, vector = t.columns(("cls", "count", "vector"), nodes)
    count = np.where(cls == STRUCT, count, 0)
    if (cls == CELL).any() or ((count > 1) & ~vector).any():
        raise Unsupported(f"{what} of an unusual shape")
    return np.repeat(np.arange(nodes.shape[0]), count), group_ranks(count)


def _struct_list_length(t: MatTree, node: int) -> int:
    """Elements of a struct used as a list; Unsupported for the shapes scipy would read otherwise."""
    nodes = np.array([node])
    if t.get("cls", nodes)[0] != STRUCT or not t.get("vector", nodes)[0]:
        raise Unsupported("expected a struct array")
    return int(t.get("count", nodes)[0])


def _one(t: MatTree, nodes: np.ndarray, name: str | None = None) -> np.ndarray:
    """``nodes`` where they are structs of exactly one element (else -1), or their field ``name``."""
    cls = t.get("cls", nodes)
    if (cls == CELL).any():
        raise Unsupported("a cell where a struct is expected")
    ok = (cls == STRUCT) & (t.get("count", nodes) == 1)
    nodes = np.where(ok, nodes, -1)
    return nodes if name is None else t.field(nodes, name)


def _tree_single_person(t: MatTree, node: int, extra: list[dict[str, Any]]) -> None:
    if node < 0:
        return
    cells = t.cells(node)
    if cells.shape[0] == 1 or not t.get("vector", np.array([node]))[0]:
        raise Unsupported("single_person of an unusual shape")
    flat, count = t.number_lists(cells[:len(extra)])
    finite = np.isfinite(flat)
    ok = np.ones(count.shape[0], bool)
    ok[np.repeat(np.arange(count.shape[0]), count)[~finite]] = False
    values = (np.where(finite, flat, 0).astype(np.int64) - 1).tolist()
    for e, a, n, good in zip(extra, (np.cumsum(count) - count).tolist(), count.tolist(), ok.tolist()):
        if good:
            e["single_person"] = values[a:a + n]


def _tree_act(t: MatTree, node: int, extra: list[dict[str, Any]]) -> None:
    if node < 0:
        return
    cls = t.get("cls", np.array([node]))[0]
    if cls != STRUCT:
        if cls == CELL:
            raise Unsupported("act as a cell array")
        return
    n = min(_struct_list_length(t, node), len(extra))
    acts, elems = np.full(n, node), np.arange(n)
    cat, name, act_id = t.fields(acts, ("cat_name", "act_name", "act_id"), elems)
    cats, names, ids = t.strings(cat), t.strings(name), t.scalars(act_id)
    seen: dict[tuple, dict[str, Any]] = {}  # a few hundred activities over all the images
    for e, key in zip(extra, zip(cats, names, ids.tolist())):
        act = seen.get(key)
        if act is None:
            act = seen[key] = _act_extra(*key)
        e.update(act)


def _place_points(n_persons: int, owner: np.ndarray, pid: np.ndarray, x: np.ndarray, y: np.ndarray,
                  vis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P, 16, 3)`` keypoints from point columns (1-based x, y; NaN where absent), later
    duplicates winning; and the owners of the points left out: those that cannot be placed and
    those replaced by a later duplicate."""
    with np.errstate(invalid="ignore"):
        good = (pid >= 0) & (pid <= 15) & np.isfinite(x) & np.isfinite(y)
    idx = np.flatnonzero(good)
    slot = owner[idx] * 16 + pid[idx].astype(np.int64)
    replaced = np.zeros(0, np.int64)
    if idx.size and np.bincount(slot).max() > 1:  # the same id twice in a person: keep the last
        _, last = np.unique(slot[::-1], return_index=True)
        keep = np.zeros(idx.shape[0], bool)
        keep[idx.shape[0] - 1 - last] = True
        replaced = owner[idx[~keep]]
        idx, slot = idx[keep], slot[keep]
    kps = np.zeros((n_persons * 16, 3))
    kps[slot, 0] = x[idx] - 1
    kps[slot, 1] = y[idx] - 1
    kps[slot, 2] = np.where(vis[idx] == 0, 1, 2)
    return kps.reshape(n_persons, 16, 3), owner[~good], replaced


def _release(names: list[str | None], extra: list[dict[str, Any]], train: np.ndarray | None, pimg: np.ndarray,
             pidx: np.ndarray, kps: np.ndarray, center: np.ndarray, scale: np.ndarray, head: np.ndarray,
             owners: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Release:
    """Both readers' last step: values that are not finite become absent (NaN), and annorect
    entries that carry no person (no labeled point and no objpos) are dropped; ``owners``: the
    persons of every point element, of those not placed and of those replaced (counted)."""
    center = np.where(np.isfinite(center).all(axis=1, keepdims=True), center, np.nan)
    scale = np.where(np.isfinite(scale), scale, np.nan)
    keep = (kps[:, :, 2] > 0).any(axis=1) | np.isfinite(center).all(axis=1)
    n = len(names)
    per_image = [np.bincount(pimg[o].astype(np.int64), minlength=n) for o in (np.arange(pimg.shape[0]), *owners)]
    walked = Walked(per_image[0], per_image[1], np.bincount(pimg[~keep], minlength=n), per_image[2], per_image[3])
    return Release(names, extra, train, pimg[keep], pidx[keep], kps[keep], center[keep], scale[keep], head[keep],
                   walked)


# ----------------------------------------------------------------------------- scipy

def _load_scipy(path: Path) -> Any:
    import scipy.io

    try:
        with open(path, "rb") as fh:  # v5 files: MATLAB's uint16 char data is UTF-16 in the file's byte order
            marker = fh.read(128)[126:128]
        codec = {b"IM": {"uint16_codec": "utf-16-le"}, b"MI": {"uint16_codec": "utf-16-be"}}.get(marker, {})
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True, **codec)
    except FileNotFoundError:
        raise PosekitError(path, "file not found") from None
    except Exception as exc:  # scipy raises many types for corrupt files
        raise PosekitError(path, f"not a readable MATLAB .mat file ({exc.__class__.__name__}: {exc})") from None
    release = mat.get("RELEASE")
    if release is None:
        raise PosekitError(path, "no RELEASE struct; not the MPII Human Pose .mat release")
    if _field(release, "annolist") is None:
        raise PosekitError(path, NO_ANNOLIST)
    return release


def _as_list(x: Any) -> list:
    """MATLAB struct arrays load as ndarrays, single structs as objects, empty as size-0 arrays."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _number(x: Any) -> float:
    """A scalar as :meth:`MatTree.scalars` means it; NaN for anything else."""
    if type(x) in (float, int, bool):  # the common case after squeeze_me
        return float(x)
    if isinstance(x, np.ndarray):
        if x.size != 1 or x.dtype.kind not in "biufU":
            return np.nan
        x = x.item()
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return np.nan
    if isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)):
        return float(x)
    return np.nan


def _field(s: Any, name: str) -> Any:
    return getattr(s, name, None) if not isinstance(s, np.ndarray) else None


def _release_from_scipy(path: Path) -> Release:
    release = _load_scipy(path)
    annolist = _as_list(release.annolist)
    n = len(annolist)
    img_train = _field(release, "img_train")
    train = None
    if img_train is not None:
        try:
            values = np.asarray(img_train, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise PosekitError(path, "img_train is not numeric") from None
        if values.size != n:
            raise PosekitError(path, f"img_train has {values.size} entries but annolist has {n}")
        train = values != 0
    singles = _as_list(_field(release, "single_person"))
    acts = _as_list(_field(release, "act"))
    names: list[str | None] = []
    extra: list[dict[str, Any]] = []
    pimg, pidx, points, center, scale, head = [], [], [], [], [], []
    for i, entry in enumerate(annolist):
        name = _field(_field(entry, "image"), "name")
        names.append(name if isinstance(name, str) else None)
        e: dict[str, Any] = {}
        if train is not None:
            e["is_train"] = bool(train[i])
        if i < len(singles):
            try:
                sp = np.atleast_1d(np.asarray(singles[i], dtype=np.float64)).ravel()
            except (TypeError, ValueError):
                sp = np.array([np.nan])
            if np.isfinite(sp).all():
                e["single_person"] = (sp.astype(int) - 1).tolist()
        if i < len(acts):
            act = acts[i]
            e.update(_act_extra(_field(act, "cat_name"), _field(act, "act_name"), _number(_field(act, "act_id"))))
        extra.append(e)
        for r, rect in enumerate(_as_list(_field(entry, "annorect"))):
            pimg.append(i)
            pidx.append(r)
            owner = len(pimg) - 1
            points += [[owner] + [_number(_field(p, k)) for k in ("id", "x", "y", "is_visible")]
                       for p in _as_list(_field(_field(rect, "annopoints"), "point"))]
            op = _field(rect, "objpos")
            center.append([_number(_field(op, "x")) - 1, _number(_field(op, "y")) - 1])
            scale.append(_number(_field(rect, "scale")))
            head.append([_number(_field(rect, k)) for k in ("x1", "y1", "x2", "y2")])
    P = len(pimg)
    pts = np.array(points, dtype=np.float64).reshape(-1, 5)
    owner = pts[:, 0].astype(np.int64)
    kps, bad, replaced = _place_points(P, owner, pts[:, 1], pts[:, 2], pts[:, 3], pts[:, 4])
    head_cols = np.array(head, dtype=np.float64).reshape(P, 4).T
    return _release(names, extra, train, np.array(pimg, np.int64), np.array(pidx, np.int64), kps,
                    np.array(center, dtype=np.float64).reshape(P, 2), np.array(scale, np.float64),
                    _head_box(*head_cols), (owner, bad, replaced))
