"""OpenPose JSON folders <-> COCO: BODY_25 and COCO-18 detected, BODY_25 mapped to COCO-17 keypoint
by keypoint, confidence kept, c = 0 -> v = 0, image sizes from the images; Pose2Sim's folders
(dotted frame names, no ``_keypoints``); the account of every file in tests/data/openpose; bad
files refused or skipped; and COCO -> OpenPose -> COCO (hypothesis)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli, examples
from annotate.coco import load_coco
from annotate.errors import PosekitError
from annotate.skeletons import BODY25, COCO17, HALPE26, OPENPOSE18
from converters.formats import Context, convert, detect_format, read_dataset

DATA = Path(__file__).parent / "data" / "openpose"


def _person(K: int, rng: np.random.Generator, missing=()) -> list[float]:
    kp = np.column_stack([rng.uniform(5, 300, K), rng.uniform(5, 200, K), rng.uniform(0.05, 1, K)])
    kp[list(missing)] = 0
    return kp.ravel().tolist()


def _folder(tmp: Path, people_per_file: dict[str, list[list[float]]], with_images: bool = True,
            suffix: str = "_keypoints.json") -> Path:
    from PIL import Image

    src = tmp / "openpose"
    src.mkdir(parents=True, exist_ok=True)
    for stem, people in people_per_file.items():
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p, "face_keypoints_2d": [],
                                           "hand_left_keypoints_2d": [1, 2, 0.5] * 21 if i == 0 else [],
                                           "hand_right_keypoints_2d": []} for i, p in enumerate(people)]}
        (src / f"{stem}{suffix}").parent.mkdir(parents=True, exist_ok=True)
        (src / f"{stem}{suffix}").write_text(json.dumps(doc))
        if with_images:
            Image.new("RGB", (320, 240)).save(src / f"{stem}.png")
    return src


def _convert(src: Path, dst: Path, to: str, map_to: str | None = None, from_: str | None = None, **options):
    return convert(src, dst, to, from_, Context(**options), map_to)


def _read(src: Path, **options) -> tuple:
    """The dataset and the context of reading ``src`` (read_dataset settles the account)."""
    ctx = Context(**options)
    return read_dataset(src, ctx)[0].ds, ctx


def test_body25_to_coco17_maps_each_keypoint(tmp_path):
    rng = np.random.default_rng(1)
    people = [_person(25, rng, missing=(BODY25.index("left_wrist"), BODY25.index("neck"))), _person(25, rng)]
    src = _folder(tmp_path, {"frame_000": people, "frame_001": []})
    out = tmp_path / "coco.json"
    res = run_cli("convert", src, "-o", out, "--to", "coco", "--map-to", "coco17")
    assert res.exit_code == 0, res.stderr
    assert "body25 -> coco17: mapped 17; dropped neck, mid_hip" in res.stdout
    assert "1 face/hand keypoint sets" in res.stdout
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
    res = _convert(src, tmp_path / "coco.json", "coco")
    assert "image sizes and suffixes" in res.notes.line()
    ds = load_coco(tmp_path / "coco.json")
    assert ds.category.keypoints == list(OPENPOSE18.keypoints) and ds.images[0].file_name == "a"


def test_wrong_length_refused(tmp_path):
    src = _folder(tmp_path, {"a": [[1.0, 2.0, 0.5] * 19]}, with_images=False)
    with pytest.raises(PosekitError, match="a_keypoints.json: person 0 has 57 pose values"):
        _convert(src, tmp_path / "c.json", "coco")
    assert not (tmp_path / "c.json").exists()


def test_halpe26_read_and_layout_option_must_fit(tmp_path):
    """Pose2Sim and AlphaPose write Halpe-26 people in OpenPose's files; --layout names a layout
    of the files' count."""
    rng = np.random.default_rng(4)
    src = _folder(tmp_path, {"a": [_person(26, rng)]}, with_images=False)
    ds, _ = _read(src)
    assert ds.category.layout == HALPE26 and len(ds) == 1
    with pytest.raises(PosekitError, match="person 0 has 26 keypoints; --layout body25 has 25"):
        _read(src, layout="body25")


