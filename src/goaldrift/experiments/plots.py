"""One figure style for the whole book: readable at the site's width, labelled axes."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt


PREDICTED = dict(color="black", linestyle="--", linewidth=1.2)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def style() -> None:
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": matplotlib.cycler(color=COLORS),
            "legend.frameon": False,
            "font.size": 10,
        }
    )


def panels(n: int = 1, width: float = 7.0, height: float = 3.4):
    style()
    fig, axes = plt.subplots(1, n, figsize=(width, height), constrained_layout=True)
    return fig, axes


def show(fig=None, dpi: int = 110) -> None:
    """Put a figure into the executed notebook as a PNG, then close it.

    Explicit rather than plt.show(): whatever backend matplotlib picked (Agg
    on a headless machine draws nothing on show), the figure lands in the
    notebook, and closing it keeps long chapters from piling up figures.
    """
    from IPython.display import Image, display

    fig = fig if fig is not None else plt.gcf()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png"))
