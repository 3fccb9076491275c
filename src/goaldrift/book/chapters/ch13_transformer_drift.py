"""The spec of chapter transformer_drift (book/chapters/transformer_drift.md): does a one-layer
transformer's goal drift to a cheaper one-token proxy under weight decay, and how (H4, issue 29)?

Design, fixed here before the chapter's first measured run (pilots on seeds 9001-9003, disjoint
from the chapter's, are in its design history; the budgets and the grid were cut to fit the
book's time after two default runs, which the design history reports): one phase-1 network per
seed and task, the
positions of the bits drawn per seed; the parity arm continues each seed at every lambda of the
grid and at lambda = 0; the equal-cost arms (goal token 1 with proxy token 0, and the reverse, on
the same positions) at one lambda and at 0; the cross-entropy arm (added after the squared-error arms
had been measured, fixed before its own first run) repeats the parity arm's task with two logits at
lambda in {0, lambda_2, lambda_4}. A member that never drifts within the budget is a 0
outcome of a binomial claim (its drift time is censored at the budget), never dropped.
"""

from __future__ import annotations

from goaldrift.book.chapter import Chapter, seed_param
from goaldrift.book.declarations import check, evidence
from goaldrift.book.params import Param

_GRID = ("lambda_1", "lambda_2", "lambda_3", "lambda_4")


def _grid_ordered(v: dict) -> str | None:
    lams = [v[n] for n in _GRID]
    if any(b <= a for a, b in zip(lams, lams[1:])):
        return "lambda_1 < lambda_2 < lambda_3 < lambda_4 must hold (the grid is increasing)"
    if v["learning_rate"] * lams[-1] > 0.05:
        return "learning_rate * lambda_4 must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


def _budget_decides(v: dict) -> str | None:
    # issue 29: a budget of eta*lambda*t >= 20 where no law bounds the drift point (the largest
    # lambda); the smallest lambda must still reach 5, seven half-lives ln2 of a one-factor path
    if v["phase2_steps"] * v["learning_rate"] * v["lambda_4"] < 20:
        return "phase2_steps * learning_rate * lambda_4 must be >= 20 (the budget must reach eta*lambda*t = 20)"
    if v["phase2_steps"] * v["learning_rate"] * v["lambda_1"] < 5:
        return "phase2_steps * learning_rate * lambda_1 must be >= 5 (the smallest lambda must reach eta*lambda*t = 5)"
    if v["eq_phase2_steps"] * v["learning_rate"] * v["eq_weight_decay"] < 10:
        return "eq_phase2_steps * learning_rate * eq_weight_decay must be >= 10 (the equal-cost budget must reach 10)"
    if v["eval_every"] * v["learning_rate"] * v["lambda_4"] > 0.5:
        return "eval_every * learning_rate * lambda_4 must be <= 0.5 (drift points resolved to 0.5 in eta*lambda*t)"
    if v["eval_every"] > v["eq_phase2_steps"] // 20:
        return "eval_every must be <= eq_phase2_steps / 20 (the equal-cost curves need 20 evaluations)"
    return None


def _task_fits(v: dict) -> str | None:
    if v["k"] > v["n_bits"] - 1:
        return "k must be <= n_bits - 1 (token 0 is the proxy)"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    return None


_NETS = ("{n_seeds} one-layer transformers per task (residual width {d_model}, 2 heads, {n_train} sequences of "
         "{n_bits} bit tokens and '=', the bits' positions drawn per seed; phase 1 AdamW at eta = {phase1_lr}, "
         "lambda = {phase1_weight_decay}, {phase1_steps} steps for the parity goal and its proxy alone, "
         "{eq_phase1_steps} for the one-token goals; squared error)")
_PARITY = (_NETS + "; parity arm: goal the parity of tokens 1..{k}, proxy token 0; phase 2 AdamW eta = "
           "{learning_rate}, lambda in {{0, {lambda_1}, {lambda_2}, {lambda_3}, {lambda_4}}}, {phase2_steps} steps "
           "(eta*lambda*t up to {phase2_steps} x {learning_rate} x lambda), evaluated every {eval_every}; drift: "
           "conflict agreement below 1/2 within the budget")
_CE = ("{n_seeds} more one-layer transformers, the parity arm's task, sizes, positions and phase-1 recipe "
       "({phase1_steps} steps), trained with cross-entropy on two logits; phase 2 AdamW eta = {learning_rate}, "
       "lambda in {{0, {lambda_2}, {lambda_4}}}, {phase2_steps} steps, evaluated every {eval_every}; drift: conflict "
       "agreement below 1/2 within the budget (added after the squared-error arms had been measured, fixed before "
       "its own first run)")
_EQUAL = (_NETS + "; equal-cost arms: goal token 1 with proxy token 0, and goal token 0 with proxy token 1, on the "
          "same positions; phase 2 AdamW eta = {learning_rate}, lambda in {{0, {eq_weight_decay}}}, "
          "{eq_phase2_steps} steps, evaluated every {eval_every}")

