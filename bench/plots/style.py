"""The look shared by every figure: one style per method, names made safe, panels, legends,
log axes, and saving a figure as PNG, SVG or PDF.

Every method keeps one look in every figure (``method_style``): an Okabe–Ito colour (a
palette that stays distinct under the common colour-vision deficiencies), a line style and a
marker; no two methods share a colour-and-marker pair.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator
from PIL import Image

from bench.methods import BUILTIN_METHODS
from bench.plots.runs import methods_of

DPI = 120
FORMATS = ("png", "svg", "pdf")  # of saved figures; the HTML report embeds PNG or SVG
# Okabe & Ito (2008), "Color universal design"; yellow last, as it is faint on white.
OKABE_ITO = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#F0E442",  # yellow
)
BLACK, ORANGE, SKY_BLUE, GREEN, PURPLE, VERMILLION, BLUE, YELLOW = OKABE_ITO
# The built-in methods (bench.methods.BUILTIN_METHODS, in order): colour, line style, marker.
# Eleven methods in eight colours: the three that share a colour take one from another
# family (rmsprop sgd's orange, adamw momentum's blue, nadam adagrad's green) and draw it
# dashed, so that no two methods likely to run close together look alike; every marker
# differs. gd alone is black.
BUILTIN_STYLES = {
    "gd": (BLACK, "-", "o"),
    "sgd": (ORANGE, "-", "s"),
    "minibatch": (SKY_BLUE, "-", "^"),
    "adagrad": (GREEN, "-", "v"),
    "adadelta": (PURPLE, "-", "D"),
    "adam": (VERMILLION, "-", "P"),
    "momentum": (BLUE, "-", "X"),
    "nesterov": (YELLOW, "-", "*"),
    "rmsprop": (ORANGE, "--", "h"),
    "adamw": (BLUE, "--", "<"),
    "nadam": (GREEN, "--", ">"),
}
BUILTIN_ORDER = tuple(BUILTIN_METHODS)  # the order of the legends' built-ins
# A user's method: one of 7 colours (yellow, faint on white, left out) x 4 markers no
# built-in uses, dash-dotted.
USER_MARKERS = ("p", "d", "+", "1")  # not "x": it marks divergence
USER_LINESTYLE = "-."
USER_STYLES = tuple((c, USER_LINESTYLE, m) for m in USER_MARKERS for c in OKABE_ITO[:7])


def method_style(method: str, methods: Sequence[str] = ()) -> dict[str, Any]:
    """The fixed look of a method: {"color", "linestyle", "marker"}, for ``ax.plot(**style)``.

    A built-in method has its own entry of BUILTIN_STYLES. A user's method takes the entry
    of USER_STYLES that its name hashes to (CRC-32, so the same in every process and every
    figure, whatever else is in the run): its colour-and-marker pair differs from every
    built-in's. Only when two user methods of ``methods`` hash to the same entry does the
    later of them (in sorted order) take the next free one.
    """
    if method in BUILTIN_STYLES:
        colour, linestyle, marker = BUILTIN_STYLES[method]
    else:
        colour, linestyle, marker = USER_STYLES[_user_slot(method, methods)]
    return {"color": colour, "linestyle": linestyle, "marker": marker}


def _user_slot(method: str, methods: Sequence[str]) -> int:
    """The index in USER_STYLES of a user's method: its hash, probed past collisions with the
    user methods of ``methods`` before it in sorted order."""
    users = sorted({str(m) for m in methods if m not in BUILTIN_STYLES} | {str(method)})
    taken: set[int] = set()
    for user in users:
        slot = zlib.crc32(user.encode("utf-8")) % len(USER_STYLES)
        for _ in range(len(USER_STYLES)):
            if slot not in taken:
                break
            slot = (slot + 1) % len(USER_STYLES)
        if user == str(method):
            return slot
        taken.add(slot)
    raise AssertionError("unreachable")  # pragma: no cover


def styled_methods(results, shown: Sequence[str]) -> list[str]:
    """The methods whose styles a figure is drawn with: the whole run's, so that a user method
    keeps its look in a figure that leaves out another one (``shown`` without a run)."""
    try:
        return list(dict.fromkeys([*methods_of(results), *shown]))
    except (AttributeError, KeyError, TypeError):
        return list(shown)


# ------------------------------------------------------------------------------ names, layout


def text(label: str) -> str:
    """A name from a suite file made safe for matplotlib (no mathtext from a '$')."""
    return str(label).replace("$", r"\$")


def slug(name: str) -> str:
    """A file-name-safe form of a dataset name: letters, digits, '-', '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "dataset"


def legend_handles(methods: Sequence[str], styles: Sequence[str] = ()) -> list[Line2D]:
    """A legend entry per method, styled as among ``styles`` (default: ``methods``)."""
    styles = list(styles) or list(methods)
    return [Line2D([], [], label=text(m), markersize=6, **method_style(m, styles)) for m in methods]


def figure_legend(fig, handles: list, ncol: int | None = None, loc: str = "lower") -> None:
    """One legend for the whole figure, below (or with loc="upper", above) the panels."""
    fig.legend(
        handles=handles,
        loc=f"outside {loc} center",
        ncol=ncol or min(len(handles), 6),
        frameon=False,
        fontsize="small",
    )


def panels(n: int, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2)):
    """A figure of n panels in rows of ``ncols``; unused panels are removed."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    fig.get_layout_engine().set(hspace=0.06, wspace=0.03)  # keep a title by its own panel
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


class _SparseMinorLocator(LogLocator):
    """Minor ticks of a log axis only where they carry labels (a span under 1.8 decades):
    on a wider axis unlabelled minor ticks cost a quarter of the drawing time and show
    nothing the major grid does not."""

    def __call__(self):
        low, high = self.axis.get_view_interval()
        if low <= 0 or np.log10(high / low) >= 1.8:
            return []
        return super().__call__()


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers (0.3, 1, 30), not 3 x 10^-1; label the minor
    ticks 2 and 5 (and 3) x 10^k as well when the axis spans less than two (one) decades
    (a wider axis has no minor ticks)."""

    def minor(value: float, _) -> str:
        low, high = axis.get_view_interval()
        mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
        decades = np.log10(high / low) if low > 0 else np.inf
        labelled = (2, 3, 5) if decades < 1 else (2, 5) if decades < 1.8 else ()
        return f"{value:g}" if mantissa in labelled else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(_SparseMinorLocator(10, subs=np.arange(2, 10)))
    axis.set_minor_formatter(FuncFormatter(minor))


# ------------------------------------------------------------------------------ saving


def save_figure(fig: Figure, path: str | Path, format: str | None = None) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (``format``, else the path's suffix, else
    PNG); the suffix is set to the format. Returns the path written.

    A PNG is rendered once by Agg into memory and written as a 256-colour image (a third of
    the size of RGBA; savefig would encode a full-colour PNG first, which costs as much as
    the drawing). SVG and PDF are written by ``savefig`` without a date, so that the same
    figure gives the same file.
    """
    path = Path(path)
    format = format or path.suffix.lstrip(".").lower() or "png"
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
    path = path.with_suffix(f".{format}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.set_dpi(DPI)
    fig.patch.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    if format != "png":
        metadata = {"Date": None} if format == "svg" else {"CreationDate": None}
        with rc_context({"svg.hashsalt": "backprop-bench", "svg.fonttype": "path"}):
            fig.savefig(path, format=format, metadata=metadata)
        return path
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    # fast octree: a fifth of the time of median cut, and as good on flat plot colours;
    # PNG's optimize pass would save 7% of the bytes for four times the encoding time
    image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    image.save(path, format="PNG")
    return path
