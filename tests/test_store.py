"""The repository contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from tsur import Engine, Incident, NotFound, Notification, Status, open_repository
from tsur.decide import Outcome
from tsur.grouping import Lookup
from tsur.store.lookup import MAX_OPEN_CANDIDATES as MAX_OPEN
from tsur.store.lookup import BatchLookup, CandidateCache, _compiled
from tsur.store.migrations import MIGRATIONS, current_version
from tsur.store.sql import SqlRepository, normalize_url

from .helpers import msg

NOW = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


@pytest.fixture
def repo(db_url: str) -> SqlRepository:
    r = open_repository(db_url)
    yield r
    r.close()


def test_migrations_are_versioned_and_idempotent(repo: SqlRepository) -> None:
    with repo.engine.connect() as conn:
        assert current_version(conn) == MIGRATIONS[-1].version
    assert repo.migrate() == MIGRATIONS[-1].version
    with repo.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version FROM tsur_schema_version ORDER BY version"))
        assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


def test_a_version_2_database_gains_the_thanks_column(repo: SqlRepository) -> None:
    """A database made before messages of thanks were credited upgrades in place."""
    repo.ingest([msg("1", "нет воды")], received_at=NOW)
    with repo.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE messages DROP COLUMN thanks_executor"))
        conn.execute(sa.text("DELETE FROM tsur_schema_version WHERE version >= 3"))
    assert repo.migrate() == MIGRATIONS[-1].version
    with repo.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("messages")}
    assert "thanks_executor" in columns
    (stored,) = repo.messages()
    assert stored.message.text == "нет воды" and stored.thanks_executor is None


def test_a_version_3_outbox_gains_its_retry_columns(repo: SqlRepository) -> None:
    """An outbox made before retries upgrades in place, its notices kept as they were."""
    repo.queue_notifications([Notification("routed", 1, NOW, ("adm",), "Новое", key="k")])
    with repo.engine.begin() as conn:
        for column in ("delivered_to", "next_attempt_at", "claimed_until", "dead_at"):
            conn.execute(sa.text(f"ALTER TABLE notifications DROP COLUMN {column}"))
        conn.execute(sa.text("DELETE FROM tsur_schema_version WHERE version >= 4"))
    assert repo.migrate() == MIGRATIONS[-1].version
    (item,) = repo.claim_notifications(10, now=NOW)
    assert item.notification.key == "k" and item.delivered_to == () and item.attempts == 0


def test_ingest_is_idempotent_on_source_and_external_id(repo: SqlRepository) -> None:
    batch = [msg("1", "нет воды"), msg("2", "яма"), msg("1", "повтор в той же пачке")]
    first = repo.ingest(batch, received_at=NOW)
    assert first.count == 2 and first.duplicates == 1
    again = repo.ingest(batch, received_at=NOW)
    assert again.count == 0 and again.duplicates == 3
    other_source = repo.ingest([msg("1", "нет воды", source="written")], received_at=NOW)
    assert other_source.count == 1
    assert repo.message_counts() == {"pending": 3}
    stored = {m.message.external_id: m.message for m in repo.messages() if m.message.source == "vk"}
    assert stored["1"].text == "нет воды"  # the first version is kept
    assert stored["1"].created_at == batch[0].created_at


def test_message_round_trips_every_field(repo: SqlRepository) -> None:
    from tsur import Attachment, Author, GeoPoint

    m = msg(
        "42",
        "Текст",
        author=Author("7", "Ирина К.", "+7 900 000-00-00", True),
        attachments=(Attachment("photo", "https://example.org/1.jpg"),),
        geo=GeoPoint(53.2, 50.15),
        address="ул. Ленинская, 1",
        thread_id="t",
        parent_id="p",
        url="https://vk.com/wall-1_42",
        topic="roads",
        territory="gorod",
        meta={"likes": 3},
    )
    repo.ingest([m], received_at=NOW)
    assert repo.messages()[0].message == m


def test_claim_marks_and_failed_messages_can_be_requeued(repo: SqlRepository) -> None:
    repo.ingest([msg(str(i), f"текст {i}") for i in range(5)], received_at=NOW)
    with repo.claim(3, now=NOW) as batch:
        ids = [c.id for c in batch.messages]
        made = Incident(status=Status.NEW, created_at=NOW)
        assert batch.apply(Outcome("created", ids[0], incident=made)) is not None
        batch.apply(Outcome("rejected", ids[1], reason="spam"))
        batch.apply(Outcome.failed(ids[2], "classify", "model missing"))
    assert repo.message_counts() == {"done": 1, "rejected": 1, "failed": 1, "pending": 2}
    failed = repo.messages(status="failed")
    assert failed[0].error_stage == "classify" and failed[0].error == "model missing"
    assert failed[0].attempts == 1
    assert repo.requeue() == 1
    assert repo.message_counts()["pending"] == 3


def test_a_batch_that_raises_writes_nothing(repo: SqlRepository) -> None:
    repo.ingest([msg("1", "текст")], received_at=NOW)
    with pytest.raises(RuntimeError), repo.claim(10, now=NOW) as batch:
        inc = Incident(status=Status.NEW, created_at=NOW)
        batch.apply(Outcome("created", batch.messages[0].id, incident=inc))
        raise RuntimeError("worker died")
    assert repo.message_counts() == {"pending": 1}
    assert repo.incidents() == []


def test_incident_updates_append_history(repo: SqlRepository) -> None:
    repo.ingest([msg("1", "текст")], received_at=NOW)
    with repo.claim(1, now=NOW) as batch:
        inc = Incident(status=Status.NEW, created_at=NOW, topic="roads")
        inc.transition(Status.CLASSIFIED, at=NOW, actor="kw", reason="яма")
        provisional = batch.apply(
            Outcome("created", batch.messages[0].id, incident=inc, words=frozenset({"яма"}))
        )
        assert provisional is not None and provisional < 0
    new_id = batch.real_id(provisional)
    assert new_id > 0 and inc.id == new_id
    with repo.update_incident(new_id) as inc:
        inc.transition(Status.ROUTED, at=NOW, actor="rules", reason="rule 1")
        inc.executor = "adm"
    got = repo.get_incident(new_id)
    assert got.status is Status.ROUTED and got.executor == "adm"
    assert [e.to_status for e in got.history] == [Status.CLASSIFIED, Status.ROUTED]
    assert got.message_ids == [batch.messages[0].id]
    with pytest.raises(NotFound, match="incident 999 not found"):
        repo.get_incident(999)


def test_rejected_input_is_kept_until_resolved(repo: SqlRepository) -> None:
    rid = repo.record_rejected_input("f.jsonl", 3, "{broken", "not valid JSON", at=NOW)
    assert repo.record_rejected_input("f.jsonl", 3, "{broken", "not valid JSON", at=NOW) == rid
    items = repo.rejected_inputs()
    assert [(r.id, r.line, r.raw, r.reason) for r in items] == [
        (rid, 3, "{broken", "not valid JSON")
    ]
    repo.resolve_rejected_input([rid], at=NOW)
    assert repo.rejected_inputs() == []
    assert len(repo.rejected_inputs(include_resolved=True)) == 1


def test_cursors_persist(repo: SqlRepository) -> None:
    assert repo.get_cursor("vk") is None
    repo.set_cursor("vk", "100", at=NOW)
    repo.set_cursor("vk", "250", at=NOW)
    assert repo.get_cursor("vk") == "250"


def test_notifications_are_deduplicated_and_marked(repo: SqlRepository) -> None:
    n = Notification("routed", 1, NOW, ("adm",), "Новое обращение")
    assert n.dedup_key == "routed:1:adm"
    assert repo.queue_notifications([n]) == [True]
    assert repo.queue_notifications([n, attrs.evolve(n, key="other")]) == [False, True]
    pending = list(repo.pending_notifications())
    assert [p[1] for p in pending] == [
        attrs.evolve(n, key="routed:1:adm"),
        attrs.evolve(n, key="other"),
    ]
    repo.mark_notifications([(pending[0][0], NOW, None), (pending[1][0], NOW, None)])
    assert list(repo.pending_notifications()) == []


def test_naive_datetime_is_refused_by_the_store(repo: SqlRepository) -> None:
    with pytest.raises((ValueError, sa.exc.StatementError)):
        repo.set_cursor("vk", "1", at=datetime(2026, 1, 1))


def _vk_line(ext: str, text: str, when: str = "2026-03-10T10:00:00+04:00") -> str:
    """One VK message as a JSON Lines line."""
    return json.dumps(
        {"source": "vk", "external_id": ext, "text": text, "created_at": when},
        ensure_ascii=False,
    )


def test_a_message_read_late_still_finds_its_incident_among_many_newer_ones(
    bundled_region: Any,
) -> None:
    """Grouping looks ``group_window_days`` either side of a message, and the store
    asks for that window: a January message read after two hundred March incidents
    of its topic and town (an archive loaded out of order) still joins January's."""
    engine = Engine(bundled_region, open_repository(":memory:"), entry_points=False)

    def line(ext: str, when: str, house: int) -> str:
        text = f"Самара, ул. Ленина, д. {house}. Не горит уличный фонарь у дома, темно."
        return _vk_line(ext, text, when)

    engine.ingest_jsonl(lines=[line("jan-1", "2026-01-10T10:00:00+04:00", 1)])
    engine.run()
    march = [line(f"mar-{i}", "2026-03-15T10:00:00+04:00", 10 + i) for i in range(MAX_OPEN + 10)]
    engine.ingest_jsonl(lines=march)
    engine.run()
    engine.ingest_jsonl(lines=[line("jan-2", "2026-01-11T10:00:00+04:00", 1)])
    engine.run()
    by_key = {sm.message.external_id: sm for sm in engine.repository.messages(limit=1000)}
    first, late = by_key["jan-1"], by_key["jan-2"]
    assert first.incident_id is not None
    assert len({by_key[f"mar-{i}"].incident_id for i in range(MAX_OPEN + 10)}) > MAX_OPEN
    assert late.incident_id == first.incident_id


