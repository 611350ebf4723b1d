"""Scale: a grid of 5,082 trials through the runner, and how the cost of an epoch grows.

The grid is every built-in method x every built-in generator x 13 lrs x 5 tuning seeds (65
trials a tuning population, 77 of them, the grid not extended), then each tuned lr on one
evaluation seed, 2 epochs of datasets of 200 samples (120 to train on): the
runner (``bench.run`` in a process of its own) sends it to a LocalCluster of two worker
processes, or trains it with --jobs 2 (loky). The same grid with three copies of each dataset
(15,246 trials) shows that the runner's memory hardly grows with the grid: it stores each
population as it arrives (only the tables it writes at the end grow with the trials). The
sweep times one epoch of Adam (batch 32, one BLAS thread) as the population size K, the
number of samples n and the hidden width grow, one at a time.

`make perf` runs these; each prints a Markdown table for the README's performance section
and keeps it in the benchmark's extra_info.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import proc_status_mib, require_module
from sklearn.datasets import make_moons

from backprop import MLP, train
from backprop.optimizers import Adam
from bench.datasets import BUILTIN_DATASETS
from bench.methods import BUILTIN_METHODS

LRS = [float(f"{lr:.3g}") for lr in np.logspace(-4, 1, 13)]  # 1e-4 .. 10, 13 values
TUNING_SEEDS, SEEDS, EPOCHS, SAMPLES = 5, 1, 2, 200


def grid_suite(folder: Path, copies: int) -> tuple[Path, int]:
    """A suite file of every built-in method x ``copies`` x 7 datasets x (13 lrs x 5 tuning
    seeds + 1 evaluation seed); its path and number of trials."""
    datasets = {
        f"{name}{copy}": (name, copy) for copy in range(copies) for name in BUILTIN_DATASETS
    }
    lines = [
        "[suite]",
        f'name = "grid{copies}"',
        f"methods = {list(BUILTIN_METHODS)}",
        f"datasets = {list(datasets)}",
        f"epochs = {EPOCHS}",
        f"seeds = {SEEDS}",
        f"tuning_seeds = {TUNING_SEEDS}",
        "extend_grid = 0",
    ]
    lines += [f"[method.{method}]\nlr = {LRS}" for method in BUILTIN_METHODS]
    lines += [
        f'[dataset.{name}]\ngenerator = "{generator}"\nn_samples = {SAMPLES}\nseed = {copy}'
        for name, (generator, copy) in datasets.items()
    ]
    path = folder / f"grid{copies}.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path, len(BUILTIN_METHODS) * len(datasets) * (len(LRS) * TUNING_SEEDS + SEEDS)


def run_runner(path: Path, out: Path, **options) -> tuple[float, float]:
    """``bench.run(path, out=out, **options)`` in a process of its own: (its wall seconds,
    its own peak RSS in MiB, VmHWM as in ``proc_status_mib``, read inside the child; loky
    workers, with --jobs, are processes of their own)."""
    options = {"out": str(out), "progress": False, **options}
    code = (
        f"import bench, re; bench.run({str(path)!r}, **{options!r}); "
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start, int(done.stdout.split()[-1]) / 1024


def stored(out: Path) -> tuple[int, float, float]:
    """(trials in DIR/runs.sqlite, the populations' training seconds summed, the store's size
    in MiB)."""
    with sqlite3.connect(out / "runs.sqlite") as db:
        trials = db.execute("SELECT count(*) FROM trials").fetchone()[0]
        training = db.execute("SELECT sum(wall_seconds) FROM populations").fetchone()[0]
    db.close()
    return trials, training, (out / "runs.sqlite").stat().st_size / 2**20


def run_grid(folder: Path, copies: int, where: str) -> dict:
    """The grid of ``copies`` run on a fresh LocalCluster of 2 workers ("dask") or with
    --jobs 2 ("loky"): trials, the runner's wall seconds (start-up and tables included), the
    training seconds of all populations summed, trials per hour, the peak RSS of the runner
    and of each worker (MiB), the store's size."""
    path, trials = grid_suite(folder, copies)
    out = folder / f"{where}{copies}"
    row = {"grid": f"{trials:,} trials", "where": where}
    if where == "loky":
        seconds, runner_mib = run_runner(path, out, jobs=2)
        workers = "(not measured)"
    else:
        distributed = require_module("distributed")
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            seconds, runner_mib = run_runner(path, out, cluster=cluster.scheduler_address)
            peaks = client.run(proc_status_mib, "VmHWM").values()
        workers = ", ".join(f"{mib:.0f}" for mib in peaks)
    count, training, store_mib = stored(out)
    assert count == trials
    return row | {
        "seconds": seconds,
        "training_seconds": training,
        "trials_per_hour": trials / seconds * 3600,
        "runner_mib": runner_mib,
        "worker_mib": workers,
        "store_mib": store_mib,
        "store_kib_per_trial": store_mib * 1024 / trials,
    }


