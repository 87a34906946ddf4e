"""Learning from curators: ``tsur train --from-db`` and a model that improves as they correct."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tsur import Engine, Message, bundled_region_path, load_region
from tsur.cli import main
from tsur.config import ModelConfig
from tsur.lifecycle import Lifecycle
from tsur.ml import TextModel, train_model
from tsur.ml.train import lemmatize_all

from .helpers import msg

SMALL = str(bundled_region_path("small"))
#: synthetic appeals of the small region: a topic, a phrase the keyword rules miss
PHRASES = {
    "roads": ["колея по всей проезжей части", "выбоины на проезжей части", "разбита обочина"],
    "zhkh.heating": ["в квартире плюс четырнадцать", "радиаторы ледяные", "стояк не греет"],
    "transport": ["двенадцатый не пришёл", "интервал сорок минут", "водитель хамит"],
}
PLACES = ["в Тольятти, дом", "в Тольятти на ул. Мира, дом", "в Тольятти, ул. Ленина,"]


def _appeals(n: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        topic = list(PHRASES)[i % 3]
        text = f"{rnd.choice(PHRASES[topic])} {rnd.choice(PLACES)} {rnd.randint(1, 99)}"
        out.append((text.capitalize(), topic))
    return out


NOW = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A store with 12 appeals the keyword rules guessed, 3 of them corrected by a curator."""
    path = str(tmp_path / "tsur.db")
    with Engine.from_config(SMALL, db=path, entry_points=False, clock=lambda: NOW) as engine:
        life = Lifecycle(engine, post_replies=False)
        texts = [
            ("В Тольятти яма на дороге, асфальт разбит", "roads"),
            ("В Тольятти нет отопления, батарея холодная", "zhkh.heating"),
            ("В Тольятти автобус 12 не ходит", "transport"),
            # the rules see a road (дорога) where the curator sees a bus
            ("В Тольятти автобус не доезжает до конечной, дорога перекрыта", "transport"),
        ] * 3
        # a fortnight apart: no two are grouped as one problem
        report = engine.process(
            [
                msg(str(i), t, at=NOW - timedelta(days=14 * (12 - i)))
                for i, (t, _) in enumerate(texts)
            ]
        )
        assert report.created == 12
        for iid, (_, topic) in zip(report.incident_ids, texts, strict=True):
            if engine.incident(iid).topic != topic:
                life.correct(iid, actor="cur-ivanova", topic=topic)
        life.close()
    return path


