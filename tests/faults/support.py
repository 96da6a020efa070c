"""The fault-injection suite's tools: a ~50k-row load plan, the real CLI in a subprocess
whose JSON log events the test can wait for, traps that stop seedc's writer at an exact
point, a TCP proxy that can freeze, and the checks every fault ends with.

How a phase is reached deterministically (never by sleeping and hoping):

- a *trap* is a statement-level BEFORE trigger on one target table that waits on an advisory
  lock the test holds: the batch (or purge) that touches the table blocks inside its
  transaction, with every earlier batch committed; the test sees the `seedc-apply` backend
  waiting on the advisory lock in `pg_stat_activity`, injects its fault, then lets go;
- locks the test holds on seedc's own objects (the slots, the tenant lease, a table that
  preflight or the evidence index reads) stop the run in that phase.

After each fault the suite re-runs apply to completion and checks the database against a clean
run of the same plan on a fresh database (sha256 of every table's ordered COPY), plus `seedc
diff`, leftover processes, run states and the maintenance flag (issue 10).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from seedc.compiler.pipeline import compile_manifest
from seedc.runtime.rate_limit import WINDOW_S
from tests.manifests import REPO, variant
from tests.runtime_support import (
    Target,
    make_target,
    planned_counts,
    run_cli_inprocess,
    table_dump,
    tenant_counts,
    wait_for,
    write_plan,
)

#: The dev key of every database in the suite, so PII placeholders resolve identically in the
#: faulted database and in the clean reference (test-only; never a real key).
FAULT_KEY_HEX = "5eedc0de" * 8
#: Advisory lock key of the traps (one bigint, far from seedc's two-int keys).
TRAP_KEY = 0x5EED_FA17
#: How long any one seedc command may take in this suite before the test kills it and fails.
CLI_TIMEOUT = 90.0
#: A frozen network must make seedc fail within this many seconds (issue 10).
FROZEN_LIMIT = 30.0

#: The example manifest turned into a load manifest of ~49k rows in 19 batches: the plan then
#: carries the program, not rows (> 20k rows), and the runtime regenerates the batches in a
#: worker process. A short lock timeout keeps the held-lock fault quick. The target rate is the
#: cap (20,000 rows/s), so the whole plan fits one 5-second pacing window: pacing is not what
#: this suite tests (tests/test_scale_rate_overload.py does), and at the example's 5,000 rows/s
#: every clean apply and re-run here would sleep ~5 s waiting for the window.
LOAD_EDITS = [
    ("mode: baseline ", "mode: load "),
    ("model: ../models/banking-core.yaml",
     "model: ../models/banking-core.yaml\nbatch_size: 5000"),
    ("customers:     {count: 40, cap: 100}", "customers:     {count: 3500, cap: 5000}"),
    ("bank_accounts: {count: 50, cap: 150}", "bank_accounts: {count: 4500, cap: 6000}"),
    ("contracts:     {count: 30, cap: 100}", "contracts:     {count: 2000, cap: 3000}"),
    ("credit_limits: {count: 30, cap: 100}", "credit_limits: {count: 2000, cap: 3000}"),
    ("transactions:  {count: 200, cap: 500}", "transactions:  {count: 22000, cap: 30000}"),
    ("loans:         {count: 12, cap: 50}", "loans:         {count: 400, cap: 500}"),
    ("budget: {max_rows: 2000, max_bytes: 2000000, max_seconds: 60}",
     "budget: {max_rows: 100000, max_bytes: 50000000, max_seconds: 600}"),
    ("load:     {statement_ms: 90000, lock_ms: 15000}",
     "load:     {statement_ms: 30000, lock_ms: 1000}"),
    ("target_rows_per_second: 5000", "target_rows_per_second: 20000"),
]


def compile_load_plan(tmp: Path) -> dict[str, Any]:
    plan = compile_manifest(variant(tmp, LOAD_EDITS))
    assert plan["mode"] == "load"
    assert plan["rows_inline"] is False
    assert 40_000 < plan["estimate"]["rows"] < 60_000, plan["estimate"]["rows"]
    rate = plan["guards"]["rate_limit"]["target_rows_per_second"]
    assert plan["estimate"]["rows"] <= rate * WINDOW_S, "the load plan would wait on pacing"
    return plan


def fault_target(admin_dsn: str, apply_dsn: str, tmp: Path, key: Path) -> Target:
    """A database prepared like production (`make_target`) with the suite's shared key."""
    return make_target(admin_dsn, apply_dsn, tmp, key_from=key)


