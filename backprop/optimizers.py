"""Optimizers: torch.optim's update rules in NumPy, on the population axis.

An optimizer is its hyperparameters, the fields of a dataclass with torch.optim's names and
defaults (torch 2.13), and two methods (optax's init/update with explicit state):

    state = opt.init(params)          # a dict: "step" and the buffers, one per parameter
    opt.step(params, grads, state)    # updates params and state in place; returns None

params and grads are lists of arrays with a leading population axis K, shaped (K, ...) of
any ndim: [W1, b1, ...], or one flat (K, P) buffer. A float hyperparameter is a scalar or a
1-D array of K values, one per replica, broadcast against a parameter as (K, 1, ..., 1).
Hyperparameters are read at every step, so a learning-rate schedule just sets ``opt.lr``.
The state holds the algorithm's own buffers only, under torch's names; the scratch arrays a
step computes in are kept apart from it.

Every update rule is torch.optim's single-tensor path (foreach=False, maximize=False,
capturable=False, differentiable=False); the float64 trajectories agree with torch's to
1e-10 relative over 50+ steps (tests/test_optimizers*.py). In each rule below g is the
gradient, p the parameter, t the step count (1 on the first step), and
d = g + weight_decay * p the gradient with torch's L2 weight decay folded in.

Your own optimizer is any class with ``init(params) -> state`` and
``step(params, grads, state)``. Set the class attribute ``elementwise = True`` only if its
update treats every parameter entry on its own: the training loop then steps it over one
flat (K, P) buffer instead of the list [W1, b1, ...].

Or subclass ``Optimizer`` as the built-ins below do, and get the checks, the state and the
population axis for free: a dataclass whose fields are the hyperparameters (checked by
name: ``_FLAGS``, betas, else a float >= 0 or K of them), ``_buffers`` naming the buffers a
configuration keeps with their initial values, and the one method to write,
``_update(params, grads, state, scratch)``. It reads t = state["step"] (already counted),
computes the step's coefficients once, as a dict of named values, and applies them to each
parameter, zipping params, grads, the buffers, ``scratch[n]`` (n scratch arrays per
parameter, kept out of the state) and ``self._per_parameter(coefficients, params)`` (the
coefficients with K values shaped (K, 1, ..., 1) for that parameter). Any other state it
keeps (NAdam's mu_product) it updates there, explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "NAdam",
    "Optimizer",
    "RMSprop",
    "Scratch",
]

Hyperparameter = float | np.ndarray
Arrays = Sequence[np.ndarray]

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
    if type(x) in (float, np.ndarray):  # exact types: _per_parameter finds K values by type
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
    if type(weight_decay) is not np.ndarray and weight_decay == 0:  # _is_zero, inlined (hot)
        return g
    np.multiply(p, weight_decay, out=out)
    out += g
    return out


class Scratch(dict):
    """Scratch arrays a step computes in, kept out of the state: ``scratch[n]`` is, for each
    parameter, n arrays shaped like it, made when first asked for and reused by every later
    step (the state's buffers fix the parameters' shapes and dtypes). ``scratch.none`` stands
    in for a buffer the configuration does not keep: ``state.get(name, scratch.none)``."""

    def __init__(self, params: Arrays) -> None:
        super().__init__()
        self._like = [(p.shape, p.dtype) for p in params]
        self.none = [None] * len(params)  # per parameter, for a buffer a state does not keep

    def __missing__(self, n: int) -> list[tuple[np.ndarray, ...]]:
        arrays = self[n] = [tuple(np.empty(s, d) for _ in range(n)) for s, d in self._like]
        return arrays


class _State(dict):
    """The dict ``init`` returns: "step" and the buffers as its items; the step's scratch
    arrays ride along as an attribute, out of sight."""

    __slots__ = ("scratch",)


@dataclass(eq=False)
class Optimizer:
    """The base class: its dataclass fields are the hyperparameters, checked here.

    A subclass says in ``_buffers`` which per-parameter buffers its configuration keeps and
    their initial values, and writes ``_update``, the rule. ``init`` allocates the buffers;
    ``step`` counts the step and calls ``_update``. Hyperparameters are read at every step;
    which buffers exist (momentum != 0, centered, amsgrad) is fixed by ``init``.
    """

    elementwise = True

    def __post_init__(self) -> None:
        """Check each hyperparameter, or raise a ValueError naming it, and store it as a flag
        (bool) or a float one (a float or a 1-D float64 array)."""
        for name, value in self._hyperparameters():
            if name in _FLAGS:
                value = _checked_flag(name, value)
            elif name == "betas":
                value = _checked_betas(value)
            else:
                value = _checked(name, value, *_RANGES.get(name, (0.0, np.inf)))
            setattr(self, name, value)

    def init(self, params: Arrays) -> dict:
        """The state of a new run: {"step": 0, buffer name: [one array per parameter], ...}."""
        self._check_population(params[0].shape[0])
        state = _State(step=0)
        for name, initial in self._buffers().items():
            if initial is not None:
                state[name] = [_filled_like(p, initial) for p in params]
        state.scratch = Scratch(params)
        return state

    def step(self, params: Arrays, grads: Arrays, state: dict) -> None:
        """One update of every parameter, and of the state, in place."""
        try:
            scratch = state.scratch
        except AttributeError:
            raise TypeError(
                f"state must be the dict {type(self).__name__}.init returned (or a copy or "
                f"pickle of it), got a {type(state).__name__}"
            ) from None
        state["step"] += 1
        self._update(params, grads, state, scratch)

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        """Each per-parameter buffer's initial value, or None where this configuration keeps
        no such buffer."""
        return {}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        """Step ``state["step"]`` (already counted): update params and buffers in place."""
        raise NotImplementedError

    @staticmethod
    def _per_parameter(coefficients: dict[str, Any], params: Arrays) -> list[dict[str, Any]]:
        """The step's named coefficients as each parameter reads them: K per-replica values
        reshaped to (K, 1, ..., 1), once per ndim."""
        if np.ndarray not in map(type, coefficients.values()):
            return [coefficients] * len(params)
        shaped: dict[int, dict[str, Any]] = {}
        per_parameter = []
        for p in params:
            c = shaped.get(p.ndim)
            if c is None:
                c = shaped[p.ndim] = dict(coefficients)
                for name, x in coefficients.items():
                    if type(x) is np.ndarray:
                        c[name] = _per_replica(x, p.ndim)
            per_parameter.append(c)
        return per_parameter

    def _hyperparameters(self) -> list[tuple[str, object]]:
        """(name, value) of each hyperparameter: the dataclass fields."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def _check_population(self, K: int) -> None:
        """A ValueError if a hyperparameter has K values for another K (each beta on its own)."""
        for name, value in self._hyperparameters():
            if name == "betas":
                labelled = [(f"betas[{i}]", beta) for i, beta in enumerate(value)]
            else:
                labelled = [(name, value)]
            for label, x in labelled:
                if np.ndim(x) == 1 and len(x) != K:
                    raise ValueError(
                        f"{label} has {len(x)} values but the population has K={K} "
                        "replicas; give a scalar or one value per replica"
                    )


