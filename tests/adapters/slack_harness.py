"""The Slack adapter running for real, end to end, for tests.

`running_desk()` builds Helpline's core on a fresh SQLite database, creates the Slack adapter
exactly as `helpline run` does (`create_slack_adapter`), mounts it on an aiohttp server on
127.0.0.1, points its Web API client at a `FakeSlack`, and runs the real `DeliveryWorker` with
the adapter's transport in the background. Tests drive it with signed requests
(`SlackRequester`) and assert on what the fake recorded, waiting for calls instead of sleeping.
With ``socket_mode=True`` the adapter runs in Socket Mode instead, connected to a
`FakeSocketMode`, and the same requests arrive as envelopes (`SocketRequester`).
`RunningDesk.helpline_down()` stops that Helpline process and starts a new one on the same
database and the same fakes, as a crash or a deploy would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.oauth.installation_store import Installation

from adapters.slack import blocks as ui
from adapters.slack.runtime import BOT_SCOPES, SlackAdapter, create_slack_adapter
from adapters.slack.text import unescape
from bot.bootstrap import Core, build_core
from bot.settings import Settings
from core.clock import Clock, utcnow
from core.config import DeskConfig, StaffConfig
from core.models import Platform, ThreadRef
from tests.fakes.slack_api import RESPONSE_URL, Call, FakeSlack
from tests.fakes.slack_requests import (
    BoltReply,
    SlackRequester,
    file_input_value,
    message_event,
    plain_text_value,
    static_select_value,
)
from tests.fakes.slack_socket import FakeSocketMode, SocketRequester

JSON = dict[str, Any]

SIGNING_SECRET = "helpline-test-secret"
STAFF_CHANNEL = "C0STAFF"
STAFF_USER = "U0STAFF"
CUSTOMER = "U0CUSTOMER"


def desk_config(**overrides: Any) -> DeskConfig:
    base: dict[str, Any] = {
        "default_channel": f"slack:{STAFF_CHANNEL}",
        "staff": StaffConfig(slack_users=[STAFF_USER]),
    }
    base.update(overrides)
    return DeskConfig(**base)


def form_state(
    *,
    category: str | None = "Billing",
    subject: str | None = "Invoice shows the wrong VAT number",
    message: str | None = "Invoice INV-2231 shows VAT number GB123 but ours is GB456.",
    more: str | None = None,
    files: list[JSON] | None = None,
) -> JSON:
    """`view.state.values` of the new-ticket modal, as Slack sends it on submit."""
    state: JSON = {
        ui.CATEGORY_BLOCK: {ui.INPUT_ACTION: static_select_value(category)},
        ui.SUBJECT_BLOCK: {ui.INPUT_ACTION: plain_text_value(subject)},
        ui.MESSAGE_BLOCK: {ui.INPUT_ACTION: plain_text_value(message)},
        ui.MESSAGE_MORE_BLOCK: {ui.INPUT_ACTION: plain_text_value(more)},
        ui.IMAGE_BLOCK: {ui.INPUT_ACTION: file_input_value(files or [])},
    }
    return state


def section_text(message: JSON) -> str:
    """The words of a bot message: its section blocks, unescaped and joined."""
    return "".join(
        unescape(b["text"]["text"]) for b in message.get("blocks", [])
        if b.get("type") == "section" and "text" in b
    )


def raw_section_text(message: JSON) -> str:
    return "".join(b["text"]["text"] for b in message.get("blocks", [])
                   if b.get("type") == "section" and "text" in b)


def all_text(obj: object) -> str:
    """Every string inside a Block Kit structure, for "does it say X" assertions."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return "\n".join(all_text(v) for v in obj.values())
    if isinstance(obj, list):
        return "\n".join(all_text(v) for v in obj)
    return ""


