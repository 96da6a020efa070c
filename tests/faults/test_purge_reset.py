"""Purge and reset: one tenant's dataset goes, children first, set-based, and nothing else.

Real PostgreSQL with the demo schema (0001 + 0002_fk_indexes) and the least-privilege apply
role. Two tenants share the database so a purge that leaks across tenants would show; the
expected foreign keys are listed here by hand from the DDL (an oracle independent of the
catalog query under test).
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
import pytest
from psycopg import sql

from seedc.plan.format import read_plan
from seedc.runtime.db import connect
from seedc.runtime.purge import child_first, purge_tenant
from seedc.runtime.schema_checks import unindexed_foreign_keys
from tests.manifests import REPO
from tests.runtime_support import SCHEMA_DIR, Target, planned_counts, table_dump

#: Every foreign key of the demo schema whose columns lead no index in 0001 alone (read off
#: manifests/schema/0001_banking_core.sql: `tenant_id` is covered where a UNIQUE constraint
#: starts with it, `addresses.customer_id` and `installments.loan_id` likewise).
UNINDEXED_IN_0001 = {
    ("app.addresses", "tenant_id", "app.tenants"),
    ("app.customers", "consultant_id", "app.consultants"),
    ("app.suppliers", "category_id", "app.categories"),
    ("app.bank_accounts", "customer_id", "app.customers"),
    ("app.bank_accounts", "account_type_id", "app.account_types"),
    ("app.contracts", "customer_id", "app.customers"),
    ("app.credit_limits", "tenant_id", "app.tenants"),
    ("app.credit_limits", "customer_id", "app.customers"),
    ("app.credit_limits", "limit_policy_id", "app.limit_policies"),
    ("app.transactions", "tenant_id", "app.tenants"),
    ("app.transactions", "bank_account_id", "app.bank_accounts"),
    ("app.transactions", "category_id", "app.categories"),
    ("app.loans", "tenant_id", "app.tenants"),
    ("app.loans", "contract_id", "app.contracts"),
    ("app.loans", "customer_id", "app.customers"),
    ("app.installments", "tenant_id", "app.tenants"),
}


def _tables(plan: dict[str, Any]) -> list[str]:
    return [e["table"] for e in plan["entities"]]


def _parse(line: str) -> tuple[str, str, str]:
    child, _, rest = line.partition("(")
    columns, _, rest = rest.partition(") references ")
    return child, columns, rest.split(" ", 1)[0]


def test_the_demo_schema_indexes_every_foreign_key_column(target: Target,
                                                          plan: dict[str, Any]) -> None:
    with psycopg.connect(target.apply_dsn) as conn:
        assert unindexed_foreign_keys(conn, _tables(plan)) == []


def test_without_0002_the_check_names_exactly_the_unindexed_foreign_keys(
        pg_db: str, plan: dict[str, Any]) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute((SCHEMA_DIR / "0001_banking_core.sql").read_bytes())
        found = unindexed_foreign_keys(conn, _tables(plan))
        assert {_parse(line) for line in found} == UNINDEXED_IN_0001
        assert len(found) == len(UNINDEXED_IN_0001)
        line = next(x for x in found if x.startswith("app.transactions(category_id)"))
        assert line.endswith("CREATE INDEX ON app.transactions (category_id)"), line
        assert "purge and reset scan app.transactions once per deleted app.categories row" \
            in line
        # (schema, table) pairs as preflight lists them give the same answer
        pairs = [tuple(t.split(".")) for t in _tables(plan)]
        assert unindexed_foreign_keys(conn, pairs) == found  # type: ignore[arg-type]
        # only the tables asked about
        assert unindexed_foreign_keys(conn, ["app.loans"]) == [
            x for x in found if x.startswith("app.loans(")]
        # the migration fixes all of it, and applying it twice is harmless
        for _ in range(2):
            conn.execute((SCHEMA_DIR / "0002_fk_indexes.sql").read_bytes())
        assert unindexed_foreign_keys(conn, _tables(plan)) == []
        head = conn.execute("SELECT max(version) FROM app.schema_migrations").fetchone()
        assert head == ("0001_banking_core",)  # the head that plans check is unchanged


def test_child_first_puts_every_table_before_the_tables_it_references(
        target: Target, plan: dict[str, Any]) -> None:
    with psycopg.connect(target.admin_dsn) as conn:
        edges = conn.execute(
            "SELECT tc.table_schema || '.' || tc.table_name, "
            "ccu.table_schema || '.' || ccu.table_name "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.constraint_column_usage ccu "
            "ON ccu.constraint_name = tc.constraint_name "
            "AND ccu.constraint_schema = tc.constraint_schema "
            "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'app'").fetchall()
    with psycopg.connect(target.apply_dsn) as conn:
        order = [e["table"] for e in child_first(conn, plan)]
    assert sorted(order) == sorted(_tables(plan))
    assert len(edges) > 20
    for child, parent in edges:
        if child != parent and child in order and parent in order:
            assert order.index(child) < order.index(parent), (child, parent)


def _checkpoints(t: Target, plan: dict[str, Any]) -> int:
    return int(t.scalar("SELECT count(*) FROM seedc.checkpoints WHERE tenant_id = %s",
                        (plan["tenant_id"],)))


def _tenant_dump(t: Target, other: dict[str, Any]) -> dict[str, bytes]:
    return table_dump(t.admin_dsn, other)


def test_purge_deletes_one_tenant_only_and_dry_run_keeps_everything(
        target: Target, plan: dict[str, Any]) -> None:
    globex = read_plan(REPO / "plans" / "dev" / "globex.plan.json")
    assert target.apply(plan).status == "succeeded"
    assert target.apply(globex).status == "succeeded"
    before = target.counts(plan)
    globex_rows = target.counts(globex)
    everything = _tenant_dump(target, plan)

    # dry run: inside the caller's transaction that is rolled back; checkpoints untouched
    with connect(target.apply_dsn) as conn, contextlib.suppress(psycopg.Rollback), \
            conn.transaction(force_rollback=True):
        preview = purge_tenant(conn, plan, dry_run=True)
    assert "seedc.checkpoints" not in preview
    assert preview == before
    assert target.counts(plan) == before
    assert _tenant_dump(target, plan) == everything

    with connect(target.apply_dsn) as conn:
        deleted = purge_tenant(conn, plan, dry_run=False)
    assert deleted.pop("seedc.checkpoints") == len(plan["batches"])
    assert deleted == planned_counts(plan)
    assert list(deleted)[-1] == "app.tenants"  # the root goes last
    assert target.counts(plan) == dict.fromkeys(before, 0)
    assert _checkpoints(target, plan) == 0
    # the other tenant keeps every row and checkpoint
    assert target.counts(globex) == globex_rows == planned_counts(globex)
    assert _checkpoints(target, globex) == len(globex["batches"])
    assert target.apply(globex).status == "noop"


def test_reset_cli_purges_and_a_reapply_restores_the_same_rows(
        target: Target, plan: dict[str, Any]) -> None:
    assert target.apply(plan).status == "succeeded"
    first = _tenant_dump(target, plan)
    target.execute("INSERT INTO seedc.maintenance (tenant_id, environment, run_id) VALUES "
                   "(%s, %s, gen_random_uuid())", (plan["tenant_id"], plan["environment"]))
    path = str(target.plan_file(plan))
    reset = target.cli("reset", path, "--dsn", target.apply_dsn, "--yes")
    assert reset.code == 0, reset.text
    for table, rows in planned_counts(plan).items():
        assert f"{table}: {rows} row(s) deleted" in reset.out
    assert target.counts(plan) == dict.fromkeys(planned_counts(plan), 0)
    assert int(target.scalar("SELECT count(*) FROM seedc.maintenance")) == 0
    assert target.apply(plan).status == "succeeded"
    assert _tenant_dump(target, plan) == first


def test_purge_of_a_locked_table_fails_within_the_lock_timeout(
        target: Target, plan: dict[str, Any]) -> None:
    import time

    assert target.apply(plan).status == "succeeded"
    before = target.counts(plan)
    with psycopg.connect(target.admin_dsn) as locker:
        locker.execute("LOCK TABLE app.transactions IN ACCESS EXCLUSIVE MODE")
        with connect(target.apply_dsn) as conn:
            t0 = time.monotonic()
            with pytest.raises(psycopg.errors.LockNotAvailable):
                purge_tenant(conn, plan, dry_run=False)
            waited = time.monotonic() - t0
        locker.rollback()
    lock_s = plan["guards"]["timeouts"]["lock_ms"] / 1000
    assert waited < lock_s + 2, waited
    assert target.counts(plan) == before  # one transaction: nothing was deleted
    assert _checkpoints(target, plan) == len(plan["batches"])



def test_a_foreign_key_is_covered_only_by_an_index_leading_with_all_its_columns(
        pg_db: str) -> None:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA x")
        conn.execute("CREATE TABLE x.p (a int, b int, PRIMARY KEY (a, b))")
        for name in ("c_none", "c_prefix", "c_swapped", "c_partial", "c_second"):
            conn.execute(sql.SQL("CREATE TABLE x.{} (id int PRIMARY KEY, a int, b int, "
                                 "FOREIGN KEY (a, b) REFERENCES x.p)").format(
                sql.Identifier(name)))
        conn.execute("CREATE INDEX ON x.c_prefix (a)")  # one of two columns: not enough
        conn.execute("CREATE INDEX ON x.c_swapped (b, a, id)")  # both lead, any order: covered
        conn.execute("CREATE INDEX ON x.c_partial (a, b) WHERE a > 0")  # partial: not used
        conn.execute("CREATE INDEX ON x.c_second (id, a, b)")  # not leading: not used
        found = unindexed_foreign_keys(conn, [f"x.{n}" for n in (
            "c_none", "c_prefix", "c_swapped", "c_partial", "c_second")])
    assert [line.split("(")[0] for line in found] == [
        "x.c_none", "x.c_partial", "x.c_prefix", "x.c_second"]
    assert all("(a, b) references x.p" in line for line in found)
