"""The plan artifact and the plan-side commands: verify, show, diff, schema."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from seedc.errors import InvalidInput
from seedc.plan.canonical import canonical_bytes, plan_hash, pretty_bytes
from seedc.plan.format import verify_plan
from seedc.plan.rows import cells_from_json, cells_to_json, rows_digest
from tests.manifests import REPO, variant

ACME = REPO / "plans" / "dev" / "acme.plan.json"


def _plan() -> dict:
    return json.loads(ACME.read_text())


def test_canonical_json_is_rfc8785() -> None:
    assert canonical_bytes({"b": [1, "ç", None], "a": {"z": 1, "y": True}}) == (
        '{"a":{"y":true,"z":1},"b":[1,"ç",null]}'.encode()
    )
    with pytest.raises(TypeError):
        canonical_bytes({"x": 0.1})


def test_plan_hash_covers_everything_but_itself_and_info() -> None:
    plan = _plan()
    assert plan_hash(plan) == plan["plan_hash"]
    assert plan_hash({**plan, "info": {"manifest_path": "elsewhere"}}) == plan["plan_hash"]
    edited = json.loads(json.dumps(plan))
    edited["batches"][3]["rows"][0][3] = "Someone Else"
    assert plan_hash(edited) != plan["plan_hash"]


def test_tampered_plan_is_refused() -> None:
    plan = _plan()
    plan["guards"]["budget"]["max_rows"] = 10**9
    with pytest.raises(InvalidInput, match="plan hash mismatch"):
        verify_plan(plan)


def test_unknown_format_version_is_refused_by_name() -> None:
    plan = _plan()
    plan["format"] = "seedc.plan/99"
    with pytest.raises(InvalidInput, match=r"'seedc\.plan/99' is not supported"):
        verify_plan(plan)


def test_inline_rows_round_trip_to_their_digest() -> None:
    for batch in _plan()["batches"]:
        cells = cells_from_json(batch["rows"])
        assert rows_digest(cells) == batch["rows_digest"]
        assert cells_to_json(cells) == batch["rows"]


def test_cells_escape_and_placeholders_round_trip() -> None:
    rows = [["a\tb\\c\nd", None, {"pii": "cpf", "in": "000000001"}, ""]]
    cells = cells_from_json(rows)
    assert cells == [["a\\tb\\\\c\\nd", "\\N", "\\Pcpf:000000001", ""]]
    assert cells_to_json(cells) == rows


def test_batches_are_in_foreign_key_order_with_a_hash_chain() -> None:
    plan = _plan()
    seen: set[str] = set()
    for batch in plan["batches"]:
        assert set(batch["depends_on"]) <= seen, batch["id"]
        seen.add(batch["entity"])
    chains = [b["chain_hash"] for b in plan["batches"]]
    assert len(set(chains)) == len(chains)


def test_changing_an_early_batch_changes_every_later_chain_hash(tmp_path: Path) -> None:
    from seedc.compiler.pipeline import compile_manifest

    base = compile_manifest(variant(tmp_path / "a"))
    changed = compile_manifest(variant(tmp_path / "b", [("users:         {count: 5,",
                                                         "users:         {count: 6,")]))
    a, b = base["batches"], changed["batches"]
    assert a[0]["chain_hash"] == b[0]["chain_hash"]  # tenants: before the change
    assert all(x["chain_hash"] != y["chain_hash"] for x, y in zip(a[1:], b[1:], strict=True))


def test_plan_has_no_pii_values_only_placeholders() -> None:
    plan = _plan()
    customers = next(b for b in plan["batches"] if b["entity"] == "customers")
    cpf = customers["columns"].index("cpf")
    email = customers["columns"].index("email")
    for row in customers["rows"]:
        assert row[cpf]["pii"] == "cpf"
        assert len(row[cpf]["in"]) == 9
        assert row[email]["pii"] == "email"
        assert "@" not in row[email]["in"]


def test_pretty_form_keeps_rows_on_one_line() -> None:
    text = pretty_bytes({"rows": [["a", "b"], ["c", None]]}).decode()
    assert '["a","b"]' in text
    assert '["c",null]' in text


def test_show_summarises_a_plan() -> None:
    result = CliRunner().invoke(cli, ["show", str(ACME)])
    assert result.exit_code == 0
    assert "tenant acme" in result.output
    assert "customers" in result.output
    assert "window 00:00–00:00 UTC" in result.output


def test_diff_identical_plans_exit_0() -> None:
    result = CliRunner().invoke(cli, ["diff", str(ACME), str(ACME)])
    assert result.exit_code == 0
    assert "no differences" in result.output


def test_diff_shows_row_deltas_and_column_changes(tmp_path: Path) -> None:
    manifest = variant(tmp_path, [
        ("customers:     {count: 40, cap: 100}", "customers:     {count: 42, cap: 100}"),
        ('tenant_name: "Acme Pagamentos S.A."', 'tenant_name: "Acme Bank S.A."'),
    ])
    new = tmp_path / "new.json"
    assert CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(new)]).exit_code == 0
    text = CliRunner().invoke(cli, ["diff", str(ACME), str(new)])
    assert text.exit_code == 1
    assert "  customers: 40 -> 42 rows (+2): 2 added, 0 removed, 0 changed" in text.output
    assert 'name: "Acme Pagamentos S.A." -> "Acme Bank S.A."' in text.output
    as_json = CliRunner().invoke(cli, ["diff", str(ACME), str(new), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.output)
    assert data["changed"] is True
    customers = data["entities"]["customers"]
    assert (customers["old_rows"], customers["new_rows"], customers["added"]) == (40, 42, 2)
    assert len(customers["added_keys"]) == 2
    assert "customers-0001" in [b["batch"] for b in data["batches"]["changed"]]


def test_diff_of_a_tampered_plan_is_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(ACME.read_text().replace('"mode": "baseline"', '"mode": "load"'))
    result = CliRunner().invoke(cli, ["diff", str(ACME), str(bad)])
    assert result.exit_code == 2
    assert "plan hash mismatch" in result.output


def test_schema_command_prints_the_published_json_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["properties"]["apiVersion"] == {
        "const": "seedc/v1",
        "description": "Manifest format version; unknown versions are refused.",
    }
    assert "reference_datetime" in schema["required"]


def test_compile_to_stdout_is_the_plan() -> None:
    result = CliRunner().invoke(cli, ["compile", str(REPO / "manifests" / "dev" / "acme.yaml")])
    assert result.exit_code == 0
    assert json.loads(result.output)["tenant"] == "acme"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["runtime", "plan", "program", "finance"])
def test_import_boundary(package: str) -> None:
    """The runtime (and what it shares) never imports the compiler, lark or jinja2."""
    for path in (REPO / "seedc" / package).rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(("seedc.compiler", "lark", "jinja2")), f"{path}: {name}"


# --- the typed plan, its JSON Schema and the chain (issue 9, part C) -------------------------

GOLDEN = sorted((REPO / "plans").rglob("*.plan.json"))


def test_committed_plan_schema_is_the_generated_one() -> None:
    from seedc.plan.model import plan_schema_text

    committed = (REPO / "seedc" / "plan" / "schema" / "plan.schema.json").read_text()
    assert committed == plan_schema_text(), (
        "regenerate it: python -c 'from seedc.plan.model import plan_schema_text as t; "
        "print(t(), end=\"\")' > seedc/plan/schema/plan.schema.json")


def test_schema_plan_command_publishes_it() -> None:
    from seedc.plan.model import plan_json_schema

    result = CliRunner().invoke(cli, ["schema", "plan"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == plan_json_schema()


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_golden_plan_validates(path: Path) -> None:
    import jsonschema

    from seedc.plan.format import read_plan
    from seedc.plan.model import plan_json_schema, validate_plan

    data = read_plan(path)
    plan = validate_plan(data)
    assert plan.plan_hash == data["plan_hash"]
    assert len(plan.batches) == len(data["batches"])
    # independent oracle: a JSON Schema validator on the published schema
    jsonschema.Draft202012Validator(plan_json_schema()).validate(data)


def test_typed_plan_is_frozen() -> None:
    from pydantic import ValidationError

    from seedc.plan.model import validate_plan

    plan = validate_plan(_plan())
    with pytest.raises(ValidationError, match="frozen"):
        plan.tenant = "other"  # type: ignore[misc]


def _rehash(plan: dict) -> dict:
    plan["plan_hash"] = plan_hash(plan)
    return plan


@pytest.mark.parametrize(("edit", "where"), [
    (lambda p: p["batches"][3].__setitem__("row_count", "40"), "batches[3].row_count"),
    (lambda p: p["guards"]["window"].__setitem__("start_utc", "25:00"),
     "$.guards.window.start_utc"),
    (lambda p: p["batches"][0]["sql"].pop("copy"), "$.batches[0].sql.copy: Field required"),
    (lambda p: p.__setitem__("surprise", 1), "$.surprise: Extra inputs are not permitted"),
    (lambda p: p["batches"][3]["rows"][0].__setitem__(2, {"pii": "cpf"}),
     "$.batches[3].rows[0][2].in: Field required"),
])
def test_an_invalid_plan_is_refused_naming_the_json_path(tmp_path: Path, edit, where: str
                                                          ) -> None:
    plan = _plan()
    edit(plan)
    bad = tmp_path / "bad.plan.json"
    bad.write_bytes(pretty_bytes(_rehash(plan)))  # a consistent hash: only the model objects
    result = CliRunner().invoke(cli, ["show", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: not a valid seedc plan" in result.stderr
    assert where in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: str(p.relative_to(REPO)))
def test_chain_is_recomputable_from_the_plan_alone(path: Path) -> None:
    """seedc.plan.chain (no compiler) gives back every batch's recorded chain hash."""
    from seedc.plan.chain import chain_hashes

    data = json.loads(path.read_text())
    assert chain_hashes(data) == [b["chain_hash"] for b in data["batches"]]
    data["batches"][0]["row_count"] += 1
    assert all(a != b["chain_hash"] for a, b in zip(chain_hashes(data), data["batches"],
                                                      strict=True))


@pytest.mark.parametrize(("edit", "where"), [
    (lambda p: p["batches"][2].__setitem__("chain_hash", "0" * 64), "$.batches[2].chain_hash"),
    (lambda p: p["batches"][1]["sql"].__setitem__("insert", "SELECT 1"),
     "$.batches[1].chain_hash"),
])
def test_a_broken_chain_is_refused_even_with_a_recomputed_hash(tmp_path: Path, edit,
                                                                where: str) -> None:
    plan = _plan()
    edit(plan)
    bad = tmp_path / "bad.plan.json"
    bad.write_bytes(pretty_bytes(_rehash(plan)))
    result = CliRunner().invoke(cli, ["show", str(bad)])
    assert result.exit_code == 2
    assert f"{where} does not follow from the batches up to" in result.stderr
