"""Which chapter uses which library module, read from the chapters' own imports.

The index replaces the lists of chapters that module docstrings
used to keep by hand (and that went stale): it is computed from the code
cells of the stored chapters, so it cannot disagree with them. The site
renders it as the *Library index* page, each module with its first docstring
line and the chapters that import it directly or through another module
(d2l's "Defined in" back-references, in reverse).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.snapshots import PACKAGE, _imported_names, _module_file, library_sources, notebook_code
from goaldrift.paths import REPO_ROOT
from goaldrift.tables import markdown_table

SRC = REPO_ROOT / "src"
# The library a chapter builds on; the book framework (goaldrift.book) runs every chapter alike.
LIBRARY_LAYERS = ("experiments", "theory", "engine", "stats", "tables")


@dataclass
class ModuleUse:
    module: str
    summary: str
    direct: list[str] = field(default_factory=list)  # chapters that import it in a code cell
    indirect: list[str] = field(default_factory=list)  # chapters that reach it through another module


def direct_imports(code: str, src_root: Path = SRC) -> set[str]:
    """The goaldrift modules a chapter's code imports by name (not their dependencies)."""
    names = _imported_names(ast.parse(code), "__main__", False)
    return {n for n in names if _module_file(n, src_root) is not None and not _is_package(n, src_root)}


def _is_package(name: str, src_root: Path) -> bool:
    return (src_root.joinpath(*name.split(".")) / "__init__.py").is_file()


def _summary(name: str, src_root: Path) -> str:
    doc = ast.get_docstring(ast.parse(_module_file(name, src_root).read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def is_library(name: str) -> bool:
    parts = name.split(".")
    return len(parts) > 1 and parts[0] == PACKAGE and parts[1] in LIBRARY_LAYERS


def library_index(chapters=None, src_root: Path = SRC) -> dict[str, ModuleUse]:
    """module -> its use by the chapters, for every library module (used or not)."""
    chapters = chapters if chapters is not None else CHAPTERS
    index = {name: ModuleUse(name, _summary(name, src_root)) for name in library_modules(src_root)}
    for name, chapter in chapters.items():
        code = notebook_code(chapter.notebook)
        direct = direct_imports(code, src_root)
        for module in library_sources(code, src_root, name):
            if module not in index:
                continue
            (index[module].direct if module in direct else index[module].indirect).append(name)
    return index


def library_modules(src_root: Path = SRC) -> list[str]:
    """Every module (not package) of the library layers."""
    out = []
    for layer in LIBRARY_LAYERS:
        base = src_root / PACKAGE / layer
        files = [base.with_suffix(".py")] if base.with_suffix(".py").is_file() else sorted(base.rglob("*.py"))
        for path in files:
            if path.name == "__init__.py":
                continue
            out.append(".".join(path.relative_to(src_root).with_suffix("").parts))
    return out


def library_page(index: dict[str, ModuleUse] | None = None) -> str:
    index = index if index is not None else library_index()

    def links(names):
        return ", ".join(f"{{doc}}`{n} </book/chapters/{n}>`" for n in names) or "—"

    rows = [[f"`{u.module}`", u.summary.replace("*", "\\*"), links(u.direct), links(u.indirect)]
            for u in index.values()]
    return "\n".join([
        "# Library index",
        "",
        "Which chapter uses which module of the `goaldrift` library, read from the chapters' own "
        "imports when the book was built (a chapter *imports* a module in one of its code cells, or "
        "*reaches* it through another module). The book framework (`goaldrift.book`) runs every "
        "chapter alike and is not listed.",
        "",
        markdown_table(["module", "what it is", "imported by", "reached by"], rows),
        "",
    ])
