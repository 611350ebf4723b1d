"""train(): the training loop, its batching regimes, per-epoch records and divergence.

The batching regime is the batch size B against the n training samples:

    B = None or B >= n   batch gradient descent: one step per epoch on the whole set
    B = 1                stochastic gradient descent: n steps per epoch
    1 < B < n            mini-batch: ceil(n / B) steps per epoch, the last batch partial

Each replica k of the population shuffles the training set from its own seed every epoch,
so a trial trained inside a population has the same history as the same trial alone.

Two engines train the same numbers: NumPy's (the reference, and what a learner reads: each
batch is ``MLP.gradient_into`` then ``optimizer.step``) and the compiled one (``compiled.py``,
numba: a whole epoch of forward, backward and optimizer steps per kernel call). The engine
replaces only the inner loop of an epoch; the shuffles, the per-epoch evaluation, divergence,
best_params and the early stop below are shared. ``engine="auto"`` picks the compiled engine
where it fits and pays (``compiled.resolve_engine`` says why, either way).

A run raises glibc's heap thresholds (once per process) and hands the freed heap back to the
system when it ends; see ``memory.py``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from backprop import compiled
from backprop.memory import keep_temporaries_on_the_heap, release_free_heap
from backprop.network import MLP, resolve_seeds

DIVERGENCE_FACTOR = 1e3  # a loss above this multiple of the starting loss has diverged
SHUFFLE_STREAM = 1  # the shuffling RNG of replica k is default_rng([seed_k, SHUFFLE_STREAM])
GATHER_LIMIT = 1 << 24  # Shuffler's default: gather a whole epoch while K n (d + m) <= this


@dataclass
class History:
    """Per-epoch records of a training run; row 0 is before training, row e after epoch e.

    train_loss, val_loss: (E + 1, K) full-set losses (val_loss is None without validation
    data); NaN from a replica's ``diverged_epoch`` on. samples, steps, seconds: (E + 1,)
    cumulative per replica (seconds: training time only, evaluation excluded).
    diverged_epoch: (K,) first row whose loss was non-finite or > 1e3 x row 0, else -1.
    params: the trained parameters [W1, b1, ...]; a diverged replica keeps the parameters
    it had at the end of the epoch before it diverged.
    best_epoch: (K,) int, the row (0..E) of the lowest finite validation loss before any
    divergence (ties: the earliest row); 0 for a replica with no such row (e.g. NaN data).
    best_params: the parameters at ``best_epoch`` (early stopping's model), laid out as
    ``params`` in a buffer of their own; a replica with no finite row keeps its initial
    parameters. Both are None without validation data.
    """

    train_loss: np.ndarray
    val_loss: np.ndarray | None
    samples: np.ndarray
    steps: np.ndarray
    seconds: np.ndarray
    diverged_epoch: np.ndarray
    params: list[np.ndarray]
    best_epoch: np.ndarray | None = None
    best_params: list[np.ndarray] | None = None

    @property
    def epochs(self) -> int:
        """E, the number of epochs trained (fewer than asked when target_loss stopped early)."""
        return len(self.samples) - 1


def _batch_size(batch_size: int | None, n: int) -> int:
    if batch_size is None:
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size must be an int >= 1 or None (full batch), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None (full batch), got {batch_size}")
    return min(int(batch_size), n)


class Shuffler:
    """Each replica's permutation of the training set, drawn from its own seed every epoch.

    X and Y are kept as the columns of one array, stored transposed: (d + m, n), or
    (d + m, K n) when every replica has its own data. An epoch's shuffle is then one
    ``np.take`` along the samples axis (several times faster than fancy indexing), and a
    batch is a view in which each replica's samples are contiguous, so the elementwise
    passes of the backward run over contiguous rows (2-4x faster than over strided ones).

    Args:
        seeds: the K seeds; replica k shuffles with ``default_rng([seeds[k], SHUFFLE_STREAM])``.
        X, Y: (n, d) and (n, m) shared, or (K, n, d) and (K, n, m).
        batch: the batch size B, 1 <= B; B >= n yields the whole set once per epoch.
        gather_limit: while K n (d + m) <= this, an epoch's samples are gathered in one
            ``np.take`` and batches are views of it; above it, each batch is gathered alone
            (the same batches, with less memory).
    """

    def __init__(
        self,
        seeds: Sequence[int],
        X: np.ndarray,
        Y: np.ndarray,
        batch: int,
        gather_limit: int = GATHER_LIMIT,
    ):
        self.X, self.Y, self.batch = X, Y, batch
        K, self.n, self.d = len(seeds), X.shape[-2], X.shape[-1]
        self.rngs = [np.random.default_rng([s, SHUFFLE_STREAM]) for s in seeds]
        if batch < self.n:
            Y = np.broadcast_to(Y, X.shape[:-1] + Y.shape[-1:]) if Y.ndim < X.ndim else Y
            X = np.broadcast_to(X, Y.shape[:-1] + X.shape[-1:]) if X.ndim < Y.ndim else X
            columns = np.concatenate([X, Y], axis=-1)
            columns = columns.reshape(-1, columns.shape[-1])  # (n, d + m), or (K n, d + m)
            self.columns = np.ascontiguousarray(columns.T)
            # replica k's samples start at k n when every replica has its own data
            self.offsets = np.arange(K)[:, None] * self.n if X.ndim == 3 else 0
        self.gather_all = K * self.n * (X.shape[-1] + Y.shape[-1]) <= gather_limit

    def _take(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The samples index (K, B) of every replica: X (K, B, d) and Y (K, B, m), views."""
        taken = np.take(self.columns, index + self.offsets, axis=1)  # (d + m, K, B)
        return taken[: self.d].transpose(1, 2, 0), taken[self.d :].transpose(1, 2, 0)

    def order(self) -> np.ndarray | None:
        """This epoch's (K, n) permutations, one per replica from its own generator; None for
        a full batch, which takes the samples in their order and draws nothing."""
        if self.batch >= self.n:
            return None
        return np.stack([rng.permutation(self.n) for rng in self.rngs])

    def batches(self):
        """Yield (X_b, Y_b) for one epoch: (K, B, d) and (K, B, m), or the shared full set."""
        order = self.order()
        if order is None:
            yield self.X, self.Y
            return
        if self.gather_all:
            Xs, Ys = self._take(order)
            for start in range(0, self.n, self.batch):
                yield Xs[:, start : start + self.batch], Ys[:, start : start + self.batch]
        else:
            for start in range(0, self.n, self.batch):
                yield self._take(order[:, start : start + self.batch])


def train(
    net: MLP,
    optimizer,
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int | None = 32,
    epochs: int = 20,
    seed: int | Sequence[int] = 0,
    population: int | None = None,
    X_val: np.ndarray | None = None,
    Y_val: np.ndarray | None = None,
    schedule: Callable[[int], float] | None = None,
    target_loss: float | None = None,
    params: Sequence[np.ndarray] | None = None,
    engine: str = "auto",
) -> History:
    """Train a population of K replicas of ``net`` and record every epoch.

    Args:
        net: the network. optimizer: any object with ``init(params)`` and
            ``step(params, grads, state)``; one whose class sets ``elementwise = True`` (all
            built-ins) is stepped over a single (K, P) array holding every parameter.
        X, Y: training data, (n, d) and (n, m) shared, or (K, n, d) and (K, n, m).
        batch_size: None (or >= n) for batch GD, 1 for SGD, else mini-batches.
        epochs: E >= 0. seed, population: as for ``MLP.init``: an int seed with
            ``population`` replicas (default 1), or a sequence of K seeds.
        X_val, Y_val: optional validation data, evaluated after every epoch; the parameters
            of each replica's lowest finite validation loss are kept as ``best_params``.
        schedule: ``schedule(epoch) -> factor``, epoch counted from 0; the optimizer's
            ``lr`` is set to base lr x factor before each epoch and restored afterwards.
        target_loss: stop early once every replica's training loss is <= this or diverged.
        params: start from these parameters (copied) instead of ``net.init(seed)``.
        engine: "numpy", "compiled" (numba; a built-in optimizer, float64, shared data), or
            "auto": the compiled engine where it fits and pays, else NumPy
            (``compiled.resolve_engine``). Both train the same numbers.

    Returns:
        a ``History``; ``best_epoch`` and ``best_params`` are over the rows trained (up to
        an early stop) and before a replica's ``diverged_epoch`` (row 0 if that is 0).
    """
    seeds = resolve_seeds(seed, population)
    if params is None:
        params = net.init(seeds)
    elif params[0].shape[0] != len(seeds):
        raise ValueError(f"params hold {params[0].shape[0]} replicas but {len(seeds)} seeds given")
    flat = net.flatten(params)  # a fresh (K, P) buffer; params become views into it
    params = net.unflatten(flat)
    X, Y = net.check_data(params, X, Y)
    if (X_val is None) != (Y_val is None):
        raise ValueError("give both X_val and Y_val, or neither")
    if X_val is not None:
        X_val, Y_val = net.check_data(params, X_val, Y_val)
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if target_loss is not None and not target_loss > 0:
        raise ValueError(f"target_loss must be > 0 or None, got {target_loss!r}")
    if schedule is not None and not hasattr(optimizer, "lr"):
        raise ValueError(
            f"a schedule needs an optimizer with an lr attribute; {optimizer!r} has none"
        )
    batch = _batch_size(batch_size, X.shape[-2])
    with heap_for_a_run():
        loop = _Loop(net, optimizer, flat, X, Y, X_val, Y_val, seeds, batch, engine)
        return loop.run(epochs, schedule, target_loss)


@contextlib.contextmanager
def heap_for_a_run() -> Iterator[None]:
    """Raise glibc's heap thresholds (the first run of a process), and return the run's freed
    temporaries to the system when it ends, however it ends (``memory.py``)."""
    keep_temporaries_on_the_heap()
    try:
        yield
    finally:
        release_free_heap()


def time_epochs(
    net: MLP,
    optimizer,
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int | None = 32,
    epochs: int = 1,
    seed: int | Sequence[int] = 0,
    engine: str = "auto",
) -> np.ndarray:
    """The seconds of each of ``epochs`` training epochs, (epochs,): shuffle, forward, backward
    and step, with no evaluation and no divergence check. What a trial costs per epoch alone,
    for the benchmark's calibrated time axis; arguments as for ``train``."""
    seeds = resolve_seeds(seed, None)
    flat = net.flatten(net.init(seeds))
    X, Y = net.check_data(net.unflatten(flat), X, Y)
    batch = _batch_size(batch_size, X.shape[-2])
    with heap_for_a_run():
        loop = _Loop(net, optimizer, flat, X, Y, None, None, seeds, batch, engine)
        return np.array([loop._epoch() for _ in range(epochs)])


class _Loop:
    """The state of one train() call: parameters, gradients, optimizer state and records.
    ``engine`` ("auto", "numpy" or "compiled") is resolved here (``compiled.resolve_engine``).
    With the compiled engine, ``self.compiled`` holds the optimizer's state and trains each
    epoch; the gradient buffers and the optimizer's own state are then never made."""

    def __init__(self, net, optimizer, flat, X, Y, X_val, Y_val, seeds, batch, engine="auto"):
        engine = compiled.resolve_engine(
            engine, optimizer, X, batch, len(seeds), flat.dtype, net.sizes
        )[0]
        self.net, self.optimizer, self.flat = net, optimizer, flat
        self.params = net.unflatten(flat)
        self.weights = net.augmented(flat)
        self.X, self.Y = net.with_bias_column(X), Y
        self.X_val = None if X_val is None else net.with_bias_column(X_val)
        self.Y_val = Y_val
        self.shuffler = Shuffler(seeds, self.X, Y, batch)
        self.steps_per_epoch = math.ceil(X.shape[-2] / batch)
        self.frozen = np.zeros(len(seeds), dtype=bool)
        self.compiled = None
        if engine == "compiled":
            self.compiled = compiled.CompiledEpochs(net, optimizer, flat, self.X, Y, batch)
            return
        self.grads_flat = np.empty_like(flat)
        self.grads = net.unflatten(self.grads_flat)
        self.grad_views = net.augmented(self.grads_flat)
        if getattr(optimizer, "elementwise", False):
            self.step_params, self.step_grads = [flat], [self.grads_flat]
        else:
            self.step_params, self.step_grads = self.params, self.grads
        self.state = optimizer.init(self.step_params)

    def _evaluate(self, X, Y) -> np.ndarray:
        loss = self.net.evaluate(self.weights, X, Y)
        loss[self.frozen] = np.nan
        return loss

    def _epoch(self) -> float:
        """One pass over the training set; returns its training seconds."""
        if self.compiled is not None:
            start = time.perf_counter()
            self.compiled.epoch(self.flat, self.shuffler.order(), self.frozen)
            return time.perf_counter() - start
        net, optimizer, frozen_rows = self.net, self.optimizer, np.flatnonzero(self.frozen)
        kept, grads = self.flat[frozen_rows], self.grad_views
        start = time.perf_counter()
        for X_b, Y_b in self.shuffler.batches():
            net.gradient_into(self.weights, X_b, Y_b, grads)
            optimizer.step(self.step_params, self.step_grads, self.state)
            if len(frozen_rows):
                self.flat[frozen_rows] = kept
        return time.perf_counter() - start

    def run(self, epochs: int, schedule, target_loss) -> History:
        K, has_val = self.flat.shape[0], self.X_val is not None
        train_loss = np.full((epochs + 1, K), np.nan)
        val_loss = np.full((epochs + 1, K), np.nan) if has_val else None
        seconds = np.zeros(epochs + 1)
        diverged_epoch = np.full(K, -1)
        base_lr = getattr(self.optimizer, "lr", None)
        last_good = self.flat.copy()
        best_epoch = np.zeros(K, dtype=int) if has_val else None
        best_flat = self.flat.copy() if has_val else None  # (K, P) at each replica's best row
        with np.errstate(all="ignore"):
            train_loss[0] = self._evaluate(self.X, self.Y)
            if has_val:
                val_loss[0] = self._evaluate(self.X_val, self.Y_val)
                best_loss = np.where(np.isfinite(val_loss[0]), val_loss[0], np.inf)  # (K,)
            limit = np.where(train_loss[0] > 0, DIVERGENCE_FACTOR * train_loss[0], np.inf)
            done_at = epochs
            for e in range(epochs + 1):
                if e > 0:
                    if schedule is not None:
                        self.optimizer.lr = base_lr * schedule(e - 1)
                    seconds[e] = seconds[e - 1] + self._epoch()
                    train_loss[e] = self._evaluate(self.X, self.Y)
                new = ~self.frozen & ~(train_loss[e] <= limit)  # NaN compares False
                if new.any():
                    diverged_epoch[new] = e
                    self.frozen |= new
                    self.flat[new] = last_good[new]
                    train_loss[e, new] = np.nan
                if has_val and e > 0:
                    # a frozen replica's val loss is NaN, its diverged row included
                    val_loss[e] = self._evaluate(self.X_val, self.Y_val)
                    better = val_loss[e] < best_loss  # NaN compares False; ties keep the first
                    best_loss[better] = val_loss[e, better]
                    best_epoch[better] = e
                    np.copyto(best_flat, self.flat, where=better[:, None])
                last_good[...] = self.flat
                reached = target_loss is not None and np.all(
                    self.frozen | (train_loss[e] <= target_loss)
                )
                if reached:
                    done_at = e
                    break
        if schedule is not None:
            self.optimizer.lr = base_lr
        rows = slice(0, done_at + 1)
        epoch_index = np.arange(done_at + 1)
        return History(
            train_loss=train_loss[rows],
            val_loss=val_loss[rows] if has_val else None,
            samples=epoch_index * self.X.shape[-2],
            steps=epoch_index * self.steps_per_epoch,
            seconds=seconds[rows],
            diverged_epoch=diverged_epoch,
            params=self.params,
            best_epoch=best_epoch,
            best_params=self.net.unflatten(best_flat) if has_val else None,
        )
