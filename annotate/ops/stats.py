"""``annotate stats``: what a dataset holds, counted column-wise over the one dataset model.

Images, persons, crowd regions, persons per image, per keypoint how often it is labeled,
visible and occluded, keypoints per person, person sizes (COCO's small / medium / large areas),
image sizes, layout and categories; and, for the report page, where each keypoint lies in its
person's box. Persons are the annotations that are not crowd regions (``iscrowd``); crowd
regions are counted apart and left out of every per-person number.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dataset import KeypointDataset

if TYPE_CHECKING:
    from converters.formats import Context

#: COCO's area ranges (``areaRng`` of COCOeval): small < 32^2 <= medium < 96^2 <= large.
SMALL_AREA, LARGE_AREA = 32.0 ** 2, 96.0 ** 2
#: Persons-per-image buckets: (label, first, last) with ``last`` None for open-ended.
PER_IMAGE_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5-9", 5, 9),
                     ("10-19", 10, 19), ("20+", 20, None))
#: The heat maps' range in normalised box coordinates (0..1 is the box) and bins per side.
HEAT_RANGE, HEAT_BINS = (-0.2, 1.2), 28


@dataclass
class DatasetStats:
    """The numbers (``numbers``: what stats.json holds) and the columns the plots draw."""

    numbers: dict[str, Any]
    keypoints: list[str]
    persons_per_image: np.ndarray      # (images,) persons on each image
    keypoints_per_person: np.ndarray   # (persons,) labeled keypoints of each person
    person_area: np.ndarray            # (persons,) area, NaN where unknown
    image_sizes: np.ndarray            # (distinct, 3) width, height, images of that size
    heat: np.ndarray                   # (K, bins, bins) where each keypoint lies in its box (keypoint_heat)


def dataset_stats(src: Path, ctx: "Context", from_: str | None = None) -> DatasetStats:
    """Read ``src`` (as every command reads) and count it; with ``ctx.images``, image sizes the
    source lacks are read from the image files."""
    from converters.formats import fill_image_sizes, read_dataset

    source, fmt = read_dataset(src, ctx, from_)
    if ctx.images is not None:
        fill_image_sizes(source.ds, ctx.images, fmt, src)
    return compute_stats(source.ds, str(src), fmt)


def compute_stats(ds: KeypointDataset, source: str = "", fmt: str = "") -> DatasetStats:
    """Every number of ``annotate stats`` for ``ds`` (read from ``source`` as ``fmt``)."""
    crowd = ds.iscrowd.astype(bool)
    persons = ~crowd
    kps = ds.keypoints[persons]
    per_image = persons_per_image(ds, persons)
    n_kps = (kps[:, :, 2] > 0).sum(axis=1)
    area = person_areas(ds)[persons]
    sizes = image_size_counts(ds)
    names = list(ds.category.keypoints)
    numbers = {
        "source": source, "format": fmt,
        "layout": {"name": ds.category.layout.name, "keypoints": len(names), "names": names,
                   "limbs": len(ds.category.skeleton)},
        "categories": category_numbers(ds, persons),
        "images": image_numbers(ds, per_image, sizes),
        "persons": person_numbers(ds, persons, n_kps, per_image),
        "crowd_regions": int(crowd.sum()),
        "persons_per_image": bucket_numbers(per_image),
        "keypoints_per_person": np.bincount(n_kps, minlength=len(names) + 1).tolist(),
        "person_sizes": size_numbers(area),
        "per_keypoint": keypoint_numbers(kps, names),
    }
    heat, outside = keypoint_heat(kps, ds.bbox[persons])
    for row, n in zip(numbers["per_keypoint"], outside.tolist()):
        row["outside_box"] = n
    return DatasetStats(numbers, names, per_image, n_kps, area, sizes, heat)


def persons_per_image(ds: KeypointDataset, persons: np.ndarray) -> np.ndarray:
    """Persons (rows where ``persons``) on each image of ``ds.images``, in order."""
    from converters.formats import image_rows

    if not ds.images:
        return np.zeros(0, np.int64)
    rows = image_rows(ds)[persons]
    return np.bincount(rows, minlength=len(ds.images))


def person_areas(ds: KeypointDataset) -> np.ndarray:
    """Each annotation's area: its ``area``, else its box's; NaN where neither is known."""
    box = ds.bbox[:, 2] * ds.bbox[:, 3]
    return np.where(np.isnan(ds.area), box, ds.area)


def image_size_counts(ds: KeypointDataset) -> np.ndarray:
    """Distinct known image sizes: rows ``(width, height, images)``, most common first."""
    wh = np.array([(im.width, im.height) for im in ds.images if im.width and im.height], np.int64).reshape(-1, 2)
    if not len(wh):
        return np.zeros((0, 3), np.int64)
    sizes, counts = np.unique(wh, axis=0, return_counts=True)
    order = np.lexsort((sizes[:, 1], sizes[:, 0], -counts))
    return np.column_stack([sizes[order], counts[order]])


def image_numbers(ds: KeypointDataset, per_image: np.ndarray, sizes: np.ndarray) -> dict[str, Any]:
    known = int(sizes[:, 2].sum())
    out: dict[str, Any] = {"count": len(ds.images), "with_persons": int((per_image > 0).sum()),
                           "without_persons": int((per_image == 0).sum()), "size_known": known,
                           "size_unknown": len(ds.images) - known, "distinct_sizes": len(sizes),
                           "most_common_sizes": [{"width": int(w), "height": int(h), "images": int(n)}
                                                 for w, h, n in sizes[:5]]}
    if known:
        w = np.repeat(sizes[:, 0], sizes[:, 2])
        h = np.repeat(sizes[:, 1], sizes[:, 2])
        out["width"] = {"min": int(w.min()), "median": float(np.median(w)), "max": int(w.max())}
        out["height"] = {"min": int(h.min()), "median": float(np.median(h)), "max": int(h.max())}
    splits = Counter(im.split for im in ds.images if im.split)
    if splits:
        out["splits"] = dict(sorted(splits.items()))
    return out


def person_numbers(ds: KeypointDataset, persons: np.ndarray, n_kps: np.ndarray,
                   per_image: np.ndarray) -> dict[str, Any]:
    score = ds.score[persons]
    has_score = ~np.isnan(score)
    return {"count": int(persons.sum()), "without_keypoints": int((n_kps == 0).sum()),
            "keypoints_mean": float(n_kps.mean()) if len(n_kps) else 0.0,
            "per_image_mean": float(per_image.mean()) if len(per_image) else 0.0,
            "per_image_max": int(per_image.max()) if len(per_image) else 0,
            "with_score": int(has_score.sum()),
            "score_mean": float(score[has_score].mean()) if has_score.any() else None}


def bucket_numbers(per_image: np.ndarray) -> list[dict[str, Any]]:
    """Images per persons-per-image bucket (:data:`PER_IMAGE_BUCKETS`)."""
    out = []
    for label, lo, hi in PER_IMAGE_BUCKETS:
        inside = (per_image >= lo) if hi is None else ((per_image >= lo) & (per_image <= hi))
        out.append({"persons": label, "images": int(inside.sum())})
    return out


def size_numbers(area: np.ndarray) -> dict[str, int]:
    """Persons per COCO area range, and those of unknown area."""
    known = ~np.isnan(area)
    a = area[known]
    return {"small": int((a < SMALL_AREA).sum()), "medium": int(((a >= SMALL_AREA) & (a < LARGE_AREA)).sum()),
            "large": int((a >= LARGE_AREA).sum()), "unknown": int((~known).sum())}


def keypoint_numbers(kps: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """Per keypoint: persons with it labeled (v > 0), visible (v = 2) and occluded (v = 1)."""
    v = kps[:, :, 2]
    labeled, visible, occluded = (v > 0).sum(0), (v == 2).sum(0), (v == 1).sum(0)
    return [{"name": n, "labeled": int(a), "visible": int(b), "occluded": int(c)}
            for n, a, b, c in zip(names, labeled.tolist(), visible.tolist(), occluded.tolist())]


def category_numbers(ds: KeypointDataset, persons: np.ndarray) -> list[dict[str, Any]]:
    ids = np.array([c.id for c in ds.categories], np.int64)
    out = []
    for c, cid in zip(ds.categories, ids.tolist()):
        mine = ds.category_id == cid
        out.append({"id": cid, "name": c.name, "persons": int((mine & persons).sum()),
                    "crowd_regions": int((mine & ~persons).sum())})
    return out


def keypoint_heat(kps: np.ndarray, bbox: np.ndarray, bins: int = HEAT_BINS,
                  span: tuple[float, float] = HEAT_RANGE) -> tuple[np.ndarray, np.ndarray]:
    """Where each keypoint lies in its person's box: ``(K, bins, bins)`` counts over normalised box
    coordinates (0..1 spans the box; rows are y, downwards) within ``span``, and per keypoint how
    many labeled points lie outside the box. Persons without a box of positive size are left out."""
    K = kps.shape[1]
    ok = np.isfinite(bbox).all(axis=1) & (bbox[:, 2] > 0) & (bbox[:, 3] > 0)
    b = bbox[ok]
    k = kps[ok]
    u = (k[:, :, 0] - b[:, 0:1]) / b[:, 2:3]
    v = (k[:, :, 1] - b[:, 1:2]) / b[:, 3:4]
    lab = k[:, :, 2] > 0
    outside = (lab & ((u < 0) | (u > 1) | (v < 0) | (v > 1))).sum(axis=0)
    lo, hi = span
    inside = lab & (u >= lo) & (u < hi) & (v >= lo) & (v < hi)
    iu = ((np.where(inside, u, lo) - lo) / (hi - lo) * bins).astype(np.int64)
    iv = ((np.where(inside, v, lo) - lo) / (hi - lo) * bins).astype(np.int64)
    which = np.broadcast_to(np.arange(K), lab.shape)
    flat = (which * bins + iv) * bins + iu
    heat = np.bincount(flat[inside], minlength=K * bins * bins).reshape(K, bins, bins)
    return heat, outside


# --------------------------------------------------------------------------- the terminal

def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _spread(items: list[tuple[str, int]]) -> str:
    return " · ".join(f"{k}: {n:,}" for k, n in items)


def overview_rows(st: DatasetStats) -> list[tuple[str, str]]:
    """(what, value) lines of the overview table."""
    n = st.numbers
    lay, im, ps, sz = n["layout"], n["images"], n["persons"], n["person_sizes"]
    rows = [("layout", f"{lay['name']}: {lay['keypoints']} keypoints, {lay['limbs']} limbs"),
            ("categories", "; ".join(f"{c['name']} (id {c['id']}): {c['persons']:,} persons"
                                     + (f", {c['crowd_regions']:,} crowd regions" if c["crowd_regions"] else "")
                                     for c in n["categories"])),
            ("images", f"{im['count']:,} ({im['with_persons']:,} with persons, {im['without_persons']:,} without)"),
            ("image sizes", image_size_line(im))]
    if "splits" in im:
        rows.append(("splits", _spread(list(im["splits"].items()))))
    rows += [("persons", f"{ps['count']:,} ({ps['without_keypoints']:,} without a labeled keypoint"
                         + (f"; {ps['with_score']:,} with a score, mean {ps['score_mean']:.3f}" if ps["with_score"]
                            else "") + ")"),
             ("crowd regions", f"{n['crowd_regions']:,}"),
             ("persons per image", f"mean {ps['per_image_mean']:.2f}, max {ps['per_image_max']}; images with "
                                   + _spread([(b["persons"], b["images"]) for b in n["persons_per_image"]])),
             ("keypoints per person", f"mean {ps['keypoints_mean']:.2f} of {lay['keypoints']}; persons with "
                                      + _spread([(str(k), c) for k, c in enumerate(n["keypoints_per_person"]) if c])),
             ("person sizes", "; ".join(f"{k} {v:,} ({_pct(v, ps['count'])})" for k, v in sz.items()
                                        if k != "unknown" or v)
              + "  (COCO areas: small < 32², medium < 96², large)")]
    return rows


def image_size_line(im: dict[str, Any]) -> str:
    if not im["size_known"]:
        return f"unknown for all {im['count']:,} (pass --images DIR to read them)"
    common = ", ".join(f"{s['width']}x{s['height']} ({s['images']:,})" for s in im["most_common_sizes"][:3])
    w, h = im["width"], im["height"]
    line = (f"{im['distinct_sizes']:,} distinct, most common {common}; width {w['min']}-{w['max']} "
            f"(median {w['median']:g}), height {h['min']}-{h['max']} (median {h['median']:g})")
    if im["size_unknown"]:
        line += f"; {im['size_unknown']:,} unknown (pass --images DIR to read them)"
    return line


def stats_tables(st: DatasetStats, title: str) -> list[Any]:
    """The overview and the per-keypoint table, as rich tables."""
    from rich.table import Table

    over = Table(title=title, show_header=False, title_justify="left")
    over.add_column(style="bold")
    over.add_column()
    for what, value in overview_rows(st):
        over.add_row(what, value)
    total = st.numbers["persons"]["count"]
    kp = Table(title=f"per keypoint, of {total:,} persons", title_justify="left")
    kp.add_column("keypoint")
    for col in ("labeled", "%", "visible", "%", "occluded", "%", "outside box"):
        kp.add_column(col, justify="right")
    for r in st.numbers["per_keypoint"]:
        kp.add_row(r["name"], f"{r['labeled']:,}", _pct(r["labeled"], total), f"{r['visible']:,}",
                   _pct(r["visible"], total), f"{r['occluded']:,}", _pct(r["occluded"], total),
                   f"{r['outside_box']:,}")
    return [over, kp]


def summary_line(st: DatasetStats) -> str:
    """The one closing line (printed under --quiet too)."""
    n = st.numbers
    return (f"{n['source']} ({n['format']}): {n['images']['count']:,} images, {n['persons']['count']:,} persons, "
            f"{n['crowd_regions']:,} crowd regions, {n['layout']['keypoints']} keypoints ({n['layout']['name']})")
