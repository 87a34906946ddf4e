"""The examples/ folder works: the embedding script, and the city portal plugin.

The plugin is tested the way its README tells plugin authors to: real
``httpx`` requests and responses through :class:`httpx.MockTransport`, and
real entry-point discovery from a distribution found on ``sys.path``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import tsur
from tsur.plugins import collect_components
from tsur.typing import SourceAdapter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLUGIN_DIR = EXAMPLES / "custom_source_plugin"
MODULE = "tsur_city_portal"
BASE = "https://portal.example.ru"

Handler = Callable[[httpx.Request], httpx.Response]


# embed_minimal.py ------------------------------------------------------------
def test_embed_minimal_prints_three_routed_incidents(tmp_path: Path) -> None:
    env = {**os.environ, "TSUR_LOAD_PLUGINS": ""}  # no third-party plugins: same run everywhere
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "embed_minimal.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    heads = [line for line in lines if line.startswith("№")]
    assert len(heads) == 3, done.stdout
    assert all("[routed]" in h for h in heads)
    by_topic = {h.split("] ", 1)[1].split(" — ", 1)[0]: lines[lines.index(h) + 1] for h in heads}
    manhole = next(h for h in heads if "Люки и колодцы" in h)
    assert "— Тольятти → Администрация городского округа Тольятти" in manhole
    assert by_topic["Люки и колодцы"].strip() == "срочно; первый ответ до 16.11.2026 10:12"
    heating = next(h for h in heads if "Отопление" in h)
    assert "— Самара → ПАО «Т Плюс»" in heating
    bus = next(h for h in heads if "Сызрань" in h)
    assert "Министерство транспорта" in bus
    # 8 working hours from Monday 10:05 end on Tuesday 10:05 (lunch 13–14, day ends at 18:00)
    assert by_topic["Маршруты"].strip() == "обычный порядок; первый ответ до 17.11.2026 10:05"
    assert not (tmp_path / "tsur.db").exists()  # in memory: nothing written


# the city portal adapter ---------------------------------------------------------
@pytest.fixture(scope="module")
def portal() -> Iterator[ModuleType]:
    """The example plugin module, imported from examples/custom_source_plugin."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(PLUGIN_DIR))
        mp.delitem(sys.modules, MODULE, raising=False)
        module = importlib.import_module(MODULE)
        assert Path(str(module.__file__)).parent.parent == PLUGIN_DIR
        yield module


@pytest.fixture
def source() -> tsur.Source:
    return tsur.Source(id="portal", kind="webhook", name="Портал «Город онлайн»")


def appeal(ident: str, text: str, **extra: Any) -> dict[str, Any]:
    """An appeal as the portal's API sends it."""
    return {
        "id": ident,
        "text": text,
        "created_at": "2026-11-16T09:41:00+04:00",
        "category": "Дороги",
        **extra,
    }


def adapter_for(portal: ModuleType, source: tsur.Source, handler: Handler, **options: Any) -> Any:
    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    return portal.CityPortalAdapter(source, None, client=client, **options)


def test_fetch_follows_the_pages_to_the_end(portal: ModuleType, source: tsur.Source) -> None:
    seen: list[httpx.Request] = []
    pages = {
        "1": {
            "items": [
                appeal(
                    "A-1",
                    "Яма на Юбилейной в Тольятти",
                    location={"lat": 53.51, "lon": 49.42},
                    author={"id": "u-7", "name": "Ирина", "anonymous": True},
                    photos=[f"{BASE}/f/1.jpg", f"{BASE}/f/2.jpg"],
                    address="г. Тольятти, ул. Юбилейная, 31",
                    url=f"{BASE}/appeals/A-1",
                ),
                appeal("A-2", "Не горит фонарь"),
            ],
            "next_page": 2,
            "cursor": "c-2",
        },
        "2": {"items": [appeal(3, "Мусор не вывезли")], "next_page": 3, "cursor": "c-3"},
        "3": {"items": [], "next_page": None, "cursor": "c-3"},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params["page"]])

    adapter = adapter_for(portal, source, handler, token="s3cret")
    result = adapter.fetch("c-1")
    assert isinstance(result, tsur.FetchResult)
    assert [m.external_id for m in result.messages] == ["A-1", "A-2", "3"]
    assert result.cursor == "c-3" and result.more is False
    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        ("GET", "/api/appeals", {"page": "1", "since": "c-1"}),
        ("GET", "/api/appeals", {"page": "2", "since": "c-1"}),
        ("GET", "/api/appeals", {"page": "3", "since": "c-1"}),
    ]
    assert {r.headers["Authorization"] for r in seen} == {"Bearer s3cret"}
    first = result.messages[0]
    assert first.source == "portal"
    assert first.created_at == datetime(2026, 11, 16, 5, 41, tzinfo=UTC)
    assert first.geo == tsur.GeoPoint(53.51, 49.42)
    assert first.author == tsur.Author(id="u-7", name="Ирина", anonymous=True)
    assert [a.url for a in first.attachments] == [f"{BASE}/f/1.jpg", f"{BASE}/f/2.jpg"]
    assert first.address == "г. Тольятти, ул. Юбилейная, 31"
    assert first.meta == {"category": "Дороги"}


