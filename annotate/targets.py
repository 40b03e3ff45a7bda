"""OpenPose training targets: Gaussian keypoint heatmaps with a background channel and Part
Affinity Fields (PAFs), as one codec that pairs ``encode`` with ``decode`` (as mmpose's codecs do).

Shapes: ``N`` persons, ``K`` keypoints, ``L`` limbs, maps of ``H x W`` grid cells; a cell is
``stride`` input pixels (input pixels: the image scaled to the network input).

Conventions:

* grid cell ``i`` of a map with stride ``s`` sits at ``p_i = s*i + s/2 - 0.5``;
* heatmap ``S_j(p) = max_k exp(-||p - x_jk||^2 / 2 sigma^2)``, values below ``cutoff`` set to 0
  (no cut-off: a square window of 3 sigma, as mmpose), and a background channel
  ``1 - max_j S_j``; only labeled keypoints (v > 0, finite) count;
* PAF of limb ``(j1 -> j2)`` of person ``k``: the unit vector ``v = (x2 - x1)/|x2 - x1|`` at
  cells with ``0 <= v.(p - x1) <= |x2 - x1|`` and ``|v_perp.(p - x1)| <= width*s`` (``width``
  in grid cells, as OpenPose), averaged over the persons present at ``p``; zero-length limbs
  are skipped.

Every keypoint of every person is drawn at once (one scatter-max of all windows) and so is
every limb of every person (one pass over the cells of all their boxes); no loop runs per
keypoint, limb, person or cell. ``tests/reference_targets.py`` has the same maths written as
trainers write it (Python loops over windows) and evaluated densely; they agree to 1e-5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    from .skeletons import Layout

# windows of at most this many cells are drawn in one go; more are drawn in chunks (memory)
_CHUNK_CELLS = 1 << 20
# slack on window bounds computed in floating point, so that rounding never drops a boundary cell
# (the exact test of every candidate cell decides)
_EPS = 1e-7


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


def grid_size(input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """``(H, W)`` cells of the maps for an input of ``input_hw`` pixels."""
    return -(-int(input_hw[0]) // stride), -(-int(input_hw[1]) // stride)


# --------------------------------------------------------------------------- encoding

def _counting(n: int) -> np.ndarray:
    out = np.arange(n, dtype=np.float64)
    out.flags.writeable = False
    return out


_ARANGE = _counting(1 << 16)  # 0, 1, 2, ... as floats, sliced instead of made per call


def _arange(start: int, stop: int) -> np.ndarray:
    """A read-only view of ``start, ..., stop - 1`` as floats."""
    global _ARANGE
    if stop > len(_ARANGE):
        _ARANGE = _counting(max(stop, 2 * len(_ARANGE)))
    return _ARANGE[start:stop]


def _keypoint_rows(kps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(2, N*K)`` x and y rows (contiguous: numpy's fast loops) and the ``(N*K,)`` mask of the
    keypoints that are drawn: v > 0 and finite coordinates."""
    flat = kps.reshape(-1, 3)
    xy = np.ascontiguousarray(flat[:, :2].T)
    ok = flat[:, 2] > 0
    ok &= np.isfinite(xy[0] + xy[1])
    return xy, ok


def _window_cells(r: float, s: int) -> int:
    """Cells along one axis of a window from ``ceil((x - r)/s - eps)`` that holds every cell within
    ``r`` of ``x``: the window starts at most one cell early, and then only when that cell is within
    ``eps`` of the radius."""
    return int(2 * r / s + 2 * _EPS) + 1


