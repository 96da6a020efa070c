"""The interpreter of a plan's generator program: column expressions over a batch of keys.

A program is plain JSON (nested lists) that the compiler lowers from the expression
language; this module gives it meaning. Every value is a pure function of (namespace, entity,
row key, column), so the compiler and the runtime, given the same plan, produce the same rows.

Row keys: an entity with a fixed `count` has keys 0..count-1 (its ordinals). An entity that
`expand`s from a parent has, per parent row, keys `parent_key << 20 | index`.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from seedc.program import checked
from seedc.program.operators import binary, choose, logical_not, negate
from seedc.program.registry import FUNCTIONS
from seedc.program.rng import jump_bucket, mix64, stream_seed, uuid5_many
from seedc.program.values import ProgramError, Vec, broadcast, record_field

__all__ = [
    "EXPAND_SHIFT",
    "VIRTUAL",
    "BatchContext",
    "EntityProgram",
    "Program",
    "evaluate",
    "tenant_uuid",
]

EXPAND_SHIFT = 20
VIRTUAL = "virtual"  # the type of a column that is computed for others but never written
SEEDC_NAMESPACE = uuid.UUID("6f1c54a2-3c53-5d1e-9b0a-5eedc0000001")


def tenant_uuid(environment: str, tenant: str) -> str:
    """The tenant's id: UUIDv5 from environment and slug, never from PII (session 4)."""
    return str(uuid.uuid5(SEEDC_NAMESPACE, f"tenant/{environment}/{tenant}"))


@dataclass(frozen=True)
class EntityProgram:
    """One entity of the program: how many rows, keyed how, and its column expressions."""

    name: str
    table: str
    columns: tuple[tuple[str, str, bool, Any], ...]  # (name, sql type, nullable, expression)
    count: int | None = None
    parent: str | None = None
    pick: str | None = None  # how a counted child picks its parent: consistent | round_robin
    expand_count: Any = None  # expression evaluated on the parent: rows per parent
    expand_max: int = 0
    states: tuple[tuple[str, int], ...] = ()  # (state, weight in basis points)
    happy_state: str | None = None

    @property
    def column_index(self) -> dict[str, int]:
        return {c[0]: i for i, c in enumerate(self.columns)}

    @classmethod
    def from_json(cls, name: str, raw: dict[str, Any]) -> EntityProgram:
        expand = raw.get("expand")
        return cls(
            name=name,
            table=raw["table"],
            columns=tuple(
                (c["name"], c["type"], bool(c["nullable"]), c["expr"]) for c in raw["columns"]
            ),
            count=raw.get("count"),
            parent=raw.get("parent"),
            pick=raw.get("pick"),
            expand_count=expand["count"] if expand else None,
            expand_max=expand["max"] if expand else 0,
            states=tuple((s, int(w)) for s, w in raw.get("states", [])),
            happy_state=raw.get("happy_state"),
        )


