"""OpenTelemetry traces and metrics: off by default (no SDK import), on with OTEL_*."""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span as OtelSpan


from seedc.runtime.telemetry.logs import bind_batch, bind_run
from seedc.runtime.telemetry.redaction import redact, redact_text

__all__ = [
    "SpanLike",
    "Telemetry",
    "setup_telemetry",
]

_log = logging.getLogger("seedc.telemetry")

# --------------------------------------------------------------------------------------------
# OpenTelemetry
# --------------------------------------------------------------------------------------------


class SpanLike(Protocol):
    """What the span helpers yield: an OpenTelemetry span, or a no-op one when off."""

    def set_attribute(self, key: str, value: Any) -> None: ...

    def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None: ...

    def is_recording(self) -> bool: ...


class _NullSpan:
    __slots__ = ()

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        pass

    def is_recording(self) -> bool:
        return False


_NULL_SPAN = _NullSpan()

# The run's attributes, copied onto every span and metric point of the run.
_RUN_ATTRS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "seedc_run_attrs", default=None)


def _get(obj: Any, *names: str) -> Any:
    """First present field of a mapping or attribute of an object (plan dict or report)."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return None


def _row_count(batch: Any) -> int | None:
    """Planned rows of a plan batch (``row_count``; its ``rows`` is the inline data) or the
    rows of a BatchReport (``rows``)."""
    for name in ("row_count", "rows"):
        value = _get(batch, name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes: None dropped, strings redacted like log values, other non-scalar
    values rendered and redacted (spans are exported: the same PII rule holds)."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            out[key] = value
        else:
            cleaned = redact(value, key=key)
            out[key] = cleaned if isinstance(cleaned, str | int | float) else redact_text(
                str(cleaned))
    return out


def _run_attributes(run: Any) -> dict[str, Any]:
    attrs = {
        "seedc.run_id": _get(run, "run_id"),
        "seedc.tenant": _get(run, "tenant"),
        "seedc.environment": _get(run, "environment"),
        "seedc.mode": _get(run, "mode"),
        "seedc.dry_run": bool(_get(run, "dry_run")),
        "seedc.plan_hash": _get(run, "plan_hash"),
    }
    return _clean_attributes(attrs)


def _metric_attributes(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Low-cardinality attributes for metrics: never the run id or the plan hash."""
    run = _RUN_ATTRS.get() or {}
    attrs = {k: v for k, v in run.items() if k not in ("seedc.run_id", "seedc.plan_hash")}
    if extra:
        attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


