"""Wiring of the Slack adapter: the bolt AsyncApp, its listeners, the transport, and how Slack
reaches it (HTTP at /slack/events, or Socket Mode).

- SLACK_APP_TOKEN set: Socket Mode (no public URL needed).
- otherwise HTTP mode: POST /slack/events on Helpline's HTTP server (HELPLINE_HTTP_PORT), every
  request checked against SLACK_SIGNING_SECRET.
- SLACK_CLIENT_ID / SLACK_CLIENT_SECRET set: OAuth install to many workspaces
  (GET /slack/install, GET /slack/oauth_redirect) with slack-bolt's SQLAlchemy installation
  store on Helpline's database; each request is authorised with its workspace's bot token.
- SLACK_API_URL points every Web API call elsewhere (tests, proxies).

Each start also catches up, in the background, on replies written in ticket threads while
Helpline was down (catchup.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.catchup import CatchUpReport, SlackCatchUp
from adapters.slack.clients import WorkspaceClients
from adapters.slack.handlers import SlackHandlers
from adapters.slack.people import Names, StaffDirectory
from adapters.slack.transport import SlackTransport
from bot.config_file import ConfigError
from core.models import Platform

if TYPE_CHECKING:
    from bot.bootstrap import Core

log = logging.getLogger("helpline.slack")

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

BOT_SCOPES = (
    "commands",           # /support and the shortcuts
    "chat:write",         # ticket threads, cards, relays
    "im:write",           # open the customer's DM for their ticket thread
    "im:history",         # customer replies in DM threads
    "channels:history",   # staff replies in card threads (public staff channel)
    "groups:history",     # ... and in a private staff channel
    "reactions:write",    # ✓ / ⚠ on relayed messages
    "files:read",         # fetch images from the form and from replies
    "files:write",        # pass images on to the other side
    "users:read",         # display names
    "usergroups:read",    # staff membership by user group
)


def _secret(value: object) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    raw = getter() if callable(getter) else value
    return str(raw) if raw else None


class SlackAdapter:
    """What bot.runner needs: the platform, its transport, start and stop."""

    platform = Platform.SLACK

    def __init__(
        self,
        app: AsyncApp,
        transport: SlackTransport,
        handlers: SlackHandlers,
        *,
        app_token: str | None = None,
        installation_store: AsyncSQLAlchemyInstallationStore | None = None,
        state_store: AsyncSQLAlchemyOAuthStateStore | None = None,
    ) -> None:
        self.app = app
        self.transport = transport
        self.handlers = handlers
        self.app_token = app_token
        self.installation_store = installation_store
        self.state_store = state_store
        self._socket: AsyncSocketModeHandler | None = None
        self.catch_up = SlackCatchUp(handlers.desk, handlers, transport.clients)
        self.catching_up: asyncio.Task[CatchUpReport] | None = None
        """The catch-up of the last start, until stop()."""

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    async def start(self, http: web.Application) -> None:
        if self.installation_store is not None:
            # slack-bolt's own tables (installations, bots, OAuth states) on Helpline's database.
            await self.installation_store.create_tables()  # type: ignore[no-untyped-call]  # slack_sdk leaves it unannotated
        if self.state_store is not None:
            await self.state_store.create_tables()  # type: ignore[no-untyped-call]  # idem
        if self.app.oauth_flow is not None:
            http.router.add_get(INSTALL_PATH, self.handle_get)
            http.router.add_get(REDIRECT_PATH, self.handle_get)
        if self.socket_mode:
            self._socket = AsyncSocketModeHandler(self.app, self.app_token)
            # Ask for the first connection URL here: slack_sdk would retry a refused app token
            # forever, and Helpline would never start.
            client = self._socket.client
            try:
                client.wss_uri = await client.issue_new_wss_url()
            except SlackApiError as exc:
                await client.close()  # type: ignore[no-untyped-call]  # slack_sdk lacks annotations
                self._socket = None
                raise ConfigError(
                    "Slack refused SLACK_APP_TOKEN for Socket Mode "
                    f"({exc.response.get('error')}): use the app-level token (xapp-…) with "
                    "the connections:write scope") from exc
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt lacks annotations
            log.info("Slack: Socket Mode connected")
        else:
            http.router.add_post(EVENTS_PATH, self.handle_post)
            log.info("Slack: HTTP mode at %s", EVENTS_PATH)
        self.catching_up = asyncio.create_task(self.catch_up.run(), name="slack-catch-up")

    async def stop(self) -> None:
        if self.catching_up is not None:
            # What it handled so far is recorded; the next start reads on from there.
            self.catching_up.cancel()
            await asyncio.wait([self.catching_up])
            self.catching_up = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # idem
            self._socket = None
        await self.handlers.wait_idle()
        await self.transport.clients.close()

    async def handle_post(self, request: web.Request) -> web.Response:
        """Slack's events, commands and interactions; bolt verifies the signature. A body that
        is not shaped like anything Slack sends is refused here: bolt would fail on it."""
        body = await request.text()
        if not well_formed(body, request.content_type):
            return web.json_response({"error": "malformed request"}, status=400)
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def handle_get(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        bolt_request = await to_bolt_request(request)
        if request.path == flow.install_path:
            bolt_response = await flow.handle_installation(bolt_request)
        else:
            bolt_response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(bolt_response)


def well_formed(body: str, content_type: str) -> bool:
    """Whether a request body has the shape of a Slack event, command or interaction (its
    contents are still checked by bolt and the handlers)."""
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and isinstance(data.get("type"), str)
    fields = parse_qs(body, keep_blank_values=True)
    if "payload" not in fields:
        return True  # a slash command: bolt reads its fields one by one
    try:
        payload = json.loads(fields["payload"][0])
    except ValueError:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return False
    shapes = {"actions": list, "view": dict, "user": dict, "team": dict, "message": dict}
    return all(isinstance(payload[k], t) for k, t in shapes.items() if k in payload)


def create_slack_adapter(core: Core) -> SlackAdapter:
    settings = core.settings
    api_url = settings.slack_api_url
    bot_token = _secret(settings.slack_bot_token)
    app_token = _secret(settings.slack_app_token)
    signing_secret = _secret(settings.slack_signing_secret)
    client_secret = _secret(settings.slack_client_secret)
    oauth = bool(settings.slack_client_id and client_secret)

    installation_store: AsyncSQLAlchemyInstallationStore | None = None
    state_store: AsyncSQLAlchemyOAuthStateStore | None = None
    if oauth:
        assert settings.slack_client_id is not None
        installation_store = AsyncSQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=core.db.engine)
        state_store = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600,
                                                      engine=core.db.engine)
        app = AsyncApp(
            signing_secret=signing_secret or "",
            request_verification_enabled=app_token is None,
            process_before_response=True,  # see SlackHandlers.register
            client=AsyncWebClient(base_url=api_url),
            installation_store=installation_store,
            oauth_settings=AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=client_secret,
                scopes=list(BOT_SCOPES),
                installation_store=installation_store,
                state_store=state_store,
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
            ),
        )
    else:
        app = AsyncApp(
            signing_secret=signing_secret or "",
            request_verification_enabled=app_token is None,
            process_before_response=True,  # see SlackHandlers.register
            client=AsyncWebClient(token=bot_token, base_url=api_url),
        )

    clients = WorkspaceClients(api_url, bot_token=bot_token,
                               installation_store=installation_store)
    transport = SlackTransport(clients, desk_name=core.config.desk_name)
    handlers = SlackHandlers(core.desk, core.config, transport,
                             staff=StaffDirectory(core.config.staff), names=Names())
    handlers.register(app)
    return SlackAdapter(app, transport, handlers, app_token=app_token,
                        installation_store=installation_store, state_store=state_store)
