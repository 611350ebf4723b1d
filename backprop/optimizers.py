"""Optimizers: torch.optim's update rules in NumPy, on the population axis.

An optimizer is its hyperparameters, plain public attributes with torch.optim's names and
defaults (torch 2.13), and two methods (optax's init/update with explicit state):

    state = opt.init(params)          # a dict: "step" and the buffers, one per parameter
    opt.step(params, grads, state)    # updates params and state in place; returns None

params and grads are lists of arrays with a leading population axis K, shaped (K, ...) of
any ndim: [W1, b1, ...], or one flat (K, P) buffer. A float hyperparameter is a scalar or a
1-D array of K values, one per replica, broadcast against a parameter as (K, 1, ..., 1).
Hyperparameters are read at every step, so a learning-rate schedule just sets ``opt.lr``.

Every update rule is torch.optim's single-tensor path (foreach=False, maximize=False,
capturable=False, differentiable=False); the float64 trajectories agree with torch's to
1e-10 relative over 50+ steps (tests/test_optimizers*.py). In each rule below g is the
gradient, p the parameter, t the step count (1 on the first step), and
d = g + weight_decay * p the gradient with torch's L2 weight decay folded in.

Your own optimizer is any class with ``init(params) -> state`` and
``step(params, grads, state)``. Set the class attribute ``elementwise = True`` only if its
update treats every parameter entry on its own: the training loop then steps it over one
flat (K, P) buffer instead of the list [W1, b1, ...].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "NAdam", "Optimizer", "RMSprop"]

Hyperparameter = float | np.ndarray

_FLAGS = ("nesterov", "centered", "amsgrad", "decoupled_weight_decay")
# the allowed [low, high] of a float hyperparameter, where it is not [0, inf)
_RANGES = {"dampening": (-np.inf, np.inf), "rho": (0.0, 1.0), "alpha": (0.0, 1.0)}


def _checked(
    name: str, value, low: float = 0.0, high: float = np.inf, open_high: bool = False
) -> Hyperparameter:
    """A float hyperparameter as a float or a 1-D float64 array, or a ValueError."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number or a 1-D array of K numbers, got {value!r}"
        ) from None
    if array.ndim > 1:
        raise ValueError(
            f"{name} must be a scalar or a 1-D array of K values, got shape {array.shape}"
        )
    inside = (array >= low) & ((array < high) if open_high else (array <= high))
    if not inside.all():
        if low == -np.inf:
            allowed = "a real number"
        elif high == np.inf:
            allowed = f">= {low:g}"
        else:
            allowed = f"in [{low:g}, {high:g}{')' if open_high else ']'}"
        if array.ndim == 0:
            raise ValueError(f"{name} must be {allowed}, got {value}")
        k = int(np.flatnonzero(~inside)[0])
        raise ValueError(f"{name} must be {allowed}, got {array[k]} for replica {k} in {value}")
    return float(array) if array.ndim == 0 else array


