"""Embed tsur: the bundled Samara oblast region, an in-memory database, three messages.

Run: python examples/embed_minimal.py
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import tsur

SAMARA = timezone(timedelta(hours=4))

MESSAGES = [
    tsur.Message(
        source="vk",
        external_id="wall-100_501",
        created_at=datetime(2026, 11, 16, 8, 12, tzinfo=SAMARA),
        text="Тольятти, ул. Юбилейная, 31: во дворе открытый люк, колодец без крышки, "
        "ребёнок чуть не упал! Закройте срочно",
    ),
    tsur.Message(
        source="pos",
        external_id="pos-2026-000431",
        created_at=datetime(2026, 11, 16, 9, 40, tzinfo=SAMARA),
        text="В Самаре в доме по ул. Ново-Садовая, 24 третью неделю нет отопления, "
        "батареи холодные, в квартире +15. Прошу разобраться.",
    ),
    tsur.Message(
        source="hotline",
        external_id="call-0934",
        created_at=datetime(2026, 11, 16, 10, 5, tzinfo=SAMARA),
        text="Звонок на линию 122: в Сызрани автобус маршрута № 2 утром не пришёл, "
        "на остановке на ул. Советской люди ждали больше часа.",
    ),
]


def main() -> None:
    """Process the messages and print each incident the engine made."""
    logging.basicConfig(level=logging.WARNING)  # the application decides what tsur's logs show
    with tsur.Engine.from_config(db=":memory:") as engine:  # no region file: the bundled one
        report = engine.process(MESSAGES)
        region = engine.region
        for incident_id in report.incident_ids:
            i = engine.incident(incident_id)
            topic = region.topic_name(i.topic) if i.topic else "тема не определена"
            place = region.territory_name(i.territory) if i.territory else "территория не найдена"
            executor = region.executor_name(i.executor)
            print(f"№ {i.id} ({i.status.label}) {topic} — {place} → {executor}")
            if i.first_response_due is not None:
                due = i.first_response_due.astimezone(engine.calendar.tz)
                print(f"    {i.urgency.label}; первый ответ до {due:%d.%m.%Y %H:%M}")


if __name__ == "__main__":
    main()
