import json

import numpy as np
import pytest

from annotate.coco import from_coco_dict, load_coco, save_coco, to_coco_dict
from annotate.errors import PosekitError

from conftest import COCO_SAMPLE, SHARED, needs_shared

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
        assert notes["changed\tannotations without area given their box's area (COCOeval needs one)"] == 5
        assert notes["changed\tannotations' num_keypoints set to their count of labeled keypoints"] == 4


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
