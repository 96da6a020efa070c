"""Integrations stay in the sandbox (issue 15 part 2, sessions 8 and 18): `seedc apply`
refuses (exit 3) when any route that the tenant's rows could trigger points outside the
manifest's sandbox, with the rule in the message, an audit row, and not one row written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from seedc.rules import rule_name
from seedc.runtime.sandbox import ROUTING_RULE, redact_sink
from tests.manifests import variant
from tests.runtime_support import (
    Target,
    acme_plan,
    planned_counts,
    prepared_target,
    run_cli_inprocess,
    zero_counts,
)

OTHER_TENANT = "00000000-0000-5000-8000-000000000001"


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _routing_detail(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("  - routing: "):
            return line[len("  - routing: "):]
    raise AssertionError(f"no routing failure in:\n{stderr}")


def _audited_routing(t: Target, plan: dict[str, Any]) -> list[str]:
    with psycopg.connect(t.admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT detail->>'detail' FROM seedc.audit WHERE tenant = %s AND event = "
            "'preflight' AND detail->>'check' = 'routing' AND NOT (detail->>'ok')::boolean",
            (plan["tenant"],)).fetchall()
    return [r[0] for r in rows]


def _assert_refused(t: Target, plan: dict[str, Any], detail: str) -> str:
    result = t.cli_inprocess("apply", str(t.plan_file(plan)), "--dsn", t.apply_dsn)
    assert result.code == 3, result.text
    assert result.error.startswith("seedc: preflight refused the run (1 check(s) failed)"), \
        result.text
    shown = _routing_detail(result.error)
    assert detail in shown, shown
    assert shown.endswith(f"[rule {rule_name(ROUTING_RULE)}: {ROUTING_RULE}]")
    assert "Traceback" not in result.err
    assert t.counts(plan) == zero_counts(plan)
    assert t.checkpoints(plan) == []
    assert t.runs(plan) == [("refused", False, 0)]
    audited = _audited_routing(t, plan)
    assert len(audited) == 1, audited
    assert detail in audited[0], audited
    return result.text


def test_demo_routes_stay_in_the_sandbox_and_the_run_succeeds(target: Target) -> None:
    plan = acme_plan()
    assert plan["guards"]["routing"]["topics"] == [
        "customer.created", "loan.created", "transaction.created"]
    assert target.apply(plan).status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)


def test_a_global_route_outside_the_sandbox_is_refused(target: Target) -> None:
    target.execute("UPDATE app.event_routes SET sink = 'kafka://prod-broker:9092/tx' "
                   "WHERE topic = 'transaction.created'")
    _assert_refused(target, acme_plan(),
                    "1 route(s) the tenant's rows could trigger leave the sandbox "
                    "(^sandbox://): transaction.created -> kafka://prod-broker:9092/tx")


def test_the_tenants_own_route_is_checked_and_its_credentials_never_shown(
        target: Target) -> None:
    plan = acme_plan()
    target.execute("INSERT INTO app.event_routes (tenant_id, topic, sink) VALUES "
                   "(%s, 'loan.created', 'https://bot:s3cr3t-token@hooks.example.com/loans')",
                   (plan["tenant_id"],))
    text = _assert_refused(target, plan, "loan.created -> https://***@hooks.example.com/loans")
    assert "s3cr3t-token" not in text
    assert "s3cr3t-token" not in " ".join(_audited_routing(target, plan))


def test_another_tenants_route_and_an_untriggered_topic_do_not_refuse(target: Target) -> None:
    plan = acme_plan()
    target.execute("INSERT INTO app.event_routes (tenant_id, topic, sink) VALUES "
                   "(%s, 'transaction.created', 'kafka://prod/tx'), "
                   "(NULL, 'invoice.paid', 'kafka://prod/invoices')", (OTHER_TENANT,))
    assert target.apply(plan).status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)


def test_an_outbox_without_its_sandbox_marker_is_refused(target: Target) -> None:
    target.execute("ALTER TABLE app.outbox DROP COLUMN sandbox")
    _assert_refused(target, acme_plan(),
                    "outbox app.outbox has no sandbox marker column 'sandbox'")


def test_unreadable_routes_are_refused(target: Target) -> None:
    target.execute(sql.SQL("REVOKE SELECT ON app.event_routes FROM {}").format(
        sql.Identifier(target.role)).as_string())
    _assert_refused(target, acme_plan(), "cannot read the routes in app.event_routes: "
                    "permission denied for table event_routes")


def test_the_manifest_must_say_what_a_sandbox_sink_is(tmp_path: Path) -> None:
    path = variant(tmp_path, [('sandbox: {sink_pattern: "^sandbox://"}', "")])
    result = run_cli_inprocess(["compile", str(path)], cwd=tmp_path)
    assert result.code == 2, result.text
    assert "the manifest must say what a sandbox sink is (sandbox.sink_pattern" in result.err


@pytest.mark.parametrize(("manifest_edit", "model_edit", "message"), [
    pytest.param(('sandbox: {sink_pattern: "^sandbox://"}', 'sandbox: {sink_pattern: "(("}'),
                 None, "not a regular expression", id="bad-pattern"),
    pytest.param(None, ("    loans:        [loan.created]", "    invoices: [invoice.paid]"),
                 "'invoices' is not an entity of this model", id="unknown-entity"),
    pytest.param(None, ("marker_column: sandbox}", "marker_column: \"Sandbox;\"}"),
                 "routing", id="bad-identifier"),
])
def test_invalid_routing_declarations_exit_2(
        tmp_path: Path, manifest_edit: tuple[str, str] | None,
        model_edit: tuple[str, str] | None, message: str) -> None:
    path = variant(tmp_path, [manifest_edit] if manifest_edit else [],
                   [model_edit] if model_edit else [])
    result = run_cli_inprocess(["compile", str(path)], cwd=tmp_path)
    assert result.code == 2, result.text
    assert message in result.err, result.err


def test_redaction_keeps_the_sink_recognisable() -> None:
    assert redact_sink("amqp://u:p@mq:5672/x") == "amqp://***@mq:5672/x"
    assert redact_sink("sandbox://events/tx") == "sandbox://events/tx"


OUTBOX_ENTITY = '''
  outbox_events:
    table: app.outbox
    parent: transactions
    expand: {count: "1", max: 1}
    columns:
      id:         {type: uuid, expr: "key_uuid()"}
      tenant_id:  {type: uuid, expr: "parent.tenant_id"}
      topic:      {type: text, expr: "\\"transaction.created\\""}
      payload:    {type: text, expr: "text(parent.id)"}
      sandbox:    {type: boolean, expr: "MARKER"}
      created_at: {type: timestamptz, expr: "ref_ts()"}
'''


def _with_outbox(marker: str) -> list[tuple[str, str]]:
    anchor = "\n  loans:\n"
    return [(anchor, OUTBOX_ENTITY.replace("MARKER", marker) + anchor)]


def test_events_the_seed_writes_to_the_outbox_carry_the_sandbox_marker(
        target: Target, tmp_path: Path) -> None:
    from tests.runtime_support import compile_variant

    plan = compile_variant(tmp_path / "outbox", model_edits=_with_outbox("true"))
    assert target.apply(plan).status == "succeeded"
    events = planned_counts(plan)["app.outbox"]
    assert events == planned_counts(plan)["app.transactions"]
    assert target.scalar("SELECT count(*) FROM app.outbox WHERE tenant_id = %s AND sandbox",
                         (plan["tenant_id"],)) == events
    assert target.scalar("SELECT count(*) FROM app.outbox WHERE NOT sandbox") == 0


@pytest.mark.parametrize("marker", ["false", "parent.amount > 10"])
def test_an_outbox_entity_without_a_literal_true_marker_exits_2(tmp_path: Path,
                                                                marker: str) -> None:
    path = variant(tmp_path, model_edits=_with_outbox(marker))
    result = run_cli_inprocess(["compile", str(path)], cwd=tmp_path)
    assert result.code == 2, result.text
    assert ("outbox_events writes the outbox app.outbox: its sandbox marker sandbox must be "
            "written as `true` (sessions 8, 18)") in result.err, result.err
