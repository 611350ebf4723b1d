"""Measure how long each built-in suite takes, for ``python -m bench list``.

    .venv/bin/python scripts/measure_suites.py            # every built-in suite
    .venv/bin/python scripts/measure_suites.py quick default

Runs ``python -m bench run --suite NAME`` into a fresh temporary folder (training, tables,
figures and report, with one worker per core: what a user's first run does) and writes the
wall-clock seconds, the number of cores, the date and the digest of the suite's definition
and engine to bench/suites/durations.json. Rerun it when a suite or the engine changes:
``bench list`` says when the digest no longer matches. Run it on an otherwise idle machine of
the class the README names (2 cores).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.suite import DURATIONS_FILE, builtin_suite_names, load_suite, settings_digest


def measure(name: str) -> dict:
    """One run of a built-in suite into a temporary folder: its duration and what it was of."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bench", "run", "--suite", name, "--out", folder],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 1),
        "cores": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
        "settings": settings_digest(load_suite(name)),
    }


def main(names: list[str]) -> None:
    durations = json.loads(DURATIONS_FILE.read_text()) if DURATIONS_FILE.exists() else {}
    for name in names or builtin_suite_names():
        durations[name] = measure(name)
        print(f"{name}: {durations[name]['seconds']} s", flush=True)
        DURATIONS_FILE.write_text(json.dumps(durations, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
