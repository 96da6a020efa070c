"""Telemetry (seeds session 4): spans and metrics on in-memory exporters, W3C traceparent
correlation, JSON logs with run context, mandatory PII redaction, zero cost when off."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import structlog
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seedc.errors import GuardRefused
from seedc.runtime.apply import BatchReport, RunReport
from seedc.runtime.preflight import CheckResult
from seedc.runtime.telemetry import (
    bind_run,
    configure_logging,
    current_trace_ids,
    get_logger,
    redact,
    redact_text,
    setup_telemetry,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

RUN_ID = "0f3c9a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f"
PLAN_HASH = "sha256:a3408be8bb875f3922059157a4c606f74db5d59a936b1bf94bf784d48812f621"
KEY = bytes(range(1, 33))  # a 32-byte key

PII = {
    "cpf_punctuated": "123.456.789-09",
    "cpf_digits": "12345678909",
    "cnpj_punctuated": "12.345.678/0001-95",
    "cnpj_digits": "12345678000195",
    "cnpj_alnum": "12.ABC.345/01DE-35",
    "cnpj_alnum_compact": "12ABC34501DE35",
    "email": "maria.souza+seeds@example.com.br",
    "phone": "+55 11 91234-5678",
    "phone_compact": "+5511912345678",
    "key_hex": KEY.hex(),
    "key_base64": base64.b64encode(KEY).decode(),
    "key_base64url": base64.urlsafe_b64encode(KEY).decode().rstrip("="),
    "vault_token": "hvs.CAESIJ3kOjQjv0fFyvnJYk1Ttz3rB8Vvq0s2rLkW7x9fz8lZGh4KHGh2cy5ZWWJ0M3g",
    "vault_legacy": "s.Q1w2E3r4T5y6U7i8O9p0AaSs",
    "password": "correct-horse-battery",
}


def _plan_batch(n: int) -> dict[str, Any]:
    """A plan batch as compiled: inline rows (placeholders and all) under "rows"."""
    return {"id": f"0002-customers-000{n}", "entity": "customers", "row_count": 10 * n,
            "rows": [[RUN_ID, "acme", PII["cpf_digits"]]] * (10 * n)}


def _report(dry_run: bool = False) -> RunReport:
    return RunReport(RUN_ID, PLAN_HASH, "acme", "dev", "baseline", dry_run)


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's OTEL_* and W3C variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("OTEL_") or name in ("TRACEPARENT", "TRACESTATE"):
            monkeypatch.delenv(name)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Logs configured as JSON into a string; structlog and the root logger restored after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    yield stream
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _simulate_run(tel: Any, report: RunReport, checks: list[CheckResult]) -> dict[str, Any]:
    """The calls apply_plan makes: run → preflight → checks → batches."""
    seen: dict[str, Any] = {}
    with tel.run_span(report):
        seen["run_ids"] = current_trace_ids()
        with tel.preflight_span():
            tel.record_checks(checks)
        for n in (1, 2):
            batch = _plan_batch(n)
            with tel.batch_span(batch, report):
                seen[f"batch{n}_ids"] = current_trace_ids()
                tel.record_batch(batch["row_count"], 0.1 * n, n - 1, entity=batch["entity"],
                                 status="written")
                report.batches.append(BatchReport(batch["id"], batch["entity"],
                                                  batch["row_count"], "written", n - 1))
                report.rows_written += batch["row_count"]
        report.status = "succeeded"
    return seen


CHECKS = [
    CheckResult("role", "least-privilege role", True, "role seedc_apply"),
    CheckResult("rls", "forced RLS on every table", True, "12 tables"),
    CheckResult("window", "apply window (session 17)", False, "outside 22:00-06:00 UTC"),
]


def test_run_span_tree_follows_traceparent(monkeypatch: pytest.MonkeyPatch,
                                           exporter: InMemorySpanExporter) -> None:
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    monkeypatch.setenv("TRACESTATE", TRACESTATE)
    tel = setup_telemetry(span_exporter=exporter)
    assert tel.enabled

    seen = _simulate_run(tel, _report(), CHECKS)
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    assert {k: len(v) for k, v in by_name.items()} == {
        "seedc.run": 1, "seedc.preflight": 1, "seedc.check": 3, "seedc.batch": 2}

    (run,) = by_name["seedc.run"]
    (preflight,) = by_name["seedc.preflight"]
    assert run.context is not None
    assert run.parent is not None
    assert f"{run.context.trace_id:032x}" == TRACE_ID
    assert f"{run.parent.span_id:016x}" == PARENT_SPAN_ID
    assert run.parent.is_remote
    assert run.context.trace_state.get("congo") == "t61rcWkgMzE"
    assert seen["run_ids"] == (TRACE_ID, f"{run.context.span_id:016x}")
    assert all(f"{s.context.trace_id:032x}" == TRACE_ID for s in spans if s.context)
    assert run.attributes is not None
    assert run.attributes["seedc.status"] == "succeeded"
    assert run.attributes["seedc.rows_written"] == 30
    assert run.attributes["seedc.plan_hash"] == PLAN_HASH

    assert preflight.parent is not None
    assert preflight.parent.span_id == run.context.span_id
    assert preflight.context is not None
    checks = by_name["seedc.check"]
    assert all(c.parent is not None and c.parent.span_id == preflight.context.span_id
               for c in checks)
    assert [(c.attributes or {})["seedc.check.name"] for c in checks] == ["role", "rls", "window"]
    assert [c.status.is_ok for c in checks] == [True, True, False]

    batches = sorted(by_name["seedc.batch"], key=lambda s: s.start_time or 0)
    for n, span in enumerate(batches, start=1):
        attrs = span.attributes or {}
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert span.context is not None
        assert seen[f"batch{n}_ids"] == (TRACE_ID, f"{span.context.span_id:016x}")
        assert attrs["seedc.tenant"] == "acme"
        assert attrs["seedc.environment"] == "dev"
        assert attrs["seedc.run_id"] == RUN_ID
        assert attrs["seedc.mode"] == "baseline"
        assert attrs["seedc.dry_run"] is False
        assert attrs["seedc.batch.id"] == f"0002-customers-000{n}"
        assert attrs["seedc.batch.entity"] == "customers"
        assert attrs["seedc.batch.rows"] == 10 * n
        assert attrs["seedc.batch.retries"] == n - 1
        assert attrs["seedc.batch.status"] == "written"
    assert PII["cpf_digits"] not in repr([dict(s.attributes or {}) for s in spans])
    assert current_trace_ids() == (None, None)  # outside every span again
    tel.shutdown()


def test_run_without_traceparent_starts_a_new_trace(monkeypatch: pytest.MonkeyPatch,
                                                    exporter: InMemorySpanExporter) -> None:
    monkeypatch.delenv("TRACEPARENT", raising=False)
    tel = setup_telemetry(span_exporter=exporter)
    with tel.run_span(_report()):
        trace_id, span_id = current_trace_ids()
    (run,) = exporter.get_finished_spans()
    assert run.parent is None
    assert run.context is not None
    assert trace_id == f"{run.context.trace_id:032x}" != TRACE_ID
    assert span_id == f"{run.context.span_id:016x}"


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:
        assert rm.resource.attributes["service.name"] == "seedc"
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def test_metrics_rows_retries_and_batch_duration(exporter: InMemorySpanExporter,
                                                 reader: InMemoryMetricReader) -> None:
    tel = setup_telemetry(span_exporter=exporter, metric_reader=reader)
    _simulate_run(tel, _report(), CHECKS)
    points = _points(reader)

    (rows,) = points["seedc.rows.written"]
    assert rows.value == 30
    assert dict(rows.attributes) == {"seedc.tenant": "acme", "seedc.environment": "dev",
                                     "seedc.mode": "baseline", "seedc.dry_run": False,
                                     "seedc.batch.entity": "customers"}  # no run id: cardinality
    (retries,) = points["seedc.batch.retries"]
    assert retries.value == 1
    (duration,) = points["seedc.batch.duration"]
    assert duration.count == 2
    assert duration.sum == pytest.approx(0.3)
    assert duration.min == pytest.approx(0.1)
    assert duration.max == pytest.approx(0.2)
    assert "seedc.failures" not in points
    tel.shutdown()


def _refused_run(tel: Any, report: RunReport) -> None:
    with tel.run_span(report), tel.preflight_span():
        try:
            raise GuardRefused(f"duplicate key: Key (cpf)=({PII['cpf_digits']}) already exists",
                               rule="fail-closed preflight")
        except GuardRefused:
            report.status = "refused"  # as apply_plan's except block does
            raise


def test_failed_run_counts_a_failure_and_marks_the_span(exporter: InMemorySpanExporter,
                                                        reader: InMemoryMetricReader) -> None:
    tel = setup_telemetry(span_exporter=exporter, metric_reader=reader)
    report = _report()
    with pytest.raises(GuardRefused):
        _refused_run(tel, report)
    preflight, run = exporter.get_finished_spans()
    assert not run.status.is_ok
    assert not preflight.status.is_ok
    assert (run.attributes or {})["seedc.status"] == "refused"
    for span in (preflight, run):
        (event,) = span.events
        assert event.name == "exception"
        attrs = event.attributes or {}
        assert attrs["exception.type"] == "seedc.errors.GuardRefused"
        assert attrs["exception.message"] == (
            "duplicate key: Key (cpf)=([REDACTED:cpf]) already exists")
        assert PII["cpf_digits"] not in str(attrs["exception.stacktrace"])
        assert PII["cpf_digits"] not in (span.status.description or "")
    (failure,) = _points(reader)["seedc.failures"]
    assert failure.value == 1
    assert failure.attributes["seedc.outcome"] == "refused"
    assert failure.attributes["error.type"] == "GuardRefused"


def test_logs_redact_pii_and_secrets(log_stream: io.StringIO) -> None:
    log = get_logger()
    with bind_run(RUN_ID, "acme", "dev", "baseline", dry_run=True):
        log.info("customer.seeded", cpf=PII["cpf_punctuated"], cpf_raw=int(PII["cpf_digits"]),
                 cnpj=PII["cnpj_punctuated"], company=[PII["cnpj_digits"], PII["cnpj_alnum"]],
                 contact={"email": PII["email"], "phones": (PII["phone"], PII["phone_compact"])},
                 plan_hash=PLAN_HASH, customer_id=RUN_ID)
        log.info(f"key material {PII['key_hex']} / {PII['key_base64']}",
                 blob=PII["key_base64url"], fpe_key=KEY, password=PII["password"],
                 headers={"Authorization": f"Bearer {PII['vault_token']}"},
                 vault=f"token {PII['vault_token']} legacy {PII['vault_legacy']}",
                 dsn=f"postgresql://seedc:{PII['password']}@db/seed",
                 note=f"CNPJ {PII['cnpj_alnum_compact']} CPF {PII['cpf_digits']}")
        try:
            raise ValueError(f"bad row for {PII['email']} with cpf {PII['cpf_punctuated']}")
        except ValueError:
            log.exception("row.rejected")
        # Other libraries log through the standard library: same chain, same redaction.
        logging.getLogger("psycopg").warning("connection to %s failed", PII["email"])

    out = log_stream.getvalue()
    for name, value in PII.items():
        assert value not in out, name
    assert PII["cpf_digits"] not in out
    assert "hunter" not in out
    lines = _lines(log_stream)
    assert len(lines) == 4
    first, second, third, fourth = lines
    assert first["cpf"] == "[REDACTED:cpf]"
    assert first["cpf_raw"] == "[REDACTED:cpf]"
    assert first["cnpj"] == "[REDACTED:cnpj]"
    assert first["company"] == ["[REDACTED:cnpj]", "[REDACTED:cnpj]"]
    assert first["contact"] == {"email": "[REDACTED:email]",
                                "phones": ["[REDACTED:phone]", "[REDACTED:phone]"]}
    assert first["plan_hash"] == PLAN_HASH
    assert first["customer_id"] == RUN_ID
    assert second["event"] == "key material [REDACTED:hex] / [REDACTED:base64]"
    assert second["blob"] == "[REDACTED:base64]"
    assert second["fpe_key"] == "[REDACTED:key]"
    assert second["password"] == "[REDACTED:password]"
    assert second["headers"] == {"Authorization": "[REDACTED:authorization]"}
    assert second["vault"] == "token [REDACTED:vault_token] legacy [REDACTED:vault_token]"
    assert second["dsn"] == "postgresql://seedc:[REDACTED:password]@db/seed"
    assert second["note"] == "CNPJ [REDACTED:cnpj] CPF [REDACTED:cpf]"
    assert "ValueError: bad row for [REDACTED:email] with cpf [REDACTED:cpf]" in third["exception"]
    assert fourth["event"] == "connection to [REDACTED:email] failed"
    assert fourth["logger"] == "psycopg"
    assert fourth["level"] == "warning"
    for line in lines:
        assert (line["run_id"], line["tenant"], line["environment"], line["mode"],
                line["dry_run"]) == (RUN_ID, "acme", "dev", "baseline", True)


@pytest.mark.parametrize("text", [
    PLAN_HASH,
    RUN_ID,
    RUN_ID.upper(),
    "batch 0001-transactions-0012 wrote 10000 rows in 1.234567 s",
    "psycopg.errors.SerializationFailure: could not serialize access",
    "key version 1 from vault:seedc/dev/acme/fpe",
    "2025-01-01T00:00:00Z window 22:00-06:00 budget 60 s",
    "GuardRefused: preflight refused the run (2 check(s) failed) [fail-closed preflight]",
])
def test_redaction_keeps_ids_hashes_and_plain_text(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(("text", "kind"), [
    ("123.456.789-09", "cpf"), ("12345678909", "cpf"),
    ("12.345.678/0001-95", "cnpj"), ("12345678000195", "cnpj"),
    ("12.ABC.345/01DE-35", "cnpj"), ("12ABC34501DE35", "cnpj"),
    ("ana@example.org", "email"), ("+55 (21) 3456-7890", "phone"),
    ("(11) 91234-5678", "phone"), ("5511912345678", "phone"),
    ("f" * 32, "hex"), ("0x" + "AB" * 16, "hex"),
    (base64.b64encode(bytes(range(16))).decode(), "base64"),
    ("hvb.AAAAAQJzZ2V0LWxvbmctYmF0Y2gtdG9rZW4", "vault_token"),
    ("b.AAAAAQKlongbatchtokenvalue", "vault_token"),
])
def test_redaction_kinds(text: str, kind: str) -> None:
    assert redact_text(f"value: {text}.") == f"value: [REDACTED:{kind}]."


def test_redaction_is_precise_about_digests() -> None:
    digest = "ab" * 32
    assert redact_text(f"sha256:{digest}") == f"sha256:{digest}"  # a plan hash
    assert redact_text(f"sha256:{digest}c") == "sha256:[REDACTED:hex]"  # not 64 hex
    assert redact_text(f"chain {digest}") == "chain [REDACTED:hex]"  # bare: may be a key
    assert redact_text(RUN_ID.replace("-", "")) == "[REDACTED:hex]"  # 128 bits, no dashes


def test_redaction_by_key_name() -> None:
    event = {"api_key": "abc", "clientSecret": "abc", "vault_token": "abc", "db_password": 7,
             "authorization": "Basic abc", "key": RUN_ID, "key_source": "vault:seedc/dev/acme/fpe",
             "key_version": 3, "nested": [{"token": {"a": 1}}], "token_expired": False}
    assert redact(event) == {
        "api_key": "[REDACTED:key]", "clientSecret": "[REDACTED:secret]",
        "vault_token": "[REDACTED:token]", "db_password": "[REDACTED:password]",
        "authorization": "[REDACTED:authorization]", "key": "[REDACTED:key]",
        "key_source": "vault:seedc/dev/acme/fpe", "key_version": 3,
        "nested": [{"token": "[REDACTED:token]"}], "token_expired": False}


def test_logs_carry_batch_and_trace_ids(log_stream: io.StringIO,
                                        exporter: InMemorySpanExporter) -> None:
    tel = setup_telemetry(span_exporter=exporter)
    log = get_logger()
    report = _report()
    with tel.run_span(report):
        log.info("run.start")
        with tel.batch_span(_plan_batch(1), report):
            log.info("batch.written", rows=10)
    log.info("after.run")
    start, written, after = _lines(log_stream)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    run_ctx, batch_ctx = spans["seedc.run"].context, spans["seedc.batch"].context
    assert (spans["seedc.batch"].attributes or {})["seedc.batch.rows"] == 10  # not inline rows
    assert run_ctx is not None
    assert batch_ctx is not None
    assert start["trace_id"] == f"{run_ctx.trace_id:032x}"
    assert start["span_id"] == f"{run_ctx.span_id:016x}"
    assert "batch" not in start
    assert start["dry_run"] is False
    assert written["batch"] == "0002-customers-0001"
    assert written["rows"] == 10
    assert written["span_id"] == f"{batch_ctx.span_id:016x}"
    assert written["run_id"] == RUN_ID
    assert written["tenant"] == "acme"
    assert after["event"] == "after.run"
    assert not {"run_id", "batch", "trace_id", "span_id"} & after.keys()
    assert {"timestamp", "level"} <= after.keys()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_on_pipes_console_on_terminals(log_stream: io.StringIO) -> None:
    pipe, tty = io.StringIO(), _Terminal()
    configure_logging(stream=pipe)
    get_logger().info("plan.applied", cpf=PII["cpf_digits"])
    configure_logging(stream=tty)
    get_logger().info("plan.applied", cpf=PII["cpf_digits"])
    assert json.loads(pipe.getvalue())["cpf"] == "[REDACTED:cpf]"
    text = tty.getvalue()
    assert "plan.applied" in text
    assert "[REDACTED:cpf]" in text
    assert PII["cpf_digits"] not in text
    assert not text.lstrip().startswith("{")


def test_get_logger_insists_on_redaction(log_stream: io.StringIO) -> None:
    structlog.reset_defaults()  # someone dropped our chain
    cap = io.StringIO()
    structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=cap))
    configured = get_logger()  # puts the redaction chain back (on stderr)
    assert "redact_event" in repr(structlog.get_config()["processors"])
    assert configured is not None


def test_environment_switches_telemetry(capsys: pytest.CaptureFixture[str]) -> None:
    assert not setup_telemetry(environ={}).enabled
    assert not setup_telemetry(environ={"OTEL_TRACES_EXPORTER": "none"}).enabled
    assert not setup_telemetry(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                                        "OTEL_SDK_DISABLED": "true"}).enabled
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_SERVICE_NAME": "seedc-ci", "TRACEPARENT": TRACEPARENT}
    tel = setup_telemetry(environ=env)
    assert tel.enabled
    with tel.run_span(_report()):
        pass
    tel.shutdown()
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is for --json reports
    assert '"name": "seedc.run"' in captured.err
    assert TRACE_ID in captured.err
    assert '"service.name": "seedc-ci"' in captured.err



class RegisteredExporter(InMemorySpanExporter):
    """An exporter an installed package registers for the SDK (entry point group
    opentelemetry_traces_exporter); instances share one list so the test can read it."""

    finished: ClassVar[list[ReadableSpan]] = []

    def export(self, spans: Any) -> Any:
        RegisteredExporter.finished.extend(spans)
        return super().export(spans)


def test_exporters_are_the_sdk_registered_plugins(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """OTEL_TRACES_EXPORTER names an entry point, as for the SDK's own configurator: any
    installed exporter works by its name, an unknown one is ignored with a warning."""
    info = tmp_path / "site" / "seedc_test_exporter-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seedc-test-exporter\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[opentelemetry_traces_exporter]\n"
        "seedc_test_memory = tests.test_telemetry:RegisteredExporter\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    RegisteredExporter.finished.clear()
    with caplog.at_level(logging.WARNING, logger="seedc.telemetry"):
        tel = setup_telemetry(environ={"OTEL_TRACES_EXPORTER": "seedc_test_memory,nosuch",
                                       "OTEL_METRICS_EXPORTER": "none"})
    assert tel.enabled
    with tel.run_span(_report()):
        pass
    tel.shutdown()
    assert [s.name for s in RegisteredExporter.finished] == ["seedc.run"]
    assert "OTEL_TRACES_EXPORTER=nosuch: no exporter registered under that name" in caplog.text
    assert "seedc_test_memory" in caplog.text  # the installed names are listed


DISABLED_SCRIPT = """
import sys
from seedc.runtime.telemetry import current_trace_ids, get_logger, setup_telemetry

