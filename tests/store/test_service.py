"""The desk's use cases through the service API, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from core.config import AccountConfig, DeskConfig
from core.errors import NotAllowed, TicketNotFound
from core.models import Actor, AttachmentIn, Category, Identity, Plan, Platform, Status, TicketDraft
from core.outbox import DeliveryWorker
from core.service import SupportDesk, TicketFilter
from core.storage.tables import AttachmentRow, DraftRow, MessageRow, OutboxRow, TicketRow
from core.views import (
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    Rejected,
    ReplyAccepted,
    ReplyRefused,
    SelfServiceOffer,
)
from tests.recording import RecordingTransport

ALICE = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="alice", name="Alice")
BOB = Identity(platform=Platform.CONSOLE, workspace="other", user_id="bob", name="Bob")
SAM = Actor(
    identity=Identity(platform=Platform.CONSOLE, workspace="hq", user_id="sam", name="Sam"),
    is_staff=True,
)

PLAIN = TicketDraft(
    category="Billing",
    subject="Copy of invoice INV-2024-0415 needed",
    message="Please send a copy of invoice INV-2024-0415 for our accountant, thanks.",
)


def draft(**kw: str) -> TicketDraft:
    return PLAIN.model_copy(update=kw)


def png_bytes(color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 6), color).save(buf, "PNG")
    return buf.getvalue()


async def count(desk: SupportDesk, table: type) -> int:
    async with desk.db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def create(desk: SupportDesk, who: Identity = ALICE, d: TicketDraft = PLAIN) -> Created:
    result = await desk.submit(who, d)
    assert isinstance(result, Created), result
    return result


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def worker(desk: SupportDesk, transport: RecordingTransport) -> DeliveryWorker:
    return DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=desk.clock)


# ---- filing ---------------------------------------------------------------------------------


async def test_created_ticket_opens_customer_thread_posts_card_and_relays_first_message(
    desk: SupportDesk, worker: DeliveryWorker, transport: RecordingTransport
) -> None:
    created = await create(desk)
    assert created.ticket.status is Status.OPEN and created.ticket.id >= 1
    await worker.drain()
    ops = [(s.op, s.target) for s in transport.sent]
    assert ("open_thread", "console:acme:@alice") in ops
    assert ("post_card", "console:staff") in ops
    staff_posts = transport.posts("staff")
    assert [p.text for p in staff_posts] == [PLAIN.message]


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("category", {"category": "Refunds"}),
        ("subject", {"subject": "Hi"}),
        ("subject", {"subject": "x" * 151}),
        ("subject", {"subject": "\u200b\u200b\u200b\u200b\u200b"}),
        ("message", {"message": "help"}),
        ("message", {"message": "y" * 5001}),
        ("message", {"message": "Can't log in, my password is Summer2026! please check"}),
    ],
)
async def test_bad_field_is_named_and_nothing_is_stored(
    desk: SupportDesk, field: str, changes: dict[str, str]
) -> None:
    result = await desk.submit(ALICE, draft(**changes))
    assert isinstance(result, Rejected)
    assert result.for_field(field), result.errors
    for table in (TicketRow, DraftRow, MessageRow, OutboxRow, AttachmentRow):
        assert await count(desk, table) == 0


async def test_every_bad_field_is_reported_at_once(desk: SupportDesk) -> None:
    bad = TicketDraft(
        category="",
        subject="",
        message="",
        attachment=AttachmentIn(filename="a.pdf", data=b"%PDF-1.4 x"),
    )
    result = await desk.submit(ALICE, bad)
    assert isinstance(result, Rejected)
    assert {e.field for e in result.errors} == {"category", "subject", "message", "attachment"}


async def test_attachment_is_stored_once_by_content_hash(desk: SupportDesk) -> None:
    image = AttachmentIn(filename="shot.png", data=png_bytes())
    await create(desk, d=draft(attachment=image))
    await create(desk, BOB, d=draft(attachment=image))
    assert await count(desk, AttachmentRow) == 1


async def test_same_submission_retried_creates_one_ticket(desk: SupportDesk) -> None:
    first = await desk.submit(ALICE, PLAIN, source_key="view-1")
    again = await desk.submit(ALICE, PLAIN, source_key="view-1")
    assert isinstance(first, Created) and isinstance(again, Created)
    assert again.already_existed and again.ticket.id == first.ticket.id
    assert await count(desk, TicketRow) == 1


async def test_nano_customer_is_told_staff_response_is_not_included(db, kb, clock) -> None:  # type: ignore[no-untyped-def]
    config = DeskConfig(
        accounts=[AccountConfig(id="tiny", plan=Plan.NANO, workspaces=["console:acme"])]
    )
    desk = SupportDesk(db, config, kb, clock=clock)
    created = await create(desk)
    assert "isn't part of Nano" in created.next_steps
    center = await desk.support_center(ALICE)
    assert "staff response isn't part of Nano" in center.plan_notice


# ---- duplicate prompt and self-service offer ---------------------------------------------------

DUP_FIRST = draft(
    category="Technical",
    subject="Cannot send email from Outlook on Mac",
    message="Every send attempt fails with 550 5.7.1 since yesterday afternoon.",
)
DUP_AGAIN = draft(
    category="Technical",
    subject="URGENT: can't send emails from outlook on mac",
    message="Still failing, 550 5.7.1 sender denied on alice@acme.com.",
)


async def test_duplicate_prompt_then_continue_adds_reply_to_open_ticket(desk: SupportDesk) -> None:
    first = await create(desk, d=DUP_FIRST)
    prompt = await desk.submit(ALICE, DUP_AGAIN)
    assert isinstance(prompt, DuplicatePrompt) and prompt.ticket_id == first.ticket.id
    assert prompt.text == (
        "Looks like you have an open ticket about this: "
        f"'{DUP_FIRST.subject}' — want to continue that one instead?"
    )
    cont = await desk.continue_existing(ALICE, prompt.draft_id)
    assert isinstance(cont, Continued) and cont.ticket_id == first.ticket.id
    assert await count(desk, TicketRow) == 1
    detail = await desk.ticket_detail(first.ticket.id)
    assert DUP_AGAIN.message in detail.messages[-1].body


async def test_duplicate_prompt_then_new_ticket_is_marked_possible_duplicate(
    desk: SupportDesk,
) -> None:
    first = await create(desk, d=DUP_FIRST)
    prompt = await desk.submit(ALICE, DUP_AGAIN)
    assert isinstance(prompt, DuplicatePrompt)
    result = await desk.create_new(ALICE, prompt.draft_id)
    assert isinstance(result, Created)
    card = await desk.card(result.ticket.id)
    assert card.possible_duplicate_of == first.ticket.id
    assert result.ticket.urgent


async def test_other_customers_open_ticket_is_never_a_duplicate(desk: SupportDesk) -> None:
    await create(desk, BOB, d=DUP_FIRST)
    assert isinstance(await desk.submit(ALICE, DUP_AGAIN), Created)


SELF_SERVICE = draft(
    category="Account",
    subject="Forgot my mailbox password",
    message="I forgot the password for my mailbox info@bakery.de and need to "
    "reset it so I can log in to webmail again.",
)


async def test_self_service_offer_then_file_anyway_records_what_was_offered(
    desk: SupportDesk,
) -> None:
    offer = await desk.submit(ALICE, SELF_SERVICE)
    assert isinstance(offer, SelfServiceOffer)
    assert "self-service-password-reset" in [a.slug for a in offer.articles]
    created = await desk.file_anyway(ALICE, offer.draft_id)
    card = await desk.card(created.ticket.id)
    assert "self-service-password-reset" in card.offered_articles and card.filed_anyway
    detail = await desk.ticket_detail(created.ticket.id)
    assert any(h.action == "filed_after_articles" for h in detail.history)


async def test_self_service_offer_solved_files_nothing(desk: SupportDesk) -> None:
    offer = await desk.submit(ALICE, SELF_SERVICE)
    assert isinstance(offer, SelfServiceOffer)
    deflected = await desk.solved_by_article(ALICE, offer.draft_id)
    assert isinstance(deflected, Deflected) and deflected.article_slugs
    assert await count(desk, TicketRow) == 0


async def test_draft_of_another_customer_cannot_be_used(desk: SupportDesk) -> None:
    from core.errors import DraftExpired

    offer = await desk.submit(ALICE, SELF_SERVICE)
    assert isinstance(offer, SelfServiceOffer)
    with pytest.raises(DraftExpired):
        await desk.file_anyway(BOB, offer.draft_id)


# ---- the conversation and its statuses ----------------------------------------------------------


async def test_status_follows_the_conversation_and_the_reopen_window(
    desk: SupportDesk, clock
) -> None:  # type: ignore[no-untyped-def]
    t = (await create(desk)).ticket.id
    r = await desk.staff_reply(SAM, "Which accountant address should we send it to?", ticket_id=t)
    assert isinstance(r, ReplyAccepted) and r.status is Status.WAITING_ON_CUSTOMER
    r = await desk.customer_reply(ALICE, "To books@acme.com please.", ticket_id=t)
    assert isinstance(r, ReplyAccepted) and r.status is Status.OPEN
    await desk.set_status(SAM, t, Status.CLOSED)
    clock.advance(days=6)
    r = await desk.customer_reply(ALICE, "It happened again with INV-2024-0416", ticket_id=t)
    assert isinstance(r, ReplyAccepted) and r.reopened and r.status is Status.OPEN
    await desk.set_status(SAM, t, Status.CLOSED)
    clock.advance(days=8)
    refused = await desk.customer_reply(ALICE, "And once more, sorry!", ticket_id=t)
    assert isinstance(refused, ReplyRefused) and refused.new_ticket_follows == t
    follow = await desk.submit(
        ALICE, draft(subject="Invoice copies still missing"), follows_ticket_id=t
    )
    assert isinstance(follow, Created)
    assert (await desk.card(follow.ticket.id)).follows_ticket_id == t
    history = [h.action for h in (await desk.ticket_detail(t)).history]
    assert "reopened" in history and history.count("status") >= 4


async def test_internal_note_is_never_relayed_and_changes_no_status(
    desk: SupportDesk, worker: DeliveryWorker, transport: RecordingTransport
) -> None:
    t = (await create(desk)).ticket.id
    await worker.drain()
    before = len(transport.posts("dm-alice"))
    await desk.internal_note(
        SAM, "Customer is on the old billing system, check with finance", ticket_id=t
    )
    await worker.drain()
    assert len(transport.posts("dm-alice")) == before
    assert (await desk.card(t)).status is Status.OPEN
    customer_view = await desk.ticket_detail(t, viewer=Actor(identity=ALICE))
    assert all("finance" not in m.body for m in customer_view.messages)
    staff_view = await desk.ticket_detail(t, viewer=SAM)
    assert any("finance" in m.body for m in staff_view.messages)


async def test_staff_reply_is_relayed_to_the_customer_thread(
    desk: SupportDesk, worker: DeliveryWorker, transport: RecordingTransport
) -> None:
    t = (await create(desk)).ticket.id
    await desk.staff_reply(SAM, "Sent to your billing contact just now.", ticket_id=t)
    await worker.drain()
    assert [p.text for p in transport.posts("dm-alice")] == [
        "Sent to your billing contact just now."
    ]


async def test_secret_in_a_thread_reply_is_redacted_before_storage(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    r = await desk.customer_reply(ALICE, "my password is Winter2026! if you need it", ticket_id=t)
    assert isinstance(r, ReplyAccepted) and r.redaction_notice
    async with desk.db.transaction() as s:
        bodies = (await s.scalars(select(MessageRow.body))).all()
    assert not any("Winter2026" in b for b in bodies)


async def test_reply_too_short_is_refused_with_the_reason(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    r = await desk.customer_reply(ALICE, "ok", ticket_id=t)
    assert isinstance(r, ReplyRefused) and "at least 5" in r.reason


async def test_image_only_reply_is_accepted_and_bad_image_refused(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    ok = await desk.customer_reply(
        ALICE, "", ticket_id=t, attachment=AttachmentIn(filename="s.png", data=png_bytes())
    )
    assert isinstance(ok, ReplyAccepted)
    bad = await desk.customer_reply(
        ALICE,
        "here is the log file",
        ticket_id=t,
        attachment=AttachmentIn(filename="log.png", data=b"just text"),
    )
    assert isinstance(bad, ReplyRefused) and "paste the relevant excerpt" in bad.reason


async def test_same_platform_message_is_recorded_once(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    for _ in range(3):
        await desk.customer_reply(ALICE, "Any news on this one?", ticket_id=t, source_key="msg-9")
    assert len((await desk.ticket_detail(t)).messages) == 2


async def test_customer_of_another_account_cannot_reply_or_read(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    with pytest.raises(TicketNotFound):
        await desk.customer_reply(BOB, "let me in please", ticket_id=t)
    with pytest.raises(TicketNotFound):
        await desk.ticket_detail(t, viewer=Actor(identity=BOB))


async def test_only_staff_can_act_for_the_desk(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    customer = Actor(identity=ALICE, is_staff=False)
    with pytest.raises(NotAllowed):
        await desk.staff_reply(customer, "I am staff, trust me", ticket_id=t)
    with pytest.raises(NotAllowed):
        await desk.set_status(customer, t, Status.CLOSED)


async def test_assign_and_recategorise_are_in_history(desk: SupportDesk) -> None:
    t = (await create(desk)).ticket.id
    await desk.assign(SAM, t, "Sam")
    await desk.recategorise(SAM, t, Category.TECHNICAL)
    detail = await desk.ticket_detail(t)
    assert detail.summary.assignee == "Sam" and detail.summary.category is Category.TECHNICAL
    actions = [(h.action, h.detail) for h in detail.history]
    assert ("assigned", "Sam") in actions and ("recategorised", "Billing → Technical") in actions


# ---- queue, Support Center ----------------------------------------------------------------------


async def test_queue_is_urgent_then_plan_then_oldest(db, kb, clock) -> None:  # type: ignore[no-untyped-def]
    config = DeskConfig(
        accounts=[
            AccountConfig(id="n", plan=Plan.NANO, workspaces=["console:n"]),
            AccountConfig(id="s", plan=Plan.STARTER, workspaces=["console:s"]),
            AccountConfig(id="p", plan=Plan.PRO, workspaces=["console:p"]),
            AccountConfig(id="a", plan=Plan.AGENCY, workspaces=["console:a"]),
        ]
    )
    desk = SupportDesk(db, config, kb, clock=clock)

    async def file(ws: str, subject: str) -> int:
        who = Identity(platform=Platform.CONSOLE, workspace=ws, user_id="u")
        clock.advance(minutes=1)
        return (await create(desk, who, draft(subject=subject))).ticket.id

    nano = await file("n", "Invoice copy for March")
    agency_old = await file("a", "Invoice copy for April")
    pro = await file("p", "Invoice copy for May")
    agency_new = await file("a", "Invoice copy for June")
    urgent_starter = await file("s", "BLOCKING: invoice needed for audit")
    order = [t.id for t in await desk.list_tickets()]
    assert order == [urgent_starter, agency_old, agency_new, pro, nano]
    only_pro = await desk.list_tickets(TicketFilter(status=[Status.OPEN], plan=Plan.PRO))
    assert [t.id for t in only_pro] == [pro]


async def test_support_center_lists_own_tickets_newest_first_with_badge(db, kb, clock) -> None:  # type: ignore[no-untyped-def]
    config = DeskConfig(
        accounts=[AccountConfig(id="acme", plan=Plan.PRO, workspaces=["console:acme"])]
    )
    desk = SupportDesk(db, config, kb, clock=clock)
    first = await create(desk, d=draft(subject="Invoice copy for March"))
    clock.advance(minutes=5)
    second = await create(desk, d=draft(subject="Invoice copy for April"))
    await create(desk, BOB, d=draft(subject="Invoice copy for May"))
    center = await desk.support_center(ALICE)
    assert [t.id for t in center.tickets] == [second.ticket.id, first.ticket.id]
    assert center.priority_badge and center.plan is Plan.PRO
    assert center.status_page.startswith("https://")
    assert any("status" in link.title.lower() for link in center.quick_links)
    assert (
        center.help.cant and center.help.out_of_scope and len(center.help.self_service_first) == 5
    )


async def test_active_incident_shows_in_center_and_form(desk: SupportDesk) -> None:
    await desk.start_incident(SAM, "Outbound mail delayed in EU region")
    assert (await desk.support_center(ALICE)).incident is not None
    form = await desk.intake_form(ALICE)
    assert form.incident is not None and "EU region" in form.incident.text
    assert await desk.end_incident(SAM)
    assert (await desk.support_center(ALICE)).incident is None


async def test_details_found_in_text_are_on_the_card(desk: SupportDesk) -> None:
    d = draft(
        category="Technical",
        subject="Sending fails for alice@mycompany.com",
        message="Get 550 5.7.1 sender denied on every send from alice@mycompany.com "
        "since 2026-05-15 14:30 UTC. Domain mycompany.com, DNS is green.",
    )
    t = (await create(desk, d=d)).ticket.id
    details = (await desk.card(t)).details
    assert "alice@mycompany.com" in details["mailboxes"]
    assert "mycompany.com" in details["domains"]
    assert any("550" in c for c in details["smtp_codes"])
