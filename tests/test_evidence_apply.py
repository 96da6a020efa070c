"""Evidence of real runs (seeds sessions 4, 9, 14): WORM store checked before any write, the
report signed and stored after, exit 4 with the report kept locally when the upload fails;
telemetry spans per batch, with the pipeline's trace id carried into the evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seedc.errors import ExitCode, GuardRefused, RuntimeFailure
from seedc.runtime.apply import ApplyOptions, BatchReport, EvidenceSink
from seedc.runtime.evidence import LocalDevSigner, S3WormStore
from seedc.runtime.telemetry import setup_telemetry
from tests.runtime_support import Target, zero_counts
from tests.services import MotoServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _s3_evidence(moto: MotoServer, bucket: str, target: Target, *,
                 object_lock: bool = True) -> EvidenceSink:
    client = moto.s3_client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=object_lock)
    store = S3WormStore(bucket, "runs", environment="homolog", client=client)
    return EvidenceSink(store, LocalDevSigner.from_env_file(target.env_file, create=True))


def test_report_lands_in_s3_with_compliance_retention_and_verifies(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer) -> None:
    evidence = _s3_evidence(moto_s3, "evidence", target)
    report = target.apply(plan, ApplyOptions(evidence=lambda: evidence))
    assert report.status == "succeeded"
    stored = evidence.published.stored
    client = moto_s3.s3_client()
    key = stored.uri.split("/", 3)[3]
    head = client.head_object(Bucket="evidence", Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - head["LastModified"]).days
    assert days >= 364
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket="evidence", Key=key, VersionId=head["VersionId"])
    body = json.loads(client.get_object(Bucket="evidence", Key=key)["Body"].read())
    assert body["report"]["run_id"] == report.run_id
    assert body["report"]["plan_hash"] == plan["plan_hash"]
    row = target.scalar("SELECT status FROM seedc.evidence WHERE run_id = %s",
                        (report.run_id,))
    assert row == "stored"


def test_bucket_without_object_lock_refuses_with_zero_rows(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer) -> None:
    evidence = _s3_evidence(moto_s3, "plain", target, object_lock=False)
    error = target.apply_error(plan, ApplyOptions(evidence=lambda: evidence))
    assert isinstance(error, GuardRefused)
    assert error.exit_code == ExitCode.REFUSED
    assert any("evidence" in d for d in error.details)
    assert target.counts(plan) == zero_counts(plan)


def test_store_down_before_apply_refuses_with_zero_rows(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer) -> None:
    evidence = _s3_evidence(moto_s3, "evidence", target)
    moto_s3.stop()
    error = target.apply_error(plan, ApplyOptions(evidence=lambda: evidence))
    assert isinstance(error, GuardRefused)
    assert target.counts(plan) == zero_counts(plan)


def test_store_down_after_the_last_batch_fails_with_report_kept_locally(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(target.tmp)  # the local fallback folder is relative to the run
    evidence = _s3_evidence(moto_s3, "evidence", target)
    total = len(plan["batches"])

    def stop_after_last(item: BatchReport, done: int, count: int) -> None:
        if done == total:
            moto_s3.stop()

    error = target.apply_error(plan, ApplyOptions(evidence=lambda: evidence,
                                                  on_batch=stop_after_last))
    assert isinstance(error, RuntimeFailure)
    assert error.exit_code == ExitCode.RUNTIME_FAILURE
    status, uri = target.scalar("SELECT (status, uri)::text FROM seedc.evidence").strip(
        "()").split(",", 1)
    assert status == "upload_failed"
    kept = Path(uri.removeprefix("file://"))
    assert kept.is_file()
    assert json.loads(kept.read_bytes())["report"]["plan_hash"] == plan["plan_hash"]
    assert target.counts(plan) != zero_counts(plan)  # the data committed; the run failed


def test_one_span_per_batch_and_the_pipeline_trace_id_in_the_evidence(
        target: Target, plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEPARENT", f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(span_exporter=exporter)
    folder = target.tmp / "evidence"
    from seedc.runtime.evidence import LocalFolderStore

    evidence = EvidenceSink(LocalFolderStore(folder),
                        LocalDevSigner.from_env_file(target.env_file, create=True))
    report = target.apply(plan, ApplyOptions(evidence=lambda: evidence, telemetry=telemetry))
    telemetry.force_flush()
    spans = exporter.get_finished_spans()
    batches = [s for s in spans if s.name == "seedc.batch"]
    assert len(batches) == len(plan["batches"])
    for span in batches:
        attrs = dict(span.attributes or {})
        assert attrs["seedc.tenant"] == "acme"
        assert attrs["seedc.environment"] == "dev"
        assert attrs["seedc.run_id"] == report.run_id
        assert attrs["seedc.mode"] == "baseline"
        assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert {s.name for s in spans} >= {"seedc.run", "seedc.preflight", "seedc.check"}
    stored = json.loads(folder.joinpath(evidence.published.name).read_bytes())
    assert stored["report"]["trace_id"] == TRACE_ID
    telemetry.shutdown()


def test_dry_run_publishes_no_evidence(target: Target, plan: dict[str, Any]) -> None:
    folder = target.tmp / "evidence"
    report = target.apply(plan, ApplyOptions(dry_run=True))
    assert report.status == "succeeded"
    assert not folder.exists() or not any(folder.iterdir())
    assert not (target.tmp / ".seedc" / "evidence").exists()


def test_evidence_verify_command_passes_then_fails_on_one_changed_byte(
        target: Target, plan: dict[str, Any]) -> None:
    report = target.apply(plan)
    folder = target.tmp / ".seedc" / "evidence"  # the isolated-dev default, beside the key
    files = sorted(folder.iterdir())
    assert len(files) == 1
    assert report.run_id in files[0].name
    ok = target.cli("evidence", "verify", str(files[0]))
    assert ok.code == 0, ok.text
    assert "valid" in ok.out
    data = bytearray(files[0].read_bytes())
    index = data.index(b'"rows_written":') + len(b'"rows_written":')
    data[index] = ord("9") if data[index] != ord("9") else ord("8")
    tampered = target.tmp / "tampered.json"
    tampered.write_bytes(bytes(data))
    bad = target.cli("evidence", "verify", str(tampered))
    assert bad.code == 1, bad.text
    assert "does NOT verify" in bad.err
