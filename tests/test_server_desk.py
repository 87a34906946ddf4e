"""The web desk over HTTP: sessions, CSRF, scopes, masking, the lifecycle's forms.

The rules: a session cookie is HttpOnly, SameSite=Strict, limited to /desk
and Secure over https (RFC 6265bis); a state-changing request without the
session's token is refused (OWASP CSRF cheat sheet: synchronizer token);
a key sees only its scope, and another scope's incident is a 404 like a
missing one; an analyst reads citizens' texts masked and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tsur import Engine, Status
from tsur.config import ServerConfig
from tsur.errors import ConfigError
from tsur.lifecycle.answers import check_answer
from tsur.server import create_app
from tsur.server import desk as desk_module
from tsur.server.desk import SESSION_COOKIE, Sessions, session_secret

from .helpers import msg
from .service_kit import Service, service

PHONE = "8 927 123-45-67"
OTPISKA = "Ваше обращение рассмотрено."
GOOD_ANSWER = "Подача тепла восстановлена 16.11.2026: бригада заменила участок трубы у дома 5."


def seed(engine: Engine) -> dict[str, int]:
    """Four incidents of the small region, by name."""
    engine.process(
        [
            msg("heat", f"Тольятти, ул. Ленина 5, нет отопления, батарея холодная. Тел. {PHONE}"),
            msg("road-g", "Тольятти, ул. Мира 3, яма на дороге у остановки"),
            msg("road-s", "Сызрань, улица Советская 10, яма на дороге", source="written"),
            msg("vague", "что-то непонятное"),
        ]
    )
    by_text = {i.summary: i for i in engine.incidents(limit=None)}
    found = {
        name: next(i for s, i in by_text.items() if needle in s)
        for name, needle in (
            ("heat", "отопления"),
            ("road-g", "Мира"),
            ("road-s", "Советская"),
            ("vague", "непонятное"),
        )
    }
    assert (found["heat"].executor, found["heat"].territory) == ("teplo", "gorod")
    assert (found["road-g"].executor, found["road-g"].territory) == ("adm-gorod", "gorod")
    assert (found["road-s"].executor, found["road-s"].territory) == ("adm-sela", "sela")
    assert found["vague"].status is Status.TRIAGE
    return {name: inc.id for name, inc in found.items() if inc.id is not None}


#: The desk's own behaviour is the same on every store: it runs on SQLite; the tests of
#: who sees and changes what (the scope) run on PostgreSQL too.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def desk(engine: Engine) -> Iterator[Service]:
    with service(engine) as svc:
        svc.client.follow_redirects = False
        yield svc


@pytest.fixture
def ids(desk: Service) -> dict[str, int]:
    return seed(desk.engine)


def token_in(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, "no CSRF field on the page"
    return m.group(1)


def log_in(client: TestClient, token: str, **extra: str) -> Any:
    form = client.get("/desk/login")
    assert form.status_code == 200
    return client.post("/desk/login", data={"key": token, "csrf": token_in(form.text), **extra})


def login(desk: Service, who: str) -> str:
    """Log in as ``who``; the CSRF token of the session's forms."""
    r = log_in(desk.client, desk.tokens[who])
    assert r.status_code == 303, r.text
    page = desk.client.get("/desk/queue")
    assert page.status_code == 200
    return token_in(page.text)


def listed(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'<tr class="[^"]*" data-id="(\d+)"', html)}


def set_cookie(response: Any, name: str) -> str:
    headers = response.headers.get_list("set-cookie")
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert len(found) == 1, headers
    return str(found[0])


# sessions -------------------------------------------------------------------------------
@SQLITE_ONLY
def test_pages_send_a_visitor_without_a_session_to_the_login_page(desk: Service) -> None:
    for path in ("/desk", "/desk/queue?view=late", "/desk/incidents/1", "/desk/kpi"):
        r = desk.client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/desk/login?next=%2Fdesk")
    login = desk.client.get("/desk/login")
    assert login.status_code == 200 and "Вход в рабочее место" in login.text
    # a form sent after the session ended leads back to its page once logged in
    r = desk.client.post("/desk/incidents/1/take", data={"csrf": "x"})
    assert r.status_code == 303
    assert r.headers["location"] == "/desk/login?next=%2Fdesk%2Fincidents%2F1"


