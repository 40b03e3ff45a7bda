"""Pre-labeling with a real mmpose CID HRNet-w32 built from the official config, random weights
saved to a checkpoint by the test (no network), on mmpose's COCO sample images, on the CPU."""
import csv
import json
import os
import pickle
import shutil

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate.errors import PosekitError
from annotate.io import sha256_file
from annotate.prelabel import COCO_NAME, MANIFEST, REVIEW_NAME, Job, PrelabelOptions, image_dataset, prelabel_category
from annotate.skeletons import COCO17
from converters.formats import Context, read_dataset

from conftest import SHARED, run_cli, tree_hashes, examples

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


def _labeled_points(doc):
    return [s for s in doc["shapes"] if s["shape_type"] == "point"]


def test_prelabel_outputs_resume_and_never_overwrite_edits(images, checkpoint, tmp_path):
    from labelme import LabelFile
    from pycocotools.coco import COCO

    out = tmp_path / "out"
    inputs_before = tree_hashes(images)
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", checkpoint, "--batch-size", "2",
                  "--score-visible", "0.3", "--score-labeled", "0.1")
    assert res.exit_code == 0, res.stderr
    assert "broken.jpg: not a readable image" in res.stderr  # reported, the run went on
    assert "pre-labeled: 2" in res.stdout and "failed: 1 image(s)" in res.stdout
    assert tree_hashes(images) == inputs_before
    files = sorted(f for f in out.glob("*.json") if f.name not in (COCO_NAME, MANIFEST))
    assert [f.name for f in files] == ["000000000785.json", "000000196141.json"]

    for f in files:
        doc = json.loads(f.read_text())
        assert doc["imageData"] is None and doc["imagePath"] == f"../images/{f.stem}.jpg"
        lf = LabelFile(str(f))  # labelme itself loads it (and finds the image)
        points = [s for s in lf.shapes if s["shape_type"] == "point"]
        rects = [s for s in lf.shapes if s["shape_type"] == "rectangle"]
        assert points and {s["group_id"] for s in points} <= {s["group_id"] for s in rects}
        assert all(s["label"] == "person" for s in rects)
        # every point written lies inside its image (random weights put many in the padding)
        w, h = doc["imageWidth"], doc["imageHeight"]
        xy = np.array([s["points"][0] for s in points])
        assert (xy >= 0).all() and (xy[:, 0] <= w).all() and (xy[:, 1] <= h).all()
        boxes = np.array([np.ravel(s["points"]) for s in rects])
        assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()
    assert "keypoints predicted outside the image moved onto its border" in res.stdout

    # read back with the one LabelMe reader: scores kept, visibility from the thresholds
    ds = read_dataset(out, Context(layout="coco17", images=tmp_path), "labelme")[0].ds
    assert len(ds)
    for r in range(len(ds)):
        scores = np.array(ds.extra[r]["keypoint_scores"])
        v = ds.keypoints[r, :, 2]
        assert (scores[v > 0] >= 0.1 - 1e-4).all()
        assert ((v == 1) == ((scores < 0.3) & (v > 0))).all()

    # the set's COCO: loads in pycocotools and holds exactly what the LabelMe files hold
    coco = COCO(str(out / COCO_NAME))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(coco.getImgIds()) == 2 and len(anns) == len(ds)
    assert all(a["num_keypoints"] >= 3 and "score" in a for a in anns)  # --min-keypoints
    by_id = {a["id"]: a for a in anns}
    for r in range(len(ds)):
        np.testing.assert_allclose(np.reshape(by_id[int(ds.ann_id[r])]["keypoints"], (-1, 3)), ds.keypoints[r])

    # the review list: every pre-labeled image, the weakest person first
    rows = list(csv.DictReader((out / REVIEW_NAME).open()))
    assert sorted(r["labelme_file"] for r in rows) == [f.name for f in files]
    weakest = [float(r["weakest_person_score"]) for r in rows]
    assert weakest == sorted(weakest)
    assert f"review first (weakest person score): {rows[0]['labelme_file']}" in res.stdout
    # labelme's config and the ready-to-run command that opens the images with these files
    assert f"labelme {images} --output {out} --config {out / 'labelme_config.yaml'}" in res.stdout.splitlines()
    assert (out / "labelme_config.yaml").is_file()

    # resume: existing files are skipped, untouched
    before = tree_hashes(out)
    res = run_cli("prelabel", images, "-o", out, "--checkpoint", checkpoint)
    assert res.exit_code == 0 and "skipped 2 image(s)" in res.stdout
    skip = (REVIEW_NAME, COCO_NAME, MANIFEST)  # the LabelMe files are untouched
    assert {k: v for k, v in tree_hashes(out).items() if not k.endswith(skip)} == \
        {k: v for k, v in before.items() if not k.endswith(skip)}
    assert len(COCO(str(out / COCO_NAME)).getAnnIds()) == len(anns)  # resumed files are in the set's COCO

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
    rows = list(csv.DictReader((out / REVIEW_NAME).open()))
    assert [r["labelme_file"] for r in rows] == [untouched.name]  # the edited one needs no review
    coco = json.loads((out / COCO_NAME).read_text())  # the person's edit counts in the set's COCO
    mine = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert sum(a["num_keypoints"] for a in mine) == sum(1 for s in doc["shapes"] if s["shape_type"] == "point")


