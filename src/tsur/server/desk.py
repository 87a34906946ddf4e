"""The curators' web desk under ``/desk``: queues, incidents, answers, KPIs, the heat map.

Server-rendered Russian pages (Jinja2 templates and a little plain
JavaScript in :file:`desk/`, served from ``/desk/static``; no build step,
nothing fetched from elsewhere, so it works on a closed LAN) over the same
engine, lifecycle and access rules as the work API:

- **Login** (``/desk/login``): the user pastes an API key of any role but
  ``integration``. It is checked like any key (:func:`tsur.server.deps.admit`:
  failed attempts count against the address's limit) and exchanged for a
  session cookie — ``HttpOnly``, ``SameSite=Strict``, ``Path=/desk``,
  ``Secure`` over https — holding the key's id, an expiry
  (``[server] session_hours``) and a nonce, signed with HMAC-SHA256. The
  secret is random per application instance unless ``TSUR_SESSION_SECRET``
  is set: several processes behind one address need the same secret, or a
  session opened on one is refused by the others. Each request looks the
  key up again (:func:`tsur.access.principal_of_key`), so a revoked key
  ends its sessions at once, and counts against the key's rate.
- **CSRF**: every POST carries a token, the HMAC of the session (of a
  login nonce cookie for the login form), checked in constant time; a
  missing or wrong one is 403. ``SameSite=Strict`` keeps the cookie off
  cross-site requests besides.
- **Queue** (``/desk/queue``): new, triage, overdue, open or all incidents
  within the key's scope (:func:`tsur.server.work.find_incidents`, as the
  API lists them), filtered by status, topic, territory, urgency and text,
  in pages.
- **Incident** (``/desk/incidents/{id}``): messages (masked for analysts),
  the history with who did what, and the forms the role may use; every
  action is a :class:`~tsur.lifecycle.Lifecycle` call signed with the
  key's actor. Another scope's incident is 404, like a missing one.
- **KPI** and **analytics** pages for roles with ``analytics``: executors'
  figures for a period, the heat map of municipalities and the period's
  HTML report to download, with the work API's periods
  (:func:`tsur.server.summaries.validated_period`) and scopes: a municipal
  curator's heat map shows its municipality alone
  (:func:`~tsur.server.summaries.summary_municipality`), the region-wide
  report is refused to it (:func:`~tsur.server.summaries.check_report_access`),
  and the KPIs are region-wide as in ``/api/v1/executors/kpi``. A curator
  corrects an incident only to a territory it may place incidents in
  (:func:`tsur.server.curation.check_place`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec
from urllib.parse import urlencode

import attrs
import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from tsur.access import Principal, incident_scope, principal_of_key, require
from tsur.analytics import Analytics, executor_kpis
from tsur.analytics.exports import boundaries_for
from tsur.analytics.heatmap import MEASURES, choropleth
from tsur.analytics.periods import Period
from tsur.analytics.report import jsonable
from tsur.domain import Incident, Status, Urgency
from tsur.errors import (
    AccessDenied,
    AnswerRejected,
    ConfigError,
    ExtensionRefused,
    IllegalTransition,
    InvalidRequest,
    LifecycleError,
    NotFound,
    PhotoRequired,
    ReportError,
    TooManyRequests,
    TsurError,
)
from tsur.lifecycle.core import ANSWERABLE
from tsur.lifecycle.state import lifecycle_state
from tsur.roles import Right, Role
from tsur.server.curation import check_place
from tsur.server.deps import ServerState, admit, count, retry_after, state
from tsur.server.errors import error_status
from tsur.server.models import IncidentDetail
from tsur.server.summaries import (
    check_report_access,
    report_file,
    summary_municipality,
    validated_period,
)
from tsur.server.work import MAX_ID, detail_of, find_incidents, visible_incident
from tsur.text.masking import mask_citizen_text

__all__ = [
    "SECRET_ENV",
    "SESSION_COOKIE",
    "STATIC_URL",
    "Sessions",
    "router",
    "session_secret",
    "static_files",
]

#: Where the desk's CSS and JavaScript are served.
STATIC_URL = "/desk/static"
#: The session cookie; the login form's nonce cookie.
SESSION_COOKIE = "tsur_desk"
LOGIN_COOKIE = "tsur_desk_login"
#: The environment variable holding the session secret shared by several processes.
SECRET_ENV = "TSUR_SESSION_SECRET"
#: Incidents on a page of the queue.
PAGE_SIZE = 30

_HERE = Path(__file__).parent / "desk"
_MIN_SECRET = 32
_MAX_TEXT = 10_000

router = APIRouter(prefix="/desk", include_in_schema=False)


# sessions ------------------------------------------------------------------------------
def session_secret(environ: Mapping[str, str] | None = None) -> bytes:
    """The secret sessions are signed with: ``TSUR_SESSION_SECRET``, else random.

    A random secret lives as long as the application: sessions do not
    survive a restart, and other processes refuse them — give every process
    of one service the same secret (at least 32 characters) to share them.
    Raises :class:`~tsur.errors.ConfigError` for a set but shorter secret.
    """
    env = os.environ if environ is None else environ
    raw = env.get(SECRET_ENV)
    if raw is None:
        return secrets.token_bytes(32)
    if len(raw.strip()) < _MIN_SECRET:
        raise ConfigError(
            f"{SECRET_ENV} must be at least {_MIN_SECRET} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return raw.strip().encode("utf-8")


@attrs.frozen
class Sessions:
    """Signs and reads session values and CSRF tokens with one secret.

    A session value is ``<key id>.<expiry, Unix seconds>.<nonce>.<MAC>``;
    ``clock`` gives the current Unix time.
    """

    secret: bytes = attrs.field(repr=False)
    hours: float
    clock: Callable[[], float] = time.time

    def issue(self, key_id: str) -> str:
        """A new session value for the key ``key_id``."""
        expires = int(self.clock() + self.hours * 3600)
        body = f"{key_id}.{expires}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac('session', body)}"

    def key_of(self, value: str | None) -> str | None:
        """The key id of a genuine, unexpired session value; None otherwise."""
        if not value or len(value) > 200:
            return None
        body, _, mac = value.rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or not _same(mac, self._mac("session", body)):
            return None
        key_id, expires, _nonce = parts
        if not expires.isdigit() or int(expires) <= self.clock():
            return None
        return key_id

    def csrf(self, session: str) -> str:
        """The CSRF token of the forms of ``session``."""
        return self._mac("csrf", session)

    def login_csrf(self, nonce: str) -> str:
        """The CSRF token of the login form given the nonce cookie ``nonce``."""
        return self._mac("login", nonce)

    def _mac(self, purpose: str, body: str) -> str:
        digest = hmac.new(self.secret, f"{purpose}:{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("ascii")
    )


def _sessions(request: Request) -> Sessions:
    st = state(request)
    secret: bytes | None = getattr(request.app.state, "desk_secret", None)
    if secret is None:  # an app built without create_app: one secret for its lifetime
        secret = session_secret()
        request.app.state.desk_secret = secret
    return Sessions(secret, st.settings.session_hours)


# templates ------------------------------------------------------------------------------
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.0f} %".replace(".", ",")
    env.filters["hours"] = lambda v: "—" if v is None else f"{v / 3600:.1f}".replace(".", ",")
    env.filters["num"] = lambda v, d=1: "—" if v is None else f"{v:.{d}f}".replace(".", ",")
    return env


_TEMPLATES = _env()


def static_files() -> StaticFiles:
    """The desk's CSS and JavaScript (mount at :data:`STATIC_URL`)."""
    return StaticFiles(directory=_HERE / "static")


