"""Signing evidence: Vault/OpenBao Transit in every shared environment, a dev-only local key.

What is signed is the 32-byte SHA-256 digest of the report's canonical bytes:
- `ed25519` (Transit ed25519 key or the local dev key): Ed25519 over those 32 bytes;
- `ecdsa-p256-sha256` (Transit ecdsa-p256 key): ECDSA P-256 over the digest, `prehashed`,
  i.e. exactly ECDSA-with-SHA256 of the canonical report bytes.

The envelope names the signing key by id (`vault-transit:<mount>/<name>` or
`local-dev:ed25519:<public key fingerprint>`), never by its bytes; no message here ever
carries key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from seedc.errors import GuardRefused, RuntimeFailure
from seedc.plan.canonical import canonical_bytes, sha256_hex
from seedc.runtime.keys import ci_is_set, read_env_file

__all__ = [
    "DEV_KEY_VAR",
    "LocalDevSigner",
    "Signer",
    "VaultTransitSigner",
    "envelope_bytes",
    "sign_report",
    "signer_for",
    "transit_key_name",
    "verify_envelope",
]

#: The `.env.local` variable holding the dev signing key (32 bytes, hex).
DEV_KEY_VAR = "SEEDC_DEV_SIGNING_KEY"
_DEV_RULE = "dev-only local signing key: isolated dev only, never in CI (sessions 1, 5)"
_TRANSIT_RULE = "evidence is signed by the environment's Transit key (sessions 5, 14)"
_ENVELOPE_KEYS = {"report", "sha256", "signature"}


class Signer(Protocol):
    """Signs and verifies a report digest; `key_id` names the key, never holds it."""

    @property
    def key_id(self) -> str: ...

    def check(self) -> None:
        """Raise GuardRefused if this signer cannot sign (call before the first data write)."""
        ...

    def sign(self, digest: bytes) -> dict[str, str]:
        """`{"alg", "key", "value"}` for a 32-byte digest; RuntimeFailure if signing fails."""
        ...

    def verify(self, digest: bytes, signature: Mapping[str, Any]) -> list[str]:
        """Problems with `signature` over `digest`; empty when it is valid."""
        ...


def _b64_canonical(text: str) -> bytes | None:
    """Decode base64 only in its one canonical spelling (unused padding bits zero), else None.

    A lenient decoder accepts a changed last character that differs only in padding bits;
    requiring the canonical spelling makes every changed byte of a signature detectable.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


# --- the dev-only local key ------------------------------------------------------------------


