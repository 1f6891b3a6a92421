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

import sqlalchemy as sa

from .schema import every, tables

EVIDENCE = ("judgments", "refusals")


class RunGroupError(ValueError):
    """A group that cannot be gated (shards missing, or no such group); the message names what is missing."""


class RunGroup:
    """The shard runs of one checkpoint under one group id, in one results DB."""

    def __init__(self, store, model_hash: str, group: str):
        self.store, self.db, self.model_hash, self.group = store, store.db, model_hash, group

    def shards(self, current: int | None = None) -> tuple[int, dict[int, dict]]:
        """(N, {K: the newest finished run of shard K/N}); `current`, still running, counts as in."""
        r = tables()["runs"]
        rows = self.db.rows(every(r).where(r.c.model_hash == self.model_hash, r.c.run_group == self.group,
                                           r.c.shard.is_not(None), r.c.shard.not_like("group%")).order_by(r.c.id))
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
        from .db import insert_statement

        self.store.flush()
        groups = tables()["run_groups"]
        row = {"model_hash": self.model_hash, "run_group": self.group, "created_at": now()}
        with self.db.transaction():
            claimed = self.db.execute(insert_statement(self.db.dialect, groups, row, (), on_conflict="nothing")
                                      .inline().values(row)).rowcount
        if not claimed:
            row = self.db.one(sa.select(groups.c.run_id).where(groups.c.model_hash == self.model_hash,
                                                               groups.c.run_group == self.group))
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
        t = tables()
        union = self.store.start_run(record)
        with self.db.transaction():
            self.store.update_run(union, {"started_at": min(run["started_at"] for run in runs), "ended_at": now()})
            s = t["suites"]
            for suite in self.db.rows(every(s).where(s.c.run_id.in_(ids)).order_by(s.c.run_id)):
                self.store.add_suite(union, {k: v for k, v in suite.items() if k != "run_id"})
            for table in ("outcomes", *EVIDENCE):
                rows = [{**{k: v for k, v in row.items() if k != "id"}, "run_id": union} for row in
                        self.db.rows(every(t[table]).where(t[table].c.run_id.in_(ids)).order_by(t[table].c.id))]
                self.db[table].insert_all(rows)
            self.db.execute(sa.update(t["runs"]).where(t["runs"].c.id.in_(ids)).values(group_run_id=union))
            groups = t["run_groups"]
            self.db.execute(sa.update(groups).where(groups.c.model_hash == self.model_hash,
                                                    groups.c.run_group == self.group).values(run_id=union, n_shards=n))
        return union


def find_group(db, group: str) -> str:
    """The checkpoint (model hash) whose shards carry this group id; an error when none or several do."""
    r = tables()["runs"]
    hashes = [row["model_hash"] for row in db.rows(
        sa.select(r.c.model_hash).distinct().where(r.c.run_group == group, r.c.model_hash.is_not(None))
        .order_by(r.c.model_hash))]
    if not hashes:
        raise RunGroupError(f"there is no run group {group!r} in the results database")
    if len(hashes) > 1:
        raise RunGroupError(f"run group {group!r} holds several checkpoints: "
                            + ", ".join(f"sha256:{h[:12]}" for h in hashes))
    return hashes[0]


def union_run(db, model_hash: str, group: str) -> int | None:
    """The group's union run once a shard (or `modeleval gate group:ID`) built it; None before. Reads only."""
    groups = tables()["run_groups"]
    return db.scalar(sa.select(groups.c.run_id).where(groups.c.model_hash == model_hash,
                                                      groups.c.run_group == group))
