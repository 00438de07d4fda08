"""Discord gateway resumes and replays: a client that reconnects mid-conversation misses
nothing, and events delivered twice (a RESUME replaying what was already handled, a form
submitted twice) never file a second ticket or relay a reply twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.storage.tables import DraftRow, TicketRow
from tests.adapters.discord_harness import World, running_world

SUBJECT = "Webhook deliveries stop after an hour"
MESSAGE = "Inbound webhooks for mycompany.com stop at 14:30 UTC every day; restarting helps."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


async def count(world: World, table: type[TicketRow] | type[DraftRow]) -> int:
    async with world.db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def test_events_sent_while_the_gateway_was_down_arrive_once_after_resume(
    world: World,
) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    await world.fake.drop_gateway()
    # Said while the bot is disconnected: the fake keeps it and replays it on RESUME.
    await world.fake.message_create(int(thread["id"]), "Written while you were offline.")
    await world.fake.wait_gateway_op(6)  # RESUME
    await world.wait_in(staff_thread, lambda s: "while you were offline" in s.message["content"])
    await world.fake.message_create(int(thread["id"]), "And after you came back.")
    await world.wait_in(staff_thread, lambda s: "after you came back" in s.message["content"])
    await world.drain()
    relayed = [s for s in world.fake.sent_messages(staff_thread)
               if "while you were offline" in s.message["content"]]
    assert len(relayed) == 1


async def test_a_form_submission_replayed_files_one_ticket(world: World) -> None:
    modal = await world.support_new("API")
    submit, answer = await world.submit(modal, SUBJECT, MESSAGE)
    assert "created" in answer["content"]
    # The same INTERACTION_CREATE again, as a replay after a reconnect would bring it.
    await world.fake.dispatch("INTERACTION_CREATE", submit.payload)
    await world.fake.message_create(int((await world.customer_thread(1))["id"]),
                                    "Thanks, one more detail for you.")
    staff_thread = int((await world.staff_thread(1))["id"])
    await world.wait_in(staff_thread, lambda s: "one more detail" in s.message["content"])
    await world.drain()
    # Handled again it would have filed a second ticket, or met the first one as a duplicate
    # and left a draft behind for the prompt.
    assert await count(world, TicketRow) == 1
    assert await count(world, DraftRow) == 0
