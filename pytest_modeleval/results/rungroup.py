"""Run groups: `--eval-shard K/N` jobs writing into one shared results DB make one logical run.

Each shard records its own run, tagged with the group id (`--eval-run-group`, by default the CI's
pipeline or workflow id) and its K/N. While shards are missing, a shard's session gates nothing and
says which shards are in; the shard that completes the group builds the union run (every shard's
outcomes, suites, judgments and refusal rows under one new run, as `modeleval merge` does across
files) and gates it, as `modeleval gate group:ID` does later. The union is built once: the
`run_groups` row is claimed by one INSERT, so two shards finishing together do not both build it.
The dashboard shows the union in place of its shards. The union's exit status is its worst shard's (the
last shard's own included, whose row is still open), and it carries what its shards recorded about
review (`unreviewed`, `git_dirty`: merge.py `review_of`), so a dirty shard makes the union unpromotable.
"""

from __future__ import annotations

EVIDENCE = ("judgments", "refusals")


class RunGroupError(ValueError):
    """A group that cannot be gated (shards missing, or no such group); the message names what is missing."""


class RunGroup:
    """The shard runs of one checkpoint under one group id, in one results DB."""

    def __init__(self, store, model_hash: str, group: str):
        self.store, self.db, self.model_hash, self.group = store, store.db, model_hash, group

    def shards(self, current: int | None = None) -> tuple[int, dict[int, dict]]:
        """(N, {K: the newest finished run of shard K/N}); `current`, still running, counts as in."""
        rows = list(self.db.query(
            "SELECT * FROM runs WHERE model_hash = ? AND run_group = ? AND shard IS NOT NULL AND shard NOT LIKE ? "
            "ORDER BY id", [self.model_hash, self.group, "group%"]))
        n, found = 0, {}
        for row in rows:
            if row["ended_at"] is None and row["id"] != current:
                continue
            k, _, total = str(row["shard"]).partition("/")
            if not (k.isdigit() and total.isdigit()):
                continue
            n = max(n, int(total))
            found[int(k)] = row
        return n, found

    def missing(self, current: int | None = None) -> list[str]:
        n, found = self.shards(current)
        return [f"{k}/{n}" for k in range(1, n + 1) if k not in found]

    def describe(self, current: int | None = None) -> str:
        n, found = self.shards(current)
        missing = self.missing(current)
        text = f"run group {self.group} (sha256:{self.model_hash[:12]}): shards in: " + \
               (", ".join(f"{k}/{n}" for k in sorted(found)) or "none")
        return text + (f"; missing: {', '.join(missing)}" if missing else " (complete)")

    def union(self, current: int | None = None, current_status: int | None = None) -> int:
        """The union run's id, built now if no shard built it yet; RunGroupError while shards are missing.

        `current_status`: the exit status of `current`, the shard whose session is building the union and
        whose row is closed only after it (its errors must count in the union's status)."""
        from .store import now

        missing = self.missing(current)
        if missing:
            raise RunGroupError(f"{self.describe(current)}: the gates wait for every shard")
        self.store.flush()
        with self.db.conn:
            claimed = self.db.execute(
                "INSERT INTO run_groups (model_hash, run_group, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [self.model_hash, self.group, now()]).rowcount
        if not claimed:
            row = next(self.db.query("SELECT run_id FROM run_groups WHERE model_hash = ? AND run_group = ?",
                                     [self.model_hash, self.group]))
            if row["run_id"] is not None:
                return row["run_id"]
        return self._build(current, current_status)

    def _build(self, current: int | None, current_status: int | None = None) -> int:
        from .merge import USAGE_COLUMNS, review_of
        from .store import now

        n, found = self.shards(current)
        runs = [found[k] for k in sorted(found)]
        record = {key: value for key, value in runs[0].items()
                  if key not in ("id", "started_at", "ended_at", "baseline_run_id", "gate_status", "gates_failed",
                                 "overrides", "group_run_id")}
        record.update(shard=f"group {self.group}: " + " + ".join(run["shard"] for run in runs),
                      exit_status=max((current_status if run["id"] == current and current_status is not None
                                       else run.get("exit_status")) or 0 for run in runs),
                      command=f"run group {self.group} of {n} shards", **review_of(runs))
        for column in USAGE_COLUMNS:
            values = [run.get(column) for run in runs if run.get(column) is not None]
            record[column] = sum(values) if values else None
        ids = [run["id"] for run in runs]
        marks = ", ".join("?" * len(ids))
        union = self.store.start_run(record)
        with self.db.conn:
            self.store.update_run(union, {"started_at": min(run["started_at"] for run in runs), "ended_at": now()})
            for suite in self.db.query(f"SELECT * FROM suites WHERE run_id IN ({marks}) ORDER BY run_id", ids):
                self.store.add_suite(union, {k: v for k, v in suite.items() if k != "run_id"})
            for table in ("outcomes", *EVIDENCE):
                rows = [{**{k: v for k, v in row.items() if k != "id"}, "run_id": union} for row in
                        self.db.query(f"SELECT * FROM {table} WHERE run_id IN ({marks}) ORDER BY id", ids)]
                self.db[table].insert_all(rows)
            self.db.execute(f"UPDATE runs SET group_run_id = ? WHERE id IN ({marks})", [union, *ids])
            self.db.execute("UPDATE run_groups SET run_id = ?, n_shards = ? WHERE model_hash = ? AND run_group = ?",
                            [union, n, self.model_hash, self.group])
        return union


def find_group(db, group: str) -> str:
    """The checkpoint (model hash) whose shards carry this group id; an error when none or several do."""
    hashes = [row["model_hash"] for row in db.query(
        "SELECT DISTINCT model_hash FROM runs WHERE run_group = ? AND model_hash IS NOT NULL ORDER BY model_hash",
        [group])]
    if not hashes:
        raise RunGroupError(f"there is no run group {group!r} in the results database")
    if len(hashes) > 1:
        raise RunGroupError(f"run group {group!r} holds several checkpoints: "
                            + ", ".join(f"sha256:{h[:12]}" for h in hashes))
    return hashes[0]
