"""Where the repository is: its root, the book's sources and build folders, computed once for every layer."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOK_DIR = REPO_ROOT / "book"
BUILD_DIR = REPO_ROOT / "_build"
EXECUTED_DIR = BUILD_DIR / "executed"  # what `goaldrift book` executes, before Jupyter Book renders it
MATHJAX_DIR = REPO_ROOT / "node_modules" / "mathjax" / "es5"  # served by the site itself (offline)
