"""SIGKILL a long conversion and a pre-label run partway: every output must be absent, the old
version, or complete and valid, and a re-run must complete."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from converters.labelme import dataset_to_labelme

from conftest import SAMPLE, SHARED, needs_shared

ANNOTATE = str(Path(sys.executable).with_name("annotate"))


def _labelme_folder(tmp: Path, copies: int) -> Path:
    from annotate.coco import load_coco

    ds = load_coco(SAMPLE / "coco" / "sample.json")
    docs = dataset_to_labelme(ds, tmp / "lm", SAMPLE / "images")
    for i in range(copies):
        for path, data in docs.items():
            target = path.with_name(f"{path.stem}_{i:05d}.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return tmp / "lm"


def _valid_coco(path: Path) -> bool:
    try:
        d = json.loads(path.read_text())
    except ValueError:
        return False
    return isinstance(d, dict) and "annotations" in d


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_sigkill_during_conversion_leaves_old_or_complete_output(tmp_path, delay):
    lm = _labelme_folder(tmp_path, 1500)  # 6,000 files
    out = tmp_path / "out.json"
    out.write_text('{"old": true}')
    cmd = [ANNOTATE, "convert", "labelme-to-coco", str(lm), "--images", str(SAMPLE / "images"), "-o", str(out),
           "--overwrite"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    text = out.read_text()
    assert text == '{"old": true}' or _valid_coco(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out.json") and p != out]  # no stray out.json*
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["annotations"]) == 7 * 1500


@needs_shared
def test_sigkill_during_prelabel_then_resume(tmp_path):
    from labelme import LabelFile

    from models.bottomup import save_random_checkpoint

    ckpt = save_random_checkpoint("cid-hrnet-w32", tmp_path / "c.pth")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        shutil.copy(SHARED / "coco" / "000000040083.jpg", images / f"im_{i}.jpg")
    out = tmp_path / "out"
    cmd = [ANNOTATE, "prelabel", str(images), "-o", str(out), "--checkpoint", str(ckpt), "--batch-size", "1",
           "--no-flip-test", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list(out.glob("im_*.json")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = sorted(out.glob("im_*.json"))
    assert 1 <= len(written) < 6
    for f in written:
        LabelFile(str(f))  # complete and valid
    manifest = out / ".posekit-prelabel.json"
    if manifest.exists():
        json.loads(manifest.read_text())
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("im_*.json"))) == 6
    files = json.loads(manifest.read_text())["files"]
    assert len(files) >= 6 - len(written)  # files written after the kill are in the manifest
    assert _valid_coco(out / "prelabels.coco.json")
