"""The vectorised generation paths give exactly the bytes of the straightforward formulas.

Payload generation writes uuids, decimals, dates, document digits and jump-hash buckets for a
whole batch at once (byte matrices, one decode, one split) and builds COPY text from columns.
Each is compared here with the per-value formula it replaces, on many inputs and edge values,
and `build_payload` with a row-by-row reference, for generated and inline plans.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from seedc.plan.rows import PLACEHOLDER_PREFIX, cells_from_json, rows_digest
from seedc.program import cells
from seedc.program.batch import batch_cells, batch_columns
from seedc.program.evaluate import Program
from seedc.program.generators import people
from seedc.program.rng import jump_bucket, uuid5_many
from seedc.runtime.payload import MASK, build_payload, line_hash
from seedc.runtime.pii.domains import PiiResolver
from tests.manifests import REPO

RNG = np.random.default_rng(20_261_204)
INT64 = np.iinfo(np.int64)


def test_uuid5_many_equals_the_standard_library_on_many_names() -> None:
    names = ([str(k) for k in range(3000)] + [f"{k}/{k % 13}" for k in range(3000)]
             + ["", "ação", "x" * 200, "\t\n", "7/1048575"])
    for ns in (uuid.NAMESPACE_DNS, uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1),
               *(uuid.UUID(bytes=RNG.bytes(16)) for _ in range(5))):
        got = uuid5_many(ns, [n.encode() for n in names])
        assert got.dtype == object
        assert list(got) == [str(uuid.uuid5(ns, n)) for n in names]
    assert list(uuid5_many(uuid.NAMESPACE_DNS, [])) == []


def _dec_reference(values: Sequence[int], scale: int) -> list[str]:
    if scale == 0:
        return [str(v) for v in values]
    return [f"{'-' if v < 0 else ''}{abs(v) // 10**scale}.{abs(v) % 10**scale:0{scale}d}"
            for v in values]


@pytest.mark.parametrize("scale", [0, 1, 2, 4, 6, 9, 17, 18, 19, 25])
def test_dec_text_equals_the_per_value_formula(scale: int) -> None:
    edges = [0, 1, -1, 9, -9, 10, -10, 99, 100, -100, 5, -5, 50, -50, 10**18, -10**18,
             10**18 - 1, INT64.max, INT64.min, INT64.min + 1]
    values = [*edges, *(int(v) for e in range(19)
                        for v in RNG.integers(-10**e, 10**e + 1, 40))]
    array = np.array(values, dtype=np.int64)
    assert cells.dec_text(array, scale) == _dec_reference(values, scale)
    for v in edges:  # alone: the matrix width is then that value's own
        assert cells.dec_text(np.array([v], dtype=np.int64), scale) == _dec_reference([v], scale)
    assert cells.dec_text(np.array([], dtype=np.int64), scale) == []


def _jump_reference(key: int, buckets: int) -> int:
    """The loop of Lamping & Veach (2014), one key at a time, in Python integers and floats."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) % 2**64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def test_jump_bucket_equals_the_published_loop_key_by_key() -> None:
    keys = [0, 1, 2**64 - 1, 2**63, *(int(k) for k in RNG.integers(0, 2**63, 400,
                                                                    dtype=np.uint64))]
    array = np.array(keys, dtype=np.uint64)
    for buckets in (1, 2, 3, 10, 97, 1000, 65_537, 2**31 - 1):
        assert jump_bucket(array, buckets).tolist() == [_jump_reference(k, buckets)
                                                        for k in keys]
    assert jump_bucket(array.reshape(4, -1), 7).tolist() == \
        jump_bucket(array, 7).reshape(4, -1).tolist()
    assert jump_bucket(np.array([], dtype=np.uint64), 5).tolist() == []


def test_document_digits_and_base36_equal_the_per_row_formulas() -> None:
    for width, top in ((9, 10**9), (12, 10**12), (3, 1000)):
        values = np.array([0, 1, top - 1, *RNG.integers(0, top, 500).tolist()], dtype=object)
        assert people._digits(values, width) == [f"{int(v):0{width}d}" for v in values]
    for width in (7, 12):
        top = 36**width
        values = np.array([0, 35, 36, top - 1, *(int(v) for v in RNG.integers(0, top, 500))],
                          dtype=object)
        assert people._base36_many(values, width) == [people._base36(int(v), width)
                                                      for v in values]
    # outside the fixed width the per-row formulas still decide: more digits, or truncation
    assert people._digits(np.array([10**9 + 5], dtype=object), 9) == ["1000000005"]
    assert people._base36_many(np.array([36**7 + 1], dtype=object), 7) == ["0000001"]
    assert people._digits(np.array([], dtype=object), 9) == []


def test_dates_and_timestamps_equal_the_per_value_formula() -> None:
    days = [cells._COMMON_MIN, cells._COMMON_MAX, 0, -1, 59, 60, -141_427, 11_016,
            *RNG.integers(cells._COMMON_MIN, cells._COMMON_MAX + 1, 2000).tolist()]
    assert cells.date_text(np.array(days, dtype=np.int64)) == \
        ["".join(cells._pg_date(d)) for d in days]
    lo, hi = cells._COMMON_MIN * 86_400, cells._COMMON_MAX * 86_400 + 86_399
    secs = [lo, hi, 0, -1, 86_399, 86_400, *RNG.integers(lo, hi + 1, 2000).tolist()]

    def reference(s: int) -> str:
        day, rest = divmod(s, 86_400)
        date, era = cells._pg_date(day)
        return f"{date} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}+00{era}"

    assert cells.timestamp_text(np.array(secs, dtype=np.int64)) == [reference(s) for s in secs]


