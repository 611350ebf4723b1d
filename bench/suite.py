"""Suites: a TOML file of methods x datasets x seeds x learning rates, loaded and validated.

A suite names methods (an optimizer, its arguments, a batch size and an lr grid), datasets (a
generator and its parameters), the model, the epochs and the seeds; the schema is in
DESIGN.md. Every problem is a SuiteError, ``"<file>: <key>: <message>"``, with the dotted key
(``method.adam.lr``), the value given and what is allowed. What is suspicious but harmless
(an unused ``[method.X]`` table not named like a listed method) is not an error: it is in
``Suite.warnings``, which ``load_suite`` never prints (the CLI prints them, and ``bench.run``
given a file emits them with ``warnings.warn``). A loaded suite is turned into
populations by bench.protocol (tune, extend the grid, evaluate); a Population holds trials
(lr, hyperparameters, seed) of one method x dataset x phase.
"""

from __future__ import annotations

import hashlib
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
from backprop import compiled
from backprop.activations import HIDDEN, OUTPUT
from backprop.losses import LOSSES
from bench.common import accepted_keywords, did_you_mean, frozen, jsonable, keyword_defaults
from bench.datasets import (
    BUILTIN_DATASETS,
    TASKS,
    DatasetError,
    DatasetSpec,
    dataset_for,
    generator_defaults,
    resolve_generator,
)
from bench.methods import BUILTIN_METHODS, MethodSpec, TrialSpec, optimizer_class

SUITES_DIR = Path(__file__).parent / "suites"
SUITE_KEYS = (
    "name",
    "methods",
    "datasets",
    "epochs",
    "seeds",
    "tuning_seeds",
    "extend_grid",
    "margin",
)
TUNING_SEED_START = 100_000  # tuning_seeds = n means seeds 100000 .. 100000 + n - 1
DEFAULT_TUNING_SEEDS = 3
DEFAULT_EXTEND_GRID = 3
MAX_EXTEND_GRID = 20
DEFAULT_MARGIN = 0.05
SCHEMA_VERSION = 2  # of the results store and the population keys: a new one never mixes in
MAX_SEEDS = 10_000  # more would be a typo: each seed is a trial per method, dataset and lr
MAX_SEED = 2**63 - 1  # the store keeps a seed as a signed 64-bit SQLite INTEGER
MAX_COMBINATIONS = 1_000  # of a search grid: each is a trial per lr, tuning seed and dataset
MAX_SAMPLES = 1_000_000  # the dataset is built while the suite is checked
MODEL_KEYS = ("hidden", "activation")
METHOD_KEYS = ("optimizer", "batch_size", "lr", "args", "search")
ENGINES = ("auto", "numpy", "compiled")  # a suite's engine; auto is resolved per population
# Keys of a [dataset.NAME] table that are not generator parameters.
DATASET_KEYS = ("generator", "seed", "target_loss", "task", "output", "loss")
DEFAULT_MODEL = {"hidden": (32,), "activation": "relu"}
DEFAULT_BATCH_SIZE = 32


class SuiteError(ValueError):
    """A bad suite: ``str(err) == f"{file}: {key}: {message}"``, key dotted like method.adam.lr."""

    def __init__(self, file: str, key: str, message: str) -> None:
        super().__init__(file, key, message)
        self.file, self.key, self.message = file, key, message

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message}"


class SuiteWarning(UserWarning):
    """Something in a suite file that is ignored but may be a mistake (an unused table)."""


