"""Pre-labeling with a real mmpose CID HRNet-w32 built from the official config, random weights
saved to a checkpoint by the test (no network), on the shared COCO images, on the CPU."""
import json
import os
import pickle
import shutil

import cv2
import numpy as np
import pytest

from annotate.errors import PosekitError
from annotate.io import sha256_file
from annotate.prelabel import COCO_NAME, MANIFEST
from annotate.skeletons import COCO17
from converters.labelme import read_labelme_folder

from conftest import SHARED, needs_shared, run_cli, tree_hashes

pytestmark = needs_shared
IMAGES = ["000000000785.jpg", "000000196141.jpg"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from models.bottomup import save_random_checkpoint

    return save_random_checkpoint("cid-hrnet-w32", tmp_path_factory.mktemp("ckpt") / "cid_random.pth")


@pytest.fixture(scope="module")
def model(checkpoint):
    from models.bottomup import BottomUpModel

    return BottomUpModel("cid-hrnet-w32", None, str(checkpoint), "cpu")


@pytest.fixture()
def images(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    for name in IMAGES:
        shutil.copy(SHARED / "coco" / name, d / name)
    (d / "broken.jpg").write_bytes(b"this is not a jpeg")
    return d


def test_prelabel_outputs_resume_and_never_overwrite_edits(images, checkpoint, tmp_path):
    from labelme import LabelFile
    from pycocotools.coco import COCO

    out = tmp_path / "out"
    inputs_before = tree_hashes(images)
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", checkpoint, "--batch-size", "2",
                  "--score-visible", "0.3", "--score-labeled", "0.1")
    assert res.exit_code == 0, res.stderr
    assert "broken.jpg: not a readable image" in res.stderr  # reported, the run went on
    assert "pre-labeled: 2" in res.stdout
    assert tree_hashes(images) == inputs_before
    files = sorted(f for f in out.glob("*.json") if f.name not in (COCO_NAME, MANIFEST))
    assert [f.name for f in files] == ["000000000785.json", "000000196141.json"]

    for f in files:
        doc = json.loads(f.read_text())
        assert doc["imageData"] is None and doc["imagePath"] == f"../images/{f.stem}.jpg"
        lf = LabelFile(str(f))  # labelme itself loads it (and finds the image)
        points = [s for s in lf.shapes if s["shape_type"] == "point"]
        rects = [s for s in lf.shapes if s["shape_type"] == "rectangle"]
        assert {s["group_id"] for s in points} <= {s["group_id"] for s in rects}
        for s in doc["shapes"]:
            if s["shape_type"] == "point":
                assert s["score"] >= 0.1  # below --score-labeled: left out
                assert s["flags"]["occluded"] == (s["score"] < 0.3)
            else:
                assert s["label"] == "person" and 0 <= s["attributes"]["score"] <= 1

    coco = COCO(str(out / COCO_NAME))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(coco.getImgIds()) == 2 and anns and all("score" in a for a in anns)
    assert all(a["num_keypoints"] >= 3 for a in anns)  # --min-keypoints
    ds, errors = read_labelme_folder(out, COCO17, images_dir=tmp_path)
    assert not errors and len(ds) == len(anns)

    # resume: existing files are skipped, untouched
    before = tree_hashes(out)
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", checkpoint)
    assert res.exit_code == 0 and "skipped 2 image(s)" in res.stdout
    assert tree_hashes(out) == before

    # --overwrite: the tool's unedited file is replaced, the person's edit is kept
    edited, untouched = files
    doc = json.loads(edited.read_text())
    doc["shapes"] = doc["shapes"][:3]
    edited.write_text(json.dumps(doc))
    edited_hash = sha256_file(edited)
    untouched.unlink()
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", checkpoint, "--overwrite", "--no-flip-test")
    assert res.exit_code == 0, res.stderr
    assert "kept 1 LabelMe file(s) edited by a person" in res.stdout
    assert sha256_file(edited) == edited_hash and untouched.exists()
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert manifest[untouched.name] == sha256_file(untouched)


def test_batched_inference_equals_mmpose_one_image_path(model):
    img = cv2.imread(str(SHARED / "coco" / IMAGES[0]))
    prepared = [model.prepare(img, "a", 0), model.prepare(np.ascontiguousarray(img[:, ::-1]), "b", 1)]
    assert model.shape_key(prepared[0]) == model.shape_key(prepared[1])
    batch = model.predict_batch(prepared)
    for p, b in zip(prepared, batch):
        single = model.predict_single_mmpose(p)
        assert b.keypoints.shape == single.keypoints.shape and len(b.keypoints) > 0
        np.testing.assert_allclose(b.keypoints, single.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.scores, single.scores, atol=1e-5)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('POSEKIT_EVIL_MARKER', '/tmp/posekit_evil')}",))


def test_malicious_checkpoint_is_refused_without_running_it(tmp_path, monkeypatch, checkpoint):
    import torch

    from models.checkpoint import load_checkpoint_file

    marker = tmp_path / "pwned"
    monkeypatch.setenv("POSEKIT_EVIL_MARKER", str(marker))
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": _Evil()}, evil)
    with pytest.raises(PosekitError, match="refusing to load: the checkpoint needs arbitrary unpickling of posix.system"):
        load_checkpoint_file(evil)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(PosekitError):
        load_checkpoint_file(plain)
    assert not marker.exists()
    ok = load_checkpoint_file(checkpoint)  # official layout: state_dict + numpy meta
    assert isinstance(ok["meta"]["dataset_meta"]["flip_indices"], np.ndarray)


def test_cli_refuses_malicious_checkpoint(tmp_path, images):
    import torch

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": _Evil()}, evil)
    res = run_cli("prelabel", images, "-o", tmp_path / "o", "--checkpoint", evil)
    assert res.exit_code == 2 and "evil.pth: refusing to load" in res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
