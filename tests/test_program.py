"""The program interpreter: exact decimals, calendar arithmetic, keys and generators."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedc.compiler.expressions import parse_expression
from seedc.program.batch import batch_cells
from seedc.program.cells import column_cells
from seedc.program.evaluate import BatchContext, Program, evaluate
from seedc.program.operators import add_months, rescale
from seedc.program.rng import uuid5_many
from seedc.program.values import ProgramError


def _program(columns: dict[str, tuple[str, str]], count: int = 50) -> Program:
    return Program.from_json({
        "environment": "dev", "tenant": "t", "reference_datetime": "2025-01-31T12:00:00Z",
        "tenant_values": {"id": str(uuid.uuid4()), "slug": "t", "name": "T", "environment": "dev"},
        "entities": {"e": {"table": "app.e", "count": count, "columns": [
            {"name": n, "type": t, "nullable": True, "expr": parse_expression(x).program}
            for n, (t, x) in columns.items()]}},
    })


def _eval(expr: str, sql_type: str = "text", n: int = 3) -> list[str]:
    program = _program({"v": (sql_type, expr)}, n)
    return [row[0] for row in batch_cells(program, "e", 0, n)]


@pytest.mark.parametrize(("expr", "sql_type", "expected"), [
    ("0.1 + 0.2", "numeric(10,2)", "0.30"),
    ("10.00 / 3", "numeric(12,5)", "3.33333"),
    ("round(2.675, 2)", "numeric(10,2)", "2.68"),
    ("round(2.665, 2)", "numeric(10,2)", "2.66"),  # half-even
    ("1234.5 * 0.01", "numeric(12,3)", "12.345"),
    ("-(3 - 5) % 3", "integer", "2"),
    ('d"2025-01-31" + months(1)', "date", "2025-02-28"),
    ('d"2024-01-31" + months(1)', "date", "2024-02-29"),
    ('d"2025-03-31" - months(1)', "date", "2025-02-28"),
    ("ref_date() + days(1)", "date", "2025-02-01"),
    ("ref_ts() + hours(13)", "timestamptz", "2025-02-01 01:00:00+00"),
    ('concat("n=", text(7), "/", text(1.50))', "text", "n=7/1.50"),
    ('if(1 < 2, "yes", "no")', "text", "yes"),
    ('lpad(text(42), 5, "0")', "text", "00042"),
    ("null", "text", "\\N"),
    ("true and not false", "boolean", "t"),
])
def test_expression_values(expr: str, sql_type: str, expected: str) -> None:
    assert _eval(expr, sql_type)[0] == expected


@pytest.mark.parametrize(("expr", "sql_type", "message"), [
    ("1.234", "numeric(10,2)", "use round(x, 2)"),
    ('"x"', "integer", "cannot go into a integer column"),
    ("ref_date() + 1", "date", "does not apply to date and int"),
    ('1 / 0', "numeric(10,2)", "division by zero"),
    ("int_range(5, 1)", "integer", "lo <= hi"),
    ('"abcdef"', "varchar(3)", "longer than varchar(3)"),
    ("100000.00", "numeric(6,2)", "does not fit"),
])
def test_type_errors_are_explained(expr: str, sql_type: str, message: str) -> None:
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _eval(expr, sql_type)


@given(st.integers(-10**12, 10**12), st.integers(0, 6), st.integers(0, 6))
def test_rescale_up_then_down_is_identity(value: int, a: int, b: int) -> None:
    assert rescale(rescale(value, a, a + b), a + b, a) == value


@given(st.integers(-10**9, 10**9), st.integers(1, 6))
def test_rescale_down_rounds_half_even_like_decimal(value: int, digits: int) -> None:
    expected = Decimal(value).scaleb(-digits).quantize(Decimal(1), rounding="ROUND_HALF_EVEN")
    assert rescale(value, digits, 0) == int(expected)


@given(st.dates(min_value=__import__("datetime").date(1900, 1, 1),
                max_value=__import__("datetime").date(2200, 12, 31)), st.integers(-240, 240))
def test_add_months_applies_the_month_end_rule(day: object, months: int) -> None:
    import calendar
    import datetime as dt

    assert isinstance(day, dt.date)
    days = (day - dt.date(1970, 1, 1)).days
    got = dt.date(1970, 1, 1) + dt.timedelta(days=int(add_months(days, months)))
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        return
    last = calendar.monthrange(year, month)[1]
    assert got == dt.date(year, month, min(day.day, last))


def test_uuid5_many_equals_the_standard_library() -> None:
    ns = uuid.uuid4()
    names = [b"0", b"1", b"12/3", "ação".encode()]
    assert list(uuid5_many(ns, names)) == [str(uuid.uuid5(ns, n.decode())) for n in names]


def test_uuid5_many_matches_the_rfc_9562_test_vector() -> None:
    """RFC 9562 Appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace."""
    dns = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    assert list(uuid5_many(dns, [b"www.example.com"])) == [
        "2ed6657d-e927-568b-95e1-2665a8aea6a2"]


def test_picks_and_ranges_stay_in_bounds_and_spread() -> None:
    program = _program({
        "a": ("integer", "int_range(1, 6)"),
        "b": ("text", 'weighted_pick(["x", "y"], [9, 1])'),
        "c": ("numeric(10,2)", "money(1.00, 2.00)"),
    }, count=5000)
    rows = batch_cells(program, "e", 0, 5000)
    a = [int(r[0]) for r in rows]
    assert set(a) == {1, 2, 3, 4, 5, 6}
    share_x = sum(r[1] == "x" for r in rows) / len(rows)
    assert 0.87 < share_x < 0.93
    assert all(Decimal("1.00") <= Decimal(r[2]) <= Decimal("2.00") for r in rows)


def test_columns_can_refer_to_each_other_but_not_in_a_cycle() -> None:
    ok = _program({"a": ("integer", "row.b + 1"), "b": ("integer", "int_range(1, 3)")})
    rows = batch_cells(ok, "e", 0, 10)
    assert all(int(r[0]) == int(r[1]) + 1 for r in rows)
    bad = _program({"a": ("integer", "row.b"), "b": ("integer", "row.a")})
    with pytest.raises(ProgramError, match="refers to itself"):
        batch_cells(bad, "e", 0, 1)


def test_null_in_a_not_null_column_is_refused() -> None:
    program = _program({"a": ("integer", "1")})
    ctx = BatchContext(program, "e", np.arange(2, dtype=np.uint64))
    vec = evaluate(parse_expression("null").program, ctx)
    with pytest.raises(ProgramError, match="NOT NULL"):
        column_cells(vec, "integer", False, 2)


def test_document_bases_never_repeat_one_digit() -> None:
    """CPF/CNPJ bases of one repeated digit are invalid (python-stdnum rejects them)."""
    from seedc.program.generators.people import _skip_repeated

    v = np.array([0, 111111109, 111111110, 10**9 - 11], dtype=object)
    got = _skip_repeated(v, 10, 9)
    assert list(got) == [1, 111111110, 111111112, 999999998]
    assert all(len(set(f"{int(x):09d}")) > 1 for x in got)
    assert list(_skip_repeated(np.arange(0, 3000, dtype=object), 10, 9)) == list(range(1, 3001))


def _fresh_python(code: str) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_loan_quote_parses_in_a_fresh_interpreter_with_no_other_import() -> None:
    """The registry imports every generator module: no name depends on import order."""
    out = _fresh_python(
        "from seedc.compiler.expressions import parse_expression\n"
        "p = parse_expression('loan_quote(principal=1000.00, rate_monthly=0.02, term=12, "
        "contract_date=d\"2025-01-01\").payment').program\n"
        "print(p[0], p[1][1])\n")
    assert out.split() == ["get", "loan_quote"]


def test_the_registry_is_complete_and_generators_never_import_the_interpreter() -> None:
    out = _fresh_python(
        "import sys\n"
        "from seedc.program.registry import FUNCTIONS, SIGNATURES\n"
        "from seedc.program.functions import SIGNATURES as OLD\n"
        "assert OLD is SIGNATURES and set(FUNCTIONS) == set(SIGNATURES)\n"
        "print('seedc.program.evaluate' in sys.modules, len(FUNCTIONS))\n")
    loaded, count = out.split()
    assert loaded == "False"  # no evaluate <-> generators import cycle
    assert int(count) >= 40


_I64 = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(_I64, min_size=1, max_size=8), st.lists(_I64, min_size=1, max_size=8),
       st.sampled_from(["add", "sub", "mul"]))
def test_checked_arithmetic_is_exact_or_refused_never_wrapped(xs: list[int], ys: list[int],
                                                               op: str) -> None:
    """Issue 9: Python's unbounded ints are the oracle; numpy alone would wrap silently."""
    from seedc.program import checked

    n = min(len(xs), len(ys))
    x, y = np.array(xs[:n], dtype=np.int64), np.array(ys[:n], dtype=np.int64)
    exact = [{"add": a + b, "sub": a - b, "mul": a * b}[op] for a, b in zip(xs, ys, strict=False)]
    fits = all(-(2**63) <= v < 2**63 for v in exact)
    if fits:
        assert getattr(checked, op)(x, y).tolist() == exact
    else:
        with pytest.raises(ProgramError, match="outside the 64-bit integer range"):
            getattr(checked, op)(x, y)


@given(st.integers(-719_162, 2_932_896))
def test_dates_print_like_python_in_the_common_era(days: int) -> None:
    from datetime import date, timedelta

    from seedc.program.cells import _pg_date, date_text

    expected = (date(1970, 1, 1) + timedelta(days=days)).isoformat()
    assert date_text(np.array([days], dtype=np.int64)) == [expected]
    assert "".join(_pg_date(days)) == expected  # the wide-range path agrees where both apply


def test_integer_literals_beyond_json_doubles_survive_the_plan() -> None:
    """RFC 8785 holds integers only up to 2**53 - 1; bigger literals travel as digit strings."""
    from seedc.compiler.build import json_safe

    program = json_safe(parse_expression("9223372036854775807 - int_range(0, 1)").program)
    assert program[2] == ["lit", "int", "9223372036854775807"]
    prog = _program({"v": ("bigint", "0")}, 2)
    ctx = BatchContext(prog, "e", np.arange(2, dtype=np.uint64))
    assert evaluate(program[2], ctx).data == 2**63 - 1
