"""`annotate merge`: a file merged with itself is the file; disjoint sets give their union; a
shifted copy is found person for person; ids never collide; sizes, layouts and options checked;
the closing line counts duplicates. On mmpose's COCO and CrowdPose samples and generated sets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, run_cli, examples

from annotate.dataset import ImageInfo
from annotate.errors import PosekitError
from annotate.ops.merge import box_iou, find_duplicates, fresh_ids, merge_datasets, merge_files
from annotate.ops.oks import layout_sigmas, oks_pairs


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


def generated(n_images: int = 40, seed: int = 0, first_id: int = 1, prefix: str = "img") -> dict:
    """A COCO-17 keypoint file: persons of ordinary size (60-300 px boxes), 1-4 per image, some
    keypoints unlabeled or occluded, a crowd region and a box-only person."""
    from annotate.skeletons import COCO17

    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(n_images):
        iid = first_id + i
        images.append({"id": iid, "file_name": f"{prefix}{iid:04d}.jpg", "width": 640, "height": 480})
        for _ in range(int(rng.integers(1, 5))):
            w, h = rng.uniform(60, 200), rng.uniform(120, 300)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            u, v = rng.uniform(0.05, 0.95, 17), rng.uniform(0.05, 0.95, 17)
            vis = rng.choice([0, 1, 2], 17, p=[0.2, 0.1, 0.7])
            vis[0] = 2
            kp = np.stack([np.round(x + u * w), np.round(y + v * h), vis], 1)
            kp[vis == 0, :2] = 0
            anns.append({"id": len(anns) + 1000 * first_id, "image_id": iid, "category_id": 1, "iscrowd": 0,
                         "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)], "area": round(w * h * 0.6, 2),
                         "num_keypoints": int((vis > 0).sum()), "keypoints": kp.astype(int).ravel().tolist()})
    anns.append({"id": 999_999 + first_id, "image_id": first_id, "category_id": 1, "iscrowd": 1,
                 "bbox": [5, 5, 50, 40], "area": 1500.0, "num_keypoints": 0, "keypoints": [0] * 51,
                 "segmentation": {"counts": [0, 10], "size": [480, 640]}})
    anns.append({"id": 999_000 + first_id, "image_id": first_id + 1, "category_id": 1, "iscrowd": 0,
                 "bbox": [300, 20, 30, 60], "area": 1800.0, "num_keypoints": 0, "keypoints": [0] * 51})
    cat = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.keypoints),
           "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs]}
    return {"images": images, "annotations": anns, "categories": [cat]}


def shifted(doc: dict, seed: int = 1) -> dict:
    """The same persons, every labeled keypoint moved by one or two pixels."""
    rng = np.random.default_rng(seed)
    out = json.loads(json.dumps(doc))
    for a in out["annotations"]:
        kp = np.array(a["keypoints"]).reshape(-1, 3)
        lab = kp[:, 2] > 0
        kp[lab, :2] += rng.choice([-2, -1, 1, 2], (int(lab.sum()), 2))
        a["keypoints"] = kp.ravel().tolist()
    return out


def merge(tmp: Path, *docs: dict, out: str = "out.json", **kw) -> tuple[dict, object]:
    srcs = [write(tmp / f"in{i}.json", d) for i, d in enumerate(docs)]
    res = merge_files(srcs, tmp / out, **kw)
    return load(tmp / out), res


def persons(doc: dict) -> dict:
    """(file name, keypoints) -> count: the persons of a COCO document, ids aside."""
    names = {im["id"]: im["file_name"] for im in doc["images"]}
    out: dict = {}
    for a in doc["annotations"]:
        key = (names[a["image_id"]], tuple(a["keypoints"]), tuple(a["bbox"]))
        out[key] = out.get(key, 0) + 1
    return out


# --------------------------------------------------------------------------- identity and union

@pytest.mark.parametrize("sample", [COCO_SAMPLE, CROWDPOSE_SAMPLE])
def test_merging_a_file_with_itself_gives_the_file_back(tmp_path, sample):
    converted = tmp_path / "converted.json"
    assert run_cli("convert", sample, "-o", converted, "--to", "coco").exit_code == 0
    res = run_cli("merge", sample, sample, "-o", tmp_path / "m.json")
    assert res.exit_code == 0, res.stderr
    assert load(tmp_path / "m.json") == load(converted)
    n = len(load(sample)["annotations"])
    assert f"{n} duplicate persons (OKS >= 0.7): the earlier kept, {n} dropped" in res.stdout


def test_merging_a_file_with_itself_gives_it_back_whatever_the_duplicate_rule(tmp_path):
    doc = generated()
    for rule in ("keep-first", "keep-last", "most-labeled"):
        out, res = merge(tmp_path, doc, doc, out=f"{rule}.json", on_duplicate=rule)
        assert out == load(tmp_path / "in0.json")
        assert res.stats.duplicates == len(doc["annotations"])


def test_disjoint_sets_merge_into_their_union(tmp_path):
    a = generated(30, seed=1, first_id=1, prefix="a")
    b = generated(20, seed=2, first_id=100, prefix="b")
    out, res = merge(tmp_path, a, b)
    assert persons(out) == {**persons(a), **persons(b)}
    assert [im["file_name"] for im in out["images"]] == [im["file_name"] for im in a["images"] + b["images"]]
    assert res.stats.duplicates == 0 and res.stats.images_shared == 0
    # ids did not collide: every one kept
    assert [x["id"] for x in out["annotations"]] == [x["id"] for x in a["annotations"] + b["annotations"]]


def test_the_real_samples_of_one_layout_merge_into_their_union(tmp_path):
    """mmpose's COCO sample split in two by image: merging the halves gives the whole back."""
    doc = load(COCO_SAMPLE)
    halves = []
    for part in (doc["images"][:2], doc["images"][2:]):
        ids = {im["id"] for im in part}
        halves.append({**doc, "images": part, "annotations": [a for a in doc["annotations"] if a["image_id"] in ids]})
    out, res = merge(tmp_path, *halves)
    assert run_cli("convert", COCO_SAMPLE, "-o", tmp_path / "whole.json", "--to", "coco").exit_code == 0
    whole = load(tmp_path / "whole.json")
    assert persons(out) == persons(whole)
    assert sorted(out["images"], key=lambda im: im["id"]) == sorted(whole["images"], key=lambda im: im["id"])


