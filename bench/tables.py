"""pandas tables from the store: trials, curves, summary, comparisons, ranking, and Results.

``load(DIR)`` rebuilds every table from DIR/runs.sqlite without training; ``write_tables``
writes them as DIR/tables/{trials,curves,summary,comparisons,ranking}.csv. The suite recorded
in the store names its populations; only those are tabled (a store may also cache others).
The summary, comparisons and ranking come from the evaluation trials only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backprop import MLP
from bench import metrics, stats
from bench.protocol import at_edge
from bench.store import STORE_NAME, Store, StoreError

TRIAL_COLUMNS = [
    "phase",
    "method",
    "dataset",
    "task",
    "lr",
    "hyperparameters",
    "extended",
    "seed",
    "population",
    "trial",
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "best_epoch",
    "test_loss",
    "test_metric",
    "test_error",
    "final_test_loss",
    "final_test_metric",
    "diverged",
    "diverged_epoch",
    "target_reached",
    "epochs_to_target",
    "samples_to_target",
    "steps_to_target",
    "seconds_to_target",
    "calibration_se",
    "cpu",
]
CURVE_COLUMNS = [
    "phase",
    "method",
    "dataset",
    "lr",
    "hyperparameters",
    "seed",
    "epoch",
    "samples",
    "steps",
    "seconds",
    "train_loss",
    "val_loss",
]
FLOAT_COLUMNS = [
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "test_loss",
    "test_metric",
    "final_test_loss",
    "final_test_metric",
]
# summary criteria: (column, log): losses and costs get geometric means, the metric a mean
SUMMARY_CRITERIA = (
    ("test_loss", True),
    ("test_metric", False),
    ("final_train_loss", True),
    ("seconds_to_target", True),
    ("epochs_to_target", True),
)
SUMMARY_COLUMNS = [
    "dataset",
    "method",
    "lr",
    "hyperparameters",
    "lr_at_edge",
    "tuning_trials",
    "n_seeds",
    *(f"{c}_{part}" for c, _ in SUMMARY_CRITERIA for part in ("center", "lo", "hi")),
    "diverged_count",
    "rank",
]
COMPARISON_COLUMNS = ["dataset", "criterion", *stats.COMPARISON_COLUMNS]
RANKING_COLUMNS = ["method", "mean_rank", *stats.VERDICTS, "datasets"]
TABLES = ("trials", "curves", "summary", "comparisons", "ranking")


@dataclass
class Results:
    """A benchmark's results: the five tables, the Friedman test, the suite, provenance.

    trials: one row per trial of both phases (TRIAL_COLUMNS); curves: one row per trial and
    epoch (CURVE_COLUMNS); summary: one row per dataset x method, evaluation phase
    (SUMMARY_COLUMNS); comparisons: one row per dataset x criterion x method, each against
    the best (COMPARISON_COLUMNS); ranking: one row per method, mean rank on test loss and
    its verdict counts (RANKING_COLUMNS); friedman: ranks, Friedman test and Nemenyi critical
    difference across datasets (``bench.stats.Friedman``). suite: the suite recorded in the
    store (name, source, settings, protocol, populations); provenance: versions, CPU, git
    commit, start and end times. missing: keys of the suite's populations not in the store.
    """

    out: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    ranking: pd.DataFrame
    friedman: stats.Friedman | None
    suite: dict
    provenance: dict
    missing: list[str] = field(default_factory=list)
    _datasets: dict = field(default_factory=dict, repr=False)

    @property
    def evaluation(self) -> pd.DataFrame:
        """The evaluation trials (phase "eval"): everything reported comes from these."""
        return self.trials[self.trials["phase"] == "eval"]

    @property
    def tuning(self) -> pd.DataFrame:
        """The tuning trials (phase "tune"), grid extensions included."""
        return self.trials[self.trials["phase"] == "tune"]

    @property
    def store_path(self) -> Path:
        """DIR/runs.sqlite."""
        return self.out / STORE_NAME

    def final_params(
        self, method: str, dataset: str, lr: float, seed: int, best: bool = False
    ) -> list[np.ndarray]:
        """The trained parameters [W1, b1, ...] of one trial, in the K = 1 layout of ``init``.

        The evaluation trial when there is one, else the tuning trial; best=True gives the
        early-stopped parameters (evaluation trials only).
        """
        trials = self.trials
        match = trials[
            (trials["method"] == method)
            & (trials["dataset"] == dataset)
            & np.isclose(trials["lr"], lr, rtol=1e-12, atol=0)
            & (trials["seed"] == seed)
        ].sort_values("phase", kind="stable")  # "eval" before "tune"
        if match.empty:
            raise KeyError(
                f"no trial method={method!r} dataset={dataset!r} lr={lr!r} seed={seed!r} "
                f"in {self.out}"
            )
        row = match.iloc[0]
        with Store(self.store_path) as store:
            flat = store.params(row["population"], int(row["trial"]), best=best)
        return self.network(dataset).unflatten(flat[None, :])

    def dataset(self, name: str):
        """The Dataset ``name`` the suite trained on: built already in this process, else the
        store's copy (``Store.dataset``), else built again from its stored spec."""
        from bench.datasets import DatasetSpec, built, dataset_for, spec_key

        if name not in self._datasets:
            specs = self.suite.get("datasets", {})
            if name not in specs:
                raise KeyError(f"no dataset {name!r} in {self.out}; it has {sorted(specs)}")
            spec = DatasetSpec.from_dict(specs[name])
            data = built(spec)
            if data is None:
                with Store(self.store_path) as store:
                    data = store.dataset(spec_key(spec))
            self._datasets[name] = data if data is not None else dataset_for(spec)
        return self._datasets[name]

    def network(self, dataset_name: str) -> MLP:
        """The MLP that every method trained on ``dataset_name`` (its sizes, activations, loss)."""
        data = self.dataset(dataset_name)
        model = self.suite["model"]
        sizes = [data.n_features, *model["hidden"], data.n_outputs]
        return MLP(sizes, hidden=model["activation"], output=data.output, loss=data.loss)

    def write_tables(self) -> Path:
        """Write DIR/tables/{trials,curves,summary,comparisons,ranking}.csv; returns the folder."""
        folder = self.out / "tables"
        folder.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            getattr(self, name).to_csv(folder / f"{name}.csv", index=False)
        return folder


