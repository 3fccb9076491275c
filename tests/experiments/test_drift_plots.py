"""Every figure of the drift chapters draws from hand-built readings (experiments.goals.drift_plots)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from goaldrift.experiments.goals import drift_law as law
from goaldrift.experiments.goals import drift_plots
from goaldrift.experiments.goals import proxy_drift as drift


def _drift():
    members = drift.grid(2, [0.1, 0.2], [0.0, 0.5, 1.0])
    steps = np.arange(0.0, 50.0, 10.0)
    agreement = np.linspace(1, 0, 5)[:, None] * np.ones((1, len(members)))
    metrics = {k: np.ones((5, len(members))) for k in ("complex_norm", "simple_norm", "other_norm", "excluded_loss",
                                                        "train_loss", "total_norm")}
    return drift.DecayDrift(members, steps, agreement, drift.drift_step(steps, agreement), metrics)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _axes_with_lines(fig):
    return [ax for ax in fig.axes if ax.lines or ax.collections]


def test_the_proxy_drift_figures_draw():
    d = _drift()
    assert len(_axes_with_lines(drift_plots.collapse(d, [0.1, 0.2], [0.0, 0.5, 1.0], 0.35))) == 2
    assert len(_axes_with_lines(drift_plots.pathways(d, d.member(0, 0.1, 1.0), 0.35))) == 2
    assert len(_axes_with_lines(drift_plots.drift_step_against_eta_lambda(d, [0.1, 0.2], 0.35))) == 1
    g = drift.group_outcome({"conflict_agreement": d.agreement, "train_acc": d.agreement, "step": d.steps},
                            np.array([m.weight_decay == 0 for m in d.members]), 0.1)
    assert len(drift_plots.groups({("squared error", "sgd", 0.0): g}).axes[0].lines) == 1
    cx = drift.ComplexitySweep({("parity", 1): drift.DriftPoint(np.array([np.inf]), 1.0, 0.0),
                                ("parity", 2): drift.DriftPoint(np.array([0.5]), 1.0, 0.0),
                                ("slab", 2): drift.DriftPoint(np.array([0.2]), 1.0, 0.0)}, 1)
    assert len(drift_plots.complexity(cx, 0.35).axes[0].lines) == 3  # two families and the prediction


def test_the_beyond_the_toy_figures_draw():
    d = _drift()
    case = law.LawCase(rho=np.array([2.0, 5.0]), a0=np.full(2, 0.99), pred=np.array([1.0, 0.5]),
                       x_d=np.array([0.6, np.inf]), hit=np.array([True, False]), hit_const=np.array([False, False]),
                       acc=1.0)
    fig = drift_plots.law(law.LawSweep([("parity", 3, 1.0)], [case], budget_x=2.0))
    assert len(fig.axes[0].collections) == 1 and len(fig.axes[0].lines) == 2
    assert len(drift_plots.agreement_on_clock(d, "t").axes[0].lines) == len(d.members)
    assert len(_axes_with_lines(drift_plots.two_clocks(d, 0.69))) == 2
