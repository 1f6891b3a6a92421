"""The run's CI pages: the markdown summary (`--eval-summary-md`, GITHUB_STEP_SUMMARY) and GitHub's annotations.

Registered by the plugin only when a run with a model asks for one of them, so a run that does not imports
nothing of this. In the controller only, after every other terminal summary (the verdicts and the exit status
are final by then): the page (`report/markdown.py`) is appended to the file, as GitHub expects of its job
summary, which every step of a job appends to; and under GitHub Actions each failed gate prints one `::error`
annotation on its suite's file (`::warning` under `--eval-gate-mode report`, which does not block).

A file that cannot be written is one red line naming it. The run is recorded by then, and the exit status stays
what the tests and the gates made it: a report that could not be written is no verdict on the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..stash import GATES_KEY


class CISummary:
    def __init__(self, config: pytest.Config, settings, eval_session, *, annotate: bool):
        self.config = config
        self.settings = settings
        self.eval_session = eval_session
        self.annotate = annotate  # under GitHub Actions: the failed gates as annotations
        self.exit_status: int | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        self.exit_status = int(session.exitstatus)  # after the gate keeper and the session set theirs

    @pytest.hookimpl(wrapper=True)
    def pytest_terminal_summary(self, terminalreporter):
        result = yield  # the gates section and the session's lines come first
        if not self.config.option.collectonly and self.exit_status is not None:
            self._publish(terminalreporter)
        return result

    def _publish(self, tr) -> None:
        from ..report.markdown import render

        keeper = self.config.stash.get(GATES_KEY, None)
        rows = _gate_rows(keeper)
        if self.annotate:
            for line in self._annotations(keeper, rows):
                tr.write_line(line)
        if self.settings.summary_md is None:
            return
        page = render(self._summary(keeper, rows))
        path = Path(self.settings.summary_md)
        where = self.settings.sources.get("summary_md", "--eval-summary-md")
        shown = "the job summary (GITHUB_STEP_SUMMARY)" if where == "GITHUB_STEP_SUMMARY" else str(path)
        try:
            with path.open("a", encoding="utf-8") as out:
                out.write(page + "\n")
        except OSError as exc:
            run = f" as run {self.eval_session.run_id}" if self.eval_session.run_id is not None else ""
            tr.write_line(f"modeleval: the markdown summary ({where}) could not be written to {path}: "
                          f"{exc.strerror or exc}; the run is recorded{run} and its exit status is unchanged "
                          f"({self.exit_status})", red=True)
            return
        tr.write_line(f"modeleval: markdown summary appended to {shown}")

    def page(self, exit_status: int) -> str:
        """The run's page as the summary file gets it (the MLflow write-back keeps it as an artifact)."""
        from ..report.markdown import render

        self.exit_status = exit_status
        keeper = self.config.stash.get(GATES_KEY, None)
        return render(self._summary(keeper, _gate_rows(keeper)))

    def _annotations(self, keeper, rows: list[dict]) -> list[str]:
        from ..report.annotations import annotation

        level = "warning" if self.settings.gate_mode == "report" else "error"
        files = _suite_files(self.config.rootpath, keeper.rows if keeper is not None else {})
        return [annotation(level, f"{g['gate']}[{g['suite']}]: {g.get('message') or 'failed'}",
                           file=files.get(g["suite"]), title=f"modeleval gate {g['gate']}[{g['suite']}] failed")
                for g in rows if g["verdict"] == "fail"]

    def _summary(self, keeper, rows: list[dict]):
        from ..report.markdown import RunSummary, verdict_line

        session, settings = self.eval_session, self.settings
        title = (f"run {session.run_id}" if session.run_id is not None else "this run") + \
            f": {settings.model} (sha256:{session.resolved.short})"
        report = keeper.report if keeper is not None else None
        notes = []
        if keeper is None:
            status = f"gates off (--eval-gate-mode off), exit status {self.exit_status}"
        elif keeper.error is not None:
            status = "the gates could not be computed (exit status 3); the terminal shows the traceback"
        elif report is None:
            status = keeper.group_line or f"no verdicts: no answered items (exit status {self.exit_status})"
        else:
            status = verdict_line(rows, self.exit_status, settings.gate_mode)
            if keeper.group_line:
                notes.append(keeper.group_line)
        if report is not None and report.suites_not_run:
            notes.append(f"suites of the baseline not in this run: {', '.join(report.suites_not_run)}")
        if keeper is not None and keeper.unreviewed:
            notes.append("not promotable: these files were not the committed ones: " + ", ".join(keeper.unreviewed))
        if session.recorder is not None and session.recorder.failed:
            notes.append("the results DB could not be written during the run: this run cannot be promoted "
                         "(the terminal names the fault)")
        baseline = report.baseline if report is not None else (keeper.baseline if keeper is not None else None)
        note = report.baseline_note if report is not None else (keeper.baseline_note if keeper is not None else "")
        flips = None
        if baseline is not None and keeper is not None:
            flips = _flips(baseline, keeper.rows.values(), session.run_id)
        url, command = self._dashboard()
        failed = bool(report is not None and report.failed) or self.exit_status != 0
        return RunSummary(title=title, status=status, failed=failed,
                          baseline=baseline.label if baseline is not None else None, baseline_note=note,
                          gates=rows, flips=flips, flips_against=f"run {baseline.run_id}" if baseline else "",
                          flips_scope="this shard's items" if settings.shard else "", dashboard_url=url,
                          dashboard_command=command, notes=notes)

    def _dashboard(self) -> tuple[str | None, str]:
        """The workflow run's page (under GitHub Actions: its artifacts), and the command that builds the dashboard
        from this run's results DB: `--db` only when the command line named it (the command reads MODELEVAL_DB
        and pyproject.toml's `db` itself), a URL without its password."""
        from ..dburl import is_url, redact
        from ..report.annotations import workflow_run_url
        from ..report.markdown import DASHBOARD_DIR

        command = f"modeleval report --html {DASHBOARD_DIR}"
        if self.settings.sources.get("db") == "--eval-db":
            db = self.settings.db
            if is_url(str(db)):
                command += f" --db {redact(str(db))}"
            else:
                command += f" --db {_relative(Path(db), self.config.invocation_params.dir)}"
        return workflow_run_url(), command


def _gate_rows(keeper) -> list[dict]:
    if keeper is None or keeper.report is None:
        return []
    from ..report.markdown import gate_rows

    return gate_rows(keeper.report)


def _flips(baseline, rows, run_id: int | None) -> dict[str, list]:
    """suite -> the items right in the baseline and wrong in this run, or the reverse (report/compare.py)."""
    from ..gates.comparison import RunItems
    from ..report.compare import flips

    before, now = RunItems.from_rows(baseline.run_id, baseline.rows), RunItems.from_rows(run_id or 0, rows)
    return {suite: flips(before, now, suite) for suite in sorted(now.suites)}


def _suite_files(rootdir: Path, rows: dict) -> dict[str, str]:
    """suite -> its test file, relative to the repository's root (GitHub's annotations are), else to the rootdir."""
    from ..util.gitfiles import repo_root

    top = repo_root(rootdir) or Path(rootdir).resolve()
    files: dict[str, str] = {}
    for test_id, row in rows.items():
        if row.get("suite") and row["suite"] not in files:
            files[row["suite"]] = _relative((Path(rootdir) / str(test_id).split("::", 1)[0]).resolve(), top)
    return files


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(Path(base).resolve()).as_posix()
    except ValueError:
        return path.as_posix()
