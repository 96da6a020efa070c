"""Hostile inputs end in exit 2 with `file:line` and what to do: never a traceback, never a hang.

Issue 9 ("Contract"): a fuzzer found mutated manifests and models ending in tracebacks, hangs
or gigabytes of memory. Each table below is a list of (case id, input, expected message
fragment), tested entry by entry like lark's GRAMMAR_ERRORS, through the real CLI.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seedc.cli import cli
from seedc.compiler.model import check_identifier
from seedc.compiler.schema import schema
from seedc.errors import InvalidInput
from tests.manifests import MANIFEST, MODEL, REPO, line_of, variant

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g"],
                          ["a", "b", "c", "d", "e", "f", "g", "h"], strict=True)
)


@pytest.fixture(autouse=True, scope="module")
def _imported() -> None:
    """Import the compiler once, so the timings below measure the refusal, not imports."""
    import seedc.compiler.pipeline
    import seedc.plan.format  # noqa: F401


def _compile(manifest: Path, out: Path) -> tuple[Result, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    return result, time.perf_counter() - started


def _assert_refused(result: Result, elapsed: float, fragment: str, where: str,
                    out: Path | None = None) -> None:
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert where in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, BaseException) \
        or isinstance(result.exception, SystemExit)
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    if out is not None:
        assert not out.exists(), "a plan was written"


# --- whole files: encodings, binary, directives, tags, aliases, depth, numbers -------------

TEXT = MANIFEST.read_text(encoding="utf-8")
NAME = 'tenant_name: "Acme Pagamentos S.A."'

# (case id, manifest bytes, 1-based line named in the message, expected fragment)
FILES: list[tuple[str, bytes, int, str]] = [
    ("latin1", TEXT.replace("S.A.", "São Paulo").encode("latin-1"), 9,
     "not UTF-8 (byte 0xe3); save it as UTF-8"),
    ("windows1252", TEXT.replace("S.A.", "“S.A.”").encode("cp1252"), 9, "not UTF-8 (byte 0x93)"),
    ("utf16_bom", TEXT.encode("utf-16"), 1, "UTF-16-encoded; save it as UTF-8"),
    ("utf32_bom", TEXT.encode("utf-32"), 1, "UTF-32-encoded; save it as UTF-8"),
    ("utf16_no_bom", TEXT.encode("utf-16-le"), 1, "contains a NUL byte"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), 3,
     "contains a NUL byte"),
    ("nul_byte", TEXT.replace("S.A.", "S.A.\x00").encode(), 9, "contains a NUL byte"),
    ("raw_control", TEXT.replace("S.A.", "S.A.\x1b[31m").encode(), 9,
     "control character U+001B"),
    ("lone_surrogate", TEXT.replace("S.A.", "\\ud800").encode(), 9,
     "a lone surrogate (U+D800)"),
    ("escaped_control", TEXT.replace("S.A.", "\\x07").encode(), 9,
     "a control character (U+0007)"),
    ("yaml_1_1", b"%YAML 1.1\n---\n" + TEXT.encode(), 2,
     "%YAML 1.1 directive: seedc reads YAML 1.2 only"),
    ("tag_directive", b"%TAG !e! tag:example.com,2000:\n---\n" + TEXT.encode(), 2,
     "%TAG directives are not allowed"),
    ("two_documents", (TEXT + "---\nmode: load\n").encode(), 45, "more than one YAML document"),
    ("omap", TEXT.replace("flags: {required: [seed.banking_core]}",
                          "flags: !!omap [required: [seed.banking_core]]").encode(), 39,
     "YAML tag tag:yaml.org,2002:omap is not allowed"),
    ("set", TEXT.replace("flags: {required: [seed.banking_core]}",
                         "flags: {required: !!set {seed.banking_core}}").encode(), 39,
     "YAML tag tag:yaml.org,2002:set is not allowed"),
    ("python_tag", TEXT.replace("mode: baseline ",
                                "mode: !!python/object/apply:os.system [id] ").encode(), 13,
     "tag:yaml.org,2002:python/object/apply:os.system is not allowed"),
    ("local_tag", TEXT.replace("mode: baseline ", "mode: !mode baseline ").encode(), 13,
     "YAML tag !mode is not allowed"),
    ("str_tag", TEXT.replace("version: 1\n", "version: !!str 1\n").encode(), 11,
     "YAML tag tag:yaml.org,2002:str is not allowed"),
    ("alias_bomb", (TEXT + BOMB).encode(), 50,
     "expands to more than 100,000 values (aliases included); an alias bomb?"),
    ("merge_self_reference", (TEXT + "lol: &lol {<<: *lol, a: 1}\n").encode(), 45,
     "merge keys (<<) are YAML 1.1, not 1.2"),
    ("merge_override", (TEXT + "<<: {mode: load}\n").encode(), 45,
     "merge keys (<<) are YAML 1.1, not 1.2"),
    ("mapping_self_reference", (TEXT + "lol: &lol {a: *lol}\n").encode(), 45,
     "alias *lol refers to a value that contains it"),
    ("sequence_self_reference", (TEXT + "lol: &lol [*lol]\n").encode(), 45,
     "alias *lol refers to a value that contains it"),
    ("deep_flow_nesting", (TEXT + "x: " + "[" * 500 + "]" * 500 + "\n").encode(), 45,
     "nesting deeper than 32 levels"),
    ("deep_block_nesting", (TEXT + "".join(f"{'  ' * i}k{i}:\n" for i in range(200))
                            + "  " * 200 + "v: 1\n").encode(), 77,
     "nesting deeper than 32 levels"),
    ("int_above_2_53", TEXT.replace("{count: 40, cap: 100}",
                                    "{count: 40, cap: 9007199254740993}").encode(), 19,
     "number 9007199254740993 is above 2^53: the plan is RFC 8785 JSON"),
    ("negative_int_above_2_53", TEXT.replace("max_retries: 5", "max_retries: -9007199254740993")
     .encode(), 29, "is above 2^53"),
    ("hex_above_2_53", TEXT.replace("max_retries: 5", "max_retries: 0x20000000000001").encode(),
     29, "is above 2^53"),
    ("int_5000_digits", TEXT.replace("max_bytes: 2000000", "max_bytes: " + "9" * 5000).encode(),
     31, "number 99999999999999999999… is above 2^53"),
    ("float_1e308", TEXT.replace("max_bytes: 2000000", "max_bytes: 1e308").encode(), 31,
     "number 1e308 is above 2^53"),
    ("float_1e400", TEXT.replace("max_bytes: 2000000", "max_bytes: 1e400").encode(), 31,
     "is above 2^53"),
    ("infinity", TEXT.replace("max_bytes: 2000000", "max_bytes: .inf").encode(), 31,
     ".inf is not a finite number"),
    ("nan", TEXT.replace("max_bytes: 2000000", "max_bytes: .nan").encode(), 31,
     ".nan is not a finite number"),
    ("huge_file", TEXT.replace(NAME, 'tenant_name: "' + "x" * 20_000_000 + '"').encode(), 1,
     "larger than 1,048,576 bytes (the limit)"),
    ("empty_file", b"", 1, "the document must be a mapping"),
    ("a_list", b"- 1\n- 2\n", 1, "the document must be a mapping"),
]


@pytest.mark.parametrize(("data", "line", "expected"), [c[1:] for c in FILES],
                         ids=[c[0] for c in FILES])
def test_hostile_manifest_file_exits_2(tmp_path: Path, data: bytes, line: int,
                                       expected: str) -> None:
    manifest = variant(tmp_path)
    manifest.write_bytes(data)
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, expected, f"{manifest}:{line}:", out)
    assert len(result.output) < 2000, "a long value was echoed back"


@pytest.mark.parametrize(("data", "line", "expected"), [c[1:] for c in FILES[:12]],
                         ids=[c[0] for c in FILES[:12]])
def test_hostile_model_file_exits_2(tmp_path: Path, data: bytes, line: int,
                                    expected: str) -> None:
    """The model goes through the same reader; the error names the model file."""
    manifest = variant(tmp_path)
    model = tmp_path / "models" / "banking-core.yaml"
    model.write_bytes(data)
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, expected, f"{model}:{line}:", out)


def test_prestop_hook_input_is_refused_quickly(tmp_path: Path) -> None:
    """The repository's pre-stop hook tries exactly `x: [[[[…` 500 deep as a whole file."""
    manifest = tmp_path / "deep.yaml"
    manifest.write_text("x: " + "[" * 500 + "]" * 500 + "\n")
    result, elapsed = _compile(manifest, tmp_path / "plan.json")
    _assert_refused(result, elapsed, "nesting deeper than 32 levels", f"{manifest}:1:",
                    tmp_path / "plan.json")


