"""Lifecycle commands (issue 14): `seedc purge --expired`, `seedc verify`, `seedc evidence flush`.

Registered on the root group at the end of seedc/cli.py; errors reach `SeedcGroup.invoke`,
the one place exit codes are mapped. A purge over several tenants reports each tenant, then
exits with the worst outcome (3 refused, 4 failed), so the cron job fails visibly.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from seedc.errors import InvalidInput
from seedc.runtime.evidence.store import WORM_REQUIRED

__all__ = ["purge_cmd"]


def _reference_now(value: str | None, environment: str) -> datetime | None:
    """The hidden `--now` (tests' reference clock): ISO 8601 UTC; refused in homolog/prod."""
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
    from seedc.runtime.ttl_purge import PurgeOptions, purge_expired

    if not expired:
        raise click.UsageError("purge needs --expired (to delete one tenant's dataset now, "
                               "use `seedc reset PLAN`)")
    options = PurgeOptions(dry_run=dry_run, now=_reference_now(now_text, environment),
                           lease=_lease_options(lease_wait, queue_ttl),
                           evidence_uri=evidence_uri, env_file=env_file)
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
