"""OAuth mode: install pages on Helpline's HTTP server, installations in Helpline's database
(slack-bolt's SQLAlchemy store), and every call made with the workspace's own bot token.

The install is walked as a browser and Slack would walk it: GET /slack/install (a state in a
cookie and in the authorize URL), a person approving on slack.com (`FakeSlack.authorize` hands
out the code), GET /slack/oauth_redirect with code, state and cookie, and bolt exchanging the
code at `oauth.v2.access` on the fake."""

from __future__ import annotations

import html
import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.state_utils import OAuthStateUtils

from adapters.slack.runtime import BOT_SCOPES
from tests.adapters.slack_harness import STAFF_CHANNEL, RunningDesk, desk_config, running_desk
from tests.fakes.slack_api import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

OAUTH = {"slack_bot_token": None, "slack_client_id": DEFAULT_CLIENT_ID,
         "slack_client_secret": DEFAULT_CLIENT_SECRET}
STATE_COOKIE = OAuthStateUtils.default_cookie_name
INSTALLER = "U0INSTALLER"


def oauth_desk(tmp_path: Path, *, client_secret: str = DEFAULT_CLIENT_SECRET,
               ) -> AbstractAsyncContextManager[RunningDesk]:
    """The desk installed to no workspace yet; staff channels name their workspace."""
    config = desk_config(default_channel=f"slack:T0HELPLINE:{STAFF_CHANNEL}")
    return running_desk(tmp_path, config, bot_token=None,
                        settings={**OAUTH, "slack_client_secret": client_secret})


@dataclass(frozen=True)
class Page:
    status: int
    text: str
    cookies: SimpleCookie


class Browser:
    """GETs Helpline's install pages. The state cookie is marked Secure, so over the tests'
    plain http it is sent by hand, as a browser would send it over https."""

    def __init__(self, h: RunningDesk) -> None:
        self.base = h.requester.url.removesuffix("/slack/events")

    async def get(self, path: str, *, cookie: str | None = None) -> Page:
        headers = {"Cookie": f"{STATE_COOKIE}={cookie}"} if cookie is not None else {}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http, \
                http.get(f"{self.base}{path}", headers=headers, allow_redirects=False) as page:
            return Page(page.status, await page.text(), SimpleCookie(
                "\n".join(page.headers.getall("Set-Cookie", []))))

    async def install_page(self) -> tuple[str, str]:
        """(authorize URL, state) from /slack/install; checks the cookie holds the same state."""
        page = await self.get("/slack/install")
        assert page.status == 200, page.text
        found = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.text)
        assert found, page.text
        url = html.unescape(found.group(1))
        state = parse_qs(urlsplit(url).query)["state"][0]
        assert page.cookies[STATE_COOKIE].value == state
        return url, state

    async def redirect(self, *, cookie: str | None, **query: str) -> Page:
        return await self.get(f"/slack/oauth_redirect?{urlencode(query)}", cookie=cookie)


async def stored(h: RunningDesk) -> Installation | None:
    store = h.adapter.installation_store
    assert store is not None
    return await store.async_find_installation(enterprise_id=None, team_id=h.slack.team_id)


async def test_install_page_and_workspace_tokens_from_the_installation_store(
    tmp_path: Path,
) -> None:
    config = desk_config(default_channel=f"slack:T0HELPLINE:{STAFF_CHANNEL}")
    async with running_desk(tmp_path, config, settings=OAUTH, bot_token=None) as h:
        await h.install_workspace()
        base = h.requester.url.removesuffix("/slack/events")

        async with aiohttp.ClientSession() as http, http.get(f"{base}/slack/install") as page:
            body = await page.text()
        ticket = await h.file_ticket()

        assert page.status == 200
        assert "https://slack.com/oauth/v2/authorize?state=" in body
        assert f"client_id={DEFAULT_CLIENT_ID}" in body and "commands,chat:write" in body
        tokens = {c.token for c in h.slack.calls() if c.method != "auth.test"}
        assert tokens == {"xoxb-acme-workspace"}
        assert h.card(ticket.id)["ts"] == ticket.card_ts


