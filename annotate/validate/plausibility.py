"""Plausibility rules: statistics over the whole dataset, robust to outliers (median/MAD).

A person's scale is ``sqrt(box area)``; bone lengths are compared as ``log(length / scale)``.
Limbs and left/right pairs come from the category's skeleton and keypoint names.
"""
from __future__ import annotations

import numpy as np

from ..dataset import KeypointDataset
from ..skeletons import Layout
from .findings import Findings

MAD_TO_SIGMA = 1.4826


def person_scale(ds: KeypointDataset) -> np.ndarray:
    """sqrt(w*h) of each box, falling back to the labeled keypoints' extent; NaN if neither."""
    w, h = ds.bbox[:, 2], ds.bbox[:, 3]
    with np.errstate(invalid="ignore"):
        s = np.sqrt(np.where((w > 0) & (h > 0), w * h, np.nan))
    return s


def _robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 * MAD) over the finite entries; NaN elsewhere."""
    ok = np.isfinite(x)
    z = np.full_like(x, np.nan)
    if ok.sum() < 2:
        return z
    med = np.median(x[ok])
    mad = np.median(np.abs(x[ok] - med)) * MAD_TO_SIGMA
    if mad <= 0:
        return z
    z[ok] = (x[ok] - med) / mad
    return z


def check_plausibility(ds: KeypointDataset, f: Findings, z_threshold: float = 6.0, min_samples: int = 20,
                       asym_ratio: float = 3.0, same_spot_px: float = 0.5, dup_threshold: float = 0.02,
                       usable: np.ndarray | None = None) -> None:
    """``usable`` ``(N, K)``: the keypoints to judge (labeled, not reported by a more basic rule;
    default every labeled keypoint of a non-crowd annotation). A limb already reported for its
    length is not reported again as a left/right asymmetry."""
    if not len(ds):
        return
    layout: Layout = ds.category.layout
    kps = ds.keypoints
    lab = (kps[:, :, 2] > 0) & np.isfinite(kps).all(axis=2) & ~ds.iscrowd[:, None]
    if usable is not None:
        lab &= usable
    scale = person_scale(ds)
    ids, imgs = ds.ann_id, ds.image_id
    names = ds.category.keypoints
    limbs = [tuple(l) for l in ds.category.skeleton if l[0] != l[1]]

    # --- bone lengths against the dataset's distribution
    if limbs:
        a, b = np.array(limbs).T
        both = lab[:, a] & lab[:, b]  # (N, L)
        length = np.linalg.norm(kps[:, a, :2] - kps[:, b, :2], axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(both & (length > 0) & (scale[:, None] > 0), np.log(length / scale[:, None]), np.nan)
        long_or_short = np.zeros_like(both)  # (N, L): limbs reported for their length
        for li, (ja, jb) in enumerate(limbs):
            col = rel[:, li]
            if np.isfinite(col).sum() < min_samples:
                continue
            z = _robust_z(col)
            hit = np.abs(z) > z_threshold
            long_or_short[:, li] = hit
            if hit.any():
                ratio = np.exp(col[hit] - np.nanmedian(col))
                f.add_rows("plausibility.bone_length", "warning", imgs[hit], ids[hit],
                           (f"bone {names[ja]}-{names[jb]} is {r:.2f}x the dataset's typical length for the person's size"
                            for r in ratio), np.round(ratio, 3).tolist(), [f"{names[ja]},{names[jb]}"] * int(hit.sum()))

        # --- left/right limb pairs of very different lengths
        flip = layout.flip_indices
        index = {l: i for i, l in enumerate(limbs)}
        for li, (ja, jb) in enumerate(limbs):
            mirror = index.get((flip[ja], flip[jb]), index.get((flip[jb], flip[ja])))
            if mirror is None or mirror <= li:
                continue
            la, lb = length[:, li], length[:, mirror]
            ok = both[:, li] & both[:, mirror] & (np.minimum(la, lb) > 0.05 * np.nan_to_num(scale, nan=np.inf))
            ok &= ~long_or_short[:, li] & ~long_or_short[:, mirror]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.maximum(la, lb) / np.minimum(la, lb)
            hit = ok & (ratio > asym_ratio)
            mj = limbs[mirror]
            f.add_rows("plausibility.left_right_length", "warning", imgs[hit], ids[hit],
                       (f"{names[ja]}-{names[jb]} and {names[mj[0]]}-{names[mj[1]]} differ {r:.1f}x in length"
                        for r in ratio[hit]), np.round(ratio[hit], 2).tolist(),
                       [f"{names[ja]},{names[jb]},{names[mj[0]]},{names[mj[1]]}"] * int(hit.sum()))

    _same_spot(ds, lab, f, same_spot_px, scale)
    _left_right_swaps(ds, lab, scale, layout, f)
    _duplicates(ds, lab, scale, f, dup_threshold)


def _same_spot(ds: KeypointDataset, lab: np.ndarray, f: Findings, px: float, scale: np.ndarray,
               chunk: int = 20000) -> None:
    """Two different labeled keypoints of one person at (almost) the same pixel."""
    K = lab.shape[1]
    iu = np.triu_indices(K, 1)
    names = ds.category.keypoints
    for s in range(0, len(ds), chunk):
        xy = ds.keypoints[s:s + chunk, :, :2].astype(np.float32)
        lb = lab[s:s + chunk]
        diff = xy[:, iu[0]] - xy[:, iu[1]]  # each pair once (the norm of the whole K x K grid did it twice)
        d = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])
        hit = (d <= px) & lb[:, iu[0]] & lb[:, iu[1]] & (scale[s:s + chunk, None] >= 32)
        for r, p in zip(*np.nonzero(hit)):
            i = s + r
            f.add("plausibility.same_spot", "warning", int(ds.image_id[i]), int(ds.ann_id[i]),
                  f"{names[iu[0][p]]} and {names[iu[1][p]]} are at the same spot", float(d[r, p]),
                  f"{names[iu[0][p]]},{names[iu[1][p]]}")


def _left_right_swaps(ds: KeypointDataset, lab: np.ndarray, scale: np.ndarray, layout: Layout, f: Findings) -> None:
    """A left/right pair pointing against the rest of the body, or shoulders against hips."""
    pairs = list(layout.flip_pairs)
    if len(pairs) < 2:
        return
    names = ds.category.keypoints
    kps = ds.keypoints
    L, R = np.array(pairs).T
    side = kps[:, L, :2] - kps[:, R, :2]  # (N, P, 2): from right to left keypoint
    norm = np.linalg.norm(side, axis=2)
    with np.errstate(invalid="ignore"):
        valid = lab[:, L] & lab[:, R] & (norm > 0.1 * np.nan_to_num(scale, nan=np.inf)[:, None])
    unit = np.where(valid[..., None], side / np.where(norm > 0, norm, 1)[..., None], 0.0)
    total = unit.sum(axis=1, keepdims=True)
    others = total - unit  # every other pair's direction
    n_others = valid.sum(axis=1, keepdims=True) - valid
    on = np.linalg.norm(others, axis=2)
    agree = on > 0.7 * n_others  # the other pairs point (roughly) the same way
    cosine = (unit * others).sum(axis=2) / np.where(on > 0, on, 1)
    hit = valid & (n_others >= 2) & agree & (cosine < -0.5)
    for r, p in zip(*np.nonzero(hit)):
        f.add("plausibility.left_right_swap", "warning", int(ds.image_id[r]), int(ds.ann_id[r]),
              f"{names[L[p]]}/{names[R[p]]} are crossed against the rest of the body (likely swapped)",
              round(float(cosine[r, p]), 3), f"{names[L[p]]},{names[R[p]]}")

    sh = [p for p, (l, _) in enumerate(pairs) if "shoulder" in names[l].lower()]
    hp = [p for p, (l, _) in enumerate(pairs) if "hip" in names[l].lower()]
    if sh and hp:
        s, h = sh[0], hp[0]
        cos_sh = (unit[:, s] * unit[:, h]).sum(axis=1)
        torso = valid[:, s] & valid[:, h] & (cos_sh < -0.5) & ~hit[:, s] & ~hit[:, h]
        f.add_rows("plausibility.shoulders_vs_hips", "warning", ds.image_id[torso], ds.ann_id[torso],
                   ["shoulders and hips disagree on which side is left (likely a left/right swap)"] * int(torso.sum()),
                   np.round(cos_sh[torso], 3).tolist(),
                   [f"{names[pairs[s][0]]},{names[pairs[s][1]]},{names[pairs[h][0]]},{names[pairs[h][1]]}"] * int(torso.sum()))


def _duplicates(ds: KeypointDataset, lab: np.ndarray, scale: np.ndarray, f: Findings, threshold: float) -> None:
    """Persons on one image whose labeled keypoints nearly coincide (mean distance / scale)."""
    order = np.argsort(ds.image_id, kind="stable")
    img = ds.image_id[order]
    n = len(order)
    kps = ds.keypoints[order, :, :2]
    lb = lab[order]
    sc = scale[order]
    d = 1
    while d < n:
        same = img[:n - d] == img[d:]
        if not same.any():
            break
        i = np.flatnonzero(same)
        j = i + d
        common = lb[i] & lb[j]
        nc = common.sum(axis=1)
        dist = np.linalg.norm(kps[i] - kps[j], axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(common, dist, 0).sum(axis=1) / np.maximum(nc, 1)
            rel = mean / np.fmin(sc[i], sc[j])
        hit = (nc >= 3) & (nc >= 0.8 * np.maximum(lb[i].sum(1), lb[j].sum(1))) & (rel < threshold)
        for a, b, r in zip(order[i[hit]], order[j[hit]], rel[hit]):
            f.add("plausibility.duplicate_person", "warning", int(ds.image_id[b]), int(ds.ann_id[b]),
                  f"near-identical to annotation {int(ds.ann_id[a])} on the same image", round(float(r), 4))
        d += 1
