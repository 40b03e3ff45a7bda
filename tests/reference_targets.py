"""Reference implementations of the OpenPose target maths, which ``annotate.targets`` is tested
and benchmarked against.

* ``heatmaps_windowed`` / ``pafs_windowed``: written the way open-source OpenPose trainers write
  their data loaders (``putGaussianMaps`` / ``putVecMaps``, ``_add_gaussian`` / ``_set_paf``):
  Python loops over the cells of a window around each keypoint (where the Gaussian is above the
  cut-off, about 3 sigma) and over the box of each limb grown by the PAF width, one person and
  one limb at a time. These are the benchmark's reference: what trainers really run.
* ``heatmaps_dense`` / ``pafs_dense``: the plain maths evaluated at every cell of the grid with
  numpy broadcasting (no window at all), to show that the windows cut nothing off.

Both follow the conventions of ``annotate.targets`` (cell ``i`` at ``stride*i + stride/2 - 0.5``,
max over persons, 0.01 cut-off, PAFs averaged over the persons present at a cell).
"""
from __future__ import annotations

import math

import numpy as np


def _labeled(kp) -> bool:
    return kp[2] > 0 and math.isfinite(kp[0]) and math.isfinite(kp[1])


def heatmaps_windowed(kps: np.ndarray, grid_hw, stride: int, sigma: float, cutoff: float = 0.01) -> np.ndarray:
    """``(K, H, W)`` Gaussian maps, one keypoint at a time over its window of cells."""
    N, K = kps.shape[:2]
    H, W = grid_hw
    out = np.zeros((K, H, W), np.float32)
    start = stride / 2.0 - 0.5
    # the Gaussian is at or above the cut-off within this radius (3 sigma when there is none)
    max_exponent = math.log(1.0 / cutoff) if cutoff > 0 else 4.5
    radius = sigma * math.sqrt(2.0 * max_exponent)
    for n in range(N):
        for j in range(K):
            kp = kps[n, j]
            if not _labeled(kp):
                continue
            x, y = float(kp[0]), float(kp[1])
            x0 = max(math.ceil((x - radius - start) / stride), 0)
            x1 = min(math.floor((x + radius - start) / stride), W - 1)
            y0 = max(math.ceil((y - radius - start) / stride), 0)
            y1 = min(math.floor((y + radius - start) / stride), H - 1)
            for map_y in range(y0, y1 + 1):
                for map_x in range(x0, x1 + 1):
                    xx = map_x * stride + start
                    yy = map_y * stride + start
                    exponent = ((xx - x) * (xx - x) + (yy - y) * (yy - y)) / 2.0 / sigma / sigma
                    if cutoff > 0 and exponent > max_exponent:
                        continue
                    value = math.exp(-exponent)
                    if value > out[j, map_y, map_x]:
                        out[j, map_y, map_x] = value
    return out


def pafs_windowed(kps: np.ndarray, limbs, grid_hw, stride: int, width_cells: float) -> np.ndarray:
    """``(2L, H, W)`` PAFs, one limb of one person at a time over its box grown by the width."""
    H, W = grid_hw
    width = width_cells * stride
    start = stride / 2.0 - 0.5
    out = np.zeros((2 * len(limbs), H, W), np.float32)
    for li, (a, b) in enumerate(limbs):
        sum_x = np.zeros((H, W))
        sum_y = np.zeros((H, W))
        count = np.zeros((H, W), np.int32)
        for n in range(kps.shape[0]):
            if not (_labeled(kps[n, a]) and _labeled(kps[n, b])):
                continue
            x1, y1, x2, y2 = float(kps[n, a, 0]), float(kps[n, a, 1]), float(kps[n, b, 0]), float(kps[n, b, 1])
            length = math.sqrt((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1))
            if length == 0:  # same point: no direction, no field
                continue
            vx, vy = (x2 - x1) / length, (y2 - y1) / length
            c0 = max(math.ceil((min(x1, x2) - width - start) / stride), 0)
            c1 = min(math.floor((max(x1, x2) + width - start) / stride), W - 1)
            r0 = max(math.ceil((min(y1, y2) - width - start) / stride), 0)
            r1 = min(math.floor((max(y1, y2) + width - start) / stride), H - 1)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    px, py = c * stride + start, r * stride + start
                    along = vx * (px - x1) + vy * (py - y1)
                    across = abs(vx * (py - y1) - vy * (px - x1))
                    if 0 <= along <= length and across <= width:
                        sum_x[r, c] += vx
                        sum_y[r, c] += vy
                        count[r, c] += 1
        # the average over the persons present, once per limb over the map (as trainers do it)
        np.divide(sum_x, count, out=sum_x, where=count > 0)
        np.divide(sum_y, count, out=sum_y, where=count > 0)
        out[2 * li], out[2 * li + 1] = sum_x, sum_y
    return out


