"""Consistency rules: flags vs coordinates, points inside image and box, boxes, areas, crowds, ids.

One fault gives one finding: a rule skips the keypoints and annotations that a more basic rule
already reported (a point outside the image is not also "outside its box"; a box that is itself
wrong is not used to judge points). :func:`check_consistency` returns the keypoints that are
still trustworthy for the plausibility rules.
"""
from __future__ import annotations

import numpy as np

from ..dataset import KeypointDataset
from .findings import Findings


def _names(ds: KeypointDataset, mask_row: np.ndarray) -> str:
    return ",".join(ds.category.keypoints[j] for j in np.flatnonzero(mask_row))


def image_sizes(ds: KeypointDataset) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each annotation's image (NaN where unknown)."""
    ids = np.array([im.id for im in ds.images], dtype=np.int64)
    wh = np.array([(np.nan if im.width is None else im.width, np.nan if im.height is None else im.height)
                   for im in ds.images], dtype=np.float64).reshape(-1, 2)
    order = np.argsort(ids)
    pos = np.clip(np.searchsorted(ids[order], ds.image_id), 0, max(len(ids) - 1, 0))
    if not len(ids):
        return np.full(len(ds), np.nan), np.full(len(ds), np.nan)
    found = ids[order][pos] == ds.image_id
    out = np.where(found[:, None], wh[order][pos], np.nan)
    return out[:, 0], out[:, 1]


def check_images_meta(ds: KeypointDataset, f: Findings) -> None:
    """Every image needs width and height: mmpose's CocoDataset reads both (KeyError without)."""
    missing = [im for im in ds.images if im.width is None or im.height is None]
    if missing:
        f.add_rows("consistency.image_size_missing", "error", [im.id for im in missing], None,
                   (f"image {im.file_name} has no {'width' if im.width is None else 'height'}"
                    f"{' or height' if im.width is None and im.height is None else ''} "
                    f"(mmpose's CocoDataset needs both; points cannot be checked against it)" for im in missing))


def check_consistency(ds: KeypointDataset, f: Findings, tolerance: float = 1.0,
                      box_margin: float = 0.1) -> np.ndarray:
    """Vectorised over all annotations at once. Returns ``(N, K)``: the labeled keypoints no
    rule here reported (the plausibility rules judge only these)."""
    check_images_meta(ds, f)
    if not len(ds):
        return np.zeros((0, ds.category.num_keypoints), bool)
    finite = np.isfinite(ds.keypoints).all(axis=2)
    lab = (ds.keypoints[:, :, 2] > 0) & finite
    _check_fields(ds, f, finite)
    W, H = image_sizes(ds)
    outside = _check_keypoints_in_image(ds, f, lab, W, H, tolerance)
    nonpos, out_box = _check_boxes(ds, f, lab, outside, W, H, tolerance, box_margin)
    _check_areas(ds, f, lab, nonpos)
    return lab & ~outside & ~out_box & ~ds.iscrowd[:, None]


def _check_fields(ds: KeypointDataset, f: Findings, finite: np.ndarray) -> None:
    """Ids, iscrowd, num_keypoints, v=0 points at 0,0, crowd regions without keypoints."""
    kps, ids, imgs = ds.keypoints, ds.ann_id, ds.image_id
    v = kps[:, :, 2]
    zero = ids == 0
    f.add_rows("consistency.annotation_id_zero", "error", imgs[zero], ids[zero],
               ["annotation id 0: COCOeval takes a match to id 0 for no match (use ids from 1)"] * int(zero.sum()))
    no_crowd_key = ~ds.iscrowd_given
    f.add_rows("consistency.iscrowd_missing", "error", imgs[no_crowd_key], ids[no_crowd_key],
               ["iscrowd is missing (COCOeval reads it: KeyError)"] * int(no_crowd_key.sum()))
    stored = np.array([e.get("num_keypoints", -1) if isinstance(e.get("num_keypoints"), int) else -1
                       for e in ds.extra], dtype=np.int64)
    count = (v > 0).sum(axis=1)
    bad = (stored >= 0) & (stored != count)
    f.add_rows("consistency.num_keypoints", "error", imgs[bad], ids[bad],
               (f"num_keypoints is {s} but {c} keypoints have v>0" for s, c in zip(stored[bad], count[bad])),
               stored[bad].tolist())
    missing = np.array(["num_keypoints" not in e for e in ds.extra], dtype=bool) & ~ds.iscrowd
    f.add_rows("consistency.num_keypoints_missing", "warning", imgs[missing], ids[missing],
               ["num_keypoints is missing (pycocotools and mmpose rely on it)"] * int(missing.sum()))
    nonzero_unlabeled = (v == 0) & finite & ((kps[:, :, 0] != 0) | (kps[:, :, 1] != 0))
    rows = nonzero_unlabeled.any(axis=1)
    f.add_rows("consistency.unlabeled_nonzero", "warning", imgs[rows], ids[rows],
               ["keypoints with v=0 have non-zero x,y (COCO writes 0,0)"] * int(rows.sum()),
               nonzero_unlabeled[rows].sum(axis=1).tolist(), (_names(ds, m) for m in nonzero_unlabeled[rows]))
    crowd_kp = ds.iscrowd & ((v > 0) & finite).any(axis=1)
    f.add_rows("consistency.crowd_with_keypoints", "error", imgs[crowd_kp], ids[crowd_kp],
               (f"iscrowd=1 annotation has {c} labeled keypoints (crowd regions are ignored in training)"
                for c in count[crowd_kp]), count[crowd_kp].tolist())


