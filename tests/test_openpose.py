"""OpenPose ``*_keypoints.json`` folders -> COCO: BODY_25 and COCO-18 detected, BODY_25 mapped to
COCO-17 keypoint by keypoint, confidence kept, c = 0 -> v = 0, image sizes from the images; and
COCO -> OpenPose -> COCO (hypothesis)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from annotate.skeletons import BODY25, COCO17, OPENPOSE18


def _person(K: int, rng: np.random.Generator, missing=()) -> list[float]:
    kp = np.column_stack([rng.uniform(5, 300, K), rng.uniform(5, 200, K), rng.uniform(0.05, 1, K)])
    kp[list(missing)] = 0
    return kp.ravel().tolist()


def _folder(tmp: Path, people_per_file: dict[str, list[list[float]]], with_images: bool = True) -> Path:
    from PIL import Image

    src = tmp / "openpose"
    src.mkdir(parents=True)
    for stem, people in people_per_file.items():
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p, "face_keypoints_2d": [],
                                           "hand_left_keypoints_2d": [1, 2, 0.5] * 21 if i == 0 else [],
                                           "hand_right_keypoints_2d": []} for i, p in enumerate(people)]}
        (src / f"{stem}_keypoints.json").write_text(json.dumps(doc))
        if with_images:
            Image.new("RGB", (320, 240)).save(src / f"{stem}.png")
    return src


def test_body25_to_coco17_maps_each_keypoint(tmp_path):
    rng = np.random.default_rng(1)
    people = [_person(25, rng, missing=(BODY25.index("left_wrist"), BODY25.index("neck"))), _person(25, rng)]
    src = _folder(tmp_path, {"frame_000": people, "frame_001": []})
    out = tmp_path / "coco.json"
    res = run_cli("convert", src, "-o", out, "--to", "coco", "--map-to", "coco17")
    assert res.exit_code == 0, res.stderr
    assert "body25 -> coco17: mapped 17; dropped neck, mid_hip" in res.stdout
    assert "1 face/hand keypoint sets" in res.stdout
    from annotate.coco import load_coco

    ds = load_coco(out)
    assert ds.category.keypoints == list(COCO17.keypoints) and len(ds) == 2
    assert [(im.file_name, im.width, im.height) for im in ds.images] == [("frame_000.png", 320, 240),
                                                                         ("frame_001.png", 320, 240)]
    for r, p in enumerate(people):
        body = np.asarray(p).reshape(25, 3)
        for j, name in enumerate(COCO17.keypoints):  # every COCO keypoint from the BODY_25 one of that name
            b = body[BODY25.index(name)]
            if b[2] > 0:
                np.testing.assert_allclose(ds.keypoints[r, j], [b[0], b[1], 2])
            else:
                np.testing.assert_array_equal(ds.keypoints[r, j], [0, 0, 0])
        lab = body[:, 2] > 0
        assert ds.score[r] == pytest.approx(body[lab, 2].mean())
        # confidences follow their keypoints into COCO-17's order
        np.testing.assert_allclose(ds.extra[r]["keypoint_scores"], body[[BODY25.index(n) for n in COCO17.keypoints], 2])
    # spot check by hand: BODY_25's RShoulder (2) is COCO's right_shoulder (6), LAnkle (14) left_ankle (15)
    body0 = np.asarray(people[0]).reshape(25, 3)
    np.testing.assert_allclose(ds.keypoints[0, 6, :2], body0[2, :2])
    np.testing.assert_allclose(ds.keypoints[0, 15, :2], body0[14, :2])


def test_coco18_detected_and_sizes_said_missing(tmp_path):
    rng = np.random.default_rng(2)
    src = _folder(tmp_path, {"a": [_person(18, rng)]}, with_images=False)
    out = tmp_path / "coco.json"
    res = run_cli("convert", src, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert "image sizes and suffixes" in res.stdout
    from annotate.coco import load_coco

    ds = load_coco(out)
    assert ds.category.keypoints == list(OPENPOSE18.keypoints) and ds.images[0].file_name == "a"


def test_wrong_length_refused(tmp_path):
    src = _folder(tmp_path, {"a": [[1.0, 2.0, 0.5] * 19]}, with_images=False)
    res = run_cli("convert", src, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and "57 pose values" in res.stderr


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([25, 18, 15]), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_round_trip_property(K, n_people, seed):
    rng = np.random.default_rng(seed)
    people = [_person(K, rng, missing=rng.choice(K, rng.integers(0, K), replace=False)) for _ in range(n_people)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = _folder(tmp, {"img": people})
        coco = tmp / "coco.json"
        layout = {25: "body25", 18: "openpose18", 15: "mpi15"}[K]  # needed only when no file has a person
        assert run_cli("convert", src, "-o", coco, "--to", "coco", "--layout", layout).exit_code == 0
        again = tmp / "again"
        res = run_cli("convert", coco, "-o", again, "--to", "openpose")
        assert res.exit_code == 0, res.stderr
        got = json.loads((again / "img_keypoints.json").read_text())["people"]
        assert len(got) == n_people
        for p, q in zip(people, got):
            np.testing.assert_allclose(q["pose_keypoints_2d"], p)


DATA = Path(__file__).parent / "data" / "openpose"


def test_reads_openpose_1_0_files(tmp_path):
    """OpenPose 1.0 wrote ``pose_keypoints`` (no ``_2d``)."""
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "v1_0", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    from annotate.coco import load_coco

    ds = load_coco(out)
    body = np.asarray(json.loads((DATA / "v1_0" / "photo_keypoints.json").read_text())["people"][0]["pose_keypoints"])
    body = body.reshape(18, 3)
    assert ds.category.keypoints == list(OPENPOSE18.keypoints) and len(ds) == 1
    np.testing.assert_allclose(ds.keypoints[0, :, :2], body[:, :2])
    np.testing.assert_array_equal(ds.keypoints[0, :, 2], np.where(body[:, 2] > 0, 2, 0))


def test_face_hand_3d_and_part_candidates_counted(tmp_path):
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "video", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    for part in ("1 3-D keypoint sets (*_keypoints_3d; a body layout is 2-D)",
                 "2 face/hand keypoint sets (no place in a body layout)",  # face and left hand; the right is all 0
                 "1 files' part_candidates", "2 image sizes and suffixes",
                 # all confidences 0: no point and no box to place the person by (COCOeval needs a box)
                 "1 persons with neither a box nor a labeled keypoint (nothing to place them by)"):
        assert part in line, part
    from annotate.coco import load_coco

    ds = load_coco(out)
    assert [im.file_name for im in ds.images] == ["clip_000000000000", "clip_000000000001"]
    assert len(ds) == 1 and (ds.keypoints[0, :, 2] > 0).any()


def test_persons_without_pose_still_count_their_hands(tmp_path):
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [], "face_keypoints_2d": [],
                                       "hand_left_keypoints_2d": [1, 2, 0.5] * 21, "hand_right_keypoints_2d": []}]}
    (tmp_path / "op").mkdir()
    (tmp_path / "op" / "a_keypoints.json").write_text(json.dumps(doc))
    res = run_cli("convert", tmp_path / "op", "-o", tmp_path / "c.json", "--to", "coco", "--layout", "body25")
    assert res.exit_code == 0, res.stderr
    assert "1 face/hand keypoint sets" in res.stdout and "1 persons with an empty pose_keypoints_2d" in res.stdout


def test_zero_confidence_coordinates_counted(tmp_path):
    pose = [0.0] * 54
    pose[0:3] = [10, 20, 0]  # a place without confidence
    pose[3:6] = [30, 40, 0.9]
    (tmp_path / "op").mkdir()
    (tmp_path / "op" / "a_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": pose}]}))
    res = run_cli("convert", tmp_path / "op", "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0 and "1 coordinates of keypoints with confidence 0 (read as v=0 at 0,0)" in res.stdout


def test_person_scores_read_from_openpose_are_not_counted_lost(tmp_path):
    """OpenPose -> COCO -> OpenPose: the person score is the mean confidence, which the file keeps."""
    rng = np.random.default_rng(3)
    src = _folder(tmp_path, {"img": [_person(25, rng, missing=(4,)), _person(25, rng)]})
    coco = tmp_path / "coco.json"
    assert run_cli("convert", src, "-o", coco, "--to", "coco").exit_code == 0
    res = run_cli("convert", coco, "-o", tmp_path / "again", "--to", "openpose")
    assert res.exit_code == 0 and "person scores" not in res.stdout, res.stdout
    doc = json.loads(coco.read_text())
    doc["annotations"][0]["score"] = 0.123  # a score of its own: not held
    coco.write_text(json.dumps(doc))
    res = run_cli("convert", coco, "-o", tmp_path / "again2", "--to", "openpose")
    assert "1 person scores other than the mean confidence of their keypoints" in res.stdout
