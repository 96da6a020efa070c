"""Bounded fuzzer of `seedc compile` over mutated manifests, models and expressions (issue 9).

The contract (README "exit codes"; spec seeds 000, sessions 5 and 7 for bounded work): for any
input, `seedc compile` exits 0 or 2, never prints a traceback, and stays within 5 s and
512 MiB. When it exits 0, every inline value must be storable in its declared column type,
checked by an independent oracle: PostgreSQL itself parses each cell by COPY into a temp table
whose column types come from the mutated model text, not from the plan.

Cases start from manifests/dev/acme.yaml and manifests/models/banking-core.yaml and mutate
them: replace, delete or duplicate keys, swap types (str, int, list, map, null), huge and
boundary numbers (2^53+1, 1e308, negatives), long strings, control characters, non-UTF-8
bytes, YAML tags, anchors and aliases, deep nesting, and random expressions built from the
tokens of seedc/grammar/expression.lark.

Compiling is ~0.1 s in-process but ~1 s as a fresh process, so one long-lived worker process
(RLIMIT_AS = 512 MiB set on it, a 5 s SIGALRM per case, restarted after a timeout, an
out-of-memory or a crash) runs the real click command on each case; a small sample also runs
the installed `seedc` executable in its own process to check what a user sees.

Profiles: "ci" (default, 200 examples, derandomized) and "deep" (`HYPOTHESIS_PROFILE=deep`,
3000 examples). `python bench/fuzz_contract.py` prints counts per outcome category.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from psycopg import sql
from ruamel.yaml import YAML

from tests.manifests import MANIFEST, MODEL, REPO
from tests.services import fresh_database

TIME_LIMIT_S = 5
MEMORY_LIMIT = 512 << 20
#: Seconds the parent waits for the worker beyond the per-case alarm before killing it.
GRACE_S = 10.0
SEEDC = Path(sys.executable).with_name("seedc")

#: CI does not shrink (shrinking a 5 s timeout case alone can take minutes); the deep profile
#: and bench/fuzz_contract.py report minimal cases.
settings.register_profile(
    "ci", max_examples=200, derandomize=True, deadline=None, database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "deep", max_examples=3000, derandomize=False, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Applied to the fuzz tests only (loading it globally would change every property test of the
#: session): `HYPOTHESIS_PROFILE=deep pytest tests/test_fuzz_contract.py`.
PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = settings.get_profile(PROFILE_NAME)
#: Cases also run through the real executable (~1.5 s each).
EXECUTABLE_SAMPLE = 100 if PROFILE_NAME == "deep" else 12


# --- the worker process --------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so click's CliRunner does not swallow it."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeout


def _peak_rss_reset() -> None:
    """Reset VmHWM (Linux: writing 5 to clear_refs) so each case reports its own peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_main() -> None:
    """Compile one case per stdin line ({"dir": ...}) with the real click command.

    Writes one JSON line per case: exit code, outcome, seconds, peak RSS and output head.
    """
    from click.testing import CliRunner

    from seedc.cli import cli

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _on_alarm)
    runner = CliRunner()
    for line in sys.stdin:
        folder = Path(json.loads(line)["dir"])
        args = ["compile", str(folder / "dev" / "acme.yaml"), "-o", str(folder / "plan.json")]
        _peak_rss_reset()
        started = time.perf_counter()
        outcome, code, text = "exit", -1, ""
        signal.alarm(TIME_LIMIT_S)
        try:
            result = runner.invoke(cli, args, catch_exceptions=True)
            signal.alarm(0)
            code = result.exit_code
            text = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                outcome = "uncaught " + type(result.exception).__name__
                text += f"\n{type(result.exception).__name__}: {result.exception}"[:2000]
        except CaseTimeout:
            outcome = "timeout"
        except MemoryError:
            signal.alarm(0)
            outcome = "memory"
        finally:
            signal.alarm(0)
        reply = {"outcome": outcome, "exit": code, "seconds": time.perf_counter() - started,
                 "rss_mib": _peak_rss_mib(), "output": text[:2000]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if outcome in ("timeout", "memory"):
            return  # state may be inconsistent after an interrupted case: parent restarts us


class Worker:
    """The parent's handle on the worker process; restarts it when it dies."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
               "SEEDC_LOG_LEVEL": "ERROR"}
        return subprocess.Popen(
            [sys.executable, "-c", "from tests.test_fuzz_contract import worker_main; "
             "worker_main()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=env)

    def run(self, folder: Path) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"dir": str(folder)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIME_LIMIT_S + GRACE_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return {"outcome": "worker died or hung", "exit": -1, "seconds": None,
                    "rss_mib": None, "output": ""}
        reply: dict[str, Any] = json.loads(line)
        if reply["outcome"] in ("timeout", "memory"):
            self.close()
        return reply

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def run_subprocess(folder: Path) -> tuple[int, str]:
    """The real `seedc compile` executable under the same limits: (exit code, stdout+stderr)."""
    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [str(SEEDC), "compile", str(folder / "dev" / "acme.yaml"), "-o",
             str(folder / "plan.json")], capture_output=True, text=True, errors="replace",
            timeout=TIME_LIMIT_S + GRACE_S, preexec_fn=limits, env=env, check=False)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    return done.returncode, done.stdout + done.stderr


# --- mutations -----------------------------------------------------------------------------

_yaml = YAML(typ="safe", pure=True)
BASE_MANIFEST: dict[str, Any] = _yaml.load(MANIFEST.read_text("utf-8"))
BASE_MODEL: dict[str, Any] = _yaml.load(MODEL.read_text("utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


MANIFEST_PATHS = [p for p in _paths(BASE_MANIFEST) if p]
MODEL_PATHS = [p for p in _paths(BASE_MODEL) if p]
EXPR_PATHS = [p for p in MODEL_PATHS if p[-1] == "expr"]
TYPE_PATHS = [p for p in MODEL_PATHS if p[-1] == "type"]

GENERATORS = re.findall(r"`([a-z_0-9]+)`", (REPO / "README.md").read_text("utf-8").split(
    "and generators:")[1].split("Nothing is ever")[0])
EXPR_TOKENS = [*GENERATORS, "row", "parent", "tenant", "id", "slug", "name", "seq", ".", ",",
               "(", ")", "[", "]", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
               "and", "or", "not", "if", "true", "false", "null", "0", "1", "12", "0.015",
               "9007199254740993", "1" + "0" * 40, '"text"', '"\\n"', 'd"2025-01-31"',
               'd"0001-01-01"', 'd"9999-12-31"', 'd"2025-02-30"', "=", "x", "\u00e9"]

SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63, 10**30, -(10**30), 1e308, -1e308,
                     0.1, 1e-308]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x" * 10_000, "\x00", "a\x07b", "\u202e", "22:00", "no", "1e3",
                     "2025-01-01T00:00:00Z", "../../etc/passwd", "seedc/v2", "{}", "[]"]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text("abcxyz_", max_size=8), inner, max_size=4)),
    max_leaves=12)
TOKEN_SOUP = st.lists(st.sampled_from(EXPR_TOKENS), min_size=1, max_size=14).map(" ".join)
NUMBERS = st.sampled_from(["0", "1", "2", "7", "99", "365", "1000", "32767", "32768", "2147483648",
                           "9007199254740993", "1" + "0" * 30, "0.5", "0.015", "1e3",
                           "99999999999999.99", "-1", "-(2)"])
ARGUMENT = st.one_of(NUMBERS, st.sampled_from(['"x"', '"' + "y" * 300 + '"', '"\\n"',
                                               'd"2025-01-31"', "ref_date()", "seq(1)",
                                               '["a", "b"]', "[1, 2]", "null", "true"]))
#: Well-formed generator calls with boundary arguments: these mostly compile, which is what
#: exercises the storability oracle (token soup mostly exits 2 at the parser).
CALLS = st.builds(lambda name, args: f"{name}({', '.join(args)})",
                  st.sampled_from(GENERATORS), st.lists(ARGUMENT, max_size=3))
ARITH = st.builds(lambda a, op, b: f"{a} {op} {b}", st.one_of(CALLS, NUMBERS),
                  st.sampled_from(["+", "-", "*", "/", "%"]), st.one_of(CALLS, NUMBERS))
EXPRESSIONS = st.one_of(TOKEN_SOUP, CALLS, CALLS, ARITH)
BIG = ["0", "1", "2", "99", "32767", "32768", "2147483647", "2147483648", "9007199254740993",
       "1" + "0" * 20, "0.005", "99999999999999.99", "999999999999999.995"]
#: Expressions that fit the column's declared type family with boundary arguments, so the
#: compiler accepts them and the values reach the storage oracle.
TYPED = {
    "text": ['text({n})', 'lpad("7", {n}, "0")', 'upper(words({n}))', 'concat("a", "{s}")',
             'lower(full_name())', 'company_name()', 'text({n}) + "x"'],
    "int": ['int_range(0, {n})', 'int_range({n}, {n})', "{n}", "seq({n})", "{n} * {n}",
            "index() * {n}"],
    "numeric": ["money(0.00, {n})", "dec_range({n}, {n})", "round({n} / 3, 2)", "{n}",
                "money(1.00, 2.00) * {n}"],
    "date": ["ref_date() - days({n})", "ref_date() + days({n})", "ref_date() + months({n})",
             'd"9999-12-31"', 'd"0001-01-01" - days({n})', "date_of(ref_ts() + hours({n}))"],
    "timestamptz": ["ref_ts() - seconds({n})", "ref_ts() + days({n})"],
}


def _family(sql_type: str) -> str | None:
    head = sql_type.split("(")[0].strip()
    return {"text": "text", "varchar": "text", "integer": "int", "smallint": "int",
            "bigint": "int", "numeric": "numeric", "date": "date",
            "timestamptz": "timestamptz"}.get(head)


TYPED_PATHS = [p for p in TYPE_PATHS if _family(str(BASE_MODEL["entities"][p[1]]["columns"][
    p[3]]["type"]))]


@st.composite
def typed_expression(draw: st.DrawFn) -> tuple[tuple[Any, ...], str]:
    path = draw(st.sampled_from(TYPED_PATHS))
    family = _family(str(BASE_MODEL["entities"][path[1]]["columns"][path[3]]["type"]))
    assert family is not None
    template = draw(st.sampled_from(TYPED[family]))
    return (*path[:-1], "expr"), template.format(
        n=draw(st.sampled_from(BIG)), s=draw(st.sampled_from(["", "\\n", "ç" * 300])))


COUNT_PATHS = [p for p in MANIFEST_PATHS if p[-1] in ("count", "cap", "batch_size")]


@dataclass
class Case:
    """A mutated pair of documents plus an optional text-level edit of one of them."""

    manifest: dict[str, Any]
    model: dict[str, Any]
    text_edit: tuple[str, str, int] | None  # (document, kind, position seed)
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        """The mutations only: the documents are the examples plus these."""
        return f"Case({list(self.notes)!r}, text_edit={self.text_edit!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints falsifying examples with this: the mutations, not the documents."""
        printer.text(repr(self))

    def texts(self) -> tuple[bytes, bytes]:
        out = []
        for name, doc in (("manifest", self.manifest), ("model", self.model)):
            buffer = io.StringIO()
            _yaml.dump(doc, buffer)
            data = buffer.getvalue().encode("utf-8", "surrogatepass")
            if self.text_edit and self.text_edit[0] == name:
                data = text_edit(data, self.text_edit[1], self.text_edit[2])
            out.append(data)
        return out[0], out[1]


def text_edit(data: bytes, kind: str, seed: int) -> bytes:
    """Edits that a dict cannot express: bad bytes, tags, anchors, duplicates, deep nesting."""
    lines = data.split(b"\n")
    keyed = [i for i, line in enumerate(lines) if re.match(rb"^\s*[a-z_]+:", line)]
    at = keyed[seed % len(keyed)]
    line = lines[at]
    if kind == "non-utf8":
        lines[at] = line + b" # \xff\xfe\xc3"
    elif kind == "nul":
        lines[at] = line.replace(b":", b":\x00", 1)
    elif kind == "duplicate-key":
        lines.insert(at + 1, line)
    elif kind == "tag":
        tag = [b"!!binary", b"!!python/object:os.system", b"!!set", b"!!timestamp", b"!custom",
               b"!!float"][seed % 6]
        lines[at] = line.replace(b":", b": " + tag, 1) if not line.rstrip().endswith(b":") \
            else line
    elif kind == "anchor-alias":
        head = re.match(rb"^(\s*)([a-z_]+):", line)
        assert head is not None
        lines.insert(at + 1, head.group(1) + b"zz_alias: *zz")
        lines[at] = line.replace(b":", b": &zz", 1)
    elif kind == "alias-bomb":
        bomb = [b"a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        bomb += [b"a%d: &a%d [" % (i, i) + b", ".join([b"*a%d" % (i - 1)] * 9) + b"]"
                 for i in range(1, 9)]
        lines = bomb + lines
    elif kind == "deep-nesting":
        depth = 200 + seed % 5000
        indent = re.match(rb"^(\s*)", line)
        assert indent is not None
        lines.insert(at + 1, indent.group(1) + b"zz_deep: " + b"[" * depth + b"]" * depth)
    elif kind == "bom":
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    elif kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    elif kind == "truncate":
        return data[: seed % max(1, len(data))]
    return b"\n".join(lines)


def _set(doc: Any, path: tuple[Any, ...], op: str, value: Any) -> None:
    """Apply one mutation at `path`; a path an earlier mutation removed or retyped is left
    alone (the case keeps its other mutations)."""
    parent = doc
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return
    key = path[-1]
    if isinstance(parent, list):
        if not (isinstance(key, int) and -len(parent) <= key < len(parent)):
            return
    elif not isinstance(parent, dict) or (op != "replace" and key not in parent):
        return
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[f"{key}_x"] = parent.pop(key)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """1-3 mutations of the example documents, maybe one text-level edit."""
    manifest = json.loads(json.dumps(BASE_MANIFEST))
    model = json.loads(json.dumps(BASE_MODEL))
    notes: list[str] = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["manifest", "model", "expr", "expr", "type", "count",
                                     "typed", "typed", "typed"]))
        if kind == "typed":
            path, expression = draw(typed_expression())
            _set(model, path, "replace", expression)
            notes.append(f"model {path} = {expression!r}")
            continue
        if kind == "count":
            path, number = draw(st.sampled_from(COUNT_PATHS)), draw(st.sampled_from(
                [0, 1, 2, 3, 99, 100, 101, 150, 500, 2000, 20_001, -1, 2**53 + 1]))
            _set(manifest, path, "replace", number)
            notes.append(f"manifest {path} = {number!r}")
            continue
        if kind == "expr":
            path, expression = draw(st.sampled_from(EXPR_PATHS)), draw(EXPRESSIONS)
            _set(model, path, "replace", expression)
            notes.append(f"model {path} = {expression!r}")
            continue
        if kind == "type":
            path, sql_type = draw(st.sampled_from(TYPE_PATHS)), draw(st.sampled_from(
                ["varchar(0)", "varchar(1)", "numeric(1,0)", "numeric(40,39)", "smallint",
                 "integer", "bigint", "date", "text", "uuid", "boolean", "jsonb", "money",
                 "varchar(-1)", "numeric(14,2)", "timestamptz", "int4", "x"]))
            _set(model, path, "replace", sql_type)
            notes.append(f"model {path} = {sql_type!r}")
            continue
        doc, paths = (manifest, MANIFEST_PATHS) if kind == "manifest" else (model, MODEL_PATHS)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "delete", "rename"]))
        value = draw(VALUES)
        try:
            _set(doc, path, op, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path's parent
        notes.append(f"{kind} {path} {op}" + (f" {value!r}"[:200] if op == "replace" else ""))
    edit = None
    if draw(st.sampled_from([False, False, False, False, False, True])):  # 1 in 6, unbiased
        edit = (draw(st.sampled_from(["manifest", "model"])), draw(st.sampled_from(
            ["non-utf8", "nul", "duplicate-key", "tag", "anchor-alias", "alias-bomb",
             "deep-nesting", "bom", "crlf", "truncate"])), draw(st.integers(0, 10_000)))
    return Case(manifest, model, edit, tuple(notes))


def write_case(case: Case, folder: Path) -> None:
    manifest, model = case.texts()
    (folder / "dev").mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "dev" / "acme.yaml").write_bytes(manifest)
    (folder / "models" / "banking-core.yaml").write_bytes(model)
    (folder / "plan.json").unlink(missing_ok=True)


