"""Issue 15: the committed CI plan dry-runs against the demo database with an AppRole login.

The demo's apply role (`seedc_apply`) is the pipeline role of the example manifests. In a copy
of the project, `seedc demo` starts its embedded PostgreSQL; then `seedc apply
plans/ci/acme.plan.json --dry-run` — the committed plan, unchanged — passes with a real AppRole
login on OpenBao and is refused (exit 3, audited, nothing written) with the dev root token.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.manifests import REPO
from tests.services import BaoDevServer, approle_login, put_key
from tests.test_demo import SEEDC, TIMEOUT, _postgres_pids, _seedc


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    shutil.copytree(REPO / "plans", tmp_path / "plans")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    yield tmp_path
    if _postgres_pids(tmp_path / ".seedc" / "pg"):
        _seedc(tmp_path, "demo", "--stop")


def test_committed_ci_plan_dry_runs_on_the_demo_with_approle(
        project: Path, bao: BaoDevServer) -> None:
    demo = _seedc(project, "demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    root = bao.client()
    put_key(root, "seedc/ci/acme/fpe", bytes(range(32)))
    role_id, secret_id = approle_login(root)
    plan = "plans/ci/acme.plan.json"

    human = _seedc_with(project, {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token},
                        "apply", plan, "--dry-run")
    assert human.returncode == 3, human.stdout + human.stderr[-3000:]
    assert "access: the Vault token comes from a root/dev or hand-made token" in human.stderr
    assert bao.token not in human.stdout + human.stderr

    pipeline = _seedc_with(project, {"VAULT_ADDR": bao.addr, "VAULT_ROLE_ID": role_id,
                                     "VAULT_SECRET_ID": secret_id},
                           "apply", plan, "--dry-run")
    assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr[-3000:]
    assert "dry run: would write" in pipeline.stdout

    apply_dsn = (project / ".seedc" / "apply.dsn").read_text().strip()
    admin = make_conninfo(apply_dsn, user="postgres",  # the audit is not the apply role's to read
                          password=(project / ".seedc" / "pg.password").read_text().strip())
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT (detail->>'ok')::boolean, detail->>'detail' FROM seedc.audit WHERE "
            "environment = 'ci' AND event = 'preflight' AND detail->>'check' = 'access' "
            "ORDER BY id").fetchall()
        runs = conn.execute("SELECT status FROM seedc.runs WHERE environment = 'ci' "
                            "ORDER BY started_at").fetchall()
    assert [r[0] for r in rows] == [False, True]
    assert rows[1][1] == ("pipeline identity: Vault approle seedc-pipeline, database role "
                          "seedc_apply")
    assert [r[0] for r in runs] == ["refused", "succeeded"]


def _seedc_with(cwd: Path, extra: dict[str, str], *args: str
                ) -> subprocess.CompletedProcess[str]:
    """`seedc ARGS` as tests/test_demo.py runs it (no caller Vault/libpq/CI variables), plus
    the test's own `extra` environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "PG")) and k not in ("CI", "SEEDC_TEST_DSN")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return subprocess.run([str(SEEDC), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)
