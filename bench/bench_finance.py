"""Price schedules per second: the exact Decimal module vs a plain-float implementation.

Why: the compiler quotes every seeded loan with the exact routine; this shows what exactness
costs against the naive float code one would otherwise write. Same random loans (seeded),
same run, 12-60 monthly installments, 30/360.

    .venv/bin/python bench/bench_finance.py            # 100,000 loans each way
    .venv/bin/python bench/bench_finance.py --n 5000   # quicker
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seedc.finance import due_dates, price_schedule

CONTRACT = date(2025, 1, 15)


def float_price(principal: float, rate: float, term: int) -> list[tuple[float, float, float]]:
    """The naive float ledger: (interest, amortization, balance) per installment."""
    payment = round(principal * rate / (1 - (1 + rate) ** -term), 2) if rate else principal / term
    balance = principal
    rows = []
    for k in range(term):
        interest = round(balance * rate, 2)
        amortization = balance if k == term - 1 else payment - interest
        balance = round(balance - amortization, 2)
        rows.append((interest, amortization, balance))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="loans per implementation")
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    loans = [
        (rng.randint(50_000, 10_000_000), rng.randint(50, 800), rng.randint(12, 60))
        for _ in range(args.n)
    ]  # principal in cents, rate in basis points a month, term in months
    dues = {term: due_dates(CONTRACT, term) for term in range(12, 61)}

    start = time.perf_counter()
    rows_exact = 0
    for cents, bps, term in loans:
        schedule = price_schedule(Decimal(cents) / 100, Decimal(bps) / 10_000, CONTRACT, dues[term])
        rows_exact += len(schedule)
    exact_seconds = time.perf_counter() - start

    start = time.perf_counter()
    rows_float = 0
    for cents, bps, term in loans:
        rows_float += len(float_price(cents / 100, bps / 10_000, term))
    float_seconds = time.perf_counter() - start

    exact_rate = args.n / exact_seconds
    float_rate = args.n / float_seconds
    print(f"loans: {args.n:,} Price schedules, 12-60 months, {rows_exact:,} installments each way")
    print(f"exact (decimal): {exact_rate:12,.0f} schedules/s  ({exact_seconds:.2f} s)")
    print(f"float (naive):   {float_rate:12,.0f} schedules/s  ({float_seconds:.2f} s)")
    print(f"ratio float/exact: {float_rate / exact_rate:.1f}x")
    assert rows_exact == rows_float


if __name__ == "__main__":
    main()
