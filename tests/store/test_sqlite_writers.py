"""SQLite has one writer at a time: Helpline's writers take turns in the order they came."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from core.storage.db import Database


async def test_sqlite_writers_take_turns_in_arrival_order(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/writers.db", pool_size=10)
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE turns (writer INTEGER)"))
    finished: list[int] = []

    async def writer(n: int) -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO turns VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.02)  # a writer that takes a while: the others must wait
            finished.append(n)

    tasks = []
    for n in range(8):
        tasks.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0.005)  # they arrive one after another
    await asyncio.gather(*tasks)
    async with db.read() as session:
        stored = (await session.scalars(text("SELECT writer FROM turns ORDER BY rowid"))).all()
    await db.dispose()

    assert finished == list(range(8))
    assert list(stored) == list(range(8))
