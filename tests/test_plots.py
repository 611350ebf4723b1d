"""The data behind each figure of bench.plots, checked against the stored tables of a run.

The run is conftest's ``planted``: the planted suite (helpers.PLANTED, which says what it
plants for the figures and the report to show) run through the whole protocol and drawn
once per session; the report's tests read the same run."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import itertools
import json
import math
import shutil
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import PLANTED_SEEDS, PNG_MAGIC
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullLocator

from bench import metrics, plots, protocol, tables
from bench.plots import boundaries, comparisons, manifest, paths, style
from bench.store import Store
from bench.suite import BUILTIN_METHODS


@pytest.fixture(scope="session")
def results(planted):
    return planted.results


@pytest.fixture(scope="session")
def figures(planted):
    return planted.figures


def test_the_planted_run_has_both_phases_and_plants_what_the_figures_show(results):
    phases = results.trials.groupby("phase")["seed"].agg(set)
    assert phases["eval"] == set(range(PLANTED_SEEDS))
    assert phases["tune"].isdisjoint(phases["eval"])
    summary = results.summary.set_index(["dataset", "method"])
    assert summary.loc[("moons", "gd"), "lr"] == pytest.approx(3e-4)  # extended, at the edge
    assert summary["lr_at_edge"].xs("gd", level="method").all()
    tuning = results.tuning
    assert tuning.loc[tuning["lr"] == 100.0, "diverged"].all()
    assert results.trials["extended"].any()


# ------------------------------------------------------------------------------ styles


def test_every_built_in_method_has_its_own_style():
    assert plots.BUILTIN_ORDER == tuple(BUILTIN_METHODS)
    assert set(plots.BUILTIN_STYLES) == set(BUILTIN_METHODS)


@pytest.mark.parametrize("custom", ["lion", "mine", "zeta"])
def test_eleven_builtins_and_a_custom_method_have_distinct_colour_and_marker_pairs(custom):
    methods = [*plots.BUILTIN_ORDER, custom]
    styles = {m: plots.method_style(m, methods) for m in methods}
    assert len({(s["color"], s["marker"]) for s in styles.values()}) == 12
    assert all(s["color"] in plots.OKABE_ITO for s in styles.values())
    assert all(s["linestyle"] in ("-", "--", "-.", ":") for s in styles.values())


def test_the_methods_that_shared_a_colour_no_longer_do():
    def colour(method):
        return plots.method_style(method)["color"]

    for a, b in [("sgd", "adamw"), ("gd", "rmsprop"), ("minibatch", "nadam")]:
        assert colour(a) != colour(b), (a, b)
    blacks = [m for m in plots.BUILTIN_ORDER if colour(m) == "#000000"]
    assert blacks == ["gd"]
    assert plots.method_style("adam") == {"color": "#D55E00", "linestyle": "-", "marker": "P"}


def test_a_method_keeps_its_style_whatever_else_is_in_the_run():
    runs = [[], ["adam"], ["zeta", "adam"], ["gd", "lion", "sophia"], [*plots.BUILTIN_ORDER]]
    for method in ["adam", "rmsprop", "lion", "mine"]:
        looks = {tuple(plots.method_style(method, [*run, method]).items()) for run in runs}
        assert len(looks) == 1, method
    assert plots.method_style("mine", ["mine", "zeta"]) == plots.method_style("mine", ["zeta"])


def test_user_methods_that_hash_alike_still_differ_within_a_run():
    slot = {}
    names = [f"opt{i}" for i in range(200)]
    for name in names:
        slot.setdefault(zlib.crc32(name.encode()) % len(plots.USER_STYLES), []).append(name)
    a, b = next(group[:2] for group in slot.values() if len(group) > 1)
    run = [*plots.BUILTIN_ORDER, a, b]
    styles = [plots.method_style(m, run) for m in run]
    assert len({(s["color"], s["marker"]) for s in styles}) == len(run)
    assert plots.method_style(a, run) == plots.method_style(a)  # the first keeps its own
    # as many user methods as there are user styles: all distinct, none like a built-in
    many = [*plots.BUILTIN_ORDER, *names[: len(plots.USER_STYLES)]]
    assert len({tuple(plots.method_style(m, many).items()) for m in many}) == len(many)


def test_every_figure_of_a_run_with_twelve_methods_styles_them_alike(results):
    methods = [*plots.BUILTIN_ORDER, "lion"]
    shown = SimpleNamespace(trials=pd.DataFrame({"method": methods}), suite={})
    assert style.styled_methods(shown, ["adam", "lion"]) == methods
    handles = style.legend_handles(methods)
    pairs = {(h.get_color(), h.get_marker()) for h in handles}
    assert len(pairs) == 12


def rgb_distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


@pytest.mark.parametrize("n_classes", [2, 3, 4, 6, 8, 10])
def test_class_colours_are_pairwise_distinct(n_classes):
    colours = [boundaries._class_style(c)["color"] for c in range(n_classes)]
    nearest = min(rgb_distance(a, b) for a, b in itertools.combinations(colours, 2))
    assert nearest > (0.3 if n_classes <= 4 else 0.25), n_classes
    markers = [boundaries._class_style(c)["marker"] for c in range(n_classes)]
    assert len(set(markers)) == n_classes


def test_blobs_classes_1_and_3_no_longer_look_alike():
    one, three = (boundaries._class_style(c)["color"] for c in (1, 3))
    assert rgb_distance(one, three) > 0.5


def test_names_are_made_safe_for_matplotlib_and_file_names():
    assert plots.text("cost $5") == r"cost \$5"
    assert plots.slug("<script>alert(1)</script>") == "script-alert-1-script"
    assert plots.slug("moons") == "moons"


def test_ratios_are_labelled_as_percentages_or_factors():
    assert plots.ratio_text(0.35) == "+35%"
    assert plots.ratio_text(0.053) == "+5.3%"
    assert plots.ratio_text(-0.031) == "−3.1%"
    assert plots.ratio_text(1.0) == "×2"
    assert plots.ratio_text(2.4) == "×3.4"
    assert plots.ratio_text(329.4) == "×330"
    assert plots.ratio_text(np.nan) == "–"


@pytest.mark.parametrize("limits", [(3e-3, 40.0), (0.2, 4.0)])  # wide; minor ticks labelled
def test_a_plain_log_axis_makes_only_the_ticks_in_view_and_draws_those_of_matplotlib(limits):
    def drawn(ax):
        ticks = ax.yaxis._update_ticks()  # the ticks matplotlib draws
        return [(t.get_loc(), t.label1.get_text()) for t in ticks]

    fig = Figure()
    plain, reference = fig.subplots(1, 2)
    for ax in (plain, reference):
        ax.set_yscale("log")
        ax.set_ylim(*limits)
        style.plain_log_ticks(ax.yaxis)
    reference.yaxis.set_major_locator(LogLocator(10))  # matplotlib's, a decade beyond each end
    minor = LogLocator(10, subs=np.arange(2, 10))
    if np.log10(limits[1] / limits[0]) >= 1.8:
        minor = NullLocator()
    reference.yaxis.set_minor_locator(minor)
    FigureCanvasAgg(fig).draw()
    assert drawn(plain) == drawn(reference)
    made = [t.get_loc() for t in plain.yaxis.majorTicks]
    if limits[0] > 0.1:
        made += [t.get_loc() for t in plain.yaxis.minorTicks]
    assert all(limits[0] <= loc <= limits[1] for loc in made), made
    assert len(plain.yaxis.majorTicks) < len(reference.yaxis.majorTicks)


def test_a_figure_task_pauses_the_collector_while_it_draws_and_restores_it(tmp_path):
    seen = []

    def plot(*args, data):
        seen.append(gc.isenabled())
        if data == "fail":
            raise RuntimeError("no figure")
        return Figure(figsize=(1, 1))

    task = plots.FigureTask("x", "x", lambda: "ok", plot, ())
    task.draw(tmp_path)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError, match="no figure"):
        dataclasses.replace(task, data=lambda: "fail").draw(tmp_path)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()  # a caller's choice is left as it was
    try:
        task.draw(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.slow
def test_drawing_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    # a user's (or notebook's) backend, chosen before bench is imported, must survive
    script = textwrap.dedent(
        f"""
        import sys
        import matplotlib
        matplotlib.use("svg")
        import pandas as pd
        from types import SimpleNamespace
        from bench import plots, report
        friedman = SimpleNamespace(
            mean_rank=pd.Series({{"a": 1.2, "b": 2.0, "c": 2.8}}), critical_difference=1.5,
            p_value=0.2, n_datasets=4, separated=[],
        )
        fig = plots.plot_critical_difference(SimpleNamespace(friedman=friedman))
        path = plots.save_figure(fig, {str(tmp_path / "cd")!r})
        assert path.read_bytes().startswith({PNG_MAGIC!r})
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------------------ 1, 2: curves


