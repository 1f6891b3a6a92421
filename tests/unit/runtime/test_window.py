"""No silent truncation: a prompt longer than the model's window is an error outcome for its item, never a
cut-and-scored "wrong"; a suite with truncate=True cuts it from the left as lm-eval does, and counts it.

The engine is the real embedded transformers engine with its window shortened to 64 tokens (a copy, so the
process's shared engine keeps its own), so every path below is the one a 10 MB prompt takes on 8,192 tokens.
"""

from __future__ import annotations

import json

import pytest

from evalkit import RESULTS_DB, one_thread_engine, outcomes, query, run, setup_suite
from pytest_modeleval.engines import window
from pytest_modeleval.engines.base import GenerateRequest, LoglikelihoodRequest

WINDOW = 64
LONG = "one two three four five six seven eight nine ten " * 20  # about 200 tokens

SHORT_WINDOW_CONFTEST = f'''
import copy
import json
import os

from pytest_modeleval.engines import hf

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_prompts.jsonl")


class Logged:
    """The embedded engine with a {WINDOW}-token window, writing down every prompt it is sent."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, requests):
        self._log([r.prompt for r in requests])
        return self.inner.generate(requests)

    def loglikelihood(self, requests):
        self._log([r.context + r.continuation for r in requests])
        return self.inner.loglikelihood(requests)

    def loglikelihood_rolling(self, texts):
        self._log(list(texts))
        return self.inner.loglikelihood_rolling(texts)

    def _log(self, prompts):
        with open(LOG, "a") as f:
            f.write(json.dumps(prompts) + "\\n")


def pytest_modeleval_make_engine(resolved, settings):
    engine = copy.copy(hf.load(resolved, batch_size=settings.batch_size))
    engine.max_length = {WINDOW}
    return Logged(engine)
'''

SUITES = f'''
LONG = {LONG!r}


@modeleval.suite("strict", data=lambda: [{{"id": "short", "q": "What is 2 + 2?"}}, {{"id": "long", "q": LONG}}],
                 id_field="id", request=modeleval.Generate("{{q}}", max_tokens=4))
def test_strict(item, completion):
    assert completion is not None


@modeleval.suite("cut", data=lambda: [{{"id": "short", "q": "The sky is"}}, {{"id": "long", "q": LONG + "The sky is"}}],
                 id_field="id", request=modeleval.Choices("{{q}}", [" blue", " green"]), truncate=True)
def test_cut(item, choice):
    assert choice in (0, 1)


@modeleval.suite("imperative", data=lambda: [{{"id": "long", "q": LONG}}], id_field="id")
def test_imperative(item, model):
    model.generate(item["q"], max_tokens=4)


@modeleval.suite("rolling", data=lambda: [{{"id": "long", "q": LONG}}], id_field="id", truncate=True)
def test_rolling(item, model):
    model.loglikelihood_rolling(item["q"])
'''


@pytest.fixture(scope="module")
def engine():
    yield from one_thread_engine()


def by_item(rows) -> dict[tuple[str, str], dict]:
    """Outcome rows by (suite, row id): item ids are "<suite>-<row>-p<variant>"."""
    return {(r["suite"], r["item_id"].split("-")[1]): r for r in rows}


def sent(pytester) -> list[str]:
    log = pytester.path / "engine_prompts.jsonl"
    prompts = [p for line in log.read_text().splitlines() for p in json.loads(line)] if log.exists() else []
    log.unlink(missing_ok=True)
    return prompts


def test_a_prompt_longer_than_the_window_is_its_items_error_unless_the_suite_cuts_and_counts_it(pytester, engine):
    setup_suite(pytester, SUITES, counting=False)
    (pytester.path / "conftest.py").write_text(SHORT_WINDOW_CONFTEST)
    result = run(pytester, "-rA")
    out = result.stdout.str()
    rows = by_item(outcomes(pytester.path / RESULTS_DB))

    # the declared and the imperative long prompt: errors naming the window and the way out, never computed
    for suite in ("strict", "imperative"):
        row = rows[(suite, "long")]
        assert row["outcome"] == "error" and row["score"] is None, row
        assert "PromptTooLong" in row["message"] and f"window of {WINDOW} tokens" in row["message"]
        assert "truncate=True" in row["message"]
    assert rows[("strict", "short")]["outcome"] in ("correct", "wrong")
    assert not any(LONG in prompt for prompt in sent(pytester) if "The sky is" not in prompt)
    # a rolling text is never cut, even where the suite allows cutting
    assert rows[("rolling", "long")]["outcome"] == "error" and "window of 64" in rows[("rolling", "long")]["message"]

    # the suite that opted in: scored on the cut prompt, and counted per test, per run and in the summary
    assert rows[("cut", "long")]["outcome"] in ("correct", "wrong")
    assert (rows[("cut", "long")]["truncated_prompts"], rows[("cut", "short")]["truncated_prompts"]) == (2, 0)
    [run_row] = query(pytester.path / RESULTS_DB, "SELECT truncated_prompts FROM runs")
    assert run_row["truncated_prompts"] == 2
    assert {r["suite"]: r["truncate"] for r in query(pytester.path / RESULTS_DB, "SELECT * FROM suites")} == \
        {"strict": 0, "cut": 1, "imperative": 0, "rolling": 1}
    assert "cut: 2 prompt(s) longer than the model's window were cut from the left (truncate=True)" in out
    assert result.ret == 1  # the errors fail the session as errors, not as wrong answers

    # again, from the cache: the cut prompts are served and still counted, the long strict prompt still refused
    result = run(pytester, "-rA")
    again = by_item(outcomes(pytester.path / RESULTS_DB, 2))
    assert again[("strict", "long")]["outcome"] == "error"
    assert again[("cut", "long")]["truncated_prompts"] == 2 and again[("cut", "long")]["cache_hits"] == 2
    assert sent(pytester) == []


def test_a_request_fits_when_prompt_and_max_tokens_fit_the_window(engine):
    """The limits each request kind has: generation leaves room for max_tokens, scoring fits the window and
    the one predicted token, rolling leaves room for the first token."""
    import copy

    short = copy.copy(engine)
    short.max_length = WINDOW
    prompt = " ".join(["word"] * 40)
    tokens = short.count_tokens(prompt)
    assert window.excess(short, "generate", GenerateRequest(prompt, max_tokens=WINDOW - tokens)) == 0
    assert window.excess(short, "generate", GenerateRequest(prompt, max_tokens=WINDOW - tokens + 3)) == 3
    pair = short.pair_tokens(prompt, " word")
    assert window.excess(short, "loglikelihood", LoglikelihoodRequest(prompt, " word")) == max(0, pair - WINDOW - 1)
    assert window.excess(short, "loglikelihood_rolling", prompt * 2) == short.count_tokens(prompt * 2) - WINDOW + 1
    message = window.describe(short, "generate", GenerateRequest(prompt, max_tokens=WINDOW), tokens)
    assert f"a prompt of {tokens} tokens with max_tokens={WINDOW}" in message and "window of 64 tokens" in message



@pytest.mark.parametrize("text", ["plain words and numbers 12345", "   leading spaces", "émigré naïve ☃ 🤖🤖 中文字符",
                                  "\x00\x01 control", ""])
def test_a_token_holds_at_least_one_byte_so_short_texts_skip_the_tokenizer(engine, text):
    """The shortcut that spares a cached run from tokenizing every prompt rests on this bound."""
    assert engine.count_tokens(text) <= len(text.encode("utf-8")) + 2
    assert engine.pair_tokens(text, " continuation") <= len((text + " continuation").encode("utf-8")) + 2
