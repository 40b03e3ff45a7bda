"""``annotate prelabel``: run a bottom-up model over an image folder and write LabelMe files
for people to correct, plus one COCO file for the whole set.

Safety: an image whose LabelMe file exists is skipped (resume). ``--overwrite`` replaces a
file only when the manifest (``.posekit-prelabel.json``) holds its hash from when this tool
wrote it and the file is unchanged since; a file a person edited is never replaced.
"""
from __future__ import annotations

import collections
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .coco import save_coco
from .errors import PosekitError
from .images import read_image
from .io import dumps_json, read_json, sha256_file, write_bytes_atomic, write_json_atomic
from .skeletons import layout_for_names

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MANIFEST = ".posekit-prelabel.json"
COCO_NAME = "prelabels.coco.json"


@dataclass
class PrelabelOptions:
    batch_size: int = 4
    workers: int = 2
    score_visible: float = 0.5
    score_labeled: float = 0.2
    min_keypoints: int = 3
    overwrite: bool = False
    box_margin: float = 0.1


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


def visibility_from_scores(kps: np.ndarray, scores: np.ndarray, visible: float, labeled: float) -> np.ndarray:
    """``(P, K, 3)`` COCO keypoints: v=2 at score >= visible, v=1 at >= labeled, else v=0 at (0, 0)."""
    v = np.where(scores >= visible, 2, np.where(scores >= labeled, 1, 0)).astype(np.float64)
    out = np.concatenate([kps, v[..., None]], axis=-1)
    out[v == 0, :2] = 0
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


def _labelme_bytes(json_path: Path, image: Path, hw: tuple[int, int], kps: np.ndarray, scores: np.ndarray,
                   names: list[str], opts: PrelabelOptions) -> tuple[bytes, int, list[float]]:
    from converters.labelme import labelme_document, person_shapes
    from .dataset import clip_boxes, keypoint_extent

    layout = layout_for_names(names)
    coco = visibility_from_scores(kps, scores, opts.score_visible, opts.score_labeled)
    keep = (coco[:, :, 2] > 0).sum(axis=1) >= opts.min_keypoints
    shapes: list[dict[str, Any]] = []
    person_scores = []
    h, w = hw
    boxes = clip_boxes(keypoint_extent(coco[keep], opts.box_margin), np.tile([float(w), float(h)], (int(keep.sum()), 1)))
    for gid, (p, box) in enumerate(zip(np.flatnonzero(keep), boxes), start=1):
        lab = coco[p, :, 2] > 0
        s = float(scores[p][lab].mean())
        person_scores.append(s)
        shapes += person_shapes(coco[p], box, gid, {"score": round(s, 4)}, layout, "person", scores[p])
    rel_img = os.path.relpath(image, json_path.parent)
    doc = labelme_document(rel_img, w, h, shapes, {"prelabel": True})
    return dumps_json(doc, indent=2), int(keep.sum()), person_scores


def run_prelabel(images_dir: Path, out_dir: Path, model: Any, opts: PrelabelOptions,
                 progress: Callable[[int], None] | None = None, total_cb: Callable[[int], None] | None = None,
                 ) -> PrelabelSummary:
    """Pre-label every image below ``images_dir`` into ``out_dir`` (see module doc)."""
    images = list_images(images_dir, exclude=out_dir)
    if not images:
        raise PosekitError(images_dir, "no images found (jpg, jpeg, png, bmp, webp, tif)")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir)
    summary = PrelabelSummary(images=len(images))
    todo: list[tuple[Path, Path, str]] = []
    for img in images:
        rel = img.relative_to(images_dir).with_suffix(".json")
        json_path = out_dir / rel
        if json_path.exists():
            if not opts.overwrite:
                summary.skipped_existing += 1
                continue
            if not manifest.written_by_us_and_unchanged(rel.as_posix(), json_path):
                summary.kept_edited.append(rel.as_posix())
                continue
        todo.append((img, json_path, rel.as_posix()))
    if total_cb:
        total_cb(len(todo))
    names = model.keypoint_names
    meta = {"model": getattr(model, "checkpoint", ""), "score_visible": opts.score_visible,
            "score_labeled": opts.score_labeled}
    t0 = time.perf_counter()

    def prepare(item: tuple[Path, Path, str], idx: int):
        img = read_image(item[0])
        return item, img.shape[:2], model.prepare(img, str(item[0]), idx)

    buckets: dict[tuple, list] = collections.defaultdict(list)

    def write(batch: list, preds: list) -> None:
        for (item, hw, _), pred in zip(batch, preds):
            image, json_path, rel = item
            data, n, pscores = _labelme_bytes(json_path, image, hw, pred.keypoints, pred.scores, names, opts)
            write_bytes_atomic(json_path, data)
            manifest.files[rel] = sha256_file(json_path)
            summary.processed += 1
            summary.persons += n
            summary.scores += pscores
        manifest.save(meta)
        if progress:
            progress(len(batch))

    writer = ThreadPoolExecutor(max_workers=1)  # outputs are written while the model runs on
    written: list[Future] = []

    def flush(key: tuple) -> None:
        batch = buckets.pop(key, [])
        if batch:
            written.append(writer.submit(write, batch, model.predict_batch([b[2] for b in batch])))

    window = max(opts.batch_size * 2, opts.workers * 2)
    with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
        pending: collections.deque[tuple[tuple, Future]] = collections.deque()
        it = iter(enumerate(todo))
        for _ in range(window):
            nxt = next(it, None)
            if nxt is None:
                break
            pending.append((nxt[1], pool.submit(prepare, nxt[1], nxt[0])))
        while pending:
            item, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt[1], pool.submit(prepare, nxt[1], nxt[0])))
            try:
                prepared = fut.result()
            except PosekitError as exc:
                summary.failed.append(str(exc))
                if progress:
                    progress(1)
                continue
            except Exception as exc:  # a decoder or pipeline failure on this image only
                summary.failed.append(f"{item[0]}: {exc.__class__.__name__}: {exc}")
                if progress:
                    progress(1)
                continue
            key = model.shape_key(prepared[2])
            buckets[key].append(prepared)
            if len(buckets[key]) >= opts.batch_size:
                flush(key)
        for key in list(buckets):
            flush(key)
    writer.shutdown(wait=True)
    for fut in written:
        fut.result()  # re-raise a write failure (disk full, permissions)
    summary.seconds = time.perf_counter() - t0
    summary.coco_path = write_set_coco(images_dir, out_dir, images, names)
    return summary


def write_set_coco(images_dir: Path, out_dir: Path, images: list[Path], names: list[str]) -> Path:
    """One COCO file for the whole set, read back from the LabelMe files (so corrections count)."""
    from converters.labelme import images_to_dataset, parse_labelme

    layout = layout_for_names(names)
    parsed = []
    for img in images:
        json_path = out_dir / img.relative_to(images_dir).with_suffix(".json")
        if not json_path.exists():
            continue
        try:
            item = parse_labelme(read_json(json_path), json_path, _common_root(images_dir, out_dir), layout)
        except PosekitError:
            continue  # a person's broken edit: left out of the COCO file, reported by convert
        item.file_name = img.relative_to(images_dir).as_posix()
        parsed.append(item)
    ds = images_to_dataset(parsed, layout, 0.0)
    ds.info = {"description": "pre-labels by posekit (keypoint v from scores)"}
    path = out_dir / COCO_NAME
    save_coco(ds, path)
    return path


def _common_root(a: Path, b: Path) -> Path:
    return Path(os.path.commonpath([a.resolve(), b.resolve()]))
