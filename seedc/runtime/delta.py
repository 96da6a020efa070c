"""The change from one applied plan to the next, row by row, as the database will hold it.

Why by logical key: every row's first column is its key (a UUIDv5 of the logical key, or the
tenant's id), so two plans of the same tenant can be compared key by key after both are
resolved with the tenant's key (FPE is deterministic): a key only in NEW is an insert, only in
OLD a delete, in both with other bytes an update (issue 12). Steps come out in foreign-key-safe
order: inserts parents first, then updates (references move onto rows that now exist), then
deletes children first (nothing refers to them any more).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seedc.plan.format import GENERATOR_VERSION
from seedc.plan.rows import NULL_CELL
from seedc.program.cells import column_cells
from seedc.program.data import data_version
from seedc.program.evaluate import BatchContext, Program
from seedc.program.sensitivity import sensitive_columns
from seedc.runtime.payload import MASK, batch_rows, build_payload, line_hash, resolve_rows
from seedc.runtime.pii.domains import PiiResolver
from seedc.runtime.state import EntityDigest

__all__ = ["STEP_ROWS", "Delta", "DeltaStep", "EntityDelta", "breaking_changes",
           "changed_entities", "compute_delta", "delta_steps", "key_of", "planned_lines",
           "step_effect"]

#: Rows per delta step: one SERIALIZABLE transaction each, checkpointed.
STEP_ROWS = 5000


@dataclass
class EntityDelta:
    """What changes in one entity's table."""

    entity: str
    table: str
    columns: list[str]
    inserts: list[bytes] = field(default_factory=list)             # new lines
    updates: list[tuple[bytes, bytes]] = field(default_factory=list)  # (old line, new line)
    deletes: list[bytes] = field(default_factory=list)             # old lines
    changed_columns: dict[str, int] = field(default_factory=dict)  # column -> rows updated

    @property
    def rows(self) -> int:
        return len(self.inserts) + len(self.updates) + len(self.deletes)

    def counts(self) -> dict[str, Any]:
        return {"insert": len(self.inserts), "update": len(self.updates),
                "delete": len(self.deletes),
                "update_columns": dict(sorted(self.changed_columns.items()))}


@dataclass
class Delta:
    from_hash: str
    to_hash: str
    entities: list[EntityDelta]
    #: NEW's batches as resolved (rows, digest): its checkpoints once the change is done
    new_batches: dict[str, EntityDigest] = field(default_factory=dict)
    new_entities: list[str] = field(default_factory=list)
    batch_entity: dict[str, str] = field(default_factory=dict)

    def new_totals(self) -> dict[str, EntityDigest]:
        """What each of NEW's entities must hold afterwards (for the verification)."""
        out = {name: EntityDigest() for name in self.new_entities}
        for batch_id, d in self.new_batches.items():
            out[self.batch_entity[batch_id]].add(d.rows, d.digest)
        return out

    @property
    def rows(self) -> int:
        return sum(e.rows for e in self.entities)

    def totals(self) -> dict[str, int]:
        return {kind: sum(len(getattr(e, kind + "s")) for e in self.entities)
                for kind in ("insert", "update", "delete")}

    def summary(self) -> dict[str, Any]:
        """What the evidence report and `--json` say about the change."""
        return {"from_plan_hash": self.from_hash, "to_plan_hash": self.to_hash,
                "totals": self.totals(),
                "entities": {e.entity: e.counts() for e in self.entities if e.rows}}


