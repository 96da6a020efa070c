"""`seedc model init` and `seedc model check`: bring your own schema (issue 16).

init drafts a model (and a manifest skeleton) from the live catalog; check compares a model with
the live schema so the two stay in step. Both only read the catalog.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import psycopg

from seedc.errors import ExitCode, InvalidInput

__all__ = ["model_group"]


@click.group("model")
def model_group() -> None:
    """Draft a model from a live database and keep it in step with the schema."""


def _connect(dsn: str) -> psycopg.Connection:
    from seedc.runtime.db import connect

    return connect(dsn, autocommit=True)


def _migrations_head(conn: psycopg.Connection, schema: str) -> str:
    from psycopg import sql

    try:
        row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_migrations").format(
            sql.Identifier(schema))).fetchone()
    except psycopg.errors.Error:
        return "none"
    return str(row[0]) if row and row[0] else "none"


def _flags(conn: psycopg.Connection, schema: str) -> list[str]:
    from psycopg import sql

    try:
        rows = conn.execute(sql.SQL("SELECT name FROM {}.feature_flags WHERE enabled "
                                    "ORDER BY name").format(sql.Identifier(schema))).fetchall()
    except psycopg.errors.Error:
        return []
    return [str(r[0]) for r in rows]


@model_group.command("init")
@click.option("--dsn", required=True, help="The database to introspect (read only).")
@click.option("--schema", "schemas", multiple=True, default=("app",), show_default=True,
              help="Application schema to read (repeatable).")
@click.option("--tenant-table", help="schema.table of the tenants (default: found by name).")
@click.option("--tenant-column", help="The tenant column's name where no FK tells it.")
@click.option("--name", default="drafted", show_default=True, help="The model's name.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the model YAML.")
@click.option("--manifest", type=click.Path(path_type=Path),
              help="Also write a manifest skeleton here.")
@click.option("--environment", default="dev", show_default=True)
@click.option("--tenant", default="acme", show_default=True)
@click.option("--count", default=10, show_default=True, help="Rows per entity in the skeleton.")
def init_cmd(dsn: str, schemas: tuple[str, ...], tenant_table: str | None,
             tenant_column: str | None, name: str, output: Path, manifest: Path | None,
             environment: str, tenant: str, count: int) -> None:
    """Draft a model from the catalog: tables in FK order, tenant column, parent/pick_row,
    types and limits, CHECK lists, unique-by-construction values, PII guesses (each commented).

    \b
    Examples:
      seedc model init --dsn postgresql://admin@db/app -o models/app.yaml
      seedc model init --dsn "$DSN" -o models/app.yaml --manifest dev/acme.yaml --tenant acme
    """
    from seedc.introspect.catalog import read_catalog
    from seedc.introspect.draft import DraftError, draft_model, render_manifest, render_model

    with _connect(dsn) as conn:
        tables = read_catalog(conn, list(schemas))
        head = _migrations_head(conn, schemas[0])
        flags = _flags(conn, schemas[0])
    if not tables:
        raise InvalidInput(f"no tables in schema(s) {', '.join(schemas)}")
    try:
        draft = draft_model(tables, tenant_table, tenant_column, count)
    except DraftError as exc:
        raise InvalidInput(str(exc)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_model(draft, name), encoding="utf-8")
    click.echo(f"model: {output} ({len(draft.entities)} entities)")
    for skipped in draft.skipped:
        click.echo(f"  skipped {skipped}")
    if manifest is not None:
        import os

        manifest.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(output.resolve(), manifest.resolve().parent)
        manifest.write_text(render_manifest(draft, relative, environment, tenant, head, flags,
                                            count), encoding="utf-8")
        click.echo(f"manifest: {manifest}")


@model_group.command("check")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path, exists=True))
@click.option("--dsn", required=True, help="The database to compare with (read only).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def check_cmd(model_path: Path, dsn: str, as_json: bool) -> None:
    """Compare MODEL with the live schema: missing or extra tables and columns, required columns
    without an expression, type/length and nullability changes, RLS off. Exit 1 on findings.

    \b
    Examples:
      seedc model check manifests/models/banking-core.yaml --dsn "$DSN"
      seedc model check models/app.yaml --dsn "$DSN" --json
    """
    from seedc.compiler.model import parse_model
    from seedc.compiler.schema import validate_against_schema
    from seedc.compiler.source import Problems, load_yaml
    from seedc.introspect.catalog import read_catalog
    from seedc.introspect.check import check_model

    problems = Problems()
    source = load_yaml(model_path)
    validate_against_schema(source, "model", problems)
    model = parse_model(source, problems) if not problems.items else None
    problems.raise_if_any("invalid model")
    assert model is not None
    schemas = sorted({e.schema for e in model.entities.values()})
    with _connect(dsn) as conn:
        tables = read_catalog(conn, schemas)
    findings = check_model(model, tables)
    if as_json:
        click.echo(json.dumps({"model": str(model_path), "in_step": not findings,
                               "findings": [f.as_dict() for f in findings]},
                              indent=2, sort_keys=True))
    elif findings:
        click.echo(f"{model_path}: {len(findings)} difference(s) with the database")
        for finding in findings:
            click.echo(f"  [{finding.kind}] {finding.message}")
    else:
        click.echo(f"{model_path}: in step with the database "
                   f"({len(model.entities)} tables)")
    sys.exit(int(ExitCode.DIFFERENCES if findings else ExitCode.OK))
