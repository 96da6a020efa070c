"""Generators of people, companies, places and PII placeholders (pinned pt_BR lists).

PII generators give a domain plus a deterministic synthetic input, never a final value: the
runtime resolves placeholders through FPE with the tenant's key (seeds sessions 1, 18).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from seedc.program import data
from seedc.program.generators.common import GeneratorSet
from seedc.program.rng import mix64, uniform_below
from seedc.program.values import ProgramError, Vec

if TYPE_CHECKING:
    from seedc.program.evaluate import BatchContext

__all__ = ["GENERATORS"]

GENERATORS = GeneratorSet()
generator = GENERATORS.add


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


# --- PII placeholders: a domain plus a deterministic synthetic input, never a final value ----


def _pii_offset(ctx: BatchContext, site: str, modulus: int) -> np.ndarray:
    """A per-entity rotation of the ordinal: distinct rows get distinct inputs."""
    seed = int(ctx.program.seed(ctx.entity.name, ctx.column, "pii." + site))
    return (ctx.keys.astype(object) + seed) % modulus


def _digits(values: np.ndarray, width: int) -> list[str]:
    return _fixed_width(values, _DECIMAL, width) or [f"{int(v):0{width}d}" for v in values]


_DECIMAL = "0123456789"


def _fixed_width(values: np.ndarray, alphabet: str, width: int) -> list[str] | None:
    """Each value as exactly `width` digits of radix len(alphabet), or None if one does not fit.

    Why: one numpy pass per digit position into an (n, width) byte matrix, one decode and one
    C-level split, instead of a Python format per row; equal to the per-row formulas for every
    value in [0, radix**width), and the caller falls back to them for anything else.
    """
    radix = len(alphabet)
    if radix**width > 2**63:  # so that a negative wrapped by an old numpy fails the max test
        return None
    try:
        rest = np.array(values.tolist(), dtype=np.uint64)
    except OverflowError:  # negative or past 64 bits
        return None
    if rest.ndim != 1 or (rest.size and int(rest.max()) >= radix**width):
        return None
    table = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    text = np.empty((rest.size, width + 1), dtype=np.uint8)
    text[:, width] = ord("\n")
    base = np.uint64(radix)
    for k in range(width - 1, -1, -1):
        text[:, k] = table[rest % base]
        rest //= base
    out = text.tobytes().decode("ascii").split("\n")
    out.pop()
    return out


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


def _base36_many(values: np.ndarray, width: int) -> list[str]:
    return _fixed_width(values, _B36, width) or [_base36(int(v), width) for v in values]


def _base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, r = divmod(value, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


@generator("cnpj_alnum", doc="alphanumeric CNPJ placeholder (Receita, July 2026): radix 36 base")
def _cnpj_alnum(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    base = _skip_repeated(_pii_offset(ctx, site, 36**12 - 36), 36, 12)
    return Vec("pii", np.array(_base36_many(base, 12), dtype=object),
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
        p = ctx.eval(args[0])
        if p.kind != "str" or not p.is_scalar or not str(p.data).isalpha() \
                or not str(p.data).islower() or not 1 <= len(str(p.data)) <= 20:
            raise ProgramError("email(prefix) takes 1-20 lower-case letters")
        prefix = str(p.data)
    rest = _pii_offset(ctx, site, 36**7)
    return Vec("pii", np.array([prefix + v for v in _base36_many(rest, 7)], dtype=object),
               domain="email")
