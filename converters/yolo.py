"""Ultralytics YOLO-pose <-> KeypointDataset.

The folder is laid out as Ultralytics' loader finds it: ``data.yaml``; ``images/<split>/<file_name>``
(a relative symbolic link to the image, not a copy; sub-folders kept); ``labels/<split>/<file_name>.txt``
(the last ``/images/`` of the image's path replaced by ``/labels/``, the image suffix by ``.txt``,
as ``ultralytics.data.utils.img2label_paths`` does; ``cam01.0030`` keeps its dot); an image
without persons has no label file, which Ultralytics reads as a background image. ``<split>`` is
the image's train, val or test (data.yaml names each split's folder; images of no split go to
train); a dataset that names no split at all is written without split folders, data.yaml naming
``images`` as both train and val. One line per person::

    class cx cy w h  x1 y1 v1 ... xK yK vK       (kpt_shape [K, 3])
    class cx cy w h  x1 y1 ... xK yK             (kpt_shape [K, 2])

all normalised to the image's width and height; ``class`` is the index of the person's
category. Ultralytics refuses a whole image's labels when any value lies outside [0, 1] (1 %
tolerance), so keypoints outside the image are hidden (v=0 at 0,0), clipped to the edge or
their persons dropped (``--outside``), and boxes are clipped to the image, all counted. In
``[K, 2]`` files an unlabeled keypoint is written at -0.001,-0.001: Ultralytics marks points
with a negative coordinate as not visible, and its label check allows values down to -0.01.
A person without a box gets one around its keypoints, a negative width or height is turned,
and a line repeating another of its image is left out (Ultralytics keeps one), all counted.

Reading follows Ultralytics' loader: data.yaml (or the folder's one dataset ``*.yaml``/``*.yml``)
with ``path`` and ``train``/``val``/``test`` as folders or image lists (Roboflow's
``../train/images``, CVAT's ``train.txt``, Windows separators), each image's split the key that
names it (the first, when two do: counted), hidden files skipped; blank and ``#`` comment lines
of label files skipped, a line repeating another of its file left out (as Ultralytics does;
counted); ``0 0`` points of ``[K, 2]`` files (CVAT's padding) read as unlabeled. The third value
of a ``[K, 3]`` keypoint is decided per label file: a visibility flag when every one in the file
is 0, 1 or 2; else a confidence in [0, 1], as Ultralytics' ``predict(save_txt=True)`` writes
them (``Results.save_txt``): v=2 where > 0, v=0 where 0, the raw values kept in
``keypoint_scores`` and their mean over the labeled keypoints as the person's score (as the
OpenPose reader does), counted; other values (3, -1, or flags mixed with confidences in one
file) are refused. A bad label file refuses the conversion, or with ``--skip-bad`` is skipped
with its image, counted (Ultralytics skips such images too).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotate.dataset import Category, ImageInfo, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import image_size, image_stem
from annotate.io import relative_name
from annotate.notes import Notes

from .formats import Context, Output, Source, layout_option, class_index, head_bytes, image_rows, note_unheld

if TYPE_CHECKING:
    from .formats import Probe

#: Suffixes Ultralytics loads as images (ultralytics.data.utils.IMG_FORMATS)
ULTRALYTICS_IMAGES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
HIDDEN_2D = -0.001  # an unlabeled keypoint in a [K, 2] file
_CHUNK = 16384       # rows formatted at once (bounds the memory of the digit arrays)


def label_path(image_path: str) -> str:
    """The label file Ultralytics reads for an image (its ``img2label_paths`` rule)."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(image_path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


# --------------------------------------------------------------------------- writing

# "d.ddd" of 0.000..9.999 as the first 5 of 8 little-endian bytes, and "ddd " of 000..999: a
# value's 9 characters "d.dddddd " are two table look-ups stored through strided views
_HEAD = np.zeros((10000, 8), np.uint8)
_HEAD[:, :5] = np.frombuffer(b"".join(b"%d.%03d" % divmod(i, 1000) for i in range(10000)), np.uint8).reshape(-1, 5)
_HEAD = _HEAD.view("<u8").ravel()
_TAIL = np.frombuffer(b"".join(b"%03d " % i for i in range(1000)), "<u4")
_NEG = np.frombuffer(b"-0.00100", np.uint8)


def _put_fixed(body: np.ndarray, start: int, step: int, values: np.ndarray) -> None:
    """Write ``(N, M)`` numbers in [0, 10) (or -0.001) into the rows of the ``(N, W)`` byte array
    ``body`` as ``d.dddddd`` and a space, value j at column ``start + j * step``."""
    n, m = values.shape
    if n == 0 or m == 0:
        return
    v = np.rint(np.abs(values) * 1e6).astype(np.int64)
    hi, lo = np.divmod(v, 1000)
    w = body.shape[1]
    np.ndarray((n, m), "<u8", body, start, (w, step))[...] = _HEAD[hi]
    np.ndarray((n, m), "<u4", body, start + 5, (w, step))[...] = _TAIL[lo]
    neg_r, neg_c = np.nonzero(values < 0)
    if len(neg_r):  # "-0.00100" keeps the width: the leading digit becomes the sign
        body[neg_r[:, None], (start + neg_c * step)[:, None] + np.arange(8)] = _NEG


def format_rows(classes: np.ndarray, box: np.ndarray, kps: np.ndarray, ndim: int) -> tuple[bytes, np.ndarray]:
    """The text lines of all persons (``class cx cy w h x y [v] ...``, normalised values) as one
    buffer, and each line's start offset (plus the end): line i is ``buf[off[i]:off[i + 1]]``."""
    n, K = kps.shape[:2]
    if n == 0:
        return b"", np.zeros(1, np.int64)
    one_digit = int(classes.max()) < 10
    head = 2 if one_digit else 0  # every line the same width: the class digit is one more column
    per_kp = 18 + (2 if ndim == 3 else 0)
    width = head + 36 + K * per_kp
    parts: list[bytes] = []
    lengths: list[np.ndarray] = []
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        body = np.empty((e - s, width), np.uint8)
        if one_digit:
            body[:, 0] = 48 + classes[s:e]
            body[:, 1] = ord(" ")
        _put_fixed(body, head, 9, box[s:e])
        _put_fixed(body, head + 36, per_kp, kps[s:e, :, 0])
        _put_fixed(body, head + 45, per_kp, kps[s:e, :, 1])
        if ndim == 3:
            body[:, head + 54::per_kp] = 48 + kps[s:e, :, 2].astype(np.int64)
            body[:, head + 55::per_kp] = ord(" ")
        body[:, -1] = ord("\n")
        raw = body.tobytes()
        if one_digit:
            parts.append(raw)
            lengths.append(np.full(e - s, width, np.int64))
        else:
            prefix = {c: b"%d " % c for c in np.unique(classes[s:e]).tolist()}
            lines = [prefix[c] + raw[i * width:(i + 1) * width] for i, c in enumerate(classes[s:e].tolist())]
            parts.append(b"".join(lines))
            lengths.append(np.fromiter(map(len, lines), np.int64, e - s))
    off = np.zeros(n + 1, np.int64)
    np.cumsum(np.concatenate(lengths), out=off[1:])
    return b"".join(parts), off


