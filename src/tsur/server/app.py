"""The application: one ASGI app with the webhooks, the work API, Open311 and the desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel

from tsur._version import __version__
from tsur.config import ServerConfig
from tsur.intake import check_webhook_sources
from tsur.lifecycle import Lifecycle
from tsur.pipeline import Engine
from tsur.server import actions, curation, desk, open311, summaries, webhooks, work
from tsur.server.deps import ServerState, state
from tsur.server.errors import ERROR_RESPONSES, install_error_handlers
from tsur.server.guard import Guard

__all__ = ["Health", "create_app"]


class Health(BaseModel):
    """Whether the service is up, and its messages by processing state."""

    status: str
    messages: dict[str, int]


def create_app(
    engine: Engine,
    *,
    settings: ServerConfig | None = None,
    lifecycle: Lifecycle | None = None,
) -> FastAPI:
    """The ASGI application over ``engine`` (run it with uvicorn, or ``tsur serve``).

    ``settings`` default to the region file's ``[server]`` table;
    ``lifecycle`` to one made over the engine (give one to set its
    templates or reply channels). The push sources' options are checked
    first (:func:`tsur.intake.check_webhook_sources`); the warnings are in
    ``app.state.warnings``.
    """
    settings = settings or engine.config.server
    app = FastAPI(
        title=f"tsur — {engine.config.region.name}",
        version=__version__,
        description="Webhooks, the work API and Open311 GeoReport v2 of a tsur region.",
        docs_url=None,
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.tsur = ServerState(
        engine=engine,
        lifecycle=lifecycle or Lifecycle(engine),
        settings=settings,
    )
    app.state.warnings = check_webhook_sources(engine)
    install_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["service"], summary="Liveness")
    def health(st: Annotated[ServerState, Depends(state)]) -> Health:
        """Up, with message counts by processing state (no key needed; nothing personal)."""
        return Health(status="ok", messages=st.engine.repository.message_counts())

    app.include_router(webhooks.router)
    app.include_router(work.router)
    app.include_router(actions.router)
    app.include_router(curation.router)
    app.include_router(summaries.router)
    app.include_router(open311.router)
    app.include_router(desk.router)
    app.mount(desk.STATIC_URL, desk.static_files(), name="desk-static")
    app.state.desk_secret = desk.session_secret()  # TSUR_SESSION_SECRET, else random
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    # added last, so it runs first: before CORS, routing and every handler
    app.add_middleware(Guard, max_body=settings.max_body_bytes, body_timeout=settings.body_timeout)
    return app
