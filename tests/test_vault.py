"""The Vault key provider against a real OpenBao dev server (seeds sessions 1, 3, 6).

Every refusal is a `GuardRefused` (exit 3) naming session 6, raised without a chained
exception, and no message, repr or traceback ever holds the token, a secret ID or the key (in
hex or base64). The dev server is in-memory, has KV v2 at `secret/` and a known root token.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests

from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.keys import KeyMaterial, key_provider_for
from seedc.runtime.keys.vault import (
    RULE_VERSION,
    AppRoleLogin,
    KubernetesLogin,
    VaultKeyProvider,
)
from tests.services import LOOPBACK, BaoDevServer, put_key

REF = "seedc/ci/acme/fpe"


def plan_for(version: int = 1, ref: str = REF, environment: str = "ci",
             tenant: str = "acme") -> dict[str, Any]:
    """The parts of a compiled plan the provider reads."""
    return {"environment": environment, "tenant": tenant,
            "keys": {"ref": ref, "salt_version": version, "algorithm": "FF1"}}


def secret_forms(key: bytes) -> list[str]:
    """Every spelling of a key that must never show up in a message."""
    return [key.hex(), key.hex().upper(), base64.b64encode(key).decode(),
            base64.urlsafe_b64encode(key).decode(), repr(key)[2:-1]]


def texts_of(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, GuardRefused):
        out += [exc.render(), exc.message, exc.rule or "", *exc.details]
    return out


def refused(provider: VaultKeyProvider, plan: dict[str, Any], *hidden: str,
            status: bool = False) -> GuardRefused:
    """fetch (or status) must refuse: exit 3, a session 6 rule, no chained exception, and none
    of `hidden` anywhere in what a user or a log could see."""
    call = provider.status if status else provider.fetch
    with pytest.raises(GuardRefused) as info:
        call(plan)
    exc = info.value
    assert exc.exit_code == ExitCode.REFUSED
    assert exc.rule is not None
    assert "session" in exc.rule
    assert "6" in exc.rule
    assert exc.__cause__ is None
    assert exc.__context__ is None
    for text in texts_of(exc):
        for secret in hidden:
            assert secret not in text, f"a secret leaked into: {text!r}"
    return exc


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No VAULT_* from the caller and a HOME without ~/.vault-token."""
    import os

    for name in list(os.environ):
        if name.startswith("VAULT_") or name == "SEEDC_VAULT_KV_MOUNT":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return monkeypatch


@pytest.fixture
def root(bao: BaoDevServer) -> hvac.Client:
    return bao.client()


def a_key(size: int = 32) -> bytes:
    return secrets.token_bytes(size)


def grant_read(root: hvac.Client, name: str, ref: str = REF, mount: str = "secret") -> None:
    """A policy that reads exactly the key's data and metadata."""
    root.sys.create_or_update_policy(name=name, policy=(
        f'path "{mount}/data/{ref}" {{ capabilities = ["read"] }}\n'
        f'path "{mount}/metadata/{ref}" {{ capabilities = ["read"] }}\n'))


# --- fetch and status ------------------------------------------------------------------------


def test_fetch_returns_the_key_at_the_plans_version(bao: BaoDevServer, root: hvac.Client) -> None:
    key = a_key()
    assert put_key(root, REF, key) == 1
    provider = VaultKeyProvider(bao.client())
    material = provider.fetch(plan_for(1))
    assert material == KeyMaterial(version=1, source=f"vault:{REF}@v1", key=key)
    status = provider.status(plan_for(1))
    assert (status.ref, status.plan_version, status.vault_version, status.state) == \
        (REF, 1, 1, "ok")
    for text in (repr(material), repr(provider), repr(status), status.message):
        for secret in [*secret_forms(key), bao.token]:
            assert secret not in text


