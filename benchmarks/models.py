"""Model variants compared on the Kursk appeals: held-out figures and cross-validation.

    python benchmarks/models.py [--targets group,executor,topic] [--variants a,b] [--folds 5]

For each variant and each target (``group`` = Категория, ``executor`` =
Ответственное лицо, ``topic`` = Тематика) two measurements:

* ``cv``: K-fold cross-validation on the development part (1,585 appeals,
  see ``benchmarks/kursk.py``) — the only figures anything is tuned on;
* ``frozen``: trained on all of development, predicted once on the frozen
  fifth (415 appeals) — the "Kursk held-out" figures.

Every variant is calibrated the way :func:`tsur.ml.train_model` calibrates
a model: the softmax temperature of each component and the thresholds for
95% precision (per predicted label with at least 20 held-out predictions,
else global) come from out-of-fold scores *inside the training part only*.
So ``auto_share`` / ``auto_precision`` say what the variant would decide
alone on texts it never saw; ``auto_curve`` gives the share for other
precision targets (thresholds fitted on the evaluated predictions
themselves: an upper bound of what could be had, not a promise).

The ``product`` variant trains with :func:`tsur.ml.train_model` and predicts
with :class:`tsur.ml.TextModel` exactly as the engine does, and measures the
prediction throughput (texts/s) from lemmas and from raw text (lemmatiser and
word-vector caches warm, as in a running engine). The last line
printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kursk import KURSK_CSV, Appeal, split

from tsur.ml.metrics import (
    MIN_SUPPORT,
    auto_threshold,
    evaluate_predictions,
)
from tsur.ml.model import text_features
from tsur.ml.train import _fit_temperature, _folds, lemmatize_all, train_model
from tsur.text.normalize import STOP_WORDS, Text, get_lemmatizer

TARGETS = {"group": "group", "executor": "executor", "topic": "topic"}
Rows = Sequence[int]
#: predictions a label needs for a threshold of its own (``--class-support``)
CLASS_SUPPORT = [MIN_SUPPORT]


# features -------------------------------------------------------------------
class Data:
    """Every appeal's lemmas and feature strings, computed once."""

    def __init__(self, appeals: Sequence[Appeal]) -> None:
        self.appeals = list(appeals)
        self.lemmas = lemmatize_all([a.text for a in appeals])
        self.feats = [text_features(lem) for lem in self.lemmas]
        self._emb: np.ndarray | None = None

    def labels(self, target: str) -> list[str]:
        return [getattr(a, TARGETS[target]) for a in self.appeals]

    def embeddings(self) -> np.ndarray:
        """Per text: the mean navec vector of its content lemmas (unit length)."""
        if self._emb is None:
            from natasha import NewsEmbedding

            emb = NewsEmbedding()
            out = np.zeros((len(self.lemmas), 300))
            for i, lem in enumerate(self.lemmas):
                vs = [emb[w] for w in lem if w not in STOP_WORDS and len(w) > 1 and w in emb]
                if vs:
                    v = np.mean(vs, axis=0)
                    out[i] = v / (np.linalg.norm(v) or 1.0)
            self._emb = out
        return self._emb


def _identity(x: list[str]) -> list[str]:
    return x


def tfidf(data: Data, train: Rows) -> Callable[[Rows], Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        analyzer=_identity, sublinear_tf=True, min_df=2, max_features=100_000, dtype=np.float64
    )
    vec.fit([data.feats[i] for i in train])
    return lambda rows: vec.transform([data.feats[i] for i in rows])


def tfidf_emb(scale: float) -> Callable[[Data, Rows], Callable[[Rows], Any]]:
    def make(data: Data, train: Rows) -> Callable[[Rows], Any]:
        from scipy.sparse import csr_matrix, hstack

        sparse = tfidf(data, train)
        e = data.embeddings()
        return lambda rows: hstack([sparse(rows), csr_matrix(e[list(rows)] * scale)]).tocsr()

    return make


