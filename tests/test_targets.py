import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annotate.coco import load_coco
from annotate.render import make_targets, target_layout
from annotate.skeletons import COCO17, OPENPOSE18
from annotate.targets import (OpenPoseCodec, TargetParams, decode, keypoint_heatmaps, part_affinity_fields,
                              with_background)

from conftest import COCO_SAMPLE, examples
from reference_targets import heatmaps_dense, heatmaps_windowed, pafs_dense, pafs_windowed


def _random_persons(seed, n=4, k=18, size=96):
    rng = np.random.default_rng(seed)
    kps = np.concatenate([rng.uniform(-10, size + 10, (n, k, 2)), rng.integers(0, 3, (n, k, 1))], axis=2)
    kps[0, 1] = kps[0, 2]  # a zero-length limb must be skipped
    return kps


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("stride", [1, 4, 8])
def test_heatmaps_match_the_windowed_reference_and_the_plain_maths(seed, stride):
    kps = _random_persons(seed)
    grid = (96 // stride, 80 // stride)
    ours = keypoint_heatmaps(kps, grid, TargetParams(stride=stride, sigma=5.0))
    ref = heatmaps_windowed(kps, grid, stride, 5.0)
    assert ours.max() > 0.5
    assert np.abs(ours - ref).max() < 1e-5
    assert np.abs(ref - heatmaps_dense(kps, grid, stride, 5.0)).max() < 1e-5  # the windows cut nothing off


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("stride, width", [(1, 3.0), (4, 1.0), (8, 1.0), (8, 0.0)])
def test_pafs_match_the_windowed_reference_and_the_plain_maths(seed, stride, width):
    kps = _random_persons(seed)
    grid = (96 // stride, 80 // stride)
    ours = part_affinity_fields(kps, OPENPOSE18.limbs, grid, TargetParams(stride=stride, paf_width=width))
    ref = pafs_windowed(kps, OPENPOSE18.limbs, grid, stride, width)
    assert np.abs(ours - ref).max() < 1e-5
    assert np.abs(ref - pafs_dense(kps, OPENPOSE18.limbs, grid, stride, width)).max() < 1e-5
    if width:
        assert np.abs(ours).max() > 0.5


def test_no_cutoff_is_a_square_three_sigma_window():
    kps = _random_persons(5)
    p = TargetParams(stride=4, sigma=5.0, cutoff=0.0)
    ours = keypoint_heatmaps(kps, (24, 20), p)
    assert np.abs(ours - heatmaps_windowed(kps, (24, 20), 4, 5.0, cutoff=0.0)).max() < 1e-5
    assert np.abs(ours - heatmaps_dense(kps, (24, 20), 4, 5.0, cutoff=0.0)).max() < 1e-5


# coordinates on the cell centres and the grid lines between them (ties of every test in the
# maths), off-grid, unlabeled, and the same point twice (zero-length limbs)
_coord = st.one_of(st.integers(-8, 60).map(float), st.integers(-16, 120).map(lambda v: v / 2),
                   st.floats(-20, 70, allow_nan=False))


@st.composite
def _scene(draw):
    k = draw(st.integers(2, 7))
    n = draw(st.integers(0, 5))
    limbs = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=8))
    kps = np.array([[[draw(_coord), draw(_coord), draw(st.sampled_from([0, 1, 2]))] for _ in range(k)]
                    for _ in range(n)], dtype=np.float64).reshape(n, k, 3)
    if n and draw(st.booleans()):
        kps[0, limbs[0][1], :2] = kps[0, limbs[0][0], :2]
    stride = draw(st.sampled_from([1, 2, 4, 8]))
    p = TargetParams(stride=stride, sigma=draw(st.sampled_from([1.0, 2.0, 3.5, 7.0])),
                     paf_width=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])), cutoff=draw(st.sampled_from([0.01, 0.0])))
    grid = (draw(st.integers(1, 64 // stride + 1)), draw(st.integers(1, 64 // stride + 1)))
    return kps, tuple(limbs), p, grid


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scene())
@example((np.array([[[0.0, 0.0, 0.0], [2.0, 0.0, 1.0], [0.0, -6.58076887e-212, 1.0]],
                    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
          ((1, 2),), TargetParams(stride=1, sigma=1.0, paf_width=1.0, cutoff=0.01), (2, 1)))  # make fuzz, 2026-12-05
def test_codec_encodes_exactly_the_plain_maths(scene):
    """Against the maths at every cell (the windowed reference's integer box bounds can drop a
    cell the capsule test accepts by a rounding error, e.g. an end point at x = 1e-279)."""
    kps, limbs, p, grid = scene
    codec = OpenPoseCodec(kps.shape[1], limbs, p)
    t = codec.encode(kps, grid)
    heat = heatmaps_dense(kps, grid, p.stride, p.sigma, p.cutoff)
    assert t.heatmaps.shape == (kps.shape[1] + 1, *grid) and t.pafs.shape == (2 * len(limbs), *grid)
    assert np.abs(t.heatmaps[:-1] - heat).max() < 1e-5
    assert np.abs(t.heatmaps[-1] - (1 - heat.max(0))).max() < 1e-5
    assert np.abs(t.pafs - pafs_dense(kps, limbs, grid, p.stride, p.paf_width)).max() < 1e-5


def test_large_windows_and_far_off_points_are_drawn_exactly():
    """Stride 1 with a wide sigma and PAF width (windows of thousands of cells), points far off the
    grid and huge coordinates (window bounds that no integer holds) against the plain maths."""
    kps = _random_persons(2, n=6, size=120)
    kps[1, 3, :2] = (1e150, -1e150)
    kps[2, 4, :2] = (-5e5, 60)
    p = TargetParams(stride=1, sigma=6.0, paf_width=2.0)
    codec = OpenPoseCodec(18, OPENPOSE18.limbs, p)
    t = codec.encode(kps, (120, 100))
    heat = heatmaps_dense(kps, (120, 100), 1, 6.0)
    assert np.abs(t.heatmaps[:-1] - heat).max() < 1e-5
    assert np.abs(t.pafs - pafs_dense(kps, OPENPOSE18.limbs, (120, 100), 1, 2.0)).max() < 1e-5
    assert t.heatmaps.max() > 0.5 and np.abs(t.pafs).max() > 0.5
    # a limb whose length does not fit a float64 has no direction: nothing is drawn for it (the
    # plain maths would give v = 0 and count every cell of the map as inside it)
    huge = kps.copy()
    huge[1, 3, :2] = (1e300, -1e300)
    kept = kps.copy()
    kept[1, 3, 2] = 0
    want = codec.encode(kept, (120, 100)).pafs
    np.testing.assert_array_equal(codec.encode(huge, (120, 100)).pafs, want)


def test_out_arrays_must_fit():
    with pytest.raises(ValueError, match="C-contiguous float32 array of shape"):
        keypoint_heatmaps(np.zeros((1, 18, 3)), (4, 4), TargetParams(), out=np.zeros((18, 4, 4)))


def test_codec_equals_the_separate_functions():
    kps = _random_persons(3)
    p = TargetParams(stride=4)
    t = OpenPoseCodec.from_layout(OPENPOSE18, p).encode(kps, (24, 20))
    np.testing.assert_array_equal(t.heatmaps, with_background(keypoint_heatmaps(kps, (24, 20), p)))
    np.testing.assert_array_equal(t.pafs, part_affinity_fields(kps, OPENPOSE18.limbs, (24, 20), p))
    assert t.heatmaps.dtype == t.pafs.dtype == np.float32


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
    gaussian = pytest.importorskip("mmpose.codecs.utils.gaussian_heatmap")
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.integers(0, 64, (5, 17, 2)).astype(float), rng.integers(0, 3, (5, 17, 1))], 2)
    ours = keypoint_heatmaps(kps, (64, 64), TargetParams(stride=1, sigma=2.0, cutoff=0.0))
    ref, _ = gaussian.generate_gaussian_heatmaps((64, 64), kps[:, :, :2], (kps[:, :, 2] > 0).astype(np.float32), 2.0)
    assert np.abs(ours - ref).max() < 1e-5


def test_background_channel():
    heat = keypoint_heatmaps(_random_persons(1), (24, 20), TargetParams(stride=4))
    full = with_background(heat)
    assert full.shape == (heat.shape[0] + 1, 24, 20)
    np.testing.assert_allclose(full[-1], np.clip(1 - heat.max(0), 0, None))


def test_unlabeled_and_non_finite_keypoints_never_count():
    kps = np.zeros((1, 18, 3))
    kps[0, 0] = (20, 20, 0)
    kps[0, 1] = (np.nan, 20, 2)
    kps[0, 2] = (np.inf, 20, 2)
    t = OpenPoseCodec.from_layout(OPENPOSE18, TargetParams(stride=4)).encode(kps, (10, 10))
    assert t.heatmaps[:-1].max() == 0 and t.pafs.max() == 0 and (t.heatmaps[-1] == 1).all()


def test_codec_refuses_limbs_outside_the_layout_and_wrong_shapes():
    with pytest.raises(ValueError, match="outside 0..2"):
        OpenPoseCodec(3, ((0, 3),))
    with pytest.raises(ValueError, match=r"expected \(N, 18, 3\)"):
        OpenPoseCodec.from_layout(OPENPOSE18).encode(np.zeros((1, 17, 3)), (4, 4))


def test_decode_without_a_skeleton_says_why():
    codec = OpenPoseCodec(3, ())
    t = codec.encode(np.array([[[4, 4, 2], [8, 8, 2], [12, 4, 2]]], float), (4, 4))
    assert t.pafs.shape == (0, 4, 4)
    with pytest.raises(ValueError, match="no skeleton .* no person can be decoded"):
        codec.decode(t.heatmaps, t.pafs)


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


@pytest.mark.parametrize("layout_name", ["openpose18", "coco17"])
def test_targets_of_real_annotations_decode_back_to_the_people(layout_name):
    ds = load_coco(COCO_SAMPLE)
    lay, kps = target_layout(ds, layout_name)
    codec = OpenPoseCodec.from_layout(lay, TargetParams(stride=4, sigma=4.0))
    by_image = ds.indices_by_image()
    checked = 0
    for im in ds.images:
        rows = by_image[im.id]
        t = make_targets((im.height, im.width), kps[rows], codec, None, max(im.height, im.width))
        found = codec.decode(t.heatmaps, t.pafs)
        for truth in t.keypoints:
            if (truth[:, 2] > 0).sum() < 4:
                continue
            lab = _connected(truth[:, 2] > 0, lay.limbs)
            # some decoded person has each of these keypoints within one stride
            errs = [np.where(f[:, 2] > 0, np.linalg.norm(f[:, :2] - truth[:, :2], axis=1), np.inf)[lab]
                    for f in found]
            assert any((e <= codec.params.stride).all() for e in errs), f"person on image {im.id} not recovered"
            checked += 1
    assert checked == 12
    assert lay == (OPENPOSE18 if layout_name == "openpose18" else COCO17)


def test_decode_function_is_the_codec():
    ds = load_coco(COCO_SAMPLE)
    lay, kps = target_layout(ds, "openpose18")
    codec = OpenPoseCodec.from_layout(lay, TargetParams(stride=4, sigma=4.0))
    rows = ds.indices_by_image()[ds.images[0].id]
    t = codec.encode(kps[rows], (120, 160))
    np.testing.assert_array_equal(decode(t.heatmaps[:-1], t.pafs, lay.limbs, 4), codec.decode(t.heatmaps, t.pafs))
