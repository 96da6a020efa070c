"""Typed column vectors: how the program represents a value for a whole batch at once.

Evaluation is column-wise over a batch of row keys (numpy arrays), so one generator call
produces a batch of values with C-speed loops. Decimals are scaled integers (exact, never
floats); dates are days since 1970-01-01 and timestamps seconds since the epoch, both UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Kind", "ProgramError", "Vec", "broadcast", "object_array", "record_field"]

Kind = str
"""One of: int, dec, str, bool, date, ts, uuid, pii, null, days, months, seconds, row, rec."""


class ProgramError(ValueError):
    """A type or argument error while evaluating a column expression."""


@dataclass(frozen=True)
class Vec:
    """A batch of values of one kind; `data` is a numpy array or a scalar that broadcasts."""

    kind: Kind
    data: Any
    scale: int = 0
    domain: str = ""
    entity: str = ""

    @property
    def is_scalar(self) -> bool:
        return not isinstance(self.data, np.ndarray)


def object_array(items: list[Any]) -> np.ndarray:
    """An object array whose elements are exactly `items` (numpy would split tuples)."""
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def broadcast(vec: Vec, n: int) -> np.ndarray:
    """The vector's data as an array of length `n`."""
    if isinstance(vec.data, np.ndarray):
        return vec.data
    if vec.kind in ("str", "uuid", "pii", "null", "rec"):
        arr = np.empty(n, dtype=object)
        arr[:] = [vec.data] * n if n else []
        return arr
    if vec.kind == "bool":
        return np.full(n, bool(vec.data), dtype=bool)
    return np.full(n, vec.data, dtype=np.int64)


def record_field(rec: Vec, name: str) -> Vec:
    """`.field` of a record vector (finance results): one typed vector per field."""
    fields = rec.data
    if not isinstance(fields, dict) or name not in fields:
        known = ", ".join(sorted(fields)) if isinstance(fields, dict) else ""
        raise ProgramError(f"record has no field {name!r} (fields: {known})")
    value: Vec = fields[name]
    return value