def eval_curves(results) -> pd.DataFrame:
    return results.curves[results.curves["phase"] == "eval"]


@pytest.mark.parametrize("axis", ["epoch", "seconds"])
def test_loss_curves_are_geometric_means_over_the_evaluation_seeds(results, figures, axis):
    data = figures[f"loss_vs_{axis}"][1]
    losses = ["train_loss", "val_loss"] if axis == "epoch" else ["train_loss"]
    assert sorted(set(data["loss"])) == sorted(losses)  # the headline shows both
    curves = eval_curves(results)
    assert len(data) == len(losses) * 2 * 3 * 9  # losses x datasets x methods x epochs 0..8
    assert (data["n"] == PLANTED_SEEDS).all()
    drawn = data.set_index(["loss", "dataset", "method", "epoch"])
    for loss in losses:
        for (dataset, method, epoch), seeds in curves.groupby(["dataset", "method", "epoch"]):
            row = drawn.loc[(loss, dataset, method, epoch)]
            expected = metrics.confidence_interval(seeds[loss].to_numpy(), log=True)
            assert (row["center"], row["lo"], row["hi"]) == pytest.approx(expected, rel=1e-9)
            assert row["x"] == pytest.approx(seeds[axis].mean(), rel=1e-12)
            assert row["lr"] == seeds["lr"].iloc[0]


def test_the_vectorised_interval_is_confidence_interval_with_floor_and_nan():
    frame = pd.DataFrame(
        {
            "g": ["a"] * 3 + ["b"] * 2 + ["c"] + ["d"] * 2 + ["e"] * 2,
            "v": [0.5, 0.7, 0.6, 1.0, 3.0, 2.0, 0.4, np.inf, 0.0, 0.1],
        }
    )
    got = plots.log_intervals(frame, ["g"], "v")
    for group, values in frame.groupby("g")["v"]:
        floored = metrics.floored(values.to_numpy(), metrics.LOSS_FLOOR)
        expected = metrics.confidence_interval(floored, log=True)
        np.testing.assert_allclose(got.loc[group].to_numpy(), expected, rtol=1e-12)
    assert got.loc[["c", "d"]].isna().all().all()  # one value; a non-finite one
    assert got.loc["e", "center"] == pytest.approx(math.sqrt(1e-12 * 0.1))  # 0 floored


