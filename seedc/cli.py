"""The `seedc` command line: the only place errors become exit codes.

0 success or no differences, 1 differences or drift, 2 invalid input or usage, 3 refused by a
fail-closed guard, 4 runtime failure. Every exception is caught once, in `SeedcGroup.invoke`:
a `SeedcError` prints its message and exits with its code; anything else is a bug and prints
one line "internal error" (exit 4), its traceback only with `--debug` or `SEEDC_DEBUG=1`.
Everything printed there passes the one redaction module first, so no CPF, e-mail, key or
DSN password reaches stderr. click's own usage errors keep their exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from seedc import __version__
from seedc.errors import ExitCode, InvalidInput, SeedcError
from seedc.runtime.telemetry.redaction import redact_text

if TYPE_CHECKING:
    from seedc.runtime.lease import LeaseSettings

__all__ = ["SeedcGroup", "cli", "main"]

_TRUE = ("1", "true", "yes", "on")
F = TypeVar("F", bound=Callable[..., Any])


def _debug(ctx: click.Context) -> bool:
    """--debug on the group, or SEEDC_DEBUG=1 in the environment."""
    root = ctx.find_root()
    return bool(root.params.get("debug")) or \
        os.environ.get("SEEDC_DEBUG", "").strip().lower() in _TRUE


def _fail(ctx: click.Context, text: str, code: int) -> NoReturn:
    click.echo(f"seedc: {redact_text(text)}", err=True)
    ctx.exit(code)


class SeedcGroup(click.Group):
    """The top-level group: the single place an exception becomes an exit code.

    Why here and not per command: every subcommand (nested groups included) runs inside this
    `invoke`, so no command can forget the mapping, and the traceback policy lives in one spot.
    """

    def invoke(self, ctx: click.Context) -> Any:
        import psycopg

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit,
                click.exceptions.Abort):
            raise  # click's own usage errors (exit 2), --help, ctx.exit
        except Exception as exc:
            debug = _debug(ctx)
            if debug:
                click.echo(redact_text(traceback.format_exc()).rstrip(), err=True)
            if isinstance(exc, SeedcError):
                _fail(ctx, exc.render(), int(exc.exit_code))
            first = (str(exc).strip().splitlines() or [""])[0]
            if isinstance(exc, psycopg.OperationalError):
                _fail(ctx, f"database error: {first}{_run_suffix(exc)}",
                      int(ExitCode.RUNTIME_FAILURE))
            hint = "" if debug else "; rerun with --debug (or SEEDC_DEBUG=1) for the traceback"
            _fail(ctx, f"internal error: {type(exc).__name__}: {first}{_run_suffix(exc)}; "
                  f"this is a bug in seedc{hint}", int(ExitCode.RUNTIME_FAILURE))


def _run_suffix(exc: BaseException) -> str:
    """" (run <id>)" when apply attached its RunReport to the exception."""
    run_id = getattr(getattr(exc, "report", None), "run_id", None)
    return f" (run {run_id})" if run_id else ""


@click.group(cls=SeedcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seedc")
@click.option("--debug", is_flag=True,
              help="Show the traceback of an internal error (also SEEDC_DEBUG=1).")
@click.option("--no-color", is_flag=True,
              help="No colour or escape sequences on a terminal (also NO_COLOR=1).")
def cli(debug: bool, no_color: bool) -> None:
    """Compile seed manifests into deterministic plans and apply them safely.

    Logs are JSON lines on stderr (INFO) when stderr is not a terminal, readable lines at
    WARNING on a terminal, where a refusal is printed once, as `seedc: …`; SEEDC_LOG_LEVEL
    overrides the level.
    """
    from seedc.runtime.telemetry import configure_logging
    from seedc.runtime.telemetry.logs import color_enabled, forbid_color

    forbid_color(no_color)
    tty = sys.stderr.isatty()
    configure_logging(level=os.environ.get("SEEDC_LOG_LEVEL") or ("WARNING" if tty else "INFO"),
                      colors=color_enabled(sys.stderr))


def _project_env_file(_ctx: click.Context, _param: click.Parameter,
                      value: Path | None) -> Path:
    """--env-file as given; by default the project's `.env.local`, found from any of its
    subdirectories (where `seedc demo` created it), else `.env.local` here."""
    if value is not None:
        return value
    from seedc.devtools.project import find_project_root

    root = find_project_root()
    return root / ".env.local" if root is not None else Path(".env.local")


def _env_file_option(help_text: str) -> Callable[[F], F]:
    return click.option("--env-file", type=click.Path(path_type=Path), default=None,
                        callback=_project_env_file, help=help_text,
                        show_default=".env.local of the project root")


@cli.command("compile")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the plan here (required on a terminal; else stdout).")
@click.option("--check", "check", type=click.Path(path_type=Path),
              help="Exit 1 unless this committed plan is exactly what the manifest compiles to.")
def compile_cmd(manifest: Path, output: Path | None, check: Path | None) -> None:
    """Compile MANIFEST into a plan: -o PLAN, or stdout when it is redirected.

    \b
    Examples:
      seedc compile manifests/dev/acme.yaml -o plans/dev/acme.plan.json
      seedc compile manifests/dev/acme.yaml --check plans/dev/acme.plan.json
    """
    from seedc.compiler.pipeline import compile_manifest
    from seedc.plan.canonical import pretty_bytes
    from seedc.plan.check import check_plan_file

    if check is not None and output is not None:
        raise click.UsageError("--check compares with a committed plan and writes nothing: "
                               "give --check or -o, not both")
    plan = compile_manifest(manifest)
    data = pretty_bytes(plan)
    if check is not None:
        stale = check_plan_file(check, plan, data, manifest)
        if stale is not None:
            from seedc.plan.styled import echo_lines

            echo_lines(stale.lines)
            raise stale.error
        click.echo(f"{check}: up to date ({plan['plan_hash']})")
        return
    if output is None:
        if sys.stdout.isatty():  # kilobytes of JSON on a screen help nobody (issue 11)
            raise InvalidInput(
                f"compiled {manifest}: plan {plan['plan_hash']}, {plan['estimate']['rows']} "
                f"rows, {len(plan['batches'])} batches; not written: give -o PLAN, or "
                f"redirect stdout (e.g. -o plans/{plan['environment']}/{plan['tenant']}"
                ".plan.json)")
        sys.stdout.buffer.write(data)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    click.echo(f"wrote {output} ({plan['plan_hash']}, {plan['estimate']['rows']} rows, "
               f"{len(plan['batches'])} batches)", err=True)


@cli.command("schema")
@click.argument("kind", type=click.Choice(["manifest", "model", "plan"]), default="manifest")
def schema_cmd(kind: str) -> None:
    """Print the JSON Schema of manifests, models or plans, for editors and CI.

    \b
    Examples:
      seedc schema manifest > manifest.schema.json
      seedc schema plan
    """
    if kind == "plan":
        from seedc.plan.model import published_plan_schema

        click.echo(published_plan_schema(), nl=False)
        return
    from seedc.compiler.schema import schema

    click.echo(json.dumps(schema(kind), indent=2, sort_keys=True, ensure_ascii=False))


@cli.command("show")
@click.argument("plan_path", type=click.Path(path_type=Path))
def show_cmd(plan_path: Path) -> None:
    """A readable summary of a plan, for reviewers.

    \b
    Examples:
      seedc show plans/dev/acme.plan.json
    """
    from seedc.plan.format import read_plan
    from seedc.plan.summary import render_summary

    click.echo(render_summary(read_plan(plan_path)))


@cli.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path), required=False)
@click.option("--dsn", help="Compare the plan with this database (drift) instead of a plan.")
@_env_file_option("Dev-only key file (isolated dev only).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff_cmd(old: Path, new: Path | None, dsn: str | None, env_file: Path,
             as_json: bool) -> None:
    """OLD NEW: what a manifest change does. PLAN [--dsn]: drift against the database (as
    for apply: --dsn, libpq variables, else the embedded demo database); when the tenant holds
    an earlier plan, what applying PLAN would insert, update and delete, and apart from that
    the drift. Exit 1 on differences.

    \b
    Examples:
      seedc diff plans/dev/acme.plan.json new.plan.json
      seedc diff plans/dev/acme.plan.json --dsn "$(cat .seedc/apply.dsn)" --json
    """
    from seedc.plan.format import read_plan

    if new is not None and dsn is not None:
        raise click.UsageError("give two plans or --dsn, not both")
    if new is not None:
        from seedc.plan.diff import diff_plans
        from seedc.plan.diff_json import render_diff_json
        from seedc.plan.diff_text import render_diff_lines
        from seedc.plan.styled import echo_lines

        result = diff_plans(read_plan(old), read_plan(new))
        if as_json:
            click.echo(render_diff_json(result))
        else:
            echo_lines(render_diff_lines(result))
        sys.exit(int(ExitCode.DIFFERENCES if result.changed else ExitCode.OK))
    from seedc.plan.styled import echo_lines
    from seedc.runtime.db import connect
    from seedc.runtime.drift import diff_database
    from seedc.runtime.drift_render import render_drift_json, render_drift_lines
    from seedc.runtime.dual_write import diverging_pairs_of
    from seedc.runtime.keys import key_provider_for
    from seedc.runtime.pending import pending_change, render_pending_json, render_pending_lines

    plan = read_plan(old)
    with connect(_dsn(dsn)) as conn:
        keys = key_provider_for(env_file)
        change = pending_change(conn, plan, keys, str(old))  # it holds an earlier plan
        if change is None:
            report = diff_database(conn, plan, keys)
        diverging = diverging_pairs_of(conn, plan)
    for line in diverging:  # dual-read of expand/contract pairs (issue 15); on stderr
        click.echo(f"pair diverges: {line}", err=True)
    if change is not None:
        if as_json:
            click.echo(render_pending_json(change))
        else:
            echo_lines(render_pending_lines(change))
        sys.exit(int(ExitCode.DIFFERENCES if change.pending or change.drifted or diverging
                     else ExitCode.OK))
    if as_json:
        click.echo(render_drift_json(report))
    else:
        echo_lines(render_drift_lines(report))
    sys.exit(int(ExitCode.DIFFERENCES if report.drifted or diverging else ExitCode.OK))


_LIBPQ_SERVER_VARS = ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGDATABASE", "PGPORT")


def _checked_dsn(dsn: str, option: str = "--dsn") -> str:
    """Refuse a malformed connection string before connecting (exit 2, never a traceback)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InvalidInput(f"{option} is not a valid PostgreSQL connection string: {first}; "
                           "expected postgresql://user@host:5432/db or 'host=… dbname=…'",
                           rule="valid DSN") from None
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise InvalidInput(f"{option}: port {port!r} is not a number between 1 and 65535",
                               rule="valid DSN")
    return dsn


