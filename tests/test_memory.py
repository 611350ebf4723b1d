"""memory.py: only a training run touches glibc's heap settings: it raises the thresholds once
per process, trims after every run, never restores them, and nothing happens without glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from backprop import MLP, memory, train
from backprop.optimizers import SGD
from backprop.training import time_epochs

ROOT = Path(__file__).resolve().parents[1]
RAISE = [
    ("mallopt", memory.M_MMAP_THRESHOLD, memory.MMAP_THRESHOLD),
    ("mallopt", memory.M_TRIM_THRESHOLD, memory.TRIM_THRESHOLD),
]
TRIM = ("malloc_trim", 0)
X, Y = np.random.default_rng(0).normal(size=(12, 2)), np.ones((12, 1))


class FakeLibc:
    """Records the calls that would have changed the process's heap."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch) -> FakeLibc:
    """A fake glibc, in a process that has not raised the thresholds yet."""
    fake = FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    monkeypatch.setattr(memory, "_raised", False)
    return fake


def test_building_and_using_a_network_leaves_malloc_alone(libc):
    net = MLP([2, 4, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    params = net.init(seed=0, population=2)
    net.loss_and_grad(params, X, Y)
    net.loss_value(params, X, Y)
    net.predict(params, X)
    assert libc.calls == []


def test_train_raises_the_thresholds_once_per_process_and_trims_after_every_run(libc):
    net = MLP([2, 4, 1], hidden="relu", output="sigmoid", loss="binary_cross_entropy")
    train(net, SGD(lr=0.1), X, Y, batch_size=4, epochs=2)
    assert libc.calls == [*RAISE, TRIM]
    train(net, SGD(lr=0.1), X, Y, batch_size=None, epochs=1, seed=[1, 2])
    time_epochs(net, SGD(lr=0.1), X, Y, batch_size=4, epochs=1)
    assert libc.calls == [*RAISE, TRIM, TRIM, TRIM]  # raised once, never restored


def test_a_run_that_fails_still_trims(libc):
    class Failing(SGD):
        def step(self, params, grads, state):
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        train(MLP([2, 1]), Failing(lr=0.1), X, Y, epochs=1)
    assert libc.calls == [*RAISE, TRIM]


def test_threads_training_at_once_raise_the_thresholds_once(libc):
    threads = [threading.Thread(target=memory.keep_temporaries_on_the_heap) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert libc.calls == RAISE


def test_without_glibc_training_works_and_nothing_is_called(monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: None)
    monkeypatch.setattr(memory, "_raised", False)
    history = train(MLP([2, 1]), SGD(lr=0.1), X, Y, epochs=2)
    assert history.train_loss[-1, 0] < history.train_loss[0, 0]
    assert memory._raised  # once per process, glibc or not


# A fresh process: is an allocation of 64 MiB (above glibc's largest dynamic mmap threshold,
# 32 MiB, below MMAP_THRESHOLD) its own mmap, as by default, or taken from the heap?
PROBE = """
import ctypes
import numpy as np
from backprop import MLP, train
from backprop.optimizers import SGD

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info

def mmapped(size=64 << 20):
    before = libc.mallinfo2().hblkhd
    block = np.ones(size // 8)
    return libc.mallinfo2().hblkhd - before >= size

X, Y = np.zeros((4, 2)), np.zeros((4, 1))
net = MLP([2, 3, 1])
net.loss_and_grad(net.init(seed=0, population=2), X, Y)
print(mmapped())
train(net, SGD(lr=0.1), X, Y, epochs=1)
print(mmapped())
"""


def has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


@pytest.mark.slow
@pytest.mark.skipif(not has_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2)")
def test_in_a_fresh_process_only_train_moves_large_temporaries_to_the_heap():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]  # mmapped after MLP, heap after train
