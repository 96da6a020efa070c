"""Helpers for the runtime tests (tests/test_runtime_*.py): a database prepared like production.

`prepared_target` (the body of each module's `target` fixture) gives a test its own database
(`pg_db`) with the demo application schema (forced RLS), the seedc control schema and the
least-privilege `apply_role_dsn` role granted by `grant_apply_role`, plus a dev-only key in
`<tmp>/work/.env.local`, with CI unset. Plans are compiled once per manifest/model text and
copied per test. Helpers count and dump the tenant's rows as superuser (which bypasses RLS, so
every query filters by the tenant), run the CLI in a subprocess (or through click in-process),
and hold the PostgreSQL locks that simulate other runs: the tenant's advisory lock and lease
row, the environment's slot locks, a table lock that blocks a batch.
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from seedc.compiler.pipeline import compile_manifest
from seedc.errors import SeedcError
from seedc.plan.canonical import pretty_bytes
from seedc.runtime.apply import ApplyOptions, RunReport, apply_plan
from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
from seedc.runtime.keys import LocalDevKeyProvider
from seedc.runtime.lease import SLOT_CLASS, TENANT_CLASS, lock_key
from tests.manifests import MANIFEST, REPO, variant
from tests.services import apply_role, fresh_database

SCHEMA_DIR = REPO / "manifests" / "schema"
#: Compiled plans by (manifest text, model text): compiling costs ~0.15 s, so once a session.
_VARIANTS: dict[tuple[str, str], dict[str, Any]] = {}
#: Seconds any single CLI run may take before the test kills it and fails.
CLI_TIMEOUT = 60.0


# --- plans -------------------------------------------------------------------------------


def compile_variant(tmp: Path, manifest_edits: list[tuple[str, str]] = (),  # type: ignore[assignment]
                    model_edits: list[tuple[str, str]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Compile a variant of the example manifest (a fresh copy of the plan each call).

    Compiling costs ~0.15 s; identical variants are compiled once per test session.
    """
    path = variant(tmp, list(manifest_edits), list(model_edits))
    model = (tmp / "models" / "banking-core.yaml").read_text(encoding="utf-8")
    key = (path.read_text(encoding="utf-8"), model)
    if key not in _VARIANTS:
        _VARIANTS[key] = compile_manifest(path)
    return copy.deepcopy(_VARIANTS[key])


def acme_plan() -> dict[str, Any]:
    """The plan of manifests/dev/acme.yaml, as `seedc compile` makes it (a fresh copy)."""
    key = ("<acme>", "")
    if key not in _VARIANTS:
        _VARIANTS[key] = compile_manifest(MANIFEST)
    return copy.deepcopy(_VARIANTS[key])


def write_plan(plan: dict[str, Any], path: Path) -> Path:
    path.write_bytes(pretty_bytes(plan))
    return path


# --- keys --------------------------------------------------------------------------------


def write_dev_key(path: Path, version: int = 1, key_hex: str | None = None) -> Path:
    """A dev-only `.env.local` with a random 32-byte key (mode 0600)."""
    path.write_text("# dev-only FPE key for the runtime tests\n"
                    f"SEEDC_DEV_FPE_KEY={key_hex or secrets.token_hex(32)}\n"
                    f"SEEDC_DEV_FPE_KEY_VERSION={version}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


# --- the database ------------------------------------------------------------------------


def role_of(dsn: str) -> str:
    user = conninfo_to_dict(dsn).get("user")
    assert user, f"the DSN names no user: {dsn!r}"
    return str(user)


def prepare_database(admin_dsn: str, apply_dsn: str) -> None:
    """As superuser: demo app schema, control schema, grants for the apply role."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        install_app_schema(conn, SCHEMA_DIR)
        install_control(conn)
        grant_apply_role(conn, role_of(apply_dsn))


def admin_execute(admin_dsn: str, statement: str, params: Any = None) -> int:
    """Run one statement as superuser (autocommit); returns its rowcount."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        return conn.execute(statement.encode() if params is None else statement, params).rowcount


def admin_scalar(admin_dsn: str, statement: str, params: Any = None) -> Any:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute(statement, params).fetchone()
        return row[0] if row else None


def _tenant_filter(entity: dict[str, Any]) -> sql.Composable:
    column = "id" if entity["table"] == "app.tenants" else "tenant_id"
    return sql.Identifier(column)


def _table(entity: dict[str, Any]) -> sql.Composable:
    schema, _, table = entity["table"].partition(".")
    return sql.Identifier(schema, table)


def tenant_counts(admin_dsn: str, plan: dict[str, Any]) -> dict[str, int]:
    """Rows of the plan's tenant per table, read as superuser (no RLS: filtered by tenant)."""
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for entity in plan["entities"]:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                _table(entity), _tenant_filter(entity)), (plan["tenant_id"],)).fetchone()
            assert row is not None
            out[entity["table"]] = int(row[0])
    return out


