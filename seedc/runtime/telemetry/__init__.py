"""Telemetry: structlog JSON logs with mandatory PII redaction, OpenTelemetry traces and metrics.

Logs go to stderr, one JSON object a line when stderr is not a terminal (readable console lines
when it is). Every line passes the redaction processor, which replaces CPF, CNPJ (numeric and
alphanumeric), e-mail addresses, Brazilian phone numbers, long hex strings, base64 blobs of key
length, Vault tokens, JWTs, bearer credentials, DSN passwords, and every value under a key named
like a key/secret/token/password/authorization with ``[REDACTED:<kind>]``. UUIDs and plan hashes
(``sha256:`` + 64 hex) are kept. Run context (run id, tenant, environment, mode, dry_run), the
batch id and the current trace/span ids are added to every line.

OpenTelemetry is off by default and then costs nothing: no ``opentelemetry`` module is imported
and every span is a shared no-op object. It is on when ``OTEL_TRACES_EXPORTER`` (other than
``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set
(unless ``OTEL_SDK_DISABLED=true``), or when an exporter/reader is passed explicitly. The
exporters read the standard ``OTEL_*`` variables (endpoint, headers, timeout, service name,
resource attributes). A W3C ``TRACEPARENT``/``TRACESTATE`` pair in the environment (as Argo and
other pipelines pass them) makes the run span a child of the pipeline's trace.

Usage in ``apply_plan`` (a few lines)::

    from seedc.runtime.telemetry import current_trace_ids, get_logger, setup_telemetry

    tel = setup_telemetry()              # reads OTEL_*; a no-op object when off
    log = get_logger()
    with tel.run_span(report):           # also binds run_id/tenant/environment/mode/dry_run
        log.info("run.start", plan_hash=report.plan_hash)
        with tel.preflight_span():
            report.checks = run_preflight(control, plan)
            tel.record_checks(report.checks)          # one child span per check
        for batch in plan["batches"]:
            with tel.batch_span(batch, report):       # also binds batch=<id> in the logs
                ...                                   # write the batch
                tel.record_batch(rows, seconds, retries, entity=batch["entity"])
                log.info("batch.written", rows=rows, retries=retries)
        evidence["trace_id"], evidence["span_id"] = current_trace_ids()  # the run span's
    tel.shutdown()                       # flush exporters (also done at interpreter exit)

``configure_logging()`` is called lazily by ``get_logger()``; call it yourself (e.g. in the CLI)
to force JSON or console rendering or another level. Values logged as bare 64-hex digests (such
as ``chain_hash``) are indistinguishable from keys and are redacted: log them as ``sha256:<hex>``.
"""

from seedc.runtime.telemetry.logs import (
    LogContext,
    add_trace_context,
    bind_batch,
    bind_run,
    configure_logging,
    current_trace_ids,
    get_logger,
)
from seedc.runtime.telemetry.redaction import redact, redact_event, redact_text
from seedc.runtime.telemetry.tracing import SpanLike, Telemetry, setup_telemetry

__all__ = [
    "LogContext",
    "SpanLike",
    "Telemetry",
    "add_trace_context",
    "bind_batch",
    "bind_run",
    "configure_logging",
    "current_trace_ids",
    "get_logger",
    "redact",
    "redact_event",
    "redact_text",
    "setup_telemetry",
]
