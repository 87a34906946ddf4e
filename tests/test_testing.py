"""``tsur.testing`` as a plugin author uses it: fixtures that behave like the real thing."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tsur import testing


def test_the_recorded_payloads_are_shipped_and_readable() -> None:
    names = testing.payload_names()
    assert {"vk_wall_get.json", "tg_update_venue.json", "email_ru_multipart_qp.eml"} <= set(names)
    assert "README.md" not in names
    readme = (testing.payload_file("vk_wall_get.json").parent / "README.md").read_text("utf-8")
    for name in names:
        said = name in readme or (
            name.endswith(".spec_verbatim.txt") and "*.spec_verbatim.txt" in readme
        )
        assert said, f"{name}: where it was recorded is not said"
        if name.endswith(".json"):
            json.loads(testing.payload(name))  # every JSON payload parses
    posts = testing.payload_json("vk_wall_get.json")["response"]["items"]
    assert posts and all("text" in p for p in posts)


def test_an_unknown_payload_names_the_ones_there_are() -> None:
    with pytest.raises(FileNotFoundError, match=r"no payload 'vk_wal\.json'; there are: .*vk_wall"):
        testing.payload("vk_wal.json")


def test_mock_clients_answer_by_function_or_by_route() -> None:
    routes = {
        "GET /ok": httpx.Response(200, json={"ok": True}),
        "/echo": lambda r: httpx.Response(200, text=r.method),
    }
    with testing.mock_client(routes, base_url="https://api.example.ru") as client:
        assert client.get("/ok").json() == {"ok": True}
        assert client.post("/echo").text == "POST"
        missing = client.get("/nowhere")
        assert (missing.status_code, missing.text) == (404, "no route for GET /nowhere")

    async def run() -> str:
        async def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, text=str(request.url))

        async with testing.mock_async_client(handler) as client:
            return (await client.get("https://x.example.ru/a")).text

    assert asyncio.run(run()) == "https://x.example.ru/a"
