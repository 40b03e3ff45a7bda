"""``annotate filter``: every condition on a generated set with known answers, the order in which a
person is counted, --images-with-persons with crowd regions, --where (columns, per-keypoint
columns, NaN, errors), exit codes, the account, round trips to other formats, and a property test
against an independent count straight from the JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, SAMPLE, SHARED, run_cli, tree_hashes, examples
from test_convert_cli import coco_documents
from test_yolo import coco8_pose

NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
         "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
         "left_ankle", "right_ankle"]
#: (id, image, category, labeled keypoints, area, crowd, score) of the generated set
ROWS = [(1, 1, 1, 17, 10000, 0, 0.9), (2, 1, 2, 3, 500, 0, 0.4), (3, 2, 1, 0, 20000, 1, None),
        (4, 2, 1, 8, 800, 0, 0.7), (5, 3, 2, 10, 5000, 0, None), (6, 4, 1, 2, 50000, 0, 0.8),
        (7, 4, 2, 0, 3000, 1, None), (8, 5, 1, 12, 2000, 0, 0.6)]


def known_set(folder: Path) -> Path:
    """Six images (the sixth without annotations), two categories (adult, child), eight annotations
    (two crowd regions); person 4 has its keypoints occluded (v=1), the others visible; the first
    ``n`` keypoints labeled at the box's centre."""
    anns = []
    for aid, img, cat, n, area, crowd, score in ROWS:
        side = float(np.sqrt(area))
        kps = []
        for k in range(17):
            kps += [10 + side / 2, 10 + side / 2, (1 if aid == 4 else 2)] if k < n else [0, 0, 0]
        a = {"id": aid, "image_id": img, "category_id": cat, "iscrowd": crowd, "area": area,
             "bbox": [10, 10, side, side], "keypoints": kps, "num_keypoints": n}
        if score is not None:
            a["score"] = score
        anns.append(a)
    doc = {"images": [{"id": i, "file_name": f"im{i}.jpg", "width": 640, "height": 480} for i in range(1, 7)],
           "annotations": anns,
           "categories": [{"id": c, "name": name, "supercategory": "person", "keypoints": NAMES,
                           "skeleton": [[16, 14], [14, 12]]} for c, name in ((1, "adult"), (2, "child"))]}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "known.json"
    path.write_text(json.dumps(doc))
    return path


def kept(path: Path) -> tuple[list[int], list[int]]:
    """(annotation ids, image ids) of a written COCO file."""
    doc = json.loads(path.read_text())
    return [a["id"] for a in doc["annotations"]], [im["id"] for im in doc["images"]]


def run_filter(tmp_path: Path, *args: str) -> tuple[list[int], list[int], str]:
    src = known_set(tmp_path / "in")
    out = tmp_path / "out.json"
    res = run_cli("filter", src, "-o", out, "--overwrite", *args)
    assert res.exit_code == 0, res.stderr
    ids, images = kept(out)
    return ids, images, res.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args, ids, removed", [
    (["--category", "adult"], [1, 3, 4, 6, 8], "3 by --category adult"),
    (["--category", "adult", "--category", "child"], [1, 2, 3, 4, 5, 6, 7, 8], "0 by --category adult --category child"),
    (["--drop-crowd"], [1, 2, 4, 5, 6, 8], "2 by --drop-crowd"),
    (["--min-keypoints", "5"], [1, 3, 4, 5, 7, 8], "2 by --min-keypoints 5"),   # crowd regions stay
    (["--min-area", "1000"], [1, 3, 5, 6, 7, 8], "2 by --min-area 1000"),
    (["--min-area", "800"], [1, 3, 4, 5, 6, 7, 8], "1 by --min-area 800"),      # at least: 800 stays
    (["--where", "num_keypoints >= 10"], [1, 5, 8], "5 by --where 'num_keypoints >= 10'"),
    (["--where", "score > 0.5"], [1, 4, 6, 8], "4 by --where 'score > 0.5'"),  # NaN compares false
    (["--where", "score != score or iscrowd"], [3, 5, 7], "5 by --where"),      # no score: NaN
    (["--where", "num_occluded > 0"], [4], "7 by --where"),
    (["--where", "v_left_eye == 2 and x_left_eye > 40 and category == 'adult'"], [1, 6], "6 by --where"),
    (["--where", "image_id in [1, 2] and file_name != 'im2.jpg' and width == 640"], [1, 2], "6 by --where"),
    (["--where", "box_w * box_h >= area - 1e-6 and box_x == 10 and not iscrowd"], [1, 2, 4, 5, 6, 8], "2 by --where"),
])
def test_each_condition(tmp_path, args, ids, removed):
    got, images, line = run_filter(tmp_path, *args)
    assert got == ids
    assert images == [1, 2, 3, 4, 5, 6]
    crowd = [i for i in ids if i in (3, 7)]
    assert f"kept {len(ids) - len(crowd)} of 6 persons, {len(crowd)} of 2 crowd regions and 6 of 6 images" in line
    assert removed in line


