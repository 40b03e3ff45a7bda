"""labelme from our environment, configured by the file coco-to-labelme writes, opens the images
with their LabelMe files: on a real X display (Xvfb) with the printed command, nested image
folders included; plus checks that need no display."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from converters.labelme_setup import LEFT, RIGHT, setup_labelme

from conftest import COCO_SAMPLE, SHARED, run_cli

LABELME = Path(sys.executable).with_name("labelme")


def _has_labelme() -> bool:
    try:
        import labelme  # noqa: F401
    except ImportError:
        return False
    return True


needs_labelme = pytest.mark.skipif(not _has_labelme(), reason="labelme is not installed (posekit[gui])")


def _coco_with_images(tmp: Path, nested: bool) -> tuple[Path, Path]:
    """mmpose's COCO sample with its 4 real images, in cam1/ and cam2/ sub-folders when ``nested``."""
    doc = json.loads(COCO_SAMPLE.read_text())
    images = tmp / "images"
    for i, im in enumerate(doc["images"]):
        name = f"cam{i % 2 + 1}/{im['file_name']}" if nested else im["file_name"]
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / "coco" / im["file_name"], images / name)
        im["file_name"] = name
    path = tmp / "coco.json"
    path.write_text(json.dumps(doc))
    return path, images


def _printed_command(stdout: str) -> str:
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith("labelme ")]
    assert len(lines) == 1, stdout
    return lines[0]


def _convert(tmp: Path, nested: bool) -> tuple[str, Path, Path]:
    coco, images = _coco_with_images(tmp, nested)
    out = tmp / "labelme"
    res = run_cli("convert", "coco-to-labelme", coco, "-o", out, "--images", images)
    assert res.exit_code == 0, res.stderr
    return _printed_command(res.stdout), out, images


# ----------------------------------------------------------------------------- no display needed

def test_command_forms(tmp_path):
    """Images beside the files: `labelme DIR`; in another flat folder: `labelme IMAGES --output DIR`;
    in another folder with sub-folders: linked beside the files, `labelme DIR`."""
    names = [f"a{i}.jpg" for i in range(3)]
    images = tmp_path / "img"
    images.mkdir()
    for n in names:
        (images / n).write_bytes(b"x")
    out = tmp_path / "lm"
    out.mkdir()
    flat = setup_labelme(out, names, ["left_eye", "right_eye"], images)
    assert flat.command == f"labelme {images} --output {out} --config {out / 'labelme_config.yaml'}"
    assert flat.auto_save and not flat.linked
    beside = setup_labelme(out, names, ["left_eye", "right_eye"], None)
    assert beside.command.startswith(f"labelme {out} --config ")
    nested = ["cam1/x.jpg", "cam2/x.jpg"]
    for n in nested:
        (images / n).parent.mkdir(exist_ok=True)
        (images / n).write_bytes(n.encode())
        (out / n).parent.mkdir(exist_ok=True)
        (out / n).with_suffix(".json").write_text(json.dumps({"imagePath": f"../../img/{n}"}))
    s = setup_labelme(out, nested, ["left_eye", "right_eye"], images)
    assert s.command == f"labelme {out} --config {out / 'labelme_config.yaml'}"
    assert s.linked == 2 and not s.auto_save
    assert [(out / n).read_bytes() for n in nested] == [n.encode() for n in nested]
    assert setup_labelme(out, nested, ["left_eye", "right_eye"], images).linked == 0  # links kept
    (out / "cam1" / "x.jpg").unlink()
    (out / "cam1" / "x.jpg").write_bytes(b"a person's own file")
    from annotate.errors import PosekitError
    with pytest.raises(PosekitError, match="not replaced"):
        setup_labelme(out, nested, ["left_eye", "right_eye"], images)
    assert (out / "cam1" / "x.jpg").read_bytes() == b"a person's own file"
    with pytest.raises(PosekitError, match="also a keypoint"):
        setup_labelme(out, names, ["person", "nose"], images)


