"""Reading images for the commands (decode errors become PosekitError)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import PosekitError
from .io import safe_relative


def image_path(images_dir: Path, file_name: str, owner: Path | str) -> Path:
    """The image's path inside ``images_dir`` (refusing paths that escape it)."""
    return safe_relative(images_dir, file_name, "image file_name", owner)


def read_image(path: Path) -> np.ndarray:
    """Decode an image as BGR uint8; raises PosekitError naming the file."""
    import cv2  # imported here: commands that never decode an image start faster

    if not path.is_file():
        raise PosekitError(path, "image not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise PosekitError(path, "not a readable image")
    return img


def check_image_header(path: Path) -> tuple[int, int]:
    """(width, height) from the image header; PosekitError when missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise PosekitError(path, "image not found") from None
    except IsADirectoryError:
        raise PosekitError(path, "is a folder, expected an image") from None
    except (UnidentifiedImageError, OSError):
        raise PosekitError(path, "not a readable image") from None
