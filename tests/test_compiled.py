"""The compiled engine trains the same numbers as the NumPy one: every activation, pairing,
optimizer (with its options), batching regime, population, divergence and early stop; and
"auto" and "compiled" choose, fall back and refuse as documented. Runs are small and short;
a run is compared after several epochs, so every step's rounding has had time to show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import require_module

from backprop import MLP, compiled, train, training
from backprop.activations import HIDDEN
from backprop.losses import VALID_PAIRINGS
from backprop.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop
from backprop.schedules import StepDecay

RTOL = 1e-9
SEEDS = [3, 4, 5]


@pytest.fixture
def numba():
    return require_module("numba")


def data(net: MLP, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n samples of inputs and valid targets for the net's output and loss."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.sizes[0]))
    m = net.sizes[-1]
    if net.output == "softmax":
        return X, np.eye(m)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    if net.output == "sigmoid":
        return X, (X[:, :m] > 0).astype(float)
    return X, np.sin(X[:, :m])


def both(net: MLP, optimizer, batch_size, epochs: int = 3, seed=SEEDS, **kwargs):
    """The NumPy and the compiled engine's histories of the same run, with validation data
    (37 training samples: batches of 8 leave a partial last batch of 5)."""
    X, Y = data(net, 37, seed=0)
    X_val, Y_val = data(net, 11, seed=1)
    runs = [
        train(net, optimizer(), X, Y, batch_size=batch_size, epochs=epochs, seed=seed,
              X_val=X_val, Y_val=Y_val, engine=engine, **kwargs)
        for engine in ("numpy", "compiled")
    ]  # fmt: skip
    return runs


def max_relative(got: np.ndarray, want: np.ndarray) -> float:
    finite = np.isfinite(want)
    scale = np.maximum(np.abs(want[finite]), 1e-3 * np.abs(want[finite]).max(initial=1e-300))
    return float(np.max(np.abs(got[finite] - want[finite]) / scale, initial=0.0))


def assert_same_run(numpy_run, compiled_run) -> None:
    """Same losses, parameters, best parameters, divergence, best rows and epochs, to RTOL."""
    a, b = compiled_run, numpy_run
    assert a.epochs == b.epochs
    np.testing.assert_array_equal(a.diverged_epoch, b.diverged_epoch)
    np.testing.assert_array_equal(a.best_epoch, b.best_epoch)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=RTOL, atol=0)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=RTOL, atol=0)
    pairs = zip(a.params + a.best_params, b.params + b.best_params, strict=True)
    for got, want in pairs:
        assert max_relative(got, want) <= RTOL
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))


PAIRINGS = [(output, loss) for output, losses in VALID_PAIRINGS.items() for loss in losses]


@pytest.mark.parametrize("batch_size", [None, 1, 8])
@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
def test_every_pairing_and_batching_regime_trains_the_same_numbers(numba, output, loss, batch_size):
    m = 3 if output == "softmax" else 2
    net = MLP([3, 6, 5, m], hidden="tanh", output=output, loss=loss)
    lrs = lambda: Adam(lr=np.array([0.001, 0.01, 0.03]))  # noqa: E731
    assert_same_run(*both(net, lrs, batch_size))


@pytest.mark.parametrize("hidden", list(HIDDEN))
@pytest.mark.parametrize("sizes", [[3, 2], [3, 7, 2], [3, 6, 5, 4, 2]], ids=["L1", "L2", "L4"])
def test_every_hidden_activation_and_depth_trains_the_same_numbers(numba, hidden, sizes):
    net = MLP(sizes, hidden=hidden, output="sigmoid", loss="binary_cross_entropy")
    assert_same_run(*both(net, lambda: SGD(lr=np.array([0.03, 0.1, 0.3])), batch_size=4))


LRS = np.array([0.01, 0.03, 0.1])
OPTIMIZERS = {
    "sgd": lambda: SGD(lr=LRS),
    "sgd_momentum_dampening_decay": lambda: SGD(
        lr=0.03, momentum=0.9, dampening=0.1, weight_decay=0.01
    ),
    "sgd_per_replica_momentum": lambda: SGD(
        lr=LRS, momentum=np.array([0.0, 0.5, 0.9]), weight_decay=np.array([0.0, 0.01, 0.1])
    ),
    "nesterov": lambda: SGD(lr=LRS, momentum=0.5, nesterov=True),
    "adagrad": lambda: Adagrad(lr=LRS, lr_decay=0.01, initial_accumulator_value=0.1),
    "adagrad_per_replica": lambda: Adagrad(
        lr=LRS,
        weight_decay=0.01,
        initial_accumulator_value=np.array([0.0, 0.1, 1.0]),
        eps=np.array([1e-10, 1e-8, 1e-6]),
    ),
    "adadelta": lambda: Adadelta(lr=np.array([0.5, 1.0, 2.0]), rho=np.array([0.8, 0.9, 0.95])),
    "adadelta_decay": lambda: Adadelta(weight_decay=0.01),
    "rmsprop": lambda: RMSprop(lr=LRS / 10),
    "rmsprop_centered_momentum": lambda: RMSprop(
        lr=LRS / 10,
        centered=True,
        momentum=0.5,
        alpha=np.array([0.9, 0.99, 0.999]),
        weight_decay=0.01,
    ),  # fmt: skip
    "adam": lambda: Adam(lr=LRS, betas=(np.array([0.8, 0.9, 0.95]), 0.99), weight_decay=0.01),
    "adam_amsgrad": lambda: Adam(lr=LRS, amsgrad=True),
    "adamw": lambda: AdamW(lr=LRS, weight_decay=np.array([0.0, 0.01, 0.1])),
    "adamw_amsgrad": lambda: AdamW(lr=0.01, amsgrad=True),
    "nadam": lambda: NAdam(lr=LRS, momentum_decay=np.array([4e-3, 1e-2, 0.1])),
    "nadam_decoupled": lambda: NAdam(lr=LRS, weight_decay=0.01, decoupled_weight_decay=True),
    "nadam_decay": lambda: NAdam(lr=0.01, weight_decay=0.01),
}


@pytest.mark.parametrize("batch_size", [None, 1, 8])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_and_option_trains_the_same_numbers(numba, name, batch_size):
    net = MLP([3, 6, 2], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    assert_same_run(*both(net, OPTIMIZERS[name], batch_size, epochs=4))


@pytest.mark.parametrize("name", ["sgd", "adam", "nadam"])
def test_a_single_replica_trains_the_same_numbers(numba, name):
    net = MLP([3, 6, 2], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    make = {"sgd": lambda: SGD(lr=0.1), "adam": lambda: Adam(lr=0.01), "nadam": NAdam}[name]
    assert_same_run(*both(net, make, batch_size=8, seed=7))


def test_a_schedule_trains_the_same_numbers(numba):
    net = MLP([3, 6, 2], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    runs = both(net, lambda: SGD(lr=LRS, momentum=0.5), 8, epochs=5, schedule=StepDecay(2, 0.3))
    assert_same_run(*runs)


def test_divergence_freeze_and_target_stop_are_the_same(numba):
    net = MLP([3, 8, 2], hidden="relu", output="identity", loss="half_squared_error")
    make = lambda: SGD(lr=np.array([0.02, 1e6, 0.05]))  # noqa: E731
    numpy_run, compiled_run = both(net, make, 8, epochs=40, target_loss=0.1)
    assert numpy_run.diverged_epoch.tolist() == [-1, 1, -1]
    assert 10 < numpy_run.epochs < 40  # the target stopped it
    assert_same_run(numpy_run, compiled_run)
    np.testing.assert_array_equal(compiled_run.params[0][1], net.init(SEEDS[1])[0][0])


@pytest.mark.parametrize("batch_size", [None, 1, 8])
def test_a_replica_alone_trains_the_numbers_it_trains_in_a_population(numba, batch_size):
    net = MLP([3, 6, 2], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    X, Y = data(net, 37, seed=0)
    lrs, betas = np.array([0.003, 0.01, 0.03]), np.array([0.8, 0.9, 0.95])
    run = dict(batch_size=batch_size, epochs=4, engine="compiled")
    together = train(net, Adam(lr=lrs, betas=(betas, 0.999)), X, Y, seed=SEEDS, **run)
    for k in range(3):
        alone = train(net, Adam(lr=lrs[k], betas=(betas[k], 0.999)), X, Y, seed=SEEDS[k], **run)
        np.testing.assert_array_equal(together.train_loss[:, k], alone.train_loss[:, 0])
        for p_together, p_alone in zip(together.params, alone.params, strict=True):
            np.testing.assert_array_equal(p_together[k], p_alone[0])


# ----------------------------------------------------------------- choosing the engine

NET = MLP([2, 5, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
X2 = np.random.default_rng(0).normal(size=(40, 2))
Y2 = (X2[:, :1] > 0).astype(float)


class MySGD(SGD):
    """A subclass the engine does not know: its rule may differ from SGD's."""


