"""No key and no resolved PII value in a plan, a log line or an evidence report (seeds
sessions 1, 4, 6, 18): a full run through the CLI, then every artifact is scanned."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import psycopg

from tests.runtime_support import Target, acme_plan

PII_COLUMNS = {
    "app.users": ["email"],
    "app.consultants": ["cpf", "email", "phone"],
    "app.customers": ["cpf", "email", "phone"],
    "app.suppliers": ["cnpj", "email", "phone"],
}


def _secrets(env_file: Path) -> list[str]:
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    out = []
    for name in ("SEEDC_DEV_FPE_KEY", "SEEDC_DEV_SIGNING_KEY"):
        if name in values:
            raw = bytes.fromhex(values[name].strip())
            out += [raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(),
                    base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    return out


def _pii(admin_dsn: str) -> list[str]:
    values = []
    with psycopg.connect(admin_dsn) as conn:
        for table, columns in PII_COLUMNS.items():
            for column in columns:
                rows = conn.execute(f"SELECT {column} FROM {table}").fetchall()  # noqa: S608
                values += [r[0] for r in rows]
    return values


def test_full_run_leaks_no_key_and_no_resolved_pii(target: Target) -> None:
    plan: dict[str, Any] = acme_plan()
    plan_file = target.plan_file(plan)
    result = target.cli("apply", str(plan_file), "--dsn", target.apply_dsn,
                        env={"SEEDC_LOG_LEVEL": "INFO"})
    assert result.code == 0, result.text
    assert '"event": "batch.written"' in result.err  # the JSON log lines were captured
    pii = _pii(target.admin_dsn)
    assert len(pii) > 100
    assert all(v.startswith("+55") or "@" in v or v.isdigit() for v in pii)
    secrets = _secrets(target.env_file)
    assert len(secrets) == 8  # FPE key and signing key, four encodings each
    evidence = sorted((target.tmp / ".seedc" / "evidence").iterdir())
    assert evidence
    artifacts = {
        "plan": plan_file.read_text(),
        "stdout": result.out,
        "logs": result.err,
        **{f"evidence {p.name}": p.read_text() for p in evidence},
    }
    with psycopg.connect(target.admin_dsn) as conn:
        artifacts["audit"] = "\n".join(str(r) for r in conn.execute(
            "SELECT event, rule, detail FROM seedc.audit").fetchall())
    for name, text in artifacts.items():
        for secret in secrets:
            assert secret not in text, f"key material in {name}"
        leaked = [v for v in pii if v in text]
        assert not leaked, f"{len(leaked)} resolved PII value(s) in {name}, e.g. {leaked[0]!r}"