@settings(max_examples=examples(15), suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([25, 18, 15, 26]), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_round_trip_property(K, n_people, seed):
    rng = np.random.default_rng(seed)
    people = [_person(K, rng, missing=rng.choice(K, rng.integers(0, K), replace=False)) for _ in range(n_people)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = _folder(tmp, {"img": people})
        coco = tmp / "coco.json"
        layout = {25: "body25", 18: "openpose18", 15: "mpi15", 26: "halpe26"}[K]  # needed when no file has a person
        _convert(src, coco, "coco", layout=layout)
        again = tmp / "again"
        _convert(coco, again, "openpose")
        got = json.loads((again / "img_keypoints.json").read_text())["people"]
        kept = [p for p in people if (np.asarray(p)[2::3] > 0).any()]  # a person with no point is not carried
        assert len(got) == len(kept)
        for p, q in zip(kept, got):
            np.testing.assert_allclose(q["pose_keypoints_2d"], p)


def test_reads_openpose_1_0_files(tmp_path):
    """OpenPose 1.0 wrote ``pose_keypoints`` (no ``_2d``)."""
    out = tmp_path / "coco.json"
    _convert(DATA / "v1_0", out, "coco")
    ds = load_coco(out)
    body = np.asarray(json.loads((DATA / "v1_0" / "photo_keypoints.json").read_text())["people"][0]["pose_keypoints"])
    body = body.reshape(18, 3)
    assert ds.category.keypoints == list(OPENPOSE18.keypoints) and len(ds) == 1
    np.testing.assert_allclose(ds.keypoints[0, :, :2], body[:, :2])
    np.testing.assert_array_equal(ds.keypoints[0, :, 2], np.where(body[:, 2] > 0, 2, 0))


def test_face_hand_3d_and_part_candidates_counted(tmp_path):
    res = _convert(DATA / "video", tmp_path / "coco.json", "coco")
    line = res.notes.line()
    for part in ("1 3-D keypoint sets (*_keypoints_3d; a body layout is 2-D)",
                 "2 face/hand keypoint sets (no place in a body layout)",  # face and left hand; the right is all 0
                 "1 files' part_candidates", "2 image sizes and suffixes",
                 # all confidences 0: no point and no box to place the person by (COCOeval needs a box)
                 "1 persons with neither a box nor a labeled keypoint (nothing to place them by)"):
        assert part in line, part
    ds = load_coco(tmp_path / "coco.json")
    assert [im.file_name for im in ds.images] == ["clip_000000000000", "clip_000000000001"]
    assert len(ds) == 1 and (ds.keypoints[0, :, 2] > 0).any()


def test_persons_without_pose_still_count_their_hands(tmp_path):
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [], "face_keypoints_2d": [],
                                       "hand_left_keypoints_2d": [1, 2, 0.5] * 21, "hand_right_keypoints_2d": []}]}
    (tmp_path / "op").mkdir()
    (tmp_path / "op" / "a_keypoints.json").write_text(json.dumps(doc))
    line = _convert(tmp_path / "op", tmp_path / "c.json", "coco", layout="body25").notes.line()
    assert "1 face/hand keypoint sets" in line and "1 persons with an empty pose_keypoints_2d" in line


def test_zero_confidence_coordinates_counted(tmp_path):
    pose = [0.0] * 54
    pose[0:3] = [10, 20, 0]  # a place without confidence
    pose[3:6] = [30, 40, 0.9]
    (tmp_path / "op").mkdir()
    (tmp_path / "op" / "a_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": pose}]}))
    res = _convert(tmp_path / "op", tmp_path / "c.json", "coco")
    assert "1 coordinates of keypoints with confidence 0 (read as v=0 at 0,0)" in res.notes.line()


def test_person_scores_read_from_openpose_are_not_counted_lost(tmp_path):
    """OpenPose -> COCO -> OpenPose: the person score is the mean confidence, which the file keeps."""
    rng = np.random.default_rng(3)
    src = _folder(tmp_path, {"img": [_person(25, rng, missing=(4,)), _person(25, rng)]})
    coco = tmp_path / "coco.json"
    _convert(src, coco, "coco")
    assert "person scores" not in _convert(coco, tmp_path / "again", "openpose").notes.line()
    doc = json.loads(coco.read_text())
    doc["annotations"][0]["score"] = 0.123  # a score of its own: not held
    coco.write_text(json.dumps(doc))
    line = _convert(coco, tmp_path / "again2", "openpose").notes.line()
    assert "1 person scores other than the mean confidence of their keypoints" in line


