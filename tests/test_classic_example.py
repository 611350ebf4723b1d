"""The classic worked example of backpropagation, written out term by term in plain floats.

A 2-2-2 network: inputs x_1, x_2; ReLU hidden units h_1, h_2; sigmoid outputs yhat_1, yhat_2;
a bias per unit; E = 1/2 sum_k (y_k - yhat_k)^2 on one sample. W1_ij is the weight from input
i to hidden unit j, W2_jk the weight from hidden unit j to output k, so that W1_ij = W1[0, i-1,
j-1] in the network's (K, fan_in, fan_out) layout. The numbers are those of the textbook
example (x = (0.05, 0.10), y = (0.01, 0.99), weights 0.15 ... 0.55, biases 0.35 and 0.60).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from backprop import MLP

x_1, x_2 = 0.05, 0.10
y_1, y_2 = 0.01, 0.99
W1_11, W1_21, W1_12, W1_22 = 0.15, 0.20, 0.25, 0.30
b1_1, b1_2 = 0.35, 0.35
W2_11, W2_21, W2_12, W2_22 = 0.40, 0.45, 0.50, 0.55
b2_1, b2_2 = 0.60, 0.60
lr = 0.5


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def relu_prime(z: float) -> float:
    return 1.0 if z > 0 else 0.0


# ----------------------------------------------------------------- forward, by hand

z1_1 = x_1 * W1_11 + x_2 * W1_21 + b1_1  # 0.0075 + 0.02 + 0.35 = 0.3775
z1_2 = x_1 * W1_12 + x_2 * W1_22 + b1_2  # 0.0125 + 0.03 + 0.35 = 0.3925
h_1, h_2 = max(z1_1, 0.0), max(z1_2, 0.0)
z2_1 = h_1 * W2_11 + h_2 * W2_21 + b2_1  # 0.151 + 0.176625 + 0.6 = 0.927625
z2_2 = h_1 * W2_12 + h_2 * W2_22 + b2_2  # 0.18875 + 0.215875 + 0.6 = 1.004625
yhat_1, yhat_2 = sigmoid(z2_1), sigmoid(z2_2)
E = 0.5 * (y_1 - yhat_1) ** 2 + 0.5 * (y_2 - yhat_2) ** 2

# ----------------------------------------------------------------- backward, by hand
# Output weights: dE/dW2_jk = dE/dyhat_k * dyhat_k/dz2_k * dz2_k/dW2_jk
#                           = (yhat_k - y_k) * yhat_k (1 - yhat_k) * h_j

dE_dW2_11 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * h_1
dE_dW2_21 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * h_2
dE_dW2_12 = (yhat_2 - y_2) * yhat_2 * (1 - yhat_2) * h_1
dE_dW2_22 = (yhat_2 - y_2) * yhat_2 * (1 - yhat_2) * h_2
dE_db2_1 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * 1.0
dE_db2_2 = (yhat_2 - y_2) * yhat_2 * (1 - yhat_2) * 1.0

# Hidden weights: W1_ij reaches E along two paths, through yhat_1 and through yhat_2:
# dE/dW1_ij = sum_k (yhat_k - y_k) yhat_k (1 - yhat_k) * W2_jk * relu'(z1_j) * x_i

dE_dW1_11 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_11 * relu_prime(z1_1) * x_1 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_12 * relu_prime(z1_1) * x_1
dE_dW1_21 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_11 * relu_prime(z1_1) * x_2 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_12 * relu_prime(z1_1) * x_2
dE_dW1_12 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_21 * relu_prime(z1_2) * x_1 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_22 * relu_prime(z1_2) * x_1
dE_dW1_22 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_21 * relu_prime(z1_2) * x_2 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_22 * relu_prime(z1_2) * x_2
dE_db1_1 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_11 * relu_prime(z1_1) * 1.0 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_12 * relu_prime(z1_1) * 1.0
dE_db1_2 = (yhat_1 - y_1) * yhat_1 * (1 - yhat_1) * W2_21 * relu_prime(z1_2) * 1.0 + (
    yhat_2 - y_2
) * yhat_2 * (1 - yhat_2) * W2_22 * relu_prime(z1_2) * 1.0


def classic(hidden: str = "relu") -> tuple[MLP, list[np.ndarray], np.ndarray, np.ndarray]:
    """The example as an MLP: net, params [W1, b1, W2, b2] (K = 1), X (1, 2), Y (1, 2)."""
    net = MLP([2, 2, 2], hidden=hidden, output="sigmoid", loss="half_squared_error")
    W1, b1, W2, b2 = net.init(seed=0)
    W1[0] = [[W1_11, W1_12], [W1_21, W1_22]]  # row i: the weights leaving input i
    b1[0] = [[b1_1, b1_2]]
    W2[0] = [[W2_11, W2_12], [W2_21, W2_22]]  # row j: the weights leaving hidden unit j
    b2[0] = [[b2_1, b2_2]]
    return net, [W1, b1, W2, b2], np.array([[x_1, x_2]]), np.array([[y_1, y_2]])


def test_forward_pass_by_hand():
    assert (z1_1, z1_2, z2_1, z2_2) == pytest.approx((0.3775, 0.3925, 0.927625, 1.004625))
    assert h_1 == z1_1 and h_2 == z1_2  # both hidden units are active
    net, params, X, Y = classic()
    yhat = net.predict(params, X)
    assert yhat[0, 0, 0] == pytest.approx(yhat_1, rel=1e-12)
    assert yhat[0, 0, 1] == pytest.approx(yhat_2, rel=1e-12)
    assert (yhat_1, yhat_2) == pytest.approx((0.71659320, 0.73196694), abs=1e-8)
    assert net.loss_value(params, X, Y)[0] == pytest.approx(E, rel=1e-12)
    assert E == pytest.approx(0.28292751, abs=1e-8)


def test_output_weight_derivatives_by_the_chain_rule():
    net, params, X, Y = classic()
    _, (_, _, dW2, db2) = net.loss_and_grad(params, X, Y)
    by_hand = [[dE_dW2_11, dE_dW2_12], [dE_dW2_21, dE_dW2_22]]
    np.testing.assert_allclose(dW2[0], by_hand, rtol=1e-12)
    np.testing.assert_allclose(db2[0, 0], [dE_db2_1, dE_db2_2], rtol=1e-12)
    # the delta of output 1 is (0.7166 - 0.01) * 0.7166 * 0.2834 = 0.1435; times h_1 = 0.3775
    assert dE_dW2_11 == pytest.approx(0.05417131, abs=1e-8)


def test_hidden_weight_derivatives_by_the_sum_over_paths():
    net, params, X, Y = classic()
    _, (dW1, db1, _, _) = net.loss_and_grad(params, X, Y)
    by_hand = [[dE_dW1_11, dE_dW1_12], [dE_dW1_21, dE_dW1_22]]
    np.testing.assert_allclose(dW1[0], by_hand, rtol=1e-12)
    np.testing.assert_allclose(db1[0, 0], [dE_db1_1, dE_db1_2], rtol=1e-12)
    # relu' = 1 on both units, and the input scales each hidden weight's derivative:
    assert dE_dW1_21 == pytest.approx(2 * dE_dW1_11, rel=1e-12)  # x_2 = 2 x_1
    assert dE_db1_1 == pytest.approx(dE_dW1_11 / x_1, rel=1e-12)


def test_one_update_gives_these_weights():
    net, params, X, Y = classic()
    _, grads = net.loss_and_grad(params, X, Y)
    W1, b1, W2, b2 = (p - lr * g for p, g in zip(params, grads, strict=True))
    # W2_jk - lr * dE/dW2_jk, e.g. 0.40 - 0.5 * 0.05417131 = 0.37291434
    W2_new = [[0.37291434, 0.50955525], [0.42183809, 0.55993493]]
    np.testing.assert_allclose(W2[0], W2_new, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b2[0, 0], [0.52824992, 0.62531193], rtol=0, atol=1e-8)
    # W1_ij - lr * dE/dW1_ij, e.g. 0.15 - 0.5 * 0.00160441 = 0.14919780
    W1_new = [[0.14919780, 0.24908170], [0.19839559, 0.29816340]]
    np.testing.assert_allclose(W1[0], W1_new, rtol=0, atol=1e-8)
    np.testing.assert_allclose(b1[0, 0], [0.33395593, 0.33163402], rtol=0, atol=1e-8)
    # and the same from the derivatives by hand, to the last bits
    assert W2[0, 0, 0] == pytest.approx(W2_11 - lr * dE_dW2_11, rel=1e-14)
    assert W1[0, 1, 0] == pytest.approx(W1_21 - lr * dE_dW1_21, rel=1e-14)
    assert net.loss_value([W1, b1, W2, b2], X, Y)[0] < E


def test_sigmoid_hidden_units_give_the_published_numbers():
    # M. Mazur, "A Step by Step Backpropagation Example" (2015): the same network with
    # sigmoid hidden units. There, w1..w4 = W1_11, W1_21, W1_12, W1_22, w5..w8 = W2_11, W2_21,
    # W2_12, W2_22, and E_total = 0.298371109; biases are not updated there.
    net, params, X, Y = classic(hidden="sigmoid")
    loss, grads = net.loss_and_grad(params, X, Y)
    assert loss[0] == pytest.approx(0.298371109, abs=1e-9)
    assert grads[2][0, 0, 0] == pytest.approx(0.082167041, abs=1e-9)  # dE/dw5
    W1 = params[0][0] - lr * grads[0][0]
    W2 = params[2][0] - lr * grads[2][0]
    w1, w3, w2, w4 = W1.ravel()
    w5, w7, w6, w8 = W2.ravel()
    published = [0.149780716, 0.19956143, 0.24975114, 0.29950229]
    assert [w1, w2, w3, w4] == pytest.approx(published, abs=1e-8)
    published = [0.35891648, 0.408666186, 0.511301270, 0.561370121]
    assert [w5, w6, w7, w8] == pytest.approx(published, abs=1e-8)