def test_an_unknown_cost_axis_is_refused_by_name(results):
    with pytest.raises(ValueError, match=r"axis must be one of epoch, seconds; got 'samples'"):
        plots.loss_curve_data(results, "samples")  # the same for every method: epochs x n


# ------------------------------------------------------------------------------ 3: lr sensitivity


def test_lr_sensitivity_is_the_tuning_score_of_every_lr_tried(results, figures):
    data = figures["lr_sensitivity"][1].set_index(["dataset", "method", "lr"])
    tuning = results.tuning
    assert len(data) == len(tuning.groupby(["dataset", "method", "lr"]))
    for (dataset, method, lr), seeds in tuning.groupby(["dataset", "method", "lr"]):
        row = data.loc[(dataset, method, lr)]
        assert row["trials"] == len(seeds) == 2
        assert bool(row["diverged"]) == bool(seeds["diverged"].any())
        assert bool(row["extended"]) == bool(seeds["extended"].all())
        if not row["diverged"]:  # the score: mean over tuning seeds of the best val loss
            assert row["score"] == pytest.approx(seeds["best_val_loss"].mean(), rel=1e-12)
        else:
            assert np.isnan(row["score"])
    assert data.loc[("moons", "minibatch", 100.0), "diverged"]  # the planted divergence


def test_lr_sensitivity_follows_the_tuning_rule_of_the_protocol(results, figures):
    data = figures["lr_sensitivity"][1].set_index(["dataset", "method", "lr"]).sort_index()
    for (dataset, method), chain in results.tuning.groupby(["dataset", "method"]):
        scores = protocol.candidate_scores(chain[protocol.OUTCOME_COLUMNS])
        for lr, candidates in scores.groupby("lr"):
            valid = candidates[candidates["valid"]]
            shown = data.loc[(dataset, method, lr), "score"]
            if valid.empty:
                assert np.isnan(shown)
            else:
                assert shown == pytest.approx(valid["score"].min(), rel=1e-12)
        chosen = protocol.choose(scores)
        tuned = data.loc[(dataset, method)]
        assert tuned.index[tuned["tuned"]].tolist() == [chosen["lr"]]


def test_lr_sensitivity_marks_the_tuned_lr_and_its_edge_from_the_summary(results, figures):
    data = figures["lr_sensitivity"][1]
    tuned = data[data["tuned"]].set_index(["dataset", "method"]).sort_index()
    summary = results.summary.set_index(["dataset", "method"]).sort_index()
    assert tuned.index.tolist() == summary.index.tolist()  # one tuned lr per chain
    np.testing.assert_allclose(tuned["lr"], summary["lr"], rtol=1e-12)
    assert tuned["at_edge"].tolist() == summary["lr_at_edge"].tolist()
    assert not data.loc[~data["tuned"], "at_edge"].any()
    assert tuned.loc[("moons", "gd"), "at_edge"] and tuned.loc[("moons", "gd"), "extended"]


# ------------------------------------------------------------------------------ 4: test


def test_test_figure_shows_every_evaluation_seed_of_the_early_stopped_model(results, figures):
    data = figures["final_test"][1]
    evaluation = results.evaluation
    assert len(data) == len(evaluation) == 2 * 3 * PLANTED_SEEDS
    merged = data.merge(evaluation, on=["dataset", "method", "lr", "seed"], suffixes=("", "_e"))
    np.testing.assert_array_equal(merged["test_loss"], merged["test_loss_e"])
    np.testing.assert_array_equal(merged["test_metric"], merged["test_metric_e"])


# ------------------------------------------------------------------------------ 5: speed


def test_convergence_speed_counts_the_evaluation_seeds_that_reached_the_target(results, figures):
    data = figures["convergence_speed"][1].set_index(["dataset", "method"])
    reached = results.evaluation.groupby(["dataset", "method"])["target_reached"].sum()
    assert (data["reached"] == reached.loc[data.index]).all()
    assert (data["seeds"] == PLANTED_SEEDS).all()
    assert (data.loc["regression", "status"] == "not reached").all()  # target 1e-6
    assert data.loc[("moons", "adam"), "status"] == "reached"
    assert data.loc[("moons", "gd"), "status"] == "not reached"  # the planted, tiny lr
    assert data.loc[data["status"] != "reached", "center"].isna().all()  # never a bar length


def test_convergence_speed_bars_are_the_summary_geometric_mean_and_interval(results, figures):
    data = figures["convergence_speed"][1].set_index(["dataset", "method"])
    summary = results.summary.set_index(["dataset", "method"])
    shown = data[data["status"] == "reached"]
    assert len(shown)
    for key, row in shown.iterrows():
        expected = summary.loc[key, [f"epochs_to_target_{p}" for p in ("center", "lo", "hi")]]
        assert (row["center"], row["lo"], row["hi"]) == pytest.approx(tuple(expected))


# ------------------------------------------------------------------------------ 6: profile


