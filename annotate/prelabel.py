"""``annotate prelabel``: run a bottom-up model over an image folder and write LabelMe files
for people to correct, plus one COCO file for the whole set and a review list.

The steps every engine shares (this module and :mod:`annotate.prelabel_ray`):

1. :func:`plan_prelabel` lists the images, refuses two images that would share one LabelMe
   file, and decides per image: to do, skipped (its LabelMe file exists: resume), or kept
   (``--overwrite`` but a person edited the file);
2. per image, :func:`image_dataset` turns the model's points and scores into a one-image
   :class:`~annotate.dataset.KeypointDataset` (visibility from scores, points clipped into the
   image, persons with too few points left out, boxes) and :func:`write_image` writes it with
   the one LabelMe writer (:func:`converters.labelme.dataset_to_labelme`), atomically;
3. a :class:`Collector` keeps the manifest, the counts and the progress bar as results come;
4. :func:`finish` writes the set's COCO (this run's datasets plus the LabelMe files already
   there, read with the one LabelMe reader) and the review list.

Safety: an image whose LabelMe file exists is skipped (resume). ``--overwrite`` replaces a
file only when the manifest (``.posekit-prelabel.json``) holds its hash from when this tool
wrote it and the file is unchanged since; a file a person edited is never replaced.
"""
from __future__ import annotations

import collections
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .dataset import Category, ImageInfo, KeypointDataset, boxes_from_keypoints
from .errors import PosekitError
from .images import IMAGE_SUFFIXES, read_image
from .io import read_json, sha256_file, write_bytes_atomic, write_json_atomic
from .notes import Notes
from .skeletons import layout_for_names

MANIFEST = ".posekit-prelabel.json"
COCO_NAME = "prelabels.coco.json"
REVIEW_NAME = "review.csv"
#: annotation id = image id * ANN_ID_STRIDE + person number (1-based), unique across the set
ANN_ID_STRIDE = 1000
#: how often (seconds) the manifest is saved while a run goes on (and always at the end)
MANIFEST_EVERY_S = 5.0


@dataclass
class PrelabelOptions:
    batch_size: int = 4
    workers: int = 2
    score_visible: float = 0.5
    score_labeled: float = 0.2
    min_keypoints: int = 3
    overwrite: bool = False
    box_margin: float = 0.1
    person_label: str = "person"
    #: read and write in threads beside the model; None: unless the model runs on the CPU
    overlap: bool | None = None


@dataclass(frozen=True)
class Job:
    """One image to pre-label. ``image_id`` is its 1-based position in the sorted image list."""

    image_id: int
    image: str  # path as listed (images_dir / rel)
    rel: str  # image path relative to the images folder, posix
    json_rel: str  # LabelMe file relative to the output folder, posix


@dataclass
class ImageResult:
    """What pre-labeling one image gave: its dataset and the written file's hash, or an error."""

    job: Job
    dataset: KeypointDataset | None = None
    sha256: str | None = None
    error: str | None = None


@dataclass
class Plan:
    images_dir: Path
    out_dir: Path
    images: list[Path]
    jobs: list[Job]
    existing: list[Job]  # LabelMe file already there (resumed or kept), read into the set's COCO
    skipped_existing: int = 0
    kept_edited: list[str] = field(default_factory=list)
    manifest: "Manifest | None" = None


@dataclass
class PrelabelSummary:
    images: int = 0
    processed: int = 0
    persons: int = 0
    scores: list[float] = field(default_factory=list)
    skipped_existing: int = 0
    kept_edited: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    coco_path: Path | None = None
    review_path: Path | None = None
    review_first: list[tuple[str, float | None]] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)
    unreadable_edits: list[str] = field(default_factory=list)
    labelme_lines: list[str] = field(default_factory=list)

    @property
    def mean_score(self) -> float:
        return float(np.mean(self.scores)) if self.scores else float("nan")


