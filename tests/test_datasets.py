"""The benchmark's datasets: shapes, 60/20/20 stratified split, train-only scaling, targets."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import USER_SOURCE

from bench.datasets import (
    BUILTIN_DATASETS,
    GENERATORS,
    DatasetError,
    DatasetSpec,
    infer_task,
    load_dataset,
    split_indices,
    standardise,
)

# name -> (task, n_features, n_outputs, n_train, n_val, n_test) at the default parameters
EXPECTED = {
    "moons": ("binary", 2, 1, 600, 200, 200),
    "circles": ("binary", 2, 1, 600, 200, 200),
    "blobs": ("multiclass", 2, 4, 600, 200, 200),
    "classification": ("multiclass", 20, 3, 600, 200, 200),
    "regression": ("regression", 10, 1, 600, 200, 200),
    "friedman1": ("regression", 10, 1, 600, 200, 200),
    "digits": ("multiclass", 64, 10, 1077, 360, 360),
}
HEADS = {
    "binary": ("sigmoid", "binary_cross_entropy"),
    "multiclass": ("softmax", "softmax_cross_entropy"),
    "regression": ("identity", "half_squared_error"),
}
SPLITS = ("X_train", "Y_train", "X_val", "Y_val", "X_test", "Y_test")


def spec(name: str = "moons", seed: int = 0, **overrides) -> DatasetSpec:
    """The spec of a built-in dataset with some parameters (or spec fields) overridden."""
    fields = {k: overrides.pop(k) for k in ("output", "loss", "task") if k in overrides}
    generator = overrides.pop("generator", name)
    params = {**BUILTIN_DATASETS.get(name, {"params": {}})["params"], **overrides}
    return DatasetSpec(name, generator, params, seed, None, **fields)


def user_generator(tmp_path, monkeypatch, module: str, source: str) -> str:
    """Write ``source`` as module ``module`` importable from tmp_path; return its path prefix."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_every_builtin_dataset_has_a_generator_and_a_target_loss():
    assert set(BUILTIN_DATASETS) == set(GENERATORS) == set(EXPECTED)
    for name, fields in BUILTIN_DATASETS.items():
        assert fields["generator"] == name
        assert fields["target_loss"] > 0
        assert "seed" not in fields["params"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_dataset_loads_with_the_task_shapes_and_head_of_its_kind(name):
    data = load_dataset(spec(name))
    task, d, m, n_train, n_val, n_test = EXPECTED[name]
    assert (data.name, data.task) == (name, task)
    assert (data.output, data.loss) == HEADS[task]
    assert data.X_train.shape == (n_train, d) and data.Y_train.shape == (n_train, m)
    assert data.X_val.shape == (n_val, d) and data.Y_val.shape == (n_val, m)
    assert data.X_test.shape == (n_test, d) and data.Y_test.shape == (n_test, m)
    assert (data.n_features, data.n_outputs, data.n_train) == (d, m, n_train)
    assert all(getattr(data, s).dtype == np.float64 for s in SPLITS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_seed_gives_identical_arrays_and_another_seed_different_ones(name):
    first, again, other = (load_dataset(spec(name, seed)) for seed in (3, 3, 4))
    for split in SPLITS:
        assert np.array_equal(getattr(first, split), getattr(again, split))
    assert not np.array_equal(first.X_train, other.X_train)


def test_standardise_uses_the_training_statistics_and_keeps_a_constant_column_at_std_1():
    # train column 0: mean 2, std 1; column 1 is constant 5: mean 5, std taken as 1
    train, other = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[5.0, 6.0]]))
    assert np.array_equal(train, [[-1.0, 0.0], [1.0, 0.0]])
    assert np.array_equal(other, [[3.0, 1.0]])


def test_features_are_standardised_on_the_training_split_only():
    data = load_dataset(spec("classification"))
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0, rtol=1e-12)
    # the validation split is scaled with the training statistics, so it is not centred itself
    assert np.abs(data.X_val.mean(axis=0)).max() > 1e-3
    X, y = GENERATORS["classification"](**BUILTIN_DATASETS["classification"]["params"], seed=0)
    train, val, _ = split_indices(y, "multiclass", seed=0)
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    np.testing.assert_allclose(data.X_val, (X[val] - mean) / std, rtol=1e-12, atol=1e-12)


