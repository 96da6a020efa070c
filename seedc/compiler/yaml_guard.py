"""Refuse hostile YAML before it is built: encoding, directives, tags, depth, aliases, numbers.

Why a separate pass: ruamel's composer recurses per nesting level (500 `[` end in a
RecursionError), aliases expand into plain data (a "billion laughs" file takes gigabytes), a
`%YAML 1.1` directive silently switches to 1.1 rules (`no` becomes false), `!!python/...` and
other tags build objects, and numbers above 2^53 cannot live in the plan's RFC 8785 JSON. The
parser's event stream is produced iteratively and is linear in the file, so one walk over it
bounds all of these before anything is composed. Every refusal names `file:line` and what to
do (issue 9, "Contract"). Session 2: a manifest is validated against its schema and version
and refused fail-closed, never auto-filled; session 5: versioned YAML manifests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    NodeEvent,
    ScalarEvent,
)

from seedc.errors import InvalidInput

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SAFE_INTEGER",
    "bad_character",
    "check_events",
    "decode_text",
]

MAX_BYTES = 1 << 20  # a manifest is ~2 KB and the model ~12 KB; 1 MiB leaves room
MAX_DEPTH = 32  # the model nests 6 levels deep
MAX_NODES = 100_000  # values after alias expansion
MAX_SAFE_INTEGER = 2**53  # RFC 8785 numbers are IEEE doubles: exact only up to 2^53
_MAX_NUMBER_CHARS = 40

_RULE = ("manifests and models are UTF-8 YAML 1.2, plain data, bounded; validated fail-closed "
         "(sessions 2, 5; issue 9)")
_INT = re.compile(r"[-+]?(?:[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16",
}


def _fail(path: Path, line: int, message: str) -> InvalidInput:
    return InvalidInput(f"{path}:{line}: {message}", rule=_RULE)


def bad_character(text: str, allowed: str = "\t\n") -> int | None:
    """Index of the first control character (C0 but `allowed`, DEL, C1) or lone surrogate."""
    for index, char in enumerate(text):
        code = ord(char)
        if (code < 0x20 and char not in allowed) or 0x7F <= code <= 0x9F \
                or 0xD800 <= code <= 0xDFFF:
            return index
    return None


def decode_text(path: Path, raw: bytes, what: str = "file") -> str:
    """The file as text: strict UTF-8, no NUL byte, no control character, bounded size."""
    if len(raw) > MAX_BYTES:
        raise _fail(path, 1, f"the {what} is larger than {MAX_BYTES:,} bytes (the limit); "
                    "remove the large values")
    for bom, name in _BOMS.items():
        if raw.startswith(bom):
            raise _fail(path, 1, f"the {what} is {name}-encoded; save it as UTF-8")
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise _fail(path, line, f"the {what} contains a NUL byte (a binary or UTF-16 file?); "
                    "save it as UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(path, line, f"the {what} is not UTF-8 (byte 0x{raw[exc.start]:02x}); "
                    "save it as UTF-8 (Latin-1 and Windows-1252 are refused)") from None
    index = bad_character(text, allowed="\t\n\r")
    if index is not None:
        line = text.count("\n", 0, index) + 1
        raise _fail(path, line, f"control character U+{ord(text[index]):04X} in the {what}; "
                    "remove it")
    return text


@dataclass
class _Walk:
    """Running state of the event walk: open collections, anchor sizes, total size."""

    path: Path
    open: list[tuple[str | None, int]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    total: int = 0
    documents: int = 0
    aliases: int = 0

    def add(self, line: int, count: int, *, counted: bool = False) -> None:
        """Add `count` values to the document and to the enclosing collection's size;
        `counted` values (a collection that just closed) are in the total already."""
        if not counted:
            self.total += count
        if self.total > MAX_NODES:
            hint = ("an alias bomb? write the data out plainly" if self.aliases
                    else "split the file or remove values")
            raise _fail(self.path, line, f"the document expands to more than {MAX_NODES:,} "
                        f"values (aliases included); {hint}")
        if self.open:
            anchor, size = self.open[-1]
            self.open[-1] = (anchor, size + count)


def check_events(path: Path, text: str) -> None:
    """Walk the parser's events once, refusing what the composer must never see."""
    walk = _Walk(path)
    try:
        for event in YAML(typ="rt").parse(text):
            _check_event(walk, event)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise _fail(path, line, f"not valid YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise _fail(path, 1, f"not valid YAML: {str(exc)[:200]}") from None


def _check_event(walk: _Walk, event: Event) -> None:
    line = event.start_mark.line + 1 if event.start_mark else 1
    if isinstance(event, DocumentStartEvent):
        walk.documents += 1
        if walk.documents > 1:
            raise _fail(walk.path, line, "more than one YAML document; keep one per file")
        if event.version is not None and tuple(event.version) != (1, 2):
            version = ".".join(map(str, event.version))
            raise _fail(walk.path, line, f"%YAML {version} directive: seedc reads YAML 1.2 "
                        "only; remove the directive")
        if event.tags:
            raise _fail(walk.path, line, "%TAG directives are not allowed; remove them")
        return
    tag = getattr(event, "tag", None)
    if isinstance(event, NodeEvent) and tag is not None:
        raise _fail(walk.path, line, f"YAML tag {str(tag)[:60]} is not allowed: write "
                    "plain mappings, lists and scalars")
    if isinstance(event, AliasEvent):
        if any(anchor == event.anchor for anchor, _ in walk.open):
            raise _fail(walk.path, line, f"alias *{str(event.anchor)[:40]} refers to a value "
                        "that contains it (a self-reference); write the data out plainly")
        walk.aliases += 1
        walk.add(line, walk.sizes.get(str(event.anchor), 1))
    elif isinstance(event, ScalarEvent):
        _check_scalar(walk.path, line, event)
        if event.anchor is not None:
            walk.sizes[str(event.anchor)] = 1
        walk.add(line, 1)
    elif isinstance(event, CollectionStartEvent):
        if len(walk.open) >= MAX_DEPTH:
            raise _fail(walk.path, line, f"nesting deeper than {MAX_DEPTH} levels; flatten it")
        walk.total += 1
        walk.open.append((event.anchor, 1))
    elif isinstance(event, CollectionEndEvent):
        anchor, size = walk.open.pop()
        if anchor is not None:
            walk.sizes[str(anchor)] = size
        walk.add(line, size, counted=True)


def _check_scalar(path: Path, line: int, event: ScalarEvent) -> None:
    value = event.value
    if event.style == ">":  # ruamel marks fold points with BEL; a real one was refused above
        value = value.replace("\a", "")
    index = bad_character(value, allowed="\t\n")
    if index is not None:
        char = value[index]
        kind = "a lone surrogate" if 0xD800 <= ord(char) <= 0xDFFF else "a control character"
        raise _fail(path, line, f"value contains {kind} (U+{ord(char):04X}); remove it")
    if event.style is not None:  # quoted or block: a string, whatever it looks like
        return
    if value == "<<":
        raise _fail(path, line, "merge keys (<<) are YAML 1.1, not 1.2: they would let one "
                    "mapping override another's keys unseen; write the keys out")
    if _SPECIAL_FLOAT.fullmatch(value):
        raise _fail(path, line, f"{value} is not a finite number; plans are RFC 8785 JSON")
    if not (_INT.fullmatch(value) or _FLOAT.fullmatch(value)):
        return
    if len(value) > _MAX_NUMBER_CHARS or not _is_safe_number(value):
        shown = value if len(value) <= 24 else value[:20] + "…"
        raise _fail(path, line, f"number {shown} is above 2^53: the plan is RFC 8785 JSON, "
                    "whose numbers are exact only up to 2^53; quote it if it is text")


def _is_safe_number(text: str) -> bool:
    plain = text.replace("_", "")
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    try:
        if _INT.fullmatch(plain):
            base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
            number: float = sign * int(digits[2:] if base != 10 else digits, base)
        else:
            number = float(plain)
    except ValueError:
        return True  # not a number after all: left to the schema
    return math.isfinite(number) and abs(number) <= MAX_SAFE_INTEGER
