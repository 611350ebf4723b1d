"""Suite files: the built-in suites, overrides, search grids, every kind of bad file (through
load_suite and through `run`, which exits 2 before writing), keys and the protocol."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import re
import textwrap
from contextlib import redirect_stderr

import numpy as np
import pytest

import backprop
import bench.cli
import bench.suite
from backprop.optimizers import SGD, Adam
from bench.common import did_you_mean, frozen
from bench.datasets import BUILTIN_DATASETS, SPLIT_RULE, TARGET_RULE, DatasetSpec, load_dataset
from bench.methods import BUILTIN_METHODS, MethodSpec
from bench.protocol import TUNING_RULE, chains, describe
from bench.suite import (
    MAX_COMBINATIONS,
    MAX_EXTEND_GRID,
    Suite,
    SuiteError,
    builtin_suite_names,
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


@functools.cache
def builtin(name: str) -> Suite:
    """A built-in suite, loaded once for every test that only reads it."""
    return load_suite(name)


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


def run_cli(path, out) -> tuple[int, str]:
    """`python -m bench run --suite path --out out`, in this process: (status, stderr)."""
    error = io.StringIO()
    with redirect_stderr(error):
        status = bench.cli.main(["run", "--suite", str(path), "--out", str(out)])
    return status, error.getvalue()


def assert_exits_2_before_writing(tmp_path, path, key: str, *pieces: str) -> SuiteError:
    """load_suite raises a SuiteError at ``key`` whose message holds every piece, and `run`
    exits 2 with that one line on stderr, without creating its results folder."""
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    error = caught.value
    assert (error.file, error.key) == (str(path), key), str(error)
    assert str(error).startswith(f"{path}: {key}: ")
    for piece in pieces:
        assert piece in error.message, (piece, error.message)
    out = tmp_path / "out"
    status, stderr = run_cli(path, out)
    assert (status, stderr) == (2, f"error: {error}\n")
    assert not out.exists()
    return error


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
    assert 3 <= len(suite.seeds) <= 5 and 2 <= len(suite.tuning_seeds) <= 3
    assert suite.epochs <= 5 and 1 <= suite.extend_grid <= 3
    assert all(len(m.lrs) == 2 and not m.search for m in suite.methods)
    assert all(d.params["n_samples"] <= 300 for d in suite.datasets)


def test_default_suite_meets_the_benchmark_sizes_and_step_budget():
    suite = builtin("default")
    assert [m.name for m in suite.methods] == MISSION
    assert len(suite.datasets) >= 5 and "digits" in [d.name for d in suite.datasets]
    assert suite.seeds == tuple(range(10))
    assert suite.tuning_seeds == (100_000, 100_001, 100_002)
    assert (suite.extend_grid, suite.margin) == (3, 0.05)
    assert all(len(m.lrs) >= 5 for m in suite.methods)
    assert all(d.target_loss is not None for d in suite.datasets)
    # the cost is the number of optimizer steps of the populations (each trains K trials at
    # once); sgd at batch 1 dominates. Two populations per method x dataset (tune, eval), as
    # the grids place every tuned lr inside (no extension: see README, "Speed").
    n_train = {d.name: load_dataset(d).n_train for d in suite.datasets}
    steps = sum(
        2 * suite.epochs * (1 if m.batch_size is None else -(-n_train[d.name] // m.batch_size))
        for d in suite.datasets
        for m in suite.methods
    )
    assert steps <= 600_000


def test_full_suite_has_every_method_and_dataset_more_seeds_and_wider_grids():
    full, default = builtin("full"), builtin("default")
    assert [m.name for m in full.methods] == ELEVEN
    assert {d.name for d in full.datasets} == set(BUILTIN_DATASETS)
    assert len(full.seeds) >= 10 and full.epochs >= default.epochs
    grids = {m.name: set(m.lrs) for m in full.methods}
    for method in default.methods:
        assert len(grids[method.name]) >= 7
        assert grids[method.name] > set(method.lrs)  # a strict superset: wider on both sides


def test_builtin_suites_use_the_builtin_methods_batching():
    for name in builtin_suite_names():
        batch = {m.name: m.batch_size for m in builtin(name).methods}
        assert batch["gd"] is None and batch["sgd"] == 1 and batch["adam"] == 32


def test_builtin_suites_follow_the_same_protocol():
    quick, default, full = (builtin(name) for name in ("quick", "default", "full"))
    for suite in (quick, default, full):
        assert not set(suite.tuning_seeds) & set(suite.seeds)
        assert min(suite.tuning_seeds) >= 100_000  # apart from any evaluation seed
        assert 1 <= suite.extend_grid <= MAX_EXTEND_GRID and 0 < suite.margin < 1
        assert len(suite.seeds) >= 3 and len(suite.tuning_seeds) >= 2
    assert len(full.seeds) >= len(default.seeds) > len(quick.seeds)
    assert len(full.tuning_seeds) >= len(default.tuning_seeds) >= len(quick.tuning_seeds)
    assert full.extend_grid >= default.extend_grid >= quick.extend_grid
    assert full.margin == default.margin == quick.margin


def test_omitted_protocol_keys_take_their_defaults(tmp_path):
    suite = load_suite(write_suite(tmp_path, HEAD))
    assert suite.seeds == (0, 1)
    assert suite.tuning_seeds == (100_000, 100_001, 100_002)
    assert (suite.extend_grid, suite.margin) == (3, 0.05)
    assert [m.search for m in suite.methods] == [{}]


def test_protocol_keys_are_read(tmp_path):
    text = HEAD + "tuning_seeds = 5\nextend_grid = 0\nmargin = 0.1\n"
    suite = load_suite(write_suite(tmp_path, text))
    assert suite.tuning_seeds == tuple(range(100_000, 100_005))
    assert (suite.extend_grid, suite.margin) == (0, 0.1)
    text = HEAD.replace("seeds = 2", "seeds = [0, 4]") + "tuning_seeds = [1, 2]\nextend_grid = 20\n"
    suite = load_suite(write_suite(tmp_path, text))
    assert (suite.seeds, suite.tuning_seeds, suite.extend_grid) == ((0, 4), (1, 2), 20)


def test_chains_cover_every_method_and_dataset_once_the_longest_first():
    suite = builtin("quick")
    every = chains(suite)
    assert sorted((c.dataset.name, c.method.name) for c in every) == sorted(
        (d.name, m.name) for d in suite.datasets for m in suite.methods
    )
    costs = [c.cost for c in every]
    assert costs == sorted(costs, reverse=True)
    assert every[0].method.name == "sgd"  # batch 1: the most steps


def test_a_chain_tunes_the_whole_grid_on_the_tuning_seeds_then_evaluates_on_the_seeds():
    suite = builtin("quick")
    adam = next(c for c in chains(suite) if (c.method.name, c.dataset.name) == ("adam", "moons"))
    tune = adam.start()
    lo, hi = adam.method.lrs
    t0, t1 = suite.tuning_seeds
    assert tune.phase == "tune"
    assert tune.trials == ((lo, (), t0), (lo, (), t1), (hi, (), t0), (hi, (), t1))
    assert (tune.suite, tune.epochs, tune.hidden) == ("quick", suite.epochs, suite.hidden)
    adam.tuned = (hi, ())
    evaluation = adam.evaluation()
    assert evaluation.phase == "eval"
    assert evaluation.trials == tuple((hi, (), seed) for seed in suite.seeds)
    assert not {s for _, _, s in tune.trials} & {s for _, _, s in evaluation.trials}


def test_a_chain_tunes_every_search_combination_in_one_population(tmp_path):
    text = HEAD.replace('["adam"]', '["momentum"]') + (
        "tuning_seeds = 2\n[method.momentum]\nlr = [0.01, 0.1]\n"
        "[method.momentum.search]\nmomentum = [0.5, 0.9]\ndampening = [0.0, 0.1]\n"
    )
    suite = load_suite(write_suite(tmp_path, text))
    (chain,) = chains(suite)
    tune = chain.start()
    combinations = chain.method.combinations()
    assert len(combinations) == 4
    assert tune.trials == tuple(
        (lr, hyper, seed)
        for lr in (0.01, 0.1)
        for hyper in combinations
        for seed in (100_000, 100_001)
    )
    chain.tuned = (0.1, (("dampening", 0.1), ("momentum", 0.5)))
    assert {h for _, h, _ in chain.evaluation().trials} == {chain.tuned[1]}


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


# ------------------------------------------------------------------------------ search


def test_a_pair_under_args_is_one_value_not_a_search(tmp_path):
    text = HEAD + "[method.adam]\nargs = { betas = [0.8, 0.9] }\n"
    (adam,) = load_suite(write_suite(tmp_path, text)).methods
    assert (adam.args, adam.search, adam.combinations()) == ({"betas": (0.8, 0.9)}, {}, [()])
    assert adam.make_optimizer(0.01).betas == (0.8, 0.9)


def test_a_builtin_methods_args_yield_to_its_search(tmp_path):
    text = HEAD.replace('["adam"]', '["momentum", "nesterov"]') + (
        "[method.momentum.search]\nmomentum = [0.5, 0.9]\n"
        "[method.nesterov.search]\nmomentum = [0.8, 0.95]\n"
    )
    momentum, nesterov = load_suite(write_suite(tmp_path, text)).methods
    assert BUILTIN_METHODS["momentum"]["args"] == {"momentum": 0.9}  # the built-in is unchanged
    assert (momentum.args, momentum.search) == ({}, {"momentum": (0.5, 0.9)})
    assert momentum.lrs == BUILTIN_METHODS["momentum"]["lr"]
    # nesterov keeps its flag; its fixed momentum yields (alone, nesterov needs momentum > 0)
    assert (nesterov.args, nesterov.search) == ({"nesterov": True}, {"momentum": (0.8, 0.95)})


def test_search_reads_floats_and_pairs_and_ints_as_candidates(tmp_path):
    text = (
        HEAD
        + "[method.adam.search]\nbetas = [[0.9, 0.999], [0.8, 0.99]]\nweight_decay = [0, 1e-4]\n"
    )
    (adam,) = load_suite(write_suite(tmp_path, text)).methods
    assert adam.search == {"betas": ((0.9, 0.999), (0.8, 0.99)), "weight_decay": (0, 1e-4)}
    assert adam.args == {}


def test_combinations_are_the_full_product_sorted_by_name():
    method = MethodSpec(
        "m", "SGD", 32, (0.1,), {}, {"momentum": (0.5, 0.9), "dampening": (0.0, 0.1, 0.2)}
    )
    assert method.combinations() == [
        (("dampening", d), ("momentum", m)) for d in (0.0, 0.1, 0.2) for m in (0.5, 0.9)
    ]
    assert MethodSpec("m", "SGD", 32, (0.1,)).combinations() == [()]


def test_population_optimizer_gives_replica_k_its_lr_and_searched_values():
    sgd = MethodSpec("m", "SGD", 32, (0.1, 0.3), {"nesterov": True}, {"momentum": (0.5, 0.9)})
    trials = [
        (0.1, (("momentum", 0.5),), 0),
        (0.3, (("momentum", 0.9),), 0),
        (0.3, (("momentum", 0.5),), 1),
    ]
    optimizer = sgd.population_optimizer(trials)
    assert isinstance(optimizer, SGD) and optimizer.nesterov is True
    assert np.array_equal(optimizer.lr, [0.1, 0.3, 0.3])
    assert np.array_equal(optimizer.momentum, [0.5, 0.9, 0.5])
    adam = MethodSpec(
        "a", "Adam", 32, (0.01,), {}, {"betas": ((0.9, 0.999), (0.8, 0.99)), "eps": (1e-8, 1e-6)}
    )
    trials = [
        (0.01, (("betas", b), ("eps", e)), 7)
        for b, e in [((0.9, 0.999), 1e-6), ((0.8, 0.99), 1e-8)]
    ]
    optimizer = adam.population_optimizer(trials)
    assert isinstance(optimizer, Adam)
    beta1, beta2 = optimizer.betas
    assert np.array_equal(beta1, [0.9, 0.8]) and np.array_equal(beta2, [0.999, 0.99])
    assert np.array_equal(optimizer.eps, [1e-6, 1e-8])
    assert np.array_equal(optimizer.lr, [0.01, 0.01])
    params = backprop.MLP([2, 3, 1]).init(seed=[0, 1])
    optimizer.init(params)  # K = 2 per-replica values fit a population of 2


STRICT_OPTIMIZER = """
class Strict:
    # a user's optimizer that takes one momentum for all replicas, not K of them
    def __init__(self, lr=0.1, momentum=0.9, where="init"):
        self.lr, self.momentum, self.where = lr, momentum, where
        if where == "__init__":
            float(momentum)

    def init(self, params):
        if self.where == "init":
            self.momentum = float(self.momentum)
        return {}

    def step(self, params, grads, state):
        pass
