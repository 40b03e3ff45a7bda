"""Pictures for people: skeletons, heatmaps, PAFs, their channel grid and legends (BGR uint8;
OpenCV draws, Pillow writes the text with a real font)."""
from __future__ import annotations

import colorsys
import functools

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


# --------------------------------------------------------------------------- text and legends

TITLE_PX = 15  # font sizes (pixels) of panel titles and of tile labels and legends
LABEL_PX = 12
_DARK = (40, 40, 40)  # strip background (BGR)
_BORDER = (90, 90, 90)


@functools.lru_cache(maxsize=8)
def _font(size: int):
    """A real TrueType font: DejaVu Sans where installed, else Pillow's built-in one."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _fit(text: str, size: int, width: int) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    font = _font(size)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def text_strip(width: int, text: str, size: int = TITLE_PX, bg=_DARK, fg=(255, 255, 255)) -> np.ndarray:
    """A ``width``-wide BGR strip with ``text`` on it (left-aligned, shortened to fit)."""
    from PIL import Image, ImageDraw

    h = int(size * 1.6)
    im = Image.new("RGB", (width, h), tuple(int(c) for c in bg[::-1]))
    ImageDraw.Draw(im).text((4, h // 2), _fit(text, size, width - 8), font=_font(size),
                            fill=tuple(int(c) for c in fg[::-1]), anchor="lm")
    return np.asarray(im)[:, :, ::-1].copy()


def label(img: np.ndarray, text: str, size: int = TITLE_PX) -> np.ndarray:
    """``img`` with a title strip above it."""
    return np.vstack([text_strip(img.shape[1], text, size), img])


def _texts(img: np.ndarray, items: list[tuple[tuple[int, int], str, int, str]]) -> np.ndarray:
    """Draw ``(xy, text, size, anchor)`` items in white on a copy of ``img``."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
    d = ImageDraw.Draw(im)
    for xy, text, size, anchor in items:
        d.text(xy, text, font=_font(size), fill=(235, 235, 235), anchor=anchor)
    return np.asarray(im)[:, :, ::-1].copy()


def border(img: np.ndarray, px: int = 1, colour=_BORDER) -> np.ndarray:
    return cv2.copyMakeBorder(img, px, px, px, px, cv2.BORDER_CONSTANT, value=tuple(int(c) for c in colour))


def short_name(name: str) -> str:
    """``right_shoulder`` -> ``R shoulder`` (tile labels)."""
    for side, short in (("right_", "R "), ("left_", "L "), ("right", "R"), ("left", "L")):
        if name.startswith(side):
            return short + name[len(side):].replace("_", " ")
    return name.replace("_", " ")


