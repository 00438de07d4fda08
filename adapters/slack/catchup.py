"""Catching up on start: replies written in ticket threads while Helpline was not listening.

Slack resends an event only a few times over about five minutes; a crash, a long deploy or a
database outage can outlast that, and a reply written meanwhile would never be seen. So each
start reads back the Slack threads of the tickets that can still take a reply (core's
``threads_to_catch_up``), from just after the message Helpline recorded last in each, and hands
every person's reply found there to ``SlackHandlers.thread_message``: the path a live
``message`` event takes, so a customer's reply reaches staff, a staff reply reaches the
customer, a note stays internal and a non-staff remark is refused, exactly as live.

- Once only: core records each message under its key (``slack:TEAM:CHANNEL:TS``) and ignores
  it a second time, so a reply handled live meanwhile (a late resend from Slack, or a
  concurrent event) is never relayed twice. Messages Helpline has already marked (✓, ⚠, 🔒)
  are not handed over at all.
- In order: a thread's replies are handled one at a time, oldest first.
- Within Slack's rate limits: conversations.replies is Tier 3. One request at a time per
  workspace; a 429 waits its Retry-After (the clients never retry by themselves, see
  clients.py), other transient failures are tried a few times with backoff, and a thread that
  still fails is left for the next start. In OAuth mode each workspace is read with its own
  bot token.
- In the background: ``SlackAdapter.start`` does not wait for it, and ``stop`` cancels it;
  what was handled by then is recorded, and the next start reads on from there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.clients import WorkspaceClients
from adapters.slack.handlers import SlackHandlers
from adapters.slack.transport import delivery_error
from core.models import Platform
from core.service import SupportDesk, ThreadToCatchUp

log = logging.getLogger("helpline.slack")

JSON = dict[str, Any]

PAGE_SIZE = 200
"""Messages asked for per conversations.replies page (Slack may return fewer)."""
WORKSPACES_AT_ONCE = 4
"""Workspaces read side by side; within one, requests go one at a time."""
ATTEMPTS = 3
"""Tries of a request that fails for a reason other than a rate limit."""
RATE_LIMIT_WAITS = 10
"""429s waited out for one request before its thread is left for the next start."""
BACKOFF_SECONDS = 1.0
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})
"""Slack's answers that another try may change; any other ``ok: false`` answer is final."""


@dataclass
class CatchUpReport:
    """What one catch-up did: threads read to the end, messages handed to the live path,
    threads left unread (Slack refused or kept failing; read again at the next start)."""

    threads_read: int = 0
    messages_recovered: int = 0
    threads_failed: int = 0


