"""End to end: messages written in ticket threads while Helpline was not connected to Discord
are caught up once the next start is ready.

Discord's gateway replays missed events only to a session that resumes; a new session after a
crash or a deploy starts with no backlog. Here the Discord adapter is stopped, people write in
the tickets' threads in FakeDiscord without any MESSAGE_CREATE (``fake.add_message``), and a new
adapter starts on the same database: its catch-up reads the threads back over REST and hands
each missed message to the live message path, once. A running adapter whose gateway session
expired (no resume) catches up the same way.

Same harness as the other Discord tests: real discord.py client, FakeDiscord, real SQLite desk
and the delivery worker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from adapters.discord.catchup import CatchUpReport
from core.config import DeskConfig, RateLimits
from core.models import Actor, Identity, MessageKind, Platform, Status
from core.storage.tables import MessageRow, TicketRow
from tests.adapters.discord_harness import World, running_world
from tests.fakes.discord_api import JSON, MESSAGE_FLAG_EPHEMERAL, Call, FakeDiscord, SentMessage

SUBJECT = "Webhook signatures fail verification"
MESSAGE = "Every webhook from the API fails our HMAC check since Monday 09:00 UTC."
RECIPIENT_ADD = 1  # Discord's message type for "someone was added to the thread"
NOT_STAFF = "Only the support team's messages reach the customer"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


# ---- observing ------------------------------------------------------------------------------


async def caught_up(world: World, timeout: float = 10.0) -> CatchUpReport:  # noqa: ASYNC109
    """Wait for the catch-up of the running adapter to finish; its report."""
    task = world.adapter.catching_up
    assert task is not None
    async with asyncio.timeout(timeout):
        return await asyncio.shield(task)


async def threads_of(world: World, ticket_id: int) -> tuple[int, int]:
    """The ticket's customer thread and staff thread."""
    customer = await world.customer_thread(ticket_id)
    staff = await world.staff_thread(ticket_id)
    return int(customer["id"]), int(staff["id"])


def sent_with(world: World, channel_id: int, text: str) -> list[SentMessage]:
    """What the bot sent into a channel containing ``text`` (relays, answers)."""
    return [s for s in world.fake.sent_messages(channel_id) if text in s.message["content"]]


def reads_of(world: World, thread_id: int) -> list[Call]:
    """The catch-up's reads of a thread (Get Channel Messages)."""
    return [c for c in world.fake.calls("GET", f"/channels/{thread_id}/messages")
            if c.path == f"/channels/{thread_id}/messages"]


def marked(world: World, message: JSON, emoji: str) -> Callable[[], bool]:
    return lambda: any(r["emoji"]["name"] == emoji and r["me"]
                       for r in world.fake.message(int(message["id"]))["reactions"])


async def wait_marked(world: World, message: JSON, emoji: str) -> None:
    await world.fake.wait_until(marked(world, message, emoji), f"{emoji} on {message['content']!r}")


async def stored(world: World, ticket_id: int) -> dict[str, MessageRow]:
    """The ticket's recorded messages by the key of the platform message they came from."""
    async with world.db.read() as session:
        rows = (await session.scalars(select(MessageRow).where(MessageRow.ticket_id == ticket_id)
                                      .order_by(MessageRow.id))).all()
    return {row.source_key: row for row in rows if row.source_key}


def key(world: World, message: JSON) -> str:
    return f"discord:{world.guild_id}:{message['channel_id']}:{message['id']}"


def staff_actor(world: World) -> Actor:
    return Actor(identity=Identity(platform=Platform.DISCORD, workspace=str(world.guild_id),
                                   user_id=str(world.staff["id"]), name="Sam"), is_staff=True)


# ---- the missed messages --------------------------------------------------------------------


async def test_replies_written_while_helpline_was_down_are_relayed_once_on_start(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)

    async with world.helpline_down():
        from_customer = world.fake.add_message(
            customer_thread, "The webhook log shows 401s since 09:00 on every delivery.")
        added = world.fake.add_message(customer_thread, "", message_type=RECIPIENT_ADD)
        from_staff = world.fake.add_message(
            staff_thread, "We rotated the signing key; please retry a delivery.",
            author=world.staff)

    await world.wait_in(staff_thread, lambda s: "401s since 09:00" in s.message["content"])
    await world.wait_in(customer_thread, lambda s: "rotated the signing key" in
                        s.message["content"])
    await wait_marked(world, from_customer, "✅")
    await wait_marked(world, from_staff, "✅")
    report = await caught_up(world)
    await world.drain()

    assert (report.threads_read, report.messages_recovered, report.threads_failed) == (2, 2, 0)
    [to_staff] = sent_with(world, staff_thread, "401s since 09:00")
    [to_customer] = sent_with(world, customer_thread, "rotated the signing key")
    assert to_staff.message["content"].startswith("**Customer**")
    assert to_customer.message["content"].startswith("**Sam** (support team)")
    rows = await stored(world, ticket_id)
    assert rows[key(world, from_customer)].kind == MessageKind.CUSTOMER
    assert rows[key(world, from_staff)].kind == MessageKind.STAFF  # a member with the role
    # The system message is no one's reply: not handled, not answered, not marked.
    assert key(world, added) not in rows
    assert not world.fake.message(int(added["id"]))["reactions"]
    assert not sent_with(world, customer_thread, "⚠️")


