"""Fixtures for the robot's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import synapse as synapse_server
from .fake_telegram import FakeTelegram
from .synapse import Synapse

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


# -- a real Matrix homeserver: one Synapse per session (per xdist worker) ------------------------


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    if not synapse_server.available():
        message = f"Synapse is not installed ({synapse_server.VENV}): run 'make install-synapse'"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with Synapse(tmp_path_factory.mktemp("synapse")) as server:
        yield server