class BoundedCache(OrderedDict[Any, Any]):
    """Least-recently-set entries dropped past `limit`: memory stays flat in plan size.

    Holds values that are pure functions of their key (a row's loan quote), so a hit and a
    recomputation give the same bytes; it only saves time when a batch's children follow it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class Program:
    """All entities of one plan plus the namespace every random stream is keyed by."""

    environment: str
    tenant: str
    reference_datetime: str
    tenant_values: dict[str, str]
    entities: dict[str, EntityProgram]
    official_routine: Callable[[Any], Any] | None = field(default=None, repr=False)
    cache: BoundedCache = field(default_factory=lambda: BoundedCache(2048), repr=False)
    _seeds: dict[tuple[str, ...], np.uint64] = field(default_factory=dict, repr=False)
    _namespaces: dict[str, uuid.UUID] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Program:
        return cls(
            environment=raw["environment"],
            tenant=raw["tenant"],
            reference_datetime=raw["reference_datetime"],
            tenant_values=dict(raw["tenant_values"]),
            entities={k: EntityProgram.from_json(k, v) for k, v in raw["entities"].items()},
        )

    @property
    def reference(self) -> datetime:
        return datetime.strptime(self.reference_datetime, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    def seed(self, entity: str, column: str, site: str) -> np.uint64:
        """Stream seed for one call site of one column of one entity of this tenant."""
        key = (entity, column, site)
        if key not in self._seeds:
            self._seeds[key] = stream_seed(self.environment, self.tenant, entity, column, site)
        return self._seeds[key]

    def namespace(self, entity: str) -> uuid.UUID:
        """UUIDv5 namespace of an entity: tenant + environment + entity (session 4)."""
        if entity not in self._namespaces:
            self._namespaces[entity] = uuid.uuid5(
                SEEDC_NAMESPACE, f"entity/{self.environment}/{self.tenant}/{entity}"
            )
        return self._namespaces[entity]

    def entity(self, name: str) -> EntityProgram:
        try:
            return self.entities[name]
        except KeyError:
            raise ProgramError(f"unknown entity {name!r}") from None

    def expand_counts(self, entity: str, start: int, stop: int) -> np.ndarray:
        """Rows per parent of an expanded entity, for parent ordinals in [start, stop)."""
        ent = self.entity(entity)
        assert ent.parent is not None
        assert ent.expand_count is not None
        parents = np.arange(start, stop, dtype=np.uint64)
        counts_vec = evaluate(ent.expand_count, BatchContext(self, ent.parent, parents, "_expand"))
        if counts_vec.kind != "int":
            raise ProgramError(f"{entity}: rows per parent must be an integer, "
                               f"got {counts_vec.kind}")
        counts = broadcast(counts_vec, len(parents)).astype(np.int64)
        if (counts < 0).any() or (counts > ent.expand_max).any():
            raise ProgramError(
                f"{entity}: rows per parent must be within 0..{ent.expand_max}"
            )
        return counts

    def keys_for_range(self, entity: str, start: int, stop: int) -> np.ndarray:
        """Row keys of `entity` for ordinals (or, for expansions, parent ordinals) in range."""
        ent = self.entity(entity)
        parents = np.arange(start, stop, dtype=np.uint64)
        if ent.expand_count is None:
            return parents
        counts = self.expand_counts(entity, start, stop)
        total = int(counts.sum())
        base = np.repeat(parents << np.uint64(EXPAND_SHIFT), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        index = np.arange(total, dtype=np.int64) - starts
        return base + index.astype(np.uint64)


class BatchContext:
    """Evaluation of one entity over one array of keys, memoising columns within the batch."""

    def __init__(self, program: Program, entity: str, keys: np.ndarray, column: str = "") -> None:
        self.program = program
        self.entity = program.entity(entity)
        self.keys = keys
        self.n = len(keys)
        self.column = column
        self._columns: dict[str, Vec] = {}
        self._evaluating: set[str] = set()
        self.memo: dict[int, Vec] = {}
        self.shared: dict[Any, tuple[BatchContext, np.ndarray]] = {}

    def for_column(self, column: str) -> BatchContext:
        """The same batch, with random streams keyed by `column`."""
        ctx = BatchContext.__new__(BatchContext)
        ctx.__dict__.update(self.__dict__)
        ctx.column = column
        ctx.memo = {}
        return ctx

    def eval(self, node: Any) -> Vec:
        """Evaluate an argument node in this batch (what generators call)."""
        return evaluate(node, self)

    def column_value(self, name: str) -> Vec:
        """`row.<name>`: a column of the same row, evaluated once per batch."""
        if name in self._columns:
            return self._columns[name]
        idx = self.entity.column_index.get(name)
        if idx is None:
            raise ProgramError(f"{self.entity.name} has no column {name!r}")
        if name in self._evaluating:
            raise ProgramError(f"{self.entity.name}.{name} refers to itself through other columns")
        self._evaluating.add(name)
        try:
            value = evaluate(self.entity.columns[idx][3], self.for_column(name))
        finally:
            self._evaluating.discard(name)
        self._columns[name] = value
        return value

    def random_bits(self, site: str) -> np.ndarray:
        """64 random bits per row for one call site, a pure function of the row key."""
        seed = self.program.seed(self.entity.name, self.column, site)
        return mix64(seed, self.keys)

    @property
    def ordinals(self) -> np.ndarray:
        return self.keys.astype(np.int64)

    def logical_keys(self) -> list[bytes]:
        """The logical key of each row, the UUIDv5 name: `7` or, for expansions, `7/2`."""
        keys = self.keys.tolist()
        if self.entity.expand_count is None:
            return [b"%d" % k for k in keys]
        mask = (1 << EXPAND_SHIFT) - 1
        return [b"%d/%d" % (k >> EXPAND_SHIFT, k & mask) for k in keys]

    def parent_keys(self) -> np.ndarray:
        """Keys of each row's parent: by expansion, consistent hash or round robin."""
        ent = self.entity
        if ent.parent is None:
            raise ProgramError(f"{ent.name} has no parent")
        if ent.expand_count is not None:
            return self.keys >> np.uint64(EXPAND_SHIFT)
        parent_count = self.program.entity(ent.parent).count or 0
        if parent_count <= 0:
            raise ProgramError(f"{ent.name}: parent {ent.parent} has no rows")
        if ent.pick == "round_robin":  # balanced, but moves most references on growth
            return (self.keys % np.uint64(parent_count)).astype(np.uint64)
        # consistent (default; `hash` is its old name): growth moves the fewest references
        bits = mix64(self.program.seed(ent.name, "_parent", "pick"), self.keys)
        return jump_bucket(bits, parent_count).astype(np.uint64)

    def index_in_parent(self) -> np.ndarray:
        if self.entity.expand_count is None:
            raise ProgramError(f"{self.entity.name} is not expanded from a parent")
        return (self.keys & np.uint64((1 << EXPAND_SHIFT) - 1)).astype(np.int64)

    def uuid_of_keys(self) -> np.ndarray:
        return uuid5_many(self.program.namespace(self.entity.name), self.logical_keys())