def test_a_lookup_that_fails_on_sqlite_raises_as_any_statement_does(tmp_path: Any) -> None:
    """The lookup reads through the driver itself on SQLite; a failure still comes as
    SQLAlchemy's wrapped error, which the pipeline knows how to retry or report."""
    repo = open_repository(str(tmp_path / "t.db"))
    assert isinstance(repo, SqlRepository)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    lookup = Lookup(
        source="vk",
        refs=(),
        author=None,
        topics=("roads",),
        territory="gorod",
        territories=("gorod",),
        places={},
        open_since=now - timedelta(days=7),
        closed_since=now - timedelta(days=30),
        open_until=now + timedelta(days=7),
    )
    with repo.engine.begin() as conn:
        assert BatchLookup(conn).candidates(lookup).open == ()
        conn.execute(sa.text("ALTER TABLE incidents RENAME TO gone"))
        with pytest.raises(sa.exc.OperationalError, match="no such table: incidents"):
            BatchLookup(conn).candidates(lookup)
        conn.rollback()


@pytest.mark.parametrize("one_batch", [True, False], ids=["same batch", "next batch"])
def test_a_report_matches_what_its_incident_learned_earlier_in_the_same_batch(
    bundled_region: Any, one_batch: bool
) -> None:
    """An incident learns the house a later report gives; a report naming that house
    joins it by address — whether it comes in the next batch or the same one."""
    engine = Engine(bundled_region, open_repository(":memory:"), entry_points=False)

    engine.ingest_jsonl(
        lines=[_vk_line("1", "Самара, улица Ленина. Не горит уличный фонарь у остановки, темно.")]
    )
    engine.run()
    engine.ingest_jsonl(
        lines=[
            _vk_line("2", "Самара, ул. Ленина, д. 5: не горит уличный фонарь у остановки, темно."),
            _vk_line("3", "Самара, ул. Ленина, 5. Освещение не работает уже неделю, почините"),
        ]
    )
    if not one_batch:
        engine.run(limit=1)
    engine.run()
    ids = {sm.message.external_id: sm.incident_id for sm in engine.repository.messages()}
    assert ids["1"] is not None and ids["1"] == ids["2"] == ids["3"]
    history = engine.incident(ids["3"]).history
    assert any("тот же адрес" in e.reason for e in history if e.kind == "message_added")


