"""Markdown tables, the one way the book writes them: verdict tables (goaldrift.book.claims),
the build page (goaldrift.book.site_pages), and the result tables of every chapter.

Imports nothing from goaldrift, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ALIGNMENTS = {"left": ":---", "right": "---:", "center": ":---:", None: "---"}


def cell(value) -> str:
    """One cell's text: a '|' inside would end the cell, and a newline the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def literal(text) -> str:
    """Text shown as written in Markdown: an asterisk (eta*lambda*t) would start emphasis."""
    return str(text).replace("*", "\\*")


def markdown_table(header: Sequence, rows: Iterable[Sequence], align: Sequence[str | None] | None = None) -> str:
    """A GitHub-flavoured Markdown table; every row must have as many cells as the header.

    ``align`` gives one of "left", "right", "center" or None per column.
    """
    header = [cell(h) for h in header]
    if align is None:
        align = [None] * len(header)
    if len(align) != len(header):
        raise ValueError(f"align has {len(align)} entries for {len(header)} columns")
    unknown = [a for a in align if a not in ALIGNMENTS]
    if unknown:
        raise ValueError(f"unknown alignment {unknown[0]!r}; use one of left, right, center or None")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(ALIGNMENTS[a] for a in align) + "|"]
    for i, row in enumerate(rows):
        row = [cell(v) for v in row]
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells for {len(header)} columns")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def html_table(header: Sequence, rows: Iterable[Sequence], row_attrs: Iterable[dict] | None = None,
               cls: str = "gd-table") -> str:
    """An HTML table, for tables whose columns must wrap and whose rows need anchors or data
    attributes (the verdict tables). Cells are given as HTML (escape text with html.escape);
    each cell carries its column's name (``data-label``) so a phone stylesheet can show a row
    as a card. No blank line inside: Markdown ends a raw HTML block at the first one."""
    import html

    header = [str(h) for h in header]
    rows = [list(r) for r in rows]
    attrs = list(row_attrs) if row_attrs is not None else [{} for _ in rows]
    if len(attrs) != len(rows):
        raise ValueError(f"{len(attrs)} row attributes for {len(rows)} rows")
    lines = [f'<table class="{html.escape(cls)}">',
             "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    for i, (row, attr) in enumerate(zip(rows, attrs)):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells for {len(header)} columns")
        opening = "".join(f' {k}="{html.escape(str(v))}"' for k, v in attr.items())
        cells = "".join(f'<td data-label="{html.escape(h)}">{str(v).replace(chr(10), " ")}</td>'
                        for h, v in zip(header, row))
        lines.append(f"<tr{opening}>{cells}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)
