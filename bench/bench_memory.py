"""Memory benchmark: resident set size of a Helpline process, idle and after filing tickets.

Run from the repository root, one backend per process (RSS only grows, so a second backend in
the same process would measure the first one's leftovers):

    .venv/bin/python bench/bench_memory.py                          # SQLite, 10,000 tickets
    .venv/bin/python bench/bench_memory.py --backend postgres       # PostgreSQL on 127.0.0.1

Figures come from /proc/self/status: VmRSS (resident now) and VmHWM (the peak so far).

- idle: the core as ``bot.bootstrap.build_core`` builds it (config, knowledge base loaded,
  database migrated, desk service) plus the delivery worker; no chat adapter imported;
- after filing: ``--tickets`` tickets filed through ``SupportDesk.submit`` by customers across
  many workspaces (past duplicate prompts and self-service offers, as a customer who insists),
  with the delivery worker sending what they enqueue (threads, cards, relays) to a transport
  that keeps nothing. A simulated clock moves one minute per ticket, so the desk sees a busy
  week rather than 10,000 tickets in one minute (which would be one long incident burst).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from core.config import DeskConfig
from core.knowledge import load_knowledge_base
from core.models import Destination, Identity, MessageRef, Platform, ThreadRef, TicketDraft
from core.outbound import CardPosted, Outbound, OutboundFile, Reaction
from core.outbox import DeliveryWorker
from core.service import SupportDesk
from core.storage.db import Database
from core.views import Created, DuplicatePrompt, SelfServiceOffer, SubmitResult, TicketCard

DEFAULT_PG_URL = os.environ.get(
    "HELPLINE_BENCH_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
CATEGORIES = ["Technical", "Deliverability", "Billing", "Account", "API", "Feature", "Other"]
PROBLEMS = [
    "Emails to {d} bounce with 550 5.7.1",
    "Outlook asks again and again for the password of {m}",
    "Invoice INV-{n} was charged twice",
    "DKIM for {d} still not verified after two days",
    "Nothing arrives in {m} since yesterday",
    "Newsletter from {d} goes to spam at Gmail",
    "Webhook to our CRM times out for {d}",
    "Need three more aliases on {m}",
    "IMAP folders on {m} stopped syncing",
    "API key for {d} returns 401",
    "Quota warning on {m} but the mailbox is nearly empty",
    "Move {d} from our old host without losing mail",
]


def memory() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


class SimulatedClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class NullTransport:
    """Accepts everything, keeps nothing, so the figures are Helpline's own."""

    platform = Platform.CONSOLE

    def __init__(self) -> None:
        self.calls = 0

    def _ref(self, channel: str) -> MessageRef:
        self.calls += 1
        return MessageRef(
            platform=Platform.CONSOLE,
            workspace="w",
            channel_id=channel,
            message_id=f"m{self.calls}",
        )

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        self.calls += 1
        return ThreadRef(
            platform=dest.platform,
            workspace=dest.workspace,
            channel_id=f"dm-{dest.user_id}",
            thread_id=f"t{message.ticket_id}",
        )

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        return self._ref(thread.channel_id)

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        ref = self._ref(dest.channel_id or "staff")
        return CardPosted(
            card=ref,
            thread=ThreadRef(
                platform=ref.platform,
                workspace=ref.workspace,
                channel_id=ref.channel_id,
                thread_id=ref.message_id,
            ),
        )

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        self.calls += 1

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        self.calls += 1


async def file_ticket(desk: SupportDesk, who: Identity, draft: TicketDraft) -> int:
    """Submit past any duplicate prompt or self-service offer."""
    result: SubmitResult = await desk.submit(who, draft)
    while not isinstance(result, Created):
        if isinstance(result, DuplicatePrompt):
            result = await desk.create_new(who, result.draft_id)
        elif isinstance(result, SelfServiceOffer):
            result = await desk.file_anyway(who, result.draft_id)
        else:
            raise RuntimeError(f"ticket refused: {result!r}")
    return result.ticket.id


