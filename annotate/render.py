"""``annotate render``: OpenPose targets per image, written as arrays and pictures, in a process pool."""
from __future__ import annotations

import io
import math
import multiprocessing
import os
import posixpath
import zipfile
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .dataset import KeypointDataset
from .errors import PosekitError
from .images import image_path, image_size, image_stem, read_image
from .io import write_bytes_atomic
from .skeletons import Layout, get_mapping
from .targets import OpenPoseCodec

# images handed to a worker at a time: large enough to amortise the hand-over, small enough
# for a smooth progress bar
_CHUNK = 4


@dataclass
class ImageTargets:
    """Targets of one image at the network input scale."""

    heatmaps: np.ndarray  # (K+1, Hg, Wg), last = background
    pafs: np.ndarray  # (2L, Hg, Wg)
    mask_crowd: np.ndarray  # (Hg, Wg) uint8, 1 inside crowd regions
    scale: float  # input pixels per image pixel
    keypoints: np.ndarray  # (N, K, 3) persons in input pixels (target layout)
    input_hw: tuple[int, int]


def target_layout(ds: KeypointDataset, name: str, decode: bool = False,
                  owner: Path | None = None) -> tuple[Layout, np.ndarray]:
    """The layout to render and every person's keypoints in it (``native``: the file's own);
    PosekitError naming ``owner`` when it cannot be rendered (or, with ``decode``, decoded)."""
    src = ds.category.layout
    if name in (src.name, "native"):
        lay, kps = src, ds.keypoints
    else:
        try:
            m = get_mapping(src.name, name)
        except KeyError:
            raise PosekitError(owner, f"cannot render layout {name} from a '{src.name}' category") from None
        lay, kps = m.dst, m.apply(ds.keypoints)
    if decode and not lay.limbs:
        raise PosekitError(owner, f"--decode: layout {lay.name} has no skeleton (the category lists no limbs), so "
                                  "the targets have no PAFs to tell which keypoints belong to one person and no "
                                  "person can be decoded; render without --decode")
    return lay, kps


def output_names(file_names: list[str], image_ids: list[int]) -> tuple[list[str], int]:
    """Collision-free output names (relative paths without extension), one per image, and how
    many images were renamed.

    An image's name is its ``file_name`` without the extension (sub-folders kept). Names that
    would be shared (``x.jpg`` and ``x.png``; names equal but for case, which collide on
    case-insensitive file systems; one file name listed twice) become ``x_jpg``, ``x_png``,
    and where that still collides, ``<name>_id<image id>``."""
    def key(name: str) -> str:
        return name.casefold()

    def plain(fn: str) -> str:
        return posixpath.normpath(fn.replace("\\", "/"))

    base = [image_stem(plain(fn)) for fn in file_names]
    names = list(base)
    for step in range(2):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(names):
            groups[key(name)].append(i)
        clashes = [i for members in groups.values() if len(members) > 1 for i in members]
        if not clashes:
            break
        for i in clashes:
            if step == 0:
                stem = image_stem(plain(file_names[i]))
                ext = plain(file_names[i])[len(stem):]
                names[i] = f"{stem}_{ext.lstrip('.')}" if ext else f"{stem}_id{image_ids[i]}"
            else:
                names[i] = f"{names[i]}_id{image_ids[i]}"
    groups = defaultdict(list)
    for i, name in enumerate(names):
        groups[key(name)].append(i)
    for members in groups.values():  # unreachable while image ids are unique; never overwrite
        if len(members) > 1:
            a, b = members[:2]
            raise PosekitError(None, f"images {file_names[a]!r} (id {image_ids[a]}) and {file_names[b]!r} "
                                     f"(id {image_ids[b]}) would be written to the same {names[a]}.npz")
    return names, sum(n != b for n, b in zip(names, base))


@dataclass
class RenderJob:
    """Everything the workers need; sent to each worker once."""

    ds: KeypointDataset
    keypoints: np.ndarray  # (N, K, 3) every annotation in the target layout
    layout: Layout
    codec: OpenPoseCodec
    images_dir: Path
    out_dir: Path
    input_size: int
    owner: Path  # the COCO file (named in errors)
    rows: dict[int, np.ndarray]  # image id -> annotation rows
    names: dict[int, str]  # image index -> output name
    sizes: dict[int, tuple[int, int]]  # image index -> (height, width) as decoded
    pictures: frozenset[int]  # image indices that get pictures (only their pixels are decoded)
    decode: bool = False


