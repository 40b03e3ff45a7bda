"""The validation page ``index.html``: one self-contained file (inline CSS and script, nothing
fetched from a network; pictures are files in ``pictures/`` beside it).

It shows the verdict, the counts per rule and severity, and every finding (dataset-, image- and
annotation-level, those on missing images too) in one table that can be filtered by rule and
severity, sorted by any column and searched by image id, annotation id or file name. Rows of an
annotation with a picture show it; a click enlarges it. Without JavaScript the table is still
complete (the script only filters and sorts).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..dataset import KeypointDataset
from ..io import write_bytes_atomic
from .pictures import Pictures, legend_html


@dataclass
class Verdict:
    ok: bool
    fail_on: str
    source: str
    annotations: int
    images: int


PAGE_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:1em 1.5em;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.2em 0 .4em}
main{padding:0 1.5em 2em}
.verdict{display:inline-block;font-weight:bold;font-size:1.4em;padding:.1em .6em;border-radius:4px;color:#fff}
.verdict.OK{background:#2a7d2a} .verdict.FAIL{background:#b3261e}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0}
#findings th{cursor:pointer;user-select:none} #findings th:after{content:' \\2195';color:#999}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.sev-error{color:#b3261e;font-weight:bold} .sev-warning{color:#a86400;font-weight:bold}
#summary tr{cursor:pointer} #summary tr:hover td{background:#eef}
.controls{display:flex;gap:1em;flex-wrap:wrap;align-items:center;margin:.5em 0;position:sticky;top:0;
 background:#fafafa;padding:.4em 0;z-index:2}
.controls input{width:22em}
img.thumb{height:72px;cursor:zoom-in;display:block}
#overlay{position:fixed;inset:0;background:rgba(0,0,0,.85);display:none;align-items:center;
 justify-content:center;z-index:9;cursor:zoom-out;flex-direction:column;color:#fff}
#overlay img{max-width:96vw;max-height:88vh}
.legend span{display:inline-block;margin-right:1.2em}
.sw{display:inline-block;width:1.4em;height:.35em;vertical-align:middle;margin-right:.3em}
.muted{color:#777}
"""

_JS = """
const tbody = document.querySelector('#findings tbody');
const rows = Array.from(tbody.rows);
const sev = document.getElementById('sev'), rule = document.getElementById('rule'),
      q = document.getElementById('q'), shown = document.getElementById('shown');
function apply() {
  const s = sev.value, r = rule.value, text = q.value.trim().toLowerCase();
  let n = 0;
  for (const tr of rows) {
    const d = tr.dataset;
    let ok = (!s || d.sev === s) && (!r || d.rule === r);
    if (ok && text) ok = text.split(/[\\s,]+/).filter(Boolean).some(t =>
        d.img === t || d.ann === t || (d.file || '').toLowerCase().includes(t));
    tr.style.display = ok ? '' : 'none';
    if (ok) n++;
  }
  shown.textContent = n + ' of ' + rows.length + ' findings shown';
}
function remember() {  // the view in the address (#sev=error&rule=...&q=...): bookmarkable, shareable
  const p = new URLSearchParams();
  if (sev.value) p.set('sev', sev.value);
  if (rule.value) p.set('rule', rule.value);
  if (q.value) p.set('q', q.value);
  if (sortCol >= 0) { p.set('sort', sortCol); p.set('dir', sortDir); }
  history.replaceState(null, '', p.toString() ? '#' + p : location.pathname);
}
[sev, rule].forEach(e => e.addEventListener('change', () => { apply(); remember(); }));
q.addEventListener('input', () => { apply(); remember(); });
document.querySelectorAll('#summary tbody tr').forEach(tr => tr.addEventListener('click', () => {
  rule.value = tr.dataset.rule; sev.value = tr.dataset.sev; apply(); remember();
  document.getElementById('findings').scrollIntoView();
}));
let sortCol = -1, sortDir = 1;
const heads = Array.from(document.querySelectorAll('#findings th'));
function sortBy(i, dir) {
  sortCol = i; sortDir = dir;
  const key = tr => tr.cells[i].dataset.k ?? tr.cells[i].textContent;
  const num = heads[i].dataset.num !== undefined;
  rows.sort((a, b) => {
    let x = key(a), y = key(b);
    if (num) { x = x === '' ? -Infinity : +x; y = y === '' ? -Infinity : +y; return (x - y) * dir; }
    return x.localeCompare(y) * dir;
  });
  rows.forEach(tr => tbody.appendChild(tr));
  heads.forEach((th, j) => th.setAttribute('aria-sort', j === i ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
}
heads.forEach((th, i) => th.addEventListener('click', () => {
  sortBy(i, sortCol === i ? -sortDir : 1); remember();
}));
const overlay = document.getElementById('overlay'), big = overlay.querySelector('img'),
      cap = overlay.querySelector('div');
document.addEventListener('click', e => {
  if (e.target.classList.contains('thumb')) {
    big.src = e.target.src; cap.textContent = e.target.alt; overlay.style.display = 'flex';
  } else if (overlay.contains(e.target)) overlay.style.display = 'none';
});
document.addEventListener('keydown', e => { if (e.key === 'Escape') overlay.style.display = 'none'; });
const start = new URLSearchParams(location.hash.slice(1));
sev.value = start.get('sev') || ''; rule.value = start.get('rule') || ''; q.value = start.get('q') || '';
if (start.has('sort')) sortBy(+start.get('sort'), +(start.get('dir') || 1));
apply();
"""


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _id(x: object) -> str:
    return "" if x is None or pd.isna(x) else str(int(x))


