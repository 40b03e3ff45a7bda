"""COCO <-> CVAT for images 1.1 XML (skeletons): round trips, a file as CVAT exports it
(outside/occluded, the svg's edges, grouped boxes, other shapes), Datumaro's CVAT reader on our
output; CVAT for video in both skeleton-track layouts (points inside each <skeleton frame>, or
nested point tracks); the account of every sample file; point-label matching; dotted image
names; hypothesis round trips."""
from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.dataset import Category
from conftest import COCO_SAMPLE, run_cli, examples
from test_convert_cli import COCO_IMAGES, assert_same_persons, coco_documents, materialise, persons

CVAT_EXPORT = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>4</id>
      <name>poses</name>
      <labels>
        <label><name>car</name><attributes></attributes></label>
        <label>
          <name>person</name>
          <type>skeleton</type>
          <attributes></attributes>
          <svg>&lt;line x1="36.8" y1="47.7" x2="86.8" y2="10.7" stroke="black" data-type="edge" data-node-from="2" stroke-width="0.5" data-node-to="3"&gt;&lt;/line&gt;&lt;line x1="25.1" y1="22.6" x2="36.8" y2="47.7" stroke="black" data-type="edge" data-node-from="1" stroke-width="0.5" data-node-to="2"&gt;&lt;/line&gt;&lt;circle r="1.5" stroke="black" fill="#b3b3b3" cx="25.1" cy="22.6" stroke-width="0.1" data-type="element node" data-element-id="1" data-node-id="1" data-label-name="Head top"&gt;&lt;/circle&gt;&lt;circle r="1.5" stroke="black" fill="#b3b3b3" cx="36.8" cy="47.7" stroke-width="0.1" data-type="element node" data-element-id="2" data-node-id="2" data-label-name="LShoulder"&gt;&lt;/circle&gt;&lt;circle r="1.5" stroke="black" fill="#b3b3b3" cx="86.8" cy="10.7" stroke-width="0.1" data-type="element node" data-element-id="3" data-node-id="3" data-label-name="LElbow"&gt;&lt;/circle&gt;</svg>
        </label>
        <label><name>Head top</name><type>points</type><attributes></attributes><parent>person</parent></label>
        <label><name>LShoulder</name><type>points</type><attributes></attributes><parent>person</parent></label>
        <label><name>LElbow</name><type>points</type><attributes></attributes><parent>person</parent></label>
        <label><name>person_box</name><type>rectangle</type><attributes></attributes></label>
      </labels>
    </task>
    <dumped>2024-01-01 00:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="frames/f1.jpg" width="640" height="480">
    <box label="person_box" source="manual" occluded="0" xtl="10.00" ytl="20.00" xbr="110.50" ybr="220.25" z_order="0" group_id="3">
    </box>
    <polygon label="car" source="manual" occluded="0" points="1.0,1.0;5.0,1.0;5.0,5.0" z_order="0">
    </polygon>
    <skeleton label="person" source="manual" z_order="0" group_id="3">
      <points label="Head top" source="manual" outside="0" occluded="0" points="54.47,94.81">
      </points>
      <points label="LShoulder" source="manual" outside="0" occluded="1" points="68.02,162.34">
      </points>
      <points label="LElbow" source="manual" outside="1" occluded="0" points="125.87,62.85">
      </points>
      <attribute name="pose">standing</attribute>
    </skeleton>
    <skeleton label="person" source="manual" z_order="0">
      <points label="Head top" source="manual" outside="0" occluded="0" points="300,100">
      </points>
      <points label="LShoulder" source="manual" outside="0" occluded="0" points="310,150">
      </points>
      <points label="LElbow" source="manual" outside="0" occluded="0" points="330,190">
      </points>
    </skeleton>
  </image>
  <image id="1" name="frames/f2.jpg" width="640" height="480">
  </image>
