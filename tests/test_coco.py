import json

import numpy as np
import pytest

from annotate.coco import from_coco_dict, load_coco, save_coco, to_coco_dict
from annotate.errors import PosekitError

from conftest import COCO_SAMPLE, SHARED, needs_shared, run_cli

SHARED_COCO_FILES = [p for p in sorted((SHARED / "coco").glob("*.json")) + sorted((SHARED / "crowdpose").glob("*.json"))
                     if p.name != "test_keypoint_partition_metric.json"]


def _completed(obj):
    """The COCO object as posekit writes it back: num_keypoints = count of v > 0, and an area
    (the box's) where an annotation has none, as COCOeval needs."""
    obj = json.loads(json.dumps(obj))
    for a in obj["annotations"]:
        a["num_keypoints"] = sum(1 for v in a["keypoints"][2::3] if v > 0)
        if "area" not in a and "bbox" in a:
            area = a["bbox"][2] * a["bbox"][3]
            a["area"] = int(area) if float(area).is_integer() else area
    return obj


@pytest.mark.parametrize("path", SHARED_COCO_FILES, ids=lambda p: p.name)
def test_shared_coco_files_load_and_save_unchanged(path, tmp_path):
    original = json.loads(path.read_text())
    ds = load_coco(path)
    assert len(ds) == len(original["annotations"])
    assert len(ds.images) == len(original["images"])
    first = original["annotations"][0]
    row = int(np.flatnonzero(ds.ann_id == first["id"])[0])
    np.testing.assert_array_equal(ds.keypoints[row].ravel(), first["keypoints"])
    out = tmp_path / "out.json"
    notes = save_coco(ds, out)
    assert json.loads(out.read_text()) == _completed(original)
    if path.name == "test_crowdpose.json":  # no area in the file; 4 num_keypoints disagree with v
        assert notes[("changed", None, "annotations without area given their box's area (COCOeval needs one)")] == 5
        assert notes[("changed", None, "annotations' num_keypoints set to their count of labeled keypoints")] == 4


def test_keypoints_of_another_length_than_the_category_are_refused():
    """mmpose's partition-metric file has 133 keypoint values per annotation under a 17-name
    category: every command refuses it the same way, naming the annotation."""
    path = SHARED / "coco" / "test_keypoint_partition_metric.json"
    with pytest.raises(PosekitError, match=r"annotation \d+: has 399 keypoint values; category 'person' needs 3x17=51"):
        load_coco(path)


@needs_shared
def test_saved_file_is_accepted_by_pycocotools_and_cocoeval(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = tmp_path / "gt.json"
    save_coco(load_coco(COCO_SAMPLE), out)
    gt = COCO(str(out))
    anns = [dict(a, score=1.0) for a in gt.loadAnns(gt.getAnnIds()) if not a["iscrowd"] and a["num_keypoints"] > 0]
    dt = gt.loadRes(anns)
    ev = COCOeval(gt, dt, "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_skeleton_is_one_based_in_file_and_zero_based_in_memory(tmp_path):
    from annotate.dataset import Category, DatasetBuilder
    from annotate.skeletons import COCO17

    b = DatasetBuilder(Category.from_layout(COCO17))
    iid = b.add_image("a.jpg", 100, 100)
    kps = np.zeros((17, 3))
    kps[0] = (10.5, 20.25, 2)
    b.add_person(iid, kps, [0, 0, 50, 50])
    d = to_coco_dict(b.build())
    skel = d["categories"][0]["skeleton"]
    assert min(x for s in skel for x in s) == 1 and skel[0] == [16, 14]
    assert d["annotations"][0]["keypoints"][:3] == [10.5, 20.25, 2]
    assert from_coco_dict(d).category.skeleton[0] == (15, 13)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("annotations"), "no 'annotations' list"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2]), "keypoint values"),
    (lambda d: d["annotations"][0].update(image_id=999999), "not an image of this file"),
    (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "used twice"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, float("nan")), "NaN or infinite"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "12"), "is not a number"),
])
@needs_shared
def test_strict_loading_names_the_annotation(mutate, message):
    d = json.loads(COCO_SAMPLE.read_text())
    mutate(d)
    with pytest.raises(PosekitError, match=message):
        from_coco_dict(d, "f.json")


