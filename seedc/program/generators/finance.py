"""Finance generators: loans quoted by the exact finance routine, installments by expansion.

Seeds session 10: loan values come from the domain's calculation routine, never invented:
`loan_quote(...)` runs `seedc.finance.quote_terms` per loan and exposes its results as a record
(`.payment`, `.iof_total`, `.cet_annual_percent`…); `schedule_row(quote, n)` is the n-th
installment of a quote (`.due_date`, `.payment`, `.interest`, `.amortization`, `.balance`).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from seedc.finance import LoanTerms, Quote, quote_terms
from seedc.program.generators.common import GeneratorSet
from seedc.program.values import ProgramError, Vec, broadcast, object_array

if TYPE_CHECKING:
    from seedc.program.evaluate import BatchContext

__all__ = ["GENERATORS", "LOAN_FIELDS", "SCHEDULE_FIELDS", "loan_terms_from_row"]

GENERATORS = GeneratorSet()
generator = GENERATORS.add

_EPOCH = date(1970, 1, 1)
_LOAN_MONEY = ("financed_principal", "released_amount", "iof_total", "fees_total", "payment",
               "total_paid", "cet_annual_percent", "cet_monthly_percent")
LOAN_FIELDS = (*_LOAN_MONEY, "first_due_date", "last_due_date")
_ROW_MONEY = ("opening_balance", "payment", "interest", "amortization", "balance")
SCHEDULE_FIELDS = ("number", "due_date", *_ROW_MONEY)
_KWARGS = ("principal", "rate_monthly", "term", "system", "contract_date", "borrower", "iof",
           "day_count")


def _dec_field(values: list[Decimal], scale: int = 2) -> Vec:
    q = Decimal(1).scaleb(-scale)
    return Vec("dec", np.array([int(v.quantize(q).scaleb(scale)) for v in values],
                               dtype=np.int64), scale=scale)


def _date_field(values: list[date]) -> Vec:
    return Vec("date", np.array([(d - _EPOCH).days for d in values], dtype=np.int64))


def _text(v: Vec, n: int, what: str) -> list[str]:
    if v.kind != "str":
        raise ProgramError(f"loan_quote({what}=…) takes a text")
    return [str(x) for x in broadcast(v, n).tolist()]


def _decimals(v: Vec, n: int, what: str) -> list[Decimal]:
    if v.kind == "int":
        return [Decimal(int(x)) for x in broadcast(v, n).tolist()]
    if v.kind == "dec":
        return [Decimal(int(x)).scaleb(-v.scale) for x in broadcast(v, n).tolist()]
    raise ProgramError(f"loan_quote({what}=…) takes a number")


def loan_terms_from_row(args: dict[str, Vec], n: int) -> list[LoanTerms]:
    """The finance terms of each row of a batch, from the evaluated keyword arguments."""
    missing = [k for k in ("principal", "rate_monthly", "term", "contract_date") if k not in args]
    if missing:
        raise ProgramError(f"loan_quote() needs {', '.join(missing)}")
    principal = _decimals(args["principal"], n, "principal")
    rate = _decimals(args["rate_monthly"], n, "rate_monthly")
    term_vec = args["term"]
    if term_vec.kind != "int":
        raise ProgramError("loan_quote(term=…) takes an integer number of months")
    terms = [int(x) for x in broadcast(term_vec, n).tolist()]
    if args["contract_date"].kind != "date":
        raise ProgramError("loan_quote(contract_date=…) takes a date")
    contract = [_EPOCH + timedelta(days=int(d))
                for d in broadcast(args["contract_date"], n).tolist()]
    system = _text(args["system"], n, "system") if "system" in args else ["price"] * n
    borrower = _text(args["borrower"], n, "borrower") if "borrower" in args else ["pf"] * n
    iof = _text(args["iof"], n, "iof") if "iof" in args else ["financed"] * n
    day_count = _text(args["day_count"], n, "day_count") if "day_count" in args \
        else ["30/360"] * n
    return [LoanTerms(principal=principal[i], term=terms[i], contract_date=contract[i],
                      rate_monthly=rate[i], system=system[i], borrower=borrower[i],  # type: ignore[arg-type]
                      iof=iof[i], day_count=day_count[i])  # type: ignore[arg-type]
            for i in range(n)]


def quote_record(quotes: list[Quote]) -> Vec:
    """A record vector of loan-level results; `_quotes` keeps the schedules for expansion."""
    fields: dict[str, Vec] = {
        **{name: _dec_field([getattr(q, name) for q in quotes]) for name in _LOAN_MONEY},
        "first_due_date": _date_field([q.installments[0].due_date for q in quotes]),
        "last_due_date": _date_field([q.installments[-1].due_date for q in quotes]),
        "_quotes": Vec("obj", object_array(list(quotes))),
    }
    return Vec("rec", fields)




def first_difference(ours: Quote, official: Quote) -> str | None:
    """The first field where two quotes differ (by one cent or more), or None."""
    for name in _LOAN_MONEY:
        a, b = getattr(ours, name), getattr(official, name)
        if a != b:
            return f"{name}: built-in {a}, official routine {b}"
    if len(ours.installments) != len(official.installments):
        return (f"installments: built-in {len(ours.installments)}, official routine "
                f"{len(official.installments)}")
    for mine, theirs in zip(ours.installments, official.installments, strict=True):
        for name in ("due_date", *_ROW_MONEY):
            a, b = getattr(mine, name), getattr(theirs, name)
            if a != b:
                return f"installment {mine.number} {name}: built-in {a}, official routine {b}"
    return None


#: Quotes by their terms (frozen, hashable): the same loan quoted for two plans in one process
#: (an incremental apply evaluates OLD and NEW) is computed once. Bounded: a quote holds its
#: schedule, up to 420 installments.
_quote = lru_cache(maxsize=4096)(quote_terms)


@generator("loan_quote", 0, 0, kwargs=_KWARGS,
           doc="quote each loan with the finance routine; fields: " + ", ".join(LOAN_FIELDS))
def _loan_quote(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    cache = ctx.program.cache
    row_keys = [(ctx.entity.name, site, k) for k in ctx.keys.tolist()]
    if all(k in cache for k in row_keys):  # the installments of loans quoted a batch ago
        return quote_record([cache[k] for k in row_keys])
    values = {name: ctx.eval(node) for name, node in kw.items()}
    terms = loan_terms_from_row(values, ctx.n)
    try:
        quotes = [_quote(t) for t in terms]
    except Exception as exc:  # the finance routine's own refusal, with its reason
        raise ProgramError(f"loan_quote(): {exc}") from None
    for key, quote in zip(row_keys, quotes, strict=True):
        cache[key] = quote
    official = ctx.program.official_routine
    if official is not None:  # compile-time cross-validation (seeds session 10)
        keys = ctx.logical_keys()
        ids = ctx.uuid_of_keys()
        for i, (t, ours) in enumerate(zip(terms, quotes, strict=True)):
            difference = first_difference(ours, official(t))
            if difference is not None:
                raise ProgramError(
                    f"loan {ctx.entity.name}[{keys[i].decode()}] (id {ids[i]}) differs from the "
                    f"official routine: {difference}; exact equality to the cent is required "
                    "(session 10)")
    return quote_record(quotes)


@generator("schedule_row", 2, 2, doc="installment n (1-based) of a loan_quote record; fields: "
           + ", ".join(SCHEDULE_FIELDS))
def _schedule_row(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    rec, number = ctx.eval(args[0]), ctx.eval(args[1])
    if rec.kind != "rec" or "_quotes" not in rec.data:
        raise ProgramError("schedule_row(quote, n) takes a loan_quote() record")
    if number.kind != "int":
        raise ProgramError("schedule_row(quote, n) takes an integer installment number")
    quotes = broadcast(rec.data["_quotes"], ctx.n).tolist()
    numbers = broadcast(number, ctx.n).tolist()
    rows = []
    for q, k in zip(quotes, numbers, strict=True):
        if not 1 <= k <= len(q.installments):
            raise ProgramError(f"installment {k} outside 1..{len(q.installments)}")
        rows.append(q.installments[k - 1])
    return Vec("rec", {
        "number": Vec("int", np.array([r.number for r in rows], dtype=np.int64)),
        "due_date": _date_field([r.due_date for r in rows]),
        **{name: _dec_field([getattr(r, name) for r in rows]) for name in _ROW_MONEY},
    })