# --- build_payload against a row-by-row reference ------------------------------------------


def _reference_payload(plan: dict[str, Any], program: Program, batch: dict[str, Any],
                       resolver: Any) -> tuple[bytes, int, int]:
    """build_payload as first written: rows, digest check, per-cell resolution, per-line hash."""
    if plan["rows_inline"]:
        rows = cells_from_json(batch["rows"])
    else:
        rng = batch["key_range"]
        rows = [list(r) for r in batch_cells(program, batch["entity"], rng["start"],
                                             rng["stop"])]
    assert rows_digest(rows) == batch["rows_digest"]
    resolved = [list(r) for r in rows]
    for c, name in enumerate(batch["columns"]):
        idx = [i for i, r in enumerate(rows) if r[c].startswith(PLACEHOLDER_PREFIX)]
        if not idx:
            continue
        domain, _, _ = rows[idx[0]][c][len(PLACEHOLDER_PREFIX):].partition(":")
        cut = len(PLACEHOLDER_PREFIX) + len(domain) + 1
        values = resolver.resolve_many(domain, name, [rows[i][c][cut:] for i in idx])
        for i, v in zip(idx, values, strict=True):
            resolved[i][c] = v
    lines = ["\t".join(r).encode("utf-8") for r in resolved]
    if not lines:
        return b"", 0, 0
    return b"\n".join(lines) + b"\n", len(lines), sum(map(line_hash, lines)) & MASK


class _NewlineResolver:
    """Resolves every placeholder to a value holding a newline (not escaped, like FPE's)."""

    def resolve_many(self, domain: str, column: str, inputs: Sequence[str]) -> list[str]:
        return [f"{domain}\n{x}" for x in inputs]


def _dev_plan(inline: bool) -> dict[str, Any]:
    plan = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text("utf-8"))
    if not inline:  # the same batches regenerated from the program, as large plans are
        plan = copy.deepcopy(plan)
        plan["rows_inline"] = False
        for batch in plan["batches"]:
            batch.pop("rows", None)
    return plan


@pytest.mark.parametrize("inline", [True, False])
def test_build_payload_equals_the_row_by_row_reference(inline: bool) -> None:
    plan = _dev_plan(inline)
    program = Program.from_json(plan["program"])
    fpe = PiiResolver(bytes(range(32)), plan["keys"]["algorithm"])
    placeholders = 0
    for batch in plan["batches"]:
        for resolver in (fpe, _NewlineResolver()):
            got = build_payload(plan, program, batch, resolver)  # type: ignore[arg-type]
            assert (got.copy, got.rows, got.digest) == \
                _reference_payload(plan, program, batch, resolver)
        placeholders += PLACEHOLDER_PREFIX.encode() in b"".join(
            "\t".join(c).encode() for c in batch_columns(
                program, batch["entity"], batch["key_range"]["start"],
                batch["key_range"]["stop"]))
    assert placeholders >= 2  # the plan does exercise resolution (customers, suppliers…)


def test_a_backslash_p_inside_text_is_not_a_placeholder() -> None:
    """COPY escapes a text's backslash, so `C:\\Program` holds `\\P` but starts no cell."""
    text = "C:\\Program".replace("\\", "\\\\")
    rows = [[text, "1"], ["x", "2"]]
    plan = {"rows_inline": True}
    batch = {"id": "b", "columns": ["path", "n"], "rows_digest": rows_digest(rows),
             "rows": [["C:\\Program", "1"], ["x", "2"]]}
    got = build_payload(plan, None, batch, None)  # type: ignore[arg-type]
    assert got.copy == b"C:\\\\Program\t1\nx\t2\n"
    assert got.rows == 2
    assert got.digest == (line_hash(b"C:\\\\Program\t1") + line_hash(b"x\t2")) & MASK


def test_a_batch_whose_only_row_is_empty_keeps_its_digest_and_line() -> None:
    """copy_text of one empty row is b"" (its digest), while the payload still has the line."""
    plan = {"rows_inline": True}
    batch = {"id": "b", "columns": ["note"], "rows_digest": rows_digest([[""]]),
             "rows": [[""]]}
    got = build_payload(plan, None, batch, None)  # type: ignore[arg-type]
    assert (got.copy, got.rows, got.digest) == (b"\n", 1, line_hash(b""))


def test_civil_dates_equal_pythons_calendar_and_postgresqls_bc_dates() -> None:
    """Independent oracles for the one civil-from-days formula both date paths use: Python's
    proleptic Gregorian calendar for years 1..9999, PostgreSQL's own text for BC dates."""
    import datetime as dt

    epoch = dt.date(1970, 1, 1).toordinal()
    days = [*RNG.integers(-719_162, 2_932_897, 20_000).tolist(), -719_162, 0, 2_932_896, -1]
    for d in days:
        day = dt.date.fromordinal(d + epoch)
        assert cells._civil(d) == (day.year, day.month, day.day)
    assert cells._pg_date(-719_163) == ("0001-12-31", " BC")  # date '0001-01-01' - 1
    assert cells._pg_date(-2_440_588) == ("4714-11-24", " BC")  # Julian day 0, PG's minimum
