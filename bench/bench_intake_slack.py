"""Intake benchmark, Slack: how fast Helpline acknowledges signed Slack requests over HTTP, next
to a bare slack-bolt app whose listeners only ``ack()`` (the floor).

Run from the repository root:

    .venv/bin/python bench/bench_intake_slack.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/bench_intake_slack.py --backend sqlite --requests 100
    .venv/bin/python bench/bench_intake_slack.py --profile /tmp/prof  # cProfile of the server

Two processes, as in production where Slack is elsewhere:

- this one plays Slack: ``FakeSlack`` (the Web API the app calls) and a client pool that POSTs
  signed requests (``SlackRequester``) and times each one to its HTTP response, the ack;
- a server process (this script with ``--serve``) runs the app on 127.0.0.1: either Helpline
  exactly as ``helpline run`` builds it (``build_core`` on a temp SQLite file or a fresh
  PostgreSQL schema, ``create_slack_adapter``, the HTTP app of ``bot.http``, the delivery worker
  and the timer worker in the same loop), or the floor: a bare ``AsyncApp`` served the same way.

Three kinds of request, ``--requests`` of each per concurrency level, run in this order:

- ``slash``: ``/support new`` from a different customer each time (Helpline acks, then opens
  the form with views.open);
- ``submit``: the view_submission of the form that request opened, a valid new ticket whose
  subject and customer are unique (no duplicate prompt, no self-service offer); Helpline files
  the ticket before it acks, as the modal must show the result;
- ``message``: a customer's reply in the DM thread of the ticket just filed (the worker has
  posted every thread first); Helpline acks, then relays it to the staff thread.

The floor gets the same requests (same customers, views and events). Each level starts with a
short warm-up. The report gives throughput (requests / time from the first send to the last
ack), p50/p99 of the ack time, the Helpline/floor throughput ratio, CPU use of both processes
during the phase (a process near 100 % is the limit), and checks: tickets counted in the
database, forms opened, outcomes of the submits, replies relayed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import math
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a folder of scripts; the fakes live in tests/
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

JSON = dict[str, Any]

DEFAULT_PG_URL = os.environ.get(
    "HELPLINE_BENCH_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
SIGNING_SECRET = "helpline-bench-secret"
KINDS = ("slash", "submit", "message")
WARMUP = 20
READY_TIMEOUT = 90.0
COMMAND_TIMEOUT = 300.0
REQUEST_TIMEOUT = 30.0
SERVE_MARK = "@@bench "  # prefixes the server's answers on stdout; anything else is ignored


# ---- shared with bench_intake_discord.py ---------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Phase:
    """One kind of request at one concurrency against one app."""

    kind: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    driver_cpu: float = 0.0
    # After the last ack, until the work the requests asked for was done (Helpline only):
    finish_wall: float = 0.0
    finish_cpu: float = 0.0

    def figures(self) -> JSON:
        ordered = sorted(self.latencies)
        wall = self.wall or math.nan
        answered = len(self.latencies) + len(self.errors)
        return {
            "requests": len(self.latencies) + len(self.errors),
            "ok": len(self.latencies),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "throughput": round(len(self.latencies) / wall, 1),
            "p50_ms": round(percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(percentile(ordered, 99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else math.nan,
            "server_cpu_pct": round(100 * self.server_cpu / wall),
            "driver_cpu_pct": round(100 * self.driver_cpu / wall),
            "finish_s": round(self.finish_wall, 2),
            "done_per_s": round(len(self.latencies) / (wall + self.finish_wall), 1),
            "cpu_ms_per_request": round(
                1000 * (self.server_cpu + self.finish_cpu) / max(answered, 1), 2),
        }


async def drive(
    phase: Phase,
    count: int,
    send: Callable[[int], Awaitable[str | None]],
    server: ServerProcess,
    *,
    deadline: float,
) -> Phase:
    """Send requests 0..count-1 from ``phase.concurrency`` clients, each taking the next index
    when its previous request was answered. ``send`` returns None when the answer is right, or
    what was wrong with it. Latency runs from just before ``send`` to its return."""
    indices = iter(range(count))

    async def client() -> None:
        for i in indices:  # shared: every index is taken once
            start = time.perf_counter()
            try:
                problem = await send(i)
            except Exception as exc:  # a failed request is a figure, not a crash
                problem = f"{exc.__class__.__name__}: {exc}"
            if problem is None:
                phase.latencies.append(time.perf_counter() - start)
            else:
                phase.errors.append(problem)

    cpu_server = (await server.ask("cpu"))["cpu"]
    cpu_driver = time.process_time()
    started = time.perf_counter()
    async with asyncio.timeout(deadline):
        await asyncio.gather(*(client() for _ in range(phase.concurrency)))
    phase.wall = time.perf_counter() - started
    phase.driver_cpu = time.process_time() - cpu_driver
    phase.server_cpu = (await server.ask("cpu"))["cpu"] - cpu_server
    return phase


def phase_deadline(count: int) -> float:
    """A generous bound on one phase, so a stuck server ends the run instead of hanging it."""
    return 60.0 + count * REQUEST_TIMEOUT / 10


ORGS = ("Acme", "Birch & Co", "Cobalt Labs", "Dunmore", "Elmwood", "Fenwick", "Galloway")
TICKETS = (
    ("Billing", "Invoice {n} shows the wrong VAT number for {org}",
     "Invoice INV-{n} for {org} shows VAT number GB{n} but ours is GB{m}. Please reissue it."),
    ("Billing", "Please add our purchase order {n} to the next invoice",
     "Our finance team at {org} needs PO {n} printed on the invoices from now on."),
    ("Account", "Change the company name on account {n} to {org}",
     "We renamed the company; account {n} should read {org} on every document."),
    ("Technical", "Calendar invites from {org} show the wrong time zone",
     "Since Monday invites created for meeting {n} appear one hour early for colleagues in "
     "Lisbon."),
    ("Technical", "Shared contacts folder {n} is empty for new colleagues at {org}",
     "The shared address book {n} shows no entries for people who joined {org} this month."),
    ("Other", "Question about the data processing agreement for {org}",
     "Legal at {org} asks for a signed copy of the DPA, reference {n}."),
)


def ticket_text(i: int) -> tuple[str, str, str]:
    """(category, subject, message) of the i-th ticket: unique, and quiet (no self-service
    article matches these topics; each customer files one ticket, so no duplicate either)."""
    category, subject, message = TICKETS[i % len(TICKETS)]
    org = f"{ORGS[(i // len(TICKETS)) % len(ORGS)]} {i}"
    values = {"n": 10_000 + i, "m": 50_000 + i, "org": org}
    return category, subject.format(**values), message.format(**values)


REPLY_MARK = re.compile(r"Reply (\d+): the report for batch")


def reply_text(i: int) -> str:
    return (f"Reply {i}: the report for batch {10_000 + i} still shows the old figures after "
            f"the refresh you suggested.")


async def postgres_reason(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not."""
    try:
        conn = await asyncpg.connect(_dsn(url), timeout=3)
        await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


