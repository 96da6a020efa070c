"""Parse column expressions with the lark grammar and lower them to the plan's program form.

Parsing happens once, at compile time; the result is plain JSON (nested lists) that
`seedc.program` interprets. Syntax errors and semantic errors (unknown generator, wrong
number of arguments, unknown reference) carry the line and column inside the expression, which
the caller shifts to the manifest's own line.

Hostile input is bounded before and after parsing (issue 9): at most MAX_CHARS characters, no
tab, CR or other control character, a tree at most MAX_DEPTH deep (lowering and the program
interpreter recurse per level, so `-` x 1000 or a 10,000-term sum must stop here with a
message, never a RecursionError), and integer literals within int64.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from seedc.compiler.yaml_guard import bad_character
from seedc.grammar import grammar_text
from seedc.program.checked import INT64_MAX
from seedc.program.functions import SIGNATURES

__all__ = ["MAX_CHARS", "MAX_DEPTH", "ExpressionError", "Lowered", "parse_expression"]

MAX_CHARS = 2000  # the longest expression of the example model has 178
MAX_DEPTH = 40  # its deepest tree has 12 levels
MAX_DECIMAL_DIGITS = 18  # decimals are int64 scaled integers: 10^18 < 2^63

_TOKEN_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "DOT": "'.'",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "DATE": "a date",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "MINUS": "'-'",
    "EQUAL": "'='",
    "$END": "the end of the expression",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "NOT": "not",
    "AND": "and",
    "OR": "or",
}


class ExpressionError(ValueError):
    """An expression is not valid; `line`/`column` are 1-based within the expression."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Lowered:
    """A lowered expression and what it depends on, for ordering and cycle checks."""

    program: Any
    columns: frozenset[str]  # row.<col> references
    entities: frozenset[str]  # other entities it reads (pick_row targets)
    uses_parent: bool


@cache
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TOKEN_NAMES.get(t, t) for t in getattr(exc, "expected", set()) or set()})
    return ", ".join(names[:8])


def parse_expression(text: str) -> Lowered:
    """Parse and lower one expression, raising `ExpressionError` with a position."""
    if not text.strip():
        raise ExpressionError("empty expression")
    _check_text(text)
    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        raise ExpressionError(
            f"unexpected character {text[exc.pos_in_stream or 0]!r}", exc.line, exc.column
        ) from None
    except UnexpectedEOF as exc:
        raise ExpressionError(
            f"the expression ends too early; expected {_expected(exc)}",
            *_end_position(text),
        ) from None
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise ExpressionError(
                f"the expression ends too early; expected {_expected(exc)}", *_end_position(text)
            ) from None
        raise ExpressionError(
            f"unexpected {token.value!r}; expected {_expected(exc)}", exc.line, exc.column
        ) from None
    _check_depth(tree)
    lowering = _Lowering()
    program = lowering.lower(tree)
    return Lowered(
        program=program,
        columns=frozenset(lowering.columns),
        entities=frozenset(lowering.entities),
        uses_parent=lowering.uses_parent,
    )


def _check_text(text: str) -> None:
    """Refuse what no parser should see: overlong text and control characters."""
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"the expression has {len(text):,} characters, above the limit "
                              f"of {MAX_CHARS}; split it with virtual columns")
    index = bad_character(text, allowed="\n")
    if index is not None:
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        name = {"\t": "a tab", "\r": "a carriage return"}.get(text[index], "a control character")
        raise ExpressionError(f"{name} (U+{ord(text[index]):04X}) in the expression; use plain "
                              "spaces and line breaks", line, column)


