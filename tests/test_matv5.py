"""The vectorised MAT-v5 reader against scipy: same release from the same files, generated with
the quirks of the real MPII file; corrupt files give one PosekitError line and nothing else."""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.coco import to_coco_dict
from annotate.errors import PosekitError
from converters import mpii_release
from converters.formats import Context, settle
from converters.matv5 import read_variable
from converters.mpii import read_mpii_mat
from converters.mpii_mat import write_release_mat

from conftest import SAMPLE

EXAMPLES = int(os.environ.get("POSEKIT_FUZZ_EXAMPLES", 150))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

number_types = st.sampled_from([float, int, np.uint8, np.int16, np.uint16, np.int32, np.float32, np.int64])
coords = st.one_of(st.floats(-50, 2000), st.sampled_from([float("nan"), float("inf"), 0.0, 1.0]))
visibility = st.one_of(st.none(), st.sampled_from([0, 1, 2, "1", "0", " 1 ", "x", np.bool_(False), np.bool_(True),
                                                   np.uint8(0), 0.5]))


@st.composite
def person(draw):
    kind = draw(number_types)
    cast = (lambda v: kind(v)) if kind not in (float, int) else (lambda v: v)
    p = {}
    if draw(st.booleans()):
        ids = draw(st.lists(st.integers(-1, 17), max_size=18))  # out-of-range and repeated ids too
        p["points"] = [(cast(max(i, 0)) if kind in (np.uint8, np.uint16) else cast(i),
                        draw(coords), draw(coords), draw(visibility)) for i in ids]
    if draw(st.booleans()):
        p["head"] = tuple(draw(coords) for _ in range(4))
    if draw(st.booleans()):
        p["objpos"] = (draw(coords), draw(coords))
    if draw(st.booleans()) or not p:  # a struct needs a field for scipy to write it
        p["scale"] = draw(st.one_of(st.floats(0.1, 10), st.just(float("nan"))))
    return p


@st.composite
def release(draw):
    images = []
    for i in range(draw(st.integers(1, 5))):
        images.append({"name": draw(st.sampled_from([f"{i:05d}.jpg", f"dir/ä{i}.png"])),
                       "train": draw(st.integers(0, 1)), "persons": draw(st.lists(person(), max_size=3)),
                       "category": draw(st.sampled_from(["", "sports", "home activities"])),
                       "activity": draw(st.sampled_from(["", "running"])), "act_id": draw(st.sampled_from([-1, 3, 12]))})
    return images, draw(st.booleans()), draw(st.booleans()), draw(st.booleans())


def _settled(path: Path, layout: str, fast: bool = True):
    """The release read in ``layout``, its account settled (every person and point carried or
    counted as not carried)."""
    ctx = Context()
    ds = read_mpii_mat(path, layout, ctx, fast=fast)
    settle(ctx.account, ds, ctx.notes, path, "reading mpii")
    return ds


def _same(a, b) -> None:
    da, db = to_coco_dict(a), to_coco_dict(b)
    assert json.dumps(da, sort_keys=True, default=str) == json.dumps(db, sort_keys=True, default=str)


@SETTINGS
@given(release())
def test_vectorised_reader_equals_scipy(tmp_path_factory, spec):
    images, with_train, with_extras, compress = spec
    path = tmp_path_factory.mktemp("m") / "r.mat"
    write_release_mat(images, path, with_img_train=with_train, with_extras=with_extras, compress=compress)
    # files of several images have the shape of the real release: the vectorised reader must take
    # them (with one image, scipy's squeezing turns single_person's 1x1 cell into its content)
    if len(images) == 1 and with_extras:
        for layout in ("mpii16", "coco17"):
            _same(_settled(path, layout), _settled(path, layout, fast=False))
        return
    fast = mpii_release._release_from_tree(read_variable(path, "RELEASE"), path)
    slow = mpii_release._release_from_scipy(path)
    assert fast.names == slow.names and fast.image_extra == slow.image_extra
    for k in ("person_image", "person_index", "kps16", "center", "scale", "head_box"):
        np.testing.assert_array_equal(getattr(fast, k), getattr(slow, k), err_msg=k)
    for k in ("persons", "points", "empty_persons", "bad_points", "replaced_points"):
        np.testing.assert_array_equal(getattr(fast.walked, k), getattr(slow.walked, k), err_msg=k)
    assert fast.walked.persons.tolist() == [len(im["persons"]) for im in images]
    for layout in ("mpii16", "coco17"):
        _same(_settled(path, layout), _settled(path, layout, fast=False))