async def create_schema(url: str, prefix: str) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return schema


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def use_schema(engine: Any, schema: str) -> None:
    """Put every new connection of ``engine`` on ``schema`` (``build_core`` takes only a URL,
    and asyncpg takes no search_path from one). Before the first connection, i.e. migrations."""
    from sqlalchemy import event

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET inside a rolled-back transaction is undone
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET SESSION search_path TO "{schema}"')
        cursor.close()
        dbapi_connection.autocommit = autocommit

    event.listen(engine.sync_engine, "connect", on_connect, insert=True)


async def core_for(settings: Any, config: Any, schema: str | None) -> Any:
    """Helpline's core as ``helpline run`` builds it, on the spec's database."""
    from bot.bootstrap import build_core

    core = await build_core(settings, config=config, migrate=schema is None)
    if schema is not None:
        use_schema(core.db.engine, schema)
        await core.db.upgrade()
    return core


async def core_stats(core: Any) -> JSON:
    from sqlalchemy import func, select

    from core.storage.tables import OutboxRow, TicketRow

    async with core.db.sessions() as session:
        tickets = await session.scalar(select(func.count()).select_from(TicketRow))
        states = (await session.execute(
            select(OutboxRow.state, func.count()).group_by(OutboxRow.state))).all()
    return {"tickets": int(tickets or 0), "outbox": {str(s): int(n) for s, n in states}}


