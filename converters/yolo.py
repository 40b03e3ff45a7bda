"""Ultralytics YOLO-pose <-> KeypointDataset.

The folder is laid out as Ultralytics' loader finds it: ``data.yaml``; ``images/<file_name>``
(a relative symbolic link to the image, not a copy; sub-folders kept); ``labels/<file_name>.txt`` (the
last ``/images/`` of the image's path replaced by ``/labels/``, the suffix by ``.txt``, as
``ultralytics.data.utils.img2label_paths`` does); an image without persons has no label file,
which Ultralytics reads as a background image. One line per person::

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

Reading follows Ultralytics' loader: data.yaml (or the folder's one ``*.yaml``/``*.yml``) with
``path`` and ``train``/``val``/``test`` as folders or image lists (Roboflow's ``../train/images``,
CVAT's ``train.txt``, Windows separators), hidden files skipped; ``0 0`` points of ``[K, 2]``
files (CVAT's padding) read as unlabeled. The third value of a ``[K, 3]`` keypoint is decided per
label file: a visibility flag when every one in the file is 0, 1 or 2; else a confidence in
[0, 1], as Ultralytics' ``predict(save_txt=True)`` writes them (``Results.save_txt``): v=2 where
> 0, v=0 where 0, the raw values kept in ``keypoint_scores`` and their mean over the labeled
keypoints as the person's score (as the OpenPose reader does), counted; other values (3, -1, or
flags mixed with confidences in one file) are refused.
"""
from __future__ import annotations

import os
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, ImageInfo, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import oriented_size
from annotate.notes import Notes

from .formats import Options, Output, Source, _layout_option, class_index, image_rows, note_unheld, safe_file_name

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


