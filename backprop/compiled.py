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
Plain SGD (no momentum, no weight decay) on batches of one sample steps each layer as
soon as delta_{l-1} has read it, V_l - (a_{l-1}^T delta_l) lr, the same numbers without
writing the gradient and reading it back (``_outer_step``).

A batch is taken in chunks of up to CHUNK samples, each layer for all the chunk's samples at
once: a_l of the chunk is a (CHUNK, width) array, sample b's a_l in row b, so that the
innermost loops run over a layer's units (or, for a layer of fewer than WIDE units, over its
inputs or the samples) and the compiler vectorises them; and each sum is taken four terms
per pass (z + a_0 w_0 + a_1 w_1 + a_2 w_2 + a_3 w_3, left to right), which loads and stores z
a quarter as often as one term per pass. A narrow layer's sums are dot products, eight
samples at a time: independent sums, which the processor overlaps. Every array is indexed
in two dimensions through views made once per replica and epoch (``_layer``: V_l and dE/dV_l
as (fan_in + 1, fan_out) matrices) or once per run (the scratch arrays): a view made inside
a loop (a slice) costs about as much as the loop's arithmetic. Every sum still adds its
terms in one fixed order (over the inputs i, then the bias, for z; over the samples b for
dE/dV; over the units j for delta_{l-1}), which depends on the layer sizes and B only: a
replica's numbers never depend on K or on the other replicas. With FMA contraction
(``FASTMATH``), they differ from NumPy's (BLAS sums in its own order) in the last bits,
1e-13 relative after whole runs in the tests.

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
# "auto" trains with the compiled engine while a replica's batch B times its largest weight
# matrix (fan_in x fan_out) stays below this many multiply-adds; beyond, NumPy's BLAS products
# win. Measured side by side, one BLAS thread: compiled 1.0-2.2x at every K from 1 to 256 on
# the default suite's networks at batches of 1 to 512, 2x on the full batch of 20,000 moons
# (2-32-1: 1.3 M); NumPy ties or wins on digits' full batch (1078 x 64 x 32 = 2.2 M: 0.9-1.0x),
# with two hidden layers of 64 or 128 at batches of 256 (1.0 M, 4.2 M: 0.9x, 0.7x) and beyond
# (tests/perf/test_compiled_perf.py)
COMPILED_UP_TO = 1 << 21
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
CHUNK = 64  # samples of a batch forwarded and backpropagated together, at most
# numba's compile options for every kernel: fused multiply-adds ("contract"), and NumPy's
# error model, where x / 0 is inf or nan as in NumPy (Python's raises, and its check keeps
# the compiler from vectorising any loop with a division). Never "nnan" or "ninf" (nor
# fastmath=True): a diverging replica's inf and nan must propagate as in the NumPy engine.
FASTMATH = {"contract"}

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
    ``numba.njit(cache=True, ...)(function)``; until then it is the plain Python function."""
    _KERNELS.append(function)
    return function


# ----------------------------------------------------------------- the kernels


@_kernel
def _activate(code, z, a, count, size):
    """a = f(z) on [:count, :size], for the hidden activation ``code`` (identity: a = z). a
    and z are different arrays, or the compiler turns the relu into a conditional store,
    slow."""
    for b in range(count):
        if code == RELU:  # NaN stays NaN, as with np.maximum
            for q in range(size):
                a[b, q] = 0.0 if z[b, q] <= 0.0 else z[b, q]
        elif code == LEAKY_RELU:
            for q in range(size):
                a[b, q] = z[b, q] if z[b, q] > 0.0 else LEAKY_SLOPE * z[b, q]
        elif code == SIGMOID:
            for q in range(size):
                a[b, q] = 1.0 / (1.0 + math.exp(-z[b, q]))
        elif code == TANH:
            for q in range(size):
                a[b, q] = math.tanh(z[b, q])
        else:
            for q in range(size):
                a[b, q] = z[b, q]


@_kernel
def _times_slope(code, delta, a, out, count, size):
    """out = delta * f'(z) on [:count, :size], with f' written from a = f(z); out is not
    delta (as in _activate)."""
    for b in range(count):
        if code == RELU:
            for q in range(size):
                out[b, q] = delta[b, q] if a[b, q] > 0.0 else 0.0 * delta[b, q]
        elif code == LEAKY_RELU:
            for q in range(size):
                out[b, q] = delta[b, q] * (1.0 if a[b, q] > 0.0 else LEAKY_SLOPE)
        elif code == SIGMOID:
            for q in range(size):
                out[b, q] = delta[b, q] * (a[b, q] * (1.0 - a[b, q]))
        elif code == TANH:
            for q in range(size):
                out[b, q] = delta[b, q] * (1.0 - a[b, q] * a[b, q])
        else:
            for q in range(size):
                out[b, q] = delta[b, q]


@_kernel
def _output_and_delta(output, loss, z, Y, rows, first, count, n, yhat, delta):
    """yhat = the output activation of z, and delta_L = dE/dz_L, for the samples
    rows[first : first + count] of a batch of n: g = (yhat - y) / n, times dyhat/dz for the
    half squared error (``losses.py``). z, yhat and delta: sample b's m outputs in row b."""
    m = Y.shape[1]
    scale = 1.0 / n
    for b in range(count):
        if output == SIGMOID_OUT:
            for j in range(m):
                yhat[b, j] = 1.0 / (1.0 + math.exp(-z[b, j]))
        elif output == SOFTMAX_OUT:
            top = z[b, 0]
            for j in range(1, m):
                top = max(top, z[b, j])
            total = 0.0
            for j in range(m):
                yhat[b, j] = math.exp(z[b, j] - top)
                total += yhat[b, j]
            for j in range(m):
                yhat[b, j] = yhat[b, j] / total
        else:
            for j in range(m):
                yhat[b, j] = z[b, j]
        y = rows[first + b]
        for j in range(m):
            delta[b, j] = (yhat[b, j] - Y[y, j]) * scale
        if loss == HALF_SQUARED_ERROR and output == SIGMOID_OUT:
            for j in range(m):
                delta[b, j] = delta[b, j] * (yhat[b, j] * (1.0 - yhat[b, j]))
        elif loss == HALF_SQUARED_ERROR and output == SOFTMAX_OUT:
            inner = 0.0  # sum_i g_i yhat_i
            for j in range(m):
                inner += delta[b, j] * yhat[b, j]
            for j in range(m):
                delta[b, j] = yhat[b, j] * (delta[b, j] - inner)


