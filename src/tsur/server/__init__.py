"""tsur as a service (``pip install 'tsur[server]'``, ``tsur serve``).

:func:`create_app` builds one ASGI application (FastAPI, run by uvicorn)
over an :class:`~tsur.Engine`:

- ``POST /webhooks/{source}`` — pushed payloads, verified by each channel's
  secret (:mod:`tsur.server.webhooks`);
- ``/api/v1/…`` — the work API for curators, executors and analysts, with
  API keys, roles and territorial scopes (:mod:`tsur.server.work`,
  :mod:`tsur.access`);
- ``/open311/v2/…`` — Open311 GeoReport v2 for other city systems
  (:mod:`tsur.server.open311`);
- ``/desk/…`` — the curators' web desk in Russian (:mod:`tsur.server.desk`);
- ``GET /health`` and the OpenAPI document at ``/openapi.json``.

Every request first passes :class:`~tsur.server.guard.Guard` (body limits
that cannot be bypassed, security headers, an access log without personal
data).
"""

from __future__ import annotations

from tsur.server.app import create_app

__all__ = ["create_app"]