def fake_results(costs: dict[tuple[str, str], float | None], targets: dict[str, float | None]):
    """A stand-in Results whose evaluation reached the target (or not: None) with 2 seeds at
    the given geometric mean epochs to target."""
    rows = [
        {
            "dataset": d,
            "method": m,
            "lr": 0.1,
            "n_seeds": 2,
            "epochs_to_target_center": np.nan if cost is None else cost,
            "epochs_to_target_lo": np.nan,
            "epochs_to_target_hi": np.nan,
        }
        for (d, m), cost in costs.items()
    ]
    evaluation = pd.DataFrame(
        [
            {"dataset": d, "method": m, "target_reached": cost is not None}
            for (d, m), cost in costs.items()
            for _ in range(2)
        ]
    )
    methods = list(dict.fromkeys(m for _, m in costs))
    return SimpleNamespace(
        summary=pd.DataFrame(rows),
        evaluation=evaluation,
        trials=evaluation,
        suite={
            "methods": {m: {} for m in methods},
            "datasets": {d: {"target_loss": t} for d, t in targets.items()},
        },
    )


def test_performance_profile_by_hand():
    # A: m1 2 epochs, m2 4 (ratios 1, 2); B: m1 missed, m2 3 (inf, 1); C: both missed;
    # D: m1 reached before training (0 epochs, counted as 1), m2 2 (ratios 1, 2).
    fake = fake_results(
        {
            ("A", "m1"): 2,
            ("A", "m2"): 4,
            ("B", "m1"): None,
            ("B", "m2"): 3,
            ("C", "m1"): None,
            ("C", "m2"): None,
            ("D", "m1"): 0,
            ("D", "m2"): 2,
        },
        {"A": 0.1, "B": 0.1, "C": 0.1, "D": 0.1},
    )
    ratios, profile = plots.performance_profile_data(fake)
    assert ratios.loc["A"].tolist() == [1.0, 2.0]
    assert ratios.loc["B"].tolist() == [math.inf, 1.0]
    assert ratios.loc["C"].tolist() == [math.inf, math.inf]
    assert ratios.loc["D"].tolist() == [1.0, 2.0]
    rho = profile.pivot(index="tau", columns="method", values="fraction")
    assert rho.loc[1.0].tolist() == [0.5, 0.25]
    assert rho.loc[2.0].tolist() == [0.5, 0.75]
    assert rho.iloc[-1].tolist() == [0.5, 0.75]


def test_a_dataset_without_a_target_is_left_out_of_the_profile():
    fake = fake_results(
        {("A", "m1"): 2, ("A", "m2"): 4, ("B", "m1"): None, ("B", "m2"): None},
        {"A": 0.1, "B": None},
    )
    ratios, profile = plots.performance_profile_data(fake)
    assert ratios.index.tolist() == ["A"]
    assert profile.groupby("method")["fraction"].last().tolist() == [1.0, 1.0]


def test_the_seconds_profile_by_hand_from_the_evaluation_trials(results, figures):
    _, data = figures["performance_profile"]
    ratios, profile = data["seconds_ratios"], data["seconds_profile"]
    evaluation = results.evaluation
    targets = {d: s.get("target_loss") for d, s in results.suite["datasets"].items()}
    costs = {}
    for (dataset, method), seeds in evaluation.groupby(["dataset", "method"]):
        if targets.get(dataset) is None:
            continue
        if not seeds["target_reached"].all():
            costs[(dataset, method)] = math.inf
            continue
        floor = tables.floors_of(results, dataset)["seconds_to_target"]
        values = np.maximum(seeds["seconds_to_target"].to_numpy(dtype=float), floor)
        costs[(dataset, method)] = float(np.exp(np.mean(np.log(values))))
    assert set(ratios.index) == {d for d, _ in costs}
    assert any(math.isfinite(c) for c in costs.values())  # moons: adam and minibatch reach it
    for (dataset, method), cost in costs.items():
        best = min(c for (d, _), c in costs.items() if d == dataset)
        expected = cost / best if math.isfinite(best) else math.inf
        assert ratios.loc[dataset, method] == pytest.approx(expected, rel=1e-9)
    for method, steps in profile.groupby("method"):
        for tau, fraction in zip(steps["tau"], steps["fraction"], strict=True):
            assert fraction == pytest.approx(np.mean(ratios[method] <= tau))
    assert profile["tau"].min() == 1.0


def test_the_profile_figure_has_an_epochs_and_a_seconds_panel(figures):
    _, data = figures["performance_profile"]
    assert set(data) == {"ratios", "profile", "seconds_ratios", "seconds_profile"}
    assert data["ratios"].index.equals(data["seconds_ratios"].index)
    reached = np.isfinite(data["ratios"]) == np.isfinite(data["seconds_ratios"])
    assert reached.all().all()  # the same targets reached, whichever the cost


def test_an_unknown_profile_cost_is_refused(results):
    with pytest.raises(ValueError, match="cost must be one of epochs, seconds; got 'steps'"):
        plots.performance_profile_data(results, "steps")


def test_performance_profile_rises_to_the_share_of_datasets_reached(results, figures):
    _, data = figures["performance_profile"]
    profile = data["profile"]
    speed = figures["convergence_speed"][1]
    for method, steps in profile.groupby("method"):
        fractions = steps.sort_values("tau")["fraction"].to_numpy()
        assert np.all(np.diff(fractions) >= 0)
        mine = speed[speed["method"] == method]
        assert fractions[-1] == pytest.approx((mine["status"] == "reached").mean())


# ------------------------------------------------------------------------------ 6b: verdicts