# --------------------------------------------------------------------------- duplicates

def test_a_shifted_copy_is_found_person_for_person(tmp_path):
    doc = generated(60)
    copy = shifted(doc)
    out, res = merge(tmp_path, doc, copy)
    assert res.stats.duplicates == len(doc["annotations"])
    assert out == load(tmp_path / "in0.json")
    last, res = merge(tmp_path, doc, copy, out="last.json", on_duplicate="keep-last")
    assert persons(last) == persons(copy)
    assert [a["id"] for a in last["annotations"]] == [a["id"] for a in doc["annotations"]]  # the earlier ids
    both, res = merge(tmp_path, doc, copy, out="both.json", on_duplicate="keep-both")
    assert len(both["annotations"]) == 2 * len(doc["annotations"]) and res.stats.dropped == 0
    assert len({a["id"] for a in both["annotations"]}) == len(both["annotations"])


def test_most_labeled_keeps_the_person_with_more_keypoints(tmp_path):
    doc = generated(10)
    fuller, thinner = json.loads(json.dumps(doc)), json.loads(json.dumps(doc))
    for a in doc["annotations"]:
        a["keypoints"][-1] = 0 if a["num_keypoints"] > 1 else a["keypoints"][-1]  # fewer in the first input
    for a in thinner["annotations"][:3]:
        kp = np.array(a["keypoints"]).reshape(-1, 3)
        kp[1:, 2] = 0
        a["keypoints"] = kp.ravel().tolist()
    out, res = merge(tmp_path, doc, fuller, out="m1.json", on_duplicate="most-labeled")
    changed = [a for a, b in zip(doc["annotations"], fuller["annotations"]) if a["keypoints"] != b["keypoints"]]
    assert res.stats.replaced == len(changed) and res.stats.duplicates == len(doc["annotations"])
    assert persons(out) == persons(fuller)


