"""`annotate convert SRC -o DST --to FORMAT`: detection, usage errors (exit 2, one line), the
shortcuts, the final "not carried" line, outputs written whole or not at all, --map-to, and
`annotate config`. Also the helpers the per-format tests share (random datasets, comparisons)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, MPII_SAMPLE, ROOT, SHARED, run_cli, tree_hashes

COCO_IMAGES = SHARED / "coco"


# --------------------------------------------------------------------------- shared helpers

@st.composite
def coco_documents(draw, max_k: int = 20, crowd: bool = False, names=None):
    """A COCO keypoint document: any K, 1-3 categories sharing the keypoint names, 1-3 images
    of random sizes, 0-3 persons each with random visibility (v=0 at 0,0), boxes inside."""
    K = draw(st.integers(1, max_k))
    kp_names = [f"kp{i}" for i in range(K)] if names is None else draw(names(K))
    n_cat = draw(st.integers(1, 3))
    skeleton = [[a + 1, a + 2] for a in range(K - 1)][: draw(st.integers(0, max(0, K - 1)))]
    cats = [{"id": c + 1, "name": f"class {c}", "supercategory": "person", "keypoints": kp_names,
             "skeleton": skeleton} for c in range(n_cat)]
    images, anns = [], []
    coord = st.floats(0, 1, allow_nan=False, width=32)
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(st.integers(16, 900)), draw(st.integers(16, 900))
        images.append({"id": i + 1, "file_name": f"img_{i}.png", "width": w, "height": h})
        for _ in range(draw(st.integers(0, 3))):
            v = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=K, max_size=K))
            kp = []
            for vis in v:
                x, y = (round(draw(coord) * w, 3), round(draw(coord) * h, 3)) if vis else (0, 0)
                kp += [x, y, vis]
            x0, y0 = round(draw(coord) * (w - 2), 2), round(draw(coord) * (h - 2), 2)
            bw, bh = round(1 + draw(coord) * (w - x0 - 1), 2), round(1 + draw(coord) * (h - y0 - 1), 2)
            is_crowd = crowd and draw(st.booleans())
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": draw(st.integers(1, n_cat)),
                         "keypoints": [0] * 3 * K if is_crowd else kp, "bbox": [x0, y0, bw, bh],
                         "area": round(bw * bh, 4), "iscrowd": int(is_crowd)})
    return {"images": images, "annotations": anns, "categories": cats}


def materialise(folder: Path, doc: dict) -> Path:
    """Write the document as COCO JSON and a PNG of the right size per image; the JSON's path."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for im in doc["images"]:
        p = folder / im["file_name"]
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (im["width"], im["height"])).save(p)
    path = folder / "coco.json"
    path.write_text(json.dumps(doc))
    return path


def persons(coco_path: Path, crowd: bool = False) -> dict[str, list[tuple]]:
    """file_name -> [(category name, keypoints (K, 3), box)] in file order (crowd regions out)."""
    from annotate.coco import load_coco

    ds = load_coco(coco_path)
    names = {im.id: im.file_name for im in ds.images}
    cats = {c.id: c.name for c in ds.categories}
    out: dict[str, list[tuple]] = {im.file_name: [] for im in ds.images}
    for r in range(len(ds)):
        if bool(ds.iscrowd[r]) != crowd:
            continue
        out[names[int(ds.image_id[r])]].append((cats[int(ds.category_id[r])], ds.keypoints[r], ds.bbox[r]))
    return out


def assert_same_persons(a: dict, b: dict, tol: float = 0.01, box_tol: float = 0.01, visibility: bool = True) -> None:
    """Same images, same persons in the same order: category, visibility, labeled keypoints
    within ``tol`` px, boxes within ``box_tol`` px."""
    assert sorted(a) == sorted(b)
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for (ca, ka, ba), (cb, kb, bb) in zip(a[name], b[name]):
            assert ca == cb
            if visibility:
                np.testing.assert_array_equal(ka[:, 2], kb[:, 2])
            else:
                np.testing.assert_array_equal(ka[:, 2] > 0, kb[:, 2] > 0)
            lab = ka[:, 2] > 0
            np.testing.assert_allclose(ka[lab, :2], kb[lab, :2], atol=tol, rtol=0)
            assert (kb[~lab, :2] == 0).all()
            np.testing.assert_allclose(ba, bb, atol=box_tol, rtol=0)


# --------------------------------------------------------------------------- the generic command

