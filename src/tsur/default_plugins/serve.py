"""``tsur serve``: the service (:mod:`tsur.server`) under uvicorn, with its workers."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from rich.console import Console

from tsur.console import open_engine
from tsur.errors import ConfigError
from tsur.hookspecs import hookimpl
from tsur.worker import Worker

__all__ = ["register_commands"]

log = logging.getLogger("tsur.server")


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    """``tsur serve``."""
    try:
        import uvicorn

        from tsur.server import create_app
    except ImportError as exc:  # the extra is not installed
        raise ConfigError(
            f"tsur serve needs the server extra: pip install 'tsur[server]' ({exc.name} missing)"
        ) from None
    if args.stop_signals.take():  # stopped while starting: nothing to serve
        return 0
    # after a stop, uvicorn delivers the signal again to the handler it found: a quiet one
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _stopped)
    engine = open_engine(args)
    app = create_app(engine)  # its warnings are logged (and shown by the CLI's log handler)
    workers = [Worker(open_engine(args), tick_every=args.tick or None) for _ in range(args.workers)]
    threads = [
        threading.Thread(target=w.run, name=f"tsur-worker-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    for t in threads:
        t.start()
    console.print(
        f"tsur: {engine.config.region.name} на http://{args.host}:{args.port} "
        f"(обработчиков: {len(workers)}) — /api/v1, /open311/v2, /desk, /webhooks/<source>",
        highlight=False,
    )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,  # tsur's own logging (the CLI's) renders the records
            access_log=False,  # the app logs each request itself, without personal data
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
            limit_concurrency=args.max_connections,
            server_header=False,
            proxy_headers=bool(args.trusted_proxy),
            forwarded_allow_ips=args.trusted_proxy or None,
        )
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(timeout=30)
        for w in workers:
            w.engine.close()
        engine.close()
    return 0


def _stopped(signum: int, frame: object) -> None:
    """What a stop signal does once the server has shut down: nothing more."""


@hookimpl
def register_commands(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    """``tsur serve``."""
    p = add_command(
        "serve",
        help="run the service: webhooks, work API, Open311, web desk",
        description="Run the tsur service (tsur.server, needs 'tsur[server]') under uvicorn: "
        "POST /webhooks/<source>, the work API under /api/v1, Open311 GeoReport v2 under "
        "/open311/v2, the curators' web desk under /desk. Workers in the same process "
        "process what arrives; more can run as 'tsur worker' against the same database.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processing workers in this process (default 1; 0: run 'tsur worker' apart)",
    )
    p.add_argument(
        "--tick", type=float, default=60.0, help="seconds between lifecycle ticks (0: none)"
    )
    p.add_argument(
        "--max-connections", type=int, default=200, help="concurrent connections (then 503)"
    )
    p.add_argument(
        "--trusted-proxy",
        metavar="ADDR",
        help="address(es) of a reverse proxy whose X-Forwarded-For/-Proto are trusted",
    )
    p.set_defaults(func=cmd_serve, graceful_stop=True)
