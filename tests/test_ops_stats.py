"""``annotate stats``: counts equal an independent count straight from the COCO JSON (mmpose's COCO
and CrowdPose samples), known answers on a generated set (persons per image, COCO area
boundaries, keypoints in the box), every format read, the report page and its numbers, exit codes."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, MPII_SAMPLE, SAMPLE, run_cli
from test_yolo import coco8_pose

DATA = Path(__file__).resolve().parent / "data"


def independent_counts(path: Path) -> dict:
    """The numbers of ``annotate stats``, counted with plain Python from the COCO JSON."""
    doc = json.loads(path.read_text())
    anns = [a for a in doc["annotations"] if "keypoints" in a]
    persons = [a for a in anns if not a.get("iscrowd", 0)]
    names = doc["categories"][0]["keypoints"]
    flags = [[a["keypoints"][3 * k + 2] for k in range(len(names))] for a in persons]
    per_image = Counter(a["image_id"] for a in persons)
    counts = [per_image.get(im["id"], 0) for im in doc["images"]]
    n_kps = [sum(1 for v in f if v > 0) for f in flags]
    area = [a["area"] if "area" in a else a["bbox"][2] * a["bbox"][3] for a in persons]  # CrowdPose gives none
    return {
        "images": len(doc["images"]), "persons": len(persons), "crowd": len(anns) - len(persons),
        "with_persons": sum(1 for c in counts if c), "per_image_max": max(counts),
        "per_image_mean": sum(counts) / len(counts),
        "labeled": [sum(1 for f in flags if f[k] > 0) for k in range(len(names))],
        "visible": [sum(1 for f in flags if f[k] == 2) for k in range(len(names))],
        "occluded": [sum(1 for f in flags if f[k] == 1) for k in range(len(names))],
        "kpp": [n_kps.count(i) for i in range(len(names) + 1)],
        "small": sum(1 for a in area if a < 32 ** 2), "medium": sum(1 for a in area if 32 ** 2 <= a < 96 ** 2),
        "large": sum(1 for a in area if a >= 96 ** 2),
        "sizes": Counter((im["width"], im["height"]) for im in doc["images"]),
    }


@pytest.mark.parametrize("path", [COCO_SAMPLE, CROWDPOSE_SAMPLE], ids=["coco", "crowdpose"])
def test_counts_equal_an_independent_count(tmp_path, path):
    res = run_cli("stats", path, "--report", tmp_path / "rep")
    assert res.exit_code == 0, res.stderr
    n = json.loads((tmp_path / "rep" / "stats.json").read_text())
    want = independent_counts(path)
    assert n["images"]["count"] == want["images"]
    assert n["persons"]["count"] == want["persons"]
    assert n["crowd_regions"] == want["crowd"]
    assert n["images"]["with_persons"] == want["with_persons"]
    assert n["persons"]["per_image_max"] == want["per_image_max"]
    assert n["persons"]["per_image_mean"] == pytest.approx(want["per_image_mean"])
    assert [r["labeled"] for r in n["per_keypoint"]] == want["labeled"]
    assert [r["visible"] for r in n["per_keypoint"]] == want["visible"]
    assert [r["occluded"] for r in n["per_keypoint"]] == want["occluded"]
    assert n["keypoints_per_person"] == want["kpp"]
    assert {k: n["person_sizes"][k] for k in ("small", "medium", "large")} == \
        {k: want[k] for k in ("small", "medium", "large")}
    assert {(s["width"], s["height"]): s["images"] for s in n["images"]["most_common_sizes"]} == \
        dict(want["sizes"].most_common(5))
    assert sum(b["images"] for b in n["persons_per_image"]) == want["images"]
    # the terminal table says the same
    assert f"{want['persons']:,} persons" in res.stdout.splitlines()[-1]
    assert n["layout"]["name"] == ("coco17" if path == COCO_SAMPLE else "crowdpose14")


def generated():
    """Three images: 0, 1 and 3 persons, a crowd region; areas on COCO's boundaries; keypoints at
    known places in their boxes."""
    from annotate.dataset import Category, ImageInfo, KeypointDataset
    from annotate.skeletons import get_layout

    cat = Category.from_layout(get_layout("coco17"))
    images = [ImageInfo(1, "a.jpg", 640, 480), ImageInfo(2, "b.jpg", 640, 480), ImageInfo(3, "c.jpg", 100, 200)]
    n = 5
    kps = np.zeros((n, 17, 3))
    box = np.array([[0, 0, 32, 32], [0, 0, 96, 96], [10, 10, 31, 33], [100, 100, 200, 100], [0, 0, 50, 50.]])
    kps[0, 0] = (16, 16, 2)             # nose at the box centre
    kps[1, :5] = (1, 1, 1)              # five occluded at the top-left corner
    kps[2, 16] = (100, 10, 2)           # right ankle outside its box
    kps[3, :] = (150, 150, 2)           # every keypoint at (0.25, 0.5) of the box
    return KeypointDataset(cat, images, np.arange(1, n + 1), np.array([2, 3, 3, 3, 3]), kps, box,
                           box[:, 2] * box[:, 3], np.array([0, 0, 0, 0, 1], bool), np.full(n, np.nan),
                           [{} for _ in range(n)])


def test_known_answers_on_a_generated_set():
    from annotate.ops.stats import HEAT_BINS, HEAT_RANGE, compute_stats

    st = compute_stats(generated())
    n = st.numbers
    assert n["persons"]["count"] == 4 and n["crowd_regions"] == 1
    assert st.persons_per_image.tolist() == [0, 1, 3]
    assert [b["images"] for b in n["persons_per_image"]][:4] == [1, 1, 0, 1]
    assert n["persons"]["per_image_max"] == 3 and n["persons"]["without_keypoints"] == 0
    # area 32*32 = 1024 is medium, 96*96 = 9216 large, 31*33 = 1023 small (COCO: small < 32^2 <= medium)
    assert n["person_sizes"] == {"small": 1, "medium": 1, "large": 2, "unknown": 0}
    assert n["keypoints_per_person"][1] == 2 and n["keypoints_per_person"][5] == 1 and n["keypoints_per_person"][17] == 1
    nose = n["per_keypoint"][0]
    assert (nose["labeled"], nose["visible"], nose["occluded"]) == (3, 2, 1)
    assert n["per_keypoint"][16]["outside_box"] == 1 and sum(r["outside_box"] for r in n["per_keypoint"]) == 1
    assert n["images"]["most_common_sizes"][0] == {"width": 640, "height": 480, "images": 2}

    def cell(u, v):
        lo, hi = HEAT_RANGE
        return int((v - lo) / (hi - lo) * HEAT_BINS), int((u - lo) / (hi - lo) * HEAT_BINS)
    assert st.heat[0][cell(0.5, 0.5)] == 1 and st.heat[0][cell(0.25, 0.5)] == 1
    assert st.heat[5][cell(0.25, 0.5)] == 1 and st.heat[5].sum() == 1
    assert st.heat[16].sum() == 1  # (100 - 10) / 31 = 2.9: beyond the plotted range, counted as outside


def test_empty_dataset():
    from annotate.dataset import Category, KeypointDataset
    from annotate.ops.stats import compute_stats
    from annotate.ops.stats_page import report_files
    from annotate.skeletons import get_layout

    st = compute_stats(KeypointDataset(Category.from_layout(get_layout("mpii16"))))
    assert st.numbers["persons"]["count"] == 0 and st.numbers["images"]["count"] == 0
    assert b"<img" in report_files(st)["index.html"]


def every_format(tmp_path: Path) -> list[tuple[str, list[str]]]:
    """(format, arguments of `annotate stats`) for a sample of every format posekit reads."""
    yolo = coco8_pose(tmp_path / "coco8-pose")
    return [("coco", [str(COCO_SAMPLE)]), ("mpii", [str(MPII_SAMPLE)]),
            ("labelme", [str(SAMPLE / "labelme")]), ("yolo", [str(yolo)]),
            ("cvat", [str(DATA / "cvat" / "project_export.xml")]),
            ("labelstudio", [str(DATA / "labelstudio" / "export.json")]),
            ("openpose", [str(DATA / "openpose" / "video")])]


def test_every_format(tmp_path):
    from converters.formats import Context, read_dataset

    for fmt, args in every_format(tmp_path):
        res = run_cli("stats", *args, "--report", tmp_path / f"rep-{fmt}")
        assert res.exit_code == 0, (fmt, res.stderr)
        n = json.loads((tmp_path / f"rep-{fmt}" / "stats.json").read_text())
        assert n["format"] == fmt
        ds = read_dataset(Path(args[0]), Context())[0].ds
        assert n["persons"]["count"] + n["crowd_regions"] == len(ds), fmt
        assert sum(r["labeled"] for r in n["per_keypoint"]) == int((ds.keypoints[~ds.iscrowd, :, 2] > 0).sum())
        assert n["images"]["count"] == len(ds.images) > 0


def test_yolo_sizes_from_the_images_and_labelme_by_its_points(tmp_path):
    yolo = coco8_pose(tmp_path / "y")
    res = run_cli("stats", yolo, "--report", tmp_path / "r")
    assert res.exit_code == 0, res.stderr
    n = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert n["images"]["size_unknown"] == 0 and n["images"]["count"] == 4
    # Ultralytics' convert_coco keeps the persons with a labeled keypoint
    want = independent_counts(COCO_SAMPLE)
    assert n["persons"]["count"] == want["persons"] - want["kpp"][0]
    assert n["persons"]["without_keypoints"] == 0


def test_report_page_is_self_contained(tmp_path):
    rep = tmp_path / "rep"
    res = run_cli("stats", CROWDPOSE_SAMPLE, "--report", rep)
    assert res.exit_code == 0, res.stderr
    page = (rep / "index.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 6
    for key in ("persons-per-image", "keypoints-per-person", "per-keypoint", "person-sizes", "image-sizes",
                "keypoint-heat"):
        assert f"id={key}>" in page
    links = re.findall(r"(?:src|href)=['\"]([^'\"]+)", page)
    assert all(u.startswith("data:") or u == "stats.json" for u in links), links
    assert "<table id=keypoints>" in page and "left_shoulder" in page
    assert "report:" in res.stdout and str(rep / "index.html") in res.stdout
    assert sorted(p.name for p in rep.iterdir()) == ["index.html", "stats.json"]


def test_existing_report_refused_without_overwrite(tmp_path):
    rep = tmp_path / "rep"
    assert run_cli("stats", COCO_SAMPLE, "--report", rep).exit_code == 0
    before = (rep / "index.html").read_bytes()
    res = run_cli("stats", CROWDPOSE_SAMPLE, "--report", rep)
    assert res.exit_code == 2 and "--overwrite" in res.stderr and len(res.stderr.splitlines()) == 1
    assert (rep / "index.html").read_bytes() == before
    assert run_cli("stats", CROWDPOSE_SAMPLE, "--report", rep, "--overwrite").exit_code == 0
    assert "crowdpose" in json.loads((rep / "stats.json").read_text())["layout"]["name"]


def test_terminal_tables_and_quiet(tmp_path):
    res = run_cli("stats", COCO_SAMPLE)
    assert res.exit_code == 0, res.stderr
    for text in ("persons per image", "keypoints per person", "person sizes", "image sizes", "left_ankle",
                 "occluded", "coco17"):
        assert text in res.stdout
    quiet = run_cli("stats", COCO_SAMPLE, "--quiet")
    assert quiet.exit_code == 0 and len(quiet.stdout.splitlines()) == 1
    assert quiet.stdout.startswith(f"{COCO_SAMPLE} (coco): 4 images")


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    for args in (["stats", tmp_path / "missing.json"], ["stats", COCO_SAMPLE, "--report", tmp_path / "f"],
                 ["stats", COCO_SAMPLE, "--from", "nope"], ["stats", COCO_SAMPLE, "--images", tmp_path / "none"]):
        res = run_cli(*args)
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, (args, res.stderr)


def test_images_option_reads_missing_sizes(tmp_path):
    from conftest import SHARED

    doc = json.loads(COCO_SAMPLE.read_text())
    for im in doc["images"]:
        del im["width"], im["height"]
    path = tmp_path / "nosize.json"
    path.write_text(json.dumps(doc))
    res = run_cli("stats", path, "--report", tmp_path / "a")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "a" / "stats.json").read_text())["images"]["size_unknown"] == 4
    res = run_cli("stats", path, "--images", SHARED / "coco", "--report", tmp_path / "b")
    assert res.exit_code == 0, res.stderr
    n = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert n["images"]["size_unknown"] == 0
    assert {(s["width"], s["height"]): s["images"] for s in n["images"]["most_common_sizes"]} == \
        dict(independent_counts(COCO_SAMPLE)["sizes"])
