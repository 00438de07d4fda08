"""A local fake of Discord's REST API, gateway and CDN that the real discord.py client runs against.

The Discord adapter's end-to-end tests start one `FakeDiscord` on 127.0.0.1, point discord.py at
it with `fake.patch_client()`, log a real `discord.Client` in, and then play the platform's part:
dispatch gateway events (slash commands, modal submits, button clicks, messages in threads) and
inspect what the bot sent back over REST (interaction callbacks, follow-ups, messages, threads).

Payload shapes follow Discord's API v10 documentation and what discord.py 2.7.1 parses
(`discord/state.py`, `interactions.py`, `ui/modal.py`, `ui/label.py`, `ui/file_upload.py`).
Everything is held in memory; nothing leaves 127.0.0.1.

How discord.py reacts to the faults this fake can inject (read from `discord/http.py` and
`discord/webhook/async_.py`; the outbox relies on it):

* 429: discord.py sleeps the body's `retry_after` (seconds, float) and retries by itself, up to 5
  attempts per call; the caller only sees the successful answer. After 5 consecutive 429s it raises
  `discord.HTTPException` (status 429). A `retry_after` above the client's
  `max_ratelimit_timeout` (if set, min 30 s) raises `discord.RateLimited` at once instead. A 429
  without a `Via` header is taken for a Cloudflare ban and raised as `HTTPException` at once, so the
  fake always sends `Via`. `"global": true` blocks every request of the client while it sleeps.
* 5xx: the bot client retries 500, 502, 504 and 524 after sleeping 1, 3, 5, 7 and 9 s (five
  attempts, about 25 s in all), then raises `discord.DiscordServerError`; any other 5xx (503) raises
  `DiscordServerError` at once. Interaction callbacks and follow-up webhooks retry every 5xx the
  same way.
* A dropped connection surfaces as `aiohttp.ServerDisconnectedError` (an `aiohttp.ClientError`,
  not a `discord.HTTPException`); discord.py does not retry it.
* A hang is not bounded by discord.py: REST calls only end by aiohttp's default 300 s total
  timeout, so callers must put their own `asyncio.timeout` around calls that may hang.
* A message sent with a `nonce` and `enforce_nonce` (discord.py sets it whenever a nonce is
  given) is created once per channel and nonce; sending it again answers the first message, as
  Discord does within its nonce window (the fake keeps them for its lifetime).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web
from multidict import CIMultiDict

JSON = dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway opcodes.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Gateway intents the fake honours when it echoes or delivers messages.
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Interaction types and interaction callback types.
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9

# Component types.
COMPONENT_ACTION_ROW = 1
COMPONENT_BUTTON = 2
COMPONENT_TEXT_INPUT = 4
COMPONENT_LABEL = 18
COMPONENT_FILE_UPLOAD = 19

# Channel types.
CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_CATEGORY = 4
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12

MESSAGE_FLAG_EPHEMERAL = 1 << 6
CUSTOM_ID_MAX = 100  # Discord refuses a longer custom_id on a modal or a component
MESSAGE_FLAG_LOADING = 1 << 7

# Everything a bot could need; the fake does not check permissions.
ALL_PERMISSIONS = str((1 << 51) - 1)
EVERYONE_PERMISSIONS = "2248473465835073"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # discord.py only decodes JSON when Content-Type is exactly "application/json" (no charset).
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, message: str, code: int = 0) -> web.Response:
    return _json_response({"message": message, "code": code}, status=status)


def _no_content() -> web.Response:
    return web.Response(status=204)


_GATEWAY_ONLY_FIELDS = ("guild_id", "member")


def _as_listed(message: JSON) -> JSON:
    """A message as REST returns it: without the fields only gateway events carry."""
    listed = {k: v for k, v in message.items() if k not in _GATEWAY_ONLY_FIELDS}
    referenced = listed.get("referenced_message")
    if isinstance(referenced, dict):
        listed["referenced_message"] = {
            k: v for k, v in referenced.items() if k not in _GATEWAY_ONLY_FIELDS
        }
    return listed


class _Snowflakes:
    """Increasing Discord snowflakes whose timestamps are the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


@dataclass
class UploadedFile:
    """A file part of a multipart request (`files[n]`)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One HTTP request the fake received; `path` is relative to /api/v10 (CDN paths start /cdn)."""

    method: str
    path: str
    json: Any
    files: list[UploadedFile]
    headers: CIMultiDict[str]
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None while being answered (hanging) or if the fake dropped it

    def __repr__(self) -> str:
        return f"Call({self.method} {self.path} -> {self.status})"


@dataclass
class Fault:
    """An injected failure for the next `times` requests matching `method` and `path_contains`."""

    method: str
    path_contains: str
    kind: Literal["status", "hang", "drop", "drop_after"]
    status: int = 0
    retry_after: float = 0.0
    global_: bool = False
    times: int = 1
    hits: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.hits < self.times and method == self.method.upper() and self.path_contains in path
        )

    def release(self) -> None:
        """Let hanging requests go on to their normal answer."""
        self._released.set()


@dataclass
class SentInteraction:
    """An INTERACTION_CREATE the fake dispatched, and what the bot has done with it so far."""

    id: int
    token: str
    type: int
    payload: JSON
    channel_id: int | None
    message_id: int | None = None  # the message a component sat on
    responded: bool = False
    original_message_id: int | None = None


@dataclass
class InteractionCallback:
    """The bot's answer to an interaction (`POST /interactions/{id}/{token}/callback`)."""

    interaction: SentInteraction
    type: int
    data: JSON
    files: list[UploadedFile]

    @property
    def modal_custom_id(self) -> str:
        """The custom_id of the modal this callback opened (type 9 only)."""
        assert self.type == CALLBACK_MODAL, f"callback type {self.type} is not a modal"
        return str(self.data["custom_id"])


@dataclass
class SentMessage:
    """A message the bot created: the stored Discord message, what was sent, and its edits."""

    message: JSON
    request: JSON  # the JSON body or payload_json, including allowed_mentions
    files: list[UploadedFile]
    edits: list[JSON] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.message["id"])


@dataclass
class _GatewaySession:
    session_id: str
    shard: tuple[int, int] | None
    intents: int
    ws: web.WebSocketResponse | None
    seq: int = 0
    frames: list[JSON] = field(default_factory=list)  # dispatches, kept for RESUME replay
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Guild:
    id: int
    name: str
    owner_id: int
    channels: dict[int, JSON]
    threads: dict[int, JSON]
    roles: list[JSON]
    members: dict[int, JSON]
    thread_members: dict[int, set[int]] = field(default_factory=dict)


@dataclass
class _Stored:
    """A CDN object."""

    data: bytes
    content_type: str


_CALL = web.RequestKey("call", Call)


class _Dropped(Exception):
    """Raised inside the fake once it has closed a request's connection on purpose."""