def load(out: str | Path) -> Results:
    """The Results stored in ``out``/runs.sqlite, every table rebuilt without training.

    Raises StoreError when the folder or its store is missing, unreadable or of an older
    schema.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out} is a file, not a results folder; give the folder of a run")
    if not out.is_dir():
        raise StoreError(
            f"no results folder {out}; run `python -m bench run --suite SUITE --out {out}` first"
        )
    with Store(out / STORE_NAME) as store:
        suite = store.meta("suite")
        if suite is None:
            raise StoreError(f"{out / STORE_NAME} records no suite: the run never started")
        keys = list(dict.fromkeys(p["key"] for p in suite["populations"]))
        populations = store.populations(keys)
        stored = store.trials(keys)
        provenance = store.meta("provenance", {})
    results = Results(out, *empty_tables(), None, suite, provenance)
    results.missing = [k for k in keys if k not in set(populations["key"])]
    stored = stored[(stored["phase"] == "tune") | stored["seed"].isin(suite.get("seeds", []))]
    stored = stored.drop_duplicates(["phase", "method", "dataset", "lr", "hyperparameters", "seed"])
    results.trials = build_trials(stored, populations, suite)
    results.curves = build_curves(stored, populations)
    if len(results.trials):
        floors = {name: floors_of(results, name) for name in suite["datasets"]}
        results.summary = summarise(results.trials, suite, floors)
        results.comparisons = compare_methods(results.trials, suite, floors)
        results.friedman, results.ranking = rank_methods(results.summary, results.comparisons)
    return results


def empty_tables() -> list[pd.DataFrame]:
    """The five tables with their columns and no rows."""
    columns = (TRIAL_COLUMNS, CURVE_COLUMNS, SUMMARY_COLUMNS, COMPARISON_COLUMNS, RANKING_COLUMNS)
    return [pd.DataFrame(columns=c) for c in columns]


def build_trials(stored: pd.DataFrame, populations: pd.DataFrame, suite: dict) -> pd.DataFrame:
    """The trials table: stored values, plus final loss, test error and costs to the target."""
    if stored.empty:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    trials = stored.copy()
    trials[FLOAT_COLUMNS] = trials[FLOAT_COLUMNS].astype(float)
    trials["diverged"] = trials["diverged_epoch"] >= 0
    axes = populations.set_index("key")
    trials["task"] = trials["population"].map(axes["task"])
    trials["cpu"] = trials["population"].map(axes["cpu"])
    trials["calibration_se"] = trials["population"].map(axes["calibration_se"]).astype(float)
    grids = {name: spec.get("lrs", []) for name, spec in suite["methods"].items()}
    extended = np.ones(len(trials), dtype=bool)
    for method, rows in trials.groupby("method", sort=False).indices.items():
        grid = np.asarray(grids.get(method, []), dtype=float)
        lrs = trials["lr"].to_numpy()[rows]
        extended[rows] = ~np.isclose(lrs[:, None], grid[None, :], rtol=1e-12, atol=0).any(axis=1)
    trials["extended"] = extended
    row_zero = trials["train_curve"].map(lambda curve: curve[0])
    trials["final_train_loss"] = trials["final_train_loss"].where(~trials["diverged"], row_zero)
    trials["test_error"] = 1.0 - trials["test_metric"]
    targets = {name: spec.get("target_loss") for name, spec in suite["datasets"].items()}
    cost_axes = {  # per population: its cost axes, by the names cost_to_target gives them
        key: {"samples": samples, "steps": steps, "seconds": seconds}
        for key, samples, steps, seconds in zip(
            axes.index, axes["samples"], axes["steps"], axes["seconds_axis"], strict=True
        )
    }
    costs = [
        metrics.cost_to_target(curve, cost_axes[population], targets.get(dataset))
        for curve, population, dataset in zip(
            trials["train_curve"], trials["population"], trials["dataset"], strict=True
        )
    ]
    trials = pd.concat([trials, pd.DataFrame(costs, index=trials.index)], axis=1)
    trials["target_reached"] = [
        metrics.first_reached(curve, targets.get(dataset)) >= 0
        for curve, dataset in zip(trials["train_curve"], trials["dataset"], strict=True)
    ]
    return trials[TRIAL_COLUMNS].reset_index(drop=True)


def build_curves(stored: pd.DataFrame, populations: pd.DataFrame) -> pd.DataFrame:
    """The long curves table: one row per trial and epoch row e = 0..E."""
    if stored.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    axes = populations.set_index("key")
    lengths = stored["train_curve"].map(len).to_numpy()
    names = ("phase", "method", "dataset", "lr", "hyperparameters", "seed")
    repeat = {c: np.repeat(stored[c].to_numpy(), lengths) for c in names}

    def per_trial(column: str) -> np.ndarray:
        axis = axes[column].to_dict()
        return np.concatenate([axis[key] for key in stored["population"]])

    return pd.DataFrame(
        {
            **repeat,
            "epoch": np.concatenate([np.arange(n) for n in lengths]),
            "samples": per_trial("samples"),
            "steps": per_trial("steps"),
            "seconds": per_trial("seconds_axis"),
            "train_loss": np.concatenate(list(stored["train_curve"])),
            "val_loss": np.concatenate(list(stored["val_curve"])),
        }
    )[CURVE_COLUMNS]


def floors_of(results: Results, dataset: str) -> dict[str, float]:
    """The floor of each criterion on ``dataset``: losses 1e-12, error rates 1 / n_test
    (1e-12 for 1 - R²), costs one step's (the smallest step of any of its methods)."""
    data = results.dataset(dataset)
    trials = results.evaluation[results.evaluation["dataset"] == dataset]
    curves = results.curves[
        (results.curves["phase"] == "eval")
        & (results.curves["dataset"] == dataset)
        & (results.curves["epoch"] == 1)
    ]
    step = curves["seconds"] / curves["steps"]
    return {
        "test_loss": metrics.LOSS_FLOOR,
        "final_train_loss": metrics.LOSS_FLOOR,
        "test_error": metrics.LOSS_FLOOR if data.task == "regression" else 1 / len(data.X_test),
        "seconds_to_target": float(step.min()) if len(step) else metrics.LOSS_FLOOR,
        "epochs_to_target": float((1 / curves["steps"]).min()) if len(trials) else 1.0,
    }