def write(ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
    """The YOLO-pose folder for the dataset (nothing written here; see :func:`write_output`):
    each split's images linked under ``images/<split>/`` and labeled under ``labels/<split>/``,
    data.yaml's ``train``/``val``/``test`` naming those folders (a dataset without splits keeps
    ``images/`` and ``labels/`` and its data.yaml names ``images`` for both train and val)."""
    if images_dir is None:
        raise PosekitError(None, "YOLO-pose links every image beside its labels: pass --images DIR "
                                 "(the folder the file names are relative to)")
    ndim = 3 if ctx.visibility else 2
    lines = _lines(ds, _held_rows(ds, ctx.notes), ndim, ctx)
    buf, off = format_rows(lines.cls, lines.box, lines.kps, ndim)
    bounds = off[np.searchsorted(lines.img, np.arange(len(ds.images) + 1))].tolist()
    splits = _image_splits(ds, ctx.notes)
    rels = [fn if _plain(fn) else relative_name(fn) for fn in (im.file_name for im in ds.images)]
    outs = rels if splits is None else [_in_split(rel, s) for rel, s in zip(rels, splits)]
    ctx.notes.changed("image file names put in their split's folder (images/<split>/; read back so named)",
                      sum(out != rel for rel, out in zip(rels, outs)))
    labels = [_label_name(out) for out in outs]
    _refuse_shared_labels(ds, labels)
    _refuse_missing(images_dir, rels, len(ds.images))
    links = _links(dst, images_dir, rels, outs)
    # an image without persons has no label file (Ultralytics: background)
    files = {label: buf[a:b] for label, a, b in zip(labels, bounds, bounds[1:]) if b > a}
    ctx.notes.lost("images whose suffix Ultralytics does not load as an image (linked, labeled, but unused)",
                   sum(rel[rel.rfind("."):].lower() not in ULTRALYTICS_IMAGES for rel in rels))
    folders, said = _split_folders(splits)
    files["data.yaml"] = _data_yaml(ds, ndim, folders).encode()
    return Output(dst, files, links, folder=True, persons=len(lines.img),
                  summary=f"{len(links)} images linked, {len(lines.img)} persons in {len(files) - 1} label files, "
                          f"kpt_shape [{ds.category.num_keypoints}, {ndim}], {len(ds.categories)} class(es); {said}",
                  # earlier label files (and image links) would read back with the new ones
                  reads_back=("labels/**/*.txt", *(("images/**/*",) if links else ())))


@dataclass
class _Lines:
    """The label lines to write, one per person, in image order: image index, class, normalised
    box (cx, cy, w, h) and keypoints (x, y, v)."""

    img: np.ndarray
    cls: np.ndarray
    box: np.ndarray
    kps: np.ndarray

    def take(self, rows: np.ndarray) -> "_Lines":
        return _Lines(self.img[rows], self.cls[rows], self.box[rows], self.kps[rows])


def _held_rows(ds: KeypointDataset, notes: Notes) -> np.ndarray:
    """The dataset's rows YOLO-pose can hold (crowd regions left out), after counting what the
    format cannot hold (category ids and fields, annotation and image fields)."""
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions (YOLO-pose has none; left out)", int(crowd.sum()), unit="persons")
    note_unheld(ds, notes, crowd_rows=crowd, splits=True)
    ids = [c.id for c in ds.categories]
    if ids != list(range(1, len(ids) + 1)):
        notes.lost(f"category ids {ids} (YOLO classes are 0..{len(ids) - 1}; read back as class + 1)", 1)
    for c in ds.categories:
        extra = {k: v for k, v in c.extra.items() if not k.startswith("_") and k != "supercategory"}
        if extra:
            notes.lost(f"category fields ({', '.join(extra)}) of '{c.name}' (data.yaml has no place for them)", 1)
    return np.flatnonzero(~crowd)


def _lines(ds: KeypointDataset, rows: np.ndarray, ndim: int, ctx: Context) -> _Lines:
    """The label lines of the rows: keypoints outside the image treated by ``--outside``, boxes
    made or mended, values normalised, repeated lines left out (all counted)."""
    notes = ctx.notes
    img_of = image_rows(ds)[rows]
    wh = np.array([(im.width, im.height) for im in ds.images], dtype=np.float64).reshape(-1, 2)
    W, H = wh[img_of, 0], wh[img_of, 1]
    kps = ds.keypoints[rows].copy()
    keep = _mend_keypoints(kps, W, H, ndim, ctx.outside, notes)
    x0, y0, x1, y1, has_box = _person_boxes(ds.bbox[rows], ds.keypoints[rows], W, H, ctx.box_margin, keep, notes)
    keep &= has_box
    W, H, kps = W[keep], H[keep], kps[keep]
    x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
    box = np.stack([(x0 + x1) / 2 / W, (y0 + y1) / 2 / H, (x1 - x0) / W, (y1 - y0) / H], 1)
    norm = np.empty(kps.shape)
    norm[..., 0] = kps[..., 0] / W[:, None]
    norm[..., 1] = kps[..., 1] / H[:, None]
    norm[..., 2] = kps[..., 2]
    if ndim == 2:
        hidden = norm[..., 2] == 0
        norm[hidden, 0] = norm[hidden, 1] = HIDDEN_2D
    cls_all, _ = class_index(ds)
    lines = _Lines(img_of[keep], cls_all[rows[keep]], box, norm)
    dup = _duplicates(lines.img, lines.cls, lines.box, lines.kps, ndim)
    notes.lost("duplicate persons (same class, box and keypoints as another in their image, as written; "
               "Ultralytics keeps one)", int(dup.sum()), unit="persons")
    if dup.any():
        lines = lines.take(~dup)
    tiny = (wh < 10).any(axis=1)  # Ultralytics' check_image refuses them
    notes.lost("images smaller than 10 px a side (linked and labeled, but Ultralytics skips them as corrupt)",
               int(tiny.sum()))
    notes.lost("persons in images smaller than 10 px a side (written; Ultralytics skips them)",
               int(tiny[lines.img].sum()))
    if (lines.img[1:] < lines.img[:-1]).any():  # label files hold their persons in the dataset's order
        lines = lines.take(np.argsort(lines.img, kind="stable"))
    return lines


def _mend_keypoints(kps: np.ndarray, W: np.ndarray, H: np.ndarray, ndim: int, outside: str,
                    notes: Notes) -> np.ndarray:
    """Make the keypoints (``(N, K, 3)``, changed in place) writable: visibility rounded to 0, 1
    or 2, labeled points outside the image hidden or clipped per ``outside``, unlabeled ones at
    0,0; returns the persons to keep (``--outside drop`` leaves out the others, counted)."""
    x, y, v = kps[..., 0], kps[..., 1], kps[..., 2]
    odd = ~np.isin(v, (0, 1, 2))
    if odd.any():
        v[odd] = np.clip(np.rint(v[odd]), 0, 2)
        notes.changed("keypoints with visibility other than 0, 1 or 2 rounded to 0, 1 or 2", int(odd.sum()))
    lab = v > 0
    out = (x < 0) | (x > W[:, None]) | (y < 0) | (y > H[:, None])
    out_lab = lab & out
    keep = np.ones(len(kps), bool)
    if outside == "hide":
        v[out_lab] = 0
        notes.changed("labeled keypoints outside the image hidden (v=0 at 0,0; --outside hide)", int(out_lab.sum()))
    elif outside == "clip":
        np.clip(x, 0, W[:, None], out=x)
        np.clip(y, 0, H[:, None], out=y)
        notes.changed("labeled keypoints outside the image moved to its edge (--outside clip)", int(out_lab.sum()))
    else:
        keep = ~out_lab.any(axis=1)
        notes.lost("persons with keypoints outside the image (--outside drop)", int((~keep).sum()), unit="persons")
    zero = (out & ~lab) | (out_lab & (outside == "hide"))
    notes.changed("unlabeled keypoints' coordinates outside the image set to 0,0",
                  int((out & ~lab & ((x != 0) | (y != 0))).sum()))
    x[zero] = 0
    y[zero] = 0
    if ndim == 2:
        notes.lost("occluded flags (v=1) of keypoints ([K, 2] has no visibility; read back as v=2)",
                   int((v[keep] == 1).sum()))
    return keep


def _person_boxes(box: np.ndarray, kps: np.ndarray, W: np.ndarray, H: np.ndarray, margin: float, keep: np.ndarray,
                  notes: Notes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each person's box as corners clipped to its image, and whether it has one. A missing box
    is made around the labeled keypoints (``--box-margin``); a negative width or height is turned
    the right way (Ultralytics refuses the image's labels otherwise); all counted among ``keep``."""
    box = box.copy()
    none = ~np.isfinite(box).all(axis=1)
    if none.any():
        from annotate.dataset import boxes_from_keypoints

        box[none] = boxes_from_keypoints(kps[none], np.stack([W[none], H[none]], 1), margin)
    has = np.isfinite(box).all(axis=1)
    notes.changed("persons without a box given one around their labeled keypoints (--box-margin)",
                  int((none & has & keep).sum()))
    notes.lost("persons with neither a box nor a labeled keypoint (YOLO needs a box)", int((~has & keep).sum()),
               unit="persons")
    box[~has] = 0
    flipped = (box[:, 2] < 0) | (box[:, 3] < 0)
    notes.changed("person boxes with a negative width or height turned the right way", int((flipped & keep).sum()))
    lo = np.minimum(box[:, :2], box[:, :2] + box[:, 2:])
    hi = np.maximum(box[:, :2], box[:, :2] + box[:, 2:])
    x0, x1 = np.clip(lo[:, 0], 0, W), np.clip(hi[:, 0], 0, W)
    y0, y1 = np.clip(lo[:, 1], 0, H), np.clip(hi[:, 1], 0, H)
    clipped = keep & has & (np.abs(np.stack([x0, y0, x1, y1], 1) - np.concatenate([lo, hi], 1)) > 1e-9).any(axis=1)
    notes.changed("person boxes clipped to the image", int(clipped.sum()))
    return x0, y0, x1, y1, has


def _duplicates(img: np.ndarray, cls: np.ndarray, box: np.ndarray, kps: np.ndarray, ndim: int) -> np.ndarray:
    """Persons whose written line repeats an earlier one of the same image (Ultralytics drops such
    rows). Rows are hashed on image, class and rounded box; only those sharing a hash with another
    are hashed again with their keypoints, and equal hashes compared in full."""
    n = len(img)
    dup = np.zeros(n, bool)
    if n < 2:
        return dup
    key = np.empty((n, 6), np.int64)
    key[:, 0], key[:, 1] = img, cls
    key[:, 2:] = np.rint(box * 1e6)
    idx = np.flatnonzero(_repeated(key))
    if len(idx) < 2:
        return dup
    m = len(idx)
    full = np.concatenate([key[idx], np.rint(kps[idx, :, :2] * 1e6).reshape(m, -1).astype(np.int64),
                           kps[idx, :, 2].astype(np.int64) if ndim == 3 else np.zeros((m, 0), np.int64)], axis=1)
    dup[idx[_repeated(full, later=True)]] = True
    return dup


def _repeated(rows: np.ndarray, later: bool = False) -> np.ndarray:
    """Rows (int64) equal to another row (``later``: only those after an equal one): hashed with
    random odd multipliers, equal hashes compared in full."""
    mult = np.random.default_rng(0).integers(1, 2 ** 63, rows.shape[1], dtype=np.uint64) | np.uint64(1)
    h = rows.view(np.uint64) @ mult
    order = np.argsort(h, kind="stable")
    cand = np.flatnonzero(h[order[1:]] == h[order[:-1]])
    a, b = order[cand], order[cand + 1]
    same = (rows[a] == rows[b]).all(axis=1)
    out = np.zeros(len(rows), bool)
    out[np.maximum(a, b)[same]] = True
    if not later:
        out[np.minimum(a, b)[same]] = True
    return out


def _plain(fn: str) -> bool:
    """A relative POSIX path with nothing to normalise (no ``.``/``..`` parts, no ``//``, no ``\\``)."""
    return bool(fn) and not (fn.startswith(("/", "./", "../")) or "\\" in fn or "//" in fn or "/./" in fn
                             or "/../" in fn or fn.endswith(("/", "/.", "/..")) or fn in (".", ".."))


def _present(root: str, names: list[str]) -> set[str]:
    """The names (relative paths) that exist under ``root``, one directory listing per folder
    instead of a stat per image."""
    folders: dict[str, list[str]] = {}
    for n in names:
        d, _, base = n.replace("\\", "/").rpartition("/")
        folders.setdefault(d, []).append(base)
    out: set[str] = set()
    for d, bases in folders.items():
        try:
            listed = set(os.listdir(os.path.join(root, d) if d else root))
        except OSError:
            continue
        out.update(f"{d}/{b}" if d else b for b in bases if b in listed)
    return out


# --------------------------------------------------------------------------- the folder's layout

#: The splits Ultralytics' data.yaml names (its ``validation`` and Roboflow's ``valid`` are val)
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"valid": "val", "validation": "val"}


def _image_splits(ds: KeypointDataset, notes: Notes) -> list[str] | None:
    """Each image's split folder (train, val or test), or None when no image names a split.
    Images of no split, and of a split data.yaml has no key for, go to train (counted)."""
    if all(im.split is None for im in ds.images):
        return None
    out: list[str] = []
    unknown: dict[str, int] = {}
    for im in ds.images:
        s = "train" if im.split is None else _SPLIT_ALIASES.get(im.split.lower(), im.split.lower())
        if s not in SPLITS:
            unknown[im.split] = unknown.get(im.split, 0) + 1
            s = "train"
        out.append(s)
    notes.changed("images of no split written to train (other images name theirs)",
                  sum(im.split is None for im in ds.images))
    if unknown:
        notes.lost(f"split names {', '.join(sorted(unknown))} (data.yaml has train, val and test; "
                   f"those images written to train)", sum(unknown.values()))
    return out


def _in_split(rel: str, split: str) -> str:
    """An image's path under ``images/``: inside its split's folder (a name that starts with the
    split's folder already, as read from such a folder, is not put in it twice)."""
    return rel if rel.startswith(f"{split}/") else f"{split}/{rel}"


def _label_name(rel: str) -> str:
    """The label file Ultralytics reads for ``images/<rel>`` (``img2label_paths``: the last
    ``/images/`` becomes ``/labels/``, the image suffix ``.txt``). A name whose suffix is not
    one of Ultralytics' image suffixes (Ultralytics never loads it) loses only a real image
    suffix (:func:`image_stem`): ``cam01.0030`` gives ``cam01.0030.txt``."""
    head, _, tail = f"/images/{rel}".rpartition("/images/")
    stem, dot, suffix = tail.rpartition(".")
    if not (dot and f".{suffix.lower()}" in ULTRALYTICS_IMAGES):
        stem = image_stem(tail)
    return f"{head[1:]}/labels/{stem}.txt" if head else f"labels/{stem}.txt"


def _refuse_shared_labels(ds: KeypointDataset, labels: list[str]) -> None:
    if len(set(labels)) == len(labels):
        return
    owner: dict[str, str] = {}
    for label, im in zip(labels, ds.images):
        if label in owner:
            raise PosekitError(None, f"images {owner[label]!r} and {im.file_name!r} would share the label file "
                                     f"{label} (Ultralytics finds labels by name without suffix); rename one")
        owner[label] = im.file_name


def _refuse_missing(images_dir: Path, rels: list[str], n: int) -> None:
    root = os.path.abspath(images_dir)
    present = _present(root, rels)
    missing = [src for src in (f"{root}{os.sep}{rel}" for rel in rels if rel not in present) if not os.path.exists(src)]
    if missing:
        raise PosekitError(missing[0], f"image not found ({len(missing)} of {n} images are missing "
                                       f"under {images_dir}); nothing written")


def _links(dst: Path, images_dir: Path, rels: list[str], outs: list[str]) -> dict[str, str]:
    """``images/<out>`` -> a relative link to the image (short links live in the inode: about 3x
    faster to make); none for an image that is already there (converting in place)."""
    root = os.path.abspath(images_dir)
    abs_dst = os.path.abspath(dst)
    in_place = os.path.realpath(root) == os.path.realpath(os.path.join(dst, "images"))
    up: dict[tuple[str, str], str] = {}
    links: dict[str, str] = {}
    for rel, out in zip(rels, outs):
        if in_place and rel == out:
            continue
        src_dir, _, base = rel.rpartition("/")
        out_dir = out.rpartition("/")[0]
        key = (src_dir, out_dir)
        if key not in up:
            up[key] = os.path.relpath(os.path.join(root, src_dir), os.path.join(abs_dst, "images", out_dir))
        links[f"images{os.sep}{out}"] = f"{up[key]}{os.sep}{base}"
    return links


def _split_folders(splits: list[str] | None) -> tuple[dict[str, str], str]:
    """data.yaml's ``train``/``val`` (and ``test``) folders and the summary's word on them: a
    split without images borrows the other's folder (Ultralytics needs both keys)."""
    if splits is None:
        return {"train": "images", "val": "images"}, "no splits: val = train (Ultralytics needs a val key)"
    counts = {s: splits.count(s) for s in SPLITS if s in splits}
    folders = {s: f"images/{s}" for s in counts}
    said = ", ".join(f"{s} {n}" for s, n in counts.items())
    for need in ("train", "val"):
        if need not in folders:
            other = next(s for s in SPLITS if s in counts and s != need)
            folders[need] = folders[other]
            said += f"; {need} = {other} (no {need} images; Ultralytics needs a {need} key)"
    return folders, f"splits: {said}"


def _data_yaml(ds: KeypointDataset, ndim: int, folders: dict[str, str]) -> str:
    from annotate.training_config import ultralytics_data_yaml

    return ultralytics_data_yaml(ds, ndim, train=folders["train"], val=folders["val"], test=folders.get("test"))


# --------------------------------------------------------------------------- reading

def read(src: Path, ctx: Context) -> Source:
    """Read a YOLO-pose folder (or its data.yaml) as Ultralytics' loader does (``data.yaml``
    optional: without it K comes from the column count, 3 values per keypoint when that divides,
    and 17 keypoints are COCO-17's). Each image's split is the data.yaml key that names it."""
    if not (src.is_dir() or (src.is_file() and src.suffix.lower() in (".yaml", ".yml"))):
        raise PosekitError(src, "expected a YOLO-pose folder (data.yaml, images/, labels/) or its data.yaml")
    data, yaml_path = _yaml(src)
    folder = src if src.is_dir() else src.parent
    images, images_root, label_dirs = _image_files(folder, data, ctx.notes)
    if not images:
        raise PosekitError(src, "no images found (Ultralytics' image suffixes) under images/ or data.yaml's folders")
    owner = yaml_path or src
    class_names = _class_names(data, owner)
    k_hint = layout_option(ctx.layout).num_keypoints if ctx.layout else None
    walk = _walk_labels(images, _kpt_shape(data, owner), class_names, k_hint, ctx)
    K, ndim = (walk.K, walk.ndim) if walk.K is not None else (17, 3)  # no labels: COCO-17, Ultralytics' default
    if class_names is None:
        n_cls = int(max((a[:, 0].max() for _, _, a, _ in walk.images if a is not None), default=0)) + 1
        class_names = ["person"] if n_cls == 1 else [f"class_{i}" for i in range(n_cls)]
    cats = _categories(data, class_names, K, ctx, owner, ctx.notes)
    flip = data.get("flip_idx")
    if isinstance(flip, list) and len(flip) == K and flip != cats[0].layout.flip_indices:
        ctx.notes.lost("flip_idx of data.yaml (COCO has no flip pairs; they follow left_/right_ names, "
                       "which give other pairs here)", 1)
    _check_unused_labels(label_dirs, walk.used, ctx.notes)
    return Source(_dataset(walk, K, ndim, cats, images_root, ctx), images_root)


def _kpt_shape(data: dict[str, Any], owner: Path | str) -> tuple[int | None, int | None]:
    shape = data.get("kpt_shape")
    if shape is None:
        return None, None
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(x, int) for x in shape)
            and shape[0] > 0 and shape[1] in (2, 3)):
        raise PosekitError(owner, f"kpt_shape {shape!r} must be [K, 2] or [K, 3]")
    return shape[0], shape[1]