# --- expressions: depth, size, characters, literals ---------------------------------------

EXPR_NEEDLE = 'full_name:  {type: text, expr: "full_name()"}'

# (case id, expression as it appears between YAML double quotes, expected fragment)
EXPRESSIONS: list[tuple[str, str, str]] = [
    ("minus_x1000", "-" * 1000 + "1", "nests deeper than 40 levels"),
    ("not_x400", "not " * 400 + "true", "nests deeper than 40 levels"),
    ("sum_10000_terms", "+".join(["1"] * 10_000), "19,999 characters, above the limit of 2000"),
    ("sum_900_terms", "+".join(["1"] * 900), "nests deeper than 40 levels"),
    ("deep_list", "[" * 300 + "]" * 300, "nests deeper than 40 levels"),
    ("deep_ifs", "if(true, " * 100 + "1" + ", 2)" * 100, "nests deeper than 40 levels"),
    ("deep_calls", "upper(" * 200 + "full_name()" + ")" * 200, "nests deeper than 40 levels"),
    ("tab", "full_name()\\t", "a tab (U+0009) in the expression"),
    ("carriage_return", "full_name()\\r", "a control character (U+000D)"),
    ("escape_char", "full_name(\\e)", "a control character (U+001B)"),
    ("int_above_int64", "int_range(1, 99999999999999999999)",
     "integer literal: 99999999999999999999 is outside the 64-bit integer range"),
    ("int_above_int64_by_one", "int_range(1, 9223372036854775808)",
     "integer literal: 9223372036854775808 is outside the 64-bit integer range"),
    ("int_2000_digits", "int_range(1, " + "9" * 1900 + ")", "integer literal: 99999"),
    ("decimal_30_digits", "money(1.00000000000000000000000000001, 2.00)",
     "has more than 18 digits"),
]