class ListSGD:
    def __init__(self, lr):
        self.lr = lr

    def init(self, params):
        return {}

    def step(self, params, grads, state):
        for p, g in zip(params, grads, strict=True):
            p -= self.lr * g


@pytest.mark.parametrize(
    ("optimizer", "kwargs", "why"),
    [
        (ListSGD(0.1), {}, "ListSGD is not one of the built-ins"),
        (MySGD(lr=0.1), {}, "MySGD is not one of the built-ins"),
        (SGD(lr=0.1), {"params": NET.init(0, dtype=np.float32)}, "float32"),
        (
            SGD(lr=0.1),
            {"X": np.stack([X2, X2]), "Y": np.stack([Y2, Y2]), "seed": [0, 1]},
            "its own data",
        ),
    ],  # fmt: skip
    ids=["user_optimizer", "unknown_subclass", "float32", "per_replica_data"],
)
def test_compiled_refuses_what_it_cannot_train_and_auto_trains_it_with_numpy(
    optimizer, kwargs, why
):
    args = {"X": X2, "Y": Y2, "batch_size": 8, "epochs": 2, **kwargs}
    with pytest.raises(ValueError, match=f"engine='compiled' cannot train this run: .*{why}"):
        train(NET, optimizer, engine="compiled", **args)
    auto = train(NET, optimizer, engine="auto", **args)
    numpy_run = train(NET, optimizer, engine="numpy", **args)
    np.testing.assert_array_equal(auto.train_loss, numpy_run.train_loss)


