"""Skeleton layouts as data: keypoint names, limbs, flip pairs and the mappings between layouts.

Indices here are 0-based. COCO files store their skeleton 1-based; :mod:`annotate.coco`
converts at the file boundary.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Layout:
    """A named keypoint layout: ordered keypoint names, limbs (pairs of indices) and flip pairs."""

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    aliases: tuple[str, ...] = field(default=(), compare=False)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    @property
    def flip_indices(self) -> list[int]:
        """For each keypoint, the index of its mirror (itself when unpaired)."""
        out = list(range(self.num_keypoints))
        for a, b in self.flip_pairs:
            out[a], out[b] = b, a
        return out

    @classmethod
    def from_names(cls, name: str, keypoints: list[str] | tuple[str, ...],
                   limbs: list[tuple[int, int]] | tuple[tuple[int, int], ...] = ()) -> "Layout":
        """A layout for a custom category; flip pairs inferred from left/right names."""
        kps = tuple(keypoints)
        return cls(name, kps, tuple((int(a), int(b)) for a, b in limbs), infer_flip_pairs(kps))


_SIDE = re.compile(r"^(left|right|l|r)[_\- ]?(.+)$|^(.+?)[_\- ]?(left|right|l|r)$", re.IGNORECASE)


def _side_and_part(name: str) -> tuple[str, str] | None:
    m = _SIDE.match(name)
    if not m:
        return None
    side, part = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
    return side.lower()[0], part.lower()


def infer_flip_pairs(keypoints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Pair ``left_x``/``right_x`` (also ``l_x``/``r_x``, ``x_left``) keypoint names."""
    sides = [_side_and_part(n) for n in keypoints]
    pairs = []
    for i, si in enumerate(sides):
        if si and si[0] == "l":
            for j, sj in enumerate(sides):
                if sj and sj[0] == "r" and sj[1] == si[1]:
                    pairs.append((i, j))
                    break
    return tuple(pairs)


