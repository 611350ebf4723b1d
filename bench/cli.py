"""The command line, ``python -m bench`` or ``backprop-bench``: list, run, report, compare.

Exit status: 0 on success; 2, with a message that says what to do and nothing written, for a
bad suite file or dataset, a missing or damaged results store, a results folder another run
is writing into, an --out that is a file, a folder that holds another suite (without
--replace), or a --cluster that cannot be used (malformed, dask not installed, no scheduler
answering, no workers); argparse's own usage errors are 2 as well. ``prune`` declined at its
question exits 1, with nothing dropped. A suite file's warnings (an unused table) are printed
to stderr as ``warning: ...`` lines, and the run goes on.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence

DESCRIPTION = """\
Compare gradient-descent methods on a small NumPy network: every method on every dataset,
over a learning-rate grid and seeds, each method at its tuned learning rate.

  python -m bench list                        what can be run
  python -m bench run --suite quick           train a suite into results/quick/
  python -m bench report results/quick        tables (and report) again, without training
  python -m bench compare results/a results/b what changed between two runs
  python -m bench prune results/quick         drop the populations the folder no longer reports
"""
RUN_EPILOG = """\
DIR receives runs.sqlite (every trial's record, curve and final parameters), tables/*.csv
and, when available, figures and report. Populations already in DIR/runs.sqlite are
skipped, so an interrupted run resumes where it stopped; --force retrains them. One run at
a time writes into DIR (it holds DIR/.lock).

DIR holds one suite: a suite of another name is refused (exit 2) unless --replace, and a
changed definition under the same name is said in one line. Either way the old populations
stay in the store, unreported; `python -m bench prune DIR` drops them.

--cluster local starts a Dask LocalCluster of --jobs worker processes on this machine;
--cluster tcp://HOST:8786 sends the populations to the workers of a running `dask scheduler`
(they need backprop-bench installed: pip install 'backprop-bench[distributed]'). Either
way, each population is stored as soon as it is done.
"""


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


FORMATS = ("png", "svg", "pdf")  # bench.plots.FORMATS, named here without importing matplotlib


def add_format(parser: argparse.ArgumentParser) -> None:
    """The --format option of the verbs that draw figures."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="png",
        help="file format of the figures (default png); the HTML report embeds PNG or SVG, "
        "and with pdf the PNG drawn beside each PDF",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb, with its help."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    listing = verbs.add_parser(
        "list",
        help="list the built-in datasets, methods and suites",
        description="List the built-in datasets (generator, parameters, target loss), methods "
        "(optimizer, batch size, lr grid) and suites (size of the grid, and how long a run "
        "took when last measured on a 2-core machine).",
    )
    listing.set_defaults(command=cmd_list)

    run = verbs.add_parser(
        "run",
        help="train a suite and write its store, tables and report",
        description="Train every method x dataset population of a suite, over its lr grid and "
        "seeds, and write the results to DIR.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--suite",
        required=True,
        metavar="SUITE",
        help="a built-in suite (quick, default, full) or the path of a suite file (.toml)",
    )
    run.add_argument("--out", metavar="DIR", help="results folder (default: results/<suite name>)")
    run.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="worker processes, one BLAS thread each (default: the number of cores); "
        "1 trains in this process; with --cluster local, the number of Dask workers",
    )
    run.add_argument("--force", action="store_true", help="retrain populations already stored")
    run.add_argument(
        "--replace",
        action="store_true",
        help="let this suite take DIR when DIR holds the results of a suite of another name "
        "(its populations stay in the store, unreported; `prune` drops them)",
    )
    run.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="train on a Dask cluster: 'local' (started on this machine) or the address of a "
        "running scheduler, 'tcp://HOST:PORT'",
    )
    run.add_argument(
        "--engine",
        choices=("auto", "numpy", "compiled"),
        default="auto",
        help="training engine (default auto: the compiled one, with numba installed, where a "
        "replica's batch x its largest weight matrix is below 2^21 multiply-adds, NumPy's for "
        "larger steps; chosen once per population and part of its key)",
    )
    add_format(run)
    run.set_defaults(command=cmd_run)

    report = verbs.add_parser(
        "report",
        help="rebuild tables, figures and report from a results folder, without training",
        description="Rebuild DIR/tables/*.csv, DIR/figures and DIR/report.{md,html} from "
        "DIR/runs.sqlite, without training.",
    )
    report.add_argument("dir", metavar="DIR", help="a results folder written by `run`")
    report.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="processes drawing the figures (default: the number of cores)",
    )
    add_format(report)
    report.set_defaults(command=cmd_report)

    compare = verbs.add_parser(
        "compare",
        help="what changed between two results folders",
        description="What changed from A to B: the suite settings that differ, then the "
        "verdicts and ranking that moved, then losses, metrics and divergence of the "
        "evaluation trials present in both, compared as values (identical runs say "
        '"identical results"), then timing, where a change under 25%% or inside the noise '
        "the runs show (calibration, spread across seeds, 95%% intervals) is not a change; "
        "pairs in one run only are listed apart. Exit status 0 either way.",
    )
    compare.add_argument("dir_a", metavar="A", help="the results folder before")
    compare.add_argument("dir_b", metavar="B", help="the results folder after")
    compare.add_argument(
        "--format",
        choices=("text", "md"),
        default="text",
        dest="compare_format",
        help="plain text, 100 columns wide (default), or Markdown tables",
    )
    compare.set_defaults(command=cmd_compare)

    prune = verbs.add_parser(
        "prune",
        help="drop the stored populations that a results folder no longer reports",
        description="Drop from DIR/runs.sqlite the populations that belong to no suite DIR "
        "reports (those of an earlier definition of its suite, or of a suite it replaced), "
        "then compact the file. Lists them first (method, dataset, phase, trials) and asks "
        "unless --yes. Exit status 0, or 1 when the answer is no.",
    )
    prune.add_argument("dir", metavar="DIR", help="a results folder written by `run`")
    prune.add_argument("--yes", action="store_true", help="drop without asking")
    prune.set_defaults(command=cmd_prune)
    return parser


