"""The outbox: retries with backoff and Retry-After, exactly one post per row, order per
thread, survival across a restart, failures reported to the other side, and workers racing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import DeskConfig
from core.models import Actor, Identity, MessageRef, Platform, TicketDraft
from core.outbound import DeliveryError, Reaction
from core.outbox import DeliveryWorker, Outbox
from core.service import SupportDesk
from core.storage.db import Database
from core.storage.tables import OutboxRow
from core.views import Created
from tests.conftest import FakeClock
from tests.recording import RecordingTransport

ALICE = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="alice", name="Alice")
SAM = Actor(
    identity=Identity(platform=Platform.CONSOLE, workspace="hq", user_id="sam", name="Sam"),
    is_staff=True,
)
DRAFT = TicketDraft(
    category="Billing",
    subject="Copy of invoice INV-2024-0415 needed",
    message="Please send a copy of invoice INV-2024-0415 for our accountant.",
)


def no_backoff(_: int) -> float:
    return 0.0


async def ticket(desk: SupportDesk) -> int:
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    return created.ticket.id


async def rows(db: Database) -> list[OutboxRow]:
    async with db.transaction() as s:
        return list((await s.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


async def test_delivery_failing_twice_then_succeeding_is_posted_exactly_once(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock, backoff=no_backoff)
    t = await ticket(desk)
    await worker.drain()
    transport.sent.clear()
    await desk.staff_reply(SAM, "We have re-sent the invoice to you.", ticket_id=t)
    transport.fail_next(DeliveryError("HTTP 500"), DeliveryError("timed out"), op="post")
    await worker.drain()
    relays = [s for s in transport.posts() if s.text == "We have re-sent the invoice to you."]
    assert len(relays) == 1
    relay_row = next(
        r
        for r in await rows(desk.db)
        if r.idem_key.startswith("relay:") and r.payload["side"] == "customer"
    )
    assert relay_row.state == "done" and relay_row.attempts == 3


async def test_retry_after_is_honoured(desk: SupportDesk, clock: FakeClock) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock, backoff=no_backoff)
    await ticket(desk)
    transport.fail_next(DeliveryError("rate limited", retry_after=30), op="open_thread")
    await worker.drain()
    assert "open_thread" not in [s.op for s in transport.sent]
    clock.advance(seconds=29)
    await worker.drain()
    assert "open_thread" not in [s.op for s in transport.sent]
    clock.advance(seconds=2)
    await worker.drain()
    assert [s.op for s in transport.sent].count("open_thread") == 1


async def test_rows_of_one_thread_are_delivered_in_order(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock, backoff=no_backoff)
    t = await ticket(desk)
    await worker.drain()
    transport.sent.clear()
    for i in range(5):
        await desk.staff_reply(SAM, f"Answer number {i}", ticket_id=t)
    transport.fail_next(DeliveryError("HTTP 502"), op="post")
    for _ in range(10):
        await worker.drain()
    texts = [s.text for s in transport.posts() if s.text.startswith("Answer")]
    assert texts == [f"Answer number {i}" for i in range(5)]


async def test_pending_delivery_survives_a_restart(tmp_path: Path, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/restart.db"
    db = Database(url)
    await db.upgrade()
    desk = SupportDesk(db, DeskConfig(), kb, clock=clock)
    await ticket(desk)
    await db.dispose()  # the process stops before any delivery

    db2 = Database(url)
    await db2.upgrade()
    transport = RecordingTransport()
    await DeliveryWorker(db2, {Platform.CONSOLE: transport}, clock=clock).drain()
    assert [s.op for s in transport.sent] == ["open_thread", "post_card", "post"]
    assert all(r.state == "done" for r in await rows(db2))
    await db2.dispose()


async def test_delivery_claimed_by_a_crashed_worker_is_taken_over_after_its_lease(
    desk: SupportDesk, clock: FakeClock
) -> None:
    await ticket(desk)
    crashed = DeliveryWorker(
        desk.db, {Platform.CONSOLE: RecordingTransport()}, clock=clock, lease=timedelta(seconds=60)
    )
    claimed = await crashed._claim()  # claims, then "dies" before delivering
    assert claimed
    transport = RecordingTransport()
    survivor = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock)
    await survivor.drain()
    assert transport.sent == [] or all(
        s.key not in {r.idem_key for r in claimed} for s in transport.sent
    )
    clock.advance(seconds=61)
    await survivor.drain()
    assert {r.idem_key for r in claimed} <= {s.key for s in transport.sent if s.key}


async def test_relay_that_fails_for_good_is_reported_to_its_author(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock, backoff=no_backoff)
    t = await ticket(desk)
    await worker.drain()
    transport.sent.clear()
    await desk.staff_reply(SAM, "Please confirm the billing address.", ticket_id=t)
    transport.fail_next(
        DeliveryError("the customer blocked direct messages", permanent=True), op="post"
    )
    await worker.drain()
    staff_posts = [s.text for s in transport.posts("staff")]
    assert any(
        "could not be delivered to the customer" in p and "blocked" in p for p in staff_posts
    )
    failed = [r for r in await rows(desk.db) if r.state == "failed"]
    assert len(failed) == 1 and "blocked" in (failed[0].last_error or "")


async def test_transient_failures_give_up_after_the_limit(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(
        desk.db,
        {Platform.CONSOLE: transport},
        clock=clock,
        backoff=no_backoff,
        give_up_after=timedelta(hours=1),
    )
    await ticket(desk)
    transport.fail_next(DeliveryError("HTTP 503"), op="open_thread")
    await worker.drain(max_passes=1)
    assert (await rows(desk.db))[0].state == "pending"
    clock.advance(hours=2)
    transport.fail_next(DeliveryError("HTTP 503"), op="open_thread")
    await worker.drain(max_passes=1)
    first = (await rows(desk.db))[0]
    assert first.op == "open_thread" and first.state == "failed"


@pytest.mark.postgres
async def test_two_workers_racing_deliver_each_row_once(
    desk: SupportDesk, clock: FakeClock, backend: str
) -> None:
    for i in range(15):
        await desk.submit(
            Identity(platform=Platform.CONSOLE, workspace=f"w{i}", user_id="u"),
            DRAFT.model_copy(update={"subject": f"Invoice copy number {i}"}),
        )
    a, b = RecordingTransport(), RecordingTransport()
    wa = DeliveryWorker(desk.db, {Platform.CONSOLE: a}, clock=clock, batch=3)
    wb = DeliveryWorker(desk.db, {Platform.CONSOLE: b}, clock=clock, batch=3)
    await asyncio.gather(wa.drain(), wb.drain())
    keys = [s.key for s in a.sent + b.sent if s.key]
    all_rows = await rows(desk.db)
    assert len(all_rows) >= 45
    assert sorted(keys) == sorted(r.idem_key for r in all_rows)  # each row delivered once
    assert all(r.state == "done" for r in all_rows)


async def test_post_cut_off_by_a_crash_is_not_posted_again_after_restart(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock,
                            lease=timedelta(seconds=60))
    t = await ticket(desk)
    await worker.drain()
    await desk.staff_reply(SAM, "The fix is live, please try again.", ticket_id=t)
    [row] = [r for r in await worker._claim() if r.op == "post"]
    await worker._perform(transport, row)  # the platform got it; then the process died
    clock.advance(seconds=61)
    restarted = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock)
    await restarted.drain()
    relays = [s for s in transport.posts() if s.text == "The fix is live, please try again."]
    assert len(relays) == 1
    settled = next(r for r in await rows(desk.db) if r.id == row.id)
    assert settled.state == "done" and settled.result and settled.result.get("recovered")


async def test_one_hanging_platform_call_does_not_hold_up_other_threads(
    desk: SupportDesk, clock: FakeClock
) -> None:
    release, hanging = asyncio.Event(), asyncio.Event()
    posted = {1: asyncio.Event(), 2: asyncio.Event()}

    class HangsOnFirstTicket(RecordingTransport):
        async def post(self, thread, message, file, key):  # type: ignore[no-untyped-def]
            if message.ticket_id == first and message.author_is_staff:
                hanging.set()
                await release.wait()
            ref = await super().post(thread, message, file, key)
            if message.author_is_staff:
                posted[1 if message.ticket_id == first else 2].set()
            return ref

    transport = HangsOnFirstTicket()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock)
    first = await ticket(desk)
    other = await desk.submit(Identity(platform=Platform.CONSOLE, workspace="b", user_id="bob"),
                              DRAFT)
    assert isinstance(other, Created)
    second = other.ticket.id
    await worker.drain()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, idle_interval=0.05))
    desk.on_enqueue = worker.wake
    await desk.staff_reply(SAM, "Answer on the first ticket.", ticket_id=first)
    await asyncio.wait_for(hanging.wait(), timeout=5)  # the first post is now stuck
    await desk.staff_reply(SAM, "Answer on the second ticket.", ticket_id=second)
    await asyncio.wait_for(posted[2].wait(), timeout=5)
    texts = [s.text for s in transport.posts()]
    assert "Answer on the second ticket." in texts and "Answer on the first ticket." not in texts
    release.set()
    await asyncio.wait_for(posted[1].wait(), timeout=5)
    stop.set()
    await running
    assert [s.text for s in transport.posts()].count("Answer on the first ticket.") == 1


async def customer_replies(desk: SupportDesk, worker: DeliveryWorker, count: int) -> None:
    """``count`` customers file a ticket each (threads opened), then reply in it: relays whose
    delivery marks the customer's message delivered."""
    filed: list[tuple[Identity, int]] = []
    for n in range(count):
        customer = Identity(platform=Platform.CONSOLE, workspace=f"acct{n}", user_id=f"c{n}")
        created = await desk.submit(
            customer, DRAFT.model_copy(update={"subject": f"Invoice copy for branch {n}"})
        )
        assert isinstance(created, Created)
        filed.append((customer, created.ticket.id))
    await worker.drain()
    for n, (customer, ticket_id) in enumerate(filed):
        await desk.customer_reply(
            customer,
            f"Branch {n}: any news on the invoice?",
            ticket_id=ticket_id,
            source_ref=MessageRef(
                platform=Platform.CONSOLE, workspace=f"acct{n}", channel_id="dm",
                message_id=f"s{n}",
            ),
        )