def list_images(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Image files below ``folder`` by suffix, sorted; hidden entries and ``exclude`` skipped."""
    if not folder.is_dir():
        raise PosekitError(folder, "images folder not found")
    ex = exclude.resolve() if exclude is not None else None
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if ex is not None and (ex == p.resolve() or ex in p.resolve().parents):
            continue
        if p.is_file():
            out.append(p)
    return out


class Manifest:
    """Hashes of the LabelMe files this tool wrote (relative path -> sha256)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST
        self.files: dict[str, str] = {}
        if self.path.exists():
            try:
                data = read_json(self.path)
                self.files = dict(data.get("files", {})) if isinstance(data, dict) else {}
            except PosekitError:
                self.files = {}  # unreadable manifest: treat every existing file as a person's

    def written_by_us_and_unchanged(self, rel: str, path: Path) -> bool:
        return self.files.get(rel) == sha256_file(path)

    def save(self, extra: dict[str, Any]) -> None:
        write_json_atomic(self.path, {"version": 1, **extra, "files": self.files}, indent=1)


def plan_prelabel(images_dir: Path, out_dir: Path, overwrite: bool) -> Plan:
    """List the images and decide what to do with each; nothing is written.

    Two images whose LabelMe files would be one (``x.jpg`` and ``x.png``: LabelMe pairs
    ``<name>.json`` with one image) are refused with one line naming both."""
    images = list_images(images_dir, exclude=out_dir)
    if not images:
        raise PosekitError(images_dir, "no images found (jpg, jpeg, png, bmp, webp, tif)")
    from converters.labelme import labelme_json_path

    owner: dict[str, str] = {}
    json_rels = [labelme_json_path(Path(), img.relative_to(images_dir).as_posix()).as_posix() for img in images]
    for img, json_rel in zip(images, json_rels):
        rel = img.relative_to(images_dir)
        if json_rel in owner:
            raise PosekitError(images_dir, f"images {owner[json_rel]} and {rel.as_posix()} would both be pre-labeled "
                                           f"into {json_rel} (LabelMe pairs one <name>.json with one image); "
                                           f"rename or move one of them")
        owner[json_rel] = rel.as_posix()
    manifest = Manifest(out_dir)
    plan = Plan(images_dir, out_dir, images, [], [], manifest=manifest)
    for i, (img, json_rel) in enumerate(zip(images, json_rels), start=1):
        job = Job(i, str(img), img.relative_to(images_dir).as_posix(), json_rel)
        json_path = out_dir / job.json_rel
        if json_path.exists():
            if not overwrite:
                plan.skipped_existing += 1
                plan.existing.append(job)
                continue
            if not manifest.written_by_us_and_unchanged(job.json_rel, json_path):
                plan.kept_edited.append(job.json_rel)
                plan.existing.append(job)
                continue
        plan.jobs.append(job)
    return plan


def prelabel_category(names: list[str]) -> Category:
    """The keypoint category of the model's keypoint names (COCO-17 for the zoo's models)."""
    return Category.from_layout(layout_for_names(names))


def image_dataset(job: Job, width: int, height: int, keypoints: np.ndarray, scores: np.ndarray,
                  category: Category, opts: PrelabelOptions, notes: Notes | None = None) -> KeypointDataset:
    """One image's predictions as a :class:`KeypointDataset`.

    v=2 where the keypoint score >= ``score_visible``, v=1 (occluded) where >= ``score_labeled``,
    else v=0 at (0, 0) (left out of the LabelMe file). Labeled points predicted outside the image
    (the model sees the image padded) are moved onto its border (clipped), counted in ``notes``.
    Persons with fewer than ``min_keypoints`` labeled points are left out (counted). Person
    score = mean score of its labeled points; per-point scores in ``extra["keypoint_scores"]``;
    box = labeled points' extent grown by ``box_margin``, clipped to the image."""
    kps = np.asarray(keypoints, np.float64).reshape(-1, category.num_keypoints, 2)
    sc = np.asarray(scores, np.float64).reshape(kps.shape[:2])
    v = np.where(sc >= opts.score_visible, 2.0, np.where(sc >= opts.score_labeled, 1.0, 0.0))
    keep = (v > 0).sum(axis=1) >= opts.min_keypoints
    if notes is not None:
        notes.lost(f"persons with fewer than {opts.min_keypoints} keypoints scored >= {opts.score_labeled:g} "
                   f"(--min-keypoints, --score-labeled)", int((~keep).sum()), unit="persons")
    kps, sc, v = kps[keep], sc[keep], v[keep]
    lab = v > 0
    clipped = np.stack([np.clip(kps[..., 0], 0, width), np.clip(kps[..., 1], 0, height)], axis=-1)
    if notes is not None:
        notes.changed("keypoints predicted outside the image moved onto its border",
                      int((lab & (clipped != kps).any(axis=-1)).sum()))
    coco = np.concatenate([np.where(lab[..., None], clipped, 0.0), v[..., None]], axis=-1)
    P = len(coco)
    if P >= ANN_ID_STRIDE:
        raise PosekitError(job.image, f"{P} persons in one image; at most {ANN_ID_STRIDE - 1} are supported")
    wh = np.tile([float(width), float(height)], (P, 1))
    boxes = boxes_from_keypoints(coco, wh, opts.box_margin)
    with np.errstate(invalid="ignore"):
        person_score = np.where(lab, sc, 0).sum(axis=1) / lab.sum(axis=1)
    ds = KeypointDataset(
        category, [ImageInfo(job.image_id, job.rel, int(width), int(height))],
        job.image_id * ANN_ID_STRIDE + np.arange(1, P + 1, dtype=np.int64), np.full(P, job.image_id, np.int64),
        coco, boxes, boxes[:, 2] * boxes[:, 3], np.zeros(P, bool), np.round(person_score, 4),
        [{"keypoint_scores": [round(float(s), 4) for s in row]} for row in sc])
    return ds


def write_image(ds: KeypointDataset, out_dir: Path, images_dir: Path, person_label: str) -> str:
    """Write the one-image dataset's LabelMe file with the one LabelMe writer, atomically;
    returns the file's sha256 (for the manifest)."""
    import hashlib

    from converters.labelme import dataset_to_labelme

    docs = dataset_to_labelme(ds, out_dir, images_dir, person_label)
    ((path, data),) = [(p, d) for p, d in docs.items() if not p.name.startswith(".")]  # the image's file
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def process_prediction(job: Job, hw: tuple[int, int], keypoints: np.ndarray, scores: np.ndarray,
                       category: Category, opts: PrelabelOptions, out_dir: Path, images_dir: Path) -> ImageResult:
    """:func:`image_dataset` + :func:`write_image` for one image."""
    notes = Notes()
    ds = image_dataset(job, hw[1], hw[0], keypoints, scores, category, opts, notes)
    ds.notes = notes
    sha = write_image(ds, out_dir, images_dir, opts.person_label)
    return ImageResult(job, ds, sha)


class Collector:
    """Takes results as they come (any order): manifest (saved every few seconds and at the
    end), counts, progress."""

    def __init__(self, plan: Plan, meta: dict[str, Any], progress: Callable[[int], None] | None = None) -> None:
        self.plan = plan
        self.meta = meta
        self.progress = progress
        self.results: list[ImageResult] = []
        self.summary = PrelabelSummary(images=len(plan.images), skipped_existing=plan.skipped_existing,
                                       kept_edited=list(plan.kept_edited))
        self._saved = time.monotonic()
        self.t0 = time.perf_counter()

    def add(self, result: ImageResult) -> None:
        s = self.summary
        if result.error is not None:
            s.failed.append(result.error)
        else:
            self.results.append(result)
            self.plan.manifest.files[result.job.json_rel] = result.sha256
            ds = result.dataset
            s.processed += 1
            s.persons += len(ds)
            s.scores += ds.score.tolist()
            s.notes.merge(ds.notes)
        if self.progress:
            self.progress(1)
        if time.monotonic() - self._saved > MANIFEST_EVERY_S:
            self.save_manifest()

    def save_manifest(self) -> None:
        self.plan.manifest.save(self.meta)
        self._saved = time.monotonic()

    def close(self) -> PrelabelSummary:
        self.save_manifest()
        self.summary.seconds = time.perf_counter() - self.t0
        return self.summary


def run_prelabel(images_dir: Path, out_dir: Path, model: Any, opts: PrelabelOptions,
                 progress: Callable[[int], None] | None = None, total_cb: Callable[[int], None] | None = None,
                 plan: Plan | None = None) -> PrelabelSummary:
    """Pre-label every image below ``images_dir`` into ``out_dir`` in this process (the local
    engine): images are decoded and prepared in ``opts.workers`` threads, grouped by input
    shape into batches for the model, and written by a writer thread while the model runs on.
    With the model on the CPU, reading and writing run in turn with the model instead: its
    forward already uses every core, and threads beside it slowed it down (measured: 0.76x
    mmpose's one-image loop with two reading threads and a writer, 0.88x with one)."""
    from .prelabel_outputs import finish

    plan = plan or plan_prelabel(images_dir, out_dir, opts.overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    if total_cb:
        total_cb(len(plan.jobs))
    category = prelabel_category(model.keypoint_names)
    collector = Collector(plan, run_meta(getattr(model, "checkpoint", ""), opts), progress)

    def prepare(job: Job):
        img = read_image(Path(job.image))
        return job, img.shape[:2], model.prepare(img, job.image, job.image_id)

    buckets: dict[tuple, list] = collections.defaultdict(list)

    def write(batch: list, preds: list) -> list[ImageResult]:
        return [process_prediction(job, hw, p.keypoints, p.scores, category, opts, out_dir, images_dir)
                for (job, hw, _), p in zip(batch, preds)]

    beside = _beside_model(model) if opts.overlap is None else opts.overlap
    # outputs are written while the model runs on (or in turn with it, on the CPU)
    writer = ThreadPoolExecutor(max_workers=1) if beside else InlineExecutor()
    written: collections.deque[Future] = collections.deque()

    def drain(block: bool) -> None:
        while written and (block or written[0].done()):
            for r in written.popleft().result():  # re-raises a write failure (disk full, permissions)
                collector.add(r)

    def flush(key: tuple) -> None:
        batch = buckets.pop(key, [])
        if batch:
            written.append(writer.submit(write, batch, model.predict_batch([b[2] for b in batch])))
        drain(False)

    window = max(opts.batch_size * 2, opts.workers * 2)
    try:
        with ThreadPoolExecutor(max_workers=max(1, opts.workers)) if beside else InlineExecutor() as pool:
            pending: collections.deque[tuple[Job, Future]] = collections.deque()
            it = iter(plan.jobs)
            for job in it:
                pending.append((job, pool.submit(prepare, job)))
                if len(pending) >= window:
                    break
            while pending:
                job, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(prepare, nxt)))
                try:
                    prepared = fut.result()
                except Exception as exc:  # unreadable image, or a pipeline failure on this image only
                    collector.add(ImageResult(job, error=failure_line(job, exc)))
                    continue
                key = model.shape_key(prepared[2])
                buckets[key].append(prepared)
                if len(buckets[key]) >= opts.batch_size:
                    flush(key)
            for key in list(buckets):
                flush(key)
        drain(True)
    finally:
        writer.shutdown(wait=True)
        collector.save_manifest()
    summary = collector.close()
    return finish(plan, collector.results, category, opts, summary)


