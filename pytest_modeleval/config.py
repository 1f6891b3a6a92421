"""One frozen settings object: command line > [tool.modeleval] in pyproject.toml > defaults.

Every option is declared once in OPTIONS; the pytest option, the pyproject key, the
type check and the documentation table all come from that declaration, so they
cannot drift apart. The pyproject.toml itself is read in one place (`Project.read`) and the
result handed down: to the settings here, the gate rules (gates/rules.py `from_project`) and
the price table (cost.py).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import dburl, paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """An invalid option value; the message names the option (or pyproject key) and the value."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _seed(text: str) -> int:
    """A seed the results DB can store (a 64-bit signed integer column) and every generator takes."""
    value = int(text)
    if not 0 <= value < 2**63:
        raise ValueError("must be an integer from 0 to 2**63 - 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text
    return parse


def _shard(text: str) -> tuple[int, int]:
    """'K/N' with 1 <= K <= N: this machine's share of every suite."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError("must be K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise ValueError("must be K/N with 1 <= K <= N")
    return (k, n)


def _baseline(text: str) -> str:
    """sha256:<8-64 hex>, run:N or channel:NAME: what the gates compare a run against."""
    kind, sep, value = str(text).partition(":")
    ok = {"sha256": lambda v: 8 <= len(v) <= 64 and all(c in "0123456789abcdef" for c in v.lower()),
          "run": lambda v: v.isdigit() and int(v) > 0,
          "channel": lambda v: bool(v.strip())}
    if not sep or kind not in ok or not ok[kind](value):
        raise ValueError("must be sha256:<8 to 64 hex characters>, run:N or channel:NAME")
    return str(text)


def _kappa(text: str) -> float:
    value = float(text)
    if not -1.0 <= value <= 1.0:
        raise ValueError("must be a kappa between -1 and 1")
    return value


def _flag(text: str) -> bool:
    """A switch: given on the command line, or true / false in pyproject.toml."""
    lowered = str(text).strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered == "true"


def _period(text: str) -> str:
    from .rotation import check_period

    return check_period(text)


def _text(text: str) -> str:
    if not str(text).strip():
        raise ValueError("must not be empty")
    return str(text)


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, pyproject key, parser and help text."""

    name: str  # attribute on Settings
    flag: str  # command-line flag
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str = "VALUE"
    is_path: bool = False
    is_flag: bool = False  # a switch without a value on the command line
    env: str | None = None  # an environment variable between the command line and pyproject.toml
    url_ok: bool = False  # a path option that also takes a DB URL (kept as the URL, never made a path)

    @property
    def key(self) -> str:
        """The [tool.modeleval] key: the flag without dashes and 'eval-' ('db', 'registry').

        The full flag name ('eval-db') and '_' for '-' are accepted too.
        """
        return self.flag.lstrip("-").removeprefix("eval-")


OPTIONS: tuple[Option, ...] = (
    Option("model", "--model", _text, None,
           "model to evaluate: 'embedded', a path (HF directory or .gguf), sha256:<hash or 8+ char prefix>, "
           "hf:org/name@revision (local HF cache) or openai:http://host:port/v1#name. "
           "Without it, eval tests are skipped.", "REF"),
    Option("db", "--eval-db", _text, paths.RESULTS_DB.as_posix(),
           f"results database: a SQLite file path (default {paths.RESULTS_DB.as_posix()} under the rootdir) or a "
           "postgresql://USER:PASSWORD@HOST:PORT/DBNAME URL; also the MODELEVAL_DB environment variable.",
           "PATH|URL", is_path=True, env="MODELEVAL_DB", url_ok=True),
    Option("seed", "--eval-seed", _seed, 0,
           "seed for item sampling and sampled generation (default 0).", "N"),
    Option("limit", "--eval-limit", _positive_int, None,
           "evaluate only the first N items of each suite, for quick runs.", "N"),
    Option("registry", "--eval-registry", _text, None,
           "directory of checkpoints that sha256:<prefix> references are resolved in.", "DIR", is_path=True),
    Option("mlflow", "--eval-mlflow", _text, None,
           "MLflow tracking server that mlflow:NAME@ALIAS and models:/ references are resolved on, and verdicts are "
           "written back to; also the MLFLOW_TRACKING_URI environment variable.", "URI", env="MLFLOW_TRACKING_URI"),
    Option("batch_size", "--eval-batch-size", _positive_int, 16,
           "requests per engine batch (default 16).", "N"),
    Option("engine", "--eval-engine", _choice("auto", "hf", "vllm", "ray"), "auto",
           "engine for local checkpoints: auto (vLLM where it is installed and supports the model, else "
           "transformers; the header says which and why), hf, vllm, or ray (replicas of "
           "--eval-replica-engine as Ray actors; docs/scaling.md); also MODELEVAL_ENGINE.", "NAME",
           env="MODELEVAL_ENGINE"),
    Option("dtype", "--eval-dtype", _choice("auto", "float32", "bfloat16", "float16"), "auto",
           "the weights' and activations' dtype: auto (bfloat16 on CUDA and on CPUs with AVX512-BF16 or AMX "
           "under vLLM, float32 otherwise), float32, bfloat16 or float16. Part of every cache key.", "DTYPE"),
    Option("vllm_mode", "--eval-vllm-mode", _choice("eager", "compiled"), "eager",
           "vLLM's execution: eager (default; loads in seconds) or compiled (torch.compile and graphs: slower "
           "to load, faster per token; its compile cache is kept under the cache directory).", "MODE"),
    Option("tensor_parallel", "--eval-tensor-parallel", _positive_int, 1,
           "GPUs one vLLM model is split over (tensor_parallel_size; default 1).", "N"),
    Option("cache", "--eval-cache", _choice("readwrite", "read", "off"), "readwrite",
           "prediction cache: readwrite (default), read (never write) or off.", "MODE"),
    Option("cache_db", "--eval-cache-db", _text, paths.CACHE_DB.as_posix(),
           f"prediction cache: a SQLite file (default {paths.CACHE_DB.as_posix()} under the rootdir) or a URL, "
           "postgresql://USER:PASSWORD@HOST:PORT/DBNAME for one cache shared by every machine; also "
           "MODELEVAL_CACHE_DB.", "PATH|URL", is_path=True, env="MODELEVAL_CACHE_DB", url_ok=True),
    Option("cache_lease", "--eval-cache-lease", _positive_float, 60.0,
           "seconds a claim on a shared (PostgreSQL) cache outlives its claimant: a process renews its "
           "claims while it computes; a killed one's are taken over after this (default 60).", "SECONDS"),
    Option("shard", "--eval-shard", _shard, None,
           "K/N: evaluate only the K-th of N stable slices of every suite (for N CI machines).", "K/N"),
    Option("run_group", "--eval-run-group", _text, None,
           "with --eval-shard on one shared results DB: the id the shards of one checkpoint share; the last "
           "shard in gates their union (default: the CI's pipeline id, e.g. GITHUB_RUN_ID).", "ID"),
    Option("data_dir", "--eval-data-dir", _text, None,
           "where the ready benchmark suites (pytest_modeleval.suites) read local files: DIR/mmlu/{dev,test}/, "
           "DIR/gsm8k/test.jsonl, DIR/humaneval/HumanEval.jsonl.gz. Without it they read the HF datasets "
           "from the local cache.", "DIR", is_path=True),
    Option("sandbox", "--eval-sandbox", _choice("auto", "bwrap", "docker", "UNSAFE-no-isolation"), "auto",
           "where the `sandbox` fixture runs model code: auto (bubblewrap, else Docker), bwrap, docker, or "
           "UNSAFE-no-isolation (no isolation at all; warned about and recorded).", "BACKEND"),
    Option("docker_image", "--eval-docker-image", _text, "python:3.11-slim",
           "image for the Docker sandbox backend (must be present; nothing is pulled).", "IMAGE"),
    Option("docker_runtime", "--eval-docker-runtime", _text, None,
           "OCI runtime for the Docker sandbox backend, e.g. runsc for gVisor (default: Docker's).", "NAME"),
    Option("baseline", "--baseline", _baseline, None,
           "what the promotion gates compare this run against: sha256:<hash or prefix> (that checkpoint's newest "
           "finished run), run:N, or channel:NAME (the run promoted to that channel; default channel:production).",
           "REF"),
    Option("gate_mode", "--eval-gate-mode", _choice("enforce", "report", "off"), "enforce",
           "promotion gates: enforce (a failed gate sets exit status 10; default), report (verdicts shown, "
           "recorded and in JUnit XML, exit status untouched) or off.", "MODE"),
    Option("overrides", "--eval-overrides", _text, paths.OVERRIDES_FILE.as_posix(),
           f"gate overrides file (default {paths.OVERRIDES_FILE.as_posix()} under the rootdir); honoured only when "
           "committed to git and unmodified.", "PATH", is_path=True),
    Option("summary_md", "--eval-summary-md", _text, None,
           "append the run's markdown summary (gate table, flipped items, where the dashboard is) to FILE; also "
           "GITHUB_STEP_SUMMARY, so a GitHub Actions job page shows it (docs/ci.md).", "FILE", is_path=True,
           env="GITHUB_STEP_SUMMARY"),
    Option("judge", "--judge", _text, None,
           "the judge model for judged suites (modeleval.Pairwise / Graded, the `judge` fixture): any model "
           "reference --model takes. Without it, judged suites are skipped.", "REF"),
    Option("judge_allow_self", "--judge-allow-self", _flag, False,
           "let the model under evaluation judge itself (refused by default: judges favour their own answers); "
           "recorded in the run.", "", is_flag=True),
    Option("judge_min_kappa", "--judge-min-kappa", _kappa, 0.7,
           "Cohen's kappa with human labels a judge needs (`modeleval judge validate`) before the win-rate "
           "gate counts its verdicts (default 0.7).", "KAPPA"),
    Option("audit", "--eval-audit", _text, None,
           "contamination audit configuration (the audit-suite JSON: model, dataset, perturbation, scoring and "
           "governance sections), applied to the suite it names and recorded with the run.", "FILE", is_path=True),
    Option("period", "--eval-period", _period, None,
           "the period whose sample suites with rotate= draw (2026-Q4, 2026-11, 2026-W47 or 2026; default: "
           "the current one, UTC). Pass an old period to rerun its sample.", "PERIOD"),
    # Ray (docs/scaling.md#ray-replicas)
    Option("replicas", "--eval-replicas", _positive_int, 2,
           "--eval-engine ray: engine replicas, one Ray actor each, each loading the model once (default 2).", "N"),
    Option("ray_address", "--eval-ray-address", _text, None,
           "Ray cluster for --eval-engine ray and --eval-sandbox-workers, as ray.init(address=...) takes it "
           "(auto, ray://host:10001, host:6379). Default: a local Ray started for the session, shut down "
           "at its end.", "ADDRESS"),
    Option("replica_engine", "--eval-replica-engine", _choice("hf", "vllm"), "hf",
           "the engine each Ray replica runs: hf (transformers; default) or vllm (with --eval-tensor-parallel "
           "GPUs per replica, held in a Ray placement group).", "NAME"),
    Option("replica_cpus", "--eval-replica-cpus", _positive_int, 1,
           "CPUs Ray reserves for each replica; torch uses that many threads in it (default 1).", "N"),
    Option("replica_gpus", "--eval-replica-gpus", _count, 0,
           "GPUs Ray reserves for each hf replica (default 0: CPU). vllm replicas take "
           "--eval-tensor-parallel GPUs.", "N"),
    Option("ray_timeout", "--eval-ray-timeout", _positive_float, 600.0,
           "seconds one batch may take on a replica before the replica counts as stuck: it is killed and the "
           "batch re-sent to another (default 600).", "SECONDS"),
    Option("sandbox_workers", "--eval-sandbox-workers", _count, 0,
           "run sandbox executions as up to N concurrent Ray tasks on the cluster's nodes, each in the same "
           "sandbox backend there (default 0: in this process).", "N"),
)


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one pytest session."""

    model: str | None = None
    db: Path | str = paths.RESULTS_DB  # a str only for a URL (pytest_modeleval.dburl)
    seed: int = 0
    limit: int | None = None
    registry: Path | None = None
    mlflow: str | None = None  # the MLflow tracking URI (--eval-mlflow, MLFLOW_TRACKING_URI); may hold a password
    batch_size: int = 16
    engine: str = "auto"
    dtype: str = "auto"
    vllm_mode: str = "eager"
    tensor_parallel: int = 1
    cache: str = "readwrite"
    cache_db: Path | str = paths.CACHE_DB  # a str when a URL
    cache_lease: float = 60.0
    shard: tuple[int, int] | None = None
    run_group: str | None = None
    data_dir: Path | None = None
    sandbox: str = "auto"
    docker_image: str = "python:3.11-slim"
    docker_runtime: str | None = None
    baseline: str | None = None
    gate_mode: str = "enforce"
    overrides: Path = paths.OVERRIDES_FILE
    summary_md: Path | None = None  # the markdown summary's file (--eval-summary-md, GITHUB_STEP_SUMMARY)
    judge: str | None = None
    judge_allow_self: bool = False
    judge_min_kappa: float = 0.7
    audit: Path | None = None
    period: str | None = None
    replicas: int = 2
    ray_address: str | None = None
    replica_engine: str = "hf"
    replica_cpus: int = 1
    replica_gpus: int = 0
    ray_timeout: float = 600.0
    sandbox_workers: int = 0
    model_base: Path = Path(".")  # where a relative model path is taken from
    sources: dict = dataclasses.field(default_factory=dict, compare=False)  # name -> "command line" | file


def add_options(parser) -> None:
    """Register every option under one 'modeleval' group."""
    group = parser.getgroup("modeleval", "model evaluation (pytest-modeleval)")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(option.flag, dest=f"modeleval_{option.name}", default=None, action="store_const",
                            const="true", help=option.help)
        else:
            group.addoption(option.flag, dest=f"modeleval_{option.name}", default=None,
                            metavar=option.metavar, help=option.help)


@dataclass(frozen=True)
class Project:
    """A project's pyproject.toml, read once: its [tool.modeleval] table and the file it came from.

    The plugin reads it in pytest_configure and hands it to the settings, the gates and the price;
    a command reads it on first use through `cli.common.project()`, which keeps it for the rest of the
    command. Its sub-tables belong to the features that read them; the ones read here are checked here.
    """

    path: Path
    table: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Project:
        """The project of this pyproject.toml (empty when the file or its table is absent); ConfigError
        naming the file when it is not valid TOML."""
        return cls(Path(path), read_pyproject(Path(path)))

    @property
    def prices(self) -> dict:
        """[tool.modeleval.prices] (cost.py)."""
        return self.table.get("prices", {})

    @property
    def gates(self) -> Any:
        """[tool.modeleval.gates], unchecked (gates/rules.py `from_project` checks it)."""
        return self.table.get("gates", {})

    @property
    def promotion(self) -> dict:
        """[tool.modeleval.promotion], checked: the committed policy of `modeleval promote`.

        `allow-unreviewed = true` lets a run whose gate configuration or suite files were not the
        committed ones be promoted (it counts only while pyproject.toml itself is committed)."""
        table = self.table.get("promotion", {})
        where = self.where("promotion")
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        for key, value in table.items():
            if key.replace("_", "-") != "allow-unreviewed":
                raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, ['allow-unreviewed'])} "
                                  "(known keys: allow-unreviewed)")
            if not isinstance(value, bool):
                raise ConfigError(f"{where} {key}: expected true or false, got {value!r}")
        return {"allow_unreviewed": any(table.values())}

    @property
    def retention(self) -> float | None:
        """[tool.modeleval.retention] days, checked: how long `modeleval prune` keeps runs; None when not set."""
        table = self.table.get("retention", {})
        where = self.where("retention")
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(table) - {"days"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known keys: days)")
        days = table.get("days")
        if days is None:
            return None
        if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
            raise ConfigError(f"{where} days: expected a positive number, got {days!r}")
        return float(days)

    def where(self, section: str) -> str:
        """How an error names a sub-table: 'pyproject.toml [tool.modeleval.gates]'."""
        return f"{self.path.name} [tool.modeleval.{section}]"


# The sub-tables of [tool.modeleval] and who reads them; any other is an error (a typo would switch a feature off)
SUB_TABLES = {"prices": "cost.py", "gates": "gates/rules.py", "retention": "modeleval prune",
              "promotion": "modeleval promote"}


def did_you_mean(name: str, known) -> str:
    """' (did you mean 'x'?)' when a known name is close to `name`, else ''."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_pyproject(path: Path) -> dict[str, Any]:
    """The [tool.modeleval] table of a pyproject.toml, or {} when the file or table is absent.

    The one parser of the file, called only by `Project.read`: the plugin reads the project once in
    pytest_configure, a command once through `cli.common.project()`."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    table = data.get("tool", {}).get("modeleval", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.modeleval] must be a table")
    return table


def _pyproject_values(table: dict[str, Any], path: Path) -> dict[str, tuple[Any, str]]:
    """Map pyproject keys to options; unknown keys are an error so typos do not pass silently."""
    by_key = {name.replace("-", "_"): option for option in OPTIONS
              for name in (option.key, option.flag.lstrip("-"))}
    values: dict[str, tuple[Any, str]] = {}
    for key, value in table.items():
        if isinstance(value, dict):  # sub-tables ([tool.modeleval.gates] ...) belong to their features
            if key not in SUB_TABLES:
                raise ConfigError(f"{path}: unknown table [tool.modeleval.{key}]{did_you_mean(key, SUB_TABLES)} "
                                  f"(known tables: {', '.join(sorted(SUB_TABLES))})")
            continue
        if key in SUB_TABLES:
            raise ConfigError(f"{path}: [tool.modeleval.{key}] must be a table, got {key} = {value!r}")
        option = by_key.get(key.replace("-", "_"))
        if option is None:
            known = sorted(o.key for o in OPTIONS)
            hint = did_you_mean(key.replace("_", "-"), known + list(SUB_TABLES))
            raise ConfigError(f"{path}: unknown key '{key}' in [tool.modeleval]{hint} (known keys: {', '.join(known)})")
        values[option.name] = (value, f"{path.name} [tool.modeleval] {key}")
    return values


def build_settings(cli: dict[str, Any], pyproject: Project | Path, invocation_dir: Path, rootdir: Path) -> Settings:
    """Merge the command line over pyproject over defaults, checking every value.

    `pyproject`: the project as read (a Path is read here). Relative paths from the command line are
    taken from the invocation directory, those from pyproject.toml from the file's own directory;
    defaults from the rootdir.
    """
    project = pyproject if isinstance(pyproject, Project) else Project.read(pyproject)
    pyproject = project.path
    from_file = _pyproject_values(project.table, pyproject)
    resolved: dict[str, Any] = {}
    sources: dict[str, str] = {}

    for option in OPTIONS:
        if cli.get(option.name) is not None:
            raw, where, base = cli[option.name], option.flag, invocation_dir
        elif option.env and os.environ.get(option.env):
            raw, where, base = os.environ[option.env], option.env, invocation_dir
        elif option.name in from_file:
            (raw, where), base = from_file[option.name], pyproject.parent
        else:
            resolved[option.name] = option.default
            if option.is_path and option.default is not None:
                resolved[option.name] = rootdir / option.default
            continue
        try:
            if isinstance(raw, bool) and option.is_flag:
                raw = str(raw).lower()
            if isinstance(raw, (bool, dict, list)):  # TOML values that no option takes
                raise TypeError
            value = option.parse(str(raw))
        except (TypeError, ValueError) as exc:
            detail = str(exc) if "must" in str(exc) else f"expected {option.metavar}"
            shown = dburl.redact(raw) if isinstance(raw, str) else raw  # a password is never shown
            raise ConfigError(f"invalid value for {where}: {shown!r} ({detail})") from None
        if option.url_ok:  # a libpq keyword string (host=... password=...) is PostgreSQL, never a file's name
            value = dburl.normalize(value)
        if option.url_ok and dburl.is_url(value):  # a URL is never taken for a path
            try:
                dburl.backend(value, where)
            except dburl.DatabaseURLError as exc:
                raise ConfigError(str(exc)) from None
        elif option.is_path:
            value = (base / Path(value).expanduser()) if not Path(value).expanduser().is_absolute() \
                else Path(value).expanduser()
        resolved[option.name] = value
        sources[option.name] = where
    if resolved.get("shard") and not resolved.get("run_group"):
        from .runinfo import ci_group_id

        resolved["run_group"] = ci_group_id()  # the CI's pipeline id: every shard job of it shares one
    model_base = pyproject.parent if "model" in from_file and cli.get("model") is None else invocation_dir
    return Settings(**resolved, model_base=model_base, sources=sources)
