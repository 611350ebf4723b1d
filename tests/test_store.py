"""bench.store: a population round-trips through SQLite; replace, resume and refuse bad files."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from helpers import NAN, make_result, write_old_store

from bench.store import Store, StoreError
from bench.suite import SCHEMA_VERSION


def test_the_hand_made_population_is_what_its_docstring_says():
    result = make_result()
    assert (result.method, result.dataset, result.phase, result.size) == (
        "adam",
        "moons",
        "eval",
        4,
    )
    assert result.diverged_epoch.tolist() == [-1, -1, 1, -1]
    assert result.best_epoch.tolist() == [2, 2, 0, 2]
    np.testing.assert_allclose(result.best_val_loss, [0.14, 0.25, 0.75, 0.55])
    tune = make_result(phase="tune", train_loss=[[0.7, 0.7], [0.6, 0.5]])
    assert tune.seeds.tolist() == [100000, 100001] and tune.best_params is None


def test_a_population_round_trips_every_field_with_nan_as_null(tmp_path):
    result = make_result(
        lrs=(0.1, 0.1, 1.0, 1.0),
        seeds=(0, 1, 0, 1),
        test_loss=(0.30, 0.25, NAN, 0.5),
        hyperparameters=('{"momentum": 0.5}', '{"momentum": 0.9}', "{}", "{}"),
    )
    path = tmp_path / "out" / "runs.sqlite"
    with Store(path, create=True) as store:
        store.save(result)
    with Store(path) as store:
        assert store.finished_keys() == {"k1"}
        trials = store.trials(["k1"])
        population = store.populations(["k1"]).iloc[0]
        final, best = store.params("k1", 3), store.params("k1", 3, best=True)
        nulls = store.db.execute(
            "SELECT final_train_loss, final_val_loss, test_loss, final_test_loss, "
            "final_test_metric, best_params IS NULL FROM trials WHERE trial = 2"
        ).fetchone()
    assert nulls == (None, None, None, None, None, 0)  # NaN is stored as NULL
    assert trials["population"].tolist() == ["k1"] * 4
    assert trials["trial"].tolist() == [0, 1, 2, 3]
    assert trials["phase"].tolist() == ["eval"] * 4
    assert trials["method"].tolist() == ["adam"] * 4
    assert trials["dataset"].tolist() == ["moons"] * 4
    assert trials["lr"].tolist() == [0.1, 0.1, 1.0, 1.0]
    assert trials["hyperparameters"].tolist() == [
        '{"momentum": 0.5}',
        '{"momentum": 0.9}',
        "{}",
        "{}",
    ]
    assert trials["seed"].tolist() == [0, 1, 0, 1]

    def column(name):
        return trials[name].astype(float).to_numpy()

    np.testing.assert_array_equal(column("final_train_loss"), [0.09, 0.2, NAN, 0.5])
    np.testing.assert_allclose(column("final_val_loss"), [0.14, 0.25, NAN, 0.55])
    np.testing.assert_allclose(column("best_val_loss"), [0.14, 0.25, 0.75, 0.55])
    assert trials["best_epoch"].tolist() == [2, 2, 0, 2]
    np.testing.assert_array_equal(column("test_loss"), [0.30, 0.25, NAN, 0.5])
    np.testing.assert_array_equal(column("test_metric"), [0.9, 0.95, 0.7, 0.8])
    np.testing.assert_allclose(column("final_test_loss"), [0.31, 0.26, NAN, 0.51])
    np.testing.assert_allclose(column("final_test_metric"), [0.85, 0.90, NAN, 0.75])
    assert trials["diverged_epoch"].tolist() == [-1, -1, 1, -1]
    np.testing.assert_array_equal(trials["train_curve"][2], [0.7, NAN, NAN])
    np.testing.assert_allclose(trials["val_curve"][0], [0.75, 0.45, 0.14])

    assert population["key"] == "k1" and population["phase"] == "eval"
    assert population["config"] == "config-of-k1"
    assert (population["method"], population["dataset"], population["task"]) == (
        "adam",
        "moons",
        "binary",
    )
    assert population["size"] == 4 and population["epochs"] == 2
    assert json.loads(population["spec_json"]) == {
        "method": "adam",
        "dataset": "moons",
        "phase": "eval",
    }
    assert population["wall_seconds"] == 0.08 and population["calibration"] == 0.01
    assert population["calibration_se"] == 0.02
    assert population["cpu"] == "Test CPU @ 3.00GHz"
    assert datetime.fromisoformat(population["finished_at"]).tzinfo is not None
    np.testing.assert_array_equal(population["samples"], [0.0, 60.0, 120.0])
    np.testing.assert_array_equal(population["steps"], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(population["seconds_axis"], [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(final, [15.5, 16.5, 17.5, 18.5, 19.5])
    np.testing.assert_array_equal(best, [115.5, 116.5, 117.5, 118.5, 119.5])


def test_a_tuning_population_keeps_no_calibration_seconds_or_early_stopped_params(tmp_path):
    tune = make_result("t1", phase="tune", lrs=(0.01, 0.01, 0.1, 0.1))
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(tune)
        population = store.populations(["t1"]).iloc[0]
        trials = store.trials(["t1"])
        assert (
            store.db.execute("SELECT count(*) FROM trials WHERE best_params IS NULL").fetchone()[0]
            == 4
        )
        np.testing.assert_array_equal(store.params("t1", 1), [5.5, 6.5, 7.5, 8.5, 9.5])
        with pytest.raises(KeyError, match="early-stopped parameters of trial 1 of population t1"):
            store.params("t1", 1, best=True)
        with pytest.raises(KeyError, match="trial 9 of population t1"):
            store.params("t1", 9)
    assert population["phase"] == "tune" and pd.isna(population["calibration"])
    assert np.isnan(population["seconds_axis"]).all()
    assert trials["phase"].tolist() == ["tune"] * 4
    assert trials["seed"].tolist() == [100000, 100001, 100002, 100003]


def test_saving_a_population_again_replaces_it_in_one_piece(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(make_result(test_loss=(1.0, 1.0, 1.0, 1.0), wall_seconds=9.0))
        store.save(make_result(train_loss=[[0.7, 0.7], [0.2, 0.3]]))
        counts = [
            store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("populations", "trials", "curves")
        ]
        trials = store.trials(["k1"])
        population = store.populations(["k1"]).iloc[0]
    assert counts == [1, 2, 2]  # the old trials 2 and 3 are gone too
    assert trials["test_loss"].tolist() == [0.30, 0.25]
    assert population["wall_seconds"] == 0.08 and population["size"] == 2
    np.testing.assert_array_equal(trials["train_curve"][1], [0.7, 0.3])


def test_reading_follows_the_order_of_the_keys_asked_and_skips_absent_ones(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(make_result("k1", method="adam"))
        store.save(make_result("k2", method="gd", train_loss=[[0.7, 0.7], [0.5, 0.4]]))
        store.save(make_result("k3", method="sgd"))
        trials = store.trials(["k2", "absent", "k1"])
        assert trials["method"].tolist() == ["gd"] * 2 + ["adam"] * 4
        assert trials["trial"].tolist() == [0, 1, 0, 1, 2, 3]
        assert store.populations(["k2", "absent", "k1"])["key"].tolist() == ["k2", "k1"]
        assert store.finished_keys() == {"k1", "k2", "k3"}


def test_outcomes_are_what_the_protocol_reads_stored_or_fresh(tmp_path):
    tune = make_result(
        "t1",
        phase="tune",
        lrs=(0.01, 0.01, 0.1, 0.1),
        seeds=(100000, 100001) * 2,
        hyperparameters=('{"momentum": 0.9}',) * 4,
    )
    tune.diverged_epoch = np.array([-1, 0, 1, -1])  # a divergence at row 0 counts too
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(tune)
        stored = store.outcomes("t1")
    fresh = tune.outcomes()
    assert list(fresh.columns) == ["lr", "hyperparameters", "seed", "best_val_loss", "diverged"]
    assert fresh["lr"].tolist() == [0.01, 0.01, 0.1, 0.1]
    assert fresh["seed"].tolist() == [100000, 100001, 100000, 100001]
    assert fresh["hyperparameters"].tolist() == ['{"momentum": 0.9}'] * 4
    np.testing.assert_allclose(fresh["best_val_loss"], [0.14, 0.25, 0.75, 0.55])
    assert fresh["diverged"].tolist() == [False, True, True, False]
    assert list(stored.columns) == list(fresh.columns)
    for name in fresh.columns:
        assert stored[name].tolist() == fresh[name].tolist(), name


def test_seeds_of_config_maps_every_stored_seed_to_its_population(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        store.save(make_result("e1", config="adam@0.1", train_loss=[[0.7, 0.7], [0.5, 0.4]]))
        store.save(
            make_result("e2", config="adam@0.1", seeds=(2, 3), train_loss=[[0.7, 0.7], [0.5, 0.4]])
        )
        store.save(make_result("other", config="adam@1.0", seeds=(7, 8, 9, 10)))
        assert store.seeds_of_config("adam@0.1") == {0: "e1", 1: "e1", 2: "e2", 3: "e2"}
        assert store.seeds_of_config("adam@1.0") == {
            7: "other",
            8: "other",
            9: "other",
            10: "other",
        }
        assert store.seeds_of_config("absent") == {}


def test_meta_values_round_trip_as_json_and_the_store_runs_in_wal_mode(tmp_path):
    with Store(tmp_path / "runs.sqlite", create=True) as store:
        assert store.meta("schema") == SCHEMA_VERSION == 2
        store.set_meta(suite={"name": "tiny", "seeds": [0, 1]}, provenance={"git": None})
        assert store.meta("suite") == {"name": "tiny", "seeds": [0, 1]}
        assert store.meta("provenance") == {"git": None}
        assert store.meta("absent", 7) == 7
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(tmp_path / "runs.sqlite") as store:  # and again after reopening
        assert store.meta("suite") == {"name": "tiny", "seeds": [0, 1]}


def test_a_missing_store_is_an_error_that_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match="no results store at .*absent.runs.sqlite"):
        Store(tmp_path / "absent" / "runs.sqlite")
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    "content", [b"", b"this is not SQLite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 500]
)
def test_a_corrupted_store_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a readable results store.*move it away"):
        Store(path, create=True)
    assert path.read_bytes() == content


def test_another_programs_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    db.close()
    content = path.read_bytes()
    with pytest.raises(StoreError, match=r"tables \['curves', 'meta', 'populations', 'trials'\]"):
        Store(path)
    assert path.read_bytes() == content  # not even switched to WAL mode


def test_a_store_of_the_older_schema_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "runs.sqlite"
    content = write_old_store(path, schema=1)
    for create in (False, True):
        with pytest.raises(StoreError) as caught:
            Store(path, create=create)
        message = str(caught.value)
        assert "written by an older backprop-bench" in message
        assert "store schema 1; this version reads schema 2" in message
        assert "move the folder away" in message and "--out" in message
    assert path.read_bytes() == content


def test_a_store_of_a_newer_schema_is_refused_too(tmp_path):
    path = tmp_path / "runs.sqlite"
    write_old_store(path, schema=SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="written by a newer backprop-bench"):
        Store(path)


# ------------------------------------------------------------------------------ datasets


def test_a_run_stores_the_datasets_it_trained_on_and_a_report_reads_them_back(tiny):
    from bench.datasets import DatasetSpec, dataset_for, spec_key

    specs = [DatasetSpec.from_dict(d) for d in tiny.results.suite["datasets"].values()]
    with Store(tiny.out / "runs.sqlite") as store:
        for spec in specs:
            stored, built = store.dataset(spec_key(spec)), dataset_for(spec)
            for name in (field.name for field in dataclasses.fields(built)):
                a, b = getattr(stored, name), getattr(built, name)
                assert a == b if isinstance(b, str) else np.array_equal(a, b), name
        assert store.dataset("no such spec") is None
    # a fresh process reads them from the store: it never imports scikit-learn (0.7 s)
    code = (
        "import sys, bench\n"
        f"results = bench.load({str(tiny.out)!r})\n"
        "sizes = [len(results.dataset(name).X_test) for name in results.suite['datasets']]\n"
        "print(sizes, 'sklearn' in sys.modules, 'scipy.stats' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sizes = [len(dataset_for(spec).X_test) for spec in specs]
    assert done.stdout.split("]")[1].split() == ["False", "False"]
    assert done.stdout.startswith(str(sizes))


def test_a_store_without_datasets_builds_them_and_a_damaged_one_is_an_error(
    tiny, tmp_path, monkeypatch
):
    import bench
    from bench.datasets import DatasetSpec, dataset_for

    name, spec = next(iter(tiny.results.suite["datasets"].items()))
    built = dataset_for(DatasetSpec.from_dict(spec))
    monkeypatch.setattr("bench.datasets._built", {})  # as in a process that built none
    shutil.copy(tiny.out / "runs.sqlite", tmp_path / "runs.sqlite")
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    with db:
        db.execute("UPDATE datasets SET arrays = X'00ff'")
    db.close()
    with pytest.raises(StoreError, match=f"its dataset {name!r} cannot be read"):
        bench.load(tmp_path).dataset(name)
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    with db:
        db.execute("DROP TABLE datasets")  # as a store written before datasets were kept
    db.close()
    assert np.array_equal(bench.load(tmp_path).dataset(name).X_train, built.X_train)