def render_page(findings: pd.DataFrame, ds: KeypointDataset, verdict: Verdict, pictures: Pictures | None) -> str:
    """The page as HTML text."""
    files = {im.id: im.file_name for im in ds.images}
    errors = int((findings["severity"] == "error").sum())
    warnings = len(findings) - errors
    word = "OK" if verdict.ok else "FAIL"
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8>"
             f"<meta name=viewport content='width=device-width,initial-scale=1'>"
             f"<title>{word}: posekit validation of {_e(Path(verdict.source).name)}</title><style>{PAGE_CSS}</style>"
             f"<header><h1>Validation of <code>{_e(verdict.source)}</code></h1>"
             f"<span class='verdict {word}' id=verdict>{word}</span> "
             f"<span id=totals>{verdict.annotations} annotations, {verdict.images} images: "
             f"<b>{errors}</b> error{'s' * (errors != 1)}, <b>{warnings}</b> warning{'s' * (warnings != 1)} "
             f"<span class=muted>(fails on {verdict.fail_on}s{' and errors' * (verdict.fail_on == 'warning')})"
             f"</span></span></header><main>"]

    parts.append("<h2>Findings per rule</h2>")
    if findings.empty:
        parts.append("<p>No findings: every rule passed.</p>")
    else:
        g = findings.groupby(["severity", "rule"], sort=False)
        counts = g.size().rename("count").reset_index()
        counts["example"] = g["message"].first().values
        counts["annotations"] = g["ann_id"].nunique().values
        parts.append("<table id=summary><thead><tr><th>severity</th><th>rule</th><th>findings</th>"
                     "<th>annotations</th><th>example</th></tr></thead><tbody>")
        for r in counts.itertuples():
            parts.append(f"<tr data-rule='{_e(r.rule)}' data-sev='{_e(r.severity)}' title='show only this rule'>"
                         f"<td class=sev-{_e(r.severity)}>{_e(r.severity)}</td><td><code>{_e(r.rule)}</code></td>"
                         f"<td class=n>{r.count}</td><td class=n>{r.annotations or ''}</td><td>{_e(r.example)}</td></tr>")
        parts.append("</tbody></table>")

    if pictures is not None:
        drawn = len(pictures.paths)
        capped = f" (at most {pictures.cap}: errors first)" if pictures.flagged > pictures.cap else ""
        failed = f"; {len(pictures.failed)} image(s) could not be read" if pictures.failed else ""
        parts.append(f"<p id=pictures-shown>Pictures: {drawn} of {pictures.flagged} flagged annotations "
                     f"shown{capped}{failed}. Click a picture to enlarge it.</p>"
                     f"<p class=legend>{legend_html()}</p>")
    else:
        parts.append("<p class=muted>No pictures: run with <code>--images DIR</code> to draw the flagged "
                     "annotations.</p>")

    rule_opts = "".join(f"<option>{_e(r)}</option>" for r in sorted(findings["rule"].unique()))
    parts.append(f"<h2>All findings</h2><div class=controls>"
                 f"<label>severity <select id=sev><option value=''>all</option><option>error</option>"
                 f"<option>warning</option></select></label>"
                 f"<label>rule <select id=rule><option value=''>all</option>{rule_opts}</select></label>"
                 f"<input id=q type=search placeholder='image id, annotation id or file name'>"
                 f"<span id=shown></span></div>")
    parts.append("<table id=findings><thead><tr><th>severity</th><th>rule</th><th data-num>image id</th>"
                 "<th>file</th><th data-num>annotation id</th><th>keypoints</th><th>message</th><th>value</th>"
                 "<th>picture</th></tr></thead><tbody>")
    paths = pictures.paths if pictures is not None else {}
    missing = set(pictures.failed) if pictures is not None else set()
    rank = {"error": "0", "warning": "1"}
    for r in findings.itertuples(index=False):
        img, ann = _id(r.image_id), _id(r.ann_id)
        file_name = files.get(int(img), "") if img else ""
        pic = paths.get(int(ann)) if ann else None
        cell = (f"<img class=thumb loading=lazy src='{_e(pic)}' alt='annotation {ann} on {_e(file_name)}'>"
                if pic else "")
        where = _e(file_name) + (" <span class=muted>(image not readable)</span>" if img and int(img) in missing else "")
        value = "" if r.value is None or (isinstance(r.value, float) and pd.isna(r.value)) else r.value
        parts.append(f"<tr data-sev='{_e(r.severity)}' data-rule='{_e(r.rule)}' data-img='{img}' data-ann='{ann}' "
                     f"data-file='{_e(file_name)}'><td class=sev-{_e(r.severity)} data-k='{rank.get(r.severity, '2')}'>"
                     f"{_e(r.severity)}</td><td><code>{_e(r.rule)}</code></td><td class=n>{img}</td><td>{where}</td>"
                     f"<td class=n>{ann}</td><td>{_e(str(r.keypoints or '').replace(',', ', '))}</td>"
                     f"<td>{_e(r.message)}</td><td>{_e(value)}</td><td>{cell}</td></tr>")
    parts.append("</tbody></table></main><div id=overlay><img alt=''><div></div></div>"
                 f"<script>{_JS}</script></html>")
    return "".join(parts)


def write_page(out_dir: Path, findings: pd.DataFrame, ds: KeypointDataset, verdict: Verdict,
               pictures: Pictures | None) -> Path:
    path = Path(out_dir) / "index.html"
    write_bytes_atomic(path, render_page(findings, ds, verdict, pictures).encode())
    return path
