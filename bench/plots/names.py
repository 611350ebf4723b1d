"""What the figures and the report share without matplotlib: the figures' resolution and
file formats, names made safe, and relative differences as short labels. The report
imports only this (and ``runs``, ``manifest``) when every figure is reused."""

from __future__ import annotations

import re

import numpy as np

DPI = 120
FORMATS = ("png", "svg", "pdf")  # of saved figures; the HTML report embeds PNG or SVG


def text(label: str) -> str:
    """A name from a suite file made safe for matplotlib (no mathtext from a '$')."""
    return str(label).replace("$", r"\$")


def slug(name: str) -> str:
    """A file-name-safe form of a dataset name: letters, digits, '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "dataset"


def ratio_text(rel_diff: float) -> str:
    """A relative difference as a short label: '+12%', '−3.5%', or '×3.1' from a ratio of 2 up."""
    if not np.isfinite(rel_diff):
        return "–"
    if rel_diff >= 1:
        ratio = 1 + rel_diff
        return f"×{ratio:.2g}" if ratio < 100 else f"×{ratio:.0f}"
    percent = 100 * rel_diff
    digits = 0 if abs(percent) >= 9.95 else 1
    return f"{percent:+.{digits}f}%".replace("-", "−")
