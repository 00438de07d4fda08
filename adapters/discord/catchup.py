"""Catching up on start: messages written in ticket threads while Helpline was not connected.

Discord's gateway replays missed events only to a session that resumes; a new session (after a
crash, a deploy, or an outage longer than a resume allows) starts with no backlog, and a reply
written meanwhile would never be seen. So once the client is ready, each start reads back the
Discord threads of the tickets that can still take a reply (core's ``threads_to_catch_up``),
from just after the message Helpline recorded last in each (from the thread's start when none
is), and hands every person's message found there to ``DiscordHandlers.thread_message``: the
path a live MESSAGE_CREATE takes, so a customer's reply reaches staff, a staff reply reaches the
customer, a note stays internal and a non-staff remark is refused, exactly as live.

- Once only: core records each message under its key (``discord:GUILD:CHANNEL:MESSAGE``) and
  ignores it a second time, and the handlers take a message up once per process, so one that
  also arrives live is not handled twice. Messages Helpline has marked (✅ delivered, ⚠️ refused
  or not delivered, 🔒 kept internal) are not handed over at all; neither are bots' messages
  (Helpline's own included), webhooks' or system messages (a thread's starter, members added).
- As the gateway would have given them: REST returns a message's author as a user, without the
  member (roles) a gateway event carries, so each author is looked up once as a member of the
  server, for the staff check.
- In order: a thread's messages are read a page at a time (100, the most Discord gives) and
  handled one at a time, oldest first.
- Within Discord's rate limits: discord.py waits out a 429 (Retry-After) and retries by itself;
  what still fails goes through the transport's mapping (``DiscordTransport.rest``): a rate
  limit waits its delay, other transient failures are tried a few times with backoff, and a
  thread that still fails (or is gone, or forbidden) is left for the next start. A few threads
  are read at once, each one request at a time.
- Only this connection's servers: a thread in a server this client does not hold (another
  shard's, or one the bot has left) is left to the process that does.
- In the background: ``DiscordAdapter.start`` does not wait for it, and ``stop`` cancels it;
  what was handled by then is recorded or marked, and the next start reads on from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import discord

from adapters.discord import notes
from adapters.discord.handlers import DiscordHandlers, is_person_message
from adapters.discord.transport import REACTIONS, DiscordTransport
from core.models import Platform
from core.outbound import DeliveryError
from core.service import SupportDesk, ThreadToCatchUp

log = logging.getLogger("helpline.discord")

T = TypeVar("T")

PAGE_SIZE = 100
"""Messages asked for per request: the most Get Channel Messages returns."""
THREADS_AT_ONCE = 4
"""Threads read side by side; within one, requests go one at a time."""
ATTEMPTS = 3
"""Tries of a request that fails for a passing reason other than a rate limit."""
RATE_LIMIT_WAITS = 10
"""Rate limits waited out for one request before its thread is left for the next start."""
BACKOFF_SECONDS = 1.0


def _bare(emoji: str) -> str:
    """An emoji without its presentation selector (⚠️ and ⚠ are one mark)."""
    return emoji.replace("\N{VARIATION SELECTOR-16}", "")


HELPLINE_MARKS = frozenset(_bare(mark) for mark in (*REACTIONS.values(), notes.LOCK))
"""Helpline's reactions on a person's message; any of them means it was handled."""


@dataclass
class CatchUpReport:
    """What one catch-up did: threads read to the end, messages handed to the live path,
    threads left unread (Discord refused or kept failing; read again at the next start), and
    threads of servers this connection does not hold."""

    threads_read: int = 0
    messages_recovered: int = 0
    threads_failed: int = 0
    threads_elsewhere: int = 0


class DiscordCatchUp:
    def __init__(self, desk: SupportDesk, handlers: DiscordHandlers, client: discord.Client,
                 transport: DiscordTransport, *, page_size: int = PAGE_SIZE,
                 backoff: float = BACKOFF_SECONDS) -> None:
        self.desk = desk
        self.handlers = handlers
        self.client = client
        self.transport = transport
        self.page_size = page_size
        self.backoff = backoff

    async def run(self) -> CatchUpReport:
        """Read every thread to catch up and handle what Helpline missed; logs a summary.
        Call it once the client is ready (its servers are known). Failures are logged, never
        raised (only cancellation ends it early)."""
        report = CatchUpReport()
        members: dict[tuple[int, int], discord.Member | None] = {}
        try:
            threads = await self.desk.threads_to_catch_up(Platform.DISCORD)
            gate = asyncio.Semaphore(THREADS_AT_ONCE)

            async def one_thread(item: ThreadToCatchUp) -> None:
                async with gate:
                    try:
                        await self._thread(item, report, members)
                    except Exception:
                        log.exception("Discord catch-up: the %s thread of #%d failed",
                                      item.side, item.ticket_id)
                        report.threads_failed += 1

            await asyncio.gather(*(one_thread(item) for item in threads))
        except Exception:
            log.exception("Discord catch-up failed")
        log.info(
            "Discord catch-up: %d threads read, %d messages recovered, %d threads left unread, "
            "%d threads in servers this connection does not serve",
            report.threads_read, report.messages_recovered, report.threads_failed,
            report.threads_elsewhere,
            extra={"event": "discord_catch_up", "threads_read": report.threads_read,
                   "messages_recovered": report.messages_recovered,
                   "threads_failed": report.threads_failed,
                   "threads_elsewhere": report.threads_elsewhere},
        )
        return report

    async def _thread(self, item: ThreadToCatchUp, report: CatchUpReport,
                      members: dict[tuple[int, int], discord.Member | None]) -> None:
        guild = self.client.get_guild(_snowflake(item.thread.workspace) or 0)
        if guild is None:
            report.threads_elsewhere += 1
            return
        try:
            if guild.unavailable:
                raise DeliveryError(f"server {guild.id} is unavailable")
            thread = await self._thread_channel(guild, item.thread.channel_id)
            after = _snowflake(item.last_recorded) or thread.id
            while True:
                page = await self._request("read the ticket's thread",
                                           partial(_page, thread, after, self.page_size))
                for message in page:
                    if not is_person_message(message) or _marked(message):
                        continue
                    await self._as_member(message, guild, members)
                    await self.handlers.thread_message(message, caught_up=True)
                    report.messages_recovered += 1
                if len(page) < self.page_size:
                    break
                after = page[-1].id
        except DeliveryError as exc:
            log.warning("Discord catch-up: the %s thread of #%d not read: %s", item.side,
                        item.ticket_id, exc.reason)
            report.threads_failed += 1
            return
        report.threads_read += 1

    async def _thread_channel(self, guild: discord.Guild, channel_id: str) -> discord.Thread:
        """The thread, from the cache or (archived threads are not cached) from Discord."""
        thread_id = _snowflake(channel_id)
        if thread_id is None:
            raise DeliveryError(f"{channel_id!r} is not a Discord thread id", permanent=True)
        channel: object = guild.get_channel_or_thread(thread_id)
        if channel is None:
            channel = await self._request("find the ticket's thread",
                                          partial(self.client.fetch_channel, thread_id))
        if not isinstance(channel, discord.Thread):
            raise DeliveryError(f"channel {thread_id} is not a thread", permanent=True)
        return channel

    async def _as_member(self, message: discord.Message, guild: discord.Guild,
                         members: dict[tuple[int, int], discord.Member | None]) -> None:
        """Give a message read over REST its author as the server's member (with roles), as
        a gateway event would; an author who has left the server stays a plain user."""
        if isinstance(message.author, discord.Member):
            return
        key = (guild.id, message.author.id)
        if key not in members:
            members[key] = await self._member(guild, message.author.id)
        member = members[key]
        if member is not None:
            message.author = member

    async def _member(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        try:
            return await self._request("look up the message's author",
                                       partial(guild.fetch_member, user_id))
        except DeliveryError as exc:
            if isinstance(exc.__cause__, discord.NotFound):
                return None
            raise

    async def _request(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One REST call, waiting out rate limits and retrying passing failures with
        backoff; a permanent failure, or too many, is raised as a ``DeliveryError``."""
        failures = rate_limited = 0
        while True:
            try:
                return await self.transport.rest(what, make)
            except DeliveryError as exc:
                if exc.permanent:
                    raise
                if exc.retry_after is not None and rate_limited < RATE_LIMIT_WAITS:
                    rate_limited += 1
                    log.info("Discord catch-up: rate limited, waiting %g s", exc.retry_after)
                    await asyncio.sleep(exc.retry_after)
                    continue
                failures += 1
                if failures >= ATTEMPTS:
                    raise
                await asyncio.sleep(self.backoff * 2 ** (failures - 1))


async def _page(thread: discord.Thread, after: int, limit: int) -> list[discord.Message]:
    """Up to ``limit`` messages just after ``after``, oldest first: one request."""
    return [message async for message in thread.history(
        limit=limit, after=discord.Object(after), oldest_first=True)]


def _marked(message: discord.Message) -> bool:
    """Whether Helpline reacted to the message with one of its marks: then it was handled."""
    return any(reaction.me and _bare(str(reaction.emoji)) in HELPLINE_MARKS
               for reaction in message.reactions)


def _snowflake(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
