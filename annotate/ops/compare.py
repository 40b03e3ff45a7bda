"""``annotate compare REF OTHER``: how far two annotation sets of the same images agree.

Images are matched by file name (normalised path; a name left unmatched is matched by its base
name when that is unique on both sides). Persons of one image are matched by OKS (the layout's
sigmas; pairs below ``min_oks`` are not the same person): one to one, maximising the summed OKS.
Crowd regions and persons without a labeled keypoint are left out of the matching (counted).

Per keypoint, over the matched persons: the error is the distance between the two points divided
by the square root of the REF person's area (at least 1 px); PCK at 0.05 and 0.1 of that counts
a REF-labeled keypoint that OTHER lacks as a miss. AP and AR are COCOeval's, computed by
faster-coco-eval (:func:`evaluate_ap`), with REF as ground truth and OTHER's persons as
detections. The headline use is pre-labels (OTHER) against their corrected files (REF): which
keypoints people moved most, and how far.
"""
from __future__ import annotations

import posixpath
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..dataset import KeypointDataset, keypoint_extent
from ..errors import PosekitError
from ..io import name_key
from ..notes import Notes
from ..skeletons import canonical_name, find_layout
from .oks import layout_sigmas, match_pairs, oks_areas, oks_pairs, pairs_by_image

MIN_OKS = 0.1          # pairs below are two persons, not one
PCK = (0.05, 0.1)      # PCK thresholds, as fractions of sqrt(REF area)
MOVED_PX = 1.0         # a keypoint "moved" when its two points are further apart than this
DIFFER = 0.1           # a matched keypoint "differs" (worst list, pictures) beyond this error
MAX_DETS = 20          # COCOeval's keypoint maxDets: detections scored per image
#: ``COCOeval.stats`` for keypoints, in order.
AP_NAMES = ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR", "AR50", "AR75", "AR_medium", "AR_large")


@dataclass
class Side:
    """One input as read: path, format, dataset, images folder, reading notes."""

    path: Path
    fmt: str
    ds: KeypointDataset
    images_dir: Path | None = None
    notes: Notes = field(default_factory=Notes)


@dataclass
class ImageMatch:
    """Which OTHER image is which REF image (by id), and what matched how."""

    other_to_ref: dict[int, int]
    by_base_name: int
    ref_only: list[str]
    other_only: list[str]


@dataclass
class KeypointAP:
    """COCOeval's keypoint figures: ``stats`` as ``COCOeval.stats`` (-1 where nothing was
    evaluated), named by :data:`AP_NAMES`; ``precision`` ``(T, R, 1, A, 1)`` and ``recall``
    ``(T, 1, A, 1)`` as ``COCOeval.eval`` holds them; how many detections were evaluated, and on
    how many images COCOeval scored only the :data:`MAX_DETS` with the highest scores."""

    stats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    detections: int
    truncated_images: int

    def named(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(AP_NAMES, self.stats)}


@dataclass
class Comparison:
    """Everything ``compare`` found; rows index the two datasets."""

    names: list[str]
    sigmas: np.ndarray
    defaulted: list[str]
    images: ImageMatch
    ref_rows: np.ndarray            # matched pairs: REF row, OTHER row, OKS
    other_rows: np.ndarray
    oks: np.ndarray
    ref_unmatched: np.ndarray
    other_unmatched: np.ndarray
    left_out: dict[str, Counter]    # "ref"/"other" -> reason -> persons
    table: pd.DataFrame             # one row per keypoint
    confusion: np.ndarray           # (K, 3, 3): REF v x OTHER v over matched persons
    ap: KeypointAP
    worst: list[dict[str, Any]]
    norm: np.ndarray                # sqrt(REF area) of each matched pair
    persons: dict[str, int]         # "ref"/"other" -> persons read

    @property
    def mean_oks(self) -> float:
        """Mean OKS over every compared person: a matched pair counts its OKS, a person left
        unmatched on either side 0 (NaN when neither side has a person to compare)."""
        n = len(self.oks) + len(self.ref_unmatched) + len(self.other_unmatched)
        return float(self.oks.sum() / n) if n else float("nan")

    @property
    def mean_oks_matched(self) -> float:
        return float(self.oks.mean()) if len(self.oks) else float("nan")