@SQLITE_ONLY
def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_desk(desk: Service) -> None:
    r = log_in(desk.client, desk.tokens["region"])
    assert r.status_code == 303 and r.headers["location"] == "/desk/queue"
    cookie = set_cookie(r, SESSION_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/desk" in cookie
    assert "max-age=43200" in cookie  # session_hours = 12 by default
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back
    assert desk.tokens["region"].split("_", 2)[2] not in cookie  # the key's secret stays out


@SQLITE_ONLY
def test_over_https_the_session_cookie_is_secure(engine: Engine) -> None:
    with service(engine) as svc:
        client = TestClient(svc.client.app, base_url="https://testserver", follow_redirects=False)
        r = log_in(client, svc.tokens["gorod"])
        assert r.status_code == 303
        assert "secure" in set_cookie(r, SESSION_COOKIE).lower()


@SQLITE_ONLY
def test_logout_needs_the_token_and_ends_the_session(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "region")
    assert desk.client.post("/desk/logout").status_code == 403
    assert desk.client.get("/desk/queue").status_code == 200
    r = desk.client.post("/desk/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/desk/login"
    assert "max-age=0" in set_cookie(r, SESSION_COOKIE).lower()
    assert desk.client.get("/desk/queue").status_code == 303


@SQLITE_ONLY
def test_a_wrong_key_is_refused_and_failed_logins_are_limited(engine: Engine) -> None:
    with service(engine, ServerConfig(auth_failures_per_minute=3)) as svc:
        svc.client.follow_redirects = False
        codes = [log_in(svc.client, key).status_code for key in ("", "nonsense", "tsur_x") * 2]
        assert codes == [401, 401, 401, 429, 429, 429]
        assert "Слишком много неудачных попыток" in log_in(svc.client, "x").text
        assert SESSION_COOKIE not in svc.client.cookies


@SQLITE_ONLY
def test_an_integration_key_does_not_open_the_desk(desk: Service) -> None:
    r = log_in(desk.client, desk.tokens["integration"])
    assert r.status_code == 403 and "Ключ интеграции" in r.text
    assert SESSION_COOKIE not in desk.client.cookies
    assert desk.client.get("/desk/queue").status_code == 303


@SQLITE_ONLY
def test_the_login_form_needs_its_own_token(desk: Service) -> None:
    key = desk.tokens["region"]
    assert desk.client.post("/desk/login", data={"key": key}).status_code == 403
    desk.client.get("/desk/login")  # the nonce cookie is set now
    bad = desk.client.post("/desk/login", data={"key": key, "csrf": "x" * 43})
    assert bad.status_code == 403
    assert SESSION_COOKIE not in desk.client.cookies


@SQLITE_ONLY
def test_after_login_the_user_returns_to_the_desk_page_asked_for_never_elsewhere(
    desk: Service,
) -> None:
    r = log_in(desk.client, desk.tokens["region"], next="/desk/queue?view=late")
    assert r.headers["location"] == "/desk/queue?view=late"
    for target in ("https://evil.example/", "//evil.example/desk/", "/desk/../api/v1"):
        desk.client.cookies.clear()
        r = log_in(desk.client, desk.tokens["region"], next=target)
        assert (
            r.headers["location"] in ("/desk/queue", target) and "evil" not in r.headers["location"]
        )
        assert ".." not in r.headers["location"] or r.headers["location"].startswith("/desk/")


@SQLITE_ONLY
def test_a_forged_tampered_or_expired_session_is_refused(desk: Service) -> None:
    login(desk, "region")
    genuine = desk.client.cookies[SESSION_COOKIE]
    key_id, expires, nonce, mac = genuine.split(".")
    other_id = desk.tokens["analyst"].split("_")[1]
    secret: bytes = desk.client.app.state.desk_secret  # type: ignore[attr-defined]
    forged = [
        f"{other_id}.{expires}.{nonce}.{mac}",  # another key under this MAC
        f"{key_id}.{int(expires) + 10**6}.{nonce}.{mac}",  # a longer life
        Sessions(b"another secret of thirty-two bytes!", 12).issue(key_id),
        Sessions(secret, 1, clock=lambda: 0.0).issue(key_id),  # expired in 1970
        "garbage",
    ]
    for value in forged:
        desk.client.cookies.set(SESSION_COOKIE, value, path="/desk")
        assert desk.client.get("/desk/queue").status_code == 303, value
    desk.client.cookies.set(SESSION_COOKIE, genuine, path="/desk")
    assert desk.client.get("/desk/queue").status_code == 200


@SQLITE_ONLY
def test_a_revoked_key_ends_its_sessions_at_once(desk: Service) -> None:
    login(desk, "gorod")
    key_id = desk.tokens["gorod"].split("_")[1]
    assert desk.engine.repository.revoke_api_key(key_id, at=desk.engine.clock())
    assert desk.client.get("/desk/queue").status_code == 303


@SQLITE_ONLY
def test_sessions_are_shared_by_processes_with_one_secret_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(desk_module.SECRET_ENV, raising=False)
    a, b = create_app(engine), create_app(engine)
    assert a.state.desk_secret != b.state.desk_secret  # random per instance
    monkeypatch.setenv(desk_module.SECRET_ENV, "s" * 40)
    c, d = create_app(engine), create_app(engine)
    with service(engine) as svc:  # only for a token
        token = svc.tokens["region"]
    for first, second, shared in ((a, b, False), (c, d, True)):
        one = TestClient(first, follow_redirects=False)
        assert log_in(one, token).status_code == 303
        two = TestClient(second, follow_redirects=False)
        two.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE], path="/desk")
        assert two.get("/desk/queue").status_code == (200 if shared else 303)
    monkeypatch.setenv(desk_module.SECRET_ENV, "short")
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(engine)
    assert session_secret({desk_module.SECRET_ENV: "k" * 32}) == b"k" * 32


