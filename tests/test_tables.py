"""goaldrift.tables: the shared Markdown table writer, read back by a small independent parser."""

import pytest

from goaldrift.tables import markdown_table


def parse(md: str) -> list[list[str]]:
    """Split a rendered table back into cells, honouring escaped pipes."""
    rows = []
    for line in md.splitlines():
        assert line.startswith("|") and line.endswith("|"), line
        cells, cur, i = [], "", 1
        body = line[1:-1]
        while i <= len(body):
            ch = body[i - 1]
            if ch == "\\" and i < len(body) and body[i] == "|":
                cur += "|"
                i += 2
                continue
            if ch == "|":
                cells.append(cur.strip())
                cur = ""
            else:
                cur += ch
            i += 1
        cells.append(cur.strip())
        rows.append(cells)
    return rows


def test_round_trip_with_pipes_and_newlines():
    md = markdown_table(["a", "b|c"], [[1, "x|y"], ["two\nlines", 3.5]])
    rows = parse(md)
    assert rows[0] == ["a", "b|c"]
    assert rows[1] == ["---", "---"]
    assert rows[2] == ["1", "x|y"]
    assert rows[3] == ["two lines", "3.5"]


def test_alignment_row():
    md = markdown_table(["l", "r", "c", "n"], [], align=["left", "right", "center", None])
    assert md.splitlines()[1] == "|:---|---:|:---:|---|"


@pytest.mark.parametrize("kwargs, message", [
    (dict(header=["a", "b"], rows=[[1]]), "row 0 has 1 cells for 2 columns"),
    (dict(header=["a"], rows=[], align=["left", "right"]), "align has 2 entries for 1 columns"),
    (dict(header=["a"], rows=[], align=["middle"]), "unknown alignment 'middle'"),
])
def test_bad_shapes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        markdown_table(**kwargs)


def test_literal_text_keeps_its_asterisks():
    from goaldrift.tables import literal

    assert literal("eta*lambda*t_d") == "eta\\*lambda\\*t_d"
    assert literal(0.5) == "0.5"


def test_verdict_tables_show_statements_as_written():
    from goaldrift.book.claims import ClaimBook, verdict_markdown

    book = ClaimBook("demo")
    book.evidence("x", "spread of eta*lambda*t_d", 0.1, 0.05, alternative="not set by eta*lambda*t",
                  comparison="at_most", samples=[0.04, 0.05, 0.06])
    table = verdict_markdown(book.claims)
    assert "eta\\*lambda\\*t_d" in table and "not set by eta\\*lambda\\*t" in table
