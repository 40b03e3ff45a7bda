"""COCO <-> Ultralytics YOLO-pose: round trips on mmpose's COCO sample, Ultralytics' own label
checker and dataset loader on every file we write, keypoints outside the image, crowd regions,
[K, 2], reading without data.yaml, several classes, nested names; hypothesis round trips."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from conftest import COCO_SAMPLE, ULTRALYTICS_CHECKER, run_cli, run_ultralytics
from test_convert_cli import COCO_IMAGES, assert_same_persons, coco_documents, materialise, persons


def to_yolo(src: Path, out: Path, *args) -> str:
    res = run_cli("convert", src, "-o", out, "--to", "yolo", *args)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def label_files(out: Path) -> list[tuple[Path, Path]]:
    """(image link, label file) pairs as Ultralytics pairs them."""
    from converters.yolo import label_path

    return [(im, Path(label_path(str(im)))) for im in sorted((out / "images").rglob("*")) if im.is_symlink()]


_CHECK = """
import json
from pathlib import Path
import yaml
from ultralytics.data.utils import verify_image_label
result = []
for out, pairs in json.loads(JOBS):
    data = yaml.safe_load((Path(out) / "data.yaml").read_text())
    nkpt, ndim = data["kpt_shape"]
    for im, lb in pairs:
        r = verify_image_label((im, lb, "", True, len(data["names"]), nkpt, ndim, False))
        kp = None if r[4] is None else r[4].tolist()
        result.append({"image": im, "corrupt": r[8], "msg": r[9], "keypoints": kp})
print(json.dumps(result))
"""


def ultralytics_verify(*outs: Path) -> list[dict] | None:
    """``ultralytics.data.utils.verify_image_label`` on every image/label pair of the folders, run
    where the tests run Ultralytics (conftest.run_ultralytics); None when it is not installed."""
    if not (ULTRALYTICS_CHECKER / "ultralytics").is_dir():
        return None
    jobs = [(str(out), [(str(im), str(lb)) for im, lb in label_files(out)]) for out in outs]
    res = run_ultralytics(_CHECK.replace("JOBS", repr(json.dumps(jobs))))
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def ultralytics_check(*outs: Path) -> None:
    """Every label file passes Ultralytics' checker (where it is installed;
    :func:`test_ultralytics_checker_is_installed` says when it is not)."""
    results = ultralytics_verify(*outs)
    for r in results or []:
        assert r["corrupt"] == 0 and not r["msg"], r


def test_ultralytics_checker_is_installed():
    if not (ULTRALYTICS_CHECKER / "ultralytics").is_dir():
        pytest.skip("Ultralytics' label checker is not installed (scripts/setup_env.sh puts it in "
                    ".venv/ultralytics-checker): the label files are not checked by Ultralytics in this run")


def test_round_trip_on_real_coco(tmp_path):
    out = tmp_path / "yolo"
    stdout = to_yolo(COCO_SAMPLE, out, "--images", COCO_IMAGES)
    assert "14 persons in 4 label files" in stdout
    assert "not carried:" in stdout and "14 annotations' segmentation" in stdout
    for im, lb in label_files(out):  # links to the images, not copies
        assert os.path.realpath(im) == str((COCO_IMAGES / im.name).resolve()) and lb.is_file()
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["kpt_shape"] == [17, 3] and data["names"] == {0: "person"}
    assert data["flip_idx"] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    ultralytics_check(out)
    back = tmp_path / "back.json"
    res = run_cli("convert", out, "-o", back, "--to", "coco")
    assert res.exit_code == 0 and res.stdout.strip().endswith("everything carried"), res.stdout
    assert_same_persons(persons(COCO_SAMPLE), persons(back), tol=0.01, box_tol=0.01)


def test_ultralytics_dataset_loads_our_folder(tmp_path):
    """Ultralytics' own YOLODataset (label cache, keypoint arrays) reads what we wrote."""
    if not (ULTRALYTICS_CHECKER / "ultralytics").is_dir():
        pytest.skip("Ultralytics is not installed for the tests")
    out = tmp_path / "yolo"
    to_yolo(COCO_SAMPLE, out, "--images", COCO_IMAGES)
    code = f"""
import json, yaml
from pathlib import Path
from ultralytics.data.dataset import YOLODataset
data = yaml.safe_load(Path({str(out / "data.yaml")!r}).read_text())
data["channels"] = 3
ds = YOLODataset(img_path={str(out / "images")!r}, data=data, task="pose", augment=False, imgsz=640, cache=False)
print(json.dumps({{Path(lb["im_file"]).name: [lb["keypoints"].tolist(), list(lb["shape"])] for lb in ds.labels}}))
"""
    res = run_ultralytics(code)
    assert res.returncode == 0, res.stderr[-2000:]
    labels = json.loads(res.stdout.strip().splitlines()[-1])
    for name, people in persons(COCO_SAMPLE).items():
        kp, (_, w) = np.asarray(labels[name][0]), labels[name][1]
        assert kp.shape == (len(people), 17, 3)
        for (_, k, _), got in zip(people, kp):
            np.testing.assert_array_equal(got[:, 2], k[:, 2])
            np.testing.assert_allclose(got[:, 0] * w, np.where(k[:, 2] > 0, k[:, 0], 0), atol=0.01)


