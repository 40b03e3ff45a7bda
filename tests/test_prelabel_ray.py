"""``annotate prelabel --engine ray`` on a small local Ray (2 CPUs, small object store, no
dashboard), a random-weight CID checkpoint saved by the test and three of mmpose's COCO
images: the same files as the local engine, a killed model worker, resume, edits kept."""
import json

import cv2
import numpy as np
import pytest
import torch

from annotate.io import sha256_file
from annotate.prelabel import COCO_NAME, MANIFEST, REVIEW_NAME

from conftest import SHARED, run_cli

ray = pytest.importorskip("ray")

IMAGES = ["000000000785.jpg", "000000196141.jpg", "000000040083.jpg"]
FAST = ["--no-flip-test", "--batch-size", "2", "--workers", "1", "--score-visible", "0.3", "--score-labeled", "0.1"]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, object_store_memory=100 << 20, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


SMALL_CONFIG = """
_base_ = [{base!r}]
# the official CID config at a 256 px input (a quarter of the pixels: a faster test, same code)
codec = dict(type='DecoupledHeatmap', input_size=(256, 256), heatmap_size=(64, 64))
model = dict(head=dict(decoder=codec))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=(256, 256), size_factor=64, resize_mode='expand'),
    dict(type='PackPoseInputs', meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape', 'img_shape',
                                           'input_size', 'input_center', 'input_scale', 'flip', 'flip_direction',
                                           'flip_indices', 'raw_ann_info', 'skeleton_links'))]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from models.bottomup import save_random_checkpoint
    from models.zoo import config_path

    tmp = tmp_path_factory.mktemp("ray")
    ckpt = save_random_checkpoint("cid-hrnet-w32", tmp / "cid_random.pth")
    config = tmp / "cid_small.py"
    config.write_text(SMALL_CONFIG.format(base=str(config_path("cid-hrnet-w32"))))
    fast = ["--config", str(config), *FAST]
    images = tmp / "images"
    (images / "cam1").mkdir(parents=True)
    for i, name in enumerate(IMAGES):  # one size: the same batches in both engines (same numbers)
        img = cv2.resize(cv2.imread(str(SHARED / "coco" / name)), (640, 427))
        cv2.imwrite(str((images / "cam1" if i == 2 else images) / name), img)
    (images / "broken.jpg").write_bytes(b"not an image")
    local = tmp / "local"
    # one thread, as each 1-CPU Ray actor has: convolutions then add up in the same order, and
    # the random model's flat heatmaps (where a last-bit difference can move a peak) agree too
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = run_cli("prelabel", images, "-o", local, "--checkpoint", ckpt, *fast)
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.stderr
    return tmp, ckpt, images, local, fast


def _labelme(out):
    return {p.relative_to(out).as_posix(): json.loads(p.read_text()) for p in sorted(out.rglob("*.json"))
            if not p.name.endswith(".coco.json") and not p.name.startswith(".")}


def _assert_same_outputs(a, b):
    """Same LabelMe files (points within 0.01 px, scores within 1e-3) and the same set COCO."""
    fa, fb = _labelme(a), _labelme(b)
    assert sorted(fa) == sorted(fb) and len(fa) == 3
    for name in fa:
        sa, sb = fa[name]["shapes"], fb[name]["shapes"]
        assert [(s["label"], s["group_id"], s["shape_type"]) for s in sa] == \
            [(s["label"], s["group_id"], s["shape_type"]) for s in sb]
        np.testing.assert_allclose([p for s in sa for p in s["points"]], [p for s in sb for p in s["points"]],
                                   atol=0.01)
        assert {k: v for k, v in fa[name].items() if k != "shapes"} == {k: v for k, v in fb[name].items() if k != "shapes"}
    ca, cb = (json.loads((x / COCO_NAME).read_text()) for x in (a, b))
    assert ca["images"] == cb["images"]
    assert [x["id"] for x in ca["annotations"]] == [x["id"] for x in cb["annotations"]]
    np.testing.assert_allclose([x["keypoints"] for x in ca["annotations"]], [x["keypoints"] for x in cb["annotations"]],
                               atol=0.01)
    assert (a / REVIEW_NAME).read_text().splitlines()[0] == (b / REVIEW_NAME).read_text().splitlines()[0]


def test_ray_equals_local_with_a_killed_worker_then_resume_and_edits_kept(ray_local, setup, monkeypatch):
    tmp, ckpt, images, local, fast = setup
    out = tmp / "ray"
    marker = tmp / "killed-once"
    monkeypatch.setenv("POSEKIT_TEST_KILL_MODEL_ONCE", str(marker))
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", ckpt, "--engine", "ray", *fast)
    assert res.exit_code == 0, res.stderr
    assert marker.exists()  # the model actor really was killed, on its first batch ...
    assert "pre-labeled: 3" in res.stdout  # ... and Ray restarted it and retried the batch
    assert "broken.jpg: not a readable image" in res.stderr and "failed: 1 image(s)" in res.stdout
    _assert_same_outputs(local, out)
    monkeypatch.delenv("POSEKIT_TEST_KILL_MODEL_ONCE")
    assert (out / "cam1" / "000000040083.json").exists()  # nested folders mirrored

    # resume: nothing to do, nothing rewritten
    before = {p: sha256_file(p) for p in out.rglob("*.json") if p.name not in (COCO_NAME, MANIFEST)}
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", ckpt, "--engine", "ray", *fast)
    assert res.exit_code == 0 and "skipped 3 image(s)" in res.stdout, res.stderr
    assert before == {p: sha256_file(p) for p in before}

    # --overwrite: a person's edit is kept, a deleted file is written again
    edited = out / "000000000785.json"
    doc = json.loads(edited.read_text())
    doc["shapes"] = doc["shapes"][:4]
    edited.write_text(json.dumps(doc))
    edited_hash = sha256_file(edited)
    gone = out / "cam1" / "000000040083.json"
    gone.unlink()
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", ckpt, "--engine", "ray", "--overwrite", *fast)
    assert res.exit_code == 0, res.stderr
    assert "kept 1 LabelMe file(s) edited by a person" in res.stdout
    assert sha256_file(edited) == edited_hash and gone.exists()
    again, ref = json.loads(gone.read_text()), _labelme(local)["cam1/000000040083.json"]
    np.testing.assert_allclose([p for s in again["shapes"] for p in s["points"]],
                               [p for s in ref["shapes"] for p in s["points"]], atol=0.01)
    manifest = json.loads((out / MANIFEST).read_text())["files"]
    assert manifest["cam1/000000040083.json"] == sha256_file(gone)
    assert "000000000785.json" not in (out / REVIEW_NAME).read_text()  # edited: reviewed already


def test_image_whose_worker_always_dies_is_reported_and_rerun_completes(ray_local, setup, monkeypatch):
    tmp, ckpt, images, local, fast = setup
    monkeypatch.setenv("POSEKIT_TEST_KILL_MODEL_ON", "cam1/000000040083.jpg")
    out = tmp / "ray_dies"
    args = ["prelabel", images, "-o", out, "--checkpoint", ckpt, "--engine", "ray", *fast, "--batch-size", "1"]
    res = run_cli(*args)
    assert res.exit_code == 0, res.stderr
    assert "000000040083.jpg: not pre-labeled: its Ray worker was lost 3 times on its batch; run again to finish it" in res.stderr
    assert not (out / "cam1" / "000000040083.json").exists()
    assert "pre-labeled: 2" in res.stdout
    monkeypatch.delenv("POSEKIT_TEST_KILL_MODEL_ON")
    res = run_cli(*args)
    assert res.exit_code == 0, res.stderr
    assert "pre-labeled: 1" in res.stdout and "skipped 2 image(s)" in res.stdout
    _assert_same_outputs(local, out)
