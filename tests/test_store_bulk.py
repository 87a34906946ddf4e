"""Bulk writes store exactly what the portable statements store, on SQLite and PostgreSQL.

The same messages go through two engines with a frozen clock: one whose
repository writes in bulk (``COPY`` and array statements on PostgreSQL,
``executemany`` with ids assigned up front on SQLite), one with portable
SQLAlchemy statements only. Every table must come out identical, row for
row and id for id, JSON text included. Hostile text (tabs, line breaks,
backslashes, COPY's own ``\\N``, quotes, every script) must come back as it
went in; what the database cannot store is refused per row, the rest kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tsur import Author, Engine, Message, RegionConfig, Status
from tsur.store import schema, sql
from tsur.store.sql import SqlRepository, normalize_url
from tsur.testing import FixedClock
from tsur.wire import message_from_dict, message_to_dict

from .conftest import PgSchema, require_pg
from .helpers import SAMARA, WORKLOAD_TEXTS, msg

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=SAMARA)
HOSTILE = [
    "Тольятти, ул. Мира 5:\tяма\tна дороге\nвторая строка\r\nтретья",
    "Сызрань, остановка \\N автобус не пришёл, путь C:\\temp\\new и \\\\сервер",
    "Смышляевка, дом \"5\" — 'яма' ; DROP TABLE messages; -- \\x00 не NUL",
    "Тольятти, поликлиника: emoji 🚑🏥, 中文, עברית, ﷽, \u2028\u2029 разделители",
    "Спасибо\tза работу!\n",
]
TEXTS = WORKLOAD_TEXTS


def _first_wave() -> list[Message]:
    anna = Author("42", "Анна\tИванова")
    out = [
        msg(f"h{i}", text, at=T0 + timedelta(minutes=i), author=anna if i == 0 else None)
        for i, text in enumerate(HOSTILE)
    ]
    out += [
        msg(
            str(i),
            TEXTS[i % len(TEXTS)].format(n=i % 7),
            source=("vk", "written")[i % 2],
            at=T0 + timedelta(minutes=10 + i),
        )
        for i in range(60)
    ]
    # replies in a thread join its incident; a repeat of a key is skipped
    out += [msg("r1", "и во дворе тоже холодно", parent_id="0", at=T0 + timedelta(hours=2))]
    out += [msg("0", "повтор того же сообщения", at=T0)]
    return out


def _second_wave() -> list[Message]:
    """After some incidents are resolved: replies and repeats reopen them."""
    return [
        msg("c1", "яму так и не заделали, всё как было", parent_id="h0", at=T0 + timedelta(days=2)),
        msg(
            "c2",
            "Тольятти, дорога у дома Мира 5 опять разбита, ямы",
            author=Author("42", "Анна"),
            at=T0 + timedelta(days=3),
        ),
        *[
            msg(f"w{i}", TEXTS[i % 4].format(n=i % 3), at=T0 + timedelta(days=2, minutes=i))
            for i in range(20)
        ],
    ]


def _run(region: RegionConfig, url: str, bulk: bool) -> None:
    """Both waves on ``url``: ingested, processed in small batches, resolved, delivered."""
    clock = FixedClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))
    repo = SqlRepository(normalize_url(url), bulk=bulk)
    repo.migrate()
    with Engine(region, repo, entry_points=False, clock=clock) as engine:
        engine.ingest(_first_wave())
        engine.run(batch_size=7)  # batches join incidents earlier batches stored
        for inc in engine.incidents(status=["routed"])[::3]:
            assert inc.id is not None
            engine.transition(inc.id, Status.RESOLVED, actor="adm", reason="сделано")
        clock.advance(days=3)
        engine.ingest(_second_wave())
        engine.run(batch_size=5)
        engine.ingest([msg("late", "Сызрань, остановка 2: автобуса нет", at=T0)])
        engine.run()


def _dump(url: str) -> dict[str, list[Any]]:
    """Every tsur table, rows in id order, each value as the database holds it."""
    engine = sa.create_engine(normalize_url(url))
    out: dict[str, list[Any]] = {}
    try:
        with engine.connect() as conn:
            for table in schema.metadata.sorted_tables:
                if table is schema.schema_version:
                    continue
                key = ", ".join(c.name for c in table.primary_key.columns)
                if conn.dialect.name == "postgresql":  # the row's text: JSON exactly as stored
                    sql = f"SELECT t::text FROM {table.name} t ORDER BY {key}"
                else:
                    sql = f"SELECT * FROM {table.name} ORDER BY {key}"
                out[table.name] = [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def two_dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "bulk.db"), str(tmp_path / "portable.db")
        return
    require_pg()
    schemas = [PgSchema(), PgSchema()]
    try:
        yield schemas[0].url, schemas[1].url
    finally:
        for s in schemas:
            s.drop()


def test_bulk_writes_store_what_portable_statements_store(
    two_dbs: tuple[str, str], small_region: RegionConfig
) -> None:
    bulk_url, portable_url = two_dbs
    _run(small_region, bulk_url, bulk=True)
    _run(small_region, portable_url, bulk=False)
    got, want = _dump(bulk_url), _dump(portable_url)
    assert set(got) == set(want)
    for table in want:
        assert got[table] == want[table], table
    # the run exercised what it is meant to: new incidents, joins, reopenings, thanks, outbox
    assert len(want["incidents"]) >= 5 and len(want["notifications"]) >= 5
    assert len(want["messages"]) == len({m.key for m in _first_wave()}) + 23
    engine = sa.create_engine(normalize_url(portable_url))
    with engine.connect() as conn:
        E, M = schema.events, schema.messages
        kinds = set(conn.execute(sa.select(E.c.kind, E.c.to_status).distinct()).all())
        statuses = set(conn.execute(sa.select(M.c.status).distinct()).scalars())
    engine.dispose()
    assert {("message_added", None), ("status", "reopened")} <= kinds
    assert statuses == {"done", "thanked"}


def test_hostile_text_comes_back_as_it_went_in(db_url: str) -> None:
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    try:
        sent = _first_wave()[: len(HOSTILE)]
        result = repo.ingest(sent, received_at=T0)
        assert result.count == len(HOSTILE) and not result.failed
        got = {s.message.external_id: s.message for s in repo.messages()}
        for m in sent:  # as the wire format reads it back (it trims the text's ends)
            assert got[m.external_id] == message_from_dict(message_to_dict(m))
        with repo.engine.connect() as conn:
            q = sa.select(schema.messages.c.external_id, schema.messages.c.text)
            texts = {ext: text for ext, text in conn.execute(q)}
        assert [texts[m.external_id] for m in sent] == HOSTILE
    finally:
        repo.close()


def test_a_nul_is_refused_per_row_and_the_rest_is_copied(pg_url: str) -> None:
    """PostgreSQL's text cannot hold NUL: a message that still has one (the engine's
    ingest removes it before, the repository is asked directly here) is refused with
    the database's reason, and the others of its chunk are stored."""
    repo = SqlRepository(normalize_url(pg_url))
    repo.migrate()
    try:
        sent = [msg(f"n{i}", f"Тольятти, яма у дома {i}") for i in range(5)]
        sent[3] = msg("n3", "яма\x00у дома 3")
        result = repo.ingest(sent, received_at=T0)
        assert result.count == 4
        ((index, reason),) = result.failed
        assert index == 3 and "NUL" in reason
        assert {s.message.external_id for s in repo.messages()} == {"n0", "n1", "n2", "n4"}
    finally:
        repo.close()


