"""Redaction: no PII, key or secret in a log line, span, message, audit row or evidence.

One module used by every output seedc writes. It replaces CPF, CNPJ (numeric and alphanumeric),
e-mail addresses, Brazilian phone numbers, long hex strings, base64 blobs of key length, Vault
tokens, JWTs, bearer credentials, DSN passwords, and every value under a key named like a
key/secret/token/password/authorization with ``[REDACTED:<kind>]``. UUIDs and plan hashes
(``sha256:`` + 64 hex) are kept.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from structlog.typing import EventDict, WrappedLogger

if TYPE_CHECKING:
    pass



__all__ = [
    "redact",
    "redact_event",
    "redact_text",
]


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


