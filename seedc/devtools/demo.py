"""`seedc demo`: the whole product on one machine, in one command.

Installs the demo application schema (forced RLS), the control schema and a least-privilege
apply role, creates a dev-only key in `.env.local` if there is none, compiles the example
manifest and applies it as that role — on the given server, or without one on an embedded
PostgreSQL kept under `.seedc/`. Run again, it finds nothing to do.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from seedc.compiler.pipeline import compile_manifest
from seedc.devtools.embedded import ensure_embedded_server
from seedc.plan.canonical import pretty_bytes
from seedc.runtime.apply import ApplyOptions, RunReport, apply_plan, evidence_factory
from seedc.runtime.db import connect
from seedc.runtime.install import grant_apply_role, install_app_schema, install_control
from seedc.runtime.keys import LocalDevKeyProvider

__all__ = ["APPLY_ROLE", "DEMO_DATABASE", "DemoResult", "embedded_apply_dsn", "next_steps",
           "run_demo", "shown_path"]

DEMO_DATABASE = "seedc_demo"
APPLY_ROLE = "seedc_apply"


@dataclass
class DemoResult:
    admin_dsn: str
    apply_dsn: str
    plan_path: Path
    report: RunReport
    base_dir: Path = Path(".seedc")
    embedded: bool = False  # the server is the one under base_dir (no --dsn)


def _secret_file(path: Path, make: str) -> str:
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


def ensure_dev_key(env_file: Path) -> bool:
    """Create a random dev-only FPE key in a git-ignored file; True when created."""
    if env_file.exists():
        return False
    _secret_file(env_file, "# dev-only FPE key for isolated dev (seeds session 1); never commit\n"
                 f"SEEDC_DEV_FPE_KEY={secrets.token_hex(32)}\nSEEDC_DEV_FPE_KEY_VERSION=1")
    return True


def embedded_apply_dsn(base_dir: Path = Path(".seedc")) -> str | None:
    """The apply role's DSN on the embedded demo database, if `seedc demo` set it up."""
    path = base_dir / "apply.dsn"
    return path.read_text().strip() if path.is_file() else None


def run_demo(admin_dsn: str | None, manifest: Path, schema_dir: Path,
             base_dir: Path = Path(".seedc"), env_file: Path = Path(".env.local"),
             options: ApplyOptions | None = None) -> DemoResult:
    """Install everything and apply the example manifest's plan as the apply role."""
    admin = admin_dsn or ensure_embedded_server(base_dir)
    with connect(admin, autocommit=True, application="seedc-demo") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (DEMO_DATABASE,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
        password = _secret_file(base_dir / "apply.password", secrets.token_urlsafe(24))
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APPLY_ROLE,)).fetchone()
        statement = "ALTER ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}" if role else \
            "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}"
        conn.execute(sql.SQL(statement).format(sql.Identifier(APPLY_ROLE), sql.Literal(password)))
    demo_admin = make_conninfo(admin, dbname=DEMO_DATABASE)
    with connect(demo_admin, autocommit=True, application="seedc-demo") as conn:
        install_app_schema(conn, schema_dir)
        install_control(conn)
        grant_apply_role(conn, APPLY_ROLE)
    apply_dsn = make_conninfo(demo_admin, user=APPLY_ROLE, password=password)
    if admin_dsn is None:
        _secret_file(base_dir / "apply.dsn", apply_dsn)
    ensure_dev_key(env_file)
    plan = compile_manifest(manifest)
    plan_path = base_dir / "demo.plan.json"
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_bytes(pretty_bytes(plan))
    options = options or ApplyOptions()
    if options.evidence is None:
        folder = (base_dir / "evidence").resolve()
        options.evidence = evidence_factory(f"file://{folder}", plan, env_file)
    report = apply_plan(plan, apply_dsn, LocalDevKeyProvider(env_file), options)
    return DemoResult(admin, apply_dsn, plan_path, report, base_dir, admin_dsn is None)


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` as the user should type it here: relative to the working directory when it is
    under it, else absolute — so the `plan:` line and the next steps name the same file, and
    a command copied from either works from where the demo was run."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to((cwd or Path.cwd()).resolve()))
    except ValueError:
        return str(absolute)


def _without_password(dsn: str) -> str:
    """``postgresql://user@host:port/db`` of a DSN: its password never reaches the screen."""
    params = conninfo_to_dict(dsn)
    user = params.get("user") or ""
    host = params.get("host") or "localhost"
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{'@' if user else ''}{host}{port}/{params.get('dbname', '')}"


def next_steps(result: DemoResult, cwd: Path | None = None) -> str:
    """What to do after the demo: its two DSNs (passwords as the files holding them, never
    the password) and three commands to try (issue 11, "first hour"), with paths as
    `shown_path` gives them from ``cwd`` (default: the working directory)."""
    base = shown_path(result.base_dir, cwd)
    plan = shown_path(result.plan_path, cwd)
    if result.embedded:
        admin_where = f"password in {base}/pg.password"
        dsn_arg = f'"$(cat {base}/apply.dsn)"'
        apply_where = f"password in {base}/apply.password; full DSN in {base}/apply.dsn"
    else:
        admin_where = "password as you gave it"
        dsn_arg = "APPLY_DSN"
        apply_where = f"password in {base}/apply.password"
    commands = [(f"seedc show {plan}", "what the plan writes"),
                (f"seedc diff {plan} --dsn {dsn_arg}", "drift against the database; exit 0: none"),
                ("seedc runs", "the runs, with their evidence")]
    width = max(len(command) for command, _ in commands)
    return "\n".join([
        "",
        "next steps:",
        f"  admin DSN  {_without_password(result.admin_dsn)}  ({admin_where})",
        f"  apply DSN  {_without_password(result.apply_dsn)}  ({apply_where})",
        *(f"  {command:<{width}}  # {why}" for command, why in commands),
    ])
