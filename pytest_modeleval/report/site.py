"""Write a whole dashboard: the pages, the assets beside them, and the data files they load.

Data files are JavaScript (`MODELEVAL.put("key", {...});`) rather than JSON, because a page opened
from file:// may run `<script src>` but not fetch(). Run-level data (runs, series, gates, judge,
red team, contamination) is one file each; item-level data is chunked (see `items`), and the paired
comparisons are one file per pair of runs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..results import dashboard
from . import ReportError, compare, figures, items, pages

MARKER = ".modeleval-report"  # marks a directory this command wrote, so a rebuild may replace it
STATIC = Path(__file__).with_name("static")
ASSETS = ("chart.umd.min.js", "chart.js-LICENSE.md", "dashboard.js", "dashboard.css")
RUN_CACHE = 8  # runs' item values kept in memory while the comparisons are computed


@dataclass
class BuildResult:
    out: Path
    runs: int
    suites: int
    item_runs: int
    pairs: int
    files: int
    bytes: int
    seconds: float


def prepare(out: Path) -> None:
    """Refuse a file, or a directory with other things in it; clear the data of an earlier dashboard."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file, not a directory: give --html a directory to write the dashboard into")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ReportError(f"{out} is not empty and holds no earlier dashboard: give --html a new or empty directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {out}: {exc.strerror or exc}") from None
    if (out / "data").is_dir():
        shutil.rmtree(out / "data")  # stale chunks of runs since pruned


class DataWriter:
    """Writes `data/<key>.js` files and counts them."""

    def __init__(self, out: Path):
        self.root = out / "data"
        self.files = 0
        self.bytes = 0

    def __call__(self, key: str, data) -> None:
        text = f"MODELEVAL.put({json.dumps(key)},{json.dumps(data, separators=(',', ':'), ensure_ascii=False)});\n"
        path = self.root / f"{key}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = text.encode("utf-8")
        path.write_bytes(encoded)
        self.files += 1
        self.bytes += len(encoded)


def build(db, out: Path, *, db_label: str, pairs: list[tuple[int, int]] = (), item_runs: int = 0,
          correction: str = "holm") -> BuildResult:
    """The dashboard of `db` (a results Database) in `out`; `item_runs` > 0 keeps item data for the newest N runs;
    comparisons adjust their p-values by the project's gate `correction`, as `modeleval compare` does."""
    started = time.monotonic()
    runs = figures.runs(db)
    prepare(out)
    write = DataWriter(out)
    stats = dashboard.suite_stats(db)
    suite_names = sorted({row["suite"] for row in stats})
    slugs = _slugs(suite_names)
    promotions = figures.promotions(db)
    gates = figures.gates(db)
    suites_rows = dashboard.suites(db)
    contamination = dashboard.contamination(db)

    with_items = [run["id"] for run in runs][-item_runs:] if item_runs else [run["id"] for run in runs]
    for rid in with_items:
        manifest = items.write_run_items(db, rid, slugs, write)
        meta = {row["suite"]: {"sample_seed": row["sample_seed"], "perturbations": row["perturbations"]}
                for row in suites_rows if row["run_id"] == rid}
        write(f"runs/{rid}", {"run": rid, "suites": {s: {**entry, **meta.get(s, {})} for s, entry in manifest.items()}})
    prompt_shards = items.write_prompts(db, with_items, slugs, write)
    variant_shards = items.write_variants(db, slugs, write)

    all_pairs = list(dict.fromkeys([*compare.default_pairs(runs), *pairs]))
    write_pairs(db, all_pairs, write, correction)

    write("gates", {"gates": gates})
    write("judge", {"rows": _judge_rows(db, suites_rows)})
    write("refusals", {"rows": figures.refusals(db)})
    top = figures.contamination_items(db)
    write("contamination", {"rows": contamination,
                            "items": [{"run_id": k[0], "suite": k[1], **v} for k, v in sorted(top.items())]})
    write("summary", _summary(runs, stats, gates, promotions, suites_rows, contamination, suite_names, slugs,
                              prompt_shards, variant_shards, set(with_items), all_pairs, db_label))
    for name in pages.PAGES:
        (out / name).write_text(pages.page(name, db_label), encoding="utf-8")
    (out / "assets").mkdir(exist_ok=True)
    for asset in ASSETS:
        shutil.copyfile(STATIC / asset, out / "assets" / asset)
    (out / MARKER).write_text("written by `modeleval report --html`; a rebuild replaces data/\n")
    return BuildResult(out, len(runs), len(suite_names), len(with_items), len(all_pairs), write.files, write.bytes,
                       time.monotonic() - started)


def write_pairs(db, pairs: list[tuple[int, int]], write, correction: str = "holm") -> None:
    """One comparison file per pair, reading each run's items once while its pairs come by (LRU of RUN_CACHE)."""
    cache: OrderedDict[int, compare.RunValues] = OrderedDict()

    def values(rid: int) -> compare.RunValues:
        if rid in cache:
            cache.move_to_end(rid)
        else:
            cache[rid] = compare.RunValues(db, rid)
            if len(cache) > RUN_CACHE:
                cache.popitem(last=False)
        return cache[rid]

    for a, b in pairs:
        write(f"compare/{a}-{b}", compare.compare(values(a), values(b), correction=correction))


