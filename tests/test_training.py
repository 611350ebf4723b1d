"""train(): batching regimes, records, divergence, early stop, schedules, population equivalence."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import proc_status_mib

import backprop.training as training
from backprop import MLP, train
from backprop.optimizers import SGD, Adam
from backprop.schedules import Exponential, StepDecay


def moons_like(n: int = 70, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    return X, Y


NET = MLP([2, 5, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")


def manual_sgd(net, X, Y, seed, lr, batch, epochs):
    """The textbook loop written out: shuffle from the replica's seed, step on each batch."""
    params = net.init(seed)
    rng = np.random.default_rng([seed, 1])
    n = len(X)
    for _ in range(epochs):
        order = rng.permutation(n) if batch < n else np.arange(n)
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            _, grads = net.loss_and_grad(params, X[rows], Y[rows])
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
    return params


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"), [(None, 1), (70, 1), (500, 1), (1, 70), (32, 3), (8, 9)]
)
def test_batching_regime_sets_steps_and_samples(batch_size, steps_per_epoch):
    X, Y = moons_like(70)
    history = train(NET, SGD(lr=0.1), X, Y, batch_size=batch_size, epochs=3, seed=0)
    np.testing.assert_array_equal(history.steps, np.arange(4) * steps_per_epoch)
    np.testing.assert_array_equal(history.samples, np.arange(4) * 70)
    assert history.train_loss.shape == (4, 1)
    assert history.val_loss is None


