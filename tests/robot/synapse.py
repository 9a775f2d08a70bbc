"""A real Matrix homeserver (Synapse) for the Matrix tests, on a free loopback port.

Synapse lives in its own venv (``make install-synapse`` makes ``.venv-synapse``), never in the
project's. One server per test session (per xdist worker): its config is written to a temp
directory (SQLite store, no federation, no stats, rate limits raised far above what the tests
send), its signing key generated, and it is started from that venv's Python and stopped at the
end. Users are registered for real through the shared-secret admin API; the tests drive the
other people in a room (the spammer, the room's owner) through the client-server API here, and
read the server's answer (a member's membership, a room's power levels) the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-synapse"
PYTHON = VENV / "bin" / "python"
SERVER_NAME = "localhost"
START_SECONDS = 120.0

#: Every rate limit the tests could reach, raised far beyond them (a test that wants a 429
#: lowers one user's limit with ``override_ratelimit``).
_HIGH = {"per_second": 10_000, "burst_count": 100_000}
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _HIGH,
    "rc_registration": _HIGH,
    "rc_registration_token_validity": _HIGH,
    "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
    "rc_joins": {"local": _HIGH, "remote": _HIGH},
    "rc_joins_per_room": _HIGH,
    "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
    "rc_third_party_invite": _HIGH,
    "rc_admin_redaction": _HIGH,
    "rc_room_creation": _HIGH,
    "rc_media_create": _HIGH,
    "rc_profile": _HIGH,
    "rc_presence": {"per_user": _HIGH},
    "rc_delayed_event_mgmt": _HIGH,
    "rc_reports": _HIGH,
    "rc_user_directory": _HIGH,
    "rc_key_requests": _HIGH,
}


def available() -> bool:
    return PYTHON.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _yaml(value: Any, indent: int = 0) -> str:
    """The config as YAML (JSON is YAML; one key a line reads better in a failing test's dir)."""
    pad = " " * indent
    if isinstance(value, dict):
        return "".join(
            f"{pad}{key}:\n{_yaml(item, indent + 2)}"
            if isinstance(item, dict) and item
            else f"{pad}{key}: {json.dumps(item)}\n"
            for key, item in value.items()
        )
    return f"{pad}{json.dumps(value)}\n"


@dataclass(frozen=True)
class User:
    user_id: str
    access_token: str
    localpart: str
    password: str


class SynapseError(AssertionError):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
        self.status_code = response.status_code
        self.body: dict[str, Any] = response.json() if response.content else {}


class Synapse:
    """One running homeserver; a context manager that stops it on exit."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shared_secret = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._names = itertools.count(1)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.admin: User | None = None

    # -- life -------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        d = self.dir
        return {
            "server_name": SERVER_NAME,
            "public_baseurl": f"{self.url}/",
            "pid_file": str(d / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(d / "log.config"),
            "media_store_path": str(d / "media"),
            "signing_key_path": str(d / "localhost.signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "enable_registration": False,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            **RATE_LIMITS,
        }

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "log.config").write_text(
            "version: 1\n"
            "formatters:\n  plain:\n    format: '%(asctime)s %(name)s %(levelname)s %(message)s'\n"
            "handlers:\n  file:\n    class: logging.FileHandler\n"
            f"    filename: {self.dir / 'homeserver.log'}\n    formatter: plain\n"
            "root:\n  level: WARNING\n  handlers: [file]\n"
            "disable_existing_loggers: false\n"
        )
        config = self.dir / "homeserver.yaml"
        config.write_text(_yaml(self.config()))
        command = [str(PYTHON), "-m", "synapse.app.homeserver", "-c", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNAPSE_", "PYTHON"))}
        subprocess.run(  # noqa: S603  # this venv's Python, with the config written above
            [*command, "--generate-keys"], check=True, capture_output=True, env=env, cwd=self.dir
        )
        self._log = (self.dir / "stdout.log").open("wb")
        self._process = subprocess.Popen(  # noqa: S603  # the same command
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.dir
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with {self._process.returncode}: "
                    + (self.dir / "stdout.log").read_text()[-3000:]
                )
            try:
                if self.http.get("/_matrix/client/versions").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Synapse did not answer within {START_SECONDS:g} s")
            time.sleep(0.1)
        self.admin = self.register("admin", admin=True)

    def stop(self) -> None:
        self.http.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Synapse:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users ------------------------------------------------------------------------------

    def register(self, localpart: str | None = None, *, admin: bool = False) -> User:
        """A real user, registered with the shared secret (``/_synapse/admin/v1/register``);
        a fresh name unless ``localpart`` is given."""
        localpart = localpart or f"user{next(self._names)}x{uuid.uuid4().hex[:6]}"
        password = secrets.token_hex(12)
        nonce = self._ok(self.http.get("/_synapse/admin/v1/register"))["nonce"]
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": _mac(self.shared_secret, nonce, localpart, password, admin),
        }
        answer = self._ok(self.http.post("/_synapse/admin/v1/register", json=body))
        return User(answer["user_id"], answer["access_token"], localpart, password)

    def login(self, user: User) -> User:
        """The same user on a new device, with a new access token (a homeserver keeps some
        answers per device for a while, such as a first /sync's)."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.localpart},
            "password": user.password,
        }
        answer = self._ok(self.http.post("/_matrix/client/v3/login", json=body))
        return User(user.user_id, answer["access_token"], user.localpart, user.password)

    def override_ratelimit(self, user: User, *, messages_per_second: int, burst_count: int) -> None:
        """Lower (or raise) one user's message rate limit (Synapse's admin API)."""
        assert self.admin is not None
        self.call(
            self.admin,
            "POST",
            f"/_synapse/admin/v1/users/{quote(user.user_id)}/override_ratelimit",
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
        )

    # -- the client-server API as a user ------------------------------------------------------

    def call(
        self, user: User, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self.http.request(
            method,
            path,
            json=body,
            headers={"Authorization": f"Bearer {user.access_token}"},
        )
        return self._ok(response)

    def create_room(
        self,
        owner: User,
        name: str,
        *,
        invite: tuple[str, ...] = (),
        power: dict[str, int] | None = None,
    ) -> str:
        body: dict[str, Any] = {"name": name, "preset": "private_chat", "invite": list(invite)}
        if power:
            body["power_level_content_override"] = {"users": dict(power)}
        return str(self.call(owner, "POST", "/_matrix/client/v3/createRoom", body)["room_id"])

    def invite(self, by: User, room_id: str, user_id: str) -> None:
        self.call(
            by, "POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/invite", {"user_id": user_id}
        )

    def join(self, user: User, room_id: str) -> None:
        self.call(user, "POST", f"/_matrix/client/v3/join/{quote(room_id)}", {})

    def send_text(self, user: User, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        txn = uuid.uuid4().hex
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{txn}"
        return str(self.call(user, "PUT", path, content)["event_id"])

    def state(
        self, user: User, room_id: str, event_type: str, state_key: str = ""
    ) -> dict[str, Any]:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
        return self.call(user, "GET", path)

    def put_state(
        self,
        user: User,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        state_key: str = "",
    ) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}"
        self.call(user, "PUT", path, content)

    def membership(self, room_id: str, user_id: str) -> str | None:
        """A member's membership in a room as the server keeps it (read as the admin)."""
        assert self.admin is not None
        path = f"/_synapse/admin/v1/rooms/{quote(room_id)}/state"
        for event in self.call(self.admin, "GET", path)["state"]:
            if event["type"] == "m.room.member" and event["state_key"] == user_id:
                return str(event["content"]["membership"])
        return None

    def event(self, user: User, room_id: str, event_id: str) -> dict[str, Any]:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}"
        return self.call(user, "GET", path)

    def messages(self, user: User, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's newest timeline events, newest first."""
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit={limit}"
        return list(self.call(user, "GET", path)["chunk"])

    @staticmethod
    def _ok(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise SynapseError(response)
        answer: dict[str, Any] = response.json()
        return answer


def _mac(secret: str, nonce: str, user: str, password: str, admin: bool) -> str:
    """The shared-secret registration's HMAC-SHA1 of the NUL-separated fields."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(
        b"\x00".join(p.encode() for p in (nonce, user, password, "admin" if admin else "notadmin"))
    )
    return mac.hexdigest()