def planned_counts(plan: dict[str, Any]) -> dict[str, int]:
    return {e["table"]: int(e["rows"]) for e in plan["entities"]}


def zero_counts(plan: dict[str, Any]) -> dict[str, int]:
    return {e["table"]: 0 for e in plan["entities"]}


def table_dump(admin_dsn: str, plan: dict[str, Any]) -> dict[str, bytes]:
    """Full text COPY of each target table ordered by id, as superuser, in UTC/ISO."""
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        for entity in plan["entities"]:
            data = bytearray()
            statement = sql.SQL("COPY (SELECT * FROM {} ORDER BY id) TO STDOUT").format(
                _table(entity))
            with conn.cursor().copy(statement) as cp:
                for chunk in cp:
                    data += bytes(chunk)
            out[entity["table"]] = bytes(data)
    return out


def checkpoints(admin_dsn: str, plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(batch_id, run_id) of the tenant's checkpoints, ordered by batch id."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT batch_id, run_id::text FROM seedc.checkpoints WHERE tenant_id = %s "
            "AND environment = %s ORDER BY batch_id",
            (plan["tenant_id"], plan["environment"])).fetchall()
    return [(r[0], r[1]) for r in rows]


def audit_events(admin_dsn: str, tenant: str) -> list[tuple[str, str | None, str]]:
    """(event, rule, run_id) of the tenant's audit records, oldest first."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT event, rule, run_id::text FROM seedc.audit "
                            "WHERE tenant = %s ORDER BY id", (tenant,)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


# --- the prepared target -----------------------------------------------------------------


@dataclass
class Target:
    """One prepared database: superuser DSN, apply-role DSN, a dev key, a work dir."""

    admin_dsn: str
    apply_dsn: str
    tmp: Path
    env_file: Path

    @property
    def role(self) -> str:
        return role_of(self.apply_dsn)

    def keys(self) -> LocalDevKeyProvider:
        return LocalDevKeyProvider(self.env_file)

    def apply(self, plan: dict[str, Any], options: ApplyOptions | None = None,
              dsn: str | None = None) -> RunReport:
        """apply_plan in this process, as the apply role (or `dsn`)."""
        return apply_plan(plan, dsn or self.apply_dsn, self.keys(), options)

    def apply_error(self, plan: dict[str, Any], options: ApplyOptions | None = None,
                dsn: str | None = None) -> SeedcError:
        """apply_plan that must raise a SeedcError; returns it."""
        with pytest.raises(SeedcError) as info:
            self.apply(plan, options, dsn)
        return info.value

    def plan_file(self, plan: dict[str, Any], name: str = "plan.json") -> Path:
        return write_plan(plan, self.tmp / name)

    def counts(self, plan: dict[str, Any]) -> dict[str, int]:
        return tenant_counts(self.admin_dsn, plan)

    def checkpoints(self, plan: dict[str, Any]) -> list[tuple[str, str]]:
        return checkpoints(self.admin_dsn, plan)

    def audit(self, plan: dict[str, Any]) -> list[tuple[str, str | None, str]]:
        return audit_events(self.admin_dsn, plan["tenant"])

    def runs(self, plan: dict[str, Any]) -> list[tuple[str, bool, int]]:
        """(status, dry_run, rows_written) of the tenant's runs, oldest first."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT status, dry_run, rows_written FROM seedc.runs WHERE "
                                "tenant = %s ORDER BY started_at", (plan["tenant"],)).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def execute(self, statement: str, params: Any = None) -> int:
        return admin_execute(self.admin_dsn, statement, params)

    def scalar(self, statement: str, params: Any = None) -> Any:
        return admin_scalar(self.admin_dsn, statement, params)

    def cli(self, *args: str, env: dict[str, str | None] | None = None,
            timeout: float = CLI_TIMEOUT) -> CliResult:
        """`seedc ARGS` in a subprocess, cwd the work dir (whose `.env.local` is the key)."""
        return run_cli(list(args), cwd=self.tmp, env=env, timeout=timeout)

    def cli_inprocess(self, *args: str, env: dict[str, str | None] | None = None) -> CliResult:
        return run_cli_inprocess(list(args), cwd=self.tmp, env=env)


