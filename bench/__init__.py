"""bench: the benchmark harness around ``backprop``: datasets, suites, runner, store, tables.

For notebooks: ``bench.run(suite, out=..., jobs=...)`` trains a suite and ``bench.load(DIR)``
reads a finished one; both return a ``bench.Results`` holding the trials, curves, summary and
ranking DataFrames; ``bench.compare(a, b)`` returns what changed between two Results as
DataFrames. They are imported on first use, so that ``import bench.datasets`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.changes import compare
    from bench.runner import run
    from bench.tables import Results, load

__all__ = ["Results", "compare", "load", "run"]


def __getattr__(name: str):
    if name == "run":
        from bench.runner import run

        return run
    if name == "compare":
        from bench.changes import compare

        return compare
    if name in ("Results", "load"):
        from bench import tables

        return getattr(tables, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
