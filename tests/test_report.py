"""The report: two files, self-contained HTML, the Conclusions first and in words, the caveats
exactly when they apply, escaped suite text, and the numbers in its tables. Reads conftest's
``planted`` run (run and drawn once per session, as test_plots does); a second, smaller run
with 2 evaluation seeds checks the caveats that the planted run does not trigger (and those
it does, absent)."""

from __future__ import annotations

import base64
import dataclasses
import html as html_module
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from helpers import PNG_MAGIC
from PIL import Image

import bench
from bench import plots, report, stats

EVIL = '<script>alert("x")</script> & co'
PAIRS_SUITE = """
[suite]
name = "pairs"
methods = ["gd", "adam"]
datasets = ["moons"]
epochs = 4
seeds = 2
tuning_seeds = 2
extend_grid = 0

[model]
hidden = [4]
activation = "relu"

[method.gd]
lr = [1.0]

[method.adam]
lr = [0.03]

[dataset.moons]
n_samples = 100
target_loss = 0.6
"""


@pytest.fixture(scope="session")
def results(planted):
    return planted.results


@pytest.fixture(scope="session")
def figures(planted):
    return planted.figures


@pytest.fixture(scope="session")
def html_path(planted_report) -> Path:
    return planted_report


@pytest.fixture(scope="session")
def page(html_path) -> str:
    return html_path.read_text()


@pytest.fixture(scope="session")
def pairs(tmp_path_factory):
    """A run with one-point grids (no extension), equal budgets, 2 evaluation seeds and
    reachable targets: too few pairs, and none of the planted run's caveats."""
    base = tmp_path_factory.mktemp("pairs")
    (base / "pairs.toml").write_text(PAIRS_SUITE)
    return bench.run(base / "pairs.toml", out=base / "out", jobs=1, progress=False)


