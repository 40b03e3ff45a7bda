"""``annotate render``: OpenPose targets per image, written as arrays and pictures."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import draw
from .dataset import KeypointDataset
from .errors import PosekitError
from .images import image_path, read_image
from .io import write_bytes_atomic
from .skeletons import Layout, get_mapping
from .targets import TargetParams, decode, keypoint_heatmaps, part_affinity_fields, with_background


@dataclass
class Targets:
    """Targets of one image at the network input scale."""

    heatmaps: np.ndarray  # (K+1, Hg, Wg), last = background
    pafs: np.ndarray  # (2L, Hg, Wg)
    mask_crowd: np.ndarray  # (Hg, Wg) uint8, 1 inside crowd regions
    scale: float  # input pixels per image pixel
    keypoints: np.ndarray  # (N, K, 3) persons in input pixels (target layout)
    input_hw: tuple[int, int]


def target_layout(ds: KeypointDataset, name: str) -> tuple[Layout, np.ndarray]:
    """The layout to render and every person's keypoints in it (``native``: the file's own)."""
    src = ds.category.layout
    if name in (src.name, "native"):
        return src, ds.keypoints
    try:
        m = get_mapping(src.name, name)
    except KeyError:
        raise PosekitError(None, f"cannot render layout {name} from a '{src.name}' category") from None
    return m.dst, m.apply(ds.keypoints)


def crowd_mask(ds: KeypointDataset, rows: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Union of the crowd regions (segmentation, else box) of the given rows at image size."""
    from pycocotools import mask as mask_utils

    H, W = hw
    out = np.zeros((H, W), np.uint8)
    for r in rows:
        seg = ds.extra[r].get("segmentation")
        m = None
        if seg:
            try:
                rles = mask_utils.frPyObjects(seg, H, W) if not (isinstance(seg, dict) and isinstance(seg.get("counts"), str)) else seg
                m = mask_utils.decode(mask_utils.merge(rles) if isinstance(rles, list) else rles)
            except Exception:  # malformed segmentation: fall back to the box
                m = None
        if m is None and not np.isnan(ds.bbox[r]).any():
            x, y, w, h = ds.bbox[r]
            m = np.zeros((H, W), np.uint8)
            m[max(int(y), 0):max(int(math.ceil(y + h)), 0), max(int(x), 0):max(int(math.ceil(x + w)), 0)] = 1
        if m is not None:
            out |= m.astype(np.uint8)
    return out


def make_targets(img_hw: tuple[int, int], kps: np.ndarray, limbs, crowd: np.ndarray | None,
                 input_size: int, p: TargetParams) -> Targets:
    """Scale so the image's longer side is ``input_size`` and render heatmaps, PAFs and the mask."""
    h, w = img_hw
    scale = input_size / max(h, w)
    ih, iw = max(1, round(h * scale)), max(1, round(w * scale))
    grid = (math.ceil(ih / p.stride), math.ceil(iw / p.stride))
    k = kps.copy()
    k[:, :, :2] *= scale
    heat = with_background(keypoint_heatmaps(k, grid, p))
    pafs = part_affinity_fields(k, limbs, grid, p)
    if crowd is not None and crowd.any():
        small = cv2.resize(crowd.astype(np.float32), (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
        mask = (small >= 0.5).astype(np.uint8)
    else:
        mask = np.zeros(grid, np.uint8)
    return Targets(heat, pafs, mask, scale, k, (ih, iw))


def render_image(ds: KeypointDataset, kps_all: np.ndarray, layout: Layout, image_index: int,
                 rows: np.ndarray, images_dir: Path, out_dir: Path, input_size: int, p: TargetParams,
                 owner: Path, decode_too: bool = False) -> dict:
    """Render one image's targets and pictures; returns a summary (and decoded persons)."""
    im = ds.images[image_index]
    img = read_image(image_path(images_dir, im.file_name, owner))
    h, w = img.shape[:2]
    persons = rows[~ds.iscrowd[rows]]
    crowds = rows[ds.iscrowd[rows]]
    t = make_targets((h, w), kps_all[persons], layout.limbs,
                     crowd_mask(ds, crowds, (h, w)) if len(crowds) else None, input_size, p)
    stem = Path(im.file_name).with_suffix("").as_posix().replace("/", "__")
    buf = io.BytesIO()
    np.savez_compressed(buf, heatmaps=t.heatmaps, pafs=t.pafs, mask_crowd=t.mask_crowd,
                        scale=np.float64(t.scale), stride=np.int64(p.stride), sigma=np.float64(p.sigma),
                        paf_width=np.float64(p.paf_width), keypoint_names=np.array(layout.keypoints),
                        limbs=np.array(layout.limbs, dtype=np.int64).reshape(-1, 2), image_id=np.int64(im.id))
    write_bytes_atomic(out_dir / f"{stem}.npz", buf.getvalue())

    small = cv2.resize(img, (t.input_hw[1], t.input_hw[0]), interpolation=cv2.INTER_AREA)
    gh, gw = t.heatmaps.shape[1:]
    canvas = np.zeros((gh * p.stride, gw * p.stride, 3), np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    skel = draw.label(draw.draw_skeleton(canvas, t.keypoints, layout.limbs), "skeleton")
    heat = draw.label(draw.heatmap_overlay(canvas, t.heatmaps[:-1]), "heatmaps (colour = keypoint)")
    paf = draw.label(draw.paf_picture(canvas, t.pafs), "PAFs (hue = direction)")
    write_bytes_atomic(out_dir / f"{stem}_overview.png", draw.encode_png(np.hstack([skel, heat, paf])))
    names = list(layout.keypoints) + ["background"]
    write_bytes_atomic(out_dir / f"{stem}_channels.png", draw.encode_png(draw.channel_grid(t.heatmaps, names)))
    result = {"image_id": im.id, "file": f"{stem}.npz", "persons": int(len(persons))}
    if decode_too:
        found = decode(t.heatmaps[:-1], t.pafs, layout.limbs, p.stride)
        found[:, :, :2] /= t.scale
        result["decoded"] = found
    return result
