"""The `seedc` command line: the only place errors become exit codes.

0 success or no differences, 1 differences or drift, 2 invalid input or usage, 3 refused by a
fail-closed guard, 4 runtime failure. A `SeedcError` prints its message without a traceback;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from seedc import __version__
from seedc.errors import ExitCode, SeedcError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a SeedcError into its message on stderr and its exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SeedcError as exc:
            click.echo(f"seedc: {exc.render()}", err=True)
            sys.exit(int(exc.exit_code))

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="seedc")
def cli() -> None:
    """Compile seed manifests into deterministic plans and apply them safely."""


@cli.command("compile")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the plan here.")
@click.option("--check", "check", type=click.Path(path_type=Path),
              help="Exit 1 unless this committed plan is exactly what the manifest compiles to.")
@handle_errors
def compile_cmd(manifest: Path, output: Path | None, check: Path | None) -> None:
    """Compile MANIFEST into a plan (stdout unless -o)."""
    from seedc.compiler.pipeline import compile_manifest
    from seedc.plan.canonical import pretty_bytes
    from seedc.plan.check import check_plan_file

    plan = compile_manifest(manifest)
    data = pretty_bytes(plan)
    if check is not None:
        check_plan_file(check, plan, data)
        click.echo(f"{check}: up to date ({plan['plan_hash']})")
        return
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    click.echo(f"wrote {output} ({plan['plan_hash']}, {plan['estimate']['rows']} rows, "
               f"{len(plan['batches'])} batches)", err=True)


@cli.command("schema")
@click.argument("kind", type=click.Choice(["manifest", "model"]), default="manifest")
def schema_cmd(kind: str) -> None:
    """Print the JSON Schema of manifests (or models) for editors and CI."""
    from seedc.compiler.schema import schema

    click.echo(json.dumps(schema(kind), indent=2, sort_keys=True, ensure_ascii=False))


@cli.command("show")
@click.argument("plan_path", type=click.Path(path_type=Path))
@handle_errors
def show_cmd(plan_path: Path) -> None:
    """A readable summary of a plan, for reviewers."""
    from seedc.plan.format import read_plan
    from seedc.plan.summary import render_summary

    click.echo(render_summary(read_plan(plan_path)))


@cli.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path), required=False)
@click.option("--dsn", help="Compare the plan with this database instead of another plan.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def diff_cmd(old: Path, new: Path | None, dsn: str | None, as_json: bool) -> None:
    """Plan vs plan (what a manifest change does); exit 1 when they differ."""
    from seedc.plan.diff import diff_plans, render_diff_json, render_diff_text
    from seedc.plan.format import read_plan

    if new is None:
        raise click.UsageError("give two plans (plan vs database drift needs --dsn)")
    result = diff_plans(read_plan(old), read_plan(new))
    click.echo(render_diff_json(result) if as_json else render_diff_text(result))
    sys.exit(int(ExitCode.DIFFERENCES if result.changed else ExitCode.OK))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="seedc")


if __name__ == "__main__":
    main()
