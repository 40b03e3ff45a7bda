"""COCO <-> Label Studio JSON tasks: round trips, the labeling config and tasks checked by Label
Studio's own SDK, occlusion as a per-region choice, exports without parentID, the hidden points of
label-studio-converter's COCO import; hypothesis round trips."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from conftest import COCO_SAMPLE, run_cli, examples
from test_convert_cli import assert_same_persons, coco_documents, materialise, persons


def test_round_trip_on_real_coco(tmp_path):
    out = tmp_path / "tasks.json"
    res = run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "labelstudio")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "tasks.label_config.xml").is_file()
    tasks = json.loads(out.read_text())
    assert len(tasks) == 4 and tasks[0]["data"]["image"] == "/data/local-files/?d=000000000785.jpg"
    result = tasks[0]["annotations"][0]["result"]
    boxes = [r for r in result if r["type"] == "rectanglelabels"]
    points = [r for r in result if r["type"] == "keypointlabels"]
    assert points and all(p["parentID"] == boxes[0]["id"] for p in points)
    occluded = {r["id"] for r in result if r["type"] == "choices"}
    coco = json.loads(COCO_SAMPLE.read_text())
    n_v1 = sum(1 for a in coco["annotations"] if a["image_id"] == 785 for v in a["keypoints"][2::3] if v == 1)
    assert len(occluded) == n_v1
    back = tmp_path / "back.json"
    res = run_cli("convert", out, "-o", back, "--to", "coco")
    assert res.exit_code == 0 and res.stdout.strip().endswith("everything carried"), res.stdout
    assert_same_persons(persons(COCO_SAMPLE), persons(back), tol=1e-6, box_tol=1e-6)
    from annotate.coco import load_coco

    assert [im.id for im in load_coco(back).images] == [im["id"] for im in coco["images"]]


def test_label_studio_accepts_config_and_tasks(tmp_path):
    li_mod = pytest.importorskip("label_studio_sdk.label_interface")
    out = tmp_path / "tasks.json"
    assert run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "labelstudio").exit_code == 0
    li = li_mod.LabelInterface((tmp_path / "tasks.label_config.xml").read_text())
    li.validate()  # raises on a bad config
    assert {c.name for c in li.controls} == {"person", "keypoint", "visibility", "crowd"}
    for task in json.loads(out.read_text()):
        assert li.validate_annotation(task["annotations"][0])
    bad = {"result": [{"id": "x", "type": "keypointlabels", "from_name": "keypoint", "to_name": "image",
                       "value": {"x": 1, "y": 2, "width": 1, "keypointlabels": ["tail"]}}]}
    assert not li.validate_annotation(bad)  # the check is real


def _task(results, w=200, h=100):
    common = {"to_name": "image", "original_width": w, "original_height": h}
    return {"id": 5, "data": {"image": "/data/upload/3/abcd1234-walk.jpg"},
            "annotations": [{"id": 1, "was_cancelled": False, "result": [{**common, **r} for r in results]}]}


def test_reads_label_studio_exports_without_parent_ids(tmp_path):
    results = [
        {"id": "b1", "type": "rectanglelabels", "from_name": "label",
         "value": {"x": 10, "y": 10, "width": 20, "height": 50, "rectanglelabels": ["person"]}},
        {"id": "b2", "type": "rectanglelabels", "from_name": "label",
         "value": {"x": 60, "y": 10, "width": 20, "height": 50, "rectanglelabels": ["person"]}},
        {"id": "k1", "type": "keypointlabels", "from_name": "kp",
         "value": {"x": 15, "y": 20, "width": 1, "keypointlabels": ["Left Shoulder"]}},
        {"id": "k2", "type": "keypointlabels", "from_name": "kp",
         "value": {"x": 70, "y": 20, "width": 1, "keypointlabels": ["left_shoulder"]}},
        {"id": "k2", "type": "choices", "from_name": "visibility", "value": {"choices": ["occluded"]}},
        {"id": "p1", "type": "polygonlabels", "from_name": "poly", "value": {"points": [[1, 1], [2, 2], [3, 1]]}},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps([_task(results)]))
    out = tmp_path / "coco.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco", "--from", "labelstudio")
    assert res.exit_code == 0, res.stderr
    assert "1 Label Studio polygonlabels results" in res.stdout
    from annotate.coco import load_coco
    from annotate.skeletons import COCO17

    ds = load_coco(out)
    assert ds.category.keypoints == list(COCO17.keypoints)  # every label a COCO-17 keypoint
    assert ds.images[0].file_name == "abcd1234-walk.jpg" and len(ds) == 2
    ls = COCO17.index("left_shoulder")
    np.testing.assert_allclose(ds.keypoints[:, ls], [[30, 20, 2], [140, 20, 1]])
    np.testing.assert_allclose(ds.bbox[1], [120, 10, 40, 50])


def test_label_studio_converter_hidden_points(tmp_path):
    """label-studio-converter's COCO import writes v<2 points with ``hidden``: v=1, or v=0 at 0,0."""
    results = [{"id": "b", "type": "rectanglelabels", "from_name": "label",
                "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["person"]}}]
    for i, (x, y, hidden) in enumerate([(10, 10, False), (20, 20, True), (0, 0, True)]):
        results.append({"id": f"k{i}", "type": "keypointlabels", "from_name": "kp", "parentID": "b",
                         "value": {"x": x, "y": y, "width": 1, "keypointlabels": [f"p{i}"], "hidden": hidden}})
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_task(results, 100, 100)]))
    out = tmp_path / "coco.json"
    assert run_cli("convert", path, "-o", out, "--to", "coco").exit_code == 0
    from annotate.coco import load_coco

    np.testing.assert_allclose(load_coco(out).keypoints[0], [[10, 10, 2], [20, 20, 1], [0, 0, 0]])


