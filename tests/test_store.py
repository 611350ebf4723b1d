"""bench.store: a population round-trips through SQLite; replace, resume and refuse bad files."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from bench.store import PopulationResult, Store, StoreError

NAN = np.nan


def make_result(
    key: str = "k1",
    method: str = "adam",
    dataset: str = "moons",
    lrs: tuple[float, ...] = (0.1, 0.1, 1.0, 1.0),
    train_loss: list[list[float]] | None = None,
    test_loss: tuple[float, ...] = (0.30, 0.25, NAN, 0.5),
) -> PopulationResult:
    """A hand-made population of 4 trials x 3 epoch rows; trial 2 diverges at row 1."""
    train = np.array(
        train_loss
        if train_loss is not None
        else [[0.7, 0.7, 0.7, 0.7], [0.4, 0.3, NAN, 0.6], [0.09, 0.2, NAN, 0.5]]
    )
    K = train.shape[1]
    diverged = np.array([-1 if np.isfinite(train[-1, k]) else 1 for k in range(K)])
    return PopulationResult(
        key=key,
        method=method,
        dataset=dataset,
        task="binary",
        spec={"method": method, "dataset": dataset},
        lrs=np.array(lrs),
        seeds=np.array([0, 1, 0, 1][:K]),
        train_loss=train,
        val_loss=train + 0.05,
        samples=np.array([0.0, 60.0, 120.0]),
        steps=np.array([0.0, 2.0, 4.0]),
        seconds=np.array([0.0, 0.01, 0.02]),
        wall_seconds=0.08,
        diverged_epoch=diverged,
        final_test_loss=np.array(test_loss[:K]),
        test_metric=np.where(np.isfinite(test_loss[:K]), 0.9, NAN),
        params=np.arange(K * 5, dtype=float).reshape(K, 5),
    )


def test_a_population_round_trips_with_nan_losses_and_params(tmp_path):
    result = make_result()
    with Store(tmp_path / "out" / "runs.sqlite", create=True) as store:
        store.save(result)
    with Store(tmp_path / "out" / "runs.sqlite") as store:
        assert store.finished_keys() == {"k1"}
        trials = store.trials(["k1"])
        population = store.populations(["k1"]).iloc[0]
        params = store.params("k1", 3)
    assert trials["trial"].tolist() == [0, 1, 2, 3]
    assert trials["lr"].tolist() == [0.1, 0.1, 1.0, 1.0]
    np.testing.assert_array_equal(trials["final_train_loss"].astype(float), [0.09, 0.2, NAN, 0.5])
    np.testing.assert_array_equal(trials["best_train_loss"].astype(float), [0.09, 0.2, 0.7, 0.5])
    np.testing.assert_array_equal(trials["final_test_loss"].astype(float), [0.30, 0.25, NAN, 0.5])
    assert trials["diverged_epoch"].tolist() == [-1, -1, 1, -1]
    np.testing.assert_array_equal(trials["train_curve"][2], [0.7, NAN, NAN])
    np.testing.assert_array_equal(trials["val_curve"][0], [0.75, 0.45, 0.14])
    np.testing.assert_array_equal(population["seconds_axis"], [0.0, 0.01, 0.02])
    assert population["size"] == 4 and population["epochs"] == 2
    np.testing.assert_array_equal(params, [15, 16, 17, 18, 19])


def test_saving_a_population_again_replaces_it_in_one_piece(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(make_result(test_loss=(1.0, 1.0, NAN, 1.0)))
        store.save(make_result())
        count = store.db.execute("SELECT count(*) FROM trials").fetchone()[0]
        curves = store.db.execute("SELECT count(*) FROM curves").fetchone()[0]
        trials = store.trials(["k1"])
    assert (count, curves) == (4, 4)
    assert trials["final_test_loss"][0] == 0.30


def test_reading_follows_the_order_of_the_keys_asked_and_skips_absent_ones(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(make_result("k1", method="adam"))
        store.save(make_result("k2", method="gd"))
        assert store.trials(["k2", "absent", "k1"])["method"].tolist() == ["gd"] * 4 + ["adam"] * 4
        assert store.populations(["k2", "absent", "k1"])["key"].tolist() == ["k2", "k1"]


def test_meta_values_round_trip_as_json_and_the_store_runs_in_wal_mode(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.set_meta(suite={"name": "tiny", "seeds": [0, 1]}, provenance={"git": None})
        assert store.meta("suite") == {"name": "tiny", "seeds": [0, 1]}
        assert store.meta("absent", 7) == 7
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_missing_store_is_an_error_that_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no results store at .*absent.runs.sqlite"):
        Store(tmp_path / "absent" / "runs.sqlite")
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    "content", [b"this is not SQLite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 500]
)
def test_a_corrupted_store_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a readable results store.*move it away"):
        Store(path, create=True)
    assert path.read_bytes() == content


def test_another_programs_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(StoreError, match=r"tables \['curves', 'meta', 'populations', 'trials'\]"):
        Store(path)
