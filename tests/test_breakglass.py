"""Issue 15, section 1: breakglass — request, approval by another role, ≤ 4 h, used once.

Real PostgreSQL (two login roles: the requester, who runs, and the approver) and OpenBao (the
human's root token reads the key; Transit signs the evidence). Every refusal: exit 3, the
message, the audit row, zero rows of the tenant.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import psycopg
import pytest
from psycopg import sql

from seedc.errors import ExitCode, GuardRefused, InvalidInput
from seedc.runtime.apply import ApplyOptions, EvidenceSink, apply_plan
from seedc.runtime.breakglass import BREAKGLASS_RULE, approve, request, spend_ticket
from seedc.runtime.evidence import LocalFolderStore, VaultTransitSigner, transit_key_name
from seedc.runtime.keys.vault import VaultKeyProvider
from tests.runtime_support import run_cli_inprocess
from tests.services import BaoDevServer, apply_role
from tests.test_access_policy import plan, role_of, root, target  # noqa: F401 (fixtures)
from tests.test_keys_apply import tenant_rows

APPROVER_GRANTS = ("GRANT USAGE ON SCHEMA seedc TO {r}",
                   "GRANT SELECT, INSERT, UPDATE ON seedc.breakglass TO {r}",
                   "GRANT INSERT ON seedc.audit TO {r}")


@pytest.fixture
def approver(pg_db: str, target: tuple[str, str]) -> Iterator[str]:  # noqa: F811
    """A second login role, granted only what approving takes (docs/access.md)."""
    with apply_role(pg_db) as dsn:
        with psycopg.connect(pg_db, autocommit=True) as conn:
            for grant in APPROVER_GRANTS:
                conn.execute(sql.SQL(grant).format(r=sql.Identifier(role_of(dsn))))
        yield dsn


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def audit(admin: str, tenant: str, event: str) -> list[dict[str, Any]]:
    with connect(admin) as conn:
        rows = conn.execute("SELECT detail FROM seedc.audit WHERE tenant = %s AND event = %s "
                            "ORDER BY id", (tenant, event)).fetchall()
    return [r[0] for r in rows]


def approved_ticket(requester: str, approver_dsn: str, plan: dict[str, Any],  # noqa: F811
                    hours: float = 1) -> str:
    with connect(requester) as conn:
        ticket = request(conn, plan["tenant"], plan["environment"], "INC-42 manual reseed")
    with connect(approver_dsn) as conn:
        approve(conn, ticket.id, hours)
    return ticket.id


def human_keys(bao: BaoDevServer) -> VaultKeyProvider:
    """What a person at a terminal has: the dev server's root token."""
    return VaultKeyProvider(bao.client())


def refused_run(target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,  # noqa: F811
                ticket: str, expected: str) -> GuardRefused:
    admin, apply_dsn = target
    before = tenant_rows(admin, plan)
    with pytest.raises(GuardRefused) as info:
        apply_plan(plan, apply_dsn, human_keys(bao), ApplyOptions(dry_run=True,
                                                                  breakglass=ticket))
    exc = info.value
    assert exc.exit_code == ExitCode.REFUSED
    access = [d for d in exc.details if d.startswith("access: ")]
    assert len(access) == 1, exc.details
    assert expected in access[0], exc.details
    assert "access.breakglass" in access[0]
    assert tenant_rows(admin, plan) == before
    with connect(admin) as conn:
        row = conn.execute(
            "SELECT detail->>'detail' FROM seedc.audit WHERE tenant = %s AND event = "
            "'preflight' AND detail->>'check' = 'access' ORDER BY id DESC LIMIT 1",
            (plan["tenant"],)).fetchone()
    assert row is not None
    assert expected in row[0]
    return exc


