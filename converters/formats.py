"""The one conversion path: the formats every command reads and writes (name -> module with
``detect``, ``read``, ``write``), the :class:`Context` they share, and ``read_dataset``,
``write_dataset``, ``convert``.

Every format converts through :class:`~annotate.dataset.KeypointDataset`: a reader gives a
:class:`Source` (the dataset and the folder its image file names are relative to), a writer
gives an :class:`Output` (the bytes of every file and the links to make), written by
:func:`write_output` so that nothing is partly written: a new output folder is filled under a
temporary name and renamed into place; single files are written atomically.

Each format is one module (``detect``, ``read``, ``write``), imported when first asked: detection
imports the seven modules (kept light at import: heavy libraries are imported where used) and
looks at the path and the first bytes of the file (:class:`Probe`).
"""
from __future__ import annotations

import contextlib
import functools
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

from annotate.dataset import KeypointDataset
from annotate.errors import PosekitError
from annotate.io import paused_gc
from annotate.notes import Account, Notes



@dataclass
class Context:
    """One conversion's options, error policy, notes, account and progress, handed to every
    format's ``read`` and ``write`` (each uses the options it needs)."""

    images: Path | None = None            # folder the image file names are relative to
    layout: str | None = None             # layout of sources whose files do not name it
    category: str | None = None           # read only this keypoint category of a multi-layout source
    person_label: str = "person"          # LabelMe rectangle label of a person's box; CVAT skeleton label
    box_margin: float = 0.1               # margin of boxes made from keypoints
    outside: str = "hide"                 # YOLO: keypoints outside the image: clip | hide | drop
    visibility: bool = True               # YOLO: kpt_shape [K, 3] (True) or [K, 2]
    image_root_url: str = "/data/local-files/?d="  # Label Studio: prefix of data.image
    skip_bad: bool = False                # error policy: skip bad files (counted) instead of refusing
    progress: Callable[[int], None] | None = None
    notes: Notes = field(default_factory=Notes)
    account: Account = field(default_factory=Account)
    bad_files: list[PosekitError] = field(default_factory=list)

    def bad(self, error: PosekitError, unit: str = "files") -> None:
        """A bad file (or task, or record) of the source: kept in ``bad_files`` (the reader goes
        on to the next); after reading, :func:`read_dataset` refuses the conversion when there are
        any, unless ``skip_bad``, where each is counted as not carried."""
        self.bad_files.append(error)
        self.notes.lost(f"bad {unit} skipped (--skip-bad)", 1)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None:
            self.progress(n)


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
    output would not replace would read as part of it, so writing there is refused. ``persons``:
    how many persons the files hold (None: every person of the dataset)."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    folder: bool = False
    summary: str = ""
    reads_back: tuple[str, ...] = ()
    persons: int | None = None

    def paths(self) -> list[Path]:
        return [self.root / rel for rel in (*self.files, *self.links)]


class Probe:
    """What detection looks at: the path, a file's first bytes, a folder's JSON and YAML files
    (listed once, whichever formats ask)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_dir = path.is_dir()
        self.suffix = path.suffix.lower()
        self.head = b"" if self.is_dir else head_bytes(path)

    @functools.cached_property
    def jsons(self) -> list[Path]:
        """A folder's JSON files (hidden ones left out), sorted."""
        src = self.path
        return sorted(p for p in src.rglob("*.json") if not any(s.startswith(".") for s in p.relative_to(src).parts))

    @functools.cached_property
    def json_heads(self) -> list[bytes]:
        """The first bytes of the folder's first 20 JSON files."""
        return [head_bytes(p) for p in self.jsons[:20]]

    @functools.cached_property
    def yamls(self) -> list[Path]:
        return [*self.path.glob("*.yaml"), *self.path.glob("*.yml")] if self.is_dir else []


