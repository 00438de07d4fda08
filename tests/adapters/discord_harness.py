"""A running Helpline with its real Discord adapter, against FakeDiscord: a guild with a
support channel (private ticket threads), a staff channel (cards) and a staff role; the desk on
SQLite; the delivery worker running as it does in `helpline run`.

Tests drive it as people would (slash commands, modal submits, clicks, thread messages) and
wait for what the bot sends; nothing here calls the adapter's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.discord.runtime import DiscordAdapter
from core.clock import utcnow
from core.config import DeskConfig, IntakeConfig, StaffConfig
from core.knowledge import load_knowledge_base
from core.models import Category, Platform
from core.outbound import Transport
from core.outbox import DeliveryWorker
from core.service import SupportDesk
from core.storage.db import Database
from tests.fakes.discord_api import (
    CALLBACK_MODAL,
    JSON,
    FakeDiscord,
    InteractionCallback,
    SentInteraction,
    SentMessage,
)

GUILD_READY_TIMEOUT = 0.05
STAFF_ROLE = "Support team"


class Clock:
    """Real time, plus an offset a test can move (reopen windows, draft expiry)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


def png(size: tuple[int, int] = (8, 8), colour: str = "red") -> bytes:
    """A real, decodable PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


@dataclass
class World:
    fake: FakeDiscord
    desk: SupportDesk
    db: Database
    config: DeskConfig
    adapter: DiscordAdapter
    worker: DeliveryWorker
    clock: Clock
    guild_id: int
    support_channel: int
    staff_channel: int
    staff_role: int
    staff: JSON
    outsider: JSON
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def customer(self) -> JSON:
        return self.fake.customer

    # ---- customer actions --------------------------------------------------------------------

    async def support_new(
        self, category: str, image: JSON | None = None, user: JSON | None = None
    ) -> InteractionCallback:
        """Run /support new; returns the modal the bot opened."""
        options: dict[str, Any] = {"category": category}
        if image is not None:
            options["image"] = image
        command = await self.fake.slash_command("support", options, subcommand="new", user=user)
        callback = await self.fake.wait_callback(command)
        assert callback.type == CALLBACK_MODAL, callback.data
        return callback

    async def submit(
        self, modal: InteractionCallback, subject: str, message: str, *, more: str = "",
        upload: JSON | None = None, category: str | None = None,
    ) -> tuple[SentInteraction, JSON]:
        """Fill in and submit a modal; returns the interaction and the bot's answer."""
        values: dict[str, Any] = {"subject": subject, "message": message, "message_more": more}
        if upload is not None:
            values["image"] = [upload]
        if category is not None:
            values["category"] = [category]
        submit = await self.fake.submit_modal(modal, values)
        return submit, await self.fake.wait_response(submit)

    async def click(self, message: JSON, label: str, user: JSON | None = None) -> SentInteraction:
        """Click the button labelled `label` on a message the bot sent."""
        return await self.fake.component(button_id(message, label), message, user=user)

    async def file_ticket(
        self, category: str, subject: str, message: str, *, upload: JSON | None = None
    ) -> tuple[int, JSON]:
        """A ticket filed straight through (no prompt expected); returns (ticket id, its
        customer thread). Returns once the customer's message has been relayed into the staff
        thread: the relay is sent only after the desk has recorded that thread, so commands
        used in it find the ticket."""
        modal = await self.support_new(category)
        _, answer = await self.submit(modal, subject, message, upload=upload)
        assert "created" in answer["content"], answer["content"]
        ticket_id = int(answer["content"].split("#", 1)[1].split(" ", 1)[0].rstrip(":*"))
        thread = await self.customer_thread(ticket_id)
        staff = await self.staff_thread(ticket_id)
        await self.wait_in(int(staff["id"]), lambda s: s.message["content"].startswith("**"))
        return ticket_id, thread

    async def closed_with_rating_request(self, subject: str, message: str) -> tuple[int, JSON]:
        """A ticket of the customer, closed by staff; returns it and the rating request as the
        customer's client shows it."""
        ticket_id, thread = await self.file_ticket("API", subject, message)
        await self.fake.wait_response(
            await self.click(self.card_message(ticket_id), "Close", user=self.staff))
        request = (await self.wait_in(int(thread["id"]),
                                      lambda s: "How did we do" in s.message["content"]))[0]
        await self.drain()
        return ticket_id, copy.deepcopy(self.fake.message(request.id))

    async def customer_thread(self, ticket_id: int) -> JSON:
        name = f"Ticket #{ticket_id} "
        await self.fake.wait_until(
            lambda: any(t["name"].startswith(name) for t in self.fake.threads(self.guild_id)),
            f"the customer thread of #{ticket_id}")
        return next(t for t in self.fake.threads(self.guild_id) if t["name"].startswith(name))

    async def staff_thread(self, ticket_id: int) -> JSON:
        name = f"#{ticket_id} "
        await self.fake.wait_until(
            lambda: any(t["name"].startswith(name) for t in self.fake.threads(self.guild_id)),
            f"the staff thread of #{ticket_id}")
        return next(t for t in self.fake.threads(self.guild_id) if t["name"].startswith(name))

    def card_message(self, ticket_id: int) -> JSON:
        for sent in self.fake.sent_messages(self.staff_channel):
            embeds = sent.message.get("embeds") or []
            if embeds and f"#{ticket_id} " in embeds[0].get("title", ""):
                return self.fake.message(sent.id)
        raise AssertionError(f"no card for #{ticket_id}")

    async def wait_in(
        self, channel_id: int, predicate: Callable[[SentMessage], bool], count: int = 1
    ) -> list[SentMessage]:
        return await self.fake.wait_sent(
            lambda s: int(s.message["channel_id"]) == channel_id and predicate(s), count)

    async def command(
        self, path: str, options: dict[str, Any] | None = None, *, user: JSON | None = None,
        channel_id: int | None = None,
    ) -> SentInteraction:
        """Run a /support subcommand by its path, e.g. ``"snippet send"`` or ``"queue"``, as
        `user` (the customer by default) in `channel_id` (the guild's first text channel by
        default; a thread id to use it inside a thread)."""
        built = [_option(name, value) for name, value in (options or {}).items()]
        *groups, leaf = path.split()
        raw: list[JSON] = [{"name": leaf, "type": 1, "options": built}]
        for group in reversed(groups):
            raw = [{"name": group, "type": 2, "options": raw}]
        return await self.fake.slash_command("support", raw, user=user, channel_id=channel_id)

    async def answer(
        self, path: str, options: dict[str, Any] | None = None, *, user: JSON | None = None,
        channel_id: int | None = None,
    ) -> JSON:
        """Run a /support subcommand and return the bot's answer to it."""
        sent = await self.command(path, options, user=user, channel_id=channel_id)
        return await self.fake.wait_response(sent)

    async def drain(self) -> None:
        """Deliver everything due now (tests that assert nothing more arrives)."""
        await self.worker.drain()

    async def restart(self) -> None:
        """Stop the Discord adapter and start a new one on the same database, config and fake,
        as a deploy does: whatever the old client held in memory is gone. Forms the customer
        has open (modals the fake recorded) stay open, as they do in Discord."""
        async with self.helpline_down():
            pass

    @contextlib.asynccontextmanager
    async def helpline_down(self) -> AsyncIterator[None]:
        """Helpline's Discord adapter is stopped for the body of the ``async with`` (a crash, a
        deploy): what people write meanwhile (``fake.add_message``) reaches no one, and the
        gateway does not replay it to the next session. On leaving, a new adapter starts on the
        same database, config and fake, and is ready (its catch-up running in the background);
        ``adapter`` is then the new one."""
        await self.worker.drain()
        identified = len(self.fake.identifies)
        await self.adapter.stop()
        yield
        self.adapter = new_adapter(self.fake, self.desk, self.config)
        self.worker.transports[Platform.DISCORD] = self.adapter.transport
        await self.adapter.start()
        async with asyncio.timeout(5):
            await self.adapter.wait_until_ready()
        assert len(self.fake.identifies) == identified + 1, "a new gateway session, not a resume"


