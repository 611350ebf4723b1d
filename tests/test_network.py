"""MLP: losses by hand, the population axis, initialisation, the parameter buffer, dtype, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backprop import MLP, train
from backprop.activations import EXPIT_MAX_SIZE, sigmoid
from backprop.losses import VALID_PAIRINGS
from backprop.network import FACTOR_FROM_BATCH
from backprop.optimizers import Adam

PAIRINGS = [(output, loss) for output, losses in VALID_PAIRINGS.items() for loss in losses]


def constant_output_net(z: list[list[float]], output: str, loss: str):
    """A one-layer net whose output pre-activation is the given z for every sample: W = 0, b = z.

    Returns the net and its params; with n samples of any X, z_L is the row z repeated.
    """
    z = np.asarray(z, dtype=float)
    net = MLP([1, z.shape[-1]], hidden="identity", output=output, loss=loss)
    W, b = net.init(seed=0)
    W[...] = 0.0
    b[0, 0] = z
    return net, [W, b]


def loss_of(z: list[float], y: list[list[float]], output: str, loss: str) -> float:
    """The network's loss with output pre-activation z on every sample and targets y (n, m)."""
    net, params = constant_output_net([z], output, loss)
    X = np.zeros((len(y), 1))
    return float(net.loss_value(params, X, np.asarray(y, dtype=float))[0])


# ----------------------------------------------------------------- sigmoid's two forms


@pytest.mark.parametrize("per_replica", [EXPIT_MAX_SIZE, EXPIT_MAX_SIZE + 1])
def test_sigmoid_is_the_logistic_function_on_either_side_of_the_expit_size(per_replica):
    # up to EXPIT_MAX_SIZE entries per replica scipy's expit, above it (1 + tanh(z / 2)) / 2
    z = np.linspace(-40.0, 40.0, 3 * per_replica).reshape(3, per_replica, 1)
    expected = np.array([1 / (1 + math.exp(-v)) for v in z.ravel()]).reshape(z.shape)
    got = sigmoid(z)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-16)
    assert sigmoid(np.array(math.log(3.0))) == pytest.approx(0.75, rel=1e-15)
    # the form depends on one replica's slice, not on K: each replica alone gets the same bits
    np.testing.assert_array_equal(sigmoid(z[1:2]), got[1:2])


# ----------------------------------------------------------------- losses by hand

LN3 = math.log(3.0)  # sigmoid(ln 3) = 3/4, and softmax([0, ln 3]) = [1/4, 3/4]


def test_half_squared_error_by_hand():
    # identity output: yhat = z = (0.75, 0.2); per sample 1/2 (0.25^2 + 0.2^2) = 0.05125
    assert loss_of([0.75, 0.2], [[1.0, 0.0]], "identity", "half_squared_error") == pytest.approx(
        0.05125, abs=1e-15
    )
    # the mean over two samples: (0.05125 + 1/2 (0.25^2 + 0.8^2)) / 2 = (0.05125 + 0.35125) / 2
    two = loss_of([0.75, 0.2], [[1.0, 0.0], [0.5, 1.0]], "identity", "half_squared_error")
    assert two == pytest.approx(0.20125, abs=1e-15)


def test_half_squared_error_after_sigmoid_and_softmax_by_hand():
    # sigmoid(ln 3) = 0.75, y = 1: 1/2 * 0.25^2 = 0.5 * 0.0625
    assert loss_of([LN3], [[1.0]], "sigmoid", "half_squared_error") == pytest.approx(0.03125)
    # softmax([0, ln 3]) = (0.25, 0.75), y = (0, 1): 1/2 (0.0625 + 0.0625)
    assert loss_of([0.0, LN3], [[0.0, 1.0]], "softmax", "half_squared_error") == pytest.approx(
        0.0625
    )


