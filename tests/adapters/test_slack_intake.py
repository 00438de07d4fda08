"""End to end: a customer files a ticket from Slack — Support Center, the modal, its field
errors, the duplicate and self-service steps, creation — and staff get the card.

The real bolt app is served over HTTP (`create_slack_adapter`, as `helpline run` builds it);
Slack's side is `SlackRequester` (signed requests) and `FakeSlack` (the Web API); the real
delivery worker posts through the adapter's transport. Tests wait for what the fake records."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adapters.slack import blocks as ui
from core.config import AccountConfig, IntakeConfig
from core.errors import StorageUnavailable
from core.models import Actor, Identity, Plan, Platform
from tests.adapters.slack_harness import (
    CUSTOMER,
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    all_text,
    desk_config,
    form_state,
    running_desk,
    section_text,
)
from tests.fakes.slack_api import DOWNLOAD, RESPONSE_URL
from tests.fakes.slack_requests import app_home_opened_event


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def support_center(h: RunningDesk, user_id: str = CUSTOMER) -> dict[str, object]:
    before = len(h.slack.calls(RESPONSE_URL))
    reply = await h.requester.slash_command("/support", "", user_id=user_id)
    assert (reply.status, reply.text) == (200, "")
    hooks = await h.slack.wait_for(RESPONSE_URL, count=before + 1)
    return dict(hooks[-1].args)


# ---- Support Center ----------------------------------------------------------------------------


async def test_support_lists_the_customers_tickets_newest_first_with_links_ephemerally(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        empty = await support_center(h)
        assert empty["response_type"] == "ephemeral"
        assert "You have no tickets yet" in all_text(empty["blocks"])

        first = await h.file_ticket(subject="Invoice shows the wrong VAT number")
        second = await h.file_ticket(category="Technical", subject="Outlook cannot send mail",
                                     message="Outlook says 550 5.7.1 sender denied since 14:30.")
        shown = await support_center(h)

        text = all_text(shown["blocks"])
        assert shown["response_type"] == "ephemeral"
        assert text.index(f"*#{second.id}*") < text.index(f"*#{first.id}*")
        assert "Outlook cannot send mail" in text and "Open · Technical" in text
        blocks: list[dict[str, Any]] = shown["blocks"]  # type: ignore[assignment]
        actions = [el for b in blocks if b["type"] == "actions" for el in b["elements"]]
        assert [a["action_id"] for a in actions] == [ui.NEW_TICKET_ACTION]
        assert "https://status.trekmail.net" in text  # quick links include the status page
        assert "Contact options" in text
        assert "Priority Support" not in text  # Starter: no badge


async def test_priority_badge_and_active_incident_show_in_the_support_center(
    tmp_path: Path,
) -> None:
    config = desk_config(accounts=[AccountConfig(id="acme", plan=Plan.AGENCY,
                                                 workspaces=["slack:T0HELPLINE"])])
    async with running_desk(tmp_path, config) as h:
        staff = Actor(identity=Identity(platform=Platform.SLACK, workspace="T0HELPLINE",
                                        user_id=STAFF_USER), is_staff=True)
        await h.core.desk.start_incident(staff, "Outbound mail is delayed by up to 30 minutes")

        text = all_text((await support_center(h))["blocks"])

        assert "Priority Support" in text
        assert "Active incident" in text and "Outbound mail is delayed" in text


async def test_home_tab_publishes_the_same_support_center(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()

        await h.requester.event(app_home_opened_event(CUSTOMER))

        [published] = await h.slack.wait_for("views.publish")
        assert published.ok
        home = h.slack.home_view(CUSTOMER)
        assert home is not None and home["type"] == "home"
        assert f"*#{ticket.id}*" in all_text(home["blocks"])
        assert "New ticket" in all_text(home["blocks"])


async def test_support_list_and_help(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket()
        await h.requester.slash_command("/support", "list")
        await h.requester.slash_command("/support", "help")

        listed, helped = await h.slack.wait_for(RESPONSE_URL, count=2)
        by_text = {c.args["text"]: all_text(c.args["blocks"]) for c in (listed, helped)}
        assert f"*#{ticket.id}*" in by_text["Your tickets"]
        assert "What support can't do" in by_text["Support help"]
        assert "Mailbox password reset" in by_text["Support help"]


# ---- the modal -------------------------------------------------------------------------------


async def test_support_new_opens_the_form_at_once_with_the_subject_and_every_field(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        view = await h.open_form("new DNS not verifying after 24 hours")

        assert view["callback_id"] == ui.INTAKE_CALLBACK
        inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
        assert list(inputs) == [ui.CATEGORY_BLOCK, ui.SUBJECT_BLOCK, ui.MESSAGE_BLOCK,
                                ui.MESSAGE_MORE_BLOCK, ui.IMAGE_BLOCK]
        options = inputs[ui.CATEGORY_BLOCK]["element"]["options"]
        assert len(options) == 11 and all("description" in o for o in options)
        subject = inputs[ui.SUBJECT_BLOCK]["element"]
        assert subject["initial_value"] == "DNS not verifying after 24 hours"
        assert (subject["min_length"], subject["max_length"]) == (4, 150)
        assert inputs[ui.MESSAGE_BLOCK]["element"]["max_length"] == 3000
        assert inputs[ui.MESSAGE_MORE_BLOCK]["element"]["max_length"] == 2000
        image = inputs[ui.IMAGE_BLOCK]["element"]
        assert (image["type"], image["max_files"], inputs[ui.IMAGE_BLOCK]["optional"]) == (
            "file_input", 1, True)
        assert "Anything functional that isn't billing" in all_text(view["blocks"])


async def test_new_ticket_button_and_both_shortcuts_open_the_form(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        # Slack sends message text escaped, with mentions as markup.
        original = h.slack.add_message(
            "C0GENERAL1", "<@U0BOSS> bounce rate jumped to 12% &amp; &lt;b&gt;rising&lt;/b&gt;")

        await h.requester.shortcut(ui.NEW_TICKET_SHORTCUT)
        await h.requester.message_shortcut(ui.FILE_MESSAGE_SHORTCUT, original, "C0GENERAL1")
        await h.requester.block_action(ui.NEW_TICKET_ACTION, "new",
                                       container={"type": "message", "is_ephemeral": True})

        opened = await h.slack.wait_for("views.open", count=3)
        assert all(c.ok for c in opened)
        assert {c.args["view"]["callback_id"] for c in opened} == {ui.INTAKE_CALLBACK}
        prefilled = [b["element"].get("initial_value", "") for c in opened
                     for b in c.args["view"]["blocks"] if b.get("block_id") == ui.MESSAGE_BLOCK]
        [from_message] = [p for p in prefilled if p]
        assert from_message.startswith("@U0BOSS bounce rate jumped to 12% & <b>rising</b>")
        link = f"https://helpline-test.slack.com/archives/C0GENERAL1/p{original['ts'].replace('.', '')}"
        assert link in from_message


async def test_each_kind_of_field_error_comes_back_inline_and_nothing_is_filed(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        missing = await h.submit(form_state(category=None, subject="Hi", message="abc"))
        secret = await h.submit(form_state(message="Can't log in. My password is Tr0ub4dor&3x!"))
        pdf = h.slack.add_file(b"%PDF-1.7 invoice", "invoice.pdf", "application/pdf")
        not_image = await h.submit(form_state(files=[pdf]))
        shot = h.slack.add_file(png(), "screen.png", "image/png")
        h.slack.login_page_next()
        login_page = await h.submit(form_state(files=[shot]))
        too_long = await h.submit(form_state(message="x" * 3000, more="y" * 2001))

        assert missing.body["response_action"] == "errors"
        assert set(missing.body["errors"]) == {ui.CATEGORY_BLOCK, ui.SUBJECT_BLOCK,
                                               ui.MESSAGE_BLOCK}
        assert "at least 4 characters" in missing.body["errors"][ui.SUBJECT_BLOCK]
        assert "at least 5 characters" in missing.body["errors"][ui.MESSAGE_BLOCK]
        assert list(secret.body["errors"]) == [ui.MESSAGE_BLOCK]
        assert "password" in secret.body["errors"][ui.MESSAGE_BLOCK].lower()
        assert list(not_image.body["errors"]) == [ui.IMAGE_BLOCK]
        assert "PDF" in not_image.body["errors"][ui.IMAGE_BLOCK]
        assert list(login_page.body["errors"]) == [ui.IMAGE_BLOCK]
        assert "sign-in page" in login_page.body["errors"][ui.IMAGE_BLOCK]
        assert [c.outcome for c in h.slack.calls(DOWNLOAD)] == ["ok", "error:login_page"]
        assert "at most 5000 characters (it has 5001)" in too_long.body["errors"][ui.MESSAGE_BLOCK]
        await h.drain()
        assert h.slack.calls("chat.postMessage") == []
        assert await h.core.desk.count_tickets() == 0


async def test_a_storage_outage_is_a_try_again_field_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(*args: object, **kwargs: object) -> None:
        raise StorageUnavailable()

    async with running_desk(tmp_path) as h:
        monkeypatch.setattr(h.core.desk, "submit", unavailable)
        reply = await h.submit(form_state())

        assert reply.status == 200
        assert reply.body["response_action"] == "errors"
        assert "try again" in reply.body["errors"][ui.MESSAGE_BLOCK].lower()


async def test_a_5000_character_message_arrives_whole_from_the_two_inputs(tmp_path: Path) -> None:
    first = ("Steps I tried. " * 200)[:3000]
    rest = "".join(chr(ord("a") + i % 26) for i in range(2000))
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket(message=first, more=rest)

        [relay] = await h.wait_post(STAFF_CHANNEL, ticket.card_ts)
        assert section_text(relay.args) == first + rest
        sections = [b for b in relay.args["blocks"] if b["type"] == "section"]
        assert len(sections) == 2 and all(len(b["text"]["text"]) <= 3000 for b in sections)


async def test_created_ticket_thread_says_number_status_and_what_next_and_staff_get_a_card(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        shot = h.slack.add_file(png(), "screen.png", "image/png")
        reply = await h.submit(form_state(subject="URGENT invoice blocks our renewal",
                                          files=[shot]))
        assert reply.body["response_action"] == "update"
        assert "Ticket #1 filed" in all_text(reply.body["view"]["blocks"])

        [card_call] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == STAFF_CHANNEL
            and "thread_ts" not in c.args)
        [opened] = await h.slack.wait_for("conversations.open")
        assert opened.args["users"] == CUSTOMER
        dm = h.slack.dm_channel(CUSTOMER)
        [first] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == dm and c.ok)
        words = section_text(first.args)
        assert "Ticket #1 — URGENT invoice blocks our renewal" in words
        assert "Status: Open" in words and "standard queue" in words

        card = all_text(card_call.args["blocks"])
        for expected in ("*#1*", "URGENT", "Billing", "Starter", "u0customer", "T0HELPLINE",
                         "INV-2231"):
            assert expected in card, expected
        buttons = [el["action_id"] for b in card_call.args["blocks"] if b["type"] == "actions"
                   for el in b["elements"]]
        assert buttons == [ui.CARD_ASSIGN_ACTION, ui.CARD_STATUS_ACTION, ui.CARD_CATEGORY_ACTION,
                           ui.CARD_CLOSE_ACTION]
        # the screenshot follows the relayed message into the card's thread
        [upload] = await h.slack.wait_for("files.completeUploadExternal")
        assert upload.args["thread_ts"] == card_call.response["ts"]  # type: ignore[index]
        [uploaded] = upload.args["files"]
        assert h.slack.file_bytes(uploaded["id"]) == png()


async def test_an_intake_channel_keeps_the_ticket_thread_where_the_customer_asked(
    tmp_path: Path,
) -> None:
    config = desk_config(intake=IntakeConfig(slack_intake_channels=["C0HELPDESK"]))
    async with running_desk(tmp_path, config) as h:
        view = await h.open_form(channel_id="C0HELPDESK")
        reply = await h.submit(form_state(), view=view)

        assert "<#C0HELPDESK>" in all_text(reply.body["view"]["blocks"])
        [opened] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == "C0HELPDESK")
        assert "thread_ts" not in opened.args
        assert "Ticket #1" in section_text(opened.args)
        assert h.slack.calls("conversations.open") == []


async def test_a_retried_submit_returns_the_same_ticket(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        view = await h.open_form()
        one = await h.submit(form_state(), view=view)
        again = await h.submit(form_state(), view=view)

        assert one.body["view"]["title"]["text"] == again.body["view"]["title"]["text"] == (
            "Ticket #1")
        await h.drain()
        assert await h.core.desk.count_tickets() == 1


# ---- duplicate and self-service steps --------------------------------------------------------


async def test_duplicate_prompt_then_continue_adds_to_the_open_ticket(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        ticket = await h.file_ticket(subject="Invoice shows the wrong VAT number")
        view = await h.open_form()
        reply = await h.submit(form_state(subject="Wrong VAT number on my invoice",
                                          message="Still wrong on INV-2231, please fix it."),
                               view=view)

        assert reply.body["response_action"] == "update"
        shown = reply.body["view"]
        assert "Looks like you have an open ticket about this" in all_text(shown["blocks"])
        labels = [el["text"]["text"] for b in shown["blocks"] if b["type"] == "actions"
                  for el in b["elements"]]
        assert labels == [f"Continue #{ticket.id}", "Create a new ticket"]

        done = await h.press_in_modal(reply, view, ui.DUP_CONTINUE_ACTION)

        assert f"Added to ticket *#{ticket.id}*" in all_text(done["blocks"])
        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Still wrong on INV-2231")
        assert await h.core.desk.count_tickets() == 1


async def test_duplicate_prompt_then_create_new_files_a_ticket_marked_possible_duplicate(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        await h.file_ticket(subject="Invoice shows the wrong VAT number")
        view = await h.open_form()
        reply = await h.submit(form_state(subject="Wrong VAT number on my invoice"), view=view)

        done = await h.press_in_modal(reply, view, ui.DUP_CREATE_ACTION)

        assert "Ticket #2 filed" in all_text(done["blocks"])
        [card] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == STAFF_CHANNEL
            and "*#2*" in all_text(c.args.get("blocks")))
        assert "possible duplicate of #1" in all_text(card.args["blocks"])


async def test_self_service_offer_solved_files_nothing(tmp_path: Path) -> None:
    async with running_desk(tmp_path) as h:
        view = await h.open_form()
        reply = await h.submit(form_state(
            subject="Card payment failed on renewal",
            message="My card payment failed when renewing, the card was declined."), view=view)

        shown = reply.body["view"]
        assert reply.body["response_action"] == "update"
        assert "fixing-failed-payments" in all_text(shown["blocks"])
        done = await h.press_in_modal(reply, view, ui.SS_SOLVED_ACTION)

        assert "no ticket was filed" in all_text(done["blocks"])
        await h.drain()
        assert await h.core.desk.count_tickets() == 0
        assert h.slack.calls("chat.postMessage") == []


async def test_self_service_offer_file_anyway_records_the_articles_on_the_card(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        view = await h.open_form()
        reply = await h.submit(form_state(
            subject="Card payment failed on renewal",
            message="My card payment failed when renewing, the card was declined."), view=view)

        done = await h.press_in_modal(reply, view, ui.SS_FILE_ACTION)

        assert "Ticket #1 filed" in all_text(done["blocks"])
        [card] = await h.slack.wait_for(
            "chat.postMessage", lambda c: c.args.get("channel") == STAFF_CHANNEL
            and "thread_ts" not in c.args)
        assert "fixing-failed-payments (filed anyway)" in all_text(card.args["blocks"])
        # the same draft cannot be used twice
        again = await h.press_in_modal(reply, view, ui.SS_FILE_ACTION)
        assert "Ticket #1" in all_text(again)
        assert await h.core.desk.count_tickets() == 1


async def test_a_submit_slower_than_slacks_3_seconds_answers_working_then_the_result(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        h.adapter.handlers.submit_budget = 0.05  # stands in for Slack's 3 s
        view = await h.open_form()
        shot = h.slack.add_file(png(), "screen.png", "image/png")
        h.slack.hang_next(DOWNLOAD)  # the image download is slow

        reply = await h.submit(form_state(files=[shot]), view=view)

        assert reply.body["response_action"] == "update"
        assert "Filing your ticket" in all_text(reply.body["view"]["blocks"])
        await h.slack.wait_for(DOWNLOAD)
        assert h.slack.release() == 1
        [updated] = await h.slack.wait_for("views.update")
        assert updated.args["view_id"] == view["id"]
        assert "Ticket #1 filed" in all_text(updated.args["view"]["blocks"])


async def test_a_slow_submit_with_field_errors_shows_them_on_the_form_again(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path) as h:
        h.adapter.handlers.submit_budget = 0.05
        view = await h.open_form()
        pdf = h.slack.add_file(b"%PDF-1.7", "invoice.pdf", "application/pdf")
        h.slack.hang_next(DOWNLOAD)

        reply = await h.submit(form_state(subject="Hi", files=[pdf]), view=view)
        await h.slack.wait_for(DOWNLOAD)
        h.slack.release()

        assert reply.body["response_action"] == "update"
        [updated] = await h.slack.wait_for("views.update")
        form = updated.args["view"]
        assert form["callback_id"] == ui.INTAKE_CALLBACK
        text = all_text(form["blocks"])
        assert "at least 4 characters" in text and "PDF" in text
        subject = next(b for b in form["blocks"] if b.get("block_id") == ui.SUBJECT_BLOCK)
        assert subject["element"]["initial_value"] == "Hi"


async def test_the_form_opens_without_waiting_for_the_customers_name(tmp_path: Path) -> None:
    """The trigger lasts 3 s: nothing but the form's own read comes before views.open."""
    async with running_desk(tmp_path) as h:
        h.slack.hang_next("users.info")

        view = await h.open_form()

        assert view["callback_id"] == ui.INTAKE_CALLBACK
        assert h.slack.calls("users.info") == []
        h.slack.release()
