"""Web API clients with the right bot token for each workspace.

One workspace (SLACK_BOT_TOKEN): one client. Many workspaces (OAuth): the bot token of each
installation, read from slack-bolt's installation store. Every client talks to
``SLACK_API_URL`` through one shared HTTP connection pool, with no retries of its own: a 429, a
5xx or a dropped connection is raised to the caller, so the outbox decides when to retry (and
first looks for a post that may already have landed)."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from core.outbound import DeliveryError


class WorkspaceClients:
    def __init__(
        self,
        api_url: str,
        *,
        bot_token: str | None = None,
        installation_store: AsyncInstallationStore | None = None,
        timeout: int = 30,
    ) -> None:
        self.api_url = api_url
        self.bot_token = bot_token
        self.installation_store = installation_store
        self.timeout = timeout
        self._by_token: dict[str, AsyncWebClient] = {}
        self._session: aiohttp.ClientSession | None = None
        self._default_team: str | None = None
        self._lock = asyncio.Lock()

    def client(self, token: str | None) -> AsyncWebClient:
        """A client for ``token`` (cached), on the shared connection pool."""
        key = token or ""
        found = self._by_token.get(key)
        if found is None:
            if self._session is None or self._session.closed:
                # A new TLS connection per call would cost more than the call itself.
                # slack_sdk applies its timeout only to sessions it makes itself.
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout)
                )
            # No SDK retries: a post resent blindly after a dropped connection can land twice.
            # The outbox retries instead, and checks the thread for the post first.
            found = AsyncWebClient(
                token=token,
                base_url=self.api_url,
                timeout=self.timeout,
                retry_handlers=[],
                session=self._session,
            )
            self._by_token[key] = found
        return found

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._by_token.clear()

    async def default_team(self) -> str:
        """The workspace of SLACK_BOT_TOKEN (auth.test, asked once)."""
        if self._default_team is None:
            if not self.bot_token:
                raise DeliveryError(
                    "no default workspace: with OAuth (many workspaces) write Slack channels "
                    "in the config as slack:TEAM_ID:CHANNEL_ID",
                    permanent=True,
                )
            async with self._lock:
                if self._default_team is None:
                    answer = await self.client(self.bot_token).auth_test()
                    self._default_team = str(answer["team_id"])
        return self._default_team

    async def token_for(self, workspace: str) -> str:
        if self.installation_store is not None and workspace:
            bot = await self.installation_store.async_find_bot(
                enterprise_id=None, team_id=workspace
            )
            if bot is not None and bot.bot_token:
                return str(bot.bot_token)
            if not self.bot_token:
                raise DeliveryError(
                    f"Helpline is not installed in Slack workspace {workspace}", permanent=True
                )
        if not self.bot_token:
            raise DeliveryError("no Slack bot token configured", permanent=True)
        return self.bot_token

    async def resolve(self, workspace: str) -> tuple[AsyncWebClient, str]:
        """(client, team id) for a workspace; "" means the default workspace."""
        team = workspace or await self.default_team()
        return self.client(await self.token_for(team)), team