def _beside_model(model: Any) -> bool:
    """Whether reading and writing should run in threads beside the model: not when it runs on
    the CPU (models without a ``device``, as tests' stand-ins, count as accelerators)."""
    return getattr(getattr(model, "device", None), "type", None) != "cpu"


class InlineExecutor:
    """The part of :class:`ThreadPoolExecutor` the local engine uses, running each call at once
    in the calling thread (its exception kept in the future, as a pool's would be)."""

    def submit(self, fn: Callable, *args: Any) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - re-raised by fut.result(), as from a pool
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        pass

    def __enter__(self) -> "InlineExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def failure_line(job: Job, exc: BaseException) -> str:
    """One line naming the image and what went wrong."""
    if isinstance(exc, PosekitError):
        return str(exc)
    return f"{job.image}: {exc.__class__.__name__}: {exc}"


def run_meta(checkpoint: str, opts: PrelabelOptions) -> dict[str, Any]:
    return {"model": checkpoint, "score_visible": opts.score_visible, "score_labeled": opts.score_labeled}


def concat_datasets(category: Category, parts: list[KeypointDataset], first: list[bool] | None = None
                    ) -> KeypointDataset:
    """Datasets of one layout as one, in the given order. Image and annotation ids are kept;
    an id already taken is given the next free number. Parts marked in ``first`` claim their
    ids before the others."""
    K = category.num_keypoints
    first = first or [True] * len(parts)
    next_img = max([im.id for p in parts for im in p.images] + [0]) + 1
    next_ann = max([int(p.ann_id.max()) for p in parts if len(p)] + [0]) + 1
    used_img: set[int] = set()
    used_ann: set[int] = set()
    img_maps: dict[int, dict[int, int]] = {}
    ann_ids: dict[int, np.ndarray] = {}
    for i in [i for i in range(len(parts)) if first[i]] + [i for i in range(len(parts)) if not first[i]]:
        p, remap = parts[i], {}
        for im in p.images:
            iid = im.id
            if iid in used_img:
                iid, next_img = next_img, next_img + 1
            used_img.add(iid)
            remap[im.id] = iid
        ann = p.ann_id.copy()
        for r, a in enumerate(ann.tolist()):
            if a in used_ann:
                ann[r], next_ann = next_ann, next_ann + 1
            used_ann.add(int(ann[r]))
        img_maps[i], ann_ids[i] = remap, ann
    images = [ImageInfo(img_maps[i][im.id], im.file_name, im.width, im.height, dict(im.extra))
              for i, p in enumerate(parts) for im in p.images]
    cols: dict[str, list] = collections.defaultdict(list)
    for i, p in enumerate(parts):
        cols["ann_id"].append(ann_ids[i])
        cols["image_id"].append(np.array([img_maps[i][int(x)] for x in p.image_id], np.int64))
        for name in ("keypoints", "bbox", "area", "iscrowd", "score"):
            cols[name].append(getattr(p, name))
    empty = {"ann_id": np.zeros(0, np.int64), "image_id": np.zeros(0, np.int64), "keypoints": np.zeros((0, K, 3)),
             "bbox": np.zeros((0, 4)), "area": np.zeros(0), "iscrowd": np.zeros(0, bool), "score": np.zeros(0)}
    col = {k: (np.concatenate(cols[k]) if cols[k] else v) for k, v in empty.items()}
    return KeypointDataset(category, images, col["ann_id"], col["image_id"], col["keypoints"], col["bbox"],
                           col["area"], col["iscrowd"].astype(bool), col["score"], [e for p in parts for e in p.extra])