def head_bytes(path: Path, n: int = 1 << 16) -> bytes:
    """A file's first ``n`` bytes without a UTF-8 byte-order mark or leading white space."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(n)
    except OSError:
        return b""
    return raw.removeprefix(b"\xef\xbb\xbf").lstrip()


@dataclass(frozen=True)
class Format:
    """A format: its module exposes ``detect(Probe) -> int`` (0: not this format, up to 100),
    ``read(Path, Context) -> Source`` and ``write(KeypointDataset, Path, Context, images_dir) -> Output``."""

    name: str
    summary: str
    module: str
    folder_output: bool = False  # DST is a folder (else a file)
    needs_sizes: bool = False    # the writer needs every image's width and height
    file_or_folder: bool = False  # DST may be a file or a folder (COCO: a folder of one file per split)

    @property
    def impl(self) -> Any:
        return importlib.import_module(self.module)

    def read(self, src: Path, ctx: Context) -> Source:
        return self.impl.read(src, ctx)

    def write(self, ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
        return self.impl.write(ds, dst, ctx, images_dir)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("coco", "COCO person-keypoint JSON: one file, or a folder of one file per split", "annotate.coco",
           file_or_folder=True),
    Format("labelme", "LabelMe folder, one JSON per image", "converters.labelme", folder_output=True),
    Format("mpii", "MPII: the .mat release or mmpose's JSON (read); mmpose's JSON (write)", "converters.mpii"),
    Format("yolo", "Ultralytics YOLO-pose folder: data.yaml, images/, labels/", "converters.yolo",
           folder_output=True, needs_sizes=True),
    Format("cvat", "CVAT for images / for video 1.1 XML (skeletons)", "converters.cvat"),
    Format("labelstudio", "Label Studio JSON tasks (+ labeling config XML beside them)", "converters.labelstudio",
           needs_sizes=True),
    Format("openpose", "OpenPose JSON folder (*_keypoints.json, or one JSON per frame as Pose2Sim names them; "
                       "BODY_25, COCO-18, MPI-15, Halpe-26, COCO-17)",
           "converters.openpose", folder_output=True),
)}


def get_format(name: str) -> Format:
    key = name.strip().lower().replace("-", "").replace("_", "")
    aliases = {"yolov8": "yolo", "ultralytics": "yolo", "yolopose": "yolo", "ls": "labelstudio",
               "cvatxml": "cvat", "cvatimages": "cvat"}
    key = aliases.get(key, key)
    if key not in FORMATS:
        raise PosekitError(None, f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[key]


def detect_format(src: Path) -> str:
    """The format of ``src``: the one whose ``detect`` is most confident; PosekitError when none
    is (a format's own detector may raise to say what is wrong)."""
    if not src.exists():
        raise PosekitError(src, "not found")
    probe = Probe(src)
    scores = {name: f.impl.detect(probe) for name, f in FORMATS.items()}
    best = max(scores, key=scores.__getitem__)
    if scores[best] > 0:
        return best
    if probe.is_dir:
        raise PosekitError(src, "cannot tell the format of this folder (no data.yaml or labels/ + images/, "
                                "no OpenPose or LabelMe files); pass --from")
    if probe.suffix == ".xml" or probe.head.startswith(b"<"):
        raise PosekitError(src, "an XML file that is not CVAT (no <annotations> root); pass --from")
    raise PosekitError(src, f"cannot tell the format of this file; pass --from ({', '.join(FORMATS)})")


def refuse_single_file(probe: Probe, name: str) -> None:
    """For folder formats: one file that looks like theirs is refused with the reason."""
    raise PosekitError(probe.path, f"looks like one {name} file; pass the folder that holds the {name} files")


def layout_option(name: str, option: str = "--layout"):
    from annotate.skeletons import get_layout

    try:
        return get_layout(name)
    except KeyError as exc:
        raise PosekitError(None, f"{option}: {exc.args[0]}") from None


# --------------------------------------------------------------------------- shared steps

def remap(ds: KeypointDataset, layout_name: str, notes: Notes) -> tuple[KeypointDataset, str]:
    """The dataset with its keypoints mapped to another layout (named mapping, else by keypoint
    name); returns the mapping's one-line description."""
    from annotate.dataset import Category
    from annotate.skeletons import mapping_between

    dst = layout_option(layout_name, "--map-to")
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
                   int(lab[:, dropped].sum()), unit="keypoints")
    cats = [Category(c.id, c.name, list(dst.keypoints), [tuple(x) for x in dst.limbs], dict(c.extra))
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
                          ds.other_annotations, ds.top_extra, cats, ds.category_id, ds.notes, ds.iscrowd_given)
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
    from annotate.images import image_size, image_path

    missing = [im for im in ds.images if not im.width or not im.height]
    if not missing:
        return 0
    if images_dir is None:
        raise PosekitError(owner, f"{len(missing)} image(s) have no width/height (e.g. {missing[0].file_name!r}) "
                                  f"and {fmt} needs them: pass --images DIR to read them from the image files")
    for im in missing:
        im.width, im.height = image_size(image_path(images_dir, im.file_name, owner))
    return len(missing)


