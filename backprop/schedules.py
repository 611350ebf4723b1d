"""Learning-rate schedules: a factor per epoch that scales an optimizer's base lr.

A schedule is any callable ``schedule(epoch) -> factor`` with epoch counted from 0.
``train(..., schedule=s)`` sets ``optimizer.lr = base_lr * s(epoch)`` before each epoch,
so a schedule works with every optimizer that reads ``self.lr`` in ``step``, and with a
per-replica lr array. Each factor is 1 at epoch 0 unless a warm-up says otherwise:

    Constant()                          1
    StepDecay(step_size, gamma)         gamma ** floor(epoch / step_size)
    Exponential(gamma)                  gamma ** epoch
    InverseTime(decay_rate, decay_steps) 1 / (1 + decay_rate * epoch / decay_steps)
    Cosine(epochs, min_factor, warmup)  linear warm-up over `warmup` epochs from 1/(warmup+1),
                                        then min + (1 - min) (1 + cos(pi t / T)) / 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check(name: str, value: float, low: float, high: float = math.inf, closed: bool = True):
    ok = low <= value <= high if closed else low < value <= high
    if not ok:
        bounds = f"[{low}, {high}]" if closed else f"({low}, {high}]"
        raise ValueError(f"{name} must be in {bounds}, got {value!r}")


@dataclass(frozen=True)
class Constant:
    """factor = 1: the base lr throughout."""

    def __call__(self, epoch: int) -> float:
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """factor = gamma ** floor(epoch / step_size): multiply by gamma every step_size epochs."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        _check("step_size", self.step_size, 1)
        _check("gamma", self.gamma, 0, 1, closed=False)

    def __call__(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)


@dataclass(frozen=True)
class Exponential:
    """factor = gamma ** epoch."""

    gamma: float

    def __post_init__(self):
        _check("gamma", self.gamma, 0, 1, closed=False)

    def __call__(self, epoch: int) -> float:
        return self.gamma**epoch


@dataclass(frozen=True)
class InverseTime:
    """factor = 1 / (1 + decay_rate * epoch / decay_steps)."""

    decay_rate: float
    decay_steps: float = 1.0

    def __post_init__(self):
        _check("decay_rate", self.decay_rate, 0)
        _check("decay_steps", self.decay_steps, 0, closed=False)

    def __call__(self, epoch: int) -> float:
        return 1.0 / (1.0 + self.decay_rate * epoch / self.decay_steps)


@dataclass(frozen=True)
class Cosine:
    """Cosine annealing from 1 to min_factor over ``epochs``, after an optional linear warm-up.

    During warm-up (epoch < warmup) factor = (epoch + 1) / (warmup + 1); then, with
    t = epoch - warmup and T = epochs - warmup, factor = min + (1 - min)(1 + cos(pi t / T)) / 2.
    """

    epochs: int
    min_factor: float = 0.0
    warmup: int = 0

    def __post_init__(self):
        _check("epochs", self.epochs, 1)
        _check("min_factor", self.min_factor, 0, 1)
        _check("warmup", self.warmup, 0, self.epochs - 1)

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        t = min(epoch - self.warmup, self.epochs - self.warmup)
        cosine = (1 + math.cos(math.pi * t / (self.epochs - self.warmup))) / 2
        return self.min_factor + (1 - self.min_factor) * cosine


__all__ = ["Constant", "StepDecay", "Exponential", "InverseTime", "Cosine"]
