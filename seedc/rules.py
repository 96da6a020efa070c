"""Stable rule names: every refusal cites the rule it enforces by a name that does not change.

The names, the exact rule texts the code carries and each rule's rationale (with the spec
session it comes from) live in `seedc/rules.toml`; the docs' rules page is generated from the
same file, and a test fails when a rule text in the code has no name or a name lost its text.
So a message says `[rule volumetry.cap: …]` and the reader finds the rule by that name, not by
"session 5" of a document a clone does not contain.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files

__all__ = ["rule_name"]


@cache
def _names() -> dict[str, str]:
    data = tomllib.loads(files("seedc").joinpath("rules.toml").read_text(encoding="utf-8"))
    return {text: entry["name"] for entry in data["rule"] for text in entry["texts"]}


def rule_name(text: str) -> str | None:
    """The stable name of a rule text (as passed to `rule=`), or None when it has none."""
    return _names().get(text)
