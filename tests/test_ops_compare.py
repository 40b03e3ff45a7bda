"""``annotate compare``: known answers (a set against itself, against a copy with known shifts,
crafted visibility flags), AP equal to pycocotools' COCOeval run directly on the same pair, every
format, the exit codes, the report."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import COCO_SAMPLE, MPII_SAMPLE, SAMPLE, run_cli, examples
from hypothesis import example, given, settings
from hypothesis import strategies as st

from annotate.dataset import Category, ImageInfo, KeypointDataset
from annotate.ops.compare import Side, compare_datasets, detection_scores, person_boxes, read_side
from annotate.ops.oks import layout_sigmas, match_pairs, match_persons, oks_areas, oks_pairs, pairs_by_image
from annotate.skeletons import COCO17

COCO_JSON = SAMPLE / "coco" / "sample.json"
IMAGES = SAMPLE / "images"


# --------------------------------------------------------------------------- helpers

def synthetic(n_images: int, per_image: int, seed: int = 0, side: float = 100.0) -> KeypointDataset:
    """COCO-17 persons whose area is ``side``**2 (so that the normaliser is ``side``), every
    keypoint visible, spread apart so that no two persons of an image overlap."""
    rng = np.random.default_rng(seed)
    cat = Category.from_layout(COCO17)
    n = n_images * per_image
    kps = np.zeros((n, 17, 3))
    kps[:, :, 0] = rng.uniform(0, side, (n, 17)) + (np.arange(n) % per_image)[:, None] * 1000
    kps[:, :, 1] = rng.uniform(0, side, (n, 17))
    kps[:, :, 2] = 2
    images = [ImageInfo(i + 1, f"img_{i:03d}.jpg", 10000, 1000) for i in range(n_images)]
    box = np.column_stack([kps[:, :, 0].min(1), kps[:, :, 1].min(1), np.full(n, side), np.full(n, side)])
    return KeypointDataset(cat, images, np.arange(1, n + 1), np.repeat(np.arange(1, n_images + 1), per_image),
                           kps, box, np.full(n, side * side), np.zeros(n, bool), np.full(n, np.nan),
                           [{} for _ in range(n)])


def side(ds: KeypointDataset, name: str = "x.json") -> Side:
    return Side(Path(name), "coco", ds)


def pycocotools_stats(ref: KeypointDataset, dets: list[dict], sigmas: np.ndarray) -> tuple[np.ndarray, dict]:
    """COCOeval run directly: REF written by posekit's COCO writer as ground truth."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from annotate.coco import to_coco_dict

    gt = COCO()
    gt.dataset = to_coco_dict(ref)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        E = COCOeval(gt, gt.loadRes(copy.deepcopy(dets)) if dets else COCO(), "keypoints")
        E.params.kpt_oks_sigmas = np.asarray(sigmas)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E.stats, E.eval


def results_list(ref: KeypointDataset, other: KeypointDataset, rows: np.ndarray) -> list[dict]:
    """OTHER's persons at ``rows`` as a COCO results list on REF's image ids (same file names)."""
    ids = {im.file_name: im.id for im in ref.images}
    files = {im.id: im.file_name for im in other.images}
    score = detection_scores(other, rows)
    out = []
    for s, r in zip(score.tolist(), rows.tolist()):
        kp = other.keypoints[r].copy()
        kp[kp[:, 2] <= 0] = 0
        out.append({"image_id": ids[files[int(other.image_id[r])]], "category_id": ref.category.id,
                    "keypoints": kp.ravel().tolist(), "score": s})
    return out


def compared_rows(ds: KeypointDataset) -> np.ndarray:
    return np.flatnonzero(~ds.iscrowd & (ds.keypoints[:, :, 2] > 0).any(1))


# --------------------------------------------------------------------------- OKS helpers

def test_pairs_by_image_is_every_pair_of_an_image():
    a = np.array([3, 1, 3, 2, 5])
    b = np.array([1, 3, 3, 4, 1, 3])
    ia, ib = pairs_by_image(a, b)
    got = list(zip(ia.tolist(), ib.tolist()))
    want = sorted(((i, j) for i in range(len(a)) for j in range(len(b)) if a[i] == b[j]),
                  key=lambda p: (a[p[0]], p[0], p[1]))
    assert got == want


