import json

import numpy as np
import pytest

from annotate.coco import load_coco
from annotate.errors import PosekitError
from annotate.skeletons import COCO17
from converters.mpii import read_mpii, read_mpii_mat, write_mpii_json
from converters.mpii_mat import write_release_mat

from conftest import MPII_SAMPLE, SAMPLE, SHARED, needs_shared, run_cli, run_cli_subprocess


@needs_shared
def test_mmpose_json_round_trips_exactly(tmp_path):
    res = run_cli("convert", "mpii-to-coco", MPII_SAMPLE, "--layout", "mpii16", "--images", SHARED / "mpii",
                  "-o", tmp_path / "c.json")
    assert res.exit_code == 0, res.stderr
    ds = load_coco(tmp_path / "c.json")
    assert all(im.width and im.height for im in ds.images)  # read from the image headers
    res = run_cli("convert", "coco-to-mpii", tmp_path / "c.json", "-o", tmp_path / "back.json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "back.json").read_text()) == json.loads(MPII_SAMPLE.read_text())


@needs_shared
def test_mmpose_json_to_coco17_maps_joints_and_visibility(tmp_path):
    src = json.loads(MPII_SAMPLE.read_text())
    ds = read_mpii(MPII_SAMPLE, "coco17")
    assert ds.category.keypoints == list(COCO17.keypoints)
    assert ds.info["dropped_keypoints"] == ["pelvis", "thorax", "upper_neck", "head_top"]
    for r, e in enumerate(src):
        j = np.array(e["joints"])
        for m, c in ((0, 16), (12, 6), (15, 9)):
            if e["joints_vis"][m]:
                np.testing.assert_allclose(ds.keypoints[r, c, :2], j[m] - 1)  # 1-based -> 0-based
                assert ds.keypoints[r, c, 2] == 2
            else:
                assert (ds.keypoints[r, c] == 0).all()
        assert (ds.keypoints[r, :5, 2] == 0).all()  # COCO face joints are not in MPII
        # person box from the keypoints' extent (not the head box), inside the labeled joints' hull
        x, y, w, h = ds.bbox[r]
        lab = j[np.array(e["joints_vis"]) > 0] - 1
        assert x <= lab[:, 0].min() and x + w >= lab[:, 0].max() and h > 100


def _person(n_points=16, vis=1, scale=2.0, missing=()):
    pts = [(i, 100 + 10 * i, 50 + 20 * i, vis) for i in range(n_points) if i not in missing]
    return {"points": pts, "head": (150, 40, 190, 90), "objpos": (200, 300), "scale": scale}


def test_mat_scalar_struct_and_struct_array(tmp_path):
    entries = [{"name": "one.jpg", "train": 1, "persons": [_person()]},
               {"name": "two.jpg", "train": 1, "persons": [_person(), _person(scale=3.0)]}]
    write_release_mat(entries, tmp_path / "r.mat")
    ds = read_mpii_mat(tmp_path / "r.mat", "mpii16")
    assert [im.file_name for im in ds.images] == ["one.jpg", "two.jpg"]
    assert np.bincount(ds.image_id).tolist() == [0, 1, 2]
    np.testing.assert_allclose(ds.keypoints[0, 3, :2], (100 + 30 - 1, 50 + 60 - 1))
    assert ds.extra[0]["head_box"] == [149, 39, 40, 50]  # kept for PCKh, 0-based [x, y, w, h]
    assert ds.extra[2]["scale"] == 3.0 and ds.images[0].extra["is_train"] is True


def test_mat_points_placed_by_id_not_order(tmp_path):
    p = _person(missing=(0, 1, 2))
    p["points"] = list(reversed(p["points"]))  # shuffled order, first three joints missing
    write_release_mat([{"name": "a.jpg", "persons": [p]}], tmp_path / "r.mat")
    ds = read_mpii_mat(tmp_path / "r.mat", "mpii16")
    k = ds.keypoints[0]
    assert (k[:3] == 0).all()
    np.testing.assert_allclose(k[5, :2], (149, 149))
    assert (k[3:, 2] == 2).all()


@pytest.mark.parametrize("vis, expected", [(1, 2), (0, 1), ("1", 2), ("0", 1), (None, 2)])
def test_mat_is_visible_forms(tmp_path, vis, expected):
    write_release_mat([{"name": "a.jpg", "persons": [_person(n_points=4, vis=vis)]}], tmp_path / "r.mat")
    ds = read_mpii_mat(tmp_path / "r.mat", "mpii16")
    assert (ds.keypoints[0, :4, 2] == expected).all()


def test_mat_without_img_train_and_extras(tmp_path):
    write_release_mat([{"name": "a.jpg", "persons": [_person()]}], tmp_path / "r.mat",
                      with_img_train=False, with_extras=False)
    ds = read_mpii_mat(tmp_path / "r.mat", "coco17")
    assert len(ds) == 1 and "is_train" not in ds.images[0].extra
    with pytest.raises(PosekitError, match="needs RELEASE.img_train"):
        read_mpii_mat(tmp_path / "r.mat", "coco17", split="train")


def test_mat_split_and_test_images_with_objpos_only(tmp_path):
    test_person = {"objpos": (320, 240), "scale": 1.5}
    write_release_mat([{"name": "train.jpg", "train": 1, "persons": [_person()]},
                       {"name": "test.jpg", "train": 0, "persons": [test_person]}], tmp_path / "r.mat")
    train = read_mpii_mat(tmp_path / "r.mat", "coco17", split="train")
    test = read_mpii_mat(tmp_path / "r.mat", "coco17", split="test")
    assert [im.file_name for im in train.images] == ["train.jpg"]
    assert [im.file_name for im in test.images] == ["test.jpg"]
    # no keypoints: the box comes from objpos/scale (height = scale * 200 px)
    x, y, w, h = test.bbox[0]
    assert h == pytest.approx(300) and x + w / 2 == pytest.approx(319) and (test.keypoints[0] == 0).all()
    assert len(read_mpii_mat(tmp_path / "r.mat", "coco17")) == 2


def test_mat_missing_annolist_is_a_clear_error(tmp_path):
    import scipy.io

    scipy.io.savemat(str(tmp_path / "bad.mat"), {"RELEASE": {"img_train": np.ones((1, 2))}})
    with pytest.raises(PosekitError, match="bad.mat: RELEASE has no 'annolist'"):
        read_mpii_mat(tmp_path / "bad.mat")


def test_sample_mat_and_json_agree(tmp_path):
    a = read_mpii(SAMPLE / "mpii" / "sample_mpii.mat", "mpii16")
    b = read_mpii(SAMPLE / "mpii" / "sample_mpii.json", "mpii16")
    np.testing.assert_allclose(a.keypoints[:, :, :2], b.keypoints[:, :, :2], atol=1e-6)
    # the .mat says which joints are occluded; mmpose's JSON only says labeled
    assert (a.keypoints[:, :, 2] == 1).sum() == 3 and (b.keypoints[:, :, 2] == 2).all()


def test_coco_to_mpii_from_coco17(tmp_path):
    ds = read_mpii(SAMPLE / "mpii" / "sample_mpii.json", "coco17")
    entries = write_mpii_json(ds)
    assert len(entries) == len(ds) and all(len(e["joints"]) == 16 for e in entries)
    assert entries[0]["joints_vis"][6:10] == [0, 0, 0, 0]  # pelvis..head_top unknown in COCO


def test_console_script_reads_the_mat_while_starting(tmp_path, monkeypatch):
    """The console script starts inflating the .mat named on its command line before importing
    the CLI; its output and its errors are those of the in-process command."""
    from annotate import launch

    calls = []
    monkeypatch.setattr("converters.matfile.prefetch", lambda path, name: calls.append((path, name)))
    mat = SAMPLE / "mpii" / "sample_mpii.mat"
    launch._start_reading(["-q", "convert", "mpii-to-coco", str(mat), "-o", "o.json"])
    launch._start_reading(["convert", "mpii-to-coco", str(tmp_path / "missing.mat")])
    launch._start_reading(["convert", "labelme-to-coco", str(mat)])
    assert calls == [(str(mat), "RELEASE")]
    monkeypatch.undo()

    res = run_cli_subprocess("convert", "mpii-to-coco", mat, "-o", tmp_path / "a.json")
    assert res.exit_code == 0, res.stderr
    assert run_cli("convert", "mpii-to-coco", mat, "-o", tmp_path / "b.json").exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    bad = tmp_path / "bad.mat"
    bad.write_bytes(mat.read_bytes()[:300])
    res = run_cli_subprocess("convert", "mpii-to-coco", bad, "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {bad}: corrupt MATLAB .mat file (truncated file)"
    assert not (tmp_path / "c.json").exists()
