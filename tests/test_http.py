"""The WSGI application: webhooks in, incidents out, on both databases."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from tsur import Engine
from tsur.http import App
from tsur.security import sign_request
from tsur.testing import START

#: The key of the small region's «portal» webhook in these tests (``TSUR_PORTAL_SECRET``).
KEY = "portal-key"


@pytest.fixture(autouse=True)
def _portal_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUR_PORTAL_SECRET", KEY)


BODY = {
    "external_id": "NE-7",
    "text": "В Тольятти на ул. Мира, 5 огромная яма на дороге",
    "created_at": "2026-11-16T09:00:00+04:00",
}


def call(
    app: App,
    method: str,
    path: str,
    body: bytes = b"",
    query: str = "",
    *,
    signed: bool = True,
    **headers: str,
) -> tuple[int, Any]:
    """One request through the WSGI app; a POST is signed with :data:`KEY` unless not ``signed``."""
    if method == "POST" and signed:
        signature = sign_request(KEY, body, at=START)
        headers = {k.lower().replace("-", "_"): v for k, v in signature.items()} | headers
    environ: dict[str, Any] = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE="application/json",
    )
    environ["wsgi.input"] = io.BytesIO(body)
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got["status"] = int(status.split()[0])
        got["headers"] = dict(headers)

    data = b"".join(app(environ, start_response))
    assert got["headers"]["Content-Length"] == str(len(data))
    ctype = got["headers"]["Content-Type"]
    return got["status"], json.loads(data) if ctype.startswith("application/json") else data


def test_a_pushed_message_becomes_an_incident_once(engine: Engine) -> None:
    app = App(engine, process=True)
    body = json.dumps(BODY, ensure_ascii=False).encode()
    status, _ = call(app, "POST", "/webhooks/portal", body)
    assert status == 200
    status, _ = call(app, "POST", "/webhooks/portal", body)  # the portal retries
    assert status == 200
    assert engine.repository.message_counts() == {"done": 1}
    status, items = call(app, "GET", "/incidents", query="executor=adm-gorod")
    assert status == 200 and [i["topic"] for i in items] == ["roads"]
    status, one = call(app, "GET", f"/incidents/{items[0]['id']}")
    assert status == 200 and one["history"][0]["kind"] == "received"


def test_an_unreadable_body_is_refused_and_kept(engine: Engine) -> None:
    app = App(engine)
    status, _ = call(app, "POST", "/webhooks/portal", b"{not json")
    assert status == 400
    (kept,) = engine.repository.rejected_inputs()
    assert (kept.origin, kept.raw, kept.verified) == ("webhook:portal", "{not json", True)


def test_errors_are_json_with_a_reason(engine: Engine) -> None:
    app = App(engine)
    assert call(app, "GET", "/incidents/999") == (404, {"error": "incident 999 not found"})
    assert call(app, "POST", "/webhooks/myspace", b"{}")[0] == 404
    assert call(app, "GET", "/webhooks/portal")[0] == 405
    assert call(app, "DELETE", "/incidents/1")[0] == 405
    assert call(app, "GET", "/nowhere")[0] == 404
    status, err = call(app, "GET", "/incidents", query="limit=many")
    assert status == 400 and "limit must be a number" in err["error"]
    small = App(engine, max_body=10)
    assert call(small, "POST", "/webhooks/portal", b"x" * 11)[0] == 413


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/incidents", "status=bogus", (400, "status must be one of: new, triage")),
        ("/incidents", "urgency=bogus", (400, "urgency must be one of: urgent, quick, normal")),
        ("/incidents/99999999999999999999999", "", (404, "no such resource")),
        ("/incidents/" + "9" * 5000, "", (404, "no such resource")),
        ("/incidents/9223372036854775808", "", (404, "incident 9223372036854775808 not found")),
        ("/incidents/0", "", (404, "incident 0 not found")),
    ],
)
def test_hostile_queries_get_a_reason_not_a_crash(
    engine: Engine, path: str, query: str, expected: tuple[int, str]
) -> None:
    status, err = call(App(engine), "GET", path, query=query)
    assert status == expected[0] and expected[1] in err["error"]


def test_hostile_webhook_bodies_are_kept_with_their_reason(engine: Engine) -> None:
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    status, err = call(App(engine), "POST", "/webhooks/portal", deep)
    assert status == 400 and b"nested too deeply" in err

    class Buggy:
        def verify_webhook(self, body: bytes, headers: Any) -> None:
            pass

        def receive_webhook(self, body: bytes, headers: Any) -> Any:
            raise KeyError("appeal")

    from tsur.intake import receive_webhook

    result = receive_webhook(engine, "portal", b'{"x": 1}', {}, adapter=Buggy())
    assert result.status == 500
    kept = engine.repository.rejected_inputs()
    assert [k.reason for k in kept][-1] == "the adapter failed: KeyError: 'appeal'"
    assert kept[-1].raw == '{"x": 1}' and kept[-1].verified


@pytest.fixture
def served(engine: Engine) -> Iterator[str]:
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, App(engine), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_over_a_real_socket(served: str, engine: Engine) -> None:
    body = json.dumps(BODY, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **sign_request(KEY, body, at=START)}
    with httpx.Client(base_url=served, timeout=10) as client:
        r = client.post("/webhooks/portal", content=body, headers=headers)
        assert r.status_code == 200
        health = client.get("/health").json()
    assert health == {"status": "ok", "messages": {"pending": 1}}


def test_reading_routes_need_the_token_when_one_is_set(engine: Engine) -> None:
    app = App(engine, token="s3cret")
    assert call(app, "GET", "/health")[0] == 401
    assert call(app, "GET", "/health", authorization="Bearer wrong")[0] == 401
    assert call(app, "GET", "/health", authorization="Bearer s3cret")[0] == 200
    # webhooks are the channels' business: their own secrets decide
    body = json.dumps(BODY, ensure_ascii=False).encode()
    assert call(app, "POST", "/webhooks/portal", body)[0] == 200


def test_a_topic_filter_takes_its_subtopics_and_nothing_else(engine: Engine) -> None:
    app = App(engine, process=True)
    body = dict(BODY, external_id="H-1", text="В Тольятти на ул. Мира, 5 нет отопления")
    assert (
        call(app, "POST", "/webhooks/portal", json.dumps(body, ensure_ascii=False).encode())[0]
        == 200
    )
    status, items = call(app, "GET", "/incidents", query="topic=zhkh")
    assert status == 200 and [i["topic"] for i in items] == ["zhkh.heating"]
    for hostile in ("%", "zhkh%", "_", "zhkh.%"):
        status, items = call(app, "GET", "/incidents", query=f"topic={hostile}")
        assert (status, items) == (200, []), hostile
