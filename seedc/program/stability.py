"""What each generator's value depends on beyond its own row, and so what a plan change moves.

Growth stability (issue 12): changing one entity's count may change only the rows it adds or
removes, their expansions, and the fewest references to it; changing `batch_size` changes no
row. Every generator is a function of (tenant, environment, entity, row key, column, call site)
and of its arguments, never of a batch boundary; the ones below also read another entity's
size or the row's ordinal, and say what a count change does to them. The reference page
(`docs/reference/expressions.md`) prints this table; a test keeps it in step with the registry.
"""

from __future__ import annotations

__all__ = ["PARENT_ASSIGNMENT", "SIZE_DEPENDENT"]

SIZE_DEPENDENT: dict[str, str] = {
    "pick_row": "reads the target entity's count; a jump consistent hash of the row key, so "
                "growing the target from N to M rows moves about (M-N)/M of the picks, all to "
                "the new rows, and shrinking moves only the picks of removed rows",
    "ordinal": "the row's own ordinal (or its parent's): unchanged for existing rows when "
               "any count changes",
    "seq": "start + the row's ordinal (or index within its parent): unchanged for existing rows",
    "index": "position within the parent: unchanged unless the parent's own row count changes",
    "cycle": "list element at the ordinal modulo the list's length: unchanged for existing rows",
    "key_uuid": "UUIDv5 of the logical key (ordinal, or parent ordinal/index): unchanged for "
                "existing rows",
}

PARENT_ASSIGNMENT: dict[str, str] = {
    "consistent": "default: a jump consistent hash of the child's key over the parent count, "
                  "so growing the parent from N to M rows moves about (M-N)/M of the children, "
                  "all to the new parents; shrinking moves only the children of removed parents",
    "hash": "the former name of `consistent` (same assignment)",
    "round_robin": "child k gets parent k mod N: evenly balanced, but a change of N moves most "
                   "children; choose it only for parents whose count never changes",
    "expand": "children generated per parent (`expand`) always hang from the parent that "
              "generated them: a count change adds or removes whole expansions only",
}
