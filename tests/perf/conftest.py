"""Benchmark fixtures: one BLAS thread for small networks, and a summary of ratios.

``helpers.side_by_side`` times an entry with pytest-benchmark and runs its peer, timed, before
every round, so the two alternate on the same machine state; the summary at the end prints
each entry's median, the peer's median from the same rounds, and the speed-up (per replica
where the entry trains a population).
"""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


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
    write("side by side: each entry's median, its peer's median from the same rounds, speed-up")
    for group, entries in sorted(groups.items()):
        write(f"  [{group}]")
        for b in entries:
            info = b.extra_info
            per = info.get("replicas", 1)
            median = b.stats.median / per
            line = f"    {b.name:<40} {median * 1e3:9.3f} ms"
            if per > 1:
                line += f" per replica (K={per})"
            if "peer_median" in info:
                line += f"   {info['peer']} {info['peer_median'] * 1e3:.1f} ms"
                if "gemm_ratio" not in info:  # that entry is its products' time, not a peer
                    line += f": {info['peer_median'] / median:.1f}x"
            for key in ("gemm_ratio", "peak_mib"):
                if key in info:
                    line += f"   {key}={info[key]:.2f}"
            if "target" in info:
                line += f"   (target {info['target']})"
            write(line)