class FakeDiscord:
    """Discord's REST API (/api/v10), gateway websocket and CDN, served on 127.0.0.1.

    Use as ``async with FakeDiscord() as fake, fake.patch_client():``; then log a real client in
    with ``fake.token``, ``await fake.wait_ready()``, dispatch events and inspect ``fake.calls()``.
    Every guild added with `add_guild` contains the bot and ``fake.customer`` as members.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "Helpline",
        heartbeat_interval_ms: int = 41_250,
        echo_bot_messages: bool = True,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Real Discord sends the bot its own channel messages over the gateway too.
        self.echo_bot_messages = echo_bot_messages
        self._ids = _Snowflakes()
        self._users: dict[int, JSON] = {}
        self.bot_user: JSON = self.new_user(bot_name, bot=True)
        self.application_id: int = int(self.bot_user["id"])
        self.owner: JSON = self.new_user("owner")
        self.customer: JSON = self.new_user("customer")

        self._guilds: dict[int, _Guild] = {}
        self._dm_channels: dict[int, JSON] = {}
        self._messages: dict[int, JSON] = {}
        self._sent: dict[int, SentMessage] = {}
        self._cdn: dict[str, _Stored] = {}
        self._commands: dict[int | None, list[JSON]] = {}
        self._interactions: dict[str, SentInteraction] = {}
        # (channel id, nonce) -> id of the message created with `enforce_nonce`
        self._nonces: dict[tuple[int, str], int] = {}

        self.call_log: list[Call] = []
        self.callbacks: list[InteractionCallback] = []
        self.identifies: list[JSON] = []
        self.gateway_frames: list[JSON] = []  # every frame the client sent, heartbeats included
        self.gateway_connections: list[str] = []  # the path of each websocket connection
        self._faults: list[Fault] = []
        self._sessions: dict[str, _GatewaySession] = {}
        self._current: dict[int, _GatewaySession] = {}  # shard id (0 when unsharded) -> session
        self._sockets: set[web.WebSocketResponse] = set()

        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Release hanging requests, close gateway sockets and stop serving."""
        for fault in self._faults:
            fault.release()
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        """What `discord.http.Route.BASE` must be set to."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """Handed out in READY; discord.py RESUMEs here, so tests can tell resumes apart."""
        return f"ws://127.0.0.1:{self.port}/gateway-resume"

    @contextlib.contextmanager
    def patch_client(self) -> Iterator[None]:
        """Point discord.py (REST, webhooks, interaction callbacks, gateway) at this fake.

        These are process-wide class attributes, so only one fake can be patched in at a time.
        """
        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.rest_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # ----------------------------------------------------------------- world building

    def new_id(self) -> int:
        """A fresh snowflake, larger than every one handed out before."""
        return self._ids.next()

    def new_user(self, username: str, *, bot: bool = False, user_id: int | None = None) -> JSON:
        """A user object; pass it to `add_guild(members=...)` to make it a member."""
        user: JSON = {
            "id": str(user_id or self.new_id()),
            "username": username,
            "discriminator": "0",
            "global_name": None if bot else username.title(),
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
            "flags": 0,
            "bot": bot,
        }
        self._users[int(user["id"])] = user
        return user

    def add_guild(
        self,
        guild_id: int | None = None,
        *,
        name: str = "Helpline Test Guild",
        channels: Sequence[JSON] = ({"name": "general"}, {"name": "support"}),
        roles: Sequence[JSON] = (),
        members: Sequence[JSON] = (),
    ) -> JSON:
        """Add a guild that the bot receives in GUILD_CREATE when it identifies.

        `channels` are partial channel objects (`name` required; `type` defaults to text, `id`
        is generated); `roles` are partial roles (`name`, optional `id`, `permissions`);
        `members` are user objects or member objects (`{"user": ..., "roles": [...]}`).
        The @everyone role, the bot and `fake.customer` are always added. Returns the
        GUILD_CREATE payload (channels carry their generated ids).
        """
        gid = guild_id or self.new_id()
        everyone = self._role({"id": gid, "name": "@everyone", "permissions": EVERYONE_PERMISSIONS})
        guild = _Guild(
            id=gid,
            name=name,
            owner_id=int(self.owner["id"]),
            channels={},
            threads={},
            roles=[everyone, *(self._role(r, position=i + 1) for i, r in enumerate(roles))],
            members={},
        )
        self._guilds[gid] = guild
        for position, partial in enumerate(channels):
            channel = self._channel(gid, partial, position)
            guild.channels[int(channel["id"])] = channel
        for entry in (self.bot_user, self.customer, *members):
            member = self._member(entry)
            guild.members[int(member["user"]["id"])] = member
        return self.guild_payload(gid)

    @property
    def guild_ids(self) -> list[int]:
        """Ids of the guilds added, in order."""
        return list(self._guilds)

    def channel_id(self, name: str, guild_id: int | None = None) -> int:
        """The id of a guild channel or thread by name."""
        guild = self._guild(guild_id)
        for channel in (*guild.channels.values(), *guild.threads.values()):
            if channel["name"] == name:
                return int(channel["id"])
        raise KeyError(f"no channel named {name!r} in guild {guild.id}")

    def channel(self, channel_id: int) -> JSON:
        """The current channel object (text channel, thread or DM)."""
        found = self._find_channel(channel_id)
        if found is None:
            raise KeyError(f"unknown channel {channel_id}")
        return found

    def threads(self, guild_id: int | None = None) -> list[JSON]:
        """Threads created in a guild, oldest first."""
        return list(self._guild(guild_id).threads.values())

    def thread_members(self, thread_id: int) -> set[int]:
        """User ids added to a thread (the bot is added when it creates the thread)."""
        for guild in self._guilds.values():
            if thread_id in guild.thread_members:
                return set(guild.thread_members[thread_id])
        raise KeyError(f"unknown thread {thread_id}")

    def guild_payload(self, guild_id: int) -> JSON:
        """The GUILD_CREATE payload for a guild, as Discord sends it after READY."""
        guild = self._guilds[guild_id]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "features": [],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "application_id": None,
            "max_members": 500_000,
            "joined_at": _now_iso(),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "roles": guild.roles,
            "emojis": [],
            "stickers": [],
            "channels": list(guild.channels.values()),
            "threads": list(guild.threads.values()),
            "members": list(guild.members.values()),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        ephemeral: bool = False,
    ) -> JSON:
        """Store bytes on the fake CDN and return the attachment object that points at them.

        Pass the result to `slash_command(options=...)`, `submit_modal(values=...)` or
        `message_create(attachments=...)`. Interaction uploads are `ephemeral` on Discord.
        """
        attachment_id = self.new_id()
        content_type = (
            content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        channel_part = channel_id or 0
        key = f"{channel_part}/{attachment_id}/{filename}"
        self._cdn[key] = _Stored(data=data, content_type=content_type)
        issued = int(time.time())
        # Discord's CDN links are signed and expire (ex = expiry, is = issued, hm = signature).
        signature = hashlib.sha256(f"{key}:{issued}".encode()).hexdigest()
        query = f"ex={issued + 86400:x}&is={issued:x}&hm={signature}&"
        attachment: JSON = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/cdn/attachments/{key}?{query}",
            "proxy_url": f"{self.base_url}/cdn/media/attachments/{key}?{query}",
            "content_type": content_type,
        }
        if ephemeral:
            attachment["ephemeral"] = True
        return attachment

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Application commands registered globally (None) or for one guild."""
        return list(self._commands.get(guild_id, []))

    def message(self, message_id: int) -> JSON:
        """A stored message (sent by the bot or dispatched by the test), as it is now."""
        return self._messages[message_id]

    def sent_messages(self, channel_id: int | None = None) -> list[SentMessage]:
        """Messages the bot created (channel messages and interaction responses), oldest first."""
        return [
            sent
            for sent in self._sent.values()
            if channel_id is None or int(sent.message["channel_id"]) == channel_id
        ]

    def cdn_bytes(self, url: str) -> bytes:
        """The bytes behind a CDN url the fake handed out (e.g. a file the bot uploaded)."""
        path = yarl.URL(url).path
        for prefix in ("/cdn/media/attachments/", "/cdn/attachments/"):
            if path.startswith(prefix):
                return self._cdn[path[len(prefix) :]].data
        raise KeyError(url)

    # ----------------------------------------------------------------- call log and waiting

    def calls(self, method: str | None = None, path_contains: str | None = None) -> list[Call]:
        """Recorded REST/CDN requests, oldest first, optionally filtered."""
        return [
            call
            for call in self.call_log
            if (method is None or call.method == method.upper())
            and (path_contains is None or path_contains in call.path)
        ]

    async def wait_for(
        self,
        predicate_or_path: Callable[[Call], bool] | str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test, listing the calls
        *,
        method: str | None = None,
        answered: bool = True,
    ) -> list[Call]:
        """Wait until `count` recorded calls match, and return them.

        A string matches calls whose path contains it. With `answered` (the default) only calls
        that got a 2xx answer count, so a 429 that discord.py retried counts once; pass
        `answered=False` to count every attempt, including ones still hanging.
        """

        def matching() -> list[Call]:
            found = []
            for call in self.call_log:
                if method is not None and call.method != method.upper():
                    continue
                if isinstance(predicate_or_path, str):
                    if predicate_or_path not in call.path:
                        continue
                elif not predicate_or_path(call):
                    continue
                if answered and not (call.status is not None and 200 <= call.status < 300):
                    continue
                found.append(call)
            return found

        what = predicate_or_path if isinstance(predicate_or_path, str) else "predicate"
        await self._wait_until(
            lambda: len(matching()) >= count,
            timeout,
            lambda: (
                f"{count} call(s) matching {what!r} (method={method}); calls seen: "
                + ", ".join(repr(c) for c in self.call_log)
            ),
        )
        return matching()

    async def wait_callback(
        self,
        interaction: SentInteraction,
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test with what was seen
    ) -> InteractionCallback:
        """Wait for the bot's callback to an interaction."""

        def find() -> InteractionCallback | None:
            return next((cb for cb in self.callbacks if cb.interaction is interaction), None)

        await self._wait_until(
            lambda: find() is not None,
            timeout,
            lambda: (
                f"a callback to interaction {interaction.id}; calls seen: "
                + ", ".join(repr(c) for c in self.call_log)
            ),
        )
        found = find()
        assert found is not None
        return found

    async def wait_ready(
        self,
        shards: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - on expiry it fails the test with what was seen
    ) -> None:
        """Wait until `shards` gateway sessions have identified and received READY and guilds.

        discord.py fires `on_ready` `guild_ready_timeout` seconds after the last GUILD_CREATE;
        use `client.wait_until_ready()` for that.
        """
        await self._wait_until(
            lambda: len(self._current) >= shards,
            timeout,
            lambda: f"{shards} identified session(s); identifies seen: {self.identifies}",
        )

    async def wait_until(
        self,
        check: Callable[[], bool],
        what: str = "a condition",
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test, saying what
    ) -> None:
        """Wait until `check()` holds; it is re-evaluated after every request the fake sees."""
        await self._wait_until(check, timeout, lambda: f"{what}; calls seen: {self.call_log}")

    async def wait_sent(
        self,
        predicate: Callable[[SentMessage], bool],
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test, saying what
    ) -> list[SentMessage]:
        """Wait until `count` messages the bot created match `predicate`; returns them all."""

        def found() -> list[SentMessage]:
            return [s for s in self._sent.values() if predicate(s)]

        await self._wait_until(
            lambda: len(found()) >= count,
            timeout,
            lambda: f"{count} sent message(s) matching; sent so far: "
            + ", ".join(repr(s.message.get("content", "")[:60]) for s in self._sent.values()),
        )
        return found()

    def original_response(self, interaction: SentInteraction) -> JSON | None:
        """The message that answers an interaction (after a deferral: once filled in)."""
        if interaction.original_message_id is None:
            return None
        return self._messages.get(interaction.original_message_id)

    async def wait_response(
        self,
        interaction: SentInteraction,
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test, saying what
    ) -> JSON:
        """Wait for the message that answers an interaction: sent at once, or deferred and
        then completed by the first follow-up (or edited in place for a component)."""

        def ready() -> bool:
            message = self.original_response(interaction)
            if message is None:
                return False
            if message["flags"] & MESSAGE_FLAG_LOADING:
                return False
            callback = next((c for c in self.callbacks if c.interaction is interaction), None)
            if callback is not None and callback.type == CALLBACK_DEFERRED_UPDATE_MESSAGE:
                # Deferred update: done once the message has been edited after the click.
                return any(
                    c.method == "PATCH" and interaction.token in c.path and c.status == 200
                    for c in self.call_log
                )
            return True

        await self._wait_until(
            ready, timeout, lambda: f"the response to interaction {interaction.id}; calls seen: "
            + ", ".join(repr(c) for c in self.call_log)
        )
        message = self.original_response(interaction)
        assert message is not None
        return message

    def member_payload(self, user: JSON, roles: Sequence[int | str] = ()) -> JSON:
        """A member object for `add_guild(members=...)`: `user` holding `roles`."""
        return {"user": user, "roles": [str(r) for r in roles]}

    async def wait_gateway_op(
        self,
        op: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - on expiry it fails the test with what was seen
    ) -> list[JSON]:
        """Wait until the client has sent `count` gateway frames with opcode `op`."""

        def frames() -> list[JSON]:
            return [f for f in self.gateway_frames if f.get("op") == op]

        await self._wait_until(
            lambda: len(frames()) >= count,
            timeout,
            lambda: (
                f"{count} op {op} frame(s); ops seen: {[f.get('op') for f in self.gateway_frames]}"
            ),
        )
        return frames()

    async def _wait_until(
        self, check: Callable[[], bool], within: float, describe: Callable[[], str]
    ) -> None:
        assert self._changed is not None, "FakeDiscord is not started"
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(f"timed out after {within}s waiting for {describe()}") from None

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        path_contains: str,
        status: int = 429,
        retry_after: float = 0.2,
        times: int = 1,
        global_: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` instead of handling them.

        A 429 carries Discord's body (`message`, `retry_after` in seconds, `global`) and headers
        (`Retry-After` in whole seconds, `X-RateLimit-*`, `Via`); discord.py retries it itself
        (see the module docstring). Other statuses get `{"message", "code": 0}`.
        """
        fault = Fault(method.upper(), path_contains, "status", status, retry_after, global_, times)
        self._faults.append(fault)
        return fault

    def hang_next(self, method: str, path_contains: str, times: int = 1) -> Fault:
        """Hold the next matching requests open until `fault.release()` (or the fake stops);
        then they are answered normally."""
        fault = Fault(method.upper(), path_contains, "hang", times=times)
        self._faults.append(fault)
        return fault

    def drop_next(self, method: str, path_contains: str, times: int = 1) -> Fault:
        """Close the connection of the next matching requests without answering."""
        fault = Fault(method.upper(), path_contains, "drop", times=times)
        self._faults.append(fault)
        return fault

    def drop_after_next(self, method: str, path_contains: str, times: int = 1) -> Fault:
        """Carry out the next matching requests, then close the connection before the answer:
        Discord did the work (a message exists), the client sees a disconnect."""
        fault = Fault(method.upper(), path_contains, "drop_after", times=times)
        self._faults.append(fault)
        return fault

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def _rate_limited(self, fault: Fault) -> web.Response:
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.global_,
        }
        if fault.global_:
            body["code"] = 0
        headers = {
            "Retry-After": str(max(1, math.ceil(fault.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(fault.path_contains.encode()).hexdigest(),
            "X-RateLimit-Scope": "global" if fault.global_ else "user",
            # Without Via, discord.py treats a 429 as a Cloudflare ban and does not retry.
            "Via": "1.1 google",
        }
        if fault.global_:
            headers["X-RateLimit-Global"] = "true"
        return _json_response(body, status=429, headers=headers)

    # ----------------------------------------------------------------- gateway: dispatching

    async def dispatch(self, event: str, data: JSON, *, shard_id: int | None = None) -> int:
        """Send a DISPATCH (op 0) with the next sequence number; returns that number.

        Without `shard_id` the event goes to the shard that owns `data["guild_id"]` (shard 0 for
        events without a guild). If that shard is disconnected, the event is kept and replayed
        when the client RESUMEs.
        """
        session = self._session_for(data, shard_id)
        if session is None:
            raise RuntimeError("no client has identified yet; await fake.wait_ready() first")
        return await self._send_dispatch(session, event, data)

    async def reconnect_gateway(self, shard_id: int = 0) -> None:
        """Ask the client to reconnect (op 7); discord.py then RESUMEs at resume_gateway_url."""
        session = self._current[shard_id]
        assert session.ws is not None, "shard is not connected"
        await session.ws.send_json({"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    def expire_sessions(self) -> None:
        """Forget every gateway session, as Discord does after an outage longer than it keeps
        them: a client that RESUMEs is told its session is invalid (op 9) and IDENTIFYs anew,
        and nothing dispatched in between is replayed to it."""
        self._sessions.clear()

    async def drop_gateway(self, shard_id: int = 0, code: int = 4000) -> None:
        """Close the gateway socket abruptly (close code 4000 lets the client RESUME)."""
        session = self._current[shard_id]
        assert session.ws is not None, "shard is not connected"
        ws, session.ws = session.ws, None
        await ws.close(code=code, message=b"fake dropped the connection")

    def _session_for(self, data: JSON, shard_id: int | None) -> _GatewaySession | None:
        if not self._current:
            return None
        if shard_id is not None:
            return self._current.get(shard_id)
        any_session = next(iter(self._current.values()))
        if any_session.shard is None:
            return self._current.get(0)
        guild_id = data.get("guild_id")
        if guild_id is None:
            return self._current.get(0)
        return self._current.get((int(guild_id) >> 22) % any_session.shard[1])

    async def _send_dispatch(self, session: _GatewaySession, event: str, data: JSON) -> int:
        async with session.lock:
            session.seq += 1
            frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
            session.frames.append(frame)
            if session.ws is not None and not session.ws.closed:
                await session.ws.send_str(json.dumps(frame))
            return session.seq

    async def _broadcast_message_event(self, event: str, message: JSON) -> None:
        """Deliver MESSAGE_CREATE/UPDATE as Discord would: gated by intents, content stripped
        without the MESSAGE_CONTENT intent unless the bot is the author, mentioned, or in a DM."""
        session = self._session_for(message, None)
        if session is None:
            return
        in_guild = "guild_id" in message
        needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
        if not session.intents & needed:
            return
        data = dict(message)
        bot_id = self.bot_user["id"]
        sees_content = (
            session.intents & INTENT_MESSAGE_CONTENT
            or not in_guild
            or data["author"]["id"] == bot_id
            or any(m["id"] == bot_id for m in data.get("mentions", []))
        )
        if not sees_content:
            data.update(content="", embeds=[], attachments=[], components=[])
        await self._send_dispatch(session, event, data)

    # ----------------------------------------------------------------- gateway: the socket

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.gateway_connections.append(request.path)
        session: _GatewaySession | None = None
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await ws.send_json({"op": OP_HELLO, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.gateway_frames.append(frame)
                op, d = frame.get("op"), frame.get("d")
                if op == OP_HEARTBEAT:
                    await ws.send_json({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    session = await self._identify(ws, d)
                elif op == OP_RESUME:
                    session = await self._resume(ws, d)
                elif op == OP_REQUEST_GUILD_MEMBERS and session is not None:
                    await self._members_chunk(session, d)
                await self._notify()
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse, d: JSON) -> _GatewaySession | None:
        self.identifies.append(d)
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        shard = tuple(d["shard"]) if d.get("shard") else None
        session = _GatewaySession(
            session_id=secrets.token_hex(16),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            intents=int(d.get("intents", 0)),
            ws=ws,
        )
        self._sessions[session.session_id] = session
        shard_index = session.shard[0] if session.shard else 0
        guild_ids = [
            gid
            for gid in self._guilds
            if session.shard is None or (gid >> 22) % session.shard[1] == session.shard[0]
        ]
        ready: JSON = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        await self._send_dispatch(session, "READY", ready)
        for gid in guild_ids:
            await self._send_dispatch(session, "GUILD_CREATE", self.guild_payload(gid))
        self._current[shard_index] = session
        return session

    async def _resume(self, ws: web.WebSocketResponse, d: JSON) -> _GatewaySession | None:
        session = self._sessions.get(str(d.get("session_id")))
        if session is None or d.get("token") != self.token:
            await ws.send_json({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        session.ws = ws
        last_seen = int(d.get("seq") or 0)
        async with session.lock:
            for frame in session.frames:
                if frame["s"] > last_seen:
                    await ws.send_str(json.dumps(frame))
        await self._send_dispatch(session, "RESUMED", {"_trace": ["fake-gateway"]})
        return session

    async def _members_chunk(self, session: _GatewaySession, d: JSON) -> None:
        guild = self._guilds.get(int(d["guild_id"]))
        members = list(guild.members.values()) if guild else []
        chunk = {
            "guild_id": str(d["guild_id"]),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ----------------------------------------------------------------- interactions

    async def slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON] = (),
        *,
        subcommand: str | None = None,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        command_guild_id: int | None = None,
    ) -> SentInteraction:
        """Dispatch a chat-input command (INTERACTION_CREATE type 2, command type 1).

        `options` is either a list of raw option objects or a mapping name -> value whose option
        types are inferred: str 3, bool 5, int 4, float 10, an attachment from `add_attachment`
        11 (put into `data.resolved.attachments`). `subcommand` wraps them in a type 1 option.
        `command_guild_id` marks a guild-registered command (`data.guild_id`).
        """
        resolved: JSON = {}
        if isinstance(options, Mapping):
            built = [self._option(key, value, resolved) for key, value in options.items()]
        else:
            built = [dict(option) for option in options]
        if subcommand is not None:
            built = [{"name": subcommand, "type": 1, "options": built}]
        data: JSON = {
            "id": str(self._command_id(name, command_guild_id)),
            "name": name,
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if command_guild_id is not None:
            data["guild_id"] = str(command_guild_id)
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
        )

    async def autocomplete(
        self,
        name: str,
        options: Sequence[JSON],
        *,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> SentInteraction:
        """Dispatch an autocomplete request (INTERACTION_CREATE type 4) while a user types an
        option of command `name`. `options` are raw option objects as for `slash_command`
        (subcommand groups and subcommands nested), the one being typed marked
        `"focused": True`. The bot answers with callback type 8, `data["choices"]`."""
        data: JSON = {
            "id": str(self._command_id(name, None)),
            "name": name,
            "type": 1,
            "options": [dict(option) for option in options],
        }
        return await self._interaction(
            INTERACTION_AUTOCOMPLETE, data, user=user, guild_id=guild_id, channel_id=channel_id
        )

    async def message_context(
        self,
        name: str,
        target: JSON,
        *,
        user: JSON | None = None,
        guild_id: int | None = None,
    ) -> SentInteraction:
        """Dispatch a message context-menu command (type 2, command type 3) on `target`."""
        data: JSON = {
            "id": str(self._command_id(name, None)),
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        return await self._interaction(
            INTERACTION_APPLICATION_COMMAND,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=int(target["channel_id"]),
        )

    async def component(
        self,
        custom_id: str,
        message: JSON,
        *,
        component_type: int = COMPONENT_BUTTON,
        values: Sequence[str] | None = None,
        user: JSON | None = None,
    ) -> SentInteraction:
        """Dispatch a click on a message component (INTERACTION_CREATE type 3).

        `message` is the message the component is on, e.g. `sent_messages()[-1].message`;
        discord.py finds the view by that message's id. `values` is for select menus.
        """
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        guild_id = int(message["guild_id"]) if message.get("guild_id") else None
        return await self._interaction(
            INTERACTION_MESSAGE_COMPONENT,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=int(message["channel_id"]),
            message=message,
        )

    async def modal_submit(
        self,
        custom_id: str,
        components: Sequence[JSON],
        *,
        resolved: JSON | None = None,
        user: JSON | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        message: JSON | None = None,
    ) -> SentInteraction:
        """Dispatch a modal submit (INTERACTION_CREATE type 5) with raw submitted components.

        Discord's shape, as discord.py 2.7 parses it: top-level Labels (type 18) each wrapping one
        `component`: a TextInput `{"type": 4, "custom_id", "value"}` or a FileUpload
        `{"type": 19, "custom_id", "values": [attachment ids as strings]}` whose attachments are
        in `resolved["attachments"]` keyed by the same string ids. `submit_modal` builds this.
        """
        data: JSON = {"custom_id": custom_id, "components": list(components)}
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            message=message,
        )

    async def submit_modal(
        self,
        modal: InteractionCallback,
        values: Mapping[str, str | Sequence[str] | Sequence[JSON]],
        *,
        user: JSON | None = None,
    ) -> SentInteraction:
        """Submit a modal the bot opened, filling inputs by custom_id.

        Mirrors the modal's structure as Discord does (Labels, legacy action rows, component
        ids). Text inputs take a string (missing ones submit ""); file uploads take attachment
        objects from `add_attachment`; selects take a list of option values.
        """
        resolved: JSON = {}
        numbering = itertools.count(1)
        components = [
            self._submitted(c, values, resolved, numbering) for c in modal.data["components"]
        ]
        source = modal.interaction
        return await self.modal_submit(
            modal.modal_custom_id,
            components,
            resolved=resolved or None,
            user=user or source.payload.get("member", {}).get("user") or source.payload.get("user"),
            guild_id=int(source.payload["guild_id"]) if "guild_id" in source.payload else None,
            channel_id=source.channel_id,
            message=source.payload.get("message"),
        )

    def _submitted(
        self,
        component: JSON,
        values: Mapping[str, str | Sequence[str] | Sequence[JSON]],
        resolved: JSON,
        numbering: Iterator[int],
    ) -> JSON:
        kind = component["type"]
        # Discord numbers components the bot left without an id, and echoes ids back.
        out: JSON = {"type": kind, "id": component.get("id") or next(numbering)}
        if kind == COMPONENT_ACTION_ROW:
            out["components"] = [
                self._submitted(c, values, resolved, numbering) for c in component["components"]
            ]
        elif kind == COMPONENT_LABEL:
            out["component"] = self._submitted(component["component"], values, resolved, numbering)
        elif kind == COMPONENT_TEXT_INPUT:
            out["custom_id"] = component["custom_id"]
            out["value"] = values.get(component["custom_id"], "")
        elif kind == COMPONENT_FILE_UPLOAD:
            attachments = values.get(component["custom_id"], [])
            out["custom_id"] = component["custom_id"]
            out["values"] = []
            for attachment in attachments:
                assert isinstance(attachment, dict), "file uploads take attachment objects"
                out["values"].append(attachment["id"])
                resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        elif "custom_id" in component:  # selects
            out["custom_id"] = component["custom_id"]
            out["values"] = list(values.get(component["custom_id"], []))
        return out

    def _option(self, name: str, value: Any, resolved: JSON) -> JSON:
        if isinstance(value, dict) and "filename" in value:
            resolved.setdefault("attachments", {})[value["id"]] = value
            return {"name": name, "type": 11, "value": value["id"]}
        if isinstance(value, bool):
            return {"name": name, "type": 5, "value": value}
        if isinstance(value, int):
            return {"name": name, "type": 4, "value": value}
        if isinstance(value, float):
            return {"name": name, "type": 10, "value": value}
        return {"name": name, "type": 3, "value": str(value)}

    def _command_id(self, name: str, guild_id: int | None) -> int:
        for command in self._commands.get(guild_id, []):
            if command["name"] == name:
                return int(command["id"])
        return self.new_id()

    async def _interaction(
        self,
        kind: int,
        data: JSON,
        *,
        user: JSON | None,
        guild_id: int | None,
        channel_id: int | None,
        message: JSON | None = None,
    ) -> SentInteraction:
        user = user or self.customer
        if guild_id is None and channel_id is None and self._guilds:
            guild_id = next(iter(self._guilds))
        channel: JSON | None
        if channel_id is None and guild_id is not None:
            channel = next(
                c for c in self._guilds[guild_id].channels.values() if c["type"] == CHANNEL_TEXT
            )
        else:
            assert channel_id is not None, "add a guild or pass channel_id"
            channel = self._find_channel(channel_id)
            assert channel is not None, f"unknown channel {channel_id}"
        if guild_id is None and channel.get("guild_id"):
            guild_id = int(channel["guild_id"])
        interaction_id = self.new_id()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "channel": channel,
            "channel_id": channel["id"],
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild_id is not None:
            guild = self._guilds[guild_id]
            member = guild.members.get(int(user["id"])) or self._member(user)
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**member, "permissions": EVERYONE_PERMISSIONS},
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            payload.update(user=user, authorizing_integration_owners={"1": user["id"]}, context=1)
        if message is not None:
            payload["message"] = message
        record = SentInteraction(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            channel_id=int(channel["id"]),
            message_id=int(message["id"]) if message else None,
        )
        self._interactions[token] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    # ----------------------------------------------------------------- messages from users

    async def message_create(
        self,
        channel_id: int,
        content: str,
        *,
        author: JSON | None = None,
        attachments: Sequence[JSON] = (),
        mentions: Sequence[JSON] = (),
        reply_to: JSON | None = None,
    ) -> JSON:
        """A user posts a message: stored, then dispatched as MESSAGE_CREATE (intents apply).

        `reply_to` makes it a reply (Discord's "Reply") to that message."""
        message = self.add_message(
            channel_id, content, author=author, attachments=attachments, mentions=mentions,
            reply_to=reply_to,
        )
        await self._broadcast_message_event("MESSAGE_CREATE", message)
        return message

    def add_message(
        self,
        channel_id: int,
        content: str,
        *,
        author: JSON | None = None,
        attachments: Sequence[JSON] = (),
        mentions: Sequence[JSON] = (),
        reply_to: JSON | None = None,
        message_type: int | None = None,
    ) -> JSON:
        """A user posts a message while no client listens (the bot is down): it is stored, and
        readable with GET /channels/{id}/messages, but no MESSAGE_CREATE is dispatched.

        Same arguments as `message_create`; `message_type` makes it another type of message
        (e.g. 1, a member added to a thread: a system message)."""
        reference = None
        if reply_to is not None:
            reference = {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            if reply_to.get("guild_id"):
                reference["guild_id"] = reply_to["guild_id"]
        message = self._new_message(
            channel_id,
            author=author or self.customer,
            content=content,
            attachments=list(attachments),
            mentions=list(mentions),
            message_reference=reference,
        )
        if reply_to is not None:
            message["referenced_message"] = self._messages.get(int(reply_to["id"]), reply_to)
        if message_type is not None:
            message["type"] = message_type
        return message

    # ----------------------------------------------------------------- payload builders

    def _role(self, partial: JSON, position: int = 0) -> JSON:
        return {
            "id": str(partial.get("id") or self.new_id()),
            "name": partial["name"],
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": partial.get("position", position),
            "permissions": str(partial.get("permissions", "0")),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _channel(self, guild_id: int, partial: JSON, position: int) -> JSON:
        kind = partial.get("type", CHANNEL_TEXT)
        channel: JSON = {
            "id": str(partial.get("id") or self.new_id()),
            "type": kind,
            "guild_id": str(guild_id),
            "name": partial["name"],
            "position": partial.get("position", position),
            "permission_overwrites": partial.get("permission_overwrites", []),
            "parent_id": str(partial["parent_id"]) if partial.get("parent_id") else None,
            "flags": 0,
        }
        if kind == CHANNEL_TEXT:
            channel.update(
                topic=partial.get("topic"),
                nsfw=False,
                last_message_id=None,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        return channel

    def _member(self, entry: JSON) -> JSON:
        user = entry["user"] if "user" in entry else entry
        self._users[int(user["id"])] = user
        return {
            "user": user,
            "nick": entry.get("nick"),
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in entry.get("roles", [])],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _guild(self, guild_id: int | None) -> _Guild:
        if guild_id is None:
            assert self._guilds, "no guild added"
            return next(iter(self._guilds.values()))
        return self._guilds[guild_id]

    def _find_channel(self, channel_id: int) -> JSON | None:
        for guild in self._guilds.values():
            found = guild.channels.get(channel_id) or guild.threads.get(channel_id)
            if found is not None:
                return found
        return self._dm_channels.get(channel_id)

    def _resolve_mentions(self, content: str, allowed: JSON | None) -> JSON:
        """Who a message pings, given allowed_mentions (absent means Discord's default: all)."""
        parse = ["users", "roles", "everyone"] if allowed is None else allowed.get("parse", [])
        allowed_users = {str(u) for u in (allowed or {}).get("users", [])}
        allowed_roles = {str(r) for r in (allowed or {}).get("roles", [])}
        users = [
            self._users[int(uid)]
            for uid in dict.fromkeys(_MENTION_USER.findall(content))
            if int(uid) in self._users and ("users" in parse or uid in allowed_users)
        ]
        roles = [
            rid
            for rid in dict.fromkeys(_MENTION_ROLE.findall(content))
            if "roles" in parse or rid in allowed_roles
        ]
        everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)
        return {"mentions": users, "mention_roles": roles, "mention_everyone": everyone}

    def _new_message(
        self,
        channel_id: int,
        *,
        author: JSON,
        content: str = "",
        embeds: list[JSON] | None = None,
        components: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        flags: int = 0,
        mentions: list[JSON] | None = None,
        allowed_mentions: JSON | None = None,
        interaction: SentInteraction | None = None,
        message_reference: JSON | None = None,
    ) -> JSON:
        channel = self._find_channel(channel_id)
        message_id = self.new_id()
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "type": 0,
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "pinned": False,
            "embeds": embeds or [],
            "components": components or [],
            "attachments": attachments or [],
            "reactions": [],
            "flags": flags,
            "nonce": None,
        }
        if mentions is not None:
            message.update(mentions=mentions, mention_roles=[], mention_everyone=False)
        else:
            message.update(self._resolve_mentions(content, allowed_mentions))
        if channel is not None and channel.get("guild_id"):
            guild = self._guilds[int(channel["guild_id"])]
            message["guild_id"] = channel["guild_id"]
            member = guild.members.get(int(author["id"]))
            if member is not None:
                message["member"] = {k: v for k, v in member.items() if k != "user"}
            if channel.get("type") in (CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD):
                channel["message_count"] = channel.get("message_count", 0) + 1
                channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
            channel["last_message_id"] = str(message_id)
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            invoker = interaction.payload.get("member", {}).get("user") or interaction.payload.get(
                "user"
            )
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": invoker,
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
            }
            message["type"] = 20 if interaction.type == INTERACTION_APPLICATION_COMMAND else 0
        if message_reference is not None:
            message["message_reference"] = message_reference
            message["type"] = 19
        self._messages[message_id] = message
        return message

    def _attachments_from(
        self, body: JSON, files: list[UploadedFile], channel_id: int
    ) -> list[JSON]:
        """Attachment objects for uploaded files, plus kept existing ones listed in the body."""
        described = {
            str(a.get("id")): a for a in body.get("attachments", []) if isinstance(a, dict)
        }
        result: list[JSON] = []
        for index, upload in enumerate(files):
            content_type = upload.content_type
            if content_type == "application/octet-stream":
                # discord.py always sends octet-stream; Discord detects the real type.
                content_type = mimetypes.guess_type(upload.filename)[0] or content_type
            attachment = self.add_attachment(
                upload.data, upload.filename, content_type, channel_id=channel_id
            )
            meta = described.get(str(index), {})
            if meta.get("description"):
                attachment["description"] = meta["description"]
            result.append(attachment)
        return result

    async def _create_bot_message(
        self,
        channel_id: int,
        body: JSON,
        files: list[UploadedFile],
        *,
        interaction: SentInteraction | None = None,
        extra_flags: int = 0,
    ) -> JSON:
        message = self._new_message(
            channel_id,
            author=self.bot_user,
            content=body.get("content") or "",
            embeds=body.get("embeds"),
            components=body.get("components"),
            attachments=self._attachments_from(body, files, channel_id),
            flags=int(body.get("flags") or 0) | extra_flags,
            allowed_mentions=body.get("allowed_mentions"),
            interaction=interaction,
            message_reference=body.get("message_reference"),
        )
        self._sent[int(message["id"])] = SentMessage(message=message, request=body, files=files)
        if self.echo_bot_messages and not message["flags"] & MESSAGE_FLAG_EPHEMERAL:
            await self._broadcast_message_event("MESSAGE_CREATE", message)
        return message

    async def _edit_bot_message(self, message: JSON, body: JSON, files: list[UploadedFile]) -> JSON:
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ("" if key == "content" else [])
                )
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"]) | (message["flags"] & MESSAGE_FLAG_EPHEMERAL)
        message["flags"] &= ~MESSAGE_FLAG_LOADING
        if "attachments" in body or files:
            kept_ids = {
                str(a.get("id")) for a in body.get("attachments", []) if isinstance(a, dict)
            }
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._attachments_from(
                body, files, int(message["channel_id"])
            )
        if "content" in body:
            message.update(self._resolve_mentions(message["content"], body.get("allowed_mentions")))
        message["edited_timestamp"] = _now_iso()
        sent = self._sent.get(int(message["id"]))
        if sent is not None:
            sent.edits.append(body)
            sent.files.extend(files)
        if self.echo_bot_messages and not message["flags"] & MESSAGE_FLAG_EPHEMERAL:
            await self._broadcast_message_event("MESSAGE_UPDATE", message)
        return message

    # ----------------------------------------------------------------- HTTP plumbing

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        api = API_PREFIX
        r.add_get("/gateway", self._gateway)
        r.add_get("/gateway-resume", self._gateway)
        r.add_get("/cdn/attachments/{key:.+}", self._cdn_get)
        r.add_get("/cdn/media/attachments/{key:.+}", self._cdn_get)
        r.add_get(api + "/gateway", self._get_gateway)
        r.add_get(api + "/gateway/bot", self._get_gateway_bot)
        r.add_get(api + "/users/@me", self._get_me)
        r.add_get(api + "/users/{user_id}", self._get_user)
        r.add_post(api + "/users/@me/channels", self._create_dm)
        r.add_get(api + "/oauth2/applications/@me", self._get_application)
        r.add_get(api + "/applications/@me", self._get_application)
        r.add_post(api + "/interactions/{interaction_id}/{token}/callback", self._callback)
        r.add_post(api + "/webhooks/{app_id}/{token}", self._followup)
        webhook_message = api + "/webhooks/{app_id}/{token}/messages/{message_id}"
        r.add_get(webhook_message, self._webhook_message)
        r.add_patch(webhook_message, self._webhook_message)
        r.add_delete(webhook_message, self._webhook_message)
        r.add_get(api + "/channels/{channel_id}", self._get_channel)
        r.add_patch(api + "/channels/{channel_id}", self._edit_channel)
        r.add_get(api + "/channels/{channel_id}/messages", self._list_messages)
        r.add_post(api + "/channels/{channel_id}/messages", self._post_message)
        message = api + "/channels/{channel_id}/messages/{message_id}"
        r.add_get(message, self._get_message)
        r.add_patch(message, self._edit_message)
        r.add_delete(message, self._delete_message)
        reaction = message + "/reactions/{emoji}/@me"
        r.add_put(reaction, self._add_reaction)
        r.add_delete(reaction, self._remove_reaction)
        r.add_post(api + "/channels/{channel_id}/typing", self._typing)
        r.add_post(api + "/channels/{channel_id}/threads", self._create_thread)
        r.add_post(api + "/channels/{channel_id}/messages/{message_id}/threads",
                   self._create_thread_from_message)
        r.add_put(api + "/channels/{channel_id}/thread-members/{user_id}", self._add_thread_member)
        r.add_delete(
            api + "/channels/{channel_id}/thread-members/{user_id}", self._remove_thread_member
        )
        r.add_get(api + "/guilds/{guild_id}/members/{user_id}", self._get_member)
        for path in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r.add_put(api + path, self._put_commands)
            r.add_get(api + path, self._get_commands)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        elif not path.startswith("/cdn/"):
            return await handler(request)  # the gateway
        call = await self._record(request, path)
        request[_CALL] = call
        await self._notify()
        try:
            response = await self._answer(request, handler, call)
        except _Dropped:
            await self._notify()
            return web.Response()  # the transport is closed: nothing reaches the client
        except web.HTTPException as exc:  # unknown routes and methods
            response = _error(exc.status, f"{exc.status}: {exc.reason}")
        call.status = response.status
        await self._notify()
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        call: Call,
    ) -> web.StreamResponse:
        fault = self._take_fault(call.method, call.path)
        if fault is not None:
            if fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                raise _Dropped
            if fault.kind == "drop_after":
                if self._authorized(call):
                    await handler(request)
                assert request.transport is not None
                request.transport.close()
                raise _Dropped
            if fault.kind == "status":
                if fault.status == 429:
                    return self._rate_limited(fault)
                return _error(fault.status, f"{fault.status}: fake failure")
            await fault._released.wait()
        if not self._authorized(call):
            return _error(401, "401: Unauthorized")
        return await handler(request)

    def _authorized(self, call: Call) -> bool:
        # Interaction callbacks and interaction webhooks are authorized by their token alone.
        if call.path.startswith(("/cdn/", "/interactions/")):
            return True
        if call.path.startswith("/webhooks/") and call.path.count("/") >= 3:
            return True
        return call.headers.get("Authorization") == f"Bot {self.token}"

    async def _record(self, request: web.Request, path: str) -> Call:
        body: Any = None
        files: list[UploadedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader), "nested multipart is not supported"
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append(
                        UploadedFile(
                            field=part.name or "",
                            filename=part.filename or "",
                            content_type=part.headers.get(
                                "Content-Type", "application/octet-stream"
                            ),
                            data=bytes(data),
                        )
                    )
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                body = json.loads(raw)
        call = Call(
            method=request.method,
            path=path,
            json=body,
            files=files,
            headers=CIMultiDict(request.headers),
            query=dict(request.query),
        )
        self.call_log.append(call)
        return call

    @staticmethod
    def _body(request: web.Request) -> JSON:
        call: Call = request[_CALL]
        return call.json if isinstance(call.json, dict) else {}

    # ----------------------------------------------------------------- REST handlers

    async def _cdn_get(self, request: web.Request) -> web.Response:
        stored = self._cdn.get(request.match_info["key"])
        if stored is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=stored.data, content_type=stored.content_type)

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                **self.bot_user,
                "verified": True,
                "mfa_enabled": False,
                "email": None,
                "locale": "en-US",
            }
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self._users.get(int(request.match_info["user_id"]))
        if user is None:
            return _error(404, "Unknown User", 10013)
        return _json_response(user)

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": self.owner,
                "team": None,
                "bot": self.bot_user,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": len(self._guilds),
                "integration_types_config": {"0": {}},
            }
        )

    async def _create_dm(self, request: web.Request) -> web.Response:
        recipient_id = int(self._body(request)["recipient_id"])
        user = self._users.get(recipient_id)
        if user is None:
            return _error(400, "Invalid Recipient(s)", 50033)
        for channel in self._dm_channels.values():
            if channel["recipients"][0]["id"] == user["id"]:
                return _json_response(channel)
        channel = {
            "id": str(self.new_id()),
            "type": CHANNEL_DM,
            "recipients": [user],
            "last_message_id": None,
            "flags": 0,
        }
        self._dm_channels[int(channel["id"])] = channel
        return _json_response(channel)

    async def _callback(self, request: web.Request) -> web.Response:
        call: Call = request[_CALL]
        record = self._interactions.get(request.match_info["token"])
        if record is None or str(record.id) != request.match_info["interaction_id"]:
            return _error(404, "Unknown interaction", 10062)
        if record.responded:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        body = self._body(request)
        kind = int(body["type"])
        data: JSON = body.get("data") or {}
        if kind == CALLBACK_MODAL and not 1 <= len(str(data.get("custom_id") or "")) <= \
                CUSTOM_ID_MAX:
            return _error(400, "Invalid Form Body: custom_id must be 1 to 100 characters", 50035)
        record.responded = True
        self.callbacks.append(InteractionCallback(record, kind, data, call.files))
        callback: JSON = {"id": str(record.id), "type": record.type}
        resource: JSON | None = None
        if kind in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_DEFERRED_CHANNEL_MESSAGE):
            assert record.channel_id is not None
            loading = MESSAGE_FLAG_LOADING if kind == CALLBACK_DEFERRED_CHANNEL_MESSAGE else 0
            content = data if kind == CALLBACK_CHANNEL_MESSAGE else {"flags": data.get("flags", 0)}
            message = await self._create_bot_message(
                record.channel_id, content, call.files, interaction=record, extra_flags=loading
            )
            record.original_message_id = int(message["id"])
            callback.update(
                response_message_id=message["id"],
                response_message_loading=bool(loading),
                response_message_ephemeral=bool(message["flags"] & MESSAGE_FLAG_EPHEMERAL),
            )
            resource = {"type": kind, "message": message}
        elif kind == CALLBACK_UPDATE_MESSAGE and record.message_id in self._messages:
            message = await self._edit_bot_message(
                self._messages[record.message_id], data, call.files
            )
            record.original_message_id = record.message_id
            callback["response_message_id"] = message["id"]
            resource = {"type": kind, "message": message}
        elif kind == CALLBACK_DEFERRED_UPDATE_MESSAGE:
            record.original_message_id = record.message_id
        if call.query.get("with_response") not in ("1", "true", "True"):
            return _no_content()
        answer: JSON = {"interaction": callback}
        if resource is not None:
            answer["resource"] = resource
        return _json_response(answer)

    async def _followup(self, request: web.Request) -> web.Response:
        call: Call = request[_CALL]
        record = self._interactions.get(request.match_info["token"])
        if record is None or request.match_info["app_id"] != str(self.application_id):
            return _error(404, "Unknown Webhook", 10015)
        if not record.responded:
            return _error(404, "Unknown Webhook", 10015)
        body = self._body(request)
        original = self._messages.get(record.original_message_id or 0)
        if original is not None and original["flags"] & MESSAGE_FLAG_LOADING:
            # After a deferred response, Discord turns the first follow-up into the response.
            message = await self._edit_bot_message(original, body, call.files)
        else:
            assert record.channel_id is not None
            message = await self._create_bot_message(
                record.channel_id, body, call.files, interaction=record
            )
        if call.query.get("wait") in ("1", "true", "True"):
            return _json_response(message)
        return _no_content()

    async def _webhook_message(self, request: web.Request) -> web.Response:
        call: Call = request[_CALL]
        record = self._interactions.get(request.match_info["token"])
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        raw_id = request.match_info["message_id"]
        message_id = record.original_message_id if raw_id == "@original" else int(raw_id)
        message = self._messages.get(message_id or 0)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        if request.method == "GET":
            return _json_response(message)
        if request.method == "DELETE":
            del self._messages[int(message["id"])]
            return _no_content()
        return _json_response(
            await self._edit_bot_message(message, self._body(request), call.files)
        )

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self._find_channel(int(request.match_info["channel_id"]))
        if channel is None:
            return _error(404, "Unknown Channel", 10003)
        return _json_response(channel)

    async def _edit_channel(self, request: web.Request) -> web.Response:
        channel = self._find_channel(int(request.match_info["channel_id"]))
        if channel is None:
            return _error(404, "Unknown Channel", 10003)
        body = self._body(request)
        for key in ("name", "topic", "rate_limit_per_user"):
            if key in body:
                channel[key] = body[key]
        if "thread_metadata" in channel:
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in body:
                    channel["thread_metadata"][key] = body[key]
            if "archived" in body:
                channel["thread_metadata"]["archive_timestamp"] = _now_iso()
        event = "THREAD_UPDATE" if "thread_metadata" in channel else "CHANNEL_UPDATE"
        if self._current and "guild_id" in channel:
            await self.dispatch(event, channel)
        return _json_response(channel)

    async def _list_messages(self, request: web.Request) -> web.Response:
        """Get Channel Messages: at most `limit` (1-100, default 50) messages, newest first.
        `before` / `after` / `around` (one at a time) pick the messages just before that id,
        just after it (the oldest ones after it, still newest first: discord.py's history
        pages on from the first one), or around it. Ephemeral messages are not listed, and
        the gateway-only fields (`guild_id`, `member`) are left out, as Discord does."""
        channel_id = request.match_info["channel_id"]
        if self._find_channel(int(channel_id)) is None:
            return _error(404, "Unknown Channel", 10003)
        try:
            limit = int(request.query.get("limit", "50"))
            anchors = {key: int(request.query[key]) for key in ("before", "after", "around")
                       if key in request.query}
        except ValueError:
            return _error(400, "Invalid Form Body", 50035)
        if not 1 <= limit <= 100 or len(anchors) > 1:
            return _error(400, "Invalid Form Body", 50035)
        listed = sorted(
            (m for m in self._messages.values()
             if m["channel_id"] == channel_id and not m["flags"] & MESSAGE_FLAG_EPHEMERAL),
            key=lambda m: int(m["id"]),
        )
        ids = [int(m["id"]) for m in listed]
        if "after" in anchors:
            start = bisect.bisect_right(ids, anchors["after"])
            window = listed[start:start + limit]
        elif "before" in anchors:
            end = bisect.bisect_left(ids, anchors["before"])
            window = listed[max(0, end - limit):end]
        elif "around" in anchors:
            middle = bisect.bisect_left(ids, anchors["around"])
            start = max(0, middle - limit // 2)
            window = listed[start:start + limit]
        else:
            window = listed[-limit:]
        return _json_response([_as_listed(m) for m in reversed(window)])

    async def _post_message(self, request: web.Request) -> web.Response:
        call: Call = request[_CALL]
        channel_id = int(request.match_info["channel_id"])
        if self._find_channel(channel_id) is None:
            return _error(404, "Unknown Channel", 10003)
        body = self._body(request)
        if not (body.get("content") or body.get("embeds") or call.files or body.get("components")):
            return _error(400, "Cannot send an empty message", 50006)
        nonce = body.get("nonce")
        enforced = (channel_id, str(nonce)) if nonce and body.get("enforce_nonce") else None
        if enforced is not None and enforced in self._nonces:
            # Discord: "if another message was created by the same author with the same nonce,
            # that message will be returned and no new message will be created".
            return _json_response(self._messages[self._nonces[enforced]])
        created = await self._create_bot_message(channel_id, body, call.files)
        if enforced is not None:
            self._nonces[enforced] = int(created["id"])
        return _json_response(created)

    def _channel_message(self, request: web.Request) -> JSON | None:
        message = self._messages.get(int(request.match_info["message_id"]))
        if message is None or message["channel_id"] != request.match_info["channel_id"]:
            return None
        return message

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        return _json_response(message)

    async def _edit_message(self, request: web.Request) -> web.Response:
        call: Call = request[_CALL]
        message = self._channel_message(request)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        if message["author"]["id"] != self.bot_user["id"]:
            return _error(403, "Cannot edit a message authored by another user", 50005)
        return _json_response(
            await self._edit_bot_message(message, self._body(request), call.files)
        )

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        del self._messages[int(message["id"])]
        return _no_content()

    async def _add_reaction(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        emoji = request.match_info["emoji"]
        name, _, emoji_id = emoji.partition(":")
        for reaction in message["reactions"]:
            if reaction["emoji"]["name"] == name:
                if not reaction["me"]:
                    reaction["me"] = True
                    reaction["count"] += 1
                break
        else:
            message["reactions"].append(
                {
                    "emoji": {"id": emoji_id or None, "name": name},
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                }
            )
        return _no_content()

    async def _remove_reaction(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        name = request.match_info["emoji"].partition(":")[0]
        for reaction in list(message["reactions"]):
            if reaction["emoji"]["name"] == name and reaction["me"]:
                reaction["me"] = False
                reaction["count"] -= 1
                if reaction["count"] == 0:
                    message["reactions"].remove(reaction)
        return _no_content()

    async def _typing(self, request: web.Request) -> web.Response:
        return _no_content()

    async def _create_thread(self, request: web.Request) -> web.Response:
        parent = self._find_channel(int(request.match_info["channel_id"]))
        if parent is None or "guild_id" not in parent:
            return _error(404, "Unknown Channel", 10003)
        if parent["type"] != CHANNEL_TEXT:
            return _error(400, "Cannot create a thread here", 50024)
        body = self._body(request)
        kind = int(body.get("type") or CHANNEL_PRIVATE_THREAD)
        thread = self._new_thread(parent, self.new_id(), kind, body["name"],
                                  auto_archive=body.get("auto_archive_duration"),
                                  slowmode=body.get("rate_limit_per_user") or 0)
        if kind == CHANNEL_PRIVATE_THREAD:
            thread["thread_metadata"]["invitable"] = bool(body.get("invitable", True))
        await self._thread_created(thread)
        return _json_response(thread, status=201)

    async def _create_thread_from_message(self, request: web.Request) -> web.Response:
        """A public thread started from a message: Discord gives it the message's id, and a
        second attempt on the same message fails with code 160004."""
        parent = self._find_channel(int(request.match_info["channel_id"]))
        message = self._channel_message(request)
        if parent is None or "guild_id" not in parent or message is None:
            return _error(404, "Unknown Message", 10008)
        guild = self._guilds[int(parent["guild_id"])]
        thread_id = int(message["id"])
        if thread_id in guild.threads:
            return _error(400, "A thread has already been created for this message", 160004)
        body = self._body(request)
        thread = self._new_thread(parent, thread_id, CHANNEL_PUBLIC_THREAD, body["name"],
                                  auto_archive=body.get("auto_archive_duration"))
        message["thread"] = thread
        await self._thread_created(thread)
        return _json_response(thread, status=201)

    def _new_thread(self, parent: JSON, thread_id: int, kind: int, name: str, *,
                    auto_archive: int | None, slowmode: int = 0) -> JSON:
        """A thread channel as Discord returns it on creation, the bot its only member."""
        now = _now_iso()
        return {
            "id": str(thread_id),
            "type": kind,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot_user["id"],
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": slowmode,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive or 4320,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
            "member": {
                "id": str(thread_id),
                "user_id": self.bot_user["id"],
                "join_timestamp": now,
                "flags": 0,
            },
        }

    async def _thread_created(self, thread: JSON) -> None:
        """Register a new thread in its guild and tell a connected client (THREAD_CREATE)."""
        guild = self._guilds[int(thread["guild_id"])]
        guild.threads[int(thread["id"])] = thread
        guild.thread_members[int(thread["id"])] = {int(self.bot_user["id"])}
        if self._current:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})

    async def _add_thread_member(self, request: web.Request) -> web.Response:
        thread_id = int(request.match_info["channel_id"])
        raw_user = request.match_info["user_id"]
        user_id = int(self.bot_user["id"]) if raw_user == "@me" else int(raw_user)
        for guild in self._guilds.values():
            if thread_id in guild.threads:
                if user_id not in guild.members:
                    return _error(404, "Unknown Member", 10007)
                guild.thread_members[thread_id].add(user_id)
                guild.threads[thread_id]["member_count"] = len(guild.thread_members[thread_id])
                return _no_content()
        return _error(404, "Unknown Channel", 10003)

    async def _remove_thread_member(self, request: web.Request) -> web.Response:
        thread_id = int(request.match_info["channel_id"])
        raw_user = request.match_info["user_id"]
        user_id = int(self.bot_user["id"]) if raw_user == "@me" else int(raw_user)
        for guild in self._guilds.values():
            if thread_id in guild.threads:
                guild.thread_members[thread_id].discard(user_id)
                return _no_content()
        return _error(404, "Unknown Channel", 10003)

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self._guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            return _error(404, "Unknown Guild", 10004)
        member = guild.members.get(int(request.match_info["user_id"]))
        if member is None:
            return _error(404, "Unknown Member", 10007)
        return _json_response(member)

    async def _put_commands(self, request: web.Request) -> web.Response:
        if request.match_info["app_id"] != str(self.application_id):
            return _error(403, "Missing Access", 50001)
        raw_guild = request.match_info.get("guild_id")
        guild_id = int(raw_guild) if raw_guild else None
        call: Call = request[_CALL]
        previous = {
            (c["name"], c.get("type", 1)): c["id"] for c in self._commands.get(guild_id, [])
        }
        registered = []
        for command in call.json or []:
            kind = command.get("type", 1)
            echoed: JSON = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": previous.get((command["name"], kind)) or str(self.new_id()),
                "application_id": str(self.application_id),
                "type": kind,
                "version": str(self.new_id()),
            }
            if guild_id is not None:
                echoed["guild_id"] = str(guild_id)
            registered.append(echoed)
        self._commands[guild_id] = registered
        return _json_response(registered)

    async def _get_commands(self, request: web.Request) -> web.Response:
        raw_guild = request.match_info.get("guild_id")
        return _json_response(self.commands(int(raw_guild) if raw_guild else None))


@contextlib.asynccontextmanager
async def running_fake(**options: Any) -> AsyncIterator[FakeDiscord]:
    """Start a FakeDiscord and patch discord.py to use it, for the duration of the block."""
    async with FakeDiscord(**options) as fake:
        with fake.patch_client():
            yield fake
