"""MPII (the .mat release, mmpose's JSON) <-> COCO: joints and visibility, boxes, splits, the
default layout (mpii16, lossless), and the account of every image, person and labeled joint."""
import json
from pathlib import Path

import numpy as np
import pytest

from annotate.coco import load_coco
from annotate.dataset import KeypointDataset
from annotate.errors import PosekitError
from annotate.skeletons import COCO17
from converters.formats import Context, convert, read_dataset, settle
from converters.mpii import read_mpii_mat, write_mpii_json
from converters.mpii_mat import write_release_mat

from conftest import MPII_SAMPLE, SAMPLE, SHARED, run_cli, run_cli_subprocess


def _read(path: Path, layout: str | None = None, **options):
    """The dataset as every command reads it (read_dataset settles the account)."""
    return read_dataset(path, Context(layout=layout, **options), "mpii")[0].ds


def _mat(path: Path, layout: str = "mpii16", split: str = "all") -> KeypointDataset:
    """The release's images of ``split``, the account settled."""
    ctx = Context()
    ds = read_mpii_mat(path, layout, ctx, split)
    settle(ctx.account, ds, ctx.notes, path, "reading mpii")
    assert set(ctx.account) == {"images", "persons", "keypoints"}
    return ds


def test_mmpose_json_round_trips_exactly(tmp_path):
    convert(MPII_SAMPLE, tmp_path / "c.json", "coco", None, Context(images=SHARED / "mpii"))
    ds = load_coco(tmp_path / "c.json")
    assert ds.category.name == "person" and ds.category.layout.name == "mpii16"  # the default: lossless
    assert all(im.width and im.height for im in ds.images)  # read from the image headers
    convert(tmp_path / "c.json", tmp_path / "back.json", "mpii")
    assert json.loads((tmp_path / "back.json").read_text()) == json.loads(MPII_SAMPLE.read_text())


def test_mmpose_json_to_coco17_maps_joints_and_visibility(tmp_path):
    src = json.loads(MPII_SAMPLE.read_text())
    ds = _read(MPII_SAMPLE, "coco17")
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
    ds = _mat(tmp_path / "r.mat")
    assert [im.file_name for im in ds.images] == ["one.jpg", "two.jpg"]
    assert np.bincount(ds.image_id).tolist() == [0, 1, 2]
    np.testing.assert_allclose(ds.keypoints[0, 3, :2], (100 + 30 - 1, 50 + 60 - 1))
    assert ds.extra[0]["head_box"] == [149, 39, 40, 50]  # kept for PCKh, 0-based [x, y, w, h]
    assert ds.extra[2]["scale"] == 3.0 and ds.images[0].extra["is_train"] is True


def test_mat_points_placed_by_id_not_order(tmp_path):
    p = _person(missing=(0, 1, 2))
    p["points"] = list(reversed(p["points"]))  # shuffled order, first three joints missing
    write_release_mat([{"name": "a.jpg", "persons": [p]}], tmp_path / "r.mat")
    ds = _mat(tmp_path / "r.mat")
    k = ds.keypoints[0]
    assert (k[:3] == 0).all()
    np.testing.assert_allclose(k[5, :2], (149, 149))
    assert (k[3:, 2] == 2).all()


@pytest.mark.parametrize("vis, expected", [(1, 2), (0, 1), ("1", 2), ("0", 1), (None, 2)])
def test_mat_is_visible_forms(tmp_path, vis, expected):
    write_release_mat([{"name": "a.jpg", "persons": [_person(n_points=4, vis=vis)]}], tmp_path / "r.mat")
    ds = _mat(tmp_path / "r.mat")
    assert (ds.keypoints[0, :4, 2] == expected).all()


def test_mat_without_img_train_and_extras(tmp_path):
    write_release_mat([{"name": "a.jpg", "persons": [_person()]}], tmp_path / "r.mat",
                      with_img_train=False, with_extras=False)
    ds = _mat(tmp_path / "r.mat", "coco17")
    assert len(ds) == 1 and "is_train" not in ds.images[0].extra
    with pytest.raises(PosekitError, match="needs RELEASE.img_train"):
        _mat(tmp_path / "r.mat", "coco17", split="train")


def test_mat_split_and_test_images_with_objpos_only(tmp_path):
    test_person = {"objpos": (320, 240), "scale": 1.5}
    write_release_mat([{"name": "train.jpg", "train": 1, "persons": [_person()]},
                       {"name": "test.jpg", "train": 0, "persons": [test_person]}], tmp_path / "r.mat")
    train = _mat(tmp_path / "r.mat", "coco17", split="train")
    test = _mat(tmp_path / "r.mat", "coco17", split="test")
    assert [im.file_name for im in train.images] == ["train.jpg"]
    assert [im.file_name for im in test.images] == ["test.jpg"]
    # no keypoints: the box comes from objpos/scale (height = scale * 200 px)
    x, y, w, h = test.bbox[0]
    assert h == pytest.approx(300) and x + w / 2 == pytest.approx(319) and (test.keypoints[0] == 0).all()
    assert len(_mat(tmp_path / "r.mat", "coco17")) == 2


def test_mat_missing_annolist_is_a_clear_error(tmp_path):
    import scipy.io

    scipy.io.savemat(str(tmp_path / "bad.mat"), {"RELEASE": {"img_train": np.ones((1, 2))}})
    with pytest.raises(PosekitError, match="bad.mat: RELEASE has no 'annolist'"):
        read_mpii_mat(tmp_path / "bad.mat")


