"""Preflight advice on unindexed foreign-key columns (issue 10): purge and reset delete parents
after children, and each deleted parent row looks its children up by the FK columns, so an
unindexed FK is a scan per row. The run still goes ahead (advice, not a guard) but the log and
the audit trail name the columns."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.runtime_support import Target


def _warnings(target: Target, plan: dict[str, Any]) -> list[list[str]]:
    with psycopg.connect(target.admin_dsn) as conn:
        rows = conn.execute(
            "SELECT detail FROM seedc.audit WHERE tenant = %s AND event = 'warning' "
            "ORDER BY at", (plan["tenant"],)).fetchall()
    out = []
    for (detail,) in rows:
        data = detail if isinstance(detail, dict) else json.loads(detail)
        out.append(data["unindexed_fk_columns"])
    return out


def test_an_unindexed_foreign_key_is_named_in_the_audit_trail(target: Target,
                                                               plan: dict[str, Any]) -> None:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX app.customers_consultant_id_idx")
    report = target.apply(plan)
    assert report.status == "succeeded"
    (lines,) = _warnings(target, plan)
    assert len(lines) == 1
    assert lines[0].startswith("app.customers(consultant_id) references app.consultants")


def test_indexed_foreign_keys_give_no_warning(target: Target, plan: dict[str, Any]) -> None:
    assert target.apply(plan).status == "succeeded"
    assert _warnings(target, plan) == []
