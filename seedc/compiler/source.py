"""Read YAML 1.2 documents strictly and remember where every value came from.

YAML 1.1 reads `22:00` as 1320 and `no` as false; a 1.2 loader does not. Duplicate keys are
refused. Every error is collected with its file, line and dotted path so the user sees them
all at once (dbt and attrs style: what, where, expected, got).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from seedc.compiler.yaml_guard import MAX_BYTES, check_events, decode_text
from seedc.errors import InvalidInput

__all__ = ["Problems", "Source", "clip", "load_yaml"]

MAX_SHOWN = 80  # characters of a user's value echoed in a message (issue 9)
MAX_MESSAGE = 400
MAX_LISTED = 100  # errors listed one per line; the count still says how many there are


def clip(value: object, limit: int = MAX_SHOWN) -> str:
    """`repr` of a user's value, cut to `limit` characters with "…": a 20 MB string in a
    manifest must not come back in the error (issue 9)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Source:
    """A parsed YAML file: its plain data, the raw node tree (for lines) and its bytes."""

    path: Path
    data: Any
    tree: Any
    raw: bytes

    def line_of(self, path: tuple[str | int, ...]) -> int:
        """1-based line of the value at `path`, or of its closest existing ancestor."""
        node = self.tree
        line = 1
        if isinstance(node, CommentedMap) and node:
            line = node.lc.key(next(iter(node)))[0] + 1
        for part in path:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def value_line(self, path: tuple[str | int, ...]) -> int:
        """1-based line where the scalar value at `path` starts (block scalars start later)."""
        parent = self.tree
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return self.line_of(path)
        last = path[-1]
        if isinstance(parent, CommentedMap) and last in parent:
            return int(parent.lc.value(last)[0]) + 1
        return self.line_of(path)


@dataclass
class Problems:
    """Collects every error of a compile, then raises them together."""

    items: list[tuple[str, int, str, str]] = field(default_factory=list)

    def add(self, source: Source | Path, line: int, path: str, message: str) -> None:
        file = str(source.path if isinstance(source, Source) else source)
        if len(path) > MAX_SHOWN:
            path = path[: MAX_SHOWN - 1] + "…"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        self.items.append((file, line, path, message))

    def at(self, source: Source, path: tuple[str | int, ...], message: str) -> None:
        self.add(source, source.line_of(path), ".".join(map(str, path)), message)

    def lines(self) -> tuple[int, list[str]]:
        """How many distinct problems, and their `file:line: path: message` lines (capped)."""
        ordered = sorted(set(self.items))
        details = [f"{f}:{line}: {p or '(root)'}: {m}" for f, line, p, m in ordered[:MAX_LISTED]]
        if len(ordered) > MAX_LISTED:  # 40,000 unknown keys must not flood the terminal
            details.append(f"… and {len(ordered) - MAX_LISTED} more")
        return len(ordered), details

    def raise_if_any(self, summary: str = "invalid manifest") -> None:
        if not self.items:
            return
        count, details = self.lines()
        raise InvalidInput(f"{summary}: {count} error(s)", details=details)


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def load_yaml(path: Path) -> Source:
    """Load one YAML 1.2 file, refusing duplicate keys, with positions kept.

    The text is checked first (UTF-8, size, control characters) and its events walked
    (directives, tags, depth, aliases, numbers) so the composer only sees bounded plain data.
    """
    try:
        with path.open("rb") as handle:  # never more than the limit, whatever the file
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    text = decode_text(path, raw)
    check_events(path, text)
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        raise InvalidInput(
            f"{path}:{line}: duplicate key: {exc.problem}",
            rule="manifests are YAML 1.2 without duplicate keys",
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        raise InvalidInput(f"{path}:{line}: not valid YAML: {exc.problem}") from None
    except (YAMLError, ValueError, RecursionError) as exc:  # bounded above; never a traceback
        raise InvalidInput(f"{path}:1: not valid YAML: {str(exc)[:MAX_SHOWN]}") from None
    if not isinstance(tree, CommentedMap):
        raise InvalidInput(f"{path}:1: the document must be a mapping")
    return Source(path=path, data=_plain(tree), tree=tree, raw=raw)
