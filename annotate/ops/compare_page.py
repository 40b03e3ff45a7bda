"""The ``compare --report`` folder: ``index.html`` (one self-contained page: plots drawn with
matplotlib and pictures of the worst disagreements embedded as data URIs), ``compare.json`` and
``keypoints.csv`` (the per-keypoint table).

A picture shows both persons of a pair on a crop of the image (a grey canvas when the image is
not found): REF's skeleton in green, OTHER's in orange, each differing keypoint joined REF to
OTHER by a red line and named.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..draw import label, short_name
from ..errors import PosekitError
from ..images import image_path, read_image
from ..io import dumps_json
from .compare import DIFFER, MOVED_PX, Comparison, Side, differ_text, moved_line, oks_line, to_json
from .plots import new_figure, png_data_url

REF_BGR = (60, 190, 40)      # green
OTHER_BGR = (0, 140, 255)    # orange
DIFF_BGR = (40, 40, 230)     # red
CANVAS = 70                  # grey of the background where the image is not found
SIDE = 400                   # longer side of a picture, pixels


def report_files(cmp: Comparison, ref: Side, other: Side, images_dir: Path | None, n: int) -> dict[str, bytes]:
    """The report folder's files (name -> bytes); pictures of the ``n`` worst pairs and of the
    first ``n`` persons only one side has."""
    images = _Images(images_dir, ref.path)
    cards = [_pair_card(cmp, ref, other, w, images) for w in cmp.worst[:n]]
    only = [_single_card(ref, int(r), "REF", images) for r in cmp.ref_unmatched[:n].tolist()]
    only += [_single_card(other, int(r), "OTHER", images) for r in cmp.other_unmatched[:n].tolist()]
    page = render_page(cmp, ref, other, cards, only, images, n)
    return {"index.html": page.encode(), "compare.json": dumps_json(to_json(cmp, ref, other), indent=2),
            "keypoints.csv": cmp.table.to_csv(index=False, float_format="%.6g").encode()}


# --------------------------------------------------------------------------- pictures

class _Images:
    """Images read once each; ``None`` (and the reason kept) where there is none to read."""

    def __init__(self, folder: Path | None, owner: Path) -> None:
        self.folder, self.owner = folder, owner
        self.cache: dict[str, np.ndarray | None] = {}
        self.failed: dict[str, str] = {}

    def get(self, file_name: str) -> np.ndarray | None:
        if file_name not in self.cache:
            img = None
            if self.folder is not None:
                try:
                    img = read_image(image_path(self.folder, file_name, self.owner))
                except PosekitError as exc:
                    self.failed[file_name] = exc.message
            self.cache[file_name] = img
        return self.cache[file_name]


def _view(persons: list[np.ndarray]) -> tuple[float, float, float]:
    """A square ``x0, y0, side`` around the labeled points of ``persons``, with a quarter of
    their size (at least 40 px) around them."""
    pts = np.concatenate([p[p[:, 2] > 0, :2] for p in persons] + [np.zeros((0, 2))])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        pts = np.zeros((1, 2))
    lo, hi = pts.min(0), pts.max(0)
    half = max(float((hi - lo).max()) * 0.625, 40.0)
    cx, cy = (lo + hi) / 2
    return float(cx - half), float(cy - half), 2 * half


def _canvas(img: np.ndarray | None, view: tuple[float, float, float]) -> tuple[np.ndarray, float]:
    """The square ``view`` of ``img`` as a SIDE x SIDE picture, dimmed and greyed so that the
    skeletons stand out (grey beyond the image, or everywhere without one); the scale."""
    x0, y0, size = view
    s = SIDE / size
    if img is None:
        return np.full((SIDE, SIDE, 3), CANVAS, np.uint8), s
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]])
    out = cv2.warpAffine(img, m, (SIDE, SIDE), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(CANVAS, CANVAS, CANVAS))
    grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(out, 0.3, grey, 0.35, 10), s


def _to_canvas(kps: np.ndarray, view: tuple[float, float, float], s: float) -> np.ndarray:
    out = kps.astype(np.float64, copy=True)
    out[:, 0] = (out[:, 0] - view[0]) * s
    out[:, 1] = (out[:, 1] - view[1]) * s
    return out


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _text(img: np.ndarray, text: str, at: tuple[int, int], gap: int, colour=(255, 255, 255)) -> None:
    """``text`` beside point ``at`` (right of it, or left where it would leave the picture)."""
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    w = cv2.getTextSize(text, font, size, 1)[0][0]
    x = at[0] + gap if at[0] + gap + w < img.shape[1] else at[0] - gap - w
    org = (x, at[1] + 4)
    cv2.putText(img, text, org, font, size, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, font, size, colour, 1, cv2.LINE_AA)


def draw_person(img: np.ndarray, kps: np.ndarray, limbs, colour) -> None:
    """One skeleton in one colour (in place): limbs, visible points filled, occluded ones hollow."""
    lab = (kps[:, 2] > 0) & np.isfinite(kps[:, :2]).all(axis=1)
    K = len(kps)
    for a, b in limbs:
        if a < K and b < K and lab[a] and lab[b]:
            cv2.line(img, _pt(kps[a]), _pt(kps[b]), colour, 2, cv2.LINE_AA)
    for j in np.flatnonzero(lab).tolist():
        filled = kps[j, 2] >= 2
        cv2.circle(img, _pt(kps[j]), 4, colour, -1 if filled else 2, cv2.LINE_AA)
        if filled:
            cv2.circle(img, _pt(kps[j]), 4, (0, 0, 0), 1, cv2.LINE_AA)


def pair_picture(img: np.ndarray | None, a: np.ndarray, b: np.ndarray, limbs, names: list[str],
                 differ: list[dict[str, Any]], title: str) -> np.ndarray:
    """Both persons of a pair on a crop of ``img``: REF green, OTHER orange, differing keypoints
    joined REF -> OTHER in red and named."""
    view = _view([a, b])
    out, s = _canvas(img, view)
    ca, cb = _to_canvas(a, view, s), _to_canvas(b, view, s)
    draw_person(out, cb, limbs, OTHER_BGR)
    draw_person(out, ca, limbs, REF_BGR)
    for d in differ:
        j = d["index"]
        p = ca[j] if d["what"] != "only in OTHER" else cb[j]
        if d["what"] == "moved":
            cv2.line(out, _pt(ca[j]), _pt(cb[j]), DIFF_BGR, 2, cv2.LINE_AA)
            cv2.circle(out, _pt(cb[j]), 7, DIFF_BGR, 2, cv2.LINE_AA)
        cv2.circle(out, _pt(p), 9, DIFF_BGR, 2, cv2.LINE_AA)
        tag = short_name(names[j]) + ("" if d["what"] == "moved" else f" ({d['what']})")
        _text(out, tag, _pt(p), 11)
    return label(out, title)


def _pair_card(cmp: Comparison, ref: Side, other: Side, w: dict[str, Any], images: _Images) -> str:
    a, b = ref.ds.keypoints[w["ref_row"]], other.ds.keypoints[w["other_row"]]
    pic = pair_picture(images.get(w["image"]), a, b, ref.ds.category.skeleton, cmp.names, w["differ"],
                       f"OKS {w['oks']:.3f}  {w['image']}")
    return (f"<figure class=card><img src='{_jpeg(pic)}' alt='OKS {w['oks']:.3f} on {_e(w['image'])}'>"
            f"<figcaption><b>OKS {w['oks']:.3f}</b> · {_e(w['image'])} · REF #{w['ref_id']} / OTHER "
            f"#{w['other_id']}<br>{_e(differ_text(w, 6))}</figcaption></figure>")


def _single_card(side: Side, row: int, name: str, images: _Images) -> str:
    files = {im.id: im.file_name for im in side.ds.images}
    file_name = files.get(int(side.ds.image_id[row]), "")
    kps = side.ds.keypoints[row]
    img = images.get(file_name)
    view = _view([kps])
    out, s = _canvas(img, view)
    draw_person(out, _to_canvas(kps, view, s), side.ds.category.skeleton, REF_BGR if name == "REF" else OTHER_BGR)
    pic = label(out, f"only in {name}  {file_name}")
    n = int((kps[:, 2] > 0).sum())
    return (f"<figure class=card><img src='{_jpeg(pic)}' alt='only in {name}: {_e(file_name)}'>"
            f"<figcaption><b>only in {name}</b> · {_e(file_name)} · #{int(side.ds.ann_id[row])} · {n} labeled "
            f"keypoints</figcaption></figure>")


def _jpeg(img: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


# --------------------------------------------------------------------------- plots

def keypoint_plot(cmp: Comparison) -> str:
    """Per keypoint: mean normalised error (left) and PCK at 0.05 and 0.1 (right)."""
    t = cmp.table
    y = np.arange(len(t))[::-1]
    fig = new_figure(10, 0.28 * len(t) + 1.6, layout="tight")
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, sharey=ax1)
    ax1.barh(y, np.nan_to_num(t["mean_error"]), color="#d9822b")
    ax1.set_yticks(y, [short_name(n) for n in t["keypoint"]])
    ax1.set_xlabel("mean error / sqrt(REF person area)")
    ax1.axvline(0.05, color="#999", lw=0.8, ls="--")
    ax1.axvline(0.1, color="#666", lw=0.8, ls="--")
    ax1.set_title("how far the keypoints are apart")
    h = 0.38
    ax2.barh(y + h / 2, np.nan_to_num(t["pck_0.05"]), h, label="PCK@0.05", color="#4c8ed9")
    ax2.barh(y - h / 2, np.nan_to_num(t["pck_0.1"]), h, label="PCK@0.1", color="#9cc3ee")
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("share of REF-labeled keypoints within the threshold")
    ax2.set_title("PCK")
    ax2.legend(loc="lower right", fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
    return png_data_url(fig)


def confusion_plot(cmp: Comparison) -> str:
    """The visibility flags, REF against OTHER, as a heat map with counts."""
    c = cmp.confusion.sum(axis=0)
    fig = new_figure(4.2, 3.6, layout="tight")
    ax = fig.add_subplot()
    ax.imshow(np.log1p(c), cmap="Blues")
    labels = ["0 unlabeled", "1 occluded", "2 visible"]
    ax.set_xticks(range(3), labels, fontsize=8)
    ax.set_yticks(range(3), labels, fontsize=8)
    ax.set_xlabel("OTHER v")
    ax.set_ylabel("REF v")
    hi = np.log1p(c).max() or 1
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{int(c[i, j]):,}", ha="center", va="center",
                    color="white" if np.log1p(c[i, j]) > hi * 0.6 else "black", fontsize=10)
    ax.set_title("visibility flags (matched persons)", fontsize=10)
    return png_data_url(fig)


def oks_plot(cmp: Comparison) -> str:
    """How the matched pairs' OKS are spread."""
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(4.2, 3.6, layout="tight")
    ax = fig.add_subplot()
    ax.hist(cmp.oks, bins=np.linspace(0, 1, 51), color="#5a9f5a")
    ax.set_xlabel("OKS of a matched pair")
    ax.set_ylabel("pairs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{len(cmp.oks):,} matched pairs; {len(cmp.ref_unmatched):,} only in REF, "
                 f"{len(cmp.other_unmatched):,} only in OTHER", fontsize=9)
    ax.grid(alpha=0.3)
    return png_data_url(fig)


