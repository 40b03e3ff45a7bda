import copy
import json

import pytest

from annotate.validate import exit_code, validate_file

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, SAMPLE, SHARED, needs_shared, run_cli

pytestmark = needs_shared


def _flagged(findings, rule):
    return set(findings.loc[findings["rule"] == rule, "ann_id"].dropna().astype(int))


def test_real_coco_sample_has_no_errors():
    f, ds = validate_file(COCO_SAMPLE, SHARED / "coco")
    assert len(ds) == 14
    assert not (f["severity"] == "error").any(), f
    assert exit_code(f, "error") == 0


def test_crowdpose_sample_reports_its_real_defects():
    f, _ = validate_file(CROWDPOSE_SAMPLE)
    rules = set(f["rule"])
    assert "schema.skeleton_range" in rules  # COCO's 17-keypoint skeleton on 14 keypoints
    nk = f[f["rule"] == "consistency.num_keypoints"]
    raw = json.loads(CROWDPOSE_SAMPLE.read_text())["annotations"]
    wrong = {a["id"] for a in raw if a["num_keypoints"] != sum(v > 0 for v in a["keypoints"][2::3])}
    assert set(nk["ann_id"].astype(int)) == wrong and wrong
    assert exit_code(f, "error") == 1


def test_clean_synthetic_data_fires_no_rule():
    f, _ = validate_file(SAMPLE / "coco" / "sample.json", SAMPLE / "images")
    assert f.empty, f


def _base():
    """The real COCO sample three times over (on new image ids), so per-limb statistics have data."""
    d = json.loads(COCO_SAMPLE.read_text())
    images, anns = list(d["images"]), list(d["annotations"])
    for rep in (1, 2):
        for im in d["images"]:
            images.append(dict(im, id=im["id"] + rep * 10**7))
        for a in d["annotations"]:
            anns.append(dict(copy.deepcopy(a), id=a["id"] + rep * 10**7, image_id=a["image_id"] + rep * 10**7))
    d["images"], d["annotations"] = images, anns
    return d


def _full(d):
    """An annotation with all 17 keypoints labeled (index into d['annotations'])."""
    return next(i for i, a in enumerate(d["annotations"]) if a["num_keypoints"] == 17)


def _kp(a, j, x=None, y=None, v=None):
    k = a["keypoints"]
    if x is not None:
        k[3 * j] = x
    if y is not None:
        k[3 * j + 1] = y
    if v is not None:
        k[3 * j + 2] = v


def plant_visibility_value(d, a):
    _kp(a, 0, v=0.3)


def plant_visibility_float(d, a):
    _kp(a, 0, v=2.0)


def plant_nonfinite(d, a):
    _kp(a, 3, x=float("nan"))


def plant_keypoints_length(d, a):
    del a["keypoints"][-3:]


def plant_image_id(d, a):
    a["image_id"] = 424242


def plant_num_keypoints(d, a):
    a["num_keypoints"] = 3


def plant_unlabeled_nonzero(d, a):
    _kp(a, 1, x=12, y=13, v=0)
    a["num_keypoints"] -= 1


def plant_outside_image(d, a):
    _kp(a, 9, x=5000)


def plant_outside_box(d, a):
    x, y, w, h = a["bbox"]
    _kp(a, 9, x=max(x - 0.5 * w, 1), y=y + h / 2)


def plant_box_size(d, a):
    a["bbox"][2] = 0


def plant_box_outside(d, a):
    a["bbox"][0] = -50


def plant_area_missing(d, a):
    del a["area"]


def plant_crowd_kps(d, a):
    a["iscrowd"] = 1


def plant_bone_length(d, a):
    x, y = a["keypoints"][3 * 9: 3 * 9 + 2]
    _kp(a, 9, x=x, y=y + 20 * (a["bbox"][3]))  # a wrist 20 body-heights from its elbow
    _kp(a, 9, v=2)


def plant_left_right_swap(d, a):
    k = a["keypoints"]
    k[3 * 13: 3 * 13 + 3], k[3 * 14: 3 * 14 + 3] = k[3 * 14: 3 * 14 + 3], k[3 * 13: 3 * 13 + 3]


