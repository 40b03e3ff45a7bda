"""`annotate split`: a partition of the images, reproducible, groups never across splits, sizes as
asked, per-keypoint visible fractions close to the whole set's (a bound on a generated set,
tighter than a random split's), every format, YOLO as one dataset, targets checked first."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, run_cli, examples

from annotate.errors import PosekitError
from annotate.ops.split import SPLITS, assign_groups, check_fractions, group_index, split_file


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def generated(n_images: int = 600, seed: int = 0, videos: int = 0) -> dict:
    """A COCO-17 file whose keypoints are visible with very different rates per keypoint and per
    image (so a careless split shows it); with ``videos``, names ``vidNN/frameNNNN.jpg`` in
    that many videos of uneven length (``n_images`` unused)."""
    from annotate.skeletons import COCO17

    rng = np.random.default_rng(seed)
    rate = np.linspace(0.1, 0.95, 17)
    images, anns = [], []
    lengths = rng.integers(1, 40, videos) if videos else None
    vid = np.repeat(np.arange(videos), lengths) if videos else None
    for i in range(n_images if not videos else len(vid)):
        name = f"vid{vid[i]:02d}/frame{i:04d}.jpg" if videos else f"img{i:05d}.jpg"
        images.append({"id": i + 1, "file_name": name, "width": 640, "height": 480})
        scene = rng.uniform(0.3, 1.0)  # some images mostly occluded
        for _ in range(int(rng.integers(0, 5))):
            vis = np.where(rng.uniform(size=17) < rate * scene, 2, rng.choice([0, 1], 17))
            kp = np.stack([rng.uniform(10, 600, 17).round(), rng.uniform(10, 450, 17).round(), vis], 1)
            kp[vis == 0, :2] = 0
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "bbox": [5, 5, 620, 460], "area": 1000.0, "num_keypoints": int((vis > 0).sum()),
                         "keypoints": kp.astype(int).ravel().tolist()})
    cat = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
           "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs]}
    return {"images": images, "annotations": anns, "categories": [cat]}


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def split_names(out: Path) -> dict[str, list[str]]:
    return {s: [im["file_name"] for im in load(out / f"{s}.json")["images"]]
            for s in SPLITS if (out / f"{s}.json").exists()}


def visible_fraction(doc: dict) -> np.ndarray:
    kp = np.array([a["keypoints"] for a in doc["annotations"] if not a["iscrowd"]]).reshape(-1, 17, 3)
    return (kp[..., 2] == 2).mean(0)


# --------------------------------------------------------------------------- partition

def test_a_split_is_a_partition_of_images_and_persons(tmp_path):
    doc = generated()
    src = write(tmp_path / "d.json", doc)
    res = run_cli("split", src, "-o", tmp_path / "s", "--val", "0.1", "--test", "0.2")
    assert res.exit_code == 0, res.stderr
    names = split_names(tmp_path / "s")
    every = [n for s in names.values() for n in s]
    assert sorted(every) == sorted(im["file_name"] for im in doc["images"])
    parts = {s: load(tmp_path / "s" / f"{s}.json") for s in SPLITS}
    assert sum(len(p["annotations"]) for p in parts.values()) == len(doc["annotations"])
    for p in parts.values():  # each person in the split of its image
        ids = {im["id"] for im in p["images"]}
        assert all(a["image_id"] in ids for a in p["annotations"])
    n = len(doc["images"])
    for s, f in (("val", 0.1), ("test", 0.2)):
        assert abs(len(names[s]) - f * n) <= 1
    assert "train" in res.stdout and "largest difference" in res.stdout


def test_the_same_seed_gives_the_same_split(tmp_path):
    src = write(tmp_path / "d.json", generated(300))
    for out in ("a", "b"):
        assert run_cli("split", src, "-o", tmp_path / out, "--seed", "3").exit_code == 0
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in ("train.json", "val.json"))
    assert run_cli("split", src, "-o", tmp_path / "c", "--seed", "4").exit_code == 0
    assert split_names(tmp_path / "c") != split_names(tmp_path / "a")


def test_groups_never_cross_splits(tmp_path):
    doc = generated(videos=30)
    src = write(tmp_path / "d.json", doc)
    for i, args in enumerate((["--group", r"^(vid\d+)/"], ["--group-by-folder"], ["--group", r"vid\d+"])):
        out = tmp_path / f"s{i}"
        res = run_cli("split", src, "-o", out, "--val", "0.2", "--test", "0.1", *args)
        assert res.exit_code == 0, res.stderr
        where = {}
        for s, names in split_names(out).items():
            for n in names:
                assert where.setdefault(n.split("/")[0], s) == s, n
        sizes = np.bincount([int(n[3:5]) for n in (im["file_name"] for im in doc["images"])])
        got = {s: len(v) for s, v in split_names(out).items()}
        assert abs(got["val"] - 0.2 * len(doc["images"])) <= sizes.max()
        assert "30 groups" in res.stdout


def test_unmatched_names_are_their_own_groups_and_counted(tmp_path):
    src = write(tmp_path / "d.json", generated(50))
    res = run_cli("split", src, "-o", tmp_path / "s", "--group", r"^cam(\d+)_")
    assert res.exit_code == 0 and "50 images matched no --group pattern" in res.stdout


def test_group_index():
    names = ["a/1.jpg", "a/2.jpg", "b/1.jpg", "top.jpg", "c/d/1.jpg", "c/d/2.jpg"]
    g, n, un = group_index(names, by_folder=True)
    assert n == 4 and g[0] == g[1] != g[2] and g[4] == g[5] and un == 0
    g, n, un = group_index(names, r"^(\w)/")
    assert g[0] == g[1] != g[2] and g[4] == g[5] and un == 1 and n == 4
    g, n, un = group_index(["s01_a.jpg", "s01_b.jpg", "s02_a.jpg"], r"s\d+")
    assert g.tolist() == [0, 0, 1]
    with pytest.raises(PosekitError, match="regular expression"):
        group_index(names, "(")


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.integers(1, 30), min_size=3, max_size=60), st.sampled_from([(0.1, 0.0), (0.2, 0.1), (0.3, 0.3)]),
       st.integers(0, 2**16))
@example([1, 1, 1], (0.1, 0.0), 0)
@example([30, 1, 1, 1], (0.3, 0.3), 0)
def test_assignment_partitions_groups_and_meets_the_sizes(sizes, fractions, seed):
    rng = np.random.default_rng(seed)
    n = np.array(sizes)
    persons = n * 2.0
    visible = rng.binomial(persons.astype(int)[:, None], 0.5, (len(n), 17)).astype(float)
    f = check_fractions(*fractions)
    out = assign_groups(n, visible, persons, f, seed)
    assert set(out.tolist()) <= {s for s in range(3) if f[s] > 0}
    got = np.bincount(out, weights=n, minlength=3)
    assert got.sum() == n.sum()
    assert (np.abs(got - f * n.sum()) <= n.max()).all()
    assert (assign_groups(n, visible, persons, f, seed) == out).all()


# --------------------------------------------------------------------------- stratification

def test_per_keypoint_visible_fractions_stay_close(tmp_path):
    doc = generated(2000, seed=5)
    src = write(tmp_path / "d.json", doc)
    res = run_cli("split", src, "-o", tmp_path / "s", "--val", "0.1", "--test", "0.1", "--seed", "1")
    assert res.exit_code == 0, res.stderr
    whole = visible_fraction(doc)
    diffs = [np.abs(visible_fraction(load(tmp_path / "s" / f"{s}.json")) - whole).max() for s in SPLITS]
    assert max(diffs) < 0.01  # 0.5% here; a random split: 5%
    assert f"{max(diffs):.2%}" in res.stdout
    # a random split of the same sizes is several times further off
    rng = np.random.default_rng(0)
    kp = np.array([a["keypoints"] for a in doc["annotations"]]).reshape(-1, 17, 3)
    img = np.array([a["image_id"] for a in doc["annotations"]])
    worst = []
    for _ in range(20):
        val = rng.permutation(len(doc["images"]))[:200] + 1
        worst.append(np.abs((kp[np.isin(img, val), :, 2] == 2).mean(0) - whole).max())
    assert max(diffs) * 3 < np.median(worst)


# --------------------------------------------------------------------------- formats and targets

def test_folder_formats_write_one_folder_per_split(tmp_path):
    res = run_cli("split", COCO_SAMPLE, "-o", tmp_path / "s", "--val", "0.25", "--to", "labelme",
                  "--images", COCO_SAMPLE.parent)
    assert res.exit_code == 0, res.stderr
    found = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert found == ["train", "val"]
    n = sum(len([p for p in (tmp_path / "s" / s).glob("*.json") if not p.name.startswith(".")]) for s in found)
    assert n == len(load(COCO_SAMPLE)["images"])


def test_yolo_is_one_dataset_with_the_splits_in_data_yaml(tmp_path):
    import yaml

    res = run_cli("split", COCO_SAMPLE, "-o", tmp_path / "y", "--val", "0.25", "--to", "yolo",
                  "--images", COCO_SAMPLE.parent)
    assert res.exit_code == 0, res.stderr
    data = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert {"train", "val"} <= set(data)
    assert data["train"] != data["val"]
    # read back: each image in the split it was given
    from converters.formats import Context, read_dataset

    ds = read_dataset(tmp_path / "y", Context())[0].ds
    assert sorted(im.split for im in ds.images) == ["train", "train", "train", "val"]
    for s in ("train", "val"):  # Ultralytics' layout: images/<split>, labels/<split>
        imgs = sorted(p.stem for p in (tmp_path / "y" / "images" / s).iterdir())
        assert imgs == sorted(p.stem for p in (tmp_path / "y" / "labels" / s).iterdir())
        assert len(imgs) == (3 if s == "train" else 1)


def test_every_target_is_checked_before_anything_is_written(tmp_path):
    src = write(tmp_path / "d.json", generated(50))
    out = tmp_path / "s"
    out.mkdir()
    (out / "val.json").write_text("{}")
    res = run_cli("split", src, "-o", out)
    assert res.exit_code == 2 and "val.json" in res.stderr and "--overwrite" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["val.json"]
    assert run_cli("split", src, "-o", out, "--overwrite").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["train.json", "val.json"]


def test_bad_options_are_one_line(tmp_path):
    src = write(tmp_path / "d.json", generated(20))
    for args in (["--val", "1.2"], ["--val", "0.6", "--test", "0.5"], ["--val", "0"], ["--group", "("],
                 ["--group", "x", "--group-by-folder"]):
        res = run_cli("split", src, "-o", tmp_path / "s", *args)
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, (args, res.stderr)
    assert not (tmp_path / "s").exists()
    tiny = write(tmp_path / "t.json", generated(3))
    res = run_cli("split", tiny, "-o", tmp_path / "s", "--val", "0.1", "--test", "0.1", "--group", ".*")
    assert res.exit_code == 2 and "no image" in res.stderr


def test_split_file_counts(tmp_path):
    doc = generated(100)
    res = split_file(write(tmp_path / "d.json", doc), tmp_path / "s", 0.2, 0.1, seed=7)
    assert res.plan.images.tolist() == [70, 20, 10]
    assert res.plan.persons.sum() == len(doc["annotations"])


@pytest.mark.parametrize("fmt,names", [("coco", ["train.json", "val.json"]), ("cvat", ["train.xml", "val.xml"]),
                                       ("labelstudio", ["train.json", "val.json"]), ("mpii", ["train.json", "val.json"]),
                                       ("labelme", ["train", "val"]), ("openpose", ["train", "val"])])
def test_every_format_gets_one_file_or_folder_per_split(tmp_path, fmt, names):
    from converters.formats import Context, read_dataset

    res = split_file(COCO_SAMPLE, tmp_path / "s", 0.25, to=fmt, images=COCO_SAMPLE.parent)
    assert [p.name for p in res.targets] == names
    got = []
    for p in res.targets:
        ds = read_dataset(p, Context(images=COCO_SAMPLE.parent), fmt)[0].ds
        got += [Path(im.file_name).stem for im in ds.images]
    assert sorted(got) == sorted(Path(im["file_name"]).stem for im in load(COCO_SAMPLE)["images"])
