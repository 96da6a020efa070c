"""Format-preserving encryption: FF1 (NIST SP 800-38G) and FF3-1 (SP 800-38G Rev.1).

Why this module exists: PII placeholders in a plan are resolved by encrypting synthetic
numeral strings, and a seed run resolves millions of them. Per-value FPE in pure Python
(e.g. the `ff3` package) costs tens of microseconds a value, so the ciphers here work on
whole batches:

* values of equal length are grouped, turned into a ``(N, n)`` numeral matrix with one
  vectorised look-up, and packed into two integer halves with numpy;
* each Feistel round issues **one** AES-ECB call over all N blocks at once (``cryptography``
  / OpenSSL, AES-NI) — the CBC-MAC prefix of FF1 that does not depend on the value is
  computed once per length and folded into a per-round constant;
* the modular arithmetic stays in ``uint64`` while ``radix**half <= 2**56``, and falls back to
  Python integers (still with batched AES) beyond that.

Numerals are the digits then the lower-case letters (radix 36 = ``0-9a-z``). Error messages
describe what was wrong (length, alphabet, key size) and never contain the key or the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from numpy.typing import NDArray

__all__ = [
    "ALPHABET",
    "FF1",
    "FF3_1",
    "MAX_RADIX",
    "MIN_DOMAIN",
    "ascii_rows_to_strings",
    "numerals_to_strings",
    "strings_to_numerals",
]

ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
"""Numeral alphabet: numeral k is ``ALPHABET[k]``; a radix-r cipher uses the first r."""

MAX_RADIX: Final = len(ALPHABET)
MIN_DOMAIN: Final = 1_000_000
"""SP 800-38G Rev.1: radix**minlen must be at least one million."""

_FF1_MAX_LEN: Final = 2**32
_FF1_MAX_TWEAK: Final = 2**32 - 1
_FF3_TWEAK_LEN: Final = 7
_NP_LIMIT: Final = 2**56  # largest radix**half kept in uint64 (room for 8-bit shifts)
_SMALL_BATCH: Final = 16  # below this many values per length, plain Python is faster
_CHUNK: Final = 1 << 15  # rows per numpy pass: keeps the working set in cache
_SEP: Final = 10  # "\n": never a numeral, so it splits joined output safely

U64 = NDArray[np.uint64]
U8 = NDArray[np.uint8]


def _alphabet_lut(radix: int) -> NDArray[np.int16]:
    """ASCII byte -> numeral value, -1 for bytes outside the radix's alphabet."""
    lut = np.full(256, -1, dtype=np.int16)
    for value, char in enumerate(ALPHABET[:radix]):
        lut[ord(char)] = value
    return lut


_ALPHABET_BYTES: Final = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


def _check_radix(radix: int) -> None:
    if isinstance(radix, bool) or not isinstance(radix, int) or not 2 <= radix <= MAX_RADIX:
        raise ValueError(f"radix must be an integer in [2, {MAX_RADIX}]")


def ascii_rows_to_strings(rows: U8) -> list[str]:
    """(N, L) ASCII matrix -> N strings; one decode and one C-level split, no Python loop."""
    count, width = rows.shape
    if count == 0:
        return []
    buf = np.empty((count, width + 1), dtype=np.uint8)
    buf[:, :width] = rows
    buf[:, width] = _SEP
    out = buf.tobytes().decode("ascii").split("\n")
    out.pop()
    return out


def _strings_matrix(values: Sequence[str], width: int, radix: int, what: str) -> U8:
    """Equal-length strings -> (N, width) numeral matrix, rejecting foreign characters."""
    joined = "".join(values)
    if len(joined) != len(values) * width:
        raise ValueError(f"{what}: all values must have length {width}")
    try:
        raw = joined.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(
            f"{what}: input contains characters outside the radix-{radix} alphabet "
            f"{ALPHABET[:radix]!r}"
        ) from None
    codes = np.frombuffer(raw, dtype=np.uint8).reshape(len(values), width)
    nums = _alphabet_lut(radix)[codes]
    if (nums < 0).any():
        raise ValueError(
            f"{what}: input contains characters outside the radix-{radix} alphabet "
            f"{ALPHABET[:radix]!r}"
        )
    return nums.astype(np.uint8)