def plan_render(ds: KeypointDataset, images: Path, image_ids: list[int] | None,
                owner: Path) -> tuple[list[int], dict[int, tuple[int, int]], list[str], int]:
    """The image indices to render (``image_ids``, else all), each one's decoded ``(height,
    width)`` and output name, and how many names were changed to avoid a clash: every image must
    be there and be an image, and no two may share output files, before anything is written."""
    wanted = set(image_ids or ())
    todo = [i for i, im in enumerate(ds.images) if not wanted or im.id in wanted]
    if image_ids and not todo:
        raise PosekitError(owner, f"none of the image ids {image_ids} is in the file")
    sizes = {i: image_size(image_path(images, ds.images[i].file_name, owner))[::-1] for i in todo}
    try:
        names, renamed = output_names([ds.images[i].file_name for i in todo], [ds.images[i].id for i in todo])
    except PosekitError as exc:
        raise PosekitError(owner, exc.message) from None
    return todo, sizes, names, renamed


def write_decoded(job: "RenderJob", todo: list[int], results: dict[int, dict], path: Path) -> tuple[int, int]:
    """Write the persons decoded from the targets as COCO (in file order, whichever worker
    finished first; v=2 where found); returns (persons decoded, annotated persons rendered)."""
    from .coco import save_coco
    from .dataset import Category, DatasetBuilder

    ds = job.ds
    decoded = DatasetBuilder(Category.from_layout(job.layout))
    for i in todo:
        if i in results:
            im = ds.images[i]
            decoded.add_image(im.file_name, im.width, im.height, image_id=im.id)
            for person in results[i]["decoded"]:
                decoded.add_person(im.id, person, score=float(person[:, 2].mean()))
    dds = decoded.build()
    dds.keypoints[:, :, 2] = np.where(dds.keypoints[:, :, 2] > 0, 2, 0)
    save_coco(dds, path)
    n_ann = int(sum((~ds.iscrowd[job.rows[ds.images[i].id]]).sum() for i in todo))
    return len(dds), n_ann


