"""A linear text model that predicts with numpy alone and loads without pickle.

Features: each lemma as ``w:<lemma>`` plus the character 2–5-grams of every
lemma padded with spaces (they catch rare inflections, place-name stems and
typos). Weights: sublinear TF-IDF, L2-normalised — the same as
scikit-learn's ``TfidfVectorizer(sublinear_tf=True)`` with this analyzer, so
a model trained there predicts identically here.

Optionally a second block of features: the text's mean navec word vector
(:mod:`tsur.ml.embeddings`), weighed by ``embedding_coef``; such a model
names the vectors in ``meta["embeddings"]`` and needs
``pip install 'tsur[natasha]'`` to predict.

File format (``MODEL_FORMAT``, version ``MODEL_VERSION``): a NumPy ``.npz``
archive of plain arrays — ``labels``, ``features``, ``idf``, ``coef``,
``intercept``, and ``embedding_coef`` for a model with word vectors — and
``meta``, a JSON string (format, version, training parameters and figures).
Version 1 files (before word vectors) load unchanged. Loading uses
``allow_pickle=False``: a model file is data, never code.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from tsur.errors import ModelError
from tsur.ml.embeddings import NAVEC
from tsur.text.normalize import STOP_WORDS, Lemmatizer, Text, get_lemmatizer

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "Prediction",
    "TextModel",
    "text_features",
]

MODEL_FORMAT = "tsur-linear-text-model"
MODEL_VERSION = 2
#: Versions this tsur reads: 1 is version 2 without word vectors.
READABLE_VERSIONS = (1, 2)
_NGRAMS = (2, 3, 4, 5)


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with the ml extra
        raise ModelError("text models need numpy: pip install 'tsur[ml]'") from None
    return numpy


def text_features(lemmas: Iterable[str]) -> list[str]:
    """The feature strings of a lemmatised text (see the module docstring)."""
    out: list[str] = []
    for w in lemmas:
        if len(w) < 2 and not w.isdigit():
            continue
        if w not in STOP_WORDS:
            out.append("w:" + w)
        s = f" {w} "
        for n in _NGRAMS:
            out.extend(s[i : i + n] for i in range(len(s) - n + 1))
    return out


@attrs.frozen
class Prediction:
    """A model's answer for one text."""

    label: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]  # the next labels with their confidence
    evidence: tuple[str, ...]  # words that weighed most for ``label``


