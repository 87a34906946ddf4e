"""The web desk in a real browser, against a real server.

uvicorn serves the app on a free port over a SQLite file; headless Chromium
(Debian's ``chromium``, as in test_report_browser) is driven through the
DevTools protocol on its ``--remote-debugging-pipe`` — no driver or client
library needed. The user logs in with a key, filters the queue, opens an
incident, has an «отписка» refused, answers properly and sees the status
move. Every page must run under the service's Content-Security-Policy
without a single violation. ``TSUR_UPDATE_SCREENSHOT=1`` copies the
incident page's screenshot to docs/desk.png.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tsur import Engine, Status, testing
from tsur.access import issue_key
from tsur.lifecycle import Lifecycle
from tsur.server import create_app
from tsur.store.sql import SqlRepository

from .test_report_browser import ROOT, png_facts, require_chromium
from .test_server_desk import GOOD_ANSWER, OTPISKA, PHONE, seed

pytestmark = pytest.mark.slow

uvicorn = pytest.importorskip("uvicorn")


class Browser:
    """Headless Chromium with one page, driven over the DevTools pipe (fds 3 and 4)."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        command = [
            require_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        # bash puts the pipe's ends on the descriptors Chromium reads (3) and writes (4)
        script = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self._log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["bash", "-c", script, "bash", *command],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cv = threading.Condition()
        self._write = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        """Make the page's viewport ``width`` × ``height`` CSS pixels."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=self.session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _send(self, message: dict[str, Any]) -> None:
        with self._write:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if message.get("method") == "Page.javascriptDialogOpening":
                    # the desk's confirmations: the user agrees
                    self._send(
                        {
                            "id": next(self._ids),
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": True},
                            "sessionId": message["sessionId"],
                        }
                    )
                with self._cv:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cv.notify_all()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._send(message)
        with self._cv:
            if not self._cv.wait_for(lambda: number in self._replies, timeout=30):
                raise TimeoutError(method)
            reply = self._replies.pop(number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page; its value."""
        result = self.call(
            "Runtime.evaluate",
            session=self.session,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def loads(self) -> int:
        with self._cv:
            return sum(1 for e in self.events if e.get("method") == "Page.loadEventFired")

    def navigating(self, expression: str) -> None:
        """Run ``expression`` (a click, a submit) and wait for the next page to load."""
        before = self.loads()
        self.js(expression)
        deadline = time.monotonic() + 30
        while self.loads() == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no page loaded after {expression}")
            time.sleep(0.02)
        self.js("new Promise(r => setTimeout(r, 50))")  # the deferred script has run

    def go(self, url: str) -> None:
        self.navigating(f"location.href = {json.dumps(url)}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=self.session, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def console_problems(self) -> list[str]:
        """Errors the page reported: CSP violations, script errors, failed loads."""
        with self._cv:
            out = []
            for e in self.events:
                if e.get("method") == "Log.entryAdded":
                    entry = e["params"]["entry"]
                    refused_answer = entry.get("source") == "network" and "/desk/incidents/" in str(
                        entry.get("url")
                    )  # the page of a refused answer comes with 422, as it should
                    if entry.get("level") == "error" and not refused_answer:
                        out.append(f"{entry.get('text')} {entry.get('url', '')}")
                elif e.get("method") == "Runtime.exceptionThrown":
                    out.append(str(e["params"]["exceptionDetails"].get("text")))
            return out

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        self._reader.join(timeout=5)
        os.close(self._from_browser)
        self._log.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[str, Engine, dict[str, int], dict[str, str]]]:
    """A server on a free port over a SQLite file: its URL, engine, incidents and keys."""
    require_chromium()
    repo = SqlRepository(f"sqlite:///{tmp_path / 'desk.db'}")
    repo.migrate()
    clock = testing.FixedClock(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))
    engine = Engine(testing.small_region(), repo, entry_points=False, clock=clock)
    ids = seed(engine)
    tokens = {
        who: issue_key(repo, engine.region, name=who, role=role, scope=scope, now=clock())[1]
        for who, role, scope in (("teplo", "executor", "teplo"), ("region", "region_curator", None))
    }
    life = Lifecycle(engine, post_replies=False)
    app = create_app(engine, lifecycle=life)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", workers=1)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", engine, ids, tokens
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        life.close()
        engine.close()


