"""A multilayer perceptron trained by hand-written backpropagation, on a population axis.

A learner should read ``backprop/reference.py`` first: the same backpropagation for one
replica in the plain form of the derivation (about 30 lines), which the tests hold this
module to. This module is the fast path of the same equations.

Notation (layer l = 1..L, a_0 = X):

    z_l = a_{l-1} @ W_l + b_l          W_l: (K, fan_in, fan_out), b_l: (K, 1, fan_out)
    a_l = f(z_l)                       f = the hidden activation, or the output one at l = L
    E   = mean over samples of the per-sample loss (see ``losses.py``)

Backpropagation is the chain rule applied layer by layer from the output down. With
delta_l = dE/dz_l,

    delta_L     = dE/dyhat * dyhat/dz_L                       (each loss's ``delta``, ``losses.py``)
    dE/dW_l     = a_{l-1}^T @ delta_l                         (sum over samples)
    dE/db_l     = sum over samples of delta_l
    delta_{l-1} = (delta_l @ W_l^T) * f'(z_{l-1})             (the sum over paths)

Every array carries a leading population axis K: K independent replicas of the network,
computed in one batched ``np.matmul``. X and Y may be shared by all replicas, (n, d), or
per replica, (K, n, d).

All parameters of a population live in one C-contiguous (K, P) buffer, and the list that
``init`` returns holds views into it ([W1, b1, W2, b2, ...]); gradients are laid out the
same way. ``training.train`` uses this to step an elementwise optimizer over one array.
Inside, V_l = [W_l; b_l] is one view of the buffer (``augmented``): the weights of the
classic "bias neuron", an input fixed at 1. The inputs get that column of ones once per run,
so the first layer's forward and gradient are one matrix product each.

Indices: equations and comments number layers l = 1..L, as above. Python lists are 0-based:
list index i holds layer l = i + 1 (``weights[i]`` is V_l, ``grads[i]`` is dE/dV_l), while
the activations are numbered from a_0, so ``acts[i]`` is a_i = a_{l-1}, the input of layer l.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backprop.activations import HIDDEN, OUTPUT
from backprop.losses import LOSSES, VALID_PAIRINGS

RELU_FAMILY = ("relu", "leaky_relu")
EVAL_CHUNK = 1 << 17  # evaluate the loss in row chunks of about this many floats per layer
# From this batch size on, the first layer's gradient under a one-unit layer is factored
# (``_first_layer_below_one_unit``); below it the outer product is cheaper. It depends on the
# batch only, never on K, so a replica computes the same numbers alone as in a population.
FACTOR_FROM_BATCH = 16
GRADIENT_CHUNK = 1 << 21  # floats per replica: a larger batch's gradient is taken in row chunks


class Augmented(list):
    """The views [V_1, .., V_L] of a (K, P) buffer ``flat``, and, made once, the views of
    their parts that every step uses: W_l = V_l[:, :-1], b_l = V_l[:, -1:] and W_l^T."""

    def __init__(self, views: list[np.ndarray], flat: np.ndarray) -> None:
        super().__init__(views)
        self.flat = flat
        self.W = [V[:, :-1] for V in views]
        self.b = [V[:, -1:] for V in views]
        self.W_T = [W.swapaxes(-1, -2) for W in self.W]
        self.after_first = list(zip(self.W[1:], self.b[1:], strict=True))  # (W_l, b_l), l = 2..L


def resolve_seeds(seed: int | Sequence[int], population: int | None) -> list[int]:
    """The K seeds of a population: ``seed + k`` for an int seed, or the sequence itself."""
    if isinstance(seed, int | np.integer):
        k = 1 if population is None else population
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"population must be an int >= 1, got {population!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        return [int(seed) + i for i in range(k)]
    seeds = [int(s) for s in seed]
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    if not seeds:
        raise ValueError("seed must be an int or a non-empty sequence of ints, got []")
    if population is not None and population != len(seeds):
        raise ValueError(
            f"population={population} does not match the {len(seeds)} seeds given; "
            "pass one seed per replica, or an int seed"
        )
    return seeds


class MLP:
    """A fully connected network: ``sizes[0]`` inputs, hidden layers, ``sizes[-1]`` outputs.

    Args:
        sizes: layer widths, at least two (inputs and outputs), each >= 1.
        hidden: activation of every hidden layer: relu, leaky_relu, sigmoid, tanh, identity.
        output: output activation: sigmoid, softmax or identity.
        loss: half_squared_error, binary_cross_entropy or softmax_cross_entropy; the valid
            pairings with ``output`` are in ``backprop.losses.VALID_PAIRINGS``.

    Attributes:
        chunk_rows: ``gradient_into`` takes a batch of more rows than this in chunks of this
            many rows (16 MiB per replica for the widest layer); at least FACTOR_FROM_BATCH.
            It depends on the layer widths only, never on K.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        hidden: str = "relu",
        output: str = "identity",
        loss: str = "half_squared_error",
    ) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least two layer sizes (inputs, outputs), got {sizes}")
        for s in sizes:
            if not isinstance(s, int | np.integer) or s < 1:
                raise ValueError(f"every layer size must be an int >= 1, got {s!r} in {sizes}")
        if hidden not in HIDDEN:
            raise ValueError(f"unknown hidden activation {hidden!r}; allowed: {list(HIDDEN)}")
        if output not in OUTPUT:
            raise ValueError(f"unknown output activation {output!r}; allowed: {list(OUTPUT)}")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; allowed: {list(LOSSES)}")
        if loss not in VALID_PAIRINGS[output]:
            raise ValueError(
                f"loss {loss!r} does not pair with output {output!r}; "
                f"with {output!r} use one of {list(VALID_PAIRINGS[output])}"
            )
        self.sizes = tuple(int(s) for s in sizes)
        self.hidden, self.output, self.loss = hidden, output, loss
        self._f = HIDDEN[hidden]
        self._out = OUTPUT[output]
        self._loss = LOSSES[loss]
        self.shapes = [(self.sizes[i], self.sizes[i + 1]) for i in range(len(self.sizes) - 1)]
        self.n_params = sum(fan_in * fan_out + fan_out for fan_in, fan_out in self.shapes)
        self._ones: dict = {}
        self.chunk_rows = max(FACTOR_FROM_BATCH, GRADIENT_CHUNK // max(self.sizes))

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.sizes)}, hidden={self.hidden!r}, output={self.output!r}, "
            f"loss={self.loss!r})"
        )

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.shapes)

    # ----------------------------------------------------------------- parameters

    def unflatten(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views [W1, b1, W2, b2, ...] into a (K, P) buffer; writes to them write the buffer.

        They are the parts W_l and b_l of the ``augmented`` views V_l = [W_l; b_l].
        """
        layers = self.augmented(flat)
        return [part for W, b in zip(layers.W, layers.b, strict=True) for part in (W, b)]

    def flatten(self, params: Sequence[np.ndarray]) -> np.ndarray:
        """A new (K, P) array holding [W1, b1, W2, b2, ...] in the layout of ``unflatten``."""
        self._check_params(params)
        K = params[0].shape[0]
        return np.concatenate([np.reshape(p, (K, -1)) for p in params], axis=1)

    def init(
        self,
        seed: int | Sequence[int] = 0,
        population: int | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> list[np.ndarray]:
        """Initial parameters [W1, b1, ...]: W_l (K, fan_in, fan_out), b_l (K, 1, fan_out).

        He initialisation for the relu family, W ~ N(0, 2 / fan_in); Glorot (uniform) for
        the others, W ~ U(-r, r) with r = sqrt(6 / (fan_in + fan_out)); biases are zero.
        Replica k draws from its own seed only (``seed + k``, or ``seed[k]``), so a trial
        starts from the same weights alone as inside any population.
        """
        seeds = resolve_seeds(seed, population)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type, got {dtype}")
        flat = np.zeros((len(seeds), self.n_params), dtype=dtype)
        params = self.unflatten(flat)
        for k, s in enumerate(seeds):
            rng = np.random.default_rng(s)
            for W, (fan_in, fan_out) in zip(params[::2], self.shapes, strict=True):
                if self.hidden in RELU_FAMILY:
                    W[k] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
                else:
                    r = np.sqrt(6.0 / (fan_in + fan_out))
                    W[k] = rng.uniform(-r, r, size=(fan_in, fan_out))
        return params

    def augmented(self, flat: np.ndarray) -> Augmented:
        """Views [V1, V2, ...] of a (K, P) buffer, V_l = [W_l; b_l]: (K, fan_in + 1, fan_out).

        In the flat layout each b_l follows its W_l, so W_l with b_l as one more row is a
        single view: the weights of the classic "bias neuron", an input fixed at 1. Then
        z_l = [a_{l-1}, 1] @ V_l, and dE/dV_l = [a_{l-1}, 1]^T @ delta_l gives dE/dW_l and
        dE/db_l (the sum of delta_l over samples) in one matrix product.
        """
        K = flat.shape[0]
        views, offset = [], 0
        for fan_in, fan_out in self.shapes:
            size = (fan_in + 1) * fan_out
            views.append(flat[:, offset : offset + size].reshape(K, fan_in + 1, fan_out))
            offset += size
        return Augmented(views, flat)

    @staticmethod
    def with_bias_column(X: np.ndarray) -> np.ndarray:
        """[X, 1]: the inputs with the bias neuron's constant 1 appended, (..., n, d + 1)."""
        ones = np.ones(X.shape[:-1] + (1,), dtype=X.dtype)
        return np.concatenate([X, ones], axis=-1)

    # ----------------------------------------------------------------- forward

    def _forward(
        self, weights: Augmented, X1: np.ndarray, output: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """z_1 = [x, 1] @ V_1, then a_l = f(z_l) and z_{l+1} = a_l @ W_{l+1} + b_{l+1}.

        X1 is [X, 1], made once per run, so the first layer is one product with V_1. A hidden
        layer's f is applied in place (its derivative needs only a_l), and its bias is added
        to the next, usually narrower, z instead of appending a column of ones to a_l.
        Returns z_L and [[x, 1], a_1, .., a_{L-1}, yhat] (without yhat if not ``output``).
        """
        acts = [X1]
        z = X1 @ weights[0]
        for W, b in weights.after_first:
            a = self._f.forward(z, z)
            acts.append(a)
            z = a @ W
            z += b
        if output:
            acts.append(self._out(z))
        return z, acts

    # ----------------------------------------------------------------- backward

    def _backward(
        self,
        weights: Augmented,
        z_out: np.ndarray,
        acts: list[np.ndarray],
        Y: np.ndarray,
        grads: Augmented,
        n: int | None = None,
    ) -> None:
        """Fill grads [dE/dV_1, ...] in place by the chain rule, layer L down to 1 (E the
        mean over n samples: the rows of z_out, or more when they are a chunk of the batch).
        List index i is layer l = i + 1 (see the module docstring)."""
        n = z_out.shape[-2] if n is None else n
        # delta_L = dE/dz_L
        delta = self._loss.delta(acts[-1], Y, n, self.output)
        ones = self._ones_row(delta.shape[-2], delta.dtype)
        for i in range(self.n_layers - 1, 0, -1):  # l = L, .., 2
            a, W_T = acts[i], weights.W_T[i]  # a_{l-1}, W_l^T
            # dE/dW_l = a_{l-1}^T @ delta_l
            np.matmul(a.swapaxes(-1, -2), delta, out=grads.W[i])
            # dE/db_l = sum over samples of delta_l
            np.matmul(ones, delta, out=grads.b[i])
            if i == 1 and delta.shape[-1] == 1 and delta.shape[-2] >= FACTOR_FROM_BATCH:
                self._first_layer_below_one_unit(acts[0], delta, W_T, a, grads[0])
                return
            # delta_{l-1} = (delta_l @ W_l^T) * f'(z_{l-1}), an outer product for one unit
            delta = delta * W_T if delta.shape[-1] == 1 else delta @ W_T
            delta *= self._f.derivative(a)
        # dE/dV_1 = [x, 1]^T @ delta_1
        np.matmul(acts[0].swapaxes(-1, -2), delta, out=grads[0])

    def _first_layer_below_one_unit(self, X1, delta, w_T, a, out) -> None:
        """dE/dV_1 when layer 2 has one unit: delta_1 = (delta_2 w^T) * f'(z_1) is an outer
        product, and the sum over samples factors as

            dE/dV_1[i, h] = sum_b x_bi (delta_b w_h f'_bh) = w_h * sum_b (x_bi delta_b) f'_bh

        that is w^T * (([x, 1] * delta)^T @ f'): one product with f', no (B, H) outer product
        (NumPy broadcasts a column against a row slowly). relu's f' is a boolean mask, which
        BLAS cannot take: it is copied to floats through its uint8 view. Why these forms: see
        ``test_gradient_into_hot_path`` in tests/perf/test_network_perf.py.
        """
        # ([x, 1] * delta)^T, (K, d + 1, B)
        scaled = X1.swapaxes(-1, -2) * delta.swapaxes(-1, -2)
        slope = self._f.derivative(a)
        if slope.dtype == bool:
            mask, slope = slope, np.empty(a.shape, a.dtype)
            np.copyto(slope, mask.view(np.uint8))
        # dE/dV_1 = w^T * (([x, 1] * delta)^T @ f')
        np.multiply(scaled @ slope, w_T, out=out)

    def _ones_row(self, n: int, dtype: np.dtype) -> np.ndarray:
        """A (1, n) row of ones: ones @ delta sums delta over the n samples, through BLAS."""
        key = (n, dtype)
        row = self._ones.get(key)
        if row is None:
            row = self._ones[key] = np.ones((1, n), dtype=dtype)
        return row

    # ----------------------------------------------------------------- on the augmented views

    def gradient_into(
        self,
        weights: Augmented,
        X1: np.ndarray,
        Y: np.ndarray,
        grads: Augmented,
        chunk_rows: int | None = None,
    ) -> None:
        """The training hot path: forward, then backward into ``grads``, in place.

        Args:
            weights: ``augmented`` views [V_1, ...] of a (K, P) parameter buffer.
            X1: the inputs with the bias column (``with_bias_column``): (n, d + 1) shared or
                (K, n, d + 1).
            Y: the targets, (n, m) or (K, n, m), as ``check_data`` returns them.
            grads: ``augmented`` views of a (K, P) buffer, overwritten with dE/dV_l.
            chunk_rows: a batch of more rows than this (default ``self.chunk_rows``) is taken
                in chunks of this many rows, whose gradients are summed, so the memory for
                activations does not grow with n.

        Nothing is checked here; ``loss_and_grad`` is the checked route to the same numbers.
        The chunks depend on n and the layer widths only, never on K, so a replica computes
        the same numbers alone as in a population.
        """
        n = X1.shape[-2]
        rows = self.chunk_rows if chunk_rows is None else chunk_rows
        if n <= rows:
            z_out, acts = self._forward(weights, X1)
            self._backward(weights, z_out, acts, Y, grads)
            return
        part = self.augmented(np.empty_like(grads.flat))  # per call: safe across threads
        for start in range(0, n, rows):
            chunk = slice(start, start + rows)
            z_out, acts = self._forward(weights, X1[..., chunk, :])
            self._backward(weights, z_out, acts, Y[..., chunk, :], part if start else grads, n)
            if start:
                grads.flat += part.flat

    def evaluate(self, weights: Augmented, X1: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The loss of each replica, (K,), on the augmented views: what ``train`` records.

        Arguments as for ``gradient_into``; nothing is checked (``loss_value`` is the checked
        route). The forward pass runs in chunks of rows that stay in cache, collecting z_L;
        the loss is then taken once over all of it.
        """
        n = X1.shape[-2]
        rows = max(1, EVAL_CHUNK // (weights[0].shape[0] * max(self.sizes)))
        if n <= rows:
            z_out = self._forward(weights, X1, output=False)[0]
        else:
            z_out = np.empty((weights[0].shape[0], n, self.sizes[-1]), dtype=weights[0].dtype)
            for start in range(0, n, rows):
                chunk = slice(start, start + rows)
                z_out[:, chunk] = self._forward(weights, X1[..., chunk, :], output=False)[0]
        yhat = self._out(z_out) if self._loss.needs_yhat else None
        return self._loss.value(z_out, yhat, Y)

    # ----------------------------------------------------------------- public API

    def loss_and_grad(
        self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The loss of each replica, (K,), and its gradients, shaped like ``params``.

        X: (n, d) shared by all replicas or (K, n, d); Y: (n, m) or (K, n, m) (a 1-D Y is
        taken as one output column). The computation runs in the parameters' dtype.
        ``reference.loss_and_grad`` computes the same numbers for one replica, plainly.
        """
        flat = self.flatten(params)
        X, Y = self.check_data(params, X, Y)
        weights = self.augmented(flat)
        z_out, acts = self._forward(weights, self.with_bias_column(X))
        loss = self._loss.value(z_out, acts[-1], Y)
        grads_flat = np.empty_like(flat)
        self._backward(weights, z_out, acts, Y, self.augmented(grads_flat))
        return loss, self.unflatten(grads_flat)

    def loss_value(self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The loss of each replica, (K,), without gradients."""
        flat = self.flatten(params)
        X, Y = self.check_data(params, X, Y)
        return self.evaluate(self.augmented(flat), self.with_bias_column(X), Y)

    def predict(self, params: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
        """The network's outputs yhat = a_L, (K, n, sizes[-1])."""
        flat = self.flatten(params)
        X = self._check_X(params, X)
        return self._forward(self.augmented(flat), self.with_bias_column(X))[1][-1]

    # ----------------------------------------------------------------- checks

    def _check_params(self, params: Sequence[np.ndarray]) -> None:
        if len(params) != 2 * self.n_layers:
            raise ValueError(
                f"params must hold {2 * self.n_layers} arrays [W1, b1, ...] for {self!r}, "
                f"got {len(params)}"
            )
        K = np.shape(params[0])[0] if np.ndim(params[0]) == 3 else None
        for l, (fan_in, fan_out) in enumerate(self.shapes):
            for name, p, shape in (
                (f"W{l + 1}", params[2 * l], (K, fan_in, fan_out)),
                (f"b{l + 1}", params[2 * l + 1], (K, 1, fan_out)),
            ):
                if np.shape(p) != shape or K is None:
                    raise ValueError(
                        f"params {name} must have shape (K, {', '.join(map(str, shape[1:]))}), "
                        f"got {np.shape(p)}"
                    )

    def _check_X(self, params: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
        K, d = params[0].shape[0], self.sizes[0]
        X = np.asarray(X, dtype=params[0].dtype)
        if X.ndim not in (2, 3) or X.shape[-1] != d or (X.ndim == 3 and X.shape[0] != K):
            raise ValueError(f"X must have shape (n, {d}) or ({K}, n, {d}), got {X.shape}")
        if X.shape[-2] < 1:
            raise ValueError(f"X must hold at least one sample, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf; every input must be finite")
        return X

    def check_data(
        self, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """X and Y as arrays of the parameters' dtype, or a ValueError saying what is wrong."""
        X = self._check_X(params, X)
        K, n, m = params[0].shape[0], X.shape[-2], self.sizes[-1]
        Y = np.array(Y, dtype=params[0].dtype)
        if Y.ndim == 1 and m == 1:
            Y = Y[:, None]
        if Y.ndim not in (2, 3) or Y.shape[-1] != m or (Y.ndim == 3 and Y.shape[0] != K):
            raise ValueError(
                f"Y must have shape (n, {m}) or ({K}, n, {m}) for {m} outputs, got {Y.shape}"
                + self._one_hot_hint(Y)
            )
        if Y.shape[-2] != n:
            raise ValueError(f"X has {n} samples but Y has {Y.shape[-2]}; they must match")
        if not np.isfinite(Y).all():
            raise ValueError("Y contains NaN or inf; every target must be finite")
        self._check_targets(Y)
        return X, Y

    def _one_hot_hint(self, Y: np.ndarray) -> str:
        """How to one-hot encode Y, when Y looks like the class indices a softmax output cannot
        take (a 1-D y, or one column); else ""."""
        m = self.sizes[-1]
        if self.output != "softmax" or m < 2 or not (Y.ndim == 1 or Y.shape[-1:] == (1,)):
            return ""
        if Y.ndim > 2 or not (np.isfinite(Y).all() and (Y == np.round(Y)).all()):
            return ""
        labels = "y" if Y.ndim == 1 else "y[:, 0]"
        found = f" (found {Y.min():g}..{Y.max():g})" if Y.size else ""
        return (
            f"; a softmax output takes one-hot rows, not class indices: for integer labels "
            f"y in 0..{m - 1}{found}, pass np.eye({m})[{labels}]"
        )

    def _check_targets(self, Y: np.ndarray) -> None:
        """Reject targets the loss cannot take; softmax targets are renormalised in place."""
        if self.loss == "binary_cross_entropy" and ((Y < 0).any() or (Y > 1).any()):
            raise ValueError(
                f"binary_cross_entropy needs targets in [0, 1], got values in "
                f"[{Y.min():g}, {Y.max():g}]"
            )
        if self.loss == "softmax_cross_entropy":
            sums = Y.sum(axis=-1, keepdims=True)
            if (Y < 0).any() or not np.allclose(sums, 1.0, atol=1e-6):
                raise ValueError(
                    "softmax_cross_entropy needs non-negative target rows that sum to 1 "
                    f"(one-hot or soft labels), got row sums in [{sums.min():g}, {sums.max():g}]"
                )
            Y /= sums  # rows that sum to 1 within rounding sum to 1, as dE/dz = yhat - y needs
