"""Suite files: the built-in suites, overrides, every kind of bad file, keys and the protocol."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap

import numpy as np
import pytest

import backprop
from backprop.optimizers import SGD, Adam
from bench.datasets import BUILTIN_DATASETS, load_dataset
from bench.suite import (
    BUILTIN_METHODS,
    DatasetSpec,
    MethodSpec,
    SuiteError,
    builtin_suite_names,
    did_you_mean,
    load_suite,
)

MISSION = ["gd", "sgd", "minibatch", "adagrad", "adadelta", "adam"]
ELEVEN = [*MISSION, "momentum", "nesterov", "rmsprop", "adamw", "nadam"]
HEAD = """
[suite]
methods = ["adam"]
datasets = ["moons"]
epochs = 3
seeds = 2
"""


def write_suite(tmp_path, text: str, name: str = "suite.toml"):
    """A suite file in tmp_path holding ``text`` (dedented)."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def write_module(tmp_path, monkeypatch, module: str, source: str) -> str:
    """Write ``source`` as an importable module named ``module``; return its name."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


# ------------------------------------------------------------------------------ built-in suites


def test_builtin_suites_are_quick_default_and_full():
    assert builtin_suite_names() == ["default", "full", "quick"]
    assert set(BUILTIN_METHODS) == set(ELEVEN)


def test_quick_suite_is_a_small_smoke_test_of_the_six_methods():
    suite = load_suite("quick")
    assert (suite.name, suite.source) == ("quick", "builtin:quick")
    assert [m.name for m in suite.methods] == MISSION
    assert suite.datasets[0].name == "moons"
    tasks = {d.name: load_dataset(d).task for d in suite.datasets}
    assert "multiclass" in tasks.values()
    assert suite.seeds == (0, 1) and suite.epochs <= 5
    assert all(len(m.lrs) == 2 for m in suite.methods)
    assert all(d.params["n_samples"] <= 300 for d in suite.datasets)


def test_default_suite_meets_the_benchmark_sizes_and_step_budget():
    suite = load_suite("default")
    assert [m.name for m in suite.methods] == MISSION
    assert len(suite.datasets) >= 5 and "digits" in [d.name for d in suite.datasets]
    assert len(suite.seeds) >= 5
    assert all(len(m.lrs) >= 5 for m in suite.methods)
    assert all(d.target_loss is not None for d in suite.datasets)
    # the cost is the number of optimizer steps of all populations (each trains K trials at
    # once); sgd at batch 1 dominates. ~57,000 steps cost ~25 s on one core of this machine.
    n_train = {d.name: load_dataset(d).n_train for d in suite.datasets}
    steps = sum(
        suite.epochs * (1 if m.batch_size is None else -(-n_train[d.name] // m.batch_size))
        for d in suite.datasets
        for m in suite.methods
    )
    assert steps <= 400_000


def test_full_suite_has_every_method_and_dataset_more_seeds_and_wider_grids():
    full, default = load_suite("full"), load_suite("default")
    assert [m.name for m in full.methods] == ELEVEN
    assert {d.name for d in full.datasets} == set(BUILTIN_DATASETS)
    assert len(full.seeds) >= 10 and full.epochs >= default.epochs
    grids = {m.name: set(m.lrs) for m in full.methods}
    for method in default.methods:
        assert len(grids[method.name]) >= 7
        assert grids[method.name] > set(method.lrs)  # a strict superset: wider on both sides


def test_builtin_suites_use_the_builtin_methods_batching():
    for name in builtin_suite_names():
        batch = {m.name: m.batch_size for m in load_suite(name).methods}
        assert batch["gd"] is None and batch["sgd"] == 1 and batch["adam"] == 32


def test_populations_are_dataset_major_and_trials_lr_major():
    suite = load_suite("quick")
    populations = suite.populations()
    order = [(p.dataset.name, p.method.name) for p in populations]
    assert order == [(d.name, m.name) for d in suite.datasets for m in suite.methods]
    adam = populations[5]
    lo, hi = adam.method.lrs
    assert adam.trials == ((lo, 0), (lo, 1), (hi, 0), (hi, 1))
    assert (adam.suite, adam.epochs, adam.hidden) == ("quick", suite.epochs, suite.hidden)


# ------------------------------------------------------------------------------ overrides


def test_a_method_table_overrides_only_the_fields_it_names(tmp_path):
    path = write_suite(
        tmp_path,
        HEAD.replace('["adam"]', '["adam", "nesterov", "gd"]')
        + """
        [method.adam]
        lr = [0.001, 0.01]
        args = { betas = [0.8, 0.99] }

        [method.nesterov]
        args = { momentum = 0.5 }

        [method.gd]
        batch_size = 64
        """,
    )
    adam, nesterov, gd = load_suite(path).methods
    assert adam == MethodSpec("adam", "Adam", 32, (0.001, 0.01), {"betas": (0.8, 0.99)})
    assert nesterov.args == {"momentum": 0.5, "nesterov": True}
    assert nesterov.lrs == BUILTIN_METHODS["nesterov"]["lr"]
    assert (gd.optimizer, gd.batch_size) == ("SGD", 64)


def test_seeds_may_be_a_list_and_the_model_is_read(tmp_path):
    text = HEAD.replace("seeds = 2", "seeds = [7, 3]")
    suite = load_suite(
        write_suite(tmp_path, text + '[model]\nhidden = [8, 4]\nactivation = "tanh"')
    )
    assert suite.seeds == (7, 3) and suite.hidden == (8, 4) and suite.activation == "tanh"
    assert suite.name == "suite"  # the file's stem when [suite] has no name


def test_make_optimizer_gives_the_class_with_the_lr_array_and_args(tmp_path):
    suite = load_suite(write_suite(tmp_path, HEAD.replace('["adam"]', '["adam", "momentum"]')))
    adam, momentum = suite.methods
    lrs = np.array(adam.lrs)
    optimizer = adam.make_optimizer(lrs)
    assert isinstance(optimizer, Adam) and np.array_equal(optimizer.lr, lrs)
    sgd = momentum.make_optimizer(0.05)
    assert isinstance(sgd, SGD) and (sgd.lr, sgd.momentum) == (0.05, 0.9)


USER_OPTIMIZER = """
class SignDescent:
    def __init__(self, lr=0.1, shrink=1.0):
        self.lr, self.shrink = lr, shrink

    def init(self, params):
        return {}

    def step(self, params, grads, state):
        pass
