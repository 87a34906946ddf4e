"""The examples/ folder works: the embedding script, and the city portal plugin.

The plugin — the one docs/plugins.md's tutorial walks through — is tested
the way a plugin author would: real ``httpx`` requests and responses
through :class:`httpx.MockTransport` and through a real local HTTP server,
real entry-point discovery from a distribution found on ``sys.path``, and
the engine, the ``tsur`` command line and the webhook route of
:func:`tsur.server.create_app`, with the plugin registered in code and by entry
point.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

import tsur
from tsur import testing
from tsur.cli import main
from tsur.intake import collect
from tsur.plugins import PluginWarning, collect_components
from tsur.server import create_app as App

from .conftest import SMALL_REGION
from .service_kit import post_raw

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PLUGIN_DIR = EXAMPLES / "custom_source_plugin"
MODULE = "tsur_city_portal"
BASE = "https://portal.example.ru"

Handler = Callable[[httpx.Request], httpx.Response]


# embed_minimal.py ------------------------------------------------------------
def test_embed_minimal_prints_three_routed_incidents(tmp_path: Path) -> None:
    env = {**os.environ, "TSUR_PLUGINS": ""}  # no third-party plugins: same run everywhere
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
    assert all("(направлен)" in h for h in heads)
    by_topic = {h.split(") ", 1)[1].split(" — ", 1)[0]: lines[lines.index(h) + 1] for h in heads}
    manhole = next(h for h in heads if "Люки и колодцы" in h)
    assert "— Тольятти → Администрация городского округа Тольятти" in manhole
    assert by_topic["Люки и колодцы"].strip() == "срочное; первый ответ до 16.11.2026 10:12"
    heating = next(h for h in heads if "Отопление" in h)
    assert "— Самара → ПАО «Т Плюс»" in heating
    bus = next(h for h in heads if "Сызрань" in h)
    assert "Министерство транспорта" in bus
    # 8 working hours from Monday 10:05 end on Tuesday 10:05 (lunch 13–14, day ends at 18:00)
    assert by_topic["Маршруты"].strip() == "обычное; первый ответ до 17.11.2026 10:05"
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
    return tsur.Source(
        id="portal", kind="city_portal", name="Портал «Город онлайн»", options={"base_url": BASE}
    )


def appeal(ident: Any, text: str, **extra: Any) -> dict[str, Any]:
    """An appeal as the portal's API sends it."""
    return {
        "id": ident,
        "text": text,
        "created_at": "2026-11-16T09:41:00+04:00",
        "category": "Дороги",
        **extra,
    }


def adapter_for(portal: ModuleType, source: tsur.Source, handler: Handler, **options: Any) -> Any:
    """The adapter over a mock transport; retries do not wait."""
    source = attrs.evolve(source, options={**source.options, **options})
    client = testing.mock_client(handler)
    return portal.CityPortalAdapter(
        source, testing.make_context(), client=client, sleep=lambda s: None
    )


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
    assert [(r.method, str(r.url.copy_with(query=None)), dict(r.url.params)) for r in seen] == [
        ("GET", f"{BASE}/api/appeals", {"page": "1", "since": "c-1"}),
        ("GET", f"{BASE}/api/appeals", {"page": "2", "since": "c-1"}),
        ("GET", f"{BASE}/api/appeals", {"page": "3", "since": "c-1"}),
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
        value = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": value}, text="Too Many Requests")

    with pytest.raises(tsur.RateLimited) as info:
        adapter_for(portal, source, handler).fetch("c-1")
    err = info.value
    assert err.source == "portal" and err.retryable
    assert err.retry_after is not None
    if header == "30":
        assert err.retry_after == 30.0
        assert len(calls) == 5  # the toolkit retried, waiting at least Retry-After each time
    else:
        assert 240 < err.retry_after <= 300
        assert len(calls) == 1  # too long to wait: the caller comes back later
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


def test_html_instead_of_json_becomes_adapter_error(
    portal: ModuleType, source: tsur.Source
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "text/html; charset=utf-8"},
            text="<html><head><title>Технические работы</title></head></html>",
        )

    with pytest.raises(tsur.PayloadError) as info:
        adapter_for(portal, source, handler).fetch(None)
    err = info.value
    assert not err.retryable
    assert "expected JSON, got an HTML page ('Технические работы')" in str(err)
    assert "<title>Технические работы" in err.raw  # kept for the rejected-input store


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

    with pytest.raises(tsur.PayloadError, match=r"unexpected page 1: items\.0\.created_at"):
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
    with pytest.raises(tsur.PayloadError, match="webhook body: expected JSON"):
        adapter.parse("<xml/>")
    with pytest.raises(tsur.PayloadError, match=r"unexpected webhook body: appeal\.created_at"):
        adapter.parse({"event": "appeal.created", "appeal": {"id": "A-78", "text": "яма"}})


