"""Signed requests to a running bolt app, shaped like the ones Slack sends.

`SlackRequester` plays Slack's side of the Events API and interactivity: it POSTs to the
app's `/slack/events` URL over real HTTP, with `X-Slack-Signature` / `X-Slack-Request-Timestamp`
computed from the signing secret, and bodies in Slack's wire formats:

- slash commands: `application/x-www-form-urlencoded` fields (`command`, `text`, `trigger_id`…);
- interactions (block_actions, view_submission, shortcut, message_action): a form with one
  `payload` field holding the JSON;
- events: a JSON `event_callback` envelope, with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`
  on redeliveries.

Each call returns a `BoltReply` (status, headers, text and the parsed JSON `body`), which is
how a view_submission's `response_action` comes back. Trigger ids are fresh and timestamped
so `FakeSlack` can enforce their single use and 3-second lifetime.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_api import (
    DEFAULT_APP_ID,
    DEFAULT_BOT_USER_ID,
    DEFAULT_TEAM_DOMAIN,
    DEFAULT_TEAM_ID,
    DEFAULT_USER_ID,
    new_trigger_id,
)

JSON = dict[str, Any]

VERIFICATION_TOKEN = "verification-token-deprecated"
"""Slack still sends the deprecated verification `token` field; bolt ignores it."""


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Slack's v0 request signature: `v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{body}`)."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class BoltReply:
    """The app's HTTP answer to one request."""

    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def body(self) -> JSON:
        """The JSON body (`{}` when the app acked with an empty body)."""
        if not self.text:
            return {}
        try:
            parsed = json.loads(self.text)
        except ValueError:
            raise AssertionError(
                f"reply is not JSON (status {self.status}): {self.text!r}"
            ) from None
        if not isinstance(parsed, dict):
            raise AssertionError(f"reply is not a JSON object: {self.text!r}")
        return parsed


# ---------------------------------------------------------------------- state value helpers


def plain_text_value(value: str | None) -> JSON:
    """A plain_text_input's entry in `view.state.values[block_id][action_id]`."""
    return {"type": "plain_text_input", "value": value}


def file_input_value(files: list[JSON]) -> JSON:
    """A file_input's state entry; `files` are file objects, e.g. from `FakeSlack.add_file`."""
    return {"type": "file_input", "files": files}


def static_select_value(value: str | None, text: str | None = None) -> JSON:
    """A static_select's state entry (None = nothing chosen)."""
    selected = (
        None
        if value is None
        else {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}
    )
    return {"type": "static_select", "selected_option": selected}


def radio_buttons_value(value: str | None, text: str | None = None) -> JSON:
    """A radio_buttons element's state entry (None = nothing chosen)."""
    return {**static_select_value(value, text), "type": "radio_buttons"}