@_kernel
def _backprop_chunk(
    Vs, Gs, X1, Y, rows, first, count, n, layers, codes, acts, z, delta, WT, zeros, fused, lr
):
    """Add the dE/dV_l of the samples rows[first : first + count] (E the mean over a batch of
    n) to the gradient views Gs, for the parameter views Vs of one replica (Vs[l - 1] is
    V_l = [W_l; b_l], (fan_in + 1, fan_out); layers[l - 1] = (fan_in, fan_out, offset)):
    forward, every sample b of the chunk at once, keeping a_l of sample b in acts[l, b], then
    the delta loop likewise. z, delta[2] and WT are scratch; zeros, zeros. When ``fused``
    (plain SGD, learning rate lr, on batches of one sample) each V_l takes its step here
    instead (``_outer_step``), after delta_{l-1} has read it, and Gs is not written."""
    L = layers.shape[0]
    hidden = codes[C_HIDDEN]
    _forward(Vs, X1, rows, first, count, layers, hidden, acts, z, zeros)
    output, loss = codes[C_OUTPUT], codes[C_LOSS]
    _output_and_delta(output, loss, z, Y, rows, first, count, n, acts[L], delta[L % 2])
    for l in range(L, 0, -1):
        fan_in, fan_out = layers[l - 1, 0], layers[l - 1, 1]
        d = delta[l % 2]
        if l > 1:  # delta_{l-1} = (delta_l @ W_l^T) * f'(a_{l-1})
            _delta_below(d, Vs[l - 1], fan_in, fan_out, count, WT, delta[2])
            _times_slope(hidden, delta[2], acts[l - 1], delta[(l - 1) % 2], count, fan_in)
        if fused:
            _outer_step(acts[l - 1][0], d[0], fan_in, fan_out, Vs[l - 1], lr)
        elif n == 1:  # one sample per batch: dE/dV_l is the outer product, written
            _outer(acts[l - 1][0], d[0], fan_in, fan_out, Gs[l - 1])
        else:
            _add_gradient(acts[l - 1], d, fan_in, fan_out, count, Gs[l - 1])


