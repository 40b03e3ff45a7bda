import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.coco import load_coco
from annotate.dataset import Category, DatasetBuilder
from annotate.errors import PosekitError
from annotate.io import write_bytes_atomic
from annotate.skeletons import COCO17, MPII16
from converters.formats import Context, read_dataset
from converters.labelme import dataset_to_labelme, parse_labelme

from conftest import COCO_SAMPLE, SAMPLE, SHARED, examples, needs_shared, run_cli
from test_fuzz import mutated


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


def read_labelme(folder, layout=None, images=None, skip_bad=True, **options):
    """A LabelMe folder read as every command reads it (the account settled): the dataset and
    the bad files (skipped unless ``skip_bad`` is off)."""
    ctx = Context(images=images, layout=layout, skip_bad=skip_bad, **options)
    source, _ = read_dataset(folder, ctx, "labelme")
    return source.ds, ctx.bad_files


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
    ds, errors = read_labelme(d, "coco17", box_margin=0.1)
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


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_property_coco_labelme_coco_round_trip(tmp_path_factory, ds):
    tmp = tmp_path_factory.mktemp("rt")
    _write_docs(dataset_to_labelme(ds, tmp / "lm", tmp / "images"))
    (tmp / "images").mkdir()
    back, errors = read_labelme(tmp / "lm", "coco17", tmp / "images")
    assert not errors
    a, b = assert_same_persons(ds, back)
    np.testing.assert_array_equal(np.isnan(ds.score[a]), np.isnan(back.score[b]))
    assert [ds.extra[i].get("description") for i in a] == [back.extra[i].get("description") for i in b]


# --- matching labels, bad files, the account

def test_a_label_that_spells_two_keypoints_is_refused_naming_both(tmp_path):
    cat = Category(1, "person", ["head", "head_top"], [])
    with pytest.raises(PosekitError, match=r"'Head Top' is a spelling of two keypoints, 'head' and 'head_top'"):
        _parse(tmp_path, _doc([_pt("Head Top", 1, 1)]), cat)
    item = _parse(tmp_path, _doc([_pt("head_top", 1, 1), _pt("head", 2, 2)]), cat)  # exact names: no doubt
    assert item.persons[0].keypoints[:, :2].tolist() == [[2, 2], [1, 1]]


def test_a_keypoint_named_like_an_occluded_label_is_that_keypoint(tmp_path):
    cat = Category(1, "person", ["x", "x_occluded"], [])
    item = _parse(tmp_path, _doc([_pt("x_occluded", 5, 5), _pt("x", 6, 6)]), cat)
    assert item.persons[0].keypoints.tolist() == [[6, 6, 2], [5, 5, 2]]


def _two_files(folder, bad_label="tail"):
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_doc([_pt("nose", 1, 1)])))
    (folder / "b.json").write_text(json.dumps(_doc([_pt(bad_label, 1, 1)])))


def test_bad_files_refuse_the_conversion_saying_how_many_or_are_skipped_and_counted(tmp_path):
    _two_files(tmp_path / "lm")
    res = run_cli("convert", "labelme-to-coco", tmp_path / "lm", "-o", tmp_path / "o.json")
    assert res.exit_code == 2 and "1 bad part(s) of this labelme source" in res.stderr and "--skip-bad" in res.stderr
    assert "b.json" in res.stderr and not (tmp_path / "o.json").exists()
    res = run_cli("convert", "labelme-to-coco", tmp_path / "lm", "-o", tmp_path / "o.json", "--skip-bad")
    assert res.exit_code == 0, res.stderr
    assert "1 bad LabelMe files skipped" in res.stdout and len(json.loads((tmp_path / "o.json").read_text())["images"]) == 1


def test_every_person_and_point_read_is_carried_or_counted(tmp_path):
    """The account: a polygon alone places no person (counted), other shapes are counted, a
    person deleted in labelme is named, and persons only the posekit block holds come back."""
    lm = tmp_path / "lm"
    lm.mkdir()
    poly = {"label": "person", "points": [[1, 1], [9, 1], [9, 9]], "group_id": 3, "shape_type": "polygon", "flags": {}}
    line = {"label": "x", "points": [[1, 1], [5, 1]], "group_id": None, "shape_type": "line", "flags": {}}
    doc = _doc([_pt("nose", 10, 10, 1), _pt("left_eye", 12, 9, 1), _pt("nose", 30, 30, 2), poly, line])
    doc["posekit"] = {"persons": [{"group_id": 1, "shapes": 2, "id": 7}, {"group_id": 4, "shapes": 3, "id": 8},
                                  {"group_id": 5, "shapes": 0, "id": 9, "bbox": None}]}
    (lm / "a.json").write_text(json.dumps(doc))
    ctx = Context()
    source, _ = read_dataset(lm, ctx, "labelme")  # raises when the account does not add up
    ds = source.ds
    assert dict(ctx.account) == {"images": 1, "persons": 4, "keypoints": 3}
    assert sorted(ds.ann_id.tolist()) == [1, 7, 9] and ctx.notes.dropped("persons") == 1
    assert "1 person polygons without a labeled point or box" in ctx.notes.line()
    assert "1 persons deleted in LabelMe" in ctx.notes.line() and "1 line shapes" in ctx.notes.line()


