"""End to end: replies written in ticket threads while Helpline was down are caught up on start.

Slack resends an event only a few times over about five minutes, so a reply written during a
longer outage never arrives as an event. Here Helpline is stopped, people write in the tickets'
threads in FakeSlack without any event being sent, and a new process starts on the same
database: its catch-up reads the threads back (conversations.replies) and handles each missed
reply as a live message would be handled, once.

Same harness as test_slack_conversation: real bolt app, FakeSlack, the real delivery worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from adapters.slack.catchup import CatchUpReport
from adapters.slack.handlers import NOT_STAFF
from core.models import Actor, Identity, MessageKind, Platform, Status
from core.storage.tables import MessageRow, TicketRow
from tests.adapters.slack_harness import (
    CUSTOMER,
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    ShiftableClock,
    Ticket,
    desk_config,
    message_event,
    running_desk,
    section_text,
)
from tests.fakes.slack_api import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Call, FakeSlack

NOT_STAFF_USER = "U0SALES"


async def caught_up(h: RunningDesk, timeout: float = 10.0) -> CatchUpReport:  # noqa: ASYNC109
    """Wait for the catch-up of the running process to finish; its report."""
    task = h.adapter.catching_up
    assert task is not None
    async with asyncio.timeout(timeout):
        return await asyncio.shield(task)


def written(h: RunningDesk, channel: str, thread_ts: str, text: str, *,
            user: str = CUSTOMER) -> dict[str, object]:
    """A person posts in a thread while Helpline is down: Slack stores it, no event arrives."""
    return h.slack.add_message(channel, text, user=user, thread_ts=thread_ts)


def posts(h: RunningDesk, channel: str, thread_ts: str, text: str) -> list[Call]:
    return [c for c in h.slack.calls("chat.postMessage")
            if c.ok and c.args.get("channel") == channel and c.args.get("thread_ts") == thread_ts
            and text in section_text(c.args)]


def replies_calls(h: RunningDesk, thread_ts: str) -> list[Call]:
    """The catch-up's reads of a thread (not the outbox's look for a post a stop interrupted,
    which asks for message metadata)."""
    return [c for c in h.slack.calls("conversations.replies") if c.args.get("ts") == thread_ts
            and "include_all_metadata" not in c.args]


async def stored(h: RunningDesk, ticket_id: int) -> list[MessageRow]:
    async with h.core.db.read() as session:
        return list((await session.scalars(
            select(MessageRow).where(MessageRow.ticket_id == ticket_id)
            .order_by(MessageRow.id))).all())


def key(h: RunningDesk, channel: str, message: dict[str, object]) -> str:
    return f"slack:{h.slack.team_id}:{channel}:{message['ts']}"


async def delivered(h: RunningDesk, channel: str, message: dict[str, object]) -> None:
    """Wait for the ✓ Helpline puts on a person's message once it reached the other side."""
    await h.slack.wait_for(
        "reactions.add", lambda c: c.ok and c.args.get("channel") == channel
        and c.args.get("timestamp") == message["ts"] and c.args.get("name") == "white_check_mark")


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket_mode"])
async def test_replies_written_while_helpline_was_down_are_relayed_once_on_start(
    tmp_path: Path, socket_mode: bool,
) -> None:
    async with running_desk(tmp_path, socket_mode=socket_mode) as h:
        ticket = await h.file_ticket()

        async with h.helpline_down():
            from_customer = written(h, ticket.dm_channel, ticket.customer_thread,
                                    "The credit note still shows the old VAT number.")
            from_staff = written(h, STAFF_CHANNEL, ticket.card_ts,
                                 "We have reissued the credit note, please check again.",
                                 user=STAFF_USER)

        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "credit note still shows")
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "reissued the credit note")
        await delivered(h, ticket.dm_channel, from_customer)
        await delivered(h, STAFF_CHANNEL, from_staff)
        report = await caught_up(h)
        await h.drain()
        assert (report.threads_read, report.messages_recovered, report.threads_failed) == (2, 2, 0)
        assert len(posts(h, STAFF_CHANNEL, ticket.card_ts, "credit note still shows")) == 1
        assert len(posts(h, ticket.dm_channel, ticket.customer_thread, "reissued")) == 1
        rows = {r.source_key: r.kind for r in await stored(h, ticket.id)}
        assert rows[key(h, ticket.dm_channel, from_customer)] == MessageKind.CUSTOMER
        assert rows[key(h, STAFF_CHANNEL, from_staff)] == MessageKind.STAFF


