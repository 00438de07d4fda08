"""Helpline as separate processes for the kill and scale-out tests: starting, killing and
stopping ``tests.faults.runner_helpline``; a round-robin HTTP proxy standing in for a load
balancer; and a Slack "user" that files tickets and talks in their threads over signed requests,
reading what reached Slack from the `FakeSlack` the processes post to."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select

from adapters.slack import blocks as ui
from core.storage.db import Database
from core.storage.tables import OutboxRow, TicketRow
from tests.adapters.slack_harness import all_text, eventually, form_state, section_text
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import SlackRequester, message_event

JSON = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "helpline-process-secret"
STAFF_CHANNEL = "C0STAFF"
STAFF_USER = "U0STAFF"
DELIVERY_EVENT = "helpline_delivery"


def write_config(directory: Path, extra: str = "") -> Path:
    """The desk's TOML file: Slack staff channel and staff member, plus ``extra``."""
    path = directory / "helpline.toml"
    path.write_text(
        f'default_channel = "slack:{STAFF_CHANNEL}"\n'
        f"{extra}\n"
        "[staff]\n"
        f'slack_users = ["{STAFF_USER}"]\n'
    )
    return path


def process_env(slack: FakeSlack, database_url: str, config: Path, **extra: str) -> dict[str, str]:
    """The environment of a Helpline process in Slack HTTP mode against ``slack``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPLINE_", "SLACK_", "DISCORD_"))}
    env.update({
        "PYTHONPATH": str(REPO),
        "HELPLINE_DATABASE_URL": database_url,
        "HELPLINE_CONFIG": str(config),
        "HELPLINE_HTTP_HOST": "127.0.0.1",
        "HELPLINE_HTTP_PORT": "0",
        "HELPLINE_LOG_LEVEL": "WARNING",
        "SLACK_BOT_TOKEN": slack.bot_token or "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
    })
    env.update(extra)
    return env


class HelplineProcess:
    """One ``runner_helpline`` subprocess; its stderr goes to ``log``."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env = dict(env)
        self.log = log
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self, within: float = 30.0) -> HelplineProcess:
        with self.log.open("ab") as err:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.faults.runner_helpline",
                cwd=self.log.parent, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=err)
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                line = (await self._proc.stdout.readline()).decode()
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"Helpline did not start: {self.tail()}") from None
        if not line.startswith("LISTENING "):
            await self.kill()
            raise AssertionError(f"Helpline did not start ({line!r}): {self.tail()}")
        self.port = int(line.split()[1])
        return self

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no chance to settle what is in flight."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGKILL)
            await self._proc.wait()

    async def stop(self, within: float = 10.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after ``within`` seconds)."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(within):
                    await self._proc.wait()
            except TimeoutError:
                await self.kill()
        return self._proc.returncode

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class RoundRobinProxy:
    """A load balancer on 127.0.0.1: each request goes to the next backend in turn."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.hits = [0] * len(backends)
        self._next = itertools.cycle(range(len(backends)))
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> RoundRobinProxy:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        index = next(self._next)
        self.hits[index] += 1
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding")}
        async with self._http.request(request.method, self.backends[index] + request.path_qs,
                                      headers=headers, data=await request.read()) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() in ("content-type", "x-slack-no-retry")}
            return web.Response(status=answer.status, body=body, headers=kept)


@dataclass(frozen=True)
class Ticket:
    id: int
    customer: str
    dm_channel: str
    customer_thread: str
    card_ts: str


class SlackPeople:
    """Customers and staff using Slack, as signed requests to ``url``; what Helpline posted
    is read from ``slack``."""

    def __init__(self, slack: FakeSlack, url: str) -> None:
        self.slack = slack
        self.requester = SlackRequester(url, SIGNING_SECRET, response_url_base=slack.hooks_url,
                                        team_id=slack.team_id)

    async def close(self) -> None:
        await self.requester.close()

    async def file_ticket(self, customer: str, subject: str, message: str) -> int:
        """/support new, then the form submitted; returns the ticket number."""
        trigger = self.requester.new_trigger_id()
        await self.requester.slash_command("/support", "new", user_id=customer,
                                           trigger_id=trigger)
        [opened] = await self.slack.wait_for(
            "views.open", lambda c: c.args.get("trigger_id") == trigger, timeout=15)
        assert opened.ok and opened.response is not None, opened.describe()
        view = self.slack.view(opened.response["view"]["id"])
        reply = await self.requester.view_submission(
            ui.INTAKE_CALLBACK, form_state(category="Billing", subject=subject, message=message),
            view=view, user_id=customer)
        title = reply.body.get("view", {}).get("title", {}).get("text", "")
        assert title.startswith("Ticket #"), reply.text
        return int(title.removeprefix("Ticket #"))

    async def threads(self, db: Database, ticket_id: int, customer: str) -> Ticket:
        """Wait until both threads of the ticket are posted and recorded by Helpline."""

        async def recorded() -> bool:
            async with db.sessions() as s:
                row = await s.get(TicketRow, ticket_id)
                return bool(row and row.customer_thread and row.staff_thread)

        await eventually(recorded, f"both threads of #{ticket_id} recorded", timeout=20)
        async with db.sessions() as s:
            row = await s.get(TicketRow, ticket_id)
            assert row is not None and row.customer_thread and row.staff_thread
            customer_thread, staff_thread = dict(row.customer_thread), dict(row.staff_thread)
        return Ticket(ticket_id, customer, str(customer_thread["channel_id"]),
                      str(customer_thread["thread_id"]), str(staff_thread["thread_id"]))

    async def say(self, channel: str, text: str, *, user: str, thread_ts: str) -> None:
        """A person posts in a thread: stored in the fake, delivered as a message event."""
        message = self.slack.add_message(channel, text, user=user, thread_ts=thread_ts)
        event = message_event(text, channel=channel, user=user, ts=message["ts"],
                              thread_ts=thread_ts)
        reply = await self.requester.event(event)
        assert reply.status == 200, reply.text

    async def staff_says(self, ticket: Ticket, text: str) -> None:
        await self.say(STAFF_CHANNEL, text, user=STAFF_USER, thread_ts=ticket.card_ts)

    async def customer_says(self, ticket: Ticket, text: str) -> None:
        await self.say(ticket.dm_channel, text, user=ticket.customer,
                       thread_ts=ticket.customer_thread)

    def thread_texts(self, channel: str, thread_ts: str) -> list[str]:
        """The words of every bot message in a thread (the parent included), oldest first."""
        return [section_text(m) for m in self.slack.thread(channel, thread_ts)
                if m.get("user") == self.slack.bot_user_id]

    def cards(self, ticket_id: int) -> list[JSON]:
        """Top-level bot messages in the staff channel showing ticket ``ticket_id``'s card."""
        return [m for m in self.slack.messages(STAFF_CHANNEL)
                if m.get("user") == self.slack.bot_user_id
                and m.get("thread_ts") in (None, m["ts"])
                and f"*#{ticket_id}*" in all_text(m.get("blocks"))]


def delivery_keys(slack: FakeSlack) -> list[str]:
    """The outbox key of every message stored in the fake (one per chat.postMessage that
    carried one; several for a delivery posted twice)."""
    keys = []
    for message in slack.messages():
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == DELIVERY_EVENT:
            keys.append(str(metadata["event_payload"]["key"]))
    return keys


async def outbox_rows(db: Database) -> list[OutboxRow]:
    async with db.sessions() as s:
        return list((await s.scalars(select(OutboxRow).order_by(OutboxRow.id))).all())


@contextlib.asynccontextmanager
async def stopped_at_exit(*processes: HelplineProcess) -> Any:
    """Stop every process when the block ends, however it ends."""
    try:
        yield
    finally:
        for process in processes:
            await process.stop()
