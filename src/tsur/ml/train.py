"""Training and cross-validation of :class:`~tsur.ml.model.TextModel` (needs scikit-learn)."""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from tsur.errors import ModelError
from tsur.ml.embeddings import NAVEC, available, embed
from tsur.ml.metrics import (
    MIN_SUPPORT,
    TARGET_PRECISION,
    Metrics,
    auto_threshold,
    evaluate_predictions,
)
from tsur.ml.model import TextModel, text_features
from tsur.text.normalize import Lemmatizer, Text, get_lemmatizer

__all__ = [
    "CLASS_WEIGHTS",
    "MIN_CALIBRATION_ROWS",
    "cross_validate",
    "lemmatize_all",
    "train_model",
]

#: How rare labels are weighted: "none" (accuracy on frequent labels),
#: "balanced" (every label counts equally), "sqrt" (the square root of
#: "balanced": a compromise, the default).
CLASS_WEIGHTS = ("sqrt", "balanced", "none")

Progress = Callable[[str, int, int], None]

logger = logging.getLogger(__name__)

#: The fewest rows on which :func:`train_model` calibrates (fits the confidence temperature
#: and the thresholds for deciding alone); a model trained on fewer is not calibrated.
MIN_CALIBRATION_ROWS = 60

#: The held-out score of a label its fold's model never saw (see ``_held_out_scores``).
_ABSENT = -1e3


def _sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC
    except ImportError:
        raise ModelError("training needs scikit-learn: pip install 'tsur[ml]'") from None
    return TfidfVectorizer, LinearSVC


def lemmatize_all(
    texts: Sequence[str], lemmatizer: Lemmatizer | None = None, progress: Progress | None = None
) -> list[tuple[str, ...]]:
    """Lemmas of every text, reporting progress every 200 texts."""
    lem = lemmatizer or get_lemmatizer()
    out = []
    for i, t in enumerate(texts, 1):
        out.append(Text.from_raw(t, lem).lemmas)
        if progress and (i % 200 == 0 or i == len(texts)):
            progress("lemmatise", i, len(texts))
    return out


def _weights(y: Sequence[int], k: int, mode: str) -> dict[int, float] | None:
    if mode == "none":
        return None
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class weight {mode!r}: choose one of {', '.join(CLASS_WEIGHTS)}")
    counts = Counter(y)
    n = len(y)
    power = 1.0 if mode == "balanced" else 0.5
    return {c: (n / (k * counts[c])) ** power for c in counts}


def _fit(
    lemmas: Sequence[Sequence[str]],
    labels: Sequence[str],
    *,
    c: float,
    class_weight: str,
    max_features: int,
    min_df: int,
    vectors: Any = None,
    embedding_weight: float = 0.0,
    notes: list[str] | None = None,
) -> tuple[Any, Any, tuple[str, ...]]:
    """Fit the vectoriser and the SVM; scikit-learn's warnings go to ``notes``, not the caller.

    On tiny data scikit-learn warns («the number of unique classes is
    greater than 50% of the number of samples», a failed convergence): each
    becomes a plain sentence in ``notes`` when given (the caller reports
    them), else a log record.
    """
    tfidf_cls, svc_cls = _sklearn()
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise ModelError(f"need at least two labels to train, got {classes}")
    index = {lab: i for i, lab in enumerate(classes)}
    y = [index[lab] for lab in labels]
    import numpy as np

    vec = tfidf_cls(
        analyzer=text_features,
        sublinear_tf=True,
        min_df=min_df,
        max_features=max_features,
        dtype=np.float64,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            x = vec.fit_transform(lemmas)
        except ValueError as exc:  # no feature left: empty texts, or each word in one text only
            raise ModelError(
                f"too little text to train on: no word or character n-gram occurs in {min_df} "
                f"of the {len(lemmas)} texts ({exc})"
            ) from None
        if vectors is not None:
            from scipy.sparse import csr_matrix, hstack

            x = hstack([x, csr_matrix(vectors * embedding_weight)]).tocsr()
        clf = svc_cls(C=c, class_weight=_weights(y, len(classes), class_weight), random_state=0)
        clf.fit(x, y)
    for w in caught:
        if not issubclass(w.category, UserWarning):  # not ours to judge: pass it on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    said = sorted(
        {
            _plain(w.message, len(y), len(classes))
            for w in caught
            if issubclass(w.category, UserWarning)
        }
    )
    for note in said:
        if notes is None:
            logger.warning("training: %s", note)
        elif note not in notes:
            notes.append(note)
    return vec, clf, classes


def _plain(message: Warning | str, rows: int, labels: int) -> str:
    """A scikit-learn warning on training data, said plainly."""
    text = str(message)
    if "unique classes" in text:
        return "more than half as many labels as rows: too few examples per label to learn them"
    if "converge" in text:
        return "the SVM did not converge (too few or too similar texts; try a smaller --c)"
    return f"scikit-learn: {text}"


