"""The classic 2-2-2 example of backpropagation, step by step: ``python -m backprop.walkthrough``.

Two inputs x_i, two hidden units h_j (ReLU unless ``--hidden`` says otherwise), two sigmoid
outputs yhat_k, a bias per unit, and E = 1/2 sum_k (y_k - yhat_k)^2 on one sample. W1_ij is
the weight from input i to hidden unit j and W2_jk the weight from hidden unit j to output k,
that is ``W[0, i - 1, j - 1]`` in the network's (K, fan_in, fan_out) layout.

The forward values come from ``backprop.MLP``. Each derivative is then written out as its
chain-rule factors, with their numbers (a bias is a weight whose input is 1):

    dE/dW2_jk = dE/dyhat_k * dyhat_k/dz2_k * dz2_k/dW2_jk = (yhat_k - y_k) yhat_k (1 - yhat_k) h_j
    dE/dW1_ij = dE/dh_j * dh_j/dz1_j * dz1_j/dW1_ij        = dE/dh_j f'(z1_j) x_i
    dE/dh_j   = dE/dz2_1 * W2_j1 + dE/dz2_2 * W2_j2         (h_j reaches E along two paths)

The products are checked against ``MLP.loss_and_grad``, and last come the weights after one
step W <- W - lr * dE/dW. The only module of ``backprop`` that prints.

Next, read ``backprop/reference.py``: the same chain rule as code, for any layer sizes,
batch, activation and loss, in the form of the derivation (``reference.loss_and_grad``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

import numpy as np

from backprop.activations import HIDDEN
from backprop.network import MLP

UNITS = (1, 2)
AGREEMENT = 1e-12  # relative difference allowed between the chain rule and loss_and_grad
NEXT = (
    "Next: the same chain rule as code, for any sizes, batch, activation and loss, in\n"
    "backprop/reference.py (reference.loss_and_grad, about 30 lines, the derivation's form);\n"
    "backprop/network.py computes the same numbers faster, for many replicas at once."
)


def numbers(count: int, names: str) -> Callable[[str], list[float]]:
    """An argparse type: ``count`` finite numbers separated by commas, named ``names``."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(part) for part in text.split(",")]
        except ValueError:
            values = []
        if len(values) != count or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(
                f"expected {count} finite numbers separated by commas ({names}), got {text!r}"
            )
        return values

    return parse


def positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def significant_digits(text: str) -> int:
    """An argparse type: a whole number of significant digits from 1 to 17."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 17:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 17, got {text!r}")
    return int(text)


NUMBER_ARGUMENTS = {  # option: (names of its numbers, default, what they are)
    "--x": ("x_1,x_2", "0.05,0.10", "inputs"),
    "--y": ("y_1,y_2", "0.01,0.99", "targets"),
    "--w1": ("W1_11,W1_21,W1_12,W1_22", "0.15,0.20,0.25,0.30", "hidden weights"),
    "--b1": ("b1_1,b1_2", "0.35,0.35", "hidden biases"),
    "--w2": ("W2_11,W2_21,W2_12,W2_22", "0.40,0.45,0.50,0.55", "output weights"),
    "--b2": ("b2_1,b2_2", "0.60,0.60", "output biases"),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line; every default is the textbook example."""
    parser = argparse.ArgumentParser(
        prog="python -m backprop.walkthrough",
        description="The classic 2-2-2 backpropagation example, step by step. Wij is the "
        "weight from unit i of the layer below to unit j of the layer above. Numbers are "
        "separated by commas, weights listed unit by unit: the two weights into unit 1, then "
        "the two into unit 2. A list that starts with a minus sign needs '=', as in --x=-1,2.",
    )
    for option, (names, default, what) in NUMBER_ARGUMENTS.items():
        parse = numbers(names.count(",") + 1, names)
        parser.add_argument(
            option, type=parse, default=parse(default), metavar=names, help=f"{what} ({default})"
        )
    parser.add_argument("--lr", type=positive, default=0.5, help="learning rate (0.5)")
    parser.add_argument(
        "--hidden", choices=list(HIDDEN), default="relu", help="hidden activation (relu)"
    )
    parser.add_argument(
        "--digits", type=significant_digits, default=4, help="significant digits shown (4)"
    )
    return parser


def classic_network(
    args: argparse.Namespace,
) -> tuple[MLP, list[np.ndarray], np.ndarray, np.ndarray]:
    """The example as an MLP: net, params [W1, b1, W2, b2] (K = 1), X (1, 2) and Y (1, 2)."""
    net = MLP([2, 2, 2], hidden=args.hidden, output="sigmoid", loss="half_squared_error")
    W1, b1, W2, b2 = net.init(seed=0)
    # listed unit by unit, (W_11, W_21, W_12, W_22): the transpose of the (fan_in, fan_out) rows
    W1[0] = np.reshape(args.w1, (2, 2)).T
    W2[0] = np.reshape(args.w2, (2, 2)).T
    b1[0, 0], b2[0, 0] = args.b1, args.b2
    return net, [W1, b1, W2, b2], np.array([args.x]), np.array([args.y])


