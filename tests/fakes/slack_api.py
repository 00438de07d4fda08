"""A local fake of the Slack Web API, for driving the real slack_sdk / slack-bolt offline.

`FakeSlack` is an aiohttp server on 127.0.0.1 that answers the Web API methods Helpline
uses the way Slack does (same envelopes, same error codes), keeps the state those methods
imply (messages and threads, views, DMs, hosted files), and records every request as a
`Call` so a test can assert what the adapter asked Slack to do::

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        ...
        [call] = await slack.wait_for("chat.postMessage")

Besides `/api/<method>` it serves the three other URLs Slack hands out: the upload URL of
`files.getUploadURLExternal` (slack_sdk's `files_upload_v2`), `url_private(_download)` of
hosted files (bot token required), and `response_url` hooks. Those are recorded under the
pseudo-methods `UPLOAD`, `DOWNLOAD` and `RESPONSE_URL`, so faults can be injected there too.

Unknown channels and users are created on first use, so a test only configures what it
asserts on (`add_channel`, `add_user`, `set_usergroup`, `add_file`, `add_message`).

Two methods take the app's own credentials instead of a bot token: `oauth.v2.access` (client id
and secret, as HTTP Basic auth or form fields; the code comes from `authorize`, standing in for
a person approving the install on slack.com) and `apps.connections.open` (the app-level
`xapp-` token; answered once a Socket Mode server is attached with `serve_socket_mode`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import mimetypes
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

JSON = dict[str, Any]

DEFAULT_TEAM_ID = "T0HELPLINE"
DEFAULT_TEAM_DOMAIN = "helpline-test"
DEFAULT_TEAM_NAME = "Helpline Test"
DEFAULT_APP_ID = "A0HELPLINE"
DEFAULT_BOT_TOKEN = "xoxb-test"
DEFAULT_BOT_USER_ID = "U0HELPBOT"
DEFAULT_BOT_ID = "B0HELPBOT"
DEFAULT_USER_ID = "U0CUSTOMER"
DEFAULT_APP_TOKEN = "xapp-1-A0HELPLINE-1-test"
DEFAULT_CLIENT_ID = "1111.2222"
DEFAULT_CLIENT_SECRET = "oauth-secret"

UPLOAD = "<upload>"
"""Pseudo-method under which POSTs to a `files.getUploadURLExternal` upload_url are recorded."""
DOWNLOAD = "<download>"
"""Pseudo-method under which GETs of a hosted file's url_private(_download) are recorded."""
RESPONSE_URL = "<response_url>"
"""Pseudo-method under which POSTs to a `response_url` hook are recorded."""

REPLIES_MAX_LIMIT = 1000
"""The most messages one conversations.replies page holds, whatever `limit` asks (Slack's
default and maximum; lowered to 15 for some commercially distributed apps)."""

TRIGGER_TTL_SECONDS = 3.0
"""Slack lets a trigger_id open one view, within 3 s of the interaction."""

BOT_SCOPES = (
    "chat:write,commands,files:read,files:write,reactions:write,users:read,usergroups:read,"
    "channels:read,groups:read,im:write,im:history,channels:history,groups:history"
)

# Arguments that slack_sdk (or a caller using form data) sends as JSON-encoded strings.
# They are decoded when recorded so tests compare structures, not serialisations.
_JSON_ARGS = frozenset({"blocks", "attachments", "view", "files", "metadata"})

_FILETYPES: dict[str, tuple[str, str]] = {
    "png": ("png", "PNG"),
    "jpg": ("jpg", "JPEG"),
    "jpeg": ("jpg", "JPEG"),
    "gif": ("gif", "GIF"),
    "webp": ("webp", "WebP"),
    "pdf": ("pdf", "PDF"),
    "txt": ("text", "Plain Text"),
    "log": ("text", "Plain Text"),
    "csv": ("csv", "CSV"),
    "json": ("json", "JSON"),
    "zip": ("zip", "Zip"),
}

_TS_EPOCH = 1_700_000_000


def new_trigger_id(now: float | None = None) -> str:
    """A trigger_id shaped like Slack's (`digits.digits.hex`) that records when it was issued.

    The first part is the issue time in milliseconds, so `FakeSlack` can refuse an expired
    one with `expired_trigger_id` the way Slack does after 3 s.
    """
    issued_ms = int((time.time() if now is None else now) * 1000)
    return f"{issued_ms}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(16)}"


def trigger_issued_at(trigger_id: str) -> float | None:
    """When a trigger_id from `new_trigger_id` was issued (epoch seconds); None if foreign."""
    head = trigger_id.split(".", 1)[0]
    return int(head) / 1000 if head.isdigit() and len(head) >= 13 else None


