"""Payloads of the batches to write, built ahead in worker processes for large plans.

Generation, digest check and FPE resolution of batch i+1 overlap the COPY and INSERT of batch
i: on two cores the database works on one while a worker fills the other. Inline plans and
small ones build in-process.

A worker is a plain child interpreter (`python -m seedc.runtime.prefetch`, no fork of a process
holding connections and a heartbeat thread, and no multiprocessing: no resource tracker to
outlive us). It reads the plan and the key once, then batch ids, from a pipe, and answers with
payloads on another. It dies with its parent (issue 10 item 5): PR_SET_PDEATHSIG(SIGKILL) on
Linux, plus a watchdog that exits when its parent pid changes; EOF on its input ends it too.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import islice
from pathlib import Path
from typing import IO, Any

from seedc.errors import RuntimeFailure, SeedcError
from seedc.program.evaluate import Program
from seedc.runtime.payload import Payload, build_payload
from seedc.runtime.pii.domains import PiiResolver

__all__ = ["payloads"]

_STATE: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


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


class _Worker:
    """One child interpreter building payloads in request order."""

    def __init__(self, plan: dict[str, Any], key: bytes) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seedc.runtime.prefetch", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.requests: IO[bytes] = self.proc.stdin
        self.answers: IO[bytes] = self.proc.stdout
        self._send((plan, key))

    def _send(self, message: object) -> None:
        pickle.dump(message, self.requests, protocol=pickle.HIGHEST_PROTOCOL)
        self.requests.flush()

    def submit(self, batch_id: str) -> None:
        self._send(batch_id)

    def result(self) -> Payload:
        try:
            kind, *rest = pickle.load(self.answers)  # noqa: S301  (our own child's answer)
        except EOFError:
            raise RuntimeFailure(f"the payload worker (pid {self.proc.pid}) died "
                                 f"(exit {self.proc.poll()})") from None
        if kind == "ok":
            payload: Payload = rest[0]
            return payload
        cls, message, rule, details = rest
        if isinstance(cls, type) and issubclass(cls, SeedcError):
            raise cls(message, rule=rule, details=details)
        raise RuntimeFailure(f"the payload worker failed: {message}")

    def close(self) -> None:
        with suppress(OSError):
            self.requests.close()  # EOF: the worker exits
        with suppress(OSError):  # an answer nobody reads any more: its write fails at once
            self.answers.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextmanager
def payloads(plan: dict[str, Any], key: bytes, batches: list[dict[str, Any]],
             workers: int | None = None) -> Iterator[Iterator[Payload]]:
    """Payloads of `batches` in order; built ahead by workers when that pays off."""
    workers = default_workers() if workers is None else workers
    if workers == 0 or plan["rows_inline"] or len(batches) < 3:
        _init(plan, key)
        try:
            yield (_build(b["id"]) for b in batches)
        finally:
            _STATE.clear()
        return
    pool: list[_Worker] = []
    try:
        for _ in range(workers):
            pool.append(_Worker(plan, key))
        pending = iter(enumerate(batches))
        ahead: deque[int] = deque()

        def submit(items: Iterator[tuple[int, dict[str, Any]]]) -> None:
            for i, batch in items:
                pool[i % workers].submit(batch["id"])
                ahead.append(i)

        submit(islice(pending, 2 * workers))

        def ordered() -> Iterator[Payload]:
            while ahead:
                i = ahead.popleft()
                payload = pool[i % workers].result()
                submit(islice(pending, 1))
                yield payload

        yield ordered()
    finally:
        for worker in pool:
            worker.close()


# --- the worker side ---------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux), and a watchdog for when it already has."""
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="seedc-worker-watchdog").start()


def _serve(parent: int) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answer pipe
    try:
        plan, key = pickle.load(requests)  # noqa: S301  (our parent's request)
    except EOFError:
        return
    _init(plan, key)
    while True:
        try:
            batch_id = pickle.load(requests)  # noqa: S301  (our parent's request)
        except EOFError:
            # every answer is flushed and nothing else is held: skip the interpreter's
            # teardown (~0.25 s of freeing the program's caches), which the run's end waits on
            os._exit(0)
        try:
            answer: tuple[Any, ...] = ("ok", _build(batch_id))
        except SeedcError as exc:
            answer = ("err", type(exc), exc.message, exc.rule, exc.details)
        except Exception as exc:  # reported to the parent, which stops the run
            answer = ("err", None, f"{type(exc).__name__}: {exc}", None, [])
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:
            return


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