def test_real_release_quirks_read_the_same(tmp_path):
    """Scalar struct vs struct array, points out of order and missing, every is_visible form,
    text and small-integer numbers, test persons with objpos/scale only."""
    pts = [(np.uint8(9), 120, 30, "1"), (2, 100.5, 200, 0), (0, 90, 390, None), (0, 95, 395, np.bool_(True)),
           (np.int16(13), 130, 80, " 0 "), (15, np.float32(160.25), 150, 1)]
    images = [{"name": "a.jpg", "train": 1, "persons": [{"points": pts[:1], "objpos": (1, 2), "scale": 1.5}]},
              {"name": "b.jpg", "train": 1, "persons": [{"points": pts, "head": (1, 2, 30, 40)},
                                                         {"points": pts[2:4]}]},
              {"name": "c.jpg", "train": 0, "persons": [{"objpos": (300, 200), "scale": 2.5}]},
              {"name": "d.jpg", "train": 0, "persons": []}]
    write_release_mat(images, tmp_path / "r.mat")
    ds = read_mpii_mat(tmp_path / "r.mat", "mpii16")
    _same(ds, read_mpii_mat(tmp_path / "r.mat", "mpii16", fast=False))
    b = ds.keypoints[1]
    assert b[0].tolist() == [94, 394, 2]  # the later of two points with id 0 wins; logical true -> visible
    assert b[2].tolist() == [99.5, 199, 1] and b[13].tolist() == [129, 79, 1]  # 0 and " 0 " -> occluded
    assert b[9].tolist() == [119, 29, 2] and b[15, 0] == 159.25
    assert ds.extra[1]["head_box"] == [0, 1, 29, 38] and "head_box" not in ds.extra[0]
    assert ds.extra[3]["center"] == [299, 199] and ds.extra[3]["scale"] == 2.5


def test_files_the_vectorised_reader_leaves_to_scipy(tmp_path, monkeypatch):
    """A cell where the release has a struct: scipy reads it (same result as the struct)."""
    calls = []
    real = mpii_release._release_from_scipy
    monkeypatch.setattr(mpii_release, "_release_from_scipy", lambda p: calls.append(p) or real(p))
    person = {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "objpos": {"x": 10.0, "y": 20.0}, "scale": 1.0}
    annolist = np.zeros((1, 1), dtype=[("image", "O"), ("annorect", "O")])
    annolist[0, 0]["image"] = {"name": "a.jpg"}
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = person
    annolist[0, 0]["annorect"] = cell
    scipy.io.savemat(str(tmp_path / "c.mat"), {"RELEASE": {"annolist": annolist}})
    ds = read_mpii_mat(tmp_path / "c.mat", "mpii16")
    assert calls and len(ds) == 1 and ds.extra[0]["center"] == [9, 19]


