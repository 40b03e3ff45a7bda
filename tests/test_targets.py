import numpy as np
import pytest

from annotate.coco import load_coco
from annotate.render import make_targets, target_layout
from annotate.skeletons import OPENPOSE18
from annotate.targets import TargetParams, decode, keypoint_heatmaps, part_affinity_fields, with_background

from conftest import COCO_SAMPLE, SAMPLE, SHARED, needs_shared, run_cli
from reference_targets import heatmaps_per_pixel, pafs_per_pixel


def _random_persons(seed, n=4, k=18, size=96):
    rng = np.random.default_rng(seed)
    kps = np.concatenate([rng.uniform(-10, size + 10, (n, k, 2)), rng.integers(0, 3, (n, k, 1))], axis=2)
    kps[0, 1] = kps[0, 2]  # a zero-length limb must be skipped
    return kps


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("stride", [1, 4, 8])
def test_heatmaps_match_the_per_pixel_formula(seed, stride):
    kps = _random_persons(seed)
    grid = (96 // stride, 80 // stride)
    p = TargetParams(stride=stride, sigma=5.0)
    ours = keypoint_heatmaps(kps, grid, p)
    ref = heatmaps_per_pixel(kps, grid, stride, 5.0)
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("stride, width", [(1, 3.0), (4, 1.0), (8, 1.0)])
def test_pafs_match_the_per_pixel_formula(seed, stride, width):
    kps = _random_persons(seed)
    grid = (96 // stride, 80 // stride)
    ours = part_affinity_fields(kps, OPENPOSE18.limbs, grid, TargetParams(stride=stride, paf_width=width))
    ref = pafs_per_pixel(kps, OPENPOSE18.limbs, grid, stride, width)
    assert np.abs(ours - ref).max() < 1e-5


def test_pafs_average_overlapping_persons():
    kps = np.zeros((2, 18, 3))
    kps[0, 1], kps[0, 2] = (10, 10, 2), (40, 10, 2)  # neck -> right shoulder, pointing +x
    kps[1, 1], kps[1, 2] = (12, 8, 2), (12, 40, 2)  # pointing +y, crossing the first at (12, 10)
    paf = part_affinity_fields(kps, OPENPOSE18.limbs[:1], (50, 50), TargetParams(stride=1, paf_width=1))
    np.testing.assert_allclose(paf[:, 10, 12], (0.5, 0.5))  # both persons present: averaged
    np.testing.assert_allclose(paf[:, 10, 30], (1, 0))  # only the first


def test_heatmaps_match_mmpose_where_conventions_coincide():
    """mmpose rounds keypoints to the map's pixel grid and keeps a 3-sigma square window with no
    cut-off: with integer keypoints at stride 1 and no cut-off, the maps are the same."""
    from mmpose.codecs.utils.gaussian_heatmap import generate_gaussian_heatmaps

    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.integers(0, 64, (5, 17, 2)).astype(float), rng.integers(0, 3, (5, 17, 1))], 2)
    ours = keypoint_heatmaps(kps, (64, 64), TargetParams(stride=1, sigma=2.0, cutoff=0.0))
    ref, _ = generate_gaussian_heatmaps((64, 64), kps[:, :, :2], (kps[:, :, 2] > 0).astype(np.float32), 2.0)
    assert np.abs(ours - ref).max() < 1e-5


def test_background_channel():
    heat = keypoint_heatmaps(_random_persons(1), (24, 20), TargetParams(stride=4))
    full = with_background(heat)
    assert full.shape == (heat.shape[0] + 1, 24, 20)
    np.testing.assert_allclose(full[-1], np.clip(1 - heat.max(0), 0, None))


def test_unlabeled_keypoints_never_count():
    kps = np.zeros((1, 18, 3))
    kps[0, 0] = (20, 20, 0)
    assert keypoint_heatmaps(kps, (10, 10), TargetParams(stride=4)).max() == 0


def _connected(lab, limbs):
    """Labeled keypoints in the largest group joined by labeled limbs (a keypoint whose limbs all
    lack their other end has no PAF, so no bottom-up decoder can attach it to its person)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = [(a, b) for a, b in limbs if lab[a] and lab[b]]
    if not edges:
        return np.zeros_like(lab)
    a, b = np.array(edges).T
    n, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(lab),) * 2), directed=False)
    sizes = np.bincount(comp[lab], minlength=n)
    return lab & (comp == sizes.argmax())


@needs_shared
def test_targets_of_real_annotations_decode_back_to_the_people():
    ds = load_coco(COCO_SAMPLE)
    lay, kps = target_layout(ds, "openpose18")
    p = TargetParams(stride=4, sigma=4.0)
    by_image = ds.indices_by_image()
    checked = 0
    for im in ds.images:
        rows = by_image[im.id]
        t = make_targets((im.height, im.width), kps[rows], lay.limbs, None, max(im.height, im.width), p)
        found = decode(t.heatmaps[:-1], t.pafs, lay.limbs, p.stride)
        for truth in t.keypoints:
            if (truth[:, 2] > 0).sum() < 4:
                continue
            lab = _connected(truth[:, 2] > 0, lay.limbs)
            # some decoded person has each of these keypoints within one stride
            errs = [np.where(f[:, 2] > 0, np.linalg.norm(f[:, :2] - truth[:, :2], axis=1), np.inf)[lab]
                    for f in found]
            assert any((e <= p.stride).all() for e in errs), f"person on image {im.id} not recovered"
            checked += 1
    assert checked == 12


@needs_shared
def test_render_cli_writes_arrays_and_pictures(tmp_path):
    res = run_cli("render", COCO_SAMPLE, "--images", SHARED / "coco", "-o", tmp_path, "--decode",
                  "--image-ids", "785")
    assert res.exit_code == 0, res.stderr
    z = np.load(tmp_path / "000000000785.npz")
    assert z["heatmaps"].shape[0] == 19 and z["pafs"].shape[0] == 38
    assert z["heatmaps"].shape[1:] == z["pafs"].shape[1:] == z["mask_crowd"].shape
    assert z["heatmaps"].shape[1] == int(np.ceil(425 * float(z["scale"]) / 8))
    assert (tmp_path / "000000000785_overview.png").stat().st_size > 1000
    assert (tmp_path / "000000000785_channels.png").exists()
    assert load_coco(tmp_path / "decoded.json").category.keypoints == list(OPENPOSE18.keypoints)


def test_render_sample_data_coco17_layout(tmp_path):
    res = run_cli("render", SAMPLE / "coco" / "sample.json", "--images", SAMPLE / "images", "-o", tmp_path,
                  "--layout", "coco17", "--stride", "4")
    assert res.exit_code == 0, res.stderr
    z = np.load(tmp_path / "sample_1.npz")
    assert z["heatmaps"].shape[0] == 18 and z["pafs"].shape[0] == 38


@needs_shared
def test_render_custom_category_natively(tmp_path):
    crowd = SHARED / "crowdpose"
    res = run_cli("render", crowd / "test_crowdpose.json", "--images", crowd, "-o", tmp_path, "--layout", "native")
    assert res.exit_code == 0, res.stderr
    z = np.load(tmp_path / "106848.npz")
    assert z["heatmaps"].shape[0] == 15 and list(z["keypoint_names"][:2]) == ["left_shoulder", "right_shoulder"]
    res = run_cli("render", crowd / "test_crowdpose.json", "--images", crowd, "-o", tmp_path / "b")
    assert res.exit_code == 2 and "cannot render layout openpose18 from a 'custom' category" in res.stderr
