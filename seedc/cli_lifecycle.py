"""Lifecycle commands (issue 14): purge --expired, verify, evidence flush, verify --chain.

Registered on the root group at the end of seedc/cli.py; errors reach `SeedcGroup.invoke`,
the one place exit codes are mapped. A purge over several tenants reports each tenant, then
exits with the worst outcome (3 refused, 4 failed), so the cron job fails visibly.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from seedc.errors import InvalidInput

if TYPE_CHECKING:
    from seedc.runtime.apply import EvidenceSink as EvidenceSinkT

__all__ = ["evidence_flush_cmd", "purge_cmd", "verify_chain", "verify_cmd"]


def _reference_now(value: str | None, environment: str) -> datetime | None:
    """The hidden `--now` (tests' reference clock): ISO 8601 UTC; refused in homolog/prod."""
    from seedc.runtime.evidence.store import WORM_REQUIRED

    if value is None:
        return None
    if environment in WORM_REQUIRED:
        raise InvalidInput(f"--now is a test clock; it is refused in {environment!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--now {value!r}: expected ISO 8601 UTC, e.g. "
                           "2026-01-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"--now {value!r}: needs a timezone (Z)")
    return moment.astimezone(UTC)


@click.command("purge")
@click.option("--expired", is_flag=True, help="Purge load/DR datasets whose TTL has elapsed.")
@click.option("--dsn", help="Target database (the apply role).")
@click.option("--environment", required=True, help="The environment to purge (dev, ci, …).")
@click.option("--dry-run", is_flag=True, help="Same path, deletes rolled back, no evidence.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--evidence", "evidence_uri", metavar="URI",
              help="WORM store for each purge's signed report (default $SEEDC_EVIDENCE_URI).")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env.local"),
              show_default=True, help="Dev-only signing key file (isolated dev only).")
@click.option("--lease-wait", type=float, default=60.0, show_default=True,
              help="Seconds to wait for a run of the same tenant to finish.")
@click.option("--queue-ttl", type=float, default=300.0, show_default=True,
              help="Seconds to wait for a cluster slot (session 16).")
@click.option("--now", "now_text", hidden=True, help="Reference clock for tests (not prod).")
def purge_cmd(expired: bool, dsn: str | None, environment: str, dry_run: bool, as_json: bool,
              evidence_uri: str | None, env_file: Path, lease_wait: float, queue_ttl: float,
              now_text: str | None) -> None:
    """Delete every load/DR dataset whose TTL has elapsed, tenant by tenant (audited, with
    signed evidence); checkpoints older than 30 days go too. Baseline is never purged.

    \b
    Examples:
      seedc purge --expired --dsn "$SEEDC_DSN" --environment staging --json
      seedc purge --expired --environment dev --dry-run
    """
    from seedc.cli import _dsn, _lease_options
    from seedc.runtime.keys import key_provider_for
    from seedc.runtime.ttl_purge import PurgeOptions, purge_expired

    if not expired:
        raise click.UsageError("purge needs --expired (to delete one tenant's dataset now, "
                               "use `seedc reset PLAN`)")
    options = PurgeOptions(dry_run=dry_run, now=_reference_now(now_text, environment),
                           lease=_lease_options(lease_wait, queue_ttl),
                           evidence_uri=evidence_uri, env_file=env_file,
                           keys=key_provider_for(env_file))
    summary = purge_expired(_dsn(dsn), environment, options)
    if as_json:
        click.echo(json.dumps(summary.as_json(), indent=2, sort_keys=True))
    else:
        if not summary.datasets:
            click.echo(f"{environment}: no expired load/DR dataset")
        for o in summary.datasets:
            click.echo(f"{o.tenant} ({o.mode}, expired {o.expires_at:%Y-%m-%dT%H:%MZ}): "
                       f"{o.status}: {o.message}")
        for tenant, count in summary.checkpoints_removed.items():
            verb = "would remove" if dry_run else "removed"
            click.echo(f"{tenant}: {verb} {count} checkpoint(s) older than 30 days")
    for o in summary.datasets:
        if o.exit_code:
            click.echo(f"seedc: purge of {o.tenant} {o.status}: {o.message}", err=True)
    sys.exit(summary.exit_code)


@click.command("verify")
@click.argument("plan_path", type=click.Path(path_type=Path))
@click.option("--dsn", help="Target database (a least-privilege role; nothing is written).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable verdict on stdout.")
def verify_cmd(plan_path: Path, dsn: str | None, as_json: bool) -> None:
    """Read-only: does the database hold exactly what PLAN put there? Exit 0 equal, 1 drift,
    3 refused (role bypassing RLS, missing tables). Run by the Argo CD PostSync hook.

    \b
    Examples:
      seedc verify plans/staging/acme-load.plan.json --dsn "$SEEDC_DSN"
      seedc verify plans/dev/acme.plan.json --json
    """
    from seedc.cli import _dsn
    from seedc.errors import DriftFound
    from seedc.plan.format import read_plan
    from seedc.runtime.verify import verify_plan

    plan = read_plan(plan_path)
    result = verify_plan(plan, _dsn(dsn))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, sort_keys=True))
    if not result.equal:
        raise DriftFound(f"{plan['tenant']} in {plan['environment']!r} differs from plan "
                         f"{plan['plan_hash'][:19]}…", details=result.problems)
    if not as_json:
        click.echo(f"{plan['tenant']} in {plan['environment']!r}: equal to the plan "
                   f"({result.checkpointed} batches checkpointed, rows match)")


