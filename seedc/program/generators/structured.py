"""Generators for schemas seedc did not write (issue 16): integer keys derived from the row's
logical key, for tables whose primary key is a smallint/integer/bigint instead of a UUID.

Drift and resume compare rows by key, so a key must be a pure function of (tenant,
environment, entity, logical key) — never a database sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from seedc.program.generators.common import GeneratorSet, literal_int
from seedc.program.rng import mix64
from seedc.program.values import ProgramError, Vec

if TYPE_CHECKING:
    from seedc.program.evaluate import BatchContext

__all__ = ["GENERATORS"]

GENERATORS = GeneratorSet()
generator = GENERATORS.add


@generator("key_int", 1, 1,
           doc="integer key in [1, 2^bits - 1] hashed from the row's logical key (bits: 15, 31 "
               "or 63 for smallint, integer, bigint keys)")
def _key_int(ctx: BatchContext, args: list[Any], kw: dict[str, Any], site: str) -> Vec:
    bits = literal_int(ctx.eval(args[0]), "key_int(bits)")
    if bits not in (15, 31, 63):
        raise ProgramError("key_int(bits) takes 15 (smallint), 31 (integer) or 63 (bigint)")
    # one stream per entity (not per column): a picked row's key equals the row's own key
    seed = ctx.program.seed(ctx.entity.name, "", "key_int")
    top = np.uint64((1 << bits) - 1)
    values = mix64(seed, ctx.keys) % top + np.uint64(1)
    return Vec("int", values.astype(np.int64))