# --------------------------------------------------------------------------- Pose2Sim, dotted names

def test_dotted_frame_names_round_trip(tmp_path):
    """Pose2Sim names frames ``cam01.0030``: a dot in a name is not a suffix, both ways."""
    rng = np.random.default_rng(5)
    people = {"cam01.0030": [_person(25, rng)], "cam01.0036": [_person(25, rng), _person(25, rng)]}
    src = _folder(tmp_path / "a", people, with_images=False)
    coco = tmp_path / "coco.json"
    res = run_cli("convert", src, "-o", coco, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert [im.file_name for im in load_coco(coco).images] == ["cam01.0030", "cam01.0036"]
    back = tmp_path / "back"
    res = run_cli("convert", coco, "-o", back, "--to", "openpose")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in back.iterdir()) == ["cam01.0030_keypoints.json", "cam01.0036_keypoints.json"]
    for stem, ps in people.items():
        got = json.loads((back / f"{stem}_keypoints.json").read_text())["people"]
        np.testing.assert_allclose([q["pose_keypoints_2d"] for q in got], ps)
    # with the images beside them: the image's suffix is the only one taken off
    src = _folder(tmp_path / "b", people)
    _convert(src, tmp_path / "c2.json", "coco")
    assert [im.file_name for im in load_coco(tmp_path / "c2.json").images] == ["cam01.0030.png", "cam01.0036.png"]
    _convert(tmp_path / "c2.json", tmp_path / "back2", "openpose")
    assert sorted(p.name for p in (tmp_path / "back2").iterdir()) == ["cam01.0030_keypoints.json",
                                                                      "cam01.0036_keypoints.json"]


def test_pose2sim_folder_as_published(tmp_path):
    """``camNN_json/camNN.FFFF.json``: detected, and read with --from openpose too; the image is the
    file's path without ``.json``; written back as OpenPose names its files."""
    src = DATA / "pose2sim"
    assert detect_format(src) == "openpose" and detect_format(src / "cam02_json") == "openpose"
    res = run_cli("convert", src, "-o", tmp_path / "c.json", "--to", "coco", "--from", "openpose")
    assert res.exit_code == 0, res.stderr
    ds = load_coco(tmp_path / "c.json")
    assert [im.file_name for im in ds.images] == ["cam01_json/cam01.0030", "cam01_json/cam01.0036",
                                                  "cam02_json/cam02.0030", "cam02_json/cam02.0036"]
    assert np.bincount(ds.image_id).tolist() == [0, 2, 2, 1] and ds.category.layout == BODY25
    _convert(tmp_path / "c.json", tmp_path / "op", "openpose")
    first = json.loads((src / "cam01_json" / "cam01.0030.json").read_text())["people"]
    again = json.loads((tmp_path / "op" / "cam01_json" / "cam01.0030_keypoints.json").read_text())["people"]
    np.testing.assert_allclose([p["pose_keypoints_2d"] for p in again], [p["pose_keypoints_2d"] for p in first])
    assert (tmp_path / "op" / "cam02_json" / "cam02.0036_keypoints.json").is_file()  # the empty frame too


def test_other_json_files_are_counted_and_a_frame_twice_refused(tmp_path):
    rng = np.random.default_rng(6)
    src = _folder(tmp_path, {"f.0001": [_person(18, rng)]}, with_images=False, suffix=".json")
    (src / "meta.json").write_text(json.dumps({"fps": 60}))
    ds, ctx = _read(src, layout=None)
    assert len(ds) == 1 and "1 JSON files without OpenPose 'people'" in ctx.notes.line()
    (src / "f.0001_keypoints.json").write_text((src / "f.0001.json").read_text())
    with pytest.raises(PosekitError, match="holds image 'f.0001' as f.0001.json does"):
        _read(src)


