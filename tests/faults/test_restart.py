"""The database server restarts under a load run: `pg_ctl restart -m fast` and `-m immediate`.

Only a server the test owns may be restarted, so this module starts its own embedded
PostgreSQL (the product's `ensure_embedded_server`, without fsync, in a temporary directory
outside pytest's tmp tree, as tests/test_runtime_standby.py explains) and stops it at the end,
also when a test fails. The run is trapped at its first transactions batch (twelve batches
committed), the server restarted, the trap gone with it. Expected (issue 10): exit 4 with a
clear message, no traceback; after the restart a re-run completes and the database equals a
clean run; the faulted run is not left `running`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seedc.devtools.embedded import (
    _Paths,
    _run_as,
    _tool,
    ensure_embedded_server,
    stop_embedded_server,
)
from tests.faults.support import (
    CliRun,
    Outcome,
    Trap,
    apply_args,
    batch_index,
    fault_target,
    finish,
    plan_copy,
    wait_until,
)
from tests.services import apply_role, fresh_database

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[str, _Paths]]:
    """An embedded PostgreSQL private to this module: (superuser DSN, its paths)."""
    base = Path(tempfile.mkdtemp(prefix="seedc-faults-pg-"))
    try:
        admin = ensure_embedded_server(base, durable=False)
        yield admin, _Paths(base)
    finally:
        stop_embedded_server(base)
        shutil.rmtree(base, ignore_errors=True)


def _restart(paths: _Paths, mode: str) -> None:
    result = _tool(paths, _run_as(), ["pg_ctl", "-D", str(paths.pgdata), "-m", mode, "-w",
                                      "-t", "60", "restart"], timeout=90)
    assert result.returncode == 0, paths.log.read_text(errors="replace")[-2000:]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_server_restart_mid_run_stops_it_with_exit_4_and_a_rerun_completes(
        mode: str, own_server: tuple[str, _Paths], load_plan: dict[str, Any],
        fault_key: Path, tmp_path: Path, reference: dict[str, str]) -> None:
    server_admin, paths = own_server
    outcome = Outcome(f"pg_ctl restart -m {mode}", 4)
    with fresh_database(server_admin) as admin, apply_role(admin) as dsn:
        t = fault_target(admin, dsn, tmp_path / "work", fault_key)
        plan_path = plan_copy(load_plan, t.tmp / f"plan-{uuid.uuid4().hex[:8]}.json")
        assert batch_index(load_plan, "app.transactions") == 13
        with Trap(admin, "app.transactions", "INSERT", 0) as trap:
            run = CliRun(apply_args(plan_path, dsn), t.tmp)
            try:
                wait_until(trap.sprung, "batch 13 trapped", alive=run.alive)
                restarted = time.monotonic()
                _restart(paths, mode)
                code = run.wait(60)
                outcome.note = f"exit {time.monotonic() - restarted:.1f} s after the restart"
            finally:
                run.close()
        outcome.check("a one-line error names the failure", "seedc: " in run.text,
                      run.text[-800:])
        finish(outcome, t, load_plan, plan_path, reference, run, code)