@dataclass
class _Walk:
    """What walking the label files found: per image (path, split, its lines' values or None,
    whether they hold confidences), K and ndim, the label files read."""

    K: int | None
    ndim: int | None
    images: list[tuple[Path, str | None, np.ndarray | None, bool]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)


def _walk_labels(images: list[tuple[Path, str | None]], shape: tuple[int | None, int | None],
                 class_names: list[str] | None, k_hint: int | None, ctx: Context) -> _Walk:
    """Read each image's label file, counting images and lines (persons) as seen; a bad label
    file refuses the conversion, or with ``--skip-bad`` is skipped with its image (counted)."""
    walk = _Walk(*shape)
    n_cls = None if class_names is None else len(class_names)
    bad: set[str] = set()
    copies = 0  # persons read again for a second image of the same name
    for img, split in images:
        ctx.account.seen("images")
        lp = label_path(os.path.abspath(img))
        rows: list[list[str]] = []
        try:
            rows = _read_label(lp) if os.path.isfile(lp) else []
            ctx.account.seen("persons", len(rows))
            arr, conf = _parse_file(lp, rows, walk, n_cls, k_hint) if rows else (None, False)
        except PosekitError as exc:
            if lp not in bad:
                bad.add(lp)
                ctx.bad(exc)
            ctx.notes.lost("images whose label file is bad (skipped with it, as Ultralytics skips them)", 1,
                           unit="images")
            ctx.notes.lost("persons in bad label files (skipped)", len(rows), unit="persons")
            continue
        copies += len(arr) if arr is not None and lp in walk.used else 0
        walk.used.add(lp)
        walk.images.append((img, split, arr, conf))
        if len(walk.images) % 1024 == 0:
            ctx.advance(1024)
    ctx.advance(len(walk.images) % 1024)
    ctx.notes.changed("persons copied to a second image that shares their label file (same name, other suffix: "
                      "x.jpg and x.png both read labels/x.txt, as in Ultralytics)", copies)
    walk.used.update(bad)
    return walk


