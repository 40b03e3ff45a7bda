"""OpenPose training targets: Gaussian keypoint heatmaps with a background channel and
Part Affinity Fields, plus the decoder that turns them back into people.

Conventions (all in *input* pixels, i.e. after the image is scaled to the network input):

* grid cell ``i`` of a map with stride ``s`` sits at ``p_i = s*i + s/2 - 0.5``;
* heatmap ``S_j(p) = max_k exp(-||p - x_jk||^2 / 2 sigma^2)``, values below ``cutoff`` set to 0,
  and a background channel ``max(0, 1 - max_j S_j)``; only labeled keypoints (v > 0) count;
* PAF of limb ``(j1 -> j2)`` of person ``k``: the unit vector ``v = (x2 - x1)/|x2 - x1|`` at
  cells with ``0 <= v.(p - x1) <= |x2 - x1|`` and ``|v_perp.(p - x1)| <= width*s`` (``width``
  in grid cells, as OpenPose), averaged over the persons non-zero at ``p``; zero-length limbs
  are skipped.

Every loop runs over keypoints or limbs, never pixels; each one touches only a window around
its keypoint (the radius where the Gaussian falls to ``cutoff``) or its limb's bounding box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetParams:
    """Rendering parameters; ``sigma`` in input pixels, ``paf_width`` in grid cells."""

    stride: int = 8
    sigma: float = 7.0
    paf_width: float = 1.0
    cutoff: float = 0.01


def cell_centres(n: int, stride: int) -> np.ndarray:
    """Input-pixel coordinates of the centres of ``n`` grid cells."""
    return stride * np.arange(n, dtype=np.float64) + stride / 2 - 0.5


def gaussian_radius(sigma: float, cutoff: float) -> float:
    """Distance at which the Gaussian falls to ``cutoff`` (3 sigma when ``cutoff`` is 0)."""
    return sigma * math.sqrt(2 * math.log(1 / cutoff)) if cutoff > 0 else 3 * sigma


def keypoint_heatmaps(keypoints: np.ndarray, grid_hw: tuple[int, int], p: TargetParams) -> np.ndarray:
    """``(K, H, W)`` float32 Gaussian confidence maps (no background channel).

    ``keypoints`` is ``(N, K, 3)`` in input pixels; v = 0 keypoints are ignored.
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    N, K = kps.shape[:2]
    H, W = grid_hw
    heat = np.zeros((K, H, W), dtype=np.float32)
    n_idx, k_idx = np.nonzero((kps[:, :, 2] > 0) & np.isfinite(kps[:, :, :2]).all(-1))
    if not len(n_idx):
        return heat
    s = p.stride
    xy = kps[n_idx, k_idx, :2]
    r = gaussian_radius(p.sigma, p.cutoff)
    # window of cells whose centre is within r of the keypoint: ceil((x - r - c0)/s) .. floor((x + r - c0)/s)
    c0 = s / 2 - 0.5
    lo = np.ceil((xy - r - c0) / s).astype(np.int64)
    hi = np.floor((xy + r - c0) / s).astype(np.int64) + 1
    lo_c = np.maximum(lo, 0)
    hi_c = np.minimum(hi, [W, H])
    keep = (hi_c > lo_c).all(axis=1)
    n_win = int(np.max(hi - lo)) if len(lo) else 0
    # 1-D Gaussians for every keypoint at once: (M, n_win) along x and along y
    offs = np.arange(n_win)
    inv = -1.0 / (2 * p.sigma ** 2)
    gx = np.exp(inv * (s * (lo[:, 0:1] + offs) + c0 - xy[:, 0:1]) ** 2).astype(np.float32)
    gy = np.exp(inv * (s * (lo[:, 1:2] + offs) + c0 - xy[:, 1:2]) ** 2).astype(np.float32)
    if n_win <= 24:
        # small windows (the usual strides): all patches at once, one scatter-max; past about
        # 24 cells a side the scatter costs more than a Python loop over windows
        patch = gy[:, :, None] * gx[:, None, :]  # (M, n_win, n_win)
        rows = lo[:, 1:2, None] + offs[None, :, None]
        cols = lo[:, 0:1, None] + offs[None, None, :]
        ok = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W) & (patch >= p.cutoff)
        flat = (k_idx[:, None, None] * H + rows) * W + cols
        np.maximum.at(heat.reshape(-1), flat[ok], patch[ok])
        return heat
    for m in np.flatnonzero(keep):  # large windows (stride 1, big sigma): one window at a time
        (x0, y0), (x1, y1), (lx, ly) = lo_c[m], hi_c[m], lo[m]
        patch = gy[m, y0 - ly:y1 - ly, None] * gx[m, None, x0 - lx:x1 - lx]
        if p.cutoff > 0:
            patch[patch < p.cutoff] = 0
        view = heat[k_idx[m], y0:y1, x0:x1]
        np.maximum(view, patch, out=view)
    return heat


