"""backprop: a NumPy multilayer perceptron trained by hand-written backpropagation.

Public API: ``MLP``, ``train``, ``gradcheck``; optimizers in ``backprop.optimizers`` and
learning-rate schedules in ``backprop.schedules``. NumPy only; never imports ``bench``.

To learn how backpropagation works here, read ``backprop/reference.py`` first: one replica's
forward and backward in the form of the derivation (about 30 lines), the oracle that the fast
path in ``backprop/network.py`` is tested against. ``python -m backprop.walkthrough`` works
the classic 2-2-2 example by hand.
"""

from backprop.gradcheck import gradcheck
from backprop.network import MLP
from backprop.training import History, train

__all__ = ["MLP", "History", "gradcheck", "train"]
__version__ = "0.1.0"
