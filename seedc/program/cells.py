"""Typed vectors to PostgreSQL COPY text cells, in exactly the form PostgreSQL prints them.

Cells are what gets digested, copied and compared: numeric at the column's scale, dates ISO,
timestamps `YYYY-MM-DD HH:MM:SS+00` (the server's output with TimeZone=UTC, DateStyle=ISO),
booleans `t`/`f`, NULL as `\\N`, and PII placeholders as `\\P<domain>:<input>` — a sequence no
escaped text value can contain, so the encoding stays unambiguous.

Only storable values become cells (issue 9): every value is checked against its declared type
with PostgreSQL's own limits — integer ranges, numeric precision and scale, varchar length,
no NUL in text, dates and timestamps within range (BC and years past 9999 printed as
PostgreSQL prints them) — so a plan that compiles is a plan PostgreSQL accepts.
"""

from __future__ import annotations

import re

import numpy as np

from seedc.plan.rows import NULL_CELL, PLACEHOLDER_PREFIX
from seedc.program import checked
from seedc.program.values import ProgramError, Vec, broadcast

__all__ = [
    "INTEGER_RANGES", "MAX_NUMERIC_PRECISION", "MAX_VARCHAR", "PLACEHOLDER_PREFIX",
    "column_cells", "date_text", "dec_text", "escape_text", "parse_sql_type", "timestamp_text",
]

INTEGER_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
MAX_VARCHAR = 10_485_760  # PostgreSQL's largest varchar(n)
MAX_NUMERIC_PRECISION = 1000  # PostgreSQL's largest numeric(p, s) precision, and scale

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
        length = int(m.group(2))
        if not 1 <= length <= MAX_VARCHAR:
            raise ValueError(f"{sql_type}: the length must be within 1..{MAX_VARCHAR} "
                             "(PostgreSQL's limits)")
        return base, length, 0
    if base == "numeric":
        precision, scale = int(m.group(3)), int(m.group(4))
        if not 1 <= precision <= MAX_NUMERIC_PRECISION:
            raise ValueError(f"{sql_type}: the precision must be within "
                             f"1..{MAX_NUMERIC_PRECISION} (PostgreSQL's limits)")
        if scale > MAX_NUMERIC_PRECISION:
            raise ValueError(f"{sql_type}: the scale must be within 0..{MAX_NUMERIC_PRECISION}")
        return base, precision, scale
    return base, 0, 0


def dec_text(values: np.ndarray, scale: int) -> list[str]:
    """Scaled integers as decimal text with exactly `scale` digits after the point."""
    if scale == 0:
        return list(map(str, values.tolist()))
    if values.dtype == np.int64 and values.ndim == 1 and values.size:
        return _fixed_point_text(values, scale)
    return _dec_text_each(values, scale)


def _dec_text_each(values: np.ndarray, scale: int) -> list[str]:
    """The straightforward formula, value by value (reference for `_fixed_point_text`)."""
    if scale == 0:
        return [str(v) for v in values.tolist()]
    d = 10**scale
    out = []
    for v in values.tolist():
        q, r = divmod(abs(v), d)
        out.append(f"{'-' if v < 0 else ''}{q}.{r:0{scale}d}")
    return out


_ASCII_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_SPACE, _MINUS, _POINT = ord(" "), ord("-"), ord(".")