def _columns(ds):
    return (ds.category, ds.categories, [vars(im) for im in ds.images], ds.ann_id, ds.image_id, ds.category_id,
            ds.keypoints, ds.bbox, ds.area, ds.iscrowd, ds.score, ds.extra, ds.other_annotations,
            ds.other_categories)


@pytest.mark.parametrize("path", SHARED_COCO_FILES, ids=lambda p: p.name)
def test_column_checks_read_exactly_what_the_annotation_loop_reads(path, monkeypatch):
    """Valid files take the column-wise checks; the loop that finds faults must read them the same."""
    import annotate.coco as coco

    obj = json.loads(path.read_text())
    obj["annotations"][0].pop("iscrowd", None)                    # completed and marked
    obj["annotations"][-1] = dict(reversed(obj["annotations"][-1].items()))  # another key order
    obj["categories"].append({"id": 99, "name": "dog"})          # a category without keypoints ...
    obj["annotations"].append({"id": 10**9, "image_id": obj["images"][0]["id"], "category_id": 99,
                               "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0})  # ... and its annotation
    fast = _columns(from_coco_dict(json.loads(json.dumps(obj))))
    monkeypatch.setattr(coco, "_screen_annotations", lambda *a: None)
    monkeypatch.setattr(coco, "_images_fast", lambda *a: None)
    slow = _columns(from_coco_dict(json.loads(json.dumps(obj))))
    for a, b in zip(fast, slow):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert repr(a) == repr(b)  # the same values, and the fields in the same order


@pytest.mark.parametrize("fault, message", [
    (lambda o: o["annotations"][3].update(id=True), "expected an integer"),
    (lambda o: o["annotations"][3].update(id=o["annotations"][2]["id"]), "is used twice"),
    (lambda o: o["annotations"][3].update(image_id=-5), "is not an image of this file"),
    (lambda o: o["annotations"][3].update(category_id=2**64), "is not a category"),
    (lambda o: o["annotations"][3].pop("keypoints"), "'keypoints' must be a list"),
    (lambda o: o["images"][1].update(width=True), "expected a positive integer"),
    (lambda o: o["images"][1].update(id=o["images"][0]["id"]), "is used twice"),
])
def test_a_fault_anywhere_in_a_large_file_is_still_found(fault, message):
    obj = json.loads(COCO_SAMPLE.read_text())
    fault(obj)
    with pytest.raises(PosekitError, match=message):
        from_coco_dict(obj)


@pytest.mark.parametrize("field, value, message", [
    ("area", True, "area True is not a finite number"),
    ("bbox", [0, 0, True, 5], "is not \\[x, y, w, h\\] finite numbers"),
    ("keypoints", "flag", "keypoint 0 value True is not a number"),
])
def test_json_true_is_not_the_number_1(tmp_path, field, value, message):
    """numpy takes True for 1 beside numbers; a COCO file's true is refused, not written back as 1."""
    obj = json.loads(COCO_SAMPLE.read_text())
    ann = obj["annotations"][2]
    if field == "keypoints":
        ann["keypoints"][2] = True
    else:
        ann[field] = value
    path = tmp_path / "x.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(PosekitError, match=message):
        load_coco(path)
    with pytest.raises(PosekitError, match=message):
        from_coco_dict(json.loads(path.read_text()))
    from annotate.validate import validate_file

    findings, _ = validate_file(path)  # the validator reads the file as convert does
    assert findings["message"].str.contains(message, regex=True).any(), findings["message"].tolist()


def _mixed_animals() -> dict:
    """Shaped like sleap-io's ``mixed_animals`` COCO export: two keypoint categories of different
    layouts (a 5-point mouse and a 3-point fly) in one file."""
    mouse = ["nose", "left_ear", "right_ear", "neck", "tail_base"]
    fly = ["head", "thorax", "abdomen"]
    return {
        "images": [{"id": 1, "file_name": "frame_0001.png", "width": 64, "height": 48}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [10, 10, 2] * 5, "num_keypoints": 5,
             "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "keypoints": [30, 30, 2] * 3, "num_keypoints": 3,
             "bbox": [25, 25, 10, 10], "area": 100, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 2, "keypoints": [40, 30, 2, 0, 0, 0, 41, 31, 1],
             "num_keypoints": 2, "bbox": [35, 25, 10, 10], "area": 100, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "mouse", "keypoints": mouse, "skeleton": [[1, 4], [4, 5]]},
                       {"id": 2, "name": "fly", "keypoints": fly, "skeleton": [[1, 2], [2, 3]]}],
    }


def test_a_file_of_two_layouts_is_refused_with_the_way_out_and_converts_one_category(tmp_path):
    src = tmp_path / "mixed_animals.json"
    src.write_text(json.dumps(_mixed_animals()))
    res = run_cli("convert", src, "-o", tmp_path / "out.json", "--to", "coco")
    assert res.exit_code == 2 and "--category NAME" in res.stderr and not (tmp_path / "out.json").exists()
    res = run_cli("convert", src, "-o", tmp_path / "fly.json", "--to", "coco", "--category", "fly")
    assert res.exit_code == 0, res.stderr
    out = json.loads((tmp_path / "fly.json").read_text())
    assert [a["id"] for a in out["annotations"]] == [2, 3] and [c["name"] for c in out["categories"]] == ["fly"]
    assert "1 persons of category 'mouse' (not the --category read)" in res.stdout
    res = run_cli("convert", src, "-o", tmp_path / "x.json", "--to", "coco", "--category", "cat")
    assert res.exit_code == 2 and "'mouse' (id 1, 5 keypoints), 'fly' (id 2, 3 keypoints)" in res.stderr


def test_a_folder_of_split_files_reads_as_one_dataset_and_is_written_back_the_same(tmp_path):
    """COCO files named per split (COCO's annotations/ folder, or what -o DIR writes) read as one
    dataset, each image in its file's split; written to a folder, one file per split again; a
    single file holds every image and counts the splits it cannot hold."""
    from annotate.coco import split_named_by

    assert [split_named_by(s) for s in ("person_keypoints_val2017", "train", "coco_test", "valid_x", "trainval",
                                        "a_train_val", "sample")] == ["val", "train", "test", "val", None, None, None]
    obj = json.loads(COCO_SAMPLE.read_text())
    src = tmp_path / "annotations"
    src.mkdir()
    first = obj["images"][0]["id"]
    for name, keep in (("person_keypoints_train2017.json", lambda i: i == first),
                       ("person_keypoints_val2017.json", lambda i: i != first)):
        part = dict(obj, images=[im for im in obj["images"] if keep(im["id"])],
                    annotations=[a for a in obj["annotations"] if keep(a["image_id"])])
        (src / name).write_text(json.dumps(part))
    res = run_cli("convert", src, "-o", tmp_path / "out", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert "everything carried" in res.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train.json", "val.json"]
    train = json.loads((tmp_path / "out" / "train.json").read_text())
    assert train == json.loads((src / "person_keypoints_train2017.json").read_text())
    res = run_cli("convert", src, "-o", tmp_path / "all.json", "--to", "coco")
    assert res.exit_code == 0 and f"{len(obj['images'])} images' split (train/val/test)" in res.stdout
    assert len(json.loads((tmp_path / "all.json").read_text())["annotations"]) == len(obj["annotations"])
    (src / "person_keypoints_val2017.json").write_text(json.dumps(obj))  # ids repeat across the files
    res = run_cli("convert", src, "-o", tmp_path / "x.json", "--to", "coco")
    assert res.exit_code == 2 and "annotate merge" in res.stderr
