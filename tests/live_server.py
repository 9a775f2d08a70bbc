"""A real ``tribekit serve`` process on a free loopback port, with a merchant and its owner's API
token made through the real CLI: for the tests that need the whole server (fuzzing, load)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TRIBEKIT = str(Path(sys.executable).with_name("tribekit"))


@dataclass(frozen=True)
class LiveServer:
    url: str
    token: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_merchant(env: Mapping[str, str], slug: str) -> str:
    """Create merchant ``slug`` with an owner through ``tribekit merchant create``; its token."""
    created = subprocess.run(  # noqa: S603  # our own console script
        [
            TRIBEKIT,
            "merchant",
            "create",
            "--slug",
            slug,
            "--name",
            slug.title(),
            "--currency",
            "CNY",
            "--country",
            "CN",
            "--owner-email",
            f"owner@{slug}.example",
            "--owner-name",
            "Owner",
            "--owner-password",
            f"{slug}-password",
        ],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"tkt_\S+", created.stdout)
    assert match, created.stdout
    return match.group(0)


@contextmanager
def live_server(
    env: Mapping[str, str], slug: str, *, start_timeout: float = 60
) -> Iterator[LiveServer]:
    """A merchant ``slug`` and ``tribekit serve`` (no worker) running with ``env`` until the block
    ends; the server must not have printed a traceback by then."""
    token = create_merchant(env, slug)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  # our own console script
        [TRIBEKIT, "serve", "--port", str(port), "--no-worker"],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield LiveServer(url, token)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
        assert b"Traceback" not in errors, errors.decode()[-3000:]
