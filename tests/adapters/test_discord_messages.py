"""End to end: what crosses a ticket's threads on Discord — images judged by their bytes,
long text split without losing a character, mentions that never ping, internal notes that
never reach the customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.discord_harness import World, modal_inputs, png, running_world
from tests.fakes.discord_api import MESSAGE_FLAG_EPHEMERAL, SentMessage

SUBJECT = "Webhook deliveries stop after an hour"
MESSAGE = "Inbound webhooks for mycompany.com stop at 14:30 UTC every day; restarting helps."
NOT_AN_IMAGE = b"%PDF-1.7 this is an invoice, not a screenshot"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


# ---- images -------------------------------------------------------------------------------


async def test_image_from_the_command_option_is_filed_with_the_ticket(world: World) -> None:
    image = world.fake.add_attachment(png(), "screen.png", ephemeral=True)
    modal = await world.support_new("API", image=image)
    _, answer = await world.submit(modal, SUBJECT, MESSAGE)
    assert "created" in answer["content"]
    staff_thread = await world.staff_thread(1)

    relayed = await world.wait_in(int(staff_thread["id"]), lambda s: bool(s.files))
    assert [(f.filename, f.data) for f in relayed[0].files] == [("screen.png", png())]


async def test_image_from_the_form_upload_is_filed_with_the_ticket(world: World) -> None:
    upload = world.fake.add_attachment(png(colour="blue"), "upload.png", ephemeral=True)
    modal = await world.support_new("API")
    _, answer = await world.submit(modal, SUBJECT, MESSAGE, upload=upload)
    assert "created" in answer["content"]
    staff_thread = await world.staff_thread(1)

    relayed = await world.wait_in(int(staff_thread["id"]), lambda s: bool(s.files))
    assert relayed[0].files[0].data == png(colour="blue")


@pytest.mark.parametrize("via", ["command", "form"])
async def test_renamed_non_image_is_refused_and_the_form_keeps_the_text(
    world: World, via: str
) -> None:
    fake_png = world.fake.add_attachment(NOT_AN_IMAGE, "screenshot.png", "image/png",
                                         ephemeral=True)
    modal = await world.support_new("API", image=fake_png if via == "command" else None)
    _, answer = await world.submit(modal, SUBJECT, MESSAGE,
                                   upload=fake_png if via == "form" else None)

    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "Nothing was filed yet" in answer["content"]
    assert "'screenshot.png' is a PDF" in answer["content"]
    assert world.fake.threads() == []
    reopened = await world.fake.wait_callback(await world.click(answer, "Edit and resubmit"))
    inputs = modal_inputs(reopened)
    assert (inputs["subject"]["value"], inputs["message"]["value"]) == (SUBJECT, MESSAGE)


async def test_customer_reply_with_a_renamed_non_image_is_not_relayed(world: World) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    fake_png = world.fake.add_attachment(NOT_AN_IMAGE, "logs.png", "image/png",
                                         channel_id=int(thread["id"]))
    message = await world.fake.message_create(int(thread["id"]), "here are the logs",
                                              attachments=[fake_png])

    refusal = await world.wait_in(int(thread["id"]), lambda s: "wasn't sent" in
                                  s.message["content"])
    assert str(refusal[0].message["message_reference"]["message_id"]) == message["id"]
    await world.drain()
    staff_thread = await world.staff_thread(ticket_id)
    assert not [s for s in world.fake.sent_messages(int(staff_thread["id"]))
                if "here are the logs" in s.message["content"]]


async def test_a_replayed_message_event_is_relayed_once(world: World) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    said = await world.fake.message_create(int(thread["id"]), "Any news on this one?")
    await world.wait_in(staff_thread, lambda s: "Any news" in s.message["content"])
    # A gateway RESUME replays events the client may already have handled.
    await world.fake.dispatch("MESSAGE_CREATE", world.fake.message(int(said["id"])))
    await world.fake.message_create(int(thread["id"]), "And one more thing.")
    await world.wait_in(staff_thread, lambda s: "one more thing" in s.message["content"])
    await world.drain()

    relays = [s for s in world.fake.sent_messages(staff_thread)
              if "Any news" in s.message["content"]]
    assert len(relays) == 1


# ---- long text and mentions -----------------------------------------------------------------


async def test_a_5000_character_form_message_is_joined_and_a_staff_reply_arrives_whole(
    world: World,
) -> None:
    long_message = "".join(f"line {i:04d} of the report.\n" for i in range(400))[:4999] + "!"
    modal = await world.support_new("Technical")
    _, answer = await world.submit(modal, SUBJECT, long_message[:4000], more=long_message[4000:])
    assert "created" in answer["content"]
    thread = await world.customer_thread(1)
    staff_thread = await world.staff_thread(1)
    # The customer's 5000 characters reach staff whole, in three messages.
    await world.wait_in(int(staff_thread["id"]), lambda s: s.message["content"].startswith(
        "**Customer**"))
    await world.fake.wait_until(
        lambda: len(_joined(world, int(staff_thread["id"]), "**Customer**:\n")) >= 5000,
        "the whole message in the staff thread")
    assert _joined(world, int(staff_thread["id"]), "**Customer**:\n") == long_message

    reply = "".join(chr(0x41 + i % 26) for i in range(4990)) + " end."
    await world.fake.message_create(int(staff_thread["id"]), reply, author=world.staff)
    prefix = "**Sam** (support team):\n"
    await world.fake.wait_until(lambda: _joined(world, int(thread["id"]), prefix).endswith(" end."),
                                "the whole reply in the customer's thread")
    sent = world.fake.sent_messages(int(thread["id"]))
    parts = [s.message["content"] for s in sent[[s.message["content"].startswith(prefix)
                                                 for s in sent].index(True):]]
    assert len(parts) == 3
    assert all(len(part) <= 2000 for part in parts)
    assert "".join(parts) == prefix + reply


async def test_no_message_the_bot_sends_can_ping_anyone(world: World) -> None:
    ticket_id, thread = await world.file_ticket(
        "API", "@everyone webhooks stop <@&1>", f"Ping <@{world.staff['id']}> and @here please.")
    staff_thread = await world.staff_thread(ticket_id)
    await world.fake.message_create(int(staff_thread["id"]), "@everyone look <@1> <@&2>",
                                    author=world.staff)
    await world.wait_in(int(thread["id"]), lambda s: "@everyone look" in s.message["content"])
    await world.fake.message_create(int(thread["id"]), "@here thanks @everyone")
    await world.wait_in(int(staff_thread["id"]), lambda s: "@here thanks" in s.message["content"])

    sent = world.fake.sent_messages()
    assert len(sent) >= 6
    for message in sent:
        assert message.message["mention_everyone"] is False, message.message["content"]
        assert message.message["mentions"] == [] and message.message["mention_roles"] == []
        for body in [message.request, *message.edits]:
            if body.get("content") or body.get("embeds"):
                assert body["allowed_mentions"] == {"parse": []}, body


# ---- internal notes ---------------------------------------------------------------------------


async def test_note_prefix_keeps_a_staff_message_internal(world: World) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    note = await world.fake.message_create(staff_thread, "**Note:** refund is on hold",
                                           author=world.staff)
    await world.fake.wait_until(lambda: _reacted(world, int(note["id"]), "🔒"), "the lock mark")
    # A reply to the note continues the internal talk; a message addressed to a colleague too.
    reply = await world.fake.message_create(staff_thread, "agreed, wait for finance",
                                            author=world.staff, reply_to=note)
    await world.fake.wait_until(lambda: _reacted(world, int(reply["id"]), "🔒"),
                                "the lock mark on the reply to the note")
    addressed = await world.fake.message_create(staff_thread, f"<@{world.staff['id']}> check it",
                                                author=world.staff)
    await world.fake.wait_until(lambda: _reacted(world, int(addressed["id"]), "🔒"),
                                "the lock mark on the addressed message")
    public = await world.fake.message_create(staff_thread, "We are looking into it.",
                                             author=world.staff)
    await world.wait_in(int(thread["id"]), lambda s: "We are looking into it." in
                        s.message["content"])
    await world.fake.wait_until(lambda: _reacted(world, int(public["id"]), "✅"), "delivered")
    await world.drain()

    to_customer = " ".join(s.message["content"] for s in world.fake.sent_messages(int(thread["id"])))
    assert "refund" not in to_customer and "check it" not in to_customer
    assert "finance" not in to_customer
    detail = await world.desk.ticket_detail(ticket_id)
    notes = [m.body for m in detail.messages if m.kind == "note"]
    assert notes[0] == "refund is on hold"
    assert f"<@{world.staff['id']}> check it" in notes


async def test_internal_note_message_command_stores_a_note_from_a_form(world: World) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    relayed = (await world.wait_in(staff_thread, lambda s: MESSAGE in s.message["content"]))[0]
    command = await world.fake.message_context("Internal note", relayed.message,
                                               user=world.staff)
    modal = await world.fake.wait_callback(command)
    assert modal_inputs(modal)["note"]["value"].endswith(MESSAGE)
    submit = await world.fake.submit_modal(modal, {"note": "customer seems to be on old DNS"})
    answer = await world.fake.wait_response(submit)

    assert "Internal note added" in answer["content"]
    detail = await world.desk.ticket_detail(ticket_id)
    assert [m.body for m in detail.messages if m.kind == "note"] == [
        "customer seems to be on old DNS"]
    await world.drain()
    assert not [s for s in world.fake.sent_messages(int(thread["id"]))
                if "old DNS" in s.message["content"]]


async def test_only_the_staff_role_can_use_the_card_or_speak_for_the_desk(world: World) -> None:
    ticket_id, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    card = world.card_message(ticket_id)

    click = await world.click(card, "Close", user=world.outsider)
    answer = await world.fake.wait_response(click)
    assert "Only the support team" in answer["content"]
    await world.fake.message_create(staff_thread, "I am not staff but hi", author=world.outsider)
    await world.wait_in(staff_thread, lambda s: "was not sent" in s.message["content"])
    await world.drain()

    assert (await world.desk.card(ticket_id)).status == "Open"
    assert not [s for s in world.fake.sent_messages(int(thread["id"]))
                if "not staff" in s.message["content"]]


async def test_card_buttons_assign_and_recategorise_update_the_card_in_place(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    card = world.card_message(ticket_id)
    await world.fake.wait_response(await world.click(card, "Assign to me", user=world.staff))
    picker = await world.fake.wait_response(await world.click(card, "Category", user=world.staff))
    select = picker["components"][0]["components"][0]
    chosen = await world.fake.component(select["custom_id"], picker, component_type=3,
                                        values=["Technical"], user=world.staff)
    await world.fake.wait_response(chosen)

    await world.fake.wait_until(
        lambda: _fields(world, ticket_id).get("Category") == "Technical"
        and _fields(world, ticket_id).get("Assignee") == "Sam", "the card to show both changes")
    assert world.card_message(ticket_id)["id"] == card["id"]  # edited, not reposted


def _fields(world: World, ticket_id: int) -> dict[str, str]:
    return {f["name"]: f["value"] for f in world.card_message(ticket_id)["embeds"][0]["fields"]}


def _reacted(world: World, message_id: int, emoji: str) -> bool:
    return any(r["emoji"]["name"] == emoji and r["me"]
               for r in world.fake.message(message_id).get("reactions", []))


def _joined(world: World, channel_id: int, prefix: str) -> str:
    sent: list[SentMessage] = world.fake.sent_messages(channel_id)
    start = next((i for i, s in enumerate(sent) if s.message["content"].startswith(prefix)), None)
    if start is None:
        return ""
    text = str(sent[start].message["content"])[len(prefix):]
    for s in sent[start + 1:]:
        if s.message["content"].startswith(("**", "ℹ️")):
            break
        text += s.message["content"]
    return text
