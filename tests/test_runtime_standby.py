"""The preflight check "primary" on a real streaming standby: apply refuses, writes nothing.

The standby is real, not a mocked `pg_is_in_recovery()`: an embedded primary (the product's own
`ensure_embedded_server`, in a temporary directory) is prepared like every runtime test's
database, copied with `pg_basebackup -R -X stream` and the copy started as a hot standby that
streams from it. The pair is private to this test, also when `$SEEDC_TEST_DSN` names a shared
server: a standby needs a primary whose pg_hba.conf and data directory we control.

As root, the PostgreSQL tools run as the embedded module's service user (PostgreSQL refuses to
run as root), exactly as `seedc.devtools.embedded` runs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from seedc.devtools.embedded import (
    SUPERUSER,
    _bin_dir,
    _free_port,
    _Paths,
    _postmaster_pid,
    _run_as,
    _RunAs,
    ensure_embedded_server,
    stop_embedded_server,
)
from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.apply import apply_plan
from seedc.runtime.keys import LocalDevKeyProvider
from tests.runtime_support import (
    acme_plan,
    audit_events,
    prepare_database,
    tenant_counts,
    write_dev_key,
    zero_counts,
)
from tests.services import apply_role, fresh_database

LOOPBACK = "127.0.0.1"
PRIMARY_RULE = "write and verify on the primary, never a replica (session 18)"
#: Seconds the standby may take to start and catch up before the test fails.
STANDBY_TIMEOUT = 30.0
REPLICATION_HBA = f"host replication all {LOOPBACK}/32 scram-sha-256"


def _with_port(dsn: str, port: int) -> str:
    """The same DSN (user, password, database) pointed at another port of the loopback."""
    params = conninfo_to_dict(dsn)
    params["host"], params["port"] = LOOPBACK, str(port)
    return make_conninfo("", **params)


def _pg_tool(paths: _Paths, run_as: _RunAs, args: list[str], *, password: str | None = None,
             timeout: float = 60) -> None:
    """Run a PostgreSQL tool of the wheel as the server account, output to `paths.log`.

    Like `seedc.devtools.embedded._tool`, with a clean environment (no caller PG* variables),
    plus PGPASSWORD when a tool must log in to the primary.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "HOME": str(paths.base)}
    if password is not None:
        env["PGPASSWORD"] = password
    with open(paths.log, "ab") as log:
        result = subprocess.run(
            [str(_bin_dir() / args[0]), *args[1:]], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, cwd=paths.base, user=run_as.uid,
            group=run_as.gid, extra_groups=[] if run_as.uid is not None else None,
            umask=0o077, start_new_session=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = paths.log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        raise AssertionError(f"{args[0]} failed (exit {result.returncode}):\n" + "\n".join(tail))


def _allow_replication(admin_dsn: str, pgdata: Path) -> None:
    """Let the superuser stream from the loopback (initdb's default already does; make sure)."""
    hba = pgdata / "pg_hba.conf"
    lines = [line.split() for line in hba.read_text(encoding="utf-8").splitlines()]
    if ["host", "replication", "all", f"{LOOPBACK}/32", "scram-sha-256"] not in lines:
        with open(hba, "a", encoding="utf-8") as fh:  # appending keeps the owner and mode
            fh.write(f"\n{REPLICATION_HBA}\n")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")


def _wait_standby(admin_dsn: str, apply_dsn: str) -> None:
    """Until the standby answers, is in recovery and already has the apply role and database."""
    deadline = time.monotonic() + STANDBY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as conn:
                row = conn.execute("SELECT pg_is_in_recovery(), "
                                   "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
                                   (conninfo_to_dict(apply_dsn)["user"],)).fetchone()
            if row == (True, True):
                with psycopg.connect(apply_dsn, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
                return
            last = row
        except psycopg.OperationalError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"the standby was not ready in {STANDBY_TIMEOUT}s: {last!r}")


@contextlib.contextmanager
def _standby(primary: _Paths, primary_port: int, base: Path, run_as: _RunAs) -> Iterator[int]:
    """A hot standby of `primary` under `base`, streaming from it; yields its port.

    Stopped with `pg_ctl -m immediate` (a standby has nothing to flush that matters here),
    and SIGKILL if even that fails, so no postmaster outlives the test.
    """
    paths = _Paths(base)
    base.mkdir(mode=0o700)
    paths.log.touch(mode=0o600)
    if run_as.uid is not None and run_as.gid is not None:
        for owned in (base, paths.log):
            os.chown(owned, run_as.uid, run_as.gid)
    password = primary.password.read_text(encoding="ascii").strip()
    _pg_tool(paths, run_as, ["pg_basebackup", "-h", LOOPBACK, "-p", str(primary_port),
                             "-U", SUPERUSER, "-D", str(paths.pgdata), "-R", "-X", "stream",
                             "--no-sync", "-c", "fast"], password=password)
    assert (paths.pgdata / "standby.signal").exists(), "pg_basebackup -R wrote no standby.signal"
    port = _free_port()
    try:
        _pg_tool(paths, run_as, ["pg_ctl", "-D", str(paths.pgdata), "-l", str(paths.log),
                                 "-o", f"-p {port} -c listen_addresses={LOOPBACK} "
                                       "-c unix_socket_directories=''",
                                 "-w", "-t", str(int(STANDBY_TIMEOUT)), "start"],
                 timeout=STANDBY_TIMEOUT + 10)
        yield port
    finally:
        if _postmaster_pid(paths) is not None:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                _pg_tool(paths, run_as, ["pg_ctl", "-D", str(paths.pgdata), "-m", "immediate",
                                         "-w", "-t", "20", "stop"], timeout=30)
        pid = _postmaster_pid(paths)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
def test_apply_on_a_streaming_standby_is_refused_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "VAULT_ADDR", "SEEDC_EVIDENCE_URI"):
        monkeypatch.delenv(name, raising=False)
    plan = acme_plan()
    work = tmp_path / "work"
    work.mkdir()
    env_file = write_dev_key(work / ".env.local")
    # not under tmp_path: a pytest session starting meanwhile resets /tmp/pytest-of-<user> to
    # 0700, which cuts the service user (when we are root) off from the data directories
    servers = Path(tempfile.mkdtemp(prefix="seedc-standby-"))
    primary = _Paths(servers / "primary")
    run_as = _run_as()
    pids: list[int] = []
    try:
        admin = ensure_embedded_server(primary.base, durable=False)
        pids.append(_postmaster_pid(primary) or 0)
        primary_port = int(conninfo_to_dict(admin)["port"])
        _allow_replication(admin, primary.pgdata)
        with fresh_database(admin) as db_admin, apply_role(db_admin) as apply_dsn:
            prepare_database(db_admin, apply_dsn)
            with _standby(primary, primary_port, servers / "standby", run_as) as port:
                standby = _Paths(servers / "standby")
                pids.append(_postmaster_pid(standby) or 0)
                standby_admin = _with_port(db_admin, port)
                standby_apply = _with_port(apply_dsn, port)
                _wait_standby(standby_admin, standby_apply)

                with pytest.raises(GuardRefused) as info:
                    apply_plan(plan, standby_apply, LocalDevKeyProvider(env_file))

                refusal = info.value
                assert refusal.exit_code == ExitCode.REFUSED == 3
                assert refusal.rule == "fail-closed preflight"
                failed = [d for d in refusal.details if "primary" in d and "standby" in d]
                assert len(failed) == 1, refusal.details
                assert failed[0].startswith("primary: connected to a standby (in recovery)")
                assert f"[rule target.primary: {PRIMARY_RULE}]" in failed[0]
                # the standby is the only reason: every other guard passed on that replica
                assert len(refusal.details) == 1, refusal.details
                assert tenant_counts(standby_admin, plan) == zero_counts(plan)

            # on the primary: not one row of the tenant, and no run or audit record either
            # (the standby is read-only and writes never flow back from a replica)
            assert tenant_counts(db_admin, plan) == zero_counts(plan)
            assert audit_events(db_admin, plan["tenant"]) == []
            with psycopg.connect(db_admin, autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM seedc.runs WHERE tenant = %s",
                                   (plan["tenant"],)).fetchone()
            assert row == (0,)
    finally:
        stop_embedded_server(primary.base)
        shutil.rmtree(servers, ignore_errors=True)
    # neither postmaster (nor any of its children, which exit with it) outlives the test
    assert all(pid > 0 for pid in pids), pids
    assert [pid for pid in pids if not _wait_gone(pid)] == []
