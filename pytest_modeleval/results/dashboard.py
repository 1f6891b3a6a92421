"""What the dashboard reads (pytest_modeleval.report): read-only queries, one function per table or view.

Aggregates run in the DB (one pass over `outcomes` for every run and suite), never by loading item
rows into Python; the report turns these rows into its figures. The item-level readers return the
cursor's tuples, since a run's items are many and each is read once.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables

ONE: sa.ColumnElement = sa.literal_column("1")
ZERO: sa.ColumnElement = sa.literal_column("0")


def _shown(table):
    """A run group's shards are shown as their union run (results.rungroup), not one by one."""
    runs = tables()["runs"]
    return table.c.run_id.not_in(sa.select(runs.c.id).where(runs.c.group_run_id.is_not(None)))


def runs(db) -> list[dict]:
    """Every run but a group's shards, oldest first (by start time, then id)."""
    r = tables()["runs"]
    return db.rows(sa.select(*(r.c[c] for c in (
        "id", "started_at", "ended_at", "exit_status", "model_ref", "model_hash", "model_kind", "engine",
        "git_commit", "git_dirty", "command", "baseline_run_id", "gate_status", "gates_failed", "overrides",
        "judge_ref", "judge_self", "review_required", "review_reason")))
        .where(r.c.group_run_id.is_(None)).order_by(r.c.started_at, r.c.id))


def suite_stats(db) -> list[dict]:
    """Per run and suite: outcome counts, and the answered items' score sum and range (for the mean and its band)."""
    o = tables()["outcomes"]

    def tally(outcome):
        return sa.func.sum(sa.case((o.c.outcome == outcome, ONE), else_=ZERO))

    answered = sa.case((o.c.outcome.in_(("correct", "wrong")), o.c.score))
    return db.rows(
        sa.select(o.c.run_id, o.c.suite, sa.func.count().label("items"), tally("correct").label("correct"),
                  tally("wrong").label("wrong"), tally("error").label("errors"), tally("skipped").label("skipped"),
                  sa.func.count(answered).label("scored"), sa.func.sum(answered).label("score_sum"),
                  sa.func.min(answered).label("score_min"), sa.func.max(answered).label("score_max"))
        .where(_shown(o)).group_by(o.c.run_id, o.c.suite).order_by(o.c.run_id, o.c.suite))


def suites(db) -> list[dict]:
    """The `suites` rows: source, perturbations and the judge's figures per run."""
    t = tables()["suites"]
    return db.rows(every(t).where(_shown(t)).order_by(t.c.run_id, t.c.suite))


def promotions(db) -> list[dict]:
    """Every promotion, oldest first."""
    p = tables()["promotions"]
    return db.rows(every(p).order_by(p.c.id))


def gates(db) -> list[dict]:
    """Every gate verdict, by run, suite and gate."""
    g = tables()["gates"]
    return db.rows(sa.select(*(g.c[c] for c in (
        "run_id", "suite", "gate", "metric", "kind", "verdict", "n", "value", "ci_lo", "ci_hi", "baseline_run_id",
        "baseline_value", "delta", "p_value", "test", "message", "missing", "override",
        "p_adjusted", "correction", "family_size", "detectable", "needed_n", "underpowered")))
        .where(_shown(g)).order_by(g.c.run_id, g.c.suite, g.c.gate))


def pairwise_verdicts(db):
    """run_id, suite, candidate_slots, slot_verdicts and outcome of every pairwise judgment (the JSON lists as text)."""
    j = tables()["judgments"]
    return db.query(sa.select(j.c.run_id, j.c.suite, j.c.candidate_slots, j.c.slot_verdicts, j.c.outcome)
                    .where(j.c.kind == "pairwise", _shown(j)))


def refusal_counts(db) -> list[dict]:
    """Refusal counts per run, suite, kind (harmful | benign) and category; `n` counts the classified items."""
    r = tables()["refusals"]
    category = sa.func.coalesce(r.c.category, "(none)").label("category")
    return db.rows(
        sa.select(r.c.run_id, r.c.suite, r.c.kind, category, sa.func.count().label("items"),
                  sa.func.count(r.c.refused).label("n"), sa.func.coalesce(sa.func.sum(r.c.refused), 0).label("refused"),
                  (sa.func.count() - sa.func.count(r.c.refused)).label("errors"))
        .where(_shown(r)).group_by(r.c.run_id, r.c.suite, r.c.kind, r.c.category)
        .order_by(r.c.run_id, r.c.suite, r.c.kind, category))


