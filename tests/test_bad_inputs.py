"""Every bad input gives exit code 2 and names file, line and field — never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from tests.manifests import line_of, variant

# (case id, manifest edits, model edits, file the error is in, line needle, expected text)
CASES = [
    ("duplicate_key",
     [("mode: baseline", "mode: baseline\nmode: load")], [],
     "manifest", "mode: load", "duplicate key"),
    ("unknown_field",
     [("canary: {enabled: false}", "canary: {enabled: false}\ncolour: blue")], [],
     "manifest", "colour: blue", "unknown field(s): 'colour'"),
    ("missing_reference_datetime",
     [('reference_datetime: "2025-01-01T00:00:00Z"', "")], [],
     "manifest", "apiVersion", "missing required field: reference_datetime"),
    ("non_utc_datetime",
     [('"2025-01-01T00:00:00Z"', '"2025-01-01T00:00:00-03:00"')], [],
     "manifest", "reference_datetime:", "reference_datetime"),
    ("impossible_datetime",
     [('"2025-01-01T00:00:00Z"', '"2025-02-30T00:00:00Z"')], [],
     "manifest", "reference_datetime:", "not a valid UTC datetime"),
    ("states_in_baseline",
     [("canary: {enabled: false}",
       "canary: {enabled: false}\nstates:\n  customers: {active: 1}")], [],
     "manifest", "states:", "not allowed in a baseline manifest"),
    ("shares_not_summing_to_one",
     [("mode: baseline", "mode: load"),
      ("canary: {enabled: false}",
       "canary: {enabled: false}\nstates:\n  customers: {active: 0.5, blocked: 0.3}")], [],
     "manifest", "customers: {active: 0.5", "sum to 0.8, not exactly 1"),
    ("count_above_cap",
     [("customers:     {count: 40, cap: 100}", "customers:     {count: 400, cap: 100}")], [],
     "manifest", "customers:     {count: 400", "above its cap 100"),
    ("unknown_api_version",
     [("apiVersion: seedc/v1", "apiVersion: seedc/v9")], [],
     "manifest", "apiVersion", "unknown apiVersion 'seedc/v9'"),
    ("canary_without_scope",
     [("canary: {enabled: false}", "canary: {enabled: true}")], [],
     "manifest", "canary:", "declares no scope"),
    ("parent_cycle",
     [], [("  customers:\n    table: app.customers\n    parent: tenants",
           "  customers:\n    table: app.customers\n    parent: bank_accounts")],
     "model", "parent: bank_accounts", "cycle"),
    ("unknown_generator",
     [], [('full_name:  {type: text, expr: "full_name()"}',
           'full_name:  {type: text, expr: "fake_name()"}')],
     "model", "fake_name()", "unknown generator 'fake_name'"),
    ("expression_syntax_error",
     [], [('"money(1412.00, 45000.00)"', '"money(1412.00, 45000.00"')],
     "model", "money(1412.00, 45000.00", "ends too early"),
    ("sql_unsafe_table",
     [], [("table: app.users", 'table: "app.users; drop table x"')],
     "model", "app.users; drop", "not a safe schema.table name"),
    ("sql_unsafe_column",
     [], [("      role:       {type:", '      "Role-X":   {type:')],
     "model", "Role-X", "columns.Role-X"),
    ("unknown_column_reference",
     [], [('street:       {type: text, expr: "street()"}',
           'street:       {type: text, expr: "row.nope"}')],
     "model", "row.nope", "has no column 'nope'"),
    ("type_mismatch",
     [], [('monthly_income: {type: "numeric(14,2)", expr: "money(1412.00, 45000.00)"}',
           'monthly_income: {type: "numeric(14,2)", expr: "full_name()"}')],
     "model", "monthly_income", "cannot go into a numeric(14,2) column"),
]


@pytest.mark.parametrize(
    ("manifest_edits", "model_edits", "where", "needle", "expected"),
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
def test_bad_input_exits_2_naming_file_line_and_field(
    tmp_path: Path, manifest_edits: list[tuple[str, str]], model_edits: list[tuple[str, str]],
    where: str, needle: str, expected: str,
) -> None:
    manifest = variant(tmp_path, manifest_edits, model_edits)
    source = manifest if where == "manifest" else tmp_path / "models" / "banking-core.yaml"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert f"{source}:{line_of(source, needle)}:" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "p.json").exists()


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    manifest = variant(tmp_path, [
        ("customers:     {count: 40, cap: 100}", "customers:     {count: 400, cap: 100}"),
        ("transactions:  {count: 200, cap: 500}", "transactions:  {count: 900, cap: 500}"),
        ("canary: {enabled: false}", "canary: {enabled: true}"),
    ])
    result = CliRunner().invoke(cli, ["compile", str(manifest)])
    assert result.exit_code == 2
    assert "3 error(s)" in result.output
    assert "volumetry.customers.count" in result.output
    assert "volumetry.transactions.count" in result.output
    assert "canary: canary is enabled but declares no scope" in result.output


def test_yaml_1_2_keeps_times_and_no_as_strings(tmp_path: Path) -> None:
    """YAML 1.1 would read 22:00 as 1320 and `no` as false; the window must stay text."""
    manifest = variant(tmp_path, [('window: {start_utc: "00:00", end_utc: "00:00"}',
                                   "window: {start_utc: 22:00, end_utc: 06:00}")])
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    import json

    plan = json.loads((tmp_path / "p.json").read_text())
    assert plan["guards"]["window"] == {"start_utc": "22:00", "end_utc": "06:00"}


def test_missing_manifest_file_is_invalid_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compile", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_manifest_and_model_problems_are_reported_in_one_run(tmp_path: Path) -> None:
    """A cross-field manifest error and a model schema error come out together, the model's
    under their own heading (issue 11: three errors in three places took three runs)."""
    from click.testing import CliRunner

    from seedc.cli import cli

    path = variant(tmp_path, [("customers:     {count: 40, cap: 100}",
                               "customers:     {count: 400, cap: 100}")],
                   model_edits=[("\n  customers:\n", "\n  customers:\n    surprise: 1\n")])
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out)])
    assert result.exit_code == 2, result.output
    model = tmp_path / "models" / "banking-core.yaml"
    lines = result.output.splitlines()
    assert lines[0] == "seedc: invalid manifest (1 error(s)) and model (1 error(s))"
    assert f"{path}:{line_of(path, 'customers:')}: volumetry.customers.count: count 400 is " \
        "above its cap 100" in lines[1]
    assert lines[2] == f"  - model problems ({model}):"
    assert f"{model}:{line_of(model, 'surprise: 1')}: entities.customers.surprise: unknown " \
        "field(s): 'surprise'" in lines[3]
    assert not out.exists()
