"""Plan format version and strict reading: a plan is verified before anything trusts it.

Like Terraform's planfile, an unknown format version is refused by name, and a plan whose
hash does not match its content is refused as tampered or stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedc.errors import InvalidInput
from seedc.plan.canonical import plan_hash
from seedc.plan.model import validate_plan

__all__ = ["FORMAT_VERSION", "GENERATOR_VERSION", "read_plan", "verify_plan"]

FORMAT_VERSION = "seedc.plan/1"
GENERATOR_VERSION = "1"
REQUIRED = (
    "format", "compiler", "generators", "sources", "tenant", "tenant_id", "environment", "mode",
    "reference_datetime", "keys", "guards", "program", "entities", "batches", "estimate",
    "rows_inline", "plan_hash",
)


def verify_plan(plan: Any, where: str = "plan") -> dict[str, Any]:
    """Check format version, required fields and the hash; return the plan."""
    if not isinstance(plan, dict):
        raise InvalidInput(f"{where}: not a seedc plan (expected a JSON object)")
    fmt = plan.get("format")
    if fmt != FORMAT_VERSION:
        raise InvalidInput(
            f"{where}: plan format {fmt!r} is not supported; this seedc reads {FORMAT_VERSION!r}",
            rule="plans are versioned and strict",
        )
    missing = [k for k in REQUIRED if k not in plan]
    if missing:
        raise InvalidInput(f"{where}: plan lacks field(s): {', '.join(missing)}")
    expected = plan_hash(plan)
    if plan["plan_hash"] != expected:
        raise InvalidInput(
            f"{where}: plan hash mismatch (recorded {plan['plan_hash']}, content {expected}); "
            "the plan was edited after compiling: recompile it",
            rule="plan hash verified before apply",
        )
    return plan


def read_plan(path: Path) -> dict[str, Any]:
    """Load and verify a plan file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read plan: {exc.strerror}") from None
    try:
        plan = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    validate_plan(verify_plan(plan, str(path)), str(path))
    return plan