def test_ambiguous_loose_keypoints_refused(tmp_path):
    results = [{"id": f"k{i}", "type": "keypointlabels", "from_name": "kp",
                "value": {"x": 10 * i, "y": 10, "width": 1, "keypointlabels": ["nose"]}} for i in range(2)]
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_task(results)]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and "repeat a label" in res.stderr and not (tmp_path / "c.json").exists()


def test_images_without_size_refused_then_read_from_images(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "x.png"}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a"], "skeleton": []}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 4, 4],
                            "area": 16, "keypoints": [2, 3, 2]}]}
    src = materialise(tmp_path, {**doc, "images": [{"id": 1, "file_name": "x.png", "width": 30, "height": 20}]})
    src.write_text(json.dumps(doc))
    res = run_cli("convert", src, "-o", tmp_path / "t.json", "--to", "labelstudio")
    assert res.exit_code == 2 and "--images" in res.stderr
    res = run_cli("convert", src, "-o", tmp_path / "t.json", "--to", "labelstudio", "--images", tmp_path)
    assert res.exit_code == 0 and "1 image sizes read from the image files" in res.stdout


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coco_documents(crowd=True))
def test_round_trip_property(doc):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = materialise(tmp, doc)
        out = tmp / "tasks.json"
        res = run_cli("convert", src, "-o", out, "--to", "labelstudio")
        assert res.exit_code == 0, res.stderr
        back = tmp / "back.json"
        res = run_cli("convert", out, "-o", back, "--to", "coco")
        assert res.exit_code == 0, res.stderr
        assert_same_persons(persons(src), persons(back), tol=1e-6, box_tol=1e-6)
        assert_same_persons(persons(src, crowd=True), persons(back, crowd=True), tol=1e-6, box_tol=1e-6)


DATA = Path(__file__).parent / "data" / "labelstudio"


def _load(path):
    from annotate.coco import load_coco

    return load_coco(path)


def _sample_persons(names=("000000000785.jpg", "000000040083.jpg")):
    return {k: v for k, v in persons(COCO_SAMPLE).items() if k in names}


def test_reads_label_studio_converter_coco_import(tmp_path):
    """label-studio-converter's COCO import labels every keypoint with its category, in order after
    the person's box, v<2 ``hidden``: read in order, the persons come back exactly."""
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "converter_coco_import.json", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    # its regions for COCO v=0 points (hidden, at 0, 0) are read as the unlabeled points they stand for
    assert res.stdout.strip().endswith("not carried: 22 keypoint regions marked hidden at (0, 0) (label-studio-"
                                       "converter's mark for an unlabeled COCO point) read as unlabeled. changed: "
                                       "68 keypoints labelled with their category read in order "
                                       "(label-studio-converter's COCO import)"), res.stdout
    from annotate.skeletons import COCO17

    assert _load(out).category.keypoints == list(COCO17.keypoints)
    assert_same_persons(_sample_persons(), persons(out), tol=1e-6, box_tol=1e-6)


