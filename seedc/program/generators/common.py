"""What every generator module shares: the set a module declares its generators in, and
argument helpers.

A generator takes the batch context, its argument nodes, its keyword nodes and its call-site
id, and returns one typed vector for the whole batch. It evaluates its arguments through
`ctx.eval`, so generator modules never import the interpreter (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seedc.program.values import ProgramError, Vec

if TYPE_CHECKING:
    from seedc.program.evaluate import BatchContext

__all__ = ["Generator", "GeneratorSet", "Signature", "eval_args", "list_values", "literal_int"]

Generator = Callable[..., Vec]
"""(ctx, args, kwargs, site) -> Vec."""


@dataclass(frozen=True)
class Signature:
    """What the compiler checks a call against before anything runs."""

    min_args: int
    max_args: int
    kwargs: frozenset[str]
    doc: str

    def as_tuple(self) -> tuple[int, int, frozenset[str], str]:
        return (self.min_args, self.max_args, self.kwargs, self.doc)


class GeneratorSet:
    """The generators one module declares, by name, with their signatures."""

    def __init__(self) -> None:
        self.functions: dict[str, Generator] = {}
        self.signatures: dict[str, Signature] = {}

    def add(self, name: str, min_args: int = 0, max_args: int = 0, kwargs: tuple[str, ...] = (),
            doc: str = "") -> Callable[[Generator], Generator]:
        """Declare a generator under `name` with its arity (a decorator)."""

        def wrap(fn: Generator) -> Generator:
            if name in self.functions:
                raise ValueError(f"generator {name!r} declared twice")
            self.functions[name] = fn
            self.signatures[name] = Signature(min_args, max_args, frozenset(kwargs),
                                              doc or (fn.__doc__ or ""))
            return fn

        return wrap


def eval_args(ctx: BatchContext, nodes: list[Any]) -> list[Vec]:
    return [ctx.eval(n) for n in nodes]


def literal_int(v: Vec, what: str) -> int:
    if v.kind != "int" or not v.is_scalar:
        raise ProgramError(f"{what} must be a literal integer")
    return int(v.data)


def list_values(node: Any, what: str) -> list[Any]:
    if not (isinstance(node, list) and node and node[0] == "list"):
        raise ProgramError(f"{what} must be a list literal like [\"a\", \"b\"]")
    items = node[1]
    if not items or any(i[0] != "lit" for i in items):
        raise ProgramError(f"{what} must be a non-empty list of literals")
    return list(items)
