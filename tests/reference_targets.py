"""Straightforward per-pixel implementations of the OpenPose target maths (the references the
vectorised code in annotate.targets is tested and benchmarked against). Deliberately slow."""
from __future__ import annotations

import math

import numpy as np


def heatmaps_per_pixel(kps: np.ndarray, grid_hw, stride: int, sigma: float, cutoff: float = 0.01) -> np.ndarray:
    N, K = kps.shape[:2]
    H, W = grid_hw
    out = np.zeros((K, H, W), np.float32)
    for j in range(K):
        for r in range(H):
            for c in range(W):
                px, py = stride * c + stride / 2 - 0.5, stride * r + stride / 2 - 0.5
                best = 0.0
                for n in range(N):
                    if kps[n, j, 2] > 0:
                        d2 = (px - kps[n, j, 0]) ** 2 + (py - kps[n, j, 1]) ** 2
                        best = max(best, math.exp(-d2 / (2 * sigma * sigma)))
                out[j, r, c] = best if best >= cutoff else 0.0
    return out


def pafs_per_pixel(kps: np.ndarray, limbs, grid_hw, stride: int, width_cells: float) -> np.ndarray:
    H, W = grid_hw
    width = width_cells * stride
    out = np.zeros((2 * len(limbs), H, W), np.float32)
    for li, (a, b) in enumerate(limbs):
        for r in range(H):
            for c in range(W):
                px, py = stride * c + stride / 2 - 0.5, stride * r + stride / 2 - 0.5
                sx = sy = 0.0
                count = 0
                for n in range(kps.shape[0]):
                    if kps[n, a, 2] <= 0 or kps[n, b, 2] <= 0:
                        continue
                    x1, y1, x2, y2 = kps[n, a, 0], kps[n, a, 1], kps[n, b, 0], kps[n, b, 1]
                    length = math.hypot(x2 - x1, y2 - y1)
                    if length == 0:
                        continue
                    vx, vy = (x2 - x1) / length, (y2 - y1) / length
                    along = vx * (px - x1) + vy * (py - y1)
                    across = abs(vx * (py - y1) - vy * (px - x1))
                    if 0 <= along <= length and across <= width:
                        sx += vx
                        sy += vy
                        count += 1
                if count:
                    out[2 * li, r, c] = sx / count
                    out[2 * li + 1, r, c] = sy / count
    return out
