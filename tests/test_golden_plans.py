"""Every committed plan under plans/ is exactly what its manifest compiles to.

Regenerate deliberately with `python -m tests.regenerate_plans` (never silently).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from tests.manifests import REPO

MANIFESTS = sorted(p for p in (REPO / "manifests").glob("*/*.yaml") if p.parent.name != "models")


def plan_path_for(manifest: Path) -> Path:
    return REPO / "plans" / manifest.parent.name / (manifest.stem + ".plan.json")


def test_there_are_golden_plans_for_every_manifest() -> None:
    assert len(MANIFESTS) >= 4
    for manifest in MANIFESTS:
        assert plan_path_for(manifest).is_file(), f"no committed plan for {manifest}"


@pytest.mark.parametrize("manifest", MANIFESTS,
                         ids=[f"{m.parent.name}/{m.name}" for m in MANIFESTS])
def test_committed_plan_is_up_to_date(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    plan = plan_path_for(manifest).relative_to(REPO)
    result = CliRunner().invoke(cli, ["compile", str(manifest.relative_to(REPO)),
                                      "--check", str(plan)])
    assert result.exit_code == 0, result.output


def test_check_reports_a_stale_plan_with_exit_1(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    stale = tmp_path / "stale.json"
    text = (REPO / "plans" / "dev" / "acme.plan.json").read_text()
    stale.write_text(text.replace('"Acme Pagamentos S.A."', '"Acme Editada"', 1))
    result = CliRunner().invoke(cli, ["compile", "manifests/dev/acme.yaml", "--check",
                                      str(stale)])
    assert result.exit_code == 1
    assert "stale" in result.output
    assert "batch tenants-0001" in result.output


def test_load_plan_stays_small_without_rows() -> None:
    path = REPO / "plans" / "staging" / "acme-load.plan.json"
    assert path.stat().st_size < 1_000_000
    import json

    plan = json.loads(path.read_text())
    assert plan["estimate"]["rows"] >= 1_000_000
    assert plan["rows_inline"] is False
    assert all("rows" not in b for b in plan["batches"])
