"""Roles, rights and stored API keys: the vocabulary of :mod:`tsur.access`.

Kept apart so that the store can save keys without depending on the
decisions made with them.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = ["DEFAULT_RATE", "RIGHTS", "ApiKey", "Right", "Role"]


class Role(enum.StrEnum):
    """What a key is for."""

    REGION_CURATOR = "region_curator"
    MUNICIPAL_CURATOR = "municipal_curator"
    EXECUTOR = "executor"
    ANALYST = "analyst"
    INTEGRATION = "integration"


class Right(enum.StrEnum):
    """A kind of request a role may make."""

    READ = "read"  # incidents, their messages and history
    WORK = "work"  # take into work, answer, extend, forward
    CURATE = "curate"  # confirm, reassign, merge, split, correct, record a rating
    ANALYTICS = "analytics"  # summaries and reports
    OPEN311 = "open311"  # GeoReport v2: file and read service requests


#: The rights of each role (deny whatever is not listed).
RIGHTS: dict[Role, frozenset[Right]] = {
    Role.REGION_CURATOR: frozenset(Right),
    Role.MUNICIPAL_CURATOR: frozenset(Right),
    Role.EXECUTOR: frozenset({Right.READ, Right.WORK}),
    Role.ANALYST: frozenset({Right.READ, Right.ANALYTICS}),
    Role.INTEGRATION: frozenset({Right.OPEN311}),
}

#: Requests a key may make in a minute when it was issued without a limit.
DEFAULT_RATE: dict[Role, int] = {
    Role.REGION_CURATOR: 600,
    Role.MUNICIPAL_CURATOR: 600,
    Role.EXECUTOR: 300,
    Role.ANALYST: 300,
    Role.INTEGRATION: 1200,
}


@attrs.frozen
class ApiKey:
    """A stored key: everything but the secret, of which only a hash is kept."""

    id: str
    name: str
    role: Role
    scope: str | None
    secret_hash: str = attrs.field(repr=False)
    created_at: datetime
    revoked_at: datetime | None = None
    #: requests a minute; None: :data:`DEFAULT_RATE` of the role
    rate_per_minute: int | None = None

    @property
    def rate(self) -> int:
        """Requests allowed a minute."""
        return self.rate_per_minute or DEFAULT_RATE[self.role]