async def settle_outbox(core: Any, worker: Any, within: float = 120.0) -> None:
    """Deliver until no outbox row is pending: ``drain`` alone returns while the background
    worker still holds rows it claimed. Rows backing off after a failure end it at ``within``
    (they show in the stats)."""
    from sqlalchemy import func, select

    from core.storage.tables import OutboxRow

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await worker.drain()
        async with core.db.sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.state == "pending"))
        if not pending:
            return
        await asyncio.sleep(0.05)  # rows another pass holds: nothing to await but the database


class ServerProcess:
    """The app under test in a process of its own (this script, or the Discord one, with
    ``--serve SPEC``). It prints one ready line, then answers one JSON command per stdin line
    (``cpu``, ``settle``, ``stats``, ``stop``) with one JSON line."""

    def __init__(self, script: Path, spec: JSON) -> None:
        self.script = script
        self.spec = spec
        self.ready: JSON = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ServerProcess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, str(self.script), "--serve", json.dumps(self.spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env)
        self.ready = await self._answer(READY_TIMEOUT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.returncode is None:
                await self.ask("stop")
            await asyncio.wait_for(proc.wait(), timeout=30)
        except (TimeoutError, ConnectionError, RuntimeError):
            if proc.returncode is None:
                proc.kill()  # our own child, by its handle
                await proc.wait()

    async def ask(self, cmd: str) -> JSON:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"cmd": cmd}) + "\n").encode())
        await self._proc.stdin.drain()
        return await self._answer(COMMAND_TIMEOUT)

    async def _answer(self, within: float) -> JSON:
        assert self._proc is not None and self._proc.stdout is not None
        async with asyncio.timeout(within):
            while True:
                line = await self._proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the server process ended (exit {self._proc.returncode})")
                text = line.decode()
                if text.startswith(SERVE_MARK):
                    answer: JSON = json.loads(text[len(SERVE_MARK):])
                    if "error" in answer:
                        raise RuntimeError(f"server: {answer['error']}")
                    return answer


@dataclass
class Served:
    """What a server process runs: answers the driver's commands, and stops."""

    ready: JSON
    settle: Callable[[], Awaitable[None]]
    stats: Callable[[], Awaitable[JSON]]
    close: Callable[[], Awaitable[None]]


async def serve_commands(start: Callable[[JSON], Awaitable[Served]], spec: JSON) -> None:
    """The server process's main loop (see ``ServerProcess``)."""

    def say(answer: JSON) -> None:
        sys.stdout.write(SERVE_MARK + json.dumps(answer) + "\n")
        sys.stdout.flush()

    from bot.logs import setup_logging

    setup_logging("text", "WARNING")  # as `helpline run` logs, minus the per-request info lines
    profiler = cProfile.Profile() if spec.get("profile") else None
    if profiler is not None:
        profiler.enable()
    try:
        served = await start(spec)
    except Exception as exc:
        say({"error": f"{exc.__class__.__name__}: {exc}"})
        raise
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    say(served.ready)
    try:
        while line := await reader.readline():
            cmd = json.loads(line)["cmd"]
            if cmd == "stop":
                break
            if cmd == "cpu":
                say({"cpu": time.process_time()})
            elif cmd == "settle":
                await served.settle()
                say({"settled": True})
            elif cmd == "stats":
                say(await served.stats())
    finally:
        await served.close()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
    say({"stopped": True})


def ratio(helpline: JSON, floor: JSON) -> float:
    if not floor.get("throughput"):
        return math.nan
    return round(float(helpline["throughput"]) / float(floor["throughput"]), 2)


