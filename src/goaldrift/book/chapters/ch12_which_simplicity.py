"""The spec of chapter 12 (book/chapters/which_simplicity.md): which simplicity does weight
decay select? The optimiser crossover of issue 28 (H4; its derivations are checks on H2).

Design, fixed here before the chapter's first run (the design history in the chapter says
what changed and why): one phase 1 per seed, shared by every arm and proxy scale; four arms
(SGD, AdamW, large-ε Adam, sign descent) at one ηλ; proxy bit at scale 1 and at scale
``dear_scale``; per arm and scale a λ = 0 control; for SGD and AdamW a second member at
(η/r, rλ), the same ηλ, for the drift-law ratio. A seed whose member never drifts within the
budget is a 0 outcome of a binomial claim, not dropped; a drift-law ratio with a censored
member is undefined (nan), which leaves that law undecided rather than biased.
"""

from __future__ import annotations

import math

from goaldrift.book.chapter import Chapter, proxy_network_params, seed_param
from goaldrift.book.declarations import check, evidence
from goaldrift.book.params import Param

LN2_HALF = math.log(2) / 2  # the toy's L2-clock drift point (theory.drift.drift_point at L = 2)


def _budget_long_enough(v: dict) -> str | None:
    # "no drift" must mean "not within six times the L2 clock's drift point", not "not yet"
    if v["phase2_steps"] * v["eta_lambda"] < 6 * LN2_HALF:
        return "phase2_steps * eta_lambda must be >= 6 ln2/2 ~ 2.08 (a no-drift outcome must cover six drift points)"
    return None


def _drift_resolved(v: dict) -> str | None:
    if v["eval_every"] > LN2_HALF / (3 * v["eta_lambda"]):
        return "eval_every must be <= ln2/2 / (3 * eta_lambda) (the fastest drift needs 3 evaluations)"
    return None


def _box_separates(v: dict) -> str | None:
    # theory.adamw_drift.proxy_capacity: width * scale / lambda^2 must hold the cheap proxy's output (1)
    # and not the dear one's, or the box test cannot tell the two geometries apart
    lam = v["box_weight_decay"]
    if not v["width"] * v["dear_scale"] / lam**2 < 1 <= v["width"] / lam**2:
        return ("box_weight_decay must lie in (sqrt(width * dear_scale), sqrt(width)] (AdamW's box must hold the "
                "cheap proxy and not the dear one)")
    if v["adam_lr"] * lam > 0.05:
        return "adam_lr * box_weight_decay must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


def _task_fits(v: dict) -> str | None:
    if v["k"] > v["n_bits"] - 1:
        return "k must be <= n_bits - 1 (bit 0 is the proxy)"
    if v["n_train"] % 2:
        return "n_train must be even (phase-1 goal and proxy are exactly balanced)"
    if v["eta_lambda"] * v["lr_ratio"] > 0.05:
        return "eta_lambda * lr_ratio must be <= 0.05 (1 - eta*lambda per step must stay near 1)"
    return None


_ARMS = ("SGD (eta = {sgd_lr}), AdamW (eta = {adam_lr}), Adam with eps = {large_eps} (eta = {sgd_lr} x {large_eps}) "
         "and sign descent (AdamW with betas (0, 0), eta = {adam_lr}), all at eta*lambda = {eta_lambda}")
_DESIGN = ("{n_seeds} phase-1 networks (parity of {k} of {n_bits} bits, width {width}, {n_train} examples, "
           "{phase1_steps} AdamW steps), each continued by every arm: " + _ARMS + "; proxy bit at scale 1 and "
           "{dear_scale}; {phase2_steps} phase-2 steps (eta*lambda*t up to {phase2_steps} x {eta_lambda}), "
           "evaluated every {eval_every}; drift: conflict agreement below 1/2 within the budget")
_LAW = ("; per seed also a member at (eta / {lr_ratio}, {lr_ratio} x lambda), the same eta*lambda; per seed the "
        "ratio of the two drift steps (nan if either is censored)")

_BOX = ("the {n_seeds} phase-1 networks continued by AdamW at eta = {adam_lr}, lambda = {box_weight_decay} "
        "(eta*lambda*t up to {phase2_steps} x {adam_lr} x {box_weight_decay}) on each proxy scale, one member per "
        "seed, {phase2_steps} steps, evaluated every {eval_every}")

