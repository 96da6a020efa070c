"""The evidence report: one canonical, hashable record of what a run did (seeds sessions 4, 5, 7).

The report is plain JSON with no floats (RFC 8785 via `canonical_bytes`): durations are
integer milliseconds, any other non-integer number becomes its decimal string. It names the
key *version* and where the key came from, never the key. `created_at` is the one clock read
in seedc's artifacts: evidence records when it was made, plans never do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from seedc.plan.canonical import canonical_bytes

__all__ = [
    "REPORT_FORMAT",
    "build_report",
    "evidence_name",
]

#: Written into every report so a reader knows which layout it holds.
REPORT_FORMAT = "seedc-evidence/1"

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class _HasAsJson(Protocol):
    def as_json(self) -> dict[str, Any]: ...


def _ms(seconds: Any) -> int:
    """Seconds (float or int) as integer milliseconds; canonical JSON has no floats."""
    return round(float(seconds or 0) * 1000)


def _plain(value: Any) -> Any:
    """A JSON value without floats: floats and Decimals become decimal strings."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"evidence values must be JSON data, not {type(value).__name__}")


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_report(
    run: Mapping[str, Any] | _HasAsJson,
    plan: Mapping[str, Any],
    *,
    trace_id: str | None,
    span_id: str | None,
    seedc_version: str,
    key_version: int | None,
    measured: Mapping[str, Any],
    previous_sha256: str | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The report body for one run, ready for `canonical_bytes`.

    `run` is `RunReport.as_json()` (or the RunReport itself); `plan` the plan that was applied.
    Only named fields of `run` are copied, so nothing else it may carry reaches the evidence.
    `measured` holds what the caller measured beyond the run report (e.g. bytes sent); rows and
    duration are taken from the run. `previous_sha256` is the store's `last_sha256()`.
    """
    r: Mapping[str, Any] = run if isinstance(run, Mapping) else run.as_json()
    chain = {b["id"]: b.get("chain_hash") for b in plan.get("batches", [])}
    planned_rows = {b["id"]: b.get("row_count") for b in plan.get("batches", [])}
    batches = [
        {
            "id": b["id"],
            "entity": b["entity"],
            "status": b["status"],
            "rows": int(b["rows"]),
            "planned_rows": planned_rows.get(b["id"]),
            "retries": int(b.get("retries", 0)),
            "duration_ms": _ms(b.get("seconds")),
            "chain_hash": chain.get(b["id"]),
        }
        for b in r.get("batches", [])
    ]
    checks = [
        {"name": c["name"], "ok": bool(c["ok"]), "rule": c.get("rule"), "detail": c.get("detail")}
        for c in r.get("checks", [])
    ]
    by_status: dict[str, int] = {}
    for b in batches:
        by_status[b["status"]] = by_status.get(b["status"], 0) + 1
    duration_ms = _ms(r.get("seconds"))
    report = {
        "format": REPORT_FORMAT,
        "run_id": r["run_id"],
        "plan_hash": r["plan_hash"],
        "sources": plan.get("sources"),
        "tenant": r["tenant"],
        "tenant_id": plan.get("tenant_id"),
        "environment": r["environment"],
        "mode": r["mode"],
        "dry_run": bool(r["dry_run"]),
        "status": r["status"],
        "message": r.get("message", ""),
        "key_version": key_version,
        "key_source": r.get("key_source") or None,
        "checks": checks,
        "change": r.get("change"),  # an incremental run: OLD/NEW plan hashes, delta counts
        "batches": batches,
        "totals": {
            "batches": len(batches),
            "batches_planned": len(chain),
            "batches_by_status": by_status,
            "rows_written": int(r.get("rows_written", 0)),
            "retries": sum(b["retries"] for b in batches),
            "duration_ms": duration_ms,
        },
        "cost": {
            "estimated": plan.get("estimate"),
            "measured": {
                "rows": int(r.get("rows_written", 0)),
                "duration_ms": duration_ms,
                **dict(measured),
            },
        },
        "trace_id": trace_id,
        "span_id": span_id,
        "seedc_version": seedc_version,
        "previous_sha256": previous_sha256,
        "created_at": _utc_iso(created_at or datetime.now(UTC)),
    }
    plain: dict[str, Any] = _plain(report)
    canonical_bytes(plain)  # fail here, not at signing time, if anything is not canonical JSON
    return plain


def evidence_name(report: Mapping[str, Any]) -> str:
    """`<created_at>-<tenant>-<run_id>.json`: names sort in creation order (the chain's order)."""
    stamp = str(report["created_at"]).replace("-", "").replace(":", "")
    tenant = _UNSAFE_NAME.sub("_", str(report["tenant"]))
    run_id = _UNSAFE_NAME.sub("_", str(report["run_id"]))
    return f"{stamp}-{tenant}-{run_id}.json"
