"""The evidence index: one `seedc.evidence` row per run, pointing at where its evidence is.

The row is an index, not the evidence: the envelope in the store is what counts. A row only
moves towards `stored`: once a run's evidence is indexed as stored, no later call changes it.
Statuses: `stored`, `upload_failed` (kept locally, `uri` is that file), `sign_failed`.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from seedc.runtime.evidence.store import StoredEvidence

__all__ = ["index_evidence", "mark_failed"]

_UPSERT = (
    "INSERT INTO seedc.evidence (run_id, tenant, environment, uri, version_id, sha256, "
    "retain_until, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (run_id) DO UPDATE SET uri = excluded.uri, version_id = excluded.version_id, "
    "sha256 = excluded.sha256, retain_until = excluded.retain_until, status = excluded.status, "
    "created_at = clock_timestamp() WHERE seedc.evidence.status <> 'stored'"
)


def index_evidence(conn: psycopg.Connection, run_id: str, tenant: str, environment: str,
                   stored: StoredEvidence, status: str = "stored") -> None:
    """Record where the run's evidence landed (insert, or update a failed attempt's row)."""
    with conn.transaction():
        conn.execute(_UPSERT, (run_id, tenant, environment, stored.uri, stored.version_id,
                               stored.sha256, stored.retain_until, status))


def mark_failed(conn: psycopg.Connection, run_id: str, tenant: str, environment: str,
                local_path: Path, sha256: str, status: str = "upload_failed") -> None:
    """Record that the upload failed and the evidence was kept at `local_path` instead."""
    kept = StoredEvidence(Path(local_path).resolve().as_uri(), None, sha256, None)
    index_evidence(conn, run_id, tenant, environment, kept, status)