def strings_to_numerals(values: Sequence[str], radix: int) -> U8:
    """Equal-length numeral strings -> ``(N, n)`` uint8 matrix of numeral values.

    Exposed so callers (the PII domains) can stay in array form between steps.
    """
    _check_radix(radix)
    if not values:
        return np.empty((0, 0), dtype=np.uint8)
    return _strings_matrix(values, len(values[0]), radix, "strings_to_numerals")


def numerals_to_strings(numerals: NDArray[np.integer], radix: int) -> list[str]:
    """``(N, n)`` numeral matrix -> N numeral strings (inverse of `strings_to_numerals`)."""
    _check_radix(radix)
    arr = np.asarray(numerals)
    if arr.ndim != 2:
        raise ValueError("numerals must be a 2-D array (values x positions)")
    if arr.size and (arr.min() < 0 or arr.max() >= radix):
        raise ValueError(f"numerals must lie in [0, {radix})")
    return ascii_rows_to_strings(_ALPHABET_BYTES[arr.astype(np.intp)])


def _pack(cols: U8, radix: int) -> U64:
    """Numeral columns (most significant first) -> uint64 values, by Horner's rule."""
    acc = cols[:, 0].astype(np.uint64)
    r = np.uint64(radix)
    for j in range(1, cols.shape[1]):
        acc *= r
        acc += cols[:, j]
    return acc