def batch_index(plan: dict[str, Any], table: str, nth: int = 1) -> int:
    """1-based position in the plan of the `nth` batch that writes `table`."""
    seen = 0
    for position, batch in enumerate(plan["batches"], start=1):
        if batch["table"] == table:
            seen += 1
            if seen == nth:
                return position
    raise AssertionError(f"no batch {nth} of {table}")


# --- the database, read as superuser -------------------------------------------------------


def table_digests(admin_dsn: str, plan: dict[str, Any]) -> dict[str, str]:
    """sha256 of `COPY (SELECT * FROM t ORDER BY id) TO STDOUT` per target table (UTC, ISO)."""
    return {table: hashlib.sha256(data).hexdigest()
            for table, data in table_dump(admin_dsn, plan).items()}


def distinct_ids(admin_dsn: str, plan: dict[str, Any]) -> dict[str, int]:
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for entity in plan["entities"]:
            row = conn.execute(sql.SQL("SELECT count(DISTINCT id) FROM {}").format(
                sql.Identifier(*entity["table"].split(".")))).fetchone()
            assert row is not None
            out[entity["table"]] = int(row[0])
    return out


def runs(admin_dsn: str, tenant: str) -> dict[str, str]:
    """run_id → status of the tenant's runs, oldest first."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT run_id::text, status FROM seedc.runs WHERE tenant = %s "
                            "ORDER BY started_at", (tenant,)).fetchall()
    return {r[0]: r[1] for r in rows}


def evidence_stored(admin_dsn: str, run_ids: list[str]) -> set[str]:
    """Runs among `run_ids` whose evidence is indexed as stored (sessions 9, 14)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT run_id::text FROM seedc.evidence WHERE status = 'stored' "
                            "AND run_id::text = ANY(%s)", (run_ids,)).fetchall()
    return {r[0] for r in rows}


def maintenance_rows(admin_dsn: str, plan: dict[str, Any]) -> int:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM seedc.maintenance WHERE tenant_id = %s AND "
                           "environment = %s", (plan["tenant_id"], plan["environment"])).fetchone()
    return int(row[0]) if row else -1


def checkpoint_count(admin_dsn: str, plan: dict[str, Any]) -> int:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM seedc.checkpoints WHERE tenant_id = %s",
                           (plan["tenant_id"],)).fetchone()
    return int(row[0]) if row else -1


def waiting(admin_dsn: str, application: str, wait_event: str | None = None) -> bool:
    """Whether a backend of `application` waits on a heavyweight lock (of that kind)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
            "application_name = %s AND wait_event_type = 'Lock' AND "
            "(%s::text IS NULL OR wait_event = %s::text)",
            (application, wait_event, wait_event)).fetchone()
    return bool(row and row[0])


def terminate(admin_dsn: str, application: str) -> int:
    """pg_terminate_backend of every backend of `application`; how many were terminated."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "datname = current_database() AND application_name = %s", (application,)).fetchall()
    return sum(1 for r in rows if r[0])


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0,
               alive: Callable[[], None] | None = None) -> Any:
    """`runtime_support.wait_for` with the suite's argument order and a 30 s default."""
    return wait_for(predicate, timeout=timeout, what=what, alive=alive)


# --- traps -----------------------------------------------------------------------------------

_TRAP_FUNCTION = """
CREATE OR REPLACE FUNCTION public.seedc_fault_trap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    present bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO present;
    IF present >= TG_ARGV[0]::bigint THEN
        PERFORM pg_advisory_xact_lock_shared(TG_ARGV[1]::bigint);
    END IF;
    RETURN NULL;
END
$$
"""


