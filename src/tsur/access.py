"""Who may do what: API keys, roles and the territory each role is scoped to.

A service built on tsur (``tsur serve``, :mod:`tsur.server`) admits a request
only with an API key; the key carries one :class:`Role` and, for the scoped
roles, the municipality or executor it is limited to:

=====================  ==============================================  =========================
role                   may                                             sees
=====================  ==============================================  =========================
``region_curator``     everything: read, work, curate, analytics,      every incident
                       Open311
``municipal_curator``  the same                                        incidents in its
                                                                       municipality (``scope``)
``executor``           read, work (take, answer, extend, forward)      incidents routed to its
                                                                       organisation (``scope``)
``analyst``            read and analytics; message texts masked        every incident
``integration``        Open311 (file and read requests) only           every incident, or its
                                                                       municipality if scoped
=====================  ==============================================  =========================

Pushed webhooks need no key: each channel proves itself with its own
secret or signature (:func:`tsur.intake.receive_webhook`).

A key is shown once, when it is issued (``tsur keys add``): ``tsur_`` + a
12-character id + ``_`` + a 256-bit random secret. Only the SHA-256 of the
secret is stored — for a random secret of that length a slow password hash
adds nothing — and it is compared in constant time. The decisions here are
plain functions of a :class:`Principal` and an incident; the service asks
them and writes nothing itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

import attrs

from tsur.domain import Incident
from tsur.errors import AccessDenied, InvalidRequest, NotFound
from tsur.region import Region
from tsur.roles import RIGHTS, ApiKey, Right, Role
from tsur.store.base import Repository

__all__ = [
    "RIGHTS",
    "ApiKey",
    "IncidentScope",
    "Principal",
    "Right",
    "Role",
    "authenticate",
    "can_see",
    "incident_scope",
    "issue_key",
    "principal_of_key",
    "require",
]

_TOKEN = re.compile(r"tsur_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")


@attrs.frozen
class Principal:
    """Who a request comes from, as the service decides with it."""

    key_id: str
    name: str
    role: Role
    scope: str | None = None
    rate: int = 600

    @property
    def actor(self) -> str:
        """How the key's actions are signed in an incident's history: ``role:name``."""
        return f"{self.role.value}:{self.name}"

    @property
    def masked(self) -> bool:
        """Whether citizens' texts are shown to it only with personal data masked."""
        return self.role is Role.ANALYST

    def allows(self, right: Right) -> bool:
        """Whether the role has ``right``."""
        return right in RIGHTS[self.role]


@attrs.frozen
class IncidentScope:
    """The filter a principal's incident listings are narrowed by (None: not narrowed)."""

    territories: tuple[str, ...] | None = None
    executor: str | None = None


_DOING = {
    Right.READ: "read incidents",
    Right.WORK: "work on incidents",
    Right.CURATE: "curate incidents",
    Right.ANALYTICS: "read analytics",
    Right.OPEN311: "use Open311",
}


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def check_scope(region: Region, role: Role, scope: str | None) -> str | None:
    """``scope`` checked against what ``role`` needs in ``region``; the scope to store."""
    if role is Role.MUNICIPAL_CURATOR:
        munis = {t.id for t in region.municipalities}
        if scope is None:
            raise InvalidRequest("a municipal curator's key needs its municipality (scope)")
        if scope not in munis:
            raise NotFound("municipality", scope)
        return scope
    if role is Role.EXECUTOR:
        if scope is None:
            raise InvalidRequest("an executor's key needs its organisation (scope)")
        if scope not in region.executors:
            raise NotFound("executor", scope)
        return scope
    if role is Role.INTEGRATION:
        if scope is not None and scope not in {t.id for t in region.municipalities}:
            raise NotFound("municipality", scope)
        return scope
    if scope is not None:
        raise InvalidRequest(f"a {role.value} key is not scoped; drop the scope")
    return None


def issue_key(
    repository: Repository,
    region: Region,
    *,
    name: str,
    role: Role | str,
    scope: str | None = None,
    rate_per_minute: int | None = None,
    now: datetime,
) -> tuple[ApiKey, str]:
    """Create and store a key; the stored key and the token, which is shown only now."""
    try:
        role = Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidRequest(f"no role {role!r}; roles: {known}") from None
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidRequest("a key needs a printable name of 1–100 characters")
    if rate_per_minute is not None and not 1 <= rate_per_minute <= 100_000:
        raise InvalidRequest("rate_per_minute must be between 1 and 100000")
    scope = check_scope(region, role, scope)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id,
        name=name,
        role=role,
        scope=scope,
        secret_hash=_hash(secret),
        created_at=now,
        rate_per_minute=rate_per_minute,
    )
    repository.add_api_key(key)
    return key, f"tsur_{key_id}_{secret}"


def authenticate(repository: Repository, token: str | None) -> Principal:
    """The principal of a token; :class:`AccessDenied` (401) for none, a bad or revoked one."""
    if not token:
        raise AccessDenied("an API key is needed", status=401)
    m = _TOKEN.fullmatch(token)
    if m is None:
        raise AccessDenied("the API key is malformed", status=401)
    key = repository.get_api_key(m.group(1))
    # the hash is compared even for an unknown id, so timing tells nothing
    stored = key.secret_hash if key is not None else "0" * 64
    if not hmac.compare_digest(stored, _hash(m.group(2))) or key is None:
        raise AccessDenied("the API key is not valid", status=401)
    if key.revoked_at is not None:
        raise AccessDenied("the API key is revoked", status=401)
    return Principal(key.id, key.name, key.role, key.scope, key.rate)


def principal_of_key(repository: Repository, key_id: str) -> Principal:
    """The principal of the stored key ``key_id``, checked again: :class:`AccessDenied`
    (401) for an unknown or revoked key.

    No secret is checked here: this is for a caller that has already proven
    the key — a web desk session, signed by the service when the key was
    given at login — and must learn, on each request, whether it still holds.
    """
    key = repository.get_api_key(key_id) if _KEY_ID.match(key_id) else None
    if key is None:
        raise AccessDenied("the API key is not valid", status=401)
    if key.revoked_at is not None:
        raise AccessDenied("the API key is revoked", status=401)
    return Principal(key.id, key.name, key.role, key.scope, key.rate)


def require(principal: Principal, right: Right) -> None:
    """:class:`AccessDenied` (403) unless the principal's role has ``right``."""
    if not principal.allows(right):
        raise AccessDenied(f"the role {principal.role.value} has no right to {_DOING[right]}")


def incident_scope(principal: Principal, region: Region) -> IncidentScope:
    """What a principal's incident listings are narrowed to."""
    if principal.role is Role.EXECUTOR:
        return IncidentScope(executor=principal.scope)
    if principal.scope is not None:  # a municipal curator, a scoped integration
        return IncidentScope(territories=region.same_municipality(principal.scope))
    return IncidentScope()


def can_see(principal: Principal, incident: Incident, region: Region) -> bool:
    """Whether ``incident`` is within the principal's scope."""
    scope = incident_scope(principal, region)
    if scope.executor is not None and incident.executor != scope.executor:
        return False
    return scope.territories is None or incident.territory in scope.territories


def narrow(scope: IncidentScope, territories: Sequence[str] | None) -> tuple[str, ...] | None:
    """A listing's territory filter within ``scope``: their intersection (None: no filter)."""
    if scope.territories is None:
        return None if territories is None else tuple(territories)
    if territories is None:
        return scope.territories
    return tuple(t for t in territories if t in scope.territories)
