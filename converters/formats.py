"""The formats ``annotate convert SRC -o DST --to FORMAT`` knows: name -> detector, reader, writer.

Every format converts through :class:`~annotate.dataset.KeypointDataset`: a reader gives a
:class:`Source` (the dataset and the folder its image file names are relative to), a writer
gives an :class:`Output` (the bytes of every file and the links to make), written by
:func:`write_output` so that nothing is partly written: a new output folder is filled under a
temporary name and renamed into place; single files are written atomically.

Readers and writers are imported only when used (``module:function`` strings), so detecting a
format costs nothing but a look at the path and the first bytes of the file.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Callable

import numpy as np

from annotate.coco import NO_ISCROWD
from annotate.dataset import KeypointDataset
from annotate.errors import PosekitError
from annotate.io import paused_gc
from annotate.images import IMAGE_SUFFIXES  # noqa: F401  (the formats' image files; openpose imports it here)
from annotate.notes import Notes



@dataclass
class Options:
    """What the command line passes to readers and writers (each uses the ones it needs)."""

    images: Path | None = None            # folder the image file names are relative to
    layout: str | None = None             # layout of sources whose files do not name it
    person_label: str = "person"          # LabelMe rectangle label of a person's box
    box_margin: float = 0.1               # margin of boxes made from keypoints
    outside: str = "hide"                 # YOLO: keypoints outside the image: clip | hide | drop
    visibility: bool = True               # YOLO: kpt_shape [K, 3] (True) or [K, 2]
    image_root_url: str = "/data/local-files/?d="  # Label Studio: prefix of data.image
    skip_bad: bool = False                # LabelMe: convert the good files, skip bad ones
    progress: Callable[[int], None] | None = None


@dataclass
class Source:
    """What a reader gives: the dataset and the folder its ``file_name``s are relative to."""

    ds: KeypointDataset
    images_dir: Path | None = None


@dataclass
class Output:
    """What a writer gives: file bytes and symbolic links (``relative path -> target``) under
    ``root``. ``folder``: the output is the folder ``root`` (created whole, or added to); else
    a few files beside each other in ``root``. ``reads_back``: glob patterns (under ``root``) of
    the files the format's reader takes as the dataset: in an existing folder, such files this
    output would not replace would read as part of it, so writing there is refused."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    folder: bool = False
    summary: str = ""
    reads_back: tuple[str, ...] = ()

    def paths(self) -> list[Path]:
        return [self.root / rel for rel in (*self.files, *self.links)]


@dataclass(frozen=True)
class Format:
    name: str
    summary: str
    reader: str | None          # "module:function": (Path, Options) -> Source
    writer: str | None          # "module:function": (KeypointDataset, Path, Options, Notes, images_dir) -> Output
    folder_output: bool = False  # DST is a folder (else a file)
    needs_sizes: bool = False    # the writer needs every image's width and height

    def read(self, src: Path, opts: Options) -> Source:
        if self.reader is None:
            raise PosekitError(src, f"reading {self.name} is not supported")
        return _load(self.reader)(src, opts)

    def write(self, ds: KeypointDataset, dst: Path, opts: Options, notes: Notes,
              images_dir: Path | None) -> Output:
        if self.writer is None:
            raise PosekitError(dst, f"writing {self.name} is not supported")
        return _load(self.writer)(ds, dst, opts, notes, images_dir)


def _load(spec: str) -> Callable[..., Any]:
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("coco", "COCO person-keypoint JSON (one file)", "converters.formats:read_coco",
           "converters.formats:write_coco"),
    Format("labelme", "LabelMe folder, one JSON per image", "converters.formats:read_labelme",
           "converters.formats:write_labelme", folder_output=True),
    Format("mpii", "MPII: the .mat release or mmpose's JSON (read); mmpose's JSON (write)",
           "converters.formats:read_mpii", "converters.formats:write_mpii"),
    Format("yolo", "Ultralytics YOLO-pose folder: data.yaml, images/, labels/",
           "converters.yolo:read_yolo", "converters.yolo:write_yolo", folder_output=True, needs_sizes=True),
    Format("cvat", "CVAT for images 1.1 XML (skeletons)", "converters.cvat:read_cvat",
           "converters.cvat:write_cvat"),
    Format("labelstudio", "Label Studio JSON tasks (+ labeling config XML beside them)",
           "converters.labelstudio:read_labelstudio", "converters.labelstudio:write_labelstudio",
           needs_sizes=True),
    Format("openpose", "OpenPose *_keypoints.json folder (BODY_25, COCO-18, MPI-15)",
           "converters.openpose:read_openpose", "converters.openpose:write_openpose", folder_output=True),
)}