class Trap:
    """Stop seedc's writer when it first touches `table` (with at least `min_rows` there).

    Installed as superuser in the test's database; `armed` holds the advisory lock the trigger
    waits on, `release()` lets the blocked statement go, and leaving the context also drops
    the trigger so the re-run is not trapped.
    """

    def __init__(self, admin_dsn: str, table: str, event: str = "INSERT",
                 min_rows: int = 0) -> None:
        self.admin_dsn, self.table, self.event, self.min_rows = admin_dsn, table, event, min_rows
        self.holder: psycopg.Connection | None = None

    def __enter__(self) -> Trap:
        self.holder = psycopg.connect(self.admin_dsn, autocommit=True)
        self.holder.execute("SELECT pg_advisory_lock(%s)", (TRAP_KEY,))
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(_TRAP_FUNCTION.encode())
            conn.execute(sql.SQL(
                "CREATE TRIGGER seedc_fault_trap BEFORE " + self.event + " ON {} FOR EACH "
                "STATEMENT EXECUTE FUNCTION public.seedc_fault_trap({}, {})").format(
                sql.Identifier(*self.table.split(".")), sql.Literal(str(self.min_rows)),
                sql.Literal(str(TRAP_KEY))))
        return self

    def sprung(self) -> bool:
        """Whether seedc's writer is waiting in the trap right now."""
        return waiting(self.admin_dsn, "seedc-apply", "advisory")

    def release(self) -> None:
        if self.holder is not None and not self.holder.closed:
            with contextlib.suppress(psycopg.Error):
                self.holder.close()

    def __exit__(self, *exc: object) -> None:
        self.release()
        with contextlib.suppress(psycopg.Error), \
                psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS seedc_fault_trap ON {}").format(
                sql.Identifier(*self.table.split("."))))


@contextlib.contextmanager
def locked(admin_dsn: str, table: str, mode: str = "ACCESS EXCLUSIVE"
           ) -> Iterator[psycopg.Connection]:
    """`LOCK TABLE table IN mode MODE` held by a superuser transaction until exit."""
    conn = psycopg.connect(admin_dsn)
    try:
        conn.execute(sql.SQL("LOCK TABLE {} IN " + mode + " MODE").format(
            sql.Identifier(*table.split("."))))
        yield conn
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


class BackgroundLock(threading.Thread):
    """LOCK TABLE requested from a thread: it queues behind whoever holds the table now."""

    def __init__(self, admin_dsn: str, table: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(admin_dsn)
        self.table = table
        self.granted = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(*self.table.split("."))))
            self.granted.set()

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.cancel()
        self.join(10)
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()
        self.conn.close()


# --- the CLI in a subprocess ------------------------------------------------------------------


