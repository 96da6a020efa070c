"""Typed vectors to PostgreSQL COPY text cells, in exactly the form PostgreSQL prints them.

Cells are what gets digested, copied and compared: numeric at the column's scale, dates ISO,
timestamps `YYYY-MM-DD HH:MM:SS+00` (the server's output with TimeZone=UTC, DateStyle=ISO),
booleans `t`/`f`, NULL as `\\N`, and PII placeholders as `\\P<domain>:<input>` — a sequence no
escaped text value can contain, so the encoding stays unambiguous.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from seedc.plan.rows import NULL_CELL, PLACEHOLDER_PREFIX
from seedc.program.operators import rescale
from seedc.program.values import ProgramError, Vec, broadcast

__all__ = ["PLACEHOLDER_PREFIX", "column_cells", "dec_text", "escape_text", "parse_sql_type"]

_TYPE = re.compile(
    r"^(uuid|text|date|timestamptz|boolean|smallint|integer|bigint|"
    r"varchar\((\d+)\)|numeric\((\d+),\s*(\d+)\))$"
)


def parse_sql_type(sql_type: str) -> tuple[str, int, int]:
    """(base type, length or precision, scale) of a supported column type, else ValueError."""
    m = _TYPE.match(sql_type)
    if not m:
        raise ValueError(
            f"unsupported column type {sql_type!r} (uuid, text, varchar(n), smallint, integer, "
            "bigint, numeric(p,s), date, timestamptz, boolean)"
        )
    base = m.group(1).split("(")[0]
    if base == "varchar":
        return base, int(m.group(2)), 0
    if base == "numeric":
        return base, int(m.group(3)), int(m.group(4))
    return base, 0, 0


def dec_text(values: np.ndarray, scale: int) -> list[str]:
    """Scaled integers as decimal text with exactly `scale` digits after the point."""
    if scale == 0:
        return [str(v) for v in values.tolist()]
    d = 10**scale
    out = []
    for v in values.tolist():
        q, r = divmod(abs(v), d)
        out.append(f"{'-' if v < 0 else ''}{q}.{r:0{scale}d}")
    return out


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def escape_text(values: list[str]) -> list[str]:
    """COPY text escaping, done only when some value needs it (the common case is none)."""
    joined = "".join(values)
    if not any(c in joined for c in "\\\n\r\t"):
        return values
    return [v.translate(_ESCAPES) for v in values]


def _with_nulls(cells: list[str], data: np.ndarray) -> list[str]:
    if data.dtype != object:
        return cells
    values = data.tolist()
    if None not in values:
        return cells
    return [NULL_CELL if d is None else c for c, d in zip(cells, values, strict=True)]


def column_cells(vec: Vec, sql_type: str, nullable: bool, n: int) -> list[str]:
    """The COPY cells of one column for a batch, checking the value fits the column type."""
    base, length, scale = parse_sql_type(sql_type)
    if vec.kind == "null":
        if not nullable:
            raise ProgramError("column is NOT NULL but the expression gives null")
        return [NULL_CELL] * n
    data = broadcast(vec, n)
    if data.dtype == object and not nullable and None in data.tolist():
        raise ProgramError("column is NOT NULL but the expression gives null")
    cells: list[str]
    if vec.kind == "pii":
        if base not in ("text", "varchar"):
            raise ProgramError(f"a {vec.domain} placeholder needs a text column, not {sql_type}")
        cells = [f"{PLACEHOLDER_PREFIX}{vec.domain}:{x}" for x in data.tolist()]
        return _with_nulls(cells, data)
    if base == "uuid":
        _expect(vec, ("uuid",), sql_type)
        return _with_nulls(list(data.tolist()), data)
    if base in ("text", "varchar"):
        _expect(vec, ("str", "uuid"), sql_type)
        texts: list[Any] = data.tolist()
        if length and any(x is not None and len(x) > length for x in texts):
            raise ProgramError(f"a value is longer than {sql_type}")
        return _with_nulls(escape_text(["" if x is None else x for x in texts]), data)
    if base in ("smallint", "integer", "bigint"):
        _expect(vec, ("int",), sql_type)
        return [str(v) for v in data.tolist()]
    if base == "numeric":
        _expect(vec, ("int", "dec"), sql_type)
        from_scale = vec.scale if vec.kind == "dec" else 0
        if from_scale > scale:
            raise ProgramError(
                f"value has {from_scale} decimal places; {sql_type} keeps {scale}: "
                f"use round(x, {scale})"
            )
        scaled = rescale(data.astype(np.int64), from_scale, scale)
        if (np.abs(scaled) >= 10**length).any():
            raise ProgramError(f"a value does not fit {sql_type}")
        return dec_text(scaled, scale)
    if base == "date":
        _expect(vec, ("date",), sql_type)
        return list(np.datetime_as_string(data.astype("datetime64[D]")).tolist())
    if base == "timestamptz":
        _expect(vec, ("ts", "date"), sql_type)
        secs = data.astype(np.int64) * (86_400 if vec.kind == "date" else 1)
        iso = np.datetime_as_string(secs.astype("datetime64[s]"))
        return [s.replace("T", " ") + "+00" for s in iso.tolist()]
    if base == "boolean":
        _expect(vec, ("bool",), sql_type)
        return ["t" if b else "f" for b in data.tolist()]
    raise ProgramError(f"unsupported column type {sql_type}")


def _expect(vec: Vec, kinds: tuple[str, ...], sql_type: str) -> None:
    if vec.kind not in kinds:
        raise ProgramError(f"a {vec.kind} value cannot go into a {sql_type} column")
