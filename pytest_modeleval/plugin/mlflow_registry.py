"""A run of a model from an MLflow registry: its version pinned for xdist workers, its verdicts written back.

Registered by the plugin only when `--model` is an `mlflow:` or `models:/` reference, so no other run imports this
or mlflow. The reference was resolved once, at configure time (modelref.py): an alias that moves during the run is
not followed, and the verdicts go to the version that was evaluated. In the controller, after every other terminal
summary (the verdicts, the exit status, the JUnit file and the markdown summary are final by then), the write-back
(registry/writeback.py) sends the registry an MLflow run with the figures and files, and tags the model version.

Exit status (docs/mlflow.md): a write-back that fails leaves the run recorded in the results DB and says, in red,
what was not written. A run that passed (0) then exits 3, as a run whose results DB could not be written does: its
verdict did not reach the registry that other systems read it from, and a green job would hide that. A run that
already failed (10, 1) keeps its status, which says more.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from ..stash import GATES_KEY

NOT_WRITTEN = pytest.ExitCode.INTERNAL_ERROR  # 3, as for a results DB that could not be written
WRITTEN_FOR = (0, 1, 3, 10)  # runs that evaluated something; an interrupted or empty run writes nothing back
PIN_KEY = "modeleval_model_pin"


def register(config: pytest.Config, settings, eval_session) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker evaluates the version its controller pinned; the controller writes back
    config.pluginmanager.register(MlflowRegistry(config, settings, eval_session), "modeleval-mlflow")


class MlflowRegistry:
    def __init__(self, config: pytest.Config, settings, eval_session):
        self.config = config
        self.settings = settings
        self.eval_session = eval_session
        self.version = eval_session.resolved.registry
        self.session: pytest.Session | None = None

    def pytest_configure_node(self, node) -> None:
        """Each xdist worker gets `mlflow:NAME/VERSION`: the alias is looked up once, by the controller."""
        from ..modelref import pinned

        node.workerinput[PIN_KEY] = pinned(self.eval_session.resolved)

    def pytest_sessionstart(self, session) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter):
        result = yield  # after the gates, the session's lines and the CI summary
        if self.session is not None and not self.config.option.collectonly:
            self._finish(terminalreporter)
        return result

    def _finish(self, tr) -> None:
        tr.section("modeleval mlflow")
        for line in self._alias_history():
            tr.write_line(line)
        status = int(self.session.exitstatus) if self.session is not None else 0
        if status not in WRITTEN_FOR or self.eval_session.run_id is None:
            tr.write_line(f"mlflow: nothing written back to {self.version.label}: the run ended with exit status "
                          f"{status} before evaluating it")
            return
        from ..registry.writeback import write_back

        with tempfile.TemporaryDirectory(prefix="modeleval-mlflow-") as scratch:
            verdict = self._verdict(status, Path(scratch))
            done = write_back(self.version, verdict)
        self._record(done.mlflow_run)
        if done.complete:
            tr.write_line(f"mlflow: verdicts written to {self.version.name} version {self.version.version} on "
                          f"{self.version.server}: MLflow run "
                          f"{done.mlflow_run}; version tags modeleval.gates={_gates_tag(verdict)}, "
                          f"modeleval.run={verdict.run_id}")
        else:
            written = f" (written: {', '.join(done.written)})" if done.written else ""
            tr.write_line(f"mlflow: NOT written to {self.version.name} version {self.version.version} on "
                          f"{self.version.server}: " + "; ".join(done.missing) + written, red=True)
            if status == 0 and self.session is not None:
                self.session.exitstatus = NOT_WRITTEN
                tr.write_line(f"mlflow: exit status {int(NOT_WRITTEN)}: the run is recorded as run "
                              f"{self.eval_session.run_id}, but its verdict did not reach the registry; run it again "
                              "(the prediction cache makes it cheap) to write it back", red=True)
        moved = self._moved_during_run()
        if moved:
            tr.write_line(moved, yellow=True)

    def _verdict(self, status: int, scratch: Path):
        from ..registry.writeback import Verdict

        keeper = self.config.stash.get(GATES_KEY, None)
        report = keeper.report if keeper is not None else None
        gates: list[dict] = []
        if report is not None:
            from ..report.markdown import gate_rows

            gates = gate_rows(report)
        session = self.eval_session
        suites = {name: {"accuracy": t.accuracy, "n": t.answered, "correct": t.correct, "errors": t.errors,
                         "mean_score": t.mean_score} for name, t in session.tallies.items()}
        tags = {}
        audit = getattr(session, "audit", None)
        if audit is not None:
            tags["modeleval.audit"] = str(audit.audit_id)
        contamination = [g["verdict"] for g in gates if g["gate"] == "contamination" and g["verdict"] != "n/a"]
        if contamination:
            tags["modeleval.contamination"] = "fail" if "fail" in contamination else "pass"
        gate_status = report.status if report is not None else None
        return Verdict(run_id=session.run_id, exit_status=status, sha256=session.resolved.sha256,
                       gate_status=gate_status, gates=gates, suites=suites,
                       artifacts=self._artifacts(status, scratch, audit), tags=tags)

    def _artifacts(self, status: int, scratch: Path, audit) -> list[Path]:
        """The JUnit XML, the markdown summary of this run, the audit record: those that exist."""
        found = []
        junit = getattr(self.config.option, "xmlpath", None)
        if junit and Path(junit).is_file():
            found.append(Path(junit))
        summary = scratch / "modeleval-summary.md"
        try:
            from .ci_summary import CISummary

            summary.write_text(CISummary(self.config, self.settings, self.eval_session, annotate=False).page(status),
                               encoding="utf-8")
            found.append(summary)
        except Exception:  # noqa: BLE001 - the page is a convenience; the gates' verdicts travel as tags anyway
            pass
        if audit is not None:
            from ..perturb.governance import records_dir

            run = self.eval_session.run_id
            found += sorted(records_dir(self.settings).glob(f"*/{audit.audit_id}-run{run}-*.json"))[-1:]
        return found

    def _record(self, mlflow_run: str | None) -> None:
        """The MLflow run's id in the runs row, beside the version (a DB that fails here only loses the link)."""
        if mlflow_run is None or self.eval_session.run_id is None:
            return
        from ..results.db import Database
        from ..results.runs import set_mlflow_run

        try:
            db = Database(self.settings.db)
            try:
                set_mlflow_run(db, self.eval_session.run_id, mlflow_run)
            finally:
                db.close()
        except Exception:  # noqa: BLE001 - the registry has the link both ways (its run's modeleval.run tag)
            pass

    def _alias_history(self) -> list[str]:
        """Where the alias pointed in the previous run that used it: a move between runs is said, never silent."""
        v = self.version
        lines = [f"mlflow: evaluated {v.name} version {v.version}" + (f", found by alias @{v.alias}" if v.alias else "")
                 + f" (sha256:{self.eval_session.resolved.short})"]
        if not v.alias or self.eval_session.run_id is None:
            return lines
        from ..results.db import reading
        from ..results.runs import previous_by_alias

        try:
            with reading(self.settings.db) as db:
                before = previous_by_alias(db, v.name, v.alias, self.eval_session.run_id) if db is not None else None
        except Exception:  # noqa: BLE001 - a history line is not worth a failed run
            before = None
        if before is not None and before["mlflow_version"] != v.version:
            lines.append(f"mlflow: alias @{v.alias} of {v.name} moved between runs: version "
                         f"{before['mlflow_version']} in run {before['id']}, version {v.version} in this run")
        return lines

    def _moved_during_run(self) -> str | None:
        v = self.version
        if not v.alias:
            return None
        try:
            from ..registry.client import connect

            now = connect(v.uri).get_model_version_by_alias(v.name, v.alias).version
        except Exception:  # noqa: BLE001 - the alias deleted, the server gone: nothing to compare
            return None
        if str(now) == v.version:
            return None
        return (f"mlflow: alias @{v.alias} of {v.name} moved during the run, to version {now}; this run evaluated, "
                f"and wrote its verdicts to, version {v.version} (resolved once when the run started)")


def _gates_tag(verdict) -> str:
    from ..registry.writeback import gates_tag

    return gates_tag(verdict)
