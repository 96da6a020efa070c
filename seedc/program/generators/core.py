"""Generators of keys, numbers, picks, text and dates: the language's core vocabulary.

Randomness only through `ctx.random_bits(site)`, so a value depends on nothing but (tenant,
environment, entity, row key, column, call site). Arithmetic that could leave int64 is
bounds-checked (`seedc.program.checked`) and string sizes are capped (`MAX_TEXT`), so a
value that cannot be stored is refused at compile rather than wrapped (issue 9).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from seedc.program import checked
from seedc.program.generators.common import (
    GeneratorSet,
    eval_args,
    list_values,
    literal_int,
)
from seedc.program.operators import rescale
from seedc.program.rng import jump_bucket, mix64, uniform_below
from seedc.program.values import ProgramError, Vec, broadcast, object_array

if TYPE_CHECKING:
    from seedc.program.evaluate import BatchContext

__all__ = ["GENERATORS", "MAX_ROUND_SCALE", "MAX_TEXT"]

MAX_TEXT = 10_000
"""The longest text a generator makes, and the largest string-size argument (`lpad` width):
refused before anything is allocated, so `lpad(x, 100000000, "0")` cannot exhaust memory."""
MAX_ROUND_SCALE = 18  # an int64 holds 18 decimal digits

GENERATORS = GeneratorSet()
generator = GENERATORS.add


# --- keys and sequences -------------------------------------------------------------------


@generator("key_uuid", doc="UUIDv5 of this row from its logical key (tenant/env/entity namespace)")
def _key_uuid(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("uuid", ctx.uuid_of_keys())


@generator("ordinal", doc="0-based ordinal of the row (the parent's, for expanded rows)")
def _ordinal(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    if ctx.entity.expand_count is not None:
        return Vec("int", (ctx.keys >> np.uint64(20)).astype(np.int64))
    return Vec("int", ctx.ordinals)


@generator("index", doc="0-based position of an expanded row within its parent")
def _index(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("int", ctx.index_in_parent())


@generator("seq", 0, 1, doc="start + ordinal (or + index for expanded rows); start defaults to 1")
def _seq(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    start = literal_int(ctx.eval(args[0]), "seq(start)") if args else 1
    base = ctx.index_in_parent() if ctx.entity.expand_count is not None else ctx.ordinals
    return Vec("int", checked.add(base, start, "seq()"))


# --- numbers --------------------------------------------------------------------------------


@generator("int_range", 2, 2, doc="uniform integer in [lo, hi]")
def _int_range(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = eval_args(ctx, args)
    if lo.kind != "int" or hi.kind != "int":
        raise ProgramError("int_range(lo, hi) takes integers")
    lo_a, hi_a = broadcast(lo, ctx.n), broadcast(hi, ctx.n)
    if (hi_a < lo_a).any():
        raise ProgramError("int_range(lo, hi) needs lo <= hi")
    return Vec("int", _uniform_between(ctx, lo_a, hi_a, site))


def _uniform_between(ctx: BatchContext, lo: np.ndarray, hi: np.ndarray, site: str) -> np.ndarray:
    """Uniform integers in [lo, hi], any int64 bounds, never wrapping (issue 9).

    In two's complement, hi - lo and lo + r taken modulo 2**64 are exact whenever the true
    result lies in range, which it does here (0 <= hi - lo < 2**64 and lo <= lo + r <= hi).
    """
    lo_u = np.asarray(lo, dtype=np.int64).view(np.uint64)
    hi_u = np.asarray(hi, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        span = hi_u - lo_u + np.uint64(1)  # 0 stands for the whole 2**64 range
        bits = ctx.random_bits(site)
        whole = span == 0
        r = np.where(whole, bits, bits % np.where(whole, np.uint64(1), span))
        return (lo_u + r).view(np.int64)


def _dec_uniform(ctx: BatchContext, lo: Vec, hi: Vec, scale: int, site: str) -> Vec:
    def scaled(v: Vec) -> Any:
        if v.kind == "int":
            return rescale(v.data, 0, scale)
        if v.kind == "dec":
            return rescale(v.data, v.scale, scale)
        raise ProgramError("range bounds must be numbers")

    lo_a = broadcast(Vec("int", scaled(lo)), ctx.n)
    hi_a = broadcast(Vec("int", scaled(hi)), ctx.n)
    if (hi_a < lo_a).any():
        raise ProgramError("range(lo, hi) needs lo <= hi")
    return Vec("dec", _uniform_between(ctx, lo_a, hi_a, site), scale=scale)


@generator("dec_range", 2, 2, doc="uniform exact decimal in [lo, hi] at the bounds' scale")
def _dec_range(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = eval_args(ctx, args)
    return _dec_uniform(ctx, lo, hi, max(lo.scale, hi.scale), site)


@generator("money", 2, 2, doc="uniform amount in [lo, hi] in cents (scale 2)")
def _money(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = eval_args(ctx, args)
    return _dec_uniform(ctx, lo, hi, 2, site)


@generator("round", 2, 2, doc="round(x, scale): half-even rounding of a decimal")
def _round(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    x = ctx.eval(args[0])
    scale = literal_int(ctx.eval(args[1]), "round(x, scale)")
    if not 0 <= scale <= MAX_ROUND_SCALE:
        raise ProgramError(f"round(x, scale) needs 0 <= scale <= {MAX_ROUND_SCALE}, got {scale}")
    if x.kind == "int":
        return Vec("dec", rescale(x.data, 0, scale), scale=scale)
    if x.kind != "dec":
        raise ProgramError(f"round() takes a number, got {x.kind}")
    return Vec("dec", rescale(x.data, x.scale, scale), scale=scale)


@generator("chance", 1, 1, doc="true with probability p (a decimal between 0 and 1)")
def _chance(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    p = ctx.eval(args[0])
    if p.kind not in ("dec", "int") or not p.is_scalar:
        raise ProgramError("chance(p) takes a literal probability")
    exact = Decimal(int(p.data)).scaleb(-p.scale) if p.kind == "dec" else Decimal(int(p.data))
    if not 0 <= exact <= 1:
        raise ProgramError(f"chance(p) needs 0 <= p <= 1, got {exact}")
    basis = int(rescale(p.data, p.scale, 6)) if p.kind == "dec" else int(p.data) * 10**6
    bits = uniform_below(ctx.random_bits(site), 10**6)
    return Vec("bool", bits < basis)


# --- picks ----------------------------------------------------------------------------------


def _literal_vec(items: list[Any]) -> tuple[str, np.ndarray, int]:
    kinds = {i[1] for i in items}
    if len(kinds) != 1:
        raise ProgramError("list elements must all have the same type")
    kind = kinds.pop()
    if kind == "dec":
        decs = [Decimal(i[2]) for i in items]
        scale = max(-int(d.as_tuple().exponent) for d in decs)
        scaled = [checked.check_int64(int(d.scaleb(scale)), "list element") for d in decs]
        return kind, np.array(scaled, dtype=np.int64), scale
    if kind == "str":
        return kind, object_array([str(i[2]) for i in items]), 0
    if kind == "int":
        ints = [checked.check_int64(int(i[2]), "list element") for i in items]
        return kind, np.array(ints, dtype=np.int64), 0
    if kind == "bool":
        return kind, np.array([bool(i[2]) for i in items], dtype=bool), 0
    if kind == "date":
        days = np.array([np.datetime64(i[2], "D") for i in items]).astype(np.int64)
        return kind, days, 0
    raise ProgramError(f"a list of {kind} values cannot be picked from")


def _weights(node: Any, count: int) -> tuple[np.ndarray, int]:
    items = list_values(node, "weights")
    if len(items) != count:
        raise ProgramError(f"weights has {len(items)} entries for {count} choices")
    basis = []
    for item in items:
        w = Decimal(str(item[2]))
        if w < 0:
            raise ProgramError("weights must not be negative")
        basis.append(int((w * 10**6).to_integral_value()))
    total = sum(basis)
    if total <= 0:
        raise ProgramError("weights must not all be zero")
    return np.cumsum(np.array(basis, dtype=np.int64)), total


@generator("pick", 1, 1, doc="uniform choice from a list literal")
def _pick(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    kind, values, scale = _literal_vec(list_values(args[0], "pick(list)"))
    idx = uniform_below(ctx.random_bits(site), len(values))
    return Vec(kind, values[idx], scale=scale)


@generator("cycle", 1, 1, doc="list element at ordinal mod length: catalogs with fixed values")
def _cycle(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    kind, values, scale = _literal_vec(list_values(args[0], "cycle(list)"))
    base = ctx.index_in_parent() if ctx.entity.expand_count is not None else ctx.ordinals
    return Vec(kind, values[base % len(values)], scale=scale)


@generator("weighted_pick", 2, 2, doc="choice from a list literal with a list of weights")
def _weighted_pick(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    kind, values, scale = _literal_vec(list_values(args[0], "weighted_pick(list, weights)"))
    cumulative, total = _weights(args[1], len(values))
    draw = uniform_below(ctx.random_bits(site), int(total))
    idx = np.searchsorted(cumulative, draw, side="right")
    return Vec(kind, values[idx], scale=scale)


@generator("state", doc="lifecycle state: the happy state in baseline, else the manifest's mix")
def _state(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    ent = ctx.entity
    if not ent.states:
        if ent.happy_state is None:
            raise ProgramError(f"{ent.name} declares no states")
        return Vec("str", ent.happy_state)
    names = np.empty(len(ent.states), dtype=object)
    names[:] = [s for s, _ in ent.states]
    cumulative = np.cumsum(np.array([w for _, w in ent.states], dtype=np.int64))
    bits = mix64(ctx.program.seed(ent.name, "_state", "state"), ctx.keys)
    draw = uniform_below(bits, int(cumulative[-1]))
    return Vec("str", names[np.searchsorted(cumulative, draw, side="right")])


@generator("pick_row", 1, 1, doc="a uniformly picked row of another counted entity (a jump "
           "consistent hash: growing it moves the fewest picks); use .column")
def _pick_row(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    node = args[0]
    if node[0] != "lit" or node[1] != "str":
        raise ProgramError("pick_row(entity) takes the entity name as a string")
    target = ctx.program.entity(node[2])
    if target.count is None or target.count <= 0:
        raise ProgramError(f"pick_row({node[2]!r}) needs a counted entity with rows")
    # a jump hash, not `bits % count`: growing the target moves the fewest picks (issue 12)
    keys = jump_bucket(ctx.random_bits(site), target.count).astype(np.uint64)
    return Vec("row", keys, entity=target.name)


# --- text -----------------------------------------------------------------------------------


def _text(v: Vec, n: int) -> np.ndarray:
    if v.kind in ("str", "uuid"):
        return broadcast(v, n)
    if v.kind == "int":
        return broadcast(v, n).astype(str).astype(object)
    if v.kind == "dec":
        from seedc.program.cells import dec_text

        return np.array(dec_text(broadcast(v, n), v.scale), dtype=object)
    raise ProgramError(f"cannot make text of a {v.kind}")


def _capped(texts: list[str], what: str) -> np.ndarray:
    """Case mapping can lengthen a text (ß -> SS): still at most `MAX_TEXT` characters."""
    longest = max((len(x) for x in texts), default=0)
    if longest > MAX_TEXT:
        raise ProgramError(f"{what}() made a text of {longest} characters; texts are at most "
                           f"{MAX_TEXT}")
    return np.array(texts, dtype=object)


@generator("text", 1, 1, doc="the text form of a number or string")
def _text_fn(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _text(ctx.eval(args[0]), ctx.n))


@generator("concat", 1, 16, doc="concatenation of texts and numbers")
def _concat(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    parts = [_text(v, ctx.n) for v in eval_args(ctx, args)]
    longest = sum(max((len(x) for x in part.tolist()), default=0) for part in parts)
    if longest > MAX_TEXT:
        raise ProgramError(f"concat() would make a text of {longest} characters; texts are at "
                           f"most {MAX_TEXT}")
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return Vec("str", out)


@generator("lpad", 3, 3, doc="lpad(text, width, fill): left-pad to a width")
def _lpad(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    value, width, fill = eval_args(ctx, args)
    w = literal_int(width, "lpad width")
    if not 0 <= w <= MAX_TEXT:
        raise ProgramError(f"lpad width {w} is outside 0..{MAX_TEXT} (the longest text a "
                           "generator makes)")
    if fill.kind != "str" or len(fill.data) != 1:
        raise ProgramError("lpad fill must be one character")
    texts = _text(value, ctx.n)
    return Vec("str", np.array([t.rjust(w, fill.data) for t in texts], dtype=object))


@generator("upper", 1, 1, doc="upper case")
def _upper(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _capped([t.upper() for t in _text(ctx.eval(args[0]), ctx.n)], "upper"))


@generator("lower", 1, 1, doc="lower case")
def _lower(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _capped([t.lower() for t in _text(ctx.eval(args[0]), ctx.n)], "lower"))


# --- dates (anchored on reference_datetime, never the clock) ---------------------------------


@generator("ref_date", doc="the manifest's reference date (UTC)")
def _ref_date(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    ref = ctx.program.reference
    return Vec("date", int(np.datetime64(ref.date(), "D").astype(np.int64)))


@generator("ref_ts", doc="the manifest's reference datetime (UTC)")
def _ref_ts(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("ts", int(ctx.program.reference.timestamp()))


def _duration(name: str, kind: str, factor: int = 1) -> Callable[..., Vec]:
    def fn(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
        v = ctx.eval(args[0])
        if v.kind != "int":
            raise ProgramError(f"{name}(n) takes an integer")
        return Vec(kind, checked.mul(v.data, factor, f"{name}(n)"))

    return fn


generator("days", 1, 1, doc="a duration of n days")(_duration("days", "days"))
generator("months", 1, 1, doc="a duration of n calendar months (month-end rule)")(
    _duration("months", "months")
)
generator("hours", 1, 1, doc="a duration of n hours")(_duration("hours", "seconds", 3600))
generator("minutes", 1, 1, doc="a duration of n minutes")(_duration("minutes", "seconds", 60))
generator("seconds", 1, 1, doc="a duration of n seconds")(_duration("seconds", "seconds"))


@generator("date_of", 1, 1, doc="the UTC date of a timestamp")
def _date_of(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    v = ctx.eval(args[0])
    if v.kind != "ts":
        raise ProgramError("date_of() takes a timestamp")
    return Vec("date", np.floor_divide(v.data, 86_400))