# ------------------------------------------------------------------------------ verbs


def cmd_list(args: argparse.Namespace) -> int:
    """Print the built-in datasets, methods and suites."""
    from bench.datasets import BUILTIN_DATASETS
    from bench.methods import BUILTIN_METHODS
    from bench.protocol import planned_trials
    from bench.suite import builtin_suite_names, expected_duration, load_suite

    print("datasets:")
    for name, spec in BUILTIN_DATASETS.items():
        params = " ".join(f"{k}={v}" for k, v in spec["params"].items())
        print(f"  {name:<15} target_loss {spec['target_loss']:<6g} {params}")
    print("methods:")
    for name, spec in BUILTIN_METHODS.items():
        grid = ", ".join(f"{lr:g}" for lr in spec["lr"])
        args_text = f" {spec['args']}" if spec.get("args") else ""
        print(f"  {name:<15} {spec['optimizer']}{args_text}, batch {spec['batch_size']}, lr {grid}")
    print("suites:")
    for name in builtin_suite_names():
        suite = load_suite(name, check_datasets=False)  # built-in: checked by the tests
        print_warnings(suite)
        print(
            f"  {name:<15} {len(suite.methods)} methods x {len(suite.datasets)} datasets, "
            f"{len(suite.tuning_seeds)} tuning + {len(suite.seeds)} evaluation seeds, "
            f"{suite.epochs} epochs,\n  {'':<15} {planned_trials(suite)} trials before grid "
            f"extensions; {expected_duration(suite)}"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Train a suite, then write tables and report and say where they are."""
    jobs = 1 if args.cluster else (args.jobs or os.cpu_count() or 1)  # local processes
    workers = None
    if jobs > 1:
        from bench.worker import start_workers  # they start while this process loads the suite

        workers = start_workers(jobs, kernels=args.engine != "numpy")
    from bench.runner import run
    from bench.suite import load_suite

    suite = load_suite(args.suite)
    print_warnings(suite)
    results = run(
        suite,
        out=args.out,
        jobs=args.jobs,
        force=args.force,
        cluster=args.cluster,
        replace=args.replace,
        engine=args.engine,
        tables=False,  # written by finish, while the figures are drawn
    )
    if workers is not None:  # they leave while the report is written, not at exit
        workers.shutdown(wait=False)
    finish(results, jobs=jobs, format=args.format)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild tables and report from a results folder."""
    from bench.tables import load

    results = load(args.dir)
    if results.missing:
        source = results.suite.get("source", "SUITE").removeprefix("builtin:")
        print(
            f"note: {len(results.missing)} of {len(results.suite['populations'])} populations "
            f"are not in the store (an interrupted run?); `python -m bench run --suite {source} "
            f"--out {results.out}` trains them"
        )
    finish(results, jobs=args.jobs or os.cpu_count() or 1, format=args.format)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print what changed from A to B, as text or Markdown."""
    from bench.changes import compare, format_markdown, format_text
    from bench.tables import load

    tables = compare(load(args.dir_a), load(args.dir_b))
    write = format_markdown if args.compare_format == "md" else format_text
    sys.stdout.write(write(tables, args.dir_a, args.dir_b))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """Drop the populations of DIR's store that its suite does not use, after asking."""
    from pathlib import Path

    import pandas as pd

    from bench.store import STORE_NAME, Store, StoreError, hold_folder

    out = Path(args.dir)
    if not out.is_dir():
        raise StoreError(f"no results folder {out}; give the folder of a run (`--out` of `run`)")
    path = out / STORE_NAME
    Store(path).close()  # a missing, damaged or old store is refused before the lock is taken
    with hold_folder(out), Store(path) as store:
        suite = store.meta("suite")
        if suite is None:
            raise StoreError(f"{path} records no suite (the run never started); nothing to prune")
        name, source = suite.get("name"), suite.get("source", "SUITE").removeprefix("builtin:")
        if store.meta("provenance", {}).get("finished_at") is None:
            raise StoreError(
                f"the last run in {out}, of suite {name!r}, did not finish, so not every "
                f"population it uses is recorded yet; finish it with `python -m bench run "
                f"--suite {source} --out {out}`, then prune"
            )
        unused = store.unreported(p["key"] for p in suite["populations"])
        if unused.empty:
            print(f"nothing to prune: every population in {path} belongs to suite {name!r}")
            return 0
        trials = int(unused["trials"].sum())
        print(
            f"{len(unused)} populations ({trials} trials) in {path} belong to no suite that "
            f"{out} reports (it reports suite {name!r}):"
        )
        with pd.option_context("display.width", 100):
            print(unused[["method", "dataset", "phase", "trials"]].to_string(index=False))
        if not args.yes:
            try:
                answer = input(f"drop these {len(unused)} populations? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing dropped")
                return 1
        before = path.stat().st_size
        store.drop(unused["key"])
        after = path.stat().st_size
    print(
        f"dropped {len(unused)} populations ({trials} trials); {path}: {before / 1e6:.2f} MB -> "
        f"{after / 1e6:.2f} MB"
    )
    return 0


def print_warnings(suite) -> None:
    """A suite's warnings on stderr, one ``warning: ...`` line each."""
    for text in suite.warnings:
        print(f"warning: {text}", file=sys.stderr)


def finish(results, jobs: int, format: str = "png") -> None:
    """Write the tables and the report (its figures drawn by ``jobs`` processes, as
    ``format`` files, the tables written meanwhile), print where they are and the ranking."""
    import pandas as pd

    from bench.report import write_report

    report = write_report(results, jobs=jobs, format=format, meanwhile=results.write_tables)
    print(f"store:  {results.store_path}")
    print(f"tables: {results.out / 'tables'}")
    print(f"report: {report}")
    if len(results.ranking):
        with pd.option_context("display.width", 200):
            print(
                "\nmean rank of the test loss over datasets, and per dataset the verdict against "
                "the best method (paired by seed; see the report's Conclusions):"
            )
            print(results.ranking.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from bench.datasets import DatasetError
    from bench.runner import ClusterError
    from bench.store import StoreError
    from bench.suite import SuiteError

    args = build_parser().parse_args(argv)
    try:
        return args.command(args)
    except (SuiteError, StoreError, ClusterError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished populations are stored; rerun to resume", file=sys.stderr)
        return 130


def run(argv: Sequence[str] | None = None) -> int:
    """The command line as a program runs it (``python -m bench``, ``backprop-bench``): main,
    then the garbage collector frozen, so that the interpreter's exit does not walk every
    object still alive (0.3-0.4 s after a report: pandas' frames, matplotlib's artists)."""
    status = main(argv)
    gc.freeze()
    return status


if __name__ == "__main__":
    sys.exit(run())
