"""Who may run a plan (issue 15, spec session 5): a pipeline, or an approved breakglass.

Outside an isolated dev environment, `apply` (dry runs included), `reset` and `purge` need a
*pipeline identity* that is checked, not declared by an environment variable:

* the Vault token seedc uses must come from a machine auth method — AppRole or Kubernetes —
  as Vault itself says in the token's own lookup (`auth/token/lookup-self`: its `path`, e.g.
  `auth/approle/login`, and its metadata: `role_name`, or the service account); a human method
  (userpass, OIDC, LDAP…) or a root/dev token is refused;
* the database role of the session (`session_user`, the login role: `SET ROLE` cannot fake
  it) must be the plan's `guards.pipeline_role`, compiled from the manifest's
  `access.pipeline_role`; a plan without one is refused outside isolated dev (fail-closed).

A breakglass ticket (seedc/runtime/breakglass.py) replaces both checks for one run: then the
session's role must be the ticket's requester, and the ticket is spent.

Messages never carry the token, a user name or anything Vault's token metadata holds beyond
the machine identity (AppRole role name, Kubernetes namespace/service account).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hvac
import psycopg

from seedc.errors import GuardRefused
from seedc.runtime.breakglass import Ticket, spend_ticket
from seedc.runtime.preflight import CheckResult

__all__ = ["ACCESS_RULE", "Identity", "access_check", "is_isolated_dev",
           "require_pipeline_identity", "vault_machine_identity"]

ACCESS_RULE = "pipeline identity or approved breakglass outside isolated dev (session 5)"

_MACHINE_META = {"approle": ("role_name",), "kubernetes": ("service_account_namespace",
                                                           "service_account_name")}


@dataclass(frozen=True)
class Identity:
    """Who runs: `method` is isolated-dev, approle, kubernetes or breakglass."""

    method: str
    subject: str
    db_role: str
    ticket: Ticket | None = None

    def describe(self) -> str:
        if self.ticket is not None:
            t = self.ticket
            expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "-"
            spent = "" if t.used_at else " (not used: other checks refuse this run)"
            return (f"breakglass ticket {t.id} requested by {t.requested_by}, approved by "
                    f"{t.approved_by}, expires {expires}{spent}")
        if self.method == "isolated-dev":
            return f"isolated dev: database role {self.db_role}"
        return (f"pipeline identity: Vault {self.method} {self.subject}, "
                f"database role {self.db_role}")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "subject": self.subject,
                               "db_role": self.db_role}
        if self.ticket is not None:
            out["breakglass"] = self.ticket.as_json()
        return out


def is_isolated_dev(plan: dict[str, Any]) -> bool:
    return plan["environment"] == "dev" and bool(plan["guards"].get("isolated_dev"))


def session_role(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT session_user::text").fetchone()
    assert row is not None
    return str(row[0])


def _client_of(keys: Any) -> hvac.Client | None:
    """The Vault client behind a key provider (logged in), an hvac client as is, else None."""
    if keys is None:
        return None
    if isinstance(keys, hvac.Client):
        return keys
    authenticated = getattr(keys, "authenticated_client", None)
    if callable(authenticated):
        client = authenticated()
        return client if isinstance(client, hvac.Client) else None
    return None


def _machine_mounts(keys: Any) -> dict[str, str]:
    """Auth mount -> machine method; the default mounts plus the one seedc logs in with."""
    mounts = {"approle": "approle", "kubernetes": "kubernetes"}
    login = getattr(keys, "login", None)
    if login is not None:
        mounts[str(login.mount).strip("/")] = "approle" if login.method == "AppRole" \
            else "kubernetes"
    return mounts


def _human_method(path: str) -> str:
    if path.startswith("auth/token/"):
        return "a root/dev or hand-made token (auth/token)"
    parts = path.split("/")
    return f"auth method {parts[1]!r}" if len(parts) > 1 and parts[1] else "an unknown method"


def vault_machine_identity(client: hvac.Client, mounts: dict[str, str]) -> tuple[str, str]:
    """(method, subject) of the client's token per Vault's own lookup, else GuardRefused."""
    try:
        data = client.auth.token.lookup_self().get("data") or {}
    except Exception as exc:  # any failure is a refusal, never a pass
        reason = type(exc).__name__
        raise GuardRefused(f"Vault could not look up seedc's own token ({reason}): the "
                           "pipeline identity cannot be verified", rule=ACCESS_RULE) from None
    path = str(data.get("path") or "")
    policies = data.get("policies") or []
    meta = data.get("meta") or {}
    parts = path.split("/")
    method = mounts.get(parts[1]) if len(parts) >= 3 and parts[0] == "auth" \
        and parts[2] == "login" else None
    if "root" in policies:
        method = None
    if method is None:
        raise GuardRefused(
            f"the Vault token comes from {_human_method(path)}, not a machine login "
            "(AppRole or Kubernetes): manual runs outside isolated dev need an approved "
            "breakglass (`seedc breakglass request`)", rule=ACCESS_RULE)
    fields = _MACHINE_META[method]
    if not all(isinstance(meta.get(f), str) and meta.get(f) for f in fields):
        raise GuardRefused(f"the Vault token from auth/{parts[1]} carries no "
                           f"{' / '.join(fields)} metadata: not a verifiable {method} login",
                           rule=ACCESS_RULE)
    return method, "/".join(str(meta[f]) for f in fields)


def require_pipeline_identity(conn: psycopg.Connection, plan: dict[str, Any], keys: Any,
                              breakglass_id: str | None = None,
                              run_id: str | None = None, *, spend: bool = True) -> Identity:
    """The run's identity, or GuardRefused (exit 3) before any write.

    `conn` is the run's database connection (its session role is checked; a breakglass ticket
    is spent on it, autocommit or not); `keys` is the run's key provider (its Vault client is
    looked up) or an hvac client. `run_id` is recorded on a spent ticket; `spend=False`
    checks a ticket without using it up (for a run already refused by another check).
    """
    role = session_role(conn)
    if breakglass_id is not None:
        ticket = spend_ticket(conn, breakglass_id, plan, role, run_id, spend=spend)
        return Identity("breakglass", ticket.id, role, ticket)
    if is_isolated_dev(plan):
        return Identity("isolated-dev", "", role)
    where = f"environment {plan['environment']!r}"
    wanted = plan["guards"].get("pipeline_role")
    if not wanted:
        raise GuardRefused(
            f"the plan declares no pipeline role and {where} is not isolated dev: declare "
            "`access: {pipeline_role: ROLE}` in the manifest and recompile", rule=ACCESS_RULE)
    if role != wanted:
        raise GuardRefused(
            f"database role {role!r} is not the pipeline role {wanted!r} of {where}: runs "
            "outside isolated dev come from the pipeline, or through an approved breakglass",
            rule=ACCESS_RULE)
    client = _client_of(keys)
    if client is None:
        raise GuardRefused(
            f"{where} needs a pipeline identity: a Vault AppRole or Kubernetes login "
            "(VAULT_ADDR with VAULT_ROLE_ID/VAULT_SECRET_ID or VAULT_K8S_ROLE)", rule=ACCESS_RULE)
    method, subject = vault_machine_identity(client, _machine_mounts(keys))
    return Identity(method, subject, role)


def access_check(conn: psycopg.Connection, plan: dict[str, Any], keys: Any,
                 breakglass_id: str | None, run_id: str | None,
                 earlier: list[CheckResult] | None = None) -> CheckResult:
    """`require_pipeline_identity` as apply's preflight check `access` (audited, and in the
    evidence report: the detail names the identity, or the breakglass ticket and its roles).
    A ticket is spent only when none of the `earlier` checks failed."""
    spend = all(c.ok for c in earlier or [])
    try:
        identity = require_pipeline_identity(conn, plan, keys, breakglass_id, run_id,
                                             spend=spend)
    except GuardRefused as exc:
        return CheckResult("access", exc.rule or ACCESS_RULE, False, exc.message)
    return CheckResult("access", ACCESS_RULE, True, identity.describe())