# --------------------------------------------------------------------------- inputs

def check_layouts(ref: Side, other: Side) -> None:
    """Refuse two sides whose keypoints are not the same names in the same order (any spelling)."""
    a, b = list(ref.ds.category.keypoints), list(other.ds.category.keypoints)
    if [canonical_name(n) for n in a] == [canonical_name(n) for n in b]:
        return
    lay = find_layout(a)
    target = lay.name if lay else "REF's layout"
    raise PosekitError(other.path, f"its keypoint layout ({_layout_words(b)}) is not REF's ({_layout_words(a)}); "
                                   f"compare needs one layout: map it first, e.g. `annotate convert {other.path} "
                                   f"-o MAPPED --to {other.fmt} --map-to {target}`")


def _layout_words(names: list[str]) -> str:
    lay = find_layout(names)
    return f"{lay.name}, {len(names)} keypoints" if lay else f"{len(names)} keypoints: {', '.join(names[:4])}..."


def _names(side: Side) -> dict[str, int]:
    out: dict[str, int] = {}
    for im in side.ds.images:
        key = name_key(im.file_name)
        if key in out:
            raise PosekitError(side.path, f"two images are named {im.file_name!r}; compare matches images by "
                                          f"file name")
        out[key] = im.id
    return out


def match_images(ref: Side, other: Side) -> ImageMatch:
    """OTHER image id -> REF image id by normalised file name; names left over on both sides
    match by base name where that base name is unique on each side."""
    rn, on = _names(ref), _names(other)
    pairs = {on[k]: rn[k] for k in on.keys() & rn.keys()}
    r_left = {k: v for k, v in rn.items() if k not in on}
    o_left = {k: v for k, v in on.items() if k not in rn}
    rb = Counter(posixpath.basename(k) for k in r_left)
    ob = Counter(posixpath.basename(k) for k in o_left)
    r_by = {posixpath.basename(k): (k, v) for k, v in r_left.items() if rb[posixpath.basename(k)] == 1}
    by_base = 0
    for k, v in list(o_left.items()):
        base = posixpath.basename(k)
        if ob[base] == 1 and base in r_by:
            rk, rv = r_by[base]
            pairs[v] = rv
            del o_left[k], r_left[rk]
            by_base += 1
    return ImageMatch(pairs, by_base, sorted(r_left), sorted(o_left))


# --------------------------------------------------------------------------- person columns

def person_boxes(ds: KeypointDataset) -> np.ndarray:
    """Each person's COCO box: given, else its labeled keypoints' extent (zeros if none)."""
    box = ds.bbox.astype(np.float64, copy=True)
    miss = np.isnan(box).any(axis=1)
    if miss.any():
        box[miss] = np.nan_to_num(keypoint_extent(ds.keypoints[miss]))
    return box


def detection_scores(ds: KeypointDataset, rows: np.ndarray) -> np.ndarray:
    """Score of each person at ``rows`` as a detection: its score, else the mean of its labeled
    keypoints' ``keypoint_scores``, else 1."""
    score = ds.score[rows].astype(np.float64, copy=True)
    miss = np.flatnonzero(np.isnan(score))
    score[miss] = 1.0
    extra, rows_l = ds.extra, rows.tolist()
    for i in [i for i in miss.tolist() if "keypoint_scores" in extra[rows_l[i]]]:
        r = rows_l[i]
        ks = extra[r].get("keypoint_scores")
        lab = ds.keypoints[r, :, 2] > 0
        try:
            vals = np.asarray(ks, dtype=np.float64)
        except (TypeError, ValueError):
            vals = None
        ok = vals is not None and vals.shape == lab.shape and lab.any() and np.isfinite(vals[lab]).all()
        score[i] = float(vals[lab].mean()) if ok else 1.0
    return score