def row_column(ctx: BatchContext, entity: str, keys: np.ndarray, column: str) -> Vec:
    """A column of another entity (a parent, or a picked row) at the given keys."""
    cache_key = (entity, keys.tobytes())
    hit = ctx.shared.get(cache_key)
    if hit is None:
        unique, inverse = np.unique(keys, return_inverse=True)
        hit = (BatchContext(ctx.program, entity, unique), inverse)
        ctx.shared[cache_key] = hit
    other, inverse = hit
    return _take(other.column_value(column), inverse)


def _take(value: Vec, index: np.ndarray) -> Vec:
    """A vector evaluated on unique keys, spread back to every row that refers to them."""
    if value.kind == "rec":
        return Vec("rec", {k: _take(v, index) for k, v in value.data.items()})
    if isinstance(value.data, np.ndarray):
        return Vec(value.kind, value.data[index], scale=value.scale, domain=value.domain,
                   entity=value.entity)
    return value


def evaluate(node: Any, ctx: BatchContext) -> Vec:
    """Evaluate one expression node over the batch."""
    tag = node[0]
    handler = _NODES.get(tag)
    if handler is None:
        raise ProgramError(f"unknown program node {tag!r}")
    return handler(node, ctx)


_MAX_LITERAL_SCALE = 18  # an int64 holds 18 decimal digits


def _lit(node: Any, ctx: BatchContext) -> Vec:
    kind, value = node[1], node[2] if len(node) > 2 else None
    if kind == "int":
        return Vec("int", checked.check_int64(int(node[2]), "integer literal"))
    if kind == "dec":
        dec = Decimal(str(value))
        exponent = dec.as_tuple().exponent
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        if scale > _MAX_LITERAL_SCALE:
            raise ProgramError(f"decimal literal {value} has more than {_MAX_LITERAL_SCALE} "
                               "decimal places")
        return Vec("dec", checked.check_int64(int(dec.scaleb(scale)), "decimal literal"),
                   scale=scale)
    if kind == "date":
        return Vec("date", int(np.datetime64(value, "D").astype(np.int64)))
    if kind == "null":
        return Vec("null", None)
    return Vec(kind, value)


def _col(node: Any, ctx: BatchContext) -> Vec:
    return ctx.column_value(node[1])


def _tenant(node: Any, ctx: BatchContext) -> Vec:
    name = node[1]
    if name not in ctx.program.tenant_values:
        raise ProgramError(f"tenant has no field {name!r}")
    kind = "uuid" if name == "id" else "str"
    return Vec(kind, ctx.program.tenant_values[name])


def _parent(node: Any, ctx: BatchContext) -> Vec:
    parent = ctx.entity.parent
    if parent is None:
        raise ProgramError(f"{ctx.entity.name} has no parent to refer to")
    return Vec("row", ctx.parent_keys(), entity=parent)


def _parent_of(node: Any, ctx: BatchContext) -> Vec:
    row = evaluate(node[1], ctx)
    if row.kind != "row":
        raise ProgramError("`.parent` applies to a row")
    inner = BatchContext(ctx.program, row.entity, row.data)
    parent = inner.entity.parent
    if parent is None:
        raise ProgramError(f"{row.entity} has no parent to refer to")
    return Vec("row", inner.parent_keys(), entity=parent)


def _get(node: Any, ctx: BatchContext) -> Vec:
    base = evaluate(node[1], ctx)
    name = node[2]
    if base.kind == "row":
        return row_column(ctx, base.entity, base.data, name)
    if base.kind == "rec":
        return record_field(base, name)
    raise ProgramError(f"cannot take .{name} of a {base.kind} value")


def _call(node: Any, ctx: BatchContext) -> Vec:
    name, args, kwargs, site = node[1], node[2], node[3], node[4]
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise ProgramError(f"unknown generator {name!r}")
    key = id(node)
    if key in ctx.memo:
        return ctx.memo[key]
    value = fn(ctx, args, kwargs, str(site))
    ctx.memo[key] = value
    return value


def _unary(node: Any, ctx: BatchContext) -> Vec:
    value = evaluate(node[2], ctx)
    return negate(value) if node[1] == "-" else logical_not(value)


def _binary(node: Any, ctx: BatchContext) -> Vec:
    return binary(node[1], evaluate(node[2], ctx), evaluate(node[3], ctx), ctx.n)


def _if(node: Any, ctx: BatchContext) -> Vec:
    return choose(evaluate(node[1], ctx), evaluate(node[2], ctx), evaluate(node[3], ctx), ctx.n)


_NODES: dict[str, Callable[[Any, BatchContext], Vec]] = {
    "lit": _lit,
    "col": _col,
    "tenant": _tenant,
    "parent": _parent,
    "parent_of": _parent_of,
    "get": _get,
    "call": _call,
    "unary": _unary,
    "bin": _binary,
    "if": _if,
}
