"""Settings: production never runs on a generated or built-in secret key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tribekit.kit.settings import SECRET_FILE_NAME, Settings


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = settings.resolved_secret_key()
    assert len(key) >= 48
    assert (tmp_path / SECRET_FILE_NAME).read_text() == key
    assert (tmp_path / SECRET_FILE_NAME).stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path).resolved_secret_key() == key


def test_production_requires_a_secret(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="TRIBEKIT_SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path).resolved_secret_key()
    assert not (tmp_path / SECRET_FILE_NAME).exists()
    assert Settings(env="production", secret_key="s" * 40).resolved_secret_key() == "s" * 40


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBEKIT_DATABASE_URL", "postgresql+asyncpg://db/tribekit")
    monkeypatch.setenv("TRIBEKIT_DEFAULT_TIMEZONE", "Asia/Shanghai")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://db/tribekit"
    assert not settings.is_sqlite
    monkeypatch.setenv("TRIBEKIT_DEFAULT_TIMEZONE", "Mars/Base")
    with pytest.raises(ValidationError, match="unknown timezone"):
        Settings()
