"""Plan-then-run: on first use, gather the declared requests of every collected item and run them.

pytest runs one test at a time, but engines are fast only in large batches. The planner
sees the items that survived collection and deselection (-k, --eval-limit, --eval-shard),
renders every declared request, and hands each request kind to the predictor in one
list; the predictor removes duplicates, reads the cache and batches what is missing.
Each test then only reads its planned result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .declare import Choices, Generate, fill
from .engines.base import GenerateRequest, LoglikelihoodRequest
from .predictor import Prediction, Predictor
from .suite import MARK


@dataclass
class Planned:
    """What one test asked for, filled in by the run."""

    declaration: object
    prompts: list[str]
    requests: list = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def value(self):
        if self.error is not None:
            raise self.error
        values = [p.value for p in self.predictions]
        if isinstance(self.declaration, Generate):
            return values[0] if self.declaration.samples == 1 else values
        return values


class Planner:
    def __init__(self, predictor: Predictor, render: Callable[[object, bool], str], seed: int):
        self.predictor = predictor
        self.render = render
        self.seed = seed
        self.planned: dict[str, Planned] = {}
        self.ran = False

    def result(self, node, session_items) -> Planned:
        """The planned result of a test, running the whole plan on the first call."""
        if not self.ran:
            self.ran = True
            self.run(session_items)
        planned = self.planned.get(node.nodeid)
        if planned is None:  # collected after planning (should not happen) or not declared
            planned = self._plan_one(node)
            if planned is not None:
                self._execute([planned])
        return planned

    def run(self, items) -> None:
        plans = [p for p in (self._plan_one(item) for item in items) if p is not None]
        self._execute(plans)

    def _plan_one(self, node) -> Planned | None:
        marker = node.get_closest_marker(MARK)
        params = getattr(getattr(node, "callspec", None), "params", {})
        if marker is None or marker.args[0].request is None or "item" not in params:
            return None
        spec, item = marker.args[0], params["item"]
        declaration = spec.request
        planned = Planned(declaration, prompts=[])
        try:
            if isinstance(declaration, Generate):
                prompt = self.render(fill(declaration.prompt, item), spec.chat)
                seed = self.seed if declaration.seed is None else declaration.seed
                planned.prompts = [prompt] * declaration.samples
                planned.requests = [GenerateRequest(prompt, max_tokens=declaration.max_tokens,
                                                    temperature=float(declaration.temperature),
                                                    top_p=declaration.top_p, stop=declaration.stops,
                                                    seed=seed + i) for i in range(declaration.samples)]
                planned.samples = list(range(declaration.samples))
            elif isinstance(declaration, Choices):
                context = fill(declaration.context, item)
                continuations = declaration.continuations(item)
                planned.prompts = [context + c for c in continuations]
                planned.requests = [LoglikelihoodRequest(context, c) for c in continuations]
                planned.samples = [0] * len(continuations)
        except Exception as exc:  # noqa: BLE001 - a bad template is this test's error, not the run's
            planned.error = exc
        self.planned[node.nodeid] = planned
        return planned

    def _execute(self, plans: list[Planned]) -> None:
        for kind in (Generate, Choices):
            group = [p for p in plans if isinstance(p.declaration, kind) and p.error is None]
            if not group:
                continue
            requests = [r for p in group for r in p.requests]
            samples = [s for p in group for s in p.samples]
            try:
                if kind is Generate:
                    predictions = self.predictor.generate(requests, samples)
                else:
                    predictions = self.predictor.loglikelihood(requests)
            except Exception as exc:  # noqa: BLE001 - every test of this kind reports the engine failure
                for p in group:
                    p.error = exc
                continue
            offset = 0
            for p in group:
                p.predictions = predictions[offset:offset + len(p.requests)]
                offset += len(p.requests)