def test_usage_errors_exit_2_with_one_line(tmp_path):
    cases = [
        (["convert", "x.json", "-o", tmp_path / "y"], "missing --to"),               # issue 13 item 14
        (["convert", "labelme2coco", "-o", tmp_path / "y", "--to", "coco"], "nor a convert command"),
        (["convert", COCO_SAMPLE, "-o", tmp_path / "y", "--to", "yaml"], "unknown format 'yaml'"),
        (["convert", COCO_SAMPLE, "-o", tmp_path / "y", "--to", "coco", "--from", "nope"], "unknown format 'nope'"),
        (["convert", COCO_SAMPLE, "--to", "coco"], "missing -o/--output"),
        (["convert", COCO_SAMPLE, "-o", tmp_path / "y", "--to", "yolo", "--bogus"], "No such option: --bogus"),
        (["convert", COCO_SAMPLE, "-o", tmp_path / "y", "--to", "yolo", "--outside", "keep"], "--outside"),
        (["convert", tmp_path / "missing.json", "-o", tmp_path / "y", "--to", "coco"], "not found"),
        (["convert", COCO_SAMPLE, "-o", tmp_path / "y", "--to", "coco", "--map-to", "nope"], "unknown layout"),
    ]
    for args, needle in cases:
        res = run_cli(*args)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, res.stderr)
    assert not (tmp_path / "y").exists()


def test_help_and_shortcuts_still_work(tmp_path):
    res = run_cli("convert", "--help")
    assert res.exit_code == 0 and "SRC -o DST --to FORMAT" in res.stdout and "labelme-to-coco" in res.stdout
    res = run_cli("convert", "any", "--help")
    assert res.exit_code == 0 and "--outside" in res.stdout and "--map-to" in res.stdout
    res = run_cli("convert", "coco-to-mpii", COCO_SAMPLE, "-o", tmp_path / "m.json")
    assert res.exit_code == 0, res.stderr
    assert len(json.loads((tmp_path / "m.json").read_text())) == 14


@pytest.mark.parametrize("to,dst,detected", [
    ("coco", "x.json", "coco"), ("cvat", "x.xml", "cvat"), ("labelstudio", "x.json", "labelstudio"),
    ("yolo", "yolo", "yolo"), ("labelme", "lm", "labelme"), ("mpii", "m.json", "mpii"),
])
def test_every_target_written_and_detected_back(tmp_path, to, dst, detected):
    from converters.formats import detect_format

    out = tmp_path / dst
    res = run_cli("convert", COCO_SAMPLE, "-o", out, "--to", to, "--images", COCO_IMAGES)
    assert res.exit_code == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith(("not carried:", "everything carried")), res.stdout
    assert f"({to}, read as coco)" in res.stdout
    assert detect_format(out) == detected
    back = tmp_path / "back.json"
    res = run_cli("convert", out, "-o", back, "--to", "coco", "--images", COCO_IMAGES)
    assert res.exit_code == 0, res.stderr
    n = 14 if to != "mpii" else 14
    from annotate.coco import load_coco
    assert len(load_coco(back)) == n


@pytest.mark.parametrize("to,dst", [("cvat", "x.xml"), ("labelstudio", "x.json"), ("yolo", "yolo"),
                                    ("labelme", "lm"), ("mpii", "m.json"), ("openpose", "op")])
def test_not_carried_line_names_only_the_files_fields(tmp_path, to, dst):
    """A file without iscrowd keys (as prediction files and some tools write them): the reader's
    internal marker for it is not reported as a field the target could not hold."""
    doc = json.loads(Path(COCO_SAMPLE).read_text())
    for a in doc["annotations"]:
        a.pop("iscrowd", None)
    src = tmp_path / "no_iscrowd.json"
    src.write_text(json.dumps(doc))
    mapping = ("--map-to", "body25") if to == "openpose" else ()
    res = run_cli("convert", src, "-o", tmp_path / dst, "--to", to, "--images", COCO_IMAGES, *mapping)
    assert res.exit_code == 0, res.stderr
    assert "iscrowd" not in res.stdout, res.stdout


def test_detection_of_sources():
    from converters.formats import detect_format

    assert detect_format(COCO_SAMPLE) == "coco"
    assert detect_format(CROWDPOSE_SAMPLE) == "coco"
    assert detect_format(MPII_SAMPLE) == "mpii"
    data = Path(__file__).parent / "data" / "labelstudio"
    assert detect_format(data / "export.json") == "labelstudio"
    assert detect_format(data / "json_min.json") == "labelstudio"  # JSON-MIN: no "data" key


