"""Fuzzed suite files: whatever a file holds, `run` either accepts it or exits 2 with one line
naming the file and the key; it never raises anything else.

Hypothesis writes TOML from the suite schema's own keys and values (the protocol's
tuning_seeds, extend_grid and margin, and [method.NAME.search] grids included) mixed with
wrong keys, wrong types and out-of-range numbers, some of it cut short, and sometimes plain
random bytes.
The in-process `run` trains nothing: bench.runner.run is replaced by the suite loading it
starts with. A few bad files go through the real `run` in this process, and one through
`python -m bench run` in a subprocess, without a traceback and without writing a file.
"""

from __future__ import annotations

import copy
import io
import json
import math
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from functools import partial

import pytest
from helpers import write_suite
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import bench.cli
import bench.runner
import bench.suite
from bench.common import frozen
from bench.suite import Suite, SuiteError, load_suite

# ------------------------------------------------------------------------------ documents

# Import paths that are safe to import and call: a fuzzer must never name os:remove.
OPTIMIZERS = {
    "Adam": {"betas": [0.9, 0.99]},
    "SGD": {"momentum": 0.5},
    "RMSprop": {},
    "backprop.optimizers:Adagrad": {},
}
# Valid search grids of each optimizer, from which a method's search table takes some keys
SEARCHES = {
    "Adam": {"betas": [[0.9, 0.999], [0.8, 0.99]], "eps": [1e-8, 1e-6], "weight_decay": [0, 1e-4]},
    "SGD": {"momentum": [0.5, 0.9], "dampening": [0.0, 0.1]},
    "RMSprop": {"alpha": [0.9, 0.99], "momentum": [0.0, 0.5]},
    "backprop.optimizers:Adagrad": {"lr_decay": [0.0, 0.01], "eps": [1e-10, 1e-8]},
}
BUILTIN_OPTIMIZERS = {"adam": "Adam", "gd": "SGD", "sgd": "SGD"}
WRONG_OPTIMIZERS = [
    "adam",
    "Nope",
    "nowhere.module:Adam",
    "math:sqrt",
    "bench.datasets:moons",
    ":",
    "math:",
    3,
]
GENERATORS = ["moons", "circles", "bench.datasets:moons"]
WRONG_GENERATORS = [
    "nosuch",
    "bench.datasets:digits",
    "nowhere.module:f",
    "math:pi",
    "math:sqrt",
    "a:b:c",
    7,
]
WORDS = [
    "relu",
    "tanh",
    "sigmoid",
    "softmax",
    "identity",
    "half_squared_error",
    "binary_cross_entropy",
    "binary",
    "multiclass",
    "regression",
    "full",
    "",
    "x",
    "adamm",
    "moon",
    "mine",
]
JUNK_KEYS = ["colour", "Epochs", "lr ", "", "learning_rate", "seed", "optimiser", "n_sample"]
# Wrong values of the protocol's keys, and keys and candidate lists a search table must refuse
WRONG_VALUES = {
    "tuning_seeds": [0, -1, [], [1, 1], [0, 1, 2], [100_000], "3", 2.5, True],
    "extend_grid": [-1, 21, 2.5, True, "3", [1]],
    "margin": [0, 1, -0.1, 1.5, "x", True, math.nan, math.inf, [0.05]],
}
SEARCH_KEYS = ["lr", "nesterov", "amsgrad", "centered", "momentum", "betas", "beta", "eps", "rho"]
CANDIDATES = [
    [],
    [0.5, 0.5],
    [True],
    [[0.9]],
    [[0.9, 0.999]],
    [0.9, 0.999],
    [-1.0],
    [2.0],
    ["x"],
    [math.nan],
    0.5,
    {"a": 1},
    [[0.9, 1.5]],
    [0.0, 0.1],
]

scalars = st.one_of(
    st.integers(-3, 400), st.floats(), st.booleans(), st.text(max_size=6), st.sampled_from(WORDS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(JUNK_KEYS), inner, max_size=2)
    ),
    max_leaves=5,
)
learning_rates = st.lists(
    st.sampled_from([1e-3, 0.01, 0.1, 1.0]), min_size=1, max_size=3, unique=True
)


