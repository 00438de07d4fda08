"""Hostile and malformed Discord interactions, dispatched through FakeDiscord's gateway to the
real discord.py client running Helpline: forged and mistyped form submits, buttons that name
someone else's ticket, commands unlike their definitions, and mention injection. Each gets a
clear ephemeral answer (or, where Discord itself would never send it, is ignored), stores
nothing half, and changes nothing of another customer or another account."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.discord.handlers import NOT_A_CHOICE, STAFF_ONLY, STALE_BUTTON, UNKNOWN_COMMAND
from core.config import AccountConfig, DeskConfig
from core.models import Plan
from core.storage.tables import (
    AttachmentRow,
    DraftRow,
    EventRow,
    IncidentRow,
    MessageRow,
    OutboxRow,
    RatingRow,
    SnippetRow,
    TicketRow,
)
from core.views import TicketDetail
from tests.adapters.discord_harness import World, button_id, modal_inputs, running_world
from tests.fakes.discord_api import (
    CALLBACK_MODAL,
    COMPONENT_BUTTON,
    COMPONENT_LABEL,
    COMPONENT_TEXT_INPUT,
    JSON,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    FakeDiscord,
    InteractionCallback,
    SentInteraction,
)

COMPONENT_STRING_SELECT = 3
TEXT_INPUT_MAX = 4000  # Discord's own limit for a text input's value
SUBJECT = "Webhook signatures fail verification"
MESSAGE = "Every webhook from the API fails our HMAC check since Monday."
UNEXPECTED = "Something went wrong on our side"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


@dataclass
class OtherServer:
    """A second server the bot is in, owned by another account. The customer is a member there
    too (as a different customer of a different account), and so is a rival whose role there
    is named after the staff role's id."""

    guild_id: int = 0
    rival: JSON = field(default_factory=dict)

    def setup(self, fake: FakeDiscord, ids: dict[str, int]) -> None:
        lookalike = fake.new_id()
        self.rival = fake.new_user("rival")
        guild = fake.add_guild(
            name="Other Co", channels=[{"name": "lobby"}],
            roles=[{"id": lookalike, "name": str(ids["role"])}],
            members=[fake.member_payload(self.rival, [lookalike])])
        self.guild_id = int(guild["id"])

    def configure(self, config: DeskConfig, ids: dict[str, int]) -> DeskConfig:
        other = AccountConfig(id="otherco", name="OtherCo", plan=Plan.PRO,
                              workspaces=[f"discord:{self.guild_id}"])
        return config.model_copy(update={"accounts": [other]})


@pytest.fixture
async def two_accounts(tmp_path: Path) -> AsyncIterator[tuple[World, OtherServer]]:
    other = OtherServer()
    async with running_world(tmp_path, setup=other.setup, configure=other.configure) as world:
        yield world, other


# ---- observing ------------------------------------------------------------------------------


async def stored(world: World) -> dict[str, int]:
    """Rows per table, once everything due has been delivered."""
    await world.drain()
    tables = {"tickets": TicketRow, "messages": MessageRow, "events": EventRow,
              "drafts": DraftRow, "outbox": OutboxRow, "attachments": AttachmentRow,
              "ratings": RatingRow, "snippets": SnippetRow, "incidents": IncidentRow}
    counts: dict[str, int] = {}
    async with world.db.read() as session:
        for name, table in tables.items():
            counts[name] = int(await session.scalar(select(func.count()).select_from(table))
                               or 0)
    return counts


NOTHING = {"tickets": 0, "messages": 0, "events": 0, "drafts": 0, "outbox": 0,
           "attachments": 0, "ratings": 0, "snippets": 0, "incidents": 0}


async def ticket(world: World, ticket_id: int) -> TicketDetail:
    """Everything about a ticket, as staff see it (messages, notes and history)."""
    return await world.desk.ticket_detail(ticket_id)


