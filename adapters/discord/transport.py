"""Core's transport port on Discord: what the outbox worker delivers (customer threads, relays,
staff cards and their threads, card updates, delivery reactions), and how Discord's failures
become ``DeliveryError``s the worker understands.

discord.py already retries 429s (it sleeps Retry-After) and some 5xx by itself; what still
reaches us is mapped: rate limits → retry after the platform's delay, server errors, dropped
connections and timeouts → transient, Forbidden/NotFound/other 4xx → permanent. discord.py puts
no bound on a hanging request, so every REST call here runs under ``asyncio.timeout``.

Every message carries a nonce derived from the outbox key with ``enforce_nonce``, so a send
retried after a timeout is not posted twice, and ``AllowedMentions.none()`` — with one exception:
a staff notice that names an on-call role (``Outbound.ping_group``, config
``oncall.discord_role``) pings that role, and only that role, in that one message.

A *broadcast* notice (a missed response target, an urgent ticket, a burst of similar tickets) is
posted in the ticket's staff thread like any notice, and also as one short line in the thread's
parent channel linking the thread, since a thread's messages reach only the people following
it. The on-call ping goes on that channel line, where the whole staff channel sees it.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import aiohttp
import discord

from adapters.discord import embeds
from adapters.discord.text import (
    THREAD_NAME_LIMIT,
    clip,
    no_mentions,
    nonce_for,
    role_ping,
    split_message,
)
from core.models import Destination, MessageRef, Platform, ThreadRef
from core.outbound import (
    CardPosted,
    DeliveryError,
    Outbound,
    OutboundFile,
    OutboundKind,
    Reaction,
)
from core.views import TicketCard

log = logging.getLogger("helpline.discord.transport")

REACTIONS = {Reaction.DELIVERED: "✅", Reaction.FAILED: "⚠️"}
# A week: the longest a thread stays open without activity before Discord archives it.
AUTO_ARCHIVE_MINUTES: Literal[10080] = 10080
THREAD_ALREADY_CREATED = 160004  # Discord's code: this message already has a thread
BROADCAST_LINE_LIMIT = 300
T = TypeVar("T")


def thread_ref(guild_id: int | str, thread_id: int | str) -> ThreadRef:
    """Discord threads are channels: the thread's id is both channel and thread."""
    return ThreadRef(platform=Platform.DISCORD, workspace=str(guild_id),
                     channel_id=str(thread_id), thread_id=str(thread_id))


def message_ref(guild_id: int | str, channel_id: int | str, message_id: int | str) -> MessageRef:
    return MessageRef(platform=Platform.DISCORD, workspace=str(guild_id),
                      channel_id=str(channel_id), message_id=str(message_id))


def relay_prefix(message: Outbound) -> str:
    """Who is speaking, shown before relayed words."""
    if message.kind is OutboundKind.RELAY:
        who = message.author or "someone"
        return f"**{who}** (support team):\n" if message.author_is_staff else f"**{who}**:\n"
    if message.kind is OutboundKind.NOTICE:
        return "ℹ️ "
    if message.kind is OutboundKind.RATING_REQUEST:
        return "⭐ "
    return ""


def role_to_ping(group: str | None) -> discord.Object | None:
    """The on-call role of a notice, if it names one by id (a role name cannot be pinged)."""
    if not group:
        return None
    if not group.strip().isdigit():
        log.warning("oncall.discord_role %r is not a role id; nobody was pinged", group)
        return None
    return discord.Object(int(group.strip()))


def broadcast_line(message: Outbound, thread_id: str) -> str:
    """The channel's short copy of a broadcast notice: its first line, and the thread."""
    first = message.text.strip().split("\n", 1)[0]
    return f"{clip(first, BROADCAST_LINE_LIMIT)} → <#{thread_id}>"


def ticket_thread_name(message: Outbound) -> str:
    """The customer thread's name: the ticket number and subject. Never the status, which
    changes often while Discord allows two renames per ten minutes."""
    first = message.text.split("\n", 1)[0].strip()
    return clip(first or f"Ticket #{message.ticket_id}", THREAD_NAME_LIMIT)


