"""PII domains: resolve plan placeholders (domain, synthetic input, column) with FPE.

Why: a plan carries only synthetic, non-identifying inputs; the final CPF, CNPJ, phone or
e-mail is produced at apply time by keyed format-preserving encryption, so

* the same key and plan always give the same database (deterministic, re-runnable);
* distinct inputs give distinct outputs within a column (FPE is a bijection; CPF/CNPJ bases
  cycle-walk past repeated-digit bases, so the bijection holds on the allowed set), which
  keeps UNIQUE constraints safe;
* values look real (valid check digits, real area codes) without being anyone's data.

Each (domain, column) pair gets its own tweak, so equal inputs in two columns do not give
equal outputs. All work is batched (see `seedc.runtime.pii.fpe`). Errors name the domain, the
column and what was wrong — never the key, never the input value itself.

Input formats (lower-case letters only where letters are allowed):

============== ============================= ===============================================
domain         input                         output
============== ============================= ===============================================
cpf            9 digits (the base)           11 digits, check digits appended
cnpj           12 digits                     14 digits, check digits appended
cnpj_alnum     12 chars of [0-9a-z]          14 chars, base upper-cased + numeric checks
phone_mobile   ``AA9XXXXXXXX`` (AA a DDD)    ``+55AA9`` + 8 encrypted digits
phone_landline ``AANXXXXXXX`` (N in 2-5)     ``+55AAN`` + 7 encrypted digits
email          6-32 chars of [0-9a-z]        encrypted local part + ``@example.com``
============== ============================= ===============================================

CPF/CNPJ bases made of one repeated character (``000000000``, ``111111111111``...) are not
valid inputs: they are outside the set the cycle-walking permutation is defined on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

from seedc.runtime.pii.fpe import ALPHABET, FF1, FF3_1, ascii_rows_to_strings

__all__ = [
    "DOMAINS",
    "EMAIL_DOMAIN",
    "VALID_DDD",
    "Algorithm",
    "PiiResolver",
    "tweak_for",
    "validate_input",
]

Algorithm = Literal["FF1", "FF3-1"]
_ALGORITHMS: Final = frozenset(get_args(Algorithm))

DOMAINS: Final[frozenset[str]] = frozenset(
    {"cpf", "cnpj", "cnpj_alnum", "phone_mobile", "phone_landline", "email"}
)

EMAIL_DOMAIN: Final = "example.com"
"""RFC 2606 reserved domain: synthetic addresses can never reach a real mailbox."""

VALID_DDD: Final[tuple[str, ...]] = (
    # Anatel's 67 national area codes (códigos nacionais / DDD).
    *("11", "12", "13", "14", "15", "16", "17", "18", "19"),  # SP
    *("21", "22", "24", "27", "28"),  # RJ, ES
    *("31", "32", "33", "34", "35", "37", "38"),  # MG
    *("41", "42", "43", "44", "45", "46", "47", "48", "49"),  # PR, SC
    *("51", "53", "54", "55"),  # RS
    *("61", "62", "63", "64", "65", "66", "67", "68", "69"),  # DF, GO, TO, MT, MS, AC, RO
    *("71", "73", "74", "75", "77", "79"),  # BA, SE
    *("81", "82", "83", "84", "85", "86", "87", "88", "89"),  # PE, AL, PB, RN, CE, PI
    *("91", "92", "93", "94", "95", "96", "97", "98", "99"),  # PA, AM, RR, AP, MA
)

U8 = NDArray[np.uint8]
_Cipher = FF1 | FF3_1

_TWEAK_LABEL: Final = b"seedc/pii-tweak/v1"
_TWEAK_LEN: Final[dict[str, int]] = {"FF1": 8, "FF3-1": 7}

# (radix, min input length, max input length, charset description)
_SPECS: Final[dict[str, tuple[int, int, int, str]]] = {
    "cpf": (10, 9, 9, "[0-9]"),
    "cnpj": (10, 12, 12, "[0-9]"),
    "cnpj_alnum": (36, 12, 12, "[0-9a-z]"),
    "phone_mobile": (10, 11, 11, "[0-9]"),
    "phone_landline": (10, 10, 10, "[0-9]"),
    "email": (36, 6, 32, "[0-9a-z]"),
}
_NO_REPEATS: Final = frozenset({"cpf", "cnpj", "cnpj_alnum"})

_DDD_OK: Final = np.zeros(100, dtype=bool)
_DDD_OK[[int(d) for d in VALID_DDD]] = True

_LUTS: Final[dict[int, NDArray[np.int16]]] = {}
for _radix in (10, 36):
    _lut = np.full(256, -1, dtype=np.int16)
    for _value, _char in enumerate(ALPHABET[:_radix]):
        _lut[ord(_char)] = _value
    _LUTS[_radix] = _lut

_LOWER36: Final = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_UPPER36: Final = np.frombuffer(ALPHABET.upper().encode("ascii"), dtype=np.uint8)
_CPF_W1: Final = np.arange(10, 1, -1, dtype=np.int64)  # 10..2
_CPF_W2: Final = np.arange(11, 2, -1, dtype=np.int64)  # 11..3 (then 2 x first check digit)
_CNPJ_W1: Final = np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
_CNPJ_W2: Final = np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3], dtype=np.int64)  # then 2 x d1


def _where(domain: str, column: str | None) -> str:
    return f"PII domain {domain!r}, column {column!r}" if column else f"PII domain {domain!r}"


def _spec(domain: str, column: str | None) -> tuple[int, int, int, str]:
    spec = _SPECS.get(domain) if isinstance(domain, str) else None
    if spec is None:
        known = ", ".join(sorted(DOMAINS))
        raise ValueError(f"unknown {_where(str(domain), column)}: known domains are {known}")
    return spec


def tweak_for(domain: str, column: str, algorithm: Algorithm) -> bytes:
    """Deterministic per-(domain, column) tweak: equal inputs in two columns map apart.

    SHA-256 over a versioned label and the length-prefixed names, truncated to 7 bytes for
    FF3-1 (its 56-bit tweak) or 8 bytes for FF1 (keeps FF1's Q to a single AES block).
    """
    _spec(domain, column)
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unknown FPE algorithm {algorithm!r}: expected 'FF1' or 'FF3-1'")
    h = hashlib.sha256(_TWEAK_LABEL)
    for part in (domain, column):
        raw = part.encode("utf-8")
        h.update(len(raw).to_bytes(4, "big") + raw)
    return h.digest()[: _TWEAK_LEN[algorithm]]


def _parse(domain: str, column: str | None, inputs: Sequence[str]) -> list[tuple[list[int], U8]]:
    """Validate a batch and return [(row indices, numeral matrix)] per input length.

    Vectorised: one pass for lengths, one ASCII encode and one table look-up for charset,
    then the domain's structural rules (repeated digits, DDD, leading digit).
    """
    radix, lo, hi, charset = _spec(domain, column)
    where = _where(domain, column)
    count = len(inputs)
    if count == 0:
        return []
    try:
        joined = "".join(inputs)
    except TypeError:
        raise ValueError(f"{where}: inputs must be strings") from None
    lengths = np.fromiter(map(len, inputs), dtype=np.int64, count=count)
    bad = np.flatnonzero((lengths < lo) | (lengths > hi))
    if bad.size:
        i = int(bad[0])
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise ValueError(
            f"{where}: input #{i} has length {int(lengths[i])}, expected {want} "
            f"characters of {charset}"
        )
    try:
        raw = joined.encode("ascii")
    except UnicodeEncodeError:
        i = next(k for k, v in enumerate(inputs) if not v.isascii())
        raise ValueError(
            f"{where}: input #{i} has characters outside {charset} (non-ASCII)"
        ) from None
    flat = _LUTS[radix][np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(flat < 0)
    ends = np.cumsum(lengths)
    if bad.size:
        i = int(np.searchsorted(ends, bad[0], side="right"))
        raise ValueError(f"{where}: input #{i} has characters outside {charset}")
    nums_flat = flat.astype(np.uint8)
    groups: list[tuple[list[int], U8]] = []
    if lo == hi:
        groups.append((list(range(count)), nums_flat.reshape(count, lo)))
    else:
        starts = ends - lengths
        for n in np.unique(lengths).tolist():
            members = np.flatnonzero(lengths == n)
            rows = nums_flat[starts[members][:, None] + np.arange(n)]
            groups.append((members.tolist(), rows))
    for idx, nums in groups:
        _check_structure(domain, where, idx, nums)
    return groups


def _check_structure(domain: str, where: str, idx: list[int], nums: U8) -> None:
    """Domain rules beyond length and charset; names the first offending input by index."""
    problem: NDArray[np.bool_] | None = None
    reason = ""
    if domain in _NO_REPEATS:
        problem = (nums == nums[:, :1]).all(axis=1)
        reason = "is one repeated character, which is not an allowed base"
    elif domain in ("phone_mobile", "phone_landline"):
        ddd = nums[:, 0].astype(np.intp) * 10 + nums[:, 1]
        problem = ~_DDD_OK[ddd]
        reason = "does not start with a Brazilian area code (DDD) in VALID_DDD"
        if not problem.any():
            if domain == "phone_mobile":
                problem = nums[:, 2] != 9
                reason = "does not have 9 after the area code (mobile numbers start with 9)"
            else:
                problem = (nums[:, 2] < 2) | (nums[:, 2] > 5)
                reason = "does not have 2, 3, 4 or 5 after the area code (landline prefix)"
    if problem is not None and problem.any():
        i = idx[int(np.flatnonzero(problem)[0])]
        raise ValueError(f"{where}: input #{i} {reason}")


def validate_input(domain: str, value: str, column: str | None = None) -> None:
    """Raise `ValueError` if ``value`` is not a well-formed input for ``domain``.

    For compilers and generators that want to fail before a plan reaches the runtime.
    """
    _parse(domain, column, [value])


# -- resolution -----------------------------------------------------------------------------


def _walk(cipher: _Cipher, nums: U8) -> U8:
    """Encrypt, re-encrypting any result that is one repeated character (cycle-walking).

    The cipher permutes all radix**n strings; following each input's cycle until it lands
    back in the allowed set (no repeated-character strings) is a permutation of that set.
    """
    out = cipher.encrypt_numerals(nums)
    todo = np.flatnonzero((out == out[:, :1]).all(axis=1))
    while todo.size:
        again = cipher.encrypt_numerals(out[todo])
        out[todo] = again
        todo = todo[(again == again[:, :1]).all(axis=1)]
    return out


def _mod11_digit(total: NDArray[np.int64]) -> NDArray[np.int64]:
    """Receita's mod-11 rule: remainder 0 or 1 gives 0, else 11 - remainder."""
    return np.asarray((11 - total % 11) % 11 % 10, dtype=np.int64)


def _cpf(cipher: _Cipher, nums: U8) -> U8:
    base = _walk(cipher, nums)
    v = base.astype(np.int64)
    d1 = _mod11_digit(v @ _CPF_W1)
    d2 = _mod11_digit(v @ _CPF_W2 + 2 * d1)
    return np.concatenate([base, d1[:, None], d2[:, None]], axis=1).astype(np.uint8) + 48


def _cnpj_checks(values: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Check digits over character values (ASCII - 48, so 'A' = 17: the 2026 alphanumeric
    rule, identical to the classic one on digits)."""
    d1 = _mod11_digit(values @ _CNPJ_W1)
    d2 = _mod11_digit(values @ _CNPJ_W2 + 2 * d1)
    return (np.stack([d1, d2], axis=1) + 48).astype(np.uint8)


def _cnpj(cipher: _Cipher, nums: U8) -> U8:
    base = _walk(cipher, nums)
    return np.concatenate([base + 48, _cnpj_checks(base.astype(np.int64))], axis=1)


def _cnpj_alnum(cipher: _Cipher, nums: U8) -> U8:
    chars = _UPPER36[_walk(cipher, nums)]
    return np.concatenate([chars, _cnpj_checks(chars.astype(np.int64) - 48)], axis=1)


def _phone(prefix_len: int) -> Callable[[_Cipher, U8], U8]:
    """+55, the kept prefix (DDD and leading digit), then the encrypted subscriber digits."""

    def resolve(cipher: _Cipher, nums: U8) -> U8:
        enc = cipher.encrypt_numerals(nums[:, prefix_len:])
        out = np.empty((nums.shape[0], 3 + nums.shape[1]), dtype=np.uint8)
        out[:, :3] = np.frombuffer(b"+55", dtype=np.uint8)
        out[:, 3 : 3 + prefix_len] = nums[:, :prefix_len] + 48
        out[:, 3 + prefix_len :] = enc + 48
        return out

    return resolve


_AT_DOMAIN: Final = np.frombuffer(("@" + EMAIL_DOMAIN).encode("ascii"), dtype=np.uint8)


def _email(cipher: _Cipher, nums: U8) -> U8:
    local = _LOWER36[cipher.encrypt_numerals(nums)]
    tail = np.broadcast_to(_AT_DOMAIN, (nums.shape[0], _AT_DOMAIN.size))
    return np.concatenate([local, tail], axis=1)


_RESOLVERS: Final[dict[str, Callable[[_Cipher, U8], U8]]] = {
    "cpf": _cpf,
    "cnpj": _cnpj,
    "cnpj_alnum": _cnpj_alnum,
    "phone_mobile": _phone(3),
    "phone_landline": _phone(3),
    "email": _email,
}


class PiiResolver:
    """Resolves PII placeholders for one key and algorithm; caches one cipher per column.

    The key is kept only to build ciphers; it never appears in repr, str or errors.
    """

    __slots__ = ("_algorithm", "_ciphers", "_key")

    def __init__(self, key: bytes, algorithm: Algorithm = "FF1") -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise TypeError("PiiResolver: key must be bytes")
        key = bytes(key)
        if len(key) not in (16, 24, 32):
            raise ValueError(
                f"PiiResolver: key must be 16, 24 or 32 bytes (AES-128/192/256), "
                f"got {len(key)} bytes"
            )
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown FPE algorithm {algorithm!r}: expected 'FF1' or 'FF3-1'")
        self._key = key
        self._algorithm: Algorithm = algorithm
        self._ciphers: dict[tuple[str, str], _Cipher] = {}

    @property
    def algorithm(self) -> Algorithm:
        """The FPE algorithm in use."""
        return self._algorithm

    def __repr__(self) -> str:
        return f"PiiResolver(algorithm={self._algorithm!r}, key=<redacted>)"

    __str__ = __repr__

    def _cipher(self, domain: str, column: str) -> _Cipher:
        cached = self._ciphers.get((domain, column))
        if cached is None:
            radix = _SPECS[domain][0]
            tweak = tweak_for(domain, column, self._algorithm)
            cls = FF1 if self._algorithm == "FF1" else FF3_1
            cached = cls(self._key, tweak, radix)
            self._ciphers[(domain, column)] = cached
        return cached

    def resolve_many(self, domain: str, column: str, inputs: Sequence[str]) -> list[str]:
        """Resolve a batch of placeholder inputs for one column; order is preserved."""
        groups = _parse(domain, column, inputs)
        if not groups:
            return []
        cipher = self._cipher(domain, column)
        resolve = _RESOLVERS[domain]
        if len(groups) == 1:
            return ascii_rows_to_strings(resolve(cipher, groups[0][1]))
        out: list[str] = [""] * len(inputs)
        for idx, nums in groups:
            for i, value in zip(idx, ascii_rows_to_strings(resolve(cipher, nums)), strict=True):
                out[i] = value
        return out

    def resolve(self, domain: str, column: str, value: str) -> str:
        """Resolve one placeholder (prefer `resolve_many` for anything in bulk)."""
        return self.resolve_many(domain, column, [value])[0]
