"""COCO <-> Ultralytics YOLO-pose: round trips on mmpose's COCO sample, Ultralytics' own label
checker and dataset loader on every file we write, keypoints outside the image, crowd regions,
[K, 2], reading without data.yaml, several classes, nested names; hypothesis round trips; datasets
laid out as Ultralytics, Roboflow and CVAT lay them out, the label files other tools leave, and
the keypoint confidences Ultralytics' predict writes where flags would be."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, ULTRALYTICS_CHECKER, run_cli, run_ultralytics, examples
from test_convert_cli import COCO_IMAGES, assert_same_persons, coco_documents, materialise, persons


def to_yolo(src: Path, out: Path, *args) -> str:
    res = run_cli("convert", src, "-o", out, "--to", "yolo", *args)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def by_name(people: dict[str, list]) -> dict[str, list]:
    """Persons by image base name (a split's folder, ``images/<split>/``, is not in the source's names)."""
    return {Path(k).name: v for k, v in people.items()}


def label_files(out: Path) -> list[tuple[Path, Path]]:
    """(image link, label file) pairs as Ultralytics pairs them (images it loads)."""
    from converters.yolo import ULTRALYTICS_IMAGES, label_path

    return [(im, Path(label_path(str(im)))) for im in sorted((out / "images").rglob("*"))
            if im.is_symlink() and im.suffix.lower() in ULTRALYTICS_IMAGES]


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
    assert_same_persons(by_name(persons(COCO_SAMPLE)), by_name(persons(back)), tol=0.01, box_tol=0.01)


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
    assert_same_persons(by_name(persons(COCO_SAMPLE)), by_name(persons(back)), visibility=False)


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
    assert_same_persons(by_name(persons(COCO_SAMPLE)), by_name(persons(back)))


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


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
        want, repeats = {}, 0
        for name, ps in persons(src).items():  # a line repeating another of its image is written once
            seen = set()
            want[name] = []
            for cat, kps, box in ps:
                key = (cat, kps.tobytes(), box.tobytes())
                repeats += key in seen
                if key not in seen:
                    seen.add(key)
                    want[name].append((cat, kps, box))
        assert (f"{repeats} duplicate persons" in stdout) == bool(repeats), stdout
        assert_same_persons(want, persons(back), tol=0.01, box_tol=0.01)
        data = yaml.safe_load((out / "data.yaml").read_text())
        assert data["kpt_names"][0] == doc["categories"][0]["keypoints"]


@settings(max_examples=examples(150), deadline=None)
@given(st.data())
def test_label_lines_are_the_numbers_printed_with_six_decimals(data):
    """format_rows (table look-ups through strided views) writes what Python's "%.6f" writes,
    within the last digit's rounding, in Ultralytics' column order, for any K, [K, 2] and
    [K, 3], one- and several-digit classes; hidden [K, 2] points as -0.00100."""
    from converters.yolo import HIDDEN_2D, format_rows

    n = data.draw(st.integers(1, 40))
    K = data.draw(st.integers(1, 30))
    ndim = data.draw(st.sampled_from([2, 3]))
    unit = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 0.5, 0.9999995, 5e-7, 1e-9]))
    cls = np.array(data.draw(st.lists(st.integers(0, data.draw(st.sampled_from([0, 9, 150]))), min_size=n, max_size=n)))
    box = np.array(data.draw(st.lists(unit, min_size=4 * n, max_size=4 * n))).reshape(n, 4)
    kps = np.array(data.draw(st.lists(unit, min_size=3 * n * K, max_size=3 * n * K))).reshape(n, K, 3)
    kps[..., 2] = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n * K, max_size=n * K))).reshape(n, K)
    if ndim == 2:
        kps[kps[..., 2] == 0, :2] = HIDDEN_2D
    buf, off = format_rows(cls, box, kps, ndim)
    lines = buf.decode().split("\n")
    assert lines[-1] == "" and len(lines) == n + 1 and off[-1] == len(buf)
    for i, line in enumerate(lines[:-1]):
        assert buf[off[i]:off[i + 1]].decode() == line + "\n"
        cols = line.split(" ")
        assert cols[0] == str(cls[i])
        want = [*box[i], *(kps[i, :, :ndim].ravel())]
        assert len(cols) == 1 + len(want)
        for text, value, j in zip(cols[1:], want, range(len(want))):
            if ndim == 3 and j >= 4 and (j - 4) % 3 == 2:
                assert text == str(int(value))
            elif value == HIDDEN_2D:
                assert text == "-0.00100"
            else:
                assert len(text) == 8 and text[1] == "." and abs(float(text) - value) <= 5e-7 + 1e-12
                assert text == "%.6f" % value or abs(value * 1e6 % 1 - 0.5) < 1e-6  # ties may round either way


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


# --------------------------------------------------------------------------- datasets as tools lay them out

YOLO_DATA = Path(__file__).resolve().parent / "data" / "yolo"
#: Ultralytics' coco8-pose.yaml (ultralytics/cfg/datasets), as users copy it beside their dataset
COCO8_POSE_YAML = """\
path: coco8-pose # dataset root dir
train: images/train # train images (relative to 'path') 4 images
val: images/val # val images (relative to 'path') 4 images
test: # test images (optional)

kpt_shape: [17, 3] # number of keypoints, number of dims (2 for x,y or 3 for x,y,visible)
flip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]

names:
  0: person