def method_table(draw, name: str) -> dict:
    """A valid [method.NAME] table, perhaps with a search grid; "mine" is a new method."""
    new = name == "mine"
    optimizer = draw(st.sampled_from(sorted(OPTIMIZERS)))
    table = {}
    if new or draw(st.booleans()):
        table["optimizer"] = optimizer
    else:
        optimizer = BUILTIN_OPTIMIZERS[name]
    if new or draw(st.booleans()):
        table["lr"] = draw(learning_rates)
    if draw(st.booleans()):
        table["batch_size"] = draw(st.sampled_from([1, 16, "full"]))
    if draw(st.booleans()):
        table["args"] = copy.deepcopy(OPTIMIZERS[optimizer])  # a mistake must not edit the original
    if draw(st.integers(0, 3)):  # most tables search
        grid = {k: v for k, v in SEARCHES[optimizer].items() if k not in table.get("args", {})}
        keys = draw(st.lists(st.sampled_from(sorted(grid)), min_size=1, max_size=2, unique=True))
        table["search"] = {k: copy.deepcopy(grid[k]) for k in keys}
    return table


def dataset_table(draw, name: str) -> dict:
    """A valid [dataset.NAME] table of a few dozen samples; "mine" is a new dataset."""
    # digits' 10 classes need 50 samples to split, stratified, 60/20/20
    table = {"n_samples": draw(st.integers(50 if name == "digits" else 40, 120))}
    if name == "mine":
        table["generator"] = draw(st.sampled_from(GENERATORS))
    if draw(st.booleans()):
        table["target_loss"] = draw(st.sampled_from([0.1, 0.5]))
    return table


def places(document: dict | list) -> list[tuple[dict | list, str | int]]:
    """Every (table, key) of a document and (list, index) of its lists, nested ones included."""
    found = []
    items = document.items() if isinstance(document, dict) else enumerate(document)
    for key, value in items:
        found.append((document, key))
        if isinstance(value, dict | list):
            found += places(value)
    return found


def searching(document: dict) -> list[dict]:
    """The method tables of a document that hold a search table."""
    methods = document.get("method")
    tables = methods.values() if isinstance(methods, dict) else ()
    return [t for t in tables if isinstance(t, dict) and isinstance(t.get("search"), dict)]


def protocol_places(document: dict) -> list[tuple[dict | list, str | int]]:
    """The places of the protocol's keys and of the search tables, which two mistakes in three
    aim at (they are a small part of a document)."""
    suite = document.get("suite")
    suite = suite if isinstance(suite, dict) else {}
    found = [(suite, key) for key in WRONG_VALUES if key in suite]
    for table in searching(document):
        found += [(table, "search"), *places(table["search"])]
    return found


def mutate(draw, document: dict) -> None:
    """One mistake: a wrong value, a missing key, a key that does not belong, or a typo; in a
    list (a search grid, a betas pair, seeds), a wrong or missing item."""
    focus = protocol_places(document)
    pool = focus if focus and draw(st.integers(0, 2)) else places(document)  # 2 in 3
    table, key = draw(st.sampled_from(pool))
    kinds = ["value", "delete"] if isinstance(table, list) else ["value", "delete", "junk", "typo"]
    kind = draw(st.sampled_from(["value", *kinds]))
    in_search = any(t["search"] is table for t in searching(document))
    if kind == "value":
        wrong = {"optimizer": WRONG_OPTIMIZERS, "generator": WRONG_GENERATORS, **WRONG_VALUES}
        choices = CANDIDATES if in_search else wrong.get(key)
        # a copy: a later mistake in the document must not edit the list drawn from
        table[key] = copy.deepcopy(draw(st.sampled_from(choices))) if choices else draw(values)
    elif kind == "delete":
        del table[key]
    elif kind == "junk" and in_search:
        table[draw(st.sampled_from(SEARCH_KEYS))] = copy.deepcopy(draw(st.sampled_from(CANDIDATES)))
    elif kind == "junk":
        table[draw(st.sampled_from(JUNK_KEYS))] = draw(values)
    else:
        table[key + draw(st.sampled_from(["s", "_", "x"]))] = table.pop(key)


