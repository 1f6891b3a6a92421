"""LLM paraphrases: a paraphrase model rewords each question, sampled through the prediction cache.

The paraphrase model is any model reference `--model` takes. Its requests go through the project's
prediction cache like every other request (keyed by its content hash, the prompt and the sampling
seed), and each item's candidates are drawn in one batch with every other item's. Candidates are
then screened by distance like any rewording (the full window applies: `surface` is False), and
the accepted ones are kept in the variant library, so the model runs once per item, ever.
"""

from __future__ import annotations

import hashlib
import re

from .variant import GeneratorError, Variant, check_request, fields_hash

TEMPLATE = ("Rewrite the question below so that it asks exactly the same thing in different words. Keep every "
            "number, name and quantity. Do not answer it. Reply with the rewritten question only.\n\n"
            "Question: {text}")
_LABEL = re.compile(r"^\s*(rewritten question|paraphrased question|paraphrase|rewrite|question)\s*:\s*",
                    re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


class ParaphraseLLM:
    version = 1
    surface = False

    def __init__(self, model: str = "embedded", field: str = "question", *, template: str = TEMPLATE,
                 temperature: float = 0.8, top_p: float = 0.95):
        if "{text}" not in template:
            raise ValueError("ParaphraseLLM template must contain {text}")
        self.model, self.field, self.template = model, field, template
        self.temperature, self.top_p = temperature, top_p
        self.resolved = None
        self.settings = None

    def bind(self, settings) -> None:
        """Resolve the paraphrase model with the run's settings (registry, cache), before anything is named."""
        from ..modelref import resolve

        self.settings = settings
        self.resolved = resolve(self.model, registry=settings.registry, base_dir=settings.model_base)

    @property
    def name(self) -> str:
        """Names the model and the prompt, so another paraphrase model or template draws its own variants."""
        if self.resolved is None:
            raise RuntimeError(f"ParaphraseLLM({self.model!r}) is used before bind(settings)")
        how = hashlib.sha256(f"{self.template}|{self.temperature}|{self.top_p}".encode()).hexdigest()[:8]
        return f"paraphrase_llm:{self.resolved.sha256[:12]}:{how}"

    def variants(self, fields: dict, n: int, seed: int) -> list[Variant]:
        [result] = self.variants_many([fields], n, seed)
        if isinstance(result, GeneratorError):
            raise result
        return result

    def variants_many(self, rows: list[dict], n: int, seed: int) -> list:
        """For every row, its candidates (or the GeneratorError that says why it has none): one batch."""
        from ..engines.base import GenerateRequest
        from ..runtime.predictor import standalone_predictor

        out: list = [None] * len(rows)
        wanted = []  # (row index, sample index, question)
        for i, fields in enumerate(rows):
            check_request(self.name, fields, n, seed)
            text = fields.get(self.field)
            if not isinstance(text, str) or not text.strip():
                out[i] = GeneratorError(f"no text in field {self.field!r} to paraphrase")
                continue
            wanted += [(i, k, text) for k in range(n)]
        if wanted:
            with standalone_predictor(self.resolved, self.settings) as (engine, predictor):
                requests = [GenerateRequest(engine.render(self.template.format(text=text), True),
                                            max_tokens=min(512, 16 + 2 * len(text.split())), stop=("\n\n",),
                                            temperature=self.temperature, top_p=self.top_p,
                                            seed=_seed(seed, rows[i], k)) for i, k, text in wanted]
                texts = [p.value for p in predictor.generate(requests)]
            for (i, k, original), raw in zip(wanted, texts):
                text = clean(raw)
                found = out[i] if isinstance(out[i], list) else []
                found.append(Variant(text, None, self.name, self.version, seed, {**rows[i], self.field: text},
                                     f"sample {k}", defect=defect(original, text)))
                out[i] = found
        return [o if o is not None else [] for o in out]


def clean(raw: str) -> str:
    """The rewording alone: no label, no quotes, the first paragraph."""
    text = _LABEL.sub("", str(raw).strip())
    text = text.split("\n\n")[0].strip().strip('"').strip()
    return text


def defect(original: str, text: str) -> str:
    """Why a rewording cannot stand for the original, beyond distance: empty, or its numbers changed
    (the answer is kept, so every quantity must be too)."""
    if not text:
        return "empty paraphrase"
    before, after = sorted(_NUMBER.findall(original)), sorted(_NUMBER.findall(text))
    if before != after:
        return f"numbers changed: {' '.join(before) or 'none'} -> {' '.join(after) or 'none'}"
    return ""


def _seed(seed: int, fields: dict, k: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{fields_hash(fields)}:{k}".encode()).digest()[:4], "big")