def note_unheld(ds: KeypointDataset, notes: Notes, *, ann_fields: tuple[str, ...] = (),
                image_fields: tuple[str, ...] = (), ann_ids: bool = False, image_ids: bool = False,
                area: bool = False, score: bool = False, crowd_rows: np.ndarray | None = None,
                splits: bool = False) -> None:
    """Count what the target format cannot hold: annotation and image fields other than the ones it
    carries (``*_fields``), ids, areas (unless equal to the box's), scores, images' splits, info
    and licenses. Crowd rows (when given) are counted by the caller and skipped here."""
    keep = np.ones(len(ds), bool) if crowd_rows is None else ~crowd_rows
    extras = ds.extra if keep.all() else [ds.extra[r] for r in np.flatnonzero(keep).tolist()]
    counts = Counter(chain.from_iterable(extras))
    # num_keypoints is the count of labeled points (every format has them)
    held = {*ann_fields, "num_keypoints"}
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
    if not splits:
        notes.lost("images' split (train/val/test)", sum(im.split is not None for im in ds.images))
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


# --------------------------------------------------------------------------- writing outputs

def existing_targets(out: Output) -> list[Path]:
    if out.folder and not os.path.lexists(out.root):
        return []
    return [p for p in out.paths() if os.path.lexists(p)]


def refuse_existing(out: Output, overwrite: bool) -> None:
    """PosekitError when a file of ``out`` exists and ``overwrite`` is off, or is a folder."""
    existing = existing_targets(out)
    if existing and not overwrite:
        raise PosekitError(existing[0], f"already exists ({len(existing)} of {len(out.files) + len(out.links)} "
                                        f"outputs do); nothing written; pass --overwrite to replace them")
    for p in existing:
        if p.is_dir() and not p.is_symlink():
            raise PosekitError(p, "is a folder where a file is to be written")


def write_output(out: Output, overwrite: bool) -> None:
    """Write every file and link of ``out``; refuse (writing nothing) when a target exists and
    ``overwrite`` is off. A new folder output appears whole or not at all (filled under a
    temporary name beside it, then renamed); into an existing folder each file is renamed into
    place. Single files are written with :func:`annotate.io.write_bytes_atomic` (fsync, rename)."""
    refuse_existing(out, overwrite)
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


def check_options(ctx: Context) -> None:
    """Refuse option values no format can use, before anything is read."""
    if ctx.outside not in ("clip", "hide", "drop"):
        raise PosekitError(None, f"--outside must be clip, hide or drop, not {ctx.outside!r}")
    if ctx.layout:
        layout_option(ctx.layout)
    if ctx.images is not None and not ctx.images.is_dir():
        raise PosekitError(ctx.images, "images folder not found")


def read_dataset(src: Path, ctx: Context, from_: str | None = None) -> tuple[Source, str]:
    """Read ``src`` as every command reads a dataset: format detected (or ``from_``), the reader's
    notes in ``ctx.notes`` (and ``ds.notes``), and the account settled: every image, person and
    labeled keypoint the reader saw is carried or counted, else PosekitError (a bug, never a
    quiet loss). Returns the source and the format's name."""
    check_options(ctx)
    fmt = get_format(from_) if from_ else get_format(detect_format(src))
    source = fmt.read(src, ctx)
    if ctx.bad_files and not ctx.skip_bad:
        raise PosekitError(src, f"{len(ctx.bad_files)} bad part(s) of this {fmt.name} source, the "
                                f"first: {ctx.bad_files[0]}; nothing written (fix them, or pass --skip-bad to "
                                f"convert the rest)")
    ds = source.ds
    if ds.notes is not ctx.notes:  # (a reader may count into ctx.notes itself)
        ctx.notes.merge(ds.notes)
        ds.notes = ctx.notes
    settle(ctx.account, ds, ctx.notes, src, f"reading {fmt.name}")
    return source, fmt.name


