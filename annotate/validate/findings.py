"""Findings: what a validation rule reports, collected into a pandas table.

Ids are integers (pandas' nullable ``Int64``: empty where a finding is about the whole file or
a whole image); an id that is not an integer in the file (``"a7"``, ``1.5``) is not an id, so
the finding's ``image_id``/``ann_id`` is empty and the raw value is kept in ``value``.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

COLUMNS = ["rule", "severity", "image_id", "ann_id", "keypoints", "message", "value"]
SEVERITY_RANK = {"warning": 1, "error": 2}


def _int_or_none(x: Any) -> int | None:
    """``x`` as an id: an integer that fits int64, else None."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) and -2**63 <= int(x) < 2**63:
        return int(x)
    return None


class Findings:
    """Accumulates findings; ``add_rows`` takes whole arrays so rules stay vectorised."""

    def __init__(self) -> None:
        self._frames: list[pd.DataFrame] = []
        self._rows: list[dict[str, Any]] = []

    def add(self, rule: str, severity: str, image_id: Any, ann_id: Any, message: str,
            value: Any = None, keypoints: str = "") -> None:
        iid, aid = _int_or_none(image_id), _int_or_none(ann_id)
        if value is None:  # an id that is not an integer is kept as the measured value
            value = ann_id if ann_id is not None and aid is None else (
                image_id if image_id is not None and iid is None else None)
        self._rows.append(dict(rule=rule, severity=severity, image_id=iid, ann_id=aid,
                               keypoints=keypoints, message=message, value=value))

    def reporter(self):
        """A callback in the shape :func:`annotate.coco.from_coco_dict` reports problems with."""
        def report(rule, severity, image_id, ann_id, message, value=None):
            self.add(rule, severity, image_id, ann_id, message, value)
        return report

    def add_rows(self, rule: str, severity: str, image_ids: Sequence, ann_ids: Sequence | None,
                 messages: Iterable[str], values: Sequence | None = None,
                 keypoints: Iterable[str] | None = None) -> None:
        """One finding per element of ``image_ids`` (integer arrays; ``ann_ids`` None for
        image-level findings)."""
        n = len(image_ids)
        if n == 0:
            return
        self._frames.append(pd.DataFrame({
            "rule": rule, "severity": severity,
            "image_id": pd.array(np.asarray(image_ids, dtype=np.int64), dtype="Int64"),
            "ann_id": pd.array(np.asarray(ann_ids, dtype=np.int64), dtype="Int64") if ann_ids is not None
            else pd.array([None] * n, dtype="Int64"),
            "keypoints": list(keypoints) if keypoints is not None else [""] * n,
            "message": list(messages),
            "value": pd.Series(list(values) if values is not None else [None] * n, dtype=object)}))

    def frame(self) -> pd.DataFrame:
        """All findings, errors first (then by rule, image id and annotation id)."""
        parts = list(self._frames)
        if self._rows:
            rows = pd.DataFrame(self._rows, columns=COLUMNS)
            rows["image_id"] = pd.array(rows["image_id"].tolist(), dtype="Int64")
            rows["ann_id"] = pd.array(rows["ann_id"].tolist(), dtype="Int64")
            rows["value"] = pd.Series([r["value"] for r in self._rows], dtype=object)
            parts.append(rows)
        if not parts:
            return empty()
        df = pd.concat(parts, ignore_index=True)[COLUMNS]
        return sort_findings(df)


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.array([], dtype="Int64") if c in ("image_id", "ann_id") else pd.Series([], dtype=object)
                         for c in COLUMNS})


def sort_findings(df: pd.DataFrame) -> pd.DataFrame:
    """Errors first, then warnings; within a severity by rule, image id and annotation id."""
    rank = -df["severity"].map(SEVERITY_RANK).fillna(0)
    order = pd.DataFrame({"r": rank, "rule": df["rule"], "i": df["image_id"], "a": df["ann_id"]})
    idx = order.sort_values(["r", "rule", "i", "a"], kind="stable", na_position="first").index
    return df.loc[idx].reset_index(drop=True)
