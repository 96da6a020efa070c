"""The expression language's grammar, shipped as package data (`expression.lark`)."""

from importlib import resources

__all__ = ["grammar_text"]


def grammar_text(name: str = "expression.lark") -> str:
    """The text of a grammar file of this package."""
    return resources.files("seedc.grammar").joinpath(name).read_text(encoding="utf-8")
