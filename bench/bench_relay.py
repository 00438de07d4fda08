"""Relay benchmark: how long a staff reply takes to leave the outbox for the customer's thread.

Run from the repository root:

    .venv/bin/python bench/bench_relay.py                  # SQLite, then PostgreSQL if reachable
    .venv/bin/python bench/bench_relay.py --backend sqlite --replies 2000

The desk and the delivery worker run as in the bot process: ``DeliveryWorker.run`` in the
background, woken by the desk's ``on_enqueue`` after each transaction that wrote outbox rows.
A transport that delivers nothing notes the moment its ``post`` is called for each relay. The
latency of one reply is from just before ``SupportDesk.staff_reply`` is called (standing in for
the platform's message event) to that ``post`` call: the reply's transaction, the wake-up, the
claim, loading the ticket, and the call into the transport. The platform's own API time is not
included.

Two phases per backend, over tickets filed beforehand through ``SupportDesk.submit`` (threads
opened and cards posted by the worker, as in production):

- one at a time: each reply waits for its relay before the next is sent (latency unloaded);
- burst: several staff members reply back to back without waiting (latency under load, and
  throughput = replies / time from the first call to the last relay posted).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from core.config import DeskConfig
from core.knowledge import load_knowledge_base
from core.models import Actor, Destination, Identity, MessageRef, Platform, ThreadRef, TicketDraft
from core.outbound import CardPosted, Outbound, OutboundFile, OutboundKind, Reaction
from core.outbox import DeliveryWorker
from core.service import SupportDesk
from core.storage.db import Database
from core.views import Created, DuplicatePrompt, SelfServiceOffer, SubmitResult, TicketCard

DEFAULT_PG_URL = os.environ.get(
    "HELPLINE_BENCH_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
MARKER = re.compile(r"^\[relay (\d+)\]")
STAFF = [
    Actor(
        identity=Identity(
            platform=Platform.CONSOLE, workspace="staff", user_id=f"agent-{n}", name=f"Agent {n}"
        ),
        is_staff=True,
    )
    for n in range(32)
]


@dataclass
class RelayClock:
    """A transport for every platform that delivers nothing and notes, per relay marker, the
    moment ``post`` was called."""

    platform: Platform = Platform.CONSOLE
    waiting: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    posts: int = 0

    def expect(self, n: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[n] = future
        return future

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        return ThreadRef(
            platform=dest.platform,
            workspace=dest.workspace,
            channel_id=f"dm-{dest.user_id}",
            thread_id=f"t{message.ticket_id}",
        )

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        now = time.perf_counter()
        self.posts += 1
        found = MARKER.match(message.text)
        if message.kind is OutboundKind.RELAY and message.author_is_staff and found:
            future = self.waiting.pop(int(found.group(1)), None)
            if future is not None and not future.done():
                future.set_result(now)
        return MessageRef(
            platform=thread.platform,
            workspace=thread.workspace,
            channel_id=thread.channel_id,
            message_id=f"m{self.posts}",
        )

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        ref = MessageRef(
            platform=dest.platform,
            workspace=dest.workspace,
            channel_id=dest.channel_id or "staff",
            message_id=f"card{card.id}",
        )
        return CardPosted(
            card=ref,
            thread=ThreadRef(
                platform=dest.platform,
                workspace=dest.workspace,
                channel_id=ref.channel_id,
                thread_id=ref.message_id,
            ),
        )

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        return None

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        return None


async def file_ticket(desk: SupportDesk, who: Identity, subject: str, message: str) -> int:
    """Submit a ticket the way a customer who insists would: past any duplicate prompt or
    self-service offer."""
    result: SubmitResult = await desk.submit(
        who, TicketDraft(category="Technical", subject=subject, message=message)
    )
    while not isinstance(result, Created):
        if isinstance(result, DuplicatePrompt):
            result = await desk.create_new(who, result.draft_id)
        elif isinstance(result, SelfServiceOffer):
            result = await desk.file_anyway(who, result.draft_id)
        else:
            raise RuntimeError(f"ticket refused: {result!r}")
    return result.ticket.id


def percentile(sorted_values: Sequence[float], p: float) -> float:
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(latencies_ms: list[float]) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    return {
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
    }


@dataclass
class Phase:
    name: str
    latencies_ms: list[float]
    call_ms: list[float]
    seconds: float

    def figures(self) -> dict[str, Any]:
        return {
            "relay": summarise(self.latencies_ms),
            "staff_reply_call": summarise(self.call_ms),
            "replies": len(self.latencies_ms),
            "per_second": len(self.latencies_ms) / self.seconds,
        }


class Bench:
    def __init__(self, db: Database, tickets: int) -> None:
        self.db = db
        self.transport = RelayClock()
        self.worker = DeliveryWorker(db, {p: self.transport for p in Platform})
        self.desk = SupportDesk(
            db, DeskConfig(), load_knowledge_base(), on_enqueue=self.worker.wake
        )
        self.ticket_count = tickets
        self.ticket_ids: list[int] = []
        self.sent = 0

    async def prepare(self) -> None:
        for n in range(self.ticket_count):
            who = Identity(
                platform=Platform.SLACK,
                workspace="T0BENCH",
                user_id=f"U{n:05d}",
                name=f"Customer {n}",
            )
            self.ticket_ids.append(
                await file_ticket(
                    self.desk,
                    who,
                    f"Webhook {n} to our CRM times out after deploy",
                    "Since this morning every webhook call to our CRM times out after 30 seconds.",
                )
            )
        await self.worker.drain(max_passes=10_000)

    async def send(
        self, staff: Actor, ticket_id: int
    ) -> tuple[float, float, asyncio.Future[float]]:
        """One staff reply: (start, staff_reply returned, future of the relay's post time),
        perf_counter seconds."""
        n = self.sent
        self.sent += 1
        posted = self.transport.expect(n)
        started = time.perf_counter()
        await self.desk.staff_reply(
            staff,
            f"[relay {n}] Thanks, we raised the webhook timeout; please try again.",
            ticket_id=ticket_id,
        )
        return started, time.perf_counter(), posted

    def ticket(self, i: int) -> int:
        return self.ticket_ids[i % len(self.ticket_ids)]

    async def one_at_a_time(self, replies: int) -> Phase:
        latencies, calls = [], []
        began = time.perf_counter()
        for i in range(replies):
            started, returned, posted = await self.send(STAFF[0], self.ticket(i))
            latencies.append((await posted - started) * 1000)
            calls.append((returned - started) * 1000)
        return Phase("one at a time", latencies, calls, time.perf_counter() - began)

    async def burst(self, replies: int, concurrency: int) -> Phase:
        """``concurrency`` staff members, each sending their next reply as soon as the last
        one's call returned (not once it was delivered)."""
        sent: list[tuple[float, float, asyncio.Future[float]]] = []
        todo = iter(range(replies))

        async def staff_member(staff: Actor) -> None:
            for i in todo:
                sent.append(await self.send(staff, self.ticket(i)))

        began = time.perf_counter()
        await asyncio.gather(*(staff_member(STAFF[k]) for k in range(concurrency)))
        latencies, calls = [], []
        for started, returned, posted in sent:
            latencies.append((await posted - started) * 1000)
            calls.append((returned - started) * 1000)
        return Phase(f"burst, {concurrency} staff", latencies, calls, time.perf_counter() - began)


async def postgres_reason(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not."""
    try:
        conn = await asyncpg.connect(
            url.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=3
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    await conn.close()
    return None


async def run_backend(name: str, db: Database, args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(db, args.tickets)
    await db.upgrade()
    await bench.prepare()
    stop = asyncio.Event()
    worker = asyncio.create_task(bench.worker.run(stop))
    try:
        phases = [
            await bench.one_at_a_time(args.replies),
            await bench.burst(args.replies, args.concurrency),
        ]
    finally:
        stop.set()
        await worker
    figures = {}
    for phase in phases:
        f = phase.figures()
        figures[phase.name] = f
        r, c = f["relay"], f["staff_reply_call"]
        print(
            f"{name:<11}{phase.name:<18}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}"
            f"{r['max']:>8.1f}{c['p50']:>10.1f}{c['p99']:>8.1f}{f['per_second']:>10.0f}"
        )
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    print(f"{args.replies} replies per phase over {args.tickets} tickets; ms")
    print(
        f"{'backend':<11}{'phase':<18}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"{'call p50':>10}{'p99':>8}{'replies/s':>10}"
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'relay.db'}")
            try:
                results["sqlite"] = await run_backend("SQLite", db, args)
            finally:
                await db.dispose()
    if args.backend in ("postgres", "both"):
        reason = await postgres_reason(args.url)
        if reason is not None:
            if args.backend == "postgres":
                raise SystemExit(f"PostgreSQL not reachable at {args.url}: {reason}")
            print(f"PostgreSQL skipped: {reason}")
            return results
        schema = f"bench_relay_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.url.replace("postgresql+asyncpg://", "postgresql://"))
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        db = Database(args.url, connect_args={"server_settings": {"search_path": schema}})
        try:
            results["postgres"] = await run_backend("PostgreSQL", db, args)
        finally:
            await db.dispose()
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await admin.close()
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--replies", type=int, default=1000, help="staff replies per phase")
    parser.add_argument("--tickets", type=int, default=100, help="tickets the replies go to")
    parser.add_argument("--concurrency", type=int, default=8, help="staff members in a burst")
    parser.add_argument("--url", default=DEFAULT_PG_URL, help="SQLAlchemy URL of PostgreSQL")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
