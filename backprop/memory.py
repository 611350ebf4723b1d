"""glibc's heap thresholds for training: raised once per process by ``train``, trimmed when a
run ends.

A population's temporaries (K x batch x width floats) are often above glibc's default
128 KiB mmap threshold, so every NumPy temporary would be a fresh mmap whose pages fault in
on first touch and are unmapped on free: that can cost more than the arithmetic (several
times, see tests/perf/test_network_perf.py). With the thresholds raised, freed temporaries
up to MMAP_THRESHOLD are reused from the heap, and the heap keeps up to TRIM_THRESHOLD of
free memory instead of returning it to the system, until ``release_free_heap`` hands it back.

The settings are process-wide, so only ``training.train`` (and ``training.time_epochs``)
touch them, never building or evaluating a network. They are never restored: another thread
may be training, and glibc's dynamic mmap threshold cannot be put back anyway. Where glibc
is absent every function here does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

MMAP_THRESHOLD = 1 << 28  # bytes: NumPy temporaries up to this size come from glibc's heap
TRIM_THRESHOLD = 1 << 29  # bytes of free heap glibc keeps instead of returning them
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)

_raised = False  # whether this process raised the thresholds
_lock = threading.Lock()


@functools.cache
def _libc():
    """glibc, or None elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_temporaries_on_the_heap() -> None:
    """Raise glibc's mmap and trim thresholds, once per process; later calls do nothing."""
    global _raised
    with _lock:
        if _raised:
            return
        _raised = True
        libc = _libc()
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def release_free_heap() -> None:
    """Return the heap's free memory to the system (glibc's malloc_trim; about 20 us after a
    small run), so a process keeps a run's freed temporaries only while the run lasts."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
