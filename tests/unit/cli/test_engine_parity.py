"""`modeleval parity`'s comparison on synthetic outcome rows (no model), and its argument forms."""

from __future__ import annotations

import json

import pytest

from pytest_modeleval.cli.common import CLIError
from pytest_modeleval.cli.engine_parity import calls, compare, continuation_tokens
from pytest_modeleval.cli.parity import Config, configs
from pytest_modeleval.stats import mcnemar_exact


def gen_row(item: str, outcome: str, text: str, suite: str = "gen") -> dict:
    return {"suite": suite, "item_id": item, "variant": 0, "outcome": outcome, "prompt": f"Q {item}?",
            "response": text}


def mc_row(item: str, outcome: str, logprobs: list[float], suite: str = "mc") -> dict:
    prompts = [f"Question {item}\nAnswer: {c}" for c in ("Paris", "Berlin is", "Rome")]
    return {"suite": suite, "item_id": item, "variant": 0, "outcome": outcome, "prompt": json.dumps(prompts),
            "response": json.dumps([[lp, False] for lp in logprobs])}


def words(text: str) -> int:
    return len(text.split())


def test_calls_reads_both_logged_shapes():
    assert calls(gen_row("1", "correct", "42")).generations == [("Q 1?", "42")]  # a number is still a text
    single = {"prompt": "ctx yes", "response": "[-0.5, true]"}
    assert calls(single).loglikelihoods == [("ctx yes", -0.5)]
    assert len(calls(mc_row("1", "wrong", [-1.0, -2.0, -3.0])).loglikelihoods) == 3
    assert calls({"prompt": None, "response": None}).generations == []


def test_continuation_tokens_cut_the_common_prefix_at_a_word():
    prompts = ["Answer: Mars", "Answer: Mercury is", "Answer: Venus"]
    assert continuation_tokens(prompts, words) == {"Answer: Mars": 1, "Answer: Mercury is": 2, "Answer: Venus": 1}
    assert continuation_tokens(prompts, None) == dict.fromkeys(prompts, 1)  # no tokenizer: per request


def test_compare_pairs_items_and_uses_mcnemar():
    a = [gen_row(str(i), "correct" if i < 8 else "wrong", f"t{i}") for i in range(10)]
    b = [gen_row(str(i), "correct" if i < 5 else "wrong", f"t{i}" if i % 2 else "x") for i in range(10)]
    a += [mc_row(str(i), "correct", [-1.0, -4.0, -5.0]) for i in range(4)]
    b += [mc_row(str(i), "correct" if i else "wrong", [-1.5, -4.0, -5.0 + 0.1 * i]) for i in range(4)]
    b.append(gen_row("extra", "correct", "only in b"))  # not in a: not paired
    gen, mc, overall = compare(a, b, words)
    assert (gen.suite, gen.n, gen.right_a, gen.right_b) == ("gen", 10, 8, 5)
    assert gen.difference == pytest.approx(-0.3)
    assert gen.p_value == mcnemar_exact([i < 8 for i in range(10)], [i < 5 for i in range(10)]).p_value
    assert (gen.generations, gen.identical, gen.agreement) == (10, 5, 0.5)
    assert gen.max_delta is None
    assert (mc.n, mc.loglikelihoods, mc.generations) == (4, 12, 0)
    assert mc.max_delta == pytest.approx(0.5)  # "Paris": one token, 0.5 apart
    # |Δ| per token over 12 calls: 4 x 0.5 on Paris, 0 on "Berlin is", 0.1 * i on Rome
    assert mc.mean_delta == pytest.approx((4 * 0.5 + 0.1 + 0.2 + 0.3) / 12)
    assert (overall.suite, overall.n, overall.generations, overall.loglikelihoods) == ("all", 14, 10, 12)
    assert overall.p_value == mcnemar_exact([i < 8 for i in range(10)] + [True] * 4,
                                            [i < 5 for i in range(10)] + [False, True, True, True]).p_value
    assert not overall.significant and overall.prompts_differ == 0


def test_different_prompts_and_errors_are_left_out():
    a = [gen_row("1", "correct", "same"), gen_row("2", "error", "x")]
    b = [dict(gen_row("1", "correct", "same"), prompt="<chat> Q 1?"), gen_row("2", "correct", "x")]
    (gen, overall) = compare(a, b)
    assert (gen.n, gen.generations, gen.prompts_differ) == (1, 1, 1)  # item 2's error: no paired outcome


def test_configs_forms():
    assert configs("hf,vllm", "auto") == (Config("hf", "auto"), Config("vllm", "auto"))
    assert configs("hf,vllm", "float32,bfloat16") == (Config("hf", "float32"), Config("vllm", "bfloat16"))
    assert configs("hf,vllm", "vllm:bfloat16") == (Config("hf", "auto"), Config("vllm", "bfloat16"))
    assert configs("vllm,vllm", "float32,bfloat16")[1] == Config("vllm", "bfloat16")
    for engines, dtypes in (("hf", "auto"), ("hf,tgi", "auto"), ("hf,hf", "float32"), ("hf,hf", "hf:float32"),
                            ("hf,vllm", "float64"), ("hf,vllm", "ray:float32")):
        with pytest.raises(CLIError):
            configs(engines, dtypes)
