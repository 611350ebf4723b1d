"""Speed of one training epoch, compiled engine against the NumPy engine, side by side.

Float64, one BLAS thread, each run timed as ``train`` times an epoch (the shuffle, then
forward, backward and step on every batch; no evaluation):

- sgd (batch 1) on a digits-like set, 64-32-10 softmax, n = 1078, K = 25 per-replica lrs
  (target: compiled >= 5x);
- Adam, batch 32, make_moons-like, n = 2000, 2-32-1 sigmoid + BCE, K = 1, and the same as a
  population of K = 32 (issue 13's population target);
- the default suite's populations (bench/suites/default.toml): tuning populations of K = 21
  (7 lrs x 3 seeds) and evaluation populations of K = 10, batch 32, on digits (n = 1078,
  64-32-10) and on 800-sample sets (n = 480 after the split: 2 to 20 features, hidden 32, 1
  to 4 outputs), with Adam, Adagrad, Adadelta and SGD (target: compiled faster, > 1x);
- the full batch (K = 1): of moons (n = 2000), where "auto" picks the compiled engine, and of
  digits (1078 x 64 inputs > ``compiled.COMPILED_UP_TO``), where it picks NumPy: these show
  where the compiled engine stops paying.

The summary line of each entry gives the compiled median and NumPy's from the same rounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import require_module, side_by_side

from backprop import MLP
from backprop.memory import keep_temporaries_on_the_heap
from backprop.optimizers import SGD, Adadelta, Adagrad, Adam
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


def moons_like(n=2000):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    net = MLP([2, 32, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    return net, X, Y


def suite_like(d, m, output, loss, n=480):
    """One of the default suite's 800-sample data sets, as trained (n = 480 after the split)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    if output == "softmax":
        Y = np.eye(m)[rng.integers(0, m, n)]
    elif output == "sigmoid":
        Y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    else:
        Y = np.sin(X[:, :m])
    return MLP([d, 32, m], hidden="relu", output=output, loss=loss), X, Y


def blobs_like():
    return suite_like(2, 4, "softmax", "softmax_cross_entropy")


def classification_like():
    return suite_like(20, 3, "softmax", "softmax_cross_entropy")


def regression_like():
    return suite_like(10, 1, "identity", "half_squared_error")


def moons_480():
    return suite_like(2, 1, "sigmoid", "binary_cross_entropy")


def epoch(net, make_optimizer, X, Y, batch_size, K, engine):
    """A function that trains one more epoch of a fresh run, as train() does."""
    seeds = list(range(K))
    flat = net.flatten(net.init(seeds))
    X, Y = net.check_data(net.unflatten(flat), X, Y)
    batch = _batch_size(batch_size, len(X))
    loop = _Loop(net, make_optimizer(), flat, X, Y, None, None, seeds, batch, engine)
    loop._epoch()  # warm-up
    return loop._epoch


def lrs(low, high, K):
    return np.geomspace(low, high, K)


SUITE = "> 1x (auto: compiled)"
CASES = {
    "sgd_digits_K25": (digits_like, lambda: SGD(lr=lrs(1e-3, 1e-1, 25)), 1, 25, "5x"),
    "adam_moons_K1": (moons_like, lambda: Adam(lr=1e-3), 32, 1, None),
    "adam_moons_K32": (moons_like, lambda: Adam(lr=1e-3), 32, 32, SUITE),
    # the default suite's tuning (K = 21) and evaluation (K = 10) populations, batch 32
    "adam_digits_K21": (digits_like, lambda: Adam(lr=lrs(3e-4, 0.3, 21)), 32, 21, SUITE),
    "adam_digits_K10": (digits_like, lambda: Adam(lr=1e-3), 32, 10, SUITE),
    "sgd_digits_K21": (digits_like, lambda: SGD(lr=lrs(0.01, 1, 21)), 32, 21, SUITE),
    "adagrad_digits_K10": (digits_like, lambda: Adagrad(lr=0.03), 32, 10, SUITE),
    "adadelta_digits_K10": (digits_like, lambda: Adadelta(lr=10.0), 32, 10, SUITE),
    "adam_moons480_K21": (moons_480, lambda: Adam(lr=lrs(3e-4, 0.3, 21)), 32, 21, SUITE),
    "adagrad_blobs_K21": (blobs_like, lambda: Adagrad(lr=lrs(3e-3, 3, 21)), 32, 21, SUITE),
    "adadelta_classification_K21": (
        classification_like,
        lambda: Adadelta(lr=lrs(1, 100, 21)),
        32,
        21,
        SUITE,
    ),
    "sgd_regression_K10": (regression_like, lambda: SGD(lr=0.1), 32, 10, SUITE),
    # the full batch: auto picks compiled on moons, NumPy on digits (COMPILED_UP_TO)
    "gd_moons_K1": (moons_like, lambda: SGD(lr=0.1), None, 1, None),
    "gd_digits_K1": (digits_like, lambda: SGD(lr=0.1), None, 1, None),
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
