"""bench.tables: the four tables rebuilt from a hand-made store, their CSVs, and compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_store import make_result

from bench.store import Store, StoreError
from bench.tables import compare, load

NAN = np.nan
GD_CURVES = [[0.7, 0.7, 0.7, 0.7], [0.6, 0.6, 0.5, 0.5], [0.5, 0.5, 0.4, 0.4]]
PINNED = {
    "trials": "method dataset lr seed final_train_loss final_val_loss final_test_loss test_metric "
    "diverged diverged_epoch epochs_to_target seconds_to_target",
    "curves": "method dataset lr seed epoch samples steps seconds train_loss val_loss",
    "summary": "dataset method lr n_seeds final_train_loss_mean final_train_loss_lo "
    "final_train_loss_hi final_test_loss_mean final_test_loss_lo final_test_loss_hi "
    "test_metric_mean test_metric_lo test_metric_hi epochs_to_target_mean epochs_to_target_lo "
    "epochs_to_target_hi diverged_count rank",
    "ranking": "method mean_rank wins datasets",
}


def write_store(out, adam_test_loss=(0.30, 0.25, NAN, 0.5)):
    """Two populations on moons (target 0.1): adam (tuned lr 0.1) and gd (tuned lr 1.0)."""
    suite = {
        "name": "hand",
        "populations": [
            {"key": "pa", "method": "adam", "dataset": "moons"},
            {"key": "pg", "method": "gd", "dataset": "moons"},
        ],
        "datasets": {"moons": {"name": "moons", "target_loss": 0.1}},
        "model": {"hidden": [4], "activation": "relu"},
    }
    with Store(out / "runs.sqlite", create=True) as store:
        store.save(make_result("pa", "adam", test_loss=adam_test_loss))
        store.save(make_result("pg", "gd", train_loss=GD_CURVES, test_loss=(0.6, 0.6, 0.45, 0.45)))
        store.set_meta(suite=suite, provenance={"python": "3.11"})
    return load(out)


def test_trials_carry_targets_tuning_and_curve_metrics(tmp_path):
    results = write_store(tmp_path)
    adam = results.trials[results.trials["method"] == "adam"].reset_index(drop=True)
    assert adam["tuned"].tolist() == [True, True, False, False]
    assert adam["diverged"].tolist() == [False, False, True, False]
    assert adam.loc[0, ["epochs_to_target", "samples_to_target", "steps_to_target"]].tolist() == [
        2.0, 120.0, 4.0
    ]  # fmt: skip
    assert adam.loc[0, "seconds_to_target"] == 0.02
    assert adam["epochs_to_target"][1:].isna().all()
    np.testing.assert_allclose(adam["final_val_loss"], [0.14, 0.25, NAN, 0.55])
    # relative target: 1.05 x min(adam 0.145, gd 0.4); only adam seed 0 (0.09) gets there
    np.testing.assert_allclose(results.trials["relative_target"], 1.05 * 0.145)
    assert adam["epochs_to_relative_target"].tolist()[:1] == [2.0]
    assert results.trials["epochs_to_relative_target"].notna().sum() == 1
    log_auc = (np.log10(0.7) + 2 * np.log10(0.4) + np.log10(0.09)) / 2 / 2
    assert adam.loc[0, "auc_log_loss"] == pytest.approx(log_auc)
    assert results.provenance == {"python": "3.11"} and results.missing == []


def test_curves_are_long_one_row_per_trial_and_epoch(tmp_path):
    curves = write_store(tmp_path).curves
    assert len(curves) == 2 * 4 * 3
    row = curves[(curves["method"] == "adam") & (curves["seed"] == 0) & (curves["lr"] == 0.1)]
    assert row["epoch"].tolist() == [0, 1, 2]
    assert row["samples"].tolist() == [0.0, 60.0, 120.0]
    assert row["seconds"].tolist() == [0.0, 0.01, 0.02]
    np.testing.assert_allclose(row["train_loss"], [0.7, 0.4, 0.09])
    np.testing.assert_allclose(row["val_loss"], [0.75, 0.45, 0.14])


def test_summary_and_ranking_at_the_tuned_lr(tmp_path):
    results = write_store(tmp_path)
    summary = results.summary.set_index("method")
    assert summary.loc["adam", ["lr", "n_seeds", "diverged_count", "rank"]].tolist() == [
        0.1, 2, 1, 1
    ]  # fmt: skip
    assert summary.loc["adam", "final_test_loss_mean"] == pytest.approx(0.275)
    assert summary.loc["adam", ["final_test_loss_lo", "final_test_loss_hi"]].tolist() == [
        0.25, 0.30
    ]  # fmt: skip
    assert summary.loc["gd", ["lr", "final_test_loss_mean", "rank"]].tolist() == [1.0, 0.45, 2]
    assert np.isnan(summary.loc["adam", "epochs_to_target_mean"])  # seed 1 never reached 0.1
    assert summary.loc["adam", "target_reached"] == 1
    assert results.ranking.to_dict("list") == {
        "method": ["adam", "gd"], "mean_rank": [1.0, 2.0], "wins": [1, 0], "datasets": [1, 1]
    }  # fmt: skip


def test_csv_tables_hold_the_pinned_columns_and_the_same_values(tmp_path):
    results = write_store(tmp_path)
    folder = results.write_tables()
    for name, columns in PINNED.items():
        table = pd.read_csv(folder / f"{name}.csv")
        assert set(columns.split()) <= set(table.columns), name
        assert len(table) == len(getattr(results, name))
    trials = pd.read_csv(folder / "trials.csv")
    np.testing.assert_allclose(trials["final_test_loss"], results.trials["final_test_loss"])


def test_compare_flags_changes_whose_intervals_do_not_overlap(tmp_path):
    a = write_store(tmp_path / "a")
    b = write_store(tmp_path / "b", adam_test_loss=(0.5, 0.52, NAN, 0.5))
    table = compare(a, b).set_index("method")
    assert table.loc["adam", "final_test_loss_delta"] == pytest.approx(0.51 - 0.275)
    assert table.loc["adam", "changed"] == "final_test_loss"
    assert table.loc["gd", "final_test_loss_delta"] == 0.0
    assert table.loc["gd", "changed"] == ""


def test_loading_a_folder_without_results_says_so(tmp_path):
    with pytest.raises(StoreError, match="no results folder"):
        load(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="no results store"):
        load(tmp_path)
    Store(tmp_path / "runs.sqlite", create=True).close()
    with pytest.raises(StoreError, match="records no suite"):
        load(tmp_path)