@pytest.mark.parametrize("size", [16, 24, 32])
def test_every_aes_key_size_is_accepted(bao: BaoDevServer, root: hvac.Client, size: int) -> None:
    key = a_key(size)
    put_key(root, REF, key)
    assert VaultKeyProvider(bao.client()).fetch(plan_for(1)).key == key


def test_each_fetch_reads_vault_again(bao: BaoDevServer, root: hvac.Client) -> None:
    """No key is cached: a rotation is seen by the very next fetch of the same provider."""
    provider = VaultKeyProvider(bao.client())
    first, second = a_key(), a_key()
    put_key(root, REF, first)
    assert provider.fetch(plan_for(1)).key == first
    assert put_key(root, REF, second) == 2
    refused(provider, plan_for(1))
    material = provider.fetch(plan_for(2))
    assert (material.key, material.version, material.source) == (second, 2, f"vault:{REF}@v2")


def test_missing_key_is_refused(bao: BaoDevServer, root: hvac.Client) -> None:
    put_key(root, "seedc/ci/other/fpe", a_key())  # another tenant's key does not count
    provider = VaultKeyProvider(bao.client())
    exc = refused(provider, plan_for(1), bao.token)
    assert exc.message.startswith(f"key missing at {REF}")
    status = provider.status(plan_for(1))
    assert (status.state, status.vault_version) == ("missing", None)


def test_version_mismatch_after_a_rotation_is_refused(bao: BaoDevServer,
                                                      root: hvac.Client) -> None:
    old, new = a_key(), a_key()
    put_key(root, REF, old)
    assert put_key(root, REF, new) == 2
    provider = VaultKeyProvider(bao.client())
    exc = refused(provider, plan_for(1), bao.token, *secret_forms(old), *secret_forms(new))
    assert exc.message == (
        "key version mismatch: the plan needs salt_version 1, Vault's current version is 2; "
        "recompile with the new salt_version, `seedc reset`, apply (coordinated reseed)")
    assert exc.rule == RULE_VERSION
    status = provider.status(plan_for(1))
    assert (status.state, status.plan_version, status.vault_version) == ("rotated", 1, 2)
    assert provider.status(plan_for(2)).state == "ok"


def test_a_plan_ahead_of_vault_is_refused(bao: BaoDevServer, root: hvac.Client) -> None:
    put_key(root, REF, a_key())
    provider = VaultKeyProvider(bao.client())
    exc = refused(provider, plan_for(2))
    assert "the plan needs salt_version 2, Vault's current version is 1" in exc.message
    assert provider.status(plan_for(2)).state == "ahead"


def test_deleted_or_destroyed_current_version_is_refused(bao: BaoDevServer,
                                                         root: hvac.Client) -> None:
    key = a_key()
    put_key(root, REF, key)
    root.secrets.kv.v2.delete_latest_version_of_secret(REF)
    provider = VaultKeyProvider(bao.client())
    exc = refused(provider, plan_for(1), *secret_forms(key))
    assert "version 1 is deleted" in exc.message
    assert provider.status(plan_for(1)).state == "missing"

    root.secrets.kv.v2.undelete_secret_versions(REF, versions=[1])
    assert provider.fetch(plan_for(1)).key == key
    root.secrets.kv.v2.destroy_secret_versions(REF, versions=[1])
    exc = refused(provider, plan_for(1), *secret_forms(key))
    assert "version 1 is destroyed" in exc.message
    assert provider.status(plan_for(1)).state == "missing"


def test_an_older_deleted_version_does_not_matter(bao: BaoDevServer, root: hvac.Client) -> None:
    put_key(root, REF, a_key())
    key = a_key()
    put_key(root, REF, key)
    root.secrets.kv.v2.destroy_secret_versions(REF, versions=[1])
    assert VaultKeyProvider(bao.client()).fetch(plan_for(2)).key == key


