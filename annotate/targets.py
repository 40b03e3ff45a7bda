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

Encoding runs compiled loops (:mod:`annotate.target_kernels`, numba) over the window of cells
around each keypoint and the box of each limb, each cell decided by the exact expression of the
plain maths. ``tests/reference_targets.py`` has the same maths written as trainers write it
(Python loops over windows) and evaluated densely; they agree to 1e-5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    from .skeletons import Layout


@dataclass(frozen=True)
class TargetParams:
    """Rendering parameters; ``sigma`` in input pixels, ``paf_width`` in grid cells."""

    stride: int = 8
    sigma: float = 7.0
    paf_width: float = 1.0
    cutoff: float = 0.01


def gaussian_radius(sigma: float, cutoff: float) -> float:
    """Distance at which the Gaussian falls to ``cutoff`` (3 sigma when ``cutoff`` is 0)."""
    return sigma * math.sqrt(2 * math.log(1 / cutoff)) if cutoff > 0 else 3 * sigma


def grid_size(input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """``(H, W)`` cells of the maps for an input of ``input_hw`` pixels."""
    return -(-int(input_hw[0]) // stride), -(-int(input_hw[1]) // stride)


# --------------------------------------------------------------------------- encoding

def _as_keypoints(keypoints: np.ndarray, K: int | None = None) -> np.ndarray:
    kps = np.ascontiguousarray(keypoints, dtype=np.float64)
    if kps.ndim != 3 or kps.shape[2] != 3 or (K is not None and kps.shape[1] != K):
        raise ValueError(f"keypoints of shape {kps.shape}; expected (N, {'K' if K is None else K}, 3)")
    return kps


_NO_BACKGROUND = np.ones((0, 0), np.float32)


def _check_out(out: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"{what}: out must be a C-contiguous float32 array of shape {shape}, not "
                         f"{out.dtype} {out.shape}")
    return out


def keypoint_heatmaps(keypoints: np.ndarray, grid_hw: tuple[int, int], p: TargetParams,
                      out: np.ndarray | None = None) -> np.ndarray:
    """``(K, H, W)`` float32 Gaussian confidence maps (no background channel).

    ``keypoints`` is ``(N, K, 3)`` in input pixels; unlabeled (v = 0) keypoints are ignored.
    ``out``: a zeroed ``(K, H, W)`` float32 array to draw into."""
    from .target_kernels import draw_gaussians

    kps = _as_keypoints(keypoints)
    shape = (kps.shape[1], *map(int, grid_hw))
    heat = np.zeros(shape, np.float32) if out is None else _check_out(out, shape, "keypoint_heatmaps")
    draw_gaussians(heat, _NO_BACKGROUND, kps, int(p.stride), float(p.sigma), float(p.cutoff),
                   gaussian_radius(p.sigma, p.cutoff))
    return heat


def with_background(heat: np.ndarray) -> np.ndarray:
    """Append the background channel ``1 - max_j S_j``."""
    out = np.empty((heat.shape[0] + 1, *heat.shape[1:]), np.float32)
    out[:-1] = heat
    bg = out[-1]
    if len(heat):
        np.max(heat, axis=0, out=bg)
        np.subtract(np.float32(1), bg, out=bg)
    else:
        bg.fill(1)
    return out


def _limb_arrays(limbs: Sequence[tuple[int, int]], num_keypoints: int) -> tuple[np.ndarray, np.ndarray]:
    """First and second keypoint of each limb, checked to name keypoints of the layout (the
    compiled loops index with them unchecked)."""
    bad = [lb for lb in limbs if not (0 <= lb[0] < num_keypoints and 0 <= lb[1] < num_keypoints)]
    if bad:
        raise ValueError(f"limbs {bad} name keypoints outside 0..{num_keypoints - 1}")
    arr = np.asarray(limbs, dtype=np.intp).reshape(-1, 2)
    return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])


def _draw_limbs(pafs: np.ndarray, kps: np.ndarray, limb_a: np.ndarray, limb_b: np.ndarray,
                p: TargetParams) -> None:
    from .target_kernels import draw_limbs

    if len(limb_a) and len(kps):
        draw_limbs(pafs, kps, limb_a, limb_b, int(p.stride), float(p.paf_width))


def part_affinity_fields(keypoints: np.ndarray, limbs: Sequence[tuple[int, int]], grid_hw: tuple[int, int],
                         p: TargetParams, out: np.ndarray | None = None) -> np.ndarray:
    """``(2L, H, W)`` float32 PAFs: channels ``2l`` (x) and ``2l + 1`` (y) for limb ``l``.

    ``out``: a zeroed ``(2L, H, W)`` float32 array to draw into."""
    kps = _as_keypoints(keypoints)
    la, lb = _limb_arrays([(int(a), int(b)) for a, b in limbs], kps.shape[1])
    shape = (2 * len(la), *map(int, grid_hw))
    pafs = np.zeros(shape, np.float32) if out is None else _check_out(out, shape, "part_affinity_fields")
    _draw_limbs(pafs, kps, la, lb, p)
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
        la, lb = _limb_arrays(limbs, self.num_keypoints)
        object.__setattr__(self, "limbs", limbs)
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
        from .target_kernels import encode

        kps = _as_keypoints(keypoints, self.num_keypoints)
        k1, l2 = self.num_channels
        buf = np.zeros((k1 + l2, *map(int, grid_hw)), np.float32)
        p = self.params
        encode(buf, self.num_keypoints, kps, self._limb_a, self._limb_b, int(p.stride), float(p.sigma),
               float(p.cutoff), gaussian_radius(p.sigma, p.cutoff), float(p.paf_width))
        heat, pafs = buf[:k1], buf[k1:]
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


def compile_kernels() -> None:
    """Compile (or load from numba's on-disk cache) every encoding kernel once, as the calls above
    make them; the set-up runs this so that a user's first render does not wait for the compiler."""
    kps = np.zeros((1, 2, 3))
    p = TargetParams()
    OpenPoseCodec(2, ((0, 1),), p).encode(kps, (2, 2))
    keypoint_heatmaps(kps, (2, 2), p)
    part_affinity_fields(kps, ((0, 1),), (2, 2), p)
