"""The chat APIs misbehaving while staff answer: 429 with Retry-After, server errors, a request
that hangs past the transport's timeout, and connections cut mid-request. The real adapters
deliver through the real outbox worker to FakeSlack / FakeDiscord; once the API is back, every
reply is in the customer's thread exactly once, in the order staff wrote them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.storage.db import Database
from core.storage.tables import OutboxRow
from tests.adapters.discord_harness import World, running_world
from tests.adapters.slack_harness import (
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    Ticket,
    eventually,
    running_desk,
    section_text,
)

REPLIES = [f"Update {n} of 8: we checked step {n} of the mail queue for you." for n in range(1, 9)]
TIMEOUT = 1.0  # the transports' request timeout in these tests (30 s in production)
RETRY_DELAY = 0.6  # the worker's backoff; long enough to act between a timeout and the retry


async def customer_posts(db: Database, ticket_id: int) -> int:
    """Outbox rows posting into the customer's thread of the ticket (relays and notices)."""
    async with db.sessions() as s:
        found = await s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.ticket_id == ticket_id, OutboxRow.op == "post",
            OutboxRow.ordering_key == f"ticket:{ticket_id}:customer"))
    return int(found or 0)


async def all_done(db: Database) -> bool:
    """Every outbox row delivered (none pending, none failed)."""
    async with db.sessions() as s:
        left = (await s.execute(select(OutboxRow.id, OutboxRow.op, OutboxRow.state,
                                       OutboxRow.last_error)
                                .where(OutboxRow.state != "done"))).all()
    return not left


async def failed_with(db: Database, reason: str) -> bool:
    async with db.sessions() as s:
        found = await s.scalar(select(OutboxRow.id).where(OutboxRow.last_error.contains(reason)))
    return found is not None


# ---- Slack -----------------------------------------------------------------------------------


@pytest.fixture
async def slack_desk(tmp_path: Path) -> AsyncIterator[RunningDesk]:
    async with running_desk(tmp_path) as h:
        assert h.core.worker is not None
        h.core.worker.backoff = lambda attempts: RETRY_DELAY
        # No Web API client exists before the first delivery, so this reaches every one.
        h.adapter.transport.clients.timeout = TIMEOUT  # type: ignore[assignment]
        yield h


async def slack_staff_replies(h: RunningDesk, ticket: Ticket, texts: list[str]) -> None:
    """Staff answer in the card's thread, one message after the other (each accepted before
    the next is written, as a person types them)."""
    before = await customer_posts(h.core.db, ticket.id)
    for n, text in enumerate(texts, start=1):
        await h.say(STAFF_CHANNEL, text, user=STAFF_USER, thread_ts=ticket.card_ts)
        await eventually(partial(accepted, h.core.db, ticket.id, before + n),
                         f"staff reply {n} accepted")


async def accepted(db: Database, ticket_id: int, wanted: int) -> bool:
    return await customer_posts(db, ticket_id) >= wanted


def slack_relays(h: RunningDesk, ticket: Ticket) -> list[str]:
    """The staff replies as they stand in the customer's thread on Slack, oldest first."""
    texts = [section_text(m) for m in h.thread(ticket.dm_channel, ticket.customer_thread)]
    return [r for t in texts for r in REPLIES if r in t]


