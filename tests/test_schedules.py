"""Learning-rate schedules: factors at given epochs, computed by hand."""

from __future__ import annotations

import math

import pytest

from backprop.schedules import Constant, Cosine, Exponential, InverseTime, StepDecay


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Constant(), [1, 1, 1, 1]),
        (StepDecay(step_size=2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25]),
        (Exponential(gamma=0.9), [1, 0.9, 0.81, 0.729]),
        (InverseTime(decay_rate=0.5), [1, 1 / 1.5, 0.5, 1 / 2.5]),
        (InverseTime(decay_rate=1.0, decay_steps=4), [1, 0.8, 1 / 1.5]),
        (
            Cosine(epochs=4),
            [1, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 - math.cos(math.pi / 4)) / 2, 0],
        ),
        (Cosine(epochs=2, min_factor=0.2), [1, 0.6, 0.2, 0.2]),
        (Cosine(epochs=5, warmup=2), [1 / 3, 2 / 3, 1, 0.75, 0.25, 0]),
    ],
)
def test_schedule_factors(schedule, expected):
    assert [schedule(e) for e in range(len(expected))] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StepDecay(step_size=0), "step_size must be in"),
        (lambda: StepDecay(step_size=2, gamma=0.0), r"gamma must be in \(0, 1\], got 0.0"),
        (lambda: Exponential(gamma=1.5), r"gamma must be in \(0, 1\], got 1.5"),
        (lambda: InverseTime(decay_rate=-1), "decay_rate must be in"),
        (lambda: Cosine(epochs=0), "epochs must be in"),
        (lambda: Cosine(epochs=3, warmup=3), "warmup must be in"),
        (lambda: Cosine(epochs=3, min_factor=2), "min_factor must be in"),
    ],
)
def test_bad_schedule_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()
