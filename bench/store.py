"""The SQLite results store, DIR/runs.sqlite: one transaction per finished population.

Tables:

    meta         key TEXT PRIMARY KEY, value TEXT (JSON): "schema" (its version), "suite"
                 (specs, protocol and population keys of the suite last run), "provenance"
    populations  one row per trained population: key (Population.key()), phase (tune | eval),
                 config (Population.config(): the key less the seeds), method, dataset, task,
                 size K, epochs E, spec_json, wall_seconds (the whole population's training
                 time), calibration (seconds per epoch of one trial alone; NULL in tuning),
                 calibration_se (the standard error of its log, from the rounds timed),
                 cpu (the worker's CPU model), finished_at, and its cost axes as float64 blobs
                 of E + 1 values: samples, steps, seconds_axis (epochs x calibration; NaN in
                 tuning)
    trials       one row per trial: population, trial (index in the population), phase,
                 method, dataset, lr, hyperparameters (JSON of the searched arguments), seed,
                 final_train_loss, final_val_loss, best_val_loss, best_epoch, test_loss and
                 test_metric (of the early-stopped model), final_test_loss and
                 final_test_metric (of the last epoch's), diverged_epoch (-1: none), params
                 (the final flat parameters, P float64 values; see ``MLP.flatten``) and
                 best_params (the early-stopped ones; evaluation trials only)
    curves       one row per trial: population, trial, train_loss and val_loss as float64
                 blobs of E + 1 values (NaN from diverged_epoch on)
    datasets     one row per dataset a run trained on, written when it starts: key
                 (``datasets.spec_key``), name, task, output, loss, and arrays (an .npz of
                 X_train, Y_train, X_val, Y_val, X_test, Y_test); a report reads them back
                 instead of building them (scikit-learn's import alone takes 0.7 s). A store
                 written before this table existed has none: its datasets are built again.

SQLite holds no NaN: a NaN loss is stored as NULL and reads back as NaN. The store runs in
WAL mode, so a killed process loses only the populations it had not committed. A store is
checked when it is opened (tables, schema version, and SQLite's quick_check of every page,
once per state of the file in a process); a damaged one is a StoreError, left as it is.
One run at a time writes into a folder: ``hold_folder`` holds an exclusive lock on
DIR/.lock, which the kernel releases when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.datasets import Dataset
from bench.metrics import final_losses
from bench.suite import SCHEMA_VERSION

if TYPE_CHECKING:  # pandas is imported where a frame is made: a worker never makes one
    import pandas as pd

STORE_NAME = "runs.sqlite"
LOCK_NAME = ".lock"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS populations (
    key TEXT PRIMARY KEY, phase TEXT NOT NULL, config TEXT NOT NULL, method TEXT NOT NULL,
    dataset TEXT NOT NULL, task TEXT NOT NULL, size INTEGER NOT NULL, epochs INTEGER NOT NULL,
    spec_json TEXT NOT NULL, wall_seconds REAL NOT NULL, calibration REAL, calibration_se REAL,
    cpu TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    samples BLOB NOT NULL, steps BLOB NOT NULL, seconds_axis BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS populations_config ON populations (config);
CREATE TABLE IF NOT EXISTS trials (
    population TEXT NOT NULL, trial INTEGER NOT NULL, phase TEXT NOT NULL, method TEXT NOT NULL,
    dataset TEXT NOT NULL, lr REAL NOT NULL, hyperparameters TEXT NOT NULL,
    seed INTEGER NOT NULL, final_train_loss REAL, final_val_loss REAL, best_val_loss REAL,
    best_epoch INTEGER, test_loss REAL, test_metric REAL, final_test_loss REAL,
    final_test_metric REAL, diverged_epoch INTEGER NOT NULL, params BLOB NOT NULL,
    best_params BLOB,
    PRIMARY KEY (population, trial)
);
CREATE TABLE IF NOT EXISTS curves (
    population TEXT NOT NULL, trial INTEGER NOT NULL,
    train_loss BLOB NOT NULL, val_loss BLOB,
    PRIMARY KEY (population, trial)
);
"""
TABLES = ("meta", "populations", "trials", "curves")  # every store has these
DATASETS = """
CREATE TABLE IF NOT EXISTS datasets (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, task TEXT NOT NULL, output TEXT NOT NULL,
    loss TEXT NOT NULL, arrays BLOB NOT NULL
)"""  # created by the first run that stores its datasets
DATASET_ARRAYS = ("X_train", "Y_train", "X_val", "Y_val", "X_test", "Y_test")
# Files that passed SQLite's quick_check in this process, as (path, size, mtime): reading
# every page costs ~25 ms per 30 MB once cached, and a store is opened often (final_params).
_checked: set[tuple[str, int, int]] = set()
TRIAL_FIELDS = (
    "population",
    "trial",
    "phase",
    "method",
    "dataset",
    "lr",
    "hyperparameters",
    "seed",
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "best_epoch",
    "test_loss",
    "test_metric",
    "final_test_loss",
    "final_test_metric",
    "diverged_epoch",
)


