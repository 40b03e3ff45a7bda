"""OpenPose ``--write_json`` output <-> KeypointDataset.

A folder of ``<image stem>_keypoints.json`` files, each ``{"version": 1.3, "people": [{"person_id":
[-1], "pose_keypoints_2d": [x, y, c, ...], "face_keypoints_2d": [...], "hand_left_keypoints_2d":
[...], ...}]}``. The layout follows from the number of pose keypoints: 25 BODY_25, 18 COCO-18
(posekit's ``openpose18``), 15 MPI-15. A keypoint with confidence c > 0 is labeled (v=2) and c is
kept in the annotation's ``keypoint_scores``; c = 0 is v=0 at (0, 0). The person's score is the
mean confidence of its labeled keypoints (OpenPose's own person score is not in the file); its box
is the labeled keypoints' extent grown by ``--box-margin``. Face and hand keypoints have no place
in a body layout: counted, not read, as are 3-D sets (``--3d``) and ``part_candidates``. OpenPose
1.0's files (``pose_keypoints``, no ``_2d``) read the same. Images are found by stem under
``--images`` (default: the folder itself) for their sizes; without them the sizes are unknown
and said so.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annotate.dataset import Category, DatasetBuilder, KeypointDataset
from annotate.errors import PosekitError
from annotate.io import dumps_json, read_json
from annotate.notes import Notes
from annotate.skeletons import BODY25, MPI15, OPENPOSE18

from .formats import IMAGE_SUFFIXES, Options, Output, Source, note_unheld, safe_file_name

SUFFIX = "_keypoints.json"
BY_COUNT = {25: BODY25, 18: OPENPOSE18, 15: MPI15}
_EXTRA_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                "face_keypoints", "hand_left_keypoints", "hand_right_keypoints")  # OpenPose 1.0's names
_PARTS_3D = ("pose_keypoints_3d", "body_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
             "hand_right_keypoints_3d")


def _pose(p: dict) -> object:
    """A person's body keypoints: ``pose_keypoints_2d`` (OpenPose 1.1 on), ``pose_keypoints`` (1.0)."""
    return p["pose_keypoints_2d"] if "pose_keypoints_2d" in p else p.get("pose_keypoints")


def _has_candidates(cands: object) -> bool:
    """Whether ``part_candidates`` (a list of ``{part: [x, y, c, ...]}``) holds any candidate."""
    return isinstance(cands, list) and any(isinstance(c, dict) and any(c.values()) for c in cands)


def _count_unread(p: dict, notes: Notes) -> None:
    """Count a person's face/hand keypoint sets (with a detected point) and 3-D sets (not empty)."""
    notes.lost("face/hand keypoint sets (no place in a body layout)",
               sum(1 for k in _EXTRA_PARTS if isinstance(p.get(k), list) and any(p[k][2::3])))
    notes.lost("3-D keypoint sets (*_keypoints_3d; a body layout is 2-D)",
               sum(1 for k in _PARTS_3D if isinstance(p.get(k), list) and p[k]))


