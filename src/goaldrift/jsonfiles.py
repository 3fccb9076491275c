"""Reading a JSON file someone else may have written: a regular file, of bounded size and depth.

claims.json, run_info.json, output markers and sweep specifications are inputs:
a FIFO would hang the reader, /dev/zero exhaust its memory, and 200,000 nested
brackets overflow the parser's stack. Each is refused in one line (ValueError)
before or instead of being parsed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 20_000_000  # the largest claims.json the book writes is about 0.1 MB
MAX_JSON_DEPTH = 64  # nesting; the book's files are at most 4 deep


def read_json(path: str | os.PathLike, what: str = "JSON file", max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The parsed contents of ``path``; FileNotFoundError if it is absent, ValueError (one line) if it
    is not a regular file, is larger than ``max_bytes``, nests deeper than ``max_depth`` or is not JSON."""
    path = Path(path)
    info = path.stat()  # FileNotFoundError propagates: absent is the caller's case, not an error here
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{what} {path} is not a regular file")
    if info.st_size > max_bytes:
        raise ValueError(f"{what} {path} is {info.st_size:,} bytes; at most {max_bytes:,}")
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)  # the file may have grown since stat
    if len(raw) > max_bytes:
        raise ValueError(f"{what} {path} is larger than {max_bytes:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} {path} is not UTF-8 text") from None
    depth = _max_depth(text)
    if depth > max_depth:
        raise ValueError(f"{what} {path} nests {depth} levels deep; at most {max_depth}")
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(f"{what} {path} is not valid JSON: {str(err).splitlines()[0]}") from None


def _max_depth(text: str) -> int:
    """The deepest nesting of brackets outside strings (checked before parsing, which recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