def test_conditions_together_count_under_the_first(tmp_path):
    got, images, line = run_filter(tmp_path, "--min-area", "1000", "--min-keypoints", "5", "--drop-crowd",
                                   "--category", "adult", "--images-with-persons")
    assert got == [1, 8] and images == [1, 5]
    assert ("kept 2 of 6 persons, 0 of 2 crowd regions and 2 of 6 images; removed 3 by --category adult, 1 by --drop-crowd, "
            "1 by --min-keypoints 5, 1 by --min-area 1000; 4 images without persons dropped by "
            "--images-with-persons (a person failing several conditions counts under the first, in the order "
            "--category, --drop-crowd, --min-keypoints, --min-area, --where)") == line


def test_images_with_persons_takes_the_crowd_regions_of_dropped_images(tmp_path):
    got, images, line = run_filter(tmp_path, "--min-keypoints", "9", "--images-with-persons")
    assert got == [1, 5, 8] and images == [1, 3, 5]
    assert "removed 3 by --min-keypoints 9, 2 crowd regions with their images; 3 images without persons" in line
    got, images, line = run_filter(tmp_path, "--images-with-persons")
    assert got == list(range(1, 9)) and images == [1, 2, 3, 4, 5]
    assert "no person removed; 1 images without persons dropped" in line


def test_category_keeps_only_its_category(tmp_path):
    src = known_set(tmp_path / "in")
    res = run_cli("filter", src, "-o", tmp_path / "c.json", "--category", "child")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["child"]
    assert {a["category_id"] for a in doc["annotations"]} == {2}


def test_the_account_balances_and_removals_are_not_the_formats_losses(tmp_path):
    from annotate.ops.filter import FilterSpec, filter_dataset
    from converters.formats import Context, read_dataset, settle

    src = known_set(tmp_path / "in")
    ctx = Context()
    ds = read_dataset(src, ctx)[0].ds
    res = filter_dataset(ds, FilterSpec(min_keypoints=9, images_with_persons=True), ctx.notes)
    settle(ctx.account, res.ds, ctx.notes, src, "filtering")  # raises when it does not add up
    assert ctx.notes.dropped("persons") == 5 and ctx.notes.dropped("images") == 3
    assert ctx.notes.dropped("keypoints") == 3 + 8 + 2
    res = run_cli("filter", src, "-o", tmp_path / "o.json", "--min-keypoints", "9")
    lines = res.stdout.strip().splitlines()
    assert lines[-2] == "everything carried" and lines[-1].startswith("kept 3 of 6 persons, 2 of 2 crowd regions")


def test_backquoted_keypoint_names(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
           "annotations": [{"id": i, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 50, 50],
                            "area": 2500, "keypoints": [10, 10, v, 20, 20, 2]} for i, v in ((1, 2), (2, 1), (3, 0))],
           "categories": [{"id": 1, "name": "person", "keypoints": ["head top", "neck"], "skeleton": [[1, 2]]}]}
    (tmp_path / "h.json").write_text(json.dumps(doc))
    res = run_cli("filter", tmp_path / "h.json", "-o", tmp_path / "o.json", "--where", "`v_head top` > 0")
    assert res.exit_code == 0, res.stderr
    assert kept(tmp_path / "o.json")[0] == [1, 2]
    res = run_cli("filter", tmp_path / "h.json", "-o", tmp_path / "o2.json", "--where", "`x_head top` == 10")
    assert res.exit_code == 0 and kept(tmp_path / "o2.json")[0] == [1, 2]  # unlabeled: NaN, not 0


