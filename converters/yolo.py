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
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, ImageInfo, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import oriented_size
from annotate.notes import Notes

from .formats import Options, Output, Source, class_index, image_rows, note_unheld, safe_file_name

#: Suffixes Ultralytics loads as images (ultralytics.data.utils.IMG_FORMATS)
ULTRALYTICS_IMAGES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
HIDDEN_2D = -0.001  # an unlabeled keypoint in a [K, 2] file
_CHUNK = 16384       # rows formatted at once (bounds the memory of the digit arrays)


def label_path(image_path: str) -> str:
    """The label file Ultralytics reads for an image (its ``img2label_paths`` rule)."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(image_path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


# --------------------------------------------------------------------------- writing

def _fixed(values: np.ndarray) -> np.ndarray:
    """``(N, M)`` numbers in [0, 1] (or -0.001) as ``(N, M, 9)`` ASCII: ``d.dddddd`` and a space."""
    n, m = values.shape
    out = np.empty((n, m, 9), np.uint8)
    neg = values < 0
    v = np.rint(np.abs(values) * 1e6).astype(np.int64)
    out[..., 0] = 48 + v // 1_000_000
    out[..., 1] = ord(".")
    frac = v % 1_000_000
    for j in range(6):
        out[..., 2 + j] = 48 + (frac // 10 ** (5 - j)) % 10
    out[..., 8] = ord(" ")
    if neg.any():  # "-0.00100" keeps the width: the leading digit becomes the sign
        out[neg, 0:8] = np.frombuffer(b"-0.00100", np.uint8)
    return out


def format_rows(classes: np.ndarray, box: np.ndarray, kps: np.ndarray, ndim: int) -> tuple[bytes, np.ndarray]:
    """The text lines of all persons (``class cx cy w h x y [v] ...``, normalised values) as one
    buffer, and each line's start offset (plus the end): line i is ``buf[off[i]:off[i + 1]]``."""
    n, K = kps.shape[:2]
    if n == 0:
        return b"", np.zeros(1, np.int64)
    one_digit = int(classes.max()) < 10
    parts: list[bytes] = []
    lengths: list[np.ndarray] = []
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        cols = [_fixed(box[s:e]).reshape(e - s, 36)]
        xy = _fixed(kps[s:e, :, :2].reshape(e - s, 2 * K)).reshape(e - s, K, 18)
        if ndim == 3:
            vis = np.empty((e - s, K, 2), np.uint8)
            vis[..., 0] = 48 + kps[s:e, :, 2].astype(np.int64)
            vis[..., 1] = ord(" ")
            xy = np.concatenate([xy, vis], axis=2)
        cols.append(xy.reshape(e - s, -1))
        if one_digit:  # every line the same width: the class digit is one more column
            head = np.empty((e - s, 2), np.uint8)
            head[:, 0] = 48 + classes[s:e]
            head[:, 1] = ord(" ")
            cols.insert(0, head)
        body = np.concatenate(cols, axis=1)
        body[:, -1] = ord("\n")
        width = body.shape[1]
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

    x0 = np.clip(box[:, 0], 0, W)
    y0 = np.clip(box[:, 1], 0, H)
    x1 = np.clip(box[:, 0] + box[:, 2], 0, W)
    y1 = np.clip(box[:, 1] + box[:, 3], 0, H)
    with np.errstate(invalid="ignore"):
        clipped = keep & (np.abs(np.stack([x0, y0, x1, y1], 1) - np.stack(
            [box[:, 0], box[:, 1], box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]], 1)) > 1e-9).any(axis=1)
    notes.changed("person boxes clipped to the image", int(clipped.sum()))

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
    order = np.argsort(img_of, kind="stable")  # label files hold their persons in the dataset's order
    buf, off = format_rows(cls_all[rows_k][order], norm_box[order], norm_kps[order], ndim)
    bounds = off[np.searchsorted(img_of[order], np.arange(len(ds.images) + 1))].tolist()
    root_images = os.path.abspath(images_dir)
    # images already in DST/images (converting in place): nothing to link
    link_images = os.path.realpath(root_images) != os.path.realpath(os.path.join(dst, "images"))
    present = _present(root_images, [im.file_name for im in ds.images])
    abs_dst = os.path.abspath(dst)
    rel_dirs: dict[str, str] = {}
    files: dict[str, bytes] = {}
    links: dict[str, str] = {}
    owner: dict[str, str] = {}
    missing: list[str] = []
    odd_suffix = 0
    for i, im in enumerate(ds.images):
        fn = im.file_name
        rel = fn if _plain(fn) else safe_file_name(fn)  # most names need no normalising
        stem, dot, _ = rel.rpartition(".")
        label = f"labels/{stem if dot else rel}.txt" if "/images/" not in f"/{rel}" else \
            label_path(f"{os.sep}images{os.sep}{rel}")[1:]
        if label in owner:
            raise PosekitError(None, f"images {owner[label]!r} and {im.file_name!r} would share the label file "
                                     f"{label} (Ultralytics finds labels by name without suffix); rename one")
        owner[label] = im.file_name
        if rel[rel.rfind("."):].lower() not in ULTRALYTICS_IMAGES:
            odd_suffix += 1
        src = f"{root_images}{os.sep}{rel}"
        if rel not in present and not os.path.exists(src):
            missing.append(src)
        if link_images:
            folder, _, base = rel.rpartition(os.sep)
            up = rel_dirs.get(folder)
            if up is None:  # relative links: short ones live in the inode (about 3x faster to make)
                up = rel_dirs[folder] = os.path.relpath(os.path.join(root_images, folder),
                                                        os.path.join(abs_dst, "images", folder))
            links[f"images{os.sep}{rel}"] = f"{up}{os.sep}{base}"
        if bounds[i + 1] > bounds[i]:  # an image without persons has no label file (Ultralytics: background)
            files[label] = buf[bounds[i]:bounds[i + 1]]
    if missing:
        raise PosekitError(missing[0], f"image not found ({len(missing)} of {len(ds.images)} images are missing "
                                       f"under {images_dir}); nothing written")
    notes.lost("images whose suffix Ultralytics does not load as an image (linked, labeled, but unused)", odd_suffix)
    files["data.yaml"] = ultralytics_data_yaml(ds, ndim).encode()
    return Output(dst, files, links, folder=True,
                  summary=f"{len(links)} images linked, {len(rows_k)} persons in {len(files) - 1} label files, "
                          f"kpt_shape [{ds.category.num_keypoints}, {ndim}], {len(ds.categories)} class(es)")


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
    import yaml

    path = src / "data.yaml"
    if not path.is_file():
        cands = sorted(p for p in src.glob("*.yaml") if p.is_file())
        path = cands[0] if len(cands) == 1 else None
    if path is None:
        return {}, None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PosekitError(path, f"not readable YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PosekitError(path, "expected a mapping (kpt_shape, names, ...)")
    return data, path


def _image_files(src: Path, data: dict[str, Any], yaml_path: Path | None) -> tuple[list[Path], Path]:
    """The images of the dataset and the folder their names are relative to."""
    base = src
    if yaml_path is not None and isinstance(data.get("path"), str) and data["path"]:
        p = Path(data["path"])
        base = p if p.is_absolute() else (yaml_path.parent / p)
        if not base.is_dir():
            base = src
    roots: list[Path] = []
    for key in ("train", "val", "test"):
        val = data.get(key)
        for item in ([val] if isinstance(val, str) else val if isinstance(val, list) else []):
            if isinstance(item, str) and item:
                roots.append(Path(item) if Path(item).is_absolute() else base / item)
    if not roots:
        roots = [src / "images"]
    files: list[Path] = []
    for r in roots:
        if r.is_dir():
            files += [p for p in r.rglob("*") if p.suffix.lower() in ULTRALYTICS_IMAGES and not p.is_dir()]
        elif r.is_file() and r.suffix == ".txt":  # a list of image paths
            for line in r.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line:
                    q = Path(line)
                    files.append(q if q.is_absolute() else r.parent / q)
        else:
            raise PosekitError(r, "images folder named by data.yaml not found")
    uniq = sorted({os.path.abspath(f): f for f in files}.values(), key=lambda p: str(p))
    images_root = src / "images" if (src / "images").is_dir() else base
    return uniq, images_root


def _rel_name(path: Path, images_root: Path) -> str:
    a, r = os.path.abspath(path), os.path.abspath(images_root)
    return os.path.relpath(a, r).replace(os.sep, "/") if a.startswith(r + os.sep) else os.path.basename(a)


def read_yolo(src: Path, opts: Options) -> Source:
    """Read a YOLO-pose folder (``data.yaml`` optional: without it K comes from the column count,
    3 values per keypoint when that divides, and 17 keypoints are COCO-17's)."""
    from annotate.skeletons import COCO17, get_layout

    if not src.is_dir():
        raise PosekitError(src, "expected a YOLO-pose folder (data.yaml, images/, labels/)")
    data, yaml_path = _yaml(src)
    images, images_root = _image_files(src, data, yaml_path)
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
    parsed: list[tuple[Path, np.ndarray | None]] = []
    label_files_used: set[str] = set()
    for img in images:
        lp = label_path(os.path.abspath(img))
        label_files_used.add(lp)
        if not os.path.isfile(lp):
            parsed.append((img, None))
            continue
        with open(lp, encoding="utf-8-sig") as fh:
            text = fh.read()
        rows = [ln.split() for ln in text.splitlines() if ln.strip()]
        if not rows:
            parsed.append((img, np.zeros((0, 0))))
            continue
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            raise PosekitError(lp, f"lines have different numbers of values ({sorted(widths)})")
        cols = widths.pop()
        if K is None:
            if cols < 5 or (cols - 5) % 3 and (cols - 5) % 2:
                raise PosekitError(lp, f"{cols} values per line is not class, box and keypoints")
            ndim = 3 if (cols - 5) % 3 == 0 else 2
            K = (cols - 5) // ndim
        if cols != 5 + K * ndim:
            raise PosekitError(lp, f"{cols} values per line; kpt_shape [{K}, {ndim}] needs {5 + K * ndim}")
        try:
            arr = np.array(rows, dtype=np.float64)
        except ValueError:
            raise PosekitError(lp, "a value is not a number") from None
        if not np.isfinite(arr).all():
            raise PosekitError(lp, "a value is NaN or infinite")
        parsed.append((img, arr))
    if K is None:
        K, ndim = (17, 3)  # no labels at all: nothing to tell; COCO-17 as Ultralytics' default

    names_raw = data.get("names")
    if isinstance(names_raw, dict):
        class_names = [str(names_raw[k]) for k in sorted(names_raw)]
    elif isinstance(names_raw, list):
        class_names = [str(n) for n in names_raw]
    else:
        n_cls = int(max((a[:, 0].max() for _, a in parsed if a is not None and a.size), default=0)) + 1
        class_names = ["person"] if n_cls == 1 else [f"class_{i}" for i in range(n_cls)]
    kpt_names = data.get("kpt_names")
    names = None
    if isinstance(kpt_names, dict) and kpt_names:
        first = kpt_names[sorted(kpt_names)[0]]
        if isinstance(first, list) and len(first) == K:
            names = [str(n) for n in first]
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
        from annotate.skeletons import layout_for_names
        skeleton = [tuple(x) for x in layout_for_names(names).limbs]

    cats = [Category(i + 1, n, list(names), list(skeleton), {"supercategory": "person"})
            for i, n in enumerate(class_names)]
    notes = Notes()
    flip = data.get("flip_idx")
    if isinstance(flip, list) and len(flip) == K and flip != cats[0].layout.flip_indices:
        notes.lost("flip_idx of data.yaml (COCO has no flip pairs; they follow left_/right_ names, "
                   "which give other pairs here)", 1)

    images_info: list[ImageInfo] = []
    persons: list[np.ndarray] = []
    person_img: list[np.ndarray] = []
    for i, (img, arr) in enumerate(parsed):
        w, h = oriented_size(img)  # as Ultralytics sees it
        images_info.append(ImageInfo(i + 1, _rel_name(img, images_root), w, h))
        if arr is not None and arr.size:
            persons.append(np.column_stack([arr, np.full(len(arr), w), np.full(len(arr), h)]))
            person_img.append(np.full(len(arr), i + 1, np.int64))
    _check_unused_labels(src, label_files_used, notes)
    if persons:
        allp = np.concatenate(persons)
        img_id = np.concatenate(person_img)
    else:
        allp = np.zeros((0, 5 + K * ndim + 2))
        img_id = np.zeros(0, np.int64)
    n = len(allp)
    W, H = allp[:, -2], allp[:, -1]
    cls = allp[:, 0]
    if n and ((cls % 1 != 0).any() or (cls < 0).any() or cls.max() >= len(cats)):
        raise PosekitError(owner, f"class values must be whole numbers 0..{len(cats) - 1} (names in data.yaml)")
    cx, cy, bw, bh = allp[:, 1] * W, allp[:, 2] * H, allp[:, 3] * W, allp[:, 4] * H
    bbox = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1)
    kp = allp[:, 5:5 + K * ndim].reshape(n, K, ndim)
    kps = np.zeros((n, K, 3))
    if ndim == 3:
        kps[..., 0] = kp[..., 0] * W[:, None]
        kps[..., 1] = kp[..., 1] * H[:, None]
        kps[..., 2] = kp[..., 2]
    else:
        vis = (kp[..., 0] >= 0) & (kp[..., 1] >= 0)
        kps[..., 0] = np.where(vis, kp[..., 0] * W[:, None], 0)
        kps[..., 1] = np.where(vis, kp[..., 1] * H[:, None], 0)
        kps[..., 2] = np.where(vis, 2, 0)
    ds = KeypointDataset(cats[0], images_info, np.arange(1, n + 1, dtype=np.int64), img_id, kps, bbox,
                         bbox[:, 2] * bbox[:, 3], np.zeros(n, bool), np.full(n, np.nan), [{} for _ in range(n)],
                         categories=cats, category_id=cls.astype(np.int64) + 1, notes=notes)
    return Source(ds, images_root)


def _check_unused_labels(src: Path, used: set[str], notes: Notes) -> None:
    labels = src / "labels"
    if not labels.is_dir():
        return
    unused = [p for p in labels.rglob("*.txt") if os.path.abspath(p) not in used]
    notes.lost("label files without an image (not read)", len(unused))