async def eventually(check: Callable[[], Awaitable[object]], what: str,
                     timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a deadline per wait
    """Wait until ``check()`` gives something truthy. For state with no event to await (a row
    the worker settles right after Slack answered); looks again every 10 ms."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await asyncio.sleep(0.01)  # nothing to await but the database


class ShiftableClock:
    """The desk's clock, which a test can move forward (to pass a response target) without
    waiting; the worker and the desk read the same one."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Ticket:
    id: int
    dm_channel: str
    customer_thread: str  # ts of the ticket's first message in the customer's DM
    card_ts: str  # ts of the staff card = the staff thread


@dataclass
class HelplineProcess:
    """One Helpline process: core, Slack adapter, its HTTP server and the delivery worker."""

    core: Core
    adapter: SlackAdapter
    server: TestServer
    stopping: asyncio.Event
    worker: asyncio.Task[None]

    @classmethod
    async def start(cls, settings: Settings, config: DeskConfig, clock: Clock) -> HelplineProcess:
        core = await build_core(settings, config=config, clock=clock)
        adapter = create_slack_adapter(core)
        http = web.Application()
        await adapter.start(http)
        server = TestServer(http, host="127.0.0.1")
        await server.start_server()
        worker = core.start_worker({Platform.SLACK: adapter.transport},
                                   backoff=lambda attempts: 0.1)
        stopping = asyncio.Event()
        task = asyncio.create_task(worker.run(stopping, idle_interval=0.1))
        return cls(core, adapter, server, stopping, task)

    @property
    def events_url(self) -> str:
        return str(self.server.make_url("/slack/events"))

    async def stop(self) -> None:
        self.stopping.set()
        await self.worker
        await self.adapter.stop()
        await self.server.close()
        await self.core.close()


@dataclass
class RunningDesk:
    slack: FakeSlack
    requester: SlackRequester
    core: Core
    adapter: SlackAdapter
    socket: FakeSocketMode | None = None
    process: HelplineProcess | None = None
    start_process: Callable[[], Awaitable[HelplineProcess]] | None = None

    @asynccontextmanager
    async def helpline_down(self) -> AsyncIterator[None]:
        """Helpline is stopped for the body of the ``async with`` (a crash, a long deploy):
        what people write in Slack meanwhile reaches no one, and Slack's resends of it have
        long given up. On leaving, a new process starts on the same database and the same
        fakes; ``core`` and ``adapter`` are then the new ones."""
        assert self.process is not None and self.start_process is not None
        await self.process.stop()
        self.process = None
        yield
        self.process = await self.start_process()
        self.core, self.adapter = self.process.core, self.process.adapter
        if self.socket is None:
            self.requester.url = self.process.events_url

    async def install_workspace(self, bot_token: str = "xoxb-acme-workspace") -> None:
        """OAuth mode: the fake's workspace installed, as the install flow would store it."""
        store = self.adapter.installation_store
        assert store is not None
        await store.async_save(Installation(
            app_id="A0HELPLINE", team_id=self.slack.team_id, bot_token=bot_token,
            bot_id="B0HELPBOT", bot_user_id="U0HELPBOT", bot_scopes=list(BOT_SCOPES),
            user_id="U0INSTALLER"))

    # ---- the customer's form ----------------------------------------------------------------

    async def open_form(self, text: str = "new", *, user_id: str = CUSTOMER,
                        channel_id: str = "C0GENERAL1") -> JSON:
        before = len(self.slack.calls("views.open"))
        await self.requester.slash_command("/support", text, user_id=user_id,
                                           channel_id=channel_id)
        calls = await self.slack.wait_for("views.open", count=before + 1)
        opened = calls[-1]
        assert opened.ok, opened.describe()
        assert opened.response is not None
        return self.slack.view(opened.response["view"]["id"])

    async def submit(self, state: JSON, *, view: JSON | None = None,
                     user_id: str = CUSTOMER) -> BoltReply:
        view = view or await self.open_form(user_id=user_id)
        return await self.requester.view_submission(ui.INTAKE_CALLBACK, state, view=view,
                                                    user_id=user_id)

    async def press_in_modal(self, reply: BoltReply, submitted: JSON, action_id: str,
                             *, user_id: str = CUSTOMER) -> JSON:
        """Click a button in the view a submit answered with; returns the views.update view."""
        shown = reply.body["view"]
        button = next(el for b in shown["blocks"] if b["type"] == "actions"
                      for el in b["elements"] if el["action_id"] == action_id)
        current = self.slack.view(submitted["id"])
        view = {**current, **shown, "id": current["id"], "hash": current["hash"]}
        before = len(self.slack.calls("views.update"))
        await self.requester.block_action(action_id, button.get("value"), view=view,
                                          user_id=user_id, block_id="prompt")
        calls = await self.slack.wait_for("views.update", count=before + 1)
        assert calls[-1].ok, calls[-1].describe()
        return dict(calls[-1].args["view"])

    async def file_ticket(self, *, staff_channel: str = STAFF_CHANNEL, **state: Any) -> Ticket:
        """File a ticket through the modal and wait until both sides are posted (its card in
        ``staff_channel``: another one for a White Label Lite account)."""
        cards_before = len(self.cards(staff_channel))
        reply = await self.submit(form_state(**state))
        assert reply.body.get("response_action") == "update", reply.text
        title = reply.body["view"]["title"]["text"]
        assert title.startswith("Ticket #"), reply.text
        ticket_id = int(title.removeprefix("Ticket #"))
        await self.slack.wait_for("chat.postMessage",
                                  lambda c: c.ok and c.args.get("channel") == staff_channel
                                  and "thread_ts" not in c.args, count=cards_before + 1)
        dm = self.slack.dm_channel(CUSTOMER)
        opened = await self.slack.wait_for(
            "chat.postMessage",
            lambda c: c.ok and f"Ticket #{ticket_id} " in section_text(c.args))
        card = self.card(ticket_id, staff_channel)
        # The customer's first message follows the card into its thread: wait for it, so a
        # test's own expectations about the thread start from a quiet state.
        await self.wait_post(staff_channel, card["ts"])
        ticket = Ticket(ticket_id, dm,
                        str(opened[0].response["ts"]) if opened[0].response else "", card["ts"])
        await self.threads_known(ticket, staff_channel)
        return ticket

    async def threads_known(self, ticket: Ticket, staff_channel: str = STAFF_CHANNEL) -> None:
        """Wait until the worker has recorded both threads of ``ticket`` (it does so right
        after Slack answered the post, which the fake records a moment earlier)."""
        sides = [(ticket.dm_channel, ticket.customer_thread), (staff_channel, ticket.card_ts)]
        refs = [ThreadRef(platform=Platform.SLACK, workspace=self.slack.team_id,
                          channel_id=channel, thread_id=ts) for channel, ts in sides]
        for ref in refs:
            await eventually(partial(self.core.desk.ticket_id_for_thread, ref),
                             f"thread {ref.channel_id}/{ref.thread_id} recorded")

    # ---- people talking in threads --------------------------------------------------------------

    async def say(self, channel: str, text: str, *, user: str, thread_ts: str,
                  files: list[JSON] | None = None, event_id: str | None = None) -> JSON:
        """A person posts in a thread: stored in the fake and delivered as a message event."""
        message = self.slack.add_message(channel, text, user=user, thread_ts=thread_ts,
                                         files=files)
        event = message_event(text, channel=channel, user=user, ts=message["ts"],
                              thread_ts=thread_ts, files=files)
        reply = await self.requester.event(event, event_id=event_id)
        assert reply.status == 200, reply.text
        return message

    # ---- what Slack shows ---------------------------------------------------------------------

    def cards(self, channel: str = STAFF_CHANNEL) -> list[JSON]:
        """Top-level bot messages in a staff channel: the tickets' cards."""
        return [m for m in self.slack.messages(channel)
                if m.get("user") == self.slack.bot_user_id
                and m.get("thread_ts") in (None, m["ts"])]

    def card(self, ticket_id: int, channel: str = STAFF_CHANNEL) -> JSON:
        return next(m for m in self.cards(channel)
                    if f"*#{ticket_id}*" in all_text(m.get("blocks")))

    # ---- /support ---------------------------------------------------------------------------

    async def ask(self, text: str, *, user_id: str = CUSTOMER,
                  channel_id: str = "C0GENERAL1") -> JSON:
        """Run `/support TEXT` and return what the app sent to that command's response_url
        (bolt's ``respond``): ``text``, ``blocks``, ``response_type``."""
        path = f"commands/{self.slack.team_id}/{uuid.uuid4().hex}"
        reply = await self.requester.slash_command(
            "/support", text, user_id=user_id, channel_id=channel_id,
            response_url=f"{self.slack.hooks_url}{path}")
        assert (reply.status, reply.text) == (200, ""), reply.text
        [answer] = await self.slack.wait_for(
            RESPONSE_URL, lambda c: str(c.args.get("url_path", "")).endswith(path))
        return dict(answer.args)

    def thread(self, channel: str, ts: str) -> list[JSON]:
        return self.slack.thread(channel, ts)[1:]

    async def wait_post(self, channel: str, thread_ts: str, contains: str = "",
                        count: int = 1) -> list[Call]:
        return await self.slack.wait_for(
            "chat.postMessage",
            lambda c: c.ok and c.args.get("channel") == channel
            and c.args.get("thread_ts") == thread_ts and contains in section_text(c.args),
            count=count)

    async def drain(self) -> None:
        """Deliver everything due now (the background worker does the same; this is to be
        sure nothing more is on its way before asserting that something did NOT happen)."""
        assert self.core.worker is not None
        await self.core.worker.drain()


@asynccontextmanager
async def running_desk(tmp_path: Path, config: DeskConfig | None = None, *,
                       settings: dict[str, Any] | None = None, clock: Clock = utcnow,
                       socket_mode: bool = False,
                       **slack_options: Any) -> AsyncIterator[RunningDesk]:
    """The desk with its Slack adapter in HTTP mode (single workspace unless ``settings``
    say otherwise, e.g. OAuth's client id and secret), or in Socket Mode."""
    async with FakeSlack(**slack_options) as slack, AsyncExitStack() as stack:
        socket = (await stack.enter_async_context(FakeSocketMode(slack)) if socket_mode
                  else None)
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/helpline.db",
            "slack_bot_token": slack.bot_token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_app_token": slack.app_token if socket_mode else None,
            "slack_client_id": None,
            "slack_client_secret": None,
            "slack_api_url": slack.api_url,
        }
        values.update(settings or {})
        start_process = partial(HelplineProcess.start, Settings(_env_file=None, **values),
                                config or desk_config(), clock)
        process = await start_process()
        requester = (
            SocketRequester(socket, response_url_base=slack.hooks_url, team_id=slack.team_id)
            if socket is not None else
            SlackRequester(process.events_url, SIGNING_SECRET, response_url_base=slack.hooks_url,
                           team_id=slack.team_id))
        desk = RunningDesk(slack, requester, process.core, process.adapter, socket, process,
                           start_process)
        try:
            async with requester:
                yield desk
        finally:
            if desk.process is not None:
                await desk.process.stop()