def test_a_key_stored_by_another_ingest_meanwhile_is_a_duplicate(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between looking up which keys are stored and copying the rest in, another ingest
    may store one of them: the copy fails on it and the chunk is stored again skipping it."""
    repo = SqlRepository(normalize_url(pg_url))
    repo.migrate()
    try:
        first = repo.ingest([msg("k1", "первое"), msg("k2", "второе")], received_at=T0)
        assert first.count == 2
        looked: list[int] = []
        real = SqlRepository._known_keys

        def blind_once(
            self: SqlRepository, conn: sa.Connection, keys: list[tuple[str, str]]
        ) -> set[tuple[str, str]]:
            looked.append(len(keys))
            return set() if len(looked) == 1 else real(self, conn, keys)

        monkeypatch.setattr(SqlRepository, "_known_keys", blind_once)
        monkeypatch.setattr(sql, "_COPY_FROM", 1)  # these few are copied as a big chunk is
        again = repo.ingest(
            [msg("k1", "первое"), msg("k3", "третье"), msg("k2", "второе")], received_at=T0
        )
        # looked once (blind), the copy failed on k1, and an insert skipping stored keys
        # stored the chunk again
        assert looked == [3]
        assert (again.count, again.duplicates, again.failed) == (1, 2, ())
        stored = sorted(s.message.external_id for s in repo.messages())
        assert stored == ["k1", "k2", "k3"]
    finally:
        repo.close()


def test_a_few_messages_are_inserted_at_once_skipping_stored_keys(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook's message or two is not copied in: one insert skips the keys stored
    already, with no look first, and counts them as duplicates."""
    repo = SqlRepository(normalize_url(pg_url))
    repo.migrate()
    looked: list[int] = []
    real = SqlRepository._known_keys

    def spy(self: SqlRepository, conn: sa.Connection, keys: list[tuple[str, str]]) -> Any:
        looked.append(len(keys))
        return real(self, conn, keys)

    monkeypatch.setattr(SqlRepository, "_known_keys", spy)
    try:
        assert repo.ingest([msg("k1", "первое")], received_at=T0).count == 1
        again = repo.ingest([msg("k1", "первое"), msg("k2", "второе")], received_at=T0)
        assert (again.count, again.duplicates, again.failed) == (1, 1, ())
        assert looked == []
        assert sorted(s.message.external_id for s in repo.messages()) == ["k1", "k2"]
    finally:
        repo.close()
