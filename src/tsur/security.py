"""Shared secrets: HMAC-SHA256 signatures of request bodies, and secrets from the environment.

Used on both sides of tsur's HTTP: pushed webhooks are verified with
:func:`verify_hmac_sha256` (or a channel's own secret with
:func:`secrets_match`), and the webhook notifier signs what it posts with
:func:`hmac_sha256_signature`. Secrets are never written in a region
file: a key ending in ``_env`` names the environment variable that holds
the value (:func:`env_secret`).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from tsur.errors import ConfigError, WebhookAuthError

__all__ = [
    "SIGNATURE_HEADER",
    "env_secret",
    "hmac_sha256_signature",
    "secrets_match",
    "verify_hmac_sha256",
]

#: Header carrying ``sha256=<hex>`` of the body, HMAC-SHA256 with the shared secret.
SIGNATURE_HEADER = "X-Tsur-Signature"


def secrets_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a configured secret with a received one."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def hmac_sha256_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` keyed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_hmac_sha256(
    secret: str, body: bytes, signature: str | None, *, source: str | None = None
) -> None:
    """Raise :class:`~tsur.errors.WebhookAuthError` unless ``signature`` is
    ``sha256=<hex>`` of ``body``."""
    if not signature:
        raise WebhookAuthError(f"missing {SIGNATURE_HEADER} header", source=source)
    scheme, _, value = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not value:
        raise WebhookAuthError(
            f"{SIGNATURE_HEADER} must look like 'sha256=<hex>', got {signature[:20]!r}",
            source=source,
        )
    expected = hmac_sha256_signature(secret, body)
    if not hmac.compare_digest(expected, f"sha256={value.lower()}"):
        raise WebhookAuthError(f"{SIGNATURE_HEADER} does not match the body", source=source)


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