def markdown(rows: list[dict], columns: dict[str, str]) -> str:
    """A Markdown table of ``rows``: one column per key of ``columns`` (key -> format)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format(row[key], spec) if spec else str(row[key]) for key, spec in columns.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@pytest.mark.optional("dask")
def test_a_5082_trial_grid_runs_in_bounded_memory(benchmark, tmp_path, capsys):
    rows = []
    benchmark.pedantic(lambda: rows.append(run_grid(tmp_path, 1, "dask")), rounds=1)
    rows += [run_grid(tmp_path, 3, "dask"), run_grid(tmp_path, 1, "loky")]
    table = markdown(
        rows,
        {
            "grid": "",
            "where": "",
            "seconds": ".1f",
            "training_seconds": ".1f",
            "trials_per_hour": ",.0f",
            "runner_mib": ".0f",
            "worker_mib": "",
            "store_mib": ".1f",
            "store_kib_per_trial": ".1f",
        },
    )
    benchmark.extra_info.update(table=table, rows=rows)
    with capsys.disabled():
        print(f"\n\nscale: 2 workers, {EPOCHS} epochs of {SAMPLES} samples\n{table}\n")
    small, large = rows[0], rows[1]
    assert large["runner_mib"] < 1.25 * small["runner_mib"]  # three times the grid


# ------------------------------------------------------------------------------ cost sweep

BASE = {"K": 16, "n": 1000, "width": 32}
SWEEP = {"K": [1, 4, 16, 64, 256], "n": [250, 1000, 4000, 16000], "width": [8, 32, 128, 512]}


def epoch_seconds(K: int, n: int, width: int) -> float:
    """The least training seconds of one epoch (of 5) of Adam, batch 32, on n moons samples,
    for K replicas of a 2-width-1 network, on the NumPy engine (whose batched products make
    the population axis cheap; the compiled engine trains replica after replica)."""
    X, y = make_moons(n_samples=n, noise=0.2, random_state=0)
    net = MLP([2, width, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    history = train(
        net,
        Adam(lr=np.full(K, 1e-3)),
        X,
        y[:, None].astype(float),
        batch_size=32,
        epochs=5,
        seed=list(range(K)),
        engine="numpy",
    )
    return float(np.diff(history.seconds).min())


def test_cost_of_an_epoch_grows_with_population_data_and_width(benchmark, capsys, one_blas_thread):
    rows = []

    def sweep():
        for axis, values in SWEEP.items():
            first = None
            for value in values:
                case = BASE | {axis: value}
                seconds = epoch_seconds(**case)
                first = first or seconds
                rows.append(
                    case
                    | {
                        "grows": axis,
                        "ms_per_epoch": seconds * 1e3,
                        "us_per_replica_sample": seconds * 1e6 / case["K"] / case["n"],
                        "vs_first": seconds / first,
                    }
                )

    benchmark.pedantic(sweep, rounds=1)
    table = markdown(
        rows,
        {
            "grows": "",
            "K": "",
            "n": "",
            "width": "",
            "ms_per_epoch": ".2f",
            "us_per_replica_sample": ".3f",
            "vs_first": ".1f",
        },
    )
    benchmark.extra_info.update(table=table, rows=rows)
    with capsys.disabled():
        title = f"one epoch of Adam, batch 32, one BLAS thread, NumPy engine (base {BASE})"
        print(f"\n\n{title}\n{table}\n")
    by = {(r["grows"], r["K"], r["n"], r["width"]): r["ms_per_epoch"] for r in rows}
    # the population axis: 16x the replicas costs far less than 16x the time
    assert by[("K", 256, 1000, 32)] < 16 * by[("K", 16, 1000, 32)]