def test_detection_of_folders_and_single_files(tmp_path):
    empty = tmp_path / "empty_frames"
    empty.mkdir()
    (empty / "cam01.0001.json").write_text('{"version":1.3,"people":[]}')
    assert detect_format(empty) == "openpose"
    with pytest.raises(PosekitError, match="looks like one openpose file; pass the folder"):
        detect_format(DATA / "pose2sim" / "cam01_json" / "cam01.0030.json")
    old = tmp_path / "v1"
    old.mkdir()
    (old / "frame.json").write_text((DATA / "v1_0" / "photo_keypoints.json").read_text())
    assert detect_format(old) == "openpose"


# --------------------------------------------------------------------------- account, bad files

@pytest.mark.parametrize("folder", sorted(p.name for p in DATA.iterdir() if p.is_dir()))
def test_every_data_folder_reads_with_a_balanced_account(folder):
    """Every image (file), person (entry of ``people``) and keypoint with confidence > 0 of the
    files is carried or counted as not carried."""
    files = sorted((DATA / folder).rglob("*.json"))
    people = [p for f in files for p in json.loads(f.read_text())["people"]]
    poses = [np.asarray(p.get("pose_keypoints_2d", p.get("pose_keypoints")), dtype=float) for p in people]
    ds, ctx = _read(DATA / folder)  # read_dataset raises when the account does not balance
    assert ctx.account == {"images": len(files), "persons": len(people),
                           "keypoints": sum(int((a[2::3] > 0).sum()) for a in poses)}
    assert len(ds.images) == len(files)
    assert len(ds) + ctx.notes.dropped("persons") == len(people)
    assert int((ds.keypoints[..., 2] > 0).sum()) + ctx.notes.dropped("keypoints") == ctx.account["keypoints"]


def test_bad_frame_files_refused_or_skipped(tmp_path):
    rng = np.random.default_rng(7)
    src = _folder(tmp_path, {"a": [_person(25, rng)], "b": [_person(25, rng)], "c": [_person(18, rng)]},
                  with_images=False)
    (src / "d_keypoints.json").write_text('{"version":1.3,"people":[{"pose_keypoints_2d":[1,2')  # cut short
    with pytest.raises(PosekitError, match="c_keypoints.json: person 0 has 18 keypoints; earlier files have 25"):
        _read(src)
    ds, ctx = _read(src, skip_bad=True)
    assert [im.file_name for im in ds.images] == ["a", "b"] and len(ds) == 2
    assert [Path(e.path).name for e in ctx.bad_files] == ["c_keypoints.json", "d_keypoints.json"]
    assert "2 bad files skipped (--skip-bad)" in ctx.notes.line()
    res = run_cli("convert", src, "-o", tmp_path / "c.json", "--to", "coco", "--skip-bad")
    assert res.exit_code == 0, res.stderr
    assert "2 bad files skipped" in res.stdout and len(load_coco(tmp_path / "c.json")) == 2


def test_writer_counts_crowd_regions_as_persons_not_written(tmp_path):
    rng = np.random.default_rng(8)
    src = _folder(tmp_path, {"a": [_person(18, rng), _person(18, rng)]})
    coco = tmp_path / "coco.json"
    _convert(src, coco, "coco")
    doc = json.loads(coco.read_text())
    doc["annotations"][1]["iscrowd"] = 1
    coco.write_text(json.dumps(doc))
    res = _convert(coco, tmp_path / "op", "openpose")
    assert "1 crowd regions (OpenPose has none)" in res.notes.line() and "1 persons" in res.summary
    assert len(json.loads((tmp_path / "op" / "a_keypoints.json").read_text())["people"]) == 1


def test_pose2sim_body25b_is_read_with_its_own_names():
    """Pose2Sim's demo is BODY_25B (COCO's 17 in COCO order, then upper neck, head top and feet):
    with --layout body25b every keypoint gets its own name, and it maps to COCO-17 by name."""
    from converters.formats import Context, read_dataset, remap

    src = Path(__file__).parent / "data" / "openpose" / "pose2sim"
    ctx = Context(layout="body25b")
    ds = read_dataset(src, ctx, "openpose")[0].ds
    assert ds.category.keypoints[:17] == list(COCO17.keypoints) and ds.category.keypoints[17:19] == ["upper_neck",
                                                                                                      "head_top"]
    coco, _ = remap(ds, "coco17", ctx.notes)
    np.testing.assert_array_equal(coco.keypoints, ds.keypoints[:, :17])