def test_binary_cross_entropy_by_hand():
    # yhat = sigmoid(ln 3) = 0.75: -log 0.75 for y = 1, -log 0.25 for y = 0
    assert loss_of([LN3], [[1.0]], "sigmoid", "binary_cross_entropy") == pytest.approx(
        0.2876820724517809, rel=1e-14
    )
    assert loss_of([LN3], [[0.0]], "sigmoid", "binary_cross_entropy") == pytest.approx(
        1.3862943611198906, rel=1e-14
    )
    # soft target y = 0.25: -(0.25 log 0.75 + 0.75 log 0.25) = 0.0719205181 + 1.0397207708
    assert loss_of([LN3], [[0.25]], "sigmoid", "binary_cross_entropy") == pytest.approx(
        1.1116412889528632, rel=1e-14
    )
    # two outputs are summed: z = 0 gives log 2 for any y, plus -log 0.75
    both = loss_of([0.0, LN3], [[0.3, 1.0]], "sigmoid", "binary_cross_entropy")
    assert both == pytest.approx(math.log(2) + 0.2876820724517809, rel=1e-14)


def test_softmax_cross_entropy_by_hand():
    # softmax([0, ln 3]) = (0.25, 0.75)
    assert loss_of([0.0, LN3], [[0.0, 1.0]], "softmax", "softmax_cross_entropy") == pytest.approx(
        0.2876820724517809, rel=1e-14
    )
    # soft row (0.5, 0.5): 0.5 (log 4) + 0.5 (-log 0.75)
    soft = loss_of([0.0, LN3], [[0.5, 0.5]], "softmax", "softmax_cross_entropy")
    assert soft == pytest.approx(0.5 * 1.3862943611198906 + 0.5 * 0.2876820724517809, rel=1e-14)
    # shifting z by a constant changes nothing: softmax([1000, 1000 + ln 3]) is the same
    shifted = loss_of([1000.0, 1000.0 + LN3], [[0.0, 1.0]], "softmax", "softmax_cross_entropy")
    assert shifted == pytest.approx(0.2876820724517809, rel=1e-9)


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        (1000.0, 1.0, 0.0),  # yhat -> 1, right: -log 1 = 0
        (1000.0, 0.0, 1000.0),  # yhat -> 1, wrong: -log(1 - yhat) -> z
        (-1000.0, 1.0, 1000.0),  # yhat -> 0, wrong: -log yhat -> -z
        (-1000.0, 0.0, 0.0),
        (1000.0, 0.25, 750.0),  # soft: 0.25 * 0 + 0.75 * 1000
    ],
)
def test_binary_cross_entropy_is_finite_and_exact_when_saturated(z, y, expected):
    assert loss_of([z], [[y]], "sigmoid", "binary_cross_entropy") == expected


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        ([1000.0, -1000.0], [1.0, 0.0], 0.0),
        ([1000.0, -1000.0], [0.0, 1.0], 2000.0),  # -log yhat_2 = lse(z) - z_2 = 1000 + 1000
        ([1000.0, -1000.0], [0.5, 0.5], 1000.0),
        ([1000.0, 1000.0], [0.0, 1.0], math.log(2)),
    ],
)
def test_softmax_cross_entropy_is_finite_and_exact_when_saturated(z, y, expected):
    assert loss_of(z, [y], "softmax", "softmax_cross_entropy") == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
def test_gradients_are_finite_when_saturated(output, loss):
    net, params = constant_output_net([[1000.0, -1000.0]], output, loss)
    X, Y = np.ones((3, 1)), np.array([[0.0, 1.0]] * 3)
    value, grads = net.loss_and_grad(params, X, Y)
    assert np.isfinite(value).all()
    assert all(np.isfinite(g).all() for g in grads)


def test_cross_entropy_gradient_is_yhat_minus_y_over_n():
    # sigmoid + BCE: dE/db = mean_n (yhat - y) = 0.75 - (1 + 0.5) / 2
    net, params = constant_output_net([[LN3]], "sigmoid", "binary_cross_entropy")
    _, (dW, db) = net.loss_and_grad(params, np.array([[2.0], [4.0]]), np.array([[1.0], [0.5]]))
    assert db[0, 0, 0] == pytest.approx(0.0, abs=1e-15)
    # dE/dW = mean_n x (yhat - y) = (2 * -0.25 + 4 * 0.25) / 2
    assert dW[0, 0, 0] == pytest.approx(0.25, abs=1e-15)


# ----------------------------------------------------------------- the population axis


def random_data(rng, shape_x, m):
    """Inputs from N(0, 1) and soft target rows, which every loss accepts."""
    X = rng.normal(size=shape_x)
    Y = rng.dirichlet(np.ones(m), size=shape_x[:-1])
    return X, Y