@_kernel
def _forward(Vs, X1, rows, first, count, layers, hidden, acts, z, zeros):
    """z = z_L of the samples rows[first : first + count] (sample b in row b), for the
    parameter views Vs of one replica, keeping a_l in acts[l] for l < L; zeros, zeros."""
    L, a0 = layers.shape[0], acts[0]
    for b in range(count):  # a_0 = x (X1 without its column of ones)
        x = rows[first + b]
        for i in range(layers[0, 0]):
            a0[b, i] = X1[x, i]
    for l in range(1, L + 1):
        fan_in, fan_out = layers[l - 1, 0], layers[l - 1, 1]
        _product(acts[l - 1], Vs[l - 1], fan_in, fan_out, count, zeros, z)
        if l < L:
            _activate(hidden, z, acts[l], count, fan_out)  # a_l = f(z_l)


@_kernel
def _product(a, V, fan_in, fan_out, count, zeros, z):
    """z[b, j] = sum_i a[b, i] W[i, j] + b[j] for b < count, the sum over i in order from 0,
    then the bias (V = [W; b], its row fan_in the bias).

    A wide layer: four rows of W at a time, z = 0 + a_0 W_0 + a_1 W_1 + ... then z + a_4 W_4
    + ..., one sample after the other, the innermost loop over the units j (vectorised). A
    narrow one: a dot product per sample and unit, eight samples at a time (independent sums
    that the processor overlaps), then the rest one at a time. Both add the same terms in the
    same order."""
    if fan_out < WIDE:
        for j in range(fan_out):
            bias, b = V[fan_in, j], 0
            while b + 8 <= count:
                t0, t1, t2, t3, t4, t5, t6, t7 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
                for i in range(fan_in):
                    w = V[i, j]
                    t0 += a[b, i] * w
                    t1 += a[b + 1, i] * w
                    t2 += a[b + 2, i] * w
                    t3 += a[b + 3, i] * w
                    t4 += a[b + 4, i] * w
                    t5 += a[b + 5, i] * w
                    t6 += a[b + 6, i] * w
                    t7 += a[b + 7, i] * w
                z[b, j], z[b + 1, j], z[b + 2, j], z[b + 3, j] = (
                    t0 + bias,
                    t1 + bias,
                    t2 + bias,
                    t3 + bias,
                )
                z[b + 4, j], z[b + 5, j], z[b + 6, j], z[b + 7, j] = (
                    t4 + bias,
                    t5 + bias,
                    t6 + bias,
                    t7 + bias,
                )
                b += 8
            while b < count:  # the last few samples, one at a time
                t0 = 0.0
                for i in range(fan_in):
                    t0 += a[b, i] * V[i, j]
                z[b, j] = t0 + bias
                b += 1
        return
    i = 0
    if fan_in >= 4:  # the first four rows: z = 0 + a_0 W_0 + ...
        for b in range(count):
            a0, a1, a2, a3 = a[b, 0], a[b, 1], a[b, 2], a[b, 3]
            for j in range(fan_out):
                z[b, j] = 0.0 + a0 * V[0, j] + a1 * V[1, j] + a2 * V[2, j] + a3 * V[3, j]
        i = 4
    while i + 4 <= fan_in:
        for b in range(count):
            a0, a1, a2, a3 = a[b, i], a[b, i + 1], a[b, i + 2], a[b, i + 3]
            for j in range(fan_out):
                z[b, j] = (
                    z[b, j] + a0 * V[i, j] + a1 * V[i + 1, j] + a2 * V[i + 2, j] + a3 * V[i + 3, j]
                )
        i += 4
    # the rows left (up to three; a missing one is a 0 times a row of zeros: + 0), the bias;
    # with fewer than four rows in all, z starts from 0 here
    left = fan_in - i
    w0 = V[i] if left > 0 else zeros[:fan_out]
    w1 = V[i + 1] if left > 1 else zeros[:fan_out]
    w2 = V[i + 2] if left > 2 else zeros[:fan_out]
    bias = V[fan_in]
    for b in range(count):
        a0 = a[b, i] if left > 0 else 0.0
        a1 = a[b, i + 1] if left > 1 else 0.0
        a2 = a[b, i + 2] if left > 2 else 0.0
        if i == 0:
            for j in range(fan_out):
                z[b, j] = 0.0 + a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + bias[j]
        else:
            for j in range(fan_out):
                z[b, j] = z[b, j] + a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + bias[j]


