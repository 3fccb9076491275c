"""Pages generated from the executed chapters: the verdicts of every claim,
how the book was built, the front page's bottom line, headline figure and
hypotheses table, and each chapter's "Run this chapter" box (from its
parameter schema)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

from goaldrift.book.chapter import Chapter
from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.claims import (FRAGILE_MARGIN, SERIES_FILE, Claim, badge_html, claim_anchor, format_value,
                                   interval_text, verdict_markdown)
from goaldrift.book.execute import read_chapter_claims, read_run_info
from goaldrift.book.hypotheses import HYPOTHESES
from goaldrift.book.reference import REFERENCE_PROFILE, agreement_markdown
from goaldrift.tables import markdown_table

# How a hypothesis's verdict follows from its evidence (checks never count).
HYPOTHESIS_RULE = (
    "Each evidence claim declares, before measuring, its role for its hypothesis: *core* (what the "
    "hypothesis itself predicts, with the controls where the effect must not happen) or *law* (a "
    "quantitative model of the effect: a rate, a constant, a scaling law). A hypothesis is decided by its "
    "core claims alone: **supported** when every core claim is supported, **refuted** when at least one "
    "is refuted, **inconclusive** otherwise. Its laws are listed beside it with their own verdicts, so a "
    "failed model of an effect never reads as the effect's absence. A hypothesis with no core evidence "
    "is **derived** when its checks pass; with neither it is *not yet tested*. Checks (derivations and the "
    "code being what it says) never count toward an evidence verdict; a failed check is reported beside it."
)


def core_claims(evidence: list[Claim]) -> list[Claim]:
    """The claims that decide a hypothesis (a record written before claims had roles counts as core)."""
    return [c for c in evidence if c.role in (None, "core")]


def law_claims(evidence: list[Claim]) -> list[Claim]:
    return [c for c in evidence if c.role == "law"]


def verdicts_page(executed: Path) -> str:
    claims = [c for name in CHAPTERS for c in read_chapter_claims(executed / name)]
    checks = [c for c in claims if not c.is_evidence]
    evidence = [c for c in claims if c.is_evidence]
    counts = ", ".join(f"{sum(c.verdict == v for c in evidence)} {v}" for v in ("supported", "refuted", "inconclusive"))
    lines = [
        "# Verdicts",
        "",
        "Every claim of the book, as measured by the run that built this site. A *check* is an "
        "identity, a derivation, or the code and data being what they say: it is enforced, and a "
        "failure fails the chapter. *Evidence* is a prediction about the world that could come out "
        "either way. Its verdict comes from an interval fit to the statistic the claim declares (a "
        "Student-t interval of a mean over seeds; of the log, for positive ratios and times; an exact "
        "binomial interval for a fraction of seeds with a 0/1 outcome; a fit's own interval; or the point "
        "for a computed value). The rule, the same for every claim: **supported** when the interval lies "
        "inside the predicted region and excludes the named alternative value (if the claim names one); "
        "**refuted** when it lies wholly outside the predicted region; **inconclusive** otherwise, with a "
        "note saying which way the data lean (e.g. the alternative excluded but the band not reached). "
        "Where a rule takes the worst of several members, each member's interval is Bonferroni-corrected "
        "for their number, and the measured value is the worst member's. With samples, the measured value "
        "is the statistic's own estimate, so it lies inside its interval.",
        "",
        "Since issue 27 (after the data of earlier builds were seen, so stated here): a prediction that "
        "every seed shows a 0/1 outcome became a prediction that at least half of the seeds do, decided by "
        "the exact binomial interval of their fraction, since no interval from finitely many seeds lies "
        "inside a fraction of exactly 1; with 3 seeds, 3 of 3 gives the interval [0.29, 1], which cannot "
        "decide that. So proxy_drift, drift_beyond_the_toy and protecting_goals went from 3 to 6 seeds at the "
        "default profile: 6 of 6 gives [0.54, 1] (supported), 5 of 6 gives [0.36, 0.996] (inconclusive).",
        "",
        "The *margin* is how far the interval would have to move, in units of its own half-width, "
        "before the verdict changed. Bits differ between CPUs and devices, so a decided verdict with "
        f"a margin below {FRAGILE_MARGIN} is labelled {badge_html('fragile')}: last-bit noise could flip it. "
        "A binomial interval has no margin: it moves only when a seed's 0/1 outcome flips.",
        "",
        f"Checks: {sum(c.passed for c in checks)} of {len(checks)} pass. Evidence: {counts}. "
        f"Fragile: {_fragile_text(evidence)}.",
        "",
        "Click a column heading to sort a table; choose below to show only some claims.",
        "",
        '<div id="gd-verdict-filter" class="gd-filter"></div>',
        "",
    ]
    if not claims:
        lines.append("No executed chapter was found.")
    for name, chapter in CHAPTERS.items():
        mine = [c for c in claims if c.chapter == name]
        if not mine:
            continue
        lines += [f"(verdicts-{name})=", f"## {chapter.title}", "",
                  verdict_markdown(mine, with_chapter=False), ""]
    return "\n".join(lines) + "\n"


def _fragile_text(evidence: list[Claim]) -> str:
    fragile = [c for c in evidence if c.fragile]
    if not fragile:
        return "none"
    return f"{len(fragile)} (" + ", ".join(f"`{c.id}` {c.margin:.2f}" for c in fragile) + ")"


def build_info_page(executed: Path) -> str:
    infos = [info for name in CHAPTERS if (info := read_run_info(executed / name))]
    lines = ["# How this book was built", ""]
    if not infos:
        return "\n".join(lines + ["No executed chapter was found."]) + "\n"
    total = sum(i["wall_time_s"] for i in infos)
    lines += [
        "Each chapter was executed by papermill with the parameters below, then "
        "rendered by Jupyter Book with execution off: what you read is what ran.",
        "",
        f"- Profile: {_shared(infos, lambda i: i['profile'], bold=True)}",
        f"- Git commit: {_shared(infos, lambda i: '`' + i['git_commit'] + '`')}",
        f"- Versions: {_shared(infos, lambda i: ', '.join(f'{k} {v}' for k, v in i['versions'].items()))}",
        f"- Device: {_shared(infos, lambda i: i['device'])}",
        f"- CPU kernels: {_shared(infos, numerics_text)}",
        f"- Total execution time: {total:.1f} s",
        "",
        markdown_table(["chapter", "profile", "commit", "wall time (s)", "status", "finished (UTC)"],
                       [[i["title"], i["profile"], f"`{i['git_commit'][:12]}`", f"{i['wall_time_s']:.1f}",
                         "ok" if i["ok"] else i["message"], i["finished"]] for i in infos]),
    ]
    lines += ["", "## Agreement with the reference build", ""]
    if all(i["profile"] == REFERENCE_PROFILE for i in infos):
        lines.append(agreement_markdown(executed))
    else:
        lines.append(f"Not compared: the committed reference build is the {REFERENCE_PROFILE} profile's.")
    lines += ["", "## Parameters", ""]
    for i in infos:
        params = ", ".join(f"`{k}={format_value(v)}`" for k, v in i["parameters"].items())
        lines.append(f"- **{i['chapter']}**: {params}")
    return "\n".join(lines) + "\n"


def numerics_text(info: dict) -> str:
    """How a chapter's CPU kernels were chosen (goaldrift.numerics), in words."""
    n = info.get("numerics")
    if not isinstance(n, dict):
        return "not recorded"
    state = "pinned" if n.get("pinned") else "not pinned"
    return (f"{n.get('mode')} ({state}: ATen {n.get('aten_capability')}, MKL_CBWR {n.get('mkl_cbwr')}) "
            f"on {n.get('cpu_model')}")


