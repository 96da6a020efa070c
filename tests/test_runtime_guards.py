"""Every fail-closed guard, through `seedc apply` as a user runs it: exit 3, a message naming
the rule, an audit record of the refusal, and not one row written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from seedc.plan.canonical import plan_hash
from seedc.rules import rule_name
from seedc.runtime.preflight import CHECKS
from tests.runtime_support import (
    Target,
    acme_plan,
    compile_variant,
    planned_counts,
    row_versions,
    write_dev_key,
    zero_counts,
)

RULES = {name: rule for name, rule, _ in CHECKS}
PREFLIGHT_RULE = "fail-closed preflight"
DEV_KEY_RULE = "dev-only local key: isolated dev only, never in CI (session 1)"
KEY_VERSION_RULE = "key version equals salt_version (session 6)"


@dataclass
class Setup:
    """What a case changed: the plan to apply, and how the CLI runs."""

    plan: dict[str, Any]
    dsn: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)


def _variant(tmp: Path, *edits: tuple[str, str]) -> dict[str, Any]:
    return compile_variant(tmp / "variant", list(edits))


def _superuser(t: Target, tmp: Path) -> Setup:
    return Setup(acme_plan(), dsn=t.admin_dsn)


def _bypassrls(t: Target, tmp: Path) -> Setup:
    t.execute(sql.SQL("ALTER ROLE {} BYPASSRLS").format(sql.Identifier(t.role)).as_string())
    return Setup(acme_plan())


def _rls_not_forced(t: Target, tmp: Path) -> Setup:
    t.execute("ALTER TABLE app.customers NO FORCE ROW LEVEL SECURITY")
    return Setup(acme_plan())


def _rls_disabled(t: Target, tmp: Path) -> Setup:
    t.execute("ALTER TABLE app.users DISABLE ROW LEVEL SECURITY")
    return Setup(acme_plan())


def _migration_row_missing(t: Target, tmp: Path) -> Setup:
    t.execute("DELETE FROM app.schema_migrations")
    return Setup(acme_plan())


def _plan_expects_a_newer_migration(t: Target, tmp: Path) -> Setup:
    return Setup(_variant(tmp, ('migrations_head: "0001_banking_core"',
                                'migrations_head: "0002_x"')))


def _column_added(t: Target, tmp: Path) -> Setup:
    t.execute("ALTER TABLE app.customers ADD COLUMN nickname text")
    return Setup(acme_plan())


def _window_closed(t: Target, tmp: Path) -> Setup:
    now = datetime.now(UTC)  # a one-hour window starting in two hours never contains now
    start, end = ((now + timedelta(hours=h)).strftime("%H:%M") for h in (2, 3))
    return Setup(_variant(tmp, ('window: {start_utc: "00:00", end_utc: "00:00"}',
                                f'window: {{start_utc: "{start}", end_utc: "{end}"}}')))


def _flag_off(t: Target, tmp: Path) -> Setup:
    t.execute("UPDATE app.feature_flags SET enabled = false WHERE name = 'seed.banking_core'")
    return Setup(acme_plan())


def _over_budget(t: Target, tmp: Path) -> Setup:
    # compile refuses an over-budget manifest (exit 2); this guard catches a plan edited after
    plan = acme_plan()
    plan["guards"]["budget"]["max_rows"] = 10
    plan["plan_hash"] = plan_hash(plan)
    return Setup(plan)


def _outside_canary(t: Target, tmp: Path) -> Setup:
    return Setup(_variant(tmp, ("canary: {enabled: false}",
                                "canary: {enabled: true, tenants: [globex]}")))


def _ci_set(t: Target, tmp: Path) -> Setup:
    return Setup(acme_plan(), env={"CI": "true"})


def _key_version_mismatch(t: Target, tmp: Path) -> Setup:
    write_dev_key(t.env_file, version=2)
    return Setup(acme_plan())


def _not_isolated_dev(t: Target, tmp: Path) -> Setup:
    return Setup(_variant(tmp, ("isolated_dev: true", "isolated_dev: false")))


#: Checks that may fail together with a case's own check, for the same cause: the evidence
#: signer's dev-only key is refused where the dev-only FPE key is; outside isolated dev a run
#: without a pipeline identity is refused too (issue 15).
ALSO = {"dev-key-in-ci": {"evidence"}, "dev-key-not-isolated": {"evidence", "access"}}
#: Cases run as a real `seedc` subprocess; the others go through the same click command in
#: this process (identical exit-code mapping and output, ~0.6 s less each).
SUBPROCESS = {"superuser", "dev-key-in-ci", "key-version-mismatch"}

PREFLIGHT_CASES: list[tuple[str, Callable[[Target, Path], Setup], str, str, str]] = [
    # id, setup, failed check, its rule, what the detail says
    ("superuser", _superuser, "role", RULES["role"], "is a superuser"),
    ("bypassrls", _bypassrls, "role", RULES["role"], "has BYPASSRLS"),
    ("rls-not-forced", _rls_not_forced, "rls", RULES["rls"],
     "app.customers: row-level security is not forced"),
    ("rls-disabled", _rls_disabled, "rls", RULES["rls"],
     "app.users: row-level security is not enabled"),
    ("migration-missing", _migration_row_missing, "migrations", RULES["migrations"],
     "migrations head is None, the plan expects '0001_banking_core' (pending migrations)"),
    ("migration-pending", _plan_expects_a_newer_migration, "migrations", RULES["migrations"],
     "the plan expects '0002_x' (pending migrations)"),
    ("schema-changed", _column_added, "schema", RULES["schema"], "differs from the plan's"),
    ("window-closed", _window_closed, "window", RULES["window"], "outside the off-peak window"),
    ("flag-off", _flag_off, "flags", RULES["flags"], "flag(s) off or absent: seed.banking_core"),
    ("over-budget", _over_budget, "budget", RULES["budget"], "estimate over budget: rows"),
    ("outside-canary", _outside_canary, "canary", RULES["canary"],
     "tenant acme is outside the declared canary scope"),
    ("dev-key-in-ci", _ci_set, "key", DEV_KEY_RULE, "refused because CI is set"),
    ("key-version-mismatch", _key_version_mismatch, "key", KEY_VERSION_RULE,
     "the plan needs salt_version 1, the dev key is version 2"),
    ("dev-key-not-isolated", _not_isolated_dev, "key", DEV_KEY_RULE,
     "only a dev manifest marked isolated_dev may use it"),
]


def _failed_checks(stderr: str) -> dict[str, str]:
    """`  - name: detail [rule]` lines of a preflight refusal, by check name."""
    out = {}
    for line in stderr.splitlines():
        if line.startswith("  - "):
            name, _, rest = line[4:].partition(": ")
            out[name] = rest
    return out


def _audited_failures(t: Target, plan: dict[str, Any]) -> list[str]:
    with psycopg.connect(t.admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT detail->>'check' FROM seedc.audit WHERE tenant = %s AND "
                            "event = 'preflight' AND NOT (detail->>'ok')::boolean ORDER BY id",
                            (plan["tenant"],)).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(("subprocess", "also", "setup", "check", "rule", "detail"),
                         [pytest.param(case[0] in SUBPROCESS, ALSO.get(case[0], set()),
                                       *case[1:], id=case[0])
                          for case in PREFLIGHT_CASES])
def test_preflight_refusal_exits_3_names_the_rule_and_writes_nothing(
        target: Target, tmp_path: Path, subprocess: bool, also: set[str],
        setup: Callable[[Target, Path], Setup], check: str, rule: str, detail: str) -> None:
    case = setup(target, tmp_path)
    path = target.plan_file(case.plan)
    run = target.cli if subprocess else target.cli_inprocess
    result = run("apply", str(path), "--dsn", case.dsn or target.apply_dsn, env=case.env)

    assert result.code == 3, result.text
    failed = _failed_checks(result.error)
    assert check in failed, result.text
    assert set(failed) <= {check, *also}, result.error  # this guard; the others passed
    assert result.error.startswith(
        f"seedc: preflight refused the run ({len(failed)} check(s) failed) "
        f"[rule preflight.refused: {PREFLIGHT_RULE}]"), result.text
    assert detail in failed[check]
    assert rule_name(rule) is not None  # every guard cites a stable name (issue 11)
    assert failed[check].endswith(f"[rule {rule_name(rule)}: {rule}]")
    assert "Traceback" not in result.err

    assert target.counts(case.plan) == zero_counts(case.plan)
    assert target.checkpoints(case.plan) == []
    assert [r for e, r, _ in target.audit(case.plan) if e == "refused"] == [PREFLIGHT_RULE]
    assert sorted(_audited_failures(target, case.plan)) == sorted(failed)
    assert target.runs(case.plan) == [("refused", False, 0)]
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0
    assert target.scalar("SELECT count(*) FROM seedc.leases") == 0


def _foreign_category(t: Target, plan: dict[str, Any]) -> str:
    t.execute("INSERT INTO app.categories (id, tenant_id, code, name) VALUES "
              "(gen_random_uuid(), %s, 'by-hand', 'Inserted by hand')", (plan["tenant_id"],))
    planned = planned_counts(plan)["app.categories"]
    return f"categories: {planned + 1} rows in the database, {planned} planned"


def _divergent_checkpoint(t: Target, plan: dict[str, Any]) -> str:
    batch = plan["batches"][3]["id"]
    assert t.execute("UPDATE seedc.checkpoints SET chain_hash = 'x' WHERE batch_id = %s",
                     (batch,)) == 1
    return f"checkpoint {batch} has chain hash x…, the plan has"


@pytest.mark.parametrize(("tamper", "message", "rule"), [
    pytest.param(_foreign_category, "drift: the tenant's data differs from what this plan put "
                 "there", "no data outside the plan, fail-closed (session 8)", id="foreign-row"),
    pytest.param(_divergent_checkpoint, "checkpoints diverge from this plan",
                 "divergent checkpoint is a hard stop (session 8)", id="divergent-checkpoint"),
])
def test_refusal_after_an_apply_exits_3_and_touches_nothing(
        target: Target, tamper: Callable[[Target, dict[str, Any]], str], message: str,
        rule: str) -> None:
    plan = acme_plan()
    assert target.apply(plan).status == "succeeded"
    detail = tamper(target, plan)
    versions, marks = row_versions(target.admin_dsn, plan), target.checkpoints(plan)

    result = target.cli_inprocess("apply", str(target.plan_file(plan)),
                                  "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert result.error.startswith(f"seedc: {message}"), result.text
    assert f"[rule {rule_name(rule)}: {rule}]" in result.error
    assert detail in result.error

    assert row_versions(target.admin_dsn, plan) == versions
    assert target.checkpoints(plan) == marks
    assert [r for e, r, _ in target.audit(plan) if e == "refused"] == [rule]
    assert [s for s, _, _ in target.runs(plan)] == ["succeeded", "refused"]
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0


@pytest.mark.parametrize(("start", "end", "now", "open_"), [
    ("22:00", "06:00", "23:30", True),   # crosses midnight (session 17)
    ("22:00", "06:00", "05:59", True),
    ("22:00", "06:00", "06:00", False),  # end is exclusive
    ("22:00", "06:00", "12:00", False),
    ("01:00", "05:00", "00:59", False),
    ("01:00", "05:00", "01:00", True),
    ("00:00", "00:00", "23:59", True),   # start == end: the whole day
])
def test_window_is_evaluated_in_utc(start: str, end: str, now: str, open_: bool) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from seedc.runtime.preflight import window_open

    hour, minute = map(int, now.split(":"))
    utc = datetime(2025, 3, 10, hour, minute, tzinfo=UTC)
    assert window_open(start, end, utc) is open_
    brasilia = utc.astimezone(timezone(timedelta(hours=-3)))  # same instant, another zone
    assert window_open(start, end, brasilia) is open_
