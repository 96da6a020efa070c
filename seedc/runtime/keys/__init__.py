"""Keys: where the FPE key of a tenant/environment comes from (Vault, or the dev-only file).

Providers never cache a key across runs nor invent one (seeds sessions 1, 3, 6).
"""

from seedc.runtime.keys.providers import *  # noqa: F403  (the package's public API)
from seedc.runtime.keys.providers import __all__ as __all__