def crowd_mask(ds: KeypointDataset, rows: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Union of the crowd regions (segmentation, else box) of the given rows at image size."""
    from pycocotools import mask as mask_utils

    H, W = hw
    out = np.zeros((H, W), np.uint8)
    for r in rows:
        seg = ds.extra[r].get("segmentation")
        m = None
        if seg:
            try:
                rles = mask_utils.frPyObjects(seg, H, W) if not (isinstance(seg, dict) and isinstance(seg.get("counts"), str)) else seg
                m = mask_utils.decode(mask_utils.merge(rles) if isinstance(rles, list) else rles)
            except Exception:  # malformed segmentation: fall back to the box
                m = None
        if m is None and not np.isnan(ds.bbox[r]).any():
            x, y, w, h = ds.bbox[r]
            m = np.zeros((H, W), np.uint8)
            m[max(int(y), 0):max(int(math.ceil(y + h)), 0), max(int(x), 0):max(int(math.ceil(x + w)), 0)] = 1
        if m is not None:
            out |= m.astype(np.uint8)
    return out


def make_targets(img_hw: tuple[int, int], kps: np.ndarray, codec: OpenPoseCodec, crowd: np.ndarray | None,
                 input_size: int) -> ImageTargets:
    """Scale so the image's longer side is ``input_size`` and encode heatmaps, PAFs and the crowd mask."""
    import cv2

    h, w = img_hw
    scale = input_size / max(h, w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    grid = codec.grid_size((ih, iw))
    k = np.array(kps, dtype=np.float64)
    k[:, :, :2] *= scale
    t = codec.encode(k, grid)
    if crowd is not None and crowd.any():
        small = cv2.resize(crowd.astype(np.float32), (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
        mask = (small >= 0.5).astype(np.uint8)
    else:
        mask = np.zeros(grid, np.uint8)
    return ImageTargets(t.heatmaps, t.pafs, mask, scale, k, (ih, iw))


def npz_bytes(arrays: dict[str, np.ndarray], level: int = 1) -> bytes:
    """An ``.npz`` (deflate ``level``) whose bytes depend on the arrays only (fixed time stamps),
    so that a run in a process pool writes the same files as a run in one process."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def render_image(job: RenderJob, image_index: int) -> dict:
    """Render one image's targets (and pictures); returns a summary (and decoded persons)."""
    from . import draw

    ds = job.ds
    im = ds.images[image_index]
    pictures = image_index in job.pictures
    if pictures:
        img = read_image(image_path(job.images_dir, im.file_name, job.owner))
    h, w = job.sizes[image_index]  # the targets need the image's size only (so --pictures changes no .npz)
    rows = job.rows[im.id]
    persons = rows[~ds.iscrowd[rows]]
    crowds = rows[ds.iscrowd[rows]]
    t = make_targets((h, w), job.keypoints[persons], job.codec,
                     crowd_mask(ds, crowds, (h, w)) if len(crowds) else None, job.input_size)
    p, lay = job.codec.params, job.layout
    name = job.names[image_index]
    # no fsync per file: render_all ends with one sync of everything it wrote
    write_bytes_atomic(job.out_dir / f"{name}.npz", fsync=False, data=npz_bytes({
        "heatmaps": t.heatmaps, "pafs": t.pafs, "mask_crowd": t.mask_crowd, "scale": np.float64(t.scale),
        "stride": np.int64(p.stride), "sigma": np.float64(p.sigma), "paf_width": np.float64(p.paf_width),
        "keypoint_names": np.array(lay.keypoints), "limbs": np.array(lay.limbs, dtype=np.int64).reshape(-1, 2),
        "image_id": np.int64(im.id), "file_name": np.array(im.file_name)}))
    if pictures:
        small = _resize(img, t.input_hw)
        write_bytes_atomic(job.out_dir / f"{name}_overview.png", fsync=False, data=draw.encode_png(
            draw.overview(small, t.heatmaps, t.pafs, t.keypoints, lay, p.stride)))
        write_bytes_atomic(job.out_dir / f"{name}_channels.png", fsync=False,
                           data=draw.encode_png(draw.channel_grid(t.heatmaps, t.pafs, lay)))
    result = {"index": image_index, "image_id": im.id, "file": f"{name}.npz", "persons": int(len(persons))}
    if job.decode:
        found = job.codec.decode(t.heatmaps, t.pafs)
        found[:, :, :2] /= t.scale
        result["decoded"] = found
    return result


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def _render_chunk(job: RenderJob | None, indices: list[int]) -> list[dict | str]:
    """Render images; an image that cannot be read gives its error line instead of a summary."""
    job = job or _WORKER_JOB
    out: list[dict | str] = []
    for i in indices:
        try:
            out.append(render_image(job, i))
        except PosekitError as exc:
            out.append(str(exc))
    return out


_WORKER_JOB: RenderJob | None = None


def _init_worker(job: RenderJob) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job
    try:  # one process per core: numpy's and OpenCV's own threads would only compete
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


# images a process should get before a pool pays off: starting the workers takes about a second
_IMAGES_PER_WORKER = 100


def default_workers(n_images: int | None = None) -> int:
    """The cores this process may run on; with ``n_images``, no more than keeps each busy
    with at least ``_IMAGES_PER_WORKER`` images (a small file renders faster in this process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores if n_images is None else max(1, min(cores, n_images // _IMAGES_PER_WORKER))


def render_all(job: RenderJob, todo: list[int], workers: int,
               advance: Callable[[int], None] = lambda n: None) -> Iterator[tuple[int, dict | str]]:
    """Render the images ``todo`` with ``workers`` processes; yields ``(image index, summary or
    error line)`` as images finish (in any order); ``advance`` is called per finished image.

    Each file appears whole (written beside, then renamed); once all are written, one
    ``os.sync()`` makes them durable (an fsync per file would cost more than the rendering)."""
    yield from _render_all(job, todo, workers, advance)
    os.sync()


def _chunks(todo: list[int], workers: int) -> list[list[int]]:
    """Hand-over units: ``_CHUNK`` images, fewer when there are few images for the workers."""
    size = max(1, min(_CHUNK, len(todo) // (4 * max(workers, 1))))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def pool_size(n_images: int, workers: int) -> int:
    """The processes ``render_all`` uses for ``n_images`` images (1: this process only)."""
    return max(1, min(workers, len(_chunks(list(range(n_images)), workers))))


def _render_all(job: RenderJob, todo: list[int], workers: int,
                advance: Callable[[int], None]) -> Iterator[tuple[int, dict | str]]:
    chunks = _chunks(todo, workers)
    workers = max(1, min(workers, len(chunks)))
    if workers == 1:
        for chunk in chunks:
            for i, res in zip(chunk, _render_chunk(job, chunk)):
                advance(1)
                yield i, res
        return
    # forkserver: workers start from a clean process (no threads of ours, such as the progress
    # bar's, copied mid-flight); the job is pickled to each worker once
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":  # import once in the server, so that each worker starts at once
        ctx.set_forkserver_preload(["annotate.render", "annotate.target_kernels", "annotate.draw", "cv2",
                                    "pycocotools.mask", "PIL.Image"])
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(job,)) as pool:
        pending = {}
        queue = iter(chunks)
        try:
            for chunk in queue:  # keep every worker busy with a few chunks in hand
                pending[pool.submit(_render_chunk, None, chunk)] = chunk
                if len(pending) >= 3 * workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = pending.pop(fut)
                    for i, res in zip(chunk, fut.result()):
                        advance(1)
                        yield i, res
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(_render_chunk, None, nxt)] = nxt
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
