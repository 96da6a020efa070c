"""Generate one batch of an entity: the rows of a key range as COPY cells.

This is the only way rows come into being, for the compiler (digests, inline rows) and the
runtime (regeneration of large plans) alike; a batch depends on nothing outside its range.
"""

from __future__ import annotations

from seedc.program.cells import column_cells
from seedc.program.evaluate import VIRTUAL, BatchContext, Program
from seedc.program.values import ProgramError

__all__ = ["ColumnError", "batch_cells", "batch_columns"]


class ColumnError(ProgramError):
    """A column failed to evaluate; carries where, so the compiler can point at the manifest."""

    def __init__(self, entity: str, column: str, reason: str) -> None:
        super().__init__(f"entities.{entity}.columns.{column}: {reason}")
        self.entity = entity
        self.column = column
        self.reason = reason


def batch_columns(program: Program, entity: str, start: int, stop: int) -> list[list[str]]:
    """COPY cells for ordinals [start, stop) of `entity`, column by column (stored columns only).

    The column-major form is what generation produces; callers that join lines or resolve
    placeholders per column use it directly instead of transposing rows back.
    """
    keys = program.keys_for_range(entity, start, stop)
    ctx = BatchContext(program, entity, keys)
    columns: list[list[str]] = []
    for name, sql_type, nullable, _expr in ctx.entity.columns:
        if sql_type == VIRTUAL:
            continue
        try:
            vec = ctx.column_value(name)
            columns.append(column_cells(vec, sql_type, nullable, ctx.n))
        except ColumnError:
            raise
        except ProgramError as exc:
            raise ColumnError(entity, name, str(exc)) from None
    return columns


def batch_cells(program: Program, entity: str, start: int, stop: int) -> list[tuple[str, ...]]:
    """Rows (tuples of COPY cells, in column order) for ordinals [start, stop) of `entity`."""
    columns = batch_columns(program, entity, start, stop)
    return list(zip(*columns, strict=True)) if columns else []
