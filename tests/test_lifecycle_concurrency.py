"""Two workers answering and rating one incident at the same moment lose nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tsur import IllegalTransition, Status
from tsur.lifecycle import Lifecycle

from .conftest import FrozenClock
from .test_lifecycle import make_life, new_incident

FINAL = "Яма заделана литым асфальтом 16.11.2026, участок огорожен до высыхания."


def run_at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job in its own thread, all released together; results or exceptions."""
    gate = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def work(i: int) -> None:
        gate.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def test_concurrent_answers_and_ratings_keep_every_event(db_url: str, clock: FrozenClock) -> None:
    workers = [make_life(db_url, clock), make_life(db_url, clock)]
    try:
        inc = new_incident(workers[0], "Сызрань, ул. Мира, 5: яма на дороге")
        iid = inc.id
        assert iid is not None
        workers[0].answer_intermediate(iid)

        def final(life: Lifecycle) -> Callable[[], Any]:
            return lambda: life.answer_final(iid, FINAL)

        def rating(life: Lifecycle, n: int) -> Callable[[], Any]:
            return lambda: life.rate(iid, 4 + n % 2, f"оценка от жителя {n}")

        jobs = [final(workers[0]), final(workers[1])]
        jobs += [rating(workers[n % 2], n) for n in range(8)]
        results = run_at_once(jobs)

        finals = results[:2]
        assert sum(isinstance(r, IllegalTransition) for r in finals) == 1  # one wins, once
        assert not any(isinstance(r, Exception) for r in results[2:]), results
        done = workers[1].engine.incident(iid)
        ratings = [e for e in done.history if e.kind == "rating"]
        assert sorted(e.data["comment"] for e in ratings) == [
            f"оценка от жителя {n}" for n in range(8)
        ]
        assert len(done.data["lifecycle"]["ratings"]) == 8  # no lost update of the data either
        assert [e.to_status for e in done.history if e.to_status is Status.RESOLVED] == [
            Status.RESOLVED
        ]
        replies = [e.data["kind"] for e in done.history if e.kind == "reply"]
        assert replies == ["intermediate", "final"]
        # a good rating that came after the final answer closed it; one before it did not
        kinds = [e.kind if e.to_status is None else e.to_status.value for e in done.history]
        rated_after = "rating" in kinds[kinds.index("resolved") :]
        assert done.status is (Status.CLOSED if rated_after else Status.RESOLVED)
    finally:
        for life in workers:
            life.close()
            life.engine.close()
