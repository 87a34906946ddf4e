"""``tsur keys`` and ``tsur serve`` as a user runs them: a real server on a real port.

The session the README shows: issue an executor's and an integration's key,
start the server on SQLite with its worker, push a signed message, see it
processed and routed through the work API, answer it as the executor.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tsur.security import sign_request

pytestmark = pytest.mark.slow

TSUR = [sys.executable, "-m", "tsur"]


def tsur_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TSUR, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_are_issued_listed_and_revoked(tmp_path: Path) -> None:
    env = dict(os.environ, TSUR_DB=str(tmp_path / "t.db"))
    added = tsur_cli(
        "keys",
        "add",
        "ivanova@tlt",
        "--role",
        "executor",
        "--scope",
        "adm-tolyatti",
        "--json",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)
    assert key["token"].startswith(f"tsur_{key['id']}_")
    listed = tsur_cli("keys", "list", "--json", env=env)
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["id"], row["role"], row["scope"], row["revoked_at"]) == (
        key["id"],
        "executor",
        "adm-tolyatti",
        None,
    )
    assert key["token"].split("_", 2)[2] not in listed.stdout  # the secret is never shown again
    assert tsur_cli("keys", "revoke", key["id"], env=env).returncode == 0
    assert tsur_cli("keys", "revoke", key["id"], env=env).returncode == 1
    bad = tsur_cli("keys", "add", "x", "--role", "executor", "--scope", "nobody", env=env)
    assert bad.returncode != 0 and "nobody" in bad.stderr
    missing = tsur_cli("keys", "add", "x", env=env)
    assert missing.returncode != 0 and "--role" in missing.stderr


def test_serve_takes_a_push_and_its_worker_routes_it(tmp_path: Path) -> None:
    env = dict(os.environ, TSUR_DB=str(tmp_path / "t.db"), TSUR_PORTAL_SECRET="portal-key")
    for name in ("TSUR_VK_SECRET", "TSUR_TELEGRAM_SECRET", "TSUR_POS_SECRET"):
        env[name] = "unused"
    curator = json.loads(
        tsur_cli("keys", "add", "cur", "--role", "region_curator", "--json", env=env).stdout
    )
    port = free_port()
    proc = subprocess.Popen(
        [*TSUR, "serve", "--port", str(port), "--tick", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
            body = json.dumps(
                {
                    "external_id": "NE-7",
                    "text": "В Тольятти на ул. Мира, 5 огромная яма на дороге",
                    "created_at": "2026-11-16T09:00:00+04:00",
                },
                ensure_ascii=False,
            ).encode()
            headers = {
                "Content-Type": "application/json",
                **sign_request("portal-key", body, at=datetime.now(UTC)),
            }
            assert client.post("/webhooks/portal", content=body, headers=headers).status_code == 200
            forged = {
                "Content-Type": "application/json",
                **sign_request("guess", body, at=datetime.now(UTC)),
            }
            assert client.post("/webhooks/portal", content=body, headers=forged).status_code == 403
            auth = {"Authorization": f"Bearer {curator['token']}"}
            assert client.get("/api/v1/incidents").status_code == 401
            deadline = time.monotonic() + 60
            while not (items := client.get("/api/v1/incidents", headers=auth).json()["items"]):
                assert time.monotonic() < deadline, "the worker did not process the push"
                time.sleep(0.3)
            assert items[0]["topic"].startswith("roads") and items[0]["status"] in (
                "routed",
                "triage",
            )
            assert client.get("/openapi.json").json()["paths"]["/api/v1/incidents"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "NE-7" not in out and "Мира" not in out  # the access log carries no texts