def _to_model(
    vec: Any,
    clf: Any,
    classes: tuple[str, ...],
    meta: dict[str, Any],
    embedding_weight: float = 0.0,
) -> TextModel:
    import numpy as np

    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if len(classes) == 2:  # a binary SVM has one weight row: score(label 1) = -score(label 0)
        coef = np.vstack([-coef[0], coef[0]]) / 2
        intercept = np.asarray([-intercept[0], intercept[0]]) / 2
    n = len(vec.vocabulary_)
    emb = None
    if coef.shape[1] > n:  # the word-vector block: its weight folded into its coefficients
        emb = coef[:, n:] * embedding_weight
        coef = coef[:, :n]
        meta = {**meta, "embeddings": NAVEC, "embedding_weight": embedding_weight}
    return TextModel(
        labels=classes,
        features={str(f): int(i) for f, i in vec.vocabulary_.items()},
        idf=np.asarray(vec.idf_, dtype=np.float64),
        coef=coef,
        intercept=intercept,
        meta=meta,
        embedding_coef=emb,
    )


def _fit_temperature(scores: Any, truth: Sequence[int]) -> float:
    """The softmax temperature that minimises log-loss of held-out scores."""
    import numpy as np

    s = np.asarray(scores)
    t_idx = np.asarray(truth)
    best, best_loss = 1.0, math.inf
    for t in np.geomspace(0.02, 2.0, 40):
        z = s / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-logp[np.arange(len(t_idx)), t_idx].mean())
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def _folds(labels: Sequence[str], k: int, seed: int) -> list[list[int]]:
    """Stratified folds: each label's rows dealt round-robin after a seeded shuffle."""
    import random

    rnd = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for lab in sorted(by_label):
        rows = by_label[lab]
        rnd.shuffle(rows)
        for j, i in enumerate(rows):
            folds[(j + offset) % k].append(i)
        offset += len(rows)
    return folds


