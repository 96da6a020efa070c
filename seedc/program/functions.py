"""The registry of generators callable from column expressions.

Each generator takes the batch context, its argument nodes and its call-site id, and returns
one typed vector for the whole batch. Randomness only through `ctx.random_bits(site)`, so a
value depends on nothing but (tenant, environment, entity, row key, column, call site).
`SIGNATURES` is what the compiler checks calls against before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from seedc.program import data
from seedc.program.evaluate import FUNCTIONS, BatchContext, evaluate
from seedc.program.operators import rescale
from seedc.program.rng import mix64, uniform_below
from seedc.program.values import ProgramError, Vec, broadcast

__all__ = ["SIGNATURES", "record_field"]

# name -> (min positional args, max positional args, allowed keyword args, doc)
SIGNATURES: dict[str, tuple[int, int, frozenset[str], str]] = {}


def generator(
    name: str, min_args: int = 0, max_args: int = 0, kwargs: tuple[str, ...] = (), doc: str = ""
) -> Callable[[Callable[..., Vec]], Callable[..., Vec]]:
    """Register a generator under `name` with its arity, for the compiler's checks."""

    def wrap(fn: Callable[..., Vec]) -> Callable[..., Vec]:
        FUNCTIONS[name] = fn
        SIGNATURES[name] = (min_args, max_args, frozenset(kwargs), doc or (fn.__doc__ or ""))
        return fn

    return wrap


def _args(ctx: BatchContext, nodes: list[Any]) -> list[Vec]:
    return [evaluate(n, ctx) for n in nodes]


def _literal_int(v: Vec, what: str) -> int:
    if v.kind != "int" or not v.is_scalar:
        raise ProgramError(f"{what} must be a literal integer")
    return int(v.data)


def _list_values(node: Any, what: str) -> list[Any]:
    if not (isinstance(node, list) and node and node[0] == "list"):
        raise ProgramError(f"{what} must be a list literal like [\"a\", \"b\"]")
    items = node[1]
    if not items or any(i[0] != "lit" for i in items):
        raise ProgramError(f"{what} must be a non-empty list of literals")
    return list(items)


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
    start = _literal_int(evaluate(args[0], ctx), "seq(start)") if args else 1
    base = ctx.index_in_parent() if ctx.entity.expand_count is not None else ctx.ordinals
    return Vec("int", base + start)


# --- numbers --------------------------------------------------------------------------------


