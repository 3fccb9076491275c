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
from goaldrift.tables import markdown_table
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


# ---- the chapter's sweep of tasks, its score, and the stakes ------------------------

def sweep_cases(max_k: int) -> list[tuple[str, int, float]]:
    """The tasks put to the law, as (family, k, proxy scale): parity of every k up to ``max_k``
    with the proxy bit at full scale; parity of three bits (or ``max_k``) with the proxy bit
    scaled to one half and one tenth (a dearer proxy); slab rules with two and three slabs."""
    k3 = min(3, max_k)
    return ([("parity", kk, 1.0) for kk in range(1, max_k + 1)]
            + [("parity", k3, 0.5), ("parity", k3, 0.1), ("slab", 2, 1.0), ("slab", 3, 1.0)])


@dataclass
class LawSweep:
    """``law_case`` of every task of a sweep, and the reductions the chapter records."""

    cases: list            # (family, k, proxy scale) per task
    results: list          # LawCase per task
    budget_x: float        # ηλt at the end of phase 2

    def case(self, family: str, k: int, scale: float = 1.0) -> LawCase:
        return self.results[self.cases.index((family, k, scale))]

    def mean_x(self, family: str, k: int, scale: float = 1.0) -> float:
        """Mean measured ηλt_d over the seeds of one task (inf where a seed did not drift)."""
        return float(np.mean(self.case(family, k, scale).x_d))

    @property
    def hits(self) -> np.ndarray:
        """[tasks, seeds]: the law's hits."""
        return np.array([c.hit for c in self.results])

    @property
    def hit_fraction(self) -> float:
        return float(self.hits.mean())

    @property
    def hit_fraction_by_seed(self) -> np.ndarray:
        return self.hits.mean(0)

    @property
    def hit_const_fraction(self) -> float:
        """The hit fraction of the named alternative, ln2/2 for every task."""
        return float(np.array([c.hit_const for c in self.results]).mean())

    @property
    def rho(self) -> np.ndarray:
        return np.concatenate([c.rho for c in self.results])

    @property
    def x_d(self) -> np.ndarray:
        return np.concatenate([c.x_d for c in self.results])

    @property
    def pred(self) -> np.ndarray:
        return np.concatenate([c.pred for c in self.results])

    @property
    def drifted(self) -> np.ndarray:
        """Per (task, seed), flattened: drifted within the budget."""
        x = self.x_d
        return np.isfinite(x) & (x <= self.budget_x)

    @property
    def slope_x_vs_rho(self) -> float:
        """Log-log slope of the measured drift point against ρ over the drifted members with ρ > 1."""
        rho, x = self.rho, self.x_d
        sel = self.drifted & (rho > 1)
        return drift.loglog_slope(rho[sel], x[sel])

    @property
    def median_measured_over_predicted(self) -> float:
        """Median of measured / predicted drift point where both are finite (nan: none)."""
        x, pred = self.x_d, self.pred
        sel = self.drifted & np.isfinite(pred)
        ratio = x[sel] / pred[sel]
        return float(np.median(ratio)) if len(ratio) else float("nan")

    @property
    def n_dear_drift(self) -> int:
        """Members whose proxy is dearer than the goal (ρ < 1) that drifted anyway."""
        return int(sum(np.sum((c.rho < 1) & np.isfinite(c.x_d)) for c in self.results))

    @property
    def earliest_drift(self) -> float:
        return float(np.nanmin([np.min(c.x_d) for c in self.results]))

    def table(self) -> str:
        rows = [[family, kk, f"{scale:g}", f"{c.acc:.3f}", f"{c.rho.mean():.2f}", f"{c.a0.mean():.3f}",
                 f"{np.mean(c.pred):.3f}", f"{np.mean(c.x_d):.3f}", f"{c.hit.sum()}/{len(c.hit)}"]
                for (family, kk, scale), c in zip(self.cases, self.results)]
        return markdown_table(
            ["rule", "k", "proxy scale", "phase-1 test acc (min)", "cost ratio $\\rho$ (mean)", "$A_0$ (mean)",
             "predicted $\\eta\\lambda t_d$", "measured $\\eta\\lambda t_d$", "hits"], rows)


def law_sweep(design: drift.Design, cases, lr: float, weight_decay: float, steps: int, eval_every: int,
              budget_x: float) -> LawSweep:
    """``law_case`` for every (family, k, proxy scale): the goal network with its family's phase-1
    schedule, the proxy alone (the reversed task) with the parity schedule."""
    results = []
    for family, kk, scale in cases:
        goal_setup = design.setup(kk, family, proxy_scale=scale)
        proxy_setup = design.setup(kk, family, reverse=True, proxy_scale=scale)
        results.append(law_case(goal_setup, proxy_setup, design.seeds, design.schedule(family), design.schedule("parity"),
                                lr, weight_decay, steps, eval_every, budget_x))
    return LawSweep(list(cases), results, budget_x)


@dataclass
class RecipeStakes:
    """Measured drift points beside the ηλt that published recipes supply."""

    drift_points: dict  # {name: ηλt_d}
    budgets: dict       # {recipe: ηλt supplied (nan: not stated)}
    stages: dict        # {recipe: "pre-training" | "fine-tuning" | ...}

    def reaching(self, point: str) -> list[str]:
        """The recipes whose budget reaches the drift point named ``point``."""
        return regimes_reaching(self.budgets, self.drift_points[point])

    def fine_tuning_reaching(self, point: str) -> int:
        return int(sum(self.stages[n] == "fine-tuning" for n in self.reaching(point)))

    @property
    def n_stated(self) -> int:
        return int(sum(np.isfinite(b) for b in self.budgets.values()))

    @property
    def n_fine_tuning(self) -> int:
        """Fine-tuning recipes that state their decay."""
        return int(sum(s == "fine-tuning" and np.isfinite(self.budgets[n]) for n, s in self.stages.items()))

    @property
    def max_fine_tuning_budget(self) -> float:
        return float(max([b for n, b in self.budgets.items() if self.stages[n] == "fine-tuning" and np.isfinite(b)],
                         default=float("nan")))

    def table(self) -> str:
        rows = []
        for name, b in self.budgets.items():
            cells = ["not stated" if not np.isfinite(b) else ("yes" if name in regimes_reaching(self.budgets, x) else "no")
                     for x in self.drift_points.values()]
            rows.append([name, self.stages[name], "not stated" if not np.isfinite(b) else f"{b:.3g}", *cells])
        rows.append(["*drift point*", "", "", *(f"{x:.3g}" if np.isfinite(x) else "none in budget"
                                               for x in self.drift_points.values())])
        return markdown_table(["recipe", "stage", "$\\eta\\lambda t$ supplied", *(f"reaches {k}?" for k in self.drift_points)],
                              rows)


def recipe_stakes(drift_points: dict, recipe_list=None) -> RecipeStakes:
    """``recipe_decay_budget`` of every recipe (default: ``recipes.RECIPES``) beside ``drift_points``."""
    recipe_list = recipes.RECIPES if recipe_list is None else recipe_list
    return RecipeStakes(dict(drift_points), {r.name: recipe_decay_budget(r) for r in recipe_list},
                        {r.name: r.stage for r in recipe_list})