async def test_installing_through_slack_stores_the_workspace_whose_bot_token_then_serves_it(
    tmp_path: Path,
) -> None:
    async with oauth_desk(tmp_path) as h:
        browser = Browser(h)
        authorize_url, state = await browser.install_page()
        code = h.slack.authorize(authorize_url, installer=INSTALLER)

        done = await browser.redirect(cookie=state, code=code, state=state)

        assert done.status == 200, done.text
        assert "Thank you!" in done.text
        assert f"slack://app?team={h.slack.team_id}&amp;id={h.slack.app_id}" in done.text
        [exchange] = h.slack.calls("oauth.v2.access")
        assert exchange.ok, exchange.describe()
        assert exchange.headers["Authorization"].startswith("Basic ")
        assert exchange.response is not None
        token = exchange.response["access_token"]
        installation = await stored(h)
        assert installation is not None
        assert (installation.bot_token, installation.bot_user_id, installation.bot_id) == (
            token, h.slack.bot_user_id, h.slack.bot_id)
        assert installation.bot_scopes == list(BOT_SCOPES)
        assert (installation.user_id, installation.app_id) == (INSTALLER, h.slack.app_id)

        ticket = await h.file_ticket()

        assert h.card(ticket.id)["ts"] == ticket.card_ts
        tokens = {c.token for c in h.slack.calls() if c.method != "oauth.v2.access"}
        assert tokens == {token}


async def test_a_redirect_without_the_browsers_own_unused_state_is_refused_and_installs_nothing(
    tmp_path: Path,
) -> None:
    async with oauth_desk(tmp_path) as h:
        browser = Browser(h)
        authorize_url, state = await browser.install_page()
        _, other_state = await browser.install_page()
        code = h.slack.authorize(authorize_url)

        refused = [
            await browser.redirect(cookie=None, code=code, state=state),
            await browser.redirect(cookie=other_state, code=code, state=state),
            await browser.redirect(cookie=state, code=code),
            await browser.redirect(cookie="forged", code=code, state="forged"),
        ]

        assert [(p.status, "Oops, Something Went Wrong!" in p.text) for p in refused] == [
            (400, True), (400, True), (400, True), (401, True)]
        assert "invalid_browser" in refused[0].text and "invalid_state" in refused[3].text
        assert h.slack.calls("oauth.v2.access") == []
        assert await stored(h) is None

        # The code was never spent: the genuine redirect still installs, once; replayed, its
        # state is refused even with a fresh code.
        genuine = await browser.redirect(cookie=state, code=code, state=state)
        replayed = await browser.redirect(cookie=state, code=h.slack.authorize(authorize_url),
                                          state=state)

        assert genuine.status == 200, genuine.text
        assert replayed.status == 401 and "invalid_state" in replayed.text
        assert len(h.slack.calls("oauth.v2.access")) == 1
        assert await stored(h) is not None


@pytest.mark.parametrize(("client_secret", "issued_code", "error"), [
    (DEFAULT_CLIENT_SECRET, False, "invalid_code"),
    ("not-the-client-secret", True, "bad_client_secret"),
])
async def test_an_exchange_slack_refuses_shows_a_failure_page_and_stores_nothing(
    tmp_path: Path, client_secret: str, issued_code: bool, error: str,
) -> None:
    async with oauth_desk(tmp_path, client_secret=client_secret) as h:
        browser = Browser(h)
        authorize_url, state = await browser.install_page()
        code = h.slack.authorize(authorize_url) if issued_code else "4724469134.1.never-issued"

        page = await browser.redirect(cookie=state, code=code, state=state)

        assert page.status == 401
        assert "Oops, Something Went Wrong!" in page.text
        [exchange] = h.slack.calls("oauth.v2.access")
        assert exchange.outcome == f"error:{error}"
        assert await stored(h) is None
        assert h.slack.calls("auth.test") == []