@pytest.mark.parametrize(("expression", "expected"), [c[1:] for c in EXPRESSIONS],
                         ids=[c[0] for c in EXPRESSIONS])
def test_hostile_expression_exits_2(tmp_path: Path, expression: str, expected: str) -> None:
    manifest = variant(tmp_path, model_edits=[
        (EXPR_NEEDLE, f'full_name:  {{type: text, expr: "{expression}"}}')])
    model = tmp_path / "models" / "banking-core.yaml"
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    line = line_of(model, 'expr: "' + expression[:20])
    _assert_refused(result, elapsed, expected, f"{model}:{line}:", out)
    assert "RecursionError" not in result.output


# --- values that must match a pattern refuse a trailing newline ----------------------------

# (case id, manifest edits, model edits, file, needle on the reported line, expected fragment)
NEWLINES: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]], str, str, str]] = [
    ("tenant", [("tenant: acme", 'tenant: "acme\\n"')], [], "manifest", "tenant: ",
     "does not match"),
    ("environment", [("environment: dev", 'environment: "dev\\n"')], [], "manifest",
     "environment:", "is not one of"),
    ("profile", [("profile: baseline-small", 'profile: "baseline-small\\n"')], [], "manifest",
     "profile:", "does not match"),
    ("window_start", [('start_utc: "00:00"', 'start_utc: "00:00\\n"')], [], "manifest",
     "window:", "does not match"),
    ("window_end", [('end_utc: "00:00"', 'end_utc: "00:00\\n"')], [], "manifest",
     "window:", "does not match"),
    ("reference_datetime", [('"2025-01-01T00:00:00Z"', '"2025-01-01T00:00:00Z\\n"')], [],
     "manifest", "reference_datetime:", "does not match"),
    ("model_path", [("model: ../models/banking-core.yaml",
                     'model: "../models/banking-core.yaml\\n"')], [], "manifest", "model:",
     "does not match"),
    ("keys_ref", [("ref: seedc/dev/acme/fpe", 'ref: "seedc/dev/acme/fpe\\n"')], [], "manifest",
     "ref: ", "does not match"),
    ("ttl", [('ttl: {load: "7d"', 'ttl: {load: "7d\\n"')], [], "manifest", "ttl:",
     "does not match"),
    ("migrations_head", [('"0001_banking_core"', '"0001_banking_core\\n"')], [], "manifest",
     "migrations_head", "does not match"),
    ("flag", [("[seed.banking_core]", '["seed.banking_core\\n"]')], [], "manifest", "flags:",
     "does not match"),
    ("volumetry_key", [("  users:         {count: 5,", '  "users\\n":     {count: 5,')], [],
     "manifest", "{count: 5,", "is not an allowed name"),
    ("table", [], [("table: app.users", 'table: "app.users\\n"')], "model", "table: \"app.users",
     "not a safe schema.table name"),
    ("column_name", [], [("      full_name:  {type: text",
                          '      "full_name\\n":  {type: text')], "model", "full_name\\n",
     "is not an allowed name"),
    ("column_type", [], [('full_name:  {type: text, expr: "full_name()"}',
                          'full_name:  {type: "text\\n", expr: "full_name()"}')], "model",
     '{type: "text', "does not match"),
    ("model_name", [], [("name: banking-core", 'name: "banking-core\\n"')], "model",
     "name: \"banking-core", "does not match"),
    ("application_schema", [],
     [("kind: Model\n", 'kind: Model\napplication_schemas: ["app\\n"]\n')], "model",
     "application_schemas", "does not match"),
]


