"""The layouts added beside COCO-17/MPII-16/OpenPose-18, their mappings to and from COCO-17, and
keypoint names as spelled in the wild."""
import json

import numpy as np
import pytest

from annotate.skeletons import (AIC14, BODY25, COCO17, CROWDPOSE14, HALPE26, LAYOUTS, MAPPINGS, MPI15, MPII16,
                                OPENPOSE18, canonical_name, find_layout, get_layout, get_mapping,
                                layout_for_names, mapping_between)
from conftest import CROWDPOSE_SAMPLE

NEW = (CROWDPOSE14, AIC14, HALPE26, BODY25, MPI15)


@pytest.mark.parametrize("lay", NEW, ids=lambda l: l.name)
def test_layout_shapes(lay):
    sizes = {"crowdpose14": (14, 15), "aic14": (14, 14), "halpe26": (26, 27), "body25": (25, 24), "mpi15": (15, 14)}
    assert (lay.num_keypoints, len(lay.limbs)) == sizes[lay.name]
    assert all(0 <= a < lay.num_keypoints and 0 <= b < lay.num_keypoints and a != b for a, b in lay.limbs)
    flip = lay.flip_indices
    assert [flip[i] for i in flip] == list(range(lay.num_keypoints))
    for a, b in lay.flip_pairs:  # a pair is the same part on both sides
        ca, cb = canonical_name(lay.keypoints[a]), canonical_name(lay.keypoints[b])
        assert {ca.split("_", 1)[0], cb.split("_", 1)[0]} == {"left", "right"}
        assert ca.split("_", 1)[1] == cb.split("_", 1)[1]
    assert get_layout(lay.name) is lay and LAYOUTS[lay.name] is lay


@pytest.mark.parametrize("alias,name", [("CrowdPose", "crowdpose14"), ("aic", "aic14"), ("Halpe-26", "halpe26"),
                                        ("BODY_25", "body25"), ("openpose25", "body25"), ("MPI", "mpi15"),
                                        ("coco", "coco17")])
def test_aliases(alias, name):
    assert get_layout(alias).name == name


@pytest.mark.parametrize("spelled,canonical", [
    ("Right-ankle", "right_ankle"), ("r_ankle", "right_ankle"), ("RAnkle", "right_ankle"), ("ankle_r", "right_ankle"),
    ("Rknee", "right_knee"), ("LBigToe", "left_big_toe"), ("left big toe", "left_big_toe"),
    ("Head top", "head_top"), ("top_head", "head_top"), ("head", "head_top"), ("HeadTop", "head_top"),
    ("MidHip", "mid_hip"), ("pelvis", "mid_hip"), ("hip", "mid_hip"), ("Left Shoulder", "left_shoulder"),
    ("leftShoulder", "left_shoulder"), ("LShoulder", "left_shoulder"), ("l_shoulder", "left_shoulder"),
    ("REye", "right_eye"), ("upper_neck", "upper_neck"), ("Neck", "neck"), ("nose", "nose"),
    ("keypoint_3", "keypoint_3")])
def test_spellings_in_the_wild(spelled, canonical):
    assert canonical_name(spelled) == canonical


def test_layouts_found_in_any_spelling():
    mpii_spelled = ["Right-ankle", "Right-knee", "Right-hip", "Left-hip", "Left-knee", "Left-ankle", "Pelvis",
                    "Thorax", "Upper-neck", "Head top", "Right-wrist", "Right-elbow", "Right-shoulder",
                    "Left-shoulder", "Left-elbow", "Left-wrist"]
    assert find_layout(mpii_spelled) is MPII16 and layout_for_names(mpii_spelled) is MPII16
    openpose_body25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
                       "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
                       "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]
    assert find_layout(openpose_body25) is BODY25
    # mmpose's CrowdPose sample names its head point "head"; mmpose's config says "top_head"
    names = json.loads(CROWDPOSE_SAMPLE.read_text())["categories"][0]["keypoints"]
    assert find_layout(names) is CROWDPOSE14
    assert find_layout([n.replace("head", "top_head") if n == "head" else n for n in names]) is CROWDPOSE14
    assert find_layout(["a", "b"]) is None and layout_for_names(["a", "b"]).name == "custom"
    # no two built-in layouts are the same names in another spelling
    canon = [tuple(canonical_name(n) for n in lay.keypoints) for lay in LAYOUTS.values()]
    assert len(set(canon)) == len(canon)


