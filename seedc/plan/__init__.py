"""The plan: the artifact the compiler writes and the runtime reads.

This package is the only code both sides import: the plan's data model, its canonical
serialisation and hashing, the row encoding and digests, and the interpreter of the compiled
generator program (so the runtime can regenerate rows of large plans without the compiler).
It never imports lark, jinja2 or the compiler.
"""

from seedc.plan.canonical import canonical_bytes, plan_hash, pretty_bytes, sha256_hex

__all__ = ["canonical_bytes", "plan_hash", "pretty_bytes", "sha256_hex"]
