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
    """A wrist clicked on its elbow's edge: the forearm 2% of its length (inside the box)."""
    ex, ey = a["keypoints"][3 * 7: 3 * 7 + 2]
    wx, wy = a["keypoints"][3 * 9: 3 * 9 + 2]
    _kp(a, 9, x=ex + 0.02 * (wx - ex), y=ey + 0.02 * (wy - ey), v=2)


def plant_left_right_swap(d, a):
    k = a["keypoints"]
    k[3 * 13: 3 * 13 + 3], k[3 * 14: 3 * 14 + 3] = k[3 * 14: 3 * 14 + 3], k[3 * 13: 3 * 13 + 3]


def plant_same_spot(d, a):
    k = a["keypoints"]
    k[3 * 7], k[3 * 7 + 1] = k[3 * 5], k[3 * 5 + 1]


def plant_iscrowd_missing(d, a):
    del a["iscrowd"]


def plant_annotation_id_zero(d, a):
    a["id"] = 0


def plant_image_size_missing(d, a):
    im = next(im for im in d["images"] if im["id"] == a["image_id"])
    del im["width"]


def plant_visibility_at_origin(d, a):
    """The fault of issue 13 item 12: a v=0.3 point at (0, 0)."""
    _kp(a, 9, x=0, y=0, v=0.3)


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
    ("consistency.iscrowd_missing", plant_iscrowd_missing),
    ("consistency.annotation_id_zero", plant_annotation_id_zero),
    ("schema.visibility_value", plant_visibility_at_origin),
]
ERRORS_FOR_DOWNSTREAM_TOOLS = {"consistency.iscrowd_missing", "consistency.annotation_id_zero",
                               "consistency.area_missing", "consistency.image_size_missing"}


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


def _rules_on(findings, ann_id):
    return sorted(findings.loc[findings["ann_id"] == ann_id, "rule"])


@pytest.mark.parametrize("rule, plant", PLANTS, ids=[f"{r}:{p.__name__}" for r, p in PLANTS])
def test_one_fault_gives_one_finding(rule, plant, baseline, tmp_path):
    """The planted annotation gets exactly one finding more than it had, from the planted rule:
    downstream rules skip what a more basic rule reported (issue 13, item 12)."""
    d = _base()
    a = d["annotations"][_full(d)]
    before = _rules_on(baseline, a["id"])
    plant(d, a)
    p = tmp_path / "planted.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    after = _rules_on(f, a["id"])
    for r in before:
        if r in after:
            after.remove(r)
    assert after == [rule], f[f["ann_id"] == a["id"]].to_string()


def test_image_without_size_is_an_error_for_every_such_image(tmp_path):
    d = json.loads(COCO_SAMPLE.read_text())
    d["images"][0].pop("width")
    d["images"][1].pop("height")
    d["images"].append({"id": 5, "file_name": "no_people.jpg"})  # an image with no annotation
    p = tmp_path / "nosize.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    rows = f[f["rule"] == "consistency.image_size_missing"]
    assert set(rows["image_id"]) == {d["images"][0]["id"], d["images"][1]["id"], 5}
    assert set(rows["severity"]) == {"error"} and rows["ann_id"].isna().all()
    assert exit_code(f, "error") == 1


def test_crowd_region_without_area_is_an_error(tmp_path):
    d = json.loads(COCO_SAMPLE.read_text())
    crowd = next(a for a in d["annotations"] if a["num_keypoints"] == 0)
    crowd.update(iscrowd=1)  # a crowd region (no keypoints) without area
    del crowd["area"]
    p = tmp_path / "crowd.json"
    p.write_text(json.dumps(d))
    f, _ = validate_file(p)
    assert _flagged(f, "consistency.area_missing") == {crowd["id"]}


def test_errors_for_downstream_tools_match_what_pycocotools_rejects(tmp_path):
    """Each of these files makes pycocotools' COCOeval fail or score the ground truth against
    itself below 1.0, and validate calls each an error (issue 13, item 10)."""
    import contextlib
    import io

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def ap_against_itself(doc):
        path = tmp_path / "gt.json"
        path.write_text(json.dumps(doc))
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(path))
            dets = [dict(a, score=1.0) for a in doc["annotations"]
                    if not a.get("iscrowd") and any(a["keypoints"][2::3])]
            ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
            ev.evaluate(), ev.accumulate(), ev.summarize()
        return ev.stats[0]

    clean = json.loads(COCO_SAMPLE.read_text())
    assert ap_against_itself(clean) == pytest.approx(1.0)
    for rule, change in [("consistency.iscrowd_missing", lambda d: d["annotations"][0].pop("iscrowd")),
                         ("consistency.area_missing", lambda d: d["annotations"][0].pop("area")),
                         ("consistency.annotation_id_zero", lambda d: d["annotations"][0].update(id=0))]:
        d = copy.deepcopy(clean)
        change(d)
        try:
            broken = ap_against_itself(d) < 0.999
        except KeyError:
            broken = True
        assert broken, rule
        p = tmp_path / "x.json"
        p.write_text(json.dumps(d))
        f, _ = validate_file(p)
        assert rule in set(f.loc[f["severity"] == "error", "rule"]), rule
        assert np.isin(f.loc[f["rule"] == rule, "ann_id"].dropna(), [a["id"] for a in d["annotations"]]).all()


def test_findings_files_write_ids_as_integers(tmp_path):
    """Image-level findings (no annotation id) beside annotation-level ones must not turn the
    ids into floats (500742.0); findings.csv lists errors first."""
    import csv

    d = json.loads(COCO_SAMPLE.read_text())
    d["images"][0].pop("width")  # an image-level error
    d["annotations"][3]["num_keypoints"] += 1  # an annotation-level error
    d["annotations"].append(dict(d["annotations"][4], id="a7"))  # an id that is not an integer
    p = tmp_path / "ids.json"
    p.write_text(json.dumps(d))
    res = run_cli("validate", p, "--report", tmp_path / "rep")
    assert res.exit_code == 1
    text = (tmp_path / "rep" / "findings.csv").read_text()
    assert ".0," not in text
    rows = list(csv.DictReader(text.splitlines()))
    assert str(d["annotations"][3]["id"]) in {r["ann_id"] for r in rows}
    sev = [r["severity"] for r in rows]
    assert sev == sorted(sev, key=lambda s: s != "error")
    records = json.loads((tmp_path / "rep" / "findings.json").read_text())
    for r in records:
        assert r["image_id"] is None or type(r["image_id"]) is int
        assert r["ann_id"] is None or type(r["ann_id"]) is int
    bad_id = next(r for r in records if r["rule"] == "schema.annotation_id")
    assert bad_id["ann_id"] is None and bad_id["value"] == "a7"


def test_terminal_summary_fits_80_columns(tmp_path, monkeypatch):
    from annotate import console

    monkeypatch.setenv("COLUMNS", "80")
    console._consoles.cache_clear()  # rich reads the width when its console is made
    try:
        res = run_cli("validate", SAMPLE / "coco" / "with_defects.json")
    finally:
        console._consoles.cache_clear()
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    assert lines[-1].startswith("FAIL: 3 errors, 1 warning in 7 annotations")  # then the file's path
    assert all(len(line) <= 80 for line in lines[:-1]), "\n".join(lines)
    import re
    rules = set(re.findall(r"(?:schema|consistency|plausibility|image)\.[a-z_]+", res.stdout))
    raw = set(json.loads(json.dumps(list(validate_file(SAMPLE / "coco" / "with_defects.json")[0]["rule"]))))
    assert raw <= rules  # every rule id whole on one line


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
