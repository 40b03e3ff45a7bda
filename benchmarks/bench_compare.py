"""`annotate compare` on a train2017-sized pair (150,000 COCO-17 persons on ~57,000 images, and a
jittered copy of them: moved points, flipped flags, dropped and added persons, scores): compare's
whole run (image and person matching by OKS, the per-keypoint tables, COCOeval's AP and AR:
faster-coco-eval's, its COCO objects built in memory) against faster-coco-eval's keypoint
``evaluate()`` + ``accumulate()`` alone on the same pair (goal: within 1.5x), with pycocotools'
``evaluate()`` + ``accumulate()`` beside both.

    .venv/bin/python benchmarks/bench_compare.py [--persons N] [--no-pycocotools]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import time
from pathlib import Path

import numpy as np

from common import ROOT, best_of


def make_pair(n: int, n_img: int, seed: int = 0):
    """REF (posekit dataset) and OTHER (a jittered copy, as a dataset too)."""
    from annotate.dataset import Category, ImageInfo, KeypointDataset
    from annotate.skeletons import COCO17

    rng = np.random.default_rng(seed)
    sample = json.loads((ROOT / "sample_data" / "coco" / "sample.json").read_text())
    base = np.array([a["keypoints"] for a in sample["annotations"]], dtype=float).reshape(-1, 17, 3)
    base[:, :, :2] -= base[:, :, :2].min(axis=1, keepdims=True)
    scale = rng.uniform(0.1, 0.9, n)
    kps = base[np.arange(n) % len(base)].copy()
    kps[:, :, :2] = kps[:, :, :2] * scale[:, None, None] + rng.uniform(0, 300, (n, 1, 2)) + rng.normal(0, 2, (n, 17, 2))
    kps[rng.random((n, 17)) < 0.3] = 0
    lab = kps[:, :, 2] > 0
    x0 = np.where(lab, kps[:, :, 0], np.inf).min(1)
    x1 = np.where(lab, kps[:, :, 0], -np.inf).max(1)
    y0 = np.where(lab, kps[:, :, 1], np.inf).min(1)
    y1 = np.where(lab, kps[:, :, 1], -np.inf).max(1)
    none = ~lab.any(1)
    x0[none], y0[none], x1[none], y1[none] = 10, 10, 20, 20
    box = np.round(np.column_stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1]), 2)
    img = np.sort(rng.integers(1, n_img + 1, n))
    crowd = rng.random(n) < 0.005
    cat = Category.from_layout(COCO17)
    images = [ImageInfo(i + 1, f"{i + 1:012d}.jpg", 640, 480) for i in range(n_img)]
    ref = KeypointDataset(cat, images, np.arange(1, n + 1), img, np.round(kps, 2), box, box[:, 2] * box[:, 3] * 0.6,
                          crowd, np.full(n, np.nan), [{} for _ in range(n)])
    keep = np.flatnonzero(~crowd & (rng.random(n) > 0.05))
    add = rng.choice(keep, n // 50)
    rows = np.sort(np.r_[keep, add])
    okp = ref.keypoints[rows].copy()
    olab = okp[:, :, 2] > 0
    okp[:, :, :2] += np.where(olab[..., None], rng.normal(0, 4, okp[:, :, :2].shape), 0)
    okp[:, :, :2] += np.isin(rows, add)[:, None, None] * rng.uniform(20, 80, (len(rows), 1, 2))
    okp[:, :, 2] = np.where(olab & (rng.random(olab.shape) < 0.05), 1, okp[:, :, 2])
    m = len(rows)
    other = KeypointDataset(cat, images, np.arange(1, m + 1), img[rows], np.round(okp, 2), box[rows],
                            ref.area[rows], np.zeros(m, bool), np.round(rng.uniform(0.05, 1, m), 3),
                            [{} for _ in range(m)])
    return ref, other


def coco_pair(ref, other) -> tuple[dict, list[dict]]:
    """The same pair as a COCO ground-truth dict and a results list (what compare evaluates)."""
    from annotate.coco import to_coco_dict

    gt = to_coco_dict(ref)
    rows = np.flatnonzero(~other.iscrowd & (other.keypoints[:, :, 2] > 0).any(1))
    kp = other.keypoints[rows].copy()
    kp[kp[:, :, 2] <= 0] = 0
    dts = [{"image_id": int(i), "category_id": 1, "keypoints": k, "score": float(s)}
           for i, k, s in zip(other.image_id[rows], kp.reshape(len(rows), -1).tolist(), other.score[rows])]
    return gt, dts


def run_pycocotools(gt: dict, dts: list[dict], sigmas: np.ndarray) -> tuple[float, np.ndarray]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = copy.deepcopy(gt)
        g.createIndex()
        E = COCOeval(g, g.loadRes(copy.deepcopy(dts)), "keypoints")
        E.params.kpt_oks_sigmas = sigmas
        t = time.perf_counter()
        E.evaluate()
        E.accumulate()
        took = time.perf_counter() - t
        E.summarize()
    return took, E.stats


def run_faster(gt: dict, dts: list[dict], sigmas: np.ndarray) -> tuple[float, np.ndarray]:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO(copy.deepcopy(gt))
        d = g.loadRes(copy.deepcopy(dts))
        E = COCOeval_faster(g, d, "keypoints", kpt_oks_sigmas=list(sigmas))
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
        t = time.perf_counter()
        E.evaluate()
        E.accumulate()
        took = time.perf_counter() - t
        E.summarize()
    return took, np.asarray(E.stats[:10])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=150_000)
    ap.add_argument("--no-pycocotools", action="store_true", help="skip pycocotools (minutes at full size)")
    args = ap.parse_args()
    from annotate.ops.compare import Side, compare_datasets
    from annotate.ops.oks import layout_sigmas

    n = args.persons
    n_img = max(1, round(n * 57_000 / 150_000))
    t = time.perf_counter()
    ref, other = make_pair(n, n_img)
    gt, dts = coco_pair(ref, other)
    print(f"pair: REF {len(ref)} persons on {n_img} images, OTHER {len(other)} persons ({len(dts)} detections); "
          f"made in {time.perf_counter() - t:.1f} s", flush=True)
    sigmas, _ = layout_sigmas(ref.category)
    a, b = Side(Path("ref.json"), "coco", ref), Side(Path("other.json"), "coco", other)
    result = []

    def ours() -> None:
        gc.disable()   # as `annotate compare` runs (annotate.cli.run pauses the cyclic GC)
        try:
            result.append(compare_datasets(a, b))
        finally:
            gc.enable()

    t_ours = best_of(ours, 2)
    cmp = result[-1]
    print(f"compare (matching, per-keypoint tables, AP): {t_ours:.2f} s; {len(cmp.oks)} matched, mean OKS "
          f"{cmp.mean_oks:.4f}, AP {cmp.ap.stats[0]:.4f}", flush=True)
    fast = min((run_faster(gt, dts, sigmas) for _ in range(2)), key=lambda r: r[0])
    print(f"faster-coco-eval evaluate()+accumulate() alone: {fast[0]:.2f} s -> compare takes {t_ours / fast[0]:.2f}x "
          f"(goal <= 1.5x); AP {fast[1][0]:.4f} (|ours - theirs| max over the 10 figures "
          f"{np.abs(fast[1] - cmp.ap.stats).max():.2g})", flush=True)
    if not args.no_pycocotools:
        slow = run_pycocotools(gt, dts, sigmas)
        print(f"pycocotools evaluate()+accumulate(): {slow[0]:.2f} s -> compare is {slow[0] / t_ours:.1f}x faster; "
              f"|ours - pycocotools| max over the 10 figures {np.abs(slow[1] - cmp.ap.stats).max():.2g}")


if __name__ == "__main__":
    main()
