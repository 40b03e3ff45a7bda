"""OpenPose ``--write_json`` output <-> KeypointDataset.

A folder of JSON files, one per image or video frame, each ``{"version": 1.3, "people":
[{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...], "face_keypoints_2d": [...],
"hand_left_keypoints_2d": [...], ...}]}``. OpenPose names them ``<image stem>_keypoints.json``;
Pose2Sim publishes them as ``cam01_json/cam01.0030.json``: every JSON file of the folder that
holds a ``people`` list is read, and its image is the file's path without ``.json`` and a
trailing ``_keypoints``. Other JSON files are not part of the dataset (counted).

The layout follows from the number of pose keypoints: 25 BODY_25, 18 COCO-18 (posekit's
``openpose18``), 15 MPI-15, and the OpenPose-style files of Pose2Sim and AlphaPose: 26 Halpe-26,
17 COCO-17; ``--layout`` names another layout of that many keypoints. A keypoint with confidence
c > 0 is labeled (v=2) and c is kept in the annotation's ``keypoint_scores``; c = 0 is v=0 at
(0, 0). The person's score is the mean confidence of its labeled keypoints (OpenPose's own person
score is not in the file); its box is the labeled keypoints' extent grown by ``--box-margin``.
Face and hand keypoints have no place in a body layout: counted, not read, as are 3-D sets
(``--3d``) and ``part_candidates``. OpenPose 1.0's files (``pose_keypoints``, no ``_2d``) read the
same. Images are found by stem under ``--images`` (default: the folder itself) for their sizes;
without them the sizes are unknown and said so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.images import IMAGE_SUFFIXES, image_size, image_stem
from annotate.io import dumps_json, read_json, relative_name
from annotate.notes import Notes
from annotate.skeletons import BODY25, COCO17, HALPE26, MPI15, OPENPOSE18, Layout, get_layout

from .formats import Context, Output, Probe, Source, note_unheld, refuse_single_file

SUFFIX = "_keypoints.json"
#: The layout of a file's people by their number of pose keypoints (``--layout`` names another).
BY_COUNT = {25: BODY25, 18: OPENPOSE18, 15: MPI15, 26: HALPE26, 17: COCO17}
_EXTRA_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                "face_keypoints", "hand_left_keypoints", "hand_right_keypoints")  # OpenPose 1.0's names
_PARTS_3D = ("pose_keypoints_3d", "body_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
             "hand_right_keypoints_3d")
_EMPTY_SETS = {k: [] for k in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                               "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
                               "hand_right_keypoints_3d")}
_EMPTY_PEOPLE = re.compile(rb'"people"\s*:\s*\[\s*\]')
NO_PERSON = "persons with neither a box nor a labeled keypoint (nothing to place them by)"


# --------------------------------------------------------------------------- detecting

def _holds_people(head: bytes) -> bool:
    """Whether a JSON file's first bytes are OpenPose's: an object whose ``people`` hold pose
    keypoints (any version's spelling), or none."""
    return head.startswith(b"{") and b'"people"' in head and (
        b'"pose_keypoints' in head or _EMPTY_PEOPLE.search(head) is not None)


def detect(probe: Probe) -> int:
    """A folder of JSON files holding OpenPose ``people`` (90), else of ``*_keypoints.json``
    files (60); one such file is refused (the format is the folder)."""
    if not probe.is_dir:
        if _holds_people(probe.head):
            refuse_single_file(probe, "openpose")
        return 0
    if any(_holds_people(h) for h in probe.json_heads):
        return 90
    return 60 if any(p.name.endswith(SUFFIX) for p in probe.jsons) else 0


# --------------------------------------------------------------------------- reading

@dataclass
class _Frame:
    """One file's people: ``(K, 3)`` arrays of x, y, confidence (None: an empty pose) and ids."""

    path: Path
    image: str                                   # the image's path without suffix
    poses: list[np.ndarray | None] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)