# --- the storability oracle ----------------------------------------------------------------


def declared_types(model: dict[str, Any], entity: str) -> dict[str, str]:
    """Column -> declared SQL type, read from the (mutated) model document itself."""
    columns = model["entities"][entity]["columns"]
    types = {name: str(col["type"]) for name, col in columns.items()
             if isinstance(col, dict) and "type" in col}
    for col in columns.values():  # the new column of an expand/contract pair (issue 15)
        expand = col.get("expand") if isinstance(col, dict) else None
        if isinstance(expand, dict) and "column" in expand and "type" in expand:
            types[str(expand["column"])] = str(expand["type"])
    return types


def _cell(value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None  # dict: an FPE placeholder resolved at apply, not a stored value
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def unstorable(conn: psycopg.Connection[Any], plan: dict[str, Any],
               model: dict[str, Any]) -> list[str]:
    """Batches whose inline rows PostgreSQL refuses to COPY into their declared types."""
    problems = []
    for batch in plan.get("batches", []):
        if "rows" not in batch or not batch["rows"]:
            continue
        types = declared_types(model, batch["entity"])
        columns = batch["columns"]
        missing = [c for c in columns if c not in types]
        if missing:
            problems.append(f"{batch['id']}: no declared type for {missing}")
            continue
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE TEMP TABLE fuzz_store ({}) ON COMMIT DROP").format(
                    sql.SQL(", ").join(sql.SQL("{} {}").format(
                        sql.Identifier(c), sql.SQL(types[c])) for c in columns)))
                statement = sql.SQL("COPY fuzz_store ({}) FROM STDIN").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)))
                with conn.cursor().copy(statement) as copy:
                    for row in batch["rows"]:
                        copy.write_row([_cell(v) for v in row])
                raise _Rollback
        except _Rollback:
            pass
        except psycopg.Error as exc:
            problems.append(f"{batch['id']}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return problems


class _Rollback(Exception):
    """Leaves the oracle's transaction without keeping anything."""


# --- categories ----------------------------------------------------------------------------


def category(reply: dict[str, Any], storage: list[str]) -> str:
    """One label per case; "exit 0" and "exit 2" are the only ones the contract allows."""
    if reply["outcome"] != "exit":
        return reply["outcome"]
    if "Traceback" in reply["output"]:
        return "traceback in output"
    if reply["exit"] not in (0, 2):
        return f"exit {reply['exit']}"
    if reply["seconds"] is not None and reply["seconds"] > TIME_LIMIT_S:
        return "slower than 5 s"
    if reply["exit"] == 0 and storage:
        return "exit 0 with unstorable value"
    return f"exit {reply['exit']}"


ALLOWED = {"exit 0", "exit 2"}


# --- the tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    handle = Worker()
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def store(pg_admin_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with fresh_database(pg_admin_dsn) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="seedc-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def check_case(case: Case, worker: Worker, store: psycopg.Connection[Any],
               folder: Path) -> tuple[str, dict[str, Any], list[str]]:
    write_case(case, folder)
    reply = worker.run(folder)
    storage: list[str] = []
    if reply["outcome"] == "exit" and reply["exit"] == 0:
        plan = json.loads((folder / "plan.json").read_text("utf-8"))
        storage = unstorable(store, plan, case.model)
    return category(reply, storage), reply, storage


def test_unmutated_example_compiles_and_stores(worker: Worker, store: psycopg.Connection[Any],
                                               scratch: Path) -> None:
    """The oracle itself: the example compiles (exit 0) and every inline cell is storable."""
    label, reply, storage = check_case(Case(BASE_MANIFEST, BASE_MODEL, None), worker, store,
                                       scratch)
    assert (label, storage) == ("exit 0", []), reply
    assert reply["seconds"] < TIME_LIMIT_S
    assert reply["rss_mib"] < MEMORY_LIMIT / 2**20


def test_oracle_refuses_an_overlong_value(store: psycopg.Connection[Any]) -> None:
    """The oracle is not vacuous: a 3-letter region in varchar(2) is refused by PostgreSQL."""
    plan = {"batches": [{"id": "b", "entity": "consultants", "columns": ["region"],
                         "rows": [["SPX"]]}]}
    problems = unstorable(store, plan, BASE_MODEL)
    assert len(problems) == 1
    assert "StringDataRightTruncation" in problems[0]


@settings(PROFILE)
@given(case=cases())
def test_compile_contract(case: Case, worker: Worker, store: psycopg.Connection[Any],
                          scratch: Path) -> None:
    """Exit 0 or 2, no traceback, <= 5 s and <= 512 MiB, and exit 0 only with storable rows."""
    label, reply, storage = check_case(case, worker, store, scratch)
    assert label in ALLOWED, (label, reply["output"][-800:], storage[:3])
    assert reply["rss_mib"] is None or reply["rss_mib"] <= MEMORY_LIMIT / 2**20


@settings(PROFILE, max_examples=EXECUTABLE_SAMPLE)
@given(case=cases())
def test_real_executable_sample(case: Case, scratch: Path) -> None:
    """A sample through the installed `seedc` executable: what a user sees, in its own process
    under RLIMIT_AS and a timeout; the in-process worker is only an accelerator of this."""
    write_case(case, scratch)
    code, output = run_subprocess(scratch)
    assert "Traceback" not in output, output[-1500:]
    assert code in (0, 2), (code, output[-800:])
