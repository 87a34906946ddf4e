"""``tsur parse``, ``tsur sources`` and ``tsur collect`` as an operator uses them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest

from tests.conftest import SMALL_REGION
from tsur import make_plugin_manager
from tsur.cli import main
from tsur.testing import payload_file


@pytest.fixture(autouse=True)
def no_third_party_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed third-party plugins stay out unless a test asks for one."""
    monkeypatch.setenv("TSUR_PLUGINS", "")


def run(
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    entry_points: bool = False,
    pm: pluggy.PluginManager | None = None,
) -> tuple[int, str, str]:
    pm = pm or make_plugin_manager(entry_points=entry_points)
    code = main(list(argv), pm=pm)
    out, err = capsys.readouterr()
    return code, out, err


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


def test_parse_recorded_payloads(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", "vk", str(payload_file("vk_wall_get.json")))
    assert code == 0
    posts = lines(out)
    assert [p["external_id"] for p in posts][:2] == ["wall-205427305_10", "wall-205427305_9"]
    assert posts[0]["source"] == "vk"
    assert posts[0]["created_at"] == "2021-06-25T18:36:23+04:00"  # the bundled region's zone
    assert posts[0]["attachments"] == [
        {"kind": "photo", "url": "https://sun9-5.us...CPMY&type=album", "mime_type": "image/jpeg"}
    ]
    code, out, _ = run(capsys, "parse", "email", str(payload_file("email_ru_multipart_qp.eml")))
    [letter] = lines(out)
    assert (code, letter["text"]) == (0, "Это тестовое сообщение\n\nТут ещё есть 😘")
    code, out, _ = run(capsys, "parse", "telegram", str(payload_file("tg_update_venue.json")))
    [venue] = lines(out)
    assert venue["geo"] == {"lat": 50.693416, "lon": 30.624605}
    code, out, _ = run(
        capsys, "parse", "open311", str(payload_file("open311_service_requests.json"))
    )
    assert [r["external_id"] for r in lines(out)] == ["638344", "638349"]
    code, out, _ = run(
        capsys,
        "parse",
        "jsonl",
        str(Path(__file__).parent.parent / "src/tsur/data/demo/messages.jsonl"),
    )
    assert code == 0 and len(lines(out)) > 300


def test_parse_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "parse", "telegram", str(payload_file("tg_error_409_conflict.json"))
    )
    assert code == 2 and out == ""
    assert "Telegram error 409: Conflict" in err
    code, _, err = run(capsys, "parse", "vk", str(payload_file("vk_error_6_too_many.json")))
    assert code == 2 and "VK error 6: Too many requests per second" in err
    truncated = tmp_path / "cut.json"
    truncated.write_bytes((payload_file("vk_wall_get.json")).read_bytes()[:500])
    code, _, err = run(capsys, "parse", "vk", str(truncated))
    assert code == 2 and "truncated JSON" in err
    code, _, err = run(capsys, "parse", "icq", str(truncated))
    assert code == 2 and "unknown adapter 'icq'; installed: csv, email, jsonl" in err
    code, _, err = run(capsys, "parse", "vk", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err and "missing.json" in err
    export = tmp_path / "calls.csv"
    export.write_text(
        "Номер;Дата;Текст\n1;16.11.2026 09:41;Нет воды\n2;потом;Нет света\n", encoding="utf-8"
    )
    code, out, err = run(capsys, "parse", "csv", str(export))
    assert code == 1  # some rows could not be read; the others are printed
    assert [m["external_id"] for m in lines(out)] == ["1"]
    assert f"{export}:3: cannot read date 'потом'" in err


def test_parse_with_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    export = tmp_path / "calls.csv"
    export.write_bytes("Рег;Когда;Суть\nA;16.11.2026 09:41;Нет воды\n".encode("cp1251"))
    code, out, _ = run(
        capsys,
        "parse",
        "csv",
        str(export),
        "--option",
        "encoding=cp1251",
        "--option",
        'columns={"external_id": "Рег", "created_at": "Когда", "text": "Суть"}',
    )
    assert code == 0 and lines(out)[0]["text"] == "Нет воды"


def test_sources_lists_kinds_with_their_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sources", "--json")
    assert code == 0
    items = {x["name"]: x for x in json.loads(out)}
    assert {
        "vk",
        "telegram",
        "pos",
        "webhook",
        "open311",
        "email",
        "rss",
        "csv",
        "jsonl",
        "nats",
    } <= set(items)
    vk = items["vk"]
    assert vk["builtin"] is True and vk["plugin"] == "tsur.default_plugins.sources"
    assert vk["sources"] == ["vk"]  # the bundled region's VK source
    token = next(o for o in vk["options"] if o["name"] == "access_token")
    assert token == {
        "name": "access_token",
        "type": "str | None",
        "required": False,
        "description": "user or community access token",
        "default": None,
        "secret": True,
        "env": "access_token_env",
    }
    assert [o["name"] for o in items["jsonl"]["options"]] == ["path", "replies_path"]
    mode = next(o for o in vk["options"] if o["name"] == "mode")
    assert mode["type"] == "Literal['wall', 'newsfeed', 'callback'] | None"
    assert next(o for o in vk["options"] if o["name"] == "page_size")["default"] == 100
    code, out, _ = run(capsys, "sources")
    assert code == 0 and "Адаптеры источников (11)" in out and "встроенный" in out
    assert "укажите options.adapter: ok, hotline, written" in out


def test_sources_shows_third_party_adapters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tsur_fake_feed.py").write_text(
        textwrap.dedent(
            '''
            import tsur
            from tsur.adapters import AdapterOptions, BaseAdapter

            class FakeFeedOptions(AdapterOptions):
                url: str
                token: str | None = None

            class FakeFeed(BaseAdapter):
                """Reads the fake feed."""

                options_model = FakeFeedOptions

            @tsur.hookimpl
            def register_source_adapters(register):
                register("fakefeed", FakeFeed)
            '''
        ),
        encoding="utf-8",
    )
    info = tmp_path / "tsur_fake_feed-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tsur-fake-feed\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tsur]\nfake_feed = tsur_fake_feed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TSUR_PLUGINS", "fake_feed")
    code, out, _ = run(capsys, "sources", "--json", entry_points=True)
    assert code == 0
    [fake] = [x for x in json.loads(out) if x["name"] == "fakefeed"]
    assert fake["builtin"] is False and fake["summary"] == "Reads the fake feed."
    assert [(o["name"], o["required"]) for o in fake["options"]] == [
        ("url", True),
        ("token", False),
    ]


