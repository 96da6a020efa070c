"""The chunked multiset digest of a COPY read equals the sum of its lines' hashes, computed
independently from the rows as PostgreSQL prints them (lines split across COPY chunks)."""

from __future__ import annotations

import psycopg

from seedc.runtime.payload import MASK, line_hash
from seedc.runtime.state import copy_digest

QUERY = ("SELECT g, md5(g::text), repeat('é', g % 7), CASE WHEN g % 5 = 0 THEN NULL ELSE "
         "E'tab\\there' END FROM generate_series(1, 60000) AS g")


def test_copy_digest_equals_the_sum_of_line_hashes(pg_admin_dsn: str) -> None:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        digest = copy_digest(conn, f"COPY ({QUERY}) TO STDOUT")
        rows = conn.execute(QUERY).fetchall()
    lines = ["\t".join("\\N" if v is None else str(v).replace("\t", "\\t") for v in row)
             .encode("utf-8") for row in rows]
    assert digest.rows == 60000
    assert digest.digest == sum(line_hash(line) for line in lines) & MASK


def test_copy_digest_of_nothing_is_zero(pg_admin_dsn: str) -> None:
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        digest = copy_digest(conn, "COPY (SELECT 1 WHERE false) TO STDOUT")
    assert (digest.rows, digest.digest) == (0, 0)


def test_chunks_digest_is_the_same_however_the_stream_is_cut() -> None:
    """One row per chunk (what PostgreSQL sends) and arbitrary cuts give the same digest."""
    import random

    from seedc.runtime.state import chunks_digest

    lines = [f"{i}\tname {i}\t\\N\t{'x' * (i % 50)}".encode() for i in range(3000)]
    want = (len(lines), sum(line_hash(line) for line in lines) & MASK)
    stream = b"".join(line + b"\n" for line in lines)
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(stream)), 500))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    for chunks in ([line + b"\n" for line in lines], pieces, [stream],
                   [memoryview(line + b"\n") for line in lines], [stream[:-1]]):
        got = chunks_digest(chunks)
        assert (got.rows, got.digest) == want