@settings(max_examples=examples(40))
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=6), st.integers(0, 10_000),
       st.sampled_from([0.1, 0.5]))
@example([(3, 3), (1, 4), (4, 1)], 7, 0.1)
def test_match_pairs_is_the_best_matching_per_image(sizes, seed, threshold):
    """Over any subset of the pairs: one to one, and per image the largest summed similarity of
    pairs at or above the threshold (Hungarian on the image's block, the rest 0)."""
    rng = np.random.default_rng(seed)
    a_img = np.concatenate([np.full(g, i) for i, (g, _) in enumerate(sizes)] + [np.zeros(0, int)])
    b_img = np.concatenate([np.full(d, i) for i, (_, d) in enumerate(sizes)] + [np.zeros(0, int)])
    ia, ib = pairs_by_image(a_img, b_img)
    some = rng.random(len(ia)) < 0.7
    ia, ib = ia[some], ib[some]
    sim = rng.choice([0.0, 0.05, 0.3, 0.3, 0.7, 0.9], len(ia))
    got = match_pairs(ia, ib, sim, a_img[ia], threshold)
    assert (sim[got] >= threshold).all() and (np.diff(got) > 0).all()
    assert len(set(ia[got].tolist())) == len(got) and len(set(ib[got].tolist())) == len(got)
    for i in range(len(sizes)):
        block = np.zeros((len(a_img), len(b_img)))
        here = (a_img[ia] == i) & (sim >= threshold)
        block[ia[here], ib[here]] = sim[here]
        r, c = match_persons(block, threshold)
        assert sim[got][a_img[ia[got]] == i].sum() == pytest.approx(block[r, c].sum())   # ties may pick others


