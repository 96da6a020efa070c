"""The CLI edge: exit codes, no traceback, redacted messages, the same answer from any directory.

Issue 9 "Contract", part C. Exit codes as README/DESIGN fix them: 2 invalid input or usage,
4 runtime failure (anything unexpected is exit 4 with one line, its traceback only with
--debug or SEEDC_DEBUG=1). Subprocess cases run the real console script with another cwd.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from click.testing import CliRunner

from seedc.cli import cli
from seedc.devtools.project import find_project_root
from seedc.errors import InvalidInput
from tests.manifests import REPO, variant

ACME_PLAN = REPO / "plans" / "dev" / "acme.plan.json"
ACME_MANIFEST = REPO / "manifests" / "dev" / "acme.yaml"
VALID_CPF = "529.982.247-25"


def _seedc(*args: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, with this tree first on the path."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("PG") and k != "SEEDC_DEBUG"}
    base["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "seedc.cli", *args], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=120, check=False)


def _boom(*_args: object, **_kwargs: object) -> str:
    return str(1 // 0)


# --- no traceback, ever -------------------------------------------------------------------


def test_unexpected_exception_is_exit_4_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEEDC_DEBUG", raising=False)
    monkeypatch.setattr("seedc.plan.summary.render_summary", _boom)
    result = CliRunner().invoke(cli, ["show", str(ACME_PLAN)])
    assert result.exit_code == 4
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("seedc: internal error: ZeroDivisionError: ")
    assert "bug in seedc" in lines[0]
    assert "--debug" in lines[0]
    assert "Traceback" not in result.output


FORCED = ("import sys, seedc.plan.summary as s\n"
          "s.render_summary = lambda *_: 1 // 0\n"
          "from seedc.cli import main\n"
          "sys.argv = ['seedc', *sys.argv[1:]]\n"
          "main()\n")


def test_a_real_process_prints_one_line_and_exits_4(tmp_path: Path) -> None:
    """The console entry point itself (not CliRunner): exit status and stderr as a shell sees."""
    base = {k: v for k, v in os.environ.items() if k != "SEEDC_DEBUG"}
    run = [sys.executable, "-c", FORCED, "show", str(ACME_PLAN)]
    result = subprocess.run(run, cwd=tmp_path, env={**base, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("seedc: internal error: ZeroDivisionError")
    debug = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**base, "PYTHONPATH": str(REPO), "SEEDC_DEBUG": "1"},
                           check=False)
    assert debug.returncode == 4
    assert "Traceback (most recent call last)" in debug.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setattr("seedc.plan.summary.render_summary", _boom)
    if how == "env":
        monkeypatch.setenv("SEEDC_DEBUG", "1")
        args = ["show", str(ACME_PLAN)]
    else:
        monkeypatch.delenv("SEEDC_DEBUG", raising=False)
        args = ["--debug", "show", str(ACME_PLAN)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 4
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("seedc: internal error: ZeroDivisionError")


def test_internal_error_names_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply attaches its RunReport as `exc.report`: the line gives the run id to look up."""
    run_id = "0b7d3c5e-8a51-4a3f-9d8e-2f1c6b7a9e10"

    def fail(*_args: object) -> str:
        exc = KeyError("batch")
        exc.report = SimpleNamespace(run_id=run_id)  # type: ignore[attr-defined]
        raise exc

    monkeypatch.setattr("seedc.plan.summary.render_summary", fail)
    result = CliRunner().invoke(cli, ["show", str(ACME_PLAN)])
    assert result.exit_code == 4
    assert f"(run {run_id})" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_database_error_escaping_a_command_is_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def lost(*_args: object) -> str:
        raise psycopg.OperationalError("server closed the connection unexpectedly\n"
                                       "\tThis probably means the server terminated")

    monkeypatch.setattr("seedc.plan.summary.render_summary", lost)
    result = CliRunner().invoke(cli, ["show", str(ACME_PLAN)])
    assert result.exit_code == 4
    assert result.stderr == "seedc: database error: server closed the connection unexpectedly\n"


def test_click_usage_errors_stay_exit_2() -> None:
    result = CliRunner().invoke(cli, ["compile"])
    assert result.exit_code == 2
    assert "Missing argument 'MANIFEST'" in result.stderr
    assert CliRunner().invoke(cli, ["show", "--no-such-option", "x"]).exit_code == 2


def test_seedc_errors_keep_their_exit_code_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.plan.json"
    result = _seedc("show", str(missing), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"seedc: {missing}: cannot read plan")
    assert "Traceback" not in result.stderr


# --- redaction at the edge -------------------------------------------------------------------


def test_error_messages_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> str:
        raise InvalidInput(f"customer {VALID_CPF} <ana@example.com> is wrong",
                           details=[f"cpf {VALID_CPF.replace('.', '').replace('-', '')}"])

    monkeypatch.setattr("seedc.plan.summary.render_summary", refuse)
    result = CliRunner().invoke(cli, ["show", str(ACME_PLAN)])
    assert result.exit_code == 2
    assert "[REDACTED:cpf]" in result.stderr
    assert "[REDACTED:email]" in result.stderr
    assert "529" not in result.stderr
    assert "ana@" not in result.stderr


def test_internal_error_line_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    def leak(*_args: object) -> str:
        raise ValueError(f"bad row {VALID_CPF}")

    monkeypatch.setattr("seedc.plan.summary.render_summary", leak)
    monkeypatch.setenv("SEEDC_DEBUG", "1")  # the traceback is redacted too
    result = CliRunner().invoke(cli, ["show", str(ACME_PLAN)])
    assert result.exit_code == 4
    assert "[REDACTED:cpf]" in result.stderr
    assert VALID_CPF not in result.stderr