def test_detection_of_label_studio_exports_whose_data_comes_late(tmp_path):
    """Label Studio's exports write a task's "annotations" before its "data"; many regions push
    "data" past the bytes detection reads. A single task object is Label Studio too."""
    from converters.formats import detect_format

    tasks = json.loads((Path(__file__).parent / "data" / "labelstudio" / "export.json").read_text())
    task = tasks[0]
    late = {k: task[k] for k in task if k != "data"}
    late["annotations"] = [dict(a, result=a["result"] * 200) for a in late.get("annotations", [])] or late.get("annotations")
    late["data"] = task["data"]
    (tmp_path / "late.json").write_text(json.dumps([late], indent=2))
    assert (tmp_path / "late.json").stat().st_size > 1 << 16
    assert detect_format(tmp_path / "late.json") == "labelstudio"
    (tmp_path / "one.json").write_text(json.dumps(task))
    assert detect_format(tmp_path / "one.json") == "labelstudio"


def test_detection_of_a_yolo_dataset_by_its_yaml(tmp_path):
    """Ultralytics' YAML named as the source, or a folder whose YAML is not data.yaml (Roboflow
    writes data.yaml, Ultralytics' own datasets coco8-pose.yaml); labelme's config is not one."""
    from converters.formats import detect_format

    (tmp_path / "coco8-pose.yaml").write_text("path: .\ntrain: images/train\nkpt_shape: [17, 3]\nnames: {0: person}\n")
    assert detect_format(tmp_path / "coco8-pose.yaml") == "yolo"
    assert detect_format(tmp_path) == "yolo"
    lm = tmp_path / "lm"
    res = run_cli("convert", "coco-to-labelme", COCO_SAMPLE, "-o", lm)
    assert res.exit_code == 0, res.stderr
    assert (lm / "labelme_config.yaml").is_file()
    assert detect_format(lm) == "labelme"


def test_existing_output_refused_and_nothing_partial(tmp_path):
    out = tmp_path / "yolo"
    assert run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "yolo", "--images", COCO_IMAGES).exit_code == 0
    before = tree_hashes(out)
    res = run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "yolo", "--images", COCO_IMAGES)
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    assert tree_hashes(out) == before
    res = run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "yolo", "--images", COCO_IMAGES, "--overwrite")
    assert res.exit_code == 0
    # a failure after reading (an image missing) leaves no output and no temporary folder
    empty = tmp_path / "no_images"
    empty.mkdir()
    res = run_cli("convert", COCO_SAMPLE, "-o", tmp_path / "y2", "--to", "yolo", "--images", empty)
    assert res.exit_code == 2 and "image not found" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_images", "yolo"]
    # the input is never the output
    res = run_cli("convert", COCO_SAMPLE, "-o", COCO_SAMPLE, "--to", "coco", "--overwrite")
    assert res.exit_code == 2 and "input" in res.stderr


def test_map_to_prints_the_mapping(tmp_path):
    res = run_cli("convert", CROWDPOSE_SAMPLE, "-o", tmp_path / "c.json", "--to", "coco", "--map-to", "coco17")
    assert res.exit_code == 0, res.stderr
    assert "crowdpose14 -> coco17: mapped 12; dropped head, neck" in res.stdout
    assert "labeled keypoints with no place in coco17 (head, neck)" in res.stdout
    from annotate.coco import load_coco
    from annotate.skeletons import COCO17

    src, out = load_coco(CROWDPOSE_SAMPLE), load_coco(tmp_path / "c.json")
    assert out.category.keypoints == list(COCO17.keypoints) and len(out) == len(src)
    i, j = src.category.keypoints.index("left_knee"), COCO17.index("left_knee")
    np.testing.assert_array_equal(out.keypoints[:, j], src.keypoints[:, i])


# --------------------------------------------------------------------------- annotate config

def test_config_mmpose_loads_in_mmpose(tmp_path):
    out = tmp_path / "coco_info.py"
    res = run_cli("config", "--for", "mmpose", COCO_SAMPLE, "-o", out)
    assert res.exit_code == 0, res.stderr
    text = out.read_text()
    assert "sigmas=[0.026, 0.025, 0.025, 0.035" in text and "swap='right_eye'" in text
    mmpose_utils = pytest.importorskip("mmpose.datasets.datasets.utils")
    meta = mmpose_utils.parse_pose_metainfo(dict(from_file=str(out)))
    assert meta["num_keypoints"] == 17
    assert list(meta["flip_indices"]) == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    np.testing.assert_allclose(meta["sigmas"][:3], [0.026, 0.025, 0.025])
    assert len(meta["skeleton_links"]) == 19


