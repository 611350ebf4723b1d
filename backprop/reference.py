"""Backpropagation for one replica, in the plain form of the derivation: start reading here.

``loss_and_grad`` is Nielsen's ``backprop(x, y)`` (neural-networks-and-deep-learning,
src/network.py) for a batch of samples and every activation and loss that ``MLP`` supports:
a forward pass that keeps every z_l and a_l, then the delta loop from the output layer down.
It follows the equations of ``backprop/network.py``'s module docstring, with its layer
numbers l = 1..L (index 0 of each list below is a_0 = X or unused, so that W[l] is W_l):

    z_l         = a_{l-1} @ W_l + b_l,  a_l = f(z_l)       (the output activation at l = L)
    delta_L     = dE/dz_L                                  (each loss's ``delta``, losses.py)
    dE/dW_l     = a_{l-1}^T @ delta_l
    dE/db_l     = sum over samples of delta_l
    delta_{l-1} = (delta_l @ W_l^T) * f'(z_{l-1})

``MLP.loss_and_grad`` computes the same numbers for K replicas at once, faster (one parameter
buffer, the bias folded into the weights, row chunks, a factored first layer); the tests
hold it to this module, and this module to finite differences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backprop.activations import HIDDEN, OUTPUT
from backprop.losses import LOSSES
from backprop.network import MLP


def loss_and_grad(
    net: MLP, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """The loss E of one replica and its gradients [dE/dW1, dE/db1, ...].

    Args:
        net: the network, for its activations and loss (its sizes are read from params).
        params: [W1, b1, W2, b2, ...] of one replica: W_l (fan_in, fan_out), b_l (fan_out,).
        X: (n, d) inputs. Y: (n, m) targets.

    Returns:
        E, the mean over the n samples of the per-sample loss, and grads shaped like params.
    """
    f, output, loss = HIDDEN[net.hidden], OUTPUT[net.output], LOSSES[net.loss]
    W, b = [None, *params[0::2]], [None, *params[1::2]]  # W[l] = W_l, b[l] = b_l
    L, n = len(W) - 1, len(X)
    # forward: z_l = a_{l-1} @ W_l + b_l and a_l = f(z_l), remembering every one
    zs, activations = [None], [X]  # zs[l] = z_l, activations[l] = a_l, a_0 = X
    for l in range(1, L + 1):
        zs.append(activations[l - 1] @ W[l] + b[l])
        activations.append(output(zs[l]) if l == L else f.forward(zs[l]))
    yhat = activations[L]
    E = float(loss.value(zs[L][None], yhat[None], Y[None])[0])  # the loss takes a K axis
    # backward: the delta loop, from the output layer down
    nabla_W, nabla_b = [None] * (L + 1), [None] * (L + 1)
    delta = loss.delta(yhat, Y, n, net.output)  # delta_L = dE/dz_L
    for l in range(L, 0, -1):
        nabla_W[l] = activations[l - 1].T @ delta  # dE/dW_l = a_{l-1}^T @ delta_l
        nabla_b[l] = delta.sum(axis=0)  # dE/db_l = sum over samples of delta_l
        if l > 1:  # delta_{l-1} = (delta_l @ W_l^T) * f'(z_{l-1}), f' written from a_{l-1}
            delta = (delta @ W[l].T) * f.derivative(activations[l - 1])
    return E, [g for l in range(1, L + 1) for g in (nabla_W[l], nabla_b[l])]
