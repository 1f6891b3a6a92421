"""What the dashboard reads (pytest_modeleval.report): read-only queries, one function per table or view.

Aggregates run in the DB (one pass over `outcomes` for every run and suite), never by loading item
rows into Python; the report turns these rows into its figures. The item-level readers return the
cursor's tuples, since a run's items are many and each is read once.
"""

from __future__ import annotations

# A run group's shards are shown as their union run (results.rungroup), not one by one.
SHOWN = "run_id NOT IN (SELECT id FROM runs WHERE group_run_id IS NOT NULL)"


def runs(db) -> list[dict]:
    """Every run but a group's shards, oldest first (by start time, then id)."""
    return list(db.query("""
        SELECT id, started_at, ended_at, exit_status, model_ref, model_hash, model_kind, engine, git_commit,
               git_dirty, command, baseline_run_id, gate_status, gates_failed, overrides, judge_ref, judge_self,
               review_required, review_reason
        FROM runs WHERE group_run_id IS NULL ORDER BY started_at, id"""))


def suite_stats(db) -> list[dict]:
    """Per run and suite: outcome counts, and the answered items' score sum and range (for the mean and its band)."""
    return list(db.query(f"""
        SELECT run_id, suite, COUNT(*) AS items,
               SUM(CASE WHEN outcome = 'correct' THEN 1 ELSE 0 END) AS correct,
               SUM(CASE WHEN outcome = 'wrong' THEN 1 ELSE 0 END) AS wrong,
               SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS errors,
               SUM(CASE WHEN outcome = 'skipped' THEN 1 ELSE 0 END) AS skipped,
               COUNT(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS scored,
               SUM(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_sum,
               MIN(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_min,
               MAX(CASE WHEN outcome IN ('correct', 'wrong') THEN score END) AS score_max
        FROM outcomes WHERE {SHOWN} GROUP BY run_id, suite ORDER BY run_id, suite"""))


def suites(db) -> list[dict]:
    """The `suites` rows: source, perturbations and the judge's figures per run."""
    return list(db.query(f"SELECT * FROM suites WHERE {SHOWN} ORDER BY run_id, suite"))


def promotions(db) -> list[dict]:
    """Every promotion, oldest first."""
    return list(db.query("SELECT * FROM promotions ORDER BY id"))


def gates(db) -> list[dict]:
    """Every gate verdict, by run, suite and gate."""
    return list(db.query(f"""
        SELECT run_id, suite, gate, metric, kind, verdict, n, value, ci_lo, ci_hi, baseline_run_id,
               baseline_value, delta, p_value, test, message, missing, override,
               p_adjusted, correction, family_size, detectable, needed_n, underpowered
        FROM gates WHERE {SHOWN} ORDER BY run_id, suite, gate"""))


def pairwise_verdicts(db):
    """run_id, suite, candidate_slots, slot_verdicts and outcome of every pairwise judgment (the JSON lists as text)."""
    return db.query("SELECT run_id, suite, candidate_slots, slot_verdicts, outcome FROM judgments "
                    f"WHERE kind = 'pairwise' AND {SHOWN}")


def refusal_counts(db) -> list[dict]:
    """Refusal counts per run, suite, kind (harmful | benign) and category; `n` counts the classified items."""
    return list(db.query(f"""
        SELECT run_id, suite, kind, COALESCE(category, '(none)') AS category, COUNT(*) AS items,
               COUNT(refused) AS n, COALESCE(SUM(refused), 0) AS refused, COUNT(*) - COUNT(refused) AS errors
        FROM refusals WHERE {SHOWN} GROUP BY run_id, suite, kind, category ORDER BY run_id, suite, kind, category"""))


def contamination(db) -> list[dict]:
    """The contamination score of each run's perturbed suites (empty before any audit ran)."""
    return list(db.query(f"SELECT * FROM contamination WHERE {SHOWN} ORDER BY run_id, suite"))


def contamination_counts(db) -> list[dict]:
    """Per run and suite: items audited and items flagged."""
    return list(db.query("""SELECT run_id, suite, COUNT(*) AS items, COALESCE(SUM(flagged), 0) AS flagged
                            FROM contamination_items GROUP BY run_id, suite"""))


def top_contaminated(db, limit: int) -> list[dict]:
    """Per run and suite, the `limit` items with the highest CS (flagged first), with their `rank`."""
    return list(db.query("""
        SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY run_id, suite
                                                    ORDER BY flagged DESC, cs DESC, item_id) AS rank
                       FROM contamination_items) AS ranked WHERE rank <= ? ORDER BY run_id, suite, rank""", [limit]))


def item_rows(db, run_id: int):
    """A run's outcomes as tuples, grouped by suite and source item (variants -p0, -p1, ... together)."""
    return db.conn.execute("""
        SELECT suite, item_id, variant, outcome, score, test_id, prompt_hash, response, message, metrics, duration,
               variant_id
        FROM outcomes WHERE run_id = ? ORDER BY suite, item_id""", [run_id])


def prompt_counts(db, run_ids: list[int]) -> list[tuple]:
    """(suite, distinct prompts) over the outcomes of these runs that kept a prompt."""
    marks = ", ".join("?" * len(run_ids))
    return db.conn.execute(f"""SELECT suite, COUNT(DISTINCT prompt_hash) FROM outcomes
                               WHERE run_id IN ({marks}) AND prompt IS NOT NULL GROUP BY suite""",
                           run_ids).fetchall()


def prompts(db, suite: str, run_ids: list[int]):
    """(prompt_hash, prompt) of each distinct prompt of one suite over these runs."""
    marks = ", ".join("?" * len(run_ids))
    return db.conn.execute(f"""SELECT prompt_hash, MIN(prompt) FROM outcomes WHERE suite = ? AND run_id IN ({marks})
                               AND prompt IS NOT NULL GROUP BY prompt_hash""", [suite, *run_ids])


def variants(db):
    """The variant library, kept and rejected candidates, in the order they were generated."""
    return db.conn.execute("""SELECT suite, source_id, id, generator, version, seed, idx, text, distance,
                                     accepted, reason FROM variants ORDER BY suite, source_id, id""")


def changes(db) -> tuple:
    """What a run, a gate or a promotion adds: `report --serve` on a server's DB rebuilds when it changes."""
    return tuple(db.execute("""
        SELECT (SELECT COUNT(*) FROM runs), (SELECT MAX(ended_at) FROM runs), (SELECT COUNT(*) FROM outcomes),
               (SELECT COUNT(*) FROM gates), (SELECT COUNT(*) FROM promotions), (SELECT MAX(id) FROM promotions),
               (SELECT COUNT(*) FROM judgments), (SELECT COUNT(*) FROM contamination)""").fetchone())
