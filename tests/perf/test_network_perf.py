"""Speed of one forward + backward pass: the training hot path and the public loss_and_grad.

Sizes 2-2-2, 2-32-1 and 64-256-256-10 (relu hidden units), populations K = 1, 32, 128, a
batch of 32 random samples, one BLAS thread, and glibc's heap thresholds raised as train()
raises them (without that, a population's temporaries are fresh mmaps, several times slower,
by an amount that depends on what ran before in the process). Tiny networks are bound by the
per-call overhead of NumPy, so their time barely grows with K. `make perf` runs these;
`make test` does not.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from backprop import MLP
from backprop.memory import keep_temporaries_on_the_heap

BATCH = 32
SIZES = {"2-2-2": [2, 2, 2], "2-32-1": [2, 32, 1], "64-256-256-10": [64, 256, 256, 10]}
POPULATIONS = [1, 32, 128]
TOO_SLOW = 0.050  # seconds for one pass: such a case is skipped rather than timed

pytestmark = [  # every benchmark below runs for every size and population
    pytest.mark.usefixtures("one_blas_thread"),
    pytest.mark.benchmark(max_time=0.5),
    pytest.mark.parametrize("name", list(SIZES)),
    pytest.mark.parametrize("population", POPULATIONS),
]


def problem(sizes: list[int], population: int):
    """A net (sigmoid + BCE for one output, softmax + softmax CE otherwise), its params, and a
    batch of random inputs with valid targets."""
    m = sizes[-1]
    if m == 1:
        net = MLP(sizes, hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    else:
        net = MLP(sizes, hidden="relu", output="softmax", loss="softmax_cross_entropy")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(BATCH, sizes[0]))
    Y = np.eye(m)[rng.integers(0, m, BATCH)] if m > 1 else rng.integers(0, 2, (BATCH, 1)) * 1.0
    return net, net.init(seed=0, population=population), X, Y


@pytest.fixture(scope="module", autouse=True)
def heap_as_in_training():
    keep_temporaries_on_the_heap()


def skip_if_too_slow(call) -> None:
    """Skip the case when one call, after a warm-up call, takes longer than TOO_SLOW."""
    call()
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    if seconds > TOO_SLOW:
        pytest.skip(
            f"one forward + backward takes {seconds * 1e3:.0f} ms > {TOO_SLOW * 1e3:.0f} ms"
        )


def describe(benchmark, name: str, population: int) -> None:
    benchmark.group = f"forward+backward {name}, batch {BATCH}"
    benchmark.extra_info.update({"sizes": name, "batch": BATCH, "replicas": population})


def test_gradient_into_hot_path(benchmark, name, population):
    """``MLP.gradient_into``, what train() runs every step.

    On 2-32-1 (one output unit, a batch of 32 >= FACTOR_FROM_BATCH) this times the factored
    first layer, ``MLP._first_layer_below_one_unit``, whose forms were chosen on this case
    when it was written: relu's boolean mask copied to floats through its uint8 view was
    1.5x faster than from bool, and computing ([x, 1] * delta)^T @ f' into a contiguous
    temporary before multiplying by w^T 1.2x faster than the other orders. The factored form
    avoids a (B, H) outer product, which NumPy broadcasts at a fraction of its usual speed.
    """
    net, params, X, Y = problem(SIZES[name], population)
    flat = net.flatten(params)
    weights, X1 = net.augmented(flat), net.with_bias_column(X)
    grads_flat = np.empty_like(flat)
    grads = net.augmented(grads_flat)
    skip_if_too_slow(lambda: net.gradient_into(weights, X1, Y, grads))
    describe(benchmark, name, population)
    benchmark(net.gradient_into, weights, X1, Y, grads)
    # what was timed is the gradient: the same as the public route's
    _, public = net.loss_and_grad(params, X, Y)
    np.testing.assert_allclose(grads_flat, net.flatten(public), rtol=1e-12, atol=1e-15)


def test_loss_and_grad(benchmark, name, population):
    net, params, X, Y = problem(SIZES[name], population)
    skip_if_too_slow(lambda: net.loss_and_grad(params, X, Y))
    describe(benchmark, name, population)
    loss, grads = benchmark(net.loss_and_grad, params, X, Y)
    assert loss.shape == (population,) and np.isfinite(loss).all()
    assert [g.shape for g in grads] == [p.shape for p in params]
