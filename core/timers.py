"""Timers that live in the database: auto-close reminders and closes, response-target warnings
and breaches. A timer fires at most once, even with several processes: firing flips its state
from pending to fired with a conditional update in the same transaction as its effects, so a
second process finds nothing to flip and a failed firing leaves it pending for the next pass.
Handlers re-check the ticket when they fire (``basis`` must still match), so a customer who
answered in between is never closed on."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.storage.db import Database
from core.storage.tables import TimerRow

log = logging.getLogger("helpline.timers")


class TimerKind(StrEnum):
    AUTO_CLOSE_REMINDER = "auto_close_reminder"
    AUTO_CLOSE = "auto_close"
    TARGET_WARNING = "target_warning"
    TARGET_BREACH = "target_breach"


AUTO_CLOSE_KINDS = (TimerKind.AUTO_CLOSE_REMINDER, TimerKind.AUTO_CLOSE)
TARGET_KINDS = (TimerKind.TARGET_WARNING, TimerKind.TARGET_BREACH)


def schedule(
    session: AsyncSession, kind: TimerKind, ticket_id: int, due_at: datetime, basis: datetime
) -> None:
    """Add a timer. Its key names what it is for; the random part lets the same timer be set
    again after it was cancelled (a ticket reopened within the same second)."""
    session.add(
        TimerRow(
            key=f"{kind}:{ticket_id}:{due_at.isoformat()}:{uuid.uuid4().hex[:8]}",
            kind=str(kind),
            ticket_id=ticket_id,
            due_at=due_at,
            basis=basis,
            state="pending",
        )
    )


async def cancel(session: AsyncSession, ticket_id: int, kinds: tuple[TimerKind, ...]) -> None:
    await session.execute(
        update(TimerRow)
        .where(
            TimerRow.ticket_id == ticket_id,
            TimerRow.state == "pending",
            TimerRow.kind.in_([str(k) for k in kinds]),
        )
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )


class TimerHandler(Protocol):
    async def fire_timer(self, session: AsyncSession, timer: TimerRow) -> str:
        """Apply the timer's effect (re-checking the ticket); return what happened."""


class TimerWorker:
    def __init__(self, db: Database, handler: TimerHandler, clock: Clock, batch: int = 50) -> None:
        self.db = db
        self.handler = handler
        self.clock = clock
        self.batch = batch

    async def run_once(self) -> int:
        """Fire every due timer once; returns how many this process fired."""
        now = self.clock()
        async with self.db.sessions() as session:
            due = (
                await session.scalars(
                    select(TimerRow.id)
                    .where(TimerRow.state == "pending", TimerRow.due_at <= now)
                    .order_by(TimerRow.due_at)
                    .limit(self.batch)
                )
            ).all()
        fired = 0
        for timer_id in due:
            try:
                fired += await self._fire(timer_id, now)
            except Exception:
                log.exception("timer %s failed; it stays pending", timer_id)
        return fired

    async def _fire(self, timer_id: int, now: datetime) -> int:
        async with self.db.transaction() as session:
            flipped = await session.execute(
                update(TimerRow)
                .where(TimerRow.id == timer_id, TimerRow.state == "pending")
                .values(state="fired", fired_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(flipped, "rowcount", 0) != 1:
                return 0  # another process fired or cancelled it
            timer = await session.get(TimerRow, timer_id)
            assert timer is not None
            timer.outcome = await self.handler.fire_timer(session, timer)
            log.info(
                "timer fired",
                extra={
                    "event": "timer_fired",
                    "kind": timer.kind,
                    "ticket": timer.ticket_id,
                    "outcome": timer.outcome,
                },
            )
        return 1

    async def run(self, stop: asyncio.Event, interval: float = 15.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("timer pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
