"""gradcheck: the hand-written backward agrees with finite differences, and gradcheck can fail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import MLP, gradcheck
from backprop.activations import HIDDEN, Activation, tanh
from backprop.losses import LOSSES, VALID_PAIRINGS, half_squared_error
from backprop.network import FACTOR_FROM_BATCH, RELU_FAMILY

PAIRINGS = [(output, loss) for output, losses in VALID_PAIRINGS.items() for loss in losses]
# Every relu input keeps this distance from the kink at 0: 100 times gradcheck's eps = 1e-4,
# so that no step of +-2 eps, however it propagates, moves a relu input across 0.
KINK_MARGIN = 1e-2


def hidden_preactivations(net: MLP, params: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """z_l = a_{l-1} @ W_l + b_l of every hidden layer, computed here from the definition."""
    a, zs = X, []
    for W, b in zip(params[:-2:2], params[1:-2:2], strict=True):
        z = a @ W + b
        zs.append(z)
        a = HIDDEN[net.hidden].forward(z)
    return zs


def relu_margin(net: MLP, params: list[np.ndarray], X: np.ndarray) -> float:
    """The smallest |z| over the inputs of the relu units; infinite when there are none."""
    if net.hidden not in RELU_FAMILY:
        return np.inf
    return min((np.abs(z).min() for z in hidden_preactivations(net, params, X)), default=np.inf)


def random_problem(net: MLP, population: int, n: int, per_replica: bool, seed: int):
    """Params with non-zero biases, inputs N(0, 1) and soft target rows (valid for every loss),
    resampled until every relu input is at least KINK_MARGIN away from its kink."""
    rng = np.random.default_rng(seed)
    m = net.sizes[-1]
    x_shape = (population, n, net.sizes[0]) if per_replica else (n, net.sizes[0])
    for _ in range(100):
        params = net.init(seed=int(rng.integers(2**31)), population=population)
        for b in params[1::2]:
            b[...] = rng.normal(0.0, 0.5, size=b.shape)
        X = rng.normal(size=x_shape)
        Y = rng.dirichlet(np.ones(m), size=x_shape[:-1])
        Y[..., -1] = 1 - Y[..., :-1].sum(axis=-1)  # one output: exactly 1, not 1 - 1e-16
        if relu_margin(net, params, X) >= KINK_MARGIN:
            return params, X, Y
    raise AssertionError(f"no sample of {net!r} kept its relu inputs {KINK_MARGIN} from 0")


@pytest.mark.slow
@pytest.mark.parametrize("population", [1, 3])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_backward_matches_finite_differences(hidden, output, loss, depth, population):
    sizes = [3] + [4] * (depth - 1) + [3]
    net = MLP(sizes, hidden=hidden, output=output, loss=loss)
    # a population gets its own X and Y per replica; the shared case is in the property test
    params, X, Y = random_problem(net, population, n=6, per_replica=population > 1, seed=depth)
    assert gradcheck(net, params, X, Y) < 1e-7


@pytest.mark.parametrize(("output", "loss"), [p for p in PAIRINGS if p[0] != "softmax"])
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_backward_matches_finite_differences_with_one_output(hidden, output, loss):
    # one output: delta_l @ W_l^T is an outer product, which the backward computes apart
    net = MLP([3, 4, 3, 1], hidden=hidden, output=output, loss=loss)
    params, X, Y = random_problem(net, population=2, n=6, per_replica=False, seed=4)
    assert gradcheck(net, params, X, Y) < 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("n", [FACTOR_FROM_BATCH - 1, FACTOR_FROM_BATCH, 40])
@pytest.mark.parametrize(("output", "loss"), [p for p in PAIRINGS if p[0] != "softmax"])
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_first_layer_under_one_output_unit_matches_finite_differences(hidden, output, loss, n):
    # from FACTOR_FROM_BATCH samples on, dE/dV_1 = w^T * (([x, 1] * delta)^T @ f'); below, the
    # outer product delta w^T is formed
    net = MLP([3, 5, 1], hidden=hidden, output=output, loss=loss)
    params, X, Y = random_problem(net, population=2, n=n, per_replica=False, seed=n)
    assert gradcheck(net, params, X, Y) < 1e-7


def test_the_relu_margin_sees_the_kink():
    net = MLP([1, 2, 1], hidden="relu")
    W1, b1, W2, b2 = net.init(seed=0)
    W1[0] = [[1.0, -2.0]]
    b1[0] = [[0.5, 0.003]]
    # x = 1: z = (1.5, -1.997); x = -0.5: z = (0, 1.003)
    assert relu_margin(net, [W1, b1, W2, b2], np.array([[1.0]])) == pytest.approx(1.5)
    assert relu_margin(net, [W1, b1, W2, b2], np.array([[1.0], [-0.5]])) == 0.0
    assert relu_margin(MLP([1, 2, 1], hidden="tanh"), [W1, b1, W2, b2], np.ones((1, 1))) == np.inf


# ----------------------------------------------------------------- gradcheck can fail


def test_a_wrong_activation_derivative_is_caught(monkeypatch):
    # tanh' = 1 - a^2; the slip 1 - a is wrong everywhere except at a = 0 and a = 1
    monkeypatch.setitem(HIDDEN, "tanh", Activation("tanh", tanh, lambda a: 1 - a))
    net = MLP([3, 4, 2], hidden="tanh", output="sigmoid", loss="half_squared_error")
    params, X, Y = random_problem(net, population=2, n=6, per_replica=False, seed=0)
    assert gradcheck(net, params, X, Y) > 0.05


def test_a_gradient_off_by_a_factor_gives_the_relative_error_of_that_factor(monkeypatch):
    # The loss doubled but not its backward: numeric n = 2a, so |a - n| / (|a| + |n|) = 1/3
    doubled = LOSSES["half_squared_error"]._replace(
        value=lambda z, yhat, y: 2 * half_squared_error(z, yhat, y)
    )
    monkeypatch.setitem(LOSSES, "half_squared_error", doubled)
    net = MLP([3, 4, 2], hidden="tanh", output="identity", loss="half_squared_error")
    params, X, Y = random_problem(net, population=2, n=6, per_replica=False, seed=0)
    assert gradcheck(net, params, X, Y) == pytest.approx(1 / 3, rel=1e-6)


def test_one_wrong_entry_is_found(monkeypatch):
    net = MLP([3, 4, 2], hidden="sigmoid", output="softmax", loss="softmax_cross_entropy")
    params, X, Y = random_problem(net, population=3, n=6, per_replica=False, seed=0)
    honest = net.loss_and_grad

    def one_entry_doubled(params, X, Y):
        loss, grads = honest(params, X, Y)
        grads[2][2, 3, 1] *= 3  # dE/dW2 of replica 2, from hidden unit 3 to output 1
        return loss, grads

    monkeypatch.setattr(net, "loss_and_grad", one_entry_doubled)
    # |3a - a| / (|3a| + |a|) = 1/2, up to the finite-difference error in n
    assert gradcheck(net, params, X, Y) == pytest.approx(0.5, rel=1e-6)


def test_crossing_a_relu_kink_shows_as_an_error():
    # one relu unit with z = b1 = 1e-4 (x = 0): a step of eps = 1e-4 reaches the kink and
    # 2 eps crosses it; a step below |z| / 4 does not. yhat = z, y = 0 keeps the loss tiny,
    # so that rounding does not swamp the small entry dE/dW2 = h delta = 1e-8.
    net = MLP([1, 1, 1], hidden="relu", output="identity")
    W1, b1, W2, b2 = net.init(seed=0)
    W1[...], b1[...], W2[...], b2[...] = 1.0, 1e-4, 1.0, 0.0
    X, Y = np.zeros((1, 1)), np.zeros((1, 1))
    assert gradcheck(net, [W1, b1, W2, b2], X, Y) > 0.01
    assert gradcheck(net, [W1, b1, W2, b2], X, Y, eps=2e-5) < 1e-9


def test_gradcheck_leaves_params_alone_and_rejects_a_bad_eps():
    net = MLP([2, 3, 1], hidden="tanh")
    params, X, Y = random_problem(net, population=2, n=4, per_replica=False, seed=0)
    before = [p.copy() for p in params]
    gradcheck(net, params, X, Y)
    for p, q in zip(params, before, strict=True):
        np.testing.assert_array_equal(p, q)
    for eps in (0.0, -1e-4):
        with pytest.raises(ValueError, match=f"eps must be > 0, got {eps}"):
            gradcheck(net, params, X, Y, eps=eps)


# ----------------------------------------------------------------- property test


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    population=st.integers(1, 4),
    n=st.integers(1, 8),
    hidden=st.sampled_from(list(HIDDEN)),
    smooth=st.sampled_from(["tanh", "sigmoid"]),
    pairing=st.sampled_from(PAIRINGS),
    per_replica=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_networks_have_consistent_shapes_and_gradients(
    sizes, population, n, hidden, smooth, pairing, per_replica, seed
):
    output, loss = pairing
    net = MLP(sizes, hidden=hidden, output=output, loss=loss)
    params, X, Y = random_problem(net, population, n, per_replica, seed)
    value, grads = net.loss_and_grad(params, X, Y)
    assert value.shape == (population,)
    assert [g.shape for g in grads] == [p.shape for p in params]
    assert np.isfinite(value).all() and (value >= 0).all()
    assert all(np.isfinite(g).all() for g in grads)
    assert net.predict(params, X).shape == (population, n, sizes[-1])
    np.testing.assert_allclose(net.loss_value(params, X, Y), value, rtol=1e-15)
    # Random shapes make some entries tiny (a width-1 layer, a saturated sigmoid): eps = 1e-3
    # cuts the rounding in n tenfold (the truncation, O(eps^4), stays below it), and entries
    # under a millionth of the largest are measured against that millionth.
    smooth_net = MLP(sizes, hidden=smooth, output=output, loss=loss)
    _, smooth_grads = smooth_net.loss_and_grad(params, X, Y)
    floor = max(1e-6 * max(np.abs(g).max() for g in smooth_grads), 1e-12)
    assert gradcheck(smooth_net, params, X, Y, eps=1e-3, tiny=floor) < 1e-6