class LocalDevSigner:
    """Ed25519 with a key from `.env.local` (`SEEDC_DEV_SIGNING_KEY`, hex); refused when `CI`
    is set. For an isolated dev environment only: the key sits on a developer's disk."""

    alg = "ed25519"

    def __init__(self, key: bytes) -> None:
        if ci_is_set():
            raise GuardRefused("the local dev signing key is refused because CI is set; sign "
                               "with the environment's Vault Transit key", rule=_DEV_RULE)
        if len(key) != 32:
            raise GuardRefused(f"the dev signing key must be 32 bytes (64 hex digits), got "
                               f"{len(key)} bytes", rule=_DEV_RULE)
        self._private = Ed25519PrivateKey.from_private_bytes(key)
        self._public = self._private.public_key()
        public = self._public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = "local-dev:ed25519:" + hashlib.sha256(public).hexdigest()[:16]

    @classmethod
    def from_env_file(cls, path: Path = Path(".env.local"), *,
                      create: bool = False) -> LocalDevSigner:
        """The key in `path`; with `create`, a new random key is appended when there is none.

        The file is the git-ignored `.env.local` that also holds the dev FPE key; it is
        created with mode 0600.
        """
        if ci_is_set():
            raise GuardRefused("the local dev signing key is refused because CI is set; sign "
                               "with the environment's Vault Transit key", rule=_DEV_RULE)
        values = read_env_file(path) if path.is_file() else {}
        if DEV_KEY_VAR not in values:
            if not create:
                raise GuardRefused(f"no dev signing key: {DEV_KEY_VAR} not in {path} (run "
                                   "`seedc demo` to create one, or configure Vault)",
                                   rule=_DEV_RULE)
            new = os.urandom(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(f"{DEV_KEY_VAR}={new.hex()}\n")
            return cls(new)
        try:
            key = bytes.fromhex(values[DEV_KEY_VAR])
        except ValueError:
            raise GuardRefused(f"{path}: {DEV_KEY_VAR} is not hex", rule=_DEV_RULE) from None
        return cls(key)

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:
        return f"LocalDevSigner(key_id={self._key_id!r})"

    def check(self) -> None:
        """Nothing to reach: the key is in memory."""

    def sign(self, digest: bytes) -> dict[str, str]:
        value = base64.b64encode(self._private.sign(digest)).decode("ascii")
        return {"alg": self.alg, "key": self._key_id, "value": value}

    def verify(self, digest: bytes, signature: Mapping[str, Any]) -> list[str]:
        if signature.get("alg") != self.alg:
            return [f"signature alg {str(signature.get('alg'))[:40]!r} is not {self.alg}"]
        raw = _b64_canonical(str(signature.get("value", "")))
        if raw is None:
            return ["signature value is not canonical base64"]
        try:
            self._public.verify(raw, digest)
        except InvalidSignature:
            return ["signature does not match the report (Ed25519 verification failed)"]
        return []


# --- Vault / OpenBao Transit ----------------------------------------------------------------


def transit_key_name(environment: str) -> str:
    """The per-environment Transit signing key: `seedc-evidence-<environment>`."""
    return f"seedc-evidence-{environment}"


#: Transit key type -> the `alg` written into the envelope.
_TRANSIT_ALGS = {"ed25519": "ed25519", "ecdsa-p256": "ecdsa-p256-sha256"}


class VaultTransitSigner:
    """Signs through Transit (`<mount>/sign/<key_name>`); the private key never leaves Vault.

    The key must be `ed25519` or `ecdsa-p256`. Its type is read once, by `check()` or by the
    first sign/verify. Verification uses Transit's verify endpoint (the signature value keeps
    Transit's `vault:v<N>:` prefix, which names the key version that signed).
    """

    def __init__(self, client: Any, key_name: str, *, mount_point: str = "transit") -> None:
        self.client = client
        self.key_name = key_name
        self.mount_point = mount_point
        self._key_type: str | None = None

    @property
    def key_id(self) -> str:
        return f"vault-transit:{self.mount_point}/{self.key_name}"

    def __repr__(self) -> str:
        return f"VaultTransitSigner(key_id={self.key_id!r})"

    def check(self) -> None:
        self._type()

    def _type(self) -> str:
        if self._key_type is None:
            try:
                data = self.client.secrets.transit.read_key(
                    self.key_name, mount_point=self.mount_point)["data"]
            except Exception as exc:  # hvac raises per HTTP status, requests per transport
                raise GuardRefused(
                    f"cannot read Transit key {self.key_id}: {_vault_error(exc)}",
                    rule=_TRANSIT_RULE) from None
            key_type = str(data.get("type"))
            if key_type not in _TRANSIT_ALGS or not data.get("supports_signing", True):
                raise GuardRefused(
                    f"Transit key {self.key_id} is {key_type}; evidence needs an ed25519 or "
                    "ecdsa-p256 signing key", rule=_TRANSIT_RULE)
            self._key_type = key_type
        return self._key_type

    def _params(self, digest: bytes) -> dict[str, Any]:
        params: dict[str, Any] = {"hash_input": base64.b64encode(digest).decode("ascii"),
                                  "mount_point": self.mount_point}
        if self._type() == "ecdsa-p256":
            params.update(prehashed=True, hash_algorithm="sha2-256",
                          marshaling_algorithm="asn1")
        return params

    def sign(self, digest: bytes) -> dict[str, str]:
        params = self._params(digest)
        try:
            response = self.client.secrets.transit.sign_data(self.key_name, **params)
        except Exception as exc:
            raise RuntimeFailure(f"Transit could not sign the evidence with {self.key_id}: "
                                 f"{_vault_error(exc)}", rule=_TRANSIT_RULE) from None
        return {"alg": _TRANSIT_ALGS[self._type()], "key": self.key_id,
                "value": str(response["data"]["signature"])}

    def verify(self, digest: bytes, signature: Mapping[str, Any]) -> list[str]:
        value = str(signature.get("value", ""))
        prefix, sep, encoded = value.rpartition(":")
        if not sep or not prefix.startswith("vault:v") or _b64_canonical(encoded) is None:
            return ["signature value is not a canonical Transit signature (vault:v<N>:<base64>)"]
        if signature.get("alg") != _TRANSIT_ALGS[self._type()]:
            return [f"signature alg {signature.get('alg')!r} does not match the Transit key "
                    f"type {self._type()}"]
        try:
            response = self.client.secrets.transit.verify_signed_data(
                self.key_name, signature=value, **self._params(digest))
        except Exception as exc:
            return [f"Transit rejected the signature: {_vault_error(exc)}"]
        if not response["data"].get("valid"):
            return ["signature does not match the report (Transit verify: invalid)"]
        return []


def _vault_error(exc: Exception) -> str:
    """A one-line reason that names the failure, never a token or key."""
    text = str(exc).split(", on ")[0].strip() or "no detail"
    return f"{type(exc).__name__}: {text[:300]}"


def signer_for(environment: str, *, client: Any = None,
               env_file: Path = Path(".env.local")) -> Signer:
    """The environment's Transit signer when a client is given or VAULT_ADDR is set; else the
    dev-only local key, for environment `dev` only."""
    if client is None and os.environ.get("VAULT_ADDR"):
        import hvac

        client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ.get("VAULT_TOKEN"),
                             timeout=10)
    if client is not None:
        return VaultTransitSigner(client, transit_key_name(environment))
    if environment != "dev":
        raise GuardRefused(f"evidence for environment {environment!r} must be signed by Vault "
                           "Transit; set VAULT_ADDR and VAULT_TOKEN", rule=_TRANSIT_RULE)
    return LocalDevSigner.from_env_file(env_file)


