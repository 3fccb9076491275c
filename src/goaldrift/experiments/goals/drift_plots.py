"""Figures of the drift chapters: each function draws one figure from the readings of
``proxy_drift`` and ``drift_law`` and returns it (``plots.show(fig)`` puts it in the notebook)."""

from __future__ import annotations

import numpy as np

from goaldrift.experiments import plots
from goaldrift.theory.drift_law import predicted_drift_point


def collapse(d, lrs, weight_decays, predicted_x: float):
    """Aligned agreement of seed 0's members against steps and against ηλt (all decayed members in
    grey behind): the collapse on the ηλt clock. ``lrs``: the two η (dotted: the larger);
    ``weight_decays``: every λ of the grid, 0 first, in the order of the colours."""
    fig, (ax1, ax2) = plots.panels(2)
    steps, el, agree = d.steps, d.eta_lambda, d.agreement
    for i, mem in enumerate(d.members):
        if mem.source != 0:
            continue
        style = dict(color=plots.COLORS[list(weight_decays).index(mem.weight_decay)], alpha=0.9,
                     linestyle="-" if mem.lr == lrs[0] else ":")
        label = f"$\\lambda$={mem.weight_decay:g}" if mem.lr == lrs[0] else None
        ax1.plot(steps, agree[:, i], label=label, **style)
        if mem.weight_decay > 0:
            ax2.plot(steps * el[i], agree[:, i], **style)
    for i in np.nonzero(d.decayed)[0]:
        ax2.plot(steps * el[i], agree[:, i], color="grey", alpha=0.25, linewidth=0.8)
    ax2.axvline(predicted_x, **plots.PREDICTED, label="$\\ln 2/2$")
    ax1.set(xlabel="phase-2 step $t$", ylabel="aligned agreement (conflict set)",
            title="against steps (seed 0; dotted: larger $\\eta$)")
    ax2.set(xlabel="$\\eta\\lambda t$", ylabel="aligned agreement", title="against $\\eta\\lambda t$: the collapse",
            xlim=(0, 3 * predicted_x))
    ax1.legend()
    ax2.legend()
    return fig


def pathways(d, i: int, predicted_x: float):
    """Member ``i``'s pathway norms against ηλt beside e^{-ηλt}, and its excluded and training losses."""
    fig, (ax1, ax2) = plots.panels(2)
    m, el = d.metrics, d.eta_lambda[i]
    x_axis = d.steps * el
    for key, label in [("complex_norm", "input weights on the goal bits"), ("simple_norm", "input weight on the proxy bit"),
                       ("other_norm", "all other weights")]:
        ax1.plot(x_axis, m[key][:, i], label=label)
    ax1.plot(x_axis, m["complex_norm"][0, i] * np.exp(-x_axis), **plots.PREDICTED, label="$e^{-\\eta\\lambda t}$")
    ax1.axvline(el * d.t_d[i], color="grey", linewidth=0.8)
    ax1.set(xlabel="$\\eta\\lambda t$", ylabel="norm", xlim=(0, 3 * predicted_x),
            title=f"pathways ($\\lambda$={d.members[i].weight_decay:g}, seed {d.members[i].source})")
    ax1.legend(fontsize=8)
    ax2.plot(x_axis, m["excluded_loss"][:, i], label="excluded loss (proxy bit set to 0)")
    ax2.plot(x_axis, m["train_loss"][:, i], label="phase-2 training loss")
    ax2.set(xlabel="$\\eta\\lambda t$", ylabel="squared error", yscale="log", title="what the network still knows",
            xlim=(0, 3 * predicted_x))
    ax2.legend(fontsize=8)
    return fig


