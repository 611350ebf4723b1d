"""Suites: a TOML file of methods x datasets x seeds x learning rates, loaded and validated.

A suite names methods (an optimizer, its arguments, a batch size and an lr grid), datasets (a
generator and its parameters), the model, the epochs and the seeds; the schema is in
DESIGN.md. Every problem is a SuiteError, ``"<file>: <key>: <message>"``, with the dotted key
(``method.adam.lr``), the value given and what is allowed. A loaded suite expands into
populations: one per dataset x method, holding all its (lr, seed) trials, lr-major.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import json
import math
import os
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import backprop
from backprop.activations import HIDDEN, OUTPUT
from backprop.losses import LOSSES
from bench.datasets import (
    BUILTIN_DATASETS,
    TASKS,
    DatasetError,
    accepted_keywords,
    generator_defaults,
    import_object,
    load_dataset,
    resolve_generator,
)

SUITES_DIR = Path(__file__).parent / "suites"

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

SUITE_KEYS = ("name", "methods", "datasets", "epochs", "seeds")
MAX_SEEDS = 10_000  # more would be a typo: each seed is a trial per method, dataset and lr
MAX_SAMPLES = 1_000_000  # the dataset is built while the suite is checked
MODEL_KEYS = ("hidden", "activation")
METHOD_KEYS = ("optimizer", "batch_size", "lr", "args")
# Keys of a [dataset.NAME] table that are not generator parameters.
DATASET_KEYS = ("generator", "seed", "target_loss", "task", "output", "loss")
DEFAULT_MODEL = {"hidden": (32,), "activation": "relu"}
DEFAULT_BATCH_SIZE = 32

TUNING_RULE = (
    "for each method x dataset, the tuned lr is the one with the lowest mean final validation "
    "loss across seeds; an lr where any seed diverged is never chosen (ties: the smaller lr)"
)
SPLIT_RULE = (
    "60/20/20 train/validation/test, stratified by class for classification, deterministic from "
    "the dataset's seed; features standardised with the training split's mean and std only"
)
TARGET_RULE = {
    "binary": "a 0/1 column; output sigmoid, loss binary_cross_entropy unless overridden",
    "multiclass": "one-hot rows; output softmax, loss softmax_cross_entropy unless overridden",
    "regression": "standardised with the training split's mean and std; output identity, "
    "loss half_squared_error",
}
RELATIVE_TARGET_RULE = (
    "within 5% of the best final training loss (mean over seeds) that any method reached at "
    "its tuned lr on that dataset"
)


class SuiteError(ValueError):
    """A bad suite: ``str(err) == f"{file}: {key}: {message}"``, key dotted like method.adam.lr."""

    def __init__(self, file: str, key: str, message: str) -> None:
        super().__init__(file, key, message)
        self.file, self.key, self.message = file, key, message

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'adam'?)"`` for a near miss among choices, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def frozen(value: Any) -> Any:
    """TOML lists as tuples, recursively, so that specs compare and print as written."""
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    return value


def jsonable(value: Any) -> Any:
    """Tuples as lists, recursively: the form that survives a JSON round trip unchanged."""
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


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

    def make_optimizer(self, lr: float | np.ndarray) -> Any:
        """The optimizer with ``lr`` (a float, or an array of K values, one per replica)."""
        return optimizer_class(self.optimizer)(lr=lr, **self.args)

    @classmethod
    def from_dict(cls, data: dict) -> MethodSpec:
        """The inverse of ``asdict`` after a JSON round trip (lists back to tuples)."""
        return cls(**frozen(data))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: generator, its parameters and the seed that fixes generation and split.

    ``output``/``loss`` override the task's defaults; ``task`` overrides the inference for a
    user's generator (binary, multiclass or regression).
    """

    name: str
    generator: str
    params: dict
    seed: int
    target_loss: float | None
    output: str | None = None
    loss: str | None = None
    task: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> DatasetSpec:
        """The inverse of ``asdict`` after a JSON round trip."""
        return cls(**frozen(data))


