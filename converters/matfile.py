"""The byte level of MATLAB v5 ``.mat`` files: find one variable and inflate it (no numpy).

Kept apart from :mod:`converters.matv5` so that a command can start reading and inflating a
big file in a background thread (:func:`prefetch`) while the interpreter is still importing
numpy and the converters; ISA-L's inflate releases the GIL.
"""
from __future__ import annotations

import os
import struct
import threading
from concurrent.futures import Future
from pathlib import Path

try:  # ISA-L's inflate is about twice as fast as zlib's
    from isal.isal_zlib import decompress
except ImportError:  # pragma: no cover - isal is a declared dependency
    from zlib import decompress

MI_MATRIX, MI_COMPRESSED = 14, 15
_pending: dict[tuple[str, str], Future] = {}


class Unsupported(Exception):
    """The file uses something the vectorised reader does not handle (scipy may read it)."""


class Corrupt(Unsupported):
    """The bytes do not add up (sizes past their container, bad tags, truncated data). Such
    files are not handed to scipy: its MAT reader can crash the interpreter on them."""


def _key(path: str | Path, name: str) -> tuple[str, str]:
    return os.path.realpath(path), name


def prefetch(path: str | Path, name: str) -> None:
    """Start :func:`variable_bytes` for ``path`` in a background thread (unless it is already
    started); the next call for the same file and variable takes its result (or its exception)."""
    if _key(path, name) in _pending:
        return
    fut: Future = Future()
    _pending[_key(path, name)] = fut

    def work() -> None:
        try:
            fut.set_result(_variable_bytes(path, name))
        except BaseException as exc:  # handed to the caller
            fut.set_exception(exc)
    threading.Thread(target=work, daemon=True).start()


def variable_bytes(path: str | Path, name: str) -> bytes | None:
    """The (inflated) matrix element of variable ``name``, None when the file has none.
    Raises OSError subclasses for unreadable files and :class:`Unsupported` for the rest."""
    fut = _pending.pop(_key(path, name), None)
    return fut.result() if fut is not None else _variable_bytes(path, name)


def _variable_bytes(path: str | Path, name: str) -> bytes | None:
    raw = Path(path).read_bytes()
    if len(raw) < 128 or raw[126:128] != b"IM" or raw[124:126] != b"\x00\x01":
        raise Unsupported("not a little-endian MATLAB v5 file")
    view = memoryview(raw)
    off = 128
    while off + 8 <= len(raw):
        typ, nbytes = struct.unpack_from("<II", raw, off)
        nxt = off + 8 + nbytes
        if nxt > len(raw):
            raise Corrupt("truncated file")
        if typ == MI_COMPRESSED:
            try:
                buf = decompress(view[off + 8:nxt])
            except Exception as exc:
                raise Corrupt(f"compressed data: {exc}") from None
        elif typ == MI_MATRIX:
            buf = raw[off:nxt]
        else:
            raise Corrupt(f"top-level element of type {typ}")
        if _variable_name(buf) == name:
            return buf
        off = nxt + (-nxt % 8 if typ == MI_MATRIX else 0)
    return None


def _variable_name(buf: bytes) -> str:
    if len(buf) < 40 or struct.unpack_from("<I", buf, 0)[0] != MI_MATRIX:
        raise Corrupt("expected a matrix element")
    dn = struct.unpack_from("<I", buf, 28)[0]
    pos = 32 + ((dn + 7) & ~7)
    if pos + 8 > len(buf):
        raise Corrupt("truncated matrix header")
    w, n = struct.unpack_from("<II", buf, pos)
    if w >> 16:  # small data element: length in the upper half, text in the next 4 bytes
        return buf[pos + 4:pos + 4 + (w >> 16)].decode("latin-1")
    return buf[pos + 8:pos + 8 + n].decode("latin-1")