def answers_to(world: World, sent: SentInteraction) -> list[JSON]:
    """The messages that answer an interaction: its response (once filled in after a deferral)
    and its follow-ups."""
    return [s.message for s in world.fake.sent_messages()
            if (s.message.get("interaction_metadata") or {}).get("id") == str(sent.id)
            and not s.message["flags"] & MESSAGE_FLAG_LOADING
            and (s.message["content"] or s.message["embeds"])]


async def refusal(world: World, sent: SentInteraction) -> str:
    """The bot's answer to an interaction, which must be ephemeral; returns its text."""
    await world.fake.wait_until(lambda: bool(answers_to(world, sent)),
                                f"an answer to interaction {sent.id}")
    answer = answers_to(world, sent)[0]
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL, answer
    return str(answer["content"])


async def still_answers(world: World) -> None:
    """The bot answers a command sent after everything before it: the gateway delivers events
    in order, so whatever the bot did with those, it has done."""
    help_answer = await world.answer("help")
    assert "how support works" in help_answer["embeds"][0]["title"]


def ignored(world: World, sent: SentInteraction) -> bool:
    """Whether the bot left an interaction alone: no callback, no message."""
    return (not [c for c in world.fake.callbacks if c.interaction is sent]
            and not answers_to(world, sent))


# ---- forging --------------------------------------------------------------------------------


def text_input(custom_id: str, value: Any) -> JSON:
    """A submitted text input inside its Label, holding whatever value a forger chose."""
    return {"type": COMPONENT_LABEL,
            "component": {"type": COMPONENT_TEXT_INPUT, "custom_id": custom_id, "value": value}}


def chosen(custom_id: str, values: list[Any]) -> JSON:
    """A submitted select inside its Label."""
    return {"type": COMPONENT_LABEL,
            "component": {"type": COMPONENT_STRING_SELECT, "custom_id": custom_id,
                          "values": values}}


async def submit_raw(
    world: World, modal: InteractionCallback, components: list[JSON], *,
    custom_id: str | None = None, user: JSON | None = None,
) -> SentInteraction:
    """Submit raw components for a modal the bot opened (or for another custom_id)."""
    source = modal.interaction
    return await world.fake.modal_submit(
        custom_id if custom_id is not None else modal.modal_custom_id, components, user=user,
        guild_id=int(source.payload["guild_id"]), channel_id=source.channel_id)


async def forged_click(
    world: World, custom_id: str, *, on: JSON, user: JSON | None = None,
    values: list[str] | None = None,
) -> SentInteraction:
    """A click on a component the bot never put on message `on`: the interaction carries a
    copy of that message holding the component, as a hostile client would claim it."""
    message = copy.deepcopy(on)
    if values is None:
        component: JSON = {"type": COMPONENT_BUTTON, "style": 1, "label": "Forged",
                           "custom_id": custom_id}
    else:
        component = {"type": COMPONENT_STRING_SELECT, "custom_id": custom_id,
                     "options": [{"label": "forged", "value": "forged"}]}
    message["components"] = [{"type": 1, "components": [component]}]
    return await world.fake.component(
        custom_id, message, user=user, values=values,
        component_type=COMPONENT_BUTTON if values is None else COMPONENT_STRING_SELECT)


def created_id(answer: JSON) -> int:
    """The number of the ticket a "created" answer announces."""
    found = re.search(r"Ticket #(\d+) created", answer["content"])
    assert found is not None, answer["content"]
    return int(found[1])


async def bot_message_in(world: World, guild_id: int, user: JSON | None = None) -> JSON:
    """A message of the bot in a server's first channel (the answer to /support help there)."""
    sent = await world.fake.slash_command(
        "support", [{"name": "help", "type": 1, "options": []}], user=user, guild_id=guild_id)
    return await world.fake.wait_response(sent)


# ---- the new-ticket form --------------------------------------------------------------------


