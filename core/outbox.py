"""The outbox: every message that must reach a chat platform is written as a row in the same
transaction as the change that caused it, then delivered by ``DeliveryWorker``.

Guarantees:
- nothing is posted from inside a transaction, and nothing is lost if the process dies: a row
  stays pending until a transport has confirmed it;
- one row per idempotency key, so a retried event never enqueues twice;
- rows that share an ordering key (one side of one ticket) are delivered in order: a row is
  only claimed when no earlier row of its key is still pending;
- transient failures are retried with exponential backoff, never sooner than the platform's
  Retry-After; after ``give_up_after`` (or a permanent error) the row fails and the people on the
  other side are told;
- several processes can run workers on PostgreSQL: rows are claimed with a lease under
  ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.clock import Clock, utcnow
from core.errors import StorageUnavailable
from core.models import Destination, MessageRef, Platform, ThreadRef
from core.outbound import (
    DeliveryError,
    Outbound,
    OutboundFile,
    OutboundKind,
    Reaction,
    Transport,
)
from core.storage.db import Database
from core.storage.queries import load_card
from core.storage.tables import AttachmentRow, OutboxRow, TicketRow

log = logging.getLogger("helpline.outbox")


class Op(StrEnum):
    OPEN_THREAD = "open_thread"  # the customer's thread for a new ticket
    POST_CARD = "post_card"  # the staff card, whose thread is the staff side
    UPDATE_CARD = "update_card"
    POST = "post"  # a message into one side's thread
    REACT = "react"


class Side(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"

    @property
    def other(self) -> Side:
        return Side.STAFF if self is Side.CUSTOMER else Side.CUSTOMER


def ordering_key(ticket_id: int, side: Side) -> str:
    return f"ticket:{ticket_id}:{side}"


def thread_key(ref: ThreadRef) -> str:
    """A unique text key for a thread, used to find the ticket a message belongs to."""
    return f"{ref.platform}:{ref.workspace}:{ref.channel_id}:{ref.thread_id}"


class Outbox:
    """Writes outbox rows inside the caller's transaction."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def _add(
        self,
        *,
        key: str,
        platform: Platform,
        op: Op,
        ticket_id: int | None,
        order: str,
        payload: dict[str, Any],
    ) -> None:
        now = self._clock()
        self._session.add(
            OutboxRow(
                idem_key=key,
                platform=str(platform),
                op=str(op),
                ticket_id=ticket_id,
                ordering_key=order,
                payload=payload,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    async def exists(self, key: str) -> bool:
        found = await self._session.scalar(select(OutboxRow.id).where(OutboxRow.idem_key == key))
        return found is not None

    def open_customer_thread(self, ticket_id: int, dest: Destination, message: Outbound) -> None:
        self._add(
            key=f"open:{ticket_id}",
            platform=dest.platform,
            op=Op.OPEN_THREAD,
            ticket_id=ticket_id,
            order=ordering_key(ticket_id, Side.CUSTOMER),
            payload={
                "dest": dest.model_dump(mode="json"),
                "message": message.model_dump(mode="json"),
            },
        )

    def post_card(self, ticket_id: int, dest: Destination) -> None:
        self._add(
            key=f"card:{ticket_id}",
            platform=dest.platform,
            op=Op.POST_CARD,
            ticket_id=ticket_id,
            order=ordering_key(ticket_id, Side.STAFF),
            payload={"dest": dest.model_dump(mode="json")},
        )

    async def update_card(self, ticket_id: int, platform: Platform) -> None:
        """Queue a card refresh unless an unclaimed one is already waiting (it will render the
        latest state when it runs)."""
        now = self._clock()
        waiting = await self._session.scalar(
            select(OutboxRow.id).where(
                OutboxRow.ticket_id == ticket_id,
                OutboxRow.op == str(Op.UPDATE_CARD),
                OutboxRow.state == "pending",
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
            )
        )
        if waiting is not None:
            return
        self._add(
            key=f"card-update:{ticket_id}:{uuid.uuid4().hex}",
            platform=platform,
            op=Op.UPDATE_CARD,
            ticket_id=ticket_id,
            order=ordering_key(ticket_id, Side.STAFF),
            payload={},
        )

    def post(
        self,
        *,
        key: str,
        ticket_id: int,
        side: Side,
        platform: Platform,
        message: Outbound,
        ack: MessageRef | None = None,
    ) -> None:
        """Post into one side's thread. ``ack`` is the source message to mark delivered (or
        failed) once this post has gone through (or given up)."""
        self._add(
            key=key,
            platform=platform,
            op=Op.POST,
            ticket_id=ticket_id,
            order=ordering_key(ticket_id, side),
            payload={
                "side": str(side),
                "message": message.model_dump(mode="json"),
                "ack": ack.model_dump(mode="json") if ack else None,
            },
        )

    def react(
        self, *, key: str, ticket_id: int | None, ref: MessageRef, reaction: Reaction
    ) -> None:
        self._add(
            key=key,
            platform=ref.platform,
            op=Op.REACT,
            ticket_id=ticket_id,
            order=f"react:{ref.platform}:{ref.channel_id}",
            payload={"ref": ref.model_dump(mode="json"), "reaction": str(reaction)},
        )


def _backoff(attempts: int) -> float:
    base: float = min(2.0 ** max(attempts - 1, 0), 300.0)
    return base * (0.8 + 0.4 * random.random())


class DeliveryWorker:
    """Claims due outbox rows and delivers them through the transport of their platform."""

    def __init__(
        self,
        db: Database,
        transports: Mapping[Platform, Transport],
        *,
        clock: Clock = utcnow,
        worker_id: str | None = None,
        lease: timedelta = timedelta(seconds=120),
        give_up_after: timedelta = timedelta(hours=24),
        batch: int = 20,
        backoff: Callable[[int], float] = _backoff,
    ) -> None:
        self.db = db
        self.transports = dict(transports)
        self.clock = clock
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.lease = lease
        self.give_up_after = give_up_after
        self.batch = batch
        self.backoff = backoff
        self._wake = asyncio.Event()
        self._interrupted: dict[int, bool] = {}
        self._settling: list[_Settle] = []
        self._settler: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Ask the loop to look for work now (called after a transaction that enqueued)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle_interval: float = 1.0) -> None:
        """Deliver until ``stop``: up to ``batch`` deliveries in flight at once, each settled on
        its own, so one slow platform call never holds up the other threads."""
        inflight: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            # Cleared before looking, so work enqueued while we look wakes the next wait.
            self._wake.clear()
            rows: list[OutboxRow] = []
            if len(inflight) < self.batch:
                try:
                    rows = await self._claim(self.batch - len(inflight))
                except Exception:  # keep delivering after a passing storage fault
                    log.exception("outbox claim failed")
            prepared = await self._prepare_many(rows)
            for row in rows:
                inflight.add(asyncio.create_task(self._deliver(row, prepared.get(row.id))))
            if rows and len(inflight) < self.batch:
                continue
            signals = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(
                [*signals, *inflight], timeout=idle_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for signal in signals:
                signal.cancel()
            for task in [t for t in inflight if t.done()]:
                inflight.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    log.error("delivery task failed", exc_info=task.exception())
        if inflight:  # let started deliveries settle: a cut-off one would be retried anyway
            await asyncio.wait(inflight, timeout=30)

    async def run_once(self) -> int:
        """Claim and deliver one batch; returns how many rows were settled."""
        rows = await self._claim()
        if not rows:
            return 0
        prepared = await self._prepare_many(rows)
        outcomes = await asyncio.gather(
            *(self._deliver(row, prepared.get(row.id)) for row in rows), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, Exception):  # its row stays claimed: retried after the lease
                log.error("delivery task failed", exc_info=outcome)
        return len(rows)

    async def drain(self, max_passes: int = 100) -> None:
        """Deliver until nothing is due (tests and the console use this)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _claim(self, limit: int | None = None) -> list[OutboxRow]:
        now = self.clock()
        earlier = aliased(OutboxRow)
        blocked = exists().where(
            and_(
                earlier.ordering_key == OutboxRow.ordering_key,
                earlier.state == "pending",
                earlier.id < OutboxRow.id,
            )
        )
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.state == "pending",
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                OutboxRow.platform.in_([str(p) for p in self.transports]),
                ~blocked,
            )
            .order_by(OutboxRow.id)
            .limit(limit or self.batch)
        )
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=OutboxRow)
        async with self.db.transaction() as session:
            candidates = (await session.scalars(query)).all()
            if not candidates:
                return []
            # The conditional update makes the claim atomic on every backend: of two workers
            # that selected the same row, only one changes it.
            won = set(
                (
                    await session.scalars(
                        update(OutboxRow)
                        .where(
                            OutboxRow.id.in_([row.id for row in candidates]),
                            OutboxRow.state == "pending",
                            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                        )
                        .values(claimed_by=self.worker_id, claimed_until=now + self.lease)
                        .returning(OutboxRow.id)
                        .execution_options(synchronize_session=False)
                    )
                ).all()
            )
        claimed = [row for row in candidates if row.id in won]
        for row in claimed:
            # The platform may already have this message when an earlier attempt failed (a
            # timeout or a cut connection can hide a success) or when its worker stopped
            # mid-delivery (the row is still marked as claimed).
            self._interrupted[row.id] = row.claimed_by is not None or row.attempts > 0
        return claimed

    async def _prepare_many(self, rows: list[OutboxRow]) -> dict[int, _Prepared]:
        """Load what a claimed batch needs in one read (its tickets in one query). A row whose
        preparation is missing here (the read failed) prepares on its own when delivered."""
        prepared: dict[int, _Prepared] = {}
        if not rows:
            return prepared
        try:
            async with self.db.sessions() as session:
                ids = {row.ticket_id for row in rows if row.ticket_id}
                if ids:  # into the session's identity map: the gets below need no query
                    await session.scalars(select(TicketRow).where(TicketRow.id.in_(ids)))
                for row in rows:
                    transport = self.transports[Platform(row.platform)]
                    try:
                        prepared[row.id] = await self._prepare_in(session, transport, row)
                    except DeliveryError as exc:
                        prepared[row.id] = exc
        except Exception:
            log.warning("outbox batch read failed; rows prepare one by one", exc_info=True)
        return prepared

    async def _deliver(self, row: OutboxRow, prepared: _Prepared | None = None) -> None:
        transport = self.transports[Platform(row.platform)]
        try:
            if isinstance(prepared, DeliveryError):
                raise prepared
            call = prepared or await self._prepare(transport, row)
            result = await call()
        except DeliveryError as exc:
            await self._settle_failure(row, exc)
            return
        except Exception as exc:  # a bug or an unexpected library error: retry, log loudly
            log.exception("delivery %s (%s) raised", row.id, row.op)
            await self._settle_failure(row, DeliveryError(f"unexpected error: {exc!r}"))
            return
        await self._settle_success(row, result)

    async def _perform(self, transport: Transport, row: OutboxRow) -> dict[str, Any]:
        """Load what the delivery needs in a short read, then call the platform with no
        transaction open (a slow platform must not hold database locks)."""
        call = await self._prepare(transport, row)
        return await call()

    async def _prepare(
        self, transport: Transport, row: OutboxRow
    ) -> Callable[[], Awaitable[dict[str, Any]]]:
        async with self.db.sessions() as session:
            return await self._prepare_in(session, transport, row)

    async def _prepare_in(
        self, session: AsyncSession, transport: Transport, row: OutboxRow
    ) -> Callable[[], Awaitable[dict[str, Any]]]:
        op = Op(row.op)
        payload = row.payload
        key = row.idem_key
        # Touches the database only when asked: opening a thread without a file and reacting
        # need no query at all.
        if op is Op.OPEN_THREAD:
            message = Outbound.model_validate(payload["message"])
            dest = Destination.model_validate(payload["dest"])
            file = await _load_file(session, message)

            async def open_thread() -> dict[str, Any]:
                thread = await transport.open_thread(dest, message, file, key)
                return {"thread": thread.model_dump(mode="json")}

            return open_thread
        if op in (Op.POST_CARD, Op.UPDATE_CARD):
            card = await load_card(session, row.ticket_id or 0, self.clock())
            ticket = await session.get(TicketRow, card.id) if card else None  # loaded above
            if card is None or ticket is None:
                raise DeliveryError("ticket no longer exists", permanent=True)
            if op is Op.POST_CARD:
                dest = Destination.model_validate(payload["dest"])

                async def post_card() -> dict[str, Any]:
                    posted = await transport.post_card(dest, card, key)
                    return {
                        "card": posted.card.model_dump(mode="json"),
                        "thread": posted.thread.model_dump(mode="json"),
                    }

                return post_card
            if ticket.staff_card is None:
                raise DeliveryError("the ticket's card was never posted", permanent=True)
            card_ref = MessageRef.model_validate(ticket.staff_card)

            async def update_card() -> dict[str, Any]:
                await transport.update_card(card_ref, card)
                return {}

            return update_card
        if op is Op.POST:
            ticket = await session.get(TicketRow, row.ticket_id) if row.ticket_id else None
            if ticket is None:
                raise DeliveryError("ticket no longer exists", permanent=True)
            side = Side(payload["side"])
            raw_thread = ticket.customer_thread if side is Side.CUSTOMER else ticket.staff_thread
            if raw_thread is None:
                raise DeliveryError(
                    f"the {side} thread of #{ticket.id} was never opened", permanent=True
                )
            thread = ThreadRef.model_validate(raw_thread)
            message = Outbound.model_validate(payload["message"])
            file = await _load_file(session, message)

            interrupted = self._interrupted.pop(row.id, False)

            async def post() -> dict[str, Any]:
                find = getattr(transport, "find_delivered", None)
                if interrupted and find is not None:
                    found = await find(thread, key)
                    if found is not None:
                        log.info(
                            "delivery found after a restart",
                            extra={"event": "delivery_recovered", "outbox_id": row.id},
                        )
                        return {"message": found.model_dump(mode="json"), "recovered": True}
                ref = await transport.post(thread, message, file, key)
                return {"message": ref.model_dump(mode="json")}

            return post
        if op is Op.REACT:
            ref = MessageRef.model_validate(payload["ref"])
            reaction = Reaction(payload["reaction"])

            async def react() -> dict[str, Any]:
                await transport.react(ref, reaction)
                return {}

            return react
        raise DeliveryError(f"unknown outbox operation {row.op}", permanent=True)

    async def _settle_success(self, row: OutboxRow, result: dict[str, Any]) -> None:
        """Mark ``row`` delivered. Deliveries that finish while an earlier settle is being
        written are settled together in the next transaction (a group commit), so a busy
        worker spends one transaction on many rows instead of one each."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settling.append((row, result, done))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_queued())
        await done

    async def _settle_queued(self) -> None:
        while self._settling:
            batch, self._settling = self._settling, []
            try:
                async with self.db.transaction() as session:
                    for row, result, _ in batch:
                        await self._record_success(session, row, result)
            except Exception as exc:
                if len(batch) == 1 or isinstance(exc, StorageUnavailable):
                    _resolve(batch, exc)
                    continue
                # One row's problem must not keep the others unsettled: settle each alone.
                for entry in batch:
                    try:
                        async with self.db.transaction() as session:
                            await self._record_success(session, entry[0], entry[1])
                    except Exception as one:
                        _resolve([entry], one)
                    else:
                        _resolve([entry], None)
                continue
            _resolve(batch, None)

    async def _record_success(
        self, session: AsyncSession, row: OutboxRow, result: dict[str, Any]
    ) -> None:
        now = self.clock()
        settled = await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id, OutboxRow.state == "pending")
            .values(
                state="done",
                done_at=now,
                result=result,
                claimed_by=None,
                claimed_until=None,
                attempts=OutboxRow.attempts + 1,
                last_error=None,
            )
        )
        if getattr(settled, "rowcount", 1) == 0:
            # Another worker took the row over after this one's lease ran out, and settled it
            # first: its effects are already recorded.
            return
        op = Op(row.op)
        ticket = (
            await session.get(TicketRow, row.ticket_id)
            if row.ticket_id and op in (Op.OPEN_THREAD, Op.POST_CARD)
            else None
        )
        if ticket is not None and op is Op.OPEN_THREAD:
            thread = ThreadRef.model_validate(result["thread"])
            ticket.customer_thread = thread.model_dump(mode="json")
            ticket.customer_thread_key = thread_key(thread)
        elif ticket is not None and op is Op.POST_CARD:
            thread = ThreadRef.model_validate(result["thread"])
            ticket.staff_card = result["card"]
            ticket.staff_thread_key = thread_key(thread)
            ticket.staff_thread = thread.model_dump(mode="json")
        elif op is Op.POST and row.payload.get("ack"):
            Outbox(session, self.clock).react(
                key=f"ack:{row.idem_key}",
                ticket_id=row.ticket_id,
                ref=MessageRef.model_validate(row.payload["ack"]),
                reaction=Reaction.DELIVERED,
            )
        log.info(
            "delivered",
            extra={
                "event": "delivered",
                "outbox_id": row.id,
                "op": row.op,
                "ticket": row.ticket_id,
            },
        )

    async def _settle_failure(self, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        give_up = exc.permanent or now - row.created_at >= self.give_up_after
        async with self.db.transaction() as session:
            if not give_up:
                delay = max(self.backoff(attempts), exc.retry_after or 0.0)
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=exc.reason,
                        claimed_by=None,
                        claimed_until=None,
                        next_attempt_at=now + timedelta(seconds=delay),
                    )
                )
                log.warning(
                    "delivery retry",
                    extra={
                        "event": "delivery_retry",
                        "outbox_id": row.id,
                        "error": exc.reason,
                        "delay": delay,
                    },
                )
                return
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
                .values(
                    state="failed",
                    attempts=attempts,
                    last_error=exc.reason,
                    claimed_by=None,
                    claimed_until=None,
                    done_at=now,
                )
            )
            log.error(
                "delivery failed",
                extra={"event": "delivery_failed", "outbox_id": row.id, "error": exc.reason},
            )
            await self._tell_other_side(session, row, exc.reason)

    async def _tell_other_side(self, session: AsyncSession, row: OutboxRow, reason: str) -> None:
        """A relay that could not be delivered is reported where its author will see it; a
        customer thread that could not be opened is reported to staff."""
        if row.ticket_id is None:
            return
        if Op(row.op) is Op.OPEN_THREAD:
            ticket = await session.get(TicketRow, row.ticket_id)
            if ticket is not None:
                Outbox(session, self.clock).post(
                    key=f"failnote:{row.idem_key}",
                    ticket_id=row.ticket_id,
                    side=Side.STAFF,
                    platform=Platform(ticket.staff_destination["platform"]),
                    message=Outbound(
                        kind=OutboundKind.NOTICE,
                        ticket_id=row.ticket_id,
                        text=(
                            "⚠️ The customer's ticket thread could not be opened, so replies "
                            f"can't reach them in chat: {reason}"
                        ),
                    ),
                )
            return
        if Op(row.op) is not Op.POST:
            return
        message = Outbound.model_validate(row.payload["message"])
        if message.kind is not OutboundKind.RELAY:
            return
        ticket = await session.get(TicketRow, row.ticket_id)
        if ticket is None:
            return
        side = Side(row.payload["side"])
        origin = side.other
        outbox = Outbox(session, self.clock)
        if row.payload.get("ack"):
            outbox.react(
                key=f"nack:{row.idem_key}",
                ticket_id=row.ticket_id,
                ref=MessageRef.model_validate(row.payload["ack"]),
                reaction=Reaction.FAILED,
            )
        platform = (
            Platform(ticket.customer_platform)
            if origin is Side.CUSTOMER
            else Platform(ticket.staff_destination["platform"])
        )
        who = "the customer" if side is Side.CUSTOMER else "the support team"
        outbox.post(
            key=f"failnote:{row.idem_key}",
            ticket_id=row.ticket_id,
            side=origin,
            platform=platform,
            message=Outbound(
                kind=OutboundKind.NOTICE,
                ticket_id=row.ticket_id,
                text=f"⚠️ This message could not be delivered to {who}: {reason}",
            ),
        )


_Settle = tuple[OutboxRow, dict[str, Any], "asyncio.Future[None]"]
_Prepared = Callable[[], Awaitable[dict[str, Any]]] | DeliveryError


def _resolve(batch: list[_Settle], error: BaseException | None) -> None:
    for _, _, done in batch:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


async def _load_file(session: AsyncSession, message: Outbound) -> OutboundFile | None:
    if message.attachment is None:
        return None
    row = await session.get(AttachmentRow, message.attachment.sha256)
    if row is None:
        raise DeliveryError("attachment missing from storage", permanent=True)
    return OutboundFile(attachment=message.attachment, data=row.data)