def contamination(db) -> list[dict]:
    """The contamination score of each run's perturbed suites (empty before any audit ran)."""
    c = tables()["contamination"]
    return db.rows(every(c).where(_shown(c)).order_by(c.c.run_id, c.c.suite))


def contamination_counts(db) -> list[dict]:
    """Per run and suite: items audited and items flagged."""
    c = tables()["contamination_items"]
    return db.rows(sa.select(c.c.run_id, c.c.suite, sa.func.count().label("items"),
                             sa.func.coalesce(sa.func.sum(c.c.flagged), 0).label("flagged"))
                   .group_by(c.c.run_id, c.c.suite))


def top_contaminated(db, limit: int) -> list[dict]:
    """Per run and suite, the `limit` items with the highest CS (flagged first), with their `rank`."""
    c = tables()["contamination_items"]
    rank = sa.func.row_number().over(partition_by=(c.c.run_id, c.c.suite),
                                     order_by=(c.c.flagged.desc(), c.c.cs.desc(), c.c.item_id)).label("rank")
    ranked = sa.select(sa.literal_column("*"), rank).select_from(c).subquery("ranked")
    return db.rows(every(ranked).where(ranked.c.rank <= limit)
                   .order_by(sa.literal_column("run_id"), sa.literal_column("suite"), ranked.c.rank))


def item_rows(db, run_id: int):
    """A run's outcomes as tuples, grouped by suite and source item (variants -p0, -p1, ... together)."""
    o = tables()["outcomes"]
    return db.execute(sa.select(*(o.c[c] for c in (
        "suite", "item_id", "variant", "outcome", "score", "test_id", "prompt_hash", "response", "message", "metrics",
        "duration", "variant_id"))).where(o.c.run_id == run_id).order_by(o.c.suite, o.c.item_id))


EVIDENCE = ("cs", "p_value", "flagged", "n_variants", "min_k", "min_k_pp", "membership_pct", "membership_basis",
            "overlap_shared", "overlap_total", "overlap_source", "evidence_verdict")


def evidence(db, run_id: int) -> dict[str, dict[str, dict]]:
    """suite -> canonical item id -> its contamination evidence row (the suites that asked for membership or
    overlap), for the item pages."""
    c = tables()["contamination_items"]
    out: dict[str, dict[str, dict]] = {}
    for row in db.rows(sa.select(c.c.suite, c.c.item_id, *(c.c[name] for name in EVIDENCE))
                       .where(c.c.run_id == run_id, c.c.evidence_verdict.is_not(None))):
        out.setdefault(row.pop("suite"), {})[row.pop("item_id")] = row
    return out


def prompt_counts(db, run_ids: list[int]) -> list[tuple]:
    """(suite, distinct prompts) over the outcomes of these runs that kept a prompt."""
    o = tables()["outcomes"]
    return db.execute(sa.select(o.c.suite, sa.func.count(o.c.prompt_hash.distinct()))
                      .where(o.c.run_id.in_(run_ids), o.c.prompt.is_not(None)).group_by(o.c.suite)).fetchall()


def prompts(db, suite: str, run_ids: list[int]):
    """(prompt_hash, prompt) of each distinct prompt of one suite over these runs."""
    o = tables()["outcomes"]
    return db.execute(sa.select(o.c.prompt_hash, sa.func.min(o.c.prompt))
                      .where(o.c.suite == suite, o.c.run_id.in_(run_ids), o.c.prompt.is_not(None))
                      .group_by(o.c.prompt_hash))


def variants(db):
    """The variant library, kept and rejected candidates, in the order they were generated."""
    v = tables()["variants"]
    return db.execute(sa.select(*(v.c[c] for c in (
        "suite", "source_id", "id", "generator", "version", "seed", "idx", "text", "distance", "accepted", "reason")))
        .order_by(v.c.suite, v.c.source_id, v.c.id))


def changes(db) -> tuple:
    """What a run, a gate or a promotion adds: `report --serve` on a server's DB rebuilds when it changes."""
    t = tables()

    def count(name):
        return sa.select(sa.func.count()).select_from(t[name]).scalar_subquery()

    return tuple(db.execute(sa.select(
        count("runs"), sa.select(sa.func.max(t["runs"].c.ended_at)).scalar_subquery(), count("outcomes"),
        count("gates"), count("promotions"), sa.select(sa.func.max(t["promotions"].c.id)).scalar_subquery(),
        count("judgments"), count("contamination"))).fetchone())
