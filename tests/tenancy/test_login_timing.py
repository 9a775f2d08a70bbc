"""A login with an unknown email runs the same argon2 verification as one with a known email, so
its duration does not tell which emails exist."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from httpx import AsyncClient

from tests.factories import PASSWORD, Factory


class _Counted:
    """Counts calls of argon2's own ``PasswordHasher.verify`` (the real one still runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = PasswordHasher.verify

        def verify(hasher: PasswordHasher, hash: str | bytes, password: str | bytes) -> Any:
            self.calls += 1
            return original(hasher, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", verify)


async def _login(client: AsyncClient, email: str, password: str) -> int:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_every_login_runs_one_argon2_verification(
    client: AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await factory.shop()
    counted = _Counted(monkeypatch)
    assert await _login(client, "nobody@nowhere.example", "a wrong password") == 401
    assert counted.calls == 1
    assert await _login(client, shop.owner_email, "a wrong password") == 401
    assert counted.calls == 2
    assert await _login(client, shop.owner_email, PASSWORD) == 200
    assert counted.calls == 3


async def test_an_unknown_email_takes_about_as_long_as_a_known_one(
    client: AsyncClient, factory: Factory
) -> None:
    shop = await factory.shop()

    async def duration(email: str) -> float:
        started = time.perf_counter()
        assert await _login(client, email, "a wrong password") == 401
        return time.perf_counter() - started

    known: list[float] = []
    unknown: list[float] = []
    for i in range(5):  # interleaved, so a busy moment of the machine hits both alike
        known.append(await duration(shop.owner_email))
        unknown.append(await duration(f"nobody{i}@nowhere.example"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert ratio >= 0.5, (known, unknown)