class SlackCatchUp:
    def __init__(self, desk: SupportDesk, handlers: SlackHandlers, clients: WorkspaceClients,
                 *, page_size: int = PAGE_SIZE, backoff: float = BACKOFF_SECONDS) -> None:
        self.desk = desk
        self.handlers = handlers
        self.clients = clients
        self.page_size = page_size
        self.backoff = backoff

    async def run(self) -> CatchUpReport:
        """Read every thread to catch up and handle what Helpline missed; logs a summary.
        Failures are logged, never raised (only cancellation ends it early)."""
        report = CatchUpReport()
        try:
            threads = await self.desk.threads_to_catch_up(Platform.SLACK)
            by_workspace: dict[str, list[ThreadToCatchUp]] = {}
            for item in threads:
                by_workspace.setdefault(item.thread.workspace, []).append(item)
            gate = asyncio.Semaphore(WORKSPACES_AT_ONCE)

            async def one_workspace(workspace: str, items: list[ThreadToCatchUp]) -> None:
                async with gate:
                    await self._workspace(workspace, items, report)

            await asyncio.gather(*(one_workspace(ws, items)
                                   for ws, items in by_workspace.items()))
        except Exception:
            log.exception("Slack catch-up failed")
        log.info(
            "Slack catch-up: %d threads read, %d messages recovered, %d threads left unread",
            report.threads_read, report.messages_recovered, report.threads_failed,
            extra={"event": "slack_catch_up", "threads_read": report.threads_read,
                   "messages_recovered": report.messages_recovered,
                   "threads_failed": report.threads_failed},
        )
        return report

    async def _workspace(self, workspace: str, items: list[ThreadToCatchUp],
                         report: CatchUpReport) -> None:
        try:
            token = await self.clients.token_for(workspace)
            client = self.clients.client(token)
            bot_user = str((await self._call("auth.test", client.auth_test)).get("user_id") or "")
        except Exception as exc:
            log.warning("Slack catch-up: workspace %s not read: %s", workspace,
                        delivery_error(exc).reason)
            report.threads_failed += len(items)
            return
        for item in items:
            try:
                missed = await self._missed(client, item, bot_user)
            except Exception as exc:
                log.warning("Slack catch-up: the %s thread of #%d not read: %s", item.side,
                            item.ticket_id, delivery_error(exc).reason)
                report.threads_failed += 1
                continue
            report.threads_read += 1
            for message in missed:
                event = {**message, "channel": item.thread.channel_id}
                await self.handlers.thread_message(event, team=workspace, client=client,
                                                   token=token, caught_up=True)
                report.messages_recovered += 1

    async def _missed(self, client: AsyncWebClient, item: ThreadToCatchUp,
                      bot_user: str) -> list[JSON]:
        """People's replies in the thread after the one recorded last, oldest first, leaving
        out those Helpline has marked."""
        thread = item.thread
        after = _ts(item.last_recorded) if item.last_recorded else None
        args: JSON = {"channel": thread.channel_id, "ts": thread.thread_id,
                      "limit": self.page_size}
        if item.last_recorded:
            args["oldest"] = item.last_recorded  # exclusive: that message is recorded
        found: dict[Decimal, JSON] = {}
        while True:
            page = await self._call("conversations.replies",
                                    lambda: client.conversations_replies(**args))
            for message in _messages(page.get("messages")):
                ts = _ts(message.get("ts"))
                if (ts is None or message.get("ts") == thread.thread_id
                        or (after is not None and ts <= after)
                        or not message.get("user") or message.get("bot_id")
                        or _marked_by(message, bot_user)):
                    continue
                found[ts] = message
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return [found[ts] for ts in sorted(found)]
            args["cursor"] = cursor

    async def _call(self, method: str, request: Callable[[], Awaitable[AsyncSlackResponse]]
                    ) -> JSON:
        """One Web API call, waiting out 429s (Retry-After) and retrying server and network
        failures with backoff; Slack's refusal (an unknown thread, a missing scope), or too
        many failures, is raised."""
        failures = rate_limited = 0
        failure: Exception
        while True:
            try:
                answer = await request()
                return dict(answer.data) if isinstance(answer.data, dict) else {}
            except SlackApiError as exc:
                wait = delivery_error(exc).retry_after
                if wait is not None and rate_limited < RATE_LIMIT_WAITS:
                    rate_limited += 1
                    log.info("Slack catch-up: %s rate limited, waiting %g s", method, wait)
                    await asyncio.sleep(wait)
                    continue
                status = getattr(exc.response, "status_code", 200)
                if status < 500 and status != 429 and exc.response.get("error") not in (
                        TRANSIENT_ERRORS):
                    raise
                failure = exc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failure = exc
            failures += 1
            if failures >= ATTEMPTS:
                raise failure
            await asyncio.sleep(self.backoff * 2 ** (failures - 1))


def _messages(raw: object) -> Iterable[JSON]:
    return [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []


def _ts(value: object) -> Decimal | None:
    """A Slack timestamp as a number, to order and compare exactly."""
    try:
        ts = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return ts if ts.is_finite() else None


def _marked_by(message: JSON, bot_user: str) -> bool:
    """Whether Helpline reacted to the message (✓ relayed, ⚠ not delivered, 🔒 kept
    internal): then it was handled."""
    return bool(bot_user) and any(
        bot_user in (reaction.get("users") or [])
        for reaction in message.get("reactions") or [] if isinstance(reaction, dict))
