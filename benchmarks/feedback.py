"""Learning from curators on the Kursk appeals: accuracy as corrections accumulate.

    python benchmarks/feedback.py [--seed-size 200] [--rounds 5] [--label topic|group] [--csv PATH]

A region whose topics are the Kursk fine topics (no keyword rules: the model
alone classifies) starts with a model trained on a small seed of the
development part (``benchmarks/kursk.py``). The rest of the development part
comes through the engine in batches. After each batch a simulated curator
reviews the batch's incidents through the real lifecycle API: an incident
whose topic is wrong is corrected (``Lifecycle.correct``, the true topic from
the data), a message grouped with another problem is split off
(``Lifecycle.split``), an incident left waiting in triage with the right
topic is routed on. Then ``tsur train SEED.csv --from-db`` retrains the
model from the seed and the store's curated history, and the model is
measured on the frozen fifth (415 appeals, never tuned on): accuracy,
macro-F1, and the share of appeals it would decide without a curator with
the precision of those — by the model's fitted thresholds, or, for a model
that could not be calibrated (a topic with a single appeal leaves every
calibration fold short of it), by ``pipeline.min_confidence`` as the engine
then decides. Every round is measured once; nothing is tuned.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kursk import KURSK_CSV, Appeal, split

from tsur import Engine, Message, Status, load_region
from tsur.cli import main as tsur
from tsur.lifecycle import Lifecycle
from tsur.ml import TextModel, evaluate_predictions
from tsur.ml.train import lemmatize_all

CURATOR = "cur-sim"
START = datetime(2023, 1, 1, 6, 0, tzinfo=UTC)


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def region_file(folder: Path, topics: dict[str, str]) -> Path:
    """A one-territory region with the given topics (id → name) and a topic model."""
    lines = [
        "[region]",
        'code = "46"',
        'name = "Курская область (симуляция)"',
        'timezone = "Europe/Moscow"',
        'territory = "oblast"',
        'curator = "cur"',
        "",
        "[[territories]]",
        'id = "oblast"',
        'name = "Курская область"',
        'kind = "region"',
        "",
    ]
    for tid, name in topics.items():
        lines += ["[[topics]]", f"id = {_toml(tid)}", f"name = {_toml(name[:200])}", ""]
    lines += [
        "[[executors]]",
        'id = "cur"',
        'name = "ЦУР"',
        'kind = "curator"',
        "",
        "[[executors]]",
        'id = "isp"',
        'name = "Исполнитель"',
        'kind = "ministry"',
        "",
        "[[sources]]",
        'id = "portal"',
        'kind = "webhook"',
        'name = "Портал"',
        "",
        "[[routing]]",
        'name = "всё — исполнителю"',
        'executor = "isp"',
        "",
        "[[sla]]",
        'id = "default"',
        'name = "Обычные"',
        'first_response = "8 working hours"',
        'resolution = "10 working days"',
        "",
        "[[models]]",
        'name = "topics"',
        'path = "topics.npz"',
        'target = "topic"',
        "",
    ]
    path = folder / "region.toml"
    path.write_text("\n".join(lines), "utf-8")
    return path


def measure(
    model_path: Path, lemmas: list[Any], truth: list[str], min_confidence: float
) -> dict[str, Any]:
    """The model's figures on the frozen fifth.

    An appeal is decided without a curator as the engine decides it: by the
    model's fitted thresholds when it has them, else (a model left
    uncalibrated) when its confidence reaches ``pipeline.min_confidence``.
    """
    model = TextModel.load(model_path)
    predictions = [model.predict_lemmas(lem) for lem in lemmas]
    known = model.threshold_for(model.labels[0]) is not None
    if known:
        auto = [model.decides_alone(p) for p in predictions]
    else:
        auto = [p.confidence >= min_confidence for p in predictions]
    m = evaluate_predictions(truth, [p.label for p in predictions], auto=auto)
    return {
        "accuracy": round(m.accuracy, 4),
        "macro_f1": round(m.macro_f1, 4),
        "auto_share": None if m.auto_share is None else round(m.auto_share, 4),
        "auto_precision": None if m.auto_precision is None else round(m.auto_precision, 4),
        "auto_rule": "model thresholds" if known else f"confidence ≥ {min_confidence}",
        "labels": len(model.labels),
    }


def curate(
    life: Lifecycle, ids: list[int], truth: dict[str, str], external: dict[int, str]
) -> Counter[str]:
    """The simulated curator reviews the incidents ``ids``; what it did, by kind."""
    did: Counter[str] = Counter()
    for iid in ids:
        inc = life.engine.incident(iid)
        if not inc.status.is_open or not inc.message_ids:
            continue
        mids = sorted(inc.message_ids)
        want = truth[external[mids[0]]]
        strangers = [m for m in mids[1:] if truth[external[m]] != want]
        for topic in sorted({truth[external[m]] for m in strangers}):
            moving = [m for m in strangers if truth[external[m]] == topic]
            life.split(iid, moving, actor=CURATOR, reason="другая проблема", topic=topic)
            did["split"] += 1
        inc = life.engine.incident(iid)
        if inc.topic != want:
            life.correct(iid, actor=CURATOR, topic=want, reason="тема по данным")
            did["corrected"] += 1
        else:
            did["right"] += 1
        inc = life.engine.incident(iid)
        if inc.status is Status.TRIAGE:
            life.engine.transition(iid, Status.ROUTED, actor=CURATOR, reason="разобрано куратором")
            did["released"] += 1
    return did


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=KURSK_CSV, help="the Kursk appeals")
    ap.add_argument("--seed-size", type=int, default=200, help="development appeals to start")
    ap.add_argument("--rounds", type=int, default=5, help="batches of the rest of development")
    ap.add_argument(
        "--label",
        choices=("topic", "group"),
        default="topic",
        help="what the region's topics are: the 161 fine topics (default) or the 17 topic groups",
    )
    args = ap.parse_args()
    if not args.csv.is_file():
        print(f"{args.csv} not found: the Kursk appeals are not shipped", file=sys.stderr)
        return 1
    development, frozen = split(args.csv)

    def label(a: Appeal) -> str:
        return a.topic if args.label == "topic" else f"Категория {a.group}"

    names = sorted({label(a) for a in development + frozen})
    ids = {name: f"t{i:03d}" for i, name in enumerate(names)}
    seed, rest = development[: args.seed_size], development[args.seed_size :]
    size = -(-len(rest) // args.rounds)
    batches = [rest[i : i + size] for i in range(0, len(rest), size)]
    print(
        f"Kursk: development {len(development)} (seed {len(seed)}, then {len(batches)} batches "
        f"of ≤{size}), frozen {len(frozen)}; {len(names)} {args.label}s",
        flush=True,
    )
    frozen_lemmas = lemmatize_all([a.text for a in frozen])
    frozen_truth = [ids[label(a)] for a in frozen]
    truth = {a.id: ids[label(a)] for a in development}
    curve: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        region = region_file(folder, {tid: name for name, tid in ids.items()})
        model = folder / "topics.npz"
        db = str(folder / "tsur.db")
        seed_csv = folder / "seed.csv"
        with seed_csv.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((a.text, ids[label(a)]) for a in seed)
        common = ["--config", str(region), "--db", db, "--out", str(model)]
        min_confidence = load_region(region).pipeline.min_confidence
        started = time.perf_counter()
        if tsur(["train", str(seed_csv), *common]) != 0:
            return 1
        totals: Counter[str] = Counter()
        point = {
            "round": 0,
            "seen": 0,
            **measure(model, frozen_lemmas, frozen_truth, min_confidence),
        }
        point |= {"batch_right": None, "corrections": 0, "train_s": 0.0}
        curve.append(point)
        print(json.dumps(point, ensure_ascii=False), flush=True)
        seen = 0
        for n, batch in enumerate(batches, 1):
            clock_at = START + timedelta(days=seen + len(batch) + 1)
            with Engine.from_config(region, db=db, clock=lambda at=clock_at: at) as engine:
                life = Lifecycle(engine, post_replies=False)
                messages = [
                    Message(
                        source="portal",
                        external_id=a.id,
                        text=a.text,
                        created_at=START + timedelta(days=seen + i),
                    )
                    for i, a in enumerate(batch)
                ]
                report = engine.process(messages)
                stored = engine.repository.messages(limit=2**31 - 1)
                external = {sm.id: sm.message.external_id for sm in stored}
                did = curate(life, sorted(set(report.incident_ids)), truth, external)
                life.close()
            seen += len(batch)
            totals += did
            t0 = time.perf_counter()
            if tsur(["train", str(seed_csv), "--from-db", *common]) != 0:
                return 1
            reviewed = did["right"] + did["corrected"]
            point = {
                "round": n,
                "seen": seen,
                **measure(model, frozen_lemmas, frozen_truth, min_confidence),
            }
            point |= {
                "batch_right": round(did["right"] / reviewed, 4) if reviewed else None,
                "corrections": totals["corrected"] + totals["split"],
                "train_s": round(time.perf_counter() - t0, 1),
            }
            curve.append(point)
            print(json.dumps(point, ensure_ascii=False), flush=True)
        elapsed = time.perf_counter() - started
    print()
    print("round  appeals seen  corrections  frozen accuracy  macro-F1  auto share  auto prec.")
    for p in curve:
        share = "—" if p["auto_share"] is None else f"{p['auto_share']:.1%}"
        prec = "—" if p["auto_precision"] is None else f"{p['auto_precision']:.1%}"
        print(
            f"{p['round']:>5}  {len(seed) + p['seen']:>12}  {p['corrections']:>11}  "
            f"{p['accuracy']:>15.4f}  {p['macro_f1']:>8.4f}  {share:>10}  {prec:>10}"
        )
    print(
        json.dumps(
            {
                "benchmark": "feedback",
                "seed": len(seed),
                "frozen": len(frozen),
                "label": args.label,
                "topics": len(names),
                "curator": dict(totals),
                "elapsed_s": round(elapsed, 1),
                "curve": curve,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