async def test_deliveries_finishing_together_are_settled_in_one_transaction(
    desk: SupportDesk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, all_waiting = asyncio.Event(), asyncio.Event()
    waiting = 0

    class SlowPlatform(RecordingTransport):
        async def at_the_platform(self) -> None:
            nonlocal waiting
            waiting += 1
            if waiting == 16:
                all_waiting.set()
            await release.wait()

        async def open_thread(self, dest, message, file, key):  # type: ignore[no-untyped-def]
            await self.at_the_platform()
            return await super().open_thread(dest, message, file, key)

        async def post_card(self, dest, card, key):  # type: ignore[no-untyped-def]
            await self.at_the_platform()
            return await super().post_card(dest, card, key)

    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: SlowPlatform()}, clock=clock)
    for i in range(8):
        await desk.submit(
            Identity(platform=Platform.CONSOLE, workspace=f"w{i}", user_id="u"),
            DRAFT.model_copy(update={"subject": f"Invoice copy number {i}"}),
        )
    opened = 0
    real_transaction = desk.db.transaction

    def counting_transaction():  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return real_transaction()

    delivering = asyncio.create_task(worker.run_once())
    # both first deliveries of all eight tickets are at the platform
    await asyncio.wait_for(all_waiting.wait(), timeout=10)
    monkeypatch.setattr(desk.db, "transaction", counting_transaction)
    release.set()
    await delivering
    settling_transactions = opened

    assert all(r.state == "done" for r in await rows(desk.db) if r.op != "post")
    assert settling_transactions == 1  # sixteen deliveries finished together: one transaction


