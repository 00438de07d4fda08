"""Socket Mode end to end: Helpline started with SLACK_APP_TOKEN opens its connection through
`apps.connections.open` (app-level token), receives Slack's requests as envelopes over the
WebSocket of a `FakeSocketMode`, and acks each one there; what it does in Slack still goes to
`FakeSlack`'s Web API with the bot token.

Same harness as test_slack_intake, with ``socket_mode=True``: the adapter from
`create_slack_adapter`, bolt's aiohttp Socket Mode handler, the real delivery worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.slack import blocks as ui
from bot.config_file import ConfigError
from tests.adapters.slack_harness import (
    CUSTOMER,
    STAFF_CHANNEL,
    STAFF_USER,
    RunningDesk,
    Ticket,
    running_desk,
    section_text,
)
from tests.fakes.slack_socket import FakeSocketMode, SocketRequester


def socket_of(h: RunningDesk) -> FakeSocketMode:
    assert h.socket is not None
    return h.socket


async def staff_says(h: RunningDesk, ticket: Ticket, text: str) -> dict[str, object]:
    return await h.say(STAFF_CHANNEL, text, user=STAFF_USER, thread_ts=ticket.card_ts)


def relays(h: RunningDesk, ticket: Ticket, text: str) -> list[dict[str, object]]:
    """The customer's thread messages that carry ``text``."""
    return [m for m in h.thread(ticket.dm_channel, ticket.customer_thread)
            if text in section_text(m)]


async def test_support_command_over_the_socket_is_acked_and_opens_the_form(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)

        view = await h.open_form()

        [opened] = h.slack.calls("apps.connections.open")
        assert opened.token == h.slack.app_token
        [command] = socket.envelopes("slash_commands")
        assert command.payload["command"] == "/support"
        [ack] = socket.acks(command.envelope_id)
        assert (ack.payload, ack.connection) == (None, 1)
        [views_open] = h.slack.calls("views.open")
        assert views_open.args["trigger_id"] == command.payload["trigger_id"]
        assert view["callback_id"] == ui.INTAKE_CALLBACK
        web_api = [c for c in h.slack.calls() if c.method != "apps.connections.open"]
        assert {c.token for c in web_api} == {h.slack.bot_token}
        assert socket.strays == []


async def test_the_command_is_acked_while_the_form_is_still_opening(tmp_path: Path) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)
        h.slack.hang_next("views.open")

        reply = await h.requester.slash_command("/support", "new")

        [held] = await h.slack.wait_for("views.open")
        assert held.outcome == "hang"
        assert (reply.status, reply.text) == (200, "")
        [command] = socket.envelopes("slash_commands")
        assert len(socket.acks(command.envelope_id)) == 1
        h.slack.release()


async def test_view_submission_over_the_socket_files_the_ticket_and_acks_the_response_action(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)

        ticket = await h.file_ticket()

        [submission] = socket.envelopes("interactive")
        assert submission.payload["type"] == "view_submission"
        [ack] = socket.acks(submission.envelope_id)
        assert ack.payload is not None
        assert ack.payload["response_action"] == "update"
        assert ack.payload["view"]["title"]["text"] == f"Ticket #{ticket.id}"
        assert await h.core.desk.count_tickets() == 1
        assert h.card(ticket.id)["ts"] == ticket.card_ts


async def test_thread_messages_over_the_socket_are_acked_and_relayed_both_ways(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)
        ticket = await h.file_ticket()

        said = await staff_says(h, ticket, "Refund issued.")
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "Refund issued.")
        await h.say(ticket.dm_channel, "Thanks, got it.", user=CUSTOMER,
                    thread_ts=ticket.customer_thread)
        await h.wait_post(STAFF_CHANNEL, ticket.card_ts, "Thanks, got it.")

        staff_event, customer_event = socket.envelopes("events_api")
        assert staff_event.payload["event"]["ts"] == said["ts"]
        assert [a.payload for e in (staff_event, customer_event)
                for a in socket.acks(e.envelope_id)] == [None, None]


async def test_an_envelope_slack_delivers_twice_files_one_ticket_and_relays_once(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)

        socket.redeliver_next("interactive")
        ticket = await h.file_ticket()
        socket.redeliver_next("events_api")
        await staff_says(h, ticket, "Refund issued.")
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "Refund issued.")
        [event] = socket.envelopes("events_api")
        await socket.redeliver(event)  # once more, after the relay went out
        await socket.wait_acks(event.envelope_id, count=3)
        await h.drain()

        [submission] = socket.envelopes("interactive")
        acks = await socket.wait_acks(submission.envelope_id, count=2)
        assert [a.payload and a.payload["view"]["title"]["text"] for a in acks] == [
            f"Ticket #{ticket.id}"] * 2
        assert await h.core.desk.count_tickets() == 1
        assert len(h.cards()) == 1
        assert len(relays(h, ticket, "Refund issued.")) == 1
        detail = await h.core.desk.ticket_detail(ticket.id)
        assert [m.body for m in detail.messages].count("Refund issued.") == 1


async def test_a_connection_slack_closes_is_reopened_and_the_next_envelope_arrives_there(
    tmp_path: Path,
) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)
        await socket.wait_connections(1)

        dropped = await socket.drop()
        view = await h.open_form()  # sent while the app reconnects: Slack holds it

        assert dropped.number == 1
        assert [c.token for c in h.slack.calls("apps.connections.open")] == [
            h.slack.app_token] * 2
        [command] = socket.envelopes("slash_commands")
        assert [number for number, _ in socket.sent(command.envelope_id)] == [2]
        assert [a.connection for a in socket.acks(command.envelope_id)] == [2]
        assert view["callback_id"] == ui.INTAKE_CALLBACK


async def test_a_connection_cut_without_a_close_is_reopened_and_loses_no_envelope(
    tmp_path: Path,
) -> None:
    """The client notices a silent cut at its next connection check: bolt's Socket Mode
    handler checks every 10 s, so this test takes about that long."""
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)
        assert isinstance(h.requester, SocketRequester)
        ticket = await h.file_ticket()

        await socket.cut()
        h.requester.deadline = 30.0
        await staff_says(h, ticket, "Refund issued.")  # held until the app is back
        await h.wait_post(ticket.dm_channel, ticket.customer_thread, "Refund issued.")

        assert len(h.slack.calls("apps.connections.open")) == 2
        [event] = socket.envelopes("events_api")
        assert [number for number, _ in socket.sent(event.envelope_id)] == [2]
        assert len(relays(h, ticket, "Refund issued.")) == 1


async def test_slacks_refresh_request_moves_the_app_to_a_new_connection(tmp_path: Path) -> None:
    async with running_desk(tmp_path, socket_mode=True) as h:
        socket = socket_of(h)
        await socket.wait_connections(1)

        await socket.disconnect("refresh_requested")
        await socket.wait_connections(2)
        view = await h.open_form()

        assert len(h.slack.calls("apps.connections.open")) == 2
        [command] = socket.envelopes("slash_commands")
        assert [a.connection for a in socket.acks(command.envelope_id)] == [2]
        assert view["callback_id"] == ui.INTAKE_CALLBACK


async def test_a_refused_app_token_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN.*invalid_auth"):
        async with running_desk(tmp_path, socket_mode=True,
                                settings={"slack_app_token": "xapp-1-not-this-app"}):
            pass
