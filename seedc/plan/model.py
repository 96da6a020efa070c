"""The plan as a typed, frozen model, and the JSON Schema generated from it.

Why: the plan is the contract between compiler and runtime and the artifact reviewed in pull
requests; a typed model says exactly what a plan may hold (dbt commits the JSON Schema of its
artifacts the same way). `validate_plan` runs when a plan is read, so a hand-edited or
truncated plan is refused with the JSON path of what is wrong, before anything trusts it. The
committed `schema/plan.schema.json` is `plan_json_schema()`; a test keeps them equal, and
`seedc schema plan` publishes it.

The runtime still reads the plan as a dict (`read_plan` returns it); this model checks it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seedc.errors import InvalidInput
from seedc.plan.chain import chain_hashes

__all__ = [
    "Batch",
    "Entity",
    "Guards",
    "Plan",
    "plan_json_schema",
    "plan_schema_text",
    "published_plan_schema",
    "validate_plan",
]

Sha256 = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Uuid = Annotated[str, Field(
    pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
HourMinute = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class _Frozen(BaseModel):
    """Frozen, strict (no coercion: "3" is not 3) and closed (unknown fields are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=True)


class Compiler(_Frozen):
    name: Literal["seedc"]
    version: str


class Generators(_Frozen):
    """Generator version and the digest of every pinned data file (word lists)."""

    version: str
    data: dict[str, Sha256]


class ModelSource(_Frozen):
    name: str
    version: int
    sha256: Sha256


class FinanceRoutine(_Frozen):
    """A registered official routine (seedc.finance.routines; seeds session 10)."""

    name: str
    distribution: str
    version: str


class Sources(_Frozen):
    manifest_sha256: Sha256
    model: ModelSource
    finance_routine: str | FinanceRoutine = Field(
        description="The built-in routine's path, or the registered routine that was used.")


class Profile(_Frozen):
    name: str
    version: int


class Keys(_Frozen):
    """Where the FPE key lives and the version the plan was compiled for (sessions 1, 3, 6)."""

    ref: str
    salt_version: Positive
    algorithm: Literal["FF1", "FF3-1"]


class Window(_Frozen):
    """One daily window in UTC, which may cross midnight (session 17)."""

    start_utc: HourMinute
    end_utc: HourMinute


class Budget(_Frozen):
    max_rows: Count
    max_bytes: Count
    max_seconds: Count


class Canary(_Frozen):
    enabled: bool
    percent: int | None = None
    tenants: tuple[str, ...] | None = None


class Timeouts(_Frozen):
    statement_ms: Count
    lock_ms: Count


class Backoff(_Frozen):
    initial_ms: Count
    max_ms: Count
    max_retries: Count


class RateLimit(_Frozen):
    target_rows_per_second: Positive
    cap_rows_per_second: Positive
    backoff: Backoff


class SchemaGuard(_Frozen):
    migrations_head: str
    fingerprint: Sha256
    #: The setting the application's RLS policies read, when not app.tenant_id (issue 16).
    rls_setting: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$")] \
        | None = None


class OutboxGuard(_Frozen):
    table: str
    marker_column: str


class RoutesGuard(_Frozen):
    table: str
    tenant_column: str
    topic_column: str
    sink_column: str


class RoutingGuard(_Frozen):
    """Integrations stay in the sandbox (sessions 8, 18): the routes of `topics` must all
    have a sink matching `sink_pattern`."""

    outbox: OutboxGuard
    routes: RoutesGuard
    topics: tuple[str, ...]
    sink_pattern: str


class CacheGuard(_Frozen):
    """The tenant's resolved cache key pattern (session 18)."""

    key_pattern: str


class Guards(_Frozen):
    """What preflight checks before the first write."""

    window: Window
    budget: Budget
    flags: tuple[str, ...]
    canary: Canary
    timeouts: Timeouts
    rate_limit: RateLimit
    ttl: str | None
    isolated_dev: bool
    # the database role of the pipeline (issue 15); absent: refused outside isolated dev
    pipeline_role: str | None = None
    schema_: SchemaGuard = Field(alias="schema")
    routing: RoutingGuard | None = None
    cache: CacheGuard | None = None


class EntitySql(_Frozen):
    purge: str
    read: str


class ColumnPair(_Frozen):
    """An expand/contract pair written together and read back together (session 11)."""

    old: str
    new: str


class Entity(_Frozen):
    name: str
    table: str
    tenant_column: str
    columns: tuple[str, ...]
    encrypted: tuple[str, ...]
    pii: tuple[str, ...]
    sql: EntitySql
    rows: Count
    pairs: tuple[ColumnPair, ...] = ()