def test_first_fetch_sends_no_cursor(portal: ModuleType, source: tsur.Source) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_page": None, "cursor": "c-0"})

    result = adapter_for(portal, source, handler).fetch(None)
    assert result == tsur.FetchResult([], "c-0")
    assert dict(seen[0].url.params) == {"page": "1"}
    assert "Authorization" not in seen[0].headers


def test_pagination_that_goes_back_is_an_error(portal: ModuleType, source: tsur.Source) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [], "next_page": 1, "cursor": "c"})

    with pytest.raises(tsur.AdapterError, match="page 1 points back to page 1"):
        adapter_for(portal, source, handler).fetch(None)


def test_reply_posts_the_answer(portal: ModuleType, source: tsur.Source) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": 9001, "status": "published"})

    reply = tsur.Reply(
        incident_id=12,
        source="portal",
        kind="intermediate",
        in_reply_to="A-1842",
        text="Обращение принято в работу, люк закроют до 18:00 16.11.2026.",
    )
    assert adapter_for(portal, source, handler).reply(reply) == "9001"
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/appeals/A-1842/answers")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "appeal_id": "A-1842",
        "text": "Обращение принято в работу, люк закроют до 18:00 16.11.2026.",
    }


def test_reply_needs_the_appeal_id(portal: ModuleType, source: tsur.Source) -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - never called
        raise AssertionError("no request expected")

    reply = tsur.Reply(incident_id=12, source="portal", kind="final", text="Сделано.")
    with pytest.raises(tsur.AdapterError, match="incident 12: a reply needs in_reply_to"):
        adapter_for(portal, source, handler).reply(reply)


@pytest.mark.parametrize("header", ["30", "date"])
def test_429_becomes_rate_limited(portal: ModuleType, source: tsur.Source, header: str) -> None:
    value = header
    if header == "date":
        value = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value}, text="Too Many Requests")

    with pytest.raises(tsur.RateLimited) as info:
        adapter_for(portal, source, handler).fetch("c-1")
    err = info.value
    assert err.source == "portal" and err.retryable
    assert err.retry_after is not None
    if header == "30":
        assert err.retry_after == 30.0
    else:
        assert 60 < err.retry_after <= 90
    assert isinstance(err.__cause__, httpx.HTTPStatusError)
    assert str(err).startswith("portal: GET /api/appeals: HTTP 429")


HTML = (
    "<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1>"
    "<hr><center>nginx</center></body></html>"
)


def test_html_error_page_becomes_adapter_error(portal: ModuleType, source: tsur.Source) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, headers={"Content-Type": "text/html"}, text=HTML)

    with pytest.raises(tsur.AdapterError) as info:
        adapter_for(portal, source, handler).fetch(None)
    err = info.value
    assert not isinstance(err, tsur.RateLimited)
    assert err.retryable  # a server error: try again later
    assert "HTTP 502: <html><head><title>502 Bad Gateway</title>" in str(err)
    assert isinstance(err.__cause__, httpx.HTTPStatusError)


def test_html_instead_of_json_becomes_adapter_error(
    portal: ModuleType, source: tsur.Source
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "text/html; charset=utf-8"},
            text="<html><body>Технические работы до 06:00</body></html>",
        )

    with pytest.raises(tsur.AdapterError) as info:
        adapter_for(portal, source, handler).fetch(None)
    err = info.value
    assert not err.retryable
    assert "expected JSON, got text/html; charset=utf-8: <html><body>Технические работы" in str(err)
    assert isinstance(err.__cause__, ValueError)


def test_network_failure_becomes_retryable_adapter_error(
    portal: ModuleType, source: tsur.Source
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(tsur.AdapterError, match="ConnectError: connection refused") as info:
        adapter_for(portal, source, handler).fetch(None)
    assert info.value.retryable
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_unexpected_payload_names_the_field(portal: ModuleType, source: tsur.Source) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"items": [{"id": "A-1", "text": "яма"}], "next_page": None, "cursor": "c"}
        )

    with pytest.raises(tsur.AdapterError, match=r"unexpected page 1: items\.0\.created_at"):
        adapter_for(portal, source, handler).fetch(None)


