"""The Slack test harness, proven against the real slack-bolt AsyncApp and slack_sdk client.

A small bolt app is served for real over HTTP on 127.0.0.1, receives signed requests from
`SlackRequester`, and calls `FakeSlack` through `AsyncWebClient`; the tests assert on what
the fake recorded. If these pass, the adapter's end-to-end tests can trust the harness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import (
    DOWNLOAD,
    RESPONSE_URL,
    UPLOAD,
    FakeSlack,
    new_trigger_id,
)
from tests.fakes.slack_requests import (
    SlackRequester,
    app_home_opened_event,
    file_input_value,
    message_event,
    plain_text_value,
    sign,
)
from tests.fakes.slack_socket import FakeSocketMode

SIGNING_SECRET = "test-signing-secret"
STAFF_CHANNEL = "C0STAFF001"

SUPPORT_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "support_form",
    "title": {"type": "plain_text", "text": "Contact support"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "summary",
            "label": {"type": "plain_text", "text": "What happened?"},
            "element": {
                "type": "plain_text_input",
                "action_id": "summary_input",
                "max_length": 3000,
            },
        },
        {
            "type": "input",
            "block_id": "attachments",
            "optional": True,
            "label": {"type": "plain_text", "text": "Screenshots"},
            "element": {"type": "file_input", "action_id": "files_input", "max_files": 3},
        },
    ],
}


@dataclass
class Observed:
    """What the test app's listeners saw, and a gate a slow listener waits on."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    retry_nums: list[str | None] = field(default_factory=list)
    submitted_files: list[dict[str, Any]] = field(default_factory=list)
    lazy_done: asyncio.Event = field(default_factory=asyncio.Event)