@pytest.mark.parametrize("per_replica", [False, True], ids=["shared", "per_replica"])
@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
def test_population_equals_separate_networks(output, loss, per_replica):
    net = MLP([3, 5, 4, 2], hidden="tanh", output=output, loss=loss)
    seeds = [3, 8, 11]
    rng = np.random.default_rng(1)
    X, Y = random_data(rng, (3, 6, 3) if per_replica else (6, 3), 2)
    params = net.init(seed=seeds)
    for b in params[1::2]:  # non-zero biases, different in each replica
        b[...] = rng.normal(size=b.shape)
    losses, grads = net.loss_and_grad(params, X, Y)
    for k, seed in enumerate(seeds):
        alone = net.init(seed=seed)
        for p_alone, p in zip(alone, params, strict=True):
            p_alone[...] = p[k]
        Xk, Yk = (X[k], Y[k]) if per_replica else (X, Y)
        loss_k, grads_k = net.loss_and_grad(alone, Xk, Yk)
        assert loss_k[0] == pytest.approx(losses[k], rel=1e-12, abs=1e-15)
        for g_k, g in zip(grads_k, grads, strict=True):
            np.testing.assert_allclose(g_k[0], g[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(net.predict(alone, Xk)[0], net.predict(params, X)[k], rtol=1e-12)


@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
@pytest.mark.parametrize("sizes", [[3, 6, 5, 2], [3, 20, 1]])
def test_a_batch_taken_in_chunks_has_the_gradient_of_the_whole_batch(sizes, output, loss):
    # 40 rows in chunks of 16, 16 and 8: the one-unit case takes both first-layer forms
    net = MLP(sizes, hidden="relu", output=output, loss=loss)
    X, Y = random_data(np.random.default_rng(3), (40, 3), sizes[-1])
    params = net.init(seed=[0, 1])
    _, whole = net.loss_and_grad(params, X, Y)  # one forward and backward over all 40
    flat = net.flatten(params)
    grads = net.augmented(np.full_like(flat, np.nan))
    X1 = net.with_bias_column(X)
    net.gradient_into(net.augmented(flat), X1, Y, grads, chunk_rows=FACTOR_FROM_BATCH)
    for g_chunked, g_whole in zip(net.unflatten(grads.flat), whole, strict=True):
        np.testing.assert_allclose(g_chunked, g_whole, rtol=1e-12, atol=1e-15)


def test_shared_X_equals_X_repeated_per_replica():
    net = MLP([3, 4, 2], hidden="relu", output="softmax", loss="softmax_cross_entropy")
    params = net.init(seed=0, population=3)
    X, Y = random_data(np.random.default_rng(2), (6, 3), 2)
    shared = net.loss_and_grad(params, X, Y)
    repeated = net.loss_and_grad(params, np.stack([X] * 3), np.stack([Y] * 3))
    np.testing.assert_allclose(shared[0], repeated[0], rtol=1e-14)
    for g_shared, g_repeated in zip(shared[1], repeated[1], strict=True):
        np.testing.assert_allclose(g_shared, g_repeated, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("per_replica", [False, True], ids=["shared", "per_replica"])
def test_loss_value_in_chunks_equals_the_loss_of_loss_and_grad(per_replica):
    # K * width = 16 * 64 floats a row: a batch of 500 is evaluated in chunks of 64 rows
    net = MLP([3, 64, 2], hidden="relu", output="softmax", loss="softmax_cross_entropy")
    params = net.init(seed=0, population=16)
    X, Y = random_data(np.random.default_rng(5), (16, 500, 3) if per_replica else (500, 3), 2)
    losses, _ = net.loss_and_grad(params, X, Y)
    np.testing.assert_allclose(net.loss_value(params, X, Y), losses, rtol=1e-12)
    # and the mean over samples is the mean of the per-sample losses
    first = net.loss_value(params, X[..., :250, :], Y[..., :250, :])
    second = net.loss_value(params, X[..., 250:, :], Y[..., 250:, :])
    np.testing.assert_allclose((first + second) / 2, losses, rtol=1e-12)


# ----------------------------------------------------------------- initialisation


def assert_same_params(a, b):
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p, q)


def test_a_replica_depends_only_on_its_seed():
    net = MLP([3, 4, 2], hidden="relu", output="sigmoid")
    pair = net.init(seed=[5, 7])
    assert_same_params([p[1:2] for p in pair], net.init(seed=7))
    assert_same_params([p[0:1] for p in pair], net.init(seed=5))
    four = net.init(seed=3, population=4)  # seeds 3, 4, 5, 6
    assert_same_params([p[2:3] for p in four], net.init(seed=5))
    assert_same_params([p[2:3] for p in four], [p[1:2] for p in net.init(seed=[9, 5])])
    assert not np.array_equal(four[0][0], four[0][1])


def test_biases_start_at_zero_and_weights_do_not():
    params = MLP([3, 4, 4, 2], hidden="tanh").init(seed=1, population=2)
    for b in params[1::2]:
        np.testing.assert_array_equal(b, 0.0)
    for W in params[::2]:
        assert (W != 0).all()


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu"])
def test_he_initialisation_for_the_relu_family(hidden):
    # W ~ N(0, 2 / fan_in): 400 x 300 x 4 = 480000 draws, the std is known to ~0.1 %
    W1, _, W2, _ = MLP([400, 300, 1], hidden=hidden).init(seed=0, population=4)
    assert W1.std() == pytest.approx(math.sqrt(2 / 400), rel=0.01)
    assert abs(W1.mean()) < 0.001
    assert W2.std() == pytest.approx(math.sqrt(2 / 300), rel=0.05)
    assert np.abs(W1).max() > 4 * math.sqrt(2 / 400)  # a normal has tails; a uniform would not


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "identity"])
def test_glorot_initialisation_for_the_others(hidden):
    # W ~ U(-r, r), r = sqrt(6 / (fan_in + fan_out)): variance r^2 / 3 = 2 / (fan_in + fan_out)
    W1, _, W2, _ = MLP([400, 300, 1], hidden=hidden).init(seed=0, population=4)
    r = math.sqrt(6 / 700)
    assert W1.std() == pytest.approx(math.sqrt(2 / 700), rel=0.01)
    assert np.abs(W1).max() <= r
    assert np.abs(W1).max() > 0.999 * r
    assert np.abs(W2).max() <= math.sqrt(6 / 301)


