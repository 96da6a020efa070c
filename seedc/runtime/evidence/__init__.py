"""Run evidence (seeds sessions 4, 5, 7, 8, 9, 14): a canonical report of each run, signed with
the environment's key, kept in WORM storage and indexed in `seedc.evidence`.

Before the first data write::

    store = store_from_uri(uri, plan["environment"])
    signer = signer_for(plan["environment"])
    store.check_writable(); signer.check()          # GuardRefused -> exit 3

After the run (any status)::

    publish_evidence(report, plan, store=store, signer=signer, conn=control_conn,
                     seedc_version=__version__, key_version=key.version, measured={...})
    # RuntimeFailure (exit 4) when the evidence could not be stored: kept locally + indexed.
"""

from seedc.runtime.evidence.index import index_evidence, mark_failed
from seedc.runtime.evidence.publish import DEFAULT_FALLBACK_DIR, Published, publish_evidence
from seedc.runtime.evidence.report import build_report, evidence_name
from seedc.runtime.evidence.signing import (
    LocalDevSigner,
    Signer,
    VaultTransitSigner,
    envelope_bytes,
    sign_report,
    signer_for,
    transit_key_name,
    verify_envelope,
)
from seedc.runtime.evidence.store import (
    EvidenceStore,
    LocalFolderStore,
    S3WormStore,
    StoredEvidence,
    retention_for,
    store_from_uri,
)

__all__ = [
    "DEFAULT_FALLBACK_DIR",
    "EvidenceStore",
    "LocalDevSigner",
    "LocalFolderStore",
    "Published",
    "S3WormStore",
    "Signer",
    "StoredEvidence",
    "VaultTransitSigner",
    "build_report",
    "envelope_bytes",
    "evidence_name",
    "index_evidence",
    "mark_failed",
    "publish_evidence",
    "retention_for",
    "sign_report",
    "signer_for",
    "store_from_uri",
    "transit_key_name",
    "verify_envelope",
]
