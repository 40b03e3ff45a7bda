"""What a pre-label run writes for the whole set, after the per-image LabelMe files: the set's
COCO file, the review list, and labelme's config with the command that opens the images."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from .coco import save_coco
from .dataset import Category, KeypointDataset
from .errors import PosekitError
from .io import read_json, sha256_file, write_bytes_atomic
from .prelabel import (COCO_NAME, REVIEW_NAME, ImageResult, Job, Plan, PrelabelOptions, PrelabelSummary,
                       concat_datasets)

#: images listed in the summary from the top of the review list
REVIEW_SHOWN = 5


def finish(plan: Plan, results: list[ImageResult], category: Category, opts: PrelabelOptions,
           summary: PrelabelSummary) -> PrelabelSummary:
    """Write the set's COCO file and the review list; fill them into ``summary``."""
    results = sorted(results, key=lambda r: r.job.image_id)
    existing = read_existing(plan, category, opts, summary)
    parts = [r.dataset for r in results] + [ds for _, ds, _ in existing]
    order = np.argsort([r.job.image_id for r in results] + [job.image_id for job, _, _ in existing], kind="stable")
    parts = [parts[i] for i in order]
    first = [bool(i < len(results)) for i in order]  # this run's ids (as written in its files) win
    ds = concat_datasets(category, parts, first)
    ds.info = {"description": "pre-labels by posekit (keypoint v from scores)"}
    summary.coco_path = plan.out_dir / COCO_NAME
    save_coco(ds, summary.coco_path)
    review = [(r.job, r.dataset) for r in results] + [(job, d) for job, d, ours in existing if ours]
    summary.review_path, summary.review_first = write_review(plan.out_dir, review)
    summary.labelme_lines = labelme_setup(plan, ds, opts)
    return summary


def read_existing(plan: Plan, category: Category, opts: PrelabelOptions, summary: PrelabelSummary
                  ) -> list[tuple[Job, KeypointDataset, bool]]:
    """The LabelMe files already in the output folder (resumed, or kept as a person's edits),
    read with the one LabelMe reader: ``(job, dataset, unedited tool output?)``. A file that
    cannot be read (a person's edit in progress) is named in ``summary.unreadable_edits``."""
    from converters.labelme import images_to_dataset, parse_labelme

    root = Path(os.path.commonpath([plan.images_dir.resolve(), plan.out_dir.resolve()]))
    layout = category.layout
    out = []
    for job in plan.existing:
        path = plan.out_dir / job.json_rel
        try:
            item = parse_labelme(read_json(path), path, root, layout, opts.person_label)
        except PosekitError as exc:
            summary.unreadable_edits.append(str(exc))
            continue
        item.file_name = job.rel
        if item.meta.get("image_id") is None:
            item.meta = {**item.meta, "image_id": job.image_id}
        ds = images_to_dataset([item], layout, opts.box_margin)
        out.append((job, ds, plan.manifest.files.get(job.json_rel) == sha256_file(path)))
    return out


def write_review(out_dir: Path, items: list[tuple[Job, KeypointDataset]]) -> tuple[Path, list[tuple[str, float | None]]]:
    """``review.csv``: the images whose pre-labels no person has edited yet, the least certain
    first (ordered by their weakest person's score; images where no person was found last)."""
    rows = []
    for job, ds in items:
        s = ds.score[~np.isnan(ds.score)] if len(ds) else np.zeros(0)
        weakest = float(s.min()) if len(s) else math.nan
        mean = float(s.mean()) if len(s) else math.nan
        rows.append((job.json_rel, job.rel, len(ds), weakest, mean))
    rows.sort(key=lambda r: (math.isnan(r[3]), r[3] if not math.isnan(r[3]) else 0.0, r[0]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "labelme_file", "image", "persons", "weakest_person_score", "mean_person_score"])
    for i, (js, img, n, weakest, mean) in enumerate(rows, start=1):
        w.writerow([i, js, img, n, "" if math.isnan(weakest) else f"{weakest:.4f}",
                    "" if math.isnan(mean) else f"{mean:.4f}"])
    path = out_dir / REVIEW_NAME
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return path, [(r[0], None if math.isnan(r[3]) else r[3]) for r in rows[:REVIEW_SHOWN]]


def labelme_setup(plan: Plan, ds: KeypointDataset, opts: PrelabelOptions) -> list[str]:
    """labelme's config beside the LabelMe files and the ready-to-run ``labelme ...`` command
    that opens the images with them (:func:`converters.labelme_setup.setup_labelme`): the lines
    to print."""
    from converters.labelme_setup import setup_labelme

    return setup_labelme(plan.out_dir, [im.file_name for im in ds.images], list(ds.category.keypoints),
                         plan.images_dir, opts.person_label).lines()
