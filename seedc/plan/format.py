"""Plan format version and strict reading: a plan is verified before anything trusts it.

Like Terraform's planfile, an unknown format version is refused by name, and a plan whose
hash does not match its content is refused as tampered or stale. Whatever the file holds —
a manifest given by mistake, UTF-16, a truncated or huge file, JSON nested 100,000 deep, the
wrong types — reading it ends in `InvalidInput` (exit 2), never a traceback (issue 9).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedc.errors import InvalidInput
from seedc.plan.canonical import plan_hash
from seedc.plan.model import validate_plan

__all__ = ["FORMAT_VERSION", "GENERATOR_VERSION", "MAX_PLAN_BYTES", "read_plan", "verify_plan"]

MAX_PLAN_BYTES = 64 << 20  # committed plans are ~250 KB; the 1.24M-row load plan ~200 KB

FORMAT_VERSION = "seedc.plan/1"
GENERATOR_VERSION = "2"
_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "format": (str, "a string"), "compiler": (dict, "an object"),
    "generators": (dict, "an object"), "sources": (dict, "an object"),
    "tenant": (str, "a string"), "tenant_id": (str, "a string"),
    "environment": (str, "a string"), "mode": (str, "a string"),
    "reference_datetime": (str, "a string"), "keys": (dict, "an object"),
    "guards": (dict, "an object"), "program": (dict, "an object"),
    "entities": (list, "a list"), "batches": (list, "a list"), "estimate": (dict, "an object"),
    "rows_inline": (bool, "true or false"), "plan_hash": (str, "a string"),
}
REQUIRED = (
    "format", "compiler", "generators", "sources", "tenant", "tenant_id", "environment", "mode",
    "reference_datetime", "keys", "guards", "program", "entities", "batches", "estimate",
    "rows_inline", "plan_hash",
)


def verify_plan(plan: Any, where: str = "plan") -> dict[str, Any]:
    """Check format version, required fields and the hash; return the plan."""
    if not isinstance(plan, dict):
        raise InvalidInput(f"{where}: not a seedc plan (expected a JSON object)")
    fmt = plan.get("format")
    if fmt != FORMAT_VERSION:
        raise InvalidInput(
            f"{where}: plan format {fmt!r} is not supported; this seedc reads {FORMAT_VERSION!r}",
            rule="plans are versioned and strict",
        )
    missing = [k for k in REQUIRED if k not in plan]
    if missing:
        raise InvalidInput(f"{where}: plan lacks field(s): {', '.join(missing)}")
    wrong = _wrong_types(plan)
    if wrong:
        raise InvalidInput(f"{where}: not a valid seedc plan: wrong type for {', '.join(wrong)}; "
                           "recompile it")
    problem = _shape_problem(plan, _SHAPE, "") or _batch_problem(plan["batches"])
    if problem:
        raise InvalidInput(f"{where}: not a valid seedc plan: {problem}; recompile it")
    try:
        expected = plan_hash(plan)
    except (TypeError, ValueError) as exc:  # floats, numbers beyond 2^53, odd values
        raise InvalidInput(f"{where}: not a valid seedc plan: {str(exc)[:120]}; recompile it",
                           rule="plans are RFC 8785 JSON") from None
    if plan["plan_hash"] != expected:
        raise InvalidInput(
            f"{where}: plan hash mismatch (recorded {plan['plan_hash']}, content {expected}); "
            "the plan was edited after compiling: recompile it",
            rule="plan hash verified before apply",
        )
    return plan


class _Opt:
    """A key that may be absent (or null): batches of a load plan carry no `rows`."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape


class _Each:
    """A JSON object whose values (under any key) all have one shape."""

    def __init__(self, shape: Any) -> None:
        self.shape = shape


_ROW = [(str, int, bool, dict, type(None))]
# What `show`, `diff` and the runtime read from a plan, with the JSON type each expects; a
# plan whose hash was recomputed after an edit must not reach them with other types (issue 9).
_SHAPE: dict[str, Any] = {
    "compiler": {"version": str},
    "sources": {"model": {"name": str, "version": int}},
    "keys": {"ref": str, "salt_version": int, "algorithm": str},
    "guards": {
        "window": {"start_utc": str, "end_utc": str},
        "budget": {"max_rows": int, "max_bytes": int, "max_seconds": int},
        "flags": [str],
        "timeouts": {"statement_ms": int, "lock_ms": int},
        "schema": {"migrations_head": str, "fingerprint": str},
    },
    "estimate": {"rows": int, "bytes": int, "seconds": int},
    "entities": [{"name": str, "table": str, "rows": int, "pii": [str], "columns": [str]}],
    "batches": [{
        "id": str, "entity": str, "table": str, "columns": [str], "row_count": int,
        "chain_hash": str, "depends_on": [str], "rows": _Opt([_ROW]),
    }],
    "program": {"entities": _Each({"table": str, "columns": list})},
}
_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
          dict: "an object"}