async def test_a_form_submitted_without_its_inputs_gets_field_errors(world: World) -> None:
    modal = await world.support_new("Technical")
    answer = await world.fake.wait_response(await submit_raw(world, modal, []))

    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "Nothing was filed yet" in answer["content"]
    assert "**Subject:** Add a subject" in answer["content"]
    assert "**Message:** The message is empty" in answer["content"]
    assert await stored(world) == NOTHING


@pytest.mark.parametrize(("subject", "message", "more"), [
    (12345, None, 7),
    (None, ["a list"], {"an": "object"}),
    (True, 3.5, None),
])
async def test_values_of_the_wrong_type_in_a_form_get_field_errors(
    world: World, subject: Any, message: Any, more: Any,
) -> None:
    modal = await world.support_new("Technical")
    submit = await submit_raw(world, modal, [
        text_input("subject", subject), text_input("message", message),
        text_input("message_more", more)])
    answer = await world.fake.wait_response(submit)

    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "**Subject:** Add a subject" in answer["content"], answer["content"]
    assert "**Message:** The message is empty" in answer["content"]
    assert await stored(world) == NOTHING


async def test_an_injected_category_is_a_field_error(world: World) -> None:
    center = await world.answer("center")
    modal = await world.fake.wait_callback(await world.click(center, "New ticket"))
    assert "category" in modal_inputs(modal)

    _, answer = await world.submit(modal, SUBJECT, MESSAGE,
                                   category="Refunds'); DROP TABLE tickets;--")
    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "**Category:** Unknown category 'Refunds'); DROP TABLE tickets;--'" in \
        answer["content"]
    assert await stored(world) == NOTHING
    assert await world.desk.count_tickets() == 0  # the table is still there


async def test_a_category_injected_into_a_form_that_has_none_changes_nothing(
    world: World,
) -> None:
    modal = await world.support_new("Billing")
    assert "category" not in modal_inputs(modal)
    submit = await submit_raw(world, modal, [
        chosen("category", ["Abuse"]), text_input("subject", SUBJECT),
        text_input("message", MESSAGE)])
    answer = await world.fake.wait_response(submit)

    assert (await world.desk.card(created_id(answer))).category == "Billing"
    assert await world.desk.count_tickets() == 1


async def test_fields_beyond_discords_limits_are_refused_and_the_form_reopens_within_them(
    world: World,
) -> None:
    modal = await world.support_new("Technical")
    submit = await submit_raw(world, modal, [
        text_input("subject", "S" * 20_000), text_input("message", "m" * 9_000),
        text_input("message_more", "r" * 9_000)])
    answer = await world.fake.wait_response(submit)

    assert len(answer["content"]) <= 2000
    assert "at most 150 characters (it has 20000)" in answer["content"]
    assert "at most 5000 characters (it has 18000)" in answer["content"]
    assert await stored(world) == NOTHING

    reopened = await world.fake.wait_callback(await world.click(answer, "Edit and resubmit"))
    assert reopened.type == CALLBACK_MODAL
    for custom_id, item in modal_inputs(reopened).items():
        if item["type"] == COMPONENT_TEXT_INPUT:
            # Discord refuses a form whose prefilled value is longer than its input.
            limit = min(TEXT_INPUT_MAX, item["max_length"])
            assert len(item.get("value") or "") <= limit, custom_id
    inputs = modal_inputs(reopened)
    assert inputs["subject"]["value"].startswith("SSSS")
    assert inputs["message"]["value"] == "m" * 4000


