"""Preflight: every guard checked before the first data write, all failures reported at once.

Each check names the rule it enforces and its seeds session. A failed preflight is a refusal
(exit 3) with an audit record; nothing of the tenant's data has been touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

import psycopg

from seedc.introspect.catalog import normalise_type
from seedc.plan.canonical import canonical_bytes, sha256_hex
from seedc.runtime.cache import CACHE_RULE, check_cache
from seedc.runtime.sandbox import ROUTING_RULE, check_routing

__all__ = ["CheckResult", "catalog_fingerprint", "run_preflight", "window_open"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    rule: str
    ok: bool
    detail: str


def _tables(plan: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for entity in plan["entities"]:
        schema, _, table = entity["table"].partition(".")
        out.append((schema, table))
    return out


def check_role(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    row = conn.execute(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row is not None
    user, superuser, bypass = row
    if superuser:
        return False, f"role {user} is a superuser; apply with a least-privilege role"
    if bypass:
        return False, f"role {user} has BYPASSRLS; apply with a role subject to RLS"
    return True, f"role {user}: no superuser, no BYPASSRLS"


PRIMARY_RULE = "write and verify on the primary, never a replica (session 18)"


def check_primary(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    """Runs before every other check and before the audit row: a standby is read-only."""
    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if row and row[0]:
        return False, ("connected to a standby (in recovery): seed and verify on the primary, "
                       "never on a replica")
    return True, "connected to the primary"


def check_rls(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    problems = []
    for schema, table in _tables(plan):
        row = conn.execute(
            "SELECT c.relrowsecurity, c.relforcerowsecurity, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (schema, table),
        ).fetchone()
        if row is None:
            problems.append(f"{schema}.{table}: table not found")
        elif not row[0]:
            problems.append(f"{schema}.{table}: row-level security is not enabled")
        elif not row[1]:
            problems.append(f"{schema}.{table}: row-level security is not forced")
        elif row[2] == 0:
            problems.append(f"{schema}.{table}: no RLS policy")
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(_tables(plan))} tables with RLS enabled, forced and a policy"


def check_migrations(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    expected = plan["guards"]["schema"]["migrations_head"]
    schema = _tables(plan)[0][0]
    try:
        with conn.transaction():
            row = conn.execute(
                psycopg.sql.SQL("SELECT max(version) FROM {}.schema_migrations").format(
                    psycopg.sql.Identifier(schema))
            ).fetchone()
    except psycopg.errors.Error as exc:
        return False, f"cannot read {schema}.schema_migrations: {exc.diag.message_primary}"
    head = row[0] if row else None
    if head != expected:
        relation = "pending migrations" if head is None or head < expected else "plan is stale"
        return False, (f"migrations head is {head!r}, the plan expects {expected!r} ({relation}); "
                       "apply migrations first or recompile against the current head")
    return True, f"migrations head {head}"


def catalog_fingerprint(conn: psycopg.Connection, tables: list[tuple[str, str]]) -> str:
    """The same fingerprint the compiler computes from the model, read from the catalog."""
    out = []
    for schema, table in sorted(tables, key=lambda t: f"{t[0]}.{t[1]}"):
        cols = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (schema, table),
        ).fetchall()
        out.append([f"{schema}.{table}",
                    sorted([name, normalise_type(t), bool(nn)] for name, t, nn in cols)])
    return "sha256:" + sha256_hex(canonical_bytes(out))


def check_fingerprint(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    expected = plan["guards"]["schema"]["fingerprint"]
    got = catalog_fingerprint(conn, _tables(plan))
    if got != expected:
        return False, (f"schema fingerprint {got} differs from the plan's {expected}: the target "
                       "tables changed (columns, types or nullability); update the model and "
                       "recompile" + _named_differences(conn, plan))
    return True, f"schema fingerprint {got}"


def _named_differences(conn: psycopg.Connection, plan: dict[str, Any]) -> str:
    """The columns behind a fingerprint mismatch, found as `seedc model check` finds them."""
    from seedc.introspect.catalog import read_catalog
    from seedc.introspect.check import column_differences

    expected = {e["table"]: list(e["columns"]) for e in plan["entities"]}
    tables = read_catalog(conn, sorted({t.partition(".")[0] for t in expected}))
    found = column_differences(expected, tables)
    if not found:
        return ("; no column was added or dropped: a type, length or nullability changed "
                "(`seedc model check MODEL --dsn ...` names it)")
    return "; " + "; ".join(f.message for f in found[:10])


def window_open(start: str, end: str, now: datetime) -> bool:
    """Whether `now` (UTC) is inside [start, end); end < start crosses midnight (session 17);
    start == end is the whole day (a tenant with no off-peak restriction, e.g. isolated dev)."""
    s = time.fromisoformat(start)
    e = time.fromisoformat(end)
    t = now.astimezone(UTC).time().replace(tzinfo=None)
    if s == e:
        return True
    if s < e:
        return s <= t < e
    return t >= s or t < e


def check_encryption(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    tables = [e for e in plan["entities"] if e.get("encrypted")]
    if not tables:
        return True, "no encrypted columns"
    problems = []
    for schema in sorted({e["table"].split(".", 1)[0] for e in tables}):
        for signature in (f"{schema}.encrypt_pii(text)", f"{schema}.decrypt_pii(bytea)"):
            row = conn.execute(
                "SELECT to_regprocedure(%s) IS NOT NULL AND "
                "has_function_privilege(to_regprocedure(%s), 'EXECUTE')",
                (signature, signature)).fetchone()
            if not (row and row[0]):
                problems.append(f"{signature} missing or not executable")
    if problems:
        return False, "; ".join(problems) + " (encryption at rest goes through the database)"
    columns = sum(len(e["encrypted"]) for e in tables)
    return True, f"{columns} column(s) encrypted at rest by the database (pgcrypto)"


def check_window(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    w = plan["guards"]["window"]
    now = datetime.now(UTC)
    if not window_open(w["start_utc"], w["end_utc"], now):
        return False, (f"outside the off-peak window {w['start_utc']}–{w['end_utc']} UTC "
                       f"(now {now:%H:%M} UTC); run inside the window")
    return True, f"inside window {w['start_utc']}–{w['end_utc']} UTC"


def check_flags(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    required = plan["guards"]["flags"]
    if not required:
        return True, "no flags required"
    schema = _tables(plan)[0][0]
    try:
        with conn.transaction():
            rows: dict[str, bool] = dict(conn.execute(
                psycopg.sql.SQL("SELECT name, enabled FROM {}.feature_flags WHERE name = ANY(%s)")
                .format(psycopg.sql.Identifier(schema)), (required,)).fetchall())
    except psycopg.errors.Error as exc:
        return False, f"cannot read feature flags: {exc.diag.message_primary}"
    off = [f for f in required if rows.get(f) is not True]
    if off:
        return False, f"flag(s) off or absent: {', '.join(off)}; enable them explicitly"
    return True, f"flags on: {', '.join(required)}"


def canary_includes(canary: dict[str, Any], tenant: str) -> bool:
    if canary.get("tenants"):
        return tenant in canary["tenants"]
    if canary.get("percent") is not None:
        bucket = int(hashlib.sha256(tenant.encode()).hexdigest()[:8], 16) % 100
        return bucket < int(canary["percent"])
    return False


def check_canary(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    canary = plan["guards"]["canary"]
    if not canary.get("enabled"):
        return True, "not a canary run"
    if not canary.get("tenants") and canary.get("percent") is None:
        return False, "canary run without a declared scope (percent or tenants)"
    if not canary_includes(canary, plan["tenant"]):
        return False, f"tenant {plan['tenant']} is outside the declared canary scope"
    return True, f"tenant {plan['tenant']} is in the canary scope"


def check_budget(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    budget = plan["guards"]["budget"]
    est = plan["estimate"]
    over = []
    if est["rows"] > budget["max_rows"]:
        over.append(f"rows {est['rows']} > {budget['max_rows']}")
    if est["bytes"] > budget["max_bytes"]:
        over.append(f"bytes {est['bytes']} > {budget['max_bytes']}")
    if est["seconds"] > budget["max_seconds"]:
        over.append(f"seconds {est['seconds']} > {budget['max_seconds']}")
    if over:
        return False, "estimate over budget: " + ", ".join(over) + "; adjust the manifest"
    return True, f"estimate {est['rows']} rows, {est['bytes']} bytes, {est['seconds']} s"


Check = Callable[[psycopg.Connection, dict[str, Any]], tuple[bool, str]]
CHECKS: tuple[tuple[str, str, Check], ...] = (
    ("role", "least-privilege role under RLS, no superuser/BYPASSRLS (sessions 5, 12)",
     check_role),
    ("rls", "every target table has RLS enabled, forced and a policy (sessions 5, 12)",
     check_rls),
    ("migrations", "no pending migrations; head matches the plan (session 11)", check_migrations),
    ("schema", "schema fingerprint matches the plan (sessions 2, 11)", check_fingerprint),
    ("encryption", "encrypted columns go through the database's pgcrypto function (session 1)",
     check_encryption),
    ("window", "only inside the off-peak window, UTC (sessions 8, 17)", check_window),
    ("flags", "required feature flags explicitly on (session 11)", check_flags),
    ("canary", "a canary run declares its scope and stays in it (session 11)", check_canary),
    ("budget", "estimate within budget (sessions 7, 16)", check_budget),
    ("routing", ROUTING_RULE, check_routing),
    ("cache", CACHE_RULE, check_cache),
)


def run_preflight(conn: psycopg.Connection, plan: dict[str, Any]) -> list[CheckResult]:
    """Run every check; none writes. The caller refuses if any failed."""
    results = []
    for name, rule, check in CHECKS:
        ok, detail = check(conn, plan)
        results.append(CheckResult(name, rule, ok, detail))
    return results
