"""The process's HTTP server: /healthz, /metrics (Prometheus text format), and whatever the
adapters mount (Slack's /slack/events)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from core.storage.db import Database
from core.storage.tables import OutboxRow, TicketRow

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DeskCollector(Collector):
    """Counts read from the database at scrape time, so every process reports the same truth."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.last: dict[str, int] = {}

    async def refresh(self) -> None:
        async with self.db.sessions() as session:
            tickets = await session.scalar(select(func.count()).select_from(TicketRow))
            relayed = await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.op == "post",
                    OutboxRow.state == "done",
                    OutboxRow.idem_key.like("relay:%"),
                )
            )
            pending = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")
            )
            failed = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "failed")
            )
        self.last = {
            "tickets": int(tickets or 0),
            "relayed": int(relayed or 0),
            "pending": int(pending or 0),
            "failed": int(failed or 0),
        }

    def collect(self):  # type: ignore[no-untyped-def]
        v = self.last
        yield GaugeMetricFamily(
            "helpline_tickets_filed", "Tickets filed (all time).", value=v.get("tickets", 0)
        )
        yield GaugeMetricFamily(
            "helpline_replies_relayed",
            "Replies delivered to the other side.",
            value=v.get("relayed", 0),
        )
        yield GaugeMetricFamily(
            "helpline_deliveries_pending",
            "Outbox rows waiting for delivery.",
            value=v.get("pending", 0),
        )
        yield GaugeMetricFamily(
            "helpline_deliveries_failed", "Outbox rows that gave up.", value=v.get("failed", 0)
        )


def build_http_app(db: Database) -> web.Application:
    registry = CollectorRegistry()
    latency = Histogram(
        "helpline_http_request_seconds",
        "Time to answer an HTTP request.",
        ["path"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    collector = DeskCollector(db)
    registry.register(collector)

    @web.middleware
    async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            return await handler(request)
        finally:
            route = request.match_info.route.resource
            path = route.canonical if route is not None else "unmatched"
            latency.labels(path=path).observe(time.perf_counter() - start)

    async def healthz(_: web.Request) -> web.Response:
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # report, don't crash: the orchestrator decides
            return web.json_response({"ok": False, "database": str(exc)[:200]}, status=503)
        return web.json_response({"ok": True})

    async def metrics(_: web.Request) -> web.Response:
        await collector.refresh()
        return web.Response(
            body=generate_latest(registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    app = web.Application(middlewares=[timing], client_max_size=8 * 1024 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