def _unpack(x: U64, powers: U64, radix: int) -> U8:
    """uint64 values -> numeral columns, one column per entry of ``powers``."""
    return ((x[:, None] // powers[None, :]) % np.uint64(radix)).astype(np.uint8)


def _reduce(limbs: Sequence[tuple[U64, int]], modulus: int) -> U64:
    """(Big-endian multi-limb integer) mod ``modulus`` in uint64 without overflow.

    ``limbs`` is [(array, bit width), ...], most significant first; modulus <= 2**56.
    For moduli up to 2**32 each limb is folded with one multiply (t * (2**w mod M) < 2**64);
    above that, limbs are fed in pieces narrow enough that ``t << w`` still fits.
    """
    m = np.uint64(modulus)
    t = limbs[0][0] % m
    if modulus <= 2**32:
        for limb, bits in limbs[1:]:
            t = (t * np.uint64(pow(2, bits, modulus)) + limb % m) % m
        return t
    step = 64 - modulus.bit_length()
    for limb, bits in limbs[1:]:
        remaining = bits
        while remaining > 0:
            w = min(step, remaining)
            remaining -= w
            piece = (limb >> np.uint64(remaining)) & np.uint64((1 << w) - 1)
            t = ((t << np.uint64(w)) | piece) % m
    return t


@dataclass(frozen=True)
class _Geometry:
    """Per-length constants shared by both ciphers."""

    n: int
    u: int
    v: int
    mod_u: int
    mod_v: int
    vectorised: bool
    pow_u: U64 | None  # place values of the first half's columns (numpy path)
    pow_v: U64 | None


class _FeistelFPE:
    """Shared Feistel driver: validation, grouping, batching and both arithmetic paths.

    Subclasses define the split, the numeral order, the round count and the round function.
    Instances hold no mutable state besides a per-length constant cache, so one can be
    shared across threads (each call makes its own AES context).
    """

    _name: ClassVar[str] = "FPE"
    _rounds: ClassVar[int] = 10
    _little_endian: ClassVar[bool] = False

    def __init__(self, aes_key: bytes, radix: int) -> None:
        _check_radix(radix)
        self.radix: Final = radix
        self.alphabet: Final = ALPHABET[:radix]
        self._charset = frozenset(self.alphabet)
        # ECB is the FF1/FF3-1 round primitive (one independent block per value), not a
        # mode used to encrypt data.
        self._aes = Cipher(algorithms.AES(aes_key), modes.ECB())  # noqa: S305
        min_len = 2
        while radix**min_len < MIN_DOMAIN:
            min_len += 1
        self.min_len: int = min_len
        self.max_len: int = _FF1_MAX_LEN
        self._geometry: dict[int, _Geometry] = {}

    # -- public API ---------------------------------------------------------------------

    def encrypt(self, value: str) -> str:
        """Encrypt one numeral string (same length and alphabet out)."""
        self._check_one(value)
        return self._crypt_py([value], len(value), decrypt=False)[0]

    def decrypt(self, value: str) -> str:
        """Decrypt one numeral string produced by `encrypt`."""
        self._check_one(value)
        return self._crypt_py([value], len(value), decrypt=True)[0]

    def encrypt_many(self, values: Sequence[str]) -> list[str]:
        """Encrypt a batch; values may differ in length (each length is its own domain)."""
        return self._crypt_strings(values, decrypt=False)

    def decrypt_many(self, values: Sequence[str]) -> list[str]:
        """Decrypt a batch produced by `encrypt_many`."""
        return self._crypt_strings(values, decrypt=True)

    def encrypt_numerals(self, numerals: NDArray[np.integer]) -> U8:
        """Encrypt an ``(N, n)`` matrix of numeral values; the array form of `encrypt_many`."""
        return self._crypt_matrix(self._check_matrix(numerals), decrypt=False)

    def decrypt_numerals(self, numerals: NDArray[np.integer]) -> U8:
        """Decrypt an ``(N, n)`` matrix of numeral values."""
        return self._crypt_matrix(self._check_matrix(numerals), decrypt=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(radix={self.radix}, key=<redacted>)"

    # -- validation ---------------------------------------------------------------------

    def _check_length(self, n: int) -> None:
        if not self.min_len <= n <= self.max_len:
            raise ValueError(
                f"{self._name}: input length {n} is outside [{self.min_len}, {self.max_len}] "
                f"for radix {self.radix}"
            )

    def _check_one(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{self._name}: expected str, got {type(value).__name__}")
        self._check_length(len(value))
        if not self._charset.issuperset(value):
            raise ValueError(
                f"{self._name}: input contains characters outside the radix-{self.radix} "
                f"alphabet {self.alphabet!r}"
            )

    def _check_matrix(self, numerals: NDArray[np.integer]) -> U8:
        arr = np.asarray(numerals)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{self._name}: numerals must be a 2-D integer array")
        if arr.shape[0] == 0:
            return np.empty(arr.shape, dtype=np.uint8)
        self._check_length(arr.shape[1])
        if arr.min() < 0 or arr.max() >= self.radix:
            raise ValueError(f"{self._name}: numerals must lie in [0, {self.radix})")
        return np.ascontiguousarray(arr, dtype=np.uint8)

    # -- drivers ------------------------------------------------------------------------

    def _crypt_strings(self, values: Sequence[str], *, decrypt: bool) -> list[str]:
        count = len(values)
        if count == 0:
            return []
        if count < _SMALL_BATCH:
            for value in values:
                self._check_one(value)
            out = [""] * count
            by_len: dict[int, list[int]] = {}
            for idx, value in enumerate(values):
                by_len.setdefault(len(value), []).append(idx)
            for n, idxs in by_len.items():
                res = self._crypt_py([values[i] for i in idxs], n, decrypt=decrypt)
                for i, r in zip(idxs, res, strict=True):
                    out[i] = r
            return out
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=count)
        first = int(lengths[0])
        if (lengths == first).all():
            return self._crypt_group(values, first, decrypt=decrypt)
        result: list[str] = [""] * count
        for n in np.unique(lengths).tolist():
            idxs = np.flatnonzero(lengths == n).tolist()
            res = self._crypt_group([values[i] for i in idxs], int(n), decrypt=decrypt)
            for i, r in zip(idxs, res, strict=True):
                result[i] = r
        return result

    def _crypt_group(self, values: Sequence[str], n: int, *, decrypt: bool) -> list[str]:
        """One length: validate, then numpy (large batches) or Python ints (small/huge)."""
        self._check_length(n)
        geo = self._geo(n)
        if not geo.vectorised or len(values) < _SMALL_BATCH:
            if not all(map(self._charset.issuperset, values)):
                raise ValueError(
                    f"{self._name}: input contains characters outside the radix-{self.radix} "
                    f"alphabet {self.alphabet!r}"
                )
            return self._crypt_py(values, n, decrypt=decrypt)
        nums = _strings_matrix(values, n, self.radix, self._name)
        out = self._crypt_np(nums, geo, decrypt=decrypt)
        return ascii_rows_to_strings(_ALPHABET_BYTES[out])

    def _crypt_matrix(self, nums: U8, *, decrypt: bool) -> U8:
        count, n = nums.shape
        if count == 0:
            return nums.copy()
        geo = self._geo(n)
        if geo.vectorised and count >= _SMALL_BATCH:
            return self._crypt_np(nums, geo, decrypt=decrypt)
        strings = ascii_rows_to_strings(_ALPHABET_BYTES[nums])
        res = self._crypt_py(strings, n, decrypt=decrypt)
        return _strings_matrix(res, n, self.radix, self._name)

    def _geo(self, n: int) -> _Geometry:
        geo = self._geometry.get(n)
        if geo is None:
            u, v = self._split(n)
            big = max(self.radix**u, self.radix**v)
            vec = big <= _NP_LIMIT  # then b <= 7: [i] || NUM(B) fits FF1's last block
            pw_u = pw_v = None
            if vec:
                pw_u = np.array([self.radix**k for k in range(u)], dtype=np.uint64)
                pw_v = np.array([self.radix**k for k in range(v)], dtype=np.uint64)
                if not self._little_endian:
                    pw_u, pw_v = pw_u[::-1].copy(), pw_v[::-1].copy()
            geo = _Geometry(n, u, v, self.radix**u, self.radix**v, vec, pw_u, pw_v)
            self._prepare(n, geo)
            self._geometry[n] = geo
        return geo

    # -- numpy path ---------------------------------------------------------------------

    def _crypt_np(self, nums: U8, geo: _Geometry, *, decrypt: bool) -> U8:
        assert geo.pow_u is not None
        assert geo.pow_v is not None
        count = nums.shape[0]
        out = np.empty_like(nums)
        enc = self._aes.encryptor()
        u = geo.u
        order = range(self._rounds - 1, -1, -1) if decrypt else range(self._rounds)
        for start in range(0, count, _CHUNK):
            stop = min(start + _CHUNK, count)
            left, right = nums[start:stop, :u], nums[start:stop, u:]
            if self._little_endian:
                left, right = left[:, ::-1], right[:, ::-1]
            a, b = _pack(left, self.radix), _pack(right, self.radix)
            for i in order:
                modulus = geo.mod_u if i % 2 == 0 else geo.mod_v
                m = np.uint64(modulus)
                if decrypt:
                    y = self._np_prf(enc, geo, i, a, modulus)
                    a, b = (b + (m - y)) % m, a
                else:
                    y = self._np_prf(enc, geo, i, b, modulus)
                    a, b = b, (a + y) % m
            out[start:stop, :u] = _unpack(a, geo.pow_u, self.radix)
            out[start:stop, u:] = _unpack(b, geo.pow_v, self.radix)
        return out

    # -- Python-int path ----------------------------------------------------------------

    def _crypt_py(self, values: Sequence[str], n: int, *, decrypt: bool) -> list[str]:
        geo = self._geo(n)
        u, radix = geo.u, self.radix
        if self._little_endian:
            a = [int(s[u - 1 :: -1], radix) for s in values]
            b = [int(s[: u - 1 : -1], radix) for s in values]
        else:
            a = [int(s[:u], radix) for s in values]
            b = [int(s[u:], radix) for s in values]
        enc = self._aes.encryptor()
        order = range(self._rounds - 1, -1, -1) if decrypt else range(self._rounds)
        for i in order:
            m = geo.mod_u if i % 2 == 0 else geo.mod_v
            if decrypt:
                ys = self._py_prf(enc, geo, i, a)
                a, b = [(x - y) % m for x, y in zip(b, ys, strict=True)], a
            else:
                ys = self._py_prf(enc, geo, i, b)
                a, b = b, [(x + y) % m for x, y in zip(a, ys, strict=True)]
        to_str = self._to_str
        return [to_str(x, u) + to_str(y, geo.v) for x, y in zip(a, b, strict=True)]

    def _to_str(self, x: int, width: int) -> str:
        """STR^width_radix(x), reversed for FF3-1's little-endian numeral order."""
        radix = self.radix
        if radix == 10:
            s = f"{x:0{width}d}"
        elif radix == 16:
            s = f"{x:0{width}x}"
        else:
            chars = []
            for _ in range(width):
                x, r = divmod(x, radix)
                chars.append(ALPHABET[r])
            s = "".join(reversed(chars))
        return s[::-1] if self._little_endian else s

    # -- subclass hooks -----------------------------------------------------------------

    def _split(self, n: int) -> tuple[int, int]:
        raise NotImplementedError

    def _prepare(self, n: int, geo: _Geometry) -> None:
        """Precompute per-length round constants."""

    def _np_prf(self, enc: CipherContext, geo: _Geometry, i: int, x: U64, modulus: int) -> U64:
        raise NotImplementedError

    def _py_prf(self, enc: CipherContext, geo: _Geometry, i: int, xs: list[int]) -> list[int]:
        raise NotImplementedError


def _as_key(key: bytes, name: str) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"{name}: key must be bytes")
    key = bytes(key)
    if len(key) not in (16, 24, 32):
        raise ValueError(
            f"{name}: key must be 16, 24 or 32 bytes (AES-128/192/256), got {len(key)} bytes"
        )
    return key


def _as_tweak(tweak: bytes, name: str) -> bytes:
    if not isinstance(tweak, bytes | bytearray | memoryview):
        raise TypeError(f"{name}: tweak must be bytes")
    return bytes(tweak)


@dataclass(frozen=True)
class _FF1Consts:
    b: int
    d: int
    h: bytes  # CBC-MAC state after every value-independent block of P || Q
    tail: bytes  # value-independent bytes of Q's final partial block, before [i]
    w0: tuple[np.uint64, ...]  # numpy path: per-round big-endian words of h ^ last block
    w1: tuple[np.uint64, ...]
    single: tuple[int, ...]  # Python path, one variable block: h ^ last block, per round


class FF1(_FeistelFPE):
    """FF1 (SP 800-38G, Algorithm 7/8): 10 Feistel rounds, AES CBC-MAC round function.

    ``tweak`` may be empty; any length up to 2**32-1 bytes is accepted.
    """

    _name = "FF1"
    _rounds = 10
    _little_endian = False

    def __init__(self, key: bytes, tweak: bytes, radix: int = 10) -> None:
        key = _as_key(key, "FF1")
        self._tweak = _as_tweak(tweak, "FF1")
        if len(self._tweak) > _FF1_MAX_TWEAK:
            raise ValueError("FF1: tweak is longer than 2**32-1 bytes")
        super().__init__(key, radix)
        self._consts: dict[int, _FF1Consts] = {}

    @property
    def tweak(self) -> bytes:
        """The tweak (public by design: it is not secret)."""
        return self._tweak

    def _split(self, n: int) -> tuple[int, int]:
        return n // 2, n - n // 2

    def _prepare(self, n: int, geo: _Geometry) -> None:
        radix, t = self.radix, len(self._tweak)
        b = ((radix**geo.v - 1).bit_length() + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        p = (
            bytes([1, 2, 1])
            + radix.to_bytes(3, "big")
            + bytes([10, geo.u % 256])
            + n.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )
        pad = (-t - b - 1) % 16
        const = p + self._tweak + bytes(pad)
        full = len(const) // 16 * 16
        cbc = Cipher(self._aes.algorithm, modes.CBC(bytes(16))).encryptor()
        h = cbc.update(const[:full])[-16:] if full else bytes(16)
        tail = const[full:]
        w0: list[np.uint64] = []
        w1: list[np.uint64] = []
        single: list[int] = []
        if len(tail) + 1 + b == 16:
            for i in range(self._rounds):
                last = tail + bytes([i]) + bytes(b)
                block = int.from_bytes(h, "big") ^ int.from_bytes(last, "big")
                single.append(block)
                w0.append(np.uint64(block >> 64))
                w1.append(np.uint64(block & (2**64 - 1)))
        self._consts[n] = _FF1Consts(b, d, h, tail, tuple(w0), tuple(w1), tuple(single))

    def _np_prf(self, enc: CipherContext, geo: _Geometry, i: int, x: U64, modulus: int) -> U64:
        c = self._consts[geo.n]
        blocks = np.empty((x.shape[0], 2), dtype=">u8")
        blocks[:, 0] = c.w0[i]
        blocks[:, 1] = x ^ c.w1[i]
        r = np.frombuffer(enc.update(blocks.view(np.uint8).reshape(-1).data), dtype=">u8").reshape(
            -1, 2
        )
        r0 = r[:, 0].astype(np.uint64)
        if c.d <= 8:
            return _reduce([(r0 >> np.uint64(64 - 8 * c.d), 8 * c.d)], modulus)
        r1 = r[:, 1].astype(np.uint64) >> np.uint64(128 - 8 * c.d)
        return _reduce([(r0, 64), (r1, 8 * c.d - 64)], modulus)

    def _py_prf(self, enc: CipherContext, geo: _Geometry, i: int, xs: list[int]) -> list[int]:
        c = self._consts[geo.n]
        update = enc.update
        if c.single and c.d <= 16:
            # Common case: [i] || NUM(B) sits in one block and R alone gives y.
            base, shift = c.single[i], 8 * (16 - c.d)
            raw = update(b"".join([(base ^ x).to_bytes(16, "big") for x in xs]))
            return [int.from_bytes(raw[k : k + 16], "big") >> shift for k in range(0, len(raw), 16)]
        head = c.tail + bytes([i])
        b = c.b
        var = b"".join([head + x.to_bytes(b, "big") for x in xs])
        count = len(xs)
        nblocks = len(head + bytes(b)) // 16
        chunks = np.frombuffer(var, dtype=np.uint8).reshape(count, nblocks, 16)
        state = np.broadcast_to(np.frombuffer(c.h, dtype=np.uint8), (count, 16))
        for j in range(nblocks):
            mixed = np.bitwise_xor(state, chunks[:, j, :])
            state = np.frombuffer(update(mixed.tobytes()), dtype=np.uint8).reshape(count, 16)
        d = c.d
        if d > 16:
            parts = [state]
            for j in range(1, (d + 15) // 16):
                mask = np.frombuffer(j.to_bytes(16, "big"), dtype=np.uint8)
                extra = update(np.bitwise_xor(state, mask).tobytes())
                parts.append(np.frombuffer(extra, dtype=np.uint8).reshape(count, 16))
            state = np.concatenate(parts, axis=1)
        raw = np.ascontiguousarray(state[:, :d]).tobytes()
        return [int.from_bytes(raw[k : k + d], "big") for k in range(0, count * d, d)]


class FF3_1(_FeistelFPE):  # noqa: N801 - the standard's name
    """FF3-1 (SP 800-38G Rev.1, Algorithm 9/10): 8 rounds, 56-bit tweak, reversed key.

    Matches the ``ff3`` package's ``FF3Cipher`` given the same key and a 7-byte tweak.
    """

    _name = "FF3-1"
    _rounds = 8
    _little_endian = True

    def __init__(self, key: bytes, tweak: bytes, radix: int = 10) -> None:
        key = _as_key(key, "FF3-1")
        tweak = _as_tweak(tweak, "FF3-1")
        if len(tweak) != _FF3_TWEAK_LEN:
            raise ValueError(f"FF3-1: tweak must be 7 bytes (56 bits), got {len(tweak)} bytes")
        self._tweak = tweak
        super().__init__(key[::-1], radix)
        k = 0
        while radix ** (k + 1) <= 2**96:
            k += 1
        self.max_len = 2 * k
        if self.max_len < self.min_len:
            raise ValueError(f"FF3-1: radix {radix} admits no valid length")
        t_l = tweak[:3] + bytes([tweak[3] & 0xF0])
        t_r = tweak[4:7] + bytes([(tweak[3] & 0x0F) << 4])
        # REVB(W xor [i]^4): the last 4 bytes of the byte-reversed round block.
        rev_w = []
        for i in range(self._rounds):
            w = t_r if i % 2 == 0 else t_l
            rev_w.append((w[:3] + bytes([w[3] ^ i]))[::-1])
        self._rev_w: tuple[bytes, ...] = tuple(rev_w)
        self._hi_word: tuple[np.uint64, ...] = tuple(
            np.uint64(int.from_bytes(bytes(4) + rw, "little")) for rw in self._rev_w
        )

    @property
    def tweak(self) -> bytes:
        """The 56-bit tweak (public by design: it is not secret)."""
        return self._tweak

    def _split(self, n: int) -> tuple[int, int]:
        return n - n // 2, n // 2

    def _np_prf(self, enc: CipherContext, geo: _Geometry, i: int, x: U64, modulus: int) -> U64:
        blocks = np.empty((x.shape[0], 2), dtype="<u8")
        blocks[:, 0] = x
        blocks[:, 1] = self._hi_word[i]
        r = np.frombuffer(enc.update(blocks.view(np.uint8).reshape(-1).data), dtype="<u8").reshape(
            -1, 2
        )
        lo = r[:, 0].astype(np.uint64)
        hi = r[:, 1].astype(np.uint64)
        return _reduce([(hi, 64), (lo, 64)], modulus)

    def _py_prf(self, enc: CipherContext, geo: _Geometry, i: int, xs: list[int]) -> list[int]:
        rw = self._rev_w[i]
        raw = enc.update(b"".join([x.to_bytes(12, "little") + rw for x in xs]))
        return [int.from_bytes(raw[k : k + 16], "little") for k in range(0, len(raw), 16)]
