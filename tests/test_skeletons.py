import numpy as np
import pytest

from annotate.skeletons import COCO17, LAYOUTS, MPII16, OPENPOSE18, get_layout, get_mapping, infer_flip_pairs


def test_layout_sizes_and_limbs():
    assert (COCO17.num_keypoints, len(COCO17.limbs)) == (17, 19)
    assert (MPII16.num_keypoints, len(MPII16.limbs)) == (16, 15)
    assert (OPENPOSE18.num_keypoints, len(OPENPOSE18.limbs)) == (18, 19)
    for lay in LAYOUTS.values():
        assert all(0 <= a < lay.num_keypoints and 0 <= b < lay.num_keypoints for a, b in lay.limbs)


@pytest.mark.parametrize("lay", list(LAYOUTS.values()), ids=lambda l: l.name)
def test_flip_pairs_mirror_names(lay):
    def side_free(n):
        return n.replace("left", "X").replace("right", "X").replace("l_", "X_").replace("r_", "X_")

    for a, b in lay.flip_pairs:
        na, nb = lay.keypoints[a], lay.keypoints[b]
        assert na != nb and side_free(na) == side_free(nb)
    flip = lay.flip_indices
    assert [flip[i] for i in flip] == list(range(lay.num_keypoints))


def test_inferred_flip_pairs_match_builtin():
    for lay in (COCO17, MPII16, OPENPOSE18):
        assert {frozenset(p) for p in infer_flip_pairs(lay.keypoints)} == {frozenset(p) for p in lay.flip_pairs}


def test_aliases():
    assert get_layout("COCO") is COCO17 and get_layout("mpii") is MPII16 and get_layout("openpose") is OPENPOSE18
    with pytest.raises(KeyError):
        get_layout("nope")


def test_mpii_to_coco_mapping_is_the_documented_one():
    m = get_mapping("mpii16", "coco17")
    expected = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
    assert dict(m.pairs) == expected
    for s, d in m.pairs:  # the names agree
        assert MPII16.keypoints[s][2:] in COCO17.keypoints[d]
    assert m.dropped == ["pelvis", "thorax", "upper_neck", "head_top"]
    kps = np.random.default_rng(0).uniform(1, 100, (3, 16, 3))
    kps[..., 2] = 2
    out = m.apply(kps)
    assert out.shape == (3, 17, 3) and (out[:, :5, 2] == 0).all()
    back = get_mapping("coco17", "mpii16").apply(out)
    keep = list(expected)
    np.testing.assert_array_equal(back[:, keep], kps[:, keep])


def test_openpose_neck_is_midpoint_only_when_both_shoulders():
    kps = np.zeros((2, 17, 3))
    kps[:, 5] = (10, 20, 2)
    kps[:, 6] = (30, 40, 1)
    kps[1, 6, 2] = 0
    out = get_mapping("coco17", "openpose18").apply(kps)
    neck = OPENPOSE18.index("neck")
    np.testing.assert_allclose(out[0, neck], (20, 30, 1))
    assert out[1, neck, 2] == 0
    assert out[0, OPENPOSE18.index("left_shoulder"), 0] == 10
