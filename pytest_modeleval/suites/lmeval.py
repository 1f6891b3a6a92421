"""lm-evaluation-harness tasks as suites: lm-eval builds the prompts and scores the answers,
the plugin plans, caches and batches the requests in between.

    test_mmlu = modeleval.lm_eval_suite("mmlu", num_fewshot=5)

Each document of the task's evaluation split becomes an item; its lm-eval `Instance`s
become declared engine requests; the responses go back through the task's own filters
and `process_results`, so an item is right exactly when lm-eval scores it right. Every
metric the task reports (per filter, named as lm-eval names them: `exact_match,strict-match`)
is recorded per item and aggregated with the task's own aggregation in the summary.

lm-eval is imported only when such a suite is collected (`pip install pytest-modeleval[lmeval]`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Mapping

from ..engines.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from ..items import DataError
from ..runtime.declare import Ask

DEFAULT_FEWSHOT_SEED = 1234  # lm-eval's simple_evaluate default
GENERATION_KWARGS = {"until", "do_sample", "temperature", "top_p", "max_gen_toks", "max_new_tokens"}
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's default when a task does not set max_gen_toks
_MANAGERS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


class TaskError(DataError):
    """A task that cannot be loaded or run as a suite; the message names the task and the cause."""


def task_manager(include_path: tuple[str, ...], include_defaults: bool):
    """lm-eval's TaskManager, built once per process; its built-in tasks' index is read from disk (lmeval_index)."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise TaskError("lm-eval task suites need lm-evaluation-harness: pip install 'pytest-modeleval[lmeval]'") from None
    from .lmeval_index import cached_index

    key = (include_path, include_defaults)
    with _LOCK:
        if key not in _MANAGERS:
            with cached_index():
                _MANAGERS[key] = TaskManager(include_path=list(include_path) or None, include_defaults=include_defaults)
        return _MANAGERS[key]


@contextmanager
def local_data(provider: Callable | None):
    """While lm-eval builds tasks, read their splits from `provider(task_config)` instead of the hub."""
    if provider is None:
        yield
        return
    import datasets
    from lm_eval.api.task import ConfigurableTask

    original = ConfigurableTask.download

    def download(task, dataset_kwargs=None, **kwargs):
        splits = provider(task.config)
        task.dataset = datasets.DatasetDict({split: datasets.Dataset.from_list(list(rows))
                                             for split, rows in splits.items()})

    with _LOCK:
        ConfigurableTask.download = download
        try:
            yield
        finally:
            ConfigurableTask.download = original