def test_reads_json_min(tmp_path):
    """JSON-MIN has no region ids nor parentID, and drops the region of one-value per-region choices:
    keypoints join the box that holds them (or the nearest), occlusion is counted as lost."""
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "json_min.json", "-o", out, "--to", "coco", "--from", "labelstudio")
    assert res.exit_code == 0, res.stderr
    assert "not carried: 3 occluded/crowd choices of JSON-MIN records" in res.stdout
    assert "1 keypoints joined to a person by position (no relation), a guess: inside several persons' boxes" \
        in res.stdout, res.stdout
    assert "45 keypoints joined to a person by position (no relation): inside the one box free for their label" \
        in res.stdout
    assert_same_persons(_sample_persons(), persons(out), tol=1e-6, box_tol=1e-6, visibility=False)
    ds = _load(out)
    assert [im.id for im in ds.images] == [785, 40083]  # data.image_id
    assert ds.images[1].extra["coco_url"].endswith("000000040083.jpg")  # the task's other data fields


def test_reads_a_label_studio_export(tmp_path):
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "export.json", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    for part in ("1 Label Studio choices results (not a keypoint's occluded or a box's crowd choice)",
                 "1 Label Studio textarea results", "1 cancelled annotations with results (was_cancelled)",
                 "1 further annotations of a task (other annotators; the first is read)",
                 "1 predictions of tasks whose annotation is read",
                 "1 keypoints joined to a person by position (no relation): inside the one box",
                 "3 keypoints joined to a person by position (no relation), a guess",
                 "1 rotated boxes read as the upright box around them",
                 "1 tasks without an annotation read from their first prediction"):
        assert part in line, part
    ds = _load(out)
    # task ids are the image ids; s3 and http URLs keep their path's folders and lose their query; each
    # task's URL and id are kept for writing Label Studio again
    assert [(im.id, im.file_name, im.extra) for im in ds.images] == [
        (1, "5f1c2a9b-walk.jpg", {"camera": "north", "label_studio": {"url": "/data/upload/3/5f1c2a9b-walk.jpg",
                                                                      "id": 1}}),
        (2, "shoots/day1/0001.jpg", {"label_studio": {"url": "s3://my-bucket/shoots/day1/0001.jpg?versionId=3",
                                                      "id": 2}}),
        (3, "img/0002.jpg", {"label_studio": {"url": "https://example.com/img/0002.jpg?token=abc", "id": 3}})]
    from annotate.skeletons import COCO17

    nose, ls = COCO17.index("nose"), COCO17.index("left_shoulder")
    # overlapping boxes: the nose inside both goes to the box whose own nose is not taken
    np.testing.assert_allclose(ds.keypoints[:2, nose], [[48, 40, 2], [112, 50, 2]])
    np.testing.assert_allclose(ds.keypoints[1, ls], [184, 80, 2])  # 4 px outside its box, still joined
    np.testing.assert_allclose(ds.bbox[:2], [[40, 20, 80, 120], [100, 20, 80, 120]])
    # the prediction: rotated 90 degrees about its top-left corner, scores kept
    np.testing.assert_allclose(ds.bbox[2], [120, 100, 80, 80])
    assert ds.score[2] == 0.9 and ds.extra[2]["keypoint_scores"][nose] == 0.6
    # Label Studio 0.x "completions": read like annotations
    np.testing.assert_allclose(ds.keypoints[3, [nose, ls]], [[40, 20, 2], [48, 28, 2]])


def test_image_size_read_from_the_image_when_results_lack_it(tmp_path):
    from PIL import Image

    results = [{"id": "k", "type": "keypointlabels", "from_name": "kp", "to_name": "image",
                "value": {"x": 50, "y": 25, "width": 1, "keypointlabels": ["nose"]}}]
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"id": 4, "data": {"image": "/data/local-files/?d=pics/a.png"},
                                 "predictions": [{"result": results}]}]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and "no original_width/original_height and no image 'pics/a.png'" in res.stderr
    assert "--images" in res.stderr and not (tmp_path / "c.json").exists()
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (200, 80)).save(tmp_path / "pics" / "a.png")
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0 and "1 image sizes read from the image files" in res.stdout, res.stdout
    np.testing.assert_allclose(_load(tmp_path / "c.json").keypoints[0, 0], [100, 20, 2])