def keypoint_legend(names: list[str], width: int, colours: np.ndarray) -> np.ndarray:
    """Colour swatches with the keypoint names, in as many columns as fit ``width``."""
    col_w = 150
    cols = max(1, (width - 8) // col_w)
    rows = -(-len(names) // cols)
    row_h = LABEL_PX + 6
    head = int(TITLE_PX * 1.6)
    img = np.full((head + rows * row_h + 6, width, 3), _DARK, np.uint8)
    items = [((6, head // 2), "heatmap colour of each keypoint", TITLE_PX, "lm")]
    for i, (name, c) in enumerate(zip(names, colours)):
        x, y = 6 + (i // rows) * col_w, head + (i % rows) * row_h
        cv2.rectangle(img, (x, y + 2), (x + 12, y + 14), tuple(int(v) for v in c), -1)
        items.append(((x + 18, y + 8), _fit(short_name(name), LABEL_PX, col_w - 22), LABEL_PX, "lm"))
    return _texts(img, items)


def hue_wheel(diameter: int) -> np.ndarray:
    """The PAF colour key: hue = direction (image axes, y down), brightness = magnitude."""
    r = diameter / 2
    yy, xx = np.mgrid[0:diameter, 0:diameter] + 0.5 - r
    mag = np.clip(np.hypot(xx, yy) / r, 0, 1)
    hsv = np.zeros((diameter, diameter, 3), np.uint8)
    hsv[..., 0] = ((np.degrees(np.arctan2(yy, xx)) % 360) / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = (mag * 255).astype(np.uint8)
    wheel = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    wheel[np.hypot(xx, yy) > r] = _DARK
    return wheel


def direction_legend(width: int, height: int) -> np.ndarray:
    """A hue wheel with its axes named, for the PAF panel."""
    head = int(TITLE_PX * 1.6)
    img = np.full((height, width, 3), _DARK, np.uint8)
    d = max(24, min(height - head - 2 * LABEL_PX - 8, width - 120))
    x0, y0 = (width - d) // 2, head + LABEL_PX + 4
    img[y0:y0 + d, x0:x0 + d] = hue_wheel(d)
    cx, cy = x0 + d // 2, y0 + d // 2
    items = [((6, head // 2), "PAF: limb direction (centre: 0)", TITLE_PX, "lm"),
             ((x0 + d + 4, cy), "+x →", LABEL_PX, "lm"), ((x0 - 4, cy), "← -x", LABEL_PX, "rm"),
             ((cx, y0 - 2), "↑ -y", LABEL_PX, "md"), ((cx, y0 + d + 2), "↓ +y", LABEL_PX, "ma")]
    return _texts(img, items)


def colour_bar(width: int, lo: float, hi: float, lut: np.ndarray, title: str) -> np.ndarray:
    """A horizontal colour scale from ``lo`` to ``hi`` with three ticks."""
    head = int(TITLE_PX * 1.6)
    bar_h = 12
    img = np.full((head + bar_h + LABEL_PX + 10, width, 3), _DARK, np.uint8)
    x0, x1 = 12, width - 12
    ramp = np.linspace(0, 255, x1 - x0).astype(np.uint8)
    img[head:head + bar_h, x0:x1] = lut[ramp][None]
    cv2.rectangle(img, (x0 - 1, head - 1), (x1, head + bar_h), _BORDER, 1)
    mid = (lo + hi) / 2
    y = head + bar_h + 3
    items = [((6, head // 2), title, TITLE_PX, "lm"), ((x0, y), f"{lo:g}", LABEL_PX, "la"),
             (((x0 + x1) // 2, y), f"{mid:g}", LABEL_PX, "ma"), ((x1, y), f"{hi:+g}" if lo < 0 else f"{hi:g}",
                                                               LABEL_PX, "ra")]
    return _texts(img, items)


def heat_lut() -> np.ndarray:
    """(256, 3) BGR: 0 black -> 1 bright yellow (inferno)."""
    return cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_INFERNO)[:, 0]


def signed_lut() -> np.ndarray:
    """(256, 3) BGR for -1..1: blue for negative, black at 0, orange for positive."""
    t = np.linspace(-1, 1, 256)[:, None]
    neg = np.array([255, 150, 40]) * np.clip(-t, 0, 1)
    pos = np.array([40, 150, 255]) * np.clip(t, 0, 1)
    return np.clip(neg + pos, 0, 255).astype(np.uint8)


def _tile(m: np.ndarray, lo: float, hi: float, lut: np.ndarray, cell: int) -> np.ndarray:
    """One channel as a colour tile whose longer side is about ``cell`` pixels (whole pixels per map cell)."""
    h, w = m.shape
    f = cell / max(h, w, 1)
    idx = np.clip((m - lo) / (hi - lo) * 255 + 0.5, 0, 255).astype(np.uint8)
    col = lut[idx]
    if f >= 0.75:  # whole pixels per map cell, so that cells stay square
        k = max(1, round(f))
        return np.repeat(np.repeat(col, k, axis=0), k, axis=1)
    return cv2.resize(col, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def _tile_grid(tiles: list[tuple[np.ndarray, str]], cols: int) -> np.ndarray:
    """Tiles under their labels, with borders, ``cols`` to a row."""
    cells = [border(np.vstack([text_strip(t.shape[1], name, LABEL_PX), t])) for t, name in tiles]
    h = max(c.shape[0] for c in cells)
    w = max(c.shape[1] for c in cells)
    cells = [cv2.copyMakeBorder(c, 0, h - c.shape[0], 0, w - c.shape[1], cv2.BORDER_CONSTANT, value=_DARK)
             for c in cells]
    cells += [np.full((h, w, 3), _DARK, np.uint8)] * (-len(cells) % cols)
    return np.vstack([np.hstack(cells[i:i + cols]) for i in range(0, len(cells), cols)])


def channel_grid(heatmaps: np.ndarray, pafs: np.ndarray, layout, cell: int = 150, cols: int = 8) -> np.ndarray:
    """Every channel as a labelled tile: the heatmaps (each keypoint, then the background) on a
    0..1 scale, then the PAFs (x and y of each limb side by side) on a -1..1 scale, each section
    with its colour scale."""
    names = list(layout.keypoints) + ["background"]
    hl, sl = heat_lut(), signed_lut()
    heat_tiles = [(_tile(m, 0, 1, hl, cell), short_name(n)) for m, n in zip(heatmaps, names)]
    grids = [_tile_grid(heat_tiles, cols)]
    width = grids[0].shape[1]
    parts = [_section_head(width, f"heatmaps: {len(heatmaps) - 1} keypoints + background", 0, 1, hl), grids[0]]
    if len(pafs):
        paf_tiles = []
        for li, (a, b) in enumerate(layout.limbs):
            limb = f"{short_name(layout.keypoints[a])}→{short_name(layout.keypoints[b])}"
            paf_tiles += [(_tile(pafs[2 * li], -1, 1, sl, cell), f"x  {limb}"),
                          (_tile(pafs[2 * li + 1], -1, 1, sl, cell), f"y  {limb}")]
        parts += [_section_head(width, f"PAFs: x and y of {len(layout.limbs)} limbs (a→b)", -1, 1, sl),
                  _tile_grid(paf_tiles, cols)]
    else:
        parts.append(text_strip(width, "no PAFs: the layout has no skeleton"))
    return np.vstack(parts)


def _section_head(width: int, title: str, lo: float, hi: float, lut: np.ndarray) -> np.ndarray:
    bar_w = min(320, width // 2)
    bar = colour_bar(bar_w, lo, hi, lut, "scale")
    head = np.full((bar.shape[0], width - bar_w, 3), _DARK, np.uint8)
    head = _texts(head, [((8, bar.shape[0] // 2), title, TITLE_PX + 2, "lm")])
    return np.hstack([head, bar])


def overview(img: np.ndarray, heatmaps: np.ndarray, pafs: np.ndarray, persons: np.ndarray, layout,
             stride: int) -> np.ndarray:
    """Skeleton | heatmaps (colour = keypoint) | PAFs (hue = direction), each titled, over legends
    for the keypoint colours and the PAF directions. ``img`` is the network input (BGR)."""
    gh, gw = heatmaps.shape[1:]
    canvas = np.zeros((gh * stride, gw * stride, 3), np.uint8)
    canvas[: img.shape[0], : img.shape[1]] = img[: canvas.shape[0], : canvas.shape[1]]
    k = len(heatmaps) - 1
    panels = [label(draw_skeleton(canvas, persons, layout.limbs), f"persons ({len(persons)}), input "
                                                                   f"{img.shape[1]}x{img.shape[0]}"),
              label(heatmap_overlay(canvas, heatmaps[:k]), f"heatmaps ({gw}x{gh} cells), colour = keypoint"),
              label(paf_picture(canvas, pafs), "PAFs: hue = direction, brightness = magnitude")]
    top = np.hstack([border(p) for p in panels])
    pw = panels[0].shape[1] + 2
    legend = keypoint_legend(list(layout.keypoints), 2 * pw, palette(k))
    wheel = direction_legend(top.shape[1] - 2 * pw, max(legend.shape[0], 150))
    if legend.shape[0] < wheel.shape[0]:
        legend = cv2.copyMakeBorder(legend, 0, wheel.shape[0] - legend.shape[0], 0, 0, cv2.BORDER_CONSTANT,
                                    value=_DARK)
    return np.vstack([top, np.hstack([legend, wheel])])


def encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