def drafts(count: int, seed: int) -> list[tuple[Identity, TicketDraft]]:
    """``count`` tickets from count/4 customers in count/40 workspaces, Slack and Discord."""
    rng = random.Random(seed)
    customers = max(1, count // 4)
    out = []
    for _ in range(count):
        c = rng.randrange(customers)
        platform = Platform.SLACK if c % 3 else Platform.DISCORD
        who = Identity(
            platform=platform,
            workspace=f"W{c % max(1, count // 40):04d}",
            user_id=f"U{c:06d}",
            name=f"Customer {c}",
        )
        domain = f"shop{c}.example"
        subject = rng.choice(PROBLEMS).format(
            d=domain, m=f"info@{domain}", n=rng.randint(10000, 99999)
        )
        message = (
            f"Hello, {subject.lower()}. We noticed it around {rng.randint(1, 12)} pm "
            f"and tried again from {rng.choice(['Outlook', 'webmail', 'iPhone'])}. "
            "Could you have a look?"
        )
        out.append(
            (who, TicketDraft(category=rng.choice(CATEGORIES), subject=subject, message=message))
        )
    return out


def line(stage: str, figures: dict[str, int]) -> None:
    print(f"{stage:<58}{figures['VmRSS'] / 1024:>10.1f}{figures['VmHWM'] / 1024:>10.1f}")


async def measure(url: str, args: argparse.Namespace, **engine_args: Any) -> dict[str, Any]:
    stages: dict[str, dict[str, int]] = {}
    print(f"{'stage':<58}{'RSS MiB':>10}{'peak MiB':>10}")
    stages["after imports"] = memory()
    line("after imports", stages["after imports"])

    # What bot.bootstrap.build_core does, plus the worker the runner starts.
    clock = SimulatedClock()
    config = DeskConfig()
    kb = load_knowledge_base(config.knowledge_base_dir)
    db = Database(url, **engine_args)
    try:
        await db.upgrade()
        desk = SupportDesk(db, config, kb, clock=clock)
        transport = NullTransport()
        worker = DeliveryWorker(db, {p: transport for p in Platform}, clock=clock)
        desk.on_enqueue = worker.wake
        await desk.support_center(Identity(platform=Platform.SLACK, workspace="W", user_id="U"))
        gc.collect()
        stages["idle"] = memory()
        line("idle (core built, migrated, kb loaded, worker ready)", stages["idle"])

        started = time.perf_counter()
        slice_size = max(1, args.tickets // 10)
        slices: list[float] = []  # seconds per tenth of the tickets: does filing slow down?
        slice_started = started
        for n, (who, draft) in enumerate(drafts(args.tickets, args.seed), start=1):
            clock.now += timedelta(minutes=1)
            await file_ticket(desk, who, draft)
            if n % 100 == 0 or n == args.tickets:
                await worker.drain(max_passes=10_000)
            if n % slice_size == 0:
                slices.append(time.perf_counter() - slice_started)
                slice_started = time.perf_counter()
        seconds = time.perf_counter() - started
        stages["after filing"] = memory()
        label = f"after filing {args.tickets:,} tickets (and delivering)"
        line(label, stages["after filing"])
        gc.collect()
        stages["after gc"] = memory()
        line("  ... then gc.collect()", stages["after gc"])
        count = await desk.count_tickets()
        print(
            f"filed {count:,} tickets in {seconds:.1f} s "
            f"({count / seconds:.0f}/s, {transport.calls:,} transport calls); "
            f"first tenth {slice_size / slices[0]:.0f}/s, last tenth "
            f"{slice_size / slices[-1]:.0f}/s; load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        await db.dispose()
    return {"stages": stages, "tickets": count, "seconds": seconds}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            return await measure(f"sqlite+aiosqlite:///{Path(folder) / 'memory.db'}", args)
    dsn = args.url.replace("postgresql+asyncpg://", "postgresql://", 1)
    schema = f"bench_memory_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            return await measure(
                args.url, args, connect_args={"server_settings": {"search_path": schema}}
            )
        finally:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--url", default=DEFAULT_PG_URL, help="SQLAlchemy URL of PostgreSQL")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
