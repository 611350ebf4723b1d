"""Helpers shared by the test modules (tests/ and tests/perf/): the optional parts and the
skip that fails under CI=true, suite files (the tiny suite most runner tests read, the
planted suite the figures and the report read), hand-made stores, and the benchmarks'
side-by-side timing. Fixtures shared between modules live in conftest.py; test modules
import these by name (``from helpers import ...``), which pyproject's ``pythonpath``
allows under every import mode.

An optional part (torch, dask, chromium) that is missing skips its tests on a user's
machine, but fails them under CI=true, where CI has installed everything: mark such a test
``@pytest.mark.optional("torch" | "dask" | "chromium")``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:  # imported where used: conftest imports this module for every test run
    import bench
    from bench.store import PopulationResult

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_optional(what: str) -> None:
    """Skip the calling test because ``what`` is missing, or fail it under CI=true."""
    message = f"optional part not available: {what}"
    if IN_CI:
        pytest.fail(message + " (CI=true: CI must install every optional part)")
    pytest.skip(message)


def require_module(name: str):
    """Import an optional module, or skip (fail under CI) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_optional(f"Python module {name!r}")


def require_executable(*names: str) -> str:
    """The path of the first executable found, or skip (fail under CI)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing_optional(f"executable {' or '.join(names)!r}")
    return ""


OPTIONAL_PARTS: dict[str, Callable[[], object]] = {
    "torch": lambda: require_module("torch"),
    "dask": lambda: require_module("distributed"),
    "chromium": lambda: require_executable("chromium", "chromium-browser"),
    "numba": lambda: require_module("numba"),
}


def require_optional(name: str) -> None:
    """Skip (fail under CI) unless the optional part ``name`` (a key of OPTIONAL_PARTS) is
    installed: what ``@pytest.mark.optional(name)`` checks before its test runs."""
    if name not in OPTIONAL_PARTS:
        raise ValueError(f"unknown optional part {name!r}; known: {sorted(OPTIONAL_PARTS)}")
    OPTIONAL_PARTS[name]()


def proc_status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status in MiB: "VmRSS" (resident now)
    or "VmHWM" (its own peak; unlike ru_maxrss, not counting the RSS its parent had when it
    forked)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


# ------------------------------------------------------------------------------ suite files

# The tiny suite: 2 methods x 2 datasets, 3 epochs, gd's lr 1000 diverging; conftest.py's
# ``tiny`` runs it once per session with jobs=1 (tests that write into its folder copy it).
TINY = """
[suite]
name = "tiny"
methods = ["gd", "adam"]
datasets = ["moons", "blobs"]
epochs = 3
seeds = 2
tuning_seeds = 2
extend_grid = 1

[model]
hidden = [4]

[method.gd]
lr = [0.1, 1000.0]   # 1000 diverges

[method.adam]
lr = [0.01, 0.1]

[dataset.moons]
n_samples = 100

[dataset.blobs]
n_samples = 100
"""

# The planted suite: one run through the whole protocol (tuning on 2 tuning seeds, grid
# extension by up to 1 lr a side, evaluation on 4 fresh seeds) that plants what the figures
# and the report must show: gd's one-point grid of lr 1e-4 is far too small for 8
# full-batch epochs, so gd ends at the edge of its extended grid (3e-4) and clearly worse
# than adam and minibatch on both datasets; minibatch's lr 100 diverges in tuning; the
# regression's target loss (1e-6) is out of reach; and adam is tuned on more lrs than the
# others (unequal budgets). conftest.py's ``planted`` runs and draws it once per session.
PLANTED = """
[suite]
name = "tiny"
methods = ["gd", "minibatch", "adam"]
datasets = ["moons", "regression"]
epochs = 8
seeds = 4
tuning_seeds = 2
extend_grid = 1

[model]
hidden = [8]
activation = "relu"

[method.gd]
lr = [0.0001]

[method.minibatch]
lr = [0.3, 100.0]

[method.adam]
lr = [0.003, 0.01, 0.03, 0.1]

[dataset.moons]
n_samples = 200
target_loss = 0.35

[dataset.regression]
n_samples = 150
n_features = 3
target_loss = 1e-6
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLANTED_SEEDS = 4