async def test_a_reply_already_handled_is_not_relayed_again(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        before = await h.say(ticket.dm_channel, "My account number is 4471-B.", user=CUSTOMER,
                             thread_ts=ticket.customer_thread)
        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "4471-B")
        await delivered(h, ticket.dm_channel, before)

        async with h.helpline_down():
            late = written(h, ticket.dm_channel, ticket.customer_thread,
                           "The second invoice is affected too.")
            h.slack.hang_next("conversations.replies")  # the catch-up's first read waits

        # Slack's last resend of the message arrives while the catch-up is reading its thread.
        [reading] = await h.slack.wait_for("conversations.replies")
        assert reading.args["ts"] == ticket.customer_thread
        resent = await h.requester.event(
            message_event(str(late["text"]), channel=ticket.dm_channel, user=CUSTOMER,
                          ts=str(late["ts"]), thread_ts=ticket.customer_thread),
            retry_num=3, retry_reason="http_timeout")
        assert resent.status == 200, resent.text
        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "second invoice")
        h.slack.release()

        report = await caught_up(h)
        await h.drain()
        assert report.messages_recovered == 1  # read back, and known to core
        assert len(posts(h, STAFF_CHANNEL, ticket.card_ts, "second invoice")) == 1
        assert len(posts(h, STAFF_CHANNEL, ticket.card_ts, "4471-B")) == 1
        assert reading.args["oldest"] == before["ts"]  # read on from the last recorded reply
        keys = [r.source_key for r in await stored(h, ticket.id)]
        assert keys.count(key(h, ticket.dm_channel, late)) == 1


async def test_a_note_written_while_down_stays_internal_and_a_non_staff_remark_is_refused(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        async with h.helpline_down():
            aside = written(h, STAFF_CHANNEL, ticket.card_ts,
                            "Is this the customer from yesterday's call?", user=NOT_STAFF_USER)
            answer = written(h, STAFF_CHANNEL, ticket.card_ts,
                             "Your invoice has been corrected.", user=STAFF_USER)
            note = written(h, STAFF_CHANNEL, ticket.card_ts,
                           "note: refund approved by finance, not announced yet",
                           user=STAFF_USER)

        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "invoice has been corrected")
        await delivered(h, STAFF_CHANNEL, answer)
        [refused] = await h.slack.wait_for(
            "chat.postEphemeral", lambda c: c.args.get("user") == NOT_STAFF_USER)
        assert refused.args["thread_ts"] == ticket.card_ts
        assert refused.args["text"] == NOT_STAFF
        await h.slack.wait_for(
            "reactions.add", lambda c: c.ok and c.args.get("timestamp") == note["ts"]
            and c.args.get("name") == "lock")
        await caught_up(h)
        await h.drain()
        for said in ("refund approved", "yesterday's call"):
            assert not posts(h, ticket.dm_channel, ticket.customer_thread, said)
        rows = {r.source_key: r for r in await stored(h, ticket.id)}
        assert rows[key(h, STAFF_CHANNEL, note)].kind == MessageKind.NOTE
        assert "refund approved" in rows[key(h, STAFF_CHANNEL, note)].body
        assert rows[key(h, STAFF_CHANNEL, answer)].kind == MessageKind.STAFF
        assert key(h, STAFF_CHANNEL, aside) not in rows

        # Another start finds nothing new: the reply is recorded, the note marked internal.
        async with h.helpline_down():
            h.slack.clear_calls()
        report = await caught_up(h)
        await h.drain()
        assert (report.threads_read, report.messages_recovered) == (2, 0)
        assert not h.slack.calls("reactions.add") and not h.slack.calls("chat.postEphemeral")


async def test_a_long_thread_is_read_page_by_page_and_relayed_in_the_order_written(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, replies_max_limit=2) as h:
        ticket = await h.file_ticket()

        async with h.helpline_down():
            for n in range(1, 6):
                written(h, ticket.dm_channel, ticket.customer_thread,
                        f"Update {n}: the mailbox is still rejecting mail.")

        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Update 5")
        report = await caught_up(h)
        await h.drain()
        relayed = [section_text(c.args) for c in posts(h, STAFF_CHANNEL, ticket.card_ts,
                                                        "the mailbox is still rejecting")]
        assert [r.split(":")[0] for r in relayed] == [f"Update {n}" for n in range(1, 6)]
        pages = replies_calls(h, ticket.customer_thread)
        assert len(pages) == 3
        assert "cursor" not in pages[0].args
        assert all(p.args.get("cursor") for p in pages[1:])
        assert report.messages_recovered == 5


