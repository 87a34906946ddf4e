"""``tsur serve``: the service (:mod:`tsur.server`) under uvicorn, with its workers."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console

from tsur.console import open_engine
from tsur.errors import ConfigError
from tsur.hookspecs import hookimpl
from tsur.worker import Worker

__all__ = ["register_commands"]

log = logging.getLogger("tsur.server")


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    """``tsur serve``."""
    try:  # imported here: the other commands do not pay for the web stack
        import uvicorn

        from tsur.server import create_app
    except ImportError as exc:
        raise ConfigError(
            f"tsur serve needs the server extra: pip install 'tsur[server]' ({exc.name} missing)"
        ) from None
    stop = threading.Event()
    if args.stop_signals.take():  # stopped while tsur was starting: nothing to serve
        return 0
    for signum in (signal.SIGTERM, signal.SIGINT):  # a stop while the app is being built
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, lambda *_: stop.set())
    if args.host not in ("127.0.0.1", "::1", "localhost") and not args.trusted_proxy:
        log.warning(
            "listening on %s without a reverse proxy (--trusted-proxy): slow clients can hold "
            "every connection, and nothing is encrypted; see docs/server.md",
            args.host,
        )
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
        config = uvicorn.Config(
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
        _server(config, stop).run()
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(timeout=30)
        for w in workers:
            w.engine.close()
        engine.close()
    return 0


def _server(config: Any, stop: threading.Event) -> Any:
    """A uvicorn server that also stops on a signal which came while the app was built."""
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn's server, stopping on a signal that came while the app was being built.

        uvicorn delivers a stop signal again once it has shut down (so that the
        default handler ends the process with it); ``tsur serve`` exits with
        status 0 instead, as ``tsur worker`` does.
        """

        def __init__(self, config: Any, stop: threading.Event) -> None:
            super().__init__(config)
            self._stop_event = stop

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            signums = [
                s
                for s in (signal.SIGTERM, signal.SIGINT)
                if signal.getsignal(s) is not signal.SIG_IGN
            ]
            previous = {s: signal.signal(s, self.handle_exit) for s in signums}
            if self._stop_event.is_set():
                self.should_exit = True
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    return _Server(config, stop)


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
