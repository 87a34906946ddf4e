"""Shared secrets: HMAC-SHA256 signatures of request bodies, and secrets from the environment.

Used on both sides of tsur's HTTP: pushed webhooks are verified with
:func:`verify_signed_request` (or a channel's own secret with
:func:`secrets_match`), and what tsur posts (answers to a portal, ПОС
statuses, webhook notifications) is signed with :func:`sign_request`.

tsur's signature scheme: the sender puts the current Unix time in
``X-Tsur-Timestamp`` and ``sha256=<hex>`` in ``X-Tsur-Signature``, the
HMAC-SHA256, keyed with the shared secret, of ``<timestamp>.<raw body>``
(the timestamp's digits, a full stop, the body's bytes). A request whose
timestamp is more than ``max_age`` seconds (5 minutes by default) away
from the receiver's clock is refused, so a captured request cannot be
replayed later.

Secrets are never written in a region file: a key ending in ``_env`` names
the environment variable that holds the value (:func:`env_secret`, or
:func:`request_secret` when the value is read as a request comes).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from datetime import datetime

from tsur.errors import ConfigError, WebhookAuthError

__all__ = [
    "MAX_SIGNATURE_AGE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "env_secret",
    "hmac_sha256_signature",
    "request_secret",
    "secrets_match",
    "sign_request",
    "verify_hmac_sha256",
    "verify_signed_request",
]

#: Header carrying ``sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>``.
SIGNATURE_HEADER = "X-Tsur-Signature"
#: Header carrying the Unix time (whole seconds) the request was signed at.
TIMESTAMP_HEADER = "X-Tsur-Timestamp"
#: Seconds a signed request stays acceptable, either side of the receiver's clock.
MAX_SIGNATURE_AGE = 300.0

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def secrets_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a configured secret with a received one.

    Any text compares (as UTF-8 bytes; characters that cannot be encoded
    never match): a hostile value is a mismatch, never an exception.
    """
    if given is None:
        return False
    try:
        received = given.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received)


def hmac_sha256_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``sha256=<hex>``: the HMAC-SHA256, keyed with ``secret``, of ``body``, or of
    ``<timestamp>.<body>`` when a timestamp is given (tsur's scheme)."""
    signed = body if timestamp is None else f"{timestamp}.".encode("ascii") + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_request(secret: str, body: bytes, *, at: datetime) -> dict[str, str]:
    """The headers that sign ``body`` at the moment ``at`` (``X-Tsur-Timestamp``,
    ``X-Tsur-Signature``)."""
    ts = int(at.timestamp())
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: hmac_sha256_signature(secret, body, ts),
    }


def verify_hmac_sha256(
    secret: str,
    body: bytes,
    signature: str | None,
    *,
    timestamp: int | None = None,
    source: str | None = None,
) -> None:
    """Raise :class:`~tsur.errors.WebhookAuthError` unless ``signature`` is
    ``sha256=<hex>`` of ``body`` (of ``<timestamp>.<body>`` when a timestamp is given).

    Whatever ``signature`` holds (non-ASCII, control characters, any
    length), the outcome is this error or success; the digests are
    compared as bytes in constant time.
    """
    if not signature:
        raise WebhookAuthError(f"missing {SIGNATURE_HEADER} header", source=source)
    m = _SIGNATURE.fullmatch(signature.strip())
    if m is None:
        raise WebhookAuthError(
            f"{SIGNATURE_HEADER} must look like 'sha256=<64 hex digits>', got {signature[:20]!r}",
            source=source,
        )
    expected = hmac_sha256_signature(secret, body, timestamp).encode("ascii")
    given = f"sha256={m.group(1).lower()}".encode("ascii")
    if not hmac.compare_digest(expected, given):
        raise WebhookAuthError(f"{SIGNATURE_HEADER} does not match the body", source=source)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signed_request(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: datetime,
    max_age: float = MAX_SIGNATURE_AGE,
    source: str | None = None,
) -> None:
    """Verify a request signed with tsur's scheme, or raise
    :class:`~tsur.errors.WebhookAuthError`.

    ``X-Tsur-Timestamp`` must be Unix seconds within ``max_age`` of ``now``
    (either way), and ``X-Tsur-Signature`` the HMAC-SHA256 of
    ``<timestamp>.<body>``.
    """
    raw = _header(headers, TIMESTAMP_HEADER)
    if raw is None or not raw.strip():
        raise WebhookAuthError(f"missing {TIMESTAMP_HEADER} header", source=source)
    if _TIMESTAMP.fullmatch(raw.strip()) is None:
        raise WebhookAuthError(
            f"{TIMESTAMP_HEADER} must be Unix seconds, got {raw[:20]!r}", source=source
        )
    ts = int(raw.strip())
    skew = now.timestamp() - ts
    if abs(skew) > max_age:
        when = "old" if skew > 0 else "ahead of this server's clock"
        raise WebhookAuthError(
            f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s {when} (at most {max_age:.0f} s are "
            "accepted): a replayed request, or a clock to set right",
            source=source,
        )
    verify_hmac_sha256(
        secret, body, _header(headers, SIGNATURE_HEADER), timestamp=ts, source=source
    )


def env_secret(variable: str | None, where: str) -> str | None:
    """The value of the environment variable ``variable`` (None when none is named).

    A named variable that is not set is a :class:`~tsur.errors.ConfigError`
    naming ``where`` (the key that named it).
    """
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ConfigError(f"{where}: environment variable {variable!r} is not set")
    return value


def request_secret(
    value: str | None, variable: str | None, *, where: str, source: str | None = None
) -> str | None:
    """The secret a request is checked with, read as the request comes.

    ``value`` (given in code or the file) wins; else the environment
    variable ``variable``. A named variable that is not set or empty is a
    :class:`~tsur.errors.WebhookAuthError` (the request is refused, never
    let through); None when neither is given.
    """
    if value:
        return value
    if variable is None:
        return None
    found = os.environ.get(variable)
    if not found:
        raise WebhookAuthError(
            f"{where}: environment variable {variable!r} is not set: request refused",
            source=source,
        )
    return found
