"""The judges' rows in the results DB: a run's judgments and re-judgments, the validations of a judge (or a
refusal classifier) against human labels, and the sampled human evaluation's samples and labels.
"""

from __future__ import annotations

# what a re-judgment of a baseline's stored judgment needs (judge.rejudge)
REJUDGE_COLUMNS = ("run_id, suite, test_id, item_id, variant, kind, judge_hash, template_sha256, question, candidate, "
                   "reference")


# --- judgments and re-judgments -------------------------------------------------------------------

def judges_by_suite(db, run_id: int) -> dict[str, set]:
    """suite -> the (judge hash, template hash) pairs that judged the run's items."""
    if "judgments" not in db.table_names():
        return {}
    found: dict[str, set] = {}
    for row in db.query("SELECT DISTINCT suite, judge_hash, template_sha256 FROM judgments WHERE run_id = ?",
                        [run_id]):
        found.setdefault(row["suite"], set()).add((row["judge_hash"], row["template_sha256"]))
    return found


def stored_judgments(db, run_id: int, suite: str) -> list[dict]:
    """The REJUDGE_COLUMNS of one suite's judgments in a run."""
    return list(db.query(f"SELECT {REJUDGE_COLUMNS} FROM judgments WHERE run_id = ? AND suite = ?", [run_id, suite]))


def rejudgments(db, run_id: int, suite: str) -> list[dict]:
    """A baseline run's re-judged items of one suite, oldest first (every judge's)."""
    if "rejudgments" not in db.table_names():
        return []
    return list(db.query("SELECT * FROM rejudgments WHERE run_id = ? AND suite = ? ORDER BY id", [run_id, suite]))


def judged(db, run_id: int, test_id: str) -> dict | None:
    """The outcome and error of the run's judgment of one test, or None when it has none."""
    rows = list(db.query("SELECT outcome, error FROM judgments WHERE run_id = ? AND test_id = ?", [run_id, test_id]))
    return rows[0] if rows else None


_PAIRS = "FROM judgments WHERE run_id = ? AND kind = 'pairwise' AND candidate IS NOT NULL AND reference IS NOT NULL"


def pairwise_pairs(db, run_id: int) -> list[dict]:
    """The run's pairwise judgments that kept both answers (what raters can be shown), by suite and test."""
    return list(db.query("SELECT suite, test_id, item_id, question, candidate, reference, outcome, error "
                         f"{_PAIRS} ORDER BY suite, test_id", [run_id]))


def pairwise_pair_count(db, run_id: int) -> int:
    return next(db.query(f"SELECT COUNT(*) AS n {_PAIRS}", [run_id]))["n"]


# --- validations ----------------------------------------------------------------------------------

def latest_validation(db, judge_hash: str, template_sha256: str) -> dict | None:
    """The newest validation record of this judge with this template; None before any."""
    rows = list(db.query("SELECT * FROM judge_validations WHERE judge_hash = ? AND template_sha256 = ? "
                         "ORDER BY id DESC LIMIT 1", [judge_hash, template_sha256]))
    return rows[0] if rows else None


def add_validation(db, record: dict) -> int:
    """Store a judge's validation record (judge.validate); its id."""
    return db["judge_validations"].insert(record).last_pk


def add_classifier_validation(db, record: dict) -> None:
    """Store a refusal classifier's agreement with people's labels (`modeleval redteam validate`)."""
    db["classifier_validations"].insert(record)


# --- human evaluation -----------------------------------------------------------------------------

def add_human_samples(db, samples: list[dict]) -> None:
    """What un-blinds each exported sample id (an id exported again is replaced)."""
    with db.conn:
        db["human_samples"].upsert_all(samples, pk="sample_id")


def human_sample(db, sample_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM human_samples WHERE sample_id = ?", [sample_id]))
    return rows[0] if rows else None


def replace_human_labels(db, source_file: str, rows: list[dict]) -> None:
    """The labels of one file: an earlier import of it by the same rater is replaced, in one transaction."""
    with db.conn:
        for who in {row["rater"] for row in rows}:
            db.execute("DELETE FROM human_labels WHERE source_file = ? AND rater IS ?", [source_file, who])
        db["human_labels"].insert_all(rows)


def run_judgments(db, run_id: int) -> list[dict]:
    """Every judgments row of a run, in the order they were recorded (none for a DB without the table)."""
    if "judgments" not in db.table_names():
        return []
    return list(db["judgments"].rows_where("run_id = ?", [run_id], order_by="id"))