def _filled_like(p: np.ndarray, initial: Hyperparameter) -> np.ndarray:
    """An array shaped like p holding ``initial`` (a scalar, or K values, one per replica)."""
    buffer = np.empty_like(p)
    buffer[...] = _per_replica(initial, p.ndim)
    return buffer


@dataclass(eq=False)
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as torch.optim.SGD (defaults of torch 2.13).

    With a momentum buffer b (used when momentum != 0; b = d on the first step, undamped):

        b = momentum * b + (1 - dampening) * d
        d = d + momentum * b      if nesterov (torch's form), else   d = b
        p = p - lr * d

    nesterov needs momentum > 0 and dampening == 0 (torch's rule).
    """

    lr: Hyperparameter = 1e-3
    momentum: Hyperparameter = 0
    dampening: Hyperparameter = 0
    weight_decay: Hyperparameter = 0
    nesterov: bool = False

    def __post_init__(self) -> None:
        momentum, dampening = self.momentum, self.dampening  # as given, for the message
        super().__post_init__()
        if self.nesterov and (np.any(self.momentum <= 0) or np.any(self.dampening != 0)):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening == 0, "
                f"got momentum={momentum}, dampening={dampening}"
            )

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {"momentum_buffer": None if _is_zero(self.momentum) else 0.0}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        momentum, undamped = self.momentum, 1 - self.dampening
        if isinstance(momentum, np.ndarray):
            undamped = np.where(momentum == 0, 1.0, undamped)
        step = {
            "lr": _value(self.lr),
            "weight_decay": self.weight_decay,
            "momentum": momentum,
            "undamped": undamped,  # 1 - dampening; 1 where momentum == 0 (torch: no buffer)
        }
        first = state["step"] == 1
        buffers = state.get("momentum_buffer", scratch.none)
        works, shaped = scratch[2], self._per_parameter(step, params)
        for p, g, b, (d_buffer, w), c in zip(params, grads, buffers, works, shaped, strict=True):
            d = _decayed(p, g, c["weight_decay"], d_buffer)
            if b is not None:  # b = momentum * b + (1 - dampening) * d; d = b, or Nesterov's
                if first:
                    np.copyto(b, d)
                else:
                    b *= c["momentum"]
                    if _is_zero(self.dampening):
                        b += d
                    else:
                        np.multiply(d, c["undamped"], out=w)
                        b += w
                if self.nesterov:
                    np.multiply(b, c["momentum"], out=w)
                    w += d
                    d = w
                else:
                    d = b
            np.multiply(d, c["lr"], out=w)
            p -= w


@dataclass(eq=False)
class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad (defaults of torch 2.13).

    Each entry's step shrinks with the running sum of its squared gradients:

    sum = sum + d * d                      (sum starts at initial_accumulator_value)
    clr = lr / (1 + (t - 1) * lr_decay)
    p   = p - clr * d / (sqrt(sum) + eps)
    """

    lr: Hyperparameter = 1e-2
    lr_decay: Hyperparameter = 0
    weight_decay: Hyperparameter = 0
    initial_accumulator_value: Hyperparameter = 0
    eps: Hyperparameter = 1e-10

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {"sum": self.initial_accumulator_value}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        clr = _value(self.lr) / (1 + (state["step"] - 1) * self.lr_decay)
        step = {"weight_decay": self.weight_decay, "eps": self.eps, "clr": clr}
        works, shaped = scratch[2], self._per_parameter(step, params)
        for p, g, total, (d_buffer, w), c in zip(
            params, grads, state["sum"], works, shaped, strict=True
        ):
            d = _decayed(p, g, c["weight_decay"], d_buffer)
            np.multiply(d, d, out=w)
            total += w
            np.sqrt(total, out=w)
            w += c["eps"]
            np.divide(d, w, out=w)
            w *= c["clr"]
            p -= w


@dataclass(eq=False)
class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta (defaults of torch 2.13).

        square_avg = rho * square_avg + (1 - rho) * d * d
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * d
        acc_delta  = rho * acc_delta + (1 - rho) * delta * delta
        p          = p - lr * delta

    lr scales only the step to p; acc_delta accumulates the unscaled delta, as in torch.
    """

    lr: Hyperparameter = 1.0
    rho: Hyperparameter = 0.9
    eps: Hyperparameter = 1e-6
    weight_decay: Hyperparameter = 0

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {"square_avg": 0.0, "acc_delta": 0.0}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        rho = self.rho
        step = {
            "lr": _value(self.lr),
            "weight_decay": self.weight_decay,
            "rho": rho,
            "one_minus_rho": 1 - rho,
            "eps": self.eps,
        }
        for p, g, square_avg, acc_delta, (d_buffer, w, delta), c in zip(
            params,
            grads,
            state["square_avg"],
            state["acc_delta"],
            scratch[3],
            self._per_parameter(step, params),
            strict=True,
        ):
            d = _decayed(p, g, c["weight_decay"], d_buffer)
            _average_square(square_avg, d, c["rho"], c["one_minus_rho"], w)
            np.add(square_avg, c["eps"], out=w)
            np.add(acc_delta, c["eps"], out=delta)
            delta /= w
            np.sqrt(delta, out=delta)  # sqrt(acc_delta + eps) / sqrt(square_avg + eps), one sqrt
            delta *= d
            _average_square(acc_delta, delta, c["rho"], c["one_minus_rho"], w)
            delta *= c["lr"]
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


@dataclass(eq=False)
class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop (defaults of torch 2.13).

        square_avg = alpha * square_avg + (1 - alpha) * d * d
        grad_avg   = grad_avg + (1 - alpha) * (d - grad_avg)                 if centered
        avg        = sqrt(square_avg - grad_avg**2) + eps if centered, else sqrt(square_avg) + eps
        b          = momentum * b + d / avg,   p = p - lr * b               if momentum != 0
        p          = p - lr * d / avg                                        otherwise

    The momentum buffer b starts at zero (unlike SGD's, which starts at d).
    """

    lr: Hyperparameter = 1e-2
    alpha: Hyperparameter = 0.99
    eps: Hyperparameter = 1e-8
    weight_decay: Hyperparameter = 0
    momentum: Hyperparameter = 0
    centered: bool = False

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {
            "square_avg": 0.0,
            "grad_avg": 0.0 if self.centered else None,
            "momentum_buffer": None if _is_zero(self.momentum) else 0.0,
        }

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        alpha = self.alpha
        step = {
            "lr": _value(self.lr),
            "weight_decay": self.weight_decay,
            "alpha": alpha,
            "one_minus_alpha": 1 - alpha,
            "eps": self.eps,
            "momentum": self.momentum,
        }
        for p, g, square_avg, grad_avg, b, (d_buffer, w), c in zip(
            params,
            grads,
            state["square_avg"],
            state.get("grad_avg", scratch.none),
            state.get("momentum_buffer", scratch.none),
            scratch[2],
            self._per_parameter(step, params),
            strict=True,
        ):
            d = _decayed(p, g, c["weight_decay"], d_buffer)
            _average_square(square_avg, d, c["alpha"], c["one_minus_alpha"], w)
            if grad_avg is not None:
                _average(grad_avg, d, c["one_minus_alpha"], w)
                np.multiply(grad_avg, grad_avg, out=w)
                np.subtract(square_avg, w, out=w)
                np.sqrt(w, out=w)
            else:
                np.sqrt(square_avg, out=w)
            w += c["eps"]
            np.divide(d, w, out=w)
            if b is not None:
                b *= c["momentum"]
                b += w
                np.multiply(b, c["lr"], out=w)
            else:
                w *= c["lr"]
            p -= w


@dataclass(eq=False)
class Adam(Optimizer):
    """Adam, as torch.optim.Adam (defaults of torch 2.13), with AMSGrad.

        m     = m + (1 - beta1) * (d - m)                 (torch's lerp)
        v     = beta2 * v + (1 - beta2) * d * d
        v_max = max(v_max, v); v = v_max                  if amsgrad
        p     = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    computed as p - step_size * m / (sqrt(v) + eps_hat), with step_size =
    lr * sqrt(1 - beta2**t) / (1 - beta1**t) and eps_hat = eps * sqrt(1 - beta2**t), the
    same quotient with one NumPy call fewer. m is exp_avg, v exp_avg_sq and v_max
    max_exp_avg_sq in the state. With decoupled_weight_decay (AdamW) the decay is
    p = p * (1 - lr * weight_decay) before the step, and d = g.
    """

    lr: Hyperparameter = 1e-3
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999)
    eps: Hyperparameter = 1e-8
    weight_decay: Hyperparameter = 0
    amsgrad: bool = False
    decoupled_weight_decay: bool = field(default=False, kw_only=True)

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0, "max_exp_avg_sq": 0.0 if self.amsgrad else None}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        t, lr, (beta1, beta2) = state["step"], _value(self.lr), self.betas
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        step = {
            **_moment_coefficients(self, lr),
            "eps_hat": self.eps * bias_correction2_sqrt,
            "step_size": lr * bias_correction2_sqrt / (1 - beta1**t),
        }
        for p, g, m, v, v_max, (d_buffer, w), c in zip(
            params,
            grads,
            state["exp_avg"],
            state["exp_avg_sq"],
            state.get("max_exp_avg_sq", scratch.none),
            scratch[2],
            self._per_parameter(step, params),
            strict=True,
        ):
            _update_moments(p, g, m, v, c, d_buffer, w)
            if v_max is not None:
                np.maximum(v_max, v, out=v_max)
                v = v_max
            np.sqrt(v, out=w)
            w += c["eps_hat"]
            np.divide(m, w, out=w)
            w *= c["step_size"]
            p -= w


