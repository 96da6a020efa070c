"""Compile speed and memory for the 1M-row load manifest, against Faker in the same run.

    python bench/bench_compile.py [--faker-rows 50000]

Prints rows/s of the transactions entity (the issue's target: >= 100,000 rows/s on one core),
the same rows generated "the usual way" (Faker pt_BR, seeded instance, one dict per row) and
their ratio; then the whole compile of the load manifest in a child process (wall time, peak
RSS) at 1x and 2x volume, to show memory stays flat as the plan grows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOAD = REPO / "manifests" / "staging" / "acme-load.yaml"
sys.path.insert(0, str(REPO))


def seedc_transactions(rows: int) -> float:
    from seedc.compiler.build import program_json
    from seedc.compiler.order import topological_order
    from seedc.compiler.pipeline import load_inputs
    from seedc.plan.rows import rows_digest
    from seedc.program.batch import batch_cells
    from seedc.program.evaluate import Program

    manifest, _, model, _ = load_inputs(LOAD)
    program = Program.from_json(program_json(manifest, model, topological_order(model.entities)))
    step = 20_000
    start = time.perf_counter()
    for a in range(0, rows, step):
        rows_digest(batch_cells(program, "transactions", a, min(a + step, rows)))
    return rows / (time.perf_counter() - start)


def faker_transactions(rows: int) -> float:
    """The usual way: a seeded Faker pt_BR instance building one dict per row."""
    from datetime import datetime, timedelta

    from faker import Faker

    fake = Faker("pt_BR")
    fake.seed_instance(42)
    ref = datetime(2025, 1, 1, tzinfo=UTC)
    accounts = [fake.uuid4() for _ in range(1000)]
    categories = [fake.uuid4() for _ in range(8)]
    descriptions = ["PIX recebido", "PIX enviado", "TED recebida", "Pagamento de boleto"]
    start = time.perf_counter()
    out = []
    for _ in range(rows):
        out.append({
            "id": fake.uuid4(),
            "bank_account_id": fake.random_element(accounts),
            "category_id": fake.random_element(categories),
            "direction": fake.random_element(("credit", "debit")),
            "amount": fake.pydecimal(left_digits=4, right_digits=2, positive=True),
            "description": fake.random_element(descriptions),
            "occurred_at": fake.date_time_between(ref - timedelta(days=180), ref),
        })
    return rows / (time.perf_counter() - start)


def compile_in_child(manifest: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, plan bytes) of `seedc compile` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.json"
        code = (
            "import resource,sys,time;from pathlib import Path;"
            "from seedc.compiler.pipeline import compile_manifest;"
            "from seedc.plan.canonical import pretty_bytes;t=time.perf_counter();"
            f"Path({str(out)!r}).write_bytes(pretty_bytes(compile_manifest(Path({str(manifest)!r}))));"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=REPO)
        seconds, rss_kib = res.stdout.split()
        return float(seconds), int(rss_kib) / 1024, out.stat().st_size


def doubled_manifest(tmp: Path) -> Path:
    text = LOAD.read_text()
    for _entity, count in (("customers", 100000), ("bank_accounts", 120000),
                          ("contracts", 60000), ("credit_limits", 60000),
                          ("transactions", 600000)):
        text = text.replace(f"{{count: {count},", f"{{count: {count * 2},")
    text = text.replace("max_rows: 1500000", "max_rows: 3000000")
    text = text.replace("cap: 200000}", "cap: 400000}").replace("cap: 250000}", "cap: 500000}")
    text = text.replace("cap: 120000}", "cap: 240000}").replace("cap: 1000000}", "cap: 2000000}")
    path = tmp / "staging" / "acme-load-2x.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    (tmp / "models").mkdir(exist_ok=True)
    (tmp / "models" / "banking-core.yaml").write_bytes(
        (REPO / "manifests" / "models" / "banking-core.yaml").read_bytes())
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--faker-rows", type=int, default=50_000)
    args = parser.parse_args()
    ours = seedc_transactions(args.rows)
    theirs = faker_transactions(args.faker_rows)
    print(f"transactions, seedc (generate + COPY cells + digest): {ours:12,.0f} rows/s")
    print(f"transactions, Faker pt_BR seeded, dict per row:      {theirs:12,.0f} rows/s")
    print(f"ratio seedc / Faker: {ours / theirs:.1f}x   target >= 100,000 rows/s: "
          f"{'met' if ours >= 100_000 else 'NOT met'}")
    secs, rss, size = compile_in_child(LOAD)
    print(f"compile load manifest (1x): {secs:6.2f} s  peak RSS {rss:6.1f} MiB  plan {size:,} B "
          f"({'<' if size < 1_000_000 else '>='} 1 MB)")
    with tempfile.TemporaryDirectory() as tmp:
        secs2, rss2, size2 = compile_in_child(doubled_manifest(Path(tmp)))
    print(f"compile load manifest (2x): {secs2:6.2f} s  peak RSS {rss2:6.1f} MiB  plan {size2:,} B")
    print(f"peak RSS 2x / 1x: {rss2 / rss:.2f} (flat memory: rows are never all held)")


if __name__ == "__main__":
    main()