def plant_same_spot(d, a):
    k = a["keypoints"]
    k[3 * 7], k[3 * 7 + 1] = k[3 * 5], k[3 * 5 + 1]


def plant_duplicate(d, a):
    d["annotations"].append(dict(copy.deepcopy(a), id=999999))


PLANTS = [
    ("schema.visibility_value", plant_visibility_value),
    ("schema.visibility_float", plant_visibility_float),
    ("schema.nonfinite", plant_nonfinite),
    ("schema.keypoints_length", plant_keypoints_length),
    ("schema.image_id", plant_image_id),
    ("consistency.num_keypoints", plant_num_keypoints),
    ("consistency.unlabeled_nonzero", plant_unlabeled_nonzero),
    ("consistency.keypoint_outside_image", plant_outside_image),
    ("consistency.keypoint_outside_box", plant_outside_box),
    ("consistency.box_size", plant_box_size),
    ("consistency.box_outside_image", plant_box_outside),
    ("consistency.area_missing", plant_area_missing),
    ("consistency.crowd_with_keypoints", plant_crowd_kps),
    ("plausibility.bone_length", plant_bone_length),
    ("plausibility.left_right_swap", plant_left_right_swap),
    ("plausibility.same_spot", plant_same_spot),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    p = tmp_path_factory.mktemp("base") / "base.json"
    p.write_text(json.dumps(_base()))
    f, _ = validate_file(p)
    return f


@pytest.mark.parametrize("rule, plant", PLANTS, ids=[r for r, _ in PLANTS])
def test_planted_defect_is_flagged_on_exactly_that_annotation(rule, plant, baseline, tmp_path):
    d = _base()
    i = _full(d)
    a = d["annotations"][i]
    plant(d, a)
    p = tmp_path / "planted.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    assert _flagged(f, rule) - _flagged(baseline, rule) == {a["id"]}, f[f["rule"] == rule]


def test_duplicate_person_is_flagged(baseline, tmp_path):
    d = _base()
    plant_duplicate(d, d["annotations"][_full(d)])
    p = tmp_path / "dup.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    assert _flagged(f, "plausibility.duplicate_person") == {999999}


def test_shoulders_against_hips(tmp_path):
    d = _base()
    a = d["annotations"][_full(d)]
    keep = {5, 6, 11, 12}
    for j in range(17):
        if j not in keep:
            _kp(a, j, x=0, y=0, v=0)
    k = a["keypoints"]
    k[15:18], k[18:21] = k[18:21], k[15:18]  # swap the shoulders only
    a["num_keypoints"] = 4
    p = tmp_path / "torso.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    assert _flagged(f, "plausibility.shoulders_vs_hips") == {a["id"]}


def test_zero_based_skeleton_is_detected(tmp_path):
    d = json.loads(COCO_SAMPLE.read_text())
    d["categories"][0]["skeleton"] = [[a - 1, b - 1] for a, b in d["categories"][0]["skeleton"]]
    p = tmp_path / "z.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    assert "schema.skeleton_zero_based" in set(f["rule"])


def test_cli_report_exit_codes_and_pictures(tmp_path):
    res = run_cli("validate", SAMPLE / "coco" / "with_defects.json", "--images", SAMPLE / "images",
                  "--report", tmp_path / "rep")
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "consistency.num_keypoints" in res.stdout
    assert {"findings.csv", "findings.json", "index.html", "pictures"} <= {p.name for p in (tmp_path / "rep").iterdir()}
    rows = json.loads((tmp_path / "rep" / "findings.json").read_text())
    assert {r["rule"] for r in rows} >= {"consistency.num_keypoints", "schema.visibility_value",
                                          "consistency.keypoint_outside_image", "plausibility.left_right_swap"}
    assert all(set(r) >= {"rule", "severity", "image_id", "ann_id", "keypoints", "message", "value"} for r in rows)
    assert any((tmp_path / "rep" / "pictures").glob("ann_*.jpg"))
    warn_only = run_cli("-q", "validate", COCO_SAMPLE, "--fail-on", "warning")
    assert warn_only.exit_code == 1  # the real sample has two plausibility warnings
    assert run_cli("validate", COCO_SAMPLE, "-q").exit_code == 0