@st.composite
def suite_documents(draw, mistakes: bool = True) -> dict:
    """A valid suite document (a new method and dataset named "mine" among the built-in ones;
    its tuning seeds may overlap its seeds), then none to three mistakes in it."""
    names = partial(st.lists, min_size=1, max_size=2, unique=True)
    methods = draw(names(st.sampled_from(["adam", "gd", "sgd", "mine"])))
    datasets = draw(names(st.sampled_from(["moons", "blobs", "digits", "mine"])))
    seeds = st.integers(1, 3) | st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True)
    # tuning seeds: by count (100000, ...) or listed, sometimes overlapping the seeds
    tuning_seeds = st.integers(1, 3) | st.lists(
        st.integers(3, 8) | st.integers(100_000, 100_003), min_size=1, max_size=3, unique=True
    )
    protocol = {
        "tuning_seeds": tuning_seeds,
        "extend_grid": st.integers(0, 3),
        "margin": st.sampled_from([0.01, 0.05, 0.5]),
    }
    document = {
        "suite": {
            "name": "fuzz",
            "methods": methods,
            "datasets": datasets,
            "epochs": draw(st.integers(1, 3)),
            "seeds": draw(seeds),
            **{key: draw(value) for key, value in protocol.items() if draw(st.booleans())},
        },
        "model": {
            "hidden": draw(st.integers(1, 8)),
            "activation": draw(st.sampled_from(["relu", "tanh", "sigmoid"])),
        },
        "method": {m: method_table(draw, m) for m in methods if m == "mine" or draw(st.booleans())},
        "dataset": {
            d: dataset_table(draw, d) for d in datasets if d == "mine" or draw(st.booleans())
        },
    }
    for _ in range(draw(st.integers(0, 3 if mistakes else 0))):
        mutate(draw, document)
    return document


# ------------------------------------------------------------------------------ TOML