def emb_only(data: Data, train: Rows) -> Callable[[Rows], Any]:
    e = data.embeddings()
    return lambda rows: e[list(rows)]


# classifiers -------------------------------------------------------------------
def _sqrt_weights(y: Sequence[int]) -> dict[int, float]:
    counts = Counter(y)
    k, n = len(counts), len(y)
    return {c: math.sqrt(n / (k * m)) for c, m in counts.items()}


def svm(c: float = 0.5) -> Callable[[Any, list[int]], Callable[[Any], np.ndarray]]:
    def fit(x: Any, y: list[int]) -> Callable[[Any], np.ndarray]:
        from sklearn.svm import LinearSVC

        clf = LinearSVC(C=c, class_weight=_sqrt_weights(y), random_state=0).fit(x, y)
        return _full(clf)

    return fit


def logreg(c: float = 20.0) -> Callable[[Any, list[int]], Callable[[Any], np.ndarray]]:
    def fit(x: Any, y: list[int]) -> Callable[[Any], np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=c, class_weight=_sqrt_weights(y), max_iter=100, tol=1e-2)
        return _full(clf.fit(x, y))

    return fit


def nbsvm(c: float = 0.5) -> Callable[[Any, list[int]], Callable[[Any], np.ndarray]]:
    """One-vs-rest SVMs on features scaled by each label's NB log-count ratio."""

    def fit(x: Any, y: list[int]) -> Callable[[Any], np.ndarray]:
        from sklearn.svm import LinearSVC

        ya = np.asarray(y)
        labels = sorted(set(y))
        coefs, icpts = [], []
        for lab in labels:
            pos = np.asarray(x[ya == lab].sum(axis=0)).ravel() + 1.0
            neg = np.asarray(x[ya != lab].sum(axis=0)).ravel() + 1.0
            r = np.log((pos / pos.sum()) / (neg / neg.sum()))
            w = math.sqrt(len(y) / (2 * (ya == lab).sum()))
            clf = LinearSVC(C=c, class_weight={1: w, 0: 1.0}, random_state=0)
            clf.fit(x.multiply(r).tocsr(), (ya == lab).astype(int))
            coefs.append(clf.coef_[0] * r)  # still linear in the plain features
            icpts.append(clf.intercept_[0])
        coef, icpt = np.asarray(coefs), np.asarray(icpts)
        return lambda xt: _scores(xt, coef, icpt, labels)

    return fit


def denoised(
    inner: Callable[[Any, list[int]], Callable[[Any], Any]], margin: float = 1.0
) -> Callable[[Any, list[int]], Callable[[Any], Any]]:
    """Train ``inner`` without the rows whose 3-fold held-out prediction is another label
    by more than ``margin`` (in decision-score units): likely mislabelled."""

    def fit(x: Any, y: list[int]) -> Callable[[Any], Any]:
        keep = np.ones(len(y), dtype=bool)
        for fold in _folds([str(v) for v in y], 3, seed=11):
            held = np.zeros(len(y), dtype=bool)
            held[fold] = True
            rest = np.flatnonzero(~held)
            scorer = inner(x[rest], [y[i] for i in rest])
            s, labels = scorer(x[fold])
            col = {lab: k for k, lab in enumerate(labels)}
            for row, i in enumerate(fold):
                if y[i] in col and s[row].max() - s[row, col[y[i]]] > margin:
                    keep[i] = False
        rows = np.flatnonzero(keep)
        return inner(x[rows], [y[i] for i in rows])

    return fit


def _scores(x: Any, coef: np.ndarray, icpt: np.ndarray, labels: list[int]) -> Any:
    return np.asarray(x @ coef.T) + icpt, labels


def _full(clf: Any) -> Callable[[Any], Any]:
    labels = [int(c) for c in clf.classes_]

    def scores(x: Any) -> Any:
        s = clf.decision_function(x)
        if s.ndim == 1:
            s = np.vstack([-s, s]).T / 2
        return s, labels

    return scores


