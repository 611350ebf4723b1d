"""Figures of a benchmark, drawn from its stored tables and parameters (matplotlib).

Each figure has a ``*_data`` function that computes what it shows (curve centres and bands,
profile values, verdicts, ranks, paths ...) and a ``plot_*`` function that draws it and
returns a ``matplotlib.figure.Figure``, which a notebook can restyle before showing or
saving it; ``save_figure`` writes one as PNG, SVG or PDF, and ``draw_figures`` computes,
draws and saves every figure of a Results. Everything but the learning-rate sensitivity
comes from the evaluation trials (fresh seeds, the tuned configuration); the sensitivity
figure shows the tuning trials.

Figures are built without pyplot and written with ``savefig`` (or Agg for PNG);
``matplotlib.use`` is never called, so a notebook's backend is left alone.

Every method keeps one look in every figure (``method_style``): an Okabe–Ito colour (a
palette that stays distinct under the common colour-vision deficiencies), a line style and a
marker; no two methods share a colour-and-marker pair. Nothing here trains a network on a
benchmark dataset; only ``optimizer_paths_data`` runs the optimizers, for a few hundred
steps on analytic 2-D surfaces.

One module per family, each importing ``style`` (and ``runs``), never each other but
``comparisons`` (the profiles read ``curves.convergence_data``) and ``figures`` (all);
``manifest`` imports none of them:

- ``names``: names made safe, ratios as labels, DPI and formats: no matplotlib, so that a
  report whose figures are all reused never imports it (this package imports each module
  on first use of a name)
- ``style``: method styles, panels and their layout (``PanelLayout``), legends, log axes,
  ``save_figure``
- ``runs``: a run's methods and datasets in suite order, a dataset's task
- ``curves``: loss curves, lr sensitivity, final test, convergence speed
- ``comparisons``: performance profiles, verdicts, critical difference
- ``boundaries``: decision boundaries of the 2-D datasets
- ``paths``: optimizer paths on analytic 2-D surfaces
- ``figures``: every figure of a run: ``figure_tasks``, ``draw_figures``
- ``manifest``: DIR/figures/figures.json, what the figures were drawn from, so that a
  rerun on unchanged results, format and code reuses them (``draw_figures(reuse=True)``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Where each name lives. They are imported on first use (PEP 562), so that ``from bench
# import plots`` costs nothing: the report imports matplotlib only when it draws a figure.
_HOMES = {
    "boundaries": (
        "BOUNDARY_RESOLUTION",
        "decision_boundary_data",
        "plot_decision_boundaries",
        "two_d_datasets",
    ),
    "comparisons": (
        "critical_difference_data",
        "performance_profile_data",
        "performance_profiles_data",
        "plot_critical_difference",
        "plot_performance_profile",
        "plot_verdicts",
        "verdict_data",
    ),
    "curves": (
        "convergence_data",
        "final_test_data",
        "log_intervals",
        "loss_curve_data",
        "lr_sensitivity_data",
        "plot_convergence_speed",
        "plot_final_test",
        "plot_loss_curves",
        "plot_lr_sensitivity",
    ),
    "figures": ("FigureTask", "draw_figures", "figure_tasks"),
    "names": ("DPI", "FORMATS", "ratio_text", "slug", "text"),
    "paths": (
        "PATH_LRS",
        "SURFACES",
        "Surface",
        "classic_net",
        "optimizer_paths_data",
        "path_methods",
        "plot_optimizer_paths",
        "surface_paths",
    ),
    "runs": ("datasets_of", "methods_of", "task_of"),
    "style": (
        "BUILTIN_ORDER",
        "BUILTIN_STYLES",
        "OKABE_ITO",
        "USER_STYLES",
        "method_style",
        "plain_log_ticks",
        "save_figure",
    ),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

if TYPE_CHECKING:
    from bench.plots.boundaries import (
        BOUNDARY_RESOLUTION,
        decision_boundary_data,
        plot_decision_boundaries,
        two_d_datasets,
    )
    from bench.plots.comparisons import (
        critical_difference_data,
        performance_profile_data,
        performance_profiles_data,
        plot_critical_difference,
        plot_performance_profile,
        plot_verdicts,
        verdict_data,
    )
    from bench.plots.curves import (
        convergence_data,
        final_test_data,
        log_intervals,
        loss_curve_data,
        lr_sensitivity_data,
        plot_convergence_speed,
        plot_final_test,
        plot_loss_curves,
        plot_lr_sensitivity,
    )
    from bench.plots.figures import FigureTask, draw_figures, figure_tasks
    from bench.plots.names import DPI, FORMATS, ratio_text, slug, text
    from bench.plots.paths import (
        PATH_LRS,
        SURFACES,
        Surface,
        classic_net,
        optimizer_paths_data,
        path_methods,
        plot_optimizer_paths,
        surface_paths,
    )
    from bench.plots.runs import datasets_of, methods_of, task_of
    from bench.plots.style import (
        BUILTIN_ORDER,
        BUILTIN_STYLES,
        OKABE_ITO,
        USER_STYLES,
        method_style,
        plain_log_ticks,
        save_figure,
    )

__all__ = [
    "BOUNDARY_RESOLUTION",
    "BUILTIN_ORDER",
    "BUILTIN_STYLES",
    "DPI",
    "FORMATS",
    "OKABE_ITO",
    "PATH_LRS",
    "SURFACES",
    "USER_STYLES",
    "FigureTask",
    "Surface",
    "classic_net",
    "convergence_data",
    "critical_difference_data",
    "datasets_of",
    "decision_boundary_data",
    "draw_figures",
    "figure_tasks",
    "final_test_data",
    "log_intervals",
    "loss_curve_data",
    "lr_sensitivity_data",
    "method_style",
    "methods_of",
    "optimizer_paths_data",
    "path_methods",
    "performance_profile_data",
    "performance_profiles_data",
    "plain_log_ticks",
    "plot_convergence_speed",
    "plot_critical_difference",
    "plot_decision_boundaries",
    "plot_final_test",
    "plot_loss_curves",
    "plot_lr_sensitivity",
    "plot_optimizer_paths",
    "plot_performance_profile",
    "plot_verdicts",
    "ratio_text",
    "save_figure",
    "slug",
    "surface_paths",
    "task_of",
    "text",
    "two_d_datasets",
    "verdict_data",
]


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(f"bench.plots.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bench.plots' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
