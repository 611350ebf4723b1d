"""What a worker process runs: train one population (``train_population``) and time it.

This module is all a worker imports (with NumPy, ``backprop``, and the suite's and store's
dataclasses), so a worker starts in about a second: no pandas, scipy.stats or scikit-learn.
Local workers start while the parent is still loading the suite (``start_workers``), import
this module and load the compiled kernels meanwhile (``warm_up``), and are sent each
population's dataset with it, which the parent has built to check the suite; a Dask worker
builds its own with ``dataset_for``, the same arrays.

Time: a trial's seconds are what it costs alone. The worker of an evaluation population
times a fresh K = 1 copy of its first trial (``calibrate``) and a trial's seconds axis is
epochs x that cost per epoch; a K = 1 population uses its own time.
"""

from __future__ import annotations

import math
import platform
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from backprop import MLP, compiled, train
from backprop.training import time_epochs
from bench import metrics
from bench.datasets import Dataset, dataset_for
from bench.methods import hyperparameters_json
from bench.store import PopulationResult
from bench.suite import Population

TIME_AXIS = (
    "what one trial costs alone: epochs x the seconds per epoch of a fresh K = 1 copy of the "
    "population's first trial, timed by its worker (shuffle, forward, backward and step; no "
    "evaluation; the median of 3 rounds of at least one epoch and 0.2 s / 3 each); a "
    "calibrated estimate"
)
CALIBRATION_SECONDS = 0.2  # the least time the three calibration rounds take together
CALIBRATION_ROUNDS = 3


# ------------------------------------------------------------------------------ one population


def train_population(population: Population, data: Dataset | None = None) -> PopulationResult:
    """Train every trial of ``population`` in one ``train`` call, with one BLAS thread.

    Trial k has lr_k, the searched arguments and seed_k. The early-stopped model (the epoch
    of the lowest validation loss before any divergence) gives test_loss and test_metric;
    the final one gives final_test_loss and final_test_metric, NaN where the trial diverged.
    An evaluation population also calibrates its seconds (``calibrate``). ``data`` is the
    population's dataset, when the caller has it (else built here: ``dataset_for``).
    """
    with threadpool_limits(limits=1):
        data = dataset_for(population.dataset) if data is None else data
        net = network_for(population, data)
        lrs = np.array([lr for lr, _, _ in population.trials], dtype=float)
        seeds = [seed for _, _, seed in population.trials]
        optimizer = population.method.population_optimizer(population.trials)
        with np.errstate(all="ignore"):
            history = train(
                net,
                optimizer,
                data.X_train,
                data.Y_train,
                batch_size=population.method.batch_size,
                epochs=population.epochs,
                seed=seeds,
                X_val=data.X_val,
                Y_val=data.Y_val,
                engine=population.engine,
            )
            best = evaluate(net, history.best_params, data)
            final = evaluate(net, history.params, data)
            calibration = calibration_se = None
            axis = np.full(len(history.samples), np.nan)
            if population.phase == "eval" and len(seeds) == 1 and history.epochs:
                calibration, calibration_se = log_mean(np.diff(history.seconds))
                axis = history.seconds
            elif population.phase == "eval":
                calibration, calibration_se = calibrate(population, data)
                axis = np.arange(len(axis)) * calibration
    diverged = history.diverged_epoch >= 0
    for values in final:
        values[diverged] = np.nan
    rows = np.arange(len(seeds))
    return PopulationResult(
        key=population.key(),
        phase=population.phase,
        config=population.config(),
        method=population.method.name,
        dataset=population.dataset.name,
        task=data.task,
        spec=population.spec(),
        lrs=lrs,
        hyperparameters=[hyperparameters_json(h) for _, h, _ in population.trials],
        seeds=np.array(seeds),
        train_loss=history.train_loss,
        val_loss=history.val_loss,
        samples=history.samples.astype(float),
        steps=history.steps.astype(float),
        seconds=np.asarray(axis, dtype=float),
        wall_seconds=float(history.seconds[-1]),
        calibration=calibration,
        calibration_se=calibration_se,
        cpu=cpu_model(),
        diverged_epoch=history.diverged_epoch,
        best_epoch=history.best_epoch,
        best_val_loss=history.val_loss[history.best_epoch, rows],
        test_loss=best[0],
        test_metric=best[1],
        final_test_loss=final[0],
        final_test_metric=final[1],
        params=net.flatten(history.params),
        best_params=net.flatten(history.best_params) if population.phase == "eval" else None,
    )