def _with_outside(tmp_path: Path) -> Path:
    doc = json.loads(COCO_SAMPLE.read_text())
    a = doc["annotations"][0]  # image 785 is 640 x 425
    a["keypoints"][0:3] = [-12.5, 100, 2]      # left of the image
    a["keypoints"][3:6] = [100, 430.0, 1]      # below it
    a["keypoints"][6:9] = [700.0, 0, 0]        # unlabeled, but with coordinates outside
    doc["annotations"].append({"id": 99, "image_id": a["image_id"], "category_id": 1, "iscrowd": 1,
                               "bbox": [0, 0, 50, 50], "area": 2500, "keypoints": [0] * 51, "num_keypoints": 0,
                               "segmentation": {"counts": [0, 2500], "size": [425, 640]}})
    folder = tmp_path / "src"
    folder.mkdir()
    for p in COCO_IMAGES.glob("*.jpg"):
        (folder / p.name).symlink_to(p.resolve())
    path = folder / "coco.json"
    path.write_text(json.dumps(doc))
    return path


def test_keypoints_outside_the_image(tmp_path):
    src = _with_outside(tmp_path)
    expect = {"hide": "2 labeled keypoints outside the image hidden", "clip": "2 labeled keypoints outside the "
              "image moved to its edge", "drop": "1 persons with keypoints outside the image"}
    for policy, line in expect.items():
        stdout = to_yolo(src, tmp_path / policy, "--images", src.parent, "--outside", policy)
        assert "1 crowd regions (YOLO-pose has none; left out)" in stdout
        assert "1 unlabeled keypoints' coordinates outside the image set to 0,0" in stdout
        assert line in stdout
    # without these policies Ultralytics would refuse the image's labels
    ultralytics_check(*(tmp_path / p for p in expect))
    # drop: the image's one person is gone: a background image, no label file
    assert not (tmp_path / "drop" / "labels" / "000000000785.txt").exists()
    hide = np.loadtxt(tmp_path / "hide" / "labels" / "000000000785.txt", ndmin=2)[0, 5:].reshape(17, 3)
    np.testing.assert_array_equal(hide[:3], [[0, 0, 0], [0, 0, 0], [0, 0, 0]])
    clip = np.loadtxt(tmp_path / "clip" / "labels" / "000000000785.txt", ndmin=2)[0, 5:].reshape(17, 3)
    np.testing.assert_allclose(clip[:3], [[0, 100 / 425, 2], [100 / 640, 1, 1], [0, 0, 0]], atol=1e-6)


def test_no_visibility_writes_k_by_2(tmp_path):
    out = tmp_path / "yolo2"
    stdout = to_yolo(COCO_SAMPLE, out, "--images", COCO_IMAGES, "--no-visibility")
    assert "occluded flags (v=1) of keypoints" in stdout
    assert yaml.safe_load((out / "data.yaml").read_text())["kpt_shape"] == [17, 2]
    results = ultralytics_verify(out)
    for r in results or []:  # accepted, and our -0.001 read as "not visible"
        assert r["corrupt"] == 0 and not r["msg"], r
        src = persons(COCO_SAMPLE)[Path(r["image"]).name]
        np.testing.assert_array_equal(np.asarray(r["keypoints"])[..., 2] > 0,
                                      np.stack([k[:, 2] > 0 for _, k, _ in src]))
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--to", "coco").exit_code == 0
    assert_same_persons(persons(COCO_SAMPLE), persons(back), visibility=False)


def test_reading_without_data_yaml(tmp_path):
    out = tmp_path / "yolo"
    to_yolo(COCO_SAMPLE, out, "--images", COCO_IMAGES)
    (out / "data.yaml").unlink()  # 17 keypoints, 3 values each: COCO-17
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--to", "coco", "--from", "yolo").exit_code == 0
    from annotate.coco import load_coco
    from annotate.skeletons import COCO17

    ds = load_coco(back)
    assert ds.category.keypoints == list(COCO17.keypoints) and len(ds) == 14
    assert_same_persons(persons(COCO_SAMPLE), persons(back))


