"""What the figures read from a run (a Results) beyond its tables: its methods and datasets
in suite order, and the task of a dataset."""

from __future__ import annotations


def methods_of(results) -> list[str]:
    """The methods of a run that have trials, in suite order."""
    present = set(results.trials["method"])
    listed = [m for m in results.suite.get("methods", {}) if m in present]
    return listed + [m for m in dict.fromkeys(results.trials["method"]) if m not in listed]


def datasets_of(results) -> list[str]:
    """The datasets of a run that have trials, in suite order."""
    present = set(results.trials["dataset"])
    listed = [d for d in results.suite.get("datasets", {}) if d in present]
    return listed + [d for d in dict.fromkeys(results.trials["dataset"]) if d not in listed]


def task_of(results, dataset: str) -> str:
    """The task of a dataset (binary, multiclass, regression), as its trials record it."""
    return str(results.trials.loc[results.trials["dataset"] == dataset, "task"].iloc[0])