async def test_slack_replies_survive_429_500_a_hang_and_cuts_exactly_once_in_order(
    slack_desk: RunningDesk,
) -> None:
    h = slack_desk
    ticket = await h.file_ticket()
    post = "chat.postMessage"
    h.slack.fail_next(post, status=429, retry_after=1)
    h.slack.fail_next(post, status=500, retry_after=None)
    h.slack.fail_next(post, status=503, retry_after=None)
    h.slack.hang_next(post)
    # Two cuts in a row: slack_sdk resends a dropped request once by itself.
    h.slack.cut_next(post, times=2)

    await slack_staff_replies(h, ticket, REPLIES)
    # The hung post reaches Slack after the client gave up on it: the retry must find it in
    # the thread (outbox key in the message metadata) instead of posting it again.
    await h.slack.wait_for(post, lambda c: c.outcome == "hang", timeout=10)
    await eventually(lambda: failed_with(h.core.db, "did not answer in time"),
                     "the worker gave up waiting for the hung post", timeout=10)
    assert h.slack.release() == 1

    await eventually(lambda: _all_there(slack_relays(h, ticket)), "all replies delivered",
                     timeout=20)
    await h.drain()
    assert slack_relays(h, ticket) == REPLIES
    outcomes = [c.outcome for c in h.slack.calls(post)
                if c.args.get("channel") == ticket.dm_channel]
    for fault in ("http:429", "http:500", "http:503", "hang", "cut"):
        assert fault in outcomes, outcomes
    await eventually(lambda: all_done(h.core.db), "every outbox row done", timeout=10)


async def test_slack_reply_whose_answer_is_cut_off_is_not_posted_twice(
    slack_desk: RunningDesk,
) -> None:
    h = slack_desk
    ticket = await h.file_ticket()
    h.slack.cut_after_next("chat.postMessage")

    await slack_staff_replies(h, ticket, REPLIES[:3])

    await eventually(lambda: _all_there(slack_relays(h, ticket), REPLIES[:3]),
                     "the replies delivered", timeout=10)
    await h.drain()
    assert slack_relays(h, ticket) == REPLIES[:3]


async def _all_there(relayed: list[str], wanted: list[str] = REPLIES) -> bool:
    return set(relayed) >= set(wanted)


# ---- Discord ---------------------------------------------------------------------------------


@pytest.fixture
async def discord_world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        world.worker.backoff = lambda attempts: RETRY_DELAY
        world.adapter.transport.timeout = TIMEOUT
        yield world


async def discord_staff_replies(world: World, ticket_id: int, staff_thread: int,
                                texts: list[str]) -> None:
    before = await customer_posts(world.db, ticket_id)
    for n, text in enumerate(texts, start=1):
        await world.fake.message_create(staff_thread, text, author=world.staff)
        await eventually(partial(accepted, world.db, ticket_id, before + n),
                         f"staff reply {n} accepted")


def discord_relays(world: World, thread_id: int) -> list[str]:
    """The staff replies as they stand in the customer's thread on Discord, oldest first."""
    contents = [s.message["content"] for s in world.fake.sent_messages(thread_id)]
    return [r for c in contents for r in REPLIES if c.endswith(r)]


async def test_discord_replies_survive_429_5xx_a_hang_and_drops_exactly_once_in_order(
    discord_world: World,
) -> None:
    world = discord_world
    ticket_id, thread = await world.file_ticket("Deliverability", "Mail to Gmail bounces",
                                                "Every mail to gmail.com bounces since 09:00.")
    thread_id = int(thread["id"])
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    path = f"/channels/{thread_id}/messages"
    fake = world.fake
    fake.fail_next("POST", path, status=429, retry_after=0.3)  # discord.py waits and resends
    fake.fail_next("POST", path, status=503)  # raised at once: the outbox retries
    fake.fail_next("POST", path, status=502)  # discord.py waits 1 s and resends
    hang = fake.hang_next("POST", path)
    fake.drop_next("POST", path)  # cut before Discord saw it
    fake.drop_after_next("POST", path)  # cut after Discord created the message

    await discord_staff_replies(world, ticket_id, staff_thread, REPLIES)
    # The hung send completes after the transport gave up; the nonce makes the retry and the
    # late original one message.
    await eventually(lambda: failed_with(world.db, "did not answer in time"),
                     "the transport gave up waiting for the hung send", timeout=10)
    hang.release()

    await eventually(lambda: _all_there(discord_relays(world, thread_id)),
                     "all replies delivered", timeout=20)
    await world.drain()
    assert discord_relays(world, thread_id) == REPLIES
    posts = [c for c in fake.calls("POST", path) if c.path == path]
    assert len(posts) > len(REPLIES) + 4  # the faults were met, and retried
    await eventually(lambda: all_done(world.db), "every outbox row done", timeout=10)
