"""A test server on a free loopback port: an ASGI app served by uvicorn in a thread with its own
event loop, so that sync and async tests alike can talk real HTTP to it. The platform fakes
(``tests/payments/fake_stripe.py``, ``tests/robot/fake_telegram.py``) are built on it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    """Subclasses set ``app`` and ``name`` and may hook ``on_loop`` (runs on the server's loop
    before it serves) and ``on_stop`` (runs before it is asked to exit)."""

    app: ASGIApp
    name = "test server"

    def __init__(self) -> None:
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def on_loop(self) -> None:
        """Called on the server's event loop before it serves."""

    def on_stop(self) -> None:
        """Called before the server is asked to exit."""

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        server = self._server = uvicorn.Server(config)

        async def serve() -> None:
            self.on_loop()
            await server.serve(sockets=[sock])

        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(),), name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self.on_stop()
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
