"""Trained text models as plugins: topic classifiers, executor routers, train/eval commands.

A region lists its models in ``[[models]]`` (see :class:`tsur.config.ModelConfig`).
A ``topic`` model votes with the keyword classifier by weight; an
``executor`` model routes an appeal straight to its executor from the text
when it is confident enough, before the rules.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from tsur.config import ModelConfig, RegionConfig
from tsur.domain import Classification, Incident, Message, RouteDecision
from tsur.errors import PluginError
from tsur.hookspecs import hookimpl
from tsur.text.normalize import Text, get_lemmatizer
from tsur.typing import Register

__all__ = ["ModelClassifier", "ModelRouter"]


@lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> Any:
    from tsur.ml.model import TextModel

    return TextModel.load(path)


def _model_for(mc: ModelConfig, config: RegionConfig, known: set[str], what: str) -> Any:
    from tsur.ml.model import ModelError

    path = Path(mc.path)
    if not path.is_absolute() and config.base_dir is not None:
        path = config.base_dir / path
    try:
        model = _load(str(path), path.stat().st_mtime if path.exists() else 0.0)
    except ModelError as exc:
        raise PluginError(f"model {mc.name!r}: {exc}", plugin=__name__) from exc
    unmapped = sorted(lab for lab in model.labels if mc.labels.get(lab, lab) not in known)
    if unmapped:
        raise PluginError(
            f"model {mc.name!r}: labels {', '.join(map(repr, unmapped[:10]))} are not {what} "
            f'ids of the region; map them in [models.labels] (model label = "{what} id")',
            plugin=__name__,
        )
    return model


class ModelClassifier:
    """A trained model voting for a topic."""

    def __init__(self, model: Any, mc: ModelConfig) -> None:
        self.model = model
        self.mc = mc

    def classify(self, message: Message, text: Text) -> Classification | None:
        """The model's topic with its calibrated confidence and the words that weighed most."""
        p = self.model.predict_lemmas(text.lemmas)
        if p.confidence < self.mc.min_confidence:
            return None
        topic = self.mc.labels.get(p.label, p.label)
        return Classification(topic, p.confidence, None, p.evidence, self.mc.name)


class ModelRouter:
    """A trained model routing straight to an executor when it is confident."""

    def __init__(self, model: Any, mc: ModelConfig) -> None:
        self.model = model
        self.mc = mc
        self.lemmatizer = get_lemmatizer()

    def route(self, incident: Incident, config: RegionConfig) -> RouteDecision | None:
        """The predicted executor, or None below ``min_confidence``."""
        p = self.model.predict_lemmas(Text.from_raw(incident.summary, self.lemmatizer).lemmas)
        if p.confidence < self.mc.min_confidence:
            return None
        executor = self.mc.labels.get(p.label, p.label)
        words = ", ".join(p.evidence[:4])
        return RouteDecision(
            executor, f"model {self.mc.name} ({p.confidence:.2f}; {words})", self.mc.name
        )


@hookimpl
def register_classifiers(register: Register, config: RegionConfig) -> None:
    """Register each ``topic`` model of the region."""
    topics = {t.id for t in config.topics}
    for mc in config.models:
        if mc.target == "topic":
            register(
                mc.name,
                ModelClassifier(_model_for(mc, config, topics, "topic"), mc),
                weight=mc.weight,
            )


@hookimpl
def register_routers(register: Register, config: RegionConfig) -> None:
    """Register each ``executor`` model of the region."""
    executors = {e.id for e in config.executors}
    for mc in config.models:
        if mc.target == "executor":
            model = _model_for(mc, config, executors, "executor")
            register(mc.name, ModelRouter(model, mc), priority=mc.priority)


# commands ---------------------------------------------------------------------


