"""Combine the results DBs of N shard machines into one run (`modeleval merge`).

CI splits a checkpoint's evaluation with `--eval-shard K/N`; each machine writes its own
DB. Merging takes the newest run of each input, checks they evaluated the same model
and did not overlap, and writes one run whose outcomes are exactly the union, so every
later step (summary, gates) sees it as if it had run in one place.
"""

from __future__ import annotations

from .. import dburl

USAGE_COLUMNS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens",
                 "new_prompt_tokens", "new_completion_tokens", "estimated_cost_usd", "truncated_prompts")


class MergeError(ValueError):
    """Inputs that cannot be one run; the message names the files."""


def review_of(runs: list[dict]) -> dict:
    """The union run's `unreviewed` and `git_dirty` from its shards' runs, failing closed.

    `unreviewed` (gates/reviewed.py: a JSON list of the gate configuration and suite files that were
    not their committed selves, NULL outside git) is the union of the shards' lists: one dirty shard
    makes the union unpromotable. NULL only when every shard's is NULL (all ran outside git, as one
    run outside git records); a shard without the record beside shards with one (outside git, gates
    off, or a harness older than the check) is listed itself, so nothing it ran counts as reviewed.
    `git_dirty` is 1 when any shard's checkout was dirty, NULL when no shard recorded it.
    """
    import json

    values = [run.get("unreviewed") for run in runs]
    unreviewed = None
    if any(value is not None for value in values):
        found: list[str] = []
        for run, value in zip(runs, values):
            entries = json.loads(value) if value is not None else [
                f"shard {run.get('shard') or 'run ' + str(run.get('id'))} (no review recorded: outside git, "
                "gates off or an older harness)"]
            found += [entry for entry in entries if entry not in found]
        unreviewed = json.dumps(found)
    dirty = [run.get("git_dirty") for run in runs if run.get("git_dirty") is not None]
    return {"unreviewed": unreviewed, "git_dirty": int(any(dirty)) if dirty else None}


def merge(output, inputs: list) -> tuple[int, dict]:
    """The merged run's id and its tallies; the per-item rows are copied, and figures a feature computes
    over them (the judge's) are the caller's to recompute (`modeleval merge`).

    Every DB, the output and the inputs alike, is a SQLite path or a PostgreSQL URL (read through `db.reading`,
    so a shard's file or server is never written)."""
    from .db import DatabaseError, target_label
    from .store import Store
    from .summary import tally

    try:
        shards = [_newest_run(target) for target in inputs]
    except DatabaseError as exc:
        raise MergeError(str(exc)) from None
    _check_same_model(shards)
    outcomes = [row for _, _, _, rows in shards for row in rows]
    _check_disjoint(shards)
    first = shards[0][1]
    record = {key: value for key, value in first.items() if key not in ("id", "started_at", "ended_at")}
    record.update(
        shard="merged " + " + ".join(str(run.get("shard") or "all") for _, run, _, _ in shards),
        exit_status=max(run.get("exit_status") or 0 for _, run, _, _ in shards),
        command="modeleval merge " + " ".join(target_label(p) for p in inputs),
        **review_of([run for _, run, _, _ in shards]),
    )
    for column in USAGE_COLUMNS:
        values = [run.get(column) for _, run, _, _ in shards if run.get(column) is not None]
        record[column] = sum(values) if values else None
    store = Store(output)
    try:
        run_id = store.start_run(record)
        store.update_run(run_id, {"started_at": min(run["started_at"] for _, run, _, _ in shards)})
        for _, _, suites, _ in shards:
            for suite in suites:
                store.add_suite(run_id, {k: v for k, v in suite.items() if k != "run_id"})
        library = _copy_variants(store, [target for target, _, _, _ in shards])
        for target, _, _, rows in shards:
            for row in rows:
                if row.get("variant_id") is not None:
                    row = {**row, "variant_id": library[str(target)].get(row["variant_id"])}
                store.add_outcome(run_id, row)
        for table in EVIDENCE:
            _copy_evidence(store, table, [(target, run["id"]) for target, run, _, _ in shards], run_id)
        store.finish_run(run_id, record["exit_status"])
        store.update_run(run_id, {"ended_at": max(run.get("ended_at") or "" for _, run, _, _ in shards)})
    finally:
        store.close()
    return run_id, tally(outcomes)


EVIDENCE = ("judgments", "refusals")  # per-item rows of a run, keyed by test id like its outcomes


def _copy_evidence(store, table: str, runs: list[tuple], run_id: int) -> None:
    """The shards' judge or red-team rows of their runs, as rows of the merged run."""
    from .db import reading
    from .runs import rows_of_run

    for target, shard_run in runs:
        with reading(target, tables=(table,)) as db:
            rows = rows_of_run(db, table, shard_run) if db is not None else []
        store.db[table].insert_all([{**{k: v for k, v in row.items() if k != "id"}, "run_id": run_id}
                                    for row in rows])


def _copy_variants(store, targets: list) -> dict[str, dict[int, int]]:
    """Each shard's variant library into the output (a row already there is kept), and per shard its
    library row ids -> the output's, so merged outcomes still name the row each variant came from."""
    from .contamination import library, library_id
    from .db import reading

    ids = {}
    for target in targets:
        with reading(target, tables=("variants",)) as db:
            rows = library(db) if db is not None else []
        store.add_variants([{k: v for k, v in row.items() if k not in ("id", "created_at")} for row in rows])
        ids[str(target)] = {row["id"]: library_id(store.db, row) for row in rows}
    return ids


def _newest_run(target):
    from .db import exists, reading, target_label
    from .runs import newest, rows_of_run, suites

    label = target_label(target)
    if not exists(target):
        raise MergeError(f"{label} does not exist" if dburl.local_path(target) is not None else
                         f"{label} holds no runs")
    with reading(target) as db:
        run = newest(db) if db is not None else None
        if run is None:
            raise MergeError(f"{label} holds no runs")
        return target, run, list(suites(db, run["id"]).values()), rows_of_run(db, "outcomes", run["id"])


def _check_same_model(shards) -> None:
    path, run, _, _ = shards[0]
    for other_path, other, _, _ in shards[1:]:
        for field in ("model_hash", "seed"):
            if other[field] != run[field]:
                raise MergeError(f"{_label(path)} and {_label(other_path)} differ in {field} "
                                 f"({run[field]!r} vs {other[field]!r}); shards must evaluate the same thing")


def _check_disjoint(shards) -> None:
    seen: dict[str, object] = {}
    for path, _, _, rows in shards:
        for row in rows:
            if row["test_id"] in seen:
                raise MergeError(f"{row['test_id']} is in both {_label(seen[row['test_id']])} and {_label(path)}; "
                                 "were the shards run with different --eval-shard K/N?")
            seen[row["test_id"]] = path


def _label(target) -> str:
    from .db import target_label

    return target_label(target)
