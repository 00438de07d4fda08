"""End to end: running the desk from Slack — the staff's queue, snippets, incidents and
escalations, the customer's transcript and rating with a comment, and what the card shows of
them — with the real bolt app over HTTP against FakeSlack (signed requests, the real delivery
worker). Tests wait for what the fake records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.slack import blocks as ui
from core.config import AccountConfig
from core.models import Plan, Status
from tests.adapters.slack_harness import (
    CUSTOMER,
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    ShiftableClock,
    Ticket,
    all_text,
    desk_config,
    running_desk,
    section_text,
)
from tests.fakes.slack_api import RESPONSE_URL
from tests.fakes.slack_requests import plain_text_value, radio_buttons_value, static_select_value

JSON = dict[str, Any]

STAFF_ONLY = "Only the support team can use"
RESELLER_CHANNEL = "C0RESELLER"
RESELLER_USER = "U0RESELLER"  # on the reseller's own team: not the provider's staff


def numbers(answer: JSON) -> list[int]:
    """The ticket numbers of a queue answer, in the order shown."""
    return [int(n) for b in answer.get("blocks", []) if b["type"] == "section"
            for n in re.findall(r"\*#(\d+)\*", b["text"]["text"])]


def queue_lines(answer: JSON) -> list[str]:
    return [b["text"]["text"] for b in answer["blocks"]
            if b["type"] == "section" and re.search(r"\*#\d+\*", b["text"]["text"])]


async def close(h: RunningDesk, ticket: Ticket) -> JSON:
    """Close from the card; returns the rating request as the customer's client shows it."""
    await h.requester.block_action(ui.CARD_CLOSE_ACTION, str(ticket.id),
                                   message=h.card(ticket.id), channel_id=STAFF_CHANNEL,
                                   user_id=STAFF_USER)
    [asked] = await h.wait_post(ticket.dm_channel, ticket.customer_thread, "How did we do")
    assert asked.response is not None
    return h.slack.message(ticket.dm_channel, asked.response["ts"])


async def opened_view(h: RunningDesk, callback_id: str) -> JSON:
    [opened] = await h.slack.wait_for(
        "views.open", lambda c: c.ok and c.args["view"].get("callback_id") == callback_id)
    assert opened.response is not None
    return h.slack.view(opened.response["view"]["id"])


# ---- the queue ----------------------------------------------------------------------------