def test_train_from_db_counts_corrections_and_learns_them(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.npz"
    common = ["--db", db, "--config", SMALL]
    assert main(["train", "--from-db", *common, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "from the store: 12 examples (topic), 3 from curators' corrections" in said
    assert "trained on 12 rows" in said
    model = TextModel.load(out)
    assert set(model.labels) == {"roads", "zhkh.heating", "transport"}
    assert model.meta["from_db"] == {"engine": 9, "corrected": 3}
    # only what curators touched: three corrections, all of one label — too little
    code = main(["train", "--from-db", "--curated-only", *common, "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "too little data" in err and "at least 2 labels" in err
    # executors: the routing of each incident (roads → adm-gorod, heat → teplo, bus → carrier)
    assert main(["train", "--from-db", "--target", "executor", *common, "--out", str(out)]) == 0
    assert set(TextModel.load(out).labels) == {"adm-gorod", "teplo", "carrier"}


def test_train_from_db_with_a_csv_archive_and_since(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "archive.csv"
    with archive.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(_appeals(30, seed=1))
    out = tmp_path / "m.npz"
    common = ["--db", db, "--config", SMALL, "--out", str(out)]
    assert main(["train", str(archive), "--from-db", *common]) == 0
    assert "trained on 42 rows" in capsys.readouterr().out
    # the appeals came on 16.11.2026: nothing since December, the archive alone remains
    assert main(["train", str(archive), "--from-db", "--since", "2026-12-01", *common]) == 0
    said = capsys.readouterr().out
    assert "from the store: 0 examples" in said and "trained on 30 rows" in said
    # since 1 November: the three corrected long ago (corrected today), all buses — too little
    assert main(["train", "--from-db", "--since", "2026-11-01", *common]) == 2
    assert "3 examples with 1 distinct labels (only 'transport')" in capsys.readouterr().err
    # since 1 October, 10:00 Samara time: three more appeals came, of other topics
    assert main(["train", "--from-db", "--since", "2026-10-01T10:00:00+04:00", *common]) == 0
    said = capsys.readouterr().out
    assert "from the store: 5 examples (topic), 3 from curators' corrections" in said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-db", "--since", "вчера"], "is not a date"),
        (["--from-db", "--since", "2026-11-01T10:00:00"], "needs a UTC offset"),
        (["--from-db", "--since", "0001-01-01"], "outside 1970–2100"),
        (["--from-db", "--target", "urgency"], "invalid choice"),
        ([], "give a labelled CSV, --from-db, or both"),
        (["--since", "2026-11-01"], "--since and --curated-only go with --from-db"),
    ],
)
def test_hostile_train_arguments(
    db: str, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.npz"
    try:
        code = main(["train", *args, "--db", db, "--config", SMALL, "--out", str(out)])
    except SystemExit as exc:  # argparse refuses a malformed argument
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_train_from_an_empty_or_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = str(tmp_path / "empty.db")
    Engine.from_config(SMALL, db=empty, entry_points=False).close()
    out = tmp_path / "m.npz"
    assert main(["train", "--from-db", "--db", empty, "--config", SMALL, "--out", str(out)]) == 2
    assert "too little data to train: 0 examples" in capsys.readouterr().err
    missing = str(tmp_path / "missing.db")
    assert main(["train", "--from-db", "--db", missing, "--config", SMALL, "--out", str(out)]) == 2
    assert "error" in capsys.readouterr().err
    assert not out.exists() and not Path(missing).exists()


# a simulation: the model improves as the curator corrects -----------------------------------
def test_accuracy_rises_as_the_curators_corrections_accumulate(tmp_path: Path) -> None:
    """A model seeded on six appeals classifies a stream; a curator corrects its mistakes
    through the lifecycle; the model retrained from the store does better on held-out
    appeals than the seed model."""
    region = load_region(SMALL)
    # no keyword rules: the model alone classifies
    topics = [t.model_copy(update={"keywords": [], "seasonal": []}) for t in region.topics]
    model_path = tmp_path / "topics.npz"
    config = region.model_copy(
        update={"topics": topics, "models": [ModelConfig(name="m", path=str(model_path))]}
    )
    seed = _appeals(6, seed=2)
    stream = _appeals(30, seed=3)
    held_out = _appeals(30, seed=4)
    held_lemmas = lemmatize_all([t for t, _ in held_out])

    def accuracy(model: TextModel) -> float:
        pairs = zip(held_lemmas, held_out, strict=True)
        return sum(model.predict_lemmas(lem).label == y for lem, (_, y) in pairs) / len(held_out)

    model = train_model([t for t, _ in seed], [y for _, y in seed])
    model.save(model_path)
    before = accuracy(model)
    db = str(tmp_path / "sim.db")
    start = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
    corrected = 0
    for round_ in range(2):
        batch = stream[round_ * 15 : (round_ + 1) * 15]
        with Engine.from_config(config, db=db, entry_points=False) as engine:
            life = Lifecycle(engine, post_replies=False)
            messages = [
                Message(
                    source="portal",
                    external_id=f"{round_}-{i}",
                    text=text,
                    created_at=start + timedelta(days=round_ * 15 + i),
                )
                for i, (text, _) in enumerate(batch)
            ]
            report = engine.process(messages)
            truth = dict(batch)
            for iid in sorted(set(report.incident_ids)):
                inc = engine.incident(iid)
                first = engine.repository.messages_by_id(inc.message_ids[:1])[0]
                if inc.topic != truth[first.message.text]:
                    life.correct(iid, actor="cur-sim", topic=truth[first.message.text])
                    corrected += 1
            examples = life.labelled_examples("topic")
            life.close()
        model = train_model(
            [t for t, _ in seed] + [e.text for e in examples],
            [y for _, y in seed] + [e.label for e in examples],
        )
        model.save(model_path)
    after = accuracy(model)
    assert corrected > 0
    assert after > before
    assert after >= 0.9