def test_writes_persons_without_box_and_keeps_scores_and_image_fields(tmp_path):
    doc = {"images": [{"id": 7, "file_name": "x.png", "width": 100, "height": 50, "camera": "north"}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "keypoints": [10, 10, 2, 30, 20, 1],
                            "score": 0.75, "keypoint_scores": [0.5, 0.25]},
                           {"id": 2, "image_id": 7, "category_id": 1, "keypoints": [0, 0, 0, 0, 0, 0]}]}
    src = tmp_path / "coco.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "tasks.json"
    res = run_cli("convert", src, "-o", out, "--to", "labelstudio")
    assert res.exit_code == 0, res.stderr
    assert "1 persons with neither a box nor a labeled keypoint (nothing to draw)" in res.stdout
    assert "1 persons without a box given their keypoints' extent as box" in res.stdout
    assert "person scores" not in res.stdout and "keypoint_scores" not in res.stdout and "camera" not in res.stdout
    task = json.loads(out.read_text())[0]
    assert task["data"]["camera"] == "north"
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--to", "coco").exit_code == 0
    ds = _load(back)
    assert len(ds) == 1 and ds.score[0] == 0.75 and ds.extra[0]["keypoint_scores"] == [0.5, 0.25]
    np.testing.assert_allclose(ds.keypoints[0], [[10, 10, 2], [30, 20, 1]])
    np.testing.assert_allclose(ds.bbox[0], [8, 9, 24, 12])  # extent grown by 10 % per side
    assert ds.images[0].extra == {"camera": "north"} and ds.images[0].id == 7


# --------------------------------------------------------------------------- review fixes

def _box_and_nose(task_id, image, nose_x=30.0, size=(100, 80)):
    """A task as a Label Studio export writes it: one box, its nose linked by parentID."""
    common = {"to_name": "image", "original_width": size[0], "original_height": size[1]}
    return {"id": task_id, "data": {"image": image}, "annotations": [{"id": task_id, "result": [
        {**common, "id": "b1", "type": "rectanglelabels", "from_name": "label",
         "value": {"x": 10, "y": 10, "width": 50, "height": 50, "rectanglelabels": ["person"]}},
        {**common, "id": "k1", "type": "keypointlabels", "from_name": "kp", "parentID": "b1",
         "value": {"x": nose_x, "y": 20, "width": 1, "keypointlabels": ["nose"]}}]}]}


def _carried_whole(tmp_path, tasks):
    """The tasks converted to COCO with everything carried, read back."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps(tasks))
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0 and res.stdout.strip().endswith("everything carried"), res.stdout + res.stderr
    return _load(out)


def test_http_urls_keep_their_folders(tmp_path):
    """Two cameras' 0001.jpg stay two images: an http(s) URL's path is the file name (query
    dropped); Label Studio's uploads and local files are named as before."""
    tasks = [_box_and_nose(1, "https://cdn.example.com/cam1/0001.jpg?X-Amz-Signature=abc", 30),
             _box_and_nose(2, "https://cdn.example.com/cam2/0001.jpg", 40),
             _box_and_nose(3, "http://localhost:8080/data/upload/3/5f1c2a9b-walk.jpg"),
             _box_and_nose(4, "/data/upload/3/0c1d2e3f-run.jpg"),
             _box_and_nose(5, "/data/local-files/?d=shoots/day%201/a.jpg")]
    ds = _carried_whole(tmp_path, tasks)
    assert [im.file_name for im in ds.images] == ["cam1/0001.jpg", "cam2/0001.jpg", "5f1c2a9b-walk.jpg",
                                                  "0c1d2e3f-run.jpg", "shoots/day 1/a.jpg"]
    np.testing.assert_allclose(ds.keypoints[:2, 0], [[30, 16, 2], [40, 16, 2]])


@pytest.mark.parametrize("first, second", [
    ("/data/upload/3/abc-x.jpg", "/data/upload/4/abc-x.jpg"),  # two projects' uploads
    ("https://cdn.example.com/a.jpg?v=1", "https://cdn.example.com/a.jpg?v=2")])
def test_different_urls_naming_one_file_refused(tmp_path, first, second):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_box_and_nose(7, first), _box_and_nose(9, second)]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert "task 0 (id 7) and task 1 (id 9) both name image" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_loose_keypoints_joined_by_a_guess_are_counted_apart(tmp_path):
    """Keypoints without parentID (a JSON-MIN export keeps none) of two overlapping persons: a
    point inside one box that holds no other point of its label is joined for sure; one inside
    both boxes, one inside none, and one sharing its only box with such a point are guesses
    (the swap the review found on CrowdPose)."""
    def kp(i, x, y, label):
        return {"id": f"k{i}", "type": "keypointlabels", "from_name": "kp",
                "value": {"x": x, "y": y, "width": 1, "keypointlabels": [label]}}

    results = [{"id": "a", "type": "rectanglelabels", "from_name": "label",
                "value": {"x": 0, "y": 0, "width": 60, "height": 100, "rectanglelabels": ["person"]}},
               {"id": "b", "type": "rectanglelabels", "from_name": "label",
                "value": {"x": 40, "y": 0, "width": 60, "height": 100, "rectanglelabels": ["person"]}},
               kp(1, 10, 10, "nose"), kp(2, 90, 10, "nose"),  # each inside one box alone: sure
               kp(3, 20, 50, "right_wrist"), kp(4, 50, 50, "right_wrist"),  # box a holds both: guesses
               kp(5, 50, 80, "left_wrist")]  # inside both boxes: a guess
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_task(results, 100, 100)]))
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert ("changed: 3 keypoints joined to a person by position (no relation), a guess: inside several persons' "
            "boxes, or none, or in a box with another point of that label; check them; 2 keypoints joined to a "
            "person by position (no relation): inside the one box free for their label") in res.stdout, res.stdout
    from annotate.skeletons import COCO17

    ds = _load(out)
    np.testing.assert_allclose(ds.keypoints[:, COCO17.index("nose"), 0], [10, 90])