def toml_value(value) -> str:
    """A TOML value: strings in JSON's escapes (TOML's, but for DEL), inline tables and
    arrays, inf and nan."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_table(header: str, values: dict) -> str:
    """``[header]`` and its ``key = value`` lines."""
    lines = [f"[{header}]"] + [f"{json.dumps(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def toml(document: dict) -> str:
    """A suite document as TOML; a part that is not a table is written as a plain key."""
    parts = []
    for name, part in document.items():
        if name in ("method", "dataset") and isinstance(part, dict):
            parts += [
                toml_table(f"{name}.{json.dumps(key)}", sub)
                if isinstance(sub, dict)
                else f"{name}.{json.dumps(key)} = {toml_value(sub)}\n"
                for key, sub in part.items()
            ]
        elif isinstance(part, dict):
            parts.append(toml_table(name, part))
        else:
            parts.insert(0, f"{name} = {toml_value(part)}\n")
    return "\n".join(parts)


texts = suite_documents().map(toml).map(str.encode)
suite_files = st.one_of(
    *[texts] * 8,
    st.builds(lambda data, cut: data[: int(len(data) * cut)], texts, st.floats(0, 1)),
    st.binary(max_size=200),
)


# ------------------------------------------------------------------------------ properties


@pytest.fixture
def validate_only(monkeypatch):
    """`run` loads and validates the suite (the CLI loads it, printing its warnings, and
    hands the Suite to `run`), then stops: nothing is trained or written."""

    def run(suite, **options):
        return suite if isinstance(suite, Suite) else load_suite(suite)

    monkeypatch.setattr(bench.runner, "run", run)
    monkeypatch.setattr(bench.cli, "finish", lambda results, **options: None)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=suite_files)
def test_run_accepts_a_suite_file_or_exits_2_naming_the_file_and_key(
    tmp_path, validate_only, content
):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(content)
    error = io.StringIO()
    with redirect_stderr(error):
        status = bench.cli.main(["run", "--suite", str(path), "--out", str(tmp_path / "out")])
    event(f"exit {status}: {error.getvalue().removeprefix(f'error: {path}: ').split(':')[0]}")
    if status == 0:  # warnings only: an unused table, one line each, naming file and key
        suite = load_suite(path)
        assert isinstance(suite, Suite)
        assert error.getvalue() == "".join(f"warning: {w}\n" for w in suite.warnings)
        assert all(w.startswith(f"{path}: ") for w in suite.warnings)
    else:
        assert status == 2
        assert error.getvalue().startswith(f"error: {path}: ")  # a SuiteError, file and key
        assert error.getvalue().count("\n") == 1


def test_the_fuzzer_writes_the_toml_of_its_documents(tmp_path):
    document = {
        "suite": {
            "methods": ["adam"],
            "datasets": ["moons"],
            "epochs": 1,
            "seeds": [0, 2],
            "tuning_seeds": [7],
            "margin": 0.5,
        },
        "method": {
            "adam": {
                "lr": [0.01, math.inf],
                "args": {"eps": 1e-7},
                "search": {"betas": [[0.9, 0.99], [0.8, 0.9]]},
            }
        },
    }
    assert toml(document) == (
        '[suite]\n"methods" = ["adam"]\n"datasets" = ["moons"]\n"epochs" = 1\n'
        '"seeds" = [0, 2]\n"tuning_seeds" = [7]\n"margin" = 0.5\n\n[method."adam"]\n'
        '"lr" = [0.01, inf]\n"args" = {"eps" = 1e-07}\n'
        '"search" = {"betas" = [[0.9, 0.99], [0.8, 0.9]]}\n'
    )
    document["method"]["adam"]["lr"] = [0.01]
    suite = load_suite(write_suite(tmp_path, toml(document), "suite.toml"))
    (adam,) = suite.methods
    assert adam.lrs == (0.01,) and adam.args == {"eps": 1e-7}
    assert adam.search == {"betas": ((0.9, 0.99), (0.8, 0.9))}
    assert (suite.seeds, suite.tuning_seeds, suite.margin) == ((0, 2), (7,), 0.5)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=suite_documents(mistakes=False))
def test_the_fuzzers_documents_without_mistakes_load(tmp_path_factory, document):
    """So that a mistake is what the fuzz test tries: the drawn search grids and protocol keys
    are valid, and only tuning seeds that overlap the seeds are refused."""
    path = write_suite(tmp_path_factory.mktemp("valid"), toml(document), "suite.toml")
    event(f"search: {any('search' in t for t in document['method'].values())}")
    try:
        suite = load_suite(path)
    except SuiteError as error:
        assert error.key == "suite.tuning_seeds" and "also evaluation seeds" in error.message
    else:
        searched = {n: t["search"] for n, t in document["method"].items() if "search" in t}
        assert {m.name: m.search for m in suite.methods if m.name in searched} == {
            name: frozen(search) for name, search in searched.items()
        }


HEAD = b'[suite]\nmethods = ["momentum"]\ndatasets = ["moons"]\nepochs = 1\nseeds = 1\n'
ARGS_LIST = b"[method.momentum]\nargs = { momentum = [0.5, 0.9] }\n"
ARGS_LIST_ERROR = (
    "suite.toml: method.momentum.args.momentum: takes one value, got a list [0.5, 0.9]; to "
    "tune over several values, list them in [method.momentum.search]"
)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\xff\xfe\x00garbage", "suite.toml: toml: not UTF-8 text"),
        (b'[suite]\nmethods = ["adam"', "suite.toml: toml: malformed TOML"),
        (
            HEAD + b'[method.momentum]\noptimizer = "nowhere.module:Adam"\n',
            "suite.toml: method.momentum.optimizer: cannot import module 'nowhere.module'",
        ),
        (HEAD + ARGS_LIST, ARGS_LIST_ERROR),
        (
            HEAD + b"tuning_seeds = [0]\n",
            "suite.toml: suite.tuning_seeds: seeds [0] are also evaluation seeds",
        ),
        (HEAD + b"margin = 1\n", "suite.toml: suite.margin: must be a number in (0, 1)"),
    ],
)
def test_a_bad_suite_file_exits_2_without_a_traceback_or_a_file(
    tmp_path, monkeypatch, content, expected
):
    (tmp_path / "suite.toml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    error, output = io.StringIO(), io.StringIO()
    with redirect_stderr(error), redirect_stdout(output):
        status = bench.cli.main(["run", "--suite", "suite.toml", "--out", "out"])
    assert status == 2
    assert error.getvalue().startswith(f"error: {expected}") and error.getvalue().count("\n") == 1
    assert output.getvalue() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.toml"]


@pytest.mark.slow
def test_a_bad_suite_file_exits_2_end_to_end_without_a_traceback(tmp_path):
    """The same in a process of its own (one case: each costs the imports of a process)."""
    (tmp_path / "suite.toml").write_bytes(HEAD + ARGS_LIST)
    command = [sys.executable, "-m", "bench", "run", "--suite", "suite.toml", "--out", "out"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr, done.stdout) == (2, f"error: {ARGS_LIST_ERROR}\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.toml"]
