"""Integer arithmetic on int64 vectors that never wraps: exact result or a ProgramError.

numpy's int64 add and multiply wrap silently (`2**32 * 2**32 + 100` would store `100`).
Each operation first bounds its result from the operands' largest magnitudes, in Python
ints; only when the bound could leave int64 does it redo the operation exactly (object
arrays) and refuse if any row really is out of range. The common case costs a min and a max.
Issue 9: only storable values compile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from seedc.program.values import ProgramError

__all__ = [
    "DATE_MAX_DAYS", "DATE_MIN_DAYS", "INT64_MAX", "INT64_MIN", "TS_MAX_SECONDS", "TS_MIN_SECONDS",
    "add", "check_days", "check_int64", "check_seconds", "max_abs", "mul", "neg", "sub",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def max_abs(x: Any) -> int:
    """The largest magnitude among the values of `x` (a scalar or an array), as a Python int."""
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return 0
        return max(abs(int(x.max())), abs(int(x.min())))
    return abs(int(x))


def _is_array(*xs: Any) -> bool:
    return any(isinstance(x, np.ndarray) for x in xs)


def check_int64(value: Any, what: str) -> Any:
    """`value` (Python ints or an object array of them) as int64, or refused if out of range."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.ndarray):
        if value.size and (max(value.tolist()) > INT64_MAX or min(value.tolist()) < INT64_MIN):
            bad = next(v for v in value.tolist() if not INT64_MIN <= v <= INT64_MAX)
            raise ProgramError(f"{what}: {bad} is outside the 64-bit integer range")
        return value.astype(np.int64)
    if not INT64_MIN <= int(value) <= INT64_MAX:
        raise ProgramError(f"{what}: {int(value)} is outside the 64-bit integer range")
    return int(value)


def _exact(op: Callable[[Any, Any], Any], x: Any, y: Any, what: str) -> Any:
    if _is_array(x, y):
        xo = x.astype(object) if isinstance(x, np.ndarray) else int(x)
        yo = y.astype(object) if isinstance(y, np.ndarray) else int(y)
        return check_int64(np.asarray(op(xo, yo), dtype=object), what)
    return check_int64(op(int(x), int(y)), what)


def _fast(op: Callable[[Any, Any], Any], x: Any, y: Any) -> Any:
    if _is_array(x, y):
        return op(np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64))
    return int(op(int(x), int(y)))


def add(x: Any, y: Any, what: str = "sum") -> Any:
    if max_abs(x) + max_abs(y) <= INT64_MAX:
        return _fast(np.add, x, y)
    return _exact(lambda a, b: a + b, x, y, what)


def sub(x: Any, y: Any, what: str = "difference") -> Any:
    if max_abs(x) + max_abs(y) <= INT64_MAX:
        return _fast(np.subtract, x, y)
    return _exact(lambda a, b: a - b, x, y, what)


def mul(x: Any, y: Any, what: str = "product") -> Any:
    if max_abs(x) * max_abs(y) <= INT64_MAX:
        return _fast(np.multiply, x, y)
    return _exact(lambda a, b: a * b, x, y, what)


def neg(x: Any, what: str = "negation") -> Any:
    if isinstance(x, np.ndarray):
        if x.size and int(x.min()) == INT64_MIN:
            raise ProgramError(f"{what}: {-INT64_MIN} is outside the 64-bit integer range")
        return -x
    return check_int64(-int(x), what)


# PostgreSQL's own limits (src/include/datatype/timestamp.h): dates from Julian day 0
# (4714-11-24 BC) to 5874897-12-31, timestamps from the same day to 294276-12-31 23:59:59 UTC.
DATE_MIN_DAYS = -2_440_588
DATE_MAX_DAYS = 2_145_042_905
TS_MIN_SECONDS = DATE_MIN_DAYS * 86_400
TS_MAX_SECONDS = 9_224_318_015_999


def check_days(days: Any, what: str = "date") -> Any:
    """Days since 1970-01-01 that PostgreSQL can store as a date, else a ProgramError."""
    if max_abs(days) and (_min(days) < DATE_MIN_DAYS or _max(days) > DATE_MAX_DAYS):
        raise ProgramError(f"{what} is outside PostgreSQL's date range "
                           "(4714-11-24 BC .. 5874897-12-31)")
    return days


def check_seconds(seconds: Any, what: str = "timestamp") -> Any:
    """Seconds since the epoch that PostgreSQL can store as a timestamptz, else an error."""
    if max_abs(seconds) and (_min(seconds) < TS_MIN_SECONDS or _max(seconds) > TS_MAX_SECONDS):
        raise ProgramError(f"{what} is outside PostgreSQL's timestamp range "
                           "(4714-11-24 BC .. 294276-12-31 23:59:59 UTC)")
    return seconds


def _min(x: Any) -> int:
    return int(x.min()) if isinstance(x, np.ndarray) else int(x)


def _max(x: Any) -> int:
    return int(x.max()) if isinstance(x, np.ndarray) else int(x)