def _dsn(dsn: str | None) -> str:
    """--dsn, else libpq's environment (said on stderr), else the embedded demo database.

    The embedded database is the project's (found from any subdirectory), never a new one.
    """
    from seedc.devtools.demo import embedded_apply_dsn
    from seedc.devtools.project import find_project_root

    if dsn:
        return _checked_dsn(dsn)
    used = [f"{v}={os.environ[v]}" for v in _LIBPQ_SERVER_VARS if os.environ.get(v)]
    if any(os.environ.get(v) for v in _LIBPQ_SERVER_VARS if v != "PGPORT"):
        click.echo(f"seedc: using the server from {redact_text(' '.join(used))} "
                   "(libpq environment)", err=True)
        return ""
    root = find_project_root()
    embedded = embedded_apply_dsn(root / ".seedc") if root is not None else None
    if root is None or embedded is None:
        raise InvalidInput("no database: pass --dsn, set libpq variables (PGHOST…), or run "
                           "`seedc demo` to create the embedded one")
    from seedc.devtools.embedded import ensure_embedded_server

    ensure_embedded_server(root / ".seedc")
    return embedded


def _lease_options(lease_wait: float, queue_ttl: float) -> LeaseSettings:
    from seedc.runtime.lease import LeaseSettings

    return LeaseSettings(queue_ttl_s=queue_ttl, lease_wait_s=lease_wait)