def test_without_numba_compiled_says_how_to_install_it_and_auto_trains_with_numpy(monkeypatch):
    monkeypatch.setattr(compiled, "available", lambda: False)
    with pytest.raises(ImportError, match=r"needs numba.*pip install 'backprop-bench\[fast\]'"):
        train(NET, SGD(lr=0.1), X2, Y2, batch_size=1, epochs=2, engine="compiled")
    engine, reason = compiled.resolve_engine("auto", SGD(lr=0.1), X2, 1)
    assert (engine, "numba is not installed") == ("numpy", reason[:22])
    auto = train(NET, SGD(lr=0.1), X2, Y2, batch_size=1, epochs=2, engine="auto")
    numpy_run = train(NET, SGD(lr=0.1), X2, Y2, batch_size=1, epochs=2, engine="numpy")
    np.testing.assert_array_equal(auto.train_loss, numpy_run.train_loss)


def test_auto_picks_compiled_for_small_steps_and_numpy_for_large(numba):
    """The step's largest product (a replica's batch x its largest weight matrix) decides,
    not K: the suite's digits in batches of 32 are compiled, their full batch is not, nor are
    wide layers in large batches, while one layer of 256 in batches of 32 still is."""
    resolve = compiled.resolve_engine
    assert resolve("auto", SGD(lr=0.1), X2, 1, population=25)[0] == "compiled"
    assert resolve("auto", Adam(), X2, 32, population=1)[0] == "compiled"
    assert resolve("auto", Adam(), X2, 32, population=256)[0] == "compiled"  # K does not decide
    digits, network = np.zeros((1078, 64)), [64, 32, 10]
    engine, reason = resolve("auto", Adam(), digits, 32, population=21, sizes=network)
    assert engine == "compiled"
    assert reason == ("batches of 32 x the largest layer, 64 x 32, = 65536 multiply-adds "
                      "< 2097152, where the compiled engine is faster")  # fmt: skip
    assert resolve("auto", SGD(lr=0.1), digits, None, 10, sizes=network)[0] == "numpy"
    moons = np.zeros((20_000, 2))  # a full batch of 1.3 M multiply-adds: compiled, 2x
    assert resolve("auto", SGD(lr=0.1), moons, None, sizes=[2, 32, 1])[0] == "compiled"
    wide = np.zeros((1000, 2))
    assert resolve("auto", Adam(), wide, 256, sizes=[2, 128, 128, 1])[0] == "numpy"
    assert resolve("auto", Adam(), wide, 32, sizes=[2, 256, 1])[0] == "compiled"
    X_big = np.zeros((50_000, 20))
    engine, reason = resolve("auto", SGD(lr=0.1), X_big, None, sizes=[20, 256, 256, 10])
    assert engine == "numpy"
    assert "batches of 50000 x the largest layer, 256 x 256, = 3276800000 multiply-adds" in reason
    assert resolve("numpy", SGD(lr=0.1), X2, 1) == ("numpy", "asked for")
    with pytest.raises(ValueError, match="engine must be one of .* got 'fast'"):
        resolve("fast", SGD(lr=0.1), X2, 1)


def test_a_per_replica_hyperparameter_of_another_population_is_refused(numba):
    with pytest.raises(ValueError, match="lr has 2 values but the population has K=3"):
        train(NET, SGD(lr=[0.1, 0.2]), X2, Y2, batch_size=1, seed=[0, 1, 2], engine="compiled")


