"""The report: two files, self-contained HTML, sections in order, escaped suite text, and the
numbers in its tables. Reuses the tiny run of test_plots (trained and drawn once)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_plots import PNG_MAGIC, tiny_run

from bench import report

EVIL = '<script>alert("x")</script> & co'


@functools.cache
def written(base: Path) -> Path:
    """The report of the tiny run (test_plots.tiny_run), written once per session."""
    return report.write_report(*tiny_run(base))


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    return tiny_run(tmp_path_factory.getbasetemp() / "tiny")[0]


@pytest.fixture(scope="session")
def figures(tmp_path_factory):
    return tiny_run(tmp_path_factory.getbasetemp() / "tiny")[1]


@pytest.fixture(scope="session")
def html_path(tmp_path_factory) -> Path:
    return written(tmp_path_factory.getbasetemp() / "tiny")


class Page(HTMLParser):
    """The tags of a page in order: (tag, attributes) pairs."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]


# ------------------------------------------------------------------------------ files


def test_report_writes_markdown_and_html_next_to_the_store(html_path, results):
    assert html_path == results.out / "report.html"
    assert html_path.is_file() and (results.out / "report.md").is_file()


def test_html_refers_to_nothing_outside_itself(html_path):
    text = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", text, re.I)
    assert "<script" not in text.lower()
    assert "<link" not in text.lower()
    assert "@import" not in text and "url(" not in text
    hrefs = [a["href"] for tag, a in Page(text).tags if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs)


def test_every_image_is_an_embedded_png_of_a_drawn_figure(html_path, figures):
    images = [a for tag, a in Page(html_path.read_text()).tags if tag == "img"]
    assert len(images) == len(figures)
    embedded = set()
    for image in images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        content = base64.b64decode(image["src"][len(prefix) :], validate=True)
        assert content.startswith(PNG_MAGIC)
        embedded.add(content)
    assert embedded == {Path(path).read_bytes() for path, _ in figures.values()}


def test_markdown_links_every_figure_by_relative_path(html_path, figures):
    out = html_path.parent
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert sorted(links) == sorted(
        Path(path).relative_to(out).as_posix() for path, _ in figures.values()
    )
    assert all(not Path(link).is_absolute() and (out / link).is_file() for link in links)


# ------------------------------------------------------------------------------ contents


def test_sections_come_in_the_order_of_the_issue(html_path):
    ids = Page(html_path.read_text()).ids()
    order = ["headline", "ranking", "setup", "dataset-moons", "dataset-regression",
             "figures", "notes"]  # fmt: skip
    assert [ids.index(i) for i in order] == sorted(ids.index(i) for i in order)
    text = html_path.read_text()
    headline = text[text.index('id="headline"') : text.index('id="setup"')]
    assert "<img" in headline and "Training loss against epochs" in headline


def test_ranking_table_lists_the_methods_in_ranking_order(html_path, results):
    text = html_path.read_text()
    table = text[text.index('<table id="ranking"') : text.index("</table>", text.index("ranking"))]
    rows = re.findall(r"<tr><td[^>]*>(\d+)</td><td>([^<]+)</td>", table)
    assert rows == [(str(i + 1), m) for i, m in enumerate(results.ranking["method"])]


def test_setup_names_sizes_grids_and_machine(html_path, results):
    text = html_path.read_text()
    setup = text[text.index('id="setup"') : text.index('id="dataset-moons"')]
    moons = results.dataset("moons")
    assert f"{moons.n_train} / {len(moons.X_val)} / {len(moons.X_test)}" in setup
    assert "0.3, 3, 300" in setup and "0.01, 0.1" in setup  # the lr grids
    assert results.provenance["cpu"] in setup
    assert f"numpy {np.__version__}" in setup
    assert "Seeds: 0, 1;" in setup


def test_dataset_table_shows_ci_speed_and_divergences(results):
    section = report.dataset_section(results, "moons")
    table = section.blocks[1]
    rows = {row[1]: dict(zip(table.header, row, strict=True)) for row in table.rows}
    gd = results.summary.set_index(["dataset", "method"]).loc[("moons", "gd")]
    assert rows["gd"]["tuned lr"] == "3"
    assert rows["gd"]["final test loss"] == (
        f"{gd.final_test_loss_mean:.3g} [{gd.final_test_loss_lo:.3g},\u00a0"
        f"{gd.final_test_loss_hi:.3g}]"
    )
    assert rows["gd"]["diverged runs"] == "2 of 6"  # lr 300, both seeds
    assert rows["gd"]["epochs to target"] == "not\u00a0reached (1/2)"
    assert rows["adam"]["epochs to target"] == "not\u00a0reached (0/2)"
    assert rows["adam"]["seconds to target"] == "–"
    assert "test accuracy" in table.header
    assert "test R²" in report.dataset_section(results, "regression").blocks[1].header


def test_notes_list_each_divergence_with_its_lrs(results):
    notes = report.divergence_notes(results).items
    assert notes[0].startswith("gd on moons: 2 of 6 runs diverged (lr 300: 2 of 2 seeds)")
    assert any(n.startswith("gd on regression: 4 of 6 runs diverged") for n in notes)


def test_ties_are_methods_whose_interval_overlaps_the_best_one():
    summary = pd.DataFrame(
        {
            "dataset": ["A"] * 3 + ["B"] * 2,
            "method": ["m1", "m2", "m3", "m1", "m2"],
            "rank": [1, 2, 3, 1, 2],
            "final_test_loss_mean": [1.5, 2.0, 3.0, 1.0, 2.0],
            "final_test_loss_lo": [1.0, 1.5, 2.5, 0.9, 1.9],
            "final_test_loss_hi": [2.0, 3.0, 4.0, 1.1, 2.1],
        }
    )
    items = report.tie_notes(SimpleNamespace(summary=summary)).items
    assert items[0].startswith("A: m1 ranks first but is tied with m2:")
    assert items[1].startswith("B: m1 leads clearly")


def test_numbers_and_intervals_are_formatted_to_three_digits():
    assert report.with_ci(0.123456, 0.1, 0.15) == "0.123 [0.1,\u00a00.15]"  # no-break space
    assert report.with_ci(np.nan, np.nan, np.nan) == "–"
    assert report.number(None) == "–"
    assert report.wins_phrase(0) == "no clear win on any dataset"
    assert report.wins_phrase(2) == "clear wins on 2 datasets"


# ------------------------------------------------------------------------------ escaping


def renamed(results, old: str, new: str):
    """The results with method ``old`` called ``new`` in every table and in the suite."""

    def swap(table: pd.DataFrame) -> pd.DataFrame:
        return table.assign(method=table["method"].replace(old, new)) if len(table) else table

    suite = dict(results.suite)
    suite["methods"] = {new if k == old else k: v for k, v in suite["methods"].items()}
    tables = {n: swap(getattr(results, n)) for n in ("trials", "curves", "summary", "ranking")}
    return dataclasses.replace(results, suite=suite, **tables)


def test_text_from_suite_files_is_escaped(results, figures, tmp_path):
    evil = dataclasses.replace(renamed(results, "adam", EVIL), out=tmp_path)
    page = report.write_report(evil, figures).read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    markdown = (tmp_path / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert re.search(r"\(\.\./.*figures/loss_vs_epoch\.png\)", markdown)  # figures elsewhere
