"""Fixtures shared by the test modules, and the ``optional`` marker's check; the helpers they
import are in helpers.py.

Two suites are run once per session and read by many modules: ``tiny`` (helpers.TINY: the
runner's, the folder's, the faults', compare's and Dask's tests) and ``planted``
(helpers.PLANTED, drawn: the figures', the report's and the browser's tests; a test that
uses it is marked slow here). Both are for reading: a test that writes into a results folder
copies it first.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest
from helpers import PLANTED, require_optional, write_suite

if TYPE_CHECKING:  # imported in the fixtures: a run of one fast module should not pay for them
    import bench


# Slow by what they use: the planted run and its figures take about 10 s.
SLOW_FIXTURES = {"planted", "planted_report"}


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a fixture of SLOW_FIXTURES, even through another."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``optional(name)`` skips when that part is missing (fails under CI)."""
    for marker in item.iter_markers("optional"):
        require_optional(*marker.args)


class FinishedRun(NamedTuple):
    """A suite run to its end: its suite file, its results folder and its Results."""

    path: Path
    out: Path
    results: bench.Results


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> FinishedRun:
    """The tiny suite (helpers.TINY) run once with jobs=1."""
    import bench

    folder = tmp_path_factory.mktemp("tiny")
    path = write_suite(folder)
    out = folder / "out"
    return FinishedRun(path, out, bench.run(path, out=out, jobs=1, progress=False))


class Drawn(NamedTuple):
    """The planted run and every figure drawn from it (``plots.draw_figures``)."""

    results: bench.Results
    figures: dict


@pytest.fixture(scope="session")
def planted(tmp_path_factory) -> Drawn:
    """The planted suite (helpers.PLANTED) run once with jobs=1, and its figures drawn."""
    import bench
    from bench import plots

    folder = tmp_path_factory.mktemp("planted")
    path = write_suite(folder, PLANTED, "planted.toml")
    results = bench.run(path, out=folder / "out", jobs=1, progress=False)
    return Drawn(results, plots.draw_figures(results, folder / "out" / "figures"))


@pytest.fixture(scope="session")
def planted_report(planted) -> Path:
    """report.html of the planted run (report.md beside it), written once."""
    from bench import report

    return report.write_report(planted.results, planted.figures)


@pytest.fixture
def reports(monkeypatch):
    """bench.report replaced by a module whose write_report records its calls and does the
    caller's ``meanwhile`` work (the tables), drawing nothing: tests about training, the
    store and the command line (drawing is tested with the report, test_report.py)."""
    calls = []

    def write_report(results, jobs=1, format="png", meanwhile=None):
        calls.append(results)
        if meanwhile is not None:
            meanwhile()
        return results.out / "report.html"

    stub = types.ModuleType("bench.report")
    stub.write_report = write_report
    monkeypatch.setitem(sys.modules, "bench.report", stub)
    return calls
