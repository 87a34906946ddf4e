"""Incidents for the work API's tests, made the engine's way: messages ingested and processed.

In the small region a pothole in Тольятти goes to the city's administration
(territory ``gorod``, executor ``adm-gorod``) and a cold radiator in Сызрань
to the heating utility (territory ``sela``, executor ``teplo``). Every
incident asked for gets an address of its own, so none are grouped together;
the messages of one incident share theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from tsur import Engine, Message

from .helpers import SAMARA


@attrs.frozen
class Town:
    """Where an incident is, who it goes to, and the problem its messages describe."""

    name: str
    territory: str
    executor: str
    topic: str
    problem: str


GOROD = Town("Тольятти", "gorod", "adm-gorod", "roads", "глубокая яма на дороге")
SELA = Town("Сызрань", "sela", "teplo", "zhkh.heating", "батарея холодная в квартире")
TOWNS = {"gorod": GOROD, "sela": SELA}

#: A final answer that passes the «отписка» check: an action done, with its date.
CONCRETE = "Яма у дома заделана 17.11.2026 литым асфальтом, работы приняты."
_STREETS = ("Ленина", "Мира", "Гагарина", "Победы", "Свердлова", "Кирова", "Жукова", "Садовая")


@attrs.frozen
class Spec:
    """One incident to make: its town, source (``vk`` or ``written``) and number of messages."""

    town: Town
    source: str = "vk"
    messages: int = 1


@attrs.frozen
class Made:
    """A made incident: its id and its messages' ids (oldest first)."""

    id: int
    message_ids: tuple[int, ...]


class IncidentMaker:
    """Makes incidents in batches; addresses never repeat within one maker."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0

    def make(self, specs: Sequence[Spec]) -> list[Made]:
        """Ingest the specs' messages, process them, and return one incident per spec."""
        start = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
        batch: list[Message] = []
        keys: list[list[str]] = []
        for spec in specs:
            self.count += 1
            n = self.count
            address = f"{spec.town.name}, ул. {_STREETS[n % len(_STREETS)]}, д. {n}"
            mine = []
            for j in range(spec.messages):
                ext = f"w{n}-{j}"
                text = f"{address}: {spec.town.problem}" + (", до сих пор не сделано" if j else "")
                batch.append(
                    Message(
                        source=spec.source,
                        external_id=ext,
                        text=text,
                        created_at=start + timedelta(seconds=n * 10 + j),
                    )
                )
                mine.append(ext)
            keys.append(mine)
        self.engine.ingest(batch)
        self.engine.run()
        stored = {
            sm.message.external_id: sm
            for sm in self.engine.repository.messages(limit=100_000)
            if sm.message.external_id in {k for ks in keys for k in ks}
        }
        made = []
        for spec, exts in zip(specs, keys, strict=True):
            ids = {stored[e].incident_id for e in exts}
            assert len(ids) == 1 and None not in ids, (spec, ids)
            incident_id = ids.pop()
            assert incident_id is not None
            inc = self.engine.incident(incident_id)
            assert (inc.territory, inc.executor) == (spec.town.territory, spec.town.executor), inc
            made.append(Made(incident_id, tuple(stored[e].id for e in exts)))
        assert len({m.id for m in made}) == len(made), "two specs were grouped into one incident"
        return made
