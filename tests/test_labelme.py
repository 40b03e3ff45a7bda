import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.coco import load_coco
from annotate.dataset import Category, DatasetBuilder
from annotate.errors import PosekitError
from annotate.io import write_bytes_atomic
from annotate.skeletons import COCO17, MPII16
from converters.labelme import dataset_to_labelme, parse_labelme, read_labelme_folder

from conftest import COCO_SAMPLE, SAMPLE, SHARED, needs_shared, run_cli


def assert_same_persons(a, b):
    """Both datasets hold the same persons (matched by annotation id): image, keypoints and
    visibility exactly, boxes to float precision, crowd flags. Returns the two row orders."""
    order_a, order_b = np.argsort(a.ann_id), np.argsort(b.ann_id)
    np.testing.assert_array_equal(a.ann_id[order_a], b.ann_id[order_b])
    np.testing.assert_array_equal(a.image_id[order_a], b.image_id[order_b])
    np.testing.assert_array_equal(a.keypoints[order_a], b.keypoints[order_b])
    np.testing.assert_allclose(a.bbox[order_a], b.bbox[order_b])
    np.testing.assert_array_equal(a.iscrowd[order_a], b.iscrowd[order_b])
    return order_a, order_b


def _write_docs(docs):
    for path, data in docs.items():
        write_bytes_atomic(path, data)


@needs_shared
def test_real_coco_to_labelme_to_coco_is_identical(tmp_path):
    out = tmp_path / "labelme"
    res = run_cli("convert", "coco-to-labelme", COCO_SAMPLE, "-o", out, "--images", SHARED / "coco")
    assert res.exit_code == 0, res.stderr
    res = run_cli("convert", "labelme-to-coco", out, "--images", SHARED / "coco", "-o", tmp_path / "back.json")
    assert res.exit_code == 0, res.stderr
    a, b = load_coco(COCO_SAMPLE), load_coco(tmp_path / "back.json")
    # v=0 points are written as (0, 0) in the original, so keypoints match exactly
    order_a, order_b = assert_same_persons(a, b)
    np.testing.assert_allclose(a.area[order_a], b.area[order_b])
    assert {im.id: im.file_name for im in a.images} == {im.id: im.file_name for im in b.images}
    # zero-keypoint persons survive as a box-only person; segmentation rides along as an attribute
    assert (b.num_keypoints == 0).sum() == (a.num_keypoints == 0).sum() == 2
    assert all(b.extra[r]["segmentation"] == a.extra[q]["segmentation"] for q, r in zip(order_a, order_b))


@needs_shared
def test_written_files_load_in_labelme_itself(tmp_path):
    from labelme import LabelFile

    run_cli("convert", "coco-to-labelme", COCO_SAMPLE, "-o", tmp_path, "--images", SHARED / "coco")
    files = sorted(p for p in tmp_path.glob("*.json") if not p.name.startswith("."))
    assert len(files) == 4
    for f in files:
        lf = LabelFile(str(f))
        assert lf.otherData["posekit"]["categories"][0]["keypoints"][0] == "nose"  # labelme keeps our block
        points = [s for s in lf.shapes if s["shape_type"] == "point"]
        rects = [s for s in lf.shapes if s["shape_type"] == "rectangle"]
        assert points and rects
        assert all(s["group_id"] is not None for s in lf.shapes)
        assert lf.image_data  # labelme found and read the image through imagePath