def _parse_file(lp: str, rows: list[list[str]], walk: _Walk, n_cls: int | None,
                k_hint: int | None) -> tuple[np.ndarray, bool]:
    """One label file's values and whether its third keypoint values are confidences; the
    first file read fixes K and ndim when data.yaml does not."""
    arr, K, ndim = _parse_rows(lp, rows, walk.K, walk.ndim, k_hint)
    _check_classes(lp, arr[:, 0], n_cls)
    conf = ndim == 3 and _holds_confidences(lp, arr, K)
    walk.K, walk.ndim = K, ndim
    return arr, conf


def _dataset(walk: _Walk, K: int, ndim: int, cats: list[Category], images_root: Path,
             ctx: Context) -> KeypointDataset:
    """The dataset of the walked label files: image sizes as Ultralytics sees them, values
    scaled to pixels, labeled keypoints counted as seen, repeated lines left out (counted)."""
    images_info: list[ImageInfo] = []
    parts: list[np.ndarray] = []
    n_conf_files = 0
    for i, (img, split, arr, conf) in enumerate(walk.images):
        w, h = image_size(img)  # as Ultralytics sees it
        images_info.append(ImageInfo(i + 1, _rel_name(img, images_root), w, h, split=split))
        if arr is not None:
            # image id, the line's values, the image's size, confidences?
            parts.append(np.column_stack([np.full(len(arr), i + 1), arr, np.full(len(arr), w),
                                          np.full(len(arr), h), np.full(len(arr), conf)]))
            n_conf_files += conf
    table = np.concatenate(parts) if parts else np.zeros((0, 1 + 5 + K * ndim + 3))
    values = table[:, 1:-3]
    kp = values[:, 5:].reshape(len(table), K, ndim)
    labeled = _labeled(kp)
    ctx.account.seen("keypoints", int(labeled.sum()))
    dup = _repeated(np.column_stack([table[:, 0], values + 0.0]).view(np.int64), later=True)  # (-0.0 is 0.0)
    ctx.notes.lost("repeated lines of a label file (Ultralytics keeps one)", int(dup.sum()), unit="persons")
    ctx.notes.lost("labeled keypoints of repeated lines", int(labeled[dup].sum()), unit="keypoints")
    if dup.any():
        table, kp = table[~dup], kp[~dup]
    kps, bbox, score, extras = _pixels(table, kp, n_conf_files, ctx.notes)
    n = len(table)
    return KeypointDataset(cats[0], images_info, np.arange(1, n + 1, dtype=np.int64), table[:, 0].astype(np.int64),
                           kps, bbox, bbox[:, 2] * bbox[:, 3], np.zeros(n, bool), score, extras,
                           categories=cats, category_id=table[:, 1].astype(np.int64) + 1, notes=ctx.notes)


