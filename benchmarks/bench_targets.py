"""OpenPose targets: our vectorised, windowed heatmaps and PAFs against (a) a straightforward
per-pixel implementation of the same formulas (tests/reference_targets.py) and (b) mmpose's
``generate_gaussian_heatmaps``, on the same persons, at 368x368 with stride 8 and stride 1.

    .venv/bin/python benchmarks/bench_targets.py
"""
from __future__ import annotations

import sys
import time

import numpy as np

from common import ROOT, best_of, report

sys.path.insert(0, str(ROOT / "tests"))


def persons(n: int = 6, size: int = 368, seed: int = 0) -> np.ndarray:
    """``n`` people in the OpenPose-18 layout from the sample annotations, scattered over the input."""
    from annotate.coco import load_coco
    from annotate.skeletons import get_mapping

    ds = load_coco(ROOT / "sample_data" / "coco" / "sample.json")
    kps = get_mapping("coco17", "openpose18").apply(ds.keypoints)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = kps[i % len(kps)].copy()
        lab = k[:, 2] > 0
        xy = k[lab, :2]
        xy = (xy - xy.min(0)) / (xy.max(0) - xy.min(0)).max() * rng.uniform(0.3, 0.6) * size
        k[lab, :2] = xy + rng.uniform(0, size * 0.5, 2)
        out.append(k)
    return np.stack(out)


def main() -> None:
    from mmpose.codecs.utils.gaussian_heatmap import generate_gaussian_heatmaps
    from reference_targets import pafs_per_pixel

    from annotate.skeletons import OPENPOSE18
    from annotate.targets import TargetParams, keypoint_heatmaps, part_affinity_fields

    kps = persons()
    size, sigma = 368, 7.0
    print(f"{len(kps)} persons, OpenPose-18 ({len(OPENPOSE18.limbs)} limbs), input {size}x{size}, sigma {sigma}px")
    limbs = OPENPOSE18.limbs
    for stride in (8, 1):
        grid = (size // stride, size // stride)
        p = TargetParams(stride=stride, sigma=sigma)
        ours_paf = best_of(lambda: part_affinity_fields(kps, limbs, grid, p), 5)
        # the per-pixel reference is slow: at stride 1 it runs on 3 limbs and is scaled to all 19
        sub = limbs if stride > 1 else limbs[:3]
        t = time.perf_counter()
        pafs_per_pixel(kps, sub, grid, stride, 1.0)
        ref_paf = (time.perf_counter() - t) * len(limbs) / len(sub)
        note = "" if stride > 1 else ", 3 limbs timed and scaled to 19"
        report(f"PAFs stride {stride} ({grid[1]}x{grid[0]})", ours_paf, ref_paf, f"per-pixel reference{note}")

        ours_hm = best_of(lambda: keypoint_heatmaps(kps, grid, p), 5)
        # mmpose works in heatmap pixels: the same persons and sigma expressed on the grid
        hm_kps = (kps[:, :, :2] + 0.5) / stride - 0.5
        vis = (kps[:, :, 2] > 0).astype(np.float32)
        ref_hm = best_of(lambda: generate_gaussian_heatmaps((grid[1], grid[0]), hm_kps, vis, sigma / stride), 5)
        report(f"heatmaps stride {stride} ({grid[1]}x{grid[0]}), cut at 0.01", ours_hm, ref_hm,
               "mmpose generate_gaussian_heatmaps")
        # like for like: mmpose has no cut-off and a 3-sigma window; so does cutoff=0 here
        same = TargetParams(stride=stride, sigma=sigma, cutoff=0.0)
        ours_same = best_of(lambda: keypoint_heatmaps(kps, grid, same), 5)
        report(f"heatmaps stride {stride} ({grid[1]}x{grid[0]}), no cut-off as mmpose", ours_same, ref_hm,
               "mmpose generate_gaussian_heatmaps")


if __name__ == "__main__":
    main()