def _pairs_by_name(m):
    return {(m.src.keypoints[s], m.dst.keypoints[d]) for s, d in m.pairs}


def test_body25_to_coco17_is_the_documented_mapping():
    m = get_mapping("body25", "coco17")
    assert m is MAPPINGS[("body25", "coco17")]
    assert _pairs_by_name(m) == {(n, n) for n in COCO17.keypoints}
    assert dict(m.pairs) == {0: 0, 16: 1, 15: 2, 18: 3, 17: 4, 5: 5, 2: 6, 6: 7, 3: 8, 7: 9, 4: 10, 12: 11, 9: 12,
                             13: 13, 10: 14, 14: 15, 11: 16}
    assert m.midpoints == ()
    assert set(m.dropped) == {"neck", "mid_hip", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
                              "right_small_toe", "right_heel"}


def test_coco17_to_body25_derives_neck_and_mid_hip():
    m = get_mapping("coco17", "body25")
    kps = np.zeros((2, 17, 3))
    kps[:, :, 0] = np.arange(17) * 10
    kps[:, :, 1] = np.arange(17) * 5
    kps[:, :, 2] = 2
    kps[1, COCO17.index("right_hip"), 2] = 0  # one hip unlabeled: no mid-hip
    kps[1, COCO17.index("right_shoulder"), 2] = 1
    out = m.apply(kps)
    neck, mid = BODY25.index("neck"), BODY25.index("mid_hip")
    np.testing.assert_allclose(out[0, neck], ((50 + 60) / 2, (25 + 30) / 2, 2))
    np.testing.assert_allclose(out[0, mid], ((110 + 120) / 2, (55 + 60) / 2, 2))
    assert out[1, neck, 2] == 1 and out[1, mid, 2] == 0
    assert (out[:, [19, 20, 21, 22, 23, 24], 2] == 0).all()  # feet: not in COCO
    assert "derived neck (mean of left_shoulder, right_shoulder)" in m.describe()
    assert "not in the source (v=0): left_big_toe" in m.describe()


@pytest.mark.parametrize("lay,mapped,derived,dropped", [
    (CROWDPOSE14, 12, {"neck"}, {"head", "neck"}),
    (AIC14, 12, {"neck"}, {"head_top", "neck"}),
    (HALPE26, 17, {"neck", "hip"}, {"head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                                    "right_small_toe", "left_heel", "right_heel"}),
    (MPI15, 12, {"neck"}, {"head", "neck", "chest"}),
], ids=lambda x: getattr(x, "name", ""))
def test_named_mappings_to_and_from_coco17(lay, mapped, derived, dropped):
    to, back = MAPPINGS[(lay.name, "coco17")], MAPPINGS[("coco17", lay.name)]
    assert len(to.pairs) == len(back.pairs) == mapped
    assert all(canonical_name(a) == canonical_name(b) for a, b in _pairs_by_name(to))
    assert set(to.dropped) == dropped
    assert {lay.keypoints[d] for _, _, d in back.midpoints} == derived
    # COCO -> layout -> COCO keeps every mapped keypoint exactly
    rng = np.random.default_rng(0)
    kps = rng.uniform(0, 500, (5, 17, 3))
    kps[..., 2] = rng.integers(0, 3, (5, 17))
    again = to.apply(back.apply(kps))
    kept = [d for _, d in to.pairs]
    np.testing.assert_array_equal(again[:, kept], kps[:, kept])


def test_other_pairs_map_by_name():
    m = get_mapping("body25", "crowdpose14")  # no named mapping: by keypoint name
    assert ("neck", "neck") in _pairs_by_name(m) and len(m.pairs) == 13
    assert "not in the source (v=0): head" in m.describe()
    assert mapping_between(OPENPOSE18, BODY25).pairs and get_mapping("mpii16", "body25").pairs
    # MPII's pelvis is the centre of the hips, like BODY_25's MidHip
    assert ("pelvis", "mid_hip") in _pairs_by_name(get_mapping("mpii16", "body25"))
