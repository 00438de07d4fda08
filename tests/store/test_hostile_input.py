"""Garbage and floods at the service: every bad input gets a clear answer, nothing is stored
half, and nothing leaks between accounts whatever ids a payload carries."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from core.config import DeskConfig, RateLimits
from core.errors import DraftExpired, TicketNotFound
from core.models import Actor, AttachmentIn, Identity, Platform, TicketDraft
from core.service import SupportDesk
from core.storage.tables import AttachmentRow, DraftRow, MessageRow, TicketRow
from core.views import Created, Rejected, ReplyAccepted, ReplyRefused, SelfServiceOffer

ALICE = Identity(platform=Platform.SLACK, workspace="T0ACME", user_id="U1", name="Alice")
MALLORY = Identity(platform=Platform.SLACK, workspace="T0EVIL", user_id="U9", name="Mallory")
DRAFT = TicketDraft(category="Billing", subject="Copy of invoice INV-2024-0415 needed",
                    message="Please send a copy of invoice INV-2024-0415 for our accountant.")


def png(width: int = 4, height: int = 4) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height)).save(buf, "PNG")
    return buf.getvalue()


async def stored(desk: SupportDesk) -> dict[str, int]:
    async with desk.db.transaction() as s:
        return {t.__tablename__: int(await s.scalar(select(func.count()).select_from(t)) or 0)
                for t in (TicketRow, DraftRow, MessageRow, AttachmentRow)}


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("shot.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
        ("shot.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        ("poly.png", b"%PDF-1.5\n" + png(), "PDF"),
        ("cut.png", png(64, 64)[:60], "damaged"),
        ("big.png", png() + b"\0" * (5 * 1024 * 1024 + 1 - len(png())), "at most 5 MB"),
    ],
)
async def test_images_that_lie_are_refused_and_nothing_is_stored(
    desk: SupportDesk, name: str, data: bytes, says: str
) -> None:
    result = await desk.submit(ALICE, DRAFT.model_copy(
        update={"attachment": AttachmentIn(filename=name, data=data)}))
    assert isinstance(result, Rejected)
    message = result.for_field("attachment")
    assert message is not None and says in message
    assert await stored(desk) == {"tickets": 0, "drafts": 0, "ticket_messages": 0, "attachments": 0}


async def test_exactly_five_megabytes_is_accepted(desk: SupportDesk) -> None:
    data = png()
    padded = data + b"\0" * (5 * 1024 * 1024 - len(data))  # trailing bytes after IEND
    result = await desk.submit(ALICE, DRAFT.model_copy(
        update={"attachment": AttachmentIn(filename="ok.png", data=padded)}))
    assert isinstance(result, Created)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject": "\u200b\u200c\u200d\u2060\ufeff"}, "subject"),
        ({"subject": "\u202e\u202e\u202e"}, "subject"),
        ({"message": "\x00\x01\x02\x03\x04\x05\x06"}, "message"),
        ({"category": "Billing'; DROP TABLE tickets; --"}, "category"),
        ({"category": "x" * 10_000}, "category"),
        ({"message": "y" * 1_000_000}, "message"),
    ],
)
async def test_malformed_fields_get_a_specific_error(desk: SupportDesk, changes: dict[str, str],
                                                     field: str) -> None:
    result = await desk.submit(ALICE, DRAFT.model_copy(update=changes))
    assert isinstance(result, Rejected) and result.for_field(field)
    assert (await stored(desk))["tickets"] == 0


async def test_bidi_and_control_characters_never_reach_storage(desk: SupportDesk) -> None:
    result = await desk.submit(ALICE, DRAFT.model_copy(update={
        "subject": "Invoice \u202egnp.exe\u202c copy needed",
        "message": "Please send\x07 the copy \u200bof INV-2024-0415 for our accountant."}))
    assert isinstance(result, Created)
    detail = await desk.ticket_detail(result.ticket.id)
    assert "\u202e" not in detail.summary.subject and "\x07" not in detail.messages[0].body
    assert "\u200b" not in detail.messages[0].body


async def test_mentions_and_markup_are_stored_as_typed_for_adapters_to_neutralise(
    desk: SupportDesk,
) -> None:
    text = "<!channel> @everyone <@U123> **bold** [link](https://evil.example)"
    result = await desk.submit(ALICE, DRAFT.model_copy(update={"message": text}))
    assert isinstance(result, Created)
    assert (await desk.ticket_detail(result.ticket.id)).messages[0].body == text


async def test_a_flood_of_tickets_is_stopped_with_a_clear_message(db, kb, clock) -> None:  # type: ignore[no-untyped-def]
    desk = SupportDesk(db, DeskConfig(rate_limits=RateLimits(tickets_per_hour=3)), kb, clock=clock)
    for i in range(3):
        assert isinstance(await desk.submit(ALICE, DRAFT.model_copy(
            update={"subject": f"Invoice copy for month {i + 1}"})), Created)
    flood = await desk.submit(ALICE, DRAFT.model_copy(update={"subject": "Invoice copy again"}))
    assert isinstance(flood, Rejected)
    assert "3 tickets in the last hour" in (flood.for_field("message") or "")
    assert isinstance(await desk.submit(MALLORY, DRAFT), Created)  # others are not affected
    clock.advance(hours=1, minutes=1)
    assert isinstance(await desk.submit(ALICE, DRAFT.model_copy(
        update={"subject": "Invoice copy, later"})), Created)


async def test_a_flood_of_replies_is_refused_not_stored(db, kb, clock) -> None:  # type: ignore[no-untyped-def]
    desk = SupportDesk(db, DeskConfig(rate_limits=RateLimits(messages_per_minute=3)), kb,
                       clock=clock)
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    t = created.ticket.id
    results = [await desk.customer_reply(ALICE, f"Update number {i}", ticket_id=t)
               for i in range(4)]
    assert [type(r) for r in results] == [ReplyAccepted, ReplyAccepted, ReplyRefused, ReplyRefused]
    assert "wait a minute" in results[-1].reason  # type: ignore[union-attr]
    clock.advance(minutes=2)
    assert isinstance(await desk.customer_reply(ALICE, "Update, later", ticket_id=t),
                      ReplyAccepted)


async def test_replies_read_back_after_downtime_are_limited_by_when_they_were_written(  # type: ignore[no-untyped-def]
    db, kb, clock,
) -> None:
    desk = SupportDesk(db, DeskConfig(rate_limits=RateLimits(messages_per_minute=3)), kb,
                       clock=clock)
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    t = created.ticket.id
    clock.advance(minutes=30)  # Helpline was down; the customer wrote meanwhile
    started = clock() - timedelta(minutes=20)
    spread = [await desk.customer_reply(ALICE, f"Still down, check {i}", ticket_id=t,
                                        written_at=started + timedelta(seconds=30 * i))
              for i in range(6)]  # two a minute: under the limit when they were written
    burst = [await desk.customer_reply(ALICE, f"Anyone there? {i}", ticket_id=t,
                                       written_at=started + timedelta(minutes=10, seconds=i))
             for i in range(4)]  # four within seconds: a flood when they were written

    assert [type(r) for r in spread] == [ReplyAccepted] * 6
    assert [type(r) for r in burst] == [ReplyAccepted] * 3 + [ReplyRefused]
    bodies = {m.body: m.at for m in (await desk.ticket_detail(t)).messages}
    assert bodies["Still down, check 0"] == started  # kept with the time it was written


async def test_ids_from_another_account_reach_nothing(desk: SupportDesk) -> None:
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    t = created.ticket.id
    offer = await desk.submit(ALICE, TicketDraft(
        category="Account", subject="Forgot my mailbox password",
        message="I forgot the password of my mailbox and need to reset it to log in."))
    assert isinstance(offer, SelfServiceOffer)
    with pytest.raises(TicketNotFound):
        await desk.customer_reply(MALLORY, "let me in", ticket_id=t)
    with pytest.raises(TicketNotFound):
        await desk.ticket_detail(t, viewer=Actor(identity=MALLORY))
    with pytest.raises(TicketNotFound):
        await desk.request_transcript(MALLORY, ticket_id=t)
    with pytest.raises(TicketNotFound):
        await desk.rate(MALLORY, t, 1)
    for use in (desk.file_anyway, desk.solved_by_article, desk.continue_existing,
                desk.create_new):
        with pytest.raises(DraftExpired):
            await use(MALLORY, offer.draft_id)
    assert [x.id for x in (await desk.support_center(MALLORY)).tickets] == []
