"""Pages generated from the executed chapters: the verdicts of every claim,
how the book was built, the hypotheses summary of the front page, and each
chapter's "Run this chapter" box (from its parameter schema)."""

from __future__ import annotations

from pathlib import Path

from goaldrift.book.chapter import Chapter
from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.claims import format_value, verdict_markdown
from goaldrift.book.execute import read_chapter_claims, read_run_info
from goaldrift.book.hypotheses import HYPOTHESES


def verdicts_page(executed: Path) -> str:
    claims = [c for name in CHAPTERS for c in read_chapter_claims(executed / name)]
    enforced = [c for c in claims if c.enforced]
    hypotheses = [c for c in claims if not c.enforced]
    lines = [
        "# Verdicts",
        "",
        "Every claim of the book, as measured by the run that built this site. "
        "*Enforced* claims check a derivation against a measurement: a failure "
        "fails the chapter. *Hypotheses* from the literature are tested without "
        "enforcement: either outcome is a finding, reported as **holds** or **refuted**.",
        "",
        f"Enforced claims: {sum(c.passed for c in enforced)} of {len(enforced)} pass. "
        f"Hypotheses: {sum(c.passed for c in hypotheses)} of {len(hypotheses)} hold.",
        "",
    ]
    if not claims:
        lines.append("No executed chapter was found.")
    else:
        lines.append(verdict_markdown(claims))
    return "\n".join(lines) + "\n"


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
        f"- Total execution time: {total:.1f} s",
        "",
        "| chapter | profile | commit | wall time (s) | status | finished (UTC) |",
        "|---|---|---|---|---|---|",
    ]
    for i in infos:
        status = "ok" if i["ok"] else i["message"].replace("|", "\\|")
        lines.append(
            f"| {i['title']} | {i['profile']} | `{i['git_commit'][:12]}` | {i['wall_time_s']:.1f} | {status} | {i['finished']} |"
        )
    lines += ["", "## Parameters", ""]
    for i in infos:
        params = ", ".join(f"`{k}={format_value(v)}`" for k, v in i["parameters"].items())
        lines.append(f"- **{i['chapter']}**: {params}")
    return "\n".join(lines) + "\n"


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


def hypotheses_page(executed: Path) -> str:
    """One row per hypothesis: its verdict, aggregated from the claims of the
    chapters that test it, and the measured value of each chapter's headline claim."""
    lines = [
        "| | hypothesis | verdict | key measurement | chapters |",
        "|---|---|---|---|---|",
    ]
    for hid, statement in HYPOTHESES.items():
        chapters = [c for c in CHAPTERS.values() if hid in c.hypotheses]
        claims, key = [], []
        for c in chapters:
            mine = read_chapter_claims(executed / c.name)
            wanted = c.claims_by_hypothesis.get(hid)
            if wanted is not None:
                mine = [cl for cl in mine if cl.id in wanted]
            claims += mine
            headline_id = wanted[0] if wanted else c.headline_claim
            key += [f"`{h.id}`: predicted {format_value(h.predicted)}, measured {format_value(h.measured)}"
                    for h in mine if h.id == headline_id]
        if not claims:
            verdict = "not yet tested"
        elif any(cl.enforced and not cl.passed for cl in claims):
            verdict = "**derivation failed**"
        elif any(not cl.passed for cl in claims):
            verdict = f"mixed: {sum(cl.passed for cl in claims)} of {len(claims)} claims hold"
        else:
            verdict = f"supported ({len(claims)} of {len(claims)} claims)"
        links = ", ".join(f"{{doc}}`{c.title} </book/chapters/{c.name}>`" for c in chapters) or "—"
        lines.append(f"| {hid} | {statement} | {verdict} | {'; '.join(key) or '—'} | {links} |")
    return "\n".join(lines) + "\n"


def run_box(chapter: Chapter) -> str:
    """A Markdown admonition telling the reader how to re-run this chapter."""
    profiles = sorted({p for p in chapter.profiles})
    head = "| parameter | type | default | " + " | ".join(profiles) + " | valid range | meaning |"
    rows = [head, "|" + "---|" * (5 + len(profiles))]
    for p in chapter.params:
        per_profile = [format_value(chapter.profiles[prof].get(p.name, p.default)) for prof in profiles]
        rows.append(
            f"| `{p.name}` | {p.type.__name__} | {format_value(p.default)} | "
            + " | ".join(per_profile)
            + f" | {p.range_text() or '—'} | {p.help} |"
        )
    example = " ".join(f"-p {p.name} {p.default}" for p in chapter.params[1:3])
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
            *rows,
            "",
            "Values are checked against these ranges before anything runs; see `goaldrift list`.",
            ":::",
        ]
    )
