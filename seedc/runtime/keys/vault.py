"""The Vault (or OpenBao) key provider: a tenant's FPE key, per environment, versioned.

Storage convention (seeds sessions 1, 3, 6)
-------------------------------------------
* The key named by a plan's `keys.ref` (e.g. `seedc/ci/acme/fpe`) lives in a KV version 2
  secrets engine, mounted at `$SEEDC_VAULT_KV_MOUNT` (default `secret`): the API path of its
  data is `<mount>/data/<keys.ref>`, of its metadata `<mount>/metadata/<keys.ref>`.
* The secret's data is `{"key": "<hex of 16, 24 or 32 bytes>"}` and nothing else is read.
* The key's version *is* the KV v2 secret version. A plan's `keys.salt_version` must equal the
  secret's `current_version` (metadata); that version must be neither deleted nor destroyed.
* Rotating is writing a new version (`vault kv put <mount>/<ref> key=<hex>`).
  Every plan compiled with the old salt_version is then refused until it is recompiled with the
  new one and the tenant reseeded (`seedc reset`, apply): a coordinated reseed.
* The ref must name the plan's environment and tenant as whole path segments (`seedc/ci/acme/fpe`
  for environment `ci`, tenant `acme`), so one environment's plan can never read another's key;
  `.`/`..` and empty segments are refused.

What `fetch` guarantees
-----------------------
Each call goes to Vault (nothing is cached in memory or on disk, no key is ever made up), and
either returns the exact version the plan names or raises `GuardRefused` (exit 3) before the
first write: key missing, version mismatch, version deleted/destroyed, malformed key, access
denied, login refused, Vault unreachable or timed out. The messages name the ref and Vault's
address (without userinfo), never the token, secret ID, JWT or key; refusals are raised outside
any `except` block, so no chained exception carries a response body either. Every request has
a short timeout (5 s) and one call never spends more than ~10 s in total; nothing is retried.
Redirects are not followed (the token travels in a header, which a redirect would forward).

Configuration (`VaultKeyProvider.from_environment`), as the Vault CLI reads it
-----------------------------------------------------------------------------
`VAULT_ADDR`; `VAULT_TOKEN`, else the file `~/.vault-token` (what `vault login` writes);
`VAULT_NAMESPACE`; TLS: `VAULT_CACERT` (wins over) `VAULT_CAPATH`, `VAULT_CLIENT_CERT` +
`VAULT_CLIENT_KEY`, `VAULT_SKIP_VERIFY`, `VAULT_TLS_SERVER_NAME` (SNI and the name checked in the
certificate). Short-lived tokens by logging in at each fetch, in this order of precedence:
AppRole (`VAULT_ROLE_ID`, `VAULT_SECRET_ID`, mount `VAULT_APPROLE_MOUNT`, default `approle`),
Kubernetes (`VAULT_K8S_ROLE`, the service account JWT read at each login from
`VAULT_K8S_TOKEN_PATH`, default `/var/run/secrets/kubernetes.io/serviceaccount/token`, mount
`VAULT_K8S_MOUNT`, default `kubernetes`), then the token. The HTTP(S)_PROXY variables apply as
for the CLI, except to loopback addresses.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import hvac
import hvac.exceptions
import requests
import requests.adapters

from seedc.errors import GuardRefused
from seedc.runtime.keys import KeyMaterial

__all__ = [
    "DEFAULT_K8S_TOKEN_PATH",
    "RULE_KEY",
    "RULE_VERSION",
    "AppRoleLogin",
    "KeyStatus",
    "KubernetesLogin",
    "VaultKeyProvider",
]

RULE_KEY = ("the plan's key comes from Vault, checked before the first write; no cached or "
            "ephemeral key (sessions 1, 3, 6)")
RULE_VERSION = "key version equals salt_version (session 6)"
DEFAULT_K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105
KEY_LENGTHS = (16, 24, 32)
#: Seconds for one HTTP request to Vault, and for everything one fetch/status does.
REQUEST_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0

KeyState = Literal["ok", "rotated", "missing", "ahead"]


@dataclass(frozen=True)
class KeyStatus:
    """Where a plan's key stands in Vault (`seedc`'s preflight and status views).

    state: `ok` (Vault's current version is the plan's), `rotated` (Vault has moved past the
    plan: recompile and reseed), `ahead` (the plan names a version Vault does not have yet),
    `missing` (no such secret, or its current version is deleted or destroyed).
    """

    ref: str
    plan_version: int
    vault_version: int | None
    state: KeyState
    message: str


# --- logins ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppRoleLogin:
    """AppRole login (`auth/<mount>/login`); the secret ID never shows in a repr."""

    role_id: str
    secret_id: str | None = field(default=None, repr=False)
    mount: str = "approle"
    method: str = field(default="AppRole", init=False)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"role_id": self.role_id}
        if self.secret_id:
            body["secret_id"] = self.secret_id
        return body


@dataclass(frozen=True)
class KubernetesLogin:
    """Kubernetes login; the service account JWT is read from `token_path` at every login
    (projected tokens are rotated by the kubelet)."""

    role: str
    token_path: Path = Path(DEFAULT_K8S_TOKEN_PATH)
    mount: str = "kubernetes"
    method: str = field(default="Kubernetes", init=False)

    def payload(self) -> dict[str, Any]:
        jwt = self.token_path.read_text(encoding="utf-8").strip()
        if not jwt:
            raise OSError("empty file")
        return {"role": self.role, "jwt": jwt}


Login = AppRoleLogin | KubernetesLogin


# --- HTTP plumbing ---------------------------------------------------------------------------


class _ServerNameAdapter(requests.adapters.HTTPAdapter):
    """HTTPS with a fixed TLS server name (`VAULT_TLS_SERVER_NAME`): sent as SNI and the name
    the server's certificate is checked against, whatever host `VAULT_ADDR` names."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        pool_kwargs["server_hostname"] = self._server_name
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_bool(name: str, value: str) -> bool:
    """Go's strconv.ParseBool, which the Vault CLI uses for VAULT_SKIP_VERIFY."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise GuardRefused(f"{name} must be true or false (got {value!r})", rule=RULE_KEY)


def _public_addr(url: str) -> str:
    """Vault's address as messages show it: no userinfo, no path, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def _api_path(mount: str, kind: str, ref: str) -> str:
    return f"/v1/{quote(mount.strip('/'), safe='/')}/{kind}/{quote(ref, safe='/')}"


