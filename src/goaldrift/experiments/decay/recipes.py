"""Published training recipes: schedule, peak learning rate, weight decay, steps (H9).

Only numbers stated in the cited source are entered; anything the source does
not state is None and shown as "not stated". Steps are tokens / tokens per
batch where the source gives tokens. Every entry says where its numbers come
from; `bib` is a key of book/references.bib.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from goaldrift.tables import markdown_table
from goaldrift.theory import schedules


@dataclass(frozen=True)
class Recipe:
    name: str
    bib: str
    stage: str                   # "pretraining" or "fine-tuning"
    peak_lr: float
    weight_decay: float | None   # None: not stated in the source
    steps: int
    warmup: int
    decay_end: int               # step where the decay reaches its floor
    final_fraction: float        # floor / peak
    decay: str                   # "cosine", "linear" or "constant"
    source: str                  # where in the source, and what we assumed

    def schedule(self):
        if self.decay == "constant":
            return schedules.discrete_schedule(self.peak_lr, self.steps, 0, 0, 1.0)
        return schedules.discrete_schedule(self.peak_lr, self.steps, self.warmup, self.decay_end,
                                           self.final_fraction, self.decay)

    def lr_integral(self) -> float:
        """The sympy closed form of sum_t eta_t (continuous time)."""
        if self.decay == "constant":
            return self.peak_lr * self.steps
        return schedules.integral_value(self.peak_lr, self.steps, self.warmup, self.decay_end,
                                        self.final_fraction, self.decay)



@dataclass(frozen=True)
class DecayTotals:
    """How much weight decay a recipe applies over its whole schedule."""

    linear: float               # lambda * sum_t eta_t: the e-folds of decoupled decay, linearised
    exact: float                # -sum_t ln(1 - eta_t lambda): the e-folds of the discrete updates
    sum_gap: float              # |sum_t eta_t - closed-form integral| in units of 2 eta_peak
    linearisation_error: float  # |exact / linear - 1| in units of eta_peak * lambda


class Ranked(NamedTuple):
    """A recipe by name, with its e-folds of decay."""
    name: str
    efolds: float


@dataclass(frozen=True)
class Survey:
    """Decay totals of a list of recipes, in the list's order; None where the recipe's weight
    decay or length is not stated. The reductions below run over the stated ones."""

    recipes: tuple[Recipe, ...]
    totals: tuple[DecayTotals | None, ...]

    @property
    def stated(self) -> list[tuple[Recipe, DecayTotals]]:
        return [(r, d) for r, d in zip(self.recipes, self.totals) if d is not None]

    def efolds(self, stage: str | None = None) -> list[float]:
        """-sum_t ln(1 - eta_t lambda) of each stated recipe (of one stage, if given), in order."""
        return [d.exact for r, d in self.stated if stage is None or r.stage == stage]

    def names(self, stage: str | None = None) -> list[str]:
        """The names of the recipes that efolds(stage) lists, in the same order."""
        return [r.name for r, d in self.stated if stage is None or r.stage == stage]

    def smallest(self, stage: str | None = None) -> Ranked:
        """The stated recipe (of one stage) that integrates the fewest e-folds (the first, if tied)."""
        r, d = min(((r, d) for r, d in self.stated if stage is None or r.stage == stage), key=lambda x: x[1].exact)
        return Ranked(r.name, d.exact)

    def largest(self, stage: str | None = None) -> Ranked:
        """The stated recipe (of one stage) that integrates the most e-folds (the first, if tied)."""
        r, d = max(((r, d) for r, d in self.stated if stage is None or r.stage == stage), key=lambda x: x[1].exact)
        return Ranked(r.name, d.exact)

    def ratio(self, name: str, other: str) -> float:
        """The e-folds of one recipe over another's."""
        n_of = {r.name: d.exact for r, d in self.stated}
        return n_of[name] / n_of[other]

    @property
    def span(self) -> float:
        """Largest over smallest e-folds, over every stated recipe."""
        return self.largest().efolds / self.smallest().efolds

    @property
    def worst_sum_gap(self) -> float:
        """The largest |sum_t eta_t - closed form| / (2 eta_peak) over the stated recipes."""
        return max(d.sum_gap for _, d in self.stated)

    @property
    def worst_linearisation_error(self) -> float:
        """The largest |exact / linear - 1| / (eta_peak lambda) over the stated recipes."""
        return max(d.linearisation_error for _, d in self.stated)

    def table_markdown(self) -> str:
        """One row per recipe: its stated numbers, lambda sum eta_t, the exact e-folds and the
        fraction exp(-N) of an unused weight left; "not stated" where there is no weight decay."""
        rows = []
        for r, d in zip(self.recipes, self.totals):
            if d is None:
                rows.append([r.name, r.stage, f"{r.peak_lr:.1e}", "not stated", "", "", "", ""])
            else:
                rows.append([r.name, r.stage, f"{r.peak_lr:.1e}", f"{r.weight_decay:g}", f"{r.steps:,}",
                             f"{d.linear:.3g}", f"{d.exact:.3g}", f"{np.exp(-d.exact):.3g}"])
        head = ["run", "stage", "peak lr", "weight decay", "steps", "λ Σ η_t", "−Σ ln(1−η_t λ)", "unused weight left"]
        return markdown_table(head, rows)

    def notes_markdown(self) -> str:
        """Where each recipe's numbers come from, one cited item per recipe."""
        return "\n".join(f"- **{r.name}** {{cite}}`{r.bib}`: {r.source}" for r in self.recipes)


def survey(recipes=None) -> Survey:
    """The decay totals of `recipes` (default: RECIPES, the published ones)."""
    recipes = tuple(RECIPES if recipes is None else recipes)
    return Survey(recipes, tuple(decay_totals(r) for r in recipes))


