"""tsur's Open311 GeoReport v2 server, checked against the spec (wiki.open311.org/GeoReport_v2).

The spec: ``services``, ``services/{code}``, ``POST requests`` (form-encoded;
``api_key``; a location of lat/long or address_string), ``tokens/{token}``,
``requests`` (filters service_request_id — which overrides the others —,
service_code, start_date/end_date at most 90 days apart, status open/closed;
at most 1000) and ``requests/{id}``; errors are ``[{"code", "description"}]``
with the HTTP status (403 a bad api_key, 404 an unknown code, jurisdiction
or token, 400 the rest); JSON and XML. And tsur's rules: nothing personal in
any answer, a scoped key sees its municipality only, and tsur's own Open311
client reads tsur's server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from tsur import Engine
from tsur.adapters.open311 import Open311Adapter
from tsur.config import ServerConfig
from tsur.domain import Source, Status
from tsur.server.open311 import open311_status
from tsur.testing import FixedClock

from .service_kit import Service, service

PREFIX = "/open311/v2"
#: personal data a request is filed with: none of it may appear in an answer
EMAIL = "ivan.petrov@example.ru"
PHONE = "+79171234567"
FIRST, LAST = "Иннокентий", "Смоктуновский"


@pytest.fixture
def svc(engine: Engine) -> Iterator[Service]:
    with service(engine) as s:
        yield s


def file_request(svc: Service, who: str = "integration", **fields: Any) -> Any:
    """POST requests.json form-encoded, the key as the spec's api_key parameter."""
    form = {
        "api_key": svc.tokens[who],
        "service_code": "roads",
        "lat": "53.51",
        "long": "49.42",
        "address_string": "ул. Ленина, 5, Тольятти",
        "description": "Глубокая яма на дороге у дома, машины объезжают по встречной",
        "email": EMAIL,
        "phone": PHONE,
        "first_name": FIRST,
        "last_name": LAST,
        "media_url": "https://photos.example/pothole.jpg",
        **fields,
    }
    return svc.client.post(f"{PREFIX}/requests.json", data={k: v for k, v in form.items() if v})


def registered(svc: Service, **fields: Any) -> str:
    """File a request, process it, and return its service_request_id."""
    r = file_request(svc, **fields)
    assert r.status_code == 200, r.text
    token = r.json()[0]["token"]
    svc.engine.run()
    t = svc.get(f"{PREFIX}/tokens/{token}.json", "integration")
    found = t.json()[0]["service_request_id"]
    assert found is not None
    return str(found)


def errors_of(r: Any, status: int) -> str:
    """The spec's error array of an answer of ``status``: its description."""
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == status and isinstance(body[0]["description"], str)
    return str(body[0]["description"])


def assert_nothing_personal(text: str) -> None:
    for secret in (EMAIL, PHONE, "9171234567", FIRST, LAST):
        assert secret not in text


# services --------------------------------------------------------------------------
def test_services_are_the_regions_topics(svc: Service) -> None:
    r = svc.get(f"{PREFIX}/services.json", "integration")
    assert r.status_code == 200
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == set(svc.engine.region.topics)
    heating = services["zhkh.heating"]
    assert heating["service_name"] == "Отопление"
    assert heating["group"] == "ЖКХ"  # the parent topic
    assert heating["metadata"] is False and heating["type"] == "realtime"
    assert "батарея" in heating["keywords"]
    assert services["roads"]["group"] == "Дороги"  # a root topic is its own group


def test_services_in_xml(svc: Service) -> None:
    r = svc.get(f"{PREFIX}/services.xml", "integration")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(r.content)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert codes == list(svc.engine.region.topics)
    assert root.find("service/metadata").text == "false"  # type: ignore[union-attr]


def test_service_definition_and_an_unknown_service(svc: Service) -> None:
    r = svc.get(f"{PREFIX}/services/roads.json", "integration")
    assert r.status_code == 200 and r.json() == {"service_code": "roads", "attributes": []}
    x = svc.get(f"{PREFIX}/services/roads.xml", "integration")
    root = ElementTree.fromstring(x.content)
    assert root.tag == "service_definition" and root.findtext("service_code") == "roads"
    assert "nope" in errors_of(svc.get(f"{PREFIX}/services/nope.json", "integration"), 404)


