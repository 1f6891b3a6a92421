"""Any lm-evaluation-harness model (`lmeval:NAME#MODEL_ARGS`) as an engine.

The LM is built as lm-eval's own CLI builds it (`get_model(NAME).create_from_arg_string`),
and every engine call becomes one call of the LM's method for that request kind, so the
numbers are lm-eval's own: its tokenization, batching, stop handling and truncation.

lm-eval's LMs take no per-request seed: before a call with sampled requests, Python's and
torch's random generators are seeded with the first sampled request's seed, so the call
is reproducible, but a sampled answer depends on the other requests in the call.
"""

from __future__ import annotations

import inspect
import random
import threading
from typing import Sequence

from .base import EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest
from .tokenized import PromptRendering, template_sha256

MISSING = "lm-eval is not installed: pip install 'pytest-modeleval[lmeval]'"

_LOADED: dict[tuple, "LMEvalEngine"] = {}
_LOCK = threading.Lock()


def load(resolved, settings, device: str | None = None) -> "LMEvalEngine":
    """The engine for an `lmeval:` reference, built once per process."""
    import_lmeval()
    device = device or _default_device()
    key = (resolved.sha256, resolved.lm_name, resolved.lm_args, settings.batch_size, device)
    with _LOCK:
        engine = _LOADED.get(key)
        if engine is None:
            engine = _LOADED[key] = LMEvalEngine(resolved, settings.batch_size, device)
    return engine


def import_lmeval():
    try:
        import lm_eval
    except ImportError as exc:
        raise EngineError(MISSING) from exc
    return lm_eval


def _default_device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_lm(name: str, model_args: str, batch_size: int, device: str):
    """The LM as lm-eval's CLI builds it; batch size and device unless model_args set them."""
    from lm_eval.api.registry import get_model

    try:
        cls = get_model(name)
    except ValueError as exc:
        raise EngineError(f"lm-eval has no model {name!r}: {exc}") from exc
    given = {entry.partition("=")[0].strip() for entry in model_args.split(",")}
    extra = {key: value for key, value in (("batch_size", batch_size), ("device", device)) if key not in given}
    try:
        return cls.create_from_arg_string(model_args, extra)
    except Exception as exc:  # noqa: BLE001 - any load failure is an engine failure
        raise EngineError(f"lm-eval cannot load {name} with {model_args!r}: {exc}") from exc


class LMEvalEngine(PromptRendering):
    """One lm-eval LM behind the engine protocol."""

    def __init__(self, resolved, batch_size: int, device: str):
        import lm_eval

        self.name = resolved.lm_name
        self.lm = build_lm(resolved.lm_name, resolved.lm_args or "", batch_size, device)
        tokenizer = getattr(self.lm, "tokenizer", None)
        self.info = EngineInfo(
            kind="lmeval",
            version=f"{lm_eval.__version__}/{self.name}",  # the LM class changes outputs as a version does
            model_hash=resolved.sha256,
            device=device,
            dtype=_dtype(self.lm, resolved.lm_args or ""),
            extra={"lm": self.name, "model_args": resolved.lm_args,
                   "chat_template_sha256": template_sha256(getattr(tokenizer, "chat_template", None))},
        )

    def _chat_text(self, messages: list[dict]) -> str | None:
        tokenizer = getattr(self.lm, "tokenizer", None)
        if tokenizer is not None and not getattr(tokenizer, "chat_template", None):
            return None
        try:
            return self.lm.apply_chat_template(messages, add_generation_prompt=True)
        except NotImplementedError:
            return None

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        sampled = [r for r in requests if not r.greedy]
        if sampled:
            _seed(sampled[0].seed)
        return self._call("generate_until", [(r.prompt, gen_kwargs(r)) for r in requests])

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[Loglikelihood]:
        scores = self._call("loglikelihood", [(r.context, r.continuation) for r in requests])
        return [Loglikelihood(float(logprob), bool(greedy)) for logprob, greedy in scores]

    def loglikelihood_rolling(self, texts: Sequence[str]) -> list[float]:
        return [float(score) for score in self._call("loglikelihood_rolling", [(text,) for text in texts])]

    def count_tokens(self, text: str) -> int:
        """The LM's tokenizer where it has one; otherwise about four characters a token."""
        encode = getattr(self.lm, "tok_encode", None)
        if encode is None:
            return max(1, len(text) // 4)
        return len(encode(text, add_special_tokens=False))

    @property
    def max_length(self) -> int | None:
        """The LM's window, where it tokenizes itself (lm-eval's local models); None leaves the check to it."""
        if getattr(self.lm, "tok_encode", None) is None:
            return None
        try:
            return int(self.lm.max_length)
        except (AttributeError, TypeError, ValueError):
            return None

    @property
    def scored_limit(self) -> int | None:
        """lm-eval's vLLM model scores the last max_length tokens, its transformers model one more: the lesser."""
        return self.max_length

    def pair_tokens(self, context: str, continuation: str) -> int:
        """Tokens of a loglikelihood request as lm-eval splits it."""
        if context == "":
            return 1 + self.count_tokens(continuation)  # lm-eval scores it after its prefix token
        return sum(len(tokens) for tokens in self.lm._encode_pair(context, continuation))

    def _call(self, method: str, arguments: list[tuple]) -> list:
        """One call of the LM's method on Instances built from the arguments, as lm-eval's tasks do."""
        from lm_eval.api.instance import Instance

        if not arguments:
            return []
        instances = [Instance(request_type=method, doc={}, arguments=args, idx=0, metadata=("modeleval", i, 1))
                     for i, args in enumerate(arguments)]
        function = getattr(self.lm, method)
        quiet = {"disable_tqdm": True} if "disable_tqdm" in inspect.signature(function).parameters else {}
        try:
            results = list(function(instances, **quiet))
        except Exception as exc:  # noqa: BLE001 - any failure inside the LM is an engine failure
            raise EngineError(f"lm-eval {self.name}.{method} failed: {exc}") from exc
        if len(results) != len(arguments):
            raise EngineError(f"lm-eval {self.name}.{method} returned {len(results)} results "
                              f"for {len(arguments)} requests")
        return results


def gen_kwargs(request: GenerateRequest) -> dict:
    """lm-eval's generation arguments for one request (a fresh `until` list: lm-eval appends EOS)."""
    kwargs = {"until": list(request.stop), "max_gen_toks": request.max_tokens, "do_sample": not request.greedy,
              "temperature": request.temperature}
    if not request.greedy and request.top_p < 1.0:
        kwargs["top_p"] = request.top_p
    return kwargs


def _seed(seed: int) -> None:
    random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def _dtype(lm, model_args: str) -> str:
    """The loaded weights' dtype where the LM exposes them, else model_args' dtype= (or '')."""
    dtype = getattr(getattr(lm, "model", None), "dtype", None)
    if dtype is not None:
        return str(dtype).replace("torch.", "")
    args = dict(entry.partition("=")[::2] for entry in model_args.split(",") if "=" in entry)
    return args.get("dtype", "").strip()
