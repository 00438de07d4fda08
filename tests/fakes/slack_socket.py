"""A local fake of Slack's Socket Mode, for driving slack_sdk's Socket Mode client offline.

`FakeSocketMode` is an aiohttp WebSocket server on 127.0.0.1 that plugs into a `FakeSlack`:
the fake's `apps.connections.open` (app-level token only) hands out a fresh
`ws://127.0.0.1:PORT/link/?ticket=...&app_id=...` URL, each good for one connection. On
connecting the client gets `hello`; then Slack's requests arrive as envelopes::

    {"envelope_id": "<uuid>", "type": "slash_commands" | "interactive" | "events_api",
     "payload": {...}, "accepts_response_payload": true | false,
     "retry_attempt": 0, "retry_reason": ""}          # the last two: events_api only

and the app acks each one on the socket with `{"envelope_id": ..., "payload": {...}}` (payload
only when it answers with one: a view_submission's `response_action`). Every ack is recorded;
anything else the app sends lands in `strays`.

`deliver()` sends an envelope on the newest open connection, and waits for one while there is
none, as Slack holds its requests while the app reconnects. `redeliver_next()` makes the next
envelope arrive again before any ack (Slack resends one whose ack came too late). `drop()`
closes the connection from Slack's side and `cut()` breaks it without a close frame.

`SocketRequester` is a `SlackRequester` whose requests travel as envelopes instead of signed
HTTP posts, so the Slack harness's helpers work unchanged in Socket Mode: the ack stands in for
the HTTP answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import BoltReply, SlackRequester

JSON = dict[str, Any]

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]

_RESPONSE_PAYLOAD_INTERACTIONS = frozenset({"view_submission", "view_closed"})
"""Interactions the app may answer in its ack (a modal's `response_action`)."""


@dataclass(frozen=True)
class Envelope:
    """One request as Slack wraps it for Socket Mode."""

    envelope_id: str
    type: EnvelopeType
    payload: JSON
    accepts_response_payload: bool
    retry_attempt: int | None = None
    retry_reason: str | None = None

    def wire(self) -> JSON:
        message: JSON = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            message["retry_attempt"] = self.retry_attempt or 0
            message["retry_reason"] = self.retry_reason or ""
        return message


@dataclass(frozen=True)
class Ack:
    """What the app sent back for an envelope, and on which connection."""

    envelope_id: str
    payload: JSON | None
    connection: int
    raw: JSON


@dataclass
class SocketConnection:
    """One WebSocket connection the app opened (numbered from 1, in order)."""

    number: int
    request: web.Request
    ws: web.WebSocketResponse
    sent: list[Envelope] = field(default_factory=list)
    closed: bool = False


class FakeSocketMode:
    """The fake Socket Mode server. Use as `async with FakeSocketMode(slack) as socket:`."""

    def __init__(self, slack: FakeSlack, *, host: str = "applink-fake-1") -> None:
        self.slack = slack
        self.host = host
        self.connections: list[SocketConnection] = []
        self.strays: list[str] = []
        """Text frames from the app that are not acks (Slack expects nothing else)."""
        self._acks: list[Ack] = []
        self._envelopes: list[Envelope] = []
        self._tickets: set[str] = set()
        self._redeliver_next: dict[EnvelopeType | None, int] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSocketMode:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and let `slack` hand out this server's URLs."""
        app = web.Application()
        app.router.add_get("/link/", self._handle_link)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"ws://{host}:{port}"
        self.slack.serve_socket_mode(self.issue_url)

    async def stop(self) -> None:
        for connection in self.connections:
            if not connection.closed:
                await connection.ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeSocketMode is not started")
        return self._base_url

    def issue_url(self) -> str:
        """A new single-use connection URL, as `apps.connections.open` answers."""
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        return f"{self.base_url}/link/?ticket={ticket}&app_id={self.slack.app_id}"

    # ------------------------------------------------------------------ Slack's side

    async def deliver(
        self,
        kind: EnvelopeType,
        payload: JSON,
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per wait reads best in tests
    ) -> Envelope:
        """Send one request to the app; returns its envelope without waiting for the ack."""
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_INTERACTIONS
            )
        envelope = Envelope(str(uuid.uuid4()), kind, payload, accepts_response_payload,
                            retry_attempt, retry_reason)
        copies = self._redeliver_next.pop(kind, 0) or self._redeliver_next.pop(None, 0)
        self._envelopes.append(envelope)
        await self._send(envelope, timeout)
        for _ in range(copies):
            await self.redeliver(envelope, timeout=timeout)
        return envelope

    async def redeliver(
        self,
        envelope: Envelope,
        *,
        reason: str = "timeout",
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Envelope:
        """Send `envelope` again, as Slack does when its ack is late; an events_api copy counts
        its attempt in `retry_attempt` / `retry_reason`."""
        again = envelope
        if envelope.type == "events_api":
            again = replace(envelope, retry_attempt=len(self.sent(envelope.envelope_id)),
                            retry_reason=reason)
        await self._send(again, timeout)
        return again

    def redeliver_next(self, kind: EnvelopeType | None = None, times: int = 1) -> None:
        """Send the next envelope (of `kind`, if given) `times` more times right after it,
        before any ack."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._redeliver_next[kind] = times

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` message on the newest connection (it asks the app to open a
        new one); the connection itself stays open until the app closes it."""
        connection = self._live()
        if connection is None:
            raise AssertionError("no open Socket Mode connection to disconnect")
        await connection.ws.send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": self.host}})

    async def drop(self) -> SocketConnection:
        """Close the newest connection from Slack's side (a close frame); returns it."""
        connection = self._live()
        if connection is None:
            raise AssertionError("no open Socket Mode connection to drop")
        await self._mark_closed(connection)
        await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"link dropped")
        return connection

    async def cut(self) -> SocketConnection:
        """Break the newest connection without a close frame, as a network failure does."""
        connection = self._live()
        if connection is None:
            raise AssertionError("no open Socket Mode connection to cut")
        await self._mark_closed(connection)
        if connection.request.transport is not None:
            connection.request.transport.abort()
        return connection

    # ------------------------------------------------------------------ what happened

    def envelopes(self, kind: EnvelopeType | None = None) -> list[Envelope]:
        """Every envelope delivered (first deliveries only), in order."""
        return [e for e in self._envelopes if kind is None or e.type == kind]

    def sent(self, envelope_id: str) -> list[tuple[int, Envelope]]:
        """(connection number, envelope) for each time `envelope_id` went out."""
        return [(c.number, e) for c in self.connections for e in c.sent
                if e.envelope_id == envelope_id]

    def acks(self, envelope_id: str | None = None) -> list[Ack]:
        return [a for a in self._acks if envelope_id is None or a.envelope_id == envelope_id]

    async def wait_acks(
        self, envelope_id: str, count: int = 1, timeout: float = 5.0  # noqa: ASYNC109
    ) -> list[Ack]:
        """Wait until `envelope_id` was acked `count` times; returns its acks."""
        await self._wait(lambda: len(self.acks(envelope_id)) >= count, timeout,
                         f"{count} ack(s) of envelope {envelope_id}")
        return self.acks(envelope_id)

    async def wait_connections(
        self, count: int, timeout: float = 5.0  # noqa: ASYNC109
    ) -> SocketConnection:
        """Wait until the app has opened `count` connections and the last is live."""
        await self._wait(
            lambda: len(self.connections) >= count and not self.connections[-1].closed,
            timeout, f"Socket Mode connection #{count}")
        return self.connections[-1]

    # ------------------------------------------------------------------ internals

    def _live(self) -> SocketConnection | None:
        return next((c for c in reversed(self.connections) if not c.closed), None)

    async def _send(self, envelope: Envelope, timeout: float) -> None:  # noqa: ASYNC109
        """On the newest open connection; a connection that fails mid-send is given up and the
        envelope waits for the next one."""
        while True:
            await self._wait(lambda: self._live() is not None, timeout,
                             f"an open connection for envelope {envelope.envelope_id}")
            connection = self._live()
            assert connection is not None
            try:
                await connection.ws.send_json(envelope.wire())
            except (ConnectionError, RuntimeError):
                await self._mark_closed(connection)
                continue
            connection.sent.append(envelope)
            return

    async def _wait(self, ready: Callable[[], bool], timeout: float,  # noqa: ASYNC109
                    what: str) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(ready)
        except TimeoutError:
            opened = len(self.slack.calls("apps.connections.open"))
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; connections: "
                f"{[(c.number, 'closed' if c.closed else 'open') for c in self.connections]}, "
                f"apps.connections.open calls: {opened}") from None

    async def _mark_closed(self, connection: SocketConnection) -> None:
        connection.closed = True
        async with self._changed:
            self._changed.notify_all()

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = SocketConnection(next(self._numbers), request, ws)
        await ws.send_json({
            "type": "hello",
            "num_connections": sum(not c.closed for c in self.connections) + 1,
            "debug_info": {"host": self.host, "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.slack.app_id},
        })
        self.connections.append(connection)
        async with self._changed:
            self._changed.notify_all()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._record_ack(connection, message.data)
        finally:
            await self._mark_closed(connection)
        return ws

    async def _record_ack(self, connection: SocketConnection, data: str) -> None:
        try:
            raw = json.loads(data)
        except ValueError:
            raw = None
        if not isinstance(raw, dict) or "envelope_id" not in raw:
            self.strays.append(data)
            return
        payload = raw.get("payload")
        self._acks.append(Ack(str(raw["envelope_id"]), payload if isinstance(payload, dict)
                              else None, connection.number, raw))
        async with self._changed:
            self._changed.notify_all()


class SocketRequester(SlackRequester):
    """Slack's requests (`SlackRequester`'s builders) delivered over a `FakeSocketMode` socket.

    The reply is the envelope's first ack: status 200 and the ack's payload as the body, which
    is how a view_submission's `response_action` comes back. No open connection or no ack
    within `deadline` seconds fails the test (bolt sends no ack for a request no listener
    took)."""

    def __init__(self, socket: FakeSocketMode, *, deadline: float = 5.0,
                 **identity: Any) -> None:
        super().__init__(socket.base_url, "", **identity)
        self.socket = socket
        self.deadline = deadline

    async def post_form(self, fields: Mapping[str, str]) -> BoltReply:
        if "payload" in fields:
            interaction = json.loads(fields["payload"])
            return await self._request(await self.socket.deliver(
                "interactive", interaction, timeout=self.deadline))
        return await self._request(await self.socket.deliver(
            "slash_commands", dict(fields), timeout=self.deadline))

    async def post_json(self, body: JSON, headers: Mapping[str, str] | None = None) -> BoltReply:
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        retry = sent.get("x-slack-retry-num")
        envelope = await self.socket.deliver(
            "events_api", body, retry_attempt=int(retry) if retry is not None else None,
            retry_reason=sent.get("x-slack-retry-reason"), timeout=self.deadline)
        return await self._request(envelope)

    async def raw(
        self, body: str | bytes, headers: Mapping[str, str] | None = None, *, signed: bool = True
    ) -> BoltReply:
        raise NotImplementedError("Socket Mode carries envelopes, not raw HTTP bodies")

    async def _request(self, envelope: Envelope) -> BoltReply:
        copies = len(self.socket.sent(envelope.envelope_id))
        acks = await self.socket.wait_acks(envelope.envelope_id, count=copies,
                                           timeout=self.deadline)
        first = acks[0]
        text = json.dumps(first.payload) if first.payload is not None else ""
        return BoltReply(200, {}, text)
