"""`python -m backprop.walkthrough`: its printed numbers are loss_and_grad's, and one update."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backprop import MLP
from backprop.walkthrough import NEXT, main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    """The walkthrough's standard output, run as a learner would; it must exit with 0."""
    command = [sys.executable, "-m", "backprop.walkthrough", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def printed(stdout: str) -> dict[str, float]:
    """{label: number} for every line "label = ... = number" of the output."""
    values = {}
    for line in stdout.splitlines():
        if " = " not in line:
            continue
        label, last = line.strip().split(" = ")[0], line.rsplit(" = ", 1)[1].split()[0]
        try:
            values[label] = float(last)
        except ValueError:  # a line of formulas, not of numbers
            continue
    return values


def network(hidden, x, y, w1, b1, w2, b2):
    """The 2-2-2 MLP with weights listed unit by unit: w = (W_11, W_21, W_12, W_22)."""
    net = MLP([2, 2, 2], hidden=hidden, output="sigmoid", loss="half_squared_error")
    W1, B1, W2, B2 = net.init(seed=0)
    W1[0] = [[w1[0], w1[2]], [w1[1], w1[3]]]  # W1[0, i, j]: from input i to hidden unit j
    W2[0] = [[w2[0], w2[2]], [w2[1], w2[3]]]
    B1[0, 0], B2[0, 0] = b1, b2
    return net, [W1, B1, W2, B2], np.array([x]), np.array([y])


def expected(net, params, X, Y, lr) -> dict[str, float]:
    """What the walkthrough must print, from the network: E, yhat, every derivative, every
    updated weight and E after the update."""
    loss, grads = net.loss_and_grad(params, X, Y)
    yhat = net.predict(params, X)[0, 0]
    values = {"E": loss[0], "yhat_1": yhat[0], "yhat_2": yhat[1]}
    for layer in (1, 2):
        W, b = params[2 * layer - 2][0], params[2 * layer - 1][0, 0]
        dW, db = grads[2 * layer - 2][0], grads[2 * layer - 1][0, 0]
        for i in (1, 2):
            for j in (1, 2):
                values[f"dE/dW{layer}_{i}{j}"] = dW[i - 1, j - 1]
                values[f"new W{layer}_{i}{j}"] = W[i - 1, j - 1] - lr * dW[i - 1, j - 1]
            values[f"dE/db{layer}_{i}"] = db[i - 1]
            values[f"new b{layer}_{i}"] = b[i - 1] - lr * db[i - 1]
    stepped = [p - lr * g for p, g in zip(params, grads, strict=True)]
    values["E after the step"] = net.loss_value(stepped, X, Y)[0]
    return values


@pytest.mark.slow
def test_the_default_example_shows_each_derivative_as_its_chain_rule_factors():
    stdout = run()
    lines = [line.strip() for line in stdout.splitlines()]
    # the numbers of tests/test_classic_example.py, to four significant digits
    for line in (
        "z1_1 = x_1 * W1_11 + x_2 * W1_21 + b1_1 = 0.05 * 0.15 + 0.1 * 0.2 + 0.35 = 0.3775",
        "h_1 = relu(z1_1) = 0.3775",
        "yhat_1 = sigmoid(z2_1) = 0.7166",
        "dyhat_1/dz2_1 = yhat_1 (1 - yhat_1) = 0.7166 * (1 - 0.7166) = 0.2031",
        "dE/dW2_11 = dE/dyhat_1 * dyhat_1/dz2_1 * dz2_1/dW2_11 = (0.7166 - 0.01) * 0.2031 * "
        "0.3775 = 0.05417",
        "dE/dW2_12 = dE/dyhat_2 * dyhat_2/dz2_2 * dz2_2/dW2_12 = (0.732 - 0.99) * 0.1962 * "
        "0.3775 = -0.01911",
        "dE/dh_1 = dE/dz2_1 * W2_11 + dE/dz2_2 * W2_12 = 0.1435 * 0.4 + (-0.05062) * 0.5 = 0.03209",
        "dh_1/dz1_1 = relu'(z1_1) = 1",
        "dE/dW1_11 = dE/dh_1 * dh_1/dz1_1 * dz1_1/dW1_11 = 0.03209 * 1 * 0.05 = 0.001604",
        "new W2_11 = 0.4 - 0.5 * 0.05417 = 0.3729",
        "new W2_12 = 0.5 - 0.5 * (-0.01911) = 0.5096",
        "new W1_11 = 0.15 - 0.5 * 0.001604 = 0.1492",
    ):
        assert line in lines
    assert "the chain-rule products equal the gradients of MLP.loss_and_grad" in stdout
    assert stdout.rstrip().splitlines()[-3:] == NEXT.splitlines()  # then, where to read on
    assert (ROOT / "backprop" / "reference.py").is_file()
    net, params, X, Y = network(
        "relu", [0.05, 0.10], [0.01, 0.99], [0.15, 0.20, 0.25, 0.30], [0.35, 0.35],
        [0.40, 0.45, 0.50, 0.55], [0.60, 0.60],
    )  # fmt: skip
    shown = printed(stdout)
    for label, value in expected(net, params, X, Y, lr=0.5).items():
        assert shown[label] == pytest.approx(value, rel=6e-4), label


@pytest.mark.slow
def test_custom_arguments_print_loss_and_grad_to_the_last_digit():
    # leaky_relu with z1_1 = -1 * 0.5 + 2 * (-0.3) + 0.1 = -1: that unit's slope is 0.01
    stdout = run(
        "--x=-1,2", "--y", "0.2,0.7", "--w1", "0.5,-0.3,0.2,0.4", "--b1", "0.1,0.1",
        "--w2", "0.3,-0.6,0.9,0.2", "--b2=-0.1,0.05", "--lr", "0.1", "--hidden", "leaky_relu",
        "--digits", "17",
    )  # fmt: skip
    shown = printed(stdout)
    assert shown["z1_1"] == pytest.approx(-1.0, rel=1e-15)
    assert shown["dh_1/dz1_1"] == 0.01 and shown["dh_2/dz1_2"] == 1.0
    net, params, X, Y = network(
        "leaky_relu", [-1, 2], [0.2, 0.7], [0.5, -0.3, 0.2, 0.4], [0.1, 0.1],
        [0.3, -0.6, 0.9, 0.2], [-0.1, 0.05],
    )  # fmt: skip
    values = expected(net, params, X, Y, lr=0.1)
    assert len(values) == 2 * 12 + 4
    for label, value in values.items():
        assert shown[label] == pytest.approx(value, rel=1e-12, abs=1e-16), label


def test_sigmoid_hidden_units_reproduce_the_published_walkthrough(capsys):
    # M. Mazur, "A Step by Step Backpropagation Example" (2015): the same numbers with
    # sigmoid hidden units, where dE/dw5 = 0.082167041 and w5 becomes 0.35891648
    assert main(["--hidden", "sigmoid"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert (
        "dE/dW2_11 = dE/dyhat_1 * dyhat_1/dz2_1 * dz2_1/dW2_11 = (0.7514 - 0.01) * 0.1868 * "
        "0.5933 = 0.08217"
    ) in lines
    assert "new W2_11 = 0.4 - 0.5 * 0.08217 = 0.3589" in lines
    assert (
        "E = 1/2 (y_1 - yhat_1)^2 + 1/2 (y_2 - yhat_2)^2 = 1/2 (0.01 - 0.7514)^2 + "
        "1/2 (0.99 - 0.7729)^2 = 0.2984"
    ) in lines  # E_total = 0.298371109 there


def test_a_disagreeing_backward_is_reported(monkeypatch, capsys):
    honest = MLP.loss_and_grad

    def off_by_one_percent(self, params, X, Y):
        loss, grads = honest(self, params, X, Y)
        grads[0][0, 1, 0] *= 1.01
        return loss, grads

    monkeypatch.setattr(MLP, "loss_and_grad", off_by_one_percent)
    assert main([]) == 1
    assert "the chain-rule products DIFFER FROM the gradients" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--w1", "0.1,0.2"],
            "argument --w1: expected 4 finite numbers separated by commas "
            r"\(W1_11,W1_21,W1_12,W1_22\), got '0.1,0.2'",
        ),
        (["--x", "0.1,abc"], "argument --x: expected 2 finite numbers .* got '0.1,abc'"),
        (["--y", "0.1,nan"], "argument --y: expected 2 finite numbers .* got '0.1,nan'"),
        (["--b2", "1,inf"], "argument --b2: expected 2 finite numbers .* got '1,inf'"),
        (["--w2", "1,2,3,4,5"], "argument --w2: expected 4 finite numbers .* got '1,2,3,4,5'"),
        (["--lr", "0"], "argument --lr: expected a finite number > 0, got '0'"),
        (["--lr=-0.5"], "argument --lr: expected a finite number > 0, got '-0.5'"),
        (["--lr", "fast"], "argument --lr: expected a finite number > 0, got 'fast'"),
        (["--digits", "0"], "argument --digits: expected a whole number from 1 to 17, got '0'"),
        (["--digits", "2.5"], "argument --digits: expected a whole number from 1 to 17"),
        (["--hidden", "softmax"], "argument --hidden: invalid choice: 'softmax'"),
    ],
)
def test_malformed_arguments_are_rejected_with_what_is_allowed(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