def _moment_coefficients(optimizer: Adam | NAdam, lr: Hyperparameter) -> dict[str, Any]:
    """Adam's and NAdam's coefficients of ``_update_moments``: the betas', and the weight decay
    of d (torch's L2) or, decoupled, p = p * decay with decay = 1 - lr * weight_decay."""
    beta1, beta2 = optimizer.betas
    decay, weight_decay = None, optimizer.weight_decay  # decay None: p is not decayed
    if optimizer.decoupled_weight_decay:
        decay = None if _is_zero(weight_decay) else 1 - lr * weight_decay
        weight_decay = 0.0
    return {
        "decay": decay,
        "weight_decay": weight_decay,
        "one_minus_beta1": 1 - beta1,
        "beta2": beta2,
        "one_minus_beta2": 1 - beta2,
    }


def _update_moments(p, g, m, v, c: dict[str, Any], d_buffer, w) -> np.ndarray:
    """Adam's and NAdam's start of a step, in place: the weight decay, m = lerp(m, d, 1 - beta1)
    and v = beta2 * v + (1 - beta2) * d * d; returns d. c: ``_moment_coefficients`` and more."""
    if c["decay"] is not None:
        p *= c["decay"]
    d = _decayed(p, g, c["weight_decay"], d_buffer)
    _average(m, d, c["one_minus_beta1"], w)
    _average_square(v, d, c["beta2"], c["one_minus_beta2"], w)
    return d


