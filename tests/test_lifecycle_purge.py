"""TTL purge (sessions 5, 9; issue 14): `seedc purge --expired` against real PostgreSQL.

A load plan with a one-hour TTL beside a baseline tenant; the reference clock is injected
(`PurgeOptions.now`, the CLI's hidden `--now`), never slept on. Before expiry nothing goes;
after it exactly the load tenant's dataset goes, with an audit row and signed evidence; the
baseline tenant stays; a dry run and every refusal delete nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from seedc.compiler.pipeline import compile_manifest
from seedc.runtime.apply import EvidenceSink
from seedc.runtime.evidence import LocalDevSigner, LocalFolderStore, verify_envelope
from seedc.runtime.lease import LeaseSettings
from seedc.runtime.ttl_purge import PurgeOptions, PurgeSummary, purge_expired
from tests.manifests import REPO
from tests.runtime_support import (
    Target,
    compile_variant,
    hold_tenant_lock,
    planned_counts,
    prepared_target,
    zero_counts,
)

HOUR = timedelta(hours=1)


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def load_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """dev/acme as a load plan whose dataset lives one hour."""
    plan = compile_variant(tmp_path_factory.mktemp("load"), [
        ("mode: baseline", "mode: load"),
        ('ttl: {load: "7d"', 'ttl: {load: "1h"'),
        ("canary: {enabled: false}",
         "canary: {enabled: false}\nstates:\n"
         "  customers: {active: 0.7, blocked: 0.1, defaulted: 0.1, closed: 0.1}"),
    ])
    assert plan["mode"] == "load"
    assert plan["guards"]["ttl"] == "1h"
    return plan


@pytest.fixture(scope="module")
def baseline_plan() -> dict[str, Any]:
    plan = compile_manifest(REPO / "manifests" / "dev" / "globex.yaml")
    assert plan["mode"] == "baseline"
    return plan


def _seeded(target: Target, load_plan: dict[str, Any],
            baseline_plan: dict[str, Any]) -> datetime:
    """Both tenants applied; returns the load run's successful finish (the TTL's origin)."""
    assert target.apply(baseline_plan).status == "succeeded"
    report = target.apply(load_plan)
    assert report.status == "succeeded"
    finished: datetime = target.scalar(
        "SELECT finished_at FROM seedc.runs WHERE run_id = %s AND status = 'succeeded'",
        (report.run_id,))
    return finished


def _options(target: Target, now: datetime, **kw: Any) -> PurgeOptions:
    folder = target.tmp / "purge-evidence"
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    kw.setdefault("evidence", lambda spec: lambda: EvidenceSink(LocalFolderStore(folder),
                                                                signer))
    return PurgeOptions(now=now, **kw)


def _purge(target: Target, now: datetime, **kw: Any) -> PurgeSummary:
    return purge_expired(target.apply_dsn, "dev", _options(target, now, **kw))


def _events(target: Target, tenant: str) -> list[str]:
    return [e for e, _, _ in target.audit({"tenant": tenant}) if e.startswith("purge.")]


def test_before_expiry_nothing_is_purged(target: Target, load_plan: dict[str, Any],
                                         baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    summary = _purge(target, finished + HOUR - timedelta(seconds=1))
    assert summary.datasets == []
    assert summary.exit_code == 0
    assert target.counts(load_plan) == planned_counts(load_plan)
    assert target.counts(baseline_plan) == planned_counts(baseline_plan)


def test_after_expiry_exactly_the_load_dataset_goes_with_audit_and_evidence(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    summary = _purge(target, finished + HOUR)
    assert [(o.tenant, o.status) for o in summary.datasets] == [("acme", "purged")], \
        summary.datasets[0].message
    outcome = summary.datasets[0]
    assert summary.exit_code == 0
    assert target.counts(load_plan) == zero_counts(load_plan)
    assert target.checkpoints(load_plan) == []
    assert sum(v for k, v in outcome.deleted.items() if k != "seedc.checkpoints") == \
        sum(planned_counts(load_plan).values())
    # the baseline tenant beside it is untouched, checkpoints included
    assert target.counts(baseline_plan) == planned_counts(baseline_plan)
    assert len(target.checkpoints(baseline_plan)) == len(baseline_plan["batches"])
    assert _events(target, "acme") == ["purge.ttl"]
    assert target.scalar("SELECT rule FROM seedc.audit WHERE event = 'purge.ttl'").startswith(
        "load/dr datasets are purged when their TTL elapses")
    # signed evidence, indexed under the purge's own run id
    status, uri = target.scalar("SELECT ARRAY[status, uri] FROM seedc.evidence WHERE "
                                "run_id = %s", (outcome.run_id,))
    assert status == "stored"
    assert uri == outcome.evidence
    data = Path(uri.removeprefix("file://")).read_bytes()
    signer = LocalDevSigner.from_env_file(target.env_file)
    assert verify_envelope(data, signer) == []
    report = json.loads(data)["report"]
    assert report["status"] == "purged"
    assert report["tenant"] == "acme"
    assert report["cost"]["measured"]["rows_deleted"] == sum(planned_counts(load_plan).values())
    # the dataset is gone from the index: a second purge finds nothing
    assert _purge(target, finished + 2 * HOUR).datasets == []


def test_dry_run_deletes_nothing_and_publishes_nothing(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    summary = _purge(target, finished + 2 * HOUR, dry_run=True)
    assert [(o.tenant, o.status) for o in summary.datasets] == [("acme", "would-purge")]
    assert summary.datasets[0].deleted["app.tenants"] == 1
    assert target.counts(load_plan) == planned_counts(load_plan)
    assert len(target.checkpoints(load_plan)) == len(load_plan["batches"])
    assert not (target.tmp / "purge-evidence").exists()
    assert target.scalar("SELECT count(*) FROM seedc.evidence WHERE run_id = %s",
                         (summary.datasets[0].run_id,)) == 0
    # still expired, still there: the real purge afterwards takes it
    assert [o.status for o in _purge(target, finished + 2 * HOUR).datasets] == ["purged"]


def test_unwritable_evidence_store_refuses_before_deleting(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    blocker = target.tmp / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    summary = _purge(target, finished + 2 * HOUR,
                     evidence=lambda spec: lambda: EvidenceSink(LocalFolderStore(blocker),
                                                                signer))
    outcome = summary.datasets[0]
    assert (outcome.status, summary.exit_code) == ("refused", 3)
    assert "is a file, expected a folder" in outcome.message
    assert "[rule " in outcome.message or "evidence" in outcome.message
    assert target.counts(load_plan) == planned_counts(load_plan)
    assert _events(target, "acme") == ["purge.refused"]


def test_tenant_lease_held_refuses_and_deletes_nothing(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    with hold_tenant_lock(target.admin_dsn, load_plan, holder="another-run@pod-7"):
        summary = _purge(target, finished + 2 * HOUR,
                         lease=LeaseSettings(lease_wait_s=0.5, poll_s=0.1))
    outcome = summary.datasets[0]
    assert (outcome.status, summary.exit_code) == ("refused", 3)
    assert "being seeded by another-run@pod-7" in outcome.message
    assert target.counts(load_plan) == planned_counts(load_plan)
    assert target.scalar("SELECT count(*) FROM seedc.evidence") == 2  # the two applies only


def test_outside_the_window_refuses_and_deletes_nothing(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    target.execute("UPDATE seedc.datasets SET spec = jsonb_set(spec, '{window}', "
                   "'{\"start_utc\": \"22:00\", \"end_utc\": \"06:00\"}')")
    noon = (finished + 2 * HOUR).replace(hour=12) + timedelta(days=1)
    summary = _purge(target, noon)
    assert summary.datasets[0].status == "refused"
    assert "outside the off-peak window 22:00–06:00 UTC" in summary.datasets[0].message
    assert target.counts(load_plan) == planned_counts(load_plan)


def test_cli_purge_expired_json_and_exit_codes(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    early = (finished + HOUR / 2).isoformat()
    late = (finished + 2 * HOUR).isoformat()
    base = ["purge", "--expired", "--dsn", target.apply_dsn, "--environment", "dev", "--json"]
    result = target.cli_inprocess(*base, "--now", early)
    assert result.code == 0, result.text
    assert json.loads(result.out)["datasets"] == []
    blocker = target.tmp / "blocker"
    blocker.write_text("x", encoding="utf-8")
    refused = target.cli_inprocess(*base, "--now", late, "--evidence", f"file://{blocker}")
    assert refused.code == 3, refused.text
    assert json.loads(refused.out)["datasets"][0]["status"] == "refused"
    assert "purge of acme refused" in refused.err
    assert target.counts(load_plan) == planned_counts(load_plan)
    dry = target.cli_inprocess(*base, "--now", late, "--dry-run")
    assert dry.code == 0
    assert json.loads(dry.out)["datasets"][0]["status"] == "would-purge"
    assert target.counts(load_plan) == planned_counts(load_plan)
    done = target.cli_inprocess(*base, "--now", late)
    assert done.code == 0, done.text
    assert json.loads(done.out)["datasets"][0]["status"] == "purged"
    assert target.counts(load_plan) == zero_counts(load_plan)
    assert target.counts(baseline_plan) == planned_counts(baseline_plan)


def test_cli_purge_needs_expired_and_refuses_the_test_clock_in_prod(target: Target) -> None:
    missing = target.cli_inprocess("purge", "--dsn", target.apply_dsn, "--environment", "dev")
    assert missing.code == 2
    assert "--expired" in missing.text
    prod = target.cli_inprocess("purge", "--expired", "--dsn", target.apply_dsn,
                                "--environment", "prod", "--now", "2030-01-01T00:00:00Z")
    assert prod.code == 2
    assert "test clock" in prod.text


def test_an_old_control_schema_is_refused_with_the_fix(target: Target) -> None:
    target.execute("DROP TABLE seedc.datasets")
    result = target.cli_inprocess("purge", "--expired", "--dsn", target.apply_dsn,
                                  "--environment", "dev")
    assert result.code == 3, result.text
    assert "run `seedc db install" in result.err


def test_a_bad_evidence_uri_is_invalid_input_and_deletes_nothing(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    finished = _seeded(target, load_plan, baseline_plan)
    result = target.cli_inprocess("purge", "--expired", "--dsn", target.apply_dsn,
                                  "--environment", "dev", "--json", "--evidence", "ftp://x",
                                  "--now", (finished + 2 * HOUR).isoformat())
    assert result.code == 2, result.text
    assert "expected s3://bucket/prefix or file://path" in result.err
    assert target.counts(load_plan) == planned_counts(load_plan)


def test_a_baseline_is_never_purged_even_with_a_ttl(target: Target, tmp_path: Path) -> None:
    """Session 5: TTL purge is for load/DR datasets; a baseline `ttl` is not acted on."""
    plan = compile_variant(tmp_path, [('ttl: {load: "7d"', 'ttl: {baseline: "1h", load: "7d"')])
    assert (plan["mode"], plan["guards"]["ttl"]) == ("baseline", "1h")
    report = target.apply(plan)
    finished = target.scalar("SELECT finished_at FROM seedc.runs WHERE run_id = %s",
                             (report.run_id,))
    target.execute("UPDATE seedc.datasets SET ttl = interval '1 hour'")  # even if recorded
    summary = _purge(target, finished + 365 * 24 * HOUR)
    assert summary.datasets == []
    assert target.counts(plan) == planned_counts(plan)


def test_outside_isolated_dev_only_the_pipeline_purges(
        target: Target, load_plan: dict[str, Any], baseline_plan: dict[str, Any]) -> None:
    """Issue 15: a dataset recorded outside isolated dev is purged only by the pipeline role
    with a machine Vault identity; here neither (no Vault, another role): refused, audited,
    nothing deleted."""
    finished = _seeded(target, load_plan, baseline_plan)
    target.execute("UPDATE seedc.datasets SET spec = spec || "
                   "'{\"isolated_dev\": false, \"pipeline_role\": \"seedc_pipeline\"}'::jsonb")
    summary = _purge(target, finished + HOUR)
    assert [(o.tenant, o.status) for o in summary.datasets] == [("acme", "refused")]
    assert summary.exit_code == 3
    assert "pipeline" in summary.datasets[0].message
    assert _events(target, "acme") == ["purge.refused"]
    assert target.counts(load_plan) == planned_counts(load_plan)
