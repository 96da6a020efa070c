"""The Argo CD PostSync hook (issue 14; session 14): deploy/argocd/postsync-verify-job.yaml is a
valid Kubernetes Job (kubernetes-validate's schemas, strict: unknown fields fail), carries the
hook annotations that make a failed verification fail the sync, and runs a real `seedc verify`
command line; a broken copy is refused by the same validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from seedc.cli import cli
from tests.manifests import REPO

HOOK = REPO / "deploy" / "argocd" / "postsync-verify-job.yaml"


def _job() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(HOOK.read_text(encoding="utf-8")) if d]
    assert len(docs) == 1
    job: dict[str, Any] = docs[0]
    return job


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_hook_job_validates_against_the_kubernetes_schema() -> None:
    _validate(_job())


def test_it_is_a_postsync_hook_that_fails_the_sync_on_drift() -> None:
    job = _job()
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["args"][0] == "verify"
    env = {e["name"]: e for e in container["env"]}
    assert "valueFrom" in env["PGPASSWORD"]  # from a Secret, never a literal
    assert not any("password" in str(a).lower() for a in container["args"])


def test_its_command_line_is_a_real_seedc_verify_invocation(tmp_path: Path) -> None:
    container = _job()["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    plan = REPO / env["SEEDC_PLAN"]
    assert plan.is_file()
    args = [a.replace("$(SEEDC_PLAN)", str(plan)) for a in container["args"]]
    ctx = cli.make_context("seedc", [*args, "--help"], resilient_parsing=True)
    command = cli.get_command(ctx, args[0])
    assert command is not None
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    assert {a for a in args[1:] if a.startswith("-")} <= known


@pytest.mark.parametrize(("what", "path", "value"), [
    ("a string where an integer goes", ("spec", "backoffLimit"), "zero"),
    ("a misspelt field", ("spec", "template", "spec", "container"), []),
    ("no containers", ("spec", "template", "spec", "containers"), None),
])
def test_a_broken_copy_fails_validation(what: str, path: tuple[str, ...],
                                        value: Any) -> None:
    job = copy.deepcopy(_job())
    node = job
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(job)
