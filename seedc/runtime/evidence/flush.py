"""`seedc evidence flush`: re-send the reports kept in `.seedc/evidence-unsent/` (issue 14).

A report lands there when the store was unreachable (or the signer was) after a run; its index
row says `upload_failed` (or `sign_failed`). Flushing one takes the environment's chain head
under its lock (evidence/chain.py), links the report to that head — the head it was built on
has moved since, so its `previous_sha256` is rewritten and the report signed again; every run
fact is kept as it was — stores it (S3: COMPLIANCE Object Lock), advances the head, marks the
index row `stored`, and only then deletes the local copy. A report of another environment
than the store's, or one that fails again, stays where it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from seedc.errors import RuntimeFailure, SeedcError
from seedc.runtime.evidence.chain import chain_head
from seedc.runtime.evidence.index import index_evidence
from seedc.runtime.evidence.publish import DEFAULT_FALLBACK_DIR
from seedc.runtime.evidence.signing import Signer, envelope_bytes, sign_report
from seedc.runtime.evidence.store import EvidenceStore

__all__ = ["Flushed", "flush_unsent", "flush_waiting", "waiting"]

FLUSH_RULE = "unsent evidence is re-sent to WORM storage, chained in order (issue 14)"


@dataclass(frozen=True)
class Flushed:
    name: str
    run_id: str | None
    status: str  # stored | skipped | failed
    uri: str | None = None
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "run_id": self.run_id, "status": self.status,
                "uri": self.uri, "message": self.message}


def waiting(folder: Path = DEFAULT_FALLBACK_DIR) -> list[Path]:
    """The reports waiting in `folder`, oldest first (names sort in creation order)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix == ".json" and not p.name.startswith(".") and p.is_file())


def flush_unsent(store: EvidenceStore, signer: Signer, conn: psycopg.Connection | None,
                 environment: str, folder: Path = DEFAULT_FALLBACK_DIR) -> list[Flushed]:
    """Send every waiting report of `environment` to `store`; one outcome per file."""
    return [_flush_one(path, store, signer, conn, environment) for path in waiting(folder)]


def _flush_one(path: Path, store: EvidenceStore, signer: Signer,
               conn: psycopg.Connection | None, environment: str) -> Flushed:
    try:
        report = dict(json.loads(path.read_bytes())["report"])
        run_id, tenant, env = str(report["run_id"]), str(report["tenant"]), \
            str(report["environment"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Flushed(path.name, None, "failed", message=f"not a seedc evidence report: {exc}")
    if env != environment:
        return Flushed(path.name, run_id, "skipped",
                       message=f"a report of {env!r}, not {environment!r}")
    try:
        with chain_head(conn, environment, store) as head:
            if head.failure is not None:
                raise head.failure
            report["previous_sha256"] = head.previous
            data = envelope_bytes(sign_report(report, signer))
            stored = store.put(path.name, data)
            head.advance(stored.sha256, path.name, run_id)
        if conn is not None:
            index_evidence(conn, run_id, tenant, env, stored, "stored")
    except SeedcError as exc:
        return Flushed(path.name, run_id, "failed", message=exc.render())
    except psycopg.Error as exc:
        failure = RuntimeFailure(f"{path.name}: the index could not be updated: {exc}",
                                 rule=FLUSH_RULE)
        return Flushed(path.name, run_id, "failed", message=failure.render())
    path.unlink()
    return Flushed(path.name, run_id, "stored", stored.uri)


def flush_waiting(factory: Callable[[], Any] | None, dsn: str, environment: str,
                  folder: Path = DEFAULT_FALLBACK_DIR) -> list[Flushed]:
    """Before an apply: send what waits, best effort. Never raises: a store still down is the
    apply's own preflight to refuse (its report is never traded for older ones)."""
    if factory is None or not waiting(folder):
        return []
    from seedc.runtime.db import connect
    from seedc.runtime.telemetry import get_logger
    from seedc.runtime.telemetry.redaction import redact_text

    log = get_logger("seedc.evidence")
    try:
        sink = factory()
        with connect(dsn, autocommit=True, application="seedc-flush") as conn:
            results = flush_unsent(sink.store, sink.signer, conn, environment, folder)
    except (SeedcError, psycopg.Error) as exc:
        log.warning("evidence.flush_failed", reason=redact_text(str(exc))[:300])
        return []
    for r in results:
        (log.info if r.status == "stored" else log.warning)(
            "evidence.flushed", name=r.name, status=r.status, uri=r.uri)
    return results
