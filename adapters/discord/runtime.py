"""The Discord adapter inside ``helpline run``: builds the discord.py client (plain or
auto-sharded, see ``adapters.discord.settings``), its command tree and handlers, and the
transport the delivery worker uses; logs in and keeps the gateway connection as a task.

Intents: only what is used. ``guilds`` (channels, threads, roles for the staff check) and
``guild_messages`` (messages in ticket threads) are ordinary; ``message_content`` is the one
privileged intent, needed to read what customers and staff write in ticket threads, and must be
switched on for the bot in Discord's developer portal. No member list, no presences.

Once the client is ready, each start also catches up, in the background, on messages written in
ticket threads while Helpline was not connected (catchup.py), and so does every later gateway
session that had to replace one Discord would not resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web
from discord import app_commands

from adapters.discord.catchup import CatchUpReport, DiscordCatchUp
from adapters.discord.components import ActionButton, ActionSelect
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.settings import DiscordSettings
from adapters.discord.text import no_mentions
from adapters.discord.transport import DiscordTransport
from core.config import DeskConfig
from core.models import Platform
from core.service import SupportDesk

if TYPE_CHECKING:
    from bot.bootstrap import Core

log = logging.getLogger("helpline.discord")


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.message_content = True  # privileged: switch it on in the developer portal
    return wanted


def use_endpoints(api_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py at other REST and gateway endpoints (DISCORD_API_URL /
    DISCORD_GATEWAY_URL; a local fake in tests). These are process-wide class attributes."""
    if api_url:
        discord.http.Route.BASE = api_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class _HelplineClientMixin:
    """What both client kinds add to discord.py: Helpline's intents, no mentions, the command
    tree, persistent buttons, submitted forms and thread messages to the handlers, and optional
    identify pacing."""

    def __init__(self, handlers: DiscordHandlers, *, pace_identify: bool = True,
                 **options: Any) -> None:
        super().__init__(intents=intents(), allowed_mentions=no_mentions(), **options)  # type: ignore[call-arg]  # the discord.Client base takes them
        self.helpline = handlers
        self.pace_identify = pace_identify
        self.on_session: Callable[[int | None], None] | None = None
        """Told of every gateway session that is ready, by shard (None: unsharded)."""
        self.tree: app_commands.CommandTree[Any] = _tree(self, handlers)  # type: ignore[arg-type]  # self is a discord.Client

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton, ActionSelect)  # type: ignore[attr-defined]  # on discord.Client

    async def on_message(self, message: discord.Message) -> None:
        await self.helpline.thread_message(message)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every form submit, handled by its custom_id: discord.py keeps no Helpline form in
        memory (see ``adapters.discord.forms``), so none is handled twice or lost on a
        restart."""
        if interaction.type is discord.InteractionType.modal_submit:
            await self.helpline.on_form_submit(interaction)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self.pace_identify:
            await super().before_identify_hook(shard_id, initial=initial)  # type: ignore[misc]  # on discord.Client


class HelplineClient(_HelplineClientMixin, discord.Client):
    """One gateway connection (or the shard this process was given)."""

    async def on_ready(self) -> None:
        """A session is ready: the first since login, or one that replaced a session Discord
        would not resume."""
        if self.on_session is not None:
            self.on_session(None)


class HelplineShardedClient(_HelplineClientMixin, discord.AutoShardedClient):
    """Several shards in this process (DISCORD_AUTO_SHARD, or DISCORD_SHARD_IDS of
    DISCORD_SHARD_COUNT)."""

    async def on_shard_ready(self, shard_id: int) -> None:
        """A shard's session is ready: its first since login, or one that replaced a session
        Discord would not resume."""
        if self.on_session is not None:
            self.on_session(shard_id)


def _tree(client: discord.Client, handlers: DiscordHandlers) -> app_commands.CommandTree[Any]:
    from adapters.discord.commands import build_tree

    return build_tree(client, handlers)


def build_client(
    handlers: DiscordHandlers, shards: DiscordSettings, **options: Any
) -> HelplineClient | HelplineShardedClient:
    if shards.sharded:
        return HelplineShardedClient(handlers, shard_count=shards.shard_count,
                                     shard_ids=shards.shard_ids, **options)
    return HelplineClient(handlers, **options)


class DiscordAdapter:
    """The runner's ChatAdapter for Discord."""

    platform = Platform.DISCORD

    def __init__(
        self,
        desk: SupportDesk,
        config: DeskConfig,
        token: str,
        *,
        shards: DiscordSettings | None = None,
        api_url: str | None = None,
        gateway_url: str | None = None,
        **client_options: Any,
    ) -> None:
        self.token = token
        self.api_url = api_url
        self.gateway_url = gateway_url
        self.handlers = DiscordHandlers(desk, config)
        self.client = build_client(self.handlers, shards or DiscordSettings(), **client_options)
        self.handlers.client = self.client
        self.transport = DiscordTransport(self.client)
        self._task: asyncio.Task[None] | None = None
        self.catch_up = DiscordCatchUp(desk, self.handlers, self.client, self.transport)
        self.catching_up: asyncio.Task[CatchUpReport] | None = None
        """The latest catch-up (the start's, or a later session's), until stop()."""
        self._sessions_ready: set[int | None] = set()
        self.client.on_session = self._session_ready

    async def start(self, http: web.Application | None = None) -> None:
        """Log in (REST works from here on, so the outbox can deliver) and keep the gateway
        connected in a task; the catch-up runs in another once the client is ready. Discord
        needs no HTTP route: interactions arrive on the gateway."""
        use_endpoints(self.api_url, self.gateway_url)
        await self.client.login(self.token)
        self._task = asyncio.create_task(self.client.connect(), name="discord-gateway")
        self._task.add_done_callback(_log_exit)
        self.catching_up = asyncio.create_task(self._catch_up_once_ready(),
                                               name="discord-catch-up")

    async def _catch_up_once_ready(self) -> CatchUpReport:
        await self.client.wait_until_ready()
        return await self.catch_up.run()

    def _session_ready(self, shard: int | None) -> None:
        """The first session of each shard is the start's, which has its catch-up. A later one
        replaced a session Discord would not resume: the events in between are not replayed,
        so it gets a catch-up too, after the one still running, if any."""
        if shard not in self._sessions_ready:
            self._sessions_ready.add(shard)
            return
        log.info("Discord: a new gateway session (shard %s); catching up", shard)
        self.catching_up = asyncio.create_task(self._catch_up_after(self.catching_up),
                                               name="discord-catch-up")

    async def _catch_up_after(self, previous: asyncio.Task[CatchUpReport] | None
                              ) -> CatchUpReport:
        if previous is not None:
            try:
                await asyncio.wait([previous])
            except asyncio.CancelledError:
                previous.cancel()
                await asyncio.wait([previous])
                raise
        return await self.catch_up.run()

    async def wait_until_ready(self) -> None:
        await self.client.wait_until_ready()

    async def stop(self) -> None:
        self.client.on_session = None
        if self.catching_up is not None:
            # What it handled so far is recorded or marked; the next start reads on from there.
            self.catching_up.cancel()
            await asyncio.wait([self.catching_up])
            self.catching_up = None
        await self.client.close()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # already logged by _log_exit
                pass
            self._task = None


def _log_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Discord gateway connection stopped", exc_info=task.exception())


def create_discord_adapter(core: Core) -> DiscordAdapter:
    settings = core.settings
    if settings.discord_bot_token is None:
        raise ValueError("DISCORD_BOT_TOKEN is not set")
    return DiscordAdapter(
        core.desk, core.config, settings.discord_bot_token.get_secret_value(),
        shards=DiscordSettings(), api_url=settings.discord_api_url,
        gateway_url=settings.discord_gateway_url,
    )
