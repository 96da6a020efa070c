"""End to end: `apply_plan` with the Vault key provider on real PostgreSQL and OpenBao.

The CI manifest (`manifests/ci/acme.yaml`, environment ci) takes its key from Vault, which seedc
reaches through a real AppRole login: the pipeline identity issue 15 requires. With the
key in place the plan is applied; with the key missing, at another version, unreadable by the
token, or Vault gone, the run is refused (exit 3) and not one row of the tenant exists, while
the audit trail says why, without the token or the key (seeds sessions 1, 3, 6).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import hvac
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from seedc.compiler.pipeline import compile_manifest
from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.apply import ApplyOptions, EvidenceSink, RunReport, apply_plan
from seedc.runtime.evidence import (
    LocalFolderStore,
    VaultTransitSigner,
    transit_key_name,
    verify_envelope,
)
from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
from seedc.runtime.keys.vault import AppRoleLogin, VaultKeyProvider
from tests.services import BaoDevServer, approle_login, put_key

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "manifests" / "ci" / "acme.yaml"
SCHEMA_DIR = REPO / "manifests" / "schema"
KEY = bytes(range(100, 132))  # fixed: the secret forms below are checked in every refusal
_COMPILED: dict[str, dict[str, Any]] = {}


@pytest.fixture
def plan(apply_role_dsn: str) -> dict[str, Any]:
    """The CI plan, compiled once per session (~0.15 s), a fresh copy per test; its pipeline
    role is the test's apply role (the demo's `seedc_apply` in the committed plan)."""
    if "ci" not in _COMPILED:
        _COMPILED["ci"] = compile_manifest(MANIFEST)
    out = copy.deepcopy(_COMPILED["ci"])
    out["guards"]["pipeline_role"] = conninfo_to_dict(apply_role_dsn)["user"]
    return out


def pipeline_keys(bao: BaoDevServer) -> VaultKeyProvider:
    """The key provider a pipeline uses: a real AppRole login on the dev server."""
    role_id, secret_id = approle_login(bao.client())
    return VaultKeyProvider(bao.client(), login=AppRoleLogin(role_id, secret_id))


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str) -> tuple[str, str]:
    """(superuser DSN, apply-role DSN) of a database prepared as `seedc demo` does."""
    role = conninfo_to_dict(apply_role_dsn)["user"]
    assert role
    with psycopg.connect(pg_db, autocommit=True) as conn:
        install_app_schema(conn, SCHEMA_DIR)
        install_control(conn)
        grant_apply_role(conn, str(role))
    return pg_db, apply_role_dsn


def tenant_rows(admin_dsn: str, plan: dict[str, Any]) -> dict[str, int]:
    """The tenant's rows per target table, counted as superuser (RLS does not hide any)."""
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for entity in plan["entities"]:
            schema, _, table = entity["table"].partition(".")
            column = "id" if entity["table"] == "app.tenants" else "tenant_id"
            row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                sql.Identifier(schema, table), sql.Identifier(column)),
                (plan["tenant_id"],)).fetchone()
            assert row is not None
            out[entity["table"]] = int(row[0])
    return out


