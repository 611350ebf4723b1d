"""The README's examples run and do what it says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from backprop import MLP, train

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_custom_optimizer_example_trains_alone_and_in_a_population():
    (lion_source,) = [b for b in python_blocks() if "class Lion" in b]
    namespace: dict = {}
    exec(lion_source, namespace)
    Lion = namespace["Lion"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    net = MLP([2, 8, 1], hidden="tanh", output="sigmoid", loss="binary_cross_entropy")
    alone = train(net, Lion(lr=3e-3), X, Y, batch_size=16, epochs=10, seed=1)
    assert alone.train_loss[-1, 0] < alone.train_loss[0, 0]
    together = train(net, Lion(lr=np.array([1e-3, 3e-3])), X, Y, batch_size=16, epochs=10,
                     seed=[0, 1])  # fmt: skip
    np.testing.assert_allclose(together.train_loss[:, 1], alone.train_loss[:, 0], rtol=1e-10)
    # Lion's first step moves every weight by exactly lr (the sign of the gradient)
    one = train(net, Lion(lr=1e-3), X, Y, batch_size=None, epochs=1, seed=1)
    moved = np.abs(one.params[0] - net.init(1)[0])
    np.testing.assert_allclose(moved[moved > 0], 1e-3, rtol=1e-9)


def test_the_library_example_runs():
    (library,) = [b for b in python_blocks() if "from backprop.optimizers import Adam" in b]
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(size=(100, 2)), rng.normal(size=(40, 2))
    Y, Yv = (X[:, :1] > 0).astype(float), (Xv[:, :1] > 0).astype(float)
    namespace = {"X": X, "Y": Y, "Xv": Xv, "Yv": Yv}
    exec(library, namespace)
    history = namespace["history"]
    assert history.train_loss.shape == (21, 20)
    assert np.isfinite(history.train_loss).all()
