"""End to end: the conversation after a ticket exists — staff replies relayed to the customer,
customer replies relayed to staff, internal notes kept internal, staff-only actions, close and
reopen, Slack's retries, rate limits and bad signatures.

Same harness as test_slack_intake: real bolt app over HTTP, FakeSlack, signed requests, the
real delivery worker."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from adapters.slack import blocks as ui
from core.config import OnCall, StaffConfig
from core.models import Status
from core.storage.tables import MessageRow
from tests.adapters.slack_harness import (
    CUSTOMER,
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    Ticket,
    all_text,
    desk_config,
    message_event,
    raw_section_text,
    running_desk,
    section_text,
)
from tests.fakes.slack_api import RESPONSE_URL


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (6, 6), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def card_status(h: RunningDesk, ticket: Ticket, status: Status, count: int = 1) -> None:
    """Wait until the card was updated in place to show ``status``."""
    await h.slack.wait_for(
        "chat.update", lambda c: c.ok and c.args.get("ts") == ticket.card_ts
        and f"{status.value}" in all_text(c.args["blocks"][1]), count=count)


async def staff_says(h: RunningDesk, ticket: Ticket, text: str, *, user: str = STAFF_USER,
                     event_id: str | None = None) -> dict[str, object]:
    return await h.say(STAFF_CHANNEL, text, user=user, thread_ts=ticket.card_ts,
                       event_id=event_id)


async def customer_says(h: RunningDesk, ticket: Ticket, text: str,
                        files: list[dict[str, object]] | None = None) -> dict[str, object]:
    return await h.say(ticket.dm_channel, text, user=CUSTOMER, thread_ts=ticket.customer_thread,
                       files=files)


# ---- staff → customer ------------------------------------------------------------------------


async def test_staff_reply_is_relayed_escaped_marked_delivered_and_waits_on_customer(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        # As Slack sends it: mentions as markup, typed "<" ">" "&" escaped.
        said = await staff_says(
            h, ticket, "<!channel> <!here> <!everyone> ask <@U0OTHER> &amp; type &lt;!here&gt;")

        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread)
        shown = raw_section_text(relay.args)
        assert "<!" not in shown and "<@" not in shown
        assert section_text(relay.args) == "@channel @here @everyone ask @U0OTHER & type <!here>"
        assert "<!" not in relay.args["text"]
        assert "u0staff" in all_text(relay.args["blocks"])
        [tick] = await h.slack.wait_for("reactions.add")
        assert (tick.args["channel"], tick.args["timestamp"], tick.args["name"]) == (
            STAFF_CHANNEL, said["ts"], "white_check_mark")
        await card_status(h, ticket, Status.WAITING_ON_CUSTOMER)


async def test_a_long_staff_reply_is_split_at_slack_limits_without_losing_a_character(
    tmp_path: Path,
) -> None:
    text = "&".join(f"line {i} <x>" for i in range(420))[:4990]
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        await staff_says(h, ticket, escaped)

        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread)
        sections = [b["text"]["text"] for b in relay.args["blocks"] if b["type"] == "section"]
        assert len(sections) > 1 and all(len(s) <= 3000 for s in sections)
        assert section_text(relay.args) == text


# ---- customer → staff ------------------------------------------------------------------------


async def test_customer_reply_with_an_image_is_relayed_to_the_card_thread(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        await staff_says(h, ticket, "Which invoice exactly?")
        await h.wait_post(ticket.dm_channel, ticket.customer_thread)
        shot = h.slack.add_file(png(), "invoice.png", "image/png")

        said = await customer_says(h, ticket, "INV-2231, screenshot attached <!here>",
                                   files=[shot])

        [relay] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "INV-2231, screenshot")
        assert section_text(relay.args) == "INV-2231, screenshot attached @here"
        [upload] = await h.slack.wait_for("files.completeUploadExternal")
        assert upload.args["thread_ts"] == ticket.card_ts
        assert h.slack.file_bytes(upload.args["files"][0]["id"]) == png()
        await h.slack.wait_for("reactions.add", lambda c: c.args["timestamp"] == said["ts"])
        await card_status(h, ticket, Status.OPEN, count=1)


async def test_a_customer_reply_that_cannot_be_accepted_is_answered_in_the_thread(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        pdf = h.slack.add_file(b"%PDF-1.4 statement", "statement.pdf", "application/pdf")
        staff_posts_before = len(h.thread(STAFF_CHANNEL, ticket.card_ts))

        await customer_says(h, ticket, "hi")
        await customer_says(h, ticket, "Here is the statement", files=[pdf])

        short, not_image = await h.wait_post(ticket.dm_channel, ticket.customer_thread, count=2)
        assert "at least 5 characters" in section_text(short.args)
        assert "PDF" in section_text(not_image.args)
        await h.drain()
        assert len(h.thread(STAFF_CHANNEL, ticket.card_ts)) == staff_posts_before


# ---- keeping internal things internal --------------------------------------------------------


async def test_notes_and_colleague_talk_are_never_relayed_and_are_marked_internal(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        kept = [
            await staff_says(h, ticket, "note: customer was refunded last month already"),
            await staff_says(h, ticket, "*Internal:* check with billing first"),
            await staff_says(h, ticket, "&gt; staff only - do not promise a date"),
            await staff_says(h, ticket, "<@U0BILLING> can you look at INV-2231?"),
        ]
        await staff_says(h, ticket, "Thanks, we're looking into it.")

        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread)
        assert section_text(relay.args) == "Thanks, we're looking into it."
        locks = await h.slack.wait_for("reactions.add", lambda c: c.args["name"] == "lock",
                                       count=4)
        assert sorted(str(c.args["timestamp"]) for c in locks) == sorted(str(m["ts"]) for m in kept)
        await h.drain()
        customer_side = " ".join(section_text(m) for m in h.thread(ticket.dm_channel,
                                                                   ticket.customer_thread))
        for secret in ("refunded", "billing first", "promise a date", "INV-2231?"):
            assert secret not in customer_side
        detail = await h.core.desk.ticket_detail(ticket.id)
        assert [m.body for m in detail.messages if m.kind == "note"] == [
            "customer was refunded last month already", "check with billing first",
            "do not promise a date", "@U0BILLING can you look at INV-2231?"]
        assert [m.body for m in detail.messages][-1] == "Thanks, we're looking into it."


async def test_internal_note_shortcut_stores_a_note_shown_only_in_the_staff_thread(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        card = h.card(ticket.id)

        await h.requester.message_shortcut(ui.INTERNAL_NOTE_SHORTCUT, card, STAFF_CHANNEL,
                                           user_id=STAFF_USER)
        [opened] = await h.slack.wait_for(
            "views.open", lambda c: c.args["view"]["callback_id"] == ui.NOTE_CALLBACK)
        assert opened.response is not None
        modal = h.slack.view(opened.response["view"]["id"])
        reply = await h.requester.view_submission(
            ui.NOTE_CALLBACK,
            {ui.NOTE_BLOCK: {ui.INPUT_ACTION: {"type": "plain_text_input",
                                               "value": "VIP customer, be gentle"}}},
            view=modal, user_id=STAFF_USER)

        assert (reply.status, reply.text) == (200, "")
        [shown] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Internal note")
        assert "VIP customer, be gentle" in section_text(shown.args)
        await h.drain()
        assert all("VIP" not in section_text(m)
                   for m in h.slack.messages(ticket.dm_channel))
        detail = await h.core.desk.ticket_detail(ticket.id)
        assert [m.body for m in detail.messages if m.kind == "note"] == [
            "VIP customer, be gentle"]


async def test_someone_not_on_staff_is_told_so_and_nothing_is_relayed(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        await staff_says(h, ticket, "I think we should just refund them", user="U0INTERN")
        await h.requester.block_action(ui.CARD_CLOSE_ACTION, str(ticket.id),
                                       message=h.card(ticket.id), channel_id=STAFF_CHANNEL,
                                       user_id="U0INTERN")

        [told] = await h.slack.wait_for("chat.postEphemeral")
        assert told.args["user"] == "U0INTERN"
        assert told.args["thread_ts"] == ticket.card_ts
        assert "Only the support team" in told.args["text"]
        [hook] = await h.slack.wait_for(RESPONSE_URL)
        assert "Only the support team" in hook.args["text"]
        assert hook.args["response_type"] == "ephemeral"
        await h.drain()
        assert h.thread(ticket.dm_channel, ticket.customer_thread) == []
        assert (await h.core.desk.card(ticket.id)).status is Status.OPEN


async def test_staff_from_a_user_group_may_speak_for_the_desk(tmp_path: Path) -> None:
    config = desk_config(staff=StaffConfig(slack_usergroups=["S0SUPPORT"]))
    async with running_desk(tmp_path, config) as h:
        h.slack.set_usergroup("S0SUPPORT", ["U0ALICE"])
        ticket = await h.file_ticket()

        await staff_says(h, ticket, "On it, give me five minutes.", user="U0ALICE")

        [relay] = await h.wait_post(ticket.dm_channel, ticket.customer_thread)
        assert section_text(relay.args) == "On it, give me five minutes."


# ---- card buttons ---------------------------------------------------------------------------


async def test_close_then_customer_reply_reopens_and_the_card_is_updated_in_place(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        await h.requester.block_action(ui.CARD_CLOSE_ACTION, str(ticket.id),
                                       message=h.card(ticket.id), channel_id=STAFF_CHANNEL,
                                       user_id=STAFF_USER)

        await card_status(h, ticket, Status.CLOSED)
        [closed] = await h.wait_post(ticket.dm_channel, ticket.customer_thread, "is now closed")
        card = h.card(ticket.id)
        assert [el["action_id"] for el in card["blocks"][-2]["elements"]][-1] == (
            ui.CARD_REOPEN_ACTION)

        await customer_says(h, ticket, "It happened again on INV-2240.")

        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "It happened again")
        await card_status(h, ticket, Status.OPEN)
        assert (await h.core.desk.card(ticket.id)).reopen_count == 1
        cards = [m for m in h.slack.calls("chat.postMessage")
                 if m.args.get("channel") == STAFF_CHANNEL and "thread_ts" not in m.args]
        assert len(cards) == 1  # updated in place, never re-posted
        assert closed.ok


async def test_assign_status_category_and_reopen_buttons_change_the_ticket(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        def card() -> dict[str, object]:
            return h.card(ticket.id)

        await h.requester.block_action(ui.CARD_ASSIGN_ACTION, str(ticket.id), message=card(),
                                       channel_id=STAFF_CHANNEL, user_id=STAFF_USER)
        await h.slack.wait_for("chat.update", lambda c: "u0staff" in all_text(c.args["blocks"]))
        await h.requester.block_action(
            ui.CARD_CATEGORY_ACTION, message=card(), channel_id=STAFF_CHANNEL,
            user_id=STAFF_USER,
            action={"type": "static_select",
                    "selected_option": {"value": f"{ticket.id}:Technical"}})
        await h.slack.wait_for("chat.update",
                               lambda c: "*Category*\nTechnical" in all_text(c.args["blocks"]))
        await h.requester.block_action(
            ui.CARD_STATUS_ACTION, message=card(), channel_id=STAFF_CHANNEL, user_id=STAFF_USER,
            action={"type": "static_select",
                    "selected_option": {"value": f"{ticket.id}:Closed"}})
        await card_status(h, ticket, Status.CLOSED)
        await h.requester.block_action(ui.CARD_REOPEN_ACTION, str(ticket.id), message=card(),
                                       channel_id=STAFF_CHANNEL, user_id=STAFF_USER)

        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "reopened by the support")
        summary = await h.core.desk.card(ticket.id)
        assert (summary.assignee, summary.category, summary.status) == (
            "u0staff", "Technical", Status.OPEN)


# ---- Slack's retries, rate limits and signatures --------------------------------------------


async def test_a_retried_event_never_relays_twice(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        said = h.slack.add_message(STAFF_CHANNEL, "Refund issued.", user=STAFF_USER,
                                   thread_ts=ticket.card_ts)
        from tests.fakes.slack_requests import message_event

        event = message_event("Refund issued.", channel=STAFF_CHANNEL, user=STAFF_USER,
                              ts=said["ts"], thread_ts=ticket.card_ts)
        first = await h.requester.event(event, event_id="Ev0RETRY1")
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "Refund issued.")
        retried = await h.requester.event(event, event_id="Ev0RETRY1", retry_num=1,
                                          retry_reason="http_timeout")

        assert (first.status, retried.status) == (200, 200)
        await h.drain()
        relays = [m for m in h.thread(ticket.dm_channel, ticket.customer_thread)
                  if "Refund issued." in section_text(m)]
        assert len(relays) == 1
        detail = await h.core.desk.ticket_detail(ticket.id)
        assert [m.body for m in detail.messages].count("Refund issued.") == 1


async def test_a_request_with_a_bad_signature_is_rejected_and_does_nothing(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        forged = h.requester.with_signing(secret="not-the-secret")
        stale = h.requester.with_signing(clock_skew=-400)

        replies = [await forged.slash_command("/support", "new"),
                   await stale.slash_command("/support", ""),
                   await forged.view_submission(ui.INTAKE_CALLBACK, {})]

        assert [r.status for r in replies] == [401, 401, 401]
        assert h.slack.calls() == []
        assert await h.core.desk.count_tickets() == 0


async def test_a_429_from_slack_delays_the_relay_which_is_then_delivered_exactly_once(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        h.slack.fail_next("chat.postMessage", status=429, retry_after=1)

        said = await staff_says(h, ticket, "Please try again now.")

        attempts = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == ticket.dm_channel
            and "Please try again now." in section_text(c.args), count=2)
        assert [c.outcome for c in attempts] == ["http:429", "ok"]
        await h.slack.wait_for("reactions.add", lambda c: c.args["timestamp"] == said["ts"])
        await h.drain()
        delivered = [m for m in h.thread(ticket.dm_channel, ticket.customer_thread)
                     if "Please try again now." in section_text(m)]
        assert len(delivered) == 1


async def test_a_reply_that_cannot_be_delivered_gets_a_warning_and_the_reason(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        h.slack.error_next("chat.postMessage", "is_archived")

        said = await staff_says(h, ticket, "Could you send the invoice number?")

        [warned] = await h.slack.wait_for(
            "reactions.add", lambda c: c.args["timestamp"] == said["ts"])
        assert warned.args["name"] == "warning"
        [notice] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "could not be delivered")
        assert "is_archived" in section_text(notice.args)


async def test_a_closed_ticket_asks_for_a_rating_that_the_customer_gives_once(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        await h.requester.block_action(ui.CARD_CLOSE_ACTION, str(ticket.id),
                                       message=h.card(ticket.id), channel_id=STAFF_CHANNEL,
                                       user_id=STAFF_USER)
        [asked] = await h.wait_post(ticket.dm_channel, ticket.customer_thread, "How did we do")
        assert asked.response is not None
        request = h.slack.message(ticket.dm_channel, asked.response["ts"])
        buttons = [el["action_id"] for b in request["blocks"] if b["type"] == "actions"
                   for el in b["elements"]]
        assert buttons == [*(f"{ui.RATE_ACTION_PREFIX}{n}" for n in range(1, 6)),
                           ui.RATE_COMMENT_ACTION]
        value = f"{ticket.id}:{asked.args['blocks'][-1]['block_id'].rsplit('_', 1)[-1]}:5"

        await h.requester.block_action(f"{ui.RATE_ACTION_PREFIX}5", value, message=request,
                                       channel_id=ticket.dm_channel, user_id=CUSTOMER)
        [thanks] = await h.slack.wait_for(RESPONSE_URL)
        await h.requester.block_action(f"{ui.RATE_ACTION_PREFIX}1", value.replace(":5", ":1"),
                                       message=request, channel_id=ticket.dm_channel,
                                       user_id=CUSTOMER)
        _, again = await h.slack.wait_for(RESPONSE_URL, count=2)

        assert thanks.args["replace_original"] is True
        assert thanks.args["text"] == f"Thanks for rating ticket #{ticket.id}: 5/5."
        assert again.args["text"] == f"You already rated ticket #{ticket.id}. Thank you!"


async def test_an_urgent_ticket_pings_the_on_call_group_once_in_the_channel(
    tmp_path: Path,
) -> None:
    config = desk_config(oncall=OnCall(slack_usergroup="S0ONCALL"))
    async with running_desk(tmp_path, config) as h:
        ticket = await h.file_ticket(subject="URGENT all mail bouncing")

        [alert] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Urgent ticket")
        assert raw_section_text(alert.args).startswith("<!subteam^S0ONCALL> ")
        assert alert.args["reply_broadcast"] in (True, "true", "1")
        pings = [c for c in h.slack.calls("chat.postMessage")
                 if "<!subteam^" in raw_section_text(c.args)]
        assert len(pings) == 1


async def test_a_thread_message_is_recorded_before_slack_is_told_it_arrived(
    tmp_path: Path,
) -> None:
    """Slack stops resending an event once it has its 200: if the process died between that
    answer and the write, the reply would be gone. So the answer waits for the write."""
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        h.slack.hang_next("users.info")  # the staff member's name is not known yet
        text = "Your corrected invoice is attached to your account now."
        message = h.slack.add_message(STAFF_CHANNEL, text, user=STAFF_USER,
                                      thread_ts=ticket.card_ts)
        answer = asyncio.create_task(h.requester.event(message_event(
            text, channel=STAFF_CHANNEL, user=STAFF_USER, ts=message["ts"],
            thread_ts=ticket.card_ts)))

        await h.slack.wait_for("users.info", lambda c: c.outcome == "hang")
        await asyncio.wait({answer}, timeout=0.5)
        assert not answer.done()  # not answered while the message is not yet recorded
        h.slack.release()
        reply = await answer

        assert reply.status == 200
        async with h.core.db.read() as session:  # recorded by the time Slack got its answer
            bodies = (await session.scalars(
                select(MessageRow.body).where(MessageRow.ticket_id == ticket.id))).all()
        assert text in bodies
