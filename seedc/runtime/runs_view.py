"""The run index as people read it: `seedc runs` and `seedc runs show` (issue 11).

Why a module of its own: the CLI stays a thin edge; the queries (runs, resets from the audit
trail, evidence) and their text rendering live here and are tested through the CLI. A dry run
is shown as `dry-run` with the rows it *would* write, never as "succeeded 618 rows"; a reset
(which leaves only an audit row, session 8) is listed as `reset` with the rows it deleted.
The audit trail is append-only for the apply role (INSERT only), so it is read when the
connected role may read it and otherwise named as needing another role.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import psycopg

from seedc.errors import InvalidInput

__all__ = ["WIDTH", "RunRow", "audit_readable", "audit_trail", "find_run", "list_runs",
           "render_list", "render_show", "shown_status"]

WIDTH = 100  # the list's columns fit a 100-character terminal
_PREFIX = re.compile(r"[0-9a-fA-F-]{1,36}")

RunRow = dict[str, Any]

_RUN_COLUMNS = ("run_id", "started_at", "finished_at", "tenant", "environment", "mode",
                "dry_run", "status", "detail", "rows_written", "plan_hash", "evidence_uri",
                "evidence_version_id", "evidence_file_sha256", "evidence_retain_until",
                "evidence_status")
_RUNS = ("SELECT r.run_id::text, r.started_at, r.finished_at, r.tenant, r.environment, r.mode, "
         "r.dry_run, r.status, r.detail, r.rows_written, r.plan_hash, e.uri, e.version_id, "
         "e.sha256, e.retain_until, e.status FROM seedc.runs r "
         "LEFT JOIN seedc.evidence e ON e.run_id = r.run_id")
_RESETS = ("SELECT run_id::text, at, tenant, environment, detail FROM seedc.audit "
           "WHERE event = 'reset' AND run_id IS NOT NULL")


def audit_readable(conn: psycopg.Connection) -> bool:
    """Whether this role may read seedc.audit (the apply role may only append to it)."""
    row = conn.execute("SELECT has_table_privilege('seedc.audit', 'SELECT')").fetchone()
    return bool(row and row[0])


def shown_status(row: RunRow) -> str:
    """`dry-run` for a dry run that went through, else the stored status."""
    if row["dry_run"] and row["status"] in ("succeeded", "noop"):
        return "dry-run"
    return str(row["status"])


def _with_view(row: RunRow) -> RunRow:
    row["shown_status"] = shown_status(row)
    row["would_write"] = row["rows_written"] if row["dry_run"] else 0
    return row


def _reset_row(run_id: str, at: datetime, tenant: str, environment: str,
               detail: dict[str, Any]) -> RunRow:
    deleted = detail.get("deleted") if isinstance(detail, dict) else None
    rows = sum(v for k, v in deleted.items() if isinstance(v, int)
               and not k.startswith("seedc.")) if isinstance(deleted, dict) else 0
    row: RunRow = dict.fromkeys(_RUN_COLUMNS)
    row.update(run_id=run_id, started_at=at, finished_at=at, tenant=tenant,
               environment=environment, mode="reset", dry_run=False, status="reset",
               detail="coordinated reseed: the tenant's rows and checkpoints deleted",
               rows_written=0, rows_deleted=rows, plan_hash=detail.get("plan_hash", ""))
    return _with_view(row)


def list_runs(conn: psycopg.Connection, limit: int) -> list[RunRow]:
    """Newest first: runs, and resets when the audit trail is readable."""
    rows = [_with_view(dict(zip(_RUN_COLUMNS, r, strict=True))) for r in conn.execute(
        _RUNS + " ORDER BY r.started_at DESC LIMIT %s", (limit,)).fetchall()]
    if audit_readable(conn):
        rows += [_reset_row(*r) for r in conn.execute(
            _RESETS + " ORDER BY at DESC LIMIT %s", (limit,)).fetchall()]
    rows.sort(key=lambda r: r["started_at"], reverse=True)
    return rows[:limit]


def find_run(conn: psycopg.Connection, prefix: str) -> RunRow:
    """The one run (or reset) whose id starts with `prefix`, like git: ambiguous → exit 2."""
    if not _PREFIX.fullmatch(prefix):
        raise InvalidInput(f"run id {prefix!r} is not a run id or a prefix of one (hex digits "
                           "and dashes)", rule="runs.run-id")
    like = prefix.lower() + "%"
    found = [_with_view(dict(zip(_RUN_COLUMNS, r, strict=True))) for r in conn.execute(
        _RUNS + " WHERE r.run_id::text LIKE %s ORDER BY r.started_at DESC LIMIT 11",
        (like,)).fetchall()]
    if audit_readable(conn):
        found += [_reset_row(*r) for r in conn.execute(
            _RESETS + " AND run_id::text LIKE %s ORDER BY at DESC LIMIT 11", (like,)).fetchall()]
    if not found:
        raise InvalidInput(f"no run {prefix}: `seedc runs` lists the recent ones",
                           rule="runs.run-id")
    if len(found) > 1:
        raise InvalidInput(
            f"run id prefix {prefix} is ambiguous: give more characters", rule="runs.run-id",
            details=[f"{r['run_id']}  {r['started_at']:%Y-%m-%d %H:%M:%S}  {r['tenant']}/"
                     f"{r['environment']}  {r['shown_status']}" for r in found[:10]])
    return found[0]


def audit_trail(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's audit rows in order: time, event, rule and the detail object."""
    return [{"at": at, "event": event, "rule": rule, "detail": detail}
            for at, event, rule, detail in conn.execute(
                "SELECT at, event, rule, detail FROM seedc.audit WHERE run_id::text = %s "
                "ORDER BY id", (run_id,)).fetchall()]


