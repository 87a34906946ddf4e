"""The outbox: every notice reaches every notifier at least once, as soon as it is decided.

The rule: a notice is heard when the decision is made, not when the backlog
is drained; a notifier that fails gets the notice again later (and only
that notifier), after growing delays; delivery is given up after a bounded
number of rounds, and what was given up is visible and can be sent again;
two deliverers never hold the same notice at once, and one that dies
leaves it to the next after its lease.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tsur import DeliveryPolicy, Engine, Notification, RegionConfig, hookimpl
from tsur.cli import main
from tsur.plugins import make_plugin_manager
from tsur.store.sql import SqlRepository

from .conftest import SMALL_REGION, FrozenClock, _url
from .helpers import msg

NOW = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


class Notifiers:
    """A plugin with two notifiers: ``ok`` always works, ``flaky`` fails ``fail`` times."""

    def __init__(self, fail: int = 0, engine: list[Engine] | None = None) -> None:
        self.fail = fail
        self.ok: list[Notification] = []
        self.flaky: list[Notification] = []
        self.pending_seen: list[int] = []  # messages still pending when a notice arrived
        self._engine = engine

    @hookimpl
    def register_notifiers(self, register: Any) -> None:
        outer = self

        class Ok:
            def notify(self, n: Notification) -> None:
                outer.ok.append(n)
                if outer._engine:
                    counts = outer._engine[0].repository.message_counts()
                    outer.pending_seen.append(counts.get("pending", 0))

        class Flaky:
            def notify(self, n: Notification) -> None:
                if outer.fail > 0:
                    outer.fail -= 1
                    raise ConnectionError("SMTP 451: try again later")
                outer.flaky.append(n)

        register("ok", Ok())
        register("flaky", Flaky())


@pytest.fixture
def make(small_region: RegionConfig, db_url: str, clock: FrozenClock) -> Iterator[Any]:
    made: list[Engine] = []

    def build(plugin: Notifiers, **kw: Any) -> Engine:
        repo = SqlRepository(_url(db_url))
        repo.migrate()
        eng = Engine(small_region, repo, entry_points=False, clock=clock, plugins=[plugin], **kw)
        made.append(eng)
        return eng

    yield build
    for eng in made:
        eng.close()


TEXTS = [
    "В Тольятти на ул. Мира, 5 нет отопления, батареи холодные!",
    "Автобус 41 опять не пришёл, Сызрань, стоим на остановке час",
    "Прошу отремонтировать дорогу в Смышляевке, огромные ямы",
]


def test_notices_are_heard_batch_by_batch_not_after_the_backlog(make: Any) -> None:
    holder: list[Engine] = []
    plugin = Notifiers(engine=holder)
    engine = make(plugin)
    holder.append(engine)
    engine.ingest([msg(str(i), t) for i, t in enumerate(TEXTS)])
    report = engine.run(batch_size=1)
    assert report.created == 3
    assert len(plugin.ok) == 3 and len(plugin.flaky) == 3
    # the first notice went out while two messages still waited
    assert plugin.pending_seen[0] == 2


def test_a_failing_notifier_gets_the_notice_again_and_only_it(
    make: Any, clock: FrozenClock
) -> None:
    plugin = Notifiers(fail=2)
    engine = make(plugin)
    engine.process([msg("1", TEXTS[0])])
    repo = engine.repository
    assert len(plugin.ok) == 1 and plugin.flaky == []
    counts = repo.notification_counts(now=clock())
    assert counts["retrying"] == 1 and counts["sent"] == 0
    # not due yet: nothing is sent again
    assert engine.deliver_notifications() == 0
    clock.advance(minutes=1)  # the first retry delay
    engine.deliver_notifications()
    assert plugin.flaky == []  # failed a second time
    clock.advance(minutes=4)
    assert engine.deliver_notifications() == 0  # the second delay is 5 minutes
    clock.advance(minutes=1)
    engine.deliver_notifications()
    assert len(plugin.flaky) == 1
    assert len(plugin.ok) == 1  # the notifier that had it never got it twice
    assert repo.notification_counts(now=clock())["sent"] == 1


def test_a_notice_nobody_can_take_is_given_up_visibly_and_can_be_sent_again(
    make: Any, clock: FrozenClock
) -> None:
    policy = DeliveryPolicy(retry_delays=(timedelta(minutes=1),), max_attempts=3)
    plugin = Notifiers(fail=10**6)
    engine = make(plugin, delivery=policy)
    engine.process([msg("1", TEXTS[0])])
    for _ in range(5):
        clock.advance(minutes=1)
        engine.deliver_notifications()
    repo = engine.repository
    counts = repo.notification_counts(now=clock())
    assert counts["dead"] == 1 and counts["retrying"] == counts["queued"] == 0
    (dead,) = repo.dead_notifications()
    assert dead.attempts == 3 and "ok" in dead.delivered_to and "flaky" not in dead.delivered_to
    assert dead.error is not None and "SMTP 451" in dead.error
    assert dead.notification.kind == "routed"
    plugin.fail = 0
    assert repo.revive_notifications() == 1
    engine.deliver_notifications()
    assert len(plugin.flaky) == 1 and len(plugin.ok) == 1
    assert repo.notification_counts(now=clock())["sent"] == 1
    assert repo.dead_notifications() == []


def test_a_claimed_notice_is_nobody_elses_until_its_lease_runs_out(
    db_url: str,
) -> None:
    repo = SqlRepository(_url(db_url))
    repo.migrate()
    try:
        repo.queue_notifications([Notification("routed", 1, NOW, ("adm",), "Новое")])
        first = repo.claim_notifications(10, now=NOW, lease=timedelta(minutes=5))
        assert len(first) == 1
        # a second deliverer meanwhile gets nothing
        assert repo.claim_notifications(10, now=NOW + timedelta(minutes=4)) == []
        # the first one died: after its lease the notice is claimed again
        again = repo.claim_notifications(10, now=NOW + timedelta(minutes=5))
        assert [i.id for i in again] == [first[0].id]
    finally:
        repo.close()


def test_the_delivery_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        DeliveryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        DeliveryPolicy(retry_delays=())
    with pytest.raises(ValueError):
        DeliveryPolicy(retry_delays=(timedelta(0),))
    policy = DeliveryPolicy(retry_delays=(timedelta(minutes=1), timedelta(hours=1)))
    assert [policy.delay(n) for n in (1, 2, 3, 9)] == [
        timedelta(minutes=1),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_an_operator_sees_notices_given_up_and_sends_them_again(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "outbox.db")
    plugin = Notifiers(fail=10**6)
    c = ["--db", db, "--config", str(SMALL_REGION)]
    start = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)
    with Engine.from_config(
        str(SMALL_REGION), db=db, entry_points=False, plugins=[plugin], clock=lambda: start
    ) as engine:
        engine.process([msg("1", TEXTS[1])])
    pm = make_plugin_manager(entry_points=False, plugins=[plugin])
    # a day and a half of ticks: every retry fails, delivery is given up
    for minutes in range(30, 36 * 60, 30):
        now = (start + timedelta(minutes=minutes)).isoformat()
        assert main(["tick", *c, "--now", now], pm=pm) == 0
    capsys.readouterr()
    code = main(["notifications", *c], pm=pm)
    out = capsys.readouterr().out
    assert code == 1
    dead = int(re.search(r"не доставлены (\d+)", out).group(1))  # type: ignore[union-attr]
    assert dead >= 1  # the routing notice at least, and the tick's own ones
    assert "отправлены 0," in out
    assert "обращение № 1 (routed), попыток 10: flaky: ConnectionError: SMTP 451" in out
    assert plugin.flaky == []
    plugin.fail = 0  # the mail server is back
    code = main(["notifications", *c, "--retry-dead", "--now", "2026-11-19T00:00:00+04:00"], pm=pm)
    out = capsys.readouterr().out
    assert code == 0 and f"возвращено в очередь уведомлений: {dead}" in out
    assert "ждут отправки 0, ждут повтора 0" in out and "не доставлены 0" in out
    # the revived ones, and the tick's notices whose retry came due meanwhile
    assert len(plugin.flaky) >= dead
    assert {n.kind for n in plugin.flaky} >= {"routed"}
