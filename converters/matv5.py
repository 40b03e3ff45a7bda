"""A columnar reader for MATLAB v5 ``.mat`` files.

Every array of one variable becomes a row of a :class:`MatTree`: numpy columns for its class,
size, first child, struct field layout and (for numeric scalars) its value. The tree is
parsed level by level with vectorised reads of the decompressed bytes, so a struct of millions
of tiny arrays (the MPII release) loads many times faster than with ``scipy.io.loadmat``, which
builds a Python object per array.

It reads what MATLAB and scipy write for numeric, logical, char, cell and struct arrays in
little-endian files, compressed or not. Anything else (big-endian files, sparse, complex,
objects, function handles, v4 or v7.3/HDF5) raises :class:`Unsupported`; callers then fall
back to scipy, which reads or rejects the file. Bytes that do not add up raise
:class:`Corrupt` (a subclass), which callers report rather than hand to scipy.
"""
from __future__ import annotations

import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.matfile import MI_MATRIX, Corrupt, Unsupported, variable_bytes

MI_INT8, MI_INT32, MI_UINT32 = 1, 5, 6
MI_UINT16, MI_UTF8, MI_UTF16 = 4, 16, 17
# data element type -> numpy dtype of its values
DATA_DTYPES = {1: "<i1", 2: "<u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<f4", 9: "<f8",
               12: "<i8", 13: "<u8"}
_ITEMSIZE = np.zeros(32, np.int64)
for _t, _d in DATA_DTYPES.items():
    _ITEMSIZE[_t] = np.dtype(_d).itemsize