# variants: components whose calibrated probabilities are averaged -------------------
Component = tuple[str, Callable[..., Any], Callable[..., Any]]  # (label source, features, fit)

VARIANTS: dict[str, list[Component]] = {
    "reference (lemma+char TF-IDF, LinearSVC)": [("self", tfidf, svm())],
    "logreg C=20": [("self", tfidf, logreg(20.0))],
    "nbsvm": [("self", tfidf, nbsvm())],
    "svm+logreg": [("self", tfidf, svm()), ("self", tfidf, logreg(20.0))],
    "svm + navec x0.5": [("self", tfidf_emb(0.5), svm())],
    "svm & navec-logreg": [("self", tfidf, svm()), ("self", emb_only, logreg(10.0))],
    "navec, noisy rows dropped": [("self", tfidf_emb(0.5), denoised(svm()))],
    "topics summed (svm)": [("topic", tfidf, svm())],
    "svm & topics summed": [("self", tfidf, svm()), ("topic", tfidf, svm())],
}
SHORT = {
    "reference": "reference (lemma+char TF-IDF, LinearSVC)",
}


class Calibrated:
    """A variant trained on some rows: probabilities over the target labels."""

    def __init__(
        self,
        data: Data,
        target: str,
        comps: list[Component],
        train: Rows,
        inner: int = 3,
        temperatures: list[float] | None = None,
    ) -> None:
        self.data, self.target, self.comps = data, target, comps
        y = data.labels(target)
        self.classes = sorted({y[i] for i in train})
        self.index = {c: k for k, c in enumerate(self.classes)}
        self.models = []
        for source, feats, fit in comps:
            src = data.labels(target if source == "self" else source)
            src_classes = sorted({src[i] for i in train})
            # each source label → the target label it goes with most in training
            votes: dict[str, Counter[str]] = {}
            for i in train:
                votes.setdefault(src[i], Counter())[y[i]] += 1
            to_target = np.zeros((len(src_classes), len(self.classes)))
            for j, s in enumerate(src_classes):
                to_target[j, self.index[votes[s].most_common(1)[0][0]]] = 1.0
            self.models.append((feats, fit, src, src_classes, to_target))
        self.temps = temperatures or [1.0] * len(comps)
        self.fitted = [self._fit_comp(m, train) for m in self.models]
        self.class_thresholds: dict[int, float | None] = {}
        self.auto_threshold: float | None = None
        if inner:
            self._calibrate(train, inner)

    def _fit_comp(self, m: Any, train: Rows) -> Callable[[Rows], np.ndarray]:
        return self._fit_comp_full(m, train, m[3])

    def proba(self, rows: Rows) -> np.ndarray:
        total = np.zeros((len(rows), len(self.classes)))
        for raw, t, m in zip(self.fitted, self.temps, self.models, strict=True):
            z = raw(rows) / t
            z = np.exp(z - z.max(axis=1, keepdims=True))
            total += (z / z.sum(axis=1, keepdims=True)) @ m[4]
        return total / len(self.fitted)

    def _calibrate(self, train: Rows, k: int) -> None:
        train = list(train)
        y = self.data.labels(self.target)
        raws: list[list[np.ndarray]] = [[] for _ in self.models]
        truths: list[list[int]] = [[] for _ in self.models]
        order: list[int] = []
        for fold in _folds([y[i] for i in train], k, seed=7):
            held = [train[j] for j in fold]
            rest = sorted(set(train) - set(held))
            order.extend(held)
            for c, m in enumerate(self.models):
                src, src_classes = m[2], m[3]
                present = {src[i] for i in rest}
                sub = Calibrated.__new__(Calibrated)
                sub.data = self.data
                raw = sub._fit_comp_full(m, rest, src_classes)
                raws[c].append(raw(held))
                truths[c].extend(
                    src_classes.index(src[i]) if src[i] in present else -1 for i in held
                )
        for c in range(len(self.models)):
            s = np.vstack(raws[c])
            t = np.asarray(truths[c])
            keep = t >= 0
            self.temps[c] = _fit_temperature(s[keep], t[keep])
        # probabilities of the combined variant on the held-out rows
        probs = np.zeros((len(order), len(self.classes)))
        for c, m in enumerate(self.models):
            z = np.vstack(raws[c]) / self.temps[c]
            z = np.exp(z - z.max(axis=1, keepdims=True))
            probs += (z / z.sum(axis=1, keepdims=True)) @ m[4]
        probs /= len(self.models)
        pred = probs.argmax(axis=1)
        conf = np.round(probs.max(axis=1), 4)
        ok = [self.classes[p] == y[i] for p, i in zip(pred, order, strict=True)]
        self.auto_threshold = auto_threshold(conf.tolist(), ok)
        for k_ in range(len(self.classes)):
            rows = [j for j, p in enumerate(pred) if p == k_]
            if len(rows) >= CLASS_SUPPORT[0]:
                self.class_thresholds[k_] = auto_threshold(
                    [float(conf[j]) for j in rows], [ok[j] for j in rows]
                )

    def _fit_comp_full(self, m: Any, rows: Rows, src_classes: list[str]) -> Any:
        feats, fit, src, _, _ = m
        ix = {c: k for k, c in enumerate(src_classes)}
        make = feats(self.data, rows)
        scorer = fit(make(rows), [ix[src[i]] for i in rows])

        def raw(r: Rows) -> np.ndarray:
            s, labels = scorer(make(r))
            out = np.full((len(r), len(src_classes)), -1e3)
            out[:, labels] = s
            return out

        return raw

    def predict(self, rows: Rows) -> tuple[list[str], list[float], list[bool]]:
        p = self.proba(rows)
        best = p.argmax(axis=1)
        conf = np.round(p.max(axis=1), 4)
        auto = []
        for b, c in zip(best, conf, strict=True):
            t = self.class_thresholds.get(int(b), self.auto_threshold)
            if int(b) in self.class_thresholds and self.class_thresholds[int(b)] is None:
                t = None
            auto.append(t is not None and c >= t)
        return [self.classes[b] for b in best], conf.tolist(), auto