def test_approved_ticket_runs_once_with_ticket_in_evidence_and_audit(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,  # noqa: F811
        root: hvac.Client, approver: str, tmp_path: Path) -> None:  # noqa: F811
    admin, apply_dsn = target
    ticket = approved_ticket(apply_dsn, approver, plan)
    root.sys.enable_secrets_engine("transit")
    root.secrets.transit.create_key(transit_key_name("ci"), key_type="ed25519")
    store = LocalFolderStore(tmp_path / "evidence")
    sink = EvidenceSink(store, VaultTransitSigner(root, transit_key_name("ci")))
    report = apply_plan(plan, apply_dsn, human_keys(bao),
                        ApplyOptions(evidence=lambda: sink, breakglass=ticket))
    assert report.status == "succeeded"
    requester, approver_role = role_of(apply_dsn), role_of(approver)
    expected = f"breakglass ticket {ticket} requested by {requester}, approved by {approver_role}"
    evidence = json.loads(store.files()[-1].read_bytes())
    body = json.dumps(evidence)
    assert expected in body
    used = audit(admin, plan["tenant"], "breakglass.used")
    assert used == [{"ticket": ticket, "requested_by": requester,
                     "approved_by": approver_role, "by": requester}]
    with connect(admin) as conn:
        row = conn.execute("SELECT run_id::text FROM seedc.audit WHERE event = "
                           "'breakglass.used'").fetchone()
    assert row is not None
    assert row[0] == report.run_id
    assert [d["ticket"] for d in audit(admin, plan["tenant"], "breakglass.requested")] == [ticket]
    assert [d["ticket"] for d in audit(admin, plan["tenant"], "breakglass.approved")] == [ticket]
    # reused: refused, nothing more written
    refused_run(target, plan, bao, ticket, f"breakglass ticket {ticket} is used (run "
                                           f"{report.run_id})")


def test_self_approval_is_refused(target: tuple[str, str], plan: dict[str, Any],  # noqa: F811
                                  tmp_path: Path) -> None:
    admin, apply_dsn = target
    with connect(apply_dsn) as conn:
        ticket = request(conn, plan["tenant"], plan["environment"], "INC-43")
    result = run_cli_inprocess(["breakglass", "approve", ticket.id, "--dsn", apply_dsn],
                               tmp_path, env={"CI": None})
    assert result.code == 3, result.text
    assert "must be approved by a different database role" in result.error
    refusals = audit(admin, plan["tenant"], "breakglass.refused")
    assert len(refusals) == 1
    assert "different database role" in refusals[0]["message"]
    with connect(admin) as conn:
        row = conn.execute("SELECT approved_by FROM seedc.breakglass WHERE id = %s",
                           (ticket.id,)).fetchone()
    assert row == (None,)
    # the schema refuses it too, whatever the client sends
    with connect(apply_dsn) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE seedc.breakglass SET approved_by = 'x', approved_at = now(), "
                     "expires_at = now() + interval '1 hour' WHERE id = %s", (ticket.id,))


def test_unapproved_and_expired_tickets_are_refused(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,  # noqa: F811
        root: hvac.Client, approver: str) -> None:  # noqa: F811
    admin, apply_dsn = target
    with connect(apply_dsn) as conn:
        pending = request(conn, plan["tenant"], plan["environment"], "INC-44")
    refused_run(target, plan, bao, pending.id, f"breakglass ticket {pending.id} is not approved")
    ticket = approved_ticket(apply_dsn, approver, plan)
    with connect(admin) as conn:  # four hours later (the trigger would stamp now())
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE seedc.breakglass SET approved_at = approved_at - interval '5 hours',"
                      " expires_at = expires_at - interval '5 hours' WHERE id = %s", (ticket,))
    refused_run(target, plan, bao, ticket, f"breakglass ticket {ticket} is expired")


def test_another_roles_or_another_tenants_ticket_is_refused(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,  # noqa: F811
        root: hvac.Client, approver: str) -> None:  # noqa: F811
    _, apply_dsn = target
    with connect(approver) as conn:  # the approver requests; the apply role approves
        theirs = request(conn, plan["tenant"], plan["environment"], "INC-45")
    with connect(apply_dsn) as conn:
        approve(conn, theirs.id, 1)
    refused_run(target, plan, bao, theirs.id,
                f"was requested by {role_of(approver)}; database role {role_of(apply_dsn)} "
                "cannot use it")
    other = approved_ticket(apply_dsn, approver, {**plan, "environment": "staging"})
    refused_run(target, plan, bao, other, "is for acme/staging, not acme/ci")


