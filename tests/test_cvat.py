"""COCO <-> CVAT for images 1.1 XML (skeletons): round trips, a file as CVAT exports it
(outside/occluded, the svg's edges, grouped boxes, other shapes), Datumaro's CVAT reader on our
output; hypothesis round trips."""
from __future__ import annotations

import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import COCO_SAMPLE, run_cli
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


def test_video_tracks_refused(tmp_path):
    path = tmp_path / "video.xml"
    path.write_text('<annotations><version>1.1</version><track id="0" label="person"><skeleton frame="0">'
                    '</skeleton></track></annotations>')
    res = run_cli("convert", path, "-o", tmp_path / "x.json", "--to", "coco")
    assert res.exit_code == 2 and "CVAT for video" in res.stderr


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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