def test_a_cached_candidate_is_made_again_when_its_row_changes() -> None:
    cache = CandidateCache(size=2)
    row = (7, "routed", "roads", "2026-03-10 06:00:00.000000", "street=ленина", "яма")
    first = cache.get(row)
    assert first.created_at == datetime(2026, 3, 10, 6, tzinfo=UTC)
    assert dict(first.places) == {"street": "ленина"} and first.words == {"яма"}
    assert cache.get(tuple(row)) is first
    taught = cache.get((*row[:4], "house=5;street=ленина", "асфальт яма"))
    assert dict(taught.places) == {"street": "ленина", "house": "5"}
    assert taught.words == {"яма", "асфальт"} and taught.id == 7
    for i in range(3):  # past its size the cache starts again; answers stay right
        assert cache.get((i, *row[1:])).id == i
    assert cache.get(row).words == {"яма"}


def test_the_open_candidates_query_uses_the_group_index_however_long_its_lists(
    tmp_path: Any,
) -> None:
    """Nine topics of a family in the ten territories of a city: without statistics
    SQLite would take the status index and read every open incident of the region
    for each message. The lookup keeps it on (topic, territory, created_at)."""
    repo = open_repository(str(tmp_path / "plan.db"))
    assert isinstance(repo, SqlRepository)
    compiled, convert = _compiled(sqlite.dialect(), "open")
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for topics, territories in [(1, 1), (5, 10), (9, 10), (20, 30)]:
        params = {
            "topics": [f"topic{i}" for i in range(topics)],
            "territories": [f"place{i}" for i in range(territories)],
            "since": at - timedelta(days=7),
            "until": at + timedelta(days=7),
            "topic": "topic0",
            "places": '["house=5", "street=ленина"]',
        }
        state = compiled.construct_expanded_state(params)
        values = {k: convert[k](v) if k in convert else v for k, v in state.parameters.items()}
        with repo.engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            plan = [
                r[3]
                for r in driver.execute(
                    "EXPLAIN QUERY PLAN " + state.statement,
                    [values[k] for k in state.positiontup or ()],
                )
            ]
        assert any("USING INDEX ix_incidents_group" in step for step in plan), plan
    repo.close()