def test_different_persons_of_one_image_are_not_duplicates(tmp_path):
    doc = generated(20, seed=3)
    other = generated(20, seed=4)  # same file names, other persons
    out, res = merge(tmp_path, doc, other)
    assert res.stats.images_shared == 20
    # only the crowd region and the box-only person (same boxes in both) are duplicates
    assert res.stats.duplicates == 2
    assert len(out["annotations"]) == len(doc["annotations"]) + len(other["annotations"]) - 2


def test_three_inputs_chain(tmp_path):
    doc = generated(15)
    out, res = merge(tmp_path, doc, shifted(doc, 1), shifted(doc, 2))
    assert res.stats.duplicates == 2 * len(doc["annotations"])
    assert persons(out) == persons(doc)


def test_an_area_of_0_is_read_as_unset(tmp_path):
    """A tool that leaves area 0 does not make every shifted person a new one: OKS then scales
    by the box (compare keeps COCOeval's 0)."""
    doc = generated(10)
    for x in doc["annotations"]:
        x["area"] = 0
    out, res = merge(tmp_path, doc, shifted(doc))
    assert res.stats.duplicates == len(doc["annotations"]) and persons(out) == persons(doc)


def test_one_to_one_when_a_person_has_two_candidates():
    """Two persons at one place in the later input: only one is the earlier person's duplicate."""
    from annotate.dataset import Category, KeypointDataset
    from annotate.skeletons import COCO17

    cat = Category.from_layout(COCO17)
    kps = np.zeros((1, 17, 3))
    kps[0, :, 0], kps[0, :, 1], kps[0, :, 2] = np.arange(17) * 10 + 100, np.arange(17) * 5 + 100, 2
    img = [ImageInfo(1, "a.jpg", 640, 480)]
    a = KeypointDataset(cat, img, np.array([1]), np.array([1]), kps, np.array([[90., 90, 200, 100]]),
                        np.array([20000.]), np.zeros(1, bool), np.full(1, np.nan), [{}])
    kb = np.concatenate([kps, kps + [1, 0, 0]])
    b = KeypointDataset(cat, img, np.array([1, 2]), np.array([1, 1]), kb, np.repeat(a.bbox, 2, 0),
                        np.full(2, 20000.), np.zeros(2, bool), np.full(2, np.nan), [{}, {}])
    sig, _ = layout_sigmas(cat)
    ia, jb = find_duplicates(a, b, sig, 0.7)
    assert ia.tolist() == [0] and jb.tolist() == [0]


@settings(max_examples=examples(40))
@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 2**31))
@example(0, 3, 0)
def test_pairwise_oks_is_its_definition(g, d, seed):
    """OKS pair by pair, as COCO defines it over the reference's labeled keypoints (one the
    other person lacks counts 0), equals oks_pairs taken a few pairs at a time."""
    rng = np.random.default_rng(seed)
    ref, other = rng.uniform(0, 100, (g, 17, 3)), rng.uniform(0, 100, (d, 17, 3))
    ref[..., 2], other[..., 2] = rng.integers(0, 3, (g, 17)), rng.integers(0, 3, (d, 17))
    area = rng.uniform(100, 5000, g)
    sig = rng.uniform(0.02, 0.1, 17)
    want = np.zeros((g, d))
    for i in range(g):
        for j in range(d):
            terms = [np.exp(-((ref[i, k, 0] - other[j, k, 0]) ** 2 + (ref[i, k, 1] - other[j, k, 1]) ** 2)
                            / (2 * sig[k]) ** 2 / (area[i] + np.spacing(1)) / 2) * (other[j, k, 2] > 0)
                     for k in range(17) if ref[i, k, 2] > 0]
            want[i, j] = sum(terms) / len(terms) if terms else 0.0
    gi, di = np.meshgrid(np.arange(g), np.arange(d), indexing="ij")
    pairs = oks_pairs(ref, area, other, sig, gi.ravel(), di.ravel(), chunk=5).reshape(g, d)
    np.testing.assert_allclose(pairs, want, rtol=1e-12, atol=1e-15)


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0], [np.nan, 0, 1, 1]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 0, 0], [0, 0, 1, 1]], float)
    np.testing.assert_allclose(box_iou(a, b), [1, 50 / 150, 1, 0])


