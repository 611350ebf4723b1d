"""The manifest of a folder of figures, DIR/figures/figures.json: what the figures were drawn
from, so that a rerun on unchanged results reuses the files instead of drawing them again.

A figure depends on the Results it is drawn from, the file format, and the code that draws
it. The manifest's key is a SHA-256 digest of all three:

- the Results' content: the five tables (trials, curves, summary, comparisons, ranking:
  their columns, dtypes and every row), the Friedman ranks and the suite recorded in the
  store (its methods and lr grids, the datasets' generation specs, epochs, seeds and the
  populations' keys);
- the format (png, svg, pdf);
- the code: the source of the ``bench`` and ``backprop`` packages, and the versions of the
  libraries that compute and draw (matplotlib, NumPy, pandas, Pillow, SciPy, scikit-learn).

The trials and curves tables are hashed as sets of rows: their rows come in the order the
store lists the populations, which is the order a run finished them in. A run that trains
in parallel finishes them in an order of its own, and a rerun that reads every population
back records them in the order it asks for them: the same results, another row order,
which no figure shows (each row names its trial, and the figures order by the suite and by
seed). So is the suite's list of populations (by key); the order of its methods and
datasets, which the figures follow, counts.

Not the store file's bytes: every ``bench run`` rewrites the store's provenance (its start
and end times) even when it trains nothing, and figures never show provenance. The decision
boundaries also read each method's stored parameters, which the tables do not hold; they
are written with the population's curves, under the population's key (a digest of its
configuration), and retraining a population measures its time per epoch again, which
changes its seconds axis in the curves table, and so the key.

Beside each figure's file names and SHA-256 the manifest keeps what the report reads of
its data: for the optimizer paths, the lrs and the distances to a minimum that its caption
quotes (``paths_caption_data``). A figure is reused only when the key matches and its files
are still there with the same content: a reused figure is the file drawn before, byte for
byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MANIFEST_NAME = "figures.json"
MANIFEST_VERSION = 1
TABLES = ("trials", "curves", "summary", "comparisons", "ranking")
UNORDERED = ("trials", "curves")  # hashed as sets of rows: their order is the populations' arrival
LIBRARIES = ("matplotlib", "numpy", "pandas", "pillow", "scipy", "scikit-learn")


def figures_key(results, format: str) -> str:
    """The digest of everything a run's figures depend on (module docstring), as hex."""
    digest = hashlib.sha256(f"figures {MANIFEST_VERSION} {format}\n".encode())
    digest.update(code_version().encode())
    for name in TABLES:
        _update_frame(digest, name, getattr(results, name), ordered=name not in UNORDERED)
    _update_friedman(digest, results.friedman)
    digest.update(json.dumps(_suite_content(results.suite), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _suite_content(suite: dict) -> dict:
    """The suite as the figures read it: its populations in order of key (they are listed
    in the order a run finished them), the order of its methods and datasets kept (which
    ``sort_keys`` would lose)."""
    populations = [json.dumps(p, sort_keys=True, default=str) for p in suite.get("populations", [])]
    return {
        **suite,
        "populations": sorted(populations),
        "order": [list(suite.get("methods", {})), list(suite.get("datasets", {}))],
    }


@cache
def code_version() -> str:
    """A digest of the source of ``bench`` and ``backprop`` and the drawing libraries'
    versions: a changed line of either package, or another library version, redraws."""
    import backprop
    import bench

    digest = hashlib.sha256()
    for package in (bench, backprop):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    for library in LIBRARIES:
        digest.update(f"{library} {_version(library)}\n".encode())
    return digest.hexdigest()


def _version(library: str) -> str:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "absent"


def _update_frame(
    digest, name: str, frame: pd.DataFrame, index: bool = False, ordered: bool = True
) -> None:
    """Add a table to ``digest``: its name, length, columns and dtypes, and its rows (their
    order too, unless ``ordered`` is False)."""
    columns = [f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()]
    digest.update(json.dumps([name, len(frame), columns], default=str).encode())
    try:
        rows = pd.util.hash_pandas_object(frame, index=index).to_numpy()
    except TypeError:  # a cell pandas cannot hash (a list, a dict): its text
        lines = frame.to_csv(index=index).splitlines(keepends=True)
        rows = "".join(lines if ordered else lines[:1] + sorted(lines[1:])).encode()
    else:
        rows = np.ascontiguousarray(rows if ordered else np.sort(rows)).tobytes()
    digest.update(rows)


def _update_friedman(digest, friedman) -> None:
    if friedman is None:
        digest.update(b"friedman: none\n")
        return
    fields = (
        {f.name: getattr(friedman, f.name) for f in dataclasses.fields(friedman)}
        if dataclasses.is_dataclass(friedman)
        else dict(vars(friedman))
    )
    for name, value in sorted(fields.items()):
        if isinstance(value, pd.Series | pd.DataFrame):
            _update_frame(digest, f"friedman.{name}", pd.DataFrame(value), index=True)
        else:
            digest.update(json.dumps([name, value], default=str).encode())


# ------------------------------------------------------------------------------ the file


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content, as hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reusable(folder: str | Path, key: str) -> tuple[dict[str, tuple[Path, Any]], bool]:
    """The figures of ``folder``'s manifest that can be reused for ``key``, and whether that
    is every figure it lists: ({figure key: (path, data)}, complete), data the part the
    report reads (None for most figures). ({}, False) when the manifest is missing,
    unreadable or of another key; a figure whose files are missing or changed is left out
    (to be drawn again)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        if manifest["key"] != key:
            return {}, False
        listed = dict(manifest["figures"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}, False
    found = {}
    for figure, entry in listed.items():
        try:
            files = {folder / name: digest for name, digest in entry["files"].items()}
            if all(p.is_file() and file_digest(p) == d for p, d in files.items()):
                found[figure] = (folder / entry["path"], entry.get("data"))
        except (KeyError, TypeError, AttributeError, OSError):
            continue
    return found, bool(found) and len(found) == len(listed)


def write_manifest(folder: str | Path, key: str, figures: dict[str, tuple[Path, Any]]) -> Path:
    """Write ``folder``/figures.json for ``figures`` ({figure key: (path, data)}) drawn under
    ``key``; each figure's files are its path and, for a PDF, the PNG drawn beside it.
    Written to a temporary file first, then renamed: a reader never sees half of it."""
    folder = Path(folder)
    entries = {}
    for figure, (path, data) in figures.items():
        path = Path(path)
        names = [path.name] + ([path.with_suffix(".png").name] if path.suffix == ".pdf" else [])
        entries[figure] = {
            "path": path.name,
            "files": {name: file_digest(folder / name) for name in names},
            "data": kept_data(figure, data),
        }
    text = json.dumps({"version": MANIFEST_VERSION, "key": key, "figures": entries}, indent=1)
    target = folder / MANIFEST_NAME
    partial = target.with_name(f".{MANIFEST_NAME}.{os.getpid()}")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def kept_data(figure: str, data) -> Any:
    """What the manifest keeps of a figure's data: what the report reads of it."""
    if figure == "optimizer_paths" and data is not None:
        return paths_caption_data(data)
    return None


def paths_caption_data(data: dict) -> dict:
    """The part of ``optimizer_paths_data`` that the report's caption quotes, as JSON
    values: per surface its "lrs", the finite "distance"s to a minimum and "closest"."""
    return {
        surface: {
            "lrs": {label: None if lr is None else float(lr) for label, lr in d["lrs"].items()},
            "distance": {label: float(x) for label, x in d["distance"].items() if np.isfinite(x)},
            "closest": None if d["closest"] is None else [d["closest"][0], float(d["closest"][1])],
        }
        for surface, d in data.items()
    }