async def test_a_message_handled_before_or_during_the_catch_up_is_not_relayed_again(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)
    before = await world.fake.message_create(customer_thread, "My account number is 4471-B.")
    await world.wait_in(staff_thread, lambda s: "4471-B" in s.message["content"])
    await wait_marked(world, before, "✅")

    async with world.helpline_down():
        late = world.fake.add_message(customer_thread, "The second invoice is affected too.")
        reading = world.fake.hang_next("GET", f"/channels/{customer_thread}/messages")

    # While the catch-up's read of the thread is held, the customer writes again, live.
    [read] = await world.fake.wait_for(
        lambda c: c.path == f"/channels/{customer_thread}/messages", method="GET",
        answered=False)
    live = await world.fake.message_create(customer_thread, "And the third one since Friday.")
    await world.wait_in(staff_thread, lambda s: "third one since Friday" in s.message["content"])
    reading.release()

    report = await caught_up(world)
    await world.wait_in(staff_thread, lambda s: "second invoice" in s.message["content"])
    await world.drain()
    assert read.query["after"] == before["id"]  # read on from the last recorded message
    assert report.messages_recovered == 2  # the late one and the live one, read back
    for said in ("4471-B", "second invoice", "third one since Friday"):
        assert len(sent_with(world, staff_thread, said)) == 1, said
    rows = await stored(world, ticket_id)
    assert {key(world, m) for m in (before, late, live)} <= set(rows)