@pytest.mark.parametrize("batch_size", [70, 32, 1])
def test_training_equals_the_loop_written_out(batch_size):
    """Full batch, mini-batches with a partial last batch (32, 32, 6) and single samples."""
    X, Y = moons_like(70)
    history = train(NET, SGD(lr=0.3), X, Y, batch_size=batch_size, epochs=3, seed=4)
    expected = manual_sgd(NET, X, Y, seed=4, lr=0.3, batch=batch_size, epochs=3)
    for got, want in zip(history.params, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_recorded_loss_is_the_full_training_set_loss_at_epoch_end():
    X, Y = moons_like(70)
    X_val, Y_val = moons_like(30, seed=1)
    history = train(NET, Adam(lr=0.01), X, Y, batch_size=16, epochs=4, X_val=X_val, Y_val=Y_val)
    np.testing.assert_allclose(history.train_loss[-1], NET.loss_value(history.params, X, Y))
    np.testing.assert_allclose(history.val_loss[-1], NET.loss_value(history.params, X_val, Y_val))
    np.testing.assert_allclose(history.train_loss[0], NET.loss_value(NET.init(0), X, Y))
    assert history.train_loss[-1, 0] < history.train_loss[0, 0]


def test_seconds_are_cumulative_training_time():
    X, Y = moons_like(70)
    history = train(NET, SGD(lr=0.1), X, Y, batch_size=8, epochs=5)
    assert history.seconds[0] == 0
    assert np.all(np.diff(history.seconds) > 0)


@pytest.mark.parametrize("batch_size", [None, 1, 8, 32])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_population_equals_trials_trained_alone(batch_size, optimizer):
    X, Y = moons_like(40)
    X_val, Y_val = moons_like(20, seed=1)
    lrs, seeds = np.array([0.003, 0.03, 0.3]), [7, 8, 11]
    together = train(
        NET,
        optimizer(lr=lrs),
        X,
        Y,
        batch_size=batch_size,
        epochs=4,
        seed=seeds,
        X_val=X_val,
        Y_val=Y_val,
    )
    for k, (lr, seed) in enumerate(zip(lrs, seeds, strict=True)):
        alone = train(
            NET,
            optimizer(lr=lr),
            X,
            Y,
            batch_size=batch_size,
            epochs=4,
            seed=seed,
            X_val=X_val,
            Y_val=Y_val,
        )
        np.testing.assert_allclose(together.train_loss[:, k], alone.train_loss[:, 0], rtol=1e-10)
        np.testing.assert_allclose(together.val_loss[:, k], alone.val_loss[:, 0], rtol=1e-10)
        for p_together, p_alone in zip(together.params, alone.params, strict=True):
            np.testing.assert_allclose(p_together[k], p_alone[0], rtol=1e-10, atol=1e-13)


def test_a_full_batch_in_chunks_trains_each_replica_as_alone():
    net = MLP([2, 5, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    net.chunk_rows = 16  # the 40 samples in chunks of 16, 16 and 8
    X, Y = moons_like(40)
    lrs, seeds = np.array([0.01, 0.1, 1.0]), [7, 8, 11]
    together = train(net, Adam(lr=lrs), X, Y, batch_size=None, epochs=5, seed=seeds)
    for k, (lr, seed) in enumerate(zip(lrs, seeds, strict=True)):
        alone = train(net, Adam(lr=lr), X, Y, batch_size=None, epochs=5, seed=seed)
        np.testing.assert_allclose(together.train_loss[:, k], alone.train_loss[:, 0], rtol=1e-10)
    # and the chunks give the whole batch's gradient: the same run as without chunks
    unchunked = MLP([2, 5, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    whole = train(unchunked, Adam(lr=lrs), X, Y, batch_size=None, epochs=5, seed=seeds)
    np.testing.assert_allclose(together.train_loss, whole.train_loss, rtol=1e-10)


@pytest.mark.parametrize("per_replica", [False, True], ids=["shared", "per_replica"])
def test_each_replica_follows_the_loop_written_out(per_replica):
    data = [moons_like(40, seed=k if per_replica else 0) for k in range(2)]
    X = np.stack([x for x, _ in data]) if per_replica else data[0][0]
    Y = np.stack([y for _, y in data]) if per_replica else data[0][1]
    history = train(NET, SGD(lr=0.3), X, Y, batch_size=16, epochs=3, seed=[4, 9])
    for k, (seed, (X_k, Y_k)) in enumerate(zip([4, 9], data, strict=True)):
        expected = manual_sgd(NET, X_k, Y_k, seed=seed, lr=0.3, batch=16, epochs=3)
        for got, want in zip(history.params, expected, strict=True):
            np.testing.assert_allclose(got[k], want[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("per_replica", [False, True], ids=["shared", "per_replica"])
def test_batches_gathered_one_by_one_equal_those_of_an_epoch_gathered_at_once(per_replica):
    # under gather_limit (default GATHER_LIMIT) an epoch is gathered at once, above it batch
    # by batch: the same batches (16, 16 and the last 8 samples) in every epoch
    X, Y = moons_like(40)
    if per_replica:
        X, Y = np.stack([X, X[::-1], -X]), np.stack([Y, Y[::-1], 1 - Y])
    seeds = [4, 9, 4]
    whole = training.Shuffler(seeds, X, Y, batch=16)
    one_by_one = training.Shuffler(seeds, X, Y, batch=16, gather_limit=0)
    assert whole.gather_all and not one_by_one.gather_all
    orders = [np.random.default_rng([s, training.SHUFFLE_STREAM]) for s in seeds]
    for _ in range(2):
        order = np.stack([rng.permutation(40) for rng in orders])  # (K, n), as train draws it
        batches = list(zip(whole.batches(), one_by_one.batches(), strict=True))
        assert [X_w.shape for (X_w, _), _ in batches] == [(3, 16, 2), (3, 16, 2), (3, 8, 2)]
        for start, ((X_w, Y_w), (X_o, Y_o)) in zip((0, 16, 32), batches, strict=True):
            np.testing.assert_array_equal(X_o, X_w)
            np.testing.assert_array_equal(Y_o, Y_w)
            for k in range(3):  # replica k's rows of its own data, in its own seed's order
                rows = order[k, start : start + 16]
                np.testing.assert_array_equal(X_w[k], (X[k] if per_replica else X)[rows])
                np.testing.assert_array_equal(Y_w[k], (Y[k] if per_replica else Y)[rows])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_a_run_hands_its_freed_temporaries_back_to_the_system():
    # glibc keeps up to 512 MiB of freed temporaries for reuse while a run lasts; a full batch
    # of 20,000 x 256 makes about 200 MiB of them, which train() returns when it ends
    net = MLP([8, 256, 256, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    X = np.random.default_rng(0).normal(size=(20_000, 8))
    Y = (X[:, :1] > 0).astype(float)
    before = proc_status_mib("VmRSS")
    train(net, SGD(lr=0.1), X, Y, batch_size=None, epochs=1)
    assert proc_status_mib("VmRSS") - before < 40


def test_replicas_shuffle_from_their_own_seeds():
    X, Y = moons_like(40)
    history = train(NET, SGD(lr=0.1), X, Y, batch_size=4, epochs=2, seed=[3, 3, 4])
    a, b, c = (history.params[0][k] for k in range(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_diverging_replica_is_frozen_and_the_others_train_on():
    X, Y = moons_like(40)
    net = MLP([2, 8, 1], hidden="relu", output="identity", loss="half_squared_error")
    lrs = np.array([0.01, 1e6, 0.05])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floods of RuntimeWarning from NumPy
        history = train(net, SGD(lr=lrs), X, Y, batch_size=8, epochs=5, seed=[0, 1, 2])
    assert history.diverged_epoch.tolist() == [-1, 1, -1]
    assert np.isnan(history.train_loss[1:, 1]).all()
    assert np.isfinite(history.train_loss[0, 1])
    assert np.isfinite(history.params[0][1]).all()  # kept from before the divergence
    np.testing.assert_array_equal(history.params[0][1], net.init(1)[0][0])
    alone = train(net, SGD(lr=0.05), X, Y, batch_size=8, epochs=5, seed=2)
    np.testing.assert_allclose(history.train_loss[:, 2], alone.train_loss[:, 0], rtol=1e-10)


def test_loss_above_a_thousand_times_the_start_counts_as_diverged():
    X, Y = moons_like(40)
    net = MLP([2, 1], hidden="relu", output="identity", loss="half_squared_error")
    history = train(net, SGD(lr=1.2), X * 10, Y, batch_size=None, epochs=30, seed=0)
    e = history.diverged_epoch[0]
    assert e > 0
    finite = history.train_loss[:e, 0]
    assert np.all(finite <= 1e3 * finite[0])
    assert np.isnan(history.train_loss[e:, 0]).all()


def test_target_loss_stops_once_every_replica_reached_it_or_diverged():
    X, Y = moons_like(70)
    lrs = np.array([0.05, 0.1, 1e9])
    history = train(
        NET, Adam(lr=lrs), X, Y, batch_size=8, epochs=200, seed=[0, 1, 2], target_loss=0.3
    )
    assert history.epochs < 200
    assert history.train_loss.shape == (history.epochs + 1, 3)
    last = history.train_loss[-1]
    assert np.all(last[:2] <= 0.3)
    assert history.train_loss[-2, :2].max() > 0.3  # it stopped at the first epoch it could
    assert history.diverged_epoch[2] > 0


def test_schedule_scales_the_base_lr_each_epoch_and_restores_it():
    X, Y = moons_like(30)
    opt = SGD(lr=0.5)
    history = train(NET, opt, X, Y, batch_size=None, epochs=3, schedule=Exponential(0.5))
    assert opt.lr == 0.5
    params = NET.init(0)
    for epoch in range(3):
        _, grads = NET.loss_and_grad(params, X, Y)
        for p, g in zip(params, grads, strict=True):
            p -= 0.5 * 0.5**epoch * g
    for got, want in zip(history.params, params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_schedule_works_with_a_per_replica_lr():
    X, Y = moons_like(30)
    lrs = np.array([0.1, 0.4])
    together = train(
        NET, SGD(lr=lrs), X, Y, batch_size=10, epochs=4, seed=[0, 1], schedule=StepDecay(2, 0.1)
    )
    alone = train(
        NET, SGD(lr=0.4), X, Y, batch_size=10, epochs=4, seed=1, schedule=StepDecay(2, 0.1)
    )
    np.testing.assert_allclose(together.train_loss[:, 1], alone.train_loss[:, 0], rtol=1e-10)


class ListSGD:
    """A user's optimizer without ``elementwise``: stepped over the list of arrays."""

    def __init__(self, lr):
        self.lr = lr

    def init(self, params):
        self.shapes = [p.shape for p in params]
        return {}

    def step(self, params, grads, state):
        for p, g in zip(params, grads, strict=True):
            p -= self.lr * g


def test_user_optimizer_gets_the_parameter_list():
    X, Y = moons_like(40)
    user = ListSGD(0.2)
    ours = train(NET, SGD(lr=0.2), X, Y, batch_size=8, epochs=3)
    theirs = train(NET, user, X, Y, batch_size=8, epochs=3)
    assert user.shapes == [p.shape for p in NET.init(0)]
    np.testing.assert_allclose(theirs.train_loss, ours.train_loss, rtol=1e-12)


def test_training_starts_from_given_params_without_changing_them():
    X, Y = moons_like(40)
    start = NET.init(9)
    before = [p.copy() for p in start]
    history = train(NET, SGD(lr=0.1), X, Y, batch_size=None, epochs=1, seed=9, params=start)
    for p, q in zip(start, before, strict=True):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(history.train_loss[0], NET.loss_value(start, X, Y))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be >= 1 or None .* got 0"),
        ({"batch_size": 2.5}, "batch_size must be an int >= 1 or None .* got 2.5"),
        ({"epochs": -1}, "epochs must be an int >= 0, got -1"),
        ({"target_loss": -1.0}, "target_loss must be > 0 or None, got -1.0"),
        ({"X_val": np.zeros((3, 2))}, "give both X_val and Y_val"),
        ({"seed": -3}, "seed must be >= 0, got -3"),
        ({"seed": [1, 2], "population": 3}, "population=3 does not match the 2 seeds"),
    ],
)
def test_bad_arguments_are_rejected_with_their_value(kwargs, message):
    X, Y = moons_like(20)
    with pytest.raises(ValueError, match=message):
        train(NET, SGD(lr=0.1), X, Y, **kwargs)


def test_a_schedule_needs_an_lr_attribute():
    class NoLR:
        def init(self, params):
            return {}

        def step(self, params, grads, state):
            pass

    X, Y = moons_like(20)
    with pytest.raises(ValueError, match="needs an optimizer with an lr attribute"):
        train(NET, NoLR(), X, Y, schedule=Exponential(0.9))


def noisy_sine(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """A few noisy samples of sin on [-2, 2], that a wide network fits and then overfits."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    return X, np.sin(X) + noise * rng.normal(size=(n, 1))


SINE_NET = MLP([1, 32, 1], hidden="tanh")


def test_best_epoch_is_the_first_lowest_finite_validation_row():
    X, Y = noisy_sine(12, seed=0, noise=0.5)
    X_val, Y_val = noisy_sine(100, seed=1, noise=0.0)
    lrs = np.array([0.01, 0.03, 0.0, 0.1, 1e6])  # lr 0: every row ties with row 0
    history = train(
        SINE_NET,
        Adam(lr=lrs),
        X,
        Y,
        batch_size=4,
        epochs=30,
        seed=[0, 1, 2, 3, 4],
        X_val=X_val,
        Y_val=Y_val,
    )
    assert history.best_epoch.shape == (5,)
    assert np.isnan(history.val_loss[1:, 4]).all()  # the lr 1e6 replica diverged at row 1
    assert history.val_loss[0, 2] == history.val_loss[-1, 2]
    expected = [int(np.nanargmin(history.val_loss[:, k])) for k in range(5)]
    assert history.best_epoch.tolist() == expected
    assert history.best_epoch[2] == 0 and history.best_epoch[4] == 0
    assert np.all((history.best_epoch[[0, 1, 3]] > 0) & (history.best_epoch[[0, 1, 3]] < 30))
    # best_params give the recorded validation loss of their row
    best_val = history.val_loss[history.best_epoch, np.arange(5)]
    got = SINE_NET.loss_value(history.best_params, X_val, Y_val)
    np.testing.assert_allclose(got, best_val, rtol=1e-12)


def test_best_params_are_the_params_after_best_epoch_epochs():
    X, Y = noisy_sine(12, seed=0, noise=0.5)
    X_val, Y_val = noisy_sine(100, seed=1, noise=0.0)
    run = {"batch_size": 4, "seed": [0, 1, 2, 3], "X_val": X_val, "Y_val": Y_val}
    history = train(SINE_NET, Adam(lr=0.01), X, Y, epochs=30, **run)
    best = history.best_epoch
    assert np.all((best > 0) & (best < 30))  # validation loss rose after the best row
    assert len(set(best.tolist())) > 1
    for k, epochs in enumerate(best.tolist()):
        shorter = train(SINE_NET, Adam(lr=0.01), X, Y, epochs=epochs, **run)
        for p_best, p_shorter in zip(history.best_params, shorter.params, strict=True):
            np.testing.assert_array_equal(p_best[k], p_shorter[k])


def orthogonal_regression(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Centred, orthogonal features of scales 3 and 1 and an exactly linear target: full-batch
    GD moves each weight on its own, along curvatures 9 (feature 0), 1 (feature 1 and bias)."""
    A = np.random.default_rng(0).normal(size=(n, 2))
    Q, _ = np.linalg.qr(A - A.mean(axis=0))  # orthonormal columns, still centred
    X = Q * np.sqrt(n) * np.array([3.0, 1.0])
    return X, X @ np.array([[0.1], [2.0]]) + 1.0


def test_a_diverging_replica_keeps_its_best_row_before_the_divergence():
    # with lr 0.235 > 2 / 9, the feature-0 weight oscillates ever wider until the training
    # loss passes 1e3 x row 0, while the feature-1 weight and the bias converge. The
    # validation inputs have no feature 0, so their loss falls at every row up to the
    # divergence: the best row is the one before it, never the diverged row itself.
    X, Y = orthogonal_regression()
    X_val, Y_val = X * np.array([0.0, 1.0]), Y - X[:, :1] * 0.1
    net = MLP([2, 1], output="identity")
    lrs, seeds = np.array([0.1, 0.235, 1e6]), [0, 1, 2]
    run = {"batch_size": None, "X_val": X_val, "Y_val": Y_val}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        together = train(net, SGD(lr=lrs), X, Y, epochs=60, seed=seeds, **run)
    diverged, best = together.diverged_epoch, together.best_epoch
    assert diverged[0] == -1 and 10 < diverged[1] < 60 and diverged[2] == 1
    assert np.all(np.diff(together.val_loss[: diverged[1], 1]) < 0)
    assert best[1] == diverged[1] - 1
    assert best[2] == 0
    for p in together.best_params:
        assert np.isfinite(p).all()
    for p_best, p_init in zip(together.best_params, net.init(seeds), strict=True):
        np.testing.assert_array_equal(p_best[2], p_init[2])
    shorter = train(net, SGD(lr=lrs), X, Y, epochs=int(best[1]), seed=seeds, **run)
    for p_best, p_shorter in zip(together.best_params, shorter.params, strict=True):
        np.testing.assert_array_equal(p_best[1], p_shorter[1])
    for k, (lr, seed) in enumerate(zip(lrs, seeds, strict=True)):
        alone = train(net, SGD(lr=lr), X, Y, epochs=60, seed=seed, **run)
        assert alone.best_epoch[0] == best[k]
        for p_together, p_alone in zip(together.best_params, alone.best_params, strict=True):
            np.testing.assert_allclose(p_together[k], p_alone[0], rtol=1e-10, atol=1e-13)


def test_a_replica_without_a_finite_validation_loss_keeps_row_0_and_its_initial_params():
    X, Y = noisy_sine(12, seed=0, noise=0.5)
    X_val, Y_val = noisy_sine(100, seed=1, noise=0.0)
    X_val = np.stack([X_val, X_val * 1e300])  # replica 1's outputs overflow: its loss is inf
    net = MLP([1, 8, 1], hidden="relu")
    history = train(
        net, Adam(lr=0.01), X, Y, batch_size=4, epochs=10, seed=[0, 1], X_val=X_val, Y_val=Y_val
    )
    assert np.isfinite(history.val_loss[:, 0]).all()
    assert not np.isfinite(history.val_loss[:, 1]).any()
    assert history.diverged_epoch.tolist() == [-1, -1]
    assert history.best_epoch[0] > 0 and history.best_epoch[1] == 0
    for p_best, p_init in zip(history.best_params, net.init([0, 1]), strict=True):
        np.testing.assert_array_equal(p_best[1], p_init[1])


def test_best_params_do_not_alias_the_trained_params():
    X, Y = moons_like(70)
    X_val, Y_val = moons_like(30, seed=1)
    history = train(NET, Adam(lr=0.01), X, Y, batch_size=16, epochs=3, X_val=X_val, Y_val=Y_val)
    assert history.best_epoch.tolist() == [3]  # the same values as the trained params
    trained = [p.copy() for p in history.params]
    for p_best, p, p_copy in zip(history.best_params, history.params, trained, strict=True):
        assert p_best.shape == p.shape
        np.testing.assert_array_equal(p_best, p)
        p_best += 1.0
        np.testing.assert_array_equal(p, p_copy)
        p -= 5.0
        np.testing.assert_array_equal(p_best, p_copy + 1.0)


def test_without_validation_data_there_is_no_best_epoch_or_params():
    X, Y = moons_like(40)
    history = train(NET, SGD(lr=0.1), X, Y, batch_size=8, epochs=2)
    assert history.best_epoch is None
    assert history.best_params is None


def test_after_a_target_loss_stop_the_best_row_is_among_the_rows_trained():
    X, Y = moons_like(70)
    X_val, Y_val = moons_like(30, seed=1)
    lrs = np.array([0.05, 0.1, 1e9])
    run = {"batch_size": 8, "seed": [0, 1, 2], "X_val": X_val, "Y_val": Y_val}
    history = train(NET, Adam(lr=lrs), X, Y, epochs=200, target_loss=0.3, **run)
    assert history.epochs < 200
    assert np.all(history.best_epoch <= history.epochs)
    expected = [int(np.nanargmin(history.val_loss[:, k])) for k in range(3)]
    assert history.best_epoch.tolist() == expected
    assert history.best_epoch[2] == 0  # diverged at row 1
    shorter = train(NET, Adam(lr=lrs), X, Y, epochs=int(history.best_epoch[0]), **run)
    for p_best, p_shorter in zip(history.best_params, shorter.params, strict=True):
        np.testing.assert_array_equal(p_best[0], p_shorter[0])
