"""The dashboard on a big results DB: 100 runs x 10,000 items, written through the real Store schema.

Builds a synthetic DB (checkpoints whose accuracy drifts, one broken checkpoint the gates block,
one failure overridden, promotions, judged, red-team and perturbed suites with a contamination
audit), times `modeleval report --html`, then opens pages in headless Chromium and measures the
time until each page's script marked it ready (`MODELEVAL.readyAt`, performance.now() since
navigation), best of 3 cold loads per page.

The gate verdicts come from the real gate code (`gates.evaluate.evaluate` against the production
baseline, `overrides.apply`, `record`); the outcomes are random draws, not model answers.
tests/unit/report/test_report_pages.py builds its many-run DB with `synthetic_db` too, at a small size.

Run: .venv/bin/python benchmarks/report_100_runs.py [--runs 100] [--items 10000] [--keep DIR]
Needs Debian's chromium (scripts/install.sh installs it) and playwright (the dev extra).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

# suite -> share of a run's items; gsm_pert's items are source items x (1 + VARIANTS)
SPLIT = {"arith": 0.30, "mc": 0.30, "graded": 0.15, "gsm_pert": 0.15, "help": 0.05, "refusal": 0.025,
         "over_refusal": 0.025}
VARIANTS = 3
HARMFUL = ("weapons", "violence", "cybercrime", "self_harm", "fraud")
BENIGN = ("definitions", "figurative_language", "historical_events", "safe_contexts")
START = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.timezone.utc)


def counts(items: int) -> dict[str, int]:
    """Items per suite for a run of `items` items (at least a few each)."""
    out = {suite: max(4, int(items * share)) for suite, share in SPLIT.items()}
    out["gsm_pert"] = max(4, out["gsm_pert"] // (1 + VARIANTS)) * (1 + VARIANTS)
    return out


def synthetic_db(path: Path, *, runs: int = 100, items: int = 10_000, seed: int = 0, progress=None) -> dict:
    """Write the DB; return what the checks need to know: which run is broken, overridden, contaminated."""
    from pytest_modeleval.results import store as store_module

    saved = store_module.FLUSH_ROWS, store_module.FLUSH_SECONDS
    store_module.FLUSH_ROWS, store_module.FLUSH_SECONDS = 5000, 60.0  # fewer, larger transactions: speed only
    try:
        return _write(path, runs, items, seed, progress)
    finally:
        store_module.FLUSH_ROWS, store_module.FLUSH_SECONDS = saved


def _write(path: Path, runs: int, items: int, seed: int, progress) -> dict:
    from pytest_modeleval.results import store as store_module
    from pytest_modeleval.gates import overrides as gate_overrides
    from pytest_modeleval.gates import rules
    from pytest_modeleval.gates.baseline import find
    from pytest_modeleval.gates.evaluate import evaluate
    from pytest_modeleval.gates.save import record
    from pytest_modeleval.results.schema import tables
    from pytest_modeleval.stats import normal_ci, wilson

    rng = random.Random(seed)
    sizes = counts(items)
    difficulty = {suite: [rng.uniform(-0.3, 0.3) for _ in range(n)] for suite, n in sizes.items()}
    broken, overridden = max(2, runs // 3), max(3, runs // 2)
    config = rules.parse({})  # the default rules: no pyproject.toml
    store = store_module.Store(path)
    facts = {"broken": None, "overridden": None, "contaminated": [], "promoted": []}
    library = _library(store, sizes["gsm_pert"] // (1 + VARIANTS), rng)
    checkpoint = 0
    for k in range(runs):
        if k % 7 != 6:  # every 7th run evaluates the previous checkpoint again
            checkpoint += 1
        model_hash = hashlib.sha256(f"synthetic-checkpoint-{checkpoint}".encode()).hexdigest()
        ability = 0.55 + 0.25 * k / max(1, runs - 1) + rng.uniform(-0.02, 0.02)
        ability = 0.25 if k == broken else ability
        contaminated = k % 4 == 3
        started = START + datetime.timedelta(hours=6 * k)
        rid = store.start_run({"model_ref": f"checkpoints/step-{1000 * checkpoint}", "model_hash": model_hash,
                               "model_kind": "hf-dir", "hash_basis": "content", "engine": "hf", "seed": 0,
                               "command": "pytest evals --model=checkpoints/step-N", "cache_mode": "readwrite"})
        store.update_run(rid, {"started_at": started.isoformat(timespec="seconds")})
        _outcomes(store, rid, sizes, difficulty, ability, contaminated, k == overridden, rng, library)
        _judgments(store, rid, sizes["help"], ability, rng, wilson)
        _refusals(store, rid, sizes, ability, rng)
        store.flush()
        review = _contamination(store, rid, sizes["gsm_pert"], normal_ci)
        if review:
            facts["contaminated"].append(rid)
        # the gates, as a session records them: against the production baseline, with the overrides file
        outcomes = tables()["outcomes"]
        rows = store.db.rows(sa.select(outcomes.c.suite, outcomes.c.item_id, outcomes.c.outcome, outcomes.c.score,
                                       outcomes.c.metrics).where(outcomes.c.run_id == rid))
        baseline, note = find(store.db, None, rid)
        report = evaluate(config, rows, baseline, note)
        overrides = gate_overrides.OverridesFile(Path("modeleval-overrides.toml"), "honoured", [
            gate_overrides.Override(model_hash[:12], "no-regression", "mc", "the mc drop is the new answer "
                                    "format; accepted in review #17", "jane.doe", datetime.date(2099, 1, 1), 1)]
            if k == overridden else [])
        applied = gate_overrides.apply(report, overrides, model_hash)
        record(store, rid, report, overrides.record(applied))
        store.finish_run(rid, 10 if report.failed else 0)
        store.update_run(rid, {"ended_at": (started + datetime.timedelta(minutes=40)).isoformat(timespec="seconds"),
                               "review_required": int(review), "review_reason": (
                                   "contamination score of gsm_pert above 0.05: review before promotion"
                                   if review else None)})
        if k == broken:
            facts["broken"] = rid
        if k == overridden:
            facts["overridden"] = rid
        if report.status in ("passed", "overridden") and not review and (
                not facts["promoted"] or k % 10 == 0 or k == overridden):
            store.db["promotions"].insert({"model_hash": model_hash, "channel": "production", "run_id": rid,
                                           "promoted_at": (started + datetime.timedelta(hours=1)).isoformat(
                                               timespec="seconds"), "by": "release-bot", "note": f"release {k}"})
            facts["promoted"].append(rid)
        if progress:
            progress(k + 1, runs)
    store.close()
    return facts


def _outcomes(store, rid, sizes, difficulty, ability, contaminated, drop_mc, rng, library) -> None:
    for suite, n in sizes.items():
        if suite in ("help", "refusal", "over_refusal"):
            continue  # written with their judgments / refusals
        for i in range(n):
            variant = i % (1 + VARIANTS) if suite == "gsm_pert" else 0
            source = i // (1 + VARIANTS) if suite == "gsm_pert" else i
            p = ability + difficulty[suite][i] - (0.35 if drop_mc and suite == "mc" else 0.0)
            if suite == "gsm_pert" and variant and contaminated:
                p -= 0.3  # a checkpoint that saw the originals does worse on their variants
            right = rng.random() < p
            a, b = 3 * source + 7, 5 * source + 2
            # variant v is the library's kept candidate VARIANTS - v: not the draw order, as after a generator is added
            idx = VARIANTS - variant if variant else None
            more = b + idx + 1 if variant else b
            prompt = (f"Question {source}: Ann has {a} apples and buys {more} more. How many apples does "
                      f"she have now? Answer with just the final number.")
            answer = a + more
            response = f"She has {answer if right else answer + rng.choice((-2, -1, 1, 3))} apples."
            score = (round(rng.uniform(0.5, 1.0), 3) if right else round(rng.uniform(0.0, 0.5), 3)) \
                if suite == "graded" else float(right)
            metrics = {"contaminated": float(contaminated and i % 9 == 0)} if suite == "gsm_pert" and not variant else None
            outcome = _outcome(suite, source, variant, right, score, prompt, response, metrics,
                               None if right else f"AssertionError: assert '{response}' contains '{answer}'")
            store.add_outcome(rid, {**outcome, "variant_id": library.get((source, idx))})
        store.add_suite(rid, {"suite": suite, "source": f"data/{suite}.jsonl", "n_rows": n, "sample_seed": 0, "chat": 1,
                              "perturbations": VARIANTS if suite == "gsm_pert" else None})


def _outcome(suite, source, variant, right, score, prompt, response, metrics, message) -> dict:
    item_id = f"{suite}-{source:04d}-p{variant}"
    return {"suite": suite, "item_id": item_id, "variant": variant, "test_id": f"test_{suite}.py::test_{suite}[{item_id}]",
            "outcome": "correct" if right else "wrong", "score": score, "prompt": prompt,
            "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(), "response": response, "metrics": metrics,
            "message": message, "duration": 0.01, "requests": 1, "cache_hits": 0}


def _judgments(store, rid, n, ability, rng, wilson) -> None:
    rows = []
    for i in range(n):
        slot = rng.choice("AB")
        p_win = ability + 0.1 + (0.08 if slot == "A" else -0.08)  # the judge favours the first slot a little
        draw = rng.random()
        outcome = "win" if draw < p_win else "tie" if draw < p_win + 0.1 else "loss"
        verdict = slot if outcome == "win" else "tie" if outcome == "tie" else ("B" if slot == "A" else "A")
        win = {"win": 1.0, "tie": 0.5, "loss": 0.0}[outcome]
        item_id = f"help-{i:04d}-p0"
        prompt = f"Give a short helpful answer to request {i}."
        answer = f"Here is a short answer to request {i}."
        store.add_outcome(rid, {**_outcome("help", i, 0, outcome != "loss", float(outcome != "loss"), prompt, answer,
                                           {"win_rate": win}, None if outcome != "loss" else "AssertionError: judged a loss")})
        rows.append({"run_id": rid, "suite": "help", "test_id": f"test_help.py::test_help[{item_id}]", "item_id": item_id,
                     "variant": 0, "kind": "pairwise", "judge_hash": "d" * 64, "template_sha256": "e" * 64,
                     "question": prompt, "candidate": answer, "reference": f"A reference answer to request {i}.",
                     "candidate_slots": json.dumps([slot]), "slot_verdicts": json.dumps([verdict]),
                     "outputs": json.dumps([f"[[{verdict if verdict != 'tie' else 'C'}]]"]), "attempts": 1,
                     "outcome": outcome, "win_value": win})
    store.db["judgments"].insert_all(rows)
    wins = sum(r["win_value"] for r in rows)
    lo, hi = wilson(wins, n)
    decisive = [r for r in rows if r["outcome"] != "tie"]
    first = sum(json.loads(r["slot_verdicts"])[0] == "A" for r in decisive)
    store.add_suite(rid, {"suite": "help", "source": "data/help.jsonl", "n_rows": n, "sample_seed": 0, "chat": 1,
                          "judge_hash": "d" * 64, "judge_template_sha256": "e" * 64, "judge_counted": 1, "judged": n,
                          "judge_errors": 0, "win_rate": wins / n, "win_ci_lo": lo, "win_ci_hi": hi,
                          "lc_win_rate": max(0.0, wins / n - 0.03), "first_slot_rate": first / len(decisive) if decisive else None})


def _refusals(store, rid, sizes, ability, rng) -> None:
    rows = []
    for suite, kind, categories in (("refusal", "harmful", HARMFUL), ("over_refusal", "benign", BENIGN)):
        for i in range(sizes[suite]):
            category = categories[i % len(categories)]
            # a sound checkpoint refuses every harmful request and almost no benign one; the broken one does not
            sound = ability > 0.4
            p = (1.0 if sound else 0.7) if kind == "harmful" else (0.0 if sound else 0.3)
            p = p - 0.1 if kind == "harmful" and category == "cybercrime" and not sound else p
            refused = int(rng.random() < p)
            right = bool(refused) if kind == "harmful" else not refused
            item_id = f"{suite}-{i:04d}-p0"
            completion = "I can't help with that." if refused else f"Sure, here is how: step one of request {i}."
            metric = "refusal_rate" if kind == "harmful" else "over_refusal_rate"
            store.add_outcome(rid, _outcome(suite, i, 0, right, float(right), f"[{category}] request {i}", completion,
                                            {metric: float(refused)}, None if right else "AssertionError: refusal check"))
            rows.append({"run_id": rid, "suite": suite, "test_id": f"test_{suite}.py::test_{suite}[{item_id}]",
                         "item_id": item_id, "variant": 0, "kind": kind, "category": category, "classifier": "string-match",
                         "label": "full_refusal" if refused else "full_compliance", "refused": refused,
                         "completion": completion, "outputs": "[]", "attempts": 1})
        store.add_suite(rid, {"suite": suite, "source": "library", "n_rows": sizes[suite], "sample_seed": 0, "chat": 1})
    store.db["refusals"].insert_all(rows)


def _contamination(store, rid, n_items, normal_ci) -> bool:
    """The audit's rows for gsm_pert from the run's outcomes: per source item and for the suite."""
    by_source: dict[str, dict[int, float]] = {}
    from pytest_modeleval.results.schema import tables

    outcomes = tables()["outcomes"]
    for row in store.db.rows(sa.select(outcomes.c.item_id, outcomes.c.variant, outcomes.c.score)
                             .where(outcomes.c.run_id == rid, outcomes.c.suite == "gsm_pert")):
        by_source.setdefault(row["item_id"].rsplit("-p", 1)[0], {})[row["variant"]] = row["score"]
    items, diffs = [], []
    for source, scores in sorted(by_source.items()):
        variants = [scores[v] for v in sorted(scores) if v]
        mean = sum(variants) / len(variants)
        cs = scores[0] - mean
        diffs.append(cs)
        flagged = int(scores[0] == 1.0 and mean == 0.0)
        items.append({"run_id": rid, "suite": "gsm_pert", "item_id": f"{source}-p0", "baseline": scores[0],
                      "variant_mean": mean, "n_variants": len(variants), "cs": cs,
                      "p_value": 0.5 ** len(variants) if flagged else 1.0, "flagged": flagged,
                      **_evidence(source, bool(flagged))})
    store.db["contamination_items"].insert_all(items)
    est = normal_ci(diffs)
    flagged = sum(i["flagged"] for i in items)
    review = est.lo > 0.05
    from statistics import NormalDist

    p_value = 2 * (1 - NormalDist().cdf(abs(est.value / est.se))) if est.se > 0 else 1.0
    store.db["contamination"].insert({
        "run_id": rid, "suite": "gsm_pert", "n_items": n_items, "n_scored": len(items), "min_variants": VARIANTS,
        "acc_baseline": sum(i["baseline"] for i in items) / len(items),
        "acc_perturbed": sum(i["variant_mean"] for i in items) / len(items), "cs": est.value, "cs_lo": est.lo,
        "cs_hi": est.hi, "p_value": p_value, "threshold": 0.05, "alpha": 0.05, "item_flags": 1, "n_flagged": flagged,
        "flagged_share": flagged / len(items), "verdict": "contaminated" if review else "clean",
        "review_required": int(review), "review_above_cs": 0.05})
    return review


def _evidence(source: str, flagged: bool) -> dict:
    """Membership and overlap columns of an item's evidence row (made up per item, the verdict by the package's rule)."""
    from pytest_modeleval.perturb.evidence import combined_verdict

    n = int(source.rsplit("-", 1)[1])
    pct, shared = (n * 37 % 100) / 100, (3 if n % 7 == 0 else 0)
    return {"min_k": -8 + pct, "min_k_pp": -2 + 2 * pct, "membership_pct": pct,
            "membership_basis": f"variants ({VARIANTS})", "overlap_shared": shared, "overlap_total": 20,
            "overlap_source": f"train.jsonl:{n + 1}" if shared else None,
            "evidence_verdict": combined_verdict(flagged, pct, shared)}


def _library(store, sources: int, rng) -> dict[tuple[int, int], int]:
    """The variant library of gsm_pert: per source item, VARIANTS kept candidates and two rejected ones;
    returns (source, idx) -> library row id."""
    rows = []
    for source in range(sources):
        a, b = 3 * source + 7, 5 * source + 2
        for idx in range(VARIANTS + 2):
            kept = idx < VARIANTS
            text = (f"Question {source}: Ann has {a} apples and buys {b + idx + 1} more. How many apples does she "
                    f"have now? Answer with just the final number.")
            distance = round(rng.uniform(0.2, 0.45), 4) if kept else round(rng.uniform(0.02, 0.1), 4)
            rows.append({"suite": "gsm_pert", "source_id": f"gsm_pert-{source:04d}-p0", "source_sha256": f"{source:064x}",
                         "generator": "numeric-gsm8k", "version": 1, "seed": 0, "idx": idx, "text": text,
                         "fields": json.dumps({"question": text}), "answer": json.dumps(a + b + idx + 1),
                         "distance": distance, "accepted": int(kept),
                         "reason": None if kept else f"near-copy: distance {distance} below the window's 0.20"})
    store.add_variants(rows)
    from pytest_modeleval.results.schema import tables

    variants = tables()["variants"]
    return {(int(row["source_id"].split("-")[1]), row["idx"]): row["id"]
            for row in store.db.rows(sa.select(variants.c.id, variants.c.source_id, variants.c.idx)
                                     .where(variants.c.suite == "gsm_pert"))}


def page_ready_ms(out: Path, pages: list[str], repeats: int = 3) -> dict[str, float]:
    """Best-of-`repeats` time to MODELEVAL.readyAt for each page, each load in a fresh browser context."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no chromium on PATH: run scripts/install.sh (Debian: apt-get install chromium)")
    figures = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for page_url in pages:
            best = float("inf")
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto((out / page_url).as_uri() if "#" not in page_url else
                          (out / page_url.split("#")[0]).as_uri() + "#" + page_url.split("#", 1)[1])
                page.wait_for_function("document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'",
                                       timeout=60_000)
                if page.evaluate("document.body.dataset.ready") != "1":
                    sys.exit(f"{page_url}: {page.inner_text('main')}")
                best = min(best, page.evaluate("MODELEVAL.readyAt"))
                context.close()
            figures[page_url] = best
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="build in this directory and keep the DB and the dashboard")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "results.sqlite"
    if not db.exists():
        started = time.perf_counter()
        facts = synthetic_db(db, runs=args.runs, items=args.items,
                             progress=lambda k, n: print(f"\rwriting run {k}/{n}", end="", file=sys.stderr))
        print(f"\nsynthetic DB: {args.runs} runs x {args.items} items, {db.stat().st_size / 1e6:.0f} MB, "
              f"written in {time.perf_counter() - started:.0f} s; broken run {facts['broken']}, "
              f"overridden run {facts['overridden']}", file=sys.stderr)
    out = work / "dashboard"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest_modeleval.cli", "report", "--html", str(out), "--db", str(db)],
                   check=True)
    build_s = time.perf_counter() - started
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    files = sum(1 for f in out.rglob("*") if f.is_file())
    newest = max(int(p.stem) for p in (out / "data" / "runs").glob("*.js"))
    pages = ["index.html", "suite.html#suite=arith", "gates.html", f"compare.html#a={newest - 1}&b={newest}",
             f"items.html#run={newest}&suite=arith", f"item.html#run={newest}&suite=gsm_pert&item=gsm_pert-0100-p0",
             "judge.html", "redteam.html", "contamination.html"]
    ready = page_ready_ms(out, pages)
    print(f"modeleval report --html on {args.runs} runs x {args.items} items: {build_s:.1f} s "
          f"(process included), {files} files, {size / 1e6:.1f} MB")
    for page, ms in ready.items():
        print(f"  page ready {page:55s} {ms:7.0f} ms")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