# keys and jurisdictions --------------------------------------------------------------
@pytest.mark.parametrize("path", ["services.json", "requests.json", "services/roads.json"])
def test_reads_need_an_open311_key_unless_public(engine: Engine, path: str) -> None:
    with service(engine) as s:
        errors_of(s.get(f"{PREFIX}/{path}"), 403)  # the spec answers a bad api_key 403
        errors_of(s.client.get(f"{PREFIX}/{path}", params={"api_key": "tsur_nope"}), 403)
        for role in ("executor", "analyst"):
            who = "adm-gorod" if role == "executor" else "analyst"
            errors_of(s.get(f"{PREFIX}/{path}", who), 403)
        for who in ("integration", "region", "gorod"):
            assert s.get(f"{PREFIX}/{path}", who).status_code == 200
        # the spec's api_key parameter and the X-API-Key header work as well
        key = s.tokens["integration"]
        assert s.client.get(f"{PREFIX}/{path}", params={"api_key": key}).status_code == 200
        assert s.client.get(f"{PREFIX}/{path}", headers={"X-API-Key": key}).status_code == 200
    with service(engine, ServerConfig(open311_public=True)) as s:
        assert s.get(f"{PREFIX}/{path}").status_code == 200
        errors_of(s.client.get(f"{PREFIX}/{path}", params={"api_key": "tsur_nope"}), 403)


def test_filing_needs_an_open311_key_even_when_reads_are_public(engine: Engine) -> None:
    with service(engine, ServerConfig(open311_public=True)) as s:
        r = s.client.post(f"{PREFIX}/requests.json", data={"service_code": "roads", "lat": "53.5"})
        errors_of(r, 403)
        errors_of(file_request(s, who="analyst"), 403)
        errors_of(file_request(s, who="adm-gorod"), 403)
        assert file_request(s, who="region").status_code == 200
        assert engine.repository.message_counts() == {"pending": 1}


def test_jurisdiction_id_is_this_servers_or_404(engine: Engine) -> None:
    with service(engine) as s:
        ok = s.get(f"{PREFIX}/services.json", "integration", params={"jurisdiction_id": "99"})
        assert ok.status_code == 200  # the default: the region's code
        other = s.get(f"{PREFIX}/services.json", "integration", params={"jurisdiction_id": "x"})
        assert "jurisdiction_id" in errors_of(other, 404)
        errors_of(file_request(s, jurisdiction_id="city.gov"), 404)
        assert engine.repository.message_counts() == {}
    with service(engine, ServerConfig(jurisdiction_id="samara.example")) as s:
        params = {"jurisdiction_id": "samara.example"}
        assert s.get(f"{PREFIX}/requests.json", "integration", params=params).status_code == 200
        errors_of(
            s.get(f"{PREFIX}/requests.json", "integration", params={"jurisdiction_id": "99"}), 404
        )
        assert file_request(s, jurisdiction_id="samara.example").status_code == 200