@functools.lru_cache(maxsize=4096)
def normalise_name(name: str) -> str:
    """Canonical spelling for matching keypoint labels: lower case, ``_`` for space and ``-``."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


COCO17 = Layout(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle"),
    # COCO's 19-limb skeleton (the file's 1-based list minus one).
    ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
     (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    aliases=("coco", "coco-17", "coco_17"),
)

MPII16 = Layout(
    "mpii16",
    ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
     "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"),
    ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (7, 12), (12, 11),
     (11, 10), (7, 13), (13, 14), (14, 15)),
    ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    aliases=("mpii", "mpii-16", "mpii_16"),
)

OPENPOSE18 = Layout(
    "openpose18",
    ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
     "right_eye", "left_eye", "right_ear", "left_ear"),
    # OpenPose's 19 PAF limbs (CMU limbSeq, 0-based), the last two being shoulder-ear.
    ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
     (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)),
    ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    aliases=("openpose", "openpose-18", "openpose_18", "coco18"),
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (COCO17, MPII16, OPENPOSE18)}


def get_layout(name: str) -> Layout:
    """Look a layout up by name or alias (``coco17``, ``mpii16``, ``openpose18``)."""
    key = normalise_name(name).replace("_", "")
    for lay in LAYOUTS.values():
        if key in {lay.name, *(a.replace("-", "").replace("_", "") for a in lay.aliases)}:
            return lay
    raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}")


# MPII index -> COCO index for the 12 joints both layouts share.
MPII_TO_COCO: tuple[tuple[int, int], ...] = (
    (0, 16), (1, 14), (2, 12), (3, 11), (4, 13), (5, 15), (10, 10), (11, 8), (12, 6), (13, 5),
    (14, 7), (15, 9))


@dataclass(frozen=True)
class Mapping:
    """Copy keypoints between layouts: ``pairs`` are (src, dst) indices; ``midpoints`` derive a
    destination keypoint as the midpoint of two source keypoints (usable only when both are)."""

    src: Layout
    dst: Layout
    pairs: tuple[tuple[int, int], ...]
    midpoints: tuple[tuple[int, int, int], ...] = ()  # (src_a, src_b, dst)

    def apply(self, keypoints: np.ndarray) -> np.ndarray:
        """Map an (N, K_src, 3) array to (N, K_dst, 3); unmapped destination keypoints get v=0."""
        kps = np.asarray(keypoints, dtype=np.float64)
        out = np.zeros((kps.shape[0], self.dst.num_keypoints, 3), dtype=np.float64)
        if self.pairs:
            s, d = np.array(self.pairs).T
            out[:, d] = kps[:, s]
        for a, b, d in self.midpoints:
            both = (kps[:, a, 2] > 0) & (kps[:, b, 2] > 0)
            out[both, d, :2] = (kps[both, a, :2] + kps[both, b, :2]) / 2
            out[both, d, 2] = np.minimum(kps[both, a, 2], kps[both, b, 2])
        return out

    @property
    def dropped(self) -> list[str]:
        """Source keypoints that have no place in the destination layout."""
        used = {s for s, _ in self.pairs} | {a for a, _, _ in self.midpoints} | {b for _, b, _ in self.midpoints}
        return [n for i, n in enumerate(self.src.keypoints) if i not in used]

    def describe(self) -> str:
        """What the mapping does, in one line: ``crowdpose14 -> coco17: mapped 12; dropped head,
        neck; not in the source (v=0): nose, ...`` (derived keypoints named with their sources)."""
        parts = [f"{self.src.name} -> {self.dst.name}: mapped {len(self.pairs)}"]
        for a, b, d in self.midpoints:
            parts.append(f"derived {self.dst.keypoints[d]} (mean of {self.src.keypoints[a]}, "
                         f"{self.src.keypoints[b]})")
        if self.dropped:
            parts.append("dropped " + ", ".join(self.dropped))
        filled = {d for _, d in self.pairs} | {d for _, _, d in self.midpoints}
        absent = [n for i, n in enumerate(self.dst.keypoints) if i not in filled]
        if absent:
            parts.append("not in the source (v=0): " + ", ".join(absent))
        return "; ".join(parts)


def _by_name(src: Layout, dst: Layout) -> tuple[tuple[int, int], ...]:
    return tuple((src.index(n), dst.index(n)) for n in dst.keypoints if n in src.keypoints)


MAPPINGS: dict[tuple[str, str], Mapping] = {
    ("mpii16", "coco17"): Mapping(MPII16, COCO17, MPII_TO_COCO),
    ("coco17", "mpii16"): Mapping(COCO17, MPII16, tuple((c, m) for m, c in MPII_TO_COCO)),
    ("coco17", "openpose18"): Mapping(
        COCO17, OPENPOSE18, _by_name(COCO17, OPENPOSE18),
        ((COCO17.index("left_shoulder"), COCO17.index("right_shoulder"), OPENPOSE18.index("neck")),)),
    ("openpose18", "coco17"): Mapping(OPENPOSE18, COCO17, _by_name(OPENPOSE18, COCO17)),
}


def get_mapping(src: str, dst: str) -> Mapping:
    """The mapping from layout ``src`` to layout ``dst`` (identity when they are the same)."""
    s, d = get_layout(src), get_layout(dst)
    if s == d:
        return Mapping(s, d, tuple((i, i) for i in range(s.num_keypoints)))
    if (s.name, d.name) in MAPPINGS:
        return MAPPINGS[(s.name, d.name)]
    m = mapping_between(s, d)  # any other pair of built-in layouts: by keypoint name
    if not m.pairs:
        raise KeyError(f"no mapping from {s.name} to {d.name}: they share no keypoint")
    return m


def layout_for_names(keypoints: list[str] | tuple[str, ...], limbs=()) -> Layout:
    """The built-in layout with exactly these keypoint names, else a custom one."""
    names = tuple(keypoints)
    for lay in LAYOUTS.values():
        if lay.keypoints == names:
            return lay
    return find_layout(names) or Layout.from_names("custom", names, limbs)


# --------------------------------------------------------------------------- more layouts
# Names keep the spelling of each layout's own files (CrowdPose's JSON says "head", AIC's
# "head_top"); :func:`canonical_name` makes them comparable. Limbs are 0-based.

def _layout(name: str, keypoints: tuple[str, ...], limbs: tuple[tuple[int, int], ...],
            aliases: tuple[str, ...]) -> Layout:
    return Layout(name, keypoints, limbs, infer_flip_pairs(keypoints), aliases)


CROWDPOSE14 = _layout(
    "crowdpose14",
    ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
     "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"),
    # mmpose's configs/_base_/datasets/crowdpose.py skeleton_info
    ((10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
     (12, 13), (1, 13), (0, 13)),
    ("crowdpose", "crowdpose-14", "crowdpose_14"),
)

AIC14 = _layout(
    "aic14",
    ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
     "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck"),
    # mmpose's configs/_base_/datasets/aic.py skeleton_info
    ((2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10), (10, 11),
     (12, 13), (0, 6), (3, 9)),
    ("aic", "aic-14", "aic_14", "ai_challenger", "aichallenger"),
)

HALPE26 = _layout(
    "halpe26",
    COCO17.keypoints + ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                        "right_small_toe", "left_heel", "right_heel"),
    # mmpose's configs/_base_/datasets/halpe26.py skeleton_info
    ((15, 13), (13, 11), (11, 19), (16, 14), (14, 12), (12, 19), (17, 18), (18, 19), (18, 5), (5, 7),
     (7, 9), (18, 6), (6, 8), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
     (15, 20), (15, 22), (15, 24), (16, 21), (16, 23), (16, 25)),
    ("halpe", "halpe-26", "halpe_26"),
)

BODY25 = _layout(
    "body25",
    ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
     "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
     "left_heel", "right_big_toe", "right_small_toe", "right_heel"),
    # OpenPose's POSE_BODY_25_PAIRS_RENDER
    ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
     (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
     (11, 22), (22, 23), (11, 24)),
    ("body_25", "body-25", "openpose25", "openpose_25", "openpose-body25"),
)

MPI15 = _layout(
    "mpi15",
    ("head", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "chest"),
    # OpenCV's samples/dnn/openpose.py POSE_PAIRS for the MPI model
    ((0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 14), (14, 8), (8, 9), (9, 10),
     (14, 11), (11, 12), (12, 13)),
    ("mpi", "mpi-15", "mpi_15", "openpose_mpi", "openpose-mpi"),
)

BODY25B = _layout(
    "body25b",
    # OpenPose's experimental BODY_25B (openpose_train's experimental_models; what Pose2Sim's demo
    # uses): COCO's 17 in COCO's order, then the upper neck, the head top and the feet
    COCO17.keypoints + ("upper_neck", "head_top", "left_big_toe", "left_small_toe", "left_heel",
                        "right_big_toe", "right_small_toe", "right_heel"),
    COCO17.limbs + ((5, 17), (6, 17), (17, 18), (15, 19), (19, 20), (15, 21), (16, 22), (22, 23), (16, 24)),
    ("body_25b", "body-25b", "openpose25b"),
)

LAYOUTS.update({lay.name: lay for lay in (CROWDPOSE14, AIC14, HALPE26, BODY25, BODY25B, MPI15)})


# --------------------------------------------------------------------------- spellings in the wild

_PARTS = ("big_toe", "small_toe", "shoulder", "elbow", "wrist", "ankle", "knee", "heel", "hip", "eye",
          "ear", "foot", "hand", "toe")
#: Other spellings of one body part (after sides are taken off), -> the canonical part.
_PART_SYNONYMS = {
    "head": "head_top", "top_head": "head_top", "headtop": "head_top", "tophead": "head_top",
    "top_of_head": "head_top", "head_end": "head_top",
    "midhip": "mid_hip", "hip_center": "mid_hip", "center_hip": "mid_hip", "pelvis": "mid_hip",
    "root": "mid_hip",
    "bigtoe": "big_toe", "smalltoe": "small_toe", "upperneck": "upper_neck",
}
_SIDE_WORDS = {"l": "left", "left": "left", "r": "right", "right": "right"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=4096)
def canonical_name(name: str) -> str:
    """One spelling for a keypoint name as written in the wild: ``"Right-ankle"``, ``"r_ankle"``,
    ``"RAnkle"``, ``"Rknee"``, ``"ankle_r"`` -> ``right_ankle``; ``"Head top"``, ``"top_head"``,
    ``"head"`` -> ``head_top``; ``"MidHip"``, ``"pelvis"`` and Halpe's ``"hip"`` -> ``mid_hip``."""
    words = [w for w in re.split(r"[\s_\-.:/]+", _CAMEL.sub("_", name.strip())) if w]
    words = [w.lower() for w in words]
    side = ""
    if len(words) > 1 and words[0] in _SIDE_WORDS:
        side, words = _SIDE_WORDS[words[0]], words[1:]
    elif len(words) > 1 and words[-1] in _SIDE_WORDS:
        side, words = _SIDE_WORDS[words[-1]], words[:-1]
    elif len(words) == 1 and words[0][:1] in "lr":
        rest = words[0][1:]
        for part in _PARTS:  # "rknee", "lbigtoe": a side letter glued to a part name
            if rest == part.replace("_", ""):
                side, words = _SIDE_WORDS[words[0][0]], [part]
                break
    part = "_".join(words)
    part = _PART_SYNONYMS.get(part, part)
    if not side and part == "hip":
        part = "mid_hip"  # a hip without a side is the centre of the hips (Halpe's "hip")
    return f"{side}_{part}" if side else part


