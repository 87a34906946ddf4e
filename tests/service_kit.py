"""What the service's tests share: a client over the app, keys of every role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from fastapi.testclient import TestClient

from tsur import Engine
from tsur.access import issue_key
from tsur.config import ServerConfig
from tsur.lifecycle import Lifecycle
from tsur.server import create_app

#: The role and scope of each test key (the small region: municipalities gorod, sela,
#: volzhsky; executors adm-gorod, teplo …).
ROLES: dict[str, tuple[str, str | None]] = {
    "region": ("region_curator", None),
    "gorod": ("municipal_curator", "gorod"),
    "sela": ("municipal_curator", "sela"),
    "adm-gorod": ("executor", "adm-gorod"),
    "teplo": ("executor", "teplo"),
    "analyst": ("analyst", None),
    "integration": ("integration", None),
}


@attrs.define
class Service:
    """An app over ``engine`` with a test client and a token per entry of :data:`ROLES`."""

    engine: Engine
    lifecycle: Lifecycle
    client: TestClient
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        """The Authorization header of the key named ``who`` (see :data:`ROLES`)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str | None = None, **kw: Any) -> Any:
        """GET as ``who`` (no key when None)."""
        return self.client.get(path, headers=self.headers(who) if who else {}, **kw)

    def post(self, path: str, who: str | None = None, **kw: Any) -> Any:
        """POST as ``who`` (no key when None)."""
        headers = (self.headers(who) if who else {}) | kw.pop("headers", {})
        return self.client.post(path, headers=headers, **kw)


@contextmanager
def service(engine: Engine, settings: ServerConfig | None = None) -> Iterator[Service]:
    """A :class:`Service` over ``engine`` (replies to channels are not posted)."""
    life = Lifecycle(engine, post_replies=False)
    tokens = {
        name: issue_key(
            engine.repository, engine.region, name=name, role=role, scope=scope, now=engine.clock()
        )[1]
        for name, (role, scope) in ROLES.items()
    }
    app = create_app(engine, settings=settings, lifecycle=life)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Service(engine, life, client, tokens)


def post_raw(
    app: Any, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One POST of ``body`` exactly as given (with its Content-Length) through ``app``."""
    raw = {k: v.encode() if not v.isascii() else v for k, v in (headers or {}).items()}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post(path, content=body, headers=raw)
    return r.status_code, r.content
