"""Running the desk: auto-close, response targets, urgent pings, incident bursts, ratings,
snippets, transcripts, accounts and White Label Lite, status-page incidents and reports."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.config import AccountConfig, AutoClose, DeskConfig, OnCall
from core.errors import NotAllowed, ValidationFailed
from core.models import Actor, Identity, Plan, Platform, Status, TicketDraft
from core.outbox import DeliveryWorker
from core.service import SupportDesk
from core.storage.db import Database
from core.storage.tables import OutboxRow, TimerRow
from core.timers import TimerWorker
from core.transcripts import ExternalIncident, parse_unresolved_incidents, transcript_record
from core.views import Created
from tests.conftest import FakeClock
from tests.recording import RecordingTransport

ALICE = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="alice", name="Alice")
SAM = Actor(identity=Identity(platform=Platform.CONSOLE, workspace="hq", user_id="sam", name="Sam"),
            is_staff=True)
DRAFT = TicketDraft(category="Billing", subject="Copy of invoice INV-2024-0415 needed",
                    message="Please send a copy of invoice INV-2024-0415 for our accountant.")


async def new_ticket(desk: SupportDesk, who: Identity = ALICE, subject: str | None = None) -> int:
    d = DRAFT if subject is None else DRAFT.model_copy(update={"subject": subject})
    created = await desk.submit(who, d)
    assert isinstance(created, Created), created
    return created.ticket.id


async def notices(db: Database, ticket_id: int, contains: str) -> list[str]:
    async with db.transaction() as s:
        rows = (await s.scalars(select(OutboxRow).where(OutboxRow.ticket_id == ticket_id))).all()
    texts = [r.payload.get("message", {}).get("text", "") for r in rows if r.op == "post"]
    return [t for t in texts if contains in t]


# ---- auto-close -------------------------------------------------------------------------------

async def test_waiting_ticket_gets_a_reminder_then_closes_with_a_notice(desk: SupportDesk,
                                                                        clock: FakeClock) -> None:
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    timers = TimerWorker(desk.db, desk, clock)
    clock.advance(days=3, minutes=1)
    assert await timers.run_once() >= 1
    assert await notices(desk.db, t, "We're waiting for your answer")
    assert (await desk.card(t)).status is Status.WAITING_ON_CUSTOMER
    clock.advance(days=4)
    await timers.run_once()
    assert (await desk.card(t)).status is Status.CLOSED
    assert await notices(desk.db, t, "closed because we didn't hear back")
    assert await notices(desk.db, t, "How did we do on ticket")


async def test_customer_reply_cancels_a_pending_close(desk: SupportDesk, clock: FakeClock) -> None:
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    clock.advance(days=2)
    await desk.customer_reply(ALICE, "Yes, it is Main Street 1.", ticket_id=t)
    clock.advance(days=10)
    await TimerWorker(desk.db, desk, clock).run_once()
    assert (await desk.card(t)).status is Status.OPEN
    assert not await notices(desk.db, t, "closed because")


async def test_customer_who_answers_and_waits_again_gets_a_fresh_window(desk: SupportDesk,
                                                                       clock: FakeClock) -> None:
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "First question for you here.", ticket_id=t)
    clock.advance(days=5)
    await desk.customer_reply(ALICE, "Here is my answer to that.", ticket_id=t)
    await desk.staff_reply(SAM, "Second question for you here.", ticket_id=t)
    clock.advance(days=3)  # 8 days after the first wait, 3 after the second
    await TimerWorker(desk.db, desk, clock).run_once()
    assert (await desk.card(t)).status is Status.WAITING_ON_CUSTOMER


async def test_pending_close_survives_a_restart(tmp_path, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    db = Database(url)
    await db.upgrade()
    desk = SupportDesk(db, DeskConfig(), kb, clock=clock)
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    await db.dispose()  # the process stops with the close pending
    clock.advance(days=8)
    db2 = Database(url)
    desk2 = SupportDesk(db2, DeskConfig(), kb, clock=clock)
    await TimerWorker(db2, desk2, clock).run_once()
    assert (await desk2.card(t)).status is Status.CLOSED
    await db2.dispose()


async def test_two_processes_racing_fire_a_timer_once(db: Database, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    one = SupportDesk(db, DeskConfig(), kb, clock=clock)
    t = await new_ticket(one)
    await one.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    clock.advance(days=8)
    w1 = TimerWorker(db, one, clock)
    w2 = TimerWorker(db, SupportDesk(db, DeskConfig(), kb, clock=clock), clock)
    fired = await asyncio.gather(w1.run_once(), w2.run_once())
    assert sum(fired) == 2  # reminder and close, each once
    assert len(await notices(db, t, "closed because")) == 1
    assert len(await notices(db, t, "We're waiting for your answer")) == 1


async def test_auto_close_follows_the_config_when_it_fires(db: Database, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    desk = SupportDesk(db, DeskConfig(), kb, clock=clock)
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    longer = SupportDesk(db, DeskConfig(auto_close=AutoClose(remind_after_days=3,
                                                             close_after_days=14)), kb, clock=clock)
    clock.advance(days=8)
    await TimerWorker(db, longer, clock).run_once()
    assert (await longer.card(t)).status is Status.WAITING_ON_CUSTOMER
    clock.advance(days=7)
    await TimerWorker(db, longer, clock).run_once()
    assert (await longer.card(t)).status is Status.CLOSED


# ---- response targets, urgent, incidents --------------------------------------------------------

async def test_response_target_nears_then_breaches_once(db: Database, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    clock.now = datetime(2026, 5, 18, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
    config = DeskConfig(accounts=[AccountConfig(id="a", plan=Plan.AGENCY, workspaces=["console:acme"])])
    desk = SupportDesk(db, config, kb, clock=clock)
    t = await new_ticket(desk)
    card = await desk.card(t)
    assert card.response_due_at == datetime(2026, 5, 18, 11, 0, tzinfo=UTC)  # 2 business hours
    assert card.target_state == "on track"
    timers = TimerWorker(db, desk, clock)
    clock.advance(hours=1, minutes=35)
    await timers.run_once()
    assert (await desk.card(t)).target_state == "nearing target"
    clock.advance(hours=1)
    await timers.run_once()
    await timers.run_once()
    assert (await desk.card(t)).target_state == "target breached"
    assert len(await notices(db, t, "missed its response target")) == 1


async def test_staff_reply_stops_the_target_and_customer_reply_starts_follow_up(
    desk: SupportDesk, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 5, 18, 9, 0, tzinfo=UTC)
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Looking into it right now.", ticket_id=t)
    assert (await desk.card(t)).response_due_at is None
    clock.advance(hours=10)
    await TimerWorker(desk.db, desk, clock).run_once()
    assert not await notices(desk.db, t, "missed its response target")
    await desk.customer_reply(ALICE, "Any news on this one?", ticket_id=t)
    due = (await desk.card(t)).response_due_at
    assert due is not None and due > clock.now  # Starter follow-up: 16 business hours


async def test_nano_tickets_have_no_response_target(db: Database, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    config = DeskConfig(accounts=[AccountConfig(id="n", plan=Plan.NANO, workspaces=["console:acme"])])
    t = await new_ticket(SupportDesk(db, config, kb, clock=clock))
    assert (await SupportDesk(db, config, kb, clock=clock).card(t)).target_state == "none"


async def test_urgent_ticket_pings_on_call_at_once(db: Database, kb, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    config = DeskConfig(default_channel="slack:C0STAFF", oncall=OnCall(slack_usergroup="S0ONCALL"))
    desk = SupportDesk(db, config, kb, clock=clock)
    t = await new_ticket(desk, subject="URGENT: webmail shows error 500 on every folder")
    async with db.transaction() as s:
        rows = (await s.scalars(select(OutboxRow).where(OutboxRow.idem_key == f"urgent:{t}"))).all()
    assert len(rows) == 1 and rows[0].payload["message"]["ping_group"] == "S0ONCALL"
    assert rows[0].platform == "slack"


async def test_similar_tickets_from_several_customers_raise_one_incident_alert(
    desk: SupportDesk, clock: FakeClock
) -> None:
    ids = []
    for i, subject in enumerate(["Emails not sending since 10 minutes",
                                 "emails not sending anymore", "Sending emails not working",
                                 "emails are not sending at all"]):
        who = Identity(platform=Platform.CONSOLE, workspace=f"w{i}", user_id="u", name=f"c{i}")
        ids.append(await new_ticket(desk, who, subject))
        clock.advance(minutes=2)
    alerts = []
    for t in ids:
        alerts += await notices(desk.db, t, "may be an incident")
    assert len(alerts) == 1
    assert all(f"#{t}" in alerts[0] for t in ids[:3])


# ---- ratings, snippets, transcripts -----------------------------------------------------------

async def test_one_rating_per_closing_shown_on_the_card(desk: SupportDesk) -> None:
    t = await new_ticket(desk)
    with pytest.raises(ValidationFailed):
        await desk.rate(ALICE, t, 5)  # not closed yet
    await desk.set_status(SAM, t, Status.CLOSED)
    assert "Thanks" in await desk.rate(ALICE, t, 4, "quick and friendly")
    assert "already rated" in await desk.rate(ALICE, t, 1)
    card = await desk.card(t)
    assert card.rating == 4 and card.rating_comment == "quick and friendly"
    await desk.customer_reply(ALICE, "Sorry, it's back again.", ticket_id=t)
    await desk.set_status(SAM, t, Status.CLOSED)
    assert "Thanks" in await desk.rate(ALICE, t, 2)
    with pytest.raises(ValidationFailed):
        await desk.rate(ALICE, t, 6)
    teammate = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="ben", name="Ben")
    with pytest.raises(NotAllowed):
        await desk.rate(teammate, t, 1)


async def test_snippet_fills_customer_ticket_and_agent(
    desk: SupportDesk
) -> None:
    transport = RecordingTransport()
    worker = DeliveryWorker(desk.db, {Platform.CONSOLE: transport}, clock=desk.clock)
    t = await new_ticket(desk)
    await desk.snippet_save(SAM, "thanks", "Hi {customer}, {ticket} is fixed. — {agent}")
    assert await desk.snippets() == [("thanks", "Hi {customer}, {ticket} is fixed. — {agent}")]
    await desk.snippet_send(SAM, "thanks", ticket_id=t)
    await worker.drain()
    assert f"Hi Alice, #{t} is fixed. — Sam" in [p.text for p in transport.posts("dm-alice")]
    with pytest.raises(ValidationFailed):
        await desk.snippet_send(SAM, "missing", ticket_id=t)
    with pytest.raises(NotAllowed):
        await desk.snippet_save(Actor(identity=ALICE), "x", "Not allowed to add this")


async def test_customer_transcript_leaves_out_internal_notes(desk: SupportDesk) -> None:
    t = await new_ticket(desk)
    await desk.internal_note(SAM, "secret internal thoughts about this", ticket_id=t)
    await desk.staff_reply(SAM, "Here is your invoice copy.", ticket_id=t)
    await desk.request_transcript(ALICE, ticket_id=t)
    [text] = await notices(desk.db, t, "# Ticket #")
    assert "Here is your invoice copy." in text and "internal thoughts" not in text
    teammate = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="ben", name="Ben")
    from core.errors import TicketNotFound

    with pytest.raises(TicketNotFound):
        await desk.request_transcript(teammate, ticket_id=t)


async def test_export_has_full_history_and_attachments_by_hash(desk: SupportDesk,
                                                              clock: FakeClock) -> None:
    import io

    from PIL import Image

    from core.models import AttachmentIn

    buf = io.BytesIO()
    Image.new("RGB", (5, 5)).save(buf, "PNG")
    t = await new_ticket(desk)
    await desk.customer_reply(ALICE, "Screenshot attached here.", ticket_id=t,
                              attachment=AttachmentIn(filename="s.png", data=buf.getvalue()))
    await desk.internal_note(SAM, "internal note text", ticket_id=t)
    since = clock.now - timedelta(minutes=1)
    records = [transcript_record(d) async for d in desk.export(since)]
    assert [r["id"] for r in records] == [t]
    line = json.dumps(records[0])
    assert "internal note text" in line
    sha = next(m["attachment"]["sha256"] for m in records[0]["messages"] if m["attachment"])
    assert await desk.attachment_bytes(sha) == buf.getvalue()
    assert [r async for r in desk.export(clock.now + timedelta(days=1))] == []


# ---- accounts and White Label Lite ------------------------------------------------------------

async def test_operator_account_mapping_sets_the_plan(desk: SupportDesk) -> None:
    assert (await desk.account_of(ALICE)).plan is Plan.STARTER
    await desk.set_account("acme", name="Acme", plan=Plan.AGENCY)
    await desk.map_workspace("console:acme", "acme")
    account = await desk.account_of(ALICE)
    assert account.id == "acme" and account.plan is Plan.AGENCY
    t = await new_ticket(desk)
    assert (await desk.card(t)).plan is Plan.AGENCY
    assert await desk.unmap_workspace("console:acme")
    assert (await desk.account_of(ALICE)).plan is Plan.STARTER


async def test_white_label_customers_reach_the_accounts_staff_who_can_escalate(
    db: Database, kb, clock: FakeClock  # type: ignore[no-untyped-def]
) -> None:
    config = DeskConfig(default_channel="console:provider-staff", accounts=[
        AccountConfig(id="agency", name="Pixel Agency", plan=Plan.AGENCY, white_label=True,
                      staff_channel="console:agency-staff", workspaces=["console:acme"])])
    desk = SupportDesk(db, config, kb, clock=clock)
    transport = RecordingTransport()
    worker = DeliveryWorker(db, {Platform.CONSOLE: transport}, clock=clock)
    t = await new_ticket(desk)
    await worker.drain()
    cards = [s for s in transport.sent if s.op == "post_card"]
    assert [c.target for c in cards] == ["console:agency-staff"]
    agency_staff = Actor(identity=Identity(platform=Platform.CONSOLE, workspace="acme",
                                           user_id="pia", name="Pia"))
    with pytest.raises(NotAllowed):
        await desk.escalate(Actor(identity=Identity(platform=Platform.CONSOLE, workspace="else",
                                                    user_id="x")), t)
    escalated = await desk.escalate(agency_staff, t)
    await worker.drain()
    cards = [s for s in transport.sent if s.op == "post_card"]
    assert cards[-1].target == "console:provider-staff" and cards[-1].card is not None
    assert cards[-1].card.escalated_from == t and cards[-1].card.account == "agency"
    opened = [s for s in transport.sent if s.op == "open_thread"]
    assert opened[-1].target == "console:agency-staff"  # the provider answers the agency
    assert (await desk.escalate(agency_staff, t)).ticket.id == escalated.ticket.id


# ---- status page incidents, report ----------------------------------------------------------

def test_unresolved_incidents_json_is_parsed() -> None:
    payload = {"page": {"id": "x"}, "incidents": [
        {"id": "abc", "name": "Delayed outbound mail", "status": "investigating",
         "shortlink": "https://stspg.io/abc", "created_at": "2026-05-15T14:00:00.000Z"},
        {"id": "old", "name": "Fixed thing", "status": "resolved"},
        {"name": "no id"},
    ]}
    [incident] = parse_unresolved_incidents(payload)
    assert incident.id == "abc" and incident.url == "https://stspg.io/abc"
    assert incident.started_at == datetime(2026, 5, 15, 14, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_unresolved_incidents({"nope": 1})


async def test_status_page_incidents_start_and_end(desk: SupportDesk) -> None:
    await desk.sync_status_page([ExternalIncident("abc", "Delayed outbound mail", "https://s/abc")])
    incident = (await desk.support_center(ALICE)).incident
    assert incident is not None and incident.text == "Delayed outbound mail"
    await desk.sync_status_page([])
    assert (await desk.support_center(ALICE)).incident is None


async def test_report_gives_medians_percentiles_satisfaction_and_volume(
    db: Database, kb, clock: FakeClock  # type: ignore[no-untyped-def]
) -> None:
    config = DeskConfig(accounts=[AccountConfig(id="p", plan=Plan.PRO, workspaces=["console:pro"])])
    desk = SupportDesk(db, config, kb, clock=clock)
    pro = Identity(platform=Platform.CONSOLE, workspace="pro", user_id="p")
    start = clock.now
    for hours, who in ((1, ALICE), (3, ALICE), (5, pro)):
        clock.now = start
        t = await new_ticket(desk, who, subject=f"Invoice copy needed {hours}")
        clock.now = start + timedelta(hours=hours)
        await desk.staff_reply(SAM, "Here you go, attached.", ticket_id=t)
        await desk.set_status(SAM, t, Status.CLOSED)
        await desk.rate(who, t, hours)
    report = (await desk.report()).as_dict()
    total = report["total"]
    assert isinstance(total, dict)
    assert total["tickets"] == 3 and total["first_response_median_h"] == 3.0
    assert total["first_response_p90_h"] == 5.0 and total["satisfaction_avg"] == 3.0
    by_plan = report["by_plan"]
    assert isinstance(by_plan, dict)
    assert by_plan["Pro"]["tickets"] == 1 and by_plan["Starter"]["tickets"] == 2
    assert (await desk.report(since=start + timedelta(days=1))).as_dict()["total"]["tickets"] == 0  # type: ignore[index]


async def test_timers_table_records_each_firing(desk: SupportDesk, clock: FakeClock) -> None:
    t = await new_ticket(desk)
    await desk.staff_reply(SAM, "Could you confirm the billing address?", ticket_id=t)
    clock.advance(days=8)
    await TimerWorker(desk.db, desk, clock).run_once()
    async with desk.db.transaction() as s:
        fired = (await s.scalars(select(TimerRow).where(TimerRow.state == "fired"))).all()
    assert {(f.kind, f.outcome) for f in fired} >= {("auto_close_reminder", "reminded"),
                                                   ("auto_close", "closed")}
