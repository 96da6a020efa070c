"""The batch hash chain: each batch's `chain_hash` covers every batch before it.

Why in `seedc.plan` and not the compiler: the runtime recomputes the chain to prove that a
plan's checkpoints (and the prefix of batches they stand for) are what the plan says, and the
runtime never imports the compiler. Like Atlas's `atlas.sum`, one running SHA-256, so editing
an early batch changes every later `chain_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from seedc.plan.canonical import canonical_bytes, sha256_hex

__all__ = ["CHAIN_HEAD_FIELDS", "chain_hashes", "chain_next", "chain_seed"]

#: What the chain starts from: checkpoints are bound to tenant, environment, mode, clock, key.
CHAIN_HEAD_FIELDS = ("tenant", "environment", "mode", "reference_datetime", "keys")
_OUTSIDE = ("chain_hash", "rows")  # the link itself; inline rows are covered by rows_digest


def chain_seed(plan: Mapping[str, Any]) -> str:
    """Start of the batch hash chain: binds checkpoints to tenant, env, mode, clock and key."""
    head = {k: plan[k] for k in CHAIN_HEAD_FIELDS}
    return sha256_hex(canonical_bytes(head))


def chain_next(previous: str, batch: Mapping[str, Any]) -> str:
    """Chained hash of a batch: covers every earlier batch through `previous`."""
    body = {k: v for k, v in batch.items() if k not in _OUTSIDE}
    return hashlib.sha256(bytes.fromhex(previous) + canonical_bytes(body)).hexdigest()


def chain_hashes(plan: Mapping[str, Any]) -> list[str]:
    """Every batch's chain hash, recomputed from the plan (to compare with what it records)."""
    previous = chain_seed(plan)
    out: list[str] = []
    for batch in plan["batches"]:
        previous = chain_next(previous, batch)
        out.append(previous)
    return out