class Telemetry:
    """Spans and metrics for one process. This base class is the zero-cost disabled form:
    spans are a shared no-op object and metrics are dropped; log context is still bound."""

    enabled = False

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    # -- spans -------------------------------------------------------------------------------

    @contextmanager
    def run_span(self, run: Any, *, carrier: Mapping[str, str] | None = None
                 ) -> Iterator[SpanLike]:
        """The run: binds run_id/tenant/environment/mode/dry_run into the logs and, when on,
        opens the ``seedc.run`` span as a child of ``TRACEPARENT``/``TRACESTATE`` (or of the
        given W3C ``carrier``). ``run`` is a RunReport or any object/mapping with run_id,
        tenant, environment, mode, dry_run (plan_hash, status and rows_written optional)."""
        attrs = _run_attributes(run)
        token = _RUN_ATTRS.set(attrs)
        try:
            with bind_run(_get(run, "run_id"), _get(run, "tenant"), _get(run, "environment"),
                          _get(run, "mode"), bool(_get(run, "dry_run"))), \
                    self._run(run, attrs, carrier) as span:
                yield span
        finally:
            _RUN_ATTRS.reset(token)

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[SpanLike]:
        """A child span named ``name`` with the run's attributes plus ``attributes``."""
        with self._span(name, attributes) as span:
            yield span

    def preflight_span(self) -> AbstractContextManager[SpanLike]:
        """``seedc.preflight``: wraps the whole preflight."""
        return self.span("seedc.preflight")

    def record_check(self, check: Any) -> None:
        """One ``seedc.check`` span for a finished check (a CheckResult: name, rule, ok,
        detail); a failed check sets the span status to ERROR."""

    def record_checks(self, checks: Any) -> None:
        """:meth:`record_check` for each of ``checks``."""
        for check in checks:
            self.record_check(check)

    @contextmanager
    def batch_span(self, batch: Any, report: Any = None) -> Iterator[SpanLike]:
        """``seedc.batch`` for one batch (a plan batch dict or a BatchReport) with
        ``seedc.batch.id``, ``.entity`` and ``.rows``; binds ``batch=<id>`` into the logs.
        ``report`` (the RunReport) is optional: the run's attributes come from run_span, or
        from ``report`` when there is no enclosing run span."""
        batch_id = _get(batch, "id", "batch_id")
        attributes = {
            "seedc.batch.id": batch_id,
            "seedc.batch.entity": _get(batch, "entity"),
            "seedc.batch.rows": _row_count(batch),
        }
        if report is not None and _RUN_ATTRS.get() is None:
            attributes.update(_run_attributes(report))
        attributes = {k: v for k, v in attributes.items() if v is not None}
        with bind_batch(str(batch_id)), self._span("seedc.batch", attributes) as span:
            yield span

    # -- metrics -----------------------------------------------------------------------------

    def record_batch(self, rows: int, seconds: float, retries: int = 0, *,
                     entity: str | None = None, status: str | None = None) -> None:
        """A written batch: adds ``rows`` to ``seedc.rows.written``, ``retries`` to
        ``seedc.batch.retries``, ``seconds`` to the ``seedc.batch.duration`` histogram, and
        sets rows/retries/status on the current (batch) span. Call it for written batches
        only (skipped ones wrote nothing)."""

    def record_failure(self, kind: str, **attributes: Any) -> None:
        """Adds one to ``seedc.failures`` (``run_span`` already counts a run that raises)."""

    def force_flush(self) -> None:
        """Export what is buffered."""

    def shutdown(self) -> None:
        """Flush and stop the exporters."""

    # -- implementation hooks ----------------------------------------------------------------

    @contextmanager
    def _run(self, run: Any, attrs: dict[str, Any], carrier: Mapping[str, str] | None
             ) -> Iterator[SpanLike]:
        yield _NULL_SPAN

    @contextmanager
    def _span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[SpanLike]:
        yield _NULL_SPAN


def _record_error(span: OtelSpan, exc: BaseException) -> None:
    """The SDK's record_exception, redacted: database errors quote rows (DETAIL: Key (cpf)=…),
    and spans leave the process."""
    import traceback

    from opentelemetry.trace import Status, StatusCode

    message = redact_text(str(exc))
    span.add_event("exception", {
        "exception.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "exception.message": message,
        "exception.stacktrace": redact_text("".join(traceback.format_exception(exc))),
        "exception.escaped": True,
    })
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))