def write_yolo(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    """The YOLO-pose folder for the dataset (nothing written here; see :func:`write_output`)."""
    from annotate.training_config import ultralytics_data_yaml

    if images_dir is None:
        raise PosekitError(None, "YOLO-pose links every image beside its labels: pass --images DIR "
                                 "(the folder the file names are relative to)")
    ndim = 3 if opts.visibility else 2
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions (YOLO-pose has none; left out)", int(crowd.sum()))
    note_unheld(ds, notes, crowd_rows=crowd)
    ids = [c.id for c in ds.categories]
    if ids != list(range(1, len(ids) + 1)):
        notes.lost(f"category ids {ids} (YOLO classes are 0..{len(ids) - 1}; read back as class + 1)", 1)
    for c in ds.categories:
        extra = {k: v for k, v in c.extra.items() if not k.startswith("_") and k != "supercategory"}
        if extra:
            notes.lost(f"category fields ({', '.join(extra)}) of '{c.name}' (data.yaml has no place for them)", 1)

    cls_all, _ = class_index(ds)
    rows = np.flatnonzero(~crowd)
    img_of = image_rows(ds)[rows]
    wh = np.array([(im.width, im.height) for im in ds.images], dtype=np.float64).reshape(-1, 2)
    W, H = wh[img_of, 0], wh[img_of, 1]
    kps = ds.keypoints[rows].copy()
    box = ds.bbox[rows].copy()
    x, y, v = kps[..., 0], kps[..., 1], kps[..., 2]

    odd = ~np.isin(v, (0, 1, 2))
    if odd.any():
        v[odd] = np.clip(np.rint(v[odd]), 0, 2)
        notes.changed("keypoints with visibility other than 0, 1 or 2 rounded to 0, 1 or 2", int(odd.sum()))
    lab = v > 0
    outside = (x < 0) | (x > W[:, None]) | (y < 0) | (y > H[:, None])
    out_lab = lab & outside
    keep = np.ones(len(rows), bool)
    if opts.outside == "hide":
        v[out_lab] = 0
        notes.changed("labeled keypoints outside the image hidden (v=0 at 0,0; --outside hide)", int(out_lab.sum()))
    elif opts.outside == "clip":
        np.clip(x, 0, W[:, None], out=x)
        np.clip(y, 0, H[:, None], out=y)
        notes.changed("labeled keypoints outside the image moved to its edge (--outside clip)", int(out_lab.sum()))
    else:
        keep = ~out_lab.any(axis=1)
        notes.lost("persons with keypoints outside the image (--outside drop)", int((~keep).sum()))
    zero = (outside & ~lab) | (out_lab & (opts.outside == "hide"))
    moved_unlabeled = int((outside & ~lab & ((x != 0) | (y != 0))).sum())
    notes.changed("unlabeled keypoints' coordinates outside the image set to 0,0", moved_unlabeled)
    x[zero] = 0
    y[zero] = 0
    if ndim == 2:
        notes.lost("occluded flags (v=1) of keypoints ([K, 2] has no visibility; read back as v=2)",
                   int((v == 1).sum()))

    x0, y0, x1, y1, has_box = _person_boxes(box, ds.keypoints[rows], W, H, opts.box_margin, keep, notes)
    keep &= has_box
    rows_k, img_of, W, H = rows[keep], img_of[keep], W[keep], H[keep]
    x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
    norm_box = np.stack([(x0 + x1) / 2 / W, (y0 + y1) / 2 / H, (x1 - x0) / W, (y1 - y0) / H], 1)
    norm_kps = np.empty((len(rows_k), kps.shape[1], 3))
    norm_kps[..., 0] = x[keep] / W[:, None]
    norm_kps[..., 1] = y[keep] / H[:, None]
    norm_kps[..., 2] = v[keep]
    if ndim == 2:
        hidden = norm_kps[..., 2] == 0
        norm_kps[hidden, 0] = norm_kps[hidden, 1] = HIDDEN_2D
    cls_k = cls_all[rows_k]
    dup = _duplicates(img_of, cls_k, norm_box, norm_kps, ndim)
    notes.lost("duplicate persons (same class, box and keypoints as another in their image, as written; "
               "Ultralytics keeps one)", int(dup.sum()))
    if dup.any():
        img_of, cls_k, norm_box, norm_kps, rows_k = (a[~dup] for a in (img_of, cls_k, norm_box, norm_kps, rows_k))
    tiny = (wh < 10).any(axis=1)  # Ultralytics' check_image refuses them
    notes.lost("images smaller than 10 px a side (linked and labeled, but Ultralytics skips them as corrupt)",
               int(tiny.sum()))
    notes.lost("persons in images smaller than 10 px a side (Ultralytics skips them)", int(tiny[img_of].sum()))
    if (img_of[1:] < img_of[:-1]).any():  # label files hold their persons in the dataset's order
        order = np.argsort(img_of, kind="stable")
        img_of, cls_k, norm_box, norm_kps = img_of[order], cls_k[order], norm_box[order], norm_kps[order]
    buf, off = format_rows(cls_k, norm_box, norm_kps, ndim)
    bounds = off[np.searchsorted(img_of, np.arange(len(ds.images) + 1))].tolist()
    root_images = os.path.abspath(images_dir)
    # images already in DST/images (converting in place): nothing to link
    link_images = os.path.realpath(root_images) != os.path.realpath(os.path.join(dst, "images"))
    names = [im.file_name for im in ds.images]
    rels = [fn if _plain(fn) else safe_file_name(fn) for fn in names]  # most names need no normalising
    labels = [f"labels/{stem if dot else rel}.txt" if "/images/" not in f"/{rel}" else
              label_path(f"{os.sep}images{os.sep}{rel}")[1:] for rel, (stem, dot, _) in
              zip(rels, map(methodcaller("rpartition", "."), rels))]
    if len(set(labels)) != len(labels):
        owner: dict[str, str] = {}
        for label, fn in zip(labels, names):
            if label in owner:
                raise PosekitError(None, f"images {owner[label]!r} and {fn!r} would share the label file {label} "
                                         f"(Ultralytics finds labels by name without suffix); rename one")
            owner[label] = fn
    present = _present(root_images, rels)
    missing = [f"{root_images}{os.sep}{rel}" for rel in rels if rel not in present]
    missing = [src for src in missing if not os.path.exists(src)]
    if missing:
        raise PosekitError(missing[0], f"image not found ({len(missing)} of {len(ds.images)} images are missing "
                                       f"under {images_dir}); nothing written")
    odd_suffix = sum(rel[rel.rfind("."):].lower() not in ULTRALYTICS_IMAGES for rel in rels)
    links: dict[str, str] = {}
    if link_images:
        abs_dst = os.path.abspath(dst)
        rel_dirs: dict[str, str] = {}
        for folder in {rel.rpartition(os.sep)[0] for rel in rels}:
            # relative links: short ones live in the inode (about 3x faster to make)
            rel_dirs[folder] = os.path.relpath(os.path.join(root_images, folder),
                                               os.path.join(abs_dst, "images", folder))
        links = {f"images{os.sep}{rel}": f"{rel_dirs[folder]}{os.sep}{base}"
                 for rel, (folder, _, base) in zip(rels, map(methodcaller("rpartition", os.sep), rels))}
    # an image without persons has no label file (Ultralytics: background)
    files = {label: buf[a:b] for label, a, b in zip(labels, bounds, bounds[1:]) if b > a}
    notes.lost("images whose suffix Ultralytics does not load as an image (linked, labeled, but unused)", odd_suffix)
    files["data.yaml"] = ultralytics_data_yaml(ds, ndim).encode()
    return Output(dst, files, links, folder=True,
                  summary=f"{len(links)} images linked, {len(rows_k)} persons in {len(files) - 1} label files, "
                          f"kpt_shape [{ds.category.num_keypoints}, {ndim}], {len(ds.categories)} class(es)",
                  # earlier label files (and image links) would read back with the new ones
                  reads_back=("labels/**/*.txt", *(("images/**/*",) if link_images else ())))


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
    notes.lost("persons with neither a box nor a labeled keypoint (YOLO needs a box)", int((~has & keep).sum()))
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


# --------------------------------------------------------------------------- reading

def _yaml(src: Path) -> tuple[dict[str, Any], Path | None]:
    """The dataset's YAML (``src`` itself, ``data.yaml``, or the folder's one ``*.yaml``/``*.yml``,
    preferring the one named after the folder, as Ultralytics' ``find_dataset_yaml``) and its path."""
    import yaml

    if src.is_file():
        path: Path | None = src
    elif (src / "data.yaml").is_file():
        path = src / "data.yaml"
    else:
        path = None
        for pattern in ("*.yaml", "*.yml"):
            cands = sorted(p for p in src.glob(pattern) if p.is_file())
            if len(cands) > 1:
                cands = [p for p in cands if p.stem == src.name] or cands
            if len(cands) > 1:
                raise PosekitError(src, f"{len(cands)} YAML files ({', '.join(p.name for p in cands)}) and no "
                                        "data.yaml: pass the dataset's YAML file itself")
            if cands:
                path = cands[0]
                break
    if path is None:
        return {}, None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PosekitError(path, f"not readable YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PosekitError(path, "expected a mapping (train, val, kpt_shape, names, ...)")
    return data, path


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


def _split_sources(folder: Path, data: dict[str, Any]) -> tuple[list[Path], Path]:
    """The folders and image lists data.yaml's ``train``/``val``/``test`` name (resolved as
    Ultralytics' ``check_det_dataset`` does: under ``path``, else the YAML's folder; a missing
    ``../x`` retried as ``x``, as Roboflow's exports need), and that base folder. A missing
    ``test`` is skipped (Ultralytics only looks for it when testing); a missing train or val is
    refused."""
    base = folder
    raw = data.get("path")
    if isinstance(raw, str) and raw.strip():
        p = _locate(raw.strip(), folder)
        base = p if p is not None and p.is_dir() else folder  # elsewhere on another machine: the YAML's folder
    sources: list[Path] = []
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
            sources.append(p)
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


def _image_files(folder: Path, data: dict[str, Any], notes: Notes) -> tuple[list[Path], Path, list[Path]]:
    """The images of the dataset (sorted, each once), the folder their names are relative to, and
    the label folders that belong to the image folders (for label files no image uses)."""
    sources, base = _split_sources(folder, data) if data else ([], folder)
    if not sources:
        sources = [folder / "images"]
    files: list[str] = []
    label_dirs = [d for d in (folder / "labels", base / "labels") if d.is_dir()]
    hidden = 0
    for r in sources:
        if r.is_dir():
            found, n = _walk_images(r)
            files += found
            hidden += n
            twin = Path(label_path(os.path.join(os.path.abspath(r), "x.jpg"))).parent
            if twin.is_dir() and twin != Path(os.path.abspath(r)):
                label_dirs.append(twin)
        elif r.is_file():
            files += _listed_images(r, base, notes)
        else:
            raise PosekitError(r, "images folder not found")
    notes.lost("hidden files with image suffixes (names or folders starting with '.', e.g. macOS's ._x.jpg; "
               "Ultralytics skips them too)", hidden)
    uniq = sorted({os.path.abspath(f): Path(f) for f in files}.items())
    images = [p for _, p in uniq]
    absolute = [a for a, _ in uniq]
    root = next((c for c in (folder / "images", base, folder) if c.is_dir() and
                 all(a.startswith(os.path.abspath(c) + os.sep) for a in absolute)), None)
    if root is None:
        root = Path(os.path.commonpath(absolute)) if absolute else folder
        if len(absolute) == 1:
            root = root.parent
    return images, root, label_dirs


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
    """The non-blank lines of a label file, split on white space (UTF-8, with or without a BOM;
    CRLF line ends)."""
    try:
        with open(lp, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise PosekitError(lp, "label file is not UTF-8 text") from None
    except OSError as exc:
        raise PosekitError(lp, f"label file not readable ({exc.strerror})") from None
    return [ln.split() for ln in text.splitlines() if ln.strip()]


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
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise PosekitError(lp, f"lines have different numbers of values ({sorted(widths)})")
    cols = widths.pop()
    if K is None or ndim is None:
        if cols <= 5 or (cols - 5) % 3 and (cols - 5) % 2:
            what = "a detection label (class and box, no keypoints)" if cols == 5 else "not class, box and keypoints"
            raise PosekitError(lp, f"{cols} values per line: {what}")
        ndim = 3 if (cols - 5) % 3 == 0 else 2
        if ndim == 2 and (cols - 6) % 3 == 0 and not _two_d(cols, k_hint):
            raise PosekitError(lp, f"{cols} values per line: {(cols - 5) // 2} keypoints of (x, y), or "
                                   f"{(cols - 6) // 3} of (x, y, v) and a trailing confidence (as Ultralytics' "
                                   f"predict writes with save_conf); say which with kpt_shape in a data.yaml "
                                   f"(or --layout for (x, y))")
        K = (cols - 5) // ndim
    if cols != 5 + K * ndim:
        extra = cols - 5 - K * ndim
        what = " (a detection label: class and box only)" if cols == 5 else \
            " (a trailing confidence or track id?)" if extra in (1, 2) else \
            " (a segmentation polygon?)" if cols > 5 and (cols - 1) % 2 == 0 else ""
        raise PosekitError(lp, f"{cols} values per line{what}; kpt_shape [{K}, {ndim}] needs {5 + K * ndim}")
    try:
        arr = np.array(rows, dtype=np.float64)
    except ValueError:
        raise PosekitError(lp, "a value is not a number") from None
    if not np.isfinite(arr).all():
        raise PosekitError(lp, "a value is NaN or infinite")
    return arr, K, ndim


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
        raise PosekitError(lp, f"line {i + 1}, keypoint {j}: visibility {third[i, j]:g} is neither a flag "
                               "0, 1, 2 nor a confidence in [0, 1]")
    if (third == 2).any():
        raise PosekitError(lp, f"third keypoint values mix visibility flags (2) and confidences "
                               f"({third[odd][0]:g}); a file holds one or the other")
    return True


def _check_classes(lp: str, cls: np.ndarray, n_cls: int) -> None:
    bad = (cls % 1 != 0) | (cls < 0) | (cls >= n_cls)
    if bad.any():
        raise PosekitError(lp, f"class {cls[bad][0]:g} is not one of data.yaml's classes 0..{n_cls - 1}")


def read_yolo(src: Path, opts: Options) -> Source:
    """Read a YOLO-pose folder (or its data.yaml) as Ultralytics' loader does (``data.yaml``
    optional: without it K comes from the column count, 3 values per keypoint when that divides,
    and 17 keypoints are COCO-17's)."""
    if not (src.is_dir() or (src.is_file() and src.suffix.lower() in (".yaml", ".yml"))):
        raise PosekitError(src, "expected a YOLO-pose folder (data.yaml, images/, labels/) or its data.yaml")
    notes = Notes()
    data, yaml_path = _yaml(src)
    folder = src if src.is_dir() else src.parent
    images, images_root, label_dirs = _image_files(folder, data, notes)
    if not images:
        raise PosekitError(src, "no images found (Ultralytics' image suffixes) under images/ or data.yaml's folders")
    owner = yaml_path or src
    shape = data.get("kpt_shape")
    K = ndim = None
    if shape is not None:
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(x, int) for x in shape)
                and shape[0] > 0 and shape[1] in (2, 3)):
            raise PosekitError(owner, f"kpt_shape {shape!r} must be [K, 2] or [K, 3]")
        K, ndim = shape
    class_names = _class_names(data, owner)
    k_hint = _layout_option(opts.layout).num_keypoints if opts.layout else None
    parsed: list[tuple[Path, np.ndarray | None, bool]] = []  # image, its persons, confidences?
    readers: dict[str, int] = {}  # label file -> images that read it
    copies = 0  # persons read again for a second image of the same name
    for img in images:
        lp = label_path(os.path.abspath(img))
        readers[lp] = readers.get(lp, 0) + 1
        rows = _read_label(lp) if os.path.isfile(lp) else None
        if not rows:
            parsed.append((img, None, False))
            continue
        arr, K, ndim = _parse_rows(lp, rows, K, ndim, k_hint)
        if class_names is not None:
            _check_classes(lp, arr[:, 0], len(class_names))
        copies += len(arr) if readers[lp] > 1 else 0
        parsed.append((img, arr, ndim == 3 and _holds_confidences(lp, arr, K)))
    if K is None or ndim is None:
        K, ndim = (17, 3)  # no labels at all: nothing to tell; COCO-17 as Ultralytics' default
    if class_names is None:
        n_cls = int(max((a[:, 0].max() for _, a, _ in parsed if a is not None), default=0)) + 1
        for img, a, _ in parsed:
            if a is not None:
                _check_classes(label_path(os.path.abspath(img)), a[:, 0], n_cls)
        class_names = ["person"] if n_cls == 1 else [f"class_{i}" for i in range(n_cls)]
    notes.changed("persons copied to a second image that shares their label file (same name, other suffix: "
                  "x.jpg and x.png both read labels/x.txt, as in Ultralytics)", copies)

    cats = _categories(data, class_names, K, opts, owner, notes)
    flip = data.get("flip_idx")
    if isinstance(flip, list) and len(flip) == K and flip != cats[0].layout.flip_indices:
        notes.lost("flip_idx of data.yaml (COCO has no flip pairs; they follow left_/right_ names, "
                   "which give other pairs here)", 1)

    images_info: list[ImageInfo] = []
    persons: list[np.ndarray] = []
    person_img: list[np.ndarray] = []
    conf_files: set[str] = set()
    for i, (img, arr, conf) in enumerate(parsed):
        w, h = oriented_size(img)  # as Ultralytics sees it
        images_info.append(ImageInfo(i + 1, _rel_name(img, images_root), w, h))
        if arr is not None:
            persons.append(np.column_stack([arr, np.full(len(arr), w), np.full(len(arr), h),
                                            np.full(len(arr), conf)]))
            person_img.append(np.full(len(arr), i + 1, np.int64))
            if conf:
                conf_files.add(label_path(os.path.abspath(img)))
    _check_unused_labels(label_dirs, set(readers), notes)
    allp = np.concatenate(persons) if persons else np.zeros((0, 5 + K * ndim + 3))
    img_id = np.concatenate(person_img) if persons else np.zeros(0, np.int64)
    n = len(allp)
    W, H, conf_rows = allp[:, -3], allp[:, -2], allp[:, -1].astype(bool)
    cls = allp[:, 0]
    cx, cy, bw, bh = allp[:, 1] * W, allp[:, 2] * H, allp[:, 3] * W, allp[:, 4] * H
    bbox = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1)
    kp = allp[:, 5:5 + K * ndim].reshape(n, K, ndim)
    kps = np.zeros((n, K, 3))
    if ndim == 3:
        kps[..., 0] = kp[..., 0] * W[:, None]
        kps[..., 1] = kp[..., 1] * H[:, None]
        kps[..., 2] = np.where(conf_rows[:, None], np.where(kp[..., 2] > 0, 2, 0), kp[..., 2])
    else:
        at_origin = (kp[..., 0] == 0) & (kp[..., 1] == 0)
        vis = (kp[..., 0] >= 0) & (kp[..., 1] >= 0) & ~at_origin
        notes.changed("keypoints at exactly 0,0 in a [K, 2] file read as unlabeled (CVAT pads missing points "
                      "so; Ultralytics would take them as visible in the corner)", int(at_origin.sum()))
        kps[..., 0] = np.where(vis, kp[..., 0] * W[:, None], 0)
        kps[..., 1] = np.where(vis, kp[..., 1] * H[:, None], 0)
        kps[..., 2] = np.where(vis, 2, 0)
    score, extras = _confidences(kp, conf_rows, len(conf_files), notes)
    ds = KeypointDataset(cats[0], images_info, np.arange(1, n + 1, dtype=np.int64), img_id, kps, bbox,
                         bbox[:, 2] * bbox[:, 3], np.zeros(n, bool), score, extras,
                         categories=cats, category_id=cls.astype(np.int64) + 1, notes=notes)
    return Source(ds, images_root)


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


def _categories(data: dict[str, Any], class_names: list[str], K: int, opts: Options, owner: Path | str,
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
        if opts.layout:
            lay = get_layout(opts.layout)
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
