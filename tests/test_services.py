"""The test servers work and clean up after themselves; the embedded server can be reused."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from seedc.devtools.embedded import ensure_embedded_server, stop_embedded_server
from tests.services import (
    BaoDevServer,
    MotoServer,
    apply_role,
    dsn_with,
    free_port,
    fresh_database,
)


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie: a reaped-later zombie has already stopped running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        return "\nState:\tZ" not in status.read_text()
    return True


def _port_of(dsn: str) -> int:
    return int(psycopg.conninfo.conninfo_to_dict(dsn)["port"] or 5432)


# --- PostgreSQL ----------------------------------------------------------------------------


def test_pg_db_is_a_fresh_database(pg_db: str) -> None:
    with psycopg.connect(pg_db) as conn:
        name = conn.execute("select current_database()").fetchone()
        conn.execute("create table t (id int primary key, v text)")
        conn.execute("insert into t values (1, 'um'), (2, 'dois')")
        rows = conn.execute("select v from t order by id").fetchall()
    assert name is not None
    assert name[0].startswith("seedc_t_")
    assert rows == [("um",), ("dois",)]


def test_fresh_database_is_dropped_even_with_open_connections(pg_admin_dsn: str) -> None:
    with fresh_database(pg_admin_dsn) as dsn:
        dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
        leaked = psycopg.connect(dsn)  # a test that forgets to close must not break teardown
    with psycopg.connect(pg_admin_dsn) as conn:
        found = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
    leaked.close()
    assert found is None


def test_apply_role_is_neither_superuser_nor_bypassrls(apply_role_dsn: str) -> None:
    with psycopg.connect(apply_role_dsn) as conn:
        row = conn.execute(
            "select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone()
        conn.execute("create temp table scratch (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table public.not_allowed (x int)")
    assert row is not None
    user, rolsuper, rolbypassrls = row
    assert user.startswith("seedc_apply_")
    assert (rolsuper, rolbypassrls) == (False, False)


def test_apply_role_is_dropped_afterwards(pg_db: str) -> None:
    with apply_role(pg_db) as dsn:
        role = psycopg.conninfo.conninfo_to_dict(dsn)["user"]
        with psycopg.connect(pg_db, autocommit=True) as admin:
            # the role owns something and holds a grant: teardown must still drop it
            admin.execute(f'grant create on schema public to "{role}"')
        with psycopg.connect(dsn) as conn:
            conn.execute("create table owned_by_role (x int)")
    with psycopg.connect(pg_db) as conn:
        found = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    assert found is None


def test_dsn_with_keeps_form() -> None:
    url = "postgresql://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable"
    assert dsn_with(url, dbname="d", user="u", password="p/q") == (
        "postgresql://u:p%2Fq@127.0.0.1:5432/d?sslmode=disable"
    )
    kv = dsn_with("host=127.0.0.1 user=postgres password=pw dbname=postgres", user="u")
    assert psycopg.conninfo.conninfo_to_dict(kv) == {
        "host": "127.0.0.1",
        "user": "u",
        "dbname": "postgres",
    }


# --- OpenBao -------------------------------------------------------------------------------


def test_bao_kv_v2_write_read(bao: BaoDevServer) -> None:
    client = bao.client()
    assert client.is_authenticated()
    client.secrets.kv.v2.create_or_update_secret(
        path="seedc/tenants/acme", secret={"fpe_key": "00" * 32}
    )
    read = client.secrets.kv.v2.read_secret_version(
        path="seedc/tenants/acme", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"fpe_key": "00" * 32}
    assert read["data"]["metadata"]["version"] == 1


def test_bao_process_is_gone_after_stop() -> None:
    with BaoDevServer() as server:
        pid = server.pid
        assert pid is not None
        assert _pid_alive(pid)
    assert not _pid_alive(pid)
    server.stop()  # idempotent


# --- S3 (moto) -----------------------------------------------------------------------------


def test_moto_object_lock_compliance_refuses_delete(moto_s3: MotoServer) -> None:
    s3 = moto_s3.s3_client()
    s3.create_bucket(Bucket="seedc-evidence", ObjectLockEnabledForBucket=True)
    put = s3.put_object(
        Bucket="seedc-evidence",
        Key="runs/1/report.json",
        Body=b"{}",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    version = put["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket="seedc-evidence", Key="runs/1/report.json", VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    kept = s3.get_object(Bucket="seedc-evidence", Key="runs/1/report.json", VersionId=version)
    assert kept["Body"].read() == b"{}"
    assert kept["ObjectLockMode"] == "COMPLIANCE"


def test_moto_state_does_not_leak_between_servers() -> None:
    with MotoServer() as first:
        first.s3_client().create_bucket(Bucket="left-behind")
    with MotoServer() as second:
        assert second.s3_client().list_buckets()["Buckets"] == []


# --- the product's embedded server ---------------------------------------------------------


@pytest.mark.slow
def test_embedded_server_starts_reuses_restarts_and_stops(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "state"
    try:
        dsn = ensure_embedded_server(base, durable=False)
        assert ensure_embedded_server(base, durable=False) == dsn  # reused, same port
        assert (base / "pg.port").read_text().strip() == str(_port_of(dsn))
        assert (base / "pg.password").stat().st_mode & 0o777 == 0o600
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()
        assert row == (True,)

        # a dead server (killed, crashed) is noticed and started again
        pid = int((base / "pg" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        restarted = ensure_embedded_server(base, durable=False)
        with psycopg.connect(restarted) as conn:
            assert conn.execute("select 1").fetchone() == (1,)

        stop_embedded_server(base)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(restarted, connect_timeout=2)
        stop_embedded_server(base)  # stopping a stopped server is a no-op
    finally:
        stop_embedded_server(base)
    out, _err = capfd.readouterr()
    assert out == ""  # the server and its tools log to pg.log, never to our stdout
    assert "database system is ready" in (base / "pg.log").read_text()


@pytest.mark.slow
def test_embedded_server_prefers_its_remembered_port(tmp_path: Path) -> None:
    base = tmp_path / "state"
    port = free_port()
    base.mkdir()
    (base / "pg.port").write_text(f"{port}\n")
    try:
        dsn = ensure_embedded_server(base, durable=False)
        assert _port_of(dsn) == port
        stop_embedded_server(base)
        assert _port_of(ensure_embedded_server(base, durable=False)) == port
    finally:
        stop_embedded_server(base)