def network_for(population: Population, data: Dataset) -> MLP:
    """The network every trial of ``population`` trains."""
    return MLP(
        [data.n_features, *population.hidden, data.n_outputs],
        hidden=population.activation,
        output=data.output,
        loss=data.loss,
    )


def evaluate(net: MLP, params: list[np.ndarray], data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(test loss, test metric), (K,) each, of every replica of ``params``."""
    loss = net.loss_value(params, data.X_test, data.Y_test)
    metric = metrics.test_metric(data.task, net.predict(params, data.X_test), data.Y_test)
    return loss, metric


def calibrate(population: Population, data: Dataset) -> tuple[float, float]:
    """Seconds per epoch of the population's first trial alone, a fresh K = 1 copy, and the
    standard error of its log.

    One epoch of warm-up, then CALIBRATION_ROUNDS rounds of whole epochs, each of at least
    one epoch and CALIBRATION_SECONDS / CALIBRATION_ROUNDS seconds of shuffle, forward,
    backward and step (``time_epochs``: no evaluation). The cost is the median round's
    seconds per epoch; its standard error, sd(log round) / sqrt(rounds), is the timing noise
    that the comparisons of seconds add to their intervals. The trial is timed with the
    population's ``timing_engine`` (the one that suits a single trial), its kernels loaded
    before the warm-up.
    """
    net, trial = network_for(population, data), population.trials[:1]
    engine = population.timing_engine or population.engine
    if engine == "compiled":
        compiled.load()

    def timed(epochs: int) -> np.ndarray:
        optimizer = population.method.population_optimizer(trial)
        return time_epochs(
            net,
            optimizer,
            data.X_train,
            data.Y_train,
            batch_size=population.method.batch_size,
            epochs=epochs,
            seed=[trial[0][2]],
            engine=engine,
        )

    (first,) = timed(1)  # warm-up: caches, the heap, lazy imports
    least = CALIBRATION_SECONDS / CALIBRATION_ROUNDS
    per_round = max(1, math.ceil(least / first)) if first > 0 else 1
    rounds = timed(1 + CALIBRATION_ROUNDS * per_round)[1:].reshape(CALIBRATION_ROUNDS, per_round)
    per_epoch = rounds.sum(axis=1) / per_round
    return float(np.median(per_epoch)), log_mean(per_epoch)[1]


def log_mean(seconds: np.ndarray) -> tuple[float, float]:
    """(mean of ``seconds``, standard error of the mean of their logs)."""
    logs = np.log(np.maximum(seconds, 1e-12))
    se = float(np.std(logs, ddof=1) / np.sqrt(len(logs))) if len(logs) > 1 else 0.0
    return float(np.mean(seconds)), se


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor(), else 'unknown'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def warm_up(kernels: bool) -> None:
    """loky's initializer: with ``kernels``, load the compiled engine's kernels now, while the
    parent loads the suite, when numba's cache holds them (else the parent compiles them once,
    ``runner.precompile``, and each worker loads them at its first use)."""
    if kernels and compiled.available() and compiled.cached():
        compiled.load()


def start_workers(jobs: int, kernels: bool = True):
    """loky's reusable executor of ``jobs`` workers, started now (``warm_up`` in each); the
    run's backend takes the same one (``runner.Loky``)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(
        max_workers=jobs, reuse=True, initializer=warm_up, initargs=(kernels,)
    )
