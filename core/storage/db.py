"""Engine and session setup for SQLite (embedded default, WAL) and PostgreSQL, and applying
Alembic migrations from inside the running event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.errors import StorageUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """One engine and its session factory. ``transaction()`` is the unit of work: everything
    inside it, outbox rows included, commits together or not at all."""

    def __init__(self, url: str, *, pool_size: int | None = None, **engine_args: Any) -> None:
        """``pool_size`` connections stay open (and half as many more under a burst): enough
        for every request and delivery in flight, so none waits for or opens a connection."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if pool_size is not None and ":memory:" not in url:
            engine_args.setdefault("pool_size", pool_size)
            engine_args.setdefault("max_overflow", max(pool_size // 2, 1))
        if self.is_sqlite:
            engine_args.setdefault("connect_args", {"timeout": 30})
        else:
            engine_args.setdefault("pool_pre_ping", True)
        self.engine: AsyncEngine = create_async_engine(url, **engine_args)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue here, in order, rather
        # than in SQLite's busy handler, which polls with growing sleeps: under load that made
        # some writers wait seconds while others went first.
        self._writer = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        writer = self._writer if self._writer is not None else contextlib.nullcontext()
        try:
            async with writer, self.sessions() as session, session.begin():
                yield session
        except (OperationalError, DBAPIError, OSError) as exc:
            if _is_unavailable(exc):
                raise StorageUnavailable() from exc
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work. On SQLite it does not take the write lock, so reads never
        queue behind writers (WAL gives them a consistent snapshot)."""
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(helpline_read=True)
                async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                    yield session
        except (OperationalError, DBAPIError, OSError) as exc:
            if _is_unavailable(exc):
                raise StorageUnavailable() from exc
            raise

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, self.url, revision)

    async def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )

    async def dispose(self) -> None:
        await self.engine.dispose()


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when a transaction begins (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock when a transaction starts, not halfway through it: two
    transactions that both read and then write would otherwise fail with "database is locked"
    instead of waiting for each other. Readers are not blocked (WAL)."""
    read_only = conn.get_execution_options().get("helpline_read", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return any(
        marker in text
        for marker in (
            "connection refused",
            "could not connect",
            "connection was closed",
            "connection is closed",
            "database is locked",
            "cannot connect",
            "the database system is",
            "terminating connection",
        )
    )