def canonical_index(keypoints: tuple[str, ...] | list[str]) -> dict[str, int]:
    """``canonical name -> index`` for a list of keypoint names (the first wins on a clash)."""
    out: dict[str, int] = {}
    for i, n in enumerate(keypoints):
        out.setdefault(canonical_name(n), i)
    return out


class NameIndex:
    """The one keypoint-label matching rule: a label names the keypoint spelled exactly so, else
    the one keypoint it is a spelling of (:func:`canonical_name`: case, ``_``/``-``/space, side
    words, "RAnkle"). A spelling that fits two keypoints (``"_"`` and ``"--"``, ``"head"`` and
    ``"head_top"``) matches neither by spelling: :meth:`get` gives None and :meth:`ambiguous`
    names both, so a label is never put on the wrong keypoint."""

    def __init__(self, keypoints: list[str] | tuple[str, ...]) -> None:
        self.exact = {n: i for i, n in reversed(list(enumerate(keypoints)))}
        self.canonical: dict[str, int] = {}
        self.clashes: dict[str, tuple[str, str]] = {}
        for i, n in enumerate(keypoints):
            c = canonical_name(n)
            if c in self.canonical:
                self.clashes.setdefault(c, (keypoints[self.canonical[c]], n))
            else:
                self.canonical[c] = i
        for c in self.clashes:
            del self.canonical[c]

    def get(self, label: str) -> int | None:
        i = self.exact.get(label)
        return i if i is not None else self.canonical.get(canonical_name(label))

    def ambiguous(self, label: str) -> tuple[str, str] | None:
        """The two keypoint names a label's spelling fits, when it is not one of them exactly."""
        return None if label in self.exact else self.clashes.get(canonical_name(label))


