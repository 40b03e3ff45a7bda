"""``annotate render``: arrays and pictures, the process pool, output names, refusals."""
import hashlib
import json
import shutil

import cv2
import numpy as np
import pytest

from annotate.coco import load_coco
from annotate.errors import PosekitError
from annotate.render import npz_bytes, output_names
from annotate.skeletons import OPENPOSE18

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, SAMPLE, SHARED, run_cli


def _files(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_render_cli_writes_arrays_and_pictures(tmp_path):
    res = run_cli("render", COCO_SAMPLE, "--images", SHARED / "coco", "-o", tmp_path, "--decode",
                  "--image-ids", "785", "--workers", "1")
    assert res.exit_code == 0, res.stderr
    with np.load(tmp_path / "000000000785.npz", allow_pickle=False) as z:
        assert z["heatmaps"].shape[0] == 19 and z["pafs"].shape[0] == 38
        assert z["heatmaps"].shape[1:] == z["pafs"].shape[1:] == z["mask_crowd"].shape
        assert z["heatmaps"].shape[1] == int(np.ceil(425 * float(z["scale"]) / 8))
        assert str(z["file_name"]) == "000000000785.jpg" and int(z["image_id"]) == 785
        assert list(z["keypoint_names"]) == list(OPENPOSE18.keypoints)
        grid = z["heatmaps"].shape[1:]
    overview = cv2.imread(str(tmp_path / "000000000785_overview.png"))
    assert overview.shape[1] == 3 * (grid[1] * 8 + 2)  # three bordered panels of the input's size
    channels = cv2.imread(str(tmp_path / "000000000785_channels.png"))
    assert channels.shape[0] > 6 * 100  # 19 heatmap tiles and 38 PAF tiles, 8 a row: 8 rows of tiles
    assert load_coco(tmp_path / "decoded.json").category.keypoints == list(OPENPOSE18.keypoints)
    assert "rendered 1 images" in res.stdout and "pictures for 1 image(s)" in res.stdout


def test_pool_writes_the_same_files_as_one_process(tmp_path):
    one, pool = tmp_path / "one", tmp_path / "pool"
    for out, workers in ((one, "1"), (pool, "3")):
        res = run_cli("render", COCO_SAMPLE, "--images", SHARED / "coco", "-o", out, "--decode",
                      "--workers", workers, "--stride", "4")
        assert res.exit_code == 0, res.stderr
    assert "with 3 process(es)" in res.stdout
    files = _files(one)
    assert len([f for f in files if f.endswith(".npz")]) == 4 and "decoded.json" in files
    assert files == _files(pool)


def test_npz_bytes_depend_on_the_arrays_only():
    a = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "name": np.array("a.jpg")}
    assert npz_bytes(a) == npz_bytes(dict(a))
    import io
    with np.load(io.BytesIO(npz_bytes(a)), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["x"], a["x"])
        assert str(z["name"]) == "a.jpg"


def test_pictures_for_the_first_n_images_only(tmp_path):
    res = run_cli("render", SAMPLE / "coco" / "sample.json", "--images", SAMPLE / "images", "-o", tmp_path,
                  "--pictures", "1")
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sample_1_channels.png", "sample_1_overview.png"]
    assert len(list(tmp_path.glob("*.npz"))) == 4


def _colliding_set(tmp_path):
    """Four images in two collisions: x.jpg / x.png and a/b.jpg / a__b.jpg."""
    src = json.loads((SAMPLE / "coco" / "sample.json").read_text())
    img_dir = tmp_path / "img"
    (img_dir / "a").mkdir(parents=True)
    names = ["x.jpg", "x.png", "a/b.jpg", "a__b.jpg"]
    for im, name in zip(src["images"], names):
        pic = cv2.imread(str(SAMPLE / "images" / im["file_name"]))
        cv2.imwrite(str(img_dir / name), pic)
        im["file_name"] = name
    (tmp_path / "set.json").write_text(json.dumps(src))
    return tmp_path / "set.json", img_dir, names


def test_images_sharing_a_name_get_distinct_outputs(tmp_path):
    coco, img_dir, names = _colliding_set(tmp_path)
    out = tmp_path / "out"
    res = run_cli("render", coco, "--images", img_dir, "-o", out, "--workers", "2")
    assert res.exit_code == 0, res.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz"))
    assert written == ["a/b.npz", "a__b.npz", "x_jpg.npz", "x_png.npz"]
    assert "2 images share a name" in res.stdout
    ds = load_coco(coco)
    for npz in written:
        with np.load(out / npz) as z:
            im = next(i for i in ds.images if i.file_name == str(z["file_name"]))
            assert int(z["image_id"]) == im.id
    assert len({hashlib.sha256((out / n).read_bytes()).digest() for n in written}) == 4
    assert (out / "x_jpg_overview.png").exists() and (out / "a" / "b_channels.png").exists()


def test_output_names():
    assert output_names(["x.jpg", "y.jpg", "sub/z.png"], [1, 2, 3]) == (["x", "y", "sub/z"], 0)
    assert output_names(["x.jpg", "x.png"], [1, 2]) == (["x_jpg", "x_png"], 2)
    # equal but for case (one file on macOS and Windows), and one file name listed twice
    names, renamed = output_names(["X.jpg", "x.jpg", "d.jpg", "d.jpg"], [1, 2, 3, 4])
    assert names == ["X_jpg_id1", "x_jpg_id2", "d_jpg_id3", "d_jpg_id4"] and renamed == 4
    assert output_names(["a/./b.jpg", "a/c/../b.png"], [1, 2]) == (["a/b_jpg", "a/b_png"], 2)