@pytest.mark.parametrize("value", [
    "not-hex-VALUE-3f2a", "ab" * 15, "ab" * 33, None, 987654321987,
])
def test_malformed_key_is_refused_without_echoing_it(bao: BaoDevServer, root: hvac.Client,
                                                     value: Any) -> None:
    data = {"other": "x"} if value is None else {"key": value}
    root.secrets.kv.v2.create_or_update_secret(REF, secret=data)
    exc = refused(VaultKeyProvider(bao.client()), plan_for(1), bao.token,
                  *([str(value)] if value is not None else []))
    assert "malformed" in exc.message


@pytest.mark.parametrize(("ref", "why"), [
    ("seedc/ci/../prod/acme/fpe", "plain path"),
    ("/seedc/ci/acme/fpe", "plain path"),
    ("seedc//ci/acme/fpe", "plain path"),
    ("seedc/ci/acme/./fpe", "plain path"),
    ("seedc/prod/acme/fpe", "environment 'ci'"),
    ("seedc/ci/globex/fpe", "tenant 'acme'"),
    ("seedc/ci-acme/fpe", "environment 'ci'"),
])
def test_refs_outside_the_plans_environment_and_tenant_are_refused(ref: str, why: str) -> None:
    """Checked before any request: the address below has nothing listening."""
    client = hvac.Client(url=f"http://{LOOPBACK}:1", token="t")
    exc = refused(VaultKeyProvider(client), plan_for(1, ref=ref))
    assert why in exc.message
    assert "unreachable" not in exc.message


# --- access --------------------------------------------------------------------------------


def test_token_without_a_policy_for_the_path_is_denied(bao: BaoDevServer,
                                                       root: hvac.Client) -> None:
    key = a_key()
    put_key(root, REF, key)
    grant_read(root, "other-tenant", ref="seedc/ci/other/fpe")
    token = root.auth.token.create(policies=["other-tenant"], ttl="5m")["auth"]["client_token"]
    client = bao.client()
    client.token = token
    provider = VaultKeyProvider(client)
    exc = refused(provider, plan_for(1), token, bao.token, *secret_forms(key))
    assert exc.message.startswith(f"Vault denied access to {REF}")
    refused(provider, plan_for(1), token, status=True)

    grant_read(root, "acme-ci")  # the same path with a policy that reads it: accepted
    allowed = root.auth.token.create(policies=["acme-ci"], ttl="5m")["auth"]["client_token"]
    client.token = allowed
    assert provider.fetch(plan_for(1)).key == key


def test_unknown_or_revoked_token_is_denied(bao: BaoDevServer, root: hvac.Client) -> None:
    put_key(root, REF, a_key())
    grant_read(root, "acme-ci")
    token = root.auth.token.create(policies=["acme-ci"], ttl="5m")["auth"]["client_token"]
    client = bao.client()
    client.token = token
    provider = VaultKeyProvider(client)
    provider.fetch(plan_for(1))
    root.auth.token.revoke(token)
    exc = refused(provider, plan_for(1), token)
    assert "Vault denied access" in exc.message
    client.token = "s.not-a-real-token-" + secrets.token_hex(8)
    refused(provider, plan_for(1), client.token)


def test_server_stopped_mid_preflight_is_unreachable(bao: BaoDevServer,
                                                     root: hvac.Client) -> None:
    key = a_key()
    put_key(root, REF, key)
    provider = VaultKeyProvider(bao.client())
    assert provider.status(plan_for(1)).state == "ok"
    bao.stop()
    started = time.monotonic()
    exc = refused(provider, plan_for(1), bao.token, *secret_forms(key))
    assert time.monotonic() - started < 10
    assert exc.message.startswith(f"Vault unreachable at {bao.addr}")
    refused(provider, plan_for(1), status=True)


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung Vault)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((LOOPBACK, 0))
    server.listen(8)
    try:
        yield f"http://{LOOPBACK}:{server.getsockname()[1]}"
    finally:
        server.close()