def test_the_verdict_map_is_the_comparisons_on_test_loss(results, figures):
    data = figures["verdicts"][1]
    on_loss = results.comparisons[results.comparisons["criterion"] == "test_loss"]
    expected = on_loss.set_index(["method", "dataset"])["verdict"].sort_index()
    assert data.set_index(["method", "dataset"])["verdict"].sort_index().equals(expected)
    assert list(dict.fromkeys(data["method"])) == results.ranking["method"].tolist()
    planted = data[data["method"] == "gd"]
    assert planted["verdict"].tolist() == ["worse", "worse"]  # on both datasets


# ------------------------------------------------------------------------- 6c: critical difference


def fake_friedman(ranks: dict[str, float], separated, p_value: float = 0.01):
    return SimpleNamespace(
        friedman=SimpleNamespace(
            mean_rank=pd.Series(ranks),
            critical_difference=1.2,
            p_value=p_value,
            n_datasets=6,
            separated=separated,
        )
    )


def test_critical_difference_groups_join_the_runs_of_methods_not_separated():
    ranks = {"a": 1.0, "b": 1.5, "c": 2.8, "d": 3.5}
    some = fake_friedman(ranks, [("a", "c"), ("a", "d"), ("b", "d")])
    assert plots.critical_difference_data(some)["groups"] == [["a", "b"], ["b", "c"], ["c", "d"]]
    none = fake_friedman(ranks, [], p_value=0.3)
    assert plots.critical_difference_data(none)["groups"] == [["a", "b", "c", "d"]]
    every = fake_friedman(ranks, [(x, y) for x in "abcd" for y in "abcd" if x < y])
    assert plots.critical_difference_data(every)["groups"] == []
    assert plots.critical_difference_data(SimpleNamespace(friedman=None)) is None


def test_the_critical_difference_diagram_is_drawn_from_the_friedman_ranks(results, figures):
    path, data = figures["critical_difference"]
    assert Path(path).name == "critical_difference.png"
    assert Path(path).read_bytes().startswith(PNG_MAGIC)
    friedman = results.friedman
    assert data["mean_rank"].equals(friedman.mean_rank)
    assert data["critical_difference"] == friedman.critical_difference
    if not friedman.separated:
        assert data["groups"] == [list(friedman.mean_rank.index)]


# ------------------------------------------------------------------------------ 7: boundaries


def test_decision_boundaries_only_for_two_feature_datasets(figures):
    assert [k for k in figures if k.startswith("decision_boundaries")] == [
        "decision_boundaries:moons"
    ]


def test_decision_boundaries_are_the_early_stopped_networks_predictions(results, figures):
    data = figures["decision_boundaries:moons"][1]
    net = results.network("moons")
    evaluation = results.evaluation[results.evaluation["dataset"] == "moons"]
    assert set(data["trials"]) == {"gd", "minibatch", "adam"}
    assert data["xx"].shape == data["yy"].shape == (plots.BOUNDARY_RESOLUTION,) * 2
    for method, (lr, seed, epoch) in data["trials"].items():
        first = evaluation[evaluation["method"] == method].sort_values("seed").iloc[0]
        assert (lr, seed, epoch) == (first["lr"], first["seed"], first["best_epoch"])
        params = results.final_params(method, "moons", lr, seed, best=True)
        i, j = 7, 83
        point = np.array([[data["xx"][i, j], data["yy"][i, j]]])
        expected = net.predict(params, point)[0, 0]
        np.testing.assert_allclose(data["predictions"][method][i, j], expected, rtol=1e-12)


def test_a_boundary_grid_cell_is_under_2_5_pixels_of_the_drawn_panel(results, figures):
    # smooth boundaries: a grid of 100 (a cell of 3.6 px) drew them jagged; finer than
    # about 2 px no longer changes the PNG visibly, and costs contourf and the network more
    fig = plots.plot_decision_boundaries(results, "moons", figures["decision_boundaries:moons"][1])
    fig.set_dpi(plots.DPI)
    FigureCanvasAgg(fig).draw()
    panel = fig.axes[0].get_window_extent()
    cell = max(panel.width, panel.height) / (plots.BOUNDARY_RESOLUTION - 1)
    assert 1.5 < cell < 2.5


def test_decision_boundaries_refuse_a_dataset_with_more_features(results, tmp_path):
    with pytest.raises(ValueError, match="2 features; 'regression' has 3"):
        plots.decision_boundary_data(results, "regression")


# ------------------------------------------------------------------------------ 8: paths


def test_hand_written_surface_gradients_match_finite_differences():
    h = 1e-6
    for surface in plots.SURFACES:
        for x, y in [surface.start, (0.3, -0.7), (1.1, 0.4)]:
            dx = surface.f(np.array(x + h), np.array(y)) - surface.f(np.array(x - h), np.array(y))
            dy = surface.f(np.array(x), np.array(y + h)) - surface.f(np.array(x), np.array(y - h))
            numeric = (float(dx) / (2 * h), float(dy) / (2 * h))
            assert surface.grad(x, y) == pytest.approx(numeric, rel=1e-5, abs=1e-7), surface.name


def test_rosenbrock_gradient_by_hand():
    # y - x^2 = -0.25: dx = -2 (1 - x) - 400 x (y - x^2) = -5 - 150, dy = 200 (y - x^2) = -50
    assert paths._rosenbrock_grad(-1.5, 2.0) == pytest.approx((-155.0, -50.0))