</annotations>
"""


def test_round_trip_on_real_coco(tmp_path):
    out = tmp_path / "a.xml"
    res = run_cli("convert", COCO_SAMPLE, "-o", out, "--to", "cvat")
    assert res.exit_code == 0, res.stderr
    root = ET.parse(out).getroot()
    labels = root.find("meta/task/labels")
    assert [x.findtext("type") for x in labels][:2] == ["skeleton", "points"]
    assert len(root.findall("image/skeleton")) == 14 and len(root.findall("image/skeleton/points")) == 14 * 17
    for sk in root.findall("image/skeleton"):  # the box is grouped with its skeleton
        box = [b for b in root.iter("box") if b.get("group_id") == sk.get("group_id")]
        assert len(box) == 1
    back = tmp_path / "back.json"
    res = run_cli("convert", out, "-o", back, "--to", "coco")
    assert res.exit_code == 0 and res.stdout.strip().endswith("everything carried"), res.stdout
    assert_same_persons(persons(COCO_SAMPLE), persons(back), tol=1e-9, box_tol=1e-9)
    from annotate.coco import load_coco

    src, again = load_coco(COCO_SAMPLE), load_coco(back)
    assert again.category.skeleton == src.category.skeleton  # edges travel in the svg


def test_reads_a_cvat_export(tmp_path):
    path = tmp_path / "annotations.xml"
    path.write_text(CVAT_EXPORT)
    out = tmp_path / "coco.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert "1 CVAT <polygon> shapes" in res.stdout
    from annotate.coco import load_coco

    ds = load_coco(out)
    assert ds.category.keypoints == ["Head top", "LShoulder", "LElbow"]
    assert ds.category.skeleton == [(1, 2), (0, 1)]
    assert [im.file_name for im in ds.images] == ["frames/f1.jpg", "frames/f2.jpg"]
    np.testing.assert_allclose(ds.keypoints[0], [[54.47, 94.81, 2], [68.02, 162.34, 1], [0, 0, 0]])
    np.testing.assert_allclose(ds.bbox[0], [10, 20, 100.5, 200.25])
    assert ds.extra[0]["attributes"] == {"pose": "standing"}
    # no box grouped with the second skeleton: its keypoints' extent grown by 10 %
    np.testing.assert_allclose(ds.bbox[1], [297, 91, 36, 108])
    assert len(ds) == 2 and not ds.iscrowd.any()


DATA = Path(__file__).parent / "data" / "cvat"


def _load(path):
    from annotate.coco import load_coco

    return load_coco(path)


def test_reads_cvat_for_video_skeleton_tracks(tmp_path):
    """Every frame of the task is an image ``frame_NNNNNN`` (CVAT's name for a video frame); a
    skeleton track is a person on each frame where not all its points are outside, with the box
    track of its group; the track id is kept."""
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "video_skeleton_tracks.xml", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert "1 CVAT <polygon> shapes" in line and "2 coordinates of outside (hidden) CVAT points" in line
    assert ('1 keyframe flags of track shapes (persons on interpolated frames, keyframe="0", read as annotated '
            'persons)') in line  # frame 1
    ds = _load(out)
    assert [(im.file_name, im.width, im.height) for im in ds.images] == [(f"frame_{i:06d}", 640, 480) for i in range(6)]
    names = {im.id: im.file_name for im in ds.images}
    assert [names[int(i)] for i in ds.image_id] == ["frame_000000", "frame_000001", "frame_000004"]
    assert [e["track_id"] for e in ds.extra] == [1, 1, 1]
    np.testing.assert_allclose(ds.keypoints[0], [[112.07, 258.59, 2], [127.87, 333.23, 1], [0, 0, 0]])
    np.testing.assert_allclose(ds.keypoints[1], [[116.07, 264.59, 2], [134.37, 341.73, 1], [0, 0, 0]])
    np.testing.assert_allclose(ds.bbox[:2], [[100, 250, 110, 100], [104, 256, 110, 100]])  # the grouped box track
    np.testing.assert_allclose(ds.bbox[2], [297, 91, 36, 108])  # no box on frame 4: the keypoints' extent
    assert ds.category.skeleton == [(1, 2), (0, 1)]


def test_video_frames_take_the_suffix_of_the_exported_images(tmp_path):
    """CVAT exports a video's frames as images/frame_NNNNNN.PNG while the XML names them without suffix."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    for i in range(6):
        Image.new("RGB", (640, 480)).save(tmp_path / "images" / f"frame_{i:06d}.PNG")
    (tmp_path / "annotations.xml").write_text((DATA / "video_skeleton_tracks.xml").read_text())
    out = tmp_path / "coco.json"
    assert run_cli("convert", tmp_path / "annotations.xml", "-o", out, "--to", "coco").exit_code == 0
    assert [im.file_name for im in _load(out).images] == [f"frame_{i:06d}.PNG" for i in range(6)]


def test_video_export_of_several_tasks_refused(tmp_path):
    path = tmp_path / "video.xml"
    path.write_text('<annotations><version>1.1</version><track id="0" label="p" task_id="1"><skeleton frame="0" '
                    'keyframe="1"><points label="a" outside="0" occluded="0" keyframe="1" points="1,1"/></skeleton>'
                    '</track><track id="1" label="p" task_id="2"></track></annotations>')
    res = run_cli("convert", path, "-o", tmp_path / "x.json", "--to", "coco")
    assert res.exit_code == 2 and "of 2 tasks" in res.stderr and not (tmp_path / "x.json").exists()


def test_reads_a_project_export(tmp_path):
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "project_export.xml", "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    # the label with most skeletons is the person, though "hand" is declared first
    assert "1 skeletons of label 'hand' (other points than 'person'; convert them separately with " \
           "--person-label hand)" in line
    for part in ("1 CVAT <box> shapes", "1 CVAT <points> shapes", "1 CVAT <tag> shapes",
                 "1 occluded flags of person boxes", "1 coordinates of outside (hidden) CVAT points"):
        assert part in line, part
    ds = _load(out)
    # a project's images sit in images/<subset>/: two a.jpg, one per subset
    assert [(im.file_name, im.extra) for im in ds.images] == [("train/a.jpg", {"subset": "train", "task_id": 7}),
                                                             ("train/b.jpg", {"subset": "train", "task_id": 7}),
                                                             ("val/a.jpg", {"subset": "val", "task_id": 8})]
    assert ds.category.keypoints == ["nose", "neck"] and len(ds) == 3
    np.testing.assert_allclose(ds.keypoints[0], [[10, 20, 2], [20, 30, 1]])  # points listed neck first
    assert {k: v for k, v in ds.extra[0].items() if k != "num_keypoints"} == {
        "attributes": {"pose": "sitting"}, "keypoint_attributes": {"nose": {"blurred": "true"}}, "source": "auto",
        "z_order": 2}
    np.testing.assert_allclose(ds.bbox[:2], [[5, 10, 35, 50], [60, 10, 30, 60]])  # both boxes of group 4 kept
    assert not ds.keypoints[1, :, 2].any()
    np.testing.assert_allclose(ds.keypoints[2], [[0, 0, 0], [15, 35, 2]])


def test_person_label_chooses_the_skeleton(tmp_path):
    out = tmp_path / "coco.json"
    res = run_cli("convert", DATA / "project_export.xml", "-o", out, "--to", "coco", "--person-label", "hand")
    assert res.exit_code == 0, res.stderr
    assert "2 skeletons of label 'person'" in res.stdout
    ds = _load(out)
    assert ds.category.name == "hand" and ds.category.keypoints == ["wrist"]
    np.testing.assert_allclose(ds.keypoints[ds.category_id == ds.category.id][0], [[70, 40, 2]])


def test_attributes_source_and_z_order_round_trip(tmp_path):
    """CVAT -> COCO -> CVAT -> COCO keeps the skeleton's and its points' attributes, source, z_order."""
    first = tmp_path / "a.json"
    assert run_cli("convert", DATA / "project_export.xml", "-o", first, "--to", "coco").exit_code == 0
    xml = tmp_path / "b.xml"
    res = run_cli("convert", first, "-o", xml, "--to", "cvat")
    assert res.exit_code == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line == "not carried: 3 annotation ids; 3 image ids; 3 images' subset, task_id", line
    root = ET.parse(xml).getroot()
    sk = root.find("image/skeleton")
    assert (sk.get("source"), sk.get("z_order")) == ("auto", "2")
    nose = sk.find("points[@label='nose']")
    assert nose.get("source") == "auto" and [(a.get("name"), a.text) for a in nose.findall("attribute")] == \
        [("blurred", "true")]
    decl = [lab for lab in root.iter("label") if lab.findtext("name") == "nose"][0]
    assert [a.findtext("name") for a in decl.iter("attribute")] == ["blurred"]  # declared on the point label
    back = tmp_path / "c.json"
    assert run_cli("convert", xml, "-o", back, "--to", "coco").exit_code == 0
    assert _load(back).extra == _load(first).extra
    assert_same_persons(persons(first), persons(back), tol=1e-9, box_tol=1e-9)


def test_crowd_regions_are_boxes(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "x.png", "width": 50, "height": 40}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1, "bbox": [1, 2, 30, 20],
                            "area": 600, "keypoints": [0] * 6},
                           {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [3, 4, 10, 10],
                            "area": 100, "keypoints": [5, 6, 2, 0, 0, 0]}]}
    src = materialise(tmp_path, doc)
    out = tmp_path / "x.xml"
    assert run_cli("convert", src, "-o", out, "--to", "cvat").exit_code == 0
    back = tmp_path / "back.json"
    assert run_cli("convert", out, "-o", back, "--to", "coco").exit_code == 0
    assert_same_persons(persons(src, crowd=True), persons(back, crowd=True))
    assert_same_persons(persons(src), persons(back))


