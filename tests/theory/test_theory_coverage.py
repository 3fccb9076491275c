"""Every public function of goaldrift.theory is exercised by a theory test.

A cheap guard, not a proof: it checks that each function's name appears in a
test of tests/theory/ or tests/experiments/ (where a derivation is checked
against an experiment's numerics), so a derivation added without its
independent numeric check fails here."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import goaldrift.theory

TESTS = Path(__file__).parents[1]


def test_every_theory_function_is_named_in_a_theory_test():
    files = [*(TESTS / "theory").glob("test_*.py"), *(TESTS / "experiments").glob("test_*.py")]
    text = "\n".join(p.read_text() for p in files if p.name != Path(__file__).name)
    missing = []
    for info in pkgutil.iter_modules(goaldrift.theory.__path__):
        module = importlib.import_module(f"goaldrift.theory.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") and not re.search(rf"\b{name}\b", text):
                missing.append(f"{info.name}.{name}")
    assert not missing, f"theory functions without a test: {missing}"
