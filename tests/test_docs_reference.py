"""The generated reference pages cannot drift from the code (issue 11, "First hour").

The oracles here are independent of the generator: the schema files are walked again, the
generator registry is read from `seedc.program.functions.SIGNATURES`, and rule texts are found
by a plain regular expression over the sources. A rule text without a stable name in
`seedc/rules.toml`, or a name whose text left the code, fails with the list to fix. Finally the
whole site builds with `mkdocs build --strict` from a copy without any generated page, which
proves the hook regenerates them and that no link or anchor is broken.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "seedc" / "compiler" / "schema"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  ROOT / "docs" / "gen_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(gen: ModuleType) -> dict[str, str]:
    return gen.pages()


def _declared_properties(node: Any) -> set[str]:
    """Every key of every `properties` object in a JSON Schema document."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "properties" and isinstance(child, dict):
                names.update(child)
                for sub in child.values():
                    names |= _declared_properties(sub)
            else:
                names |= _declared_properties(child)
    elif isinstance(node, list):
        for child in node:
            names |= _declared_properties(child)
    return names


def _table_paths(page: str) -> set[str]:
    """Path segments of the first column of the field tables: | `a.<entity>.b` | …"""
    segments: set[str] = set()
    for path in re.findall(r"^\| `([^`]+)` \|", page, flags=re.MULTILINE):
        segments.update(path.replace("[]", "").split("."))
    return segments


@pytest.mark.parametrize("kind", ["manifest", "model"])
def test_schema_reference_lists_every_property(kind: str, pages: dict[str, str]) -> None:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))
    declared = _declared_properties(schema)
    assert len(declared) > 10
    listed = _table_paths(pages[f"reference/{kind}.md"])
    assert sorted(declared - listed) == [], f"{kind} fields missing from reference/{kind}.md"


def test_schema_reference_marks_required_fields(pages: dict[str, str]) -> None:
    page = pages["reference/manifest.md"]
    assert "| `reference_datetime` | yes |" in page
    assert "| `batch_size` | no |" in page
    assert "| `keys.salt_version` | yes |" in page
    assert "| `volumetry.<entity>.cap` | yes |" in page