def _sink(evidence_uri: str | None, environment: str, env_file: Path) -> EvidenceSinkT:
    from seedc.runtime.apply import evidence_factory

    factory = evidence_factory(evidence_uri, {"environment": environment,
                                              "guards": {"isolated_dev": False}}, env_file)
    if factory is None:
        raise InvalidInput("no evidence store configured: pass --evidence or set "
                           "SEEDC_EVIDENCE_URI (s3://bucket/prefix or file://path)")
    return factory()


@click.command("flush")
@click.option("--environment", required=True, help="Send the waiting reports of this "
              "environment (the store is the environment's).")
@click.option("--evidence", "evidence_uri", metavar="URI",
              help="The WORM store (default $SEEDC_EVIDENCE_URI).")
@click.option("--dsn", help="Database holding the seedc.evidence index.")
@click.option("--folder", type=click.Path(path_type=Path),
              default=Path(".seedc") / "evidence-unsent", show_default=True,
              help="Where unsent reports wait.")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path(".env.local"),
              show_default=True, help="Dev-only signing key file (when Vault is not set).")
@click.option("--json", "as_json", is_flag=True, help="One outcome per report, as JSON.")
def evidence_flush_cmd(environment: str, evidence_uri: str | None, dsn: str | None,
                       folder: Path, env_file: Path, as_json: bool) -> None:
    """Re-send reports kept in .seedc/evidence-unsent/ to the store, chained in order, and
    mark their index rows stored; exit 4 if any could not be sent (it stays waiting).

    \b
    Examples:
      seedc evidence flush --environment homolog --dsn "$SEEDC_DSN"
      seedc evidence flush --environment dev --evidence file://.seedc/evidence --json
    """
    from seedc.cli import _dsn
    from seedc.errors import RuntimeFailure
    from seedc.runtime.db import connect
    from seedc.runtime.evidence.flush import flush_unsent

    sink = _sink(evidence_uri, environment, env_file)
    sink.store.check_writable()
    sink.signer.check()
    with connect(_dsn(dsn), autocommit=True, application="seedc-flush") as conn:
        results = flush_unsent(sink.store, sink.signer, conn, environment, folder)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in results], indent=2, sort_keys=True))
    else:
        for r in results:
            click.echo(f"{r.name}: {r.status}" + (f" ({r.uri})" if r.uri else "")
                       + (f": {r.message}" if r.message else ""))
        if not results:
            click.echo(f"nothing waiting in {folder}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RuntimeFailure(f"{len(failed)} report(s) could not be sent; they stay in "
                             f"{folder}", details=[f"{r.name}: {r.message}" for r in failed])


def verify_chain(environment: str, evidence_uri: str | None, dsn: str | None,
                 env_file: Path, as_json: bool) -> None:
    """`seedc evidence verify --chain`: walk the environment's chain; exit 1 at the first
    broken link (DriftFound), naming it."""
    import psycopg

    from seedc.errors import DriftFound
    from seedc.runtime.evidence.chain import walk_chain

    sink = _sink(evidence_uri, environment, env_file)
    head = None
    if dsn:
        from seedc.cli import _checked_dsn

        with psycopg.connect(_checked_dsn(dsn), autocommit=True) as conn:
            row = conn.execute("SELECT head_sha256 FROM seedc.evidence_chain WHERE "
                               "environment = %s", (environment,)).fetchone()
            head = str(row[0]) if row else None
    walk = walk_chain(sink.store.entries(), sink.signer, head)
    if as_json:
        click.echo(json.dumps({"environment": environment, **walk.as_json()}, indent=2,
                              sort_keys=True))
    if walk.broken_at is not None:
        raise DriftFound(f"the evidence chain of {environment!r} is broken at "
                         f"{walk.broken_at} (after {walk.links} intact link(s))",
                         details=walk.problems)
    if not as_json:
        click.echo(f"{environment}: evidence chain intact ({walk.links} link(s))")