def _images_by_stem(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            out.setdefault(str(p.relative_to(folder).with_suffix("")), p)
    return out


def read_openpose(src: Path, opts: Options) -> Source:
    """Read a folder of OpenPose ``*_keypoints.json`` files."""
    from annotate.images import check_image_header

    if not src.is_dir():
        raise PosekitError(src, "expected a folder of OpenPose *_keypoints.json files")
    files = sorted(p for p in src.rglob(f"*{SUFFIX}") if not any(s.startswith(".") for s in p.relative_to(src).parts))
    if not files:
        raise PosekitError(src, f"no *{SUFFIX} files (OpenPose --write_json output)")
    images_dir = opts.images or src
    images = _images_by_stem(images_dir)
    parsed = []
    K = None
    notes = Notes()
    for f in files:
        obj = read_json(f)
        people = obj.get("people") if isinstance(obj, dict) else None
        if not isinstance(people, list):
            raise PosekitError(f, "no 'people' list; not OpenPose output")
        notes.lost("files' part_candidates (--part_candidates; body parts before grouping into people)",
                   int(_has_candidates(obj.get("part_candidates"))))
        rows = []
        for i, p in enumerate(people):
            kp = _pose(p) if isinstance(p, dict) else None
            if not isinstance(kp, list):
                raise PosekitError(f, f"person {i} has no pose_keypoints_2d list")
            _count_unread(p, notes)
            if not kp:
                rows.append(None)
                continue
            if len(kp) % 3 or len(kp) // 3 not in BY_COUNT:
                raise PosekitError(f, f"person {i} has {len(kp)} pose values; expected 3 x 25 (BODY_25), "
                                      f"3 x 18 (COCO-18) or 3 x 15 (MPI-15)")
            if K is not None and len(kp) // 3 != K:
                raise PosekitError(f, f"person {i} has {len(kp) // 3} keypoints; earlier files have {K}")
            K = len(kp) // 3
            try:
                arr = np.asarray(kp, dtype=np.float64).reshape(K, 3)
            except (TypeError, ValueError):
                raise PosekitError(f, f"person {i}: pose_keypoints_2d holds a value that is not a number") from None
            if not np.isfinite(arr).all():
                raise PosekitError(f, f"person {i}: pose_keypoints_2d holds NaN or infinity")
            rows.append((arr, p.get("person_id")))
        parsed.append((f, rows))
    if K is None:
        if not opts.layout:
            raise PosekitError(src, "no person in any file: pass --layout body25|openpose18|mpi15")
        from annotate.skeletons import get_layout

        lay = get_layout(opts.layout)
    else:
        lay = BY_COUNT[K]
    cat = Category.from_layout(lay)
    b = DatasetBuilder(cat)
    unknown_size = 0
    for f, rows in parsed:
        stem = str(f.relative_to(src))[: -len(SUFFIX)]
        img = images.get(stem)
        if img is not None:
            w, h = check_image_header(img)
            name = img.relative_to(images_dir).as_posix()
        else:
            w = h = None
            unknown_size += 1
            name = stem  # the image's suffix is unknown: not guessed
        iid = b.add_image(name, w, h)
        for row in rows:
            if row is None:
                notes.lost("persons with an empty pose_keypoints_2d", 1)
                continue
            arr, pid = row
            lab = arr[:, 2] > 0
            notes.lost("coordinates of keypoints with confidence 0 (read as v=0 at 0,0)",
                       int((~lab & ((arr[:, 0] != 0) | (arr[:, 1] != 0))).sum()))
            kps = np.zeros((lay.num_keypoints, 3))
            kps[lab, :2] = arr[lab, :2]
            kps[lab, 2] = 2
            extra = {"keypoint_scores": arr[:, 2].tolist()}
            if isinstance(pid, list) and pid != [-1]:
                extra["person_id"] = pid
            score = float(arr[lab, 2].mean()) if lab.any() else 0.0
            b.add_person(iid, kps, None, score=score, **extra)
    if unknown_size:
        notes.lost(f"image sizes and suffixes (no image of that stem under {images_dir}; pass --images)",
                   unknown_size)
    b.notes.merge(notes)
    return Source(b.build(opts.box_margin), images_dir)


def write_openpose(ds: KeypointDataset, dst: Path, opts: Options, notes: Notes,
                   images_dir: Path | None) -> Output:
    """One ``<stem>_keypoints.json`` per image (BODY_25, COCO-18 or MPI-15 datasets; map
    others with ``--map-to``). Confidence: the keypoint's score when read from OpenPose, else 1
    for a labeled keypoint and 0 for an unlabeled one."""
    if ds.category.layout.name not in ("body25", "openpose18", "mpi15"):
        raise PosekitError(None, f"OpenPose JSON holds BODY_25, COCO-18 or MPI-15 people; this dataset is "
                                 f"{ds.category.layout.name}: add --map-to body25 (or openpose18)")
    note_unheld(ds, notes, ann_fields=("keypoint_scores", "person_id"), score=True)
    crowd = ds.iscrowd.astype(bool)
    notes.lost("crowd regions (OpenPose has none)", int(crowd.sum()))
    notes.lost("person boxes (OpenPose has none; read back from the keypoints)", int((~crowd).sum()))
    notes.lost("occluded flags (v=1; OpenPose has a confidence, read back as v=2)",
               int((ds.keypoints[~crowd, :, 2] == 1).sum()))
    by_image = ds.indices_by_image()
    files: dict[str, bytes] = {}
    other_score = 0
    for im in ds.images:
        people = []
        for r in by_image[im.id].tolist():
            if crowd[r]:
                continue
            kps = ds.keypoints[r]
            conf = ds.extra[r].get("keypoint_scores")
            c = np.asarray(conf, dtype=np.float64) if isinstance(conf, list) and len(conf) == len(kps) \
                else (kps[:, 2] > 0).astype(np.float64)
            c = np.where(kps[:, 2] > 0, np.where(c > 0, c, 1.0), 0.0)
            score = ds.score[r]  # read back as the mean confidence of the labeled keypoints
            other_score += int(not np.isnan(score) and not np.isclose(score, c[c > 0].mean() if (c > 0).any() else 0.0,
                                                                        rtol=1e-9, atol=1e-12))
            flat = np.column_stack([np.where(c > 0, kps[:, 0], 0), np.where(c > 0, kps[:, 1], 0), c]).ravel()
            pid = ds.extra[r].get("person_id", [-1])
            people.append({"person_id": pid, "pose_keypoints_2d": flat.tolist(), "face_keypoints_2d": [],
                           "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
                           "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []})
        rel = os.path.splitext(safe_file_name(im.file_name))[0] + SUFFIX
        if rel in files:
            raise PosekitError(None, f"two images would share {rel} (same name without suffix); rename one")
        files[rel] = dumps_json({"version": 1.3, "people": people})
    notes.lost("person scores other than the mean confidence of their keypoints (OpenPose holds none)", other_score)
    return Output(dst, files, folder=True, summary=f"{len(files)} OpenPose files, {int((~crowd).sum())} persons",
                  reads_back=(f"**/*{SUFFIX}",))
