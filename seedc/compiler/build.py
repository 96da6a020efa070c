"""Assemble the plan: program, batches with digests and chained hashes, guards, estimate.

Batches are generated one at a time and only their digest (and, for inline plans, their rows)
is kept, so compiling millions of rows holds one batch in memory.

Size is bounded at compile (issue 9, sessions 7 and 16): the row count and the seconds it
needs are checked against the manifest's `budget` before any row is generated, the bytes
batch by batch as they are generated, and a plan above `INLINE_ROW_LIMIT` rows carries the
program and key ranges instead of its rows, whatever its mode.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from seedc import __version__
from seedc.compiler.manifest import Manifest
from seedc.compiler.model import DEFAULT_RLS_SETTING, EntitySpec, ModelSpec
from seedc.compiler.sql_render import batch_sql, entity_sql
from seedc.finance.routines import load_routine as load_official
from seedc.plan.canonical import canonical_bytes, plan_hash, sha256_hex
from seedc.plan.chain import chain_next, chain_seed
from seedc.plan.format import FORMAT_VERSION, GENERATOR_VERSION
from seedc.plan.rows import cells_to_json, copy_text
from seedc.program.batch import batch_cells
from seedc.program.data import data_version
from seedc.program.evaluate import Program, tenant_uuid

__all__ = ["INLINE_ROW_LIMIT", "BudgetExceeded", "build_plan", "schema_fingerprint"]

INLINE_ROW_LIMIT = 20_000
"""Plans of at most this many rows carry them inline, so a pull request shows the data (a
baseline of a few hundred rows); above it, any mode carries the program and key ranges and the
runtime regenerates the rows and checks their digest (a 400k-row inline plan is ~260 MB)."""
BASELINE_BATCH = 10_000
DEFAULT_BATCH = 10_000


class BudgetExceeded(ValueError):
    """The plan's estimate is above the manifest's budget; `field` is the budget field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"budget.{field}: {reason}")
        self.field = field
        self.reason = reason