def find_layout(keypoints: list[str] | tuple[str, ...]) -> Layout | None:
    """The built-in layout whose names are these, in this order, in any spelling; else None."""
    names = tuple(canonical_name(n) for n in keypoints)
    for lay in LAYOUTS.values():
        if len(lay.keypoints) == len(names) and tuple(canonical_name(n) for n in lay.keypoints) == names:
            return lay
    return None


# --------------------------------------------------------------------------- mappings by name

#: Keypoints a layout may lack that are derived as the midpoint of two others it has.
DERIVED = {"neck": ("left_shoulder", "right_shoulder"), "mid_hip": ("left_hip", "right_hip")}


def mapping_between(src: Layout, dst: Layout) -> Mapping:
    """Copy the keypoints both layouts name (in any spelling); derive the destination's neck and
    mid-hip as midpoints of the shoulders and hips when the source lacks them."""
    s_idx, d_idx = canonical_index(src.keypoints), canonical_index(dst.keypoints)
    pairs = tuple((s_idx[c], d) for c, d in d_idx.items() if c in s_idx)
    mids = tuple((s_idx[a], s_idx[b], d_idx[c]) for c, (a, b) in DERIVED.items()
                 if c in d_idx and c not in s_idx and a in s_idx and b in s_idx)
    return Mapping(src, dst, pairs, mids)


for _lay in (CROWDPOSE14, AIC14, HALPE26, BODY25, BODY25B, MPI15):
    MAPPINGS[(_lay.name, "coco17")] = mapping_between(_lay, COCO17)
    MAPPINGS[("coco17", _lay.name)] = mapping_between(COCO17, _lay)