@_kernel
def _add_gradient(a, d, fan_in, fan_out, count, G):
    """dW[i, j] += sum_b a[b, i] d[b, j] and db[j] += sum_b d[b, j], the sums over b < count
    in order, four samples at a time; G = [dW; db]. A wide layer loops over its units j
    innermost (vectorised), a narrow one over the rows i; the same terms in the same order."""
    db = G[fan_in]
    b = 0
    while b + 4 <= count:
        if fan_out >= WIDE:
            for i in range(fan_in):
                c0, c1, c2, c3 = a[b, i], a[b + 1, i], a[b + 2, i], a[b + 3, i]
                for j in range(fan_out):
                    G[i, j] = (
                        G[i, j]
                        + c0 * d[b, j]
                        + c1 * d[b + 1, j]
                        + c2 * d[b + 2, j]
                        + c3 * d[b + 3, j]
                    )
        else:
            for j in range(fan_out):
                c0, c1, c2, c3 = d[b, j], d[b + 1, j], d[b + 2, j], d[b + 3, j]
                for i in range(fan_in):
                    G[i, j] = (
                        G[i, j]
                        + a[b, i] * c0
                        + a[b + 1, i] * c1
                        + a[b + 2, i] * c2
                        + a[b + 3, i] * c3
                    )
        for j in range(fan_out):
            db[j] = db[j] + d[b, j] + d[b + 1, j] + d[b + 2, j] + d[b + 3, j]
        b += 4
    while b < count:
        for i in range(fan_in):
            c0 = a[b, i]
            for j in range(fan_out):
                G[i, j] = G[i, j] + c0 * d[b, j]
        for j in range(fan_out):
            db[j] = db[j] + d[b, j]
        b += 1


@_kernel
def _outer(a, d, fan_in, fan_out, G):
    """dW[i, j] = 0 + a[i] d[j] and db[j] = 0 + d[j] for one sample: what _add_gradient adds
    to zeros, written without them (batches of 1 sample); G = [dW; db]."""
    if fan_out >= WIDE:
        for i in range(fan_in + 1):
            c0 = a[i] if i < fan_in else 1.0
            for j in range(fan_out):
                G[i, j] = 0.0 + c0 * d[j]
    else:
        for j in range(fan_out):
            c0 = d[j]
            for i in range(fan_in):
                G[i, j] = 0.0 + a[i] * c0
            G[fan_in, j] = 0.0 + c0


@_kernel
def _outer_step(a, d, fan_in, fan_out, V, lr):
    """V = V - (0 + a[i] d[j]) lr: _outer's gradient and plain SGD's step on it, fused (the
    same numbers, without writing the gradient and reading it back); V = [W; b]."""
    for i in range(fan_in + 1):
        c0 = a[i] if i < fan_in else 1.0
        for j in range(fan_out):
            V[i, j] = V[i, j] - (0.0 + c0 * d[j]) * lr