# CSRF -----------------------------------------------------------------------------------
@SQLITE_ONLY
@pytest.mark.parametrize("token", [None, "", "wrong", "A" * 43])
def test_a_post_without_the_sessions_token_is_403_and_changes_nothing(
    desk: Service, ids: dict[str, int], token: str | None
) -> None:
    login(desk, "region")
    data = {} if token is None else {"csrf": token}
    r = desk.client.post(f"/desk/incidents/{ids['heat']}/take", data=data)
    assert r.status_code == 403 and "Форма устарела" in r.text
    assert desk.engine.incident(ids["heat"]).status is Status.ROUTED


@SQLITE_ONLY
def test_another_sessions_token_does_not_pass(desk: Service, ids: dict[str, int]) -> None:
    first = login(desk, "region")
    desk.client.cookies.clear()
    second = login(desk, "region")
    assert first != second  # each session has its own token
    r = desk.client.post(f"/desk/incidents/{ids['heat']}/take", data={"csrf": first})
    assert r.status_code == 403
    r = desk.client.post(f"/desk/incidents/{ids['heat']}/take", data={"csrf": second})
    assert r.status_code == 303
    inc = desk.engine.incident(ids["heat"])
    assert inc.status is Status.IN_PROGRESS
    assert inc.history[-1].actor == "region_curator:region"


# scope ----------------------------------------------------------------------------------
def test_a_municipal_curator_sees_only_its_municipality(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "gorod")
    page = desk.client.get("/desk/queue?view=all").text
    assert listed(page) == {ids["heat"], ids["road-g"]}
    assert 'value="sela"' not in page  # not offered as a filter either
    assert desk.client.get("/desk/queue?view=all&territory=sela").status_code == 400
    r = desk.client.get(f"/desk/incidents/{ids['road-s']}")
    assert r.status_code == 404 and "вне вашей зоны доступа" in r.text
    r = desk.client.post(f"/desk/incidents/{ids['road-s']}/take", data={"csrf": csrf})
    assert r.status_code == 404
    assert desk.engine.incident(ids["road-s"]).status is Status.ROUTED
    assert desk.client.get(f"/desk/incidents/{ids['road-g']}").status_code == 200


def test_an_executor_sees_only_its_organisations_incidents(
    desk: Service, ids: dict[str, int]
) -> None:
    login(desk, "teplo")
    assert listed(desk.client.get("/desk/queue?view=all").text) == {ids["heat"]}
    assert desk.client.get(f"/desk/incidents/{ids['road-g']}").status_code == 404
    page = desk.client.get(f"/desk/incidents/{ids['heat']}").text
    assert 'id="form-take"' in page and 'id="form-final"' in page
    assert "Показатели исполнителей" not in page  # no analytics for an executor
    assert desk.client.get("/desk/kpi").status_code == 403
    assert desk.client.get("/desk/analytics").status_code == 403


