"""The Slack transport against the fake Web API (what the delivery worker relies on), and the
text rules every relay goes through (escaping and splitting)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.slack.clients import WorkspaceClients
from adapters.slack.text import escape, escaped_chunks, from_slack_markup, join_message, unescape
from adapters.slack.transport import SlackTransport
from core.models import (
    Attachment,
    Category,
    Destination,
    MessageRef,
    Plan,
    Platform,
    Status,
    ThreadRef,
)
from core.outbound import DeliveryError, Outbound, OutboundFile, OutboundKind, Reaction
from core.views import TicketCard
from tests.adapters.slack_harness import section_text
from tests.fakes.slack_api import UPLOAD, FakeSlack

STAFF = "C0STAFF"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def transport(slack: FakeSlack) -> SlackTransport:
    clients = WorkspaceClients(slack.api_url, bot_token=slack.bot_token)
    return SlackTransport(clients, desk_name="TrekMail Support")


def card(status: Status = Status.OPEN) -> TicketCard:
    return TicketCard(
        id=7, subject="DNS not verifying <!here>", category=Category.TECHNICAL, status=status,
        plan=Plan.PRO, urgent=False, priority_label="Prioritised", customer="alice",
        customer_platform="slack", workspace="T0HELPLINE", account="acme", assignee=None,
        created_at=datetime(2026, 5, 15, tzinfo=UTC), details={}, offered_articles=[],
        filed_anyway=False, possible_duplicate_of=None, follows_ticket_id=None, reopen_count=0,
        message_count=1)


def relay(text: str = "hello") -> Outbound:
    return Outbound(kind=OutboundKind.RELAY, ticket_id=7, text=text, author="Sam",
                    author_is_staff=True)


# ---- errors the outbox acts on -------------------------------------------------------------


async def test_a_429_carries_slacks_retry_after(slack: FakeSlack, transport: SlackTransport) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(DeliveryError) as raised:
        await transport.post_card(Destination.parse(f"slack:{STAFF}"), card(), "card:7")

    assert (raised.value.retry_after, raised.value.permanent) == (7.0, False)


async def test_server_errors_and_lost_connections_are_retried(
    slack: FakeSlack, transport: SlackTransport
) -> None:
    slack.fail_next("chat.postMessage", status=503, retry_after=None)
    slack.cut_next("chat.update", times=2)
    ref = MessageRef(platform=Platform.SLACK, workspace="", channel_id=STAFF, message_id="1.0")

    with pytest.raises(DeliveryError) as server:
        await transport.post_card(Destination.parse(f"slack:{STAFF}"), card(), "card:7")
    with pytest.raises(DeliveryError) as cut:
        await transport.update_card(ref, card())

    assert server.value.permanent is False and "503" in server.value.reason
    assert cut.value.permanent is False


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived",
                                  "user_not_found", "cannot_dm_bot", "invalid_blocks"])
async def test_answers_that_will_not_change_are_permanent(
    slack: FakeSlack, transport: SlackTransport, code: str
) -> None:
    slack.error_next("chat.postMessage", code)

    with pytest.raises(DeliveryError) as raised:
        await transport.post_card(Destination.parse(f"slack:{STAFF}"), card(), "card:7")

    assert raised.value.permanent is True and code in raised.value.reason


async def test_card_is_posted_then_updated_in_place(
    slack: FakeSlack, transport: SlackTransport
) -> None:
    posted = await transport.post_card(Destination.parse(f"slack:{STAFF}"), card(), "card:7")
    await transport.update_card(posted.card, card(Status.CLOSED))

    assert posted.card.workspace == slack.team_id  # learnt from auth.test
    assert posted.thread.thread_id == posted.card.message_id
    [stored] = slack.messages(STAFF)
    assert "Closed" in str(stored["blocks"])
    assert "&lt;!here&gt;" in str(stored["blocks"]) and "<!here>" not in str(stored["blocks"])
    assert len(slack.calls("chat.postMessage")) == 1


async def test_reactions_mark_delivered_and_failed_and_a_repeat_is_harmless(
    slack: FakeSlack, transport: SlackTransport
) -> None:
    message = slack.add_message(STAFF, "reply", user="U0STAFF")
    ref = MessageRef(platform=Platform.SLACK, workspace=slack.team_id, channel_id=STAFF,
                     message_id=message["ts"])

    await transport.react(ref, Reaction.DELIVERED)
    await transport.react(ref, Reaction.DELIVERED)
    await transport.react(ref, Reaction.FAILED)

    names = [r["name"] for r in slack.message(STAFF, message["ts"])["reactions"]]
    assert names == ["white_check_mark", "warning"]


async def test_a_ticket_thread_with_an_image_survives_a_failed_upload_without_double_posting(
    slack: FakeSlack, transport: SlackTransport
) -> None:
    image = OutboundFile(attachment=Attachment(sha256="0" * 64, filename="shot.png",
                                               content_type="image/png", size=4),
                         data=b"\x89PNG")
    dest = Destination(platform=Platform.SLACK, workspace=slack.team_id, user_id="U0ALICE")
    opened = Outbound(kind=OutboundKind.TICKET_OPENED, ticket_id=7, text="Ticket #7 — DNS")
    slack.fail_next(UPLOAD, status=500, retry_after=None)

    with pytest.raises(DeliveryError):
        await transport.open_thread(dest, opened, image, "open:7")
    thread = await transport.open_thread(dest, opened, image, "open:7")

    dm = slack.dm_channel("U0ALICE")
    assert thread.channel_id == dm
    assert [section_text(m) for m in slack.messages(dm)] == ["Ticket #7 — DNS", ""]
    assert slack.messages(dm)[1]["files"][0]["name"] == "shot.png"


# ---- escaping and splitting ------------------------------------------------------------------


def test_escaping_neutralises_every_mention_and_keeps_the_words() -> None:
    text = "<!channel> <!here> <!everyone> <@U123> <#C1> <!subteam^S1> a & b > c"
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == text


def test_long_text_splits_at_slack_limits_without_losing_a_character() -> None:
    rng = random.Random(7)
    alphabet = "ab &<>\n  xyz"
    for size in (0, 1, 2999, 3000, 3001, 5000, 12000):
        text = "".join(rng.choice(alphabet) for _ in range(size))
        chunks = escaped_chunks(text)
        assert all(len(c) <= 3000 for c in chunks)
        assert "".join(unescape(c) for c in chunks) == text


def test_slack_markup_becomes_plain_words() -> None:
    assert from_slack_markup(
        "<@U1> <!here> <#C1|general> <https://x.io|docs> <mailto:a@b.io|a@b.io> &lt;b&gt; &amp;"
    ) == "@U1 @here #general docs (https://x.io) a@b.io <b> &"


def test_the_two_message_inputs_join_back_into_one_message() -> None:
    assert join_message("a" * 3000, "b") == "a" * 3000 + "b"
    assert join_message("First part.", "Second part.") == "First part.\nSecond part."
    assert join_message("only", "") == "only"


async def test_find_delivered_recognises_a_post_that_got_through_before_a_crash(
    slack: FakeSlack, transport: SlackTransport
) -> None:
    parent = slack.add_message(STAFF, "Ticket #7", user=slack.bot_user_id)
    thread = ThreadRef(platform=Platform.SLACK, workspace=slack.team_id, channel_id=STAFF,
                       thread_id=parent["ts"])
    posted = await transport.post(thread, relay("first answer"), None, "relay:41")

    assert await transport.find_delivered(thread, "relay:41") == posted
    assert await transport.find_delivered(thread, "relay:42") is None