def test_datumaro_reads_our_xml(tmp_path):
    dm = pytest.importorskip("datumaro")
    folder = tmp_path / "task"
    (folder / "images").mkdir(parents=True)
    for p in COCO_IMAGES.glob("*.jpg"):
        (folder / "images" / p.name).symlink_to(p.resolve())
    assert run_cli("convert", COCO_SAMPLE, "-o", folder / "annotations.xml", "--to", "cvat").exit_code == 0
    ds = dm.Dataset.import_from(str(folder), "cvat")
    labels = ds.categories()[dm.AnnotationType.label]
    names = [x.name for x in labels.items]
    assert "person" in names and "left_ankle" in names and "person_box" in names
    boxes = [a for item in ds for a in item.annotations if a.type == dm.AnnotationType.bbox]
    assert len(boxes) == 14 and all(b.group for b in boxes)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coco_documents(crowd=True, names=lambda k: st.lists(
    st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="\x7f"), min_size=1,
            max_size=8).map(str.strip).filter(bool), min_size=k, max_size=k, unique=True)))
def test_round_trip_property(doc):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = materialise(tmp, doc)
        out = tmp / "x.xml"
        res = run_cli("convert", src, "-o", out, "--to", "cvat")
        assert res.exit_code == 0, res.stderr
        back = tmp / "back.json"
        res = run_cli("convert", out, "-o", back, "--to", "coco")
        assert res.exit_code == 0, res.stderr
        assert_same_persons(persons(src), persons(back), tol=1e-9, box_tol=1e-9)
        assert_same_persons(persons(src, crowd=True), persons(back, crowd=True), tol=1e-9, box_tol=1e-9)
        from annotate.coco import load_coco

        a, b = load_coco(src), load_coco(back)
        assert [c.name for c in a.categories] == [c.name for c in b.categories]
        assert a.category.keypoints == b.category.keypoints and a.category.skeleton == b.category.skeleton


