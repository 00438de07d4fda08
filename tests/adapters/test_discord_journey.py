"""End to end: the real discord.py client and Helpline's Discord adapter against FakeDiscord,
a customer filing a ticket and the support team answering it, all in one guild."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.models import Status
from tests.adapters.discord_harness import World, modal_inputs, png, running_world
from tests.fakes.discord_api import (
    CALLBACK_MODAL,
    CHANNEL_PRIVATE_THREAD,
    COMPONENT_FILE_UPLOAD,
    COMPONENT_LABEL,
    COMPONENT_TEXT_INPUT,
    MESSAGE_FLAG_EPHEMERAL,
)

SUBJECT = "Emails from mycompany.com bounce with 550"
MESSAGE = ("Since yesterday every message to gmail bounces with 550 5.7.1. Domain mycompany.com, "
           "mailbox alice@mycompany.com.")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


async def test_support_new_opens_the_form_at_once_with_the_guides_limits(world: World) -> None:
    modal = await world.support_new("Technical")

    assert modal.type == CALLBACK_MODAL
    assert [c["type"] for c in modal.data["components"]][-4:] == [COMPONENT_LABEL] * 4
    inputs = modal_inputs(modal)
    assert inputs["subject"]["type"] == COMPONENT_TEXT_INPUT
    assert (inputs["subject"]["min_length"], inputs["subject"]["max_length"]) == (4, 150)
    assert (inputs["message"]["min_length"], inputs["message"]["max_length"]) == (5, 4000)
    assert inputs["message_more"]["max_length"] == 1000
    assert inputs["message_more"]["required"] is False
    assert inputs["image"]["type"] == COMPONENT_FILE_UPLOAD
    # The modal is the first and only answer to the command: nothing was deferred before it.
    assert [c.type for c in world.fake.callbacks] == [CALLBACK_MODAL]


async def test_the_whole_journey_from_form_to_close(world: World) -> None:
    fake = world.fake
    # A first ticket about the same problem, so the second one meets the duplicate prompt.
    first_id, _ = await world.file_ticket("Deliverability", SUBJECT, MESSAGE)

    # The form is submitted with a password in it: refused, and what was typed is kept.
    modal = await world.support_new("Deliverability")
    typed = "My emails are going to spam at Gmail. Domain mycompany.com. password: hunter2hunter2"
    _, refused = await world.submit(modal, SUBJECT + " again", typed)
    assert refused["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "Nothing was filed yet" in refused["content"]
    assert "password" in refused["content"]
    reopen = await world.click(refused, "Edit and resubmit")
    reopened = await fake.wait_callback(reopen)
    assert reopened.type == CALLBACK_MODAL
    inputs = modal_inputs(reopened)
    assert inputs["subject"]["value"] == SUBJECT + " again"
    assert inputs["message"]["value"] == typed
    assert inputs["category"]["options"][3]["default"] is True  # Deliverability, kept

    # Fixed: now the duplicate prompt, then the self-service offer, then filed anyway.
    fixed = "My emails are going to spam at Gmail and some bounce. Domain mycompany.com"
    _, prompt = await world.submit(reopened, SUBJECT + " again", fixed, category="Deliverability")
    assert "Looks like you have an open ticket about this" in prompt["content"]
    click = await world.click(prompt, "Create a new ticket")
    offer = await fake.wait_response(click)
    assert offer["id"] == prompt["id"]  # the prompt was edited in place
    assert "Emails going to spam" in offer["content"]
    click = await world.click(offer, "File the ticket anyway")
    created = await fake.wait_response(click)
    assert "created" in created["content"]
    assert f"<#{world.support_channel}>" in created["content"]
    assert created["components"] == []  # no button left to click twice
    ticket_id = first_id + 1

    # A private thread for the customer in the support channel, with the customer added.
    thread = await world.customer_thread(ticket_id)
    assert thread["type"] == CHANNEL_PRIVATE_THREAD
    assert thread["parent_id"] == str(world.support_channel)
    assert thread["thread_metadata"]["invitable"] is False
    opened = await world.wait_in(int(thread["id"]), lambda s: f"#{ticket_id}" in
                                 s.message["content"])
    assert "Status: Open" in opened[0].message["content"]
    await fake.wait_until(lambda: int(world.customer["id"]) in fake.thread_members(
        int(thread["id"])), "the customer added to the thread")

    # The card in the staff channel, its thread, and the customer's message relayed there.
    staff_thread = await world.staff_thread(ticket_id)
    assert staff_thread["parent_id"] == str(world.staff_channel)
    card = world.card_message(ticket_id)
    assert {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}["Status"] == "Open"
    relayed = await world.wait_in(int(staff_thread["id"]), lambda s: fixed in s.message["content"])
    assert relayed[0].message["content"].startswith("**Customer**:")

    # Staff answer in the staff thread: relayed to the customer's thread, ✅ on delivery.
    answer = await fake.message_create(int(staff_thread["id"]), "Please send the bounce headers.",
                                       author=world.staff)
    await world.wait_in(int(thread["id"]),
                        lambda s: "Please send the bounce headers." in s.message["content"])
    await fake.wait_until(lambda: _reacted(fake.message(int(answer["id"])), "✅"),
                          "the delivered mark on the staff message")
    await fake.wait_until(lambda: _card_status(world, ticket_id) == Status.WAITING_ON_CUSTOMER,
                          "the card showing Waiting on customer")

    # The customer answers in their thread, with an image: relayed to staff with the image.
    photo = fake.add_attachment(png(), "headers.png", channel_id=int(thread["id"]))
    reply = await fake.message_create(int(thread["id"]), "Here are the headers you asked for.",
                                      attachments=[photo])
    relayed_reply = await world.wait_in(
        int(staff_thread["id"]), lambda s: "Here are the headers" in s.message["content"])
    assert [f.data for f in relayed_reply[0].files] == [png()]
    await fake.wait_until(lambda: _reacted(fake.message(int(reply["id"])), "✅"),
                          "the delivered mark on the customer's message")
    await fake.wait_until(lambda: _card_status(world, ticket_id) == Status.OPEN,
                          "the card back at Open")

    # Staff close it from the card: the card changes in place and the customer is told.
    close = await world.click(card, "Close", user=world.staff)
    done = await fake.wait_response(close)
    assert "closed" in done["content"]
    await fake.wait_until(lambda: _card_status(world, ticket_id) == Status.CLOSED,
                          "the card showing Closed")
    await world.wait_in(int(thread["id"]), lambda s: "is now closed" in s.message["content"])
    # The thread kept its name: status lives in the card, not in channel or thread names.
    assert fake.channel(int(thread["id"]))["name"] == thread["name"]
    assert not fake.calls("PATCH", f"/channels/{thread['id']}")


def _reacted(message: dict[str, object], emoji: str) -> bool:
    reactions = message.get("reactions") or []
    assert isinstance(reactions, list)
    return any(r["emoji"]["name"] == emoji and r["me"] for r in reactions)


def _card_status(world: World, ticket_id: int) -> Status:
    card = world.card_message(ticket_id)
    fields = {f["name"]: f["value"] for f in card["embeds"][0]["fields"]}
    return Status(fields["Status"])