async def test_queue_lists_urgent_then_plan_then_age_and_filters_it(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        desk = h.core.desk
        starter = await h.file_ticket(
            category="Billing", subject="Invoice INV-100 shows the wrong VAT number",
            message="The May invoice INV-100 lists VAT number DE123 but ours is DE999.")
        # The plan is copied onto each ticket when it is filed: the operator moves the
        # workspace's account between plans as the tickets come in.
        await desk.set_account("acme", plan=Plan.AGENCY)
        await desk.map_workspace(f"slack:{h.slack.team_id}", "acme")
        agency = await h.file_ticket(
            category="API", subject="Webhook signatures fail verification since Monday",
            message="Every webhook from the API fails our HMAC check since Monday 09:00 UTC.")
        await desk.set_account("acme", plan=Plan.PRO)
        pro = await h.file_ticket(
            category="Feature", subject="Feature request: export aliases as CSV",
            message="We would like to export every alias of acme.io as a CSV file for audit.")
        await desk.set_account("acme", plan=Plan.STARTER)
        urgent = await h.file_ticket(
            category="API", subject="URGENT: API returns 500 for every request",
            message="Since 10:02 UTC every call to the REST API answers 500 Internal Error.")
        await h.requester.block_action(ui.CARD_ASSIGN_ACTION, str(agency.id),
                                       message=h.card(agency.id), channel_id=STAFF_CHANNEL,
                                       user_id=STAFF_USER)
        await h.slack.wait_for("chat.update", lambda c: c.args.get("ts") == agency.card_ts
                               and "u0staff" in all_text(c.args["blocks"]))

        full = await h.ask("queue", user_id=STAFF_USER)
        assert full["response_type"] == "ephemeral"
        assert numbers(full) == [urgent.id, agency.id, pro.id, starter.id]
        lines = queue_lines(full)
        assert "URGENT" in lines[0] and "Open · Starter · API" in lines[0]
        assert "u0staff" in lines[1] and all("_unassigned_" in line for line in lines[2:])
        # Every one of these plans has a response target: each line says when it is due.
        assert all("due <!date^" in line and "(in " in line for line in lines)

        assert numbers(await h.ask("queue mine", user_id=STAFF_USER)) == [agency.id]
        assert numbers(await h.ask("queue unassigned", user_id=STAFF_USER)) == [
            urgent.id, pro.id, starter.id]
        assert numbers(await h.ask("queue pro", user_id=STAFF_USER)) == [pro.id]
        assert numbers(await h.ask("queue Billing", user_id=STAFF_USER)) == [starter.id]
        assert numbers(await h.ask("queue api unassigned", user_id=STAFF_USER)) == [urgent.id]
        nothing = await h.ask("queue nano", user_id=STAFF_USER)
        assert numbers(nothing) == [] and "Nothing waiting" in all_text(nothing["blocks"])
        wrong = await h.ask("queue soon", user_id=STAFF_USER)
        assert "`soon` is not a queue filter" in wrong["text"]

        # Closed tickets leave the queue.
        await h.requester.block_action(ui.CARD_CLOSE_ACTION, str(pro.id), message=h.card(pro.id),
                                       channel_id=STAFF_CHANNEL, user_id=STAFF_USER)
        await h.wait_post(pro.dm_channel, pro.customer_thread, "is now closed")
        assert numbers(await h.ask("queue", user_id=STAFF_USER)) == [
            urgent.id, agency.id, starter.id]


async def test_customers_are_refused_every_staff_command(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        for text in ("queue", "queue mine", "snippet list", "snippet add x hello there",
                     f"snippet send x {ticket.id}", "snippet delete x",
                     "incident start Everything is down", "incident end",
                     f"escalate {ticket.id}"):
            answer = await h.ask(text)
            assert answer["response_type"] == "ephemeral", text
            assert STAFF_ONLY in answer["text"], text
            assert f"/support {text.split()[0]}" in answer["text"], text
            assert "blocks" not in answer, text
        await h.requester.message_shortcut(ui.SEND_SNIPPET_SHORTCUT, h.card(ticket.id),
                                           STAFF_CHANNEL, user_id=CUSTOMER)
        [refused] = await h.slack.wait_for(
            RESPONSE_URL, lambda c: "Send snippet" in str(c.args.get("text")))
        assert STAFF_ONLY in refused.args["text"]

        # `/support help` lists the staff's commands to staff only.
        assert "Running the desk" not in all_text((await h.ask("help"))["blocks"])
        assert "Running the desk" in all_text((await h.ask("help", user_id=STAFF_USER))["blocks"])

        await h.drain()
        assert await h.core.desk.snippets() == []
        assert await h.core.desk.active_incident() is None
        assert h.slack.calls("views.open") == [c for c in h.slack.calls("views.open")
                                               if c.args["view"]["callback_id"]
                                               == ui.INTAKE_CALLBACK]
        assert await h.core.desk.count_tickets() == 1


# ---- snippets -------------------------------------------------------------------------------


async def test_snippet_is_saved_listed_and_sent_by_number_with_its_placeholders_filled(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        text = "Hi {customer}, we fixed {ticket}; reply here if it comes back. — {agent}"
        saved = await h.ask(f"snippet add Fixed {text}", user_id=STAFF_USER)
        assert "Saved the snippet `fixed`" in saved["text"]
        listing = await h.ask("snippet list", user_id=STAFF_USER)
        assert "*fixed* — Hi {customer}, we fixed {ticket}" in all_text(listing["blocks"])

        ticket = await h.file_ticket()
        sent = await h.ask(f"snippet send fixed #{ticket.id}", user_id=STAFF_USER)
        assert sent["response_type"] == "ephemeral"
        assert f"Sent the snippet `fixed` to the customer of #{ticket.id}" in sent["text"]

        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread, "we fixed")
        assert section_text(relay.args) == (
            f"Hi u0customer, we fixed #{ticket.id}; reply here if it comes back. — u0staff")
        assert "u0staff" in all_text(relay.args["blocks"][0])  # from the agent, as a reply
        card = await h.core.desk.card(ticket.id)
        assert card.status is Status.WAITING_ON_CUSTOMER

        unknown = await h.ask(f"snippet send nope {ticket.id}", user_id=STAFF_USER)
        assert "There is no snippet 'nope'" in unknown["text"]
        usage = await h.ask("snippet send fixed", user_id=STAFF_USER)
        assert "`/support snippet send NAME N`" in usage["text"]
        deleted = await h.ask("snippet delete fixed", user_id=STAFF_USER)
        assert "Deleted the snippet `fixed`" in deleted["text"]
        assert await h.core.desk.snippets() == []
        await h.drain()
        relays = [m for m in h.thread(ticket.dm_channel, ticket.customer_thread)
                  if "we fixed" in section_text(m)]
        assert len(relays) == 1


async def test_send_snippet_shortcut_in_the_staff_thread_relays_it_and_tells_colleagues(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        await h.ask("snippet add dns-wait DNS changes can take up to 48 hours, {customer}.",
                    user_id=STAFF_USER)
        # Several lines need the form: `add NAME` without text opens it.
        await h.requester.slash_command("/support", "snippet add fixed", user_id=STAFF_USER)
        form = await opened_view(h, ui.SNIPPET_CALLBACK)
        too_short = await h.requester.view_submission(
            ui.SNIPPET_CALLBACK, {ui.SNIPPET_BODY_BLOCK: {ui.INPUT_ACTION: plain_text_value("ok")}},
            view=form, user_id=STAFF_USER)
        assert too_short.body["response_action"] == "errors"
        assert "at least 5 characters" in too_short.body["errors"][ui.SNIPPET_BODY_BLOCK]
        body = "Hi {customer},\nwe fixed {ticket}.\n— {agent}"
        done = await h.requester.view_submission(
            ui.SNIPPET_CALLBACK, {ui.SNIPPET_BODY_BLOCK: {ui.INPUT_ACTION: plain_text_value(body)}},
            view=form, user_id=STAFF_USER)
        assert done.body["response_action"] == "update"
        assert dict(await h.core.desk.snippets())["fixed"] == body

        ticket = await h.file_ticket()
        reply = h.slack.add_message(STAFF_CHANNEL, "note: checked the DNS zone",
                                    user=STAFF_USER, thread_ts=ticket.card_ts)
        await h.requester.message_shortcut(ui.SEND_SNIPPET_SHORTCUT, reply, STAFF_CHANNEL,
                                           user_id=STAFF_USER)
        picker = await opened_view(h, ui.SNIPPET_SEND_CALLBACK)
        [select] = [b["element"] for b in picker["blocks"] if b.get("block_id")
                    == ui.SNIPPET_PICK_BLOCK]
        assert [o["value"] for o in select["options"]] == ["dns-wait", "fixed"]

        answer = await h.requester.view_submission(
            ui.SNIPPET_SEND_CALLBACK,
            {ui.SNIPPET_PICK_BLOCK: {ui.INPUT_ACTION: static_select_value("fixed")}},
            view=picker, user_id=STAFF_USER)

        assert (answer.status, answer.text) == (200, "")
        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread, "we fixed")
        assert section_text(relay.args) == f"Hi u0customer,\nwe fixed #{ticket.id}.\n— u0staff"
        [told] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "sent the snippet")
        assert section_text(told.args) == (
            f"📎 u0staff sent the snippet `fixed` to the customer of #{ticket.id}.")

        # Used outside a ticket's staff thread, it says where to use it.
        loose = h.slack.add_message(STAFF_CHANNEL, "morning all", user=STAFF_USER)
        await h.requester.message_shortcut(ui.SEND_SNIPPET_SHORTCUT, loose, STAFF_CHANNEL,
                                           user_id=STAFF_USER)
        [where] = await h.slack.wait_for(
            RESPONSE_URL, lambda c: "on a ticket's card" in str(c.args.get("text")))
        assert where.args["response_type"] == "ephemeral"


# ---- incidents ------------------------------------------------------------------------------


async def test_incident_shows_in_the_support_center_and_the_form_until_it_ends(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        started = await h.ask("incident start Webmail is down for some users",
                              user_id=STAFF_USER)
        assert "Incident started: *Webmail is down for some users*" in all_text(
            started["blocks"])

        center = await h.ask("")
        assert "*Active incident:* Webmail is down for some users" in all_text(center["blocks"])
        form = await h.open_form()
        assert "Webmail is down for some users" in all_text(form["blocks"])
        shown = await h.ask("incident", user_id=STAFF_USER)
        assert "Active now: *Webmail is down for some users*" in shown["text"]

        ended = await h.ask("incident end", user_id=STAFF_USER)
        assert "Incident ended" in ended["text"]
        after = await h.ask("")
        assert "Webmail is down" not in all_text(after["blocks"])
        again = await h.ask("incident end", user_id=STAFF_USER)
        assert "No incident is active" in again["text"]


# ---- the customer: rating with a comment, transcript -----------------------------------------


async def test_a_rating_with_a_comment_is_recorded_and_shown_on_the_card(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        request = await close(h, ticket)
        [comment_button] = [el for b in request["blocks"] if b["type"] == "actions"
                            for el in b["elements"] if el["action_id"] == ui.RATE_COMMENT_ACTION]

        await h.requester.block_action(ui.RATE_COMMENT_ACTION, comment_button["value"],
                                       message=request, channel_id=ticket.dm_channel,
                                       user_id=CUSTOMER)
        form = await opened_view(h, ui.RATE_CALLBACK)
        submitted = await h.requester.view_submission(ui.RATE_CALLBACK, {
            ui.RATING_SCORE_BLOCK: {ui.INPUT_ACTION: radio_buttons_value("5")},
            ui.RATING_COMMENT_BLOCK: {ui.INPUT_ACTION: plain_text_value(
                "Quick & kind <3, thank you")},
        }, view=form, user_id=CUSTOMER)

        assert (submitted.status, submitted.text) == (200, "")
        # The rating request's buttons make way for the thanks, as after a plain press.
        [thanks] = await h.slack.wait_for(
            RESPONSE_URL, lambda c: "Thanks for rating" in str(c.args.get("text")))
        assert thanks.args["text"] == f"Thanks for rating ticket #{ticket.id}: 5/5."
        assert thanks.args["replace_original"] is True
        [updated] = await h.slack.wait_for(
            "chat.update", lambda c: c.ok and c.args.get("ts") == ticket.card_ts
            and "*Rating*" in all_text(c.args["blocks"]))
        fields = all_text(updated.args["blocks"][1])
        assert "*Rating*\n★★★★★ 5/5\n“Quick &amp; kind &lt;3, thank you”" in fields
        card = await h.core.desk.card(ticket.id)
        assert (card.rating, card.rating_comment) == (5, "Quick & kind <3, thank you")

        # One rating per closing: the form again (a stale message) is told so.
        await h.requester.block_action(ui.RATE_COMMENT_ACTION, comment_button["value"],
                                       message=request, channel_id=ticket.dm_channel,
                                       user_id=CUSTOMER)
        calls = await h.slack.wait_for(
            "views.open", lambda c: c.ok and c.args["view"]["callback_id"] == ui.RATE_CALLBACK,
            count=2)
        assert calls[-1].response is not None
        second = h.slack.view(calls[-1].response["view"]["id"])
        await h.requester.view_submission(ui.RATE_CALLBACK, {
            ui.RATING_SCORE_BLOCK: {ui.INPUT_ACTION: radio_buttons_value("1")},
            ui.RATING_COMMENT_BLOCK: {ui.INPUT_ACTION: plain_text_value(None)},
        }, view=second, user_id=CUSTOMER)
        await h.slack.wait_for(RESPONSE_URL, lambda c: "already rated" in str(c.args.get("text")))
        assert (await h.core.desk.card(ticket.id)).rating == 5


async def test_transcript_is_posted_into_the_customers_thread_without_internal_notes(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket(message="Every webhook fails our HMAC check since Monday.",
                                     category="API", subject="Webhook signatures fail")
        await h.say(STAFF_CHANNEL, "note: legacy cluster, do not mention", user=STAFF_USER,
                    thread_ts=ticket.card_ts)
        await h.slack.wait_for("reactions.add", lambda c: c.args["name"] == "lock")
        await h.say(STAFF_CHANNEL, "Please rotate the signing secret.", user=STAFF_USER,
                    thread_ts=ticket.card_ts)
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "rotate the signing")

        asked = await h.ask(f"transcript {ticket.id}", channel_id=ticket.dm_channel)
        assert f"The transcript of #{ticket.id} is on its way" in asked["text"]
        [posted] = await h.wait_post(ticket.dm_channel, ticket.customer_thread,
                                     f"# Ticket #{ticket.id}: Webhook signatures fail")
        transcript = section_text(posted.args)
        assert "Every webhook fails our HMAC check since Monday." in transcript
        assert "Please rotate the signing secret." in transcript
        assert "legacy cluster" not in transcript and "internal note" not in transcript

        # Someone else of the same workspace can't have it posted, and a number is needed.
        other = await h.ask(f"transcript {ticket.id}", user_id="U0OTHER")
        assert f"You have no ticket #{ticket.id}" in other["text"]
        bare = await h.ask("transcript")
        assert "`/support transcript N`" in bare["text"]
        await h.drain()
        transcripts = [m for m in h.thread(ticket.dm_channel, ticket.customer_thread)
                       if "# Ticket #" in section_text(m)]
        assert len(transcripts) == 1


# ---- the card: response target ----------------------------------------------------------------


async def test_the_card_and_queue_show_the_response_target_and_when_it_is_missed(
    tmp_path: Path,
) -> None:
    clock = ShiftableClock()
    async with running_desk(tmp_path, clock=clock) as h:
        ticket = await h.file_ticket()
        due = (await h.core.desk.card(ticket.id)).response_due_at
        assert due is not None
        fields = all_text(h.card(ticket.id)["blocks"][1])
        assert f"*Response target*\ndue <!date^{int(due.timestamp())}^" in fields

        clock.offset = timedelta(days=30)  # long past any Starter target
        await h.requester.block_action(ui.CARD_ASSIGN_ACTION, str(ticket.id),
                                       message=h.card(ticket.id), channel_id=STAFF_CHANNEL,
                                       user_id=STAFF_USER)
        await h.slack.wait_for("chat.update", lambda c: c.args.get("ts") == ticket.card_ts
                               and ":fire: breached — was due <!date^" in all_text(
                                   c.args["blocks"][1]))
        [line] = queue_lines(await h.ask("queue", user_id=STAFF_USER))
        assert ":fire: breached" in line and "late)" in line

        # A staff answer stops the clock: the card no longer shows a target.
        await h.say(STAFF_CHANNEL, "Looking into it now.", user=STAFF_USER,
                    thread_ts=ticket.card_ts)
        await h.slack.wait_for("chat.update", lambda c: c.args.get("ts") == ticket.card_ts
                               and "Waiting on customer" in all_text(c.args["blocks"][1])
                               and "Response target" not in all_text(c.args["blocks"][1]))


def test_target_text_says_due_nearing_or_breached_with_the_time_left() -> None:
    now = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    due = now + timedelta(hours=1, minutes=5)
    assert ui.target_text(due, "on track", now).startswith(f"due <!date^{int(due.timestamp())}^")
    assert ui.target_text(due, "on track", now).endswith("(in 1h 05m)")
    assert ui.target_text(due, "nearing target", now).startswith(":warning: nearing — due ")
    assert ui.target_text(now - timedelta(days=2, hours=3), "target breached", now).endswith(
        "(2d 3h late)")
    assert ui.target_text(due, "none", now) == ""
    assert ui.target_text(None, "on track", now) == ""


# ---- White Label Lite: escalation -----------------------------------------------------------


async def test_escalate_hands_a_white_label_ticket_to_the_provider(tmp_path: Path) -> None:
    reseller = AccountConfig(id="resellerco", name="ResellerCo", plan=Plan.PRO, white_label=True,
                             staff_channel=f"slack:{RESELLER_CHANNEL}",
                             workspaces=["slack:T0HELPLINE"])
    async with running_desk(tmp_path, desk_config(accounts=[reseller])) as h:
        # The account's own customers reach the account's own staff channel.
        ticket = await h.file_ticket(staff_channel=RESELLER_CHANNEL, category="API",
                                     subject="Webhook signatures fail verification",
                                     message="Every webhook fails our HMAC check.")
        refused = await h.ask(f"escalate {ticket.id}")
        assert STAFF_ONLY in refused["text"]

        # Someone of the reseller's team, in the reseller's staff channel, escalates.
        escalated = await h.ask(f"escalate {ticket.id}", user_id=RESELLER_USER,
                                channel_id=RESELLER_CHANNEL)
        provider_id = ticket.id + 1
        assert escalated["response_type"] == "in_channel"  # the reseller's team sees it
        assert f"escalated #{ticket.id} to the provider as #{provider_id}" in escalated["text"]

        # The provider's card, in the provider's staff channel, says where it came from.
        await h.slack.wait_for("chat.postMessage", lambda c: c.ok
                               and c.args.get("channel") == STAFF_CHANNEL
                               and f"*#{provider_id}*" in all_text(c.args.get("blocks")))
        card = h.card(provider_id)
        assert f"escalated from #{ticket.id}" in all_text(card["blocks"])
        [relay] = await h.wait_post(STAFF_CHANNEL, card["ts"], "Escalated by")
        assert "Escalated by u0reseller of ResellerCo" in section_text(relay.args)
        assert "Every webhook fails our HMAC check." in section_text(relay.args)

        # The provider answers; the reseller's team reads and answers in the escalation's
        # thread in their own channel, as the provider's customer.
        [opened] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.ok and c.args.get("channel") == RESELLER_CHANNEL
            and "thread_ts" not in c.args and f"Ticket #{provider_id} " in section_text(c.args))
        assert opened.response is not None
        theirs = Ticket(provider_id, RESELLER_CHANNEL, str(opened.response["ts"]), card["ts"])
        await h.threads_known(theirs)
        await h.say(STAFF_CHANNEL, "Rotate the secret, please.", user=STAFF_USER,
                    thread_ts=card["ts"])
        await h.wait_post(RESELLER_CHANNEL, theirs.customer_thread, "Rotate the secret")
        await h.say(RESELLER_CHANNEL, "Done, it works again.", user=RESELLER_USER,
                    thread_ts=theirs.customer_thread)
        await h.wait_post(STAFF_CHANNEL, card["ts"], "it works again")

        again = await h.ask(f"escalate {ticket.id}", user_id=RESELLER_USER,
                            channel_id=RESELLER_CHANNEL)
        assert f"already escalated to the provider as #{provider_id}" in again["text"]
        copy = await h.ask(f"escalate {provider_id}", user_id=STAFF_USER)
        assert f"the provider's copy of #{ticket.id}" in copy["text"]
        assert await h.core.desk.count_tickets() == 2


async def test_escalate_refuses_a_ticket_that_is_already_the_providers(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        answer = await h.ask(f"escalate {ticket.id}", user_id=STAFF_USER)
        assert answer["response_type"] == "ephemeral"
        assert "not a White Label Lite account's ticket" in answer["text"]
        missing = await h.ask("escalate 999", user_id=STAFF_USER)
        assert "There is no ticket #999" in missing["text"]
        assert await h.core.desk.count_tickets() == 1