def _results_keypoints(kps: np.ndarray) -> np.ndarray:
    """Keypoints as a results file holds them: an unlabeled point at (0, 0, 0)."""
    out = np.nan_to_num(kps.astype(np.float64, copy=True))
    out[out[:, :, 2] <= 0] = 0.0
    return out


# --------------------------------------------------------------------------- the comparison

def compare_datasets(ref: Side, other: Side, min_oks: float = MIN_OKS, worst: int = 20) -> Comparison:
    """Match images and persons, tabulate the per-keypoint agreement, evaluate AP."""
    check_layouts(ref, other)
    rds, ods = ref.ds, other.ds
    sigmas, defaulted = layout_sigmas(rds.category)
    images = match_images(ref, other)
    to_ref = images.other_to_ref
    o_img = np.array([to_ref.get(i, -1) for i in ods.image_id.tolist()], dtype=np.int64)
    r_lab = (rds.keypoints[:, :, 2] > 0).any(axis=1)
    o_lab = (ods.keypoints[:, :, 2] > 0).any(axis=1)
    r_cand = np.flatnonzero(~rds.iscrowd & r_lab)
    o_cand = np.flatnonzero((o_img >= 0) & ~ods.iscrowd & o_lab)
    area = oks_areas(rds)          # a given area as COCOeval takes it, 0 included

    ia, ib = pairs_by_image(rds.image_id[r_cand], o_img[o_cand])
    pr, po = r_cand[ia], o_cand[ib]
    sim = oks_pairs(rds.keypoints, area, ods.keypoints, sigmas, pr, po)
    m = match_pairs(pr, po, sim, rds.image_id[pr], min_oks)
    mr, mo, moks = pr[m], po[m], sim[m]

    left_out = {"ref": Counter({"crowd regions": int(rds.iscrowd.sum()),
                                "persons without a labeled keypoint": int((~rds.iscrowd & ~r_lab).sum())}),
                "other": Counter({"persons on images REF lacks": int((o_img < 0).sum()),
                                  "crowd regions": int(((o_img >= 0) & ods.iscrowd).sum()),
                                  "persons without a labeled keypoint": int(((o_img >= 0) & ~ods.iscrowd
                                                                             & ~o_lab).sum())})}
    norm = np.sqrt(np.maximum(area[mr], 1.0))
    R, O = rds.keypoints[mr], ods.keypoints[mo]
    table = keypoint_table(R, O, norm, list(rds.category.keypoints), sigmas, defaulted)
    return Comparison(
        list(rds.category.keypoints), sigmas, defaulted, images, mr, mo, moks,
        np.setdiff1d(r_cand, mr), np.setdiff1d(o_cand, mo), left_out, table, visibility_confusion(R, O),
        evaluate_ap(rds, ods, o_img, o_cand, area, sigmas), worst_pairs(ref, other, mr, mo, moks, norm, worst),
        norm, {"ref": len(rds), "other": len(ods)})


def keypoint_table(R: np.ndarray, O: np.ndarray, norm: np.ndarray, names: list[str], sigmas: np.ndarray,
                   defaulted: list[str]) -> pd.DataFrame:
    """Per keypoint over matched persons ``R``/``O`` (``(M, K, 3)``): how often each side labels it,
    the mean and median error (normalised by ``norm``) and mean pixels where both do, PCK over the
    REF-labeled ones, and the share that moved more than MOVED_PX."""
    lab_r, lab_o = R[:, :, 2] > 0, O[:, :, 2] > 0
    both = lab_r & lab_o
    px = np.where(both, np.hypot(R[:, :, 0] - O[:, :, 0], R[:, :, 1] - O[:, :, 1]), np.nan)
    err = px / norm[:, None]
    n_ref, n_both = lab_r.sum(0), both.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols: dict[str, Any] = {
            "keypoint": names, "sigma": sigmas, "sigma_default": [n in defaulted for n in names],
            "ref_labeled": n_ref, "other_labeled": lab_o.sum(0), "both_labeled": n_both,
            "only_ref": (lab_r & ~lab_o).sum(0), "only_other": (~lab_r & lab_o).sum(0),
            "mean_error": np.where(both, err, 0).sum(0) / n_both,
            "median_error": _nanmedian(err),
            "mean_px": np.where(both, px, 0).sum(0) / n_both,
            "moved": (both & (px > MOVED_PX)).sum(0) / n_both,
        }
        for a in PCK:
            cols[f"pck_{a:g}"] = (both & (err <= a)).sum(0) / n_ref
    return pd.DataFrame(cols)