def table(result: JSON, kinds: Sequence[str]) -> str:
    """The figures as a Markdown table (the README's form)."""
    lines = [
        "| backend | kind | conc. | Helpline req/s | p50 ms | p99 ms | floor req/s | floor p50 "
        "/ p99 ms | ratio | server CPU % | done/s | CPU ms/req (floor) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, run in result["backends"].items():
        if "skipped" in run:
            lines.append(f"| {backend} | skipped: {run['skipped']} |")
            continue
        for kind in kinds:
            for conc, h in run["helpline"][kind].items():
                f = run["floor"][kind][conc]
                lines.append(
                    f"| {backend} | {kind} | {conc} | {h['throughput']} | {h['p50_ms']} | "
                    f"{h['p99_ms']} | {f['throughput']} | {f['p50_ms']} / {f['p99_ms']} | "
                    f"{run['ratio'][kind][conc]} | {h['server_cpu_pct']} | "
                    f"{h['done_per_s']} | {h['cpu_ms_per_request']} "
                    f"({f['cpu_ms_per_request']}) | {h['errors']}+{f['errors']} |")
    return "\n".join(lines)


def machine() -> JSON:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load],
            "python": sys.version.split()[0]}


def parse_levels(text: str) -> list[int]:
    levels = [int(x) for x in text.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels are positive integers, e.g. 1,10,50")
    return levels


def common_args(parser: argparse.ArgumentParser, default_requests: int) -> None:
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=default_requests,
                        help="requests of each kind per concurrency level")
    parser.add_argument("--concurrency", type=parse_levels, default=[1, 10, 50],
                        help="comma-separated client counts, e.g. 1,10,50")
    parser.add_argument("--postgres-url", default=DEFAULT_PG_URL)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of each Helpline server process here (a "
                             "folder); profiling slows the server, so figures are not comparable")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)


# ---- the server process --------------------------------------------------------------------------


async def start_helpline(spec: JSON) -> Served:
    from adapters.slack.runtime import create_slack_adapter
    from bot.http import build_http_app
    from bot.settings import Settings
    from core.models import Platform
    from core.timers import TimerWorker
    from tests.adapters.slack_harness import desk_config

    settings = Settings(
        _env_file=None, database_url=spec["database_url"], slack_bot_token=spec["bot_token"],
        slack_signing_secret=SIGNING_SECRET, slack_app_token=None, slack_client_id=None,
        slack_client_secret=None, slack_api_url=spec["api_url"], discord_bot_token=None,
        http_host="127.0.0.1", http_port=0)
    core = await core_for(settings, desk_config(), spec.get("schema"))
    adapter = create_slack_adapter(core)
    http = build_http_app(core.db)
    await adapter.start(http)
    worker = core.start_worker({Platform.SLACK: adapter.transport})
    runner = web.AppRunner(http, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)),
             asyncio.create_task(TimerWorker(core.db, core.desk, core.desk.clock).run(stop))]

    async def close() -> None:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await adapter.stop()
        await runner.cleanup()
        await core.close()

    return Served({"url": f"http://{host}:{port}/slack/events"},
                  lambda: settle_outbox(core, worker), lambda: core_stats(core), close)