def control_text(admin_dsn: str, plan: dict[str, Any]) -> str:
    """Everything seedc recorded about the tenant's runs (audit and run rows), as text."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        audit = conn.execute("SELECT coalesce(string_agg(a::text, E'\\n'), '') FROM seedc.audit a "
                             "WHERE tenant = %s", (plan["tenant"],)).fetchone()
        runs = conn.execute("SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM seedc.runs r "
                            "WHERE tenant = %s", (plan["tenant"],)).fetchone()
    assert audit is not None
    assert runs is not None
    return f"{audit[0]}\n{runs[0]}"


def hidden(*tokens: str) -> list[str]:
    return [*tokens, KEY.hex(), KEY.hex().upper(), base64.b64encode(KEY).decode(),
            base64.urlsafe_b64encode(KEY).decode()]


def refused_with_zero_rows(target: tuple[str, str], plan: dict[str, Any],
                           provider: VaultKeyProvider, expected: str,
                           secrets: list[str]) -> GuardRefused:
    admin, apply_dsn = target
    with pytest.raises(GuardRefused) as info:
        apply_plan(plan, apply_dsn, provider)
    exc = info.value
    assert exc.exit_code == ExitCode.REFUSED
    assert any(d.startswith("key: ") and expected in d for d in exc.details), exc.details
    assert set(tenant_rows(admin, plan).values()) == {0}
    report: RunReport = exc.report  # type: ignore[attr-defined]
    assert report.status == "refused"
    assert report.rows_written == 0
    assert report.key_source == ""
    recorded = control_text(admin, plan)
    assert expected in recorded  # the audit says why
    for text in (exc.render(), repr(exc), str(report.as_json()), recorded):
        for secret in secrets:
            assert secret not in text
    return exc


def test_ci_plan_takes_its_key_from_vault(plan: dict[str, Any]) -> None:
    assert plan["environment"] == "ci"
    assert plan["keys"]["ref"] == "seedc/ci/acme/fpe"
    assert plan["keys"]["salt_version"] == 1


def test_apply_with_the_key_in_vault_writes_the_planned_rows(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer,
        tmp_path: Path) -> None:
    """The ci plan: FPE key from KV, evidence signed by the environment's Transit key."""
    admin, apply_dsn = target
    assert put_key(bao.client(), plan["keys"]["ref"], KEY) == 1
    client = bao.client()
    client.sys.enable_secrets_engine("transit")
    client.secrets.transit.create_key(transit_key_name("ci"), key_type="ed25519")
    store = LocalFolderStore(tmp_path / "evidence")
    evidence = EvidenceSink(store, VaultTransitSigner(client, transit_key_name("ci")))
    report = apply_plan(plan, apply_dsn, pipeline_keys(bao),
                        ApplyOptions(evidence=lambda: evidence))
    assert report.status == "succeeded"
    assert evidence.published is not None
    assert verify_envelope(store.files()[-1].read_bytes(), evidence.signer) == []
    assert report.key_source == f"vault:{plan['keys']['ref']}@v1"
    assert tenant_rows(admin, plan) == {e["table"]: int(e["rows"]) for e in plan["entities"]}
    assert report.rows_written == plan["estimate"]["rows"]
    for text in (str(report.as_json()), control_text(admin, plan)):
        for secret in hidden(bao.token):
            assert secret not in text


def test_key_missing_refuses_with_zero_rows(target: tuple[str, str], plan: dict[str, Any],
                                            bao: BaoDevServer) -> None:
    put_key(bao.client(), "seedc/ci/globex/fpe", KEY)  # another tenant's key
    refused_with_zero_rows(target, plan, pipeline_keys(bao),
                           f"key missing at {plan['keys']['ref']}", hidden(bao.token))


def test_version_mismatch_refuses_with_zero_rows(target: tuple[str, str], plan: dict[str, Any],
                                                 bao: BaoDevServer) -> None:
    client = bao.client()
    put_key(client, plan["keys"]["ref"], bytes(32))
    assert put_key(client, plan["keys"]["ref"], KEY) == 2  # rotated; the plan still says 1
    refused_with_zero_rows(target, plan, pipeline_keys(bao),
                           "the plan needs salt_version 1, Vault's current version is 2",
                           hidden(bao.token))


def test_token_denied_refuses_with_zero_rows(target: tuple[str, str], plan: dict[str, Any],
                                             bao: BaoDevServer) -> None:
    root = bao.client()
    put_key(root, plan["keys"]["ref"], KEY)
    root.sys.create_or_update_policy(name="globex-only", policy=(
        'path "secret/data/seedc/ci/globex/fpe" { capabilities = ["read"] }\n'
        'path "secret/metadata/seedc/ci/globex/fpe" { capabilities = ["read"] }\n'))
    token = root.auth.token.create(policies=["globex-only"], ttl="5m")["auth"]["client_token"]
    client: hvac.Client = bao.client()
    client.token = token
    refused_with_zero_rows(target, plan, VaultKeyProvider(client),
                           f"Vault denied access to {plan['keys']['ref']}",
                           hidden(bao.token, token))


def test_vault_stopped_before_apply_refuses_with_zero_rows(
        target: tuple[str, str], plan: dict[str, Any], bao: BaoDevServer) -> None:
    put_key(bao.client(), plan["keys"]["ref"], KEY)
    provider = pipeline_keys(bao)
    assert provider.status(plan).state == "ok"
    addr = bao.addr
    bao.stop()
    refused_with_zero_rows(target, plan, provider, f"Vault unreachable at {addr}",
                           hidden(bao.token))