def test_digits_constant_pixels_stay_zero_and_the_others_are_standardised():
    data = load_dataset(spec("digits"))
    constant = np.ptp(data.X_train, axis=0) == 0
    assert constant.any()  # pixel 0 is blank in every training image
    assert np.array_equal(data.X_train[:, constant], np.zeros((data.n_train, constant.sum())))
    np.testing.assert_allclose(data.X_train[:, ~constant].std(axis=0), 1.0, rtol=1e-12)


def test_regression_targets_are_standardised_with_the_training_statistics():
    data = load_dataset(spec("friedman1"))
    assert data.Y_train.mean() == pytest.approx(0.0, abs=1e-12)
    assert data.Y_train.std() == pytest.approx(1.0, rel=1e-12)
    X, y = GENERATORS["friedman1"](**BUILTIN_DATASETS["friedman1"]["params"], seed=0)
    train, _, test = split_indices(y, "regression", seed=0)
    expected = (y[test] - y[train].mean()) / y[train].std()
    np.testing.assert_allclose(data.Y_test[:, 0], expected, rtol=1e-12)


def test_split_is_stratified_by_class():
    # blobs: 1000 samples, 4 classes of 250 -> 150 / 50 / 50 of each class
    data = load_dataset(spec("blobs"))
    assert data.Y_train.sum(axis=0).tolist() == [150.0] * 4
    assert data.Y_val.sum(axis=0).tolist() == [50.0] * 4
    assert data.Y_test.sum(axis=0).tolist() == [50.0] * 4
    digits = load_dataset(spec("digits"))
    overall = np.concatenate([digits.Y_train, digits.Y_val, digits.Y_test]).mean(axis=0)
    for part, n in ((digits.Y_train, 1077), (digits.Y_test, 360)):
        assert np.abs(part.sum(axis=0) - overall * n).max() <= 1.0


def test_split_indices_are_60_20_20_and_disjoint():
    train, val, test = split_indices(np.arange(100) % 2, "binary", seed=0)
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))


def test_digits_subsample_is_stratified_and_deterministic():
    X, y = GENERATORS["digits"](n_samples=500, seed=1)
    X2, y2 = GENERATORS["digits"](n_samples=500, seed=1)
    assert X.shape == (500, 64) and np.array_equal(X, X2) and np.array_equal(y, y2)
    _, y_all = GENERATORS["digits"]()
    expected = np.bincount(y_all) * 500 / len(y_all)  # each digit's share of all 1797 images
    assert np.abs(np.bincount(y.astype(int)) - expected).max() < 1.0
    with pytest.raises(ValueError, match="n_samples must be an int from 10 to 1797, got 5000"):
        GENERATORS["digits"](n_samples=5000)


ONE_HOT_SOURCE = """
import numpy as np

def labelled(n_samples=90, seed=0):
    # labels 3, 7 and 9; column 0 is the label itself, column 1 noise
    rng = np.random.default_rng(seed)
    y = np.array([3, 7, 9] * (n_samples // 3))
    return np.column_stack([y, rng.normal(size=len(y))]), y
"""


def test_multiclass_targets_are_one_hot_rows_of_the_sorted_labels(tmp_path, monkeypatch):
    module = user_generator(tmp_path, monkeypatch, "b1_labelled", ONE_HOT_SOURCE)
    data = load_dataset(spec("labelled", generator=f"{module}:labelled"))
    assert data.task == "multiclass" and data.Y_train.shape == (54, 3)
    assert set(np.unique(data.Y_train)) == {0.0, 1.0}
    assert np.array_equal(data.Y_train.sum(axis=1), np.ones(54))
    # column 0 of X is the standardised label: its rank is the class (3 -> 0, 7 -> 1, 9 -> 2)
    rank = np.searchsorted(np.unique(data.X_train[:, 0]), data.X_train[:, 0])
    assert np.array_equal(data.Y_train.argmax(axis=1), rank)


def test_binary_targets_are_one_column_or_two_one_hot_columns_for_softmax():
    plain = load_dataset(spec("moons"))
    assert plain.Y_train.shape == (600, 1) and set(np.unique(plain.Y_train)) == {0.0, 1.0}
    softmax = load_dataset(spec("moons", output="softmax"))
    assert (softmax.output, softmax.loss) == ("softmax", "softmax_cross_entropy")
    assert np.array_equal(softmax.Y_train, np.column_stack([1 - plain.Y_train, plain.Y_train]))


