"""``tsur train`` and ``tsur eval``: text models on the command line.

Train a linear text model from any labelled CSV (topics, topic groups or
executors), from the curators' corrections kept in the store
(``--from-db``), or from both, and measure it, or cross-validate the
default model. Needs ``pip install 'tsur[ml]'`` for training.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as day_time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tsur.console import open_engine, stage_progress
from tsur.errors import ModelError, PluginError
from tsur.hookspecs import hookimpl
from tsur.lifecycle import Lifecycle
from tsur.lifecycle.learning import TARGETS
from tsur.ml.data import LabelledData, read_labelled_csv
from tsur.ml.metrics import evaluate_predictions
from tsur.ml.model import TextModel
from tsur.ml.train import (
    CLASS_WEIGHTS,
    MIN_CALIBRATION_ROWS,
    cross_validate,
    lemmatize_all,
    train_model,
)

__all__ = ["register_commands"]


def _data(args: argparse.Namespace) -> LabelledData:
    return read_labelled_csv(
        args.data, text_column=args.text_column, label_column=args.label_column
    )


def since_date(text: str) -> date | datetime:
    """The argparse ``type`` of ``--since``: a date (``2026-11-01``) or an ISO date-time
    with a UTC offset."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-11-01) nor an ISO date-time (2026-11-01T09:00:00+04:00)"
        ) from None
    if not 1970 <= value.year <= 2100:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 1970–2100")
    if len(text.strip()) == 10:
        return value.date()
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +04:00")
    return value


def _store_data(args: argparse.Namespace) -> tuple[LabelledData, Counter[str]]:
    """The curated history of ``--db`` as labelled data, and how many examples per origin."""
    with open_engine(args, create=False) as engine, Lifecycle(engine, post_replies=False) as life:
        since = args.since
        if isinstance(since, date) and not isinstance(since, datetime):
            # a date starts at midnight in the region's time zone
            since = datetime.combine(since, day_time(0), engine.region.calendar.tz)
        examples = life.labelled_examples(args.target, since=since, curated_only=args.curated_only)
    origins: Counter[str] = Counter(e.origin for e in examples)
    data = LabelledData(tuple(e.text for e in examples), tuple(e.label for e in examples))
    return data, origins


def _training_data(args: argparse.Namespace) -> tuple[LabelledData, str, Counter[str]]:
    """The texts and labels to train on, where they came from, examples per origin."""
    if not args.from_db and (args.since is not None or args.curated_only):
        raise PluginError("--since and --curated-only go with --from-db", plugin=__name__)
    if args.data is None and not args.from_db:
        raise PluginError("give a labelled CSV, --from-db, or both", plugin=__name__)
    parts: list[LabelledData] = []
    origins: Counter[str] = Counter()
    names = []
    if args.data is not None:
        parts.append(_data(args))
        names.append(Path(args.data).name)
    if args.from_db:
        stored, origins = _store_data(args)
        parts.append(stored)
        names.append("store")
    data = LabelledData(
        tuple(t for p in parts for t in p.texts),
        tuple(lab for p in parts for lab in p.labels),
        sum(p.skipped for p in parts),
    )
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "none"
        raise ModelError(
            f"too little data to train: {len(data)} examples with {len(labels)} distinct "
            f"labels ({found}); a model needs examples of at least 2 labels"
            + (
                " — curators' corrections accumulate in the store as they work"
                if args.from_db
                else ""
            )
        )
    return data, " + ".join(names), origins


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    """``tsur train``."""
    data, source, origins = _training_data(args)
    started = time.perf_counter()
    bar, update = stage_progress(console)
    meta: dict[str, Any] = {"source": source}
    if args.data is not None:
        meta |= {"text_column": args.text_column, "label_column": args.label_column}
    if args.from_db:
        meta |= {"target": args.target, "from_db": dict(origins)}
    with bar:
        model = train_model(
            data.texts,
            data.labels,
            c=args.c,
            class_weight=args.class_weight,
            max_features=args.max_features,
            embeddings=_embeddings(args),
            progress=update,
            meta=meta,
        )
    out = model.save(args.out)
    if args.from_db:
        console.print(
            f"from the store: {sum(origins.values())} examples ({args.target}), "
            f"{origins['corrected']} from curators' corrections, {origins['confirmed']} "
            f"confirmed by curators, {origins['engine']} labelled by the engine alone"
        )
    console.print(
        f"trained on {len(data)} rows ({data.skipped} skipped), {len(model.labels)} labels, "
        f"{len(model.features)} features in {time.perf_counter() - started:.1f} s; "
        f"confidence temperature {model.temperature:.3f}"
        f"{'; with navec word vectors' if model.uses_embeddings else ''}; written to {out}"
    )
    for line in training_report(model):
        console.print(line, markup=False, highlight=False)
    return 0