@attrs.define(eq=False)
class TextModel:
    """Labels, vocabulary, IDF weights and a linear decision function."""

    labels: tuple[str, ...]
    features: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray  # labels × features
    intercept: np.ndarray
    temperature: float = 1.0  # softmax temperature fitted on held-out scores
    meta: dict[str, Any] = attrs.field(factory=dict)
    #: labels × embedding dimensions, for a model with word vectors (else None)
    embedding_coef: np.ndarray | None = None
    _words: dict[int, str] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._words = {i: f[2:] for f, i in self.features.items() if f.startswith("w:")}

    # prediction -------------------------------------------------------------
    def vector(self, lemmas: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Indices and TF-IDF weights of a text's known features (L2-normalised)."""
        np = _numpy()
        counts = Counter(text_features(lemmas))
        idx, vals = [], []
        feats = self.features
        for f, c in counts.items():
            j = feats.get(f)
            if j is not None:
                idx.append(j)
                vals.append((1.0 + math.log(c)) * float(self.idf[j]))
        index = np.asarray(idx, dtype=np.int64)
        values = np.asarray(vals, dtype=np.float64)
        norm = float(np.sqrt((values**2).sum()))
        if norm > 0:
            values /= norm
        return index, values

    @property
    def uses_embeddings(self) -> bool:
        """True for a model that needs word vectors (``tsur[natasha]``) to predict."""
        return self.embedding_coef is not None

    def warm_up(self) -> None:
        """Load what prediction needs now (the word vectors) rather than on the first text.

        Raises :class:`ModelError` with the pip command when the model needs
        word vectors and ``tsur[natasha]`` is not installed.
        """
        if self.embedding_coef is not None:
            from tsur.ml.embeddings import navec

            navec()

    def _embedding_scores(self, texts_lemmas: Sequence[Sequence[str]]) -> np.ndarray | None:
        if self.embedding_coef is None:
            return None
        from tsur.ml.embeddings import embed

        result: np.ndarray = embed(texts_lemmas) @ self.embedding_coef.T
        return result

    def _sparse_scores(self, lemmas: Iterable[str]) -> np.ndarray:
        index, values = self.vector(lemmas)
        result: np.ndarray = self.coef[:, index] @ values + self.intercept
        return result

    def scores(self, lemmas: Sequence[str]) -> np.ndarray:
        """Decision scores of every label."""
        result = self._sparse_scores(lemmas)
        extra = self._embedding_scores([lemmas])
        if extra is not None:
            result = result + extra[0]
        return result

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Softmax of ``scores`` at the fitted temperature."""
        z = scores / self.temperature
        z = _numpy().exp(z - z.max())
        result: np.ndarray = z / z.sum()
        return result

    def predict_lemmas(self, lemmas: Sequence[str], *, top: int = 3) -> Prediction:
        """Predict from lemmas already computed (the engine's :class:`Text`)."""
        return self.predict_many_lemmas([lemmas], top=top)[0]

    def predict_many_lemmas(
        self, texts_lemmas: Sequence[Sequence[str]], *, top: int = 3
    ) -> list[Prediction]:
        """Predict a batch of lemmatised texts (word vectors looked up in one pass)."""
        extra = self._embedding_scores(texts_lemmas)
        return [
            self._predict_one(lemmas, None if extra is None else extra[i], top)
            for i, lemmas in enumerate(texts_lemmas)
        ]

    def _predict_one(self, lemmas: Sequence[str], extra: np.ndarray | None, top: int) -> Prediction:
        np = _numpy()
        index, values = self.vector(lemmas)
        scores = self.coef[:, index] @ values + self.intercept
        if extra is not None:
            scores = scores + extra
        probs = self.probabilities(scores)
        order = np.argsort(-probs)
        best = int(order[0])
        contrib = self.coef[best, index] * values
        words = [
            (float(c), self._words[int(j)])
            for j, c in zip(index, contrib, strict=True)
            if int(j) in self._words and c > 0
        ]
        evidence = [w for _, w in sorted(words, reverse=True)[:5]]
        return Prediction(
            label=self.labels[best],
            confidence=round(float(probs[best]), 4),
            alternatives=tuple(
                (self.labels[int(k)], round(float(probs[int(k)]), 4)) for k in order[1:top]
            ),
            evidence=tuple(evidence),
        )

    def predict(
        self, texts: Iterable[str | Text], *, lemmatizer: Lemmatizer | None = None
    ) -> list[Prediction]:
        """Predict raw texts (lemmatised here) or :class:`Text` objects."""
        lem = lemmatizer or get_lemmatizer()
        lemmas = [(t if isinstance(t, Text) else Text.from_raw(t, lem)).lemmas for t in texts]
        return self.predict_many_lemmas(lemmas)

    # deciding alone ----------------------------------------------------------
    def threshold_for(self, label: str) -> float | None:
        """The confidence at which this model's ``label`` is right 19 times in 20.

        Fitted on held-out predictions when the model was trained (see
        :func:`tsur.ml.train.train_model`): the label's own threshold where
        there was enough data, else the model's. ``math.inf`` when that
        precision was never reached; None for a model trained without
        calibration (no opinion: the region's ``min_confidence`` applies).
        """
        if "target_precision" not in self.meta:
            return None
        per_class = self.meta.get("class_thresholds") or {}
        value = per_class[label] if label in per_class else self.meta.get("auto_threshold")
        return math.inf if value is None else float(value)

    def decides_alone(self, prediction: Prediction) -> bool:
        """True when ``prediction`` is confident enough to act on without a person."""
        threshold = self.threshold_for(prediction.label)
        return threshold is not None and prediction.confidence >= threshold

    # persistence -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model as a ``.npz`` archive of plain arrays; returns the path written."""
        np = _numpy()
        p = Path(path)
        names = sorted(self.features, key=self.features.__getitem__)
        meta = {
            **self.meta,
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "temperature": self.temperature,
        }
        arrays = {
            "labels": np.asarray(self.labels, dtype=str),
            "features": np.asarray(names, dtype=str),
            "idf": self.idf.astype(np.float32),
            "coef": self.coef.astype(np.float32),
            "intercept": self.intercept.astype(np.float32),
            "meta": np.asarray(json.dumps(meta, ensure_ascii=False)),
        }
        if self.embedding_coef is not None:
            arrays["embedding_coef"] = self.embedding_coef.astype(np.float32)
        with p.open("wb") as f:
            np.savez_compressed(f, **arrays)
        return p

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        """Read a model written by :meth:`save`; :class:`ModelError` if it is not one."""
        np = _numpy()
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except FileNotFoundError:
            raise ModelError(f"model file {p} not found") from None
        except (OSError, ValueError, EOFError) as exc:
            raise ModelError(f"{p} is not a tsur model file: {exc}") from exc
        missing = {"labels", "features", "idf", "coef", "intercept", "meta"} - set(arrays)
        if missing:
            raise ModelError(f"{p} is not a tsur model file (missing {', '.join(sorted(missing))})")
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise ModelError(f"{p}: damaged model metadata: {exc}") from exc
        if meta.get("format") != MODEL_FORMAT:
            raise ModelError(f"{p}: format {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
        if meta.get("version") not in READABLE_VERSIONS:
            raise ModelError(
                f"{p}: model version {meta.get('version')}, this tsur reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}; train it again"
            )
        labels = tuple(str(x) for x in arrays["labels"].tolist())
        names = [str(x) for x in arrays["features"].tolist()]
        coef = arrays["coef"].astype(np.float64)
        if coef.shape != (len(labels), len(names)):
            raise ModelError(
                f"{p}: damaged model (weights {coef.shape} for "
                f"{len(labels)} labels × {len(names)} features)"
            )
        emb = arrays.get("embedding_coef")
        if (emb is None) != (meta.get("embeddings") is None) or (
            emb is not None and emb.shape[0] != len(labels)
        ):
            raise ModelError(f"{p}: damaged model (word-vector weights and metadata disagree)")
        if emb is not None and meta["embeddings"] != NAVEC:
            raise ModelError(
                f"{p}: trained with word vectors {meta['embeddings']!r}; this tsur has {NAVEC!r}"
            )
        return cls(
            labels=labels,
            features={f: i for i, f in enumerate(names)},
            idf=arrays["idf"].astype(np.float64),
            coef=coef,
            intercept=arrays["intercept"].astype(np.float64),
            temperature=float(meta.get("temperature", 1.0)),
            meta=meta,
            embedding_coef=None if emb is None else emb.astype(np.float64),
        )

    def describe(self) -> Mapping[str, Any]:
        """What the model is: labels, size and how it was trained."""
        return {"labels": len(self.labels), "features": len(self.features), **self.meta}
