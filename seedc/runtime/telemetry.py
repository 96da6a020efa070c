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

from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as _dt
import functools
import io
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from pathlib import PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span as OtelSpan

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

_log = logging.getLogger("seedc.telemetry")

# --------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------

# Kept intact: a plan hash (sha256: + exactly 64 hex) and a canonical UUID (8-4-4-4-12 hex).
_PROTECTED = re.compile(
    r"sha256:[0-9a-fA-F]{64}(?![0-9a-fA-F])"
    r"|(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
    r"-[0-9a-fA-F]{12}(?![0-9a-fA-F])"
)

_NOT_AFTER_NUMBER = r"(?<!\d)(?<!\d[.,])"  # not inside a longer number or a decimal fraction

# (kind, pattern, replacement) in order; "\\1"-style prefixes are kept by callables.
_TEXT_RULES: list[tuple[str, re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # user:password@ in URLs/DSNs (postgresql://seedc:hunter2@db/seed)
    ("password", re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@"),
     lambda m: f"{m.group(1)}:[REDACTED:password]@"),
    # password=..., token: ..., api_key="..." inside free text (libpq DSNs, messages)
    ("secret", re.compile(
        r"(?i)\b(password|passwd|pwd|passphrase|secret|client_secret|token|access_token|"
        r"api[_-]?key|secret[_-]?key|private[_-]?key)(\"?'?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
     lambda m: f"{m.group(1)}{m.group(2)}[REDACTED:secret]"),
    ("authorization", re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
     lambda m: f"{m.group(1)} [REDACTED:authorization]"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
     "[REDACTED:jwt]"),
    # Vault/OpenBao tokens: hvs./hvb./hvr. (current) and s./b./r. (legacy) prefixes
    ("vault_token", re.compile(r"(?<![A-Za-z0-9])(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}"),
     "[REDACTED:vault_token]"),
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
     "[REDACTED:email]"),
    # >= 32 hex characters (128-bit and longer keys, tokens, digests without sha256: prefix)
    ("hex", re.compile(r"(?<![0-9a-fA-F])(?:0[xX])?[0-9a-fA-F]{32,}(?![0-9a-fA-F])"),
     "[REDACTED:hex]"),
    # CNPJ, alphanumeric punctuated form (12.ABC.345/01DE-35) and numeric (punctuated or not)
    ("cnpj", re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}"
                        r"(?!\d)"), "[REDACTED:cnpj]"),
    ("cnpj", re.compile(_NOT_AFTER_NUMBER + r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?!\d)"),
     "[REDACTED:cnpj]"),
    # Brazilian phones: +55 (international), 55DDNNNNNNNNN, (DD) 9NNNN-NNNN
    ("phone", re.compile(r"\+\s?55[\s.-]?\(?\d{2}\)?[\s.-]?9?\d{4}[\s.-]?\d{4}(?!\d)"),
     "[REDACTED:phone]"),
    ("phone", re.compile(r"(?<!\d)55\d{2}9?\d{8}(?!\d)"), "[REDACTED:phone]"),
    ("phone", re.compile(r"(?<!\d)\(\d{2}\)\s?9?\d{4}-?\d{4}(?!\d)"), "[REDACTED:phone]"),
    # CPF: 11 digits, punctuated (123.456.789-09) or not
    ("cpf", re.compile(_NOT_AFTER_NUMBER + r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)"),
     "[REDACTED:cpf]"),
]

# Alphanumeric CNPJ without punctuation (12ABC34501DE35): redacted when its check digits hold.
_CNPJ_ALNUM = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]{12}\d{2}(?![0-9A-Za-z])")
# Base64 (standard or URL-safe) runs long enough to hold a 16-byte key or more.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{22,}={0,2}(?![A-Za-z0-9+/=_-])")
# Nothing above can match a string without one of these (a cheap first look).
_MAYBE = re.compile(r"\d{2}|@|://|eyJ|[A-Za-z0-9+/_-]{20}|(?i:pass|pwd|secret|token|key|bearer|basic)")
_CAMEL_WORDS = re.compile(r"(?:[A-Z]?[a-z]+)+(?:[A-Z][a-z]+)*")

