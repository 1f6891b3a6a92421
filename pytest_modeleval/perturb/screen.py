"""Which candidate variants are kept: semantic distance to the original inside a window.

The spec's windows (cosine distance of MiniLM embeddings): 0.15-0.45 by default, 0.15-0.30 for
factual QA, 0.20-0.50 for reasoning. Too close, and a paraphrase is a near-copy the model may
have memorized; too far, and it may be a different question.

The lower bound is for rewordings. A numeric re-instantiation, a name swap or an option shuffle
keeps the wording on purpose and changes what the answer is (or where it sits): measured on
GSM8K such variants lie at 0.01-0.05, so the lower bound would reject every one. For those
"surface" generators only the upper bound applies, and their answers are recomputed instead.
Rejected candidates are kept with their distance and reason, so a window can be audited.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOWS = {"default": (0.15, 0.45), "factual": (0.15, 0.30), "reasoning": (0.20, 0.50)}


@dataclass(frozen=True)
class Screened:
    variant: object  # perturb.variant.Variant
    distance: float
    accepted: bool
    reason: str  # "" when accepted


def window(spec) -> tuple[float, float]:
    """A window given by name ("default", "factual", "reasoning") or as (low, high)."""
    if isinstance(spec, str):
        if spec not in WINDOWS:
            raise ValueError(f"unknown distance window {spec!r}: use one of {', '.join(WINDOWS)} or (low, high)")
        return WINDOWS[spec]
    try:
        low, high = (float(v) for v in spec)
    except (TypeError, ValueError):
        raise ValueError(f"a distance window is a name or (low, high), got {spec!r}") from None
    if not 0 <= low < high <= 2:
        raise ValueError(f"a distance window needs 0 <= low < high <= 2, got ({low}, {high})")
    return low, high


def screen(original: str, variants: list, distances: list[float], bounds: tuple[float, float],
           surface: bool) -> list[Screened]:
    """Keep the variants whose distance lies in `bounds` (only under the upper bound for surface edits)."""
    low, high = bounds
    out = []
    for variant, d in zip(variants, distances):
        if getattr(variant, "defect", ""):
            out.append(Screened(variant, d, False, variant.defect))
        elif d > high:
            out.append(Screened(variant, d, False, f"distance {d:.3f} above {high:g}: may be another question"))
        elif not surface and d < low:
            out.append(Screened(variant, d, False, f"distance {d:.3f} below {low:g}: a near-copy"))
        elif variant.text == original:
            out.append(Screened(variant, d, False, "identical to the original"))
        else:
            out.append(Screened(variant, d, True, ""))
    return out