# --- DSNs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dsn", "message"), [
    ("not-a-dsn", "--dsn is not a valid PostgreSQL connection string: missing \"=\""),
    ("host=x port=abc", "--dsn: port 'abc' is not a number between 1 and 65535"),
    ("postgresql://u:hunter2@h:99999/db", "--dsn: port '99999' is not a number"),
])
def test_malformed_dsn_is_exit_2_before_connecting(tmp_path: Path, dsn: str,
                                                   message: str) -> None:
    for args in (["diff", str(ACME_PLAN), "--dsn", dsn], ["runs", "--dsn", dsn],
                 ["db", "install", "--dsn", dsn]):
        result = _seedc(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert "hunter2" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_libpq_environment_is_announced(tmp_path: Path) -> None:
    """PGHOST redirects the default server: seedc says so (and which) on stderr."""
    result = _seedc("runs", cwd=tmp_path, env={"PGHOST": "127.0.0.1", "PGPORT": "1",
                                                "PGPASSWORD": "hunter2"})
    assert ("seedc: using the server from PGHOST=127.0.0.1 PGPORT=1 (libpq environment)"
            in result.stderr)
    assert result.returncode == 3  # nothing listens on port 1: refused before anything
    assert "cannot connect to the database" in result.stderr
    assert "hunter2" not in result.stderr


# --- the same answer from any directory ------------------------------------------------------


def test_compile_check_from_another_directory_is_up_to_date(tmp_path: Path) -> None:
    result = _seedc("compile", str(ACME_MANIFEST), "--check", str(ACME_PLAN), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_compile_check_ignores_only_the_info_block(tmp_path: Path) -> None:
    """A plan compiled from one directory checks as up to date from another; a real change
    is still stale (exit 1)."""
    here, there = tmp_path / "here", tmp_path / "there" / "deeper"
    here.mkdir()
    there.mkdir(parents=True)
    plan = here / "acme.plan.json"
    assert _seedc("compile", str(ACME_MANIFEST), "-o", str(plan), cwd=here).returncode == 0
    other = _seedc("compile", str(ACME_MANIFEST), cwd=there)
    assert json.loads(other.stdout)["info"] != json.loads(plan.read_text())["info"]
    result = _seedc("compile", str(ACME_MANIFEST), "--check", str(plan), cwd=there)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout

    changed = variant(tmp_path / "v", [("customers:     {count: 40, cap: 100}",
                                        "customers:     {count: 41, cap: 100}")])
    stale = _seedc("compile", str(changed), "--check", str(plan), cwd=there)
    assert stale.returncode == 1
    assert "committed plan is stale" in stale.stderr


def test_compile_check_with_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["compile", str(ACME_MANIFEST), "--check",
                                      str(ACME_PLAN), "-o", str(out)])
    assert result.exit_code == 2
    assert "give --check or -o, not both" in result.stderr
    assert not out.exists()


def test_demo_outside_a_project_refuses_before_any_server(tmp_path: Path) -> None:
    result = _seedc("demo", cwd=tmp_path)
    assert result.returncode == 2
    assert "is not inside a seedc project" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no .seedc/, no .env.local, no cluster


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "docs" / "deep").mkdir(parents=True)
    return root


def test_project_root_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert find_project_root(root / "docs" / "deep") == root
    assert find_project_root(root / "manifests" / "dev") == root
    assert find_project_root(tmp_path) is None
    assert find_project_root(REPO / "tests") == REPO


def test_demo_stop_from_a_subdirectory_uses_the_project_state(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _seedc("demo", "--stop", cwd=root / "docs" / "deep")
    assert result.returncode == 0, result.stderr
    assert not (root / "docs" / "deep" / ".seedc").exists()  # no second state folder


def test_embedded_default_is_looked_up_at_the_project_root(tmp_path: Path) -> None:
    """From a subdirectory of a project without a demo database, apply says how to get one
    (it does not create a `.seedc/` where it happens to run)."""
    root = _project(tmp_path)
    sub = root / "docs" / "deep"
    result = _seedc("diff", str(ACME_PLAN), cwd=sub)
    assert result.returncode == 2
    assert "no database: pass --dsn" in result.stderr
    assert not (sub / ".seedc").exists()
    assert not (root / ".seedc").exists()


def test_dev_key_file_defaults_to_the_project_root(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--env-file (apply, diff, evidence verify): the `.env.local` demo created at the root."""
    import click

    from seedc.cli import _project_env_file

    root = _project(tmp_path)
    monkeypatch.chdir(root / "docs" / "deep")
    ctx = click.Context(cli)
    option = click.Option(["--env-file"])
    assert _project_env_file(ctx, option, None) == root / ".env.local"
    assert _project_env_file(ctx, option, Path("mine.env")) == Path("mine.env")
    monkeypatch.chdir(tmp_path)
    assert _project_env_file(ctx, option, None) == Path(".env.local")


def _leaf_commands() -> list[list[str]]:
    """Every command path of the CLI (groups with their own action included)."""
    import click

    from seedc.cli import cli

    paths: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                if command.invoke_without_command:
                    paths.append([*prefix, name])
                walk(command, [*prefix, name])
            else:
                paths.append([*prefix, name])

    walk(cli, [])
    return paths


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_every_command_help_has_examples(path: list[str]) -> None:
    """Issue 11: every command's help shows one or two examples, and -h is --help."""
    from seedc.cli import cli

    result = CliRunner().invoke(cli, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert f"seedc {' '.join(path)}" in result.output.split("Examples:", 1)[1]
