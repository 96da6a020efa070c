"""Only storable values compile; size is bounded at compile (issue 9, items 4 and 5).

A small probe model (one entity, one column under test) is compiled for real, entry by entry:
arithmetic that would wrap, values outside their declared column type, declared types outside
PostgreSQL's limits, huge generator arguments and manifests above their budget are all exit 2
with the file, line and path, and nothing is written. Values at the exact limits compile, and
PostgreSQL itself is the oracle that they store: a compiled plan's inline rows COPY into a
table of the declared types and read back as the same text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from seedc.cli import cli
from seedc.compiler import build
from seedc.compiler.pipeline import compile_manifest
from seedc.errors import InvalidInput
from seedc.plan.rows import cells_from_json, copy_text
from tests.manifests import line_of

MODEL = """apiVersion: seedc/v1
kind: Model
metadata: {{name: probe, version: 1}}
entities:
  probes:
    table: app.probes
    columns:
      id: {{type: uuid, expr: "key_uuid()"}}
      tenant_id: {{type: uuid, expr: "tenant.id"}}
{columns}"""

MANIFEST = """apiVersion: seedc/v1
kind: Manifest
metadata: {{environment: dev, tenant: acme, tenant_name: {tenant_name}, profile: probe, version: 1,
  isolated_dev: true}}
mode: {mode}
reference_datetime: "2025-01-01T00:00:00Z"
model: probe.yaml
volumetry:
  probes: {{count: {count}, cap: {cap}}}
rate_limit:
  target_rows_per_second: 5000
  cap_rows_per_second: 20000
  backoff: {{initial_ms: 100, max_ms: 2000, max_retries: 5}}
ttl: {{load: "7d", dr: "3d"}}
budget: {{max_rows: {max_rows}, max_bytes: {max_bytes}, max_seconds: {max_seconds}}}
window: {{start_utc: "00:00", end_utc: "00:00"}}
keys: {{ref: seedc/dev/acme/fpe, salt_version: 1, algorithm: FF1}}
schema: {{migrations_head: "0001_probe"}}
flags: {{required: [seed.probe]}}
canary: {{enabled: false}}
timeouts:
  baseline: {{statement_ms: 30000, lock_ms: 5000}}
  load: {{statement_ms: 90000, lock_ms: 15000}}
  dr: {{statement_ms: 90000, lock_ms: 15000}}
