"""Issue 15, section 1: outside isolated dev only a pipeline identity may run (spec session 5).

Real PostgreSQL and OpenBao: AppRole is a real login; Kubernetes auth is real too, with only
the Kubernetes TokenReview API stubbed (as in tests/test_vault.py). Each refusal: exit 3, the
message, the audit row, zero rows of the tenant.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import hvac
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from seedc.compiler.pipeline import compile_manifest
from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.access import ACCESS_RULE, require_pipeline_identity
from seedc.runtime.apply import ApplyOptions, apply_plan
from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
from seedc.runtime.keys import LocalDevKeyProvider
from seedc.runtime.keys.vault import AppRoleLogin, KubernetesLogin, VaultKeyProvider
from seedc.runtime.reset import reset_tenant
from tests.runtime_support import run_cli, write_dev_key, write_plan
from tests.services import BaoDevServer, approle_login, put_key
from tests.test_keys_apply import KEY, control_text, tenant_rows
from tests.test_vault import _jwt, self_signed_pem, token_review_api

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO / "manifests" / "schema"
_COMPILED: dict[str, dict[str, Any]] = {}


def role_of(dsn: str) -> str:
    return str(conninfo_to_dict(dsn)["user"])


@pytest.fixture
def plan(apply_role_dsn: str) -> dict[str, Any]:
    """The committed CI manifest's plan, its pipeline role set to this test's apply role."""
    if "ci" not in _COMPILED:
        _COMPILED["ci"] = compile_manifest(REPO / "manifests" / "ci" / "acme.yaml")
    out = copy.deepcopy(_COMPILED["ci"])
    assert out["guards"]["pipeline_role"] == "seedc_apply"  # the demo's apply role
    out["guards"]["pipeline_role"] = role_of(apply_role_dsn)
    return out


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str) -> tuple[str, str]:
    with psycopg.connect(pg_db, autocommit=True) as conn:
        install_app_schema(conn, SCHEMA_DIR)
        install_control(conn)
        grant_apply_role(conn, role_of(apply_role_dsn))
    return pg_db, apply_role_dsn


@pytest.fixture
def root(bao: BaoDevServer, plan: dict[str, Any]) -> hvac.Client:
    """The dev server's root client, with the plan's key in place."""
    client = bao.client()
    put_key(client, plan["keys"]["ref"], KEY)
    return client


def approle_keys(bao: BaoDevServer, root: hvac.Client) -> VaultKeyProvider:
    role_id, secret_id = approle_login(root)
    return VaultKeyProvider(bao.client(), login=AppRoleLogin(role_id, secret_id))


def access_audit(admin: str, plan: dict[str, Any]) -> list[tuple[bool, str]]:
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT (detail->>'ok')::boolean, detail->>'detail' FROM seedc.audit WHERE "
            "tenant = %s AND event = 'preflight' AND detail->>'check' = 'access' ORDER BY id",
            (plan["tenant"],)).fetchall()
    return [(bool(r[0]), str(r[1])) for r in rows]


def refused(target: tuple[str, str], plan: dict[str, Any], keys: Any, expected: str,
            dry_run: bool = False) -> GuardRefused:
    """Apply is refused by the access check: exit 3, the message, audited, zero rows."""
    admin, apply_dsn = target
    with pytest.raises(GuardRefused) as info:
        apply_plan(plan, apply_dsn, keys, ApplyOptions(dry_run=dry_run))
    exc = info.value
    assert exc.exit_code == ExitCode.REFUSED
    access = [d for d in exc.details if d.startswith("access: ")]
    assert len(access) == 1, exc.details
    assert expected in access[0], exc.details
    assert "access.pipeline-identity" in access[0]
    assert set(tenant_rows(admin, plan).values()) == {0}
    assert access_audit(admin, plan) == [(False, access_audit(admin, plan)[0][1])]
    assert expected in access_audit(admin, plan)[0][1]
    assert exc.report.status == "refused"  # type: ignore[attr-defined]
    return exc


# --- accepted: machine logins ----------------------------------------------------------------


def test_approle_pipeline_applies(target: tuple[str, str], plan: dict[str, Any],
                                  bao: BaoDevServer, root: hvac.Client) -> None:
    admin, apply_dsn = target
    report = apply_plan(plan, apply_dsn, approle_keys(bao, root), ApplyOptions(dry_run=True))
    assert report.status == "succeeded"
    check = next(c for c in report.checks if c.name == "access")
    assert check.ok
    assert check.detail == (f"pipeline identity: Vault approle seedc-pipeline, database role "
                            f"{role_of(apply_dsn)}")
    assert access_audit(admin, plan) == [(True, check.detail)]
    assert set(tenant_rows(admin, plan).values()) == {0}  # dry run


def test_kubernetes_pipeline_applies(target: tuple[str, str], plan: dict[str, Any],
                                     bao: BaoDevServer, root: hvac.Client,
                                     tmp_path: Path) -> None:
    admin, apply_dsn = target
    jwt = _jwt({"iss": "kubernetes/serviceaccount",
                "kubernetes.io/serviceaccount/namespace": "seedc-ci",
                "kubernetes.io/serviceaccount/service-account.name": "seedc",
                "kubernetes.io/serviceaccount/service-account.uid":
                    "0b6a9a4e-3f6e-4b1f-9d55-6c1d3c2f7a10",
                "sub": "system:serviceaccount:seedc-ci:seedc"})
    token_file = tmp_path / "sa-token"
    token_file.write_text(jwt)
    approle_login(root)  # creates the least-privilege policy `seedc-pipeline`
    with token_review_api(jwt) as api:
        root.sys.enable_auth_method("kubernetes", path="k8s-ci")
        root.adapter.post("/v1/auth/k8s-ci/config", json={
            "kubernetes_host": api, "disable_local_ca_jwt": True,
            "kubernetes_ca_cert": self_signed_pem(), "token_reviewer_jwt": _jwt({"sub": "r"})})
        root.adapter.post("/v1/auth/k8s-ci/role/seedc", json={
            "bound_service_account_names": ["seedc"],
            "bound_service_account_namespaces": ["seedc-ci"],
            "token_policies": ["seedc-pipeline"], "token_ttl": "2m"})
        keys = VaultKeyProvider(bao.client(), login=KubernetesLogin(
            "seedc", token_path=token_file, mount="k8s-ci"))
        report = apply_plan(plan, apply_dsn, keys, ApplyOptions(dry_run=True))
    assert report.status == "succeeded"
    assert (True, f"pipeline identity: Vault kubernetes seedc-ci/seedc, database role "
                  f"{role_of(apply_dsn)}") in access_audit(admin, plan)


def test_isolated_dev_is_exempt(apply_role_dsn: str, pg_db: str) -> None:
    dev = compile_manifest(REPO / "manifests" / "dev" / "acme.yaml")
    with psycopg.connect(apply_role_dsn, autocommit=True) as conn:
        identity = require_pipeline_identity(conn, dev, None)
    assert identity.method == "isolated-dev"


# --- refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run"])
def test_root_dev_token_is_refused(target: tuple[str, str], plan: dict[str, Any],
                                   bao: BaoDevServer, root: hvac.Client, dry_run: bool) -> None:
    exc = refused(target, plan, VaultKeyProvider(bao.client()),
                  "the Vault token comes from a root/dev or hand-made token (auth/token), not "
                  "a machine login", dry_run=dry_run)
    assert bao.token not in exc.render()
    assert bao.token not in control_text(target[0], plan)


def test_userpass_token_is_refused(target: tuple[str, str], plan: dict[str, Any],
                                   bao: BaoDevServer, root: hvac.Client) -> None:
    approle_login(root)  # the policy: a human with the pipeline's rights is still a human
    root.sys.enable_auth_method("userpass")
    root.auth.userpass.create_or_update_user("alice", "s3cret-pass",
                                             policies=["seedc-pipeline"])
    client = bao.client()
    client.auth.userpass.login("alice", "s3cret-pass")
    exc = refused(target, plan, VaultKeyProvider(client),
                  "the Vault token comes from auth method 'userpass', not a machine login")
    recorded = control_text(target[0], plan)
    for secret in ("alice", "s3cret-pass", str(client.token)):
        assert secret not in exc.render()
        assert secret not in recorded


def test_another_database_role_is_refused(target: tuple[str, str], plan: dict[str, Any],
                                          bao: BaoDevServer, root: hvac.Client) -> None:
    plan["guards"]["pipeline_role"] = "seedc_apply"
    refused(target, plan, approle_keys(bao, root),
            f"database role {role_of(target[1])!r} is not the pipeline role 'seedc_apply'")


def test_a_plan_without_a_pipeline_role_is_refused(target: tuple[str, str],
                                                    plan: dict[str, Any], bao: BaoDevServer,
                                                    root: hvac.Client) -> None:
    del plan["guards"]["pipeline_role"]
    refused(target, plan, approle_keys(bao, root),
            "the plan declares no pipeline role and environment 'ci' is not isolated dev")


def test_no_vault_is_refused(target: tuple[str, str], plan: dict[str, Any],
                             tmp_path: Path) -> None:
    keys = LocalDevKeyProvider(write_dev_key(tmp_path / ".env.local"))
    refused(target, plan, keys, "environment 'ci' needs a pipeline identity: a Vault AppRole "
                                "or Kubernetes login")


def test_reset_needs_the_pipeline_identity(target: tuple[str, str], plan: dict[str, Any],
                                           bao: BaoDevServer, root: hvac.Client,
                                           tmp_path: Path) -> None:
    admin, apply_dsn = target
    pipeline = approle_keys(bao, root)
    store_dir = tmp_path / "evidence"
    from seedc.runtime.apply import EvidenceSink
    from seedc.runtime.evidence import LocalFolderStore, VaultTransitSigner, transit_key_name

    root.sys.enable_secrets_engine("transit")
    root.secrets.transit.create_key(transit_key_name("ci"), key_type="ed25519")
    sink = EvidenceSink(LocalFolderStore(store_dir), VaultTransitSigner(root,
                                                                        transit_key_name("ci")))
    apply_plan(plan, apply_dsn, pipeline, ApplyOptions(evidence=lambda: sink))
    seeded = tenant_rows(admin, plan)
    assert sum(seeded.values()) == plan["estimate"]["rows"]
    from seedc.runtime.lease import LeaseSettings

    with pytest.raises(GuardRefused) as info:
        reset_tenant(plan, apply_dsn, LeaseSettings(lease_wait_s=5), VaultKeyProvider(
            bao.client()))
    assert info.value.exit_code == ExitCode.REFUSED
    assert "not a machine login" in info.value.message
    assert info.value.rule == ACCESS_RULE
    assert tenant_rows(admin, plan) == seeded  # nothing deleted
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT rule, detail->>'message' FROM seedc.audit WHERE tenant = %s "
                           "AND event = 'reset.refused'", (plan["tenant"],)).fetchone()
    assert row is not None
    assert row[0] == ACCESS_RULE
    assert "not a machine login" in row[1]
    reset_tenant(plan, apply_dsn, LeaseSettings(lease_wait_s=5), pipeline)
    assert set(tenant_rows(admin, plan).values()) == {0}


def test_cli_refuses_a_root_token_with_exit_3(target: tuple[str, str], bao: BaoDevServer,
                                              tmp_path: Path, apply_role_dsn: str) -> None:
    """The command line, end to end: a CI plan compiled for this role, a root token."""
    (tmp_path / "ci").mkdir()
    shutil.copytree(REPO / "manifests" / "models", tmp_path / "models")
    manifest = (REPO / "manifests" / "ci" / "acme.yaml").read_text(encoding="utf-8")
    (tmp_path / "ci" / "acme.yaml").write_text(manifest.replace(
        "pipeline_role: seedc_apply", f"pipeline_role: {role_of(apply_role_dsn)}"))
    plan = compile_manifest(tmp_path / "ci" / "acme.yaml")
    path = write_plan(plan, tmp_path / "ci.plan.json")
    put_key(bao.client(), plan["keys"]["ref"], KEY)
    result = run_cli(["apply", str(path), "--dry-run", "--dsn", apply_role_dsn], tmp_path,
                     env={"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, "CI": None})
    assert result.code == 3, result.text
    assert "access: the Vault token comes from a root/dev or hand-made token" in result.error
    assert bao.token not in result.text
    assert set(tenant_rows(target[0], plan).values()) == {0}
    assert access_audit(target[0], plan)[0][0] is False


def test_a_malformed_pipeline_role_is_invalid_input(tmp_path: Path) -> None:
    """The role is an identifier the manifest's schema checks at compile time (exit 2)."""
    from seedc.errors import InvalidInput

    (tmp_path / "ci").mkdir()
    shutil.copytree(REPO / "manifests" / "models", tmp_path / "models")
    manifest = (REPO / "manifests" / "ci" / "acme.yaml").read_text(encoding="utf-8")
    (tmp_path / "ci" / "acme.yaml").write_text(manifest.replace(
        "pipeline_role: seedc_apply", 'pipeline_role: "x; DROP ROLE y"'))
    with pytest.raises(InvalidInput) as info:
        compile_manifest(tmp_path / "ci" / "acme.yaml")
    assert info.value.exit_code == ExitCode.INVALID_INPUT
    assert "pipeline_role" in info.value.render()
