"""Loss functions, each beside its derivative dE/dz with respect to the output pre-activation.

Every loss is the mean over the n samples of a per-sample loss summed over the outputs j:

    half_squared_error:     1/2 sum_j (y_j - yhat_j)^2                     (the classic E)
    binary_cross_entropy:   -sum_j [y_j log yhat_j + (1 - y_j) log(1 - yhat_j)],  yhat = sigmoid(z)
    softmax_cross_entropy:  -sum_j y_j log yhat_j,                           yhat = softmax(z)

The cross-entropies are evaluated from z, never from log(yhat): with yhat = sigmoid(z),
-[y log yhat + (1 - y) log(1 - yhat)] = max(z, 0) - y z + log(1 + exp(-|z|)), and with
yhat = softmax(z), -sum_j y_j log yhat_j = sum_j y_j (logsumexp(z) - z_j). Both are finite
for any finite z, however saturated the output.

A ``Loss`` pairs the value with delta_L = dE/dz_L, the start of backpropagation, as
``activations.py`` pairs each activation with its derivative:

    value(z, yhat, y) -> E         z, yhat: (K, n, m); y: (n, m) or (K, n, m); E: (K,)
    delta(yhat, y, n, output)      -> dE/dz, shaped like yhat, E the mean over n samples

``output`` is the output activation's name, which the half squared error needs for dyhat/dz.
``needs_yhat`` is False for the cross-entropies, which read z only (they get yhat=None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Loss(NamedTuple):
    """A loss: its value E and its derivative dE/dz with respect to the output pre-activation."""

    name: str
    value: Callable[[np.ndarray, np.ndarray | None, np.ndarray], np.ndarray]
    delta: Callable[[np.ndarray, np.ndarray, int, str], np.ndarray]
    needs_yhat: bool


def residual(yhat: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """(yhat - y) / n: dE/dyhat of the half squared error, and dE/dz of every canonical pairing."""
    g = yhat - y
    g *= 1.0 / n
    return g


def half_squared_error(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n 1/2 sum_j (y_j - yhat_j)^2."""
    r = yhat - y
    return 0.5 * np.einsum("knm,knm->k", r, r) / z.shape[1]


def half_squared_error_delta(yhat: np.ndarray, y: np.ndarray, n: int, output: str) -> np.ndarray:
    """dE/dz = dE/dyhat * dyhat/dz, with g = dE/dyhat = (yhat - y) / n:

    identity:  delta = g
    sigmoid:   delta = g * yhat (1 - yhat)
    softmax:   delta_j = yhat_j (g_j - sum_i g_i yhat_i)     (the softmax Jacobian)
    """
    g = residual(yhat, y, n)
    if output == "identity":
        return g
    if output == "sigmoid":
        return g * (yhat * (1 - yhat))
    return yhat * (g - (g * yhat).sum(axis=-1, keepdims=True))


def binary_cross_entropy(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n sum_j [max(z_j, 0) - y_j z_j + log(1 + exp(-|z_j|))]."""
    per_entry = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return per_entry.sum(axis=(1, 2)) / z.shape[1]


def binary_cross_entropy_delta(yhat: np.ndarray, y: np.ndarray, n: int, output: str) -> np.ndarray:
    """dE/dz = (yhat - y) / n after a sigmoid output (its only pairing)."""
    return residual(yhat, y, n)


def softmax_cross_entropy(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n sum_j y_j (logsumexp(z) - z_j)."""
    zmax = z.max(axis=-1, keepdims=True)
    lse = zmax + np.log(np.exp(z - zmax).sum(axis=-1, keepdims=True))
    return (y * (lse - z)).sum(axis=(1, 2)) / z.shape[1]


def softmax_cross_entropy_delta(yhat: np.ndarray, y: np.ndarray, n: int, output: str) -> np.ndarray:
    """dE/dz = (yhat - y) / n after a softmax output (its only pairing), for target rows that
    sum to 1."""
    return residual(yhat, y, n)


LOSSES: dict[str, Loss] = {
    "half_squared_error": Loss(
        "half_squared_error", half_squared_error, half_squared_error_delta, needs_yhat=True
    ),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", binary_cross_entropy, binary_cross_entropy_delta, needs_yhat=False
    ),
    "softmax_cross_entropy": Loss(
        "softmax_cross_entropy",
        softmax_cross_entropy,
        softmax_cross_entropy_delta,
        needs_yhat=False,
    ),
}

# Which losses make sense after which output activation.
VALID_PAIRINGS: dict[str, tuple[str, ...]] = {
    "sigmoid": ("half_squared_error", "binary_cross_entropy"),
    "softmax": ("softmax_cross_entropy", "half_squared_error"),
    "identity": ("half_squared_error",),
}
