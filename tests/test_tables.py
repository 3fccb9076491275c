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
    # HTML cells: Markdown emphasis cannot eat the asterisks, and markup in a statement is text
    from goaldrift.book.claims import ClaimBook, claim_anchor, verdict_markdown

    book = ClaimBook("demo")
    book.evidence("x", "spread of eta*lambda*t_d <b>", 0.1, 0.05, alternative="not set by eta*lambda*t",
                  comparison="at_most", samples=[0.04, 0.05, 0.06])
    table = verdict_markdown(book.claims)
    assert "spread of eta*lambda*t_d &lt;b&gt;" in table and "not set by eta*lambda*t" in table
    assert f'<tr id="{claim_anchor(book.claims[0])}"' in table and 'data-verdict="supported"' in table
    assert "\n\n" not in table.split("**Evidence**\n\n", 1)[1]  # a blank line would end the HTML block


def test_html_table_cells_carry_their_column():
    from goaldrift.tables import html_table

    table = html_table(["a", "b & c"], [["1", "2"]], [{"id": "r1"}])
    assert '<th>b &amp; c</th>' in table and '<tr id="r1"><td data-label="a">1</td><td data-label="b &amp; c">2</td>' in table
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        html_table(["a", "b"], [["1"]])
    with pytest.raises(ValueError, match="2 row attributes for 1 rows"):
        html_table(["a"], [["1"]], [{}, {}])
