"""`seedc db install`: the control schema, its versioned migrations and the apply role's grants.

Idempotent: migrations already recorded in `seedc.schema_version` are skipped, grants are
re-stated. The apply role gets exactly what it uses: read on the target tables' catalog and
migrations/flags, write on the target tables, and on seedc's tables only the verbs it needs.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from seedc.errors import InvalidInput
from seedc.runtime.db import connect

__all__ = ["CONTROL_VERSION", "control_objects", "grant_apply_role", "install_app_schema",
           "install_control"]

CONTROL_VERSION = 3
_GRANTS = {
    "runs": "SELECT, INSERT, UPDATE",
    "audit": "INSERT",
    "checkpoints": "SELECT, INSERT, DELETE",
    "leases": "SELECT, INSERT, UPDATE, DELETE",
    "queue": "SELECT, INSERT, DELETE",
    "maintenance": "SELECT, INSERT, UPDATE, DELETE",
    "evidence": "SELECT, INSERT, UPDATE",
    "plans": "SELECT, INSERT",
    "delta_checkpoints": "SELECT, INSERT, DELETE",
    "datasets": "SELECT, INSERT, UPDATE, DELETE",  # issue 14: TTL purge
    "evidence_chain": "SELECT, INSERT, UPDATE",  # issue 14: strict evidence chain
    "breakglass": "SELECT, INSERT, UPDATE",  # issue 15: request, approve another's, spend
    "work_items": "SELECT, INSERT, UPDATE",  # issue 13: parallel writers' work table
    "work_workers": "SELECT, INSERT, UPDATE",  # issue 13: worker leases
    "rate_ledger": "SELECT, INSERT",  # issue 13: the run's shared rate limit
}


def _control_migrations() -> list[tuple[int, str]]:
    folder = resources.files("seedc.sql").joinpath("control")
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")))
    return sorted(found)


_CREATED = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?seedc\.(\w+)", re.IGNORECASE)
_ADDED = re.compile(r"ALTER TABLE seedc\.(\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+)",
                    re.IGNORECASE)


def control_objects() -> tuple[list[str], list[tuple[str, str]]]:
    """The tables and added columns the shipped migrations create, read from their SQL:
    what a current control schema has (checked by apply without reading schema_version,
    which the apply role may not read)."""
    tables: list[str] = []
    columns: list[tuple[str, str]] = []
    for _version, text in _control_migrations():
        tables += [f"seedc.{t}" for t in _CREATED.findall(text)]
        columns += [(f"seedc.{t}", c) for t, c in _ADDED.findall(text)]
    return tables, columns


def install_control(conn: psycopg.Connection) -> list[int]:
    """Create/upgrade the seedc schema; returns the migration versions applied now."""
    applied = []
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS seedc")
        conn.execute("CREATE TABLE IF NOT EXISTS seedc.schema_version (version integer PRIMARY "
                     "KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('seedc-install'))")
        done = {r[0] for r in conn.execute("SELECT version FROM seedc.schema_version")}
        for version, text in _control_migrations():
            if version in done:
                continue
            conn.execute(text.encode())
            conn.execute("INSERT INTO seedc.schema_version (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


def grant_apply_role(conn: psycopg.Connection, role: str, app_schema: str = "app") -> None:
    """Grant the apply role what seedc uses, nothing more."""
    exists = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        raise InvalidInput(f"role {role!r} does not exist; create it first (LOGIN, NOSUPERUSER, "
                           "NOBYPASSRLS)")
    r = sql.Identifier(role)
    app = sql.Identifier(app_schema)
    with conn.transaction():
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA seedc TO {}").format(r))
        for table, verbs in _GRANTS.items():
            conn.execute(sql.SQL("GRANT " + verbs + " ON seedc.{} TO {}").format(
                sql.Identifier(table), r))
        conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA seedc TO {}").format(r))
        has_app = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                               (app_schema,)).fetchone()
        if has_app:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(app, r))
            # UPDATE: an incremental apply moves references and changed columns (issue 12)
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                                 "{} TO {}")
                         .format(app, r))
            conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {}.schema_migrations, "
                                 "{}.feature_flags FROM {}").format(app, app, r))
            # the routes that decide where events go are read-only to seedc: a seed can never
            # route itself out of the sandbox (issue 15; sessions 8, 18)
            routes = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                  (f"{app_schema}.event_routes",)).fetchone()
            if routes and routes[0]:
                conn.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON {}.event_routes FROM {}")
                             .format(app, r))
            conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}")
                         .format(app, r))
        database = conn.execute("SELECT current_database()").fetchone()
        assert database is not None
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database[0]), r))


def install_app_schema(conn: psycopg.Connection, folder: Path) -> list[str]:
    """Apply the demo application's SQL migrations in order, once each."""
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise InvalidInput(f"no *.sql migrations in {folder}")
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('seedc-demo-schema'))")
        exists = conn.execute("SELECT to_regclass('app.schema_migrations')").fetchone()
        done = set()
        if exists and exists[0]:
            done = {r[0] for r in conn.execute("SELECT version FROM app.schema_migrations")}
        for path in files:
            if path.stem in done:
                continue
            conn.execute(path.read_bytes())
            applied.append(path.stem)
    return applied


def install(dsn: str, role: str | None) -> list[int]:
    with connect(dsn, autocommit=True, application="seedc-install") as conn:
        applied = install_control(conn)
        if role:
            grant_apply_role(conn, role)
        return applied
