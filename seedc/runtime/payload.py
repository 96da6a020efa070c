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
from seedc.plan.rows import PLACEHOLDER_PREFIX, cells_from_json, rows_digest
from seedc.program.batch import batch_cells
from seedc.program.evaluate import Program
from seedc.runtime.pii.domains import PiiResolver

__all__ = ["Payload", "batch_rows", "build_payload", "line_hash", "multiset_add", "resolve_rows"]

MASK = (1 << 128) - 1


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


def batch_rows(plan: dict[str, Any], program: Program, batch: dict[str, Any]) -> list[list[str]]:
    """The batch's rows as unresolved COPY cells (placeholders kept), checked on its digest."""
    if plan["rows_inline"]:
        cells = cells_from_json(batch["rows"])
    else:
        rng = batch["key_range"]
        cells = [list(r) for r in batch_cells(program, batch["entity"], rng["start"],
                                              rng["stop"])]
    if rows_digest(cells) != batch["rows_digest"]:
        raise GuardRefused(
            f"batch {batch['id']}: rows do not match the plan's digest; the plan or this "
            "seedc's generators differ from what compiled it",
            rule="rows are checked against their digest before writing")
    return cells


def resolve_rows(cells: list[list[str]], names: list[str],
                 resolver: PiiResolver | None) -> list[bytes]:
    """Rows with their PII placeholders resolved (FPE), as COPY lines without newline."""
    if not cells:
        return []
    columns = [list(c) for c in zip(*cells, strict=True)]
    columns = _resolve_columns(columns, names, resolver)
    return ["\t".join(row).encode("utf-8") for row in zip(*columns, strict=True)]


def build_payload(
    plan: dict[str, Any], program: Program, batch: dict[str, Any], resolver: PiiResolver | None
) -> Payload:
    """Rows of `batch`, checked against its digest, resolved, as COPY text."""
    lines = resolve_rows(batch_rows(plan, program, batch), batch["columns"], resolver)
    if not lines:
        return Payload(b"", 0, 0)
    digest = 0
    for line in lines:
        digest = (digest + line_hash(line)) & MASK
    return Payload(b"\n".join(lines) + b"\n", len(lines), digest)