def image_key(src: Path, path: Path) -> str:
    """The image a file holds: its path under ``src`` without ``.json`` and a trailing ``_keypoints``
    (``cam01_json/cam01.0030.json`` -> ``cam01_json/cam01.0030``)."""
    rel = path.relative_to(src).as_posix()[: -len(".json")]
    stem = rel.removesuffix("_keypoints")
    return stem if stem and not stem.endswith("/") else rel


def _pose(p: dict) -> object:
    """A person's body keypoints: ``pose_keypoints_2d`` (OpenPose 1.1 on), ``pose_keypoints`` (1.0)."""
    return p["pose_keypoints_2d"] if "pose_keypoints_2d" in p else p.get("pose_keypoints")


def _pose_array(kp: list, i: int, f: Path, count: int | None, layout: str | None) -> np.ndarray:
    """Person ``i``'s ``(K, 3)`` pose; PosekitError naming ``f`` when it is not one."""
    n = len(kp) // 3
    if len(kp) % 3 or (count is None and n not in BY_COUNT):
        raise PosekitError(f, f"person {i} has {len(kp)} pose values; expected 3 x 25 (BODY_25), 3 x 18 "
                              f"(COCO-18), 3 x 15 (MPI-15), 3 x 26 (Halpe-26) or 3 x 17 (COCO-17)")
    if count is not None and n != count:
        where = f"--layout {layout} has" if layout else "earlier files have"
        raise PosekitError(f, f"person {i} has {n} keypoints; {where} {count}")
    try:
        arr = np.asarray(kp, dtype=np.float64).reshape(n, 3)
    except (TypeError, ValueError):
        raise PosekitError(f, f"person {i}: pose_keypoints_2d holds a value that is not a number") from None
    if not np.isfinite(arr).all():
        raise PosekitError(f, f"person {i}: pose_keypoints_2d holds NaN or infinity")
    return arr


def _parse_frame(f: Path, image: str, people: list, count: int | None, layout: str | None) -> _Frame:
    """A file's people checked (PosekitError for a bad one); ``count``: the keypoints each must have."""
    frame = _Frame(f, image)
    for i, p in enumerate(people):
        kp = _pose(p) if isinstance(p, dict) else None
        if not isinstance(kp, list):
            raise PosekitError(f, f"person {i} has no pose_keypoints_2d list")
        arr = _pose_array(kp, i, f, count, layout) if kp else None
        count = count if arr is None else arr.shape[0]
        frame.poses.append(arr)
        frame.ids.append(p.get("person_id"))
    return frame


def _count_unread(obj: dict, notes: Notes) -> None:
    """Count a file's part candidates and its persons' face/hand sets (with a detected point) and
    3-D sets (not empty): not read."""
    cands = obj.get("part_candidates")
    notes.lost("files' part_candidates (--part_candidates; body parts before grouping into people)",
               int(isinstance(cands, list) and any(isinstance(c, dict) and any(c.values()) for c in cands)))
    for p in obj["people"]:
        notes.lost("face/hand keypoint sets (no place in a body layout)",
                   sum(1 for k in _EXTRA_PARTS if isinstance(p.get(k), list) and any(p[k][2::3])))
        notes.lost("3-D keypoint sets (*_keypoints_3d; a body layout is 2-D)",
                   sum(1 for k in _PARTS_3D if isinstance(p.get(k), list) and p[k]))


