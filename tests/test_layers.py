"""The package's layers (stated in goaldrift/__init__.py): every module's imports,
read from its source with ast, go only in the allowed directions; the book
framework never imports torch; one import style (absolute)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "goaldrift"

# Layer -> the layers its modules may import at module level.
ALLOWED = {
    "top": {"top", "book", "paths", "numerics"},          # goaldrift/__init__.py, __main__.py
    "book": {"book", "paths", "stats", "tables", "numerics", "settings", "jsonfiles", "top"},  # top: __main__'s line
    "experiments": {"experiments", "engine", "theory", "paths", "stats", "tables"},
    "engine": {"engine", "paths", "stats", "tables", "numerics", "settings", "jsonfiles"},
    "theory": {"theory", "paths", "stats", "tables"},
    "paths": set(),
    "numerics": set(),
    "stats": set(),
    "tables": set(),
    "settings": set(),
    "jsonfiles": set(),
}
# Inside a function the framework may also reach down to what it runs (a chapter's
# sweep, `goaldrift sweep`, the provenance of an executed chapter).
ALLOWED_IN_FUNCTIONS = {"book": {"engine", "experiments"}}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "__init__"):
        return "top"
    return parts[1] if parts[1] in ALLOWED else "top"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(tree: ast.AST):
    """(imported module, line, inside a function) for every import statement."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, inside) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    found.append(("." * child.level + (child.module or ""), child.lineno, inside))
                elif child.module == "goaldrift":
                    found.extend((f"goaldrift.{a.name}", child.lineno, inside) for a in child.names)
                else:
                    found.append((child.module, child.lineno, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def violations(name: str, source: str) -> list[str]:
    """What is wrong with the imports of module ``name`` whose text is ``source``."""
    mine = layer(name)
    bad = []
    for target, line, in_function in imports(ast.parse(source)):
        where = f"{name}:{line}"
        if target.startswith("."):
            bad.append(f"{where}: relative import {target!r} (use goaldrift.... absolute imports)")
        elif mine == "book" and target.split(".")[0] == "torch":
            bad.append(f"{where}: the book framework imports torch")
        elif target.split(".")[0] == "goaldrift":
            allowed = ALLOWED[mine] | (ALLOWED_IN_FUNCTIONS.get(mine, set()) if in_function else set())
            if layer(target) not in allowed:
                bad.append(f"{where}: {mine} module {name} imports {target} ({layer(target)} layer)")
    return bad


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layers_are_known():
    assert {layer(module_name(p)) for p in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_follow_the_layers(path):
    assert violations(module_name(path), path.read_text()) == []


@pytest.mark.parametrize("name, source", [
    ("goaldrift.engine.bad", "from goaldrift.book.claims import ClaimBook\n"),
    ("goaldrift.engine.bad", "from goaldrift.experiments.goals import proxy_drift\n"),
    ("goaldrift.theory.bad", "import goaldrift.engine.train\n"),
    ("goaldrift.experiments.bad", "from goaldrift.book import chapters\n"),
    ("goaldrift.book.bad", "def f():\n    import torch\n"),
    ("goaldrift.book.bad", "from goaldrift.engine import runs\n"),
    ("goaldrift.paths", "from goaldrift import theory\n"),
    ("goaldrift.engine.bad", "from .train import Trainer\n"),
])
def test_the_checker_catches_each_kind_of_violation(name, source):
    assert len(violations(name, source)) == 1


def test_the_framework_loads_without_torch():
    book = [module_name(p) for p in MODULES if layer(module_name(p)) in ("book", "top") and p.stem != "__main__"]
    code = f"import sys\nfor m in {book!r}: __import__(m)\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
