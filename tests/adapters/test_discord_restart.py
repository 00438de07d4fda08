"""End to end: Helpline's Discord forms across a restart. A form lives in the customer's Discord
client, not in Helpline, so one opened before a deploy (or left open for long) is submitted to a
process that never saw it opened. With the real discord.py client against FakeDiscord, the
Discord adapter is stopped and a new one started on the same database while the form is open;
what was typed must be filed exactly once, and what could not be kept must be asked for again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.discord.formdata import (
    HeldImage,
    NoteFormId,
    RatingFormId,
    SnippetFormId,
    TicketFormId,
    parse_form_id,
)
from core.models import Category, MessageKind
from tests.adapters.discord_harness import World, modal_inputs, png, running_world
from tests.fakes.discord_api import (
    CALLBACK_MODAL,
    JSON,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    Call,
    SentInteraction,
)

SUBJECT = "Webhook signatures fail verification"
MESSAGE = "Every webhook from the API fails our HMAC check since Monday 09:00 UTC."
LONG_MESSAGE = "".join(f"line {i:04d} of the webhook log.\n" for i in range(200))[:4599] + "!"
NOT_AN_IMAGE = b"%PDF-1.7 this is an invoice, not a screenshot"
NOT_KEPT = "The image you chose was not kept"
ATTACH_AGAIN = "attach it as a reply in your ticket thread"
EXPIRED = "This form has expired"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


# ---- observing ------------------------------------------------------------------------------


def created_id(answer: JSON) -> int:
    """The number of the ticket a "created" answer announces."""
    found = re.search(r"Ticket #(\d+) created", answer["content"])
    assert found is not None, answer["content"]
    return int(found[1])


def callback_calls(world: World, sent: SentInteraction) -> list[Call]:
    """Every attempt to answer an interaction (a second answer is refused, but recorded)."""
    return world.fake.calls("POST", f"/interactions/{sent.id}/")


def follow_up_calls(world: World, sent: SentInteraction) -> list[Call]:
    return world.fake.calls("POST", f"/webhooks/{world.fake.application_id}/{sent.token}")


def answers_to(world: World, sent: SentInteraction) -> list[JSON]:
    """The messages that answer an interaction, once filled in."""
    return [s.message for s in world.fake.sent_messages()
            if (s.message.get("interaction_metadata") or {}).get("id") == str(sent.id)
            and not s.message["flags"] & MESSAGE_FLAG_LOADING]


async def still_answers(world: World) -> None:
    """The bot answers a command sent after everything before it: the gateway delivers events
    in order, so whatever the bot started for those, it has started."""
    help_answer = await world.answer("help")
    assert "how support works" in help_answer["embeds"][0]["title"]


# ---- what a form's id carries -----------------------------------------------------------------


@pytest.mark.parametrize("form", [
    TicketFormId(10**20 - 1, Category.DELIVERABILITY, 10**18 - 1, HeldImage.EARLIER),
    TicketFormId(1, None, None),
    NoteFormId(10**20 - 1),
    SnippetFormId("x" * 64),
    RatingFormId(10**18 - 1, 10**18 - 1),
])
def test_a_form_id_carries_what_its_form_needs_within_discords_limit(
    form: TicketFormId | NoteFormId | SnippetFormId | RatingFormId,
) -> None:
    assert len(form.custom_id) <= 100
    assert parse_form_id(form.custom_id) == form


@pytest.mark.parametrize("custom_id", [
    "", "helpline-form:", "helpline-form:ticket:1:Refunds:0:0", "helpline-form:ticket:1:API:0:x",
    "helpline-form:ticket:1:API:" + "9" * 19 + ":0", "helpline-form:note:abc",
    "helpline-form:rating:1", "helpline-form:snippet:a b", "helpline-form:snippet:" + "x" * 90,
    "helpline:rate-comment:1:1", 12345, None,
])
def test_ids_helpline_never_makes_are_no_form(custom_id: object) -> None:
    assert parse_form_id(custom_id) is None


# ---- the new-ticket form ----------------------------------------------------------------------


@pytest.mark.parametrize("opened_from", ["the command", "the Support Center"])
async def test_a_form_open_across_a_restart_files_the_ticket_as_typed_once(
    world: World, opened_from: str,
) -> None:
    if opened_from == "the command":
        modal = await world.support_new("API")
        category = None  # fixed by the command: the form has no category input
    else:
        center = await world.answer("center")
        modal = await world.fake.wait_callback(await world.click(center, "New ticket"))
        category = "API"
    await world.restart()

    submit, answer = await world.submit(modal, SUBJECT, LONG_MESSAGE[:4000],
                                        more=LONG_MESSAGE[4000:], category=category)
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    ticket_id = created_id(answer)
    card = await world.desk.card(ticket_id)
    assert (card.subject, card.category) == (SUBJECT, Category.API)
    assert (await world.desk.ticket_detail(ticket_id)).messages[0].body == LONG_MESSAGE
    await still_answers(world)
    assert await world.desk.count_tickets() == 1
    assert len(callback_calls(world, submit)) == 1
    assert len(follow_up_calls(world, submit)) == 1
    # The ticket's threads are opened by the new process as usual.
    await world.customer_thread(ticket_id)


async def test_a_follow_up_form_open_across_a_restart_still_links_the_earlier_ticket(
    world: World,
) -> None:
    first, thread = await world.file_ticket("API", SUBJECT, MESSAGE)
    await world.fake.wait_response(
        await world.click(world.card_message(first), "Close", user=world.staff))
    world.clock.advance(days=world.config.reopen_window_days + 1)
    await world.fake.message_create(int(thread["id"]), "It is failing again since today.")
    offer = (await world.wait_in(int(thread["id"]), lambda s: bool(s.message["components"])
                                 and "Open a new ticket" in str(s.message["components"])))[0]
    modal = await world.fake.wait_callback(
        await world.click(world.fake.message(offer.id), "Open a new ticket"))
    await world.restart()

    _, answer = await world.submit(modal, "Webhook signatures fail again",
                                   "The HMAC check fails again for every webhook since today.",
                                   category="API")
    assert (await world.desk.card(created_id(answer))).follows_ticket_id == first


@pytest.mark.parametrize("also_uploaded", [False, True])
async def test_an_image_given_with_the_command_is_asked_for_again_after_a_restart(
    world: World, also_uploaded: bool,
) -> None:
    image = world.fake.add_attachment(png(), "screen.png", ephemeral=True)
    modal = await world.support_new("API", image=image)
    await world.restart()

    upload = world.fake.add_attachment(png(colour="blue"), "upload.png", ephemeral=True)
    _, answer = await world.submit(modal, SUBJECT, MESSAGE,
                                   upload=upload if also_uploaded else None)
    ticket_id = created_id(answer)
    detail = await world.desk.ticket_detail(ticket_id)
    assert detail.messages[0].body == MESSAGE
    assert await world.desk.count_tickets() == 1
    if also_uploaded:
        # The form's own upload came with the submit: it is filed, and the other one asked for.
        assert [a.filename for a in detail.attachments] == ["upload.png"]
        assert "You attached two images" in answer["content"]
    else:
        assert detail.attachments == []
        assert NOT_KEPT in answer["content"] and ATTACH_AGAIN in answer["content"]


async def test_a_live_form_is_handled_once_with_its_command_image(world: World) -> None:
    image = world.fake.add_attachment(png(), "screen.png", ephemeral=True)
    modal = await world.support_new("API", image=image)

    submit, answer = await world.submit(modal, SUBJECT, MESSAGE)
    ticket_id = created_id(answer)
    assert NOT_KEPT not in answer["content"]
    detail = await world.desk.ticket_detail(ticket_id)
    assert [a.filename for a in detail.attachments] == ["screen.png"]
    await still_answers(world)
    assert await world.desk.count_tickets() == 1
    assert len(callback_calls(world, submit)) == 1
    assert len(follow_up_calls(world, submit)) == 1
    assert len(answers_to(world, submit)) == 1


async def test_an_image_held_for_one_customers_form_never_reaches_another(world: World) -> None:
    image = world.fake.add_attachment(png(), "screen.png", ephemeral=True)
    modal = await world.support_new("API", image=image)

    submit = await world.fake.submit_modal(
        modal, {"subject": SUBJECT, "message": MESSAGE}, user=world.outsider)
    answer = await world.fake.wait_response(submit)
    ticket_id = created_id(answer)
    assert (await world.desk.card(ticket_id)).customer == "Mallory"
    assert (await world.desk.ticket_detail(ticket_id)).attachments == []
    assert NOT_KEPT in answer["content"]


@pytest.mark.parametrize("restarted", [False, True])
async def test_an_image_kept_from_a_refused_try_is_filed_or_asked_for_again(
    world: World, restarted: bool,
) -> None:
    upload = world.fake.add_attachment(png(), "screen.png", ephemeral=True)
    modal = await world.support_new("API")
    _, refused = await world.submit(modal, SUBJECT, "It fails. password: hunter2hunter2",
                                    upload=upload)
    assert "Nothing was filed yet" in refused["content"]
    reopened = await world.fake.wait_callback(await world.click(refused, "Edit and resubmit"))
    assert reopened.type == CALLBACK_MODAL
    if restarted:
        await world.restart()

    _, answer = await world.submit(reopened, SUBJECT, MESSAGE, category="API")
    detail = await world.desk.ticket_detail(created_id(answer))
    if restarted:
        assert detail.attachments == []
        assert NOT_KEPT in answer["content"] and ATTACH_AGAIN in answer["content"]
    else:
        assert [a.filename for a in detail.attachments] == ["screen.png"]
        assert NOT_KEPT not in answer["content"]


# ---- Edit and resubmit ------------------------------------------------------------------------


async def test_edit_and_resubmit_after_a_restart_says_the_form_expired_and_offers_a_new_one(
    world: World,
) -> None:
    not_an_image = world.fake.add_attachment(NOT_AN_IMAGE, "screenshot.png", "image/png",
                                             ephemeral=True)
    modal = await world.support_new("API")
    _, refused = await world.submit(modal, SUBJECT, MESSAGE, upload=not_an_image)
    assert "Nothing was filed yet" in refused["content"]
    await world.restart()

    click = await world.click(refused, "Edit and resubmit")
    answer = await world.fake.wait_response(click)
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert EXPIRED in answer["content"] and "nothing was filed" in answer["content"]
    assert [c.type for c in world.fake.callbacks if c.interaction is click] != [CALLBACK_MODAL]
    assert await world.desk.count_tickets() == 0
    # What to do next is one click away: a fresh form.
    fresh = await world.fake.wait_callback(await world.click(answer, "New ticket"))
    assert fresh.type == CALLBACK_MODAL
    assert "value" not in modal_inputs(fresh)["subject"]


# ---- the staff's and the customer's other forms ----------------------------------------------


async def test_an_internal_note_form_open_across_a_restart_is_stored(world: World) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    relayed = (await world.wait_in(staff_thread, lambda s: MESSAGE in s.message["content"]))[0]
    form = await world.fake.wait_callback(await world.fake.message_context(
        "Internal note", relayed.message, user=world.staff))
    await world.restart()

    note = "Customer is still on the legacy webhook signer; check with the API team."
    submit = await world.fake.submit_modal(form, {"note": note}, user=world.staff)
    answer = await world.fake.wait_response(submit)
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert f"Internal note added to #{ticket_id}" in answer["content"]
    detail = await world.desk.ticket_detail(ticket_id)
    assert [m.body for m in detail.messages if m.kind is MessageKind.NOTE] == [note]


async def test_a_rating_form_open_across_a_restart_records_the_rating(world: World) -> None:
    ticket_id, request = await world.closed_with_rating_request(SUBJECT, MESSAGE)
    form = await world.fake.wait_callback(await world.click(request, "Rate with a comment…"))
    await world.restart()

    submit = await world.fake.submit_modal(form, {"score": ["4"], "comment": "Quick and clear."})
    answer = await world.fake.wait_response(submit)
    assert answer["content"] == f"Thanks for rating ticket #{ticket_id}: 4/5."
    card = await world.desk.card(ticket_id)
    assert (card.rating, card.rating_comment) == (4, "Quick and clear.")
    await world.fake.wait_until(lambda: not world.fake.message(int(request["id"]))["components"],
                                "the rating buttons taken off")


async def test_a_snippet_form_open_across_a_restart_saves_the_snippet(world: World) -> None:
    form = await world.fake.wait_callback(
        await world.command("snippet add", {"name": "Webhooks"}, user=world.staff))
    await world.restart()

    body = "Hi {customer}, the webhook signer was updated; please retry. — {agent}"
    answer = await world.fake.wait_response(
        await world.fake.submit_modal(form, {"body": body}, user=world.staff))
    assert "Saved the snippet `webhooks`" in answer["content"]
    assert await world.desk.snippets() == [("webhooks", body)]


async def test_a_snippet_name_no_form_can_carry_is_refused_before_the_form(world: World) -> None:
    sent = await world.command("snippet add", {"name": "n" * 90}, user=world.staff)
    answer = await world.fake.wait_response(sent)
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "A snippet name is one short word" in answer["content"]
    assert [c.type for c in world.fake.callbacks if c.interaction is sent] != [CALLBACK_MODAL]
    assert await world.desk.snippets() == []