# ----------------------------------------------------------------- the parameter buffer


def test_params_and_grads_are_views_of_one_buffer():
    net = MLP([3, 4, 2], hidden="relu", output="sigmoid")
    params = net.init(seed=0, population=2)
    P = 3 * 4 + 4 + 4 * 2 + 2
    assert net.n_params == P
    buffer = params[0].base
    assert buffer.shape == (2, P) and buffer.flags.c_contiguous
    assert all(p.base is buffer for p in params)
    np.testing.assert_array_equal(net.flatten(params), buffer)
    buffer[1, -1] = 42.0  # the last entry of replica 1 is b2[1, 0, 1]
    assert params[3][1, 0, 1] == 42.0
    _, grads = net.loss_and_grad(params, np.ones((2, 3)), np.zeros((2, 2)))
    assert grads[0].base.shape == (2, P) and all(g.base is grads[0].base for g in grads)


def test_flatten_and_unflatten_round_trip():
    net = MLP([2, 3, 3, 1], hidden="tanh")
    params = net.init(seed=4, population=3)
    flat = net.flatten(params)
    assert flat.shape == (3, net.n_params)
    assert flat.base is not params[0].base  # a new array
    assert_same_params(net.unflatten(flat), params)
    # layout: W1 row by row, then b1, then W2 ...
    np.testing.assert_array_equal(flat[2, :6], params[0][2].ravel())
    np.testing.assert_array_equal(flat[2, 6:9], params[1][2, 0])


# ----------------------------------------------------------------- dtype


@pytest.mark.parametrize(("output", "loss"), PAIRINGS)
def test_float32_params_give_float32_results_close_to_float64(output, loss):
    net = MLP([3, 5, 2], hidden="tanh", output=output, loss=loss)
    params64 = net.init(seed=2, population=2)
    params32 = [p.astype(np.float32) for p in params64]
    X, Y = random_data(np.random.default_rng(3), (7, 3), 2)
    loss64, grads64 = net.loss_and_grad(params64, X, Y)
    loss32, grads32 = net.loss_and_grad(params32, X, Y)
    assert loss32.dtype == np.float32 and loss64.dtype == np.float64
    assert net.predict(params32, X).dtype == np.float32
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5)
    for g32, g64 in zip(grads32, grads64, strict=True):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6 * np.abs(g64).max())


