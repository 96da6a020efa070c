"""Payloads of the batches to write, built ahead in a worker process for large plans.

Generation, digest check and FPE resolution of batch i+1 overlap the COPY and INSERT of batch
i: on two cores the database works on one while the worker fills the other. Inline plans and
small ones build in-process. The worker is a spawned process (no fork of a process holding
connections and a heartbeat thread); it receives the plan and the key once, at start.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from itertools import islice
from typing import Any

from seedc.program.evaluate import Program
from seedc.runtime.payload import Payload, build_payload
from seedc.runtime.pii.domains import PiiResolver

__all__ = ["payloads"]

_STATE: dict[str, Any] = {}


def _init(plan: dict[str, Any], key: bytes) -> None:
    _STATE["plan"] = plan
    _STATE["program"] = Program.from_json(plan["program"])
    _STATE["resolver"] = PiiResolver(key, plan["keys"]["algorithm"])
    _STATE["batches"] = {b["id"]: b for b in plan["batches"]}


def _build(batch_id: str) -> Payload:
    return build_payload(_STATE["plan"], _STATE["program"], _STATE["batches"][batch_id],
                         _STATE["resolver"])


def default_workers() -> int:
    """One generation worker per spare core (the database and this process share the rest)."""
    configured = os.environ.get("SEEDC_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return max(1, (os.cpu_count() or 2) - 1)


@contextmanager
def payloads(plan: dict[str, Any], key: bytes, batches: list[dict[str, Any]],
             workers: int | None = None) -> Iterator[Iterator[Payload]]:
    """Payloads of `batches` in order; built ahead by workers when that pays off."""
    workers = default_workers() if workers is None else workers
    if workers == 0 or plan["rows_inline"] or len(batches) < 3:
        _init(plan, key)
        yield (_build(b["id"]) for b in batches)
        _STATE.clear()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init,
                             initargs=(plan, key)) as pool:
        pending = iter(batches)
        ahead: deque[Future[Payload]] = deque(
            pool.submit(_build, b["id"]) for b in islice(pending, workers + 1))

        def ordered() -> Iterator[Payload]:
            while ahead:
                future = ahead.popleft()
                following = next(pending, None)
                if following is not None:
                    ahead.append(pool.submit(_build, following["id"]))
                yield future.result()

        try:
            yield ordered()
        finally:
            for future in ahead:
                future.cancel()