def named(arrays: Sequence[np.ndarray]) -> dict[str, float]:
    """{"W1_11": ..., "b1_1": ..., "W2_11": ..., "b2_1": ...} from [W1, b1, W2, b2] with K = 1."""
    values = {}
    for layer in (1, 2):
        W, b = arrays[2 * layer - 2][0], arrays[2 * layer - 1][0, 0]
        for j in UNITS:
            values.update({f"W{layer}_{i}{j}": float(W[i - 1, j - 1]) for i in UNITS})
            values[f"b{layer}_{j}"] = float(b[j - 1])
    return values


def layer_values(net: MLP, params: list[np.ndarray], X: np.ndarray) -> list[list[float]]:
    """[z1, h, z2, yhat] of the one sample, each a list of two floats, from the network.

    A layer alone is an MLP with identity output, whose prediction is z = a @ W + b.
    """
    layer = MLP([2, 2], output="identity")
    z1 = layer.predict(params[:2], X)[0]
    h = HIDDEN[net.hidden].forward(z1)
    z2 = layer.predict(params[2:], h)[0]
    yhat = net.predict(params, X)[0]
    return [[float(v) for v in values[0]] for values in (z1, h, z2, yhat)]


class Walkthrough:
    """The forward values of one sample as plain floats, and the lines that explain them.

    The sections come in the order of the derivation: ``forward``, ``output_layer`` (which
    finds the output deltas dE/dz2_k), ``hidden_layer`` (which uses them), ``update``.
    """

    def __init__(
        self, net: MLP, params: list[np.ndarray], X: np.ndarray, Y: np.ndarray, digits: int
    ) -> None:
        self.hidden, self.digits = net.hidden, digits
        self.p = named(params)
        self.x, self.y = [float(v) for v in X[0]], [float(v) for v in Y[0]]
        self.z1, self.h, self.z2, self.yhat = layer_values(net, params, X)
        self.chain: dict[str, float] = {}  # the derivatives by the chain rule, "W2_11": dE/dW2_11
        self.delta2: dict[int, float] = {}  # dE/dz2_k, the output deltas

    def num(self, value: float) -> str:
        """A number as printed: ``digits`` significant digits."""
        return f"{value:.{self.digits}g}"

    def product(self, *factors: float | str) -> str:
        """Factors joined by " * "; a negative number goes in parentheses."""
        return " * ".join(
            f if isinstance(f, str) else f"({self.num(f)})" if f < 0 else self.num(f)
            for f in factors
        )

    def forward(self) -> list[str]:
        """z = a @ W + b and a = f(z), unit by unit, then E."""
        lines = ["Forward pass"]
        for layer, a_name, a, z, f_name, out_name, out in (
            (1, "x", self.x, self.z1, self.hidden, "h", self.h),
            (2, "h", self.h, self.z2, "sigmoid", "yhat", self.yhat),
        ):
            for j in UNITS:
                w, b = [f"W{layer}_{i}{j}" for i in UNITS], f"b{layer}_{j}"
                terms = " + ".join(f"{a_name}_{i} * {w[i - 1]}" for i in UNITS)
                numbers = " + ".join(self.product(a[i - 1], self.p[w[i - 1]]) for i in UNITS)
                lines.append(
                    f"  z{layer}_{j} = {terms} + {b} = {numbers} + {self.product(self.p[b])}"
                    f" = {self.num(z[j - 1])}"
                )
                lines.append(f"  {out_name}_{j} = {f_name}(z{layer}_{j}) = {self.num(out[j - 1])}")
        squares = " + ".join(
            f"1/2 ({self.num(self.y[k - 1])} - {self.num(self.yhat[k - 1])})^2" for k in UNITS
        )
        E = sum(0.5 * (y - yhat) ** 2 for y, yhat in zip(self.y, self.yhat, strict=True))
        lines.append(
            f"  E = 1/2 (y_1 - yhat_1)^2 + 1/2 (y_2 - yhat_2)^2 = {squares} = {self.num(E)}"
        )
        return lines

    def output_layer(self) -> list[str]:
        """dE/dW2_jk = dE/dyhat_k * dyhat_k/dz2_k * dz2_k/dW2_jk, with dz2_k/dW2_jk = h_j."""
        lines = [
            "Output layer: dE/dW2_jk = dE/dyhat_k * dyhat_k/dz2_k * dz2_k/dW2_jk, where",
            "  dE/dyhat_k = yhat_k - y_k, dyhat_k/dz2_k = yhat_k (1 - yhat_k), dz2_k/dW2_jk = h_j",
        ]
        for k in UNITS:
            yhat, y = self.yhat[k - 1], self.y[k - 1]
            slope = yhat * (1 - yhat)
            self.delta2[k] = (yhat - y) * slope
            chain = f"dE/dyhat_{k} * dyhat_{k}/dz2_{k}"
            lines.append(
                f"  dyhat_{k}/dz2_{k} = yhat_{k} (1 - yhat_{k}) = "
                f"{self.product(yhat, f'(1 - {self.num(yhat)})')} = {self.num(slope)}"
            )
            for name, input_value in [
                *((f"W2_{j}{k}", self.h[j - 1]) for j in UNITS),
                (f"b2_{k}", 1.0),
            ]:
                self.chain[name] = (yhat - y) * slope * input_value
                error = f"({self.num(yhat)} - {self.num(y)})"
                lines.append(
                    f"  dE/d{name} = {chain} * dz2_{k}/d{name} = "
                    f"{self.product(error, slope, input_value)} = {self.num(self.chain[name])}"
                )
            lines.append(f"  dE/dz2_{k} = {chain} = {self.num(self.delta2[k])}")
        return lines

    def hidden_layer(self) -> list[str]:
        """dE/dW1_ij = dE/dh_j * f'(z1_j) * x_i, where dE/dh_j sums the paths through z2_1, z2_2."""
        f, f_name = HIDDEN[self.hidden], f"{self.hidden}'"
        lines = [
            "Hidden layer: dE/dW1_ij = dE/dh_j * dh_j/dz1_j * dz1_j/dW1_ij, where h_j reaches E",
            "  along two paths, dE/dh_j = dE/dz2_1 * W2_j1 + dE/dz2_2 * W2_j2, and",
            f"  dh_j/dz1_j = {f_name}(z1_j), dz1_j/dW1_ij = x_i",
        ]
        for j in UNITS:
            slope = float(f.derivative(np.float64(self.h[j - 1])))
            weights = [self.p[f"W2_{j}{k}"] for k in UNITS]
            dE_dh = sum(self.delta2[k] * weights[k - 1] for k in UNITS)
            paths = " + ".join(f"dE/dz2_{k} * W2_{j}{k}" for k in UNITS)
            numbers = " + ".join(self.product(self.delta2[k], weights[k - 1]) for k in UNITS)
            lines.append(f"  dE/dh_{j} = {paths} = {numbers} = {self.num(dE_dh)}")
            lines.append(f"  dh_{j}/dz1_{j} = {f_name}(z1_{j}) = {self.num(slope)}")
            for name, input_value in [
                *((f"W1_{i}{j}", self.x[i - 1]) for i in UNITS),
                (f"b1_{j}", 1.0),
            ]:
                self.chain[name] = dE_dh * slope * input_value
                lines.append(
                    f"  dE/d{name} = dE/dh_{j} * dh_{j}/dz1_{j} * dz1_{j}/d{name} = "
                    f"{self.product(dE_dh, slope, input_value)} = {self.num(self.chain[name])}"
                )
        return lines

    def update(self, grads: dict[str, float], lr: float) -> list[str]:
        """new W = W - lr * dE/dW for every weight and bias, with dE/dW from the network."""
        lines = [f"One step of gradient descent: W <- W - lr * dE/dW, lr = {self.num(lr)}"]
        for name, g in grads.items():
            old = self.p[name]
            lines.append(
                f"  new {name} = {self.num(old)} - {self.product(lr, g)} = {self.num(old - lr * g)}"
            )
        return lines


