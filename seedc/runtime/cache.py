"""The tenant's cache keys are deleted around a run (seeds session 18).

A manifest may name a cache key pattern for its tenant; the Redis URL comes from the
environment (`SEEDC_REDIS_URL`), never from the manifest, so no password reaches a plan.
Before the first write and after the run, seedc deletes the keys matching the pattern with
SCAN + UNLINK, a batch at a time (never FLUSHDB, never KEYS: other tenants' keys and the
server's latency stay untouched), and audits the counts. seedc never writes a key: a rebuild is
the application's business, never triggered by a seed run. A dry run only counts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import redis

from seedc.errors import RuntimeFailure

__all__ = ["CACHE_RULE", "REDIS_URL_ENV", "check_cache", "invalidate_cache", "shown_url"]

REDIS_URL_ENV = "SEEDC_REDIS_URL"
CACHE_RULE = "the tenant's cache keys are deleted around a run, never FLUSHDB (session 18)"
_BATCH = 500
_PASSWORD = re.compile(r"(//)[^/@\s]*@")


def shown_url(url: str) -> str:
    """The URL as a message may show it: the user-info (password) replaced."""
    return _PASSWORD.sub(r"\1***@", url)


def _client() -> redis.Redis:
    url = os.environ.get(REDIS_URL_ENV, "")
    if not url:
        raise LookupError(f"{REDIS_URL_ENV} is not set")
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10)


def check_cache(conn: object, plan: dict[str, Any]) -> tuple[bool, str]:
    """Preflight: a plan that names a cache needs its Redis reachable (fail-closed)."""
    cache = plan["guards"].get("cache")
    if cache is None:
        return True, "the manifest names no cache"
    try:
        client = _client()
    except LookupError:
        return False, (f"the manifest names a cache but {REDIS_URL_ENV} is not set; the "
                       "tenant's keys could not be deleted around the run")
    try:
        with client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return False, (f"Redis at {shown_url(os.environ[REDIS_URL_ENV])} is unreachable "
                       f"({type(exc).__name__}); the tenant's keys could not be deleted")
    return True, f"Redis reachable; keys {cache['key_pattern']} deleted around the run"


def delete_keys(client: redis.Redis, pattern: str, dry_run: bool) -> int:
    """SCAN the pattern and UNLINK what matches, a batch at a time; the number found."""
    found = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=_BATCH):
        batch.append(key)
        if len(batch) >= _BATCH:
            found += len(batch) if dry_run else int(client.unlink(*batch))
            batch = []
    if batch:
        found += len(batch) if dry_run else int(client.unlink(*batch))
    return found


def invalidate_cache(plan: dict[str, Any], phase: str, dry_run: bool,
                     audit: Callable[..., None]) -> None:
    """Delete (dry run: count) the tenant's keys and audit the count; exit 4 if Redis fails."""
    cache = plan["guards"].get("cache")
    if cache is None:
        return
    try:
        with _client() as client:
            count = delete_keys(client, cache["key_pattern"], dry_run)
    except (redis.RedisError, OSError, LookupError) as exc:
        audit("cache", CACHE_RULE, phase=phase, ok=False, error=type(exc).__name__)
        raise RuntimeFailure(f"could not delete the tenant's cache keys {phase} the run "
                             f"({type(exc).__name__}); run `seedc apply` again once Redis is "
                             "back", rule=CACHE_RULE) from None
    audit("cache", CACHE_RULE, phase=phase, ok=True, pattern=cache["key_pattern"],
          **{"would_delete" if dry_run else "deleted": count})