# filing ------------------------------------------------------------------------------
def test_a_filed_request_gets_a_token_then_its_id(svc: Service) -> None:
    r = file_request(svc, **{"attribute[WHISPAWN]": "123456", "device_id": "tt222111"})
    assert r.status_code == 200
    [answer] = r.json()
    assert set(answer) == {"token", "service_notice", "account_id"}  # no id yet: a token
    assert answer["account_id"] is None and answer["service_notice"]
    token = answer["token"]
    pending = svc.get(f"{PREFIX}/tokens/{token}.json", "integration")
    assert pending.status_code == 200
    assert pending.json() == [{"service_request_id": None, "token": token}]

    svc.engine.run()
    done = svc.get(f"{PREFIX}/tokens/{token}.json", "integration").json()
    [incident] = svc.engine.incidents()
    assert done == [{"service_request_id": str(incident.id), "token": token}]
    x = ElementTree.fromstring(svc.get(f"{PREFIX}/tokens/{token}.xml", "integration").content)
    assert x.tag == "service_requests" and x.findtext("request/service_request_id") == str(
        incident.id
    )

    # the message is an ordinary one of the region's open311_server source, with the contact
    [stored] = svc.engine.repository.messages()
    m = stored.message
    assert m.source == "open311" and m.external_id == token and m.topic == "roads"
    assert m.author is not None and m.author.contact == EMAIL
    assert m.author.name == f"{FIRST} {LAST}"
    assert m.geo is not None and (m.geo.lat, m.geo.lon) == (53.51, 49.42)
    assert m.address == "ул. Ленина, 5, Тольятти"
    assert [a.url for a in m.attachments] == ["https://photos.example/pothole.jpg"]
    assert m.meta["attributes"] == {"WHISPAWN": "123456"}
    assert "tt222111" not in json.dumps(dict(m.meta))  # a device id is not kept


def test_a_token_whose_request_made_no_incident_is_404(svc: Service) -> None:
    spam = f"Звоните {PHONE} или пишите {EMAIL}: лучшие цены на асфальт, скидки!"
    token = file_request(svc, description=spam).json()[0]["token"]
    svc.engine.run()
    assert svc.engine.incidents() == []  # refused by moderation
    assert "rejected" in errors_of(svc.get(f"{PREFIX}/tokens/{token}.json", "integration"), 404)


def test_unknown_and_malformed_tokens_are_404(svc: Service) -> None:
    errors_of(svc.get(f"{PREFIX}/tokens/{'0' * 32}.json", "integration"), 404)
    errors_of(svc.get(f"{PREFIX}/tokens/..%2Fx.json", "integration"), 404)


def test_a_json_request_with_the_header_key_processed_inline_gets_its_id(engine: Engine) -> None:
    with service(engine, ServerConfig(process_inline=True)) as s:
        r = s.client.post(
            f"{PREFIX}/requests.json",
            json={
                "service_code": "zhkh.heating",
                "address_string": "Тольятти, ул. Мира, 10",
                "description": "Нет отопления в подъезде, батареи холодные",
                "attribute": {"floor": "3"},
            },
            headers={"X-API-Key": s.tokens["integration"]},
        )
        assert r.status_code == 200, r.text
        [answer] = r.json()
        [incident] = engine.incidents()
        assert answer["service_request_id"] == str(incident.id) and "token" not in answer
        assert f"№ {incident.id}" in answer["service_notice"]
        assert engine.repository.messages()[0].message.meta["attributes"] == {"floor": "3"}


def test_the_spec_example_request_is_taken_as_sent(svc: Service) -> None:
    """The spec's own POST body (form-encoded, attribute[...] pairs), with our key."""
    body = (
        f"api_key={svc.tokens['integration']}&jurisdiction_id=99&service_code=roads"
        "&lat=53.51&long=49.42&address_string=1234+5th+street&email=smit333%40sfgov.edu"
        "&device_id=tt222111&account_id=123456&first_name=john&last_name=smith"
        "&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
        "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
        "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
    )
    r = svc.client.post(
        f"{PREFIX}/requests.xml",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert r.status_code == 200
    root = ElementTree.fromstring(r.content)
    assert root.tag == "service_requests" and root.findtext("request/token")
    m = svc.engine.repository.messages()[0].message
    assert m.meta["attributes"] == {"WHISPAWN": "123456", "WHISDORN": "COISL001"}
    assert m.author is not None and m.author.contact == "smit333@sfgov.edu"


@pytest.mark.parametrize(
    ("fields", "status", "word"),
    [
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "potholes"}, 404, "service_code"),
        ({"lat": "", "long": "", "address_string": ""}, 400, "location"),
        ({"long": "", "address_string": ""}, 400, "lat and long"),
        ({"lat": "91"}, 400, "lat"),
        ({"long": "nan"}, 400, "long"),
        ({"lat": "north"}, 400, "lat"),
        ({"description": "я" * 4001}, 400, "description"),
        ({"email": "not-an-address"}, 400, "email"),
        ({"phone": "call me"}, 400, "phone"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"lat": "", "long": "", "address_string": "", "address_id": "545483"}, 400, "address_id"),
    ],
)
def test_bad_requests_are_refused_in_the_specs_format(
    svc: Service, fields: dict[str, str], status: int, word: str
) -> None:
    assert word in errors_of(file_request(svc, **fields), status)
    assert svc.engine.repository.message_counts() == {}