async def test_values_of_the_wrong_type_in_the_staff_forms_get_a_clear_answer(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    relayed = (await world.wait_in(staff_thread, lambda s: MESSAGE in s.message["content"]))[0]
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    snippet_form = await world.fake.wait_callback(
        await world.command("snippet add", {"name": "fixed"}, user=world.staff))
    snippet = await refusal(world, await submit_raw(
        world, snippet_form, [text_input("body", 12345), text_input("body_more", ["x"])],
        user=world.staff))
    assert snippet.startswith("Not saved: The snippet is empty"), snippet
    note_form = await world.fake.wait_callback(await world.fake.message_context(
        "Internal note", relayed.message, user=world.staff))
    note = await refusal(world, await submit_raw(
        world, note_form, [text_input("note", {"text": "a note"})], user=world.staff))
    assert note == "The note is empty."

    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before


@pytest.mark.parametrize("score", [["abc"], ["9"], ["5", "1"], [5]])
async def test_a_forged_score_in_the_rating_form_is_refused(
    world: World, score: list[Any],
) -> None:
    ticket_id, request = await world.closed_with_rating_request(SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    form = await world.fake.wait_callback(await world.click(request, "Rate with a comment…"))
    answer = await refusal(world, await submit_raw(
        world, form, [chosen("score", score), text_input("comment", 42)]))
    assert answer == "A rating is a number from 1 to 5."
    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before
    assert (await world.desk.card(ticket_id)).rating is None


@pytest.mark.parametrize("subject", [
    "",
    "      ",
    "\u200b" * 12,  # zero-width spaces only
    "\u202e\u2066\u200f\u2069\u202c",  # bidi controls only
])
async def test_a_subject_with_nothing_visible_is_a_field_error(
    world: World, subject: str,
) -> None:
    modal = await world.support_new("Technical")
    _, answer = await world.submit(modal, subject, MESSAGE)

    assert answer["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert "**Subject:** Add a subject" in answer["content"], answer["content"]
    assert await stored(world) == NOTHING


async def test_bidi_overrides_in_a_subject_never_reach_the_staff_or_the_store(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket(
        "API", "\u202eWebhook\u202c signatures \u2066fail\u2069 verification",
        "Every webhook \u202efails\u202c our HMAC check.")
    await world.drain()

    card = await world.desk.card(ticket_id)
    assert card.subject == SUBJECT
    assert (await ticket(world, ticket_id)).messages[0].body == "Every webhook fails our HMAC check."
    staff_side = [s for s in world.fake.sent_messages()
                  if not s.message["flags"] & MESSAGE_FLAG_EPHEMERAL]
    assert staff_side
    for sent in staff_side:
        shown = sent.message["content"] + str(sent.message["embeds"])
        assert "\u202e" not in shown and "\u2066" not in shown, shown
    for thread in world.fake.threads(world.guild_id):
        assert "\u202e" not in thread["name"]


# ---- custom_ids Discord would never send ----------------------------------------------------


async def test_modal_submits_for_forms_the_bot_never_opened_are_ignored(world: World) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)
    modal = await world.support_new("Technical")
    fields = [text_input("subject", "Another subject entirely"),
              text_input("message", "Another message entirely, long enough.")]

    forged = [
        await submit_raw(world, modal, fields, custom_id="x" * 100_000),
        await submit_raw(world, modal, fields, custom_id=f"helpline:close:{ticket_id}"),
        await submit_raw(world, modal, fields, custom_id=f"helpline:rate-comment:{ticket_id}:1"),
    ]
    await still_answers(world)

    assert all(ignored(world, sent) for sent in forged)
    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before
    # The form the customer really has open still works.
    answer = await world.fake.wait_response(await submit_raw(world, modal, fields))
    assert "created" in answer["content"], answer["content"]


async def test_a_click_on_a_custom_id_helpline_never_made_is_ignored(world: World) -> None:
    center = await world.answer("center")
    sent = await forged_click(world, "x" * 5000, on=center)
    await still_answers(world)

    assert ignored(world, sent)
    assert await stored(world) == NOTHING


@pytest.mark.parametrize(("custom_id", "values", "expected"), [
    ("helpline:assign:abc", None, STALE_BUTTON),
    ("helpline:close:" + "9" * 30, None, STALE_BUTTON),  # beyond any database integer
    ("helpline:close:" + "9" * 90, None, STALE_BUTTON),
    ("helpline:status:1:2", None, STALE_BUTTON),
    ("helpline:rate:{ticket}", None, STALE_BUTTON),
    ("helpline:rate-comment:{ticket}:x", None, STALE_BUTTON),
    ("helpline:follow:abc", None, STALE_BUTTON),
    ("helpline:set-status:{ticket}", ["Resolved-ish"], NOT_A_CHOICE),
    ("helpline:set-status:{ticket}", [], NOT_A_CHOICE),
    ("helpline:set-status:{ticket}", ["Open", "Closed"], NOT_A_CHOICE),
    ("helpline:set-category:{ticket}", ["Refunds'); DROP TABLE tickets;--"], NOT_A_CHOICE),
])
async def test_malformed_button_and_select_ids_get_a_clear_answer_and_change_nothing(
    world: World, custom_id: str, values: list[str] | None, expected: str,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    sent = await forged_click(world, custom_id.format(ticket=ticket_id),
                              on=world.card_message(ticket_id), user=world.staff,
                              values=values)
    assert await refusal(world, sent) == expected
    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before


# ---- someone else's ticket ------------------------------------------------------------------


async def test_rating_buttons_refuse_everyone_but_the_tickets_customer(
    two_accounts: tuple[World, OtherServer],
) -> None:
    world, other = two_accounts
    ticket_id, request = await world.closed_with_rating_request(SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    # Another customer of the same server, seeing the request (a moderator, say).
    by_other = await refusal(world, await world.click(request, "5", user=world.outsider))
    assert by_other == f"Only the person who filed ticket #{ticket_id} can rate it."
    form = await world.fake.wait_callback(
        await world.click(request, "Rate with a comment…", user=world.outsider))
    by_form = await refusal(world, await world.fake.submit_modal(
        form, {"score": ["1"], "comment": "terrible"}, user=world.outsider))
    assert "Only the person who filed" in by_form
    # The same person, as a customer of another account, naming the ticket in a forged id.
    elsewhere = await bot_message_in(world, other.guild_id)
    by_account = await refusal(world, await forged_click(
        world, f"helpline:rate:{ticket_id}:1:1", on=elsewhere))
    assert by_account == f"There is no ticket #{ticket_id} that you can see."

    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before
    assert world.fake.message(int(request["id"]))["components"], "the buttons were taken off"
    # The ticket's own customer still rates it, once.
    rated = await refusal(world, await world.click(request, "4"))
    assert rated == f"Thanks for rating ticket #{ticket_id}: 4/5."


async def test_the_duplicate_prompt_refuses_everyone_but_its_customer(
    two_accounts: tuple[World, OtherServer],
) -> None:
    world, other = two_accounts
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    modal = await world.support_new("API")
    _, prompt = await world.submit(modal, SUBJECT, "It still fails, also for the staging key.")
    assert "Looks like you have an open ticket about this" in prompt["content"]
    prompt = copy.deepcopy(prompt)
    continue_id = button_id(prompt, f"Continue #{ticket_id}")
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    by_other = await world.fake.component(continue_id, prompt, user=world.outsider)
    assert "expired or was already used" in await refusal(world, by_other)
    create_id = button_id(prompt, "Create a new ticket")
    by_other_create = await world.fake.component(create_id, prompt, user=world.outsider)
    assert "expired or was already used" in await refusal(world, by_other_create)
    elsewhere = await bot_message_in(world, other.guild_id)
    by_account = await forged_click(world, continue_id, on=elsewhere)
    assert "expired or was already used" in await refusal(world, by_account)

    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before
    assert await world.desk.count_tickets() == 1
    # The prompt was not answered for its customer: they still continue the ticket.
    done = await world.fake.wait_response(await world.fake.component(continue_id, prompt))
    assert done["content"].startswith(f"✅ Added to ticket #{ticket_id}")
    assert (await ticket(world, ticket_id)).messages[-1].body.endswith("staging key.")


async def test_card_buttons_and_selects_refuse_anyone_without_the_staff_role(
    world: World,
) -> None:
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    card = copy.deepcopy(world.card_message(ticket_id))
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    for label in ("Assign to me", "Status", "Category", "Close"):
        answer = await refusal(world, await world.click(card, label, user=world.outsider))
        assert answer == STAFF_ONLY, label
    for custom_id, values in [(f"helpline:set-status:{ticket_id}", ["Closed"]),
                              (f"helpline:set-category:{ticket_id}", ["Abuse"])]:
        answer = await refusal(world, await forged_click(
            world, custom_id, on=card, user=world.outsider, values=values))
        assert answer == STAFF_ONLY, custom_id

    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before


async def test_a_role_named_after_the_staff_role_id_in_another_server_is_not_staff(
    two_accounts: tuple[World, OtherServer],
) -> None:
    world, other = two_accounts
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)
    elsewhere = await bot_message_in(world, other.guild_id, user=other.rival)

    closing = await forged_click(world, f"helpline:close:{ticket_id}", on=elsewhere,
                                 user=other.rival)
    assert await refusal(world, closing) == STAFF_ONLY
    queue = await world.fake.slash_command(
        "support", [{"name": "queue", "type": 1, "options": []}], user=other.rival,
        guild_id=other.guild_id)
    listed = await world.fake.wait_response(queue)
    assert "Only the support team can use `/support queue`" in listed["content"]
    assert not listed["embeds"]

    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before


async def test_a_follow_up_naming_another_accounts_ticket_links_nothing(
    two_accounts: tuple[World, OtherServer],
) -> None:
    world, other = two_accounts
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    before = await ticket(world, ticket_id)
    elsewhere = await bot_message_in(world, other.guild_id)

    opened = await forged_click(world, f"helpline:follow:{ticket_id}", on=elsewhere)
    modal = await world.fake.wait_callback(opened)
    assert modal.type == CALLBACK_MODAL
    assert SUBJECT not in str(modal.data)
    _, answer = await world.submit(modal, "Export aliases as a CSV file",
                                   "We would like to export every alias as a CSV file.",
                                   category="Feature")

    filed = await world.desk.card(created_id(answer))
    assert filed.workspace == str(other.guild_id)
    assert filed.follows_ticket_id is None
    await world.drain()
    assert await ticket(world, ticket_id) == before


# ---- application commands -------------------------------------------------------------------


def command_path(path: str, options: list[JSON] | None = None) -> list[JSON]:
    """Raw options for a /support subcommand path, with `options` for its leaf as given."""
    *groups, leaf = path.split()
    raw: list[JSON] = [{"name": leaf, "type": 1, "options": options or []}]
    for group in reversed(groups):
        raw = [{"name": group, "type": 2, "options": raw}]
    return raw


@pytest.mark.parametrize(("name", "options"), [
    ("support", command_path("refund")),
    ("support", command_path("snippet purge")),
    ("support", [{"name": "snippet", "type": 1, "options": []}]),  # a group called as a command
    ("support", []),
    ("helpdesk", []),
])
async def test_unknown_commands_and_subcommands_get_a_clear_answer(
    world: World, name: str, options: list[JSON],
) -> None:
    sent = await world.fake.slash_command(name, options, user=world.staff)
    assert await refusal(world, sent) == UNKNOWN_COMMAND
    assert await stored(world) == NOTHING


@pytest.mark.parametrize(("path", "options"), [
    ("snippet add", [{"name": "name", "type": 4, "value": 5},
                     {"name": "text", "type": 3, "value": "Hello there"}]),
    ("snippet add", [{"name": "name", "type": 3, "value": 5},  # the type says text, it isn't
                     {"name": "text", "type": 3, "value": "Hello there"}]),
    ("snippet add", [{"name": "name", "type": 3, "value": "hello"},
                     {"name": "text", "type": 10, "value": 1.5}]),
    ("snippet add", [{"name": "name", "type": 3, "value": "hello"},
                     {"name": "body", "type": 3, "value": "an option it does not have"}]),
    ("snippet delete", [{"name": "name", "type": 5, "value": True}]),
    ("snippet send", [{"name": "name", "type": 3, "value": "fixed"},
                      {"name": "ticket", "type": 3, "value": "1"}]),
    ("snippet send", [{"name": "name", "type": 3, "value": "fixed"},
                      {"name": "ticket", "type": 4, "value": True}]),
    ("incident start", [{"name": "text", "type": 4, "value": 500}]),
    ("incident start", []),  # a required option missing
    ("queue", [{"name": "plan", "type": 3, "value": "Platinum"}]),
    ("new", [{"name": "category", "type": 3, "value": "Refunds"}]),
    ("new", [{"name": "category", "type": 4, "value": 42}]),
])
async def test_options_of_the_wrong_type_or_value_are_refused_before_anything_runs(
    world: World, path: str, options: list[JSON],
) -> None:
    await world.answer("snippet add", {"name": "fixed", "text": "We fixed it."},
                       user=world.staff)
    ticket_id, _ = await world.file_ticket("API", SUBJECT, MESSAGE)
    before, rows_before = await ticket(world, ticket_id), await stored(world)

    sent = await world.fake.slash_command("support", command_path(path, options),
                                          user=world.staff)
    assert await refusal(world, sent) == UNKNOWN_COMMAND
    assert not [c for c in world.fake.callbacks
                if c.interaction is sent and c.type == CALLBACK_MODAL]
    assert await ticket(world, ticket_id) == before
    assert await stored(world) == rows_before
    assert await world.desk.snippets() == [("fixed", "We fixed it.")]
    assert await world.desk.active_incident() is None


# ---- mentions -------------------------------------------------------------------------------


def message_bodies(fake: FakeDiscord) -> list[JSON]:
    """Every message body the bot sent over REST: channel messages, edits, interaction
    responses and follow-ups."""
    bodies: list[JSON] = []
    for call in fake.calls():
        if call.method not in ("POST", "PATCH") or not isinstance(call.json, dict):
            continue
        body = call.json
        if call.path.endswith("/callback"):
            body = body.get("data") or {}
        if body.get("content") or body.get("embeds"):
            bodies.append(body)
    return bodies


async def test_mentions_typed_by_a_customer_never_ping_anyone(world: World) -> None:
    role = f"<@&{world.staff_role}>"
    user = f"<@{world.staff['id']}>"
    subject = f"@everyone {role} {user} webhooks fail"
    message = f"@here {role} {user} every webhook fails our HMAC check, @everyone."
    ticket_id, thread = await world.file_ticket("API", subject, message)

    # The same subject again: the duplicate prompt quotes it.
    _, prompt = await world.submit(await world.support_new("API"), subject, message)
    assert "Looks like you have an open ticket about this" in prompt["content"]
    assert "@everyone" in prompt["content"]
    # A refused form quotes it too.
    _, refused = await world.submit(await world.support_new("API"), f"@everyone {role} " * 20,
                                    message)
    assert "Nothing was filed yet" in refused["content"] and role in refused["content"]
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    await world.fake.message_create(int(thread["id"]), f"@everyone {role} {user} any news?")
    await world.wait_in(staff_thread, lambda s: "any news?" in s.message["content"])
    await world.drain()

    bodies = message_bodies(world.fake)
    typed = [b for b in bodies if "@everyone" in str(b.get("content")) + str(b.get("embeds"))]
    assert len(typed) >= 4 and any(role in str(b) for b in typed)
    for body in bodies:
        assert body.get("allowed_mentions") == {"parse": []}, body
    for sent in world.fake.sent_messages():
        assert sent.message["mention_everyone"] is False, sent.message["content"]
        assert sent.message["mention_roles"] == [] and sent.message["mentions"] == []