@dataclass(frozen=True)
class DeltaStep:
    """One checkpointed transaction of the delta: rows of one kind in one entity."""

    id: str
    entity: str
    kind: str  # insert | update | delete
    lines: tuple[bytes, ...]      # insert/update: new lines; delete: old lines
    old_lines: tuple[bytes, ...] = ()  # update: the lines they replace

    @property
    def rows(self) -> int:
        return len(self.lines)


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why NEW cannot be reached from OLD by a delta; empty when it can.

    The values every row is derived from (reference clock, key, tenant, mode) or the shape of
    a table that holds rows change every row or make the old ones unreadable: those changes
    are a coordinated reseed, never a delta (spec session 17 for the reference clock).
    """
    out = []
    for field_name in ("tenant", "tenant_id", "environment", "mode", "reference_datetime"):
        if old[field_name] != new[field_name]:
            out.append(f"{field_name}: {old[field_name]!r} -> {new[field_name]!r}")
    if old["generators"] != new["generators"]:
        out.append(f"generators: {old['generators'].get('version')!r} -> "
                   f"{new['generators'].get('version')!r} (rows made by other generators)")
    runtime = {"version": GENERATOR_VERSION, "data": data_version()}
    if {k: new["generators"].get(k) for k in runtime} != runtime:
        out.append(f"generators: the plan's {new['generators'].get('version')!r} are not this "
                   f"seedc's {GENERATOR_VERSION!r}: recompile both plans with this seedc")
    for key_field in ("ref", "salt_version", "algorithm"):
        if old["keys"][key_field] != new["keys"][key_field]:
            out.append(f"keys.{key_field}: {old['keys'][key_field]!r} -> "
                       f"{new['keys'][key_field]!r}")
    new_entities = {e["name"]: e for e in new["entities"]}
    for entity in old["entities"]:
        if not entity["rows"]:
            continue
        other = new_entities.get(entity["name"])
        if other is None:
            out.append(f"entity {entity['name']} ({entity['rows']} rows) is gone from the model")
        elif other["table"] != entity["table"]:
            out.append(f"entity {entity['name']}: table {entity['table']} -> {other['table']}")
        elif other["columns"] != entity["columns"]:
            out.append(f"entity {entity['name']}: columns of {entity['table']} changed "
                       f"({', '.join(entity['columns'])} -> {', '.join(other['columns'])})")
    return out


def planned_lines(plan: dict[str, Any], program: Program, resolver: PiiResolver,
                  entity: str, seen: dict[str, EntityDigest] | None = None) -> Iterator[bytes]:
    """The entity's rows as resolved COPY lines, batch by batch (each checked on its digest);
    each batch's (rows, digest) is recorded in `seen` when given."""
    for batch in plan["batches"]:
        if batch["entity"] == entity:
            payload = build_payload(plan, program, batch, resolver)
            if seen is not None:
                seen[batch["id"]] = EntityDigest(payload.rows, payload.digest)
            if payload.copy:
                yield from payload.copy[:-1].split(b"\n")


def key_of(line: bytes) -> bytes:
    return line.split(b"\t", 1)[0]


def _changed_columns(columns: list[str], old: bytes, new: bytes) -> list[str]:
    a, b = old.split(b"\t"), new.split(b"\t")
    return [c for i, c in enumerate(columns)
            if (a[i] if i < len(a) else NULL_CELL.encode()) !=
            (b[i] if i < len(b) else NULL_CELL.encode())]


def _signature(batch: dict[str, Any]) -> tuple[str, int, int, str]:
    rng = batch["key_range"]
    return batch["entity"], rng["start"], rng["stop"], batch["rows_digest"]


