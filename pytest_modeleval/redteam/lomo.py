"""Leave-one-model-out validation of the learned refusal classifier, beside the string match.

Each completions file is one model's answers. For each file, a head trained on the other files
labels it, and its agreement with the people's labels is compared with the string match's on the
same rows. The targets (issue 20): beat the string match on every held-out file, and a mean
held-out refused-or-not kappa of at least 0.80. The rates are shown too: the gates read rates.
"""

from __future__ import annotations

from dataclasses import dataclass

from .classify import FULL_COMPLIANCE, FULL_REFUSAL, StringMatch
from .validate import ClassifierValidation, compare

MIN_MEAN_KAPPA = 0.80


@dataclass(frozen=True)
class HeldOut:
    name: str  # the file's name
    learned: ClassifierValidation
    string: ClassifierValidation

    @property
    def beats_string(self) -> bool:
        return kappa_value(self.learned) > kappa_value(self.string)


@dataclass(frozen=True)
class Report:
    files: list[HeldOut]

    @property
    def mean_kappa(self) -> float:
        return sum(kappa_value(f.learned) for f in self.files) / len(self.files)

    @property
    def mean_string_kappa(self) -> float:
        return sum(kappa_value(f.string) for f in self.files) / len(self.files)

    @property
    def targets_met(self) -> bool:
        return all(f.beats_string for f in self.files) and self.mean_kappa >= MIN_MEAN_KAPPA

    def lines(self) -> list[str]:
        out = ["classifier learned, leave one model out: each file labelled by a head trained on the other files",
               "| held-out completions | n | refused-or-not kappa: learned | string-match | "
               "refusal rate: people / learned / string-match | beats string-match |",
               "|---|---|---|---|---|---|"]
        for f in self.files:
            out.append(f"| {f.name} | {f.learned.n} | {_k(f.learned)} | {_k(f.string)} | "
                       f"{100 * f.learned.human_refusal_rate:.1f}% / {100 * f.learned.predicted_refusal_rate:.1f}% / "
                       f"{100 * f.string.predicted_refusal_rate:.1f}% | {'yes' if f.beats_string else 'no'} |")
        met = "met" if self.targets_met else "NOT met"
        out.append(f"mean held-out kappa: learned {self.mean_kappa:.3f}, string-match {self.mean_string_kappa:.3f}; "
                   f"targets (beat string-match on every file, mean >= {MIN_MEAN_KAPPA:.2f}): {met}")
        return out


def validate(sets) -> Report:
    """`sets`: learned.LabelledSet per file (two or more)."""
    from .learned import leave_one_out, set_features

    if len(sets) < 2:
        raise ValueError("leave-one-model-out validation needs two completions files or more")
    X, y, group = set_features(sets)
    matcher = StringMatch()
    files = []
    for s, predicted in zip(sets, leave_one_out(X, y, group)):
        labels = [FULL_REFUSAL if p else FULL_COMPLIANCE for p in predicted]
        files.append(HeldOut(s.name, compare("learned (held out)", s.rows, labels),
                             compare(matcher.name, s.rows, [matcher.classify(r.prompt, r.completion) for r in s.rows])))
    return Report(files)


def kappa_of(counts: dict) -> str:
    """Refused-or-not kappa from a weights file's held-out confusion counts."""
    from ..stats.agreement import cohen_kappa

    human = [1] * counts["tp"] + [1] * counts["fn"] + [0] * counts["tn"] + [0] * counts["fp"]
    predicted = [1] * counts["tp"] + [0] * counts["fn"] + [0] * counts["tn"] + [1] * counts["fp"]
    return f"{cohen_kappa(human, predicted).value:.3f}"


def kappa_value(v: ClassifierValidation) -> float:
    return v.binary_kappa.value if v.binary_kappa else float("-inf")


def _k(v: ClassifierValidation) -> str:
    e = v.binary_kappa
    return "undefined" if e is None else f"{e.value:.3f} ({e.lo:.3f} to {e.hi:.3f})"
