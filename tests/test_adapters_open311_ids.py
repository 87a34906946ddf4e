"""Open311 ids in URLs: a ``service_request_id`` is one path segment, whatever it holds.

A server (or whoever stands in for it) chooses the ids tsur later answers
under; an id such as ``1/../../admin?x=`` must not move the status update,
and the ``api_key`` it carries, to another path or query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import tsur
from tests.test_adapters_common import build
from tsur.adapters.open311 import Open311Adapter, id_in_url
from tsur.testing import mock_client

pytest_plugins = ["tests.test_adapters_common"]  # shared fixtures of the adapter tests

STATUS = "https://city.example/open311/v2/requests/{id}/status.json"


def adapter(region: tsur.RegionConfig, seen: list[httpx.Request], **kw: Any) -> Open311Adapter:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    return build(  # type: ignore[no-any-return]
        Open311Adapter,
        region,
        "city311",
        client=mock_client(handler),
        api_key="the-key",
        status_url=STATUS,
        **kw,
    )


@pytest.mark.parametrize(
    ("request_id", "path"),
    [
        ("638349", "/open311/v2/requests/638349/status.json"),
        ("1/../../admin", "/open311/v2/requests/1%2F..%2F..%2Fadmin/status.json"),
        ("1?api_key=x&status=closed",
         "/open311/v2/requests/1%3Fapi_key%3Dx%26status%3Dclosed/status.json"),
        ("1#frag", "/open311/v2/requests/1%23frag/status.json"),
        ("a b%2F", "/open311/v2/requests/a%20b%252F/status.json"),
        ("заявка-7", "/open311/v2/requests/%D0%B7%D0%B0%D1%8F%D0%B2%D0%BA%D0%B0-7/status.json"),
        ("@evil.example", "/open311/v2/requests/%40evil.example/status.json"),
    ],
)  # fmt: skip
def test_an_id_stays_one_path_segment(
    adapters_region: tsur.RegionConfig, request_id: str, path: str
) -> None:
    seen: list[httpx.Request] = []
    reply = tsur.Reply(4, "city311", "Плитку заменили", "final", in_reply_to=request_id)
    adapter(adapters_region, seen).reply(reply)
    [req] = seen
    assert req.url.host == "city.example" and req.url.raw_path.decode() == path
    assert req.url.query == b""  # the key travels in the body only
    form = {k: v[0] for k, v in parse_qs(req.content.decode()).items()}
    assert form["service_request_id"] == request_id and form["api_key"] == "the-key"


@pytest.mark.parametrize("request_id", ["1\r\nX-Injected: 1", "1\n", "1\x00", "1\x7f", "..", "."])
def test_an_id_that_cannot_be_a_segment_is_refused(
    adapters_region: tsur.RegionConfig, request_id: str
) -> None:
    seen: list[httpx.Request] = []
    reply = tsur.Reply(4, "city311", "ответ", "final", in_reply_to=request_id)
    with pytest.raises(tsur.AdapterError, match="cannot be put in a URL"):
        adapter(adapters_region, seen).reply(reply)
    assert seen == []  # nothing was sent, the key least of all


def test_links_to_requests_are_quoted_too(adapters_region: tsur.RegionConfig) -> None:
    a = build(Open311Adapter, adapters_region, "city311", request_url="https://c.example/r/{id}")
    body = (
        '[{"service_request_id": "7/../../x?y", "requested_datetime": "2010-04-14T06:37:38-08:00",'
        ' "description": "яма"}]'
    )
    [m] = a.parse(body)
    assert m.url == "https://c.example/r/7%2F..%2F..%2Fx%3Fy"
    assert id_in_url("https://c.example/r/{id}", "٣") == "https://c.example/r/%D9%A3"