def changed_entities(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """Entities with a batch that is not in both plans with the same keys and rows."""
    old_sigs = {_signature(b) for b in old["batches"]}
    new_sigs = {_signature(b) for b in new["batches"]}
    return {s[0] for s in old_sigs ^ new_sigs}


def compute_delta(old: dict[str, Any], new: dict[str, Any], key: bytes,
                  checkpoints: dict[str, Any],
                  database: dict[str, dict[bytes, bytes]]) -> Delta:
    """Per entity, the rows that change from OLD to NEW, resolved as the database holds them.

    Why it is cheap: a batch with the same keys and rows digest in both plans is skipped
    (its checkpointed digest carries over); in the other batches rows are compared before PII
    resolution (FPE is deterministic under an unchanged key), only inserted, updated and
    deleted rows are resolved, and an unchanged row's resolved line is the one the database
    holds (`database`: entity -> key -> line, read by the drift check; the rows of the
    entities in `changed_entities`). Cost grows with the changed batches, not the plan.
    """
    old_program, new_program = Program.from_json(old["program"]), Program.from_json(new["program"])
    old_resolver = PiiResolver(key, old["keys"]["algorithm"])
    new_resolver = PiiResolver(key, new["keys"]["algorithm"])
    old_by_sig = {_signature(b): b for b in old["batches"]}
    new_sigs = {_signature(b) for b in new["batches"]}
    result = Delta(old["plan_hash"], new["plan_hash"], [],
                   new_entities=[e["name"] for e in new["entities"]],
                   batch_entity={b["id"]: b["entity"] for b in new["batches"]})
    for batch in new["batches"]:  # unchanged batches: the OLD checkpoint's resolved digest
        same = old_by_sig.get(_signature(batch))
        if same is not None:
            cp = checkpoints[same["id"]]
            result.new_batches[batch["id"]] = EntityDigest(cp.row_count, cp.resolved_digest)
    names = [e["name"] for e in new["entities"]]
    names += [e["name"] for e in old["entities"] if e["name"] not in names and e["rows"]]
    entities = {e["name"]: e for e in [*old["entities"], *new["entities"]]}
    sensitive = sensitive_columns(old["program"], new["program"])
    old_names = {e["name"]: e for e in old["entities"]}
    changed = changed_entities(old, new)
    job = _Job(old, new, old_program, new_program, old_resolver, new_resolver, new_sigs, result)
    for name in names:
        entity = entities[name]
        delta = EntityDelta(name, entity["table"], list(entity["columns"]))
        result.entities.append(delta)
        if name not in changed:
            continue
        by_columns = (name in old_names and name in sensitive
                      and old_names[name]["columns"] == entity["columns"]
                      and entity["columns"][:1] == ["id"] and "id" not in sensitive[name])
        if by_columns:
            job.by_columns(delta, sensitive[name], database.get(name, {}))
        else:
            job.by_rows(delta, database.get(name, {}))
        for old_line, new_line in delta.updates:
            for column in _changed_columns(delta.columns, old_line, new_line):
                delta.changed_columns[column] = delta.changed_columns.get(column, 0) + 1
    return result


@dataclass
class _Job:
    """The two ways of finding one entity's changed rows, sharing the plans' programs."""

    old: dict[str, Any]
    new: dict[str, Any]
    old_program: Program
    new_program: Program
    old_resolver: PiiResolver
    new_resolver: PiiResolver
    new_sigs: set[tuple[str, int, int, str]]
    result: Delta

    def changed_batches(self, plan: dict[str, Any], name: str) -> list[dict[str, Any]]:
        if plan is self.new:
            return [b for b in plan["batches"] if b["entity"] == name
                    and b["id"] not in self.result.new_batches]
        return [b for b in plan["batches"] if b["entity"] == name
                and _signature(b) not in self.new_sigs]

    def digest_batches(self, batches: list[tuple[str, list[bytes]]],
                       lines: dict[bytes, bytes]) -> None:
        """Each changed NEW batch's (rows, digest) from its rows' resolved lines."""
        for batch_id, keys in batches:
            acc = EntityDigest()
            for k in keys:
                line = lines.get(k)
                if line is not None:  # else drift: the drift check refuses before writing
                    acc.add(1, line_hash(line))
            self.result.new_batches[batch_id] = acc

    def by_rows(self, delta: EntityDelta, held: dict[bytes, bytes]) -> None:
        """Whole rows of every changed batch, each batch checked on its digest (an entity new
        in NEW, a changed key column, or a changed entity setting)."""
        name, columns = delta.entity, delta.columns
        before: dict[str, list[str]] = {}
        if any(e["name"] == name for e in self.old["entities"]):
            for batch in self.changed_batches(self.old, name):
                for row in batch_rows(self.old, self.old_program, batch):
                    before[row[0]] = row
        inserted: list[list[str]] = []
        updated: list[tuple[list[str], list[str]]] = []
        batches: list[tuple[str, list[bytes]]] = []
        for batch in self.changed_batches(self.new, name):
            rows = batch_rows(self.new, self.new_program, batch)
            batches.append((batch["id"], [row[0].encode() for row in rows]))
            for row in rows:
                was = before.pop(row[0], None)
                if was is None:
                    inserted.append(row)
                elif was != row:
                    updated.append((was, row))
        delta.inserts = resolve_rows(inserted, columns, self.new_resolver)
        new_updates = resolve_rows([n for _, n in updated], columns, self.new_resolver)
        old_updates = resolve_rows([o for o, _ in updated], columns, self.old_resolver)
        delta.updates = list(zip(old_updates, new_updates, strict=True))
        delta.deletes = resolve_rows(list(before.values()), columns, self.old_resolver)
        lines = dict(held)
        lines.update((key_of(line), line) for line in [*delta.inserts, *new_updates])
        self.digest_batches(batches, lines)

    def by_columns(self, delta: EntityDelta, sensitive: set[str],
                   held: dict[bytes, bytes]) -> None:
        """Only the columns that can differ, for the keys in both plans; whole rows only for
        inserted and deleted keys. A changed row's other cells are the ones the database
        holds (equal in both plans by `sensitive_columns`)."""
        name, columns = delta.entity, delta.columns
        old_keys = _keys(self.old_program, name, self.changed_batches(self.old, name))
        batches = [(b["id"], self.new_program.keys_for_range(
            name, b["key_range"]["start"], b["key_range"]["stop"]))
            for b in self.changed_batches(self.new, name)]
        new_keys = np.concatenate([k for _, k in batches]) if batches else \
            np.zeros(0, dtype=np.uint64)
        in_old = np.isin(new_keys, old_keys)
        common, inserted = new_keys[in_old], new_keys[~in_old]
        deleted = old_keys[~np.isin(old_keys, new_keys)]
        delta.inserts = resolve_rows(_rows(self.new_program, name, inserted, columns),
                                     columns, self.new_resolver)
        delta.deletes = resolve_rows(_rows(self.old_program, name, deleted, columns),
                                     columns, self.old_resolver)
        ids = _column_cells(self.new_program, name, new_keys, ["id"])[0]
        id_of = dict(zip(new_keys.tolist(), (i.encode() for i in ids), strict=True))
        lines = dict(held)
        lines.update((key_of(line), line) for line in delta.inserts)
        picked = [c for c in columns if c in sensitive]
        if picked and len(common):
            new_cells = _column_cells(self.new_program, name, common, picked)
            old_cells = _column_cells(self.old_program, name, common, picked)
            changed = [i for i in range(len(common))
                       if any(n[i] != o[i] for n, o in zip(new_cells, old_cells, strict=True))]
            positions = [columns.index(c) for c in picked]
            keys = common.tolist()
            new_part = resolve_rows([[col[i] for col in new_cells] for i in changed], picked,
                                    self.new_resolver)
            old_part = resolve_rows([[col[i] for col in old_cells] for i in changed], picked,
                                    self.old_resolver)
            for i, now, was in zip(changed, new_part, old_part, strict=True):
                line = held.get(id_of[keys[i]])
                if line is None:
                    continue  # drift: the drift check refuses before anything is written
                new_line = _with_cells(line, positions, now)
                delta.updates.append((_with_cells(line, positions, was), new_line))
                lines[id_of[keys[i]]] = new_line
        self.digest_batches([(batch_id, [id_of[k] for k in keys_.tolist()])
                             for batch_id, keys_ in batches], lines)


def _keys(program: Program, name: str, batches: list[dict[str, Any]]) -> np.ndarray:
    parts = [program.keys_for_range(name, b["key_range"]["start"], b["key_range"]["stop"])
             for b in batches]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _column_cells(program: Program, name: str, keys: np.ndarray,
                  wanted: list[str]) -> list[list[str]]:
    """COPY cells of the wanted stored columns (in `wanted` order) for these row keys."""
    ctx = BatchContext(program, name, keys)
    by_name = {c[0]: c for c in ctx.entity.columns}
    out = []
    for column in wanted:
        _, sql_type, nullable, _expr = by_name[column]
        out.append(column_cells(ctx.column_value(column), sql_type, nullable, ctx.n))
    return out


def _rows(program: Program, name: str, keys: np.ndarray, columns: list[str]
          ) -> list[list[str]]:
    if not len(keys):
        return []
    return [list(row) for row in zip(*_column_cells(program, name, keys, columns), strict=True)]


def _with_cells(line: bytes, positions: list[int], part: bytes) -> bytes:
    """A COPY line with the cells at `positions` replaced by those of `part` (same order)."""
    cells = line.split(b"\t")
    for position, cell in zip(positions, part.split(b"\t"), strict=True):
        cells[position] = cell
    return b"\t".join(cells)


def delta_steps(delta: Delta) -> list[DeltaStep]:
    """The delta as checkpointed steps, in foreign-key-safe order.

    Step ids carry the target plan's hash, so the progress of one change can never be taken
    for another's.
    """
    tag = delta.to_hash.removeprefix("sha256:")[:16]
    steps: list[DeltaStep] = []

    def add(entity: str, kind: str, lines: list[bytes], old: list[bytes] | None = None) -> None:
        for start in range(0, len(lines), STEP_ROWS):
            steps.append(DeltaStep(
                f"{tag}-{len(steps) + 1:05d}-{kind}-{entity}", entity, kind,
                tuple(lines[start:start + STEP_ROWS]),
                tuple(old[start:start + STEP_ROWS]) if old is not None else ()))

    for e in delta.entities:
        add(e.entity, "insert", e.inserts)
    for e in delta.entities:
        add(e.entity, "update", [n for _, n in e.updates], [o for o, _ in e.updates])
    for e in reversed(delta.entities):
        add(e.entity, "delete", e.deletes)
    return steps


def step_effect(step: DeltaStep) -> EntityDigest:
    """What a step does to its entity's multiset digest (row count and digest, mod 2**128)."""
    plus = sum(line_hash(line) for line in step.lines) & MASK
    if step.kind == "insert":
        return EntityDigest(step.rows, plus)
    minus = sum(line_hash(line) for line in (step.old_lines or step.lines)) & MASK
    if step.kind == "delete":
        return EntityDigest(-step.rows, (-minus) & MASK)
    return EntityDigest(0, (plus - minus) & MASK)
