"""Classification metrics without scikit-learn: accuracy, macro/weighted F1, per class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = ["ClassMetrics", "Metrics", "evaluate_predictions"]


@attrs.frozen
class ClassMetrics:
    """Precision, recall and F1 of one label."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@attrs.frozen
class Metrics:
    """How well predictions match the truth."""

    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: tuple[ClassMetrics, ...]
    confusions: tuple[tuple[str, str, int], ...]  # (true, predicted, count), most frequent first

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary (``accuracy``, ``macro_f1``, ``weighted_f1``, ``n`` …)."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "weighted_f1": round(self.weighted_f1, 4),
            "per_class": [attrs.asdict(c) for c in self.per_class],
            "confusions": [list(c) for c in self.confusions],
        }


def evaluate_predictions(truth: Sequence[str], predicted: Sequence[str]) -> Metrics:
    """Compare ``predicted`` with ``truth`` (same length)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels but {len(predicted)} predictions")
    if not truth:
        raise ValueError("nothing to evaluate")
    n = len(truth)
    support = Counter(truth)
    guessed = Counter(predicted)
    hits = Counter(t for t, p in zip(truth, predicted, strict=True) if t == p)
    per_class = []
    for label in sorted(support, key=lambda lab: (-support[lab], lab)):
        tp = hits[label]
        precision = tp / guessed[label] if guessed[label] else 0.0
        recall = tp / support[label]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassMetrics(label, precision, recall, f1, support[label]))
    macro = sum(c.f1 for c in per_class) / len(per_class)
    weighted = sum(c.f1 * c.support for c in per_class) / n
    wrong = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    return Metrics(
        n=n,
        accuracy=sum(hits.values()) / n,
        macro_f1=macro,
        weighted_f1=weighted,
        per_class=tuple(per_class),
        confusions=tuple((t, p, k) for (t, p), k in wrong.most_common(10)),
    )
