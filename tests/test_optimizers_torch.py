"""backprop.optimizers against torch.optim live (float64): every setting of
scripts/make_reference_trajectories.py on new random gradients, per-replica hyperparameters
against K separate torch optimizers, and the defaults against torch's signatures. Skips
without torch, except under CI=true."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module
from test_optimizers import PER_REPLICA_SETTINGS, per_replica_kwargs, random_problem, run

from backprop import optimizers

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_reference_trajectories.py"
_spec = importlib.util.spec_from_file_location("make_reference_trajectories", SCRIPT)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

RTOL = 1e-10
NAMES = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam"]


@pytest.fixture(scope="module")
def torch():
    return require_module("torch")


@pytest.mark.parametrize("setting", sorted(reference.SETTINGS))
def test_matches_torch_live_over_50_steps(torch, setting):
    name, kwargs = reference.SETTINGS[setting]
    params, grads = random_problem(seed=7, K=1, steps=50, shapes=((4, 3), (1, 3)))
    expected = reference.torch_trajectory(
        torch, name, kwargs, [p[0] for p in params], [g[:, 0] for g in grads]
    )
    paths = run(getattr(optimizers, name)(**kwargs), params, grads)
    for path, want in zip(paths, expected, strict=True):
        np.testing.assert_allclose(path[:, 0], want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("case", sorted(PER_REPLICA_SETTINGS))
def test_per_replica_hyperparameters_match_k_torch_optimizers(torch, case):
    name, flags, replicas = PER_REPLICA_SETTINGS[case]
    params, grads = random_problem(seed=8, K=len(replicas), steps=50)
    initial = [p.copy() for p in params]
    paths = run(getattr(optimizers, name)(**per_replica_kwargs(flags, replicas)), params, grads)
    for k, setting in enumerate(replicas):
        expected = reference.torch_trajectory(
            torch, name, flags | setting, [p[k] for p in initial], [g[:, k] for g in grads]
        )
        for path, want in zip(paths, expected, strict=True):
            np.testing.assert_allclose(path[:, k], want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch_signature(torch, name):
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    ours = inspect.signature(getattr(optimizers, name)).parameters
    for argument, parameter in ours.items():
        assert theirs[argument].default == parameter.default, argument
    positional = [a for a, p in theirs.items() if p.kind == p.POSITIONAL_OR_KEYWORD][1:]
    assert positional[: len(ours)] == [
        a for a, p in ours.items() if p.kind == p.POSITIONAL_OR_KEYWORD
    ]
