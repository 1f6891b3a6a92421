"""How far to trust a refusal classifier: its agreement with XSTest's human labels.

XSTest publishes completions of its 450 prompts by several models, each labelled by two people
(`final_label`: 1_full_compliance, 2_full_refusal, 3_partial_refusal). A refusal gate at 99% or
an over-refusal gate at 5% is only as good as the classifier that counts refusals, so this
reports Cohen's kappa on the three classes and on the binary view the gates use (refusal = full
or partial), and both refusal rates: a classifier can agree often and still move the rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..items import DataError, load_rows
from ..stats.agreement import cohen_kappa
from ..stats.results import Estimate
from .classify import LABELS, RefusalClassifier, is_refusal
from .rows import row_lines

COLUMNS = ("id", "type", "prompt", "completion", "final_label")


@dataclass(frozen=True)
class LabelledCompletion:
    where: str  # FILE:LINE
    id: str
    type: str  # XSTest's prompt type, e.g. homonyms, contrast_homonyms
    prompt: str
    completion: str
    label: str  # one of classify.LABELS, the people's final label


@dataclass(frozen=True)
class ClassifierValidation:
    classifier: str
    n: int
    agreement: float  # three classes
    kappa: Estimate | None  # None when undefined (both raters gave one label to everything)
    binary_agreement: float  # refusal (full or partial) vs compliance
    binary_kappa: Estimate | None
    human_refusal_rate: float
    predicted_refusal_rate: float
    confusion: dict[str, int]  # "human->predicted" -> count


ERROR = "error"


def xstest_completions(path: str | Path) -> list[LabelledCompletion]:
    """Read an XSTest completions_*.csv; labels normalised to classify.LABELS."""
    path = Path(path).expanduser().absolute()
    rows, _ = load_rows(path, base_dir=path.parent)
    out = []
    for line, row in zip(row_lines(path), rows):
        at = f"{path}:{line}"
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise DataError(f"{at}: missing field(s) {', '.join(missing)}; the row has {', '.join(row) or 'none'}")
        out.append(LabelledCompletion(at, str(row["id"]), str(row["type"]), str(row["prompt"]),
                                      str(row["completion"]), _label(row["final_label"], at)))
    return out


def validate_classifier(classifier: RefusalClassifier, rows: Sequence[LabelledCompletion]) -> ClassifierValidation:
    """Classify every completion and compare with the people's labels."""
    predicted = [classifier.classify(r.prompt, r.completion) for r in rows]
    for label, row in zip(predicted, rows):
        if label not in LABELS:
            raise ValueError(f"{classifier.name} gave {label!r} for {row.where}; expected one of {', '.join(LABELS)}")
    return compare(classifier.name, rows, predicted)


def compare(name: str, rows: Sequence[LabelledCompletion], predicted: list[str]) -> ClassifierValidation:
    """A classifier's labels against the people's. ERROR (a judge that never answered readably) is a class
    of its own in both views, so it always counts as a disagreement."""
    if not rows:
        raise ValueError("a classifier validation needs at least one labelled completion")
    human = [r.label for r in rows]

    def refused(label):
        return ERROR if label == ERROR else is_refusal(label)

    human_refused = [is_refusal(label) for label in human]
    predicted_refused = [refused(label) for label in predicted]
    n = len(rows)
    return ClassifierValidation(
        classifier=name, n=n,
        agreement=_agreement(human, predicted), kappa=_kappa(human, predicted),
        binary_agreement=_agreement(human_refused, predicted_refused),
        binary_kappa=_kappa(human_refused, predicted_refused),
        human_refusal_rate=sum(human_refused) / n,
        predicted_refusal_rate=sum(v is True for v in predicted_refused) / n,
        confusion=dict(sorted(Counter(f"{h}->{p}" for h, p in zip(human, predicted)).items())),
    )


def _agreement(a: list, b: list) -> float:
    return sum(x == y for x, y in zip(a, b)) / len(a)


def _kappa(a: list, b: list) -> Estimate | None:
    try:
        return cohen_kappa(a, b)
    except ValueError:  # undefined: one label for every item from both raters
        return None


def _label(raw, at: str) -> str:
    """'2_full_refusal', 'full_refusal' or '2' -> 'full_refusal'."""
    text = str(raw).strip().lower()
    for number, label in enumerate(LABELS, 1):
        if text in (label, str(number), f"{number}_{label}"):
            return label
    raise DataError(f"{at}: final_label {raw!r} is not one of "
                    f"{', '.join(f'{i}_{label}' for i, label in enumerate(LABELS, 1))}")
