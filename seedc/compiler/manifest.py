"""The manifest: typed (pydantic) after the JSON Schema passed, then checked across fields.

Rules enforced here cite their seeds session: `reference_datetime` is ISO 8601 UTC with `Z`
(11); `states` only in load/dr and summing exactly to 1 (2, 10); volumetry within caps (5, 13);
one window per tenant/environment, may cross midnight (17); a canary run declares its scope
(11); the local dev key is only for an isolated dev environment (1).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict

from seedc.compiler.source import Problems, Source

__all__ = ["Manifest", "check_manifest", "parse_manifest"]

Mode = Literal["baseline", "load", "dr"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metadata(_Strict):
    environment: Literal["dev", "ci", "staging", "homolog", "prod"]
    tenant: str
    tenant_name: str
    profile: str
    version: int
    isolated_dev: bool = False


class Volume(_Strict):
    count: int
    cap: int


class Backoff(_Strict):
    initial_ms: int
    max_ms: int
    max_retries: int


class RateLimit(_Strict):
    target_rows_per_second: int
    cap_rows_per_second: int
    backoff: Backoff


class Ttl(_Strict):
    baseline: str | None = None
    load: str | None = None
    dr: str | None = None


class Budget(_Strict):
    max_rows: int
    max_bytes: int
    max_seconds: int


class Window(_Strict):
    start_utc: str
    end_utc: str


class Keys(_Strict):
    ref: str
    salt_version: int
    algorithm: Literal["FF1", "FF3-1"] = "FF1"


class Schema(_Strict):
    migrations_head: str


class Flags(_Strict):
    required: list[str]


class Canary(_Strict):
    enabled: bool
    percent: int | None = None
    tenants: list[str] | None = None


class Sandbox(_Strict):
    """Where this environment's integrations may go (sessions 8, 18)."""

    sink_pattern: str


class Cache(_Strict):
    """The tenant's cache keys, deleted around the run (session 18)."""

    key_pattern: str


class Timeout(_Strict):
    statement_ms: int
    lock_ms: int


class Timeouts(_Strict):
    baseline: Timeout
    load: Timeout
    dr: Timeout


class Access(_Strict):
    """Who may run the plan outside isolated dev (issue 15, spec session 5)."""

    pipeline_role: str


class Manifest(_Strict):
    """A validated manifest; `states` holds exact decimal strings."""

    apiVersion: Literal["seedc/v1"]  # noqa: N815  (the manifest's own field name)
    kind: Literal["Manifest"]
    metadata: Metadata
    mode: Mode
    reference_datetime: str
    model: str
    batch_size: int | None = None
    volumetry: dict[str, Volume]
    rate_limit: RateLimit
    ttl: Ttl
    budget: Budget
    window: Window
    keys: Keys
    schema_: Schema
    flags: Flags
    canary: Canary
    sandbox: Sandbox | None = None
    cache: Cache | None = None
    states: dict[str, dict[str, str]] = {}
    timeouts: Timeouts
    access: Access | None = None


def parse_manifest(source: Source) -> Manifest:
    """Typed view of a manifest that already passed the JSON Schema."""
    data = dict(source.data)
    data["schema_"] = data.pop("schema")
    data["states"] = {
        entity: {state: str(share) for state, share in shares.items()}
        for entity, shares in data.get("states", {}).items()
    }
    return Manifest.model_validate(data)


def check_manifest(manifest: Manifest, source: Source, problems: Problems) -> None:
    """Cross-field rules the schema cannot express; every violation is added, none raised."""
    try:
        ref = datetime.strptime(manifest.reference_datetime, "%Y-%m-%dT%H:%M:%SZ")
        ref.replace(tzinfo=UTC)
    except ValueError:
        problems.at(source, ("reference_datetime",),
                    f"{manifest.reference_datetime!r} is not a valid UTC datetime (session 11)")
    for entity, volume in manifest.volumetry.items():
        if volume.count > volume.cap:
            problems.at(source, ("volumetry", entity, "count"),
                        f"count {volume.count} is above its cap {volume.cap} (session 5)")
    if manifest.mode == "baseline" and manifest.states:
        problems.at(source, ("states",),
                    "states are not allowed in a baseline manifest: baseline is happy-path "
                    "only; declare states in load or dr mode (sessions 2, 10)")
    for entity, shares in manifest.states.items():
        total = Decimal(0)
        for state, share in shares.items():
            try:
                value = Decimal(share)
            except InvalidOperation:
                problems.at(source, ("states", entity, state), f"{share!r} is not a number")
                continue
            if not Decimal(0) <= value <= Decimal(1):
                problems.at(source, ("states", entity, state),
                            f"share {share} must be between 0 and 1")
            total += value
        if total != Decimal(1):
            problems.at(source, ("states", entity),
                        f"state shares sum to {total}, not exactly 1")
    rate = manifest.rate_limit
    if rate.target_rows_per_second > rate.cap_rows_per_second:
        problems.at(source, ("rate_limit", "target_rows_per_second"),
                    "target is above the cap")
    if rate.backoff.initial_ms > rate.backoff.max_ms:
        problems.at(source, ("rate_limit", "backoff", "initial_ms"), "initial is above max")
    canary = manifest.canary
    if canary.enabled and canary.percent is None and not canary.tenants:
        problems.at(source, ("canary",),
                    "canary is enabled but declares no scope (percent or tenants) (session 11)")
    if manifest.metadata.isolated_dev and manifest.metadata.environment != "dev":
        problems.at(source, ("metadata", "isolated_dev"),
                    "only a dev environment can be marked isolated (session 1)")
    if manifest.sandbox is not None:
        try:
            re.compile(manifest.sandbox.sink_pattern)
        except re.error as exc:
            problems.at(source, ("sandbox", "sink_pattern"), f"not a regular expression: {exc}")
    if manifest.cache is not None and not any(
            p in manifest.cache.key_pattern for p in ("{tenant_id}", "{tenant}")):
        problems.at(source, ("cache", "key_pattern"),
                    "the key pattern must contain {tenant_id} or {tenant}: seedc deletes only "
                    "this tenant's keys, never a whole cache (session 18)")
    mode_ttl = getattr(manifest.ttl, manifest.mode)
    if manifest.mode in ("load", "dr") and mode_ttl is None:
        problems.at(source, ("ttl",), f"a {manifest.mode} manifest needs ttl.{manifest.mode} "
                    "(datasets of load/dr are purged by TTL, session 5)")