# Values under these key names are redacted whole.  A component anywhere in the name:
_SENSITIVE_ANYWHERE = {
    "secret", "secrets", "token", "tokens", "password", "passwords", "passwd", "pwd",
    "passphrase", "authorization", "auth", "credential", "credentials", "apikey", "cookie",
    "private", "privatekey", "secretkey",
}
# ... or as the last component (fpe_key, api_key, keys), so key_source/key_version stay.
_SENSITIVE_LAST = {"key", "keys"}
_KEY_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SKIP_KEYS = {"_record", "_from_structlog"}  # structlog stdlib bridge metadata
_MAX_DEPTH = 32


@functools.lru_cache(maxsize=1024)
def _sensitive_key(name: str) -> str | None:
    """The redaction kind for a value under this key name, or None."""
    parts = [p.lower() for p in _KEY_SPLIT.split(name) if p]
    if not parts:
        return None
    for part in parts:
        if part in _SENSITIVE_ANYWHERE:
            return {"passwords": "password", "passwd": "password", "pwd": "password",
                    "passphrase": "password", "secrets": "secret", "tokens": "token",
                    "auth": "authorization", "credentials": "credential", "apikey": "key",
                    "privatekey": "key", "secretkey": "key", "private": "key"}.get(part, part)
    if parts[-1] in _SENSITIVE_LAST:
        return "key"
    return None


def _cnpj_check_ok(value: str) -> bool:
    values = [ord(c) - 48 for c in value[:12]]
    for weights in ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]):
        values.append((11 - sum(w * v for w, v in zip(weights, values, strict=True))) % 11 % 10)
    return value[12:] == f"{values[12]}{values[13]}"


def _alnum_cnpj(match: re.Match[str]) -> str:
    text = match.group(0)
    if any(c.isalpha() for c in text) and _cnpj_check_ok(text):
        return "[REDACTED:cnpj]"
    return text


