"""reference.py: the plain backprop of one replica agrees with finite differences, and the
fast path (network.py) agrees with it replica by replica, through every branch."""

from __future__ import annotations

import numpy as np
import pytest

from backprop import MLP, reference
from backprop.activations import HIDDEN
from backprop.losses import LOSSES, VALID_PAIRINGS
from backprop.network import FACTOR_FROM_BATCH, RELU_FAMILY

PAIRINGS = [(output, loss) for output, losses in VALID_PAIRINGS.items() for loss in losses]
ONE_OUTPUT_PAIRINGS = [p for p in PAIRINGS if p[0] != "softmax"]
K = 3
RTOL = 1e-12  # fast path against reference: the same equations, summed in another order
KINK_MARGIN = 1e-2  # relu inputs stay this far from 0, 100 x the finite-difference step


def replica(params: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Replica k's [W1, b1, ...] squeezed to W_l (fan_in, fan_out) and b_l (fan_out,)."""
    return [p[k] if i % 2 == 0 else p[k, 0] for i, p in enumerate(params)]


def hidden_inputs(net: MLP, params: list[np.ndarray], X: np.ndarray) -> list[np.ndarray]:
    """z_l of every hidden layer of one replica, from the definition."""
    a, zs = X, []
    for W, b in zip(params[:-2:2], params[1:-2:2], strict=True):
        zs.append(a @ W + b)
        a = HIDDEN[net.hidden].forward(zs[-1])
    return zs


def problem(net: MLP, n: int, per_replica: bool, seed: int, margin: float = 0.0):
    """K replicas with non-zero biases, inputs N(0, 1) and soft targets valid for every loss,
    resampled until every relu input of every replica is ``margin`` away from 0 (for finite
    differences; the fast path and the reference take the same side of the kink anyway)."""
    rng = np.random.default_rng(seed)
    shape = (K, n, net.sizes[0]) if per_replica else (n, net.sizes[0])
    for _ in range(100):
        params = net.init(seed=int(rng.integers(2**31)), population=K)
        for b in params[1::2]:
            b[...] = rng.normal(0.0, 0.5, size=b.shape)
        X = rng.normal(size=shape)
        Y = rng.dirichlet(np.ones(net.sizes[-1]), size=shape[:-1])
        Y[..., -1] = 1 - Y[..., :-1].sum(axis=-1)  # one output: exactly 1
        Xs = X if per_replica else [X] * K
        zs = [z for k in range(K) for z in hidden_inputs(net, replica(params, k), Xs[k])]
        if net.hidden not in RELU_FAMILY or min(np.abs(z).min() for z in zs) >= margin:
            return params, X, Y
    raise AssertionError(f"no sample of {net!r} kept its relu inputs {margin} from 0")


def assert_close(got: list[np.ndarray], want: list[np.ndarray], rtol: float = RTOL) -> None:
    """Every array within rtol of the reference, entries near 0 within rtol of its largest."""
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())


def assert_replicas_match_reference(net, params, X, Y, loss, grads) -> None:
    """Replica k of the fast path's (loss, grads) equals the reference on replica k's data."""
    for k in range(K):
        X_k, Y_k = (X[k], Y[k]) if X.ndim == 3 else (X, Y)
        E, expected = reference.loss_and_grad(net, replica(params, k), X_k, Y_k)
        assert isinstance(E, float)
        assert loss[k] == pytest.approx(E, rel=RTOL)
        assert_close(replica(grads, k), expected)


def central_difference(net, params, X, Y, eps=1e-4) -> list[np.ndarray]:
    """dE/dtheta of the reference's own loss, by the fourth-order central difference."""
    work = [p.copy() for p in params]
    numeric = []
    for p in work:
        d = np.empty_like(p)
        for index in np.ndindex(p.shape):
            saved, E = p[index], {}
            for step in (-2, -1, 1, 2):
                p[index] = saved + step * eps
                E[step] = reference.loss_and_grad(net, work, X, Y)[0]
            p[index] = saved
            d[index] = (8 * (E[1] - E[-1]) - (E[2] - E[-2])) / (12 * eps)
        numeric.append(d)
    return numeric


# ----------------------------------------------------------------- the reference itself


@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_reference_matches_finite_differences(hidden, output, loss):
    net = MLP([3, 4, 3, 2], hidden=hidden, output=output, loss=loss)
    params, X, Y = problem(net, n=6, per_replica=False, seed=1, margin=KINK_MARGIN)
    one = replica(params, 0)
    _, grads = reference.loss_and_grad(net, one, X, Y)
    assert_close(grads, central_difference(net, one, X, Y), rtol=1e-7)


@pytest.mark.parametrize(("output", "loss"), ONE_OUTPUT_PAIRINGS)
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_reference_matches_finite_differences_with_one_output(hidden, output, loss):
    net = MLP([3, 4, 1], hidden=hidden, output=output, loss=loss)
    params, X, Y = problem(net, n=6, per_replica=False, seed=2, margin=KINK_MARGIN)
    one = replica(params, 1)
    _, grads = reference.loss_and_grad(net, one, X, Y)
    assert_close(grads, central_difference(net, one, X, Y), rtol=1e-7)


