"""The validation report: terminal summary, CSV/JSON tables, pictures and an HTML index."""
from __future__ import annotations

import html
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .. import draw
from ..dataset import KeypointDataset
from ..errors import PosekitError
from ..images import image_path, read_image
from ..io import write_bytes_atomic

MAX_PICTURES = 500


def summary(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per rule: severity, count and the first message."""
    if findings.empty:
        return pd.DataFrame(columns=["rule", "severity", "count", "example"])
    g = findings.groupby(["rule", "severity"], sort=False)
    out = g.size().rename("count").reset_index()
    out["example"] = g["message"].first().values
    return out.sort_values(["severity", "count"], ascending=[True, False]).reset_index(drop=True)


def write_tables(findings: pd.DataFrame, out_dir: Path) -> None:
    write_bytes_atomic(out_dir / "findings.csv", findings.to_csv(index=False).encode())
    records = json.loads(findings.to_json(orient="records"))
    write_bytes_atomic(out_dir / "findings.json", json.dumps(records, indent=1).encode())


def _crop_to_person(img: np.ndarray, kps: np.ndarray, box: np.ndarray, limbs, hot, hot_limbs,
                    min_side: int = 360) -> np.ndarray:
    """The person drawn on a crop around its box and labeled keypoints (half the size again as
    context), enlarged so that small people can be inspected."""
    H, W = img.shape[:2]
    pts = kps[(kps[:, 2] > 0) & np.isfinite(kps).all(axis=1), :2]
    corners = [pts] + ([box.reshape(2, 2).cumsum(axis=0)] if np.isfinite(box).all() else [])
    xy = np.concatenate(corners) if sum(len(c) for c in corners) else np.array([[0, 0], [W, H]], float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.25 * (hi - lo) + 10
    x0, y0 = np.clip(np.floor(lo - pad), 0, [W - 1, H - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(hi + pad), [x0 + 1, y0 + 1], [W, H]).astype(int)
    scale = max(1.0, min_side / max(x1 - x0, y1 - y0))
    crop = cv2.resize(img[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    k = kps.copy()
    k[:, :2] = (k[:, :2] - (x0, y0)) * scale
    pic = draw.draw_skeleton(crop, k[None], limbs, hot, hot_limbs)
    if np.isfinite(box).all():
        bx, by, bw, bh = (box - (x0, y0, 0, 0)) * scale
        cv2.rectangle(pic, (int(bx), int(by)), (int(bx + bw), int(by + bh)), (0, 200, 255), 1)
    return pic


def write_pictures(findings: pd.DataFrame, ds: KeypointDataset, images_dir: Path, out_dir: Path) -> int:
    """A picture per flagged annotation (offending keypoints/limbs in red) and ``index.html``."""
    names = ds.category.keypoints
    limbs = ds.category.skeleton
    row_of = {int(a): r for r, a in enumerate(ds.ann_id)}
    images = ds.image_by_id()
    flagged = findings[findings["ann_id"].notna()]
    items = []
    cache: dict[int, np.ndarray] = {}
    for ann_id, group in list(flagged.groupby("ann_id", sort=False))[:MAX_PICTURES]:
        r = row_of.get(int(ann_id))
        if r is None:
            continue
        im = images[int(ds.image_id[r])]
        try:
            if im.id not in cache:
                cache = {im.id: read_image(image_path(images_dir, im.file_name, images_dir))}
            img = cache[im.id]
        except PosekitError:
            continue
        hot = {names.index(k) for ks in group["keypoints"] for k in str(ks).split(",") if k in names}
        hot_limbs = {i for i, (a, b) in enumerate(limbs) if a in hot and b in hot}
        pic = _crop_to_person(img, ds.keypoints[r], ds.bbox[r], limbs, hot, hot_limbs)
        name = f"ann_{int(ann_id)}.jpg"
        write_bytes_atomic(out_dir / "pictures" / name, draw.encode_jpg(pic))
        items.append((name, im.file_name, int(ann_id), group))
    rows = []
    for name, file_name, ann_id, group in items:
        msgs = "".join(f"<li><b>{html.escape(str(g.rule))}</b> ({g.severity}): {html.escape(str(g.message))}</li>"
                       for g in group.itertuples())
        rows.append(f"<div class=item><img src='pictures/{name}' loading=lazy><div><h3>annotation {ann_id} "
                    f"&middot; {html.escape(file_name)}</h3><ul>{msgs}</ul></div></div>")
    page = ("<!doctype html><meta charset=utf-8><title>posekit validation</title><style>"
            "body{font-family:sans-serif;margin:1em}.item{display:flex;gap:1em;border-bottom:1px solid #ccc;"
            "padding:.5em}.item img{max-width:480px;max-height:480px}</style>"
            f"<h1>Flagged annotations ({len(items)})</h1>" + "".join(rows))
    write_bytes_atomic(out_dir / "index.html", page.encode())
    return len(items)
