"""``annotate filter``: keep the persons that pass every condition, count the rest per condition.

Conditions are applied in a fixed order (:data:`ORDER`); a person that fails several is counted
under the first that removes it. ``--min-keypoints`` and ``--min-area`` apply to persons:
crowd regions stay unless ``--drop-crowd`` (or a ``--where`` on ``iscrowd``) removes them.
``--images-with-persons`` comes last: images left without a person are dropped, with the crowd
regions on them. Every removed annotation is counted as lost (unit ``persons``), with its
labeled keypoints (unit ``keypoints``) and the dropped images (unit ``images``), so the account
of the read balances against what is written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..dataset import KeypointDataset
from ..errors import PosekitError
from ..notes import Notes

#: The order the conditions are applied in (a person is counted under the first that removes it).
ORDER = ("--category", "--drop-crowd", "--min-keypoints", "--min-area", "--where")

#: The columns ``--where`` sees, one row per annotation (persons and crowd regions), and what they
#: hold; per keypoint also ``v_<name>`` (0, 1, 2), ``x_<name>`` and ``y_<name>`` (NaN where v = 0).
WHERE_COLUMNS = {
    "ann_id": "annotation id", "image_id": "image id", "file_name": "the image's file name",
    "width": "image width (NaN where unknown)", "height": "image height (NaN where unknown)",
    "split": "the image's split (train, val, test; empty where none)",
    "category": "category name", "category_id": "category id", "iscrowd": "crowd region (True/False)",
    "num_keypoints": "labeled keypoints (v > 0)", "num_visible": "visible keypoints (v = 2)",
    "num_occluded": "occluded keypoints (v = 1)", "area": "area (the box's where the source gives none)",
    "box_x": "box left", "box_y": "box top", "box_w": "box width", "box_h": "box height",
    "score": "person score (NaN where none)",
}


@dataclass
class FilterSpec:
    """The conditions of one ``annotate filter`` run (None / empty / False: not applied)."""

    categories: tuple[str, ...] = ()
    drop_crowd: bool = False
    min_keypoints: int | None = None
    min_area: float | None = None
    where: str | None = None
    images_with_persons: bool = False

    def labels(self) -> dict[str, str]:
        """Each applied condition as the command line spells it, in :data:`ORDER`."""
        out = {}
        if self.categories:
            out["--category"] = " ".join(f"--category {c}" for c in self.categories)
        if self.drop_crowd:
            out["--drop-crowd"] = "--drop-crowd"
        if self.min_keypoints is not None:
            out["--min-keypoints"] = f"--min-keypoints {self.min_keypoints}"
        if self.min_area is not None:
            out["--min-area"] = f"--min-area {self.min_area:g}"
        if self.where is not None:
            out["--where"] = f"--where {self.where!r}"
        return out


@dataclass
class FilterResult:
    """The filtered dataset and what each condition removed."""

    ds: KeypointDataset
    persons_in: int                                          # persons (not crowd regions) read
    crowd_in: int                                            # crowd regions read
    images_in: int
    removed: dict[str, int] = field(default_factory=dict)   # condition label -> annotations removed
    images_dropped: int = 0
    crowd_on_dropped: int = 0                                # crowd regions removed with their image

    def line(self) -> str:
        """The closing line: what was kept and what each condition removed."""
        crowd = int(self.ds.iscrowd.sum())
        kept = (f"kept {len(self.ds) - crowd:,} of {self.persons_in:,} persons"
                + (f", {crowd:,} of {self.crowd_in:,} crowd regions" if self.crowd_in else "")
                + f" and {len(self.ds.images):,} of {self.images_in:,} images")
        parts = [f"{n:,} by {label}" for label, n in self.removed.items()]
        if self.crowd_on_dropped:
            parts.append(f"{self.crowd_on_dropped:,} crowd regions with their images")
        removed = f"; removed {', '.join(parts)}" if parts else "; no person removed"
        images = (f"; {self.images_dropped:,} images without persons dropped by --images-with-persons"
                  if self.images_dropped else "")
        first = (" (a person failing several conditions counts under the first, in the order "
                 f"{', '.join(ORDER)})") if len(self.removed) > 1 else ""
        return kept + removed + images + first


def filter_dataset(ds: KeypointDataset, spec: FilterSpec, notes: Notes) -> FilterResult:
    """The persons (and images) of ``ds`` that pass ``spec``; removals counted in ``notes``."""
    labels = spec.labels()
    keep = np.ones(len(ds), bool)
    removed: dict[str, int] = {}
    for key, mask in condition_masks(ds, spec):
        gone = keep & ~mask
        removed[labels[key]] = int(gone.sum())
        keep &= mask
    images = list(ds.images)
    crowd_on_dropped = 0
    if spec.images_with_persons:
        from converters.formats import image_rows

        rows = image_rows(ds)
        has = np.zeros(len(ds.images), bool)
        has[rows[keep & ~ds.iscrowd]] = True
        crowd_on_dropped = int((keep & ~has[rows]).sum()) if len(rows) else 0
        keep &= has[rows] if len(rows) else keep
        images = [im for im, h in zip(ds.images, has.tolist()) if h]
    out = ds.subset(keep, images)
    out.other_annotations = _other_annotations(ds, images, notes)
    if spec.categories:
        out.categories = [c for c in ds.categories if c.name in spec.categories]
        out.category = out.categories[0]
    n_crowd = int(ds.iscrowd.sum())
    res = FilterResult(out, len(ds) - n_crowd, n_crowd, len(ds.images), removed, len(ds.images) - len(images),
                       crowd_on_dropped)
    _count(res, ds, keep, notes)
    return res


def _count(res: FilterResult, ds: KeypointDataset, keep: np.ndarray, notes: Notes) -> None:
    """Count every removal as not carried (persons, their labeled keypoints, images)."""
    for label, n in res.removed.items():
        notes.lost(f"annotations removed by {label}", n, unit="persons")
    notes.lost("crowd regions on images dropped by --images-with-persons", res.crowd_on_dropped, unit="persons")
    notes.lost("images without persons dropped by --images-with-persons", res.images_dropped, unit="images")
    notes.lost("labeled keypoints of the removed persons", int((ds.keypoints[~keep, :, 2] > 0).sum()),
               unit="keypoints")


def _other_annotations(ds: KeypointDataset, images: list, notes: Notes) -> list:
    """Annotations of categories without keypoints, on the images kept."""
    if len(images) == len(ds.images):
        return list(ds.other_annotations)
    kept = {im.id for im in images}
    out = [a for a in ds.other_annotations if a.get("image_id") in kept]
    notes.lost("annotations of categories without keypoints on dropped images", len(ds.other_annotations) - len(out))
    return out


def condition_masks(ds: KeypointDataset, spec: FilterSpec) -> list[tuple[str, np.ndarray]]:
    """(condition, rows that pass it) for each applied condition, in :data:`ORDER`."""
    crowd = ds.iscrowd.astype(bool)
    out = []
    if spec.categories:
        out.append(("--category", category_mask(ds, spec.categories)))
    if spec.drop_crowd:
        out.append(("--drop-crowd", ~crowd))
    if spec.min_keypoints is not None:
        out.append(("--min-keypoints", crowd | (ds.num_keypoints >= spec.min_keypoints)))
    if spec.min_area is not None:
        from .stats import person_areas

        with np.errstate(invalid="ignore"):
            out.append(("--min-area", crowd | (person_areas(ds) >= spec.min_area)))
    if spec.where is not None:
        out.append(("--where", where_mask(ds, spec.where)))
    return out


def category_mask(ds: KeypointDataset, names: tuple[str, ...]) -> np.ndarray:
    """Rows of the categories named; PosekitError naming the known ones for an unknown name."""
    known = [c.name for c in ds.categories]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PosekitError(None, f"--category {unknown[0]!r}: no such keypoint category; the dataset has "
                                 f"{', '.join(repr(k) for k in known)}")
    ids = [c.id for c in ds.categories if c.name in names]
    return np.isin(ds.category_id, ids)


# --------------------------------------------------------------------------- --where

def check_where(expr: str) -> None:
    """Refuse an expression that is not even Python syntax (before a large source is read)."""
    import ast

    plain = re.sub(r"`[^`]*`", "_name", expr)
    try:
        ast.parse(plain.strip(), mode="eval")
    except SyntaxError as exc:
        raise PosekitError(None, f"--where {expr!r}: SyntaxError: {exc.msg}") from None


def where_mask(ds: KeypointDataset, expr: str) -> np.ndarray:
    """Rows for which the pandas expression ``expr`` over :func:`annotation_frame` is true;
    PosekitError (one line) when it is not a valid true/false expression over the columns."""
    frame = annotation_frame(ds, referenced_names(expr))
    unknown = [n for n in re.findall(r"`([^`]*)`", expr) if n not in frame.columns]
    if unknown:  # said here: pandas would name it as it mangles it
        raise PosekitError(None, f"--where {expr!r}: name {unknown[0]!r} is not defined; {_columns_hint(ds)}")
    try:
        result = frame.eval(expr, local_dict={}, global_dict={})
    except Exception as exc:  # pandas raises many types for a bad expression; each is bad input
        raise PosekitError(None, f"--where {expr!r}: {_reason(exc, ds)}") from None
    if isinstance(result, (bool, np.bool_)):
        return np.full(len(ds), bool(result))
    if not isinstance(result, pd.Series) or len(result) != len(ds):
        raise PosekitError(None, f"--where {expr!r}: is not one true/false per annotation (an assignment? use "
                                 f"a comparison such as 'num_keypoints >= 5')")
    if result.dtype != bool:
        raise PosekitError(None, f"--where {expr!r}: gives {result.dtype} values, not true/false; compare them "
                                 f"(e.g. 'score > 0.5')")
    return result.to_numpy(dtype=bool)


def _reason(exc: Exception, ds: KeypointDataset) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if isinstance(exc, NameError) or "is not defined" in msg:
        return f"{msg}; {_columns_hint(ds)}"
    return f"{exc.__class__.__name__}: {msg}"


def _columns_hint(ds: KeypointDataset) -> str:
    first = ds.category.keypoints[0] if ds.category.keypoints else "nose"
    return (f"the columns are {', '.join(WHERE_COLUMNS)} and per keypoint v_<name>, x_<name>, y_<name> "
            f"(e.g. v_{first}); see annotate filter --help")


def referenced_names(expr: str) -> set[str]:
    """Names an expression may use: identifiers and `backquoted names`."""
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)) | set(re.findall(r"`([^`]*)`", expr))


def annotation_frame(ds: KeypointDataset, wanted: set[str] | None = None) -> pd.DataFrame:
    """One row per annotation: the :data:`WHERE_COLUMNS`, and the per-keypoint columns whose names
    are in ``wanted`` (all when None)."""
    from converters.formats import image_rows

    rows = image_rows(ds)
    ims = ds.images
    width = np.array([im.width or np.nan for im in ims], np.float64)
    height = np.array([im.height or np.nan for im in ims], np.float64)
    v = ds.keypoints[:, :, 2]
    names = {c.id: c.name for c in ds.categories}
    cols = {
        "ann_id": ds.ann_id, "image_id": ds.image_id,
        "file_name": np.array([im.file_name for im in ims], dtype=object)[rows] if len(rows) else np.zeros(0, object),
        "width": width[rows] if len(rows) else np.zeros(0), "height": height[rows] if len(rows) else np.zeros(0),
        "split": (np.array([im.split or "" for im in ims], dtype=object)[rows] if len(rows)
                  else np.zeros(0, object)),
        "category": pd.Series(ds.category_id).map(names).to_numpy(dtype=object),
        "category_id": ds.category_id, "iscrowd": ds.iscrowd.astype(bool),
        "num_keypoints": (v > 0).sum(1), "num_visible": (v == 2).sum(1), "num_occluded": (v == 1).sum(1),
        "area": np.where(np.isnan(ds.area), ds.bbox[:, 2] * ds.bbox[:, 3], ds.area),
        "box_x": ds.bbox[:, 0], "box_y": ds.bbox[:, 1], "box_w": ds.bbox[:, 2], "box_h": ds.bbox[:, 3],
        "score": ds.score,
    }
    for k, name in enumerate(ds.category.keypoints):
        for prefix, values in (("v_", lambda k=k: v[:, k].astype(np.int8)),
                               ("x_", lambda k=k: np.where(v[:, k] > 0, ds.keypoints[:, k, 0], np.nan)),
                               ("y_", lambda k=k: np.where(v[:, k] > 0, ds.keypoints[:, k, 1], np.nan))):
            if wanted is None or prefix + name in wanted:
                cols[prefix + name] = values()
    return pd.DataFrame(cols, copy=False)