def test_bodies_of_other_types_and_broken_json_are_refused(svc: Service) -> None:
    key = {"X-API-Key": svc.tokens["integration"]}
    r = svc.client.post(
        f"{PREFIX}/requests.json", content=b"<x/>", headers={**key, "Content-Type": "text/xml"}
    )
    errors_of(r, 415)
    r = svc.client.post(
        f"{PREFIX}/requests.json", content=b"{", headers={**key, "Content-Type": "application/json"}
    )
    assert "JSON" in errors_of(r, 400)
    r = svc.client.post(f"{PREFIX}/requests.json", json=["roads"], headers=key)
    errors_of(r, 400)
    r = svc.client.post(f"{PREFIX}/requests.json", json={"service_code": {"a": 1}}, headers=key)
    errors_of(r, 400)
    assert svc.engine.repository.message_counts() == {}


def test_without_an_open311_source_the_server_takes_no_requests(
    engine: Engine, small_region: Any, clock: FixedClock
) -> None:
    config = small_region.model_copy(
        update={"sources": [s for s in small_region.sources if s.kind != "open311_server"]}
    )
    bare = Engine(config, engine.repository, entry_points=False, clock=clock)
    with service(bare) as s:
        assert "open311_server" in errors_of(file_request(s), 400)
        assert s.get(f"{PREFIX}/services.json", "integration").status_code == 200
    assert engine.repository.message_counts() == {}


# reading requests -------------------------------------------------------------------
def test_a_request_field_by_field_and_nothing_personal(svc: Service) -> None:
    rid = registered(svc, description=f"Яма на дороге у дома 5, перезвоните мне {PHONE}")
    inc = svc.engine.incident(int(rid))
    r = svc.get(f"{PREFIX}/requests/{rid}.json", "integration")
    assert r.status_code == 200
    [req] = r.json()
    assert req["service_request_id"] == rid
    assert req["status"] == "open"
    assert req["service_code"] == "roads" and req["service_name"] == "Дороги"
    assert req["description"] == inc.summary and "Яма" in req["description"]
    assert req["agency_responsible"] == svc.engine.region.executors[inc.executor].name  # type: ignore[index]
    assert req["address"] == inc.address
    assert (req["lat"], req["long"]) == (53.51, 49.42)
    assert req["media_url"] == "https://photos.example/pothole.jpg"
    assert datetime.fromisoformat(req["requested_datetime"]) == inc.created_at
    assert datetime.fromisoformat(req["expected_datetime"]) == inc.resolution_due
    assert datetime.fromisoformat(req["updated_datetime"]) >= inc.created_at
    assert req["status_notes"] and req["service_notice"]
    for path in (f"requests/{rid}.json", f"requests/{rid}.xml", "requests.json", "requests.xml"):
        assert_nothing_personal(svc.get(f"{PREFIX}/{path}", "integration").text)


def test_status_notes_are_the_latest_answer_and_a_resolved_request_is_closed(
    svc: Service,
) -> None:
    rid = registered(svc)
    svc.lifecycle.answer_intermediate(
        int(rid), "Бригада выедет 17.11.2026 и выполнит ямочный ремонт покрытия."
    )
    [req] = svc.get(f"{PREFIX}/requests/{rid}.json", "integration").json()
    assert req["status"] == "open"
    assert req["status_notes"] == "Бригада выедет 17.11.2026 и выполнит ямочный ремонт покрытия."
    final = (
        "Выполнен ямочный ремонт покрытия у дома 5 по ул. Ленина 17.11.2026, "
        "работы приняты. Звоните +7 917 765-43-21."
    )
    svc.lifecycle.answer_final(int(rid), final, photos=["https://photos.example/after.jpg"])
    [req] = svc.get(f"{PREFIX}/requests/{rid}.json", "integration").json()
    assert req["status"] == "closed"
    assert req["status_notes"].startswith("Выполнен ямочный ремонт")
    assert "765-43-21" not in req["status_notes"]  # masked like any text that leaves tsur