def _shared(infos: list[dict], value, bold: bool = False) -> str:
    """The value every chapter shares, or, when chapters were executed under
    different settings (a re-run of one chapter), each value with its chapters:
    the page must not claim one profile or commit for a mixed book."""
    groups: dict[str, list[str]] = {}
    for i in infos:
        groups.setdefault(value(i), []).append(i["chapter"])
    if len(groups) == 1:
        only = next(iter(groups))
        return f"**{only}**" if bold else only
    return "mixed: " + "; ".join(f"{v} ({', '.join(names)})" for v, names in groups.items())


def hypothesis_evidence(executed: Path) -> dict[str, tuple[list[Claim], list[Claim]]]:
    """hypothesis -> (its evidence claims, the checks of the same chapters)."""
    out = {}
    for hid in HYPOTHESES:
        evidence, checks = [], []
        for c in (c for c in CHAPTERS.values() if hid in c.hypotheses):
            mine = read_chapter_claims(executed / c.name)
            wanted = c.claims_by_hypothesis.get(hid)
            if wanted is not None:
                mine = [cl for cl in mine if cl.id in wanted]
            evidence += [cl for cl in mine if cl.is_evidence]
            checks += [cl for cl in mine if not cl.is_evidence]
        out[hid] = (evidence, checks)
    return out


