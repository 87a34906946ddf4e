"""A region drafted from the Kursk development part, measured on the frozen fifth.

Run ``python benchmarks/bootstrap.py [--csv PATH]`` (the Kursk appeals are
not shipped; by default ``../shared/data/kursk/appeals.csv``, see
``benchmarks/kursk.py``). It

1. writes the development part (1585 appeals) to a temporary CSV and drafts
   a region from it with ``tsur region bootstrap`` (:func:`draft_region`);
2. compares, on the frozen fifth (415 appeals), the executor chosen from
   the text alone (a text model trained on the development part's
   executors) with the executor chosen by the draft's topic model + the
   engine's gazetteer + the learned rules — overall, where the gazetteer
   finds a territory in the text, and where the true executor has a
   territory below the region (a municipality's body);
3. runs the engine with the drafted region on the frozen texts and reads
   each incident's topic and executor: topic-group and executor accuracy,
   and the share routed without a curator (status ``routed``).

``--cv K`` instead measures the learned routing by K-fold cross-validation
inside the development part (for choosing ``--min-support``); the frozen
fifth is not read then. Prints the figures and one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.kursk import EXECUTOR, GROUP, KURSK_CSV, TEXT, TOPIC, Appeal, split

from tsur.default_plugins.bootstrap import Draft, draft_region, read_archive
from tsur.default_plugins.locators import GazetteerLocator
from tsur.domain import Message
from tsur.ml.train import lemmatize_all, train_model
from tsur.region import Region
from tsur.routing.learn import LearnedRules, places_in_name
from tsur.text.normalize import Text, get_lemmatizer


def write_csv(appeals: Sequence[Appeal], path: Path) -> None:
    """The appeals as a CSV with the archive's own column names."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", TEXT, TOPIC, EXECUTOR, GROUP])
        for a in appeals:
            w.writerow([a.id, a.text, a.topic, a.executor, a.group])


def draft_from(
    appeals: Sequence[Appeal], folder: Path, min_support: int, executor_model: bool = False
) -> Draft:
    """A draft region from ``appeals`` (written to a CSV in ``folder`` first)."""
    path = folder / "history.csv"
    write_csv(appeals, path)
    archive = read_archive(
        path, text_column=TEXT, topic_column=TOPIC, executor_column=EXECUTOR, group_column=GROUP
    )
    return draft_region(
        archive,
        min_support=min_support,
        executor_model_file="executors.npz" if executor_model else None,
    )


