"""Write ``.mat`` files shaped like the MPII Human Pose release (for samples, tests, benchmarks).

``write_release_mat(entries, path)`` takes one dict per image::

    {"name": "x.jpg", "train": 1, "persons": [{"points": [(id, x, y, is_visible), ...],
      "head": (x1, y1, x2, y2), "objpos": (x, y), "scale": s}, ...]}

Coordinates are written as given (the caller makes them 1-based); numbers may be numpy scalars
of any type and text. ``is_visible`` may be 0/1, a string such as "1", or None for an empty field. A single person or point is written
as a scalar struct and several as a struct array, as in the real file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _struct_array(records: list[dict[str, Any]], fields: list[str]) -> np.ndarray:
    arr = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, rec in enumerate(records):
        for f in fields:
            arr[0, i][f] = rec.get(f, np.zeros((0, 0)))
    return arr


def _num(v: Any, kind: type = float) -> Any:
    """Numbers as ``kind``; numpy scalars (np.uint8(3), np.float32(...)) and text kept as given,
    so that tests can write the types MATLAB uses."""
    return v if isinstance(v, (np.generic, str)) else kind(v)


def _person(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.get("head") is not None:
        out.update(zip(("x1", "y1", "x2", "y2"), (_num(v) for v in p["head"])))
    if p.get("scale") is not None:
        out["scale"] = _num(p["scale"])
    if p.get("objpos") is not None:
        out["objpos"] = {"x": _num(p["objpos"][0]), "y": _num(p["objpos"][1])}
    pts = p.get("points")
    if pts is not None:
        recs = [{"id": _num(i, int), "x": _num(x), "y": _num(y),
                 "is_visible": np.zeros((0, 0)) if v is None else v} for i, x, y, v in pts]
        out["annopoints"] = {"point": recs[0] if len(recs) == 1 else _struct_array(recs, ["id", "x", "y", "is_visible"])}
    return out


def write_release_mat(entries: list[dict[str, Any]], path: str | Path, with_img_train: bool = True,
                      with_extras: bool = True, compress: bool = True) -> None:
    """Write an MPII-release-shaped ``RELEASE`` struct to ``path``."""
    import scipy.io

    annolist = []
    for e in entries:
        persons = [_person(p) for p in e.get("persons", [])]
        fields = sorted({k for p in persons for k in p})
        if len(persons) == 1:
            rect: Any = persons[0]
        elif persons:
            rect = _struct_array(persons, fields)
        else:
            rect = np.zeros((0, 0))
        annolist.append({"image": {"name": e["name"]}, "annorect": rect, "frame_sec": np.zeros((0, 0)),
                         "vididx": np.zeros((0, 0))})
    release: dict[str, Any] = {"annolist": _struct_array(annolist, ["image", "annorect", "frame_sec", "vididx"])}
    if with_img_train:
        release["img_train"] = np.array([[int(e.get("train", 1)) for e in entries]], dtype=np.uint8)
    if with_extras:
        release["single_person"] = np.array(
            [np.array([[i + 1] for i in range(len(e.get("persons", [])))], dtype=np.uint8) for e in entries] + [None],
            dtype=object)[:-1].reshape(-1, 1)
        release["act"] = _struct_array([{"cat_name": e.get("category", ""), "act_name": e.get("activity", ""),
                                         "act_id": e.get("act_id", -1)} for e in entries],
                                       ["cat_name", "act_name", "act_id"]).T
    scipy.io.savemat(str(path), {"RELEASE": release}, do_compression=compress)
