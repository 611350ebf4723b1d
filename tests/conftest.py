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
