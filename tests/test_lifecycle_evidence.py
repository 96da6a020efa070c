"""Unsent evidence and the strict chain (issue 14), on real PostgreSQL and moto S3.

S3 becomes unreachable mid-run through a real TCP hop the test can cut (`Gate`: moto forgets
its state when stopped, so stopping it would not show a later re-send). The chain tests publish
concurrently from two threads with their own control connections, and tamper with a folder
store by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from seedc import __version__
from seedc.errors import RuntimeFailure
from seedc.runtime.apply import ApplyOptions, BatchReport, EvidenceSink
from seedc.runtime.evidence import (
    LocalDevSigner,
    LocalFolderStore,
    S3WormStore,
    publish_evidence,
)
from seedc.runtime.evidence.chain import walk_chain
from seedc.runtime.evidence.flush import flush_unsent
from tests.runtime_support import Target, prepared_target
from tests.services import MotoServer


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


class Gate:
    """A TCP hop in front of moto: `cut()` drops every connection and refuses new ones."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.endpoint_url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.open = True
        self.live: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for s in self.live:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.live.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.fixture
def gate(moto_s3: MotoServer) -> Iterator[Gate]:
    g = Gate(moto_s3.endpoint_url)
    yield g
    g.close()


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}, connect_timeout=2,
                                      read_timeout=3, retries={"max_attempts": 1}))