def _nanmedian(x: np.ndarray) -> np.ndarray:
    if not len(x):
        return np.full(x.shape[1], np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns: NaN, said so
        return np.nanmedian(x, axis=0)


def visibility_confusion(R: np.ndarray, O: np.ndarray) -> np.ndarray:
    """``(K, 3, 3)`` counts of (REF flag, OTHER flag) per keypoint over matched persons."""
    K = R.shape[1]
    rv = np.clip(R[:, :, 2], 0, 2).astype(np.int64)
    ov = np.clip(O[:, :, 2], 0, 2).astype(np.int64)
    idx = np.arange(K)[None, :] * 9 + rv * 3 + ov
    return np.bincount(idx.ravel(), minlength=K * 9).reshape(K, 3, 3)


def evaluate_ap(rds: KeypointDataset, ods: KeypointDataset, o_img: np.ndarray, o_cand: np.ndarray,
                area: np.ndarray, sigmas: np.ndarray) -> KeypointAP:
    """COCOeval's keypoint AP/AR, computed by faster-coco-eval (``COCOeval_faster``, the same
    figures as pycocotools' ``COCOeval``: tested): every REF person on REF's images as ground
    truth (with ``area``, as one category), OTHER's compared persons (``o_cand``, on REF image ids
    ``o_img``) as detections, the layout's ``sigmas``. The COCO objects are built in memory."""
    from faster_coco_eval import COCO, COCOeval_faster

    det_img = o_img[o_cand]
    truncated = int((np.unique(det_img, return_counts=True)[1] > MAX_DETS).sum())
    gt = _ground_truth(rds, area)
    if not gt["annotations"]:      # nothing to evaluate against: COCOeval's -1 everywhere
        T, R, A = 10, 101, 3
        return KeypointAP(-np.ones(len(AP_NAMES)), -np.ones((T, R, 1, A, 1)), -np.ones((T, 1, A, 1)), len(o_cand),
                          truncated)
    coco_gt = COCO(gt)
    coco_dt = COCO({**gt, "annotations": _detections(ods, o_cand, det_img)})
    ev = COCOeval_faster(coco_gt, coco_dt, "keypoints", kpt_oks_sigmas=list(sigmas), print_function=_silent)
    ev.params.maxDets = [MAX_DETS]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return KeypointAP(np.asarray(ev.stats[:len(AP_NAMES)], dtype=np.float64), ev.eval["precision"],
                      ev.eval["recall"], len(o_cand), truncated)


def _silent(*_args: Any, **_kwargs: Any) -> None:
    """faster-coco-eval's progress lines are not ours to print."""


def _ground_truth(rds: KeypointDataset, area: np.ndarray) -> dict[str, Any]:
    """REF as a COCO ground-truth dict: its images, its persons on them as category 1 (ids
    renumbered from 1; COCOeval reads an annotation id of 0 as "unmatched"). Keypoints are numpy
    rows, not lists (faster-coco-eval reads them with ``np.array``; 150,000 lists of 51 Python
    floats took about a second more to make and free, on both sides)."""
    ids = [im.id for im in rds.images]
    on = np.flatnonzero(np.isin(rds.image_id, ids))
    kps = rds.keypoints[on].reshape(len(on), rds.keypoints.shape[1] * 3)
    kps[np.isnan(kps)] = 0.0
    rows = zip(rds.image_id[on].tolist(), rds.iscrowd[on].astype(np.int64).tolist(), kps,
               rds.num_keypoints[on].tolist(), person_boxes(rds)[on].tolist(), area[on].tolist())
    anns = [{"id": i, "image_id": img, "category_id": 1, "iscrowd": crowd, "keypoints": kp, "num_keypoints": nk,
             "bbox": box, "area": ar} for i, (img, crowd, kp, nk, box, ar) in enumerate(rows, 1)]
    return {"images": [{"id": i} for i in ids], "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}


def _detections(ods: KeypointDataset, rows: np.ndarray, image_ids: np.ndarray) -> list[dict[str, Any]]:
    """OTHER's persons at ``rows`` as detections on REF's ``image_ids``: a COCO results list as
    ``COCO.loadRes`` completes it (ids from 1; box and area: the extent of all the points,
    unlabeled ones at (0, 0) included), made here at once instead of one person at a time."""
    kps = _results_keypoints(ods.keypoints[rows])
    x0, y0 = kps[:, :, 0].min(1, initial=np.inf), kps[:, :, 1].min(1, initial=np.inf)
    w, h = kps[:, :, 0].max(1, initial=-np.inf) - x0, kps[:, :, 1].max(1, initial=-np.inf) - y0
    fields = zip(image_ids.tolist(), kps.reshape(len(rows), kps.shape[1] * 3),
                detection_scores(ods, rows).tolist(), np.column_stack([x0, y0, w, h]).tolist(), (w * h).tolist())
    return [{"id": i, "image_id": img, "category_id": 1, "keypoints": kp, "score": sc, "bbox": box, "area": ar}
            for i, (img, kp, sc, box, ar) in enumerate(fields, 1)]


def worst_pairs(ref: Side, other: Side, mr: np.ndarray, mo: np.ndarray, oks: np.ndarray, norm: np.ndarray,
                n: int) -> list[dict[str, Any]]:
    """The ``n`` matched pairs of lowest OKS, each with the keypoints that differ most."""
    order = np.lexsort((mr, oks))[:n]
    files = {im.id: im.file_name for im in ref.ds.images}
    names = list(ref.ds.category.keypoints)
    out = []
    for i in order.tolist():
        r, o = int(mr[i]), int(mo[i])
        a, b = ref.ds.keypoints[r], other.ds.keypoints[o]
        px = np.where((a[:, 2] > 0) & (b[:, 2] > 0), np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]), -1.0)
        j = int(np.argmax(px))
        out.append({"image": files.get(int(ref.ds.image_id[r]), ""), "ref_row": r, "other_row": o,
                    "ref_id": int(ref.ds.ann_id[r]), "other_id": int(other.ds.ann_id[o]), "oks": float(oks[i]),
                    "differ": differing(a, b, float(norm[i]), names),
                    "largest": {"keypoint": names[j], "error": round(float(px[j] / norm[i]), 4),
                                "px": round(float(px[j]), 2)} if px[j] >= 0 else None})
    return out