def test_in_a_busy_municipality_the_candidates_compared_are_ones_that_could_match(
    bundled_region: Any, db_url: str
) -> None:
    """A message joins an incident of another topic of its family only by a shared
    place; two hundred newer pothole incidents on other streets cannot hold a
    streetlight report back from the streetlight incident at its own address."""
    repo = SqlRepository(normalize_url(db_url))
    repo.migrate()
    engine = Engine(bundled_region, repo, entry_points=False)

    light = "Самара, ул. Ленина, д. 5. Не горит уличный фонарь у дома, темно."
    engine.ingest_jsonl(lines=[_vk_line("light-1", light, "2026-03-10T10:00:00+04:00")])
    engine.run()
    potholes = [
        _vk_line(
            f"pit-{i}",
            f"Самара, ул. Гагарина, д. {i + 1}. Огромная яма на дороге, разбит асфальт.",
            "2026-03-10T11:00:00+04:00",
        )
        for i in range(MAX_OPEN + 10)
    ]
    engine.ingest_jsonl(lines=potholes)
    engine.run()
    engine.ingest_jsonl(lines=[_vk_line("light-2", light, "2026-03-10T12:00:00+04:00")])
    engine.run()
    ids = {sm.message.external_id: sm.incident_id for sm in engine.repository.messages(limit=500)}
    pits = {engine.incident(ids[f"pit-{i}"]).topic for i in range(MAX_OPEN + 10)}  # type: ignore[arg-type]
    assert pits == {"roads.potholes"}
    assert len({ids[f"pit-{i}"] for i in range(MAX_OPEN + 10)}) > MAX_OPEN
    assert ids["light-2"] == ids["light-1"]
    engine.close()