def test_an_analyst_reads_masked_texts_and_has_no_forms(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "analyst")
    queue = desk.client.get("/desk/queue?view=all").text
    assert listed(queue) == set(ids.values())
    page = desk.client.get(f"/desk/incidents/{ids['heat']}").text
    assert PHONE not in page and PHONE not in queue
    assert "нет отопления" in page and "Персональные данные в текстах скрыты" in page
    assert not re.search(r'<form method="post" action="/desk/incidents/', page)
    r = desk.client.post(f"/desk/incidents/{ids['heat']}/take", data={"csrf": csrf})
    assert r.status_code == 403
    assert desk.engine.incident(ids["heat"]).status is Status.ROUTED
    assert desk.client.get("/desk/kpi").status_code == 200
    # a curator reads the same text unmasked
    desk.client.cookies.clear()
    login(desk, "region")
    assert PHONE in desk.client.get(f"/desk/incidents/{ids['heat']}").text


@pytest.mark.parametrize(
    "path",
    [
        "999999",
        "0",
        "abc",
        "9" * 30,
        "-1",
        "²",  # a digit to str.isdigit, not a number
        "١٢",  # Arabic-Indic digits
        str(2**63 - 1),  # the largest number an incident may have
        str(2**63),  # past what the stores hold
    ],
)
@SQLITE_ONLY
def test_an_unknown_id_is_a_404_page(desk: Service, ids: dict[str, int], path: str) -> None:
    login(desk, "region")
    r = desk.client.get(f"/desk/incidents/{path}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html") and "Не найдено" in r.text


# the queue ------------------------------------------------------------------------------
@SQLITE_ONLY
def test_the_queue_views_and_filters(desk: Service, ids: dict[str, int]) -> None:
    login(desk, "region")
    get = desk.client.get
    assert listed(get("/desk/queue").text) == {ids["heat"], ids["road-g"], ids["road-s"]}
    assert listed(get("/desk/queue?view=triage").text) == {ids["vague"]}
    assert listed(get("/desk/queue?view=late").text) == set()
    assert listed(get("/desk/queue?view=all&topic=roads").text) == {ids["road-g"], ids["road-s"]}
    assert listed(get("/desk/queue?view=all&territory=gorod").text) == {ids["heat"], ids["road-g"]}
    assert listed(get("/desk/queue?view=all&urgency=urgent").text) == {ids["heat"]}
    assert listed(get("/desk/queue?view=all&status=triage").text) == {ids["vague"]}
    assert listed(get("/desk/queue?view=all&q=Советская").text) == {ids["road-s"]}
    for bad in ("view=nope", "status=nope", "topic=nope", "urgency=nope"):
        r = get(f"/desk/queue?{bad}")
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), bad


@SQLITE_ONLY
def test_the_late_view_lists_incidents_past_their_term(desk: Service, ids: dict[str, int]) -> None:
    login(desk, "region")
    desk.engine.clock.advance(days=3)  # type: ignore[attr-defined]
    page = desk.client.get("/desk/queue?view=late").text
    assert ids["heat"] in listed(page)  # urgent: 24 hours
    assert ids["road-s"] not in listed(page)  # a written appeal has 30 days


@SQLITE_ONLY
def test_the_queue_comes_in_pages(
    desk: Service, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk_module, "PAGE_SIZE", 3)
    login(desk, "region")
    first = desk.client.get("/desk/queue?view=all").text
    nxt = re.search(r'href="([^"]+)" rel="next"', first)
    assert nxt is not None and len(listed(first)) == 3
    second = desk.client.get(nxt.group(1).replace("&amp;", "&")).text
    assert listed(first) | listed(second) == set(ids.values())
    assert not listed(first) & listed(second)
    assert 'rel="next"' not in second