async def start_floor(spec: JSON) -> Served:
    """A bare bolt app: the same three request kinds, listeners that only ack."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack import blocks as ui

    app = AsyncApp(signing_secret=SIGNING_SECRET,
                   client=AsyncWebClient(token=spec["bot_token"], base_url=spec["api_url"]))

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    app.command("/support")(only_ack)
    app.view(ui.INTAKE_CALLBACK)(only_ack)
    app.event("message")(only_ack)

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    http = web.Application()
    http.router.add_post("/slack/events", handle)
    runner = web.AppRunner(http, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]

    async def nothing() -> None:
        return None

    async def no_stats() -> JSON:
        return {}

    return Served({"url": f"http://{host}:{port}/slack/events"}, nothing, no_stats,
                  runner.cleanup)


async def serve(spec: JSON) -> None:
    await serve_commands(start_helpline if spec["app"] == "helpline" else start_floor, spec)


# ---- the driver: Slack's side ------------------------------------------------------------------


@dataclass
class Level:
    """The requests of one concurrency level, kept so the floor gets the very same ones."""

    tag: str
    number: int  # tickets of level n are ticket_text(n * 100_000 + i): unique across levels
    size: int
    users: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    views: list[JSON | None] = field(default_factory=list)
    events: list[JSON | None] = field(default_factory=list)
    submit_titles: Counter[str] = field(default_factory=Counter)

    def ticket(self, i: int) -> tuple[str, str, str]:
        return ticket_text(self.offset + i)

    @property
    def offset(self) -> int:
        return self.number * 100_000


class SlackDriver:
    def __init__(self, slack: Any, session: aiohttp.ClientSession) -> None:
        self.slack = slack
        self.session = session

    def requester(self, url: str) -> Any:
        from tests.fakes.slack_requests import SlackRequester

        return SlackRequester(url, SIGNING_SECRET, response_url_base=self.slack.hooks_url,
                              team_id=self.slack.team_id, session=self.session)

    def new_level(self, tag: str, number: int, size: int) -> Level:
        level = Level(tag, number, size)
        for i in range(size):
            user = f"U{tag.upper()}{number}X{i:05d}"
            self.slack.add_user(user, name=f"customer-{tag}-{i}")
            level.users.append(user)
        level.triggers = [""] * size
        level.views = [None] * size
        level.events = [None] * size
        return level

    def sender(self, kind: str, level: Level, requester: Any,
               helpline: bool) -> Callable[[int], Awaitable[str | None]]:
        from adapters.slack import blocks as ui
        from tests.adapters.slack_harness import form_state

        async def slash(i: int) -> str | None:
            trigger = requester.new_trigger_id()
            if helpline:
                level.triggers[i] = trigger
            reply = await requester.slash_command("/support", "new", user_id=level.users[i],
                                                  trigger_id=trigger)
            return None if reply.status == 200 else f"HTTP {reply.status}: {reply.text[:80]}"

        async def submit(i: int) -> str | None:
            category, subject, message = level.ticket(i)
            reply = await requester.view_submission(
                ui.INTAKE_CALLBACK, form_state(category=category, subject=subject,
                                               message=message),
                view=level.views[i], user_id=level.users[i])
            if reply.status != 200:
                return f"HTTP {reply.status}: {reply.text[:80]}"
            if helpline:
                title = str(((reply.body.get("view") or {}).get("title") or {}).get("text", ""))
                level.submit_titles["Ticket #" if title.startswith("Ticket #") else
                                    title or str(reply.body)[:60]] += 1
            return None

        async def message(i: int) -> str | None:
            event = level.events[i]
            if event is None:
                return "no ticket thread to reply in"
            reply = await requester.event(event)
            return None if reply.status == 200 else f"HTTP {reply.status}: {reply.text[:80]}"

        return {"slash": slash, "submit": submit, "message": message}[kind]

    async def collect_views(self, level: Level) -> int:
        """The form each slash command opened (by its trigger), for the submits."""
        triggers = {t: i for i, t in enumerate(level.triggers) if t}
        try:
            await self.slack.wait_for(
                "views.open", lambda c: c.args.get("trigger_id") in triggers,
                count=len(triggers), timeout=30)
        except AssertionError:
            pass  # reported below as fewer forms opened
        opened = 0
        for call in self.slack.calls("views.open"):
            i = triggers.get(call.args.get("trigger_id"))
            if i is not None and call.ok and call.response:
                level.views[i] = self.slack.view(call.response["view"]["id"])
                opened += 1
        return opened

    def prepare_replies(self, level: Level) -> int:
        """A reply event in each customer's ticket thread (the DM message the worker posted)."""
        from tests.fakes.slack_requests import message_event

        threads = 0
        bot = self.slack.bot_user_id
        for i, user in enumerate(level.users):
            if level.events[i] is not None:  # prepared on an earlier call
                threads += 1
                continue
            dm = self.slack.dm_channel(user)
            roots = [m for m in self.slack.messages(dm)
                     if m.get("user") == bot and m.get("thread_ts") in (None, m["ts"])]
            if not roots:
                continue
            text = reply_text(level.offset + i)
            stored = self.slack.add_message(dm, text, user=user, thread_ts=roots[0]["ts"])
            level.events[i] = message_event(text, channel=dm, user=user, ts=stored["ts"],
                                            thread_ts=roots[0]["ts"])
            threads += 1
        return threads

    async def finish(self, kind: str, level: Level, server: ServerProcess,
                     relayed_before: int) -> None:
        """Wait until what a phase's requests asked for is done: every form opened (slash),
        every ticket's threads and card posted (submit), every reply relayed (message)."""
        if kind == "slash":
            triggers = {t for t in level.triggers if t}
            with contextlib.suppress(AssertionError):  # too few: reported as forms opened
                await self.slack.wait_for(
                    "views.open", lambda c: c.args.get("trigger_id") in triggers,
                    count=len(triggers), timeout=30)
        elif kind == "submit":
            await server.ask("settle")
        else:
            await self.wait_relayed(server, relayed_before + sum(1 for e in level.events if e))

    async def wait_relayed(self, server: ServerProcess, count: int, within: float = 60.0) -> None:
        """Let the replies acked last be handled and relayed before the server stops: their
        handlers run after the ack, so the outbox may not hold them yet."""
        deadline = time.monotonic() + within
        while self.relayed() < count and time.monotonic() < deadline:
            await server.ask("settle")
            await asyncio.sleep(0.1)  # handlers still running: nothing of theirs to await here

    def relayed(self) -> int:
        """Distinct customer replies that reached a staff thread."""
        from tests.adapters.slack_harness import STAFF_CHANNEL, all_text

        found: set[str] = set()
        for call in self.slack.calls("chat.postMessage"):
            if call.ok and call.args.get("channel") == STAFF_CHANNEL and call.args.get(
                    "thread_ts"):
                said = all_text(call.args.get("blocks")) + str(call.args.get("text") or "")
                found.update(REPLY_MARK.findall(said))
        return len(found)


