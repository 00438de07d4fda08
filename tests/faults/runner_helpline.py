"""One Helpline process for the kill and scale-out tests: ``python -m tests.faults.runner_helpline``.

It runs what ``helpline run`` runs (bot.runner's adapters from the same settings, the HTTP
server of bot.http, the delivery worker and the timer worker on the core of bot.bootstrap), with
the few knobs a test needs that production keeps fixed:

- ``HELPLINE_TEST_LEASE``: the outbox lease in seconds (120 in production), so a row claimed by
  a killed process is taken over within the test's time;
- ``HELPLINE_TEST_BATCH``: how many deliveries one process keeps in flight (20 in
  production); 1 makes the order of deliveries in a test deterministic;
- ``HELPLINE_TEST_TIMER_INTERVAL``: how often due timers are looked for (15 s in production);
- ``HELPLINE_TEST_PG_SCHEMA``: the PostgreSQL schema to use (each test has its own);
- ``HELPLINE_TEST_MIGRATE=0``: skip migrations (the test applied them once, before starting
  several processes);
- ``HELPLINE_TEST_LIFETIME``: the process stops itself after this many seconds, whatever
  happens to the test that started it.

``HELPLINE_HTTP_PORT=0`` picks a free port; the process prints ``LISTENING <port>`` on stdout
once it accepts requests. SIGTERM stops it cleanly; the tests also SIGKILL it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta

from aiohttp import web

from bot.bootstrap import Core
from bot.config_file import load_desk_config
from bot.http import build_http_app
from bot.logs import setup_logging
from bot.runner import create_adapters
from bot.settings import Settings
from core.knowledge import load_knowledge_base
from core.service import SupportDesk
from core.storage.db import Database
from core.timers import TimerWorker

log = logging.getLogger("helpline")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


async def build(settings: Settings) -> Core:
    """bot.bootstrap.build_core, with the test's schema on PostgreSQL."""
    config = load_desk_config(settings.config_path)
    kb = load_knowledge_base(config.knowledge_base_dir)
    schema = os.environ.get("HELPLINE_TEST_PG_SCHEMA")
    options = {"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}
    db = Database(settings.database_url, **options)
    if os.environ.get("HELPLINE_TEST_MIGRATE", "1") != "0":
        await db.upgrade()
    desk = SupportDesk(db, config, kb)
    return Core(settings=settings, config=config, db=db, kb=kb, desk=desk)


async def main() -> int:
    settings = Settings()
    setup_logging(settings.log_format, settings.log_level)
    lifetime = _env_float("HELPLINE_TEST_LIFETIME", 60.0)
    core = await build(settings)
    adapters = create_adapters(core)
    http = build_http_app(core.db)
    for adapter in adapters:
        await adapter.start(http)
    worker = core.start_worker({a.platform: a.transport for a in adapters},
                               lease=timedelta(seconds=_env_float("HELPLINE_TEST_LEASE", 120)),
                               batch=int(_env_float("HELPLINE_TEST_BATCH", 20)))
    runner = web.AppRunner(http, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(lifetime, stop.set)
    timer_interval = _env_float("HELPLINE_TEST_TIMER_INTERVAL", 15.0)
    tasks = [
        asyncio.create_task(worker.run(stop, idle_interval=0.2)),
        asyncio.create_task(
            TimerWorker(core.db, core.desk, core.desk.clock).run(stop, interval=timer_interval)),
    ]
    sys.stdout.write(f"LISTENING {port}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*tasks, return_exceptions=True)
        for adapter in adapters:
            await adapter.stop()
        await runner.cleanup()
        await core.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
