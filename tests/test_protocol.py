"""bench.protocol: the tune -> extend -> evaluate chain, driven by synthetic tuning outcomes.

Each candidate's validation loss is a known function of its lr, so the test knows where the
optimum is and which lrs the grid extension must try.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bench.methods import hyperparameters_json
from bench.protocol import Chain, candidate_scores, choose
from bench.suite import load_suite


@functools.cache
def builtin(name: str):
    """A built-in suite, loaded once."""
    return load_suite(name)


def suite_with(**changes):
    """The quick suite with some fields replaced."""
    return replace(builtin("quick"), **changes)


def method_with(suite, name="adam", **changes):
    """A method of ``suite`` with some fields replaced."""
    method = next(m for m in suite.methods if m.name == name)
    return replace(method, **changes)


def outcomes(population, loss, diverges=lambda lr: False) -> pd.DataFrame:
    """What training ``population`` would give if a trial's best validation loss were
    loss(lr, hyperparameters dict) (+ a small per-seed offset) and ``diverges(lr)`` said
    which lrs diverge."""
    rows = []
    for lr, hyper, seed in population.trials:
        rows.append(
            {
                "lr": lr,
                "hyperparameters": hyperparameters_json(hyper),
                "seed": seed,
                "best_val_loss": loss(lr, dict(hyper)) + 1e-3 * (seed % 7),
                "diverged": diverges(lr),
            }
        )
    return pd.DataFrame(rows)


def run_chain(chain: Chain, loss, diverges=lambda lr: False) -> list:
    """Drive ``chain`` to its end; returns every population it asked for."""
    populations = [chain.start()]
    while populations[-1].phase == "tune":
        following = chain.receive(outcomes(populations[-1], loss, diverges))
        if following is None:
            break
        populations.append(following)
    return populations


def bowl(optimum: float):
    """A validation loss with its minimum at lr = optimum, quadratic in log lr."""
    return lambda lr, hyper: 0.1 + (math.log(lr) - math.log(optimum)) ** 2


def tuned_lrs(populations) -> list[list[float]]:
    """The distinct lrs of each tuning population, in order."""
    return [sorted({t[0] for t in p.trials}) for p in populations if p.phase == "tune"]


def test_an_optimum_below_the_grid_is_reached_by_extending_downward():
    suite = suite_with(extend_grid=3)
    method = method_with(suite, lrs=(1e-3, 3e-3, 0.01))
    chain = Chain(suite, method, suite.datasets[0])
    populations = run_chain(chain, bowl(1e-4))
    grids = tuned_lrs(populations)
    assert grids[0] == [1e-3, 3e-3, 0.01]
    # ratio 3 on the lower side: 1e-3 / 3, then / 9, then worse than the incumbent -> stop
    np.testing.assert_allclose([g[0] for g in grids[1:]], [1e-3 / 3, 1e-3 / 9, 1e-3 / 27])
    assert populations[-1].phase == "eval"
    assert chain.tuned[0] == pytest.approx(1e-3 / 9)  # the nearest tried lr to 1e-4 in log
    assert not chain.lr_at_edge
    assert {t[2] for t in populations[-1].trials} == set(suite.seeds)


def test_an_optimum_above_the_grid_extends_upward_by_the_outer_ratio():
    suite = suite_with(extend_grid=3)
    method = method_with(suite, lrs=(0.01, 0.1))  # ratio 10 on the upper side
    chain = Chain(suite, method, suite.datasets[0])
    grids = tuned_lrs(run_chain(chain, bowl(20.0)))
    np.testing.assert_allclose([g[0] for g in grids[1:]], [1.0, 10.0, 100.0])
    assert chain.tuned[0] == pytest.approx(10.0)


def test_the_extension_stops_at_extend_grid_points_and_flags_the_edge():
    suite = suite_with(extend_grid=2)
    method = method_with(suite, lrs=(1e-3, 3e-3))
    chain = Chain(suite, method, suite.datasets[0])
    grids = tuned_lrs(run_chain(chain, bowl(1e-7)))
    assert len(grids) == 3  # the grid, then 2 new points, no more
    assert chain.tuned[0] == pytest.approx(1e-3 / 9)
    assert chain.lr_at_edge


def test_extend_grid_zero_turns_it_off_and_pins_a_one_point_grid():
    suite = suite_with(extend_grid=0)
    chain = Chain(suite, method_with(suite, lrs=(1e-3, 3e-3)), suite.datasets[0])
    populations = run_chain(chain, bowl(1e-7))
    assert [p.phase for p in populations] == ["tune", "eval"] and chain.lr_at_edge
    pinned = Chain(suite, method_with(suite, lrs=(0.01,)), suite.datasets[0])
    assert [p.phase for p in run_chain(pinned, bowl(1e-7))] == ["tune", "eval"]
    assert pinned.tuned[0] == 0.01 and not pinned.lr_at_edge


def test_a_one_point_grid_tries_both_neighbours_at_x3_together():
    suite = suite_with(extend_grid=3)
    chain = Chain(suite, method_with(suite, lrs=(0.01,)), suite.datasets[0])
    grids = tuned_lrs(run_chain(chain, bowl(0.01)))
    np.testing.assert_allclose(grids[1], [0.01 / 3, 0.03])
    assert len(grids) == 2 and chain.tuned[0] == 0.01 and not chain.lr_at_edge


def test_a_diverging_new_point_ends_the_extension_and_is_never_chosen():
    suite = suite_with(extend_grid=3)
    chain = Chain(suite, method_with(suite, lrs=(0.01, 0.03)), suite.datasets[0])
    populations = run_chain(chain, bowl(10.0), diverges=lambda lr: lr > 0.05)
    grids = tuned_lrs(populations)
    np.testing.assert_allclose(grids[1], [0.09])
    assert len(grids) == 2 and chain.tuned[0] == 0.03 and not chain.lr_at_edge


def test_when_every_candidate_diverged_the_grid_extends_downward():
    suite = suite_with(extend_grid=3)
    chain = Chain(suite, method_with(suite, lrs=(1.0, 3.0)), suite.datasets[0])
    grids = tuned_lrs(run_chain(chain, bowl(1e-3), diverges=lambda lr: lr > 0.2))
    np.testing.assert_allclose([g[0] for g in grids[1:]], [1 / 3, 1 / 9, 1 / 27])
    # 1/3 diverges too; 1/9 and 1/27 do not, and 1/27 is nearer the optimum but the last point
    assert chain.tuned[0] == pytest.approx(1 / 27) and chain.lr_at_edge


def test_a_method_that_always_diverges_ends_without_an_evaluation():
    suite = suite_with(extend_grid=2)
    chain = Chain(suite, method_with(suite, lrs=(1.0, 3.0)), suite.datasets[0])
    populations = run_chain(chain, bowl(1.0), diverges=lambda lr: True)
    assert [p.phase for p in populations] == ["tune", "tune", "tune"]
    assert chain.tuned is None and chain.finished


def test_search_trains_every_combination_and_the_best_pair_is_evaluated():
    suite = suite_with(extend_grid=3)
    method = method_with(suite, "adam", lrs=(1e-3, 3e-3, 0.01), search={"eps": (1e-8, 1e-4)})
    chain = Chain(suite, method, suite.datasets[0])

    def loss(lr, hyper):
        return bowl(3e-3)(lr, hyper) + (0.0 if hyper["eps"] == 1e-4 else 0.5)

    populations = run_chain(chain, loss)
    first = populations[0]
    assert len(first.trials) == 3 * 2 * len(suite.tuning_seeds)
    assert {dict(h)["eps"] for _, h, _ in first.trials} == {1e-8, 1e-4}
    assert chain.tuned == (3e-3, (("eps", 1e-4),))
    assert {(t[0], t[1]) for t in populations[-1].trials} == {(3e-3, (("eps", 1e-4),))}


def test_tuning_seeds_and_evaluation_seeds_are_disjoint_populations():
    suite = builtin("default")
    chain = Chain(suite, suite.methods[0], suite.datasets[0])
    populations = run_chain(chain, bowl(0.3))
    tuning = {t[2] for p in populations if p.phase == "tune" for t in p.trials}
    evaluation = {t[2] for p in populations if p.phase == "eval" for t in p.trials}
    assert tuning == set(suite.tuning_seeds) and evaluation == set(range(10))
    assert not tuning & evaluation


def test_a_candidate_score_is_the_mean_best_validation_loss_and_ties_take_the_smaller_lr():
    frame = pd.DataFrame(
        {
            "lr": [0.1, 0.1, 0.3, 0.3, 1.0, 1.0],
            "hyperparameters": ["{}"] * 6,
            "seed": [0, 1] * 3,
            "best_val_loss": [0.25, 0.75, 0.5, 0.5, 0.125, np.nan],
            "diverged": [False, False, False, False, False, False],
        }
    )
    scores = candidate_scores(frame)
    assert scores["score"][:2].tolist() == [0.5, 0.5]
    assert scores["valid"].tolist() == [True, True, False]  # a NaN seed is never chosen
    assert choose(scores)["lr"] == 0.1
    frame.loc[0, "diverged"] = True
    assert choose(candidate_scores(frame))["lr"] == 0.3