_ITEMSIZE[MI_UTF8] = 1
_TYPE_INFO = np.zeros(32, np.int64)  # item size of numeric data types, 0 for the others
_TYPE_INFO[list(DATA_DTYPES)] = _ITEMSIZE[list(DATA_DTYPES)]
_HASH_MULT = (np.arange(1, 65, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
_FLAGS_TAG64 = np.array([MI_UINT32, 8], "<u4").view("<u8")[0]
_SCALAR_DIMS_AND_NAME64 = np.array([MI_INT32, 8, 1, 1, MI_INT8, 0], "<u4").view("<u8")
_INT_COLUMNS = ("cls", "count", "rows", "dtype", "doff", "dlen", "cstart", "nchild", "nfields", "end")

# array classes (mxCLASS); EMPTY marks a matrix element of zero bytes (MATLAB's [] shorthand)
EMPTY, CELL, STRUCT, CHAR = 0, 1, 2, 4
LONG_LIST = 512  # sibling lists at least this long are walked one by one, not in lockstep
CHUNK = 1 << 16  # elements whose headers are decoded together
ASCII_TEXT_MAX = 256  # texts up to this length are decoded together
MAX_LAYOUT_TRIES = 8  # struct layouts per level found by comparing with one of each
MAX_SCALAR_KINDS = 8  # header kinds of numeric scalars decoded by template (the rest: _general)


def _numeric(cls: np.ndarray) -> np.ndarray:
    """Whether each array class is numeric (double ... uint64; logical arrays are uint8)."""
    return (cls >= 6) & (cls <= 15)


def group_ranks(counts: np.ndarray) -> np.ndarray:
    """For groups of ``counts`` items laid end to end, each item's position in its group."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


# the columns a tree keeps per node, with their types and the value of nodes that lack them
_STORED = {"off": (np.int64, 0), "cls": (np.int8, EMPTY), "count": (np.int64, 0), "vector": (bool, False),
           "layout": (np.int32, -1), "value": (np.float64, np.nan), "first": (np.int64, -1)}


@dataclass
class MatTree:
    """The arrays of one variable as numpy columns, node 0 being the variable itself.

    Nodes are numbered level by level (the variable, its fields or cells, theirs, ...); the
    columns are kept per level (a level without structs or cells stores no ``first``/``layout``)
    so that the tree costs about 40 bytes per array. Children of a struct array of ``count``
    elements and ``F`` fields are stored element by element (``first + element * F + field``),
    those of a cell array in storage order (``first + element``), as in the file.
    """

    parser: "_Parser"
    levels: list[dict[str, np.ndarray]]
    bases: np.ndarray     # number of the first node of each level
    layouts: list[tuple[str, ...]]

    def __len__(self) -> int:
        return int(self.bases[-1])

    def get(self, key: str, nodes: np.ndarray) -> np.ndarray:
        """Column ``key`` (off, cls, count, vector, layout, value, first) of ``nodes``; the
        column's empty value where a node is -1."""
        return self.columns((key,), nodes)[0]

    def columns(self, keys: tuple[str, ...], nodes: np.ndarray) -> list[np.ndarray]:
        """Several columns of the same nodes (the nodes are located once)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        valid = nodes >= 0
        all_valid = bool(valid.all())
        live = nodes if all_valid else nodes[valid]
        if live.size == 0:
            return [np.full(nodes.shape, _STORED[k][1], _STORED[k][0]) for k in keys]
        lo, hi = np.searchsorted(self.bases, [live.min(), live.max()], side="right") - 1
        if lo == hi:  # the usual case: all the nodes are on one level
            local = nodes - self.bases[lo] if all_valid else np.where(valid, nodes - self.bases[lo], 0)
            out = []
            for k in keys:
                dtype, missing = _STORED[k]
                col = self.levels[lo].get(k)
                if col is None:
                    out.append(np.full(nodes.shape, missing, dtype))
                    continue
                vals = col[local]
                if not all_valid:
                    vals[~valid] = missing
                out.append(vals)
            return out
        level = np.searchsorted(self.bases, nodes, side="right") - 1
        out = [np.full(nodes.shape, _STORED[k][1], _STORED[k][0]) for k in keys]
        for lv in range(int(lo), int(hi) + 1):
            sel = (level == lv) & valid
            for k, o in zip(keys, out):
                col = self.levels[lv].get(k)
                if col is not None:
                    o[sel] = col[nodes[sel] - self.bases[lv]]
        return out

    def field(self, nodes: np.ndarray, name: str, element: np.ndarray | int = 0) -> np.ndarray:
        """The child holding field ``name`` of element ``element`` of each struct node; -1 where
        the node is -1, not a struct, lacks the field or has no such element."""
        return self.fields(nodes, (name,), element)[0]

    def fields(self, nodes: np.ndarray, names: tuple[str, ...], element: np.ndarray | int = 0) -> list[np.ndarray]:
        """:meth:`field` for several names of the same nodes (the nodes are looked up once)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        nfields = np.array([len(lay) for lay in self.layouts] + [0], np.int64)
        layout, count, first = self.columns(("layout", "count", "first"), nodes)
        ok = (element >= 0) & (element < count)
        base = np.where(ok, first + element * nfields[layout], -1)
        out = []
        for name in names:
            fidx = np.array([lay.index(name) if name in lay else -1 for lay in self.layouts] + [-1], np.int64)
            f = fidx[layout]
            out.append(np.where(ok & (f >= 0), base + f, -1))
        return out

    def cells(self, node: int) -> np.ndarray:
        """The children of a cell array, in storage order."""
        cls, first, count = (int(c[0]) for c in self.columns(("cls", "first", "count"), np.array([node])))
        if cls != CELL:
            raise Unsupported("expected a cell array")
        return np.arange(first, first + count) if count else np.zeros(0, np.int64)

    def scalars(self, nodes: np.ndarray) -> np.ndarray:
        """The value of each node as MATLAB users mean a scalar: a numeric or logical array of one
        element, or a one-row char array holding a number (surrounding spaces ignored); NaN for
        anything else (so a NaN stored in the file and an absent value read the same)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        cls, count, value = self.columns(("cls", "count", "value"), nodes)
        if (cls == CELL).any():
            raise Unsupported("a cell where a scalar is expected")
        value = np.where((cls >= 6) & (count == 1), value, np.nan)
        chars = np.flatnonzero(cls == CHAR)
        for i, text in zip(chars.tolist(), self.strings(nodes[chars])):
            try:
                value[i] = float(text.strip())
            except (AttributeError, ValueError):
                pass
        return value

    def strings(self, nodes: np.ndarray) -> list[str | None]:
        """The text of each one-row char array; None for -1 and anything else."""
        nodes = np.asarray(nodes, dtype=np.int64)
        out: list[str | None] = [None] * nodes.shape[0]
        cls, vector, off = self.columns(("cls", "vector", "off"), nodes)
        if (cls == CELL).any():
            raise Unsupported("a cell where text is expected")
        ok = np.flatnonzero((cls == CHAR) & vector)
        if ok.size == 0:
            return out
        h = self.parser.data(off[ok])
        one_row = h["rows"] <= 1
        ok = ok[one_row]
        dtype, doff, dlen, count = (h[k][one_row] for k in ("dtype", "doff", "dlen", "count"))
        buf = self.parser.buf
        for t in np.unique(dtype).tolist():
            codec = _CODECS.get(t)
            if codec is None:
                raise Unsupported(f"char data of type {t}")
            seen: dict[bytes, str] = {}  # texts repeat (activity names): decode each once
            sel = np.flatnonzero(dtype == t)
            done = self._ascii_texts(ok[sel], doff[sel], dlen[sel], count[sel], 1 if t == MI_UTF8 else 2, out)
            sel = sel[~done]
            try:
                for i, a, n, c in zip(ok[sel].tolist(), doff[sel].tolist(), dlen[sel].tolist(), count[sel].tolist()):
                    raw = buf[a:a + n]
                    text = seen.get(raw)
                    if text is None:
                        text = seen[raw] = raw.decode(codec)
                    if len(text) != c:  # scipy cuts or refuses such text: let it decide
                        raise Unsupported("text whose length does not match its size")
                    out[i] = text.rstrip("\x00")  # as numpy (and so scipy) reads text
            except UnicodeDecodeError:
                raise Unsupported("char data that does not decode") from None
        return out

    def _ascii_texts(self, idx: np.ndarray, doff: np.ndarray, dlen: np.ndarray, count: np.ndarray, width: int,
                     out: list[str | None]) -> np.ndarray:
        """Decode the short ASCII texts among the char data at ``doff`` (``width`` bytes per
        character, ``count`` characters) into ``out[idx]``, all at once; returns which ones
        were done."""
        done = np.zeros(idx.shape[0], bool)
        short = np.flatnonzero((dlen <= ASCII_TEXT_MAX * width) & (dlen == count * width))
        span = int(dlen[short].max()) if short.size else 0
        short = short[doff[short] + span <= self.parser.u8.shape[0]]  # (texts at the very end: one by one)
        if short.size == 0:
            return done
        if span == 0:
            for i in idx[short].tolist():
                out[i] = ""
            done[short] = True
            return done
        inside = np.arange(span) < dlen[short, None]
        raw = np.lib.stride_tricks.sliding_window_view(self.parser.u8, span)[doff[short]]
        codes = raw if width == 1 else raw.view("<u2")
        inside = inside[:, ::width]
        ascii = (((codes > 0) & (codes < 128)) | ~inside).all(axis=1)  # no NUL: trailing ones would go
        rows = short[ascii]
        if rows.size:
            chars = np.where(inside[ascii], codes[ascii], 0).astype(np.uint8)
            texts = chars.view(f"S{chars.shape[1]}").ravel().astype(f"U{chars.shape[1]}").tolist()
            for i, text in zip(idx[rows].tolist(), texts):
                out[i] = text
            done[rows] = True
        return done

    def number_lists(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All values of numeric arrays (``[]`` has none) as float64 in storage order, end to
        end, with the number of values of each array."""
        nodes = np.asarray(nodes, dtype=np.int64)
        cls, count = self.columns(("cls", "count"), nodes)
        if ((cls != EMPTY) & (cls < 6)).any():
            raise Unsupported("expected numeric arrays")
        num = np.flatnonzero(cls >= 6)
        count = np.where(cls >= 6, count, 0)
        flat = np.zeros(int(count.sum()))
        starts = np.cumsum(count) - count
        if num.size:
            h = self.parser.data(self.get("off", nodes[num]))
            for t in np.flatnonzero(np.bincount(h["dtype"], minlength=32)).tolist():
                of_type = h["dtype"] == t
                sel, doff = num[of_type], h["doff"][of_type]
                cnt = count[sel]
                within = group_ranks(cnt)
                size = int(_ITEMSIZE[t])
                pos = np.repeat(doff, cnt) + within * size
                raw = self.parser.u8[pos[:, None] + np.arange(size)]
                flat[np.repeat(starts[sel], cnt) + within] = raw.view(DATA_DTYPES[t]).ravel()
        return flat, count

    def numbers(self, node: int) -> np.ndarray:
        """All values of one numeric array as float64, in storage (column-major) order."""
        return self.number_lists(np.array([node]))[0]


_CODECS = {MI_UTF8: "utf-8", MI_UINT16: "utf-16-le", MI_UTF16: "utf-16-le"}


def read_variable(path: str | Path, name: str) -> MatTree | None:
    """The variable ``name`` of a v5 ``.mat`` file as a :class:`MatTree`, None when absent."""
    buf = variable_bytes(path, name)
    return None if buf is None else _parse(buf)


def _pad8(n):
    return (n + 7) & ~7


def _blank_headers(n: int) -> dict[str, np.ndarray]:
    """Header columns for ``n`` arrays before decoding (the values of an empty ``[]``)."""
    h = {k: np.zeros(n, np.int64) for k in _INT_COLUMNS}
    h["layout"] = np.full(n, -1, np.int64)
    h["vector"] = np.ones(n, bool)
    h["value"] = np.full(n, np.nan)
    return h


class _Parser:
    """Level-by-level parse of one matrix element and everything inside it."""

    def __init__(self, buf: bytes) -> None:
        if len(buf) % 8:
            buf = buf + b"\x00" * (-len(buf) % 8)
        self.buf = buf
        self.u32 = np.frombuffer(buf, "<u4")
        self.u8 = np.frombuffer(buf, np.uint8)
        self.u64 = np.frombuffer(buf, "<u8")
        if self.u32.shape[0] < _Words.WIDTH:
            raise Corrupt("too short")
        self.windows = np.lib.stride_tricks.sliding_window_view(self.u32, _Words.WIDTH)
        self.layouts: list[tuple[str, ...]] = []
        self._layout_ids: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def data(self, off: np.ndarray) -> dict[str, np.ndarray]:
        """Headers of the arrays at ``off`` with their data location (type, offset, length, rows)."""
        return self._general(_Words(self, off), off, _blank_headers(off.shape[0]))

    def headers(self, off: np.ndarray) -> dict[str, np.ndarray]:
        """Decode the matrix headers at ``off``: class, dims, data location, struct layout.

        Numeric scalars in the usual layout (most of the nodes) are decoded from their first
        64 bytes in one pass; everything else goes through :meth:`_general`."""
        n = off.shape[0]
        b = _Words(self, off)
        h = _blank_headers(n)
        reg = self._scalars(b, off, h)
        rest = np.flatnonzero(~reg)
        if rest.size == n:
            return self._general(b, off, h)
        if rest.size:
            sub = self._general(b.sub(rest), off[rest], {k: v[rest] for k, v in h.items()})
            for k, v in sub.items():
                h[k][rest] = v
        return h

    def _scalars(self, b: "_Words", off: np.ndarray, h: dict[str, np.ndarray]) -> np.ndarray:
        """Fill ``h`` for the one-element numeric arrays with a 2-D size and an empty name (as
        MATLAB and scipy write struct fields); returns which elements those were.

        Such headers come in a few kinds (class, storage type, small or full data element),
        each a fixed run of words before the value: one element of each kind is checked
        field by field, then every element equal to it word for word is of that kind."""
        c = b.words
        n = off.shape[0]
        if b.sel is not None or n == 0:
            return np.zeros(n, bool)
        q = c.view("<u8")  # the same 64 bytes as 8 words of 64 bits: fewer, wider compares
        todo = (c[:, 0] == MI_MATRIX) & (q[:, 1] == _FLAGS_TAG64)
        for j, word in enumerate(_SCALAR_DIMS_AND_NAME64.tolist(), 3):
            todo &= q[:, j] == word
        if b.shifted:
            todo &= b.shift == 0
        todo &= _numeric(c[:, 4] & 0xFF)
        kind = np.full(n, -1, np.int64)
        value = np.full(n, np.nan)
        kinds: list[tuple[int, int, int, int, int]] = []
        for _ in range(2 * MAX_SCALAR_KINDS):  # bounded: odd files leave the rest to _general
            r = int(todo.argmax())
            if not todo[r] or len(kinds) == MAX_SCALAR_KINDS:
                break
            spec = _scalar_kind(c[r].tolist())
            if spec is None:  # left to _general, with every element of the same data tag
                todo &= c[:, 12] != c[r, 12]
                continue
            cls, dtype, small, nb = spec
            # the words not checked above: byte count, flags, data tag (and its length)
            m = (q[:, 0] == q[r, 0]) & (q[:, 2] == q[r, 2])
            m &= (c[:, 12] == c[r, 12]) if small else (q[:, 6] == q[r, 6])
            m &= todo
            todo &= ~m
            item = int(_ITEMSIZE[dtype])
            kind[m] = len(kinds)
            kinds.append((cls, dtype, item, 52 if small else 56, nb))
            words = c[m, 13] if small else (q[m, 7] if item == 8 else c[m, 14])
            value[m] = _decode_values(words.view(np.uint8).reshape(-1, words.itemsize), np.full(words.shape[0], dtype))
        reg = kind >= 0
        if not kinds:
            return reg
        cls, dtype, dlen, rel, nb = np.array(kinds + [(0, 0, 0, 0, -8)], np.int64).T  # the last for kind -1
        h["cls"], h["dtype"], h["dlen"] = cls[kind], dtype[kind], dlen[kind]
        h["count"] = reg.astype(np.int64)
        h["rows"] = h["count"].copy()
        h["doff"] = np.where(reg, off + rel[kind], 0)
        h["end"] = np.where(reg, off + 8 + nb[kind], 0)
        h["value"] = value
        if (h["end"] > len(self.buf)).any():
            raise Corrupt("matrix element runs past the end of the data")
        return reg

    def _general(self, b: "_Words", off: np.ndarray, h: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode any supported matrix header (vectorised over the elements)."""
        if not b.equal(0, MI_MATRIX):
            raise Corrupt("expected a matrix element")
        end = off + 8 + b(4)
        if (end > len(self.buf)).any():
            raise Corrupt("matrix element runs past the end of the data")
        h["end"] = end
        full = np.flatnonzero(end > off + 8)  # the rest are [] written as a bare tag
        b, o, end = b.sub(full), off[full], end[full]
        if not (b.equal(8, MI_UINT32) and b.equal(12, 8)):
            raise Corrupt("bad array flags")
        flags = b(16)
        if (flags & 0x800).any():
            raise Unsupported("complex arrays")
        cls = flags & 0xFF
        known = (cls == CELL) | (cls == STRUCT) | (cls == CHAR) | _numeric(cls)
        if not known.all():
            bad = int(cls[~known][0])
            if bad in (3, 5, 16, 17):
                raise Unsupported(f"array class {bad} (sparse, object or function handle)")
            raise Corrupt(f"unknown array class {bad}")
        dn = b(28)
        if not b.equal(24, MI_INT32) or (dn < 8).any() or (dn % 4).any():
            raise Corrupt("bad dimensions")
        d0, d1 = b(32), b(36)
        count, vector = d0 * d1, (dn == 8) & ((d0 <= 1) | (d1 <= 1))
        for i in np.flatnonzero(dn > 8):  # arrays of more than two dimensions (rare)
            for k in range(2, int(dn[i]) // 4):
                count[i] *= int(self.u32[(o[i] + 32) // 4 + k])
        if ((d0 | d1) >= 2**31).any() or (count >= 2**40).any():
            raise Corrupt("negative or huge dimensions")
        pos = 32 + _pad8(dn)  # relative to the element; next comes the array name (empty in structs)
        nw = b(pos)
        small = (nw >> 16) != 0
        pos = np.where(small, pos + 8, pos + 8 + _pad8(np.where(small, 0, b(pos + 4))))
        h["cls"][full], h["count"][full], h["rows"][full], h["vector"][full] = cls, count, d0, vector
        data = np.flatnonzero((cls == CHAR) | _numeric(cls))
        if data.size:
            self._data_headers(b.sub(data), o[data], pos[data], cls[data], count[data], end[data], full[data], h)
        st = np.flatnonzero(cls == STRUCT)
        if st.size:
            self._struct_headers(b.sub(st), o[st], pos[st], count[st], end[st], full[st], h)
        ce = np.flatnonzero(cls == CELL)
        h["cstart"][full[ce]], h["nchild"][full[ce]] = o[ce] + pos[ce], count[ce]
        if (h["nchild"] * 8 > h["end"] - h["cstart"]).any():
            raise Corrupt("more children than bytes")
        return h

    @staticmethod
    def _data_headers(bd: "_Words", o: np.ndarray, p: np.ndarray, cls: np.ndarray, count: np.ndarray,
                      end: np.ndarray, idx: np.ndarray, h: dict[str, np.ndarray]) -> None:
        """The data element of numeric and text arrays (``idx``: their rows in ``h``): type,
        offset, length, and the value of one-element numeric arrays."""
        dw = bd(p)
        small = (dw >> 16) != 0
        dtype = np.where(small, dw & 0xFFFF, dw)
        dlen = np.where(small, dw >> 16, bd(p + 4))
        drel = np.where(small, p + 4, p + 8)
        doff = o + drel
        item = _ITEMSIZE[np.minimum(dtype, 31)]
        if (item == 0).any() or (doff + dlen > end).any():
            raise Corrupt("unknown data type or data past the element")
        is_num = cls != CHAR
        if (is_num & ~np.isin(dtype, list(DATA_DTYPES))).any():
            raise Corrupt("numeric array with text data")
        if ((dlen != count * item) & (is_num | (dtype != MI_UTF8))).any():
            raise Corrupt("data length does not match the dimensions")
        h["dtype"][idx], h["doff"][idx], h["dlen"][idx] = dtype, doff, dlen
        one = np.flatnonzero(is_num & (count == 1))
        if one.size:
            bo, rel = bd.sub(one), drel[one]
            wide = item[one] > 4  # the second word only for 8-byte values (it may lie past the end)
            raw = np.stack([bo(rel), np.where(wide, bo(np.where(wide, rel + 4, rel)), 0)], axis=1)
            raw = raw.astype("<u4").view(np.uint8)
            h["value"][idx[one]] = _decode_values(raw, dtype[one])

    def _struct_headers(self, bs: "_Words", o: np.ndarray, p: np.ndarray, count: np.ndarray, end: np.ndarray,
                        idx: np.ndarray, h: dict[str, np.ndarray]) -> None:
        """The field names of structs (``idx``: their rows in ``h``): field count, layout id and
        where their children start."""
        lw = bs(p)
        small = lw == (MI_INT32 | (4 << 16))
        if not (small | ((lw == MI_INT32) & (bs(p + 4) == 4))).all():
            raise Corrupt("bad struct field name length")
        namelen = np.where(small, bs(p + 4), bs(p + 8))
        p = np.where(small, p + 8, p + 16)
        fw = bs(p)
        fsmall = (fw >> 16) != 0
        if (np.where(fsmall, fw & 0xFFFF, fw) != MI_INT8).any():
            raise Corrupt("bad struct field names")
        flen = np.where(fsmall, fw >> 16, bs(p + 4))
        foff = o + np.where(fsmall, p + 4, p + 8)
        if (foff + flen > end).any() or \
                ((flen > 0) & ((namelen <= 0) | (flen % np.maximum(namelen, 1) != 0))).any():
            raise Corrupt("bad struct field names")
        nf = np.where(flen > 0, flen // np.maximum(namelen, 1), 0)
        h["nfields"][idx] = nf
        h["cstart"][idx] = o + np.where(fsmall, p + 8, p + 8 + _pad8(flen))
        h["nchild"][idx] = count * nf
        h["layout"][idx] = self._layouts(foff, flen, namelen)

    def _layouts(self, foff: np.ndarray, flen: np.ndarray, namelen: np.ndarray) -> np.ndarray:
        """Struct layout ids: one per distinct list of field names. The names are compared as
        words: first against one struct of each of the few usual layouts, then (when a level
        has more) hashed and checked word for word against one representative."""
        out = np.full(foff.shape[0], -1, np.int64)
        todo = (foff % 4 == 0) & (foff + flen <= len(self.buf))  # the buffer's length is a multiple of 8
        for _ in range(MAX_LAYOUT_TRIES):
            r = int(todo.argmax()) if todo.size else 0
            if not todo.size or not todo[r]:
                break
            cand = np.flatnonzero(todo & (flen == flen[r]) & (namelen == namelen[r]))
            start, first, length = foff[cand] >> 2, int(foff[r]) >> 2, int(flen[r])
            same = np.ones(cand.shape[0], bool)
            for j, word in enumerate(self.u32[first:first + (length + 3) // 4].tolist()):
                used = min(length - 4 * j, 4)  # the bytes of the last word past the names are padding
                mask = 0xFFFFFFFF if used == 4 else (1 << 8 * used) - 1
                same &= (self.u32[start + j] & mask) == (word & mask)
            same = cand[same]
            out[same] = self._layout_id(int(foff[r]), int(flen[r]), int(namelen[r]))
            todo[same] = False
        rest = np.flatnonzero(out < 0)
        if rest.size:
            out[rest] = self._hashed_layouts(foff[rest], flen[rest], namelen[rest])
        return out

    def _hashed_layouts(self, foff: np.ndarray, flen: np.ndarray, namelen: np.ndarray) -> np.ndarray:
        """Layout ids of structs of many layouts: names as uint64 words, hashed, then checked word
        for word against one representative; one by one where that cannot be done."""
        out = np.full(foff.shape[0], -1, np.int64)
        width = int((flen.max() + 7) // 8) if foff.size else 0
        fast = np.flatnonzero((foff % 8 == 0) & (foff + 8 * width <= len(self.buf)))
        if fast.size and 0 < width <= 64:
            words = self.u64[(foff[fast] >> 3)[:, None] + np.arange(width)]
            valid = np.clip(flen[fast, None] - 8 * np.arange(width), 0, 8)  # bytes of each word in use
            words &= np.where(valid >= 8, ~np.uint64(0), (np.uint64(1) << (8 * valid).astype(np.uint64)) - 1)
            with np.errstate(over="ignore"):
                key = (words * _HASH_MULT[:width]).sum(axis=1, dtype=np.uint64) + flen[fast].astype(np.uint64) * 31 \
                    + namelen[fast].astype(np.uint64)
            _, rep, inverse = np.unique(key, return_index=True, return_inverse=True)
            same = rep[inverse]
            exact = (words == words[same]).all(axis=1) & (flen[fast] == flen[fast][same]) & \
                (namelen[fast] == namelen[fast][same])
            ids = np.array([self._layout_id(int(foff[fast[r]]), int(flen[fast[r]]), int(namelen[fast[r]]))
                            for r in rep.tolist()], np.int64)
            out[fast[exact]] = ids[inverse[exact]]
        for i in np.flatnonzero(out < 0).tolist():
            out[i] = self._layout_id(int(foff[i]), int(flen[i]), int(namelen[i]))
        return out

    def _layout_id(self, off: int, length: int, namelen: int) -> int:
        key = self.buf[off:off + length]
        lid = self._layout_ids.get(key)
        if lid is not None:
            return lid
        with self._lock:
            lid = self._layout_ids.get(key)
            if lid is not None:
                return lid
            lid = self._layout_ids[key] = len(self.layouts)
            self.layouts.append(tuple(key[j:j + namelen].split(b"\x00", 1)[0].decode("latin-1")
                                      for j in range(0, length, max(namelen, 1))))  # no fields: length 0
        return lid

    def children(self, cstart: np.ndarray, cend: np.ndarray, nchild: np.ndarray) -> np.ndarray:
        """Offsets of the children of each container, container by container, walking all the
        sibling lists in lockstep (long lists one element at a time)."""
        base = np.concatenate([[0], np.cumsum(nchild)])
        out = np.zeros(int(base[-1]), np.int64)
        long_ = np.flatnonzero(nchild >= LONG_LIST)
        for i in long_.tolist():
            out[base[i]:base[i + 1]] = self._walk(int(cstart[i]), int(cend[i]), int(nchild[i]))
        short = np.flatnonzero((nchild > 0) & (nchild < LONG_LIST))
        short = short[np.argsort(-nchild[short], kind="stable")]  # the still-active lists are a prefix
        cur, stop, b, m = cstart[short].copy(), cend[short], base[short], nchild[short]
        neg = -m
        for j in range(int(m[0]) if m.size else 0):
            k = int(np.searchsorted(neg, -j, side="left"))  # the lists with more than j children
            c = cur[:k]
            tag = self.u64[c >> 3]  # type and byte count in one read
            if ((tag & 0xFFFFFFFF) != MI_MATRIX).any():
                raise Corrupt("expected a matrix element")
            out[b[:k] + j] = c
            c += 8 + (tag >> 32).astype(np.int64)
            if (c > stop[:k]).any():
                raise Corrupt("child runs past its parent")
        if (cur != stop).any():
            raise Corrupt("children do not fill their parent")
        return out

    def _walk(self, cur: int, stop: int, n: int) -> np.ndarray:
        """Offsets of the ``n`` consecutive matrix elements that fill ``[cur, stop)``.

        Vectorised: every 8-byte position holding a matrix tag followed by an array-flags tag
        (or an empty ``[]`` matrix) is a candidate; the children are the candidates not inside
        an earlier candidate (a running maximum of their ends). The result is accepted only if
        it chains exactly from ``cur`` to ``stop``; otherwise (a data value that looks like a
        tag) it is walked one element at a time."""
        lo, hi = cur >> 3, stop >> 3
        if lo + 1 < hi <= lo + 32 * n:  # small children (a long list of big ones: one by one is cheaper)
            tag = self.u32[2 * lo:2 * (hi - 1):2] == MI_MATRIX
            tag &= (self.u64[lo + 1:hi] == _FLAGS_TAG64) | (self.u32[2 * lo + 1:2 * (hi - 1):2] == 0)  # or []
            cand = (np.flatnonzero(tag) + lo) * 8
            ends = cand + 8 + self.u32[(cand >> 2) + 1]
            before = np.maximum.accumulate(np.concatenate([[cur], ends[:-1]]))
            top = cand >= before
            sel, sel_end = cand[top], ends[top]
            if sel.shape[0] == n and n and sel[0] == cur and sel_end[-1] == stop and (sel_end[:-1] == sel[1:]).all():
                return sel
        return self._walk_slowly(cur, stop, n)

    def _walk_slowly(self, cur: int, stop: int, n: int) -> np.ndarray:
        out = [0] * n  # a list, then one array: cheaper than n numpy item assignments
        unpack, buf = struct.unpack_from, self.buf
        for j in range(n):
            if cur + 8 > stop:
                raise Corrupt("child runs past its parent")
            typ, nb = unpack("<II", buf, cur)
            if typ != MI_MATRIX:
                raise Corrupt("expected a matrix element")
            out[j] = cur
            cur += 8 + nb
        if cur != stop:
            raise Corrupt("children do not fill their parent")
        return np.array(out, np.int64)


def _scalar_kind(w: list[int]) -> tuple[int, int, bool, int] | None:
    """(class, data type, small data element, byte count) of a one-element numeric array whose
    header words are ``w`` (its flags, size and name already checked); None if it is not one."""
    cls, w12 = w[4] & 0xFF, w[12]
    if not 6 <= cls <= 15 or w[4] & 0x800:
        return None
    small = w12 > 0xFFFF
    dtype, nbytes = (w12 & 0xFFFF, w12 >> 16) if small else (w12, w[13])
    item = int(_TYPE_INFO[dtype]) if dtype < 32 else 0
    if item == 0 or nbytes != item or w[1] < (48 if small else 48 + item):
        return None
    return cls, dtype, small, w[1]


def _decode_values(raw: np.ndarray, dtype: np.ndarray) -> np.ndarray:
    """Float64 values from the first bytes of each row of ``raw`` (``(N, 4)`` or ``(N, 8)`` uint8), each row
    holding one value of data element type ``dtype``."""
    present = np.flatnonzero(np.bincount(dtype, minlength=32)).tolist()
    out = None
    for t in present:
        dt = np.dtype(DATA_DTYPES[t])
        vals = np.ascontiguousarray(raw[:, :dt.itemsize]).view(dt).ravel()
        out = vals.astype(np.float64) if out is None else np.where(dtype == t, vals, out)
    return np.full(dtype.shape[0], np.nan) if out is None else out


class _Words:
    """The first 64 bytes of each of a set of elements as uint32 words, read in one gather, so
    that header fields are columns rather than scattered reads of the whole buffer."""

    WIDTH = 16

    def __init__(self, p: _Parser, off: np.ndarray) -> None:
        self.p, self.off, self.sel = p, off, None
        start = np.minimum(off >> 2, p.u32.shape[0] - self.WIDTH)  # the last elements start earlier
        self.words, self.shift = p.windows[start], (off >> 2) - start
        self.shifted = bool(self.shift.any())

    def sub(self, idx: np.ndarray) -> "_Words":
        """The same reader restricted to elements ``idx`` (no copy of the words)."""
        if idx.shape[0] == self.off.shape[0]:
            return self
        out = object.__new__(_Words)
        out.p, out.words, out.off = self.p, self.words, self.off[idx]
        out.sel = idx if self.sel is None else self.sel[idx]
        out.shift = self.shift[idx]
        out.shifted = bool(out.shift.any())
        return out

    def column(self, r: int, width: int = 1) -> np.ndarray:
        """Words ``r .. r + width - 1`` of each element (uint32, no shift)."""
        return self.words[:, r:r + width] if self.sel is None else self.words[self.sel, r:r + width]

    def __call__(self, rel: int | np.ndarray) -> np.ndarray:
        """The word at byte ``off + rel`` of each element (``rel`` a multiple of 4), as int64."""
        n = self.off.shape[0]
        if n == 0:
            return np.zeros(0, np.int64)
        rel = np.asarray(rel, dtype=np.int64)
        if rel.ndim == 0 or rel.min() == rel.max():
            r = int(rel.flat[0]) >> 2
            if not self.shifted and r < self.WIDTH:
                return self.column(r)[:, 0].astype(np.int64)
            rel = np.full(n, int(rel.flat[0]), np.int64)
        idx = (rel >> 2) + self.shift
        inside = idx < self.WIDTH
        rows = np.arange(n) if self.sel is None else self.sel
        out = self.words[rows, np.where(inside, idx, 0)].astype(np.int64)
        if not inside.all():
            out[~inside] = self.p.u32[(self.off[~inside] + rel[~inside]) >> 2]
        return out

    def equal(self, rel: int, value: int) -> bool:
        """Whether the word at ``off + rel`` is ``value`` for every element."""
        if not self.shifted and rel >> 2 < self.WIDTH:
            return bool((self.column(rel >> 2) == value).all())
        return bool((self(rel) == value).all())


def _parse(buf: bytes) -> MatTree:
    p = _Parser(buf)
    levels: list[dict[str, np.ndarray]] = []
    bases = [0]
    off = np.zeros(1, np.int64)
    pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1))
    try:
        while off.size:
            n = off.shape[0]
            cols = {k: np.empty(n, _STORED[k][0]) for k in ("cls", "count", "vector", "layout", "value")}
            cols["off"] = off

            def chunk(i: int) -> tuple[np.ndarray, ...]:
                h = p.headers(off[i:i + CHUNK])
                for k in ("cls", "count", "vector", "layout", "value"):
                    cols[k][i:i + CHUNK] = h[k]
                c = np.flatnonzero(h["nchild"] > 0)
                return c + i, h["nchild"][c], p.children(h["cstart"][c], h["end"][c], h["nchild"][c])

            # in chunks, so that temporaries stay small and in cache; numpy releases the GIL
            # for most of the work, so a few threads share the chunks of a big level
            starts = range(0, n, CHUNK)
            conts = list(pool.map(chunk, starts)) if len(starts) > 1 else [chunk(0)]
            idx, nchild, off = (np.concatenate(x) for x in zip(*conts))
            if idx.size:
                cols["first"] = np.full(n, -1, np.int64)
                cols["first"][idx] = bases[-1] + n + np.concatenate([[0], np.cumsum(nchild)[:-1]])
            if not (cols["layout"] >= 0).any():
                del cols["layout"]
            levels.append(cols)
            bases.append(bases[-1] + n)
    except IndexError:
        raise Corrupt("offsets past the end of the data") from None
    finally:
        pool.shutdown()
    return MatTree(p, levels, np.array(bases, np.int64), p.layouts)