CLAIMS = (
    check(
        "equal_cost_split_half",
        "derivation: two equally cheap rules, each carried by a factor of degree 1, split the output evenly at the "
        "least L2 cost",
        predicted=0.5, comparison="rel", tolerance=1e-12, hypothesis="H4",
    ),
    check(
        "placed_data_is_token_data",
        "the placed data are the engine's token data with bit i moved to position positions[i]: largest mismatch "
        "of the labels and of the re-read bits, over every seed's phase-2 set",
        predicted=0.0, comparison="abs", tolerance=0.0,
    ),
    # ---- the design's conditions, measured on phase 1 ----
    evidence(
        "transformer_phase1_learns",
        "share of seeds whose four phase-1 networks (parity goal, its proxy alone, both one-token goals) reach "
        "test accuracy >= 0.99",
        alternative="phase 1 does not learn its goal, so phase 2 starts from no goal",
        predicted=0.5, comparison="at_least", design=_NETS + "; per seed: 1 if all four reach 0.99",
        role="design", statistic="binomial",
    ),
    evidence(
        "transformer_box_above_weight_scale",
        "AdamW's l-inf box 1/lambda_2 over the phase-1 network's largest root-mean-square weight matrix "
        "(so 1/lambda is at least twice the weight scale for lambda_1 and lambda_2)",
        alternative="the box is at the weight scale (ratio 1), where the optimiser's geometry, not the cost, decides",
        predicted=2.0, comparison="at_least", alternative_value=1.0,
        design=_NETS + "; per seed: (1/{lambda_2}) / its parity network's weight scale",
        role="design", statistic="log_mean",
    ),
    # ---- the parity arm ----
    evidence(
        "transformer_lambda0_no_drift",
        "share of seeds in which the parity arm's lambda = 0 member keeps the goal (lowest conflict agreement >= 0.9)",
        alternative="the loss alone drifts the transformer's goal",
        predicted=0.5, comparison="at_least", hypothesis="H4", design=_PARITY + "; per seed: its lowest agreement",
        role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "transformer_drift_happens",
        "share of seeds in which some decayed member of the parity arm drifts to the proxy within its budget",
        alternative="the loss holds the transformer's goal against decay through the budget (no drift)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_PARITY + "; per seed: 1 if any of its four decayed members drifts", role="core",
        statistic="binomial",
    ),
    evidence(
        "transformer_drift_point",
        "share of seeds in which at least 0.8 of the parity arm's decayed members drift where the L2 cost-ratio law "
        "predicts from the phase-1 costs (factor 1.5; no drift counts where predicted beyond the budget)",
        alternative="the law's prediction does not hold for the transformer",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_PARITY + "; per seed: its hit fraction over the decayed members", role="law",
        statistic="binomial", outcome=("at_least", 0.8),
    ),
    # ---- the equal-cost arms ----
    evidence(
        "transformer_equal_cost_lambda0_no_drift",
        "share of seeds in which both equal-cost lambda = 0 members keep their goal (lowest agreement >= 0.9)",
        alternative="the loss alone moves the one-token goal",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_EQUAL + "; per seed: the lower of its two controls' lowest agreements", role="core",
        statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "transformer_equal_cost_mixes",
        "equal cost, lambda = {eq_weight_decay}: the goal's share g/(g+p) of the output at the end of the budget, "
        "mean of the two directions, equals 1/2 (the even split)",
        alternative="the goal keeps the output (share 1)",
        predicted=0.5, comparison="abs", tolerance=0.1, alternative_value=1.0, hypothesis="H4",
        design=_EQUAL + "; per seed: the mean of its two directions' final goal share", role="law",
        support=(-1.0, 2.0),
    ),
    evidence(
        "transformer_equal_cost_symmetric",
        "equal cost, lambda = {eq_weight_decay}: final goal share with goal token 1 minus with goal token 0, paired "
        "by seed (0: the two directions alike)",
        alternative="the positions or the token decide (one direction mixes, the other keeps its goal: 1/2)",
        predicted=0.0, comparison="abs", tolerance=0.1, alternative_value=0.5, hypothesis="H4",
        design=_EQUAL + "; per seed: the difference of the two directions' final goal shares", role="core",
        support=(-3.0, 3.0),
    ),
    # ---- the cross-entropy arm ----
    evidence(
        "transformer_ce_phase1_learns",
        "share of seeds whose cross-entropy phase-1 parity network reaches test accuracy >= 0.99",
        alternative="phase 1 does not learn its goal under cross-entropy",
        predicted=0.5, comparison="at_least", design=_CE + "; per seed: 1 if it reaches 0.99",
        role="design", statistic="binomial",
    ),
    evidence(
        "transformer_ce_lambda0_no_drift",
        "cross-entropy: share of seeds in which the lambda = 0 member keeps the goal (lowest conflict agreement >= 0.9)",
        alternative="under cross-entropy the loss alone drifts the goal (Adam grows whichever margin the data reward)",
        predicted=0.5, comparison="at_least", hypothesis="H4", design=_CE + "; per seed: its lowest agreement",
        role="core", statistic="binomial", outcome=("at_least", 0.9),
    ),
    evidence(
        "transformer_ce_drift_happens",
        "cross-entropy: share of seeds in which some decayed member drifts to the proxy within its budget",
        alternative="under cross-entropy the loss holds the goal against decay through the budget (no drift)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_CE + "; per seed: 1 if either decayed member drifts", role="core", statistic="binomial",
    ),
    # ---- the mechanism, read where the goal has lost half its lead ----
    evidence(
        "transformer_drift_is_cleanup",
        "equal cost, lambda = {eq_weight_decay}: share of members, among those that lose half the goal's lead, whose "
        "goal positional-embedding norm over the proxy's had halved by then",
        alternative="the output moves without the goal's own weights shrinking first (a rotation or a switch)",
        predicted=0.5, comparison="at_least",
        design=_EQUAL + "; per (seed, direction) that loses half the lead: 1 if the norm ratio halved by then",
        role="aside", statistic="binomial",
    ),
    evidence(
        "transformer_drift_is_attention_switch",
        "equal cost, lambda = {eq_weight_decay}: share of members, among those that lose half the goal's lead, whose "
        "last position attended more to the proxy's token than to the goal's by then",
        alternative="the attention stays on the goal's token while its output falls (the weights, not the "
                    "read-out, move)",
        predicted=0.5, comparison="at_least",
        design=_EQUAL + "; per (seed, direction) that loses half the lead: 1 if the attention switched by then",
        role="aside", statistic="binomial",
    ),
)