def test_oks_pairs_is_cocoeval_compute_oks():
    """The one OKS equals pycocotools' ``computeOks`` where the other person labels every keypoint
    (COCOeval does not look at a detection's flags; a keypoint OTHER lacks counts 0 here)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from annotate.coco import to_coco_dict

    ds = synthetic(1, 3, seed=1)
    ds.keypoints[2, :5, 2] = 0
    ds.area[1] = 0.0                 # COCO's given area, 0 included
    rng = np.random.default_rng(2)
    dt = ds.keypoints.copy()
    dt[:, :, :2] += rng.normal(0, 8, dt[:, :, :2].shape)
    dt[:, :, 2] = 2
    dets = [{"image_id": 1, "category_id": 1, "keypoints": d.ravel().tolist(), "score": 1.0 - i / 10}
            for i, d in enumerate(dt)]
    gt = COCO()
    gt.dataset = to_coco_dict(ds)
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        E = COCOeval(gt, gt.loadRes(dets), "keypoints")
    sig, _ = layout_sigmas(ds.category)
    E.params.kpt_oks_sigmas = sig
    E._prepare()
    want = E.computeOks(1, 1)                               # (D, G)
    g, d = np.meshgrid(np.arange(3), np.arange(3))
    got = oks_pairs(ds.keypoints, oks_areas(ds), dt, sig, g.ravel(), d.ravel())
    assert np.allclose(got.reshape(3, 3), want, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- known answers

def test_a_set_against_itself_is_oks_1_and_ap_1():
    ref = read_side(COCO_SAMPLE, None, None, None)
    cmp = compare_datasets(ref, read_side(COCO_SAMPLE, None, None, None))
    assert len(cmp.oks) == len(compared_rows(ref.ds)) > 0
    assert np.allclose(cmp.oks, 1.0, rtol=0, atol=1e-12) and cmp.mean_oks == pytest.approx(1.0, abs=1e-12)
    assert len(cmp.ref_unmatched) == len(cmp.other_unmatched) == 0
    assert cmp.ap.named()["AP"] == 1.0 and cmp.ap.named()["AR"] == 1.0
    assert np.nanmax(cmp.table["mean_error"]) == 0 and (cmp.table["pck_0.05"].dropna() == 1).all()
    K = len(cmp.names)
    assert (cmp.confusion[:, [0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]] == 0).all() and cmp.confusion.shape == (K, 3, 3)


def test_known_shifts_give_their_errors_and_pck():
    ref = synthetic(4, 3)
    other = copy.deepcopy(ref)
    idx = {n: i for i, n in enumerate(COCO17.keypoints)}
    shifts = {"nose": 12.0, "left_wrist": 8.0, "right_wrist": 3.0, "left_ankle": 0.5}   # px; normaliser 100
    for name, dx in shifts.items():
        other.keypoints[:, idx[name], 0] += dx
    cmp = compare_datasets(side(ref), side(other))
    assert len(cmp.oks) == len(ref) and not len(cmp.ref_unmatched) and not len(cmp.other_unmatched)
    t = cmp.table.set_index("keypoint")
    for name in COCO17.keypoints:
        dx = shifts.get(name, 0.0)
        assert t.loc[name, "mean_error"] == pytest.approx(dx / 100, abs=1e-9)
        assert t.loc[name, "mean_px"] == pytest.approx(dx, abs=1e-9)
        assert t.loc[name, "pck_0.05"] == (1.0 if dx / 100 <= 0.05 else 0.0)
        assert t.loc[name, "pck_0.1"] == (1.0 if dx / 100 <= 0.1 else 0.0)
        assert t.loc[name, "moved"] == (1.0 if dx > 1 else 0.0)
    from annotate.ops.compare import moved_line

    line = moved_line(cmp)
    assert line.index("nose 12.0 px (0.120") < line.index("left_wrist 8.0 px (0.080") < line.index("right_wrist 3.0")
    # OKS of each pair, by its definition
    sig, _ = layout_sigmas(ref.category)
    d = np.zeros(17)
    for name, dx in shifts.items():
        d[idx[name]] = dx
    want = np.exp(-d ** 2 / (2 * sig) ** 2 / (100 * 100 + np.spacing(1)) / 2).mean()
    assert np.allclose(cmp.oks, want, rtol=0, atol=1e-12)
    assert [w["differ"][0]["keypoint"] for w in cmp.worst] == ["nose"] * len(cmp.worst)


def test_visibility_confusion_counts_a_crafted_pair():
    ref = synthetic(1, 1)
    other = copy.deepcopy(ref)
    rv = np.array([2, 2, 2, 1, 1, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 1])
    ov = np.array([2, 1, 0, 2, 1, 2, 1, 0, 2, 2, 2, 2, 2, 2, 2, 0, 0])
    ref.keypoints[0, :, 2] = rv
    other.keypoints[0, :, 2] = ov
    cmp = compare_datasets(side(ref), side(other))
    want = np.zeros((3, 3), int)
    np.add.at(want, (rv, ov), 1)
    assert (cmp.confusion.sum(0) == want).all()
    assert cmp.confusion[0, 2, 2] == 1 and cmp.confusion[1, 2, 1] == 1 and cmp.confusion[16, 1, 0] == 1
    t = cmp.table.set_index("keypoint")
    assert t.loc["left_ankle", "only_ref"] == 1 and t.loc["left_shoulder", "only_other"] == 1
    assert t.loc["left_ankle", "pck_0.1"] == 0.0          # a REF-labeled keypoint OTHER lacks is a miss
    whats = {(d["keypoint"], d["what"]) for d in cmp.worst[0]["differ"]}
    assert ("left_ankle", "only in REF") in whats and ("left_shoulder", "only in OTHER") in whats


def test_unmatched_persons_and_images_are_counted():
    ref = synthetic(3, 2)
    other = ref.subset(np.array([0, 2, 3]), images=ref.images[:2] + [ImageInfo(9, "extra.jpg", 100, 100)])
    other.image_id[2] = 9           # person 3 of image 2 now on an image REF lacks
    cmp = compare_datasets(side(ref), side(other))
    assert len(cmp.oks) == 2
    assert sorted(cmp.ref_unmatched.tolist()) == [1, 3, 4, 5]
    assert cmp.left_out["other"]["persons on images REF lacks"] == 1
    assert cmp.images.ref_only == ["img_002.jpg"] and cmp.images.other_only == ["extra.jpg"]
    assert cmp.mean_oks == pytest.approx(2 / 6)


def test_images_match_by_normalised_path_then_unique_base_name():
    ref = synthetic(3, 1)
    other = copy.deepcopy(ref)
    other.images[0].file_name = "./img_000.jpg"
    other.images[1].file_name = "sub\\..\\img_001.jpg"
    other.images[2].file_name = "photos/img_002.jpg"
    cmp = compare_datasets(side(ref), side(other))
    assert len(cmp.images.other_to_ref) == 3 and cmp.images.by_base_name == 1 and len(cmp.oks) == 3


# --------------------------------------------------------------------------- AP = COCOeval

def jittered(ref: KeypointDataset, seed: int) -> KeypointDataset:
    """A copy with jitter, some persons dropped, a duplicate added, scores with ties."""
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(rng.random(len(ref)) > 0.15)
    other = ref.subset(np.r_[keep, keep[:1]])
    other.keypoints = other.keypoints.copy()
    lab = other.keypoints[:, :, 2] > 0
    other.keypoints[:, :, :2] += np.where(lab[..., None], rng.normal(0, 6, other.keypoints[:, :, :2].shape), 0)
    other.keypoints[:, :, 2] = np.where(lab & (rng.random(lab.shape) < 0.1), 0, other.keypoints[:, :, 2])
    other.score = rng.choice([0.9, 0.8, 0.8, 0.5, np.nan], len(other))
    other.ann_id = np.arange(1, len(other) + 1)
    return other


@pytest.mark.parametrize("src,seed", [(COCO_SAMPLE, 0), (COCO_SAMPLE, 1), (COCO_JSON, 2)])
def test_ap_equals_cocoeval_on_real_files(src, seed):
    ref = read_side(src, None, None, None)
    ref.ds.category_id[:] = ref.ds.category.id
    other = jittered(ref.ds, seed)
    cmp = compare_datasets(ref, side(other))
    stats, ev = pycocotools_stats(ref.ds, results_list(ref.ds, other, compared_rows(other)), cmp.sigmas)
    assert np.allclose(cmp.ap.stats, stats, rtol=0, atol=1e-9)
    assert np.allclose(cmp.ap.precision, ev["precision"], rtol=0, atol=1e-9)
    assert np.allclose(cmp.ap.recall, ev["recall"], rtol=0, atol=1e-9)


def random_pair(seed: int, n_images: int, max_persons: int, K: int) -> tuple[KeypointDataset, KeypointDataset]:
    """Small random REF/OTHER pairs over COCOeval's corners: crowd regions, persons without
    keypoints, areas across the ranges, more than 20 detections, tied scores, near duplicates."""
    rng = np.random.default_rng(seed)
    names = [f"kp{i}" for i in range(K)]
    cat = Category(1, "person", names, [])
    images = [ImageInfo(i + 1, f"{i}.jpg", 500, 500) for i in range(n_images)]

    def persons(n_per: np.ndarray, scale: float) -> tuple:
        n = int(n_per.sum())
        centre = rng.uniform(0, 300, (n, 1, 2))
        size = rng.choice([10.0, 40.0, 120.0], (n, 1, 1))
        kps = np.zeros((n, K, 3))
        kps[:, :, :2] = centre + rng.uniform(0, 1, (n, K, 2)) * size
        kps[:, :, 2] = rng.choice([0, 1, 2, 2, 2], (n, K))
        area = (size[:, 0, 0] ** 2) * rng.uniform(0.3, 1.2, n) * scale
        box = np.column_stack([centre[:, 0, 0], centre[:, 0, 1], size[:, 0, 0], size[:, 0, 0]])
        return n, kps, box, area, np.repeat(np.arange(1, n_images + 1), n_per)

    n, kps, box, area, img = persons(rng.integers(0, max_persons + 1, n_images), 1.0)
    crowd = rng.random(n) < 0.1
    ref = KeypointDataset(cat, images, np.arange(1, n + 1), img, kps, box, area, crowd, np.full(n, np.nan),
                          [{} for _ in range(n)])
    # OTHER: a jittered part of REF plus persons of its own
    take = np.flatnonzero(rng.random(n) < 0.7)
    m, okps, obox, oarea, oimg = persons(rng.integers(0, max_persons + 1, n_images), 1.0)
    kp2 = np.concatenate([kps[take] + np.r_[rng.normal(0, 3, 2), 0], okps])
    if len(kp2):
        kp2[:, :, :2] += rng.normal(0, 2, kp2[:, :, :2].shape)
    N = len(kp2)
    other = KeypointDataset(cat, images, np.arange(1, N + 1), np.r_[img[take], oimg].astype(np.int64), kp2,
                            np.r_[box[take], obox].reshape(-1, 4), np.r_[area[take], oarea], np.zeros(N, bool),
                            rng.choice([0.3, 0.6, 0.6, 0.9], N), [{} for _ in range(N)])
    return ref, other


@settings(max_examples=examples(40), deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(0, 26), st.sampled_from([1, 4, 17]))
@example(seed=0, n_images=1, max_persons=26, K=17)
@example(seed=5, n_images=3, max_persons=0, K=4)
def test_ap_equals_cocoeval_on_random_pairs(seed, n_images, max_persons, K):
    ref, other = random_pair(seed, n_images, max_persons, K)
    cmp = compare_datasets(side(ref), side(other))
    dets = results_list(ref, other, compared_rows(other))
    if not len(ref) or not dets:
        assert (cmp.ap.stats[cmp.ap.stats >= 0] <= 0).all()   # COCOeval cannot be run on an empty side
        return
    stats, ev = pycocotools_stats(ref, dets, cmp.sigmas)
    assert np.allclose(cmp.ap.stats, stats, rtol=0, atol=1e-9)
    assert np.allclose(cmp.ap.precision, ev["precision"], rtol=0, atol=1e-9)


def test_scores_person_then_keypoint_mean_then_1():
    ds = synthetic(1, 3)
    ds.score[0] = 0.4
    ds.extra[1]["keypoint_scores"] = [0.5] * 16 + [1.0]
    assert detection_scores(ds, np.arange(3)).tolist() == [0.4, pytest.approx((0.5 * 16 + 1) / 17), 1.0]


def test_area_and_box_fall_back_to_the_keypoints():
    ds = synthetic(1, 1)
    ds.area[:] = np.nan
    assert oks_areas(ds)[0] == 100 * 100
    ds.bbox[:] = np.nan
    ext = ds.keypoints[0, :, :2]
    w, h = ext.max(0) - ext.min(0)
    assert oks_areas(ds)[0] == pytest.approx(w * h) and person_boxes(ds)[0, 2] == pytest.approx(w)
    ds.area[:] = 0                   # a given 0 is COCOeval's area (compare); merge reads it as missing
    assert oks_areas(ds)[0] == 0 and oks_areas(ds, zero_is_missing=True)[0] == pytest.approx(w * h)


# --------------------------------------------------------------------------- formats and the command

FORMATS = ["coco", "labelme", "yolo", "cvat", "labelstudio", "openpose"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_compares_as_identical(tmp_path, fmt):
    from converters.formats import Context, convert

    dst = tmp_path / ("out.json" if fmt in ("coco", "labelstudio") else "out.xml" if fmt == "cvat" else "out")
    convert(COCO_JSON, dst, fmt, None, Context(images=IMAGES))
    res = run_cli("compare", COCO_JSON, dst, "--images", IMAGES, "--fail-below", "0.999999")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "mean OKS 1.000 over 7 persons" in res.stdout and "AP 1.000, AR 1.000" in res.stdout
    assert "0 only in REF" in res.stdout and "0 only in OTHER" in res.stdout


def test_labelme_against_coco_is_identical_both_ways(tmp_path):
    from converters.formats import Context, convert

    lm = tmp_path / "labelme"
    convert(COCO_JSON, lm, "labelme", None, Context(images=IMAGES))
    ref = read_side(lm, None, IMAGES, None)
    cmp = compare_datasets(ref, read_side(COCO_JSON, None, None, None))
    assert ref.fmt == "labelme" and len(cmp.oks) == 7
    assert np.allclose(cmp.oks, 1.0, rtol=0, atol=1e-12) and cmp.ap.named()["AP"] == 1.0


def test_fail_below_sets_the_exit_code(tmp_path):
    ref = synthetic(2, 2)
    other = copy.deepcopy(ref)
    other.keypoints[:, :, 0] += 9.0          # 0.09 of the person size everywhere
    from annotate.coco import save_coco

    save_coco(ref, tmp_path / "ref.json")
    save_coco(other, tmp_path / "other.json")
    same = run_cli("compare", tmp_path / "ref.json", tmp_path / "ref.json", "--fail-below", "1")
    assert same.exit_code == 0, same.stderr
    low = run_cli("compare", tmp_path / "ref.json", tmp_path / "other.json", "--fail-below", "0.9")
    assert low.exit_code == 1 and "FAIL: mean OKS" in low.stdout
    ok = run_cli("compare", tmp_path / "ref.json", tmp_path / "other.json", "--fail-below", "0.1")
    assert ok.exit_code == 0
    quiet = run_cli("compare", tmp_path / "ref.json", tmp_path / "other.json", "--quiet")
    assert quiet.stdout.splitlines()[0].startswith("mean OKS") and len(quiet.stdout.splitlines()) == 2


def test_other_layouts_are_refused_with_the_mapping_hint(tmp_path):
    res = run_cli("compare", COCO_SAMPLE, MPII_SAMPLE)
    assert res.exit_code == 2
    assert "--map-to coco17" in res.stderr and res.stderr.count("\n") == 1


def test_report_page_references_its_pictures(tmp_path):
    from converters.formats import Context, convert

    other = tmp_path / "shifted.json"
    data = json.loads(COCO_JSON.read_text())
    for a in data["annotations"][:3]:
        a["keypoints"][27] += 25          # left_wrist x
        a["keypoints"][0] -= 15           # nose x
    data["annotations"][4]["keypoints"][2::3] = [0] * 17     # a person OTHER lacks
    data["annotations"][4]["num_keypoints"] = 0
    other.write_text(json.dumps(data))
    lm = tmp_path / "labelme"
    convert(COCO_JSON, lm, "labelme", None, Context(images=IMAGES))
    out = tmp_path / "report"
    res = run_cli("compare", lm, other, "--report", out, "--images", IMAGES, "--worst", "4")
    assert res.exit_code == 0, res.stderr
    page = (out / "index.html").read_text()
    assert page.count("<figure class=card><img src='data:image/jpeg;base64,") == 4 + 1   # 4 worst + 1 only in REF
    assert page.count("src='data:image/png;base64,") == 3 and "left_wrist" in page
    js = json.loads((out / "compare.json").read_text())
    assert js["matched"] == 6 and len(js["only_ref"]) == 1 and js["worst"][0]["oks"] < 1
    csv = (out / "keypoints.csv").read_text().splitlines()
    assert len(csv) == 18 and csv[0].startswith("keypoint,")
    again = run_cli("compare", lm, other, "--report", out)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert run_cli("compare", lm, other, "--report", out, "--overwrite").exit_code == 0


def test_help_reads_well():
    res = run_cli("compare", "--help")
    assert res.exit_code == 0
    for opt in ("--report", "--fail-below", "--from-ref", "--from-other", "--images", "--min-oks", "--worst"):
        assert opt in res.stdout


def test_a_layout_without_published_sigmas_says_which_keypoints_got_the_default(tmp_path):
    from annotate.coco import save_coco

    ds = synthetic(1, 2)
    names = list(COCO17.keypoints[:16]) + ["tail_tip"]
    cat = Category(1, "animal", names, [])
    ds = KeypointDataset(cat, ds.images, ds.ann_id, ds.image_id, ds.keypoints, ds.bbox, ds.area, ds.iscrowd,
                         ds.score, ds.extra)
    save_coco(ds, tmp_path / "a.json")
    res = run_cli("compare", tmp_path / "a.json", tmp_path / "a.json")
    assert res.exit_code == 0, res.stderr
    assert "the stated default 0.079" in res.stdout and "(marked *): tail_tip" in res.stdout
    assert "0.079*" in res.stdout