@pytest.mark.parametrize("args, message", [
    (["--where", "num_keypoints >="], "--where 'num_keypoints >=': SyntaxError"),
    (["--where", "foo > 1"], "name 'foo' is not defined; the columns are ann_id"),
    (["--where", "v_nose_tip == 2"], "per keypoint v_<name>"),
    (["--where", "area"], "gives float64 values, not true/false"),
    (["--where", "area = 3"], "SyntaxError"),
    (["--where", "`v_no se` > 0"], "name 'v_no se' is not defined; the columns are"),
    (["--where", "@os"], "SyntaxError"),                        # no reach into posekit's variables
    (["--where", "category == 'adult' +"], "--where"),
    (["--category", "nobody"], "--category 'nobody': no such keypoint category; the dataset has 'adult', 'child'"),
    (["--min-keypoints", "-1"], "--min-keypoints"),
    (["--min-area", "x"], "--min-area"),
    (["--to", "nope"], "unknown format 'nope'"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, message):
    src = known_set(tmp_path / "in")
    res = run_cli("filter", src, "-o", tmp_path / "o.json", *args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "o.json").exists()


def test_outputs_and_inputs_are_safe(tmp_path):
    src = known_set(tmp_path / "in")
    before = tree_hashes(tmp_path / "in")
    assert run_cli("filter", src, "--drop-crowd").exit_code == 2                      # no -o
    res = run_cli("filter", src, "-o", src, "--drop-crowd", "--overwrite")             # over the input
    assert res.exit_code == 2 and "input" in res.stderr
    assert run_cli("filter", src, "-o", tmp_path / "o.json").exit_code == 0
    res = run_cli("filter", src, "-o", tmp_path / "o.json", "--drop-crowd")            # exists
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    assert kept(tmp_path / "o.json")[0] == list(range(1, 9))
    assert tree_hashes(tmp_path / "in") == before
    assert run_cli("filter", tmp_path / "missing.json", "-o", tmp_path / "m.json").exit_code == 2


def test_to_yolo_and_back(tmp_path):
    out = tmp_path / "yolo"
    res = run_cli("filter", COCO_SAMPLE, "-o", out, "--to", "yolo", "--images", SHARED / "coco",
                  "--min-keypoints", "12", "--images-with-persons")
    assert res.exit_code == 0, res.stderr
    want = [a for a in json.loads(COCO_SAMPLE.read_text())["annotations"] if a["num_keypoints"] >= 12]
    from converters.formats import Context, read_dataset

    back = read_dataset(out, Context())[0].ds
    assert len(back) == len(want)
    assert sorted(back.num_keypoints.tolist()) == sorted(a["num_keypoints"] for a in want)
    assert len(back.images) == len({a["image_id"] for a in want})
    assert res.stdout.strip().splitlines()[-1].startswith(f"kept {len(want)} of 14 persons and ")


@pytest.mark.parametrize("to, dst", [("labelme", "lm"), ("cvat", "c.xml"), ("labelstudio", "ls.json"),
                                     ("openpose", "op"), ("coco", "c.json")])
def test_to_every_format(tmp_path, to, dst):
    from converters.formats import Context, read_dataset

    res = run_cli("filter", COCO_SAMPLE, "-o", tmp_path / dst, "--to", to, "--where", "num_visible >= 10",
                  "--images", SHARED / "coco")
    assert res.exit_code == 0, res.stderr
    want = sum(1 for a in json.loads(COCO_SAMPLE.read_text())["annotations"]
               if sum(1 for v in a["keypoints"][2::3] if v == 2) >= 10)
    ds = read_dataset(tmp_path / dst, Context(layout="coco17"), to)[0].ds
    assert len(ds) == want


def test_from_yolo_and_labelme_in_their_own_format(tmp_path):
    yolo = coco8_pose(tmp_path / "y")
    res = run_cli("filter", yolo, "-o", tmp_path / "y2", "--min-keypoints", "15")
    assert res.exit_code == 0, res.stderr
    assert "(yolo, read as yolo)" in res.stdout
    from converters.formats import Context, read_dataset

    ds = read_dataset(tmp_path / "y2", Context())[0].ds
    assert len(ds) and (ds.num_keypoints >= 15).all()
    res = run_cli("filter", SAMPLE / "labelme", "-o", tmp_path / "lm", "--min-area", "1")
    assert res.exit_code == 0, res.stderr
    assert "(labelme, read as labelme)" in res.stdout


@settings(max_examples=examples(25), deadline=None)
@given(doc=coco_documents(max_k=6, crowd=True), min_kp=st.integers(0, 6), min_area=st.floats(0, 3e5),
       crowd=st.booleans(), with_persons=st.booleans())
def test_kept_equals_an_independent_count(doc, min_kp, min_area, crowd, with_persons):
    from annotate.ops.filter import FilterSpec, filter_dataset
    from annotate.coco import load_coco
    from annotate.notes import Notes
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.json"
        path.write_text(json.dumps(doc))
        ds = load_coco(path)
    res = filter_dataset(ds, FilterSpec((), crowd, min_kp, min_area, "num_visible >= 0", with_persons), Notes())

    def passes(a: dict) -> bool:
        if a["iscrowd"]:
            return not crowd
        return sum(1 for v in a["keypoints"][2::3] if v > 0) >= min_kp and a["area"] >= min_area
    want = [a for a in doc["annotations"] if passes(a)]
    images = [im["id"] for im in doc["images"]]
    if with_persons:
        images = [i for i in images if any(a["image_id"] == i and not a["iscrowd"] for a in want)]
        want = [a for a in want if a["image_id"] in images]
    assert res.ds.ann_id.tolist() == [a["id"] for a in want]
    assert [im.id for im in res.ds.images] == images
    assert sum(res.removed.values()) + res.crowd_on_dropped + len(res.ds) == len(doc["annotations"])
    assert res.persons_in + res.crowd_in == len(doc["annotations"])