@needs_labelme
def test_labelme_gets_no_cv2_qt_plugin_path():
    """opencv-python ships Qt plugins and points Qt at them, which stops PyQt5 from starting on a
    display; the environment labelme runs in must have none (opencv-python-headless)."""
    code = ("import os, json, cv2, labelme.__main__, labelme.app\n"
            "qt = {k: v for k, v in os.environ.items() if k.startswith('QT_')}\n"
            "print(json.dumps({'env': qt, 'cv2': os.path.dirname(cv2.__file__)}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert not any("cv2" in v for v in got["env"].values()), got["env"]
    assert not (Path(got["cv2"]) / "qt" / "plugins").exists(), "cv2 ships Qt plugins: use opencv-python-headless"


@needs_labelme
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_labelme_pairs_every_listed_image_with_our_file(tmp_path, nested):
    """labelme's own rules (its image scan and ``_resolve_label_path``) find our LabelMe file for
    every image the printed command lists, and the config loads in labelme's config loader."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from labelme.app import _resolve_label_path
    from labelme.config import load_config

    command, out, images = _convert(tmp_path, nested)
    argv = shlex.split(command)
    opts = dict(zip(argv[2::2], argv[3::2]))
    root, output = argv[1], opts.get("--output")
    listed = sorted(str(p) for p in Path(root).rglob("*.jpg"))
    assert len(listed) == 4
    for image in listed:
        label = Path(_resolve_label_path(image_or_label_path=image, output_dir=Path(output) if output else None))
        assert label.is_file() and out in label.parents, (image, label)
    cfg = load_config(Path(opts["--config"]), {})
    assert cfg["labels"][-1] == "person" and cfg["labels"][:17] == json.loads(COCO_SAMPLE.read_text())[
        "categories"][0]["keypoints"]
    assert cfg["validate_label"] == "exact" and cfg["sort_labels"] is False
    import re
    (pattern, flags), = cfg["label_flags"].items()
    assert flags == ["occluded"] and re.match(pattern, "left_wrist") and not re.match(pattern, "person")


# ----------------------------------------------------------------------------- a real X display

def _start_xvfb(tmp: Path) -> tuple[subprocess.Popen, str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no X server: Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=(tmp / "xvfb.log").open("w"))
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        pytest.skip(f"Xvfb did not start: {(tmp / 'xvfb.log').read_text()[-300:]}")
    return proc, f":{number}"


def _screenshot(display: str, path: Path, env: dict) -> np.ndarray:
    """The whole screen, grabbed by Qt itself (no screenshot tool needed), as RGB."""
    code = ("import sys\nfrom PyQt5.QtWidgets import QApplication\napp = QApplication(sys.argv)\n"
            "app.primaryScreen().grabWindow(0).save(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], env=dict(env, DISPLAY=display), check=True,
                   timeout=60, capture_output=True)
    import cv2
    return cv2.imread(str(path))[:, :, ::-1]


def _pixels_of(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 8) -> int:
    return int((np.abs(img.astype(int) - rgb).max(axis=2) <= tol).sum())


@needs_labelme
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_labelme_opens_the_printed_command_on_a_display(tmp_path, nested):
    if not LABELME.exists():
        pytest.skip(f"{LABELME} not found")
    command, out, images = _convert(tmp_path, nested)
    xvfb, display = _start_xvfb(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(DISPLAY=display, HOME=str(tmp_path / "home"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    (tmp_path / "run").mkdir(mode=0o700)
    argv = shlex.split(command)
    assert argv[0] == "labelme"
    log = tmp_path / "labelme.log"
    app = subprocess.Popen([str(LABELME), *argv[1:]], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Loaded file:" not in log.read_text():
            hint = ("\nQt's xcb plugin needs libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxkbcommon-x11-0 "
                    "(Debian)" if "Qt platform plugin" in log.read_text() else "")
            assert app.poll() is None, f"labelme exited with {app.returncode}:\n{log.read_text()[-3000:]}{hint}"
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        text = log.read_text()
        assert "Could not load the Qt platform plugin" not in text
        first = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.jpg"))[0]
        shown = out / first if nested else images / first
        assert f"Loaded file: '{shown}'" in text, text[-2000:]
        # the points of our file are on screen in the config's left/right colours
        for _ in range(20):
            shot = _screenshot(display, tmp_path / "screen.png", env)
            left, right = _pixels_of(shot, LEFT), _pixels_of(shot, RIGHT)
            if left > 30 and right > 30:
                break
            time.sleep(0.5)
        assert left > 30 and right > 30, (left, right, tmp_path / "screen.png")
        assert app.poll() is None
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()
        xvfb.terminate()
        xvfb.wait(10)