#: Fewer training rows than this, or most labels with fewer than :data:`FEW_PER_LABEL`
#: examples, and ``tsur train`` warns that the model learned from very little.
FEW_ROWS = 100
FEW_PER_LABEL = 5


def training_report(model: TextModel) -> list[str]:
    """What a freshly trained model may do alone, and what to beware of, as lines to print.

    Says whether the thresholds for 95 % precision were fitted (and the
    share of held-out texts decided alone at them), warns when the model is
    not calibrated or learned from very few rows, and repeats
    scikit-learn's warnings on the data in plain words.
    """
    meta = model.meta
    n = int(meta.get("n", 0))
    lines = []
    if "target_precision" in meta:
        target = float(meta["target_precision"])
        share = meta.get("held_out_auto_share")
        precision = meta.get("held_out_auto_precision")
        held = meta.get("calibration_n", n)
        if meta.get("auto_threshold") is None and not any(
            v is not None for v in (meta.get("class_thresholds") or {}).values()
        ):
            lines.append(
                f"thresholds for {target:.0%} precision: not reached on {held} held-out texts — "
                "the model never decides without a curator"
            )
        elif share is not None:
            figure = "" if precision is None else f", precision {precision:.1%}"
            lines.append(
                f"thresholds for {target:.0%} precision fitted on {held} held-out texts: "
                f"{share:.1%} of them decided without a curator{figure}"
            )
        else:
            lines.append(f"thresholds for {target:.0%} precision fitted on {held} held-out texts")
    else:
        lines.append(
            f"warning: the model is not calibrated (fewer than {MIN_CALIBRATION_ROWS} rows): "
            "its confidence is not fitted and it has no thresholds for 95% precision; only "
            "the region's min_confidence decides when it is trusted"
        )
    counts = meta.get("label_counts") or {}
    rare = sum(1 for k in counts.values() if int(k) < FEW_PER_LABEL)
    if n < FEW_ROWS or rare * 2 > len(counts):
        lines.append(
            f"warning: trained on very few rows ({n}"
            + (f"; {rare} of {len(counts)} labels have fewer than {FEW_PER_LABEL}" if rare else "")
            + "): expect it to be often wrong; label more appeals and train again"
        )
    for note in meta.get("fit_warnings") or []:
        lines.append(f"warning: {note}")
    return lines


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    """``tsur eval``."""
    if (args.model is None) == (args.cv is None):
        raise PluginError("give either --model MODEL or --cv K", plugin=__name__)
    data = _data(args)
    bar, update = stage_progress(console)
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
                embeddings=_embeddings(args),
            )
            how = f"{args.cv}-fold cross-validation of the default model"
        else:
            model = TextModel.load(args.model)
            lemmas = lemmatize_all(data.texts, progress=update)
            predictions = model.predict_many_lemmas(lemmas)
            known = model.threshold_for(model.labels[0]) is not None
            metrics = evaluate_predictions(
                data.labels,
                [p.label for p in predictions],
                auto=[model.decides_alone(p) for p in predictions] if known else None,
                confidences=[p.confidence for p in predictions],
            )
            how = f"model {args.model}"
    console.print(f"{how} on {metrics.n} rows of {args.data} ({args.label_column})")
    console.print(
        f"accuracy {metrics.accuracy:.4f}   macro-F1 {metrics.macro_f1:.4f}   "
        f"weighted-F1 {metrics.weighted_f1:.4f}"
    )
    if metrics.auto_share is not None:
        precision = "—" if metrics.auto_precision is None else f"{metrics.auto_precision:.4f}"
        console.print(
            f"decided without a curator: {metrics.auto_share:.1%} of texts, "
            f"precision {precision} (thresholds for 95% precision fitted in training)"
        )
    if metrics.auto_curve:
        console.print(
            "share that could be decided alone, by precision kept: "
            + ", ".join(
                f"{c['target']:.0%}: {c['share']:.1%}"
                for c in metrics.auto_curve
                if c["share"] is not None
            ),
            highlight=False,
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


def _common_model_args(p: argparse.ArgumentParser, *, optional_data: bool = False) -> None:
    if optional_data:
        p.add_argument(
            "data", nargs="?", help="labelled CSV (UTF-8, header row); optional with --from-db"
        )
    else:
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
    p.add_argument(
        "--word-vectors",
        choices=("auto", "yes", "no"),
        default="auto",
        help="add navec word vectors to the features (needs pip install 'tsur[natasha]'; "
        "auto: when installed)",
    )


def _embeddings(args: argparse.Namespace) -> bool | None:
    return {"auto": None, "yes": True, "no": False}[args.word_vectors]


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur train`` and ``tsur eval``."""
    p = add_command(
        "train",
        help="train a text model from a labelled CSV or the curators' corrections",
        description="Train a linear text model (lemma and character n-gram TF-IDF, navec "
        "word vectors when tsur[natasha] is installed, linear SVM, calibrated confidence) "
        "from any labelled CSV: topics, topic groups or executors; or, with --from-db, from "
        "the incidents in the store, where every curator's correction (topic, executor, "
        "merge, split) overrides the engine's label and the latest correction wins; or from "
        "both. Needs pip install 'tsur[ml]'. The model file is a versioned archive of plain "
        "arrays, loaded without pickle.",
    )
    _common_model_args(p, optional_data=True)
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument(
        "--from-db",
        action="store_true",
        help="learn from the store (--db): every incident's topic or executor, a curator's "
        "correction overriding the engine's label (with a CSV: both)",
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default="topic",
        help="with --from-db: what the model predicts (default topic)",
    )
    p.add_argument(
        "--since",
        type=since_date,
        help="with --from-db: incidents created or corrected since this date "
        "(2026-11-01, midnight in the region) or ISO date-time with offset",
    )
    p.add_argument(
        "--curated-only",
        action="store_true",
        help="with --from-db: only labels a curator corrected or confirmed",
    )
    p.set_defaults(func=cmd_train)

    p = add_command(
        "eval",
        help="measure a model, or cross-validate the default one",
        description="Print accuracy, macro-F1, weighted-F1, a per-class table and the most "
        "frequent confusions of a model on labelled data (--model), or of K-fold "
        "cross-validation of the default model (--cv K); for a calibrated model also "
        "auto_share (the share of texts it decides without a curator at its thresholds for "
        "95% precision) and auto_precision (its precision on them). With --json the last "
        "line is one JSON object (accuracy, macro_f1, weighted_f1, n, auto_share, "
        "auto_precision, per_class, confusions).",
    )
    _common_model_args(p)
    p.add_argument("--model", help="model file written by tsur train")
    p.add_argument("--cv", type=int, help="K-fold cross-validation instead of --model")
    p.add_argument("--top", type=int, default=20, help="rows of the per-class table")
    p.add_argument("--json", action="store_true", help="also print one JSON object last")
    p.set_defaults(func=cmd_eval)