class BatchSql(_Frozen):
    clear: str
    context: str
    copy_: str = Field(alias="copy")
    insert: str
    stage: str


class KeyRange(_Frozen):
    start: Count
    stop: Count


class Placeholder(_Frozen):
    """A PII cell: the FPE domain and its deterministic synthetic input, never a value."""

    pii: str
    in_: str = Field(alias="in")


Cell = str | None | Placeholder


class Batch(_Frozen):
    """One transaction's worth of rows; `chain_hash` covers every earlier batch."""

    id: str
    entity: str
    table: str
    depends_on: tuple[str, ...]
    columns: tuple[str, ...]
    sql: BatchSql
    key_range: KeyRange
    row_count: Count
    rows_digest: Sha256
    chain_hash: Hex64
    rows: tuple[tuple[Cell, ...], ...] | None = Field(
        default=None, description="Inline rows (small plans); large plans regenerate them.")


class TableEstimate(_Frozen):
    rows: Count
    bytes: Count


class Estimate(_Frozen):
    rows: Count
    bytes: Count
    seconds: Count
    tables: dict[str, TableEstimate]


class Plan(_Frozen):
    """A seedc plan (format seedc.plan/1): everything apply needs, and nothing else."""

    model_config = ConfigDict(title="seedc plan")

    format: str = Field(description="Plan format version, e.g. seedc.plan/1.")
    compiler: Compiler
    generators: Generators
    sources: Sources
    tenant: str
    tenant_id: Uuid
    environment: Literal["dev", "ci", "staging", "homolog", "prod"]
    mode: Literal["baseline", "load", "dr"]
    profile: Profile | None = None
    reference_datetime: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
    keys: Keys
    guards: Guards
    program: dict[str, Any] = Field(
        description="The compiled generator program (checked by seedc.program when loaded).")
    rows_inline: bool
    entities: tuple[Entity, ...]
    batches: tuple[Batch, ...]
    estimate: Estimate
    info: dict[str, str] | None = Field(
        default=None, description="Human context (paths); outside the hash, never read.")
    plan_hash: Sha256


def _json_path(data: Any, loc: tuple[int | str, ...], missing: bool) -> str:
    """`$.batches[3].row_count` from a pydantic location, walking the data so that the
    union-member tags pydantic inserts (`str`, `Placeholder`) are left out."""
    path, node = "$", data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            path, node = path + f"[{part}]", node[part]
        elif isinstance(node, dict) and (part in node or (missing and i == len(loc) - 1)):
            path, node = path + f".{part}", node.get(str(part))
    return path


def validate_plan(data: Any, where: str = "plan") -> Plan:
    """The typed plan; InvalidInput naming the JSON path of every problem (first 20).

    Validated as JSON (strict JSON mode takes arrays for tuples and refuses "3" for 3); then
    every batch's `chain_hash` must follow from the batches before it (seedc.plan.chain), so
    a batch edited after compiling is refused even when the plan hash was recomputed.
    """
    try:
        plan = Plan.model_validate_json(json.dumps(data, ensure_ascii=False))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        found = (f"{_json_path(data, e['loc'], e['type'] == 'missing')}: {e['msg']}"
                 for e in errors)
        details = list(dict.fromkeys(found))[:20]
        if len(errors) > 20:
            details.append(f"… and {len(errors) - 20} more")
        raise InvalidInput(f"{where}: not a valid seedc plan ({len(errors)} problem(s))",
                           rule="plans are versioned and strict", details=details) from None
    for i, (batch, expected) in enumerate(zip(plan.batches, chain_hashes(data), strict=True)):
        if batch.chain_hash != expected:
            raise InvalidInput(
                f"{where}: $.batches[{i}].chain_hash does not follow from the batches up to "
                f"{batch.id}; the plan was edited after compiling: recompile it",
                rule="the batch hash chain covers every earlier batch")
    return plan


def plan_json_schema() -> dict[str, Any]:
    """The plan's JSON Schema (draft 2020-12), as committed in schema/plan.schema.json."""
    schema = Plan.model_json_schema(by_alias=True)
    return {"$id": "https://seedc.dev/schema/plan-v1.json",
            "$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def plan_schema_text() -> str:
    """The committed file's exact text; regenerate it with
    `python -c 'from seedc.plan.model import plan_schema_text as t; print(t(), end="")'`."""
    return json.dumps(plan_json_schema(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def published_plan_schema() -> str:
    """The schema shipped as package data (what `seedc schema plan` prints)."""
    return resources.files("seedc.plan").joinpath("schema/plan.schema.json").read_text(
        encoding="utf-8")