download: https://github.com/ultralytics/assets/releases/download/v0.0.0/coco8-pose.zip
"""


def coco8_pose(root: Path, images: str = "images/{split}", labels: str = "labels/{split}") -> Path:
    """The mmpose COCO sample as Ultralytics' convert_coco wrote it (tests/data/yolo/README.md),
    filed as coco8-pose is (``images/train``, ``labels/train``; or Roboflow's ``train/images``)."""
    for lb in sorted((YOLO_DATA / "coco8-pose" / "labels").rglob("*.txt")):
        split = lb.parent.name
        for folder, src in ((labels, lb), (images, COCO_IMAGES / f"{lb.stem}.jpg")):
            dst = root / folder.format(split=split) / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    return root


def expected_persons() -> dict[str, list]:
    """The sample's persons as convert_coco keeps them (those with a labeled keypoint)."""
    return {name: [p for p in ps if (p[1][:, 2] > 0).any()] for name, ps in persons(COCO_SAMPLE).items()}


def assert_refused(res, label_file: Path, message: str) -> None:
    """The conversion refused, naming the bad label file and what is wrong with it (one line),
    then saying that nothing was written."""
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and lines[0] == f"error: {label_file}: {message}", res.stderr
    assert "nothing written" in lines[-1], res.stderr


def coco_outputs(back: Path) -> list[Path]:
    """The COCO files a conversion to the folder ``back`` wrote: one per split (``train.json``, ...;
    ``annotations.json`` for images of no split)."""
    return sorted(back.glob("*.json"))


def read_back(src: Path, tmp_path: Path, *args) -> tuple[dict[str, list], str, dict]:
    """Convert the YOLO folder (or YAML) to COCO: persons by image base name, stdout, the JSON
    (the files of all splits together)."""
    back = Path(tempfile.mkdtemp(dir=tmp_path)) / "back"
    res = run_cli("convert", src, "-o", back, "--to", "coco", "--from", "yolo", *args)
    assert res.exit_code == 0, res.stderr
    got: dict[str, list] = {}
    doc: dict = {"images": [], "annotations": []}
    for path in coco_outputs(back):
        got.update({Path(k).name: v for k, v in persons(path).items()})
        part = json.loads(path.read_text())
        doc["images"] += part["images"]
        doc["annotations"] += part["annotations"]
        doc["categories"] = part["categories"]
    return got, res.stdout, doc


def ultralytics_counts(*image_dirs: Path) -> dict[str, int] | None:
    """Instances per image (by base name) as Ultralytics' YOLODataset reads the folders."""
    if not (ULTRALYTICS_CHECKER / "ultralytics").is_dir():
        return None
    code = f"""
import json
from pathlib import Path
from ultralytics.data.dataset import YOLODataset
data = {{"names": {{0: "person"}}, "kpt_shape": [17, 3], "channels": 3, "nc": 1}}
ds = YOLODataset(img_path={[str(d) for d in image_dirs]!r}, data=data, task="pose", augment=False, imgsz=640,
                 cache=False)
print(json.dumps({{Path(lb["im_file"]).name: len(lb["cls"]) for lb in ds.labels}}))
"""
    res = run_ultralytics(code)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_ultralytics_coco8_pose_layout(tmp_path):
    """coco8-pose as downloaded, with its YAML copied in (its ``path`` names Ultralytics' datasets
    folder, not found here: the YAML's folder is used); label files as other tools leave them
    (BOM, CRLF, tabs, blank lines, scientific notation); a background image with an empty label
    file, one with none, and a label file whose image is gone."""
    root = coco8_pose(tmp_path / "coco8-pose")
    (root / "data.yaml").write_text(COCO8_POSE_YAML)
    lb = root / "labels" / "train" / "000000000785.txt"
    text = lb.read_text().replace("0.573438", "5.73438e-01").replace(" ", "\t", 3)
    lb.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() + b"\r\n  \r\n\n")
    for name in ("empty.jpg", "nolabel.jpg"):
        (root / "images" / "val" / name).write_bytes((COCO_IMAGES / "000000000785.jpg").read_bytes())
    (root / "labels" / "val" / "empty.txt").write_text("\n")
    (root / "labels" / "val" / "gone.txt").write_text(lb.read_text())
    got, stdout, doc = read_back(root, tmp_path)
    assert len(doc["images"]) == 6 and len(doc["annotations"]) == 12
    assert stdout.strip().endswith("not carried: 1 label files without an image (not read)"), stdout
    assert got.pop("empty.jpg") == [] and got.pop("nolabel.jpg") == []
    assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01)
    assert sorted(im["file_name"] for im in doc["images"])[:2] == ["train/000000000785.jpg", "train/000000040083.jpg"]
    counts = ultralytics_counts(root / "images" / "train", root / "images" / "val")
    if counts is not None:  # Ultralytics reads as many persons per image
        assert counts == {name: len(ps) for name, ps in got.items()} | {"empty.jpg": 0, "nolabel.jpg": 0}


def test_roboflow_layout(tmp_path):
    """Roboflow's export: ``train/images``, ``valid/images`` and a data.yaml whose ``../train/images``
    Ultralytics retries as ``train/images``; its ``test: ../test/images`` missing (no test split)."""
    root = coco8_pose(tmp_path / "rf", images="{split}/images", labels="{split}/labels")
    (root / "val").rename(root / "valid")
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
        "kpt_shape: [17, 3]\nflip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]\n\n"
        "nc: 1\nnames: ['person']\n\nroboflow:\n  workspace: ws\n  project: people-pose\n  version: 1\n"
        "  license: CC BY 4.0\n  url: https://universe.roboflow.com/ws/people-pose/dataset/1\n")
    (root / "valid" / "labels" / "gone.txt").write_text("")
    for src in (root, root / "data.yaml"):  # the folder, or its YAML as Ultralytics takes it
        got, stdout, doc = read_back(src, tmp_path)
        assert stdout.strip().endswith("not carried: 1 label files without an image (not read)"), stdout
        assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01)
        assert "valid/images/000000196141.jpg" in {im["file_name"] for im in doc["images"]}