def full_batch_suite(name: str, optimizer: str) -> str:
    """A suite file's text: one full-batch method ``name`` of ``optimizer`` ("module:Class")
    with lrs 0.1 and 1000 (which diverges) on three 100-sample datasets, 3 epochs, one tuning
    seed and two evaluation seeds, the grid not extended: six small populations in sequence,
    for the tests that stop a run between two of them."""
    return f"""
[suite]
name = "{name}"
methods = ["{name}"]
datasets = ["moons", "circles", "blobs"]
epochs = 3
seeds = 2
tuning_seeds = 1
extend_grid = 0

[model]
hidden = [4]

[method.{name}]
optimizer = "{optimizer}"
batch_size = "full"
lr = [0.1, 1000.0]

[dataset.moons]
n_samples = 100

[dataset.circles]
n_samples = 100

[dataset.blobs]
n_samples = 100
"""


def write_suite(folder, text: str = TINY, name: str = "tiny.toml"):
    """A suite file in ``folder``; returns its path."""
    path = folder / name
    path.write_text(text)
    return path


# A module of user dataset generators (write it where it can be imported): good ones, and
# ones that return NaN, inf, strings or are not callable.
USER_SOURCE = """
import numpy as np

def noisy_line(n_samples=50, slope=2.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n_samples, 1))
    return x, slope * x[:, 0] + 0.1 * rng.normal(size=n_samples)

def two_classes(n_samples=40):
    x = np.arange(n_samples, dtype=float).reshape(-1, 1)
    return x, (x[:, 0] >= n_samples / 2).astype(int)

def with_nan(n_samples=20):
    x = np.ones((n_samples, 2))
    x[3, 1] = np.nan
    return x, np.arange(n_samples) % 2

def with_inf(n_samples=20):
    y = np.linspace(0, 1, n_samples)
    y[0] = np.inf
    return np.ones((n_samples, 2)), y

def words(n_samples=20):
    return [["a", "b"]] * n_samples, [0, 1] * (n_samples // 2)

not_callable = 3
"""


# ------------------------------------------------------------------------------ results, stores

RESULT_COLUMNS = [
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
    "diverged",
    "diverged_epoch",
    "epochs_to_target",
]


