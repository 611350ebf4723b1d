"""The benchmark's datasets: scikit-learn generators and the real 8x8 digits, split and scaled.

A dataset is fixed by its spec (generator, parameters, seed) and is the same for every trial:

    (X, y) = generator(**params, seed=seed)
    train / val / test = 60 / 20 / 20 %, stratified by class for classification
    X <- (X - mean_train) / std_train        (training split only; a constant column: std 1)
    Y  = a 0/1 column (binary), one-hot rows (multi-class), or (y - mean_train) / std_train

The task sets the default output and loss; a suite may override them with a valid pairing.
A generator may also be a user's function named by import path, ``"pkg.module:func"``, that
returns (X, y); it receives ``seed`` when it has such a parameter.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from backprop.network import MLP
from bench.common import accepted_keywords, frozen, import_object, jsonable

TASKS = ("binary", "multiclass", "regression")
# A user's y that is integer-valued with at most this many distinct values is a class label.
MAX_CLASSES = 20
DEFAULT_OUTPUT = {"binary": "sigmoid", "multiclass": "softmax", "regression": "identity"}
# The loss that goes with an output activation unless the suite names another.
DEFAULT_LOSS = {
    "sigmoid": "binary_cross_entropy",
    "softmax": "softmax_cross_entropy",
    "identity": "half_squared_error",
}
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2
SPLIT_RULE = (
    "60/20/20 train/validation/test, stratified by class for classification, deterministic from "
    "the dataset's seed; features standardised with the training split's mean and std only"
)
TARGET_RULE = {
    "binary": "a 0/1 column; output sigmoid, loss binary_cross_entropy unless overridden",
    "multiclass": "one-hot rows; output softmax, loss softmax_cross_entropy unless overridden",
    "regression": "standardised with the training split's mean and std; output identity, "
    "loss half_squared_error",
}


class DatasetError(ValueError):
    """A dataset that cannot be built: bad parameters, a failing generator, NaN or inf data."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: generator, its parameters and the seed that fixes generation and split.

    ``output``/``loss`` override the task's defaults; ``task`` overrides the inference for a
    user's generator (binary, multiclass or regression).
    """

    name: str
    generator: str
    params: dict
    seed: int
    target_loss: float | None
    output: str | None = None
    loss: str | None = None
    task: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> DatasetSpec:
        """The inverse of ``asdict`` after a JSON round trip."""
        return cls(**frozen(data))


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset, split and scaled. X: (n, n_features) float64; Y: (n, n_outputs) float64."""

    name: str
    task: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    output: str
    loss: str

    @property
    def n_features(self) -> int:
        """d, the number of input features."""
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        """m, the number of network outputs (columns of Y)."""
        return self.Y_train.shape[1]

    @property
    def n_train(self) -> int:
        """The number of training samples."""
        return self.X_train.shape[0]


# ------------------------------------------------------------------------------ generators


def _sklearn():
    """scikit-learn's datasets module, imported on first use: importing it costs about 2 s
    (scipy.stats), which a process that only reads built datasets (a worker) never pays."""
    from sklearn import datasets

    return datasets


def _train_test_split(*arrays, **options):
    """scikit-learn's train_test_split, imported on first use (see ``_sklearn``)."""
    from sklearn.model_selection import train_test_split

    return train_test_split(*arrays, **options)


