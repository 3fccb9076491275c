"""The table of contents lists every registered chapter, in registry order."""

import re

from conftest import REPO
from goaldrift.book.chapters import CHAPTERS


def test_toc_lists_every_chapter_in_registry_order():
    toc = (REPO / "_toc.yml").read_text()
    listed = re.findall(r"file: book/chapters/(\w+)", toc)
    assert listed == list(CHAPTERS)
