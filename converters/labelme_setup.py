"""Set labelme up for correcting keypoints: a config file beside the LabelMe files and the one
command line that opens the images with those files loaded.

How labelme 6.3 pairs an image with its LabelMe file (``labelme/app.py``,
``_resolve_label_path``): without ``--output`` the file is the image's path with ``.json``;
with ``--output DIR`` it is ``DIR/<image stem>.json`` -- the image's sub-folder is dropped, so
``cam1/frame_0001.jpg`` is looked for as ``DIR/frame_0001.json``. labelme also derives the path
it auto-saves to from the image path that the loaded file's ``imagePath`` gives. So:

* LabelMe files beside their images (``imagePath`` a bare name): ``labelme DIR`` opens and saves
  them at any depth -- the layout this module prefers;
* images in another folder with no sub-folders: ``labelme IMAGES --output DIR`` is exact;
* images in another folder with sub-folders: the images are linked into DIR beside their
  LabelMe files (:func:`link_images`; symbolic links, else hard links, else copies) so that
  ``labelme DIR`` lists them. A LabelMe file whose ``imagePath`` still points at the other
  folder would be auto-saved *there*, so the config turns auto-save off and the person saves with
  Ctrl+S (labelme saves to the file it loaded). Writers that link first and then write
  ``imagePath`` as the bare name (pass the output folder as the images folder) keep auto-save.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from annotate.errors import PosekitError
from annotate.images import LABELME_IMAGE_SUFFIXES
from annotate.io import write_bytes_atomic
from annotate.skeletons import infer_flip_pairs

CONFIG_NAME = "labelme_config.yaml"
OCCLUDED_FLAG = "occluded"
# labelme's shape colours (RGB): one colour per side, so a left/right swap shows at a glance
LEFT, RIGHT, CENTRE, BOX = (30, 120, 255), (255, 120, 0), (0, 190, 70), (190, 190, 190)


@dataclass
class LabelmeSetup:
    config: Path
    command: str  # starts with "labelme "
    auto_save: bool
    linked: int = 0  # images linked into the LabelMe folder

    def lines(self) -> list[str]:
        """What the commands print: the ready-to-run line and what to know about it."""
        out = [f"config for labelme: {self.config} (keypoint labels in skeleton order, 'occluded' flag, "
               f"exact labels)", "to correct the points, open them in labelme with:", self.command]
        if self.linked:
            out.append(f"  ({self.linked} images linked into the LabelMe folder so that labelme finds "
                       f"each beside its file)")
        if not self.auto_save:
            out.append("  auto-save is off for these files: save each image with Ctrl+S")
        if shutil.which("labelme") is None and Path(sys.executable).with_name("labelme").exists():
            out.append(f"  (labelme is in {Path(sys.executable).parent}: activate that environment first, "
                       f"or start it as {Path(sys.executable).with_name('labelme')})")
        return out


def _yaml(value: object) -> str:
    """JSON is YAML: lists, strings and numbers written as JSON read back the same in YAML."""
    return json.dumps(value, ensure_ascii=False)


def label_colours(keypoints: Iterable[str], person_label: str) -> dict[str, tuple[int, int, int]]:
    """Left keypoints blue, right orange, the rest green, the person box grey."""
    names = list(keypoints)
    colours = {n: CENTRE for n in names}
    for left, right in infer_flip_pairs(tuple(names)):
        colours[names[left]], colours[names[right]] = LEFT, RIGHT
    colours[person_label] = BOX
    return colours


def config_text(keypoints: list[str], person_label: str = "person", auto_save: bool = True) -> str:
    """labelme's YAML config for a keypoint layout: the keypoint names in skeleton order plus the
    person label (nothing else accepted), the ``occluded`` flag on every point label, left/right
    colours and the label list kept in skeleton order."""
    labels = list(keypoints) + [person_label]
    if len(set(labels)) != len(labels):
        raise PosekitError(None, f"person label {person_label!r} is also a keypoint name; choose another")
    point_pattern = "^(" + "|".join(re.escape(k) for k in keypoints) + ")$"
    colours = label_colours(keypoints, person_label)
    lines = [
        "# labelme config written by posekit: keypoint labels in skeleton order, one person = one",
        "# group id (the person rectangle and its points share it), 'occluded' ticked for v=1 points.",
        "# Start labelme with the command posekit printed (it passes --config with this file).",
        f"labels: {_yaml(labels)}",
        "validate_label: exact",
        "sort_labels: false",
        f"label_flags: {{{_yaml(point_pattern)}: {_yaml([OCCLUDED_FLAG])}}}",
        "shape_color: manual",
        "label_colors:",
        *(f"  {_yaml(name)}: {_yaml(list(rgb))}" for name, rgb in colours.items()),
        f"auto_save: {'true' if auto_save else 'false'}",
        "with_image_data: false",
        "display_label_popup: true",
        "keep_prev: false",
    ]
    return "\n".join(lines) + "\n"


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def link_images(file_names: Iterable[str], images_dir: Path, out_dir: Path) -> int:
    """Link each image ``images_dir/NAME`` to ``out_dir/NAME`` (relative symbolic link; a hard
    link or a copy where links cannot be made). Existing links to the same image are kept; any
    other existing file is never replaced (PosekitError). Returns how many were made."""
    made = 0
    for name in file_names:
        src, dst = Path(images_dir) / name, Path(out_dir) / name
        if not src.is_file():
            continue  # a missing image: labelme cannot show it anyway (validate --images reports it)
        if dst.exists() or dst.is_symlink():
            if _same(src, dst) or (dst.is_file() and os.path.samefile(src, dst)):
                continue
            raise PosekitError(dst, f"exists and is not image {src}; not replaced")
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst.symlink_to(os.path.relpath(src, dst.parent))
        except OSError:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        made += 1
    return made




def _images_in_subfolders(folder: Path) -> bool:
    for root, _dirs, files in os.walk(folder):
        if Path(root) != folder and any(Path(f).suffix.lower() in LABELME_IMAGE_SUFFIXES for f in files):
            return True
    return False


def _image_paths_in_files(out_dir: Path, file_names: Iterable[str]) -> list[str]:
    """The ``imagePath`` of each LabelMe file ``out_dir/NAME.json`` that exists."""
    from .labelme import labelme_json_path

    paths = []
    for name in file_names:
        p = labelme_json_path(Path(out_dir), name)
        try:
            doc = json.loads(p.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("imagePath"), str):
            paths.append(doc["imagePath"])
    return paths


def setup_labelme(out_dir: str | Path, file_names: list[str], keypoints: list[str],
                  images_dir: str | Path | None = None, person_label: str = "person") -> LabelmeSetup:
    """Write ``out_dir/labelme_config.yaml`` and return the command that opens the images with
    the LabelMe files of ``out_dir`` (``file_names``: the images' paths relative to
    ``images_dir``, as in COCO; ``images_dir`` None: the images sit beside the files)."""
    out_dir = Path(out_dir)
    images = Path(images_dir) if images_dir is not None else out_dir
    # labelme lists the images of every sub-folder; with --output it would pair them by stem alone
    nested = any(len(Path(n).parts) > 1 for n in file_names) or _images_in_subfolders(images)
    in_files = _image_paths_in_files(out_dir, file_names)
    beside = _same(images, out_dir) or (bool(in_files) and all("/" not in p.replace("\\", "/") for p in in_files))
    config = out_dir / CONFIG_NAME
    q = shlex.quote
    linked = 0
    if beside or not nested:
        auto_save = True
        if beside and not _same(images, out_dir):
            linked = link_images(file_names, images, out_dir)
        command = (f"labelme {q(str(out_dir))}" if beside
                   else f"labelme {q(str(images))} --output {q(str(out_dir))}")
    else:
        # sub-folders and files whose imagePath points into the images folder: see the module doc
        linked = link_images(file_names, images, out_dir)
        auto_save = False
        command = f"labelme {q(str(out_dir))}"
    write_bytes_atomic(config, config_text(keypoints, person_label, auto_save).encode())
    return LabelmeSetup(config, f"{command} --config {q(str(config))}", auto_save, linked)
