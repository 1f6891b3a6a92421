"""The judges' rows in the results DB: a run's judgments and re-judgments, the validations of a judge (or a
refusal classifier) against human labels, and the sampled human evaluation's samples and labels.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import every, tables

# what a re-judgment of a baseline's stored judgment needs (judge.rejudge)
REJUDGE_COLUMNS = ("run_id", "suite", "test_id", "item_id", "variant", "kind", "judge_hash", "template_sha256",
                   "question", "candidate", "reference")


# --- judgments and re-judgments -------------------------------------------------------------------

def judges_by_suite(db, run_id: int) -> dict[str, set]:
    """suite -> the (judge hash, template hash) pairs that judged the run's items."""
    if "judgments" not in db.table_names():
        return {}
    j = tables()["judgments"]
    found: dict[str, set] = {}
    for row in db.rows(sa.select(j.c.suite, j.c.judge_hash, j.c.template_sha256).distinct()
                       .where(j.c.run_id == run_id)):
        found.setdefault(row["suite"], set()).add((row["judge_hash"], row["template_sha256"]))
    return found


def stored_judgments(db, run_id: int, suite: str) -> list[dict]:
    """The REJUDGE_COLUMNS of one suite's judgments in a run."""
    j = tables()["judgments"]
    return db.rows(sa.select(*(j.c[c] for c in REJUDGE_COLUMNS)).where(j.c.run_id == run_id, j.c.suite == suite))


def rejudgments(db, run_id: int, suite: str) -> list[dict]:
    """A baseline run's re-judged items of one suite, oldest first (every judge's)."""
    if "rejudgments" not in db.table_names():
        return []
    r = tables()["rejudgments"]
    return db.rows(every(r).where(r.c.run_id == run_id, r.c.suite == suite).order_by(r.c.id))


def judged(db, run_id: int, test_id: str) -> dict | None:
    """The outcome and error of the run's judgment of one test, or None when it has none."""
    j = tables()["judgments"]
    return db.one(sa.select(j.c.outcome, j.c.error).where(j.c.run_id == run_id, j.c.test_id == test_id))


def _pairs(j, run_id: int) -> tuple:
    """The run's pairwise judgments that kept both answers."""
    return (j.c.run_id == run_id, j.c.kind == "pairwise", j.c.candidate.is_not(None), j.c.reference.is_not(None))


def pairwise_pairs(db, run_id: int) -> list[dict]:
    """The run's pairwise judgments that kept both answers (what raters can be shown), by suite and test."""
    j = tables()["judgments"]
    return db.rows(sa.select(j.c.suite, j.c.test_id, j.c.item_id, j.c.question, j.c.candidate, j.c.reference,
                             j.c.outcome, j.c.error).where(*_pairs(j, run_id)).order_by(j.c.suite, j.c.test_id))


def pairwise_pair_count(db, run_id: int) -> int:
    j = tables()["judgments"]
    return db.scalar(sa.select(sa.func.count()).select_from(j).where(*_pairs(j, run_id)))


# --- validations ----------------------------------------------------------------------------------

def latest_validation(db, judge_hash: str, template_sha256: str) -> dict | None:
    """The newest validation record of this judge with this template; None before any."""
    v = tables()["judge_validations"]
    return db.one(every(v).where(v.c.judge_hash == judge_hash, v.c.template_sha256 == template_sha256)
                  .order_by(v.c.id.desc()).limit(1))


def add_validation(db, record: dict) -> int:
    """Store a judge's validation record (judge.validate); its id."""
    return db["judge_validations"].insert(record).last_pk


def add_classifier_validation(db, record: dict) -> None:
    """Store a refusal classifier's agreement with people's labels (`modeleval redteam validate`)."""
    db["classifier_validations"].insert(record)


# --- human evaluation -----------------------------------------------------------------------------

def add_human_samples(db, samples: list[dict]) -> None:
    """What un-blinds each exported sample id (an id exported again is replaced)."""
    with db.transaction():
        db["human_samples"].upsert_all(samples, pk="sample_id")


def human_sample(db, sample_id: str) -> dict | None:
    s = tables()["human_samples"]
    return db.one(every(s).where(s.c.sample_id == sample_id))


def replace_human_labels(db, source_file: str, rows: list[dict]) -> None:
    """The labels of one file: an earlier import of it by the same rater is replaced, in one transaction."""
    labels = tables()["human_labels"]
    with db.transaction():
        for who in {row["rater"] for row in rows}:
            db.execute(sa.delete(labels).where(labels.c.source_file == source_file,
                                               labels.c.rater.is_not_distinct_from(who)))
        db["human_labels"].insert_all(rows)


def run_judgments(db, run_id: int) -> list[dict]:
    """Every judgments row of a run, in the order they were recorded (none for a DB without the table)."""
    if "judgments" not in db.table_names():
        return []
    from .runs import rows_of_run

    return rows_of_run(db, "judgments", run_id)