@attrs.frozen
class _Viewer:
    who: Principal
    session: str
    csrf: str


_NAV = (
    ("queue", "/desk/queue", "Очередь", Right.READ),
    ("kpi", "/desk/kpi", "Показатели исполнителей", Right.ANALYTICS),
    ("analytics", "/desk/analytics", "Аналитика", Right.ANALYTICS),
)

_ROLE_NAMES = {
    Role.REGION_CURATOR: "куратор региона",
    Role.MUNICIPAL_CURATOR: "куратор муниципалитета",
    Role.EXECUTOR: "исполнитель",
    Role.ANALYST: "аналитик",
    Role.INTEGRATION: "интеграция",
}


def _render(
    request: Request,
    template: str,
    viewer: _Viewer | None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    st = state(request)
    region = st.engine.region
    tz = region.calendar.tz

    def when(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(tz).strftime("%d.%m.%Y %H:%M")

    nav = []
    scope_name = ""
    if viewer is not None:
        nav = [(k, href, label) for k, href, label, right in _NAV if viewer.who.allows(right)]
        if viewer.who.role is Role.EXECUTOR:
            scope_name = region.executor_name(viewer.who.scope)
        elif viewer.who.scope is not None:
            scope_name = region.territory_name(viewer.who.scope)
    html = _TEMPLATES.get_template(template).render(
        viewer=viewer,
        who=viewer.who if viewer else None,
        csrf=viewer.csrf if viewer else "",
        role_name=_ROLE_NAMES[viewer.who.role] if viewer else "",
        scope_name=scope_name,
        nav=nav,
        region=region,
        region_name=region.name,
        static=STATIC_URL,
        when=when,
        now=st.engine.clock(),
        status_label=lambda s: Status(s).label,
        urgency_label=lambda u: Urgency(u).label,
        topic_name=region.topic_name,
        territory_name=region.territory_name,
        executor_name=region.executor_name,
        source_name=region.source_name,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


# errors ---------------------------------------------------------------------------------
class _LoginNeeded(Exception):
    """No valid session: the browser is sent to the login page."""


class _BadForm(Exception):
    """A POST without its CSRF token, or with a wrong one."""


_TITLES: tuple[tuple[type[TsurError], str, str], ...] = (
    (AnswerRejected, "Ответ не принят", "Ответ похож на отписку."),
    (
        PhotoRequired,
        "Нужна фотография",
        "По этой теме ответ принимается с фотографией результата: добавьте ссылку на фото.",
    ),
    (ExtensionRefused, "Продление невозможно", "Срок этого обращения продлить нельзя."),
    (
        IllegalTransition,
        "Действие недоступно",
        "В текущем статусе инцидента это действие невозможно: обновите страницу.",
    ),
    (InvalidRequest, "Проверьте форму", "Данные формы не приняты."),
    (NotFound, "Не найдено", "Такого инцидента нет или он вне вашей зоны доступа."),
    (ReportError, "Неверный запрос", "Проверьте параметры запроса."),
)


def _problem(exc: TsurError) -> dict[str, Any]:
    """The title, explanation, details and reasons of an error, for a page."""
    if isinstance(exc, TooManyRequests):
        wait = max(1, math.ceil(exc.retry_after))
        return {
            "title": "Слишком много запросов",
            "text": f"Подождите {wait} с и повторите.",
            "detail": "",
            "reasons": [],
        }
    if isinstance(exc, AccessDenied):
        return {
            "title": "Нет доступа",
            "text": "Вашей роли это недоступно.",
            "detail": "",
            "reasons": [],
        }
    for kind, title, text in _TITLES:
        if isinstance(exc, kind):
            reasons = exc.reasons if isinstance(exc, AnswerRejected) else []
            detail = "" if isinstance(exc, AnswerRejected | NotFound) else str(exc)
            return {"title": title, "text": text, "detail": detail, "reasons": reasons}
    return {"title": "Ошибка", "text": "Запрос не выполнен.", "detail": str(exc), "reasons": []}


def _error_page(request: Request, viewer: _Viewer | None, exc: TsurError) -> HTMLResponse:
    code, _ = error_status(exc)
    if isinstance(exc, NotFound):
        code = 404
    headers = retry_after(exc) if isinstance(exc, TooManyRequests) else None
    return _render(
        request, "error.html", viewer, status=code, headers=headers, problem=_problem(exc)
    )


P = ParamSpec("P")


def _page(fn: Callable[P, Response]) -> Callable[P, Response]:
    """Answer a desk route's failures as pages: the login page, 403, 404, 429 …"""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs.get("request")
        assert isinstance(request, Request)
        try:
            return fn(*args, **kwargs)
        except _LoginNeeded:
            target = request.url.path
            if request.method != "GET":  # back to the page the form was on, not to the POST
                parent = target.rsplit("/", 1)[0]
                target = parent if parent.startswith("/desk/incidents/") else "/desk/queue"
            elif request.url.query:
                target += "?" + request.url.query
            response = RedirectResponse(
                "/desk/login?" + urlencode({"next": target}), status_code=303
            )
            if request.cookies.get(SESSION_COOKIE):
                _clear(response, SESSION_COOKIE)
            return response
        except _BadForm:
            problem = {
                "title": "Форма устарела",
                "text": "Проверочный код формы не совпал. Обновите страницу и повторите.",
                "detail": "",
                "reasons": [],
            }
            return _render(request, "error.html", None, status=403, problem=problem)
        except TsurError as exc:
            return _error_page(request, getattr(request.state, "desk_viewer", None), exc)

    return wrapper


# who is asking ---------------------------------------------------------------------------
def _viewer(request: Request, right: Right = Right.READ) -> _Viewer:
    """The session's principal with ``right``; _LoginNeeded without a valid session."""
    st = state(request)
    sessions = _sessions(request)
    value = request.cookies.get(SESSION_COOKIE)
    key_id = sessions.key_of(value)
    if key_id is None or value is None:
        raise _LoginNeeded
    try:
        who = principal_of_key(st.engine.repository, key_id)
    except AccessDenied:
        raise _LoginNeeded from None
    if who.role is Role.INTEGRATION:
        raise _LoginNeeded
    count(request, who)
    viewer = _Viewer(who, value, sessions.csrf(value))
    request.state.desk_viewer = viewer
    require(who, right)
    return viewer


def _check_csrf(viewer: _Viewer, token: str | None) -> None:
    if not _same(token, viewer.csrf):
        raise _BadForm


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _clear(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/desk", httponly=True, samesite="strict")


def _safe_next(target: str | None) -> str:
    """Where to go after login: a desk page, never elsewhere."""
    if (
        target
        and target.startswith("/desk/")
        and not target.startswith("/desk/static")
        and "//" not in target
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return "/desk/queue"


# login ----------------------------------------------------------------------------------
Field = Annotated[str | None, Form()]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
@_page
def home(request: Request) -> Response:
    """The queue, or the login page."""
    _viewer(request)
    return RedirectResponse("/desk/queue", status_code=303)


def _login_form(
    request: Request, *, status: int = 200, error: str = "", next_page: str | None = None
) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    fresh = not (0 < len(nonce) <= 64 and nonce.isascii())
    if fresh:
        nonce = secrets.token_urlsafe(24)
    response = _render(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        next_page=_safe_next(next_page),
        login_csrf=_sessions(request).login_csrf(nonce),
    )
    if fresh:
        _cookie(request, response, LOGIN_COOKIE, nonce, 3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    """The login form (the queue when a session is open)."""
    sessions = _sessions(request)
    if sessions.key_of(request.cookies.get(SESSION_COOKIE)) is not None:
        try:
            _viewer(request)
            return RedirectResponse(_safe_next(next), status_code=303)
        except (_LoginNeeded, TsurError):
            pass
    return _login_form(request, next_page=next)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, key: Field = None, csrf: Field = None, next: Field = None) -> Response:
    """Exchange an API key for a session."""
    sessions = _sessions(request)
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not _same(csrf, sessions.login_csrf(nonce)):
        problem = {
            "title": "Форма устарела",
            "text": "Откройте страницу входа заново (нужны cookie).",
            "detail": "",
            "reasons": [],
        }
        return _render(request, "error.html", None, status=403, problem=problem)
    try:
        who = admit(request, (key or "").strip())
    except TooManyRequests as exc:
        wait = max(1, math.ceil(exc.retry_after))
        return _login_form(
            request,
            status=429,
            error=f"Слишком много неудачных попыток: подождите {wait} с.",
            next_page=next,
        )
    except AccessDenied:
        return _login_form(
            request, status=401, error="Ключ не подошёл: он неверен или отозван.", next_page=next
        )
    if who.role is Role.INTEGRATION:
        return _login_form(
            request,
            status=403,
            error="Ключ интеграции не открывает рабочее место: нужен ключ куратора, "
            "исполнителя или аналитика.",
            next_page=next,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    _cookie(
        request,
        response,
        SESSION_COOKIE,
        sessions.issue(who.key_id),
        int(sessions.hours * 3600),
    )
    _clear(response, LOGIN_COOKIE)
    return response


@router.post("/logout")
@_page
def logout(request: Request, csrf: Field = None) -> Response:
    """End the session on this browser."""
    viewer = _viewer(request)
    _check_csrf(viewer, csrf)
    response = RedirectResponse("/desk/login", status_code=303)
    _clear(response, SESSION_COOKIE)
    return response


# the queue ------------------------------------------------------------------------------
@attrs.frozen
class _View:
    label: str
    statuses: tuple[Status, ...] | None
    overdue: bool = False


VIEWS: dict[str, _View] = {
    "new": _View("Новые", (Status.NEW, Status.CLASSIFIED, Status.ROUTED, Status.REOPENED)),
    "triage": _View("На разборе", (Status.TRIAGE,)),
    "late": _View("Просроченные", None, overdue=True),
    "open": _View("Все открытые", tuple(s for s in Status if s.is_open)),
    "all": _View("Все", None),
}


#: How the queue is ordered (``order``): the newest first, or the least certain first.
_ORDERS = {"newest": "сначала новые", "uncertainty": "сначала наименее уверенные"}


def _choice(value: str | None, allowed: Sequence[str], what: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ReportError(f"неизвестное значение фильтра «{what}»: {value[:40]!r}", option=what)
    return value


def _territories_for(st: ServerState, who: Principal) -> list[tuple[str, str]]:
    region = st.engine.region
    scope = incident_scope(who, region)
    ids = scope.territories if scope.territories is not None else tuple(region.territories)
    return [(t, region.territory_name(t)) for t in ids]


@router.get("/queue", response_class=HTMLResponse)
@_page
def queue(
    request: Request,
    view: str = "new",
    status: str | None = None,
    topic: str | None = None,
    territory: str | None = None,
    urgency: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    done: str | None = None,
    order: str | None = None,
) -> Response:
    """Incidents of the chosen view within the key's scope, filtered, in pages: the newest
    first, or (``order=uncertainty``) the least certain classification first."""
    viewer = _viewer(request)
    st = state(request)
    region = st.engine.region
    chosen = VIEWS.get(view)
    if chosen is None:
        raise ReportError(f"нет такой очереди: {view[:40]!r}", option="view")
    territories = _territories_for(st, viewer.who)
    status = _choice(status, [s.value for s in Status], "статус")
    topic = _choice(topic, list(region.topics), "тема")
    territory = _choice(territory, [t for t, _ in territories], "территория")
    urgency = _choice(urgency, [u.value for u in Urgency], "срочность")
    text = (q or "").strip()[:200] or None
    order = _choice(order, list(_ORDERS), "порядок")
    before = None
    if cursor:
        before = _number(cursor)
        if before is None:
            raise ReportError(f"неверная ссылка на страницу: {cursor[:40]!r}", option="cursor")
    statuses = (Status(status),) if status else chosen.statuses
    items, after = find_incidents(
        st,
        viewer.who,
        status=statuses,
        urgency=Urgency(urgency) if urgency else None,
        topic=topic,
        territory=[territory] if territory else None,
        overdue=chosen.overdue,
        text=text,
        limit=PAGE_SIZE,
        before_id=before,
        order="uncertainty" if order == "uncertainty" else "newest",
        offset=before or 0,
    )
    filters = {
        k: v
        for k, v in {
            "view": view,
            "status": status,
            "topic": topic,
            "territory": territory,
            "urgency": urgency,
            "q": text,
            "order": order,
        }.items()
        if v
    }
    now = st.engine.clock()
    rows = [
        {
            "inc": inc,
            "summary": mask_citizen_text(inc.summary) if viewer.who.masked else inc.summary,
            "late": inc.status.is_open
            and any(d is not None and d < now for d in (inc.resolution_due, _first_due(inc))),
        }
        for inc in items
    ]
    return _render(
        request,
        "queue.html",
        viewer,
        page="queue",
        views=[(k, v.label) for k, v in VIEWS.items()],
        view=view,
        filters=filters,
        rows=rows,
        statuses=[(s.value, s.label) for s in Status],
        topics=[(t, region.topic_name(t)) for t in region.topics],
        territories=territories,
        urgencies=[(u.value, u.label) for u in Urgency],
        orders=list(_ORDERS.items()),
        next_url="/desk/queue?" + urlencode({**filters, "cursor": after}) if after else None,
        first_url="/desk/queue?" + urlencode(filters) if before else None,
        done=_DONE.get(done or ""),
    )


def _first_due(inc: Incident) -> datetime | None:
    return inc.first_response_due if inc.first_response_at is None else None


# one incident ---------------------------------------------------------------------------
_DONE = {
    "take": "Инцидент взят в работу.",
    "intermediate": "Промежуточный ответ дан и отправлен заявителю.",
    "final": "Окончательный ответ дан: инцидент решён.",
    "forward": "Инцидент переадресован.",
    "extend": "Срок продлён по 59-ФЗ.",
    "confirm": "Классификация подтверждена, инцидент направлен исполнителю.",
    "reassign": "Инцидент передан другому исполнителю.",
    "correct": "Тема и территория исправлены.",
}

_EVENT_NAMES = {
    "status": "смена статуса",
    "answer_rejected": "ответ отклонён (отписка)",
    "forwarded": "переадресация",
    "extended": "продление срока",
    "deadline": "срок",
    "deadlines": "сроки",
    "photo": "фото",
    "reply": "ответ заявителю",
    "rated": "оценка заявителя",
    "escalated": "эскалация",
    "warning": "предупреждение о сроке",
    "overdue": "просрочка",
    "classified": "классификация",
    "located": "место",
    "routed": "маршрутизация",
    "merged": "объединение",
    "message": "новое сообщение",
    "received": "поступило",
    "reassigned": "передано другому исполнителю",
    "corrected": "исправление куратора",
    "confirmed": "подтверждение куратора",
    "split": "выделение",
}


def _number(raw: str) -> int | None:
    """An incident number written in ASCII digits, 1 … :data:`MAX_ID`; None otherwise."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_ID else None


def _parse_id(raw: str) -> int:
    number = _number(raw)
    if number is None:
        raise NotFound("incident", raw[:40])
    return number


def _actions(st: ServerState, who: Principal, inc: Incident) -> dict[str, bool]:
    work = who.allows(Right.WORK)
    curate = who.allows(Right.CURATE)
    life = st.lifecycle
    return {
        "take": work and inc.status in (Status.ROUTED, Status.REOPENED),
        "intermediate": work
        and inc.status in ANSWERABLE
        and inc.can_transition(Status.ANSWERED_INTERMEDIATE),
        "final": work and inc.status in ANSWERABLE,
        "forward": work and inc.status in (Status.TRIAGE, *ANSWERABLE),
        "extend": work
        and inc.status.is_open
        and life.is_written_appeal(inc)
        and not lifecycle_state(inc).get("extension"),
        "confirm": curate and inc.status is Status.TRIAGE and inc.topic is not None,
        "reassign": curate and inc.status.is_open and inc.can_transition(Status.ROUTED),
        "correct": curate,
    }


def _incident_page(
    request: Request,
    viewer: _Viewer,
    incident_id: int,
    *,
    status: int = 200,
    problem: Mapping[str, Any] | None = None,
    failed: str | None = None,
    form: Mapping[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    st = state(request)
    inc = visible_incident(st, viewer.who, incident_id)
    detail: IncidentDetail = detail_of(st, inc, masked=viewer.who.masked)
    actions = _actions(st, viewer.who, inc)
    region = st.engine.region
    executors = [(e, region.executor_name(e)) for e in region.executors if e != inc.executor]
    return _render(
        request,
        "incident.html",
        viewer,
        status=status,
        page="queue",
        inc=detail,
        summary=mask_citizen_text(inc.summary) if viewer.who.masked else inc.summary,
        history=list(reversed(detail.history)),
        event_name=lambda kind: _EVENT_NAMES.get(kind, kind),
        actions=actions,
        any_action=any(actions.values()),
        executors=executors,
        proposed=inc.executor if inc.executor not in (None, region.curator) else None,
        topics=[(t, region.topic_name(t)) for t in region.topics],
        territories=_territories_for(st, viewer.who),
        written=st.lifecycle.is_written_appeal(inc),
        late=inc.status.is_open
        and inc.resolution_due is not None
        and inc.resolution_due < st.engine.clock(),
        problem=problem,
        failed=failed,
        form=form or {},
        done=_DONE.get(done or ""),
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
@_page
def incident_page(request: Request, incident_id: str, done: str | None = None) -> Response:
    """One incident: messages, history, and the forms the role may use."""
    viewer = _viewer(request)
    return _incident_page(request, viewer, _parse_id(incident_id), done=done)


def _need_text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidRequest(what)
    return text


def _act(
    st: ServerState, who: Principal, incident_id: int, action: str, form: Mapping[str, str]
) -> None:
    life = st.lifecycle
    actor = who.actor
    if action == "take":
        life.take_in_work(incident_id, actor=actor)
    elif action == "intermediate":
        life.answer_intermediate(incident_id, form.get("text", "").strip() or None, actor=actor)
    elif action == "final":
        text = _need_text(form.get("text"), "введите текст окончательного ответа")
        photos = [u.strip() for u in form.get("photos", "").splitlines() if u.strip()]
        life.answer_final(incident_id, text, actor=actor, photos=photos)
    elif action == "forward":
        to = _need_text(form.get("executor"), "выберите исполнителя")
        reason = _need_text(form.get("reason"), "укажите причину переадресации")
        life.forward(incident_id, to, reason, actor=actor)
    elif action == "extend":
        reason = _need_text(form.get("reason"), "укажите причину продления")
        days = form.get("days", "").strip() or "30"
        if not days.isdigit() or not 1 <= int(days) <= 30:
            raise InvalidRequest("продление — от 1 до 30 дней")
        life.extend_59fz(incident_id, reason, days=int(days), actor=actor)
    elif action == "confirm":
        life.confirm(
            incident_id,
            actor=actor,
            executor=form.get("executor", "").strip() or None,
            note=form.get("reason", "").strip() or None,
        )
    elif action == "reassign":
        to = _need_text(form.get("executor"), "выберите исполнителя")
        reason = _need_text(form.get("reason"), "укажите причину передачи")
        life.reassign(incident_id, to, reason, actor=actor)
    elif action == "correct":
        topic = form.get("topic", "").strip() or None
        territory = form.get("territory", "").strip() or None
        if topic is None and territory is None:
            raise InvalidRequest("выберите тему или территорию")
        check_place(st, who, topic, territory)
        life.correct(
            incident_id,
            actor=actor,
            topic=topic,
            territory=territory,
            reason=form.get("reason", "").strip(),
            reroute=form.get("reroute") == "yes",
        )
    else:  # pragma: no cover - the route admits only the actions above
        raise NotFound("action", action)


_OUTSIDE = (
    "Куратор муниципалитета переносит инциденты только в пределах своего муниципалитета: "
    "чтобы передать инцидент другому, обратитесь к куратору региона."
)
_FORM_FIELDS = ("text", "photos", "executor", "reason", "days", "topic", "territory", "reroute")


@router.post("/incidents/{incident_id}/{action}", response_class=HTMLResponse)
@_page
def incident_action(
    request: Request,
    incident_id: str,
    action: str,
    csrf: Field = None,
    text: Field = None,
    photos: Field = None,
    executor: Field = None,
    reason: Field = None,
    days: Field = None,
    topic: Field = None,
    territory: Field = None,
    reroute: Field = None,
) -> Response:
    """Carry out one action on an incident through the lifecycle, signed with the key's actor."""
    viewer = _viewer(request)
    _check_csrf(viewer, csrf)
    st = state(request)
    number = _parse_id(incident_id)
    if action not in _DONE:
        raise NotFound("action", action[:40])
    visible_incident(st, viewer.who, number)  # 404 outside the scope, before anything else
    right = Right.CURATE if action in ("confirm", "reassign", "correct") else Right.WORK
    if not viewer.who.allows(right):
        raise AccessDenied(f"a {viewer.who.role.value} key may not {right.value}")
    form = {
        k: v
        for k, v in zip(
            _FORM_FIELDS,
            (text, photos, executor, reason, days, topic, territory, reroute),
            strict=True,
        )
        if v is not None
    }
    if any(len(v) > _MAX_TEXT for v in form.values()):
        too_long = InvalidRequest(f"текст длиннее {_MAX_TEXT} знаков")
        return _failed(request, viewer, number, action, {}, too_long)
    try:
        _act(st, viewer.who, number, action, form)
    except LifecycleError as exc:  # refused «отписка», no photo, a wrong field …
        return _failed(request, viewer, number, action, form, exc)
    except IllegalTransition as exc:  # the status moved on meanwhile
        return _failed(request, viewer, number, action, form, exc)
    except AccessDenied as exc:  # a territory outside the key's municipality
        return _failed(request, viewer, number, action, form, exc, text=_OUTSIDE)
    except NotFound as exc:
        if exc.kind in ("executor", "topic", "territory"):  # a field the region does not know
            return _failed(request, viewer, number, action, form, exc, status=422)
        raise
    try:
        visible_incident(st, viewer.who, number)
    except NotFound:  # forwarded out of the executor's scope
        return RedirectResponse(f"/desk/queue?done={action}", status_code=303)
    return RedirectResponse(f"/desk/incidents/{number}?done={action}", status_code=303)


def _failed(
    request: Request,
    viewer: _Viewer,
    number: int,
    action: str,
    form: Mapping[str, str],
    exc: TsurError,
    *,
    status: int | None = None,
    text: str | None = None,
) -> HTMLResponse:
    problem = _problem(exc)
    if isinstance(exc, InvalidRequest) and not str(exc).isascii():
        problem = {**problem, "text": str(exc).capitalize() + ".", "detail": ""}
    if text is not None:
        problem = {**problem, "text": text, "detail": ""}
    code = status or error_status(exc)[0]
    return _incident_page(
        request, viewer, number, status=code, problem=problem, failed=action, form=form
    )


# analytics ------------------------------------------------------------------------------
def _period(st: ServerState, text: str | None) -> Period:
    """The period asked for (this month when empty), within the work API's limits (400)."""
    text = (text or "").strip()
    if len(text) > 40:
        raise ReportError(f"period: {text[:40]!r}… is too long", option="period")
    return validated_period(st, text or None)


@router.get("/kpi", response_class=HTMLResponse)
@_page
def kpi_page(request: Request, period: str | None = None) -> Response:
    """Executors' KPIs for a period (the current month by default)."""
    viewer = _viewer(request, Right.ANALYTICS)
    st = state(request)
    p = _period(st, period)
    kpis = executor_kpis(st.engine.repository, since=p.start, until=p.end, as_of=st.engine.clock())
    return _render(request, "kpi.html", viewer, page="kpi", period=p, kpis=kpis)


@router.get("/analytics", response_class=HTMLResponse)
@_page
def analytics_page(request: Request, period: str | None = None, measure: str = "count") -> Response:
    """The heat map of municipalities for a period, its figures, and the report to download."""
    viewer = _viewer(request, Right.ANALYTICS)
    st = state(request)
    p = _period(st, period)
    chosen = next((m for m in MEASURES if m.key == measure), None)
    if chosen is None:
        raise ReportError(f"нет такого показателя: {measure[:40]!r}", option="measure")
    analytics = Analytics.for_engine(st.engine)
    with analytics.snapshot() as a:
        stats = a.municipality_stats(p.start, p.end, at=st.engine.clock())
    mine = summary_municipality(viewer.who)
    if mine is not None:  # a municipal curator's figures are its municipality's alone
        stats = [m for m in stats if m.id == mine]
    rows = [jsonable(r) for r in stats]
    region = st.engine.region
    svg = choropleth(
        rows,
        boundaries_for(region, {}),
        measures=(chosen,),
        default=chosen.key,
        title=f"{chosen.label}: {p.label}",
    )
    return _render(
        request,
        "analytics.html",
        viewer,
        page="analytics",
        period=p,
        measure=chosen,
        measures=MEASURES,
        map=Markup(svg),  # heatmap escapes every text it draws
        rows=[r for r in stats if r.id is not None],
        unplaced=next((r.count for r in stats if r.id is None), 0),
        report=_may_report(viewer.who),
    )


def _may_report(who: Principal) -> bool:
    try:
        check_report_access(who)
    except AccessDenied:
        return False
    return True


@router.get("/analytics/report")
@_page
def report_download(request: Request, period: str | None = None) -> Response:
    """The period's self-contained HTML report, as a file to save and open."""
    viewer = _viewer(request, Right.ANALYTICS)
    check_report_access(viewer.who)
    st = state(request)
    p = _period(st, period)
    data = report_file(st, p)
    name = f"report-{p.key.replace('..', '_')}.html"
    return Response(
        data,
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
