"""Image rules (with --images): the file exists, is an image, and has the size the JSON says."""
from __future__ import annotations

from pathlib import Path

from ..dataset import KeypointDataset
from ..errors import PosekitError
from ..images import image_size, image_path
from .findings import Findings


def check_images(ds: KeypointDataset, images_dir: Path, f: Findings) -> None:
    for im in ds.images:
        try:
            path = image_path(images_dir, im.file_name, images_dir)
        except PosekitError as exc:
            f.add("image.path", "error", im.id, None, exc.message)
            continue
        if not path.exists():
            f.add("image.missing", "error", im.id, None, f"image file {im.file_name} not found in {images_dir}")
            continue
        try:
            w, h = image_size(path)
        except PosekitError:
            f.add("image.unreadable", "error", im.id, None, f"{im.file_name} is not a readable image")
            continue
        if im.width is None or im.height is None:
            continue  # reported as consistency.image_size_missing (one fault, one finding)
        if (im.width, im.height) != (w, h):
            f.add("image.size_mismatch", "error", im.id, None,
                  f"JSON says {im.width}x{im.height} but {im.file_name} is {w}x{h}", f"{w}x{h}")
