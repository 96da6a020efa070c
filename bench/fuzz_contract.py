"""Counts per outcome of the compile fuzzer (tests/test_fuzz_contract.py), without stopping.

    python bench/fuzz_contract.py [--profile ci|deep] [--examples N] [--show DIR]

Run from the repository root with PostgreSQL reachable as in the tests (`$SEEDC_TEST_DSN`, else
an embedded server). Prints cases, exit 0, exit 2 and every other category with its count,
and writes the smallest case of each category under DIR (default .fuzz-repro/) as
dev/acme.yaml + models/banking-core.yaml, so `seedc compile DIR/<category>/dev/acme.yaml`
reproduces it. Exit status 1 when any case broke the contract.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    import psycopg
    from hypothesis import HealthCheck, given, settings

    from tests import test_fuzz_contract as fuzz
    from tests.services import fresh_database, postgres_admin_dsn

    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="ci", choices=["ci", "deep"])
    parser.add_argument("--examples", type=int)
    parser.add_argument("--show", type=Path, default=REPO / ".fuzz-repro")
    args = parser.parse_args()
    profile = settings.get_profile(args.profile)
    counts: Counter[str] = Counter()
    smallest: dict[str, tuple[int, Any, dict[str, Any], list[str]]] = {}
    seconds: list[float] = []
    rss: list[float] = []
    scratch = Path(tempfile.mkdtemp(prefix="seedc-fuzz-"))
    worker = fuzz.Worker()
    started = time.perf_counter()
    with postgres_admin_dsn() as admin, fresh_database(admin) as dsn, \
            psycopg.connect(dsn, autocommit=True) as store:

        @settings(profile, max_examples=args.examples or profile.max_examples,
                  suppress_health_check=list(HealthCheck))
        @given(case=fuzz.cases())
        def record(case: fuzz.Case) -> None:
            label, reply, storage = fuzz.check_case(case, worker, store, scratch)
            counts[label] += 1
            if reply["seconds"] is not None:
                seconds.append(reply["seconds"])
            if reply["rss_mib"] is not None:
                rss.append(reply["rss_mib"])
            size = sum(map(len, case.texts()))
            if label not in smallest or size < smallest[label][0]:
                smallest[label] = (size, case, reply, storage)

        record()
    worker.close()
    shutil.rmtree(scratch, ignore_errors=True)
    total = sum(counts.values())
    print(f"cases {total} in {time.perf_counter() - started:.1f} s; exit 0: {counts['exit 0']}; "
          f"exit 2: {counts['exit 2']}; other: {total - counts['exit 0'] - counts['exit 2']}")
    if seconds:
        print(f"per case: max {max(seconds):.2f} s, mean {sum(seconds) / len(seconds):.3f} s; "
              f"peak RSS of the worker max {max(rss or [0]):.0f} MiB")
    for label, count in counts.most_common():
        if label in fuzz.ALLOWED:
            continue
        _, case, reply, storage = smallest[label]
        folder = args.show / label.replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        fuzz.write_case(case, folder)
        print(f"\n== {label}: {count} case(s); smallest in {folder}")
        print(f"   {case!r}"[:900])
        print("   " + (storage[0] if storage else reply["output"].strip()[-600:]).replace(
            "\n", "\n   "))
    return 0 if set(counts) <= fuzz.ALLOWED else 1


if __name__ == "__main__":
    sys.exit(main())
