"""Slack's implementation of core's Transport port: how the delivery worker posts to Slack.

Every failure becomes a ``DeliveryError`` the outbox understands: a 429 carries Slack's
Retry-After, server errors and network trouble are transient, and answers that will never
change (a channel that does not exist, a bot that was removed) are permanent."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import card_message, outbound_message
from adapters.slack.clients import WorkspaceClients
from adapters.slack.text import BLOCKS_PER_MESSAGE
from core.models import Destination, MessageRef, Platform, ThreadRef
from core.outbound import CardPosted, DeliveryError, Outbound, OutboundFile, Reaction
from core.views import TicketCard

log = logging.getLogger("helpline.slack")

REACTIONS = {Reaction.DELIVERED: "white_check_mark", Reaction.FAILED: "warning"}
DELIVERY_EVENT = "helpline_delivery"

PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
    "user_not_found", "users_not_found", "cannot_dm_bot", "user_disabled", "user_is_bot",
    "message_not_found", "cant_update_message", "edit_window_closed", "no_text",
    "invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments",
    "invalid_arguments", "invalid_auth", "not_authed", "account_inactive", "token_revoked",
    "token_expired", "no_permission", "missing_scope", "restricted_action",
    "ekm_access_denied", "team_access_not_granted", "invalid_name", "bad_timestamp",
    "too_many_reactions", "not_allowed_token_type", "org_login_required",
})
"""Error codes that retrying will not change. Anything else (ratelimited, internal_error,
fatal_error, service_unavailable, request_timeout, unknown codes) is retried."""


def delivery_error(exc: BaseException) -> DeliveryError:
    """Translate whatever slack_sdk/aiohttp raised into the outbox's terms."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        code = str(response.get("error", "")) if response is not None else ""
        if status == 429 or code == "ratelimited":
            return DeliveryError(f"Slack rate limit ({code or 429})", retry_after=_retry_after(exc))
        if status >= 500:
            return DeliveryError(f"Slack answered HTTP {status} ({code or 'server error'})")
        if code in PERMANENT_ERRORS:
            return DeliveryError(f"Slack refused it: {code}", permanent=True)
        return DeliveryError(f"Slack answered {code or status}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeliveryError("Slack did not answer in time")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return DeliveryError(f"could not reach Slack: {exc.__class__.__name__}")
    if isinstance(exc, SlackClientError):
        return DeliveryError(f"Slack client error: {exc}")
    return DeliveryError(f"unexpected error talking to Slack: {exc!r}")


def _retry_after(exc: SlackApiError) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


class SlackTransport:
    """Delivers the outbox's rows to Slack through the Web API."""

    platform = Platform.SLACK

    def __init__(self, clients: WorkspaceClients, *, desk_name: str) -> None:
        self.clients = clients
        self.desk_name = desk_name
        # Steps already done for a multi-call delivery (text posted, file still to upload), so
        # a retry of the same outbox row does not post the text twice. In memory: a restart
        # between the two calls can at worst repeat the text, never lose it.
        self._done: OrderedDict[str, MessageRef] = OrderedDict()

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        try:
            client, team = await self.clients.resolve(dest.workspace)
            channel = dest.channel_id
            if channel is None:
                if not dest.user_id:
                    raise DeliveryError("no channel and no user to message", permanent=True)
                opened = await client.conversations_open(users=dest.user_id)
                channel = str(opened["channel"]["id"])
            ref = await self._post_once(client, team, channel, None, message, key)
            await self._upload(client, channel, ref.message_id, file)
            self._done.pop(key, None)
        except Exception as exc:
            raise delivery_error(exc) from exc
        return ThreadRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                         thread_id=ref.message_id)

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        try:
            client, team = await self.clients.resolve(thread.workspace)
            ref = await self._post_once(client, team, thread.channel_id, thread.thread_id,
                                        message, key)
            await self._upload(client, thread.channel_id, thread.thread_id, file)
            self._done.pop(key, None)
        except Exception as exc:
            raise delivery_error(exc) from exc
        return ref

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        if not dest.channel_id:
            raise DeliveryError("a staff card needs a channel (slack:CHANNEL_ID)", permanent=True)
        text, blocks = card_message(card)
        try:
            client, team = await self.clients.resolve(dest.workspace)
            answer = await client.chat_postMessage(
                channel=dest.channel_id, text=text, blocks=blocks, unfurl_links=False,
                unfurl_media=False)
        except Exception as exc:
            raise delivery_error(exc) from exc
        channel, ts = str(answer["channel"]), str(answer["ts"])
        return CardPosted(
            card=MessageRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                            message_id=ts),
            thread=ThreadRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                             thread_id=ts),
        )

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        text, blocks = card_message(card)
        try:
            client, _ = await self.clients.resolve(ref.workspace)
            await client.chat_update(channel=ref.channel_id, ts=ref.message_id, text=text,
                                     blocks=blocks)
        except Exception as exc:
            raise delivery_error(exc) from exc

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        try:
            client, _ = await self.clients.resolve(ref.workspace)
            await client.reactions_add(channel=ref.channel_id, timestamp=ref.message_id,
                                       name=REACTIONS[reaction])
        except SlackApiError as exc:
            if exc.response.get("error") == "already_reacted":
                return
            raise delivery_error(exc) from exc
        except Exception as exc:
            raise delivery_error(exc) from exc

    async def find_delivered(self, thread: ThreadRef, key: str) -> MessageRef | None:
        """The message an earlier, interrupted delivery of ``key`` posted, if it got through."""
        try:
            client, team = await self.clients.resolve(thread.workspace)
            cursor: str | None = None
            while True:
                answer = await client.conversations_replies(
                    channel=thread.channel_id, ts=thread.thread_id, include_all_metadata=True,
                    limit=200, cursor=cursor)
                for m in answer.get("messages") or []:
                    payload = (m.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("key") == key:
                        return MessageRef(platform=Platform.SLACK, workspace=team,
                                          channel_id=thread.channel_id, message_id=str(m["ts"]))
                cursor = ((answer.get("response_metadata") or {}).get("next_cursor")) or None
                if not cursor:
                    return None
        except Exception as exc:
            raise delivery_error(exc) from exc

    # ---- direct answers (not from the outbox) ----------------------------------------------

    async def say_in_thread(self, client: AsyncWebClient, channel: str, thread_ts: str,
                            message: Outbound) -> None:
        """Answer in a thread right away (a refused reply's reason). Best effort: the event
        that caused it is already acknowledged and a reason is not worth a retry loop."""
        fallback, blocks = outbound_message(message, self.desk_name)
        try:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=fallback,
                                          blocks=blocks[:BLOCKS_PER_MESSAGE])
        except Exception as exc:
            log.warning("could not answer in thread: %s", delivery_error(exc).reason)

    # ---- internals ---------------------------------------------------------------------------

    async def _post_once(self, client: AsyncWebClient, team: str, channel: str,
                         thread_ts: str | None, message: Outbound, key: str) -> MessageRef:
        done = self._done.get(key)
        if done is not None:
            return done
        fallback, blocks = outbound_message(message, self.desk_name)
        first: MessageRef | None = None
        # More than 50 blocks (a very long text full of escaped characters) continues in
        # further messages in the same thread; the first one is the reference.
        for i in range(0, len(blocks), BLOCKS_PER_MESSAGE):
            part = blocks[i:i + BLOCKS_PER_MESSAGE]
            kwargs: dict[str, Any] = {
                "channel": channel, "text": fallback, "blocks": part, "unfurl_links": False,
                "unfurl_media": False,
                # The outbox key rides along, so find_delivered can tell after a crash whether
                # this post already reached Slack.
                "metadata": {"event_type": DELIVERY_EVENT, "event_payload": {"key": key}},
            }
            if thread_ts or first is not None:
                kwargs["thread_ts"] = thread_ts or (first.message_id if first else None)
                if message.broadcast and first is None:
                    kwargs["reply_broadcast"] = True
            answer = await client.chat_postMessage(**kwargs)
            if first is None:
                first = MessageRef(platform=Platform.SLACK, workspace=team,
                                   channel_id=str(answer["channel"]), message_id=str(answer["ts"]))
                self._remember(key, first)
        assert first is not None
        return first

    async def _upload(self, client: AsyncWebClient, channel: str, thread_ts: str,
                      file: OutboundFile | None) -> None:
        if file is None:
            return
        await client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, content=file.data,
            filename=file.attachment.filename, title=file.attachment.filename)

    def _remember(self, key: str, ref: MessageRef) -> None:
        self._done[key] = ref
        while len(self._done) > 2000:
            self._done.popitem(last=False)
