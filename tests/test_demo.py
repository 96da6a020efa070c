"""`seedc demo` as a user runs it: a subprocess in a copy of the project, its own server.

README step 1: `seedc demo` starts a private PostgreSQL under `.seedc/`, installs the demo
schema, the control schema and the apply role, creates a dev key in `.env.local`, compiles
manifests/dev/acme.yaml and applies it; a second run finds nothing to do; `seedc demo --stop`
stops the server it started. The embedded server is used on purpose even when
`$SEEDC_TEST_DSN` is set: with `--dsn` the demo creates the cluster-wide `seedc_demo`
database and `seedc_apply` role, which tests sharing one server must not fight over.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from seedc.devtools.demo import DemoResult, next_steps, shown_path
from tests.manifests import REPO

TIMEOUT = 240.0
SEEDC = Path(sys.executable).with_name("seedc")


def _seedc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "PG")) and k not in ("CI", "SEEDC_TEST_DSN")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([str(SEEDC), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)


def _postgres_pids(data_dir: Path) -> list[int]:
    """Processes whose command line names this data directory (read from /proc, not seedc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and b"postgres" in cmdline[0] and str(data_dir).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the project (manifests/ and pyproject.toml, what marks its root) in a temp
    dir; whatever server the test left running is stopped."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    yield tmp_path
    if _postgres_pids(tmp_path / ".seedc" / "pg"):
        _seedc(tmp_path, "demo", "--stop")


def test_demo_applies_then_noop_then_stop(project: Path) -> None:
    first = _seedc(project, "demo")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    out = first.stdout.splitlines()
    assert out[0] == "plan: .seedc/demo.plan.json"  # as the next steps name it
    assert out[1] == "SUCCEEDED: wrote 618 rows"  # 618 = the example plan's rows (README)
    assert "batches: 15 written, 0 already checkpointed, 0 retries" in first.stdout
    assert "tenant acme  environment dev  mode baseline" in first.stdout
    assert "next steps:" in first.stdout  # issue 11: the demo says what to try next
    preflight = next(line for line in out if line.startswith("preflight: "))
    guide = (REPO / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert f"\n{preflight}\n" in guide, "docs/getting-started.md shows another preflight line"
    assert "seedc show .seedc/demo.plan.json" in first.stdout
    for secret in ("apply.password", "pg.password"):
        assert (project / ".seedc" / secret).read_text().strip() not in first.stdout

    data_dir = project / ".seedc" / "pg"
    pids = _postgres_pids(data_dir)
    assert pids, "the demo's PostgreSQL is not running"
    env_file = project / ".env.local"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "SEEDC_DEV_FPE_KEY=" in env_file.read_text()
    assert list((project / ".seedc" / "evidence").iterdir()), "no evidence report written"

    apply_dsn = (project / ".seedc" / "apply.dsn").read_text().strip()
    drift = _seedc(project, "diff", ".seedc/demo.plan.json", "--dsn", apply_dsn)
    assert drift.returncode == 0, drift.stdout + drift.stderr[-2000:]

    # again, from a subdirectory: the same project state, so nothing to do; the plan is not
    # under the working directory, so the plan line and the next steps name it absolutely
    second = _seedc(project / "manifests" / "dev", "demo")
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.splitlines()[1].startswith("NOOP: nothing to do")
    plan = project.resolve() / ".seedc" / "demo.plan.json"
    assert second.stdout.splitlines()[0] == f"plan: {plan}"
    assert f"seedc show {plan}" in second.stdout
    assert f"(password in {plan.parent}/pg.password)" in second.stdout
    assert "batches: 0 written, 15 already checkpointed" in second.stdout
    assert _postgres_pids(data_dir) == pids, "the second run started another server"

    stop = _seedc(project, "demo", "--stop")
    assert stop.returncode == 0, stop.stderr[-2000:]
    assert stop.stdout.strip() == "embedded PostgreSQL stopped"
    assert _postgres_pids(data_dir) == []
    assert not (data_dir / "postmaster.pid").exists()
    assert (data_dir / "PG_VERSION").is_file(), "--stop must keep the data"


def test_demo_stop_without_a_server_is_harmless(project: Path) -> None:
    """`seedc demo --stop` where no demo ran: exit 0, nothing started, nothing left behind."""
    result = _seedc(project, "demo", "--stop")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert _postgres_pids(project / ".seedc" / "pg") == []


def test_plan_line_and_next_steps_name_the_plan_the_same_way(tmp_path: Path) -> None:
    """Relative to the working directory when the plan is under it, else absolute: the path
    `seedc demo` prints after `plan:` is the one its next steps use, and it works from there."""
    base = tmp_path / "project" / ".seedc"
    result = DemoResult("postgresql://postgres:s3cret@127.0.0.1:5000/postgres",
                        "postgresql://seedc_apply:s3cret@127.0.0.1:5000/seedc_demo",
                        base / "demo.plan.json", cast(Any, None), base, embedded=True)
    root = tmp_path / "project"
    elsewhere = root / "docs"
    assert shown_path(result.plan_path, root) == ".seedc/demo.plan.json"
    assert shown_path(result.plan_path, elsewhere) == str(base.resolve() / "demo.plan.json")
    for cwd in (root, elsewhere):
        plan = shown_path(result.plan_path, cwd)
        steps = next_steps(result, cwd)
        assert f"  seedc show {plan}  " in steps
        assert f"  seedc diff {plan} --dsn \"$(cat {shown_path(base, cwd)}/apply.dsn)\"" in steps
        assert "s3cret" not in steps
