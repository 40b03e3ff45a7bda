"""SIGKILL a conversion and a pre-label run at known points: every output must be absent, the
old version, or complete and valid, and a re-run must complete.

The kill points are deterministic: the command runs under a small driver (``HOLD`` below) that
wraps the standard library calls every atomic write makes (``tempfile.mkstemp``, ``os.fsync``,
``os.replace``) and, at the N-th call for a chosen file, creates a marker file and stops for
good. The test waits for the marker and kills the process there, so the kill can never land
after the run has finished, or before it reached the point."""
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

from conftest import SAMPLE, SHARED

ANNOTATE = str(Path(sys.executable).with_name("annotate"))

HOLD = r'''
import fnmatch, os, sys, tempfile, time
point, pattern, count, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
seen = 0

def reached(name):
    global seen
    if fnmatch.fnmatch(os.path.basename(name), pattern):
        seen += 1
        if seen == count:
            open(marker, "w").write(name)
            while True:
                time.sleep(60)

if point == "create":  # the temporary file exists, empty; nothing renamed
    _mkstemp = tempfile.mkstemp
    def mkstemp(*a, **k):
        fd, p = _mkstemp(*a, **k)
        reached(p)
        return fd, p
    tempfile.mkstemp = mkstemp
elif point == "written":  # the temporary file is complete and synced, not yet renamed
    _fsync = os.fsync
    def fsync(fd):
        _fsync(fd)
        reached(os.readlink(f"/proc/self/fd/{fd}"))
    os.fsync = fsync
elif point == "renamed":  # the output is in place
    _replace = os.replace
    def replace(src, dst, **k):
        _replace(src, dst, **k)
        reached(str(dst))
    os.replace = replace
from annotate.cli import app
app(sys.argv[5:], prog_name="annotate")
'''


def _run_held(tmp: Path, point: str, pattern: str, count: int, args: list[str], timeout: float = 300) -> None:
    """Run ``annotate ARGS`` until it reaches the kill point, then SIGKILL it there."""
    marker = tmp / f"held-{point}-{count}"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, point, pattern, str(count), str(marker), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"finished before the kill point {point} #{count}: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "kill point not reached in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def _labelme_folder(tmp: Path, copies: int) -> Path:
    from annotate.coco import load_coco

    ds = load_coco(SAMPLE / "coco" / "sample.json")
    docs = dataset_to_labelme(ds, tmp / "lm", SAMPLE / "images")
    for i in range(copies):
        for path, data in docs.items():
            if path.name.startswith("."):
                continue
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


@pytest.mark.parametrize("point", ["create", "written", "renamed"])
def test_sigkill_during_conversion_leaves_old_or_complete_output(tmp_path, point):
    lm = _labelme_folder(tmp_path, 200)
    out = tmp_path / "out.json"
    out.write_text('{"old": true}')
    args = ["convert", "labelme-to-coco", str(lm), "--images", str(SAMPLE / "images"), "-o", str(out), "--overwrite"]
    _run_held(tmp_path, point, ".out.json.*" if point != "renamed" else "out.json", 1, args)
    if point == "renamed":
        assert _valid_coco(out) and len(json.loads(out.read_text())["annotations"]) == 7 * 200
    else:
        assert out.read_text() == '{"old": true}'  # killed before the rename: the old file, whole
    # only a hidden temporary file can be left beside it; no stray out.json*
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out.json") and p != out]
    done = subprocess.run([ANNOTATE, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["annotations"]) == 7 * 200


def test_sigkill_during_prelabel_then_resume(tmp_path):
    from labelme import LabelFile

    from models.bottomup import save_random_checkpoint

    ckpt = save_random_checkpoint("cid-hrnet-w32", tmp_path / "c.pth")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(5):
        shutil.copy(SHARED / "coco" / "000000040083.jpg", images / f"im_{i}.jpg")
    out = tmp_path / "out"
    args = ["prelabel", str(images), "-o", str(out), "--checkpoint", str(ckpt), "--batch-size", "1",
            "--no-flip-test", "--workers", "1"]
    # killed while the third LabelMe file is written (complete in its temporary file, not renamed)
    _run_held(tmp_path, "written", ".im_*.json.*", 3, args)
    written = sorted(out.glob("im_*.json"))
    assert [f.name for f in written] == ["im_0.json", "im_1.json"]
    for f in written:
        LabelFile(str(f))  # complete and valid
    manifest = out / ".posekit-prelabel.json"
    if manifest.exists():
        json.loads(manifest.read_text())
    done = subprocess.run([ANNOTATE, *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "skipped 2 image(s)" in done.stdout
    assert sorted(f.name for f in out.glob("im_*.json")) == [f"im_{i}.json" for i in range(5)]
    files = json.loads(manifest.read_text())["files"]
    assert {f"im_{i}.json" for i in range(2, 5)} <= set(files)  # written after the kill: in the manifest
    assert _valid_coco(out / "prelabels.coco.json")
    assert len(json.loads((out / "prelabels.coco.json").read_text())["images"]) == 5