def _check_rows_budget(manifest: Manifest, rows: int, at_least: bool = False) -> None:
    """Rows and seconds (rows at the target rate) within budget, before any row exists."""
    budget = manifest.budget
    some = "at least " if at_least else ""
    if rows > budget.max_rows:
        raise BudgetExceeded("max_rows", f"the plan has {some}{rows} rows, above the budget's "
                             f"{budget.max_rows}; lower the volumetry or raise the budget "
                             "(sessions 7, 16)")
    seconds = -(-rows // manifest.rate_limit.target_rows_per_second)
    if seconds > budget.max_seconds:
        raise BudgetExceeded("max_seconds", f"the plan needs {some}{seconds} s at "
                             f"{manifest.rate_limit.target_rows_per_second} rows/s, above the "
                             f"budget's {budget.max_seconds}; lower the volumetry or raise the "
                             "budget (sessions 7, 16)")


def _weights(shares: dict[str, str], order: tuple[str, ...]) -> list[list[Any]]:
    return [[s, int(Decimal(shares.get(s, "0")) * 1_000_000)] for s in order if s in shares]


_JSON_SAFE = 2**53 - 1  # RFC 8785 numbers are IEEE doubles: larger integers lose digits


def json_safe(node: Any) -> Any:
    """The program node with integer literals beyond ±(2**53 - 1) written as digit strings.

    The plan is canonical JSON (RFC 8785), where such an integer cannot be represented
    exactly; the interpreter reads `["lit", "int", "9223372036854775807"]` as the integer.
    """
    if isinstance(node, list):
        if (len(node) == 3 and node[0] == "lit" and node[1] == "int"
                and isinstance(node[2], int) and abs(node[2]) > _JSON_SAFE):
            return ["lit", "int", str(node[2])]
        return [json_safe(item) for item in node]
    if isinstance(node, dict):
        return {key: json_safe(value) for key, value in node.items()}
    return node


def program_json(manifest: Manifest, model: ModelSpec, order: list[str]) -> dict[str, Any]:
    """The generator program the runtime can execute without the compiler."""
    meta = manifest.metadata
    entities: dict[str, Any] = {}
    for name in order:
        e = model.entities[name]
        raw: dict[str, Any] = {
            "table": e.qualified_table,
            "columns": [
                {"name": c.name, "type": c.sql_type, "nullable": c.nullable,
                 "expr": json_safe(c.expr.program)}
                for c in e.columns
            ],
        }
        if e.expand_count is not None:
            raw["expand"] = {"count": json_safe(e.expand_count.program), "max": e.expand_max}
        else:
            raw["count"] = e.count if e.count is not None else manifest.volumetry[name].count
        if e.parent:
            raw["parent"] = e.parent
            if e.expand_count is None:
                raw["pick"] = e.pick
        if e.states:
            raw["happy_state"] = e.happy_state
            if name in manifest.states:
                raw["states"] = _weights(manifest.states[name], e.states)
        entities[name] = raw
    return {
        "environment": meta.environment,
        "tenant": meta.tenant,
        "reference_datetime": manifest.reference_datetime,
        "tenant_values": {
            "id": tenant_uuid(meta.environment, meta.tenant),
            "slug": meta.tenant,
            "name": meta.tenant_name,
            "environment": meta.environment,
        },
        "entities": entities,
    }


def schema_fingerprint(model: ModelSpec) -> str:
    """What the plan expects the target tables to be: columns, types, nullability.

    The runtime computes the same from the catalog; a difference is schema drift (session 11).
    """
    tables = []
    for e in sorted(model.entities.values(), key=lambda x: x.qualified_table):
        cols = sorted(
            [c.name, "bytea" if c.encrypted else c.sql_type.replace(" ", ""), not c.nullable]
            for c in e.stored
        )
        tables.append([e.qualified_table, cols])
    return "sha256:" + sha256_hex(canonical_bytes(tables))


def _ranges(manifest: Manifest, entity: EntitySpec, total: int) -> list[tuple[int, int]]:
    size = manifest.batch_size or (BASELINE_BATCH if manifest.mode == "baseline"
                                   else DEFAULT_BATCH)
    if entity.batch_size is not None:
        size = min(size, entity.batch_size)
    if entity.expand_count is not None:
        size = max(1, size // max(1, entity.expand_max))
    return [(a, min(a + size, total)) for a in range(0, total, size)] or [(0, 0)]


def batch_schedule(manifest: Manifest, model: ModelSpec, order: list[str],
                   program: Program) -> list[tuple[str, int, int]]:
    """(entity, start, stop) of every batch, in the order they are written.

    Entities follow foreign-key order; an expanded entity whose only pending dependency is its
    parent is written right after each batch of that parent, over the same parent range, so
    what the parent computed at a cost (loan quotes) is still in the worker's cache.
    """
    position = {name: i for i, name in enumerate(order)}
    hosted: dict[str, list[str]] = {}
    for name in order:
        entity = model.entities[name]
        if entity.expand_count is None or entity.parent is None:
            continue
        others = entity.depends_on() - {entity.parent}
        if all(position[d] < position[entity.parent] for d in others):
            hosted.setdefault(entity.parent, []).append(name)
    guests = {child for children in hosted.values() for child in children}
    schedule: list[tuple[str, int, int]] = []
    for name in order:
        if name in guests:
            continue
        entity = model.entities[name]
        count = (entity.count if entity.count is not None
                 else manifest.volumetry[name].count if entity.expand_count is None
                 else program.entity(entity.parent or "").count or 0)
        for start, stop in _ranges(manifest, entity, count):
            schedule.append((name, start, stop))
            schedule += [(child, start, stop) for child in hosted.get(name, [])]
    return schedule


def build_plan(
    manifest: Manifest,
    model: ModelSpec,
    order: list[str],
    digests: dict[str, str],
    info: dict[str, Any],
) -> dict[str, Any]:
    """The complete plan dict, `plan_hash` included."""
    meta = manifest.metadata
    program = program_json(manifest, model, order)
    runtime_program = Program.from_json(program)
    official = load_official(model.official_routine) if model.official_routine else None
    if official is not None:
        runtime_program.official_routine = official.function
    mode_timeouts = getattr(manifest.timeouts, manifest.mode)
    plan: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "compiler": {"name": "seedc", "version": __version__},
        "generators": {"version": GENERATOR_VERSION, "data": data_version()},
        "sources": {
            "manifest_sha256": digests["manifest"],
            "model": {"name": model.name, "version": model.version, "sha256": digests["model"]},
            "finance_routine": official.record() if official else "seedc.finance:quote_terms",
        },
        "tenant": meta.tenant,
        "tenant_id": program["tenant_values"]["id"],
        "environment": meta.environment,
        "mode": manifest.mode,
        "profile": {"name": meta.profile, "version": meta.version},
        "reference_datetime": manifest.reference_datetime,
        "keys": manifest.keys.model_dump(),
        "guards": {
            "window": manifest.window.model_dump(),
            "budget": manifest.budget.model_dump(),
            "flags": sorted(manifest.flags.required),
            "canary": manifest.canary.model_dump(exclude_none=True),
            "timeouts": mode_timeouts.model_dump(),
            "rate_limit": manifest.rate_limit.model_dump(),
            "ttl": getattr(manifest.ttl, manifest.mode),
            "isolated_dev": meta.isolated_dev,
            **({"pipeline_role": manifest.access.pipeline_role} if manifest.access else {}),
            "schema": {
                "migrations_head": manifest.schema_.migrations_head,
                "fingerprint": schema_fingerprint(model),
                **({"rls_setting": model.rls_setting}
                   if model.rls_setting != DEFAULT_RLS_SETTING else {}),
            },
        },
        "program": program,
    }
    total_rows = _total_rows(runtime_program, model, order, manifest)
    _check_rows_budget(manifest, total_rows)
    inline = total_rows <= INLINE_ROW_LIMIT
    plan["rows_inline"] = inline
    batches: list[dict[str, Any]] = []
    totals = {name: [0, 0] for name in order}  # rows, bytes
    parts = dict.fromkeys(order, 0)
    sql = {name: batch_sql(model.entities[name], model.entities[name].tenant_column,
                           model.rls_setting)
           for name in order}
    previous = chain_seed(plan)
    for name, start, stop in batch_schedule(manifest, model, order, runtime_program):
        entity = model.entities[name]
        parts[name] += 1
        cells = batch_cells(runtime_program, name, start, stop)
        text = copy_text(cells)
        batch: dict[str, Any] = {
            "id": f"{len(batches) + 1:04d}-{name}-{parts[name]:04d}",
            "entity": name,
            "table": entity.qualified_table,
            "depends_on": sorted(entity.depends_on()),
            "columns": [c.name for c in entity.stored],
            "sql": sql[name],
            "key_range": {"start": start, "stop": stop},
            "row_count": len(cells),
            "rows_digest": "sha256:" + sha256_hex(text),
        }
        previous = chain_next(previous, batch)
        batch["chain_hash"] = previous
        if inline:
            batch["rows"] = cells_to_json(cells)
        batches.append(batch)
        totals[name][0] += len(cells)
        totals[name][1] += len(text)
        size_so_far = sum(t[1] for t in totals.values())
        if size_so_far > manifest.budget.max_bytes:
            raise BudgetExceeded("max_bytes", f"the plan's rows reach {size_so_far} bytes by "
                                 f"batch {batch['id']}, above the budget's "
                                 f"{manifest.budget.max_bytes}; lower the volumetry or raise "
                                 "the budget (sessions 7, 16)")
    tables = {model.entities[n].qualified_table: {"rows": totals[n][0], "bytes": totals[n][1]}
              for n in order}
    entities_out = [{
        "name": name,
        "table": entity.qualified_table,
        "tenant_column": entity.tenant_column,
        "columns": [c.name for c in entity.stored],
        "encrypted": [c.name for c in entity.stored if c.encrypted],
        "pii": _pii_columns(entity),
        "sql": entity_sql(entity, entity.tenant_column, model.rls_setting),
        "rows": totals[name][0],
        **({"pairs": [{"old": o, "new": n} for o, n in entity.pairs]} if entity.pairs else {}),
    } for name, entity in ((n, model.entities[n]) for n in order)]
    rows = sum(t["rows"] for t in tables.values())
    size = sum(t["bytes"] for t in tables.values())
    rate = manifest.rate_limit.target_rows_per_second
    plan["entities"] = entities_out
    plan["batches"] = batches
    plan["estimate"] = {
        "rows": rows,
        "bytes": size,
        "seconds": -(-rows // rate),
        "tables": tables,
    }
    routing = routing_guard(manifest, model, tables)
    if routing is not None:
        plan["guards"]["routing"] = routing
    if manifest.cache is not None:
        plan["guards"]["cache"] = {"key_pattern": manifest.cache.key_pattern.replace(
            "{tenant_id}", plan["tenant_id"]).replace("{tenant}", meta.tenant)}
    plan["info"] = info
    plan["plan_hash"] = plan_hash(plan)
    return plan


def routing_guard(manifest: Manifest, model: ModelSpec,
                  tables: dict[str, dict[str, int]]) -> dict[str, Any] | None:
    """What preflight checks against the sandbox: the routes of the topics this plan's rows
    trigger (entities with rows only), and the environment's sandbox sink pattern."""
    if model.routing is None or manifest.sandbox is None:
        return None
    topics = sorted({topic for name, names in model.routing["topics"].items()
                     if tables.get(model.entities[name].qualified_table, {}).get("rows")
                     for topic in names})
    return {
        "outbox": dict(model.routing["outbox"]),
        "routes": dict(model.routing["routes"]),
        "topics": topics,
        "sink_pattern": manifest.sandbox.sink_pattern,
    }


def _pii_columns(entity: EntitySpec) -> list[str]:
    names = {"cpf", "cnpj", "cnpj_alnum", "phone_mobile", "phone_landline", "email"}
    return [c.name for c in entity.stored if _calls(c.expr.program) & names]


def _calls(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, list):
        if node and node[0] == "call":
            found.add(node[1])
        for item in node:
            found |= _calls(item)
    elif isinstance(node, dict):
        for item in node.values():
            found |= _calls(item)
    return found


def _total_rows(program: Program, model: ModelSpec, order: list[str],
                manifest: Manifest) -> int:
    """Rows of the whole plan; expansions are counted by evaluating their count per parent.

    Counted entities come first and the budget is checked as the total grows, so a count of
    10**9 is refused before any expansion is evaluated.
    """
    total = 0
    for name in order:
        entity = model.entities[name]
        if entity.expand_count is None:
            total += entity.count if entity.count is not None else manifest.volumetry[name].count
    expanded = any(model.entities[name].expand_count is not None for name in order)
    _check_rows_budget(manifest, total, at_least=expanded)
    for name in order:
        entity = model.entities[name]
        if entity.expand_count is None:
            continue
        parent_count = program.entity(entity.parent or "").count or 0
        step = 100_000
        for start in range(0, parent_count, step):
            counts = program.expand_counts(name, start, min(start + step, parent_count))
            total += int(counts.sum())
            _check_rows_budget(manifest, total, at_least=True)
    return total
