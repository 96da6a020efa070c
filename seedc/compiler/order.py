"""Order entities so every foreign key's target is written first (topological order).

Ties keep the model's declaration order, so the plan reads like the model. A cycle is an error
naming the entities on it.
"""

from __future__ import annotations

from seedc.compiler.model import EntitySpec

__all__ = ["CycleError", "topological_order"]


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        super().__init__("entities depend on each other in a cycle: " + " -> ".join(cycle))
        self.cycle = cycle


def topological_order(entities: dict[str, EntitySpec]) -> list[str]:
    """Entity names, dependencies first; raises CycleError."""
    declared = list(entities)
    deps = {name: entities[name].depends_on() & set(entities) for name in declared}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(declared):
        ready = [n for n in declared if n not in placed and deps[n] <= placed]
        if not ready:
            raise CycleError(_find_cycle({n: deps[n] for n in declared if n not in placed}))
        done.append(ready[0])
        placed.add(ready[0])
    return done


def _find_cycle(deps: dict[str, set[str]]) -> list[str]:
    start = sorted(deps)[0]
    trail = [start]
    node = start
    while True:
        node = sorted(deps[node] & set(deps))[0]
        if node in trail:
            return [*trail[trail.index(node):], node]
        trail.append(node)