def test_reference_loss_is_the_mean_of_the_per_sample_losses():
    # the classic 2-2-2 example (sigmoid hidden units), its one sample twice: the mean is its loss
    net = MLP([2, 2, 2], hidden="sigmoid", output="sigmoid", loss="half_squared_error")
    W1, b1 = np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([0.35, 0.35])
    W2, b2 = np.array([[0.40, 0.50], [0.45, 0.55]]), np.array([0.60, 0.60])
    X, Y = np.array([[0.05, 0.10], [0.05, 0.10]]), np.array([[0.01, 0.99], [0.01, 0.99]])
    E, grads = reference.loss_and_grad(net, [W1, b1, W2, b2], X, Y)
    # the published numbers: E_total, dE/dw5 (W2_11) and dE/dw1 (W1_11)
    assert E == pytest.approx(0.298371109, rel=1e-8)
    assert grads[2][0, 0] == pytest.approx(0.082167041, rel=1e-8)
    assert grads[0][0, 0] == pytest.approx(0.000438568, rel=1e-5)
    assert [g.shape for g in grads] == [(2, 2), (2,), (2, 2), (2,)]


# ----------------------------------------------------------------- the fast path against it


@pytest.mark.parametrize("per_replica", [False, True], ids=["shared", "per_replica"])
@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_loss_and_grad_of_each_replica_equals_the_reference(hidden, output, loss, per_replica):
    net = MLP([3, 5, 4, 2], hidden=hidden, output=output, loss=loss)
    params, X, Y = problem(net, n=7, per_replica=per_replica, seed=3)
    value, grads = net.loss_and_grad(params, X, Y)
    assert_replicas_match_reference(net, params, X, Y, value, grads)


@pytest.mark.slow
@pytest.mark.parametrize("n", [FACTOR_FROM_BATCH - 1, FACTOR_FROM_BATCH, 40])
@pytest.mark.parametrize(
    ("sizes", "output", "loss"),
    [([3, 6, 1], *p) for p in ONE_OUTPUT_PAIRINGS] + [([3, 6, 1, 2], *p) for p in PAIRINGS],
)
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_a_one_unit_layer_2_equals_the_reference_in_either_first_layer_form(
    hidden, sizes, output, loss, n
):
    # from FACTOR_FROM_BATCH samples on, the fast path factors dE/dV_1 under a one-unit layer
    # 2 (the output of 3-6-1, a hidden layer of 3-6-1-2); below, it forms the outer product
    net = MLP(sizes, hidden=hidden, output=output, loss=loss)
    params, X, Y = problem(net, n=n, per_replica=False, seed=n)
    value, grads = net.loss_and_grad(params, X, Y)
    assert_replicas_match_reference(net, params, X, Y, value, grads)


@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
@pytest.mark.parametrize("sizes", [[3, 6, 5, 2], [3, 6, 1, 2]])
@pytest.mark.parametrize("hidden", list(HIDDEN))
def test_a_batch_in_chunks_equals_the_reference(hidden, sizes, output, loss):
    # 40 rows in chunks of 16, 16 and 8 (with a one-unit layer 2: factored, then not)
    net = MLP(sizes, hidden=hidden, output=output, loss=loss)
    params, X, Y = problem(net, n=40, per_replica=True, seed=5)
    flat = net.flatten(params)
    grads = net.augmented(np.full_like(flat, np.nan))
    X1 = net.with_bias_column(X)
    net.gradient_into(net.augmented(flat), X1, Y, grads, chunk_rows=FACTOR_FROM_BATCH)
    value = net.evaluate(net.augmented(flat), X1, Y)
    assert_replicas_match_reference(net, params, X, Y, value, net.unflatten(grads.flat))


# ----------------------------------------------------------------- these checks can fail


def test_a_gradient_off_by_one_part_in_a_billion_fails_the_comparison():
    net = MLP([3, 5, 2], hidden="tanh", output="softmax", loss="softmax_cross_entropy")
    params, X, Y = problem(net, n=7, per_replica=False, seed=6)
    value, grads = net.loss_and_grad(params, X, Y)
    assert_replicas_match_reference(net, params, X, Y, value, grads)
    grads[2][1, 3, 0] *= 1 + 1e-9
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_replicas_match_reference(net, params, X, Y, value, grads)


def test_a_wrong_loss_derivative_fails_the_finite_difference_check(monkeypatch):
    # dE/dz = yhat - y without the 1/n of the mean: n times too large
    wrong = LOSSES["binary_cross_entropy"]._replace(delta=lambda yhat, y, n, output: yhat - y)
    monkeypatch.setitem(LOSSES, "binary_cross_entropy", wrong)
    net = MLP([3, 4, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    params, X, Y = problem(net, n=6, per_replica=False, seed=7)
    one = replica(params, 0)
    _, grads = reference.loss_and_grad(net, one, X, Y)
    numeric = central_difference(net, one, X, Y)
    for g, d in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(g, 6 * d, rtol=1e-7)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        assert_close(grads, numeric, rtol=1e-7)