def with_background(heat: np.ndarray) -> np.ndarray:
    """Append the background channel ``max(0, 1 - max_j S_j)``."""
    bg = np.clip(1.0 - (heat.max(axis=0) if len(heat) else 0.0), 0.0, None)
    return np.concatenate([heat, np.asarray(bg, np.float32)[None]], axis=0)


def part_affinity_fields(keypoints: np.ndarray, limbs: list[tuple[int, int]] | tuple,
                         grid_hw: tuple[int, int], p: TargetParams) -> np.ndarray:
    """``(2L, H, W)`` float32 PAFs: channels ``2l`` (x) and ``2l + 1`` (y) for limb ``l``."""
    kps = np.asarray(keypoints, dtype=np.float64)
    H, W = grid_hw
    s = p.stride
    width = p.paf_width * s
    xs_all, ys_all = cell_centres(W, s), cell_centres(H, s)
    pafs = np.zeros((2 * len(limbs), H, W), dtype=np.float32)
    for li, (a, b) in enumerate(limbs):
        both = (kps[:, a, 2] > 0) & (kps[:, b, 2] > 0)
        if not both.any():
            continue
        acc = np.zeros((2, H, W), dtype=np.float64)
        count = np.zeros((H, W), dtype=np.int32)
        for n in np.flatnonzero(both):
            x1, x2 = kps[n, a, :2], kps[n, b, :2]
            d = x2 - x1
            length = math.hypot(d[0], d[1])
            if not (length > 0 and np.isfinite(length)):
                continue
            v = d / length
            # the capsule lies inside the segment's box grown by the width
            lo = np.minimum(x1, x2) - width
            hi = np.maximum(x1, x2) + width
            ix0, ix1 = np.searchsorted(xs_all, lo[0]), np.searchsorted(xs_all, hi[0], side="right")
            iy0, iy1 = np.searchsorted(ys_all, lo[1]), np.searchsorted(ys_all, hi[1], side="right")
            if ix1 <= ix0 or iy1 <= iy0:
                continue
            dx = xs_all[ix0:ix1][None, :] - x1[0]
            dy = ys_all[iy0:iy1][:, None] - x1[1]
            along = v[0] * dx + v[1] * dy
            across = np.abs(v[0] * dy - v[1] * dx)
            mask = (along >= 0) & (along <= length) & (across <= width)
            acc[0, iy0:iy1, ix0:ix1] += mask * v[0]
            acc[1, iy0:iy1, ix0:ix1] += mask * v[1]
            count[iy0:iy1, ix0:ix1] += mask
        nz = count > 0
        pafs[2 * li][nz] = acc[0][nz] / count[nz]
        pafs[2 * li + 1][nz] = acc[1][nz] / count[nz]
    return pafs


# --------------------------------------------------------------------------- decoding

def find_peaks(heat: np.ndarray, threshold: float = 0.1) -> list[np.ndarray]:
    """Per channel, ``(P, 3)`` arrays of ``(col, row, score)`` local maxima (3x3 NMS) above threshold.

    A plateau (a keypoint midway between cells gives two equal maxima) is one peak at its centre."""
    from scipy import ndimage

    peaks = []
    eight = np.ones((3, 3), bool)
    for ch in heat:
        is_max = (ch == ndimage.maximum_filter(ch, size=3, mode="constant")) & (ch > threshold)
        labels, n = ndimage.label(is_max, structure=eight)
        if n == 0:
            peaks.append(np.zeros((0, 3)))
            continue
        idx = np.arange(1, n + 1)
        centres = np.array(ndimage.center_of_mass(is_max, labels, idx)).reshape(n, 2)
        scores = np.asarray(ndimage.maximum(ch, labels, idx)).reshape(n)
        peaks.append(np.column_stack([centres[:, 1], centres[:, 0], scores]))
    return peaks


