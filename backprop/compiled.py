"""The compiled engine: whole training epochs in one numba kernel call, the same numbers.

``train(..., engine="compiled")`` trains with the kernels below instead of NumPy's batched
products; everything else of a run (the shuffles, the evaluation of the losses after each
epoch, divergence, best_params, the early stop) is ``training.py``'s, shared by both engines.
The NumPy engine stays the reference: the tests hold this one to it (tests/test_compiled.py).
numba is optional (``pip install 'backprop-bench[fast]'``) and imported only when a run uses
this engine; ``resolve_engine`` says which engine "auto" picks, and why.

One call of ``train_epoch`` trains every replica k (one after the other: replicas are
independent, so replica k computes the same numbers alone as in any population) over its
permutation ``order[k]`` of the n samples, batch after batch. For each batch of B samples,
and each sample x in it, in the notation of ``network.py`` (layer l = 1..L, a_0 = x, the
bias folded into V_l = [W_l; b_l] by a constant 1 appended to a_{l-1}):

    forward:   z_l = [a_{l-1}, 1] @ V_l,   a_l = f(z_l)   (the output activation at l = L)
    backward:  delta_L = dE/dz_L                          (the loss's delta, with E the mean
                                                           over the B samples of the batch)
               dE/dV_l += [a_{l-1}, 1]^T delta_l          (summed over the batch's samples)
               delta_{l-1} = (delta_l @ W_l^T) * f'(a_{l-1})

then one optimizer step on replica k's row of the (K, P) parameter buffer with the batch's
gradient, the step count t counted from the start of the run. A frozen replica is skipped.

One function compiles, ``train_epoch``, for one signature (``SIGNATURE``), once per machine,
into numba's cache (``__pycache__`` beside this file); later processes load it. The helpers
below it are inlined into it. The activation, output, loss and optimizer are passed as small
integer codes (``HIDDEN``, ``OUTPUT``, ``LOSS``, ``OPTIMIZER``), not compiled per combination,
so a fresh machine compiles that one function whatever the network and optimizer:

    hidden f:   relu 0, leaky_relu 1, sigmoid 2, tanh 3, identity 4
    output:     identity 0, sigmoid 1, softmax 2
    loss:       half_squared_error 0, binary_cross_entropy 1, softmax_cross_entropy 2
    optimizer:  SGD 0, Adagrad 1, Adadelta 2, RMSprop 3, Adam and AdamW 4, NAdam 5

The hyperparameters are a (K, H) float array, one row per replica, its columns named by the
constants LR, WEIGHT_DECAY, ... below; the optimizer's switches (nesterov, a momentum buffer,
centered, amsgrad, decoupled weight decay) are flags in the codes. The optimizer's buffers
are a (K, 3, P) array the engine keeps for the whole run, its slots per optimizer in
``BUFFERS``. Each rule is ``optimizers.py``'s (torch.optim's), written elementwise in the
same order of operations.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from backprop.network import MLP
from backprop.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop

INSTALL = "pip install 'backprop-bench[fast]'"
ENGINES = ("auto", "numpy", "compiled")
BUILT_INS = (SGD, Adagrad, Adadelta, RMSprop, Adam, AdamW, NAdam)
# "auto" trains with the compiled engine up to this many samples per step over the population
# (K x B); beyond, NumPy's batched products win (measured: tests/perf/test_compiled_perf.py)
COMPILED_UP_TO = 96
REPORT_COMPILE_FROM = 5.0  # seconds: without numba's cache statistics, a slower load compiled

HIDDEN = {"relu": 0, "leaky_relu": 1, "sigmoid": 2, "tanh": 3, "identity": 4}
OUTPUT = {"identity": 0, "sigmoid": 1, "softmax": 2}
LOSS = {"half_squared_error": 0, "binary_cross_entropy": 1, "softmax_cross_entropy": 2}
OPTIMIZER = {SGD: 0, Adagrad: 1, Adadelta: 2, RMSprop: 3, Adam: 4, AdamW: 4, NAdam: 5}
RELU, LEAKY_RELU, SIGMOID, TANH, IDENTITY = range(5)  # hidden codes
SIGMOID_OUT, SOFTMAX_OUT = 1, 2  # output codes (identity is 0)
HALF_SQUARED_ERROR = 0  # the loss code whose delta depends on the output
SGD_, ADAGRAD, ADADELTA, RMSPROP, ADAM, NADAM = range(6)  # optimizer codes
LEAKY_SLOPE = 0.01
WIDE = 4  # a layer of this many units or more is looped over its units innermost

# the codes array: what each entry holds
C_HIDDEN, C_OUTPUT, C_LOSS, C_OPTIMIZER = 0, 1, 2, 3
C_NESTEROV, C_MOMENTUM_BUFFER, C_CENTERED, C_AMSGRAD, C_DECOUPLED = 4, 5, 6, 7, 8
N_CODES = 9

# the columns of the (K, H) hyperparameters
LR, WEIGHT_DECAY, MOMENTUM, UNDAMPED, EPS, LR_DECAY, RHO, BETA1, BETA2, MOMENTUM_DECAY = range(10)
N_HYPERPARAMETERS = 10

# the buffers' slots, per optimizer (torch's state names)
BUFFERS = {
    SGD_: ("momentum_buffer",),
    ADAGRAD: ("sum",),
    ADADELTA: ("square_avg", "acc_delta"),
    RMSPROP: ("square_avg", "grad_avg", "momentum_buffer"),
    ADAM: ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    NADAM: ("exp_avg", "exp_avg_sq"),
}

_KERNELS: list = []  # the functions below that numba compiles, in the order they are defined


def _kernel(function):
    """Mark a function for numba: ``_load`` replaces it, under its own name, by
    ``numba.njit(cache=True)(function)``; until then it is the plain Python function."""
    _KERNELS.append(function)
    return function


# ----------------------------------------------------------------- the kernels


@_kernel
def _activate(code, z, count):
    """a = f(z) in place on z[:count], for the hidden activation ``code``."""
    if code == RELU:
        for j in range(count):
            z[j] = z[j] if z[j] > 0.0 else 0.0
    elif code == LEAKY_RELU:
        for j in range(count):
            z[j] = z[j] if z[j] > 0.0 else LEAKY_SLOPE * z[j]
    elif code == SIGMOID:
        for j in range(count):
            z[j] = 1.0 / (1.0 + math.exp(-z[j]))
    elif code == TANH:
        for j in range(count):
            z[j] = math.tanh(z[j])


@_kernel
def _times_slope(code, delta, a, count):
    """delta *= f'(z), in place on delta[:count], with f' written from a = f(z)."""
    if code == RELU:
        for i in range(count):
            delta[i] = delta[i] if a[i] > 0.0 else 0.0 * delta[i]
    elif code == LEAKY_RELU:
        for i in range(count):
            delta[i] *= 1.0 if a[i] > 0.0 else LEAKY_SLOPE
    elif code == SIGMOID:
        for i in range(count):
            delta[i] *= a[i] * (1.0 - a[i])
    elif code == TANH:
        for i in range(count):
            delta[i] *= 1.0 - a[i] * a[i]


@_kernel
def _output_and_delta(output, loss, z, y, n, delta):
    """yhat = the output activation of z, in place, and delta_L = dE/dz_L for one sample of a
    batch of n: g = (yhat - y) / n, times dyhat/dz for the half squared error (``losses.py``)."""
    m = y.shape[0]
    if output == SIGMOID_OUT:
        for j in range(m):
            z[j] = 1.0 / (1.0 + math.exp(-z[j]))
    elif output == SOFTMAX_OUT:
        top = z[0]
        for j in range(1, m):
            top = max(top, z[j])
        total = 0.0
        for j in range(m):
            z[j] = math.exp(z[j] - top)
            total += z[j]
        for j in range(m):
            z[j] = z[j] / total
    for j in range(m):
        delta[j] = (z[j] - y[j]) * (1.0 / n)
    if loss == HALF_SQUARED_ERROR and output == SIGMOID_OUT:
        for j in range(m):
            delta[j] = delta[j] * (z[j] * (1.0 - z[j]))
    elif loss == HALF_SQUARED_ERROR and output == SOFTMAX_OUT:
        inner = 0.0  # sum_i g_i yhat_i
        for j in range(m):
            inner += delta[j] * z[j]
        for j in range(m):
            delta[j] = z[j] * (delta[j] - inner)


@_kernel
def _backprop_sample(p, x, y, n, layers, codes, acts, delta, grads):
    """Add one sample's dE/dV_l (E the mean over a batch of n) to grads, for the parameters p
    of one replica: forward, keeping a_l in acts[l] (with the bias neuron's 1 after it), then
    the delta loop. layers[l - 1] = (fan_in, fan_out, offset): V_l is p[offset:], row-major,
    V_l[i, j] = V[i * fan_out + j] below (a 2-D reshape costs more than a small layer)."""
    L = layers.shape[0]
    hidden = codes[C_HIDDEN]
    for i in range(x.shape[0]):  # a_0 = [x, 1]: the bias column is already in X1
        acts[0, i] = x[i]
    for l in range(1, L + 1):
        fan_in, fan_out, offset = layers[l - 1, 0], layers[l - 1, 1], layers[l - 1, 2]
        z = acts[l]
        for j in range(fan_out):
            z[j] = 0.0
        _add_product(acts[l - 1], p[offset:], fan_in + 1, fan_out, z)  # z_l = [a_{l-1}, 1] @ V_l
        if l < L:
            _activate(hidden, z, fan_out)  # a_l = f(z_l)
            z[fan_out] = 1.0
    _output_and_delta(codes[C_OUTPUT], codes[C_LOSS], acts[L], y, n, delta[L % 2])
    for l in range(L, 0, -1):
        fan_in, fan_out, offset = layers[l - 1, 0], layers[l - 1, 1], layers[l - 1, 2]
        V, a, d = p[offset:], acts[l - 1], delta[l % 2]
        _add_outer(a, d, fan_in + 1, fan_out, grads[offset:])  # dE/dV_l += [a_{l-1}, 1]^T delta_l
        if l > 1:  # delta_{l-1} = (delta_l @ W_l^T) * f'(a_{l-1})
            below = delta[(l - 1) % 2]
            for i in range(fan_in):
                total, row = 0.0, i * fan_out
                for j in range(fan_out):
                    total += d[j] * V[row + j]
                below[i] = total
            _times_slope(hidden, below, a, fan_in)


@_kernel
def _add_product(a, V, rows, columns, z):
    """z[j] += sum_i a[i] V[i, j], the sum over i in order, for V (rows, columns) row-major.

    A wide layer loops over j innermost, which the compiler vectorises; a layer of a few
    units over i. Both orders add the same terms in the same order: the same numbers.
    """
    if columns >= WIDE:
        for i in range(rows):
            a_i, row = a[i], i * columns
            for j in range(columns):
                z[j] += a_i * V[row + j]
    else:
        for j in range(columns):
            total = z[j]
            for i in range(rows):
                total += a[i] * V[i * columns + j]
            z[j] = total


@_kernel
def _add_outer(a, d, rows, columns, dV):
    """dV[i, j] += a[i] d[j], for dV (rows, columns) row-major; loops as in _add_product."""
    if columns >= WIDE:
        for i in range(rows):
            a_i, row = a[i], i * columns
            for j in range(columns):
                dV[row + j] += a_i * d[j]
    else:
        for j in range(columns):
            d_j = d[j]
            for i in range(rows):
                dV[i * columns + j] += a[i] * d_j


@_kernel
def _optimizer_step(p, g, buffers, h, t, codes, mu_product):
    """One update of a replica's parameters p (P,) with its gradient g, in place: the rule of
    ``codes[C_OPTIMIZER]`` with the replica's hyperparameters h (H,), its buffers (3, P) and,
    for NAdam, its mu_product (a (1,) array); t is the step count, 1 on the first step."""
    rule = codes[C_OPTIMIZER]
    lr, weight_decay = h[LR], h[WEIGHT_DECAY]
    decoupled = codes[C_DECOUPLED] == 1 and (rule == ADAM or rule == NADAM)
    if decoupled:  # AdamW's p = p (1 - lr weight_decay); then d = g
        if weight_decay != 0.0:
            decay = 1.0 - lr * weight_decay
            for i in range(p.shape[0]):
                p[i] *= decay
        weight_decay = 0.0
    if weight_decay != 0.0:  # d = g + weight_decay p, torch's L2 decay, kept in g
        for i in range(p.shape[0]):
            g[i] = p[i] * weight_decay + g[i]
    if rule == SGD_:
        _sgd(p, g, buffers[0], h, t == 1, codes)
    elif rule == ADAGRAD:
        clr = lr / (1.0 + (t - 1) * h[LR_DECAY])
        total = buffers[0]
        for i in range(p.shape[0]):
            total[i] += g[i] * g[i]
            p[i] -= g[i] / (math.sqrt(total[i]) + h[EPS]) * clr
    elif rule == ADADELTA:
        rho, eps = h[RHO], h[EPS]
        square_avg, acc_delta = buffers[0], buffers[1]
        for i in range(p.shape[0]):
            square_avg[i] = square_avg[i] * rho + g[i] * g[i] * (1.0 - rho)
            delta = math.sqrt((acc_delta[i] + eps) / (square_avg[i] + eps)) * g[i]
            acc_delta[i] = acc_delta[i] * rho + delta * delta * (1.0 - rho)
            p[i] -= delta * lr
    elif rule == RMSPROP:
        _rmsprop(p, g, buffers, h, codes)
    else:
        _adam(p, g, buffers, h, t, codes, mu_product)


@_kernel
def _sgd(p, g, b, h, first, codes):
    """SGD: b = momentum b + (1 - dampening) d (b = d at first), d = d + momentum b with
    Nesterov else b, then p = p - lr d."""
    lr, momentum, undamped = h[LR], h[MOMENTUM], h[UNDAMPED]
    if codes[C_MOMENTUM_BUFFER] == 0:
        for i in range(p.shape[0]):
            p[i] -= g[i] * lr
        return
    nesterov = codes[C_NESTEROV] == 1
    for i in range(p.shape[0]):
        b[i] = g[i] if first else b[i] * momentum + g[i] * undamped
        d = b[i] * momentum + g[i] if nesterov else b[i]
        p[i] -= d * lr


@_kernel
def _rmsprop(p, g, buffers, h, codes):
    """RMSprop: square_avg, centered grad_avg, and a momentum buffer that starts at 0."""
    lr, alpha, eps, momentum = h[LR], h[RHO], h[EPS], h[MOMENTUM]
    square_avg, grad_avg, b = buffers[0], buffers[1], buffers[2]
    centered, has_momentum = codes[C_CENTERED] == 1, codes[C_MOMENTUM_BUFFER] == 1
    for i in range(p.shape[0]):
        square_avg[i] = square_avg[i] * alpha + g[i] * g[i] * (1.0 - alpha)
        if centered:
            grad_avg[i] += (g[i] - grad_avg[i]) * (1.0 - alpha)
            avg = math.sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]) + eps
        else:
            avg = math.sqrt(square_avg[i]) + eps
        if has_momentum:
            b[i] = b[i] * momentum + g[i] / avg
            p[i] -= b[i] * lr
        else:
            p[i] -= g[i] / avg * lr


@_kernel
def _adam(p, g, buffers, h, t, codes, mu_product):
    """Adam (amsgrad) and NAdam: m = lerp(m, d, 1 - beta1), v = beta2 v + (1 - beta2) d^2,
    then Adam's p -= step_size m / (sqrt(v) + eps_hat), or NAdam's two terms."""
    lr, beta1, beta2 = h[LR], h[BETA1], h[BETA2]
    m, v, v_max = buffers[0], buffers[1], buffers[2]
    s = (1.0 - beta2 ** float(t)) ** 0.5  # sqrt(1 - beta2^t)
    eps_hat = h[EPS] * s
    amsgrad = codes[C_AMSGRAD] == 1
    if codes[C_OPTIMIZER] == ADAM:
        step_size = lr * s / (1.0 - beta1 ** float(t))
        for i in range(p.shape[0]):
            m[i] += (g[i] - m[i]) * (1.0 - beta1)
            v[i] = v[i] * beta2 + g[i] * g[i] * (1.0 - beta2)
            if amsgrad:
                v_max[i] = max(v_max[i], v[i])
                p[i] -= m[i] / (math.sqrt(v_max[i]) + eps_hat) * step_size
            else:
                p[i] -= m[i] / (math.sqrt(v[i]) + eps_hat) * step_size
        return
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * h[MOMENTUM_DECAY]))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * h[MOMENTUM_DECAY]))
    mu_product[0] = mu_product[0] * mu
    grad_size = lr * (1.0 - mu) / (1.0 - mu_product[0]) * s
    avg_size = lr * mu_next / (1.0 - mu_product[0] * mu_next) * s
    for i in range(p.shape[0]):
        m[i] += (g[i] - m[i]) * (1.0 - beta1)
        v[i] = v[i] * beta2 + g[i] * g[i] * (1.0 - beta2)
        denom = math.sqrt(v[i]) + eps_hat
        p[i] -= g[i] / denom * grad_size
        p[i] -= m[i] / denom * avg_size


@_kernel
def train_epoch(flat, X1, Y, order, batch, layers, codes, hyper, buffers, mu_product, step, frozen):
    """One epoch of every replica that is not frozen, in place on flat (K, P), buffers
    (K, 3, P) and mu_product (K,).

    X1: (n, d + 1) inputs with the bias column; Y: (n, m); order: (K, n) each replica's
    permutation of the samples, or (1, n) shared; batch: B; layers: (L, 3) rows (fan_in,
    fan_out, offset of V_l); codes: (N_CODES,); hyper: (K, H); step: the steps taken before
    this epoch; frozen: (K,) bool.
    """
    K, P = flat.shape
    n = X1.shape[0]
    width = max(X1.shape[1], layers[:, 1].max() + 1)
    acts = np.empty((layers.shape[0] + 1, width))  # acts[l] = [a_l, 1]
    delta = np.empty((2, width))  # delta_l in delta[l % 2]
    grads = np.empty(P)
    for k in range(K):
        if frozen[k]:
            continue
        rows = order[k] if order.shape[0] > 1 else order[0]
        for s, start in enumerate(range(0, n, batch)):
            stop = min(start + batch, n)
            for i in range(P):
                grads[i] = 0.0
            for sample in rows[start:stop]:
                _backprop_sample(
                    flat[k], X1[sample], Y[sample], stop - start, layers, codes, acts, delta, grads
                )
            _optimizer_step(
                flat[k], grads, buffers[k], hyper[k], step + s + 1, codes, mu_product[k : k + 1]
            )


# the argument types of train_epoch, the one signature compiled
SIGNATURE = (
    "void(f8[:, ::1], f8[:, ::1], f8[:, ::1], i8[:, ::1], i8, i8[:, ::1], i8[::1], f8[:, ::1], "
    "f8[:, :, ::1], f8[::1], i8, b1[::1])"
)


# ----------------------------------------------------------------- loading


def available() -> bool:
    """True when numba is installed (it is not imported here)."""
    return importlib.util.find_spec("numba") is not None


_loaded: dict = {}


def _load():
    """The compiled ``train_epoch``: compiled on the first use on this machine (one line on
    stderr says so, with the time), loaded from numba's cache after that, silently."""
    if "train_epoch" in _loaded:
        return _loaded["train_epoch"]
    if not available():
        raise ImportError(f"engine='compiled' needs numba, which is not installed: {INSTALL}")
    import numba

    start = time.perf_counter()
    module = sys.modules[__name__]
    for function in _KERNELS:  # the helpers are inlined into train_epoch, the one compiled
        inline = "never" if function.__name__ == "train_epoch" else "always"
        setattr(module, function.__name__, numba.njit(cache=True, inline=inline)(function))
    kernel = module.train_epoch
    kernel.compile(SIGNATURE)
    kernel.disable_compile()  # a call with other argument types is a bug: raise, never compile
    seconds = time.perf_counter() - start
    stats = getattr(kernel, "stats", None)  # numba's cache hits and misses, per signature
    if stats is not None and hasattr(stats, "cache_misses"):
        compiled = sum(stats.cache_misses.values()) > 0
    else:
        compiled = seconds > REPORT_COMPILE_FROM
    if compiled:
        print(
            f"backprop: compiled the training kernels in {seconds:.1f} s "
            "(once per machine; cached)",
            file=sys.stderr,
        )
    _loaded["train_epoch"] = kernel
    _loaded["seconds"], _loaded["compiled"] = seconds, compiled
    return kernel


def cached() -> bool:
    """Whether numba's cache on this machine has an index for this source's kernel (the file
    ``compiled.train_epoch-<its line>.py<version>.nbi``, in ``__pycache__`` beside this module or
    under NUMBA_CACHE_DIR). A cheap test that a run's workers will load, not compile."""
    line = _source_line()
    name = f"compiled.train_epoch-{line}.py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    folder = os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).parent / "__pycache__"
    return any(Path(folder).rglob(name))


def _source_line() -> int:
    """The line of ``def train_epoch`` in this file (numba names its cache files by it)."""
    function = train_epoch
    function = getattr(function, "py_func", function)  # once compiled, numba's dispatcher
    return function.__code__.co_firstlineno


def load() -> float:
    """Compile (or load from the cache) the kernels now, e.g. once before starting workers;
    returns the seconds it took. ImportError without numba."""
    _load()
    return _loaded["seconds"]


# ----------------------------------------------------------------- choosing the engine


def _misfit(optimizer, X: np.ndarray, dtype) -> str | None:
    """Why the compiled engine cannot train this run, or None if it can."""
    if type(optimizer) not in BUILT_INS:
        names = ", ".join(c.__name__ for c in BUILT_INS)
        return (
            f"the optimizer {type(optimizer).__name__} is not one of the built-ins ({names}); "
            "the compiled engine has their rules only"
        )
    if np.dtype(dtype) != np.float64:
        return f"the parameters are {np.dtype(dtype)}; the compiled engine trains float64 only"
    if np.ndim(X) == 3:
        return (
            f"every replica has its own data (X of shape {np.shape(X)}); the compiled engine "
            "takes data shared by all replicas, (n, d)"
        )
    return None


def resolve_engine(
    engine: str,
    optimizer,
    X: np.ndarray,
    batch_size: int | None,
    population: int = 1,
    dtype=None,
) -> tuple[str, str]:
    """The engine a run trains with, "numpy" or "compiled", and the reason, in words.

    Args:
        engine: "auto", "numpy" or "compiled".
        optimizer, X, batch_size: as for ``train`` (X (n, d) or (K, n, d)).
        population: K, the number of replicas.
        dtype: the parameters' dtype (default X's, float64 for non-float X).

    "auto" picks "compiled" where it fits and pays: numba installed, a built-in optimizer,
    float64, data shared by the replicas, and at most COMPILED_UP_TO samples per step over
    the population (K x B), beyond which NumPy's batched BLAS products are faster (a full
    batch of a real data set always is). Asking for "compiled" where it does not fit raises
    a ValueError saying why (an ImportError without numba); where it is slower, it trains.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    if engine == "numpy":
        return "numpy", "asked for"
    if dtype is None:
        kind = np.asarray(X).dtype
        dtype = kind if kind.kind == "f" else np.float64
    misfit = _misfit(optimizer, X, dtype)
    if engine == "compiled":
        if misfit:
            raise ValueError(f"engine='compiled' cannot train this run: {misfit}")
        if not available():
            raise ImportError(f"engine='compiled' needs numba, which is not installed: {INSTALL}")
        return "compiled", "asked for"
    if not available():
        return "numpy", f"numba is not installed ({INSTALL} for the compiled engine)"
    if misfit:
        return "numpy", misfit
    n = np.shape(X)[-2]
    batch = n if batch_size is None else min(batch_size, n)
    if population * batch > COMPILED_UP_TO:
        return "numpy", (
            f"{population} replicas x batches of {batch} = {population * batch} samples per "
            f"step > {COMPILED_UP_TO}, where NumPy's batched products are faster"
        )
    return "compiled", (
        f"{population} replicas x batches of {batch} = {population * batch} samples per step "
        f"<= {COMPILED_UP_TO}, where the compiled engine is faster"
    )


# ----------------------------------------------------------------- one run's state


def _per_replica(name: str, value, K: int) -> np.ndarray:
    """A hyperparameter as K float64 values: a scalar broadcast, or one value per replica."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return np.full(K, float(array))
    if array.shape != (K,):
        raise ValueError(
            f"{name} has {array.size} values but the population has K={K} replicas; "
            "give a scalar or one value per replica"
        )
    return array


def _is_zero(value) -> bool:
    """A scalar 0 (the built-ins then keep no momentum buffer); K values are never zero."""
    return np.ndim(value) == 0 and value == 0


class CompiledEpochs:
    """The compiled engine's side of one run: the kernel's fixed arguments and the state it
    keeps for the whole run, the optimizer's buffers (K, 3, P), the step count and NAdam's
    mu_product (K,).

    Args:
        net: the network. optimizer: a built-in optimizer (``resolve_engine`` checks).
        flat: the (K, P) float64 parameter buffer, trained in place.
        X1: (n, d + 1) inputs with the bias column; Y: (n, m). batch: B, 1 <= B <= n.
    """

    def __init__(self, net: MLP, optimizer, flat: np.ndarray, X1: np.ndarray, Y, batch: int):
        self.kernel = _load()
        self.optimizer, self.batch = optimizer, int(batch)
        K, P = flat.shape
        self.X1, self.Y = np.ascontiguousarray(X1), np.ascontiguousarray(Y)
        n = self.X1.shape[0]
        self.steps_per_epoch = -(-n // self.batch)
        offsets = np.cumsum([0] + [(fan_in + 1) * fan_out for fan_in, fan_out in net.shapes])
        self.layers = np.array(
            [(i, o, offset) for (i, o), offset in zip(net.shapes, offsets, strict=False)],
            dtype=np.int64,
        )
        self.codes = self._codes(net, optimizer)
        self.hyper = self._hyperparameters(K)  # checks each hyperparameter's K now
        self.buffers = np.zeros((K, 3, P))
        if self.codes[C_OPTIMIZER] == ADAGRAD:
            initial = optimizer.initial_accumulator_value
            self.buffers[:, 0] = _per_replica("initial_accumulator_value", initial, K)[:, None]
        self.mu_product = np.ones(K)
        self.step = 0
        self.shared_order = np.arange(n, dtype=np.int64)[None]  # a full batch: no shuffle

    @staticmethod
    def _codes(net: MLP, optimizer) -> np.ndarray:
        codes = np.zeros(N_CODES, dtype=np.int64)
        codes[C_HIDDEN], codes[C_OUTPUT] = HIDDEN[net.hidden], OUTPUT[net.output]
        codes[C_LOSS], codes[C_OPTIMIZER] = LOSS[net.loss], OPTIMIZER[type(optimizer)]
        flags = {
            C_NESTEROV: getattr(optimizer, "nesterov", False),
            C_MOMENTUM_BUFFER: not _is_zero(getattr(optimizer, "momentum", 0)),
            C_CENTERED: getattr(optimizer, "centered", False),
            C_AMSGRAD: getattr(optimizer, "amsgrad", False),
            C_DECOUPLED: getattr(optimizer, "decoupled_weight_decay", False),
        }
        for slot, flag in flags.items():
            codes[slot] = bool(flag)
        return codes

    def _hyperparameters(self, K: int) -> np.ndarray:
        """The optimizer's hyperparameters as they are now, (K, H): read before every epoch,
        as a schedule sets ``optimizer.lr`` before every epoch."""
        opt, hyper = self.optimizer, np.zeros((K, N_HYPERPARAMETERS))
        hyper[:, LR] = _per_replica("lr", opt.lr, K)
        hyper[:, WEIGHT_DECAY] = _per_replica("weight_decay", opt.weight_decay, K)
        if isinstance(opt, SGD | RMSprop):
            hyper[:, MOMENTUM] = _per_replica("momentum", opt.momentum, K)
        if isinstance(opt, SGD):  # 1 - dampening, and 1 where momentum is 0 (torch: no buffer)
            undamped = 1 - _per_replica("dampening", opt.dampening, K)
            hyper[:, UNDAMPED] = np.where(hyper[:, MOMENTUM] == 0, 1.0, undamped)
        if not isinstance(opt, SGD):
            hyper[:, EPS] = _per_replica("eps", opt.eps, K)
        if isinstance(opt, Adagrad):
            hyper[:, LR_DECAY] = _per_replica("lr_decay", opt.lr_decay, K)
        if isinstance(opt, Adadelta):
            hyper[:, RHO] = _per_replica("rho", opt.rho, K)
        if isinstance(opt, RMSprop):
            hyper[:, RHO] = _per_replica("alpha", opt.alpha, K)
        if isinstance(opt, Adam | NAdam):
            hyper[:, BETA1] = _per_replica("betas[0]", opt.betas[0], K)
            hyper[:, BETA2] = _per_replica("betas[1]", opt.betas[1], K)
        if isinstance(opt, NAdam):
            hyper[:, MOMENTUM_DECAY] = _per_replica("momentum_decay", opt.momentum_decay, K)
        return hyper

    def epoch(self, flat: np.ndarray, order: np.ndarray | None, frozen: np.ndarray) -> None:
        """Train one epoch in place on flat: order (K, n) the replicas' permutations, or None
        for a full batch in the samples' order; a frozen (K,) replica is left as it is."""
        order = self.shared_order if order is None else np.ascontiguousarray(order, np.int64)
        self.kernel(
            flat,
            self.X1,
            self.Y,
            order,
            self.batch,
            self.layers,
            self.codes,
            self._hyperparameters(flat.shape[0]),
            self.buffers,
            self.mu_product,
            self.step,
            np.ascontiguousarray(frozen, dtype=np.bool_),
        )
        self.step += self.steps_per_epoch