@_kernel
def _delta_below(d, V, fan_in, fan_out, count, WT, below):
    """below[b, i] = sum_j d[b, j] W[i, j], the sum over j in order from 0: for a few samples,
    a dot product per i, four i at a time (independent sums); for more, through W^T copied
    into WT, four units j at a time with the innermost loop over i (vectorised). Both add the
    same terms in the same order."""
    if count < 4:
        for b in range(count):
            i = 0
            while i + 4 <= fan_in:
                t0, t1, t2, t3 = 0.0, 0.0, 0.0, 0.0
                for j in range(fan_out):
                    c = d[b, j]
                    t0 += c * V[i, j]
                    t1 += c * V[i + 1, j]
                    t2 += c * V[i + 2, j]
                    t3 += c * V[i + 3, j]
                below[b, i], below[b, i + 1], below[b, i + 2], below[b, i + 3] = t0, t1, t2, t3
                i += 4
            while i < fan_in:
                t0 = 0.0
                for j in range(fan_out):
                    t0 += d[b, j] * V[i, j]
                below[b, i] = t0
                i += 1
        return
    if fan_out == 1:  # W^T is W
        w0 = V[:fan_in, 0]
        for b in range(count):
            c0 = d[b, 0]
            for i in range(fan_in):
                below[b, i] = 0.0 + c0 * w0[i]
        return
    for i in range(fan_in):
        for j in range(fan_out):
            WT[j, i] = V[i, j]
    j = 0
    if fan_out >= 4:  # the first four units: below = 0 + d_0 W^T_0 + ...
        for b in range(count):
            c0, c1, c2, c3 = d[b, 0], d[b, 1], d[b, 2], d[b, 3]
            for i in range(fan_in):
                below[b, i] = 0.0 + c0 * WT[0, i] + c1 * WT[1, i] + c2 * WT[2, i] + c3 * WT[3, i]
        j = 4
    else:
        for b in range(count):
            for i in range(fan_in):
                below[b, i] = 0.0
    while j + 4 <= fan_out:
        for b in range(count):
            c0, c1, c2, c3 = d[b, j], d[b, j + 1], d[b, j + 2], d[b, j + 3]
            for i in range(fan_in):
                below[b, i] = (
                    below[b, i]
                    + c0 * WT[j, i]
                    + c1 * WT[j + 1, i]
                    + c2 * WT[j + 2, i]
                    + c3 * WT[j + 3, i]
                )
        j += 4
    while j < fan_out:
        for b in range(count):
            c0 = d[b, j]
            for i in range(fan_in):
                below[b, i] = below[b, i] + c0 * WT[j, i]
        j += 1


@_kernel
def _optimizer_step(p, g, buffers, h, t, codes, mu_product):
    """One update of a replica's parameters p (P,) with its gradient g, in place: the rule of
    ``codes[C_OPTIMIZER]`` with the replica's hyperparameters h (H,), its buffers (3, P) and,
    for NAdam, its mu_product (a (1,) array); t is the step count, 1 on the first step. Each
    switch is taken outside the loops, so that every loop is straight and vectorises."""
    rule, size = codes[C_OPTIMIZER], p.shape[0]
    lr, weight_decay = h[LR], h[WEIGHT_DECAY]
    decoupled = codes[C_DECOUPLED] == 1 and (rule == ADAM or rule == NADAM)
    if decoupled:  # AdamW's p = p (1 - lr weight_decay); then d = g
        if weight_decay != 0.0:
            decay = 1.0 - lr * weight_decay
            for i in range(size):
                p[i] *= decay
        weight_decay = 0.0
    if weight_decay != 0.0:  # d = g + weight_decay p, torch's L2 decay, kept in g
        for i in range(size):
            g[i] = p[i] * weight_decay + g[i]
    if rule == SGD_:
        _sgd(p, g, buffers[0], h, t == 1, codes)
    elif rule == ADAGRAD:
        clr, eps = lr / (1.0 + (t - 1) * h[LR_DECAY]), h[EPS]
        total = buffers[0]
        for i in range(size):
            total[i] += g[i] * g[i]
            p[i] -= g[i] / (math.sqrt(total[i]) + eps) * clr
    elif rule == ADADELTA:
        rho, eps = h[RHO], h[EPS]
        square_avg, acc_delta = buffers[0], buffers[1]
        for i in range(size):
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
    lr, momentum, undamped, size = h[LR], h[MOMENTUM], h[UNDAMPED], p.shape[0]
    if codes[C_MOMENTUM_BUFFER] == 0:
        for i in range(size):
            p[i] -= g[i] * lr
        return
    if first:
        for i in range(size):
            b[i] = g[i]
    else:
        for i in range(size):
            b[i] = b[i] * momentum + g[i] * undamped
    if codes[C_NESTEROV] == 1:
        for i in range(size):
            p[i] -= (b[i] * momentum + g[i]) * lr
    else:
        for i in range(size):
            p[i] -= b[i] * lr


