"""One figure style for the whole book: readable at the site's width, labelled axes."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt

# No backend is forced: in a kernel (papermill) matplotlib's inline backend puts
# each figure into the notebook; elsewhere headless matplotlib falls back to Agg.

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
