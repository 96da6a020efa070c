"""Issue 16: `seedc model init` on schemas this project did not write — the tables Django's
own migrations create for its contrib apps, and those of django-taggit, a popular third-party
app (tests/fixtures/schemas/README.md), each made multi-tenant by a small fixture script —
drafts a model whose plan applies with the real runtime (integer identity keys, FK-only
UNIQUEs, global UNIQUEs, CHECKs, forced RLS), with no hand edit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from seedc.compiler.pipeline import compile_manifest
from seedc.runtime.install import grant_apply_role, install_control
from tests.runtime_support import (
    Target,
    planned_counts,
    role_of,
    run_cli_inprocess,
    tenant_counts,
    write_dev_key,
)

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"
FIXTURE = SCHEMAS / "django_contrib"


def _migrated(pg_db: str, apply_role_dsn: str, tmp_path: Path, settings_dir: Path) -> Target:
    """A database whose `app` schema holds a Django project's tables, with tenancy and RLS."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
    env = {**os.environ, "SEEDC_DJANGO_DSN": pg_db, "PYTHONPATH": str(settings_dir),
           "DJANGO_SETTINGS_MODULE": "settings"}
    migrate = subprocess.run([sys.executable, "-m", "django", "migrate", "--no-input", "-v", "0"],
                             env=env, capture_output=True, text=True, timeout=120, check=False)
    assert migrate.returncode == 0, migrate.stderr
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute((FIXTURE / "add_tenancy.sql").read_bytes())
        install_control(conn)
        grant_apply_role(conn, role_of(apply_role_dsn))
    work = tmp_path / "work"
    work.mkdir()
    return Target(pg_db, apply_role_dsn, work, write_dev_key(work / ".env.local"))


@pytest.fixture
def django_target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    return _migrated(pg_db, apply_role_dsn, tmp_path, FIXTURE)


@pytest.fixture
def taggit_target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    return _migrated(pg_db, apply_role_dsn, tmp_path, SCHEMAS / "django_taggit")


def test_django_contrib_schema_round_trip(django_target: Target) -> None:
    target = django_target
    model_path = target.tmp / "models" / "django.yaml"
    manifest_path = target.tmp / "dev" / "acme.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o",
                                str(model_path), "--manifest", str(manifest_path)], target.tmp)
    assert result.code == 0, result.text
    text = model_path.read_text(encoding="utf-8")
    entities = yaml.safe_load(text)["entities"]
    assert {"auth_user", "auth_group", "auth_permission", "django_content_type",
            "django_admin_log", "auth_user_groups", "auth_group_permissions"} <= set(entities)
    # integer identity keys are hashed from the logical key, never the database's sequence
    assert entities["auth_user"]["columns"]["id"]["expr"] == "key_int(31)"
    assert entities["auth_user_groups"]["columns"]["id"]["expr"] == "key_int(63)"
    assert entities["auth_permission"]["columns"]["content_type_id"]["expr"] == "parent.id"
    assert "skipped app.django_session: no id column" in text
    assert "is made of foreign keys only" in text

    plan = compile_manifest(manifest_path)
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    assert tenant_counts(target.admin_dsn, plan) == planned_counts(plan)
    check = run_cli_inprocess(["model", "check", str(model_path), "--dsn", target.admin_dsn],
                              target.tmp)
    # the one table seedc cannot key (no id column) is the only difference model check reports
    assert check.code == 1, check.text
    assert "1 difference(s)" in check.out
    assert "[extra_table] app.django_session: a tenant-scoped table the model does not seed" \
        in check.out


def test_django_taggit_schema_round_trip(taggit_target: Target) -> None:
    """A third-party app's schema: global UNIQUE name and slug, a generic foreign key
    (content_type_id, object_id) and a UNIQUE over it; drafted, compiled, applied as the
    least-privilege role, and in step with the database afterwards."""
    target = taggit_target
    model_path = target.tmp / "models" / "taggit.yaml"
    manifest_path = target.tmp / "dev" / "acme.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o",
                                str(model_path), "--manifest", str(manifest_path)], target.tmp)
    assert result.code == 0, result.text
    entities = yaml.safe_load(model_path.read_text(encoding="utf-8"))["entities"]
    assert {"taggit_tag", "taggit_taggeditem", "django_content_type"} <= set(entities)
    plan = compile_manifest(manifest_path)
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    assert tenant_counts(target.admin_dsn, plan) == planned_counts(plan)
    assert all(n > 0 for n in planned_counts(plan).values())
    check = run_cli_inprocess(["model", "check", str(model_path), "--dsn", target.admin_dsn],
                              target.tmp)
    assert check.code == 0, check.text
