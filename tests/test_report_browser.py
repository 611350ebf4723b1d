"""report.html as a person sees it: rendered by a real, headless Chromium.

A test copy of the page gets a small inline script that, once the page has loaded, records
in attributes of <body> how many images there are and which failed to decode
(naturalWidth == 0), the first section's heading, and the rows of the ranking table and of
the per-dataset conclusions; ``--dump-dom`` prints the DOM after the script ran. Skips when
Chromium is missing, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from helpers import require_executable

pytestmark = pytest.mark.optional("chromium")

PROBE = """<script>
window.addEventListener("load", function () {
  var broken = [];
  for (var i = 0; i < document.images.length; i++) {
    var image = document.images[i];
    if (!image.complete || image.naturalWidth === 0) broken.push(image.alt || String(i));
  }
  document.body.setAttribute("data-images", String(document.images.length));
  document.body.setAttribute("data-broken-images", broken.join("|"));
  var ranking = document.getElementById("ranking");
  var rows = ranking ? String(ranking.tBodies[0].rows.length) : "none";
  document.body.setAttribute("data-ranking-rows", rows);
  var first = document.querySelector("main h2");
  document.body.setAttribute("data-first-section", first ? first.textContent : "none");
  var lines = document.querySelectorAll("#conclusions-quality li");
  document.body.setAttribute("data-quality-lines", String(lines.length));
});
</script>
"""


@pytest.fixture(scope="module")
def dom(tmp_path_factory, planted_report) -> str:
    """The DOM of the report after Chromium loaded it and the probe ran."""
    chromium = require_executable("chromium", "chromium-browser")
    folder = tmp_path_factory.mktemp("browser")
    page = folder / "report.html"
    page.write_text(planted_report.read_text().replace("</body>", PROBE + "</body>"))
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={folder / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def body_attribute(dom: str, name: str) -> str | None:
    match = re.search(rf'<body[^>]*\s{name}="([^"]*)"', dom)
    return match.group(1) if match else None


def test_every_image_decodes_in_the_browser(dom, planted):
    assert body_attribute(dom, "data-images") == str(len(planted.figures))
    assert body_attribute(dom, "data-broken-images") == ""


def test_the_ranking_table_is_in_the_rendered_page(dom, planted):
    results = planted.results
    assert body_attribute(dom, "data-ranking-rows") == str(len(results.ranking))
    for method in results.ranking["method"]:
        assert f"<td>{method}</td>" in dom


def test_the_rendered_page_opens_with_conclusions_one_line_per_dataset(dom, planted):
    results = planted.results
    assert body_attribute(dom, "data-first-section") == "Conclusions"
    assert body_attribute(dom, "data-quality-lines") == str(results.summary["dataset"].nunique())