@dataclass(frozen=True)
class Call:
    """One request the fake received, in arrival order (`seq`).

    `outcome` is "ok", "error:<code>" for an `ok: false` answer, "http:<status>" for an
    injected HTTP failure, "hang", "cut" or "cut_after"; `status` is the HTTP status sent (None when no
    answer was sent).
    """

    seq: int
    method: str
    args: JSON
    headers: Mapping[str, str]
    outcome: str
    status: int | None
    response: JSON | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def token(self) -> str | None:
        """The bearer token of the request (header first, then a `token` argument)."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        token = self.args.get("token")
        return token if isinstance(token, str) else None

    def describe(self) -> str:
        shown = {k: v for k, v in self.args.items() if k not in {"blocks", "view", "token"}}
        text = json.dumps(shown, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        return f"#{self.seq} {self.method} [{self.outcome}] {text}"


FaultKind = Literal["http", "error", "hang", "cut", "cut_after"]


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    status: int = 200
    retry_after: float | None = None
    error: str | None = None


@dataclass
class _Answer:
    """What an API handler decided to send back."""

    body: JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class SlackError(Exception):
    """Raised inside a fake method handler to answer `{"ok": false, "error": code}`."""

    def __init__(self, code: str, messages: list[str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.messages = messages or []


@dataclass
class _OAuthGrant:
    """An install a person approved: what `oauth.v2.access` answers for its code, once."""

    scope: str
    installer: str
    redirect_uri: str | None


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None


class FakeSlack:
    """The fake Web API server. Use as `async with FakeSlack() as slack:` or start()/stop().

    `bot_token` is the only token accepted (None accepts any), besides bot tokens this fake
    issued through `oauth.v2.access`; requests without a token get `not_authed`, others
    `invalid_auth`, as Slack answers. `validate_views` makes views.* and
    chat.* refuse payloads over Slack's documented size limits with `invalid_arguments` /
    `invalid_blocks`, so the adapter's tests catch a modal Slack would reject.
    """

    def __init__(
        self,
        *,
        bot_token: str | None = DEFAULT_BOT_TOKEN,
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = DEFAULT_TEAM_DOMAIN,
        team_name: str = DEFAULT_TEAM_NAME,
        app_id: str = DEFAULT_APP_ID,
        app_token: str = DEFAULT_APP_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        bot_id: str = DEFAULT_BOT_ID,
        validate_views: bool = True,
        trigger_ttl: float | None = TRIGGER_TTL_SECONDS,
        download_denial: Literal["403", "login_page"] = "403",
        clock: Callable[[], float] = time.time,
        replies_max_limit: int = REPLIES_MAX_LIMIT,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.app_id = app_id
        self.app_token = app_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.validate_views = validate_views
        self.trigger_ttl = trigger_ttl
        self.download_denial = download_denial
        self._clock = clock
        self.replies_max_limit = replies_max_limit

        self._calls: list[Call] = []
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self._faults: dict[str, list[_Fault]] = {}
        self._hung: list[asyncio.Future[bool]] = []
        self._hung_calls: dict[asyncio.Future[bool], Call] = {}

        self._ids = itertools.count(1)
        self._ts_counter = itertools.count(1)
        self._messages: dict[str, dict[str, JSON]] = {}
        self._channels: dict[str, JSON] = {}
        self._members: dict[str, list[str]] = {}
        self._dms: dict[str, str] = {}
        self._users: dict[str, JSON] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._views: dict[str, JSON] = {}
        self._home_views: dict[str, str] = {}
        self._used_triggers: set[str] = set()
        self._files: dict[str, JSON] = {}
        self._file_bytes: dict[str, bytes] = {}
        self._uploads: dict[str, _PendingUpload] = {}
        self._login_pages_next = 0
        self._grants: dict[str, _OAuthGrant] = {}
        self._issued_tokens: set[str] = set()

        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.replies": self._conversations_replies,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "files.info": self._files_info,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        self._app_methods: dict[str, Callable[[JSON], JSON]] = {
            "oauth.v2.access": self._oauth_v2_access,
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start answering."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{key}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._handle_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_download)
        app.router.add_post("/hooks/{path:.+}", self._handle_response_url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Cut any hung request and shut the server down."""
        for future in self._hung:
            if not future.done():
                future.set_result(False)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeSlack is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The `base_url` to give `AsyncWebClient`, e.g. `http://127.0.0.1:PORT/api/`."""
        return f"{self.base_url}/api/"

    @property
    def hooks_url(self) -> str:
        """Base for `response_url`s that land on this fake (see `SlackRequester`)."""
        return f"{self.base_url}/hooks/"

    # ------------------------------------------------------------------ recorded calls

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request so far, in order, optionally only those of one method."""
        return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        """Forget recorded calls (state such as messages and views is kept)."""
        self._calls.clear()

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline per wait reads best in tests
    ) -> list[Call]:
        """Wait until at least `count` calls of `method` (matching `predicate`) were recorded.

        Returns all matching calls seen so far, so `[call] = await slack.wait_for(...)` also
        asserts there was exactly one. Faulty attempts count too; filter on `Call.outcome`
        with the predicate when only answered calls matter. On timeout raises AssertionError
        listing every call the fake saw.
        """

        def matching() -> list[Call]:
            return [
                c for c in self._calls if c.method == method and (predicate is None or predicate(c))
            ]

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: len(matching()) >= count)
        except TimeoutError:
            seen = "\n".join(f"  {c.describe()}" for c in self._calls) or "  (none)"
            raise AssertionError(
                f"timed out after {timeout}s waiting for {count} x {method}"
                f"{' matching predicate' if predicate else ''}; "
                f"got {len(matching())}. Calls seen:\n{seen}"
            ) from None
        return matching()

    async def _record(
        self,
        method: str,
        args: JSON,
        headers: Mapping[str, str],
        outcome: str,
        status: int | None,
        response: JSON | None = None,
    ) -> Call:
        call = Call(next(self._seq), method, args, headers, outcome, status, response)
        self._calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        return call

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self, method: str, status: int = 429, retry_after: float | None = 1, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with HTTP `status`.

        A 429 carries `Retry-After: <retry_after>` and `{"ok": false, "error": "ratelimited"}`
        like Slack's rate limiter; other statuses answer `{"ok": false, "error": "fatal_error"}`
        (Retry-After only if `retry_after` is given explicitly for them).
        """
        self._add_fault(method, _Fault("http", times, status=status, retry_after=retry_after))

    def error_next(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 200 `{"ok": false, "error": error}`."""
        self._add_fault(method, _Fault("error", times, error=error))

    def hang_next(self, method: str, times: int = 1) -> None:
        """Hold the next `times` calls of `method` unanswered until `release()` (or stop)."""
        self._add_fault(method, _Fault("hang", times))

    def cut_next(self, method: str, times: int = 1) -> None:
        """Drop the connection of the next `times` calls of `method` without answering.

        slack_sdk's default retry handler retries a dropped connection once, so `times=1`
        is invisible to the caller except as a second recorded attempt.
        """
        self._add_fault(method, _Fault("cut", times))

    def cut_after_next(self, method: str, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, then drop the connection before the
        answer is sent: Slack did the work (a message is stored), the caller never hears so.

        Recorded with outcome "cut_after". slack_sdk's default retry handler sends a dropped
        request once more by itself, so a non-idempotent call such as chat.postMessage reaches
        the fake twice unless the client was built without that handler.
        """
        self._add_fault(method, _Fault("cut_after", times))

    def login_page_next(self, times: int = 1) -> None:
        """Answer the next `times` file downloads with Slack's 200 HTML sign-in page, whatever
        the token (what a workspace that revoked files:read looks like to the app)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._login_pages_next += times

    def release(self) -> int:
        """Let every hung call proceed and be answered normally; returns how many."""
        released = 0
        for future in self._hung:
            if not future.done():
                future.set_result(True)
                released += 1
        self._hung = [f for f in self._hung if not f.done()]
        return released

    def finish_hung(self, predicate: Callable[[Call], bool], *, carry_out: bool) -> int:
        """End the hung calls matching `predicate`: carried out (as `release` does: a message is
        stored even if the caller has gone away meanwhile) or cut without being carried out.
        Returns how many."""
        finished = 0
        for future in self._hung:
            call = self._hung_calls.get(future)
            if not future.done() and call is not None and predicate(call):
                future.set_result(carry_out)
                finished += 1
        self._hung = [f for f in self._hung if not f.done()]
        return finished

    def _add_fault(self, method: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            queue.pop(0)
        return fault

    async def _serve(
        self,
        request: web.Request,
        method: str,
        args: JSON,
        produce: Callable[[], web.StreamResponse],
        outcome_of: Callable[[web.StreamResponse], tuple[str, JSON | None]],
    ) -> web.StreamResponse:
        """Apply any injected fault for `method`, else answer with `produce()`; record it."""
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        fault = self._take_fault(method)
        if fault is not None and fault.kind == "http":
            code = "ratelimited" if fault.status == 429 else "fatal_error"
            body: JSON = {"ok": False, "error": code}
            extra = {} if fault.retry_after is None else {"Retry-After": _num(fault.retry_after)}
            await self._record(method, args, headers, f"http:{fault.status}", fault.status, body)
            return web.json_response(body, status=fault.status, headers=extra)
        if fault is not None and fault.kind == "error":
            body = {"ok": False, "error": fault.error}
            await self._record(method, args, headers, f"error:{fault.error}", 200, body)
            return web.json_response(body)
        if fault is not None and fault.kind == "cut":
            await self._record(method, args, headers, "cut", None)
            return _cut(request)
        if fault is not None and fault.kind == "cut_after":
            response = produce()
            _, body_or_none = outcome_of(response)
            await self._record(method, args, headers, "cut_after", None, body_or_none)
            return _cut(request)
        if fault is not None and fault.kind == "hang":
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._hung.append(future)
            self._hung_calls[future] = await self._record(method, args, headers, "hang", None)
            if not await future:
                return _cut(request)
            return produce()
        response = produce()
        outcome, body_or_none = outcome_of(response)
        await self._record(method, args, headers, outcome, response.status, body_or_none)
        return response

    # ------------------------------------------------------------------ HTTP handlers

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _read_args(request)
        answer: _Answer | None = None

        def produce() -> web.StreamResponse:
            nonlocal answer
            answer = self._answer(method, args, request.headers)
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)

        def outcome_of(_: web.StreamResponse) -> tuple[str, JSON | None]:
            assert answer is not None
            ok = answer.body.get("ok") is True
            return ("ok" if ok else f"error:{answer.body.get('error')}"), answer.body

        return await self._serve(request, method, args, produce, outcome_of)

    def _answer(self, method: str, args: JSON, headers: Mapping[str, str]) -> _Answer:
        handler = self._handlers.get(method) or self._app_methods.get(method)
        if handler is None:
            return _Answer({"ok": False, "error": "unknown_method", "req_method": method})
        if method == "oauth.v2.access":
            problem = self._client_credentials_problem(args, headers)
        elif method == "apps.connections.open":
            problem = self._app_token_problem(_bearer(headers) or args.get("token"))
        else:
            problem = self._bot_token_problem(_bearer(headers) or args.get("token"))
        if problem is not None:
            return _Answer({"ok": False, "error": problem})
        try:
            body = handler(args)
        except SlackError as e:
            body = {"ok": False, "error": e.code}
            if e.messages:
                body["response_metadata"] = {"messages": e.messages}
            return _Answer(body)
        extra = {"x-oauth-scopes": BOT_SCOPES} if method == "auth.test" else {}
        return _Answer({"ok": True, **body}, headers=extra)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        pending = self._uploads.get(key)
        data = await _read_upload_body(request)
        args: JSON = {"upload_key": key, "size": len(data)}
        if pending is not None:
            args |= {"file_id": pending.file_id, "filename": pending.filename}

        def produce() -> web.StreamResponse:
            if pending is None:
                return web.Response(status=404, text="upload url not found")
            pending.data = data
            return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

        def outcome_of(response: web.StreamResponse) -> tuple[str, JSON | None]:
            return ("ok" if response.status == 200 else f"http:{response.status}"), None

        return await self._serve(request, UPLOAD, args, produce, outcome_of)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["team_file"].rsplit("-", 1)[-1]
        args: JSON = {"file_id": file_id, "path": request.path}

        def produce() -> web.StreamResponse:
            token = _bearer(request.headers)
            if self._login_pages_next > 0:
                self._login_pages_next -= 1
                return web.Response(text=_LOGIN_PAGE, content_type="text/html")
            if token is None or self._bot_token_problem(token) is not None:
                if self.download_denial == "login_page":
                    # What Slack really does without a valid token: a 200 HTML sign-in page.
                    return web.Response(text=_LOGIN_PAGE, content_type="text/html")
                return web.Response(status=403, text="forbidden")
            obj = self._files.get(file_id)
            if obj is None or file_id not in self._file_bytes:
                return web.Response(status=404, text="file not found")
            disposition = "attachment" if "/download/" in request.path else "inline"
            return web.Response(
                body=self._file_bytes[file_id],
                content_type=obj["mimetype"],
                headers={"Content-Disposition": f'{disposition}; filename="{obj["name"]}"'},
            )

        def outcome_of(response: web.StreamResponse) -> tuple[str, JSON | None]:
            if response.status == 200 and response.content_type == "text/html":
                return "error:login_page", None
            return ("ok" if response.status == 200 else f"http:{response.status}"), None

        return await self._serve(request, DOWNLOAD, args, produce, outcome_of)

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        args = await _read_args(request)
        args["url_path"] = request.path

        def produce() -> web.StreamResponse:
            return web.Response(text="ok", content_type="text/plain")

        def outcome_of(_: web.StreamResponse) -> tuple[str, JSON | None]:
            return "ok", None

        return await self._serve(request, RESPONSE_URL, args, produce, outcome_of)

    # ------------------------------------------------------------------ test-side setup

    def authorize(self, authorize_url: str, *, installer: str = DEFAULT_USER_ID) -> str:
        """A person approves the install at the app's `oauth/v2/authorize` URL; returns the
        one-time code Slack would pass to the redirect URL (with the URL's `state`).

        The scopes granted are the ones the URL asks for; an unknown client_id raises
        ValueError (Slack shows an error page instead of redirecting)."""
        query = parse_qs(urlsplit(authorize_url).query)
        client_id = (query.get("client_id") or [""])[0]
        if client_id != self.client_id:
            raise ValueError(f"no app with client_id {client_id!r}")
        code = f"{next(self._ids)}.{secrets.randbelow(10**12)}.{secrets.token_hex(32)}"
        self._grants[code] = _OAuthGrant(
            scope=(query.get("scope") or [""])[0],
            installer=installer,
            redirect_uri=query["redirect_uri"][0] if "redirect_uri" in query else None,
        )
        return code

    def serve_socket_mode(self, issue_url: Callable[[], str]) -> None:
        """Answer `apps.connections.open` (app-level token only) with a fresh URL from
        `issue_url`, e.g. a `FakeSocketMode`'s."""
        self._app_methods["apps.connections.open"] = lambda args: {"url": issue_url()}

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        email: str | None = None,
        tz: str = "Europe/London",
        deleted: bool = False,
    ) -> JSON:
        """Configure what users.info answers for `user_id`; returns the user object."""
        name = name or user_id.lower()
        real_name = real_name if real_name is not None else name.title()
        display_name = display_name if display_name is not None else name
        profile: JSON = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "image_72": f"https://avatars.slack-edge.invalid/{user_id}_72.png",
            "team": self.team_id,
        }
        if email is not None:
            profile["email"] = email
        user: JSON = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(self._clock()),
            "profile": profile,
        }
        self._users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool = False,
        members: list[str] | None = None,
    ) -> JSON:
        """Configure a channel for conversations.info / conversations.members."""
        info = self._channel(channel_id)
        info.update(
            name=name or info.get("name"),
            name_normalized=name or info.get("name"),
            is_private=is_private,
            is_channel=not is_private,
            is_group=is_private,
        )
        if members is not None:
            self._members[channel_id] = list(members)
        return info

    def set_usergroup(self, usergroup_id: str, members: list[str]) -> None:
        """Configure what usergroups.users.list answers for `usergroup_id`."""
        self._usergroups[usergroup_id] = list(members)

    def add_file(
        self,
        data: bytes,
        name: str,
        mimetype: str | None = None,
        *,
        title: str | None = None,
        user: str = DEFAULT_USER_ID,
    ) -> JSON:
        """Host `data` as a Slack file; returns the file object as Slack sends it.

        That object is what a file_input state value or a message event's `files` list
        carries; its `url_private_download` points at this fake and needs the bot token.
        """
        file_id = self._new_id("F")
        obj = self._file_object(file_id, name, mimetype, len(data), title=title, user=user)
        self._files[file_id] = obj
        self._file_bytes[file_id] = bytes(data)
        return dict(obj)

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = DEFAULT_USER_ID,
        thread_ts: str | None = None,
        files: list[JSON] | None = None,
    ) -> JSON:
        """Store a message as if a person had posted it; returns it (ts assigned).

        Use it to build a consistent `message` event for `SlackRequester.event` and so that
        conversations.replies sees the customer's side of a thread.
        """
        message: JSON = {"type": "message", "user": user, "text": text, "team": self.team_id}
        if files:
            message["files"] = files
            message["upload"] = False
        return self._store_message(channel, message, thread_ts=thread_ts)

    # ------------------------------------------------------------------ state for asserts

    def messages(self, channel: str | None = None) -> list[JSON]:
        """Stored messages (posted by the bot or added by the test), oldest first."""
        channels = [channel] if channel is not None else list(self._messages)
        found = [m for ch in channels for m in self._messages.get(ch, {}).values()]
        return sorted(found, key=lambda m: float(m["ts"]))

    def message(self, channel: str, ts: str) -> JSON:
        """One stored message; KeyError if there is none."""
        return self._messages[channel][ts]

    def thread(self, channel: str, thread_ts: str) -> list[JSON]:
        """The parent and its replies, as conversations.replies would list them."""
        return self._thread(channel, thread_ts)

    def view(self, view_id: str) -> JSON:
        """The current state of a view opened, pushed, updated or published."""
        return self._views[view_id]

    def home_view(self, user_id: str) -> JSON | None:
        """The App Home view last published for `user_id`."""
        view_id = self._home_views.get(user_id)
        return None if view_id is None else self._views[view_id]

    def file(self, file_id: str) -> JSON:
        """The file object of a hosted or uploaded file."""
        return self._files[file_id]

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes of a hosted file, or of one uploaded through files_upload_v2."""
        return self._file_bytes[file_id]

    def dm_channel(self, user_id: str) -> str:
        """The DM channel id conversations.open answers for `user_id` (stable per user)."""
        if user_id not in self._dms:
            channel_id = self._new_id("D")
            self._dms[user_id] = channel_id
            self._channels[channel_id] = {
                "id": channel_id,
                "created": int(self._clock()),
                "is_im": True,
                "is_org_shared": False,
                "user": user_id,
                "is_user_deleted": False,
                "priority": 0,
            }
            self._members[channel_id] = [user_id, self.bot_user_id]
        return self._dms[user_id]

    # ------------------------------------------------------------------ method handlers

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "helpline",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _bot_token_problem(self, token: object) -> str | None:
        if not token:
            return "not_authed"
        if self.bot_token is not None and token != self.bot_token:
            return None if token in self._issued_tokens else "invalid_auth"
        return None

    def _app_token_problem(self, token: object) -> str | None:
        if not token:
            return "not_authed"
        if isinstance(token, str) and token.startswith(("xoxb-", "xoxp-")):
            return "not_allowed_token_type"
        return None if token == self.app_token else "invalid_auth"

    def _client_credentials_problem(self, args: JSON, headers: Mapping[str, str]) -> str | None:
        """slack_sdk sends the client id and secret as HTTP Basic auth; Slack also takes them
        as form fields."""
        client_id, secret = args.get("client_id"), args.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, secret = _basic_credentials(auth) or (None, None)
        if client_id != self.client_id:
            return "invalid_client_id"
        return None if secret == self.client_secret else "bad_client_secret"

    def _oauth_v2_access(self, args: JSON) -> JSON:
        grant = self._grants.pop(str(args.get("code") or ""), None)
        if grant is None:
            raise SlackError("invalid_code")
        if args.get("redirect_uri") != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        token = f"xoxb-{next(self._ids)}-{secrets.token_hex(12)}"
        self._issued_tokens.add(token)
        return {
            "access_token": token,
            "token_type": "bot",
            "scope": grant.scope,
            "bot_user_id": self.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": None,
            "authed_user": {"id": grant.installer},
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JSON) -> JSON:
        channel = self._resolve_channel(_required(args, "channel"))
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        self._check_message_blocks(args.get("blocks"))
        message = self._bot_message(args)
        stored = self._store_message(channel, message, thread_ts=_opt_str(args, "thread_ts"))
        if stored.get("thread_ts") and _truthy(args.get("reply_broadcast")):
            stored["subtype"] = "thread_broadcast"
        return {"channel": channel, "ts": stored["ts"], "message": _public(stored)}

    def _chat_update(self, args: JSON) -> JSON:
        channel = _required(args, "channel")
        ts = _required(args, "ts")
        message = self._messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        self._check_message_blocks(args.get("blocks"))
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {
            "channel": channel,
            "ts": ts,
            "text": message.get("text", ""),
            "message": _public(message),
        }

    def _chat_post_ephemeral(self, args: JSON) -> JSON:
        self._resolve_channel(_required(args, "channel"))
        _required(args, "user")
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        return {"message_ts": self._new_ts()}

    def _chat_get_permalink(self, args: JSON) -> JSON:
        channel = _required(args, "channel")
        ts = _required(args, "message_ts")
        message = self._messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        parent = message.get("thread_ts")
        if parent and parent != ts:
            link += f"?thread_ts={parent}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_open(self, args: JSON) -> JSON:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if args.get("channel"):
            channel_id = str(args["channel"])
            return {"no_op": True, "already_open": True, "channel": {"id": channel_id}}
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) == 1:
            existed = users[0] in self._dms
            channel_id = self.dm_channel(users[0])
        else:
            key = ",".join(sorted(users))
            existed = key in self._dms
            if not existed:
                self._dms[key] = self._new_id("G")
                self._channels[self._dms[key]] = {"id": self._dms[key], "is_mpim": True}
                self._members[self._dms[key]] = [*users, self.bot_user_id]
            channel_id = self._dms[key]
        channel: JSON = dict(self._channels[channel_id]) if _truthy(args.get("return_im")) else {}
        channel["id"] = channel_id
        body: JSON = {"channel": channel}
        if existed:
            body |= {"no_op": True, "already_open": True}
        return body

    def _conversations_info(self, args: JSON) -> JSON:
        return {"channel": dict(self._channel(_required(args, "channel")))}

    def _conversations_members(self, args: JSON) -> JSON:
        channel = _required(args, "channel")
        self._channel(channel)
        members = self._members.setdefault(channel, [self.bot_user_id])
        return {"members": list(members), "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, args: JSON) -> JSON:
        """The parent first, then the replies oldest first, in pages: `oldest` and `latest`
        bound the replies (exclusive unless `inclusive`), `limit` caps a page (default and
        ceiling `replies_max_limit`), and `cursor` takes a page's `next_cursor` to go on, while
        `has_more` says whether there is more. The parent leads the first page whatever the
        bounds, and counts towards its limit."""
        channel = _required(args, "channel")
        ts = _required(args, "ts")
        if ts not in self._messages.get(channel, {}):
            raise SlackError("thread_not_found")
        oldest = _ts_arg(args, "oldest")
        latest = _ts_arg(args, "latest")
        inclusive = _truthy(args.get("inclusive"))
        try:
            limit = int(args.get("limit") or self.replies_max_limit)
        except ValueError:
            raise SlackError("invalid_limit") from None
        limit = min(max(limit, 1), self.replies_max_limit)
        root, *replies = self._thread(channel, ts)

        def in_bounds(message: JSON) -> bool:
            at = float(message["ts"])
            if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
                return False
            return latest is None or at < latest or (at == latest and inclusive)

        replies = [m for m in replies if in_bounds(m)]
        cursor = _opt_str(args, "cursor")
        if cursor is None:
            page = [root, *replies[: limit - 1]]
            rest = replies[limit - 1 :]
        else:
            start = _cursor_ts(cursor)
            after = [m for m in replies if float(m["ts"]) >= start]
            page, rest = after[:limit], after[limit:]
        next_cursor = _cursor_for(rest[0]["ts"]) if rest else ""
        return {
            "messages": [_public(m) for m in page],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _reactions_add(self, args: JSON) -> JSON:
        channel = _required(args, "channel")
        ts = _required(args, "timestamp")
        name = _required(args, "name").strip(":")
        message = self._messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackError("message_not_found")
        reactions: list[JSON] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _views_open(self, args: JSON) -> JSON:
        self._exchange_trigger(_required(args, "trigger_id"))
        view = self._new_view(_view_arg(args), previous=None)
        return {"view": view}

    def _views_push(self, args: JSON) -> JSON:
        self._exchange_trigger(_required(args, "trigger_id"))
        view = self._new_view(_view_arg(args), previous=None)
        return {"view": view}

    def _views_update(self, args: JSON) -> JSON:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self._views.values() if v["external_id"] == args["external_id"]),
                None,
            )
        if not view_id or view_id not in self._views:
            raise SlackError("not_found")
        current = self._views[view_id]
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        spec = _view_arg(args)
        self._check_view(spec)
        current.update(self._view_fields(spec))
        current["hash"] = self._new_hash()
        return {"view": dict(current)}

    def _views_publish(self, args: JSON) -> JSON:
        user_id = _required(args, "user_id")
        spec = _view_arg(args)
        if spec.get("type") != "home":
            raise SlackError(
                "invalid_arguments", ["[ERROR] must be home [json-pointer:/view/type]"]
            )
        existing = self._home_views.get(user_id)
        if (
            existing is not None
            and args.get("hash")
            and args["hash"] != self._views[existing]["hash"]
        ):
            raise SlackError("hash_conflict")
        if existing is None:
            view = self._new_view(spec, previous=None)
            self._home_views[user_id] = view["id"]
            return {"view": view}
        self._check_view(spec)
        current = self._views[existing]
        current.update(self._view_fields(spec))
        current["hash"] = self._new_hash()
        return {"view": dict(current)}

    def _users_info(self, args: JSON) -> JSON:
        user_id = _required(args, "user")
        user = self._users.get(user_id)
        if user is None:
            is_bot = user_id == self.bot_user_id
            user = self.add_user(user_id, name="helpline" if is_bot else None, is_bot=is_bot)
        return {"user": dict(user)}

    def _usergroups_users_list(self, args: JSON) -> JSON:
        group = _required(args, "usergroup")
        if group not in self._usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _files_info(self, args: JSON) -> JSON:
        file_id = _required(args, "file")
        if file_id not in self._files:
            raise SlackError("file_not_found")
        return {
            "file": dict(self._files[file_id]),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _files_get_upload_url_external(self, args: JSON) -> JSON:
        filename = _required(args, "filename")
        try:
            length = int(_required(args, "length"))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        file_id = self._new_id("F")
        key = secrets.token_urlsafe(12)
        self._uploads[key] = _PendingUpload(file_id, filename, length, _opt_str(args, "alt_txt"))
        return {"upload_url": f"{self.base_url}/upload/v1/{key}", "file_id": file_id}

    def _files_complete_upload_external(self, args: JSON) -> JSON:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        by_file = {p.file_id: (key, p) for key, p in self._uploads.items()}
        completed: list[JSON] = []
        for entry in entries:
            found = by_file.get(str(entry.get("id")))
            if found is None:
                raise SlackError("file_not_found")
            key, pending = found
            if pending.data is None:
                raise SlackError("file_upload_not_completed")
            obj = self._file_object(
                pending.file_id,
                pending.filename,
                None,
                len(pending.data),
                title=entry.get("title") or pending.filename,
                user=self.bot_user_id,
            )
            self._files[pending.file_id] = obj
            self._file_bytes[pending.file_id] = pending.data
            del self._uploads[key]
            completed.append(obj)
        channels = [c for c in str(args.get("channels") or "").split(",") if c]
        if args.get("channel_id"):
            channels.insert(0, str(args["channel_id"]))
        for channel in channels:
            message = self._bot_message({"text": args.get("initial_comment", "")})
            message["files"] = [dict(f) for f in completed]
            message["upload"] = True
            stored = self._store_message(
                self._resolve_channel(channel), message, thread_ts=_opt_str(args, "thread_ts")
            )
            for obj in completed:
                obj.setdefault("channels", []).append(channel)
                obj.setdefault("shares", {}).setdefault("public", {})[channel] = [
                    {"ts": stored["ts"], "thread_ts": stored.get("thread_ts")}
                ]
        return {"files": [dict(f) for f in completed]}

    # ------------------------------------------------------------------ helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def _new_ts(self) -> str:
        n = next(self._ts_counter)
        return f"{_TS_EPOCH + n // 10_000}.{(n % 10_000) * 100:06d}"

    def _new_hash(self) -> str:
        return f"{int(self._clock())}.{secrets.token_hex(4)}"

    def _channel(self, channel_id: str) -> JSON:
        if channel_id not in self._channels:
            if channel_id.startswith("D"):
                raise SlackError("channel_not_found")
            name = f"channel-{channel_id.lower()}"
            self._channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "name_normalized": name,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_mpim": False,
                "is_private": False,
                "is_archived": False,
                "is_general": False,
                "is_member": True,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "created": int(self._clock()),
                "creator": DEFAULT_USER_ID,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
        return self._channels[channel_id]

    def _resolve_channel(self, channel: str) -> str:
        """Posting to a user id posts to the DM with that user, as Slack does."""
        if channel.startswith(("U", "W")):
            return self.dm_channel(channel)
        self._channel(channel)
        return channel

    def _bot_message(self, args: JSON) -> JSON:
        message: JSON = {
            "type": "message",
            "subtype": None,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": args.get("text") or "",
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key):
                message[key] = args[key]
        return {k: v for k, v in message.items() if v is not None}

    def _store_message(self, channel: str, message: JSON, *, thread_ts: str | None) -> JSON:
        ts = self._new_ts()
        message = {**message, "ts": ts}
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = None
            parent = self._messages.get(channel, {}).get(thread_ts)
            if parent is not None:
                message["parent_user_id"] = parent.get("user")
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                users: list[str] = parent.setdefault("reply_users", [])
                if message.get("user") and message["user"] not in users:
                    users.append(message["user"])
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = ts
            message = {k: v for k, v in message.items() if v is not None}
        self._messages.setdefault(channel, {})[ts] = message
        return message

    def _thread(self, channel: str, ts: str) -> list[JSON]:
        stored = self._messages.get(channel, {})
        root = stored[ts]
        if root.get("thread_ts") not in (None, ts):
            return [root]
        replies = [m for m in stored.values() if m.get("thread_ts") == ts and m["ts"] != ts]
        return [root, *sorted(replies, key=lambda m: float(m["ts"]))]

    def _exchange_trigger(self, trigger_id: str) -> None:
        if trigger_id in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = trigger_issued_at(trigger_id)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if self.trigger_ttl is not None and self._clock() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        self._used_triggers.add(trigger_id)

    def _new_view(self, spec: JSON, *, previous: str | None) -> JSON:
        self._check_view(spec)
        view_id = self._new_id("V")
        view: JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": self._new_hash(),
            "title": None,
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": previous,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        view.update(self._view_fields(spec))
        self._views[view_id] = view
        return dict(view)

    @staticmethod
    def _view_fields(spec: JSON) -> JSON:
        keys = (
            "type", "blocks", "private_metadata", "callback_id", "title", "close", "submit",
            "clear_on_close", "notify_on_close", "external_id", "submit_disabled",
        )  # fmt: skip
        fields = {k: spec[k] for k in keys if k in spec}
        fields["state"] = {"values": {}}
        return fields

    def _check_view(self, spec: JSON) -> None:
        if not self.validate_views:
            return
        problems = _view_problems(spec)
        if problems:
            raise SlackError("invalid_arguments", problems)

    def _check_message_blocks(self, blocks: object) -> None:
        if not self.validate_views or not isinstance(blocks, list):
            return
        problems = _blocks_problems(blocks, limit=50, pointer="/blocks")
        if problems:
            raise SlackError("invalid_blocks", problems)

    def _file_object(
        self,
        file_id: str,
        name: str,
        mimetype: str | None,
        size: int,
        *,
        title: str | None,
        user: str,
    ) -> JSON:
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        filetype, pretty = _FILETYPES.get(extension, (extension or "binary", extension.upper()))
        mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        now = int(self._clock())
        private = f"{self.base_url}/files-pri/{self.team_id}-{file_id}"
        return {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title or name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": pretty or "Binary",
            "user": user,
            "user_team": self.team_id,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{private}/{name}",
            "url_private_download": f"{private}/download/{name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0",
            "is_starred": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }


# ---------------------------------------------------------------------- module helpers

_LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


async def _read_args(request: web.Request) -> JSON:
    """Query string, form body (urlencoded or multipart) and JSON body, merged."""
    args: JSON = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    args[key] = {"filename": value.filename, "data": value.file.read()}
                else:
                    args[key] = value
        else:
            args["_raw_body"] = await request.read()
    for key in _JSON_ARGS & args.keys():
        value = args[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass
    return args


async def _read_upload_body(request: web.Request) -> bytes:
    """slack_sdk posts the raw bytes; a multipart upload with one file part is accepted too."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        for value in form.values():
            if isinstance(value, web.FileField):
                return bytes(value.file.read())
        return b""
    return await request.read()


