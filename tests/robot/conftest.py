"""Fixtures for the robot's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_telegram import FakeTelegram

# -- the fake Telegram Bot API server: one per session, emptied before and after each test --------


@pytest.fixture(scope="session")
def telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_telegram(telegram_server: FakeTelegram) -> Iterator[FakeTelegram]:
    telegram_server.reset()
    yield telegram_server
    telegram_server.reset()
