"""The compiler, as one visible pipeline: load → validate → lower → order → generate → plan.

Pure: it reads the manifest and its model and nothing else — no network, no database, no
clock — so the same inputs give byte-identical plans on any machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rfc8785 import CanonicalizationError

from seedc.compiler.build import BudgetExceeded, build_plan
from seedc.compiler.manifest import Manifest, check_manifest, parse_manifest
from seedc.compiler.model import ModelSpec, parse_model
from seedc.compiler.order import CycleError, topological_order
from seedc.compiler.schema import validate_against_schema
from seedc.compiler.source import Problems, Source, clip, load_yaml
from seedc.errors import InvalidInput
from seedc.plan.canonical import sha256_hex
from seedc.program.batch import ColumnError
from seedc.program.values import ProgramError

__all__ = ["compile_manifest", "load_inputs"]


def _display_path(path: Path) -> str:
    """A path for the plan's info block: relative to the working directory when possible."""
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:
        return path.name


def load_inputs(manifest_path: Path) -> tuple[Manifest, Source, ModelSpec, Source]:
    """Load and validate the manifest and its model, reporting every problem of both at once:
    the manifest's schema and cross-field rules, and the model's, in one run (issue 11)."""
    problems, model_problems = Problems(), Problems()
    source = load_yaml(manifest_path)
    validate_against_schema(source, "manifest", problems)
    manifest: Manifest | None = None
    if not problems.items:
        try:
            manifest = parse_manifest(source)
        except ValidationError as exc:  # the schema should have caught it; never a traceback
            raise InvalidInput(f"{source.path}:1: invalid manifest: "
                               f"{clip(str(exc).splitlines()[0], 200)}") from None
        check_manifest(manifest, source, problems)
    model_ref = source.data.get("model") if isinstance(source.data, dict) else None
    model: ModelSpec | None = None
    model_source: Source | None = None
    # Relative to the manifest's own folder, never the working directory: the same command
    # gives the same plan from any directory (issue 9).
    if isinstance(model_ref, str) and Path(model_ref).is_absolute():
        problems.at(source, ("model",), f"model path {clip(model_ref)} is absolute; give "
                    "it relative to the manifest's folder so the plan is the same everywhere")
    elif isinstance(model_ref, str) and model_ref:
        model_path = (manifest_path.parent / model_ref).resolve()
        if not model_path.is_file():
            problems.at(source, ("model",), f"model file {clip(model_ref)} not found "
                        f"(relative to {clip(str(manifest_path.parent))})")
        else:
            model_source = load_yaml(model_path)
            validate_against_schema(model_source, "model", model_problems)
            if not model_problems.items:
                model = parse_model(model_source, model_problems)
            if manifest is not None and model is not None:
                _check_against_model(manifest, source, model, model_source, problems)
    _raise_together(problems, model_problems, model_source)
    if manifest is None or model is None or model_source is None:  # the schema requires both
        raise InvalidInput(f"{source.path}:1: the manifest names no model file")
    return manifest, source, model, model_source


def _raise_together(problems: Problems, model_problems: Problems,
                    model_source: Source | None) -> None:
    """One error listing the manifest's problems, then the model's under their own heading."""
    if not model_problems.items:
        problems.raise_if_any()
        return
    if not problems.items:
        model_problems.raise_if_any("invalid model")
    count, details = problems.lines()
    model_count, model_details = model_problems.lines()
    where = model_source.path if model_source is not None else "the model"
    raise InvalidInput(f"invalid manifest ({count} error(s)) and model ({model_count} error(s))",
                       details=[*details, f"model problems ({where}):", *model_details])


def _check_against_model(
    manifest: Manifest, source: Source, model: ModelSpec, model_source: Source,
    problems: Problems,
) -> None:
    for name in manifest.volumetry:
        entity = model.entities.get(name)
        if entity is None:
            problems.at(source, ("volumetry", name), f"the model has no entity {name!r}")
        elif entity.count is not None or entity.expand_count is not None:
            problems.at(source, ("volumetry", name),
                        f"{name} has its row count fixed by the model; remove it here")
    for name, entity in model.entities.items():
        if entity.count is None and entity.expand_count is None and name not in manifest.volumetry:
            problems.at(source, ("volumetry",), f"missing volumetry for entity {name!r}")
    for name, shares in manifest.states.items():
        entity = model.entities.get(name)
        if entity is None or not entity.states:
            problems.at(source, ("states", name), f"entity {name!r} declares no states")
            continue
        for state in shares:
            if state not in entity.states:
                problems.at(source, ("states", name, state),
                            f"unknown state {state!r} (allowed: {', '.join(entity.states)})")
    if model.routing is not None and manifest.sandbox is None:
        problems.at(source, ("model",), "the model declares routing (outbox and routes): the "
                    "manifest must say what a sandbox sink is (sandbox.sink_pattern, "
                    "sessions 8, 18)")


def compile_manifest(manifest_path: Path) -> dict[str, Any]:
    """Compile one manifest into a plan dict (with its `plan_hash`)."""
    manifest, source, model, model_source = load_inputs(manifest_path)
    problems = Problems()
    try:
        order = topological_order(model.entities)
    except CycleError as exc:
        problems.at(model_source, ("entities", exc.cycle[0], "parent"), str(exc))
        problems.raise_if_any("invalid model")
        raise
    digests = {
        "manifest": "sha256:" + sha256_hex(source.raw),
        "model": "sha256:" + sha256_hex(model_source.raw),
    }
    info = {
        "manifest_path": _display_path(manifest_path),
        "model_path": _display_path(model_source.path),
        "regenerate": f"seedc compile {_display_path(manifest_path)} -o <plan>",
    }
    try:
        return build_plan(manifest, model, order, digests, info)
    except BudgetExceeded as exc:
        problems.at(source, ("budget", exc.field), exc.reason)
        problems.raise_if_any("over budget")
        raise
    except ColumnError as exc:
        problems.at(model_source, ("entities", exc.entity, "columns", exc.column, "expr"),
                    exc.reason)
        problems.raise_if_any("invalid model")
        raise
    except ProgramError as exc:
        problems.add(model_source, 1, "entities", str(exc))
        problems.raise_if_any("invalid model")
        raise
    except (ArithmeticError, CanonicalizationError) as exc:
        # A generated value out of range that the generators did not catch themselves: an
        # int64 overflow, or an integer above 2^53 that RFC 8785 JSON cannot hold (issue 9).
        problems.add(model_source, 1, "entities",
                     f"a generated value is out of range ({type(exc).__name__}: "
                     f"{clip(str(exc), 120)}); keep integers within int64 and, in the plan's "
                     "RFC 8785 JSON, within 2^53")
        problems.raise_if_any("invalid model")
        raise