def _labeled(kp: np.ndarray) -> np.ndarray:
    """The labeled keypoints of label values ``(N, K, ndim)``: a third value > 0 ([K, 3]); in
    [K, 2], a point with no negative coordinate (Ultralytics' mark of a hidden point) that is
    not 0,0 (CVAT's padding)."""
    if kp.shape[2] == 3:
        return kp[..., 2] > 0
    x, y = kp[..., 0], kp[..., 1]
    return (x >= 0) & (y >= 0) & ((x != 0) | (y != 0))


def _pixels(table: np.ndarray, kp: np.ndarray, n_conf_files: int,
            notes: Notes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Keypoints ``(N, K, 3)`` and boxes in pixels, scores and extra dicts of the persons'
    table rows (image id, line values, width, height, confidences?)."""
    n, K, ndim = kp.shape
    W, H, conf_rows = table[:, -3], table[:, -2], table[:, -1].astype(bool)
    cx, cy, bw, bh = table[:, 2] * W, table[:, 3] * H, table[:, 4] * W, table[:, 5] * H
    bbox = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1)
    kps = np.zeros((n, K, 3))
    if ndim == 3:
        kps[..., 0] = kp[..., 0] * W[:, None]
        kps[..., 1] = kp[..., 1] * H[:, None]
        kps[..., 2] = np.where(conf_rows[:, None], np.where(kp[..., 2] > 0, 2, 0), kp[..., 2])
    else:
        at_origin = (kp[..., 0] == 0) & (kp[..., 1] == 0)
        vis = _labeled(kp)
        notes.changed("keypoints at exactly 0,0 in a [K, 2] file read as unlabeled (CVAT pads missing points "
                      "so; Ultralytics would take them as visible in the corner)", int(at_origin.sum()))
        kps[..., 0] = np.where(vis, kp[..., 0] * W[:, None], 0)
        kps[..., 1] = np.where(vis, kp[..., 1] * H[:, None], 0)
        kps[..., 2] = np.where(vis, 2, 0)
    score, extras = _confidences(kp, conf_rows, n_conf_files, notes)
    return kps, bbox, score, extras


#: Keys that make a YAML file a YOLO dataset's (one is enough)
_DATASET_KEYS = ("kpt_shape", "path", "train", "val", "validation", "test", "names", "nc")


def _yaml(src: Path) -> tuple[dict[str, Any], Path | None]:
    """The dataset's YAML (``src`` itself, ``data.yaml``, or the folder's one ``*.yaml``/``*.yml``
    that is a dataset's, preferring the one named after the folder, as Ultralytics'
    ``find_dataset_yaml``) and its path. A YAML named as the dataset's that is not one is refused."""
    if src.is_file() or (src / "data.yaml").is_file():
        path = src if src.is_file() else src / "data.yaml"
        data = _load_yaml(path)
        if not _is_dataset(data):
            raise PosekitError(path, "is not a YOLO dataset YAML (no kpt_shape, train or names)")
        return data, path
    for pattern in ("*.yaml", "*.yml"):
        # (another tool's YAML beside the dataset, e.g. labelme's config, is not a candidate)
        cands = [(p, d) for p in sorted(src.glob(pattern)) if p.is_file() and _is_dataset(d := _load_yaml(p))]
        if len(cands) > 1:
            cands = [c for c in cands if c[0].stem == src.name] or cands
        if len(cands) > 1:
            raise PosekitError(src, f"{len(cands)} YAML files ({', '.join(p.name for p, _ in cands)}) and no "
                                    "data.yaml: pass the dataset's YAML file itself")
        if cands:
            return cands[0][1], cands[0][0]
    return {}, None


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PosekitError(path, f"not readable YAML: {str(exc).splitlines()[0]}") from None