def _refine(ch: np.ndarray, peak: np.ndarray) -> tuple[float, float]:
    """Sub-cell peak position: centroid of the 3x3 neighbourhood."""
    c, r = int(round(peak[0])), int(round(peak[1]))
    r0, r1, c0, c1 = max(r - 1, 0), min(r + 2, ch.shape[0]), max(c - 1, 0), min(c + 2, ch.shape[1])
    w = ch[r0:r1, c0:c1].astype(np.float64)
    yy, xx = np.mgrid[r0:r1, c0:c1]
    tot = w.sum()
    return (float((xx * w).sum() / tot), float((yy * w).sum() / tot)) if tot > 0 else (float(c), float(r))


def decode(heatmaps: np.ndarray, pafs: np.ndarray, limbs: list[tuple[int, int]] | tuple, stride: int,
           peak_threshold: float = 0.1, paf_threshold: float = 0.05, samples: int = 10,
           min_inlier_ratio: float = 0.8, min_keypoints: int = 2) -> np.ndarray:
    """People from keypoint heatmaps (``K`` channels, no background) and PAFs: peak NMS, PAF line integral,
    greedy matching per limb and assembly. Returns ``(P, K, 3)`` in input pixels, ``v`` = peak score."""
    K = len(heatmaps)
    heat = heatmaps[:K]
    peaks = find_peaks(heat, peak_threshold)
    H, W = heat.shape[1:]
    # per keypoint, refined peak positions in grid cells and their scores
    pos = [np.array([_refine(heat[j], pk) for pk in peaks[j]]).reshape(-1, 2) for j in range(K)]
    score = [peaks[j][:, 2] for j in range(K)]
    people: list[np.ndarray] = []  # each: (K,) peak index or -1
    owner: list[dict[int, int]] = [dict() for _ in range(K)]  # peak index -> person
    t = np.linspace(0, 1, samples)
    for li, (a, b) in enumerate(limbs):
        pa, pb = pos[a], pos[b]
        if not len(pa) or not len(pb):
            continue
        d = pb[None, :, :] - pa[:, None, :]  # (A, B, 2)
        norm = np.linalg.norm(d, axis=-1)
        unit = np.divide(d, norm[..., None], out=np.zeros_like(d), where=norm[..., None] > 0)
        # sample inside the segment, at least 0.75 cell from either end: a cell nearest to an
        # end point can lie past it, outside the limb's field
        margin = np.minimum(0.75 / np.maximum(norm, 1e-6), 0.5)[..., None]  # (A, B, 1)
        ts = margin + (1 - 2 * margin) * t[None, None, :]  # (A, B, S)
        pts = pa[:, None, None, :] + ts[..., None] * d[:, :, None, :]  # (A, B, S, 2)
        ci = np.clip(np.rint(pts[..., 0]).astype(int), 0, W - 1)
        ri = np.clip(np.rint(pts[..., 1]).astype(int), 0, H - 1)
        field = np.stack([pafs[2 * li][ri, ci], pafs[2 * li + 1][ri, ci]], axis=-1)  # (A, B, S, 2)
        dots = (field * unit[:, :, None, :]).sum(-1)
        mean = dots.mean(-1) + np.minimum(0.5 * H / np.maximum(norm, 1e-6) - 1, 0)
        ok = ((dots > paf_threshold).mean(-1) >= min_inlier_ratio) & (mean > 0) & (norm > 0)
        cand = sorted(((mean[i, j], i, j) for i, j in zip(*np.nonzero(ok))), reverse=True)
        used_a, used_b = set(), set()
        for _, i, j in cand:
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            pi, pj = owner[a].get(i), owner[b].get(j)
            if pi is None and pj is None:
                person = np.full(K, -1)
                person[a], person[b] = i, j
                people.append(person)
                owner[a][i] = owner[b][j] = len(people) - 1
            elif pj is None:
                if people[pi][b] == -1:
                    people[pi][b] = j
                    owner[b][j] = pi
            elif pi is None:
                if people[pj][a] == -1:
                    people[pj][a] = i
                    owner[a][i] = pj
            elif pi != pj:
                A, B = people[pi], people[pj]
                if not ((A >= 0) & (B >= 0)).any():  # disjoint parts of one person: merge
                    A[B >= 0] = B[B >= 0]
                    for k in np.flatnonzero(B >= 0):
                        owner[k][int(B[k])] = pi
                    people[pj] = np.full(K, -1)
    out = []
    for person in people:
        if (person >= 0).sum() < min_keypoints:
            continue
        kp = np.zeros((K, 3))
        for j in np.flatnonzero(person >= 0):
            kp[j, :2] = pos[j][person[j]] * stride + stride / 2 - 0.5
            kp[j, 2] = score[j][person[j]]
        out.append(kp)
    return np.stack(out) if out else np.zeros((0, K, 3))
