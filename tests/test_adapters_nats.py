"""NATS JetStream intake, against the real server: a message is acknowledged only once stored.

The rule the adapter keeps: what a municipal system published is in tsur's
store before the broker forgets it. A page is acknowledged after it is
committed; if storing fails, nothing is acknowledged and JetStream delivers
it again; an unreadable record is kept with its reason and acknowledged (not
lost, not redelivered forever). Without a NATS server on 127.0.0.1:4222 the
tests are skipped with the reason, except under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tsur
from tests.test_adapters_common import make_engine, region_with
from tsur.errors import AdapterError, StorageError
from tsur.intake import collect

nats = pytest.importorskip("nats", reason="nats-py is not installed (pip install 'tsur[nats]')")

SERVER = os.environ.get("TSUR_TEST_NATS", "nats://127.0.0.1:4222")


def _reachable() -> bool:
    host, _, port = SERVER.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A fresh JetStream stream and its subject prefix, deleted afterwards."""
    if not _reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no NATS server at {SERVER}")
        pytest.skip(f"no NATS server at {SERVER} (set TSUR_TEST_NATS)")
    name = f"TSUR_{uuid.uuid4().hex[:10]}"
    subject = f"appeals.{name}"

    async def make() -> None:
        nc = await nats.connect(SERVER)
        await nc.jetstream().add_stream(name=name, subjects=[f"{subject}.>"])
        await nc.close()

    asyncio.run(make())
    yield name, subject

    async def drop() -> None:
        nc = await nats.connect(SERVER)
        await nc.jetstream().delete_stream(name)
        await nc.close()

    asyncio.run(drop())


def publish(subject: str, bodies: list[bytes]) -> None:
    async def go() -> None:
        nc = await nats.connect(SERVER)
        js = nc.jetstream()
        for body in bodies:
            await js.publish(subject, body)
        await nc.close()

    asyncio.run(go())


def consumer_state(stream: str, durable: str) -> tuple[int, int]:
    """(messages not yet delivered, delivered but not acknowledged)."""

    async def go() -> tuple[int, int]:
        nc = await nats.connect(SERVER)
        info = await nc.jetstream().consumer_info(stream, durable)
        await nc.close()
        return info.num_pending, info.num_ack_pending

    return asyncio.run(go())


def record(ext: str, text: str) -> bytes:
    return json.dumps(
        {
            "source": "somebody-else",  # the source is the stream's, whatever a record says
            "external_id": ext,
            "text": text,
            "created_at": "2026-11-16T09:00:00+04:00",
        },
        ensure_ascii=False,
    ).encode()


def engine_for(stream: tuple[str, str], tmp_path: Path, **options: Any) -> tsur.Engine:
    name, subject = stream
    region = region_with(
        [
            {
                "id": "mun",
                "kind": "nats",
                "name": "Муниципальные центры",
                "options": {
                    "servers": [SERVER],
                    "stream": name,
                    "subject": f"{subject}.>",
                    "wait": 0.5,
                    **options,
                },
            }
        ]
    )
    return make_engine(region, str(tmp_path / "n.db"), tsur.testing.FixedClock())


def test_records_are_stored_then_acknowledged_and_bad_ones_kept(
    stream: tuple[str, str], tmp_path: Path
) -> None:
    name, subject = stream
    publish(
        f"{subject}.syzran",
        [
            record("s-1", "Сызрань, яма на дороге у дома 5"),
            b"{not json",
            record("s-2", "Сызрань, нет отопления"),
            json.dumps({"external_id": "s-3", "text": "без даты"}).encode(),
            record("s-1", "Сызрань, яма на дороге у дома 5"),  # published twice
        ],
    )
    with engine_for(stream, tmp_path) as engine:
        report = collect(engine, "mun")
        assert (report.fetched, report.inserted, report.duplicates) == (3, 2, 1)
        assert report.rejected == 2
        stored = {m.message.external_id: m.message for m in engine.repository.messages()}
        assert set(stored) == {"s-1", "s-2"}
        assert {m.source for m in stored.values()} == {"mun"}
        reasons = [r.reason for r in engine.repository.rejected_inputs()]
        assert len(reasons) == 2 and any("not JSON" in r for r in reasons)
        assert any("created_at" in r for r in reasons)
        # everything read was acknowledged: nothing waits, nothing comes again
        assert consumer_state(name, "tsur-mun") == (0, 0)
        again = collect(engine, "mun")
        assert again.fetched == 0


class FailingIngest(tsur.Engine):
    """An engine whose store refuses the write (a full disk, a lost database)."""

    def ingest(self, *args: Any, **kwargs: Any) -> Any:
        raise StorageError("database error: disk full")


def test_what_could_not_be_stored_is_delivered_again(
    stream: tuple[str, str], tmp_path: Path
) -> None:
    name, subject = stream
    publish(f"{subject}.tlt", [record("t-1", "Тольятти, не вывозят мусор")])
    with engine_for(stream, tmp_path, ack_wait=1.0) as engine:
        failing = FailingIngest(engine.region, engine.repository, entry_points=False)
        with pytest.raises(StorageError):
            collect(failing, "mun")
        assert consumer_state(name, "tsur-mun") == (0, 1)  # delivered, not acknowledged
        assert engine.repository.messages() == []
        time.sleep(1.5)  # ack_wait runs out: JetStream delivers it again
        report = collect(engine, "mun")
        assert report.inserted == 1
        assert consumer_state(name, "tsur-mun") == (0, 0)


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path, stream: tuple[str, str]) -> None:
    with (
        engine_for(stream, tmp_path, servers=["nats://127.0.0.1:1"]) as engine,
        pytest.raises(AdapterError, match="mun: cannot fetch from NATS"),
    ):
        collect(engine, "mun")