def hypothesis_verdict(evidence: list[Claim], checks: list[Claim] = ()) -> str:
    """The rule of HYPOTHESIS_RULE: from the core claims only."""
    core = core_claims(evidence)
    if not core:
        if checks and all(c.passed for c in checks):
            return "derived"
        return "not yet tested" if not evidence else "inconclusive"
    verdicts = [c.verdict for c in core]
    if "refuted" in verdicts:
        return "refuted"
    if all(v == "supported" for v in verdicts):
        return "supported"
    return "inconclusive"


# The front page (book/intro.md) includes the hypotheses table and the bottom line: links from it
# to a claim's row on the Verdicts page are relative to the front page.
VERDICTS_FROM_FRONT = "generated/verdicts.html"


def claim_link(claim: Claim, page: str = VERDICTS_FROM_FRONT) -> str:
    """A link to the claim's own row of the Verdicts page (claims.claim_anchor)."""
    return f'<a href="{page}#{claim_anchor(claim)}"><code>{claim.id}</code></a>'


def _claim_links(claims: list[Claim]) -> str:
    return "; ".join(f"{badge_html(c.verdict)} {claim_link(c)}" for c in claims) or "—"


def hypotheses_page(executed: Path) -> str:
    """One row per hypothesis: its verdict from its core evidence, by HYPOTHESIS_RULE, each core
    claim and each law with its own badge, linked to its chapter's verdicts."""
    rows = []
    for hid, (evidence, checks) in hypothesis_evidence(executed).items():
        verdict = hypothesis_verdict(evidence, checks)
        core, laws = core_claims(evidence), law_claims(evidence)
        cell = badge_html(verdict)
        if core:
            cell += f" (core: {_counts(core)})"
        failed = [c for c in checks if not c.passed]
        if failed:
            cell += " " + badge_html("derivation failed")
        chapters = [c for c in CHAPTERS.values() if hid in c.hypotheses]
        links = ", ".join(f"{{doc}}`{c.title} </book/chapters/{c.name}>`" for c in chapters) or "—"
        rows.append([hid, HYPOTHESES[hid], cell, _claim_links(core) if core else _claim_links(checks),
                     _claim_links(laws), links])
    return "\n".join([HYPOTHESIS_RULE, "", markdown_table(["", "hypothesis", "verdict", "core evidence",
                                                            "laws (beside it)", "chapters"], rows)]) + "\n"


def _counts(evidence: list[Claim]) -> str:
    n = {v: sum(c.verdict == v for c in evidence) for v in ("supported", "refuted", "inconclusive")}
    return f"{n['supported']} supported, {n['refuted']} refuted, {n['inconclusive']} inconclusive"