def _check_depth(tree: Tree) -> None:
    """Measure nesting without recursion; refuse trees deeper than MAX_DEPTH."""
    stack: list[tuple[Tree | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels; split "
                                  "it with virtual columns", *_position(node))
        if isinstance(node, Tree):
            stack.extend((child, depth + 1) for child in node.children if child is not None)


def _end_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").split("\n")
    return len(lines), len(lines[-1]) + 1


def _position(node: Tree | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    meta = node.meta
    return getattr(meta, "line", 1), getattr(meta, "column", 1)


class _Lowering:
    """Tree → program JSON, checking names and generator signatures on the way."""

    def __init__(self) -> None:
        self.columns: set[str] = set()
        self.entities: set[str] = set()
        self.uses_parent = False
        self._site = 0

    def fail(self, node: Tree | Token, message: str) -> ExpressionError:
        return ExpressionError(message, *_position(node))

    def lower(self, node: Tree | Token) -> Any:
        if isinstance(node, Token):
            raise self.fail(node, f"unexpected {node.value!r}")
        handler = getattr(self, f"_{node.data}", None)
        if handler is None:
            raise self.fail(node, f"unsupported construct {node.data}")
        return handler(node)

    def _number(self, node: Tree) -> Any:
        text = str(node.children[0])
        if "." in text:
            if len(text) - 1 > MAX_DECIMAL_DIGITS:
                raise self.fail(node, f"decimal literal {text[:24]}… has more than "
                                f"{MAX_DECIMAL_DIGITS} digits; exact decimals are scaled 64-bit "
                                "integers")
            return ["lit", "dec", text]
        if len(text) > 19 or int(text) > INT64_MAX:
            shown = text if len(text) <= 24 else text[:20] + "…"
            raise self.fail(node, f"integer literal: {shown} is outside the 64-bit integer "
                            "range (integers are int64; the plan keeps those above 2^53 exact "
                            "as digit strings)")
        return ["lit", "int", int(text)]

    def _string(self, node: Tree) -> Any:
        return ["lit", "str", json.loads(str(node.children[0]))]

    def _date(self, node: Tree) -> Any:
        from datetime import date

        text = str(node.children[0])[2:-1]
        try:
            date.fromisoformat(text)
        except ValueError:
            raise self.fail(node, f"{text!r} is not a valid date") from None
        return ["lit", "date", text]

    def _true(self, node: Tree) -> Any:
        return ["lit", "bool", True]

    def _false(self, node: Tree) -> Any:
        return ["lit", "bool", False]

    def _null(self, node: Tree) -> Any:
        return ["lit", "null"]

    def _list(self, node: Tree) -> Any:
        return ["list", [self.lower(c) for c in node.children if c is not None]]

    def _neg(self, node: Tree) -> Any:
        return ["unary", "-", self.lower(node.children[0])]

    def _not_op(self, node: Tree) -> Any:
        return ["unary", "not", self.lower(node.children[0])]

    def _arith(self, node: Tree) -> Any:
        left, op, right = node.children
        return ["bin", str(op), self.lower(left), self.lower(right)]

    _compare = _arith

    def _or_op(self, node: Tree) -> Any:
        return ["bin", "or", self.lower(node.children[0]), self.lower(node.children[1])]

    def _and_op(self, node: Tree) -> Any:
        return ["bin", "and", self.lower(node.children[0]), self.lower(node.children[1])]

    def _name(self, node: Tree) -> Any:
        name = str(node.children[0])
        if name == "parent":
            self.uses_parent = True
            return ["parent"]
        if name in ("row", "tenant"):
            raise self.fail(node, f"`{name}` needs a field, like {name}.id")
        raise self.fail(
            node, f"unknown name {name!r}; refer to columns as row.{name}, or call {name}()"
        )

    def _attr(self, node: Tree) -> Any:
        base, field = node.children
        field_name = str(field)
        if isinstance(base, Tree) and base.data == "name":
            root = str(base.children[0])
            if root == "row":
                self.columns.add(field_name)
                return ["col", field_name]
            if root == "tenant":
                if field_name not in ("id", "slug", "name", "environment"):
                    raise self.fail(field, f"tenant has no field {field_name!r} "
                                    "(id, slug, name, environment)")
                return ["tenant", field_name]
        lowered = self.lower(base)
        if field_name == "parent" and lowered[0] in ("parent", "parent_of", "call"):
            return ["parent_of", lowered]
        return ["get", lowered, field_name]

    def _call(self, node: Tree) -> Any:
        name_token = node.children[0]
        name = str(name_token)
        raw_args = node.children[1].children if len(node.children) > 1 and node.children[1] else []
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for arg in raw_args:
            if isinstance(arg, Tree) and arg.data == "kwarg":
                key = str(arg.children[0])
                if key in kwargs:
                    raise self.fail(arg, f"argument {key!r} given twice")
                kwargs[key] = self.lower(arg.children[1])
            else:
                if kwargs:
                    raise self.fail(arg, "positional argument after a keyword argument")
                args.append(self.lower(arg))
        if name == "if":
            if len(args) != 3 or kwargs:
                raise self.fail(name_token, "if(condition, then, else) takes 3 arguments")
            return ["if", *args]
        signature = SIGNATURES.get(name)
        if signature is None:
            known = ", ".join(sorted(SIGNATURES))
            raise self.fail(name_token, f"unknown generator {name!r} (known: {known})")
        lo, hi, allowed, _doc = signature
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(name_token, f"{name}() takes {want} arguments, got {len(args)}")
        unknown = set(kwargs) - allowed
        if unknown:
            raise self.fail(name_token, f"{name}() has no argument {sorted(unknown)[0]!r}")
        if name == "pick_row":
            if not (args and args[0][0] == "lit" and args[0][1] == "str"):
                raise self.fail(name_token, "pick_row(entity) takes the entity name as a string")
            self.entities.add(args[0][2])
        self._site += 1
        return ["call", name, args, dict(sorted(kwargs.items())), self._site]
