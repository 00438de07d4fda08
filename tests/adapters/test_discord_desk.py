"""End to end: running the desk from Discord — the staff's queue, snippets, incidents and
escalations, the customer's ratings and transcripts, the on-call ping and broadcast notices —
with the real discord.py client against FakeDiscord."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import AccountConfig, DeskConfig, OnCall
from core.models import Plan
from core.timers import TimerWorker
from tests.adapters.discord_harness import World, button_id, modal_inputs, running_world
from tests.fakes.discord_api import (
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_MODAL,
    JSON,
    MESSAGE_FLAG_EPHEMERAL,
    SentMessage,
)

STAFF_ONLY = "Only the support team can use"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(tmp_path) as world:
        yield world


def _ephemeral(message: JSON) -> bool:
    return bool(message["flags"] & MESSAGE_FLAG_EPHEMERAL)


def _fields(message: JSON) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}


def _numbers(queue: JSON) -> list[int]:
    return [int(n) for n in re.findall(r"`#(\d+)`", queue["embeds"][0]["description"])]


def _card_in(world: World, channel_id: int, ticket_id: int) -> JSON:
    for sent in world.fake.sent_messages(channel_id):
        embeds = sent.message.get("embeds") or []
        if embeds and f"#{ticket_id} " in embeds[0].get("title", ""):
            return world.fake.message(sent.id)
    raise AssertionError(f"no card for #{ticket_id} in channel {channel_id}")


# ---- the queue ----------------------------------------------------------------------------


async def test_queue_lists_urgent_then_plan_then_age_and_filters_it(world: World) -> None:
    desk = world.desk
    starter, _ = await world.file_ticket(
        "Billing", "Invoice INV-100 shows the wrong VAT number",
        "The May invoice INV-100 lists VAT number DE123 but ours is DE999.")
    # The plan is copied onto each ticket when it is filed: the operator moves the server's
    # account between plans as the tickets come in.
    await desk.set_account("acme", plan=Plan.AGENCY)
    await desk.map_workspace(f"discord:{world.guild_id}", "acme")
    agency, _ = await world.file_ticket(
        "API", "Webhook signatures fail verification since Monday",
        "Every webhook from the API fails our HMAC check since Monday 09:00 UTC.")
    await desk.set_account("acme", plan=Plan.PRO)
    pro, _ = await world.file_ticket(
        "Feature", "Feature request: export aliases as CSV",
        "We would like to export every alias of acme.io as a CSV file for our audit.")
    await desk.set_account("acme", plan=Plan.STARTER)
    urgent, _ = await world.file_ticket(
        "API", "URGENT: API returns 500 for every request",
        "Since 10:02 UTC every call to the REST API answers 500 Internal Server Error.")
    await world.click(world.card_message(agency), "Assign to me", user=world.staff)
    await world.fake.wait_until(lambda: _fields(world.card_message(agency))["Assignee"] == "Sam",
                                "the assignment on the card")

    full = await world.answer("queue", user=world.staff)
    assert _ephemeral(full)
    assert _numbers(full) == [urgent, agency, pro, starter]
    lines = full["embeds"][0]["description"].splitlines()
    assert "🔴" in lines[0] and "**Open**" in lines[0]
    assert "Sam" in lines[1] and "unassigned" in lines[2]
    # Every one of these plans has a response target: each line shows when it is due.
    assert all("<t:" in line for line in lines)

    mine = await world.answer("queue", {"assignee": "mine"}, user=world.staff)
    assert _numbers(mine) == [agency]
    unassigned = await world.answer("queue", {"assignee": "unassigned"}, user=world.staff)
    assert _numbers(unassigned) == [urgent, pro, starter]
    assert _numbers(await world.answer("queue", {"plan": "Pro"}, user=world.staff)) == [pro]
    billing = await world.answer("queue", {"category": "Billing"}, user=world.staff)
    assert _numbers(billing) == [starter]
    nothing = await world.answer("queue", {"plan": "Nano"}, user=world.staff)
    assert _numbers(nothing) == [] and "Nothing waiting" in nothing["embeds"][0]["description"]


async def test_customers_are_refused_every_staff_command(world: World) -> None:
    for path, options in [("queue", {}), ("snippet list", {}),
                          ("snippet add", {"name": "x", "text": "hello there"}),
                          ("incident start", {"text": "Everything is down"}),
                          ("incident end", {}), ("escalate", {})]:
        answer = await world.answer(path, options)
        assert _ephemeral(answer), path
        assert STAFF_ONLY in answer["content"] and f"/support {path.split()[0]}" in \
            answer["content"], path
        assert not answer.get("embeds"), path
    assert await world.desk.snippets() == []
    assert await world.desk.active_incident() is None


# ---- snippets -------------------------------------------------------------------------------


async def test_snippet_from_the_form_is_listed_and_sent_with_its_placeholders_filled(
    world: World,
) -> None:
    add = await world.command("snippet add", {"name": "Fixed"}, user=world.staff)
    modal = await world.fake.wait_callback(add)
    assert modal.type == CALLBACK_MODAL
    assert set(modal_inputs(modal)) == {"body", "body_more"}
    text = "Hi {customer},\nwe fixed {ticket}; reply here if it comes back.\n— {agent}"
    saved = await world.fake.wait_response(
        await world.fake.submit_modal(modal, {"body": text}))
    assert "Saved the snippet `fixed`" in saved["content"]

    listing = await world.answer("snippet list", user=world.staff)
    assert "**fixed** — Hi {customer}, we fixed {ticket}" in listing["embeds"][0]["description"]

    ticket_id, thread = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    sent = await world.answer("snippet send", {"name": "fixed"}, user=world.staff,
                              channel_id=staff_thread)
    # Announced in the staff thread, so colleagues see what the customer got.
    assert not _ephemeral(sent)
    assert f"sent the snippet `fixed` to the customer of #{ticket_id}" in sent["content"]

    relayed = await world.wait_in(int(thread["id"]), lambda s: "we fixed" in s.message["content"])
    assert relayed[0].message["content"] == (
        f"**Sam** (support team):\nHi Customer,\nwe fixed #{ticket_id}; reply here if it comes "
        "back.\n— Sam")
    detail = await world.desk.ticket_detail(ticket_id)
    assert detail.messages[-1].body.startswith("Hi Customer,")

    # Outside a staff thread it says where to use it, and nothing is sent.
    elsewhere = await world.answer("snippet send", {"name": "fixed"}, user=world.staff)
    assert _ephemeral(elsewhere) and "inside a ticket's staff thread" in elsewhere["content"]
    deleted = await world.answer("snippet delete", {"name": "fixed"}, user=world.staff)
    assert "Deleted" in deleted["content"]
    assert await world.desk.snippets() == []


async def test_snippet_names_are_suggested_to_staff_only(world: World) -> None:
    await world.answer("snippet add", {"name": "refund-done", "text": "Your refund is on its way."},
                       user=world.staff)
    await world.answer("snippet add", {"name": "dns-wait", "text": "DNS can take up to 48 hours."},
                       user=world.staff)
    typing = [{"name": "snippet", "type": 2, "options": [
        {"name": "send", "type": 1, "options": [
            {"name": "name", "type": 3, "value": "ref", "focused": True}]}]}]

    for user, expected in [(world.staff, ["refund-done"]), (world.customer, [])]:
        sent = await world.fake.autocomplete("support", typing, user=user)
        callback = await world.fake.wait_callback(sent)
        assert callback.type == CALLBACK_AUTOCOMPLETE_RESULT
        assert [c["value"] for c in callback.data["choices"]] == expected


# ---- incidents ------------------------------------------------------------------------------


async def test_incident_shows_in_the_support_center_until_it_ends(world: World) -> None:
    started = await world.answer("incident start", {"text": "Webmail is down for some users"},
                                 user=world.staff)
    assert "Incident started" in started["content"]

    center = await world.answer("center")
    assert "Active incident:** Webmail is down for some users" in \
        center["embeds"][0]["description"]

    ended = await world.answer("incident end", user=world.staff)
    assert "Incident ended" in ended["content"]
    after = await world.answer("center")
    assert "Webmail is down" not in after["embeds"][0]["description"]
    again = await world.answer("incident end", user=world.staff)
    assert "No incident is active" in again["content"]


# ---- ratings --------------------------------------------------------------------------------


async def test_a_closed_ticket_is_rated_once_by_its_customer_and_the_card_shows_it(
    world: World,
) -> None:
    ticket_id, thread = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    await world.fake.wait_response(
        await world.click(world.card_message(ticket_id), "Close", user=world.staff))
    request = (await world.wait_in(int(thread["id"]),
                                   lambda s: "How did we do" in s.message["content"]))[0]
    # As the customer's client saw it (the fake edits its stored message in place).
    message = copy.deepcopy(world.fake.message(request.id))
    assert message["content"].startswith("⭐ How did we do on ticket")
    assert button_id(message, "4") == f"helpline:rate:{ticket_id}:1:4"

    # Staff can't rate for the customer.
    by_staff = await world.fake.wait_response(await world.click(message, "5", user=world.staff))
    assert "the customer's to give" in by_staff["content"]

    rated = await world.fake.wait_response(await world.click(message, "4"))
    assert _ephemeral(rated)
    assert rated["content"] == f"Thanks for rating ticket #{ticket_id}: 4/5."
    await world.fake.wait_until(lambda: world.fake.message(request.id)["components"] == [],
                                "the rating buttons taken off")
    # A stale client can still press: the rating of this closing is taken once.
    again = await world.fake.wait_response(await world.click(message, "1"))
    assert "already rated" in again["content"]

    await world.fake.wait_until(
        lambda: _fields(world.card_message(ticket_id)).get("Rating") == "★★★★☆ 4/5",
        "the rating on the card")
    assert (await world.desk.card(ticket_id)).rating == 4


async def test_a_rating_can_come_with_a_comment_from_a_form(world: World) -> None:
    ticket_id, thread = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    await world.fake.wait_response(
        await world.click(world.card_message(ticket_id), "Close", user=world.staff))
    request = (await world.wait_in(int(thread["id"]),
                                   lambda s: "How did we do" in s.message["content"]))[0]

    opened = await world.click(world.fake.message(request.id), "Rate with a comment…")
    modal = await world.fake.wait_callback(opened)
    assert modal.type == CALLBACK_MODAL
    answer = await world.fake.wait_response(await world.fake.submit_modal(
        modal, {"score": ["5"], "comment": "Quick and kind, thank you"}))
    assert answer["content"] == f"Thanks for rating ticket #{ticket_id}: 5/5."

    await world.fake.wait_until(
        lambda: "Quick and kind" in _fields(world.card_message(ticket_id)).get("Rating", ""),
        "the rating and its comment on the card")
    assert _fields(world.card_message(ticket_id))["Rating"].startswith("★★★★★ 5/5")


# ---- on-call ping and broadcast notices -------------------------------------------------------


async def test_an_urgent_ticket_pings_the_on_call_role_in_one_message_only(
    tmp_path: Path,
) -> None:
    def on_call(config: DeskConfig, ids: dict[str, int]) -> DeskConfig:
        return config.model_copy(update={"oncall": OnCall(discord_role=str(ids["On call"]))})

    async with running_world(tmp_path, configure=on_call, extra_roles=["On call"]) as world:
        role = world.config.oncall.discord_role
        assert role is not None
        calm, _ = await world.file_ticket(
            "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
        urgent, _ = await world.file_ticket(
            "API", "URGENT: API returns 500 for every request",
            "Since 10:02 UTC every call to the REST API answers 500 Internal Server Error.")
        staff_thread = int((await world.staff_thread(urgent))["id"])
        in_thread = await world.wait_in(staff_thread, lambda s: "Urgent ticket" in
                                        s.message["content"])
        in_channel = await world.wait_in(world.staff_channel, lambda s: "Urgent ticket" in
                                         s.message["content"])
        await world.drain()

        pinged = [s for s in world.fake.sent_messages() if s.message["mention_roles"]]
        assert [s.id for s in pinged] == [in_channel[0].id]
        line = in_channel[0]
        assert line.message["content"].startswith(f"<@&{role}> 🚨 Urgent ticket #{urgent} ")
        assert line.message["content"].endswith(f"→ <#{staff_thread}>")
        assert line.message["mention_roles"] == [role]
        assert line.request["allowed_mentions"] == {"parse": [], "roles": [int(role)]}
        # The full notice in the ticket's thread does not ping again.
        assert "<@&" not in in_thread[0].message["content"]
        for sent in world.fake.sent_messages():
            assert sent.message["mention_everyone"] is False
            if sent is line:
                continue
            for body in [sent.request, *sent.edits]:
                if body.get("content") or body.get("embeds"):
                    assert body["allowed_mentions"] == {"parse": []}, sent.message["content"]
        assert not [s for s in world.fake.sent_messages()
                    if f"#{calm} " in s.message["content"] and "Urgent" in s.message["content"]]


async def test_a_missed_response_target_is_broadcast_and_shown_on_the_card(world: World) -> None:
    ticket_id, _ = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    card = await world.desk.card(ticket_id)
    assert card.response_due_at is not None
    assert "due <t:" in _fields(world.card_message(ticket_id))["Response target"]

    world.clock.advance(seconds=(card.response_due_at - world.clock()).total_seconds() + 60)
    await TimerWorker(world.db, world.desk, world.clock).run_once()

    in_thread = await world.wait_in(staff_thread, lambda s: "missed its response target" in
                                    s.message["content"])
    line = await world.wait_in(world.staff_channel, lambda s: "missed its response target" in
                               s.message["content"])
    assert line[0].message["content"].endswith(f"→ <#{staff_thread}>")
    assert line[0].request["allowed_mentions"] == {"parse": []}  # no on-call role configured
    assert in_thread[0].message["mention_roles"] == []
    await world.fake.wait_until(
        lambda: _fields(world.card_message(ticket_id))["Response target"].startswith(
            "🔥 breached"), "the breach on the card")


# ---- transcripts ----------------------------------------------------------------------------


async def test_the_customer_gets_the_transcript_in_their_thread_without_internal_notes(
    world: World,
) -> None:
    ticket_id, thread = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    staff_thread = int((await world.staff_thread(ticket_id))["id"])
    await world.fake.message_create(staff_thread, "note: legacy cluster, rotate the key",
                                    author=world.staff)
    await world.fake.message_create(staff_thread, "Please rotate the signing secret.",
                                    author=world.staff)
    await world.wait_in(int(thread["id"]), lambda s: "rotate the signing" in s.message["content"])

    asked = await world.answer("transcript", channel_id=int(thread["id"]))
    assert _ephemeral(asked)
    assert f"transcript of #{ticket_id} is on its way" in asked["content"]
    posted = await world.wait_in(int(thread["id"]), lambda s: s.message["content"].startswith(
        f"ℹ️ # Ticket #{ticket_id}"))
    transcript = _text_from(world, int(thread["id"]), posted[0])
    assert "Every webhook fails our HMAC check." in transcript
    assert "Please rotate the signing secret." in transcript
    assert "legacy cluster" not in transcript
    assert "internal note" not in transcript

    elsewhere = await world.answer("transcript")
    assert "inside your ticket's private thread" in elsewhere["content"]
    from_staff_side = await world.answer("transcript", user=world.staff, channel_id=staff_thread)
    assert "inside your ticket's private thread" in from_staff_side["content"]


def _text_from(world: World, channel_id: int, first: SentMessage) -> str:
    """A message and the parts it was split into (the bot's consecutive messages)."""
    sent = world.fake.sent_messages(channel_id)
    start = [s.id for s in sent].index(first.id)
    return "".join(s.message["content"] for s in sent[start:])


# ---- White Label Lite: escalation -----------------------------------------------------------


async def test_escalate_hands_a_white_label_ticket_to_the_provider(tmp_path: Path) -> None:
    def white_label(config: DeskConfig, ids: dict[str, int]) -> DeskConfig:
        account = AccountConfig(
            id="resellerco", name="ResellerCo", plan=Plan.PRO, white_label=True,
            staff_channel=f"discord:{ids['guild']}:{ids['reseller-staff']}",
            workspaces=[f"discord:{ids['guild']}"])
        return config.model_copy(update={"accounts": [account]})

    async with running_world(tmp_path, configure=white_label,
                             extra_channels=["reseller-staff"]) as world:
        own_channel = world.fake.channel_id("reseller-staff")
        ticket_id, _ = await world.file_ticket(
            "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
        own_thread = await world.staff_thread(ticket_id)
        # The account's own customers reach the account's own staff channel.
        assert own_thread["parent_id"] == str(own_channel)

        refused = await world.answer("escalate", channel_id=int(own_thread["id"]))
        assert STAFF_ONLY in refused["content"]
        escalated = await world.answer("escalate", user=world.staff,
                                       channel_id=int(own_thread["id"]))
        provider_id = ticket_id + 1
        assert not _ephemeral(escalated)
        assert f"escalated #{ticket_id} to the provider as #{provider_id}" in escalated["content"]

        provider_thread = await world.staff_thread(provider_id)
        assert provider_thread["parent_id"] == str(world.staff_channel)
        card = _card_in(world, world.staff_channel, provider_id)
        assert f"Escalated from #{ticket_id}" in _fields(card)["Details"]
        relayed = await world.wait_in(int(provider_thread["id"]),
                                      lambda s: "Every webhook fails" in s.message["content"])
        assert "Escalated by Sam of ResellerCo" in relayed[0].message["content"]

        # The provider answers; the reseller's team reads and answers in the escalation's
        # private thread in their own channel, as the provider's customer.
        their_side = await world.customer_thread(provider_id)
        assert their_side["parent_id"] == str(own_channel)
        await world.fake.message_create(int(provider_thread["id"]), "Rotate the secret, please.",
                                        author=world.staff)
        await world.wait_in(int(their_side["id"]), lambda s: "Rotate the secret" in
                            s.message["content"])
        await world.fake.message_create(int(their_side["id"]), "Done, it works again.",
                                        author=world.staff)
        back = await world.wait_in(int(provider_thread["id"]), lambda s: "it works again" in
                                   s.message["content"])
        assert back[0].message["content"].startswith("**Sam**:")

        again = await world.answer("escalate", user=world.staff, channel_id=int(own_thread["id"]))
        assert f"already escalated to the provider as #{provider_id}" in again["content"]
        copy = await world.answer("escalate", user=world.staff,
                                  channel_id=int(provider_thread["id"]))
        assert f"the provider's copy of #{ticket_id}" in copy["content"]
        assert await world.desk.count_tickets() == 2


async def test_escalate_refuses_a_ticket_that_is_already_the_providers(world: World) -> None:
    ticket_id, _ = await world.file_ticket(
        "API", "Webhook signatures fail verification", "Every webhook fails our HMAC check.")
    staff_thread = int((await world.staff_thread(ticket_id))["id"])

    answer = await world.answer("escalate", user=world.staff, channel_id=staff_thread)
    assert _ephemeral(answer)
    assert "not a White Label Lite account's ticket" in answer["content"]
    outside = await world.answer("escalate", user=world.staff)
    assert "inside the ticket's staff thread" in outside["content"]
    assert await world.desk.count_tickets() == 1
