"""Every figure of a run at once: the list of figures (``figure_tasks``) and
``draw_figures``, which computes, draws and saves them, in worker processes if asked."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plots import manifest
from bench.plots.names import FORMATS, slug

# The figure modules (and matplotlib) are imported when a figure is drawn: a report whose
# figures are all reused (figures.json) never imports them.


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
        beside it, for the HTML report to embed.

        The garbage collector is paused meanwhile, and collects once when the figure is
        done: a figure's tens of thousands of objects live until then, so the hundreds of
        collections they would trigger found nothing to free (a tenth of the drawing time).
        """
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._draw(Path(out_dir), format)
        finally:
            if paused:
                gc.enable()
                gc.collect(0)  # what was made while paused is all in the youngest generation

    def _draw(self, out_dir: Path, format: str) -> tuple[Path, Any]:
        from bench.plots.style import save_figure

        data = self.data(*self.args)
        fig = self.plot(*self.args, data=data)
        path = save_figure(fig, out_dir / self.stem, format)
        if format == "pdf":
            save_figure(fig, path, "png")
        return path, data


def figure_tasks(results) -> list[FigureTask]:
    """Every figure ``draw_figures`` draws, the slowest first."""
    from bench.plots.boundaries import (
        decision_boundary_data,
        plot_decision_boundaries,
        two_d_datasets,
    )
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
    results,
    out_dir: str | Path,
    jobs: int = 1,
    format: str = "png",
    reuse: bool = False,
    meanwhile: Callable[[], Any] | None = None,
) -> dict[str, tuple[Path, Any]]:
    """Every figure of a Results into ``out_dir`` as ``format`` files: {key: (path, data)}.

    Keys: lr_sensitivity, loss_vs_epoch, loss_vs_seconds, final_test, convergence_speed,
    performance_profile, verdicts, critical_difference (when the Friedman ranks exist),
    decision_boundaries:<dataset> (one per 2-D dataset), optimizer_paths. Without
    evaluation trials (a run interrupted in tuning) only the lr sensitivity (when there are
    tuning trials) and the optimizer paths. data is what the figure shows (the ``*_data``
    function's result).

    jobs > 1 draws them in this process and jobs - 1 processes forked from it (which start
    at once: they are copies of this one), each taking the slowest figure left. The manifest
    ``out_dir``/figures.json records what they were drawn from (``bench.plots.manifest``);
    with reuse=True a figure it lists under the same key, its file unchanged, is not drawn
    again: its file is left as it is and its data is what the manifest keeps of it (for the
    optimizer paths the caption's lrs and distances, else None).

    meanwhile: work of the caller's that this process does while the others draw, before
    it takes its own share (first when it draws alone, or nothing is to be drawn).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    out_dir = Path(out_dir)
    digest = manifest.figures_key(results, format)
    figures, complete = manifest.reusable(out_dir, digest) if reuse else ({}, False)
    if complete and meanwhile is not None:
        meanwhile()
    if not complete:
        tasks = [task for task in figure_tasks(results) if task.key not in figures]
        # What is alive now (the Results, the modules) outlives the drawing: frozen, no
        # collection walks it (FigureTask.draw pauses the collector while a figure is made),
        # nor does a forked child copy it on write by touching its objects' headers.
        frozen = not gc.get_freeze_count()
        if frozen:
            gc.freeze()
        try:
            figures = {**figures, **_draw(tasks, out_dir, jobs, format, meanwhile)}
        finally:
            if frozen:
                gc.unfreeze()
        manifest.write_manifest(out_dir, digest, figures)
    return {key: figures[key] for key in sorted(figures, key=_figure_order)}


def _draw(tasks: list[FigureTask], out_dir: Path, jobs: int, format: str, meanwhile=None) -> dict:
    """Draw ``tasks``: {key: (path, data)}. With jobs > 1 on Linux, jobs - 1 forked
    children and this process each take the first task left (the slowest, as figure_tasks
    orders them) until none is left. A child is a copy of this process, matplotlib, the
    Results and the datasets already loaded, so it starts drawing at once (a spawned
    worker spent 3 s importing them); it hands back each figure's data through a file. A
    task that a child failed on, or did not finish (it was killed), is drawn here, which
    raises what it raised. Elsewhere (where forking a process that has loaded matplotlib
    is not safe), or in a child, this process draws every task."""
    workers = min(jobs, len(tasks)) - 1
    if workers < 1 or not sys.platform.startswith("linux") or _in_child:
        if meanwhile is not None:
            meanwhile()
        return {task.key: task.draw(out_dir, format) for task in tasks}
    import multiprocessing
    import pickle
    import signal
    import tempfile

    claimed = multiprocessing.get_context("fork").Value("i", 0)

    def claim() -> int | None:
        with claimed.get_lock():
            index = claimed.value
            claimed.value += 1
        return index if index < len(tasks) else None

    drawn: dict[str, tuple[Path, Any]] = {}
    children: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as handover:
        handover = Path(handover)
        try:
            for _ in range(workers):
                pid = os.fork()
                if pid == 0:  # the child: draw, hand over, and leave without cleaning up
                    _child(tasks, claim, out_dir, format, handover)
                children.append(pid)
            if meanwhile is not None:
                meanwhile()
            while (index := claim()) is not None:
                task = tasks[index]
                drawn[task.key] = task.draw(out_dir, format)
            for pid in children:
                os.waitpid(pid, 0)
            children.clear()
        except BaseException:  # e.g. Ctrl-C: stop the children before leaving
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            raise
        for task in tasks:
            if task.key in drawn:
                continue
            try:
                drawn[task.key] = pickle.loads((handover / f"{task.stem}.pickle").read_bytes())
            except (OSError, pickle.UnpicklingError, EOFError):  # failed or unfinished there
                drawn[task.key] = task.draw(out_dir, format)
    return drawn


_in_child = False  # True in a child of _draw, which draws its tasks alone


def _child(tasks: list[FigureTask], claim, out_dir: Path, format: str, handover: Path) -> None:
    """A forked child of ``_draw``: draw the tasks it claims, each one's (path, data) pickled
    into ``handover``; exit without returning (no atexit handler, no finaliser of the
    parent's objects runs here). A task that raises is left to the parent."""
    global _in_child
    import pickle

    _in_child, status = True, 0
    try:
        while (index := claim()) is not None:
            task = tasks[index]
            try:
                result = pickle.dumps(task.draw(out_dir, format), pickle.HIGHEST_PROTOCOL)
            except Exception:
                continue  # the parent draws it again, and raises what it raises
            partial = handover / f".{task.stem}.pickle"
            partial.write_bytes(result)
            partial.replace(handover / f"{task.stem}.pickle")
    except BaseException:  # e.g. Ctrl-C, which the parent handles
        status = 1
    finally:
        os._exit(status)


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
