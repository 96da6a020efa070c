"""Compatibility name for the generator registry (`seedc.program.registry`).

`seedc.compiler.expressions` imports `SIGNATURES` from here; the generators themselves live in
`seedc.program.generators` and are gathered in one place, the registry.
"""

from __future__ import annotations

from seedc.program.registry import FUNCTIONS, SIGNATURES
from seedc.program.values import record_field

__all__ = ["FUNCTIONS", "SIGNATURES", "record_field"]
