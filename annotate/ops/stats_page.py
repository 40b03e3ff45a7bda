"""The ``annotate stats --report DIR`` page: ``index.html`` (one self-contained file: the plots are
PNGs drawn with matplotlib and embedded as data URLs) and ``stats.json`` (the numbers).

Plots: persons per image, keypoints per person, per keypoint visible / occluded / unlabeled,
person sizes with COCO's area thresholds, image sizes, and a heat map per keypoint of where it
lies in the person's box (small multiples)."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from ..io import dumps_json
from ..validate.page import PAGE_CSS
from .plots import figure_png, new_figure
from .stats import HEAT_RANGE, LARGE_AREA, SMALL_AREA, DatasetStats, overview_rows

#: Colours: visible, occluded, unlabeled (as the validation pictures: green, orange, grey).
VISIBLE, OCCLUDED, UNLABELED = "#2a9d3a", "#f08c00", "#c8c8c8"
BAR = "#3b6ea8"

_CSS_MORE = """
main{max-width:1100px} figure{margin:1em 0 2em;background:#fff;border:1px solid #ddd;padding:.6em}
figure img{max-width:100%;height:auto;display:block} figcaption{color:#555;margin-top:.3em}
table.kv td:first-child{font-weight:bold;white-space:nowrap} td.n,th.n{text-align:right}
"""


def plot_persons_per_image(st: DatasetStats) -> Any:
    fig = new_figure(7, 3.2)
    ax = fig.add_subplot()
    buckets = st.numbers["persons_per_image"]
    ax.bar([b["persons"] for b in buckets], [b["images"] for b in buckets], color=BAR)
    _label_bars(ax)
    _counts_axis(ax.yaxis)
    ax.set_xlabel("persons on the image")
    ax.set_ylabel("images")
    return fig


def plot_keypoints_per_person(st: DatasetStats) -> Any:
    fig = new_figure(7, 3.2)
    ax = fig.add_subplot()
    counts = st.numbers["keypoints_per_person"]
    ax.bar(np.arange(len(counts)), counts, color=BAR)
    ax.set_xticks(np.arange(len(counts)) if len(counts) <= 30 else np.arange(0, len(counts), 5))
    _counts_axis(ax.yaxis)
    ax.set_xlabel("labeled keypoints")
    ax.set_ylabel("persons")
    return fig


def plot_per_keypoint(st: DatasetStats) -> Any:
    """Horizontal stacked bars: per keypoint the fraction of persons with it visible, occluded,
    unlabeled."""
    rows = st.numbers["per_keypoint"]
    total = max(st.numbers["persons"]["count"], 1)
    fig = new_figure(7, 1.0 + 0.24 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    vis = np.array([r["visible"] for r in rows]) / total
    occ = np.array([r["occluded"] for r in rows]) / total
    ax.barh(y, vis, color=VISIBLE, label="visible (v=2)")
    ax.barh(y, occ, left=vis, color=OCCLUDED, label="occluded (v=1)")
    ax.barh(y, 1 - vis - occ, left=vis + occ, color=UNLABELED, label="unlabeled (v=0)")
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8 if len(rows) > 30 else 9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(_percent())
    ax.set_xlabel("of persons")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return fig


def plot_person_sizes(st: DatasetStats) -> Any:
    """Histogram of person area (log bins) with COCO's small / medium / large thresholds."""
    area = st.person_area[np.isfinite(st.person_area) & (st.person_area > 0)]
    fig = new_figure(7, 3.4)
    ax = fig.add_subplot()
    sizes = st.numbers["person_sizes"]
    if len(area):
        lo, hi = np.log10(area.min()), np.log10(area.max())
        bins = np.logspace(min(lo, 1.0), max(hi, 5.0), 60)
        ax.stairs(np.histogram(area, bins)[0], bins, fill=True, color=BAR)
        ax.set_xscale("log")
        for x in (SMALL_AREA, LARGE_AREA):
            ax.axvline(x, color="#b3261e", linestyle="--", linewidth=1.2)
        top = ax.get_ylim()[1] * 1.3  # room above the bars for the range labels
        ax.set_ylim(0, top)
        for text, x in ((f"small\n{sizes['small']:,}", np.sqrt(bins[0] * SMALL_AREA)),
                        (f"medium\n{sizes['medium']:,}", np.sqrt(SMALL_AREA * LARGE_AREA)),
                        (f"large\n{sizes['large']:,}", np.sqrt(LARGE_AREA * bins[-1]))):
            ax.text(x, top * 0.97, text, ha="center", va="top", color="#b3261e", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no person with a known area", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("person area (pixels², log scale); dashed: 32² and 96²")
    _counts_axis(ax.yaxis)
    ax.set_ylabel("persons")
    return fig


def plot_image_sizes(st: DatasetStats) -> Any:
    """Width against height, one dot per distinct size, its area by the number of images."""
    fig = new_figure(6, 4.2)
    ax = fig.add_subplot()
    s = st.image_sizes
    if len(s):
        ax.scatter(s[:, 0], s[:, 1], s=20 + 400 * np.sqrt(s[:, 2] / s[:, 2].max()), color=BAR, alpha=0.6,
                   edgecolors="white", linewidths=0.5)
        for w, h, n in s[:3]:
            ax.annotate(f"{w}x{h}: {n:,}", (w, h), textcoords="offset points", xytext=(0, 13), fontsize=8,
                        ha="center", bbox={"fc": "white", "alpha": 0.8, "lw": 0, "pad": 1})
        top = 1.12 * max(s[:, 0].max(), s[:, 1].max())
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
    else:
        ax.text(0.5, 0.5, "no image size known\n(pass --images DIR to read them)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("width (pixels)")
    ax.set_ylabel("height (pixels)")
    return fig


def plot_heat(st: DatasetStats) -> Any:
    """A small heat map per keypoint: where it lies in its person's box (dashed: the box)."""
    K = len(st.keypoints)
    cols = 6 if K <= 36 else 10
    rows = max(1, -(-K // cols))
    width, height = 1.75 * cols, 1.95 * rows + 0.45
    fig = new_figure(width, height, layout=None)  # a fixed grid: constrained layout over many axes is slow
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.1 / width, bottom=0.1 / height, top=1 - 0.6 / height,
                        wspace=0.08, hspace=0.3)
    lo, hi = HEAT_RANGE
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= K:
            ax.set_axis_off()
            continue
        h = st.heat[k]
        ax.imshow(np.sqrt(h), cmap="magma", extent=(lo, hi, hi, lo), interpolation="nearest",
                  vmin=0, vmax=max(np.sqrt(h.max()), 1e-9))
        ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="#7fd3ff", linestyle="--", linewidth=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(hi, lo)
        ax.set_title(f"{st.keypoints[k]} ({int(h.sum()):,})", fontsize=8)
    fig.suptitle("Where each keypoint lies in the person box (box normalised to the dashed square; "
                 "brighter: more persons)", fontsize=10)
    return fig


def _label_bars(ax: Any) -> None:
    ax.margins(y=0.1)
    for c in ax.containers:
        ax.bar_label(c, labels=[f"{int(v):,}" for v in c.datavalues], fontsize=8, padding=2)


def _counts_axis(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


#: (id, heading, caption, plotter) of each plot on the page, in order.
PLOTS = (
    ("persons-per-image", "Persons per image", "Images by how many persons (crowd regions left out) they hold.",
     plot_persons_per_image),
    ("keypoints-per-person", "Keypoints per person", "Persons by how many of their keypoints are labeled (v > 0).",
     plot_keypoints_per_person),
    ("per-keypoint", "Per keypoint", "For each keypoint, the share of persons where it is visible, labeled "
     "but occluded, or not labeled.", plot_per_keypoint),
    ("person-sizes", "Person sizes", "Person areas against COCO's thresholds: small < 32² ≤ medium < 96² ≤ "
     "large (the area COCOeval uses; the box's where a file gives none).", plot_person_sizes),
    ("image-sizes", "Image sizes", "Each distinct width and height; the dot's area grows with its images (the three most common labeled).",
     plot_image_sizes),
    ("keypoint-heat", "Keypoints in the person box", "For each keypoint, where its labeled points lie in the "
     "person's box, the box scaled to the dashed unit square (x right, y down); points more than 0.2 box "
     "sizes outside are left out (the table counts every point outside the box).", plot_heat),
)


def render_page(st: DatasetStats, pngs: dict[str, bytes]) -> str:
    """The page as HTML text."""
    n = st.numbers
    e = html.escape
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8>"
             f"<meta name=viewport content='width=device-width,initial-scale=1'>"
             f"<title>posekit stats of {e(Path(n['source']).name)}</title><style>{PAGE_CSS}{_CSS_MORE}</style>"
             f"<header><h1>Dataset statistics of <code>{e(n['source'])}</code></h1>"
             f"<span id=totals>{n['format']}: {n['images']['count']:,} images, {n['persons']['count']:,} persons, "
             f"{n['crowd_regions']:,} crowd regions</span> <span class=muted>(numbers: "
             f"<a href='stats.json'>stats.json</a>)</span></header><main>"]
    parts.append("<h2>Overview</h2><table class=kv id=overview>")
    parts += [f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in overview_rows(st)]
    parts.append("</table>")
    for key, heading, caption, _ in PLOTS:
        data = base64.b64encode(pngs[key]).decode("ascii")
        parts.append(f"<h2>{e(heading)}</h2><figure id={key}><img src='data:image/png;base64,{data}' "
                     f"alt='{e(heading)}'><figcaption>{e(caption)}</figcaption></figure>")
        if key == "per-keypoint":
            parts.append(keypoint_table(st))
    parts.append("</main></html>")
    return "".join(parts)


def keypoint_table(st: DatasetStats) -> str:
    total = st.numbers["persons"]["count"]

    def cell(v: int) -> str:
        pct = f" <span class=muted>({100 * v / total:.1f}%)</span>" if total else ""
        return f"<td class=n>{v:,}{pct}</td>"
    head = "".join(f"<th class=n>{h}</th>" for h in ("labeled", "visible", "occluded", "outside the box"))
    rows = [f"<tr><td>{html.escape(r['name'])}</td>{cell(r['labeled'])}{cell(r['visible'])}{cell(r['occluded'])}"
            f"<td class=n>{r['outside_box']:,}</td></tr>" for r in st.numbers["per_keypoint"]]
    return (f"<table id=keypoints><thead><tr><th>keypoint</th>{head}</tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table>")


def report_files(st: DatasetStats) -> dict[str, bytes]:
    """``index.html`` and ``stats.json`` of the report folder."""
    pngs = {key: figure_png(plot(st)) for key, _, _, plot in PLOTS}
    return {"index.html": render_page(st, pngs).encode("utf-8"), "stats.json": dumps_json(st.numbers, indent=2)}


def write_report(st: DatasetStats, folder: Path, overwrite: bool) -> Path:
    """Write the report folder (atomically, as every output; existing files only with
    ``overwrite``); returns the page's path."""
    from converters.formats import Output, write_output

    write_output(Output(Path(folder), report_files(st), folder=True), overwrite)
    return Path(folder) / "index.html"