def test_a_hung_vault_times_out_within_the_budget() -> None:
    with silent_listener() as addr:
        provider = VaultKeyProvider(hvac.Client(url=addr, token="t"), request_timeout=0.3,
                                    total_timeout=0.6)
        started = time.monotonic()
        exc = refused(provider, plan_for(1))
        elapsed = time.monotonic() - started
    assert exc.message.startswith(f"Vault unreachable at {addr}: timed out")
    assert elapsed < 2


def test_from_environment_uses_short_timeouts(vault_env: pytest.MonkeyPatch) -> None:
    vault_env.setenv("VAULT_ADDR", "http://127.0.0.1:8200")
    provider = VaultKeyProvider.from_environment()
    assert provider.request_timeout <= 5
    assert provider.total_timeout <= 10
    assert provider.client.allow_redirects is False


# --- configuration from the environment ------------------------------------------------------


def test_vault_token_from_the_environment(bao: BaoDevServer, root: hvac.Client,
                                          vault_env: pytest.MonkeyPatch) -> None:
    key = a_key()
    put_key(root, REF, key)
    vault_env.setenv("VAULT_ADDR", bao.addr)
    vault_env.setenv("VAULT_TOKEN", bao.token)
    provider = key_provider_for()
    assert isinstance(provider, VaultKeyProvider)
    assert provider.fetch(plan_for(1)).key == key
    assert bao.token not in repr(provider)


def test_token_from_the_vault_token_file(bao: BaoDevServer, root: hvac.Client,
                                         vault_env: pytest.MonkeyPatch) -> None:
    key = a_key()
    put_key(root, REF, key)
    vault_env.setenv("VAULT_ADDR", bao.addr)
    home = Path(__import__("os").environ["HOME"])
    (home / ".vault-token").write_text(bao.token + "\n")
    assert VaultKeyProvider.from_environment().fetch(plan_for(1)).key == key


def test_no_token_anywhere_is_refused(bao: BaoDevServer, vault_env: pytest.MonkeyPatch) -> None:
    vault_env.setenv("VAULT_ADDR", bao.addr)
    exc = refused(VaultKeyProvider.from_environment(), plan_for(1))
    assert exc.message.startswith("no Vault token")