class TaskRequests:
    """The declaration of an lm-eval task suite: loads the task, lists its docs, plans their requests."""

    def __init__(self, task: str, *, num_fewshot: int | None, fewshot_seed: int, include_path, include_defaults: bool,
                 data: Callable | None, overrides: Mapping | None, gen_kwargs: Mapping | None,
                 chat: bool, fewshot_as_multiturn: bool, system_instruction: str | None, base_dir: Path):
        self.task = task
        self.num_fewshot = num_fewshot
        self.fewshot_seed = fewshot_seed
        self.include_path = tuple(str(base_dir / p) for p in ([include_path] if isinstance(include_path, (str, Path))
                                                               else include_path or ()))
        self.include_defaults = include_defaults
        self.data = data
        self.overrides = dict(overrides or {})
        self.gen_kwargs = dict(gen_kwargs or {})
        self.chat = chat
        self.fewshot_as_multiturn = fewshot_as_multiturn
        self.system_instruction = system_instruction
        self.base_dir = base_dir
        self._tasks: dict[str, Any] | None = None
        self._selected: dict[str, list[int]] = {}  # leaf task -> selected doc ids, in order
        self._instances: dict[tuple[str, int], list] | None = None
        self._lock = threading.Lock()

    # --- loading ----------------------------------------------------------------------------------
    @property
    def tasks(self) -> dict[str, Any]:
        """Leaf tasks by name, configured as simple_evaluate configures them."""
        if self._tasks is None:
            self._tasks = self._load()
        return self._tasks

    def _load(self) -> dict[str, Any]:
        manager = task_manager(self.include_path, self.include_defaults)
        try:
            with local_data(self.data):  # lm-eval reads the datasets while it builds the tasks
                loaded = manager.load(self._specs(manager))
        except TaskError:
            raise
        except KeyError as exc:
            raise TaskError(f"lm-eval task {self.task!r}: {exc.args[0] if exc.args else exc}") from None
        except Exception as exc:  # noqa: BLE001 - dataset download/cache errors, bad YAML
            hint = ("; offline machines read tasks from the local HF cache or from data=... (see docs/lm-eval.md)"
                    if "offline" in str(exc).lower() or "connect" in str(exc).lower() else "")
            raise TaskError(f"lm-eval task {self.task!r} could not be loaded: {type(exc).__name__}: {exc}{hint}") from None
        tasks = dict(sorted(loaded["tasks"].items()))
        for name, task in tasks.items():
            self._configure(name, task)
        return tasks

    def _specs(self, manager) -> list:
        """What TaskManager.load takes: a YAML path, a name, or, with overrides, the tasks built with them
        (lm-eval merges overrides into a registered config only through its factory)."""
        if self.task.endswith((".yaml", ".yml")):
            if self.overrides:
                raise TaskError(f"lm-eval task {self.task!r}: overrides= applies to registered tasks; "
                                "edit the YAML file instead")
            return [str(self.base_dir / self.task)]
        if not self.overrides:
            return [self.task]
        entry = manager._index.get(self.task)
        if entry is None:
            raise TaskError(f"lm-eval task {self.task!r} is not a registered task, group or tag")
        built = manager._factory.build(entry, overrides=self.overrides, registry=manager._index)
        return built if isinstance(built, list) else [built]

    def _configure(self, name: str, task) -> None:
        """What simple_evaluate does to each task: num_fewshot, generation kwargs, few-shot seed."""
        if task.get_config("output_type") == "generate_until" and self.gen_kwargs:
            task.set_config(key="generation_kwargs", value=self.gen_kwargs, update=True)
        if self.num_fewshot is not None and task.get_config("num_fewshot") != 0:
            task.set_config(key="num_fewshot", value=self.num_fewshot)
        elif task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=self.fewshot_seed)
        if getattr(task, "UNSAFE_CODE", False):
            raise TaskError(f"lm-eval task {name!r} runs model code on this machine; use the sandboxed "
                            "HumanEval suite of pytest_modeleval.suites instead")

    def rows(self) -> list[dict]:
        """The suite's data: every evaluation doc of every leaf task, tagged with where it came from."""
        rows = []
        for name, task in self.tasks.items():
            prefix = f"{name}-" if len(self.tasks) > 1 else ""  # a group's items name their member task
            for doc_id, doc in enumerate(task.eval_docs):
                rows.append({**doc, "lm_eval_task": name, "lm_eval_doc_id": doc_id,
                             "lm_eval_key": f"{prefix}{doc_id:04d}"})
        return rows

    # --- planning ---------------------------------------------------------------------------------
    def prepare(self, items) -> None:
        """The items this session selected (before sharding): their few-shot contexts are built together,
        in lm-eval's doc order, so a random few-shot sampler draws what lm-eval's `samples=` run draws."""
        selected: dict[str, list[int]] = {}
        for item in items:
            selected.setdefault(item["lm_eval_task"], []).append(item["lm_eval_doc_id"])
        self._selected = {name: sorted(ids) for name, ids in selected.items()}
        self._instances = None

    def instances(self, item, render: Callable) -> list:
        """The lm-eval Instances of one item's doc, built for every selected doc on first use."""
        with self._lock:
            if self._instances is None:
                self._instances = {}
                for name, doc_ids in self._selected.items():
                    self._build(name, self.tasks[name], doc_ids, render)
        try:
            return self._instances[(item["lm_eval_task"], item["lm_eval_doc_id"])]
        except KeyError:
            raise TaskError(f"item {item.id} was not among the items this session selected") from None

    def _build(self, name: str, task, doc_ids: list[int], render: Callable) -> None:
        everything = doc_ids == list(range(len(task.eval_docs)))
        prefix = doc_ids == list(range(len(doc_ids)))
        task.build_all_requests(
            limit=None if everything else len(doc_ids) if prefix else None,
            samples=None if everything or prefix else doc_ids,
            apply_chat_template=self.chat, fewshot_as_multiturn=self.fewshot_as_multiturn,
            system_instruction=self.system_instruction, chat_template=render if self.chat else None)
        for instance in task.instances:  # doc_id is the position among the selected docs
            self._instances.setdefault((name, doc_ids[instance.doc_id]), []).append(instance)
        for instances in self._instances.values():
            instances.sort(key=lambda inst: inst.idx)

    def plan(self, item, render: Callable, seed: int) -> list[Ask]:
        asks = []
        for instance in self.instances(item, render):
            for repeat in range(instance.repeats or 1):
                asks.append(_ask(instance, repeat, seed, item["lm_eval_task"]))
        return asks

    def value(self, values: list) -> list:
        """The answers in plan order (each Instance's `repeats` in a row); score() gives them back to lm-eval."""
        return values

    # --- scoring ----------------------------------------------------------------------------------
    def score(self, item, values: list) -> dict[str, Any]:
        """The task's own metrics for one doc, per filter: {"acc,none": 1.0, ...}."""
        task = self.tasks[item["lm_eval_task"]]
        instances = self.instances(item, None)  # built when the item was planned
        position = 0
        for instance in instances:
            repeats = instance.repeats or 1
            instance.resps = [_response(instance, v) for v in values[position:position + repeats]]
            instance.filtered_resps = {}
            position += repeats
        for ensemble in task._filters:  # task.apply_filters() would filter every doc's instances at once
            ensemble.apply(instances)
        metrics = {}
        for key in instances[0].filtered_resps:
            results = task.process_results(instances[0].doc, [inst.filtered_resps[key] for inst in instances])
            for metric, value in results.items():
                metrics[f"{metric},{key}"] = value
        return metrics

    def p_correct(self, item, values: list, metric: str) -> float | None:
        """A multiple-choice doc's probability on the right answer, normalised as `metric` decides.

        The softmax runs over the choices' loglikelihoods as lm-eval's multiple-choice scoring
        compares them for that accuracy: raw for `acc`, divided by the choice's length in
        characters for `acc_norm`, in UTF-8 bytes for `acc_bytes`, less the unconditional
        loglikelihood for `acc_mutual_info`. None for other output types, a task with its own
        `process_results`, or a gold answer that names no choice (lm-eval warns about those).
        """
        from ..stats.pcorrect import p_correct

        task = self.tasks[item["lm_eval_task"]]
        if task.OUTPUT_TYPE != "multiple_choice" or callable(task.config.process_results):
            return None
        doc = self.instances(item, None)[0].doc
        choices = list(task.doc_to_choice(doc))
        lls = [float(v[0]) for v in values]
        if len(lls) not in (len(choices), 2 * len(choices)) or not choices:
            return None
        name = metric.split(",", 1)[0]
        conditional = lls[:len(choices)]
        if name == "acc_norm":
            scores = [ll / len(c) for ll, c in zip(conditional, choices)]
        elif name == "acc_bytes":
            scores = [ll / len(c.encode("utf-8")) for ll, c in zip(conditional, choices)]
        elif name == "acc_mutual_info" and len(lls) == 2 * len(choices):
            scores = [c - u for c, u in zip(conditional, lls[len(choices):])]
        else:
            scores = conditional
        gold = task.doc_to_text(doc) if task.multiple_input else task.doc_to_target(doc)
        golds = gold if isinstance(gold, list) else [gold]
        indices = []
        for g in golds:
            if isinstance(g, str):
                g = choices.index(g) if g in choices else -1
            if not isinstance(g, int) or not 0 <= g < len(choices):
                return None
            indices.append(g)
        return p_correct(scores, indices)

    def aggregations(self, item, metrics: dict) -> dict[str, str]:
        """For the metrics whose suite value is not a plain mean: where lm-eval's aggregation lives."""
        functions = self.tasks[item["lm_eval_task"]].aggregation()
        found = {}
        for key in metrics:
            function = functions.get(key.split(",", 1)[0])
            if function is not None and function.__name__ != "mean":
                found[key] = f"{function.__module__}:{function.__name__}"
        return found

    def higher_is_better(self, item, metric: str) -> bool:
        return bool(self.tasks[item["lm_eval_task"]].higher_is_better().get(metric, True))