def test_expression_reference_lists_exactly_the_registered_generators(
        pages: dict[str, str]) -> None:
    import seedc.program.batch  # noqa: F401  (registers the finance generators too)
    from seedc.program.functions import SIGNATURES

    page = pages["reference/expressions.md"]
    table = page.split("## Generators", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_0-9]+)` \| ([^|]*) \|", table, flags=re.MULTILINE))
    assert set(rows) == set(SIGNATURES)
    assert f"{len(SIGNATURES)} generators are registered" in page
    for keyword in SIGNATURES["loan_quote"][2]:
        assert f"`{keyword}`" in rows["loan_quote"]
    assert rows["key_uuid"].strip() == "none"
    assert rows["int_range"].strip() == "2 positional"


def test_expression_reference_embeds_the_shipped_grammar(pages: dict[str, str]) -> None:
    grammar = (ROOT / "seedc" / "grammar" / "expression.lark").read_text(encoding="utf-8")
    assert grammar.strip() in pages["reference/expressions.md"]


def _rule_literals() -> set[str]:
    """`rule="…"` arguments and `*RULE* = "…"` constants written on one line, by regex."""
    found: set[str] = set()
    pattern = re.compile(r'(?:\brule=|\b\w*RULE\w* = )"([^"\n]+)"(?!\s*\n\s*")')
    for path in (ROOT / "seedc").rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_rules_page_lists_every_rule_text_in_the_code(pages: dict[str, str]) -> None:
    literals = _rule_literals()
    assert "fail-closed preflight" in literals
    assert "finance.cet" in literals
    page = pages["reference/rules.md"]
    assert sorted(t for t in literals if f"`{t}`" not in page) == []


def test_rules_page_lists_every_preflight_check_rule(pages: dict[str, str]) -> None:
    from seedc.runtime.preflight import CHECKS, PRIMARY_RULE

    page = pages["reference/rules.md"]
    for rule in [PRIMARY_RULE, *(rule for _, rule, _ in CHECKS)]:
        assert f"`{rule}`" in page


def test_every_rule_has_a_stable_name_and_every_name_a_rule(gen: ModuleType) -> None:
    found = gen.collect_rules()
    names = gen.load_names()
    unnamed, stale = gen.unnamed_and_stale(found, names)
    assert unnamed == [], "add these rule texts to seedc/rules.toml with a stable name"
    assert stale == [], "these texts in seedc/rules.toml are no longer in seedc/**"
    assert len({r.name for r in names}) == len(names), "stable names must be unique"
    for rule in names:
        assert re.fullmatch(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+", rule.name), rule.name
        assert rule.why, rule.name


def test_a_new_or_reworded_rule_is_reported(gen: ModuleType, tmp_path: Path) -> None:
    """The drift check itself: a rule= text added to the code and one renamed away."""
    package = tmp_path / "seedc"
    package.mkdir()
    (package / "guard.py").write_text(
        "from seedc.errors import GuardRefused\n"
        "def check():\n"
        "    raise GuardRefused('no', rule='a brand new rule (session 3)')\n")
    found = gen.collect_rules(package)
    assert found["a brand new rule (session 3)"].exits == {3}
    names = [gen.NamedRule("old.rule", "g", ("an old text",), "why", ())]
    assert gen.unnamed_and_stale(found, names) == (["a brand new rule (session 3)"],
                                                   ["an old text"])
    page = gen.rules_page(found, names)
    assert "## Not yet named" in page
    assert "`a brand new rule (session 3)` (seedc/guard.py)" in page
    assert "## Named but no longer in the code" in page


def test_rule_exit_codes_come_from_the_exception_classes(gen: ModuleType) -> None:
    found = gen.collect_rules()
    assert found["fail-closed preflight"].exits == {3}
    assert found["plan hash verified before apply"].exits == {2}
    assert found["verify on the primary in one snapshot (session 18)"].exits == {4}
    assert found["count {volume.count} is above its cap {volume.cap} (session 5)"].exits == {2}


def test_sessions_are_read_from_rule_texts(gen: ModuleType) -> None:
    assert gen.sessions_of("abort at 100% of budget (sessions 7, 16)") == (7, 16)
    assert gen.sessions_of("every table is tenant-scoped (RLS, session 4); name it") == (4,)
    assert gen.sessions_of("plans are versioned and strict") == ()


def test_generate_writes_each_page_once(gen: ModuleType, tmp_path: Path) -> None:
    """`mkdocs serve` must not rebuild in a loop: an unchanged page is not rewritten."""
    written = gen.generate(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "reference/expressions.md", "reference/manifest.md", "reference/model.md",
        "reference/rules.md"]
    assert gen.generate(tmp_path) == []


@pytest.mark.slow
def test_site_builds_strict_from_a_clean_copy(tmp_path: Path) -> None:
    """Warnings are errors; the hook must create the reference pages the nav points to."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs",
                    ignore=shutil.ignore_patterns("reference", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("reference/manifest", "reference/model", "reference/expressions",
                 "reference/rules", "getting-started", "operations"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
    assert not (tmp_path / "site" / "gen_reference.py").exists()
    assert not (tmp_path / "site" / "rules.toml").exists()


def test_expression_reference_lists_growth_stability(pages: dict[str, str]) -> None:
    from seedc.program.stability import PARENT_ASSIGNMENT, SIZE_DEPENDENT

    section = pages["reference/expressions.md"].split("## Growth stability", 1)[1]
    for name in [*SIZE_DEPENDENT, *PARENT_ASSIGNMENT]:
        assert f"| `{name}` |" in section
    assert "changing `batch_size` changes no row" in section