def test_json_min_list_of_lists_fields_are_task_data(tmp_path):
    """JSON-MIN writes a taxonomy (or any multi-value control) as a list of lists: task data."""
    rec = json.loads((DATA / "json_min.json").read_text())[:1]
    rec[0]["taxonomy"] = [["Outdoor", "Street"], ["Crowd"]]
    rec[0]["tags"] = [[1, 2], [3]]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(rec))
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco", "--from", "labelstudio")
    assert res.exit_code == 0, res.stderr
    assert "taxonomy" not in res.stdout and "tags" not in res.stdout
    extra = _load(out).images[0].extra
    assert extra["taxonomy"] == [["Outdoor", "Street"], ["Crowd"]] and extra["tags"] == [[1, 2], [3]]


@pytest.mark.parametrize("region, value, shown", [
    ("b1", [1, 2], "region 'b1' (rectanglelabels) has value [1, 2]"),
    ("k1", "x", "region 'k1' (keypointlabels) has value 'x'"),
    ("b1", {"x": 10, "y": 10, "width": 50, "height": 50, "rectanglelabels": "person"},
     "region 'b1' has rectanglelabels 'person'")])
def test_region_values_that_are_not_objects_refused(tmp_path, region, value, shown):
    task = _box_and_nose(3, "/data/local-files/?d=a.jpg")
    for r in task["annotations"][0]["result"]:
        if r["id"] == region:
            r["value"] = value
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert f"task 0 (id 3): {shown}" in res.stderr and "unexpected" not in res.stderr, res.stderr


@pytest.mark.parametrize("width", ["100", 100.0, " 100 "])
def test_sizes_given_as_text_or_float_read_as_whole_numbers(tmp_path, width):
    task = _box_and_nose(1, "/data/local-files/?d=a.jpg")
    for r in task["annotations"][0]["result"]:
        r["original_width"] = width
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0 and res.stdout.strip().endswith("everything carried"), res.stdout + res.stderr
    assert json.loads(out.read_text())["images"][0]["width"] == 100  # an int, as COCO readers need
    np.testing.assert_allclose(_load(out).keypoints[0, 0], [30, 16, 2])


@pytest.mark.parametrize("where, value", [("original_width", "abc"), ("original_width", 100.5),
                                          ("original_height", -80), ("original_width", True),
                                          ("original_height", 0)])
def test_sizes_that_are_not_whole_numbers_refused(tmp_path, where, value):
    task = _box_and_nose(1, "/data/local-files/?d=a.jpg")
    task["annotations"][0]["result"][0][where] = value
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert "task 0 (id 1): " in res.stderr and where.split(".")[-1] in res.stderr, res.stderr
    assert f"is {value!r}; expected a positive whole number of pixels" in res.stderr, res.stderr


def _gcs_task(sizes: bool) -> dict:
    """A task of a Google Cloud Storage project as Label Studio exports it (the presigned https
    URL of the object; the reviewer's ls_gcs.json / ls_gcs_nosize.json)."""
    task = _box_and_nose(1, "https://storage.googleapis.com/mybucket/proj/images/0001.jpg")
    if not sizes:
        for r in task["annotations"][0]["result"]:
            del r["original_width"], r["original_height"]
    return task