# ----------------------------------------------------------------- bad input

NET = MLP([2, 3, 2], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
PARAMS = NET.init(seed=0, population=3)
X5, Y5 = np.zeros((5, 2)), np.zeros((5, 2))


def with_nan(a: np.ndarray, value: float) -> np.ndarray:
    a = a.copy()
    a.flat[3] = value
    return a


@pytest.mark.parametrize(
    ("X", "Y", "match"),
    [
        (np.zeros((5, 3)), Y5, r"X must have shape \(n, 2\) or \(3, n, 2\), got \(5, 3\)"),
        (np.zeros(5), Y5, r"X must have shape .* got \(5,\)"),
        (np.zeros((2, 5, 2)), Y5, r"X must have shape \(n, 2\) or \(3, n, 2\), got \(2, 5, 2\)"),
        (
            np.zeros((0, 2)),
            np.zeros((0, 2)),
            r"X must hold at least one sample, got shape \(0, 2\)",
        ),
        (X5, np.zeros((5, 3)), r"Y must have shape \(n, 2\) or \(3, n, 2\) .* got \(5, 3\)"),
        (X5, np.zeros(5), r"Y must have shape .* got \(5,\)"),
        (X5, np.zeros((4, 5, 2)), r"Y must have shape .* got \(4, 5, 2\)"),
        (X5, np.zeros((4, 2)), "X has 5 samples but Y has 4"),
        (with_nan(X5, np.nan), Y5, "X contains NaN or inf"),
        (with_nan(X5, np.inf), Y5, "X contains NaN or inf"),
        (X5, with_nan(Y5, np.nan), "Y contains NaN or inf"),
        (X5, with_nan(Y5, -np.inf), "Y contains NaN or inf"),
        (X5, with_nan(Y5, -0.5), r"binary_cross_entropy needs targets in \[0, 1\].*\[-0.5, 0\]"),
        (X5, with_nan(Y5, 1.5), r"binary_cross_entropy needs targets in \[0, 1\].*\[0, 1.5\]"),
    ],
)
def test_bad_data_is_rejected_with_its_value(X, Y, match):
    with pytest.raises(ValueError, match=match):
        NET.loss_and_grad(PARAMS, X, Y)
    with pytest.raises(ValueError, match=match):
        NET.loss_value(PARAMS, X, Y)


def test_bad_X_is_rejected_by_predict():
    with pytest.raises(ValueError, match=r"X must have shape .* got \(5, 3\)"):
        NET.predict(PARAMS, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        NET.predict(PARAMS, with_nan(X5, np.nan))


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        ([[0.5, 0.4]], r"rows that sum to 1 .* row sums in \[0.9, 0.9\]"),
        ([[1.0, 1.0]], r"rows that sum to 1 .* row sums in \[2, 2\]"),
        ([[1.5, -0.5]], r"non-negative target rows"),
    ],
)
def test_softmax_cross_entropy_needs_rows_summing_to_one(Y, match):
    net = MLP([2, 2], output="softmax", loss="softmax_cross_entropy")
    with pytest.raises(ValueError, match=match):
        net.loss_and_grad(net.init(), np.zeros((1, 2)), np.array(Y))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [3]}, r"sizes needs at least two layer sizes .* got \[3\]"),
        ({"sizes": []}, r"sizes needs at least two layer sizes .* got \[\]"),
        ({"sizes": [2, 0, 1]}, r"every layer size must be an int >= 1, got 0 in \[2, 0, 1\]"),
        ({"sizes": [2, -3]}, r"every layer size must be an int >= 1, got -3"),
        ({"sizes": [2, 2.5]}, r"every layer size must be an int >= 1, got 2.5"),
        ({"hidden": "relux"}, r"unknown hidden activation 'relux'; allowed: \['relu'"),
        ({"hidden": "softmax"}, r"unknown hidden activation 'softmax'"),
        ({"output": "tanh"}, r"unknown output activation 'tanh'; allowed: \['sigmoid'"),
        ({"loss": "mse"}, r"unknown loss 'mse'; allowed: \['half_squared_error'"),
        (
            {"output": "softmax", "loss": "binary_cross_entropy"},
            r"loss 'binary_cross_entropy' does not pair with output 'softmax'",
        ),
        (
            {"output": "identity", "loss": "softmax_cross_entropy"},
            r"loss 'softmax_cross_entropy' does not pair with output 'identity'",
        ),
        (
            {"output": "identity", "loss": "binary_cross_entropy"},
            r"does not pair with output 'identity'; with 'identity' use one of",
        ),
        (
            {"output": "sigmoid", "loss": "softmax_cross_entropy"},
            r"loss 'softmax_cross_entropy' does not pair with output 'sigmoid'",
        ),
    ],
)
def test_bad_network_definitions_are_rejected(kwargs, match):
    arguments = {"sizes": [2, 3, 1], **kwargs}
    with pytest.raises(ValueError, match=match):
        MLP(**arguments)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (PARAMS[:3], r"params must hold 4 arrays \[W1, b1, \.\.\.\] .* got 3"),
        ([*PARAMS, PARAMS[-1]], r"params must hold 4 arrays .* got 5"),
        (
            [PARAMS[0][:, :1], *PARAMS[1:]],
            r"params W1 must have shape \(K, 2, 3\), got \(3, 1, 3\)",
        ),
        ([PARAMS[0][0], *PARAMS[1:]], r"params W1 must have shape \(K, 2, 3\), got \(2, 3\)"),
        ([*PARAMS[:3], PARAMS[3][:2]], r"params b2 must have shape \(K, 1, 2\), got \(2, 1, 2\)"),
    ],
)
def test_wrong_params_are_rejected(params, match):
    with pytest.raises(ValueError, match=match):
        NET.loss_and_grad(params, X5, Y5)
    with pytest.raises(ValueError, match=match):
        NET.predict(params, X5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population": 0}, "population must be an int >= 1, got 0"),
        ({"population": 2.0}, "population must be an int >= 1, got 2.0"),
        ({"seed": []}, r"seed must be an int or a non-empty sequence of ints, got \[\]"),
        ({"seed": [1, 2], "population": 3}, "population=3 does not match the 2 seeds given"),
        ({"seed": -1}, "seed must be >= 0, got -1"),
        ({"dtype": np.int64}, "dtype must be a floating type, got int64"),
    ],
)
def test_bad_init_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NET.init(**kwargs)


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (
            np.array([0, 2, 1, 2]),
            r"got \(4,\); .*one-hot rows.* 0\.\.2 \(found 0\.\.2\), pass np\.eye\(3\)\[y\]$",
        ),
        (
            np.array([[0], [2], [1], [2]]),
            r"got \(4, 1\); .*one-hot rows.*pass np\.eye\(3\)\[y\[:, 0\]\]$",
        ),
        (
            np.array([1.0, 3.0, 2.0, 3.0]),
            r"labels y in 0\.\.2 \(found 1\.\.3\), pass np\.eye\(3\)\[y\]",
        ),
    ],
)
def test_integer_labels_for_a_softmax_output_suggest_one_hot(Y, match):
    net = MLP([2, 4, 3], output="softmax", loss="softmax_cross_entropy")
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=match):
        net.check_data(net.init(), X, Y)
    with pytest.raises(ValueError, match=match):
        train(net, Adam(lr=1e-2), X, Y, batch_size=2, epochs=1)
    one_hot = np.eye(3)[Y.astype(int).ravel() % 3]
    assert net.check_data(net.init(), X, one_hot)[1].shape == (4, 3)  # the suggestion works


@pytest.mark.parametrize(
    ("net", "Y"),
    [
        (MLP([2, 3], output="softmax", loss="softmax_cross_entropy"), np.array([0.5, 1, 2, 0])),
        (MLP([2, 3], output="sigmoid", loss="binary_cross_entropy"), np.array([0, 1, 2, 1])),
        (MLP([2, 3], output="identity"), np.array([[0], [1], [2], [1]])),
    ],
)
def test_no_one_hot_hint_for_non_labels_or_other_outputs(net, Y):
    with pytest.raises(ValueError, match=r"Y must have shape .* got \(4,( 1)?\)$") as caught:
        net.check_data(net.init(), np.zeros((4, 2)), Y)
    assert "one-hot" not in str(caught.value) and "np.eye" not in str(caught.value)
