"""Pictures of flagged annotations: the person on a crop of its image, enlarged, with keypoint
names, the offending keypoints and limbs in red (a colour no normal limb has) and a legend."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..dataset import KeypointDataset
from ..errors import PosekitError
from ..images import image_path, read_image
from ..io import write_bytes_atomic

MAX_PICTURES = 500
FLAG = (0, 0, 255)  # BGR red: limb colours stay within yellow..blue, so red is only ever a finding
BOX = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Pictures:
    """What was drawn: ``paths`` maps annotation id -> picture path relative to the report
    folder; ``flagged`` counts the annotations that have findings (pictures are capped);
    ``failed`` maps image id -> why its image could not be read (missing, unreadable)."""

    paths: dict[int, str] = field(default_factory=dict)
    flagged: int = 0
    cap: int = MAX_PICTURES
    failed: dict[int, str] = field(default_factory=dict)


def limb_colours(n: int) -> np.ndarray:
    """``n`` BGR colours with hues from yellow to blue (60..250 degrees): never red or magenta."""
    hues = np.linspace(60, 250, max(n, 1)) / 360
    rgb = [colorsys.hsv_to_rgb(h, 0.85, 1.0) for h in hues]
    return (np.array(rgb)[:, ::-1] * 255).astype(np.uint8).reshape(-1, 3)[:n]


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float = 0.4) -> None:
    cv2.putText(img, text, org, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, FONT, scale, colour, 1, cv2.LINE_AA)


def draw_person(img: np.ndarray, kps: np.ndarray, box: np.ndarray, names: list[str], limbs,
                hot: set[int]) -> np.ndarray:
    """One person on ``img`` (already cropped and scaled): limbs in their colours, flagged
    keypoints (``hot``) and the limbs between two of them in red, names beside the points."""
    out = img.copy()
    K = len(kps)
    lab = (kps[:, 2] > 0) & np.isfinite(kps).all(axis=1)
    cols = limb_colours(len(limbs))
    if np.isfinite(box).all():
        x, y, w, h = box
        cv2.rectangle(out, _pt(x, y), _pt(x + w, y + h), BOX, 1, cv2.LINE_AA)
    for li, (a, b) in enumerate(limbs):
        if a < K and b < K and lab[a] and lab[b]:
            flagged = a in hot and b in hot
            colour = FLAG if flagged else tuple(int(c) for c in cols[li])
            cv2.line(out, _pt(*kps[a, :2]), _pt(*kps[b, :2]), colour, 4 if flagged else 2, cv2.LINE_AA)
    for j in np.flatnonzero(lab):
        p = _pt(*kps[j, :2])
        flagged = j in hot
        fill = FLAG if flagged else ((255, 255, 255) if kps[j, 2] >= 2 else (140, 140, 140))
        r = 7 if flagged else 4
        cv2.circle(out, p, r, fill, -1, cv2.LINE_AA)
        cv2.circle(out, p, r, (0, 0, 0), 1, cv2.LINE_AA)
        size = 0.45 if flagged else 0.38
        tw = cv2.getTextSize(names[j], FONT, size, 1)[0][0]
        x = p[0] + r + 2 if p[0] + r + 2 + tw < out.shape[1] else p[0] - r - 2 - tw  # keep names inside
        _text(out, names[j], (x, p[1] + 4), FLAG if flagged else (255, 255, 255), size)
    return out


def legend(width: int) -> np.ndarray:
    """A strip explaining the marks (drawn below every picture), wrapped to ``width``."""
    items = [("visible", "pt", (255, 255, 255)), ("occluded", "pt", (140, 140, 140)),
             ("limb", "line", tuple(int(c) for c in limb_colours(3)[1])), ("flagged", "line", FLAG),
             ("box", "rect", BOX)]
    widths = [18 + int(cv2.getTextSize(label, FONT, 0.42, 1)[0][0]) + 12 for label, _, _ in items]
    rows: list[list[int]] = [[]]
    x = 6
    for i, w in enumerate(widths):
        if rows[-1] and x + w > width:
            rows.append([])
            x = 6
        rows[-1].append(i)
        x += w
    strip = np.full((24 * len(rows) + 4, max(width, 1), 3), 40, np.uint8)
    for r, row in enumerate(rows):
        x, y = 6, 14 + 24 * r
        for i in row:
            label, kind, colour = items[i]
            if kind == "pt":
                cv2.circle(strip, (x + 5, y), 5, colour, -1, cv2.LINE_AA)
                cv2.circle(strip, (x + 5, y), 5, (0, 0, 0), 1, cv2.LINE_AA)
            elif kind == "line":
                cv2.line(strip, (x, y), (x + 14, y), colour, 3, cv2.LINE_AA)
            else:
                cv2.rectangle(strip, (x, y - 6), (x + 12, y + 6), colour, 1)
            _text(strip, label, (x + 18, y + 5), (230, 230, 230), 0.42)
            x += widths[i]
    return strip


def person_picture(img: np.ndarray, kps: np.ndarray, box: np.ndarray, names: list[str], limbs,
                   hot: set[int], min_side: int = 420) -> np.ndarray:
    """A crop around the person's box and labeled keypoints (with a quarter of their size as
    context), enlarged to ``min_side`` so small people can be inspected, plus the legend."""
    H, W = img.shape[:2]
    lab = (kps[:, 2] > 0) & np.isfinite(kps).all(axis=1)
    inside = lab & (kps[:, 0] >= 0) & (kps[:, 1] >= 0) & (kps[:, 0] <= W) & (kps[:, 1] <= H)
    corners = [kps[inside, :2]]
    if np.isfinite(box).all():
        corners.append(np.array([[box[0], box[1]], [box[0] + box[2], box[1] + box[3]]]))
    xy = np.concatenate(corners)
    if not len(xy):
        xy = np.array([[0.0, 0.0], [W, H]])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.25 * (hi - lo) + 10
    lo, hi = lo - pad, hi + pad
    # at least 3:4 either way, so that a standing person gets room for names and the legend
    size = hi - lo
    want = np.maximum(size, 0.75 * size[::-1])
    lo, hi = lo - (want - size) / 2, hi + (want - size) / 2
    x0, y0 = np.clip(np.floor(lo), 0, [W - 1, H - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(hi), [x0 + 1, y0 + 1], [W, H]).astype(int)
    scale = max(1.0, min_side / max(x1 - x0, y1 - y0))
    crop = cv2.resize(img[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    k = kps.astype(np.float64).copy()
    k[:, :2] = (k[:, :2] - (x0, y0)) * scale
    b = (box - (x0, y0, 0, 0)) * scale
    pic = draw_person(crop, k, b, names, limbs, hot)
    return np.vstack([pic, legend(pic.shape[1])])


def _encode_jpg(img: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PosekitError(None, "JPEG encoding failed")
    return buf.tobytes()


def write_pictures(findings: pd.DataFrame, ds: KeypointDataset, images_dir: Path, out_dir: Path,
                   cap: int = MAX_PICTURES) -> Pictures:
    """A picture per flagged annotation, errors first (the findings' order), at most ``cap``;
    written to ``out_dir/pictures/ann_ID.jpg``."""
    names = list(ds.category.keypoints)
    limbs = list(ds.category.skeleton)
    index = {n: j for j, n in enumerate(names)}
    row_of = {a: r for r, a in enumerate(ds.ann_id.tolist())}
    images = ds.image_by_id()
    flagged = findings[findings["ann_id"].notna()]
    flagged = flagged[flagged["ann_id"].isin(row_of.keys())]
    order = list(dict.fromkeys(int(a) for a in flagged["ann_id"]))  # first appearance: errors first
    res = Pictures(flagged=len(order), cap=cap)
    hot_of: dict[int, set[int]] = {}
    for a, ks in zip(flagged["ann_id"].astype(int), flagged["keypoints"]):
        hot_of.setdefault(a, set()).update(index[k] for k in str(ks or "").split(",") if k in index)
    cached_id, cached = None, None
    for ann_id in order[:cap]:
        r = row_of[ann_id]
        im = images[int(ds.image_id[r])]
        if im.id in res.failed:
            continue
        if cached_id != im.id:
            try:
                cached, cached_id = read_image(image_path(images_dir, im.file_name, images_dir)), im.id
            except PosekitError as exc:
                res.failed[im.id] = exc.message
                continue
        pic = person_picture(cached, ds.keypoints[r], ds.bbox[r], names, limbs, hot_of.get(ann_id, set()))
        rel = f"pictures/ann_{ann_id}.jpg"
        write_bytes_atomic(out_dir / rel, _encode_jpg(pic))
        res.paths[ann_id] = rel
    return res


def legend_html() -> str:
    """The pictures' legend for the page (the same marks and colours)."""
    def rgb(bgr) -> str:
        return f"rgb({bgr[2]},{bgr[1]},{bgr[0]})"
    limbs = ",".join(rgb(tuple(int(c) for c in col)) for col in limb_colours(5))
    return (f"<span><span class=sw style='height:.8em;width:.8em;border-radius:50%;background:#fff;"
            f"border:1px solid #000'></span>visible keypoint</span>"
            f"<span><span class=sw style='height:.8em;width:.8em;border-radius:50%;background:#8c8c8c;"
            f"border:1px solid #000'></span>occluded (v=1)</span>"
            f"<span><span class=sw style='background:linear-gradient(90deg,{limbs})'></span>limbs (yellow to blue)</span>"
            f"<span><span class=sw style='background:{rgb(FLAG)};height:.5em'></span>flagged keypoints and limbs (red)</span>"
            f"<span><span class=sw style='border:1px solid #999;height:.8em;background:none'></span>person box</span>"
            f"<span>keypoint names beside the points</span>")