def differing(a: np.ndarray, b: np.ndarray, norm: float, names: list[str]) -> list[dict[str, Any]]:
    """The keypoints of one matched pair that differ: labeled on one side only, or further apart
    than DIFFER (normalised); moved ones first, largest error first."""
    la, lb = a[:, 2] > 0, b[:, 2] > 0
    px = np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1])
    err = px / norm
    moved = np.flatnonzero(la & lb & (err > DIFFER))
    out = [{"keypoint": names[j], "index": int(j), "what": "moved", "error": round(float(err[j]), 4),
            "px": round(float(px[j]), 2)} for j in moved[np.argsort(-err[moved], kind="stable")].tolist()]
    out += [{"keypoint": names[j], "index": int(j), "what": "only in REF"} for j in np.flatnonzero(la & ~lb).tolist()]
    out += [{"keypoint": names[j], "index": int(j), "what": "only in OTHER"} for j in np.flatnonzero(~la & lb).tolist()]
    return out


def differ_text(w: dict[str, Any], n: int = 4) -> str:
    """``left_wrist 0.31 (42 px), right_knee only in REF, ...`` (the first ``n`` differing
    keypoints of worst pair ``w``), else the largest error of the pair."""
    items = w["differ"]
    words = [f"{d['keypoint']} {d['error']:.2f} ({d['px']:.0f} px)" if d["what"] == "moved"
             else f"{d['keypoint']} {d['what']}" for d in items[:n]]
    more = f", {len(items) - n} more" if len(items) > n else ""
    if words:
        return ", ".join(words) + more
    big = w.get("largest")
    largest = f" (largest: {big['keypoint']} {big['error']:.2f}, {big['px']:.0f} px)" if big else ""
    return f"every keypoint within {DIFFER:g}{largest}"


