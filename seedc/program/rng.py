"""Counter-based randomness: a keyed hash of (namespace, entity, column, call site, row key).

There is no generator state: the value for a row is a pure function of its key, so any batch
can be generated alone, in any order, on any worker, and give the same bytes (seeds session 6).
The stream seed is a keyed BLAKE2b of the names; the per-row mix is SplitMix64's finaliser,
vectorised over the batch's keys with wrapping uint64 arithmetic.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

__all__ = ["GOLDEN", "jump_bucket", "mix64", "stream_seed", "uniform_below", "uuid5_many"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_RNG_KEY = b"seedc-rng-v1"


def stream_seed(*parts: str) -> np.uint64:
    """The 64-bit seed of one random stream, from its names (never from PII)."""
    h = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8, key=_RNG_KEY)
    return np.uint64(int.from_bytes(h.digest(), "little"))


def mix64(seed: np.uint64, keys: np.ndarray) -> np.ndarray:
    """SplitMix64 output at position `keys` of stream `seed` (uint64 array)."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) * GOLDEN + seed
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform_below(bits: np.ndarray, span: int) -> np.ndarray:
    """Map uint64 bits to integers in [0, span) (bias below span / 2**64, negligible)."""
    if span <= 0:
        raise ValueError("span must be positive")
    return (bits % np.uint64(span)).astype(np.int64)


_JUMP_LCG = np.uint64(2862933555777941757)


def jump_bucket(keys: np.ndarray, buckets: int) -> np.ndarray:
    """Jump consistent hash (Lamping & Veach 2014) of each uint64 key into [0, buckets).

    Why not `uniform_below`: `bits % n` reassigns almost every key when n changes. With a jump
    hash, growing n to m moves a key only to one of the new buckets n..m-1, each key with
    probability (m - n) / m; shrinking moves only the keys of removed buckets. That makes a
    parent's growth change the fewest references (issue 12). Vectorised form of the paper's
    loop; float64 arithmetic as in the published code, so results equal its test vectors.
    """
    if buckets <= 0:
        raise ValueError("buckets must be positive")
    key = np.asarray(keys, dtype=np.uint64).copy()
    b = np.full(key.shape, -1, dtype=np.int64)
    j = np.zeros(key.shape, dtype=np.int64)
    active = np.ones(key.shape, dtype=bool)
    with np.errstate(over="ignore"):
        while active.any():
            b[active] = j[active]
            k = key[active] * _JUMP_LCG + np.uint64(1)
            key[active] = k
            step = float(1 << 31) / ((k >> np.uint64(33)).astype(np.float64) + 1.0)
            j[active] = ((b[active] + 1).astype(np.float64) * step).astype(np.int64)
            active &= j < buckets
    return b


def uuid5_many(namespace: uuid.UUID, names: list[bytes]) -> np.ndarray:
    """RFC 4122 UUIDv5 of each name in `namespace`, as canonical lower-case strings.

    Equal to `str(uuid.uuid5(namespace, name))` but without building UUID objects.
    """
    ns = namespace.bytes
    sha1 = hashlib.sha1
    raw = b"".join([sha1(ns + name, usedforsecurity=False).digest()[:16] for name in names])
    buf = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 16).copy()
    buf[:, 6] = (buf[:, 6] & 0x0F) | 0x50
    buf[:, 8] = (buf[:, 8] & 0x3F) | 0x80
    hx = buf.tobytes().hex()
    out = np.empty(len(names), dtype=object)
    out[:] = [
        f"{hx[i:i + 8]}-{hx[i + 8:i + 12]}-{hx[i + 12:i + 16]}-"
        f"{hx[i + 16:i + 20]}-{hx[i + 20:i + 32]}"
        for i in range(0, len(hx), 32)
    ]
    return out