def _checked_flag(name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False (one for all replicas), got {value!r}")
    return bool(value)


def _checked_betas(betas) -> tuple[Hyperparameter, Hyperparameter]:
    if not isinstance(betas, Sequence | np.ndarray) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(_checked(f"betas[{i}]", b, high=1.0, open_high=True) for i, b in enumerate(betas))


def _value(x) -> Hyperparameter:
    """A hyperparameter as read at a step: a float, or K values (a schedule may set a list)."""
    if type(x) in (float, np.ndarray):  # exact types: step() finds K values by type
        return x
    array = np.asarray(x, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def _per_replica(x, ndim: int):
    """A scalar as it is; K per-replica values as (K, 1, ..., 1) for a (K, ...) array of ndim."""
    if isinstance(x, np.ndarray) and x.ndim == 1:
        return x.reshape((-1,) + (1,) * (ndim - 1))
    return x


def _is_zero(x: Hyperparameter) -> bool:
    """True for a scalar 0, which lets a step skip a term (K values are never skipped)."""
    return not isinstance(x, np.ndarray) and x == 0


def _decayed(p: np.ndarray, g: np.ndarray, weight_decay, out: np.ndarray) -> np.ndarray:
    """d = g + weight_decay * p (torch's L2 weight decay) in ``out``; g itself when it is 0."""
    if _is_zero(weight_decay):
        return g
    np.multiply(p, weight_decay, out=out)
    out += g
    return out


class Optimizer:
    """The base class: ``init`` allocates the state, ``step`` runs ``_update`` per parameter.

    A subclass stores its hyperparameters with ``_set`` (checked there, and against K in
    ``init``), names its per-parameter buffers in ``buffers`` (state keys, torch's names; a
    buffer may be None where the configuration does not use it) and says how many scratch
    arrays a parameter needs in ``n_work``. Per step, ``_coefficients(state)`` turns the
    hyperparameters into the step's scalars (or K values each, broadcast here), and
    ``_update(p, g, *buffers, work, coefficients)`` applies the rule to one parameter.

    Hyperparameters are read at every step; which buffers exist (momentum != 0, centered,
    amsgrad) is fixed by ``init``.
    """

    elementwise = True
    buffers: tuple[str, ...] = ()
    n_work = 2

    def init(self, params: Sequence[np.ndarray]) -> dict:
        """The state of a new run: {"step": 0, buffer name: [one array per parameter], ...,
        "work": scratch arrays, "slots": per parameter the tuple (*buffers, work)}."""
        K = params[0].shape[0]
        for label, value in self._labelled_hyperparameters():
            if np.ndim(value) == 1 and len(value) != K:
                raise ValueError(
                    f"{label} has {len(value)} values but the population has K={K} "
                    "replicas; give a scalar or one value per replica"
                )
        state = {
            "step": 0,
            "work": [tuple(np.empty_like(p) for _ in range(self.n_work)) for p in params],
        }
        state.update(self._init_buffers(params))
        # per parameter, the arguments _update takes after (p, g): (*buffers, work)
        columns = [state[name] for name in self.buffers]
        state["slots"] = list(zip(*columns, state["work"], strict=True))
        return state

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], state: dict) -> None:
        """One update of every parameter, and of the state, in place."""
        state["step"] += 1
        coefficients = self._coefficients(state)
        # K per-replica values are reshaped once per ndim: (K, 1, ..., 1)
        shaped = {} if np.ndarray in map(type, coefficients) else None
        for p, g, slot in zip(params, grads, state["slots"], strict=True):
            c = coefficients
            if shaped is not None:
                c = shaped.get(p.ndim)
                if c is None:
                    c = shaped[p.ndim] = [_per_replica(x, p.ndim) for x in coefficients]
            self._update(p, g, *slot, c)

    def _set(self, **hyperparameters) -> None:
        """Check each hyperparameter, or raise a ValueError naming it, and store it as a plain
        attribute: a flag as a bool, a float one as a float or a 1-D float64 array."""
        for name, value in hyperparameters.items():
            if name in _FLAGS:
                value = _checked_flag(name, value)
            elif name == "betas":
                value = _checked_betas(value)
            else:
                value = _checked(name, value, *_RANGES.get(name, (0.0, np.inf)))
            setattr(self, name, value)

    def _labelled_hyperparameters(self):
        """(name, value) of every hyperparameter, each of the two betas on its own."""
        for name, value in vars(self).items():
            if name == "betas":
                yield from (("betas[0]", value[0]), ("betas[1]", value[1]))
            else:
                yield name, value

    def _init_buffers(self, params: Sequence[np.ndarray]) -> dict:
        return {}

    def _coefficients(self, state: dict) -> tuple:
        raise NotImplementedError

    def _update(self, p: np.ndarray, g: np.ndarray, *buffers_work_coefficients) -> None:
        raise NotImplementedError