# --------------------------------------------------------------------------- reading and reporting

def read_side(path: Path, from_: str | None, images: Path | None, layout: str | None,
              advance: Callable[[int], None] | None = None) -> Side:
    """One input read through the one reading path (:func:`converters.formats.read_dataset`)."""
    from converters.formats import Context, read_dataset

    ctx = Context(images=images, layout=layout, progress=advance)
    source, fmt = read_dataset(path, ctx, from_)
    return Side(path, fmt, source.ds, source.images_dir, ctx.notes)


def keypoint_lines(cmp: Comparison) -> list[str]:
    """The per-keypoint table as text lines."""
    t = cmp.table
    w = max([8, *map(len, cmp.names)])
    head = (f"{'keypoint':<{w}}  {'sigma':>6} {'REF':>7} {'both':>7} {'err':>7} {'median':>7} {'px':>7} "
            f"{'PCK.05':>7} {'PCK.1':>7} {'moved':>6}")
    lines = [head]
    for r in t.to_dict("records"):
        sig = f"{r['sigma']:.3f}" + ("*" if r["sigma_default"] else " ")
        lines.append(f"{r['keypoint']:<{w}}  {sig:>6} {r['ref_labeled']:>7} {r['both_labeled']:>7} "
                     f"{_f(r['mean_error'])} {_f(r['median_error'])} {_f(r['mean_px'], 1)} "
                     f"{_pct(r['pck_0.05'])} {_pct(r['pck_0.1'])} {_pct(r['moved'], 6)}")
    return lines


def _f(x: float, digits: int = 3, width: int = 7) -> str:
    return f"{'-':>{width}}" if not np.isfinite(x) else f"{x:>{width}.{digits}f}"


def _pct(x: float, width: int = 7) -> str:
    return f"{'-':>{width}}" if not np.isfinite(x) else f"{100 * x:>{width - 1}.1f}%"


def confusion_lines(cmp: Comparison) -> list[str]:
    c = cmp.confusion.sum(axis=0)
    corner = "REF \\ OTHER"
    lines = [f"{corner:<12}" + "".join(f"{'v=' + str(v):>10}" for v in range(3))]
    lines += [f"{'v=' + str(v):<12}" + "".join(f"{int(n):>10}" for n in c[v]) for v in range(3)]
    return lines


def ap_line(cmp: Comparison) -> str:
    s = cmp.ap.named()
    parts = " ".join(f"{k} {v:.3f}" if v >= 0 else f"{k} -" for k, v in s.items())
    return f"COCOeval (REF as ground truth, OTHER's {cmp.ap.detections} persons as detections): {parts}"


def account_lines(cmp: Comparison) -> list[str]:
    """Count in = count out, per side: matched + unmatched + left out (why)."""
    out = []
    for side, un in (("ref", cmp.ref_unmatched), ("other", cmp.other_unmatched)):
        name = side.upper()
        left = "; ".join(f"{n} {why}" for why, n in cmp.left_out[side].items() if n)
        out.append(f"{name}: {cmp.persons[side]} persons = {len(cmp.oks)} matched + {len(un)} only in {name}"
                   + (f" + left out: {left}" if left else ""))
    return out


def moved_line(cmp: Comparison, n: int = 3) -> str:
    """Which keypoints moved most (mean normalised error where both sides label them)."""
    t = cmp.table[cmp.table["both_labeled"] > 0].sort_values("mean_error", ascending=False, kind="stable")
    if t.empty:
        return "moved most: nothing to say (no keypoint labeled on both sides of a matched pair)"
    words = [f"{r.keypoint} {r.mean_px:.1f} px ({r.mean_error:.3f} of person size; {100 * r.moved:.0f}% moved)"
             for r in t.head(n).itertuples()]
    least = t.iloc[-1]
    return (f"moved most (mean over matched persons): {', '.join(words)}; least: {least.keypoint} "
            f"{least.mean_px:.1f} px ({least.mean_error:.3f})")