def test_options_are_checked_and_secrets_come_from_the_environment(
    portal: ModuleType, source: tsur.Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = testing.make_context()
    with pytest.raises(tsur.ConfigError) as err:
        portal.CityPortalAdapter(attrs.evolve(source, options={"base_ur": BASE}), context)
    assert {loc for loc, _ in err.value.problems} == {"options.base_url", "options.base_ur"}
    assert str(err.value).startswith("source 'portal' (kind 'city_portal'): invalid options")
    env = attrs.evolve(source, options={"base_url": BASE, "token_env": "CITY_TOKEN_TEST"})
    with pytest.raises(tsur.ConfigError, match="'CITY_TOKEN_TEST' is not set"):
        portal.CityPortalAdapter(env, context)
    monkeypatch.setenv("CITY_TOKEN_TEST", "from-env")
    with portal.CityPortalAdapter(env, context) as adapter:
        assert adapter.opts.token.get_secret_value() == "from-env"
        assert "from-env" not in repr(adapter.opts)  # a secret never shows


def test_an_adapter_builds_its_own_client_from_its_options_and_closes_it(
    portal: ModuleType, source: tsur.Source
) -> None:
    timed = attrs.evolve(source, options={"base_url": BASE, "timeout": 3.0})
    with portal.CityPortalAdapter(timed, testing.make_context()) as adapter:
        client = adapter.channel.client
        assert client.timeout.read == 3.0 and not client.is_closed
        assert client.headers["user-agent"].startswith("tsur/")
    assert client.is_closed
    given = httpx.Client()
    with portal.CityPortalAdapter(source, testing.make_context(), client=given):
        pass
    assert not given.is_closed  # the caller's client stays the caller's
    given.close()


# the whole plugin in an engine --------------------------------------------------------
def city_region(tmp_path: Path, **settings: Any) -> tsur.RegionConfig:
    """The small region with the portal as a source, a management company for yards,
    and the plugin's settings."""
    data = tomllib.loads(SMALL_REGION.read_text("utf-8"))
    data["executors"].append(
        {
            "id": "uk-dom",
            "name": "УК «Дом»",
            "kind": "management_company",
            "territory": "gorod",
            "parent": "adm-gorod",
        }
    )
    data["sources"].append(
        {
            "id": "city-portal",
            "kind": "city_portal",
            "name": "Портал «Город онлайн»",
            "options": {"base_url": BASE, "secret_env": "CITY_PORTAL_SECRET"},
        }
    )
    data["plugins"] = {
        "city_portal": {
            "yard_executor": "uk-dom",
            "yard_towns": ["gorod"],
            "duty_log": str(tmp_path / "duty.jsonl"),
            **settings,
        }
    }
    path = tmp_path / "region.toml"
    path.write_text(tomli_w(data), encoding="utf-8")
    return tsur.load_region(path)


def tomli_w(data: dict[str, Any]) -> str:
    """A small TOML writer for the region data of these tests (tables, arrays of tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"

    out: list[str] = []
    for key, section in data.items():
        if isinstance(section, list):
            for item in section:
                out.append(f"[[{key}]]")
                out += [f"{json.dumps(k)} = {value(v)}" for k, v in item.items()]
        else:
            out.append(f"[{key}]")
            out += [f"{json.dumps(k)} = {value(v)}" for k, v in section.items()]
    return "\n".join(out) + "\n"


PAGE = {
    "items": [
        appeal("A-1", "В Тольятти во дворе дома открытый люк, дети бегают рядом!"),
        appeal("A-2", "В Сызрани автобус не пришёл, на остановке ждём час"),
        appeal("A-3", "Тольятти: во дворе не убирают снег, детская площадка в сугробах"),
    ],
    "next_page": None,
    "cursor": "c-3",
}


def test_the_plugin_adds_an_adapter_a_router_and_a_notifier(
    portal: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITY_PORTAL_SECRET", "shh")
    since: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        since.append(request.url.params.get("since"))
        return httpx.Response(200, json=PAGE)

    engine = testing.make_engine(city_region(tmp_path), plugins=[portal])
    with engine:
        assert engine.components.source_adapters["city_portal"].plugin == MODULE
        assert engine.components.names("routers")[0] == "yards"
        assert "duty-log" in engine.components.names("notifiers")
        for _ in range(2):  # the second collection finds the same appeals: nothing new
            report = collect(engine, "city-portal", client=testing.mock_client(handler))
        assert since == [None, "c-3"]
        assert (report.fetched, report.inserted, report.duplicates) == (3, 0, 3)
        assert engine.run().created == 3
        by_ext = {
            s.message.external_id: engine.incident(s.incident_id)
            for s in engine.repository.messages()
            if s.incident_id is not None
        }
    manhole, bus, yard = by_ext["A-1"], by_ext["A-2"], by_ext["A-3"]
    # the yard router answers first in Тольятти's yards, with the words that decided
    assert manhole.executor == "uk-dom" and yard.executor == "uk-dom"
    routed = next(e for e in yard.history if e.to_status is tsur.Status.ROUTED)
    assert routed.actor == "yards"
    assert routed.reason == "двор (двор, детский площадка): управляющая компания"
    assert bus.executor == "adm-sela"  # Сызрань: not its business, the region's rules decide
    # the duty log has the urgent one, with the executor's name
    lines = [json.loads(x) for x in (tmp_path / "duty.jsonl").read_text("utf-8").splitlines()]
    assert [(x["incident"], x["to"]) for x in lines] == [(manhole.id, ["УК «Дом»"])]


def test_the_plugins_settings_are_checked_when_the_engine_starts(
    portal: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(tsur.ConfigError) as err:
        testing.make_engine(city_region(tmp_path, yard_towns="gorod"), plugins=[portal])
    assert err.value.problems == [
        ("plugins.city_portal.yard_towns", "Input should be a valid list")
    ]
    assert str(tmp_path / "region.toml") in str(err.value)
    with pytest.raises(tsur.ConfigError, match="yard_executor: unknown executor 'uk-nope'"):
        testing.make_engine(city_region(tmp_path, yard_executor="uk-nope"), plugins=[portal])
    # without the plugin the table is nobody's: a mistake, not a silent no-op
    with pytest.raises(tsur.ConfigError, match=r"plugins\.city_portal: no plugin declares"):
        testing.make_engine(city_region(tmp_path))


def test_pushed_webhooks_are_verified_by_the_plugin(
    portal: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITY_PORTAL_SECRET", "shh")
    body = json.dumps(
        {"event": "appeal.created", "appeal": appeal("A-9", "В Тольятти яма на дороге")},
        ensure_ascii=False,
    ).encode("utf-8")
    with testing.make_engine(city_region(tmp_path), plugins=[portal]) as engine:
        app = App(engine)
        forged = wsgi(app, "/webhooks/city-portal", body, testing.signed_headers("guess", body))
        assert forged[0] == 403
        unsigned = wsgi(app, "/webhooks/city-portal", body, {"Content-Type": "application/json"})
        assert unsigned[0] == 403
        assert engine.repository.message_counts() == {}
        assert engine.repository.rejected_inputs() == []  # nothing unverified is kept
        ok = wsgi(app, "/webhooks/city-portal", body, testing.signed_headers("shh", body))
        assert ok[0] == 200 and json.loads(ok[1])["inserted"] == 1
        assert engine.repository.message_counts() == {"pending": 1}


def wsgi(app: Any, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST through the service."""
    return post_raw(app, path, body, headers)


# the command line, against a real HTTP server ------------------------------------------
@pytest.fixture
def portal_server() -> Iterator[str]:
    """A local HTTP server answering the portal's API with one page of appeals."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(PAGE, ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def cli_region(tmp_path: Path, base_url: str) -> Path:
    region = city_region(tmp_path)
    text = (tmp_path / "region.toml").read_text("utf-8").replace(BASE, base_url)
    path = tmp_path / "cli-region.toml"
    path.write_text(text, encoding="utf-8")
    assert region.sources  # the original validated; so does the copy below
    tsur.load_region(path)
    return path


def run_cli(argv: list[str], pm: Any) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv, pm=pm)
    return code, out.getvalue()


def check_cli(pm: Any, tmp_path: Path, base_url: str) -> None:
    config = str(cli_region(tmp_path, base_url))
    db = str(tmp_path / "cli.db")
    code, out = run_cli(["sources", "--json", "--config", config], pm)
    assert code == 0
    [kind] = [x for x in json.loads(out) if x["name"] == "city_portal"]
    assert kind["builtin"] is False and kind["sources"] == ["city-portal"]
    assert [o["name"] for o in kind["options"]] == ["base_url", "token", "secret", "timeout"]
    assert {o["name"] for o in kind["options"] if o.get("secret")} == {"token", "secret"}
    code, out = run_cli(["collect", "city-portal", "--run", "--config", config, "--db", db], pm)
    assert code == 0, out
    assert "city-portal: страниц 1, получено сообщений 3, новых 3" in out
    assert "обработано 3: новых инцидентов 3" in out
    code, out = run_cli(["incidents", "--json", "--config", config, "--db", db], pm)
    assert sorted(json.loads(x)["executor"] for x in out.splitlines()) == [
        "adm-sela",
        "uk-dom",
        "uk-dom",
    ]


def test_the_command_line_uses_a_plugin_registered_in_code(
    portal: ModuleType,
    portal_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITY_PORTAL_SECRET", "shh")
    check_cli(
        tsur.make_plugin_manager(entry_points=False, plugins=[portal]), tmp_path, portal_server
    )


# entry-point discovery -----------------------------------------------------------
@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake installed distribution of tsur-city-portal on sys.path (no pip)."""
    site = tmp_path / "site"
    shutil.copytree(PLUGIN_DIR / MODULE, site / MODULE)
    info = site / "tsur_city_portal-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tsur-city-portal\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[tsur]\ncity_portal = tsur_city_portal\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)  # import it from the distribution
    monkeypatch.delenv("TSUR_PLUGINS", raising=False)
    return site


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
    comps = collect_components(pm, testing.make_context(small_region))
    registered = comps.source_adapters["city_portal"]
    assert registered.plugin == "city_portal"
    assert registered.component is module.CityPortalAdapter
    assert "jsonl" in comps.names("source_adapters")  # built-ins are still there


def test_the_command_line_finds_the_installed_plugin(
    installed: Path, portal_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITY_PORTAL_SECRET", "shh")
    check_cli(tsur.make_plugin_manager(), tmp_path, portal_server)


def test_tsur_plugins_empty_loads_none(
    installed: Path, small_region: tsur.RegionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_PLUGINS", "")
    pm = tsur.make_plugin_manager()
    assert not pm.has_plugin("city_portal")
    assert pm.list_plugin_distinfo() == []
    assert "city_portal" not in collect_components(pm, testing.make_context(small_region)).names(
        "source_adapters"
    )
    assert MODULE not in sys.modules  # not even imported


def test_tsur_plugins_names_the_ones_to_load_and_warns_of_the_rest(
    installed: Path, small_region: tsur.RegionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_PLUGINS", "city_portal, not_installed")
    with pytest.warns(PluginWarning, match="not installed: not_installed; installed: city_portal"):
        pm = tsur.make_plugin_manager()
    assert pm.has_plugin("city_portal")
    assert "city_portal" in collect_components(pm, testing.make_context(small_region)).names(
        "source_adapters"
    )


def test_the_old_variable_name_still_selects_and_says_so(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TSUR_PLUGINS", raising=False)
    monkeypatch.setenv("TSUR_LOAD_PLUGINS", "")
    with pytest.warns(PluginWarning, match="TSUR_LOAD_PLUGINS is the old name of TSUR_PLUGINS"):
        pm = tsur.make_plugin_manager()
    assert not pm.has_plugin("city_portal")
    monkeypatch.setenv("TSUR_PLUGINS", "city_portal")
    with pytest.warns(PluginWarning, match="TSUR_PLUGINS is set and wins"):
        pm = tsur.make_plugin_manager()
    assert pm.has_plugin("city_portal")


def test_tsur_disable_plugins_blocks_installed_and_built_in_plugins(
    installed: Path, small_region: tsur.RegionConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSUR_DISABLE_PLUGINS", "city_portal,tsur.default_plugins.locators")
    pm = tsur.make_plugin_manager()
    assert not pm.has_plugin("city_portal") and not pm.has_plugin("tsur.default_plugins.locators")
    comps = collect_components(pm, testing.make_context(small_region))
    assert comps.names("locators") == [] and "city_portal" not in comps.source_adapters
    monkeypatch.setenv("TSUR_DISABLE_PLUGINS", "tsur.default_plugins.locatrs")
    with pytest.warns(PluginWarning, match="names no plugin: tsur.default_plugins.locatrs"):
        tsur.make_plugin_manager()