"""

REF_DAYS = 20_089  # 2025-01-01, the probe's reference date, in days since 1970-01-01
REF_SECONDS = 1_735_689_600


def probe(tmp: Path, columns: dict[str, tuple[str, str]], count: int = 3, *,
          mode: str = "baseline", cap: int | None = None, max_rows: int = 100_000,
          max_bytes: int = 100_000_000, max_seconds: int = 3600,
          tenant_name: str = "Acme") -> Path:
    """Write the probe model with `columns` ({name: (sql type, expression)}) and its manifest."""
    tmp.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"      {name}: {{type: {json.dumps(sql_type)}, expr: {json.dumps(expr)}}}\n"
                    for name, (sql_type, expr) in columns.items())
    (tmp / "probe.yaml").write_text(MODEL.format(columns=lines), encoding="utf-8")
    path = tmp / "probe-manifest.yaml"
    path.write_text(MANIFEST.format(mode=mode, count=count, cap=cap or count, max_rows=max_rows,
                                    max_bytes=max_bytes, max_seconds=max_seconds,
                                    tenant_name=json.dumps(tenant_name)),
                    encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    """Compile `path` expecting InvalidInput; its summary and details as one text."""
    with pytest.raises(InvalidInput) as caught:
        compile_manifest(path)
    return "\n".join([str(caught.value), *caught.value.details])


def cli_compile(path: Path) -> tuple[int, str, Path]:
    out = path.parent / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out)])
    return result.exit_code, result.output, out


# --- values that cannot be stored: (id, column type, expression, what the error says) --------

REFUSED: list[tuple[str, str, str, str]] = [
    ("int64-product-wraps", "numeric(30,2)", "int_range(1, 1) * 4294967296 * 4294967296 + 100",
     "18446744073709551616 is outside the 64-bit integer range"),
    ("int64-sum-wraps", "bigint", "9223372036854775807 + int_range(1, 1)",
     "9223372036854775808 is outside the 64-bit integer range"),
    ("int64-literal", "bigint", "9223372036854775808",
     "integer literal: 9223372036854775808 is outside the 64-bit integer range"),
    ("negation-wraps", "bigint", "-(-9223372036854775807 - 1)", "outside the 64-bit integer"),
    ("decimal-product-wraps", "numeric(40,5)", "1.0 / 3 * 100000000000000000",
     "decimal *: 3333300000000000000000 is outside the 64-bit integer range"),
    ("modulo-zero", "integer", "int_range(1, 9) % 0", "modulo by zero"),
    ("division-zero", "numeric(10,2)", "int_range(1, 9) / 0", "division by zero"),
    ("chance-above-one", "boolean", "chance(1.5)", "chance(p) needs 0 <= p <= 1, got 1.5"),
    ("chance-negative", "boolean", "chance(-0.1)", "chance(p) needs 0 <= p <= 1, got -0.1"),
    ("hours-wrap", "timestamptz", "ref_ts() + hours(9223372036854775807)",
     "hours(n): 33204139332677192905200 is outside the 64-bit integer range"),
    ("day-offset-wraps", "date", "ref_date() + days(9223372036854775807)",
     "outside the 64-bit integer range"),
    ("months-beyond-range", "date", "ref_date() + months(100000000)",
     "months leaves PostgreSQL's date range"),
    ("smallint-above", "smallint", "32768", "32768 is outside the smallint range -32768..32767"),
    ("smallint-below", "smallint", "-32769", "-32769 is outside the smallint range"),
    ("integer-above", "integer", "2147483648", "2147483648 is outside the integer range"),
    ("numeric-digits", "numeric(5,2)", "1000.00",
     "does not fit numeric(5,2): at most 3 digits before the point"),
    ("numeric-scale", "numeric(5,2)", "1.005", "value has 3 decimal places"),
    ("varchar-longer", "varchar(3)", '"abcd"', "a value of 4 characters is longer than varchar(3)"),
    ("date-after-max", "date", f"ref_date() + days({2_145_042_905 - REF_DAYS + 1})",
     "outside PostgreSQL's date range"),
    ("date-before-min", "date", f"ref_date() - days({2_440_588 + REF_DAYS + 1})",
     "outside PostgreSQL's date range"),
    ("timestamp-after-max", "timestamptz",
     f"ref_ts() + seconds({9_224_318_015_999 - REF_SECONDS + 1})",
     "outside PostgreSQL's timestamp range"),
    ("date-too-late-for-timestamptz", "timestamptz",
     f"ref_date() + days({2_145_042_905 - REF_DAYS})",
     "outside PostgreSQL's timestamptz range"),
    ("lpad-huge-width", "text", 'lpad("x", 100000000, "0")',
     "lpad width 100000000 is outside 0..10000"),
    ("concat-too-long", "text", 'concat(lpad("x", 6000, "0"), lpad("y", 6000, "0"))',
     "texts are at most 10000"),
    ("round-scale", "numeric(10,2)", "round(1.5, 30)", "needs 0 <= scale <= 18"),
    ("list-element", "bigint", "pick([1, 9223372036854775808])",
     "integer literal: 9223372036854775808 is outside the 64-bit integer range"),
]


@pytest.mark.parametrize(("sql_type", "expr", "fragment"),
                         [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_value_that_cannot_be_stored_is_refused_at_compile(
        tmp_path: Path, sql_type: str, expr: str, fragment: str) -> None:
    path = probe(tmp_path, {"v": (sql_type, expr)})
    message = refusal(path)
    model = tmp_path / "probe.yaml"
    assert f"{model}:{line_of(model, ' v: ')}: entities.probes.columns.v.expr: " in message
    assert fragment in message


@pytest.mark.parametrize("case", ["int64-product-wraps", "smallint-above", "lpad-huge-width",
                                  "date-after-max"])
def test_the_cli_exits_2_and_writes_no_plan(tmp_path: Path, case: str) -> None:
    _id, sql_type, expr, fragment = next(r for r in REFUSED if r[0] == case)
    code, output, out = cli_compile(probe(tmp_path, {"v": (sql_type, expr)}))
    assert code == 2, output
    assert fragment in output
    assert "Traceback" not in output
    assert not out.exists()


def test_every_batch_is_checked_even_when_the_plan_carries_no_rows(tmp_path: Path) -> None:
    """Load/dr-sized plans keep only digests, but the compiler generates every batch for them:
    a value out of range in the last batch of a program-only plan is still refused."""
    count = build.INLINE_ROW_LIMIT + 5_000
    expr = f"if(ordinal() == {count - 1}, 32768, 1)"
    path = probe(tmp_path, {"v": ("smallint", expr)}, count=count, mode="load")
    message = refusal(path)
    assert "entities.probes.columns.v.expr: 32768 is outside the smallint range" in message
    ok = compile_manifest(probe(tmp_path / "ok", {"v": ("smallint", expr.replace("32768",
                                                                                   "32767"))},
                                count=count, mode="load"))
    assert ok["rows_inline"] is False
    assert len(ok["batches"]) >= 3


def test_a_nul_character_never_reaches_a_text_column(tmp_path: Path) -> None:
    """PostgreSQL text cannot hold NUL; the tenant's name is text the manifest supplies (the
    YAML guard refuses the control character before any value is built)."""
    path = probe(tmp_path, {"v": ("text", "tenant.name")}, tenant_name="Acme\u0000S.A.")
    code, output, out = cli_compile(path)
    assert code == 2, output
    assert "probe-manifest.yaml:3: value contains a control character" in output
    assert "S.A." not in output  # the value itself is not echoed
    assert not out.exists()


def test_the_silent_wrap_of_the_issue_is_exit_2_from_a_real_seedc_process(tmp_path: Path) -> None:
    """`int_range(1,1) * 2^32 * 2^32 + 100` used to store 100.00; now `seedc compile` refuses."""
    from tests.runtime_support import run_cli

    path = probe(tmp_path, {"v": ("numeric(30,2)", REFUSED[0][2])})
    result = run_cli(["compile", str(path), "-o", "plan.json"], cwd=tmp_path)
    assert result.code == 2, result.text
    model = tmp_path / "probe.yaml"
    assert (f"{model}:{line_of(model, ' v: ')}: entities.probes.columns.v.expr: integer *: "
            "18446744073709551616 is outside the 64-bit integer range") in result.text
    assert "Traceback" not in result.text
    assert not (tmp_path / "plan.json").exists()


# --- declared types outside PostgreSQL's limits ---------------------------------------------

BAD_TYPES = [
    ("varchar(0)", "varchar(0): the length must be within 1..10485760"),
    ("varchar(10485761)", "varchar(10485761): the length must be within 1..10485760"),
    ("numeric(1001,2)", "numeric(1001,2): the precision must be within 1..1000"),
    ("numeric(0,0)", "numeric(0,0): the precision must be within 1..1000"),
    ("numeric(10,1001)", "the scale must be within 0..1000"),
]


@pytest.mark.parametrize(("sql_type", "fragment"), BAD_TYPES, ids=[t for t, _ in BAD_TYPES])
def test_a_declared_type_outside_postgresql_limits_is_refused_on_the_model(
        tmp_path: Path, sql_type: str, fragment: str) -> None:
    path = probe(tmp_path, {"v": (sql_type, '"a"')})
    code, output, out = cli_compile(path)
    assert code == 2, output
    model = tmp_path / "probe.yaml"
    assert f"{model}:{line_of(model, ' v: ')}: entities.probes.columns.v.type: " in output
    assert fragment in output
    assert not out.exists()


# --- the exact limits compile -----------------------------------------------------------------

LIMITS: list[tuple[str, str, str]] = [
    ("smallint", "32767", "32767"),
    ("smallint", "-32768", "-32768"),
    ("integer", "2147483647", "2147483647"),
    ("integer", "-2147483648", "-2147483648"),
    ("bigint", "9223372036854775807", "9223372036854775807"),
    ("bigint", "-9223372036854775807 - 1", "-9223372036854775808"),
    ("numeric(5,2)", "999.99", "999.99"),
    ("numeric(5,2)", "-999.99", "-999.99"),
    ("numeric(2,5)", "0.00099", "0.00099"),
    ("numeric(1000,0)", "7", "7"),
    ("varchar(3)", '"abc"', "abc"),
    ("varchar(1)", '"é"', "é"),
    ("date", f"ref_date() + days({2_145_042_905 - REF_DAYS})", "5874897-12-31"),
    ("date", f"ref_date() - days({2_440_588 + REF_DAYS})", "4714-11-24 BC"),
    ("date", 'd"0001-01-01" - days(1)', "0001-12-31 BC"),
    ("timestamptz", f"ref_ts() + seconds({9_224_318_015_999 - REF_SECONDS})",
     "294276-12-31 23:59:59+00"),
    ("timestamptz", f"ref_ts() - seconds({210_866_803_200 + REF_SECONDS})",
     "4714-11-24 00:00:00+00 BC"),
    ("bigint", "int_range(-9223372036854775807 - 1, -9223372036854775807 - 1)",
     "-9223372036854775808"),
    ("bigint", "int_range(9223372036854775807, 9223372036854775807)", "9223372036854775807"),
    ("boolean", "chance(1)", "t"),
    ("boolean", "chance(0)", "f"),
    ("text", 'lpad("x", 10000, "y")', "y" * 9999 + "x"),
]


@pytest.mark.parametrize(("sql_type", "expr", "cell"), LIMITS,
                         ids=[f"{t}={c[:24]}" for t, _, c in LIMITS])
def test_values_at_the_exact_limits_compile(tmp_path: Path, sql_type: str, expr: str,
                                            cell: str) -> None:
    plan = compile_manifest(probe(tmp_path, {"v": (sql_type, expr)}))
    rows = cells_from_json(plan["batches"][0]["rows"])
    assert {row[2] for row in rows} == {cell}


# --- PostgreSQL itself is the oracle ----------------------------------------------------------

ORACLE_COLUMNS: dict[str, tuple[str, str]] = {
    "s_max": ("smallint", "32767"),
    "s_any": ("smallint", "int_range(-32768, 32767)"),
    "i_min": ("integer", "-2147483648"),
    "i_any": ("integer", "int_range(-2147483648, 2147483647)"),
    "b_any": ("bigint", "int_range(-9223372036854775807 - 1, 9223372036854775807)"),
    "n_edge": ("numeric(5,2)", "money(-999.99, 999.99)"),
    "n_frac": ("numeric(2,5)", "dec_range(0.00000, 0.00099)"),
    "n_wide": ("numeric(1000,990)", "dec_range(-9.99, 9.99)"),
    "n_int": ("numeric(18,0)", "int_range(-999999999999999999, 999999999999999999)"),
    "v3": ("varchar(3)", 'pick(["abc", "é☃x", "a\\\\b", ""])'),
    "v_long": ("varchar(10485760)", 'lpad(text(ordinal()), 10000, "0")'),
    "t_any": ("text", 'concat(full_name(), "\\n", city(), "\\\\")'),
    "d_any": ("date", f"ref_date() + days(int_range({-2_440_588 - REF_DAYS}, "
                      f"{2_145_042_905 - REF_DAYS}))"),
    "d_max": ("date", f"ref_date() + days({2_145_042_905 - REF_DAYS})"),
    "d_min": ("date", f"ref_date() - days({2_440_588 + REF_DAYS})"),
    "ts_any": ("timestamptz", f"ref_ts() + seconds(int_range({-210_866_803_200 - REF_SECONDS}, "
                              f"{9_224_318_015_999 - REF_SECONDS}))"),
    "ts_max": ("timestamptz", f"ref_ts() + seconds({9_224_318_015_999 - REF_SECONDS})"),
    "ts_min": ("timestamptz", f"ref_ts() - seconds({210_866_803_200 + REF_SECONDS})"),
    "ts_month": ("timestamptz", "ref_ts() + months(int_range(-1200, 1200)) + hours(5)"),
    "flag": ("boolean", "chance(0.5)"),
}


def test_every_inline_value_of_a_compiled_plan_loads_into_postgresql_as_the_same_text(
        tmp_path: Path, pg_db: str) -> None:
    """Independent oracle: PostgreSQL accepts each value in a column of the declared type and
    prints it back exactly as the plan holds it (what digests and drift checks compare)."""
    plan = compile_manifest(probe(tmp_path, ORACLE_COLUMNS, count=300))
    assert plan["rows_inline"] is True
    rows = [row for batch in plan["batches"] for row in cells_from_json(batch["rows"])]
    assert len(rows) == 300
    columns = {"id": "uuid", "tenant_id": "uuid",
               **{name: sql_type for name, (sql_type, _) in ORACLE_COLUMNS.items()}}
    ddl = sql.SQL("CREATE TABLE probes ({})").format(sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(sql_type))  # type from the table
        for name, sql_type in columns.items()))
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO'")
        conn.execute(ddl)
        with conn.cursor().copy("COPY probes FROM STDIN") as copy:
            copy.write(copy_text(rows))
        out = bytearray()
        with conn.cursor().copy("COPY probes TO STDOUT") as copy:
            for chunk in copy:
                out += chunk
    assert sorted(bytes(out).splitlines()) == sorted(copy_text(rows).splitlines())
    dates = [row[list(columns).index("d_any")] for row in rows]
    assert rows[0][list(columns).index("ts_min")].endswith(" BC")  # BC covered
    assert any(len(d.split("-")[0]) > 4 for d in dates)  # and years past 9999


# --- size bounded at compile ------------------------------------------------------------------


def test_a_count_of_a_billion_is_refused_by_the_budget_before_any_row_exists(
        tmp_path: Path) -> None:
    path = probe(tmp_path, {"v": ("integer", "1")}, count=10**9, max_rows=10**6)
    started = time.monotonic()
    code, output, out = cli_compile(path)
    assert code == 2, output
    line = line_of(path, "budget:")
    assert (f"{path}:{line}: budget.max_rows: the plan has 1000000000 rows, above "
            "the budget's 1000000") in output
    assert time.monotonic() - started < 30  # refused up front, not after generating
    assert not out.exists()


@pytest.mark.parametrize(("budget", "field", "fragment"), [
    ({"max_seconds": 1}, "max_seconds", "the plan needs 2 s at 5000 rows/s, above the budget's 1"),
    ({"max_bytes": 1000}, "max_bytes", "bytes by batch 0001-probes-0001, above the budget's 1000"),
    ({"max_rows": 9999}, "max_rows", "the plan has 10000 rows, above the budget's 9999"),
])
def test_the_estimate_is_checked_against_the_budget_at_compile(
        tmp_path: Path, budget: dict[str, int], field: str, fragment: str) -> None:
    """Sessions 7 and 16: over budget is refused when estimated, not only at apply."""
    path = probe(tmp_path, {"v": ("text", 'lpad("x", 50, "y")')}, count=10_000, **budget)
    code, output, out = cli_compile(path)
    assert code == 2, output
    assert f"{path}:{line_of(path, 'budget:')}: budget.{field}: " in output
    assert fragment in output
    assert not out.exists()


def test_a_huge_string_argument_is_refused_before_allocation(tmp_path: Path) -> None:
    path = probe(tmp_path, {"v": ("text", 'lpad("x", 1000000000, "0")')}, count=10_000)
    started = time.monotonic()
    assert "lpad width 1000000000 is outside 0..10000" in refusal(path)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("mode", ["baseline", "load"])
def test_rows_are_inline_up_to_the_threshold_whatever_the_mode(tmp_path: Path,
                                                               mode: str) -> None:
    limit = build.INLINE_ROW_LIMIT
    small = compile_manifest(probe(tmp_path / "small", {"v": ("integer", "ordinal()")},
                                   count=limit, mode=mode))
    large = compile_manifest(probe(tmp_path / "large", {"v": ("integer", "ordinal()")},
                                   count=limit + 1, mode=mode))
    assert small["rows_inline"] is True
    assert all("rows" in b for b in small["batches"])
    assert large["rows_inline"] is False
    assert all("rows" not in b for b in large["batches"])
    assert len(json.dumps(large)) < len(json.dumps(small)) // 10


def test_the_runtime_applies_a_baseline_plan_without_inline_rows(
        target: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A baseline above the threshold carries the program; apply regenerates its rows, checks
    each batch's digest and verifies the database, like a load plan."""
    from tests.manifests import MANIFEST as ACME

    monkeypatch.setattr(build, "INLINE_ROW_LIMIT", 100)  # the example baseline has ~600 rows
    plan = compile_manifest(ACME)
    inline = json.loads((Path(ACME).parents[2] / "plans" / "dev" / "acme.plan.json").read_text())
    assert plan["mode"] == "baseline"
    assert plan["rows_inline"] is False
    assert all("rows" not in b for b in plan["batches"])
    # the same rows as the committed inline plan, batch by batch
    assert ([b["rows_digest"] for b in plan["batches"]]
            == [b["rows_digest"] for b in inline["batches"]])
    result = target.cli("apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn,
                        "--json")
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["status"] == "succeeded"
    assert report["rows_written"] == plan["estimate"]["rows"]
    assert target.counts(plan) == {e["table"]: e["rows"] for e in plan["entities"]}
