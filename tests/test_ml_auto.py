"""Deciding when to decide: a model acts alone only where it was right 19 times in 20.

The rule: from held-out predictions made when the model is trained, the
lowest confidence at which its answers are at least 95% precise becomes
its threshold (per label where there are enough of them); the engine routes
a topic above it and sends the rest to a curator; an evaluation says what
share would be decided alone and how precise that part is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tsur import Engine, Status
from tsur.cli import main
from tsur.ml.data import read_labelled_csv
from tsur.ml.metrics import auto_curve, auto_threshold, evaluate_predictions
from tsur.ml.model import TextModel
from tsur.ml.train import cross_validate, train_model
from tsur.store.sql import open_repository

from .helpers import msg
from .test_ml import _region_with_models, _rows


def test_the_threshold_is_the_widest_cut_that_keeps_the_precision() -> None:
    # 40 predictions, best first: the first 30 all right, then 10 at 0.5 with 5 wrong
    conf = [1.0 - i / 100 for i in range(30)] + [0.5] * 10
    ok = [True] * 30 + [True, False] * 5
    # top 30: precision 1.0; all 40: 35/40 = 0.875
    assert auto_threshold(conf, ok, 0.95) == pytest.approx(0.71)
    assert auto_threshold(conf, ok, 0.85) == 0.5
    # a cut never splits equal confidences: 10 ties at 0.5 go in or out together
    assert auto_threshold([0.5] * 40, [True] * 39 + [False], 0.99) is None
    # too few predictions to show a precision
    assert auto_threshold([0.9] * 5, [True] * 5, 0.95) is None
    assert auto_threshold([0.9] * 5, [True] * 5, 0.95, min_support=5) == 0.9
    # never precise enough: nothing is decided alone
    assert auto_threshold([0.9] * 40, [True, False] * 20, 0.95) is None


def test_auto_precision_and_share_count_only_what_is_decided_alone() -> None:
    truth = ["a", "a", "b", "b", "c"]
    predicted = ["a", "b", "b", "b", "a"]
    m = evaluate_predictions(truth, predicted, auto=[True, True, True, False, False])
    assert m.auto_share == pytest.approx(3 / 5)
    assert m.auto_precision == pytest.approx(2 / 3)
    assert evaluate_predictions(truth, predicted, auto=[False] * 5).auto_precision is None
    assert evaluate_predictions(truth, predicted).as_dict()["auto_share"] is None
    curve = auto_curve([0.9] * 20 + [0.4] * 20, [True] * 20 + [False] * 20, targets=(0.95, 0.5))
    assert curve[0]["threshold"] == 0.9 and curve[0]["share"] == 0.5
    assert curve[0]["precision"] == 1.0
    assert curve[1]["threshold"] == 0.4 and curve[1]["share"] == 1.0


@pytest.fixture(scope="module")
def texts_labels() -> tuple[list[str], list[str]]:
    rows = _rows(240, seed=11)
    return [t for t, _ in rows], [lab for _, lab in rows]


def test_training_fits_thresholds_from_held_out_predictions(
    texts_labels: tuple[list[str], list[str]],
) -> None:
    texts, labels = texts_labels
    model = train_model(texts, labels)
    assert model.meta["target_precision"] == 0.95
    for label in model.labels:
        t = model.threshold_for(label)
        assert t is not None and 0.0 < t <= 1.0
    p = model.predict([texts[0]])[0]
    assert model.decides_alone(p) is (p.confidence >= model.threshold_for(p.label))  # type: ignore[operator]
    # uncalibrated: no opinion, the region's threshold applies
    plain = train_model(texts, labels, calibrate=False)
    assert plain.threshold_for(labels[0]) is None and not plain.decides_alone(p)


def test_a_label_never_precise_enough_is_never_decided_alone(
    texts_labels: tuple[list[str], list[str]],
) -> None:
    texts, labels = texts_labels
    model = train_model(texts, labels)
    model.meta["class_thresholds"] = {**model.meta["class_thresholds"], "roads": None}
    assert model.threshold_for("roads") == math.inf
    p = model.predict(["Яма на дороге в Тольятти"])[0]
    assert p.label == "roads" and not model.decides_alone(p)


def test_every_text_counts_in_calibration_even_with_a_label_seen_once(
    texts_labels: tuple[list[str], list[str]],
) -> None:
    # one text of a fourth label: the model trained without it cannot predict it,
    # and that is a held-out prediction like any other (not a reason to drop its fold)
    texts, labels = texts_labels
    texts = [*texts, "Сосулька свисает с крыши дома 5"]
    labels = [*labels, "icicles"]
    model = train_model(texts, labels, calibration_folds=5)
    assert model.meta["calibration_folds"] == 5
    assert model.meta["calibration_n"] == len(texts)
    assert 0.0 < model.temperature < 2.5
    assert model.threshold_for("roads") is not None
    with pytest.raises(ValueError, match="at least 2"):
        train_model(texts, labels, calibration_folds=1)


def test_cross_validation_reports_what_would_be_decided_alone(
    texts_labels: tuple[list[str], list[str]],
) -> None:
    texts, labels = texts_labels
    metrics, _ = cross_validate(texts, labels, 3)
    d = metrics.as_dict()
    assert 0.0 <= d["auto_share"] <= 1.0
    assert d["auto_precision"] is None or d["auto_precision"] >= 0.0
    assert [c["target"] for c in d["auto_curve"]][:2] == [0.8, 0.85]


def _engine(model: TextModel, small_region: Any, tmp_path: Path, **pipeline: Any) -> Engine:
    path = model.save(tmp_path / "t.npz")
    cfg = _region_with_models(
        small_region,
        [
            {
                "name": "topics",
                "path": str(path),
                "weight": 5.0,
                "labels": {"heating": "zhkh.heating"},
            }
        ],
    )
    if pipeline:
        cfg = cfg.model_copy(update={"pipeline": cfg.pipeline.model_copy(update=pipeline)})
    return Engine(cfg, open_repository(":memory:"), entry_points=False)


TEXT = "Колея и выбоины по всей проезжей части в Тольятти"


def test_below_its_threshold_the_model_sends_the_incident_to_a_curator(
    texts_labels: tuple[list[str], list[str]], small_region: Any, tmp_path: Path
) -> None:
    texts, labels = texts_labels
    model = train_model(texts, labels)
    model.meta["class_thresholds"] = {**model.meta["class_thresholds"], "roads": None}
    with _engine(model, small_region, tmp_path) as eng:
        eng.process([msg("1", TEXT)])
        (inc,) = eng.incidents()
        assert inc.status is Status.TRIAGE and inc.topic == "roads"
        triage = next(e for e in eng.incident(inc.id).history if e.to_status == "triage")
        assert "модель не уверена в теме" in triage.reason


def test_above_its_threshold_the_model_routes_whatever_the_region_default(
    texts_labels: tuple[list[str], list[str]], small_region: Any, tmp_path: Path
) -> None:
    texts, labels = texts_labels
    model = train_model(texts, labels)
    model.meta["class_thresholds"] = {**model.meta["class_thresholds"], "roads": 0.0}
    with _engine(model, small_region, tmp_path, min_confidence=0.999) as eng:
        eng.process([msg("1", TEXT)])
        (inc,) = eng.incidents()
        assert inc.topic == "roads" and inc.status is Status.ROUTED


def test_eval_prints_and_reports_the_automatic_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    rows = _rows(180, seed=5)
    data.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows), encoding="utf-8")
    model_path = tmp_path / "m.npz"
    assert main(["train", str(data), "--out", str(model_path)]) == 0
    capsys.readouterr()
    assert main(["eval", str(data), "--model", str(model_path), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert {"auto_precision", "auto_share", "accuracy", "macro_f1", "weighted_f1", "n"} <= set(
        report
    )
    assert "decided without a curator:" in out
    assert read_labelled_csv(data, text_column="text", label_column="label").labels