def test_parse_reads_a_pushed_webhook(portal: ModuleType, source: tsur.Source) -> None:
    def handler(request: httpx.Request) -> httpx.Response:  # pragma: no cover - never called
        raise AssertionError("no request expected")

    adapter = adapter_for(portal, source, handler)
    body = json.dumps(
        {"event": "appeal.created", "appeal": appeal("A-77", "Открытый люк у школы № 5")},
        ensure_ascii=False,
    ).encode("utf-8")
    (message,) = adapter.parse(body)
    assert (message.source, message.external_id) == ("portal", "A-77")
    assert list(adapter.parse({"event": "answer.rated", "rating": 5})) == []
    with pytest.raises(tsur.AdapterError, match="webhook body is not JSON"):
        adapter.parse("<xml/>")
    with pytest.raises(tsur.AdapterError, match=r"unexpected webhook body: appeal\.created_at"):
        adapter.parse({"event": "appeal.created", "appeal": {"id": "A-78", "text": "яма"}})


def test_options_build_and_close_a_client(portal: ModuleType, source: tsur.Source) -> None:
    with pytest.raises(tsur.AdapterError, match="portal: a city_portal source needs options"):
        portal.CityPortalAdapter(source, None)
    with portal.CityPortalAdapter(source, None, base_url=BASE, timeout=3.0) as adapter:
        assert str(adapter.client.base_url) == BASE
    assert adapter.client.is_closed


def test_the_engine_ingests_what_the_adapter_fetches(
    portal: ModuleType, small_region: tsur.RegionConfig
) -> None:
    """The README's polling loop: factory from the components, cursor in the store."""
    since: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        since.append(request.url.params.get("since"))
        items = [
            appeal("A-1", "В Тольятти на дороге открытый люк!"),
            appeal("A-2", "В Сызрани автобус не пришёл, на остановке ждём час"),
        ]
        return httpx.Response(200, json={"items": items, "next_page": None, "cursor": "c-2"})

    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    engine = tsur.Engine(
        small_region, tsur.open_repository(":memory:"), plugins=[portal], entry_points=False
    )
    with engine, client:
        registered = engine.components.source_adapters["city_portal"]
        assert registered.plugin == MODULE  # a module registered by hand: named after it
        source = engine.config.source_objects()["portal"]
        adapter = registered.component(source, engine.config, client=client)
        assert isinstance(adapter, SourceAdapter)
        for _ in range(2):  # the second poll finds the same appeals: nothing new
            result = adapter.fetch(engine.repository.get_cursor(source.id))
            report = engine.ingest(result.messages, origin=source.id)
            engine.repository.set_cursor(source.id, result.cursor, at=engine.clock())
        assert since == [None, "c-2"]
        assert (report.inserted, report.duplicates) == (0, 2)
        run = engine.run()
        assert run.created == 2
        by_topic = {i.topic: i for i in engine.incidents()}
        assert by_topic["roads"].territory == "gorod"
        assert by_topic["roads"].urgency is tsur.Urgency.URGENT
        assert by_topic["transport"].executor == "adm-sela"  # the carrier serves Тольятти only


# entry-point discovery -----------------------------------------------------------
@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake installed distribution of tsur-city-portal on sys.path (no pip)."""
    shutil.copytree(PLUGIN_DIR / MODULE, tmp_path / MODULE)
    info = tmp_path / "tsur_city_portal-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tsur-city-portal\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[tsur]\ncity_portal = tsur_city_portal\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)  # import it from the distribution
    monkeypatch.delenv("TSUR_LOAD_PLUGINS", raising=False)
    return tmp_path


def test_an_installed_plugin_is_found_by_entry_point(
    installed: Path, small_region: tsur.RegionConfig
) -> None:
    pm = tsur.make_plugin_manager()
    assert pm.has_plugin("city_portal")
    module = pm.get_plugin("city_portal")
    assert Path(module.__file__).parent.parent == installed
    assert ("tsur-city-portal", "0.1") in {
        (dist.project_name, dist.version) for _plugin, dist in pm.list_plugin_distinfo()
    }
    comps = collect_components(pm, small_region)
    registered = comps.source_adapters["city_portal"]
    assert registered.plugin == "city_portal"
    assert registered.component is module.CityPortalAdapter
    assert "jsonl" in comps.names("source_adapters")  # built-ins are still there


def test_tsur_load_plugins_empty_loads_none(
    installed: Path, small_region: tsur.RegionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_LOAD_PLUGINS", "")
    pm = tsur.make_plugin_manager()
    assert not pm.has_plugin("city_portal")
    assert pm.list_plugin_distinfo() == []
    assert "city_portal" not in collect_components(pm, small_region).names("source_adapters")
    assert MODULE not in sys.modules  # not even imported


def test_tsur_load_plugins_names_the_ones_to_load(
    installed: Path, small_region: tsur.RegionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_LOAD_PLUGINS", "city_portal, not_installed")
    pm = tsur.make_plugin_manager()
    assert pm.has_plugin("city_portal")
    assert "city_portal" in collect_components(pm, small_region).names("source_adapters")