def assert_same_results(a: bench.Results, b: bench.Results) -> None:
    """Identical losses, metrics and divergence (times may differ), whatever the order in
    which the populations finished."""
    import pandas as pd

    def ordered(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        keys = [
            c
            for c in ("phase", "method", "dataset", "lr", "hyperparameters", "seed", "epoch")
            if c in columns
        ]
        return frame[columns].sort_values(keys).reset_index(drop=True)

    pd.testing.assert_frame_equal(
        ordered(a.trials, RESULT_COLUMNS), ordered(b.trials, RESULT_COLUMNS)
    )
    curve_columns = ["phase", "method", "dataset", "lr", "seed", "epoch", "train_loss", "val_loss"]
    pd.testing.assert_frame_equal(
        ordered(a.curves, curve_columns), ordered(b.curves, curve_columns)
    )
    columns = ["dataset", "criterion", "method", "rel_diff", "p_value", "verdict"]
    untimed = [
        c.query("criterion != 'seconds_to_target'")[columns] for c in (a.comparisons, b.comparisons)
    ]
    pd.testing.assert_frame_equal(*untimed)


def stored_populations(path) -> int:
    """Populations committed in a store that another process is writing (0 before it exists)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM populations").fetchone()[0]
    except sqlite3.Error:
        return 0


NAN = np.nan
TRAIN = [[0.7, 0.7, 0.7, 0.7], [0.4, 0.3, NAN, 0.6], [0.09, 0.2, NAN, 0.5]]


def make_result(
    key: str = "k1",
    method: str = "adam",
    dataset: str = "moons",
    phase: str = "eval",
    lrs: tuple[float, ...] | None = None,
    seeds: tuple[int, ...] | None = None,
    train_loss: list[list[float]] | None = None,
    test_loss: tuple[float, ...] = (0.30, 0.25, 0.6, 0.5),
    test_metric: tuple[float, ...] = (0.9, 0.95, 0.7, 0.8),
    hyperparameters: tuple[str, ...] | None = None,
    config: str | None = None,
    wall_seconds: float = 0.08,
    calibration: float = 0.01,
    cpu: str = "Test CPU @ 3.00GHz",
) -> PopulationResult:
    """A hand-made population of K trials x E + 1 epoch rows, by default 4 x 3 where trial 2
    diverges at row 1 (its curve is NaN from there on).

    val_loss = train_loss + 0.05; best_epoch: the row of the lowest val_loss before divergence;
    test_loss, test_metric: of the early-stopped model, finite even where diverged;
    final_test_loss = test_loss + 0.01 and final_test_metric = test_metric - 0.05, NaN where
    diverged; samples 60 e, steps 2 e; in "eval": seconds calibration x e, params + 100 as
    best_params; in "tune": NaN seconds, no calibration and no best_params. lrs default 0.1
    each, seeds 0.. (eval) or 100000.. (tune), hyperparameters "{}" each.
    """
    from bench.store import PopulationResult

    train = np.array(TRAIN if train_loss is None else train_loss, dtype=float)
    rows, K = train.shape
    epochs = np.arange(rows, dtype=float)
    diverged = np.array(
        [
            int(np.flatnonzero(np.isnan(train[:, k]))[0]) if np.isnan(train[-1, k]) else -1
            for k in range(K)
        ]
    )
    val = train + 0.05
    best_epoch = np.nanargmin(val, axis=0)
    lost = diverged >= 0
    tune = phase == "tune"
    params = np.arange(K * 5, dtype=float).reshape(K, 5) + 0.5
    first_seed = 100_000 if tune else 0
    return PopulationResult(
        key=key,
        phase=phase,
        config=config or f"config-of-{key}",
        method=method,
        dataset=dataset,
        task="binary",
        spec={"method": method, "dataset": dataset, "phase": phase},
        lrs=np.array(lrs if lrs is not None else [0.1] * K, dtype=float),
        hyperparameters=list(hyperparameters or ["{}"] * K),
        seeds=np.array(seeds if seeds is not None else range(first_seed, first_seed + K)),
        train_loss=train,
        val_loss=val,
        samples=60.0 * epochs,
        steps=2.0 * epochs,
        seconds=np.full(rows, NAN) if tune else calibration * epochs,
        wall_seconds=wall_seconds,
        calibration=None if tune else calibration,
        calibration_se=None if tune else 0.02,
        cpu=cpu,
        diverged_epoch=diverged,
        best_epoch=best_epoch,
        best_val_loss=val[best_epoch, np.arange(K)],
        test_loss=np.array(test_loss[:K], dtype=float),
        test_metric=np.array(test_metric[:K], dtype=float),
        final_test_loss=np.where(lost, NAN, np.array(test_loss[:K]) + 0.01),
        final_test_metric=np.where(lost, NAN, np.array(test_metric[:K]) - 0.05),
        params=params,
        best_params=None if tune else params + 100,
    )


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE populations (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, dataset TEXT NOT NULL, task TEXT NOT NULL,
    size INTEGER NOT NULL, epochs INTEGER NOT NULL, spec_json TEXT NOT NULL,
    seconds REAL NOT NULL, finished_at TEXT NOT NULL,
    samples BLOB NOT NULL, steps BLOB NOT NULL, seconds_axis BLOB NOT NULL
);
CREATE TABLE trials (
    population TEXT NOT NULL, trial INTEGER NOT NULL, method TEXT NOT NULL,
    dataset TEXT NOT NULL, lr REAL NOT NULL, seed INTEGER NOT NULL,
    final_train_loss REAL, final_val_loss REAL, final_test_loss REAL, test_metric REAL,
    best_train_loss REAL, diverged_epoch INTEGER NOT NULL, params BLOB NOT NULL,
    PRIMARY KEY (population, trial)
);
CREATE TABLE curves (
    population TEXT NOT NULL, trial INTEGER NOT NULL, train_loss BLOB NOT NULL, val_loss BLOB,
    PRIMARY KEY (population, trial)
);
"""


def write_old_store(path, schema: int) -> bytes:
    """A store as a backprop-bench of store schema ``schema`` wrote it; returns its bytes."""
    db = sqlite3.connect(path)
    with db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (json.dumps(schema),))
        db.execute("INSERT INTO meta VALUES ('suite', ?)", (json.dumps({"name": "default"}),))
    db.close()
    return path.read_bytes()


# ------------------------------------------------------------------------------ benchmarks


