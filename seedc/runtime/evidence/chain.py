"""The strict evidence chain: one linear chain per environment, in S3 as in a folder (issue 14).

Each stored envelope's report names the file sha256 of the one before (`previous_sha256`).
Reading "the newest object" from the store and then writing after it races: two runs that
publish at once both chain to the same predecessor and the chain forks. So the head is taken
under a lock in the control schema: a transaction-scoped advisory lock per environment, and
the head itself in `seedc.evidence_chain`, advanced in the same transaction as the put. The
store's own newest object is only the starting point of an environment that has no head row
yet (evidence older than control migration 0007).

`walk_chain` reads a store's envelopes in name order (names sort in creation order) and
reports the first link that does not hold: a changed file, a deleted one, one inserted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from seedc.errors import SeedcError
from seedc.runtime.evidence.signing import Signer, verify_envelope
from seedc.runtime.evidence.store import EvidenceStore
from seedc.runtime.lease import lock_key

__all__ = ["ChainHead", "ChainWalk", "chain_head", "walk_chain"]

_LOCK_CLASS = "seedc-evidence-chain"
CHAIN_RULE = "one linear evidence chain per environment, head taken under a lock (issue 14)"


@dataclass
class ChainHead:
    """The head seen under the lock; `advance` moves it to a just-stored envelope."""

    environment: str
    previous: str | None
    conn: psycopg.Connection | None = None
    failure: SeedcError | None = None  # the store could not tell its newest evidence

    def advance(self, sha256: str, name: str, run_id: str) -> None:
        if self.conn is None:
            return
        self.conn.execute(
            "INSERT INTO seedc.evidence_chain (environment, head_sha256, head_name, "
            "head_run_id) VALUES (%s, %s, %s, %s) ON CONFLICT (environment) DO UPDATE SET "
            "head_sha256 = excluded.head_sha256, head_name = excluded.head_name, "
            "head_run_id = excluded.head_run_id, updated_at = clock_timestamp()",
            (self.environment, sha256, name, run_id))
        self.previous = sha256


@contextmanager
def chain_head(conn: psycopg.Connection | None, environment: str,
               store: EvidenceStore) -> Iterator[ChainHead]:
    """Hold the environment's chain head for one publication.

    With a control connection (autocommit): a transaction holding the environment's advisory
    lock until it ends, so a second publisher waits and then chains to this one. Without one
    (no index), the store's newest evidence, unlocked, as before issue 14. Errors reading the
    store propagate (the caller keeps its report unsent).
    """
    if conn is None:
        previous, failure = _newest(store)
        yield ChainHead(environment, previous, None, failure)
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(_LOCK_CLASS, environment),))
        row = conn.execute("SELECT head_sha256 FROM seedc.evidence_chain WHERE environment = %s",
                           (environment,)).fetchone()
        if row:
            yield ChainHead(environment, str(row[0]), conn)
        else:
            previous, failure = _newest(store)
            yield ChainHead(environment, previous, conn, failure)


def _newest(store: EvidenceStore) -> tuple[str | None, SeedcError | None]:
    try:
        return store.last_sha256(), None
    except SeedcError as exc:
        return None, exc


@dataclass
class ChainWalk:
    """What a walk found: how many links, and the first broken one (None: intact)."""

    links: int = 0
    broken_at: str | None = None
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"links": self.links, "intact": self.broken_at is None,
                "broken_at": self.broken_at, "problems": self.problems}


def walk_chain(entries: Iterable[tuple[str, bytes]], signer: Signer | None,
               head_sha256: str | None = None) -> ChainWalk:
    """Walk `(name, bytes)` in chain order; stop at the first link that does not hold.

    A link holds when the envelope verifies (signature too with `signer`) and its report's
    `previous_sha256` is the sha256 of the entry before (None for the first). `head_sha256`,
    the index's head when known, also catches the removal of the newest entry.
    """
    walk = ChainWalk()
    previous: str | None = None
    first = True
    for name, data in entries:
        problems = list(verify_envelope(data, signer))
        try:
            claimed = json.loads(data)["report"]["previous_sha256"]
        except (ValueError, KeyError, TypeError):
            claimed = "<unreadable>"
        if not first and claimed != previous:
            problems.append(f"previous_sha256 is {str(claimed)[:64]!r}, but the evidence before "
                            f"it hashes to {previous!r} (changed, removed or inserted evidence)")
        if problems:
            walk.broken_at = name
            walk.problems = problems
            return walk
        walk.links += 1
        previous = hashlib.sha256(data).hexdigest()
        first = False
    if head_sha256 is not None and previous != head_sha256:
        walk.broken_at = "<head>"
        walk.problems = [f"the index's chain head is {head_sha256}, but the newest evidence in "
                         f"the store hashes to {previous!r} (the newest evidence was removed?)"]
    return walk
