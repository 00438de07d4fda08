"""`helpline run`: the chat adapters whose credentials are set, the delivery worker and the
HTTP server, in one asyncio loop, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Protocol

from aiohttp import web

from bot.bootstrap import Core, build_core
from bot.http import build_http_app
from bot.logs import setup_logging
from bot.settings import Settings
from core.models import Platform
from core.outbound import Transport
from core.timers import TimerWorker
from core.transcripts import parse_unresolved_incidents

log = logging.getLogger("helpline")

NOTHING_TO_RUN = """\
helpline run: no chat platform is configured, so there is nothing to run.

Set one (or both) of:
  Slack (HTTP mode):    SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET
  Slack (Socket Mode):  SLACK_APP_TOKEN and SLACK_BOT_TOKEN
  Slack (many workspaces via OAuth): SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET
  Discord:              DISCORD_BOT_TOKEN

To try Helpline without any chat credentials, run:  helpline console
"""


class ChatAdapter(Protocol):
    """What the runner needs of a chat adapter."""

    @property
    def platform(self) -> Platform: ...

    @property
    def transport(self) -> Transport: ...

    async def start(self, http: web.Application) -> None:
        """Register HTTP routes (before the server starts) or open connections."""

    async def stop(self) -> None: ...


def create_adapters(core: Core) -> list[ChatAdapter]:
    adapters: list[ChatAdapter] = []
    if core.settings.slack_enabled:
        from adapters.slack.runtime import create_slack_adapter

        adapters.append(create_slack_adapter(core))
    if core.settings.discord_enabled:
        from adapters.discord.runtime import create_discord_adapter

        adapters.append(create_discord_adapter(core))
    return adapters


async def run(settings: Settings) -> int:
    if not (settings.slack_enabled or settings.discord_enabled):
        sys.stderr.write(NOTHING_TO_RUN)
        return 2
    setup_logging(settings.log_format, settings.log_level)
    core = await build_core(settings)
    adapters = create_adapters(core)
    http = build_http_app(core.db)
    for adapter in adapters:
        await adapter.start(http)
    worker = core.start_worker({a.platform: a.transport for a in adapters})
    runner = web.AppRunner(http, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info(
        "started",
        extra={
            "event": "started",
            "port": settings.http_port,
            "adapters": [str(a.platform) for a in adapters],
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(worker.run(stop)),
        asyncio.create_task(TimerWorker(core.db, core.desk, core.desk.clock).run(stop)),
    ]
    if core.config.incidents.status_page_api:
        tasks.append(asyncio.create_task(poll_status_page(core, stop)))
    try:
        await stop.wait()
    finally:
        log.info("stopping", extra={"event": "stopping"})
        await asyncio.gather(*tasks, return_exceptions=True)
        for adapter in adapters:
            await adapter.stop()
        await runner.cleanup()
        await core.close()
    return 0


async def poll_status_page(core: Core, stop: asyncio.Event) -> None:
    """Mirror the status page's unresolved incidents into the desk, every poll interval."""
    import aiohttp

    rules = core.config.incidents
    assert rules.status_page_api
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            try:
                async with http.get(rules.status_page_api) as resp:
                    resp.raise_for_status()
                    incidents = parse_unresolved_incidents(await resp.json(content_type=None))
                await core.desk.sync_status_page(incidents)
            except Exception as exc:  # a status page outage must not stop the desk
                log.warning(
                    "status page poll failed",
                    extra={"event": "status_page_failed", "error": str(exc)[:200]},
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout=rules.poll_seconds)
            except TimeoutError:
                pass