def drift_step_against_eta_lambda(d, lrs, predicted_x: float):
    """t_d of every decayed member against ηλ (one colour per η), beside ln2/(2ηλ)."""
    fig, ax = plots.panels(1)
    el, decayed = d.eta_lambda, d.decayed
    member_lr = np.array([m.lr for m in d.members])
    for j, eta in enumerate(lrs):
        sel = decayed & (member_lr == eta)
        ax.loglog(el[sel], d.t_d[sel], "o", color=plots.COLORS[j], label=f"$\\eta$={eta:g}")
    grid_el = np.geomspace(el[decayed].min() / 1.3, el[decayed].max() * 1.3, 50)
    ax.loglog(grid_el, predicted_x / grid_el, **plots.PREDICTED, label="$\\ln 2/(2\\eta\\lambda)$")
    ax.set(xlabel="$\\eta\\lambda$", ylabel="drift step $t_d$", title="drift step against $\\eta\\lambda$")
    ax.legend()
    return fig


def groups(groups: dict):
    """Mean aligned agreement of every (loss, optimiser, λ) group of ``loss_optimiser_groups``."""
    fig, ax = plots.panels(1)
    for j, ((loss_name, kind, wd), g) in enumerate(sorted(groups.items())):
        ax.plot(g.steps, g.curve, color=plots.COLORS[j % len(plots.COLORS)],
                linestyle="-" if wd > 0 else ":", label=f"{loss_name}, {kind}, $\\lambda$={wd:g}")
    ax.set(xlabel="phase-2 step", ylabel="aligned agreement (mean over seeds)",
           title="which runs drift (dotted: $\\lambda=0$)")
    ax.legend(fontsize=7)
    return fig


def complexity(cx, predicted_x: float):
    """Mean drift point of each family against its complexity k, beside ln2/2."""
    fig, ax = plots.panels(1)
    for j, family in enumerate(("parity", "slab")):
        ks = [kk for (f, kk) in cx.points if f == family]
        ax.plot(ks, [np.mean(cx.points[(family, kk)].x) for kk in ks], "o-", color=plots.COLORS[j], label=family)
    ax.axhline(predicted_x, **plots.PREDICTED, label="$\\ln 2/2$")
    ax.set(xlabel="complexity $k$", ylabel="$\\eta\\lambda t_d$ (mean over seeds; missing: no drift)", yscale="log",
           title="drift point against the goal's complexity")
    ax.legend()
    return fig


def law(sweep, start_share: float = 0.999):
    """Measured drift point of every (task, seed) against its cost ratio, beside the law at one starting share."""
    fig, ax = plots.panels(1)
    for j, ((family, kk, scale), c) in enumerate(zip(sweep.cases, sweep.results)):
        lab = f"{family} k={kk}" + (f", scale {scale:g}" if scale != 1 else "")
        ax.scatter(c.rho, np.minimum(c.x_d, sweep.budget_x), color=plots.COLORS[j % len(plots.COLORS)], label=lab)
    grid_rho = np.geomspace(1.05, max(30.0, sweep.rho.max() * 1.2), 100)
    ax.plot(grid_rho, [predicted_drift_point(g, start_share) for g in grid_rho], **plots.PREDICTED,
            label=f"law, $A_0={start_share:g}$")
    ax.axhline(np.log(2) / 2, color="grey", linewidth=0.8, label="$\\ln2/2$")
    ax.set(xscale="log", yscale="log", xlabel="cost ratio $\\rho=c_g/c_p$",
           ylabel="$\\eta\\lambda t_d$ (capped at the budget)", title="drift point against the cost ratio")
    ax.legend(fontsize=6)
    return fig


def agreement_on_clock(d, title: str):
    """Aligned agreement of every member against ηλt (λ = 0: on the largest member's axis), one colour per λ."""
    fig, ax = plots.panels(1)
    el = d.eta_lambda
    decays = sorted({m.weight_decay for m in d.members})
    for i, mem in enumerate(d.members):
        ax.plot(d.steps * (el[i] if el[i] > 0 else el.max()), d.agreement[:, i],
                color=plots.COLORS[decays.index(mem.weight_decay)], alpha=0.8,
                label=f"$\\lambda$={mem.weight_decay:g}" if mem.source == 0 else None)
    ax.set(xlabel="$\\eta\\lambda t$ ($\\lambda=0$: on the largest member's axis)", ylabel="aligned agreement (conflict set)",
           title=title, xscale="symlog")
    ax.legend()
    return fig