@dataclass(frozen=True)
class Population:
    """One method x dataset: all its (lr, seed) trials, trained together on the population axis."""

    suite: str
    method: MethodSpec
    dataset: DatasetSpec
    epochs: int
    hidden: tuple[int, ...]
    activation: str
    trials: tuple[tuple[float, int], ...]

    def spec(self) -> dict:
        """Everything that changes the results, JSON-serialisable (the suite's name does not)."""
        return jsonable(
            {
                "method": asdict(self.method),
                "dataset": asdict(self.dataset),
                "model": {"hidden": self.hidden, "activation": self.activation},
                "epochs": self.epochs,
                "trials": self.trials,
            }
        )

    def key(self) -> str:
        """sha256 hex of the canonical JSON of spec() and the backprop version."""
        text = json.dumps(
            {"spec": self.spec(), "backprop_version": backprop.__version__},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Suite:
    """A validated suite: methods x datasets, each over every lr of its grid x every seed."""

    name: str
    source: str
    methods: tuple[MethodSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    epochs: int
    seeds: tuple[int, ...]
    hidden: tuple[int, ...]
    activation: str

    def populations(self) -> list[Population]:
        """One population per dataset x method (dataset-major); trials lr-major, then seed."""
        return [
            Population(
                suite=self.name,
                method=method,
                dataset=dataset,
                epochs=self.epochs,
                hidden=self.hidden,
                activation=self.activation,
                trials=tuple((lr, seed) for lr in method.lrs for seed in self.seeds),
            )
            for dataset in self.datasets
            for method in self.methods
        ]

    def protocol(self) -> dict:
        """The comparison protocol, JSON-serialisable, recorded with the results."""
        return jsonable(
            {
                "suite": self.name,
                "source": self.source,
                "tuning": TUNING_RULE,
                "epochs": self.epochs,
                "equal_epochs": "every method trains for the same number of epochs",
                "seeds": self.seeds,
                "seed_role": "a trial's seed sets the initial weights and the shuffling; "
                "the dataset is fixed by its own seed",
                "lr_grids": {m.name: m.lrs for m in self.methods},
                "batch_sizes": {
                    m.name: "full" if m.batch_size is None else m.batch_size for m in self.methods
                },
                "optimizers": {
                    m.name: {"optimizer": m.optimizer, "args": m.args} for m in self.methods
                },
                "model": {"hidden": self.hidden, "activation": self.activation},
                "datasets": {d.name: asdict(d) for d in self.datasets},
                "split": SPLIT_RULE,
                "targets": TARGET_RULE,
                "target_loss": {d.name: d.target_loss for d in self.datasets},
                "relative_target": RELATIVE_TARGET_RULE,
            }
        )


# ------------------------------------------------------------------------------ validation


class Checker:
    """Validates the parsed TOML of one file; every failure is a SuiteError naming the file."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, message: str) -> SuiteError:
        """A SuiteError at ``key`` of this file."""
        return SuiteError(self.file, key, message)

    def table(
        self, data: Any, key: str, allowed: Iterable[str] | None, required: Iterable[str] = ()
    ) -> dict:
        """``data`` as a table whose keys are all allowed (None: any) and hold the required."""
        if not isinstance(data, dict):
            raise self.error(key, f"must be a table, got {data!r}")
        allowed = list(data if allowed is None else allowed)
        for name in data:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                hint = did_you_mean(name, allowed)
                raise self.error(where, f"unknown key {name!r}{hint}; allowed: {allowed}")
        for name in required:
            if name not in data:
                raise self.error(f"{key}.{name}" if key else name, "is required but missing")
        return data

    def integer(self, value: Any, key: str, minimum: int) -> int:
        """An int >= minimum (a bool is not an int here)."""
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"must be an int >= {minimum}, got {value!r}")
        return value

    def positive(self, value: Any, key: str) -> float:
        """A finite number > 0."""
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value) or value <= 0:
            raise self.error(key, f"must be a finite number > 0, got {value!r}")
        return float(value)

    def choice(self, value: Any, key: str, allowed: Iterable[str]) -> str:
        """One of the allowed strings, with a "did you mean" for a near miss."""
        allowed = list(allowed)
        if not isinstance(value, str) or value not in allowed:
            hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
            raise self.error(key, f"unknown value {value!r}{hint}; allowed: {allowed}")
        return value

    def names(self, value: Any, key: str, known: Iterable[str], kind: str) -> tuple[str, ...]:
        """A non-empty list of distinct known names."""
        known = list(known)
        if not isinstance(value, list) or not value:
            raise self.error(key, f"must be a non-empty list of {kind} names, got {value!r}")
        for name in value:
            if not isinstance(name, str) or name not in known:
                hint = did_you_mean(name, known) if isinstance(name, str) else ""
                raise self.error(
                    key,
                    f"unknown {kind} {name!r}{hint}; allowed: {known} "
                    f"or a new one defined in a [{kind}.NAME] table",
                )
        if len(set(value)) != len(value):
            raise self.error(key, f"lists a {kind} twice: {value!r}")
        return tuple(value)

    def seeds(self, value: Any, key: str) -> tuple[int, ...]:
        """An int n >= 1 (seeds 0..n-1) or a non-empty list of distinct ints >= 0."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            if value > MAX_SEEDS:
                raise self.error(key, f"must be at most {MAX_SEEDS} seeds, got {value}")
            return tuple(range(value))
        ok = isinstance(value, list) and value and len(set(value)) == len(value)
        if not ok or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
        ):
            raise self.error(
                key,
                f"must be an int >= 1 or a non-empty list of distinct ints >= 0, got {value!r}",
            )
        return tuple(value)

    def lrs(self, value: Any, key: str) -> tuple[float, ...]:
        """A non-empty list of distinct finite numbers > 0 (or one number)."""
        values = value if isinstance(value, list | tuple) else [value]
        if not values:
            raise self.error(key, "the lr grid is empty; give at least one lr > 0, got []")
        lrs = tuple(self.positive(v, key) for v in values)
        if len(set(lrs)) != len(lrs):
            raise self.error(key, f"lists an lr twice: {value!r}")
        return lrs

    def batch_size(self, value: Any, key: str) -> int | None:
        """An int >= 1, or "full" (returned as None)."""
        if value == "full":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f'must be an int >= 1 or "full", got {value!r}')
        return value

    def hidden(self, value: Any, key: str) -> tuple[int, ...]:
        """A list of hidden-layer sizes, each an int >= 1 (or one int)."""
        values = value if isinstance(value, list | tuple) else [value]
        return tuple(self.integer(v, key, 1) for v in values)


