"""The getting-started guide's plan hashes are what its manifests compile to (issue 11).

The guide's transcripts were replayed once and then went stale as the compiler changed: a
newcomer comparing hashes found others. Here the guide's own edits are replayed (its diff
block on `manifests/dev/acme.yaml`, then the loan and clock changes its prose names) and each
plan is compiled in-process; every hash the guide prints for it must be the compiled one.
Run-time lines (run ids, rows/s, ports) stay as replayed; `tests/test_demo.py` checks the
demo's preflight line against the guide.
"""

from __future__ import annotations

import re
from pathlib import Path

from seedc.compiler.pipeline import compile_manifest
from tests.manifests import REPO, variant

GUIDE = REPO / "docs" / "getting-started.md"


def _diff_edits(guide: str) -> list[tuple[str, str]]:
    """The guide's ```diff block as (old, new) text replacements, one per hunk of `-` lines
    followed by `+` lines."""
    block = re.search(r"```diff\n(.*?)```", guide, re.S)
    assert block, "the guide has no diff block"
    edits: list[tuple[list[str], list[str]]] = []
    for line in block.group(1).splitlines():
        sign, text = line[:1], line[1:]
        if sign == "-" and (not edits or edits[-1][1]):
            edits.append(([], []))
        assert sign in ("-", "+"), f"unexpected diff line {line!r}"
        assert edits, f"a `+` line before any `-` line: {line!r}"
        edits[-1][0 if sign == "-" else 1].append(text)
    return [("\n".join(old) + "\n", "\n".join(new) + "\n") for old, new in edits]


def _wrote_hash(guide: str, plan: str) -> str:
    """The hash of the last `wrote PLAN (sha256:…` line of the guide for that plan path."""
    found = re.findall(rf"^wrote {re.escape(plan)} \(sha256:([0-9a-f]{{64}}),", guide, re.M)
    assert found, f"the guide compiles no {plan}"
    return found[-1]


def test_guide_hashes_are_what_its_manifests_compile_to(tmp_path: Path) -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    edits = _diff_edits(guide)
    assert len(edits) == 5  # header comment, tenant, customers, transactions, key path

    loans = ("loans:         {count: 12, cap: 50}", "loans:         {count: 13, cap: 50}")
    clock = ('reference_datetime: "2025-01-01T00:00:00Z"',
             'reference_datetime: "2025-07-01T00:00:00Z"')
    assert "`loans: {count: 12, cap: 50}` → `{count: 13, cap: 50}`" in guide  # the prose
    assert f"`{clock[1]}`" in guide

    first = compile_manifest(variant(tmp_path / "v1", edits, name="initech.yaml"))
    second = compile_manifest(variant(tmp_path / "v2", [*edits, loans], name="initech.yaml"))
    july = compile_manifest(variant(tmp_path / "jul", [*edits, loans, clock],
                                    name="initech-jul.yaml"))
    v1, v2, jul = (p["plan_hash"].removeprefix("sha256:") for p in (first, second, july))

    assert _wrote_hash(guide.split("## 3.", 1)[0], "plans/dev/initech.plan.json") == v1
    assert _wrote_hash(guide, "/tmp/initech-v2.plan.json") == v2
    assert _wrote_hash(guide, "plans/dev/initech.plan.json") == v2
    assert _wrote_hash(guide, "/tmp/initech-jul.plan.json") == jul
    # every full hash the guide shows is one of these plans' (or the demo's acme plan)
    acme = compile_manifest(REPO / "manifests" / "dev" / "acme.yaml")["plan_hash"]
    known = {v1, v2, jul, acme.removeprefix("sha256:"),
             first["sources"]["manifest_sha256"].removeprefix("sha256:"),
             second["sources"]["manifest_sha256"].removeprefix("sha256:"),
             first["guards"]["schema"]["fingerprint"].removeprefix("sha256:")}
    shown = set(re.findall(r"sha256:([0-9a-f]{64})\b", guide))
    unknown = shown - known
    assert not unknown, f"hashes in the guide that no replayed plan has: {sorted(unknown)}"
