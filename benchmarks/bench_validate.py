"""Validation of a COCO-train-sized file (150,000 person annotations on 64,115 images, with
segmentation polygons like the real file): the whole `annotate validate` check against
pycocotools' ``COCO()`` load of the same file, side by side. Goal: at most 2x the load.

    .venv/bin/python benchmarks/bench_validate.py
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common import ROOT, best_of


def make_file(path: Path, n_ann: int, n_img: int, seed: int = 0) -> None:
    from annotate.skeletons import COCO17

    rng = np.random.default_rng(seed)
    sample = json.loads((ROOT / "sample_data" / "coco" / "sample.json").read_text())
    base = np.array([a["keypoints"] for a in sample["annotations"]], dtype=float).reshape(-1, 17, 3)
    base[:, :, :2] -= base[:, :, :2].min(axis=1, keepdims=True)
    images = [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": 640, "height": 480} for i in range(n_img)]
    anns = []
    img_of = np.sort(rng.integers(1, n_img + 1, n_ann))
    for k in range(n_ann):
        s = rng.uniform(0.1, 0.9)
        kp = base[k % len(base)].copy()
        kp[:, :2] = kp[:, :2] * s + rng.uniform(0, 200, 2) + rng.normal(0, 2, (17, 2))
        kp[rng.random(17) < 0.3] = 0
        x0, y0 = kp[kp[:, 2] > 0, :2].min(0) if (kp[:, 2] > 0).any() else (10, 10)
        x1, y1 = kp[kp[:, 2] > 0, :2].max(0) if (kp[:, 2] > 0).any() else (20, 20)
        box = [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0) + 1, 2), round(float(y1 - y0) + 1, 2)]
        poly = np.round(np.column_stack([rng.uniform(x0, x1 + 1, 12), rng.uniform(y0, y1 + 1, 12)]).ravel(), 2)
        anns.append({"id": k + 1, "image_id": int(img_of[k]), "category_id": 1, "iscrowd": 0,
                     "keypoints": [v for x, y, f in np.round(kp, 2).tolist() for v in (x, y, int(f))], "num_keypoints": int((kp[:, 2] > 0).sum()),
                     "bbox": box, "area": round(box[2] * box[3] * 0.6, 2), "segmentation": [poly.tolist()]})
    cat = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
           "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs]}
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--annotations", type=int, default=150000)
    ap.add_argument("--images", type=int, default=64115)
    args = ap.parse_args()
    from pycocotools.coco import COCO

    from annotate.validate import validate_file

    tmp = Path(tempfile.mkdtemp(prefix="posekit-bench-val-"))
    try:
        path = tmp / "person_keypoints_big.json"
        t = time.perf_counter()
        make_file(path, args.annotations, args.images)
        print(f"generated {path.name}: {args.annotations} annotations, {path.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - t:.0f} s")

        def load() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                COCO(str(path))

        def paused(fn):  # `annotate validate` runs with the cyclic GC paused (annotate.cli.run)
            def call() -> None:
                gc.disable()
                try:
                    fn()
                finally:
                    gc.enable()
            return call

        findings = []
        ours = best_of(paused(lambda: findings.append(validate_file(path)[0])), 2)
        ref = best_of(load, 2)
        ref_paused = best_of(paused(load), 2)
        counts = findings[-1].groupby("rule").size().to_dict()
        print(f"findings: {len(findings[-1])} {counts}")
        print(f"validate (whole, as `annotate validate` runs it): ours {ours:.2f} s, pycocotools COCO() load "
              f"{ref:.2f} s -> validation takes {ours / ref:.2f}x the load (goal <= 2x); "
              f"{ours / ref_paused:.2f}x a load with the GC paused too ({ref_paused:.2f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
