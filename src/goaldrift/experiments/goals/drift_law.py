"""Testing the drift-point law in the cost ratio: pathway costs measured apart from the
drift run, the law's prediction, and its score.

The cost of a pathway at the training margin is its balanced L2 cost: for a
one-hidden-layer ReLU network, 2 Σ_j |v_j| ‖w_j,S‖ (readout v, input weights
w on the inputs S the rule reads, plus the bias), the smallest squared norm
of the same function after rebalancing each unit (AM-GM), divided by the
mean training margin (the cost is linear in the output for degree 2). The
goal's cost comes from the phase-1 network; the proxy's from a network
trained on the proxy alone (the reversed task's phase 1: the label is the
proxy bit, independent of every other input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.experiments.decay import recipes
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.proxy_drift import complex_inputs, margin, model_inputs
from goaldrift.theory.drift_law import predicted_drift_point


def balanced_cost(model, inputs: list[int]) -> np.ndarray:
    """2 Σ_j |v_j| ‖(w_j,S, b_j)‖ per member ``[K]``: the cheapest squared norm of the
    units' contribution after moving scale between each unit's input and readout."""
    W = model.W_0.detach().to(torch.float64)[:, inputs, :]            # [K, |S|, H]
    b = model.b_0.detach().to(torch.float64)[:, None, :]             # [K, 1, H]
    w_norm = torch.cat([W, b], dim=1).norm(dim=1)                     # [K, H]
    v = model.W_1.detach().to(torch.float64)[:, :, 0].abs()           # [K, H]
    return (2 * (v * w_norm).sum(1)).numpy()


def training_margin(model, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Mean signed output (output × ±1 target) per member on the given inputs ``[K]``."""
    p0 = next(model.parameters())
    with torch.no_grad():
        m = margin(model, model_inputs(x, p0.device, p0.dtype)).to(torch.float64)
    return (m * target.to(m.device, torch.float64)).mean(1).cpu().numpy()


def goal_cost(run, setup) -> np.ndarray:
    """Cost of the goal pathway per phase-1 network, per unit of training margin."""
    data = setup.data(1)
    m = training_margin(run.model, data.train_x, data.train_goal)
    return balanced_cost(run.model, complex_inputs(setup.task)) / m


def proxy_cost(run, setup) -> np.ndarray:
    """Cost of the proxy pathway of networks trained on the proxy alone
    (``setup.task.reverse`` must be True: the label is bit 0)."""
    if not setup.task.reverse:
        raise ValueError("proxy_cost needs the reversed task (the proxy trained alone)")
    data = setup.data(1)
    m = training_margin(run.model, data.train_x, data.train_goal)
    return balanced_cost(run.model, [0]) / m


def start_share(run, setup, n_floor: int | None = None) -> np.ndarray:
    """Aligned share A_0 of the phase-2 output at the start of phase 2: with output
    A + P on phase-2 data and A - P on the conflict set, A_0 = (m_2 + m_c) / (2 m_2).
    Clipped to [1/2, 1 - 1/n] (n: conflict-set size), the resolution of the measurement."""
    data = setup.data(2)
    m2 = training_margin(run.model, data.train_x, data.train_goal)
    mc = training_margin(run.model, data.conflict_x, data.conflict_goal)
    n = n_floor or len(data.conflict_goal)
    return np.clip((m2 + mc) / (2 * m2), 0.5, 1 - 1 / n)


def law_prediction(ratio: np.ndarray, share: np.ndarray) -> np.ndarray:
    """The law's ηλt_d per member (inf: no drift)."""
    return np.array([predicted_drift_point(float(r), float(a)) for r, a in zip(ratio, share)])


def law_hit(measured: np.ndarray, predicted: np.ndarray, budget: float, factor: float = 1.5) -> np.ndarray:
    """Whether each measured drift point matches the prediction within ``factor``.
    Beyond the budget both sides count as "no drift": a prediction past the budget
    is right when no drift was measured, and a measured drift needs a prediction
    within the factor."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    out = np.zeros(measured.shape, dtype=bool)
    for i, (m, p) in enumerate(zip(measured, predicted)):
        if not np.isfinite(m) or m > budget:
            out[i] = p > budget / factor
        elif np.isfinite(p) and p > 0:
            out[i] = abs(np.log(m / p)) <= np.log(factor)
    return out


def recipe_decay_budget(recipe) -> float:
    """The ηλt a published recipe supplies, as e-folds of decay of an unused weight,
    -Σ_t ln(1 - η_t λ) (≈ Σ_t η_t λ): ``recipes.decay_totals(recipe).exact``; nan where
    the recipe states no λ or no length."""
    totals = recipes.decay_totals(recipe)
    return float("nan") if totals is None else float(totals.exact)


def regimes_reaching(budgets: dict[str, float], drift_point: float) -> list[str]:
    """Names of the recipes whose decay budget reaches a measured drift point."""
    return [name for name, b in budgets.items() if np.isfinite(b) and np.isfinite(drift_point) and b >= drift_point]



@dataclass
class LawCase:
    """One task put to the law: its prediction (fixed before phase 2) and the measured drift, per seed."""

    rho: np.ndarray        # cost ratio goal / proxy
    a0: np.ndarray         # aligned share at the start of phase 2
    pred: np.ndarray       # the law's eta*lambda*t_d
    x_d: np.ndarray        # the measured eta*lambda*t_d (inf: no drift)
    hit: np.ndarray        # measured matches the law (law_hit)
    hit_const: np.ndarray  # measured matches the constant ln(2)/2
    acc: float             # lowest phase-1 test accuracy of the goal networks


def law_case(goal_setup, proxy_setup, seeds, goal_phase1: tuple, proxy_phase1: tuple, lr: float, weight_decay: float,
             steps: int, eval_every: int, budget_x: float) -> LawCase:
    """Train the goal's phase 1 and the proxy alone (the reversed task's phase 1), predict each seed's
    drift point from their costs, then run phase 2 at one (eta, lambda) and score the prediction.
    ``goal_phase1`` and ``proxy_phase1`` are (lr, weight_decay, steps) of the two phase-1 runs."""
    r1 = drift.phase1(goal_setup, seeds, *goal_phase1)
    rp = drift.phase1(proxy_setup, seeds, *proxy_phase1)
    rho = goal_cost(r1, goal_setup) / proxy_cost(rp, proxy_setup)
    a0 = start_share(r1, goal_setup)
    pred = law_prediction(rho, a0)  # the prediction exists before phase 2 runs
    members = drift.grid(len(seeds), [lr], [weight_decay])
    r2 = drift.phase2(goal_setup, r1, members, steps, eval_every=eval_every)
    x_d = drift.eta_lambda(members) * drift.drift_step(r2.metrics["step"], r2.metrics["conflict_agreement"])
    return LawCase(rho=rho, a0=a0, pred=pred, x_d=x_d, hit=law_hit(x_d, pred, budget_x),
                   hit_const=law_hit(x_d, np.full(len(seeds), np.log(2) / 2), budget_x),
                   acc=float(r1.metrics["test_acc"][-1].min()))