def summary(truth: list[str], pred: list[str], conf: list[float], auto: list[bool]) -> dict:
    m = evaluate_predictions(truth, pred, auto=auto, confidences=conf).as_dict()
    return {
        k: m[k]
        for k in (
            "n",
            "accuracy",
            "weighted_f1",
            "macro_f1",
            "auto_share",
            "auto_precision",
            "auto_curve",
        )
    }


def measure(
    data: Data,
    dev: list[int],
    frozen: list[int],
    target: str,
    comps: list[Component],
    folds: int,
    inner: int,
) -> dict:
    y = data.labels(target)
    pred, conf, auto = (
        [""] * len(data.appeals),
        [0.0] * len(data.appeals),
        [False] * len(data.appeals),
    )
    for fold in _folds([y[i] for i in dev], folds, seed=0):
        held = [dev[j] for j in fold]
        rest = sorted(set(dev) - set(held))
        model = Calibrated(data, target, comps, rest, inner)
        for i, p, c, a in zip(held, *model.predict(held), strict=True):
            pred[i], conf[i], auto[i] = p, c, a
    cv = summary(
        [y[i] for i in dev], [pred[i] for i in dev], [conf[i] for i in dev], [auto[i] for i in dev]
    )
    model = Calibrated(data, target, comps, dev, inner)
    fp, fc, fa = model.predict(frozen)
    return {"cv": cv, "frozen": summary([y[i] for i in frozen], fp, fc, fa)}


