"""Findings: what a validation rule reports, collected into a pandas table."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

COLUMNS = ["rule", "severity", "image_id", "ann_id", "keypoints", "message", "value"]
SEVERITY_RANK = {"warning": 1, "error": 2}


class Findings:
    """Accumulates findings; ``add_rows`` takes whole arrays so rules stay vectorised."""

    def __init__(self) -> None:
        self._frames: list[pd.DataFrame] = []
        self._rows: list[dict[str, Any]] = []

    def add(self, rule: str, severity: str, image_id: Any, ann_id: Any, message: str,
            value: Any = None, keypoints: str = "") -> None:
        self._rows.append(dict(rule=rule, severity=severity, image_id=image_id, ann_id=ann_id,
                               keypoints=keypoints, message=message, value=value))

    def reporter(self):
        """A callback in the shape :func:`annotate.coco.from_coco_dict` reports problems with."""
        def report(rule, severity, image_id, ann_id, message, value=None):
            self.add(rule, severity, image_id, ann_id, message, value)
        return report

    def add_rows(self, rule: str, severity: str, image_ids: Sequence, ann_ids: Sequence,
                 messages: Iterable[str], values: Sequence | None = None,
                 keypoints: Iterable[str] | None = None) -> None:
        n = len(ann_ids)
        if n == 0:
            return
        self._frames.append(pd.DataFrame({
            "rule": rule, "severity": severity, "image_id": np.asarray(image_ids),
            "ann_id": np.asarray(ann_ids), "keypoints": list(keypoints) if keypoints is not None else [""] * n,
            "message": list(messages), "value": list(values) if values is not None else [None] * n}))

    def frame(self) -> pd.DataFrame:
        parts = [f for f in self._frames]
        if self._rows:
            parts.append(pd.DataFrame(self._rows, columns=COLUMNS))
        if not parts:
            return pd.DataFrame(columns=COLUMNS)
        df = pd.concat(parts, ignore_index=True)[COLUMNS]
        return df.astype({"image_id": "object", "ann_id": "object"})