def _is_dataset(data: Any) -> bool:
    return isinstance(data, dict) and any(k in data for k in _DATASET_KEYS)


def _locate(name: str, *bases: Path) -> Path | None:
    """The existing path ``name`` means (absolute, or under the first base that has it; Windows
    ``\\`` separators read as ``/`` when the name as written does not exist); None if none."""
    for s in dict.fromkeys((name, name.replace("\\", "/"))):
        p = Path(s)
        for q in [p] if p.is_absolute() else [b / p for b in bases]:
            if os.path.lexists(q):
                return q
    return None


def _is_image(name: str) -> bool:
    """An image file name as Ultralytics' loader takes it (``*.*`` with an image suffix)."""
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in ULTRALYTICS_IMAGES


def _walk_images(root: Path) -> tuple[list[str], int]:
    """The images under ``root`` as Ultralytics' ``glob('**/*.*')`` finds them (symbolic links to
    folders followed, hidden files and folders skipped), and how many hidden ones were skipped."""
    found: list[str] = []
    hidden = 0
    seen: set[str] = set()
    for d, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(d)
        if real in seen:  # a link back to a folder already walked
            dirs[:] = []
            continue
        seen.add(real)
        rel = os.path.relpath(d, root)
        in_hidden = rel != "." and any(part.startswith(".") for part in rel.split(os.sep))
        for f in files:
            if _is_image(f):
                if in_hidden or f.startswith("."):
                    hidden += 1
                else:
                    found.append(os.path.join(d, f))
    return found, hidden


def _split_sources(folder: Path, data: dict[str, Any]) -> tuple[list[tuple[str, Path]], Path]:
    """The folders and image lists data.yaml's ``train``/``val``/``test`` name, each with its
    split (resolved as Ultralytics' ``check_det_dataset`` does: under ``path``, else the YAML's
    folder; a missing ``../x`` retried as ``x``, as Roboflow's exports need; ``validation`` read
    as ``val``), and that base folder. A missing ``test`` is skipped (Ultralytics only looks for
    it when testing); a missing train or val is refused."""
    base = folder
    raw = data.get("path")
    if isinstance(raw, str) and raw.strip():
        p = _locate(raw.strip(), folder)
        base = p if p is not None and p.is_dir() else folder  # elsewhere on another machine: the YAML's folder
    sources: list[tuple[str, Path]] = []
    for key in ("train", "val", "test"):
        val = data.get(key)
        if val is None and key == "val":
            val = data.get("validation")  # Ultralytics renames it to val
        items = [val] if isinstance(val, str) else val if isinstance(val, list) else []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                continue
            item = item.strip()
            p = _locate(item, base)
            if p is None and isinstance(val, str) and item.replace("\\", "/").startswith("../"):
                p = _locate(item[3:], base)
            if p is None:
                if key == "test":
                    continue
                raise PosekitError(base / item, f"the {key} images named by data.yaml ({item!r}) not found")
            sources.append((key, p))
    return sources, base


def _listed_images(lst: Path, base: Path, notes: Notes) -> list[str]:
    """The images an image list names (one path a line: ``./`` and other relative paths under the
    list's folder, else under data.yaml's ``path``); entries that are not images or do not exist
    are counted."""
    try:
        lines = lst.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise PosekitError(lst, "image list is not UTF-8 text") from None
    found: list[str] = []
    missing = not_image = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if not _is_image(line):
            not_image += 1
            continue
        p = _locate(line, lst.parent, base)
        if p is None:
            missing += 1
        else:
            found.append(str(p))
    notes.lost(f"images listed in {lst.name} that do not exist (not read; Ultralytics skips them too)", missing)
    notes.lost(f"lines of {lst.name} that name no image file (Ultralytics skips them too)", not_image)
    return found


def _image_files(folder: Path, data: dict[str, Any],
                 notes: Notes) -> tuple[list[tuple[Path, str | None]], Path, list[Path]]:
    """The images of the dataset (sorted, each once, with the split that names it first), the
    folder their names are relative to, and the label folders that belong to the image folders
    (for label files no image uses)."""
    sources, base = _split_sources(folder, data) if data else ([], folder)
    named = bool(sources)
    sources = _distinct_splits(sources, base)
    if not sources:
        sources = [(None, folder / "images")]
    found: list[tuple[str | None, str]] = []
    label_dirs = [d for d in (folder / "labels", base / "labels") if d.is_dir()]
    hidden = 0
    for split, r in sources:
        if r.is_dir():
            files, n = _walk_images(r)
            found += [(split, f) for f in files]
            hidden += n
            twin = Path(label_path(os.path.join(os.path.abspath(r), "x.jpg"))).parent
            if twin.is_dir() and twin != Path(os.path.abspath(r)):
                label_dirs.append(twin)
        elif r.is_file():
            found += [(split, f) for f in _listed_images(r, base, notes)]
        else:
            why = "" if named or not data else " (data.yaml names no train or val images)"
            raise PosekitError(r, f"images folder not found{why}")
    notes.lost("hidden files with image suffixes (names or folders starting with '.', e.g. macOS's ._x.jpg; "
               "Ultralytics skips them too)", hidden)
    first: dict[str, tuple[Path, str | None]] = {}
    twice = 0
    for split, f in found:  # in the order train, val, test
        a = os.path.abspath(f)
        if a in first:
            twice += first[a][1] != split
        else:
            first[a] = (Path(f), split)
    notes.lost("images named by two of train, val and test (each kept in the first only)", twice)
    absolute = sorted(first)
    return [first[a] for a in absolute], _names_root(folder, base, absolute), label_dirs