async def run_levels(
    driver: SlackDriver, server: ServerProcess, requester: Any, levels: Sequence[Level], *,
    helpline: bool, checks: JSON,
) -> dict[str, dict[int, JSON]]:
    figures: dict[str, dict[int, JSON]] = {kind: {} for kind in KINDS}
    for level, conc in zip(levels, checks["concurrency"], strict=True):
        for kind in KINDS:
            if helpline and kind == "submit":
                checks["forms_opened"] += await driver.collect_views(level)
            if helpline and kind == "message":
                # Every ticket's threads posted and recorded; a submit that outlived its answer
                # ("Filing your ticket…") may still be filing its ticket.
                deadline = time.monotonic() + 60
                while True:
                    await server.ask("settle")
                    threads = driver.prepare_replies(level)
                    if threads == level.size or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                checks["reply_threads"] += threads
            phase = Phase(kind, conc)
            relayed_before = driver.relayed()
            await drive(phase, level.size, driver.sender(kind, level, requester, helpline),
                        server, deadline=phase_deadline(level.size))
            if helpline:
                cpu = (await server.ask("cpu"))["cpu"]
                started = time.perf_counter()
                await driver.finish(kind, level, server, relayed_before)
                phase.finish_wall = time.perf_counter() - started
                phase.finish_cpu = (await server.ask("cpu"))["cpu"] - cpu
            figures[kind][conc] = phase.figures()
    return figures


