"""Shared fixtures: real PostgreSQL, OpenBao and S3 servers for the tests (see services.py).

PostgreSQL is `$SEEDC_TEST_DSN` when set (a superuser DSN, e.g. the CI machine's server),
otherwise one embedded server for the whole session; each test gets its own database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