def side_by_side(
    benchmark, entry: Callable, peer: Callable, peer_name: str, rounds: int, replicas: int = 1
):
    """Benchmark ``entry`` over ``rounds`` rounds, running ``peer`` (timed) before each one.

    Records the peer's median seconds and name in ``benchmark.extra_info``; returns what the
    entry returned.
    """
    peer_seconds: list[float] = []

    def run_peer() -> None:
        start = time.perf_counter()
        peer()
        peer_seconds.append(time.perf_counter() - start)

    result = benchmark.pedantic(entry, setup=run_peer, rounds=rounds, iterations=1)
    benchmark.extra_info.update(
        peer=peer_name, peer_median=float(np.median(peer_seconds)), replicas=replicas
    )
    return result


# ------------------------------------------------------------------------------ optimizers

# id -> (optimizer, flags shared by all replicas, one dict of float hyperparameters per
# replica); every float hyperparameter differs between the replicas
PER_REPLICA_SETTINGS = {
    "SGD": (
        "SGD",
        {},
        [
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0},
            {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1},
            {"lr": 0.2, "momentum": 0.0, "dampening": 0.5, "weight_decay": 0.01},
        ],
    ),
    "SGD-nesterov": (
        "SGD",
        {"nesterov": True},
        [
            {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
            {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
            {"lr": 0.2, "momentum": 0.1, "weight_decay": 0.01},
        ],
    ),
    "Adagrad": (
        "Adagrad",
        {},
        [
            {"lr": 0.1, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0},
            {"lr": 0.05, "lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
            {"lr": 0.2, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 2.0},
        ],
    ),
    "Adadelta": (
        "Adadelta",
        {},
        [
            {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0},
            {"lr": 0.5, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.1},
            {"lr": 2.0, "rho": 0.99, "eps": 1e-4, "weight_decay": 0.01},
        ],
    ),
    "RMSprop-centered": (
        "RMSprop",
        {"centered": True},
        [
            {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0},
            {"lr": 0.005, "alpha": 0.3, "eps": 1e-3, "weight_decay": 0.1, "momentum": 0.5},
            {"lr": 0.02, "alpha": 0.9, "eps": 1e-4, "weight_decay": 0.01, "momentum": 0.9},
        ],
    ),
    "Adam-amsgrad": (
        "Adam",
        {"amsgrad": True},
        [
            {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
            {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-2, "weight_decay": 0.1},
            {"lr": 0.1, "betas": (0.3, 0.99), "eps": 1e-4, "weight_decay": 0.01},
        ],
    ),
    "AdamW": (
        "AdamW",
        {},
        [
            {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
            {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-2, "weight_decay": 0.5},
            {"lr": 0.1, "betas": (0.3, 0.99), "eps": 1e-4, "weight_decay": 0.01},
        ],
    ),
    "NAdam-decoupled": (
        "NAdam",
        {"decoupled_weight_decay": True},
        [
            {
                "lr": 0.05,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0.0,
                "momentum_decay": 4e-3,
            },
            {
                "lr": 0.01,
                "betas": (0.5, 0.9),
                "eps": 1e-2,
                "weight_decay": 0.5,
                "momentum_decay": 0.05,
            },
            {
                "lr": 0.1,
                "betas": (0.3, 0.99),
                "eps": 1e-4,
                "weight_decay": 0.01,
                "momentum_decay": 0.0,
            },
        ],
    ),
}


def per_replica_kwargs(flags: dict, replicas: list[dict]) -> dict:
    """One set of keyword arguments holding K values per float hyperparameter."""
    kwargs = dict(flags)
    for name in replicas[0]:
        values = np.array([r[name] for r in replicas])
        kwargs[name] = (values[:, 0], values[:, 1]) if name == "betas" else values
    return kwargs


def random_problem(seed: int, K: int, steps: int = 50, shapes=((3, 2), (1, 2))):
    """Params [(K, *shape)] and gradients [(steps, K, *shape)] drawn from a seeded rng."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(K, *shape)) for shape in shapes]
    grads = [rng.normal(size=(steps, K, *shape)) for shape in shapes]
    return params, grads


def run(optimizer, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
    """Step ``optimizer`` through the gradients; each parameter after every step,
    (steps, *shape). ``params`` are updated in place."""
    state = optimizer.init(params)
    paths = [np.empty_like(g) for g in grads]
    for t in range(len(grads[0])):
        optimizer.step(params, [g[t] for g in grads], state)
        for path, p in zip(paths, params, strict=True):
            path[t] = p
    return paths
