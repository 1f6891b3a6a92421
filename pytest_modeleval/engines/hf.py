"""The transformers engine: batched generation and lm-eval-style loglikelihood, CPU or CUDA.

Loaded models are kept per process (keyed by model hash and device), so repeated
in-process pytest sessions (pytester, notebooks) load a checkpoint once.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from itertools import groupby
from pathlib import Path
from typing import Sequence

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest

_LOADED: dict[tuple[str, str], "HFEngine"] = {}
_LOCK = threading.Lock()


def load(resolved, batch_size: int = 16, device: str | None = None) -> "HFEngine":
    """The engine for a resolved local model (embedded, .gguf or HF directory), loaded once per process."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (resolved.sha256, device)
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            engine = _LOADED[key] = HFEngine(_model_dir(resolved), resolved.sha256, device)
    engine.batch_size = batch_size
    return engine


def _model_dir(resolved) -> Path:
    if resolved.path is None:
        raise EngineError(f"model {resolved.ref!r} has no local files; the transformers engine needs a path")
    if resolved.path.suffix == ".gguf":
        from .gguf import ensure_converted

        return ensure_converted(resolved.path, resolved.sha256)
    return resolved.path


class HFEngine:
    """One causal LM and its tokenizer."""

    def __init__(self, model_dir: Path, model_hash: str, device: str):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype).to(device).eval()
        except Exception as exc:  # noqa: BLE001 - any load failure is an engine failure
            raise EngineError(f"cannot load model sha256:{model_hash[:12]} from its files: {exc}") from exc
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.batch_size = 16
        self._warned_no_template = False
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        template = self.tokenizer.chat_template
        self.info = EngineInfo(
            kind="hf",
            version=transformers.__version__,
            model_hash=model_hash,
            device=device,
            dtype=str(dtype).replace("torch.", ""),
            extra={
                "torch": torch.__version__,
                "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest() if template else None,
            },
        )

    # --- prompts -------------------------------------------------------------------------------
    def render(self, prompt, chat: bool) -> str:
        """Apply the chat template when asked for and present; otherwise the text as given."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        if chat and self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if chat and not self._warned_no_template:
            self._warned_no_template = True
            warnings.warn(f"model sha256:{self.info.model_hash[:12]} has no chat template; "
                          "chat prompts are sent as plain text", stacklevel=2)
        if isinstance(prompt, str):
            return prompt
        return "\n\n".join(str(message["content"]) for message in messages)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    # --- generation ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Greedy requests batched (same settings together, longest first); sampled ones one by one,
        each under its own seed, so a sampled answer does not depend on its batch neighbours."""
        results: list[str | None] = [None] * len(requests)
        encoded = [self._encode(r.prompt) for r in requests]
        greedy = sorted((i for i, r in enumerate(requests) if r.greedy),
                        key=lambda i: (_settings(requests[i]), -len(encoded[i])))
        for _, group in groupby(greedy, key=lambda i: _settings(requests[i])):
            group = list(group)
            for start in range(0, len(group), self.batch_size):
                batch = group[start:start + self.batch_size]
                for i, text in zip(batch, self._generate_batch([encoded[i] for i in batch], requests[batch[0]])):
                    results[i] = text
        for i, request in enumerate(requests):
            if not request.greedy:
                self.torch.manual_seed(request.seed)
                results[i] = self._generate_batch([encoded[i]], request)[0]
        return results  # type: ignore[return-value]

    def _generate_batch(self, token_lists: list[list[int]], request: GenerateRequest) -> list[str]:
        torch = self.torch
        keep = max(1, self.max_length - request.max_tokens)
        token_lists = [tokens[-keep:] for tokens in token_lists]
        width = max(len(tokens) for tokens in token_lists)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(t)) + t for t in token_lists], device=self.device)
        mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in token_lists], device=self.device)
        options = dict(max_new_tokens=request.max_tokens, pad_token_id=pad,
                       eos_token_id=self.tokenizer.eos_token_id)
        if request.greedy:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            options.update(do_sample=True, temperature=request.temperature, top_p=request.top_p, top_k=None)
        if request.stop:
            options.update(stop_strings=list(request.stop), tokenizer=self.tokenizer)
        try:
            with torch.inference_mode():
                output = self.model.generate(input_ids=input_ids, attention_mask=mask, **options)
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"generation failed: {exc}") from exc
        texts = self.tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return [_cut_at_stop(text, request.stop) for text in texts]

    # --- loglikelihood -------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        """Summed log P(continuation | context) per request, longest inputs batched together."""
        pairs = [self._encode_pair(r.context, r.continuation) for r in requests]
        order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
        results: list[Loglikelihood | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for i, value in zip(batch, self._score_batch([pairs[i] for i in batch])):
                results[i] = value
        return results  # type: ignore[return-value]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        """lm-eval's rolling loglikelihood, for texts that fit the context window: every token
        scored after the BOS (or EOS) token."""
        for text in texts:
            if self.count_tokens(text) >= self.max_length:
                raise EngineError(f"loglikelihood_rolling: a text of {self.count_tokens(text)} tokens does not fit "
                                  f"the context window of {self.max_length}; split it first")
        scores = self.loglikelihood([LoglikelihoodRequest("", text) for text in texts])
        return [score.logprob for score in scores]

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """lm-evaluation-harness's split: trailing spaces of the context move to the continuation,
        and the continuation tokens are what the whole string adds after the context's tokens."""
        if context == "":
            prefix = self.tokenizer.bos_token_id
            prefix = self.tokenizer.eos_token_id if prefix is None else prefix
            return [prefix], self._encode(continuation)
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = self._encode(context + continuation)
        context_tokens = self._encode(context)
        return context_tokens, whole[len(context_tokens):]

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[Loglikelihood]:
        """Left-padded so every continuation ends at the last position: only those logits are computed."""
        torch = self.torch
        inputs = [(context + continuation)[-(self.max_length + 1):][:-1] for context, continuation in pairs]
        width = max(len(tokens) for tokens in inputs)
        keep = max(len(continuation) for _, continuation in pairs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(t)) + t for t in inputs], device=self.device)
        mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in inputs], device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        try:
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=keep).logits
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"loglikelihood failed: {exc}") from exc
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        results = []
        for row, (_, continuation) in enumerate(pairs):
            n = len(continuation)
            rows = logprobs[row, keep - n:]
            target = torch.tensor(continuation, device=self.device)
            total = rows.gather(-1, target.unsqueeze(-1)).sum().item()
            results.append(Loglikelihood(float(total), bool((rows.argmax(-1) == target).all().item())))
        return results


def _settings(request: GenerateRequest) -> tuple:
    return (request.max_tokens, request.stop)


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[:min(cuts)] if cuts else text