def _distinct_splits(sources: list[tuple[str, Path]], base: Path) -> list[tuple[str | None, Path]]:
    """The sources with the split each gives its images. Keys that name the same folders (as
    posekit writes a split without images: ``val: images/train``) give them one split: the one
    the folders are named after (``images/val``, ``valid/images``) when a key has that name,
    else the first key's; none when every key names the same unnamed folders (a dataset without
    splits, as posekit writes one: ``train: images``, ``val: images``)."""
    by_key: dict[str, list[Path]] = {}
    for key, p in sources:
        by_key.setdefault(key, []).append(p)
    groups: dict[tuple[str, ...], list[str]] = {}  # the same folders -> the keys naming them
    for key, paths in by_key.items():  # train, val, test
        groups.setdefault(tuple(sorted(map(os.path.realpath, paths))), []).append(key)
    out: list[tuple[str | None, Path]] = []
    for keys in groups.values():
        named = {_folder_split(p, base) for p in by_key[keys[0]]}
        split = named.pop() if len(named) == 1 else None
        if split not in keys:
            split = None if len(groups) == 1 and len(keys) > 1 else keys[0]
        out += [(split, p) for p in by_key[keys[0]]]
    return out


def _folder_split(path: Path, base: Path) -> str | None:
    """The split an image folder is named after: ``images/val``, or ``valid/images`` below the
    dataset's folder (Roboflow's); None for others (``images``)."""
    name = path.name.lower()
    if name == "images" and os.path.realpath(path.parent) != os.path.realpath(base):
        name = path.parent.name.lower()
    name = _SPLIT_ALIASES.get(name, name)
    return name if name in SPLITS else None


def _names_root(folder: Path, base: Path, absolute: list[str]) -> Path:
    """The folder the images' names are relative to: ``images/``, data.yaml's base or the
    dataset's folder when it holds them all, else their common folder."""
    root = next((c for c in (folder / "images", base, folder) if c.is_dir() and
                 all(a.startswith(os.path.abspath(c) + os.sep) for a in absolute)), None)
    if root is None:
        root = Path(os.path.commonpath(absolute)) if absolute else folder
        if len(absolute) == 1:
            root = root.parent
    return root


def _rel_name(path: Path, images_root: Path) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.abspath(images_root)).replace(os.sep, "/")


def _class_names(data: dict[str, Any], owner: Path | str) -> list[str] | None:
    """data.yaml's class names (``names`` as a list or a ``{index: name}`` mapping, whose keys may
    be strings, as Ultralytics' ``check_class_names`` reads them; else ``nc`` classes
    ``class_0..``); None when it names none."""
    names = data.get("names")
    if isinstance(names, dict) and names:
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise PosekitError(owner, f"names keys {list(names)!r} must be class indices 0, 1, ...") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise PosekitError(owner, f"names keys {sorted(by_index)} must be the class indices 0..{len(by_index) - 1}")
        return [by_index[i] for i in range(len(by_index))]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    nc = data.get("nc")
    if isinstance(nc, (int, float, str)) and str(nc).strip().isdigit() and int(str(nc).strip()) > 0:
        return [f"class_{i}" for i in range(int(str(nc).strip()))]
    return None