def test_network_surface_is_the_classic_2_2_2_loss_written_out():
    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    w2, w5 = -0.5, 1.2
    h1 = max(0.0, 0.05 * 0.15 + 0.10 * w2 + 0.35)  # relu hidden units
    h2 = max(0.0, 0.05 * 0.25 + 0.10 * 0.30 + 0.35)
    o1 = sigmoid(h1 * w5 + h2 * 0.45 + 0.60)
    o2 = sigmoid(h1 * 0.50 + h2 * 0.55 + 0.60)
    loss = 0.5 * ((0.01 - o1) ** 2 + (0.99 - o2) ** 2)
    assert float(paths._network(np.array(w2), np.array(w5))) == pytest.approx(loss, rel=1e-12)


GD = "gd = minibatch"  # the planted suite's two SGD methods, one path on a surface


def test_every_path_starts_at_the_surface_start_and_gd_takes_the_gradient_step(figures):
    data = figures["optimizer_paths"][1]
    for surface in plots.SURFACES:
        drawn = data[surface.name]
        for path in drawn["paths"].values():
            np.testing.assert_array_equal(path[0], surface.start)
            assert len(path) <= surface.steps + 1
        grad = np.array(surface.grad(*surface.start))
        first = np.array(surface.start) - drawn["lrs"][GD] * grad
        np.testing.assert_allclose(drawn["paths"][GD][1], first, rtol=1e-12)


def test_the_paths_are_the_suite_s_methods_each_tuned_on_each_surface(results, figures):
    data = figures["optimizer_paths"][1]
    # gd and minibatch differ only in batch size, which a surface does not have
    assert [" = ".join(g) for g in plots.path_methods(results)] == [GD, "adam"]
    for surface in plots.SURFACES:
        drawn = data[surface.name]
        assert set(drawn["paths"]) == {GD, "adam"}
        method = plots.path_methods(results)[("adam",)]
        run = plots.surface_paths(surface, method)
        # the tuned lr scores best among the lrs tried, and its path is the one drawn
        assert drawn["lrs"]["adam"] == plots.PATH_LRS[run["chosen"]]
        assert run["score"][run["chosen"]] == np.min(run["score"])
        np.testing.assert_array_equal(drawn["paths"]["adam"], run["paths"][run["chosen"]])
    # the lr that suits a surface is not the network's: adam's differs across surfaces
    assert len({data[s.name]["lrs"]["adam"] for s in plots.SURFACES}) > 1


def test_closest_is_the_method_whose_end_is_nearest_a_minimum(figures):
    data = figures["optimizer_paths"][1]
    for surface in plots.SURFACES:
        drawn = data[surface.name]
        if not surface.minima:
            assert drawn["closest"] is None
            continue
        for label, path in drawn["paths"].items():
            nearest = min(np.linalg.norm(path[-1] - np.array(m)) for m in surface.minima)
            assert drawn["distance"][label] == pytest.approx(nearest, rel=1e-12)
        label, distance = drawn["closest"]
        assert distance == min(drawn["distance"].values())


@pytest.mark.slow
def test_a_custom_optimizer_gets_its_path_and_methods_alike_on_a_surface_share_one(tmp_path):
    module = tmp_path / "mylion.py"
    module.write_text(textwrap.dedent(LION))
    sys.path.insert(0, str(tmp_path))
    try:
        suite = SimpleNamespace(
            suite={
                "methods": {
                    "gd": spec("gd", "SGD", None),
                    "sgd": spec("sgd", "SGD", 1),
                    "lion": spec("lion", "mylion:Lion", 32),
                }
            }
        )
        groups = plots.path_methods(suite)
        assert list(groups) == [("gd", "sgd"), ("lion",)]
        data = plots.optimizer_paths_data(suite)
        fig = plots.plot_optimizer_paths(suite, data)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mylion", None)
    rosenbrock = data["Rosenbrock"]
    assert set(rosenbrock["paths"]) == {"gd = sgd", "lion"}
    lion = rosenbrock["paths"]["lion"]
    # Lion moves every coordinate by exactly lr (times the sign) on its first step
    lr = rosenbrock["lrs"]["lion"]
    np.testing.assert_allclose(np.abs(lion[1] - lion[0]), [lr, lr], rtol=1e-12)
    labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert f"lion, lr {lr:g}" in labels
    assert any(label.startswith("gd = sgd, lr ") for label in labels)


LION = """
import numpy as np


class Lion:
    elementwise = True

    def __init__(self, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        self.lr, self.betas, self.weight_decay = lr, betas, weight_decay

    def init(self, params):
        return {"exp_avg": [np.zeros_like(p) for p in params]}

    def step(self, params, grads, state):
        beta1, beta2 = self.betas
        for p, g, m in zip(params, grads, state["exp_avg"]):
            lr = np.reshape(self.lr, (-1,) + (1,) * (p.ndim - 1))
            p -= lr * (np.sign(beta1 * m + (1 - beta1) * g) + self.weight_decay * p)
            m += (1 - beta2) * (g - m)
"""


def spec(name: str, optimizer: str, batch_size) -> dict:
    return {
        "name": name,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "lrs": [0.1],
        "args": {},
        "search": {},
    }


