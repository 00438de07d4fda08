"""The composition root honours the process settings that shape the database engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import build_core
from bot.settings import Settings


async def test_pool_size_setting_sizes_the_connection_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPLINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/pool.db")
    monkeypatch.setenv("HELPLINE_DB_POOL_SIZE", "7")
    core = await build_core(Settings())
    try:
        pool = core.db.engine.pool
        assert pool.size() == 7  # type: ignore[attr-defined]
        assert pool._max_overflow == 3  # type: ignore[attr-defined]
    finally:
        await core.close()


def test_pool_size_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="HELPLINE_DB_POOL_SIZE"):
        Settings()
