"""Reference trajectories of torch.optim, so that tests/test_optimizers.py needs no torch.

    .venv/bin/python scripts/make_reference_trajectories.py      # needs torch==2.13.0

For every setting in SETTINGS, runs torch.optim in float64 (single-tensor path) for STEPS
steps on two small parameter tensors and a fixed sequence of random gradients, and writes
tests/data/optimizer_reference.npz:

    settings          JSON: {setting: [optimizer name, keyword arguments]}
    torch_version     the torch that made the file
    params/i          initial parameter i, shapes SHAPES
    grads/i           (STEPS, *SHAPES[i]): the gradient of parameter i at every step
    <setting>/i       (STEPS, *SHAPES[i]): parameter i after every step

tests/test_optimizers_torch.py imports SETTINGS and ``torch_trajectory`` from here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STEPS = 60
SEED = 20240
SHAPES = ((3, 2), (1, 2))
OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "optimizer_reference.npz"

# setting name -> (torch.optim class, keyword arguments); {} checks the defaults
SETTINGS: dict[str, tuple[str, dict]] = {
    "sgd_defaults": ("SGD", {}),
    "sgd_plain": ("SGD", {"lr": 0.1}),
    "sgd_momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "sgd_dampening": ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    "sgd_nesterov": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "sgd_weight_decay": ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    "sgd_nesterov_weight_decay": (
        "SGD",
        {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
    ),
    "adagrad_defaults": ("Adagrad", {}),
    "adagrad_lr": ("Adagrad", {"lr": 0.1}),
    "adagrad_lr_decay": ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    "adagrad_initial_accumulator": ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5}),
    "adagrad_weight_decay": ("Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    "adagrad_eps": ("Adagrad", {"lr": 0.1, "eps": 1e-2}),
    "adadelta_defaults": ("Adadelta", {}),
    "adadelta_lr": ("Adadelta", {"lr": 0.5}),
    "adadelta_rho": ("Adadelta", {"rho": 0.5}),
    "adadelta_weight_decay": ("Adadelta", {"weight_decay": 0.1}),
    "adadelta_eps": ("Adadelta", {"eps": 1e-3}),
    "rmsprop_defaults": ("RMSprop", {}),
    "rmsprop_momentum": ("RMSprop", {"momentum": 0.9}),
    "rmsprop_centered": ("RMSprop", {"centered": True}),
    "rmsprop_centered_momentum": ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5}),
    "rmsprop_weight_decay": ("RMSprop", {"weight_decay": 0.1}),
    "rmsprop_alpha": ("RMSprop", {"alpha": 0.3, "eps": 1e-3}),
    "adam_defaults": ("Adam", {}),
    "adam_lr": ("Adam", {"lr": 0.05}),
    "adam_amsgrad": ("Adam", {"lr": 0.05, "amsgrad": True}),
    "adam_weight_decay": ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    "adam_betas": ("Adam", {"lr": 0.05, "betas": [0.5, 0.9]}),
    "adam_small_beta1": ("Adam", {"lr": 0.05, "betas": [0.3, 0.99]}),
    "adam_eps": ("Adam", {"lr": 0.05, "eps": 1e-2}),
    "adam_amsgrad_weight_decay": ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    "adamw_defaults": ("AdamW", {}),
    "adamw_weight_decay": ("AdamW", {"lr": 0.05, "weight_decay": 0.5}),
    "adamw_amsgrad": ("AdamW", {"lr": 0.05, "amsgrad": True}),
    "nadam_defaults": ("NAdam", {}),
    "nadam_weight_decay": ("NAdam", {"lr": 0.05, "weight_decay": 0.1}),
    "nadam_decoupled": (
        "NAdam",
        {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    "nadam_momentum_decay": ("NAdam", {"lr": 0.05, "momentum_decay": 0.05}),
    "nadam_betas": ("NAdam", {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3}),
}


def reference_problem(
    seed: int, shapes=SHAPES, steps: int = STEPS
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Initial params and per-step gradients (steps, *shape), whose scale shrinks from 3 to
    0.3 over the run, so that AMSGrad's running maximum differs from the current average."""
    rng = np.random.default_rng(seed)
    scale = np.geomspace(3.0, 0.3, steps)
    params = [rng.normal(size=shape) for shape in shapes]
    grads = [
        rng.normal(size=(steps, *shape)) * scale.reshape(-1, *(1,) * len(shape)) for shape in shapes
    ]
    return params, grads


def torch_trajectory(
    torch, optimizer: str, kwargs: dict, params: list[np.ndarray], grads: list[np.ndarray]
) -> list[np.ndarray]:
    """Each parameter after every step of torch.optim.<optimizer>(**kwargs): (steps, *shape).

    Runs in float64 with torch's default dtype set to float64 for the run (NAdam keeps its
    mu_product, and every optimizer its step count, in the default dtype).
    """
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tensors = [torch.tensor(p, dtype=torch.float64) for p in params]
        opt = getattr(torch.optim, optimizer)(tensors, foreach=False, **kwargs)
        trajectory = [np.empty_like(g) for g in grads]
        for t in range(len(grads[0])):
            for x, g in zip(tensors, grads, strict=True):
                x.grad = torch.tensor(g[t], dtype=torch.float64)
            opt.step()
            for path, x in zip(trajectory, tensors, strict=True):
                path[t] = x.detach().numpy()
        return trajectory
    finally:
        torch.set_default_dtype(default_dtype)


def main() -> None:
    import torch

    params, grads = reference_problem(SEED)
    arrays = {"settings": json.dumps(SETTINGS), "torch_version": torch.__version__}
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        arrays[f"params/{i}"], arrays[f"grads/{i}"] = p, g
    for name, (optimizer, kwargs) in SETTINGS.items():
        for i, path in enumerate(torch_trajectory(torch, optimizer, kwargs, params, grads)):
            arrays[f"{name}/{i}"] = path
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}: {len(SETTINGS)} settings, torch {torch.__version__}")


if __name__ == "__main__":
    main()