def _summary(runs, stats, gates, promotions, suites_rows, contamination, suite_names, slugs, prompt_shards,
             variant_shards, with_items, pairs, db_label) -> dict:
    """What every page loads: the runs, each suite's metrics over runs, and where the rest of the data lies."""
    per_run: dict[int, dict] = {}
    series: dict[str, dict[str, list]] = {suite: {"score": []} for suite in suite_names}
    by_run_suite = {(row["run_id"], row["suite"]): row for row in stats}
    gate_at = {(g["run_id"], g["suite"], g["metric"]): g for g in gates}
    for row in stats:
        total = per_run.setdefault(row["run_id"], {"items": 0, "scored": 0, "score_sum": 0.0, "errors": 0,
                                                   "suites": 0})
        total["items"] += row["items"]
        total["scored"] += row["scored"] or 0
        total["score_sum"] += row["score_sum"] or 0.0
        total["errors"] += row["errors"] or 0
        total["suites"] += 1
    run_ids = [run["id"] for run in runs]
    for rid in run_ids:
        for suite in suite_names:
            row = by_run_suite.get((rid, suite))
            if row is None:
                continue
            mean = figures.score_mean(row)
            regression = gate_at.get((rid, suite, "score"))
            series[suite]["score"].append(_point(rid, mean["value"], mean["lo"], mean["hi"], mean["n"],
                                                 regression["verdict"] if regression else None,
                                                 counts=[row["items"], row["correct"], row["wrong"], row["errors"],
                                                         row["skipped"]]))
    for g in gates:
        if g["kind"] != "threshold" or g["suite"] not in series:
            continue
        series[g["suite"]].setdefault(g["metric"], []).append(
            _point(g["run_id"], g["value"], g["ci_lo"], g["ci_hi"], g["n"], g["verdict"]))
    for row in suites_rows:  # a win rate without a gate row (gates off): the suite's own figure
        if row["win_rate"] is None or row["suite"] not in series or (row["run_id"], row["suite"], "win_rate") in gate_at:
            continue
        series[row["suite"]].setdefault("win_rate", []).append(
            _point(row["run_id"], row["win_rate"], row["win_ci_lo"], row["win_ci_hi"], row["judged"], None))
    for row in contamination:
        if row["suite"] in series:
            series[row["suite"]].setdefault("cs", []).append(
                _point(row["run_id"], row["cs"], row["cs_lo"], row["cs_hi"], row["n_scored"], row["verdict"]))
    order = {rid: i for i, rid in enumerate(run_ids)}
    for per_suite in series.values():
        for points in per_suite.values():
            points.sort(key=lambda p: order.get(p["run"], 0))
    current = {}
    for p in promotions:
        if p["current"]:
            current.setdefault(p["run_id"], []).append(p["channel"])
    perturbed = {row["suite"] for row in suites_rows if row["perturbations"]}
    out_runs = []
    for run in runs:
        total = per_run.get(run["id"], {})
        out_runs.append({**run, "items": total.get("items", 0), "suites": total.get("suites", 0),
                         "scored": total.get("scored", 0), "errors": total.get("errors", 0),
                         "score": (total["score_sum"] / total["scored"]) if total.get("scored") else None,
                         "channels": current.get(run["id"], []), "has_items": run["id"] in with_items})
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "db": db_label,
        "runs": out_runs,
        "suites": [{"name": s, "slug": slugs[s], "prompt_shards": prompt_shards.get(s, 0),
                    "variant_shards": variant_shards.get(s, 0), "perturbed": s in perturbed} for s in suite_names],
        "series": series,
        "promotions": promotions,
        "pairs": [f"{a}-{b}" for a, b in pairs],
        "has": {"contamination": bool(contamination)},
    }


def _point(run_id, value, lo, hi, n, verdict, counts=None) -> dict:
    point = {"run": run_id, "value": figures.finite(value), "lo": figures.finite(lo), "hi": figures.finite(hi),
             "n": n, "verdict": verdict}
    if counts is not None:
        point["counts"] = counts
    return point


def _judge_rows(db, suites_rows) -> list[dict]:
    """Judged suites per run: the suites row's figures and the position-bias counts from the judgments."""
    slots = figures.judge_slots(db)
    keys = ("run_id", "suite", "judge_hash", "judge_template_sha256", "judge_counted", "judged", "judge_errors",
            "win_rate", "win_ci_lo", "win_ci_hi", "lc_win_rate", "first_slot_rate", "mean_rating")
    out = []
    for row in suites_rows:
        if row["judge_hash"] is None and row["win_rate"] is None and row["mean_rating"] is None:
            continue
        out.append({**{k: row[k] for k in keys}, "slots": slots.get((row["run_id"], row["suite"]))})
    return out


def _slugs(names: list[str]) -> dict[str, str]:
    """Suite name -> a file-name-safe, unique folder name."""
    import hashlib
    import re

    out, taken = {}, set()
    for name in names:
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "suite"
        if slug != name or slug.lower() in taken:
            slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        taken.add(slug.lower())
        out[name] = slug
    return out