@pytest.mark.parametrize(("manifest_edits", "model_edits", "where", "needle", "expected"),
                         [c[1:] for c in NEWLINES], ids=[c[0] for c in NEWLINES])
def test_trailing_newline_is_refused(
    tmp_path: Path, manifest_edits: list[tuple[str, str]], model_edits: list[tuple[str, str]],
    where: str, needle: str, expected: str,
) -> None:
    manifest = variant(tmp_path, manifest_edits, model_edits)
    source = manifest if where == "manifest" else tmp_path / "models" / "banking-core.yaml"
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, expected, f"{source}:{line_of(source, needle)}:", out)


def _patterns(node: object) -> list[str]:
    """Every `pattern` of a JSON Schema, depth first."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(found))


END = "(?![\\s\\S])"  # end of input in ECMA 262 and Python alike (`$` is not, in Python)
PATTERNS = [(kind, p) for kind in ("manifest", "model") for p in _patterns(schema(kind))]


@pytest.mark.parametrize(("kind", "pattern"), PATTERNS, ids=[p for _, p in PATTERNS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_schema_pattern_refuses_a_trailing_newline(kind: str, pattern: str,
                                                         data: st.DataObject) -> None:
    """jsonschema runs Python's `re.search`, where `$` matches before a final newline."""
    assert pattern.startswith("^")
    assert pattern.endswith(END)
    assert "$" not in pattern
    body = pattern[1: -len(END)]
    value = data.draw(st.from_regex(re.compile(body), fullmatch=True))
    assert re.search(pattern, value)
    for suffix in ("\n", "\r\n", "\nmore", "\r"):
        assert not re.search(pattern, value + suffix)


@pytest.mark.parametrize("name", ["users\n", "users\r", "\nusers", "us\ners", "users ", ""])
def test_python_identifier_check_is_anchored(name: str) -> None:
    assert check_identifier("users")
    assert not check_identifier(name)


# --- tables outside the application schemas ------------------------------------------------

SCHEMAS: list[tuple[str, str, str, str]] = [
    ("seedc_control", "", "seedc.runs", "outside the model's application schemas (app)"),
    ("pg_catalog", "", "pg_catalog.pg_class", "outside the model's application schemas"),
    ("information_schema", "", "information_schema.tables", "outside the model's application"),
    ("unlisted", "", "billing.users", "others must be listed in application_schemas"),
    ("unlisted_with_list", "application_schemas: [app, ledger]\n", "billing.users",
     "outside the model's application schemas (app, ledger)"),
    ("system_listed", "application_schemas: [app, seedc]\n", "seedc.runs",
     "'seedc' is a system schema"),
    ("pg_listed", "application_schemas: [app, pg_catalog]\n", "pg_catalog.pg_class",
     "'pg_catalog' is a system schema"),
]


@pytest.mark.parametrize(("declared", "table", "expected"), [c[1:] for c in SCHEMAS],
                         ids=[c[0] for c in SCHEMAS])
def test_table_outside_application_schemas_is_refused(tmp_path: Path, declared: str,
                                                      table: str, expected: str) -> None:
    manifest = variant(tmp_path, model_edits=[("kind: Model\n", f"kind: Model\n{declared}"),
                                              ("table: app.users", f"table: {table}")])
    model = tmp_path / "models" / "banking-core.yaml"
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, expected, f"{model}:", out)


