"""What the database already holds for a tenant: checkpoints, and rows as multiset digests.

Checkpoints prove which batches committed (with their chained hash and the digest of the rows
they wrote); reading the tenant's rows back and comparing digests detects drift (session 8) and
verifies a run (session 18), in flat memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.abc import Buffer

from seedc.errors import GuardRefused
from seedc.runtime.payload import MASK, line_hash

__all__ = [
    "Checkpoint",
    "EntityDigest",
    "check_checkpoints",
    "chunk_lines",
    "chunks_digest",
    "copy_digest",
    "copy_lines",
    "database_digests",
    "expected_digests",
    "load_checkpoints",
    "unordered",
]


@dataclass(frozen=True)
class Checkpoint:
    batch_id: str
    chain_hash: str
    entity: str
    row_count: int
    resolved_digest: int
    plan_hash: str = ""  # the plan the batch belongs to (an earlier one: issue 12)


@dataclass
class EntityDigest:
    rows: int = 0
    digest: int = 0

    def add(self, rows: int, digest: int) -> None:
        self.rows += rows
        self.digest = (self.digest + digest) & MASK


def load_checkpoints(conn: psycopg.Connection, tenant_id: str,
                     environment: str) -> dict[str, Checkpoint]:
    """Checkpoints of this tenant/environment (the session's tenant setting applies RLS)."""
    rows = conn.execute(
        "SELECT batch_id, chain_hash, entity, row_count, resolved_digest, plan_hash FROM "
        "seedc.checkpoints WHERE tenant_id = %s AND environment = %s",
        (tenant_id, environment)).fetchall()
    return {r[0]: Checkpoint(r[0], r[1], r[2], int(r[3]), int(r[4], 16), r[5]) for r in rows}


def check_checkpoints(plan: dict[str, Any], checkpoints: dict[str, Checkpoint]) -> list[str]:
    """Checkpoints that contradict the plan: another chained hash, or a batch it lacks."""
    planned = {b["id"]: b["chain_hash"] for b in plan["batches"]}
    problems = []
    for batch_id, cp in sorted(checkpoints.items()):
        if batch_id not in planned:
            problems.append(f"checkpoint {batch_id} belongs to no batch of this plan")
        elif cp.chain_hash != planned[batch_id]:
            problems.append(f"checkpoint {batch_id} has chain hash {cp.chain_hash[:12]}…, the "
                            f"plan has {planned[batch_id][:12]}…")
    return problems


def expected_digests(plan: dict[str, Any],
                     checkpoints: dict[str, Checkpoint]) -> dict[str, EntityDigest]:
    """What the tenant's tables must hold given the checkpointed batches."""
    out = {e["name"]: EntityDigest() for e in plan["entities"]}
    for batch in plan["batches"]:
        cp = checkpoints.get(batch["id"])
        if cp is not None and cp.chain_hash == batch["chain_hash"]:
            out[batch["entity"]].add(cp.row_count, cp.resolved_digest)
    return out


def copy_lines(conn: psycopg.Connection, statement: str) -> Iterator[bytes]:
    """Lines of a `COPY … TO STDOUT` in text format, without their newline."""
    with conn.cursor().copy(statement) as copy:
        yield from chunk_lines(copy)


_ORDERED = ' ORDER BY "id") TO STDOUT'


def unordered(read_sql: str) -> str:
    """The entity's read without its ORDER BY: a multiset digest needs no order, and the
    server's sort is ~40 % of a read's server time."""
    if read_sql.endswith(_ORDERED):
        return read_sql[: -len(_ORDERED)] + ") TO STDOUT"
    return read_sql


def chunk_lines(chunks: Iterable[Buffer]) -> Iterator[bytes]:
    """The lines a COPY stream carries (without their newline), however it is chunked.

    PostgreSQL sends one row per CopyData message (the protocol says so for the backend's
    messages), so a chunk ending in its only newline is a line as it comes; anything else is
    split into lines with what is left of the previous chunk."""
    rest = b""
    for chunk in chunks:
        data = bytes(chunk)
        if not rest and data and data.find(b"\n") == len(data) - 1:
            yield data[:-1]
            continue
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def chunks_digest(chunks: Iterable[Buffer]) -> EntityDigest:
    """The multiset digest of the lines a COPY stream carries (most of a verification's
    client time is this loop)."""
    rows = digest = 0
    for line in chunk_lines(chunks):
        rows += 1
        digest += line_hash(line)
    return EntityDigest(rows, digest & MASK)


def copy_digest(conn: psycopg.Connection, statement: str) -> EntityDigest:
    """The multiset digest of a `COPY … TO STDOUT`'s lines (`chunks_digest`)."""
    with conn.cursor().copy(statement) as copy:
        return chunks_digest(copy)


def database_digests(conn: psycopg.Connection, plan: dict[str, Any]) -> dict[str, EntityDigest]:
    """Rows of the tenant in each target table, as multiset digests (tenant set by caller)."""
    return {entity["name"]: copy_digest(conn, unordered(entity["sql"]["read"]))
            for entity in plan["entities"]}


def compare(expected: dict[str, EntityDigest], actual: dict[str, EntityDigest]) -> list[str]:
    """Per entity, what differs between expected and actual rows."""
    problems = []
    for name, exp in expected.items():
        got = actual.get(name, EntityDigest())
        if got.rows != exp.rows:
            problems.append(f"{name}: {got.rows} rows in the database, {exp.rows} planned")
        elif got.digest != exp.digest:
            problems.append(f"{name}: {got.rows} rows as planned but their content differs")
    return problems


def refuse_drift(problems: list[str]) -> None:
    if problems:
        raise GuardRefused(
            "drift: the tenant's data differs from what this plan put there; inspect with "
            "`seedc diff PLAN --dsn …`, then `seedc reset PLAN` for a coordinated reseed",
            rule="no data outside the plan, fail-closed (session 8)", details=problems)