def _draw_gaussians(heat: np.ndarray, xy: np.ndarray, channel: np.ndarray, p: TargetParams) -> None:
    """Scatter-max the Gaussians of keypoints ``xy`` (2, M) into channels ``channel`` of ``heat`` (C, H, W).

    Each keypoint's window is the square of cells within the Gaussian's radius; the 2-D patch is
    the outer product of the 1-D Gaussians along x and y (exp(-a-b) = exp(-a) exp(-b)), so only
    2 n exponentials per keypoint for an n x n window. Written for few numpy calls on contiguous
    arrays: at the usual strides the calls, not the arithmetic, are the cost."""
    _, H, W = heat.shape
    s, c0 = p.stride, p.stride / 2 - 0.5
    r = gaussian_radius(p.sigma, p.cutoff)
    n = _window_cells(r, s)
    # (2, n, M): the cells along x and along y of each window (M last: numpy's inner loops run
    # along the long axis); the window only bounds the work, the cut-off (or the 3-sigma
    # square) decides each cell
    first = xy * (1 / s)
    first -= (r + c0) / s + _EPS
    np.ceil(first, out=first)
    idx = first[:, None, :] + _arange(0, n)[:, None]  # whole numbers, as floats
    cell = np.maximum(idx, 0)
    np.minimum(cell[0], W - 1, out=cell[0])
    np.minimum(cell[1], H - 1, out=cell[1])
    off = cell != idx  # off the grid: g = 0 there, and the clipped cell takes max(x, 0) = x
    cell = cell.astype(np.intp)
    d = idx * float(s)
    d += (c0 - xy)[:, None, :]  # cell centre - keypoint
    d *= d
    if p.cutoff <= 0:  # mmpose's square window of 3 sigma, exactly
        off |= d > r * r
    np.putmask(d, off, np.inf)
    d *= -0.5 / p.sigma ** 2
    g = d.astype(np.float32)  # exponents in float32 (its exp is vectorised), to 1e-7
    np.exp(g, out=g)
    patch = g[1][:, None, :] * g[0]  # (n, n, M): rows (y) x columns (x) x keypoints
    if p.cutoff > 0:
        np.putmask(patch, patch < np.float32(p.cutoff), 0)
    row = channel * H + cell[1]
    row *= W
    flat = row[:, None, :] + cell[0]
    np.maximum.at(heat.reshape(-1), flat.reshape(-1), patch.reshape(-1))