def test_config_states_defaults_for_unpublished_layouts(tmp_path):
    doc = json.loads(COCO_SAMPLE.read_text())
    doc["categories"][0]["keypoints"] = doc["categories"][0]["keypoints"][:16] + ["tail_tip"]
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(doc))
    res = run_cli("config", "--for", "mmpose", path)
    assert res.exit_code == 0, res.stderr
    assert "stated defaults (no published value) for: tail_tip" in res.stdout
    ns: dict = {}
    exec(res.stdout, ns)  # a Python config file
    info = ns["dataset_info"]
    assert info["sigmas"][:16] == [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                                   0.107, 0.107, 0.087, 0.087, 0.089] and info["sigmas"][16] == 0.079
    res = run_cli("config", "--for", "mmpose", CROWDPOSE_SAMPLE)
    assert "0.2, 0.2, 0.2, 1.3, 1.5" in res.stdout  # mmpose's CrowdPose joint weights


def test_config_ultralytics(tmp_path):
    import yaml

    res = run_cli("config", "--for", "ultralytics", COCO_SAMPLE, "-o", tmp_path / "data.yaml")
    assert res.exit_code == 0, res.stderr
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["kpt_shape"] == [17, 3] and data["names"] == {0: "person"}
    assert data["flip_idx"] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert data["kpt_names"][0][5] == "left_shoulder" and len(data["kpt_oks_sigmas"]) == 17
    res = run_cli("config", "--for", "keras", COCO_SAMPLE)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ["data.yaml"]


@pytest.mark.parametrize("to", ["yolo", "openpose"])
def test_overwrite_never_leaves_an_earlier_datasets_files_to_be_read_back(tmp_path, to):
    """Re-converting into the same folder with --overwrite after a person was removed: the earlier
    file of the now empty image would read back as part of the new dataset, so it is refused."""
    source = COCO_SAMPLE
    if to == "openpose":  # OpenPose files hold BODY_25, COCO-18 or MPI-15
        source = tmp_path / "op18.json"
        assert run_cli("convert", COCO_SAMPLE, "-o", source, "--to", "coco", "--map-to", "openpose18").exit_code == 0
    obj = json.loads(source.read_text())
    src = tmp_path / "all.json"
    src.write_text(json.dumps(obj))
    out = tmp_path / "out"
    res = run_cli("convert", src, "-o", out, "--to", to, "--images", COCO_IMAGES)
    assert res.exit_code == 0, res.stderr
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    first = obj["images"][0]["id"]
    obj["annotations"] = [a for a in obj["annotations"] if a["image_id"] != first]
    if to != "yolo":  # those formats write a file per image; an image with no file is gone
        obj["images"] = obj["images"][1:]
    src.write_text(json.dumps(obj))
    res = run_cli("convert", src, "-o", out, "--to", to, "--images", COCO_IMAGES, "--overwrite")
    assert res.exit_code == 2 and "files in this folder that this output would not replace" in res.stderr, res.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    res = run_cli("convert", src, "-o", tmp_path / "new", "--to", to, "--images", COCO_IMAGES)
    assert res.exit_code == 0, res.stderr


#: Sources in tests/data that are not datasets as they stand: label files without their images and
#: YAML (the YOLO tests complete them), and mmpose's whole-body partition fixture (133 keypoints per
#: annotation under a 17-keypoint category: refused, naming the annotation).
_NOT_DATASETS = {"yolo/coco8-pose", "mmpose/coco/test_keypoint_partition_metric.json"}


def _wild_sources() -> list[Path]:
    """Every third-party-shaped source in tests/data: each file or folder a reader takes."""
    data = ROOT / "tests" / "data"
    files = [*data.glob("mmpose/*/*.json"), *data.glob("cvat/*.xml"), *data.glob("labelstudio/*.json"),
             *data.glob("yolo/*/"), *data.glob("openpose/*/")]
    return sorted(p for p in files if p.relative_to(data).as_posix() not in _NOT_DATASETS)


@pytest.mark.parametrize("src", _wild_sources(), ids=lambda p: str(p.relative_to(ROOT / "tests" / "data")))
def test_every_source_in_tests_data_converts_with_its_account_settled(src, tmp_path):
    """Count in = count out on every file shaped like the wild: what the reader saw of images,
    persons and labeled keypoints is carried or counted (read_dataset refuses otherwise), and
    the COCO written holds every person carried."""
    from converters.formats import Context, read_dataset

    ctx = Context()
    ds = read_dataset(src, ctx)[0].ds
    assert ctx.account["persons"] == len(ds) + ctx.notes.dropped("persons")
    res = run_cli("convert", src, "-o", tmp_path / "out.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert len(json.loads((tmp_path / "out.json").read_text())["annotations"]) >= len(ds) - int(ds.iscrowd.sum())