class _OtelTelemetry(Telemetry):
    """The enabled form, on an OpenTelemetry SDK TracerProvider and MeterProvider of its own
    (installed as the global providers only with ``set_global=True``)."""

    enabled = True

    def __init__(self, service: str, span_exporters: list[SpanExporter], batch_export: bool,
                 metric_readers: list[MetricReader], environ: Mapping[str, str],
                 set_global: bool) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        import seedc

        self._environ = environ
        resource = Resource.create({
            "service.name": environ.get("OTEL_SERVICE_NAME", "").strip() or service,
            "service.version": seedc.__version__})
        self._tracer_provider = TracerProvider(resource=resource)
        for exporter in span_exporters:
            processor = BatchSpanProcessor(exporter) if batch_export else SimpleSpanProcessor(
                exporter)
            self._tracer_provider.add_span_processor(processor)
        self._meter_provider = MeterProvider(resource=resource, metric_readers=metric_readers)
        if set_global:
            trace.set_tracer_provider(self._tracer_provider)
            metrics.set_meter_provider(self._meter_provider)
        self._tracer = self._tracer_provider.get_tracer("seedc", seedc.__version__)
        meter = self._meter_provider.get_meter("seedc", seedc.__version__)
        self._rows = meter.create_counter(
            "seedc.rows.written", unit="{row}",
            description="Rows written by applied batches (rolled back on dry runs)")
        self._retries = meter.create_counter(
            "seedc.batch.retries", unit="{retry}",
            description="Batch transactions retried after serialization/lock failures")
        self._failures = meter.create_counter(
            "seedc.failures", unit="{failure}", description="Runs refused or failed")
        self._duration = meter.create_histogram(
            "seedc.batch.duration", unit="s", description="Wall time of one batch, retries in",
            explicit_bucket_boundaries_advisory=[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300])

    @contextmanager
    def _run(self, run: Any, attrs: dict[str, Any], carrier: Mapping[str, str] | None
             ) -> Iterator[SpanLike]:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        if carrier is None:
            carrier = {}
            if parent := self._environ.get("TRACEPARENT", "").strip():
                carrier["traceparent"] = parent
                if state := self._environ.get("TRACESTATE", "").strip():
                    carrier["tracestate"] = state
        parent_ctx = TraceContextTextMapPropagator().extract(
            {k.lower(): v for k, v in carrier.items()})
        with self._tracer.start_as_current_span(
                "seedc.run", context=parent_ctx, attributes=attrs, record_exception=False,
                set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                status = _get(run, "status")
                outcome = status if status not in (None, "", "running") else "failed"
                self._finish_run(span, run)
                _record_error(span, exc)
                self.record_failure(str(outcome), **{"error.type": type(exc).__name__})
                raise
            self._finish_run(span, run)

    @staticmethod
    def _finish_run(span: OtelSpan, run: Any) -> None:
        for name, key in (("status", "seedc.status"), ("rows_written", "seedc.rows_written")):
            value = _get(run, name)
            if isinstance(value, str | int) and value not in ("", "running"):
                span.set_attribute(key, value)

    @contextmanager
    def _span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[SpanLike]:
        attrs = {**(_RUN_ATTRS.get() or {}), **_clean_attributes(attributes)}
        with self._tracer.start_as_current_span(
                name, attributes=attrs, record_exception=False,
                set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                _record_error(span, exc)
                raise

    def record_check(self, check: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        ok = bool(_get(check, "ok"))
        attrs = {"seedc.check.name": _get(check, "name"), "seedc.check.rule": _get(check, "rule"),
                 "seedc.check.ok": ok}
        with self._span("seedc.check", attrs) as span:
            if not ok:
                cast("OtelSpan", span).set_status(Status(StatusCode.ERROR,
                                                         redact_text(str(_get(check, "detail")))))

    def record_batch(self, rows: int, seconds: float, retries: int = 0, *,
                     entity: str | None = None, status: str | None = None) -> None:
        from opentelemetry import trace

        attrs = _metric_attributes({"seedc.batch.entity": entity})
        self._rows.add(rows, attrs)
        if retries:
            self._retries.add(retries, attrs)
        self._duration.record(seconds, attrs)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("seedc.batch.rows", rows)
            span.set_attribute("seedc.batch.retries", retries)
            span.set_attribute("seedc.batch.seconds", seconds)
            if status is not None:
                span.set_attribute("seedc.batch.status", status)

    def record_failure(self, kind: str, **attributes: Any) -> None:
        self._failures.add(1, _metric_attributes({"seedc.outcome": kind, **attributes}))

    def force_flush(self) -> None:
        self._tracer_provider.force_flush()
        self._meter_provider.force_flush()

    def shutdown(self) -> None:
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


_TRUE = ("1", "true", "yes", "on")


def _env_enabled(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter and exporter != "none":
        return True
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
                or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip())


#: The SDK's plugin groups: OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER values name entries.
_EXPORTER_GROUPS = {"traces": "opentelemetry_traces_exporter",
                    "metrics": "opentelemetry_metrics_exporter"}


def _otlp_entry_point(environ: Mapping[str, str], signal: str) -> str:
    """`otlp` resolved by OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL, as the SDK resolves it, except
    that the default is http/protobuf (the exporter seedc ships; the SDK's default is gRPC)."""
    protocol = (environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    return "otlp_proto_grpc" if protocol.strip().lower() == "grpc" else "otlp_proto_http"


def _exporter_classes(environ: Mapping[str, str], signal: str) -> list[type]:
    """The exporter classes OTEL_<SIGNAL>_EXPORTER names (default otlp), looked up in the
    entry points exporter packages register for the SDK's own configurator, so any installed
    exporter works by its name; each reads its own OTEL_EXPORTER_* settings."""
    from importlib.metadata import entry_points

    registered = {ep.name: ep for ep in entry_points(group=_EXPORTER_GROUPS[signal])}
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    classes: list[type] = []
    for name in (environ.get(variable, "").strip() or "otlp").lower().split(","):
        name = name.strip()
        if name in ("", "none"):
            continue
        wanted = _otlp_entry_point(environ, signal) if name == "otlp" else name
        ep = registered.get(wanted)
        if ep is None and wanted == "otlp_proto_grpc" and "otlp_proto_http" in registered:
            _log.warning("OTLP/gRPC exporter not installed; exporting over HTTP")
            ep = registered["otlp_proto_http"]
        if ep is None:
            _log.warning("%s=%s: no exporter registered under that name (installed: %s); "
                         "ignored", variable, name, ", ".join(sorted(registered)) or "none")
            continue
        classes.append(ep.load())
    return classes


def _instantiate(cls: type) -> Any:
    """Exporters configure themselves from OTEL_*; console ones write to stderr, because
    stdout carries --json reports."""
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    if issubclass(cls, ConsoleSpanExporter | ConsoleMetricExporter):
        return cls(out=sys.stderr)
    return cls()


def _env_span_exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    return [_instantiate(cls) for cls in _exporter_classes(environ, "traces")]


def _env_metric_readers(environ: Mapping[str, str]) -> list[MetricReader]:
    """Push exporters behind a PeriodicExportingMetricReader; pull readers (e.g. Prometheus)
    as they are — what the SDK's configurator does."""
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader

    return [cls() if issubclass(cls, MetricReader) else
            PeriodicExportingMetricReader(_instantiate(cls))
            for cls in _exporter_classes(environ, "metrics")]


def setup_telemetry(service: str = "seedc", *, span_exporter: SpanExporter | None = None,
                    metric_reader: MetricReader | None = None,
                    environ: Mapping[str, str] | None = None,
                    set_global: bool = False) -> Telemetry:
    """The process's telemetry: disabled (a zero-cost no-op) unless the ``OTEL_*`` variables
    ask for it or an exporter/reader is given.

    ``span_exporter``/``metric_reader`` (tests: ``InMemorySpanExporter``,
    ``InMemoryMetricReader``) switch it on with spans exported synchronously and nothing read
    from ``OTEL_*`` exporters. Otherwise ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``
    name exporters as the SDK's configurator does, by the entry points exporter packages
    register (otlp, console, or any installed one; none), OTLP over HTTP/protobuf unless
    ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and the gRPC exporter is installed. ``environ``
    (default ``os.environ``) decides whether telemetry is on, which exporters, the service
    name (``OTEL_SERVICE_NAME``, else ``service``) and ``TRACEPARENT``/``TRACESTATE``; the
    exporters themselves and ``OTEL_RESOURCE_ATTRIBUTES`` are read from ``os.environ``.
    ``set_global=True`` also installs the providers as OpenTelemetry's global ones (once per
    process; for the CLI, so library instrumentation shares them).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    explicit = span_exporter is not None or metric_reader is not None
    if not explicit and not _env_enabled(env):
        return Telemetry()
    if explicit:
        spans = [span_exporter] if span_exporter is not None else []
        readers = [metric_reader] if metric_reader is not None else []
        return _OtelTelemetry(service, spans, False, readers, env, set_global)
    return _OtelTelemetry(service, _env_span_exporters(env), True, _env_metric_readers(env),
                          env, set_global)