def test_a_process_loading_the_cached_kernels_prints_nothing(numba):
    compiled.load()  # compiled (and cached) by now, in this process or before
    code = (
        "import numpy as np; from backprop import MLP, train; from backprop.optimizers import SGD;"
        "X = np.zeros((4, 2)); net = MLP([2, 1]);"
        "train(net, SGD(lr=0.1), X, X[:, :1], batch_size=1, epochs=1, engine='compiled')"
    )
    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_run_compiles_the_kernel_in_its_own_process_only_when_not_cached(numba, monkeypatch):
    import dataclasses

    from bench import runner
    from bench.suite import load_suite

    loads = []
    monkeypatch.setattr(compiled, "load", lambda: loads.append(1) or 0.0)
    suite = load_suite("quick", check_datasets=False)
    monkeypatch.setattr(compiled, "cached", lambda: False)
    assert runner.precompile(suite) and loads == [1]
    assert not runner.precompile(dataclasses.replace(suite, engine="numpy")) and loads == [1]
    monkeypatch.setattr(compiled, "cached", lambda: True)
    assert not runner.precompile(suite) and loads == [1]


def test_cached_finds_the_index_numba_wrote_for_this_source(numba):
    compiled.load()
    assert compiled.cached()


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu", "tanh"])
def test_a_nan_weight_spreads_as_in_numpy(numba, hidden):
    """A NaN parameter (a replica blowing up within an epoch) makes the same entries NaN
    after an epoch in both engines: the compiled relu keeps a NaN pre-activation NaN, as
    np.maximum does, instead of zeroing it, which would hide the blow-up from the loss. (An
    epoch of the engines alone: ``train`` would freeze the replica before it.)"""
    net = MLP([2, 5, 1], hidden=hidden, output="sigmoid", loss="binary_cross_entropy")
    X, Y = data(net, 8, seed=0)
    flat = net.flatten(net.init(seed=[0, 1]))
    flat[0, 1] = np.nan  # replica 0's W_1[0, 1]: hidden unit 1's input from x_0
    after = []
    for engine in ("numpy", "compiled"):
        loop = training._Loop(net, SGD(lr=0.1), flat.copy(), X, Y, None, None, [0, 1], 4, engine)
        loop._epoch()
        after.append(loop.flat)
    np.testing.assert_array_equal(np.isnan(after[1]), np.isnan(after[0]))
    assert np.isnan(after[0][0]).all() and not np.isnan(after[0][1]).any()


@pytest.mark.parametrize("batch_size", [1, 3, 13, 37])
def test_narrow_and_odd_layers_train_the_same_numbers_alone_and_together(numba, batch_size):
    """Layers of 1 to 3 units and widths that are not multiples of 4, in batches that leave
    every remainder of the kernel's blocks (8, 4 and 1 samples, 4 and 1 units or rows): the
    NumPy engine's numbers, and a replica's alone as in the population, bit for bit."""
    net = MLP([3, 9, 2, 5, 1], hidden="tanh", output="identity", loss="half_squared_error")
    make = lambda: Adam(lr=np.array([0.003, 0.01, 0.03]))  # noqa: E731
    numpy_run, compiled_run = both(net, make, batch_size)
    assert_same_run(numpy_run, compiled_run)
    X, Y = data(net, 37, seed=0)
    alone = train(net, Adam(lr=0.01), X, Y, batch_size=batch_size, epochs=3, seed=SEEDS[1],
                  engine="compiled")  # fmt: skip
    np.testing.assert_array_equal(alone.train_loss[:, 0], compiled_run.train_loss[:, 1])
    for p_alone, p_together in zip(alone.params, compiled_run.params, strict=True):
        np.testing.assert_array_equal(p_alone[0], p_together[1])


def test_plain_sgd_on_single_samples_steps_in_the_kernel_and_trains_the_same_numbers(numba):
    # batch 1, no momentum: the step is fused with the gradient for the replicas without
    # weight decay (replica 0 here), and taken after it for the others
    net = MLP([4, 7, 3], hidden="tanh", output="softmax", loss="softmax_cross_entropy")
    X, Y = data(net, 37, seed=0)  # both()'s training data
    decay = np.array([0.0, 0.01, 0.1])

    def make():
        return SGD(lr=np.array([0.05, 0.1, 0.2]), weight_decay=decay)

    numpy_run, compiled_run = both(net, make, batch_size=1, epochs=3)
    assert_same_run(numpy_run, compiled_run)
    alone = train(net, SGD(lr=0.05), X, Y, batch_size=1, epochs=3, seed=SEEDS[0], engine="compiled")
    np.testing.assert_array_equal(compiled_run.train_loss[:, 0], alone.train_loss[:, 0])
    for together, one in zip(compiled_run.params, alone.params, strict=True):
        np.testing.assert_array_equal(together[0], one[0])
