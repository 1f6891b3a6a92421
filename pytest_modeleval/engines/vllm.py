"""The vLLM engine: the whole protocol on an in-process `vllm.LLM` (CUDA only).

Every `generate` or `loglikelihood` call is one `LLM.generate` call: vLLM schedules the
requests itself (continuous batching), so `--eval-batch-size` does not apply. Prompts are
tokenized here, exactly as the transformers engine tokenizes them, and passed as token ids,
so both engines see the same tokens; loglikelihoods come from vLLM's prompt logprobs over
lm-eval's context/continuation split.

vLLM is imported only when this engine is built, never when pytest starts.
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest
from .tokenized import TokenizerEngine, template_sha256

MISSING = "vLLM is not installed: pip install 'pytest-modeleval[vllm]'"
# The transformers engine's CUDA dtype, so the two engines' numbers are comparable.
DTYPE = "bfloat16"

_LOADED: dict[tuple[str, int, int], "VLLMEngine"] = {}
_LOCK = threading.Lock()


def load(resolved, settings) -> "VLLMEngine":
    """The engine for a resolved local model, built once per process (per hash, TP size and seed)."""
    # vLLM forks its engine process unless told otherwise; a fork after anything in this process touched
    # CUDA (torch.cuda.is_available() can) dies with "Cannot re-initialize CUDA in forked subprocess".
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    vllm = import_vllm()
    from .hf import model_dir

    key = (resolved.sha256, settings.tensor_parallel, settings.seed)
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            engine = _LOADED[key] = VLLMEngine(vllm, str(model_dir(resolved)), resolved.sha256,
                                               settings.tensor_parallel, settings.seed)
    return engine


def import_vllm():
    """The vllm module, or the EngineError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise EngineError(MISSING) from exc
    return vllm


class VLLMEngine(TokenizerEngine):
    """One `vllm.LLM` and its tokenizer."""

    def __init__(self, vllm, model_dir: str, model_hash: str, tensor_parallel: int, seed: int):
        self.vllm = vllm
        try:
            self.llm = vllm.LLM(model=model_dir, tensor_parallel_size=tensor_parallel, seed=seed, dtype=DTYPE)
            self.tokenizer = self.llm.get_tokenizer()
        except Exception as exc:  # noqa: BLE001 - any load failure is an engine failure
            raise EngineError(f"vLLM cannot load model sha256:{model_hash[:12]}: {exc}") from exc
        self.max_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.info = EngineInfo(
            kind="vllm",
            version=str(getattr(vllm, "__version__", "unknown")),
            model_hash=model_hash,
            device="cuda",
            dtype=DTYPE,
            extra={"tensor_parallel": tensor_parallel,
                   "chat_template_sha256": template_sha256(getattr(self.tokenizer, "chat_template", None))},
        )

    @property
    def rolling_limit(self) -> int:
        """vLLM's prompt must leave room for the one token it generates."""
        return self.max_length - 1

    # --- generation ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """All requests in one vLLM call, each with its own sampling parameters (and seed)."""
        if not requests:
            return []
        keep = [max(1, self.max_length - r.max_tokens) for r in requests]  # as the transformers engine cuts
        prompts = [_tokens(self._encode(r.prompt)[-n:]) for r, n in zip(requests, keep)]
        outputs = self._run(prompts, [self._sampling(r) for r in requests], "generation")
        return [output.outputs[0].text for output in outputs]

    def _sampling(self, request: GenerateRequest):
        """Temperature 0 is vLLM's greedy decoding; a sampled request carries its own seed."""
        stop = [s for s in request.stop if s] or None
        if request.greedy:
            return self.vllm.SamplingParams(max_tokens=request.max_tokens, temperature=0.0, stop=stop)
        return self.vllm.SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature,
                                        top_p=request.top_p, seed=request.seed, stop=stop)

    # --- loglikelihood -------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Each context+continuation is a prompt; its prompt logprobs score the continuation."""
        if not requests:
            return []
        pairs = [self._encode_pair(r.context, r.continuation) for r in requests]
        # The prompt plus the one generated token must fit the window: cut from the left.
        prompts = [_tokens((context + continuation)[-(self.max_length - 1):]) for context, continuation in pairs]
        params = self.vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        outputs = self._run(prompts, params, "loglikelihood")
        return [score_prompt_logprobs(output.prompt_logprobs, continuation)
                for output, (_, continuation) in zip(outputs, pairs)]

    def _run(self, prompts: list[dict], params, what: str) -> list:
        try:
            return self.llm.generate(prompts, params, use_tqdm=False)
        except Exception as exc:  # noqa: BLE001 - out of memory, invalid input: an engine failure
            raise EngineError(f"vLLM {what} failed: {exc}") from exc


def score_prompt_logprobs(prompt_logprobs: list, continuation: list[int]) -> Loglikelihood:
    """Sum the logprobs of the last len(continuation) prompt tokens. Each entry maps token ids to
    Logprobs and holds the prompt's own token and the most likely one (prompt_logprobs=1): the
    token is greedy when nothing there is more likely. The first entry is None (no context)."""
    if len(continuation) >= len(prompt_logprobs):
        raise EngineError(f"loglikelihood: a continuation of {len(continuation)} tokens leaves no context "
                          "in the model's window")
    total, greedy = 0.0, True
    for entry, token in zip(prompt_logprobs[len(prompt_logprobs) - len(continuation):], continuation):
        chosen = entry[token].logprob
        total += chosen
        greedy = greedy and chosen >= max(logprob.logprob for logprob in entry.values())
    return Loglikelihood(float(total), greedy)


def _tokens(ids: list[int]) -> dict:
    """A vLLM TokensPrompt (a TypedDict, so a plain dict works in every version)."""
    return {"prompt_token_ids": list(ids)}