def test_labels_declared_in_project_and_task_count_once(tmp_path):
    """Labels listed both under <project> and a <task> of its (older project exports) are one skeleton."""
    labels = ('<labels><label><name>person</name><type>skeleton</type><svg></svg></label>'
              '<label><name>a</name><type>points</type><parent>person</parent></label>'
              '<label><name>b</name><type>points</type><parent>person</parent></label></labels>')
    path = tmp_path / "x.xml"
    path.write_text(f'<annotations><version>1.1</version><meta><project>{labels}<tasks><task><id>1</id>{labels}'
                    f'</task></tasks></project></meta><image id="0" name="x.png" width="9" height="9">'
                    f'<skeleton label="person"><points label="b" outside="0" occluded="0" points="3,4"/></skeleton>'
                    f'</image></annotations>')
    out = tmp_path / "c.json"
    assert run_cli("convert", path, "-o", out, "--to", "coco").exit_code == 0
    ds = _load(out)
    assert ds.category.keypoints == ["a", "b"]
    np.testing.assert_allclose(ds.keypoints[0], [[0, 0, 0], [3, 4, 2]])


def test_skeletons_of_undeclared_labels_counted(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text(CVAT_EXPORT.replace('<skeleton label="person" source="manual" z_order="0">',
                                        '<skeleton label="ghost" source="manual" z_order="0">'))
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0 and "1 skeletons of label 'ghost' (not a skeleton label of <meta>)" in res.stdout


def test_video_job_export_frames_follow_the_frame_filter(tmp_path):
    """A job's CVAT for video export: frames start_frame..stop_frame by the filter's step; the
    track's source is kept."""
    path = tmp_path / "job.xml"
    path.write_text(
        '<annotations><version>1.1</version><meta><job><id>3</id><size>3</size><mode>interpolation</mode>'
        '<start_frame>10</start_frame><stop_frame>14</stop_frame><frame_filter>step=2</frame_filter><labels>'
        '<label><name>p</name><type>skeleton</type></label><label><name>a</name><type>points</type><parent>p</parent>'
        '</label></labels><original_size><width>5</width><height>6</height></original_size></job></meta>'
        '<track id="3" label="p" source="auto"><skeleton frame="12" keyframe="1" z_order="0"><points label="a" '
        'keyframe="1" outside="0" occluded="0" points="1,2"/></skeleton></track></annotations>')
    out = tmp_path / "c.json"
    assert run_cli("convert", path, "-o", out, "--to", "coco").exit_code == 0
    ds = _load(out)
    assert [(im.file_name, im.width, im.height) for im in ds.images] == [
        ("frame_000010", 5, 6), ("frame_000012", 5, 6), ("frame_000014", 5, 6)]
    assert int(ds.image_id[0]) == ds.images[1].id
    assert {k: v for k, v in ds.extra[0].items() if k != "num_keypoints"} == {"track_id": 3, "source": "auto"}


def test_interpolated_track_shapes_counted(tmp_path):
    """CVAT for video writes every frame of a track; the frames CVAT interpolated (``keyframe="0"``
    on the skeleton, on one of its points, or on a lone box) are read as persons and counted."""
    path = tmp_path / "video.xml"
    path.write_text(
        '<annotations><version>1.1</version><meta><task><id>1</id><size>3</size><mode>interpolation</mode>'
        '<start_frame>0</start_frame><stop_frame>2</stop_frame><labels>'
        '<label><name>person</name><type>skeleton</type></label>'
        '<label><name>a</name><type>points</type><parent>person</parent></label>'
        '<label><name>b</name><type>points</type><parent>person</parent></label>'
        '<label><name>person_box</name><type>rectangle</type></label></labels>'
        '<original_size><width>50</width><height>40</height></original_size></task></meta>'
        '<track id="0" label="person" source="manual">'
        '<skeleton frame="0" keyframe="1" z_order="0">'
        '<points label="a" keyframe="1" outside="0" occluded="0" points="1.00,2.00"></points>'
        '<points label="b" keyframe="1" outside="0" occluded="0" points="3.00,4.00"></points></skeleton>'
        '<skeleton frame="1" keyframe="1" z_order="0">'
        '<points label="a" keyframe="1" outside="0" occluded="0" points="2.00,2.00"></points>'
        '<points label="b" keyframe="0" outside="0" occluded="0" points="4.00,4.00"></points></skeleton>'
        '<skeleton frame="2" keyframe="0" z_order="0">'
        '<points label="a" keyframe="0" outside="0" occluded="0" points="3.00,2.00"></points>'
        '<points label="b" keyframe="0" outside="1" occluded="0" points="5.00,4.00"></points></skeleton></track>'
        '<track id="1" label="person_box" source="manual">'
        '<box frame="0" keyframe="1" outside="0" occluded="0" xtl="10" ytl="10" xbr="20" ybr="30" z_order="0"></box>'
        '<box frame="1" keyframe="0" outside="0" occluded="0" xtl="11" ytl="10" xbr="21" ybr="30" z_order="0"></box>'
        '<box frame="2" keyframe="1" outside="1" occluded="0" xtl="12" ytl="10" xbr="22" ybr="30" z_order="0"></box>'
        '</track></annotations>')
    out = tmp_path / "c.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    # frame 1: the skeleton (its point b) and the lone box; frame 2: the skeleton
    assert '3 keyframe flags of track shapes (persons on interpolated frames, keyframe="0"' in res.stdout, res.stdout
    ds = _load(out)
    assert len(ds) == 5  # 3 skeletons, 2 lone boxes: count in = count out
    skel = [r for r in range(len(ds)) if ds.extra[r].get("track_id") == 0]  # frame by frame
    np.testing.assert_allclose(ds.keypoints[skel[1]], [[2, 2, 2], [4, 4, 2]])


# --------------------------------------------------------------------------- the account, both video layouts

SAMPLES = sorted(DATA.glob("*.xml"))


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_converts_with_a_balanced_account(path, tmp_path):
    """Every file in tests/data/cvat converts to COCO; what the reader saw is carried or counted."""
    from converters.formats import Context, read_dataset

    ctx = Context()
    source, fmt = read_dataset(path, ctx)
    ds = source.ds
    assert fmt == "cvat" and len(ds) > 0
    carried = {"images": len(ds.images), "persons": len(ds), "keypoints": int((ds.keypoints[..., 2] > 0).sum())}
    for unit, n in carried.items():
        assert ctx.account[unit] == n + ctx.notes.dropped(unit), unit
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr


def _video_persons(path: Path, tmp_path: Path):
    out = tmp_path / f"{path.stem}.json"
    res = run_cli("convert", path, "-o", out, "--to", "coco")
    assert res.exit_code == 0, res.stderr
    return _load(out), res.stdout.strip().splitlines()[-1]


def test_nested_point_tracks_read_like_point_children(tmp_path):
    """A skeleton track whose points are nested point tracks (Datumaro's CVAT-for-video asset)
    reads into the same persons as the one whose <skeleton frame>s hold <points> children."""
    nested, line = _video_persons(DATA / "video_nested_point_tracks.xml", tmp_path)
    children, line2 = _video_persons(DATA / "video_point_children.xml", tmp_path)
    assert line == line2
    assert [im.file_name for im in nested.images] == [f"frame_{f:06d}" for f in (10, 13, 16, 19)]
    assert len(nested) == 3 and [e["track_id"] for e in nested.extra] == [3, 3, 3]
    names = {im.id: im.file_name for im in nested.images}
    assert [names[int(i)] for i in nested.image_id] == ["frame_000010", "frame_000013", "frame_000016"]
    np.testing.assert_allclose(nested.keypoints[0], [[48.8, 111.77, 2], [40.25, 130.5, 1], [60.1, 129.9, 2],
                                                     [42, 170.75, 2]])
    np.testing.assert_allclose(nested.keypoints[1, 2], [0, 0, 0])  # right_shoulder outside on frame 13
    np.testing.assert_allclose(nested.keypoints[2, 2], [0, 0, 0])  # and absent on frame 16
    np.testing.assert_allclose(nested.keypoints, children.keypoints)
    np.testing.assert_allclose(nested.bbox, children.bbox)
    assert nested.extra == children.extra and nested.category.skeleton == children.category.skeleton
    assert nested.category.keypoints == ["nose", "left_shoulder", "right_shoulder", "left_hip"]
    assert '2 keyframe flags of track shapes' in line  # frames 13 and 16
    for part in ("1 CVAT <box> shapes", "1 CVAT <points> shapes", "1 CVAT <polyline> shapes"):
        assert part in line, part


VIDEO_META = ('<meta><task><id>1</id><size>2</size><mode>interpolation</mode><start_frame>0</start_frame>'
              '<stop_frame>1</stop_frame><labels><label><name>person</name><type>skeleton</type></label>'
              '<label><name>a</name><type>points</type><parent>person</parent></label>'
              '<label><name>b</name><type>points</type><parent>person</parent></label></labels>'
              '<original_size><width>50</width><height>40</height></original_size></task></meta>')


def test_skeleton_track_frames_that_cannot_be_read_are_counted(tmp_path):
    """A skeleton frame with no points at all (only the skeleton's points="...") is a person that
    cannot be read: counted, not silently dropped; labeled points on a frame where the skeleton
    is outside are counted too."""
    path = tmp_path / "v.xml"
    path.write_text(
        f'<annotations><version>1.1</version>{VIDEO_META}<track id="0" label="person">'
        '<skeleton frame="0" outside="0" keyframe="1" points="1,2;3,4" z_order="0"></skeleton>'
        '<skeleton frame="1" outside="1" keyframe="1" points="1,2;3,4" z_order="0"></skeleton>'
        '<track id="1" label="a"><points frame="1" outside="0" keyframe="1" points="1,2"/></track>'
        '</track></annotations>')
    res = run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert "1 skeleton track frames with no points" in res.stdout
    assert "1 labeled points of skeleton track frames where the skeleton is outside" in res.stdout
    assert len(_load(tmp_path / "c.json")) == 0


def test_points_of_dropped_skeletons_and_twice_given_points_counted(tmp_path):
    res = run_cli("convert", DATA / "project_export.xml", "-o", tmp_path / "c.json", "--to", "coco")
    assert "1 labeled points of skeletons of label 'hand'" in res.stdout
    path = tmp_path / "x.xml"
    path.write_text(CVAT_EXPORT.replace('<points label="Head top" source="manual" outside="0" occluded="0" '
                                        'points="300,100">', '<points label="LElbow" source="manual" outside="0" '
                                        'occluded="0" points="300,100">'))
    res = run_cli("convert", path, "-o", tmp_path / "d.json", "--to", "coco")
    assert res.exit_code == 0, res.stderr
    assert "1 labeled points given twice in one skeleton" in res.stdout


def test_point_labels_match_by_the_one_rule(tmp_path):
    """A point label matches its keypoint exactly, else by its one spelling; a spelling that fits
    two keypoints is refused naming both."""
    meta = ('<meta><task><labels><label><name>person</name><type>skeleton</type></label>'
            '<label><name>left_eye</name><type>points</type><parent>person</parent></label>'
            '<label><name>LEye</name><type>points</type><parent>person</parent></label>'
            '<label><name>nose</name><type>points</type><parent>person</parent></label></labels></task></meta>')
    path = tmp_path / "x.xml"
    doc = ('<annotations><version>1.1</version>' + meta + '<image id="0" name="a.png" width="9" height="9">'
           '<skeleton label="person"><points label="{}" outside="0" occluded="0" points="3,4"/></skeleton>'
           '</image></annotations>')
    path.write_text(doc.format("Nose"))
    assert run_cli("convert", path, "-o", tmp_path / "c.json", "--to", "coco").exit_code == 0
    np.testing.assert_allclose(_load(tmp_path / "c.json").keypoints[0, 2], [3, 4, 2])
    path.write_text(doc.format("LEye"))
    assert run_cli("convert", path, "-o", tmp_path / "d.json", "--to", "coco").exit_code == 0
    np.testing.assert_allclose(_load(tmp_path / "d.json").keypoints[0, 1], [3, 4, 2])
    path.write_text(doc.format("L_Eye"))
    res = run_cli("convert", path, "-o", tmp_path / "e.json", "--to", "coco")
    assert res.exit_code == 2 and "'left_eye'" in res.stderr and "'LEye'" in res.stderr
    assert not (tmp_path / "e.json").exists()


def test_dotted_image_names_keep_every_part(tmp_path):
    """``cam01.0030.jpg`` keeps its name; ``cam01.0031`` (no image suffix: the dot is part of the
    name) gets the suffix of its exported image; both survive a round trip."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (9, 9)).save(tmp_path / "images" / "cam01.0031.jpg")
    skel = '<skeleton label="person"><points label="a" outside="0" occluded="0" points="3,4"/></skeleton>'
    path = tmp_path / "annotations.xml"
    path.write_text('<annotations><version>1.1</version><meta><task><labels><label><name>person</name><type>'
                    'skeleton</type></label><label><name>a</name><type>points</type><parent>person</parent></label>'
                    '</labels></task></meta>'
                    + "".join(f'<image id="{i}" name="{n}" width="9" height="9">{skel}</image>'
                              for i, n in enumerate(["cam01.0030.jpg", "cam01.0031", "cam01.0032"]))
                    + '</annotations>')
    out = tmp_path / "c.json"
    assert run_cli("convert", path, "-o", out, "--to", "coco").exit_code == 0
    names = ["cam01.0030.jpg", "cam01.0031.jpg", "cam01.0032"]
    assert [im.file_name for im in _load(out).images] == names
    xml = tmp_path / "out" / "b.xml"
    xml.parent.mkdir()
    assert run_cli("convert", out, "-o", xml, "--to", "cvat").exit_code == 0
    assert [im.get("name") for im in ET.parse(xml).getroot().findall("image")] == names
    assert run_cli("convert", xml, "-o", tmp_path / "d.json", "--to", "coco").exit_code == 0
    assert [im.file_name for im in _load(tmp_path / "d.json").images] == names


def test_crowd_region_without_a_box_counted_by_the_writer(tmp_path):
    from annotate.dataset import DatasetBuilder
    from converters.formats import Context, write_dataset

    b = DatasetBuilder(Category(1, "person", ["a"], []))
    iid = b.add_image("x.png", 9, 9)
    b.add_person(iid, np.zeros((1, 3)), None, iscrowd=True)
    b.add_person(iid, np.array([[3, 4, 2]]), [1, 1, 5, 5])
    ctx = Context()
    out = write_dataset(b.build(), tmp_path / "x.xml", "cvat", ctx)
    assert out.persons == 1 and ctx.notes.dropped("persons") == 1
    assert len(ET.parse(tmp_path / "x.xml").getroot().findall("image/skeleton")) == 1


_POINT = st.one_of(st.none(), st.tuples(st.sampled_from("01"), st.sampled_from("01"), st.sampled_from("01"),
                                        st.integers(0, 49), st.integers(0, 39)))


@settings(max_examples=examples(25), deadline=None)
@given(st.dictionaries(st.integers(0, 1), st.tuples(st.sampled_from("01"), st.sampled_from("01"),
                                                    st.tuples(_POINT, _POINT)), min_size=1))
def test_both_video_layouts_read_the_same_property(frames):
    """Random skeleton tracks (frames with the skeleton outside or not, points absent, outside,
    occluded, interpolated) read the same from both layouts, with a balanced account."""
    from converters.formats import Context, read_dataset

    children, nested = [], {"a": [], "b": []}
    for f, (kf, outside, pts) in sorted(frames.items()):
        inner = ""
        for name, p in zip("ab", pts):
            if p is not None:
                inner += (f'<points label="{name}" keyframe="{p[0]}" outside="{p[1]}" occluded="{p[2]}" '
                          f'points="{p[3]},{p[4]}"/>')
                nested[name].append(f'<points frame="{f}" keyframe="{p[0]}" outside="{p[1]}" occluded="{p[2]}" '
                                    f'points="{p[3]},{p[4]}" z_order="0"/>')
        children.append(f'<skeleton frame="{f}" keyframe="{kf}" outside="{outside}" z_order="0">{inner}</skeleton>')
    skeletons = "".join(f'<skeleton frame="{f}" keyframe="{kf}" outside="{o}" z_order="0"/>'
                        for f, (kf, o, _) in sorted(frames.items()))
    tracks = "".join(f'<track id="{i}" label="{n}">{"".join(nested[n])}</track>' for i, n in enumerate("ab"))
    read = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, body in enumerate(["".join(children), skeletons + tracks]):
            path = Path(tmp) / f"{i}.xml"
            path.write_text(f'<annotations><version>1.1</version>{VIDEO_META}<track id="0" label="person">{body}'
                            f'</track></annotations>')
            ctx = Context()
            read.append((read_dataset(path, ctx)[0].ds, ctx))
    (a, ctx_a), (b, ctx_b) = read
    assert len(a) == len(b) and [im.file_name for im in a.images] == [im.file_name for im in b.images]
    np.testing.assert_allclose(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.image_id, b.image_id)
    assert ctx_a.notes == ctx_b.notes and ctx_a.account == ctx_b.account