def settle(account: Account, ds: KeypointDataset, notes: Notes, src: Path, step: str) -> None:
    """PosekitError when ``account`` (what was seen) is not what ``ds`` carries plus what ``notes``
    count as not carried."""
    carried = {"images": len(ds.images), "persons": len(ds),
               "keypoints": int((ds.keypoints[..., 2] > 0).sum())}
    gaps = account.settle(carried, notes)
    if gaps:
        raise PosekitError(src, f"{step}: the count does not add up ({'; '.join(gaps)}): a posekit bug; "
                                f"nothing written (please report it with the file)")


def write_dataset(ds: KeypointDataset, dst: Path, to: str, ctx: Context, overwrite: bool = False,
                  images_dir: Path | None = None, inputs: tuple[Path, ...] = ()) -> Output:
    """Write ``ds`` to ``dst`` as format ``to``, as every command writes a dataset
    (:func:`prepare_output`, then :func:`write_output`: the files appear whole or not at all)."""
    out = prepare_output(ds, dst, to, ctx, overwrite, images_dir, inputs)
    write_output(out, overwrite)
    return out


def prepare_output(ds: KeypointDataset, dst: Path, to: str, ctx: Context, overwrite: bool = False,
                   images_dir: Path | None = None, inputs: tuple[Path, ...] = ()) -> Output:
    """The files of ``ds`` written to ``dst`` as format ``to``, made in memory: targets checked
    (never over an input, an existing output only with ``overwrite``), image sizes read where
    the format needs them, every person written or counted. Nothing is on disk yet (a command
    writing several outputs prepares them all first)."""
    fmt = get_format(to)
    check_target(fmt, dst, overwrite, inputs)
    images_dir = ctx.images or images_dir
    if fmt.needs_sizes:
        ctx.notes.changed("image sizes read from the image files",
                          fill_image_sizes(ds, images_dir, fmt.name, inputs[0] if inputs else dst))
    before = ctx.notes.dropped("persons")
    out = fmt.write(ds, dst, ctx, images_dir)
    written = len(ds) if out.persons is None else out.persons
    if written + ctx.notes.dropped("persons") - before != len(ds):
        raise PosekitError(dst, f"writing {fmt.name}: {len(ds)} persons to write, {written} written and "
                                f"{ctx.notes.dropped('persons') - before} counted as not carried: a posekit bug; "
                                f"nothing written (please report it with the file)")
    for p in out.paths():
        if any(q.exists() and p.exists() and p.resolve() == q.resolve() for q in inputs if q.is_file()):
            raise PosekitError(p, "is also the input; refusing to overwrite an input")
    refuse_existing(out, overwrite)
    return out


def check_target(fmt: Format, dst: Path, overwrite: bool, inputs: tuple[Path, ...]) -> None:
    """Refuse a target that is an input, of the wrong kind (file or folder), or (a file) that
    exists without ``overwrite``, before anything is read or made."""
    for src in inputs:
        if src.exists() and dst.exists() and src.resolve() == dst.resolve():
            raise PosekitError(dst, "is also the input; refusing to overwrite an input")
    if not fmt.folder_output and not fmt.file_or_folder and dst.is_dir():
        raise PosekitError(dst, f"is a folder; {fmt.name} is written to a file")
    if fmt.folder_output and dst.exists() and not dst.is_dir():
        raise PosekitError(dst, f"exists and is not a folder; {fmt.name} is written to a folder")
    if not fmt.folder_output and dst.is_file() and not overwrite:
        raise PosekitError(dst, "already exists; pass --overwrite to replace it")


def convert(src: Path, dst: Path, to: str, from_: str | None = None, ctx: Context | None = None,
            map_to: str | None = None, overwrite: bool = False) -> Result:
    """Read ``src`` (format detected, or ``from_``), optionally map its keypoints to layout
    ``map_to``, write ``dst`` as ``to``: the one conversion path of every command. Nothing is
    written when anything is wrong."""
    ctx = ctx or Context()
    fmt_out = get_format(to)
    check_options(ctx)
    check_target(fmt_out, dst, overwrite, (src,))
    with paused_gc():  # the dataset and the output are many objects, none of them garbage
        source, fmt_in = read_dataset(src, ctx, from_)
        ds, mapping = source.ds, None
        if map_to:
            ds, mapping = remap(ds, map_to, ctx.notes)
        out = write_dataset(ds, dst, fmt_out.name, ctx, overwrite, source.images_dir, (src,))
    return Result(ds, fmt_in, fmt_out.name, out.summary, ctx.notes, mapping)