# --------------------------------------------------------------------------- ids, images, categories

def test_colliding_ids_are_renumbered_and_the_first_inputs_kept(tmp_path):
    a = generated(10, seed=1, prefix="a")
    b = generated(10, seed=2, prefix="b")  # same image and annotation ids as a, other images
    out, _ = merge(tmp_path, a, b)
    img_ids = [im["id"] for im in out["images"]]
    ann_ids = [x["id"] for x in out["annotations"]]
    assert len(set(img_ids)) == len(img_ids) and len(set(ann_ids)) == len(ann_ids)
    assert img_ids[:10] == [im["id"] for im in a["images"]]
    assert ann_ids[:len(a["annotations"])] == [x["id"] for x in a["annotations"]]
    assert img_ids[10:] == list(range(max(img_ids[:10]) + 1, max(img_ids[:10]) + 11))
    names = {im["id"]: im["file_name"] for im in out["images"]}
    assert persons(out) == {**persons(a), **persons(b)} and all(names[x["image_id"]] for x in out["annotations"])


def test_fresh_ids():
    assert fresh_ids(np.array([5, 1, 7, 7]), np.array([1, 2, 3])).tolist() == [5, 8, 7, 9]
    assert fresh_ids(np.array([4, 5]), np.array([1])).tolist() == [4, 5]


def test_images_matched_by_normalised_name_and_size_checked(tmp_path):
    a = generated(3, prefix="x/")
    b = json.loads(json.dumps(a))
    for im in b["images"]:
        im["file_name"] = im["file_name"].replace("x/", "x//./")
    out, res = merge(tmp_path, a, b)
    assert res.stats.images_shared == 3 and len(out["images"]) == 3
    b["images"][1]["width"] = 641
    with pytest.raises(PosekitError) as err:
        merge(tmp_path, a, b, out="bad.json")
    msg = str(err.value)
    assert "in1.json" in msg and "in0.json" in msg and "x/0002.jpg" in msg.replace("x//./", "x/")
    assert not (tmp_path / "bad.json").exists()


def test_size_mismatch_through_the_cli(tmp_path):
    a = generated(2)
    b = json.loads(json.dumps(a))
    b["images"][0]["height"] = 100
    res = run_cli("merge", write(tmp_path / "a.json", a), write(tmp_path / "b.json", b), "-o", tmp_path / "o.json")
    assert res.exit_code == 2 and "b.json" in res.stderr and "a.json" in res.stderr and "img0001.jpg" in res.stderr
    assert not (tmp_path / "o.json").exists()


def test_splits_sizes_kept_from_whichever_input_has_them():
    from annotate.dataset import Category, KeypointDataset
    from annotate.skeletons import COCO17

    cat = Category.from_layout(COCO17)
    a = KeypointDataset(cat, [ImageInfo(1, "a.jpg", None, None, split=None), ImageInfo(2, "b.jpg", 5, 5, split="val")])
    b = KeypointDataset(cat, [ImageInfo(7, "a.jpg", 10, 20, split="train"), ImageInfo(8, "b.jpg", 5, 5, split="test")])
    out, stats = merge_datasets([a, b], [Path("A"), Path("B")])
    assert [(im.id, im.width, im.height, im.split) for im in out.images] == [(1, 10, 20, "train"), (2, 5, 5, "val")]
    assert sum(stats.notes.values()) == 1  # the split conflict, counted