# Open311 has two statuses: open ("it has been reported") and closed ("it has been resolved").
OPEN311_STATUS = {
    Status.NEW: "open",
    Status.TRIAGE: "open",
    Status.CLASSIFIED: "open",
    Status.ROUTED: "open",
    Status.IN_PROGRESS: "open",
    Status.ANSWERED_INTERMEDIATE: "open",
    Status.REOPENED: "open",
    Status.RESOLVED: "closed",
    Status.CLOSED: "closed",
    Status.REJECTED: "closed",
    Status.DUPLICATE: "closed",
}


@pytest.mark.parametrize("status", list(Status))
def test_every_tsur_status_is_open_or_closed(status: Status) -> None:
    assert open311_status(status) == OPEN311_STATUS[status]


def _ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


def test_filters_of_the_spec(svc: Service, clock: FixedClock) -> None:
    old = registered(svc, description="Разбита дорога на въезде в город")
    clock.advance(days=10)
    heating = registered(
        svc,
        service_code="zhkh.heating",
        description="Нет отопления, батареи холодные",
        address_string="Тольятти, ул. Мира, 10",
    )
    clock.advance(days=10)
    new = registered(svc, description="Открытый люк на тротуаре, опасно")
    svc.engine.transition(int(old), Status.REJECTED, actor="test", reason="спам")
    get = lambda **p: svc.get(f"{PREFIX}/requests.json", "integration", params=p)  # noqa: E731

    assert _ids(get()) == [new, heating, old]  # newest first
    assert _ids(get(status="open")) == [new, heating]
    assert _ids(get(status="closed")) == [old]
    assert _ids(get(status="open,closed")) == [new, heating, old]
    assert _ids(get(service_code="zhkh.heating")) == [heating]
    assert _ids(get(service_code="zhkh.heating,roads")) == [new, heating, old]
    # service_request_id overrides all other arguments
    assert _ids(get(service_request_id=f"{old},{new}", status="open")) == [new, old]
    start = clock.now - timedelta(days=15)
    assert _ids(get(start_date=start.isoformat())) == [new, heating]
    assert _ids(get(end_date=(clock.now - timedelta(days=15)).isoformat())) == [old]
    local = clock.now.astimezone(svc.engine.region.calendar.tz)
    # the range holds its ends: a request made at end_date is in it
    assert _ids(
        get(start_date=(local - timedelta(days=1)).isoformat(), end_date=local.isoformat())
    ) == [new]
    # an unencoded "+" of an offset reaches the server as a space
    raw = local.isoformat(timespec="seconds")
    r = svc.client.get(
        f"{PREFIX}/requests.json?start_date={raw}", headers=svc.headers("integration")
    )
    assert _ids(r) == [new]
    # the extension: page and page_size
    assert _ids(get(page_size="2")) == [new, heating]
    assert _ids(get(page_size="2", page="2")) == [old]


def test_the_default_range_is_the_last_90_days(svc: Service, clock: FixedClock) -> None:
    old = registered(svc)
    clock.advance(days=91)
    new = registered(svc, description="Открытый люк на тротуаре, опасно")
    assert _ids(svc.get(f"{PREFIX}/requests.json", "integration")) == [new]
    assert _ids(svc.get(f"{PREFIX}/requests/{old}.json", "integration")) == [old]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "pending"}, 400),
        ({"start_date": "2026-11-01"}, 400),  # no time zone
        ({"start_date": "yesterday"}, 400),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, 400),
        ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, 400),
        ({"service_request_id": "1,abc"}, 400),
        ({"service_request_id": "-1"}, 400),
        ({"service_code": "potholes"}, 404),
        ({"page_size": "1001"}, 400),
        ({"page": "0"}, 400),
    ],
)
def test_bad_filters_are_refused(svc: Service, params: dict[str, str], status: int) -> None:
    errors_of(svc.get(f"{PREFIX}/requests.json", "integration", params=params), status)


