"""OAuth mode: install pages on Helpline's HTTP server, installations in Helpline's database
(slack-bolt's SQLAlchemy store), and every call made with the workspace's own bot token."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from slack_sdk.oauth.installation_store import Installation

from adapters.slack.runtime import BOT_SCOPES
from tests.adapters.slack_harness import STAFF_CHANNEL, desk_config, running_desk

OAUTH = {"slack_bot_token": None, "slack_client_id": "1111.2222",
         "slack_client_secret": "oauth-secret"}


async def test_install_page_and_workspace_tokens_from_the_installation_store(
    tmp_path: Path,
) -> None:
    config = desk_config(default_channel=f"slack:T0HELPLINE:{STAFF_CHANNEL}")
    async with running_desk(tmp_path, config, settings=OAUTH, bot_token=None) as h:
        store = h.adapter.installation_store
        assert store is not None
        await store.async_save(Installation(
            app_id="A0HELPLINE", team_id="T0HELPLINE", bot_token="xoxb-acme-workspace",
            bot_id="B0HELPBOT", bot_user_id="U0HELPBOT", bot_scopes=list(BOT_SCOPES),
            user_id="U0INSTALLER"))
        base = h.requester.url.removesuffix("/slack/events")

        async with aiohttp.ClientSession() as http, http.get(f"{base}/slack/install") as page:
            body = await page.text()
        ticket = await h.file_ticket()

        assert page.status == 200
        assert "https://slack.com/oauth/v2/authorize?state=" in body
        assert "client_id=1111.2222" in body and "commands,chat:write" in body
        tokens = {c.token for c in h.slack.calls() if c.method != "auth.test"}
        assert tokens == {"xoxb-acme-workspace"}
        assert h.card(ticket.id)["ts"] == ticket.card_ts
