"""Issue 11, diffs a reviewer can read: `seedc diff OLD NEW`, `compile --check` and drift
(`seedc diff PLAN --dsn`), text and `--json`.

The plan pair: customers grow 40 -> 45, the tenant's name (a non-PII column) changes, and the
customers' email generator (a PII column, session 6) changes. Expectations come from the two
plan files themselves (independent oracles), never from the diff code.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from tests.manifests import REPO, variant
from tests.runtime_support import Target

ACME = REPO / "plans" / "dev" / "acme.plan.json"
ANSI = "\x1b["


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text("utf-8")))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, compiled plan) of the changed variant of manifests/dev/acme.yaml."""
    tmp = tmp_path_factory.mktemp("pair")
    manifest = variant(
        tmp,
        [("customers:     {count: 40, cap: 100}", "customers:     {count: 45, cap: 100}"),
         ('tenant_name: "Acme Pagamentos S.A."', 'tenant_name: "Acme Bank S.A."')],
        model_edits=[('email(\\"cliente\\")', 'email(\\"client\\")')])
    new = tmp / "new.plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(new)])
    assert result.exit_code == 0, result.output
    return manifest, new


def _rechained(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Oracle: batches whose every field but the chained hash (and ordinal) is equal."""
    by_key = {b["id"].split("-", 1)[1]: b for b in old["batches"]}
    out = []
    for b in new["batches"]:
        a = by_key.get(b["id"].split("-", 1)[1])
        if a is None:
            continue
        strip = ("chain_hash", "id")
        if ({k: v for k, v in a.items() if k not in strip}
                == {k: v for k, v in b.items() if k not in strip}
                and a["chain_hash"] != b["chain_hash"]):
            out.append(b["id"].split("-", 1)[1])
    return out


def _rows(plan: dict[str, Any], entity: str) -> dict[str, dict[str, Any]]:
    out = {}
    for b in plan["batches"]:
        if b["entity"] == entity:
            out.update({r[0]: dict(zip(b["columns"], r, strict=True)) for r in b["rows"]})
    return out


def test_plan_diff_text_folds_rechained_batches_and_masks_pii(pair: tuple[Path, Path]) -> None:
    _, new_path = pair
    old, new = _load(ACME), _load(new_path)
    result = CliRunner().invoke(cli, ["diff", str(ACME), str(new_path)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"plan {old['plan_hash']} -> {new['plan_hash']}"
    rechained = _rechained(old, new)
    assert rechained, "the change must leave some batches equal but re-chained"
    assert f"  {len(rechained)} batches re-chained (only the chained hash changed)" in lines
    assert not any(f"batch {key}" in line for key in rechained for line in lines)

    old_c, new_c = _rows(old, "customers"), _rows(new, "customers")
    added = [k for k in new_c if k not in old_c]
    assert len(added) == 5
    assert not [k for k in old_c if k not in new_c]
    assert f"  customers: 40 -> 45 rows (+5): 5 added, 0 removed, {len(old_c)} changed" in lines
    assert all(f"      + row {k}" in lines for k in added)

    tenant = next(iter(_rows(old, "tenants")))
    at = lines.index(f"      ~ row {tenant}")
    assert lines[at + 1] == '          name: "Acme Pagamentos S.A." -> "Acme Bank S.A."'
    assert "          email: [PII] -> [PII]" in lines
    for row in old_c.values():  # no placeholder input of a PII cell is printed
        assert row["email"]["in"] not in result.stdout
    assert ANSI not in result.stdout  # not a terminal: plain text


def test_plan_diff_json_has_the_documented_shape(pair: tuple[Path, Path]) -> None:
    _, new_path = pair
    old, new = _load(ACME), _load(new_path)
    result = CliRunner().invoke(cli, ["diff", str(ACME), str(new_path), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"changed", "header", "batches", "entities"}
    assert data["changed"] is True
    assert {"field": "sources.manifest_sha256", "old": old["sources"]["manifest_sha256"],
            "new": new["sources"]["manifest_sha256"]} in data["header"]
    assert data["batches"]["rechained"] == _rechained(old, new)
    assert "customers-0001" in [b["batch"] for b in data["batches"]["changed"]]
    assert data["batches"]["added"] == []
    assert data["batches"]["removed"] == []

    customers = data["entities"]["customers"]
    assert (customers["added"], customers["removed"], customers["changed"]) == (5, 0, 40)
    assert len(customers["rows"]) == 40
    assert all(r["columns"] == {"email": {"old": "[PII]", "new": "[PII]"}}
               for r in customers["rows"])
    tenants = data["entities"]["tenants"]
    assert (tenants["added"], tenants["removed"], tenants["changed"]) == (0, 0, 1)
    assert tenants["rows"] == [{"key": next(iter(_rows(old, "tenants"))), "columns": {
        "name": {"old": "Acme Pagamentos S.A.", "new": "Acme Bank S.A."}}}]
    assert "users" not in data["entities"]  # unchanged entities are not listed


def test_identical_plans_diff_is_empty_in_text_and_json() -> None:
    text = CliRunner().invoke(cli, ["diff", str(ACME), str(ACME)])
    assert text.exit_code == 0
    assert text.stdout.strip() == f"no differences ({_load(ACME)['plan_hash']})"
    data = json.loads(CliRunner().invoke(cli, ["diff", str(ACME), str(ACME), "--json"]).stdout)
    assert data["changed"] is False
    assert data["entities"] == {}
    assert data["header"] == []


def test_compile_check_shows_the_diff_cut_with_a_count_and_the_real_manifest(
        pair: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, new_path = pair
    committed = tmp_path / "acme.plan.json"
    committed.write_bytes(ACME.read_bytes())
    before = committed.read_bytes()
    result = CliRunner().invoke(cli, ["compile", str(manifest), "--check", str(committed)])
    assert result.exit_code == 1, result.output
    assert (f"{committed}: committed plan is stale; regenerate it with "
            f"`seedc compile {manifest} -o {committed}`") in result.stderr
    full = CliRunner().invoke(cli, ["diff", str(committed), str(new_path)]).stdout.splitlines()
    shown = result.stdout.splitlines()
    from seedc.plan.check import MAX_CHECK_LINES

    assert len(full) > MAX_CHECK_LINES  # this diff is long enough to be cut
    assert len(shown) == MAX_CHECK_LINES + 1
    body, last = shown[:-1], shown[-1]
    rest = iter(full)
    assert all(line in rest for line in body)  # the same diff as `seedc diff`, in order
    summaries = [line for line in full if not line.startswith(" " * 6)]
    assert [line for line in body if not line.startswith(" " * 6)] == summaries
    assert last == (
        f"… {len(full) - len(body)} more lines left out; see all with `seedc compile "
        f"{manifest} -o NEW.plan.json && seedc diff {committed} NEW.plan.json`")
    assert any("batches re-chained" in line for line in shown)
    assert committed.read_bytes() == before  # --check writes nothing


def test_compile_check_of_a_small_change_shows_it_whole(tmp_path: Path) -> None:
    manifest = variant(tmp_path, [('tenant_name: "Acme Pagamentos S.A."',
                                   'tenant_name: "Acme Bank S.A."')])
    result = CliRunner().invoke(cli, ["compile", str(manifest), "--check", str(ACME)])
    assert result.exit_code == 1, result.output
    assert '          name: "Acme Pagamentos S.A." -> "Acme Bank S.A."' in result.stdout
    assert "left out" not in result.stdout
    assert f"`seedc compile {manifest} -o {ACME}`" in result.stderr


def _run_on_a_tty(args: list[str], env: dict[str, str]) -> str:
    """stdout of `seedc ARGS` when stdout is a pseudo-terminal (NO_COLOR only if in `env`)."""
    leader, follower = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen([sys.executable, "-m", "seedc.cli", *args], stdout=follower,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env={**base, "PYTHONPATH": str(REPO), **env}, cwd=REPO)
    os.close(follower)
    out = b""
    try:
        while select.select([leader], [], [], 30)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
        proc.wait(timeout=30)
    return out.decode("utf-8", "replace")


def test_diff_is_coloured_on_a_terminal_unless_no_color(pair: tuple[Path, Path]) -> None:
    _, new_path = pair
    coloured = _run_on_a_tty(["diff", str(ACME), str(new_path)], {"TERM": "xterm-256color"})
    assert ANSI in coloured
    assert "re-chained" in coloured
    plain = _run_on_a_tty(["diff", str(ACME), str(new_path)], {"NO_COLOR": "1"})
    assert ANSI not in plain
    assert "re-chained" in plain


# --- drift: plan vs database ---------------------------------------------------------------


def test_drift_names_changed_columns_with_values_and_pii_masked(
        target: Target, plan: dict[str, Any]) -> None:
    path = str(target.plan_file(plan))
    assert target.apply(plan).status == "succeeded"
    row = str(target.scalar("SELECT id::text FROM app.customers WHERE tenant_id = %s "
                            "ORDER BY id LIMIT 1", (plan["tenant_id"],)))
    stored_email = str(target.scalar("SELECT email FROM app.customers WHERE id = %s", (row,)))
    planned_status = _rows(plan, "customers")[row]["status"]
    assert target.execute("UPDATE app.customers SET status = 'edited', "
                          "email = 'hand.edited@example.com' WHERE id = %s", (row,)) == 1
    other = str(target.scalar("SELECT id::text FROM app.customers WHERE tenant_id = %s "
                              "ORDER BY id OFFSET 1 LIMIT 1", (plan["tenant_id"],)))
    assert target.execute("UPDATE app.customers SET status = 'x@example.org' WHERE id = %s",
                          (other,)) == 1  # an e-mail typed into a non-PII column

    text = target.cli("diff", path, "--dsn", target.apply_dsn)
    assert text.code == 1, text.text
    lines = text.out.splitlines()
    at = lines.index(f"      changed: {row}")
    assert lines[at + 1:at + 3] == ["          email: [PII] -> [PII]",
                                    f'          status: "{planned_status}" -> "edited"']
    for secret in (stored_email, "hand.edited@example.com", "x@example.org"):
        assert secret not in text.text
    assert lines[lines.index(f"      changed: {other}") + 1].startswith(
        f'          status: "{_rows(plan, "customers")[other]["status"]}" -> "[REDACTED')

    as_json = target.cli("diff", path, "--dsn", target.apply_dsn, "--json")
    assert as_json.code == 1, as_json.text
    data = json.loads(as_json.out)
    assert data["drifted"] is True
    customers = next(e for e in data["entities"] if e["entity"] == "customers")
    assert customers["changed"] == sorted([row, other])
    assert {"key": row, "columns": {
        "email": {"old": "[PII]", "new": "[PII]"},
        "status": {"old": planned_status, "new": "edited"}}} in customers["changed_rows"]
    assert customers["changed_rows_not_detailed"] == 0
    for secret in (stored_email, "hand.edited@example.com", "x@example.org"):
        assert secret not in as_json.out

    # bounded: columns are named for at most ROWS_DETAILED changed rows, the rest counted
    from seedc.runtime.drift import ROWS_DETAILED

    more = ROWS_DETAILED + 2
    assert target.execute("UPDATE app.customers SET status = 'edited' WHERE id IN (SELECT id "
                          "FROM app.customers WHERE tenant_id = %s AND id <> %s ORDER BY id "
                          "LIMIT %s)", (plan["tenant_id"], row, more)) == more
    bounded = json.loads(target.cli("diff", path, "--dsn", target.apply_dsn, "--json").out)
    customers = next(e for e in bounded["entities"] if e["entity"] == "customers")
    total = len(customers["changed"])
    assert total == more + 1  # `row` and `more` others (`other`, second by id, among them)
    assert len(customers["changed_rows"]) == ROWS_DETAILED
    assert customers["changed_rows_not_detailed"] == total - ROWS_DETAILED
    text = target.cli("diff", path, "--dsn", target.apply_dsn)
    assert (f"      columns named for {ROWS_DETAILED} changed row(s); "
            f"{total - ROWS_DETAILED} more not compared column by column") in text.out


def test_diff_of_plans_without_inline_rows_gives_counts_only() -> None:
    """Load plans carry the program, not rows: the diff counts rows per entity, names none."""
    from seedc.plan.diff import diff_plans
    from seedc.plan.diff_text import render_diff_text

    old = _load(REPO / "plans" / "staging" / "acme-load.plan.json")
    new = json.loads(json.dumps(old))
    loans = next(e for e in new["entities"] if e["name"] == "loans")
    loans["rows"] -= 7
    new["plan_hash"] = "sha256:" + "0" * 64
    diff = diff_plans(old, new)
    assert list(diff.entities) == ["loans"]
    assert diff.entities["loans"].counts == (0, 7, 0)
    assert not diff.entities["loans"].inline
    n = loans["rows"]
    assert (f"  loans: {n + 7} -> {n} rows (-7): 0 added, 7 removed, 0 changed "
            "(rows not inline: counts only)") in render_diff_text(diff).splitlines()