def _open_lookup(topic: str, places: dict[str, str], at: datetime) -> Lookup:
    return Lookup(
        source="vk",
        refs=(),
        author=None,
        topics=("roads", "roads.lighting", "roads.potholes"),
        territory="samara",
        territories=("samara",),
        places=places,
        open_since=at - timedelta(days=7),
        closed_since=at - timedelta(days=30),
        open_until=at + timedelta(days=7),
        topic=topic,
    )


def test_a_sibling_topic_finds_an_incident_by_a_place_past_the_stored_length(
    bundled_region: Any, tmp_path: Any
) -> None:
    """Every place of the message counts when incidents of other topics are looked
    for, however long the list (an incident's stored key is cut at 200 characters,
    the message's own places are not)."""
    engine = Engine(bundled_region, open_repository(str(tmp_path / "p.db")), entry_points=False)
    text = "Самара, маршрут 41: автобус объезжает яму, освещения нет"
    engine.ingest_jsonl(lines=[_vk_line("1", text)])
    engine.run()
    repo = engine.repository
    assert isinstance(repo, SqlRepository)
    at = datetime(2026, 3, 10, 6, tzinfo=UTC)
    with repo.engine.begin() as conn:
        conn.execute(sa.text("UPDATE incidents SET topic = 'roads', address_key = 'route=41'"))
        places = {"aaa": "x" * 190, "route": "41"}
        found = BatchLookup(conn).candidates(_open_lookup("roads.potholes", places, at)).open
        assert [dict(c.places) for c in found] == [{"route": "41"}]
    engine.close()


def test_a_place_learned_earlier_in_the_batch_is_found_by_a_sibling_topic(
    bundled_region: Any, tmp_path: Any
) -> None:
    """An incident that learned its address from a message earlier in the batch is
    found by a later message of another topic at that address, though the database
    has not heard of the address yet."""
    engine = Engine(bundled_region, open_repository(str(tmp_path / "l.db")), entry_points=False)
    engine.ingest_jsonl(lines=[_vk_line("1", "Самара: не горит фонарь")])
    engine.run()
    repo = engine.repository
    assert isinstance(repo, SqlRepository)
    at = datetime(2026, 3, 10, 6, tzinfo=UTC)
    with repo.engine.begin() as conn:
        conn.execute(sa.text("UPDATE incidents SET topic = 'roads.lighting', address_key = NULL"))
        (incident_id,) = conn.execute(sa.text("SELECT id FROM incidents")).one()
        look = BatchLookup(conn)
        # a lighting report joins it and teaches it the address …
        assert [c.id for c in look.candidates(_open_lookup("roads.lighting", {}, at)).open] == [
            incident_id
        ]
        look._learned[incident_id] = {"address_key": "house=5;street=ленина"}
        # … which a pothole report at that address then finds
        places = {"street": "ленина", "house": "5"}
        found = look.candidates(_open_lookup("roads.potholes", places, at)).open
        assert [(c.id, dict(c.places)) for c in found] == [(incident_id, places)]
    engine.close()
