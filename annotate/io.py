"""File I/O helpers: atomic writes, strict JSON reading, safe relative paths."""
from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import math
import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson

from .errors import PosekitError


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched. ``fsync=False``:
    for many files of one run that ends with one ``os.sync()`` (still never a partial file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if fsync:
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path, fsync) as tmp:
        tmp.write_bytes(data)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _has_nonfinite(obj: Any) -> bool:
    """Whether a JSON-bound object holds NaN or infinity (orjson writes those as ``null``).
    Fragments are left out: their writers check their numbers."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_has_nonfinite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_nonfinite(v) for v in obj)
    if isinstance(obj, (np.ndarray, np.floating)):
        return np.asarray(obj).dtype.kind in "fc" and not np.isfinite(obj).all()
    return False


def dumps_json(obj: Any, indent: int | None = None) -> bytes:
    """Serialise to UTF-8 JSON; numpy scalars and arrays are converted; NaN and infinity raise
    ValueError (JSON has no such numbers).

    orjson does the work (about 8x the standard library) and takes pre-serialised
    :class:`orjson.Fragment` rows; it writes NaN as ``null``, so when the output holds a ``null``
    the object is searched for a non-finite number (a ``null`` may be a real None). What orjson
    refuses (integers past 64 bits) and other indents go to the standard library."""
    if indent in (None, 2):
        try:
            out = orjson.dumps(obj, default=_json_default,
                               option=orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0))
        except (orjson.JSONEncodeError, TypeError):
            out = None
        if out is not None:
            if b"null" in out and _has_nonfinite(obj):
                raise ValueError("Out of range float values are not JSON compliant (NaN or infinity)")
            return out
    return json.dumps(obj, indent=indent, ensure_ascii=False, default=_json_default,
                      allow_nan=False).encode("utf-8")


def json_numbers(values: "np.ndarray | list[float]") -> list:
    """Floats as JSON should hold them: integral values as ints (as COCO writes pixels), others
    unchanged."""
    vals = np.asarray(values, dtype=np.float64).tolist()
    return [int(v) if v.is_integer() and abs(v) < 2**53 else v for v in vals]


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = None) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (NaN/infinity refused: JSON has no such numbers)."""
    try:
        data = dumps_json(obj, indent)
    except ValueError as exc:
        raise PosekitError(path, f"refusing to write: {exc}") from None
    write_bytes_atomic(path, data)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a great many objects that are not
    garbage (a parsed JSON file and the dataset made from it): otherwise it scans them again and
    again as they accumulate, which takes as long as parsing a COCO-train-sized file itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, every failure one :class:`PosekitError` line."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PosekitError(path, "file not found") from None
    except IsADirectoryError:
        raise PosekitError(path, "is a folder, expected a JSON file") from None
    except OSError as exc:
        raise PosekitError(path, f"cannot read: {exc.strerror}") from None


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning every failure into one :class:`PosekitError` line."""
    raw = read_bytes(path)
    with paused_gc():
        return parse_json_bytes(raw, path)


def parse_json_bytes(raw: bytes, path: str | Path) -> Any:
    """Decode UTF-8 JSON bytes, raising :class:`PosekitError` naming ``path``.

    orjson parses (about 3x the standard library); what it refuses goes to the standard library,
    which says where the error is, or reads what is not strict JSON (NaN, integers past 64 bits)."""
    try:
        return orjson.loads(raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PosekitError(path, f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise PosekitError(path, "empty file, expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PosekitError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PosekitError(path, "invalid JSON: nested too deeply") from None


def relative_name(name: str, what: str = "image file_name", owner: str | Path | None = None) -> str:
    """``name`` as a normalised relative path (``\\`` read as ``/``); PosekitError for empty names,
    NUL bytes, absolute paths and ``..``. The one path-safety rule: anything named after a file
    name stays inside its folder (:func:`safe_relative` adds the check on the real path)."""
    if not isinstance(name, str) or not name:
        raise PosekitError(owner, f"{what} must be a non-empty string")
    if "\x00" in name:
        raise PosekitError(owner, f"{what} {name!r} contains a NUL byte")
    rel = name.replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise PosekitError(owner, f"{what} {name!r} is an absolute path; expected a relative path")
    if ".." in rel.split("/"):
        raise PosekitError(owner, f"{what} {name!r} climbs out of its folder ('..'); expected a path inside it")
    return name_key(rel)


def name_key(name: str) -> str:
    """A file name as names are compared (images matched across sets): ``\\`` read as ``/``, ``.``
    and doubled ``/`` resolved (names that need none of it are returned as they are)."""
    if "\\" in name or "//" in name or "/." in "/" + name or name.endswith("/"):
        return posixpath.normpath(name.replace("\\", "/"))
    return name


def safe_relative(base: str | Path, rel: str, what: str, owner: str | Path,
                  root: str | Path | None = None) -> Path:
    """Resolve ``rel`` against ``base``; refuse absolute paths and paths escaping ``root``
    (default ``base``), on the real path too (symbolic links)."""
    if not isinstance(rel, str) or not rel:
        raise PosekitError(owner, f"{what} must be a non-empty string")
    if "\x00" in rel:
        raise PosekitError(owner, f"{what} {rel!r} contains a NUL byte")
    candidate = Path(rel.replace("\\", "/"))
    if candidate.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise PosekitError(owner, f"{what} {rel!r} is an absolute path; expected a path relative to {base}")
    root_resolved = resolved_folder(str(root if root is not None else base))
    full = os.path.normpath(os.path.join(resolved_folder(str(base)), candidate))
    if not _inside(full, root_resolved):
        # the lexical path may pass through a symlink (e.g. '../../shared/x' with shared a link):
        # decide on the real path, as the operating system will
        full = os.path.realpath(os.path.join(base, candidate))
        if not _inside(full, root_resolved):
            raise PosekitError(owner, f"{what} {rel!r} points outside {root if root is not None else base}")
    return Path(full)


def _inside(path: str, root: str) -> bool:
    return path != root and os.path.commonpath([root, path]) == root


@functools.lru_cache(maxsize=1024)
def resolved_folder(path: str) -> str:
    """``realpath`` of a folder, cached (a folder conversion resolves the same few folders)."""
    return os.path.realpath(path)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
