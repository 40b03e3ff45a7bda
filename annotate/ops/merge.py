"""``annotate merge A B [C ...] -o DST``: several annotation sets as one.

Inputs are merged in order, each into what the earlier ones made:

- **images** are the same image when their file names are (normalised relative paths); their
  sizes must then agree (else PosekitError naming both inputs and the image); a size or split
  one input lacks is taken from the other.
- **ids**: the first input's image, person and category ids are kept. A later input's id is kept
  when no earlier input used it; otherwise it becomes the next free id (one more than the largest
  id so far, in the input's order). An image found in an earlier input takes that image's id.
- **categories** must have the same keypoint names (the same layout; ``map_to`` maps every input
  to one layout first). Categories of the same name are one; when both sides hold one category
  each, they are one whatever their names.
- **persons** of one image found in two inputs (same category, both crowd or both not) are one
  person when their OKS (:mod:`annotate.ops.oks`, the earlier input's person as reference, the
  layout's sigmas) is at least ``threshold``; persons without a labeled keypoint (crowd regions,
  boxes only) by their boxes' IoU instead. Matching is one to one (Hungarian where a person has
  several candidates). ``on_duplicate`` decides which of a pair stays.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..dataset import Category, ImageInfo, KeypointDataset
from ..errors import PosekitError
from ..io import relative_name
from ..notes import Notes
from .oks import layout_sigmas, match_pairs, oks_areas, oks_pairs, pairs_by_image

ON_DUPLICATE = ("keep-first", "keep-last", "keep-both", "most-labeled")

#: Default OKS at or above which two persons of one image are one person. The same person
#: labelled twice scores above it: copies, corrections of a pixel or two on a person of ordinary
#: size (say 50 px or more across), and two annotators labelling independently (0.8 to 0.9 on
#: average: COCO's sigmas are the spread of such labels). Two different persons essentially never
#: do: it takes every labeled keypoint within annotation noise of the other's. Tiny persons score
#: lower for the same shift in pixels; 0.9 keeps only near-copies together.
DEFAULT_OKS = 0.7


@dataclass
class MergeStats:
    """What merging found: images in more than one input, duplicate pairs, and what was done."""

    inputs: int = 0
    images_shared: int = 0
    duplicates: int = 0
    dropped: int = 0
    replaced: int = 0
    persons_in: int = 0
    notes: Notes = field(default_factory=Notes)

    def line(self, on_duplicate: str, threshold: float) -> str:
        """The duplicates part of the closing line."""
        if not self.duplicates:
            return f"no duplicate persons (OKS >= {threshold:g})"
        done = {"keep-first": "the earlier kept",
                "keep-last": "the later kept",
                "keep-both": "both kept",
                "most-labeled": f"the one with more labeled keypoints kept (the later one {self.replaced:,} "
                                f"times)"}[on_duplicate]
        return f"{self.duplicates:,} duplicate persons (OKS >= {threshold:g}): {done}, {self.dropped:,} dropped"


# --------------------------------------------------------------------------- the whole merge

def merge_datasets(datasets: list[KeypointDataset], owners: list[Path], on_duplicate: str = "keep-first",
                   threshold: float = DEFAULT_OKS) -> tuple[KeypointDataset, MergeStats]:
    """The datasets merged in order (see the module's rules); ``owners`` name them in messages.
    Persons dropped as duplicates are counted in ``stats.notes`` (unit persons)."""
    check_merge_options(on_duplicate, threshold)
    first = datasets[0]
    for ds, owner in zip(datasets[1:], owners[1:]):
        if list(ds.category.keypoints) != list(first.category.keypoints):
            raise PosekitError(owner, f"its keypoints ({_names(ds)}) are not those of {owners[0]} ({_names(first)}); "
                                      f"pass --map-to LAYOUT to map every input to one layout")
    stats = MergeStats(len(datasets), persons_in=sum(len(ds) for ds in datasets))
    sigmas, _ = layout_sigmas(first.category)
    keys = {}
    for im in first.images:
        keys.setdefault(relative_name(im.file_name, "image file_name", owners[0]), (im, owners[0]))
    merged = first  # read, never changed: each step makes a new dataset
    for ds, owner in zip(datasets[1:], owners[1:]):
        merged = _merge_one(merged, ds, owner, keys, sigmas, on_duplicate, threshold, stats)
    if len(merged) + stats.notes.dropped("persons") != stats.persons_in:
        raise PosekitError(owners[0], f"merging: {stats.persons_in} persons read, {len(merged)} kept and "
                                      f"{stats.notes.dropped('persons')} counted as dropped: a posekit bug; "
                                      f"nothing written (please report it with the files)")
    return merged, stats


def check_merge_options(on_duplicate: str, threshold: float) -> None:
    if on_duplicate not in ON_DUPLICATE:
        raise PosekitError(None, f"--on-duplicate must be one of {', '.join(ON_DUPLICATE)}, not {on_duplicate!r}")
    if not 0 < threshold <= 1:
        raise PosekitError(None, f"--oks must be above 0 and at most 1, not {threshold:g}")


def _names(ds: KeypointDataset) -> str:
    kps = ds.category.keypoints
    return ", ".join(kps[:3]) + (", ..." if len(kps) > 3 else "") + f"; {len(kps)} keypoints"


def _merge_one(base: KeypointDataset, ds: KeypointDataset, owner: Path, keys: dict, sigmas: np.ndarray,
               on_duplicate: str, threshold: float, stats: MergeStats) -> KeypointDataset:
    """``ds`` merged into ``base`` (``keys``: normalised file name -> (image, input), updated)."""
    images, id_map = _merge_images(base, ds, owner, keys, stats)
    categories, cat_map = _merge_categories(base.categories, ds.categories)
    new = replace(ds, image_id=_lookup(id_map, ds.image_id), category_id=_lookup(cat_map, ds.category_id))
    ia, jb = find_duplicates(base, new, sigmas, threshold)
    base, drop = _resolve(base, new, ia, jb, on_duplicate, threshold, stats)
    keep = new.subset(~drop)
    keep.ann_id = fresh_ids(keep.ann_id, base.ann_id)
    _note_unmerged(base, ds, owner, stats.notes)
    return _concat(base, keep, images, categories)


def _note_unmerged(base: KeypointDataset, ds: KeypointDataset, owner: Path, notes: Notes) -> None:
    """Count what a later input holds that merging leaves out: the first input's file-level fields
    (COCO info, licenses, other top-level keys) and annotations of categories without keypoints
    are the ones kept."""
    notes.lost(f"annotations of categories without keypoints in {owner.name} (the first input's are kept)",
               len(ds.other_annotations))
    for what, mine, first in (("COCO info", ds.info, base.info), ("COCO licenses", ds.licenses, base.licenses),
                              ("top-level fields", ds.top_extra, base.top_extra)):
        if mine and mine != first:
            notes.lost(f"{what} of {owner.name} (the first input's are kept)", 1)


def _lookup(pairs: dict[int, int], ids: np.ndarray) -> np.ndarray:
    """``ids`` mapped through ``pairs`` (every id is a key)."""
    if not pairs:
        return ids.copy()
    src = np.fromiter(pairs, np.int64, len(pairs))
    dst = np.fromiter(pairs.values(), np.int64, len(pairs))
    order = np.argsort(src)
    pos = np.clip(np.searchsorted(src[order], ids), 0, len(src) - 1)
    if len(ids) and (src[order][pos] != ids).any():
        raise ValueError("an id with no mapping")  # a reader gave a person of an image it does not hold
    return dst[order][pos]


def fresh_ids(ids: np.ndarray, used: np.ndarray) -> np.ndarray:
    """``ids`` kept where no earlier id (``used``) nor an earlier one of ``ids`` has the value;
    the others numbered on from the largest id so far."""
    ids = np.asarray(ids, dtype=np.int64)
    clash = np.isin(ids, used)
    _, first = np.unique(ids, return_index=True)
    repeated = np.ones(len(ids), bool)
    repeated[first] = False
    clash |= repeated
    if not clash.any():
        return ids
    start = max(int(np.max(used, initial=0)), int(np.max(ids, initial=0))) + 1
    out = ids.copy()
    out[clash] = start + np.arange(int(clash.sum()))
    return out


def _merge_images(base: KeypointDataset, ds: KeypointDataset, owner: Path, keys: dict,
                  stats: MergeStats) -> tuple[list[ImageInfo], dict[int, int]]:
    """The merged image list and each of ``ds``'s image ids -> its merged id."""
    images = list(base.images)
    id_map: dict[int, int] = {}
    added: list[ImageInfo] = []
    split_conflicts = 0
    for im in ds.images:
        key = im.file_name  # a key is a normalised name: a name equal to one needs no normalising
        hit = keys.get(key)
        if hit is None:
            key = relative_name(key, "image file_name", owner)
            hit = keys.get(key)
        if hit is None:
            copy = ImageInfo(im.id, im.file_name, im.width, im.height, dict(im.extra), im.split)
            keys[key] = (copy, owner)
            added.append(copy)
            continue
        old, old_owner = hit
        _check_same_size(old, old_owner, im, owner)
        old.width, old.height = old.width or im.width, old.height or im.height
        split_conflicts += bool(old.split and im.split and old.split != im.split)
        old.split = old.split or im.split
        id_map[im.id] = old.id
        stats.images_shared += 1
    new_ids = fresh_ids(np.array([im.id for im in added], np.int64), np.array([im.id for im in images], np.int64))
    for im, new_id in zip(added, new_ids.tolist()):
        id_map[im.id] = new_id
        im.id = new_id
    stats.notes.changed("images named in different splits by different inputs (the earlier input's split kept)",
                        split_conflicts)
    return images + added, id_map


def _check_same_size(old: ImageInfo, old_owner: Path, im: ImageInfo, owner: Path) -> None:
    if old.width and old.height and im.width and im.height and (old.width, old.height) != (im.width, im.height):
        raise PosekitError(owner, f"image {im.file_name!r} is {im.width}x{im.height} here but {old.width}x"
                                  f"{old.height} in {old_owner}: the same file name must be the same image")


def _merge_categories(base: list[Category], cats: list[Category]) -> tuple[list[Category], dict[int, int]]:
    """The merged categories and each of ``cats``' ids -> its merged id."""
    out = list(base)
    by_name = {c.name: c for c in base}
    used = [c.id for c in base]
    cat_map: dict[int, int] = {}
    for c in cats:
        same = by_name.get(c.name) or (base[0] if len(base) == 1 and len(cats) == 1 else None)
        if same is None:
            new_id = c.id if c.id not in used else max(used) + 1
            same = Category(new_id, c.name, list(c.keypoints), list(c.skeleton), dict(c.extra))
            out.append(same)
            by_name[c.name] = same
            used.append(new_id)
        cat_map[c.id] = same.id
    return out, cat_map


# --------------------------------------------------------------------------- duplicates

def find_duplicates(a: KeypointDataset, b: KeypointDataset, sigmas: np.ndarray,
                    threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` and ``b`` (image and category ids in one id space) that are one person:
    same image, category and crowd flag, OKS (``a``'s person as reference) or, for persons
    without a labeled keypoint, box IoU at least ``threshold``; matched one to one."""
    ia, jb = pairs_by_image(a.image_id, b.image_id)
    same = (a.category_id[ia] == b.category_id[jb]) & (a.iscrowd[ia] == b.iscrowd[jb])
    ia, jb = ia[same], jb[same]
    sim = pair_similarity(a, b, ia, jb, sigmas)
    m = match_pairs(ia, jb, sim, a.image_id[ia], threshold)
    return ia[m], jb[m]


def pair_similarity(a: KeypointDataset, b: KeypointDataset, ia: np.ndarray, jb: np.ndarray,
                    sigmas: np.ndarray) -> np.ndarray:
    """Similarity of each pair (``a[ia]``, ``b[jb]``): OKS where ``a``'s person has a labeled
    keypoint, box IoU where neither has one, else 0."""
    has_a = (a.keypoints[..., 2] > 0).any(1)
    has_b = (b.keypoints[..., 2] > 0).any(1)
    sim = np.zeros(len(ia))
    kp = has_a[ia]
    area = oks_areas(a, zero_is_missing=True)       # an area of 0 is one left unset
    sim[kp] = oks_pairs(a.keypoints, area, b.keypoints, sigmas, ia[kp], jb[kp])
    box = np.flatnonzero(~kp & ~has_b[jb])
    sim[box] = box_iou(a.bbox[ia[box]], b.bbox[jb[box]])
    return sim


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of pairs of ``[x, y, w, h]`` boxes; equal empty boxes 1, missing (NaN) boxes 0."""
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, (a == b).all(1))
    return np.nan_to_num(iou, nan=0.0)


def _resolve(base: KeypointDataset, new: KeypointDataset, ia: np.ndarray, jb: np.ndarray, on_duplicate: str,
             threshold: float, stats: MergeStats) -> tuple[KeypointDataset, np.ndarray]:
    """Apply ``on_duplicate`` to the pairs: ``base`` with the rows a later duplicate replaces (in
    place of the earlier one: its position and ids stay), and the mask of ``new``'s rows dropped."""
    drop = np.zeros(len(new), bool)
    stats.duplicates += len(ia)
    if on_duplicate == "keep-both" or not len(ia):
        return base, drop
    drop[jb] = True
    if on_duplicate == "keep-first":
        replace = np.zeros(len(ia), bool)
        why = "persons found again in a later input (OKS >= {t}; --on-duplicate keep-first: the earlier kept)"
    elif on_duplicate == "keep-last":
        replace = np.ones(len(ia), bool)
        why = "persons replaced by their duplicate in a later input (OKS >= {t}; --on-duplicate keep-last)"
    else:
        replace = new.num_keypoints[jb] > base.num_keypoints[ia]
        why = "duplicate persons with fewer labeled keypoints than the other (OKS >= {t}; --on-duplicate most-labeled)"
    stats.dropped += len(ia)
    stats.replaced += int(replace.sum())
    stats.notes.lost(why.format(t=f"{threshold:g}"), len(ia), unit="persons")
    if replace.any():
        base = _replace_rows(base, new, ia[replace], jb[replace])
    return base, drop


def _replace_rows(base: KeypointDataset, new: KeypointDataset, ia: np.ndarray, jb: np.ndarray) -> KeypointDataset:
    """``base`` with rows ``ia`` taking the values of ``new``'s rows ``jb`` (ids, image and
    category stay the earlier row's)."""
    out = base.subset(slice(None))
    for name in ("keypoints", "bbox", "area", "iscrowd", "score", "iscrowd_given"):
        getattr(out, name)[ia] = getattr(new, name)[jb]
    for i, j in zip(ia.tolist(), jb.tolist()):
        out.extra[i] = new.extra[j]
    return out


def _concat(base: KeypointDataset, add: KeypointDataset, images: list[ImageInfo],
            categories: list[Category]) -> KeypointDataset:
    """``base``'s rows then ``add``'s, over ``images`` and ``categories`` (dataset-level fields:
    ``base``'s)."""
    cat = lambda name: np.concatenate([getattr(base, name), getattr(add, name)])  # noqa: E731
    return KeypointDataset(
        categories[0], images, cat("ann_id"), cat("image_id"), cat("keypoints"), cat("bbox"), cat("area"),
        cat("iscrowd"), cat("score"), base.extra + add.extra, base.info, base.licenses, base.other_categories,
        base.other_annotations, base.top_extra, categories, cat("category_id"), base.notes,
        iscrowd_given=cat("iscrowd_given"))


# --------------------------------------------------------------------------- files in, file out

@dataclass
class MergeResult:
    ds: KeypointDataset
    source_formats: list[str]
    target_format: str
    summary: str
    notes: Notes
    stats: MergeStats
    mappings: list[str]


def merge_files(sources: list[Path], dst: Path, to: str | None = None, from_: str | None = None,
                images: Path | None = None, map_to: str | None = None, on_duplicate: str = "keep-first",
                threshold: float = DEFAULT_OKS, overwrite: bool = False, progress=None) -> MergeResult:
    """Read every input (format detected, or ``from_``), map each to ``map_to`` when given,
    merge them (:func:`merge_datasets`) and write ``dst`` as ``to`` (default: the first input's
    format). Nothing is written when anything is wrong."""
    from converters.formats import (Context, check_target, detect_format, get_format, layout_option, read_dataset,
                                    remap, write_dataset)
    from ..io import paused_gc

    if len(sources) < 2:
        raise PosekitError(None, "merge needs at least two inputs")
    check_merge_options(on_duplicate, threshold)
    if map_to:
        layout_option(map_to, "--map-to")
    fmt_out = get_format(to or from_ or detect_format(sources[0]))
    check_target(fmt_out, dst, overwrite, tuple(sources))
    notes = Notes()
    with paused_gc():
        datasets, formats, mappings, images_dir = [], [], [], None
        for src in sources:
            ctx = Context(images=images, progress=progress)
            source, fmt = read_dataset(src, ctx, from_)
            notes.merge(ctx.notes)
            ds = source.ds
            if map_to:
                ds, mapping = remap(ds, map_to, notes)
                mappings.append(f"{src.name}: {mapping}")
            images_dir = images_dir or source.images_dir
            datasets.append(ds)
            formats.append(fmt)
        merged, stats = merge_datasets(datasets, list(sources), on_duplicate, threshold)
        notes.merge(stats.notes)
        merged.notes = notes
        out = write_dataset(merged, dst, fmt_out.name, Context(images=images, notes=notes), overwrite,
                            images_dir, tuple(sources))
    return MergeResult(merged, formats, fmt_out.name, out.summary, notes, stats, mappings)
