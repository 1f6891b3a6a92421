"""Plan-then-run: on first use, gather the declared requests of every collected item and run them.

pytest runs one test at a time, but engines are fast only in large batches. The planner
sees the items that survived collection and deselection (-k, --eval-limit, --eval-shard),
renders every declared request, and hands each request kind to the predictor in one
list; the predictor removes duplicates, reads the cache and batches what is missing.
Each test then only reads its planned result.

Some declarations need more than one round: a judged suite first generates the candidate's
answers, then asks the judge about every answer at once, then retries the judge's
unreadable verdicts. Such a declaration is a generator (`steps(item, ctx)`) that yields the
`Ask`s of each round and receives their answers; the planner advances every item's
generator together, one batched call per (target, request kind) per round. A declaration
with `plan` / `value` is the one-round case.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Generator, cast

from ..engines.base import GenerateRequest, LoglikelihoodRequest, RollingRequest
from ..stash import ROUND_KEY
from ..suite import MARK
from .declare import Ask
from .predictor import Prediction, Predictor

MAX_ROUNDS = 100  # a declaration that keeps asking is a bug; stop it rather than loop forever
Steps = Generator[list, "list | None", object]  # yields a round's asks, receives their answers, returns the result


class PlanContext:
    """What a declaration's steps may use besides its item: rendering per target, seeds, and what the run's
    features provide while planning (RunFeature.planning), read as attributes: `ctx.judge_hash`, the judge's
    identity, is the judge feature's. The planner names no feature; a name no feature provides is an
    AttributeError, so a declaration that can do without one reads `ctx.provided.get(NAME)`."""

    def __init__(self, suite: str, chat: bool, seed: int, render_for: Callable[[object, bool, str], str],
                 **provided):
        self.suite = suite
        self.chat = chat
        self.seed = seed
        self.render_for = render_for  # (prompt, chat, target) -> text that engine sees
        self.provided = provided

    def __getattr__(self, name: str):
        provided = self.__dict__.get("provided", {})
        if name in provided:
            return provided[name]
        raise AttributeError(f"PlanContext has no {name!r}: no feature of this run provides it to planning")

    def render(self, prompt, target: str = "model") -> str:
        """The exact text a target sees; the judge always gets its chat template (its prompts are messages)."""
        return self.render_for(prompt, True if target == "judge" else self.chat, target)

    def rng(self, item) -> random.Random:
        """A generator seeded by run seed, suite and item: the same draws on every machine and rerun."""
        return random.Random(f"{self.seed}:{self.suite}:{item.id}:{item.variant}")


@dataclass
class Planned:
    """What one test asked for, filled in by the run. Only the model's own asks are logged for the outcome row."""

    steps: Steps | None = None
    asks: list[Ask] = field(default_factory=list)  # the current round's
    logged: list[tuple[str, Prediction]] = field(default_factory=list)
    result: object = None
    done: bool = False
    error: BaseException | None = None
    truncate: bool = False  # the suite lets the model's prompts be cut to its window (counted), not fail

    @property
    def prompts(self) -> list[str]:
        return [prompt for prompt, _ in self.logged]

    @property
    def predictions(self) -> list[Prediction]:
        return [prediction for _, prediction in self.logged]

    @property
    def value(self):
        if self.error is not None:
            raise self.error
        return self.result

    def advance(self, answers: list | None) -> None:
        """Send a round's answers (None to start); keep the next round's asks or the final result."""
        if self.steps is None:
            self.fail(RuntimeError("a plan without steps was advanced"))
            return
        try:
            asks = self.steps.send(answers)
        except StopIteration as stop:
            self.result, self.done, self.asks = stop.value, True, []
            return
        except Exception as exc:  # noqa: BLE001 - a bad template or verdict logic is this test's error
            self.fail(exc)
            return
        self.asks = list(asks)
        if not self.asks:
            self.fail(RuntimeError("a declaration's step asked for nothing; it must return its result instead"))

    def fail(self, exc: BaseException) -> None:
        self.error, self.done, self.asks = exc, True, []
        if self.steps is not None:
            self.steps.close()


def _round(node) -> int | None:
    """A sequential suite's round of the test (plugin/sequential.py), None for every other test."""
    stash = getattr(node, "stash", None)
    where = stash.get(ROUND_KEY, None) if stash is not None else None
    return None if where is None else where[1]


def one_round(declaration, item, ctx: PlanContext):
    """The steps of a declaration that asks once: plan, then value."""
    asks = declaration.plan(item, lambda prompt: ctx.render(prompt), ctx.seed)
    answers = yield asks
    return declaration.value(answers)


def steps_of(declaration, item, ctx: PlanContext) -> Steps:
    steps = getattr(declaration, "steps", None)
    return steps(item, ctx) if steps is not None else one_round(declaration, item, ctx)