def _option(name: str, value: Any) -> JSON:
    kind = 4 if isinstance(value, int) and not isinstance(value, bool) else 3
    return {"name": name, "type": kind, "value": value if kind == 4 else str(value)}


def button_id(message: JSON, label: str) -> str:
    for row in message.get("components") or []:
        for component in row.get("components", []):
            if component.get("label") == label and component.get("custom_id"):
                return str(component["custom_id"])
    labels = [c.get("label") for r in message.get("components") or [] for c in r["components"]]
    raise AssertionError(f"no button {label!r} on the message; buttons: {labels}")


def modal_inputs(modal: InteractionCallback) -> dict[str, JSON]:
    """The modal's inputs by custom_id (inside their Labels)."""
    found: dict[str, JSON] = {}
    for component in modal.data["components"]:
        inner = component.get("component")
        if inner and inner.get("custom_id"):
            found[inner["custom_id"]] = inner
    return found


def new_adapter(fake: FakeDiscord, desk: SupportDesk, config: DeskConfig) -> DiscordAdapter:
    return DiscordAdapter(desk, config, fake.token, api_url=fake.rest_url,
                          gateway_url=fake.gateway_url, pace_identify=False,
                          guild_ready_timeout=GUILD_READY_TIMEOUT)


def desk_config(guild_id: int, support: int | None, staff_channel: str, role_id: int,
                **overrides: Any) -> DeskConfig:
    intake = {str(guild_id): str(support)} if support else {}
    return DeskConfig(
        default_channel=staff_channel,
        routing={c: staff_channel for c in Category},
        staff=StaffConfig(discord_roles=[str(role_id)]),
        intake=IntakeConfig(discord_support_channels=intake),
        **overrides,
    )


