"""The stored chapters are MyST Markdown notebooks; this module turns one into the
notebook papermill executes.

A chapter is kept as text (book/chapters/NAME.md, jupytext's MyST format) so
that diffs, grep and the duplicate scan see real lines. Its cell tagged
`parameters` holds no values: it asks goaldrift for them, so the spec
(goaldrift.book.chapters) is the one place a default is written. Before a run
the cell is replaced by plain assignments of the spec's defaults, the form
papermill can inspect and override.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from goaldrift.book.chapter import Chapter

PARAMETERS_TAG = "parameters"
GENERATED_HEADER = (
    "# Parameters: the defaults declared in the chapter spec (goaldrift.book.chapters);\n"
    "# the values this run used follow in the injected cell."
)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A stored chapter: MyST Markdown through jupytext, or an .ipynb as it is."""
    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path, fmt="md:myst")
    return nbformat.read(str(path), as_version=4)


def parameter_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]


def parameters_source(chapter: Chapter) -> str:
    """The parameters cell as papermill sees it: every declared parameter at its default."""
    lines = [GENERATED_HEADER, 'profile = "default"', 'output_dir = ""']
    lines += [f"{p.name} = {p.default!r}" for p in chapter.params]
    return "\n".join(lines)


def stored_parameters_source(name: str) -> str:
    """What the stored chapter's parameters cell says (no values: they live in the spec)."""
    return (
        "# Parameters: `goaldrift run` writes the chapter spec's values here (goaldrift.book.chapters);\n"
        "# run by hand (JupyterLab), this cell takes the profile named by $GOALDRIFT_PROFILE, except for\n"
        "# any parameter you set above the call (e.g. `weight_decay = 4.5`), which keeps your value.\n"
        "from goaldrift.book.profiles import interactive_parameters\n"
        f'globals().update(interactive_parameters("{name}", globals()))'
    )


def executable_notebook(chapter: Chapter) -> nbformat.NotebookNode:
    """The chapter ready for papermill: its one parameters cell replaced by the spec's defaults.
    Raises ValueError (one line) when the stored chapter has no single parameters cell."""
    nb = read_notebook(chapter.notebook)
    cells = parameter_cells(nb)
    if len(cells) != 1:
        raise ValueError(f"{chapter.notebook.name} has {len(cells)} cells tagged 'parameters' (needs exactly one)")
    cells[0].source = parameters_source(chapter)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)  # the executed notebook is an .ipynb of its own
    return nb