def digest(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    text = json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Population:
    """Trials of one method x dataset x phase, trained together on the population axis.

    phase: "tune" (candidate configurations on the tuning seeds) or "eval" (the tuned
    configuration on the evaluation seeds). trials: (lr, hyperparameters, seed) each, the
    hyperparameters as sorted (name, value) pairs of the method's ``search`` arguments.
    """

    suite: str
    method: MethodSpec
    dataset: DatasetSpec
    epochs: int
    hidden: tuple[int, ...]
    activation: str
    phase: str
    trials: tuple[TrialSpec, ...]
    engine: str = "numpy"  # the engine it trains with: "numpy" or "compiled", never "auto"
    # evaluation: the engine its calibration times one trial alone with ("" in tuning)
    timing_engine: str = ""

    def spec(self) -> dict:
        """Everything that changes the results, JSON-serialisable (the suite's name does not)."""
        return jsonable(
            {
                "method": asdict(self.method),
                "dataset": asdict(self.dataset),
                "model": {"hidden": self.hidden, "activation": self.activation},
                "epochs": self.epochs,
                "phase": self.phase,
                "engine": self.engine,
                "timing_engine": self.timing_engine,
                "trials": self.trials,
            }
        )

    def key(self) -> str:
        """sha256 of spec(), the store's schema version and the backprop version."""
        return digest(
            {
                "spec": self.spec(),
                "schema": SCHEMA_VERSION,
                "backprop_version": backprop.__version__,
            }
        )

    def config(self) -> str:
        """The key of this population less its seeds: evaluation populations with the same
        configuration (one lr and hyperparameters) share it, whatever seeds they hold."""
        spec = self.spec()
        spec["trials"] = sorted({json.dumps(t[:2]) for t in spec["trials"]})
        return digest(
            {"spec": spec, "schema": SCHEMA_VERSION, "backprop_version": backprop.__version__}
        )


@dataclass(frozen=True)
class Suite:
    """A validated suite: methods x datasets, tuned on tuning_seeds, judged on seeds."""

    name: str
    source: str
    methods: tuple[MethodSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    epochs: int
    seeds: tuple[int, ...]
    hidden: tuple[int, ...]
    activation: str
    tuning_seeds: tuple[int, ...] = tuple(
        range(TUNING_SEED_START, TUNING_SEED_START + DEFAULT_TUNING_SEEDS)
    )
    extend_grid: int = DEFAULT_EXTEND_GRID
    margin: float = DEFAULT_MARGIN
    # What loading found suspicious but harmless (an unused [method.X] table), each
    # "<file>: <key>: <message>"; not part of the definition. The CLI prints them to stderr.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    engine: str = "auto"  # the training engine (ENGINES); bench.run(engine=) or --engine

    def population(
        self, method: MethodSpec, dataset: DatasetSpec, phase: str, trials: Iterable[TrialSpec]
    ) -> Population:
        """A population of this suite's model and epochs, its engine resolved here, once, so
        that every worker trains it alike (``resolve_engines``)."""
        trials = tuple(trials)
        engine, timing_engine = resolve_engines(self, method, dataset, phase, trials)
        return Population(
            suite=self.name,
            method=method,
            dataset=dataset,
            epochs=self.epochs,
            hidden=self.hidden,
            activation=self.activation,
            phase=phase,
            trials=trials,
            engine=engine,
            timing_engine=timing_engine,
        )

    def settings(self) -> dict:
        """The suite's definition, JSON-serialisable: what a changed suite is compared by."""
        return jsonable(
            {
                "epochs": self.epochs,
                "seeds": self.seeds,
                "tuning_seeds": self.tuning_seeds,
                "extend_grid": self.extend_grid,
                "margin": self.margin,
                "model": {"hidden": self.hidden, "activation": self.activation},
                "methods": {m.name: asdict(m) for m in self.methods},
                "datasets": {d.name: asdict(d) for d in self.datasets},
                "engine": self.engine,
            }
        )


def resolve_engines(
    suite: Suite, method: MethodSpec, dataset: DatasetSpec, phase: str, trials: tuple
) -> tuple[str, str]:
    """(engine, timing_engine) of a population: ``backprop.compiled.resolve_engine`` for the
    suite's engine on the whole population, and, for an evaluation, on one trial alone (what
    its calibration times: each method's single trial with the engine that suits it, so that
    no method's seconds pay for another's engine). "auto" becomes "compiled" where numba is
    installed and the compiled engine fits and pays, else "numpy"."""
    data = dataset_for(dataset)
    sizes = [data.n_features, *suite.hidden, data.n_outputs]

    def resolve(chosen: tuple) -> str:
        optimizer = method.population_optimizer(chosen)
        return compiled.resolve_engine(
            suite.engine, optimizer, data.X_train, method.batch_size, len(chosen), np.float64,
            sizes,
        )[0]  # fmt: skip

    return resolve(trials), resolve(trials[:1]) if phase == "eval" else ""


def check_engine(suite: Suite) -> None:
    """A SuiteError when the suite's engine cannot train one of its methods on one of its
    datasets (``engine="compiled"`` with a user's optimizer, or without numba), before any
    work; "auto" always can."""
    if suite.engine not in ENGINES:
        raise SuiteError(suite.source, "engine", f"must be one of {list(ENGINES)}, got "
                         f"{suite.engine!r}")  # fmt: skip
    if suite.engine == "auto":
        return
    for method in suite.methods:
        trial = (method.lrs[0], method.combinations()[0], suite.seeds[0])
        for dataset in suite.datasets:
            try:
                resolve_engines(suite, method, dataset, "eval", (trial,))
            except (ValueError, ImportError) as err:
                raise SuiteError(
                    suite.source, "engine", f"{method.name} on {dataset.name}: {err}"
                ) from None


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
        ok = isinstance(value, list) and value
        if not ok or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in value
        ):
            raise self.error(
                key,
                f"must be an int >= 1 or a non-empty list of distinct ints from 0 to 2**63 - 1, "
                f"got {value!r}",
            )
        if len(set(value)) != len(value):
            raise self.error(key, f"lists a seed twice: {value!r}")
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
    defaults = keyword_defaults(cls)
    for arg, value in args.items():
        if not isinstance(value, list):
            continue
        if not isinstance(defaults.get(arg), tuple | list):
            raise check.error(
                f"{key}.args.{arg}",
                f"takes one value, got a list {value!r}; to tune over several values, list "
                f"them in [{key}.search]",
            )
        if any(isinstance(v, list) for v in value):
            raise check.error(
                f"{key}.args.{arg}",
                f"takes one value like {list(defaults[arg])!r}, got a list of lists "
                f"{value!r}; to tune over several values, list them in [{key}.search]",
            )
    same_optimizer = optimizer == base.get("optimizer")
    search = parse_search(check, key, table.get("search", {}), allowed, defaults, args)
    base_args = base["args"] if same_optimizer else {}
    method = MethodSpec(
        name=name,
        optimizer=optimizer,
        batch_size=check.batch_size(
            table.get("batch_size", base["batch_size"]), f"{key}.batch_size"
        ),
        lrs=check.lrs(table.get("lr", base.get("lr")), f"{key}.lr"),
        args=frozen({**{k: v for k, v in base_args.items() if k not in search}, **args}),
        search=search,
    )
    check_arguments(check, key, method)
    if search:
        check_per_replica(check, key, method)
    return method


def check_arguments(check: Checker, key: str, method: MethodSpec) -> None:
    """The optimizer takes the args with the lr grid and each combination of the search
    candidates (as single values). A failure is the args' when they fail the same way
    without the searched values, else the search's."""
    lrs = np.asarray(method.lrs)
    for combination in method.combinations():
        try:
            method.make_optimizer(lrs, **dict(combination))
        except Exception as err:
            if not combination or str(err) == str(build_error(method, lrs)):
                raise check.error(
                    f"{key}.args", f"{method.optimizer} rejects args {method.args!r}: {err}"
                ) from None
            raise check.error(
                f"{key}.search",
                f"{method.optimizer} rejects the search values {dict(combination)!r} (with args "
                f"{method.args!r}): {err}",
            ) from None


def build_error(method: MethodSpec, lrs: np.ndarray) -> Exception | None:
    """What building the optimizer with the lr grid and the args alone raises, or None."""
    try:
        method.make_optimizer(lrs)
    except Exception as err:
        return err
    return None


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_search(
    check: Checker, key: str, table: Any, allowed: list[str] | None, defaults: dict, args: dict
) -> dict[str, tuple]:
    """``[method.NAME.search]``: float arguments, each a non-empty list of distinct candidates.

    A key must be a keyword of the optimizer (not lr, which has its own grid, nor a key of
    the same table's args) whose default is a number, or a tuple of numbers (betas: then each
    candidate is a pair). At most MAX_COMBINATIONS combinations.
    """
    where = f"{key}.search"
    table = check.table(table, where, None)
    keywords = defaults if allowed is None else allowed
    floats = [n for n in keywords if n != "lr" and float_like(defaults.get(n))]
    search = {}
    for name, values in table.items():
        at = f"{where}.{name}"
        if name == "lr":
            raise check.error(at, f"the lr grid is {key}.lr; search holds other arguments")
        if allowed is not None and name not in allowed:
            raise check.error(
                at,
                f"unknown argument {name!r}{did_you_mean(name, allowed)}; allowed (float "
                f"arguments): {floats}",
            )
        if name in args:
            raise check.error(
                at, f"{name!r} is also fixed in {key}.args; give it in one place, not both"
            )
        default = defaults.get(name)
        if not float_like(default):
            raise check.error(
                at,
                f"search takes float arguments only (each candidate becomes a per-replica "
                f"value); {name!r} has default {default!r}; allowed: {floats}",
            )
        pair = isinstance(default, tuple | list)
        kind = "numbers"
        if pair:
            what = "pairs" if len(default) == 2 else f"lists of {len(default)}"
            kind = f"{what} of numbers like {list(default)}"
        ok = isinstance(values, list) and values
        if ok and pair:
            ok = all(
                isinstance(v, list) and len(v) == len(default) and all(map(is_number, v))
                for v in values
            )
        elif ok:
            ok = all(map(is_number, values))
        if not ok:
            raise check.error(at, f"must be a non-empty list of {kind}, got {values!r}")
        candidates = frozen(values)
        if len(set(candidates)) != len(candidates):
            raise check.error(at, f"lists a candidate twice: {values!r}")
        search[name] = candidates
    size = math.prod(len(c) for c in search.values())
    if size > MAX_COMBINATIONS:
        raise check.error(
            where,
            f"{' x '.join(str(len(c)) for c in search.values())} = {size:,} combinations of "
            f"candidates; at most {MAX_COMBINATIONS:,} (each is trained at every lr and seed)",
        )
    return search


def float_like(default: Any) -> bool:
    """Whether a keyword default makes a searchable argument: a number (not a bool), or a
    non-empty tuple of numbers (betas)."""
    if isinstance(default, tuple | list):
        return bool(default) and all(map(is_number, default))
    return is_number(default)


def check_per_replica(check: Checker, key: str, method: MethodSpec) -> None:
    """The optimizer takes every searched argument as per-replica values: built and
    initialised on a tiny population of two replicas per lr x combination (so that K >= 2,
    as in a tuning population, and a K-value array cannot pass for a scalar)."""
    trials = [(lr, h, s) for lr in method.lrs for h in method.combinations() for s in (0, 1)]
    try:
        optimizer = method.population_optimizer(trials)
        params = backprop.MLP([2, 2, 1]).init(seed=list(range(len(trials))))
        optimizer.init(params)
    except Exception as err:
        raise check.error(
            f"{key}.search",
            f"{method.optimizer} rejects per-replica values of {sorted(method.search)}: {err}",
        ) from None


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


def parse_suite(
    data: dict, file: str, source: str, default_name: str, check_datasets: bool = True
) -> Suite:
    """A Suite from parsed TOML, every field validated. Datasets are built to check them
    (``datasets.dataset_for``: once per process, the build reused by a run), unless
    ``check_datasets`` is False (``bench list``, which only counts)."""
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
    unused = [
        *check_all_used(check, "method", method_tables, method_names, BUILTIN_METHODS),
        *check_all_used(check, "dataset", dataset_tables, dataset_names, BUILTIN_DATASETS),
    ]
    name = head.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise check.error("suite.name", f"must be a non-empty string, got {name!r}")
    seeds = check.seeds(head["seeds"], "suite.seeds")
    suite = Suite(
        name=name,
        source=source,
        methods=tuple(parse_method(check, m, method_tables.get(m)) for m in method_names),
        datasets=tuple(parse_dataset(check, d, dataset_tables.get(d)) for d in dataset_names),
        epochs=check.integer(head["epochs"], "suite.epochs", 1),
        seeds=seeds,
        hidden=check.hidden(model.get("hidden", DEFAULT_MODEL["hidden"]), "model.hidden"),
        activation=check.choice(
            model.get("activation", DEFAULT_MODEL["activation"]), "model.activation", HIDDEN
        ),
        tuning_seeds=tuning_seeds(check, head.get("tuning_seeds", DEFAULT_TUNING_SEEDS), seeds),
        extend_grid=check.integer(
            head.get("extend_grid", DEFAULT_EXTEND_GRID), "suite.extend_grid", 0
        ),
        margin=margin(check, head.get("margin", DEFAULT_MARGIN)),
        warnings=tuple(unused),
    )
    if suite.extend_grid > MAX_EXTEND_GRID:
        raise check.error(
            "suite.extend_grid", f"must be at most {MAX_EXTEND_GRID}, got {suite.extend_grid}"
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
            if check_datasets:
                dataset_for(dataset)
        except DatasetError as err:
            raise check.error(f"dataset.{dataset.name}", str(err)) from None
    return suite


def tuning_seeds(check: Checker, value: Any, seeds: tuple[int, ...]) -> tuple[int, ...]:
    """``suite.tuning_seeds``: an int n (seeds 100000 ..) or a list disjoint from ``seeds``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        if value > MAX_SEEDS:
            raise check.error("suite.tuning_seeds", f"must be at most {MAX_SEEDS}, got {value}")
        tuning = tuple(range(TUNING_SEED_START, TUNING_SEED_START + value))
    else:
        tuning = check.seeds(value, "suite.tuning_seeds")
    shared = sorted(set(tuning) & set(seeds))
    if shared:
        raise check.error(
            "suite.tuning_seeds",
            f"seeds {shared} are also evaluation seeds (suite.seeds); tuning and evaluation "
            "seeds must be disjoint, so that the seeds that chose the lr do not judge it",
        )
    return tuning


def margin(check: Checker, value: Any) -> float:
    """``suite.margin``: a number in (0, 1)."""
    if not is_number(value) or not 0 < value < 1:
        raise check.error(
            "suite.margin",
            f"must be a number in (0, 1), the relative difference below which two methods are "
            f"equivalent; got {value!r}",
        )
    return float(value)


def check_all_used(
    check: Checker, kind: str, tables: dict, used: tuple[str, ...], builtins: Iterable[str]
) -> list[str]:
    """The [method.X] or [dataset.X] tables that the suite does not list: warnings, one each.

    An unused table named like a listed name (``[method.adma]`` beside "adam") is a typo and
    a SuiteError. One named after a built-in (``[method.gd]`` left behind when gd was removed
    from the list, though "gd" is close to "sgd") or close to no listed name is ignored, with
    a warning.
    """
    warnings = []
    builtins = set(builtins)
    for name in tables:
        if name in used:
            continue
        hint = did_you_mean(name, used)
        if hint and name not in builtins:
            raise check.error(
                f"{kind}.{name}",
                f"defined but not listed in suite.{kind}s {list(used)}{hint}; rename the "
                f"table, or list {name!r} in suite.{kind}s",
            )
        warnings.append(
            str(
                check.error(
                    f"{kind}.{name}",
                    f"defined but not listed in suite.{kind}s {list(used)}, so it is ignored; "
                    f"list {name!r} in suite.{kind}s to run it, or delete the table",
                )
            )
        )
    return warnings


DURATIONS_FILE = SUITES_DIR / "durations.json"  # written by scripts/measure_suites.py


def settings_digest(suite: Suite) -> str:
    """A short digest of a suite's definition (``Suite.settings``) and whether the compiled
    engine was there to choose: what a measured duration was measured for."""
    text = json.dumps([compiled.available(), suite.settings()], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def expected_duration(suite: Suite) -> str:
    """How long ``python -m bench run --suite NAME`` took for a built-in suite, as measured by
    scripts/measure_suites.py and stored in bench/suites/durations.json: e.g. "about 70 s
    on 2 cores (measured 2026-12-02)"; says so when the suite or the engine changed since."""
    try:
        measured = json.loads(DURATIONS_FILE.read_text(encoding="utf-8")).get(suite.name)
    except FileNotFoundError:
        measured = None
    if measured is None:
        return "duration not measured"
    seconds = measured["seconds"]
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    text = f"about {took} on {measured['cores']} cores (measured {measured['date']})"
    if measured["settings"] != settings_digest(suite):
        text += "; the suite or the engine changed since"
    return text


def builtin_suite_names() -> list[str]:
    """The names of the suites shipped in bench/suites/, sorted."""
    return sorted(path.stem for path in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str | os.PathLike, check_datasets: bool = True) -> Suite:
    """A built-in suite by name ("quick", "default", "full") or a suite file by path.

    Raises SuiteError (``"<file>: <key>: <message>"``) for a missing or malformed file and for
    every invalid field; with ``check_datasets`` False, datasets are not built to be checked.
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
    return parse_suite(data, file, source, path.stem, check_datasets)
