"""Official finance routines: registered plugins, never arbitrary importable code.

Why a registry: a model used to name `module:function`, and the compiler imported and called
whatever that named (`sys:exit`, `builtins:input`, a `.py` in the working directory). Now a
routine is a function of type :data:`~seedc.finance.quote.QuoteRoutine` that an *installed*
distribution registers in the entry-point group ``seedc.official_routines``; the model names
it by its registered name, and the plan records that name with the distribution and version
that provided it (seeds session 10: loan values come from the domain's official routine).

Register one in the product package's ``pyproject.toml``::

    [project.entry-points."seedc.official_routines"]
    acme_credit = "acme_credit.pricing:quote"

then ``pip install`` that package and write ``finance: {official_routine: acme_credit}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from seedc.finance.quote import QuoteRoutine

__all__ = [
    "ENTRY_POINT_GROUP",
    "OfficialRoutine",
    "RoutineNotRegistered",
    "load_routine",
    "registered_routines",
]

ENTRY_POINT_GROUP = "seedc.official_routines"
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

#: Where registrations come from; the default reads the installed distributions' metadata.
EntryPointSource = Callable[[], Iterable[EntryPoint]]


def _installed() -> Iterable[EntryPoint]:
    return entry_points(group=ENTRY_POINT_GROUP)


class RoutineNotRegistered(LookupError):
    """The model names a routine no installed distribution registers (or a Python path)."""


@dataclass(frozen=True)
class OfficialRoutine:
    """A loaded routine and where it came from (recorded in the plan's `sources`)."""

    name: str
    function: QuoteRoutine
    distribution: str
    version: str

    def record(self) -> dict[str, str]:
        """What the plan records: registered name, providing distribution and its version."""
        return {"name": self.name, "distribution": self.distribution, "version": self.version}


def registered_routines(source: EntryPointSource = _installed) -> dict[str, EntryPoint]:
    """Registered routines by name; a name registered twice is refused as ambiguous."""
    found: dict[str, EntryPoint] = {}
    for ep in source():
        other = found.get(ep.name)
        if other is not None and other.value != ep.value:
            raise RoutineNotRegistered(
                f"official routine {ep.name!r} is registered twice ({other.value} and "
                f"{ep.value}); uninstall one of the distributions")
        found[ep.name] = ep
    return found


def _how_to_register(name: str) -> str:
    return (f"register it in the providing package's pyproject.toml under "
            f"[project.entry-points.\"{ENTRY_POINT_GROUP}\"] as my_routine = \"{name}\", "
            "pip install that package, and name it here as official_routine: my_routine")


def load_routine(name: str, source: EntryPointSource = _installed) -> OfficialRoutine:
    """The registered routine called `name`, loaded from its distribution.

    Raises RoutineNotRegistered for a `module:function` path (refused: only installed,
    registered code runs) and for an unknown name, listing the registered names.
    """
    if ":" in name or not _NAME.match(name):
        raise RoutineNotRegistered(
            f"{name!r} is not a registered routine name; models no longer name Python "
            f"objects: {_how_to_register(name)}")
    routines = registered_routines(source)
    ep = routines.get(name)
    if ep is None:
        known = ", ".join(sorted(routines)) or "none"
        raise RoutineNotRegistered(
            f"no official routine {name!r} is registered (registered: {known}); "
            + _how_to_register("package.module:function"))
    function = ep.load()
    if not callable(function):
        raise RoutineNotRegistered(f"official routine {name!r} ({ep.value}) is not callable")
    dist = ep.dist
    distribution = dist.metadata["Name"] if dist is not None else "unknown"
    version = dist.version if dist is not None else "unknown"
    return OfficialRoutine(name, function, distribution, version)
