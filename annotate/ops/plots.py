"""Plots for the report pages (stats, compare): matplotlib's object API on the Agg canvas (no
pyplot state, no global backend switch), written as PNG bytes or as a data URL to embed."""
from __future__ import annotations

import base64
import io
from typing import Any


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Any:
    """A figure of ``width`` x ``height`` inches (drawn by the Agg canvas when saved)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def figure_png(fig: Any, dpi: int = 100, tight: bool = False) -> bytes:
    """A figure as PNG bytes (``tight``: cropped to what is drawn)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def png_data_url(fig: Any, dpi: int = 96) -> str:
    """A figure as a ``data:image/png;base64,...`` URL, cropped to what is drawn."""
    return "data:image/png;base64," + base64.b64encode(figure_png(fig, dpi, tight=True)).decode("ascii")