# --- envelopes --------------------------------------------------------------------------------


def sign_report(report: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The signed envelope `{"report", "sha256", "signature": {"alg", "key", "value"}}`."""
    digest = sha256_hex(canonical_bytes(report))
    return {"report": dict(report), "sha256": digest,
            "signature": signer.sign(bytes.fromhex(digest))}


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The bytes that are stored: the envelope's RFC 8785 canonical form."""
    return canonical_bytes(envelope)


def verify_envelope(envelope: Mapping[str, Any] | bytes, signer: Signer | None) -> list[str]:
    """Problems with an envelope (parsed, or the stored bytes); empty means valid.

    Stored bytes must be the envelope's canonical form, `sha256` must be that of the report's
    canonical bytes, and the signature must be the signer's over that digest. With `signer`
    None only the form and the digest are checked (no signature check: say so to the user).
    Raises GuardRefused only when the signer itself cannot be reached.
    """
    problems: list[str] = []
    if isinstance(envelope, bytes | bytearray):
        try:
            parsed = json.loads(bytes(envelope).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return [f"not JSON: {exc}"]
        try:
            if canonical_bytes(parsed) != bytes(envelope):
                problems.append("the stored bytes are not the envelope's canonical form")
        except TypeError as exc:
            return [f"not canonical JSON: {exc}"]
        envelope = parsed
    if not isinstance(envelope, Mapping) or set(envelope) != _ENVELOPE_KEYS:
        return [*problems, "not an evidence envelope (needs exactly report, sha256, signature)"]
    report, claimed, signature = envelope["report"], envelope["sha256"], envelope["signature"]
    if not isinstance(report, Mapping):
        return [*problems, "the report must be an object"]
    if not isinstance(signature, Mapping):
        problems.append("the envelope is unsigned" if signature is None
                        else "the signature must be an object")
    try:
        actual = sha256_hex(canonical_bytes(report))
    except TypeError as exc:
        return [*problems, f"report is not canonical JSON: {exc}"]
    if claimed != actual:
        problems.append(f"sha256 mismatch: the envelope's report sha256 is "
                        f"{str(claimed)[:64]!r}, the report hashes to {actual}")
    if signer is None or not isinstance(signature, Mapping):
        return problems
    if signature.get("key") != signer.key_id:
        problems.append(f"signed by {str(signature.get('key'))[:120]!r}, verifying with "
                        f"{signer.key_id!r}")
    problems.extend(signer.verify(bytes.fromhex(actual), signature))
    return problems
