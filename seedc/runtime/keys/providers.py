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
        rule = "dev-only local key: isolated dev only, never in CI (session 1)"
        if ci_is_set():
            raise GuardRefused("the local dev key is refused because CI is set; configure "
                               "Vault (VAULT_ADDR, VAULT_TOKEN)", rule=rule)
        if plan["environment"] != "dev" or not plan["guards"].get("isolated_dev"):
            raise GuardRefused(
                f"the local dev key is refused for environment {plan['environment']!r}: only a "
                "dev manifest marked isolated_dev may use it; configure Vault", rule=rule)
        if not self.path.is_file():
            raise GuardRefused(f"no dev key: {self.path} not found (run `seedc demo` to create "
                               "one, or configure Vault)", rule=rule)
        values = read_env_file(self.path)
        try:
            key = bytes.fromhex(values["SEEDC_DEV_FPE_KEY"])
            version = int(values["SEEDC_DEV_FPE_KEY_VERSION"])
        except (KeyError, ValueError):
            raise GuardRefused(f"{self.path} needs SEEDC_DEV_FPE_KEY (hex, 16/24/32 bytes) and "
                               "SEEDC_DEV_FPE_KEY_VERSION", rule=rule) from None
        if len(key) not in (16, 24, 32):
            raise GuardRefused(f"{self.path}: SEEDC_DEV_FPE_KEY must be 16, 24 or 32 bytes",
                               rule=rule)
        expected = int(plan["keys"]["salt_version"])
        if version != expected:
            raise GuardRefused(
                f"key version mismatch: the plan needs salt_version {expected}, the dev key is "
                f"version {version}; recompile with the new salt_version, `seedc reset`, then "
                "apply (coordinated reseed)", rule="key version equals salt_version (session 6)")
        return KeyMaterial(version=version, source=f"local-dev:{self.path}", key=key)


def key_provider_for(env_file: Path | None = None) -> KeyProvider:
    """Vault when VAULT_ADDR is set, else the dev-only local key."""
    if os.environ.get("VAULT_ADDR"):
        from seedc.runtime.keys.vault import VaultKeyProvider

        return VaultKeyProvider.from_environment()
    return LocalDevKeyProvider(env_file or Path(".env.local"))
