"""After a run: build, sign, store and index its evidence, or keep it locally and say so.

`publish_evidence` is the one call apply needs after a run (and `store.check_writable()` plus
`signer.check()` before its first data write). When the store cannot take the evidence, the
envelope is kept in `fallback_dir`, the index row says `upload_failed` with that file's URI,
and RuntimeFailure (exit 4) is raised: the data was written but its evidence is not in WORM
storage yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from seedc.errors import RuntimeFailure, SeedcError
from seedc.plan.canonical import canonical_bytes, sha256_hex
from seedc.runtime.evidence.chain import CHAIN_RULE, chain_head
from seedc.runtime.evidence.index import index_evidence, mark_failed
from seedc.runtime.evidence.report import build_report, evidence_name
from seedc.runtime.evidence.signing import Signer, envelope_bytes, sign_report
from seedc.runtime.evidence.store import EvidenceStore, LocalFolderStore, StoredEvidence

__all__ = ["DEFAULT_FALLBACK_DIR", "Published", "publish_evidence"]

#: Where evidence that could not be stored is kept (git-ignored `.seedc/`).
DEFAULT_FALLBACK_DIR = Path(".seedc") / "evidence-unsent"
_RULE = "every run leaves signed evidence in WORM storage (sessions 5, 8, 14)"


@dataclass(frozen=True)
class Published:
    envelope: dict[str, Any]
    stored: StoredEvidence
    name: str


def publish_evidence(
    run: Any,
    plan: Mapping[str, Any],
    *,
    store: EvidenceStore,
    signer: Signer,
    conn: psycopg.Connection | None,
    seedc_version: str,
    key_version: int | None,
    measured: Mapping[str, Any] | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    fallback_dir: Path = DEFAULT_FALLBACK_DIR,
) -> Published:
    """Build, sign, put and index the evidence of `run` (a RunReport or its `as_json()`).

    `conn` is an autocommit control connection (None: do not index). Raises RuntimeFailure
    (exit 4) when signing, storing or indexing fails, after keeping what it could.
    """
    r = run if isinstance(run, Mapping) else run.as_json()
    ids = (str(r["run_id"]), str(r["tenant"]), str(r["environment"]))
    pending: tuple[bytes, str, str, SeedcError] | None = None  # kept after the lock is gone
    stored: StoredEvidence | None = None
    signed: _Signed | None = None

    def build(previous: str | None) -> _Signed:
        report = build_report(r, plan, trace_id=trace_id, span_id=span_id,
                              seedc_version=seedc_version, key_version=key_version,
                              measured=measured or {}, previous_sha256=previous)
        return _sign(report, signer)

    try:
        with chain_head(conn, ids[2], store) as head:
            signed = build(head.previous)
            if signed.failure is not None:
                pending = (signed.data, signed.name, "sign_failed", signed.failure)
            elif head.failure is not None:
                pending = (signed.data, signed.name, "upload_failed", head.failure)
            else:
                try:
                    stored = store.put(signed.name, signed.data)
                except SeedcError as exc:
                    pending = (signed.data, signed.name, "upload_failed", exc)
                else:
                    head.advance(stored.sha256, signed.name, ids[0])
    except psycopg.Error as exc:
        failure = RuntimeFailure(f"the evidence chain head of {ids[2]!r} could not be taken "
                                 f"or advanced: {exc}", rule=CHAIN_RULE)
        if stored is not None:
            failure.message = (f"evidence is stored at {stored.uri} but {failure.message}; "
                               "the next publication may not chain to it")
            raise failure from None
        if signed is None:  # no head at all: keep an unchained report, never lose it
            signed = build(None)
        pending = (signed.data, signed.name,
                   "sign_failed" if signed.failure else "upload_failed", failure)
    if pending is not None:
        _keep(pending[0], pending[1], fallback_dir, conn, ids, pending[2], pending[3])
    assert stored is not None
    if conn is not None:
        try:
            index_evidence(conn, *ids, stored, "stored")
        except psycopg.Error as exc:
            raise RuntimeFailure(
                f"evidence is stored at {stored.uri} (version {stored.version_id}) but could "
                f"not be indexed: {exc}", rule=_RULE) from None
    assert signed is not None
    return Published(signed.envelope, stored, signed.name)


@dataclass(frozen=True)
class _Signed:
    """A report ready to store: its envelope's bytes, or the unsigned form when signing failed."""

    envelope: dict[str, Any]
    data: bytes
    name: str
    failure: SeedcError | None


def _sign(report: dict[str, Any], signer: Signer) -> _Signed:
    name = evidence_name(report)
    try:
        envelope = sign_report(report, signer)
    except SeedcError as exc:
        digest = sha256_hex(canonical_bytes(report))
        unsigned = {"report": report, "sha256": digest, "signature": None}
        return _Signed(unsigned, canonical_bytes(unsigned), name, exc)
    return _Signed(envelope, envelope_bytes(envelope), name, None)


def _keep(data: bytes, name: str, folder: Path, conn: psycopg.Connection | None,
          ids: tuple[str, str, str], status: str, cause: SeedcError) -> NoReturn:
    """Keep the evidence locally, index it as `status`, then raise RuntimeFailure."""
    details = [cause.render()]
    try:
        kept = LocalFolderStore(folder).put(name, data)
    except SeedcError as exc:
        raise RuntimeFailure("evidence could not be stored, nor kept locally",
                             rule=_RULE, details=[*details, exc.render()]) from None
    local = Path(folder) / name
    if conn is not None:
        try:
            mark_failed(conn, *ids, local, kept.sha256, status)
        except psycopg.Error as exc:
            details.append(f"the index row could not be written either: {exc}")
    what = "signed" if status == "sign_failed" else "stored"
    raise RuntimeFailure(f"evidence could not be {what}; it is kept at {local} "
                         f"(index status {status}); upload it once the store is back",
                         rule=_RULE, details=details)