"""


@pytest.mark.parametrize("where", ["__init__", "init"])
def test_a_users_optimizer_that_rejects_per_replica_values_exits_2(tmp_path, monkeypatch, where):
    write_module(tmp_path, monkeypatch, "b1_suite_strict", STRICT_OPTIMIZER)
    text = HEAD.replace('["adam"]', '["strict"]') + (
        '[method.strict]\noptimizer = "b1_suite_strict:Strict"\nlr = [0.1]\n'
        f'args = {{ where = "{where}" }}\n[method.strict.search]\nmomentum = [0.9]\n'
    )
    # one lr and one candidate: still K = 2 replicas, so an array cannot pass for a scalar
    error = assert_exits_2_before_writing(
        tmp_path,
        write_suite(tmp_path, text, name="bad.toml"),
        "method.strict.search",
        "b1_suite_strict:Strict rejects per-replica values of ['momentum']",
    )
    assert "arrays can be converted to Python scalars" in error.message  # numpy's TypeError


def test_a_users_optimizer_that_takes_per_replica_values_may_be_searched(tmp_path, monkeypatch):
    write_module(tmp_path, monkeypatch, "b1_suite_search", USER_OPTIMIZER)
    text = HEAD.replace('["adam"]', '["sign"]') + (
        '[method.sign]\noptimizer = "b1_suite_search:SignDescent"\nlr = [0.1, 0.5]\n'
        "[method.sign.search]\nshrink = [0.5, 0.9, 1.0]\n"
    )
    (method,) = load_suite(write_suite(tmp_path, text)).methods
    assert method.search == {"shrink": (0.5, 0.9, 1.0)} and len(method.combinations()) == 3
    optimizer = method.population_optimizer([(0.1, (("shrink", 0.5),), 0)])
    assert np.array_equal(optimizer.shrink, [0.5])


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
    "seed too large": (
        HEAD.replace("seeds = 2", "seeds = [1, 9223372036854775808]"),
        "suite.seeds",
        "ints from 0 to 2**63 - 1, got [1, 9223372036854775808]",
    ),
    "seed twice": (HEAD.replace("seeds = 2", "seeds = [3, 3]"), "suite.seeds", "twice: [3, 3]"),
}
MOMENTUM = HEAD.replace('["adam"]', '["momentum"]')
# The "bad suites exit 2 before writing": (text, key, pieces of the message)
PROTOCOL_BAD_SUITES = {
    "a list under args for a scalar argument": (
        MOMENTUM + "[method.momentum]\nargs = { momentum = [0.5, 0.9] }",
        "method.momentum.args.momentum",
        "takes one value, got a list [0.5, 0.9]",
        "list them in [method.momentum.search]",
    ),
    "a list of pairs under args": (
        HEAD + "[method.adam]\nargs = { betas = [[0.8, 0.9], [0.7, 0.9]] }",
        "method.adam.args.betas",
        "like [0.9, 0.999], got a list of lists [[0.8, 0.9], [0.7, 0.9]]",
        "list them in [method.adam.search]",
    ),
    "unknown search key": (
        HEAD + "[method.adam.search]\nbeta = [0.9]",
        "method.adam.search.beta",
        "unknown argument 'beta' (did you mean 'betas'?)",
        "allowed (float arguments): ['betas', 'eps', 'weight_decay']",
    ),
    "misspelt search key": (
        MOMENTUM + "[method.momentum.search]\nmomentun = [0.5]",
        "method.momentum.search.momentun",
        "unknown argument 'momentun' (did you mean 'momentum'?)",
    ),
    "non-float search key nesterov": (
        MOMENTUM + "[method.momentum.search]\nnesterov = [true, false]",
        "method.momentum.search.nesterov",
        "float arguments only",
        "'nesterov' has default False",
        "allowed: ['momentum', 'dampening', 'weight_decay']",
    ),
    "non-float search key amsgrad": (
        HEAD + "[method.adam.search]\namsgrad = [true]",
        "method.adam.search.amsgrad",
        "float arguments only",
        "'amsgrad' has default False",
    ),
    "search key also in the table's args": (
        MOMENTUM + "[method.momentum]\nargs = { momentum = 0.5 }\n"
        "[method.momentum.search]\nmomentum = [0.5, 0.9]",
        "method.momentum.search.momentum",
        "'momentum' is also fixed in method.momentum.args",
    ),
    "lr under search": (
        HEAD + "[method.adam.search]\nlr = [0.01, 0.1]",
        "method.adam.search.lr",
        "the lr grid is method.adam.lr",
    ),
    "empty candidates": (
        HEAD + "[method.adam.search]\neps = []",
        "method.adam.search.eps",
        "must be a non-empty list of numbers, got []",
    ),
    "word candidates": (
        HEAD + '[method.adam.search]\neps = ["small"]',
        "method.adam.search.eps",
        "non-empty list of numbers, got ['small']",
    ),
    "bool candidates": (
        HEAD + "[method.adam.search]\neps = [true]",
        "method.adam.search.eps",
        "got [True]",
    ),
    "nan candidate": (
        HEAD + "[method.adam.search]\neps = [1e-8, nan]",
        "method.adam.search.eps",
        "got [1e-08, nan]",
    ),
    "one candidate, not a list": (
        HEAD + "[method.adam.search]\neps = 1e-8",
        "method.adam.search.eps",
        "non-empty list of numbers, got 1e-08",
    ),
    "duplicate candidates": (
        MOMENTUM + "[method.momentum.search]\nmomentum = [0.9, 0.5, 0.9]",
        "method.momentum.search.momentum",
        "lists a candidate twice: [0.9, 0.5, 0.9]",
    ),
    "betas candidates that are not pairs": (
        HEAD + "[method.adam.search]\nbetas = [0.8, 0.9]",
        "method.adam.search.betas",
        "non-empty list of pairs of numbers like [0.9, 0.999], got [0.8, 0.9]",
    ),
    "a betas candidate of three": (
        HEAD + "[method.adam.search]\nbetas = [[0.9, 0.999], [0.8, 0.9, 0.99]]",
        "method.adam.search.betas",
        "got [[0.9, 0.999], [0.8, 0.9, 0.99]]",
    ),
    "duplicate betas candidates": (
        HEAD + "[method.adam.search]\nbetas = [[0.9, 0.999], [0.9, 0.999]]",
        "method.adam.search.betas",
        "lists a candidate twice",
    ),
    "a candidate the optimizer rejects": (
        MOMENTUM + "[method.momentum.search]\nmomentum = [0.9, -0.5]",
        "method.momentum.search",
        "SGD rejects the search values {'momentum': -0.5}",
        "momentum must be >= 0, got -0.5",
    ),
    "a betas candidate the optimizer rejects": (
        HEAD + "[method.adam.search]\nbetas = [[0.9, 0.999], [0.9, 1.5]]",
        "method.adam.search",
        "{'betas': (0.9, 1.5)}",
        "betas[1] must be in [0, 1), got 1.5",
    ),
    "args the optimizer rejects beside a search": (
        MOMENTUM + "[method.momentum]\nargs = { dampening = -1.0, weight_decay = -2.0 }\n"
        "[method.momentum.search]\nmomentum = [0.5]",
        "method.momentum.args",
        "SGD rejects args",
        "-2.0",
    ),
    "search not a table": (
        HEAD + "[method.adam]\nsearch = [0.1]",
        "method.adam.search",
        "must be a table, got [0.1]",
    ),
    "too many combinations": (
        HEAD + "[method.adam.search]\n"
        f"eps = {[10.0**-k for k in range(1, 41)]}\nweight_decay = {[k / 100 for k in range(30)]}",
        "method.adam.search",
        f"40 x 30 = 1,200 combinations of candidates; at most {MAX_COMBINATIONS:,}",
    ),
    "tuning seeds listing an evaluation seed": (
        HEAD + "tuning_seeds = [5, 1]",
        "suite.tuning_seeds",
        "seeds [1] are also evaluation seeds (suite.seeds)",
        "must be disjoint",
    ),
    "evaluation seeds listing a default tuning seed": (
        HEAD.replace("seeds = 2", "seeds = [0, 100000]") + "tuning_seeds = 3",
        "suite.tuning_seeds",
        "seeds [100000] are also evaluation seeds",
    ),
    "tuning seeds zero": (HEAD + "tuning_seeds = 0", "suite.tuning_seeds", "got 0"),
    "tuning seeds empty": (HEAD + "tuning_seeds = []", "suite.tuning_seeds", "got []"),
    "tuning seeds word": (HEAD + 'tuning_seeds = "three"', "suite.tuning_seeds", "got 'three'"),
    "tuning seeds too many": (
        HEAD + "tuning_seeds = 20000",
        "suite.tuning_seeds",
        "at most 10000, got 20000",
    ),
    **{
        f"margin {value}": (
            HEAD + f"margin = {value}",
            "suite.margin",
            "must be a number in (0, 1)",
            f"got {shown}",
        )
        for value, shown in (
            ("0", "0"),
            ("1", "1"),
            ("-0.1", "-0.1"),
            ("1.5", "1.5"),
            ('"x"', "'x'"),
            ("true", "True"),
            ("nan", "nan"),
            ("[0.05]", "[0.05]"),
        )
    },
    "extend_grid negative": (
        HEAD + "extend_grid = -1",
        "suite.extend_grid",
        "must be an int >= 0, got -1",
    ),
    "extend_grid float": (HEAD + "extend_grid = 2.5", "suite.extend_grid", "int >= 0, got 2.5"),
    "extend_grid bool": (HEAD + "extend_grid = true", "suite.extend_grid", "got True"),
    "extend_grid too large": (
        HEAD + "extend_grid = 21",
        "suite.extend_grid",
        "must be at most 20, got 21",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SUITES))
def test_a_bad_suite_file_names_the_file_the_key_and_the_value(tmp_path, case):
    text, key, message = BAD_SUITES[case]
    path = write_suite(tmp_path, text, name="bad.toml")
    assert_exits_2_before_writing(tmp_path, path, key, message)


@pytest.mark.parametrize("case", sorted(PROTOCOL_BAD_SUITES))
def test_a_bad_protocol_key_or_search_exits_2_before_writing(tmp_path, case):
    text, key, *pieces = PROTOCOL_BAD_SUITES[case]
    path = write_suite(tmp_path, text, name="bad.toml")
    assert_exits_2_before_writing(tmp_path, path, key, *pieces)


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


def quick_populations() -> list:
    """The first tuning population of every chain of the quick suite."""
    return [chain.start() for chain in chains(load_suite("quick"))]


def test_population_keys_are_stable_and_distinct():
    first = [p.key() for p in quick_populations()]
    again = [p.key() for p in quick_populations()]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(re.fullmatch("[0-9a-f]{64}", key) for key in first)


def adam_population(tmp_path, phase: str = "tune", trials=None):
    """A population of adam on moons searching eps, with the given phase and trials."""
    text = HEAD + "[method.adam]\nlr = [0.01, 0.03]\n[method.adam.search]\neps = [1e-8, 1e-6]\n"
    suite = load_suite(write_suite(tmp_path, text))
    (method,), (dataset,) = suite.methods, suite.datasets
    if trials is None:
        trials = [(0.01, (("eps", 1e-8),), 100_000), (0.01, (("eps", 1e-6),), 100_000)]
    return suite.population(method, dataset, phase, trials)


def test_a_population_key_changes_with_every_field_that_changes_results(tmp_path, monkeypatch):
    population = adam_population(tmp_path)
    method, dataset, trials = population.method, population.dataset, population.trials
    changed = (
        [
            dataclasses.replace(population, method=dataclasses.replace(method, **change))
            for change in (
                {"optimizer": "AdamW"},
                {"batch_size": 16},
                {"lrs": (0.5,)},
                {"args": {"amsgrad": True}},
                {"search": {"eps": (1e-8, 1e-7)}},
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
                {"phase": "eval"},
                {"trials": trials[:-1]},
                {"trials": trials[::-1]},  # the order of the replicas is the order of results
                {"trials": ((0.03, *trials[0][1:]), *trials[1:])},  # an lr
                {"trials": ((0.01, (("eps", 1e-7),), 100_000), *trials[1:])},  # a searched value
                {"trials": ((0.01, trials[0][1], 100_001), *trials[1:])},  # a seed
                {"engine": "compiled" if population.engine == "numpy" else "numpy"},
                {"timing_engine": "numpy"},
            )
        ]
    )
    keys = {p.key() for p in changed}
    assert len(keys) == len(changed) and population.key() not in keys
    assert dataclasses.replace(population, suite="renamed").key() == population.key()
    before = population.key()
    for module, name, value in (
        (backprop, "__version__", "99.0"),
        (bench.suite, "SCHEMA_VERSION", 99),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(module, name, value)
            assert population.key() != before, name
    assert population.key() == before


def test_config_is_the_key_less_the_seeds(tmp_path):
    hyper = (("eps", 1e-8),)
    seeds_0_to_3 = adam_population(tmp_path, "eval", [(0.01, hyper, s) for s in range(4)])
    seeds_4_5 = dataclasses.replace(seeds_0_to_3, trials=((0.01, hyper, 4), (0.01, hyper, 5)))
    assert seeds_0_to_3.config() == seeds_4_5.config()
    assert seeds_0_to_3.key() != seeds_4_5.key()
    assert re.fullmatch("[0-9a-f]{64}", seeds_0_to_3.config())
    other_lr = dataclasses.replace(seeds_4_5, trials=((0.03, hyper, 4), (0.03, hyper, 5)))
    other_eps = dataclasses.replace(
        seeds_4_5, trials=((0.01, (("eps", 1e-6),), 4), (0.01, (("eps", 1e-6),), 5))
    )
    tuning = dataclasses.replace(seeds_4_5, phase="tune")
    configs = {p.config() for p in (seeds_4_5, other_lr, other_eps, tuning)}
    assert len(configs) == 4
    assert seeds_0_to_3.config() != seeds_0_to_3.key()


def test_spec_round_trips_through_json_to_the_same_specs(tmp_path):
    text = HEAD + "[method.adam.search]\nbetas = [[0.9, 0.999], [0.8, 0.99]]\neps = [1e-8, 1e-6]\n"
    suite = load_suite(write_suite(tmp_path, text))
    populations = [chain.start() for chain in chains(suite)] + quick_populations()
    for population in populations:
        spec = population.spec()
        assert json.loads(json.dumps(spec)) == spec
        assert MethodSpec.from_dict(spec["method"]) == population.method
        assert DatasetSpec.from_dict(spec["dataset"]) == population.dataset
        assert frozen(spec["trials"]) == population.trials
        assert spec["model"] == {"hidden": list(population.hidden), "activation": "relu"}
        assert (spec["phase"], spec["engine"]) == ("tune", population.engine)
    first, second = populations[0].trials[:2]
    assert first == (0.001, (("betas", (0.9, 0.999)), ("eps", 1e-8)), 100_000)
    assert second == (0.001, (("betas", (0.9, 0.999)), ("eps", 1e-8)), 100_001)


def test_describe_records_the_protocol_its_rules_and_seeds():
    suite = builtin("quick")
    protocol = describe(suite)
    assert json.loads(json.dumps(protocol)) == protocol
    assert protocol["tuning"] == TUNING_RULE
    assert "tuning seeds" in protocol["tuning"] and "diverged is never chosen" in TUNING_RULE
    assert "extend_grid" in protocol["extension"]
    assert "evaluation seeds" in protocol["evaluation"]
    assert protocol["epochs"] == suite.epochs == 5
    assert protocol["seeds"] == list(suite.seeds) == [0, 1, 2]
    assert protocol["tuning_seeds"] == [100_000, 100_001]
    assert (protocol["extend_grid"], protocol["margin"]) == (1, 0.05)
    assert "paired by seed" in protocol["seed_role"]
    assert protocol["split"] == SPLIT_RULE and protocol["targets"] == TARGET_RULE
    assert "relative_target" not in protocol
    assert describe(builtin("default"))["tuning_seeds"] == [100_000, 100_001, 100_002]


def test_each_population_s_engine_is_resolved_once_from_the_suite_s(tmp_path, monkeypatch):
    suite = load_suite("quick")
    sgd = next(m for m in suite.methods if m.name == "sgd")
    gd = next(m for m in suite.methods if m.name == "gd")
    moons = suite.datasets[0]
    trials = [(0.01, (), s) for s in range(3)]
    monkeypatch.setattr(bench.suite.compiled, "available", lambda: True)
    monkeypatch.setattr(bench.suite.compiled, "COMPILED_UP_TO", 2048)  # multiply-adds a step
    # auto: the compiled engine for batches of 1 sample, NumPy for full batches beyond 2048
    assert suite.population(sgd, moons, "tune", trials).engine == "compiled"
    full = suite.population(gd, moons, "eval", trials)
    assert (full.engine, full.timing_engine) == ("numpy", "numpy")
    forced = dataclasses.replace(suite, engine="numpy").population(sgd, moons, "eval", trials)
    assert (forced.engine, forced.timing_engine) == ("numpy", "numpy")
    monkeypatch.setattr(bench.suite.compiled, "available", lambda: False)
    assert suite.population(sgd, moons, "tune", trials).engine == "numpy"
    with pytest.raises(SuiteError, match="engine: gd on moons: engine='compiled' needs numba"):
        bench.suite.check_engine(dataclasses.replace(suite, engine="compiled"))