@pytest.mark.parametrize("sizes", [True, False])
def test_url_found_by_its_name_alone_in_a_flat_images_folder(tmp_path, sizes):
    """The URL keeps its folders in the name, but a flat --images folder holding ``0001.jpg``
    is used: the file name is then ``0001.jpg`` (counted), sizes read from it when needed, and
    the YOLO writer finds the image."""
    from PIL import Image

    path = tmp_path / "t.json"
    path.write_text(json.dumps([_gcs_task(sizes)]))
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (100, 80)).save(flat / "0001.jpg")
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco", "--images", flat)
    assert res.exit_code == 0, res.stderr
    assert ("1 image URLs whose file was found by its name alone in the images folder (the URL's folders "
            "dropped from the file name)") in res.stdout, res.stdout
    assert ("1 image sizes read from the image files" in res.stdout) == (not sizes)
    ds = _load(out)
    assert ds.images[0].file_name == "0001.jpg" and (ds.images[0].width, ds.images[0].height) == (100, 80)
    np.testing.assert_allclose(ds.keypoints[0, 0], [30, 16, 2])
    res = run_cli("convert", path, "-o", tmp_path / "y", "--to", "yolo", "--images", flat)
    assert res.exit_code == 0 and (tmp_path / "y" / "labels" / "0001.txt").is_file(), res.stdout + res.stderr


def test_url_not_found_names_image_root_url(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_gcs_task(False)]))
    (tmp_path / "flat").mkdir()
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco", "--images", tmp_path / "flat")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert "no image 'mybucket/proj/images/0001.jpg' (nor '0001.jpg') under" in res.stderr, res.stderr
    assert "check --images DIR, or pass --image-root-url URL" in res.stderr, res.stderr
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco",
                  "--image-root-url", "https://storage.googleapis.com/mybucket/proj/")
    assert "no image 'images/0001.jpg' (nor '0001.jpg')" in res.stderr and "pass --images DIR" in res.stderr


def test_one_url_twice_is_two_images_and_query_apart_without_suffix(tmp_path):
    """One image imported twice (the reviewer's ls_dup.json): two images of one file_name, as
    COCO allows; an API URL without an image suffix keeps its query (ls_q.json)."""
    tasks = [_box_and_nose(1, "/data/upload/1/abc-a.jpg", 30), _box_and_nose(2, "/data/upload/1/abc-a.jpg", 40),
             _box_and_nose(3, "https://api.example.com/image?id=1"),
             _box_and_nose(4, "https://api.example.com/image?id=2")]
    ds = _carried_whole(tmp_path, tasks)
    assert [im.file_name for im in ds.images] == ["abc-a.jpg", "abc-a.jpg", "image?id=1", "image?id=2"]
    assert [im.id for im in ds.images] == [1, 2, 3, 4]
    np.testing.assert_allclose(ds.keypoints[:2, 0], [[30, 16, 2], [40, 16, 2]])
    # the YOLO writer refuses shared names
    res = run_cli("convert", tmp_path / "t.json", "-o", tmp_path / "y", "--to", "yolo")
    assert res.exit_code == 2 and "would share the label file" in res.stderr and not (tmp_path / "y").exists()


@pytest.mark.parametrize("width, height", [("", ""), (1920.5, 1080), ("wide", None)])
def test_bad_data_sizes_not_used_and_kept(tmp_path, width, height):
    """``data.width``/``height`` that are not a size (``""`` from a CSV import; the reviewer's
    ls_strw.json, ls_fw.json): the results' sizes are used, the values kept as data_width/height."""
    task = _box_and_nose(2, "/data/upload/1/b.jpg")
    task["data"].update(width=width, height=height)
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert ("1 tasks' data.width/height that are not a size in pixels (not used; kept as the image's "
            "data_width/data_height)") in res.stdout, res.stdout
    im = json.loads(out.read_text())["images"][0]
    kept = {k: v for k, v in (("data_width", width), ("data_height", height)) if v is not None and v != 1080}
    assert (im["width"], im["height"]) == (100, 80) and {k: im[k] for k in im if k.startswith("data_")} == kept
    np.testing.assert_allclose(_load(out).keypoints[0, 0], [30, 16, 2])


@pytest.mark.parametrize("junk, shown", [("junk", "result 2 is 'junk'"), (None, "result 2 is None"),
                                         (5, "result 2 is 5")])
def test_results_that_are_not_objects_refused(tmp_path, junk, shown):
    task = _box_and_nose(3, "/data/upload/1/a.jpg")
    task["annotations"][0]["result"].append(junk)
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert f"task 0 (id 3): {shown}; Label Studio writes each region as an object" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- relations, kept task fields, account

RELATIONS = DATA / "relations_export.json"
SURE = "keypoints joined to a person by position (no relation): inside the one box free for their label"
GUESS = "keypoints joined to a person by position (no relation), a guess"


def _coco_of(tmp_path, src, *extra):
    out = tmp_path / "coco.json"
    res = run_cli("convert", src, "-o", out, "--to", "coco", *extra)
    assert res.exit_code == 0, res.stdout + res.stderr
    return _load(out), res.stdout.strip().splitlines()[-1]