async def test_a_rate_limited_read_waits_for_retry_after_and_completes(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        async with h.helpline_down():
            written(h, ticket.dm_channel, ticket.customer_thread,
                    "Still no mail since this morning.")
            h.slack.fail_next("conversations.replies", 429, retry_after=1)

        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Still no mail")
        report = await caught_up(h)
        limited, again = replies_calls(h, ticket.customer_thread)
        assert (limited.outcome, again.outcome) == ("http:429", "ok")
        assert again.args == limited.args
        assert (report.threads_read, report.messages_recovered, report.threads_failed) == (2, 1, 0)


async def test_a_ticket_closed_beyond_the_reopen_window_is_not_read(tmp_path: Path) -> None:
    clock = ShiftableClock()
    async with running_desk(tmp_path, clock=clock) as h:
        staff = Actor(identity=Identity(platform=Platform.SLACK, workspace=h.slack.team_id,
                                        user_id=STAFF_USER), is_staff=True)
        long_closed = await h.file_ticket()
        await h.core.desk.set_status(staff, long_closed.id, Status.CLOSED)
        clock.offset += timedelta(days=8)  # past the 7-day reopen window
        just_closed = await h.file_ticket(subject="Mailbox quota shows 0 bytes free")
        await h.core.desk.set_status(staff, just_closed.id, Status.CLOSED)

        async with h.helpline_down():
            written(h, long_closed.dm_channel, long_closed.customer_thread,
                    "This happened again today.")
            written(h, just_closed.dm_channel, just_closed.customer_thread,
                    "The quota is wrong again after the fix.")

        report = await caught_up(h)
        await h.wait_post(STAFF_CHANNEL, just_closed.card_ts, "quota is wrong again")
        await h.drain()
        assert report.threads_read == 2
        for thread_ts in (long_closed.customer_thread, long_closed.card_ts):
            assert not replies_calls(h, thread_ts)
        assert not posts(h, STAFF_CHANNEL, long_closed.card_ts, "happened again")
        async with h.core.db.read() as session:
            statuses = {t.id: t.status for t in (await session.scalars(select(TicketRow))).all()}
        assert statuses == {long_closed.id: Status.CLOSED, just_closed.id: Status.OPEN}


async def test_the_catch_up_does_not_hold_up_the_start_and_a_stop_cancels_it(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        async with h.helpline_down():
            written(h, ticket.dm_channel, ticket.customer_thread, "Any news on this one?")
            h.slack.hang_next("conversations.replies")

        await h.slack.wait_for("conversations.replies")
        interrupted = h.adapter.catching_up
        assert interrupted is not None and not interrupted.done()
        said = await h.say(STAFF_CHANNEL, "Looking into it now.", user=STAFF_USER,
                           thread_ts=ticket.card_ts)  # live events are handled meanwhile
        await delivered(h, STAFF_CHANNEL, said)

        async with h.helpline_down():
            assert interrupted.cancelled()

        # What the stop cut short is read at the next start.
        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Any news on this one?")
        assert (await caught_up(h)).messages_recovered == 1


async def test_each_workspace_is_read_with_its_own_bot_token(tmp_path: Path) -> None:
    config = desk_config(default_channel=f"slack:T0HELPLINE:{STAFF_CHANNEL}")
    settings = {"slack_bot_token": None, "slack_client_id": DEFAULT_CLIENT_ID,
                "slack_client_secret": DEFAULT_CLIENT_SECRET}
    async with running_desk(tmp_path, config, settings=settings, bot_token=None) as h:
        await h.install_workspace()
        ticket: Ticket = await h.file_ticket()

        async with h.helpline_down():
            written(h, ticket.dm_channel, ticket.customer_thread, "Is there an update?")

        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Is there an update?")
        await caught_up(h)
        reads = h.slack.calls("conversations.replies")
        assert reads and {c.token for c in reads} == {"xoxb-acme-workspace"}


async def test_fake_slack_pages_and_bounds_a_thread_as_conversations_replies_does() -> None:
    async with FakeSlack(replies_max_limit=3) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
        root = slack.add_message(STAFF_CHANNEL, "Ticket #1")
        replies = [slack.add_message(STAFF_CHANNEL, f"reply {n}", thread_ts=root["ts"])
                   for n in range(5)]

        async def texts(**args: object) -> tuple[list[str], bool, str]:
            page = await client.conversations_replies(channel=STAFF_CHANNEL, ts=root["ts"],
                                                      **args)
            return ([m["text"] for m in page["messages"]], page["has_more"],
                    page["response_metadata"]["next_cursor"])

        first, more, cursor = await texts(limit=100)  # capped at replies_max_limit
        assert (first, more) == (["Ticket #1", "reply 0", "reply 1"], True)
        assert await texts(cursor=cursor) == (["reply 2", "reply 3", "reply 4"], False, "")
        assert (await texts(oldest=replies[2]["ts"]))[0] == ["Ticket #1", "reply 3", "reply 4"]
        assert (await texts(oldest=replies[2]["ts"], inclusive=True))[0] == [
            "Ticket #1", "reply 2", "reply 3"]
        assert (await texts(oldest=replies[0]["ts"], latest=replies[2]["ts"]))[0] == [
            "Ticket #1", "reply 1"]
        with pytest.raises(SlackApiError) as refused:
            await texts(cursor="not-a-cursor")
        assert refused.value.response["error"] == "invalid_cursor"


async def test_a_message_refused_live_is_not_refused_again_at_the_next_start(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        aside = await h.say(STAFF_CHANNEL, "Is this the customer from yesterday's call?",
                            user=NOT_STAFF_USER, thread_ts=ticket.card_ts)
        await h.slack.wait_for("chat.postEphemeral",
                               lambda c: c.args.get("user") == NOT_STAFF_USER)
        await h.slack.wait_for(  # marked: not passed on
            "reactions.add", lambda c: c.ok and c.args.get("timestamp") == aside["ts"]
            and c.args.get("name") == "warning")

        async with h.helpline_down():  # the remark is still the thread's last message
            h.slack.clear_calls()
        report = await caught_up(h)
        await h.drain()

        assert report.messages_recovered == 0
        assert not h.slack.calls("chat.postEphemeral")