def _check_ref(plan: dict[str, Any]) -> tuple[str, int]:
    """The plan's ref and salt_version, refused unless well-formed and per environment/tenant."""
    keys = plan.get("keys") or {}
    ref, version = keys.get("ref"), keys.get("salt_version")
    if not isinstance(ref, str) or not ref:
        raise GuardRefused("the plan names no key (keys.ref)", rule=RULE_KEY)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GuardRefused(f"the plan's keys.salt_version must be a positive integer "
                           f"(key {ref})", rule=RULE_VERSION)
    segments = ref.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise GuardRefused(f"key ref {ref!r} must be a plain path: no leading, trailing or "
                           "double '/', no '.' or '..' segments", rule=RULE_KEY)
    env, tenant = str(plan.get("environment", "")), str(plan.get("tenant", ""))
    if env not in segments or tenant not in segments:
        raise GuardRefused(
            f"key ref {ref!r} must name the plan's environment {env!r} and tenant {tenant!r} as "
            f"path segments (e.g. seedc/{env}/{tenant}/fpe): keys live in Vault per "
            "environment and tenant", rule=RULE_KEY)
    return ref, version


# --- the provider ----------------------------------------------------------------------------


class _Refusal(Exception):
    """Internal: a refusal decided inside an `except` block, raised as GuardRefused outside it
    (so the GuardRefused has no chained hvac/requests exception)."""

    def __init__(self, message: str, rule: str = RULE_KEY) -> None:
        super().__init__(message)
        self.message, self.rule = message, rule


class _NotFound(Exception):
    """Internal: Vault answered 404."""