def _zeros(params: Sequence[np.ndarray], needed: bool = True) -> list:
    """A zero buffer per parameter, or a None per parameter when the buffer is not needed."""
    return [np.zeros_like(p) if needed else None for p in params]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as torch.optim.SGD (defaults of torch 2.13).

    With a momentum buffer b (used when momentum != 0; b = d on the first step, undamped):

        b = momentum * b + (1 - dampening) * d
        d = d + momentum * b      if nesterov (torch's form), else   d = b
        p = p - lr * d

    nesterov needs momentum > 0 and dampening == 0 (torch's rule).
    """

    buffers = ("momentum_buffer",)

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        momentum: Hyperparameter = 0,
        dampening: Hyperparameter = 0,
        weight_decay: Hyperparameter = 0,
        nesterov: bool = False,
    ) -> None:
        self._set(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        if self.nesterov and (np.any(self.momentum <= 0) or np.any(self.dampening != 0)):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening == 0, "
                f"got momentum={momentum}, dampening={dampening}"
            )

    def _init_buffers(self, params):
        return {"momentum_buffer": _zeros(params, not _is_zero(self.momentum))}

    def _coefficients(self, state):
        momentum, undamped = self.momentum, 1 - self.dampening
        if isinstance(momentum, np.ndarray):  # torch uses no buffer, so no dampening, at 0
            undamped = np.where(momentum == 0, 1.0, undamped)
        return _value(self.lr), self.weight_decay, momentum, undamped, state["step"] == 1

    def _update(self, p, g, b, work, c):
        lr, weight_decay, momentum, undamped, first = c
        d_buffer, w = work
        d = _decayed(p, g, weight_decay, d_buffer)
        if b is not None:
            if first:
                np.copyto(b, d)
            else:
                b *= momentum
                if _is_zero(self.dampening):
                    b += d
                else:
                    np.multiply(d, undamped, out=w)
                    b += w
            if self.nesterov:
                np.multiply(b, momentum, out=w)
                w += d
                d = w
            else:
                d = b
        np.multiply(d, lr, out=w)
        p -= w


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad (defaults of torch 2.13).

    Each entry's step shrinks with the running sum of its squared gradients:

    sum = sum + d * d                      (sum starts at initial_accumulator_value)
    clr = lr / (1 + (t - 1) * lr_decay)
    p   = p - clr * d / (sqrt(sum) + eps)
    """

    buffers = ("sum",)

    def __init__(
        self,
        lr: Hyperparameter = 1e-2,
        lr_decay: Hyperparameter = 0,
        weight_decay: Hyperparameter = 0,
        initial_accumulator_value: Hyperparameter = 0,
        eps: Hyperparameter = 1e-10,
    ) -> None:
        self._set(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    def _init_buffers(self, params):
        value = self.initial_accumulator_value
        sums = [np.empty_like(p) for p in params]
        for total in sums:
            total[...] = _per_replica(value, total.ndim)
        return {"sum": sums}

    def _coefficients(self, state):
        clr = _value(self.lr) / (1 + (state["step"] - 1) * self.lr_decay)
        return self.weight_decay, self.eps, clr

    def _update(self, p, g, total, work, c):
        weight_decay, eps, clr = c
        d_buffer, w = work
        d = _decayed(p, g, weight_decay, d_buffer)
        np.multiply(d, d, out=w)
        total += w
        np.sqrt(total, out=w)
        w += eps
        np.divide(d, w, out=w)
        w *= clr
        p -= w


class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta (defaults of torch 2.13).

        square_avg = rho * square_avg + (1 - rho) * d * d
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * d
        acc_delta  = rho * acc_delta + (1 - rho) * delta * delta
        p          = p - lr * delta

    lr scales only the step to p; acc_delta accumulates the unscaled delta, as in torch.
    """

    buffers = ("square_avg", "acc_delta")
    n_work = 3

    def __init__(
        self,
        lr: Hyperparameter = 1.0,
        rho: Hyperparameter = 0.9,
        eps: Hyperparameter = 1e-6,
        weight_decay: Hyperparameter = 0,
    ) -> None:
        self._set(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def _init_buffers(self, params):
        return {"square_avg": _zeros(params), "acc_delta": _zeros(params)}

    def _coefficients(self, state):
        return _value(self.lr), self.weight_decay, self.rho, 1 - self.rho, self.eps

    def _update(self, p, g, square_avg, acc_delta, work, c):
        lr, weight_decay, rho, one_minus_rho, eps = c
        d_buffer, w, delta = work
        d = _decayed(p, g, weight_decay, d_buffer)
        _average_square(square_avg, d, rho, one_minus_rho, w)
        np.add(square_avg, eps, out=w)
        np.add(acc_delta, eps, out=delta)
        delta /= w
        np.sqrt(delta, out=delta)  # sqrt(acc_delta + eps) / sqrt(square_avg + eps), one sqrt
        delta *= d
        _average_square(acc_delta, delta, rho, one_minus_rho, w)
        delta *= lr
        p -= delta


def _average_square(avg, x, beta, one_minus_beta, w) -> None:
    """avg = beta * avg + (1 - beta) * x * x in place (torch's mul_ then addcmul_); w: scratch."""
    avg *= beta
    np.multiply(x, x, out=w)
    w *= one_minus_beta
    avg += w


def _average(avg, x, one_minus_beta, w) -> None:
    """avg = avg + (1 - beta) * (x - avg) in place, torch's avg.lerp_(x, 1 - beta); w: scratch."""
    np.subtract(x, avg, out=w)
    w *= one_minus_beta
    avg += w


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop (defaults of torch 2.13).

        square_avg = alpha * square_avg + (1 - alpha) * d * d
        grad_avg   = grad_avg + (1 - alpha) * (d - grad_avg)                 if centered
        avg        = sqrt(square_avg - grad_avg**2) + eps if centered, else sqrt(square_avg) + eps
        b          = momentum * b + d / avg,   p = p - lr * b               if momentum != 0
        p          = p - lr * d / avg                                        otherwise

    The momentum buffer b starts at zero (unlike SGD's, which starts at d).
    """

    buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        lr: Hyperparameter = 1e-2,
        alpha: Hyperparameter = 0.99,
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0,
        momentum: Hyperparameter = 0,
        centered: bool = False,
    ) -> None:
        self._set(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )

    def _init_buffers(self, params):
        return {
            "square_avg": _zeros(params),
            "grad_avg": _zeros(params, self.centered),
            "momentum_buffer": _zeros(params, not _is_zero(self.momentum)),
        }

    def _coefficients(self, state):
        alpha = self.alpha
        return _value(self.lr), self.weight_decay, alpha, 1 - alpha, self.eps, self.momentum

    def _update(self, p, g, square_avg, grad_avg, b, work, c):
        lr, weight_decay, alpha, one_minus_alpha, eps, momentum = c
        d_buffer, w = work
        d = _decayed(p, g, weight_decay, d_buffer)
        _average_square(square_avg, d, alpha, one_minus_alpha, w)
        if grad_avg is not None:
            _average(grad_avg, d, one_minus_alpha, w)
            np.multiply(grad_avg, grad_avg, out=w)
            np.subtract(square_avg, w, out=w)
            np.sqrt(w, out=w)
        else:
            np.sqrt(square_avg, out=w)
        w += eps
        np.divide(d, w, out=w)
        if b is not None:
            b *= momentum
            b += w
            np.multiply(b, lr, out=w)
        else:
            w *= lr
        p -= w


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (defaults of torch 2.13), with AMSGrad.

        m     = m + (1 - beta1) * (d - m)                 (torch's lerp)
        v     = beta2 * v + (1 - beta2) * d * d
        v_max = max(v_max, v); v = v_max                  if amsgrad
        p     = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    computed as p - step_size * m / (sqrt(v) + eps_hat), with step_size =
    lr * sqrt(1 - beta2**t) / (1 - beta1**t) and eps_hat = eps * sqrt(1 - beta2**t), the
    same quotient with one NumPy call fewer. With decoupled_weight_decay (AdamW) the decay
    is p = p * (1 - lr * weight_decay) before the step, and d = g.
    """

    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
    ) -> None:
        self._set(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=decoupled_weight_decay,
        )

    def _init_buffers(self, params):
        return {
            "exp_avg": _zeros(params),
            "exp_avg_sq": _zeros(params),
            "max_exp_avg_sq": _zeros(params, self.amsgrad),
        }

    def _coefficients(self, state):
        t, lr, (beta1, beta2) = state["step"], _value(self.lr), self.betas
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        eps_hat = self.eps * bias_correction2_sqrt
        step_size = lr * bias_correction2_sqrt / (1 - beta1**t)
        return *_moment_coefficients(self, lr), eps_hat, step_size

    def _update(self, p, g, m, v, v_max, work, c):
        d_buffer, w = work
        _update_moments(p, g, m, v, d_buffer, w, c[:5])
        eps_hat, step_size = c[5:]
        if v_max is not None:
            np.maximum(v_max, v, out=v_max)
            v = v_max
        np.sqrt(v, out=w)
        w += eps_hat
        np.divide(m, w, out=w)
        w *= step_size
        p -= w


def _moment_coefficients(optimizer: Adam | NAdam, lr) -> tuple:
    """Adam's and NAdam's first five coefficients: (decay factor for p or None,
    weight_decay for d, 1 - beta1, beta2, 1 - beta2), with decay = 1 - lr * weight_decay
    and d = g when the weight decay is decoupled."""
    beta1, beta2 = optimizer.betas
    decay, weight_decay = None, optimizer.weight_decay
    if optimizer.decoupled_weight_decay:
        decay = None if _is_zero(weight_decay) else 1 - lr * weight_decay
        weight_decay = 0.0
    return decay, weight_decay, 1 - beta1, beta2, 1 - beta2


def _update_moments(p, g, m, v, d_buffer, w, c) -> np.ndarray:
    """Adam's and NAdam's start of a step, in place: the weight decay, m = lerp(m, d, 1 - beta1)
    and v = beta2 * v + (1 - beta2) * d * d; returns d. c: ``_moment_coefficients``."""
    decay, weight_decay, one_minus_beta1, beta2, one_minus_beta2 = c
    if decay is not None:
        p *= decay
    d = _decayed(p, g, weight_decay, d_buffer)
    _average(m, d, one_minus_beta1, w)
    _average_square(v, d, beta2, one_minus_beta2, w)
    return d


class AdamW(Adam):
    """AdamW, as torch.optim.AdamW (defaults of torch 2.13): Adam with decoupled decay.

    The decay acts on p directly, not through the moments:

    p = p * (1 - lr * weight_decay), then the Adam step with d = g.
    """

    def __init__(
        self,
        lr: Hyperparameter = 1e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)


class NAdam(Optimizer):
    """NAdam (Adam with Nesterov momentum), as torch.optim.NAdam (defaults of torch 2.13).

    The momentum schedule, with mu_product the running product of mu (1 before step 1):

        mu         = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next    = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = mu_product * mu
        m          = m + (1 - beta1) * (d - m)
        v          = beta2 * v + (1 - beta2) * d * d
        denom      = sqrt(v / (1 - beta2**t)) + eps
        p          = p - lr * (1 - mu) / (1 - mu_product) * d / denom
        p          = p - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    As in Adam, denom is computed as (sqrt(v) + eps * s) / s, s = sqrt(1 - beta2**t). With
    decoupled_weight_decay, p = p * (1 - lr * weight_decay) first, and d = g. mu_product is
    float64 here; torch keeps it in its default dtype, so compare with torch's default
    dtype set to float64.
    """

    buffers = ("exp_avg", "exp_avg_sq")
    n_work = 3

    def __init__(
        self,
        lr: Hyperparameter = 2e-3,
        betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
        eps: Hyperparameter = 1e-8,
        weight_decay: Hyperparameter = 0,
        momentum_decay: Hyperparameter = 4e-3,
        decoupled_weight_decay: bool = False,
    ) -> None:
        self._set(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
        )

    def _init_buffers(self, params):
        return {"exp_avg": _zeros(params), "exp_avg_sq": _zeros(params), "mu_product": 1.0}

    def _coefficients(self, state):
        t, lr, (beta1, beta2) = state["step"], _value(self.lr), self.betas
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        mu_product = state["mu_product"] = state["mu_product"] * mu
        s = (1 - beta2**t) ** 0.5
        grad_size = lr * (1 - mu) / (1 - mu_product) * s
        avg_size = lr * mu_next / (1 - mu_product * mu_next) * s
        return *_moment_coefficients(self, lr), self.eps * s, grad_size, avg_size

    def _update(self, p, g, m, v, work, c):
        d_buffer, denom, w = work
        d = _update_moments(p, g, m, v, d_buffer, w, c[:5])
        eps_hat, grad_size, avg_size = c[5:]
        np.sqrt(v, out=denom)
        denom += eps_hat
        for x, size in ((d, grad_size), (m, avg_size)):
            np.divide(x, denom, out=w)
            w *= size
            p -= w
