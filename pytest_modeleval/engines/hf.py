"""The transformers engine: batched generation and lm-eval-style loglikelihood, CPU or CUDA.

Loaded models are kept per process (keyed by model hash and device), so repeated
in-process pytest sessions (pytester, notebooks) load a checkpoint once.
"""

from __future__ import annotations

import threading
from itertools import groupby
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest, TokenScores
from .tokenized import TokenizerEngine, template_sha256

_LOADED: dict[tuple[str, str, str], "HFEngine"] = {}  # (model sha256, device, dtype)
# Positions x rows of logits one right-padded scoring batch may keep (x vocabulary x 4 bytes: 2,048 x 49k ~ 400 MB).
LOGITS_BUDGET_ROWS = 2048
SAMPLER = "row-generators-1"  # how sampled tokens are drawn; part of cache keys, so a change never serves old samples
_LOCK = threading.Lock()


def load(resolved, batch_size: int = 16, device: str | None = None, dtype: str = "auto") -> "HFEngine":
    """The engine for a resolved local model (embedded, .gguf or HF directory), loaded once per process.
    `dtype` auto is float32 on the CPU (the reference numbers) and bfloat16 on CUDA."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "bfloat16"
    key = (resolved.sha256, device, dtype)
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            engine = _LOADED[key] = HFEngine(model_dir(resolved), resolved.sha256, device, getattr(torch, dtype))
    engine.batch_size = batch_size
    return engine


def model_dir(resolved) -> Path:
    """The HF-format directory of a resolved local model; GGUF files are converted once first."""
    if resolved.path is None:
        raise EngineError(f"model {resolved.ref!r} has no local files; the transformers engine needs a path")
    if resolved.path.suffix == ".gguf":
        from .gguf import ensure_converted

        return ensure_converted(resolved.path, resolved.sha256)
    return resolved.path


class HFEngine(TokenizerEngine):
    """One causal LM and its tokenizer."""

    def __init__(self, model_dir: Path, model_hash: str, device: str, dtype=None):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if dtype is None:
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
                "chat_template_sha256": template_sha256(template),
                "sampler": SAMPLER,
            },
        )

    # --- generation ----------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        """Batched by settings, longest first. A sampled request draws from a generator seeded with its own
        seed (RowSampler), so its answer depends on its seed, not on its batch neighbours."""
        results: list[str | None] = [None] * len(requests)
        encoded = [self._encode(r.prompt) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (_settings(requests[i]), -len(encoded[i])))
        for _, members in groupby(order, key=lambda i: _settings(requests[i])):
            group = list(members)
            for start in range(0, len(group), self.batch_size):
                batch = group[start:start + self.batch_size]
                texts = self._generate_batch([encoded[i] for i in batch], requests[batch[0]],
                                             [requests[i].seed for i in batch])
                for i, text in zip(batch, texts):
                    results[i] = text
        return results  # type: ignore[return-value]

    def _generate_batch(self, token_lists: list[list[int]], request: GenerateRequest, seeds: list[int]) -> list[str]:
        torch = self.torch
        keep = max(1, self.max_length - request.max_tokens)
        token_lists = [tokens[-keep:] for tokens in token_lists]
        width = max(len(tokens) for tokens in token_lists)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(t)) + t for t in token_lists], device=self.device)
        mask = torch.tensor([[0] * (width - len(t)) + [1] * len(t) for t in token_lists], device=self.device)
        options = dict(max_new_tokens=request.max_tokens, pad_token_id=pad,
                       eos_token_id=self.tokenizer.eos_token_id)
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if not request.greedy:
            from transformers import LogitsProcessorList

            sampler = RowSampler(torch, seeds, request.temperature, request.top_p, self.device)
            options.update(logits_processor=LogitsProcessorList([sampler]))
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
        return self._score_pairs(pairs, _summed)

    def token_logprobs(self, texts: Sequence[str]) -> list[list[TokenLogprob]]:
        """Every token of each text with its log-probability given the tokens before it, and the most
        likely token there: what an OpenAI server returns for `echo` + `logprobs`. The first token has
        no context, so its logprob and top token are None. Offsets are character offsets into the text."""
        encoded = [self._encode_with_offsets(text) for text in texts]
        scorable = [i for i, (ids, _) in enumerate(encoded) if len(ids) > 1]
        scored = self._score_pairs([(encoded[i][0][:1], encoded[i][0][1:]) for i in scorable], _per_token)
        per_text: list[list[tuple]] = [[] for _ in texts]
        for i, rows in zip(scorable, scored):
            per_text[i] = rows
        return [self._token_rows(text, ids, offsets, rows)
                for text, (ids, offsets), rows in zip(texts, encoded, per_text)]

    def token_scores(self, texts: Sequence[str]) -> list[TokenScores]:
        """Membership scores' raw material: every token after the first with its logprob, and the mean and
        standard deviation of log p over the whole next-token distribution at its position (Min-K%++)."""
        encoded = [self._encode(text) for text in texts]
        scorable = [i for i, ids in enumerate(encoded) if len(ids) > 1]
        scored = self._score_pairs([(encoded[i][:1], encoded[i][1:]) for i in scorable], _distribution)
        out = [TokenScores((), (), ()) for _ in texts]
        for i, scores in zip(scorable, scored):
            out[i] = scores
        return out

    def _encode_with_offsets(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids and where each token starts in the text, made non-decreasing so that the slices
        between consecutive starts concatenate to the text (byte-level tokens of one character share
        a span; the character goes to the last of them)."""
        try:
            encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        except NotImplementedError:  # a slow (Python) tokenizer: offsets from decoded prefixes
            ids = self._encode(text)
            return ids, [len(self.tokenizer.decode(ids[:i])) for i in range(len(ids))]
        starts, previous = [], 0
        for index, (start, _) in enumerate(encoding.offset_mapping):
            previous = 0 if index == 0 else max(previous, start)
            starts.append(previous)
        return list(encoding.input_ids), starts

    def _token_rows(self, text: str, ids: list[int], starts: list[int], scored: list[tuple]) -> list[TokenLogprob]:
        ends = starts[1:] + [len(text)]
        rows = []
        for index, (token_id, start, end) in enumerate(zip(ids, starts, ends)):
            token = text[start:end]
            if index == 0:
                rows.append(TokenLogprob(token, None, None, None, start))
                continue
            logprob, top_id, top_logprob = scored[index - 1]
            top = token if top_id == token_id else self.tokenizer.decode([top_id])
            rows.append(TokenLogprob(token, logprob, top, top_logprob, start))
        return rows

    def _score_pairs(self, pairs: list[tuple[list[int], list[int]]], summarise) -> list:
        """summarise(rows, target) for every (context, continuation) pair, in order; longest batched first.
        Pairs that feed the model the same tokens (the choices of a multiple-choice item with one-token
        answers) share one forward row, as lm-eval does: its logits serve each pair's last positions."""
        inputs = [tuple((context + continuation)[-(self.max_length + 1):][:-1]) for context, continuation in pairs]
        widest: dict[tuple, int] = {}  # input -> the pair sharing it with the longest continuation
        for i, key in enumerate(inputs):
            if key not in widest or len(pairs[i][1]) > len(pairs[widest[key]][1]):
                widest[key] = i
        order = sorted(widest.values(), key=lambda i: -len(inputs[i]))
        rows_of: dict[tuple, Any] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            for i, (rows, _) in zip(batch, self._score_batch([pairs[i] for i in batch])):
                rows_of[inputs[i]] = rows
        return [summarise(rows_of[key][len(rows_of[key]) - len(continuation):],
                          self.torch.tensor(continuation, device=self.device))
                for key, (_, continuation) in zip(inputs, pairs)]

    def _score_batch(self, pairs: list[tuple[list[int], list[int]]]) -> list[tuple]:
        """Per pair, the log-softmax rows that predict its continuation tokens, and those tokens.

        Right-padded without an attention mask, as lm-eval does: under causal attention the padding after
        a row cannot reach it, so each row is computed exactly as alone, and the attention kernels run
        their mask-free path. Logits are computed only at the positions some row's continuation needs
        (logits_to_keep as an index tensor). When those are too many (long continuations: rolling or echo
        scoring), left padding with a mask brings every continuation to the end instead."""
        torch = self.torch
        inputs = [(context + continuation)[-(self.max_length + 1):][:-1] for context, continuation in pairs]
        width = max(len(tokens) for tokens in inputs)
        spans = [range(len(tokens) - len(continuation), len(tokens))
                 for tokens, (_, continuation) in zip(inputs, pairs)]
        positions = sorted({p for span in spans for p in span})
        if len(pairs) * len(positions) > LOGITS_BUDGET_ROWS:
            return self._score_batch_left(pairs, inputs, width)
        column = {p: j for j, p in enumerate(positions)}
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([t + [pad] * (width - len(t)) for t in inputs], device=self.device)
        try:
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids,
                                    logits_to_keep=torch.tensor(positions, device=self.device)).logits
        except Exception as exc:  # noqa: BLE001
            raise EngineError(f"loglikelihood failed: {exc}") from exc
        return [(torch.log_softmax(logits[row, [column[p] for p in span]].float(), dim=-1),
                 torch.tensor(continuation, device=self.device))
                for row, (span, (_, continuation)) in enumerate(zip(spans, pairs))]

    def _score_batch_left(self, pairs, inputs: list[list[int]], width: int) -> list[tuple]:
        """Left-padded with a mask, so that every continuation ends at the last position."""
        torch = self.torch
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
        return [(logprobs[row, keep - len(continuation):], torch.tensor(continuation, device=self.device))
                for row, (_, continuation) in enumerate(pairs)]


