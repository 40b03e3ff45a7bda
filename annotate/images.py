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


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image as a person and every decoder sees it (labelme, OpenCV,
    mmpose, Ultralytics): from the header, sides swapped when EXIF says the picture is stored
    rotated by 90 degrees (orientations 5-8; unreadable EXIF counts as none). The one image-size
    rule: every reader, validate and render use it. PosekitError when missing or not an image."""
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


def image_stem(file_name: str) -> str:
    """``file_name`` without its image suffix, and only that: ``cam01.0030.jpg`` -> ``cam01.0030``,
    ``cam01.0030`` -> ``cam01.0030`` (a dot in a name is not a suffix). The one file-stem rule
    for outputs named after images."""
    low = file_name.lower()
    for suffix in LABELME_IMAGE_SUFFIXES:
        if low.endswith(suffix) and len(file_name) > len(suffix):
            return file_name[: -len(suffix)]
    return file_name