def moons(n_samples: int = 1000, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Two interleaving half circles in 2-D (binary)."""
    return _sklearn().make_moons(n_samples=n_samples, noise=noise, random_state=seed)


def circles(
    n_samples: int = 1000, noise: float = 0.1, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """A circle inside a larger circle in 2-D (binary); ``factor`` is the inner radius."""
    return _sklearn().make_circles(
        n_samples=n_samples, noise=noise, factor=factor, random_state=seed
    )


def blobs(
    n_samples: int = 1000, centers: int = 4, cluster_std: float = 1.5, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Isotropic Gaussian blobs in 2-D, one class per centre (multi-class, 4 by default)."""
    return _sklearn().make_blobs(
        n_samples=n_samples, centers=centers, cluster_std=cluster_std, random_state=seed
    )


def classification(
    n_samples: int = 1000,
    n_features: int = 20,
    n_informative: int = 5,
    n_classes: int = 3,
    flip_y: float = 0.01,
    class_sep: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    """Madelon-style clusters on a hypercube (multi-class); ``flip_y`` is the label noise."""
    return _sklearn().make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_classes=n_classes,
        flip_y=flip_y,
        class_sep=class_sep,
        random_state=seed,
    )


def regression(
    n_samples: int = 1000, n_features: int = 10, noise: float = 10.0, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """A random linear model plus Gaussian noise of std ``noise`` (regression)."""
    return _sklearn().make_regression(
        n_samples=n_samples, n_features=n_features, noise=noise, random_state=seed
    )


def friedman1(n_samples: int = 1000, noise: float = 1.0, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Friedman #1: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise, 10 features."""
    return _sklearn().make_friedman1(n_samples=n_samples, noise=noise, random_state=seed)


def digits(n_samples: int = 1797, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The real 8x8 handwritten digits of scikit-learn (10 classes, 64 pixels in 0..16).

    ``n_samples`` below 1797 takes a stratified subsample, deterministic from ``seed``.
    """
    X, y = _sklearn().load_digits(return_X_y=True)
    if not isinstance(n_samples, int) or not 10 <= n_samples <= len(y):
        raise ValueError(f"n_samples must be an int from 10 to {len(y)}, got {n_samples!r}")
    if n_samples == len(y):
        return X, y
    X, _, y, _ = _train_test_split(X, y, train_size=n_samples, stratify=y, random_state=seed)
    return X, y


GENERATORS: dict[str, Callable[..., tuple[np.ndarray, ...]]] = {
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "classification": classification,
    "regression": regression,
    "friedman1": friedman1,
    "digits": digits,
}

# The target loss of each built-in dataset at its default parameters: a training loss that
# most methods reach at their tuned lr within 50 epochs (hidden [32], relu), some only late.
TARGET_LOSSES = {
    "moons": 0.15,
    "circles": 0.05,
    "blobs": 0.5,
    "classification": 0.45,
    "regression": 0.02,
    "friedman1": 0.05,
    "digits": 0.05,
}


def generator_defaults(generator: Callable) -> dict[str, Any]:
    """The keyword parameters of a generator and their defaults, without ``seed``."""
    return {
        name: p.default
        for name, p in inspect.signature(generator).parameters.items()
        if name != "seed" and p.default is not inspect.Parameter.empty
    }


BUILTIN_DATASETS: dict[str, dict] = {
    name: {
        "generator": name,
        "params": generator_defaults(generator),
        "target_loss": TARGET_LOSSES[name],
    }
    for name, generator in GENERATORS.items()
}


# ------------------------------------------------------------------------------ loading


def resolve_generator(generator: str) -> Callable[..., tuple[np.ndarray, ...]]:
    """A built-in generator by name, or a user's function by import path."""
    if ":" not in generator:
        if generator not in GENERATORS:
            raise DatasetError(
                f"unknown generator {generator!r}; allowed: {sorted(GENERATORS)} "
                "or an import path 'pkg.module:func'"
            )
        return GENERATORS[generator]
    try:
        function = import_object(generator)
    except ImportError as err:
        raise DatasetError(str(err)) from None
    if not callable(function):
        raise DatasetError(f"generator {generator!r} is not callable: {function!r}")
    return function


def generate(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """Call the spec's generator: X (n, d) float64 and y (n,) or (n, m), both checked finite."""
    function = resolve_generator(spec.generator)
    params = dict(spec.params)
    keywords = accepted_keywords(function)
    if keywords is None or "seed" in keywords:
        params["seed"] = spec.seed
    try:
        X, y = function(**params)
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"dataset {spec.name!r}: generator {spec.generator!r}: {err}") from err
    if X.ndim != 2 or y.ndim not in (1, 2) or len(y) != len(X):
        raise DatasetError(
            f"dataset {spec.name!r}: generator must return X (n, d) and y (n,) or (n, m), "
            f"got X {X.shape} and y {y.shape}"
        )
    for label, array in (("X", X), ("y", y)):
        bad = ~np.isfinite(array)
        if bad.any():
            raise DatasetError(
                f"dataset {spec.name!r}: {label} has {int(np.isnan(array).sum())} NaN and "
                f"{int(np.isinf(array).sum())} inf values; data must be finite"
            )
    return X, (y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y)


def infer_task(y: np.ndarray) -> str:
    """binary / multiclass for integer-valued y with 2 / 3..MAX_CLASSES values, else regression."""
    if y.ndim == 1 and np.array_equal(y, np.round(y)):
        n_classes = len(np.unique(y))
        if 2 <= n_classes <= MAX_CLASSES:
            return "binary" if n_classes == 2 else "multiclass"
    return "regression"


def check_task(name: str, task: str, y: np.ndarray) -> None:
    """Reject a task that the labels y cannot have."""
    if task not in TASKS:
        raise DatasetError(f"dataset {name!r}: unknown task {task!r}; allowed: {list(TASKS)}")
    if task == "regression":
        return
    n_classes = len(np.unique(y)) if y.ndim == 1 else 0
    if y.ndim != 1 or not np.array_equal(y, np.round(y)) or n_classes < 2:
        raise DatasetError(
            f"dataset {name!r}: task {task!r} needs integer class labels y (n,) with at least "
            f"2 classes, got y {y.shape} with {n_classes} distinct values"
        )
    if task == "binary" and n_classes != 2:
        raise DatasetError(f"dataset {name!r}: task 'binary' needs 2 classes, got {n_classes}")


def check_head(name: str, task: str, output: str, loss: str) -> None:
    """Reject an output and loss that do not pair (MLP's own check) or do not fit the task."""
    try:
        MLP([1, 1], output=output, loss=loss)
    except ValueError as err:
        raise DatasetError(f"dataset {name!r}: {err}") from None
    if task == "regression" and output != "identity":
        raise DatasetError(
            f"dataset {name!r}: output {output!r} cannot fit standardised regression targets; "
            "regression allows output 'identity'"
        )


def split_indices(y: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, ...]:
    """Indices of train / val / test, 60 / 20 / 20 %, stratified by class unless regression."""
    index = np.arange(len(y))
    stratify = None if task == "regression" else y
    rest, test = _train_test_split(
        index, test_size=TEST_FRACTION, stratify=stratify, random_state=seed
    )
    stratify = None if stratify is None else y[rest]
    train, val = _train_test_split(
        rest,
        test_size=VALIDATION_FRACTION / (1 - TEST_FRACTION),
        stratify=stratify,
        random_state=seed,
    )
    return train, val, test


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """(a - mean) / std with the training split's statistics; a constant column keeps std 1."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (train, *others)]


def encode_targets(y: np.ndarray, task: str, output: str) -> np.ndarray:
    """Y (n, m): a 0/1 column (binary, unless softmax: two one-hot columns), one-hot, or y."""
    if task == "regression":
        return y.reshape(len(y), -1)
    classes, labels = np.unique(y, return_inverse=True)
    if task == "binary" and output != "softmax":
        return labels.reshape(-1, 1).astype(np.float64)
    return np.eye(len(classes))[labels]


_built: dict[str, Dataset] = {}  # per process: dataset_for's datasets, by spec


def spec_key(spec: DatasetSpec) -> str:
    """The text that identifies a dataset: its spec as sorted JSON (equal specs, equal data)."""
    return json.dumps(jsonable(asdict(spec)), sort_keys=True)


def dataset_for(spec: DatasetSpec) -> Dataset:
    """The dataset of ``spec``, built once per process and then reused (it is deterministic
    from the spec): checking a suite, training its populations in this process and drawing
    its figures share one build."""
    key = spec_key(spec)
    if key not in _built:
        _built[key] = load_dataset(spec)
    return _built[key]


def built(spec: DatasetSpec) -> Dataset | None:
    """The dataset of ``spec`` if this process has built it already, else None."""
    return _built.get(spec_key(spec))


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Generate, split, scale and encode the dataset of ``spec``; deterministic from spec.seed.

    Raises DatasetError naming the dataset for bad parameters, a failing generator, NaN or inf
    in its data, a task its labels cannot have, or an output/loss that does not pair.
    """
    X, y = generate(spec)
    task = spec.task or infer_task(y)
    check_task(spec.name, task, y)
    output = spec.output or DEFAULT_OUTPUT[task]
    loss = spec.loss or DEFAULT_LOSS.get(output, "")
    check_head(spec.name, task, output, loss)
    try:
        train, val, test = split_indices(y, task, spec.seed)
    except ValueError as err:
        raise DatasetError(f"dataset {spec.name!r}: cannot split {len(y)} samples: {err}") from err
    X_train, X_val, X_test = standardise(X[train], X[val], X[test])
    Y = encode_targets(y, task, output)
    Y_train, Y_val, Y_test = Y[train], Y[val], Y[test]
    if task == "regression":
        Y_train, Y_val, Y_test = standardise(Y_train, Y_val, Y_test)
    return Dataset(
        name=spec.name,
        task=task,
        X_train=X_train,
        Y_train=Y_train,
        X_val=X_val,
        Y_val=Y_val,
        X_test=X_test,
        Y_test=Y_test,
        output=output,
        loss=loss,
    )