def product(data: Data, dev: list[int], frozen: list[int], target: str, **kw: Any) -> dict:
    """The model tsur trains, as the engine uses it; with its prediction throughput."""
    y = data.labels(target)
    started = time.perf_counter()
    model = train_model(
        [data.appeals[i].text for i in dev],
        [y[i] for i in dev],
        lemmas=[data.lemmas[i] for i in dev],
        **kw,
    )
    train_s = time.perf_counter() - started
    texts = [data.appeals[i].text for i in frozen]
    preds = model.predict_many_lemmas([data.lemmas[i] for i in frozen])  # caches warm
    started = time.perf_counter()
    model.predict_many_lemmas([data.lemmas[i] for i in frozen])
    lemma_rate = len(frozen) / (time.perf_counter() - started)
    lem = get_lemmatizer()
    started = time.perf_counter()
    model.predict_many_lemmas([Text.from_raw(t, lem).lemmas for t in texts])
    text_rate = len(frozen) / (time.perf_counter() - started)
    out = summary(
        [y[i] for i in frozen],
        [p.label for p in preds],
        [p.confidence for p in preds],
        [model.decides_alone(p) for p in preds],
    )
    return {
        "frozen": out,
        "train_s": round(train_s, 1),
        "predict_texts_per_s_from_lemmas": round(lemma_rate),
        "predict_texts_per_s_from_raw": round(text_rate),
        "features": len(model.features),
    }


def _line(r: dict) -> str:
    out = []
    for part in ("cv", "frozen"):
        if part in r:
            m = r[part]
            out.append(
                f"{part} acc {m['accuracy']:.3f} wF1 {m['weighted_f1']:.3f} "
                f"mF1 {m['macro_f1']:.3f} auto {m['auto_share']:.3f}@{m['auto_precision'] or 0:.3f}"
            )
    return " | ".join(out)


#: tsur.ml.train_model as shipped: without and with word vectors
PRODUCTS: dict[str, dict[str, Any]] = {
    "product, TF-IDF only": {"embeddings": False},
    "product, TF-IDF + navec (default)": {"embeddings": True},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="group,executor,topic")
    ap.add_argument("--variants", default="", help="comma-separated name prefixes (default: all)")
    ap.add_argument("--csv", type=Path, default=KURSK_CSV, help="the Kursk appeals CSV")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inner", type=int, default=3, help="calibration folds inside training")
    ap.add_argument(
        "--class-support",
        type=int,
        default=MIN_SUPPORT,
        help="held-out predictions a label needs for a threshold of its own",
    )
    args = ap.parse_args(argv)
    CLASS_SUPPORT[0] = args.class_support
    dev_a, frozen_a = split(args.csv)
    data = Data(dev_a + frozen_a)
    dev, frozen = list(range(len(dev_a))), list(range(len(dev_a), len(data.appeals)))
    wanted = [v for v in args.variants.split(",") if v]
    results: dict[str, Any] = {
        "folds": args.folds,
        "inner": args.inner,
        "class_support": args.class_support,
        "targets": {},
    }
    for target in args.targets.split(","):
        rows: dict[str, Any] = {}
        for name, comps in VARIANTS.items():
            if wanted and not any(name.startswith(w) for w in wanted):
                continue
            started = time.perf_counter()
            r = measure(data, dev, frozen, target, comps, args.folds, args.inner)
            r["seconds"] = round(time.perf_counter() - started, 1)
            rows[name] = r
            print(f"{target:8} {name[:34]:34} {_line(r)}  ({r['seconds']} s)", flush=True)
        if not wanted or "product" in wanted:
            for name, kw in PRODUCTS.items():
                rows[name] = p = product(data, dev, frozen, target, **kw)
                print(
                    f"{target:8} {name[:34]:34} {_line(p)}; predict "
                    f"{p['predict_texts_per_s_from_raw']} texts/s from raw text, "
                    f"{p['predict_texts_per_s_from_lemmas']} from lemmas",
                    flush=True,
                )
        results["targets"][target] = rows
    print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
