"""Intake benchmark, Discord: how fast Helpline answers interactions arriving on the gateway,
next to a bare discord.py client whose commands answer at once (the floor).

Run from the repository root:

    .venv/bin/python bench/bench_intake_discord.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/bench_intake_discord.py --backend sqlite --requests 100

As in ``bench_intake_slack.py``, two processes: this one plays Discord (``FakeDiscord``: the
gateway that dispatches INTERACTION_CREATE and the REST API that records the callbacks), and a
server process runs either Helpline as ``helpline run`` builds it (``build_core``,
``create_discord_adapter``: the real discord.py client logged in to the fake, with the delivery
and timer workers) or the floor (a plain ``discord.Client`` with the same ``/support new``,
``/support list`` and modal, answering without any work).

The time of one interaction runs from just before the fake dispatches INTERACTION_CREATE to the
moment it records the bot's callback (``POST /interactions/{id}/{token}/callback``): the first
answer Discord needs within 3 s. Three kinds, ``--requests`` of each per concurrency level:

- ``new``: ``/support new category:…`` from a different customer each time; the callback opens
  the form (a modal, type 9) after ``intake_form``;
- ``submit``: that form, submitted with a unique, quiet ticket; Helpline defers (type 5), files
  the ticket, then sends the result as a follow-up (checked after the phase: "created");
- ``list``: ``/support list`` by the same customers; the callback is their ticket list (type 4).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the Slack script is a sibling, not a package
    sys.path.insert(0, str(HERE))

import discord  # noqa: E402
from bench_intake_slack import (  # noqa: E402
    JSON,
    Phase,
    Served,
    ServerProcess,
    bench_main,
    core_for,
    core_stats,
    create_schema,
    drive,
    drop_schema,
    phase_deadline,
    postgres_reason,
    ratio,
    serve_commands,
    settle_outbox,
    ticket_text,
)
from discord import app_commands  # noqa: E402

KINDS = ("new", "submit", "list")
WARMUP = 20
CALLBACK_MODAL = 9
CALLBACK_MESSAGE = 4
CALLBACK_DEFERRED = 5


# ---- the server process --------------------------------------------------------------------------


async def start_helpline(spec: JSON) -> Served:
    from adapters.discord.runtime import create_discord_adapter
    from bot.settings import Settings
    from core.models import Platform
    from core.timers import TimerWorker
    from tests.adapters.discord_harness import desk_config

    settings = Settings(
        _env_file=None, database_url=spec["database_url"], discord_bot_token=spec["token"],
        discord_api_url=spec["rest_url"], discord_gateway_url=spec["gateway_url"],
        slack_bot_token=None, slack_signing_secret=None, slack_app_token=None,
        slack_client_id=None, slack_client_secret=None)
    config = desk_config(spec["guild"], spec["support"],
                         f"discord:{spec['guild']}:{spec['staff']}", spec["role"])
    core = await core_for(settings, config, spec.get("schema"))
    adapter = create_discord_adapter(core)
    worker = core.start_worker({Platform.DISCORD: adapter.transport})
    await adapter.start()
    async with asyncio.timeout(60):
        await adapter.wait_until_ready()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)),
             asyncio.create_task(TimerWorker(core.db, core.desk, core.desk.clock).run(stop))]

    async def close() -> None:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await adapter.stop()
        await core.close()

    return Served({"ready": True}, lambda: settle_outbox(core, worker),
                  lambda: core_stats(core), close)


async def start_floor(spec: JSON) -> Served:
    """A plain discord.py client: ``/support new`` opens a form, ``/support list`` answers a
    line, the form's submit defers; nothing else."""
    from adapters.discord.commands import CATEGORY_CHOICES
    from adapters.discord.runtime import intents, use_endpoints

    client = discord.Client(intents=intents(), guild_ready_timeout=0.05)
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    support = app_commands.Group(name="support", description="Get help", guild_only=True)

    @support.command(name="new", description="File a support ticket")
    @app_commands.choices(category=CATEGORY_CHOICES)
    async def new(interaction: discord.Interaction[Any],
                  category: app_commands.Choice[str]) -> None:
        await interaction.response.send_modal(FloorForm())

    @support.command(name="list", description="Your tickets")
    async def listing(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("You have no tickets.", ephemeral=True)

    tree.add_command(support)
    use_endpoints(spec["rest_url"], spec["gateway_url"])
    await client.login(spec["token"])
    task = asyncio.create_task(client.connect())
    async with asyncio.timeout(60):
        await client.wait_until_ready()

    async def nothing() -> None:
        return None

    async def no_stats() -> JSON:
        return {}

    async def close() -> None:
        await client.close()
        await asyncio.gather(task, return_exceptions=True)

    return Served({"ready": True}, nothing, no_stats, close)


class FloorForm(discord.ui.Modal):
    """The floor's form: the ticket form's text inputs, and a submit that only defers."""

    def __init__(self) -> None:
        super().__init__(title="New support ticket", timeout=15 * 60)
        for custom_id in ("subject", "message", "message_more"):
            self.add_item(discord.ui.Label(text=custom_id, component=discord.ui.TextInput(
                custom_id=custom_id, required=custom_id != "message_more")))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)