def summarise(trials: pd.DataFrame, suite: dict, floors: dict) -> pd.DataFrame:
    """One row per dataset x method of the evaluation phase (SUMMARY_COLUMNS).

    lr, hyperparameters: the tuned configuration; lr_at_edge: it is the smallest or largest
    lr tuned; tuning_trials: the method's tuning budget; n_seeds: evaluation trials; the
    criteria's center and 95% interval (geometric for losses and costs, arithmetic for the
    metric; values floored as in ``floors_of``); diverged_count: evaluation trials that
    diverged; rank: by test_loss_center per
    dataset (1 = best, ties averaged, a method without evaluation trials last).
    """
    rows = []
    for dataset in suite["datasets"]:
        for method in suite["methods"]:
            chain = trials[(trials["dataset"] == dataset) & (trials["method"] == method)]
            tune, evaluation = chain[chain["phase"] == "tune"], chain[chain["phase"] == "eval"]
            if chain.empty:
                continue
            lr = evaluation["lr"].iloc[0] if len(evaluation) else np.nan
            row = {
                "dataset": dataset,
                "method": method,
                "lr": lr,
                "hyperparameters": evaluation["hyperparameters"].iloc[0] if len(evaluation) else "",
                "lr_at_edge": bool(
                    len(evaluation)
                    and len(tune)
                    and at_edge(lr, sorted(tune["lr"].unique()), suite.get("extend_grid", 0))
                ),
                "tuning_trials": len(tune),
                "n_seeds": len(evaluation),
                "diverged_count": int(evaluation["diverged"].sum()),
            }
            for criterion, log in SUMMARY_CRITERIA:
                values = evaluation[criterion].to_numpy(dtype=float)
                if log:
                    values = metrics.floored(values, floors[dataset][criterion])
                interval = metrics.confidence_interval(values, log=log)
                parts = (f"{criterion}_{part}" for part in ("center", "lo", "hi"))
                row.update(zip(parts, interval, strict=True))
            rows.append(row)
    summary = pd.DataFrame(rows)
    summary["rank"] = summary.groupby("dataset", sort=False)["test_loss_center"].rank(
        method="average", na_option="bottom"
    )
    return summary[SUMMARY_COLUMNS]


