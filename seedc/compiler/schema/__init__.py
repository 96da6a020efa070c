"""The published JSON Schemas of manifests and models (`seedc schema` prints them)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from seedc.compiler.source import MAX_SHOWN, Problems, Source, clip

__all__ = ["schema", "validate_against_schema"]


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of `manifest` or `model`."""
    text = resources.files("seedc.compiler.schema").joinpath(f"{kind}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate_against_schema(source: Source, kind: str, problems: Problems) -> None:
    """Add one problem per schema violation, each with its path and line."""
    validator = Draft202012Validator(schema(kind))
    for error in sorted(validator.iter_errors(source.data), key=lambda e: list(map(str, e.path))):
        path = tuple(error.path)
        message = error.message
        shown = repr(error.instance)
        if len(shown) > MAX_SHOWN:  # jsonschema echoes the whole value; cut it (issue 9)
            message = message.replace(shown, clip(error.instance))
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for unknown in sorted(set(error.instance) - known):
                problems.at(source, (*path, unknown),
                            f"unknown field(s): {clip(unknown)} (allowed: "
                            f"{', '.join(sorted(known))})")
            continue
        if error.validator == "required":
            missing = message.split("'")[1]
            problems.add(source, source.line_of(path), ".".join(map(str, (*path, missing))),
                         f"missing required field: {missing}")
            continue
        if "propertyNames" in error.schema_path:
            problems.at(source, (*path, str(error.instance)),
                        f"{clip(error.instance)} is not an allowed name "
                        "(lower-case letters, digits and _, starting with a letter)")
            continue
        if error.validator == "const" and path and path[-1] == "apiVersion":
            message = f"unknown apiVersion {clip(error.instance)}; this compiler reads 'seedc/v1'"
        problems.at(source, path, message)
