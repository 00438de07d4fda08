"""Shared fixtures: a migrated database on SQLite always and on PostgreSQL when reachable, a
desk service on it with a controllable clock, and the delivery worker with recording
transports."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from core.config import DeskConfig
from core.knowledge import load_knowledge_base
from core.service import SupportDesk
from core.storage.db import Database

POSTGRES_URL = os.environ.get(
    "HELPLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("HELPLINE_REQUIRE_POSTGRES") == "1"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 5, 15, 14, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _postgres_reachable() -> str | None:
    """None when reachable, else the reason."""
    import asyncpg

    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        await conn.close()

    try:
        # In a thread of its own: this may be asked from inside a running event loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, probe()).result()
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({exc.__class__.__name__}: {exc})"
    return None


_PG_REASON: str | bool | None = False


def postgres_skip_reason() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _postgres_reachable()
    reason = _PG_REASON
    assert reason is None or isinstance(reason, str)
    if reason and REQUIRE_POSTGRES:
        pytest.fail(f"HELPLINE_REQUIRE_POSTGRES=1 but {reason}")
    return reason


class PostgresSchema:
    """A throwaway schema per test, so tests never see each other's rows."""

    def __init__(self) -> None:
        self.name = f"t_{uuid.uuid4().hex[:12]}"

    async def create(self) -> str:
        import asyncpg

        dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE SCHEMA "{self.name}"')
        finally:
            await conn.close()
        return self.name

    async def drop(self) -> None:
        import asyncpg

        dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        finally:
            await conn.close()


async def make_database(backend: str, tmp_path: object) -> tuple[Database, PostgresSchema | None]:
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/helpline.db")
        await db.upgrade()
        return db, None
    schema = PostgresSchema()
    await schema.create()
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema.name}})
    await db.upgrade()
    return db, schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "postgres" and (reason := postgres_skip_reason()):
        pytest.skip(reason)
    yield request.param


@pytest.fixture
async def db(backend: str, tmp_path: object) -> AsyncIterator[Database]:
    database, schema = await make_database(backend, tmp_path)
    try:
        yield database
    finally:
        await database.dispose()
        if schema is not None:
            await schema.drop()


@pytest.fixture
async def sqlite_db(tmp_path: object) -> AsyncIterator[Database]:
    database, _ = await make_database("sqlite", tmp_path)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def kb():  # type: ignore[no-untyped-def]
    return load_knowledge_base()


@pytest.fixture
def config() -> DeskConfig:
    return DeskConfig()


@pytest.fixture
def desk(db: Database, config: DeskConfig, kb, clock: FakeClock) -> SupportDesk:  # type: ignore[no-untyped-def]
    return SupportDesk(db, config, kb, clock=clock)