def cli_env(tag: str) -> dict[str, str]:
    """The environment of a seedc subprocess: this tree first on the path, JSON INFO logs,
    no Vault, CI, evidence URI or libpq variables (so the dev key and the isolated-dev
    evidence folder are used, as in `prepared_target`), and a tag that marks every process
    it starts (leftovers are found by it in /proc/*/environ)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "PG", "OTEL_")) and k not in (
               "CI", "SEEDC_EVIDENCE_URI", "SEEDC_WORKERS", "TRACEPARENT")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env["SEEDC_LOG_LEVEL"] = "INFO"
    env["SEEDC_FAULT_TAG"] = tag
    return env


class CliRun:
    """`seedc ARGS` in a subprocess whose stderr JSON events the test can wait for."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.tag = uuid.uuid4().hex
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "seedc.cli", *args], cwd=cwd,
                                     env=cli_env(self.tag), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.out: list[str] = []
        self.err: list[str] = []
        self.events: Counter[str] = Counter()
        self.changed = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, False),
                                         daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, True),
                                         daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: Any, is_err: bool) -> None:
        for line in stream:
            with self.changed:
                (self.err if is_err else self.out).append(line)
                if is_err and line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        self.events[str(json.loads(line).get("event"))] += 1
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def alive(self) -> None:
        if not self.running:
            self.wait(5)
            raise AssertionError(f"seedc exited early with {self.proc.returncode}:\n"
                                 + self.text[-3000:])

    def kill9(self) -> int:
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.wait(10)

    def wait(self, timeout: float = CLI_TIMEOUT) -> int:
        """The exit code; a run still going after `timeout` is killed and the test fails."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"seedc {' '.join(self.args[:1])} did not exit within "
                                 f"{timeout} s (killed):\n" + self.text[-3000:]) from None
        if self.ended is None:
            self.ended = time.monotonic()
        for reader in self.readers:  # a child left alive keeps the pipes open: do not wait
            reader.join(1)
        return code

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def report(self) -> dict[str, Any]:
        """The `--json` run report on stdout (empty when there is none)."""
        with contextlib.suppress(ValueError):
            return dict(json.loads("".join(self.out)))
        return {}

    def close(self) -> None:
        if self.running:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        # The readers end at EOF, once no process holds the pipes any more; closing a stream
        # under a blocked reader would hang, so a stream still being read is left to it.
        for reader, stream in zip(self.readers, (self.proc.stdout, self.proc.stderr),
                                  strict=True):
            reader.join(0.2)
            if stream is not None and not reader.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    stream.close()


def tagged_processes(tag: str) -> list[str]:
    """Live processes (not zombies) started by a CliRun with this tag: `pid cmdline`."""
    found = []
    needle = f"SEEDC_FAULT_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(f"{entry.name} {cmdline[:200]}")
    return found


def processes_with(text: str) -> list[str]:
    """Live processes whose command line contains `text` (e.g. the plan's path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == str(os.getpid()):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found.append(f"{entry.name} {cmdline[:200]}")
    return found


def leftovers(tags: list[str], plan_path: Path, settle: float = 5.0) -> list[str]:
    """Processes of these runs still alive after up to `settle` seconds."""
    deadline = time.monotonic() + settle
    while True:
        found = sorted({p for tag in tags for p in tagged_processes(tag)}
                       | set(processes_with(str(plan_path))))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# --- a TCP proxy that can freeze -------------------------------------------------------------


class FreezableProxy:
    """127.0.0.1:<free port> → upstream, one thread pair per connection.

    `freeze()` stops forwarding in both directions while keeping every socket open and
    reading (bytes are dropped): to seedc it looks like a network path that went silent.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port: int = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.dropped = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.frozen.is_set():  # a frozen path lets nothing new through either
                with self.lock:
                    self.sockets.append(client)
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None) -> None:
        while not self.closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                if dst is not None and not self.frozen.is_set():
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                return
            if self.frozen.is_set() or dst is None:
                self.dropped += len(data)
                continue
            try:
                dst.sendall(data)
            except OSError:
                return

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            for s in self.sockets:
                # shutdown first: it wakes a thread blocked in recv() and sends the FIN that
                # a bare close() under such a thread would not
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()


# --- outcomes --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one fault did, and every check made after it (the suite's summary table)."""

    fault: str
    expected_code: int
    #: another acceptable exit code: 3 where the issue allows "refused before any write"
    also: int | None = None
    code: int | None = None
    seconds: float | None = None
    faulted_status: str = "-"
    rerun_status: str = "-"
    note: str = ""
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append((name, bool(ok), detail if len(detail) <= 600
                            else detail[:300] + " … " + detail[-300:]))

    @property
    def failures(self) -> list[str]:
        return [f"{name}: {detail}" for name, ok, detail in self.checks if not ok]


RESULTS: list[Outcome] = []


def apply_args(plan_path: Path, dsn: str) -> list[str]:
    return ["apply", str(plan_path), "--dsn", dsn, "--json"]


def finish(outcome: Outcome, t: Target, plan: dict[str, Any], plan_path: Path,
           reference: dict[str, str], faulted: CliRun, code: int,
           admin_dsn: str | None = None, apply_dsn: str | None = None) -> None:
    """The checks after a fault (issue 10), recorded in `outcome`; fails the test at the end.

    The faulted run's exit code; no process of it left; a re-run completes; every table equals
    the clean run's; no duplicate; `seedc diff PLAN --dsn` exits 0; no run left `running`, the
    faulted one `failed`/`aborted`/`abandoned`, the re-run `succeeded` (or `noop` when every
    batch had committed); the tenant's maintenance flag is clear.
    """
    admin = admin_dsn or t.admin_dsn
    dsn = apply_dsn or t.apply_dsn
    RESULTS.append(outcome)
    outcome.code = code
    outcome.seconds = round(faulted.seconds, 1)
    outcome.check("exit code", code in (outcome.expected_code, outcome.also),
                  f"expected {outcome.expected_code}, got {code}: {faulted.text[-600:]!r}")
    traceback = "Traceback (most recent call last)" in faulted.text
    outcome.check("no traceback", not traceback, faulted.text[-1500:])
    left = leftovers([faulted.tag], plan_path)
    outcome.check("no process left by the faulted run", not left, "; ".join(left))
    for pid_line in left:  # do not let them disturb the re-run or later tests
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_line.split()[0]), signal.SIGKILL)
    before = runs(admin, plan["tenant"])

    rerun = CliRun(apply_args(plan_path, dsn), t.tmp)
    try:
        rerun_code = rerun.wait()
    finally:
        rerun.close()
    report = rerun.report()
    outcome.rerun_status = str(report.get("status", f"exit {rerun_code}"))
    outcome.check("re-run completes", rerun_code == 0 and outcome.rerun_status in (
        "succeeded", "noop"), f"exit {rerun_code}: {rerun.text[-1500:]!r}")

    digests = table_digests(admin, plan)
    wrong = sorted(table for table, digest in digests.items() if reference[table] != digest)
    outcome.check("tables equal the clean run", not wrong, f"differ: {wrong}")
    counts = tenant_counts(admin, plan)
    outcome.check("no duplicates, no missing rows",
                  counts == planned_counts(plan) == distinct_ids(admin, plan),
                  f"counts {counts}")
    # the real command through click in this process (a subprocess costs ~1.5 s per fault)
    diff = run_cli_inprocess(["diff", str(plan_path), "--dsn", dsn], cwd=t.tmp)
    outcome.check("seedc diff PLAN --dsn exits 0", diff.code == 0,
                  f"exit {diff.code}: {diff.text[-800:]!r}")

    after = runs(admin, plan["tenant"])
    faulted_runs = {run_id: after[run_id] for run_id in before}
    outcome.faulted_status = ",".join(sorted(set(faulted_runs.values()))) or "(no run row)"
    still = [run_id for run_id, status in after.items() if status == "running"]
    outcome.check("no run left running", not still, f"running: {still}")
    if outcome.expected_code == 0:
        outcome.check("the run succeeded", set(faulted_runs.values()) == {"succeeded"},
                      f"{faulted_runs}")
    else:
        # a run killed after its row said `succeeded` passes only with its evidence indexed
        stored = evidence_stored(admin, list(faulted_runs))
        ended = ("failed", "aborted", "abandoned") + (("refused",) if code == 3 else ())
        bad = {r: s for r, s in faulted_runs.items()
               if s not in ended
               and not (s == "succeeded" and r in stored)}
        outcome.check("faulted run failed/aborted/abandoned", not bad, f"{bad}")
    new = [status for run_id, status in after.items() if run_id not in before]
    outcome.check("re-run recorded as succeeded", new in (["succeeded"], ["noop"]), f"{new}")
    flags = maintenance_rows(admin, plan)
    outcome.check("maintenance flag clear", flags == 0, f"{flags} row(s)")
    left = leftovers([faulted.tag, rerun.tag], plan_path, settle=2.0)
    outcome.check("no seedc process left at the end", not left, "; ".join(left))
    assert not outcome.failures, f"{outcome.fault}:\n  " + "\n  ".join(outcome.failures)


def render_results(results: list[Outcome]) -> str:
    """The faults × outcome table printed at the end of the session."""
    lines = ["| fault | exit (expected) | s | faulted run | re-run | note | failed checks |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        failed = [name for name, ok, _ in r.checks if not ok]
        expected = f"{r.expected_code}" + (f" or {r.also}" if r.also is not None else "")
        lines.append(f"| {r.fault} | {r.code} ({expected}) | {r.seconds} | "
                     f"{r.faulted_status} | {r.rerun_status} | {r.note} | "
                     f"{', '.join(failed) if failed else 'none'} |")
    return "\n".join(lines)


def plan_copy(plan: dict[str, Any], path: Path) -> Path:
    return write_plan(copy.deepcopy(plan), path)