tel = setup_telemetry()
assert not tel.enabled
report = {"run_id": "r", "tenant": "acme", "environment": "dev", "mode": "baseline",
          "dry_run": True}
with tel.run_span(report) as run:
    assert not run.is_recording()
    run.set_attribute("x", 1)
    with tel.preflight_span() as pre:
        assert not pre.is_recording()
    tel.record_checks([{"name": "rls", "rule": "r", "ok": False, "detail": "d"}])
    with tel.batch_span({"id": "b1", "entity": "customers", "row_count": 3}, report) as b:
        assert b is run  # one shared no-op span
        tel.record_batch(3, 0.01, 1)
        get_logger().info("batch.written", rows=3)
    tel.record_failure("failed")
    assert current_trace_ids() == (None, None)
tel.shutdown()
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
assert not loaded, loaded
print("ok")
"""


def test_disabled_telemetry_imports_no_sdk() -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k not in ("TRACEPARENT", "TRACESTATE")}
    result = subprocess.run([sys.executable, "-c", DISABLED_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    line = json.loads(result.stderr)
    assert line["event"] == "batch.written"
    assert line["batch"] == "b1"
    assert line["dry_run"] is True
    assert "trace_id" not in line


class _Collector(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP receiver: keeps (path, headers, body) of every POST."""

    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_otlp_export_configured_by_otel_variables(
        monkeypatch: pytest.MonkeyPatch,
        collector: tuple[str, list[tuple[str, dict[str, str], bytes]]]) -> None:
    endpoint, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-scope=seeds")
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    tel = setup_telemetry()
    assert tel.enabled
    _simulate_run(tel, _report(), CHECKS)
    tel.shutdown()

    by_path: dict[str, list[tuple[dict[str, str], bytes]]] = {}
    for path, headers, body in received:
        by_path.setdefault(path, []).append((headers, body))
    assert set(by_path) == {"/v1/traces", "/v1/metrics"}
    assert all(h.get("x-scope") == "seeds" for h, _ in by_path["/v1/traces"])
    spans = []
    for _, body in by_path["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        spans += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans) == [
        "seedc.batch", "seedc.batch", "seedc.check", "seedc.check", "seedc.check",
        "seedc.preflight", "seedc.run"]
    assert {s.trace_id.hex() for s in spans} == {TRACE_ID}
    metrics = set()
    for _, body in by_path["/v1/metrics"]:
        request = ExportMetricsServiceRequest.FromString(body)
        metrics |= {m.name for rm in request.resource_metrics for sm in rm.scope_metrics
                    for m in sm.metrics}
    assert {"seedc.rows.written", "seedc.batch.retries", "seedc.batch.duration"} <= metrics