def test_unreachable_s3_keeps_the_report_unsent_and_flush_uploads_it_locked(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer, gate: Gate,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(target.tmp)  # the unsent folder is relative to the run
    moto_s3.s3_client().create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    store = S3WormStore("evidence", "dev", environment="dev", client=_client(gate.endpoint_url))
    total = len(plan["batches"])

    def cut_after_last(item: BatchReport, done: int, count: int) -> None:
        if done == total:
            gate.cut()

    error = target.apply_error(plan, ApplyOptions(evidence=lambda: EvidenceSink(store, signer),
                                                  on_batch=cut_after_last))
    assert isinstance(error, RuntimeFailure)
    unsent = target.tmp / ".seedc" / "evidence-unsent"
    [kept] = sorted(unsent.glob("*.json"))
    run_id = json.loads(kept.read_bytes())["report"]["run_id"]
    assert target.scalar("SELECT status FROM seedc.evidence WHERE run_id = %s",
                         (run_id,)) == "upload_failed"
    # still down: flush fails, the report keeps waiting, the index is unchanged
    with psycopg.connect(target.apply_dsn, autocommit=True) as conn:
        [again] = flush_unsent(store, signer, conn, "dev", unsent)
    assert again.status == "failed"
    assert kept.exists()
    gate.restore()
    result = target.cli_inprocess(
        "evidence", "flush", "--environment", "dev", "--evidence", "s3://evidence/dev",
        "--dsn", target.apply_dsn, "--env-file", str(target.env_file), "--json",
        env={"AWS_ENDPOINT_URL": gate.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
             "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.code == 0, result.text
    [flushed] = json.loads(result.out)
    assert flushed["status"] == "stored"
    assert not kept.exists()
    status, uri = target.scalar("SELECT ARRAY[status, uri] FROM seedc.evidence WHERE "
                                "run_id = %s", (run_id,))
    assert status == "stored"
    assert uri == flushed["uri"]
    assert uri.startswith("s3://evidence/dev/")
    head = moto_s3.s3_client().head_object(Bucket="evidence", Key=uri.split("/", 3)[3])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    body = moto_s3.s3_client().get_object(Bucket="evidence", Key=uri.split("/", 3)[3])
    walk = walk_chain([(kept.name, body["Body"].read())], signer)
    assert walk.broken_at is None


def test_apply_flushes_waiting_reports_first(
        target: Target, plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(target.tmp)
    folder = target.tmp / "evidence"
    unsent = target.tmp / ".seedc" / "evidence-unsent"
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    broken = EvidenceSink(LocalFolderStore(folder), signer)
    total = len(plan["batches"])

    def block_after_last(item: BatchReport, done: int, count: int) -> None:
        if done == total:  # the store's folder becomes a file: the put fails
            folder.rmdir() if folder.exists() else None
            folder.write_text("not a folder", encoding="utf-8")

    target.apply_error(plan, ApplyOptions(evidence=lambda: broken, on_batch=block_after_last))
    assert len(list(unsent.glob("*.json"))) == 1
    folder.unlink()
    result = target.cli_inprocess("apply", str(target.plan_file(plan)), "--dsn",
                                  target.apply_dsn, "--evidence", f"file://{folder}")
    assert result.code == 0, result.text
    assert list(unsent.glob("*.json")) == []
    assert target.scalar("SELECT count(*) FROM seedc.evidence WHERE status <> 'stored'") == 0
    assert [p.name for p in folder.glob("*.json")] != []


def _publish_many(dsn: str, store_factory: Any, signer: Any, count: int,
                  errors: list[BaseException]) -> None:
    try:
        store = store_factory()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(count):
                run = {"run_id": str(uuid.uuid4()), "plan_hash": "sha256:" + "0" * 64,
                       "tenant": "acme", "environment": "dev", "mode": "baseline",
                       "dry_run": False, "status": "succeeded", "rows_written": 0,
                       "seconds": 0, "checks": [], "batches": []}
                publish_evidence(run, {"batches": []}, store=store, signer=signer, conn=conn,
                                 seedc_version=__version__, key_version=1,
                                 fallback_dir=Path(os.devnull))
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def test_two_concurrent_publishers_to_s3_make_one_linear_chain(
        target: Target, moto_s3: MotoServer) -> None:
    moto_s3.s3_client().create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)

    def store() -> S3WormStore:
        return S3WormStore("evidence", "dev", environment="dev", client=moto_s3.s3_client())

    errors: list[BaseException] = []
    threads = [threading.Thread(target=_publish_many,
                                args=(target.apply_dsn, store, signer, 6, errors))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    entries = list(store().entries())
    assert len(entries) == 12
    head = target.scalar("SELECT head_sha256 FROM seedc.evidence_chain WHERE environment = 'dev'")
    walk = walk_chain(entries, signer, head)
    assert walk.broken_at is None, walk.problems
    assert walk.links == 12
    previous = [json.loads(data)["report"]["previous_sha256"] for _, data in entries]
    assert len(set(previous)) == 12  # no two reports chain to the same predecessor: no fork


@pytest.fixture
def chained_folder(target: Target) -> tuple[Path, list[str]]:
    folder = target.tmp / "chain"
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    errors: list[BaseException] = []
    _publish_many(target.apply_dsn, lambda: LocalFolderStore(folder), signer, 4, errors)
    assert errors == []
    return folder, sorted(p.name for p in folder.glob("*.json"))


def _verify_chain(target: Target, folder: Path) -> Any:
    return target.cli_inprocess("evidence", "verify", "--chain", "--environment", "dev",
                                "--evidence", f"file://{folder}", "--dsn", target.apply_dsn,
                                "--env-file", str(target.env_file), "--json")


def test_verify_chain_passes_on_an_intact_folder(
        target: Target, chained_folder: tuple[Path, list[str]]) -> None:
    folder, _ = chained_folder
    result = _verify_chain(target, folder)
    assert result.code == 0, result.text
    assert json.loads(result.out) == {"environment": "dev", "links": 4, "intact": True,
                                      "broken_at": None, "problems": []}


def test_verify_chain_finds_an_altered_link(
        target: Target, chained_folder: tuple[Path, list[str]]) -> None:
    folder, names = chained_folder
    victim = folder / names[1]
    envelope = json.loads(victim.read_bytes())
    envelope["report"]["status"] = "failed"
    victim.chmod(0o644)
    victim.write_bytes(json.dumps(envelope).encode())
    result = _verify_chain(target, folder)
    assert result.code == 1, result.text
    verdict = json.loads(result.out)
    assert verdict["broken_at"] == names[1]
    assert verdict["links"] == 1
    assert "broken at " + names[1] in result.err


def test_verify_chain_finds_a_deleted_link(
        target: Target, chained_folder: tuple[Path, list[str]]) -> None:
    folder, names = chained_folder
    (folder / names[2]).unlink()
    result = _verify_chain(target, folder)
    assert result.code == 1, result.text
    assert json.loads(result.out)["broken_at"] == names[3]


def test_verify_chain_finds_the_newest_link_deleted_through_the_index_head(
        target: Target, chained_folder: tuple[Path, list[str]]) -> None:
    folder, names = chained_folder
    (folder / names[-1]).unlink()
    result = _verify_chain(target, folder)
    assert result.code == 1, result.text
    assert json.loads(result.out)["broken_at"] == "<head>"


def test_a_chain_head_that_cannot_be_taken_keeps_the_report_unsent(
        target: Target, tmp_path: Path) -> None:
    target.execute("DROP TABLE seedc.evidence_chain")  # a control schema gone wrong
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    folder, unsent = tmp_path / "store", tmp_path / "unsent"
    run = {"run_id": str(uuid.uuid4()), "plan_hash": "sha256:" + "0" * 64, "tenant": "acme",
           "environment": "dev", "mode": "baseline", "dry_run": False, "status": "succeeded",
           "rows_written": 0, "seconds": 0, "checks": [], "batches": []}
    with psycopg.connect(target.apply_dsn, autocommit=True) as conn, \
            pytest.raises(RuntimeFailure) as info:
        publish_evidence(run, {"batches": []}, store=LocalFolderStore(folder), signer=signer,
                         conn=conn, seedc_version=__version__, key_version=1,
                         fallback_dir=unsent)
    assert "chain head of 'dev' could not be taken" in info.value.render()
    assert [p.name for p in folder.glob("*.json")] == []
    [kept] = unsent.glob("*.json")
    assert json.loads(kept.read_bytes())["report"]["run_id"] == run["run_id"]
    assert target.scalar("SELECT status FROM seedc.evidence WHERE run_id = %s",
                         (run["run_id"],)) == "upload_failed"


def test_two_concurrent_applies_publishing_to_s3_chain_one_after_the_other(
        target: Target, plan: dict[str, Any], moto_s3: MotoServer) -> None:
    """Two `seedc apply` processes at once (two tenants), one S3 store: one chain."""
    from seedc.compiler.pipeline import compile_manifest
    from tests.manifests import REPO
    from tests.runtime_support import start_cli

    globex = compile_manifest(REPO / "manifests" / "dev" / "globex.yaml")
    moto_s3.s3_client().create_bucket(Bucket="evidence", ObjectLockEnabledForBucket=True)
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    env: dict[str, str | None] = {
        "SEEDC_EVIDENCE_URI": "s3://evidence/dev", "AWS_ENDPOINT_URL": moto_s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "SEEDC_LOG_LEVEL": "ERROR"}
    paths = [str(target.plan_file(p, f"{p['tenant']}.plan.json")) for p in (plan, globex)]
    with start_cli(["apply", paths[0], "--dsn", target.apply_dsn], target.tmp, env) as a, \
            start_cli(["apply", paths[1], "--dsn", target.apply_dsn], target.tmp, env) as b:
        results = [a.finish(), b.finish()]
    assert [r.code for r in results] == [0, 0], [r.text for r in results]
    store = S3WormStore("evidence", "dev", environment="dev", client=moto_s3.s3_client())
    entries = list(store.entries())
    head = target.scalar("SELECT head_sha256 FROM seedc.evidence_chain WHERE environment = 'dev'")
    walk = walk_chain(entries, signer, head)
    assert walk.broken_at is None, walk.problems
    assert walk.links == 2
    assert json.loads(entries[0][1])["report"]["previous_sha256"] is None
    assert {json.loads(d)["report"]["tenant"] for _, d in entries} == {"acme", "globex"}


def test_flush_refuses_an_unusable_store_and_keeps_the_report(
        target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(target.tmp)
    monkeypatch.delenv("SEEDC_EVIDENCE_URI", raising=False)
    signer = LocalDevSigner.from_env_file(target.env_file, create=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    unsent = target.tmp / ".seedc" / "evidence-unsent"
    run = {"run_id": str(uuid.uuid4()), "plan_hash": "sha256:" + "0" * 64, "tenant": "acme",
           "environment": "dev", "mode": "baseline", "dry_run": False, "status": "succeeded",
           "rows_written": 0, "seconds": 0, "checks": [], "batches": []}
    with psycopg.connect(target.apply_dsn, autocommit=True) as conn, \
            pytest.raises(RuntimeFailure):
        publish_evidence(run, {"batches": []}, store=LocalFolderStore(blocker), signer=signer,
                         conn=conn, seedc_version=__version__, key_version=1,
                         fallback_dir=unsent)
    [kept] = unsent.glob("*.json")
    base = ["evidence", "flush", "--environment", "dev", "--dsn", target.apply_dsn,
            "--env-file", str(target.env_file)]
    refused = target.cli_inprocess(*base, "--evidence", f"file://{blocker}")
    assert refused.code == 3, refused.text
    assert "is a file, expected a folder" in refused.err
    unconfigured = target.cli_inprocess(*base)
    assert unconfigured.code == 2, unconfigured.text
    assert "no evidence store configured" in unconfigured.err
    assert kept.exists()
    assert target.scalar("SELECT status FROM seedc.evidence WHERE run_id = %s",
                         (run["run_id"],)) == "upload_failed"
