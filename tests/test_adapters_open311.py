"""Open311 GeoReport v2: the spec's payloads, date windows with page/page_size,
the errors array, and status updates only where the server has an endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import tsur
from tests.test_adapters_common import adapter_for, build
from tsur.adapters.open311 import Open311Adapter, Open311Error
from tsur.errors import PayloadError
from tsur.intake import collect
from tsur.testing import mock_client, payload

PST = timezone(timedelta(hours=-8))
NOW = datetime(2010, 6, 1, 12, 0, tzinfo=UTC)
BASE = "https://city.example/open311/v2"

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests


def o311(region: tsur.RegionConfig, **kw: Any) -> Open311Adapter:
    return build(Open311Adapter, region, "city311", **{"now": lambda: NOW, **kw})  # type: ignore[no-any-return]


def test_requests_field_by_field(adapters_region: tsur.RegionConfig) -> None:
    a = o311(adapters_region, service_map={"006": "roads"}, request_url="https://c.example/r/{id}")
    first, second = a.parse(payload("open311_service_requests.json"))
    assert first.source == "city311"
    assert first.external_id == "638344"  # a number on the wire, an opaque string here
    assert first.text == "Sidewalk and Curb Issues"  # no description: the service name
    assert first.created_at == datetime(2010, 4, 14, 6, 37, 38, tzinfo=PST)
    assert first.address == "8TH AVE and JUDAH ST"
    assert first.geo == tsur.GeoPoint(37.762221815, -122.4651145)
    # the trailing space of the spec's media_url is dropped
    assert first.attachments == (
        tsur.Attachment("photo", "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg"),
    )
    assert first.url == "https://c.example/r/638344"
    assert first.topic == "roads"
    assert first.meta == {
        "open311_status": "closed",
        "status_notes": "Duplicate request.",
        "service_code": "006",
        "service_name": "Sidewalk and Curb Issues",
        "address_id": "545483",
        "zipcode": "94122",
        "updated_at": "2010-04-14T06:37:38-08:00",
        "expected_at": "2010-04-15T06:37:38-08:00",
    }
    assert second.external_id == "638349" and second.meta["open311_status"] == "open"
    [single] = a.parse(payload("open311_service_request_single.json"))
    assert single == first


def test_other_payloads_are_recognised(adapters_region: tsur.RegionConfig) -> None:
    a = o311(adapters_region)
    with pytest.raises(Open311Error) as err:
        a.parse(payload("open311_errors.json"))
    assert err.value.errors == [
        ("403", "Invalid api_key received -- can't proceed with create_request.")
    ]
    with pytest.raises(PayloadError, match=r"a list of services \(services.json\)"):
        a.parse(payload("open311_services.json"))
    with pytest.raises(PayloadError, match="a service definition"):
        a.parse(payload("open311_service_definition.json"))
    with pytest.raises(PayloadError, match=r"an answer to POST requests\.json"):
        a.parse(payload("open311_token_response.json"))
    # the spec's own examples have "service_code":001, which is not JSON
    with pytest.raises(PayloadError, match="invalid JSON"):
        a.parse(payload("open311_service_requests.spec_verbatim.txt"))


def test_windows_and_pages(adapters_region: tsur.RegionConfig) -> None:
    requests = json.loads(payload("open311_service_requests.json"))
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        seen.append(dict(q))
        start, end = (datetime.fromisoformat(q[k]) for k in ("start_date", "end_date"))
        inside = [
            r for r in requests if start <= datetime.fromisoformat(r["requested_datetime"]) <= end
        ]
        page = int(q.get("page", 1))
        return httpx.Response(200, json=inside[page - 1 : page])

    a = o311(
        adapters_region,
        client=mock_client(handler),
        page_size=1,
        window_days=60,
        jurisdiction_id="city.gov",
        start_date="2010-04-01T00:00:00+00:00",
    )
    cursor, got = None, []
    for _ in range(10):
        r = a.fetch(cursor)
        got.extend(m.external_id for m in r.messages)
        cursor = r.cursor
        if not r.more:
            break
    assert got == ["638344", "638349"]
    assert seen[0] == {
        "jurisdiction_id": "city.gov",
        "start_date": "2010-04-01T00:00:00+00:00",
        "end_date": "2010-05-31T00:00:00+00:00",
        "page": "1",
        "page_size": "1",
    }
    assert [s["page"] for s in seen] == ["1", "2", "3", "1"]
    # the second window starts an hour before the first ended, and ends now
    assert seen[3]["start_date"] == "2010-05-30T23:00:00+00:00"
    assert seen[3]["end_date"] == "2010-06-01T12:00:00+00:00"
    assert json.loads(cursor or "") == {"start": "2010-06-01T11:00:00+00:00", "page": 1}


def test_server_errors(adapters_region: tsur.RegionConfig) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=payload("open311_errors.json"))

    with pytest.raises(Open311Error, match=r"requests.json: Open311 error \(HTTP 403\) 403: "):
        o311(adapters_region, client=mock_client(forbidden)).fetch(None)

    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<!DOCTYPE html><html><title>Maintenance</title></html>")

    with pytest.raises(PayloadError, match=r"expected JSON, got an HTML page \('Maintenance'\)"):
        o311(adapters_region, client=mock_client(html)).fetch(None)


def test_services(adapters_region: tsur.RegionConfig) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == f"{BASE}/services.json?api_key=k"
        return httpx.Response(200, content=payload("open311_services.json"))

    services = o311(adapters_region, client=mock_client(handler), api_key="k").services()
    assert [(s.service_code, s.group) for s in services] == [
        ("001", "sanitation"),
        ("002", "street"),
        ("003", "street"),
    ]


def test_status_updates_need_an_extension_endpoint(adapters_region: tsur.RegionConfig) -> None:
    reply = tsur.Reply(4, "city311", "Плитку заменили", "final", in_reply_to="638349")
    assert o311(adapters_region).reply(reply) is None  # the standard has no such call
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"service_request_id": 638349}])

    a = o311(
        adapters_region,
        client=mock_client(handler),
        api_key="k",
        status_url=f"{BASE}/requests/{{id}}/status.json",
    )
    assert a.reply(reply) == "638349"
    [req] = seen
    assert (req.method, str(req.url)) == ("POST", f"{BASE}/requests/638349/status.json")
    assert {k: v[0] for k, v in parse_qs(req.content.decode()).items()} == {
        "api_key": "k",
        "service_request_id": "638349",
        "status": "closed",
        "status_notes": "Плитку заменили",
    }


def test_collect_windows_into_the_store(sqlite_engine: tsur.Engine) -> None:
    requests = json.loads(payload("open311_service_requests.json"))

    def handler(request: httpx.Request) -> httpx.Response:
        start = datetime.fromisoformat(request.url.params["start_date"])
        end = datetime.fromisoformat(request.url.params["end_date"])
        inside = [
            r for r in requests if start <= datetime.fromisoformat(r["requested_datetime"]) <= end
        ]
        return httpx.Response(200, json=inside)

    adapter = adapter_for(
        sqlite_engine,
        "city311",
        client=mock_client(handler),
        now=lambda: NOW,
        start_date="2010-03-01T00:00:00+00:00",
    )
    report = collect(sqlite_engine, "city311", adapter=adapter)
    # 30-day windows, each starting an hour before the last ended, up to now
    assert (report.pages, report.inserted) == (4, 2)
    again = collect(sqlite_engine, "city311", client=mock_client(handler), now=lambda: NOW)
    assert (again.pages, again.inserted) == (1, 0)


def test_a_429_in_the_errors_array_waits_as_retry_after_asks(
    adapters_region: tsur.RegionConfig,
) -> None:
    """A server that says «slow down» in the spec's errors array is still asking to slow
    down: the answer is retried after its Retry-After, not taken as a refusal."""
    answers = iter(
        [
            httpx.Response(
                429, headers={"Retry-After": "9"}, json=[{"code": 429, "description": "slow"}]
            ),
            httpx.Response(200, json=[]),
        ]
    )
    pauses: list[float] = []
    a = o311(adapters_region, client=mock_client(lambda _r: next(answers)), sleep=pauses.append)
    assert list(a.fetch(None).messages) == []
    assert len(pauses) == 1 and pauses[0] >= 9
