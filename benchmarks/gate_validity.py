"""Do the promotion gates keep their promise? False blocks and power, through the real gate code.

Two real checkpoints of the embedded model answer the first --items MMLU test questions through the
project's own Choices path (5-shot, the ready suite's prompts): the model itself, and a copy with
a few layers damaged by Gaussian noise (--damage; "neighbouring checkpoints"). From their per-item
outcomes come the discordance (share of items one gets right and the other wrong) and, for
`p_correct` (the softmax of the choices' loglikelihoods at the right answer), the per-item pairs.

Simulated checkpoints then resample those real item pairs (with replacement) into suites of n
items, and `pytest_modeleval.gates.evaluate` gates each simulated run against its baseline with the
default rules, exactly as a session does:

- no true change: each item's two values are swapped at random (the same distribution for both
  runs, the real discordance);
- a true fall of d: among discordant items the newer run is the wrong one with probability
  (q + d) / (2q) (accuracy: the trinomial model of `stats.power.mcnemar_power`); for p_correct the
  newer run's values are scaled by (1 - d / mean), a fall of d in the mean.

Prints side by side: the single-suite false-block rate at n = 200 and 1,000, the family-wise rate
(any gate of the family blocks) for 10 suites of 300 items, with `correction = "none"` (the rule
before family-wise control) and the default Holm; and the power to block true falls of 1, 3 and 5
points at n = 1,000 and 5,000 for accuracy and for p_correct, next to the exact power of McNemar's
test at the real discordance (alone, and with the margin condition: the gate's whole rule).
Targets: family-wise <= 5%, single-suite <= 2.5%, one-suite power within 5 points of the exact
test's.

Then the sequential design (`sequential = true`, a look after every round of 10%) beside the fixed one,
through the same `evaluate` (which replays a sequential decision from the rows, as a run that stopped
would record it): family-wise false blocks of ten 300-item suites; power and the average share of items
evaluated for falls of 3, 5 and 10 points at 10% and 23% discordance (synthetic pairs at 50% accuracy);
how often and after how many items an unchanged 5,000-item suite is shown within its margin; and the
expected items per checkpoint over a mix of 80% unchanged and 20% regressed checkpoints.

Run: .venv/bin/python benchmarks/gate_validity.py [--items 60] [--runs 200] [--power-runs 200] [--pc-runs 40]
                                                  [--seq-runs 200] [--only-sequential]
     (the two checkpoints' outcomes are cached in --out; a rerun only simulates)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pytest_modeleval.gates import rules  # noqa: E402
from pytest_modeleval.gates.baseline import Baseline  # noqa: E402
from pytest_modeleval.gates.evaluate import evaluate  # noqa: E402
from pytest_modeleval.modelref import resolve  # noqa: E402
from pytest_modeleval.stats.power import mcnemar_power  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SUITE = "mmlu_pc"
SUITE_FILE = '''
import math

import pytest_modeleval as modeleval
from pytest_modeleval.suites import sources
from pytest_modeleval.suites.test_mmlu import LETTERS, prompt


@modeleval.suite("mmlu_pc", data=sources.mmlu_test, id_field="key",
                 request=modeleval.Choices(context=prompt, choices=[f" {letter}" for letter in LETTERS]))
def test_mmlu_pc(item, choice, loglikelihoods, record_metric):
    values = [ll.logprob for ll in loglikelihoods]
    top = max(values)
    weights = [math.exp(v - top) for v in values]
    record_metric("p_correct", weights[item["answer"]] / sum(weights))
    assert choice == item["answer"]
'''


def damaged_checkpoint(out: Path, layers: list[int], scale: float, seed: int) -> Path:
    """The embedded model with Gaussian noise (scale x each weight's std) added to the MLPs of `layers`."""
    import torch

    import finetune

    config = {"base": resolve("embedded").sha256, "damage": {"layers": layers, "scale": scale, "seed": seed}}
    target = out / "checkpoint-damaged"
    if finetune.cached(target, config) is not None:
        return target
    model, tokenizer = finetune.load(finetune.embedded_dir())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i in layers:
            for weight in (p for p in model.model.layers[i].mlp.parameters()):
                weight.add_(torch.randn(weight.shape, generator=generator) * weight.std() * scale)
    finetune.save(model, tokenizer, target, config, [])
    return target


def outcomes(out: Path, checkpoint: Path, items: int) -> dict[str, tuple[int, float]]:
    """item -> (right 1 / wrong 0, p_correct) of one pytest run of the suite on the checkpoint."""
    (out / f"test_{SUITE}.py").write_text(SUITE_FILE)
    db = out / f"results-{checkpoint.name}.sqlite"
    command = [sys.executable, "-m", "pytest", f"test_{SUITE}.py", f"--model={checkpoint}", f"--eval-db={db.name}",
               "--eval-cache-db=cache.sqlite", "--eval-gate-mode=off", f"--eval-limit={items}",
               f"--eval-data-dir={DATA}", "-p", "no:cacheprovider", "-q", "--rootdir=."]
    done = subprocess.run(command, cwd=out, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or " error" in done.stdout.splitlines()[-1]:
        sys.exit(f"pytest exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    import sqlite3

    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT max(id) FROM runs").fetchone()
        rows = conn.execute("SELECT item_id, outcome, metrics FROM outcomes WHERE run_id = ? AND outcome IN "
                            "('correct', 'wrong')", [run_id]).fetchall()
    return {item: (int(outcome == "correct"), json.loads(metrics)["p_correct"]) for item, outcome, metrics in rows}


def real_pairs(args) -> list[tuple[int, int, float, float]]:
    """(right_a, right_b, p_correct_a, p_correct_b) per MMLU item for the two real checkpoints, cached."""
    import finetune

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = {"items": args.items, "layers": args.layers, "damage": args.damage, "seed": args.seed,
           "model": resolve("embedded").sha256}
    cache = out / "pairs.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            print(f"checkpoint outcomes: cached in {cache}")
            return [tuple(p) for p in saved["pairs"]]
    start = time.perf_counter()
    clean = finetune.embedded_dir()
    damaged = damaged_checkpoint(out, args.layers, args.damage, args.seed)
    a, b = outcomes(out, clean, args.items), outcomes(out, damaged, args.items)
    pairs = [(a[i][0], b[i][0], a[i][1], b[i][1]) for i in sorted(a.keys() & b.keys())]
    if len(pairs) < 2:
        sys.exit(f"only {len(pairs)} items answered by both checkpoints; see the runs in {out}")
    cache.write_text(json.dumps({"key": key, "pairs": pairs}))
    print(f"checkpoint outcomes: {len(pairs)} items on both checkpoints in {time.perf_counter() - start:.0f} s")
    return pairs


def issue_pairs(discordance: float, size: int = 1000) -> list[tuple[int, int, float, float]]:
    """Synthetic item pairs with the given share answered differently (half each way), at 50% accuracy:
    issue 17's setting of neighbouring checkpoints."""
    split = round(discordance * size / 2)
    same = (size - 2 * split) // 2
    return ([(1, 0, 1.0, 0.0)] * split + [(0, 1, 0.0, 1.0)] * split + [(1, 1, 1.0, 1.0)] * same
            + [(0, 0, 0.0, 0.0)] * same)


def rows(suite: str, acc: list[int], pc: list[float] | None) -> list[dict]:
    out = []
    for i, right in enumerate(acc):
        row = {"suite": suite, "item_id": f"{suite}-{i:05d}", "outcome": "correct" if right else "wrong",
               "score": float(right), "metrics": None}
        if pc is not None:
            row["p_correct"] = pc[i]
        out.append(row)
    return out


def draw(pairs, n: int, rng: random.Random, fall: float, q: float, metric: str):
    """(new, old) per-item values of one simulated pair of runs on n items resampled from the real pairs."""
    new, old = [], []
    for _ in range(n):
        ra, rb, pa, pb = rng.choice(pairs)
        if rng.random() < 0.5:  # which checkpoint is the newer one: no true change between them
            ra, rb, pa, pb = rb, ra, pb, pa
        if metric == "accuracy":
            if ra != rb and fall > 0:  # a discordant item: the newer run is the wrong one w.p. (q + d) / 2q
                worse = rng.random() < (q + fall) / (2 * q)
                ra, rb = (0, 1) if worse else (1, 0)
            new.append(ra)
            old.append(rb)
        else:
            new.append(pa)
            old.append(pb)
    return new, old


def gated(config, suites: dict[str, tuple[list, list]], metric: str = "accuracy"):
    """The gate report of a simulated run against its simulated baseline."""
    new_rows, old_rows = [], []
    for suite, (new, old) in suites.items():
        if metric == "accuracy":
            new_rows += rows(suite, new, None)
            old_rows += rows(suite, old, None)
        else:  # the p_correct rule alone: its verdict, not the score's
            new_rows += rows(suite, [int(v > 0.5) for v in new], new)
            old_rows += rows(suite, [int(v > 0.5) for v in old], old)
    return evaluate(config, new_rows, Baseline(1, "0" * 64, "run 1", old_rows))


def blocked(config, suites: dict[str, tuple[list, list]], metric: str) -> bool:
    """Whether the gate code blocks the simulated run (some gate fails)."""
    return bool(gated(config, suites, metric).failed)


def evaluated(report, n: int) -> int:
    """Items a run computed: a suite decided early stops at its decision (every gate of it decided)."""
    total = 0
    for suite in {r.suite for r in report.results}:
        decided = [r.sequential for r in report.results if r.suite == suite and r.rule.kind == "regression"]
        stops = [d["items"] for d in decided if d and "verdict" in d]
        total += max(stops) if stops and len(stops) == len(decided) else n
    return total


def rate(trials: int, one) -> float:
    return sum(one(t) for t in range(trials)) / trials


def sequential_section(args, q_real: float) -> None:
    """The sequential design beside the fixed one: false blocks, power, items evaluated, the 80/20 mix."""
    fixed, seq = rules.parse({}), rules.parse({"sequential": True})
    print(f"sequential gates (a look after every 10% round) beside the fixed design, {args.seq_runs} simulated "
          f"checkpoints per figure ({args.big_runs} for 5,000-item suites)")
    print(f"  {'no true change, ten 300-item suites':62} {'fixed':>7} {'sequential':>11}  target")
    for label, pool, q in (("item pairs of the real checkpoints", real, q_real),
                           ("synthetic pairs, 23% discordance", issue_pairs(0.23), 0.23)):
        figures = []
        for config in (fixed, seq):
            rng = random.Random(11)
            figures.append(rate(args.seq_runs, lambda t: bool(gated(config, {
                f"s{k}": draw(pool, 300, rng, 0.0, q, "accuracy") for k in range(10)}).failed)))
        print(f"  {'  family-wise false blocks, ' + label:62} {100 * figures[0]:6.1f}% {100 * figures[1]:10.1f}%"
              "  <= 5%")
    print()
    print(f"  {'discordance':>11} {'n':>6} {'fall':>5} {'power fixed':>12} {'sequential':>11} {'diff':>6} "
          f"{'items evaluated':>16}")
    shares: dict = {}
    shown: dict = {}
    for q, n in ((0.10, 300), (0.10, 1000), (0.10, 5000), (0.23, 300), (0.23, 1000)):
        pool = issue_pairs(q)
        runs = args.big_runs if n >= 5000 else args.seq_runs
        for fall in (0.0, 0.03, 0.05, 0.10):
            if n >= 5000 and fall == 0.03:
                continue
            rng = random.Random(12)
            power_fixed = power_seq = items = 0
            passed_at = []
            for _ in range(runs):
                suites = {"s": draw(pool, n, rng, fall, q, "accuracy")}
                power_fixed += bool(gated(fixed, suites).failed)
                report = gated(seq, suites)
                power_seq += bool(report.failed)
                items += evaluated(report, n)
                [gate] = [r for r in report.results if r.rule.kind == "regression"]
                if gate.sequential and gate.sequential.get("verdict") == "pass":
                    passed_at.append(gate.sequential["items"])
            shares[q, n, fall] = items / (runs * n)
            shown[q, n, fall] = (len(passed_at) / runs, sorted(passed_at)[len(passed_at) // 2] if passed_at else None)
            pf, ps = power_fixed / runs, power_seq / runs
            label = "  (no change)" if fall == 0.0 else ""
            print(f"  {100 * q:10.0f}% {n:6,} {100 * fall:3.0f}pt {100 * pf:11.1f}% {100 * ps:10.1f}% "
                  f"{100 * (ps - pf):+5.1f} {100 * shares[q, n, fall]:15.1f}%{label}")
    print("  (power: share of checkpoints blocked, the false-block rate for no change; items evaluated: the average "
          "share of the suite computed before every gate of it was decided; targets: power within 5 points, "
          "<= 50% for falls >= 5 points)")
    print()
    for (q, n, fall), (share, median) in shown.items():
        if fall == 0.0:
            when = f", after {median:,} items (median)" if median else ""
            print(f"no true change, {n:,} items at {100 * q:.0f}% discordance: pass (shown) in {100 * share:.0f}% of "
                  f"checkpoints{when}")
    print()
    print("expected items per checkpoint, 80% unchanged and 20% regressed (the sequential design / the fixed one)")
    for q, n in sorted({(q, n) for q, n, _ in shares}):
        for fall in (0.05, 0.10):
            mix = 0.8 * shares[q, n, 0.0] + 0.2 * shares[q, n, fall]
            print(f"  {100 * q:3.0f}% discordance, {n:5,} items, regressions of {100 * fall:2.0f} points: "
                  f"{100 * mix:5.1f}% of the fixed design's items ({100 * (1 - mix):.1f}% fewer; target >= 30%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=60, help="MMLU test items both checkpoints answer")
    parser.add_argument("--layers", type=int, nargs="+", default=[10, 11, 12, 13], help="layers whose MLPs are damaged")
    parser.add_argument("--damage", type=float, default=0.15, help="noise std, in units of each weight's std")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=200, help="simulated checkpoints per false-block figure")
    parser.add_argument("--power-runs", type=int, default=200, help="simulated checkpoints per accuracy power figure")
    parser.add_argument("--seq-runs", type=int, default=200, help="simulated checkpoints per sequential figure")
    parser.add_argument("--big-runs", type=int, default=40, help="simulated unchanged 5,000-item checkpoints")
    parser.add_argument("--only-sequential", action="store_true", help="print only the sequential section")
    parser.add_argument("--pc-runs", type=int, default=40, help="per p_correct power figure (each resamples "
                        "10,000 times: the paired bootstrap of the gate)")
    default_out = Path(__file__).resolve().parent.parent / ".modeleval" / "bench" / "gate_validity"
    parser.add_argument("--out", default=str(default_out),
                        help="checkpoints, runs and cached outcomes (ignored by git, as .modeleval/ is)")
    args = parser.parse_args()
    started = time.perf_counter()

    pairs = real_pairs(args)
    n_items = len(pairs)
    q = sum(a != b for a, b, _, _ in pairs) / n_items
    acc_a, acc_b = (sum(p[i] for p in pairs) / n_items for i in (0, 1))
    pc_a, pc_b = (sum(p[i] for p in pairs) / n_items for i in (2, 3))
    diffs = [p[2] - p[3] for p in pairs]
    mean_d = sum(diffs) / n_items
    spread = math.sqrt(sum((d - mean_d) ** 2 for d in diffs) / (n_items - 1))
    print(f"real checkpoints on {n_items} MMLU items (5-shot): the embedded model and a copy with layers "
          f"{args.layers} damaged (noise {args.damage:g} x weight std)")
    print(f"  accuracy {100 * acc_a:.1f}% vs {100 * acc_b:.1f}%; discordance {100 * q:.1f}% of items answered "
          f"differently")
    print(f"  p_correct {100 * pc_a:.1f}% vs {100 * pc_b:.1f}%; per-item spread (sd of the paired difference) "
          f"{100 * spread:.1f} points (a right/wrong item's is {100 * math.sqrt(q):.1f})")

    global real
    real = pairs
    if args.only_sequential:
        sequential_section(args, q)
        print(f"done in {time.perf_counter() - started:.0f} s")
        return
    holm = rules.parse({})
    none = rules.parse({"correction": "none"})
    pc_only = rules.parse({"no-regression": False, "pc": {"metric": "p_correct", "margin": 0.01}})
    print()
    print(f"false blocks under noise (no true change), {args.runs} simulated checkpoints each")
    print(f"  {'situation':44} {'correction none':>16} {'holm (default)':>15}  target")
    synthetic = issue_pairs(0.23)
    for label, pool, n_suites, n in (("one 200-item suite", pairs, 1, 200), ("one 1,000-item suite", pairs, 1, 1000),
                                     ("ten 300-item suites (any gate)", pairs, 10, 300),
                                     ("ten 300-item suites, 23% discordance", synthetic, 10, 300)):
        figures = []
        for config in (none, holm):
            rng = random.Random(1)
            figures.append(rate(args.runs, lambda t: blocked(config, {
                f"s{k}": draw(pool, n, rng, 0.0, q, "accuracy") for k in range(n_suites)}, "accuracy")))
        target = "<= 5%" if n_suites > 1 else "<= 2.5%"
        print(f"  {label:44} {100 * figures[0]:15.1f}% {100 * figures[1]:14.1f}%  {target}")
    print("  (the last row: issue 17's setting, synthetic item pairs with 23% of items answered differently)")
    print()
    print(f"power: share of {args.power_runs} simulated checkpoints with a true fall that one suite's gate blocks "
          "(a one-suite run, alpha 0.05)")
    print(f"  {'true fall':>9} {'n':>6} {'accuracy':>9} {'exact test':>11} {'+ margin':>9} {'diff':>6} "
          f"{'p_correct':>10}   ({args.pc_runs} runs each for p_correct)")
    for n in (1000, 5000):
        for fall in (0.01, 0.03, 0.05):
            rng = random.Random(2)
            acc = rate(args.power_runs, lambda t: blocked(holm, {"s": draw(pairs, n, rng, fall, q, "accuracy")},
                                                          "accuracy"))
            exact = mcnemar_power(n, q, fall, 0.05)
            gate_rule = mcnemar_power(n, q, fall, 0.05, margin=0.01)  # and the observed fall beyond 1 point
            rng = random.Random(3)

            def pc_run(t):
                new, old = draw(pairs, n, rng, 0.0, q, "p_correct")
                mean = sum(new) / n
                return blocked(pc_only, {"s": ([v * (1 - fall / mean) for v in new], old)}, "p_correct")

            pc = rate(args.pc_runs, pc_run)
            print(f"  {100 * fall:7.0f} pt {n:6,} {100 * acc:8.1f}% {100 * exact:10.1f}% {100 * gate_rule:8.1f}% "
                  f"{100 * (acc - gate_rule):+5.1f} {100 * pc:9.1f}%")
    print("  (exact test: McNemar's exact test alone at the real discordance; + margin: with the observed fall "
          "beyond the 1-point margin too, the gate's whole rule; diff: simulated gate minus + margin)")
    print()
    sequential_section(args, q)
    print()
    print(f"done in {time.perf_counter() - started:.0f} s")


real: list = []  # the real checkpoints' item pairs (main)


if __name__ == "__main__":
    main()