# actions --------------------------------------------------------------------------------
@SQLITE_ONLY
def test_an_otpiska_is_refused_with_its_reasons_then_a_real_answer_resolves(
    desk: Service, ids: dict[str, int]
) -> None:
    csrf = login(desk, "teplo")
    url = f"/desk/incidents/{ids['heat']}"
    r = desk.client.post(f"{url}/final", data={"csrf": csrf, "text": OTPISKA})
    assert r.status_code == 422
    for reason in check_answer(OTPISKA).reasons:
        assert reason in r.text
    assert OTPISKA in r.text  # the text is kept in the form to be corrected
    inc = desk.engine.incident(ids["heat"])
    assert inc.status is Status.ROUTED and inc.history[-1].kind == "answer_rejected"
    r = desk.client.post(f"{url}/final", data={"csrf": csrf, "text": GOOD_ANSWER})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=final"
    inc = desk.engine.incident(ids["heat"])
    assert inc.status is Status.RESOLVED
    assert inc.history[-1].actor == "executor:teplo"
    page = desk.client.get(r.headers["location"]).text
    assert 'data-status="resolved"' in page and "инцидент решён" in page
    assert 'id="form-final"' not in page


@SQLITE_ONLY
def test_take_intermediate_and_an_empty_final_answer(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "gorod")
    url = f"/desk/incidents/{ids['road-g']}"
    assert desk.client.post(f"{url}/take", data={"csrf": csrf}).status_code == 303
    assert desk.engine.incident(ids["road-g"]).status is Status.IN_PROGRESS
    assert desk.client.post(f"{url}/intermediate", data={"csrf": csrf}).status_code == 303
    inc = desk.engine.incident(ids["road-g"])
    assert inc.status is Status.ANSWERED_INTERMEDIATE
    assert inc.history[-1].actor == "municipal_curator:gorod"
    r = desk.client.post(f"{url}/final", data={"csrf": csrf, "text": "   "})
    assert r.status_code == 422 and "Введите текст окончательного ответа" in r.text
    # an incident in triage cannot be taken into work: not offered, and refused if forced
    desk.client.cookies.clear()
    csrf = login(desk, "region")
    triage = f"/desk/incidents/{ids['vague']}"
    assert 'id="form-take"' not in desk.client.get(triage).text
    r = desk.client.post(f"{triage}/take", data={"csrf": csrf})
    assert r.status_code == 409 and "Действие недоступно" in r.text
    assert desk.engine.incident(ids["vague"]).status is Status.TRIAGE


