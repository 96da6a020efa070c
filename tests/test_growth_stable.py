"""Growth-stable generation (issue 12 part 1): a count change moves only the minimum share.

The oracle for the hash itself is the published test vectors of jump consistent hashing
(Lamping & Veach 2014, as carried by Guava's `Hashing.consistentHash` tests and the C, Go and
Rust ports); the oracle for the plan-level promise is `seedc diff OLD NEW --json` between the
example manifest and a copy with another count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seedc.plan.format import GENERATOR_VERSION
from seedc.program.rng import jump_bucket
from tests.runtime_support import compile_variant, run_cli_inprocess, write_plan

# --- the hash against published vectors -----------------------------------------------------

GOLDEN_100 = [0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83]


def test_jump_bucket_matches_the_published_vectors() -> None:
    assert jump_bucket(np.arange(20, dtype=np.uint64), 100).tolist() == GOLDEN_100
    keys = np.array([10863919174838991, 2016238256797177309, 1673758223894951030],
                    dtype=np.uint64)
    assert jump_bucket(keys, 11).tolist() == [6, 3, 5]
    assert jump_bucket(np.array([2, 2201, 2202], dtype=np.uint64), 100001).tolist() == \
        [80343, 22152, 15018]
    deadbeef = [int(jump_bucket(np.array([0xDEADBEEF], dtype=np.uint64), n)[0])
                for n in range(1, 20)]
    assert deadbeef == [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16]


def test_jump_bucket_moves_only_to_new_buckets_and_about_the_minimum_share() -> None:
    keys = np.random.default_rng(7).integers(0, 2**63, size=200_000, dtype=np.uint64)
    for n, m in [(40, 45), (1, 2), (100, 101), (1000, 1500)]:
        before, after = jump_bucket(keys, n), jump_bucket(keys, m)
        moved = before != after
        assert (after[moved] >= n).all(), "a moved key went to an old bucket"
        share = moved.mean()
        assert abs(share - (m - n) / m) < 0.01, (n, m, share)
    with pytest.raises(ValueError, match="buckets must be positive"):
        jump_bucket(keys[:3], 0)


# --- the example plan: grow and shrink customers ---------------------------------------------

REFERENCES = {  # entity -> its columns that refer to customers (directly or via its parent)
    "bank_accounts": {"customer_id"}, "contracts": {"customer_id"},
    "credit_limits": {"customer_id"}, "loans": {"customer_id"},
}
EXPANSIONS = {"customers", "addresses"}  # the grown entity and its per-parent children


def _diff_json(tmp: Path, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    a, b = write_plan(old, tmp / "old.plan.json"), write_plan(new, tmp / "new.plan.json")
    result = run_cli_inprocess(["diff", str(a), str(b), "--json"], cwd=tmp)
    assert result.code == 1, result.text
    return json.loads(result.out)


def _customers(count: int) -> list[tuple[str, str]]:
    line = "customers:     {count: %d, cap: 100}"
    return [(line % 40, line % count)]


@pytest.mark.parametrize(("old_count", "new_count"), [(40, 45), (45, 40)])
def test_changing_customers_changes_only_their_rows_and_the_minimum_of_references(
        tmp_path: Path, old_count: int, new_count: int) -> None:
    old = compile_variant(tmp_path / "a", _customers(old_count))
    new = compile_variant(tmp_path / "b", _customers(new_count))
    assert old["generators"]["version"] == new["generators"]["version"] == GENERATOR_VERSION
    diff = _diff_json(tmp_path, old, new)["entities"]
    grow = new_count > old_count
    delta, bigger = abs(new_count - old_count), max(old_count, new_count)

    customers = diff["customers"]
    assert (customers["added"], customers["removed"], customers["changed"]) == \
        ((delta, 0, 0) if grow else (0, delta, 0))
    gone_or_new = set(customers["added_keys"] if grow else customers["removed_keys"])
    addresses = diff["addresses"]
    assert addresses["changed"] == 0
    assert (addresses["removed"] if grow else addresses["added"]) == 0
    assert (addresses["added"] if grow else addresses["removed"]) > 0

    for name, entity in diff.items():
        if name in EXPANSIONS:
            continue
        assert entity["added"] == entity["removed"] == 0, name
        if name not in REFERENCES:
            assert entity["changed"] == 0, f"{name}: rows changed without referring to customers"
            continue
        rows = entity["old_rows"]
        bound = math.ceil(delta / bigger * rows) + 1
        assert entity["changed"] <= bound, (name, entity["changed"], bound)
        assert len(entity["rows"]) == entity["changed"]
        for row in entity["rows"]:
            assert set(row["columns"]) <= REFERENCES[name], (name, row["columns"])
            for change in row["columns"].values():
                # growing: every moved reference goes to a new customer; shrinking: only the
                # references to a removed customer move
                assert (change["new"] if grow else change["old"]) in gone_or_new


def test_changing_batch_size_changes_no_row(tmp_path: Path) -> None:
    old = compile_variant(tmp_path / "a")
    new = compile_variant(tmp_path / "b", [("mode: baseline ", "batch_size: 7\nmode: baseline ")])
    assert len(new["batches"]) > len(old["batches"])
    diff = _diff_json(tmp_path, old, new)["entities"]
    for name, entity in diff.items():
        assert (entity["added"], entity["removed"], entity["changed"]) == (0, 0, 0), name


def test_the_stability_table_names_only_registered_generators() -> None:
    from seedc.program.functions import SIGNATURES
    from seedc.program.stability import SIZE_DEPENDENT

    assert set(SIZE_DEPENDENT) <= set(SIGNATURES)
    assert "pick_row" in SIZE_DEPENDENT


def test_digest_reads_drop_the_sort_of_every_compiled_read() -> None:
    from seedc.runtime.state import unordered

    plan = compile_variant_default()
    for entity in plan["entities"]:
        read = entity["sql"]["read"]
        assert unordered(read) != read, entity["name"]
        assert "ORDER BY" not in unordered(read)


def compile_variant_default() -> dict[str, Any]:
    from tests.runtime_support import acme_plan

    return acme_plan()