def test_image_lists_coco_pose_and_cvat(tmp_path):
    """Image lists: coco-pose.yaml's (absolute ``path``, ``./images/...`` lines, a test-dev list
    of images not downloaded) and CVAT's (Datumaro's yaml.dump: ``path: .``, ``kpt_shape`` as a
    block list, ``images/train/x.jpg`` lines)."""
    root = coco8_pose(tmp_path / "coco-pose")
    for split in ("train", "val"):
        names = sorted(p.name for p in (root / "images" / split).iterdir())
        (root / f"{split}2017.txt").write_text("".join(f"./images/{split}/{n}\n" for n in names))
        (root / f"{split}.txt").write_text("".join(f"images/{split}/{n}\n" for n in names))
    (root / "test-dev2017.txt").write_text("./images/test2017/000000000001.jpg\n./images/test2017/README.md\n")
    (root / "coco-pose.yaml").write_text(f"path: {root}\ntrain: train2017.txt\nval: val2017.txt\n"
                                         "test: test-dev2017.txt\n\nkpt_shape: [17, 3]\nnames:\n  0: person\n")
    got, stdout, _ = read_back(root, tmp_path)
    assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01)
    assert stdout.strip().endswith("not carried: 1 images listed in test-dev2017.txt that do not exist (not read; "
                                   "Ultralytics skips them too); 1 lines of test-dev2017.txt that name no image "
                                   "file (Ultralytics skips them too)"), stdout
    (root / "coco-pose.yaml").unlink()
    (root / "data.yaml").write_text(yaml.dump({"kpt_shape": [17, 3], "names": {0: "person"}, "path": ".",
                                               "train": "train.txt", "val": "val.txt"}))
    assert "kpt_shape:\n- 17\n- 3" in (root / "data.yaml").read_text()
    got, stdout, _ = read_back(root, tmp_path)
    assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01)
    assert stdout.strip().endswith("everything carried"), stdout


def test_windows_paths_in_data_yaml(tmp_path):
    """A data.yaml written on Windows: a drive-letter ``path`` and ``\\`` separators, in the YAML
    and in an image list."""
    root = coco8_pose(tmp_path / "win")
    names = sorted(p.name for p in (root / "images" / "val").iterdir())
    (root / "val.txt").write_text("".join(f".\\images\\val\\{n}\r\n" for n in names))
    (root / "data.yaml").write_text("path: C:\\Users\\me\\datasets\\win\ntrain: images\\train\nval: val.txt\n"
                                    "kpt_shape: [17, 3]\nnames: [person]\n")
    got, stdout, _ = read_back(root, tmp_path)
    assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01)
    assert stdout.strip().endswith("everything carried")


def test_class_names_as_ultralytics_reads_them(tmp_path):
    """``names`` keyed by strings ('0'..'11': class 10 is c10, not the 3rd in text order);
    ``nc`` without names; Ultralytics' ``validation`` alias of ``val``."""
    root = coco8_pose(tmp_path / "c")
    lb = root / "labels" / "train" / "000000000785.txt"
    lb.write_text("10" + lb.read_text()[1:])
    names = "".join(f"  '{i}': c{i}\n" for i in range(12))
    (root / "data.yaml").write_text(f"train: images/train\nvalidation: images/val\nkpt_shape: [17, 3]\nnames:\n{names}")
    got, stdout, doc = read_back(root, tmp_path)
    assert [c["name"] for c in doc["categories"]] == [f"c{i}" for i in range(12)]
    assert got["000000000785.jpg"][0][0] == "c10" and {p[0] for p in got["000000197388.jpg"]} == {"c0"}
    assert len(doc["images"]) == 4 and stdout.strip().endswith("everything carried")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnc: 11\nkpt_shape: [17, 3]\n")
    _, _, doc = read_back(root, tmp_path)
    assert [c["name"] for c in doc["categories"]] == [f"class_{i}" for i in range(11)]


def test_dataset_yaml_found_as_ultralytics_finds_it(tmp_path):
    """No data.yaml: the folder's one ``*.yaml`` or ``*.yml``; several are refused (naming them)
    unless one is named after the folder."""
    root = coco8_pose(tmp_path / "pose")
    (root / "pose.yml").write_text("train: images/train\nval: images/val\nkpt_shape: [17, 3]\nnames: [person]\n"
                                   f"kpt_names:\n  0: {json.dumps([f'k{i}' for i in range(17)])}\n")
    _, _, doc = read_back(root, tmp_path)
    assert doc["categories"][0]["keypoints"][:2] == ["k0", "k1"]
    for name in ("a.yaml", "b.yaml"):
        (root / name).write_text(COCO8_POSE_YAML)
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco", "--from", "yolo")
    assert res.exit_code == 2 and "2 YAML files (a.yaml, b.yaml)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("content, message", [
    (b"0 0.5 0.5 0.2 0.2 caf\xe9\n", "label file is not UTF-8 text"),
    (None, "class 3 is not one of data.yaml's classes 0..0"),
    (b"0 0.5 0.5 0.2 0.2\n", "5 values per line (a detection label: class and box only); kpt_shape [17, 3] needs 56"),
    (b"0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n", "9 values per line (a segmentation polygon?); kpt_shape [17, 3] needs 56"),
])
def test_bad_label_files_refused_naming_the_file(tmp_path, content, message):
    root = coco8_pose(tmp_path / "bad")
    (root / "data.yaml").write_text(COCO8_POSE_YAML)
    lb = root / "labels" / "val" / "000000196141.txt"
    lb.write_bytes(content if content is not None else b"3" + lb.read_bytes()[1:])
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco")
    assert_refused(res, lb, message)
    assert not (tmp_path / "x.json").exists()


def test_k_by_2_zero_zero_is_unlabeled(tmp_path):
    """CVAT writes a [K, 2] label's missing points as ``0.0 0.0``: read as unlabeled and counted
    (Ultralytics would take them as visible points in the corner)."""
    root = coco8_pose(tmp_path / "k2")
    n_zero = 0
    for lb in (root / "labels").rglob("*.txt"):
        rows = [r.split() for r in lb.read_text().splitlines()]
        out = []
        for r in rows:
            kp = [(r[5 + 3 * i], r[6 + 3 * i]) if r[7 + 3 * i] != "0" else ("0.0", "0.0") for i in range(17)]
            n_zero += sum(p == ("0.0", "0.0") for p in kp)
            out.append(" ".join(r[:5] + [v for p in kp for v in p]))
        lb.write_text("\n".join(out) + "\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nkpt_shape: [17, 2]\n"
                                    "names:\n  0: person\n")
    got, stdout, _ = read_back(root, tmp_path)
    assert f"{n_zero} keypoints at exactly 0,0 in a [K, 2] file read as unlabeled" in stdout
    assert_same_persons(expected_persons(), got, tol=0.01, box_tol=0.01, visibility=False)


