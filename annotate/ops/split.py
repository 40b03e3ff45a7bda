"""``annotate split SRC -o DIR --val 0.1 [--test 0.1] --seed 0``: train / val / test splits.

Every image goes to exactly one split; images of one group (``--group REGEX``: the pattern's
first capture group, else its whole match, searched in the file name; ``--group-by-folder``: the
folder part of the file name) go to the same split. Groups are dealt out largest first (a seeded
shuffle orders groups of equal size): at each step the split furthest below its share of the
images takes, among the next :data:`WINDOW` groups that still fit into it, the one that brings its
per-keypoint visible counts closest to the whole set's fractions. So the sizes meet the requested
fractions (within one group) and each split's per-keypoint visible fraction stays close to the
whole set's; the same seed gives the same split.
"""
from __future__ import annotations

import bisect
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..dataset import KeypointDataset
from ..errors import PosekitError
from ..io import relative_name
from ..notes import Notes

SPLITS = ("train", "val", "test")

#: How many of the next groups a split chooses from (more: closer fractions, slower).
WINDOW = 16


@dataclass
class SplitPlan:
    """Each image's split (index into :data:`SPLITS`), and what the split looks like."""

    split: np.ndarray                      # (images,) int8
    groups: int
    images: np.ndarray                     # (3,) images per split
    persons: np.ndarray                    # (3,) persons (rows) per split
    visible: np.ndarray                    # (3, K) visible fraction per split and keypoint (NaN: no person)
    whole: np.ndarray                      # (K,) the whole set's visible fraction
    ungrouped: int = 0                     # images the --group pattern did not match (each its own group)

    def largest_difference(self, keypoints: list[str]) -> tuple[float, str]:
        """The largest |split's visible fraction - whole set's| and where ("val, left_wrist")."""
        diff = np.abs(self.visible - self.whole[None, :])
        if not np.isfinite(diff).any():
            return 0.0, "no labeled person"
        s, k = np.unravel_index(np.nanargmax(diff), diff.shape)
        return float(diff[s, k]), f"{SPLITS[s]}, {keypoints[k]}"


# --------------------------------------------------------------------------- groups

def group_index(file_names: list[str], pattern: str | None = None, by_folder: bool = False,
                owner: Path | None = None) -> tuple[np.ndarray, int, int]:
    """Each image's group (0..G-1, groups numbered in sorted key order), the number of groups and
    how many names the pattern did not match (those are each their own group)."""
    if pattern is not None and by_folder:
        raise PosekitError(None, "pass --group or --group-by-folder, not both")
    rx = _compile(pattern) if pattern is not None else None
    keys: list[tuple[str, str]] = []
    unmatched = 0
    for name in file_names:
        rel = relative_name(name, "image file_name", owner)
        if rx is not None:
            m = rx.search(rel)
            unmatched += m is None
            key = ("file", rel) if m is None else ("group", m.group(1) if rx.groups and m.group(1) is not None
                                                   else m.group(0))
        elif by_folder:
            folder = posixpath.dirname(rel)
            key = ("group", folder) if folder else ("file", rel)
        else:
            key = ("file", rel)
        keys.append(key)
    uniq = sorted(set(keys))
    index = {k: i for i, k in enumerate(uniq)}
    return np.fromiter((index[k] for k in keys), np.int64, len(keys)), len(uniq), unmatched