async def run_backend(args: argparse.Namespace, backend: str) -> JSON:
    from tests.fakes.slack_api import FakeSlack

    schema = None
    if backend == "postgres":
        if reason := await postgres_reason(args.postgres_url):
            return {"skipped": f"PostgreSQL not reachable ({reason})"}
        schema = await create_schema(args.postgres_url, "bench_intake")
    with tempfile.TemporaryDirectory(prefix="helpline-intake-") as tmp:
        url = (f"sqlite+aiosqlite:///{tmp}/helpline.db" if backend == "sqlite"
               else args.postgres_url)
        try:
            async with FakeSlack() as slack, aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                    connector=aiohttp.TCPConnector(limit=max(args.concurrency) + 10)) as session:
                driver = SlackDriver(slack, session)
                run_id = uuid.uuid4().hex[:4]
                warm = driver.new_level(f"W{run_id}", 0, min(WARMUP, args.requests))
                levels = [driver.new_level(f"C{c}{run_id}", n + 1, args.requests)
                          for n, c in enumerate(args.concurrency)]
                spec: JSON = {"app": "helpline", "database_url": url, "schema": schema,
                              "api_url": slack.api_url, "bot_token": slack.bot_token}
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spec["profile"] = str(args.profile / f"slack-{backend}.prof")
                checks: JSON = {"concurrency": args.concurrency, "forms_opened": 0,
                                "reply_threads": 0}
                warm_checks: JSON = {"concurrency": [min(10, warm.size)], "forms_opened": 0,
                                     "reply_threads": 0}
                async with ServerProcess(Path(__file__), spec) as server:
                    requester = driver.requester(server.ready["url"])
                    await run_levels(driver, server, requester, [warm], helpline=True,
                                     checks=warm_checks)
                    helpline = await run_levels(driver, server, requester, levels,
                                                helpline=True, checks=checks)
                    threads = checks["reply_threads"] + warm_checks["reply_threads"]
                    await driver.wait_relayed(server, threads)
                    stats = await server.ask("stats")
                floor_spec = {**spec, "app": "floor", "profile": None}
                async with ServerProcess(Path(__file__), floor_spec) as server:
                    requester = driver.requester(server.ready["url"])
                    await run_levels(driver, server, requester, [warm], helpline=False,
                                     checks=warm_checks)
                    floor = await run_levels(driver, server, requester, levels,
                                             helpline=False, checks=checks)
                outcomes: Counter[str] = Counter()
                for level in [warm, *levels]:
                    outcomes.update(level.submit_titles)
                return {
                    "helpline": helpline,
                    "floor": floor,
                    "ratio": {kind: {c: ratio(helpline[kind][c], floor[kind][c])
                                     for c in helpline[kind]} for kind in KINDS},
                    "checks": {
                        "tickets_in_database": stats["tickets"],
                        "tickets_expected": sum(lv.size for lv in [warm, *levels]),
                        "submit_outcomes": dict(outcomes),
                        "forms_opened": checks["forms_opened"] + warm_checks["forms_opened"],
                        "reply_threads": checks["reply_threads"] + warm_checks["reply_threads"],
                        "replies_relayed": driver.relayed(),
                        "outbox": stats["outbox"],
                    },
                }
        finally:
            if schema is not None:
                await drop_schema(args.postgres_url, schema)


async def run_backends(platform: str, args: argparse.Namespace,
                       run_backend: Callable[[argparse.Namespace, str], Awaitable[JSON]]
                       ) -> JSON:
    """Every backend asked for, one after the other, with the machine's load around them."""
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    result: JSON = {"platform": platform, "machine": machine(), "requests": args.requests,
                    "concurrency": args.concurrency, "backends": {}}
    for backend in backends:
        result["backends"][backend] = await run_backend(args, backend)
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def report(result: JSON, kinds: Sequence[str]) -> None:
    m = result["machine"]
    print(f"{result['platform']}: {result['requests']} requests per kind and level; "
          f"{m['cpus']} CPUs; load before {m['load_before']}, after {m['load_after']}")
    print(table(result, kinds))
    for backend, run in result["backends"].items():
        if "checks" in run:
            print(f"{backend} checks: {json.dumps(run['checks'])}")


def bench_main(platform: str, doc: str, kinds: Sequence[str],
               serve: Callable[[JSON], Awaitable[None]],
               run_backend: Callable[[argparse.Namespace, str], Awaitable[JSON]],
               argv: Sequence[str] | None) -> JSON:
    """The command line of an intake benchmark: serve (the server process) or drive, report
    and optionally write the JSON."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    common_args(parser, default_requests=300)
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(serve(json.loads(args.serve)))
        return {}
    result = asyncio.run(run_backends(platform, args, run_backend))
    report(result, kinds)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


def main(argv: Sequence[str] | None = None) -> JSON:
    return bench_main("slack", __doc__ or "", KINDS, serve, run_backend, argv)


if __name__ == "__main__":
    main()