def _element(typ: int, payload: bytes, small_ok: bool = True) -> bytes:
    """A MAT-v5 data element (the small 4-byte form when it fits, as MATLAB writes)."""
    if small_ok and 0 < len(payload) <= 4:
        return struct.pack("<HH", typ, len(payload)) + payload.ljust(4, b"\0")
    return struct.pack("<II", typ, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def _matrix(cls: int, dims: tuple[int, ...], body: bytes, name: bytes = b"") -> bytes:
    flags = _element(6, struct.pack("<II", cls, 0), small_ok=False)
    content = flags + _element(5, struct.pack(f"<{len(dims)}i", *dims), small_ok=False) + _element(1, name) + body
    return struct.pack("<II", 14, len(content)) + content


def test_matlab_compact_storage_and_text(tmp_path):
    """MATLAB stores a double that fits a smaller type in that type (uint8, int16, uint16, in the
    small 4-byte element form or not); several such kinds in one struct array are read like
    scipy reads them, as are UTF-16 and non-ASCII names and a name ending in NULs."""
    stored = [(2, "<u1", 7), (2, "<u1", 255), (3, "<i2", -3), (4, "<u2", 1023), (5, "<i4", -70000),
              (9, "<f8", 2.5), (7, "<f4", 0.25), (2, "<u1", 0)]
    fields = []
    for k, (typ, fmt, value) in enumerate(stored * 3):  # 24 elements: each kind several times
        data = np.array([value], fmt).tobytes()
        fields.append(_matrix(6, (1, 1), _element(typ, data, small_ok=k % 2 == 0)))
    texts = ["abc", "dir/ä1.png", "x\0\0"]
    for t in texts:
        codes = np.array([ord(c) for c in t], "<u2").tobytes()
        fields.append(_matrix(4, (1, len(t)), _element(4, codes)))  # MATLAB's UTF-16 chars
    fields.append(_matrix(4, (1, 3), _element(16, b"xyz")))  # UTF-8, as scipy writes
    names = b"v\0\0\0\0\0\0\0"
    body = _element(5, struct.pack("<i", 8)) + _element(1, names)
    n = len(fields)
    var = _matrix(2, (1, n), body + b"".join(fields), name=b"S")
    header = b"MATLAB 5.0 MAT-file, posekit test".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"
    path = tmp_path / "compact.mat"
    path.write_bytes(header + var)
    tree = read_variable(path, "S")
    root = np.zeros(1, np.int64)
    children = tree.field(np.full(n, 0), "v", np.arange(n))
    assert tree.get("count", root)[0] == n
    numbers = tree.scalars(children[:24])
    assert numbers.tolist() == [float(v) for _, _, v in stored * 3]
    assert tree.strings(children[24:]) == ["abc", "dir/ä1.png", "x", "xyz"]
    theirs = scipy.io.loadmat(str(path), squeeze_me=True, uint16_codec="utf-16-le")["S"]["v"]
    assert [float(x) for x in theirs[:24]] == numbers.tolist()
    assert [str(x) for x in theirs[24:]] == ["abc", "dir/ä1.png", "x", "xyz"]


def test_big_endian_and_v4_files_fall_back_to_scipy(tmp_path):
    scipy.io.savemat(str(tmp_path / "v4.mat"), {"RELEASE": np.ones((2, 2))}, format="4")
    with pytest.raises(PosekitError, match="v4.mat: RELEASE has no 'annolist'"):
        read_mpii_mat(tmp_path / "v4.mat")


def _uncompressed_sample(tmp_path: Path) -> bytes:
    images = [{"name": f"{i}.jpg", "train": i % 2,
               "persons": [{"points": [(j, 10 * j, 20 * j, j % 2) for j in range(i, 16, 3)], "head": (1, 2, 3, 4),
                            "objpos": (5, 6), "scale": 1.5}] * (i % 3)} for i in range(6)]
    write_release_mat(images, tmp_path / "u.mat", compress=False)
    return (tmp_path / "u.mat").read_bytes()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzz_mat_reader(tmp_path_factory, data):
    """Corrupt words of an uncompressed release: the converter succeeds or raises PosekitError;
    nothing else escapes (and scipy, which can segfault on such files, is not reached)."""
    tmp = tmp_path_factory.mktemp("fz")
    raw = bytearray(_uncompressed_sample(tmp))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(128, len(raw) - 4)) & ~3
        value = data.draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 4, 5, 6, 8, 14, 15, 2**31])))
        raw[pos:pos + 4] = value.to_bytes(4, "little")
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp / "f.mat"
    path.write_bytes(bytes(raw))
    # scipy's own robustness is not under test (its reader can segfault on corrupt files): a file
    # the vectorised reader leaves to scipy counts as an error here
    with mock.patch.object(mpii_release, "_release_from_scipy", side_effect=PosekitError(path, "left to scipy")):
        try:
            ours = to_coco_dict(_settled(path, "mpii16"))
        except PosekitError:
            return
    try:  # scipy is stricter about fields that carry nothing here (e.g. the type of a name)
        theirs = to_coco_dict(_settled(path, "mpii16", fast=False))
    except PosekitError:
        return
    assert json.dumps(ours, sort_keys=True, default=str) == json.dumps(theirs, sort_keys=True, default=str)


def test_sample_release_is_read_by_the_vectorised_reader():
    path = SAMPLE / "mpii" / "sample_mpii.mat"
    fast = mpii_release._release_from_tree(read_variable(path, "RELEASE"), path)
    assert len(fast.names) == 4 and math.isfinite(fast.kps16.sum())