async def serve(spec: JSON) -> None:
    await serve_commands(start_helpline if spec["app"] == "helpline" else start_floor, spec)


# ---- the driver: Discord's side ------------------------------------------------------------------


class CallbackClock(list[Any]):
    """``FakeDiscord.callbacks`` that also notes when each callback was recorded, and wakes whoever
    waits for it (the fake's own waits re-check every condition on every request)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[int, float] = {}
        self._waiting: dict[int, asyncio.Future[float]] = {}

    def append(self, callback: Any) -> None:
        super().append(callback)
        now = time.perf_counter()
        interaction_id = callback.interaction.id
        self.at[interaction_id] = now
        waiter = self._waiting.pop(interaction_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)

    async def recorded(self, interaction_id: int) -> float:
        if interaction_id in self.at:
            return self.at[interaction_id]
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[interaction_id] = waiter
        async with asyncio.timeout(30):
            return await waiter


@dataclass
class Level:
    """The interactions of one concurrency level (the floor gets the same customers)."""

    number: int
    size: int
    users: list[JSON] = field(default_factory=list)
    modals: list[Any] = field(default_factory=list)  # the form each `new` opened
    submits: list[Any] = field(default_factory=list)  # the interaction of each submit

    def ticket(self, i: int) -> tuple[str, str, str]:
        return ticket_text(self.number * 100_000 + i)


class DiscordDriver:
    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.clock = CallbackClock()
        fake.callbacks = self.clock

    def new_level(self, number: int, size: int) -> Level:
        level = Level(number, size)
        level.users = [self.fake.new_user(f"customer{number}x{i}") for i in range(size)]
        level.modals = [None] * size
        level.submits = [None] * size
        return level

    async def answered(self, sent: Any, want: int) -> Any:
        """The callback to ``sent`` once the fake recorded it; raises unless of type ``want``."""
        await self.clock.recorded(sent.id)
        callback = next(c for c in reversed(self.clock) if c.interaction is sent)
        if callback.type != want:
            raise AssertionError(f"callback type {callback.type}, not {want}: {callback.data}")
        return callback

    def sender(self, kind: str, level: Level,
               helpline: bool) -> Callable[[int], Awaitable[str | None]]:
        fake = self.fake

        async def new(i: int) -> str | None:
            category, _, _ = level.ticket(i)
            sent = await fake.slash_command("support", {"category": category}, subcommand="new",
                                            user=level.users[i])
            level.modals[i] = await self.answered(sent, CALLBACK_MODAL)
            return None

        async def submit(i: int) -> str | None:
            if level.modals[i] is None:
                return "no form was opened"
            _, subject, message = level.ticket(i)
            sent = await fake.submit_modal(level.modals[i], {
                "subject": subject, "message": message, "message_more": ""}, user=level.users[i])
            if helpline:
                level.submits[i] = sent
            await self.answered(sent, CALLBACK_DEFERRED)
            return None

        async def listing(i: int) -> str | None:
            sent = await fake.slash_command("support", subcommand="list", user=level.users[i])
            await self.answered(sent, CALLBACK_MESSAGE)
            return None

        return {"new": new, "submit": submit, "list": listing}[kind]

    async def answers(self, levels: Sequence[Level], within: float = 120.0) -> list[JSON | None]:
        """The follow-up that answered each Helpline submit (None if none came in time)."""
        found: list[JSON | None] = []
        deadline = time.monotonic() + within
        for level in levels:
            for sent in level.submits:
                message = None
                while sent is not None and time.monotonic() < deadline:
                    message = self.fake.original_response(sent)
                    if message is not None and not message["flags"] & LOADING:
                        break
                    await asyncio.sleep(0.005)  # a bounded look: the follow-up may still come
                found.append(message)
        return found

    async def outcomes(self, levels: Sequence[Level]) -> Counter[str]:
        """What each Helpline submit answered in its follow-up ("created" or else)."""
        found: Counter[str] = Counter()
        for message in await self.answers(levels):
            content = str((message or {}).get("content") or "")
            found["created" if "created" in content else (content[:60] or "no answer")] += 1
        return found


LOADING = 1 << 7  # a deferred answer still "thinking"


async def run_levels(
    driver: DiscordDriver, server: ServerProcess, levels: Sequence[Level],
    concurrency: Sequence[int], *, helpline: bool,
) -> dict[str, dict[int, JSON]]:
    figures: dict[str, dict[int, JSON]] = {kind: {} for kind in KINDS}
    for level, conc in zip(levels, concurrency, strict=True):
        for kind in KINDS:
            phase = Phase(kind, conc)
            await drive(phase, level.size, driver.sender(kind, level, helpline), server,
                        deadline=phase_deadline(level.size))
            if helpline and kind == "submit":
                # The ack is a deferral; the tickets are filed after it. Wait for every answer
                # and every delivery (so `list` is not measured against this backlog): "done".
                cpu = (await server.ask("cpu"))["cpu"]
                started = time.perf_counter()
                await driver.answers([level])
                phase.finish_wall = time.perf_counter() - started
                await server.ask("settle")
                phase.finish_cpu = (await server.ask("cpu"))["cpu"] - cpu
            figures[kind][conc] = phase.figures()
    return figures


def world(fake: Any, levels: Sequence[Level]) -> JSON:
    """A guild with a support channel (private ticket threads), a staff channel and role, and
    every level's customers as members (the bot adds them to their tickets' threads)."""
    staff_role = fake.new_id()
    staff = fake.new_user("sam")
    guild = fake.add_guild(
        channels=[{"name": "general"}, {"name": "support"}, {"name": "staff"}],
        roles=[{"id": staff_role, "name": "Support team"}],
        members=[fake.member_payload(staff, [staff_role]),
                 *(user for level in levels for user in level.users)],
    )
    return {"guild": int(guild["id"]), "support": fake.channel_id("support"),
            "staff": fake.channel_id("staff"), "role": staff_role, "token": fake.token,
            "rest_url": fake.rest_url, "gateway_url": fake.gateway_url}


async def run_backend(args: argparse.Namespace, backend: str) -> JSON:
    from tests.fakes.discord_api import FakeDiscord

    schema = None
    if backend == "postgres":
        if reason := await postgres_reason(args.postgres_url):
            return {"skipped": f"PostgreSQL not reachable ({reason})"}
        schema = await create_schema(args.postgres_url, "bench_intake_discord")
    with tempfile.TemporaryDirectory(prefix="helpline-intake-") as tmp:
        url = (f"sqlite+aiosqlite:///{tmp}/helpline.db" if backend == "sqlite"
               else args.postgres_url)
        try:
            async with FakeDiscord() as fake:
                driver = DiscordDriver(fake)
                warm = driver.new_level(0, min(WARMUP, args.requests))
                levels = [driver.new_level(n + 1, args.requests)
                          for n in range(len(args.concurrency))]
                spec: JSON = {"app": "helpline", "database_url": url, "schema": schema,
                              **world(fake, [warm, *levels])}
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spec["profile"] = str(args.profile / f"discord-{backend}.prof")
                warm_conc = [min(10, warm.size)]
                async with ServerProcess(Path(__file__), spec) as server:
                    await fake.wait_ready()
                    await run_levels(driver, server, [warm], warm_conc, helpline=True)
                    helpline = await run_levels(driver, server, levels, args.concurrency,
                                                helpline=True)
                    await server.ask("settle")
                    stats = await server.ask("stats")
                    outcomes = await driver.outcomes([warm, *levels])
                async with ServerProcess(Path(__file__), {**spec, "app": "floor",
                                                          "profile": None}) as server:
                    await run_levels(driver, server, [warm], warm_conc, helpline=False)
                    floor = await run_levels(driver, server, levels, args.concurrency,
                                             helpline=False)
                threads = sum(1 for t in fake.threads(spec["guild"])
                              if str(t["name"]).startswith("Ticket #"))
                return {
                    "helpline": helpline,
                    "floor": floor,
                    "ratio": {kind: {c: ratio(helpline[kind][c], floor[kind][c])
                                     for c in helpline[kind]} for kind in KINDS},
                    "checks": {
                        "tickets_in_database": stats["tickets"],
                        "tickets_expected": sum(lv.size for lv in [warm, *levels]),
                        "submit_outcomes": dict(outcomes),
                        "customer_threads": threads,
                        "outbox": stats["outbox"],
                    },
                }
        finally:
            if schema is not None:
                await drop_schema(args.postgres_url, schema)


def main(argv: Sequence[str] | None = None) -> JSON:
    return bench_main("discord", __doc__ or "", KINDS, serve, run_backend, argv)


if __name__ == "__main__":
    main()
