"""A corpus of broken inputs across every command. Each must give one clear line on stderr
naming the file and what is wrong, exit code 2, no traceback, no output created or modified,
and inputs byte-identical afterwards."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE, run_cli, tree_hashes

GOOD_COCO = json.loads((SAMPLE / "coco" / "sample.json").read_text())


def coco(mutate):
    d = json.loads(json.dumps(GOOD_COCO))
    mutate(d)
    return json.dumps(d)


def labelme(mutate=lambda d: None, name="sample_1"):
    d = json.loads((SAMPLE / "labelme" / f"{name}.json").read_text())
    d["imagePath"] = f"{name}.jpg"
    mutate(d)
    return json.dumps(d)


def _set(path, value):
    def f(d):
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return f


def _mat_without_annolist(p: Path):
    import scipy.io
    scipy.io.savemat(str(p), {"RELEASE": {"img_train": np.ones((1, 2))}})


# (case id, files {relative path: str | bytes | callable(path)}, argv with {d} for the case folder,
#  the file the message must name, words the message must contain)
CASES = [
    # --- COCO readers (validate, coco-to-labelme, coco-to-mpii, render)
    ("coco_truncated", {"a.json": coco(lambda d: None)[:200]}, ["validate", "{d}/a.json"], "a.json", "invalid JSON"),
    ("coco_non_utf8", {"a.json": b"\xff\xfe{\x00\x81"}, ["validate", "{d}/a.json"], "a.json", "not UTF-8"),
    ("coco_empty", {"a.json": ""}, ["validate", "{d}/a.json"], "a.json", "empty file"),
    ("coco_list", {"a.json": "[1, 2]"}, ["validate", "{d}/a.json"], "a.json", "expected a COCO JSON object"),
    ("coco_no_annotations", {"a.json": coco(lambda d: d.pop("annotations"))},
     ["convert", "coco-to-labelme", "{d}/a.json", "-o", "{d}/out"], "a.json", "no 'annotations' list"),
    ("coco_images_not_list", {"a.json": coco(_set(["images"], {}))},
     ["convert", "coco-to-mpii", "{d}/a.json", "-o", "{d}/out.json"], "a.json", "'images' must be a list"),
    ("coco_no_keypoint_category", {"a.json": coco(lambda d: d["categories"][0].pop("keypoints"))},
     ["validate", "{d}/a.json"], "a.json", "no category with a 'keypoints' list"),
    ("coco_string_coordinate", {"a.json": coco(lambda d: d["annotations"][0]["keypoints"].__setitem__(0, "12"))},
     ["convert", "coco-to-labelme", "{d}/a.json", "-o", "{d}/out"], "a.json", "annotation 1: keypoint 0 value '12' is not a number"),
    ("coco_null_keypoints", {"a.json": coco(_set(["annotations", 0, "keypoints"], None))},
     ["convert", "coco-to-mpii", "{d}/a.json", "-o", "{d}/out.json"], "a.json", "annotation 1: 'keypoints' must be a list"),
    ("coco_wrong_keypoint_count", {"a.json": coco(lambda d: d["annotations"][2]["keypoints"].extend([1, 2, 2]))},
     ["render", "{d}/a.json", "--images", str(SAMPLE / "images"), "-o", "{d}/out"], "a.json", "annotation 3: has 54 keypoint values"),
    ("coco_duplicate_ids", {"a.json": coco(_set(["annotations", 1, "id"], 1))},
     ["convert", "coco-to-labelme", "{d}/a.json", "-o", "{d}/out"], "a.json", "annotation id 1 is used twice"),
    ("coco_negative_size", {"a.json": coco(_set(["images", 0, "width"], -640))},
     ["convert", "coco-to-labelme", "{d}/a.json", "-o", "{d}/out"], "a.json", "width -640; expected a positive integer"),
    ("coco_huge_size", {"a.json": coco(_set(["images", 0, "height"], 1.5e300))},
     ["convert", "coco-to-mpii", "{d}/a.json", "-o", "{d}/out.json"], "a.json", "expected a positive integer"),
    ("coco_nan", {"a.json": coco(lambda d: d["annotations"][0]["keypoints"].__setitem__(4, float("nan")))},
     ["convert", "coco-to-labelme", "{d}/a.json", "-o", "{d}/out"], "a.json", "annotation 1: keypoint 1 has a NaN or infinite value"),
    ("coco_inf_bbox", {"a.json": coco(lambda d: d["annotations"][0]["bbox"].__setitem__(0, float("inf")))},
     ["convert", "coco-to-mpii", "{d}/a.json", "-o", "{d}/out.json"], "a.json", "annotation 1: bbox [inf"),
    ("coco_missing_file", {}, ["validate", "{d}/nope.json"], "nope.json", "file not found"),
    ("coco_is_folder", {"sub/x.txt": "x"}, ["validate", "{d}/sub"], "sub", "is a folder"),
    ("render_missing_image", {"a.json": coco(_set(["images", 1, "file_name"], "gone.jpg"))},
     ["render", "{d}/a.json", "--images", str(SAMPLE / "images"), "-o", "{d}/out"], "gone.jpg", "image not found"),
    ("render_not_an_image", {"a.json": coco(_set(["images", 1, "file_name"], "fake.jpg")), "img/fake.jpg": b"GIF89a-nope",
                             **{f"img/sample_{i}.jpg": (SAMPLE / "images" / f"sample_{i}.jpg").read_bytes() for i in (1, 3, 4)}},
     ["render", "{d}/a.json", "--images", "{d}/img", "-o", "{d}/out"], "fake.jpg", "not a readable image"),
    ("render_path_escape", {"a.json": coco(_set(["images", 0, "file_name"], "../../etc/passwd"))},
     ["render", "{d}/a.json", "--images", str(SAMPLE / "images"), "-o", "{d}/out"], "a.json", "points outside"),
    # --- LabelMe folder reader
    ("labelme_empty_folder", {"lm/.keep": ""}, ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"],
     "lm", "no LabelMe .json files found"),
    ("labelme_no_folder", {}, ["convert", "labelme-to-coco", "{d}/missing", "-o", "{d}/out.json"], "missing", "not a folder"),
    ("labelme_shapes_not_list", {"lm/a.json": labelme(_set(["shapes"], "x"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "no 'shapes' list"),
    ("labelme_absolute_imagepath", {"lm/a.json": labelme(_set(["imagePath"], "/etc/passwd"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "is an absolute path"),
    ("labelme_escaping_imagepath", {"lm/a.json": labelme(_set(["imagePath"], "../../etc/passwd"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "imagePath '../../etc/passwd' is not an image"),
    ("labelme_string_point", {"lm/a.json": labelme(_set(["shapes", 0, "points"], [["1", "2"]]))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "shape 0 ('nose') has points that are not [x, y] numbers"),
    ("labelme_null_points", {"lm/a.json": labelme(_set(["shapes", 2, "points"], None))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "shape 2"),
    ("labelme_bad_group_id", {"lm/a.json": labelme(_set(["shapes", 0, "group_id"], "one"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "group_id 'one'"),
    ("labelme_ambiguous_labels", {"lm/a.json": labelme(lambda d: [s.update(group_id=None) for s in d["shapes"]], "sample_2")},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "appears more than once without group_id"),
    ("labelme_unknown_label", {"lm/a.json": labelme(_set(["shapes", 0, "label"], "tail"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "point label 'tail' is not a keypoint of layout"),
    ("labelme_negative_size", {"lm/a.json": labelme(_set(["imageWidth"], -5))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "must be positive integers"),
    ("labelme_missing_image_no_size", {"lm/a.json": labelme(lambda d: d.pop("imageWidth"))},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "image not found"),
    ("labelme_not_an_image", {"lm/a.json": labelme(lambda d: d.pop("imageHeight")), "lm/sample_1.jpg": b"not an image"},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "not a readable image"),
    ("labelme_truncated", {"lm/a.json": labelme()[:100]},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "invalid JSON"),
    ("labelme_non_utf8", {"lm/a.json": b"{\"shapes\": [\xc3\x28]}"},
     ["convert", "labelme-to-coco", "{d}/lm", "-o", "{d}/out.json"], "a.json", "not UTF-8"),
    # --- MPII
    ("mat_missing_annolist", {"r.mat": _mat_without_annolist},
     ["convert", "mpii-to-coco", "{d}/r.mat", "-o", "{d}/out.json"], "r.mat", "RELEASE has no 'annolist'"),
    ("mat_garbage", {"r.mat": b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4},
     ["convert", "mpii-to-coco", "{d}/r.mat", "-o", "{d}/out.json"], "r.mat", "not a readable MATLAB .mat file"),
    ("mat_no_release", {"r.mat": lambda p: __import__("scipy.io").io.savemat(str(p), {"x": np.ones(2)})},
     ["convert", "mpii-to-coco", "{d}/r.mat", "-o", "{d}/out.json"], "r.mat", "no RELEASE struct"),
    ("mpii_json_15_joints", {"m.json": json.dumps([{"image": "a.jpg", "joints": [[1, 2]] * 15, "joints_vis": [1] * 15}])},
     ["convert", "mpii-to-coco", "{d}/m.json", "-o", "{d}/out.json"], "m.json", "entry 0 (a.jpg): expected 16 joints"),
    ("mpii_json_object", {"m.json": "{}"}, ["convert", "mpii-to-coco", "{d}/m.json", "-o", "{d}/out.json"],
     "m.json", "a list of person entries"),
    ("mpii_json_nan", {"m.json": '[{"image": "a.jpg", "joints": [[NaN, 1]' + ", [1, 1]" * 15 + '], "joints_vis": [1' + ", 1" * 15 + "]}]"},
     ["convert", "mpii-to-coco", "{d}/m.json", "-o", "{d}/out.json"], "m.json", "joints must be finite"),
    # --- pre-label
    ("prelabel_empty_folder", {"imgs/.keep": ""}, ["prelabel", "{d}/imgs", "-o", "{d}/out"], "imgs", "no images found"),
    ("prelabel_missing_checkpoint", {"imgs/a.jpg": (SAMPLE / "images" / "sample_1.jpg").read_bytes()},
     ["prelabel", "{d}/imgs", "-o", "{d}/out", "--checkpoint", "{d}/none.pth"], "none.pth", "checkpoint file not found"),
    ("prelabel_checkpoint_not_torch", {"imgs/a.jpg": (SAMPLE / "images" / "sample_1.jpg").read_bytes(), "c.pth": "hello"},
     ["prelabel", "{d}/imgs", "-o", "{d}/out", "--checkpoint", "{d}/c.pth"], "c.pth", "not a PyTorch checkpoint"),
    ("prelabel_missing_config", {"imgs/a.jpg": (SAMPLE / "images" / "sample_1.jpg").read_bytes()},
     ["prelabel", "{d}/imgs", "-o", "{d}/out", "--config", "{d}/cfg.py", "--checkpoint", "x.pth"], "cfg.py", "config file not found"),
]


def _materialise(tmp: Path, files: dict) -> None:
    for rel, content in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(p)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case, files, argv, names, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line_and_no_output(tmp_path, case, files, argv, names, words):
    _materialise(tmp_path, files)
    before = tree_hashes(tmp_path)
    args = [a.replace("{d}", str(tmp_path)) for a in argv]
    res = run_cli(*args)
    assert res.exit_code == 2, (res.stdout, res.stderr)
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert lines and all(l.startswith("error: ") for l in lines), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    first = lines[0]
    assert names in first and words in first, first
    assert tree_hashes(tmp_path) == before  # inputs unchanged, nothing created
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out").exists()


def test_debug_flag_shows_a_traceback(tmp_path):
    (tmp_path / "a.json").write_text("[")
    res = run_cli("--debug", "validate", tmp_path / "a.json")
    assert res.exit_code == 2 and "Traceback" in res.stderr and "invalid JSON" in res.stderr


def test_failed_conversion_leaves_the_old_output(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    (tmp_path / "m.json").write_text("{}")
    res = run_cli("convert", "mpii-to-coco", tmp_path / "m.json", "-o", out, "--overwrite")
    assert res.exit_code == 2 and out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == sorted(["out.json", "m.json"]) or len(list(tmp_path.iterdir())) == 2


def test_existing_output_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("a person's work")
    res = run_cli("convert", "labelme-to-coco", SAMPLE / "labelme", "--images", SAMPLE / "images", "-o", out)
    assert res.exit_code == 2 and "already exists; pass --overwrite" in res.stderr
    assert out.read_text() == "a person's work"


def test_output_same_as_input_is_refused(tmp_path):
    src = tmp_path / "m.json"
    src.write_text((SAMPLE / "mpii" / "sample_mpii.json").read_text())
    before = tree_hashes(src)
    res = run_cli("convert", "mpii-to-coco", src, "-o", src, "--overwrite")
    assert res.exit_code == 2 and "refusing to overwrite an input" in res.stderr
    assert tree_hashes(src) == before


def test_folder_conversion_reports_every_bad_file_and_skip_bad(tmp_path):
    lm = tmp_path / "lm"
    _materialise(tmp_path, {"lm/a.json": labelme(name="sample_1"), "lm/b.json": "{", "lm/c.json": labelme(_set(["shapes"], 3)),
                            "lm/sample_1.jpg": (SAMPLE / "images" / "sample_1.jpg").read_bytes()})
    res = run_cli("convert", "labelme-to-coco", lm, "-o", tmp_path / "out.json")
    assert res.exit_code == 2 and not (tmp_path / "out.json").exists()
    assert "b.json: invalid JSON" in res.stderr and "c.json: no 'shapes' list" in res.stderr
    assert "2 bad part(s) of this labelme source" in res.stderr and "nothing written" in res.stderr
    res = run_cli("convert", "labelme-to-coco", lm, "-o", tmp_path / "out.json", "--skip-bad")
    assert res.exit_code == 0 and "2 bad LabelMe files skipped" in res.stdout
    assert len(json.loads((tmp_path / "out.json").read_text())["annotations"]) == 1
