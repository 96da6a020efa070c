"""What a person sees on a real terminal, and what a pipeline gets (issue 11, "first hour").

On a terminal (a pseudo-terminal here, as a user's shell gives one): one live progress line,
a run summary, errors printed once as `seedc: …`, no Python reprs, `NO_COLOR` honoured, and
`seedc compile` refusing to pour a plan onto the screen. Not on a terminal: no control
characters at all, logs as JSON lines. Real PostgreSQL throughout (the embedded demo server
for `seedc demo`, `$SEEDC_TEST_DSN` for apply).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runtime_support import (
    Target,
    _cli_env,
    acme_plan,
    checkpoints,
    prepared_target,
    run_cli,
    tenant_counts,
)
from tests.test_demo import _postgres_pids, _seedc
from tests.test_demo import project as project  # the fixture: a temp copy of the project

TIMEOUT = 240.0
ESCAPE = "\x1b"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


@dataclass
class PtyResult:
    code: int
    output: str  # stdout and stderr together, as the terminal shows them


def run_on_pty(args: list[str], cwd: Path, env: dict[str, str]) -> PtyResult:
    """`seedc ARGS` with a pseudo-terminal as stdin, stdout and stderr; everything it printed
    read from the master side until EOF."""
    master, slave = pty.openpty()
    env = {**env, "TERM": env.get("TERM", "xterm-256color"), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "seedc.cli", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], TIMEOUT)
            if not ready:
                proc.kill()
                raise AssertionError(f"no output for {TIMEOUT} s: {b''.join(chunks)[-2000:]!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the slave side closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    code = proc.wait(timeout=TIMEOUT)
    return PtyResult(code, b"".join(chunks).decode("utf-8", errors="replace"))


def _demo_env(project: Path) -> dict[str, str]:
    """The environment tests/test_demo.py gives `seedc demo`: no CI, Vault or libpq hints."""
    from tests.manifests import REPO

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "PG")) and k not in ("CI", "SEEDC_TEST_DSN",
                                                                 "NO_COLOR")}
    env["PYTHONPATH"] = str(REPO)
    return env


# --- seedc demo ------------------------------------------------------------------------------


def test_demo_on_a_terminal_is_one_screen_with_next_steps(project: Path) -> None:
    result = run_on_pty(["demo"], project, _demo_env(project))
    try:
        assert result.code == 0, result.output[-3000:]
        size = len(result.output.encode())
        assert size < 4096, f"{size} bytes on the first screen:\n{result.output[-3000:]}"
        assert "SUCCEEDED: wrote 618 rows" in result.output
        assert "Traceback" not in result.output
        assert '"event"' not in result.output  # no JSON log lines on a terminal
        assert "next steps:" in result.output
        assert "admin DSN  postgresql://postgres@127.0.0.1:" in result.output
        assert "(password in .seedc/pg.password)" in result.output
        assert "apply DSN  postgresql://seedc_apply@127.0.0.1:" in result.output
        assert "(password in .seedc/apply.password; full DSN in .seedc/apply.dsn)" \
            in result.output
        assert "seedc show .seedc/demo.plan.json" in result.output
        assert 'seedc diff .seedc/demo.plan.json --dsn "$(cat .seedc/apply.dsn)"' \
            in result.output
        assert "\n  seedc runs" in result.output.replace("\r\n", "\n")
        for secret in (project / ".seedc" / "apply.password", project / ".seedc" / "pg.password"):
            assert secret.read_text().strip() not in result.output

        # the next steps work as printed: diff finds no drift, runs lists the run
        apply_dsn = (project / ".seedc" / "apply.dsn").read_text().strip()
        drift = _seedc(project, "diff", ".seedc/demo.plan.json", "--dsn", apply_dsn)
        assert drift.returncode == 0, drift.stdout + drift.stderr[-2000:]
        runs = _seedc(project, "runs")
        assert runs.returncode == 0, runs.stderr[-2000:]
        assert "succeeded" in runs.stdout

        # not a terminal: the same command, not one control character anywhere
        piped = _seedc(project, "demo")
        assert piped.returncode == 0, piped.stderr[-3000:]
        assert "NOOP: nothing to do" in piped.stdout
        for text in (piped.stdout, piped.stderr):
            assert ESCAPE not in text
            assert "\r" not in text
            assert not CONTROL.search(text), repr(text[:500])
        for line in piped.stderr.splitlines():
            json.loads(line)  # logs stay JSON for pipelines
    finally:
        if _postgres_pids(project / ".seedc" / "pg"):
            _seedc(project, "demo", "--stop")


# --- apply on a terminal, with and without colour, and refused ------------------------------


def _cli_env_for(**extra: str | None) -> dict[str, str]:
    """The CLI's test environment, colour allowed unless the test sets NO_COLOR."""
    return _cli_env({"NO_COLOR": None, **extra})


