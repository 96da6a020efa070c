"""The plan: the artifact the compiler writes and the runtime reads.

This package is the only code both sides import: the plan's typed model and its JSON Schema
(`model`, `schema/plan.schema.json`), its canonical serialisation and hashing, the batch hash
chain (`chain`, so the runtime can recompute it), the row encoding and digests, reading and
verifying plan files, and `compile --check`. It never imports lark, jinja2 or the compiler.
"""

from seedc.plan.canonical import canonical_bytes, plan_hash, pretty_bytes, sha256_hex
from seedc.plan.chain import chain_hashes, chain_next, chain_seed
from seedc.plan.model import Plan, plan_json_schema, validate_plan

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