def test_the_saddle_shows_what_the_caption_says(figures):
    saddle = figures["optimizer_paths"][1]["saddle x² − y² + y⁴/4"]["paths"]

    def steps_to_leave(path):  # the ridge y = 0, which gd follows into the saddle point
        return int(np.argmax(np.abs(path[:, 1]) > 0.5))

    assert steps_to_leave(saddle["adam"]) < steps_to_leave(saddle[GD]) / 2  # Adam escapes
    assert np.abs(saddle[GD][: steps_to_leave(saddle[GD]), 0]).min() < 0.05  # gd stalls


# ------------------------------------------------------------------------------ all


def test_every_plot_function_returns_a_figure_a_notebook_can_restyle(results, figures):
    for task in plots.figure_tasks(results):
        fig = task.plot(*task.args, data=figures[task.key][1])
        assert isinstance(fig, Figure), task.key
        assert fig.canvas.figure is fig and fig.axes  # drawn, not saved: no file is written
    fig = plots.plot_final_test(results)  # the data computed when not given
    fig.axes[0].set_title("restyled")
    assert fig.axes[0].get_title() == "restyled"


def test_draw_figures_writes_every_figure_as_a_small_png(figures):
    assert set(figures) == {
        "loss_vs_epoch",
        "loss_vs_seconds",
        "lr_sensitivity",
        "final_test",
        "convergence_speed",
        "performance_profile",
        "verdicts",
        "critical_difference",
        "decision_boundaries:moons",
        "optimizer_paths",
    }
    for path, _ in figures.values():
        content = Path(path).read_bytes()
        assert content.startswith(PNG_MAGIC)
        assert 5_000 < len(content) < 400_000, path


def test_no_panel_s_titles_labels_or_ticks_overlap_another_s_or_leave_the_figure(results, figures):
    # the panels' layout (style.PanelLayout) is measured, not constrained layout's: what
    # each panel draws beyond its box (title, tick labels, axis labels, texts) stays clear
    # of every other panel's and of the figure's legends and super-labels, inside the figure
    for task in plots.figure_tasks(results):
        fig = task.plot(*task.args, data=figures[task.key][1])
        fig.set_dpi(plots.DPI)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
        extras = [legend.get_window_extent(renderer) for legend in fig.legends] + [
            t.get_window_extent(renderer)
            for t in (fig._suptitle, fig._supxlabel, fig._supylabel)
            if t is not None and t.get_text()
        ]
        edge = fig.bbox.padded(1)  # a pixel of rounding
        for i, box in enumerate(boxes + extras):
            assert edge.x0 <= box.x0 and box.x1 <= edge.x1, (task.key, i, box, fig.bbox)
            assert edge.y0 <= box.y0 and box.y1 <= edge.y1, (task.key, i, box, fig.bbox)
        for (i, a), (j, b) in itertools.combinations(enumerate(boxes + extras), 2):
            if i < len(boxes) and j < len(boxes) or i >= len(boxes) or j >= len(boxes):
                overlap = a.padded(-0.5).overlaps(b.padded(-0.5))
                assert not overlap, (task.key, i, j, a, b)


def test_forked_processes_draw_the_same_files_and_hand_back_the_same_data(
    results, figures, tmp_path
):
    again = plots.draw_figures(results, tmp_path, jobs=3)  # this process and two children
    assert list(again) == list(figures)
    for key, (path, _) in again.items():
        assert Path(path).read_bytes() == Path(figures[key][0]).read_bytes(), key
    pd.testing.assert_frame_equal(again["final_test"][1], figures["final_test"][1])
    boundary, expected = (
        again["decision_boundaries:moons"][1],
        figures["decision_boundaries:moons"][1],
    )
    np.testing.assert_array_equal(boundary["predictions"]["adam"], expected["predictions"]["adam"])
    assert manifest.paths_caption_data(again["optimizer_paths"][1]) == (
        manifest.paths_caption_data(figures["optimizer_paths"][1])
    )


def test_a_figure_that_fails_raises_here_whichever_process_drew_it(results, tmp_path, monkeypatch):
    # a child leaves a figure it failed on to this process, which draws it and raises
    def broken(*args, **kwargs):
        raise RuntimeError("no verdicts today")

    monkeypatch.setattr(comparisons, "plot_verdicts", broken)
    with pytest.raises(RuntimeError, match="no verdicts today"):
        plots.draw_figures(results, tmp_path, jobs=2)


# ------------------------------------------------------------------------------ reuse


@pytest.fixture
def drawn_copy(figures, tmp_path) -> Path:
    """A copy of the planted run's figures folder (its figures.json too), to redraw into."""
    folder = tmp_path / "figures"
    shutil.copytree(Path(next(iter(figures.values()))[0]).parent, folder)
    return folder


@pytest.fixture
def draws(monkeypatch) -> list[str]:
    """The figures drawn from here on (keys, in order); each is written as a stub file."""
    drawn: list[str] = []

    def draw(task, out_dir, format="png"):
        drawn.append(task.key)
        path = Path(out_dir) / f"{task.stem}.{format}"
        path.write_bytes(b"stub " + task.key.encode())
        return path, None

    monkeypatch.setattr(plots.FigureTask, "draw", draw)
    return drawn