def test_render_sample_data_coco17_layout(tmp_path):
    res = run_cli("render", SAMPLE / "coco" / "sample.json", "--images", SAMPLE / "images", "-o", tmp_path,
                  "--layout", "coco17", "--stride", "4")
    assert res.exit_code == 0, res.stderr
    z = np.load(tmp_path / "sample_1.npz")
    assert z["heatmaps"].shape[0] == 18 and z["pafs"].shape[0] == 38


def test_render_custom_category_natively(tmp_path):
    crowd = CROWDPOSE_SAMPLE.parent
    res = run_cli("render", CROWDPOSE_SAMPLE, "--images", crowd, "-o", tmp_path, "--layout", "native")
    assert res.exit_code == 0, res.stderr
    z = np.load(tmp_path / "106848.npz")
    assert z["heatmaps"].shape[0] == 15 and list(z["keypoint_names"][:2]) == ["left_shoulder", "right_shoulder"]


def _without_skeleton(tmp_path):
    d = json.loads(CROWDPOSE_SAMPLE.read_text())
    d["categories"][0]["skeleton"] = []
    d["categories"][0]["keypoints"] = [f"point_{i}" for i in range(14)]  # no built-in layout either
    (tmp_path / "noskel.json").write_text(json.dumps(d))
    return tmp_path / "noskel.json"


def test_decode_without_a_skeleton_is_refused_before_writing(tmp_path):
    src = _without_skeleton(tmp_path)
    out = tmp_path / "out"
    res = run_cli("render", src, "--images", CROWDPOSE_SAMPLE.parent, "-o", out, "--layout", "native", "--decode")
    assert res.exit_code == 2
    assert "has no skeleton" in res.stderr and "no person can be decoded" in res.stderr
    assert not out.exists()
    res = run_cli("render", src, "--images", CROWDPOSE_SAMPLE.parent, "-o", out, "--layout", "native")
    assert res.exit_code == 0, res.stderr
    assert "0 PAF channels (the layout has no skeleton)" in res.stdout
    with np.load(next(out.glob("*.npz"))) as z:
        assert z["pafs"].shape[0] == 0 and z["heatmaps"].shape[0] == 15


def test_an_unreadable_image_is_named_and_the_others_are_rendered(tmp_path, monkeypatch):
    """An image whose header reads but whose pixels do not: its line, the others still written, exit 2."""
    img_dir = tmp_path / "img"
    shutil.copytree(SAMPLE / "images", img_dir)
    data = (img_dir / "sample_2.jpg").read_bytes()
    (img_dir / "sample_2.jpg").write_bytes(data[: len(data) // 8])  # truncated: header fine, pixels not
    res = run_cli("render", SAMPLE / "coco" / "sample.json", "--images", img_dir, "-o", tmp_path / "out",
                  "--workers", "2")
    if res.exit_code == 0:  # OpenCV decodes what it can of a truncated JPEG on some builds
        pytest.skip("this OpenCV decodes truncated JPEGs")
    assert res.exit_code == 2 and "sample_2.jpg" in res.stderr and "1 image(s) could not be rendered" in res.stderr
    assert len(list((tmp_path / "out").glob("*.npz"))) == 3


def test_output_name_clash_message_names_both_inputs():
    with pytest.raises(PosekitError) as err:
        output_names(["a.jpg", "a.jpg"], [7, 7])  # not a valid COCO file (ids repeat), but never overwrite
    assert "'a.jpg' (id 7) and 'a.jpg' (id 7)" in str(err.value)


def test_image_size_from_the_header_matches_the_decoded_image(tmp_path):
    """Only pictured images are decoded; the others take their size from the header, with the EXIF
    rotation OpenCV applies when it decodes, so both give the same targets."""
    from PIL import Image

    from annotate.images import image_size

    src = json.loads((SAMPLE / "coco" / "sample.json").read_text())
    img_dir = tmp_path / "img"
    img_dir.mkdir()
    pic = Image.open(SAMPLE / "images" / "sample_1.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 640x480, shown rotated: 480 wide, 640 high
    pic.save(img_dir / "sample_1.jpg", exif=exif.tobytes())
    src["images"] = src["images"][:1]
    src["images"][0].update(width=480, height=640)
    src["annotations"] = [a for a in src["annotations"] if a["image_id"] == 1]
    (tmp_path / "rot.json").write_text(json.dumps(src))
    assert image_size(img_dir / "sample_1.jpg")[::-1] == (640, 480) == cv2.imread(str(img_dir / "sample_1.jpg")).shape[:2]
    for pics in ("0", "1"):
        res = run_cli("render", tmp_path / "rot.json", "--images", img_dir, "-o", tmp_path / pics, "--pictures", pics)
        assert res.exit_code == 0, res.stderr
    assert (tmp_path / "0" / "sample_1.npz").read_bytes() == (tmp_path / "1" / "sample_1.npz").read_bytes()
    with np.load(tmp_path / "0" / "sample_1.npz") as z:
        assert z["heatmaps"].shape[1:] == (46, 35)  # 368 high: the rotated image's shape
