"""Pictures for people: skeletons, heatmaps, PAFs (OpenCV, BGR uint8)."""
from __future__ import annotations

import colorsys

import cv2
import numpy as np


def palette(n: int) -> np.ndarray:
    """``n`` distinct BGR colours around the hue wheel."""
    rgb = [colorsys.hsv_to_rgb(i / max(n, 1), 0.9, 1.0) for i in range(n)]
    return (np.array(rgb)[:, ::-1] * 255).astype(np.uint8).reshape(n, 3)


def draw_skeleton(img: np.ndarray, persons: np.ndarray, limbs, highlight_kps=(), highlight_limbs=(),
                  radius: int | None = None) -> np.ndarray:
    """Draw persons ``(N, K, 3)`` (v > 0 points) and their limbs on a copy of ``img``.

    Highlighted keypoints/limbs (indices) are drawn red and thicker."""
    out = img.copy()
    K = persons.shape[1] if persons.ndim == 3 else 0
    cols = palette(max(len(limbs), 1))
    scale = max(img.shape[:2]) / 640
    r = radius or max(2, int(round(3 * scale)))
    th = max(1, int(round(2 * scale)))
    hk, hl = set(highlight_kps), set(highlight_limbs)
    for kp in persons:
        for li, (a, b) in enumerate(limbs):
            if a < K and b < K and kp[a, 2] > 0 and kp[b, 2] > 0:
                c = (0, 0, 255) if li in hl else tuple(int(x) for x in cols[li])
                cv2.line(out, _pt(kp[a]), _pt(kp[b]), c, th * (2 if li in hl else 1), cv2.LINE_AA)
        for j in range(K):
            if kp[j, 2] > 0:
                hot = j in hk
                fill = (0, 0, 255) if hot else ((255, 255, 255) if kp[j, 2] >= 2 else (128, 128, 128))
                cv2.circle(out, _pt(kp[j]), r * (2 if hot else 1), fill, -1, cv2.LINE_AA)
                cv2.circle(out, _pt(kp[j]), r * (2 if hot else 1), (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _pt(kp: np.ndarray) -> tuple[int, int]:
    return int(round(float(kp[0]))), int(round(float(kp[1])))


def upsample(maps: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize ``(C, h, w)`` maps to ``(C, H, W)`` (bilinear)."""
    H, W = size_hw
    return np.stack([cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR) for m in maps]) if len(maps) \
        else np.zeros((0, H, W), np.float32)


def heatmap_overlay(img: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """All keypoint channels in one picture, each in its own colour, blended over ``img``."""
    up = upsample(heat, img.shape[:2])
    cols = palette(len(up)).astype(np.float32)
    if not len(up):
        return img.copy()
    best = up.argmax(axis=0)
    val = np.clip(up.max(axis=0), 0, 1)[..., None]
    colour = cols[best] * val
    return np.clip(img * (1 - alpha * val) + alpha * colour, 0, 255).astype(np.uint8)


def paf_picture(img: np.ndarray, pafs: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """PAFs as colour: hue = direction, brightness = magnitude (strongest limb per pixel)."""
    up = upsample(pafs, img.shape[:2])
    if not len(up):
        return img.copy()
    vx, vy = up[0::2], up[1::2]
    mag = np.hypot(vx, vy)
    best = mag.argmax(axis=0)
    ii = np.indices(best.shape)
    x, y, m = vx[best, ii[0], ii[1]], vy[best, ii[0], ii[1]], np.clip(mag.max(axis=0), 0, 1)
    hsv = np.zeros(img.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = ((np.degrees(np.arctan2(y, x)) % 360) / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = (m * 255).astype(np.uint8)
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    a = alpha * m[..., None]
    return np.clip(img * (1 - a) + colour * a, 0, 255).astype(np.uint8)


def label(img: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``img`` with ``text`` in its top-left corner."""
    out = img.copy()
    s = max(img.shape[:2]) / 800 + 0.3
    cv2.putText(out, text, (5, int(18 * s) + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (5, int(18 * s) + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def channel_grid(maps: np.ndarray, names: list[str], cell: int = 160, cols: int = 6) -> np.ndarray:
    """A grid of single channels (jet colour map), each labelled with its name."""
    tiles = []
    for m, name in zip(maps, names):
        t = cv2.resize(np.clip(m, 0, 1), (cell, int(cell * m.shape[0] / max(m.shape[1], 1))),
                       interpolation=cv2.INTER_NEAREST)
        tiles.append(label(cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_JET), name))
    if not tiles:
        return np.zeros((cell, cell, 3), np.uint8)
    h = max(t.shape[0] for t in tiles)
    blank = np.zeros((h, cell, 3), np.uint8)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    tiles += [blank] * (-len(tiles) % cols)
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)


def encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def encode_jpg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
