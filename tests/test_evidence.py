"""Evidence: the canonical report, its signature, WORM storage and the index.

Real servers only: moto's S3 on loopback (Object Lock is enforced there), OpenBao dev for
Transit, the session's PostgreSQL for the index. Nothing is faked.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from seedc.errors import ExitCode, GuardRefused, InvalidInput, RuntimeFailure, SeedcError
from seedc.plan.canonical import canonical_bytes, sha256_hex
from seedc.runtime.apply import BatchReport, RunReport
from seedc.runtime.evidence import (
    LocalDevSigner,
    LocalFolderStore,
    S3WormStore,
    VaultTransitSigner,
    build_report,
    envelope_bytes,
    evidence_name,
    index_evidence,
    mark_failed,
    publish_evidence,
    retention_for,
    sign_report,
    signer_for,
    store_from_uri,
    transit_key_name,
    verify_envelope,
)
from seedc.runtime.evidence.signing import DEV_KEY_VAR, Signer
from seedc.runtime.install import install_control
from seedc.runtime.preflight import CheckResult
from tests.manifests import REPO
from tests.services import BaoDevServer, MotoServer

PLAN_PATH = REPO / "plans" / "dev" / "globex.plan.json"
BUCKET = "seedc-evidence"
DEV_KEY = bytes(range(100, 132))  # a fixed dev key, so the leak checks know what to look for


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PLAN_PATH.read_text(encoding="utf-8"))
    return loaded


def make_run(plan: dict[str, Any], *, status: str = "succeeded") -> RunReport:
    """A RunReport as apply leaves it: float seconds, a skipped and a retried batch."""
    run = RunReport("4f1c2a6e-8d0b-4c1e-9a53-0d6f3e2b7a10", plan["plan_hash"], plan["tenant"],
                    plan["environment"], plan["mode"], dry_run=False, status=status,
                    message="wrote rows", key_source="local-dev:.env.local")
    run.checks = [CheckResult("role", "least privilege (session 4)", True, "role ok"),
                  CheckResult("key", "key version equals salt_version", True, "key version 1")]
    for i, batch in enumerate(plan["batches"][:4]):
        run.batches.append(BatchReport(batch["id"], batch["entity"], batch["row_count"],
                                       "skipped" if i == 0 else "written", retries=i % 2,
                                       seconds=0.25 * (i + 1)))
    run.rows_written = sum(b.rows for b in run.batches if b.status == "written")
    run.seconds = 1.2344
    return run


def make_report(plan: dict[str, Any], previous: str | None = None,
                run: RunReport | None = None) -> dict[str, Any]:
    return build_report(run or make_run(plan), plan, trace_id="0af7651916cd43dd8448eb211c80319c",
                        span_id="b7ad6b7169203331", seedc_version="0.1.0", key_version=1,
                        measured={"bytes": 4096}, previous_sha256=previous)


@pytest.fixture
def dev_signer(monkeypatch: pytest.MonkeyPatch) -> LocalDevSigner:
    monkeypatch.delenv("CI", raising=False)  # the dev key is for isolated dev only
    return LocalDevSigner(DEV_KEY)


@pytest.fixture
def s3_env(moto_s3: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    """Standard AWS variables pointing boto3 at moto; no profile or config from the machine."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", moto_s3.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    moto_s3.s3_client().create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return moto_s3


@pytest.fixture
def transit(bao: BaoDevServer) -> Any:
    client = bao.client()
    client.sys.enable_secrets_engine("transit")
    return client


def leaked_forms(key: bytes) -> list[str]:
    """Every way a key's bytes could be spelled in text."""
    return [key.hex(), key.hex().upper(), base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode().rstrip("="),
            base64.b64encode(key).decode().rstrip("=")]


def one_byte_changes(data: bytes, step: int = 1) -> Iterator[tuple[int, bytes]]:
    """`data` with one byte changed (its lowest bit flipped) at each `step`-th position."""
    for i in range(0, len(data), step):
        yield i, data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


