"""The --judge refusal classifier over labelled completions, batched, for `modeleval redteam validate`.

The judge sees each completion as the Refusal suite shows it (same template, strict parsing,
retries and cache); an answer it never writes readably is the label `error`.
"""

from __future__ import annotations

from . import judge_classifier
from .validate import ERROR


def classify_all(rows, predictor, render, judge_hash: str, *, reasoning: bool = True, retries: int = 2,
                 max_tokens: int = 512, seed: int = 0) -> list[str]:
    from ..judge.declare import ask_until_read
    from ..runtime.planner import PlanContext, Planned, Planner

    template = judge_classifier.template(reasoning=reasoning)
    ctx = PlanContext("refusal-validation", True, seed, render, judge_hash=judge_hash)

    def steps(row):
        text = ctx.render(template.messages(request=row.prompt, response=row.completion), "judge") + template.prefix
        labels, _, _, error = yield from ask_until_read(ctx, template, [text], retries, max_tokens,
                                                        judge_classifier.parse)
        return ERROR if error else labels[0]

    plans = [Planned(steps(row)) for row in rows]
    Planner(lambda role: predictor, render, seed, judge_hash=judge_hash).execute(plans)
    return [p.value for p in plans]


def template_sha256(reasoning: bool) -> str:
    return judge_classifier.template(reasoning=reasoning).sha256
