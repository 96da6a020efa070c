"""`seedc reset` of a load dataset, without and with indexes on the foreign-key columns.

    python bench/bench_reset.py [--rows 200000]

Run from the repository root. PostgreSQL comes from `tests.services.postgres_admin_dsn()`:
`$SEEDC_TEST_DSN` (a superuser DSN) if set, else a throw-away embedded server (no fsync).

The load manifest (manifests/staging/acme-load.yaml, 1.24M rows) is scaled to about `--rows`
rows (bench/bench_apply.py's `bench_plan`: always-open window, wide budget) and applied by
`apply_plan` as the least-privilege apply role into two fresh databases of the same server:

- without: the demo schema as 0001_banking_core.sql alone (foreign-key columns unindexed);
- with:    0001 + 0002_fk_indexes.sql, as `seedc demo` and the tests install it.

Then `reset_tenant` (what `seedc reset PLAN --yes` runs: lease, child-first set-based purge,
checkpoints, audit) is timed in each, after a CHECKPOINT so one's WAL is not flushed in the
other's clock. Prints seconds and rows/s of each and the speed-up; checks that both deleted
exactly the planned rows. Without the indexes each parent row deleted is checked against a
full scan of its child tables, so that side grows with rows², keep `--rows` modest.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

FULL_ROWS = 1_240_644  # rows of manifests/staging/acme-load.yaml
SCHEMA_DIR = REPO / "manifests" / "schema"


@contextlib.contextmanager
def prepared(admin: str, indexed: bool) -> Iterator[tuple[str, str]]:
    """A fresh database with the demo schema (with or without 0002), control schema and
    apply role; yields (superuser DSN, apply DSN)."""
    import psycopg

    from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
    from tests.runtime_support import role_of
    from tests.services import apply_role, fresh_database

    with fresh_database(admin) as db, apply_role(db) as apply_dsn:
        with psycopg.connect(db, autocommit=True) as conn:
            if indexed:
                install_app_schema(conn, SCHEMA_DIR)
            else:
                conn.execute((SCHEMA_DIR / "0001_banking_core.sql").read_bytes())
            install_control(conn)
            grant_apply_role(conn, role_of(apply_dsn))
        yield db, apply_dsn


def one(admin: str, plan: dict[str, Any], folder: Path, key: bytes,
        indexed: bool) -> dict[str, Any]:
    """Apply the plan, then time its reset; returns seconds, rows and rows/s."""
    import psycopg
    from bench_apply import BenchKeys, bench_evidence

    from seedc.runtime.apply import ApplyOptions, apply_plan
    from seedc.runtime.lease import LeaseSettings
    from seedc.runtime.reset import reset_tenant
    from seedc.runtime.schema_checks import unindexed_foreign_keys

    label = "with" if indexed else "without"
    with prepared(admin, indexed) as (db, apply_dsn):
        evidence = folder / f"evidence-{label}"
        evidence.mkdir()
        t0 = time.monotonic()
        report = apply_plan(plan, apply_dsn, BenchKeys(key),
                            ApplyOptions(evidence=bench_evidence(evidence)))
        applied = time.monotonic() - t0
        with psycopg.connect(db, autocommit=True) as conn:
            unindexed = unindexed_foreign_keys(conn, [e["table"] for e in plan["entities"]])
            conn.execute("CHECKPOINT")
        t0 = time.monotonic()
        deleted = reset_tenant(plan, apply_dsn, LeaseSettings())
        seconds = time.monotonic() - t0
    rows = sum(n for table, n in deleted.items() if table != "seedc.checkpoints")
    expected = sum(int(e["rows"]) for e in plan["entities"])
    if rows != expected or report.rows_written != expected:
        raise SystemExit(f"{label}: wrote {report.rows_written}, deleted {rows}, "
                         f"planned {expected}")
    return {"label": label, "unindexed": len(unindexed), "rows": rows,
            "apply_s": applied, "reset_s": seconds, "rows_per_s": rows / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000,
                        help="approximate rows of the scaled load dataset (default 200000)")
    args = parser.parse_args()

    from bench_apply import bench_plan

    from tests.services import postgres_admin_dsn

    scale = args.rows / FULL_ROWS
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="seedc-bench-reset-") as tmp, \
            postgres_admin_dsn() as admin:
        folder = Path(tmp)
        _, plan = bench_plan(folder, scale)
        print(f"load plan scaled x{scale:.4f}: {plan['estimate']['rows']:,} rows, "
              f"{len(plan['batches'])} batches")
        results = [one(admin, plan, folder, key, indexed) for indexed in (False, True)]
    for r in results:
        print(f"reset {r['label']:>7} FK indexes ({r['unindexed']:2d} unindexed FKs): "
              f"{r['rows']:,} rows in {r['reset_s']:7.2f} s = {r['rows_per_s']:9,.0f} rows/s"
              f"   (apply before it: {r['apply_s']:.1f} s)")
    print(f"speed-up with the indexes: {results[0]['reset_s'] / results[1]['reset_s']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