# --------------------------------------------------------------------------- the page

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#f7f7f7}
header{padding:1em 1.5em;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:1.3em;margin:0 0 .4em} h2{font-size:1.1em;margin:1.4em 0 .5em}
main{padding:0 1.5em 2em;max-width:1400px}
.figures{display:flex;gap:.8em;flex-wrap:wrap;margin:.6em 0}
.figure{background:#f2f5f9;border:1px solid #dde3ea;border-radius:6px;padding:.35em .8em;flex:1 1 0;min-width:6em;
 max-width:11em}
.figure b{display:block;font-size:1.35em} .figure span{color:#555;font-size:.85em}
.closing{background:#fff8e6;border:1px solid #f0d89a;border-radius:6px;padding:.6em .9em;margin:.6em 0}
.fail{background:#fdecea;border-color:#f2b8b5}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
.bar{display:inline-block;height:.6em;background:#d9822b;vertical-align:middle;margin-left:.4em}
.plots{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.plots img{background:#fff;border:1px solid #ddd;max-width:100%}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1em}
.card{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;overflow:hidden}
.card img{width:100%;display:block} .card figcaption{padding:.4em .6em;font-size:.9em}
.legend span{display:inline-block;margin-right:1.4em}
.sw{display:inline-block;width:1.6em;height:.4em;vertical-align:middle;margin-right:.35em}
.muted{color:#777} code{background:#eef;padding:0 .2em}
"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _figure(value: str, what: str, title: str = "") -> str:
    return f"<div class=figure title='{_e(title or what)}'><b>{_e(value)}</b><span>{_e(what)}</span></div>"


def _num(x: float, digits: int = 3) -> str:
    return "-" if not np.isfinite(x) else f"{x:.{digits}f}"


def _keypoint_table(cmp: Comparison) -> str:
    t = cmp.table
    top = float(np.nanmax(t["mean_error"])) if np.isfinite(t["mean_error"]).any() else 1.0
    rows = ["<table id=keypoints><thead><tr><th>keypoint</th><th>sigma</th><th>REF labeled</th><th>both</th>"
            "<th>only REF</th><th>only OTHER</th><th>mean error</th><th>median</th><th>mean px</th>"
            "<th>PCK@0.05</th><th>PCK@0.1</th><th>moved</th></tr></thead><tbody>"]
    for r in t.to_dict("records"):
        bar = (f"<span class=bar style='width:{60 * r['mean_error'] / top:.0f}px'></span>"
               if np.isfinite(r["mean_error"]) and top > 0 else "")
        pct = [("-" if not np.isfinite(r[k]) else f"{100 * r[k]:.1f}%") for k in ("pck_0.05", "pck_0.1", "moved")]
        rows.append(f"<tr><td>{_e(r['keypoint'])}</td><td>{r['sigma']:.3f}{'*' if r['sigma_default'] else ''}</td>"
                    f"<td>{r['ref_labeled']}</td><td>{r['both_labeled']}</td><td>{r['only_ref']}</td>"
                    f"<td>{r['only_other']}</td><td>{_num(r['mean_error'])}{bar}</td><td>{_num(r['median_error'])}</td>"
                    f"<td>{_num(r['mean_px'], 1)}</td><td>{pct[0]}</td><td>{pct[1]}</td><td>{pct[2]}</td></tr>")
    return "".join(rows) + "</tbody></table>"


def _ap_table(cmp: Comparison) -> str:
    s = cmp.ap.named()
    cols = (("", "all"), ("50", "OKS 0.5"), ("75", "OKS 0.75"), ("_medium", "medium"), ("_large", "large"))
    head = "".join(f"<th>{label}</th>" for _, label in cols)
    body = "".join(f"<tr><th>{k}</th>" + "".join(f"<td>{_num(s[k + c]) if s[k + c] >= 0 else '-'}</td>"
                                                 for c, _ in cols) + "</tr>" for k in ("AP", "AR"))
    return f"<table id=cocoeval><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_page(cmp: Comparison, ref: Side, other: Side, cards: list[str], only: list[str], images: _Images,
                n: int) -> str:
    """The page as HTML text."""
    from .compare import sigma_line

    ap = cmp.ap.named()
    pck = cmp.table
    n_ref = pck["ref_labeled"].sum()
    pck10 = float(np.nansum(pck["pck_0.1"] * pck["ref_labeled"]) / n_ref) if n_ref else float("nan")
    figures = [_figure(_num(cmp.mean_oks), "mean OKS", "every compared person; an unmatched one counts 0"),
               _figure(_num(cmp.mean_oks_matched), "OKS of matched", "mean over the matched pairs"),
               _figure(f"{len(cmp.oks):,}", "matched persons"),
               _figure(f"{len(cmp.ref_unmatched):,}", "only in REF"),
               _figure(f"{len(cmp.other_unmatched):,}", "only in OTHER"),
               _figure(_num(ap["AP"]) if ap["AP"] >= 0 else "-", "AP", "COCOeval, REF as ground truth"),
               _figure(_num(ap["AR"]) if ap["AR"] >= 0 else "-", "AR", "COCOeval, REF as ground truth"),
               _figure("-" if not np.isfinite(pck10) else f"{100 * pck10:.1f}%", "PCK@0.1",
                       "all REF-labeled keypoints of matched persons")]
    im = cmp.images
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8>"
             f"<meta name=viewport content='width=device-width,initial-scale=1'>"
             f"<title>posekit compare: {_e(Path(ref.path).name)} vs {_e(Path(other.path).name)}</title>"
             f"<style>{_CSS}</style><header><h1>Comparison of <code>{_e(other.path)}</code> ({_e(other.fmt)}, OTHER) "
             f"with <code>{_e(ref.path)}</code> ({_e(ref.fmt)}, REF)</h1>"
             f"<div class=figures>{''.join(figures)}</div>"
             f"<div class=closing>{_e(oks_line(cmp))}<br>{_e(moved_line(cmp))}</div>"
             f"<div class=muted>{len(im.other_to_ref)} images matched by file name"
             f"{f' ({im.by_base_name} by base name alone)' if im.by_base_name else ''}, {len(im.ref_only)} only in "
             f"REF, {len(im.other_only)} only in OTHER. {_e(sigma_line(cmp, cmp.names))}. Error = distance between "
             f"the two points / sqrt(REF person area); PCK counts a REF-labeled keypoint OTHER lacks as a miss; "
             f"moved = further apart than {MOVED_PX:g} px.</div></header><main>"]
    parts.append(f"<h2>Per keypoint ({len(cmp.oks):,} matched persons)</h2>{_keypoint_table(cmp)}"
                 f"<div class=plots><img alt='per-keypoint error and PCK' src='{keypoint_plot(cmp)}'></div>")
    parts.append(f"<h2>Visibility flags and OKS</h2><div class=plots>"
                 f"<img alt='visibility flags' src='{confusion_plot(cmp)}'>"
                 f"<img alt='OKS of the matched pairs' src='{oks_plot(cmp)}'></div>")
    parts.append(f"<h2>COCOeval</h2><p>REF as ground truth, OTHER's {cmp.ap.detections:,} compared persons as "
                 f"detections (score: the person's, else the mean of its keypoint scores, else 1), the layout's "
                 f"sigmas, at most 20 detections per image.</p>{_ap_table(cmp)}")
    legend = (f"<p class=legend><span><i class=sw style='background:rgb{REF_BGR[::-1]}'></i>REF</span>"
              f"<span><i class=sw style='background:rgb{OTHER_BGR[::-1]}'></i>OTHER</span>"
              f"<span><i class=sw style='background:rgb{DIFF_BGR[::-1]}'></i>a keypoint that differs (more than "
              f"{DIFFER:g} of person size apart, or labeled on one side only)</span>"
              f"<span class=muted>filled dot: visible; ring: occluded</span></p>")
    missing = (f"<p class=muted>{len(images.failed)} image(s) not found or not readable: drawn on grey.</p>"
               if images.failed else "")
    nopics = ("" if images.folder is not None else
              "<p class=muted>No images folder (pass <code>--images DIR</code>): persons drawn on grey.</p>")
    parts.append(f"<h2>Worst disagreements (lowest OKS first)</h2>{legend}{nopics}{missing}"
                 f"<div class=cards id=worst>{''.join(cards) or '<p>No matched persons.</p>'}</div>")
    if only:
        parts.append(f"<h2>Persons only one side has (at most {n} of each)</h2>"
                     f"<div class=cards id=only>{''.join(only)}</div>")
    parts.append("<p class=muted>Also in this folder: <code>compare.json</code> (every figure, the worst pairs, "
                 "the unmatched persons) and <code>keypoints.csv</code> (the per-keypoint table).</p></main></html>")
    return "".join(parts)