def parse_method(check: Checker, name: str, table: dict | None) -> MethodSpec:
    """A built-in method with the table's overrides, or a new method defined by the table."""
    key = f"method.{name}"
    builtin = BUILTIN_METHODS.get(name)
    required = () if builtin else ("optimizer", "lr")
    table = check.table({} if table is None else table, key, METHOD_KEYS, required)
    base = {"batch_size": DEFAULT_BATCH_SIZE, "args": {}, **(builtin or {})}
    optimizer = table.get("optimizer", base.get("optimizer"))
    if not isinstance(optimizer, str):
        raise check.error(
            f"{key}.optimizer", f"must be a class name or 'pkg.module:Class', got {optimizer!r}"
        )
    try:
        cls = optimizer_class(optimizer)
    except (ImportError, TypeError) as err:
        raise check.error(f"{key}.optimizer", str(err)) from None
    args = table.get("args", {})
    if isinstance(args, dict) and "lr" in args:
        raise check.error(f"{key}.args.lr", f"set the lr grid with {key}.lr, not in args")
    allowed = accepted_keywords(cls, ("self", "lr"))
    check.table(args, f"{key}.args", allowed)
    same_optimizer = optimizer == base.get("optimizer")
    method = MethodSpec(
        name=name,
        optimizer=optimizer,
        batch_size=check.batch_size(
            table.get("batch_size", base["batch_size"]), f"{key}.batch_size"
        ),
        lrs=check.lrs(table.get("lr", base.get("lr")), f"{key}.lr"),
        args=frozen({**(base["args"] if same_optimizer else {}), **args}),
    )
    try:
        method.make_optimizer(np.asarray(method.lrs))
    except (TypeError, ValueError) as err:
        raise check.error(
            f"{key}.args", f"{optimizer} rejects args {method.args!r}: {err}"
        ) from None
    return method


def parse_dataset(check: Checker, name: str, table: dict | None) -> DatasetSpec:
    """A built-in dataset with the table's overrides, or a new dataset defined by the table."""
    key = f"dataset.{name}"
    builtin = BUILTIN_DATASETS.get(name)
    table = check.table(
        {} if table is None else table, key, None, () if builtin else ("generator",)
    )
    base = builtin or {"generator": None, "params": {}, "target_loss": None}
    generator_name = table.get("generator", base["generator"])
    if not isinstance(generator_name, str):
        raise check.error(
            f"{key}.generator",
            f"must be a generator name or 'pkg.module:func', got {generator_name!r}",
        )
    try:
        generator = resolve_generator(generator_name)
    except DatasetError as err:
        raise check.error(f"{key}.generator", str(err)) from None
    params = {k: v for k, v in table.items() if k not in DATASET_KEYS}
    check_params(check, key, generator, params)
    target = table.get("target_loss", base["target_loss"])
    same_generator = generator_name == base["generator"]
    return DatasetSpec(
        name=name,
        generator=generator_name,
        params=frozen({**(base["params"] if same_generator else {}), **params}),
        seed=check.integer(table.get("seed", 0), f"{key}.seed", 0),
        target_loss=None if target is None else check.positive(target, f"{key}.target_loss"),
        output=optional_choice(check, table, "output", key, OUTPUT),
        loss=optional_choice(check, table, "loss", key, LOSSES),
        task=optional_choice(check, table, "task", key, TASKS),
    )


