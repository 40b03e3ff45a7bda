"""Consistency rules: flags vs coordinates, points inside image and box, boxes, areas, crowds."""
from __future__ import annotations

import numpy as np

from ..dataset import KeypointDataset
from .findings import Findings


def _names(ds: KeypointDataset, mask_row: np.ndarray) -> str:
    return ",".join(ds.category.keypoints[j] for j in np.flatnonzero(mask_row))


def image_sizes(ds: KeypointDataset) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each annotation's image (NaN where unknown)."""
    size = {im.id: (im.width or np.nan, im.height or np.nan) for im in ds.images}
    wh = np.array([size.get(int(i), (np.nan, np.nan)) for i in ds.image_id], dtype=np.float64).reshape(-1, 2)
    return wh[:, 0], wh[:, 1]


def check_consistency(ds: KeypointDataset, f: Findings, tolerance: float = 1.0, box_margin: float = 0.1) -> None:
    """Vectorised over all annotations at once."""
    if not len(ds):
        return
    kps = ds.keypoints
    finite = np.isfinite(kps).all(axis=2)
    v = kps[:, :, 2]
    lab = (v > 0) & finite
    ids, imgs = ds.ann_id, ds.image_id

    stored = np.array([e.get("num_keypoints", -1) if isinstance(e.get("num_keypoints"), int) else -1
                       for e in ds.extra])
    count = lab.sum(axis=1)
    bad = (stored >= 0) & (stored != count)
    f.add_rows("consistency.num_keypoints", "error", imgs[bad], ids[bad],
               (f"num_keypoints is {s} but {c} keypoints have v>0" for s, c in zip(stored[bad], count[bad])),
               stored[bad].tolist())
    missing = np.array(["num_keypoints" not in e for e in ds.extra]) & ~ds.iscrowd
    f.add_rows("consistency.num_keypoints_missing", "warning", imgs[missing], ids[missing],
               ["num_keypoints is missing (pycocotools and mmpose rely on it)"] * int(missing.sum()))

    nonzero_unlabeled = (v == 0) & finite & ((kps[:, :, 0] != 0) | (kps[:, :, 1] != 0))
    rows = nonzero_unlabeled.any(axis=1)
    f.add_rows("consistency.unlabeled_nonzero", "warning", imgs[rows], ids[rows],
               ["keypoints with v=0 have non-zero x,y (COCO writes 0,0)"] * int(rows.sum()),
               nonzero_unlabeled[rows].sum(axis=1).tolist(), (_names(ds, m) for m in nonzero_unlabeled[rows]))

    W, H = image_sizes(ds)
    x, y = kps[:, :, 0], kps[:, :, 1]
    with np.errstate(invalid="ignore"):
        outside = lab & ((x < -tolerance) | (y < -tolerance) | (x > W[:, None] + tolerance) |
                         (y > H[:, None] + tolerance))
    rows = outside.any(axis=1)
    f.add_rows("consistency.keypoint_outside_image", "error", imgs[rows], ids[rows],
               (f"{m.sum()} labeled keypoint(s) outside the {w:g}x{h:g} image"
                for m, w, h in zip(outside[rows], W[rows], H[rows])),
               outside[rows].sum(axis=1).tolist(), (_names(ds, m) for m in outside[rows]))

    no_size = np.isnan(W) | np.isnan(H)
    if no_size.any():
        bad_imgs = sorted({int(i) for i in imgs[no_size]})
        for i in bad_imgs[:1000]:
            f.add("consistency.image_size_missing", "warning", i, None,
                  "image has no width/height; bounds cannot be checked")

    box = ds.bbox
    has_box = ~np.isnan(box).any(axis=1)
    bx, by, bw, bh = box.T
    with np.errstate(invalid="ignore"):
        nonpos = has_box & ((bw <= 0) | (bh <= 0)) & ~ds.iscrowd
        f.add_rows("consistency.box_size", "error", imgs[nonpos], ids[nonpos],
                   (f"box has non-positive size {w:g}x{h:g}" for w, h in zip(bw[nonpos], bh[nonpos])))
        out_img = has_box & ((bx < -tolerance) | (by < -tolerance) | (bx + bw > W + tolerance) |
                             (by + bh > H + tolerance))
        f.add_rows("consistency.box_outside_image", "error", imgs[out_img], ids[out_img],
                   (f"box [{a:.1f}, {b:.1f}, {c:.1f}, {d:.1f}] extends outside the {w:g}x{h:g} image"
                    for a, b, c, d, w, h in zip(bx[out_img], by[out_img], bw[out_img], bh[out_img], W[out_img], H[out_img])))
        mx = box_margin * bw[:, None] + tolerance
        my = box_margin * bh[:, None] + tolerance
        out_box = lab & has_box[:, None] & ((x < bx[:, None] - mx) | (x > (bx + bw)[:, None] + mx) |
                                            (y < by[:, None] - my) | (y > (by + bh)[:, None] + my))
    rows = out_box.any(axis=1)
    f.add_rows("consistency.keypoint_outside_box", "warning", imgs[rows], ids[rows],
               (f"{m.sum()} labeled keypoint(s) outside the person's box (+{box_margin:.0%})" for m in out_box[rows]),
               out_box[rows].sum(axis=1).tolist(), (_names(ds, m) for m in out_box[rows]))
    nobox = ~has_box & lab.any(axis=1)
    f.add_rows("consistency.box_missing", "warning", imgs[nobox], ids[nobox],
               ["annotation has keypoints but no bbox"] * int(nobox.sum()))

    no_area = np.isnan(ds.area) & ~ds.iscrowd
    f.add_rows("consistency.area_missing", "error", imgs[no_area], ids[no_area],
               ["area is missing; OKS evaluation needs it"] * int(no_area.sum()))
    with np.errstate(invalid="ignore"):
        bad_area = (ds.area <= 0) & lab.any(axis=1) & ~ds.iscrowd
    f.add_rows("consistency.area_nonpositive", "error", imgs[bad_area], ids[bad_area],
               (f"area is {a:g} for a person with keypoints" for a in ds.area[bad_area]), ds.area[bad_area].tolist())

    crowd_kp = ds.iscrowd & lab.any(axis=1)
    f.add_rows("consistency.crowd_with_keypoints", "error", imgs[crowd_kp], ids[crowd_kp],
               (f"iscrowd=1 annotation has {c} labeled keypoints (crowd regions are ignored in training)"
                for c in count[crowd_kp]), count[crowd_kp].tolist())