def test_a_suite_may_override_the_loss_with_a_valid_pairing():
    data = load_dataset(spec("blobs", loss="half_squared_error"))
    assert (data.output, data.loss) == ("softmax", "half_squared_error")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"output": "softmax", "loss": "binary_cross_entropy"}, "does not pair with output"),
        ({"output": "sigmod"}, "dataset 'moons': unknown output activation 'sigmod'"),
        ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ],
)
def test_a_bad_output_or_loss_is_rejected(overrides, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(spec("moons", **overrides))


def test_regression_rejects_an_output_other_than_identity():
    with pytest.raises(DatasetError, match="output 'sigmoid' cannot fit standardised regression"):
        load_dataset(spec("friedman1", output="sigmoid", loss="half_squared_error"))


def test_a_user_generator_by_import_path_is_called_with_its_params_and_seed(tmp_path, monkeypatch):
    module = user_generator(tmp_path, monkeypatch, "b1_user_gen", USER_SOURCE)
    line = spec("line", generator=f"{module}:noisy_line", n_samples=100, slope=-1.0)
    data = load_dataset(line)
    assert data.task == "regression" and data.X_train.shape == (60, 1)
    assert (data.output, data.loss) == ("identity", "half_squared_error")
    # y = -x + small noise, both standardised: the correlation is close to -1
    assert np.corrcoef(data.X_train[:, 0], data.Y_train[:, 0])[0, 1] < -0.98
    other_seed = load_dataset(spec("line", 1, generator=f"{module}:noisy_line", n_samples=100))
    assert not np.array_equal(data.X_train, other_seed.X_train)
    binary = load_dataset(spec("halves", generator=f"{module}:two_classes"))
    assert binary.task == "binary" and binary.Y_train.sum() == 12  # 24 train, half of each


def test_a_user_generator_task_can_be_given(tmp_path, monkeypatch):
    module = user_generator(tmp_path, monkeypatch, "b1_user_task", USER_SOURCE)
    data = load_dataset(spec("halves", generator=f"{module}:two_classes", task="regression"))
    assert data.task == "regression" and data.Y_train.mean() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(DatasetError, match="task 'multiclass' needs integer class labels"):
        load_dataset(spec("line", generator=f"{module}:noisy_line", task="multiclass"))


@pytest.mark.parametrize(
    "function, message",
    [
        ("with_nan", r"dataset 'bad': X has 1 NaN and 0 inf values"),
        ("with_inf", r"dataset 'bad': y has 0 NaN and 1 inf values"),
        ("not_callable", "is not callable"),
        ("words", "generator 'b1_bad_words:words': could not convert string to float"),
        ("missing", "has no attribute 'missing'"),
    ],
)
def test_a_bad_user_generator_is_rejected_naming_the_dataset(
    tmp_path, monkeypatch, function, message
):
    module = user_generator(tmp_path, monkeypatch, f"b1_bad_{function}", USER_SOURCE)
    with pytest.raises(DatasetError, match=message):
        load_dataset(spec("bad", generator=f"{module}:{function}"))


@pytest.mark.parametrize(
    "generator, params, message",
    [
        ("nosuch", {}, "unknown generator 'nosuch'; allowed: "),
        ("b1_no_such_module:f", {}, "cannot import module 'b1_no_such_module'"),
        ("moons", {"n_samples": -5}, "dataset 'moons': generator 'moons': .*n_samples"),
        ("moons", {"n_samples": 4}, "dataset 'moons': cannot split 4 samples"),
    ],
)
def test_bad_generators_and_params_raise_dataset_error(generator, params, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(DatasetSpec("moons", generator, params, 0, None))


@pytest.mark.parametrize(
    "y, task",
    [
        ([0, 1, 1, 0], "binary"),
        ([2.0, 5.0, 2.0], "binary"),
        ([0, 1, 2, 1], "multiclass"),
        ([0.5, 1.0, 2.0], "regression"),
        (list(range(21)), "regression"),
        ([1, 1, 1], "regression"),
    ],
)
def test_infer_task_from_the_labels(y, task):
    assert infer_task(np.asarray(y, dtype=float)) == task