def rules_routing(draft: Draft, appeals: Sequence[Appeal]) -> dict[str, list[Any]]:
    """Predicted topic, found territory and executor (None: the curator) of each appeal."""
    config = draft.config()
    region = Region.from_config(config)
    lem = get_lemmatizer()
    locator = GazetteerLocator(region, lem)
    rules = LearnedRules(
        draft.rules,
        {t.id: t.parent for t in config.topics},
        {t.id: t.parent for t in config.territories},
    )
    topics, places, executors, territorial_rule = [], [], [], []
    for i, a in enumerate(appeals):
        text = Text.from_raw(a.text, lem)
        topic = draft.model.predict_lemmas(text.lemmas).label
        msg = Message(
            source="archive",
            external_id=str(i),
            text=a.text,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        loc = locator.locate(msg, text)
        place = None if loc is None or loc.territory == config.region.territory else loc.territory
        rule = rules.route(topic, place)
        topics.append(topic)
        places.append(place)
        executors.append(rule.executor if rule else None)
        territorial_rule.append(bool(rule and rule.territories))
    return {
        "topic": topics,
        "territory": places,
        "executor": executors,
        "territorial_rule": territorial_rule,
    }


def norm(value: str) -> str:
    """A label as the archive reader keeps it (inner whitespace collapsed)."""
    return " ".join(value.split())


def accuracy(pairs: Sequence[tuple[Any, Any]]) -> float | None:
    """Share of equal pairs (None for no pairs)."""
    return round(sum(a == b for a, b in pairs) / len(pairs), 4) if pairs else None


def territorial(executor: str) -> bool:
    """True for an executor whose title names a territory below the region."""
    return any(p.kind != "region" for p in places_in_name(executor))


def cross_validate(
    dev: Sequence[Appeal], k: int, min_support: int, executor_model: bool, folds: int
) -> dict[str, Any]:
    """Executor accuracy of the learned rules and of the engine, K-fold inside ``dev``."""
    rows = list(dev)
    random.Random(0).shuffle(rows)
    right = engine_right = total = 0
    for f in range(min(k, folds)):
        held = rows[f::k]
        train = [a for i, a in enumerate(rows) if i % k != f]
        with tempfile.TemporaryDirectory() as tmp:
            draft = draft_from(train, Path(tmp), min_support, executor_model)
            draft.write(Path(tmp) / "region.toml")
            run = engine_run(Path(tmp) / "region.toml", held)
        got = rules_routing(draft, held)["executor"]
        truth = [draft.executor_ids.get(norm(a.executor)) for a in held]
        right += sum(g == t for g, t in zip(got, truth, strict=True))
        engine_right += sum(r["executor"] == t for r, t in zip(run, truth, strict=True))
        total += len(held)
        print(
            f"fold {f + 1}/{k}: rules {right / total:.4f}, engine {engine_right / total:.4f}",
            file=sys.stderr,
        )
    return {
        "cv": k,
        "folds": min(k, folds),
        "min_support": min_support,
        "executor_model": executor_model,
        "rules_executor_accuracy": round(right / total, 4),
        "engine_executor_accuracy": round(engine_right / total, 4),
    }


def engine_run(region_file: Path, appeals: Sequence[Appeal]) -> list[dict[str, Any]]:
    """Each appeal as a message through the engine; its incident's topic, executor, status."""
    from tsur import Engine

    engine = Engine.from_config(region_file, db=":memory:")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # previewed one by one: no appeal is grouped with another
    messages = [
        Message(
            source="archive", external_id=a.id, text=a.text, created_at=start + timedelta(minutes=i)
        )
        for i, a in enumerate(appeals)
    ]
    out = []
    for m in messages:
        _, outcome = engine.preview(m, now=m.created_at)
        inc = outcome.incident
        out.append(
            {
                "topic": None if inc is None else inc.topic,
                "executor": None if inc is None else inc.executor,
                "status": None if inc is None else str(inc.status),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=KURSK_CSV)
    ap.add_argument("--min-support", type=int, default=2)
    ap.add_argument("--cv", type=int, help="cross-validate inside the development part only")
    ap.add_argument("--folds", type=int, default=99, help="with --cv: run only this many folds")
    ap.add_argument(
        "--executor-model", action="store_true", help="draft with an executor model after the rules"
    )
    args = ap.parse_args()
    dev, frozen = split(args.csv)
    if args.cv:
        result = cross_validate(dev, args.cv, args.min_support, args.executor_model, args.folds)
        print(json.dumps(result, ensure_ascii=False))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        draft = draft_from(dev, folder, args.min_support, args.executor_model)
        region_file = folder / "region.toml"
        draft.write(region_file)
        drafted = time.perf_counter() - started

        # 1. executor: text alone vs topic model + gazetteer + learned rules
        lem = get_lemmatizer()
        text_model = train_model(
            [a.text for a in dev],
            [a.executor for a in dev],
            lemmas=lemmatize_all([a.text for a in dev], lem),
        )
        text_pred = [p.label for p in text_model.predict([a.text for a in frozen])]
        routed = rules_routing(draft, frozen)
        ids = draft.executor_ids
        truth = [ids.get(norm(a.executor), "?" + a.executor) for a in frozen]
        text_ids = [ids.get(e) for e in text_pred]
        found = [i for i, t in enumerate(routed["territory"]) if t is not None]
        local = [i for i, a in enumerate(frozen) if territorial(a.executor)]

        def both(idx: Sequence[int]) -> dict[str, Any]:
            return {
                "n": len(idx),
                "text_only": accuracy([(text_ids[i], truth[i]) for i in idx]),
                "topic_territory_rules": accuracy([(routed["executor"][i], truth[i]) for i in idx]),
                # a rule naming a territory where one matched, the text model elsewhere
                "rules_with_territory_else_text": accuracy(
                    [
                        (
                            routed["executor"][i] if routed["territorial_rule"][i] else text_ids[i],
                            truth[i],
                        )
                        for i in idx
                    ]
                ),
            }

        executor = {
            "overall": both(range(len(frozen))),
            "territory_found_in_text": both(found),
            "executor_territorial": both(local),
            "rules_routed_share": round(
                sum(e is not None for e in routed["executor"]) / len(frozen), 4
            ),
        }

        # 3. the engine with the drafted region
        group_of_topic = {t.id: (t.parent or t.id) for t in draft.config().topics}
        true_group = [draft.group_ids.get(norm(a.group)) for a in frozen]
        true_topic = [draft.topic_ids.get(norm(a.topic)) for a in frozen]
        run = engine_run(region_file, frozen)
        eng_group = [group_of_topic.get(r["topic"]) for r in run]
        engine = {
            "n": len(run),
            "incidents": sum(r["status"] is not None for r in run),
            "group_accuracy": accuracy(list(zip(eng_group, true_group, strict=True))),
            "topic_accuracy": accuracy(
                [(r["topic"], t) for r, t in zip(run, true_topic, strict=True)]
            ),
            "executor_accuracy": accuracy(
                [(r["executor"], t) for r, t in zip(run, truth, strict=True)]
            ),
            "routed_share": round(sum(r["status"] == "routed" for r in run) / len(run), 4),
            "routed_executor_accuracy": accuracy(
                [
                    (r["executor"], t)
                    for r, t in zip(run, truth, strict=True)
                    if r["status"] == "routed"
                ]
            ),
        }
    result = {
        "development": len(dev),
        "executor_model": args.executor_model,
        "frozen": len(frozen),
        "draft": {
            "territories": len(draft.mapping["territories"]),
            "topics": len(draft.mapping["topics"]),
            "executors": len(draft.mapping["executors"]),
            "rules": len(draft.rules),
            "located_in_history": draft.located,
            "seconds": round(drafted, 1),
        },
        "executor": executor,
        "engine": engine,
    }
    print(f"draft from {len(dev)} development appeals: {result['draft']}")
    for name, r in executor.items():
        print(f"executor, {name}: {r}")
    print(f"engine on the frozen fifth: {engine}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