def _ask(instance, repeat: int, seed: int, task_name: str) -> Ask:
    kind, args = instance.request_type, instance.args
    if kind == "loglikelihood":
        context, continuation = args
        return Ask(context + continuation, LoglikelihoodRequest(context, continuation), repeat)
    if kind == "loglikelihood_rolling":
        return Ask(args[0], RollingRequest(args[0]), repeat)
    if kind == "generate_until":
        context, options = args
        options = dict(options or {})
        unknown = set(options) - GENERATION_KWARGS
        if unknown:
            raise TaskError(f"lm-eval task {task_name!r}: generation setting(s) {', '.join(sorted(unknown))} "
                            f"are not supported (supported: {', '.join(sorted(GENERATION_KWARGS))})")
        until = options.get("until") or ()
        until = (until,) if isinstance(until, str) else tuple(until)
        greedy = not options.get("do_sample", False) or float(options.get("temperature", 1.0)) == 0.0
        max_tokens = int(options.get("max_gen_toks", options.get("max_new_tokens", DEFAULT_MAX_GEN_TOKS)))
        request = GenerateRequest(context, max_tokens=max_tokens,
                                  temperature=0.0 if greedy else float(options.get("temperature", 1.0)),
                                  top_p=float(options.get("top_p", 1.0)), stop=until, seed=seed + repeat)
        return Ask(context, request, repeat)
    raise TaskError(f"lm-eval task {task_name!r}: request type {kind!r} is not supported")