def test_relations_beat_containment(tmp_path):
    """A keypoint tied to box b by a relation (either direction) is b's even inside box a only;
    points without a relation are joined by position, counted; a box-to-box relation is counted."""
    from annotate.skeletons import COCO17

    ds, line = _coco_of(tmp_path, RELATIONS)
    for part in (f"1 {SURE}", f"1 {GUESS}", "1 cancelled annotations with results (was_cancelled)",
                 "1 Label Studio relations not linking a keypoint to a person box or another keypoint"):
        assert part in line, (part, line)
    rows = [r for r in range(len(ds)) if ds.image_id[r] == 41]
    np.testing.assert_allclose(ds.bbox[rows], [[40, 30, 160, 240], [160, 30, 160, 240]])
    a, b = (ds.keypoints[r] for r in rows)
    i = COCO17.index
    np.testing.assert_allclose(a[[i("nose"), i("right_shoulder")]], [[100, 60, 2], [80, 90, 2]])
    assert (a[:, 2] > 0).sum() == 2
    np.testing.assert_allclose(b[[i("nose"), i("left_shoulder"), i("left_wrist"), i("right_ankle")]],
                               [[180, 60, 2], [192, 90, 2], [120, 150, 1], [340, 276, 2]])
    assert (b[:, 2] > 0).sum() == 4


def test_relation_chain_without_boxes_is_a_person(tmp_path):
    """Keypoints chained by relations with no box make one person each; without the relations the
    two persons' keypoints (labels repeat) are refused."""
    from annotate.skeletons import COCO17

    ds, _ = _coco_of(tmp_path, RELATIONS)
    rows = [r for r in range(len(ds)) if ds.image_id[r] == 42]
    idx = [COCO17.index(n) for n in ("nose", "left_shoulder", "right_shoulder")]
    got = sorted(ds.keypoints[r][idx].tolist() for r in rows)
    assert got == [[[80, 60, 2], [100, 90, 2], [60, 90, 2]], [[280, 66, 2], [300, 96, 2], [260, 96, 2]]]
    tasks = json.loads(RELATIONS.read_text())[1:]
    ann = tasks[0]["annotations"][0]
    ann["result"] = [r for r in ann["result"] if r["type"] != "relation"]
    path = tmp_path / "norel.json"
    path.write_text(json.dumps(tasks))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco", "--layout", "coco17")
    assert res.exit_code == 2 and "repeat a label" in res.stderr and "relations" in res.stderr, res.stderr


def test_point_without_relation_joined_by_position_is_counted(tmp_path):
    """The documented guess stays for points with no link, and says so; a keypoint linked to two
    boxes is refused."""
    box = {"type": "rectanglelabels", "from_name": "box",
           "value": {"x": 10, "y": 10, "width": 30, "height": 60, "rectanglelabels": ["person"]}}
    results = [{**box, "id": "b1"}, {"id": "k1", "type": "keypointlabels", "from_name": "kp",
                                     "value": {"x": 42, "y": 20, "width": 1, "keypointlabels": ["nose"]}}]
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_task(results)]))
    ds, line = _coco_of(tmp_path, path)
    assert f"1 {GUESS}" in line and SURE not in line, line
    np.testing.assert_allclose(ds.keypoints[0, 0], [84, 20, 2])
    results += [{**box, "id": "b2"}, {"type": "relation", "from_id": "k1", "to_id": "b1", "direction": "right"},
                {"type": "relation", "from_id": "b2", "to_id": "k1", "direction": "right"}]
    path.write_text(json.dumps([_task(results)]))
    res = run_cli("convert", path, "-o", tmp_path / "c2.json", "--to", "coco")
    assert res.exit_code == 2 and "keypoints 'k1' are linked (parentID or relations) to boxes 'b1' and 'b2'" \
        in res.stderr, res.stderr


def _shown(tasks):
    """What Label Studio shows of each task besides its regions: id, image URL, meta, data fields."""
    return [(t.get("id"), t["data"]["image"], t.get("meta") or {},
             {k: v for k, v in t["data"].items() if k not in ("image", "image_id", "width", "height")})
            for t in tasks]


