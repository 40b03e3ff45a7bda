"""The validation report: terminal summary, findings.csv/findings.json, pictures and index.html."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..dataset import KeypointDataset
from ..io import write_bytes_atomic
from .page import Verdict, write_page
from .pictures import MAX_PICTURES, Pictures, write_pictures


def summary(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per rule: severity, count and the first message; errors first, then by count."""
    if findings.empty:
        return pd.DataFrame(columns=["rule", "severity", "count", "example"])
    g = findings.groupby(["rule", "severity"], sort=False)
    out = g.size().rename("count").reset_index()
    out["example"] = g["message"].first().values
    out["_rank"] = (out["severity"] != "error").astype(int)
    return out.sort_values(["_rank", "count", "rule"], ascending=[True, False, True]) \
        .drop(columns="_rank").reset_index(drop=True)


def summary_table(findings: pd.DataFrame, title: str) -> Any:
    """A rich table of :func:`summary` that reads in 80 columns: each rule id whole on its line,
    its first message below it (the message wraps, the rule id never does)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = summary(findings)
    t = Table(title=escape(title), box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("count", justify="right", no_wrap=True)
    t.add_column("severity", no_wrap=True)
    t.add_column("rule / first finding", min_width=max((len(r) for r in table["rule"]), default=4))
    for row in table.itertuples():
        style = "red" if row.severity == "error" else "yellow"
        t.add_row(str(row.count), f"[{style}]{row.severity}[/]", f"[bold]{row.rule}[/]\n[dim]{escape(row.example)}[/]")
    return t


def _records(findings: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: ids as int or None (never 500742.0)."""
    out = []
    for r in findings.to_dict("records"):
        for k in ("image_id", "ann_id"):
            r[k] = None if pd.isna(r[k]) else int(r[k])
        v = r["value"]
        if isinstance(v, float) and v != v:
            r["value"] = None
        elif hasattr(v, "item"):  # numpy scalars
            r["value"] = v.item()
        out.append(r)
    return out


def write_tables(findings: pd.DataFrame, out_dir: Path) -> None:
    """``findings.csv`` and ``findings.json``, errors first, integer ids."""
    write_bytes_atomic(Path(out_dir) / "findings.csv", findings.to_csv(index=False).encode())
    write_bytes_atomic(Path(out_dir) / "findings.json",
                       json.dumps(_records(findings), indent=1, default=str).encode())


@dataclass
class Report:
    folder: Path
    page: Path
    pictures: Pictures | None


def write_report(findings: pd.DataFrame, ds: KeypointDataset, out_dir: Path, verdict: Verdict,
                 images_dir: Path | None = None, max_pictures: int = MAX_PICTURES) -> Report:
    """Everything ``--report`` writes: the tables, with ``images_dir`` a picture per flagged
    annotation (at most ``max_pictures``), and the page."""
    out_dir = Path(out_dir)
    write_tables(findings, out_dir)
    pics = write_pictures(findings, ds, Path(images_dir), out_dir, max_pictures) if images_dir is not None else None
    page = write_page(out_dir, findings, ds, verdict, pics)
    return Report(out_dir, page, pics)