@SQLITE_ONLY
def test_a_curator_confirms_a_triage_incident_with_one_button(
    desk: Service, ids: dict[str, int]
) -> None:
    desk.engine.transition(ids["road-g"], Status.TRIAGE, actor="tsur", reason="не уверен")
    url = f"/desk/incidents/{ids['road-g']}"
    csrf = login(desk, "adm-gorod")  # an executor: no button, and refused if forced
    assert 'id="form-confirm"' not in desk.client.get(url).text
    assert desk.client.post(f"{url}/confirm", data={"csrf": csrf}).status_code == 403
    desk.client.cookies.clear()
    csrf = login(desk, "gorod")
    page = desk.client.get(url).text
    form = page[page.index('id="form-confirm"') :]
    assert f'name="csrf" value="{csrf}"' in form[: form.index("</form>")]
    assert "Подтвердить</button>" in form and "(предложен)" in form
    assert desk.client.post(f"{url}/confirm", data={}).status_code == 403  # no token
    assert desk.client.post(f"{url}/confirm", data={"csrf": "x" + csrf}).status_code == 403
    assert desk.engine.incident(ids["road-g"]).status is Status.TRIAGE
    r = desk.client.post(f"{url}/confirm", data={"csrf": csrf, "reason": "всё верно"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=confirm"
    inc = desk.engine.incident(ids["road-g"])
    assert (inc.status, inc.executor, inc.confidence) == (Status.ROUTED, "adm-gorod", 1.0)
    (ev,) = [e for e in inc.history if e.kind == "confirmed"]
    assert (ev.actor, ev.reason) == ("municipal_curator:gorod", "всё верно")
    page = desk.client.get(r.headers["location"]).text
    assert "Классификация подтверждена" in page and "подтверждение куратора" in page
    assert 'id="form-confirm"' not in page  # no longer in triage
    # an incident without a topic cannot be confirmed (correct it instead): not offered,
    # and refused if forced
    desk.client.cookies.clear()
    csrf = login(desk, "region")
    vague = f"/desk/incidents/{ids['vague']}"
    assert 'id="form-confirm"' not in desk.client.get(vague).text
    data = {"csrf": csrf, "executor": "adm-gorod"}
    r = desk.client.post(f"{vague}/confirm", data=data)
    assert r.status_code == 422 and 'id="problem"' in r.text and "no topic" in r.text
    assert desk.engine.incident(ids["vague"]).status is Status.TRIAGE


@SQLITE_ONLY
def test_a_written_appeal_is_extended_once(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "sela")
    url = f"/desk/incidents/{ids['road-s']}"
    assert 'id="form-extend"' in desk.client.get(url).text
    assert 'id="form-extend"' not in desk.client.get(f"/desk/incidents/{ids['vague']}").text
    before = desk.engine.incident(ids["road-s"]).resolution_due
    data = {"csrf": csrf, "reason": "нужна экспертиза покрытия", "days": "20"}
    assert desk.client.post(f"{url}/extend", data=data).status_code == 303
    inc = desk.engine.incident(ids["road-s"])
    assert before is not None and inc.resolution_due is not None and inc.resolution_due > before
    assert any(e.kind == "extended" for e in inc.history)
    assert 'id="form-extend"' not in desk.client.get(url).text
    r = desk.client.post(f"{url}/extend", data=data)
    assert r.status_code == 409 and "Продление невозможно" in r.text


@SQLITE_ONLY
def test_an_executor_forwards_an_incident_out_of_its_hands(
    desk: Service, ids: dict[str, int]
) -> None:
    csrf = login(desk, "adm-gorod")
    url = f"/desk/incidents/{ids['road-g']}"
    r = desk.client.post(f"{url}/forward", data={"csrf": csrf, "executor": "nobody", "reason": "x"})
    assert r.status_code == 422
    r = desk.client.post(f"{url}/forward", data={"csrf": csrf, "executor": "carrier"})
    assert r.status_code == 422 and "Укажите причину переадресации" in r.text
    data = {"csrf": csrf, "executor": "carrier", "reason": "остановка — зона перевозчика"}
    r = desk.client.post(f"{url}/forward", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/desk/queue?done=forward"
    assert desk.engine.incident(ids["road-g"]).executor == "carrier"
    assert desk.client.get(url).status_code == 404  # no longer its incident


@SQLITE_ONLY
def test_an_unknown_action_is_404(desk: Service, ids: dict[str, int]) -> None:
    csrf = login(desk, "region")
    r = desk.client.post(f"/desk/incidents/{ids['heat']}/delete", data={"csrf": csrf})
    assert r.status_code == 404


# pages are served within the content security policy --------------------------------------
@SQLITE_ONLY
def test_no_inline_scripts_or_styles_and_the_assets_are_served(
    desk: Service, ids: dict[str, int]
) -> None:
    pages = [desk.client.get("/desk/login").text]
    login(desk, "region")
    for path in (
        "/desk/queue",
        f"/desk/incidents/{ids['heat']}",
        "/desk/kpi",
        "/desk/analytics",
        "/desk/analytics?measure=per_10k",
        "/desk/incidents/999999",
    ):
        r = desk.client.get(path)
        assert "script-src 'self'" in r.headers["content-security-policy"]
        pages.append(r.text)
    for html in pages:
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), "an inline script"
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "inline style or handler"
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "something from elsewhere"
    css = desk.client.get("/desk/static/desk.css")
    js = desk.client.get("/desk/static/desk.js")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


@SQLITE_ONLY
def test_analytics_shows_the_heat_map_and_offers_the_report(
    desk: Service, ids: dict[str, int]
) -> None:
    login(desk, "analyst")
    page = desk.client.get("/desk/analytics?period=2026-11&measure=per_10k").text
    assert '<svg class="map choropleth"' in page and 'data-measure="per_10k"' in page
    assert "Тольятти" in page
    assert desk.client.get("/desk/analytics?period=nonsense").status_code == 400
    assert desk.client.get("/desk/analytics?measure=nonsense").status_code == 400
    r = desk.client.get("/desk/analytics/report?period=2026-11")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="report-2026-11.html"'
    assert r.content.startswith(b"<!doctype html") or r.content.startswith(b"<!DOCTYPE html")


@SQLITE_ONLY
def test_kpi_page_lists_the_executors(desk: Service, ids: dict[str, int]) -> None:
    login(desk, "region")
    page = desk.client.get("/desk/kpi?period=2026-11").text
    executors = set(re.findall(r'<tr data-executor="([\w-]+)"', page))
    assert {"teplo", "adm-gorod", "adm-sela"} <= executors
    assert "Теплосеть" in page
    assert desk.client.get("/desk/kpi?period=2026-13").status_code == 400


def test_a_curator_reassigns_and_corrects_an_executor_cannot(
    desk: Service, ids: dict[str, int]
) -> None:
    csrf = login(desk, "teplo")
    heat = f"/desk/incidents/{ids['heat']}"
    page = desk.client.get(heat).text
    assert 'id="form-reassign"' not in page and 'id="form-correct"' not in page
    for action, data in (("reassign", {"executor": "cur", "reason": "x"}), ("correct", {})):
        r = desk.client.post(f"{heat}/{action}", data={"csrf": csrf, **data})
        assert r.status_code == 403, action
    assert desk.engine.incident(ids["heat"]).executor == "teplo"

    desk.client.cookies.clear()
    csrf = login(desk, "region")
    vague = f"/desk/incidents/{ids['vague']}"
    assert 'id="form-reassign"' in desk.client.get(vague).text
    data = {"csrf": csrf, "executor": "adm-gorod", "reason": "двор в Тольятти"}
    assert desk.client.post(f"{vague}/reassign", data=data).status_code == 303
    inc = desk.engine.incident(ids["vague"])
    assert (inc.executor, inc.status) == ("adm-gorod", Status.ROUTED)
    assert any(e.kind == "reassigned" and e.actor == "region_curator:region" for e in inc.history)

    r = desk.client.post(f"{heat}/correct", data={"csrf": csrf})
    assert r.status_code == 422 and "Выберите тему или территорию" in r.text
    r = desk.client.post(f"{heat}/correct", data={"csrf": csrf, "topic": "nope"})
    assert r.status_code == 422
    r = desk.client.post(f"{heat}/correct", data={"csrf": csrf, "topic": "zhkh", "reason": "шире"})
    assert r.status_code == 303
    inc = desk.engine.incident(ids["heat"])
    assert inc.topic == "zhkh" and any(e.kind == "corrected" for e in inc.history)


def correct_form(html: str) -> str:
    m = re.search(r'<form[^>]*id="form-correct".*?</form>', html, re.S)
    assert m is not None, "no correction form on the page"
    return m.group(0)


def test_a_municipal_curator_corrects_only_within_its_municipality(
    desk: Service, ids: dict[str, int]
) -> None:
    csrf = login(desk, "gorod")
    url = f"/desk/incidents/{ids['road-g']}"
    form = correct_form(desk.client.get(url).text)
    assert 'value="gorod"' in form
    assert 'value="sela"' not in form and 'value="volzhsky"' not in form
    # forced anyway, it is refused, as the work API refuses it, and nothing changes
    r = desk.client.post(f"{url}/correct", data={"csrf": csrf, "territory": "sela"})
    assert r.status_code == 403 and "только в пределах своего муниципалитета" in r.text
    assert 'id="form-correct"' in r.text  # back on the incident, the form at hand
    api = desk.client.post(
        f"/api/v1/incidents/{ids['road-g']}/correct",
        json={"territory": "sela"},
        headers=desk.headers("gorod"),
    )
    assert api.status_code == 403
    inc = desk.engine.incident(ids["road-g"])
    assert inc.territory == "gorod" and not any(e.kind == "corrected" for e in inc.history)
    # the topic within its own municipality is still its to correct
    data = {"csrf": csrf, "topic": "zhkh", "territory": "gorod", "reason": "двор"}
    assert desk.client.post(f"{url}/correct", data=data).status_code == 303
    assert desk.engine.incident(ids["road-g"]).topic == "zhkh"


def test_the_region_curator_moves_an_incident_to_another_municipality(
    desk: Service, ids: dict[str, int]
) -> None:
    csrf = login(desk, "region")
    url = f"/desk/incidents/{ids['road-g']}"
    form = correct_form(desk.client.get(url).text)
    assert 'value="gorod"' in form and 'value="sela"' in form
    r = desk.client.post(f"{url}/correct", data={"csrf": csrf, "territory": "sela"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=correct"
    assert desk.engine.incident(ids["road-g"]).territory == "sela"


# analytics within the key's scope ---------------------------------------------------------
def municipality_rows(html: str) -> dict[str, int]:
    """The «Муниципалитеты» table of the analytics page: name → incidents."""
    table = re.search(r'<table class="munis">.*?</table>', html, re.S)
    assert table is not None
    return {
        n: int(c)
        for n, c in re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)", table.group(0))
    }


def test_a_municipal_curators_analytics_are_its_municipalitys_alone(
    desk: Service, ids: dict[str, int]
) -> None:
    login(desk, "region")
    region_page = desk.client.get("/desk/analytics?period=2026-11").text
    assert municipality_rows(region_page) == {"Тольятти": 2, "Сызрань": 1, "Волжский район": 0}
    assert 'id="report-link"' in region_page

    desk.client.cookies.clear()
    login(desk, "gorod")
    page = desk.client.get("/desk/analytics?period=2026-11").text
    assert municipality_rows(page) == {"Тольятти": 2}
    assert "Сызрань" not in page  # neither in the table nor on the map
    assert 'id="report-link"' not in page  # the report is not offered …
    summary = desk.client.get(
        "/api/v1/analytics/summary?period=2026-11", headers=desk.headers("gorod")
    ).json()
    assert {m["name"]: m["count"] for m in summary["municipalities"]} == municipality_rows(page)


def test_the_region_wide_report_is_refused_to_a_municipal_curator(
    desk: Service, ids: dict[str, int]
) -> None:
    login(desk, "gorod")
    r = desk.client.get("/desk/analytics/report?period=2026-11")
    assert r.status_code == 403 and "Нет доступа" in r.text
    assert "content-disposition" not in r.headers and "Сызрань" not in r.text
    api = desk.client.get("/api/v1/reports/2026-11", headers=desk.headers("gorod"))
    assert api.status_code == 403
    # the executors' KPIs stay region-wide, as in the work API
    kpi = desk.client.get("/desk/kpi?period=2026-11").text
    assert {"teplo", "adm-gorod", "adm-sela"} <= set(
        re.findall(r'<tr data-executor="([\w-]+)"', kpi)
    )

    desk.client.cookies.clear()
    login(desk, "region")
    r = desk.client.get("/desk/analytics/report?period=2026-11")
    assert r.status_code == 200 and "Сызрань" in r.text


# hostile input --------------------------------------------------------------------------
@SQLITE_ONLY
@pytest.mark.parametrize("cursor", ["²", "١", "0", "-1", "abc", str(2**63), "9" * 30])
def test_a_cursor_that_is_not_an_incident_number_is_a_400_page(
    desk: Service, ids: dict[str, int], cursor: str
) -> None:
    login(desk, "region")
    r = desk.client.get("/desk/queue", params={"view": "all", "cursor": cursor})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "Неверный запрос" in r.text


@SQLITE_ONLY
def test_the_largest_cursor_is_the_first_page(desk: Service, ids: dict[str, int]) -> None:
    login(desk, "region")
    r = desk.client.get("/desk/queue", params={"view": "all", "cursor": str(2**63 - 1)})
    assert r.status_code == 200 and listed(r.text) == set(ids.values())


@pytest.mark.parametrize(
    "period",
    [
        "0001-01",  # before 1971
        "0001",
        "1970-12",
        "9999",  # after 9000
        "9001-01-01",
        "1000-01-01..9999-12-31",
        "2026-01-01..2099-01-01",  # 73 years: longer than 366 days
        "2026-01-01..2027-01-02",  # 367 days
        "2026-11-01" + " " * 40 + "x",
    ],
)
@SQLITE_ONLY
@pytest.mark.parametrize("page", ["/desk/kpi", "/desk/analytics", "/desk/analytics/report"])
def test_a_period_outside_the_services_limits_is_a_400_page(
    desk: Service, ids: dict[str, int], page: str, period: str
) -> None:
    login(desk, "region")
    r = desk.client.get(page, params={"period": period})
    assert r.status_code == 400, r.text[:300]
    assert r.headers["content-type"].startswith("text/html") and "Неверный запрос" in r.text


@SQLITE_ONLY
@pytest.mark.parametrize("page", ["/desk/kpi", "/desk/analytics", "/desk/analytics/report"])
def test_a_period_at_the_services_limits_is_served(
    desk: Service, ids: dict[str, int], page: str
) -> None:
    login(desk, "region")
    for period in ("1971-01", "9000", "2024-01-01..2024-12-31", ""):  # 366 days; empty: now
        r = desk.client.get(page, params={"period": period})
        assert r.status_code == 200, (period, r.text[:300])
