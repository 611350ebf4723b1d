"""backprop.optimizers against torch.optim live (float64): every setting of
scripts/make_reference_trajectories.py on new random gradients, per-replica hyperparameters
against K separate torch optimizers, the state's buffers against torch's (names and values),
and the defaults against torch's signatures. Skips without torch, except under CI=true."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
from helpers import PER_REPLICA_SETTINGS, per_replica_kwargs, random_problem, require_module, run

from backprop import optimizers

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_reference_trajectories.py"
_spec = importlib.util.spec_from_file_location("make_reference_trajectories", SCRIPT)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

RTOL = 1e-10
NAMES = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam"]


# importing torch takes about 3 s, its first use as long again
pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize("setting", sorted(reference.SETTINGS))
def test_state_holds_torchs_buffers_with_torchs_values_after_20_steps(torch, setting):
    name, kwargs = reference.SETTINGS[setting]
    params, grads = random_problem(seed=12, K=1, steps=20, shapes=((4, 3), (1, 3)))
    ours = getattr(optimizers, name)(**kwargs)
    state = ours.init(params)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # NAdam's mu_product and "step" in float64
    try:
        tensors = [torch.tensor(p[0]) for p in params]
        theirs = getattr(torch.optim, name)(tensors, foreach=False, **kwargs)
        for t in range(20):
            ours.step(params, [g[t] for g in grads], state)
            for x, g in zip(tensors, grads, strict=True):
                x.grad = torch.tensor(g[t, 0])
            theirs.step()
    finally:
        torch.set_default_dtype(default_dtype)
    # torch keeps "step" and mu_product per parameter, and SGD counts no steps
    their_states = [theirs.state[x] for x in tensors]
    assert set(state) - {"step"} == set(their_states[0]) - {"step"}
    for i, their_state in enumerate(their_states):
        for key, value in their_state.items():
            mine = state[key] if key in ("step", "mu_product") else state[key][i][0]
            np.testing.assert_allclose(mine, value.numpy(), rtol=RTOL, atol=0, err_msg=key)
