"""Applying a plan on real PostgreSQL as the least-privilege role: first run, re-run, dry run,
the maintenance flag, RLS on the control schema and `seedc db install`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from seedc.errors import ExitCode, RuntimeFailure
from seedc.runtime.apply import ApplyOptions, BatchReport
from seedc.runtime.install import _control_migrations, install_app_schema
from seedc.runtime.lease import SLOT_CLASS, TENANT_CLASS, lock_key
from tests.runtime_support import (
    SCHEMA_DIR,
    Target,
    advisory_held,
    hold_tenant_lock,
    planned_counts,
    role_of,
    row_versions,
    start_cli,
    table_dump,
    wait_for,
    write_dev_key,
    zero_counts,
)


def test_apply_then_reapply_writes_nothing_and_holds_exactly_the_planned_rows(
        target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    first = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--json")
    assert first.code == 0, first.text
    report = json.loads(first.out)
    assert report["status"] == "succeeded"
    assert report["rows_written"] == plan["estimate"]["rows"]
    assert {b["status"] for b in report["batches"]} == {"written"}
    assert target.counts(plan) == planned_counts(plan)
    assert [b for b, _ in target.checkpoints(plan)] == sorted(b["id"] for b in plan["batches"])
    versions, dump, marks = (row_versions(target.admin_dsn, plan),
                             table_dump(target.admin_dsn, plan), target.checkpoints(plan))

    second = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert second.code == 0, second.text
    assert second.out.startswith("NOOP: nothing to do"), second.out
    assert f"0 written, {len(plan['batches'])} already checkpointed" in second.out

    assert target.counts(plan) == planned_counts(plan)
    assert row_versions(target.admin_dsn, plan) == versions  # not a single row rewritten
    assert table_dump(target.admin_dsn, plan) == dump
    assert target.checkpoints(plan) == marks
    assert target.runs(plan) == [("succeeded", False, plan["estimate"]["rows"]),
                                 ("noop", False, 0)]
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0
    assert target.scalar("SELECT count(*) FROM seedc.leases") == 0


def test_two_applies_of_one_tenant_at_once_one_waits_then_finds_nothing_to_do(
        target: Target, plan: dict[str, Any]) -> None:
    """Both start while the tenant is busy, so they really overlap; the one that gets the lease
    second waits, then sees every batch checkpointed: each batch is written exactly once."""
    path = target.plan_file(plan)
    args = ["apply", str(path), "--dsn", target.apply_dsn, "--json", "--lease-wait", "30"]
    with hold_tenant_lock(target.admin_dsn, plan, holder="test-setup:1:busy") as busy, \
            start_cli(args, target.tmp) as one, start_cli(args, target.tmp) as two:
        slot_key = lock_key(SLOT_CLASS, plan["environment"])
        wait_for(lambda: all(advisory_held(target.admin_dsn, slot_key, s) for s in (0, 1)),
                 what="both runs holding a slot, so both are waiting for the tenant lease",
                 alive=lambda: (one.alive(), two.alive()))
        busy.close()  # the simulated holder ends: the two runs race for the lease
        results = [one.finish(), two.finish()]
    assert [r.code for r in results] == [0, 0], [r.text for r in results]
    reports = [json.loads(r.out) for r in results]
    assert sorted(r["status"] for r in reports) == ["noop", "succeeded"]
    written = [b["id"] for r in reports for b in r["batches"] if b["status"] == "written"]
    assert sorted(written) == sorted(b["id"] for b in plan["batches"])
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    assert target.counts(plan) == planned_counts(plan)


def test_dry_run_reports_what_it_would_write_and_leaves_nothing(
        target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    dry = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--dry-run")
    assert dry.code == 0, dry.text
    assert dry.out.startswith("DRY RUN SUCCEEDED: dry run: would write "
                              f"{plan['estimate']['rows']} rows (rolled back)"), dry.out
    would = dry.out.split("would write: ", 1)[1].splitlines()[0]
    assert would == ", ".join(f"{e['name']} {e['rows']}" for e in plan["entities"])

    assert target.counts(plan) == zero_counts(plan)
    assert target.checkpoints(plan) == []
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0
    assert target.runs(plan) == [("succeeded", True, plan["estimate"]["rows"])]

    real = target.apply(plan)
    assert real.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)


def test_dry_run_after_a_full_apply_is_a_noop(target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    before = row_versions(target.admin_dsn, plan)
    report = target.apply(plan, ApplyOptions(dry_run=True))
    assert report.status == "noop"
    assert row_versions(target.admin_dsn, plan) == before


def _maintenance_rows(target: Target, plan: dict[str, Any]) -> list[str]:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT run_id::text FROM seedc.maintenance WHERE tenant_id = %s "
                            "AND environment = %s", (plan["tenant_id"], plan["environment"]))
        return [r[0] for r in rows]


def test_maintenance_flag_is_set_during_the_run_and_cleared_after(
        target: Target, plan: dict[str, Any]) -> None:
    seen: list[list[str]] = []

    def on_batch(item: BatchReport, done: int, total: int) -> None:
        seen.append(_maintenance_rows(target, plan))

    report = target.apply(plan, ApplyOptions(on_batch=on_batch))
    assert report.status == "succeeded"
    assert seen == [[report.run_id]] * len(plan["batches"])
    assert _maintenance_rows(target, plan) == []


def test_maintenance_flag_is_cleared_when_a_run_fails_and_the_run_resumes(
        target: Target, plan: dict[str, Any]) -> None:
    stop_after = 3

    def on_batch(item: BatchReport, done: int, total: int) -> None:
        assert _maintenance_rows(target, plan) != []
        if done == stop_after:
            raise RuntimeFailure("stopped by the test")

    failure = target.apply_error(plan, ApplyOptions(on_batch=on_batch))
    assert isinstance(failure, RuntimeFailure)
    assert failure.exit_code == ExitCode.RUNTIME_FAILURE
    assert _maintenance_rows(target, plan) == []
    assert len(target.checkpoints(plan)) == stop_after
    assert target.runs(plan)[-1][0] == "failed"
    assert ("failed", None) in [(e, r) for e, r, _ in target.audit(plan)]
    # the lease and the slot were released: nobody holds the tenant's advisory lock
    assert advisory_held(target.admin_dsn, lock_key(TENANT_CLASS, plan["environment"]),
                         lock_key(TENANT_CLASS, plan["tenant_id"])) == 0

    resumed = target.apply(plan)
    assert resumed.status == "succeeded"
    assert [b.status for b in resumed.batches[:stop_after]] == ["skipped"] * stop_after
    assert target.counts(plan) == planned_counts(plan)


def test_control_tables_show_the_apply_role_only_its_tenant(
        target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    other = str(uuid.uuid4())
    with psycopg.connect(target.apply_dsn, autocommit=True) as conn:
        for table in ("checkpoints", "leases", "maintenance"):
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier("seedc", table))).fetchone() == (0,)
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (other,))
        assert conn.execute("SELECT count(*) FROM seedc.checkpoints").fetchone() == (0,)
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (plan["tenant_id"],))
        assert conn.execute("SELECT count(*) FROM seedc.checkpoints").fetchone() == (
            len(plan["batches"]),)
        with pytest.raises(errors.InsufficientPrivilege):  # WITH CHECK: not another tenant's
            conn.execute(
                "INSERT INTO seedc.checkpoints (tenant_id, environment, batch_id, chain_hash, "
                "plan_hash, entity, row_count, resolved_digest, run_id) VALUES "
                "(%s, 'dev', 'x', 'x', 'x', 'x', 0, '0', %s)", (other, other))
    assert target.scalar("SELECT count(*) FROM seedc.checkpoints") == len(plan["batches"])


def _privileges(conn: psycopg.Connection, role: str) -> dict[str, set[str]]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, p.priv FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES',"
        "'TRIGGER']) AS p(priv) "
        "WHERE n.nspname IN ('app', 'seedc') AND c.relkind IN ('r', 'p') "
        "AND has_table_privilege(%s, c.oid, p.priv)", (role,)).fetchall()
    out: dict[str, set[str]] = {}
    for table, priv in rows:
        out.setdefault(table, set()).add(priv)
    return out


def test_db_install_is_idempotent_and_grants_no_more_than_needed(
        pg_db: str, apply_role_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        plan: dict[str, Any]) -> None:
    monkeypatch.delenv("CI", raising=False)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        install_app_schema(conn, SCHEMA_DIR)
    role = role_of(apply_role_dsn)
    target = Target(pg_db, apply_role_dsn, tmp_path, write_dev_key(tmp_path / ".env.local"))
    first = target.cli("db", "install", "--dsn", pg_db, "--apply-role", role)
    assert first.code == 0, first.text
    versions = [v for v, _ in _control_migrations()]
    listed = ", ".join(map(str, versions))
    assert first.out.strip() == f"control schema: applied migration(s) {listed}; granted {role}"
    second = target.cli("db", "install", "--dsn", pg_db, "--apply-role", role)
    assert second.code == 0, second.text
    assert second.out.strip() == f"control schema: up to date; granted {role}"
    assert target.scalar("SELECT count(*) FROM seedc.schema_version") == len(versions)

    with psycopg.connect(pg_db, autocommit=True) as conn:
        privileges = _privileges(conn, role)
        assert conn.execute("SELECT has_schema_privilege(%s, 'app', 'CREATE'), "
                            "has_schema_privilege(%s, 'seedc', 'CREATE')",
                            (role, role)).fetchone() == (False, False)
    targets = {e["table"] for e in plan["entities"]}
    for table in targets:
        # UPDATE: an incremental apply moves references and changed columns (issue 12)
        assert privileges[table] == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
    assert privileges["app.schema_migrations"] == {"SELECT"}
    assert privileges["app.feature_flags"] == {"SELECT"}
    assert privileges["seedc.audit"] == {"INSERT"}
    assert "seedc.schema_version" not in privileges
    for table, granted in privileges.items():
        assert not granted & {"TRUNCATE", "REFERENCES", "TRIGGER"}, table
    # the tables that are not seed data stay read-only: migrations, flags, and the routes that
    # decide where events go (issue 15); the grant on the schema's other tables is uniform
    for table in ("app.schema_migrations", "app.feature_flags", "app.event_routes"):
        assert privileges[table] == {"SELECT"}, table

    tenant = plan["tenant_id"]
    forbidden = [
        "TRUNCATE app.transactions",
        "DELETE FROM seedc.audit",
        "UPDATE seedc.audit SET event = 'x'",
        "UPDATE seedc.checkpoints SET chain_hash = 'x'",
        "UPDATE app.feature_flags SET enabled = true",
        "INSERT INTO app.schema_migrations (version) VALUES ('9999_x')",
        "CREATE TABLE app.sneaky (id int)",
        "DROP TABLE seedc.audit",
    ]
    with psycopg.connect(apply_role_dsn, autocommit=True) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        for statement in forbidden:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement.encode())

    report = target.apply(plan)  # and what it was granted is enough for a full run
    assert report.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)