@dataclass(eq=False)
class AdamW(Adam):
    """AdamW, as torch.optim.AdamW (defaults of torch 2.13): Adam with decoupled decay.

    The decay acts on p directly, not through the moments:

    p = p * (1 - lr * weight_decay), then the Adam step with d = g.
    """

    weight_decay: Hyperparameter = 1e-2
    decoupled_weight_decay: bool = field(default=True, init=False)


@dataclass(eq=False)
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
    in the state, a float64 (or K of them); torch keeps it in its default dtype, so compare
    with torch's default dtype set to float64.
    """

    lr: Hyperparameter = 2e-3
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999)
    eps: Hyperparameter = 1e-8
    weight_decay: Hyperparameter = 0
    momentum_decay: Hyperparameter = 4e-3
    decoupled_weight_decay: bool = False

    def init(self, params: Arrays) -> dict:
        """Adam's state without max_exp_avg_sq, and "mu_product": 1.0."""
        state = super().init(params)
        state["mu_product"] = 1.0
        return state

    def _buffers(self) -> dict[str, Hyperparameter | None]:
        return {"exp_avg": 0.0, "exp_avg_sq": 0.0}

    def _update(self, params: Arrays, grads: Arrays, state: dict, scratch: Scratch) -> None:
        t, lr, (beta1, beta2) = state["step"], _value(self.lr), self.betas
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        mu_product = state["mu_product"] = state["mu_product"] * mu
        s = (1 - beta2**t) ** 0.5
        step = {
            **_moment_coefficients(self, lr),
            "eps_hat": self.eps * s,
            "grad_size": lr * (1 - mu) / (1 - mu_product) * s,
            "avg_size": lr * mu_next / (1 - mu_product * mu_next) * s,
        }
        for p, g, m, v, (d_buffer, denom, w), c in zip(
            params,
            grads,
            state["exp_avg"],
            state["exp_avg_sq"],
            scratch[3],
            self._per_parameter(step, params),
            strict=True,
        ):
            d = _update_moments(p, g, m, v, c, d_buffer, w)
            np.sqrt(v, out=denom)
            denom += c["eps_hat"]
            for x, size in ((d, c["grad_size"]), (m, c["avg_size"])):
                np.divide(x, denom, out=w)
                w *= size
                p -= w