@_kernel
def _rmsprop(p, g, buffers, h, codes):
    """RMSprop: square_avg, centered grad_avg, and a momentum buffer that starts at 0."""
    lr, alpha, eps, momentum, size = h[LR], h[RHO], h[EPS], h[MOMENTUM], p.shape[0]
    square_avg, grad_avg, b = buffers[0], buffers[1], buffers[2]
    centered, has_momentum = codes[C_CENTERED] == 1, codes[C_MOMENTUM_BUFFER] == 1
    if centered:
        for i in range(size):
            square_avg[i] = square_avg[i] * alpha + g[i] * g[i] * (1.0 - alpha)
            grad_avg[i] += (g[i] - grad_avg[i]) * (1.0 - alpha)
    else:
        for i in range(size):
            square_avg[i] = square_avg[i] * alpha + g[i] * g[i] * (1.0 - alpha)
    if centered and has_momentum:
        for i in range(size):
            b[i] = b[i] * momentum + g[i] / (
                math.sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]) + eps
            )
            p[i] -= b[i] * lr
    elif centered:
        for i in range(size):
            p[i] -= g[i] / (math.sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]) + eps) * lr
    elif has_momentum:
        for i in range(size):
            b[i] = b[i] * momentum + g[i] / (math.sqrt(square_avg[i]) + eps)
            p[i] -= b[i] * lr
    else:
        for i in range(size):
            p[i] -= g[i] / (math.sqrt(square_avg[i]) + eps) * lr


@_kernel
def _adam(p, g, buffers, h, t, codes, mu_product):
    """Adam (amsgrad) and NAdam: m = lerp(m, d, 1 - beta1), v = beta2 v + (1 - beta2) d^2,
    then Adam's p -= step_size m / (sqrt(v) + eps_hat), or NAdam's two terms."""
    lr, beta1, beta2, size = h[LR], h[BETA1], h[BETA2], p.shape[0]
    m, v, v_max = buffers[0], buffers[1], buffers[2]
    s = (1.0 - beta2 ** float(t)) ** 0.5  # sqrt(1 - beta2^t)
    eps_hat = h[EPS] * s
    for i in range(size):
        m[i] += (g[i] - m[i]) * (1.0 - beta1)
        v[i] = v[i] * beta2 + g[i] * g[i] * (1.0 - beta2)
    if codes[C_OPTIMIZER] == ADAM:
        step_size = lr * s / (1.0 - beta1 ** float(t))
        if codes[C_AMSGRAD] == 1:
            for i in range(size):
                v_max[i] = max(v_max[i], v[i])
                p[i] -= m[i] / (math.sqrt(v_max[i]) + eps_hat) * step_size
        else:
            for i in range(size):
                p[i] -= m[i] / (math.sqrt(v[i]) + eps_hat) * step_size
        return
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * h[MOMENTUM_DECAY]))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * h[MOMENTUM_DECAY]))
    mu_product[0] = mu_product[0] * mu
    grad_size = lr * (1.0 - mu) / (1.0 - mu_product[0]) * s
    avg_size = lr * mu_next / (1.0 - mu_product[0] * mu_next) * s
    for i in range(size):
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
    n, L = X1.shape[0], layers.shape[0]
    width = max(layers[0, 0], layers[:, 1].max())
    chunk = min(batch, n, CHUNK)
    acts = np.empty((L + 1, chunk, width))  # a_l of sample b: acts[l, b, :fan_out]
    z = np.empty((chunk, width))  # z_l
    delta = np.empty((3, chunk, width))  # delta_l in delta[l % 2]; delta[2] scratch
    WT = np.empty((width, width))
    zeros = np.zeros(width)
    grads = np.empty(P)
    Gs = [_layer(grads, layers[l]) for l in range(L)]  # dE/dV_l, views of grads
    plain = codes[C_OPTIMIZER] == SGD_ and codes[C_MOMENTUM_BUFFER] == 0
    for k in range(K):
        if frozen[k]:
            continue
        p, rows = flat[k], order[k] if order.shape[0] > 1 else order[0]
        state, h, mu = buffers[k], hyper[k], mu_product[k : k + 1]
        Vs = [_layer(p, layers[l]) for l in range(L)]  # V_l, views of p
        fused = batch == 1 and plain and h[WEIGHT_DECAY] == 0.0  # the step in the chunk
        for s, start in enumerate(range(0, n, batch)):
            stop = min(start + batch, n)
            if stop - start > 1:  # (a batch of 1 writes its gradient: _outer)
                for i in range(P):
                    grads[i] = 0.0
            for first in range(start, stop, chunk):
                count = min(first + chunk, stop) - first
                _backprop_chunk(
                    Vs, Gs, X1, Y, rows, first, count, stop - start, layers, codes, acts, z,
                    delta, WT, zeros, fused, h[LR],
                )  # fmt: skip
            if not fused:
                _optimizer_step(p, grads, state, h, step + s + 1, codes, mu)


