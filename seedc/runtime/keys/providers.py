"""Key providers: where the FPE key for a tenant/environment comes from.

Production keys live in Vault (seeds sessions 1, 3, 6). The only fallback is a dev-only key in
a git-ignored `.env.local`, accepted for an isolated dev environment explicitly marked so, and
refused when `CI` is set or the environment is anything else. No provider ever caches a key
across runs or invents one; the key's bytes never reach a message or a log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seedc.errors import GuardRefused

__all__ = [
    "KeyMaterial",
    "KeyProvider",
    "LocalDevKeyProvider",
    "LocalKeyStatus",
    "ci_is_set",
    "key_provider_for",
    "read_env_file",
    "truthy",
]


@dataclass(frozen=True)
class KeyMaterial:
    """A key and its version; `repr` never shows the bytes."""

    version: int
    source: str
    key: bytes = field(repr=False)


class KeyProvider(Protocol):
    def fetch(self, plan: dict[str, Any]) -> KeyMaterial:
        """The key the plan names, at the plan's version, or GuardRefused."""
        ...


def ci_is_set() -> bool:
    """Whether this runs in CI, where dev-only keys are refused (session 1)."""
    return truthy(os.environ.get("CI"))


def truthy(value: str | None) -> bool:
    """An environment flag as CI systems set it: anything but empty, 0, false or no."""
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


@dataclass
class LocalDevKeyProvider:
    """The dev-only key of an isolated dev environment (session 1), from `.env.local`."""

    path: Path = Path(".env.local")

    def fetch(self, plan: dict[str, Any]) -> KeyMaterial:
        version, key = self._read(plan)
        expected = int(plan["keys"]["salt_version"])
        if version != expected:
            raise GuardRefused(_dev_mismatch(expected, version),
                               rule="key version equals salt_version (session 6)")
        return KeyMaterial(version=version, source=f"local-dev:{self.path}", key=key)

    def status(self, plan: dict[str, Any]) -> LocalKeyStatus:
        """Where the plan's key stands against the dev key `apply` would use (issue 11).

        Same checks as :meth:`fetch` (CI, isolated dev, the file's format), GuardRefused when
        the dev key may not be used at all; a missing file is state `missing`.
        """
        expected = int(plan["keys"]["salt_version"])
        self._allowed(plan)
        if not self.path.is_file():
            return LocalKeyStatus(str(self.path), expected, None, "missing",
                                  f"no dev key: {self.path} not found (run `seedc demo` to "
                                  "create one, or configure Vault)")
        version, _ = self._read(plan)
        if version == expected:
            return LocalKeyStatus(str(self.path), expected, version, "ok",
                                  f"the dev key in {self.path} is at version {version}")
        state = "rotated" if version > expected else "ahead"
        return LocalKeyStatus(str(self.path), expected, version, state,
                              _dev_mismatch(expected, version))

    def _allowed(self, plan: dict[str, Any]) -> None:
        if ci_is_set():
            raise GuardRefused("the local dev key is refused because CI is set; configure "
                               "Vault (VAULT_ADDR, VAULT_TOKEN)", rule=_DEV_RULE)
        if plan["environment"] != "dev" or not plan["guards"].get("isolated_dev"):
            raise GuardRefused(
                f"the local dev key is refused for environment {plan['environment']!r}: only a "
                "dev manifest marked isolated_dev may use it; configure Vault", rule=_DEV_RULE)

    def _read(self, plan: dict[str, Any]) -> tuple[int, bytes]:
        """(version, key) from the file, after the guards; the bytes never reach a message."""
        self._allowed(plan)
        if not self.path.is_file():
            raise GuardRefused(f"no dev key: {self.path} not found (run `seedc demo` to create "
                               "one, or configure Vault)", rule=_DEV_RULE)
        values = read_env_file(self.path)
        try:
            key = bytes.fromhex(values["SEEDC_DEV_FPE_KEY"])
            version = int(values["SEEDC_DEV_FPE_KEY_VERSION"])
        except (KeyError, ValueError):
            raise GuardRefused(f"{self.path} needs SEEDC_DEV_FPE_KEY (hex, 16/24/32 bytes) and "
                               "SEEDC_DEV_FPE_KEY_VERSION", rule=_DEV_RULE) from None
        if len(key) not in (16, 24, 32):
            raise GuardRefused(f"{self.path}: SEEDC_DEV_FPE_KEY must be 16, 24 or 32 bytes",
                               rule=_DEV_RULE)
        return version, key


_DEV_RULE = "dev-only local key: isolated dev only, never in CI (session 1)"


def _dev_mismatch(expected: int, version: int) -> str:
    return (f"key version mismatch: the plan needs salt_version {expected}, the dev key is "
            f"version {version}; recompile with the new salt_version, `seedc reset`, then "
            "apply (coordinated reseed)")


@dataclass(frozen=True)
class LocalKeyStatus:
    """The dev key's standing against a plan: `key_file` is the path, never the key."""

    key_file: str
    plan_version: int
    key_version: int | None
    state: str
    message: str


def key_provider_for(env_file: Path | None = None) -> KeyProvider:
    """Vault when VAULT_ADDR is set, else the dev-only local key."""
    if os.environ.get("VAULT_ADDR"):
        from seedc.runtime.keys.vault import VaultKeyProvider

        return VaultKeyProvider.from_environment()
    return LocalDevKeyProvider(env_file or Path(".env.local"))
