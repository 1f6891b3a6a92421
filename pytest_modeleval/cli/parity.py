"""`modeleval parity`: the same items on two engine configurations, and whether they give one verdict.

It runs pytest twice in subprocesses, the way a user would (`--eval-engine E --eval-dtype D`, gates
off, both runs into one results DB, the project's prediction cache on, so a rerun computes nothing),
then compares the two runs' outcome rows item by item (engine_parity.py): greedy agreement, |Δ
logprob| per token, and the paired accuracy difference with McNemar's exact test. Exit status 0
when that difference is not significant at 0.05, 1 when it is, 2 on a bad argument; a pytest run
that fails to start passes on its own status (4: pytest's usage error).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .common import CLIError, command

ENGINES = ("hf", "vllm")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Config:
    engine: str
    dtype: str

    @property
    def label(self) -> str:
        return f"{self.engine} {self.dtype}"


def add_parser(sub) -> None:
    parser = sub.add_parser("parity", help="run the same suites on two engines (or dtypes) and compare them item "
                                           "by item; exit status 1 when the accuracies differ significantly")
    parser.add_argument("suites", nargs="+", metavar="SUITE", help="suite files or directories, as pytest takes them")
    parser.add_argument("--model", required=True, help="the model reference, as --model takes it")
    parser.add_argument("--engines", default="hf,vllm", help="two engines, A,B (hf or vllm; default hf,vllm)")
    parser.add_argument("--dtypes", default="auto", help="one dtype for both, one per engine (float32,bfloat16) or "
                                                         "by engine (hf:float32,vllm:bfloat16); default auto")
    parser.add_argument("--limit", type=int, help="items per suite (--eval-limit)")
    parser.add_argument("--db", help="results DB to record the two runs in (default: a temporary one, removed)")
    parser.set_defaults(run=run, passthrough=[])


def configs(engines: str, dtypes: str) -> tuple[Config, Config]:
    """The two configurations `--engines` and `--dtypes` name; CLIError when they are malformed or the same."""
    names = [e.strip() for e in engines.split(",")]
    if len(names) != 2 or any(e not in ENGINES for e in names):
        raise CLIError(f"--engines {engines!r}: expected two of {', '.join(ENGINES)}, as A,B (e.g. hf,vllm)")
    parts = [d.strip() for d in dtypes.split(",")]
    if all(":" in p for p in parts):
        if names[0] == names[1]:
            raise CLIError(f"--dtypes {dtypes!r}: both engines are {names[0]}; give the dtypes in order (A,B)")
        keyed = dict(p.split(":", 1) for p in parts)
        unknown = sorted(set(keyed) - set(names))
        if unknown:
            raise CLIError(f"--dtypes {dtypes!r}: {', '.join(unknown)} is not one of --engines {engines}")
        chosen = [keyed.get(e, "auto") for e in names]
    elif len(parts) in (1, 2) and not any(":" in p for p in parts):
        chosen = parts * 2 if len(parts) == 1 else parts
    else:
        raise CLIError(f"--dtypes {dtypes!r}: expected DTYPE, A_DTYPE,B_DTYPE or ENGINE:DTYPE,ENGINE:DTYPE")
    bad = [d for d in chosen if d not in DTYPES]
    if bad:
        raise CLIError(f"--dtypes {dtypes!r}: {bad[0]!r} is not one of {', '.join(DTYPES)}")
    a, b = Config(names[0], chosen[0]), Config(names[1], chosen[1])
    if a == b:
        raise CLIError(f"both runs would be {a.label}: name two engines or two dtypes")
    return a, b


@command("parity")
def run(args) -> int:
    from ..util.text import aligned

    a, b = configs(args.engines, args.dtypes)
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit {args.limit}: expected a positive number of items")
    with tempfile.TemporaryDirectory(prefix="modeleval-parity-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "parity.sqlite"
        run_a, run_b = (_pytest(args, config, db) for config in (a, b))
        store = _store(db)
        try:
            labels = [_recorded(store, rid, config) for rid, config in ((run_a, a), (run_b, b))]
            from ..results.runs import logged_calls
            from .engine_parity import compare

            count = _token_count(args.model)
            results = compare(logged_calls(store.db, run_a), logged_calls(store.db, run_b), count)
        finally:
            store.close()
    print(f"A = run {run_a}: {labels[0]}\nB = run {run_b}: {labels[1]}")
    for line in aligned(*_table(results), left=1):
        print(line)
    overall = results[-1]
    if count is None and overall.loglikelihoods:
        print("(no tokenizer for this model here: |Δlp| is per loglikelihood request, not per token)")
    if overall.prompts_differ:
        print(f"{overall.prompts_differ} call(s) not compared: the engines rendered different prompts")
    if not overall.n:
        raise CLIError("no item was answered by both runs", status=2)
    from ..gates.display import fmt_p
    from ..util.text import pct

    change = f"{pct(overall.accuracy_a)} -> {pct(overall.accuracy_b)} on {overall.n} paired items"
    if overall.significant:
        print(f"the accuracies differ ({change}; McNemar exact p={fmt_p(overall.p_value)} < 0.05): "
              "the two engines do not give one verdict")
        return 1
    print(f"the accuracy difference is not significant ({change}; McNemar exact p={fmt_p(overall.p_value)} >= 0.05)")
    return 0


def _pytest(args, config: Config, db: Path) -> int:
    """One pytest run of the suites on `config`, into `db`; the new run's id."""
    from ..results.runs import newest_id

    before = _newest(db, newest_id)
    cmd = [sys.executable, "-m", "pytest", *args.suites, f"--model={args.model}", f"--eval-engine={config.engine}",
           f"--eval-dtype={config.dtype}", f"--eval-db={db}", "--eval-gate-mode=off", "-q", "-p", "no:cacheprovider",
           *([f"--eval-limit={args.limit}"] if args.limit else []), *args.passthrough]
    print(f"modeleval parity: {config.label}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    env = {k: v for k, v in os.environ.items() if k != "MODELEVAL_ENGINE"}  # the option names the engine
    status = subprocess.run(cmd, stdout=sys.stderr, env=env).returncode
    if status not in (0, 1):  # 1: some items were errors, which the comparison leaves out
        raise CLIError(f"pytest on {config.label} exited with status {status}", status=status)
    after = _newest(db, newest_id)
    if after is None or after == before:
        raise CLIError(f"pytest on {config.label} recorded no run in {db}")
    return after


def _newest(db: Path, newest_id) -> int | None:
    if not db.exists():
        return None
    store = _store(db)
    try:
        return newest_id(store.db)
    finally:
        store.close()


def _store(db: Path):
    from ..results.store import Store

    return Store(db, readonly=True)


def _recorded(store, run_id: int, asked: Config) -> str:
    """How the run actually ran (auto resolved), from its runs row."""
    row = store.run(run_id) or {}
    engine, dtype = row.get("engine") or asked.engine, row.get("engine_dtype") or asked.dtype
    device = f" on {row['engine_device']}" if row.get("engine_device") else ""
    return f"{engine} {dtype}{device}" + (f" ({row['engine_version']})" if row.get("engine_version") else "")


def _token_count(model: str):
    """The model's tokenizer as a token counter (for |Δ logprob| per token); None where it has none here."""
    from ..modelref import ModelRefError, resolve

    try:
        resolved = resolve(model)
    except ModelRefError:
        return None
    if resolved.path is None:
        return None
    try:
        from transformers import AutoTokenizer

        from ..engines.hf import model_dir  # a GGUF file's converted directory, as the engines load it

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir(resolved)))
    except Exception:  # noqa: BLE001 - without a tokenizer the deltas are per request, and the table says so
        return None
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _table(results) -> tuple[tuple, list[tuple]]:
    from ..gates.display import fmt_p
    from ..util.text import pct

    header = ("suite", "items", "acc A", "acc B", "B - A", "McNemar p", "greedy same", "max |Δlp|/tok",
              "mean |Δlp|/tok")
    rows = []
    for r in results:
        diff = "-" if r.difference is None else f"{100 * r.difference:+.1f}"
        same = f"{r.identical}/{r.generations}" if r.generations else "-"
        if r.generations:
            same += f" ({pct(r.agreement)})"
        rows.append((r.suite, str(r.n), pct(r.accuracy_a), pct(r.accuracy_b), diff,
                     fmt_p(r.p_value) if r.n else "-", same, _delta(r.max_delta), _delta(r.mean_delta)))
    return header, rows


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
