"""Compiled inner loops of :mod:`annotate.targets` (numba, cached on disk after the first call).

The loops are the windowed per-pixel maths as OpenPose trainers write it (every cell within the
Gaussian's radius of each keypoint, every cell of each limb's box grown by the PAF width), with
each cell decided by the exact expression of the plain maths: the windows only bound the work.
At the usual strides an image has a few thousand such cells, so in numpy the cost was the
~90 calls, not the arithmetic; compiled, one image's targets take about the time to write them.

Conventions (see :mod:`annotate.targets`): cell ``i`` sits at ``stride*i + stride/2 - 0.5``;
only keypoints with ``v > 0`` and finite coordinates are drawn.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# slack on window bounds computed in floating point, so that rounding never drops a boundary cell
# (the exact test of every candidate cell decides)
EPS = 1e-7
#: A unit direction component below this is taken as 0 when bounding a limb's cells (not in the
#: exact test of a cell).
AXIS = 1e-9


@njit(cache=True, nogil=True, inline="always")
def _span(lo: float, hi: float, stride: int, start: float, n: int) -> tuple[int, int]:
    """First and last cell (of ``n``) whose centre may lie in ``[lo, hi]``; first > last when none."""
    first = max(math.ceil((lo - start) / stride - EPS), 0.0)
    last = min(math.floor((hi - start) / stride + EPS), n - 1.0)
    if not first <= last:  # also NaN bounds
        return 1, 0
    return int(first), int(last)


@njit(cache=True, nogil=True, inline="always")
def _labeled(kps: np.ndarray, i: int, j: int) -> bool:
    return kps[i, j, 2] > 0 and math.isfinite(kps[i, j, 0]) and math.isfinite(kps[i, j, 1])


@njit(cache=True, nogil=True)
def draw_gaussians(heat: np.ndarray, background: np.ndarray, kps: np.ndarray, stride: int, sigma: float,
                   cutoff: float, radius: float) -> None:
    """Max the Gaussians of every labeled keypoint of ``kps`` (N, K, 3) into ``heat`` (K, H, W).

    ``background`` (H, W), all ones or empty (0, 0) for none, becomes ``1 - max_j S_j``
    (``min_j (1 - S_j)`` is the same number: ``1 - x`` rounds monotonically). With ``cutoff > 0``
    values below it are 0; without, the window is mmpose's square of 3 sigma. ``radius``:
    :func:`annotate.targets.gaussian_radius` of ``sigma`` and ``cutoff``."""
    N, K = kps.shape[0], kps.shape[1]
    H, W = heat.shape[1], heat.shape[2]
    with_bg = background.shape[0] > 0
    start = stride / 2 - 0.5
    scale = 2 * sigma * sigma
    gx = np.empty(W)
    gy = np.empty(H)
    one = np.float32(1)
    for i in range(N):
        for j in range(K):
            if not _labeled(kps, i, j):
                continue
            x, y = kps[i, j, 0], kps[i, j, 1]
            x0, x1 = _span(x - radius, x + radius, stride, start, W)
            y0, y1 = _span(y - radius, y + radius, stride, start, H)
            if x0 > x1 or y0 > y1:
                continue
            # exp(-(dx^2 + dy^2)/2s^2) = exp(-dx^2/2s^2) exp(-dy^2/2s^2): 2n exponentials per n x n window
            for c in range(x0, x1 + 1):
                d = (c * stride + start) - x
                gx[c] = math.exp(-(d * d) / scale) if (cutoff > 0 or abs(d) <= radius) else 0.0
            for r in range(y0, y1 + 1):
                d = (r * stride + start) - y
                gy[r] = math.exp(-(d * d) / scale) if (cutoff > 0 or abs(d) <= radius) else 0.0
            for r in range(y0, y1 + 1):
                for c in range(x0, x1 + 1):
                    g = gy[r] * gx[c]
                    if g < cutoff:
                        continue
                    v = np.float32(g)
                    if v > heat[j, r, c]:
                        heat[j, r, c] = v
                        if with_bg and one - v < background[r, c]:
                            background[r, c] = one - v


@njit(cache=True, nogil=True, inline="always")
def _segment(kps: np.ndarray, i: int, a: int, b: int):
    """Start, unit direction and length of person ``i``'s limb ``a -> b``; length 0 when it has none."""
    x1, y1 = kps[i, a, 0], kps[i, a, 1]
    if not (_labeled(kps, i, a) and _labeled(kps, i, b)):
        return x1, y1, 0.0, 0.0, 0.0
    dx, dy = kps[i, b, 0] - x1, kps[i, b, 1] - y1
    length = math.sqrt(dx * dx + dy * dy)
    if not (length > 0 and length < math.inf):  # the same point twice, or a length past float64: no direction
        return x1, y1, 0.0, 0.0, 0.0
    return x1, y1, dx / length, dy / length, length