def _fixed_point_text(values: np.ndarray, scale: int) -> list[str]:
    """`_dec_text_each` for an int64 array, without a Python step per value.

    Why: numeric columns are a large share of generation. Each value is written right-aligned
    into a row of an (n, width) byte matrix, digit position by digit position, with spaces
    before its sign; the whole matrix is decoded once and split on whitespace (cells hold none).
    """
    neg = values < 0
    mag = values.astype(np.uint64)  # two's complement: |v| is 0 - v for negatives, even int64 min
    mag[neg] = np.uint64(0) - mag[neg]
    digits = max(len(str(int(mag.max()))), scale + 1)  # at least one digit before the point
    shown = np.full(mag.shape, scale + 1, dtype=np.int64)  # digits printed per value
    for k in range(scale + 1, digits):
        shown += mag >= np.uint64(10**k)
    point = 1 if scale else 0
    width = 2 + digits + point  # separator space, sign slot, digits, point
    text = np.full((len(mag), width), _SPACE, dtype=np.uint8)
    if point:
        text[:, width - 1 - scale] = _POINT
    rest = mag.copy()
    ten = np.uint64(10)
    for k in range(digits):
        column = width - 1 - k - (point if k >= scale else 0)
        digit = _ASCII_DIGITS[rest % ten]
        text[:, column] = digit if k <= scale else np.where(k < shown, digit, _SPACE)
        rest //= ten
    if neg.any():
        rows = np.flatnonzero(neg)
        text[rows, width - 1 - shown[rows] - point] = _MINUS
    cells = text.tobytes().decode("ascii").split()
    if len(cells) != len(mag):  # cannot happen: every row holds one word
        return _dec_text_each(values, scale)
    return cells


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
    if vec.kind == "pii":
        if base not in ("text", "varchar"):
            raise ProgramError(f"a {vec.domain} placeholder needs a text column, not {sql_type}")
        return _with_nulls(_placeholders(data.tolist(), vec.domain), data)
    if base == "uuid":
        _expect(vec, ("uuid",), sql_type)
        return _with_nulls(list(data.tolist()), data)
    if base in ("text", "varchar"):
        _expect(vec, ("str", "uuid"), sql_type)
        texts: list[str] = data.tolist()
        if data.dtype == object and None in texts:
            texts = ["" if x is None else x for x in texts]
        _check_texts(texts, length, sql_type)
        return _with_nulls(escape_text(texts), data)
    if base in INTEGER_RANGES:
        _expect(vec, ("int",), sql_type)
        values = data.tolist()
        lo, hi = INTEGER_RANGES[base]
        if data.dtype != np.int64 or (data.size and (int(data.min()) < lo
                                                     or int(data.max()) > hi)):
            bad = next((v for v in values if not lo <= v <= hi), None) if values else None
            if bad is not None:
                raise ProgramError(f"{bad} is outside the {sql_type} range {lo}..{hi}")
        return list(map(str, values))
    if base == "numeric":
        _expect(vec, ("int", "dec"), sql_type)
        return _numeric_cells(data, vec.scale if vec.kind == "dec" else 0, length, scale,
                              sql_type)
    if base == "date":
        _expect(vec, ("date",), sql_type)
        days = data.astype(np.int64)
        _in_range(days, checked.DATE_MIN_DAYS, checked.DATE_MAX_DAYS, sql_type,
                  "4714-11-24 BC .. 5874897-12-31")
        return date_text(days)
    if base == "timestamptz":
        _expect(vec, ("ts", "date"), sql_type)
        secs = data.astype(np.int64)
        if vec.kind == "date":
            _in_range(secs, checked.DATE_MIN_DAYS, checked.TS_MAX_SECONDS // 86_400, sql_type,
                      "4714-11-24 BC .. 294276-12-31 23:59:59 UTC")
            secs = secs * 86_400
        _in_range(secs, checked.TS_MIN_SECONDS, checked.TS_MAX_SECONDS, sql_type,
                  "4714-11-24 BC .. 294276-12-31 23:59:59 UTC")
        return timestamp_text(secs)
    if base == "boolean":
        _expect(vec, ("bool",), sql_type)
        return ["t" if b else "f" for b in data.tolist()]
    raise ProgramError(f"unsupported column type {sql_type}")


def _placeholders(inputs: list[str], domain: str) -> list[str]:
    """`\\P<domain>:<input>` cells; None inputs (nullable columns) are replaced afterwards."""
    prefix = f"{PLACEHOLDER_PREFIX}{domain}:"
    try:
        return list(map(prefix.__add__, inputs))
    except TypeError:  # a None or non-text input: format each, as the f-string always did
        return [f"{prefix}{x}" for x in inputs]


def _check_texts(texts: list[str], length: int, sql_type: str) -> None:
    """varchar(n) counts characters, like PostgreSQL; NUL and lone surrogates never store."""
    if length and texts and max(map(len, texts)) > length:
        longest = max(len(x) for x in texts)
        raise ProgramError(f"a value of {longest} characters is longer than {sql_type}")
    joined = "".join(texts)
    if "\x00" in joined:
        raise ProgramError(f"a value holds a NUL character, which {sql_type} cannot store")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise ProgramError(f"a value is not valid Unicode text for {sql_type}") from None


def _numeric_cells(data: np.ndarray, from_scale: int, precision: int, scale: int,
                   sql_type: str) -> list[str]:
    """numeric(p, s) text: at most p - s digits before the point, exactly s after it."""
    if from_scale > scale:
        raise ProgramError(
            f"value has {from_scale} decimal places; {sql_type} keeps {scale}: "
            f"use round(x, {scale})"
        )
    values = data.astype(np.int64)
    # |v| / 10**from_scale < 10**(precision - scale)  <=>  |v| < 10**(precision - scale + f)
    limit_digits = precision - scale + from_scale
    if values.size and checked.max_abs(values) >= 10 ** max(limit_digits, 0):
        raise ProgramError(
            f"a value does not fit {sql_type}: at most {max(precision - scale, 0)} "
            "digits before the point")
    cells = dec_text(values, from_scale)
    if scale == from_scale:
        return cells
    pad = ("." if from_scale == 0 else "") + "0" * (scale - from_scale)
    return [c + pad for c in cells]