def test_hidden_files_and_shared_label_files(tmp_path):
    """macOS's ``._x.jpg`` and a ``.ipynb_checkpoints`` copy are skipped as Ultralytics' glob
    skips them (counted); ``x.png`` beside ``x.jpg`` reads the same label file, as in
    Ultralytics (counted)."""
    root = coco8_pose(tmp_path / "h")
    (root / "data.yaml").write_text(COCO8_POSE_YAML)
    train = root / "images" / "train"
    (train / "._000000000785.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(80))
    (train / ".ipynb_checkpoints").mkdir()
    jpg = (train / "000000000785.jpg").read_bytes()
    (train / ".ipynb_checkpoints" / "000000000785-checkpoint.jpg").write_bytes(jpg)
    from PIL import Image

    Image.new("RGB", (640, 425)).save(train / "000000040083.png")
    got, stdout, doc = read_back(root, tmp_path)
    assert len(doc["images"]) == 5 and len(got["000000040083.png"]) == 2
    assert "2 hidden files with image suffixes" in stdout
    assert "2 persons copied to a second image that shares their label file" in stdout


def test_exif_rotated_image_sized_as_ultralytics_sees_it(tmp_path):
    from PIL import Image

    root = tmp_path / "exif"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    im = Image.new("RGB", (60, 20))
    exif = im.getexif()
    exif[0x0112] = 6  # stored on its side: shown 20 wide, 60 high
    im.save(root / "images" / "r.JPG", exif=exif)
    (root / "labels" / "r.txt").write_text("0 0.5 0.5 0.5 0.5 " + "0.25 0.75 2 " * 17 + "\n")
    _, _, doc = read_back(root, tmp_path)
    assert (doc["images"][0]["width"], doc["images"][0]["height"]) == (20, 60)
    np.testing.assert_allclose(doc["annotations"][0]["keypoints"][:3], [5, 45, 2])
    if (ULTRALYTICS_CHECKER / "ultralytics").is_dir():
        res = run_ultralytics("from ultralytics.data.utils import verify_image_label as v\n"
                              f"print(list(v(({str(root / 'images' / 'r.JPG')!r}, {str(root / 'labels' / 'r.txt')!r},"
                              " '', True, 1, 17, 3, False))[2]))")
        assert res.stdout.strip().splitlines()[-1] == "[60, 20]", res.stderr[-2000:]


def test_writer_mends_what_ultralytics_refuses(tmp_path):
    """Persons without a box (made around their keypoints), with a negative width (turned), with
    neither box nor keypoint (left out), duplicates (Ultralytics keeps one: so do we), and an
    image under 10 px: all counted, and Ultralytics reads as many persons as the label files hold."""
    kp = [15, 15, 2, 30, 40, 2, 0, 0, 0]
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                      {"id": 2, "file_name": "tiny.png", "width": 9, "height": 40}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": []}],
           "annotations": [
               {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": kp},
               {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [60, 10, -20, 30], "keypoints": kp},
               {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": [0] * 9},
               {"id": 4, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 50, 50], "keypoints": kp},
               {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 50, 50], "keypoints": kp},
               {"id": 6, "image_id": 2, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 5, 5],
                "keypoints": [2, 2, 2] * 3}]}
    src = materialise(tmp_path / "src", doc)
    out = tmp_path / "yolo"
    stdout = to_yolo(src, out, "--images", src.parent)
    assert "4 persons in 2 label files" in stdout
    for line in ("1 persons without a box given one around their labeled keypoints",
                 "1 person boxes with a negative width or height turned the right way",
                 "1 persons with neither a box nor a labeled keypoint (YOLO needs a box)",
                 "1 duplicate persons (same class, box and keypoints as another in their image",
                 "1 images smaller than 10 px a side", "1 persons in images smaller than 10 px a side"):
        assert line in stdout, stdout
    rows = np.loadtxt(out / "labels" / "a.txt", ndmin=2)
    np.testing.assert_allclose(rows[0, 1:5], [0.225, 0.34375, 0.18, 0.375], atol=1e-6)  # 15..30 x 15..40, + 10 %
    np.testing.assert_allclose(rows[1, 1:5], [0.5, 0.3125, 0.2, 0.375], atol=1e-6)
    results = ultralytics_verify(out)
    for r in results or []:
        if Path(r["image"]).name == "tiny.png":
            assert r["corrupt"] == 1 and "<10 pixels" in r["msg"]
        else:
            assert r["corrupt"] == 0 and not r["msg"] and len(r["keypoints"]) == 3, r


# Ultralytics' ``Results.save_txt`` (``model.predict(..., save_txt=True)``, ultralytics/engine/results.py)
# writes a pose prediction as ``class cx cy w h`` and ``x y conf`` per keypoint, ``%g`` each: the
# keypoint's confidence, not a COCO flag, in the third place. PREDICTED is what it writes for a person
# boxed 30..70 x 24..56 in a 100 x 80 image with keypoints (40, 32) at 0.83 and (60, 48) at 0.12
# (checked against Ultralytics itself in test_predicted_confidences_read_as_scores).
PREDICTED = "0 0.5 0.5 0.4 0.4 0.4 0.4 0.83 0.6 0.6 0.12\n"
_SAVE_TXT = """
import sys, numpy as np, torch
from ultralytics.engine.results import Results
r = Results(np.zeros((80, 100, 3), np.uint8), path="a.jpg", names={0: "person"},
            boxes=torch.tensor([[30.0, 24, 70, 56, 0.91, 0]]), keypoints=torch.tensor([[[40.0, 32, 0.83], [60, 48, 0.12]]]))
r.save_txt(sys.argv[1] if len(sys.argv) > 1 else OUT)
"""


