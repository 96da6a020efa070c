"""structlog JSON logs on stderr with run context, trace ids and mandatory redaction."""

from __future__ import annotations

import io
import logging
import os
import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, cast

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

if TYPE_CHECKING:
    pass


from seedc.runtime.telemetry.redaction import redact_event

__all__ = [
    "LogContext",
    "add_trace_context",
    "bind_batch",
    "bind_run",
    "color_enabled",
    "configure_logging",
    "current_trace_ids",
    "drop_echoed_events",
    "forbid_color",
    "get_logger",
]


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


_color_forbidden = False


def forbid_color(forbidden: bool) -> None:
    """`seedc --no-color`: set once per invocation by the CLI group."""
    global _color_forbidden  # one process-wide user choice, set at the CLI edge
    _color_forbidden = forbidden


def color_enabled(stream: Any) -> bool:
    """Escape sequences allowed on ``stream``: a terminal, no ``--no-color``, and ``NO_COLOR``
    unset or empty (https://no-color.org)."""
    if _color_forbidden or os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


#: Events whose message the CLI prints itself as its one `seedc: …` line: on a terminal the
#: log line would say the same thing twice (issue 11); JSON pipelines keep them.
ECHOED_BY_CLI = frozenset({"run.refused", "run.failed", "run.aborted", "batch.failed"})


def drop_echoed_events(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor for terminals: drop the errors the CLI prints once as `seedc: …`."""
    if event_dict.get("event") in ECHOED_BY_CLI:
        raise structlog.DropEvent
    return event_dict


def configure_logging(*, json: bool | None = None, stream: TextIO | None = None,
                      level: int | str = logging.INFO,
                      stdlib_level: int | str = logging.WARNING,
                      colors: bool | None = None) -> None:
    """Configure structlog (and the stdlib root logger) to write redacted lines to ``stream``.

    ``stream`` defaults to ``sys.stderr`` (whatever it is at each write). ``json=None``
    renders JSON when the stream is not a terminal and readable console lines when it is.
    Records of other libraries
    that use :mod:`logging` (psycopg, hvac, the OTLP exporter) at ``stdlib_level`` and above go
    through the same redaction and renderer. ``colors=None`` colours console lines on a
    terminal unless ``NO_COLOR`` is set. On a terminal the errors the CLI prints itself
    (:data:`ECHOED_BY_CLI`) are dropped, so a refusal reads once.
    """
    out = stream if stream is not None else cast(TextIO, _CurrentStderr())
    tty = _isatty(out)
    as_json = (not tty) if json is None else json
    if colors is None:
        colors = color_enabled(out)
    renderer: Processor = (structlog.processors.JSONRenderer() if as_json
                           else structlog.dev.ConsoleRenderer(colors=colors and tty))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # the traceback becomes text, then is redacted
        redact_event,
        structlog.processors.add_log_level,  # ours, after redaction: nothing to look at
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]
    dropped: list[Processor] = [drop_echoed_events] if tty and not as_json else []
    structlog.configure(
        processors=[*dropped, *shared, renderer],
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


