"""The one registry of generators: every generator module, imported here by name.

`FUNCTIONS` (implementations, for the interpreter) and `SIGNATURES` (arity and keywords, for
the compiler's checks) both come from here, so `parse_expression("loan_quote(...)")` works
whatever was imported before, and a name declared by two modules is an error at import.
"""

from __future__ import annotations

from seedc.program.generators import core, finance, people, structured
from seedc.program.generators.common import Generator, GeneratorSet

__all__ = ["FUNCTIONS", "MODULES", "SIGNATURES"]

MODULES: tuple[GeneratorSet, ...] = (core.GENERATORS, people.GENERATORS, finance.GENERATORS,
                                     structured.GENERATORS)


def _merge() -> tuple[dict[str, Generator], dict[str, tuple[int, int, frozenset[str], str]]]:
    functions: dict[str, Generator] = {}
    signatures: dict[str, tuple[int, int, frozenset[str], str]] = {}
    for generators in MODULES:
        for name, fn in generators.functions.items():
            if name in functions:
                raise ValueError(f"generator {name!r} is declared by two modules")
            functions[name] = fn
            signatures[name] = generators.signatures[name].as_tuple()
    return functions, signatures


FUNCTIONS, SIGNATURES = _merge()
"""name -> implementation; name -> (min positional, max positional, keywords, doc)."""
