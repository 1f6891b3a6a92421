"""The gates in a pytest session: baseline and overrides at the start, verdicts once at the end.

Registered next to the EvalSession when a model is named and gates are not off. Under
pytest-xdist only the controller does anything: it sees every outcome in the reports the
workers send, so the verdicts are the same with `-n` as without. It reads the eval session only
for its run features (runtime/features.py), its results store and run id, and the model's hash;
the verdicts come from the one gating path a recorded run takes too (gates/verdicts.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..config import ConfigError
from ..gates import GATES_FAILED

if TYPE_CHECKING:
    from ..gates.baseline import Baseline
    from ..gates.evaluate import GateReport
    from ..gates.overrides import OverridesFile


class GateKeeper:
    def __init__(self, config: pytest.Config, settings, eval_session, rules):
        self.config = config
        self.settings = settings
        self.eval_session = eval_session
        self.rules = rules
        self.is_worker = hasattr(config, "workerinput")
        self.rows: dict[str, dict] = {}  # test id -> the slim outcome the gates read
        self.baseline: Baseline | None = None
        self.baseline_note = ""
        self.overrides: OverridesFile | None = None
        self.report: GateReport | None = None
        self.exit_status: int | None = None
        self.error: str | None = None  # the traceback, when computing the gates failed
        self.group_line: str | None = None  # a shard of a run group: which shards are in
        self.unreviewed: list[str] | None = None  # gate configuration and suite files not as committed

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        """Read the overrides file and find the baseline before the run is recorded or any model runs:
        a bad file or a --baseline naming nothing is a usage error, and leaves no half-recorded run."""
        if self.config.option.collectonly or self.is_worker:
            return
        from ..gates import overrides
        from ..gates.baseline import BaselineError

        try:
            self.overrides = overrides.load(self.settings.overrides, self.rules.names, self.config.rootpath)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        spec = self.settings.baseline
        try:
            self._find_baseline(spec)
        except (pytest.UsageError, BaselineError) as exc:
            raise pytest.UsageError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - not a database, unreachable, refused: named before any test
            raise cannot_open(self.settings.db, exc) from None

    def _find_baseline(self, spec: str | None) -> None:
        from ..dburl import redact
        from ..gates.baseline import find
        from ..results.db import Database, exists
        from ..results.runs import holds_runs

        explicit = spec is not None and not spec.startswith("channel:")  # an empty channel is no error
        if not exists(self.settings.db):
            if explicit:
                raise pytest.UsageError(f"--baseline {spec}: the results database {redact(str(self.settings.db))} "
                                        "does not exist yet")
            self.baseline_note = "the results database is new"
            return
        db = Database(self.settings.db, readonly=True)
        try:
            if not holds_runs(db):
                self.baseline_note = "the results database holds no runs yet"
                if explicit:
                    raise pytest.UsageError(f"--baseline {spec}: {self.baseline_note}")
                return
            self.baseline, self.baseline_note = find(db, spec, None)
        finally:
            db.close()

    def pytest_runtest_logreport(self, report):
        payload = getattr(report, "modeleval", None)
        if payload is None or self.is_worker:
            return
        self.rows[payload["test_id"]] = {key: payload.get(key) for key in
                                         ("suite", "item_id", "outcome", "score", "metrics", "p_correct")}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        """Before pytest's JUnit plugin writes its file (and before the run is closed in the DB)."""
        if self.is_worker or not self.rows or self.config.option.collectonly:
            return
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return  # interrupted or a usage error: partial results decide nothing
        try:
            self._record_review()
            report = self._gate(int(session.exitstatus))
        except Exception:  # noqa: BLE001 - a bug here must not pass for "gates passed", nor lose the run record
            import traceback

            self.error = traceback.format_exc()
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        if report is None:  # a shard of a run group with shards still missing: nothing to gate yet
            return
        if report.failed and self.settings.gate_mode == "enforce" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = GATES_FAILED
        self.exit_status = int(session.exitstatus)

    def _record_review(self) -> None:
        """Record which of the files that decided the verdicts were not the committed ones (gates/reviewed.py)."""
        from ..gates import reviewed

        store, run_id = self.eval_session.store, self.eval_session.run_id
        files = reviewed.gate_files(self.config.rootpath, self.settings, self.rows)
        self.unreviewed = reviewed.unreviewed(self.config.rootpath, files)
        if store is not None and run_id is not None:  # a DB that cannot be written: named under the summary
            self.eval_session.recorder.write("the gate files' review", store.update_run, run_id,
                                             {"unreviewed": reviewed.record_value(self.unreviewed)})

    def _gate_group(self, status: int):
        """A shard of a run group (pytest_modeleval.results.rungroup): the last shard in gates the union of all."""
        from ..gates import junit
        from ..gates.regate import gate_recorded
        from ..results.rungroup import RunGroup
        from ..runtime.features import records_of

        store, run_id = self.eval_session.store, self.eval_session.run_id
        if self.eval_session.recorder.failed:  # the union would lack this shard's unwritten outcomes
            self.group_line = f"run group {self.settings.run_group}: not gated, this shard's results were not written"
            return None
        group = RunGroup(store, self.eval_session.resolved.sha256, self.settings.run_group)
        self.group_line = group.describe(current=run_id)
        if group.missing(current=run_id):
            self.group_line += ": the gates wait for the last shard (or `modeleval gate group:ID`)"
            return None
        for feature in self.eval_session.features:  # what the union's gating reads of this shard
            self.eval_session.recorder.write(records_of(feature), feature.record_for_union, store, run_id)
        if self.eval_session.recorder.failed:
            self.group_line += ": not gated, this shard's results were not written"
            return None
        union = group.union(current=run_id, current_status=status)  # this shard's row is not closed yet
        self.report, _, union_run = gate_recorded(store, union, self.settings.baseline, self.rules, self.overrides,
                                                  self.settings, features=self.eval_session.feature_classes)
        if union_run.get("unreviewed") is not None:  # what promotion reads: every shard's files, not only this one's
            from ..gates.reviewed import parse

            self.unreviewed = parse(union_run["unreviewed"])
        self.group_line += f": gated as one run, run {union}"
        junit.add_testcases(self.config, self.report.results)
        return self.report

    def _gate(self, status: int):
        from ..gates import junit
        from ..gates.verdicts import gate_run

        session = self.eval_session
        if self.settings.shard and self.settings.run_group and session.store is not None:
            return self._gate_group(status)
        store, recorder = session.store, session.recorder

        def gate(record_in) -> None:
            if record_in is not None:
                record_in.flush()  # the outcomes first: the DB never keeps verdicts without their outcomes
            self.report = gate_run(self.rules, self.rows.values(), self.baseline, self.baseline_note,
                                   session.features, db=store.db if store is not None else None,
                                   model_hash=session.resolved.sha256, overrides_file=self.overrides,
                                   store=record_in, run_id=session.run_id)

        if recorder is None or not recorder.write("the gate verdicts", gate, store):
            gate(None)  # from memory: no store, or one that cannot be written (named under the summary)
        if self.report is None:
            raise RuntimeError("the gates gave no report")
        junit.add_testcases(self.config, self.report.results)
        return self.report

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if self.error is not None:
            tr.write_sep("=", "modeleval gates", red=True)
            tr.write_line("the gates could not be computed (exit status 3):", red=True)
            tr.write_line(self.error.rstrip())
            return
        if self.report is None:
            if self.group_line:
                tr.write_sep("=", "modeleval gates")
                tr.write_line(self.group_line)
                self._write_unreviewed(tr)
            return
        from ..gates.table import lines

        tr.write_sep("=", "modeleval gates")
        if self.group_line:
            tr.write_line(self.group_line)
        out = lines(self.report, mode=self.settings.gate_mode, overrides=self.overrides,
                    model_hash=self.eval_session.resolved.sha256, exit_status=self.exit_status)
        for line in out[:-1]:
            tr.write_line(line)
        self._write_unreviewed(tr)
        failed = bool(self.report.failed)
        tr.write_line(out[-1], red=failed, green=not failed, bold=True)

    def _write_unreviewed(self, tr) -> None:
        if self.unreviewed:
            tr.write_line("not promotable: these files were not the committed ones (a gate or suite changed without "
                          f"review): {', '.join(self.unreviewed)}", yellow=True)


def cannot_open(db, exc: Exception) -> pytest.UsageError:
    """The usage error for a results DB that cannot be opened or read: the option, the target without its
    password, and the cause (redacted too)."""
    from ..dburl import redact, redact_text

    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if cause.startswith("cannot open the results database ") and ": " in cause:  # results.db's own message
        cause = cause.split(": ", 1)[1]
    return pytest.UsageError(f"--eval-db {redact(str(db))}: cannot open the results database: {redact_text(cause)}")
