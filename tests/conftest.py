"""Shared test helpers. An optional part (torch, dask, chromium) that is missing skips its
tests on a user's machine, but fails them under CI=true, where CI has installed everything."""

from __future__ import annotations

import importlib
import os
import re
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing_optional(what: str) -> None:
    """Skip the calling test because ``what`` is missing, or fail it under CI=true."""
    message = f"optional part not available: {what}"
    if IN_CI:
        pytest.fail(message + " (CI=true: CI must install every optional part)")
    pytest.skip(message)


def require_module(name: str):
    """Import an optional module, or skip (fail under CI) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_optional(f"Python module {name!r}")


def require_executable(*names: str) -> str:
    """The path of the first executable found, or skip (fail under CI)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing_optional(f"executable {' or '.join(names)!r}")
    return ""


def proc_status_mib(field: str) -> float:
    """A memory figure of this process from /proc/self/status in MiB: "VmRSS" (resident now)
    or "VmHWM" (its own peak; unlike ru_maxrss, not counting the RSS its parent had when it
    forked)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def full_batch_suite(name: str, optimizer: str) -> str:
    """A suite file's text: one full-batch method ``name`` of ``optimizer`` ("module:Class")
    with lrs 0.1 and 1000 (which diverges) on three 100-sample datasets, 3 epochs, one tuning
    seed and two evaluation seeds, the grid not extended: six small populations in sequence,
    for the tests that stop a run between two of them."""
    return f"""
[suite]
name = "{name}"
methods = ["{name}"]
datasets = ["moons", "circles", "blobs"]
epochs = 3
seeds = 2
tuning_seeds = 1
extend_grid = 0

[model]
hidden = [4]

[method.{name}]
optimizer = "{optimizer}"
batch_size = "full"
lr = [0.1, 1000.0]

[dataset.moons]
n_samples = 100

[dataset.circles]
n_samples = 100

[dataset.blobs]
n_samples = 100
"""
