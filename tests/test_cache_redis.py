"""Caches around a run (issue 15 part 3, session 18), against a real Redis server: the
tenant's keys are deleted with SCAN + UNLINK before and after the run, other keys survive,
the counts are audited, a dry run only counts, and an unreachable Redis refuses the run
(exit 3, audited, nothing written)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from seedc.rules import rule_name
from seedc.runtime.apply import ApplyOptions, BatchReport
from seedc.runtime.cache import CACHE_RULE, REDIS_URL_ENV
from tests.manifests import variant
from tests.runtime_support import (
    Target,
    compile_variant,
    planned_counts,
    prepared_target,
    run_cli_inprocess,
    wait_for,
    zero_counts,
)

CACHE_LINE = 'cache: {key_pattern: "bank:{tenant_id}:*"}\n'
ANCHOR = "flags: {required:"
OTHER = "bank:00000000-0000-5000-8000-000000000001:"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private redis-server (no persistence) so no other user's keys are ever touched."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required for these tests (apt-get install redis-server)"
    port = _free_port()
    work = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(up, timeout=10)
        yield port
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def cache(redis_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_port, db=3)
    client.flushdb()  # the private server's own test database
    monkeypatch.setenv(REDIS_URL_ENV, f"redis://127.0.0.1:{redis_port}/3")
    yield client
    client.close()


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _plan(tmp: Path) -> dict[str, Any]:
    return compile_variant(tmp / "cache", [(ANCHOR, CACHE_LINE + ANCHOR)])


def _fill(client: redis.Redis, prefix: str, n: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.set(f"{prefix}{i}", b"x")
        pipe.execute()


def _cache_audit(t: Target, plan: dict[str, Any]) -> list[dict[str, Any]]:
    with psycopg.connect(t.admin_dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT detail FROM seedc.audit WHERE tenant = %s AND event = "
                            "'cache' ORDER BY id", (plan["tenant"],)).fetchall()
    return [r[0] for r in rows]


def test_the_plan_carries_the_tenants_resolved_pattern(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    assert plan["guards"]["cache"] == {"key_pattern": f"bank:{plan['tenant_id']}:*"}


def test_keys_are_deleted_before_and_after_and_others_survive(
        target: Target, cache: redis.Redis, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    mine = f"bank:{plan['tenant_id']}:"
    _fill(cache, mine, 1234)  # more than one SCAN/UNLINK batch
    _fill(cache, OTHER, 7)
    cache.set("session:abc", b"y")

    def app_caches_during_the_run(item: BatchReport, done: int, total: int) -> None:
        if done == 1:
            assert cache.exists(f"{mine}0") == 0  # deleted before the first write
            _fill(cache, mine + "during:", 5)

    report = target.apply(plan, ApplyOptions(on_batch=app_caches_during_the_run))
    assert report.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)
    assert list(cache.scan_iter(match=f"{mine}*")) == []
    assert cache.dbsize() == 8  # the other tenant's 7 keys and the unrelated one
    audited = _cache_audit(target, plan)
    assert [(a["phase"], a["deleted"], a["ok"]) for a in audited] == [
        ("before", 1234, True), ("after", 5, True)]
    assert all(a["pattern"] == f"{mine}*" for a in audited)


def test_a_dry_run_only_counts(target: Target, cache: redis.Redis, tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    _fill(cache, f"bank:{plan['tenant_id']}:", 12)
    report = target.apply(plan, ApplyOptions(dry_run=True))
    assert report.status == "succeeded"
    assert cache.dbsize() == 12
    assert [(a["phase"], a["would_delete"], a["dry_run"]) for a in _cache_audit(target, plan)] \
        == [("before", 12, True), ("after", 12, True)]


@pytest.mark.parametrize(("url", "detail"), [
    pytest.param("closed", "is unreachable (ConnectionError)", id="unreachable"),
    pytest.param(None, f"the manifest names a cache but {REDIS_URL_ENV} is not set",
                 id="url-unset"),
])
def test_no_reachable_redis_refuses_with_exit_3_and_writes_nothing(
        target: Target, cache: redis.Redis, tmp_path: Path, url: str | None,
        detail: str) -> None:
    plan = _plan(tmp_path)
    _fill(cache, f"bank:{plan['tenant_id']}:", 3)
    value = f"redis://:hunter2@127.0.0.1:{_free_port()}/3" if url else None
    result = target.cli_inprocess("apply", str(target.plan_file(plan)), "--dsn",
                                  target.apply_dsn, env={REDIS_URL_ENV: value})
    assert result.code == 3, result.text
    assert result.error.startswith("seedc: preflight refused the run (1 check(s) failed)")
    line = next(x for x in result.error.splitlines() if x.startswith("  - cache: "))
    assert detail in line
    assert line.endswith(f"[rule {rule_name(CACHE_RULE)}: {CACHE_RULE}]")
    assert "hunter2" not in result.text
    assert target.counts(plan) == zero_counts(plan)
    assert target.runs(plan) == [("refused", False, 0)]
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        audited = conn.execute(
            "SELECT detail->>'detail' FROM seedc.audit WHERE tenant = %s AND event = "
            "'preflight' AND detail->>'check' = 'cache' AND NOT (detail->>'ok')::boolean",
            (plan["tenant"],)).fetchall()
    assert len(audited) == 1
    assert detail in audited[0][0]
    assert "hunter2" not in audited[0][0]
    assert _cache_audit(target, plan) == []
    assert cache.dbsize() == 3  # nothing deleted either


@pytest.mark.parametrize("pattern", ["app:*", "bank:*", "bank:acme-*"])
def test_a_pattern_without_the_tenant_is_refused_at_compile(tmp_path: Path,
                                                            pattern: str) -> None:
    path = variant(tmp_path, [(ANCHOR, f'cache: {{key_pattern: "{pattern}"}}\n' + ANCHOR)])
    result = run_cli_inprocess(["compile", str(path)], cwd=tmp_path)
    assert result.code == 2, result.text
    assert "the key pattern must contain {tenant_id} or {tenant}" in result.err
