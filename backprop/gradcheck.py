"""Finite-difference check of ``MLP.loss_and_grad``: is the hand-written backward right?

For every parameter entry theta, the fourth-order central difference

    n = (8 [E(theta + eps) - E(theta - eps)] - [E(theta + 2 eps) - E(theta - 2 eps)]) / (12 eps)

(error O(eps^4), so eps can be large enough that rounding in E does not swamp small entries)
is compared with the analytic a = dE/dtheta by the relative error
|a - n| / max(|a| + |n|, tiny). All K replicas are perturbed at once: their losses are
independent, so one pair of forward passes checks the same entry in every replica.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backprop.network import MLP


def gradcheck(
    net: MLP,
    params: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    eps: float = 1e-4,
    tiny: float = 1e-12,
) -> float:
    """The largest relative error between analytic and central-difference gradients.

    Args:
        net, params, X, Y: as for ``net.loss_and_grad``; params are not modified.
        eps: the finite-difference step; keep it below the distance of any relu input from 0.
        tiny: floor of the denominator, so that entries where both gradients are 0 count as 0.

    Returns:
        max over replicas and entries of |a - n| / max(|a| + |n|, tiny).
    """
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    _, grads = net.loss_and_grad(params, X, Y)
    work = [np.array(p, copy=True) for p in params]
    worst = 0.0
    for p, g in zip(work, grads, strict=True):
        numeric = np.empty_like(g)
        for index in np.ndindex(p.shape[1:]):
            entry = (slice(None), *index)
            saved = p[entry].copy()
            losses = {}
            for step in (-2, -1, 1, 2):
                p[entry] = saved + step * eps
                losses[step] = net.loss_value(work, X, Y)
            p[entry] = saved
            numeric[entry] = (8 * (losses[1] - losses[-1]) - (losses[2] - losses[-2])) / (12 * eps)
        error = np.abs(g - numeric) / np.maximum(np.abs(g) + np.abs(numeric), tiny)
        worst = max(worst, float(error.max()))
    return worst