async def test_a_row_that_cannot_be_settled_does_not_hold_back_the_rest_of_its_group(
    desk: SupportDesk, clock: FakeClock
) -> None:
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: RecordingTransport()}, clock=clock)
    await customer_replies(desk, worker, 4)
    relays = [r for r in await rows(desk.db) if r.state == "pending" and r.payload.get("ack")]
    assert len(relays) == 4
    poisoned = relays[1]
    async with desk.db.transaction() as session:  # its "delivered" mark can't be written
        Outbox(session, clock).react(
            key=f"ack:{poisoned.idem_key}",
            ticket_id=None,
            ref=MessageRef.model_validate(poisoned.payload["ack"]),
            reaction=Reaction.FAILED,
        )

    await worker.run_once()

    states = {r.id: r.state for r in await rows(desk.db)}
    assert states[poisoned.id] == "pending"
    assert [states[r.id] for r in relays if r.id != poisoned.id] == ["done"] * 3


async def test_a_late_settle_after_a_takeover_records_the_delivery_once(
    desk: SupportDesk, clock: FakeClock
) -> None:
    transport = RecordingTransport()
    slow = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock,
                          lease=timedelta(seconds=60))
    await customer_replies(desk, slow, 1)
    [row] = [r for r in await slow._claim() if r.payload.get("ack")]
    result = await slow._perform(transport, row)  # delivered, but its settle is late…
    clock.advance(seconds=61)
    await DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock).drain()
    await slow._settle_success(row, result)  # …and lands after the takeover settled it

    all_rows = await rows(desk.db)
    assert next(r for r in all_rows if r.id == row.id).state == "done"
    assert [r.idem_key for r in all_rows].count(f"ack:{row.idem_key}") == 1
    assert [s.text for s in transport.posts()].count("Branch 0: any news on the invoice?") == 1


async def test_a_failed_batch_read_leaves_each_row_to_prepare_on_its_own(
    desk: SupportDesk, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=clock)
    await ticket(desk)
    real_prepare_in = worker._prepare_in
    failures = iter([True])

    async def flaky_prepare_in(session, transport, row):  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise ConnectionResetError("the database went away mid-read")
        return await real_prepare_in(session, transport, row)

    monkeypatch.setattr(worker, "_prepare_in", flaky_prepare_in)
    await worker.drain()

    assert sorted(s.op for s in transport.sent) == ["open_thread", "post", "post_card"]
    assert all(r.state == "done" for r in await rows(desk.db))
