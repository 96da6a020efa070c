"""Issue 11 "first hour": everyday commands' text and --json output.

`finance quote` parsing is table-driven through the real CLI (exit codes from its edge); the
oracle for a Brazilian input is the same quote given in canonical form.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from seedc.runtime.apply import ApplyOptions, EvidenceSink
from seedc.runtime.evidence import LocalDevSigner, S3WormStore
from tests.manifests import REPO
from tests.runtime_support import (
    CliResult,
    Target,
    admin_execute,
    prepared_target,
    run_cli_inprocess,
)
from tests.services import BaoDevServer, MotoServer

C_ENV = {"LANG": "C.UTF-8", "LC_ALL": ""}
PT_ENV = {"LANG": "pt_BR.UTF-8", "LC_ALL": ""}
CANONICAL = ["finance", "quote", "--principal", "10000.00", "--rate-monthly", "1.99",
             "--term", "12", "--contract-date", "2025-01-15", "--system", "price",
             "--borrower", "pf", "--json"]


def _quote(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["finance", "quote", *args], env=env or C_ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("principal", "rate", "date", "system", "borrower", "env"), [
    ("10.000,00", "1,99", "15/01/2025", "PRICE", "PF", C_ENV),
    ("R$ 10.000,00", "1,99", "15/01/2025", "Price", "pf", C_ENV),
    ("R$10.000", "1,99", "2025-01-15", "price", "Pf", PT_ENV),  # pt-BR: dot + 3 digits
    ("10000", "1.99", "15/1/2025", "price", "PF", PT_ENV),
    ("10000.00", "1.99", "2025-01-15", "price", "pf", C_ENV),
])
def test_brazilian_inputs_quote_like_canonical_ones(
        principal: str, rate: str, date: str, system: str, borrower: str,
        env: dict[str, str]) -> None:
    code, expected, _ = _quote(CANONICAL[2:], C_ENV)
    assert code == 0
    code, out, err = _quote(["--principal", principal, "--rate-monthly", rate, "--term", "12",
                             "--contract-date", date, "--system", system,
                             "--borrower", borrower, "--json"], env)
    assert code == 0, err
    assert out == expected  # --json stays canonical in every locale


def test_sac_in_any_case() -> None:
    base = ["--principal", "1.000,00", "--rate-monthly", "1,5", "--term", "6",
            "--contract-date", "15/01/2025", "--json"]
    upper, lower = _quote([*base, "--system", "SAC"]), _quote([*base, "--system", "sac"])
    assert upper[0] == lower[0] == 0
    assert upper[1] == lower[1]
    assert json.loads(upper[1])["financed_principal"].startswith("10")  # 1.000,00 is 1000


@pytest.mark.parametrize(("principal", "env", "expected"), [
    ("1.000", PT_ENV, "1000"),   # pt-BR: a dot before exactly 3 digits groups thousands
    ("1.000", C_ENV, "1.000"),   # elsewhere the dot is the decimal mark
    ("1.000,5", C_ENV, "1000.5"),  # a comma always makes it Brazilian
])
def test_ambiguous_dot_rule(principal: str, env: dict[str, str], expected: str) -> None:
    from decimal import Decimal

    code, out, err = _quote(["--principal", principal, "--rate-monthly", "1", "--term", "3",
                             "--contract-date", "2025-01-15", "--iof", "none", "--json"], env)
    assert code == 0, err
    assert Decimal(json.loads(out)["released_amount"]) == Decimal(expected)


@pytest.mark.parametrize("principal", ["10,000.00", "1.00,00", "R$ dez", "1.0000,00"])
def test_malformed_amounts_exit_2(principal: str) -> None:
    code, out, err = _quote(["--principal", principal, "--rate-monthly", "1", "--term", "3",
                             "--contract-date", "2025-01-15"])
    assert code == 2
    assert out == ""
    assert "principal is not a number" in err
    assert "Traceback" not in err


def test_pt_br_text_output() -> None:
    args = ["--principal", "R$ 10.000,00", "--rate-monthly", "1,99", "--term", "12",
            "--contract-date", "15/01/2025"]
    code, out, _ = _quote([*args, "--locale", "pt-BR"])
    assert code == 0
    data = json.loads(_quote([*args, "--json"])[1])
    total = data["total_paid"].replace(".", ",")
    integer, cents = total.split(",")
    grouped = f"{int(integer):,}".replace(",", ".") + "," + cents
    assert f"total paid           R$ {grouped}" in out
    cet = data["cet_annual_percent"].replace(".", ",")
    assert f"CET                  {cet} % a.a." in out
    assert "15/02/2025" in out  # dates DD/MM/YYYY in pt-BR text
    assert _quote(args, PT_ENV)[1] == out  # LANG=pt_BR picks pt-BR by default
    c_out = _quote([*args, "--locale", "C"], PT_ENV)[1]
    assert f"total paid           {data['total_paid'][:-6]},{data['total_paid'][-6:]}" in c_out
    assert "R$" not in c_out


def test_finance_help_has_examples_and_the_dot_rule() -> None:
    out = CliRunner().invoke(cli, ["finance", "quote", "--help"]).output
    assert "Examples:" in out
    assert "seedc finance quote --principal" in out
    assert "1.000 is one thousand in pt-BR" in " ".join(out.split())


# --- keys status without Vault: the dev key apply would use (issue 11) ----------------------

DEV_PLAN = REPO / "plans" / "dev" / "acme.plan.json"
CI_PLAN = REPO / "plans" / "ci" / "acme.plan.json"


def _dev_key(path: Path, version: int) -> Path:
    path.write_text(f"SEEDC_DEV_FPE_KEY={secrets.token_hex(32)}\n"
                    f"SEEDC_DEV_FPE_KEY_VERSION={version}\n")
    return path


def _keys(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["keys", "status", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_vault")
def test_keys_status_isolated_dev_reports_the_local_key(tmp_path: Path) -> None:
    env = _dev_key(tmp_path / ".env.local", 1)
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env)])
    assert code == 0, err
    assert out == f"seedc/dev/acme/fpe: plan salt_version 1, dev key ({env}) version 1: ok\n"
    code, out, _ = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 0
    assert json.loads(out) == {
        "source": "local-dev", "ref": "seedc/dev/acme/fpe", "key_file": str(env),
        "plan_version": 1, "key_version": 1, "state": "ok",
        "message": f"the dev key in {env} is at version 1"}
    key = env.read_text().split("\n")[0].split("=")[1]
    assert key not in out


@pytest.mark.usefixtures("no_vault")
def test_keys_status_local_rotated_and_missing_exit_3_with_json(tmp_path: Path) -> None:
    env = _dev_key(tmp_path / ".env.local", 2)
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    data = json.loads(out)
    assert (data["state"], data["key_version"], data["plan_version"]) == ("rotated", 2, 1)
    assert "seedc reset PLAN --yes" in err
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(tmp_path / "absent"), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "missing"
    assert "no dev key" in err
    assert "seedc demo" in err


@pytest.mark.usefixtures("no_vault")
def test_keys_status_refusals_print_json_then_exit_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _dev_key(tmp_path / ".env.local", 1)
    code, out, err = _keys([str(CI_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    data = json.loads(out)
    assert data["state"] == "refused"
    assert data["rule"] == "dev-only local key: isolated dev only, never in CI (session 1)"
    assert "only a dev manifest marked isolated_dev may use it" in data["message"]
    assert "configure Vault" in err
    monkeypatch.setenv("CI", "true")
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "refused"
    assert "refused because CI is set" in err
    monkeypatch.delenv("CI")
    code, out, err = _keys([str(REPO / "manifests" / "dev" / "acme.yaml"), "--json"])
    assert code == 2
    assert json.loads(out)["state"] == "invalid"
    assert "this is a manifest, not a plan" in err


def test_keys_status_help_has_examples() -> None:
    out = CliRunner().invoke(cli, ["keys", "status", "--help"]).output
    assert "Examples:" in out
    assert "seedc keys status plans/dev/acme.plan.json" in out


# --- seedc runs / runs show (the `target` fixture: real PostgreSQL, dev key) ------------------


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _runs_history(target: Target, plan: dict[str, Any]) -> tuple[str, str, str]:
    """A dry run, a real run, a reset: the three kinds a user sees; returns their ids."""
    dry = target.apply(plan, ApplyOptions(dry_run=True))
    real = target.apply(plan)
    path = target.plan_file(plan)
    reset = target.cli_inprocess("reset", str(path), "--yes", "--dsn", target.apply_dsn)
    assert reset.code == 0, reset.text
    reset_id = target.scalar("SELECT run_id::text FROM seedc.audit WHERE event = 'reset'")
    return dry.run_id, real.run_id, reset_id


def test_runs_list_header_width_dry_run_and_reset(target: Target, plan: dict[str, Any]) -> None:
    dry, real, reset = _runs_history(target, plan)
    total = sum(len(b["rows"]) for b in plan["batches"])
    admin = target.cli_inprocess("runs", "--dsn", target.admin_dsn)
    assert admin.code == 0, admin.text
    lines = admin.out.splitlines()
    assert lines[0].split() == ["RUN", "STARTED", "(UTC)", "TENANT/ENV", "STATUS", "ROWS",
                                "PLAN", "EVIDENCE"]

    # columns fit 100; only a URI too long for its row goes whole on its own line
    assert all(len(line) <= 100 for line in lines if not line.startswith("  evidence "))
    by_id = {line[:8]: line for line in lines[1:]}
    assert " dry-run " in by_id[dry[:8]]
    assert f"~{total} " in by_id[dry[:8]]
    assert "succeeded" not in by_id[dry[:8]]
    assert f" succeeded  {total:>8} " in by_id[real[:8]]
    assert " reset " in by_id[reset[:8]]
    assert f"-{total} " in by_id[reset[:8]]
    uri = target.scalar("SELECT uri FROM seedc.evidence WHERE run_id = %s", (real,))
    assert uri.startswith("file://")
    assert uri in admin.out  # whole, on the row or on its own line: what verify takes
    # the apply role cannot read the audit trail, so resets are not listed; runs are
    role = target.cli_inprocess("runs", "--dsn", target.apply_dsn, "--json")
    assert role.code == 0, role.text
    data = json.loads(role.out)
    assert [r["run_id"] for r in data] == [real, dry]
    assert (data[1]["shown_status"], data[1]["dry_run"], data[1]["would_write"]) == (
        "dry-run", True, total)
    assert (data[0]["shown_status"], data[0]["rows_written"]) == ("succeeded", total)
    assert data[0]["evidence_uri"] == uri
    assert len(data[0]["evidence_file_sha256"]) == 64
    full = json.loads(target.cli_inprocess("runs", "--dsn", target.admin_dsn, "--json").out)
    assert (full[0]["run_id"], full[0]["status"]) == (reset, "reset")
    assert full[0]["rows_deleted"] == total


def test_runs_show_prefix_json_and_audit_trail(target: Target, plan: dict[str, Any]) -> None:
    _, real, _ = _runs_history(target, plan)
    shown = target.cli_inprocess("runs", "--dsn", target.admin_dsn, "show", real[:6])
    assert shown.code == 0, shown.text
    assert f"run_id        {real}" in shown.out
    assert "status        succeeded" in shown.out
    assert "file sha256" in shown.out
    audit = target.scalar("SELECT count(*) FROM seedc.audit WHERE run_id = %s", (real,))
    assert audit >= 2
    assert f"audit trail   {audit} event(s)" in shown.out
    trail = shown.out.split("audit trail")[1].splitlines()[1:]
    assert len(trail) == audit
    assert all(len(line) <= 100 for line in trail)
    assert trail[0].split()[1] == "start"
    assert trail[-1].split()[1:3] == ["succeeded", "-"]
    assert any("rls: " in line for line in trail)  # preflight rows show `check: detail`
    data = json.loads(target.cli_inprocess("runs", "--dsn", target.admin_dsn, "show", real,
                                           "--json").out)
    assert data["run_id"] == real
    assert len(data["audit"]) == audit
    assert data["evidence"]["file_sha256"] == target.scalar(
        "SELECT sha256 FROM seedc.evidence WHERE run_id = %s", (real,))
    assert "sha256" not in data["evidence"]
    as_role = target.cli_inprocess("runs", "--dsn", target.apply_dsn, "show", real[:8])
    assert as_role.code == 0, as_role.text
    assert "audit trail   not readable by role" in as_role.out
    assert json.loads(target.cli_inprocess("runs", "--dsn", target.apply_dsn, "show",
                                           real[:8], "--json").out)["audit"] is None


def test_runs_show_refuses_unknown_ambiguous_and_malformed_ids(
        target: Target, plan: dict[str, Any]) -> None:
    dry, real, _ = _runs_history(target, plan)
    missing = target.cli_inprocess("runs", "--dsn", target.admin_dsn, "show", "ffffffff-0")
    assert missing.code == 2
    assert "no run ffffffff-0" in missing.error
    twin = real[:9] + ("0000" if real[9:13] != "0000" else "1111") + real[13:]
    admin_execute(target.admin_dsn,
                  "INSERT INTO seedc.runs (run_id, plan_hash, tenant, tenant_id, environment, "
                  "mode, dry_run, status, finished_at) SELECT %s, plan_hash, tenant, tenant_id, "
                  "environment, mode, dry_run, 'failed', now() FROM seedc.runs WHERE run_id = %s",
                  (twin, real))
    before = target.scalar("SELECT count(*) FROM seedc.audit")
    amb = target.cli_inprocess("runs", "--dsn", target.admin_dsn, "show", real[:8])
    assert amb.code == 2
    assert f"run id prefix {real[:8]} is ambiguous: give more characters" in amb.error
    assert twin in amb.error
    assert real in amb.error
    assert dry not in amb.error
    assert amb.out == ""
    bad = target.cli_inprocess("runs", "--dsn", target.admin_dsn, "show", "%")
    assert bad.code == 2
    assert "is not a run id or a prefix of one" in bad.error
    assert target.scalar("SELECT count(*) FROM seedc.audit") == before


def test_runs_does_not_start_a_stopped_embedded_server(tmp_path: Path) -> None:
    """A project whose `.seedc/apply.dsn` points at a server that is not running: exit 3."""
    (tmp_path / "manifests").mkdir()
    (tmp_path / ".seedc").mkdir()
    (tmp_path / ".seedc" / "apply.dsn").write_text(
        "postgresql://seedc_apply@127.0.0.1:1/seedc_demo\n")
    result = run_cli_inprocess(["runs"], cwd=tmp_path)
    assert result.code == 3, result.text
    assert "the embedded server is stopped: `seedc demo` starts it" in result.error
    assert not (tmp_path / ".seedc" / "pgdata").exists()


def test_runs_help_has_examples() -> None:
    for args in (["runs", "--help"], ["runs", "show", "--help"]):
        out = CliRunner().invoke(cli, args).output
        assert "Examples:" in out
        assert "seedc runs" in out


# --- evidence verify: the URI runs prints, file:// and s3://, two digests named apart ---------


def _verify(target: Target, ref: str, *more: str,
            env: dict[str, str | None] | None = None) -> CliResult:
    return target.cli_inprocess("evidence", "verify", ref, *more, env=env)


def test_evidence_verify_takes_the_file_uri_runs_prints_and_a_path(
        target: Target, plan: dict[str, Any]) -> None:
    real = target.apply(plan)
    data = json.loads(target.cli_inprocess("runs", "--dsn", target.apply_dsn, "--json").out)
    uri = next(r["evidence_uri"] for r in data if r["run_id"] == real.run_id)
    file_sha = next(r["evidence_file_sha256"] for r in data if r["run_id"] == real.run_id)
    path = Path(uri.removeprefix("file://"))
    envelope = json.loads(path.read_bytes())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == file_sha  # independent oracle
    assert envelope["sha256"] != file_sha  # two digests, two labels
    for ref in (uri, str(path)):
        ok = _verify(target, ref)
        assert ok.code == 0, ok.text
        assert ok.out == (f"{ref}: valid (ed25519 signature, report sha256 "
                          f"{envelope['sha256']}, file sha256 {file_sha})\n")
    as_json = _verify(target, uri, "--json")
    assert as_json.code == 0, as_json.text
    assert json.loads(as_json.out) == {
        "evidence": uri, "valid": True, "run_id": real.run_id, "signature_alg": "ed25519",
        "report_sha256": envelope["sha256"], "file_sha256": file_sha, "problems": []}
    shown = target.cli_inprocess("runs", "--dsn", target.apply_dsn, "show", real.run_id[:8])
    assert f"file sha256   {file_sha}" in shown.out
    assert f"evidence_uri  {uri}" in shown.out


def test_evidence_verify_tampered_and_missing(target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    path = next((target.tmp / ".seedc" / "evidence").iterdir())
    data = bytearray(path.read_bytes())
    at = data.index(b'"rows_written":') + len(b'"rows_written":')
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    tampered = target.tmp / "tampered.json"
    tampered.write_bytes(bytes(data))
    bad = _verify(target, tampered.as_uri(), "--json")
    assert bad.code == 1, bad.text
    verdict = json.loads(bad.out)
    assert verdict["valid"] is False
    assert any("report sha256" in p for p in verdict["problems"])
    assert "does NOT verify" in bad.error
    missing = _verify(target, (target.tmp / "nope.json").as_uri())
    assert missing.code == 2
    assert "cannot read the evidence file" in missing.error
    assert missing.out == ""


def test_evidence_verify_reads_s3_uris(target: Target, plan: dict[str, Any],
                                       moto_s3: MotoServer) -> None:
    client = moto_s3.s3_client()
    client.create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    store = S3WormStore("evidence", "runs", environment="homolog", client=client)
    sink = EvidenceSink(store, LocalDevSigner.from_env_file(target.env_file, create=True))
    report = target.apply(plan, ApplyOptions(evidence=lambda: sink))
    uri = target.scalar("SELECT uri FROM seedc.evidence WHERE run_id = %s", (report.run_id,))
    assert uri.startswith("s3://evidence/runs/")
    listed = target.cli_inprocess("runs", "--dsn", target.apply_dsn)
    assert uri in listed.out
    env: dict[str, str | None] = {
        "AWS_ENDPOINT_URL": moto_s3.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1"}
    body = client.get_object(Bucket="evidence", Key=uri.split("/", 3)[3])["Body"].read()
    ok = _verify(target, uri, "--json", env=env)
    assert ok.code == 0, ok.text
    verdict = json.loads(ok.out)
    assert verdict["valid"] is True
    assert verdict["file_sha256"] == hashlib.sha256(body).hexdigest()
    assert verdict["file_sha256"] == target.scalar(
        "SELECT sha256 FROM seedc.evidence WHERE run_id = %s", (report.run_id,))
    text = _verify(target, uri, env=env)
    assert text.code == 0, text.text
    assert text.out.startswith(f"{uri}: valid (ed25519 signature, report sha256 ")
    gone = _verify(target, "s3://evidence/runs/absent.json", env=env)
    assert gone.code == 2
    assert "no such evidence object (NoSuchKey)" in gone.error


def test_evidence_verify_help_has_examples() -> None:
    out = CliRunner().invoke(cli, ["evidence", "verify", "--help"]).output
    assert "Examples:" in out
    assert "seedc evidence verify s3://" in out
    assert "file sha256" in out


# --- NOOP evidence: only where the audit trail needs every run (homolog, prod) ----------------


def test_a_dev_noop_writes_no_new_evidence(target: Target, plan: dict[str, Any]) -> None:
    first = target.apply(plan)
    folder = target.tmp / ".seedc" / "evidence"
    files = sorted(folder.iterdir())
    assert len(files) == 1
    again = target.apply(plan)
    assert again.status == "noop"
    assert sorted(folder.iterdir()) == files
    assert target.scalar("SELECT count(*) FROM seedc.evidence") == 1
    data = json.loads(target.cli_inprocess("runs", "--dsn", target.apply_dsn, "--json").out)
    assert [(r["run_id"], r["status"], r["evidence_uri"] is None) for r in data] == [
        (again.run_id, "noop", True), (first.run_id, "succeeded", False)]


@pytest.mark.parametrize(("environment", "written"), [
    ("dev", False), ("ci", False), ("staging", False), ("homolog", True), ("prod", True)])
def test_noop_evidence_by_environment(tmp_path: Path, plan: dict[str, Any], environment: str,
                                      written: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The publishing step itself (no database: conn None), on a NOOP report per environment."""
    from seedc.runtime import apply as runtime_apply
    from seedc.runtime.evidence import LocalFolderStore

    monkeypatch.delenv("CI", raising=False)
    store = LocalFolderStore(tmp_path / "evidence")
    sink = EvidenceSink(store, LocalDevSigner.from_env_file(tmp_path / ".env.local",
                                                            create=True))
    report = runtime_apply.RunReport("00000000-0000-4000-8000-000000000001",
                                     plan["plan_hash"], "acme", environment, "baseline", False,
                                     status="noop", evidence=sink)
    runtime_apply._publish({**plan, "environment": environment}, ApplyOptions(), report, None,
                           0.0)
    assert (sink.published is not None) is written
    assert len(store.files()) == (1 if written else 0)


