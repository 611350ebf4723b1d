"""pandas tables from the store: trials, curves, summary and ranking, and the Results object.

``load(DIR)`` rebuilds every table from DIR/runs.sqlite without training; ``write_tables``
writes them as DIR/tables/{trials,curves,summary,ranking}.csv. The suite recorded in the
store names its populations; only those are tabled (a store may also cache older ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backprop import MLP
from bench import metrics
from bench.store import STORE_NAME, Store, StoreError

TRIAL_COLUMNS = [
    "method", "dataset", "task", "lr", "seed", "population", "trial",
    "final_train_loss", "final_val_loss", "final_test_loss", "test_metric", "best_train_loss",
    "diverged", "diverged_epoch", "tuned",
    "epochs_to_target", "samples_to_target", "steps_to_target", "seconds_to_target",
    "relative_target", "epochs_to_relative_target", "auc_log_loss",
]  # fmt: skip
CURVE_COLUMNS = [
    "method", "dataset", "lr", "seed", "epoch", "samples", "steps", "seconds",
    "train_loss", "val_loss",
]  # fmt: skip
FLOAT_COLUMNS = [
    "final_train_loss", "final_val_loss", "final_test_loss", "test_metric", "best_train_loss",
]  # fmt: skip


@dataclass
class Results:
    """A benchmark's results: the four tables, the suite as run, and provenance.

    trials: one row per trial (TRIAL_COLUMNS); curves: one row per trial and epoch
    (CURVE_COLUMNS); summary: one row per dataset x method at its tuned lr; ranking: one row
    per method. suite: the suite recorded in the store (name, source, protocol, epochs,
    seeds, model, methods, datasets, populations); provenance: versions, CPU, git commit,
    start and end times. missing: keys of the suite's populations not (yet) in the store.
    """

    out: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    summary: pd.DataFrame
    ranking: pd.DataFrame
    suite: dict
    provenance: dict
    missing: list[str] = field(default_factory=list)
    _datasets: dict = field(default_factory=dict, repr=False)

    @property
    def store_path(self) -> Path:
        """DIR/runs.sqlite."""
        return self.out / STORE_NAME

    def final_params(self, method: str, dataset: str, lr: float, seed: int) -> list[np.ndarray]:
        """The trained parameters [W1, b1, ...] of one trial, in the K = 1 layout of ``init``."""
        match = self.trials[
            (self.trials["method"] == method)
            & (self.trials["dataset"] == dataset)
            & np.isclose(self.trials["lr"], lr, rtol=1e-12, atol=0)
            & (self.trials["seed"] == seed)
        ]
        if match.empty:
            raise KeyError(
                f"no trial method={method!r} dataset={dataset!r} lr={lr!r} seed={seed!r} "
                f"in {self.out}"
            )
        row = match.iloc[0]
        with Store(self.store_path) as store:
            flat = store.params(row["population"], int(row["trial"]))
        return self.network(dataset).unflatten(flat[None, :])

    def dataset(self, name: str):
        """The Dataset ``name`` as the suite built it (regenerated from its stored spec)."""
        from bench.datasets import load_dataset
        from bench.suite import DatasetSpec

        if name not in self._datasets:
            specs = self.suite.get("datasets", {})
            if name not in specs:
                raise KeyError(f"no dataset {name!r} in {self.out}; it has {sorted(specs)}")
            self._datasets[name] = load_dataset(DatasetSpec.from_dict(specs[name]))
        return self._datasets[name]

    def network(self, dataset_name: str) -> MLP:
        """The MLP that every method trained on ``dataset_name`` (its sizes, activations, loss)."""
        data = self.dataset(dataset_name)
        model = self.suite["model"]
        sizes = [data.n_features, *model["hidden"], data.n_outputs]
        return MLP(sizes, hidden=model["activation"], output=data.output, loss=data.loss)

    def write_tables(self) -> Path:
        """Write DIR/tables/{trials,curves,summary,ranking}.csv; returns DIR/tables."""
        folder = self.out / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("trials", "curves", "summary", "ranking"):
            getattr(self, name).to_csv(folder / f"{name}.csv", index=False)
        return folder


def load(out: str | Path) -> Results:
    """The Results stored in ``out``/runs.sqlite, every table rebuilt without training.

    Raises StoreError when the folder or its store is missing or unreadable.
    """
    out = Path(out)
    if not out.is_dir():
        raise StoreError(
            f"no results folder {out}; run `python -m bench run --suite SUITE --out {out}` first"
        )
    with Store(out / STORE_NAME) as store:
        suite = store.meta("suite")
        if suite is None:
            raise StoreError(f"{out / STORE_NAME} records no suite: the run never started")
        keys = [p["key"] for p in suite["populations"]]
        populations = store.populations(keys)
        stored = store.trials(keys)
        provenance = store.meta("provenance", {})
    trials, curves = build_trials(stored, populations, suite), build_curves(stored, populations)
    if len(trials):
        summary = metrics.summarise(trials)
        ranking = metrics.rank_methods(summary)
    else:
        summary = pd.DataFrame(columns=metrics.SUMMARY_COLUMNS)
        ranking = pd.DataFrame(columns=metrics.RANKING_COLUMNS)
    missing = [k for k in keys if k not in set(populations["key"])]
    return Results(out, trials, curves, summary, ranking, suite, provenance, missing)


def build_trials(stored: pd.DataFrame, populations: pd.DataFrame, suite: dict) -> pd.DataFrame:
    """The trials table: stored finals, plus targets, tuning and curve metrics per trial."""
    if stored.empty:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    trials = stored.copy()
    trials[FLOAT_COLUMNS] = trials[FLOAT_COLUMNS].astype(float)
    trials["diverged"] = trials["diverged_epoch"] >= 0
    axes = populations.set_index("key")
    trials["task"] = trials["population"].map(axes["task"])
    targets = {name: spec.get("target_loss") for name, spec in suite["datasets"].items()}
    costs = [
        metrics.cost_to_target(
            row.train_curve,
            {
                "samples": axes.at[row.population, "samples"],
                "steps": axes.at[row.population, "steps"],
                "seconds": axes.at[row.population, "seconds_axis"],
            },
            targets.get(row.dataset),
        )
        for row in trials.itertuples()
    ]
    trials = pd.concat([trials, pd.DataFrame(costs, index=trials.index)], axis=1)
    trials["auc_log_loss"] = trials["train_curve"].map(metrics.auc_log_loss)
    trials["tuned"] = metrics.mark_tuned(trials)
    trials["relative_target"] = trials["dataset"].map(metrics.relative_targets(trials))
    trials["epochs_to_relative_target"] = [
        metrics.cost_to_target(curve, {}, target)["epochs_to_target"]
        for curve, target in zip(trials["train_curve"], trials["relative_target"], strict=True)
    ]
    return trials[TRIAL_COLUMNS].reset_index(drop=True)


def build_curves(stored: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """The long curves table: one row per trial and epoch row e = 0..E."""
    if stored.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    axes = populations.set_index("key")
    lengths = stored["train_curve"].map(len).to_numpy()
    repeat = {
        c: np.repeat(stored[c].to_numpy(), lengths) for c in ("method", "dataset", "lr", "seed")
    }

    def stacked(values) -> np.ndarray:
        return np.concatenate(list(values))

    def per_trial(column: str) -> np.ndarray:
        return stacked(axes.at[key, column] for key in stored["population"])

    no_val = [np.full(n, np.nan) for n in lengths]
    val = [
        v if v is not None else blank for v, blank in zip(stored["val_curve"], no_val, strict=True)
    ]
    return pd.DataFrame(
        {
            **repeat,
            "epoch": np.concatenate([np.arange(n) for n in lengths]),
            "samples": per_trial("samples"),
            "steps": per_trial("steps"),
            "seconds": per_trial("seconds_axis"),
            "train_loss": stacked(stored["train_curve"]),
            "val_loss": stacked(val),
        }
    )[CURVE_COLUMNS]


def compare(a: Results, b: Results) -> pd.DataFrame:
    """What changed from run A to run B, per dataset x method at each run's tuned lr.

    Columns: dataset, method, lr_a, lr_b, then for final_test_loss, epochs_to_target and
    seconds_to_target the means in A and B and delta = B - A, and ``changed``: the metrics
    whose 95% intervals in A and B do not overlap (empty when none). Pairs in only one run
    are listed with NaN for the other.
    """
    on = ["dataset", "method"]
    merged = a.summary.merge(b.summary, on=on, how="outer", suffixes=("_a", "_b"), sort=False)
    table = merged[on].copy()
    table["lr_a"], table["lr_b"] = merged["lr_a"], merged["lr_b"]
    changed = pd.Series([[] for _ in range(len(merged))], index=merged.index)
    for metric in ("final_test_loss", "epochs_to_target", "seconds_to_target"):
        mean_a, mean_b = merged[f"{metric}_mean_a"], merged[f"{metric}_mean_b"]
        table[f"{metric}_a"], table[f"{metric}_b"] = mean_a, mean_b
        table[f"{metric}_delta"] = mean_b - mean_a
        apart = (merged[f"{metric}_hi_a"] < merged[f"{metric}_lo_b"]) | (
            merged[f"{metric}_hi_b"] < merged[f"{metric}_lo_a"]
        )
        for i in np.flatnonzero(apart.to_numpy()):
            changed.iloc[i].append(metric)
    table["changed"] = changed.map(", ".join)
    return table