def _short(value) -> str:
    """A number to three significant figures, for sentences a reader can quote."""
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def _interval_short(claim: Claim) -> str:
    """' [0.31, 0.405]' (three significant figures), '' for a point, or ' (interval unbounded)'."""
    if claim.interval_low is not None and claim.interval_low == claim.interval_high:
        return ""
    text = interval_text(claim, _short)
    return " (interval unbounded)" if text == "unbounded" else f" {text}"


def _quoted(claim: Claim) -> str:
    """A claim's measured value, interval and verdict, short: '0.357 [0.31, 0.405], supported',
    or for a share of seeds '6 of 6 seeds [0.541, 1], supported'."""
    value = _short(claim.measured)
    if claim.trials is not None and isinstance(claim.measured, (int, float)) and math.isfinite(claim.measured):
        value = f"{round(claim.measured * claim.trials)} of {claim.trials} seeds"
    return f"{value}{_interval_short(claim)}, **{claim.verdict}**"


PREDICTION_WORDS = {"at_least": "at least {p}", "at_most": "at most {p}", "equal": "exactly {p}",
                    "abs": "{p} ± {t}", "rel": "{p} within {t_percent}%"}


def predicted_text(claim: Claim) -> str:
    """'predicted at most 1', 'predicted -1 ± 0.25': the prediction in words, from the claim's own
    comparison, value and tolerance (the front page never types a direction beside a claim)."""
    words = PREDICTION_WORDS[claim.comparison]
    tol = claim.tolerance
    return "predicted " + words.format(p=_short(claim.predicted), t=_short(tol),
                                       t_percent=_short(100 * tol) if isinstance(tol, (int, float)) else tol)


def _why(verdict: str, evidence: list[Claim]) -> str:
    """Which core claims a hypothesis's verdict rests on, as a clause to append ('' if none):
    its refuted ones, else its undecided ones."""
    if verdict not in ("refuted", "inconclusive"):
        return ""
    ids = [c for c in core_claims(evidence) if c.verdict == verdict]
    if not ids:
        return ""
    word = "refuted by" if verdict == "refuted" else "undecided"
    return f"; {word}: " + ", ".join(f"`{c.id}`" + (f" (fragile, margin {c.margin:.2f})" if c.fragile else "")
                                     for c in ids)


def build_scale(executed: Path) -> str:
    """The profile and scale of the build, said next to its answer."""
    infos = [info for name in CHAPTERS if (info := read_run_info(executed / name))]
    if not infos:
        return "no executed chapter"
    profiles = sorted({i["profile"] for i in infos})
    text = f"the {'/'.join(profiles)} profile"
    grok = read_run_info(executed / "grokking_replication")
    if grok and "p" in grok.get("parameters", {}):
        p = grok["parameters"]["p"]
        text += f", grokking at p = {p}" + ("" if p == 113 else " (the published runs use p = 113)")
    seeds = sorted({i["parameters"]["n_seeds"] for i in infos if "n_seeds" in i.get("parameters", {})})
    if seeds:
        text += f", {'-'.join(map(str, (seeds[0], seeds[-1])) if len(seeds) > 1 else str(seeds[0]))} seeds a chapter"
    return text


