"""The index of which chapter uses which library module is computed from the
chapters' imports, so no docstring keeps that list by hand; every experiment and
theory module serves at least one chapter."""

import ast

from conftest import REPO
from goaldrift.book.chapters import CHAPTERS
from goaldrift.book.library_index import direct_imports, library_index, library_modules, library_page

SRC = REPO / "src" / "goaldrift"


def test_direct_imports_name_modules_not_their_attributes():
    code = ("from goaldrift.experiments.goals import proxy_drift as drift\n"
            "from goaldrift.stats import farthest_from\nimport numpy as np\n")
    assert direct_imports(code) == {"goaldrift.experiments.goals.proxy_drift", "goaldrift.stats"}


def test_every_experiment_and_theory_module_serves_a_chapter():
    index = library_index()
    assert set(index) == set(library_modules())
    orphans = [m for m, use in index.items()
               if m.split(".")[1] in ("experiments", "theory") and not (use.direct or use.indirect)]
    assert not orphans, f"no chapter imports or reaches {orphans}"
    assert "proxy_drift" in index["goaldrift.experiments.goals.proxy_drift"].direct


def test_no_docstring_keeps_a_hand_made_list_of_its_chapters():
    for path in SRC.rglob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        words = " ".join(doc.split()).lower()
        assert "used by chapter" not in words, f"{path.relative_to(REPO)}: the library index says which chapters use it"


def test_the_page_lists_every_module_and_links_its_chapters():
    page = library_page()
    for module in library_modules():
        assert f"`{module}`" in page
    for name in CHAPTERS:
        assert f"</book/chapters/{name}>" in page
