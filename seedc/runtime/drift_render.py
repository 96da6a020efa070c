"""Text and JSON rendering of a drift report (`seedc diff PLAN --dsn [--json]`).

Changed rows name their differing columns as `planned -> found`; PII columns show `[PII]`
only (session 6). The JSON keeps the report's fields and adds, per entity, `changed_rows`
(`[{"key", "columns": {col: {"old": planned, "new": found}}}]`, the same row shape as
`seedc diff OLD NEW --json`) and `changed_rows_not_detailed`.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from seedc.plan.diff_text import Line
from seedc.runtime.drift import DriftReport, EntityDrift

__all__ = ["render_drift_json", "render_drift_lines", "render_drift_text"]


def _value(value: object) -> str:
    return "[PII]" if value == "[PII]" else json.dumps(value, ensure_ascii=False)


def _entity_lines(e: EntityDrift, limit: int) -> list[Line]:
    lines: list[Line] = [(f"  {e.entity}: planned {e.planned}, found {e.found}: "
                          f"{len(e.missing)} missing, {len(e.changed)} changed, "
                          f"{len(e.unexpected)} not in the plan", "bold")]
    detail = {row.key: row for row in e.changed_rows}
    for label, keys, style in (("missing", e.missing, "red"), ("changed", e.changed, "yellow"),
                               ("not in plan", e.unexpected, "red")):
        for k in keys[:limit]:
            lines.append((f"      {label}: {k}", style))
            row = detail.get(k) if label == "changed" else None
            if row is not None:
                lines += [(f"          {col}: {_value(c.old)} -> {_value(c.new)}", style)
                          for col, c in row.columns.items()]
        if len(keys) > limit:
            lines.append((f"      … {len(keys) - limit} more {label} (see --json)", "dim"))
    if e.changed_rows_not_detailed:
        lines.append((f"      columns named for {len(e.changed_rows)} changed row(s); "
                      f"{e.changed_rows_not_detailed} more not compared column by column",
                      "dim"))
    return lines


def render_drift_lines(report: DriftReport, limit: int = 10) -> list[Line]:
    """Headline, then per drifted entity its counts, keys and changed columns."""
    head: Line = (
        (f"drift: tenant {report.tenant} ({report.environment}) vs plan {report.plan_hash}",
         "bold red") if report.drifted else
        (f"no drift: tenant {report.tenant} ({report.environment}) matches "
         f"{report.plan_hash}", "green"))
    lines = [head]
    for e in report.entities:
        if e.missing or e.changed or e.unexpected:
            lines += _entity_lines(e, limit)
    return lines


def render_drift_text(report: DriftReport, limit: int = 10) -> str:
    return "\n".join(text for text, _ in render_drift_lines(report, limit))


def render_drift_json(report: DriftReport) -> str:
    return json.dumps({"drifted": report.drifted, **asdict(report)}, indent=2, sort_keys=True,
                      ensure_ascii=False)