@pytest.mark.parametrize("via", ["coco", None])
def test_round_trip_keeps_task_url_id_and_meta(tmp_path, via):
    """Label Studio -> COCO -> Label Studio (and Label Studio -> Label Studio) gives back each
    task's image URL, id, meta and data fields, and its persons."""
    src = tmp_path / "export.json"
    tasks = json.loads(RELATIONS.read_text())
    tasks[1]["data"]["camera"] = "east"
    src.write_text(json.dumps(tasks))
    (tmp_path / "export.label_config.xml").write_text(
        (DATA / "relations_export.label_config.xml").read_text())
    mid = src
    if via:
        mid = tmp_path / "mid.json"
        res = run_cli("convert", src, "-o", mid, "--to", via)
        assert res.exit_code == 0, res.stderr
        assert "label_studio" not in res.stdout, res.stdout  # COCO holds it
    out = tmp_path / "back.json"
    res = run_cli("convert", mid, "-o", out, "--to", "labelstudio")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "label_studio" not in res.stdout and "URLs" not in res.stdout, res.stdout
    back = json.loads(out.read_text())
    assert _shown(back) == _shown(tasks)
    assert back[0]["data"]["image"] == "/data/upload/18/4a8f2c1d-image1.jpg"
    a, _ = _coco_of(tmp_path, src)
    again = tmp_path / "again.json"
    assert run_cli("convert", out, "-o", again, "--to", "coco").exit_code == 0
    np.testing.assert_allclose(_load(again).keypoints, a.keypoints, atol=1e-6)


def test_task_fields_counted_where_the_target_cannot_hold_them(tmp_path):
    res = run_cli("convert", RELATIONS, "-o", tmp_path / "out.xml", "--to", "cvat")
    assert res.exit_code == 0, res.stderr
    assert "images' label_studio" in res.stdout, res.stdout


def test_stale_url_rewritten_and_explicit_root_url_reported(tmp_path):
    """A kept URL that no longer names the image's file is not written (counted); with
    --image-root-url the kept URLs still win, and the line says so."""
    from annotate.coco import load_coco, save_coco

    ds, _ = _coco_of(tmp_path, RELATIONS)
    ds.images[1].file_name = "renamed.jpg"
    coco = tmp_path / "renamed.json"
    save_coco(ds, coco)
    out = tmp_path / "t.json"
    res = run_cli("convert", coco, "-o", out, "--to", "labelstudio", "--image-root-url", "s3://bucket/")
    assert res.exit_code == 0, res.stderr
    assert "1 kept task image URLs that no longer name the image's file" in res.stdout, res.stdout
    assert "1 task image URLs kept from the source (not --image-root-url)" in res.stdout, res.stdout
    tasks = json.loads(out.read_text())
    assert [t["data"]["image"] for t in tasks] == ["/data/upload/18/4a8f2c1d-image1.jpg", "s3://bucket/renamed.jpg"]
    assert load_coco(coco).images[1].extra["label_studio"]["id"] == 42


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_every_sample_converts_with_a_balanced_account(tmp_path, path):
    """Every image, person and keypoint region each sample holds is carried or counted."""
    from annotate.notes import UNITS
    from converters.formats import Context, read_dataset

    ctx = Context()
    source, fmt = read_dataset(path, ctx)
    assert fmt == "labelstudio"
    ds = source.ds
    carried = {"images": len(ds.images), "persons": len(ds), "keypoints": int((ds.keypoints[..., 2] > 0).sum())}
    for unit in UNITS:
        assert ctx.account[unit] == carried[unit] + ctx.notes.dropped(unit) > 0, (unit, ctx.account, carried)
    assert run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco").exit_code == 0


def test_ambiguous_label_spelling_refused(tmp_path):
    """A label that is a spelling of two keypoints (NameIndex.ambiguous) is refused naming both."""
    from annotate.skeletons import NameIndex

    names, label = ["head", "head_top", "neck"], "Head"  # "head" and "head_top" are spelled alike
    assert NameIndex(names).ambiguous(label) == ("head", "head_top")
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_task([{"id": "k", "type": "keypointlabels", "from_name": "kp",
                                        "value": {"x": 5, "y": 5, "width": 1, "keypointlabels": [label]}}])]))
    (tmp_path / "t.label_config.xml").write_text(
        '<View><Image name="image" value="$image"/><KeyPointLabels name="kp" toName="image">'
        + "".join(f'<Label value="{n}"/>' for n in names) + "</KeyPointLabels></View>")
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and "keypoint label 'Head' is a spelling of two keypoints, 'head' and 'head_top'" \
        in res.stderr, res.stderr


@pytest.mark.parametrize("url", ["/home/ann/pics/a.jpg", "/data/local-files/?d=../a.jpg"])
def test_url_naming_a_path_outside_the_images_folder_refused(tmp_path, url):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_box_and_nose(1, url)]))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 2 and not (tmp_path / "c.json").exists()
    assert f"task 0 (id 1): image URL {url!r}: image file name" in res.stderr, res.stderr
    assert ("--image-root-url" in res.stderr) == url.startswith("/home")
    assert len(res.stderr.strip().splitlines()) == 1