def compare_methods(trials: pd.DataFrame, suite: dict, floors: dict) -> pd.DataFrame:
    """Per dataset x criterion, every method against the best, paired by evaluation seed."""
    evaluation = trials[trials["phase"] == "eval"]
    parts = []
    for dataset in suite["datasets"]:
        here = evaluation[evaluation["dataset"] == dataset]
        if here.empty:
            continue
        methods = [m for m in suite["methods"] if m in set(trials["method"])]
        by_seed = here.pivot_table(  # seed x (criterion, method), every criterion at once
            index="seed", columns="method", values=list(stats.CRITERIA), aggfunc="first",
            dropna=False,
        )  # fmt: skip
        for criterion in stats.CRITERIA:
            floor = floors[dataset][criterion]
            values = by_seed[criterion].reindex(columns=methods).apply(metrics.floored, floor=floor)
            shared = None
            if criterion == "seconds_to_target":  # one calibration per method: its noise
                shared = here.groupby("method")["calibration_se"].max().reindex(methods) ** 2
            margin = suite.get("margin", 0.05)
            table = stats.compare_to_best(values, margin=margin, shared_variance=shared)
            parts.append(table.assign(dataset=dataset, criterion=criterion))
    if not parts:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    return pd.concat(parts, ignore_index=True)[COMPARISON_COLUMNS]


def rank_methods(
    summary: pd.DataFrame, comparisons: pd.DataFrame
) -> tuple[stats.Friedman, pd.DataFrame]:
    """Friedman and Nemenyi on the test loss across datasets, and the ranking table: one row
    per method, its mean rank and its verdicts on test loss, best first."""
    scores = summary.pivot(index="dataset", columns="method", values="test_loss_center")
    scores = scores.reindex(columns=list(dict.fromkeys(summary["method"])))
    friedman = stats.friedman(scores)
    on_loss = comparisons[comparisons["criterion"] == "test_loss"]
    counts = pd.crosstab(on_loss["method"], on_loss["verdict"]).reindex(
        index=friedman.mean_rank.index, columns=list(stats.VERDICTS), fill_value=0
    )
    ranking = pd.DataFrame({"mean_rank": friedman.mean_rank}).join(counts.fillna(0).astype(int))
    ranking["datasets"] = summary.groupby("method")["dataset"].nunique()
    ranking = ranking.reset_index(names="method")
    return friedman, ranking[RANKING_COLUMNS]


def compare(a: Results, b: Results) -> pd.DataFrame:
    """The older per-pair view of two runs, kept for ``from bench.tables import compare``:
    ``bench.changes.centers``. What changed between two runs is ``bench.compare(a, b)``."""
    from bench.changes import centers

    return centers(a, b)
