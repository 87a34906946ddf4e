"""The Kursk appeals beside the repository, split once into a development part and a frozen fifth.

``../shared/data/kursk/appeals.csv`` (or ``TSUR_KURSK_CSV``; 2,000 labelled appeals; not shipped)
is split by a hash of each appeal's id: the rows whose SHA-256 is 0 modulo 5
(415 appeals) are the *frozen* part. Nothing is tuned on it — no feature,
threshold, parameter or rule is chosen by looking at it; every figure
reported as "Kursk held-out" is measured there, by a model trained on the
development part only. Tuning uses cross-validation inside the development
part.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import attrs

from tsur.ml.data import clean_text

REPO = Path(__file__).resolve().parent.parent
#: The archive: ``TSUR_KURSK_CSV`` if set, else ``../shared/data/kursk/appeals.csv``.
KURSK_CSV = Path(
    os.environ.get("TSUR_KURSK_CSV") or REPO.parent / "shared" / "data" / "kursk" / "appeals.csv"
)

TEXT, TOPIC, EXECUTOR, GROUP = "Текст Сообщения", "Тематика", "Ответственное лицо", "Категория"


@attrs.frozen
class Appeal:
    """One labelled appeal: its id, cleaned text, fine topic, executor and topic group."""

    id: str
    text: str
    topic: str
    executor: str
    group: str


def is_frozen(appeal_id: str) -> bool:
    """True for the appeals of the frozen fifth."""
    return int(hashlib.sha256(appeal_id.encode()).hexdigest(), 16) % 5 == 0


def load(path: Path = KURSK_CSV) -> list[Appeal]:
    """Every appeal with a text, in file order."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [
            Appeal(r["id"], clean_text(r[TEXT] or ""), r[TOPIC], r[EXECUTOR], r[GROUP])
            for r in csv.DictReader(f)
        ]
    return [a for a in rows if a.text]


def split(path: Path = KURSK_CSV) -> tuple[list[Appeal], list[Appeal]]:
    """(development, frozen)."""
    rows = load(path)
    return [a for a in rows if not is_frozen(a.id)], [a for a in rows if is_frozen(a.id)]