class DiscordTransport:
    platform = Platform.DISCORD

    def __init__(self, client: discord.Client, *, timeout: float = 30.0) -> None:
        self.client = client
        self.timeout = timeout

    # ---- the port -----------------------------------------------------------------------------

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        """A private thread in the guild's support channel with the customer added, and the
        ticket's first message in it."""
        if not dest.channel_id:
            raise DeliveryError(
                "no support channel is configured for this server "
                "(intake.discord_support_channels)", permanent=True)
        channel = await self._text_channel(dest.channel_id, "open the ticket's private thread")
        name = ticket_thread_name(message)
        existing = _existing_thread(channel, name)
        thread = existing if existing is not None else await self._call(
            f"create a private thread in #{channel.name}",
            lambda: channel.create_thread(
                name=name, type=discord.ChannelType.private_thread, invitable=False,
                auto_archive_duration=AUTO_ARCHIVE_MINUTES,
                reason=f"Helpline ticket #{message.ticket_id}"),
        )
        await self._send(thread, message, file, key)
        if dest.user_id:
            # Last, so the customer finds the ticket's first message waiting for them.
            user = discord.Object(int(dest.user_id))
            await self._call("add the customer to the ticket's thread",
                             lambda: thread.add_user(user))
        return thread_ref(channel.guild.id, thread.id)

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        channel = self.client.get_partial_messageable(
            int(thread.thread_id), guild_id=int(thread.workspace) if thread.workspace else None)
        view = None
        if message.kind is OutboundKind.RATING_REQUEST and message.rating_closing:
            view = embeds.rating_request(message.ticket_id, message.rating_closing)
        role = role_to_ping(message.ping_group)
        broadcast = message.broadcast and message.kind is OutboundKind.NOTICE
        first = await self._send(channel, message, file, key, view=view,
                                 ping=None if broadcast else role)
        if broadcast:
            try:
                await self._broadcast(thread, message, key, role)
            except DeliveryError as exc:
                if not exc.permanent:
                    raise  # retried: the thread's message is not posted twice (its nonce)
                # The notice is in the thread; failing the row would not bring the line back.
                log.error("notice for #%s is in its thread but not in the staff channel: %s",
                          message.ticket_id, exc.reason)
        return message_ref(thread.workspace, thread.thread_id, first.id)

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        """The card in the staff channel, and the thread started from it where staff answer."""
        if not dest.channel_id:
            raise DeliveryError("the staff route names no channel", permanent=True)
        channel = await self._text_channel(dest.channel_id, "post the ticket's card")
        rendered = embeds.card(card)
        sent = await self._call(
            f"post the card in #{channel.name}",
            lambda: channel.send(embeds=rendered.embeds or [],
                                 view=rendered.view or discord.utils.MISSING,
                                 allowed_mentions=no_mentions(), nonce=nonce_for(key)),
        )
        name = clip(f"#{card.id} {card.subject}", THREAD_NAME_LIMIT)
        try:
            async with self._guard("start the card's thread"):
                thread_id = (await sent.create_thread(
                    name=name, auto_archive_duration=AUTO_ARCHIVE_MINUTES)).id
        except DeliveryError as exc:
            # A retry after a lost answer: the thread exists, and has the message's id.
            if getattr(exc.__cause__, "code", None) != THREAD_ALREADY_CREATED:
                raise
            thread_id = sent.id
        return CardPosted(card=message_ref(channel.guild.id, channel.id, sent.id),
                          thread=thread_ref(channel.guild.id, thread_id))

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        """Edit the card in place (status, assignee, category live here)."""
        rendered = embeds.card(card)
        partial = self.client.get_partial_messageable(int(ref.channel_id)).get_partial_message(
            int(ref.message_id))
        await self._call("update the ticket's card",
                         lambda: partial.edit(embeds=rendered.embeds or [], view=rendered.view,
                                              allowed_mentions=no_mentions()))

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        partial = self.client.get_partial_messageable(int(ref.channel_id)).get_partial_message(
            int(ref.message_id))
        await self._call("react to the message", lambda: partial.add_reaction(REACTIONS[reaction]))

    async def rest(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One REST call outside delivery (the catch-up's reads), under the same deadline and
        with its failure raised as the same ``DeliveryError``: permanent, transient, or rate
        limited with the delay to wait."""
        return await self._call(what, make)

    # ---- helpers --------------------------------------------------------------------------------

    async def _send(
        self, channel: discord.abc.Messageable, message: Outbound, file: OutboundFile | None,
        key: str, *, view: discord.ui.View | None = None, ping: discord.Object | None = None,
    ) -> discord.Message:
        """Send text split at 2000 characters; the image, uploaded again from the stored bytes,
        and the buttons go with the last part, a role ping leads the first. Returns the first
        message."""
        prefix = relay_prefix(message)
        if ping is not None:
            prefix = f"<@&{ping.id}> {prefix}"
        parts = split_message(message.text, prefix=prefix)
        first: discord.Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            upload = (discord.File(io.BytesIO(file.data), filename=file.attachment.filename)
                      if last and file is not None else None)
            mentions = role_ping(ping) if ping is not None and index == 0 else no_mentions()
            kwargs: dict[str, Any] = {"allowed_mentions": mentions,
                                      "nonce": nonce_for(key, index)}
            if upload is not None:
                kwargs["file"] = upload
            if last and view is not None:
                kwargs["view"] = view
            sent = await self._call("send a message", _sender(channel, part, kwargs))
            first = first or sent
        assert first is not None
        return first

    async def _broadcast(
        self, thread: ThreadRef, message: Outbound, key: str, ping: discord.Object | None
    ) -> None:
        """The notice's line in the staff channel the thread belongs to."""
        parent_id = await self._parent_of(thread)
        if parent_id is None:
            log.warning("no parent channel for thread %s; notice kept in the thread",
                        thread.thread_id)
            return
        channel = self.client.get_partial_messageable(
            parent_id, guild_id=int(thread.workspace) if thread.workspace else None)
        line = broadcast_line(message, thread.thread_id)
        content = f"<@&{ping.id}> {line}" if ping is not None else line
        mentions = role_ping(ping) if ping is not None else no_mentions()
        await self._call("post the notice in the staff channel",
                         _sender(channel, content, {"allowed_mentions": mentions,
                                                    "nonce": nonce_for(f"{key}#channel")}))

    async def _parent_of(self, thread: ThreadRef) -> int | None:
        channel = self.client.get_channel(int(thread.thread_id))
        if channel is None:
            channel = await self._call("find the ticket's thread",
                                       lambda: self.client.fetch_channel(int(thread.thread_id)))
        return channel.parent_id if isinstance(channel, discord.Thread) else None

    async def _text_channel(self, channel_id: str, purpose: str) -> discord.TextChannel:
        channel = self.client.get_channel(int(channel_id))
        if channel is None:
            fetched = await self._call(f"find channel {channel_id} to {purpose}",
                                       lambda: self.client.fetch_channel(int(channel_id)))
            channel = fetched
        if not isinstance(channel, discord.TextChannel):
            raise DeliveryError(f"channel {channel_id} is not a text channel, so Helpline can't "
                                f"{purpose} there", permanent=True)
        return channel

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        async with self._guard(what):
            return await make()
        raise AssertionError("unreachable")  # pragma: no cover  (the guard re-raises)

    @asynccontextmanager
    async def _guard(self, what: str) -> AsyncIterator[None]:
        """Run a REST call with a deadline and turn its failure into a DeliveryError."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError as exc:
            raise DeliveryError(f"Discord did not answer in time when trying to {what}") from exc
        except discord.RateLimited as exc:
            raise DeliveryError(f"rate limited by Discord when trying to {what}",
                                retry_after=exc.retry_after) from exc
        except discord.Forbidden as exc:
            raise DeliveryError(f"Helpline is not allowed to {what}: {exc.text or exc} "
                                "(check the bot's permissions in that channel)",
                                permanent=True) from exc
        except discord.NotFound as exc:
            raise DeliveryError(f"could not {what}: {exc.text or 'not found'} "
                                "(was it deleted?)", permanent=True) from exc
        except discord.DiscordServerError as exc:
            raise DeliveryError(f"Discord had a server error when trying to {what} "
                                f"({exc.status})") from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise DeliveryError(f"rate limited by Discord when trying to {what}",
                                    retry_after=_retry_after(exc)) from exc
            raise DeliveryError(f"Discord refused to {what}: {exc.text or exc} ({exc.status})",
                                permanent=True) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise DeliveryError(f"lost the connection to Discord when trying to {what}: "
                                f"{exc.__class__.__name__}") from exc


def _sender(
    channel: discord.abc.Messageable, content: str, kwargs: dict[str, Any]
) -> Callable[[], Awaitable[discord.Message]]:
    async def send() -> discord.Message:
        return await channel.send(content, **kwargs)

    return send


def _retry_after(exc: discord.HTTPException) -> float:
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else 5.0
    except ValueError:
        return 5.0


def _existing_thread(channel: discord.TextChannel, name: str) -> discord.Thread | None:
    """A thread this bot already made under that name (a retried open whose answer was lost)."""
    me = channel.guild.me
    for thread in channel.threads:
        if thread.name == name and me is not None and thread.owner_id == me.id:
            return thread
    return None