def message_event(
    text: str,
    *,
    channel: str,
    user: str = DEFAULT_USER_ID,
    ts: str,
    thread_ts: str | None = None,
    files: list[JSON] | None = None,
    team: str = DEFAULT_TEAM_ID,
) -> JSON:
    """A `message` event as the Events API delivers it for a person's post.

    Pass a message stored with `FakeSlack.add_message` (its ts/thread_ts/files) to keep the
    event consistent with what conversations.replies answers.
    """
    channel_type = {"D": "im", "G": "group"}.get(channel[:1], "channel")
    event: JSON = {
        "type": "message",
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "user": user,
        "ts": ts,
        "team": team,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": secrets.token_hex(2),
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    if files:
        event["files"] = files
        event["upload"] = False
        event["subtype"] = "file_share"
        event["display_as_bot"] = False
    return event


def app_home_opened_event(user: str, *, channel: str = "D0HOME0001", tab: str = "home") -> JSON:
    """The `app_home_opened` event Slack sends when a user opens the app's Home tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


class SlackRequester:
    """Posts signed, Slack-shaped requests to a bolt app at `url` (its `/slack/events`).

    Identity defaults (`team_id`, `user_id`…) match `FakeSlack`'s. `response_url_base` should
    be `FakeSlack.hooks_url` so bolt's `respond()` lands on the fake; the default points at a
    `.invalid` host that never resolves. Use `with_signing()` for a wrong secret or a skewed
    clock, and `raw()` for hostile bodies.
    """

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = DEFAULT_TEAM_DOMAIN,
        api_app_id: str = DEFAULT_APP_ID,
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        user_id: str = DEFAULT_USER_ID,
        response_url_base: str = "https://hooks.slack.invalid/",
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        clock_skew: float = 0.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.user_id = user_id
        self.response_url_base = response_url_base
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._clock_skew = clock_skew
        self._counter = itertools.count(1)

    async def __aenter__(self) -> SlackRequester:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def with_signing(
        self, *, secret: str | None = None, clock_skew: float | None = None
    ) -> SlackRequester:
        """A requester that signs with another secret and/or a clock off by `clock_skew` s.

        Shares this requester's HTTP session; close only the original.
        """
        other = SlackRequester(
            self.url,
            secret if secret is not None else self.signing_secret,
            team_id=self.team_id,
            team_domain=self.team_domain,
            api_app_id=self.api_app_id,
            bot_user_id=self.bot_user_id,
            user_id=self.user_id,
            response_url_base=self.response_url_base,
            session=self._http(),
            clock=self._clock,
            clock_skew=clock_skew if clock_skew is not None else self._clock_skew,
        )
        return other

    # ------------------------------------------------------------------ Slack requests

    async def slash_command(
        self,
        command: str = "/support",
        text: str = "",
        *,
        user_id: str | None = None,
        user_name: str | None = None,
        team_id: str | None = None,
        channel_id: str = "C0GENERAL1",
        channel_name: str = "general",
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> BoltReply:
        """A slash command invocation, form-encoded as Slack sends it."""
        user_id = user_id or self.user_id
        team_id = team_id or self.team_id
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url("commands"),
            "trigger_id": trigger_id or self.new_trigger_id(),
        }
        return await self.post_form(fields)

    async def block_action(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        block_id: str = "actions",
        action: JSON | None = None,
        view: JSON | None = None,
        message: JSON | None = None,
        channel_id: str | None = None,
        container: JSON | None = None,
        state_values: JSON | None = None,
        trigger_id: str | None = None,
    ) -> BoltReply:
        """A `block_actions` interaction: a button click unless `action` says otherwise.

        From a message give `message` (a stored message, e.g. `FakeSlack.message(...)`) and
        `channel_id`; from a modal or the Home tab give `view` (e.g. `FakeSlack.view(id)`).
        `action` overrides the action object (selects, dispatch_action inputs…).
        """
        if (view is None) == (message is None) and container is None:
            raise ValueError("give exactly one of view= or message= (or an explicit container=)")
        act: JSON = {
            "action_id": action_id,
            "block_id": block_id,
            "type": "button",
            "text": {"type": "plain_text", "text": action_id, "emoji": True},
            "action_ts": self._action_ts(),
        }
        if value is not None:
            act["value"] = value
        if action is not None:
            act |= action
        payload: JSON = {
            "type": "block_actions",
            "user": self._user(user_id, team_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": container or {},
            "trigger_id": trigger_id or self.new_trigger_id(),
            "team": self._team(team_id),
            "enterprise": None,
            "is_enterprise_install": False,
            "actions": [act],
        }
        if message is not None:
            if channel_id is None:
                raise ValueError("a block action on a message needs channel_id")
            payload["container"] = container or {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": False,
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            }
            payload["channel"] = {"id": channel_id, "name": f"channel-{channel_id.lower()}"}
            payload["message"] = message
            payload["state"] = {"values": state_values or {}}
            payload["response_url"] = self._response_url("actions")
        if view is not None:
            payload["container"] = container or {"type": "view", "view_id": view["id"]}
            payload["view"] = {**view, "state": {"values": state_values or {}}}
        return await self.post_payload(payload)

    async def view_submission(
        self,
        callback_id: str,
        state_values: JSON,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        private_metadata: str = "",
        view_id: str | None = None,
        view: JSON | None = None,
        trigger_id: str | None = None,
    ) -> BoltReply:
        """A modal submit; `reply.body` holds the app's `response_action` if it sent one.

        Pass `view` (e.g. `FakeSlack.view(id)` of the modal the app opened) to submit that
        exact view; otherwise a minimal modal with `callback_id` / `view_id` is built.
        """
        new_id = view_id or f"V0{next(self._counter):08d}"
        base: JSON = view or {
            "id": new_id,
            "team_id": team_id or self.team_id,
            "type": "modal",
            "blocks": [],
            "title": {"type": "plain_text", "text": "Support", "emoji": True},
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": new_id,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": team_id or self.team_id,
            "bot_id": "B0HELPBOT",
            "hash": f"{int(self._clock())}.{secrets.token_hex(4)}",
        }
        submitted = {
            **base,
            "callback_id": callback_id,
            "private_metadata": private_metadata or base.get("private_metadata", ""),
            "state": {"values": state_values},
        }
        if view_id is not None:
            submitted["id"] = view_id
        payload: JSON = {
            "type": "view_submission",
            "team": self._team(team_id),
            "user": self._user(user_id, team_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.new_trigger_id(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self.post_payload(payload)

    async def shortcut(
        self,
        callback_id: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        trigger_id: str | None = None,
    ) -> BoltReply:
        """A global shortcut (`type: shortcut`); it carries no channel, by Slack's design."""
        payload: JSON = {
            "type": "shortcut",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._action_ts(),
            "team": self._team(team_id),
            "user": self._user(user_id, team_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self.new_trigger_id(),
        }
        return await self.post_payload(payload)

    async def message_shortcut(
        self,
        callback_id: str,
        message: JSON,
        channel_id: str,
        *,
        channel_name: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
        trigger_id: str | None = None,
    ) -> BoltReply:
        """A message shortcut (`type: message_action`) on `message` in `channel_id`."""
        payload: JSON = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._action_ts(),
            "team": self._team(team_id),
            "user": self._user(user_id, team_id),
            "channel": {"id": channel_id, "name": channel_name or f"channel-{channel_id.lower()}"},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self.new_trigger_id(),
            "response_url": self._response_url("actions"),
            "message_ts": message["ts"],
            "message": message,
        }
        return await self.post_payload(payload)

    async def event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        team_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> BoltReply:
        """Deliver `event` in an `event_callback` envelope.

        To simulate Slack redelivering after a missed ack, send the same `event_id` again
        with `retry_num=1, retry_reason="http_timeout"`: bolt does not deduplicate.
        """
        envelope = self.event_envelope(
            event, event_id=event_id, event_time=event_time, team_id=team_id
        )
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return await self.post_json(envelope, headers=headers)

    def event_envelope(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        team_id: str | None = None,
    ) -> JSON:
        """The Events API wrapper around `event`, as Slack sends it."""
        team_id = team_id or self.team_id
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "context_team_id": team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.new_event_id(),
            "event_time": event_time if event_time is not None else int(self._clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }

    # ------------------------------------------------------------------ transport

    async def post_form(self, fields: Mapping[str, str]) -> BoltReply:
        """POST a signed urlencoded form (slash commands)."""
        return await self.raw(
            urlencode(fields), {"Content-Type": "application/x-www-form-urlencoded"}
        )

    async def post_payload(self, payload: JSON) -> BoltReply:
        """POST a signed `payload=<json>` form (every interactivity request)."""
        return await self.post_form({"payload": json.dumps(payload)})

    async def post_json(self, body: JSON, headers: Mapping[str, str] | None = None) -> BoltReply:
        """POST a signed JSON body (Events API)."""
        return await self.raw(
            json.dumps(body), {"Content-Type": "application/json", **(headers or {})}
        )

    async def raw(
        self, body: str | bytes, headers: Mapping[str, str] | None = None, *, signed: bool = True
    ) -> BoltReply:
        """POST `body` as is. Signed unless `signed=False`; `headers` win over computed ones,
        so a test can send any `X-Slack-Signature` / `X-Slack-Request-Timestamp` it likes."""
        data = body.encode() if isinstance(body, str) else body
        sent: dict[str, str] = {}
        if signed:
            timestamp = str(int(self._clock() + self._clock_skew))
            sent["X-Slack-Request-Timestamp"] = timestamp
            sent["X-Slack-Signature"] = sign(self.signing_secret, timestamp, data)
        sent.update(headers or {})
        async with self._http().post(self.url, data=data, headers=sent) as response:
            return BoltReply(response.status, dict(response.headers), await response.text())

    # ------------------------------------------------------------------ ids

    def new_trigger_id(self) -> str:
        """A fresh, timestamped trigger_id (see `slack_api.new_trigger_id`)."""
        return new_trigger_id(self._clock())

    def new_event_id(self) -> str:
        return f"Ev0{next(self._counter):09d}"

    def _response_url(self, kind: str) -> str:
        return (
            f"{self.response_url_base}{kind}/{self.team_id}/"
            f"{next(self._counter)}/{secrets.token_urlsafe(18)}"
        )

    def _action_ts(self) -> str:
        return f"{self._clock():.6f}"

    def _team(self, team_id: str | None) -> JSON:
        return {"id": team_id or self.team_id, "domain": self.team_domain}

    def _user(self, user_id: str | None, team_id: str | None) -> JSON:
        uid = user_id or self.user_id
        return {
            "id": uid,
            "username": uid.lower(),
            "name": uid.lower(),
            "team_id": team_id or self.team_id,
        }

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session
