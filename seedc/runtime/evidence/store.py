"""Where evidence is kept: an S3 bucket with Object Lock (WORM), or a local folder for dev.

Both stores answer to `EvidenceStore`. `StoredEvidence.sha256` is the hex SHA-256 of the
stored bytes (the canonical envelope; S3 reports the same digest as `ChecksumSHA256`), and
`last_sha256()` returns that digest for the newest evidence in the store, which the next
report records as `previous_sha256`: each stored envelope commits to the one before it.
Evidence names sort in creation order (`report.evidence_name`), which is what "newest" means.

Retention: COMPLIANCE mode, 365 days in every environment but `dev`, which keeps 1 day
(sessions 8, 14 require >= 365 days in homolog and prod). A local folder is not WORM, so it is
refused for homolog and prod.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from seedc.errors import GuardRefused, InvalidInput, RuntimeFailure

if TYPE_CHECKING:
    from seedc.runtime.evidence.signing import Signer

__all__ = [
    "DEV_RETENTION",
    "RETENTION",
    "WORM_REQUIRED",
    "EvidenceStore",
    "LocalFolderStore",
    "S3WormStore",
    "StoredEvidence",
    "retention_for",
    "store_from_uri",
]

#: Object Lock retention in every environment but dev (sessions 8, 14: at least 365 days).
RETENTION = timedelta(days=365)
#: dev evidence is disposable; a day of lock still proves the path works.
DEV_RETENTION = timedelta(days=1)
#: Environments whose evidence must be WORM storage (a local folder is refused).
WORM_REQUIRED = frozenset({"homolog", "prod"})
_RULE = "evidence in WORM storage, COMPLIANCE retention >= 365 days (sessions 8, 14)"
_PROBE_DIR = "_probe"


@dataclass(frozen=True)
class StoredEvidence:
    """Where one piece of evidence landed. `sha256` is of the stored bytes: the "file sha256",
    not the envelope's "report sha256" (the digest of the report alone, which is signed)."""

    uri: str
    version_id: str | None
    sha256: str
    retain_until: datetime | None


class EvidenceStore(Protocol):
    def check_writable(self) -> None:
        """GuardRefused unless `put` can be expected to succeed (call before the first write)."""
        ...

    def put(self, name: str, data: bytes) -> StoredEvidence:
        """Store `data` under `name`, never overwriting; RuntimeFailure if it did not land."""
        ...

    def last_sha256(self) -> str | None:
        """sha256 of the newest stored evidence, None for an empty store."""
        ...

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """(name, bytes) of every stored evidence, oldest first (the chain's order)."""
        ...


def retention_for(environment: str) -> timedelta:
    return DEV_RETENTION if environment == "dev" else RETENTION


def _check_name(name: str) -> None:
    if (not name or name.startswith(".") or "/" in name or "\\" in name
            or name.startswith(_PROBE_DIR)):
        raise InvalidInput(f"bad evidence name {name!r}: one plain file name expected")