async def test_a_message_met_both_live_and_by_the_catch_up_is_answered_once(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, _ = await threads_of(world, ticket_id)

    async with world.helpline_down():
        reading = world.fake.hang_next("GET", f"/channels/{customer_thread}/messages")

    await world.fake.wait_for(lambda c: c.path == f"/channels/{customer_thread}/messages",
                              method="GET", answered=False)
    # Refused live; its ⚠️ is still on its way when the catch-up reads the message back.
    marking = world.fake.hang_next("PUT", f"/channels/{customer_thread}/messages/")
    short = await world.fake.message_create(customer_thread, "ok")
    await world.fake.wait_for(lambda c: c.path.startswith(
        f"/channels/{customer_thread}/messages/{short['id']}/reactions/"), answered=False)
    reading.release()
    report = await caught_up(world)
    marking.release()
    await wait_marked(world, short, "⚠️")

    assert report.messages_recovered == 1  # read back unmarked, and left to the live handling
    answers = [s for s in world.fake.sent_messages(customer_thread)
               if str((s.message.get("message_reference") or {}).get("message_id"))
               == short["id"]]
    assert len(answers) == 1


async def test_a_note_written_while_down_stays_internal_and_a_non_staff_remark_is_refused(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)

    async with world.helpline_down():
        aside = world.fake.add_message(
            staff_thread, "Is this the customer from yesterday's call?", author=world.outsider)
        answer = world.fake.add_message(
            staff_thread, "Your webhook secret has been reset.", author=world.staff)
        note = world.fake.add_message(
            staff_thread, "note: refund approved by finance, not announced yet",
            author=world.staff)
        agreed = world.fake.add_message(staff_thread, "agreed, hold it until Monday",
                                        author=world.staff, reply_to=note)

    await world.wait_in(customer_thread, lambda s: "webhook secret has been reset" in
                        s.message["content"])
    await wait_marked(world, note, "🔒")
    await wait_marked(world, agreed, "🔒")
    await wait_marked(world, aside, "⚠️")
    [refusal] = sent_with(world, staff_thread, NOT_STAFF)
    assert str(refusal.message["message_reference"]["message_id"]) == aside["id"]
    await caught_up(world)
    await world.drain()

    for said in ("refund approved", "hold it until Monday", "yesterday's call"):
        assert not sent_with(world, customer_thread, said), said
    rows = await stored(world, ticket_id)
    assert rows[key(world, note)].kind == MessageKind.NOTE
    assert rows[key(world, note)].body == "refund approved by finance, not announced yet"
    assert rows[key(world, agreed)].kind == MessageKind.NOTE
    assert rows[key(world, answer)].kind == MessageKind.STAFF
    assert key(world, aside) not in rows

    # Another start finds nothing new: the answer is recorded, the notes are marked internal.
    sent_before = len(world.fake.sent_messages())
    await world.restart()
    report = await caught_up(world)
    await world.drain()
    assert (report.threads_read, report.messages_recovered) == (2, 0)
    assert len(world.fake.sent_messages()) == sent_before


def generous_rate_limits(config: DeskConfig, ids: dict[str, int]) -> DeskConfig:
    """A customer may write many messages a minute (the catch-up records them all at once)."""
    return config.model_copy(update={"rate_limits": RateLimits(messages_per_minute=1000)})


async def test_more_than_a_page_of_missed_messages_is_read_page_by_page_in_order(
    tmp_path: Path,
) -> None:
    async with running_world(tmp_path, configure=generous_rate_limits) as world:
        ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
        customer_thread, staff_thread = await threads_of(world, ticket_id)

        async with world.helpline_down():
            for n in range(1, 131):
                world.fake.add_message(customer_thread,
                                       f"Update {n:03d}: the mailbox still rejects mail.")

        relayed = await world.fake.wait_sent(
            lambda s: int(s.message["channel_id"]) == staff_thread
            and "still rejects mail" in s.message["content"], count=130, timeout=60)
        report = await caught_up(world, timeout=60)
        await world.drain()

        numbers = [re.search(r"Update (\d+)", s.message["content"]) for s in relayed]
        assert [int(m[1]) for m in numbers if m] == list(range(1, 131))
        assert report.messages_recovered == 130
        pages = reads_of(world, customer_thread)
        assert [p.query["limit"] for p in pages] == ["100", "100"]
        assert pages[0].query["after"] == thread["id"]  # nothing recorded yet: from its start
        assert int(pages[1].query["after"]) > int(pages[0].query["after"])


@pytest.mark.parametrize("where", ["a non-staff remark in the staff thread",
                                   "a too short customer reply"])
async def test_a_message_refused_live_is_not_refused_again_after_a_restart(
    world: World, where: str,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)
    if where.startswith("a non-staff"):
        thread = staff_thread
        refused = await world.fake.message_create(staff_thread, "I am not staff but hi",
                                                  author=world.outsider)
    else:
        thread = customer_thread
        refused = await world.fake.message_create(customer_thread, "ok")
    await world.fake.wait_until(
        lambda: any(str((s.message.get("message_reference") or {}).get("message_id"))
                    == refused["id"] for s in world.fake.sent_messages(thread)), "the refusal")
    await wait_marked(world, refused, "⚠️")
    answers = len(world.fake.sent_messages(thread))

    await world.restart()
    report = await caught_up(world)
    await world.drain()

    assert report.messages_recovered == 0
    assert reads_of(world, thread)  # it was read back, and left alone for its mark
    assert len(world.fake.sent_messages(thread)) == answers
    assert key(world, refused) not in await stored(world, ticket_id)


async def test_a_ticket_closed_beyond_the_reopen_window_is_not_read(world: World) -> None:
    long_closed, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    long_customer, long_staff = await threads_of(world, long_closed)
    await world.desk.set_status(staff_actor(world), long_closed, Status.CLOSED)
    world.clock.advance(days=8)  # past the 7-day reopen window
    just_closed, _ = await world.file_ticket(
        "Account", "Mailbox quota shows 0 bytes free",
        "The quota page says 0 bytes free since the plan upgrade yesterday.")
    just_customer, just_staff = await threads_of(world, just_closed)
    await world.desk.set_status(staff_actor(world), just_closed, Status.CLOSED)

    async with world.helpline_down():
        world.fake.add_message(long_customer, "This happened again today.")
        world.fake.add_message(just_customer, "The quota is wrong again after the fix.")

    report = await caught_up(world)
    await world.wait_in(just_staff, lambda s: "quota is wrong again" in s.message["content"])
    await world.drain()
    assert report.threads_read == 2
    assert not reads_of(world, long_customer) and not reads_of(world, long_staff)
    assert not sent_with(world, long_staff, "happened again")
    async with world.db.read() as session:
        statuses = {t.id: t.status for t in (await session.scalars(select(TicketRow))).all()}
    assert statuses == {long_closed: Status.CLOSED, just_closed: Status.OPEN}


async def test_a_rate_limited_read_waits_and_completes(world: World) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)

    async with world.helpline_down():
        world.fake.add_message(customer_thread, "Still no mail since this morning.")
        world.fake.fail_next("GET", f"/channels/{customer_thread}/messages", 429,
                             retry_after=0.2)

    await world.wait_in(staff_thread, lambda s: "Still no mail" in s.message["content"])
    report = await caught_up(world)
    limited, again = reads_of(world, customer_thread)
    assert (limited.status, again.status) == (429, 200)
    assert again.query == limited.query
    assert (report.threads_read, report.messages_recovered, report.threads_failed) == (2, 1, 0)


