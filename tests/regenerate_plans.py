"""Regenerate the committed golden plans: `python -m tests.regenerate_plans` (explicit only)."""

from __future__ import annotations

import os

from seedc.compiler.pipeline import compile_manifest
from seedc.plan.canonical import pretty_bytes
from tests.manifests import REPO
from tests.test_golden_plans import MANIFESTS, plan_path_for

if __name__ == "__main__":
    os.chdir(REPO)
    for manifest in MANIFESTS:
        out = plan_path_for(manifest)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(pretty_bytes(compile_manifest(manifest.relative_to(REPO))))
        print(f"wrote {out.relative_to(REPO)}")