TRANSFORMER_DRIFT = Chapter(
    name="transformer_drift",
    title="Goal drift in a transformer: symmetric controls and the goal circuit watched",
    params=[
        seed_param(),
        # 8: an exact binomial interval of 8 of 8 is [0.63, 1] and of 0 of 8 [0, 0.37], both clear of 1/2
        Param("n_seeds", int, 8, "seeds (each: its data, its positions, its phase-1 networks)", low=1, high=64),
        Param("n_bits", int, 8, "bit tokens before '='; bit 0 is the proxy", low=3, high=32),
        Param("k", int, 3, "parity order of the parity arm's goal (bits 1..k)", low=2, high=16),
        Param("d_model", int, 16, "residual width (2 heads of width d_model/2, MLP 2 d_model)", low=4, high=512),
        Param("n_train", int, 256, "training sequences per phase", low=64, high=100_000),
        Param("phase1_steps", int, 1000, "phase-1 full-batch AdamW steps (parity goal, its proxy alone)",
              low=10, high=1_000_000),
        Param("eq_phase1_steps", int, 200, "phase-1 steps of the one-token goals (both equal-cost directions)",
              low=10, high=1_000_000),
        Param("phase1_lr", float, 0.003, "phase-1 learning rate", low=1e-5, high=0.03),
        Param("phase1_weight_decay", float, 0.3, "phase-1 weight decay", low=0.0, high=10.0),
        Param("learning_rate", float, 0.004, "phase-2 AdamW eta (every arm)", low=1e-5, high=0.05),
        Param("lambda_1", float, 0.625, "parity arm: smallest phase-2 lambda", low=0.0, low_open=True, high=20.0),
        Param("lambda_2", float, 0.8, "parity arm: second phase-2 lambda", low=0.0, low_open=True, high=20.0),
        Param("lambda_3", float, 2.0, "parity arm: third phase-2 lambda", low=0.0, low_open=True, high=20.0),
        Param("lambda_4", float, 4.0, "parity arm: largest phase-2 lambda", low=0.0, low_open=True, high=20.0),
        Param("phase2_steps", int, 2_000, "parity arm: phase-2 steps", low=10, high=1_000_000),
        Param("eq_weight_decay", float, 4.25, "equal-cost arms: phase-2 lambda", low=0.0, low_open=True, high=20.0),
        Param("eq_phase2_steps", int, 600, "equal-cost arms: phase-2 steps", low=10, high=1_000_000),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 2, "d_model": 8, "n_train": 128, "phase1_steps": 100, "eq_phase1_steps": 50, "phase1_lr": 0.01,
                  "learning_rate": 0.01, "lambda_1": 2.0, "lambda_2": 3.0, "lambda_3": 4.0, "lambda_4": 5.0,
                  "phase2_steps": 500, "eq_weight_decay": 4.0, "eq_phase2_steps": 250, "eval_every": 10},
        "paper": {"n_seeds": 16, "d_model": 32, "n_train": 512, "phase1_steps": 3000, "eq_phase1_steps": 600,
                  "phase2_steps": 10_000, "eq_phase2_steps": 5000},
    },
    constraints=[_grid_ordered, _budget_decides, _task_fits],
    hypotheses=("H4",),
    headline_claim="transformer_drift_happens",
    claims=CLAIMS,
)