def _read_frames(src: Path, ctx: Context) -> list[_Frame]:
    """Every file holding OpenPose ``people``, checked and counted as seen; bad files go to
    ``ctx.bad``, other JSON files are counted as not read."""
    frames: list[_Frame] = []
    by_image: dict[str, Path] = {}
    count = get_layout(ctx.layout).num_keypoints if ctx.layout else None
    other = 0
    for f in Probe(src).jsons:  # the folder's JSON files, hidden ones left out
        ctx.advance(1)
        image = image_key(src, f)
        try:
            obj = read_json(f)
            if not (isinstance(obj, dict) and "people" in obj):
                if f.name.endswith(SUFFIX):
                    raise PosekitError(f, "no 'people' list; not OpenPose output")
                other += 1
                continue
            if not isinstance(obj["people"], list):
                raise PosekitError(f, "'people' is not a list; not OpenPose output")
            if image in by_image:
                raise PosekitError(f, f"holds image {image!r} as {by_image[image].name} does; remove one")
            frame = _parse_frame(f, image, obj["people"], count, ctx.layout)
        except PosekitError as exc:
            ctx.bad(exc)
            continue
        count = next((a.shape[0] for a in frame.poses if a is not None), count)
        by_image[image] = f
        _count_unread(obj, ctx.notes)
        ctx.account.seen("images", 1)
        ctx.account.seen("persons", len(frame.poses))
        ctx.account.seen("keypoints", sum(int((a[:, 2] > 0).sum()) for a in frame.poses if a is not None))
        frames.append(frame)
    ctx.notes.lost("JSON files without OpenPose 'people' (not part of the dataset, not read)", other)
    return frames


def _layout(frames: list[_Frame], ctx: Context, src: Path) -> Layout:
    """``--layout``, else the layout of the files' number of pose keypoints."""
    if ctx.layout:
        return get_layout(ctx.layout)
    count = next((a.shape[0] for fr in frames for a in fr.poses if a is not None), None)
    if count is None and ctx.bad_files and not ctx.skip_bad:
        return BODY25  # moot: read_dataset refuses the bad files
    if count is None:
        raise PosekitError(src, "no person in any file: pass --layout body25|openpose18|mpi15|halpe26|coco17")
    return BY_COUNT[count]


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """The image files under ``folder`` by their path without suffix."""
    out: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out.setdefault(image_stem(p.relative_to(folder).as_posix()), p)
    return out


def _add_people(b: DatasetBuilder, image_id: int, frame: _Frame, notes: Notes) -> None:
    """The frame's persons with a labeled keypoint; the others counted as not carried."""
    for arr, pid in zip(frame.poses, frame.ids):
        if arr is None:
            notes.lost("persons with an empty pose_keypoints_2d", 1, unit="persons")
            continue
        lab = arr[:, 2] > 0
        notes.lost("coordinates of keypoints with confidence 0 (read as v=0 at 0,0)",
                   int((~lab & ((arr[:, 0] != 0) | (arr[:, 1] != 0))).sum()))
        if not lab.any():  # no box and no point to place it by (COCOeval needs a box)
            notes.lost(NO_PERSON, 1, unit="persons")
            continue
        kps = np.zeros((arr.shape[0], 3))
        kps[lab, :2] = arr[lab, :2]
        kps[lab, 2] = 2
        extra: dict[str, Any] = {"keypoint_scores": arr[:, 2].tolist()}
        if isinstance(pid, list) and pid != [-1]:
            extra["person_id"] = pid
        b.add_person(image_id, kps, None, score=float(arr[lab, 2].mean()), **extra)


def read(src: Path, ctx: Context) -> Source:
    """Read a folder of OpenPose JSON files (one per image or frame)."""
    if not src.is_dir():
        raise PosekitError(src, "expected a folder of OpenPose JSON files (*_keypoints.json)")
    frames = _read_frames(src, ctx)
    if not frames and not ctx.bad_files:
        raise PosekitError(src, "no JSON file holding OpenPose 'people' (OpenPose --write_json output)")
    lay = _layout(frames, ctx, src)
    images_dir = ctx.images or src
    images = _images_by_stem(images_dir)
    b = DatasetBuilder(Category.from_layout(lay))
    unknown = 0
    for frame in frames:
        img = images.get(frame.image)
        if img is None:  # the image's suffix is unknown: not guessed
            unknown += 1
            image_id = b.add_image(frame.image, None, None)
        else:
            image_id = b.add_image(img.relative_to(images_dir).as_posix(), *image_size(img))
        _add_people(b, image_id, frame, ctx.notes)
    ctx.notes.lost(f"image sizes and suffixes (no image of that stem under {images_dir}; pass --images)", unknown)
    return Source(b.build(ctx.box_margin), images_dir)


