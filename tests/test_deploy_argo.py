"""Every template under deploy/argo/ is one Argo would accept (issue 13), and the Dockerfile
the templates run is slim, non-root and without dev extras (static checks: no container engine
here to build it).

Each YAML is parsed into Hera's model of its kind (Hera's models mirror Argo Workflows'
OpenAPI schema) and dumped back: a field Argo does not know is dropped by the model, so the
round trip differs and the test fails; a wrong type fails validation. On top, what the schema
cannot say: the entrypoint and every referenced template exist, parameters used are declared.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hera.workflows.models import CronWorkflow, WorkflowTemplate
from pydantic import ValidationError

from tests.manifests import REPO

ARGO = REPO / "deploy" / "argo"
MODELS: dict[str, Any] = {"WorkflowTemplate": WorkflowTemplate, "CronWorkflow": CronWorkflow}
TEMPLATES = sorted(ARGO.glob("*.yaml"))


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    return spec.get("workflowSpec", spec) if doc["kind"] == "CronWorkflow" else spec


def _references(spec: dict[str, Any]) -> list[str]:
    problems = []
    names = {t["name"] for t in spec.get("templates", [])}
    if "workflowTemplateRef" in spec:
        ref = spec["workflowTemplateRef"]["name"]
        known = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in TEMPLATES}
        return [] if ref in known else [f"workflowTemplateRef {ref} is not in deploy/argo"]
    if spec.get("entrypoint") not in names:
        problems.append(f"entrypoint {spec.get('entrypoint')} names no template")
    declared = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    for template in spec.get("templates", []):
        for group in template.get("steps", []):
            for step in group:
                if step["template"] not in names:
                    problems.append(f"step {step['name']} calls unknown {step['template']}")
        inputs = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        text = yaml.safe_dump(template)
        for used in re.findall(r"\{\{workflow\.parameters\.([\w-]+)\}\}", text):
            if used not in declared:
                problems.append(f"template {template['name']} uses undeclared {used}")
        for used in re.findall(r"\{\{inputs\.parameters\.([\w-]+)\}\}", text):
            if used not in inputs:
                problems.append(f"template {template['name']} uses undeclared input {used}")
    return problems


def argo_problems(doc: dict[str, Any]) -> list[str]:
    """What Argo would reject in one document (empty: accepted)."""
    if doc.get("apiVersion") != "argoproj.io/v1alpha1" or doc.get("kind") not in MODELS:
        return [f"not an Argo kind: {doc.get('apiVersion')}/{doc.get('kind')}"]
    try:
        model = MODELS[doc["kind"]].model_validate(doc)
    except ValidationError as exc:
        return [f"validation error at {'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()]
    dumped = _strip_none(model.model_dump(by_alias=True, exclude_none=True, mode="json"))
    if dumped != _strip_none(doc):
        return ["fields Argo does not know (dropped by the model)"]
    return _references(_spec(doc))


def test_there_are_templates_for_each_job() -> None:
    kinds = {p.stem: yaml.safe_load(p.read_text())["kind"] for p in TEMPLATES}
    assert kinds == {"pr-check": "WorkflowTemplate", "staging-load": "WorkflowTemplate",
                     "ttl-purge-staging": "CronWorkflow", "ttl-purge-homolog": "CronWorkflow",
                     "dr-drill": "CronWorkflow"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_template_validates(path: Path) -> None:
    assert argo_problems(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ARGO / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "breakage", "expected"), [
    ("staging-load.yaml", lambda d: d["spec"]["templates"][1]["container"].update(
        {"imagePullSecret": "x"}), "fields Argo does not know"),
    ("staging-load.yaml", lambda d: d["spec"].update({"activeDeadlineSeconds": "soon"}),
     "validation error"),
    ("pr-check.yaml", lambda d: d["spec"].update({"entrypoint": "mian"}),
     "entrypoint mian names no template"),
    ("staging-load.yaml", lambda d: d["spec"]["templates"][0]["steps"][1][0].update(
        {"template": "verfy"}), "calls unknown verfy"),
    ("ttl-purge-staging.yaml", lambda d: d["spec"].update({"timeZone": "UTC"}),
     "fields Argo does not know"),
    ("ttl-purge-staging.yaml", lambda d: d["spec"].pop("schedules"),
     "validation error at spec.schedules"),
    ("dr-drill.yaml", lambda d: d["spec"]["workflowSpec"]["workflowTemplateRef"].update(
        {"name": "nope"}), "workflowTemplateRef nope"),
])
def test_a_template_argo_would_reject_fails(name: str, breakage: Any, expected: str) -> None:
    broken = copy.deepcopy(_load(name))
    breakage(broken)
    problems = argo_problems(broken)
    assert problems
    assert any(expected in p for p in problems), problems


def test_fan_out_propagates_traceparent_and_retries_only_resumable_exits() -> None:
    doc = _load("staging-load.yaml")
    spec = doc["spec"]
    assert spec["serviceAccountName"] == "seedc-apply"
    assert spec["automountServiceAccountToken"] is False
    apply = next(t for t in spec["templates"] if t["name"] == "apply")
    env = {e["name"]: e for e in apply["container"]["env"]}
    assert env["TRACEPARENT"]["value"] == "{{workflow.parameters.traceparent}}"
    assert "value" not in env["PGPASSWORD"]  # from a Secret, never inline
    assert apply["retryStrategy"]["expression"] == "asInt(lastRetry.exitCode) == 4"
    steps = spec["templates"][0]["steps"][0]
    assert [s["arguments"]["parameters"][0]["value"] for s in steps] == ["--json", "--join"]


def test_the_ttl_purge_runs_the_lifecycle_command_per_environment() -> None:
    for env in ("staging", "homolog"):
        doc = _load(f"ttl-purge-{env}.yaml")
        container = doc["spec"]["workflowSpec"]["templates"][0]["container"]
        assert container["args"] == [
            f'exec seedc purge --expired --dsn "$SEEDC_DSN" --environment {env} --json']


def test_the_dockerfile_is_slim_non_root_without_dev_extras() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms
    assert all(re.match(r"FROM python:3\.\d+-slim", f) for f in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0", "0:0")
    assert "[dev]" not in text
    assert "pip install" in text
    assert lines[-1].startswith("ENTRYPOINT")
    assert "seedc" in lines[-1]
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", ".env.local", ".seedc"} <= set(ignored)
