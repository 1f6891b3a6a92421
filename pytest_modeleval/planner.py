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

from .declare import Ask
from .engines.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from .predictor import Prediction, Predictor
from .suite import MARK


@dataclass
class Planned:
    """What one test asked for, filled in by the run."""

    declaration: object
    asks: list[Ask] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def prompts(self) -> list[str]:
        return [ask.prompt for ask in self.asks]

    @property
    def value(self):
        if self.error is not None:
            raise self.error
        return self.declaration.value([p.value for p in self.predictions])


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
        planned = Planned(spec.request)
        try:
            planned.asks = list(spec.request.plan(item, lambda prompt: self.render(prompt, spec.chat), self.seed))
        except Exception as exc:  # noqa: BLE001 - a bad template is this test's error, not the run's
            planned.error = exc
        self.planned[node.nodeid] = planned
        return planned

    def _execute(self, plans: list[Planned]) -> None:
        """One predictor call per request kind over every plan; answers go back in order."""
        plans = [p for p in plans if p.error is None]
        for p in plans:
            p.predictions = [None] * len(p.asks)
        for kind, run in ((GenerateRequest, self._generate), (LoglikelihoodRequest, self._loglikelihood),
                          (RollingRequest, self._rolling)):
            slots = [(p, i) for p in plans for i, ask in enumerate(p.asks) if isinstance(ask.request, kind)]
            if not slots:
                continue
            try:
                predictions = run([p.asks[i] for p, i in slots])
            except Exception as exc:  # noqa: BLE001 - every test that asked this kind reports the engine failure
                for p, _ in slots:
                    p.error = exc
                continue
            for (p, i), prediction in zip(slots, predictions):
                p.predictions[i] = prediction

    def _generate(self, asks: list[Ask]) -> list[Prediction]:
        return self.predictor.generate([a.request for a in asks], [a.sample for a in asks])

    def _loglikelihood(self, asks: list[Ask]) -> list[Prediction]:
        return self.predictor.loglikelihood([a.request for a in asks])

    def _rolling(self, asks: list[Ask]) -> list[Prediction]:
        return self.predictor.loglikelihood_rolling([a.request.text for a in asks])