def test_a_curator_logs_in_filters_opens_and_answers(
    world: tuple[str, Engine, dict[str, int], dict[str, str]], tmp_path: Path
) -> None:
    base, engine, ids, tokens = world
    browser = Browser(tmp_path / "profile")
    try:
        browser.go(f"{base}/desk/queue")
        assert browser.js("location.pathname") == "/desk/login"
        assert browser.js("document.documentElement.dataset.ready") == "yes"
        # the stylesheet applies (served as a file, allowed by the policy)
        assert browser.js("getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 248)"
        assert browser.js("document.cookie") == ""  # HttpOnly: no script reads the session

        browser.js(f"document.getElementById('key').value = {json.dumps(tokens['region'])}")
        browser.navigating("document.querySelector('#login button').click()")
        assert browser.js("location.pathname") == "/desk/queue"
        rows = "[...document.querySelectorAll('table.queue tbody tr')].map(r => +r.dataset.id)"
        assert set(browser.js(rows)) == {ids["heat"], ids["road-g"], ids["road-s"]}

        # choosing a territory submits the filter by itself (desk.js)
        browser.navigating(
            "const s = document.querySelector('select[name=territory]');"
            "s.value = 'gorod'; s.dispatchEvent(new Event('change'))"
        )
        assert "territory=gorod" in browser.js("location.search")
        assert set(browser.js(rows)) == {ids["heat"], ids["road-g"]}
        browser.navigating(
            "document.querySelector('input[name=q]').value = 'Ленина';"
            "document.querySelector('#filters button').click()"
        )
        assert browser.js(rows) == [ids["heat"]]

        browser.navigating(f"document.querySelector('tr[data-id=\"{ids['heat']}\"] a').click()")
        assert browser.js("location.pathname") == f"/desk/incidents/{ids['heat']}"
        assert PHONE in browser.js("document.querySelector('.message .text').textContent")
        assert browser.js("document.getElementById('status').dataset.status") == "routed"

        # an «отписка» is refused with its reasons, the text kept for correction
        answer = "document.querySelector('#form-final textarea[name=text]')"
        browser.js(f"{answer}.value = {json.dumps(OTPISKA)}")
        browser.navigating("document.querySelector('#form-final button').click()")
        reasons = browser.js(
            "[...document.querySelectorAll('#form-final .reasons li')].map(li => li.textContent)"
        )
        assert "шаблонная фраза «обращение рассмотрено»" in reasons
        assert browser.js(f"{answer}.value") == OTPISKA
        assert engine.incident(ids["heat"]).status is Status.ROUTED

        # the page as docs/desk.png shows it: the refusal, the forms, the history
        shot = tmp_path / "desk.png"
        browser.resize(1400, 1350)
        browser.js("window.scrollTo(0, 0)")
        browser.screenshot(shot)
        browser.resize(1400, 1000)
        width, height, distinct = png_facts(shot.read_bytes())
        assert (width, height) == (1400, 1350)
        assert distinct > 50, "the screenshot looks blank"
        if os.environ.get("TSUR_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "desk.png")

        browser.js(f"{answer}.value = {json.dumps(GOOD_ANSWER)}")
        browser.navigating("document.querySelector('#form-final button').click()")
        assert browser.js("document.getElementById('status').dataset.status") == "resolved"
        assert "инцидент решён" in browser.js("document.getElementById('done').textContent")
        inc = engine.incident(ids["heat"])
        assert inc.status is Status.RESOLVED
        assert inc.history[-1].actor == "region_curator:region"
        last = browser.js("document.querySelector('.history tbody tr .actor').textContent")
        assert last == "region_curator:region"

        browser.go(f"{base}/desk/analytics")
        assert browser.js("document.querySelectorAll('svg.choropleth .area').length") == 3
        assert (
            browser.js("document.querySelector('svg.choropleth').getBoundingClientRect().width")
            > 300
        )

        browser.navigating("document.querySelector('header form button').click()")  # log out
        assert browser.js("location.pathname") == "/desk/login"
        browser.go(f"{base}/desk/queue")
        assert browser.js("location.pathname") == "/desk/login"
        assert browser.console_problems() == []  # no CSP violation, no script error
    finally:
        browser.close()