def test_reading_and_writing_in_turn_or_beside_the_model_give_the_same_files(images, model, tmp_path):
    """On the CPU the local engine reads and writes between the model's calls (threads beside a
    model that uses every core slowed it); with threads (as on a GPU) the outputs are the same,
    and an unreadable image is reported either way."""
    from annotate.prelabel import run_prelabel

    outs = {}
    for overlap in (False, True):
        out = tmp_path / f"overlap_{overlap}"
        summary = run_prelabel(images, out, model, PrelabelOptions(batch_size=2, overlap=overlap))
        assert summary.processed == 2 and len(summary.failed) == 1 and "broken.jpg" in summary.failed[0]
        outs[overlap] = {p.relative_to(out).as_posix(): json.loads(p.read_text())
                         for p in sorted(out.rglob("*.json")) if p.name != MANIFEST}
    assert outs[False].keys() == outs[True].keys() and len(outs[False]) == 3  # 2 LabelMe + COCO
    for rel, doc in outs[False].items():
        other = outs[True][rel]
        if rel == COCO_NAME:
            doc, other = doc["annotations"], other["annotations"]
        assert doc == other, rel


def test_two_images_one_stem_are_refused_before_anything_is_written(tmp_path, checkpoint):
    d = tmp_path / "images"
    d.mkdir()
    shutil.copy(SHARED / "coco" / IMAGES[0], d / "x.jpg")
    cv2.imwrite(str(d / "x.png"), cv2.imread(str(SHARED / "coco" / IMAGES[1])))
    out = tmp_path / "out"
    res = run_cli("prelabel", d, "-o", out, "--checkpoint", checkpoint)
    assert res.exit_code == 2
    assert "images x.jpg and x.png would both be pre-labeled into x.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_nested_and_flattened_names_stay_apart(tmp_path, checkpoint):
    d = tmp_path / "images"
    (d / "a").mkdir(parents=True)
    shutil.copy(SHARED / "coco" / IMAGES[0], d / "a" / "b.jpg")
    shutil.copy(SHARED / "coco" / IMAGES[1], d / "a__b.jpg")
    out = tmp_path / "out"
    res = run_cli("prelabel", d, "-o", out, "--checkpoint", checkpoint, "--no-flip-test")
    assert res.exit_code == 0, res.stderr
    assert (out / "a" / "b.json").exists() and (out / "a__b.json").exists()
    coco = json.loads((out / COCO_NAME).read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    assert sorted(names.values()) == ["a/b.jpg", "a__b.jpg"]
    assert any(line.startswith(f"labelme {out} --config") for line in res.stdout.splitlines())  # nested: linked
    for f, name in ((out / "a" / "b.json", "a/b.jpg"), (out / "a__b.json", "a__b.jpg")):
        n_file = sum(1 for s in json.loads(f.read_text())["shapes"] if s["shape_type"] == "rectangle")
        n_coco = sum(1 for a in coco["annotations"] if names[a["image_id"]] == name)
        assert n_file == n_coco > 0


@pytest.mark.parametrize("flip", [True, False])
def test_batched_inference_equals_mmpose_one_image_path(model, flip):
    img = cv2.imread(str(SHARED / "coco" / IMAGES[0]))
    prepared = [model.prepare(img, "a", 0), model.prepare(np.ascontiguousarray(img[:, ::-1]), "b", 1)]
    assert model.shape_key(prepared[0]) == model.shape_key(prepared[1])
    model.net.test_cfg["flip_test"] = flip
    try:
        assert model.batched_decode
        feats, samples = model.features(prepared)  # one backbone pass for the batch
        batch = model.decode(feats, samples)  # CID: the whole batch decoded at once
        per_image = model.decode(feats, samples, batched=False)  # mmpose's head per image, on its slice
        singles = [model.predict_single_mmpose(p) for p in prepared]  # mmpose's test_step, one image a call
    finally:
        model.net.test_cfg["flip_test"] = True
    for b, h, single in zip(batch, per_image, singles):
        assert b.keypoints.shape == single.keypoints.shape and len(b.keypoints) > 0
        np.testing.assert_allclose(b.keypoints, single.keypoints, atol=1e-3)
        np.testing.assert_allclose(b.scores, single.scores, atol=1e-5)
        np.testing.assert_allclose(h.keypoints, single.keypoints, atol=1e-3)
        np.testing.assert_allclose(h.scores, single.scores, atol=1e-5)


def test_pack_unpack_keeps_what_inference_reads(model):
    img = cv2.imread(str(SHARED / "coco" / IMAGES[1]))
    p = model.prepare(img, "x", 3)
    again = model.unpack(*pickle.loads(pickle.dumps(model.pack(p))))
    assert np.array_equal(p["inputs"].numpy(), again["inputs"].numpy())
    for key in ("input_size", "input_center", "input_scale", "flip_indices", "ori_shape"):
        np.testing.assert_array_equal(p["data_samples"].metainfo[key], again["data_samples"].metainfo[key])


CAT = prelabel_category(list(COCO17.keypoints))


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 6), st.integers(8, 400), st.integers(8, 400), st.integers(0, 2**31 - 1),
       st.integers(1, 5))