def _response(instance, value):
    """An engine answer in the shape lm-eval's filters and metrics expect for the request type."""
    if instance.request_type == "loglikelihood":
        return (float(value[0]), bool(value[1]))
    return value


def lm_eval_suite(task: str, *, name: str | None = None, num_fewshot: int | None = None,
                  fewshot_seed: int = DEFAULT_FEWSHOT_SEED, include_path=None, include_defaults: bool = True,
                  data: Callable | Mapping | None = None, overrides: Mapping | None = None,
                  gen_kwargs: Mapping | None = None, chat: bool = False, fewshot_as_multiturn: bool = False,
                  system_instruction: str | None = None, sample: int | None = None, seed: int | None = None,
                  metric: str | None = None, threshold: float = 1.0, truncate: bool = True) -> Callable:
    """An lm-eval task, group or tag (or a task YAML file) as a suite: assign it to a `test_*` name.

    `data` reads the task's splits from local files instead of the hub: a mapping {split: data spec}
    (any spec a suite's `data` takes, e.g. a JSONL path relative to the test file) or a callable
    taking the lm-eval task config and returning {split: rows} (groups: one call per member task).
    `overrides` merges into the task config (e.g. dataset_path / dataset_kwargs={"data_files": ...}).
    An item is right when `metric` (default: the task's first metric under its first filter, e.g.
    "acc,none" or "exact_match,strict-match") reaches `threshold`; every metric is recorded.
    `truncate` (True, as lm-eval does) cuts prompts longer than the model's window from the left and counts
    them; False makes each such item an error.
    """
    import inspect

    from ..items import load_rows
    from ..suite import suite as declare_suite

    caller = Path(inspect.stack()[1].filename).resolve().parent
    provider = data
    if isinstance(data, Mapping):
        specs = dict(data)

        def provider(config):
            return {split: load_rows(spec, base_dir=caller)[0] for split, spec in specs.items()}
    suite_name = name or (Path(task).stem if task.endswith((".yaml", ".yml")) else task)
    declaration = TaskRequests(task, num_fewshot=num_fewshot, fewshot_seed=fewshot_seed, include_path=include_path,
                               include_defaults=include_defaults, data=provider, overrides=overrides,
                               gen_kwargs=gen_kwargs, chat=chat, fewshot_as_multiturn=fewshot_as_multiturn,
                               system_instruction=system_instruction, base_dir=caller)

    @declare_suite(suite_name, data=declaration.rows, sample=sample, seed=seed, id_field="lm_eval_key",
                        chat=chat, request=declaration, truncate=truncate)
    def test_lm_eval_task(item, request, lm_eval_values):
        from ..stash import AGGREGATIONS_KEY, METRICS_KEY, P_CORRECT_KEY, SCORE_KEY

        metrics = declaration.score(item, lm_eval_values)
        request.node.stash[METRICS_KEY] = metrics
        request.node.stash[AGGREGATIONS_KEY] = declaration.aggregations(item, metrics)
        key = metric or next(iter(metrics))
        if key not in metrics:
            raise TaskError(f"suite {suite_name!r}: metric {key!r} is not among the task's metrics: "
                            f"{', '.join(metrics)}")
        p_correct = declaration.p_correct(item, lm_eval_values, key)
        if p_correct is not None:
            request.node.stash[P_CORRECT_KEY] = p_correct
        value = metrics[key]
        if isinstance(value, bool) or (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
            request.node.stash[SCORE_KEY] = float(value)
        if not isinstance(value, (int, float)):
            raise TaskError(f"suite {suite_name!r}: metric {key!r} has no per-item value to judge an item by "
                            f"(got {type(value).__name__}); pass metric= naming one that does")
        higher = declaration.higher_is_better(item, key.split(",", 1)[0])
        passed = value >= threshold if higher else value <= threshold
        assert passed, f"{key} = {value} ({'<' if higher else '>'} {threshold})"

    test_lm_eval_task.__name__ = f"test_{suite_name}"
    return test_lm_eval_task
