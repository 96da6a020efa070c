"""seedc: compile seed manifests into deterministic, hashed plans and apply them safely.

The compiler (`seedc.compiler`) is pure: manifest in, plan out, no network, no clock.
The runtime (`seedc.runtime`) reads plans only and applies them fail-closed.
`seedc.plan` is the artifact both sides share.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