async def test_the_catch_up_does_not_hold_up_the_start_and_a_stop_cancels_it(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)

    async with world.helpline_down():
        world.fake.add_message(customer_thread, "Any news on this one?")
        held = world.fake.hang_next("GET", f"/channels/{customer_thread}/messages")

    # The start is over (the client is ready) while the catch-up's read is still held.
    await world.fake.wait_for(lambda c: c.path == f"/channels/{customer_thread}/messages",
                              method="GET", answered=False)
    interrupted = world.adapter.catching_up
    assert interrupted is not None and not interrupted.done()
    said = await world.fake.message_create(staff_thread, "Looking into it now.",
                                           author=world.staff)  # live messages are handled
    await world.wait_in(customer_thread, lambda s: "Looking into it now." in s.message["content"])
    await wait_marked(world, said, "✅")

    async with world.helpline_down():
        assert interrupted.cancelled()
        held.release()

    # What the stop cut short is read at the next start.
    await world.wait_in(staff_thread, lambda s: "Any news on this one?" in s.message["content"])
    assert (await caught_up(world)).messages_recovered == 1


async def test_a_new_gateway_session_that_replaced_an_expired_one_catches_up_too(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    customer_thread, staff_thread = await threads_of(world, ticket_id)
    at_start = world.adapter.catching_up
    await caught_up(world)
    identified = len(world.fake.identifies)

    # Written while the connection is away for longer than Discord keeps the session.
    missed = world.fake.add_message(customer_thread, "Written while the gateway was away.")
    world.fake.expire_sessions()
    await world.fake.drop_gateway()

    await world.fake.wait_sent(
        lambda s: int(s.message["channel_id"]) == staff_thread
        and "while the gateway was away" in s.message["content"], timeout=15)
    assert len(world.fake.identifies) == identified + 1  # not a resume: nothing was replayed
    assert world.adapter.catching_up is not at_start
    report = await caught_up(world)
    await world.drain()
    assert report.messages_recovered == 1
    assert len(sent_with(world, staff_thread, "while the gateway was away")) == 1
    assert key(world, missed) in await stored(world, ticket_id)


# ---- the fake ---------------------------------------------------------------------------------


async def test_fake_discord_lists_a_channel_as_get_channel_messages_does() -> None:
    async with FakeDiscord() as fake:
        member = fake.new_user("member")
        fake.add_guild(channels=[{"name": "general"}], members=[member])
        channel = fake.channel_id("general")
        ids = [int(fake.add_message(channel, f"message {n}", author=member)["id"])
               for n in range(6)]
        ephemeral = fake.add_message(channel, "only for you")
        ephemeral["flags"] = MESSAGE_FLAG_EPHEMERAL

        async def listed(**query: Any) -> tuple[int, Any]:
            async with aiohttp.ClientSession() as http, http.get(
                    f"{fake.rest_url}/channels/{channel}/messages",
                    params={k: str(v) for k, v in query.items()},
                    headers={"Authorization": f"Bot {fake.token}"}) as response:
                return response.status, await response.json()

        def ids_of(messages: list[JSON]) -> list[int]:
            return [int(m["id"]) for m in messages]

        status, newest = await listed()
        assert status == 200
        assert ids_of(newest) == ids[::-1]  # newest first; the ephemeral one is not listed
        assert not {"member", "guild_id"} & set(newest[0])  # gateway-only fields
        assert ids_of((await listed(limit=2))[1]) == [ids[5], ids[4]]
        # after: the oldest ones after it, still newest first
        assert ids_of((await listed(after=ids[1], limit=2))[1]) == [ids[3], ids[2]]
        assert ids_of((await listed(after=ids[5]))[1]) == []
        assert ids_of((await listed(before=ids[3], limit=2))[1]) == [ids[2], ids[1]]
        assert ids_of((await listed(around=ids[3], limit=3))[1]) == [ids[4], ids[3], ids[2]]
        for bad in ({"limit": 0}, {"limit": 101}, {"after": ids[0], "before": ids[5]}):
            assert (await listed(**bad))[0] == 400, bad