# --- the report -----------------------------------------------------------------------------


def test_report_holds_the_run_plan_and_context(plan: dict[str, Any]) -> None:
    run = make_run(plan)
    report = make_report(plan, previous="ab" * 32)
    assert report["run_id"] == run.run_id
    assert report["plan_hash"] == plan["plan_hash"]
    assert report["sources"] == plan["sources"]
    assert (report["tenant"], report["environment"], report["mode"]) == (
        plan["tenant"], plan["environment"], plan["mode"])
    assert report["dry_run"] is False
    assert report["status"] == "succeeded"
    assert report["key_version"] == 1
    assert "key" not in report
    assert [c["name"] for c in report["checks"]] == ["role", "key"]
    assert all(c["ok"] is True and c["rule"] for c in report["checks"])
    chain = {b["id"]: b["chain_hash"] for b in plan["batches"]}
    assert [b["id"] for b in report["batches"]] == [b.id for b in run.batches]
    for got, ran in zip(report["batches"], run.batches, strict=True):
        assert got["chain_hash"] == chain[ran.id]
        assert (got["status"], got["rows"], got["retries"]) == (ran.status, ran.rows, ran.retries)
        assert got["duration_ms"] == round(ran.seconds * 1000)
    totals = report["totals"]
    assert totals["rows_written"] == run.rows_written
    assert totals["duration_ms"] == 1234
    assert totals["batches_by_status"] == {"skipped": 1, "written": 3}
    assert totals["batches_planned"] == len(plan["batches"])
    assert totals["retries"] == 2
    assert report["cost"]["estimated"] == plan["estimate"]
    assert report["cost"]["measured"] == {"rows": run.rows_written, "duration_ms": 1234,
                                          "bytes": 4096}
    assert report["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert report["span_id"] == "b7ad6b7169203331"
    assert report["seedc_version"] == "0.1.0"
    assert report["previous_sha256"] == "ab" * 32
    created = datetime.strptime(report["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    canonical_bytes(report)  # no floats anywhere
    assert build_report(run.as_json(), plan, trace_id=None, span_id=None, seedc_version="0.1.0",
                        key_version=None, measured={},
                        created_at=created)["created_at"] == report["created_at"]


def test_report_turns_measured_floats_into_decimal_strings(plan: dict[str, Any]) -> None:
    report = build_report(make_run(plan), plan, trace_id=None, span_id=None,
                          seedc_version="0.1.0", key_version=None,
                          measured={"cost_brl": 0.35, "gb": [1.5, 2]})
    assert report["cost"]["measured"]["cost_brl"] == "0.35"
    assert report["cost"]["measured"]["gb"] == ["1.5", 2]
    assert report["key_version"] is None
    assert report["previous_sha256"] is None


def test_evidence_names_sort_in_creation_order(plan: dict[str, Any]) -> None:
    run = make_run(plan)
    names = [evidence_name(build_report(run, plan, trace_id=None, span_id=None,
                                        seedc_version="0.1.0", key_version=1, measured={},
                                        created_at=datetime(2026, 1, day, 9, tzinfo=UTC)))
             for day in (9, 10, 11)]
    assert names == sorted(names)
    assert names[0] == f"20260109T090000.000000Z-{plan['tenant']}-{run.run_id}.json"


# --- the dev-only signer --------------------------------------------------------------------


def test_dev_signer_verifies_and_detects_every_changed_byte(
        plan: dict[str, Any], dev_signer: LocalDevSigner) -> None:
    data = envelope_bytes(sign_report(make_report(plan), dev_signer))
    assert verify_envelope(data, dev_signer) == []
    assert verify_envelope(json.loads(data), dev_signer) == []
    for i, changed in one_byte_changes(data):
        assert verify_envelope(changed, dev_signer), f"a change at byte {i} went unnoticed"


def test_dev_signer_rejects_another_keys_signature(
        plan: dict[str, Any], dev_signer: LocalDevSigner) -> None:
    envelope = sign_report(make_report(plan), dev_signer)
    other = LocalDevSigner(bytes(32))
    problems = verify_envelope(envelope, other)
    assert any("signed by" in p for p in problems)
    assert any("Ed25519 verification failed" in p for p in problems)


def test_dev_signer_is_refused_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(GuardRefused, match="CI is set"):
        LocalDevSigner(DEV_KEY)
    with pytest.raises(GuardRefused, match="CI is set"):
        LocalDevSigner.from_env_file(tmp_path / ".env.local", create=True)
    assert not (tmp_path / ".env.local").exists()


def test_dev_signer_key_lives_in_env_local(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    env = tmp_path / ".env.local"
    env.write_text("SEEDC_DEV_FPE_KEY=00\n", encoding="utf-8")
    with pytest.raises(GuardRefused, match=DEV_KEY_VAR):
        LocalDevSigner.from_env_file(env)
    created = LocalDevSigner.from_env_file(env, create=True)
    assert LocalDevSigner.from_env_file(env).key_id == created.key_id
    assert env.read_text(encoding="utf-8").startswith("SEEDC_DEV_FPE_KEY=00\n")
    fresh = tmp_path / "new.env"
    LocalDevSigner.from_env_file(fresh, create=True)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert signer_for("dev", env_file=env).key_id == created.key_id
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    with pytest.raises(GuardRefused, match="Vault Transit"):
        signer_for("prod", env_file=env)


def test_no_key_bytes_in_envelope_repr_or_errors(
        plan: dict[str, Any], dev_signer: LocalDevSigner, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    envelope = sign_report(make_report(plan), dev_signer)
    texts = [envelope_bytes(envelope).decode(), repr(dev_signer), dev_signer.key_id]
    texts += verify_envelope(envelope_bytes(envelope)[:-2] + b"0}", dev_signer)
    bad = {**envelope, "signature": {**envelope["signature"], "value": "AAAA"}}
    texts += verify_envelope(bad, dev_signer)
    errors: list[SeedcError] = []
    with pytest.raises(GuardRefused) as short:
        LocalDevSigner(DEV_KEY[:31])
    errors.append(short.value)
    env = tmp_path / ".env.local"
    env.write_text(f"{DEV_KEY_VAR}={DEV_KEY.hex()}zz\n", encoding="utf-8")
    with pytest.raises(GuardRefused) as not_hex:
        LocalDevSigner.from_env_file(env)
    errors.append(not_hex.value)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(GuardRefused) as in_ci:
        LocalDevSigner(DEV_KEY)
    errors.append(in_ci.value)
    texts += [e.render() for e in errors] + [str(e) for e in errors]
    for text in texts:
        for form in leaked_forms(DEV_KEY):
            assert form not in text


# --- the local folder store -----------------------------------------------------------------


def _publish_locally(store: LocalFolderStore, plan: dict[str, Any], signer: Signer,
                     day: int) -> bytes:
    report = build_report(make_run(plan), plan, trace_id=None, span_id=None,
                          seedc_version="0.1.0", key_version=1, measured={},
                          previous_sha256=store.last_sha256(),
                          created_at=datetime(2026, 3, day, tzinfo=UTC))
    data = envelope_bytes(sign_report(report, signer))
    stored = store.put(evidence_name(report), data)
    assert stored.sha256 == sha256_hex(data)
    assert stored.version_id is None
    assert stored.uri.startswith("file://")
    return data


def test_local_store_chains_read_only_files(plan: dict[str, Any], dev_signer: LocalDevSigner,
                                            tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "evidence")
    store.check_writable()
    assert store.last_sha256() is None
    written = [_publish_locally(store, plan, dev_signer, day) for day in (1, 2, 3)]
    files = store.files()
    assert [f.read_bytes() for f in files] == written
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o444 for f in files)
    assert [json.loads(d)["report"]["previous_sha256"] for d in written] == [
        None, sha256_hex(written[0]), sha256_hex(written[1])]
    assert store.last_sha256() == sha256_hex(written[2])
    assert store.verify_chain(dev_signer) == []
    assert not [p for p in (tmp_path / "evidence").iterdir() if p.name.startswith(".")]
    with pytest.raises(RuntimeFailure, match="never overwritten"):
        store.put(files[0].name, b"{}")
    assert files[0].read_bytes() == written[0]


def test_local_store_detects_tampering(plan: dict[str, Any], dev_signer: LocalDevSigner,
                                       tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    for day in (1, 2, 3):
        _publish_locally(store, plan, dev_signer, day)
    first, middle, last = store.files()
    data = middle.read_bytes()
    at = data.index(b'"rows_written":') + len(b'"rows_written":')
    middle.chmod(0o644)
    middle.write_bytes(data[:at] + b"9" + data[at + 1:])
    problems = store.verify_chain(dev_signer)
    assert any(p.startswith(f"{middle.name}: writable") for p in problems)
    assert any(p.startswith(f"{middle.name}: sha256 mismatch") for p in problems)
    assert any(p.startswith(f"{last.name}: previous_sha256") for p in problems)
    assert store.verify_chain(None)  # the digest and the chain fail without the signer too
    middle.unlink()
    assert [p for p in store.verify_chain(dev_signer) if p.startswith(last.name)]
    assert first.read_bytes()  # untouched


def test_local_store_refuses_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(GuardRefused, match="not writable"):
        LocalFolderStore(blocker / "evidence").check_writable()


def test_store_from_uri(tmp_path: Path) -> None:
    s3 = store_from_uri("s3://bucket-a/seedc/evidence/", "prod")
    assert isinstance(s3, S3WormStore)
    assert (s3.bucket, s3.prefix, s3.retention) == ("bucket-a", "seedc/evidence",
                                                    timedelta(days=365))
    local = store_from_uri(f"file://{tmp_path}/ev", "dev")
    assert isinstance(local, LocalFolderStore)
    assert local.path == tmp_path / "ev"
    with pytest.raises(GuardRefused, match="WORM"):
        store_from_uri(f"file://{tmp_path}", "homolog")
    with pytest.raises(InvalidInput):
        store_from_uri("ftp://host/x", "dev")
    with pytest.raises(InvalidInput, match="365"):
        S3WormStore("b", environment="prod", retention=timedelta(days=30))
    assert retention_for("dev") == timedelta(days=1)
    assert {retention_for(e).days for e in ("ci", "staging", "homolog", "prod")} == {365}


# --- S3 with Object Lock (moto) -------------------------------------------------------------


@pytest.mark.parametrize(("environment", "days"), [("homolog", 365), ("dev", 1)])
def test_s3_evidence_lands_locked_in_compliance_mode(
        plan: dict[str, Any], dev_signer: LocalDevSigner, s3_env: MotoServer,
        environment: str, days: int) -> None:
    store = store_from_uri(f"s3://{BUCKET}/evidence/{environment}", environment)
    store.check_writable()
    assert store.last_sha256() is None
    report = make_report(plan)
    data = envelope_bytes(sign_report(report, dev_signer))
    before = datetime.now(UTC)
    stored = store.put(evidence_name(report), data)
    key = f"evidence/{environment}/{evidence_name(report)}"
    assert stored.uri == f"s3://{BUCKET}/{key}"
    assert stored.sha256 == sha256_hex(data)
    s3 = s3_env.s3_client()
    head = s3.head_object(Bucket=BUCKET, Key=key, VersionId=stored.version_id,
                          ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    retained = head["ObjectLockRetainUntilDate"] - before
    assert timedelta(days=days, seconds=-2) <= retained <= timedelta(days=days, minutes=1)
    assert head["ContentType"] == "application/json"
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == stored.sha256
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=stored.version_id)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    body = s3.get_object(Bucket=BUCKET, Key=key, VersionId=stored.version_id)["Body"].read()
    assert body == data
    assert verify_envelope(body, dev_signer) == []
    # the write probe left nothing: one version (the evidence), no pending upload
    versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    assert [v["Key"] for v in versions] == [key]
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert store.last_sha256() == stored.sha256
    with pytest.raises(RuntimeFailure, match="PreconditionFailed"):
        store.put(evidence_name(report), b"{}")  # never a second version of the same name


def test_s3_chain_follows_the_newest_evidence(plan: dict[str, Any],
                                              dev_signer: LocalDevSigner,
                                              s3_env: MotoServer) -> None:
    store = S3WormStore(BUCKET, "chain", environment="dev")
    previous = None
    for day in (5, 6):
        report = build_report(make_run(plan), plan, trace_id=None, span_id=None,
                              seedc_version="0.1.0", key_version=1, measured={},
                              previous_sha256=store.last_sha256(),
                              created_at=datetime(2026, 4, day, tzinfo=UTC))
        assert report["previous_sha256"] == previous
        previous = store.put(evidence_name(report),
                             envelope_bytes(sign_report(report, dev_signer))).sha256
    store.check_writable()  # a probe under _probe/ must not count as evidence
    assert store.last_sha256() == previous


def test_s3_bucket_without_object_lock_is_refused(s3_env: MotoServer) -> None:
    s3_env.s3_client().create_bucket(Bucket="plain-bucket")
    with pytest.raises(GuardRefused, match="no Object Lock") as refused:
        S3WormStore("plain-bucket", "ev", environment="prod").check_writable()
    assert refused.value.exit_code == ExitCode.REFUSED
    with pytest.raises(GuardRefused, match="does not exist"):
        S3WormStore("no-such-bucket", "ev", environment="prod").check_writable()


def test_s3_stopped_server_is_refused(s3_env: MotoServer) -> None:
    store = S3WormStore(BUCKET, "ev", environment="prod")
    store.check_writable()
    s3_env.stop()
    with pytest.raises(GuardRefused, match="cannot reach the evidence bucket"):
        store.check_writable()
    with pytest.raises(RuntimeFailure, match="upload"):
        store.put("x.json", b"{}")


# --- Vault / OpenBao Transit ----------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256"])
def test_transit_signature_verifies_and_detects_changes(
        plan: dict[str, Any], transit: Any, bao: BaoDevServer, key_type: str) -> None:
    name = transit_key_name("homolog")
    transit.secrets.transit.create_key(name, key_type=key_type)
    signer = VaultTransitSigner(transit, name)
    signer.check()
    envelope = sign_report(make_report(plan), signer)
    assert envelope["signature"]["key"] == f"vault-transit:transit/{name}"
    assert envelope["signature"]["value"].startswith("vault:v1:")
    data = envelope_bytes(envelope)
    assert verify_envelope(data, signer) == []
    value_at = data.index(b'"value":"vault:v1:') + len(b'"value":"vault:v1:')
    positions = set(range(0, len(data), 97)) | set(range(value_at, data.index(b'"', value_at)))
    for i, changed in one_byte_changes(data):
        if i in positions:
            assert verify_envelope(changed, signer), f"a change at byte {i} went unnoticed"
    other = VaultTransitSigner(transit, "another-key")
    transit.secrets.transit.create_key("another-key", key_type=key_type)
    assert verify_envelope(data, other)
    assert bao.token not in data.decode()


def test_transit_refuses_unusable_keys_without_leaking_the_token(
        transit: Any, bao: BaoDevServer) -> None:
    with pytest.raises(GuardRefused, match="cannot read Transit key") as missing:
        VaultTransitSigner(transit, "seedc-evidence-prod").check()
    transit.secrets.transit.create_key("aes-key", key_type="aes256-gcm96")
    with pytest.raises(GuardRefused, match="ed25519 or ecdsa-p256") as wrong:
        VaultTransitSigner(transit, "aes-key").check()
    for error in (missing.value, wrong.value):
        assert bao.token not in error.render()
    assert isinstance(signer_for("prod", client=transit), VaultTransitSigner)


# --- the index and publish_evidence ---------------------------------------------------------


@pytest.fixture
def control(pg_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        install_control(conn)
        yield conn


def _rows(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT run_id::text, uri, version_id, sha256, retain_until, status "
                        "FROM seedc.evidence ORDER BY created_at").fetchall()


def test_publish_stores_signs_and_indexes(plan: dict[str, Any], dev_signer: LocalDevSigner,
                                          s3_env: MotoServer, control: psycopg.Connection,
                                          tmp_path: Path) -> None:
    store = store_from_uri(f"s3://{BUCKET}/seedc", "homolog")
    store.check_writable()
    first = publish_evidence(make_run(plan), plan, store=store, signer=dev_signer,
                             conn=control, seedc_version="0.1.0", key_version=1,
                             measured={"bytes": 1}, fallback_dir=tmp_path / "unsent")
    assert verify_envelope(first.envelope, dev_signer) == []
    [(run_id, uri, version_id, sha256, retain_until, status)] = _rows(control)
    assert (run_id, uri, version_id, sha256, status) == (
        first.envelope["report"]["run_id"], first.stored.uri, first.stored.version_id,
        first.stored.sha256, "stored")
    assert retain_until - datetime.now(UTC) > timedelta(days=364)
    second_run = make_run(plan)
    second_run.run_id = "9e0c5b7a-1d2f-4a3b-8c4d-5e6f7a8b9c0d"
    second = publish_evidence(second_run, plan, store=store, signer=dev_signer, conn=control,
                              seedc_version="0.1.0", key_version=1,
                              fallback_dir=tmp_path / "unsent")
    assert second.envelope["report"]["previous_sha256"] == first.stored.sha256
    assert not (tmp_path / "unsent").exists()


def test_publish_keeps_evidence_locally_when_the_store_is_down(
        plan: dict[str, Any], dev_signer: LocalDevSigner, s3_env: MotoServer,
        control: psycopg.Connection, tmp_path: Path) -> None:
    store = S3WormStore(BUCKET, "seedc", environment="prod")
    store.check_writable()
    s3_env.stop()
    unsent = tmp_path / "unsent"
    with pytest.raises(RuntimeFailure, match="kept at") as failed:
        publish_evidence(make_run(plan), plan, store=store, signer=dev_signer, conn=control,
                         seedc_version="0.1.0", key_version=1, fallback_dir=unsent)
    assert failed.value.exit_code == ExitCode.RUNTIME_FAILURE
    [kept] = LocalFolderStore(unsent).files()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o444
    assert verify_envelope(kept.read_bytes(), dev_signer) == []
    [(run_id, uri, version_id, sha256, retain_until, status)] = _rows(control)
    assert (uri, version_id, retain_until, status) == (kept.resolve().as_uri(), None, None,
                                                       "upload_failed")
    assert sha256 == sha256_hex(kept.read_bytes())
    # a later upload replaces the failed row; nothing downgrades a stored one
    late = LocalFolderStore(tmp_path / "late").put(kept.name, kept.read_bytes())
    index_evidence(control, run_id, plan["tenant"], plan["environment"], late)
    mark_failed(control, run_id, plan["tenant"], plan["environment"], kept, sha256)
    assert _rows(control)[0][1:] == (late.uri, None, sha256, None, "stored")


def test_publish_keeps_the_unsigned_report_when_signing_fails(
        plan: dict[str, Any], transit: Any, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "store")
    signer = VaultTransitSigner(transit, transit_key_name("prod"))  # never created
    with pytest.raises(RuntimeFailure, match="could not be signed") as failed:
        publish_evidence(make_run(plan), plan, store=store, signer=signer, conn=None,
                         seedc_version="0.1.0", key_version=1, fallback_dir=tmp_path / "unsent")
    assert failed.value.exit_code == ExitCode.RUNTIME_FAILURE
    assert store.files() == []
    [kept] = LocalFolderStore(tmp_path / "unsent").files()
    envelope = json.loads(kept.read_bytes())
    assert envelope["signature"] is None
    assert verify_envelope(kept.read_bytes(), None) == ["the envelope is unsigned"]