@pytest.mark.parametrize("rid", ["0", "abc", "99999999999999999999", "1"])
def test_a_missing_request_is_404(svc: Service, rid: str) -> None:
    errors_of(svc.get(f"{PREFIX}/requests/{rid}.json", "integration"), 404)


def test_a_scoped_key_sees_and_files_in_its_municipality_only(engine: Engine) -> None:
    from tsur.access import issue_key

    with service(engine) as s:
        _, gorod_key = issue_key(
            engine.repository,
            engine.region,
            name="gorod-app",
            role="integration",
            scope="gorod",
            now=engine.clock(),
        )
        _, sela_key = issue_key(
            engine.repository,
            engine.region,
            name="sela-app",
            role="integration",
            scope="sela",
            now=engine.clock(),
        )
        s.tokens["gorod-app"], s.tokens["sela-app"] = gorod_key, sela_key
        in_gorod = registered(s)  # lat/long in Тольятти, filed by the unscoped key
        r = file_request(s, who="sela-app", lat="", long="", address_string="ул. Советская, 3")
        token = r.json()[0]["token"]
        engine.run()
        in_sela = s.get(f"{PREFIX}/tokens/{token}.json", "sela-app").json()[0]["service_request_id"]
        assert engine.incident(int(in_sela)).territory in engine.region.same_municipality("sela")

        assert _ids(s.get(f"{PREFIX}/requests.json", "gorod-app")) == [in_gorod]
        assert _ids(s.get(f"{PREFIX}/requests.json", "sela-app")) == [in_sela]
        assert set(_ids(s.get(f"{PREFIX}/requests.json", "integration"))) == {in_gorod, in_sela}
        errors_of(s.get(f"{PREFIX}/requests/{in_sela}.json", "gorod-app"), 404)
        errors_of(s.get(f"{PREFIX}/tokens/{token}.json", "gorod-app"), 404)
        params = {"service_request_id": f"{in_gorod},{in_sela}"}
        assert _ids(s.get(f"{PREFIX}/requests.json", "gorod-app", params=params)) == [in_gorod]
        # a municipal curator's key has the right too, within its municipality
        assert _ids(s.get(f"{PREFIX}/requests.json", "sela")) == [in_sela]


# errors and formats ------------------------------------------------------------------
def test_unknown_paths_formats_and_methods_answer_in_the_specs_format(svc: Service) -> None:
    errors_of(svc.get(f"{PREFIX}/discovery.json", "integration"), 404)
    errors_of(svc.get(f"{PREFIX}/services.csv", "integration"), 404)
    r = svc.client.delete(f"{PREFIX}/requests.json", headers=svc.headers("integration"))
    errors_of(r, 405)
    assert r.headers["Allow"] == "GET, POST"
    r = svc.client.put(f"{PREFIX}/services.json", headers=svc.headers("integration"))
    errors_of(r, 405)
    assert r.headers["Allow"] == "GET"
    x = svc.get(f"{PREFIX}/services/nope.xml", "integration")
    assert x.status_code == 404
    root = ElementTree.fromstring(x.content)
    assert root.tag == "errors" and root.findtext("error/code") == "404"
    assert "nope" in (root.findtext("error/description") or "")


def test_other_paths_keep_the_services_own_error_bodies(svc: Service) -> None:
    r = svc.get("/api/v1/incidents")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = svc.get("/api/v1/nothing", "region")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_rate_limited_key_gets_429_with_retry_after(engine: Engine) -> None:
    from tsur.access import issue_key

    with service(engine) as s:
        _, key = issue_key(
            engine.repository,
            engine.region,
            name="slow",
            role="integration",
            rate_per_minute=1,
            now=engine.clock(),
        )
        headers = {"X-API-Key": key}
        assert s.client.get(f"{PREFIX}/services.json", headers=headers).status_code == 200
        r = s.client.get(f"{PREFIX}/services.json", headers=headers)
        errors_of(r, 429)
        assert int(r.headers["Retry-After"]) >= 1


