"""Arithmetic, comparison and choice on typed vectors, exact for decimals.

Decimals are scaled int64; results round half-even only where the language says so (division,
and products whose scale would exceed `MAX_SCALE`). Dates move by days or by calendar months
with the month-end rule (Jan 31 + 1 month = Feb 28/29), never through local time.

Nothing wraps: integer arithmetic goes through `seedc.program.checked`, `x % 0` is refused like
`x / 0`, and a date or timestamp that leaves PostgreSQL's range is an error (issue 9).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seedc.program import checked
from seedc.program.values import ProgramError, Vec, broadcast

__all__ = [
    "MAX_SCALE",
    "add_months",
    "binary",
    "choose",
    "logical_not",
    "negate",
    "rescale",
]

MAX_SCALE = 10
_NUMERIC = ("int", "dec")


def rescale(data: Any, from_scale: int, to_scale: int) -> Any:
    """Exact when growing; rounds half-even when shrinking."""
    if to_scale >= from_scale:
        return checked.mul(data, 10 ** (to_scale - from_scale), "decimal rescaled")
    d = 10 ** (from_scale - to_scale)
    if d > checked.INT64_MAX // 2:  # every int64 rounds to 0 or ±1: exact in Python ints
        def one(v: int) -> int:
            q, r = divmod(v, d)
            return q + int(2 * r > d or (2 * r == d and q % 2 == 1))

        if isinstance(data, np.ndarray):
            return np.array([one(v) for v in data.tolist()], dtype=np.int64)
        return one(int(data))
    arr = np.asarray(data, dtype=np.int64)
    q, r = np.divmod(arr, d)
    up = (2 * r > d) | ((2 * r == d) & (q % 2 == 1))
    out = q + up.astype(np.int64)
    return out if isinstance(data, np.ndarray) else int(out)


def _as_dec(v: Vec) -> tuple[Any, int]:
    if v.kind == "int":
        return v.data, 0
    if v.kind == "dec":
        return v.data, v.scale
    raise ProgramError(f"expected a number, got {v.kind}")


def negate(v: Vec) -> Vec:
    if v.kind not in (*_NUMERIC, "days", "months", "seconds"):
        raise ProgramError(f"cannot negate a {v.kind}")
    return Vec(v.kind, checked.neg(v.data), scale=v.scale)


def logical_not(v: Vec) -> Vec:
    if v.kind != "bool":
        raise ProgramError(f"`not` needs a bool, got {v.kind}")
    return Vec("bool", np.logical_not(v.data))


_MAX_MONTHS = 12 * 6_000_000  # more than PostgreSQL's whole date range, far below overflow


def add_months(days: Any, months: Any) -> Any:
    """Calendar-month addition on days-since-epoch with the month-end rule."""
    checked.check_days(days)
    if checked.max_abs(months) > _MAX_MONTHS:
        raise ProgramError(f"a shift of more than {_MAX_MONTHS} months leaves PostgreSQL's "
                           "date range")
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, dtype=np.int64)
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out = (target.astype("datetime64[D]") + np.minimum(day, length - 1)).astype(np.int64)
    out = checked.check_days(out)
    return out if isinstance(days, np.ndarray) or isinstance(months, np.ndarray) else int(out)


_DAY = 86_400


def _plus_minus(op: str, x: Any, y: Any, what: str) -> Any:
    return checked.add(x, y, what) if op == "+" else checked.sub(x, y, what)


def _temporal(op: str, a: Vec, b: Vec) -> Vec | None:
    """Date and timestamp arithmetic; None when the operands are not temporal."""
    if a.kind == "date" and b.kind == "days" and op in "+-":
        return Vec("date", checked.check_days(_plus_minus(op, a.data, b.data, "date")))
    if a.kind == "date" and b.kind == "months" and op in "+-":
        return Vec("date", add_months(a.data, b.data if op == "+" else checked.neg(b.data)))
    if a.kind == "ts" and b.kind in ("days", "seconds") and op in "+-":
        step = checked.mul(b.data, _DAY if b.kind == "days" else 1, "duration")
        return Vec("ts", checked.check_seconds(_plus_minus(op, a.data, step, "timestamp")))
    if a.kind == "ts" and b.kind == "months" and op in "+-":
        days, secs = np.divmod(a.data, _DAY)
        moved = add_months(days, b.data if op == "+" else checked.neg(b.data))
        return Vec("ts", checked.check_seconds(moved * _DAY + secs))
    if a.kind == b.kind and a.kind in ("date", "ts") and op == "-":
        return Vec("int", checked.sub(a.data, b.data))
    if a.kind in ("days", "months", "seconds") and a.kind == b.kind and op in "+-":
        return Vec(a.kind, _plus_minus(op, a.data, b.data, "duration"))
    return None


def _arith(op: str, a: Vec, b: Vec) -> Vec:
    if a.kind == "int" and b.kind == "int" and op in "+-*%":
        if op == "%":
            if np.any(np.asarray(b.data) == 0):
                raise ProgramError("modulo by zero")
            result = np.mod(a.data, b.data)
            return Vec("int", result if isinstance(result, np.ndarray) else int(result))
        ops = {"+": checked.add, "-": checked.sub, "*": checked.mul}
        return Vec("int", ops[op](a.data, b.data, f"integer {op}"))
    x, sx = _as_dec(a)
    y, sy = _as_dec(b)
    if op in "+-":
        s = max(sx, sy)
        x, y = rescale(x, sx, s), rescale(y, sy, s)
        return Vec("dec", _plus_minus(op, x, y, f"decimal {op}"), scale=s)
    if op == "*":
        s = sx + sy
        product = checked.mul(x, y, "decimal *")
        if s > MAX_SCALE:
            product, s = rescale(product, s, MAX_SCALE), MAX_SCALE
        return Vec("dec", product, scale=s)
    if op == "/":
        if np.any(np.asarray(y) == 0):
            raise ProgramError("division by zero")
        s = max(sx, MAX_SCALE // 2)
        # numerator scaled so the quotient has scale s + 1, then one half-even rounding
        num = np.asarray(x, dtype=object) * (10 ** (s + 1 + sy - sx))
        q = num // np.asarray(y, dtype=object)
        out = rescale(checked.check_int64(np.asarray(q, dtype=object), "quotient"), s + 1, s)
        return Vec("dec", out if isinstance(x, np.ndarray) or isinstance(y, np.ndarray)
                   else int(out), scale=s)
    raise ProgramError(f"operator {op} does not apply to {a.kind} and {b.kind}")


_COMPARE = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _compare(op: str, a: Vec, b: Vec) -> Vec:
    if a.kind in _NUMERIC and b.kind in _NUMERIC:
        x, sx = _as_dec(a)
        y, sy = _as_dec(b)
        s = max(sx, sy)
        return Vec("bool", _COMPARE[op](rescale(x, sx, s), rescale(y, sy, s)))
    same = a.kind == b.kind or {a.kind, b.kind} <= {"str", "uuid"}
    if not same:
        raise ProgramError(f"cannot compare {a.kind} with {b.kind}")
    return Vec("bool", _COMPARE[op](a.data, b.data))


def binary(op: str, a: Vec, b: Vec, n: int) -> Vec:
    """Apply a binary operator to two vectors of the same batch."""
    if op in ("and", "or"):
        if a.kind != "bool" or b.kind != "bool":
            raise ProgramError(f"`{op}` needs bools, got {a.kind} and {b.kind}")
        fn = np.logical_and if op == "and" else np.logical_or
        return Vec("bool", fn(a.data, b.data))
    if op in _COMPARE:
        return _compare(op, a, b)
    if op == "+" and a.kind == "str" and b.kind == "str":
        return Vec("str", np.add(a.data, b.data) if not (a.is_scalar and b.is_scalar)
                   else a.data + b.data)
    temporal = _temporal(op, a, b)
    if temporal is not None:
        return temporal
    if a.kind in _NUMERIC and b.kind in _NUMERIC:
        return _arith(op, a, b)
    raise ProgramError(f"operator {op} does not apply to {a.kind} and {b.kind}")


def choose(cond: Vec, a: Vec, b: Vec, n: int) -> Vec:
    """`if(cond, a, b)` per row; both branches must have the same kind (null fits any)."""
    if cond.kind != "bool":
        raise ProgramError(f"if() needs a bool condition, got {cond.kind}")
    if a.kind == "null" and b.kind != "null":
        a = Vec(b.kind, None, scale=b.scale, domain=b.domain)
    if b.kind == "null" and a.kind != "null":
        b = Vec(a.kind, None, scale=a.scale, domain=a.domain)
    if a.kind == "dec" or b.kind == "dec":
        s = max(a.scale, b.scale)
        if a.data is not None:
            a = Vec("dec", rescale(_as_dec(a)[0], _as_dec(a)[1], s), scale=s)
        if b.data is not None:
            b = Vec("dec", rescale(_as_dec(b)[0], _as_dec(b)[1], s), scale=s)
    if a.kind != b.kind:
        raise ProgramError(f"if() branches differ: {a.kind} and {b.kind}")
    c = broadcast(cond, n)
    if a.data is None or b.data is None or a.kind in ("str", "uuid", "pii"):
        xa = broadcast(a, n) if a.data is not None else np.full(n, None, dtype=object)
        xb = broadcast(b, n) if b.data is not None else np.full(n, None, dtype=object)
        return Vec(a.kind, np.where(c, xa.astype(object), xb.astype(object)), scale=a.scale,
                   domain=a.domain or b.domain)
    return Vec(a.kind, np.where(c, broadcast(a, n), broadcast(b, n)), scale=a.scale)