def test_listed_application_schema_compiles(tmp_path: Path) -> None:
    manifest = variant(tmp_path, model_edits=[
        ("kind: Model\n", "kind: Model\napplication_schemas: [app, billing]\n"),
        ("table: app.users", "table: billing.users")])
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    assert "billing.users" in json.dumps(plan["batches"])


# --- long values are cut when echoed --------------------------------------------------------

LONG = "x" * 300_000
LONG_KEY = "x" * 1000  # YAML limits implicit keys to 1024 characters


@pytest.mark.parametrize(("manifest_edits", "model_edits", "expected"), [
    ([(NAME, f'tenant_name: "{LONG}"')], [], "is too long"),
    ([("tenant: acme", f"tenant: {LONG}")], [], "does not match"),
    ([("canary: {enabled: false}", f"canary: {{enabled: false}}\n{LONG_KEY}: 1")], [],
     "unknown field(s)"),
    ([], [("table: app.users", f"table: app.{LONG}")], "not a safe schema.table name"),
    ([], [("      full_name:  {type: text", f"      {LONG_KEY}:  {{type: text")],
     "is not an allowed name"),
], ids=["tenant_name", "tenant", "unknown_key", "table", "column"])
def test_long_values_are_not_echoed(tmp_path: Path, manifest_edits: list[tuple[str, str]],
                                    model_edits: list[tuple[str, str]], expected: str) -> None:
    manifest = variant(tmp_path, manifest_edits, model_edits)
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, expected, ":", out)
    assert "x" * 100 not in result.output
    assert "…" in result.output
    assert len(result.output) < 2000


# --- a manifest (or a broken file) where a plan is expected --------------------------------

CLOSED_DSN = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1"
PLAN_COMMANDS = [
    ("show", ["show", "{p}"]),
    ("apply", ["apply", "{p}", "--dsn", CLOSED_DSN]),
    ("apply_dry_run", ["apply", "{p}", "--dry-run", "--dsn", CLOSED_DSN]),
    ("diff_drift", ["diff", "{p}", "--dsn", CLOSED_DSN]),
    ("diff_plans", ["diff", "{p}", "{p}"]),
    ("reset", ["reset", "{p}", "--yes", "--dsn", CLOSED_DSN]),
    ("keys_status", ["keys", "status", "{p}"]),
]


@pytest.mark.parametrize("args", [c[1] for c in PLAN_COMMANDS], ids=[c[0] for c in PLAN_COMMANDS])
def test_manifest_given_where_a_plan_is_expected(args: list[str]) -> None:
    """Exit 2 before any connection: the DSN points at a closed port, so reaching the
    database would end in 3 or 4, never 2."""
    manifest = MANIFEST.relative_to(REPO)
    result = CliRunner().invoke(cli, [a.replace("{p}", str(MANIFEST)) for a in args])
    assert result.exit_code == 2, result.output
    assert "this is a manifest, not a plan: compile it first: seedc compile" in result.output
    assert manifest.name in result.output
    assert "Traceback" not in result.output


GOLDEN = (REPO / "plans" / "dev" / "acme.plan.json").read_bytes()


def _retyped(field: str, value: object) -> bytes:
    plan = json.loads(GOLDEN)
    plan[field] = value
    return json.dumps(plan).encode()


def _rehashed(path: tuple[str | int, ...], value: object) -> bytes:
    """The golden plan with one value replaced and its hash recomputed: only the shape check
    stands between it and `show`, `diff` and the runtime."""
    from seedc.plan.canonical import plan_hash

    plan = json.loads(GOLDEN)
    node = plan
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    plan["plan_hash"] = plan_hash(plan)
    return json.dumps(plan).encode()