class Planner:
    def __init__(self, predictors: Callable[[str], Predictor], render: Callable[[object, bool, str], str],
                 seed: int, **provided):
        self.predictors = predictors  # target ("model", "judge", "reference") -> its predictor, built on need
        self.render = render
        self.seed = seed
        self.provided = provided  # what the run's features provide to every PlanContext (RunFeature.planning)
        self.planned: dict[str, Planned] = {}
        self.ran = False

    def result(self, node, session_items) -> Planned:
        """The planned result of a test, running the whole plan on the first call: every test but those of a
        sequential suite's later rounds (ROUND_KEY), which run together when their round is reached."""
        if not self.ran:
            self.ran = True
            self.run([item for item in session_items if _round(item) in (None, 0)])
        planned = self.planned.get(node.nodeid)
        if planned is None and _round(node):  # the first test of a sequential suite's next round
            where = node.stash[ROUND_KEY]
            self.run([item for item in session_items
                      if item.nodeid not in self.planned and item.stash.get(ROUND_KEY, None) == where])
            planned = self.planned.get(node.nodeid)
        if planned is None:  # collected after planning (should not happen)
            planned = self._plan_one(node)
            if planned is None:
                raise RuntimeError(f"{node.nodeid}: its suite declares no request to plan")
            self.execute([planned])
        return planned

    def run(self, items) -> None:
        self.execute([p for p in (self._plan_one(item) for item in items) if p is not None])

    def context(self, suite: str, chat: bool) -> PlanContext:
        return PlanContext(suite, chat, self.seed, self.render, **self.provided)

    def _plan_one(self, node) -> Planned | None:
        marker = node.get_closest_marker(MARK)
        params = getattr(getattr(node, "callspec", None), "params", {})
        if marker is None or marker.args[0].request is None or "item" not in params:
            return None
        if node.get_closest_marker("skip") is not None:  # a skipped test's requests would be paid for nothing
            return None
        spec, item = marker.args[0], params["item"]
        planned = Planned(steps_of(spec.request, item, self.context(spec.name, spec.chat)), truncate=spec.truncate)
        self.planned[node.nodeid] = planned
        return planned

    def execute(self, plans: list[Planned]) -> None:
        """Advance every plan round by round; each round is one predictor call per (target, request kind)."""
        for p in plans:
            if p.steps is not None and not p.done and not p.asks:
                p.advance(None)
        for _ in range(MAX_ROUNDS):
            active = [p for p in plans if not p.done]
            if not active:
                return
            asked = {id(p): list(p.asks) for p in active}  # kept: a failure below clears a plan's asks
            answers: dict[int, list[Prediction | None]] = {id(p): [None] * len(p.asks) for p in active}
            for target, kind in sorted({(a.target, type(a.request).__name__) for p in active for a in p.asks}):
                slots = [(p, i) for p in active for i, a in enumerate(p.asks)
                         if a.target == target and type(a.request).__name__ == kind and p.error is None]
                if not slots:
                    continue
                try:
                    predictions = self._run(target, [p.asks[i] for p, i in slots],
                                            [p.truncate and target == "model" for p, _ in slots])
                except Exception as exc:  # noqa: BLE001 - every test that asked this reports the engine failure
                    for p, _ in slots:
                        p.fail(exc)
                    continue
                for (p, i), prediction in zip(slots, predictions):
                    answers[id(p)][i] = prediction
                    if prediction.error is not None and p.error is None:  # a prompt too long for the window
                        p.fail(prediction.error)
            for p in active:
                got = answers[id(p)]
                # the model's answers are logged even when another target failed: they were computed
                p.logged += [(a.prompt, pr) for a, pr in zip(asked[id(p)], got)
                             if a.target == "model" and pr is not None and pr.error is None]
                if not p.done:
                    p.advance([None if prediction is None else prediction.value for prediction in got])
        for p in plans:
            if not p.done:
                p.fail(RuntimeError(f"a declaration asked for more than {MAX_ROUNDS} rounds"))

    def _run(self, target: str, asks: list[Ask], truncate: list[bool]) -> list[Prediction]:
        predictor = self.predictors(target)
        request = asks[0].request
        if isinstance(request, GenerateRequest):
            return predictor.generate([cast(GenerateRequest, a.request) for a in asks], [a.sample for a in asks],
                                      truncate)
        if isinstance(request, LoglikelihoodRequest):
            return predictor.loglikelihood([cast(LoglikelihoodRequest, a.request) for a in asks], truncate)
        if isinstance(request, RollingRequest):
            return predictor.loglikelihood_rolling([cast(RollingRequest, a.request).text for a in asks])
        raise TypeError(f"a declaration asked for {type(request).__name__}, which no engine serves")