# tsur's own client reads tsur's server ---------------------------------------------
def test_tsurs_open311_client_collects_from_tsurs_server(svc: Service, clock: FixedClock) -> None:
    first = registered(svc)
    clock.advance(hours=3)
    second = registered(
        svc,
        service_code="zhkh.heating",
        description="Нет отопления, батареи холодные",
        address_string="Тольятти, ул. Мира, 10",
        lat="",
        long="",
        media_url="",
    )
    svc.lifecycle.answer_intermediate(
        int(second), "Теплосеть проведёт ремонт стояка 17.11.2026 до 18:00."
    )
    source = Source(
        "tsur311",
        "open311",
        "ЦУР Open311",
        options={
            "base_url": f"http://testserver{PREFIX}/",
            "api_key": svc.tokens["integration"],
            "jurisdiction_id": "99",
            "window_days": 30,
        },
    )
    adapter = Open311Adapter(source, client=svc.client, now=svc.engine.clock)
    services = {s.service_code: s for s in adapter.services()}
    assert services["zhkh.heating"].group == "ЖКХ"
    batch = adapter.fetch(None)
    assert not batch.more
    got = {m.external_id: m for m in batch.messages}
    assert set(got) == {first, second}
    for rid, m in got.items():
        inc = svc.engine.incident(int(rid))
        assert m.text == inc.summary
        assert m.created_at == inc.created_at
        assert m.address == inc.address
        assert m.meta["service_code"] == inc.topic
        assert m.meta["open311_status"] == "open"
        assert m.meta["agency_responsible"] == svc.engine.region.executors[inc.executor].name  # type: ignore[index]
        assert datetime.fromisoformat(m.meta["expected_at"]) == inc.resolution_due
        assert_nothing_personal(json.dumps([m.text, m.address, dict(m.meta)], ensure_ascii=False))
    assert got[first].geo is not None and got[first].geo.lat == 53.51
    assert [a.url for a in got[first].attachments] == ["https://photos.example/pothole.jpg"]
    assert (
        got[second].meta["status_notes"] == "Теплосеть проведёт ремонт стояка 17.11.2026 до 18:00."
    )
    assert got[second].meta["service_name"] == "Отопление"
    # the cursor goes on from where the window ended
    cursor = json.loads(batch.cursor or "{}")
    assert datetime.fromisoformat(cursor["start"]) < datetime.now(UTC) + timedelta(days=400)


# the store's lookups the server stands on ------------------------------------------
def test_the_store_finds_a_message_by_key_and_incidents_by_ids_and_creation(
    engine: Engine, clock: FixedClock
) -> None:
    from tsur.domain import Message

    def msg(n: int, text: str) -> Message:
        return Message("vk", f"m{n}", text, clock(), address="Тольятти, ул. Ленина, 5")

    engine.process([msg(1, "Яма на дороге в Тольятти")])
    clock.advance(hours=1)
    engine.process([msg(2, "Нет отопления в Тольятти, батареи холодные")])
    first, second = sorted(i.id for i in engine.incidents())  # type: ignore[type-var]
    repo = engine.repository
    found = repo.message_by_key("vk", "m2")
    assert found is not None and found.incident_id == second and found.status == "done"
    assert found.message.text.startswith("Нет отопления")
    assert repo.message_by_key("vk", "m3") is None and repo.message_by_key("tg", "m1") is None
    ids = lambda **f: [i.id for i in repo.incidents(**f)]  # noqa: E731
    assert ids(ids=[first]) == [first] and ids(ids=[]) == [] and ids(ids=[0, -5, 2**64]) == []
    at_second = repo.get_incident(second).created_at
    assert ids(created_from=at_second) == [second]  # from: inclusive
    assert ids(created_before=at_second) == [first]  # before: exclusive
    assert ids(created_from=at_second, ids=[first]) == []