# --------------------------------------------------------------------------- writing

def _confidences(ds: KeypointDataset, r: int) -> np.ndarray:
    """Row ``r``'s confidences: its ``keypoint_scores`` where labeled (1 where not positive), else 1
    for a labeled keypoint; 0 for an unlabeled one."""
    kps = ds.keypoints[r]
    conf = ds.extra[r].get("keypoint_scores")
    c = np.asarray(conf, dtype=np.float64) if isinstance(conf, list) and len(conf) == len(kps) \
        else (kps[:, 2] > 0).astype(np.float64)
    return np.where(kps[:, 2] > 0, np.where(c > 0, c, 1.0), 0.0)


def _own_score(score: float, c: np.ndarray) -> bool:
    """Whether a person's score is other than the mean confidence of its labeled keypoints (what
    reading the file gives back)."""
    mean = c[c > 0].mean() if (c > 0).any() else 0.0
    return bool(not np.isnan(score) and not np.isclose(score, mean, rtol=1e-9, atol=1e-12))


def _note_unwritten(ds: KeypointDataset, crowd: np.ndarray, notes: Notes) -> None:
    note_unheld(ds, notes, ann_fields=("keypoint_scores", "person_id"), score=True)
    notes.lost("crowd regions (OpenPose has none)", int(crowd.sum()), unit="persons")
    notes.lost("person boxes (OpenPose has none; read back from the keypoints)", int((~crowd).sum()))
    notes.lost("occluded flags (v=1; OpenPose has a confidence, read back as v=2)",
               int((ds.keypoints[~crowd, :, 2] == 1).sum()))


def write(ds: KeypointDataset, dst: Path, ctx: Context, images_dir: Path | None) -> Output:
    """One ``<image stem>_keypoints.json`` per image (the layouts the reader reads; map others
    with ``--map-to``). Confidence: the keypoint's score when read from OpenPose, else 1 for a
    labeled keypoint and 0 for an unlabeled one."""
    layout = ds.category.layout.name
    if layout not in {lay.name for lay in BY_COUNT.values()}:
        raise PosekitError(None, f"OpenPose JSON holds BODY_25, COCO-18 or MPI-15 people (or Halpe-26, COCO-17); "
                                 f"this dataset is {layout}: add --map-to body25 (or openpose18)")
    crowd = ds.iscrowd.astype(bool)
    _note_unwritten(ds, crowd, ctx.notes)
    by_image = ds.indices_by_image()
    files: dict[str, bytes] = {}
    own_score = 0
    for im in ds.images:
        people = []
        for r in by_image[im.id].tolist():
            if crowd[r]:
                continue
            kps, c = ds.keypoints[r], _confidences(ds, r)
            own_score += _own_score(ds.score[r], c)
            flat = np.column_stack([np.where(c > 0, kps[:, 0], 0), np.where(c > 0, kps[:, 1], 0), c]).ravel()
            people.append({"person_id": ds.extra[r].get("person_id", [-1]), "pose_keypoints_2d": flat.tolist(),
                           **_EMPTY_SETS})
        rel = image_stem(relative_name(im.file_name, "image file_name", dst)) + SUFFIX
        if rel in files:
            raise PosekitError(None, f"two images would share {rel} (same name without suffix); rename one")
        files[rel] = dumps_json({"version": 1.3, "people": people})
    ctx.notes.lost("person scores other than the mean confidence of their keypoints (OpenPose holds none)",
                   own_score)
    n = int((~crowd).sum())
    return Output(dst, files, folder=True, summary=f"{len(files)} OpenPose files ({layout}), {n} persons",
                  reads_back=("**/*.json",), persons=n)
