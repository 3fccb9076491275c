"""A tiny chapter notebook for tests of the execution machinery (seconds, not minutes)."""

from dataclasses import dataclass
from pathlib import Path

import nbformat

from goaldrift.book.chapter import Chapter
from goaldrift.book.params import Param

BODY = """
from goaldrift.book.claims import ClaimBook
book = ClaimBook("stub", profile, output_dir)
book.check("x_is_one", "x is one", 1, x, comparison="equal")
book.finish()
"""


@dataclass(frozen=True)
class StubChapter(Chapter):
    path: Path = Path()

    @property
    def notebook(self) -> Path:
        return self.path


def stub_chapter(tmp_path: Path, tagged: bool = True, body: str = BODY, params_cell: str | None = None) -> StubChapter:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(params_cell or 'profile = "default"\noutput_dir = ""\nx = 1')
    if tagged:
        params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "stub.ipynb"
    nbformat.write(nb, path)
    return StubChapter("stub", "A stub chapter", [Param("x", int, 1)], path=path)