def _draw_all_gaussians(heat: np.ndarray, xy: np.ndarray, channel: np.ndarray, p: TargetParams) -> None:
    M = xy.shape[1]
    if not M or not heat.size:
        return
    n = _window_cells(gaussian_radius(p.sigma, p.cutoff), p.stride)
    step = max(1, _CHUNK_CELLS // (n * n))
    if step >= M:
        _draw_gaussians(heat, xy, channel, p)
        return
    for i in range(0, M, step):  # windows this large come at stride 1 with a big sigma
        _draw_gaussians(heat, np.ascontiguousarray(xy[:, i:i + step]), channel[i:i + step], p)


def _draw_limbs(pafs: np.ndarray, a: np.ndarray, b: np.ndarray, limb: np.ndarray, p: TargetParams) -> None:
    """Add limb segments ``a -> b`` (2, S) of limbs ``limb`` (S,) to ``pafs`` (2L, H, W), averaged per cell.

    The candidate cells of all segments (each segment's box grown by the width) are listed in
    one flat array; the capsule test is the reference's expression term for term, so every
    cell is decided exactly as the per-pixel maths decides it."""
    _, H, W = pafs.shape
    s, c0 = p.stride, p.stride / 2 - 0.5
    w = p.paf_width * s
    d = b - a
    length = d[0] * d[0]
    length += d[1] * d[1]
    np.sqrt(length, out=length)
    if np.count_nonzero(length) < len(length):  # zero-length limbs have no direction
        keep = length > 0
        a, b, d, length, limb = a[:, keep], b[:, keep], d[:, keep], length[keep], limb[keep]
    # box of cells: first and last along x (row 0) and y (row 1), clipped to the grid
    lo = np.minimum(a, b)
    lo *= 1 / s
    lo -= (w + c0) / s + _EPS
    np.ceil(lo, out=lo)
    np.maximum(lo, 0, out=lo)
    hi = np.maximum(a, b)
    hi *= 1 / s
    hi += (w - c0) / s + _EPS
    np.floor(hi, out=hi)
    np.minimum(hi[0], W - 1, out=hi[0])
    np.minimum(hi[1], H - 1, out=hi[1])
    size = hi - lo
    size += 1
    np.maximum(size, 0, out=size)  # 0 where off the grid
    count = (size[0] * size[1]).astype(np.intp)
    ends = count.cumsum()
    if not len(ends) or not ends[-1]:
        return
    d /= length
    # per segment, repeated for each of its candidate cells: first cell number, box width,
    # box origin x, y, x1, y1, vx, vy, length, the limb's x channel in the flat maps
    seg = np.concatenate([ends - count, size[0], lo.ravel(), a.ravel(), d.ravel(), length,
                          limb * float(2 * H * W)]).reshape(10, -1)
    hits = []
    start = 0
    while start < len(ends):  # chunks of at most _CHUNK_CELLS candidate cells (one, normally)
        done = int(ends[start - 1]) if start else 0
        stop = len(ends) if ends[-1] - done <= _CHUNK_CELLS else \
            max(int(np.searchsorted(ends, done + _CHUNK_CELLS, side="right")), start + 1)
        c = np.repeat(seg[:, start:stop], count[start:stop], axis=1)  # (10, T)
        local = _arange(done, int(ends[stop - 1])) - c[0]  # number of the cell in its box, row by row
        rows = local / c[1]
        np.floor(rows, out=rows)
        cols = rows * c[1]
        np.subtract(local, cols, out=cols)
        cols += c[2]
        rows += c[3]
        dx = cols * s  # exact: (c * s + c0) - x1, term for term as the reference
        dx += c0
        dx -= c[4]
        dy = rows * s
        dy += c0
        dy -= c[5]
        along = c[6] * dx
        along += c[7] * dy
        across = c[6] * dy
        across -= c[7] * dx
        np.abs(across, out=across)
        ok = along >= 0
        ok &= along <= c[8]
        ok &= across <= w
        inside = np.flatnonzero(ok)
        rows *= W
        rows += cols
        rows += c[9]
        hits.append((rows.take(inside).astype(np.intp), c[6].take(inside).astype(np.float32),
                     c[7].take(inside).astype(np.float32)))
        start = stop
    flat, vx, vy = hits[0] if len(hits) == 1 else (np.concatenate(h) for h in zip(*hits))
    _accumulate_mean(pafs.reshape(-1), flat, H * W, vx, vy)


def _accumulate_mean(out: np.ndarray, flat: np.ndarray, offset: int, vx: np.ndarray, vy: np.ndarray) -> None:
    """``out[flat] = mean vx``, ``out[flat + offset] = mean vy`` over repeated indices (``out`` is 0 there).

    ``out[flat]`` first counts the segments at each cell (no scratch map), then holds the mean."""
    if not len(flat):
        return
    np.add.at(out, flat, np.float32(1))
    n = out[flat]
    if n.max() == 1:  # no cell has two persons' limbs: plain assignment
        out[flat] = vx
        flat += offset
        out[flat] = vy
        return
    out[flat] = 0
    np.add.at(out, flat, vx / n)
    flat += offset
    np.add.at(out, flat, vy / n)


def _draw_all_limbs(pafs: np.ndarray, xy: np.ndarray, ok: np.ndarray, K: int, limb_a: np.ndarray,
                    limb_b: np.ndarray, p: TargetParams) -> None:
    """All limbs of all persons whose two keypoints are labeled (``xy`` (2, N*K), ``ok`` (N*K,))."""
    if not len(limb_a) or not pafs.size or not len(ok):
        return
    ok = ok.reshape(-1, K)
    n_idx, l_idx = np.nonzero(ok.take(limb_a, axis=1) & ok.take(limb_b, axis=1))
    if len(n_idx):
        n_idx *= K
        _draw_limbs(pafs, xy.take(n_idx + limb_a.take(l_idx), axis=1), xy.take(n_idx + limb_b.take(l_idx), axis=1),
                    l_idx, p)


def _as_keypoints(keypoints: np.ndarray, K: int | None = None) -> np.ndarray:
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[2] != 3 or (K is not None and kps.shape[1] != K):
        raise ValueError(f"keypoints of shape {kps.shape}; expected (N, {'K' if K is None else K}, 3)")
    return kps


def keypoint_heatmaps(keypoints: np.ndarray, grid_hw: tuple[int, int], p: TargetParams,
                      out: np.ndarray | None = None) -> np.ndarray:
    """``(K, H, W)`` float32 Gaussian confidence maps (no background channel).

    ``keypoints`` is ``(N, K, 3)`` in input pixels; unlabeled (v = 0) keypoints are ignored.
    ``out``: a zeroed ``(K, H, W)`` float32 array to draw into."""
    kps = _as_keypoints(keypoints)
    K = kps.shape[1]
    heat = np.zeros((K, *grid_hw), np.float32) if out is None else out
    xy, ok = _keypoint_rows(kps)
    m = np.flatnonzero(ok)
    _draw_all_gaussians(heat, xy.take(m, axis=1), m % K, p)
    return heat


def with_background(heat: np.ndarray) -> np.ndarray:
    """Append the background channel ``1 - max_j S_j``."""
    out = np.empty((heat.shape[0] + 1, *heat.shape[1:]), np.float32)
    out[:-1] = heat
    _background(out)
    return out


def _background(heat_bg: np.ndarray) -> None:
    """Fill the last channel of ``(K+1, H, W)`` with ``1 - max`` of the others."""
    bg = heat_bg[-1]
    if len(heat_bg) > 1:
        np.max(heat_bg[:-1], axis=0, out=bg)
        np.subtract(np.float32(1), bg, out=bg)
    else:
        bg.fill(1)


def _limb_arrays(limbs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(limbs, dtype=np.intp).reshape(-1, 2)
    return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])


