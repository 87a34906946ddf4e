"""``POST /webhooks/{source}``: what VK, Telegram, a portal or any JSON webhook pushes.

The request is handed to :func:`tsur.intake.receive_webhook` with its raw
body and headers: verified by the channel's own secret or signature before
anything is stored (403, nothing kept, when that fails), stored raw, and
answered at once with what the channel expects (VK's confirmation string,
``ok``). The workers process what was stored — or the request itself does,
with ``[server] process_inline``. A portal's status callbacks carrying the
citizen's rating are recorded on their incidents
(:func:`tsur.lifecycle.feedback.rate_from_channel`). No API key is needed
here: the channel's secret is the credential.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tsur.intake import receive_webhook
from tsur.lifecycle.feedback import rate_from_channel
from tsur.server.deps import ServerState, state

__all__ = ["router"]

log = logging.getLogger("tsur.server")

router = APIRouter(tags=["webhooks"])

SourceId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


@router.post(
    "/webhooks/{source}",
    summary="Receive a pushed payload of a configured source",
    responses={
        200: {"description": "stored (or a repeat); the channel's expected answer"},
        400: {"description": "verified but unreadable: kept with its reason"},
        403: {"description": "verification failed: nothing stored"},
        404: {"description": "no such source, or it takes no pushed requests"},
        415: {"description": "the body is not of the declared type"},
    },
)
async def webhook(
    source: SourceId, request: Request, st: Annotated[ServerState, Depends(state)]
) -> Response:
    """Verify, store and acknowledge one pushed request (see the module)."""
    if source not in st.engine.region.sources:
        return Response(
            f'{{"detail": "no source {source!r} in the region", "code": "not_found"}}',
            status_code=404,
            media_type="application/json",
        )
    body = await request.body()
    headers = dict(request.headers.items())
    result = await run_in_threadpool(receive_webhook, st.engine, source, body, headers)
    if result.status == 200 and result.events:
        for appeal, _, outcome in await run_in_threadpool(
            rate_from_channel, st.lifecycle, source, result.events
        ):
            if outcome != "rated":
                log.warning("rating of %s appeal %s not recorded: %s", source, appeal, outcome)
    if result.status == 200 and st.settings.process_inline:
        await run_in_threadpool(_process, st)
    return Response(result.body, status_code=result.status, media_type=result.content_type)


def _process(st: ServerState) -> None:
    with st.processing:
        st.engine.run()