def test_keys_status_json_with_vault(bao: BaoDevServer, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services import put_key

    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    monkeypatch.delenv("CI", raising=False)
    put_key(bao.client(), "seedc/ci/acme/fpe", secrets.token_bytes(32))
    code, out, err = _keys([str(CI_PLAN), "--json"])
    assert code == 0, err
    assert json.loads(out) == {
        "source": "vault", "ref": "seedc/ci/acme/fpe", "plan_version": 1, "key_version": 1,
        "vault_version": 1, "state": "ok", "message": "key seedc/ci/acme/fpe is at version 1"}
    put_key(bao.client(), "seedc/ci/acme/fpe", secrets.token_bytes(32))
    code, out, err = _keys([str(CI_PLAN), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "rotated"
    assert "seedc reset PLAN --yes" in err
    bao.stop()
    code, out, err = _keys([str(CI_PLAN), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "refused"
    assert "Vault" in json.loads(out)["message"]


# --- the first hour, end to end on the embedded server ----------------------------------------


def test_first_hour_on_the_embedded_server(tmp_path: Path) -> None:
    """`seedc demo`, `seedc runs`, `runs show` with the audit trail, verify the URI, stop, and
    `seedc runs` then says the server is stopped instead of starting it."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "VAULT_", "CI"))}
    env["PYTHONPATH"] = str(REPO)

    def seedc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "seedc.cli", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=240,
                              check=False)

    try:
        demo = seedc("demo")
        assert demo.returncode == 0, demo.stderr[-2000:]
        runs = seedc("runs", "--json")
        assert runs.returncode == 0, runs.stderr[-2000:]
        [run] = json.loads(runs.stdout)
        shown = seedc("runs", "show", run["run_id"][:8])
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert "audit trail   " in shown.stdout
        assert "not readable" not in shown.stdout
        assert "succeeded" in shown.stdout.split("audit trail")[1]
        verify = seedc("evidence", "verify", run["evidence_uri"])
        assert verify.returncode == 0, verify.stderr[-2000:]
        assert f"file sha256 {run['evidence_file_sha256']}" in verify.stdout
    finally:
        stop = seedc("demo", "--stop")
    assert stop.returncode == 0, stop.stderr[-2000:]
    stopped = seedc("runs")
    assert stopped.returncode == 3, stopped.stdout + stopped.stderr[-2000:]
    assert "the embedded server is stopped: `seedc demo` starts it" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    pid = tmp_path / ".seedc" / "pg" / "postmaster.pid"
    assert not pid.exists(), "seedc runs started the embedded server"