class Page(HTMLParser):
    """The tags of a page in order: (tag, attributes) pairs, and the text of each h2."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "h2":
            self._in_h2 = True
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings[-1] += data

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.tags if "id" in a]


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def conclusions_text(page: str) -> str:
    """The Conclusions section as plain text (tags dropped, entities decoded)."""
    section = between(page, '<section id="conclusions">', '<section id="setup">')
    return html_module.unescape(re.sub(r"<[^>]+>", " ", section))


def line_of(page: str, dataset: str, section: str) -> str:
    """The bullet of one dataset in a Conclusions sub-section, as plain text."""
    part = between(page, f'<section id="{section}">', "</section>")
    items = [html_module.unescape(i) for i in re.findall(r"<li>(.*?)</li>", part)]
    (item,) = [i for i in items if i.startswith(f"{dataset}: ")]
    return item


def verdict_groups(line: str) -> dict[str, list[str]]:
    """'moons: best adam (0.1); equivalent to it: a; inconclusive: b, c; worse: gd (+35% [..])'
    -> {"best": ["adam"], "equivalent": ["a"], "inconclusive": ["b", "c"], "worse": ["gd"]}."""
    body = line.split(": ", 1)[1].split(" (no trial reached")[0]
    groups = {}
    for part in re.split(r"; (?![^(]*\))", body):
        if part.startswith(("best ", "fastest ")):
            groups["best"] = [part.split(" ")[1]]
            continue
        head, rest = part.split(": ", 1)
        key = {"slower": "worse"}.get(head.split(" ")[0], head.split(" ")[0])
        groups[key] = [re.sub(r" \(.*", "", n) for n in re.split(r", (?![^(]*\))", rest)]
    return groups


# ------------------------------------------------------------------------------ files


def test_report_writes_markdown_and_html_next_to_the_store(html_path, results):
    assert html_path == results.out / "report.html"
    assert html_path.is_file() and (results.out / "report.md").is_file()


def test_html_refers_to_nothing_outside_itself(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", page, re.I)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    hrefs = [a["href"] for tag, a in Page(page).tags if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs)


def test_every_image_is_an_embedded_png_of_a_drawn_figure(page, figures):
    images = [a for tag, a in Page(page).tags if tag == "img"]
    assert len(images) == len(figures)
    embedded = set()
    for image in images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix)
        content = base64.b64decode(image["src"][len(prefix) :], validate=True)
        assert content.startswith(PNG_MAGIC)
        embedded.add(content)
    assert embedded == {Path(path).read_bytes() for path, _ in figures.values()}


def test_every_figure_is_shown_at_the_same_scale(page, figures):
    widths = {}
    for _, attributes in [t for t in Page(page).tags if t[0] == "img"]:
        found = re.fullmatch(r"width: min\(100%, (\d+)px\)", attributes["style"])
        content = base64.b64decode(attributes["src"].partition(",")[2])
        key = next(k for k, (path, _) in figures.items() if Path(path).read_bytes() == content)
        with Image.open(io.BytesIO(content)) as image:
            inches = image.size[0] / plots.DPI
        widths[key] = int(found.group(1)) / inches  # css pixels per inch of figure
    # the two-panel performance profile was drawn at twice the scale of the three-panel curves
    assert widths["performance_profile"] == pytest.approx(widths["loss_vs_epoch"], rel=0.01)
    assert max(widths.values()) == pytest.approx(min(widths.values()), rel=0.01)


def test_svg_figures_are_valid_and_embedded_as_svg(results, figures, tmp_path):
    shutil.copy(results.store_path, tmp_path / "runs.sqlite")
    out = dataclasses.replace(results, out=tmp_path)
    drawn = plots.draw_figures(out, tmp_path / "figures", format="svg")
    assert set(drawn) == set(figures)
    for path, _ in drawn.values():
        assert Path(path).suffix == ".svg"
        root = ElementTree.parse(path).getroot()  # parses as XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    page = report.write_report(out, drawn).read_text()
    images = [a["src"] for tag, a in Page(page).tags if tag == "img"]
    assert len(images) == len(drawn)
    assert all(src.startswith("data:image/svg+xml;base64,") for src in images)
    markdown = (tmp_path / "report.md").read_text()
    assert "](figures/verdicts.svg)" in markdown
    # the same figure gives the same file: no date, no random ids
    again = plots.save_figure(plots.plot_verdicts(results), tmp_path / "again.svg")
    assert again.read_bytes() == (tmp_path / "figures" / "verdicts.svg").read_bytes()


def test_a_pdf_figure_is_a_pdf_and_the_report_shows_the_png_beside_it(results, tmp_path):
    task = next(t for t in plots.figure_tasks(results) if t.key == "verdicts")
    path, _ = task.draw(tmp_path, "pdf")
    assert path == tmp_path / "verdicts.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    assert path.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)
    assert report.shown(path) == path.with_suffix(".png")
    with pytest.raises(ValueError, match="format must be one of png, svg, pdf; got 'jpg'"):
        plots.save_figure(plots.plot_verdicts(results), tmp_path / "v", "jpg")


def test_markdown_links_every_figure_by_relative_path(html_path, figures):
    out = html_path.parent
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert sorted(links) == sorted(
        Path(path).relative_to(out).as_posix() for path, _ in figures.values()
    )
    assert all(not Path(link).is_absolute() and (out / link).is_file() for link in links)


# ------------------------------------------------------------------------------ conclusions


def test_the_report_opens_with_conclusions(page, html_path):
    parsed = Page(page)
    assert parsed.headings[0] == "Conclusions"
    ids = parsed.ids()
    order = [
        "conclusions",
        "setup",
        "dataset-moons",
        "dataset-regression",
        "ranking",
        "figures",
        "notes",
    ]
    assert [ids.index(i) for i in order] == sorted(ids.index(i) for i in order)
    markdown = (html_path.parent / "report.md").read_text()
    assert markdown.index("## Conclusions") < markdown.index("## Setup")
    assert "Headline" not in page and "wins" not in page  # the old headline is gone


def test_conclusions_show_the_critical_difference_and_the_train_and_val_curves(page):
    section = between(page, '<section id="conclusions">', '<section id="setup">')
    assert section.count("<img") == 2
    assert "Critical-difference diagram" in section
    assert "Training and validation loss against epochs" in section


def test_conclusions_name_each_datasets_best_as_in_comparisons_csv(page, results):
    table = pd.read_csv(results.out / "tables" / "comparisons.csv")
    for criterion, section, word in (
        ("test_loss", "conclusions-quality", "best"),
        ("seconds_to_target", "conclusions-speed", "fastest"),
    ):
        rows = table[table["criterion"] == criterion]
        for dataset, here in rows.groupby("dataset"):
            line = line_of(page, dataset, section)
            best = here.loc[here["verdict"] == "best", "method"].iloc[0]
            assert line.startswith(f"{dataset}: {word} {best} (")
            groups = verdict_groups(line)
            for verdict in ("equivalent", "inconclusive", "worse"):
                expected = set(here.loc[here["verdict"] == verdict, "method"])
                assert set(groups.get(verdict, [])) == expected, (line, verdict)


def test_the_planted_difference_is_worse_with_its_interval(page, results):
    on_loss = results.comparisons[results.comparisons["criterion"] == "test_loss"]
    for dataset in ("moons", "regression"):
        gd = on_loss[(on_loss["dataset"] == dataset) & (on_loss["method"] == "gd")].iloc[0]
        assert gd["verdict"] == "worse"
        line = line_of(page, dataset, "conclusions-quality")
        shown = report.relative(gd["rel_diff"], gd["rel_diff_lo"], gd["rel_diff_hi"])
        assert f"worse: gd ({shown})" in line or f", gd ({shown})" in line


def test_across_datasets_states_the_friedman_result_in_words(page, results):
    text = conclusions_text(page)
    friedman = results.friedman
    assert f"p = {friedman.p_value:.2g}" in text
    assert friedman.p_value >= 0.05 and not friedman.separated  # 2 datasets separate nothing
    assert "nothing is separated" in text
    assert "gd was worse than the best on 2 of 2 datasets" in text


def friedman_results(p_value: float, separated, ranks=None, n=7):
    ranks = ranks or {"adam": 1.6, "sgd": 2.1, "adagrad": 2.9, "gd": 4.4}
    friedman = stats.Friedman(
        ranks=pd.DataFrame(),
        mean_rank=pd.Series(ranks),
        statistic=12.0,
        p_value=p_value,
        critical_difference=1.77,
        n_datasets=n,
        separated=separated,
    )
    ranking = pd.DataFrame({"method": list(ranks), "worse": [0, 1, 2, 5], "datasets": n})
    return SimpleNamespace(friedman=friedman, ranking=ranking)


def test_across_datasets_says_what_the_critical_difference_separates():
    one = report.across_datasets(friedman_results(0.004, [("adam", "gd")]))
    assert "gd is worse than adam; the rest are not separated at 7 datasets" in one
    two = report.across_datasets(friedman_results(0.001, [("adam", "gd"), ("sgd", "gd")]))
    assert "gd is worse than adam and sgd; the rest are not separated" in two
    plain = report.across_datasets(friedman_results(0.03, []))
    assert "nothing is separated at 7 datasets" in plain
    null = report.across_datasets(friedman_results(0.4, []))
    assert "does not reject equal ranks" in null and "nothing is separated" in null
    assert "gd was worse than the best on 5 of 7 datasets, adagrad on 2" in null
    none = report.across_datasets(SimpleNamespace(friedman=None, ranking=pd.DataFrame()))
    assert "no Friedman test" in none


def test_disagreements_list_the_datasets_where_the_criteria_pick_other_winners(results):
    expected = []
    for dataset, rows in results.comparisons.groupby("dataset", sort=False):
        lowest = {
            c: set(report.lowest(g.set_index("method"))) for c, g in rows.groupby("criterion")
        }
        (leader,) = lowest["test_loss"]
        if any(leader not in methods for methods in lowest.values()):
            expected.append(dataset)
    blocks = report.disagreements(results)
    if not expected:
        assert "same best method on every dataset" in blocks[0].text
        return
    table = blocks[-1]
    assert [row[0] for row in table.rows] == expected
    for row in table.rows:
        assert row[1] in results.comparisons["method"].tolist()


def test_the_time_caveat_always_applies_and_quotes_the_time_axis(results, pairs):
    for run in (results, pairs):
        last = report.caveats(run)[-1]
        assert last.startswith("Times are a calibrated estimate")
        assert run.provenance["time_axis"].split(";")[0] in last


def caveat(run, start: str) -> str | None:
    found = [c for c in report.caveats(run) if c.startswith(start)]
    assert len(found) <= 1
    return found[0] if found else None


def test_the_edge_caveat_names_exactly_the_tuned_lrs_at_an_edge(results, pairs):
    edge = results.summary[results.summary["lr_at_edge"]]
    assert {"gd"} <= set(edge["method"])  # planted: gd's extension ran out
    text = caveat(results, "Learning rate at a grid edge")
    named = set(re.findall(r"(\w+) on (\w+) \(lr", text))
    assert named == set(zip(edge["method"], edge["dataset"], strict=True))
    assert not pairs.summary["lr_at_edge"].any()
    assert caveat(pairs, "Learning rate at a grid edge") is None


def test_the_budget_caveat_appears_exactly_when_tuning_trials_differ(results, pairs):
    assert results.summary["tuning_trials"].nunique() > 1
    text = caveat(results, "Unequal tuning budgets")
    for method, trials in results.summary.groupby("method")["tuning_trials"]:
        assert re.search(rf"{method} {trials.min()}(–{trials.max()})?[,.( ]", text)
    assert pairs.summary["tuning_trials"].nunique() == 1
    assert caveat(pairs, "Unequal tuning budgets") is None


def test_the_pairs_caveat_appears_exactly_when_a_comparison_has_fewer_than_3(results, pairs):
    assert (results.comparisons["n_pairs"] >= 3).all()
    assert caveat(results, "Too few pairs") is None
    text = caveat(pairs, "Too few pairs")
    assert "with 2 evaluation seed(s)" in text and "inconclusive" in text
    others = pairs.comparisons[pairs.comparisons["verdict"] != "best"]
    assert (others["verdict"] == "inconclusive").all()


def test_the_pairs_caveat_names_a_comparison_that_lost_pairs(results):
    comparisons = results.comparisons.copy()
    lost = comparisons.index[
        (comparisons["method"] == "minibatch")
        & (comparisons["criterion"] == "test_error")
        & (comparisons["dataset"] == "moons")
    ]
    comparisons.loc[lost, "n_pairs"] = 2
    text = caveat(dataclasses.replace(results, comparisons=comparisons), "Too few pairs")
    assert comparisons.loc[lost, "verdict"].item() != "best"
    assert "minibatch on moons (test error: 2 pairs)" in text


def test_the_target_caveat_names_the_datasets_no_trial_reached(results, pairs):
    reached = results.evaluation.groupby("dataset")["target_reached"].any()
    assert not reached["regression"] and reached["moons"]
    text = caveat(results, "Target never reached")
    assert "regression (target 1e-06)" in text and "moons" not in text
    assert pairs.evaluation["target_reached"].any()
    assert caveat(pairs, "Target never reached") is None


def test_the_divergence_caveat_appears_exactly_when_an_evaluation_trial_diverged(results):
    assert (results.summary["diverged_count"] > 0).any() == bool(
        caveat(results, "Divergences in evaluation")
    )
    summary = results.summary.copy()
    summary["diverged_count"] = 0
    assert caveat(dataclasses.replace(results, summary=summary), "Divergences") is None
    summary.loc[
        (summary["dataset"] == "moons") & (summary["method"] == "adam"), "diverged_count"
    ] = 1
    text = caveat(dataclasses.replace(results, summary=summary), "Divergences in evaluation")
    assert "adam on moons (1 of 4 seeds)" in text


def test_the_cpu_caveat_appears_exactly_when_a_comparison_mixes_cpus(results):
    assert results.evaluation["cpu"].nunique() == 1
    assert caveat(results, "Different CPUs") is None
    trials = results.trials.copy()
    first = trials.index[(trials["phase"] == "eval") & (trials["dataset"] == "moons")][0]
    trials.loc[first, "cpu"] = "Another CPU"
    text = caveat(dataclasses.replace(results, trials=trials), "Different CPUs")
    assert "moons" in text and "Another CPU" in text and "regression" not in text


def expected_seeds(results, dataset: str, method: str) -> int | None:
    """stats.seeds_needed on the per-seed log ratios, written out from the trials."""
    here = results.evaluation[results.evaluation["dataset"] == dataset]
    table = results.comparisons
    rows = table[(table["dataset"] == dataset) & (table["criterion"] == "test_loss")]
    best = rows.loc[rows["verdict"] == "best", "method"].iloc[0]
    loss = here.pivot(index="seed", columns="method", values="test_loss").clip(lower=1e-12)
    ratios = np.log(loss[method] / loss[best])
    return stats.seeds_needed(ratios, results.suite["margin"], len(rows) - 1)


def test_seeds_needed_for_every_inconclusive_comparison_on_test_loss(results):
    comparisons = results.comparisons.copy()
    # make the planted gd rows inconclusive too, so that there are some to settle
    comparisons.loc[comparisons["method"] == "gd", "verdict"] = "inconclusive"
    run = dataclasses.replace(results, comparisons=comparisons)
    needed = report.seeds_needed(run)
    on_loss = comparisons[comparisons["criterion"] == "test_loss"]
    open_ = on_loss[on_loss["verdict"] == "inconclusive"]
    assert sorted(zip(needed["dataset"], needed["method"], strict=True)) == sorted(
        zip(open_["dataset"], open_["method"], strict=True)
    )
    items = report.seeds_needed_blocks(run)[1].items
    for row in needed.itertuples():
        assert row.seeds == expected_seeds(results, row.dataset, row.method)
        head = f"{row.method} vs {row.versus} on {row.dataset}: "
        (item,) = [i for i in items if i.startswith(head)]
        if row.seeds is not None:
            assert item == f"{head}about {row.seeds} seeds (4 now)"
    gd = needed[needed["method"] == "gd"]
    assert (gd["seeds"] <= 10).all()  # a clear difference needs few seeds


def test_no_inconclusive_comparison_says_so():
    run = SimpleNamespace(
        comparisons=pd.DataFrame(
            {
                "dataset": ["A", "A"],
                "criterion": "test_loss",
                "method": ["m1", "m2"],
                "versus": "m1",
                "n_pairs": 5,
                "center": [1.0, 2.0],
                "verdict": ["best", "worse"],
            }
        ),
        summary=pd.DataFrame({"dataset": ["A"]}),
        evaluation=pd.DataFrame(),
        suite={"datasets": {"A": {}}, "margin": 0.05},
    )
    (block,) = report.seeds_needed_blocks(run)
    assert "No comparison on test loss is inconclusive" in block.text


# ------------------------------------------------------------------------------ the rest


def test_setup_states_the_protocol_seeds_budgets_and_machine(page, results):
    setup = html_module.unescape(between(page, 'id="setup"', 'id="dataset-moons"'))
    moons = results.dataset("moons")
    assert f"{moons.n_train} / {len(moons.X_val)} / {len(moons.X_test)}" in setup
    assert "0.003, 0.01, 0.03, 0.1" in setup and "0.3, 100" in setup  # the lr grids
    assert "Tuning seeds: 100000, 100001; evaluation seeds: 0, 1, 2, 3." in setup
    assert "margin of 5%" in setup and "extend_grid = 1" in setup
    assert "calibrated estimate" in setup
    engines = pd.Series([p["engine"] for p in results.suite["populations"]]).value_counts()
    trained = ", ".join(f"{name} {count}" for name, count in engines.items())
    assert f"Engine: auto, resolved once per population (populations trained: {trained})" in setup
    assert results.provenance["cpu"] in setup
    budgets = between(page, '<table id="budgets"', "</table>")
    cells = re.findall(r"<tr><td>(\w+)</td>((?:<td[^>]*>\d+</td>)+)</tr>", budgets)
    summary = results.summary.pivot(index="method", columns="dataset", values="tuning_trials")
    for method, numbers in cells:
        values = [int(v) for v in re.findall(r">(\d+)<", numbers)]
        assert values[:-1] == summary.loc[method, ["moons", "regression"]].tolist()
        assert values[-1] == sum(values[:-1])


def test_dataset_tables_show_the_tuned_lr_centres_and_verdicts(results):
    section = report.dataset_section(results, "moons")
    numbers, verdicts = section.blocks[1], section.blocks[3]
    rows = {row[0]: dict(zip(numbers.header, row, strict=True)) for row in numbers.rows}
    summary = results.summary.set_index(["dataset", "method"])
    for method, row in rows.items():
        s = summary.loc[("moons", method)]
        assert row["tuned lr"].startswith(report.number(s["lr"]))
        assert ("(at grid edge)" in row["tuned lr"]) == bool(s["lr_at_edge"])
        assert row["test loss"] == report.with_ci(
            s["test_loss_center"], s["test_loss_lo"], s["test_loss_hi"]
        )
        assert row["diverged"] == f"{int(s['diverged_count'])} of 4"
    assert "(grid extended)" in rows["gd"]["tuned lr"]
    assert "test accuracy" in numbers.header
    assert "test R²" in report.dataset_section(results, "regression").blocks[1].header
    cells = {row[0]: row for row in verdicts.rows}
    assert cells["gd"][1].startswith("worse +") or cells["gd"][1].startswith("worse ×")
    best = results.summary.query("dataset == 'moons'").sort_values("rank")["method"].iloc[0]
    assert cells[best][1] == "best"


def test_ranking_table_is_lower_down_with_mean_ranks_and_verdict_counts(page, results):
    assert page.index('id="ranking"') > page.index('id="dataset-regression"')
    table = between(page, '<table id="ranking"', "</table>")
    rows = re.findall(r"<tr><td[^>]*>(\d+)</td><td>([^<]+)</td><td[^>]*>([\d.]+)</td>", table)
    ranking = results.ranking
    assert [(m, float(r)) for _, m, r in rows] == [
        (m, round(r, 2)) for m, r in zip(ranking["method"], ranking["mean_rank"], strict=True)
    ]
    assert "worse" in table and "inconclusive" in table


def test_notes_list_each_divergence_by_phase_and_lr(results):
    notes = report.divergence_notes(results).items
    assert any(
        n.startswith("minibatch on moons: 2 of ") and "tuning lr 100: 2 of 2" in n for n in notes
    )


def test_numbers_and_intervals_are_formatted_to_three_digits():
    assert report.with_ci(0.123456, 0.1, 0.15) == "0.123 [0.1,\u00a00.15]"  # no-break space
    assert report.with_ci(np.nan, np.nan, np.nan) == "–"
    assert report.number(None) == "–"
    assert report.relative(0.35, 0.12, 0.6) == "+35% [+12%,\u00a0+60%]"
    assert report.relative(0.35) == "+35%"
    assert report.names(["a", "b", "c"]) == "a, b and c"


# ------------------------------------------------------------------------------ escaping


def renamed(results, old: str, new: str):
    """The results with method ``old`` called ``new`` in every table and in the suite."""

    def swap(table: pd.DataFrame) -> pd.DataFrame:
        if not len(table):
            return table
        table = table.assign(method=table["method"].replace(old, new))
        return (
            table.assign(versus=table["versus"].replace(old, new)) if "versus" in table else table
        )

    suite = dict(results.suite)
    suite["methods"] = {new if k == old else k: v for k, v in suite["methods"].items()}
    tables = {
        n: swap(getattr(results, n))
        for n in ("trials", "curves", "summary", "ranking", "comparisons")
    }
    friedman = results.friedman
    friedman = dataclasses.replace(
        friedman,
        mean_rank=friedman.mean_rank.rename(index={old: new}),
        separated=[tuple(new if m == old else m for m in pair) for pair in friedman.separated],
    )
    return dataclasses.replace(results, suite=suite, friedman=friedman, **tables)


def test_text_from_suite_files_is_escaped(results, figures, tmp_path):
    evil = dataclasses.replace(renamed(results, "adam", EVIL), out=tmp_path)
    page = report.write_report(evil, figures).read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    markdown = (tmp_path / "report.md").read_text()
    assert "<script" not in markdown and "&lt;script&gt;" in markdown
    assert re.search(r"\(\.\./.*figures/loss_vs_epoch\.png\)", markdown)  # figures elsewhere


# ------------------------------------------------------------------------------ interrupted


@pytest.mark.slow
def test_a_run_interrupted_in_tuning_reports_that_there_is_nothing_to_conclude(
    results, tmp_path, monkeypatch
):
    from bench import plots, tables

    _, _, summary, comparisons, ranking = tables.empty_tables()
    tuned_only = dataclasses.replace(
        results,
        trials=results.tuning,
        curves=results.curves[results.curves["phase"] == "tune"],
        summary=summary,
        comparisons=comparisons,
        ranking=ranking,
        friedman=None,
        out=tmp_path,
    )
    figures = plots.draw_figures(tuned_only, tmp_path / "figures")
    assert set(figures) == {"lr_sensitivity", "optimizer_paths"}
    page = report.write_report(tuned_only, figures).read_text()
    assert "No evaluation trial is in the store yet" in conclusions_text(page)


def test_the_paths_caption_names_who_reached_a_minimum_or_else_came_closest(figures):
    paths = {
        "A": {
            "closest": ("adam", 0.47),
            "distance": {"gd": 0.9, "adam": 0.47},
            "lrs": {"adam": 0.1, "gd": 0.01},
        },
        "B": {
            "closest": ("gd", 0.0),
            "distance": {"gd": 0.0, "adam": 5e-7, "lion": 0.3},
            "lrs": {"gd": 1.0, "adam": 0.3, "lion": 1e-3},
        },
        "C": {"closest": None, "distance": {"gd": np.nan}, "lrs": {"gd": 0.1}},
    }
    assert report.closest_text(paths) == (
        "After the steps shown: on A, adam (lr 0.1) ended closest, 0.47 away; on B, gd and "
        "adam reached a minimum (within 1e-6)."
    )
    _, caption = report.caption_for("optimizer_paths", figures["optimizer_paths"][1])
    assert caption.endswith(report.closest_text(figures["optimizer_paths"][1]))
    assert "on Rosenbrock, " in caption


# ------------------------------------------------------------------------------ reuse


def test_a_second_report_on_an_unchanged_store_draws_no_figure_and_embeds_the_same_files(
    results, figures, tmp_path, monkeypatch
):
    shutil.copy(results.store_path, tmp_path / "runs.sqlite")
    shutil.copytree(Path(next(iter(figures.values()))[0]).parent, tmp_path / "figures")
    before = {p.name: p.read_bytes() for p in (tmp_path / "figures").iterdir()}
    drawn = []
    monkeypatch.setattr(plots.FigureTask, "draw", lambda task, *a, **k: drawn.append(task.key))
    page = report.write_report(bench.load(tmp_path), jobs=2).read_text()
    assert drawn == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "figures").iterdir()} == before
    embedded = {
        base64.b64decode(a["src"].partition(",")[2]) for tag, a in Page(page).tags if tag == "img"
    }
    assert embedded == {Path(path).read_bytes() for path, _ in figures.values()}
    closest = report.closest_text(figures["optimizer_paths"][1])
    assert closest and html_module.escape(closest) in page  # the paths' caption, from the manifest


def test_the_caller_s_work_is_done_once_while_the_figures_are_drawn_or_given(
    results, figures, tmp_path
):
    shutil.copy(results.store_path, tmp_path / "runs.sqlite")
    shutil.copytree(Path(next(iter(figures.values()))[0]).parent, tmp_path / "figures")
    again = bench.load(tmp_path)
    done = []
    page = report.write_report(again, jobs=2, meanwhile=lambda: done.append("tables")).read_text()
    assert done == ["tables"]
    report.write_report(again, figures, meanwhile=lambda: done.append("given"))
    assert done == ["tables", "given"]
    assert (tmp_path / "report.html").read_text() == page  # the same sections, in order
