"""One exception root that owns exit codes, caught only at the CLI edge.

Every refusal names the rule it enforces (with the seeds session where one applies), the
object it concerns and what to do. Anything that escapes without being a `SeedcError` is a bug:
the CLI (`seedc.cli.SeedcGroup`) prints it as one redacted "internal error" line with exit 4,
its traceback only with `--debug` or `SEEDC_DEBUG=1`.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "DriftFound",
    "ExitCode",
    "GuardRefused",
    "InvalidInput",
    "RuntimeFailure",
    "SeedcError",
]


class ExitCode(IntEnum):
    """Exit codes fixed for every command (click itself uses 2 for usage errors)."""

    OK = 0
    DIFFERENCES = 1
    INVALID_INPUT = 2
    REFUSED = 3
    RUNTIME_FAILURE = 4


class SeedcError(Exception):
    """Root of every error a user can cause or meet; carries its exit code."""

    exit_code: ExitCode = ExitCode.RUNTIME_FAILURE

    def __init__(self, message: str, *, rule: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.details = details or []

    def render(self) -> str:
        """The text shown to the user: message, rule and one line per detail."""
        head = f"{self.message}"
        if self.rule:
            from seedc.rules import rule_name

            name = rule_name(self.rule)
            head += f" [rule {name}: {self.rule}]" if name else f" [rule: {self.rule}]"
        return "\n".join([head, *(f"  - {d}" for d in self.details)])


class InvalidInput(SeedcError):
    """A manifest, model, plan or argument is wrong; nothing was touched."""

    exit_code = ExitCode.INVALID_INPUT


class GuardRefused(SeedcError):
    """A fail-closed guard refused the run before any data write."""

    exit_code = ExitCode.REFUSED


class DriftFound(SeedcError):
    """Differences were found (plan vs plan, plan vs database, --check)."""

    exit_code = ExitCode.DIFFERENCES


class RuntimeFailure(SeedcError):
    """The run started and then failed; checkpoints tell where to resume."""

    exit_code = ExitCode.RUNTIME_FAILURE