def test_vault_addr_is_required(vault_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(GuardRefused, match="VAULT_ADDR is not set"):
        VaultKeyProvider.from_environment()
    vault_env.setenv("VAULT_ADDR", "ftp://vault.example")
    with pytest.raises(GuardRefused, match="http"):
        VaultKeyProvider.from_environment()


def test_kv_mount_from_the_environment(bao: BaoDevServer, root: hvac.Client,
                                       vault_env: pytest.MonkeyPatch) -> None:
    root.sys.enable_secrets_engine("kv", path="seedc-kv", options={"version": "2"})
    key = a_key()
    assert put_key(root, REF, key, mount="seedc-kv") == 1
    vault_env.setenv("VAULT_ADDR", bao.addr)
    vault_env.setenv("VAULT_TOKEN", bao.token)
    vault_env.setenv("SEEDC_VAULT_KV_MOUNT", "seedc-kv")
    provider = VaultKeyProvider.from_environment()
    assert provider.mount == "seedc-kv"
    assert provider.fetch(plan_for(1)).key == key
    vault_env.delenv("SEEDC_VAULT_KV_MOUNT")
    refused(VaultKeyProvider.from_environment(), plan_for(1))  # not under secret/


def _approle(root: hvac.Client, mount: str = "approle") -> tuple[str, str]:
    root.sys.enable_auth_method("approle", path=mount)
    grant_read(root, "acme-ci")
    root.auth.approle.create_or_update_approle("seedc-ci", token_policies=["acme-ci"],
                                               token_ttl="2m", mount_point=mount)
    role_id = root.auth.approle.read_role_id("seedc-ci", mount_point=mount)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(
        "seedc-ci", mount_point=mount)["data"]["secret_id"]
    return role_id, secret_id


def test_approle_login_from_the_environment(bao: BaoDevServer, root: hvac.Client,
                                            vault_env: pytest.MonkeyPatch) -> None:
    key = a_key()
    put_key(root, REF, key)
    role_id, secret_id = _approle(root)
    vault_env.setenv("VAULT_ADDR", bao.addr)
    vault_env.setenv("VAULT_ROLE_ID", role_id)
    vault_env.setenv("VAULT_SECRET_ID", secret_id)
    provider = VaultKeyProvider.from_environment()
    assert isinstance(provider.login, AppRoleLogin)
    assert secret_id not in repr(provider)
    assert secret_id not in repr(provider.login)
    material = provider.fetch(plan_for(1))
    assert (material.key, material.version) == (key, 1)
    first_token = provider.client.token
    assert first_token
    assert first_token != bao.token
    provider.fetch(plan_for(1))  # logs in again: a fresh short-lived token each time
    assert provider.client.token != first_token

    vault_env.setenv("VAULT_SECRET_ID", "wrong-" + secrets.token_hex(8))
    exc = refused(VaultKeyProvider.from_environment(), plan_for(1), role_id,
                  __import__("os").environ["VAULT_SECRET_ID"], secret_id, *secret_forms(key))
    assert exc.message.startswith("Vault refused the AppRole login")


def test_approle_on_another_mount(bao: BaoDevServer, root: hvac.Client,
                                  vault_env: pytest.MonkeyPatch) -> None:
    key = a_key()
    put_key(root, REF, key)
    role_id, secret_id = _approle(root, mount="ci-approle")
    vault_env.setenv("VAULT_ADDR", bao.addr)
    vault_env.setenv("VAULT_ROLE_ID", role_id)
    vault_env.setenv("VAULT_SECRET_ID", secret_id)
    exc = refused(VaultKeyProvider.from_environment(), plan_for(1), secret_id)
    assert exc.message.startswith("Vault refused the AppRole login")
    assert "auth/approle" in exc.message
    vault_env.setenv("VAULT_APPROLE_MOUNT", "ci-approle")
    assert VaultKeyProvider.from_environment().fetch(plan_for(1)).key == key


def test_namespace_is_sent_and_used(bao: BaoDevServer, root: hvac.Client,
                                    vault_env: pytest.MonkeyPatch) -> None:
    """OpenBao namespaces: the key lives only inside namespace `team-ci`."""
    root.adapter.post("/v1/sys/namespaces/team-ci")
    scoped = bao.client()
    scoped.adapter.namespace = "team-ci"
    scoped.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    key = a_key()
    put_key(scoped, REF, key)
    vault_env.setenv("VAULT_ADDR", bao.addr)
    vault_env.setenv("VAULT_TOKEN", bao.token)
    vault_env.setenv("VAULT_NAMESPACE", "team-ci")
    provider = VaultKeyProvider.from_environment()
    assert provider.client.adapter.namespace == "team-ci"
    assert "team-ci" in repr(provider)
    assert provider.fetch(plan_for(1)).key == key
    vault_env.delenv("VAULT_NAMESPACE")
    exc = refused(VaultKeyProvider.from_environment(), plan_for(1))  # root namespace: none
    assert exc.message.startswith(f"key missing at {REF}")


def test_tls_settings_follow_the_vault_cli(vault_env: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    vault_env.setenv("VAULT_ADDR", "https://vault.example:8200")
    provider = VaultKeyProvider.from_environment()
    session = provider.client.session
    assert session.verify is True
    assert session.trust_env is True  # HTTPS_PROXY/NO_PROXY apply, as for the CLI
    vault_env.setenv("VAULT_CAPATH", str(tmp_path))
    assert VaultKeyProvider.from_environment().client.session.verify == str(tmp_path)
    vault_env.setenv("VAULT_CACERT", str(tmp_path / "ca.pem"))  # wins over VAULT_CAPATH
    assert VaultKeyProvider.from_environment().client.session.verify == str(tmp_path / "ca.pem")
    vault_env.setenv("VAULT_SKIP_VERIFY", "true")
    assert VaultKeyProvider.from_environment().client.session.verify is False
    vault_env.setenv("VAULT_SKIP_VERIFY", "0")
    assert VaultKeyProvider.from_environment().client.session.verify == str(tmp_path / "ca.pem")
    vault_env.setenv("VAULT_SKIP_VERIFY", "perhaps")
    with pytest.raises(GuardRefused, match="VAULT_SKIP_VERIFY"):
        VaultKeyProvider.from_environment()
    vault_env.delenv("VAULT_SKIP_VERIFY")
    vault_env.setenv("VAULT_CLIENT_CERT", "/etc/seedc/client.pem")
    vault_env.setenv("VAULT_CLIENT_KEY", "/etc/seedc/client.key")
    assert VaultKeyProvider.from_environment().client.session.cert == (
        "/etc/seedc/client.pem", "/etc/seedc/client.key")
    vault_env.setenv("VAULT_TLS_SERVER_NAME", "vault.internal")
    adapter = VaultKeyProvider.from_environment().client.session.get_adapter("https://x")
    assert adapter.poolmanager.connection_pool_kw["server_hostname"] == "vault.internal"


def test_loopback_vault_never_goes_through_a_proxy(bao: BaoDevServer, root: hvac.Client,
                                                   vault_env: pytest.MonkeyPatch) -> None:
    key = a_key()
    put_key(root, REF, key)
    with silent_listener() as proxy:
        vault_env.setenv("HTTP_PROXY", proxy)
        vault_env.setenv("http_proxy", proxy)
        vault_env.setenv("VAULT_ADDR", bao.addr)
        vault_env.setenv("VAULT_TOKEN", bao.token)
        provider = VaultKeyProvider.from_environment()
        assert provider.client.session.trust_env is False
        assert provider.fetch(plan_for(1)).key == key


# --- TLS: a dev server with a generated CA ---------------------------------------------------


def tls_client(addr: str, token: str, ca: Path) -> hvac.Client:
    """hvac takes `verify` from a given session when the session's is truthy (its default
    True), so the CA goes on the session."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca)
    return hvac.Client(url=addr, token=token, verify=str(ca), session=session)


@pytest.fixture
def bao_tls(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """`bao server -dev -dev-tls` on 127.0.0.1 (certificate for localhost and 127.0.0.1):
    yields (addr, root token, CA file)."""
    import os
    import shutil
    import subprocess

    from tests.services import _bao_binary, free_port

    token = f"seedc-test-{secrets.token_hex(12)}"
    certs = tmp_path / "tls"
    certs.mkdir()
    port = free_port()
    argv = [_bao_binary(), "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={certs}",
            "-dev-no-store-token", f"-dev-listen-address={LOOPBACK}:{port}",
            f"-dev-root-token-id={token}"]
    if shutil.which("setpriv"):
        argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["HOME"] = str(tmp_path)
    log = (tmp_path / "bao.log").open("wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    addr = f"https://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 20
        ca = certs / "vault-ca.pem"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.flush()
                tail = (tmp_path / "bao.log").read_text(errors="replace")[-800:]
                raise RuntimeError(f"bao -dev-tls exited early (port {port} taken?):\n{tail}")
            if ca.exists():
                with contextlib.suppress(Exception):
                    client = tls_client(addr, token, ca)
                    if "secret/" in client.sys.list_mounted_secrets_engines()["data"]:
                        break
            time.sleep(0.05)
        else:
            raise RuntimeError("bao -dev-tls not ready in 20 s")
        yield addr, token, ca
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_with_ca_file_and_server_name(bao_tls: tuple[str, str, Path],
                                          vault_env: pytest.MonkeyPatch) -> None:
    addr, token, ca = bao_tls
    key = a_key()
    put_key(tls_client(addr, token, ca), REF, key)
    vault_env.setenv("VAULT_ADDR", addr)
    vault_env.setenv("VAULT_TOKEN", token)

    exc = refused(VaultKeyProvider.from_environment(), plan_for(1), token)  # unknown CA
    assert "TLS verification failed" in exc.message
    vault_env.setenv("VAULT_CACERT", str(ca))
    assert VaultKeyProvider.from_environment().fetch(plan_for(1)).key == key
    vault_env.setenv("VAULT_TLS_SERVER_NAME", "vault.elsewhere.example")  # not in the cert
    exc = refused(VaultKeyProvider.from_environment(), plan_for(1), token)
    assert "TLS verification failed" in exc.message
    vault_env.setenv("VAULT_TLS_SERVER_NAME", "localhost")  # in the cert, though not the addr
    assert VaultKeyProvider.from_environment().fetch(plan_for(1)).key == key
    vault_env.delenv("VAULT_CACERT")
    vault_env.delenv("VAULT_TLS_SERVER_NAME")
    vault_env.setenv("VAULT_SKIP_VERIFY", "1")
    assert VaultKeyProvider.from_environment().fetch(plan_for(1)).key == key


# --- Kubernetes: a fake TokenReview API behind OpenBao's kubernetes auth ----------------------


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signature = base64.urlsafe_b64encode(secrets.token_bytes(256)).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'test'})}.{part(claims)}.{signature}"


def self_signed_pem() -> str:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubernetes-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@contextlib.contextmanager
def token_review_api(valid_jwt: str) -> Iterator[str]:
    """A Kubernetes API answering only TokenReview: `valid_jwt` is service account
    seedc-ci/seedc, anything else is not authenticated."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            review = json.loads(self.rfile.read(length) or b"{}")
            ok = review.get("spec", {}).get("token") == valid_jwt
            status: dict[str, Any] = {"authenticated": ok}
            if ok:
                status["user"] = {"username": "system:serviceaccount:seedc-ci:seedc",
                                  "uid": "0b6a9a4e-3f6e-4b1f-9d55-6c1d3c2f7a10",
                                  "groups": ["system:serviceaccounts"]}
            body = json.dumps({"apiVersion": "authentication.k8s.io/v1",
                               "kind": "TokenReview", "status": status}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_kubernetes_login_from_the_environment(bao: BaoDevServer, root: hvac.Client,
                                               vault_env: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    key = a_key()
    put_key(root, REF, key)
    claims = {"iss": "kubernetes/serviceaccount",
              "kubernetes.io/serviceaccount/namespace": "seedc-ci",
              "kubernetes.io/serviceaccount/service-account.name": "seedc",
              "kubernetes.io/serviceaccount/service-account.uid":
                  "0b6a9a4e-3f6e-4b1f-9d55-6c1d3c2f7a10",
              "sub": "system:serviceaccount:seedc-ci:seedc"}
    jwt = _jwt(claims)
    token_file = tmp_path / "sa-token"
    token_file.write_text(jwt)
    with token_review_api(jwt) as api:
        root.sys.enable_auth_method("kubernetes", path="k8s-ci")
        root.adapter.post("/v1/auth/k8s-ci/config", json={
            "kubernetes_host": api, "disable_local_ca_jwt": True,
            "kubernetes_ca_cert": self_signed_pem(),  # required, unused over http
            "token_reviewer_jwt": _jwt({"sub": "reviewer"})})
        grant_read(root, "acme-ci")
        root.adapter.post("/v1/auth/k8s-ci/role/seedc", json={
            "bound_service_account_names": ["seedc"],
            "bound_service_account_namespaces": ["seedc-ci"],
            "token_policies": ["acme-ci"], "token_ttl": "2m"})
        vault_env.setenv("VAULT_ADDR", bao.addr)
        vault_env.setenv("VAULT_K8S_ROLE", "seedc")
        vault_env.setenv("VAULT_K8S_MOUNT", "k8s-ci")
        vault_env.setenv("VAULT_K8S_TOKEN_PATH", str(token_file))
        provider = VaultKeyProvider.from_environment()
        assert isinstance(provider.login, KubernetesLogin)
        assert provider.fetch(plan_for(1)).key == key

        other = _jwt({**claims, "jti": secrets.token_hex(8)})  # TokenReview says no
        token_file.write_text(other)  # re-read at each login
        exc = refused(provider, plan_for(1), jwt, other, *secret_forms(key))
        assert exc.message.startswith("Vault refused the Kubernetes login")

    token_file.unlink()
    exc = refused(provider, plan_for(1), jwt)
    assert exc.message.startswith("cannot read the Kubernetes service account token")


def test_kubernetes_default_token_path(vault_env: pytest.MonkeyPatch) -> None:
    vault_env.setenv("VAULT_ADDR", "https://vault.example:8200")
    vault_env.setenv("VAULT_K8S_ROLE", "seedc")
    login = VaultKeyProvider.from_environment().login
    assert isinstance(login, KubernetesLogin)
    assert str(login.token_path) == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert login.mount == "kubernetes"


# --- nothing secret escapes ------------------------------------------------------------------


def test_no_refusal_ever_shows_the_token_or_the_key(bao: BaoDevServer, root: hvac.Client) -> None:
    """Every refusal path in one place, each checked for every spelling of every secret."""
    key, rotated = a_key(), a_key()
    hidden = [bao.token, *secret_forms(key), *secret_forms(rotated)]
    provider = VaultKeyProvider(bao.client())
    seen = [refused(provider, plan_for(1), *hidden)]  # missing
    put_key(root, REF, key)
    put_key(root, REF, rotated)
    seen.append(refused(provider, plan_for(1), *hidden))  # mismatch
    seen.append(refused(provider, plan_for(3), *hidden))  # ahead
    root.secrets.kv.v2.delete_latest_version_of_secret(REF)
    seen.append(refused(provider, plan_for(2), *hidden))  # deleted
    root.secrets.kv.v2.create_or_update_secret(REF, secret={"key": key.hex()[:-2]})
    seen.append(refused(provider, plan_for(3), *hidden))  # malformed (31 bytes of the key)
    denied = bao.client()
    denied.token = "s.denied-" + secrets.token_hex(8)
    seen.append(refused(VaultKeyProvider(denied), plan_for(3), *hidden, denied.token))
    bao.stop()
    seen.append(refused(provider, plan_for(3), *hidden))  # unreachable
    assert len({type(e) for e in seen}) == 1
    assert len({e.message for e in seen}) == len(seen)


def test_keys_status_command_reports_rotation_with_exit_3(
    bao: BaoDevServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`seedc keys status` shows plan vs Vault version; a rotated key exits 3 with the steps."""
    from click.testing import CliRunner

    from seedc.cli import cli
    from seedc.compiler.pipeline import compile_manifest
    from seedc.plan.canonical import pretty_bytes
    from tests.manifests import REPO

    plan = compile_manifest(REPO / "manifests" / "ci" / "acme.yaml")
    path = tmp_path / "plan.json"
    path.write_bytes(pretty_bytes(plan))
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    put_key(bao.client(), plan["keys"]["ref"], os.urandom(32))
    ok = CliRunner().invoke(cli, ["keys", "status", str(path)])
    assert ok.exit_code == 0, ok.output
    assert "plan salt_version 1, Vault version 1: ok" in ok.output
    put_key(bao.client(), plan["keys"]["ref"], os.urandom(32))
    rotated = CliRunner().invoke(cli, ["keys", "status", str(path)])
    assert rotated.exit_code == 3
    assert "Vault version 2: rotated" in rotated.output
    assert "seedc reset" in rotated.output