# --- S3 with Object Lock --------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    """One line naming an S3/botocore failure (botocore messages carry no credentials)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class S3WormStore:
    """Evidence in `s3://bucket/prefix/`, each object under COMPLIANCE retention.

    The client is boto3's default (standard AWS variables; boto3 itself honours
    `AWS_ENDPOINT_URL`) with short timeouts, unless one is given.
    """

    def __init__(self, bucket: str, prefix: str = "", *, environment: str,
                 client: Any = None, retention: timedelta | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.environment = environment
        self.retention = retention if retention is not None else retention_for(environment)
        if environment != "dev" and self.retention < RETENTION:
            raise InvalidInput(f"evidence retention for {environment!r} must be at least "
                               f"{RETENTION.days} days", rule=_RULE)
        self._client = client

    def __repr__(self) -> str:
        return f"S3WormStore({self.uri!r}, environment={self.environment!r})"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=3, read_timeout=5,
                            retries={"max_attempts": 2, "mode": "standard"})
            try:
                self._client = boto3.client("s3", config=config)
            except Exception as exc:  # e.g. a malformed endpoint or profile
                raise GuardRefused(f"cannot set up an S3 client for {self.uri}: "
                                   f"{_reason(exc)}", rule=_RULE) from None
        return self._client

    def check_writable(self) -> None:
        """The bucket exists, has Object Lock enabled, and accepts a locked write under prefix.

        The write check creates a multipart upload with the very headers `put` sends
        (COMPLIANCE mode, a retain-until date, SHA256 checksum), which S3 authorizes as
        s3:PutObject plus s3:PutObjectRetention, and then aborts it. An upload that is never
        completed is not an object: no version, no lock, nothing retained, so the probe
        leaves nothing behind (were the abort itself denied, the empty upload is dropped by
        the bucket's abort-incomplete-uploads lifecycle rule). A probe object would instead
        stay locked for the bucket's default retention, one per run.
        """
        s3 = self._s3()
        try:
            config = s3.get_object_lock_configuration(Bucket=self.bucket)
        except Exception as exc:
            code = _error_code(exc)
            if code == "ObjectLockConfigurationNotFoundError":
                raise GuardRefused(f"bucket {self.bucket} has no Object Lock; evidence needs a "
                                   "bucket created with Object Lock enabled", rule=_RULE) from None
            if code == "NoSuchBucket":
                raise GuardRefused(f"evidence bucket {self.bucket} does not exist",
                                   rule=_RULE) from None
            raise GuardRefused(f"cannot reach the evidence bucket {self.uri}: {_reason(exc)}",
                               rule=_RULE) from None
        enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise GuardRefused(f"bucket {self.bucket} has Object Lock {enabled or 'disabled'}; "
                               "evidence needs it enabled", rule=_RULE)
        key = self._key(f"{_PROBE_DIR}/{uuid.uuid4()}")
        try:
            upload = s3.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType="application/json",
                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=self._retain_until(),
                ChecksumAlgorithm="SHA256")
        except Exception as exc:
            raise GuardRefused(f"cannot write locked evidence to {self.uri}: {_reason(exc)}",
                               rule=_RULE) from None
        with contextlib.suppress(Exception):
            s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])

    def _retain_until(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.retention

    def put(self, name: str, data: bytes) -> StoredEvidence:
        """One new locked object (never a new version of an existing key), checked by a HEAD."""
        _check_name(name)
        key = self._key(name)
        uri = f"s3://{self.bucket}/{key}"
        digest = hashlib.sha256(data).digest()
        checksum = base64.b64encode(digest).decode("ascii")
        retain_until = self._retain_until()
        s3 = self._s3()
        try:
            response = s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/json",
                ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, IfNoneMatch="*")
            version_id = response.get("VersionId")
            head = s3.head_object(Bucket=self.bucket, Key=key, VersionId=version_id,
                                  ChecksumMode="ENABLED") if version_id else {}
        except Exception as exc:
            raise RuntimeFailure(f"evidence upload to {uri} failed: {_reason(exc)}",
                                 rule=_RULE) from None
        problems = []
        if not version_id:
            problems.append("no version id (is versioning on?)")
        if head.get("ObjectLockMode") != "COMPLIANCE":
            problems.append(f"lock mode is {head.get('ObjectLockMode')!r}, not COMPLIANCE")
        until = head.get("ObjectLockRetainUntilDate")
        if not isinstance(until, datetime) or until < retain_until - timedelta(seconds=1):
            problems.append(f"retained until {until}, expected {retain_until.isoformat()}")
        if head.get("ChecksumSHA256", checksum) != checksum:
            problems.append("the stored checksum differs from the file sha256")
        if problems:
            raise RuntimeFailure(f"evidence at {uri} is not stored as WORM evidence",
                                 rule=_RULE, details=problems)
        return StoredEvidence(uri, version_id, digest.hex(), retain_until)

    def last_sha256(self) -> str | None:
        """The digest of the newest `.json` under the prefix (S3's checksum, else the bytes)."""
        s3 = self._s3()
        prefix = self._key("")
        try:
            newest: str | None = None
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if (key.endswith(".json") and "/" not in key[len(prefix):]
                            and (newest is None or key > newest)):
                        newest = key
            if newest is None:
                return None
            head = s3.head_object(Bucket=self.bucket, Key=newest, ChecksumMode="ENABLED")
            checksum = head.get("ChecksumSHA256")
            if isinstance(checksum, str) and "-" not in checksum:
                with contextlib.suppress(binascii.Error, ValueError):
                    raw = base64.b64decode(checksum, validate=True)
                    if len(raw) == 32:
                        return raw.hex()
            body = s3.get_object(Bucket=self.bucket, Key=newest)["Body"].read()
            return hashlib.sha256(body).hexdigest()
        except Exception as exc:
            raise RuntimeFailure(f"cannot read the newest evidence in {self.uri}: "
                                 f"{_reason(exc)}", rule=_RULE) from None

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """(name, bytes) of every evidence object under the prefix, oldest first (the chain's
        order), for `evidence verify --chain`."""
        s3 = self._s3()
        prefix = self._key("")
        try:
            keys = sorted(
                item["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=prefix)
                for item in page.get("Contents", [])
                if item["Key"].endswith(".json") and "/" not in item["Key"][len(prefix):])
            for key in keys:
                yield key[len(prefix):], s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise RuntimeFailure(f"cannot read the evidence in {self.uri}: {_reason(exc)}",
                                 rule=_RULE) from None


# --- a local folder (isolated dev) ----------------------------------------------------------


class LocalFolderStore:
    """Evidence files in a folder, written once and read-only (0444), chained by sha256.

    Not WORM: the owner can still delete or chmod them. `verify_chain` detects a changed or
    removed file anywhere but at the end of the chain (the database index covers the end).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"LocalFolderStore({str(self.path)!r})"

    def _not_a_folder(self) -> str | None:
        """What is wrong when the path exists but is not a folder (issue 10 item 9)."""
        if self.path.exists() and not self.path.is_dir():
            return f"evidence path {self.path} is a file, expected a folder"
        return None

    def check_writable(self) -> None:
        wrong = self._not_a_folder()
        if wrong:
            raise GuardRefused(wrong, rule=_RULE)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.path, prefix=".probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise GuardRefused(f"evidence folder {self.path} is not writable: "
                               f"{exc.strerror or exc}", rule=_RULE) from None

    def files(self) -> list[Path]:
        """Evidence files, oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir()
                      if p.suffix == ".json" and not p.name.startswith(".") and p.is_file())

    def put(self, name: str, data: bytes) -> StoredEvidence:
        _check_name(name)
        wrong = self._not_a_folder()
        if wrong:
            raise RuntimeFailure(wrong, rule=_RULE)
        final = self.path / name
        tmp: str | None = None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.link(tmp, final)  # atomic, and fails rather than replace an existing file
            dir_fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except FileExistsError:
            raise RuntimeFailure(f"evidence {final} already exists; evidence is never "
                                 "overwritten", rule=_RULE) from None
        except OSError as exc:
            raise RuntimeFailure(f"cannot write evidence {final}: {exc.strerror or exc}",
                                 rule=_RULE) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        return StoredEvidence(final.resolve().as_uri(), None,
                              hashlib.sha256(data).hexdigest(), None)

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """(name, bytes) of every evidence file, oldest first (the chain's order)."""
        for path in self.files():
            yield path.name, path.read_bytes()

    def last_sha256(self) -> str | None:
        files = self.files()
        return hashlib.sha256(files[-1].read_bytes()).hexdigest() if files else None

    def verify_chain(self, signer: Signer | None = None) -> list[str]:
        """Problems across the folder: each file read-only, a valid envelope (signature too
        when `signer` is given), and its `previous_sha256` the sha256 of the file before."""
        from seedc.runtime.evidence.signing import verify_envelope

        problems: list[str] = []
        previous: str | None = None
        for path in self.files():
            data = path.read_bytes()
            if path.stat().st_mode & 0o222:
                problems.append(f"{path.name}: writable; evidence files are read-only (0444)")
            problems.extend(f"{path.name}: {p}" for p in verify_envelope(data, signer))
            try:
                claimed = json.loads(data)["report"]["previous_sha256"]
            except (ValueError, KeyError, TypeError):
                claimed = "<unreadable>"
            if claimed != previous:
                problems.append(f"{path.name}: previous_sha256 is {claimed!r}, but the evidence "
                                f"before it hashes to {previous!r} (changed, removed or "
                                "inserted evidence)")
            previous = hashlib.sha256(data).hexdigest()
        return problems


# --- from a URI ---------------------------------------------------------------------------


def store_from_uri(uri: str, environment: str) -> EvidenceStore:
    """`s3://bucket/prefix` or `file://path` (`file:///abs` or `file://relative/dir`)."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise InvalidInput(f"evidence URI {uri!r} names no bucket")
        return S3WormStore(parts.netloc, unquote(parts.path), environment=environment)
    if parts.scheme == "file":
        if environment in WORM_REQUIRED:
            raise GuardRefused(f"evidence for {environment!r} must go to WORM storage "
                               f"(s3://bucket/prefix with Object Lock), not {uri}", rule=_RULE)
        path = unquote(uri[len("file://"):]) if uri.startswith("file://") else unquote(parts.path)
        if not path:
            raise InvalidInput(f"evidence URI {uri!r} names no folder")
        return LocalFolderStore(Path(path))
    raise InvalidInput(f"evidence URI {uri!r}: expected s3://bucket/prefix or file://path")
