"""Fuzzed suite files: whatever a file holds, `run` either accepts it or exits 2 with one line
naming the file and the key; it never raises anything else.

Hypothesis writes TOML from the suite schema's own keys and values mixed with wrong keys,
wrong types and out-of-range numbers, some of it cut short, and sometimes plain random bytes.
The in-process `run` trains nothing: bench.runner.run is replaced by the suite loading it
starts with. A few subprocess runs check the same end to end, without a traceback.
"""

from __future__ import annotations

import copy
import io
import json
import math
import subprocess
import sys
from contextlib import redirect_stderr
from functools import partial

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_runner import write_suite

import bench.cli
import bench.runner
from bench.suite import Suite, load_suite

# ------------------------------------------------------------------------------ documents

# Import paths that are safe to import and call: a fuzzer must never name os:remove.
OPTIMIZERS = {"Adam": {"betas": [0.9, 0.99]}, "SGD": {"momentum": 0.5}, "RMSprop": {},
              "backprop.optimizers:Adagrad": {}}  # fmt: skip
WRONG_OPTIMIZERS = ["adam", "Nope", "nowhere.module:Adam", "math:sqrt", "bench.datasets:moons",
                    ":", "math:", 3]  # fmt: skip
GENERATORS = ["moons", "circles", "bench.datasets:moons"]
WRONG_GENERATORS = ["nosuch", "bench.datasets:digits", "nowhere.module:f", "math:pi",
                    "math:sqrt", "a:b:c", 7]  # fmt: skip
WORDS = ["relu", "tanh", "sigmoid", "softmax", "identity", "half_squared_error",
         "binary_cross_entropy", "binary", "multiclass", "regression", "full", "", "x", "adamm",
         "moon", "mine"]  # fmt: skip
JUNK_KEYS = ["colour", "Epochs", "lr ", "", "learning_rate", "seed", "optimiser", "n_sample"]

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
learning_rates = st.lists(st.sampled_from([1e-3, 0.01, 0.1, 1.0]), min_size=1, max_size=3,
                          unique=True)  # fmt: skip


def method_table(draw, required: bool) -> dict:
    """A valid [method.NAME] table; ``required``: it defines a new method."""
    optimizer = draw(st.sampled_from(sorted(OPTIMIZERS)))
    table = {"optimizer": optimizer, "lr": draw(learning_rates)}
    if draw(st.booleans()):
        table["batch_size"] = draw(st.sampled_from([1, 16, "full"]))
    if draw(st.booleans()):
        table["args"] = copy.deepcopy(OPTIMIZERS[optimizer])  # a mistake must not edit the original
    return table if required else {k: v for k, v in table.items() if draw(st.booleans())}


def dataset_table(draw, required: bool) -> dict:
    """A valid [dataset.NAME] table of a few dozen samples; ``required``: a new dataset."""
    table = {"n_samples": draw(st.integers(40, 120))}
    if required:
        table["generator"] = draw(st.sampled_from(GENERATORS))
    if draw(st.booleans()):
        table["target_loss"] = draw(st.sampled_from([0.1, 0.5]))
    return table


def places(document: dict) -> list[tuple[dict, str]]:
    """Every (table, key) of a document, tables within tables included."""
    found = []
    for key, value in document.items():
        found.append((document, key))
        if isinstance(value, dict):
            found += places(value)
    return found


def mutate(draw, document: dict) -> None:
    """One mistake: a wrong value, a missing key, a key that does not belong, or a typo."""
    table, key = draw(st.sampled_from(places(document)))
    kind = draw(st.sampled_from(["value", "value", "delete", "junk", "typo"]))
    if kind == "value":
        wrong = {"optimizer": WRONG_OPTIMIZERS, "generator": WRONG_GENERATORS}.get(key)
        table[key] = draw(st.sampled_from(wrong)) if wrong else draw(values)
    elif kind == "delete":
        del table[key]
    elif kind == "junk":
        table[draw(st.sampled_from(JUNK_KEYS))] = draw(values)
    else:
        table[key + draw(st.sampled_from(["s", "_", "x"]))] = table.pop(key)


@st.composite
def suite_documents(draw) -> dict:
    """A valid suite document (a new method and dataset named "mine" among the built-in ones),
    then none to three mistakes in it."""
    names = partial(st.lists, min_size=1, max_size=2, unique=True)
    methods = draw(names(st.sampled_from(["adam", "gd", "sgd", "mine"])))
    datasets = draw(names(st.sampled_from(["moons", "blobs", "digits", "mine"])))
    seeds = st.integers(1, 3) | st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True)
    document = {
        "suite": {
            "name": "fuzz",
            "methods": methods,
            "datasets": datasets,
            "epochs": draw(st.integers(1, 3)),
            "seeds": draw(seeds),
        },
        "model": {
            "hidden": draw(st.integers(1, 8)),
            "activation": draw(st.sampled_from(["relu", "tanh", "sigmoid"])),
        },
        "method": {
            m: method_table(draw, m == "mine")
            for m in methods
            if m == "mine" or draw(st.booleans())
        },
        "dataset": {
            d: dataset_table(draw, d == "mine")
            for d in datasets
            if d == "mine" or draw(st.booleans())
        },
    }
    for _ in range(draw(st.integers(0, 3))):
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
    """`run` loads and validates the suite, then stops: nothing is trained or written."""
    monkeypatch.setattr(bench.runner, "run", lambda suite, **options: load_suite(suite))
    monkeypatch.setattr(bench.cli, "finish", lambda results: None)


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
    if status == 0:
        assert isinstance(load_suite(path), Suite) and error.getvalue() == ""
    else:
        assert status == 2
        assert error.getvalue().startswith(f"error: {path}: ")  # a SuiteError, file and key
        assert error.getvalue().count("\n") == 1


def test_the_fuzzer_writes_the_toml_of_its_documents(tmp_path):
    document = {
        "suite": {"methods": ["adam"], "datasets": ["moons"], "epochs": 1, "seeds": [0, 2]},
        "method": {"adam": {"lr": [0.01, math.inf], "args": {"betas": [0.9, 0.99]}}},
    }
    assert toml(document) == (
        '[suite]\n"methods" = ["adam"]\n"datasets" = ["moons"]\n"epochs" = 1\n'
        '"seeds" = [0, 2]\n\n[method."adam"]\n"lr" = [0.01, inf]\n'
        '"args" = {"betas" = [0.9, 0.99]}\n'
    )
    document["method"]["adam"]["lr"] = [0.01]
    suite = load_suite(write_suite(tmp_path, toml(document), "suite.toml"))
    assert suite.methods[0].lrs == (0.01,) and suite.methods[0].args == {"betas": (0.9, 0.99)}
    assert suite.seeds == (0, 2)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\xff\xfe\x00garbage", "suite.toml: toml: not UTF-8 text"),
        (b'[suite]\nmethods = ["adam"', "suite.toml: toml: malformed TOML"),
        (
            b'[suite]\nmethods = ["adam"]\ndatasets = ["moons"]\nepochs = 1\nseeds = 1\n'
            b'[method.adam]\noptimizer = "nowhere.module:Adam"\n',
            "suite.toml: method.adam.optimizer: cannot import module 'nowhere.module'",
        ),
    ],
)
def test_a_bad_suite_file_exits_2_end_to_end_without_a_traceback(tmp_path, content, expected):
    (tmp_path / "suite.toml").write_bytes(content)
    command = [sys.executable, "-m", "bench", "run", "--suite", "suite.toml", "--out", "out"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {expected}") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["suite.toml"]