# --- where the images are: --images, else found from the files

def _labelme_tool_folder(tmp_path, names):
    """What `labelme IMAGES --output OUT` saves: OUT/<stem>.json, imagePath relative to OUT."""
    import cv2

    images, out = tmp_path / "IMAGES", tmp_path / "OUT"
    out.mkdir()
    for i, name in enumerate(names):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / name), np.zeros((20 + i, 30, 3), np.uint8))
        doc = _doc([_pt("nose", 5, 5 + i)], image=f"../IMAGES/{name}", w=None, h=None)
        del doc["imageWidth"], doc["imageHeight"]
        (out / f"{Path(name).stem}.json").write_text(json.dumps(doc))
    return images, out


@pytest.mark.parametrize("names", [["a.jpg", "b.png"], ["cam1/a.jpg", "cam2/b.jpg"]])
def test_a_folder_labelme_saved_with_output_reads_with_no_flag(tmp_path, names):
    images, out = _labelme_tool_folder(tmp_path, names)
    ctx = Context()
    source, _ = read_dataset(out, ctx, "labelme")
    assert source.images_dir.resolve() == images.resolve()
    assert [(im.file_name, im.height) for im in source.ds.images] == [(names[0], 20), (names[1], 21)]
    res = run_cli("convert", "labelme-to-coco", out, "-o", tmp_path / "c.json")
    assert res.exit_code == 0, res.stderr


def test_images_in_no_one_folder_are_refused_asking_for_images(tmp_path):
    images, out = _labelme_tool_folder(tmp_path, ["a.jpg"])
    doc = json.loads((out / "a.json").read_text())
    doc["imagePath"] = "../" * 40 + "a.jpg"  # resolves to /a.jpg: the images share only /
    (out / "z.json").write_text(json.dumps(dict(doc, imageWidth=4, imageHeight=4)))
    res = run_cli("convert", "labelme-to-coco", out, "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and "pass --images DIR" in res.stderr and not (tmp_path / "c.json").exists()
    res = run_cli("convert", "labelme-to-coco", out, "-o", tmp_path / "c.json", "--images", images)
    assert res.exit_code == 2 and "z.json" in res.stderr and "points outside" in res.stderr


def test_images_outside_the_folder_posekit_files_name_are_refused(tmp_path):
    ds = load_coco(COCO_SAMPLE)
    out = tmp_path / "lm"
    _write_docs(dataset_to_labelme(ds, out, SHARED / "coco"))
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "z.jpg").write_bytes((SHARED / "coco" / ds.images[0].file_name).read_bytes())
    (out / "z.json").write_text(json.dumps(_doc([_pt("nose", 1, 1)], image="../elsewhere/z.jpg")))
    res = run_cli("convert", "labelme-to-coco", out, "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and "z.json" in res.stderr and "pass --images DIR" in res.stderr


# --- a file posekit wrote, then changed by hand (or by a tool): read, or refused, never a crash

def _posekit_doc():
    ds = load_coco(COCO_SAMPLE)
    docs = dataset_to_labelme(ds, Path("lm"))
    return json.loads(docs[Path("lm") / f"{Path(ds.images[0].file_name).stem}.json"]), ds.images[0].file_name


POSEKIT_DOC, POSEKIT_IMAGE = _posekit_doc()


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=mutated(POSEKIT_DOC))
def test_fuzz_a_changed_posekit_file_reads_or_is_refused_and_the_account_adds_up(doc, tmp_path_factory):
    lm = tmp_path_factory.mktemp("fuzz")
    (lm / POSEKIT_IMAGE).symlink_to(SHARED / "coco" / POSEKIT_IMAGE)
    (lm / "a.json").write_text(json.dumps(doc))
    try:
        read_labelme(lm, skip_bad=False)
    except PosekitError as exc:
        assert "posekit bug" not in str(exc)
