"""A run's verdicts written back to the model version it evaluated.

What the registry gets (docs/mlflow.md): an MLflow run in the experiment `modeleval`, tagged with the model
version it evaluated, holding the per-suite metrics and one tag per gate verdict, with the audit JSON, the JUnit XML
and the markdown summary as artifacts; then tags on the model version itself (`modeleval.gates`, `modeleval.run`,
...). The results DB stays the source of truth for the statistics; MLflow gets the summary and the links.

Each step is tried on its own, and what could not be written is returned, with why, for the caller to say: the run
is recorded in the results DB before this starts, so a failed write-back loses nothing but this copy. The version's
tags come last: `modeleval.gates` on a version means its run and artifacts are there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dburl import redact_text
from .client import ModelVersion, connect

EXPERIMENT = "modeleval"
TAG = "modeleval."  # the prefix of every tag we write


@dataclass
class Verdict:
    """What one run says about one model version (built by the plugin from the session and the gate keeper)."""

    run_id: int | None  # the results DB's run
    exit_status: int
    sha256: str
    gate_status: str | None  # passed, failed, overridden; None with gates off or none computed
    gates: list[dict] = field(default_factory=list)  # gates rows: suite, gate, verdict, value, delta, message
    suites: dict[str, dict[str, float]] = field(default_factory=dict)  # suite -> metric -> value
    artifacts: list[Path] = field(default_factory=list)  # files that exist: audit JSON, JUnit XML, summary
    tags: dict[str, str] = field(default_factory=dict)  # more version tags (the audit id, the contamination verdict)


@dataclass
class WriteBack:
    mlflow_run: str | None = None
    written: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "what (why)", one per step that failed

    @property
    def complete(self) -> bool:
        return not self.missing


def gates_tag(verdict: Verdict) -> str:
    """`modeleval.gates`: `fail` when a gate failed; `pass` when they passed (an overridden failure passes, as it
    does for promotion) and the run had no errors; `incomplete` when they passed on a run with errors (exit status
    1 or 3: not everything was measured, and `modeleval promote` refuses it); `none` when no gate was computed. A
    consumer that waits for `pass` never takes an ungated or half-measured version."""
    if verdict.gate_status is None:
        return "none"
    if verdict.gate_status == "failed":
        return "fail"
    return "pass" if verdict.exit_status == 0 else "incomplete"


def write_back(version: ModelVersion, verdict: Verdict, client: Any = None) -> WriteBack:
    out = WriteBack()
    try:
        client = client or connect(version.uri)
        out.mlflow_run = _start_run(client, version, verdict)
        out.written.append(f"MLflow run {out.mlflow_run}")
    except Exception as exc:  # noqa: BLE001 - the server, the network, a refused request: all said, none raised
        out.missing.append(f"the MLflow run with the metrics, gate verdicts and artifacts ({_why(exc)})")
        out.missing.append(f"the model version's tags ({TAG}gates, {TAG}run, ...), written only after the run")
        return out
    run = out.mlflow_run
    _step(out, "the per-suite metrics", lambda: _log_metrics(client, run, version, verdict))
    for path in verdict.artifacts:
        _step(out, f"artifact {path.name}", lambda path=path: client.log_artifact(run, str(path)))
    _step(out, "the MLflow run's end", lambda: client.set_terminated(run, "FINISHED"))
    _step(out, f"the model version's tags ({TAG}gates, {TAG}run, ...)",
          lambda: _tag_version(client, version, verdict, run))
    return out


def _start_run(client: Any, version: ModelVersion, verdict: Verdict) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(EXPERIMENT)
    tags = {
        f"{TAG}model": version.name, f"{TAG}model_version": version.version, f"{TAG}sha256": verdict.sha256,
        f"{TAG}gates": gates_tag(verdict), f"{TAG}exit_status": str(verdict.exit_status),
        "mlflow.note.content": _note(version, verdict),
    }
    if verdict.run_id is not None:
        tags[f"{TAG}run"] = str(verdict.run_id)
    if version.alias:
        tags[f"{TAG}alias"] = version.alias
    for g in verdict.gates:  # one tag per verdict: modeleval.gate.no-regression.easy_mc = fail
        tags[_key(f"{TAG}gate.{g['gate']}.{g['suite']}")] = str(g["verdict"])
    name = f"modeleval run {verdict.run_id}: {version.name}/{version.version}"
    return client.create_run(experiment_id, tags=tags, run_name=name).info.run_id


def _log_metrics(client: Any, run: str, version: ModelVersion, verdict: Verdict) -> None:
    """The suites' figures and the gates' counts; linked to the version's logged model when it has one (MLflow 3)."""
    metrics = {_key(f"{suite}.{name}"): value for suite, figures in verdict.suites.items()
               for name, value in figures.items() if value is not None and value == value}
    metrics["gates_failed"] = sum(g["verdict"] == "fail" for g in verdict.gates)
    metrics["gates_passed"] = sum(g["verdict"] == "pass" for g in verdict.gates)
    for key, value in sorted(metrics.items()):
        client.log_metric(run, key, float(value), model_id=version.model_id)


def _tag_version(client: Any, version: ModelVersion, verdict: Verdict, run: str) -> None:
    tags = {f"{TAG}gates": gates_tag(verdict), f"{TAG}mlflow_run": run, f"{TAG}sha256": verdict.sha256,
            f"{TAG}exit_status": str(verdict.exit_status),
            f"{TAG}gates_failed": str(sum(g["verdict"] == "fail" for g in verdict.gates)), **verdict.tags}
    if verdict.run_id is not None:
        tags[f"{TAG}run"] = str(verdict.run_id)
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value)


def _note(version: ModelVersion, verdict: Verdict) -> str:
    lines = [f"pytest-modeleval run {verdict.run_id} of {version.name} version {version.version} "
             f"(sha256:{verdict.sha256[:12]}): gates {gates_tag(verdict)}, exit status {verdict.exit_status}."]
    lines += [f"- {g['verdict'].upper()} {g['gate']}[{g['suite']}]: {g.get('message') or ''}"
              for g in verdict.gates if g["verdict"] in ("fail", "overridden")]
    return "\n".join(lines)


def _step(out: WriteBack, what: str, action) -> None:
    try:
        action()
        out.written.append(what)
    except Exception as exc:  # noqa: BLE001 - said, never raised: the run is recorded already
        out.missing.append(f"{what} ({_why(exc)})")


def _key(text: str) -> str:
    """MLflow's keys allow letters, digits, `_ - . / ` and spaces: anything else (a gate's brackets) becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)[:250]


def _why(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text[:300])
