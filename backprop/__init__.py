"""backprop: a NumPy multilayer perceptron trained by hand-written backpropagation.

Public API: ``MLP``, ``train``, ``gradcheck``; optimizers in ``backprop.optimizers`` and
learning-rate schedules in ``backprop.schedules``. NumPy only; never imports ``bench``.
"""

from backprop.gradcheck import gradcheck
from backprop.network import MLP
from backprop.training import History, train

__all__ = ["MLP", "History", "gradcheck", "train"]
__version__ = "0.1.0"
