"""Loss functions, computed stably from the output layer's pre-activation z.

Every loss is the mean over the n samples of a per-sample loss summed over the outputs j:

    half_squared_error:     1/2 sum_j (y_j - yhat_j)^2                     (the classic E)
    binary_cross_entropy:   -sum_j [y_j log yhat_j + (1 - y_j) log(1 - yhat_j)],  yhat = sigmoid(z)
    softmax_cross_entropy:  -sum_j y_j log yhat_j,                           yhat = softmax(z)

The cross-entropies are evaluated from z, never from log(yhat): with yhat = sigmoid(z),
-[y log yhat + (1 - y) log(1 - yhat)] = max(z, 0) - y z + log(1 + exp(-|z|)), and with
yhat = softmax(z), -sum_j y_j log yhat_j = sum_j y_j (logsumexp(z) - z_j). Both are finite
for any finite z, however saturated the output.

Each function maps z (K, n, m), yhat (K, n, m) and y ((n, m) or (K, n, m)) to a loss of
shape (K,). The cross-entropies read z only (the network passes yhat=None to them).
"""

from __future__ import annotations

import numpy as np


def half_squared_error(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n 1/2 sum_j (y_j - yhat_j)^2."""
    r = yhat - y
    return 0.5 * np.einsum("knm,knm->k", r, r) / z.shape[1]


def binary_cross_entropy(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n sum_j [max(z_j, 0) - y_j z_j + log(1 + exp(-|z_j|))]."""
    per_entry = np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))
    return per_entry.sum(axis=(1, 2)) / z.shape[1]


def softmax_cross_entropy(z: np.ndarray, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E = mean_n sum_j y_j (logsumexp(z) - z_j)."""
    zmax = z.max(axis=-1, keepdims=True)
    lse = zmax + np.log(np.exp(z - zmax).sum(axis=-1, keepdims=True))
    return (y * (lse - z)).sum(axis=(1, 2)) / z.shape[1]


LOSSES = {
    "half_squared_error": half_squared_error,
    "binary_cross_entropy": binary_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}

# Which losses make sense after which output activation.
VALID_PAIRINGS: dict[str, tuple[str, ...]] = {
    "sigmoid": ("half_squared_error", "binary_cross_entropy"),
    "softmax": ("softmax_cross_entropy", "half_squared_error"),
    "identity": ("half_squared_error",),
}