def optional_choice(
    check: Checker, table: dict, name: str, key: str, allowed: Iterable[str]
) -> str | None:
    """``table[name]`` checked against allowed, or None when absent."""
    return check.choice(table[name], f"{key}.{name}", allowed) if name in table else None


def check_params(check: Checker, key: str, generator: Any, params: dict) -> None:
    """Each generator parameter exists, and takes the kind of value its default has."""
    keywords = accepted_keywords(generator, ("seed",))
    if keywords is not None:
        check.table(params, key, [*DATASET_KEYS, *keywords])
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}
    for name, default in generator_defaults(generator).items():
        allowed_types = kinds.get(type(default))
        if name not in params or allowed_types is None:
            continue
        value = params[name]
        if not isinstance(value, allowed_types) or (
            isinstance(value, bool) and bool not in allowed_types
        ):
            kind = " or ".join(t.__name__ for t in allowed_types)
            raise check.error(
                f"{key}.{name}", f"must be {kind} (default {default!r}), got {value!r}"
            )


def parse_suite(data: dict, file: str, source: str, default_name: str) -> Suite:
    """A Suite from parsed TOML, every field validated; datasets are built once to check them."""
    check = Checker(file)
    check.table(data, "", ("suite", "model", "method", "dataset"), ("suite",))
    head = check.table(
        data["suite"], "suite", SUITE_KEYS, ("methods", "datasets", "epochs", "seeds")
    )
    model = check.table(data.get("model", {}), "model", MODEL_KEYS)
    method_tables = check.table(data.get("method", {}), "method", None)
    dataset_tables = check.table(data.get("dataset", {}), "dataset", None)
    method_names = check.names(
        head["methods"], "suite.methods", [*BUILTIN_METHODS, *method_tables], "method"
    )
    dataset_names = check.names(
        head["datasets"], "suite.datasets", [*BUILTIN_DATASETS, *dataset_tables], "dataset"
    )
    check_all_used(check, "method", method_tables, method_names)
    check_all_used(check, "dataset", dataset_tables, dataset_names)
    name = head.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise check.error("suite.name", f"must be a non-empty string, got {name!r}")
    suite = Suite(
        name=name,
        source=source,
        methods=tuple(parse_method(check, m, method_tables.get(m)) for m in method_names),
        datasets=tuple(parse_dataset(check, d, dataset_tables.get(d)) for d in dataset_names),
        epochs=check.integer(head["epochs"], "suite.epochs", 1),
        seeds=check.seeds(head["seeds"], "suite.seeds"),
        hidden=check.hidden(model.get("hidden", DEFAULT_MODEL["hidden"]), "model.hidden"),
        activation=check.choice(
            model.get("activation", DEFAULT_MODEL["activation"]), "model.activation", HIDDEN
        ),
    )
    for dataset in suite.datasets:
        n_samples = dataset.params.get("n_samples")
        if isinstance(n_samples, int | float) and n_samples > MAX_SAMPLES:
            raise check.error(
                f"dataset.{dataset.name}.n_samples",
                f"must be at most {MAX_SAMPLES:,} (a network trained here is small), "
                f"got {n_samples:,}",
            )
        try:
            load_dataset(dataset)
        except DatasetError as err:
            raise check.error(f"dataset.{dataset.name}", str(err)) from None
    return suite


def check_all_used(check: Checker, kind: str, tables: dict, used: tuple[str, ...]) -> None:
    """A [method.X] or [dataset.X] table that the suite does not list is most likely a typo."""
    for name in tables:
        if name not in used:
            raise check.error(
                f"{kind}.{name}",
                f"defined but not listed in suite.{kind}s {list(used)}{did_you_mean(name, used)}",
            )


def builtin_suite_names() -> list[str]:
    """The names of the suites shipped in bench/suites/, sorted."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """A built-in suite by name ("quick", "default", "full") or a suite file by path.

    Raises SuiteError (``"<file>: <key>: <message>"``) for a missing or malformed file and for
    every invalid field.
    """
    builtins = builtin_suite_names()
    if isinstance(name_or_path, str) and name_or_path in builtins:
        path, source = SUITES_DIR / f"{name_or_path}.toml", f"builtin:{name_or_path}"
    else:
        path = Path(name_or_path)
        source = str(path)
    file = str(path)
    if not path.is_file():
        hint = did_you_mean(str(name_or_path), builtins)
        raise SuiteError(
            file, "suite", f"no such suite file{hint}; the built-in suites are {builtins}"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(file, "toml", f"malformed TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise SuiteError(file, "toml", f"not UTF-8 text: {err}") from None
    return parse_suite(data, file, source, default_name=path.stem)
