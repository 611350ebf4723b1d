"""The data behind each figure of bench.plots, checked against the stored tables of a tiny run.

A session fixture trains one tiny suite (gd and adam on moons and a 3-feature regression,
5 epochs, 2 seeds; gd's lr 300 diverges) and draws every figure once; the report tests reuse
it. With two seeds the 95% percentile-bootstrap interval of a mean is exactly [min, max]:
the resampled means are a, (a + b) / 2 and b with probabilities 1/4, 1/2, 1/4.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import bench
from bench import plots

TINY_SUITE = """
[suite]
name = "tiny"
methods = ["gd", "adam"]
datasets = ["moons", "regression"]
epochs = 5
seeds = 2

[model]
hidden = [8]
activation = "relu"

[method.gd]
lr = [0.3, 3.0, 300.0]

[method.adam]
lr = [0.01, 0.1]

[dataset.moons]
n_samples = 150
target_loss = 0.35

[dataset.regression]
n_samples = 150
n_features = 3
target_loss = 0.3
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@functools.cache
def tiny_run(base: Path):
    """(results, figures) of the tiny suite, trained and drawn once per session."""
    base.mkdir(parents=True, exist_ok=True)
    suite = base / "tiny.toml"
    suite.write_text(TINY_SUITE)
    results = bench.run(suite, out=base / "out", jobs=1, progress=False)
    return results, plots.draw_figures(results, base / "out" / "figures")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(results, figures): the tiny run and every figure drawn from it."""
    return tiny_run(tmp_path_factory.getbasetemp() / "tiny")


@pytest.fixture(scope="session")
def results(tiny):
    return tiny[0]


@pytest.fixture(scope="session")
def figures(tiny):
    return tiny[1]


def tuned_curves(results) -> pd.DataFrame:
    keys = ["method", "dataset", "lr", "seed"]
    tuned = results.trials.loc[results.trials["tuned"], keys]
    return results.curves.merge(tuned, on=keys)


# ------------------------------------------------------------------------------ styles


def test_the_eleven_builtin_methods_have_distinct_colour_and_line_combinations():
    styles = [plots.method_style(m) for m in plots.BUILTIN_ORDER]
    assert len({(s["color"], s["linestyle"]) for s in styles}) == 11
    assert len({s["marker"] for s in styles}) == 11
    assert all(s["color"] in plots.OKABE_ITO for s in styles)
    assert plots.method_style("adam") == {"color": "#D55E00", "linestyle": "-", "marker": "P"}
    assert plots.method_style("rmsprop") == {"color": "#000000", "linestyle": "--", "marker": "h"}


def test_a_builtin_method_keeps_its_style_whatever_else_is_in_the_run():
    assert plots.method_style("adam", ["zeta", "adam"]) == plots.method_style("adam")


def test_user_methods_take_the_next_free_combinations_in_sorted_order():
    run = ["zeta", "gd", "mine"]
    mine, zeta = plots.method_style("mine", run), plots.method_style("zeta", run)
    assert mine == {"color": plots.OKABE_ITO[3], "linestyle": "--", "marker": plots.MARKERS[0]}
    assert zeta == {"color": plots.OKABE_ITO[4], "linestyle": "--", "marker": plots.MARKERS[1]}
    builtin = {(s["color"], s["linestyle"]) for s in map(plots.method_style, plots.BUILTIN_ORDER)}
    assert (mine["color"], mine["linestyle"]) not in builtin
    assert plots.method_style("mine", ["mine", "zeta"]) == mine  # order of the run is irrelevant


def test_names_are_made_safe_for_matplotlib_and_file_names():
    assert plots.text("cost $5") == r"cost \$5"
    assert plots.slug("<script>alert(1)</script>") == "script-alert-1-script"
    assert plots.slug("moons") == "moons"


# ------------------------------------------------------------------------------ 1, 2: curves


@pytest.mark.parametrize("axis", ["epoch", "samples", "seconds"])
def test_loss_curves_are_the_stored_means_over_seeds_at_the_tuned_lr(results, figures, axis):
    data = figures[f"loss_vs_{axis}"][1]
    expected = (
        tuned_curves(results)
        .groupby(["dataset", "method", "epoch"])
        .agg(mean=("train_loss", "mean"), x=(axis, "mean"), n=("seed", "count"))
    )
    drawn = data.set_index(["dataset", "method", "epoch"]).loc[expected.index]
    assert len(data) == len(expected) == 2 * 2 * 6  # datasets x methods x epochs 0..5
    np.testing.assert_allclose(drawn["mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(drawn["x"], expected["x"], rtol=1e-12)
    assert (drawn["n"] == 2).all()


def test_the_band_of_two_seeds_runs_from_the_lower_to_the_higher_seed(results, figures):
    data = figures["loss_vs_epoch"][1].set_index(["dataset", "method", "epoch"])
    spread = tuned_curves(results).groupby(["dataset", "method", "epoch"])["train_loss"]
    np.testing.assert_allclose(data["lo"], spread.min().loc[data.index], rtol=1e-12)
    np.testing.assert_allclose(data["hi"], spread.max().loc[data.index], rtol=1e-12)
    assert (data["lo"] <= data["mean"]).all() and (data["mean"] <= data["hi"]).all()


def test_an_unknown_cost_axis_is_refused_by_name(results):
    with pytest.raises(
        ValueError, match=r"axis must be one of epoch, samples, seconds; got 'steps'"
    ):
        plots.loss_curve_data(results, "steps")


# ------------------------------------------------------------------------------ 3: lr sensitivity


def test_lr_sensitivity_marks_exactly_the_diverged_lrs(results, figures):
    data = figures["lr_sensitivity"][1]
    trials = results.trials
    diverged = set(
        trials.loc[trials["diverged"], ["dataset", "method", "lr"]].itertuples(index=False)
    )
    marked = set(data.loc[data["diverged"], ["dataset", "method", "lr"]].itertuples(index=False))
    assert ("moons", "gd", 300.0) in diverged  # the tiny run does have a diverged lr
    assert marked == diverged
    assert data.loc[data["diverged"], "val_loss"].isna().all()
    assert data.loc[~data["diverged"], "val_loss"].notna().all()


def test_lr_sensitivity_plots_the_mean_validation_loss_and_circles_the_tuned_lr(results, figures):
    data = figures["lr_sensitivity"][1].set_index(["dataset", "method", "lr"])
    trials = results.trials
    adam = trials[(trials["dataset"] == "moons") & (trials["method"] == "adam")]
    for lr, seeds in adam.groupby("lr"):
        assert data.loc[("moons", "adam", lr), "val_loss"] == pytest.approx(
            seeds["final_val_loss"].mean(), rel=1e-12
        )
    tuned = set(trials.loc[trials["tuned"], ["dataset", "method", "lr"]].itertuples(index=False))
    assert set(data.index[data["tuned"]]) == tuned


# ------------------------------------------------------------------------------ 4: final test


def test_final_test_figure_shows_every_seed_at_the_tuned_lr(results, figures):
    data = figures["final_test"][1]
    tuned = results.trials[results.trials["tuned"]]
    assert len(data) == len(tuned) == 2 * 2 * 2
    merged = data.merge(tuned, on=["dataset", "method", "lr", "seed"], suffixes=("", "_stored"))
    np.testing.assert_array_equal(merged["final_test_loss"], merged["final_test_loss_stored"])
    np.testing.assert_array_equal(merged["test_metric"], merged["test_metric_stored"])


# ------------------------------------------------------------------------------ 5: speed


def test_convergence_speed_marks_targets_not_reached_never_as_zero(results, figures):
    data = figures["convergence_speed"][1].set_index(["dataset", "method"])
    summary = results.summary.set_index(["dataset", "method"])
    reached = summary["target_reached"] == summary["n_seeds"]
    assert (data["status"] == "reached").eq(reached).all()
    assert set(data["status"]) >= {"reached", "not reached", "partly reached"}
    missed = data[data["status"] != "reached"]
    assert missed["mean"].isna().all()  # no bar length: drawn in the "not reached" zone
    assert data.loc[("moons", "gd"), "status"] == "partly reached"
    assert data.loc[("moons", "gd"), "reached"] == 1
    assert data.loc[("moons", "adam"), "status"] == "not reached"


def test_convergence_speed_bars_are_the_summary_mean_and_interval(results, figures):
    data = figures["convergence_speed"][1].set_index(["dataset", "method"])
    tuned = results.trials[results.trials["tuned"]]
    for (dataset, method), row in data[data["status"] == "reached"].iterrows():
        epochs = tuned.loc[
            (tuned["dataset"] == dataset) & (tuned["method"] == method), "epochs_to_target"
        ]
        assert row["mean"] == pytest.approx(epochs.mean())
        assert (row["lo"], row["hi"]) == pytest.approx((epochs.min(), epochs.max()))


# ------------------------------------------------------------------------------ 6: profile


def fake_results(costs: dict[tuple[str, str], float | None], targets: dict[str, float | None]):
    """A stand-in Results whose summary holds the given mean epochs to target (None: missed)."""
    rows = [
        {"dataset": d, "method": m, "lr": 0.1, "n_seeds": 2,
         "target_reached": 0 if cost is None else 2,
         "epochs_to_target_mean": np.nan if cost is None else cost,
         "epochs_to_target_lo": np.nan, "epochs_to_target_hi": np.nan}
        for (d, m), cost in costs.items()
    ]  # fmt: skip
    methods = list(dict.fromkeys(m for _, m in costs))
    return SimpleNamespace(
        summary=pd.DataFrame(rows),
        trials=pd.DataFrame({"method": methods, "dataset": [d for d, _ in costs][: len(methods)]}),
        suite={"datasets": {d: {"target_loss": t} for d, t in targets.items()}},
    )


def test_performance_profile_by_hand():
    # A: m1 2 epochs, m2 4 (ratios 1, 2); B: m1 missed, m2 3 (inf, 1); C: both missed;
    # D: m1 reached before training (0 epochs, counted as 1), m2 2 (ratios 1, 2).
    fake = fake_results(
        {("A", "m1"): 2, ("A", "m2"): 4, ("B", "m1"): None, ("B", "m2"): 3,
         ("C", "m1"): None, ("C", "m2"): None, ("D", "m1"): 0, ("D", "m2"): 2},
        {"A": 0.1, "B": 0.1, "C": 0.1, "D": 0.1},
    )  # fmt: skip
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


def test_performance_profile_rises_to_the_share_of_datasets_reached(results, figures):
    _, data = figures["performance_profile"]
    profile = data["profile"]
    speed = figures["convergence_speed"][1]
    for method, steps in profile.groupby("method"):
        fractions = steps.sort_values("tau")["fraction"].to_numpy()
        assert np.all(np.diff(fractions) >= 0)
        mine = speed[speed["method"] == method]
        assert fractions[-1] == pytest.approx((mine["status"] == "reached").mean())
    # regression: adam 1.5 epochs, gd 2 (ratio 4/3); moons: no method reached it
    assert data["ratios"].loc["regression"].to_dict() == pytest.approx({"gd": 4 / 3, "adam": 1})
    assert profile.groupby("method")["fraction"].last().to_dict() == {"gd": 0.5, "adam": 0.5}


def test_the_rank_heat_map_is_summary_rank(results, figures):
    ranks = figures["ranking_heatmap"][1]
    for row in results.summary.itertuples():
        assert ranks.loc[row.method, row.dataset] == row.rank
    assert ranks.index.tolist() == results.ranking["method"].tolist()


# ------------------------------------------------------------------------------ 7: boundaries


def test_decision_boundaries_only_for_two_feature_datasets(figures):
    assert [k for k in figures if k.startswith("decision_boundaries")] == [
        "decision_boundaries:moons"
    ]


def test_decision_boundaries_are_the_stored_networks_predictions(results, figures):
    data = figures["decision_boundaries:moons"][1]
    net = results.network("moons")
    for method, (lr, seed) in data["trials"].items():
        tuned = results.trials[
            (results.trials["dataset"] == "moons") & (results.trials["method"] == method)
            & results.trials["tuned"]
        ]  # fmt: skip
        assert (lr, seed) == (tuned["lr"].iloc[0], tuned["seed"].min())
        params = results.final_params(method, "moons", lr, seed)
        i, j = 7, 93
        point = np.array([[data["xx"][i, j], data["yy"][i, j]]])
        expected = net.predict(params, point)[0, 0]
        np.testing.assert_allclose(data["predictions"][method][i, j], expected, rtol=1e-12)


def test_decision_boundaries_refuse_a_dataset_with_more_features(results, tmp_path):
    with pytest.raises(ValueError, match="2 features; 'regression' has 3"):
        plots.plot_decision_boundaries(results, "regression", tmp_path)


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
    assert plots._rosenbrock_grad(-1.5, 2.0) == pytest.approx((-155.0, -50.0))


def test_network_surface_is_the_classic_2_2_2_loss_written_out():
    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    w2, w5 = -0.5, 1.2
    h1 = max(0.0, 0.05 * 0.15 + 0.10 * w2 + 0.35)  # relu hidden units
    h2 = max(0.0, 0.05 * 0.25 + 0.10 * 0.30 + 0.35)
    o1 = sigmoid(h1 * w5 + h2 * 0.45 + 0.60)
    o2 = sigmoid(h1 * 0.50 + h2 * 0.55 + 0.60)
    loss = 0.5 * ((0.01 - o1) ** 2 + (0.99 - o2) ** 2)
    assert float(plots._network(np.array(w2), np.array(w5))) == pytest.approx(loss, rel=1e-12)


def test_every_path_starts_at_the_surface_start_and_gd_takes_the_gradient_step(figures):
    data = figures["optimizer_paths"][1]
    for surface in plots.SURFACES:
        paths = data[surface.name]["paths"]
        for path in paths.values():
            np.testing.assert_array_equal(path[0], surface.start)
        grad = np.array(surface.grad(*surface.start))
        first = np.array(surface.start) - surface.lrs["gd"] * grad
        np.testing.assert_allclose(paths["gd"][1], first, rtol=1e-12)


def test_paths_show_what_the_caption_says(figures):
    data = figures["optimizer_paths"][1]
    saddle = data["saddle x² − y²"]["paths"]
    assert saddle["gd"][:, 0].max() <= 0 < saddle["momentum"][:, 0].max()  # momentum overshoots

    def steps_to_leave(path):
        return int(np.argmax(np.abs(path[:, 1]) > 1))

    assert steps_to_leave(saddle["adam"]) < steps_to_leave(saddle["gd"]) / 2  # Adam escapes
    rosenbrock = data["Rosenbrock"]["paths"]

    def distance(path):
        return np.linalg.norm(path[-1] - (1.0, 1.0))

    assert distance(rosenbrock["adagrad"]) > 5 * distance(rosenbrock["adam"])  # Adagrad slows
    assert distance(rosenbrock["momentum"]) < distance(rosenbrock["gd"])


# ------------------------------------------------------------------------------ all


def test_draw_all_writes_every_figure_as_a_small_png(figures):
    assert set(figures) == {
        "loss_vs_epoch", "loss_vs_samples", "loss_vs_seconds", "lr_sensitivity", "final_test",
        "convergence_speed", "performance_profile", "ranking_heatmap",
        "decision_boundaries:moons", "optimizer_paths",
    }  # fmt: skip
    for path, _ in figures.values():
        content = Path(path).read_bytes()
        assert content.startswith(PNG_MAGIC)
        assert 5_000 < len(content) < 400_000, path