# (case id, plan file bytes, expected fragment)
PLANS: list[tuple[str, bytes, str]] = [
    ("truncated", GOLDEN[: len(GOLDEN) // 2], "not valid JSON"),
    ("empty", b"", "not valid JSON"),
    ("a_list", b"[1, 2]", "not a seedc plan (expected a JSON object)"),
    ("a_string", b'"plan"', "not a seedc plan (expected a JSON object)"),
    ("utf16", GOLDEN.decode().encode("utf-16"), "not UTF-8 JSON"),
    ("latin1", GOLDEN.replace(b'"acme"', b'"S\xe3o"'), "not UTF-8 JSON (byte 0xe3)"),
    ("nan", GOLDEN.replace(b'"rows_inline": true', b'"rows_inline": NaN'), "NaN is not a JSON"),
    ("deep_nesting", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ("digits_5000", b'{"format": ' + b"9" * 5000 + b"}", "not a seedc plan"),
    ("batches_string", _retyped("batches", "x"), "wrong type for batches (expected a list)"),
    ("batches_of_ints", _retyped("batches", [1]), "wrong type for batches[0]"),
    ("estimate_list", _retyped("estimate", []), "wrong type for estimate (expected an object)"),
    ("rows_inline_string", _retyped("rows_inline", "yes"), "rows_inline (expected true or"),
    ("float_inside", _retyped("generators", {"x": 1.5}), "floats are not allowed"),
    ("big_int_inside", _retyped("generators", {"x": 2**60}), "exceeds safe integer domain"),
    ("missing_fields", b'{"format": "seedc.plan/1"}', "plan lacks field(s)"),
    ("rehashed_pii_int", _rehashed(("entities", 0, "pii"), 1), "entities[0].pii must be a list"),
    ("rehashed_model_str", _rehashed(("sources", "model"), "x"),
     "sources.model must be an object"),
    ("rehashed_short_row", _rehashed(("batches", 0, "rows", 0), ["x"]),
     "batches[0].rows[0] has 1 cells for"),
    ("rehashed_batch_id", _rehashed(("batches", 0, "id"), "x"), "batches[0].id 'x' is not a"),
    ("rehashed_row_count_bool", _rehashed(("batches", 0, "row_count"), True),
     "batches[0].row_count must be an integer"),
    ("rehashed_program_entity", _rehashed(("program", "entities", "users"), 1),
     "program.entities.users must be an object"),
    ("rehashed_no_window", _rehashed(("guards", "window"), {}),
     "guards.window.start_utc is missing"),
    ("other_format", b'{"format": "terraform"}', "plan format 'terraform' is not supported"),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in PLANS], ids=[c[0] for c in PLANS])
@pytest.mark.parametrize("command", ["show", "keys_status", "apply"])
def test_broken_plan_file_exits_2(tmp_path: Path, data: bytes, expected: str,
                                  command: str) -> None:
    path = tmp_path / "broken.plan.json"
    path.write_bytes(data)
    args = {"show": ["show", str(path)], "keys_status": ["keys", "status", str(path)],
            "apply": ["apply", str(path), "--dsn", CLOSED_DSN]}[command]
    started = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    _assert_refused(result, time.perf_counter() - started, expected, str(path))


def test_huge_plan_file_is_refused_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.plan.json"
    with path.open("wb") as handle:  # sparse: 65 MiB on paper, nothing on disk
        handle.truncate(65 << 20)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["show", str(path)])
    _assert_refused(result, time.perf_counter() - started, "larger than 67,108,864 bytes",
                    str(path))


# --- the same command gives the same answer from any directory -----------------------------

def test_compile_from_another_directory_gives_the_same_plan_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = variant(tmp_path / "repo")
    hashes = []
    for cwd, arg in [(manifest.parent, manifest.name), (tmp_path, str(manifest)),
                     (REPO, str(manifest)), (tmp_path / "repo" / "models",
                                             "../dev/" + manifest.name)]:
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(cli, ["compile", arg, "-o", str(tmp_path / "p.json")])
        assert result.exit_code == 0, result.output
        hashes.append(json.loads((tmp_path / "p.json").read_text())["plan_hash"])
    assert len(set(hashes)) == 1
    committed = json.loads(GOLDEN)["plan_hash"]
    assert hashes[0] == committed, "the copied manifest compiles to the committed plan"


def test_model_path_resolves_against_the_manifest_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decoy model next to the working directory is never read."""
    manifest = variant(tmp_path / "repo")
    decoy = tmp_path / "models" / "banking-core.yaml"
    decoy.parent.mkdir()
    decoy.write_text("not: [a model")
    monkeypatch.chdir(tmp_path / "repo")  # from here, ../models/banking-core.yaml is the decoy
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output


def test_absolute_model_path_is_refused(tmp_path: Path) -> None:
    manifest = variant(tmp_path, [("model: ../models/banking-core.yaml", f"model: {MODEL}")])
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, "is absolute; give it relative to the manifest's folder",
                    f"{manifest}:{line_of(manifest, 'model:')}:", out)


def test_generated_integer_above_int64_is_invalid_input(tmp_path: Path) -> None:
    """Each literal is in range; the product is not, and int64 arithmetic never wraps."""
    manifest = variant(tmp_path, model_edits=[
        (EXPR_NEEDLE, EXPR_NEEDLE + '\n      score:      {type: bigint, '
         'expr: "9007199254740992 * 4096"}')])
    model = tmp_path / "models" / "banking-core.yaml"
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, "is outside the 64-bit integer range", f"{model}:", out)


def test_real_cli_process_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, in its own process, as the pre-stop hook runs it."""
    import os
    import subprocess
    import sys

    manifest = tmp_path / "deep.yaml"
    manifest.write_text("x: " + "[" * 500 + "]" * 500 + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "seedc.cli", "compile", str(manifest), "-o",
                          str(tmp_path / "p.json")], capture_output=True, text=True, timeout=60,
                         env=env, check=False)
    assert run.returncode == 2, run.stderr
    assert f"{manifest}:1: nesting deeper than 32 levels" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert not (tmp_path / "p.json").exists()