"""
USER_GENERATOR = """
import numpy as np

def stripes(n_samples=60, width=1.0, seed=0):
    x = np.random.default_rng(seed).uniform(0, 4, size=(n_samples, 1))
    return x, np.floor(x[:, 0] / width) % 2
"""


def test_a_new_method_and_dataset_by_import_path(tmp_path, monkeypatch):
    write_module(tmp_path, monkeypatch, "b1_suite_opt", USER_OPTIMIZER)
    write_module(tmp_path, monkeypatch, "b1_suite_gen", USER_GENERATOR)
    text = """
    [suite]
    methods = ["sign"]
    datasets = ["stripes"]
    epochs = 2
    seeds = 1

    [method.sign]
    optimizer = "b1_suite_opt:SignDescent"
    lr = 0.5
    args = { shrink = 0.9 }

    [dataset.stripes]
    generator = "b1_suite_gen:stripes"
    n_samples = 80
    seed = 4
    target_loss = 0.2
    task = "binary"
    """
    suite = load_suite(write_suite(tmp_path, text))
    (method,), (dataset,) = suite.methods, suite.datasets
    assert method == MethodSpec("sign", "b1_suite_opt:SignDescent", 32, (0.5,), {"shrink": 0.9})
    optimizer = method.make_optimizer(0.5)
    assert (type(optimizer).__name__, optimizer.lr, optimizer.shrink) == ("SignDescent", 0.5, 0.9)
    assert dataset == DatasetSpec(
        "stripes", "b1_suite_gen:stripes", {"n_samples": 80}, 4, 0.2, task="binary"
    )


# ------------------------------------------------------------------------------ bad files

# (suite text, dotted key, a piece of the message naming the value / what is allowed)
BAD_SUITES = {
    "malformed toml": ('[suite\nmethods = ["adam"]', "toml", "line 1, column 7"),
    "unknown table": (HEAD + "[suit]\nx = 1", "suit", "did you mean 'suite'?"),
    "missing suite": ("[model]\nhidden = [4]", "suite", "is required but missing"),
    "unknown suite key": (
        HEAD.replace("epochs = 3", "epoch = 3"),
        "suite.epoch",
        "unknown key 'epoch' (did you mean 'epochs'?)",
    ),
    "unknown method": (
        HEAD.replace('["adam"]', '["adma"]'),
        "suite.methods",
        "unknown method 'adma' (did you mean 'adam'?)",
    ),
    "unknown dataset": (
        HEAD.replace('["moons"]', '["moon"]'),
        "suite.datasets",
        "unknown dataset 'moon' (did you mean 'moons'?)",
    ),
    "no methods": (HEAD.replace('["adam"]', "[]"), "suite.methods", "non-empty list"),
    "epochs zero": (HEAD.replace("epochs = 3", "epochs = 0"), "suite.epochs", ">= 1, got 0"),
    "epochs float": (HEAD.replace("epochs = 3", "epochs = 2.5"), "suite.epochs", "got 2.5"),
    "seeds zero": (HEAD.replace("seeds = 2", "seeds = 0"), "suite.seeds", "got 0"),
    "seeds empty": (HEAD.replace("seeds = 2", "seeds = []"), "suite.seeds", "got []"),
    "too many samples": (
        HEAD + "[dataset.moons]\nn_samples = 50000000\n",
        "dataset.moons.n_samples",
        "at most 1,000,000",
    ),
    "seeds too many": (
        HEAD.replace("seeds = 2", "seeds = 1000000000"),
        "suite.seeds",
        "at most 10000 seeds, got 1000000000",
    ),
    "seeds floats": (HEAD.replace("seeds = 2", "seeds = [1.5]"), "suite.seeds", "got [1.5]"),
    "hidden zero": (HEAD + "[model]\nhidden = [8, 0]", "model.hidden", "int >= 1, got 0"),
    "activation": (
        HEAD + '[model]\nactivation = "relux"',
        "model.activation",
        "'relux' (did you mean 'relu'?)",
    ),
    "batch size zero": (
        HEAD + "[method.adam]\nbatch_size = 0",
        "method.adam.batch_size",
        'int >= 1 or "full", got 0',
    ),
    "batch size word": (
        HEAD + '[method.adam]\nbatch_size = "half"',
        "method.adam.batch_size",
        "got 'half'",
    ),
    "empty lr grid": (HEAD + "[method.adam]\nlr = []", "method.adam.lr", "grid is empty"),
    "negative lr": (HEAD + "[method.adam]\nlr = [0.1, -0.1]", "method.adam.lr", "> 0, got -0.1"),
    "word lr": (HEAD + '[method.adam]\nlr = ["fast"]', "method.adam.lr", "got 'fast'"),
    "unknown method key": (
        HEAD + "[method.adam]\nlrs = [0.1]",
        "method.adam.lrs",
        "unknown key 'lrs' (did you mean 'lr'?)",
    ),
    "unknown optimizer": (
        HEAD + '[method.adam]\noptimizer = "Adamm"',
        "method.adam.optimizer",
        "unknown optimizer 'Adamm' (did you mean 'Adam'?)",
    ),
    "optimizer module missing": (
        HEAD + '[method.adam]\noptimizer = "b1_nosuchmod:Opt"',
        "method.adam.optimizer",
        "cannot import module 'b1_nosuchmod'",
    ),
    "optimizer attribute missing": (
        HEAD + '[method.adam]\noptimizer = "json:NoSuchOptimizer"',
        "method.adam.optimizer",
        "module 'json' has no attribute 'NoSuchOptimizer'",
    ),
    "optimizer not a class": (
        HEAD + '[method.adam]\noptimizer = "json:dumps"',
        "method.adam.optimizer",
        "'json:dumps' must be a class taking lr, with init(params) and step",
    ),
    "unknown optimizer arg": (
        HEAD + "[method.adam]\nargs = { betaz = [0.9, 0.99] }",
        "method.adam.args.betaz",
        "unknown key 'betaz' (did you mean 'betas'?)",
    ),
    "lr in args": (HEAD + "[method.adam]\nargs = { lr = 0.1 }", "method.adam.args.lr", "lr grid"),
    "optimizer rejects an arg value": (
        HEAD.replace('["adam"]', '["momentum"]') + "[method.momentum]\nargs = { momentum = -0.5 }",
        "method.momentum.args",
        "-0.5",
    ),
    "new method without optimizer": (
        HEAD.replace('["adam"]', '["mine"]') + "[method.mine]\nlr = [0.1]",
        "method.mine.optimizer",
        "is required but missing",
    ),
    "method table not listed": (
        HEAD + "[method.adma]\nlr = [0.1]",
        "method.adma",
        "not listed in suite.methods ['adam'] (did you mean 'adam'?)",
    ),
    "unknown generator param": (
        HEAD + "[dataset.moons]\nnosie = 0.3",
        "dataset.moons.nosie",
        "unknown key 'nosie' (did you mean 'noise'?)",
    ),
    "generator param of the wrong kind": (
        HEAD + '[dataset.moons]\nn_samples = "many"',
        "dataset.moons.n_samples",
        "must be int (default 1000), got 'many'",
    ),
    "generator param out of range": (
        HEAD + "[dataset.moons]\nn_samples = -3",
        "dataset.moons",
        "n_samples",
    ),
    "unknown generator": (
        HEAD.replace('["moons"]', '["mine"]') + '[dataset.mine]\ngenerator = "moonz"',
        "dataset.mine.generator",
        "unknown generator 'moonz'",
    ),
    "target loss zero": (
        HEAD + "[dataset.moons]\ntarget_loss = 0",
        "dataset.moons.target_loss",
        "> 0, got 0",
    ),
    "unknown task": (
        HEAD + '[dataset.moons]\ntask = "binray"',
        "dataset.moons.task",
        "'binray' (did you mean 'binary'?)",
    ),
    "output and loss do not pair": (
        HEAD + '[dataset.moons]\noutput = "softmax"\nloss = "binary_cross_entropy"',
        "dataset.moons",
        "loss 'binary_cross_entropy' does not pair with output 'softmax'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SUITES))
def test_a_bad_suite_file_names_the_file_the_key_and_the_value(tmp_path, case):
    text, key, message = BAD_SUITES[case]
    path = write_suite(tmp_path, text, name="bad.toml")
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    error = caught.value
    assert (error.file, error.key) == (str(path), key)
    assert str(error).startswith(f"{path}: {key}: ")
    assert message in error.message


def test_nan_from_a_user_generator_is_a_suite_error_naming_the_dataset(tmp_path, monkeypatch):
    source = """
    import numpy as np

    def bad(n_samples=20):
        return np.full((n_samples, 2), np.nan), np.arange(n_samples) % 2
    """
    write_module(tmp_path, monkeypatch, "b1_suite_nan", source)
    text = HEAD.replace('["moons"]', '["bad"]') + '[dataset.bad]\ngenerator = "b1_suite_nan:bad"'
    with pytest.raises(SuiteError, match=r"dataset\.bad: dataset 'bad': X has 40 NaN"):
        load_suite(write_suite(tmp_path, text))


def test_an_unknown_suite_name_or_missing_file_suggests_the_builtin_suites(tmp_path):
    with pytest.raises(SuiteError, match=r"quik: suite: no such suite file \(did you mean 'quick'"):
        load_suite("quik")
    missing = tmp_path / "none.toml"
    with pytest.raises(SuiteError, match=re.escape(f"{missing}: suite: no such suite file")):
        load_suite(missing)


def test_did_you_mean_only_for_near_misses():
    assert did_you_mean("adma", BUILTIN_METHODS) == " (did you mean 'adam'?)"
    assert did_you_mean("epoch", ["epochs", "seeds"]) == " (did you mean 'epochs'?)"
    assert did_you_mean("xyz", ["epochs", "seeds"]) == ""


def test_suite_error_survives_pickling_with_its_fields():
    import pickle

    error = pickle.loads(pickle.dumps(SuiteError("a.toml", "suite.epochs", "must be >= 1")))
    assert (str(error), error.file, error.key) == (
        "a.toml: suite.epochs: must be >= 1",
        "a.toml",
        "suite.epochs",
    )


# ------------------------------------------------------------------------------ keys, protocol


def test_population_keys_are_stable_and_distinct():
    first = [p.key() for p in load_suite("quick").populations()]
    again = [p.key() for p in load_suite("quick").populations()]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(re.fullmatch("[0-9a-f]{64}", key) for key in first)


def test_a_population_key_changes_with_every_field_that_changes_results(monkeypatch):
    population = load_suite("quick").populations()[5]
    method, dataset = population.method, population.dataset
    changed = (
        [
            dataclasses.replace(population, method=dataclasses.replace(method, **change))
            for change in (
                {"optimizer": "AdamW"},
                {"batch_size": 16},
                {"lrs": (0.5,)},
                {"args": {"eps": 1e-6}},
                {"name": "adam2"},
            )
        ]
        + [
            dataclasses.replace(population, dataset=dataclasses.replace(dataset, **change))
            for change in (
                {"params": {**dataset.params, "noise": 0.3}},
                {"seed": 1},
                {"target_loss": 0.2},
                {"output": "softmax"},
                {"loss": "half_squared_error"},
                {"task": "binary"},
                {"generator": "circles"},
            )
        ]
        + [
            dataclasses.replace(population, **change)
            for change in (
                {"epochs": 6},
                {"hidden": (17,)},
                {"activation": "tanh"},
                {"trials": population.trials[:-1]},
            )
        ]
    )
    keys = {p.key() for p in changed}
    assert len(keys) == len(changed) and population.key() not in keys
    assert dataclasses.replace(population, suite="renamed").key() == population.key()
    before = population.key()
    monkeypatch.setattr(backprop, "__version__", "99.0")
    assert population.key() != before


def test_spec_round_trips_through_json_to_the_same_specs():
    for population in load_suite("quick").populations():
        spec = population.spec()
        assert json.loads(json.dumps(spec)) == spec
        assert MethodSpec.from_dict(spec["method"]) == population.method
        assert DatasetSpec.from_dict(spec["dataset"]) == population.dataset
        assert spec["trials"] == [list(t) for t in population.trials]
        assert spec["model"] == {"hidden": list(population.hidden), "activation": "relu"}


def test_protocol_records_the_tuning_rule_epochs_seeds_and_grids():
    suite = load_suite("quick")
    protocol = suite.protocol()
    assert json.loads(json.dumps(protocol)) == protocol
    assert "lowest mean final validation loss across seeds" in protocol["tuning"]
    assert "an lr where any seed diverged is never chosen" in protocol["tuning"]
    assert protocol["relative_target"].startswith("within 5% of the best final training loss")
    assert protocol["epochs"] == 5 and protocol["seeds"] == [0, 1]
    assert protocol["lr_grids"] == {m.name: list(m.lrs) for m in suite.methods}
    assert protocol["batch_sizes"]["gd"] == "full" and protocol["batch_sizes"]["sgd"] == 1
    assert protocol["model"] == {"hidden": [16], "activation": "relu"}
    assert protocol["target_loss"] == {"moons": 0.3, "blobs": 0.8}
    assert protocol["split"].startswith("60/20/20")