def train_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    c: float = 0.5,
    class_weight: str = "sqrt",
    max_features: int = 100_000,
    min_df: int = 2,
    calibrate: bool = True,
    calibration_folds: int = 3,
    embeddings: bool | None = None,
    embedding_weight: float = 0.5,
    lemmas: Sequence[Sequence[str]] | None = None,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
) -> TextModel:
    """Train a model on ``texts`` and their ``labels``.

    With ``calibrate`` the softmax temperature (which turns scores into the
    confidence the engine compares with ``pipeline.min_confidence``) and the
    thresholds for deciding alone are fitted on held-out scores of
    ``calibration_folds``-fold cross-validation inside ``texts`` (with at
    least :data:`MIN_CALIBRATION_ROWS` texts; fewer are not calibrated).
    ``meta`` then holds ``held_out_auto_share`` and ``held_out_auto_precision``:
    what those thresholds let the model decide alone on the held-out texts.
    scikit-learn's warnings on tiny data are not raised but said plainly
    in ``meta["fit_warnings"]`` and logged.

    ``embeddings`` adds each text's mean navec word vector, scaled by
    ``embedding_weight``, to its features (see :mod:`tsur.ml.embeddings`):
    True needs ``tsur[natasha]`` (:class:`ModelError` without it), False
    never, None (the default) whenever ``natasha`` is installed. A model
    trained with them needs ``tsur[natasha]`` to predict as well.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if calibrate and calibration_folds < 2:
        raise ValueError(f"calibration needs at least 2 folds, got {calibration_folds}")
    lemmas = list(lemmas) if lemmas is not None else lemmatize_all(texts, progress=progress)
    use_vectors = available() if embeddings is None else embeddings
    if use_vectors and embedding_weight <= 0:
        raise ValueError(f"embedding weight must be positive, got {embedding_weight}")
    vectors = embed(lemmas) if use_vectors else None
    params: dict[str, Any] = {
        "c": c,
        "class_weight": class_weight,
        "max_features": max_features,
        "min_df": min_df,
    }
    weight = embedding_weight if use_vectors else 0.0
    notes: list[str] = []
    vec, clf, classes = _fit(
        lemmas, labels, **params, vectors=vectors, embedding_weight=weight, notes=notes
    )
    if progress:
        progress("train", 1, 1)
    model = _to_model(
        vec,
        clf,
        classes,
        {
            **(meta or {}),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "n": len(texts),
            "label_counts": dict(Counter(labels).most_common()),
            "params": params,
        },
        weight,
    )
    if calibrate and len(texts) >= MIN_CALIBRATION_ROWS:
        scores, truth = _held_out_scores(
            lemmas, labels, classes, params, calibration_folds, vectors, weight, notes
        )
        seen = [(s, t) for s, t in zip(scores, truth, strict=True) if s[t] > _ABSENT]
        model.temperature = _fit_temperature([s for s, _ in seen], [t for _, t in seen])
        model.meta.update(_thresholds(model, scores, truth))
        model.meta["calibration_folds"] = calibration_folds
        model.meta["calibration_n"] = len(scores)
        if progress:
            progress("calibrate", 1, 1)
    model.meta["temperature"] = model.temperature
    if notes:
        model.meta["fit_warnings"] = notes
        for note in notes:
            logger.info("training: %s", note)
    return model


def _held_out_scores(
    lemmas: Sequence[Sequence[str]],
    labels: Sequence[str],
    classes: tuple[str, ...],
    params: dict[str, Any],
    k: int,
    vectors: Any = None,
    embedding_weight: float = 0.0,
    notes: list[str] | None = None,
) -> tuple[list[Any], list[int]]:
    """Scores of every label for each text, from a model trained on the other folds.

    A label absent from a fold's training part (a rare one) gets a score far
    below the others there: that model cannot predict it, which is what
    the held-out figures must show.
    """
    import numpy as np

    index = {lab: i for i, lab in enumerate(classes)}
    scores: list[Any] = []
    truth: list[int] = []
    for fold in _folds(labels, k, seed=7):
        held = set(fold)
        train_idx = [i for i in range(len(labels)) if i not in held]
        if len({labels[i] for i in train_idx}) < 2:
            continue
        v, cl, cs = _fit(
            [lemmas[i] for i in train_idx],
            [labels[i] for i in train_idx],
            **params,
            vectors=None if vectors is None else vectors[train_idx],
            embedding_weight=embedding_weight,
            notes=notes,
        )
        fold_model = _to_model(v, cl, cs, {}, embedding_weight)
        cols = np.asarray([index[c] for c in cs])
        for i in fold:
            row = np.full(len(classes), _ABSENT)
            s = fold_model._sparse_scores(lemmas[i])
            if vectors is not None and fold_model.embedding_coef is not None:
                s = s + fold_model.embedding_coef @ vectors[i]
            row[cols] = s
            scores.append(row)
            truth.append(index[labels[i]])
    return scores, truth


def _thresholds(model: TextModel, scores: Sequence[Any], truth: Sequence[int]) -> dict[str, Any]:
    """Where the model may decide alone, from held-out scores at its fitted temperature.

    ``auto_threshold`` keeps :data:`TARGET_PRECISION` over all its held-out
    predictions; ``class_thresholds`` do it for each predicted label that
    has enough predictions to tell (the others use ``auto_threshold``).
    None as a threshold: that precision is never reached, never alone.
    """
    predicted, confidences = [], []
    for s in scores:
        probs = model.probabilities(s)
        best = int(probs.argmax())
        predicted.append(best)
        confidences.append(round(float(probs[best]), 4))  # as a prediction states it
    correct = [p == t for p, t in zip(predicted, truth, strict=True)]
    per_class: dict[str, float | None] = {}
    for k, label in enumerate(model.labels):
        rows = [i for i, p in enumerate(predicted) if p == k]
        if len(rows) >= MIN_SUPPORT:
            per_class[label] = auto_threshold(
                [confidences[i] for i in rows], [correct[i] for i in rows]
            )
    overall = auto_threshold(confidences, correct)
    alone = [
        i
        for i, p in enumerate(predicted)
        if (t := per_class.get(model.labels[p], overall)) is not None and confidences[i] >= t
    ]
    return {
        "target_precision": TARGET_PRECISION,
        "auto_threshold": overall,
        "class_thresholds": per_class,
        # what the thresholds let the model decide alone on the held-out texts
        "held_out_auto_share": round(len(alone) / len(predicted), 4) if predicted else 0.0,
        "held_out_auto_precision": (
            round(sum(correct[i] for i in alone) / len(alone), 4) if alone else None
        ),
    }


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    k: int = 5,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    **train_kw: Any,
) -> tuple[Metrics, list[str]]:
    """K-fold cross-validation of the default model; metrics over out-of-fold predictions.

    Each fold's model is calibrated on its own training part (its
    confidence temperature and its thresholds), so ``auto_precision`` and
    ``auto_share`` say what that model would decide alone on texts it never
    saw.
    """
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(texts) < k:
        raise ValueError(f"{len(texts)} rows are too few for {k} folds")
    lemmas = lemmatize_all(texts, progress=progress)
    predicted: list[str] = [""] * len(texts)
    confidence = [0.0] * len(texts)
    auto = [False] * len(texts)
    for f, fold in enumerate(_folds(labels, k, seed), 1):
        held = set(fold)
        train_idx = [i for i in range(len(texts)) if i not in held]
        model = train_model(
            [texts[i] for i in train_idx],
            [labels[i] for i in train_idx],
            lemmas=[lemmas[i] for i in train_idx],
            **train_kw,
        )
        for i in fold:
            p = model.predict_lemmas(lemmas[i])
            predicted[i], confidence[i] = p.label, p.confidence
            auto[i] = model.decides_alone(p)
        if progress:
            progress("fold", f, k)
    metrics = evaluate_predictions(labels, predicted, auto=auto, confidences=confidence)
    return metrics, predicted