def test_several_classes_any_k_nested_names(tmp_path):
    doc = {"images": [{"id": 7, "file_name": "a/b/x.png", "width": 100, "height": 50},
                      {"id": 8, "file_name": "y.png", "width": 40, "height": 80}],
           "categories": [{"id": 1, "name": "male", "keypoints": ["head", "left_hand", "right_hand"], "skeleton": []},
                          {"id": 2, "name": "female", "keypoints": ["head", "left_hand", "right_hand"],
                           "skeleton": [[1, 2]]}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "iscrowd": 0, "bbox": [10, 5, 50, 40],
                            "area": 2000, "keypoints": [20, 10, 2, 30, 20, 1, 0, 0, 0]},
                           {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 5, 5],
                            "area": 25, "keypoints": [2, 2, 2, 3, 3, 2, 4, 4, 2]}]}
    src = materialise(tmp_path / "src", doc)
    out = tmp_path / "yolo"
    to_yolo(src, out, "--images", src.parent)
    assert (out / "labels" / "a" / "b" / "x.txt").is_file() and (out / "images" / "a" / "b" / "x.png").is_symlink()
    assert not (out / "labels" / "y.txt").exists()  # no persons: a background image, no label file
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "male", 1: "female"} and data["kpt_shape"] == [3, 3]
    assert data["flip_idx"] == [0, 2, 1]
    assert [int(r.split()[0]) for r in (out / "labels/a/b/x.txt").read_text().splitlines()] == [1, 0]
    ultralytics_check(out)
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--to", "coco").exit_code == 0
    assert_same_persons(persons(src), persons(back))


def test_two_images_one_label_file_refused(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "x.png", "width": 20, "height": 20},
                      {"id": 2, "file_name": "x.jpg", "width": 20, "height": 20}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a"], "skeleton": []}], "annotations": []}
    src = materialise(tmp_path / "src", doc)
    res = run_cli("convert", src, "-o", tmp_path / "out", "--to", "yolo", "--images", src.parent)
    assert res.exit_code == 2 and "would share the label file" in res.stderr
    assert not (tmp_path / "out").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coco_documents(crowd=True))
def test_round_trip_property(doc):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = materialise(tmp / "src", doc)
        out = tmp / "yolo"
        stdout = to_yolo(src, out, "--images", src.parent)
        n_crowd = sum(a["iscrowd"] for a in doc["annotations"])
        if n_crowd:
            assert f"{n_crowd} crowd regions" in stdout
        back = tmp / "back.json"
        res = run_cli("convert", out, "-o", back, "--to", "coco")
        assert res.exit_code == 0, res.stderr
        assert_same_persons(persons(src), persons(back), tol=0.01, box_tol=0.01)
        data = yaml.safe_load((out / "data.yaml").read_text())
        assert data["kpt_names"][0] == doc["categories"][0]["keypoints"]


def test_ultralytics_accepts_random_datasets(tmp_path):
    """Random layouts, classes, crowd regions and keypoints partly outside their image: every
    label file written is accepted by Ultralytics' checker (all folders checked in one run)."""
    rng = np.random.default_rng(7)
    outs = []
    for n in range(8):
        K, n_cat = int(rng.integers(1, 25)), int(rng.integers(1, 4))
        cats = [{"id": c + 1, "name": f"c{c}", "keypoints": [f"k{i}" for i in range(K)], "skeleton": []}
                for c in range(n_cat)]
        images, anns = [], []
        for i in range(3):
            w, h = int(rng.integers(16, 700)), int(rng.integers(16, 700))
            images.append({"id": i + 1, "file_name": f"sub{i % 2}/im{i}.png", "width": w, "height": h})
            for _ in range(int(rng.integers(0, 4))):
                kp = np.column_stack([rng.uniform(-0.2, 1.2, K) * w, rng.uniform(-0.2, 1.2, K) * h,
                                      rng.integers(0, 3, K)])
                kp[kp[:, 2] == 0, :2] = 0
                x0, y0 = rng.uniform(-10, w * 0.8), rng.uniform(-10, h * 0.8)
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(rng.integers(1, n_cat + 1)),
                             "iscrowd": int(rng.random() < 0.1), "keypoints": np.round(kp, 2).ravel().tolist(),
                             "bbox": [x0, y0, rng.uniform(1, w), rng.uniform(1, h)], "area": 1.0})
        src = materialise(tmp_path / f"src{n}", {"images": images, "annotations": anns, "categories": cats})
        out = tmp_path / f"yolo{n}"
        to_yolo(src, out, "--images", src.parent, *(["--no-visibility"] if n % 3 == 2 else []))
        outs.append(out)
    results = ultralytics_verify(*outs)
    if results is None:
        pytest.skip("Ultralytics' label checker is not installed")
    assert results and all(r["corrupt"] == 0 and not r["msg"] for r in results), results