def _cut(request: web.Request) -> web.StreamResponse:
    """Drop the TCP connection: the client sees a disconnect, never a status."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(login, password) of an HTTP Basic `Authorization` header; None if malformed."""
    try:
        decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, colon, password = decoded.partition(":")
    return (login, password) if colon else None


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


def _required(args: JSON, key: str) -> str:
    value = args.get(key)
    if value is None or value == "":
        raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {key}"])
    return str(value)


def _opt_str(args: JSON, key: str) -> str | None:
    value = args.get(key)
    return None if value in (None, "") else str(value)


def _truthy(value: object) -> bool:
    return value in (True, 1, "1", "true", "True")


def _ts_arg(args: JSON, key: str) -> float | None:
    """A timestamp argument (`oldest`, `latest`); Slack refuses one that is not a number."""
    value = _opt_str(args, key)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise SlackError(f"invalid_ts_{key}") from None


def _cursor_for(ts: str) -> str:
    """An opaque cursor, shaped like Slack's (base64 of `next_ts:` and the digits of a ts)."""
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _cursor_ts(cursor: str) -> float:
    try:
        kind, _, digits = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if kind != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise SlackError("invalid_cursor")
    return float(f"{digits[:-6]}.{digits[-6:]}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _public(message: JSON) -> JSON:
    """A deep copy, so a caller mutating an answer cannot change the fake's state."""
    copied: JSON = json.loads(json.dumps(message))
    return copied


def _view_arg(args: JSON) -> JSON:
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
    return view


def _text_of(obj: object) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _view_problems(view: JSON) -> list[str]:
    """The documented limits a modal or Home view breaks, in Slack's message style."""
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append("[ERROR] must be one of modal, home [json-pointer:/view/type]")
    if kind == "modal":
        if not _text_of(view.get("title")):
            problems.append("[ERROR] missing required field: title [json-pointer:/view]")
        for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
            if len(_text_of(view.get(key))) > limit:
                problems.append(
                    f"[ERROR] must be less than {limit + 1} characters "
                    f"[json-pointer:/view/{key}/text]"
                )
    if len(str(view.get("private_metadata", ""))) > 3000:
        problems.append(
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
        )
    if len(str(view.get("callback_id", ""))) > 255:
        problems.append("[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]")
    blocks = view.get("blocks", [])
    if isinstance(blocks, list):
        problems += _blocks_problems(blocks, limit=100, pointer="/view/blocks")
    return problems


def _blocks_problems(blocks: list[Any], *, limit: int, pointer: str) -> list[str]:
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        here = f"{pointer}/{i}"
        if len(_text_of(block.get("text"))) > 3000:
            problems.append(
                f"[ERROR] must be less than 3001 characters [json-pointer:{here}/text/text]"
            )
        fields = block.get("fields") or []
        if len(fields) > 10:
            problems.append(f"[ERROR] no more than 10 items allowed [json-pointer:{here}/fields]")
        for j, f in enumerate(fields):
            if len(_text_of(f)) > 2000:
                problems.append(
                    f"[ERROR] must be less than 2001 characters "
                    f"[json-pointer:{here}/fields/{j}/text]"
                )
        element = block.get("element")
        if isinstance(element, dict) and element.get("type") == "plain_text_input":
            max_length = element.get("max_length")
            if isinstance(max_length, int) and max_length > 3000:
                problems.append(
                    f"[ERROR] must be less than or equal to 3000 "
                    f"[json-pointer:{here}/element/max_length]"
                )
        if isinstance(element, dict) and element.get("type") == "file_input":
            max_files = element.get("max_files")
            if isinstance(max_files, int) and not 1 <= max_files <= 10:
                problems.append(
                    f"[ERROR] must be between 1 and 10 [json-pointer:{here}/element/max_files]"
                )
    return problems
