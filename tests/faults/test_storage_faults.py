"""The database going away and coming back, and staff racing on one ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from core.config import DeskConfig
from core.errors import StorageUnavailable
from core.models import Actor, Identity, Platform, Status, TicketDraft
from core.service import SupportDesk
from core.storage.db import Database
from core.storage.tables import MessageRow, TicketRow
from core.views import Created, ReplyAccepted
from tests.conftest import POSTGRES_URL, PostgresSchema, postgres_skip_reason
from tests.faults.tcp_proxy import CuttableProxy

ALICE = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="alice", name="Alice")
SAM = Actor(identity=Identity(platform=Platform.CONSOLE, workspace="hq", user_id="sam", name="Sam"),
            is_staff=True)
KIM = Actor(identity=Identity(platform=Platform.CONSOLE, workspace="hq", user_id="kim", name="Kim"),
            is_staff=True)
DRAFT = TicketDraft(category="Billing", subject="Copy of invoice INV-2024-0415 needed",
                    message="Please send a copy of invoice INV-2024-0415 for our accountant.")


@pytest.fixture
async def proxied_postgres(kb, clock) -> AsyncIterator[tuple[SupportDesk, CuttableProxy]]:  # type: ignore[no-untyped-def]
    if reason := postgres_skip_reason():
        pytest.skip(reason)
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    schema = PostgresSchema()
    await schema.create()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database(proxied, connect_args={"server_settings": {"search_path": schema.name},
                                         "timeout": 2})
    await db.upgrade()
    try:
        yield SupportDesk(db, DeskConfig(), kb, clock=clock), proxy
    finally:
        await db.dispose()
        await proxy.stop()
        await schema.drop()


async def test_database_outage_gives_try_again_stores_nothing_half_and_recovers(
    proxied_postgres: tuple[SupportDesk, CuttableProxy],
) -> None:
    desk, proxy = proxied_postgres
    first = await desk.submit(ALICE, DRAFT)
    assert isinstance(first, Created)
    proxy.cut()
    with pytest.raises(StorageUnavailable) as caught:
        await desk.submit(ALICE, DRAFT.model_copy(update={"subject": "Webmail shows error 500 on folders"}))
    assert "try again" in str(caught.value)
    with pytest.raises(StorageUnavailable):
        await desk.customer_reply(ALICE, "Any news on the invoice?", ticket_id=first.ticket.id)
    proxy.restore()
    again = await desk.submit(ALICE, DRAFT.model_copy(update={"subject": "Webmail shows error 500 on folders"}))
    assert isinstance(again, Created)
    async with desk.db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(TicketRow)) == 2
        assert await s.scalar(select(func.count()).select_from(MessageRow)) == 2


async def test_reply_and_close_at_once_leave_a_consistent_ticket(desk: SupportDesk) -> None:
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    t = created.ticket.id
    reply, _closed = await asyncio.gather(
        desk.staff_reply(SAM, "Here is the copy you asked for.", ticket_id=t),
        desk.set_status(KIM, t, Status.CLOSED),
    )
    assert isinstance(reply, ReplyAccepted)
    detail = await desk.ticket_detail(t)
    statuses = [h.detail for h in detail.history if h.action == "status"]
    # whichever came first, the history explains the final status step by step
    final = detail.summary.status
    assert statuses[-1].endswith(final.value)
    assert final in (Status.CLOSED, Status.WAITING_ON_CUSTOMER)
    assert any(m.body == "Here is the copy you asked for." for m in detail.messages)


async def test_two_assigns_at_once_end_with_one_assignee_and_both_in_history(
    desk: SupportDesk,
) -> None:
    created = await desk.submit(ALICE, DRAFT)
    assert isinstance(created, Created)
    t = created.ticket.id
    await asyncio.gather(desk.assign(SAM, t, "Sam"), desk.assign(KIM, t, "Kim"))
    detail = await desk.ticket_detail(t)
    assigned = [h.detail for h in detail.history if h.action == "assigned"]
    assert detail.summary.assignee in ("Sam", "Kim")
    assert assigned[-1] == detail.summary.assignee