def two_keypoint_folder(root: Path, labels: dict[str, str]) -> Path:
    """A kpt_shape [2, 3] folder: one 100 x 80 image per label file."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("train: images\nval: images\nkpt_shape: [2, 3]\nnames: [person]\n")
    for stem, text in labels.items():
        Image.new("RGB", (100, 80)).save(root / "images" / f"{stem}.jpg")
        (root / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_predicted_confidences_read_as_scores(tmp_path):
    """A label file of Ultralytics' predict: confidences > 0 read as v=2, kept in keypoint_scores
    (the OpenPose reader's field), their mean as the person's score, counted; the COCO file loads."""
    from annotate.coco import load_coco

    if (ULTRALYTICS_CHECKER / "ultralytics").is_dir():  # the test input is what Ultralytics writes
        res = run_ultralytics(_SAVE_TXT.replace("OUT", repr(str(tmp_path / "pred.txt"))))
        assert res.returncode == 0, res.stderr[-2000:]
        assert (tmp_path / "pred.txt").read_text() == PREDICTED
    root = two_keypoint_folder(tmp_path / "y1", {"a": PREDICTED})
    _, stdout, doc = read_back(root, tmp_path)
    assert stdout.strip().endswith(
        "everything carried. changed: 2 keypoint confidences in 1 label files (as Ultralytics' predict writes "
        "them) read as v=2 where > 0, v=0 where 0; kept in keypoint_scores, their mean over the labeled "
        "keypoints as the person's score"), stdout
    (ann,) = doc["annotations"]
    assert ann["keypoints"] == [40, 32, 2, 60, 48, 2] and ann["num_keypoints"] == 2
    assert ann["keypoint_scores"] == [0.83, 0.12] and ann["score"] == pytest.approx(0.475)
    assert ann["bbox"] == [30, 24, 40, 32]
    ds = load_coco(next(tmp_path.rglob("back/*.json")))  # posekit's own loader accepts it (it refuses v=0.83)
    np.testing.assert_array_equal(ds.keypoints[0, :, 2], [2, 2])
    assert ds.extra[0]["keypoint_scores"] == [0.83, 0.12]


def test_flags_and_confidences_decided_per_label_file(tmp_path):
    """One dataset, three label files: COCO flags (0, 1, 2), a prediction with a confidence of
    exactly 0 and one of 1, and flags that are only 0 and 1: each read by what its file holds."""
    root = two_keypoint_folder(tmp_path / "mix", {
        "flags": "0 0.5 0.5 0.4 0.4 0.4 0.4 1 0 0 0\n0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 1\n",
        "pred": "0 0.5 0.5 0.4 0.4 0.4 0.4 1 0.6 0.6 0\n0 0.5 0.5 0.4 0.4 0.4 0.4 0.5 0.6 0.6 2.5e-05\n",
        "ones": "0 0.5 0.5 0.4 0.4 0.4 0.4 1 0.6 0.6 1\n"})
    _, stdout, doc = read_back(root, tmp_path)
    assert "changed: 4 keypoint confidences in 1 label files (as Ultralytics' predict writes them)" in stdout
    names = {im["id"]: im["file_name"] for im in doc["images"]}
    by_image: dict[str, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(names[a["image_id"]], []).append(a)
    assert [a["keypoints"][2::3] for a in by_image["flags.jpg"]] == [[1, 0], [2, 1]]
    assert [a["keypoints"][2::3] for a in by_image["ones.jpg"]] == [[1, 1]]
    assert [a["keypoints"][2::3] for a in by_image["pred.jpg"]] == [[2, 0], [2, 2]]
    assert [a["keypoint_scores"] for a in by_image["pred.jpg"]] == [[1, 0], [0.5, 2.5e-05]]
    assert [a["score"] for a in by_image["pred.jpg"]] == pytest.approx([1, 0.2500125])
    for a in by_image["flags.jpg"] + by_image["ones.jpg"]:
        assert "keypoint_scores" not in a and "score" not in a


@pytest.mark.parametrize("text, message", [
    ("0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 3\n", "line 1, keypoint 1: visibility 3 is neither a flag 0, 1, 2 "
                                                "nor a confidence in [0, 1]"),
    ("0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 2\n0 0.5 0.5 0.4 0.4 0.4 0.4 -1 0.6 0.6 0.5\n",
     "line 2, keypoint 0: visibility -1 is neither a flag 0, 1, 2 nor a confidence in [0, 1]"),
    ("0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 0.83\n", "third keypoint values mix visibility flags (2) and "
                                                   "confidences (0.83); a file holds one or the other"),
])
def test_visibility_neither_flag_nor_confidence_refused(tmp_path, text, message):
    root = two_keypoint_folder(tmp_path / "bad", {"a": PREDICTED, "b": text})
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco")
    lb = root / "labels" / "b.txt"
    assert_refused(res, lb, message)
    assert not (tmp_path / "x.json").exists()


def test_coco_flags_round_trip_exactly(tmp_path):
    """COCO -> YOLO -> COCO: flags 0, 1, 2 come back as they were (never taken for confidences),
    with no scores added; also a file whose flags are all 0 or 1 (mmpose's sample: see
    test_round_trip_on_real_coco, which compares its flags exactly too)."""
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80},
                      {"id": 2, "file_name": "b.png", "width": 100, "height": 80}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": []}],
           "annotations": [
               {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [10, 8, 50, 40],
                "keypoints": [20, 16, 2, 30, 24, 1, 0, 0, 0], "num_keypoints": 2},
               {"id": 2, "image_id": 2, "category_id": 1, "iscrowd": 0, "bbox": [10, 8, 50, 40],
                "keypoints": [25, 20, 1, 50, 40, 1, 0, 0, 0], "num_keypoints": 2}]}
    src = materialise(tmp_path / "src", doc)
    to_yolo(src, tmp_path / "yolo", "--images", src.parent)
    _, stdout, back = read_back(tmp_path / "yolo", tmp_path)
    assert stdout.strip().endswith("everything carried"), stdout
    for a, b in zip(doc["annotations"], back["annotations"]):
        assert b["keypoints"] == a["keypoints"] and b["bbox"] == a["bbox"]
        assert "keypoint_scores" not in b and "score" not in b


def test_columns_that_fit_two_layouts_are_not_guessed(tmp_path):
    """Without a data.yaml, 57 values are 26 (x, y) keypoints or 17 (x, y, v) ones and the person
    confidence Ultralytics' predict writes with save_conf: refused, naming the file."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    import cv2

    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text(" ".join(["0"] + ["0.5"] * 4 + ["0.5", "0.5", "2"] * 17 + ["0.9"]) + "\n")
    res = run_cli("convert", tmp_path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and "a.txt" in res.stderr and "26 keypoints of (x, y), or 17 of (x, y, v)" in res.stderr
    assert not (tmp_path / "c.json").exists()
    res = run_cli("convert", tmp_path, "-o", tmp_path / "c.json", "--to", "coco", "--layout", "halpe26")
    assert res.exit_code == 0, res.stderr  # --layout says (x, y): 26 keypoints


def test_columns_of_a_built_in_layout_in_x_y_read_without_a_yaml(tmp_path):
    """39 values are COCO-17 as (x, y) (or 11 (x, y, v) and a confidence, no layout of ours)."""
    import cv2

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text(" ".join(["0"] + ["0.5"] * 4 + ["0.25", "0.75"] * 17) + "\n")
    res = run_cli("convert", tmp_path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    from annotate.coco import load_coco

    ds = load_coco(tmp_path / "c.json")
    assert ds.keypoints.shape == (1, 17, 3) and list(ds.category.keypoints)[0] == "nose"
    np.testing.assert_allclose(ds.keypoints[0, :, :2], [[10, 30]] * 17)


# --------------------------------------------------------------------------- splits, the account, messages

def yolo_dataset(name: str, root: Path) -> Path:
    """The dataset ``tests/data/yolo/<name>`` copied to ``root``, with its images (coco8-pose's
    are mmpose's, its YAML Ultralytics' coco8-pose.yaml)."""
    if name == "coco8-pose":
        coco8_pose(root)
        (root / "data.yaml").write_text(COCO8_POSE_YAML)
    else:
        shutil.copytree(YOLO_DATA / name, root)
    return root


def read_yolo(src: Path, **options) -> tuple:
    """The dataset as every command reads it (the account settled: PosekitError otherwise) and
    the context (notes, account)."""
    from converters.formats import Context, read_dataset

    ctx = Context(**options)
    source, fmt = read_dataset(src, ctx, "yolo")
    return source.ds, ctx


HAND_SPLITS = {"train/cam01.0030.jpg": "train", "train/cam01.0031.jpg": "train", "val/a.png": "val",
               "test/b.png": "test"}


@pytest.mark.parametrize("name", sorted(p.name for p in YOLO_DATA.iterdir() if p.is_dir()))
def test_every_dataset_reads_with_a_balanced_account(tmp_path, name):
    """Every image, label line and labeled keypoint of each dataset in tests/data/yolo/ is
    carried or counted as not carried (read_dataset refuses a count that does not add up)."""
    ds, ctx = read_yolo(yolo_dataset(name, tmp_path / name))
    carried = {"images": len(ds.images), "persons": len(ds), "keypoints": int((ds.keypoints[..., 2] > 0).sum())}
    for unit, n in carried.items():
        assert ctx.account[unit] == n + ctx.notes.dropped(unit) and n > 0, (unit, ctx.account, ctx.notes)


def test_hand_made_splits_comments_repeats_and_dotted_names(tmp_path):
    """tests/data/yolo/hand-splits: train, val and test folders (and an image list naming a
    train image under val again: kept in train, counted), ``#`` comment and blank lines (skipped,
    nothing lost), a repeated line (left out as Ultralytics does, counted with its keypoints),
    ``cam01.0030.jpg`` reading ``cam01.0030.txt``."""
    ds, ctx = read_yolo(yolo_dataset("hand-splits", tmp_path / "h"))
    assert {im.file_name: im.split for im in ds.images} == HAND_SPLITS
    assert ctx.account == {"images": 4, "persons": 6, "keypoints": 14}
    assert len(ds) == 5 and int((ds.keypoints[..., 2] > 0).sum()) == 11
    line = ctx.notes.line()
    assert line == ("not carried: 1 images named by two of train, val and test (each kept in the first only); "
                    "3 labeled keypoints of repeated lines; 1 repeated lines of a label file (Ultralytics keeps "
                    "one)"), line
    first = next(im.id for im in ds.images if im.file_name == "train/cam01.0030.jpg")  # 40 x 30
    np.testing.assert_allclose(ds.keypoints[ds.indices_by_image()[first][0]], [[16, 9, 2], [24, 9, 1], [0, 0, 0]])


def test_splits_kept_yolo_to_yolo(tmp_path):
    """YOLO (train + val + test) -> YOLO: each split's images and labels in its folders, data.yaml
    naming them, each image's split read back; Ultralytics accepts the labels."""
    root = yolo_dataset("hand-splits", tmp_path / "h")
    out = tmp_path / "out"
    stdout = to_yolo(root, out)
    assert "splits: train 2, val 1, test 1" in stdout and "image file names put in" not in stdout
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert (data["train"], data["val"], data["test"]) == ("images/train", "images/val", "images/test")
    assert sorted(p.relative_to(out).as_posix() for p in (out / "labels").rglob("*.txt")) == [
        "labels/test/b.txt", "labels/train/cam01.0030.txt", "labels/train/cam01.0031.txt", "labels/val/a.txt"]
    assert (out / "images" / "train" / "cam01.0030.jpg").is_symlink()
    ultralytics_check(out)
    ds, ctx = read_yolo(out)
    assert {im.file_name: im.split for im in ds.images} == HAND_SPLITS and len(ds) == 5
    assert ctx.notes.line() == "everything carried", ctx.notes.line()


def test_coco8_pose_with_a_test_split_round_trips(tmp_path):
    """coco8-pose with one image moved to a test folder: YOLO -> YOLO -> YOLO gives the same
    layout (no split folder put twice) and the same splits."""
    root = yolo_dataset("coco8-pose", tmp_path / "c8")
    for folder in ("images", "labels"):
        (root / folder / "test").mkdir()
    (root / "images/val/000000197388.jpg").rename(root / "images/test/000000197388.jpg")
    (root / "labels/val/000000197388.txt").rename(root / "labels/test/000000197388.txt")
    (root / "data.yaml").write_text(COCO8_POSE_YAML.replace("test: #", "test: images/test #"))
    want = {im.file_name: im.split for im in read_yolo(root)[0].images}
    assert sorted(want.values()) == ["test", "train", "train", "val"]
    to_yolo(root, tmp_path / "once")
    to_yolo(tmp_path / "once", tmp_path / "twice")
    for out in (tmp_path / "once", tmp_path / "twice"):
        ds, ctx = read_yolo(out)
        assert {im.file_name: im.split for im in ds.images} == want and ctx.notes.line() == "everything carried"
    assert (tmp_path / "twice" / "labels" / "test" / "000000197388.txt").is_file()


def test_splits_kept_through_coco(tmp_path):
    """YOLO -> COCO -> YOLO keeps each image's split: to a folder, the COCO writer writes one file
    per split (``train.json``, ...), the COCO reader reads such a folder as one dataset with each
    image in its file's split, and the YOLO written back has its images in their splits' folders."""
    root = yolo_dataset("hand-splits", tmp_path / "h")
    back = tmp_path / "coco"
    res = run_cli("convert", root, "-o", back, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert [p.name for p in coco_outputs(back)] == sorted(f"{s}.json" for s in set(HAND_SPLITS.values()))
    to_yolo(back, tmp_path / "yolo", "--images", root / "images")
    ds, _ = read_yolo(tmp_path / "yolo")
    assert {im.file_name: im.split for im in ds.images} == HAND_SPLITS


def test_no_splits_keep_the_flat_layout(tmp_path):
    """A dataset that names no split: images/ and labels/ as before, data.yaml's val = train
    (said in the summary), read back without splits."""
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": []}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [4, 3, 20, 15],
                            "keypoints": [10, 10, 2, 20, 12, 2]}]}
    src = materialise(tmp_path / "src", doc)
    stdout = to_yolo(src, tmp_path / "out", "--images", src.parent)
    assert "no splits: val = train (Ultralytics needs a val key)" in stdout
    data = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert data["train"] == data["val"] == "images" and "test" not in data
    assert (tmp_path / "out" / "labels" / "a.txt").is_file()
    ds, ctx = read_yolo(tmp_path / "out")
    assert [im.split for im in ds.images] == [None] and ctx.notes.line() == "everything carried"


def test_images_of_no_split_and_other_splits_go_to_train(tmp_path):
    """Some images name a split, some do not (train), one names a split data.yaml has no key for
    (train, counted); a dataset without val images gets val = train."""
    from converters.formats import Context, write_dataset

    ds, _ = read_yolo(yolo_dataset("hand-splits", tmp_path / "h"))
    for im, split in zip(ds.images, (None, "minival", "train", "Valid")):
        im.split = split
    ctx = Context()
    out = write_dataset(ds, tmp_path / "out", "yolo", ctx, images_dir=tmp_path / "h" / "images")
    assert "splits: train 3, val 1" in out.summary
    line = ctx.notes.line()
    assert "1 split names minival (data.yaml has train, val and test; those images written to train)" in line
    assert "1 images of no split written to train" in line
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["val"] == "images/val"
    ds.images[3].split = "train"
    out = write_dataset(ds, tmp_path / "out2", "yolo", Context(), images_dir=tmp_path / "h" / "images")
    assert "val = train (no val images; Ultralytics needs a val key)" in out.summary
    assert yaml.safe_load((tmp_path / "out2" / "data.yaml").read_text())["val"] == "images/train"


@pytest.mark.parametrize("text", ["labelme:\n  flags: [a, b]\n", "- 1\n- 2\n", ""])
def test_a_yaml_that_is_not_a_yolo_dataset_says_so(tmp_path, text):
    root = coco8_pose(tmp_path / "c8")
    other = tmp_path / "config.yaml"
    other.write_text(text)
    for src, yaml_path in ((other, other), (root, root / "data.yaml")):
        (root / "data.yaml").write_text(text)
        res = run_cli("convert", src, "-o", tmp_path / "x.json", "--to", "coco", "--from", "yolo")
        assert res.exit_code == 2 and res.stderr.strip() == (
            f"error: {yaml_path}: is not a YOLO dataset YAML (no kpt_shape, train or names)"), res.stderr
    # another tool's YAML beside a dataset without data.yaml is not taken for the dataset's
    (root / "data.yaml").unlink()
    (root / "config.yaml").write_text("labelme:\n  flags: [a, b]\n")
    got, stdout, _ = read_back(root, tmp_path)
    assert sum(map(len, got.values())) == 12 and stdout.strip().endswith("everything carried")


def test_lines_of_different_lengths_name_the_line(tmp_path):
    """Comment and blank lines are skipped, and not counted in the line the message names."""
    root = two_keypoint_folder(tmp_path / "d", {"a": "# made by hand\n\n" + PREDICTED + PREDICTED.strip() + " 0.5\n"})
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco")
    assert_refused(res, root / "labels" / "a.txt", "line 4 has 12 values, line 3 has 11: lines have different "
                                                   "numbers of values")
    (root / "labels" / "a.txt").write_text("# x\n" + PREDICTED + "0 0.5 0.5 0.4 0.4 0.4 0.4 0.8 0.6 0.6 x\n")
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco")
    assert_refused(res, root / "labels" / "a.txt", "line 3: a value is not a number")


def test_skip_bad_skips_a_bad_label_file_with_its_image(tmp_path):
    """A bad label file refuses the conversion (nothing written); with --skip-bad it is skipped
    with its image (as Ultralytics skips it), listed and counted, the account balanced."""
    root = two_keypoint_folder(tmp_path / "b", {"a": PREDICTED, "b": "0 0.5 0.5 0.4 0.4\n" * 2,
                                                "c": "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.6 1\n"})
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco")
    assert res.exit_code == 2 and "b.txt: 5 values per line" in res.stderr and not (tmp_path / "x.json").exists()
    res = run_cli("convert", root, "-o", tmp_path / "x.json", "--to", "coco", "--skip-bad")
    assert res.exit_code == 0, res.stderr
    assert "b.txt: 5 values per line" in res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith(
        "not carried: 1 bad files skipped (--skip-bad); 1 images whose label file is bad (skipped with it, as "
        "Ultralytics skips them); 2 persons in bad label files (skipped)"), res.stdout
    doc = json.loads((tmp_path / "x.json").read_text())
    assert sorted(im["file_name"] for im in doc["images"]) == ["a.jpg", "c.jpg"] and len(doc["annotations"]) == 2
    ds, ctx = read_yolo(root, skip_bad=True)
    assert ctx.account == {"images": 3, "persons": 4, "keypoints": 4} and len(ds.images) == 2


def test_dotted_names_keep_their_dots(tmp_path):
    """``cam01.0030.jpg`` is labeled by ``cam01.0030.txt`` (as Ultralytics reads it), and a name
    without an image suffix keeps its dots (``frame.0001`` -> ``frame.0001.txt``), so that two
    such images do not share one label file."""
    kp = [10, 10, 2, 20, 12, 2]
    doc = {"images": [{"id": i + 1, "file_name": n, "width": 40, "height": 30}
                      for i, n in enumerate(["cam01.0030.jpg", "cam01.0031.jpg", "sub/frame.0001", "sub/frame.0002"])],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": []}],
           "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0, "bbox": [4, 3, 20, 15],
                            "keypoints": kp} for i in range(4)]}
    from PIL import Image

    src = tmp_path / "src" / "coco.json"
    (src.parent / "sub").mkdir(parents=True)
    for im in doc["images"]:  # (no suffix: PIL is told the format)
        Image.new("L", (40, 30)).save(src.parent / im["file_name"], format="PNG")
    src.write_text(json.dumps(doc))
    stdout = to_yolo(src, tmp_path / "out", "--images", src.parent)
    assert "2 images whose suffix Ultralytics does not load as an image" in stdout
    labels = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.txt"))
    assert labels == ["labels/cam01.0030.txt", "labels/cam01.0031.txt", "labels/sub/frame.0001.txt",
                      "labels/sub/frame.0002.txt"]
    ultralytics_check(tmp_path / "out")
    got, _, _ = read_back(tmp_path / "out", tmp_path)
    assert sorted(got) == ["cam01.0030.jpg", "cam01.0031.jpg"] and all(len(p) == 1 for p in got.values())