def _rows_cell(row: RunRow) -> str:
    if row["status"] == "reset":
        return f"-{row['rows_deleted']}"
    if row["dry_run"]:
        return f"~{row['rows_written']}"
    return str(row["rows_written"])


def _short_hash(value: object) -> str:
    return str(value or "-").removeprefix("sha256:")[:12]


def render_list(rows: list[RunRow]) -> str:
    """A header and one line per run within WIDTH; a URI too long goes on its own line."""
    head = (f"{'RUN':<8}  {'STARTED (UTC)':<16}  {'TENANT/ENV':<16}  {'STATUS':<9}  "
            f"{'ROWS':>8}  {'PLAN':<12}  EVIDENCE")
    lines = [head]
    for r in rows:
        who = f"{r['tenant']}/{r['environment']}"
        who = who if len(who) <= 16 else who[:15] + "…"
        start = f"{r['run_id'][:8]:<8}  {r['started_at']:%Y-%m-%d %H:%M}  {who:<16}  " \
                f"{r['shown_status']:<9}  {_rows_cell(r):>8}  {_short_hash(r['plan_hash']):<12}  "
        uri = r["evidence_uri"] or "-"
        if len(start) + len(uri) <= WIDTH:
            lines.append(start + uri)
        else:
            lines += [start.rstrip() + " ↓", f"  evidence {uri}"]
    lines.append("ROWS: written; ~N a dry run would write N; -N a reset deleted N. "
                 "`seedc runs show RUN` for one run.")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def _short(detail: Any) -> str:
    """The gist of an audit detail: `check: detail` for preflight, else compact JSON without
    the dry_run flag (the run's own row says it)."""
    if isinstance(detail, dict) and "check" in detail:
        return f"{detail['check']}: {detail.get('detail', '')}"
    if isinstance(detail, dict):
        detail = {k: v for k, v in detail.items() if k != "dry_run"}
    if detail in (None, {}):
        return ""
    return json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False)


def _trail_line(a: dict[str, Any]) -> str:
    """`  time  event  rule  detail`, within WIDTH."""
    head = f"  {a['at']:%H:%M:%S}  {_cut(str(a['event']), 14):<14}  " \
           f"{_cut(a['rule'] or '-', 40):<40}"
    rest = _short(a["detail"])
    return (head + "  " + _cut(rest, WIDTH - len(head) - 2)).rstrip() if rest else head.rstrip()


def render_show(row: RunRow, trail: list[dict[str, Any]] | None, role: str) -> str:
    """One run: its fields, evidence (report vs file sha256 named apart) and audit trail."""
    status = row["shown_status"]
    if row["dry_run"]:
        rows = f"{row['rows_written']} (would write: a dry run, rolled back)"
    elif row["status"] == "reset":
        rows = f"{row['rows_deleted']} deleted"
    else:
        rows = str(row["rows_written"])
    fields = [("run_id", row["run_id"]), ("status", status), ("tenant", row["tenant"]),
              ("environment", row["environment"]), ("mode", row["mode"]),
              ("dry_run", row["dry_run"]), ("rows", rows), ("plan_hash", row["plan_hash"]),
              ("started_at", row["started_at"]), ("finished_at", row["finished_at"]),
              ("detail", row["detail"])]
    if row["evidence_uri"]:
        fields += [("evidence_uri", row["evidence_uri"]),
                   ("evidence", row["evidence_status"]),
                   ("file sha256", row["evidence_file_sha256"]),
                   ("version_id", row["evidence_version_id"]),
                   ("retain_until", row["evidence_retain_until"])]
    lines = [f"{name:<13} {'-' if value is None else value}" for name, value in fields]
    if trail is None:
        lines.append(f"audit trail   not readable by role {role} (it may only append to "
                     "seedc.audit): pass an admin --dsn to see it")
        return "\n".join(lines)
    lines.append(f"audit trail   {len(trail)} event(s)")
    lines += [_trail_line(a) for a in trail]
    return "\n".join(lines)