class StoreError(RuntimeError):
    """A results store that is missing, unreadable or not a backprop-bench store."""


@dataclass
class PopulationResult:
    """What training one population produced; K trials, E + 1 epoch rows.

    hyperparameters: (K,) JSON texts of the searched arguments; train_loss, val_loss:
    (E + 1, K); samples, steps, seconds: (E + 1,) cumulative cost axes of one trial (seconds:
    epochs x calibration, NaN in tuning); calibration: seconds per epoch of one trial alone
    (None in tuning) and calibration_se the standard error of its log; wall_seconds: the
    population's training time; diverged_epoch,
    best_epoch, best_val_loss: (K,); test_loss, test_metric: (K,) of the early-stopped
    model; final_test_loss, final_test_metric: (K,) of the final one, NaN where diverged;
    params, best_params: (K, P) final and early-stopped parameters (best_params: evaluation
    only, else None).
    """

    key: str
    phase: str
    config: str
    method: str
    dataset: str
    task: str
    spec: dict
    lrs: np.ndarray
    hyperparameters: list[str]
    seeds: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    samples: np.ndarray
    steps: np.ndarray
    seconds: np.ndarray
    wall_seconds: float
    calibration: float | None
    calibration_se: float | None
    cpu: str
    diverged_epoch: np.ndarray
    best_epoch: np.ndarray
    best_val_loss: np.ndarray
    test_loss: np.ndarray
    test_metric: np.ndarray
    final_test_loss: np.ndarray
    final_test_metric: np.ndarray
    params: np.ndarray
    best_params: np.ndarray | None

    @property
    def size(self) -> int:
        """K, the number of trials in the population."""
        return len(self.lrs)

    def outcomes(self) -> pd.DataFrame:
        """What the protocol reads of a tuning population (``bench.protocol``)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "lr": self.lrs,
                "hyperparameters": self.hyperparameters,
                "seed": self.seeds,
                "best_val_loss": self.best_val_loss,
                "diverged": self.diverged_epoch >= 0,
            }
        )


def to_blob(values: np.ndarray) -> bytes:
    """An array's values as little-endian float64 bytes."""
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def from_blob(blob: bytes | None) -> np.ndarray | None:
    """The float64 array of ``to_blob``; None stays None."""
    return None if blob is None else np.frombuffer(blob, dtype="<f8").copy()