def oks_line(cmp: Comparison) -> str:
    if not np.isfinite(cmp.mean_oks):
        return "mean OKS: - (no person to compare on either side)"
    return (f"mean OKS {cmp.mean_oks:.3f} over {len(cmp.oks) + len(cmp.ref_unmatched) + len(cmp.other_unmatched)} "
            f"persons (an unmatched person counts 0; {_f(cmp.mean_oks_matched, 3, 0)} over the {len(cmp.oks)} "
            f"matched pairs); AP {_ap(cmp, 'AP')}, AR {_ap(cmp, 'AR')}")


def _ap(cmp: Comparison, key: str) -> str:
    v = cmp.ap.named()[key]
    return f"{v:.3f}" if v >= 0 else "-"


def to_json(cmp: Comparison, ref: Side, other: Side) -> dict[str, Any]:
    """compare.json: the figures, the per-keypoint table, the confusion, the worst pairs, the
    unmatched persons."""
    def persons(side: Side, rows: np.ndarray) -> list[dict[str, Any]]:
        files = {im.id: im.file_name for im in side.ds.images}
        return [{"image": files.get(int(side.ds.image_id[r]), ""), "id": int(side.ds.ann_id[r]),
                 "labeled": int((side.ds.keypoints[r, :, 2] > 0).sum())} for r in rows.tolist()]

    table = cmp.table.astype(object).where(cmp.table.notna(), None)
    return {
        "ref": {"path": str(ref.path), "format": ref.fmt, "persons": len(ref.ds), "images": len(ref.ds.images)},
        "other": {"path": str(other.path), "format": other.fmt, "persons": len(other.ds),
                  "images": len(other.ds.images)},
        "images": {"matched": len(cmp.images.other_to_ref), "matched_by_base_name": cmp.images.by_base_name,
                   "only_ref": cmp.images.ref_only, "only_other": cmp.images.other_only},
        "normaliser": "sqrt of the REF person's area (at least 1 px)",
        "sigmas_defaulted": cmp.defaulted,
        "mean_oks": cmp.mean_oks if np.isfinite(cmp.mean_oks) else None,
        "mean_oks_matched": cmp.mean_oks_matched if np.isfinite(cmp.mean_oks_matched) else None,
        "matched": len(cmp.oks), "left_out": {k: dict(v) for k, v in cmp.left_out.items()},
        "cocoeval": cmp.ap.named(), "truncated_images": cmp.ap.truncated_images,
        "keypoints": table.to_dict(orient="records"),
        "visibility_confusion": {"rows": "REF v", "columns": "OTHER v", "total": cmp.confusion.sum(0).tolist(),
                                 "per_keypoint": {n: c.tolist() for n, c in zip(cmp.names, cmp.confusion)}},
        "worst": [{k: v for k, v in w.items() if not k.endswith("_row")} for w in cmp.worst],
        "only_ref": persons(ref, cmp.ref_unmatched), "only_other": persons(other, cmp.other_unmatched),
    }


def sigma_line(cmp: Comparison, category_keypoints: list[str]) -> str:
    from ..training_config import DEFAULT_SIGMA, PUBLISHED

    lay = find_layout(category_keypoints)
    if lay is not None and lay.name in PUBLISHED:
        return f"OKS sigmas: {lay.name}'s published values"
    if not cmp.defaulted:
        return "OKS sigmas: COCO's, by keypoint name"
    return (f"OKS sigmas: COCO's for the keypoints COCO has; the stated default {DEFAULT_SIGMA:g} (COCO's shoulder) "
            f"for the {len(cmp.defaulted)} others (marked *): {', '.join(cmp.defaulted)}")


