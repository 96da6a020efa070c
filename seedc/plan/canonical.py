"""Canonical JSON (RFC 8785) and the plan hash.

The plan hash is computed over the canonical form so that whitespace and key order in the
file on disk cannot change it; the file itself is written in a stable pretty form that keeps
each row on one line, so that a pull-request diff shows data changes row by row.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical_bytes", "plan_hash", "pretty_bytes", "sha256_hex"]

HASH_FIELD = "plan_hash"
INFO_FIELD = "info"  # human context (paths, how to regenerate); never read by the runtime


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 bytes of `obj`; floats are refused because they are not exact."""
    _refuse_floats(obj)
    return rfc8785.dumps(obj)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256, the one digest used across plans, checkpoints and evidence."""
    return hashlib.sha256(data).hexdigest()


def plan_hash(plan: dict[str, Any]) -> str:
    """sha256 of the canonical plan without its own `plan_hash` and its `info` block.

    `info` holds only human context (where the manifest was, how to regenerate the plan), so
    compiling from another directory cannot change what the hash — and the runtime — sees.
    """
    body = {k: v for k, v in plan.items() if k not in (HASH_FIELD, INFO_FIELD)}
    return "sha256:" + sha256_hex(canonical_bytes(body))


def pretty_bytes(obj: Any) -> bytes:
    """Stable, reviewable JSON: sorted keys, two-space indent, flat lists on one line."""
    _refuse_floats(obj)
    out: list[str] = []
    _pretty(obj, 0, out)
    out.append("\n")
    return "".join(out).encode("utf-8")


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _is_flat(value: Any) -> bool:
    """A list of scalars or of small placeholder objects prints on one line."""
    return isinstance(value, list) and all(
        not isinstance(v, list | dict)
        or (isinstance(v, dict) and all(not isinstance(x, list | dict) for x in v.values()))
        for v in value
    )


def _pretty(value: Any, depth: int, out: list[str]) -> None:
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and value:
        out.append("{\n")
        items = sorted(value.items())
        for i, (key, item) in enumerate(items):
            out.append(f"{pad}{_scalar(key)}: ")
            _pretty(item, depth + 1, out)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append("  " * depth + "}")
    elif isinstance(value, list) and value and not _is_flat(value):
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(pad)
            _pretty(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * depth + "]")
    else:
        out.append(_scalar(value))


def _refuse_floats(obj: Any) -> None:
    if isinstance(obj, float):
        raise TypeError("floats are not allowed in plans; use decimal strings")
    if isinstance(obj, dict):
        for v in obj.values():
            _refuse_floats(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _refuse_floats(v)
