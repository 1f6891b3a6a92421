"""The prediction cache on SQLite and on PostgreSQL over loopback, side by side in one run.

1. Warm rerun: ITEMS x VARIANTS generation tests, every prediction already in the cache, as a
   fresh `pytest` process (the plugin, planner and cache exactly as a CI job runs them; the engine
   is warm_cache.py's instant stand-in, so the harness and the cache are what is timed), once with
   the cache in a SQLite file and once in PostgreSQL. Target: PostgreSQL within 1.5x of SQLite.
   The cache layer alone (one Predictor reading every key back) is timed too.
2. Cold run split over 4 processes sharing one PostgreSQL cache vs the same plan in one process:
   an engine that costs COST_MS per request (a sleep: the work a model would do), the processes
   started together; each logs the keys it computed, and the script checks every prediction was
   computed exactly once.

It starts its own throwaway PostgreSQL with tests/support/pgserver.py (needs initdb / pg_ctl), or takes
--postgres URL (a database it may fill). Default run: 2,500 items x 4 variants (about 2 minutes on
a 2-core machine); the figures in docs/scaling.md use --items 10000.

Run: .venv/bin/python benchmarks/store_backends.py [--items 10000] [--variants 4] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests" / "support")]

import warm_cache  # noqa: E402  (its instant engine, suite and pytest runner)


def pytest_rerun(tmp: Path, items: int, variants: int, cache_db: str) -> tuple[float, float, int]:
    """(cold s, warm s, warm engine calls) of the bulk suite with its cache at cache_db."""
    evals = tmp / f"evals-{len(list(tmp.iterdir()))}"
    evals.mkdir()
    rows = (json.dumps({"question": f"item {i} variant {v}: what is {i} + {v}?"})
            for i in range(items) for v in range(variants))
    (evals / "data.jsonl").write_text("\n".join(rows) + "\n")
    (evals / "conftest.py").write_text(textwrap.dedent(warm_cache.CONFTEST))
    (evals / "test_bulk.py").write_text(warm_cache.SUITE)
    calls = evals / "calls.json"
    env = {**os.environ, "ENGINE_CALLS_FILE": str(calls), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    args = ["--model=embedded", "--eval-batch-size=64", "--eval-cache-db", cache_db]
    cold = warm_cache.pytest_run(evals, *args, env=env)
    warm = warm_cache.pytest_run(evals, *args, env=env)
    return cold, warm, json.loads(calls.read_text())


def requests_of(items: int, variants: int):
    from pytest_modeleval.engines.base import GenerateRequest

    return [GenerateRequest(f"item {i} variant {v}: what is {i} + {v}?", max_tokens=8)
            for i in range(items) for v in range(variants)]


class CostlyEngine:
    """Answers after COST_MS per request, like a model that is busy; logs the prompts it computed."""

    def __init__(self, cost_ms: float, log: Path | None = None):
        from pytest_modeleval.engines.base import EngineInfo

        self.info = EngineInfo(kind="costly", version="1", model_hash="c" * 64)
        self.cost_ms = cost_ms
        self.log = log

    def generate(self, batch):
        time.sleep(self.cost_ms * len(batch) / 1000)
        if self.log is not None:
            with open(self.log, "a") as f:
                f.write("".join(json.dumps(r.prompt) + "\n" for r in batch))
        return [r.prompt[-8:] for r in batch]

    def count_tokens(self, text):
        return len(text) // 4


def cache_layer_read(target: str, items: int, variants: int) -> float:
    """Seconds for one Predictor to answer every request from a filled cache."""
    from pytest_modeleval.runtime.cache.store import PredictionCache
    from pytest_modeleval.runtime.predictor import Predictor

    engine = CostlyEngine(0)
    fill = Predictor(lambda: engine, PredictionCache(target), engine.info.model_hash, 64)
    fill.generate(requests_of(items, variants))
    fill.cache.close()
    cache = PredictionCache(target)
    reader = Predictor(lambda: engine, cache, engine.info.model_hash, 64)
    start = time.perf_counter()
    predictions = reader.generate(requests_of(items, variants))
    elapsed = time.perf_counter() - start
    assert all(p.cached for p in predictions) and reader.usage.engine_calls == 0
    cache.close()
    return elapsed


def _worker(target: str, items: int, variants: int, cost_ms: float, log: str, barrier, times: str) -> None:
    from pytest_modeleval.runtime.cache.store import PredictionCache
    from pytest_modeleval.runtime.predictor import Predictor

    engine = CostlyEngine(cost_ms, Path(log))
    cache = PredictionCache(target)
    predictor = Predictor(lambda: engine, cache, engine.info.model_hash, 16, shared=cache.shared)
    plan = requests_of(items, variants)
    cache.get_many(["warm up the connection"])
    barrier.wait()  # every process starts on the plan at once, imports and connections done
    start = time.time()
    predictor.generate(plan)
    Path(times).write_text(json.dumps([start, time.time()]))
    cache.close()


def cold_split(target: str, items: int, variants: int, cost_ms: float, processes: int, tmp: Path):
    """(seconds, computations, distinct prompts computed) for the plan run by `processes` processes."""
    logs = [tmp / f"computed-{processes}-{i}.jsonl" for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    times = [tmp / f"times-{processes}-{i}.json" for i in range(processes)]
    workers = [context.Process(target=_worker, args=(target, items, variants, cost_ms, str(log), barrier, str(t)))
               for log, t in zip(logs, times)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        if w.exitcode:
            sys.exit(f"a cold-run process failed (exit {w.exitcode})")
    spans = [json.loads(t.read_text()) for t in times]
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    computed = [line for log in logs if log.exists() for line in log.read_text().splitlines()]
    return elapsed, len(computed), len(set(computed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2_500)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--cold-items", type=int, default=200, help="items of the cold split run (default 200)")
    parser.add_argument("--cost-ms", type=float, default=20.0,
                        help="engine cost per request in the cold run (default 20 ms)")
    parser.add_argument("--postgres", help="postgresql://... database to use (default: start a throwaway server)")
    args = parser.parse_args()

    from pytest_modeleval.dburl import redact

    server = None
    if args.postgres:
        databases = iter([args.postgres] * 3)
        where = redact(args.postgres)
    else:
        import pgserver

        server = pgserver.start()
        if server is None:
            sys.exit("no PostgreSQL binaries (initdb / pg_ctl): install postgresql or pass --postgres URL")
        databases = iter([server.create_database("bench") for _ in range(3)])
        where = "a throwaway server on loopback"
    n = args.items * args.variants
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            print(f"PostgreSQL: {where}; {os.cpu_count()} CPUs")
            print(f"1. warm rerun of {n} tests ({args.items} items x {args.variants} variants), a fresh pytest each")
            sqlite = pytest_rerun(tmp, args.items, args.variants, str(tmp / "cache.sqlite"))
            postgres = pytest_rerun(tmp, args.items, args.variants, next(databases))
            for name, (cold, warm, calls) in (("SQLite", sqlite), ("PostgreSQL", postgres)):
                print(f"   {name:<11} cold {cold:6.2f} s   warm {warm:6.2f} s   warm engine calls {calls} (target 0)")
            print(f"   warm PostgreSQL / warm SQLite = {postgres[1] / sqlite[1]:.2f} (target <= 1.5)")
            layer_sqlite = cache_layer_read(str(tmp / "layer.sqlite"), args.items, args.variants)
            layer_pg = cache_layer_read(next(databases), args.items, args.variants)
            print(f"   cache layer alone, {n} keys read back by one Predictor: SQLite {layer_sqlite:.2f} s, "
                  f"PostgreSQL {layer_pg:.2f} s ({layer_pg / layer_sqlite:.2f}x)")

            cold_n = args.cold_items * args.variants
            print(f"2. cold run of {cold_n} predictions, engine {args.cost_ms:g} ms per request, one PostgreSQL cache")
            target = next(databases)
            one = cold_split(target, args.cold_items, args.variants, args.cost_ms, 1, tmp)
            _truncate(target)
            four = cold_split(target, args.cold_items, args.variants, args.cost_ms, 4, tmp)
            for name, (seconds, made, distinct) in (("1 process", one), ("4 processes", four)):
                print(f"   {name:<12} {seconds:6.2f} s   computed {made} ({distinct} distinct; "
                      f"{'each exactly once' if made == distinct == cold_n else 'NOT exactly once'})")
            print(f"   speed-up 4 processes vs 1 = {one[0] / four[0]:.2f}x")
            if not (one[1] == one[2] == four[1] == four[2] == cold_n and postgres[2] == sqlite[2] == 0):
                sys.exit("a prediction was computed twice, or a warm run called the engine")
    finally:
        if server is not None:
            server.stop()


def _truncate(url: str) -> None:
    import sqlalchemy as sa

    from pytest_modeleval.dburl import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM predictions"))
        conn.execute(sa.text("DELETE FROM prediction_claims"))
    engine.dispose()


if __name__ == "__main__":
    main()