def test_approval_lasts_at_most_4_hours(target: tuple[str, str],  # noqa: F811
                                        plan: dict[str, Any], approver: str,  # noqa: F811
                                        tmp_path: Path) -> None:
    _, apply_dsn = target
    with connect(apply_dsn) as conn:
        ticket = request(conn, plan["tenant"], plan["environment"], "INC-46")
    with connect(approver) as conn, pytest.raises(InvalidInput):
        approve(conn, ticket.id, 5)
    result = run_cli_inprocess(["breakglass", "approve", ticket.id, "--hours", "4.5",
                                "--dsn", approver], tmp_path, env={"CI": None})
    assert result.code == 2, result.text
    result = run_cli_inprocess(["breakglass", "approve", ticket.id, "--dsn", approver,
                                "--json"], tmp_path, env={"CI": None})
    assert result.code == 0, result.text
    data = json.loads(result.out)
    assert data["approved_by"] == role_of(approver)
    with connect(approver) as conn:
        row = conn.execute("SELECT expires_at - approved_at FROM seedc.breakglass WHERE id = %s",
                           (ticket.id,)).fetchone()
    assert row is not None
    assert row[0].total_seconds() == 4 * 3600
    listed = run_cli_inprocess(["breakglass", "list", "--dsn", apply_dsn, "--json"], tmp_path,
                               env={"CI": None})
    assert listed.code == 0, listed.text
    assert [(t["id"], t["state"]) for t in json.loads(listed.out)] == [(ticket.id, "approved")]


def test_the_requester_name_cannot_be_forged(target: tuple[str, str],  # noqa: F811
                                             plan: dict[str, Any]) -> None:  # noqa: F811
    _, apply_dsn = target
    with connect(apply_dsn) as conn:
        row = conn.execute(
            "INSERT INTO seedc.breakglass (id, tenant, environment, reason, requested_by, "
            "requested_at, approved_by, approved_at, expires_at) VALUES (gen_random_uuid(), "
            "'acme', 'ci', 'x', 'someone_else', now(), 'boss', now(), now() + interval '1 h') "
            "RETURNING requested_by, approved_by").fetchone()
    assert row == (role_of(apply_dsn), None)


def test_two_runs_racing_for_one_ticket_only_one_wins(
        target: tuple[str, str], plan: dict[str, Any], approver: str) -> None:  # noqa: F811
    _, apply_dsn = target
    ticket = approved_ticket(apply_dsn, approver, plan)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def spend() -> None:
        with connect(apply_dsn) as conn:
            barrier.wait()
            try:
                spend_ticket(conn, ticket, plan, role_of(apply_dsn))
                outcomes.append("won")
            except GuardRefused as exc:
                outcomes.append(f"refused: {exc.rule}")

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == [f"refused: {BREAKGLASS_RULE}"] * 3 + ["won"]


def test_cli_request_then_apply_help_names_breakglass(target: tuple[str, str],  # noqa: F811
                                                      plan: dict[str, Any],  # noqa: F811
                                                      tmp_path: Path) -> None:
    _, apply_dsn = target
    result = run_cli_inprocess(["breakglass", "request", "--tenant", "acme", "--env", "ci",
                                "--reason", "INC-47", "--dsn", apply_dsn], tmp_path,
                               env={"CI": None})
    assert result.code == 0, result.text
    assert f"requested by {role_of(apply_dsn)} for acme/ci" in result.out
    empty = run_cli_inprocess(["breakglass", "request", "--tenant", "acme", "--env", "ci",
                               "--reason", "  ", "--dsn", apply_dsn], tmp_path, env={"CI": None})
    assert empty.code == 2, empty.text


def test_a_run_refused_by_another_check_does_not_use_the_ticket(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,  # noqa: F811
        root: hvac.Client, approver: str) -> None:  # noqa: F811
    admin, apply_dsn = target
    ticket = approved_ticket(apply_dsn, approver, plan)
    flagged = {**plan, "guards": {**plan["guards"], "flags": ["seed.no_such_flag"]}}
    with pytest.raises(GuardRefused) as info:
        apply_plan(flagged, apply_dsn, human_keys(bao),
                   ApplyOptions(dry_run=True, breakglass=ticket))
    assert info.value.exit_code == ExitCode.REFUSED
    assert [d.split(":")[0] for d in info.value.details] == ["flags"]
    access = next(c for c in info.value.report.checks  # type: ignore[attr-defined]
                  if c.name == "access")
    assert access.ok
    assert access.detail.endswith("(not used: other checks refuse this run)")
    assert audit(admin, plan["tenant"], "breakglass.used") == []
    report = apply_plan(plan, apply_dsn, human_keys(bao),
                        ApplyOptions(dry_run=True, breakglass=ticket))
    assert report.status == "succeeded"
    assert len(audit(admin, plan["tenant"], "breakglass.used")) == 1
