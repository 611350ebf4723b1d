"""Speed of one optimizer step, on the training hot path: train() steps a built-in over one
flat (K, P) buffer. Two sizes: a 64-32-10 network (P = 2410) with K = 25 replicas, where the
arithmetic shows, and a 2-32-1 network (P = 129) alone, sgd at batch 1's case, where NumPy's
per-call overhead is nearly the whole cost. `make perf` runs these; `make test` does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from backprop.memory import keep_temporaries_on_the_heap
from backprop.optimizers import SGD, Adadelta, Adagrad, Adam, NAdam, RMSprop

OPTIMIZERS = {  # name -> the optimizer for K replicas
    "SGD": lambda K: SGD(lr=0.01),
    "SGD-nesterov": lambda K: SGD(lr=0.01, momentum=0.9, nesterov=True),
    "Adagrad": lambda K: Adagrad(),
    "Adadelta": lambda K: Adadelta(),
    "RMSprop-centered": lambda K: RMSprop(momentum=0.9, centered=True),
    "Adam": lambda K: Adam(),
    "Adam-amsgrad-lr-per-replica": lambda K: Adam(lr=np.full(K, 1e-3), amsgrad=True),
    "NAdam": lambda K: NAdam(),
}
SHAPES = {"64-32-10, K=25": (25, 2410), "2-32-1, K=1": (1, 129)}


@pytest.fixture(scope="module", autouse=True)
def heap_as_in_training():
    keep_temporaries_on_the_heap()


@pytest.mark.usefixtures("one_blas_thread")
@pytest.mark.benchmark(max_time=0.5)
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_on_the_flat_buffer(benchmark, name, shape):
    K, P = SHAPES[shape]
    rng = np.random.default_rng(0)
    params, grads = [rng.normal(size=(K, P))], [rng.normal(size=(K, P)) * 1e-3]
    optimizer = OPTIMIZERS[name](K)
    state = optimizer.init(params)
    benchmark.group = f"optimizer step, {shape}"
    benchmark(optimizer.step, params, grads, state)
    assert state["step"] >= benchmark.stats.stats.rounds  # (calibration steps too)