@_kernel
def _layer(p, shape):
    """The view V_l = [W_l; b_l], (fan_in + 1, fan_out), of a replica's parameters p (or of
    its gradient), for shape = (fan_in, fan_out, offset), a row of ``layers``."""
    fan_in, fan_out, offset = shape[0], shape[1], shape[2]
    return p[offset : offset + (fan_in + 1) * fan_out].reshape((fan_in + 1, fan_out))


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
        jit = numba.njit(cache=True, inline=inline, fastmath=FASTMATH, error_model="numpy")
        setattr(module, function.__name__, jit(function))
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
    sizes=None,
) -> tuple[str, str]:
    """The engine a run trains with, "numpy" or "compiled", and the reason, in words.

    Args:
        engine: "auto", "numpy" or "compiled".
        optimizer, X, batch_size: as for ``train`` (X (n, d) or (K, n, d)).
        population: K, the number of replicas.
        dtype: the parameters' dtype (default X's, float64 for non-float X).
        sizes: the network's layer sizes (``MLP.sizes``: d, the hidden widths, m); None
            counts the inputs only, as a layer d x 1.

    "auto" picks "compiled" where it fits and pays: numba installed, a built-in optimizer,
    float64, data shared by the replicas, and a step whose largest product is small: a
    replica's batch B times its largest weight matrix (fan_in x fan_out) below
    COMPILED_UP_TO multiply-adds. Beyond, NumPy's BLAS products are faster: a full batch
    of a large data set, or wide layers in large batches (measured: two hidden layers of
    128 at batches of 256, 0.7x; digits' full batch, 0.9-1.0x; one layer of 256 at
    batches of 32, still 1.4-1.6x). The population size does not decide: the compiled
    engine trains each replica alone, and is faster than NumPy's batched products from
    K = 1 to 256 at these sizes (1.0-2.2x at batches of 32, measured). Asking for
    "compiled" where it does not fit raises a ValueError saying why (an ImportError
    without numba); where it is slower, it trains.
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
    n, d = np.shape(X)[-2], np.shape(X)[-1]
    batch = n if batch_size is None else min(batch_size, n)
    sizes = [d, 1] if sizes is None else [int(size) for size in sizes]
    fan_in, fan_out = max(zip(sizes[:-1], sizes[1:], strict=True), key=lambda io: io[0] * io[1])
    work = batch * fan_in * fan_out
    words = f"batches of {batch} x the largest layer, {fan_in} x {fan_out}, = {work} multiply-adds"
    if work >= COMPILED_UP_TO:
        return "numpy", f"{words} >= {COMPILED_UP_TO}, where NumPy's batched products are faster"
    return "compiled", f"{words} < {COMPILED_UP_TO}, where the compiled engine is faster"


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