def _check_keypoints_in_image(ds: KeypointDataset, f: Findings, lab: np.ndarray, W: np.ndarray, H: np.ndarray,
                              tolerance: float) -> np.ndarray:
    """Labeled keypoints outside their image (by more than ``tolerance``); returns them."""
    x, y = ds.keypoints[:, :, 0], ds.keypoints[:, :, 1]
    with np.errstate(invalid="ignore"):
        outside = lab & ((x < -tolerance) | (y < -tolerance) | (x > W[:, None] + tolerance) |
                         (y > H[:, None] + tolerance))
    rows = outside.any(axis=1)
    f.add_rows("consistency.keypoint_outside_image", "error", ds.image_id[rows], ds.ann_id[rows],
               (f"{m.sum()} labeled keypoint(s) outside the {w:g}x{h:g} image"
                for m, w, h in zip(outside[rows], W[rows], H[rows])),
               outside[rows].sum(axis=1).tolist(), (_names(ds, m) for m in outside[rows]))
    return outside


def _check_boxes(ds: KeypointDataset, f: Findings, lab: np.ndarray, outside: np.ndarray, W: np.ndarray,
                 H: np.ndarray, tolerance: float, box_margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Box sizes, boxes outside the image, keypoints outside their box, missing boxes; returns the
    boxes of non-positive size and the keypoints outside their box."""
    imgs, ids = ds.image_id, ds.ann_id
    x, y = ds.keypoints[:, :, 0], ds.keypoints[:, :, 1]
    has_box = ~np.isnan(ds.bbox).any(axis=1)
    bx, by, bw, bh = ds.bbox.T
    with np.errstate(invalid="ignore"):
        nonpos = has_box & ((bw <= 0) | (bh <= 0)) & ~ds.iscrowd
        f.add_rows("consistency.box_size", "error", imgs[nonpos], ids[nonpos],
                   (f"box has non-positive size {w:g}x{h:g}" for w, h in zip(bw[nonpos], bh[nonpos])))
        out_img = has_box & ~nonpos & ((bx < -tolerance) | (by < -tolerance) | (bx + bw > W + tolerance) |
                                       (by + bh > H + tolerance))
        f.add_rows("consistency.box_outside_image", "error", imgs[out_img], ids[out_img],
                   (f"box [{a:.1f}, {b:.1f}, {c:.1f}, {d:.1f}] extends outside the {w:g}x{h:g} image"
                    for a, b, c, d, w, h in zip(bx[out_img], by[out_img], bw[out_img], bh[out_img], W[out_img], H[out_img])))
        # points are judged against boxes no rule above found wrong, and only points inside the image
        box_ok = has_box & ~nonpos & ~out_img & ~ds.iscrowd
        mx = box_margin * bw[:, None] + tolerance
        my = box_margin * bh[:, None] + tolerance
        out_box = lab & ~outside & box_ok[:, None] & (
            (x < bx[:, None] - mx) | (x > (bx + bw)[:, None] + mx) | (y < by[:, None] - my) | (y > (by + bh)[:, None] + my))
    rows = out_box.any(axis=1)
    f.add_rows("consistency.keypoint_outside_box", "warning", imgs[rows], ids[rows],
               (f"{m.sum()} labeled keypoint(s) outside the person's box (+{box_margin:.0%})" for m in out_box[rows]),
               out_box[rows].sum(axis=1).tolist(), (_names(ds, m) for m in out_box[rows]))
    nobox = ~has_box & lab.any(axis=1)
    f.add_rows("consistency.box_missing", "warning", imgs[nobox], ids[nobox],
               ["annotation has keypoints but no bbox"] * int(nobox.sum()))
    return nonpos, out_box


def _check_areas(ds: KeypointDataset, f: Findings, lab: np.ndarray, nonpos: np.ndarray) -> None:
    """COCOeval reads every ground-truth area (crowd regions too): KeyError without it."""
    imgs, ids = ds.image_id, ds.ann_id
    no_area = np.isnan(ds.area)
    f.add_rows("consistency.area_missing", "error", imgs[no_area], ids[no_area],
               ["area is missing (COCOeval reads it: KeyError; OKS needs it)"] * int(no_area.sum()))
    with np.errstate(invalid="ignore"):
        bad_area = (ds.area <= 0) & lab.any(axis=1) & ~ds.iscrowd & ~nonpos
    f.add_rows("consistency.area_nonpositive", "error", imgs[bad_area], ids[bad_area],
               (f"area is {a:g} for a person with keypoints" for a in ds.area[bad_area]), ds.area[bad_area].tolist())