def _doc(shapes, image="img.png", w=100, h=80):
    return {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": h, "imageWidth": w}


def _pt(label, x, y, gid=None, **extra):
    return {"label": label, "points": [[x, y]], "group_id": gid, "shape_type": "point", "flags": {}, **extra}


def _parse(tmp_path, doc, layout=COCO17):
    path = tmp_path / "a.json"
    return parse_labelme(doc, path, tmp_path, layout)


def test_label_spellings_visibility_conventions_and_float_coordinates(tmp_path):
    shapes = [_pt("Left Shoulder", 10.25, 20.75), _pt("right-shoulder", 30, 20, flags=None),
              _pt("left_elbow", 12, 40, difficult=True), _pt("right_elbow_occluded", 28, 40),
              _pt("NOSE", 20, 5, visible=False)]
    shapes[1]["flags"] = {"occluded": True}
    item = _parse(tmp_path, _doc(shapes))
    (p,) = item.persons
    k = p.keypoints
    assert tuple(k[COCO17.index("left_shoulder")]) == (10.25, 20.75, 2)
    assert k[COCO17.index("right_shoulder"), 2] == 1  # flags.occluded
    assert k[COCO17.index("left_elbow"), 2] == 1  # difficult (X-AnyLabeling)
    assert k[COCO17.index("right_elbow"), 2] == 1  # _occluded suffix
    assert k[COCO17.index("nose"), 2] == 2  # shape-level "visible" is a display flag: ignored
    assert (k[COCO17.index("left_ankle")] == 0).all()


def test_group_ids_make_persons_and_rectangles_are_boxes(tmp_path):
    shapes = [_pt("nose", 10, 10, 1), _pt("nose", 60, 10, 2), _pt("left_eye", 62, 8, 2),
              {"label": "person", "points": [[70, 60], [50, 2]], "group_id": 2, "shape_type": "rectangle", "flags": {}}]
    item = _parse(tmp_path, _doc(shapes))
    assert [p.group_id for p in item.persons] == [1, 2]
    assert item.persons[1].bbox == [50, 2, 20, 58]
    assert item.persons[0].bbox is None  # later: keypoints' extent with a margin


def test_repeated_label_without_group_id_is_an_error_naming_file_and_label(tmp_path):
    with pytest.raises(PosekitError, match=r"a\.json: label 'nose' appears more than once without group_id"):
        _parse(tmp_path, _doc([_pt("nose", 1, 1), _pt("nose", 5, 5)]))


def test_unknown_label_is_an_error(tmp_path):
    with pytest.raises(PosekitError, match="'tail' is not a keypoint of layout coco17"):
        _parse(tmp_path, _doc([_pt("tail", 1, 1)]))


def test_mpii_layout_labels(tmp_path):
    item = _parse(tmp_path, _doc([_pt("head top", 5, 5), _pt("R-Ankle", 1, 70)]), MPII16)
    assert item.persons[0].keypoints[MPII16.index("head_top"), 2] == 2


def test_image_size_from_header_only_when_absent(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((33, 44, 3), np.uint8))
    doc = _doc([_pt("nose", 1, 1)])
    del doc["imageHeight"], doc["imageWidth"]
    item = _parse(tmp_path, doc)
    assert (item.width, item.height) == (44, 33)
    doc = _doc([_pt("nose", 1, 1)], w=640, h=480)  # present: trusted, image not opened
    item = _parse(tmp_path, doc)
    assert (item.width, item.height) == (640, 480)


def test_box_from_keypoint_extent_with_margin(tmp_path):
    d = tmp_path / "lm"
    d.mkdir()
    (d / "a.json").write_text(json.dumps(_doc([_pt("nose", 10, 10), _pt("left_ankle", 30, 50)])))
    ds, errors = read_labelme_folder(d, COCO17, box_margin=0.1)
    assert not errors
    np.testing.assert_allclose(ds.bbox[0], [8, 6, 24, 48])
    assert ds.area[0] == pytest.approx(24 * 48)


def test_sample_data_converts_with_its_occluded_points(tmp_path):
    res = run_cli("convert", "labelme-to-coco", SAMPLE / "labelme", "--images", SAMPLE / "images",
                  "-o", tmp_path / "s.json")
    assert res.exit_code == 0, res.stderr
    ds = load_coco(tmp_path / "s.json")
    ref = load_coco(SAMPLE / "coco" / "sample.json")
    np.testing.assert_allclose(ds.keypoints, ref.keypoints)
    assert (ds.keypoints[:, :, 2] == 1).sum() == 4  # left_wrist, right_knee, right_ankle, left_ear


# --- property test: any dataset survives COCO -> LabelMe -> COCO

coord = st.floats(min_value=0, max_value=500, allow_nan=False, width=32)


@st.composite
def datasets(draw):
    b = DatasetBuilder(Category.from_layout(COCO17))
    for i in range(draw(st.integers(1, 3))):
        iid = b.add_image(f"img_{i}.jpg", 640, 480)
        for _ in range(draw(st.integers(0, 3))):
            v = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=17, max_size=17)), float)
            xy = np.array(draw(st.lists(st.tuples(coord, coord), min_size=17, max_size=17)), float)
            kps = np.concatenate([xy, v[:, None]], 1)
            kps[v == 0, :2] = 0
            box = [draw(coord), draw(coord), draw(coord) + 1, draw(coord) + 1]
            score = draw(st.one_of(st.none(), st.floats(0, 1)))
            desc = draw(st.one_of(st.none(), st.text(min_size=1, max_size=5)))
            b.add_person(iid, kps, box, iscrowd=draw(st.booleans()) and not (v > 0).any(), score=score,
                         **({"description": desc} if desc else {}))
    return b.build()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_property_coco_labelme_coco_round_trip(tmp_path_factory, ds):
    tmp = tmp_path_factory.mktemp("rt")
    _write_docs(dataset_to_labelme(ds, tmp / "lm", tmp / "images"))
    (tmp / "images").mkdir()
    back, errors = read_labelme_folder(tmp / "lm", COCO17, images_dir=tmp / "images")
    assert not errors
    a, b = assert_same_persons(ds, back)
    np.testing.assert_array_equal(np.isnan(ds.score[a]), np.isnan(back.score[b]))
    assert [ds.extra[i].get("description") for i in a] == [back.extra[i].get("description") for i in b]