def region_file(tmp_path: Path, export: Path) -> Path:
    text = SMALL_REGION.read_text("utf-8")
    text += textwrap.dedent(
        f"""
        [[sources]]
        id = "hotline"
        kind = "hotline"
        name = "Горячая линия 122"
        options = {{ adapter = "csv", path = "{export.as_posix()}" }}
        """
    )
    path = tmp_path / "region.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_collect_a_configured_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    export = tmp_path / "calls.csv"
    export.write_text(
        "Номер;Дата;Текст\n"
        "122-1;16.11.2026 09:41;В Тольятти на ул. Мира, 5 нет отопления\n"
        "122-2;вчера;Нет света\n",
        encoding="utf-8",
    )
    config, db = str(region_file(tmp_path, export)), str(tmp_path / "t.db")
    code, out, _ = run(capsys, "collect", "hotline", "--config", config, "--db", db, "--run")
    assert code == 1  # a row was refused (and kept)
    assert (
        "hotline: страниц 1, получено сообщений 1, новых 1, уже были в базе 0, отклонено 1" in out
    )
    assert "cannot read date 'вчера'" in out
    assert "обработано 1: новых инцидентов 1" in out
    with export.open("a", encoding="utf-8") as f:
        f.write("122-3;16.11.2026 10:00;Яма на дороге\n")
    code, out, _ = run(capsys, "collect", "hotline", "--config", config, "--db", db)
    assert code == 0 and "получено сообщений 1, новых 1, уже были в базе 0, отклонено 0" in out
    code, out, _ = run(capsys, "rejects", "--config", config, "--db", db)
    assert "отклонённых входных записей: 1" in out
    code, _, err = run(capsys, "collect", "nope", "--config", config, "--db", db)
    assert code == 2 and "unknown source 'nope'" in err


def test_docs_describe_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    docs = (Path(__file__).parent.parent / "docs" / "adapters.md").read_text("utf-8")
    code, out, _ = run(capsys, "sources", "--json")
    assert code == 0
    for item in json.loads(out):
        if not item["builtin"] or item["name"] == "jsonl":
            continue
        heading = f"`{item['name']}` options"
        assert heading in docs, heading
        table = docs.split(heading, 1)[1].split("\n\n", 2)[1]
        for option in item["options"]:
            assert f"| `{option['name']}`" in table, (item["name"], option["name"])


def test_an_adapter_without_its_own_docstring_has_no_borrowed_summary() -> None:
    from tsur.adapters import HttpAdapter, describe_factory

    class Quiet(HttpAdapter):
        pass

    class Told(HttpAdapter):
        """Reads the city's feed."""

    assert describe_factory(Quiet)["summary"] == ""
    assert describe_factory(Told)["summary"] == "Reads the city's feed."


def test_parse_without_a_source_says_how_to_give_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import tsur
    from tsur.adapters import AdapterOptions, BaseAdapter

    class FeedOptions(AdapterOptions):
        base_url: str

    class Feed(BaseAdapter):
        """A feed that needs its address."""

        options_model = FeedOptions

        def parse(self, payload: bytes) -> list[tsur.Message]:
            return []

    class Plugin:
        @tsur.hookimpl
        def register_source_adapters(self, register: Any) -> None:
            register("cityfeed", Feed)

    pm = make_plugin_manager(entry_points=False, plugins=[Plugin()])
    body = tmp_path / "feed.json"
    body.write_text("[]", encoding="utf-8")
    code, _, err = run(capsys, "parse", "cityfeed", str(body), pm=pm)
    assert code == 2
    assert "give a configured source (--source ID) or the options (--option KEY=VALUE)" in err
    assert "options.base_url" in err
    code, out, err = run(capsys, "parse", "cityfeed", str(body), "--option", "base_url=x", pm=pm)
    assert (code, out) == (0, ""), err
