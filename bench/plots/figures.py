"""Every figure of a run at once: the list of figures (``figure_tasks``) and
``draw_figures``, which computes, draws and saves them, in worker processes if asked."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plots import manifest
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
    results, out_dir: str | Path, jobs: int = 1, format: str = "png", reuse: bool = False
) -> dict[str, tuple[Path, Any]]:
    """Every figure of a Results into ``out_dir`` as ``format`` files: {key: (path, data)}.

    Keys: lr_sensitivity, loss_vs_epoch, loss_vs_seconds, final_test, convergence_speed,
    performance_profile, verdicts, critical_difference (when the Friedman ranks exist),
    decision_boundaries:<dataset> (one per 2-D dataset), optimizer_paths. Without
    evaluation trials (a run interrupted in tuning) only the lr sensitivity (when there are
    tuning trials) and the optimizer paths. data is what the figure shows (the ``*_data``
    function's result).

    jobs > 1 draws them in this process and jobs - 1 worker processes (loky's reusable
    executor, which a run has warmed), each taking the slowest figure left. The manifest
    ``out_dir``/figures.json records what they were drawn from (``bench.plots.manifest``);
    with reuse=True a figure it lists under the same key, its file unchanged, is not drawn
    again: its file is left as it is and its data is what the manifest keeps of it (for the
    optimizer paths the caption's lrs and distances, else None).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    out_dir = Path(out_dir)
    digest = manifest.figures_key(results, format)
    figures, complete = manifest.reusable(out_dir, digest) if reuse else ({}, False)
    if not complete:
        tasks = [task for task in figure_tasks(results) if task.key not in figures]
        figures = {**figures, **_draw(tasks, out_dir, jobs, format)}
        manifest.write_manifest(out_dir, digest, figures)
    return {key: figures[key] for key in sorted(figures, key=_figure_order)}


def _draw(tasks: list[FigureTask], out_dir: Path, jobs: int, format: str) -> dict:
    """Draw ``tasks``: {key: (path, data)}. With jobs > 1, jobs - 1 worker processes and
    this one each take the first task left (the slowest, as figure_tasks orders them): this
    process starts at once, while the workers start up."""
    if jobs <= 1 or len(tasks) <= 1:
        return {task.key: task.draw(out_dir, format) for task in tasks}
    from joblib.externals.loky import get_reusable_executor

    workers = min(jobs, len(tasks)) - 1
    executor = get_reusable_executor(max_workers=workers)
    pending, lock, futures = deque(tasks), threading.RLock(), {}

    def feed(_=None) -> None:  # a worker is free: give it the first task left
        with lock:
            if not pending:
                return
            task = pending.popleft()
            try:
                futures[task.key] = executor.submit(task.draw, out_dir, format)
            except Exception:  # a broken executor: this process draws it
                pending.appendleft(task)
                return
        futures[task.key].add_done_callback(feed)

    for _ in range(workers):
        feed()
    drawn = {}
    try:
        while True:
            with lock:
                if not pending:
                    submitted = dict(futures)  # every task taken has its future by now
                    break
                task = pending.popleft()
            drawn[task.key] = task.draw(out_dir, format)
    except BaseException:  # e.g. Ctrl-C: give the workers nothing more
        with lock:
            pending.clear()
        raise
    return {**drawn, **{key: future.result() for key, future in submitted.items()}}


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