def test_different_layouts_refused_unless_mapped(tmp_path):
    res = run_cli("merge", COCO_SAMPLE, CROWDPOSE_SAMPLE, "-o", tmp_path / "o.json")
    assert res.exit_code == 2 and "--map-to" in res.stderr and "test_crowdpose.json" in res.stderr
    res = run_cli("merge", COCO_SAMPLE, CROWDPOSE_SAMPLE, "-o", tmp_path / "o.json", "--map-to", "coco17")
    assert res.exit_code == 0, res.stderr
    out = load(tmp_path / "o.json")
    n = len(load(COCO_SAMPLE)["annotations"]) + len(load(CROWDPOSE_SAMPLE)["annotations"])
    assert len(out["annotations"]) == n and len(out["categories"]) == 1
    assert len(out["categories"][0]["keypoints"]) == 17
    assert "keypoints mapped" in res.stderr + res.stdout


def test_categories_matched_by_name_when_several(tmp_path):
    a = generated(4, prefix="a")
    b = generated(4, prefix="b")
    b["categories"].append({**b["categories"][0], "id": 2, "name": "referee"})
    b["categories"][0]["id"] = 1
    b["annotations"][0]["category_id"] = 2
    out, _ = merge(tmp_path, a, b)
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(1, "person"), (2, "referee")]


# --------------------------------------------------------------------------- the command

def test_cli_refuses_bad_options_and_existing_output(tmp_path):
    a = write(tmp_path / "a.json", generated(2))
    for args in (["--on-duplicate", "keep-none"], ["--oks", "0"], ["--oks", "1.5"], ["--map-to", "nonsense"]):
        res = run_cli("merge", a, a, "-o", tmp_path / "o.json", *args)
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    res = run_cli("merge", a, "-o", tmp_path / "o.json")
    assert res.exit_code == 2 and "two" in res.stderr
    (tmp_path / "o.json").write_text("{}")
    res = run_cli("merge", a, a, "-o", tmp_path / "o.json")
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    assert run_cli("merge", a, a, "-o", tmp_path / "o.json", "--overwrite").exit_code == 0
    res = run_cli("merge", a, a, "-o", a, "--overwrite")
    assert res.exit_code == 2 and "input" in res.stderr


def test_cli_closing_line_and_other_formats(tmp_path):
    doc = generated(12)
    a, b = write(tmp_path / "a.json", doc), write(tmp_path / "b.json", shifted(doc))
    res = run_cli("merge", a, b, "-o", tmp_path / "lm", "--to", "labelme", "--on-duplicate", "keep-both")
    assert res.exit_code == 0, res.stderr
    n = len(doc["annotations"])
    assert f"{n} duplicate persons (OKS >= 0.7): both kept, 0 dropped" in res.stdout
    assert f"{2 * n - 2:,} persons" in res.stdout or "persons of" in res.stdout
    # LabelMe back in, merged with the COCO file it came from
    res = run_cli("merge", tmp_path / "lm", a, "-o", tmp_path / "back.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr


def test_help_states_the_default_threshold():
    from annotate.ops.merge import DEFAULT_OKS

    res = run_cli("merge", "--help")
    assert res.exit_code == 0 and f"[default: {DEFAULT_OKS:g}]" in res.stdout


def test_a_yolo_dataset_with_splits_merged_with_itself_is_itself(tmp_path):
    src = tmp_path / "y"
    res = run_cli("split", COCO_SAMPLE, "-o", src, "--val", "0.25", "--to", "yolo", "--images", COCO_SAMPLE.parent)
    assert res.exit_code == 0, res.stderr
    res = run_cli("merge", src, src, "-o", tmp_path / "m")
    assert res.exit_code == 0, res.stderr
    for f in sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file() and not p.is_symlink()):
        assert (tmp_path / "m" / f).read_bytes() == (src / f).read_bytes(), f
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == sorted(p.relative_to(tmp_path / "m")
                                                                       for p in (tmp_path / "m").rglob("*"))


def test_an_empty_input_changes_nothing(tmp_path):
    doc = generated(3)
    empty = {"images": [], "annotations": [], "categories": doc["categories"]}
    for i, pair in enumerate(((doc, empty), (empty, doc))):
        out, res = merge(tmp_path, *pair, out=f"o{i}.json")
        assert persons(out) == persons(doc) and len(out["images"]) == 3 and res.stats.duplicates == 0