CLAIMS = (
    # ---- the derivations, each checked against torch.optim (H2: what "cheaper" means) ----
    check(
        "decay_half_life_ln2_over_k",
        "torch.optim.AdamW, zero gradient, a pathway of 2 factors at eta*lambda = {eta_lambda}: measured "
        "half-life over ln2/(k eta lambda)",
        predicted=1.0, comparison="rel", tolerance=lambda p: p["eta_lambda"], hypothesis="H2",
    ),
    check(
        "sign_growth_rate_eta",
        "torch.optim.AdamW, a constant gradient of size 1e-4 to 1e2: step per eta, worst over sizes",
        predicted=1.0, comparison="rel", tolerance=1e-3, hypothesis="H2",
    ),
    check(
        "linf_equilibrium_one_over_lambda",
        "torch.optim.AdamW, a gradient that keeps its sign, lambda = {weight_decay_probe}: |theta| lambda at the "
        "fixed point",
        predicted=1.0, comparison="rel", tolerance=1e-4, hypothesis="H2",
    ),
    check(
        "large_eps_step_is_sgd",
        "torch.optim.AdamW with eps = {large_eps}: largest relative deviation of its first step from eta g/eps "
        "(SGD at rate eta/eps) for |g| <= 1",
        predicted=lambda p: 1 / p["large_eps"], comparison="at_most", hypothesis="H2",
    ),
    # ---- the design's own conditions ----
    evidence(
        "every_arm_drifts_to_cheap_proxy",
        "share of seeds in which every arm drifts toward the proxy at scale 1 (the budget and the arms can drift)",
        alternative="some arm cannot drift at all in the budget, so its no-drift outcomes say nothing",
        predicted=0.5, comparison="at_least", design=_DESIGN + "; per seed: 1 if all four arms drift",
        role="design", statistic="binomial",
    ),
    evidence(
        "no_drift_without_decay",
        "share of seeds in which no lambda = 0 control (any arm, either scale) drifts in the budget",
        alternative="the loss alone drifts some arm (the drift is not decay's)",
        predicted=0.5, comparison="at_least", design=_DESIGN + "; per seed: 1 if none of its eight controls drifts",
        role="design", statistic="binomial",
    ),
    # ---- the crossover ----
    evidence(
        "crossover_sgd_follows_l2",
        "share of seeds in which SGD drifts toward the L2-dearer proxy (scale {dear_scale})",
        alternative="SGD drifts toward the L2-dearer proxy as well (the L2 cost does not decide under SGD)",
        predicted=0.5, comparison="at_most", hypothesis="H4", design=_DESIGN + "; per seed: 1 if SGD drifts",
        role="core", statistic="binomial",
    ),
    evidence(
        "crossover_adamw_follows_linf",
        "share of seeds in which AdamW drifts toward the L2-dearer proxy (scale {dear_scale})",
        alternative="AdamW keeps the goal against the L2-dearer proxy (the L2 cost decides under AdamW too)",
        predicted=0.5, comparison="at_least", hypothesis="H4", design=_DESIGN + "; per seed: 1 if AdamW drifts",
        role="core", statistic="binomial",
    ),
    evidence(
        "large_eps_adam_like_sgd",
        "share of seeds in which Adam with eps = {large_eps} drifts toward the L2-dearer proxy (scale {dear_scale})",
        alternative="large-eps Adam drifts like AdamW (the moments, not the sign-like step, decide)",
        predicted=0.5, comparison="at_most", hypothesis="H4",
        design=_DESIGN + "; per seed: 1 if large-eps Adam drifts", role="core", statistic="binomial",
    ),
    evidence(
        "sign_descent_like_adamw",
        "share of seeds in which sign descent drifts toward the L2-dearer proxy (scale {dear_scale})",
        alternative="sign descent keeps the goal (AdamW's drift needs its moment averaging, not the sign-like step)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        design=_DESIGN + "; per seed: 1 if sign descent drifts", role="core", statistic="binomial",
    ),
    evidence(
        "geometry_interaction_adamw_minus_sgd",
        "share of seeds whose paired interaction of final drift, AdamW's (scale {dear_scale} minus scale 1) minus "
        "SGD's, is at least 1/2",
        alternative="the proxy's geometry acts alike under both optimisers (interaction near 0 in most seeds)",
        predicted=0.5, comparison="at_least", hypothesis="H4",
        # a share, not a mean's t-interval, since the twelfth build: every seed's interaction was exactly 1, and
        # the t-interval of equal values has zero width (the chapter's design history)
        design=_DESIGN + "; per seed: (AdamW dear - AdamW cheap) - (SGD dear - SGD cheap) of 1 - final agreement, "
               "counted when at least 1/2",
        role="core", statistic="binomial", outcome=("at_least", 0.5),
    ),
    # ---- the l-inf box (theory.adamw_drift.proxy_capacity): a lambda where it holds only the cheap proxy ----
    evidence(
        "box_allows_cheap_proxy",
        "share of seeds in which AdamW at lambda = {box_weight_decay} drifts toward the proxy at scale 1 (box capacity "
        "width / lambda^2 >= 1)",
        alternative="AdamW at this lambda cannot drift at all, so the box test's no-drift outcomes say nothing",
        predicted=0.5, comparison="at_least",
        design=_BOX + "; per seed: 1 if it drifts toward the cheap proxy", role="design", statistic="binomial",
    ),
    evidence(
        "box_excludes_dear_proxy",
        "share of seeds in which AdamW at lambda = {box_weight_decay} drifts toward the proxy at scale {dear_scale} "
        "(box capacity width x {dear_scale} / lambda^2 < 1)",
        alternative="AdamW drifts toward a proxy its l-inf box cannot hold (the box is not what decides)",
        predicted=0.5, comparison="at_most", hypothesis="H4",
        design=_BOX + "; per seed: 1 if it drifts toward the dear proxy", role="law", statistic="binomial",
    ),
    # ---- the two clocks (theory.adamw_drift.clock_ratio): ratios at the same eta*lambda ----
    evidence(
        "sgd_drift_law",
        "SGD, proxy at scale 1: t_d(eta / {lr_ratio}, {lr_ratio} lambda) / t_d(eta, lambda) equals 1 (the L2 clock "
        "eta*lambda*t)",
        alternative="the sign-growth clock eta*t (ratio {lr_ratio})",
        predicted=1.0, comparison="rel", tolerance=0.15, alternative_value=lambda p: p["lr_ratio"], hypothesis="H4",
        design=_DESIGN + _LAW, role="law", statistic="log_mean",
    ),
    evidence(
        "adamw_drift_law",
        "AdamW, proxy at scale {dear_scale}: t_d(eta / {lr_ratio}, {lr_ratio} lambda) / t_d(eta, lambda) equals "
        "{lr_ratio} (the sign-growth clock eta*t)",
        alternative="the L2 clock eta*lambda*t (ratio 1)",
        predicted=lambda p: p["lr_ratio"], comparison="rel", tolerance=0.15, alternative_value=1.0, hypothesis="H4",
        design=_DESIGN + _LAW, role="law", statistic="log_mean",
    ),
)


