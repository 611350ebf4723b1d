"""The README's examples run and do what it says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

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
    together = train(
        net, Lion(lr=np.array([1e-3, 3e-3])), X, Y, batch_size=16, epochs=10, seed=[0, 1]
    )
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


def readme_example(name: str) -> str:
    """The code block after ``<!-- readme-example: NAME -->``, verbatim."""
    pattern = rf"<!-- readme-example: {re.escape(name)} -->\n```\w+\n(.*?)```"
    (block,) = re.findall(pattern, README.read_text(), flags=re.S)
    return block


@pytest.mark.slow
def test_the_harness_example_runs_a_custom_dataset_to_a_report(tmp_path, monkeypatch):
    (tmp_path / "rings.py").write_text(readme_example("rings.py"))
    (tmp_path / "tiny.toml").write_text(readme_example("tiny.toml"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(readme_example("api"), namespace)
    results = namespace["results"]
    out = tmp_path / "results" / "tiny"
    assert Path(results.out).resolve() == out.resolve()
    summary = results.summary
    assert sorted(zip(summary["dataset"], summary["method"], strict=True)) == [
        ("moons", "adam"),
        ("moons", "sgd"),
        ("rings", "adam"),
        ("rings", "sgd"),
    ]
    assert (summary["n_seeds"] == 3).all() and np.isfinite(summary["test_loss_center"]).all()
    assert set(results.ranking["method"]) == {"sgd", "adam"}
    assert set(results.comparisons["dataset"]) == {"moons", "rings"}
    assert results.friedman.n_datasets == 2
    assert len(results.evaluation) == 2 * 2 * 3  # method x dataset x seed
    assert len(results.tuning) == 2 * 2 * 2 * 2  # method x dataset x lr x tuning seed
    # the custom generator made the rings dataset: 200 samples, 2 features, two classes
    rings = results.dataset("rings")
    assert rings.n_features == 2 and rings.n_outputs == 1 and rings.loss == "binary_cross_entropy"
    assert len(rings.X_train) + len(rings.X_val) + len(rings.X_test) == 200
    assert rings.task == "binary" and set(np.unique(rings.Y_train)) == {0.0, 1.0}
    winner, params, net = namespace["winner"], namespace["params"], namespace["net"]
    assert winner.method in ("sgd", "adam") and winner["rank"] == 1
    assert [p.shape for p in params] == [(1, 2, 8), (1, 1, 8), (1, 8, 1), (1, 1, 1)]
    assert net.sizes == (2, 8, 1)
    fig, path = namespace["fig"], Path(namespace["path"])
    assert (
        isinstance(fig, Figure) and fig.axes[0].get_title() == "test loss on moons, early-stopped"
    )
    assert path == Path("results/tiny/final_test.svg") and path.read_text().startswith("<?xml")
    changes = namespace["changes"]
    assert changes["values"].empty and changes["settings"].empty and changes["only"].empty
    assert len(changes["pairs"]) == 4 and (changes["pairs"]["trials_differing"] == 0).all()
    html = Path(namespace["html"]).resolve()
    assert html == out.resolve() / "report.html" and (out / "report.md").is_file()
    assert "rings" in html.read_text() and (out / "figures" / "final_test.png").is_file()
