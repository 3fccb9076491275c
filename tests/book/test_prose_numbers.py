"""No prose beyond the claims: every number in a chapter's Markdown is glued from
the run, sits in mathematics, or is on the commented allow-list below (figures
from the literature, with their citation, and names that contain digits)."""

import re

import pytest

from conftest import REPO
from goaldrift.book.notebooks import read_notebook

CHAPTERS = sorted((REPO / "book" / "chapters").glob("*.md"))

# Each entry: (chapter, the exact phrase that holds the digits). Keep it short,
# and say why each is allowed.
ALLOWED = [
    # the published grokking run, cited in the same sentence (nanda2023progress)
    ("grokking_replication", "30% of the pairs"),
    ("grokking_replication", "betas (0.9, 0.98) and a 10-step warm-up, for 40k full-batch steps"),
    ("grokking_replication", "(the published run has about 7×: 1.4k against\nroughly 10k epochs"),
    # model names from the recipes' papers (cited in the chapter's table)
    ("real_runs_decay", "GPT-3 175B"),
    ("real_runs_decay", "Llama 2-Chat"),
]

# Names that carry digits but are not numbers of this book's measurements.
NAMES = re.compile(r"\b(H[1-9]|L[12]|GPT-?\d|W_\d|[A-Za-z]+\d+[A-Za-z]*)\b"
                   # ordinals that name a part of the chapter, not a measured quantity
                   r"|\b(Measurement|Phase|phase|[Pp]art|[Ss]tep|[Dd]epth|bit|[Ll]ayer|[Pp]rediction|degree)[ -]\d+\b"
                   # the confidence level of every interval in the book (goaldrift.book.claims.ALPHA)
                   r"|\b95%"
                   r"|^\s*\d+\.\s", re.M)

STRIP = [
    re.compile(r"```.*?```", re.S),                   # code and directive blocks
    re.compile(r":::.*?:::", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),                 # display math
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),
    re.compile(r"\$[^$\n]+\$"),                       # inline math
    re.compile(r"\{[\w:-]+\}`[^`]*`"),                # roles: glue, cite, doc, ref, eq, math
    re.compile(r"`[^`]*`"),                           # inline code
    re.compile(r"\]\([^)]*\)"),                       # link targets
    re.compile(r"^\(.*\)=\s*$", re.M),                # labels
]


def stray_numbers(text: str) -> list[str]:
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    text = NAMES.sub(" ", text)
    found = []
    for line in text.splitlines():
        for m in re.finditer(r"\d", line):
            found.append(line.strip())
            break
    return found


def test_stray_numbers_are_found():
    assert stray_numbers("the error fell by three orders, to 1e-3 of its start")
    assert not stray_numbers("fell to {glue:text}`x:.3g` at $\\eta\\lambda t = 1$ (H4, see `cell 3`)")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_markdown_numbers_are_glued_or_math(path):
    nb = read_notebook(path)
    allowed = [phrase for chapter, phrase in ALLOWED if chapter == path.stem]
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        source = cell.source
        for phrase in allowed:
            source = source.replace(phrase, " ")
        problems += [f"cell {i}: {line}" for line in stray_numbers(source)]
    assert not problems, f"{path.stem}: numbers in prose that are neither glued nor math:\n" + "\n".join(problems)