def _progress(console: Console) -> tuple[Progress, Callable[[str, int, int], None]]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _data(args: argparse.Namespace) -> Any:
    from tsur.ml.data import read_labelled_csv

    return read_labelled_csv(
        args.data, text_column=args.text_column, label_column=args.label_column
    )


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    """``tsur train``."""
    from tsur.ml.train import train_model

    data = _data(args)
    started = time.perf_counter()
    bar, update = _progress(console)
    with bar:
        model = train_model(
            data.texts,
            data.labels,
            c=args.c,
            class_weight=args.class_weight,
            max_features=args.max_features,
            progress=update,
            meta={
                "source": Path(args.data).name,
                "text_column": args.text_column,
                "label_column": args.label_column,
            },
        )
    out = model.save(args.out)
    console.print(
        f"trained on {len(data)} rows ({data.skipped} skipped), {len(model.labels)} labels, "
        f"{len(model.features)} features in {time.perf_counter() - started:.1f} s; "
        f"confidence temperature {model.temperature:.3f}; written to {out}"
    )
    return 0


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    """``tsur eval``."""
    from tsur.ml.metrics import evaluate_predictions
    from tsur.ml.model import TextModel
    from tsur.ml.train import cross_validate, lemmatize_all

    if (args.model is None) == (args.cv is None):
        raise PluginError("give either --model MODEL or --cv K", plugin=__name__)
    data = _data(args)
    bar, update = _progress(console)
    with bar:
        if args.cv is not None:
            metrics, _ = cross_validate(
                data.texts,
                data.labels,
                args.cv,
                progress=update,
                class_weight=args.class_weight,
                c=args.c,
                max_features=args.max_features,
            )
            how = f"{args.cv}-fold cross-validation of the default model"
        else:
            model = TextModel.load(args.model)
            lemmas = lemmatize_all(data.texts, progress=update)
            predicted = [model.predict_lemmas(lem).label for lem in lemmas]
            metrics = evaluate_predictions(data.labels, predicted)
            how = f"model {args.model}"
    console.print(f"{how} on {metrics.n} rows of {args.data} ({args.label_column})")
    console.print(
        f"accuracy {metrics.accuracy:.4f}   macro-F1 {metrics.macro_f1:.4f}   "
        f"weighted-F1 {metrics.weighted_f1:.4f}"
    )
    table = Table(title="per class", title_justify="left")
    for col in ("label", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for c in metrics.per_class[: args.top]:
        table.add_row(
            c.label[:60], f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.support)
        )
    if len(metrics.per_class) > args.top:
        table.add_row(f"… {len(metrics.per_class) - args.top} more", "", "", "", "")
    console.print(table)
    if metrics.confusions:
        console.print("most frequent confusions (true → predicted: count):")
        for t, p, k in metrics.confusions:
            console.print(f"  {t[:50]} → {p[:50]}: {k}", markup=False, highlight=False)
    if args.json:
        print(json.dumps(metrics.as_dict(), ensure_ascii=False))
    return 0


def _common_model_args(p: argparse.ArgumentParser) -> None:
    from tsur.ml.train import CLASS_WEIGHTS

    p.add_argument("data", help="labelled CSV (UTF-8, header row)")
    p.add_argument("--text-column", default="text", help="column with the text")
    p.add_argument(
        "--label-column", default="label", help="column with the label (topic, group or executor)"
    )
    p.add_argument(
        "--class-weight",
        choices=CLASS_WEIGHTS,
        default="sqrt",
        help="weighting of rare labels (default sqrt)",
    )
    p.add_argument("--c", type=float, default=0.5, help="SVM regularisation (default 0.5)")
    p.add_argument(
        "--max-features", type=int, default=100_000, help="vocabulary size (default 100000)"
    )


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur train`` and ``tsur eval``."""
    p = add_command(
        "train",
        help="train a text model from a labelled CSV",
        description="Train a linear text model (lemma and character n-gram TF-IDF, linear "
        "SVM, calibrated confidence) from any labelled CSV: topics, topic groups or "
        "executors. Needs pip install 'tsur[ml]'. The model file is a versioned archive "
        "of plain arrays, loaded without pickle.",
    )
    _common_model_args(p)
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.set_defaults(func=cmd_train)

    p = add_command(
        "eval",
        help="measure a model, or cross-validate the default one",
        description="Print accuracy, macro-F1, weighted-F1, a per-class table and the most "
        "frequent confusions of a model on labelled data (--model), or of K-fold "
        "cross-validation of the default model (--cv K). With --json the last line is one "
        "JSON object (accuracy, macro_f1, weighted_f1, n, per_class, confusions).",
    )
    _common_model_args(p)
    p.add_argument("--model", help="model file written by tsur train")
    p.add_argument("--cv", type=int, help="K-fold cross-validation instead of --model")
    p.add_argument("--top", type=int, default=20, help="rows of the per-class table")
    p.add_argument("--json", action="store_true", help="also print one JSON object last")
    p.set_defaults(func=cmd_eval)
