"""Classification metrics without scikit-learn: accuracy, macro/weighted F1, per class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = [
    "TARGET_PRECISION",
    "ClassMetrics",
    "Metrics",
    "auto_curve",
    "auto_threshold",
    "evaluate_predictions",
]

#: The precision an automatic decision must keep: right 19 times out of 20.
TARGET_PRECISION = 0.95
#: Fewer predictions than this cannot show a precision (none is fitted).
MIN_SUPPORT = 20


def auto_threshold(
    confidences: Sequence[float],
    correct: Sequence[bool],
    target: float = TARGET_PRECISION,
    *,
    min_support: int = MIN_SUPPORT,
) -> float | None:
    """The lowest confidence at which the predictions at or above it are ``target`` precise.

    Predictions are taken best first, cut only between distinct
    confidences; the widest cut whose precision is at least ``target`` (and
    that holds at least ``min_support`` predictions) gives the threshold.
    None when no such cut exists: nothing may be decided without a person.
    """
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences but {len(correct)} outcomes")
    pairs = sorted(zip(confidences, correct, strict=True), key=lambda p: -p[0])
    best: float | None = None
    right = 0
    for k, (conf, ok) in enumerate(pairs, 1):
        right += ok
        if k < len(pairs) and pairs[k][0] == conf:
            continue  # a cut inside equal confidences cannot be made
        if k >= min_support and right / k >= target:
            best = conf
    return best


def auto_curve(
    confidences: Sequence[float],
    correct: Sequence[bool],
    targets: Sequence[float] = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.99),
) -> list[dict[str, float | None]]:
    """For each target precision: the threshold and the share of predictions above it."""
    out: list[dict[str, float | None]] = []
    n = len(confidences)
    for target in targets:
        t = auto_threshold(confidences, correct, target)
        above = [ok for c, ok in zip(confidences, correct, strict=True) if t is not None and c >= t]
        out.append(
            {
                "target": target,
                "threshold": t,
                "share": round(len(above) / n, 4) if n else 0.0,
                "precision": round(sum(above) / len(above), 4) if above else None,
            }
        )
    return out


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
    #: precision of the predictions decided without a person (at or above their threshold)
    auto_precision: float | None = None
    #: their share of all predictions
    auto_share: float | None = None
    #: share decided without a person at each target precision (see :func:`auto_curve`)
    auto_curve: tuple[dict[str, float | None], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary (``accuracy``, ``macro_f1``, ``weighted_f1``, ``n``,
        ``auto_precision``, ``auto_share`` …)."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "weighted_f1": round(self.weighted_f1, 4),
            "auto_precision": _round(self.auto_precision),
            "auto_share": _round(self.auto_share),
            "auto_curve": list(self.auto_curve),
            "per_class": [attrs.asdict(c) for c in self.per_class],
            "confusions": [list(c) for c in self.confusions],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate_predictions(
    truth: Sequence[str],
    predicted: Sequence[str],
    *,
    auto: Sequence[bool] | None = None,
    confidences: Sequence[float] | None = None,
) -> Metrics:
    """Compare ``predicted`` with ``truth`` (same length).

    ``auto`` marks the predictions that would be acted on without a person
    (their confidence at or above the model's threshold); with it the
    metrics include ``auto_precision`` and ``auto_share``. With
    ``confidences`` they include the curve of share against precision.
    """
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
    auto_precision = auto_share = None
    if auto is not None:
        if len(auto) != n:
            raise ValueError(f"{n} labels but {len(auto)} automatic marks")
        decided = [t == p for t, p, a in zip(truth, predicted, auto, strict=True) if a]
        auto_share = len(decided) / n
        auto_precision = sum(decided) / len(decided) if decided else None
    return Metrics(
        n=n,
        accuracy=sum(hits.values()) / n,
        macro_f1=macro,
        weighted_f1=weighted,
        per_class=tuple(per_class),
        confusions=tuple((t, p, k) for (t, p), k in wrong.most_common(10)),
        auto_precision=auto_precision,
        auto_share=auto_share,
        auto_curve=(
            tuple(auto_curve(confidences, [t == p for t, p in zip(truth, predicted, strict=True)]))
            if confidences is not None
            else ()
        ),
    )