def _in_range(values: np.ndarray, lo: int, hi: int, sql_type: str, human: str) -> None:
    if values.size and (int(values.min()) < lo or int(values.max()) > hi):
        raise ProgramError(f"a value is outside PostgreSQL's {sql_type} range ({human})")


_COMMON_MIN = -719_162  # 0001-01-01: numpy prints years 1..9999 as PostgreSQL does
_COMMON_MAX = 2_932_896  # 9999-12-31


def _civil(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of days since 1970-01-01 (see `_civil_many`)."""
    year, month, day = _civil_many(np.array([days], dtype=np.int64))
    return int(year[0]), int(month[0]), int(day[0])


def _pg_date(days: int) -> tuple[str, str]:
    """PostgreSQL's ISO text of a date, split as (date, era suffix)."""
    year, month, day = _civil(days)
    if year <= 0:
        return f"{1 - year:04d}-{month:02d}-{day:02d}", " BC"
    return f"{year:04d}-{month:02d}-{day:02d}", ""


def _civil_many(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proleptic Gregorian (year, month, day) of days since 1970-01-01, over an int64 array.

    H. Hinnant's `civil_from_days` (numpy's // floors, as Python's does); year 0 is 1 BC, as
    in PostgreSQL's Julian-day arithmetic.
    """
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _put_digits(text: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    """Write `values` (0 <= v < 10**width) as `width` zero-padded digits from `column` on."""
    for i in range(width):
        text[:, column + width - 1 - i] = _ASCII_DIGITS[values // 10**i % 10]


def _common_text(days: np.ndarray, seconds: np.ndarray | None) -> list[str]:
    """`YYYY-MM-DD` (and ` HH:MM:SS+00` when `seconds` of the day are given), years 1..9999.

    Why: one byte matrix for the batch, decoded once and split, instead of numpy's datetime
    strings reformatted one by one; the same text as `_pg_date` for every date in the range.
    """
    year, month, day = _civil_many(days)
    width = 10 if seconds is None else 22
    text = np.empty((len(days), width + 1), dtype=np.uint8)
    _put_digits(text, 0, year, 4)
    _put_digits(text, 5, month, 2)
    _put_digits(text, 8, day, 2)
    text[:, [4, 7]] = _MINUS
    if seconds is not None:
        text[:, 10] = _SPACE
        _put_digits(text, 11, seconds // 3600, 2)
        _put_digits(text, 14, seconds // 60 % 60, 2)
        _put_digits(text, 17, seconds % 60, 2)
        text[:, [13, 16]] = ord(":")
        text[:, 19:22] = np.frombuffer(b"+00", dtype=np.uint8)
    text[:, width] = ord("\n")
    out = text.tobytes().decode("ascii").split("\n")
    out.pop()
    return out


def date_text(days: np.ndarray) -> list[str]:
    """Dates as PostgreSQL prints them (DateStyle ISO): `2025-01-31`, `4714-11-24 BC`."""
    if not days.size:
        return []
    if int(days.min()) >= _COMMON_MIN and int(days.max()) <= _COMMON_MAX:
        return _common_text(days.astype(np.int64), None)
    return ["".join(_pg_date(d)) for d in days.tolist()]


def timestamp_text(secs: np.ndarray) -> list[str]:
    """timestamptz as PostgreSQL prints it with TimeZone UTC: `2025-01-31 12:00:00+00`."""
    lo, hi = _COMMON_MIN * 86_400, _COMMON_MAX * 86_400 + 86_399
    if not secs.size:
        return []
    if int(secs.min()) >= lo and int(secs.max()) <= hi:
        days, rest = np.divmod(secs.astype(np.int64), 86_400)
        return _common_text(days, rest)
    out = []
    for s in secs.tolist():
        days, rest = divmod(s, 86_400)
        date, era = _pg_date(days)
        out.append(f"{date} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}+00{era}")
    return out


def _expect(vec: Vec, kinds: tuple[str, ...], sql_type: str) -> None:
    if vec.kind not in kinds:
        raise ProgramError(f"a {vec.kind} value cannot go into a {sql_type} column")
