"""Object keypoint similarity (COCO's OKS) between persons, and matching persons by it.

The one OKS of the project: merge finds duplicates with it, compare matches persons with it
(compare's AP and AR are faster-coco-eval's COCOeval, which computes its own). Sigmas are the
layout's (:func:`annotate.training_config.keypoint_constants`: COCO's for COCO-17, mmpose's
published ones for CrowdPose, AIC, MPII and Halpe, stated defaults otherwise).

The steps: :func:`pairs_by_image` (every pair of persons of one image), :func:`oks_pairs` (their
OKS, the reference person's area from :func:`oks_areas`), :func:`match_pairs` (one to one).
"""
from __future__ import annotations

import numpy as np

from ..dataset import Category, KeypointDataset, keypoint_extent


def layout_sigmas(category: Category) -> tuple[np.ndarray, list[str]]:
    """Per-keypoint OKS sigmas of a category's layout, and the names that got the default."""
    from ..training_config import keypoint_constants

    sigmas, _, defaulted = keypoint_constants(category)
    return np.asarray(sigmas, dtype=np.float64), defaulted


def oks_areas(ds: KeypointDataset, *, zero_is_missing: bool = False) -> np.ndarray:
    """The area OKS scales each person by: its given area, else its box's, else the extent of its
    labeled keypoints (0 when it has none).

    By default only an absent (NaN) area or box is missing: a given area is taken as it is, 0
    included, as COCOeval takes it (compare, for AP parity). With ``zero_is_missing`` an area or
    box that is not above 0 is missing too (merge: a 0 area from a tool that leaves it unset
    would make every shift infinitely far)."""
    def missing(a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return ~(a > 0) if zero_is_missing else np.isnan(a)

    area = ds.area.astype(np.float64, copy=True)
    miss = missing(area)
    area[miss] = ds.bbox[miss, 2] * ds.bbox[miss, 3]
    miss = missing(area)
    if miss.any():
        ext = keypoint_extent(ds.keypoints[miss])
        area[miss] = ext[:, 2] * ext[:, 3]
    return np.nan_to_num(area, nan=0.0)


def pairs_by_image(a_image: np.ndarray, b_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)`` of rows with ``a_image[i] == b_image[j]`` (persons of one image), as
    index arrays ordered by image, then ``i``, then ``j`` (rows of one image in their order):
    each image's pairs are its ``(n_a, n_b)`` block, row-major."""
    a_image, b_image = np.asarray(a_image), np.asarray(b_image)
    oa = np.argsort(a_image, kind="stable")
    ob = np.argsort(b_image, kind="stable")
    bs = b_image[ob]
    lo = np.searchsorted(bs, a_image[oa], "left")
    n = np.searchsorted(bs, a_image[oa], "right") - lo
    total = int(n.sum())
    starts = np.cumsum(n) - n
    within = np.arange(total) - np.repeat(starts, n)
    return np.repeat(oa, n), ob[np.repeat(lo, n) + within]


def oks_pairs(ref: np.ndarray, ref_area: np.ndarray, other: np.ndarray, sigmas: np.ndarray, rows: np.ndarray,
              cols: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """OKS of the pairs ``(ref[rows[i]], other[cols[i]])`` (keypoints ``(N, K, 3)``), as COCOeval
    computes it over the reference person's labeled keypoints: the mean of
    ``exp(-d^2 / (2 * area * (2 sigma)^2))``, ``area`` the reference person's. A keypoint the
    other person lacks counts as far away (0); a reference person with no labeled keypoint has
    OKS 0. The pairs are taken ``chunk`` at a time (no ``(pairs, K)`` temporaries of all of them)."""
    ref = np.asarray(ref, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    inv_n = 1.0 / np.maximum((ref[..., 2] > 0).sum(-1), 1)                     # rows with none: 0 below
    inv_area = 1.0 / (np.asarray(ref_area, dtype=np.float64) + np.spacing(1))
    k = -0.5 / (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    out = np.empty(len(rows))
    for s in range(0, len(rows), chunk):
        r, c = rows[s:s + chunk], cols[s:s + chunk]
        a, b = ref[r], other[c]
        d2 = a[..., 0] - b[..., 0]
        dy = a[..., 1] - b[..., 1]
        d2 *= d2
        dy *= dy
        d2 += dy
        d2 *= k
        d2 *= inv_area[r][:, None]
        np.exp(d2, out=d2)
        d2 *= (a[..., 2] > 0) & (b[..., 2] > 0)
        out[s:s + chunk] = d2.sum(-1) * inv_n[r]
    return out


def match_persons(sim: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of a ``(rows, columns)`` similarity block that maximises the summed
    similarity (Hungarian, scipy), keeping pairs whose similarity is at least ``threshold``."""
    from scipy.optimize import linear_sum_assignment

    if sim.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols = linear_sum_assignment(sim, maximize=True)
    keep = sim[rows, cols] >= threshold
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def match_pairs(ia: np.ndarray, ib: np.ndarray, sim: np.ndarray, image: np.ndarray,
                threshold: float) -> np.ndarray:
    """Candidate pairs (rows ``ia``/``ib`` of two sides, their similarity ``sim`` and ``image``:
    any subset of :func:`pairs_by_image`'s pairs) made one to one: the indices of the kept pairs,
    ascending. Only pairs at or above ``threshold`` can be kept; among them, per image, the
    matching with the largest summed similarity. Vectorised where a person has one candidate:
    a pair whose two persons have no other candidate is kept as it is, and a person whose
    candidates have no other candidate keeps the best of them (the first on a tie); the other
    images are solved one by one (Hungarian, :func:`match_persons`)."""
    cand = np.flatnonzero(sim >= threshold)
    if not len(cand):
        return cand.astype(np.int64)
    a, b = ia[cand], ib[cand]
    _, inv_a, cnt_a = np.unique(a, return_inverse=True, return_counts=True)
    _, inv_b, cnt_b = np.unique(b, return_inverse=True, return_counts=True)
    single_a, single_b = cnt_a[inv_a] == 1, cnt_b[inv_b] == 1
    easy_a = _all_by(inv_a, single_b, len(cnt_a))[inv_a]     # every candidate of a's person is b's only one
    easy_b = _all_by(inv_b, single_a, len(cnt_b))[inv_b]
    out = [cand[easy_a & single_a]]                                     # includes the pairs single on both sides
    out.append(_best_by(inv_a, sim[cand], easy_a & ~single_a, cand))
    out.append(_best_by(inv_b, sim[cand], easy_b & ~single_b, cand))
    hard = cand[~(easy_a | easy_b)]
    if len(hard):
        hard = hard[np.argsort(image[hard], kind="stable")]
        cut = np.flatnonzero(np.diff(image[hard])) + 1
        for part in np.split(hard, cut):
            ra, r_inv = np.unique(ia[part], return_inverse=True)
            cb, c_inv = np.unique(ib[part], return_inverse=True)
            block = np.zeros((len(ra), len(cb)))
            block[r_inv, c_inv] = sim[part]
            r, c = match_persons(block, threshold)
            pos = np.full((len(ra), len(cb)), -1, np.int64)
            pos[r_inv, c_inv] = part
            pos = pos[r, c]
            out.append(pos[pos >= 0])                                   # not a pair absent from ``sim``
    return np.sort(np.concatenate(out))


def _all_by(group: np.ndarray, flag: np.ndarray, n: int) -> np.ndarray:
    """Per group (``0..n-1``): whether every member has ``flag``."""
    return np.bincount(group, weights=~flag, minlength=n) == 0


def _best_by(group: np.ndarray, sim: np.ndarray, use: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``index`` of the member of highest ``sim`` (the first on a tie) of each group among the
    members where ``use``."""
    sel = np.flatnonzero(use)
    if not len(sel):
        return np.zeros(0, np.int64)
    order = sel[np.lexsort((sel, -sim[sel], group[sel]))]
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    return index[order[first]]