def _centres(n: int, stride: int) -> np.ndarray:
    return stride * np.arange(n, dtype=np.float64) + stride / 2 - 0.5


def heatmaps_dense(kps: np.ndarray, grid_hw, stride: int, sigma: float, cutoff: float = 0.01) -> np.ndarray:
    """The heatmap formula at every cell (numpy broadcasting over persons x cells)."""
    H, W = grid_hw
    kps = np.asarray(kps, np.float64)
    lab = (kps[:, :, 2] > 0) & np.isfinite(kps[:, :, :2]).all(-1)
    xy = np.where(lab[..., None], kps[:, :, :2], np.inf)
    dx = _centres(W, stride)[None, None, None, :] - xy[:, :, 0, None, None]  # (N, K, 1, W)
    dy = _centres(H, stride)[None, None, :, None] - xy[:, :, 1, None, None]  # (N, K, H, 1)
    with np.errstate(invalid="ignore"):
        g = np.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
    if cutoff > 0:
        g = np.where(g >= cutoff, g, 0.0)
    else:  # no cut-off: a square window of 3 sigma, as mmpose's
        g = np.where((np.abs(dx) <= 3 * sigma) & (np.abs(dy) <= 3 * sigma), g, 0.0)
    g = np.nan_to_num(g, nan=0.0)
    g = g.max(axis=0) if len(kps) else np.zeros((kps.shape[1], H, W))
    return g.astype(np.float32)


def pafs_dense(kps: np.ndarray, limbs, grid_hw, stride: int, width_cells: float) -> np.ndarray:
    """The PAF formula at every cell (numpy broadcasting over persons x cells, one limb at a time)."""
    H, W = grid_hw
    width = width_cells * stride
    kps = np.asarray(kps, np.float64)
    px, py = _centres(W, stride)[None, None, :], _centres(H, stride)[None, :, None]
    out = np.zeros((2 * len(limbs), H, W), np.float32)
    for li, (a, b) in enumerate(limbs):
        ok = (kps[:, a, 2] > 0) & (kps[:, b, 2] > 0) & np.isfinite(kps[:, [a, b], :2]).all((1, 2))
        p1, p2 = kps[ok, a, :2], kps[ok, b, :2]
        d = p2 - p1
        length = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
        p1, p2, length = p1[length > 0], p2[length > 0], length[length > 0]
        if not len(length):
            continue
        v = (p2 - p1) / length[:, None]
        ddx, ddy = px - p1[:, 0, None, None], py - p1[:, 1, None, None]
        along = v[:, 0, None, None] * ddx + v[:, 1, None, None] * ddy
        across = np.abs(v[:, 0, None, None] * ddy - v[:, 1, None, None] * ddx)
        m = (along >= 0) & (along <= length[:, None, None]) & (across <= width)
        count = m.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[2 * li] = np.where(count > 0, (m * v[:, 0, None, None]).sum(0) / count, 0)
            out[2 * li + 1] = np.where(count > 0, (m * v[:, 1, None, None]).sum(0) / count, 0)
    return out
