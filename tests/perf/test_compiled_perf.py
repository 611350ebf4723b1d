"""Speed of one training epoch, compiled engine against the NumPy engine, side by side.

Three runs, float64, one BLAS thread, each timed as ``train`` times an epoch (the shuffle,
then forward, backward and step on every batch; no evaluation):

- sgd (batch 1) on a digits-like set, 64-32-10 softmax, n = 1078, K = 25 per-replica lrs
  (target: compiled >= 5x);
- Adam, batch 32, make_moons-like, n = 2000, 2-32-1 sigmoid + BCE, K = 1;
- the same as a population of K = 32, and the full batch (K = 1), where "auto" picks NumPy:
  these two show where the compiled engine stops paying (``compiled.COMPILED_UP_TO``).

The summary line of each entry gives the compiled median and NumPy's from the same rounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import require_module, side_by_side

from backprop import MLP
from backprop.memory import keep_temporaries_on_the_heap
from backprop.optimizers import SGD, Adam
from backprop.training import _batch_size, _Loop

ROUNDS = 15


@pytest.fixture(scope="module", autouse=True)
def heap_as_in_training():
    keep_temporaries_on_the_heap()


def digits_like():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1078, 64))
    Y = np.eye(10)[rng.integers(0, 10, 1078)]
    net = MLP([64, 32, 10], hidden="relu", output="softmax", loss="softmax_cross_entropy")
    return net, X, Y


def moons_like():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    net = MLP([2, 32, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    return net, X, Y


def epoch(net, make_optimizer, X, Y, batch_size, K, engine):
    """A function that trains one more epoch of a fresh run, as train() does."""
    seeds = list(range(K))
    flat = net.flatten(net.init(seeds))
    X, Y = net.check_data(net.unflatten(flat), X, Y)
    batch = _batch_size(batch_size, len(X))
    loop = _Loop(net, make_optimizer(), flat, X, Y, None, None, seeds, batch, engine)
    loop._epoch()  # warm-up
    return loop._epoch


CASES = {
    "sgd_digits_K25": (digits_like, lambda: SGD(lr=np.geomspace(1e-3, 1e-1, 25)), 1, 25, "5x"),
    "adam_moons_K1": (moons_like, lambda: Adam(lr=1e-3), 32, 1, None),
    "adam_moons_K32": (moons_like, lambda: Adam(lr=1e-3), 32, 32, None),
    "gd_moons_K1": (moons_like, lambda: SGD(lr=0.1), None, 1, None),
}


@pytest.mark.usefixtures("one_blas_thread")
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_epoch(benchmark, case):
    require_module("numba")
    make_data, make_optimizer, batch_size, K, target = CASES[case]
    net, X, Y = make_data()
    compiled_epoch = epoch(net, make_optimizer, X, Y, batch_size, K, "compiled")
    numpy_epoch = epoch(net, make_optimizer, X, Y, batch_size, K, "numpy")
    benchmark.group = "compiled engine: one epoch"
    if target:
        benchmark.extra_info["target"] = target
    side_by_side(benchmark, compiled_epoch, numpy_epoch, "numpy", ROUNDS)