def test_apply_not_on_a_terminal_prints_no_control_characters(target: Target) -> None:
    plan = acme_plan()
    result = run_cli(["apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn],
                     cwd=target.tmp, env={"NO_COLOR": None})
    assert result.code == 0, result.err[-3000:]
    assert result.out.startswith("SUCCEEDED: wrote 618 rows")
    for text in (result.out, result.err):
        assert ESCAPE not in text
        assert "\r" not in text
        assert not CONTROL.search(text), repr(text[:500])
    events = [json.loads(line)["event"] for line in result.err.splitlines()]
    assert "run.succeeded" in events  # the machine channel keeps the run's INFO events


def test_apply_on_a_terminal_draws_one_live_line(target: Target) -> None:
    plan = acme_plan()
    result = run_on_pty(["apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn],
                        target.tmp, _cli_env_for())
    assert result.code == 0, result.output[-3000:]
    assert "SUCCEEDED: wrote 618 rows" in result.output
    assert "15/15 batches" in result.output
    assert "rows/s" in result.output
    assert "ETA" in result.output
    assert "#" * 10 not in result.output
    assert "-1s" not in result.output
    assert '"event"' not in result.output
    assert "batch.written" not in result.output
    assert len(result.output.encode()) < 4096


def test_no_color_on_a_terminal_has_no_escape_sequences(target: Target) -> None:
    plan = acme_plan()
    for args, env in ((["apply"], {"NO_COLOR": "1"}), (["--no-color", "apply"], {})):
        result = run_on_pty([*args, str(target.plan_file(plan)), "--dsn", target.apply_dsn,
                             "--dry-run"], target.tmp, _cli_env_for(**env))
        assert result.code == 0, result.output[-3000:]
        assert "DRY RUN SUCCEEDED" in result.output
        assert "15/15 batches" in result.output  # the progress line is still there
        assert ESCAPE not in result.output, repr(result.output[:800])


def test_a_dry_run_with_nothing_to_write_has_no_empty_would_write_line(target: Target) -> None:
    plan = acme_plan()
    path = str(target.plan_file(plan))
    first = run_cli(["apply", path, "--dsn", target.apply_dsn, "--dry-run"], cwd=target.tmp)
    assert first.code == 0, first.err[-2000:]
    assert "would write: tenants 1, users 5" in first.out
    assert target.apply(plan).status == "succeeded"
    again = run_cli(["apply", path, "--dsn", target.apply_dsn, "--dry-run"], cwd=target.tmp)
    assert again.code == 0, again.err[-2000:]
    assert again.out.startswith("DRY RUN NOOP"), again.out
    assert "would write" not in again.out


def test_a_refusal_on_a_terminal_is_printed_once(target: Target) -> None:
    """A refused apply on a terminal: the `seedc:` line and no second (log) line saying it."""
    plan = acme_plan()
    assert target.apply(plan).status == "succeeded"
    target.execute("INSERT INTO app.categories (id, tenant_id, code, name) VALUES "
                   "(gen_random_uuid(), %s, 'by-hand', 'Inserted by hand')", (plan["tenant_id"],))
    counts, marks = tenant_counts(target.admin_dsn, plan), checkpoints(target.admin_dsn, plan)

    result = run_on_pty(["apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn],
                        target.tmp, _cli_env_for())
    assert result.code == 3, result.output[-3000:]
    message = "drift: the tenant's data differs from what this plan put there"
    lines = [line for line in result.output.replace("\r\n", "\n").split("\n") if message in line]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"seedc: {message}")
    assert "run.refused" not in result.output
    assert "Traceback" not in result.output
    assert tenant_counts(target.admin_dsn, plan) == counts
    assert checkpoints(target.admin_dsn, plan) == marks
    assert [s for s, _, _ in target.runs(plan)] == ["succeeded", "refused"]


# --- compile, show, db install, -h ------------------------------------------------------------


def test_compile_without_o_on_a_terminal_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    from tests.manifests import REPO

    manifest = REPO / "manifests" / "dev" / "acme.yaml"
    result = run_on_pty(["compile", str(manifest)], tmp_path, _cli_env({}))
    assert result.code == 2, result.output
    assert "give -o PLAN, or redirect stdout" in result.output
    assert "e.g. -o plans/dev/acme.plan.json" in result.output
    assert result.output.count("give -o PLAN") == 1
    assert '"batches"' not in result.output  # no plan JSON on the screen
    assert list(tmp_path.iterdir()) == []

    piped = run_cli(["compile", str(manifest)], cwd=tmp_path)
    assert piped.code == 0, piped.err
    assert json.loads(piped.out)["plan_hash"] == json.loads(
        (REPO / "plans" / "dev" / "acme.plan.json").read_text())["plan_hash"]


@pytest.mark.parametrize("name", ["dev/acme", "dev/globex", "ci/acme", "staging/acme-load"])
def test_show_has_no_python_reprs(tmp_path: Path, name: str) -> None:
    from tests.manifests import REPO

    result = run_cli(["show", str(REPO / "plans" / f"{name}.plan.json")], cwd=tmp_path)
    assert result.code == 0, result.err
    assert not re.search(r"[{\[]'|': |\bTrue\b|\bFalse\b|\bNone\b", result.out), result.out
    assert re.search(r"canary (off|on\b)", result.out)


def test_db_install_says_migrations_in_words(pg_db: str, tmp_path: Path) -> None:
    result = run_cli(["db", "install", "--dsn", pg_db], cwd=tmp_path)
    assert result.code == 0, result.err
    assert re.fullmatch(r"control schema: applied migration\(s\) \d+(, \d+)*", result.out.strip())
    again = run_cli(["db", "install", "--dsn", pg_db], cwd=tmp_path)
    assert again.out.strip() == "control schema: up to date"


@pytest.mark.parametrize("args", [[], ["compile"], ["apply"], ["demo"], ["db", "install"],
                                  ["runs"], ["keys", "status"], ["finance", "quote"]])
def test_dash_h_is_help_everywhere(tmp_path: Path, args: list[str]) -> None:
    result = run_cli([*args, "-h"], cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("Usage: ")
    assert "-h, --help" in result.out
