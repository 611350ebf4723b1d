"""The methods a suite compares: an optimizer, its fixed arguments, a batching regime and a
grid of learning rates. ``BUILTIN_METHODS`` holds the built-in ones (a suite's
``[method.NAME]`` table overrides their fields or defines new ones); ``MethodSpec`` is one
method as a suite resolved it, and builds its optimizer for a population.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.common import accepted_keywords, did_you_mean, frozen, import_object

Hyperparameters = tuple[tuple[str, Any], ...]  # sorted (name, value) pairs of searched arguments
TrialSpec = tuple[float, Hyperparameters, int]  # (lr, hyperparameters, seed)


def hyperparameters_json(hyperparameters: Hyperparameters) -> str:
    """The searched arguments of a trial as sorted JSON, ``{}`` when none."""
    return json.dumps(dict(hyperparameters), sort_keys=True)


def parse_hyperparameters(text: str) -> Hyperparameters:
    """The inverse of ``hyperparameters_json``."""
    return tuple(sorted(frozen(json.loads(text)).items()))


# name -> optimizer (a class of backprop.optimizers), batch_size (an int or "full"), lr grid,
# args. A suite's [method.NAME] table overrides fields. The grids are 5 lrs in half decades,
# placed so that the lr with the best validation loss after 30-50 epochs on the built-in
# datasets (hidden [32], relu) lies inside. The adaptive methods' grids hold torch's default
# (NAdam's 2e-3 between two points); SGD's 1e-3 is too small for full and mini-batches here.
ADAM_GRID = (1e-3, 3e-3, 0.01, 0.03, 0.1)
BUILTIN_METHODS: dict[str, dict] = {
    "gd": {"optimizer": "SGD", "batch_size": "full", "lr": (0.03, 0.1, 0.3, 1.0, 3.0)},
    "sgd": {"optimizer": "SGD", "batch_size": 1, "lr": (3e-4, 1e-3, 3e-3, 0.01, 0.03)},
    "minibatch": {"optimizer": "SGD", "batch_size": 32, "lr": (0.01, 0.03, 0.1, 0.3, 1.0)},
    "adagrad": {"optimizer": "Adagrad", "batch_size": 32, "lr": (0.01, 0.03, 0.1, 0.3, 1.0)},
    "adadelta": {"optimizer": "Adadelta", "batch_size": 32, "lr": (0.3, 1.0, 3.0, 10.0, 30.0)},
    "adam": {"optimizer": "Adam", "batch_size": 32, "lr": ADAM_GRID},
    "momentum": {
        "optimizer": "SGD",
        "batch_size": 32,
        "lr": (3e-3, 0.01, 0.03, 0.1, 0.3),
        "args": {"momentum": 0.9},
    },
    "nesterov": {
        "optimizer": "SGD",
        "batch_size": 32,
        "lr": (3e-3, 0.01, 0.03, 0.1, 0.3),
        "args": {"momentum": 0.9, "nesterov": True},
    },
    "rmsprop": {"optimizer": "RMSprop", "batch_size": 32, "lr": (3e-4, 1e-3, 3e-3, 0.01, 0.03)},
    "adamw": {"optimizer": "AdamW", "batch_size": 32, "lr": ADAM_GRID},
    "nadam": {"optimizer": "NAdam", "batch_size": 32, "lr": ADAM_GRID},
}


def optimizer_class(optimizer: str) -> type:
    """A class of backprop.optimizers by name, or a user's class by ``"pkg.module:Class"``.

    Raises ImportError when it cannot be found, TypeError when it is not an optimizer class
    (a class with ``init`` and ``step`` methods).
    """
    if ":" in optimizer:
        cls = import_object(optimizer)
    else:
        module = importlib.import_module("backprop.optimizers")
        names = [
            n
            for n, c in vars(module).items()
            if inspect.isclass(c) and hasattr(c, "step") and "lr" in inspect.signature(c).parameters
        ]
        if optimizer not in names:
            raise ImportError(
                f"unknown optimizer {optimizer!r}{did_you_mean(optimizer, names)}; "
                f"allowed: {sorted(names)} or an import path 'pkg.module:Class'"
            )
        cls = getattr(module, optimizer)
    has_methods = all(callable(getattr(cls, m, None)) for m in ("init", "step"))
    keywords = accepted_keywords(cls) if inspect.isclass(cls) else []
    if not inspect.isclass(cls) or not has_methods or not (keywords is None or "lr" in keywords):
        raise TypeError(
            f"optimizer {optimizer!r} must be a class taking lr, with init(params) and "
            f"step(params, grads, state) methods, got {cls!r}"
        )
    return cls


@dataclass(frozen=True)
class MethodSpec:
    """A method: an optimizer plus a batching regime, with its lr grid and extra arguments."""

    name: str
    optimizer: str
    batch_size: int | None
    lrs: tuple[float, ...]
    args: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)

    def make_optimizer(self, lr: float | np.ndarray, **searched: Any) -> Any:
        """The optimizer with ``lr`` and the searched arguments (each a value or K values)."""
        return optimizer_class(self.optimizer)(lr=lr, **self.args, **searched)

    def combinations(self) -> list[Hyperparameters]:
        """Every combination of the ``search`` candidates, as sorted (name, value) pairs.

        One empty combination when nothing is searched.
        """
        names = sorted(self.search)
        return [
            tuple(zip(names, values, strict=True))
            for values in itertools.product(*(self.search[n] for n in names))
        ]

    def population_optimizer(self, trials: Sequence[TrialSpec]) -> Any:
        """The optimizer of a population: trial k's lr and searched values as replica k's."""
        lrs = np.array([lr for lr, _, _ in trials], dtype=float)
        searched: dict[str, Any] = {}
        for name in self.search:
            values = np.array([dict(hyper)[name] for _, hyper, _ in trials], dtype=float)
            searched[name] = tuple(values.T) if values.ndim == 2 else values
        return self.make_optimizer(lrs, **searched)

    @classmethod
    def from_dict(cls, data: dict) -> MethodSpec:
        """The inverse of ``asdict`` after a JSON round trip (lists back to tuples)."""
        return cls(**frozen(data))