def make_target(admin_dsn: str, apply_dsn: str, tmp: Path, key_from: Path | None = None) -> Target:
    """Prepare the database; the dev key is new, or a copy of `key_from` (same PII)."""
    prepare_database(admin_dsn, apply_dsn)
    tmp.mkdir(parents=True, exist_ok=True)
    env_file = tmp / ".env.local"
    if key_from is not None:
        env_file.write_bytes(key_from.read_bytes())
        env_file.chmod(0o600)
    else:
        write_dev_key(env_file)
    return Target(admin_dsn, apply_dsn, tmp, env_file)


def prepared_target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Target:
    """The body of each module's `target` fixture: CI and Vault unset, so the dev key is used.

    (Test modules define `target` themselves: an imported fixture trips ruff's F811.)
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    return make_target(pg_db, apply_role_dsn, tmp_path / "work")


@contextlib.contextmanager
def second_target(pg_admin_dsn: str, tmp: Path, key_from: Path | None = None) -> Iterator[Target]:
    """Another prepared database with its own apply role (both dropped afterwards)."""
    with fresh_database(pg_admin_dsn) as admin, apply_role(admin) as role_dsn:
        yield make_target(admin, role_dsn, tmp, key_from)


# --- the CLI -----------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def error(self) -> str:
        """The `seedc: …` message on stderr with its detail lines, without JSON log lines."""
        lines = [line for line in self.err.splitlines() if not line.startswith("{")]
        starts = [i for i, line in enumerate(lines) if line.startswith("seedc: ")]
        return "\n".join(lines[starts[0]:]) if starts else ""


def _cli_env(env: dict[str, str | None] | None) -> dict[str, str]:
    """The test's environment (CI as the test left it) without Vault or libpq variables, which
    would change where keys and data come from; `env` overrides (None removes)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PG"))}
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    for name, value in (env or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "seedc.cli", *args]