def part_affinity_fields(keypoints: np.ndarray, limbs: Sequence[tuple[int, int]], grid_hw: tuple[int, int],
                         p: TargetParams, out: np.ndarray | None = None) -> np.ndarray:
    """``(2L, H, W)`` float32 PAFs: channels ``2l`` (x) and ``2l + 1`` (y) for limb ``l``.

    ``out``: a zeroed ``(2L, H, W)`` float32 array to draw into."""
    kps = _as_keypoints(keypoints)
    pafs = np.zeros((2 * len(limbs), *grid_hw), np.float32) if out is None else out
    xy, ok = _keypoint_rows(kps)
    _draw_all_limbs(pafs, xy, ok, kps.shape[1], *_limb_arrays(limbs), p)
    return pafs


class Targets(NamedTuple):
    """One image's targets: views into one float32 buffer."""

    heatmaps: np.ndarray  # (K+1, H, W), last channel = background
    pafs: np.ndarray  # (2L, H, W), x and y per limb


# --------------------------------------------------------------------------- the codec

@dataclass(frozen=True)
class OpenPoseCodec:
    """Encode persons as OpenPose targets and decode targets back into persons.

    Encoding: ``(N, K, 3)`` keypoints in input pixels -> ``(K+1, H, W)`` heatmaps (last =
    background) and ``(2L, H, W)`` PAFs, with ``params``. Decoding: peak NMS on the heatmaps,
    the PAF line integral between candidate pairs, greedy matching per limb and assembly ->
    ``(P, K, 3)`` in input pixels with ``v`` = peak score.
    """

    num_keypoints: int
    limbs: tuple[tuple[int, int], ...]
    params: TargetParams = TargetParams()
    peak_threshold: float = 0.1  # decode: lowest heatmap peak kept
    paf_threshold: float = 0.05  # decode: lowest PAF . direction counted as an inlier sample
    paf_samples: int = 10  # decode: samples of the line integral
    min_inlier_ratio: float = 0.8  # decode: share of samples that must be inliers
    min_keypoints: int = 2  # decode: persons with fewer keypoints are dropped
    _limb_a: np.ndarray = field(init=False, repr=False, compare=False)
    _limb_b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limbs = tuple((int(a), int(b)) for a, b in self.limbs)
        bad = [lb for lb in limbs if not (0 <= lb[0] < self.num_keypoints and 0 <= lb[1] < self.num_keypoints)]
        if bad:
            raise ValueError(f"limbs {bad} name keypoints outside 0..{self.num_keypoints - 1}")
        object.__setattr__(self, "limbs", limbs)
        la, lb = _limb_arrays(limbs)
        object.__setattr__(self, "_limb_a", la)
        object.__setattr__(self, "_limb_b", lb)

    @classmethod
    def from_layout(cls, layout: Layout, params: TargetParams = TargetParams(), **decode_options) -> "OpenPoseCodec":
        """The codec of a :class:`annotate.skeletons.Layout` (its keypoints and limbs)."""
        return cls(layout.num_keypoints, tuple(layout.limbs), params, **decode_options)

    @property
    def num_channels(self) -> tuple[int, int]:
        """(heatmap channels with background, PAF channels)."""
        return self.num_keypoints + 1, 2 * len(self.limbs)

    def grid_size(self, input_hw: tuple[int, int]) -> tuple[int, int]:
        """``(H, W)`` of the maps for an input of ``input_hw`` pixels."""
        return grid_size(input_hw, self.params.stride)

    def encode(self, keypoints: np.ndarray, grid_hw: tuple[int, int]) -> Targets:
        """Heatmaps (with background) and PAFs of persons ``(N, K, 3)`` (input pixels) on a
        ``grid_hw`` grid; both are views into one zeroed buffer."""
        kps = _as_keypoints(keypoints, self.num_keypoints)
        k1, l2 = self.num_channels
        buf = np.zeros((k1 + l2, *grid_hw), np.float32)
        heat, pafs = buf[:k1], buf[k1:]
        xy, ok = _keypoint_rows(kps)
        m = np.flatnonzero(ok)
        _draw_all_gaussians(heat, xy.take(m, axis=1), m % self.num_keypoints, self.params)
        _background(heat)
        _draw_all_limbs(pafs, xy, ok, self.num_keypoints, self._limb_a, self._limb_b, self.params)
        return Targets(heat, pafs)

    def decode(self, heatmaps: np.ndarray, pafs: np.ndarray) -> np.ndarray:
        """Persons ``(P, K, 3)`` in input pixels (``v`` = peak score) from heatmaps (``K`` or
        ``K+1`` channels; a background channel is ignored) and PAFs ``(2L, H, W)``.

        Raises ValueError when the layout has no limbs: without PAFs nothing tells which
        keypoints belong to one person."""
        if not self.limbs:
            raise ValueError("the layout has no skeleton (no limbs), so there are no PAFs to tell which "
                             "keypoints belong together: no person can be decoded")
        if len(heatmaps) not in (self.num_keypoints, self.num_keypoints + 1) or len(pafs) != 2 * len(self.limbs):
            raise ValueError(f"{len(heatmaps)} heatmap and {len(pafs)} PAF channels; expected "
                             f"{self.num_keypoints} (+1) and {2 * len(self.limbs)}")
        return _decode(heatmaps[:self.num_keypoints], pafs, self)


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