def test_image_dataset_points_inside_and_persons_counted(n, w, h, seed, min_kp):
    rng = np.random.default_rng(seed)
    kps = rng.uniform(-40, max(w, h) + 40, (n, 17, 2))
    scores = rng.uniform(0, 1, (n, 17))
    opts = PrelabelOptions(score_visible=0.6, score_labeled=0.3, min_keypoints=min_kp)
    from annotate.notes import Notes

    notes = Notes()
    ds = image_dataset(Job(7, "img.jpg", "img.jpg", "img.json"), w, h, kps, scores, CAT, opts, notes)
    keep = (scores >= 0.3).sum(1) >= min_kp
    assert len(ds) == keep.sum()
    dropped = sum(v for (_, _, what), v in notes.items() if "fewer than" in what)
    assert dropped == n - keep.sum()  # count in = count out
    lab = ds.keypoints[..., 2] > 0
    x, y = ds.keypoints[..., 0], ds.keypoints[..., 1]
    assert ((x >= 0) & (x <= w) & (y >= 0) & (y <= h))[lab].all()
    assert (ds.keypoints[~lab][:, :2] == 0).all()
    outside = ((kps[..., 0] < 0) | (kps[..., 0] > w) | (kps[..., 1] < 0) | (kps[..., 1] > h))[keep] & lab
    assert sum(v for (_, _, what), v in notes.items() if "outside the image" in what) == outside.sum()
    inside = lab & ~outside
    np.testing.assert_array_equal(ds.keypoints[..., :2][inside], kps[keep][inside])
    assert (ds.bbox[:, 2:] > 0).all() and (ds.bbox[:, :2] >= 0).all()
    assert (ds.bbox[:, 0] + ds.bbox[:, 2] <= w + 1e-9).all() and (ds.bbox[:, 1] + ds.bbox[:, 3] <= h + 1e-9).all()
    assert set(ds.ann_id.tolist()) == {7000 + i for i in range(1, len(ds) + 1)}
    assert ((ds.score >= 0.3 - 1e-4) & (ds.score <= 1)).all()


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


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_cli_refuses_malicious_checkpoint(tmp_path, images, engine):
    import torch

    if engine == "ray":
        pytest.importorskip("ray")
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": _Evil()}, evil)
    res = run_cli("prelabel", images, "-o", tmp_path / "o", "--checkpoint", evil, "--engine", engine)
    assert res.exit_code == 2 and "evil.pth: refusing to load" in res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