def run_cli(args: list[str], cwd: Path, env: dict[str, str | None] | None = None,
            timeout: float = CLI_TIMEOUT) -> CliResult:
    """`seedc ARGS` in a subprocess with cwd (its `.env.local` is the default key file)."""
    proc = subprocess.run(_argv(args), cwd=cwd, env=_cli_env(env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_inprocess(args: list[str], cwd: Path,
                      env: dict[str, str | None] | None = None) -> CliResult:
    """`seedc ARGS` through click's runner in this process: the same command, exit-code
    mapping and output, without ~0.6 s of interpreter start and imports per call."""
    from click.testing import CliRunner

    from seedc.cli import cli

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


class RunningCli:
    """A `seedc` subprocess the test owns: wait for it, or kill it; always reaped."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str | None] | None) -> None:
        self.proc = subprocess.Popen(_argv(args), cwd=cwd, env=_cli_env(env),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)

    def finish(self, timeout: float = CLI_TIMEOUT) -> CliResult:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return CliResult(self.proc.returncode, out, err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=10)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def alive(self) -> None:
        """Raise, with its output, if the process has already exited."""
        if not self.running:
            result = self.finish()
            raise AssertionError(f"seedc exited early with {result.code}:\n{result.text}")


@contextlib.contextmanager
def start_cli(args: list[str], cwd: Path,
              env: dict[str, str | None] | None = None) -> Iterator[RunningCli]:
    running = RunningCli(args, cwd, env)
    try:
        yield running
    finally:
        running.kill()


# --- waiting and holding locks -----------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02,
             what: str = "condition", alive: Callable[[], Any] | None = None) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail after `timeout`.

    `alive` (e.g. `run.alive`) is called on each poll and raises when the run being watched
    ended first, so a broken run fails the test at once instead of after the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None:
            alive()
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def holding(admin_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit superuser connection, closed on exit (which frees its locks)."""
    conn = psycopg.connect(admin_dsn, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def hold_tenant_lock(admin_dsn: str, plan: dict[str, Any],
                     holder: str | None) -> Iterator[psycopg.Connection]:
    """Simulate a live run of the tenant: its advisory lock (and a lease row naming `holder`)."""
    with holding(admin_dsn) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                           (lock_key(TENANT_CLASS, plan["environment"]),
                            lock_key(TENANT_CLASS, plan["tenant_id"]))).fetchone()
        assert got == (True,), "tenant lock already taken"
        if holder is not None:
            conn.execute(
                "INSERT INTO seedc.leases (tenant_id, environment, run_id, holder, acquired_at, "
                "expires_at) VALUES (%s, %s, gen_random_uuid(), %s, clock_timestamp(), "
                "clock_timestamp() + interval '60 seconds')",
                (plan["tenant_id"], plan["environment"], holder))
        yield conn


@contextlib.contextmanager
def hold_slots(admin_dsn: str, environment: str,
               slots: tuple[int, ...] = (0, 1)) -> Iterator[dict[int, psycopg.Connection]]:
    """Simulate runs holding cluster slots: one connection per slot, each holding its lock."""
    with contextlib.ExitStack() as stack:
        conns = {}
        for slot in slots:
            conn = stack.enter_context(holding(admin_dsn))
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                               (lock_key(SLOT_CLASS, environment), slot)).fetchone()
            assert got == (True,), f"slot {slot} already taken"
            conns[slot] = conn
        yield conns


def waiting_on_lock(admin_dsn: str, application: str = "seedc-apply") -> bool:
    """Whether a backend of that application waits for a heavyweight lock right now."""
    return bool(admin_scalar(
        admin_dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND wait_event_type = 'Lock' AND datname = current_database()", (application,)))


@contextlib.contextmanager
def table_locked(admin_dsn: str, table: str,
                 mode: str = "EXCLUSIVE") -> Iterator[psycopg.Connection]:
    """Hold `LOCK TABLE table IN mode MODE` in an open superuser transaction until exit.

    EXCLUSIVE blocks INSERT (ROW EXCLUSIVE) but not plain reads (ACCESS SHARE), so a run
    passes its drift check and then waits inside the batch that writes `table`. Call
    `conn.rollback()` to release early; exit always releases.
    """
    conn = psycopg.connect(admin_dsn)
    try:
        conn.execute(sql.SQL("LOCK TABLE {} IN " + mode + " MODE").format(
            sql.Identifier(*table.split("."))))
        yield conn
    finally:
        conn.rollback()
        conn.close()


def advisory_held(admin_dsn: str, key1: int, key2: int) -> int:
    """How many sessions hold the two-key advisory lock (key1, key2) in this database."""
    return int(admin_scalar(
        admin_dsn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 2 AND classid = %s::bigint::text::oid AND objid = %s::bigint::text::oid "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (key1 & 0xFFFFFFFF, key2 & 0xFFFFFFFF)))


def row_versions(admin_dsn: str, plan: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """(id, xmin) of the tenant's rows per table: any rewrite of a row changes its xmin."""
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for entity in plan["entities"]:
            rows = conn.execute(sql.SQL(
                "SELECT id::text, xmin::text FROM {} WHERE {} = %s ORDER BY id").format(
                _table(entity), _tenant_filter(entity)), (plan["tenant_id"],)).fetchall()
            out[entity["table"]] = [(r[0], r[1]) for r in rows]
    return out


def backends(admin_dsn: str, application: str) -> int:
    return int(admin_scalar(
        admin_dsn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND datname = current_database()", (application,)))


class Background(threading.Thread):
    """Run `fn` in a thread; `result()` re-raises what it raised (joined with a timeout)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:
            self.error = exc

    def alive(self) -> None:
        """Raise what the call raised, or report that it returned, if it is already done."""
        if not self.is_alive():
            value = self.result()
            raise AssertionError(f"the call ended early, returning {value!r}")

    def result(self, timeout: float = CLI_TIMEOUT) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "background call did not finish"
        if self.error is not None:
            raise self.error
        return self.value