@generator("int_range", 2, 2, doc="uniform integer in [lo, hi]")
def _int_range(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = _args(ctx, args)
    if lo.kind != "int" or hi.kind != "int":
        raise ProgramError("int_range(lo, hi) takes integers")
    lo_a, hi_a = broadcast(lo, ctx.n), broadcast(hi, ctx.n)
    if (hi_a < lo_a).any():
        raise ProgramError("int_range(lo, hi) needs lo <= hi")
    bits = ctx.random_bits(site)
    span = (hi_a - lo_a + 1).astype(np.uint64)
    return Vec("int", lo_a + (bits % span).astype(np.int64))


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
    bits = ctx.random_bits(site)
    span = (hi_a - lo_a + 1).astype(np.uint64)
    return Vec("dec", lo_a + (bits % span).astype(np.int64), scale=scale)


@generator("dec_range", 2, 2, doc="uniform exact decimal in [lo, hi] at the bounds' scale")
def _dec_range(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = _args(ctx, args)
    return _dec_uniform(ctx, lo, hi, max(lo.scale, hi.scale), site)


@generator("money", 2, 2, doc="uniform amount in [lo, hi] in cents (scale 2)")
def _money(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    lo, hi = _args(ctx, args)
    return _dec_uniform(ctx, lo, hi, 2, site)


@generator("round", 2, 2, doc="round(x, scale): half-even rounding of a decimal")
def _round(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    x = evaluate(args[0], ctx)
    scale = _literal_int(evaluate(args[1], ctx), "round(x, scale)")
    if x.kind == "int":
        return Vec("dec", rescale(x.data, 0, scale), scale=scale)
    if x.kind != "dec":
        raise ProgramError(f"round() takes a number, got {x.kind}")
    return Vec("dec", rescale(x.data, x.scale, scale), scale=scale)


@generator("chance", 1, 1, doc="true with probability p (a decimal between 0 and 1)")
def _chance(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    p = evaluate(args[0], ctx)
    if p.kind not in ("dec", "int") or not p.is_scalar:
        raise ProgramError("chance(p) takes a literal probability")
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
        return kind, np.array([int(d.scaleb(scale)) for d in decs], dtype=np.int64), scale
    values = [i[2] for i in items]
    arr = np.empty(len(values), dtype=object if kind == "str" else np.int64)
    arr[:] = values
    return kind, arr, 0


def _weights(node: Any, count: int) -> tuple[np.ndarray, int]:
    items = _list_values(node, "weights")
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
    kind, values, scale = _literal_vec(_list_values(args[0], "pick(list)"))
    idx = uniform_below(ctx.random_bits(site), len(values))
    return Vec(kind, values[idx], scale=scale)


@generator("cycle", 1, 1, doc="list element at ordinal mod length: catalogs with fixed values")
def _cycle(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    kind, values, scale = _literal_vec(_list_values(args[0], "cycle(list)"))
    base = ctx.index_in_parent() if ctx.entity.expand_count is not None else ctx.ordinals
    return Vec(kind, values[base % len(values)], scale=scale)


@generator("weighted_pick", 2, 2, doc="choice from a list literal with a list of weights")
def _weighted_pick(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    kind, values, scale = _literal_vec(_list_values(args[0], "weighted_pick(list, weights)"))
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


@generator("pick_row", 1, 1, doc="a uniformly picked row of another counted entity; use .column")
def _pick_row(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    node = args[0]
    if node[0] != "lit" or node[1] != "str":
        raise ProgramError("pick_row(entity) takes the entity name as a string")
    target = ctx.program.entity(node[2])
    if target.count is None or target.count <= 0:
        raise ProgramError(f"pick_row({node[2]!r}) needs a counted entity with rows")
    keys = uniform_below(ctx.random_bits(site), target.count).astype(np.uint64)
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


@generator("text", 1, 1, doc="the text form of a number or string")
def _text_fn(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _text(evaluate(args[0], ctx), ctx.n))


@generator("concat", 1, 16, doc="concatenation of texts and numbers")
def _concat(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    parts = [_text(v, ctx.n) for v in _args(ctx, args)]
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return Vec("str", out)


@generator("lpad", 3, 3, doc="lpad(text, width, fill): left-pad to a width")
def _lpad(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    value, width, fill = _args(ctx, args)
    w = _literal_int(width, "lpad width")
    if fill.kind != "str" or len(fill.data) != 1:
        raise ProgramError("lpad fill must be one character")
    texts = _text(value, ctx.n)
    return Vec("str", np.array([t.rjust(w, fill.data) for t in texts], dtype=object))


@generator("upper", 1, 1, doc="upper case")
def _upper(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", np.array([t.upper() for t in _text(evaluate(args[0], ctx), ctx.n)],
                               dtype=object))


@generator("lower", 1, 1, doc="lower case")
def _lower(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", np.array([t.lower() for t in _text(evaluate(args[0], ctx), ctx.n)],
                               dtype=object))


# --- people, companies and places (pinned pt_BR lists) ---------------------------------------


def _pick_words(ctx: BatchContext, words: np.ndarray, site: str) -> np.ndarray:
    return words[uniform_below(ctx.random_bits(site), len(words))]


@generator("first_name", doc="a Brazilian first name from the pinned list")
def _first_name(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _pick_words(ctx, data.word_list("first_names_pt_br.txt"), site))


@generator("last_name", doc="a Brazilian surname from the pinned list")
def _last_name(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _pick_words(ctx, data.word_list("last_names_pt_br.txt"), site))


@generator("full_name", doc="first name and two surnames")
def _full_name(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    first = _pick_words(ctx, data.word_list("first_names_pt_br.txt"), site + ".f")
    last = data.word_list("last_names_pt_br.txt")
    middle = _pick_words(ctx, last, site + ".m")
    final = _pick_words(ctx, last, site + ".l")
    return Vec("str", first + " " + middle + " " + final)


@generator("company_name", doc="a synthetic company name with a legal suffix")
def _company_name(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    core = _pick_words(ctx, data.vocabulary("company_cores"), site + ".c")
    act = _pick_words(ctx, data.vocabulary("company_activities"), site + ".a")
    suffix = _pick_words(ctx, data.vocabulary("company_suffixes"), site + ".s")
    return Vec("str", core + " " + act + " " + suffix)


@generator("words", 1, 1, doc="uniform pick from a pinned vocabulary list by name")
def _words(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    node = args[0]
    if node[0] != "lit" or node[1] != "str":
        raise ProgramError("words(name) takes the list name as a string")
    try:
        vocab = data.vocabulary(node[2])
    except KeyError:
        raise ProgramError(f"no pinned vocabulary named {node[2]!r}") from None
    return Vec("str", _pick_words(ctx, vocab, site))


def _place_index(ctx: BatchContext) -> np.ndarray:
    """One city per row, shared by city(), uf(), cep() and phones so an address is coherent."""
    bits = mix64(ctx.program.seed(ctx.entity.name, "_place", "city"), ctx.keys)
    return uniform_below(bits, len(data.places()))


@generator("city", doc="city of the row's place")
def _city(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", data.places().city[_place_index(ctx)])


@generator("uf", doc="state (UF) of the row's place")
def _uf(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", data.places().uf[_place_index(ctx)])


@generator("cep", doc="a CEP (NNNNN-NNN) inside the row's city range")
def _cep(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    p, idx = data.places(), _place_index(ctx)
    lo, hi = p.cep_from[idx], p.cep_to[idx]
    bits = ctx.random_bits(site)
    prefix = lo + (bits % (hi - lo + 1).astype(np.uint64)).astype(np.int64)
    suffix = uniform_below(mix64(np.uint64(0x5EED), bits), 1000)
    return Vec("str", np.array([f"{a:05d}-{b:03d}" for a, b in zip(prefix.tolist(),
                                                                    suffix.tolist(),
                                                                    strict=True)],
                               dtype=object))


@generator("street", doc="a street name with its type (Rua, Avenida…)")
def _street(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    prefix = _pick_words(ctx, data.places().street_prefixes, site + ".p")
    name = _pick_words(ctx, data.vocabulary("street_names"), site + ".n")
    return Vec("str", prefix + " " + name)


@generator("neighborhood", doc="a neighbourhood name")
def _neighborhood(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("str", _pick_words(ctx, data.places().neighborhoods, site))


# --- dates (anchored on reference_datetime, never the clock) ---------------------------------


@generator("ref_date", doc="the manifest's reference date (UTC)")
def _ref_date(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    ref = ctx.program.reference
    return Vec("date", int(np.datetime64(ref.date(), "D").astype(np.int64)))


@generator("ref_ts", doc="the manifest's reference datetime (UTC)")
def _ref_ts(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    return Vec("ts", int(ctx.program.reference.timestamp()))


def _duration(kind: str, factor: int = 1) -> Callable[..., Vec]:
    def fn(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
        v = evaluate(args[0], ctx)
        if v.kind != "int":
            raise ProgramError(f"{kind}(n) takes an integer")
        return Vec(kind, v.data * factor)

    return fn


generator("days", 1, 1, doc="a duration of n days")(_duration("days"))
generator("months", 1, 1, doc="a duration of n calendar months (month-end rule)")(
    _duration("months")
)
generator("hours", 1, 1, doc="a duration of n hours")(_duration("seconds", 3600))
generator("minutes", 1, 1, doc="a duration of n minutes")(_duration("seconds", 60))
generator("seconds", 1, 1, doc="a duration of n seconds")(_duration("seconds"))


@generator("date_of", 1, 1, doc="the UTC date of a timestamp")
def _date_of(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    v = evaluate(args[0], ctx)
    if v.kind != "ts":
        raise ProgramError("date_of() takes a timestamp")
    return Vec("date", np.floor_divide(v.data, 86_400))


# --- PII placeholders: a domain plus a deterministic synthetic input, never a final value ----


def _pii_offset(ctx: BatchContext, site: str, modulus: int) -> np.ndarray:
    """A per-entity rotation of the ordinal: distinct rows get distinct inputs."""
    seed = int(ctx.program.seed(ctx.entity.name, ctx.column, "pii." + site))
    return (ctx.keys.astype(object) + seed) % modulus


def _digits(values: np.ndarray, width: int) -> list[str]:
    return [f"{int(v):0{width}d}" for v in values]


def _skip_repeated(values: np.ndarray, radix: int, width: int) -> np.ndarray:
    """Map [0, radix**width - radix) onto the bases that are not one repeated digit.

    Receita rejects a CPF/CNPJ of one repeated digit, and FPE then cycle-walks past them, so
    the synthetic inputs must avoid them too: the v-th allowed base is v + 1 + v // (R - 1),
    with R = 11…1 (the distance between repdigits).
    """
    step = (radix**width - 1) // (radix - 1)
    return values + 1 + values // (step - 1)


@generator("cpf", doc="CPF placeholder: FPE over a 9-digit synthetic base at apply time")
def _cpf(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    base = _skip_repeated(_pii_offset(ctx, site, 10**9 - 10), 10, 9)
    return Vec("pii", np.array(_digits(base, 9), dtype=object), domain="cpf")


@generator("cnpj", doc="CNPJ placeholder: FPE over a 12-digit synthetic base")
def _cnpj(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    base = _skip_repeated(_pii_offset(ctx, site, 10**12 - 10), 10, 12)
    return Vec("pii", np.array(_digits(base, 12), dtype=object), domain="cnpj")


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, r = divmod(value, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


@generator("cnpj_alnum", doc="alphanumeric CNPJ placeholder (Receita, July 2026): radix 36 base")
def _cnpj_alnum(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    base = _skip_repeated(_pii_offset(ctx, site, 36**12 - 36), 36, 12)
    return Vec("pii", np.array([_base36(int(v), 12) for v in base], dtype=object),
               domain="cnpj_alnum")


@generator("phone_mobile", doc="mobile phone placeholder with the area code of the row's city")
def _phone_mobile(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    ddd = data.places().ddd[_place_index(ctx)]
    rest = _pii_offset(ctx, site, 10**8)
    return Vec("pii", np.array([f"{a:02d}9{int(b):08d}" for a, b in zip(ddd.tolist(), rest,
                                                                       strict=True)],
                               dtype=object), domain="phone_mobile")


@generator("phone_landline", doc="landline placeholder with the area code of the row's city")
def _phone_landline(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    ddd = data.places().ddd[_place_index(ctx)]
    first = 2 + uniform_below(ctx.random_bits(site + ".n"), 4)
    rest = _pii_offset(ctx, site, 10**7)
    return Vec("pii", np.array([f"{a:02d}{n}{int(b):07d}" for a, n, b in
                                zip(ddd.tolist(), first.tolist(), rest, strict=True)],
                               dtype=object), domain="phone_landline")


@generator("email", 0, 1, doc="e-mail placeholder on example.com; optional letter prefix")
def _email(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    prefix = "u"
    if args:
        p = evaluate(args[0], ctx)
        if p.kind != "str" or not p.is_scalar or not str(p.data).isalpha() \
                or not str(p.data).islower() or not 1 <= len(str(p.data)) <= 20:
            raise ProgramError("email(prefix) takes 1-20 lower-case letters")
        prefix = str(p.data)
    rest = _pii_offset(ctx, site, 36**7)
    return Vec("pii", np.array([prefix + _base36(int(v), 7) for v in rest], dtype=object),
               domain="email")


def record_field(rec: Vec, name: str) -> Vec:
    """`.field` of a record vector (finance results): one typed vector per field."""
    fields = rec.data
    if not isinstance(fields, dict) or name not in fields:
        known = ", ".join(sorted(fields)) if isinstance(fields, dict) else ""
        raise ProgramError(f"record has no field {name!r} (fields: {known})")
    value: Vec = fields[name]
    return value
