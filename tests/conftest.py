"""Shared fixtures: real PostgreSQL, OpenBao and S3 servers for the tests (see services.py).

PostgreSQL is `$SEEDC_TEST_DSN` when set (a superuser DSN, e.g. the CI machine's server),
otherwise one embedded server for the whole session; each test gets its own database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime_support import Target, acme_plan, prepared_target
from tests.services import (
    BaoDevServer,
    MotoServer,
    apply_role,
    fresh_database,
    postgres_admin_dsn,
)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """Superuser DSN for the session's server; starting one costs ~1 s, so it is shared."""
    with postgres_admin_dsn() as dsn:
        yield dsn


@pytest.fixture
def pg_db(pg_admin_dsn: str) -> Iterator[str]:
    """Superuser DSN to a fresh `seedc_t_<hex>` database, dropped after the test."""
    with fresh_database(pg_admin_dsn) as dsn:
        yield dsn


@pytest.fixture
def apply_role_dsn(pg_db: str) -> Iterator[str]:
    """DSN to `pg_db` as a fresh LOGIN role without SUPERUSER or BYPASSRLS, dropped after.

    The role may connect, use schema public and create temp tables; grant it more in the test.
    """
    with apply_role(pg_db) as dsn:
        yield dsn


@pytest.fixture
def bao() -> Iterator[BaoDevServer]:
    """A fresh in-memory OpenBao dev server per test (starts in ~0.2 s), killed afterwards."""
    with BaoDevServer() as server:
        yield server


@pytest.fixture
def moto_s3() -> Iterator[MotoServer]:
    """A moto S3 endpoint with empty state per test, stopped afterwards."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    """A database prepared like production (demo schema, control schema, apply role, dev key),
    with CI and Vault unset so the dev key is used; modules may define their own."""
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    """The example dev/acme plan (a fresh copy per module); modules may define their own."""
    return acme_plan()