def test_writer_counts_every_person_left_out(tmp_path):
    """Crowd regions, --outside drop, persons without box or keypoint and repeated lines are
    counted as persons not carried; Output.persons is what the label files hold."""
    from converters.formats import Context, read_dataset, write_dataset

    doc = json.loads(_with_outside(tmp_path).read_text())
    doc["annotations"].append(dict(doc["annotations"][1], id=100))  # a repeat of another person
    doc["annotations"].append({"id": 101, "image_id": doc["images"][0]["id"], "category_id": 1, "iscrowd": 0,
                               "keypoints": [0] * 51})  # neither box nor keypoint
    src = tmp_path / "src" / "coco2.json"
    src.write_text(json.dumps(doc))
    ctx = Context(outside="drop")
    source, _ = read_dataset(src, ctx)
    before = ctx.notes.dropped("persons")
    out = write_dataset(source.ds, tmp_path / "out", "yolo", ctx, images_dir=src.parent)
    lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "out" / "labels").rglob("*.txt"))
    assert out.persons == lines and out.persons + ctx.notes.dropped("persons") - before == len(source.ds)
    assert ctx.notes.dropped("persons") - before == 4, ctx.notes


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coco_documents(max_k=5), st.data())
def test_splits_round_trip_property(doc, data):
    """Any splits (none, train, val, test, some images of none) -> YOLO -> read back: each image
    in its split (images of no split in train when others name theirs; no splits at all read
    back as none), with its persons; a split without images borrows a folder, and reads back so."""
    from annotate.coco import load_coco
    from converters.formats import Context, write_dataset

    splits = data.draw(st.lists(st.sampled_from([None, "train", "val", "test"]), min_size=len(doc["images"]),
                                max_size=len(doc["images"])))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = materialise(tmp / "src", doc)
        ds = load_coco(src)
        for im, split in zip(ds.images, splits):
            im.split = split
        wctx = Context()
        write_dataset(ds, tmp / "y", "yolo", wctx, images_dir=src.parent)
        back, ctx = read_yolo(tmp / "y")
        named = any(s is not None for s in splits)
        want = {(f"{s or 'train'}/{im.file_name}" if named else im.file_name): (s or "train") if named else None
                for im, s in zip(ds.images, splits)}
        assert {im.file_name: im.split for im in back.images} == want
        assert len(back) == len(ds) - wctx.notes.dropped("persons") and ctx.notes.line() == "everything carried"
