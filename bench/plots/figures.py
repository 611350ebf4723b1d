"""Every figure of a run at once: the list of figures (``figure_tasks``) and
``draw_figures``, which computes, draws and saves them, in worker processes if asked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plots.boundaries import decision_boundary_data, plot_decision_boundaries, two_d_datasets
from bench.plots.comparisons import (
    critical_difference_data,
    performance_profiles_data,
    plot_critical_difference,
    plot_performance_profile,
    plot_verdicts,
    verdict_data,
)
from bench.plots.curves import (
    convergence_data,
    final_test_data,
    loss_curve_data,
    lr_sensitivity_data,
    plot_convergence_speed,
    plot_final_test,
    plot_loss_curves,
    plot_lr_sensitivity,
)
from bench.plots.paths import optimizer_paths_data, plot_optimizer_paths
from bench.plots.style import FORMATS, save_figure, slug


@dataclass(frozen=True)
class FigureTask:
    """One figure of ``draw_figures``: its key, file name (without suffix), the function that
    computes what it draws, the plot function, and their leading arguments."""

    key: str
    stem: str
    data: Callable
    plot: Callable
    args: tuple

    def draw(self, out_dir: Path, format: str = "png") -> tuple[Path, Any]:
        """Compute, draw and save the figure; (path, data). For PDF a PNG is written
        beside it, for the HTML report to embed."""
        data = self.data(*self.args)
        fig = self.plot(*self.args, data=data)
        path = save_figure(fig, Path(out_dir) / self.stem, format)
        if format == "pdf":
            save_figure(fig, path, "png")
        return path, data


def figure_tasks(results) -> list[FigureTask]:
    """Every figure ``draw_figures`` draws, the slowest first."""
    paths = FigureTask(
        "optimizer_paths", "optimizer_paths", optimizer_paths_data, plot_optimizer_paths, (results,)
    )
    lr = FigureTask(
        "lr_sensitivity", "lr_sensitivity", lr_sensitivity_data, plot_lr_sensitivity, (results,)
    )
    if results.evaluation.empty:  # an interrupted run: nothing evaluated yet
        return [lr, paths] if len(results.tuning) else [paths]
    tasks = [
        FigureTask("final_test", "final_test", final_test_data, plot_final_test, (results,)),
        lr,
        FigureTask(
            "loss_vs_epoch", "loss_vs_epoch", loss_curve_data, plot_loss_curves, (results, "epoch")
        ),
        FigureTask(
            "convergence_speed",
            "convergence_speed",
            convergence_data,
            plot_convergence_speed,
            (results,),
        ),
        paths,
        FigureTask(
            "loss_vs_seconds",
            "loss_vs_seconds",
            loss_curve_data,
            plot_loss_curves,
            (results, "seconds"),
        ),
        *(
            FigureTask(
                f"decision_boundaries:{d}",
                f"decision_boundaries_{slug(d)}",
                decision_boundary_data,
                plot_decision_boundaries,
                (results, d),
            )
            for d in two_d_datasets(results)
        ),
        FigureTask(
            "performance_profile",
            "performance_profile",
            performance_profiles_data,
            plot_performance_profile,
            (results,),
        ),
        FigureTask("verdicts", "verdicts", verdict_data, plot_verdicts, (results,)),
    ]
    if critical_difference_data(results) is not None:
        tasks.append(
            FigureTask(
                "critical_difference",
                "critical_difference",
                critical_difference_data,
                plot_critical_difference,
                (results,),
            )
        )
    return tasks


def draw_figures(
    results, out_dir: str | Path, jobs: int = 1, format: str = "png"
) -> dict[str, tuple[Path, Any]]:
    """Every figure of a Results into ``out_dir`` as ``format`` files: {key: (path, data)}.

    Keys: lr_sensitivity, loss_vs_epoch, loss_vs_seconds, final_test, convergence_speed,
    performance_profile, verdicts, critical_difference (when the Friedman ranks exist),
    decision_boundaries:<dataset> (one per 2-D dataset), optimizer_paths. Without
    evaluation trials (a run interrupted in tuning) only the lr sensitivity (when there are
    tuning trials) and the optimizer paths. data is what the figure shows (the ``*_data``
    function's result). jobs > 1 draws them in that many worker processes (loky's reusable
    executor, which a run has warmed).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    tasks, out_dir = figure_tasks(results), Path(out_dir)
    if jobs > 1 and len(tasks) > 1:
        from joblib.externals.loky import get_reusable_executor

        executor = get_reusable_executor(max_workers=jobs)
        futures = [executor.submit(task.draw, out_dir, format) for task in tasks]
        drawn = [future.result() for future in futures]
    else:
        drawn = [task.draw(out_dir, format) for task in tasks]
    figures = dict(zip([task.key for task in tasks], drawn, strict=True))
    return {key: figures[key] for key in sorted(figures, key=_figure_order)}


def _figure_order(key: str) -> int:
    """The order draw_figures returns its keys in (the order of its docstring)."""
    kinds = (
        "lr_sensitivity",
        "loss_vs_epoch",
        "loss_vs_seconds",
        "final_test",
        "convergence_speed",
        "performance_profile",
        "verdicts",
        "critical_difference",
        "decision_boundaries",
        "optimizer_paths",
    )
    return kinds.index(key.partition(":")[0])