def _read_label(lp: str) -> list[list[str]]:
    """The lines of a label file that hold values, split on white space (UTF-8, with or without
    a BOM; CRLF line ends); blank lines and ``#`` comment lines hold none and are skipped."""
    try:
        with open(lp, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise PosekitError(lp, "label file is not UTF-8 text") from None
    except OSError as exc:
        raise PosekitError(lp, f"label file not readable ({exc.strerror})") from None
    return [s for s in map(str.split, text.splitlines()) if s and s[0][0] != "#"]


def _line_number(lp: str, row: int) -> int:
    """The line number in the file of the label file's ``row``-th line of values (for messages)."""
    with open(lp, encoding="utf-8-sig") as fh:
        numbered = [i for i, s in enumerate(map(str.split, fh.read().splitlines()), 1) if s and s[0][0] != "#"]
    return numbered[row]


def _two_d(cols: int, k_hint: int | None) -> bool:
    """Whether ``cols`` values that read as K (x, y) keypoints or K' (x, y, v) ones and a person
    confidence are the former: --layout says K, or K is a built-in layout's count and K' is not."""
    from annotate.skeletons import LAYOUTS

    k2, k3 = (cols - 5) // 2, (cols - 6) // 3
    if k_hint is not None:
        return k_hint == k2
    known = {lay.num_keypoints for lay in LAYOUTS.values()}
    return k2 in known and k3 not in known


def _parse_rows(lp: str, rows: list[list[str]], K: int | None, ndim: int | None,
                k_hint: int | None = None) -> tuple[np.ndarray, int, int]:
    """One label file's values ``(n, 5 + K * ndim)``; K and ndim from the column count when not
    known (3 values per keypoint when that divides, else 2; a count that also reads as [K', 3]
    and a trailing confidence is taken as (x, y) only when ``k_hint`` (--layout) or the built-in
    layouts say so)."""
    cols = len(rows[0])
    odd = next((i for i, r in enumerate(rows) if len(r) != cols), None)
    if odd is not None:
        raise PosekitError(lp, f"line {_line_number(lp, odd)} has {len(rows[odd])} values, line "
                               f"{_line_number(lp, 0)} has {cols}: lines have different numbers of values")
    if K is None or ndim is None:
        K, ndim = _shape_of(lp, cols, k_hint)
    if cols != 5 + K * ndim:
        extra = cols - 5 - K * ndim
        what = " (a detection label: class and box only)" if cols == 5 else \
            " (a trailing confidence or track id?)" if extra in (1, 2) else \
            " (a segmentation polygon?)" if cols > 5 and (cols - 1) % 2 == 0 else ""
        raise PosekitError(lp, f"{cols} values per line{what}; kpt_shape [{K}, {ndim}] needs {5 + K * ndim}")
    try:
        arr = np.array(rows, dtype=np.float64)
    except ValueError:
        row = next(i for i, r in enumerate(rows) if not _numbers(r))
        raise PosekitError(lp, f"line {_line_number(lp, row)}: a value is not a number") from None
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise PosekitError(lp, f"line {_line_number(lp, row)}: a value is NaN or infinite")
    return arr, K, ndim


def _shape_of(lp: str, cols: int, k_hint: int | None) -> tuple[int, int]:
    """K and ndim told by a label file's column count alone (no kpt_shape)."""
    if cols <= 5 or (cols - 5) % 3 and (cols - 5) % 2:
        what = "a detection label (class and box, no keypoints)" if cols == 5 else "not class, box and keypoints"
        raise PosekitError(lp, f"{cols} values per line: {what}")
    ndim = 3 if (cols - 5) % 3 == 0 else 2
    if ndim == 2 and (cols - 6) % 3 == 0 and not _two_d(cols, k_hint):
        raise PosekitError(lp, f"{cols} values per line: {(cols - 5) // 2} keypoints of (x, y), or "
                               f"{(cols - 6) // 3} of (x, y, v) and a trailing confidence (as Ultralytics' "
                               f"predict writes with save_conf); say which with kpt_shape in a data.yaml "
                               f"(or --layout for (x, y))")
    return (cols - 5) // ndim, ndim


def _numbers(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def _holds_confidences(lp: str, arr: np.ndarray, K: int) -> bool:
    """Whether a ``[K, 3]`` label file's third keypoint values are confidences, as Ultralytics'
    ``Results.save_txt`` (``predict(save_txt=True)``) writes them, rather than visibility flags:
    flags when every one is 0, 1 or 2, confidences when all lie in [0, 1]; else refused."""
    third = arr[:, 5:5 + 3 * K].reshape(len(arr), K, 3)[..., 2]
    odd = ~np.isin(third, (0, 1, 2))
    if not odd.any():
        return False
    bad = odd & ((third < 0) | (third > 1))
    if bad.any():
        i, j = np.argwhere(bad)[0].tolist()
        raise PosekitError(lp, f"line {_line_number(lp, i)}, keypoint {j}: visibility {third[i, j]:g} is neither a "
                               "flag 0, 1, 2 nor a confidence in [0, 1]")
    if (third == 2).any():
        raise PosekitError(lp, f"third keypoint values mix visibility flags (2) and confidences "
                               f"({third[odd][0]:g}); a file holds one or the other")
    return True


def _check_classes(lp: str, cls: np.ndarray, n_cls: int | None) -> None:
    """Classes are indices 0.. (below ``n_cls``, data.yaml's class count, when it has one)."""
    bad = (cls % 1 != 0) | (cls < 0) | (cls >= (np.inf if n_cls is None else n_cls))
    if bad.any():
        which = f"data.yaml's classes 0..{n_cls - 1}" if n_cls is not None else "the class indices 0, 1, ..."
        raise PosekitError(lp, f"class {cls[bad][0]:g} is not one of {which}")


def _confidences(kp: np.ndarray, conf_rows: np.ndarray, n_files: int,
                 notes: Notes) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The persons' scores and ``extra`` dicts: for persons of files that hold confidences, the raw
    values as ``keypoint_scores`` and their mean over the labeled (> 0) keypoints as the score (0
    when none is), as the OpenPose reader keeps them; NaN and nothing for the others."""
    n = len(kp)
    extras: list[dict[str, Any]] = [{} for _ in range(n)]
    score = np.full(n, np.nan)
    if not conf_rows.any():
        return score, extras
    c = kp[conf_rows, :, 2]
    lab = c > 0
    score[conf_rows] = np.divide((c * lab).sum(1), lab.sum(1), out=np.zeros(len(c)), where=lab.any(1))
    for r, sc in zip(np.flatnonzero(conf_rows).tolist(), c.tolist()):
        extras[r]["keypoint_scores"] = sc
    notes.changed(f"keypoint confidences in {n_files} label files (as Ultralytics' predict writes them) read as "
                  "v=2 where > 0, v=0 where 0; kept in keypoint_scores, their mean over the labeled "
                  "keypoints as the person's score", c.size)
    return score, extras


def _categories(data: dict[str, Any], class_names: list[str], K: int, ctx: Context, owner: Path | str,
                notes: Notes) -> list[Category]:
    """One category per class, all with the keypoint names of ``kpt_names`` (Ultralytics'
    ``{class: [names]}``, or one list), else ``--layout``, else COCO-17 for 17 keypoints, else
    ``keypoint_0..``; the skeleton from data.yaml's ``skeleton`` (0-based) or the layout's."""
    from annotate.skeletons import COCO17, get_layout, layout_for_names

    kpt_names = data.get("kpt_names")
    lists = list(kpt_names.values()) if isinstance(kpt_names, dict) else [kpt_names]
    names = [str(n) for n in lists[0]] if lists and isinstance(lists[0], list) and len(lists[0]) == K else None
    if names is not None and any(v != lists[0] for v in lists[1:]):
        notes.lost("kpt_names of classes that differ from the first class's (COCO categories here share "
                   "the first's keypoint names)", sum(v != lists[0] for v in lists[1:]))
    skeleton: list[tuple[int, int]] | None = None
    if isinstance(data.get("skeleton"), list):
        try:
            skeleton = [(int(a), int(b)) for a, b in data["skeleton"] if 0 <= int(a) < K and 0 <= int(b) < K]
        except (TypeError, ValueError):
            skeleton = None
    if names is None:
        lay = None
        if ctx.layout:
            lay = get_layout(ctx.layout)
            if lay.num_keypoints != K:
                raise PosekitError(owner, f"--layout {lay.name} has {lay.num_keypoints} keypoints; the labels have {K}")
        elif K == 17:
            lay = COCO17
        names = list(lay.keypoints) if lay else [f"keypoint_{i}" for i in range(K)]
        if skeleton is None:
            skeleton = [tuple(x) for x in lay.limbs] if lay else []
    elif skeleton is None:
        skeleton = [tuple(x) for x in layout_for_names(names).limbs]
    return [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"})
            for i, n in enumerate(class_names)]


def _check_unused_labels(label_dirs: list[Path], used: set[str], notes: Notes) -> None:
    """Count the label files no image reads: under the image folders' label folders, and beside
    the label files that are read."""
    seen = {os.path.abspath(p) for d in label_dirs for p in d.rglob("*.txt")}
    for d in {os.path.dirname(p) for p in used}:
        if os.path.isdir(d):
            seen.update(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".txt"))
    notes.lost("label files without an image (not read)", len(seen - used))


# --------------------------------------------------------------------------- detection

def detect(probe: Probe) -> int:
    """A folder with data.yaml, labels/ + images/ or a YAML naming kpt_shape, or a YAML file (90)."""
    if not probe.is_dir:
        return 90 if probe.suffix in (".yaml", ".yml") else 0
    src = probe.path
    if (src / "data.yaml").is_file() or ((src / "labels").is_dir() and (src / "images").is_dir()):
        return 90
    # (labelme's config beside LabelMe files is a YAML file too: kpt_shape tells them apart)
    return 90 if any(p.is_file() and b"kpt_shape" in head_bytes(p) for p in probe.yamls) else 0