_lease_wait = click.option("--lease-wait", type=float, default=60.0, show_default=True,
                           help="Seconds to wait for another run of this tenant to finish.")
_queue_ttl = click.option("--queue-ttl", type=float, default=300.0, show_default=True,
                          help="Seconds a run may wait for a cluster slot (session 16).")


@cli.command("apply")
@click.argument("plan_path", type=click.Path(path_type=Path))
@click.option("--dsn", help="Target database (the apply role). Default: libpq env, else the "
              "embedded demo database.")
@click.option("--dry-run", is_flag=True, help="Same path in a transaction rolled back.")
@_env_file_option("Dev-only key file (isolated dev only).")
@click.option("--evidence", "evidence_uri", metavar="URI",
              help="WORM store for the signed run report: s3://bucket/prefix or file://path "
              "(default $SEEDC_EVIDENCE_URI; file:// only outside homolog/prod).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_lease_wait
@_queue_ttl
@click.option("--breakglass", metavar="ID", help="An approved breakglass ticket for this one "
              "manual run outside isolated dev (`seedc breakglass`).")
@click.option("--workers", type=click.IntRange(1, 4), default=1, show_default=True,
              help="Parallel batch writers (load/dr only; docs/scale.md).")
@click.option("--join", "join", is_flag=True,
              help="Join the active run of this plan as extra writers (docs/scale.md).")
@click.option("--worker-ttl", type=click.IntRange(2, 600), default=15, show_default=True,
              help="Seconds a writer's lease lasts; its batch is reclaimed after it lapses.")
def apply_cmd(plan_path: Path, dsn: str | None, dry_run: bool, env_file: Path,
              evidence_uri: str | None, as_json: bool, lease_wait: float,
              queue_ttl: float, breakglass: str | None, workers: int, join: bool,
              worker_ttl: int) -> None:
    """Apply a plan: preflight, slot and lease, SERIALIZABLE batches, checkpoints, verify.

    \b
    Examples:
      seedc apply plans/dev/acme.plan.json --dry-run
      seedc apply plans/ci/acme.plan.json --dsn "$SEEDC_APPLY_DSN" --json
    """
    from seedc.plan.format import read_plan
    from seedc.runtime.apply import ApplyOptions, apply_plan, evidence_factory
    from seedc.runtime.evidence.flush import flush_waiting
    from seedc.runtime.keys import key_provider_for
    from seedc.runtime.progress import Progress, render_run

    plan = read_plan(plan_path)
    from seedc.runtime.join import check_workers_mode

    check_workers_mode(plan, workers, join, dry_run)  # exit 2 before anything (issue 13)
    options = ApplyOptions(dry_run=dry_run, lease=_lease_options(lease_wait, queue_ttl),
                           on_batch=Progress(plan["estimate"]["rows"]),
                           evidence=evidence_factory(evidence_uri, plan, env_file),
                           plan_path=str(plan_path), breakglass=breakglass,
                           writers=workers, worker_ttl_s=worker_ttl)
    target = _dsn(dsn)
    if join:
        from seedc.runtime.join import join_run

        joined = join_run(plan, target, key_provider_for(env_file), options)
        click.echo(json.dumps(joined, indent=2, sort_keys=True) if as_json else
                   f"joined run {joined['run_id']}: wrote {joined['rows_written']} rows in "
                   f"{joined['batches']} batch(es); the run {joined['status']}")
        return
    flush_waiting(options.evidence, target, plan["environment"])  # unsent reports (issue 14)
    try:
        report = apply_plan(plan, target, key_provider_for(env_file), options)
    except Exception as exc:  # re-raised: SeedcGroup.invoke maps it; --json still reports
        failed = getattr(exc, "report", None)
        if as_json and failed is not None:
            click.echo(json.dumps(failed.as_json(), indent=2, sort_keys=True))
        raise
    click.echo(json.dumps(report.as_json(), indent=2, sort_keys=True) if as_json
               else render_run(report, plan))


@cli.command("reset")
@click.argument("plan_path", type=click.Path(path_type=Path))
@click.option("--dsn", help="Target database (the apply role).")
@click.option("--yes", is_flag=True, help="Confirm deleting the tenant's dataset.")
@_lease_wait
@click.option("--breakglass", metavar="ID", help="An approved breakglass ticket (issue 15).")
def reset_cmd(plan_path: Path, dsn: str | None, yes: bool, lease_wait: float,
              breakglass: str | None) -> None:
    """Delete the tenant's rows and checkpoints for a coordinated reseed (audited).

    \b
    Examples:
      seedc reset plans/dev/acme.plan.json --yes
    """
    from seedc.plan.format import read_plan
    from seedc.runtime.reset import reset_tenant

    plan = read_plan(plan_path)
    if not yes:
        raise click.UsageError(f"this deletes every row of tenant {plan['tenant']} in "
                               f"{plan['environment']}'s seeded tables: add --yes")
    from seedc.runtime.keys import key_provider_for

    deleted = reset_tenant(plan, _dsn(dsn), _lease_options(lease_wait, 300.0),
                           key_provider_for(), breakglass)
    for table, count in deleted.items():
        click.echo(f"{table}: {count} row(s) deleted")


@cli.group("db")
def db_group() -> None:
    """Database administration: the control schema."""


@db_group.command("install")
@click.option("--dsn", required=True, help="An admin DSN (creates the seedc schema).")
@click.option("--apply-role", help="Grant this role what apply needs, nothing more.")
def db_install_cmd(dsn: str, apply_role: str | None) -> None:
    """Create or upgrade the seedc control schema (idempotent).

    \b
    Examples:
      seedc db install --dsn postgresql://admin@db/app --apply-role seedc_apply
    """
    from seedc.runtime.install import install

    applied = install(_checked_dsn(dsn), apply_role)
    done = ("applied migration(s) " + ", ".join(str(n) for n in applied) if applied
            else "up to date")
    click.echo(f"control schema: {done}" + (f"; granted {apply_role}" if apply_role else ""))


@cli.command("demo")
@click.option("--dsn", help="Admin DSN of a server to use instead of the embedded one.")
@click.option("--manifest", type=click.Path(path_type=Path),
              show_default="manifests/dev/acme.yaml of the project root")
@click.option("--schema-dir", type=click.Path(path_type=Path),
              show_default="manifests/schema of the project root")
@click.option("--json", "as_json", is_flag=True)
@click.option("--stop", is_flag=True, help="Stop the embedded PostgreSQL under .seedc/ and exit "
              "(its data stays; the next demo or apply starts it again).")
def demo_cmd(dsn: str | None, manifest: Path | None, schema_dir: Path | None, as_json: bool,
             stop: bool) -> None:
    """Install the demo schema, control schema and apply role; compile and apply the example.

    Works from any directory of the project: its state (`.seedc/`, `.env.local`) and the
    example files are found at the project root, and outside a project it refuses (exit 2)
    before starting any server.

    \b
    Examples:
      seedc demo
      seedc demo --stop
    """
    from seedc.devtools.project import project_root

    root = project_root()
    base_dir = root / ".seedc"
    if stop:
        from seedc.devtools.embedded import stop_embedded_server

        stop_embedded_server(base_dir)
        click.echo("embedded PostgreSQL stopped")
        return
    from seedc.devtools.demo import next_steps, run_demo, shown_path
    from seedc.runtime.apply import ApplyOptions
    from seedc.runtime.progress import Progress, render_run

    result = run_demo(_checked_dsn(dsn) if dsn else None,
                      manifest or root / "manifests" / "dev" / "acme.yaml",
                      schema_dir or root / "manifests" / "schema", base_dir=base_dir,
                      env_file=root / ".env.local", options=ApplyOptions(on_batch=Progress(0)))
    if as_json:
        click.echo(json.dumps(result.report.as_json(), indent=2, sort_keys=True))
        return
    click.echo(f"plan: {shown_path(result.plan_path)}")
    click.echo(render_run(result.report, {}))
    click.echo(next_steps(result))


@cli.group("keys")
def keys_group() -> None:
    """FPE keys: the plan's key version against Vault's."""


@keys_group.command("status")
@click.argument("plan_path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print the status as JSON, refusals included (then exit 3).")
@_env_file_option("Dev-only key file (isolated dev only, without VAULT_ADDR).")
def keys_status_cmd(plan_path: Path, as_json: bool, env_file: Path) -> None:
    """Show the plan's salt_version against the key's current version.

    The key is the one `apply` would use: Vault when VAULT_ADDR is set, else the dev-only
    key in .env.local for an isolated dev plan (session 1). Exit 0 when they match, 3 when
    the key rotated, is missing, is ahead of the plan or may not be used here.

    \b
    Examples:
      seedc keys status plans/dev/acme.plan.json
      VAULT_ADDR=https://vault:8200 seedc keys status plans/ci/acme.plan.json --json
    """
    from seedc.errors import GuardRefused, SeedcError
    from seedc.plan.format import read_plan
    from seedc.runtime.keys import LocalDevKeyProvider

    plan: dict[str, Any] | None = None
    source = "vault" if os.environ.get("VAULT_ADDR") else "local-dev"
    try:
        plan = read_plan(plan_path)
        if source == "vault":
            from seedc.runtime.keys.vault import VaultKeyProvider

            vault = VaultKeyProvider.from_environment().status(plan)
            out: dict[str, Any] = {
                "source": source, "ref": vault.ref, "plan_version": vault.plan_version,
                "key_version": vault.vault_version, "vault_version": vault.vault_version,
                "state": vault.state, "message": vault.message}
            where = f"Vault version {_or_dash(vault.vault_version)}"
        else:
            local = LocalDevKeyProvider(env_file).status(plan)
            out = {"source": source, "ref": plan["keys"]["ref"], "key_file": local.key_file,
                   "plan_version": local.plan_version, "key_version": local.key_version,
                   "state": local.state, "message": local.message}
            where = f"dev key ({local.key_file}) version {_or_dash(local.key_version)}"
    except SeedcError as exc:
        if as_json:
            click.echo(json.dumps({
                "source": source, "plan": str(plan_path),
                "ref": plan["keys"]["ref"] if plan else None,
                "state": "refused" if isinstance(exc, GuardRefused) else "invalid",
                "message": redact_text(exc.message), "rule": exc.rule}, indent=2,
                sort_keys=True))
        raise
    if as_json:
        click.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        click.echo(f"{out['ref']}: plan salt_version {out['plan_version']}, {where}: "
                   f"{out['state']}")
    if out["state"] == "missing" and source == "local-dev":
        raise GuardRefused(str(out["message"]),
                           rule="dev-only local key: isolated dev only, never in CI (session 1)")
    if out["state"] != "ok":
        raise GuardRefused(str(out["message"]) + (
            "; coordinated reseed: recompile with the new salt_version, `seedc reset PLAN "
            "--yes`, then `seedc apply`" if out["state"] == "rotated" else ""),
            rule="key version equals salt_version (sessions 1, 6)")


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


@cli.group("evidence")
def evidence_group() -> None:
    """Signed run reports in WORM storage."""


@evidence_group.command("verify")
@click.argument("report_ref", metavar="REPORT", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict, both digests and any problems as JSON.")
@_env_file_option("Dev-only signing key (when Vault is not configured).")
@click.option("--chain", is_flag=True, help="Walk the environment's whole chain instead "
              "(issue 14); exit 1 at the first broken link.")
@click.option("--environment", help="With --chain: the environment whose chain to walk.")
@click.option("--evidence", "evidence_uri", metavar="URI",
              help="With --chain: the store (default $SEEDC_EVIDENCE_URI).")
@click.option("--dsn", help="With --chain: also check the index's chain head.")
def evidence_verify_cmd(report_ref: str | None, as_json: bool, env_file: Path, chain: bool,
                        environment: str | None, evidence_uri: str | None,
                        dsn: str | None) -> None:
    """Check a run report's digest and signature; exit 1 on any tampering.

    REPORT is the evidence URI `seedc runs` prints (file://… or s3://bucket/key, read with
    boto3's settings such as AWS_ENDPOINT_URL) or a plain path. Two digests, never confused:
    the report sha256 is the envelope's digest of the signed report; the file sha256 is of
    the stored bytes (what seedc.evidence indexes and the next report chains).

    \b
    Examples:
      seedc evidence verify s3://evidence/runs/20250101T000000Z-acme-1a2b….json
      seedc evidence verify .seedc/evidence/20250101T000000Z-acme-1a2b….json --json
      seedc evidence verify --chain --environment homolog --evidence s3://evidence/homolog
    """
    if chain:
        from seedc.cli_lifecycle import verify_chain

        if report_ref or not environment:
            raise click.UsageError("--chain takes --environment and no REPORT")
        verify_chain(environment, evidence_uri, dsn, env_file, as_json)
        return
    if report_ref is None:
        raise click.UsageError("give a REPORT, or --chain --environment E")
    from seedc.errors import DriftFound
    from seedc.runtime.evidence import LocalDevSigner, VaultTransitSigner, verify_envelope
    from seedc.runtime.evidence.fetch import fetch_evidence

    fetched = fetch_evidence(report_ref)
    try:
        envelope = json.loads(fetched.data)
        environment = envelope["report"]["environment"]
        algorithm = envelope["signature"]["alg"]
        run_id = envelope["report"].get("run_id")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"{report_ref}: not a seedc evidence report ({exc})") from None
    signer: object
    if os.environ.get("VAULT_ADDR"):
        from seedc.runtime.evidence import transit_key_name
        from seedc.runtime.keys.vault import VaultKeyProvider

        client = VaultKeyProvider.from_environment().authenticated_client()
        signer = VaultTransitSigner(client, transit_key_name(environment))
    else:
        signer = LocalDevSigner.from_env_file(env_file)
    problems = verify_envelope(fetched.data, signer)
    if as_json:
        click.echo(json.dumps({
            "evidence": report_ref, "valid": not problems, "run_id": run_id,
            "signature_alg": algorithm, "report_sha256": envelope.get("sha256"),
            "file_sha256": fetched.file_sha256, "problems": problems},
            indent=2, sort_keys=True))
    if problems:
        raise DriftFound(f"{report_ref}: evidence does NOT verify", details=problems)
    if not as_json:
        click.echo(f"{report_ref}: valid ({algorithm} signature, report sha256 "
                   f"{envelope['sha256']}, file sha256 {fetched.file_sha256})")


def _runs_dsn(dsn: str | None) -> str:
    """As `_dsn`, except that a stopped embedded server is said, not started (issue 11):
    listing runs must not bring a database up behind the user's back."""
    if dsn or any(os.environ.get(v) for v in _LIBPQ_SERVER_VARS if v != "PGPORT"):
        return _dsn(dsn)
    from seedc.devtools.demo import embedded_apply_dsn
    from seedc.devtools.project import find_project_root

    root = find_project_root()
    embedded = embedded_apply_dsn(root / ".seedc") if root is not None else None
    if embedded is None:
        return _dsn(dsn)  # says how to get a database (exit 2)
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        psycopg.connect(embedded, connect_timeout=3).close()
    except psycopg.OperationalError:
        from seedc.errors import GuardRefused

        raise GuardRefused("the embedded server is stopped: `seedc demo` starts it (or pass "
                           "--dsn)", rule="read-only commands never start a server (issue 11)"
                           ) from None
    from seedc.devtools.embedded import ensure_embedded_server

    # the demo's own server, running: read as its admin so `runs show` has the audit trail
    # (the apply role may only append to seedc.audit); reused as is, never started here
    admin = ensure_embedded_server(root / ".seedc") if root is not None else embedded
    return make_conninfo(admin, dbname=conninfo_to_dict(embedded).get("dbname"))


@cli.group("runs", invoke_without_command=True)
@click.option("--dsn", help="Database holding the seedc schema (default as for apply, but a "
                            "stopped embedded server is not started).")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.pass_context
def runs_group(ctx: click.Context, dsn: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first: status, rows, plan hash, evidence URI.

    A dry run shows as `dry-run` with ~N (rows it would write); a reset as `reset` with -N
    (rows deleted; listed when the role may read seedc.audit). The evidence URI is the one
    `seedc evidence verify` takes.

    \b
    Examples:
      seedc runs --limit 5
      seedc runs --dsn postgresql://seedc_apply@db/app --json
    """
    ctx.ensure_object(dict)
    ctx.obj["dsn"] = dsn
    if ctx.invoked_subcommand is not None:
        return
    from seedc.runtime.abandoned import mark_abandoned
    from seedc.runtime.db import connect
    from seedc.runtime.runs_view import list_runs, render_list

    with connect(_runs_dsn(dsn), autocommit=True) as conn:
        mark_abandoned(conn)  # expired `running` rows become `abandoned` (issue 10 item 4)
        rows = list_runs(conn, limit)
    if as_json:
        keys = ("run_id", "started_at", "finished_at", "tenant", "environment", "mode",
                "dry_run", "status", "shown_status", "rows_written", "would_write",
                "plan_hash", "evidence_uri", "evidence_status", "evidence_file_sha256")
        click.echo(json.dumps([{k: r.get(k) for k in keys} | (
            {"rows_deleted": r["rows_deleted"]} if r["status"] == "reset" else {})
            for r in rows], indent=2, default=str))
        return
    click.echo(render_list(rows))


@runs_group.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its audit trail as JSON.")
@click.pass_context
def runs_show_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """One run: its row, evidence and audit trail (time, event, rule, short detail).

    RUN_ID may be any unique prefix of the id (as in git); an ambiguous prefix exits 2 and
    lists the candidates. The audit trail needs a role that may read seedc.audit (the apply
    role may only append to it): pass an admin --dsn to `seedc runs`.

    \b
    Examples:
      seedc runs show 1a2b3c4d
      seedc runs --dsn postgresql://postgres@db/app show 1a2b --json
    """
    from seedc.runtime.db import connect
    from seedc.runtime.runs_view import audit_readable, audit_trail, find_run, render_show

    with connect(_runs_dsn(ctx.obj.get("dsn")), autocommit=True) as conn:
        run = find_run(conn, run_id)
        trail = audit_trail(conn, run["run_id"]) if audit_readable(conn) else None
        role = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    if as_json:
        out = {k: v for k, v in run.items() if not k.startswith("evidence_")}
        out["evidence"] = None if not run["evidence_uri"] else {
            "uri": run["evidence_uri"], "status": run["evidence_status"],
            "file_sha256": run["evidence_file_sha256"],
            "version_id": run["evidence_version_id"],
            "retain_until": run["evidence_retain_until"]}
        out["audit"] = trail
        click.echo(json.dumps(out, indent=2, default=str, sort_keys=True))
        return
    click.echo(render_show(run, trail, role))


@runs_group.command("plan")
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the plan here instead of standard output.")
@click.pass_context
def runs_plan_cmd(ctx: click.Context, run_id: str, output: Path | None) -> None:
    """The exact plan a run applied, from the database (no repository needed).

    Every applied plan is kept in seedc.plans, compressed and keyed by its hash; what is
    printed is verified (format, hash) like any plan file, so it can be diffed, applied or
    archived as it is. Exit 2 when the run is unknown or its plan was not stored.

    \b
    Examples:
      seedc runs plan 1a2b3c4d -o applied.plan.json
      seedc runs plan 1a2b3c4d | seedc diff /dev/stdin plans/dev/acme.plan.json
    """
    from seedc.plan.canonical import pretty_bytes
    from seedc.program.evaluate import tenant_uuid
    from seedc.runtime.db import connect, set_tenant
    from seedc.runtime.plan_store import load_plan
    from seedc.runtime.runs_view import find_run

    with connect(_runs_dsn(ctx.obj.get("dsn")), autocommit=True) as conn:
        run = find_run(conn, run_id)
        tenant_id = tenant_uuid(run["environment"], run["tenant"])
        set_tenant(conn, tenant_id, local=False)  # seedc.plans is under RLS, like checkpoints
        plan = load_plan(conn, tenant_id, run["environment"], str(run["plan_hash"]))
    if plan is None:
        raise InvalidInput(f"run {run['run_id']}: its plan {run['plan_hash']} is not stored in "
                           "this database (applied before plans were stored)",
                           rule="runs.run-id")
    data = pretty_bytes(plan)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output} ({plan['plan_hash']})")


@cli.group("finance")
def finance_group() -> None:
    """Exact loan finance: schedules, IOF and CET."""


def _register_finance() -> None:
    from seedc.finance.commands import quote

    finance_group.add_command(quote, "quote")


_register_finance()

from seedc.cli_model import model_group  # noqa: E402  (issue 16: bring your own schema)

cli.add_command(model_group)


# issue 14 (lifecycle): TTL purge, post-deploy verification, unsent evidence
from seedc.cli_lifecycle import (  # noqa: E402  (registered after the groups exist)
    evidence_flush_cmd,
    purge_cmd,
    verify_cmd,
)

cli.add_command(purge_cmd)
cli.add_command(verify_cmd)
evidence_group.add_command(evidence_flush_cmd)
def _register_breakglass() -> None:
    from seedc.cli_breakglass import breakglass_group

    cli.add_command(breakglass_group)


_register_breakglass()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="seedc")


if __name__ == "__main__":
    main()