def _looks_like_key(token: str) -> bool:
    """A base64/base64url run that decodes to >= 16 bytes and looks random, not like a word."""
    body = token.rstrip("=")
    padded = len(token) != len(body)
    std, url = any(c in "+/" for c in body), any(c in "-_" for c in body)
    if std and url:
        return False  # mixes both alphabets: a path or an identifier, not base64
    if padded:
        try:
            decoded = base64.b64decode(token, altchars=b"-_" if url else None, validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(decoded) >= 16
    if len(body) % 4 == 1:
        return False  # not a possible base64 length
    has_upper = any(c.isupper() for c in body)
    has_lower = any(c.islower() for c in body)
    if not (has_upper and has_lower):
        return False  # lowercase ids (0001-transactions-0012), UPPER_CASE constants
    if any(c.isdigit() or c in "+/" for c in body):
        return True
    # letters only: random unless it reads as CamelCase words (SerializationFailure)
    return not _CAMEL_WORDS.fullmatch(body) and sum(c.isupper() for c in body) >= 4


def _base64(match: re.Match[str]) -> str:
    text = match.group(0)
    return "[REDACTED:base64]" if _looks_like_key(text) else text


def _redact_segment(text: str) -> str:
    if not _MAYBE.search(text):
        return text
    for _kind, pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    text = _CNPJ_ALNUM.sub(_alnum_cnpj, text)
    return _BASE64.sub(_base64, text)


def redact_text(text: str) -> str:
    """Redact PII and secrets in one string, keeping UUIDs and ``sha256:`` plan hashes."""
    return _redact_short(text) if len(text) <= 256 else _redact_text(text)


def _redact_text(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _PROTECTED.finditer(text):
        out.append(_redact_segment(text[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_redact_segment(text[last:]))
    return "".join(out)


# Run ids, tenants, batch ids and event names repeat on every line.
_redact_short = functools.lru_cache(maxsize=4096)(_redact_text)


def redact(value: Any, *, key: str | None = None, _depth: int = 0) -> Any:
    """Redact a value recursively (strings inside lists, tuples, sets and dicts too).

    ``key`` is the name the value is logged under: a sensitive name redacts the whole value.
    Objects of other types are rendered with ``repr`` and then redacted, so nothing reaches a
    renderer unredacted.
    """
    if value is None or isinstance(value, bool):
        return value
    if key is not None and (kind := _sensitive_key(key)) is not None:
        return f"[REDACTED:{kind}]"
    if _depth > _MAX_DEPTH:
        return "[REDACTED:depth]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int):
        text = str(value)
        return value if redact_text(text) == text else redact_text(text)
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): redact(v, key=str(k), _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, _depth=_depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return "[REDACTED:bytes]" if len(value) >= 16 else redact_text(bytes(value).hex())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | PurePath):
        return redact_text(str(value))
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return redact_text(repr(value))


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every value of the event dict (see :func:`redact`)."""
    for name in list(event_dict):
        if name not in _SKIP_KEYS:
            event_dict[name] = redact(event_dict[name], key=name)
    return event_dict


# --------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------


def current_trace_ids() -> tuple[str, str] | tuple[None, None]:
    """Hex trace and span ids of the current OpenTelemetry span, or (None, None).

    Costs a dict lookup when OpenTelemetry was never imported (telemetry off).
    """
    trace_mod = sys.modules.get("opentelemetry.trace")
    if trace_mod is None:
        return None, None
    ctx = trace_mod.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: ``trace_id``/``span_id`` of the current span, when there is one.

    Runs after redaction (a 32-hex trace id would otherwise read as a key)."""
    trace_id, span_id = current_trace_ids()
    if trace_id is not None:
        event_dict["trace_id"] = trace_id
        event_dict["span_id"] = span_id
    return event_dict


_HANDLER_TAG = "_seedc_telemetry_handler"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _CurrentStderr(io.TextIOBase):
    """``sys.stderr`` as it is at each write, so swapping it later (pytest's capture,
    ``contextlib.redirect_stderr``) never leaves the logs writing to a closed stream."""

    def write(self, s: str) -> int:
        return sys.stderr.write(s)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return _isatty(sys.stderr)


def configure_logging(*, json: bool | None = None, stream: TextIO | None = None,
                      level: int | str = logging.INFO,
                      stdlib_level: int | str = logging.WARNING) -> None:
    """Configure structlog (and the stdlib root logger) to write redacted lines to ``stream``.

    ``stream`` defaults to ``sys.stderr`` (whatever it is at each write). ``json=None``
    renders JSON when the stream is not a terminal and readable console lines when it is.
    Records of other libraries
    that use :mod:`logging` (psycopg, hvac, the OTLP exporter) at ``stdlib_level`` and above go
    through the same redaction and renderer.
    """
    out = stream if stream is not None else cast(TextIO, _CurrentStderr())
    tty = _isatty(out)
    as_json = (not tty) if json is None else json
    renderer: Processor = (structlog.processors.JSONRenderer() if as_json
                           else structlog.dev.ConsoleRenderer(colors=tty))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # the traceback becomes text, then is redacted
        redact_event,
        structlog.processors.add_log_level,  # ours, after redaction: nothing to look at
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        context_class=dict,
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    setattr(handler, _HANDLER_TAG, True)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    handler.setLevel(stdlib_level)
    root.addHandler(handler)
    if root.level > handler.level or root.level == logging.NOTSET:
        root.setLevel(handler.level)


def _configured() -> bool:
    """Whether structlog runs our chain (redaction is mandatory, so get_logger insists)."""
    return redact_event in structlog.get_config().get("processors", ())


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger. Configures logging with the defaults when structlog is not running
    the redaction chain yet (never configured, or configured by someone else)."""
    if not _configured():
        configure_logging()
    if name is not None:
        initial.setdefault("logger", name)
    # bind rather than pass as initial values: structlog.get_logger() reserves `logger`
    logger = structlog.get_logger()
    return cast(FilteringBoundLogger, logger.bind(**initial) if initial else logger)


class LogContext:
    """Fields bound into every log line of this context (contextvars); unbinds on exit.

    Usable as a plain call (bound until :meth:`close`) or as a context manager."""

    def __init__(self, **fields: Any) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**fields)

    def close(self) -> None:
        if self._tokens:
            structlog.contextvars.reset_contextvars(**self._tokens)
            self._tokens = {}

    def __enter__(self) -> LogContext:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def bind_run(run_id: str, tenant: str, environment: str, mode: str, dry_run: bool,
             **extra: Any) -> LogContext:
    """Bind ``run_id``, ``tenant``, ``environment``, ``mode`` and ``dry_run`` to every line."""
    return LogContext(run_id=run_id, tenant=tenant, environment=environment, mode=mode,
                      dry_run=bool(dry_run), **extra)


def bind_batch(batch_id: str, **extra: Any) -> LogContext:
    """Bind ``batch`` (the batch id) to every line until the context closes."""
    return LogContext(batch=batch_id, **extra)


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

    def check_span(self, name: str, **attributes: Any) -> AbstractContextManager[SpanLike]:
        """``seedc.check`` for one live check (``seedc.check.name`` = ``name``)."""
        return self.span("seedc.check", **{"seedc.check.name": name, **attributes})

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

    def current_trace_ids(self) -> tuple[str, str] | tuple[None, None]:
        """Hex trace and span ids of the current span, or (None, None) outside any span
        (always, when telemetry is off)."""
        return current_trace_ids()

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


def _otlp_grpc(environ: Mapping[str, str], signal: str) -> bool:
    protocol = (environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    return protocol.strip().lower() == "grpc"


def _env_span_exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp") or "otlp"
    for name in (n.strip().lower() for n in names.split(",")):
        if name == "otlp":
            if _otlp_grpc(environ, "TRACES"):
                try:
                    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                        OTLPSpanExporter as GrpcSpanExporter,
                    )
                except ImportError:
                    _log.warning("OTLP/gRPC exporter not installed; exporting over HTTP")
                else:
                    exporters.append(GrpcSpanExporter())
                    continue
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter(out=sys.stderr))  # stdout carries --json
        elif name and name != "none":
            _log.warning("OTEL_TRACES_EXPORTER=%s is not supported; ignored", name)
    return exporters


def _env_metric_readers(environ: Mapping[str, str]) -> list[MetricReader]:
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    readers: list[MetricReader] = []
    names = environ.get("OTEL_METRICS_EXPORTER", "otlp") or "otlp"
    for name in (n.strip().lower() for n in names.split(",")):
        exporter: MetricExporter | None = None
        if name == "otlp":
            if _otlp_grpc(environ, "METRICS"):
                try:
                    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                        OTLPMetricExporter as GrpcMetricExporter,
                    )
                except ImportError:
                    _log.warning("OTLP/gRPC exporter not installed; exporting over HTTP")
                else:
                    exporter = GrpcMetricExporter()
            if exporter is None:
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                    OTLPMetricExporter,
                )

                exporter = OTLPMetricExporter()
        elif name == "console":
            exporter = ConsoleMetricExporter(out=sys.stderr)
        elif name and name != "none":
            _log.warning("OTEL_METRICS_EXPORTER=%s is not supported; ignored", name)
        if exporter is not None:
            readers.append(PeriodicExportingMetricReader(exporter))
    return readers


def setup_telemetry(service: str = "seedc", *, span_exporter: SpanExporter | None = None,
                    metric_reader: MetricReader | None = None,
                    environ: Mapping[str, str] | None = None,
                    set_global: bool = False) -> Telemetry:
    """The process's telemetry: disabled (a zero-cost no-op) unless the ``OTEL_*`` variables
    ask for it or an exporter/reader is given.

    ``span_exporter``/``metric_reader`` (tests: ``InMemorySpanExporter``,
    ``InMemoryMetricReader``) switch it on with spans exported synchronously and nothing read
    from ``OTEL_*`` exporters. Otherwise ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``
    (otlp, console, none) choose exporters, OTLP over HTTP/protobuf unless
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