def two_clocks(d, predicted_x: float):
    """Aligned agreement of the decayed members on the ηλt clock and on the rotational clock √(ηλ) t."""
    fig, (ax1, ax2) = plots.panels(2)
    top = max(m.weight_decay for m in d.members)
    for i in np.nonzero(d.decayed)[0]:
        col = plots.COLORS[int(d.members[i].weight_decay == top)]
        ax1.plot(d.steps * d.eta_lambda[i], d.agreement[:, i], color=col, alpha=0.8)
        ax2.plot(d.steps * np.sqrt(d.eta_lambda[i]), d.agreement[:, i], color=col, alpha=0.8)
    ax1.axvline(predicted_x, **plots.PREDICTED, label="$\\ln 2$")
    ax1.set(xlabel="$\\eta\\lambda t$", ylabel="aligned agreement", title="LayerNorm: on the $\\eta\\lambda t$ clock",
            xlim=(0, 3 * predicted_x))
    ax2.set(xlabel="$\\sqrt{\\eta\\lambda}\\,t$", ylabel="aligned agreement", title="on the rotational clock")
    ax1.legend()
    return fig


def arm_agreement(arm, title: str):
    """Conflict agreement of every seed's member at every λ of a ``transformer_drift.Arm`` against
    ηλt (λ = 0 on the largest λ's axis), thin per seed, thick the mean over seeds."""
    fig, ax = plots.panels(1)
    top = max(arm.weight_decays)
    for j, wd in enumerate(arm.weight_decays):
        x = arm.steps * arm.lr * (wd if wd > 0 else top)
        colour = plots.COLORS[j % len(plots.COLORS)]
        for s in range(arm.n_seeds):
            ax.plot(x, arm.curves["conflict_agreement"][s, :, j], color=colour, alpha=0.25, linewidth=0.7)
        ax.plot(x, arm.mean_curve("conflict_agreement", wd), color=colour, linewidth=2, label=f"$\\lambda$={wd:g}")
    ax.axhline(0.5, **plots.PREDICTED)
    ax.set(xlabel="$\\eta\\lambda t$ ($\\lambda=0$: on the largest $\\lambda$'s axis)",
           ylabel="goal agreement (conflict set)", title=title, ylim=(-0.02, 1.02))
    ax.legend()
    return fig


def mechanism(arm, weight_decay: float, title: str):
    """The named intermediates of a ``transformer_drift.Arm`` member at one λ against steps, mean over
    seeds (thin: per seed): attention from the last position to the goal's and the proxy's tokens,
    their positional-embedding norms, and the output each rule carries."""
    fig, axes = plots.panels(3, width=10.5, height=3.3)
    pairs = (("attn_goal", "attn_proxy", "attention from the last position"),
             ("pos_norm_goal", "pos_norm_proxy", "positional-embedding norm"),
             ("goal_contribution", "proxy_contribution", "output carried (margin)"))
    j = arm.column(weight_decay)
    for ax, (goal, proxy, label) in zip(axes, pairs):
        for name, colour, who in ((goal, plots.COLORS[0], "goal"), (proxy, plots.COLORS[1], "proxy")):
            for s in range(arm.n_seeds):
                ax.plot(arm.steps, arm.curves[name][s, :, j], color=colour, alpha=0.2, linewidth=0.7)
            ax.plot(arm.steps, arm.mean_curve(name, weight_decay), color=colour, linewidth=2, label=who)
        ax.set(xlabel="phase-2 step", title=label)
    axes[0].legend()
    fig.suptitle(f"{title} ($\\lambda$={weight_decay:g})")
    return fig