def largest_difference(chain: dict[str, float], grads: dict[str, float]) -> float:
    """max over parameters of |chain - grad| / |grad| (the difference itself where grad = 0)."""
    return max(abs(chain[name] - g) / (abs(g) or 1.0) for name, g in grads.items())


def main(argv: Sequence[str] | None = None) -> int:
    """Print the walkthrough; 0 when the chain rule agrees with ``loss_and_grad``, else 1."""
    args = build_parser().parse_args(argv)
    net, params, X, Y = classic_network(args)
    loss, grads = net.loss_and_grad(params, X, Y)
    walk = Walkthrough(net, params, X, Y, args.digits)
    print(
        f"The classic 2-2-2 network: 2 inputs, 2 {args.hidden} hidden units, 2 sigmoid outputs,\n"
        "a bias per unit, and E = 1/2 sum_k (y_k - yhat_k)^2 on one sample x, with targets y.\n"
        "Wij is the weight from unit i of the layer below to unit j of the layer above.\n"
    )
    for section in (walk.forward(), walk.output_layer(), walk.hidden_layer()):
        print("\n".join(section), end="\n\n")
    by_network = named(grads)
    difference = largest_difference(walk.chain, by_network)
    agree = difference <= AGREEMENT
    print(
        f"Check: the chain-rule products {'equal' if agree else 'DIFFER FROM'} the gradients of "
        f"MLP.loss_and_grad (largest relative difference {difference:.1e}).\n"
    )
    print("\n".join(walk.update(by_network, args.lr)))
    stepped = [p - args.lr * g for p, g in zip(params, grads, strict=True)]
    after = net.loss_value(stepped, X, Y)[0]
    print(f"  E after the step = {walk.num(after)} (before: {walk.num(loss[0])})")
    print(f"\n{NEXT}")
    return 0 if agree else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into `head`: stop quietly
        sys.stderr.close()
        sys.exit(0)