def _shape_problem(value: Any, shape: Any, path: str) -> str | None:
    """The first place where `value` does not have `shape`, or None; no recursion limit is
    at risk: shapes are at most five levels deep."""
    if isinstance(shape, _Opt):
        return None if value is None else _shape_problem(value, shape.shape, path)
    if isinstance(shape, _Each):
        if not isinstance(value, dict):
            return f"{path} must be an object"
        for key, item in value.items():
            problem = _shape_problem(item, shape.shape, f"{path}.{key}"[:80])
            if problem:
                return problem
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{path or 'the plan'} must be an object"
        for key, sub in shape.items():
            if key not in value and not isinstance(sub, _Opt):
                return f"{path}.{key} is missing".lstrip(".")
            problem = _shape_problem(value.get(key), sub, f"{path}.{key}".lstrip("."))
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{path} must be a list"
        for index, item in enumerate(value):
            problem = _shape_problem(item, shape[0], f"{path}[{index}]")
            if problem:
                return problem
        return None
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, bool) and bool not in kinds:
        return f"{path} must be {_NAMES.get(kinds[0], kinds[0].__name__)}"
    if not isinstance(value, kinds):
        return f"{path} must be {_NAMES.get(kinds[0], kinds[0].__name__)}"
    return None


def _batch_problem(batches: list[dict[str, Any]]) -> str | None:
    """Batch ids name their entity after a dash; inline rows have one cell per column."""
    for index, batch in enumerate(batches):
        if "-" not in batch["id"]:
            return f"batches[{index}].id {batch['id'][:40]!r} is not a batch id"
        width = len(batch["columns"])
        for number, row in enumerate(batch.get("rows") or []):
            if len(row) != width or not row:
                return (f"batches[{index}].rows[{number}] has {len(row)} cells for "
                        f"{width} columns")
    return None


def _wrong_types(plan: dict[str, Any]) -> list[str]:
    """Top-level fields (and batches) whose JSON type is not what the runtime reads."""
    wrong = [f"{key} (expected {name})" for key, (kind, name) in _TYPES.items()
             if not isinstance(plan[key], kind)]
    batches = plan["batches"]
    if isinstance(batches, list):
        wrong += [f"batches[{i}] (expected an object)"
                  for i, batch in enumerate(batches) if not isinstance(batch, dict)][:1]
    return wrong


def read_plan(path: Path) -> dict[str, Any]:
    """Load and verify a plan file."""
    try:
        too_big = path.stat().st_size > MAX_PLAN_BYTES
        with path.open("rb") as handle:
            raw = b"" if too_big else handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read plan: {exc.strerror}") from None
    if too_big or len(raw) > MAX_PLAN_BYTES:
        raise InvalidInput(f"{path}: the plan is larger than {MAX_PLAN_BYTES:,} bytes (the "
                           "limit); is it a seedc plan? recompile it")
    if _looks_like_yaml(path, raw):
        raise InvalidInput(
            f"{path}:1: this is a manifest, not a plan: compile it first: "
            f"seedc compile {path} -o {path.with_suffix('.plan.json').name}",
            rule="apply, show, diff and keys read compiled plans",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"{path}:{line}: not a seedc plan: not UTF-8 JSON (byte "
                           f"0x{raw[exc.start]:02x}); recompile it") from None
    try:
        plan = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (truncated or "
                           "edited? recompile it)") from None
    except (ValueError, RecursionError) as exc:  # NaN, 5000-digit numbers, nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        raise InvalidInput(f"{path}: not a seedc plan: {reason}; recompile it") from None
    verify_plan(plan, str(path))
    validate_plan(plan, str(path))
    return plan


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _looks_like_yaml(path: Path, raw: bytes) -> bool:
    """A manifest (or any YAML) where a plan was expected: say so instead of a JSON error."""
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return False
    return path.suffix.lower() in (".yaml", ".yml") or b"apiVersion:" in head \
        or b"kind: Manifest" in head
