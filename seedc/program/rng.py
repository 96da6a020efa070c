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
    out = np.full(np.shape(keys), -1, dtype=np.int64)
    flat = out.reshape(-1)  # a view: results land in `out`
    key = np.asarray(keys, dtype=np.uint64).ravel().copy()
    idx = np.arange(key.size)  # where each still-jumping key's result goes
    j = np.zeros(key.size, dtype=np.int64)
    with np.errstate(over="ignore"):
        while idx.size:  # each pass works only on the keys still jumping
            b = j
            key = key * _JUMP_LCG + np.uint64(1)
            step = float(1 << 31) / ((key >> np.uint64(33)).astype(np.float64) + 1.0)
            j = ((b + 1).astype(np.float64) * step).astype(np.int64)
            done = j >= buckets
            flat[idx[done]] = b[done]
            keep = ~done
            idx, key, j = idx[keep], key[keep], j[keep]
    return out


def uuid5_many(namespace: uuid.UUID, names: list[bytes]) -> np.ndarray:
    """RFC 4122 UUIDv5 of each name in `namespace`, as canonical lower-case strings.

    Equal to `str(uuid.uuid5(namespace, name))` but without building UUID objects: one SHA-1
    per name (from a copy of the hash fed the namespace), then the text of all of them at once
    — one hex of the whole buffer, dashes placed by slicing an (n, 37) byte matrix, one decode
    and one C-level split — instead of a Python format per uuid.
    """
    n = len(names)
    prefix = hashlib.sha1(namespace.bytes, usedforsecurity=False)
    digests = []
    for name in names:
        h = prefix.copy()
        h.update(name)
        digests.append(h.digest())
    buf = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, 20)[:, :16].copy()
    buf[:, 6] = (buf[:, 6] & 0x0F) | 0x50
    buf[:, 8] = (buf[:, 8] & 0x3F) | 0x80
    hexes = np.frombuffer(buf.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(n, 32)
    text = np.empty((n, 37), dtype=np.uint8)
    text[:, [8, 13, 18, 23]] = ord("-")
    text[:, 36] = ord("\n")
    for src, dst in _UUID_GROUPS:
        text[:, dst:dst + src[1] - src[0]] = hexes[:, src[0]:src[1]]
    strings = text.tobytes().decode("ascii").split("\n")
    strings.pop()
    out = np.empty(n, dtype=object)
    out[:] = strings
    return out


# (hex digit range, offset in the text) of the five groups of 8-4-4-4-12 digits
_UUID_GROUPS = (((0, 8), 0), ((8, 12), 9), ((12, 16), 14), ((16, 20), 19), ((20, 32), 24))
