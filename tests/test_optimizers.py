"""backprop.optimizers against torch.optim's stored trajectories, hand-computed steps, the
population axis (per-replica hyperparameters, the flat buffer), the state and the protocol a
subclass follows, and the argument checks.

No torch here: tests/data/optimizer_reference.npz holds torch 2.13's trajectories, written by
scripts/make_reference_trajectories.py; tests/test_optimizers_torch.py compares live.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
from helpers import PER_REPLICA_SETTINGS, per_replica_kwargs, random_problem, run

from backprop import optimizers
from backprop.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop

REFERENCE = np.load(Path(__file__).parent / "data" / "optimizer_reference.npz")
REFERENCE_SETTINGS = json.loads(str(REFERENCE["settings"]))
RTOL = 1e-10


def run_replicas_apart(name: str, flags: dict, replicas: list[dict], params, grads):
    """Replica k stepped alone, with its own scalar hyperparameters: (steps, K, *shape)."""
    paths = []
    for k, setting in enumerate(replicas):
        optimizer = getattr(optimizers, name)(**flags, **setting)
        own = [p[k : k + 1].copy() for p in params]
        paths.append(run(optimizer, own, [g[:, k : k + 1] for g in grads]))
    return [np.concatenate(per_param, axis=1) for per_param in zip(*paths, strict=True)]


# ------------------------------------------------------------------- torch's trajectories


@pytest.mark.parametrize("setting", sorted(REFERENCE_SETTINGS))
def test_matches_stored_torch_trajectory_at_every_step(setting):
    name, kwargs = REFERENCE_SETTINGS[setting]
    params = [REFERENCE[f"params/{i}"][None].copy() for i in range(2)]
    grads = [REFERENCE[f"grads/{i}"][:, None] for i in range(2)]
    assert len(grads[0]) >= 50
    paths = run(getattr(optimizers, name)(**kwargs), params, grads)
    for i, path in enumerate(paths):
        np.testing.assert_allclose(path[:, 0], REFERENCE[f"{setting}/{i}"], rtol=RTOL, atol=0)


def test_reference_covers_every_optimizer():
    covered = {name for name, _ in REFERENCE_SETTINGS.values()}
    assert covered == {"SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam"}


# ------------------------------------------------------------------- steps by hand
# p = [1, -2], g = [0.5, 0.25] on the first step.


def one_parameter(values) -> list[np.ndarray]:
    return [np.array([[values]], dtype=np.float64)]  # K = 1, shape (1, 1, 2)


def steps_by_hand(optimizer, grads: list[list[float]]) -> list[np.ndarray]:
    params = one_parameter([1.0, -2.0])
    state = optimizer.init(params)
    after = []
    for g in grads:
        optimizer.step(params, one_parameter(g), state)
        after.append(params[0][0, 0].copy())
    return after


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        (SGD(lr=0.1), [0.95, -2.025]),  # p - 0.1 g
        (SGD(lr=0.1, weight_decay=0.1), [0.94, -2.005]),  # d = g + 0.1 p = [0.6, 0.05]
        (SGD(lr=0.1, momentum=0.9, dampening=0.5), [0.95, -2.025]),  # b = g, undamped
        (SGD(lr=0.1, momentum=0.9, nesterov=True), [0.905, -2.0475]),  # d = g + 0.9 g
        (Adam(lr=0.1, eps=0.0), [0.9, -2.1]),  # m_hat = g, v_hat = g^2: p - 0.1 sign(g)
        # eps after the bias-corrected sqrt: 0.1 * 0.5 / (0.5 + 1e-8), not / (0.5 + 1e-8/sqrt(1e-3))
        (Adam(lr=0.1), [0.900000001999999960, -2.099999996000000160]),
        (AdamW(lr=0.1, weight_decay=0.1, eps=0.0), [0.89, -2.08]),  # p * 0.99, then Adam
    ],
)
def test_first_step_by_hand(optimizer, expected):
    np.testing.assert_allclose(steps_by_hand(optimizer, [[0.5, 0.25]])[0], expected, rtol=1e-14)


def test_sgd_momentum_second_step_by_hand():
    # b = 0.9 [0.5, 0.25] + [1, -1] = [1.45, -0.775]; p = [0.95, -2.025] - 0.1 b
    after = steps_by_hand(SGD(lr=0.1, momentum=0.9), [[0.5, 0.25], [1.0, -1.0]])
    np.testing.assert_allclose(after[1], [0.805, -1.9475], rtol=1e-14)


def test_adam_second_step_by_hand():
    # coordinate 0, g = 0.5 then -0.5: m = 0.045 - 0.05 = -0.005, m_hat = -0.005 / 0.19;
    # v = 0.999 * 0.00025 + 0.001 * 0.25 = 0.00049975, v_hat = 0.00049975 / 0.001999 = 0.25,
    # p = 0.9 - 0.1 * m_hat / 0.5. Coordinate 1, g = 0.25 twice: m_hat = 0.25, v_hat = 0.0625.
    after = steps_by_hand(Adam(lr=0.1, eps=0.0), [[0.5, 0.25], [-0.5, 0.25]])
    np.testing.assert_allclose(after[1], [0.9 + 0.1 * 0.005 / 0.19 / 0.5, -2.2], rtol=1e-14)
    assert after[1][0] == pytest.approx(0.905263157894736842, rel=1e-14)


# ------------------------------------------------------------------- the population axis


@pytest.mark.parametrize("case", sorted(PER_REPLICA_SETTINGS))
def test_per_replica_hyperparameters_equal_separate_runs(case):
    name, flags, replicas = PER_REPLICA_SETTINGS[case]
    params, grads = random_problem(seed=1, K=len(replicas))
    apart = run_replicas_apart(name, flags, replicas, params, grads)
    together = run(getattr(optimizers, name)(**per_replica_kwargs(flags, replicas)), params, grads)
    for a, b in zip(together, apart, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)


@pytest.mark.parametrize("case", sorted(PER_REPLICA_SETTINGS))
def test_flat_buffer_equals_per_array_path(case):
    name, flags, replicas = PER_REPLICA_SETTINGS[case]
    K, steps = len(replicas), 20
    rng = np.random.default_rng(2)
    flat, flat_grads = rng.normal(size=(K, 8)), rng.normal(size=(steps, K, 8))

    def views(x):  # [W (K, 3, 2), b (K, 1, 2)] into a (K, 8) buffer
        return [x[..., :6].reshape(*x.shape[:-1], 3, 2), x[..., 6:].reshape(*x.shape[:-1], 1, 2)]

    def make():
        return getattr(optimizers, name)(**per_replica_kwargs(flags, replicas))

    per_array = flat.copy()
    run(make(), views(per_array), views(flat_grads))
    run(make(), [flat], [flat_grads])
    np.testing.assert_array_equal(flat, per_array)


def test_lr_set_between_steps_is_used():
    params, grads = [np.ones((2, 1, 1))], [np.ones((2, 1, 1))]
    opt = SGD(lr=0.1)
    state = opt.init(params)
    after = []
    for lr in (0.1, 0.5, np.array([0.1, 0.2]), [0.2, 0.1]):
        opt.lr = lr
        opt.step(params, grads, state)
        after.append(params[0].ravel().copy())
    np.testing.assert_allclose(after, [[0.9, 0.9], [0.4, 0.4], [0.3, 0.2], [0.1, 0.1]])


def test_adam_lr_zero_freezes_params_but_not_the_moments():
    params, grads = random_problem(seed=3, K=2, steps=3)
    frozen, moving = Adam(lr=0.05), Adam(lr=0.05)
    p_frozen, p_moving = [p.copy() for p in params], [p.copy() for p in params]
    s_frozen, s_moving = frozen.init(p_frozen), moving.init(p_moving)
    for t in range(3):
        frozen.step(p_frozen, [g[t] for g in grads], s_frozen)
        moving.step(p_moving, [g[t] for g in grads], s_moving)
        if t == 0:
            after_first = [p.copy() for p in p_frozen]
            frozen.lr = np.array([0.0, 0.0])
    for p, first, other in zip(p_frozen, after_first, p_moving, strict=True):
        np.testing.assert_array_equal(p, first)
        assert not np.allclose(other, first)
    for key in ("exp_avg", "exp_avg_sq"):
        for a, b in zip(s_frozen[key], s_moving[key], strict=True):
            np.testing.assert_array_equal(a, b)


def test_init_gives_independent_states():
    opt = RMSprop(lr=0.1, momentum=0.9, centered=True)
    params, grads = random_problem(seed=4, K=2, steps=1)
    first, second = opt.init(params), opt.init(params)
    opt.step(params, [g[0] for g in grads], first)
    assert (first["step"], second["step"]) == (1, 0)
    for key in ("square_avg", "grad_avg", "momentum_buffer"):
        assert all(np.any(a != 0) for a in first[key])
        assert all(np.all(b == 0) for b in second[key])


def test_states_stepped_in_turn_equal_states_stepped_alone():
    opt = Adadelta(lr=np.array([0.5, 2.0]), weight_decay=0.1)
    (a, b), grads = random_problem(seed=6, K=2, steps=5, shapes=((3, 2), (3, 2)))
    alone = [run(opt, [x.copy()], [g]) for x, g in zip((a, b), grads, strict=True)]
    state_a, state_b = opt.init([a]), opt.init([b])
    for t in range(5):
        opt.step([a], [grads[0][t]], state_a)
        opt.step([b], [grads[1][t]], state_b)
    np.testing.assert_array_equal(a, alone[0][0][-1])
    np.testing.assert_array_equal(b, alone[1][0][-1])


# ------------------------------------------------------------------- the state
# torch's per-parameter state names; "step" (and NAdam's "mu_product") once per state


@pytest.mark.parametrize(
    "optimizer, buffers",
    [
        (SGD(lr=0.1), set()),
        (SGD(lr=0.1, momentum=0.9), {"momentum_buffer"}),
        (SGD(lr=0.1, momentum=np.array([0.0, 0.9])), {"momentum_buffer"}),
        (Adagrad(), {"sum"}),
        (Adadelta(), {"square_avg", "acc_delta"}),
        (RMSprop(), {"square_avg"}),
        (RMSprop(momentum=0.9, centered=True), {"square_avg", "grad_avg", "momentum_buffer"}),
        (Adam(), {"exp_avg", "exp_avg_sq"}),
        (Adam(amsgrad=True), {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
        (AdamW(amsgrad=True), {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
        (NAdam(), {"exp_avg", "exp_avg_sq", "mu_product"}),
    ],
)
def test_state_holds_the_algorithms_buffers_only(optimizer, buffers):
    params, grads = random_problem(seed=9, K=2, steps=3)
    state = optimizer.init(params)
    assert set(state) == {"step"} | buffers
    for t in range(3):
        optimizer.step(params, [g[t] for g in grads], state)
    assert set(state) == {"step"} | buffers and state["step"] == 3
    for name in buffers - {"mu_product"}:
        assert [b.shape for b in state[name]] == [p.shape for p in params]


def test_nadam_step_multiplies_mu_product_by_mu():
    opt = NAdam(betas=(np.array([0.9, 0.5]), 0.999), momentum_decay=0.1)
    params, grads = random_problem(seed=10, K=2, steps=2)
    state = opt.init(params)
    assert state["mu_product"] == 1.0
    for t in (1, 2):
        opt.step(params, [g[t - 1] for g in grads], state)
    beta1 = np.array([0.9, 0.5])
    mu = [beta1 * (1 - 0.5 * 0.96 ** (t * 0.1)) for t in (1, 2)]
    np.testing.assert_allclose(state["mu_product"], mu[0] * mu[1], rtol=1e-15)


def test_adagrad_sum_starts_at_each_replicas_initial_accumulator_value():
    state = Adagrad(initial_accumulator_value=np.array([0.5, 2.0])).init([np.zeros((2, 3, 1))])
    np.testing.assert_array_equal(state["sum"][0][:, :, 0], [[0.5] * 3, [2.0] * 3])


def test_step_on_a_plain_dict_says_the_state_must_come_from_init():
    params = [np.zeros((1, 2))]
    state = dict(Adam().init(params))
    with pytest.raises(TypeError, match="state must be the dict Adam.init returned"):
        Adam().step(params, [np.ones((1, 2))], state)
    assert state["step"] == 0


# ------------------------------------------------------------------- writing an optimizer


@dataclass(eq=False)
class Lion(optimizers.Optimizer):
    """Lion (Chen et al., 2023) in the protocol of the built-ins: hyperparameters as fields,
    the buffers it keeps, and the one method, with named coefficients:

    p = p * (1 - lr * weight_decay) - lr * sign(beta1 * m + (1 - beta1) * g)
    m = beta2 * m + (1 - beta2) * g
    """

    lr: float = 1e-4
    betas: tuple = (0.9, 0.99)
    weight_decay: float = 0.0

    def _buffers(self):
        return {"exp_avg": 0.0}

    def _update(self, params, grads, state, scratch):
        (beta1, beta2), lr = self.betas, self.lr
        step = {"decay": 1 - lr * self.weight_decay, "lr": lr, "beta1": beta1, "beta2": beta2}
        for p, g, m, (w,), c in zip(
            params,
            grads,
            state["exp_avg"],
            scratch[1],
            self._per_parameter(step, params),
            strict=True,
        ):
            np.sign(c["beta1"] * m + (1 - c["beta1"]) * g, out=w)
            p *= c["decay"]
            p -= c["lr"] * w
            m += (1 - c["beta2"]) * (g - m)


def test_a_subclass_writes_one_method_and_gets_checks_state_and_the_population_axis():
    with pytest.raises(ValueError, match=re.escape("betas[1] must be in [0, 1), got 1.5")):
        Lion(betas=(0.9, 1.5))
    replicas = [{"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.03, "weight_decay": 0.0}]
    params, grads = random_problem(seed=11, K=2, steps=4)
    apart = [run(Lion(**r), [p[k : k + 1].copy() for p in params], [g[:, k : k + 1] for g in grads])
             for k, r in enumerate(replicas)]  # fmt: skip
    lion = Lion(lr=np.array([0.01, 0.03]), weight_decay=np.array([0.1, 0.0]))
    initial = [p.copy() for p in params]
    together = run(lion, params, grads)
    for i, path in enumerate(together):
        np.testing.assert_array_equal(path, np.concatenate([a[i] for a in apart], axis=1))
    # the first step moves each entry by lr (a sign) after the decay
    first = initial[0] * np.array([1 - 0.001, 1.0])[:, None, None]
    first -= np.array([0.01, 0.03])[:, None, None] * np.sign(0.1 * grads[0][0])
    np.testing.assert_allclose(together[0][0], first, rtol=1e-15)
    with pytest.raises(ValueError, match="lr has 2 values but the population has K=3"):
        lion.init([np.zeros((3, 2))])


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "NAdam"])
def test_step_leaves_grads_untouched(name):
    params, grads = random_problem(seed=5, K=2, steps=2)
    before = [g.copy() for g in grads]
    run(getattr(optimizers, name)(lr=0.1, weight_decay=np.array([0.1, 0.2])), params, grads)
    for g, b in zip(grads, before, strict=True):
        np.testing.assert_array_equal(g, b)


def test_float32_params_stay_float32_with_per_replica_values():
    params = [np.ones((2, 3), dtype=np.float32)]
    opt = Adam(lr=np.array([0.1, 0.2]), betas=(np.array([0.9, 0.8]), 0.999))
    state = opt.init(params)
    opt.step(params, [np.ones((2, 3), dtype=np.float32)], state)
    assert params[0].dtype == np.float32
    np.testing.assert_allclose(params[0][:, 0], [0.9, 0.8], rtol=1e-6)


def test_builtins_are_elementwise_and_export_their_names():
    assert set(optimizers.__all__) >= {
        "SGD",
        "Adagrad",
        "Adadelta",
        "RMSprop",
        "Adam",
        "AdamW",
        "NAdam",
        "Optimizer",
    }
    for name in ("SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam"):
        assert getattr(optimizers, name).elementwise is True


# ------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(lr=-0.1), "lr must be >= 0, got -0.1"),
        (lambda: SGD(lr=float("nan")), "lr must be >= 0, got nan"),
        (lambda: SGD(lr=[0.1, -0.2]), "lr must be >= 0, got -0.2 for replica 1 in [0.1, -0.2]"),
        (
            lambda: SGD(lr=[[0.1, 0.2]]),
            "lr must be a scalar or a 1-D array of K values, got shape (1, 2)",
        ),
        (lambda: SGD(lr="fast"), "lr must be a number or a 1-D array of K numbers, got 'fast'"),
        (lambda: SGD(momentum=-0.5), "momentum must be >= 0, got -0.5"),
        (lambda: SGD(weight_decay=-1e-4), "weight_decay must be >= 0, got -0.0001"),
        (
            lambda: SGD(nesterov=True),
            "nesterov=True needs momentum > 0 and dampening == 0, got momentum=0, dampening=0",
        ),
        (
            lambda: SGD(momentum=0.9, dampening=0.1, nesterov=True),
            "got momentum=0.9, dampening=0.1",
        ),
        (lambda: SGD(momentum=[0.9, 0.0], nesterov=True), "got momentum=[0.9, 0.0]"),
        (lambda: SGD(nesterov="yes"), "nesterov must be True or False"),
        (lambda: Adagrad(lr_decay=-0.1), "lr_decay must be >= 0, got -0.1"),
        (
            lambda: Adagrad(initial_accumulator_value=-1.0),
            "initial_accumulator_value must be >= 0, got -1.0",
        ),
        (lambda: Adagrad(eps=-1e-10), "eps must be >= 0, got -1e-10"),
        (lambda: Adagrad(weight_decay=-1.0), "weight_decay must be >= 0, got -1.0"),
        (lambda: Adadelta(rho=1.5), "rho must be in [0, 1], got 1.5"),
        (lambda: Adadelta(rho=-0.1), "rho must be in [0, 1], got -0.1"),
        (lambda: Adadelta(lr=-1.0), "lr must be >= 0, got -1.0"),
        (lambda: RMSprop(alpha=1.01), "alpha must be in [0, 1], got 1.01"),
        (lambda: RMSprop(momentum=-0.9), "momentum must be >= 0, got -0.9"),
        (lambda: RMSprop(eps=-1.0), "eps must be >= 0, got -1.0"),
        (lambda: RMSprop(centered=1), "centered must be True or False"),
        (lambda: Adam(betas=(1.0, 0.999)), "betas[0] must be in [0, 1), got 1.0"),
        (lambda: Adam(betas=(0.9, -0.1)), "betas[1] must be in [0, 1), got -0.1"),
        (
            lambda: Adam(betas=(0.9, [0.99, 1.0])),
            "betas[1] must be in [0, 1), got 1.0 for replica 1",
        ),
        (lambda: Adam(betas=0.9), "betas must be a pair (beta1, beta2), got 0.9"),
        (lambda: Adam(eps=-1e-8), "eps must be >= 0, got -1e-08"),
        (lambda: Adam(weight_decay=-0.1), "weight_decay must be >= 0, got -0.1"),
        (lambda: Adam(amsgrad="no"), "amsgrad must be True or False"),
        (lambda: AdamW(weight_decay=-0.01), "weight_decay must be >= 0, got -0.01"),
        (lambda: AdamW(betas=(0.9, 1.0)), "betas[1] must be in [0, 1), got 1.0"),
        (lambda: NAdam(momentum_decay=-4e-3), "momentum_decay must be >= 0, got -0.004"),
        (lambda: NAdam(lr=-2e-3), "lr must be >= 0, got -0.002"),
        (
            lambda: NAdam(decoupled_weight_decay=None),
            "decoupled_weight_decay must be True or False",
        ),
    ],
)
def test_invalid_hyperparameter_raises_naming_the_value(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    "optimizer, message",
    [
        (SGD(lr=[0.1, 0.2, 0.3]), "lr has 3 values but the population has K=2"),
        (SGD(momentum=[0.9]), "momentum has 1 values but the population has K=2"),
        (Adagrad(initial_accumulator_value=[0.1, 0.2, 0.3]), "initial_accumulator_value has 3"),
        (Adadelta(rho=[0.9, 0.8, 0.7]), "rho has 3 values"),
        (RMSprop(alpha=[0.9, 0.8, 0.7]), "alpha has 3 values"),
        (Adam(betas=(0.9, [0.99, 0.999, 0.9999])), "betas[1] has 3 values"),
        (NAdam(momentum_decay=[0.1, 0.2, 0.3]), "momentum_decay has 3 values"),
    ],
)
def test_wrong_number_of_per_replica_values_raises_in_init(optimizer, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        optimizer.init([np.zeros((2, 3, 2)), np.zeros((2, 1, 2))])


def test_defaults_are_torchs():
    # the hyperparameters are the dataclass fields, in torch's order
    assert asdict(SGD()) == {
        "lr": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    assert asdict(Adagrad()) == {
        "lr": 1e-2,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    }
    assert asdict(Adadelta()) == {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}
    assert asdict(RMSprop()) == {
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    }
    adam = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}
    assert asdict(Adam()) == adam | {"weight_decay": 0.0, "decoupled_weight_decay": False}
    assert asdict(AdamW()) == adam | {"weight_decay": 1e-2, "decoupled_weight_decay": True}
    assert asdict(NAdam()) == {
        "lr": 2e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum_decay": 4e-3,
        "decoupled_weight_decay": False,
    }
