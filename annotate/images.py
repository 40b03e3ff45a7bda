"""Reading images for the commands (decode errors become PosekitError)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import PosekitError
from .io import safe_relative

#: Image files the commands read (what OpenCV decodes).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Image files labelme opens (Qt reads GIF too).
LABELME_IMAGE_SUFFIXES = IMAGE_SUFFIXES + (".gif",)


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


def oriented_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image as decoders show it (OpenCV, Ultralytics): from the header,
    sides swapped when EXIF says the picture is stored rotated by 90 degrees (orientations 5-8;
    unreadable EXIF counts as none). PosekitError when missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112)
            except Exception:  # unreadable EXIF: the decoders ignore it too
                orientation = None
    except FileNotFoundError:
        raise PosekitError(path, "image not found") from None
    except IsADirectoryError:
        raise PosekitError(path, "is a folder, expected an image") from None
    except (UnidentifiedImageError, OSError):
        raise PosekitError(path, "not a readable image") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


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
