"""Read one piece of evidence by the URI `seedc runs` prints, or by a plain path (issue 11).

Why: `seedc evidence verify` must take exactly what the run index shows — `file://…` for the
local folder store, `s3://bucket/key` (optionally `?versionId=…`) for WORM storage — so a
reviewer can copy it from `seedc runs`. Two digests are named apart everywhere: the *report
sha256* is the envelope's `sha256`, the digest of the canonical report that is signed; the
*file sha256* is the digest of the stored bytes, which `seedc.evidence.sha256` indexes and the
next report chains as `previous_sha256`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from seedc.errors import InvalidInput, RuntimeFailure

__all__ = ["MAX_EVIDENCE_BYTES", "FetchedEvidence", "fetch_evidence"]

MAX_EVIDENCE_BYTES = 64 * 1024 * 1024  # a report is kilobytes; refuse to buffer anything huge


@dataclass(frozen=True)
class FetchedEvidence:
    """The stored bytes and where they came from; `file_sha256` is of these bytes."""

    source: str
    data: bytes

    @property
    def file_sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def fetch_evidence(ref: str, s3_client: Any | None = None) -> FetchedEvidence:
    """The bytes at `ref`: `file://path`, `s3://bucket/key[?versionId=…]` or a path.

    A missing file or object is invalid input (exit 2); an unreachable store a runtime failure
    (exit 4). `s3_client` is for tests that bring their own endpoint; otherwise boto3's own
    settings (`AWS_ENDPOINT_URL`, profiles) apply, as for publishing.
    """
    if ref.startswith("s3://"):
        return _from_s3(ref, s3_client)
    path = Path(unquote(ref[len("file://"):])) if ref.startswith("file://") else Path(ref)
    try:
        size = path.stat().st_size
        if size > MAX_EVIDENCE_BYTES:
            raise InvalidInput(f"{ref}: {size} bytes is too large for a seedc evidence report")
        return FetchedEvidence(ref, path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"{ref}: cannot read the evidence file ({exc.strerror or exc})"
                           ) from None


def _from_s3(ref: str, client: Any | None) -> FetchedEvidence:
    parts = urlsplit(ref)
    key = unquote(parts.path.lstrip("/"))
    if not parts.netloc or not key:
        raise InvalidInput(f"evidence URI {ref!r}: expected s3://bucket/key")
    version = parse_qs(parts.query).get("versionId", [None])[0]
    import botocore.exceptions

    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", config=Config(
            connect_timeout=3, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"}))
    args: dict[str, Any] = {"Bucket": parts.netloc, "Key": key}
    if version:
        args["VersionId"] = version
    try:
        body = client.get_object(**args)["Body"]
        data = body.read(MAX_EVIDENCE_BYTES + 1)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "InvalidArgument"):
            raise InvalidInput(f"{ref}: no such evidence object ({code})") from None
        raise RuntimeFailure(f"cannot read evidence {ref}: S3 said {code or 'an error'}"
                             ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise RuntimeFailure(f"cannot read evidence {ref}: {type(exc).__name__}") from None
    if len(data) > MAX_EVIDENCE_BYTES:
        raise InvalidInput(f"{ref}: too large for a seedc evidence report")
    return FetchedEvidence(ref, data)
