"""Trainable text models: training, the file format, metrics, the engine and the CLI."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tsur import Engine, PluginError, open_repository
from tsur.cli import main
from tsur.errors import IngestError, ModelError
from tsur.ml import TextModel, evaluate_predictions, read_labelled_csv, train_model
from tsur.ml.train import cross_validate, lemmatize_all

from .helpers import msg

PLACES = ["в Тольятти", "в Сызрани", "на улице Мира", "у дома 5", "во дворе", "в Смышляевке"]
TOPICS = {
    "roads": [
        "яма на дороге",
        "разбит асфальт",
        "провалился асфальт",
        "глубокие ямы",
        "дорогу не ремонтируют",
        "колея на дороге",
    ],
    "heating": [
        "нет отопления",
        "холодные батареи",
        "батареи чуть теплые",
        "отопление не дали",
        "в квартире холодно",
        "стояк отопления не греет",
    ],
    "transport": [
        "автобус не пришел",
        "маршрутка не ходит",
        "большие интервалы автобусов",
        "отменили маршрут",
        "водитель автобуса грубит",
        "трамвай не ходит",
    ],
}
TAILS = ["", "уже неделю", "примите меры", "сколько можно", "третий день", "помогите"]


def _rows(n: int, seed: int = 3) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        label = list(TOPICS)[i % 3]
        text = f"{rnd.choice(TOPICS[label])} {rnd.choice(PLACES)} {rnd.choice(TAILS)}".strip()
        out.append((text.capitalize(), label))
    return out


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ml") / "appeals.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Текст", "Тема"])
        for text, label in _rows(150):
            w.writerow([f"<p>{text}</p>", label])
        w.writerow(["", "roads"])  # no text: skipped
    return path


@pytest.fixture(scope="module")
def model(data_csv: Path) -> TextModel:
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    return train_model(d.texts, d.labels)


def test_csv_reading_strips_html_and_counts_skips(data_csv: Path) -> None:
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    assert len(d) == 150 and d.skipped == 1
    assert not any("<p>" in t for t in d.texts)
    with pytest.raises(IngestError, match="no column 'text'; columns are: Текст, Тема"):
        read_labelled_csv(data_csv, text_column="text", label_column="Тема")


def test_model_predicts_unseen_texts_with_evidence(model: TextModel) -> None:
    preds = model.predict(
        [
            "Огромная яма на дороге возле школы",
            "Батареи ледяные, отопления нет",
            "Автобус 41 опять не пришёл",
        ]
    )
    assert [p.label for p in preds] == ["roads", "heating", "transport"]
    assert all(0.34 < p.confidence <= 1.0 for p in preds)
    assert "яма" in preds[0].evidence
    assert {lab for lab, _ in preds[0].alternatives} == {"heating", "transport"}


def test_numpy_prediction_equals_scikit_learn(data_csv: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from tsur.ml.model import text_features

    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    lemmas = lemmatize_all(d.texts)
    m = train_model(
        d.texts, d.labels, lemmas=lemmas, calibrate=False, class_weight="none", embeddings=False
    )
    assert not m.uses_embeddings
    vec = TfidfVectorizer(
        analyzer=text_features, sublinear_tf=True, min_df=2, max_features=100_000, dtype=np.float64
    )
    clf = LinearSVC(C=0.5, random_state=0).fit(
        vec.fit_transform(lemmas), [m.labels.index(x) for x in d.labels]
    )
    probe = lemmatize_all(["Холодно в квартире, батареи не греют", "Маршрутку отменили"])
    expected = clf.decision_function(vec.transform(probe))
    got = np.vstack([m.scores(p) for p in probe])
    assert np.allclose(got, expected, atol=1e-9)


def test_save_and_load_round_trip_without_pickle(model: TextModel, tmp_path: Path) -> None:
    path = model.save(tmp_path / "m.npz")
    loaded = TextModel.load(path)
    assert loaded.labels == model.labels and loaded.temperature == model.temperature
    probe = ["Яма во дворе", "Нет отопления третий день"]
    assert [p.label for p in loaded.predict(probe)] == [p.label for p in model.predict(probe)]
    assert loaded.describe()["n"] == 150
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_foreign_or_damaged_files_are_refused(model: TextModel, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        TextModel.load(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="is not a tsur model file"):
        TextModel.load(bad)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, labels=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ModelError):
        TextModel.load(pickled)
    old = tmp_path / "old.npz"
    model.save(old)
    with np.load(old) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.asarray(json.dumps({**meta, "version": 99}))
    np.savez(old, **arrays)
    with pytest.raises(ModelError, match="model version 99, this tsur reads versions 1, 2"):
        TextModel.load(old)


def test_a_version_1_file_still_loads_and_predicts_the_same(data_csv: Path, tmp_path: Path) -> None:
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    m = train_model(d.texts, d.labels, embeddings=False)
    path = m.save(tmp_path / "v1.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    assert "embedding_coef" not in arrays
    arrays["meta"] = np.asarray(json.dumps({**json.loads(str(arrays["meta"])), "version": 1}))
    np.savez(path, **arrays)
    probe = ["Яма во дворе", "Нет отопления третий день", "Автобус не пришел"]
    loaded = TextModel.load(path)
    assert not loaded.uses_embeddings
    assert [p.label for p in loaded.predict(probe)] == ["roads", "heating", "transport"]


@pytest.fixture(scope="module")
def vector_model(data_csv: Path) -> TextModel:
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    return train_model(d.texts, d.labels, embeddings=True)


def test_word_vectors_are_a_second_block_of_the_same_linear_model(
    vector_model: TextModel, data_csv: Path
) -> None:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from tsur.ml.embeddings import embed
    from tsur.ml.model import text_features

    m = vector_model
    assert m.uses_embeddings and m.meta["embeddings"] == "navec_news_v1_1B_250K_300d_100q"
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    lemmas = lemmatize_all(d.texts)
    w = m.meta["embedding_weight"]
    vec = TfidfVectorizer(
        analyzer=text_features, sublinear_tf=True, min_df=2, max_features=100_000, dtype=np.float64
    )
    x = hstack([vec.fit_transform(lemmas), csr_matrix(embed(lemmas) * w)]).tocsr()
    y = [m.labels.index(x) for x in d.labels]
    counts = {k: y.count(k) for k in set(y)}
    weights = {k: (len(y) / (3 * n)) ** 0.5 for k, n in counts.items()}
    clf = LinearSVC(C=0.5, class_weight=weights, random_state=0).fit(x, y)
    probe = lemmatize_all(["Холодно в квартире, батареи не греют", "Маршрутку отменили"])
    px = hstack([vec.transform(probe), csr_matrix(embed(probe) * w)]).tocsr()
    expected = clf.decision_function(px)
    got = np.vstack([m.scores(p) for p in probe])
    assert np.allclose(got, expected, atol=1e-9)
    # one text at a time or a batch: the same answers
    batch = m.predict_many_lemmas(probe)
    assert batch == [m.predict_lemmas(p) for p in probe]


def test_a_model_with_word_vectors_round_trips_and_names_what_it_needs(
    vector_model: TextModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from tsur.ml import embeddings

    path = vector_model.save(tmp_path / "vectors.npz")
    loaded = TextModel.load(path)
    probe = ["Яма во дворе", "Нет отопления третий день", "Автобус не пришел"]
    assert loaded.uses_embeddings
    assert loaded.predict(probe) == vector_model.predict(probe)
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    # without the natasha extra: loading works, predicting says what to install
    monkeypatch.setitem(sys.modules, "natasha", None)
    embeddings.navec.cache_clear()
    try:
        model = TextModel.load(path)
        with pytest.raises(ModelError, match=r"pip install 'tsur\[natasha\]'"):
            model.predict(probe)
        d_texts = probe * 30
        d_labels = ["roads", "heating", "transport"] * 30
        with pytest.raises(ModelError, match=r"pip install 'tsur\[natasha\]'"):
            train_model(d_texts, d_labels, embeddings=True, calibrate=False)
        # by default a model is trained with what is installed
        assert not train_model(d_texts, d_labels, calibrate=False).uses_embeddings
    finally:
        embeddings.navec.cache_clear()


def test_metrics_against_hand_computed_values() -> None:
    m = evaluate_predictions(["a", "a", "a", "b"], ["a", "a", "b", "b"])
    assert m.accuracy == 0.75
    a = next(c for c in m.per_class if c.label == "a")
    b = next(c for c in m.per_class if c.label == "b")
    assert (a.precision, a.recall) == (1.0, pytest.approx(2 / 3))
    assert (b.precision, b.recall) == (0.5, 1.0)
    assert m.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    assert m.weighted_f1 == pytest.approx((0.8 * 3 + 2 / 3) / 4)
    assert m.confusions == (("a", "b", 1),)


def test_cross_validation_is_stratified_and_out_of_fold(data_csv: Path) -> None:
    d = read_labelled_csv(data_csv, text_column="Текст", label_column="Тема")
    metrics, predicted = cross_validate(d.texts, d.labels, 3)
    assert len(predicted) == len(d) and metrics.n == 150
    assert metrics.accuracy > 0.85
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_validate(d.texts, d.labels, 1)


def test_cli_train_and_eval(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "topics.npz"
    args = [str(data_csv), "--text-column", "Текст", "--label-column", "Тема"]
    assert main(["train", *args, "--out", str(out)]) == 0
    assert "trained on 150 rows (1 skipped), 3 labels" in capsys.readouterr().out
    assert main(["eval", *args, "--model", str(out), "--json"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "weighted_f1", "n"} <= set(last) and last["n"] == 150
    assert last["accuracy"] > 0.9
    assert main(["eval", *args, "--cv", "3", "--json"]) == 0
    cv = capsys.readouterr().out
    assert "3-fold cross-validation" in cv and "per class" in cv
    assert main(["eval", *args]) == 2
    assert "give either --model MODEL or --cv K" in capsys.readouterr().err


def _region_with_models(small_region: Any, models: list[dict[str, Any]]) -> Any:
    from tsur.config import ModelConfig

    return small_region.model_copy(update={"models": [ModelConfig(**m) for m in models]})


def test_a_topic_model_votes_in_the_engine(
    model: TextModel, small_region: Any, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "t.npz")
    cfg = _region_with_models(
        small_region,
        [
            {
                "name": "topics",
                "path": str(path),
                "weight": 2.0,
                "labels": {"heating": "zhkh.heating"},
            }
        ],
    )
    eng = Engine(cfg, open_repository(":memory:"), entry_points=False)
    assert "topics" in eng.components.names("classifiers")
    eng.process([msg("1", "Колея и выбоины по всей проезжей части в Тольятти")])
    (inc,) = eng.incidents()
    assert inc.topic == "roads"
    classified = next(e for e in eng.incident(inc.id).history if e.to_status == "classified")
    assert "topics" in classified.actor


def test_an_executor_model_routes_before_the_rules(
    model: TextModel, small_region: Any, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "e.npz")
    cfg = _region_with_models(
        small_region,
        [
            {
                "name": "who",
                "path": str(path),
                "target": "executor",
                "min_confidence": 0.4,
                "labels": {"roads": "adm-sela", "heating": "teplo", "transport": "carrier"},
            }
        ],
    )
    eng = Engine(cfg, open_repository(":memory:"), entry_points=False)
    eng.process([msg("1", "В Тольятти огромная яма на дороге, асфальт разбит")])
    (inc,) = eng.incidents()
    assert inc.executor == "adm-sela"  # the model's choice, not the rule's adm-gorod
    routed = next(e for e in eng.incident(inc.id).history if e.to_status == "routed")
    assert routed.actor == "who" and routed.reason.startswith("model who (")


def test_unmapped_model_labels_are_a_clear_error(
    model: TextModel, small_region: Any, tmp_path: Path
) -> None:
    path = model.save(tmp_path / "u.npz")
    cfg = _region_with_models(small_region, [{"name": "topics", "path": str(path)}])
    with pytest.raises(PluginError, match="labels 'heating' are not topic ids"):
        Engine(cfg, open_repository(":memory:"), entry_points=False)


def test_a_region_whose_model_needs_word_vectors_says_so_at_start_up(
    vector_model: TextModel, small_region: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from tsur.ml import embeddings

    path = vector_model.save(tmp_path / "needs-vectors.npz")
    cfg = _region_with_models(
        small_region,
        [{"name": "topics", "path": str(path), "labels": {"heating": "zhkh.heating"}}],
    )
    monkeypatch.setitem(sys.modules, "natasha", None)
    embeddings.navec.cache_clear()
    try:
        with pytest.raises(PluginError, match=r"'topics'.*pip install 'tsur\[natasha\]'"):
            Engine(cfg, open_repository(":memory:"), entry_points=False)
    finally:
        embeddings.navec.cache_clear()
    monkeypatch.delitem(sys.modules, "natasha")
    eng = Engine(cfg, open_repository(":memory:"), entry_points=False)
    eng.process([msg("1", "Колея и выбоины по всей проезжей части в Тольятти")])
    (inc,) = eng.incidents()
    assert inc.topic == "roads"


def test_training_says_what_the_model_may_decide_alone(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "topics.npz"
    args = [str(data_csv), "--text-column", "Текст", "--label-column", "Тема"]
    assert main(["train", *args, "--out", str(out), "--word-vectors", "no"]) == 0
    printed = capsys.readouterr().out
    meta = TextModel.load(out).meta
    share = meta["held_out_auto_share"]
    assert 0.0 <= share <= 1.0
    assert meta["calibration_n"] == 150
    if meta["auto_threshold"] is None and not any(meta["class_thresholds"].values()):
        assert "95% precision: not reached on 150 held-out texts" in printed
    else:
        assert f"95% precision fitted on 150 held-out texts: {share:.1%} of them" in printed
    assert "not calibrated" not in printed


def test_a_model_of_a_handful_of_rows_is_trained_with_warnings_said_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # twenty labels for thirty rows: scikit-learn warns; pytest turns warnings into errors,
    # so this passes only if the warning is caught and said our way
    path = tmp_path / "tiny.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(30):
            w.writerow([f"яма на дороге не ремонтируют {'асфальт' if i % 2 else 'фонарь'}", i % 20])
    out = tmp_path / "tiny.npz"
    assert main(["train", str(path), "--out", str(out), "--word-vectors", "no"]) == 0
    printed = capsys.readouterr().out
    assert "not calibrated" in printed
    assert "very few rows (30; 20 of 20 labels have fewer than 5)" in printed
    assert "more than half as many labels as rows" in printed
    assert TextModel.load(out).meta["fit_warnings"]


def test_texts_without_a_shared_word_are_refused_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nа,x\nб,y\n", encoding="utf-8")
    assert main(["train", str(path), "--out", str(tmp_path / "m.npz"), "--word-vectors", "no"]) == 2
    assert "too little text to train on" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_eval_help_names_the_figures_of_deciding_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "auto_share" in text and "auto_precision" in text


def test_a_labelled_csv_is_masked_as_it_is_read(tmp_path: Path) -> None:
    """A model file keeps words of its texts: a citizen's phone and name in an archive must
    never become one of its features."""
    path = tmp_path / "signed.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Текст", "Тема"])
        for i, (text, label) in enumerate(_rows(80)):
            w.writerow([f"{text}. Иванов Пётр Сергеевич, тел. +7 917 123-45-{i % 90 + 10}", label])
    d = read_labelled_csv(path, text_column="Текст", label_column="Тема")
    assert all("917" not in t and "Иванов" not in t for t in d.texts)
    assert all("[телефон]" in t for t in d.texts)
    m = train_model(d.texts, d.labels, calibrate=False, embeddings=False)
    assert not [f for f in m.features if "иванов" in f or "917" in f]
    raw = read_labelled_csv(path, text_column="Текст", label_column="Тема", mask=False)
    assert all("+7 917" in t for t in raw.texts)  # the caller's explicit choice