class TokenLogprob(NamedTuple):
    """One token of a scored text (see HFEngine.token_logprobs)."""

    token: str
    logprob: float | None
    top_token: str | None
    top_logprob: float | None
    offset: int


def _summed(rows, target) -> Loglikelihood:
    total = rows.gather(-1, target.unsqueeze(-1)).sum().item()
    return Loglikelihood(float(total), bool((rows.argmax(-1) == target).all().item()))


def _distribution(rows, target) -> TokenScores:
    """Each target token's logprob, and mu and sigma of log p under the distribution it was drawn from:
    mu = sum_z p(z) log p(z), sigma^2 = sum_z p(z) (log p(z))^2 - mu^2 (Zhang et al., Min-K%++)."""
    probs = rows.exp()
    weighted = (probs * rows).nan_to_num(0.0)  # p log p is 0 where p underflows to 0
    means = weighted.sum(-1)
    second = (weighted * rows).nan_to_num(0.0).sum(-1)
    stds = (second - means * means).clamp(min=0.0).sqrt()
    chosen = rows.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return TokenScores(tuple(chosen.tolist()), tuple(means.tolist()), tuple(stds.tolist()))


def _per_token(rows, target) -> list[tuple[float, int, float]]:
    """(logprob of the token, most likely token id, its logprob) per position."""
    chosen = rows.gather(-1, target.unsqueeze(-1)).squeeze(-1).tolist()
    top_logprobs, top_ids = rows.max(-1)
    return list(zip(chosen, top_ids.tolist(), top_logprobs.tolist()))


class RowSampler:
    """Sampling as a logits processor: each row draws its next token (temperature, then nucleus top_p)
    from its own generator and the processor leaves only that token, which greedy decoding then takes.
    Why: transformers' own sampling draws a whole batch from one global generator, so a sampled answer
    would depend on its batch neighbours; this batches sampled requests and keeps each reproducible."""

    def __init__(self, torch, seeds: list[int], temperature: float, top_p: float, device: str):
        self.torch = torch
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]

    def __call__(self, input_ids, scores):
        torch = self.torch
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            ranked, order = probs.sort(dim=-1, descending=True)
            ranked[(ranked.cumsum(-1) - ranked) > self.top_p] = 0.0  # keep the smallest prefix reaching top_p
            probs = torch.zeros_like(probs).scatter(-1, order, ranked)
        chosen = torch.stack([torch.multinomial(probs[row], 1, generator=generator)
                              for row, generator in enumerate(self.generators)])
        return torch.full_like(scores, float("-inf")).scatter(-1, chosen, 0.0)


def _settings(request: GenerateRequest) -> tuple:
    """Requests generated in one batch share these; greedy and sampled never mix."""
    return (request.max_tokens, request.stop, request.temperature, request.top_p)


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[:min(cuts)] if cuts else text
