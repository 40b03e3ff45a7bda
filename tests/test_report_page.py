"""The validation page in a real headless browser (Debian's chromium-headless-shell): the verdict
and every finding are on the page after its script ran, filters work, nothing is fetched from a
network, and the pictures are capped with "N of M shown"."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import COCO_SAMPLE, CROWDPOSE_SAMPLE, SAMPLE, SHARED, run_cli

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser (apt-get install chromium-headless-shell)")


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran."""
    res = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.resolve().as_uri() + fragment],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "<html" in res.stdout, res.stderr[-2000:]
    return res.stdout


class Rows(HTMLParser):
    """The findings table's rows: their data-* attributes and whether they are displayed."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.ids: dict[str, str] = {}
        self._in, self._id = False, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "findings":
            self._in = True
        if self._in and tag == "tr" and "data-rule" in a:
            self.rows.append(a)
        if "id" in a:
            self._id = a["id"]
            self.ids.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False

    def handle_data(self, data):
        if self._id is not None:
            self.ids[self._id] += data

    @staticmethod
    def shown(row: dict[str, str]) -> bool:
        return "display: none" not in (row.get("style") or "")


def _defective_file(tmp: Path) -> Path:
    """mmpose's CrowdPose sample (real defects: skeleton out of range, num_keypoints, no area)
    plus an image whose file is missing and an image without a size."""
    doc = json.loads(CROWDPOSE_SAMPLE.read_text())
    doc["images"].append({"id": 999, "file_name": "not_there.jpg", "width": 640, "height": 480})
    doc["images"].append({"id": 998, "file_name": "106848.jpg"})
    path = tmp / "crowd.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("page")
    src = _defective_file(tmp)
    res = run_cli("validate", src, "--images", SHARED / "crowdpose", "--report", tmp / "rep", "--max-pictures", "2")
    assert res.exit_code == 1, res.stdout + res.stderr
    findings = json.loads((tmp / "rep" / "findings.json").read_text())
    return tmp / "rep", findings, dump_dom(tmp / "rep" / "index.html")


def test_verdict_and_every_finding_are_on_the_page(report):
    folder, findings, dom = report
    p = Rows()
    p.feed(dom)
    assert p.ids["verdict"].strip() == "FAIL"
    assert len(p.rows) == len(findings) and all(Rows.shown(r) for r in p.rows)
    flagged = {str(f["ann_id"]) for f in findings if f["ann_id"] is not None}
    assert flagged and flagged <= {r["data-ann"] for r in p.rows}
    # dataset-level (skeleton), image-level (missing file, no size) findings are rows too
    levels = {(r["data-img"] != "", r["data-ann"] != "") for r in p.rows}
    assert {(False, False), (True, False), (True, True)} <= levels
    assert any(r["data-rule"] == "image.missing" and r["data-img"] == "999" and r["data-file"] == "not_there.jpg"
               for r in p.rows)
    # the script ran: it writes the count of the rows it shows
    assert p.ids["shown"].strip() == f"{len(findings)} of {len(findings)} findings shown"
    # counts per rule and severity
    for rule in {f["rule"] for f in findings}:
        assert f"<code>{html.escape(rule)}</code>" in dom


def test_pictures_are_capped_and_local(report):
    folder, findings, dom = report
    flagged = len({f["ann_id"] for f in findings if f["ann_id"] is not None})
    assert re.search(rf"Pictures: 2 of {flagged} flagged annotations shown", dom)
    srcs = re.findall(r'(?:src|href)="([^"]+)"', dom)
    assert srcs and not [s for s in srcs if "://" in s or s.startswith("//")], srcs  # nothing from a network
    assert len(set(srcs)) == 2 and all((folder / s).is_file() for s in srcs)
    assert "<link" not in dom and "@import" not in dom


def test_filters_from_the_address(report):
    folder, findings, _ = report
    page = folder / "index.html"
    p = Rows()
    p.feed(dump_dom(page, "#sev=warning"))
    assert {r["data-sev"] for r in p.rows if Rows.shown(r)} == {"warning"}
    p = Rows()
    p.feed(dump_dom(page, "#rule=consistency.num_keypoints"))
    shown = [r for r in p.rows if Rows.shown(r)]
    assert {r["data-rule"] for r in shown} == {"consistency.num_keypoints"}
    assert len(shown) == sum(f["rule"] == "consistency.num_keypoints" for f in findings)
    ann = next(f["ann_id"] for f in findings if f["ann_id"] is not None)
    p = Rows()
    p.feed(dump_dom(page, f"#q={ann}"))
    assert {r["data-ann"] for r in p.rows if Rows.shown(r)} == {str(ann)}
    p = Rows()
    p.feed(dump_dom(page, "#q=999"))
    assert {r["data-img"] for r in p.rows if Rows.shown(r)} == {"999"}
    # sorted by annotation id (column 4), descending
    p = Rows()
    p.feed(dump_dom(page, "#sort=4&dir=-1"))
    ids = [int(r["data-ann"]) for r in p.rows if r["data-ann"]]
    assert ids == sorted(ids, reverse=True)


def test_clean_file_page_says_ok(tmp_path):
    res = run_cli("validate", SAMPLE / "coco" / "sample.json", "--images", SAMPLE / "images", "--report", tmp_path)
    assert res.exit_code == 0
    p = Rows()
    p.feed(dump_dom(tmp_path / "index.html"))
    assert p.ids["verdict"].strip() == "OK" and p.rows == []


def test_page_without_images_lists_findings(tmp_path):
    res = run_cli("validate", COCO_SAMPLE, "--report", tmp_path, "--fail-on", "warning")
    assert res.exit_code == 1
    findings = json.loads((tmp_path / "findings.json").read_text())
    p = Rows()
    p.feed(dump_dom(tmp_path / "index.html"))
    assert p.ids["verdict"].strip() == "FAIL"  # --fail-on warning: the real sample's two warnings
    assert {r["data-ann"] for r in p.rows} == {str(f["ann_id"]) for f in findings}