def test_sample_mat_and_json_agree(tmp_path):
    a = _read(SAMPLE / "mpii" / "sample_mpii.mat")
    b = _read(SAMPLE / "mpii" / "sample_mpii.json")
    np.testing.assert_allclose(a.keypoints[:, :, :2], b.keypoints[:, :, :2], atol=1e-6)
    # the .mat says which joints are occluded; mmpose's JSON only says labeled
    assert (a.keypoints[:, :, 2] == 1).sum() == 3 and (b.keypoints[:, :, 2] == 2).all()


def test_coco_to_mpii_from_coco17(tmp_path):
    ds = _read(SAMPLE / "mpii" / "sample_mpii.json", "coco17")
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


# --------------------------------------------------------------------------- account, defaults, bad entries

MPII_FILES = [MPII_SAMPLE, SAMPLE / "mpii" / "sample_mpii.json", SAMPLE / "mpii" / "sample_mpii.mat"]


@pytest.mark.parametrize("path", MPII_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("layout", [None, "coco17"])
def test_samples_read_with_a_balanced_account(path, layout):
    """Every image, person and labeled joint of the samples is carried or counted."""
    ctx = Context(layout=layout)
    ds = read_dataset(path, ctx)[0].ds  # read_dataset raises when the account does not balance
    assert ds.category.layout.name == (layout or "mpii16")
    if path.suffix == ".json":
        entries = json.loads(path.read_text())
        assert ctx.account == {"images": len({e["image"] for e in entries}), "persons": len(entries),
                               "keypoints": sum(sum(e["joints_vis"]) for e in entries)}
    lost = ctx.notes.dropped("keypoints")
    assert (lost > 0) == (layout == "coco17")  # pelvis, thorax, upper_neck, head_top have no COCO place
    assert int((ds.keypoints[..., 2] > 0).sum()) + lost == ctx.account["keypoints"]


def test_mat_points_and_persons_not_read_are_counted(tmp_path):
    """Points with an id outside 0..15 or a coordinate that is not a number, a repeated id, an
    annorect entry with nothing to place it by: counted in the account's units."""
    bad = {"points": [(16, 10, 10, 1), (3, float("nan"), 5, 1)], "scale": 1.0}  # no point placed, no objpos
    twice = _person(n_points=4)
    twice["points"] = twice["points"] + [(2, 1, 1, 1)]
    write_release_mat([{"name": "a.jpg", "persons": [_person(), bad]}, {"name": "b.jpg", "persons": [twice]}],
                      tmp_path / "r.mat")
    ctx = Context()
    ds = read_dataset(tmp_path / "r.mat", ctx)[0].ds
    assert ctx.account == {"images": 2, "persons": 3, "keypoints": 16 + 2 + 5}
    assert len(ds) == 2 and int((ds.keypoints[..., 2] > 0).sum()) == 16 + 4
    line = ctx.notes.line()
    assert "1 MPII annorect entries with neither a placeable point nor an objpos" in line
    assert "2 MPII points with an id outside 0..15 or a coordinate that is not a number" in line
    assert "1 MPII points repeating a joint id of their person" in line


def test_generic_convert_of_the_mat_defaults_to_mpii16(tmp_path):
    res = run_cli("convert", SAMPLE / "mpii" / "sample_mpii.mat", "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert load_coco(tmp_path / "c.json").category.layout.name == "mpii16"
    assert "no place in" not in res.stdout  # nothing dropped


def test_bad_json_entries_refused_or_skipped(tmp_path):
    entries = json.loads(MPII_SAMPLE.read_text())
    entries[1]["joints"] = entries[1]["joints"][:3]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(PosekitError, match=r"m.json: entry 1 \(.*\): expected 16 joints"):
        _read(path)
    ctx = Context(skip_bad=True)
    ds = read_dataset(path, ctx, "mpii")[0].ds
    assert len(ds) == len(entries) - 1 and "1 bad entries skipped (--skip-bad)" in ctx.notes.line()


def test_joint_self_dialect_reads_with_a_balanced_account(tmp_path):
    """The Hourglass/OpenPose preprocessing JSON: a person per entry, [0, 0, 0] where not labeled."""
    joints = [[0, 0, 0] for _ in range(16)]
    joints[0], joints[9] = [101, 201, 1], [151.5, 51, 0]
    entry = {"dataset": "MPI", "isValidation": 0, "img_paths": "015601864.jpg", "img_width": 1280,
             "img_height": 720, "objpos": [595, 240], "joint_self": joints, "scale_provided": 3.021,
             "joint_others": [[[1, 2, 1]] * 16], "annolist_index": 5, "people_index": 1}
    src = tmp_path / "mpii_annotations.json"
    src.write_text(json.dumps({"root": [entry, dict(entry, people_index=2)]}))
    ctx = Context()
    ds = read_dataset(src, ctx, "mpii")[0].ds
    assert ctx.account == {"images": 1, "persons": 2, "keypoints": 4}
    assert (ds.images[0].width, ds.images[0].height) == (1280, 720) and len(ds) == 2
    assert ds.keypoints[0, 9].tolist() == [150.5, 50, 1]
    assert "2 fields repeating other people of the image" in ctx.notes.line()


def test_layout_that_would_derive_keypoints_is_refused_with_map_to_named(tmp_path):
    """Reading counts what the file holds: a neck derived from the shoulders is --map-to's (counted as changed)."""
    with pytest.raises(PosekitError, match="--layout openpose18 would derive keypoints MPII does not hold; .*"
                                           "--map-to openpose18"):
        _read(MPII_SAMPLE, "openpose18")
    res = convert(MPII_SAMPLE, tmp_path / "c.json", "coco", None, Context(), "openpose18")
    assert "neck keypoints derived as the mean of" in res.notes.line()
