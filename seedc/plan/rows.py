"""Row encoding shared by compiler and runtime: cells, inline JSON rows and digests.

A batch's rows digest is sha256 over its rows as PostgreSQL COPY text lines (cells joined by
tab, each line ending in newline), placeholders unresolved. Inline rows in a plan are the same
cells as JSON: a string, null, or `{"pii": domain, "in": input}` for a placeholder. The two
forms convert losslessly, so the runtime can check an inline batch against its digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "NULL_CELL",
    "PLACEHOLDER_PREFIX",
    "cells_from_json",
    "cells_to_json",
    "copy_text",
    "copy_text_digest",
    "rows_digest",
    "unescape",
]

NULL_CELL = "\\N"
PLACEHOLDER_PREFIX = "\\P"
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}


def copy_text(rows: Iterable[Sequence[str]]) -> bytes:
    """COPY text of rows of cells: one line per row, cells joined by tab."""
    lines = "\n".join(map("\t".join, rows))
    return (lines + "\n").encode("utf-8") if lines else b""


def copy_text_digest(text: bytes) -> str:
    """The rows digest of COPY text already built (by `copy_text` or the same joins)."""
    return "sha256:" + hashlib.sha256(text).hexdigest()


def rows_digest(rows: Iterable[Sequence[str]]) -> str:
    """sha256 of the COPY text of the rows (placeholders unresolved)."""
    return copy_text_digest(copy_text(rows))


def unescape(cell: str) -> str:
    """Inverse of COPY text escaping for the escapes seedc emits."""
    if "\\" not in cell:
        return cell
    out, i = [], 0
    while i < len(cell):
        pair = cell[i : i + 2]
        if pair in _UNESCAPE:
            out.append(_UNESCAPE[pair])
            i += 2
        else:
            out.append(cell[i])
            i += 1
    return "".join(out)


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )


def cell_to_json(cell: str) -> Any:
    if cell == NULL_CELL:
        return None
    if cell.startswith(PLACEHOLDER_PREFIX):
        domain, _, value = cell[len(PLACEHOLDER_PREFIX) :].partition(":")
        return {"in": value, "pii": domain}
    return unescape(cell)


def cell_from_json(value: Any) -> str:
    if value is None:
        return NULL_CELL
    if isinstance(value, dict):
        if set(value) != {"in", "pii"}:
            raise ValueError(f"not a placeholder: {value!r}")
        return f"{PLACEHOLDER_PREFIX}{value['pii']}:{value['in']}"
    if not isinstance(value, str):
        raise ValueError(f"inline cells are strings, null or placeholders, not {type(value)}")
    return _escape(value)


def cells_to_json(rows: Iterable[Sequence[str]]) -> list[list[Any]]:
    return [[cell_to_json(c) for c in row] for row in rows]


def cells_from_json(rows: Iterable[list[Any]]) -> list[list[str]]:
    return [[cell_from_json(v) for v in row] for row in rows]