class VaultKeyProvider:
    """Keys from a KV v2 engine (see the module docstring for the convention).

    `client` is an hvac client (its URL, token, namespace and TLS settings are used as they
    are); `login`, when given, logs in at every fetch/status and replaces the client's token.
    """

    def __init__(self, client: hvac.Client, *, mount: str = "secret",
                 login: Login | None = None, request_timeout: float = REQUEST_TIMEOUT,
                 total_timeout: float = TOTAL_TIMEOUT) -> None:
        self.client = client
        self.mount = mount.strip("/") or "secret"
        self.login = login
        self.request_timeout = request_timeout
        self.total_timeout = total_timeout
        self.addr = _public_addr(str(client.url))
        self._deadline = 0.0

    def authenticated_client(self) -> hvac.Client:
        """The client, logged in (AppRole/Kubernetes), for other Vault uses such as Transit."""
        self._deadline = time.monotonic() + self.total_timeout
        try:
            self._authenticate()
        except _Refusal as exc:
            raise GuardRefused(exc.message, rule=exc.rule) from None
        return self.client

    def __repr__(self) -> str:
        auth = self.login.method if self.login else "token"
        namespace = getattr(self.client.adapter, "namespace", None)
        return (f"VaultKeyProvider(addr={self.addr!r}, mount={self.mount!r}, auth={auth!r}, "
                f"namespace={namespace!r})")

    # -- construction from the environment --------------------------------------------------

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> VaultKeyProvider:
        """A provider configured like the Vault CLI (see the module docstring). No request is
        made here: logins happen at fetch time, so a short-lived token is always fresh."""
        env = dict(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        addr = get("VAULT_ADDR")
        if addr is None:
            raise GuardRefused("VAULT_ADDR is not set: seedc needs Vault for this environment's "
                               "key", rule=RULE_KEY)
        parts = urlsplit(addr)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GuardRefused(f"VAULT_ADDR must be an http(s) URL (got "
                               f"{_public_addr(addr)!r})", rule=RULE_KEY)

        session = requests.Session()
        session.trust_env = not _is_loopback(addr)  # proxies from the env, never for loopback
        verify: bool | str = True
        if get("VAULT_CAPATH"):
            verify = str(get("VAULT_CAPATH"))
        if get("VAULT_CACERT"):
            verify = str(get("VAULT_CACERT"))
        skip = get("VAULT_SKIP_VERIFY")
        if skip is not None and _parse_bool("VAULT_SKIP_VERIFY", skip):
            verify = False
        cert: tuple[str, str] | str | None = None
        client_cert, client_key = get("VAULT_CLIENT_CERT"), get("VAULT_CLIENT_KEY")
        if client_cert and client_key:
            cert = (client_cert, client_key)
        elif client_cert:
            cert = client_cert
        elif client_key:
            raise GuardRefused("VAULT_CLIENT_KEY is set without VAULT_CLIENT_CERT",
                               rule=RULE_KEY)
        session.verify = verify
        session.cert = cert
        server_name = get("VAULT_TLS_SERVER_NAME")
        if server_name:
            session.mount("https://", _ServerNameAdapter(server_name))

        login: Login | None = None
        if get("VAULT_ROLE_ID"):
            login = AppRoleLogin(str(get("VAULT_ROLE_ID")), get("VAULT_SECRET_ID"),
                                 get("VAULT_APPROLE_MOUNT") or "approle")
        elif get("VAULT_K8S_ROLE"):
            login = KubernetesLogin(str(get("VAULT_K8S_ROLE")),
                                    Path(get("VAULT_K8S_TOKEN_PATH") or DEFAULT_K8S_TOKEN_PATH),
                                    get("VAULT_K8S_MOUNT") or "kubernetes")
        token = get("VAULT_TOKEN")
        if token is None and login is None:
            token = _token_file(env)

        # token "" (not None): hvac would otherwise read VAULT_TOKEN/~/.vault-token itself
        client = hvac.Client(url=addr, token=token or "", verify=verify, cert=cert,
                             timeout=REQUEST_TIMEOUT, session=session,
                             namespace=get("VAULT_NAMESPACE"), allow_redirects=False)
        return cls(client, mount=get("SEEDC_VAULT_KV_MOUNT") or "secret", login=login)

    # -- the KeyProvider protocol ------------------------------------------------------------

    def fetch(self, plan: dict[str, Any]) -> KeyMaterial:
        """The key at the plan's salt_version, read from Vault now, or GuardRefused."""
        ref, wanted = _check_ref(plan)
        current, versions = self._metadata(ref)
        if current is None:
            raise GuardRefused(f"key missing at {ref} (no secret in Vault at {self.addr}, "
                               f"KV v2 mount {self.mount!r}); put the key there first",
                               rule=RULE_KEY)
        if current != wanted:
            raise GuardRefused(_mismatch(wanted, current), rule=RULE_VERSION)
        gone = _gone(versions, current)
        if gone:
            raise GuardRefused(f"key {ref} version {current} is {gone} in Vault; restore it or "
                               "rotate (new version, recompile, `seedc reset`, apply)",
                               rule=RULE_KEY)
        key = self._read_version(ref, current)
        return KeyMaterial(version=current, source=f"vault:{ref}@v{current}", key=key)

    def status(self, plan: dict[str, Any]) -> KeyStatus:
        """Where the plan's key stands (no key bytes are read); GuardRefused when Vault cannot
        say (unreachable, access denied, login refused)."""
        ref, wanted = _check_ref(plan)
        current, versions = self._metadata(ref)
        if current is None:
            return KeyStatus(ref, wanted, None, "missing", f"key missing at {ref}")
        gone = _gone(versions, current)
        if current == wanted and not gone:
            return KeyStatus(ref, wanted, current, "ok", f"key {ref} is at version {current}")
        if current == wanted:
            return KeyStatus(ref, wanted, current, "missing",
                             f"key {ref} version {current} is {gone}")
        state: KeyState = "rotated" if current > wanted else "ahead"
        return KeyStatus(ref, wanted, current, state, _mismatch(wanted, current))

    # -- requests ----------------------------------------------------------------------------

    def _metadata(self, ref: str) -> tuple[int | None, dict[str, Any]]:
        """(current_version, versions) of the secret, (None, {}) when there is none."""
        self._deadline = time.monotonic() + self.total_timeout
        self._authenticate()
        try:
            body = self._get(_api_path(self.mount, "metadata", ref), ref)
        except _NotFound:
            return None, {}
        data = body.get("data") if isinstance(body, dict) else None
        current = data.get("current_version") if isinstance(data, dict) else None
        if not isinstance(current, int) or isinstance(current, bool):
            raise GuardRefused(f"Vault at {self.addr} answered unexpectedly for {ref}'s metadata "
                               f"(is {self.mount!r} a KV version 2 mount?)", rule=RULE_KEY)
        if current == 0:
            return None, {}
        versions = data.get("versions") if isinstance(data, dict) else None
        return current, versions if isinstance(versions, dict) else {}

    def _read_version(self, ref: str, version: int) -> bytes:
        body: dict[str, Any] | None = None
        with contextlib.suppress(_NotFound):
            body = self._get(_api_path(self.mount, "data", ref), ref, params={"version": version})
        if body is None:
            raise GuardRefused(f"key {ref} version {version} is deleted or destroyed in Vault",
                               rule=RULE_KEY)
        data = body.get("data") if isinstance(body, dict) else None
        meta = data.get("metadata") if isinstance(data, dict) else None
        secret = data.get("data") if isinstance(data, dict) else None
        if not isinstance(meta, dict) or meta.get("version") != version:
            raise GuardRefused(f"Vault at {self.addr} answered with another version of {ref} "
                               f"than the {version} asked for", rule=RULE_VERSION)
        if not isinstance(secret, dict):
            raise GuardRefused(f"key {ref} version {version} is deleted or destroyed in Vault",
                               rule=RULE_KEY)
        text = secret.get("key")
        key: bytes | None = None
        if isinstance(text, str):
            try:
                key = bytes.fromhex(text.strip())
            except ValueError:
                key = None
        if key is None or len(key) not in KEY_LENGTHS:
            # never echo the value: it may be (part of) the key
            raise GuardRefused(f"key {ref} version {version} is malformed: the secret's data "
                               "must be {\"key\": <hex of 16, 24 or 32 bytes>}", rule=RULE_KEY)
        return key

    def _timeout(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise GuardRefused(f"Vault unreachable at {self.addr}: no answer within "
                               f"{self.total_timeout:g} s", rule=RULE_KEY)
        return min(self.request_timeout, left)

    def _authenticate(self) -> None:
        if self.login is None:
            if not self.client.token:
                raise GuardRefused(
                    f"no Vault token for {self.addr}: set VAULT_TOKEN or `vault login` "
                    "(~/.vault-token), or use AppRole (VAULT_ROLE_ID, VAULT_SECRET_ID) or "
                    "Kubernetes (VAULT_K8S_ROLE)", rule=RULE_KEY)
            return
        login = self.login
        problem: _Refusal | None = None
        try:
            payload = login.payload()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            path = login.token_path if isinstance(login, KubernetesLogin) else ""
            problem = _Refusal(f"cannot read the Kubernetes service account token {path}: "
                               f"{reason}")
        if problem is not None:
            raise GuardRefused(problem.message, rule=problem.rule)
        url = f"/v1/auth/{quote(login.mount.strip('/'), safe='/')}/login"
        try:
            body = self._request("post", url, f"the {login.method} login", json=payload)
        except _NotFound:
            body, problem = None, _Refusal(
                f"Vault at {self.addr} has no {login.method} auth mounted at "
                f"auth/{login.mount}")
        except _Refusal as refusal:
            problem = refusal
        if problem is not None:
            raise GuardRefused(problem.message, rule=problem.rule)
        auth = body.get("auth") if isinstance(body, dict) else None
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise GuardRefused(f"Vault at {self.addr} returned no token for the {login.method} "
                               "login", rule=RULE_KEY)
        self.client.token = token

    def _get(self, url: str, ref: str, **kwargs: Any) -> dict[str, Any]:
        problem: _Refusal | None = None
        try:
            return self._request("get", url, ref, **kwargs)
        except _Refusal as refusal:
            problem = refusal
        raise GuardRefused(problem.message, rule=problem.rule)

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """One request through the hvac adapter; errors become _NotFound or _Refusal, raised
        outside the `except` blocks (no chained hvac exception, whose text holds the response
        body) and with messages that hold no token or key."""
        timeout = self._timeout()
        failure: Exception | None = None
        body: Any = None
        try:
            body = self.client.adapter.request(method, url, timeout=timeout, **kwargs)
        except Exception as exc:  # every failure is classified, or re-raised as a bug
            failure = self._classify(exc, what, timeout)
        if failure is not None:
            raise failure
        if not isinstance(body, dict):  # a redirect (not followed) or an empty 204
            code = getattr(body, "status_code", "?")
            raise _Refusal(f"Vault at {self.addr} answered the request for {what} with HTTP "
                           f"{code}; redirects are not followed (point VAULT_ADDR at the "
                           "active node)")
        return body

    def _classify(self, exc: Exception, what: str, timeout: float) -> Exception:
        """The _NotFound or _Refusal an hvac/requests failure stands for."""
        login = what.endswith(" login")
        if isinstance(exc, hvac.exceptions.InvalidPath):
            return _NotFound()
        if isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
            if login:
                mount = self.login.mount if self.login else "?"
                return _Refusal(f"Vault refused {what} at {self.addr} (wrong credentials or "
                                f"role, or no such auth mount auth/{mount})")
            return _Refusal(f"Vault denied access to {what} (the token's policies do not cover "
                            f"{self.mount}/data/{what} and {self.mount}/metadata/{what}, or "
                            "the token expired)")
        if isinstance(exc, hvac.exceptions.InvalidRequest):
            if login:
                return _Refusal(f"Vault refused {what} at {self.addr} (HTTP 400: wrong "
                                "credentials or role)")
            return _Refusal(f"Vault rejected the request for {what} at {self.addr} (HTTP 400)")
        if isinstance(exc, hvac.exceptions.VaultDown):
            return _Refusal(f"Vault unreachable at {self.addr}: sealed or in standby (HTTP 503)")
        if isinstance(exc, hvac.exceptions.VaultError):
            return _Refusal(f"Vault failed the request for {what} at {self.addr} "
                            f"({type(exc).__name__})")
        if isinstance(exc, requests.exceptions.SSLError):
            return _Refusal(f"Vault unreachable at {self.addr}: TLS verification failed (check "
                            "VAULT_CACERT, VAULT_CAPATH, VAULT_TLS_SERVER_NAME)")
        if isinstance(exc, requests.exceptions.Timeout):
            return _Refusal(f"Vault unreachable at {self.addr}: timed out after "
                            f"{timeout:.3g} s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return _Refusal(f"Vault unreachable at {self.addr}: connection failed (refused, "
                            "reset or no route)")
        if isinstance(exc, requests.exceptions.RequestException | ValueError):
            return _Refusal(f"Vault unreachable at {self.addr}: the request for {what} failed "
                            f"({type(exc).__name__})")
        raise exc  # a bug, not a Vault condition: keep its traceback


def _mismatch(wanted: int, current: int) -> str:
    return (f"key version mismatch: the plan needs salt_version {wanted}, Vault's current "
            f"version is {current}; recompile with the new salt_version, `seedc reset`, apply "
            "(coordinated reseed)")


def _gone(versions: dict[str, Any], version: int) -> str:
    """'destroyed' / 'deleted' when the metadata says so for `version`, else ''."""
    info = versions.get(str(version))
    if not isinstance(info, dict):
        return ""
    if info.get("destroyed"):
        return "destroyed"
    deletion = info.get("deletion_time")
    if isinstance(deletion, str) and deletion and _past(deletion):
        return "deleted"
    return ""


def _past(stamp: str) -> bool:
    """Whether an RFC 3339 time from Vault (nanoseconds, `Z`) is in the past."""
    text = stamp.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # keep microseconds: Python parses at most 6 fraction digits
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return True  # fail closed: a deletion time we cannot read counts as deleted
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= datetime.now(UTC)


def _token_file(env: dict[str, str]) -> str | None:
    """The token `vault login` stored in ~/.vault-token (the CLI's default token helper)."""
    home = env.get("HOME") or str(Path.home())
    path = Path(home) / ".vault-token"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token or None

