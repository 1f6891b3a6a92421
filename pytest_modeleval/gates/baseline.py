"""Which run a run is compared against: the production checkpoint's promoted run, unless told otherwise.

`--baseline` takes `channel:NAME` (default `channel:production`: the run recorded with the newest
promotion to that channel), `run:N`, or `sha256:<hash or prefix>` (that checkpoint's newest
finished run). A baseline the user named explicitly that does not exist is a usage error before
any inference, a channel too when other channels have promotions (`channel:prodution` is a typo,
not a first run); an empty production channel is normal on the first run and only means the
regression gates have nothing to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import did_you_mean
from ..results import runs
from ..results.gating import channels_by_run, latest_promotion

DEFAULT = "channel:production"


class BaselineError(ValueError):
    """An explicit --baseline that names nothing in the results DB; the message says what exists."""


@dataclass
class Baseline:
    run_id: int
    model_hash: str
    label: str  # "run 3 (production, sha256:b179c9523d0e)"
    rows: list[dict]


def find(db, spec: str | None, current_run_id: int | None) -> tuple[Baseline | None, str]:
    """(baseline, note): the baseline run and its outcomes, or None and why there is none."""
    explicit, spec = spec is not None, spec or DEFAULT
    kind, _, value = spec.partition(":")
    if kind == "channel":
        promotion = latest_promotion(db, value)
        others = sorted({channel for names in channels_by_run(db).values() for channel in names})
        if promotion is None and explicit and others:
            raise BaselineError(f"--baseline {spec}: nothing is promoted to channel {value!r}"
                                f"{did_you_mean(value, others)}; channels with a promotion: {', '.join(others)}")
        if promotion is None:
            return None, (f"nothing is promoted to channel {value!r} yet (`modeleval promote MODEL "
                          f"--channel {value}` sets it)")
        run_id = promotion["run_id"]
        if runs.run(db, run_id) is None:
            raise BaselineError(f"--baseline {spec}: the promoted run {run_id} (sha256:{promotion['model_hash'][:12]}) "
                                "is not in the results database")
        why = value
    elif kind == "run":
        run_id = int(value)
        if run_id == current_run_id:
            raise BaselineError(f"--baseline {spec} is this run itself")
        if runs.run(db, run_id) is None:
            newest = runs.newest_id(db, besides=current_run_id)
            raise BaselineError(f"--baseline {spec}: there is no run {run_id} in the results database "
                                f"(newest earlier run: {newest})")
        why = "--baseline"
    else:
        run_id = newest_run_of(db, value, exclude=current_run_id, what=f"--baseline {spec}")
        why = "--baseline"
    run = runs.run(db, run_id)
    if run is None:  # deleted between the lookup and now (another process pruning the DB)
        raise BaselineError(f"--baseline {spec}: run {run_id} is no longer in the results database")
    rows = outcome_rows(db, run_id)
    label = f"run {run_id} ({why}, sha256:{run['model_hash'][:12]})"
    return Baseline(run_id, run["model_hash"], label, rows), ""


def outcome_rows(db, run_id: int) -> list[dict]:
    """The columns the gates read of a run's outcomes; `p_correct` only where the DB has it (schema 6)."""
    return runs.outcome_values(db, run_id, p_correct=True)


def model_hash_for(db, prefix: str, what: str) -> str:
    """The one model hash in the DB's runs that starts with `prefix` (with or without `sha256:`)."""
    prefix = prefix.removeprefix("sha256:").lower()
    hashes = runs.model_hashes(db, prefix)
    if not hashes:
        raise BaselineError(f"{what}: no run in the results database evaluated a model sha256:{prefix}")
    if len(hashes) > 1:
        shown = ", ".join(f"sha256:{h[:16]}" for h in hashes[:5])
        raise BaselineError(f"{what}: sha256:{prefix} matches several models ({shown}); give more hex characters")
    return hashes[0]


def newest_run_of(db, prefix: str, *, exclude: int | None = None, what: str = "model") -> int:
    """The newest finished run of the model whose hash starts with `prefix`."""
    model_hash = model_hash_for(db, prefix, what)
    run_id = runs.newest_finished_id(db, model_hash, besides=exclude)
    if run_id is None:
        raise BaselineError(f"{what}: sha256:{model_hash[:12]} has no finished run besides this one")
    return run_id