@njit(cache=True, nogil=True, inline="always")
def _capsule_rows(vx: float, vy: float, length: float, w: float) -> tuple[float, float, float, float]:
    """Coefficients of the capsule's extent along a row, ``ex = px - x1`` as a function of
    ``ey = py - y1``: ``0 <= vx ex + vy ey <= length`` gives ``ex`` between ``s1 ey`` and
    ``s1 ey + o1``; ``|vx ey - vy ex| <= w`` gives ``s2 ey +- o2`` (inf where a direction is 0)."""
    # a direction this close to an axis bounds ex only past any image (1e9 times the limb or the
    # width), and its 1 / v terms would swamp the rounding margin (a limb from (2, 0) to
    # (0, -6.6e-212) lost a cell the exact test takes): left unbounded there, the exact test decides
    s1, o1 = (-vy / vx, length / vx) if abs(vx) > AXIS else (0.0, math.inf)
    s2, o2 = (vx / vy, w / abs(vy)) if abs(vy) > AXIS else (0.0, math.inf)
    return s1, o1, s2, o2


@njit(cache=True, nogil=True, inline="always")
def _capsule_columns(ey: float, x1: float, s1: float, o1: float, s2: float, o2: float, stride: int,
                     start: float, c0: int, c1: int) -> tuple[int, int]:
    """The columns of ``c0..c1`` on the row ``ey = py - y1`` that can be in the capsule (see
    :func:`_capsule_rows`), grown by a cell each side against rounding: the exact test decides."""
    lo, hi = -math.inf, math.inf
    if o1 != math.inf:
        a = s1 * ey
        lo, hi = min(a, a + o1), max(a, a + o1)
    if o2 != math.inf:
        m = s2 * ey
        lo, hi = max(lo, m - o2), min(hi, m + o2)
    first = max(math.floor((x1 + lo - start) / stride) - 1.0, float(c0))
    last = min(math.ceil((x1 + hi - start) / stride) + 1.0, float(c1))
    if not first <= last:
        return (c0, c1) if (math.isnan(first) or math.isnan(last)) else (1, 0)
    return int(first), int(last)


@njit(cache=True, nogil=True)
def draw_limbs(pafs: np.ndarray, kps: np.ndarray, limb_a: np.ndarray, limb_b: np.ndarray, stride: int,
               width_cells: float) -> None:
    """Add the unit vectors of every limb of every person to ``pafs`` (2L, H, W, zeros), averaged
    per cell over the persons present there.

    A cell is in person ``k``'s limb when ``0 <= v.(p - x1) <= |x2 - x1|`` and
    ``|v_perp.(p - x1)| <= width`` (the capsule), written term for term as the plain maths. Per
    limb, ``owner`` marks the cells it has reached, so only the cells that two persons share
    need a second visit (the mean)."""
    N = kps.shape[0]
    H, W = pafs.shape[1], pafs.shape[2]
    start = stride / 2 - 0.5
    w = width_cells * stride
    owner = np.full((H, W), -1, np.int32)
    count = np.empty((H, W), np.int32)
    shared = np.empty(H * W, np.int64)
    for li in range(len(limb_a)):
        a, b = limb_a[li], limb_b[li]
        fx, fy = pafs[2 * li], pafs[2 * li + 1]
        n_shared = 0
        for i in range(N):
            x1, y1, vx, vy, length = _segment(kps, i, a, b)
            if length == 0:
                continue
            x2, y2 = kps[i, b, 0], kps[i, b, 1]
            c0, c1 = _span(min(x1, x2) - w, max(x1, x2) + w, stride, start, W)
            r0, r1 = _span(min(y1, y2) - w, max(y1, y2) + w, stride, start, H)
            s1, o1, s2, o2 = _capsule_rows(vx, vy, length, w)
            for r in range(r0, r1 + 1):
                py = r * stride + start
                ca, cb = _capsule_columns(py - y1, x1, s1, o1, s2, o2, stride, start, c0, c1)
                for c in range(ca, cb + 1):
                    px = c * stride + start
                    along = vx * (px - x1) + vy * (py - y1)
                    across = abs(vx * (py - y1) - vy * (px - x1))
                    if not (along >= 0 and along <= length and across <= w):
                        continue
                    if owner[r, c] != li:
                        owner[r, c] = li
                        count[r, c] = 1
                        fx[r, c] = vx
                        fy[r, c] = vy
                    else:
                        fx[r, c] += vx
                        fy[r, c] += vy
                        count[r, c] += 1
                        if count[r, c] == 2:
                            shared[n_shared] = r * W + c
                            n_shared += 1
        for k in range(n_shared):
            r, c = shared[k] // W, shared[k] % W
            fx[r, c] /= count[r, c]
            fy[r, c] /= count[r, c]


@njit(cache=True, nogil=True)
def encode(buf: np.ndarray, num_keypoints: int, kps: np.ndarray, limb_a: np.ndarray, limb_b: np.ndarray,
           stride: int, sigma: float, cutoff: float, radius: float, width_cells: float) -> None:
    """One image's targets into ``buf`` (K+1+2L, H, W, zeros): heatmaps, background, PAFs."""
    K = num_keypoints
    buf[K] = 1
    draw_gaussians(buf[:K], buf[K], kps, stride, sigma, cutoff, radius)
    if len(limb_a) and kps.shape[0]:
        draw_limbs(buf[K + 1:], kps, limb_a, limb_b, stride, width_cells)
