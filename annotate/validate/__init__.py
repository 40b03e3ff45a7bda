"""Validate COCO keypoint annotations: schema, consistency and plausibility rules.

Every rule works on all annotations at once and reports rows of a findings table
(rule, severity, image_id, ann_id, keypoints, message, value).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..coco import from_coco_dict, read_coco_json
from ..dataset import KeypointDataset
from ..io import paused_gc
from .consistency import check_consistency
from .findings import SEVERITY_RANK, Findings
from .images import check_images
from .plausibility import check_plausibility


@dataclass
class ValidationOptions:
    tolerance: float = 1.0  # pixels a point or box may lie outside the image
    box_margin: float = 0.1  # fraction of box size a point may lie outside its box
    z_threshold: float = 6.0  # robust z-score for implausible bone lengths
    min_samples: int = 20  # bones needed before a limb's statistics are trusted
    asym_ratio: float = 3.0  # left/right limb length ratio flagged


def validate_file(path: str | Path, images_dir: str | Path | None = None,
                  opts: ValidationOptions | None = None) -> tuple[pd.DataFrame, KeypointDataset]:
    """Read and check a COCO keypoint file (with the reader every command uses); unreadable
    files raise PosekitError."""
    with paused_gc():
        obj, booleans = read_coco_json(path)
    return validate_object(obj, path, images_dir, opts, booleans)


def validate_object(obj: object, path: str | Path = "<memory>", images_dir: str | Path | None = None,
                    opts: ValidationOptions | None = None, booleans: bool = True) -> tuple[pd.DataFrame, KeypointDataset]:
    """Check parsed COCO JSON; structural problems that stop reading raise PosekitError.
    ``booleans=False`` says the JSON text holds no true/false."""
    opts = opts or ValidationOptions()
    f = Findings()
    ds = from_coco_dict(obj, path, f.reporter(), booleans)
    usable = check_consistency(ds, f, opts.tolerance, opts.box_margin)
    check_plausibility(ds, f, opts.z_threshold, opts.min_samples, opts.asym_ratio, usable=usable)
    if images_dir is not None:
        check_images(ds, Path(images_dir), f)
    frame = f.frame()
    # annotations of the keypoint categories in the file, those left out by schema errors included
    anns = obj.get("annotations") if isinstance(obj, dict) else None
    frame.attrs["annotations_in_file"] = (len(anns) - len(ds.other_annotations)) if isinstance(anns, list) else len(ds)
    return frame, ds


def exit_code(findings: pd.DataFrame, fail_on: str) -> int:
    """1 when any finding is at or above ``fail_on`` severity, else 0."""
    if findings.empty:
        return 0
    worst = findings["severity"].map(SEVERITY_RANK).max()
    return 1 if worst >= SEVERITY_RANK[fail_on] else 0