def contents(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_a_second_draw_of_unchanged_results_reuses_every_figure_byte_for_byte(
    results, figures, drawn_copy, draws
):
    before = contents(drawn_copy)
    again = plots.draw_figures(results, drawn_copy, jobs=2, reuse=True)
    assert draws == []
    assert contents(drawn_copy) == before  # not rewritten: the same bytes, the same times
    assert list(again) == list(figures)
    for key, (path, _) in figures.items():
        assert again[key][0] == drawn_copy / Path(path).name
        assert again[key][0].read_bytes() == Path(path).read_bytes()
    # what the report reads of the paths' data is kept, and gives the same caption
    kept = again["optimizer_paths"][1]
    assert kept == json.loads(
        json.dumps(manifest.paths_caption_data(figures["optimizer_paths"][1]))
    )
    assert closest_caption(kept) == closest_caption(figures["optimizer_paths"][1])


def closest_caption(paths: dict) -> str:
    from bench import report

    return report.caption_for("optimizer_paths", paths)[1]


def test_reuse_is_off_unless_asked_and_drawing_writes_the_manifest(results, drawn_copy, draws):
    plots.draw_figures(results, drawn_copy)
    assert sorted(draws) == sorted(t.key for t in plots.figure_tasks(results))
    listed = json.loads((drawn_copy / "figures.json").read_text())
    assert listed["key"] == manifest.figures_key(results, "png")
    assert listed["figures"]["verdicts"]["files"] == {
        "verdicts.png": hashlib.sha256(b"stub verdicts").hexdigest()
    }


def test_changed_results_another_format_or_other_code_redraw_every_figure(
    results, drawn_copy, draws, monkeypatch
):
    every = sorted(t.key for t in plots.figure_tasks(results))
    curves = results.curves.copy()
    curves.loc[curves.index[-1], "train_loss"] *= 1.001  # one loss of one epoch
    changed = dataclasses.replace(results, curves=curves)
    plots.draw_figures(changed, drawn_copy, reuse=True)
    assert sorted(draws) == every
    draws.clear()
    plots.draw_figures(changed, drawn_copy, reuse=True)  # now the manifest is the changed one's
    assert draws == []
    plots.draw_figures(changed, drawn_copy, format="svg", reuse=True)
    assert sorted(draws) == every
    draws.clear()
    monkeypatch.setattr(manifest, "code_version", lambda: "a newer bench")
    plots.draw_figures(changed, drawn_copy, format="svg", reuse=True)
    assert sorted(draws) == every


def test_a_figure_whose_file_changed_or_went_is_drawn_again_alone(results, drawn_copy, draws):
    (drawn_copy / "verdicts.png").write_bytes(b"edited by hand")
    (drawn_copy / "final_test.png").unlink()
    again = plots.draw_figures(results, drawn_copy, reuse=True)
    assert sorted(draws) == ["final_test", "verdicts"]
    assert again["verdicts"][0].read_bytes() == b"stub verdicts"
    draws.clear()
    plots.draw_figures(results, drawn_copy, reuse=True)
    assert draws == []


def test_an_unreadable_manifest_redraws(results, drawn_copy, draws):
    (drawn_copy / "figures.json").write_text("{not json")
    plots.draw_figures(results, drawn_copy, reuse=True)
    assert sorted(draws) == sorted(t.key for t in plots.figure_tasks(results))


def test_the_caller_s_work_is_done_once_whether_figures_are_drawn_or_reused(
    results, drawn_copy, draws
):
    done = []
    plots.draw_figures(results, drawn_copy, reuse=True, meanwhile=lambda: done.append(draws[:]))
    assert done == [[]] and draws == []  # every figure reused
    plots.draw_figures(results, drawn_copy, meanwhile=lambda: done.append(draws[:]))
    assert done == [[], []] and draws  # before this process draws its share


def test_the_key_is_the_same_for_the_same_store_read_again(results):
    again = tables.load(results.out)
    assert manifest.figures_key(again, "png") == manifest.figures_key(results, "png")
    assert manifest.figures_key(again, "png") != manifest.figures_key(again, "pdf")


def test_the_key_ignores_the_order_a_run_finished_its_populations_in(results, tmp_path):
    # A run with jobs > 1 records its populations in the order they finished, a rerun that
    # reads them all back in the order it asks for them; the store lists its trials in that
    # order. The same results then drew every figure again on the second run.
    shutil.copy(results.store_path, tmp_path / "runs.sqlite")
    with Store(tmp_path / "runs.sqlite") as store:
        suite = store.meta("suite")
        store.set_meta(suite={**suite, "populations": suite["populations"][::-1]})
    again = tables.load(tmp_path)
    assert not again.trials.equals(results.trials)  # the same rows in another order
    assert not again.curves.equals(results.curves)
    assert manifest.figures_key(again, "png") == manifest.figures_key(results, "png")
    # but what the figures show counts: the order of the suite's methods, any value
    methods = dict(reversed(list(results.suite["methods"].items())))
    reordered = dataclasses.replace(results, suite={**results.suite, "methods": methods})
    assert manifest.figures_key(reordered, "png") != manifest.figures_key(results, "png")
    curves = again.curves.copy()
    curves.loc[curves.index[0], "val_loss"] *= 1.001
    changed = dataclasses.replace(again, curves=curves)
    assert manifest.figures_key(changed, "png") != manifest.figures_key(results, "png")


def test_the_seeds_of_the_test_figure_do_not_depend_on_the_order_of_the_trials(results, figures):
    # its seeds are jittered in turn: in order of seed, not of the rows (which the key ignores)
    data = figures["final_test"][1]
    shuffled = data.sample(frac=1, random_state=0)

    def strips(frame):
        fig = plots.plot_final_test(results, frame)
        return [line.get_xydata().tolist() for ax in fig.axes for line in ax.lines]

    assert strips(shuffled) == strips(data)
