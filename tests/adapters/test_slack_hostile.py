"""Garbage sent to the real bolt app, signed as Slack would sign it: malformed payloads,
wrong types, missing fields, forged values and a huge body each get a clear answer, and none
of them stores anything or takes the process down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from adapters.slack import blocks as ui
from core.storage.tables import DraftRow, TicketRow
from tests.adapters.slack_harness import RunningDesk, form_state, running_desk


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[RunningDesk]:
    async with running_desk(tmp_path) as running:
        yield running


async def stored(h: RunningDesk) -> tuple[int, int]:
    async with h.core.db.read() as s:
        tickets = await s.scalar(select(func.count()).select_from(TicketRow))
        drafts = await s.scalar(select(func.count()).select_from(DraftRow))
    return int(tickets or 0), int(drafts or 0)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "body",
    [
        "payload=%7Bnot+json",  # payload that is not JSON
        "payload=" + json.dumps([1, 2, 3]),  # JSON of the wrong shape
        urlencode({"payload": json.dumps({"type": "view_submission"})}),  # no view, no user
        urlencode({"payload": json.dumps({"type": "block_actions", "actions": "oops"})}),
        "command=%2Fsupport",  # a slash command without user or team
        "",
    ],
)
async def test_malformed_signed_payloads_are_answered_and_store_nothing(
    desk: RunningDesk, body: str
) -> None:
    reply = await desk.requester.raw(body, FORM)
    assert reply.status < 500, reply.text
    assert await stored(desk) == (0, 0)
    # and the app still works afterwards
    assert (await desk.requester.slash_command("/support", "help")).status == 200


async def test_a_huge_body_is_refused_without_work(desk: RunningDesk) -> None:
    reply = await desk.requester.raw("payload=" + "x" * (12 * 1024 * 1024), FORM)
    assert reply.status in (400, 401, 413), reply.status
    assert await stored(desk) == (0, 0)


async def test_an_unknown_category_value_is_a_field_error(desk: RunningDesk) -> None:
    reply = await desk.submit(form_state(category="Refunds'); DROP TABLE tickets;--"))
    assert reply.body.get("response_action") == "errors", reply.text
    assert ui.CATEGORY_BLOCK in reply.body["errors"]
    assert await stored(desk) == (0, 0)


async def test_wrong_types_in_the_form_state_get_field_errors(desk: RunningDesk) -> None:
    state = form_state()
    state[ui.SUBJECT_BLOCK][ui.INPUT_ACTION] = {"type": "plain_text_input", "value": 12345}
    state[ui.MESSAGE_BLOCK][ui.INPUT_ACTION] = {"type": "plain_text_input", "value": None}
    reply = await desk.submit(state)
    assert reply.status == 200, reply.text
    assert reply.body.get("response_action") == "errors", reply.text
    assert await stored(desk) == (0, 0)


async def test_missing_blocks_in_the_form_state_get_field_errors(desk: RunningDesk) -> None:
    state = form_state()
    del state[ui.SUBJECT_BLOCK]
    del state[ui.MESSAGE_BLOCK]
    reply = await desk.submit(state)
    assert reply.body.get("response_action") == "errors", reply.text
    assert set(reply.body["errors"]) >= {ui.SUBJECT_BLOCK, ui.MESSAGE_BLOCK}
    assert await stored(desk) == (0, 0)