@contextlib.asynccontextmanager
async def running_world(
    tmp_path: Path,
    *,
    configure: Callable[[DeskConfig, dict[str, int]], DeskConfig] | None = None,
    transports: Callable[[World], dict[Platform, Transport]] | None = None,
    extra_channels: Sequence[str] = (),
    extra_roles: Sequence[str] = (),
    setup: Callable[[FakeDiscord, dict[str, int]], None] | None = None,
) -> AsyncIterator[World]:
    """Start the fake, the database, the desk, the Discord adapter and the delivery worker.

    `configure` may replace the desk config (it gets the default one and the ids: guild,
    support, staff, role, and each of `extra_channels` / `extra_roles` by name);
    `transports` may add transports for other platforms to the worker; `setup` may add more to
    the fake before the bot connects (another guild, its roles and members), and the ids it
    puts into the dict reach `configure`."""
    async with FakeDiscord() as fake:
        with fake.patch_client():
            staff_role = fake.new_id()
            role_ids = {name: fake.new_id() for name in extra_roles}
            staff = fake.new_user("sam")
            outsider = fake.new_user("mallory")
            guild = fake.add_guild(
                channels=[{"name": "general"}, {"name": "support"}, {"name": "staff"},
                          *({"name": name} for name in extra_channels)],
                roles=[{"id": staff_role, "name": STAFF_ROLE},
                       *({"id": rid, "name": name} for name, rid in role_ids.items())],
                members=[fake.member_payload(staff, [staff_role]), outsider],
            )
            guild_id = int(guild["id"])
            ids = {"guild": guild_id, "support": fake.channel_id("support"),
                   "staff": fake.channel_id("staff"), "role": staff_role, **role_ids,
                   **{name: fake.channel_id(name) for name in extra_channels}}
            if setup is not None:
                setup(fake, ids)
            config = desk_config(guild_id, ids["support"], f"discord:{guild_id}:{ids['staff']}",
                                 staff_role)
            if configure is not None:
                config = configure(config, ids)
            db = Database(f"sqlite+aiosqlite:///{tmp_path}/helpline.db")
            await db.upgrade()
            clock = Clock()
            desk = SupportDesk(db, config, load_knowledge_base(), clock=clock)
            adapter = new_adapter(fake, desk, config)
            worker = DeliveryWorker(db, {Platform.DISCORD: adapter.transport}, clock=clock)
            desk.on_enqueue = worker.wake
            world = World(fake=fake, desk=desk, db=db, config=config, adapter=adapter,
                          worker=worker, clock=clock, guild_id=guild_id,
                          support_channel=ids["support"], staff_channel=ids["staff"],
                          staff_role=staff_role, staff=staff, outsider=outsider)
            if transports is not None:
                worker.transports.update(transports(world))
            stop = asyncio.Event()
            await adapter.start()
            worker_task = asyncio.create_task(worker.run(stop, idle_interval=0.05))
            try:
                async with asyncio.timeout(5):
                    await adapter.wait_until_ready()
                yield world
            finally:
                stop.set()
                await worker_task
                await world.adapter.stop()  # the one running now, after any restart
                await db.dispose()
