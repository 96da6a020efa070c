"""The plan: the artifact the compiler writes and the runtime reads.

This package is the only code both sides import: the plan's typed model and its JSON Schema
(`model`, `schema/plan.schema.json`), its canonical serialisation and hashing, the batch hash
chain (`chain`, so the runtime can recompute it), the row encoding and digests, reading and
verifying plan files, and `compile --check`. It never imports lark, jinja2 or the compiler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seedc.plan.canonical import canonical_bytes, plan_hash, pretty_bytes, sha256_hex
    from seedc.plan.chain import chain_hashes, chain_next, chain_seed
    from seedc.plan.model import Plan, plan_json_schema, validate_plan

#: Names re-exported here, imported on first use: the runtime's generation workers import
#: `seedc.plan.rows` and must not pay for pydantic and the model (~0.1 s a process start).
_HOMES = {
    "canonical_bytes": "canonical", "plan_hash": "canonical", "pretty_bytes": "canonical",
    "sha256_hex": "canonical", "chain_hashes": "chain", "chain_next": "chain",
    "chain_seed": "chain", "Plan": "model", "plan_json_schema": "model",
    "validate_plan": "model",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'seedc.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(f"seedc.plan.{home}"), name)

__all__ = [
    "Plan",
    "canonical_bytes",
    "chain_hashes",
    "chain_next",
    "chain_seed",
    "plan_hash",
    "plan_json_schema",
    "pretty_bytes",
    "sha256_hex",
    "validate_plan",
]