def _compile(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise PosekitError(None, f"--group {pattern!r} is not a regular expression: {exc}") from None


# --------------------------------------------------------------------------- assignment

def check_fractions(val: float, test: float) -> np.ndarray:
    """The (train, val, test) fractions; PosekitError when they make no split."""
    for name, f in (("--val", val), ("--test", test)):
        if not 0 <= f < 1:
            raise PosekitError(None, f"{name} must be at least 0 and below 1, not {f:g}")
    if val + test >= 1:
        raise PosekitError(None, f"--val {val:g} and --test {test:g} leave nothing for train")
    return np.array([1 - val - test, val, test])


def assign_groups(n_images: np.ndarray, visible: np.ndarray, persons: np.ndarray, fractions: np.ndarray,
                  seed: int, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Each group's split (see the module's rule). ``n_images`` (G,), ``visible`` (G, K) visible
    keypoints per group, ``persons`` (G,) persons per group, ``fractions`` (3,)."""
    G = len(n_images)
    whole = visible.sum(0) / max(float(persons.sum()), 1.0)
    excess = visible - persons[:, None] * whole[None, :]      # what each group adds to a split's imbalance
    sq = (excess ** 2).sum(1)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(G), -n_images)).tolist()
    sizes = n_images.astype(np.float64).tolist()
    target = (np.asarray(fractions, np.float64) * float(n_images.sum())).tolist()
    active = [s for s in range(3) if target[s] > 0]
    filled = [0.0, 0.0, 0.0]
    imbalance = np.zeros((3, visible.shape[1]))
    out = np.full(G, -1, np.int8)
    window, neg = order[:WINDOW], [-sizes[g] for g in order[:WINDOW]]  # sizes falling: neg rising
    nxt, step = len(window), 0
    while window:
        s, lo = _whose_turn(active, target, filled, neg)
        if lo is None:  # nothing fits anywhere: the largest group to the split with the most room
            pick = 0
        else:
            cands = window[lo:]
            gain = 2 * (excess[cands] @ imbalance[s]) + sq[cands]
            pick = lo + int(np.argmin(gain))
        g = window.pop(pick)
        neg.pop(pick)
        out[g] = s
        filled[s] += sizes[g]
        imbalance[s] += excess[g]
        if nxt < G:
            window.append(order[nxt])
            neg.append(-sizes[order[nxt]])
            nxt += 1
        step += 1
        if progress is not None and step % 4096 == 0:
            progress(4096)
    return out


def _whose_turn(active: list[int], target: list[float], filled: list[float],
                neg: list[float]) -> tuple[int, int | None]:
    """The split to take a group now and the first window position of the groups that fit it:
    the split furthest below its share (relative) that some group fits; when none fits, the
    split with the most room left and None."""
    for s in sorted(active, key=lambda s: (filled[s] - target[s]) / target[s]):
        room = target[s] - filled[s]
        lo = bisect.bisect_left(neg, -room - 1e-9)   # first group with size <= room
        if lo < len(neg):
            return s, lo
    return max(active, key=lambda s: target[s] - filled[s]), None


# --------------------------------------------------------------------------- the plan

def plan_split(ds: KeypointDataset, fractions: np.ndarray, seed: int, pattern: str | None = None,
               by_folder: bool = False, owner: Path | None = None,
               progress: Callable[[int], None] | None = None) -> SplitPlan:
    """Which split each image of ``ds`` goes to, and the split's sizes and visible fractions.
    Crowd regions count as persons in the sizes but not in the visible fractions."""
    from converters.formats import image_rows

    group, G, unmatched = group_index([im.file_name for im in ds.images], pattern, by_folder, owner)
    rows = image_rows(ds)
    row_group = group[rows]
    person = ~ds.iscrowd.astype(bool)
    vis = (ds.keypoints[..., 2] == 2) & person[:, None]
    K = ds.category.num_keypoints
    n_images = np.bincount(group, minlength=G)
    persons = np.bincount(row_group, weights=person, minlength=G)
    visible = np.stack([np.bincount(row_group, weights=vis[:, k], minlength=G) for k in range(K)], 1) \
        if K else np.zeros((G, 0))
    split_of_group = assign_groups(n_images, visible, persons, fractions, seed, progress)
    split = split_of_group[group]
    plan = _describe(split, rows, person, vis)
    plan.groups, plan.ungrouped = G, unmatched
    return plan


def _describe(split: np.ndarray, rows: np.ndarray, person: np.ndarray, vis: np.ndarray) -> SplitPlan:
    row_split = split[rows]
    images = np.bincount(split, minlength=3)
    persons = np.bincount(row_split, minlength=3)
    people = np.bincount(row_split, weights=person, minlength=3)
    counts = np.stack([np.bincount(row_split, weights=vis[:, k], minlength=3) for k in range(vis.shape[1])], 1) \
        if vis.shape[1] else np.zeros((3, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        visible = counts / people[:, None]
    whole = vis.sum(0) / max(float(person.sum()), 1.0)
    return SplitPlan(split.astype(np.int8), 0, images, persons, visible, whole)


# --------------------------------------------------------------------------- file in, files out

@dataclass
class SplitResult:
    ds: KeypointDataset
    plan: SplitPlan
    source_format: str
    target_format: str
    targets: list[Path]
    notes: Notes


def split_file(src: Path, out_dir: Path, val: float = 0.1, test: float = 0.0, seed: int = 0,
               pattern: str | None = None, by_folder: bool = False, to: str | None = None,
               from_: str | None = None, images: Path | None = None, overwrite: bool = False,
               progress: Callable[[int], None] | None = None) -> SplitResult:
    """Read ``src``, plan the split (:func:`plan_split`) and write ``out_dir``: ``train``,
    ``val`` (and ``test``) as files (``train.json``) or folders (``train/``) of format ``to``
    (default: the source's); YOLO: one dataset whose data.yaml names the splits. Every target is
    checked before anything is written."""
    from converters.formats import Context, get_format, read_dataset
    from ..io import paused_gc

    fractions = check_fractions(val, test)
    if not val and not test:
        raise PosekitError(None, "--val and --test are both 0: nothing to split off")
    with paused_gc():
        ctx = Context(images=images, progress=progress)
        source, fmt_in = read_dataset(src, ctx, from_)
        fmt = get_format(to or fmt_in)
        ds = source.ds
        plan = plan_split(ds, fractions, seed, pattern, by_folder, src)
        wanted = [s for s in range(3) if fractions[s] > 0]
        empty = [SPLITS[s] for s in wanted if not plan.images[s]]
        if empty:
            raise PosekitError(src, f"{' and '.join(empty)} would get no image ({len(ds.images)} images in "
                                    f"{plan.groups} groups); lower --val/--test or group less")
        moved = sum(im.split is not None and im.split != SPLITS[s] for im, s in zip(ds.images, plan.split.tolist()))
        ctx.notes.changed("images moved out of the split the source named", moved)
        for im, s in zip(ds.images, plan.split.tolist()):
            im.split = SPLITS[s]
        targets = _write_splits(ds, plan, wanted, src, out_dir, fmt, ctx, overwrite, source.images_dir)
    return SplitResult(ds, plan, fmt_in, fmt.name, targets, ctx.notes)


#: File suffix of each file format's split files (JSON unless named).
_SUFFIX = {"cvat": ".xml"}


def _write_splits(ds: KeypointDataset, plan: SplitPlan, wanted: list[int], src: Path, out_dir: Path, fmt,
                  ctx, overwrite: bool, images_dir: Path | None) -> list[Path]:
    """Write the splits: YOLO as one dataset (the splits in ``ImageInfo.split``), other formats
    one file or folder per split. Every output is made and checked in memory first, then written."""
    from converters.formats import prepare_output, write_dataset, write_output

    if out_dir.exists() and not out_dir.is_dir():
        raise PosekitError(out_dir, "exists and is not a folder; split writes a folder of splits")
    if fmt.name == "yolo":
        write_dataset(ds, out_dir, fmt.name, ctx, overwrite, images_dir, (src,))
        return [out_dir]
    targets = {s: out_dir / (SPLITS[s] if fmt.folder_output else SPLITS[s] + _SUFFIX.get(fmt.name, ".json"))
               for s in wanted}
    outputs = [prepare_output(ds.on_images(plan.split == s), target, fmt.name, ctx, overwrite, images_dir, (src,))
               for s, target in targets.items()]
    for out in outputs:
        write_output(out, overwrite)
    return list(targets.values())


def summary_line(res: SplitResult) -> str:
    """The closing line: images and persons per split, the largest visible-fraction difference."""
    plan = res.plan
    parts = [f"{SPLITS[s]} {_n(plan.images[s], 'image')}, {_n(plan.persons[s], 'person')}" for s in range(3)
             if plan.images[s] or s < 2]
    diff, where = plan.largest_difference(list(res.ds.category.keypoints))
    grouped = f" in {plan.groups:,} groups" if plan.groups != len(res.ds.images) else ""
    unmatched = f" ({plan.ungrouped:,} images matched no --group pattern: each its own group)" if plan.ungrouped else ""
    return (f"split {len(res.ds.images):,} images{grouped}{unmatched}: {'; '.join(parts)}; largest difference of a "
            f"split's per-keypoint visible fraction from the whole set's: {diff:.2%} ({where})")


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