def test_check_against_a_deeply_nested_file_is_a_difference_not_a_traceback(
    tmp_path: Path,
) -> None:
    """`compile --check` compares bytes first; an unreadable committed file is stale (exit 1)."""
    committed = tmp_path / "acme.plan.json"
    committed.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    result = CliRunner().invoke(cli, ["compile", str(MANIFEST), "--check", str(committed)])
    assert result.exit_code == 1, result.output
    assert "the committed file is not a readable plan" in result.output
    assert "Traceback" not in result.output


def test_plain_yaml_1_2_features_still_compile(tmp_path: Path) -> None:
    """The guard refuses hostile YAML, not YAML: a `%YAML 1.2` directive and a small alias."""
    manifest = variant(tmp_path, model_edits=[
        ('      id:         {type: uuid, expr: "key_uuid()"}',
         '      id:         &key {type: uuid, expr: "key_uuid()"}'),
        ('      id:        {type: uuid, expr: "key_uuid()"}', "      id:        *key")])
    manifest.write_text("%YAML 1.2\n---\n" + manifest.read_text())
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_too_many_entities_is_refused_by_the_schema(tmp_path: Path) -> None:
    """Compile time grows with the model; 200 entities (the example has 15) bound it."""
    extra = "".join(f"  e{i}:\n    table: app.e{i}\n    count: 1\n    columns:\n"
                    f"      id: {{type: uuid, expr: \"key_uuid()\"}}\n" for i in range(200))
    manifest = variant(tmp_path, model_edits=[("entities:\n", "entities:\n" + extra)])
    model = tmp_path / "models" / "banking-core.yaml"
    out = tmp_path / "plan.json"
    result, elapsed = _compile(manifest, out)
    _assert_refused(result, elapsed, "has too many properties",
                    f"{model}:{line_of(model, 'entities:')}: entities:", out)
    assert len(result.output) < 1000


def test_value_count_is_per_value_not_per_level(tmp_path: Path) -> None:
    """20,000 values 20 levels deep are 20,000 values, not 400,000; aliases count in full."""
    from seedc.compiler.yaml_guard import check_events

    deep = "".join(f"{'  ' * i}k{i}:\n" for i in range(20))
    items = "".join(f"{'  ' * 20}- {i}\n" for i in range(20_000))
    check_events(tmp_path / "ok.yaml", deep + items)
    aliased = "a: &a [" + ", ".join(["1"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    with pytest.raises(InvalidInput, match="expands to more than 100,000 values"):
        check_events(tmp_path / "bomb.yaml", aliased)


def test_thousands_of_errors_are_counted_not_all_listed(tmp_path: Path) -> None:
    manifest = variant(tmp_path)
    manifest.write_text(manifest.read_text() + "".join(f"k{i}: 1\n" for i in range(5000)))
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    assert result.exit_code == 2
    assert "invalid manifest: 5000 error(s)" in result.output
    assert "… and 4900 more" in result.output
    assert result.output.count("unknown field(s)") == 100
    assert not out.exists()
