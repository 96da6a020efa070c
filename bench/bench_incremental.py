"""A +1 % plan change applied incrementally, against reset plus full reseed, in the same run.

    python bench/bench_incremental.py [--rows 100000] [--growth 0.01]

Run from the repository root. PostgreSQL comes from `tests.services.postgres_admin_dsn()`:
`$SEEDC_TEST_DSN` (a superuser DSN) if set, else a throw-away embedded server (no fsync).

The dev example (manifests/dev/acme.yaml, a baseline) is scaled to about `--rows` rows (OLD);
NEW is the same manifest with `customers` grown by `--growth` (their expansions and the
references that move to them follow, issue 12). In one fresh database, as the least-privilege
apply role under forced RLS:

1. OLD is applied (not timed: the starting point);
2. NEW is applied: the incremental path (drift check, delta, FK-safe steps, checkpoint swap,
   verification) — timed;
3. the alternative without issue 12: `reset_tenant` (what `seedc reset NEW --yes` runs)
   followed by a full apply of NEW — timed.

Both end states are compared table by table (`COPY … ORDER BY id`) and must be equal. Prints
both times and the ratio (the issue expects >= 20x); exit status 1 if the ratio is below it.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

TARGET_RATIO = 20.0


def scaled_plans(folder: Path, rows: int, growth: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """OLD (the dev example scaled to ~rows) and NEW (customers grown by `growth`)."""
    from ruamel.yaml import YAML

    from seedc.compiler.pipeline import compile_manifest
    from tests.manifests import MANIFEST, MODEL

    yaml = YAML()
    base = yaml.load(MANIFEST.read_text(encoding="utf-8"))
    planned = compile_manifest(MANIFEST)["estimate"]["rows"]
    factor = rows / planned
    (folder / "models").mkdir()
    (folder / "models" / "banking-core.yaml").write_text(MODEL.read_text(encoding="utf-8"))
    plans = []
    for name, grow in (("old", 0.0), ("new", growth)):
        doc = yaml.load(MANIFEST.read_text(encoding="utf-8"))
        for entity, volume in base["volumetry"].items():
            count = max(1, round(volume["count"] * factor))
            if entity == "customers":
                count = round(count * (1 + grow))
            doc["volumetry"][entity]["count"] = count
            doc["volumetry"][entity]["cap"] = count * 2
        doc["budget"] = {"max_rows": rows * 4, "max_bytes": rows * 4000, "max_seconds": 86_400}
        (folder / name).mkdir()
        path = folder / name / "acme.yaml"
        with path.open("w", encoding="utf-8") as out:
            yaml.dump(doc, out)
        # the model path in the manifest is relative: ../models/banking-core.yaml
        plans.append(compile_manifest(path))
    return plans[0], plans[1]


def dump_digest(admin: str, plan: dict[str, Any]) -> str:
    """sha256 over every target table's `COPY (SELECT * … ORDER BY id)`."""
    import psycopg
    from psycopg import sql

    digest = hashlib.sha256()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for entity in plan["entities"]:
            schema, table = entity["table"].split(".")
            statement = sql.SQL("COPY (SELECT * FROM {} ORDER BY id) TO STDOUT").format(
                sql.Identifier(schema, table))
            with conn.cursor().copy(statement) as copy:
                for chunk in copy:
                    digest.update(bytes(chunk))
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--growth", type=float, default=0.01)
    args = parser.parse_args()

    import psycopg
    from bench_apply import BenchKeys, bench_evidence
    from bench_reset import prepared

    from seedc.program.generators.finance import _quote
    from seedc.runtime.apply import ApplyOptions, apply_plan
    from seedc.runtime.lease import LeaseSettings
    from seedc.runtime.reset import reset_tenant
    from tests.services import postgres_admin_dsn

    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="seedc-bench-incremental-") as tmp, \
            postgres_admin_dsn() as admin:
        folder = Path(tmp)
        old, new = scaled_plans(folder, args.rows, args.growth)
        print(f"OLD: {old['estimate']['rows']:,} rows in {len(old['batches'])} batches; NEW: "
              f"customers +{args.growth:.1%}, {new['estimate']['rows']:,} rows")
        with prepared(admin, indexed=True) as (db, apply_dsn):
            options = ApplyOptions(evidence=bench_evidence(folder / "evidence"))
            (folder / "evidence").mkdir()
            keys = BenchKeys(key)
            assert apply_plan(old, apply_dsn, keys, options).status == "succeeded"
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("CHECKPOINT")

            _quote.cache_clear()  # as in a fresh process: no quote of OLD's apply reused
            t0 = time.monotonic()
            report = apply_plan(new, apply_dsn, keys, options)
            incremental = time.monotonic() - t0
            assert report.status == "succeeded" and report.change, report.message
            after_change = dump_digest(db, new)
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("CHECKPOINT")

            _quote.cache_clear()
            t0 = time.monotonic()
            reset_tenant(new, apply_dsn, LeaseSettings())
            full_report = apply_plan(new, apply_dsn, keys, options)
            full = time.monotonic() - t0
            assert full_report.status == "succeeded", full_report.message
            after_reseed = dump_digest(db, new)
    totals = report.change["totals"]
    print(f"incremental apply: {incremental:6.2f} s, wrote {report.rows_written:,} rows "
          f"({totals['insert']:,} inserted, {totals['update']:,} updated, "
          f"{totals['delete']:,} deleted)")
    print(f"reset + reseed:    {full:6.2f} s, wrote {full_report.rows_written:,} rows")
    ratio = full / incremental
    same = after_change == after_reseed
    print(f"ratio: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x); end states equal: {same}")
    return 0 if same and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
