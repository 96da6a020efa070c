"""The rows of one batch as the database will hold them, and their digests.

Inline plans carry the rows; large plans are regenerated from the program and must match the
batch's digest before anything is written. Placeholders are then resolved through FPE, column
by column, in batches. The multiset digest of the resolved rows is order-independent, so it can
be compared with the database's rows streamed in any order, in flat memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from seedc.errors import GuardRefused
from seedc.plan.rows import PLACEHOLDER_PREFIX, cells_from_json, copy_text_digest, rows_digest
from seedc.program.batch import batch_cells, batch_columns
from seedc.program.evaluate import Program
from seedc.runtime.pii.domains import PiiResolver

__all__ = ["Payload", "batch_rows", "build_payload", "line_hash", "multiset_add", "resolve_rows"]

MASK = (1 << 128) - 1
_TAB_PREFIX = "\t" + PLACEHOLDER_PREFIX


def line_hash(line: bytes) -> int:
    """128-bit hash of one row line; rows of a set are summed modulo 2**128."""
    return int.from_bytes(hashlib.blake2b(line, digest_size=16).digest(), "big")


def multiset_add(a: int, b: int) -> int:
    return (a + b) & MASK


@dataclass(frozen=True)
class Payload:
    """One batch ready to COPY: resolved text, row count and the multiset digest of its rows."""

    copy: bytes
    rows: int
    digest: int


def _resolve_columns(
    columns: list[list[str]], names: list[str], resolver: PiiResolver | None
) -> list[list[str]]:
    out = []
    for name, column in zip(names, columns, strict=True):
        # Cells hold no raw tab (COPY escapes it), so a cell starts with the prefix only if
        # "\t\\P" occurs in the tab-joined column: one C-speed test instead of a startswith
        # per cell; a false hit (a tab inside a placeholder's input) only costs the exact scan.
        if _TAB_PREFIX not in "\t" + "\t".join(column):
            out.append(column)
            continue
        first = next((c for c in column if c.startswith(PLACEHOLDER_PREFIX)), None)
        if first is None:
            out.append(column)
            continue
        if resolver is None:
            raise GuardRefused(f"column {name} holds PII placeholders but no key is available",
                               rule="PII is resolved by FPE with the tenant's key (session 1)")
        domain = first[len(PLACEHOLDER_PREFIX):].split(":", 1)[0]
        cut = len(PLACEHOLDER_PREFIX) + len(domain) + 1
        idx = [i for i, c in enumerate(column) if c.startswith(PLACEHOLDER_PREFIX)]
        values = resolver.resolve_many(domain, name, [column[i][cut:] for i in idx])
        resolved = list(column)
        for i, v in zip(idx, values, strict=True):
            resolved[i] = v
        out.append(resolved)
    return out


def _check_digest(batch: dict[str, Any], digest: str) -> None:
    if digest != batch["rows_digest"]:
        raise GuardRefused(
            f"batch {batch['id']}: rows do not match the plan's digest; the plan or this "
            "seedc's generators differ from what compiled it",
            rule="rows are checked against their digest before writing")


def batch_rows(plan: dict[str, Any], program: Program, batch: dict[str, Any]) -> list[list[str]]:
    """The batch's rows as unresolved COPY cells (placeholders kept), checked on its digest."""
    if plan["rows_inline"]:
        cells = cells_from_json(batch["rows"])
    else:
        rng = batch["key_range"]
        cells = [list(r) for r in batch_cells(program, batch["entity"], rng["start"],
                                              rng["stop"])]
    _check_digest(batch, rows_digest(cells))
    return cells


def resolve_rows(cells: list[list[str]], names: list[str],
                 resolver: PiiResolver | None) -> list[bytes]:
    """Rows with their PII placeholders resolved (FPE), as COPY lines without newline."""
    if not cells:
        return []
    columns = [list(c) for c in zip(*cells, strict=True)]
    columns = _resolve_columns(columns, names, resolver)
    return ["\t".join(row).encode("utf-8") for row in zip(*columns, strict=True)]


def _joined(columns: list[list[str]]) -> str:
    """The rows' cells joined by tab and the rows by newline (no final newline), in C loops."""
    return "\n".join(map("\t".join, zip(*columns, strict=True)))


def _checked_columns(plan: dict[str, Any], program: Program, batch: dict[str, Any]
                     ) -> tuple[list[list[str]], str, bytes]:
    """The batch's unresolved cells column by column, their joined text and its COPY bytes
    (the text plus a final newline), checked on the batch digest.

    Same check as `batch_rows`, without its row lists: the bytes are what the digest covers
    and, when no column holds a placeholder, the COPY payload itself.
    """
    if plan["rows_inline"]:
        rows = cells_from_json(batch["rows"])
        text = "\n".join(map("\t".join, rows))
    else:
        rng = batch["key_range"]
        columns = batch_columns(program, batch["entity"], rng["start"], rng["stop"])
        text = _joined(columns)
    data = (text + "\n").encode("utf-8")
    _check_digest(batch, copy_text_digest(data if text else b""))  # as copy_text: b"" if empty
    if plan["rows_inline"]:
        columns = [list(c) for c in zip(*rows, strict=True)]
    return columns, text, data


def build_payload(
    plan: dict[str, Any], program: Program, batch: dict[str, Any], resolver: PiiResolver | None
) -> Payload:
    """Rows of `batch`, checked against its digest, resolved, as COPY text.

    Works on columns and on the joined text: the unresolved text is reused when no cell is a
    placeholder, the COPY bytes are encoded once and split into the lines that are hashed.
    """
    columns, text, data = _checked_columns(plan, program, batch)
    names = batch["columns"]
    rows = len(columns[0]) if columns else 0
    if not rows:
        return Payload(b"", 0, 0)
    if len(names) != len(columns):
        raise ValueError(f"batch {batch['id']}: {len(columns)} columns of cells, "
                         f"{len(names)} column names")
    resolved = columns
    if PLACEHOLDER_PREFIX in text:
        resolved = _resolve_columns(columns, names, resolver)
        if any(r is not c for r, c in zip(resolved, columns, strict=True)):
            data = (_joined(resolved) + "\n").encode("utf-8")
    lines = data.split(b"\n")
    lines.pop()
    if len(lines) != rows:  # a resolved value holds a newline: hash each row as it is
        lines = ["\t".join(row).encode("utf-8") for row in zip(*resolved, strict=True)]
    return Payload(data, rows, sum(map(line_hash, lines)) & MASK)
