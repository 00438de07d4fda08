"""/healthz and /metrics, served for real."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.http import build_http_app
from core.models import Identity, Platform, TicketDraft
from core.service import SupportDesk
from core.views import Created


async def test_metrics_count_tickets_and_pending_deliveries(desk: SupportDesk) -> None:
    who = Identity(platform=Platform.CONSOLE, workspace="acme", user_id="alice")
    created = await desk.submit(who, TicketDraft(
        category="Billing", subject="Copy of invoice INV-2024-0415",
        message="Please send a copy of the invoice for our accountant."))
    assert isinstance(created, Created)
    async with TestClient(TestServer(build_http_app(desk.db))) as client:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["ok"] is True
        text = await (await client.get("/metrics")).text()
    assert "helpline_tickets_filed 1.0" in text
    assert "helpline_deliveries_pending 3.0" in text  # thread, card, first message
    assert "helpline_deliveries_failed 0.0" in text
    assert 'helpline_http_request_seconds_count{path="/healthz"} 1.0' in text


async def test_healthz_reports_an_unreachable_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from core.storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-dir/x.db")
    async with TestClient(TestServer(build_http_app(db))) as client:
        resp = await client.get("/healthz")
        assert resp.status == 503 and (await resp.json())["ok"] is False
    await db.dispose()