def build_app(slack: FakeSlack, observed: Observed) -> AsyncApp:
    """A bolt app with one listener per interaction kind the Slack adapter handles."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET)

    @app.command("/support")
    async def open_support_form(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=SUPPORT_MODAL)

    @app.command("/slow")
    async def slow_command(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await observed.gate.wait()
        await client.chat_postMessage(channel=body["channel_id"], text="done")

    async def ack_lazy(ack: Any) -> None:
        await ack("working on it")

    async def lazy_work(body: dict[str, Any], client: AsyncWebClient) -> None:
        await client.chat_postMessage(channel=body["channel_id"], text="lazy result")
        observed.lazy_done.set()

    app.command("/lazy")(ack=ack_lazy, lazy=[lazy_work])

    @app.command("/reply")
    async def reply_via_response_url(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="only you can see this", response_type="ephemeral")

    @app.view("support_form")
    async def submit_support_form(ack: Any, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        summary = values["summary"]["summary_input"]["value"]
        files = values.get("attachments", {}).get("files_input", {}).get("files", [])
        observed.submitted_files.extend(files)
        if not summary:
            await ack(response_action="errors", errors={"summary": "Please describe the problem."})
            return
        await ack(
            response_action="update",
            view={
                "type": "modal",
                "title": {"type": "plain_text", "text": "Thanks"},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sent."}}],
            },
        )

    @app.event("message")
    async def relay_thread_reply(
        event: dict[str, Any], client: AsyncWebClient, request: Any
    ) -> None:
        observed.retry_nums.append(request.headers.get("x-slack-retry-num", [None])[0])
        if "thread_ts" in event:
            await client.chat_postMessage(
                channel=event["channel"], thread_ts=event["thread_ts"], text=f"Got: {event['text']}"
            )

    @app.action("close_ticket")
    async def close_ticket(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text="Closed", blocks=[]
        )
        await client.reactions_add(
            channel=body["channel"]["id"], timestamp=body["message"]["ts"], name="white_check_mark"
        )

    @app.action("refresh_home")
    async def refresh_home(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_update(
            view_id=body["view"]["id"],
            hash=body["view"]["hash"],
            view={"type": "home", "blocks": [{"type": "divider"}]},
        )

    @app.shortcut("new_ticket")
    async def new_ticket(ack: Any, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=shortcut["trigger_id"], view=SUPPORT_MODAL)

    @app.shortcut("ticket_from_message")
    async def ticket_from_message(
        ack: Any, shortcut: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        view = {**SUPPORT_MODAL, "private_metadata": shortcut["message"]["ts"]}
        await client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    @app.event("app_home_opened")
    async def publish_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your tickets"}}],
            },
        )

    return app


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def observed() -> Observed:
    return Observed()


@pytest.fixture
async def requester(slack: FakeSlack, observed: Observed) -> AsyncIterator[SlackRequester]:
    app = build_app(slack, observed)
    server = TestServer(app.web_app(path="/slack/events"), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/slack/events"))
    try:
        async with SlackRequester(url, SIGNING_SECRET, response_url_base=slack.hooks_url) as req:
            yield req
    finally:
        observed.gate.set()
        await server.close()


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


# ---------------------------------------------------------------------- bolt over real HTTP


async def test_support_command_is_acked_and_opens_the_modal_with_its_trigger(
    slack: FakeSlack, requester: SlackRequester
) -> None:
    trigger = requester.new_trigger_id()

    reply = await requester.slash_command("/support", "printer on fire", trigger_id=trigger)

    assert (reply.status, reply.text) == (200, "")
    [opened] = await slack.wait_for("views.open")
    assert opened.ok
    assert opened.token == "xoxb-test"
    assert opened.args["trigger_id"] == trigger
    assert opened.args["view"]["callback_id"] == "support_form"
    assert opened.headers["Content-Type"].startswith("application/json")
    view_id = opened.response["view"]["id"] if opened.response else ""
    assert slack.view(view_id)["blocks"][0]["block_id"] == "summary"
    assert [c.method for c in slack.calls()] == ["auth.test", "views.open"]


async def test_ack_answers_slack_before_the_listener_finishes(
    slack: FakeSlack, requester: SlackRequester, observed: Observed
) -> None:
    reply = await requester.slash_command("/slow", channel_id=STAFF_CHANNEL)

    assert reply.status == 200
    assert slack.calls("chat.postMessage") == []
    observed.gate.set()
    [posted] = await slack.wait_for("chat.postMessage")
    assert posted.args["text"] == "done"


async def test_lazy_listener_runs_after_the_ack_text_is_returned(
    slack: FakeSlack, requester: SlackRequester, observed: Observed
) -> None:
    reply = await requester.slash_command("/lazy", channel_id=STAFF_CHANNEL)

    assert (reply.status, reply.text) == (200, "working on it")
    [posted] = await slack.wait_for("chat.postMessage")
    assert posted.args["text"] == "lazy result"
    await asyncio.wait_for(observed.lazy_done.wait(), 5)


async def test_respond_posts_to_the_response_url_hosted_by_the_fake(
    slack: FakeSlack, requester: SlackRequester
) -> None:
    await requester.slash_command("/reply")

    [hook] = await slack.wait_for(RESPONSE_URL)
    assert hook.args["text"] == "only you can see this"
    assert hook.args["response_type"] == "ephemeral"
    assert hook.args["url_path"].startswith("/hooks/commands/")


async def test_view_submission_errors_come_back_in_the_http_response(
    slack: FakeSlack, requester: SlackRequester
) -> None:
    reply = await requester.view_submission(
        "support_form", {"summary": {"summary_input": plain_text_value(None)}}
    )

    assert reply.status == 200
    assert reply.body == {
        "response_action": "errors",
        "errors": {"summary": "Please describe the problem."},
    }


async def test_view_submission_update_returns_the_new_view_and_carries_file_objects(
    slack: FakeSlack, requester: SlackRequester, observed: Observed
) -> None:
    screenshot = slack.add_file(b"\x89PNG fake", "screen.png", "image/png")
    await requester.slash_command("/support")
    [opened] = await slack.wait_for("views.open")
    assert opened.response is not None
    modal = slack.view(opened.response["view"]["id"])

    reply = await requester.view_submission(
        "support_form",
        {
            "summary": {"summary_input": plain_text_value("It broke")},
            "attachments": {"files_input": file_input_value([screenshot])},
        },
        view=modal,
    )

    assert reply.body["response_action"] == "update"
    assert reply.body["view"]["title"]["text"] == "Thanks"
    assert [f["id"] for f in observed.submitted_files] == [screenshot["id"]]


async def test_thread_message_event_gets_a_reply_in_the_same_thread(
    slack: FakeSlack, requester: SlackRequester, client: AsyncWebClient
) -> None:
    card = await client.chat_postMessage(channel=STAFF_CHANNEL, text="Ticket #1")
    staff_reply = slack.add_message(
        STAFF_CHANNEL, "Have you tried turning it off?", user="U0STAFF01", thread_ts=card["ts"]
    )

    reply = await requester.event(
        message_event(
            staff_reply["text"],
            channel=STAFF_CHANNEL,
            user="U0STAFF01",
            ts=staff_reply["ts"],
            thread_ts=card["ts"],
        )
    )

    assert reply.status == 200
    [_, relayed] = await slack.wait_for("chat.postMessage", count=2)
    assert relayed.args["thread_ts"] == card["ts"]
    assert relayed.args["channel"] == STAFF_CHANNEL
    thread = await client.conversations_replies(channel=STAFF_CHANNEL, ts=card["ts"])
    assert [m["text"] for m in thread["messages"]] == [
        "Ticket #1",
        "Have you tried turning it off?",
        "Got: Have you tried turning it off?",
    ]
    assert thread["messages"][0]["reply_count"] == 2


async def test_a_retried_event_is_delivered_again_with_retry_headers(
    slack: FakeSlack, requester: SlackRequester, observed: Observed
) -> None:
    event = message_event("hello", channel=STAFF_CHANNEL, ts="1710000000.000100", thread_ts="1")

    await requester.event(event, event_id="Ev0RETRY01")
    await requester.event(event, event_id="Ev0RETRY01", retry_num=1, retry_reason="http_timeout")

    await slack.wait_for("chat.postMessage", count=2)
    assert sorted(observed.retry_nums, key=str) == ["1", None]


async def test_block_action_on_a_card_updates_it_and_reacts(
    slack: FakeSlack, requester: SlackRequester, client: AsyncWebClient
) -> None:
    card = await client.chat_postMessage(
        channel=STAFF_CHANNEL,
        text="Ticket #2",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Ticket #2"}}],
    )

    reply = await requester.block_action(
        "close_ticket",
        "ticket-2",
        message=slack.message(STAFF_CHANNEL, card["ts"]),
        channel_id=STAFF_CHANNEL,
    )

    assert reply.status == 200
    [updated] = await slack.wait_for("chat.update")
    assert updated.ok
    await slack.wait_for("reactions.add")
    stored = slack.message(STAFF_CHANNEL, card["ts"])
    assert stored["text"] == "Closed"
    assert stored["reactions"] == [
        {"name": "white_check_mark", "users": [slack.bot_user_id], "count": 1}
    ]


async def test_app_home_opened_publishes_and_a_home_button_updates_it(
    slack: FakeSlack, requester: SlackRequester
) -> None:
    await requester.event(app_home_opened_event("U0CUSTOMER"))
    [published] = await slack.wait_for("views.publish")
    assert published.args["user_id"] == "U0CUSTOMER"
    home = slack.home_view("U0CUSTOMER")
    assert home is not None and home["type"] == "home"

    await requester.block_action("refresh_home", view=home)

    [updated] = await slack.wait_for("views.update")
    assert updated.ok
    assert slack.view(home["id"])["blocks"] == [{"type": "divider"}]


async def test_global_and_message_shortcuts_open_modals(
    slack: FakeSlack, requester: SlackRequester, client: AsyncWebClient
) -> None:
    original = slack.add_message("C0GENERAL1", "my invoice is wrong")

    assert (await requester.shortcut("new_ticket")).status == 200
    assert (
        await requester.message_shortcut("ticket_from_message", original, "C0GENERAL1")
    ).status == 200

    opened = await slack.wait_for("views.open", count=2)
    assert all(c.ok for c in opened)
    metadata = sorted(c.args["view"].get("private_metadata", "") for c in opened)
    assert metadata == ["", original["ts"]]


async def test_bad_or_stale_signatures_are_rejected_before_any_listener_runs(
    slack: FakeSlack, requester: SlackRequester
) -> None:
    wrong_secret = await requester.with_signing(secret="not-the-secret").slash_command("/support")
    too_old = await requester.with_signing(clock_skew=-301).slash_command("/support")
    unsigned = await requester.raw("command=%2Fsupport", signed=False)
    ts = str(int(time.time()))
    forged = await requester.raw(
        "command=%2Fsupport&text=x",
        {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, "command=%2Fsupport&text=y"),
        },
    )

    assert [r.status for r in (wrong_secret, too_old, unsigned, forged)] == [401] * 4
    assert slack.calls() == []


# ---------------------------------------------------------------------- Web API fake directly


async def test_rate_limit_is_visible_to_the_caller_and_the_retry_is_delivered_once(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    """slack_sdk's default retry handlers (connection errors only) do not retry a 429.

    It raises `SlackApiError`; `e.response.status_code == 429`, the header is
    `e.response.headers["Retry-After"]` (aiohttp's case-insensitive mapping, a str of
    seconds) and `e.response["error"] == "ratelimited"`. The outbox reads those.
    """
    slack.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=STAFF_CHANNEL, text="card")
    response = raised.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["retry-after"] == "7"
    assert response["error"] == "ratelimited"

    await client.chat_postMessage(channel=STAFF_CHANNEL, text="card")
    assert [c.outcome for c in slack.calls("chat.postMessage")] == ["http:429", "ok"]
    assert [m["text"] for m in slack.messages(STAFF_CHANNEL)] == ["card"]


async def test_server_errors_and_error_answers_raise_with_their_codes(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.fail_next("chat.update", status=500, retry_after=None)
    slack.error_next("chat.postMessage", "channel_not_found")

    with pytest.raises(SlackApiError) as server_error:
        await client.chat_update(channel=STAFF_CHANNEL, ts="1.0", text="x")
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel=STAFF_CHANNEL, text="x")

    assert server_error.value.response.status_code == 500
    assert "Retry-After" not in server_error.value.response.headers
    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == "channel_not_found"
    assert [c.outcome for c in slack.calls()] == ["http:500", "error:channel_not_found"]


async def test_a_single_connection_cut_is_retried_once_by_slack_sdk(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.cut_next("chat.postMessage", times=1)
    await client.chat_postMessage(channel=STAFF_CHANNEL, text="survives one cut")

    slack.cut_next("chat.postMessage", times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel=STAFF_CHANNEL, text="lost")

    outcomes = [c.outcome for c in slack.calls("chat.postMessage")]
    assert outcomes == ["cut", "ok", "cut", "cut"]
    assert [m["text"] for m in slack.messages(STAFF_CHANNEL)] == ["survives one cut"]


async def test_a_hung_call_waits_until_released(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.hang_next("chat.postMessage")
    pending = asyncio.create_task(client.chat_postMessage(channel=STAFF_CHANNEL, text="slow"))

    [hung] = await slack.wait_for("chat.postMessage")
    assert hung.outcome == "hang"
    assert not pending.done()
    assert slack.release() == 1

    response = await pending
    assert response["message"]["text"] == "slow"


async def test_a_hung_call_times_out_on_the_client(slack: FakeSlack) -> None:
    impatient = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, timeout=0.2)  # type: ignore[arg-type]
    slack.hang_next("chat.postMessage")

    with pytest.raises(TimeoutError):
        await impatient.chat_postMessage(channel=STAFF_CHANNEL, text="never")
    assert slack.messages(STAFF_CHANNEL) == []


async def test_files_upload_v2_stores_the_bytes_and_shares_them(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    data = b"%PDF-1.7 fake report"

    result = await client.files_upload_v2(
        channel=STAFF_CHANNEL, content=data, filename="report.pdf", title="Report",
        initial_comment="attached",
    )  # fmt: skip

    file_id = result["file"]["id"]
    assert slack.file_bytes(file_id) == data
    assert slack.file(file_id)["title"] == "Report"
    assert slack.file(file_id)["mimetype"] == "application/pdf"
    assert [c.method for c in slack.calls()] == [
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]
    [shared] = slack.messages(STAFF_CHANNEL)
    assert shared["text"] == "attached"
    assert [f["id"] for f in shared["files"]] == [file_id]
    info = await client.files_info(file=file_id)
    assert info["file"]["size"] == len(data)


async def test_hosted_file_downloads_only_with_the_bot_token(slack: FakeSlack) -> None:
    data = b"\x89PNG\r\n\x1a\n pixels"
    obj = slack.add_file(data, "screen.png", "image/png")
    url = obj["url_private_download"]
    assert url.startswith(slack.base_url)
    assert (obj["filetype"], obj["size"]) == ("png", len(data))

    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": "Bearer xoxb-test"}) as ok:
            assert (ok.status, ok.content_type, await ok.read()) == (200, "image/png", data)
        async with http.get(url) as anonymous:
            assert anonymous.status == 403
        async with http.get(url, headers={"Authorization": "Bearer xoxb-wrong"}) as wrong:
            assert wrong.status == 403

    assert [c.outcome for c in slack.calls(DOWNLOAD)] == ["ok", "http:403", "http:403"]


async def test_login_page_mode_mimics_slack_answering_200_html_without_a_token() -> None:
    async with FakeSlack(download_denial="login_page") as slack:
        obj = slack.add_file(b"data", "notes.txt", "text/plain")
        async with aiohttp.ClientSession() as http, http.get(obj["url_private"]) as denied:
            assert (denied.status, denied.content_type) == (200, "text/html")


async def test_trigger_ids_work_once_and_expire(slack: FakeSlack, client: AsyncWebClient) -> None:
    trigger = new_trigger_id()
    await client.views_open(trigger_id=trigger, view=SUPPORT_MODAL)

    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        await client.views_open(trigger_id=trigger, view=SUPPORT_MODAL)
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await client.views_open(trigger_id=new_trigger_id(time.time() - 4), view=SUPPORT_MODAL)


async def test_views_over_slack_limits_are_refused_like_slack_does(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    too_long_title = {**SUPPORT_MODAL, "title": {"type": "plain_text", "text": "x" * 25}}

    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=new_trigger_id(), view=too_long_title)

    assert raised.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in raised.value.response["response_metadata"]["messages"][0]


async def test_directory_lookups_answer_what_the_test_configured(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.add_user("U0ALICE01", name="alice", real_name="Alice Liddell", display_name="ali")
    slack.set_usergroup("S0STAFF01", ["U0ALICE01", "U0BOB0001"])
    slack.add_channel(STAFF_CHANNEL, name="support-staff", is_private=True, members=["U0ALICE01"])

    user = await client.users_info(user="U0ALICE01")
    group = await client.usergroups_users_list(usergroup="S0STAFF01")
    info = await client.conversations_info(channel=STAFF_CHANNEL)
    members = await client.conversations_members(channel=STAFF_CHANNEL)
    first = await client.conversations_open(users="U0ALICE01")
    again = await client.conversations_open(users=["U0ALICE01"])

    assert user["user"]["profile"]["display_name"] == "ali"
    assert user["user"]["real_name"] == "Alice Liddell"
    assert group["users"] == ["U0ALICE01", "U0BOB0001"]
    assert (info["channel"]["name"], info["channel"]["is_private"]) == ("support-staff", True)
    assert members["members"] == ["U0ALICE01"]
    assert first["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == first["channel"]["id"]
    assert again["already_open"] is True


async def test_messages_get_increasing_ts_permalinks_and_ephemerals(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel=STAFF_CHANNEL, text="one")
    second = await client.chat_postMessage(channel=STAFF_CHANNEL, text="two", thread_ts=first["ts"])
    ephemeral = await client.chat_postEphemeral(channel=STAFF_CHANNEL, user="U0X", text="psst")
    link = await client.chat_getPermalink(channel=STAFF_CHANNEL, message_ts=second["ts"])
    dm = await client.chat_postMessage(channel="U0CUSTOMER", text="to the user")

    assert float(first["ts"]) < float(second["ts"]) < float(ephemeral["message_ts"])
    assert second["message"]["thread_ts"] == first["ts"]
    assert link["permalink"].endswith(f"?thread_ts={first['ts']}&cid={STAFF_CHANNEL}")
    assert dm["channel"] == slack.dm_channel("U0CUSTOMER")
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel=STAFF_CHANNEL, ts="1.000000", text="x")


async def test_unknown_methods_and_wrong_tokens_are_refused_and_recorded(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    stranger = AsyncWebClient(token="xoxb-someone-else", base_url=slack.api_url)

    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("pins.add", params={"channel": STAFF_CHANNEL})
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await stranger.auth_test()

    assert [c.outcome for c in slack.calls()] == ["error:unknown_method", "error:invalid_auth"]


async def test_oauth_v2_access_trades_an_approved_code_once_for_a_bot_token_that_works(
    slack: FakeSlack,
) -> None:
    authorize_url = (f"https://slack.com/oauth/v2/authorize?state=s1&client_id={slack.client_id}"
                     "&scope=commands,chat:write&user_scope=")
    anonymous = AsyncWebClient(base_url=slack.api_url)
    credentials = {"client_id": slack.client_id, "client_secret": slack.client_secret}
    code = slack.authorize(authorize_url, installer="U0INSTALLER")

    answer = await anonymous.oauth_v2_access(**credentials, code=code)
    as_form_fields = await anonymous.api_call(
        "oauth.v2.access", data={**credentials, "code": slack.authorize(authorize_url)})
    installed = AsyncWebClient(token=answer["access_token"], base_url=slack.api_url)
    whoami = await installed.auth_test()

    assert answer.data == {
        "ok": True, "access_token": answer["access_token"], "token_type": "bot",
        "scope": "commands,chat:write", "bot_user_id": slack.bot_user_id,
        "app_id": slack.app_id, "team": {"id": slack.team_id, "name": slack.team_name},
        "enterprise": None, "authed_user": {"id": "U0INSTALLER"},
        "is_enterprise_install": False,
    }
    assert answer["access_token"].startswith("xoxb-")
    assert answer["access_token"] != slack.bot_token and whoami["team_id"] == slack.team_id
    assert as_form_fields["ok"] is True
    refused = {
        "invalid_code": {**credentials, "code": code},  # already used
        "bad_client_secret": {**credentials, "client_secret": "wrong",
                              "code": slack.authorize(authorize_url)},
        "invalid_client_id": {**credentials, "client_id": "9999.9999",
                              "code": slack.authorize(authorize_url)},
    }
    for error, args in refused.items():
        with pytest.raises(SlackApiError, match=error):
            await anonymous.oauth_v2_access(**args)
    with pytest.raises(ValueError, match="client_id"):
        slack.authorize(authorize_url.replace(slack.client_id, "9999.9999"))


async def test_apps_connections_open_takes_only_the_app_token_and_each_url_works_once(
    slack: FakeSlack,
) -> None:
    anonymous = AsyncWebClient(base_url=slack.api_url)
    with pytest.raises(SlackApiError, match="unknown_method"):
        await anonymous.apps_connections_open(app_token=slack.app_token)

    async with FakeSocketMode(slack) as socket, aiohttp.ClientSession() as http:
        opened = await anonymous.apps_connections_open(app_token=slack.app_token)
        async with http.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json()
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(opened["url"])
        with pytest.raises(SlackApiError, match="not_allowed_token_type"):
            await anonymous.apps_connections_open(app_token=str(slack.bot_token))
        with pytest.raises(SlackApiError, match="invalid_auth"):
            await anonymous.apps_connections_open(app_token="xapp-1-A0OTHER-1-other")

    assert opened["url"].startswith(f"{socket.base_url}/link/?ticket=")
    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": slack.app_id}


async def test_wait_for_times_out_listing_the_calls_it_saw(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    await client.auth_test()

    with pytest.raises(AssertionError, match=r"(?s)chat\.update.*#1 auth\.test \[ok\]"):
        await slack.wait_for("chat.update", timeout=0.05)
