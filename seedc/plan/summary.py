"""`seedc show`: one screen a reviewer reads in a pull request."""

from __future__ import annotations

from typing import Any

__all__ = ["render_summary"]


def _canary(canary: dict[str, Any]) -> str:
    """``off``, or ``on`` with its percent and tenants: words, never a Python dict repr."""
    if not canary.get("enabled"):
        return "off"
    parts = ["on"]
    if canary.get("percent") is not None:
        parts.append(f"{canary['percent']}%")
    if canary.get("tenants"):
        parts.append("tenants " + ", ".join(canary["tenants"]))
    return " ".join(parts)


def render_summary(plan: dict[str, Any]) -> str:
    """The plan on one screen, in words: what a reviewer checks before approving."""
    g = plan["guards"]
    est = plan["estimate"]
    keys = plan["keys"]
    lines = [
        f"plan {plan['plan_hash']}  (format {plan['format']}, seedc {plan['compiler']['version']})",
        f"tenant {plan['tenant']} ({plan['tenant_id']})  environment {plan['environment']}  "
        f"mode {plan['mode']}",
        f"reference_datetime {plan['reference_datetime']}  keys {keys['ref']} "
        f"v{keys['salt_version']} {keys['algorithm']}",
        f"model {plan['sources']['model']['name']} v{plan['sources']['model']['version']}  "
        f"rows {'inline' if plan['rows_inline'] else 'regenerated at apply from the program'}",
        "guards:",
        f"  window {g['window']['start_utc']}–{g['window']['end_utc']} UTC   "
        f"budget rows≤{g['budget']['max_rows']} bytes≤{g['budget']['max_bytes']} "
        f"seconds≤{g['budget']['max_seconds']}",
        f"  flags {', '.join(g['flags']) or '(none)'}   canary {_canary(g['canary'])}   "
        f"timeouts statement {g['timeouts']['statement_ms']}ms lock {g['timeouts']['lock_ms']}ms",
        f"  schema head {g['schema']['migrations_head']} fingerprint {g['schema']['fingerprint']}",
        f"estimate: {est['rows']} rows, {est['bytes']} bytes, ~{est['seconds']} s",
        f"{'entity':<16} {'table':<22} {'rows':>10} {'batches':>8}  pii",
    ]
    per_entity: dict[str, int] = {}
    for batch in plan["batches"]:
        per_entity[batch["entity"]] = per_entity.get(batch["entity"], 0) + 1
    for entity in plan["entities"]:
        lines.append(
            f"{entity['name']:<16} {entity['table']:<22} {entity['rows']:>10} "
            f"{per_entity.get(entity['name'], 0):>8}  {', '.join(entity['pii']) or '-'}"
        )
    return "\n".join(lines)
