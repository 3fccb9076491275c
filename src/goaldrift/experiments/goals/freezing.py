"""The freezing experiment (H5): the smallest frozen fraction that stops the drift, per
ranking and seed, bracketed by bisection, against the pathway and random sets.

One phase-2 ensemble holds the coarse grid: every ranking (``protection`` scores) frozen
from the top down to each grid fraction on each seed, the pathway with and without its
read path, and nothing. A member *stops* the drift when its final aligned agreement is
at least ``STOPPED``. Each (ranking, seed) bracket is then refined by
``protection.refine_bracket`` (one ensemble run per round), and random sets of a few
multiples of the gradient x weight sufficient fraction are frozen for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from goaldrift.experiments import plots
from goaldrift.experiments.goals import protection as pr
from goaldrift.experiments.goals import proxy_drift as drift
from goaldrift.experiments.goals.protection import Measured, highest, lowest, mean_of
from goaldrift.tables import markdown_table

STOPPED = 0.9                   # final aligned agreement at or above which the drift is stopped
ATTRIBUTION = "gradient x weight"  # the ranking whose sufficient fraction sizes the random sets
MAGNITUDE = "magnitude"
CONSTRUCTION = "construction"
RANKING_KEYS = {ATTRIBUTION: "attr", MAGNITUDE: "mag", CONSTRUCTION: "constr"}   # short names (glued numbers)
WITH_READ_PATH = "construction + read path"
WITHOUT_READ_PATH = "construction only"
NOTHING = "nothing"


def rankings(model, data, task) -> dict:
    """The three rankings of every element of the phase-1 networks ``model``: gradient x weight
    (of the aligned margin on ``data``'s training inputs), magnitude, and the construction's."""
    return {
        ATTRIBUTION: pr.attribution_scores(model, data.train_x, data.train_goal),
        MAGNITUDE: pr.magnitude_scores(model),
        CONSTRUCTION: pr.construction_scores(model, task),
    }


def freeze_phase2(setup: drift.Setup, run1, masks: list[dict], sources: list[int], lr: float,
                  weight_decay: float, steps: int, eval_every: int, root=None):
    """Phase 2 at one (η, λ) with member i continuing network ``sources[i]`` and frozen
    where ``masks[i]`` (one member's masks) says. Returns (run, stacked frozen masks, members)."""
    members = [drift.Member(s, lr, weight_decay) for s in sources]
    frozen = pr.stack_members(masks)
    run = drift.phase2(setup, run1, members, steps, eval_every=eval_every, masks={"frozen": frozen}, root=root)
    return run, frozen, members


def ranked_mask(scores: dict, seed_index: int, fraction: float) -> dict:
    """One member's mask: the top ``fraction`` of seed ``seed_index``'s elements by ``scores``."""
    return pr.top_fraction_masks({n: v[seed_index:seed_index + 1] for n, v in scores.items()}, float(fraction))


def coarse_plan(rankings: dict, fractions, n_seeds: int, shapes: dict, task):
    """The coarse ensemble: per (ranking, seed) column every grid fraction, then per seed the
    pathway without and with its read path, and nothing. Returns (columns, plans, masks), a
    plan being (kind, seed index, fraction or None for the pathway)."""
    columns = [(r, s) for r in rankings for s in range(n_seeds)]
    plans, masks = [], []
    for (r, s) in columns:
        for f in fractions:
            plans.append((r, s, f))
            masks.append(ranked_mask(rankings[r], s, f))
    for s in range(n_seeds):
        for read in (False, True):
            plans.append((WITH_READ_PATH if read else WITHOUT_READ_PATH, s, None))
            masks.append(pr.pathway_masks(shapes, task, read_path=read))
        plans.append((NOTHING, s, 0.0))
        masks.append(pr.no_masks(shapes))
    return columns, plans, masks


def random_plan(sufficient: np.ndarray, multiples, n_seeds: int) -> list[tuple[int, int, float]]:
    """(multiple, seed index, fraction) for random sets of ``multiple`` times each seed's
    sufficient fraction, capped at all weights."""
    return [(m, s, min(1.0, m * float(sufficient[s]))) for m in multiples for s in range(n_seeds)]


def random_mask_seed(seed: int, seed_index: int, multiple: int) -> int:
    """The stream of one random set: distinct for every (chapter seed, network, multiple)."""
    return 1_000_003 * seed + 1000 * seed_index + multiple


@dataclass
class FreezingResult:
    """What the freezing experiment measured."""

    fractions: np.ndarray            # [F] the coarse grid
    columns: list                    # (ranking, seed index) per bracket
    plans: list                      # (kind, seed index, fraction) per member of the coarse run
    final: np.ndarray                # [members] final aligned agreement in the coarse run
    frozen_fraction: np.ndarray      # [members] fraction frozen in the coarse run
    largest_frozen_change: float     # largest |change| of any frozen element over phase 2 (coarse run)
    curve: np.ndarray                # [F, columns] final agreement on the grid
    lo: np.ndarray                   # [columns] largest fraction known not to stop the drift
    hi: np.ndarray                   # [columns] smallest fraction known to stop it (inf: none)
    rounds_used: int
    bisection_rounds: list           # per round: [((ranking, seed), fraction, final agreement)]
    multiples: list
    random_plans: list               # (multiple, seed index, fraction) per member of the random run
    random_final: np.ndarray         # [members] final aligned agreement in the random run
    rankings: list = field(default_factory=list)

    def sufficient(self, ranking: str) -> np.ndarray:
        """Per seed: the sufficient fraction (the bracket's upper end) of ``ranking``."""
        return self.hi[[i for i, c in enumerate(self.columns) if c[0] == ranking]]

    def lower_end(self, ranking: str) -> np.ndarray:
        return self.lo[[i for i, c in enumerate(self.columns) if c[0] == ranking]]

    def agreement(self, kind: str) -> np.ndarray:
        """Per seed: the final agreement of the coarse run's members of ``kind`` (e.g. ``NOTHING``)."""
        return np.array([self.final[i] for i, p in enumerate(self.plans) if p[0] == kind])

    def fraction_of(self, kind: str) -> float:
        """The frozen fraction of the first member of ``kind`` (the pathway's is the same on every seed)."""
        return float(self.frozen_fraction[[p[0] for p in self.plans].index(kind)])

    def random_at(self, multiple: int) -> np.ndarray:
        """Per seed: the final agreement with ``multiple`` times the sufficient fraction frozen at random."""
        return np.array([self.random_final[i] for i, p in enumerate(self.random_plans) if p[0] == multiple])

    def random_capped(self, multiple: int) -> int:
        """How many seeds' random sets of ``multiple`` hit the cap of all weights."""
        return int(sum(p[2] >= 1.0 for p in self.random_plans if p[0] == multiple))

    def widest_bracket(self) -> float:
        """The largest hi / lo over the brackets (nan where a bracket has no lower end)."""
        return float(np.max(self.hi / np.where(self.lo > 0, self.lo, np.nan)))

    def random_fractions(self, multiple: int) -> list[float]:
        """Per seed: the fraction frozen at random for ``multiple``."""
        return [p[2] for p in self.random_plans if p[0] == multiple]

    @property
    def n_seeds(self) -> int:
        return len({s for _, s in self.columns})

    def summary(self) -> "FreezingSummary":
        """The values the chapter's freezing claims record, and the numbers its prose quotes."""
        share = self.fraction_of(WITH_READ_PATH)
        attr = self.sufficient(ATTRIBUTION)
        top = max(self.multiples)
        glue = {}
        for r in self.rankings:
            key = RANKING_KEYS.get(r, r)
            glue[f"sufficient_{key}"] = float(np.mean(self.sufficient(r)))
            glue[f"sufficient_{key}_max"] = float(np.max(self.sufficient(r)))
        glue.update({
            "bracket_worst": self.widest_bracket(),
            "rounds_used": self.rounds_used,
            "construction_fraction": share,
            "construction_in_fraction": self.fraction_of(WITHOUT_READ_PATH),
            "baseline_agreement": float(self.agreement(NOTHING).max()),
            f"random_capped_{top}x": self.random_capped(top),
            f"random_{top}x_fraction_min": float(min(self.random_fractions(top))),
        })
        return FreezingSummary(
            attribution_over_construction=mean_of(attr / share),
            magnitude_over_attribution=mean_of(self.sufficient(MAGNITUDE) / attr),
            random={m: highest(self.random_at(m)) for m in self.multiples},
            with_read_path=lowest(self.agreement(WITH_READ_PATH)),
            without_read_path=highest(self.agreement(WITHOUT_READ_PATH)),
            glue=glue,
        )

    def tables_markdown(self) -> str:
        """Two tables: each ranking's bracket (lo, hi] per seed, and each random set's fraction
        and final agreement per seed."""
        ranked = markdown_table(
            ["ranking", "sufficient fraction per seed (bracket lo, hi]"],
            [[r, ", ".join(f"({a:.3g}, {b:.3g}]" for a, b in zip(self.lower_end(r), self.sufficient(r)))]
             for r in self.rankings])
        at_random = markdown_table(
            ["frozen at random", "fraction per seed", "final aligned agreement per seed"],
            [[f"{m}x", [round(f, 3) for f in self.random_fractions(m)], np.round(self.random_at(m), 2).tolist()]
             for m in self.multiples])
        return ranked + "\n\n" + at_random


@dataclass(frozen=True)
class FreezingSummary:
    """What the freezing claims record, each value with the per-seed samples of its interval."""

    attribution_over_construction: Measured  # gradient x weight's sufficient fraction / the pathway's; mean
    magnitude_over_attribution: Measured     # magnitude's sufficient fraction / gradient x weight's; mean
    random: dict                             # multiple -> highest final agreement of the random sets
    with_read_path: Measured                 # pathway and readout frozen: lowest final agreement
    without_read_path: Measured              # pathway's input rows and biases only: highest final agreement
    glue: dict                               # the numbers the prose quotes, by glue name


def plot_freezing(fz: FreezingResult):
    """Left: the mean final agreement against the frozen fraction per ranking (x: bisection
    points; open markers: the pathway with and without its readout). Right: the random sets per
    seed. Returns the figure."""
    fig, (ax, ax2) = plots.panels(2)
    for j, r in enumerate(fz.rankings):
        cols = [i for i, c in enumerate(fz.columns) if c[0] == r]
        ax.semilogx(fz.fractions, fz.curve[:, cols].mean(1), "o-", color=plots.COLORS[j], label=r)
        pts = [(f, a) for rnd in fz.bisection_rounds for (c, f, a) in rnd if c[0] == r]
        if pts:
            ax.semilogx(*zip(*pts), "x", color=plots.COLORS[j], alpha=0.6)
    for kind, marker in ((WITHOUT_READ_PATH, "s"), (WITH_READ_PATH, "D")):
        ax.semilogx([fz.fraction_of(kind)], [fz.agreement(kind).mean()], marker, color="black", mfc="none",
                    label=kind)
    ax.axhline(STOPPED, color="grey", linewidth=0.5)
    ax.set(xlabel="fraction of weights frozen", ylabel="aligned agreement after phase 2",
           title="freezing curves (x: bisection points)", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7)
    for s in range(fz.n_seeds):
        ax2.semilogx([p[2] for p in fz.random_plans if p[1] == s],
                     [fz.random_final[i] for i, p in enumerate(fz.random_plans) if p[1] == s],
                     "o-", color=plots.COLORS[3], alpha=0.6)
    ax2.set(xlabel="fraction of weights frozen at random", ylabel="aligned agreement after phase 2",
            title=f"random sets of {', '.join(map(str, fz.multiples))} times the sufficient size", ylim=(-0.05, 1.05))
    return fig


def freezing_experiment(setup: drift.Setup, run1, rankings: dict, task, n_seeds: int, fractions,
                        lr: float, weight_decay: float, steps: int, eval_every: int, factor: float,
                        max_rounds: int, seed: int, multiples=(1, 2, 3, 10), root=None) -> FreezingResult:
    """The whole measurement: the coarse grid, the bisection of every (ranking, seed)
    bracket until hi / lo <= ``factor``, and random sets of ``multiples`` times the
    gradient x weight sufficient fraction. ``rankings``: {name: scores [K, ...]} of the
    phase-1 networks ``run1``, with ``ATTRIBUTION`` among them."""
    fractions = np.asarray(fractions)
    shapes = pr.member_shapes(run1.model)
    columns, plans, masks = coarse_plan(rankings, fractions, n_seeds, shapes, task)
    coarse, frozen, members = freeze_phase2(setup, run1, masks, [p[1] for p in plans], lr, weight_decay,
                                            steps, eval_every, root=root)
    final = coarse.metrics["conflict_agreement"][-1]
    start = drift.tile_state(run1.model.state_dict(), [m.source for m in members])
    moved = pr.largest_frozen_change(start, coarse.model.state_dict(), frozen)

    curve = np.array([[final[plans.index((r, s, f))] for f in fractions] for (r, s) in columns]).T
    lo, hi = pr.first_bracket(fractions, curve >= STOPPED)
    bisection_rounds = []

    def evaluate(cols, fr):
        run, _, _ = freeze_phase2(setup, run1, [ranked_mask(rankings[columns[c][0]], columns[c][1], f)
                                                for c, f in zip(cols, fr)],
                                  [columns[c][1] for c in cols], lr, weight_decay, steps, steps, root=root)
        agreement = run.metrics["conflict_agreement"][-1]
        bisection_rounds.append([(columns[c], float(f), float(a)) for c, f, a in zip(cols, fr, agreement)])
        return agreement >= STOPPED

    lo, hi, rounds_used = pr.refine_bracket(lo, hi, evaluate, factor=factor, max_rounds=max_rounds)
    attribution = hi[[i for i, c in enumerate(columns) if c[0] == ATTRIBUTION]]
    rnd_plans = random_plan(attribution, list(multiples), n_seeds)
    rnd_run, _, _ = freeze_phase2(setup, run1, [pr.random_masks(shapes, f, seed=random_mask_seed(seed, s, m))
                                                for m, s, f in rnd_plans],
                                  [p[1] for p in rnd_plans], lr, weight_decay, steps, steps, root=root)
    return FreezingResult(fractions=fractions, columns=columns, plans=plans, final=final,
                          frozen_fraction=pr.fraction(frozen).numpy(), largest_frozen_change=moved, curve=curve,
                          lo=lo, hi=hi, rounds_used=rounds_used, bisection_rounds=bisection_rounds,
                          multiples=list(multiples), random_plans=rnd_plans,
                          random_final=rnd_run.metrics["conflict_agreement"][-1], rankings=list(rankings))