def plot_survey(survey: Survey) -> None:
    """The e-folds of every stated recipe (blue: pretraining, red: fine-tuning), log scale,
    against one half-life."""
    from goaldrift.experiments import plots

    fig, ax = plots.panels(1, height=3.8)
    stated = survey.stated
    colors = [plots.COLORS[0] if r.stage == "pretraining" else plots.COLORS[1] for r, _ in stated]
    ax.barh([r.name for r, _ in stated], [d.exact for _, d in stated], color=colors)
    ax.axvline(np.log(2), **plots.PREDICTED, label="one half-life (ln 2)")
    ax.set(xscale="log", xlabel="e-folds of decay of an unused weight, $-\\sum_t\\ln(1-\\eta_t\\lambda)$",
           title="integrated decay of published runs (blue: pretraining, red: fine-tuning)")
    ax.invert_yaxis()
    ax.legend()
    plots.show(fig)


def decay_totals(recipe: Recipe) -> DecayTotals | None:
    """The recipe's decay totals; None when its weight decay or its length is not stated."""
    if recipe.weight_decay is None or recipe.steps == 0:
        return None
    eta_t = recipe.schedule()
    linear = recipe.weight_decay * eta_t.sum()
    exact = -np.log1p(-recipe.weight_decay * eta_t).sum()
    return DecayTotals(linear=linear, exact=exact,
                       sum_gap=abs(eta_t.sum() - recipe.lr_integral()) / (2 * recipe.peak_lr),
                       linearisation_error=abs(exact / linear - 1) / (recipe.peak_lr * recipe.weight_decay))

GPT3_NOTE = ("Brown et al. 2020, Table 2.1 (peak lr, batch in tokens) and Appendix B (Adam, weight decay 0.1, "
             "warm-up over 375M tokens, cosine to 10% over 260B tokens, then 10%; 300B tokens). The batch-size "
             "ramp of the first 4-12B tokens is ignored: it adds steps at near-peak rate, so this is a lower bound.")
LLAMA2_NOTE = ("Touvron et al. 2023, Section 2.2 and Table 1: AdamW, cosine with 2000 warm-up steps to 10% of peak, "
               "weight decay 0.1, 2.0T tokens, 4M-token batches.")
PYTHIA_NOTE = ("Biderman et al. 2023 and the GPT-NeoX configs in the EleutherAI/pythia repository "
               "(models/160M/pythia-160m.yml, models/12B/pythia-12b.yml): lr 6e-4 and 1.2e-4, min_lr 10% of it, "
               "cosine over train-iters = lr-decay-iters = 143,000 steps of 2M tokens, warmup 0.01 (1% of the "
               "steps), weight-decay 0.1, betas (0.9, 0.95).")

RECIPES = [
    Recipe("GPT-3 Small (125M)", "brown2020language", "pretraining", 6.0e-4, 0.1,
           steps=600_000, warmup=750, decay_end=520_000, final_fraction=0.1, decay="cosine", source=GPT3_NOTE),
    Recipe("GPT-3 175B", "brown2020language", "pretraining", 6.0e-5, 0.1,
           steps=93_750, warmup=117, decay_end=81_250, final_fraction=0.1, decay="cosine", source=GPT3_NOTE),
    Recipe("Llama 2 7B", "touvron2023llama2", "pretraining", 3.0e-4, 0.1,
           steps=500_000, warmup=2000, decay_end=500_000, final_fraction=0.1, decay="cosine", source=LLAMA2_NOTE),
    Recipe("Llama 2 70B", "touvron2023llama2", "pretraining", 1.5e-4, 0.1,
           steps=500_000, warmup=2000, decay_end=500_000, final_fraction=0.1, decay="cosine", source=LLAMA2_NOTE),
    Recipe("Pythia 160M", "biderman2023pythia", "pretraining", 6.0e-4, 0.1,
           steps=143_000, warmup=1430, decay_end=143_000, final_fraction=0.1, decay="cosine", source=PYTHIA_NOTE),
    Recipe("Pythia 12B", "biderman2023pythia", "pretraining", 1.2e-4, 0.1,
           steps=143_000, warmup=1430, decay_end=143_000, final_fraction=0.1, decay="cosine", source=PYTHIA_NOTE),
    Recipe("BERT-base", "devlin2019bert", "pretraining", 1.0e-4, 0.01,
           steps=1_000_000, warmup=10_000, decay_end=1_000_000, final_fraction=0.0, decay="linear",
           source="Devlin et al. 2019, Appendix A.2: Adam, lr 1e-4, L2 weight decay 0.01, 10,000 warm-up steps, "
                  "linear decay (to zero assumed), 1,000,000 steps."),
    Recipe("Chinchilla 70B", "hoffmann2022chinchilla", "pretraining", 1.0e-4, None,
           steps=0, warmup=0, decay_end=0, final_fraction=0.1, decay="cosine",
           source="Hoffmann et al. 2022: AdamW, max lr 1e-4, cosine to 10%, 1.4T tokens with a batch doubled "
                  "mid-run; the weight decay is not stated in the sources we checked, so no number."),
    Recipe("Llama 2-Chat SFT", "touvron2023llama2", "fine-tuning", 2.0e-5, 0.1,
           steps=861, warmup=0, decay_end=0, final_fraction=1.0, decay="constant",
           source="Touvron et al. 2023, Section 3.1: cosine schedule from 2e-5, weight decay 0.1, batch 64, "
                  "2 epochs over 27,540 annotations (at most 861 steps; packing makes fewer). Final lr not "
                  "stated: we use the constant peak rate, an upper bound."),
]
