"""Benchmark helpers: one BLAS thread for small networks, and a summary of ratios.

Benchmarks that share a pytest-benchmark ``group`` are timed side by side in one run; at the
end the summary prints, per group, every entry's median and its speed relative to the peer
named ``peer`` in that group (``benchmark.extra_info["peer"] = True``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# tests/conftest.py's helpers, under the name tests/perf modules import them by
_spec = importlib.util.spec_from_file_location(
    "tests_conftest", Path(__file__).parents[1] / "conftest.py"
)
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
require_module, require_executable = _shared.require_module, _shared.require_executable


@pytest.fixture
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or bench.name, []).append(bench)
    write = terminalreporter.write_line
    write("")
    write("side-by-side ratios (peer median / entry median, per replica where noted):")
    for group, entries in sorted(groups.items()):
        peers = [b for b in entries if b.extra_info.get("peer")]
        write(f"  [{group}]")
        for b in entries:
            per = b.extra_info.get("replicas", 1)
            median = b.stats.median / per
            line = f"    {b.name:<55} median {median * 1e3:9.3f} ms"
            if per > 1:
                line += f" per replica (K={per})"
            if peers and b not in peers:
                line += f"   {peers[0].stats.median / median:6.1f}x the peer's speed"
            for key in ("gemm_ratio", "peak_mib"):
                if key in b.extra_info:
                    line += f"   {key}={b.extra_info[key]:.2f}"
            write(line)