def bottom_line(executed: Path) -> str:
    """The front page's answer, in sentences made from the executed claims (nothing typed in):
    does weight decay make a learned goal drift, where, on what clock, what stopped it, and
    which quantitative models of it failed."""
    per = hypothesis_evidence(executed)
    verdicts = {hid: hypothesis_verdict(ev, ch) for hid, (ev, ch) in per.items()}
    tested = [h for h, v in verdicts.items() if v != "not yet tested"]
    by = {v: [h for h in tested if verdicts[h] == v] for v in ("derived", "supported", "refuted", "inconclusive")}
    recorded = {(c.chapter, c.id): c for name in CHAPTERS for c in read_chapter_claims(executed / name)}
    claim = lambda chapter, cid: recorded.get((chapter, cid))  # noqa: E731  (each claims.json read once)
    out = [f"**Bottom line** ({build_scale(executed)}). "
           + f"Of the {len(HYPOTHESES)} hypotheses the argument rests on, {len(tested)} were tested by this build, "
           + "each decided by its core predictions: "
           + "; ".join(f"{v} {', '.join(hs)}" for v, hs in by.items() if hs) + "."]
    answer = []
    drift, lam0, rev = (claim("proxy_drift", i) for i in ("all_decayed_members_drift", "mse_lambda0_no_drift",
                                                             "reversal_no_drift"))
    slope = claim("proxy_drift", "drift_step_scales_as_inverse_eta_lambda")
    if drift and lam0 and rev:
        answer.append(
            f"*Does weight decay make a learned goal drift?* H4 is **{verdicts['H4']}**"
            + (f" ({why.removeprefix('; ')})" if (why := _why(verdicts["H4"], per["H4"][0])) else "")
            + ". In the MLP under AdamW "
            f"with squared error, the share of seeds whose decayed members all drifted to the proxy was "
            f"{_quoted(drift)}; at λ = 0 the share that kept the goal was {_quoted(lam0)}, and with the proxy made "
            f"the complex rule {_quoted(rev)}."
            + (f" The drift step scaled as (ηλ)^s with s = {_quoted(slope)} ({predicted_text(slope)}: the "
               f"ηλt clock)."
               if slope else ""))
    ln_clock = claim("drift_beyond_the_toy", "layernorm_drift_clock")
    tf_drift = claim("transformer_drift", "transformer_drift_happens")
    if ln_clock and tf_drift:
        answer.append(f"Beyond the toy, the LayerNorm network's drift clock slope was {_quoted(ln_clock)}; in the "
                      f"one-layer transformer the share of seeds in which some decayed member drifted to the "
                      f"one-token proxy was {_quoted(tf_drift)} ({predicted_text(tf_drift)}: **{tf_drift.verdict}**).")
    ranked, store = claim("protecting_goals", "ranked_freezing_stops_drift"), claim("protecting_goals",
                                                                                 "store_read_decayed_drifts")
    if ranked and store:
        answer.append(
            f"*What stopped it.* Freezing the weights ranked by attribution (H5, **{verdicts['H5']}**) needed "
            f"{_short(ranked.measured)}{_interval_short(ranked)} times the construction's fraction of weights "
            f"({predicted_text(ranked)}: **{ranked.verdict}**); memory "
            f"outside decay with a decayed read path (H6, **{verdicts['H6']}**): the share of seeds that "
            f"drifted was {_quoted(store)} ({predicted_text(store)}).")
    failed = [c for ev, _ in per.values() for c in law_claims(ev) if c.verdict == "refuted"]
    laws = [c for ev, _ in per.values() for c in law_claims(ev)]
    if laws:
        answer.append(
            f"*Quantitative models.* Of {len(laws)} laws, {_counts(laws)}"
            + (": refuted " + ", ".join(claim_link(c) for c in failed) if failed else "")
            + ".")
    out += answer
    out.append("\n".join(
        f"- {hid}: **{verdicts[hid]}**" + (f" (core: {_counts(core_claims(ev))}" if core_claims(ev) else
                                           f" ({len(ch)} checks")
        + (f"; laws: {_counts(law_claims(ev))})" if law_claims(ev) else ")")
        + _why(verdicts[hid], ev)
        for hid, (ev, ch) in per.items() if verdicts[hid] != "not yet tested"))
    pre = claim("real_runs_decay", "pretraining_at_least_one_efold")
    fine = claim("real_runs_decay", "finetuning_below_001_efold")
    if pre is not None and fine is not None:
        out.append(
            f"*Which regimes (H9).* The smallest published pretraining recipe integrates {_short(pre.measured)} "
            f"e-folds of decay (the law, {predicted_text(pre)}: **{pre.verdict}**); the largest fine-tuning "
            f"recipe {_short(fine.measured)} ({predicted_text(fine)}: **{fine.verdict}**). The figure "
            f"puts the measured drift points and these budgets on one axis.")
    return "\n\n".join(out) + "\n"