def _decode(heat: np.ndarray, pafs: np.ndarray, codec: OpenPoseCodec) -> np.ndarray:
    K = len(heat)
    stride = codec.params.stride
    peaks = find_peaks(heat, codec.peak_threshold)
    H, W = heat.shape[1:]
    # per keypoint, refined peak positions in grid cells and their scores
    pos = [np.array([_refine(heat[j], pk) for pk in peaks[j]]).reshape(-1, 2) for j in range(K)]
    score = [peaks[j][:, 2] for j in range(K)]
    people: list[np.ndarray] = []  # each: (K,) peak index or -1
    owner: list[dict[int, int]] = [dict() for _ in range(K)]  # peak index -> person
    t = np.linspace(0, 1, codec.paf_samples)
    for li, (a, b) in enumerate(codec.limbs):
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
        field_ = np.stack([pafs[2 * li][ri, ci], pafs[2 * li + 1][ri, ci]], axis=-1)  # (A, B, S, 2)
        dots = (field_ * unit[:, :, None, :]).sum(-1)
        mean = dots.mean(-1) + np.minimum(0.5 * H / np.maximum(norm, 1e-6) - 1, 0)
        ok = ((dots > codec.paf_threshold).mean(-1) >= codec.min_inlier_ratio) & (mean > 0) & (norm > 0)
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
        if (person >= 0).sum() < codec.min_keypoints:
            continue
        kp = np.zeros((K, 3))
        for j in np.flatnonzero(person >= 0):
            kp[j, :2] = pos[j][person[j]] * stride + stride / 2 - 0.5
            kp[j, 2] = score[j][person[j]]
        out.append(kp)
    return np.stack(out) if out else np.zeros((0, K, 3))


def decode(heatmaps: np.ndarray, pafs: np.ndarray, limbs: Sequence[tuple[int, int]], stride: int,
           peak_threshold: float = 0.1, paf_threshold: float = 0.05, samples: int = 10,
           min_inlier_ratio: float = 0.8, min_keypoints: int = 2) -> np.ndarray:
    """People from keypoint heatmaps (``K`` channels, no background) and PAFs: a shortcut for
    :meth:`OpenPoseCodec.decode` with these parameters."""
    codec = OpenPoseCodec(len(heatmaps), tuple(limbs), TargetParams(stride=stride), peak_threshold,
                          paf_threshold, samples, min_inlier_ratio, min_keypoints)
    return codec.decode(heatmaps, pafs)