WHICH_SIMPLICITY = Chapter(
    name="which_simplicity",
    title="Which simplicity does weight decay select? The optimiser decides",
    params=[
        seed_param(),
        # 8: an exact binomial interval of 8 of 8 seeds is [0.63, 1] and of 0 of 8 [0, 0.37], both
        # clear of one half; 6 would be [0.54, 1] and [0, 0.46]
        Param("n_seeds", int, 8, "phase-1 networks (init seeds); every arm and scale continues each", low=1, high=64),
        *proxy_network_params(),
        Param("eta_lambda", float, 0.002, "eta*lambda of every phase-2 arm (each arm's lambda is eta_lambda / eta)",
              low=1e-5, high=0.05),
        Param("sgd_lr", float, 0.05, "SGD's eta (and large-eps Adam's eta / eps)", low=1e-4, high=0.2),
        Param("adam_lr", float, 0.004, "AdamW's and sign descent's eta", low=1e-5, high=0.05),
        Param("large_eps", float, 100.0, "Adam's eps in the large-eps arm", low=1.0, high=1e6),
        Param("dear_scale", float, 0.1, "scale of the L2-dearer proxy bit (inputs +-dear_scale)", low=0.01, high=0.9),
        Param("lr_ratio", float, 2.0, "r of the drift-law members (eta / r, r lambda)", low=1.5, high=10.0),
        Param("weight_decay_probe", float, 2.0, "lambda of the l-inf equilibrium check", low=0.01, low_open=True,
              high=100.0),
        Param("box_weight_decay", float, 4.0, "AdamW's lambda in the box test (the box holds the cheap proxy only)",
              low=0.01, low_open=True, high=100.0),
        Param("phase2_steps", int, 1500, "phase-2 steps of every arm", low=10, high=1_000_000),
        Param("eval_every", int, 25, "steps between evaluations", low=1, high=10_000),
    ],
    profiles={
        "smoke": {"n_seeds": 2, "width": 32, "n_train": 256, "phase1_steps": 150, "phase1_lr": 0.01,
                  "eta_lambda": 0.01, "phase2_steps": 300, "eval_every": 5},
        "paper": {"n_seeds": 16, "width": 128, "n_train": 2048, "phase1_steps": 1500, "phase2_steps": 3000},
    },
    constraints=[_budget_long_enough, _drift_resolved, _task_fits, _box_separates],
    hypotheses=("H4", "H2"),
    headline_claim="crossover_adamw_follows_linf",
    claims=CLAIMS,
)