def report_lines(cmp: Comparison, ref: Side, other: Side, show: int) -> list[str]:
    """Everything printed before the closing lines."""
    im = cmp.images
    lines = [f"REF   {ref.path} ({ref.fmt}): {len(ref.ds)} persons on {len(ref.ds.images)} images; reading: "
             f"{ref.notes.line()}",
             f"OTHER {other.path} ({other.fmt}): {len(other.ds)} persons on {len(other.ds.images)} images; "
             f"reading: {other.notes.line()}",
             f"images: {len(im.other_to_ref)} matched by file name"
             + (f" ({im.by_base_name} by base name alone)" if im.by_base_name else "")
             + f", {len(im.ref_only)} only in REF, {len(im.other_only)} only in OTHER",
             sigma_line(cmp, list(ref.ds.category.keypoints)), "",
             f"per keypoint over {len(cmp.oks)} matched persons (err = distance / sqrt(REF person area), mean and "
             f"median where both label it; px = mean pixels; PCK over REF-labeled keypoints, one OTHER lacks is a "
             f"miss; moved = further than {MOVED_PX:g} px):", *keypoint_lines(cmp), "",
             "visibility flags over matched persons, all keypoints (0 unlabeled, 1 occluded, 2 visible):",
             *confusion_lines(cmp), "", ap_line(cmp)]
    if cmp.ap.truncated_images:
        top = MAX_DETS
        lines.append(f"  ({cmp.ap.truncated_images} images have more than {top} OTHER persons: COCOeval scores only "
                     f"the {top} with the highest scores)")
    if cmp.worst[:show]:
        lines += ["", "worst disagreements (lowest OKS first; keypoint error as a fraction of person size):"]
        lines += [f"  OKS {w['oks']:.3f}  {w['image']}  REF #{w['ref_id']} / OTHER #{w['other_id']}: "
                  f"{differ_text(w)}" for w in cmp.worst[:show]]
    for name, side, rows in (("REF", ref, cmp.ref_unmatched), ("OTHER", other, cmp.other_unmatched)):
        if len(rows):
            files = {i.id: i.file_name for i in side.ds.images}
            shown = ", ".join(f"{files.get(int(side.ds.image_id[r]), '')} #{int(side.ds.ann_id[r])}"
                              for r in rows[:show].tolist())
            lines.append(f"only in {name} ({len(rows)}): {shown}" + (", ..." if len(rows) > show else ""))
    return lines + ["", *account_lines(cmp)]


def compare_command(ref_path: Path, other_path: Path, *, from_ref: str | None = None,
                    from_other: str | None = None, images: Path | None = None, layout: str | None = None,
                    report: Path | None = None, fail_below: float | None = None, worst: int = 10,
                    min_oks: float = MIN_OKS, overwrite: bool = False) -> int:
    """The body of ``annotate compare``: read, compare, print, write the report; the exit code."""
    from converters.formats import Output, write_output

    from .. import console

    if report is not None and (report / "index.html").exists() and not overwrite:
        raise PosekitError(report / "index.html", "already exists; nothing written; pass --overwrite to replace it")
    with console.progress("reading", None, "files") as advance:
        ref = read_side(ref_path, from_ref, images, layout, advance)
        other = read_side(other_path, from_other, images, layout, advance)
    cmp = compare_datasets(ref, other, min_oks, worst)
    if not cmp.images.other_to_ref and ref.ds.images and other.ds.images:
        console.warning(f"no image of OTHER has a file name REF has (e.g. {cmp.images.ref_only[0]!r} in REF, "
                        f"{cmp.images.other_only[0]!r} in OTHER): are they annotations of the same images?")
    for line in report_lines(cmp, ref, other, worst):
        console.info(line)
    if report is not None:
        from .compare_page import report_files

        pictures_from = images or ref.images_dir or other.images_dir
        write_output(Output(report, report_files(cmp, ref, other, pictures_from, worst), folder=True), overwrite)
        console.info(f"report: {report / 'index.html'} (open it in a browser), compare.json, keypoints.csv")
    print(oks_line(cmp))
    print(moved_line(cmp))
    if fail_below is not None and np.isfinite(cmp.mean_oks) and cmp.mean_oks < fail_below:
        print(f"FAIL: mean OKS {cmp.mean_oks:.3f} is below --fail-below {fail_below:g}")
        return 1
    return 0