def get_format(name: str) -> Format:
    key = name.strip().lower().replace("-", "").replace("_", "")
    aliases = {"yolov8": "yolo", "ultralytics": "yolo", "yolopose": "yolo", "ls": "labelstudio",
               "cvatxml": "cvat", "cvatimages": "cvat"}
    key = aliases.get(key, key)
    if key not in FORMATS:
        raise PosekitError(None, f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[key]


# --------------------------------------------------------------------------- detection

def _head(path: Path, n: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(n)
    except OSError:
        return b""
    return raw.removeprefix(b"\xef\xbb\xbf").lstrip()


def _label_studio_regions(head: bytes) -> bool:
    """Label Studio results: regions of a control (``from_name``) with keypoint or box labels."""
    return (b'"from_name"' in head or b'"annotation_id"' in head) and \
        (b'"keypointlabels"' in head or b'"rectanglelabels"' in head)


def _json_kind(head: bytes) -> str | None:
    if head.startswith(b"["):
        if head[1:].lstrip().startswith(b"]"):
            return None  # an empty list: nothing tells
        if b'"joints' in head or b'"joint_self"' in head:
            return "mpii"
        if b'"data"' in head or _label_studio_regions(head):
            return "labelstudio"  # (a task's results may fill the first 64 kB before its "data")
        if b'"annotation_id"' in head:
            return "labelstudio"  # Label Studio's JSON-MIN export (task data flattened, no "data")
        return None
    if head.startswith(b"{"):
        if b'"people"' in head and b'"pose_keypoints_2d"' in head:
            return "openpose"
        if _label_studio_regions(head) and b'"images"' not in head:
            return "labelstudio"  # one task"
        if b'"shapes"' in head:
            return "labelme"
        if b'"images"' in head or b'"annotations"' in head or b'"categories"' in head:
            return "coco"
    return None


def detect_format(src: Path) -> str:
    """The format of ``src`` from its path and first bytes; PosekitError when nothing fits."""
    if not src.exists():
        raise PosekitError(src, "not found")
    if src.is_dir():
        if (src / "data.yaml").is_file() or ((src / "labels").is_dir() and (src / "images").is_dir()) or \
                any(p.is_file() and b"kpt_shape" in _head(p) for p in (*src.glob("*.yaml"), *src.glob("*.yml"))):
            return "yolo"  # (labelme's config beside LabelMe files is a YAML file too: kpt_shape tells them apart)
        jsons = sorted(p for p in src.rglob("*.json") if not any(s.startswith(".") for s in p.relative_to(src).parts))
        if any(p.name.endswith("_keypoints.json") for p in jsons):
            return "openpose"
        for p in jsons[:20]:
            kind = _json_kind(_head(p))
            if kind in ("labelme", "openpose"):
                return kind
        raise PosekitError(src, "cannot tell the format of this folder (no data.yaml or labels/ + images/, "
                                "no *_keypoints.json, no LabelMe files); pass --from")
    suffix = src.suffix.lower()
    if suffix == ".mat":
        return "mpii"
    if suffix in (".yaml", ".yml"):  # a YOLO dataset's YAML (Ultralytics' data.yaml)
        return "yolo"
    head = _head(src)
    if suffix == ".xml" or head.startswith(b"<"):
        if b"<annotations" in head:
            return "cvat"
        raise PosekitError(src, "an XML file that is not CVAT for images (no <annotations> root); pass --from")
    kind = _json_kind(head)
    if kind is None:
        raise PosekitError(src, "cannot tell the format of this file; pass --from "
                                f"({', '.join(FORMATS)})")
    if kind in ("labelme", "openpose"):
        raise PosekitError(src, f"looks like one {kind} file; pass the folder that holds the {kind} files")
    return kind


# --------------------------------------------------------------------------- COCO, LabelMe, MPII

def read_coco(src: Path, opts: Options) -> Source:
    from annotate.coco import load_coco

    return Source(load_coco(src), opts.images)


def write_coco(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    from annotate.coco import to_coco_dict
    from annotate.io import dumps_json

    try:
        data = dumps_json(to_coco_dict(ds, arrays=True, notes=notes))
    except ValueError as exc:
        raise PosekitError(dst, f"refusing to write: {exc}") from None
    return Output(dst.parent, {dst.name: data}, summary=f"{len(ds.images)} images, {len(ds)} persons")


def read_labelme(src: Path, opts: Options) -> Source:
    from converters.labelme import read_labelme_folder

    layout = _layout_option(opts.layout) if opts.layout else None  # default: the files' own, else COCO-17
    ds, errors = read_labelme_folder(src, layout, opts.person_label, opts.box_margin, opts.progress, opts.images)
    if errors and not opts.skip_bad:
        raise PosekitError(src, f"{len(errors)} bad LabelMe file(s), nothing written; the first: {errors[0]} "
                                f"(fix them, or pass --skip-bad to convert the rest)")
    ds.notes.lost("bad LabelMe files skipped (--skip-bad)", len(errors))
    return Source(ds, opts.images or src)


def write_labelme(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    from converters.labelme import dataset_to_labelme

    if dst.exists() and not dst.is_dir():
        raise PosekitError(dst, "exists and is not a folder")
    docs = dataset_to_labelme(ds, dst, images_dir, opts.person_label)
    files = {str(p.relative_to(dst)): data for p, data in docs.items()}
    # (no reads_back: a LabelMe folder is where people work; other files there are theirs, and
    # adding an export beside them is how sets are merged)
    return Output(dst, files, folder=True, summary=f"{len(docs)} LabelMe files, {len(ds)} persons")


def read_mpii(src: Path, opts: Options) -> Source:
    from converters.mpii import read_mpii as read

    layout = opts.layout or "mpii16"
    _layout_option(layout)
    return Source(read(src, layout, opts.images, "all", opts.box_margin), opts.images)


def write_mpii(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes, images_dir: Path | None) -> Output:
    from annotate.io import dumps_json
    from converters.mpii import write_mpii_json

    entries = write_mpii_json(ds)
    return Output(dst.parent, {dst.name: dumps_json(entries)}, summary=f"{len(entries)} persons")


def _layout_option(name: str):
    from annotate.skeletons import get_layout

    try:
        return get_layout(name)
    except KeyError as exc:
        raise PosekitError(None, f"--layout: {exc.args[0]}") from None


# --------------------------------------------------------------------------- shared steps

def remap(ds: KeypointDataset, layout_name: str, notes: Notes) -> tuple[KeypointDataset, str]:
    """The dataset with its keypoints mapped to another layout (named mapping, else by keypoint
    name); returns the mapping's one-line description."""
    from annotate.dataset import Category
    from annotate.skeletons import mapping_between

    dst = _layout_option(layout_name)
    src = ds.category.layout
    if src.keypoints == dst.keypoints:
        return ds, f"already {dst.name}"
    m = _named_mapping(src.name, dst.name) or mapping_between(src, dst)
    if not m.pairs:
        raise PosekitError(None, f"--map-to {dst.name}: the source's keypoints ({', '.join(src.keypoints[:4])}, ...) "
                                 f"share no name with {dst.name}")
    kps = ds.keypoints
    lab = kps[..., 2] > 0
    used = {s for s, _ in m.pairs} | {a for a, _, _ in m.midpoints} | {b for _, b, _ in m.midpoints}
    dropped = [i for i in range(src.num_keypoints) if i not in used]
    if dropped:
        notes.lost(f"labeled keypoints with no place in {dst.name} ({', '.join(src.keypoints[i] for i in dropped)})",
                   int(lab[:, dropped].sum()))
    cats = [Category(c.id, c.name, list(dst.keypoints), [tuple(x) for x in dst.limbs],
                     {k: v for k, v in c.extra.items() if k not in ("_skeleton_raw", "_keypoints_raw")})
            for c in ds.categories]
    extra = list(ds.extra)
    for r, e in enumerate(ds.extra):  # per-keypoint scores follow their keypoints
        sc = e.get("keypoint_scores")
        if isinstance(sc, list) and len(sc) == src.num_keypoints:
            as_kps = np.zeros((1, src.num_keypoints, 3))
            as_kps[0, :, 2] = np.asarray(sc, dtype=np.float64) + 1  # +1: a score of 0 still counts as present
            mapped = m.apply(as_kps)[0, :, 2]
            extra[r] = {**e, "keypoint_scores": np.maximum(mapped - 1, 0).tolist()}
    out = KeypointDataset(cats[0], ds.images, ds.ann_id, ds.image_id, m.apply(kps), ds.bbox, ds.area,
                          ds.iscrowd, ds.score, extra, ds.info, ds.licenses, ds.other_categories,
                          ds.other_annotations, ds.top_extra, cats, ds.category_id, ds.notes)
    for a, b, d in m.midpoints:
        notes.changed(f"{dst.keypoints[d]} keypoints derived as the mean of {src.keypoints[a]} and "
                      f"{src.keypoints[b]}", int((out.keypoints[:, d, 2] > 0).sum()))
    return out, m.describe()


def _named_mapping(src: str, dst: str):
    from annotate.skeletons import MAPPINGS

    return MAPPINGS.get((src, dst))


def fill_image_sizes(ds: KeypointDataset, images_dir: Path | None, fmt: str, owner: Path) -> int:
    """Read the width and height of images that lack them from their headers (``images_dir``);
    PosekitError when they cannot be known. Returns how many were read."""
    from annotate.images import check_image_header, image_path

    missing = [im for im in ds.images if not im.width or not im.height]
    if not missing:
        return 0
    if images_dir is None:
        raise PosekitError(owner, f"{len(missing)} image(s) have no width/height (e.g. {missing[0].file_name!r}) "
                                  f"and {fmt} needs them: pass --images DIR to read them from the image files")
    for im in missing:
        im.width, im.height = check_image_header(image_path(images_dir, im.file_name, owner))
    return len(missing)


def note_unheld(ds: KeypointDataset, notes: Notes, *, ann_fields: tuple[str, ...] = (),
                image_fields: tuple[str, ...] = (), ann_ids: bool = False, image_ids: bool = False,
                area: bool = False, score: bool = False, crowd_rows: np.ndarray | None = None) -> None:
    """Count what the target format cannot hold: annotation and image fields other than the ones it
    carries (``*_fields``), ids, areas (unless equal to the box's), scores, info and licenses.
    Crowd rows (when given) are counted by the caller and skipped here."""
    keep = np.ones(len(ds), bool) if crowd_rows is None else ~crowd_rows
    extras = ds.extra if keep.all() else [ds.extra[r] for r in np.flatnonzero(keep).tolist()]
    counts = Counter(chain.from_iterable(extras))
    # num_keypoints is the count of labeled points (every format has them); NO_ISCROWD marks a file
    # without iscrowd keys (a fact of the source, not a field)
    held = {*ann_fields, "num_keypoints", NO_ISCROWD}
    for n, keys in _by_count({k: c for k, c in counts.items() if k not in held}):
        notes.lost(f"annotations' {', '.join(keys)}", n)
    img_counts = Counter(chain.from_iterable(im.extra for im in ds.images))
    for n, keys in _by_count({k: c for k, c in img_counts.items() if k not in image_fields}):
        notes.lost(f"images' {', '.join(keys)}", n)
    n = int(keep.sum())
    if not ann_ids:
        notes.lost("annotation ids", n)
    if not image_ids:
        notes.lost("image ids", len(ds.images))
    if not area:
        box_area = ds.bbox[:, 2] * ds.bbox[:, 3]
        with np.errstate(invalid="ignore"):
            differs = keep & ~np.isnan(ds.area) & ~np.isclose(ds.area, box_area, rtol=1e-9, atol=1e-9)
        notes.lost("areas other than the box's (read back as box area)", int(differs.sum()))
    if not score:
        notes.lost("person scores", int((keep & ~np.isnan(ds.score)).sum()))
    if ds.info:
        notes.lost("COCO info", 1)
    if ds.licenses:
        notes.lost("COCO licenses", 1)
    if ds.other_annotations:
        notes.lost("annotations of categories without keypoints", len(ds.other_annotations))


def _by_count(counts: dict[str, int]) -> list[tuple[int, list[str]]]:
    groups: dict[int, list[str]] = {}
    for k, n in sorted(counts.items()):
        groups.setdefault(n, []).append(k)
    return sorted(groups.items(), reverse=True)


def class_index(ds: KeypointDataset) -> tuple[np.ndarray, list[str]]:
    """Each annotation's 0-based class (index of its category) and the class names."""
    ids = np.array([c.id for c in ds.categories], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], ds.category_id)
    return order[np.clip(pos, 0, len(ids) - 1)], [c.name for c in ds.categories]


def image_rows(ds: KeypointDataset) -> np.ndarray:
    """Each annotation's index into ``ds.images``."""
    ids = np.array([im.id for im in ds.images], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.clip(np.searchsorted(ids[order], ds.image_id), 0, max(len(ids) - 1, 0))
    return order[pos] if len(ids) else np.zeros(0, np.int64)


def safe_file_name(file_name: str) -> str:
    """``file_name`` as a normalised relative path; PosekitError for absolute paths and ``..``
    (an output named after it must stay inside the output folder)."""
    rel = file_name.replace("\\", "/")
    if not rel or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or ".." in rel.split("/"):
        raise PosekitError(None, f"image file_name {file_name!r} must be a relative path inside the images folder")
    return os.path.normpath(rel)


# --------------------------------------------------------------------------- writing outputs

def existing_targets(out: Output) -> list[Path]:
    if out.folder and not os.path.lexists(out.root):
        return []
    return [p for p in out.paths() if os.path.lexists(p)]


def write_output(out: Output, overwrite: bool) -> None:
    """Write every file and link of ``out``; refuse (writing nothing) when a target exists and
    ``overwrite`` is off. A new folder output appears whole or not at all (filled under a
    temporary name beside it, then renamed); into an existing folder each file is renamed into
    place. Single files are written with :func:`annotate.io.write_bytes_atomic` (fsync, rename)."""
    existing = existing_targets(out)
    if existing and not overwrite:
        raise PosekitError(existing[0], f"already exists ({len(existing)} of {len(out.files) + len(out.links)} "
                                        f"outputs do); nothing written; pass --overwrite to replace them")
    for p in existing:
        if p.is_dir() and not p.is_symlink():
            raise PosekitError(p, "is a folder where a file is to be written")
    root = out.root
    if not out.folder:
        from annotate.io import write_bytes_atomic

        for rel, data in out.files.items():
            write_bytes_atomic(root / rel, data)
        for rel, target in out.links.items():
            _link_atomic(root / rel, target)
        return
    fresh = not os.path.lexists(root)
    if not fresh and not root.is_dir():
        raise PosekitError(root, "exists and is not a folder")
    if not fresh:
        _refuse_stale(out)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent)
    try:
        # one after the other: from two threads the many short system calls pass the GIL to and
        # fro at every call, which took twice as long as making them in turn (measured on tmpfs)
        _make_links(stage, out.links)
        _write_files(stage, out.files)
        # no fsync per file: tens of thousands of them take minutes, and os.sync() waits for every
        # other process's writes too; the rename below makes the folder appear whole or not at all
        if fresh:
            os.rename(stage, root)
            return
        for rel in (*out.files, *out.links):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(os.path.join(stage, rel), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stage)


def _refuse_stale(out: Output) -> None:
    """Refuse to write into a folder holding data files of an earlier output that this one would
    not replace: read back, they would join the new dataset (deleting them could lose work)."""
    ours = {*out.files, *out.links}
    stale = sorted({p.relative_to(out.root).as_posix() for pat in out.reads_back for p in out.root.glob(pat)
                    if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")} - ours)
    if stale:
        raise PosekitError(out.root / stale[0], f"is one of {len(stale)} files in this folder that this output "
                                                f"would not replace (an earlier dataset's? they would read back as "
                                                f"part of the new one); nothing written; write to a new folder or "
                                                f"remove them")


def _write_files(stage: str, files: dict[str, bytes]) -> None:
    made: set[str] = set()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for rel, data in files.items():
        tmp = f"{stage}{os.sep}{rel}"
        _mkdir(tmp[:max(tmp.rfind("/"), tmp.rfind(os.sep))], made)
        fd = os.open(tmp, flags, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)


def _make_links(stage: str, links: dict[str, str]) -> None:
    made: set[str] = set()
    for rel, target in links.items():
        tmp = f"{stage}{os.sep}{rel}"
        _mkdir(tmp[:max(tmp.rfind("/"), tmp.rfind(os.sep))], made)
        os.symlink(target, tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _mkdir(folder: str, made: set[str]) -> None:
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)


def _link_atomic(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the conversion

@dataclass
class Result:
    ds: KeypointDataset
    source_format: str
    target_format: str
    summary: str
    notes: Notes
    mapping: str | None = None


def convert(src: Path, dst: Path, to: str, from_: str | None = None, opts: Options | None = None,
            map_to: str | None = None, overwrite: bool = False) -> Result:
    """Read ``src`` (format detected, or ``from_``), optionally map its keypoints to layout
    ``map_to``, write ``dst`` as ``to``. Nothing is written when anything is wrong."""
    with paused_gc():  # the dataset and the output are many objects, none of them garbage
        return _convert(src, dst, to, from_, opts, map_to, overwrite)


def _convert(src: Path, dst: Path, to: str, from_: str | None, opts: Options | None, map_to: str | None,
             overwrite: bool) -> Result:
    opts = opts or Options()
    fmt_out = get_format(to)
    fmt_in = get_format(from_) if from_ else get_format(detect_format(src))
    if opts.outside not in ("clip", "hide", "drop"):
        raise PosekitError(None, f"--outside must be clip, hide or drop, not {opts.outside!r}")
    if opts.layout:
        _layout_option(opts.layout)
    if opts.images is not None and not opts.images.is_dir():
        raise PosekitError(opts.images, "images folder not found")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise PosekitError(dst, "is also the input; refusing to overwrite an input")
    if not fmt_out.folder_output and dst.is_dir():
        raise PosekitError(dst, f"is a folder; {fmt_out.name} is written to a file")
    if fmt_out.folder_output and dst.exists() and not dst.is_dir():
        raise PosekitError(dst, f"exists and is not a folder; {fmt_out.name} is written to a folder")
    if not fmt_out.folder_output and dst.exists() and not overwrite:
        raise PosekitError(dst, "already exists; pass --overwrite to replace it")
    source = fmt_in.read(src, opts)
    ds = source.ds
    notes = ds.notes  # readers and writers count into the one dataset's notes
    mapping = None
    if map_to:
        ds, mapping = remap(ds, map_to, notes)
    images_dir = opts.images or source.images_dir
    if fmt_out.needs_sizes:
        n = fill_image_sizes(ds, images_dir, fmt_out.name, src)
        notes.changed("image sizes read from the image files", n)
    out = fmt_out.write(ds, dst, opts, notes, images_dir)
    if src.is_file() and not (out.folder and not out.root.exists()):
        src_real = src.resolve()
        for p in out.paths():
            if p.exists() and p.resolve() == src_real:
                raise PosekitError(p, "is also the input; refusing to overwrite an input")
    write_output(out, overwrite)
    return Result(ds, fmt_in.name, fmt_out.name, out.summary, notes, mapping)