# Okabe and Ito's palette, distinguishable with the common colour-vision deficiencies; each
# series also has its own marker, so the figure reads in grey too.
SERIES_STYLES = [("#0072B2", "o"), ("#D55E00", "s"), ("#009E73", "D"), ("#CC79A7", "^"), ("#E69F00", "v")]
FIGURE_FONT_PT = 10


def headline_series(executed: Path) -> list[tuple[str, dict]]:
    """The figure's series with at least one positive value: drift points (proxy_drift), erasure
    points (protecting_goals) and the decay budgets of published recipes (real_runs_decay)."""
    series = {}
    for name in ("proxy_drift", "protecting_goals", "real_runs_decay"):
        f = executed / name / SERIES_FILE
        if f.exists():
            series.update(json.loads(f.read_text()))
    return [(k, v) for k, v in series.items() if any(x is not None and x > 0 for x in v["values"])]


def headline_figure(executed: Path, path: Path) -> bool:
    """Measured drift points (proxy_drift) and the decay budgets of published recipes
    (real_runs_decay) on one axis of e-folds of decay, written twice: ``path`` for a desktop
    (a row per named recipe, a legend) and ``narrow_figure_path(path)`` for a phone (a row per
    series, text above each row). Always writes both images (the front page shows them); returns
    False, with a note in the image, when no chapter left data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = headline_series(executed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not rows:
        for target in (path, narrow_figure_path(path)):
            fig, ax = plt.subplots(figsize=(7.5, 1.5))
            ax.text(0.5, 0.5, "no executed chapter left data for this figure", ha="center", va="center",
                    fontsize=FIGURE_FONT_PT)
            ax.set_axis_off()
            fig.savefig(target)
            plt.close(fig)
        return False
    # svg.fonttype none: the SVG keeps its text as text (searchable, read by screen readers, smaller)
    with plt.rc_context({"font.size": FIGURE_FONT_PT, "svg.fonttype": "none"}):
        _wide_headline(plt, rows, path)
        _narrow_headline(plt, rows, narrow_figure_path(path))
    return True


def narrow_figure_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-narrow{path.suffix}")


def _positive(values) -> list[float]:
    return [x for x in values if x is not None and x > 0]


def _plain_log_ticks(ax) -> None:
    # "0.01" rather than a 10 with a 7 pt exponent: every text in the figure stays at 10 pt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _wide_headline(plt, rows, path: Path) -> None:
    # One row per measured series, and one per named recipe, so that every dot is labelled.
    lines = []  # (y label, xs, style index, series label, predicted)
    for i, (_, s) in enumerate(rows):
        if s.get("names"):
            lines += [(name, _positive([x]), i, s["label"], None) for name, x in zip(s["names"], s["values"])
                      if _positive([x])]
        else:
            lines.append((s["label"], _positive(s["values"]), i, s["label"], s.get("predicted")))
    fig, ax = plt.subplots(figsize=(7.5, 1.9 + 0.38 * len(lines)), layout="constrained")
    labelled, predicted_drawn = set(), False
    for y, (_, xs, i, label, predicted) in enumerate(lines):
        colour, marker = SERIES_STYLES[i % len(SERIES_STYLES)]
        ax.plot(xs, [y] * len(xs), marker, color=colour, ms=6, alpha=0.75, linestyle="none",
                label=None if label in labelled else label)
        labelled.add(label)
        if predicted:
            ax.plot([predicted] * 2, [y - 0.4, y + 0.4], "k--", lw=1.2,
                    label=None if predicted_drawn else "predicted drift point")
            predicted_drawn = True
    ax.set_yticks(range(len(lines)), [line[0] for line in lines])
    ax.set_xscale("log")
    ax.set_ylim(len(lines) - 0.4, -0.6)  # the first series on top
    ax.set_xlabel("e-folds of decay (the sum of ηλ over the training steps)")
    _plain_log_ticks(ax)
    ax.set_title("where goals drifted,\nand how much decay real training applies")
    fig.legend(loc="outside lower center", ncol=2, frameon=False)
    fig.savefig(path)
    plt.close(fig)


def _narrow_headline(plt, rows, path: Path) -> None:
    # A phone's figure: one row per series, its name written above its dots (no tick labels to
    # squeeze), 3.6 inches wide so that 10 pt stays about 14 px on a 420 px screen.
    fig, ax = plt.subplots(figsize=(3.6, 1.2 + 0.75 * len(rows)), layout="constrained")
    for y, (_, s) in enumerate(rows):
        colour, marker = SERIES_STYLES[y % len(SERIES_STYLES)]
        xs = _positive(s["values"])
        ax.plot(xs, [y] * len(xs), marker, color=colour, ms=5, alpha=0.75, linestyle="none")
        if s.get("predicted"):
            ax.plot([s["predicted"]] * 2, [y - 0.3, y + 0.3], "k--", lw=1.2)
        text = textwrap.fill(s["label"] + (" (dashed: predicted)" if s.get("predicted") else ""), 40)
        ax.annotate(text, (0.01, y - 0.25), xycoords=("axes fraction", "data"), va="bottom", ha="left",
                    fontsize=FIGURE_FONT_PT).set_in_layout(False)  # the text sits inside the axes
    ax.set_yticks([])
    ax.set_xscale("log")
    ax.set_ylim(len(rows) - 0.5, -1.2)
    ax.set_xlabel("e-folds of decay (sum of ηλ)")
    _plain_log_ticks(ax)
    fig.savefig(path)
    plt.close(fig)


def example_override(chapter: Chapter) -> str:
    """'-p weight_decay 0.5': a change to the parameter that matters most (weight decay where the
    chapter has one), to a value the default profile accepts, so the box's example does something."""
    from goaldrift.book.params import ParamError
    from goaldrift.book.profiles import resolve

    numeric = [p for p in chapter.params if p.type in (int, float) and p.name not in ("seed", "n_seeds")]
    central = next((p for p in numeric if p.name == "weight_decay"), numeric[0] if numeric else None)
    if central is None:
        return "-p seed 1"
    base = resolve(chapter, "default")[central.name]
    for factor in (0.5, 2, 0.8, 1.25, 0.9, 1.1):
        value = central.type(base * factor) if central.type is float else int(round(base * factor))
        if value == base:
            continue
        try:
            resolve(chapter, "default", {central.name: repr(value)})
        except ParamError:
            continue
        return f"-p {central.name} {value:g}" if central.type is float else f"-p {central.name} {value}"
    return "-p seed 1"


def run_box(chapter: Chapter) -> str:
    """A Markdown admonition telling the reader how to re-run this chapter."""
    profiles = sorted({p for p in chapter.profiles})
    table = markdown_table(
        ["parameter", "type", "default", *profiles, "valid range", "meaning"],
        [[f"`{p.name}`", p.type.__name__, format_value(p.default),
          *(format_value(chapter.profiles[prof].get(p.name, p.default)) for prof in profiles),
          p.range_text() or "—", p.help] for p in chapter.params],
    )
    example = example_override(chapter)
    return "\n".join(
        [
            ":::{admonition} Run this chapter",
            ":class: tip",
            "",
            "```bash",
            f"goaldrift run {chapter.name} --profile default",
            f"goaldrift run {chapter.name} {example} --out my_{chapter.name}",
            "```",
            "",
            table,
            "",
            "Values are checked against these ranges before anything runs; see `goaldrift list`.",
            f"The notebook as executed for this site: {{download}}`{chapter.name}.ipynb <{chapter.name}.ipynb>`.",
            ":::",
        ]
    )