def _real(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


@contextmanager
def hold_folder(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder``/.lock (created with the folder) while the body runs.

    The lock is ``fcntl.flock`` on an open file, so the kernel drops it when the process ends,
    even by SIGKILL; the file stays, holding the last holder's pid and start time. Raises
    StoreError at once when another process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise StoreError(
                f"another run is writing into {folder} ({holder}); wait for it to finish, or "
                "run into another folder with --out"
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')}")
        lock.flush()
        yield folder


class Store:
    """An open results store. ``Store(path, create=True)`` creates the file and folder."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise StoreError(self.damaged("the file is empty"))
        if not self.path.is_file():
            if not create:
                raise StoreError(
                    f"no results store at {self.path}; run `python -m bench run --suite SUITE "
                    f"--out {self.path.parent}` first, or give the folder of a finished run"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the results store {self.path}: {err}") from err
        try:
            self._check_or_create()  # first: WAL mode would rewrite a refused file's header
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise StoreError(self.damaged(str(err))) from err
        except StoreError:
            self.db.close()
            raise

    def damaged(self, reason: str) -> str:
        """What to say of a store that cannot be read, and what to do about it."""
        return (
            f"{self.path} is not a readable results store ({reason}). It was left as it is: "
            "move it away (or delete it) and rerun to start afresh, or run into another "
            "folder with --out"
        )

    def _check_or_create(self) -> None:
        found = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self._has_datasets = "datasets" in found  # (a store from before they were kept has none)
        if not found:
            with self.db:
                self.db.executescript(SCHEMA)
                self._put_meta("schema", SCHEMA_VERSION)
            return
        if not set(TABLES) <= found:
            raise sqlite3.DatabaseError(f"tables {sorted(set(TABLES) - found)} are missing")
        schema = self.meta("schema")
        if isinstance(schema, int) and schema != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by {'an older' if schema < SCHEMA_VERSION else 'a newer'}"
                f" backprop-bench (store schema {schema}; this version reads schema "
                f"{SCHEMA_VERSION}, with separate tuning and evaluation seeds). Its results are "
                "never mixed with new ones: move the folder away (or delete it) and rerun, or "
                "run into another folder with --out"
            )
        if schema != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {schema!r}, this version reads {SCHEMA_VERSION}"
            )
        stat = self.path.stat()
        state = (str(self.path.resolve()), stat.st_size, stat.st_mtime_ns)
        if state not in _checked:
            # each problem on one line (SQLite's can span several)
            problems = [" ".join(row[0].split()) for row in self.db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"damaged: {'; '.join(problems[:3])}")
            _checked.add(state)

    def close(self) -> None:
        """Close the connection (committed work is already on disk)."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------- meta

    def _put_meta(self, key: str, value) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    def set_meta(self, **values) -> None:
        """Store JSON-serialisable values under their keyword names, in one transaction."""
        with self.db:
            for key, value in values.items():
                self._put_meta(key, value)

    def meta(self, key: str, default=None):
        """The JSON value stored under ``key``, or ``default``."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            return default if row is None else json.loads(row[0])
        except ValueError as err:
            raise StoreError(self.damaged(f"its meta value {key!r} is not JSON: {err}")) from None

    # ----------------------------------------------------------------------- datasets

    def save_datasets(self, datasets: Iterable[tuple[str, Dataset]]) -> None:
        """Store each (key, Dataset) not stored yet, in one transaction; key: ``spec_key``."""
        with self.db:
            self.db.execute(DATASETS)
            self._has_datasets = True
            stored = {row[0] for row in self.db.execute("SELECT key FROM datasets")}
            for key, data in datasets:
                if key in stored:
                    continue
                arrays = io.BytesIO()
                np.savez(arrays, **{name: getattr(data, name) for name in DATASET_ARRAYS})
                self.db.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                    (key, data.name, data.task, data.output, data.loss, arrays.getvalue()),
                )

    def dataset(self, key: str) -> Dataset | None:
        """The Dataset stored under ``key`` (``spec_key``); None when this store has none."""
        if not self._has_datasets:
            return None
        row = self.db.execute(
            "SELECT name, task, output, loss, arrays FROM datasets WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        name, task, output, loss, blob = row
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
                values = {array: arrays[array] for array in DATASET_ARRAYS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise StoreError(self.damaged(f"its dataset {name!r} cannot be read: {err}")) from None
        return Dataset(name=name, task=task, output=output, loss=loss, **values)

    # ----------------------------------------------------------------------- populations

    def finished_keys(self) -> set[str]:
        """The keys of every population stored."""
        return {row[0] for row in self.db.execute("SELECT key FROM populations")}

    def save(self, result: PopulationResult) -> None:
        """Store one population in one transaction, replacing any earlier copy of it."""
        final_train = final_losses(result.train_loss, result.diverged_epoch)
        final_val = final_losses(result.val_loss, result.diverged_epoch)
        trials, curves = [], []
        for k in range(result.size):
            best = None if result.best_params is None else to_blob(result.best_params[k])
            trials.append(
                (
                    result.key,
                    k,
                    result.phase,
                    result.method,
                    result.dataset,
                    float(result.lrs[k]),
                    result.hyperparameters[k],
                    int(result.seeds[k]),
                    _real(final_train[k]),
                    _real(final_val[k]),
                    _real(result.best_val_loss[k]),
                    int(result.best_epoch[k]),
                    _real(result.test_loss[k]),
                    _real(result.test_metric[k]),
                    _real(result.final_test_loss[k]),
                    _real(result.final_test_metric[k]),
                    int(result.diverged_epoch[k]),
                    to_blob(result.params[k]),
                    best,
                )
            )
            curves.append(
                (result.key, k, to_blob(result.train_loss[:, k]), to_blob(result.val_loss[:, k]))
            )
        population = (
            result.key,
            result.phase,
            result.config,
            result.method,
            result.dataset,
            result.task,
            result.size,
            len(result.samples) - 1,
            json.dumps(result.spec, sort_keys=True),
            float(result.wall_seconds),
            result.calibration,
            result.calibration_se,
            result.cpu,
            datetime.now(UTC).isoformat(timespec="seconds"),
            to_blob(result.samples),
            to_blob(result.steps),
            to_blob(result.seconds),
        )
        with self.db:
            self._delete([result.key])
            self.db.execute(f"INSERT INTO populations VALUES ({', '.join('?' * 17)})", population)
            self.db.executemany(f"INSERT INTO trials VALUES ({', '.join('?' * 19)})", trials)
            self.db.executemany("INSERT INTO curves VALUES (?, ?, ?, ?)", curves)

    def outcomes(self, key: str) -> pd.DataFrame:
        """A stored tuning population's outcomes, as ``PopulationResult.outcomes``."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT lr, hyperparameters, seed, best_val_loss, diverged_epoch FROM trials "
            "WHERE population = ? ORDER BY trial",
            self.db,
            params=(key,),
        )
        frame["best_val_loss"] = frame["best_val_loss"].astype(float)
        frame["diverged"] = frame.pop("diverged_epoch") >= 0
        return frame

    def seeds_of_config(self, config: str) -> dict[int, str]:
        """Every stored seed of the evaluation configuration ``config``: seed -> population."""
        rows = self.db.execute(
            "SELECT t.seed, p.key FROM populations p JOIN trials t ON t.population = p.key "
            "WHERE p.config = ? ORDER BY p.finished_at",
            (config,),
        )
        return {int(seed): key for seed, key in rows}

    def _delete(self, keys: Iterable[str]) -> None:
        for table, column in (("curves", "population"), ("trials", "population")):
            self.db.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(k,) for k in keys])
        self.db.executemany("DELETE FROM populations WHERE key = ?", [(k,) for k in keys])

    def unreported(self, used: Iterable[str]) -> pd.DataFrame:
        """The stored populations whose keys are not among ``used``: key, method, dataset,
        phase, trials (its size K), finished_at; by method, dataset, phase."""
        import pandas as pd

        frame = pd.read_sql_query(
            "SELECT key, method, dataset, phase, size AS trials, finished_at FROM populations "
            "ORDER BY method, dataset, phase DESC, finished_at",
            self.db,
        )
        return frame[~frame["key"].isin(set(used))].reset_index(drop=True)

    def drop(self, keys: Iterable[str]) -> None:
        """Delete the populations ``keys`` (their trials and curves too) in one transaction,
        then VACUUM the file and truncate its write-ahead log, giving the space back."""
        keys = list(keys)
        with self.db:
            self._delete(keys)
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ----------------------------------------------------------------------- reading

    def populations(self, keys: Iterable[str]) -> pd.DataFrame:
        """The stored populations among ``keys``, in that order, with their axes decoded."""
        import pandas as pd

        keys = list(keys)
        frame = pd.read_sql_query("SELECT * FROM populations", self.db)
        frame = frame.set_index("key").reindex([k for k in keys if k in set(frame["key"])])
        for column in ("samples", "steps", "seconds_axis"):
            frame[column] = frame[column].map(from_blob)
        return frame.reset_index()

    def trials(self, keys: Iterable[str]) -> pd.DataFrame:
        """The stored trials (without params) of the populations ``keys``, in that order."""
        import pandas as pd

        order = {k: i for i, k in enumerate(keys)}
        frame = pd.read_sql_query(
            f"SELECT {', '.join('t.' + c for c in TRIAL_FIELDS)}, c.train_loss AS train_curve, "
            "c.val_loss AS val_curve FROM trials t JOIN curves c USING (population, trial)",
            self.db,
        )
        frame = frame[frame["population"].isin(order)]
        frame = frame.assign(_order=frame["population"].map(order))
        frame = frame.sort_values(["_order", "trial"]).drop(columns="_order")
        for column in ("train_curve", "val_curve"):
            frame[column] = frame[column].map(from_blob)
        return frame.reset_index(drop=True)

    def params(self, population: str, trial: int, best: bool = False) -> np.ndarray:
        """The final flat parameters (P,) of one trial, or with best=True the early-stopped
        ones (stored for evaluation trials only)."""
        column = "best_params" if best else "params"
        row = self.db.execute(
            f"SELECT {column} FROM trials WHERE population = ? AND trial = ?", (population, trial)
        ).fetchone()
        if row is None or row[0] is None:
            what = "early-stopped parameters of" if best else ""
            raise KeyError(f"no {what} trial {trial} of population {population} in {self.path}")
        return from_blob(row[0])
