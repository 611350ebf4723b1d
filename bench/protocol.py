"""The protocol: tune -> extend the grid -> evaluate, per method x dataset.

Which populations run, and in what order. A ``Chain`` follows one method on one dataset:

1. Tune: every candidate configuration (each lr of the grid x each combination of the
   ``search`` arguments) is trained on the tuning seeds, in one population. A candidate's
   score is the mean over tuning seeds of its best validation loss over epochs (row 0
   included, rows before divergence only); a candidate where any seed diverged is never
   chosen (ties: the smaller lr).
2. Extend the grid: while the chosen lr is the smallest or largest tried, the next lr beyond
   it is tuned too (one population, every search combination): the ratio of the two outermost
   lrs on that side, or x3 either way for a one-point grid, whose two neighbours are tried
   together. At most ``extend_grid`` new lrs per side. A new lr that is worse than the
   incumbent, or diverges, leaves the incumbent inside the tried range, which ends the
   extension; when every candidate diverged, it extends downward. A tuned lr still at an
   edge is flagged (``lr_at_edge``).
3. Evaluate: the chosen configuration is trained afresh on the evaluation seeds.

The chain reads its tuning outcomes as a DataFrame with columns lr, hyperparameters (JSON of
the searched arguments), seed, best_val_loss and diverged: the same whether they were just
trained or read back from the store, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.datasets import DatasetSpec
from bench.methods import Hyperparameters, MethodSpec, parse_hyperparameters
from bench.suite import Population, Suite

TUNING_RULE = (
    "each candidate (lr x search arguments) is trained on the tuning seeds, apart from the "
    "evaluation seeds; its score is the mean over tuning seeds of its best validation loss over "
    "epochs; a candidate where any seed diverged is never chosen (ties: the smaller lr)"
)
EXTENSION_RULE = (
    "while the chosen lr is the smallest or largest tried, the next lr beyond it (the ratio of "
    "the two outermost lrs on that side; x3 for a one-point grid) is tuned too, at most "
    "extend_grid new lrs per side; when every candidate diverged, the grid extends downward"
)
EVALUATION_RULE = (
    "the chosen configuration is trained afresh on the evaluation seeds; everything reported "
    "but the lr-sensitivity figure comes from these trials"
)
OUTCOME_COLUMNS = ["lr", "hyperparameters", "seed", "best_val_loss", "diverged"]


def candidate_scores(outcomes: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """One row per candidate (lr, hyperparameters): score, valid, seeds; by lr, then order.

    score = mean over seeds of best_val_loss; valid = no seed diverged and the score is
    finite. by: columns of ``outcomes`` that tell chains apart (e.g. dataset and method),
    scored each on its own and kept in the result, before lr.
    """
    keys = [*by, "lr", "hyperparameters"]
    if outcomes.empty:
        return pd.DataFrame(columns=[*keys, "score", "valid", "seeds"])
    losses = outcomes["best_val_loss"].astype(float)
    outcomes = outcomes.assign(
        best_val_loss=losses, finite=np.isfinite(losses), diverged=outcomes["diverged"].astype(bool)
    )
    scores = (
        outcomes.groupby(keys, sort=False)
        .agg(
            score=("best_val_loss", "mean"),
            diverged=("diverged", "any"),
            finite=("finite", "all"),
            seeds=("seed", "size"),
        )
        .reset_index()
    )
    scores["valid"] = ~scores["diverged"] & scores["finite"]
    scores = scores.sort_values("lr", kind="stable").reset_index(drop=True)
    return scores[[*keys, "score", "valid", "seeds"]]


def choose(scores: pd.DataFrame) -> pd.Series | None:
    """The chosen candidate: the lowest score among the valid ones (ties: the smaller lr,
    then the first combination); None when none is valid."""
    valid = scores[scores["valid"].astype(bool)]
    if valid.empty:
        return None
    return valid.loc[valid["score"].idxmin()]


def at_edge(lr: float, tried: list[float], extend_grid: int) -> bool:
    """Whether the tuned ``lr`` is the smallest or largest tried (a one-point grid with the
    extension off is pinned by the user, not at an edge)."""
    if len(tried) == 1 and extend_grid == 0:
        return False
    return lr <= min(tried) or lr >= max(tried)


class Chain:
    """Tune, extend and evaluate one method on one dataset (see the module docstring)."""

    def __init__(self, suite: Suite, method: MethodSpec, dataset: DatasetSpec) -> None:
        self.suite, self.method, self.dataset = suite, method, dataset
        self.outcomes: list[pd.DataFrame] = []  # one frame per tuning population
        self.tried: list[float] = []
        self.extended = {"down": 0, "up": 0}
        self.tuned: tuple[float, Hyperparameters] | None = None
        self.finished = False

    @property
    def cost(self) -> float:
        """A rough relative cost, for starting the longest chains first: steps per epoch
        (samples per batch) x trials."""
        n = self.dataset.params.get("n_samples", 1000)
        steps = math.ceil(n / self.method.batch_size) if self.method.batch_size else 1
        grid = len(self.method.lrs) * len(self.method.combinations())
        return steps * (grid * len(self.suite.tuning_seeds) + len(self.suite.seeds))

    def start(self) -> Population:
        """The first tuning population: the whole grid."""
        return self._tune(self.method.lrs)

    def _tune(self, lrs) -> Population:
        self.tried = sorted({*self.tried, *lrs})
        trials = [
            (lr, hyper, seed)
            for lr in lrs
            for hyper in self.method.combinations()
            for seed in self.suite.tuning_seeds
        ]
        return self.suite.population(self.method, self.dataset, "tune", trials)

    def evaluation(self) -> Population:
        """The evaluation population: the tuned configuration on every evaluation seed."""
        lr, hyper = self.tuned
        trials = [(lr, hyper, seed) for seed in self.suite.seeds]
        return self.suite.population(self.method, self.dataset, "eval", trials)

    def receive(self, outcomes: pd.DataFrame) -> Population | None:
        """Take a tuning population's outcomes; return the next population to train (an
        extension, or the evaluation), or None when the chain has nothing left to train."""
        self.outcomes.append(outcomes[OUTCOME_COLUMNS])
        best = choose(candidate_scores(pd.concat(self.outcomes, ignore_index=True)))
        lrs = self._extension(None if best is None else float(best["lr"]))
        if lrs:
            return self._tune(lrs)
        if best is None:
            self.finished = True
            return None
        self.tuned = (float(best["lr"]), parse_hyperparameters(best["hyperparameters"]))
        return self.evaluation()

    def _extension(self, lr: float | None) -> list[float]:
        """The new lrs to tune next, [] when the tuning is done."""
        limit, tried = self.suite.extend_grid, self.tried
        lower = tried[0] / (tried[1] / tried[0] if len(tried) > 1 else 3.0)
        upper = tried[-1] * (tried[-1] / tried[-2] if len(tried) > 1 else 3.0)
        new = []
        if self.extended["down"] < limit and (lr is None or lr <= tried[0]):
            new.append(lower)
            self.extended["down"] += 1
        if lr is not None and self.extended["up"] < limit and lr >= tried[-1]:
            new.append(upper)
            self.extended["up"] += 1
        return new

    @property
    def lr_at_edge(self) -> bool:
        """Whether the tuned lr is still at an edge of the lrs tried."""
        return self.tuned is not None and at_edge(self.tuned[0], self.tried, self.suite.extend_grid)


def chains(suite: Suite) -> list[Chain]:
    """Every method x dataset chain of ``suite``, the longest first."""
    every = [Chain(suite, m, d) for d in suite.datasets for m in suite.methods]
    return sorted(every, key=lambda chain: -chain.cost)


def planned_trials(suite: Suite) -> int:
    """Trials of the first tuning populations and the evaluations, extensions not counted."""
    return sum(
        len(m.lrs) * len(m.combinations()) * len(suite.tuning_seeds) + len(suite.seeds)
        for m in suite.methods
    ) * len(suite.datasets)


def describe(suite: Suite) -> dict:
    """The protocol of ``suite`` in words and numbers, recorded with the results."""
    from bench.datasets import SPLIT_RULE, TARGET_RULE

    return {
        "tuning": TUNING_RULE,
        "extension": EXTENSION_RULE,
        "evaluation": EVALUATION_RULE,
        "epochs": suite.epochs,
        "seeds": list(suite.seeds),
        "tuning_seeds": list(suite.tuning_seeds),
        "extend_grid": suite.extend_grid,
        "margin": suite.margin,
        "seed_role": "a trial's seed sets the initial weights and the shuffling; the dataset "
        "is fixed by its own seed, so two methods with the same seed start from the same "
        "weights and are compared paired by seed",
        "split": SPLIT_RULE,
        "targets": TARGET_RULE,
    }
