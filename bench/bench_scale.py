"""Scale benchmark: the customer and staff reads of issue 7 on a large PostgreSQL desk.

Run from the repository root:

    .venv/bin/python bench/bench_scale.py                    # 1,000,000 tickets, 10,000 accounts
    .venv/bin/python bench/bench_scale.py --reuse            # keep the seeded schema, time again
    .venv/bin/python bench/bench_scale.py --reuse --without-queue-index  # the schema before
                                                                         # migration 0004

It seeds a dedicated schema (``bench_scale``) through the real migrations, then times the four
reads a busy desk makes most, each through the code path production uses:

- Support Center: ``SupportDesk.support_center`` (a customer's tickets, newest first);
- my open tickets: ``SupportDesk.my_tickets(open_only=True)``;
- staff queue: ``SupportDesk.list_tickets()`` (open tickets: urgent, plan rank, age);
- duplicate check: the open-subjects query ``SupportDesk.submit`` runs, then ``find_duplicate``.

Times are wall-clock per call from Python (pool checkout, transaction, ORM, views), one client,
after a short warm-up. A query whose p99 misses the target gets its plan printed (EXPLAIN
ANALYZE of the exact SQL the service sent, for the customer with the most tickets).

The data: accounts on plans Nano/Starter/Pro/Agency (35/40/18/7 %), customers per account
Zipf-skewed, tickets per customer Pareto-skewed between 1 and 300, created over up to three
years and inserted in time order (so a customer's tickets are scattered over the table as in
production), about 15 % open (recent tickets far more often), about 3 % urgent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import event, select

from core.config import DeskConfig
from core.knowledge import find_duplicate, load_knowledge_base
from core.models import Category, Identity, Plan, Platform, Status
from core.service import SupportDesk
from core.storage.db import Database
from core.storage.tables import TicketRow

DEFAULT_URL = os.environ.get(
    "HELPLINE_BENCH_POSTGRES_URL", "postgresql+asyncpg://root@127.0.0.1:5432/test"
)
TARGET_MS = 10.0
WARMUP_CALLS = 20
PLAN_SHARE = {Plan.NANO: 0.35, Plan.STARTER: 0.40, Plan.PRO: 0.18, Plan.AGENCY: 0.07}
CATEGORY_SHARE = {
    Category.TECHNICAL: 30,
    Category.DELIVERABILITY: 18,
    Category.BILLING: 15,
    Category.ACCOUNT: 12,
    Category.API: 6,
    Category.ABUSE: 4,
    Category.FEATURE: 5,
    Category.SALES: 3,
    Category.PARTNERSHIP: 1,
    Category.AFFILIATE: 1,
    Category.OTHER: 5,
}
SUBJECT_TEMPLATES = [
    "Emails to {domain} bounce with {code}",
    "Outlook keeps asking for the password of {mailbox}",
    "Invoice {invoice} charged twice",
    "DKIM record for {domain} not verifying",
    "Can't receive mail on {mailbox} since {day}",
    "Messages from {domain} land in spam",
    "Card declined when renewing {plan} plan",
    "Need to add an alias to {mailbox}",
    "IMAP sync stuck on {client}",
    "API returns 429 for {domain} webhook",
    "Migrate {domain} mailboxes from another host",
    "SPF fails for {domain} after DNS change",
    "Calendar invites from {mailbox} not delivered",
    "Refund for invoice {invoice}",
    "Can't log in to webmail as {mailbox}",
    "Attachment over 20 MB rejected for {mailbox}",
    "Mailbox {mailbox} over quota",
    "Forwarding from {mailbox} to gmail stopped",
    "Upgrade {domain} to {plan} plan",
    "Spam filter too strict on {domain}",
    "Catch-all for {domain} not working",
    "Reverse DNS question for {domain}",
    "Delete account and export mail for {domain}",
    "SMTP relay timeouts from {client}",
    "Phishing sent from {mailbox}, account compromised?",
]
CLIENTS = ["Thunderbird", "Outlook 2021", "Apple Mail", "iOS Mail", "Spark", "K-9 Mail"]
DAYS = ["Monday", "Tuesday", "yesterday", "this morning", "the weekend", "last week"]
CODES = ["550 5.7.1", "421 4.7.0", "554 5.7.9", "552 5.2.2", "451 4.3.0"]


def subject_pool(size: int, seed: int) -> list[str]:
    """Distinct-looking subjects in customers' words, with the specifics that vary."""
    rng = random.Random(seed)
    pool = []
    for n in range(size):
        template = SUBJECT_TEMPLATES[n % len(SUBJECT_TEMPLATES)]
        domain = f"{rng.choice(['acme', 'nordlicht', 'bluefin', 'olive', 'kestrel'])}{n}.com"
        pool.append(
            template.format(
                domain=domain,
                mailbox=f"{rng.choice(['info', 'sales', 'anna', 'ops', 'billing'])}@{domain}",
                code=rng.choice(CODES),
                invoice=f"INV-{rng.randint(10000, 99999)}",
                day=rng.choice(DAYS),
                plan=rng.choice(["Pro", "Agency", "Starter"]),
                client=rng.choice(CLIENTS),
            )
        )
    return pool


# ---- seeding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    plan: Plan
    platform: Platform
    workspace: str


def make_accounts(count: int, rng: random.Random) -> list[Account]:
    plans = rng.choices(list(PLAN_SHARE), weights=list(PLAN_SHARE.values()), k=count)
    accounts = []
    for n, plan in enumerate(plans):
        if rng.random() < 0.65:
            accounts.append(Account(f"acct-{n:05d}", plan, Platform.SLACK, f"T{n:08d}"))
        else:
            accounts.append(Account(f"acct-{n:05d}", plan, Platform.DISCORD, str(9_000_000 + n)))
    return accounts


def make_customers(tickets: int, accounts: Sequence[Account], rng: random.Random) -> list[tuple]:
    """(customer_key, platform, workspace, user_id, name, account_id, plan, rank, tickets,
    tenure_days): ticket counts Pareto-skewed in 1..300 summing to ``tickets``; customers
    spread over accounts with Zipf weights, so a few accounts are large and most are small."""
    counts: list[int] = []
    total = 0
    while total < tickets:
        n = min(300, int(rng.paretovariate(1.1)), tickets - total)
        counts.append(n)
        total += n
    order = list(accounts)
    rng.shuffle(order)
    cum: list[float] = []
    running = 0.0
    for rank in range(len(order)):
        running += 1.0 / (rank + 1) ** 0.8
        cum.append(running)
    owners = rng.choices(order, cum_weights=cum, k=len(counts))
    rows = []
    for k, (n, account) in enumerate(zip(counts, owners, strict=True)):
        user = f"U{k:08d}" if account.platform is Platform.SLACK else str(7_000_000_000 + k)
        key = f"{account.platform}:{account.workspace}:{user}"
        tenure = 30.0 + rng.random() * 1065.0
        rows.append(
            (
                key,
                str(account.platform),
                account.workspace,
                user,
                f"Customer {k}",
                account.id,
                account.plan.value,
                account.plan.rank,
                n,
                tenure,
            )
        )
    return rows


# Tickets are generated by the server from one row per customer: ``n`` tickets each, created
# uniformly over the customer's tenure, and inserted oldest first, as a real desk inserts them.
# Open is likelier for recent tickets: 10 % + 70 % * exp(-age/20 days), about 15 % overall.
TICKETS_SQL = """
WITH drawn AS (
    SELECT c.*, g,
           now() - (random() * c.tenure_days) * interval '1 day' AS created,
           random() AS r_open, random() AS r_wait, random() AS r_urgent, random() AS r_assign,
           floor(random() * $1)::int AS subject_no, random() AS r_category,
           random() * 72 AS hours_to_close
    FROM bench_customers c CROSS JOIN LATERAL generate_series(1, c.n) AS g
), shaped AS (
    SELECT d.*,
           CASE WHEN r_open < 0.10 + 0.70 * exp(-extract(epoch FROM now() - created) / 86400 / 20)
                THEN CASE WHEN r_wait < 0.65 THEN 'Open' ELSE 'Waiting on customer' END
                ELSE 'Closed' END AS status,
           r_urgent < 0.03 AS urgent
    FROM drawn d
)
INSERT INTO tickets (
    account_id, plan, priority_rank, urgent, customer_key, customer_platform,
    customer_workspace, customer_user_id, customer_name, category, subject, status, assignee,
    created_at, updated_at, closed_at, customer_destination, customer_thread, staff_destination,
    staff_card, staff_thread, customer_thread_key, staff_thread_key, offered_articles, details,
    reopen_count, close_count, waiting_since, response_due_at, target_warn_at, first_response_at
)
SELECT
    s.account_id, s.plan, s.rank, s.urgent, s.customer_key, s.platform,
    s.workspace, s.user_id, s.name, cat.category,
    CASE WHEN s.urgent THEN 'URGENT: ' ELSE '' END || subj.subject,
    s.status,
    CASE WHEN s.status = 'Closed' OR s.r_assign < 0.5
         THEN 'staff-' || lpad((floor(s.r_assign * 20))::int::text, 2, '0') END,
    s.created,
    CASE WHEN s.status = 'Closed' THEN s.created + s.hours_to_close * interval '1 hour'
         ELSE s.created + s.hours_to_close / 10 * interval '1 hour' END,
    CASE WHEN s.status = 'Closed' THEN s.created + s.hours_to_close * interval '1 hour' END,
    json_build_object('platform', s.platform, 'workspace', s.workspace, 'channel_id', NULL,
                      'user_id', s.user_id),
    json_build_object('platform', s.platform, 'workspace', s.workspace,
                      'channel_id', 'dm-' || s.user_id, 'thread_id', 'th' || s.g),
    '{"platform": "slack", "workspace": "TSTAFF", "channel_id": "C-support", "user_id": null}',
    json_build_object('platform', 'slack', 'workspace', 'TSTAFF', 'channel_id', 'C-support',
                      'message_id', s.customer_key || '/' || s.g),
    json_build_object('platform', 'slack', 'workspace', 'TSTAFF', 'channel_id', 'C-support',
                      'thread_id', s.customer_key || '/' || s.g),
    s.platform || ':' || s.workspace || ':dm-' || s.user_id || ':th' || s.g,
    'slack:TSTAFF:C-support:' || s.customer_key || '/' || s.g,
    '[]',
    '{"domains": [], "mailboxes": [], "invoice_ids": [], "smtp_codes": [], "timestamps": []}',
    0, CASE WHEN s.status = 'Closed' THEN 1 ELSE 0 END,
    CASE WHEN s.status = 'Waiting on customer' THEN s.created + interval '2 hours' END,
    CASE WHEN s.status = 'Open' AND s.plan <> 'Nano' THEN s.created + interval '1 day' END,
    CASE WHEN s.status = 'Open' AND s.plan <> 'Nano' THEN s.created + interval '18 hours' END,
    CASE WHEN s.status <> 'Open' THEN s.created + interval '2 hours' END
FROM shaped s
JOIN bench_subjects subj ON subj.i = s.subject_no
JOIN bench_categories cat ON s.r_category >= cat.lo AND s.r_category < cat.hi
ORDER BY s.created
"""


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def seed(url: str, schema: str, tickets: int, accounts: int, seed_value: int) -> dict:
    """A fresh schema, migrated by ``Database.upgrade()``, filled with the desk's rows."""
    rng = random.Random(seed_value)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    db = open_database(url, schema)
    try:
        await db.upgrade()
    finally:
        await db.dispose()

    started = time.perf_counter()
    account_list = make_accounts(accounts, rng)
    customers = make_customers(tickets, account_list, rng)
    subjects = subject_pool(5000, seed_value)
    cum, categories = 0.0, []
    total_weight = sum(CATEGORY_SHARE.values())
    for category, weight in CATEGORY_SHARE.items():
        categories.append((category.value, cum, cum + weight / total_weight))
        cum += weight / total_weight
    categories[-1] = (categories[-1][0], categories[-1][1], 1.01)

    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"search_path": schema})
    try:
        # Session-only settings: a bulk load does not need each commit on disk, and sorts in
        # memory.
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET work_mem = '512MB'")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute(f"SELECT setseed({(seed_value % 1000) / 1000})")
        stamp = datetime.now(UTC)
        await conn.copy_records_to_table(
            "accounts",
            schema_name=schema,
            columns=["id", "name", "plan", "white_label", "staff_channel", "updated_at"],
            records=[
                (a.id, f"Account {a.id}", a.plan.value, False, None, stamp) for a in account_list
            ],
        )
        await conn.copy_records_to_table(
            "account_workspaces",
            schema_name=schema,
            columns=["workspace", "account_id"],
            records=[(f"{a.platform}:{a.workspace}", a.id) for a in account_list],
        )
        await conn.execute(
            """CREATE TEMP TABLE bench_customers (
                customer_key text, platform text, workspace text, user_id text, name text,
                account_id text, plan text, rank smallint, n int, tenure_days float8)"""
        )
        await conn.copy_records_to_table("bench_customers", records=customers)
        await conn.execute("CREATE TEMP TABLE bench_subjects (i int PRIMARY KEY, subject text)")
        await conn.copy_records_to_table("bench_subjects", records=list(enumerate(subjects)))
        await conn.execute(
            "CREATE TEMP TABLE bench_categories (category text, lo float8, hi float8)"
        )
        await conn.copy_records_to_table("bench_categories", records=categories)
        await conn.execute("ANALYZE bench_customers; ANALYZE bench_subjects")
        # Secondary indexes are dropped for the load and rebuilt once after it (as a restore
        # does): building an index from sorted data is several times faster than growing it
        # row by row. The definitions are read back from the catalog, so they are exactly the
        # ones the migrations created.
        index_defs = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = $1 AND i.tablename = 'tickets'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                 WHERE c.conname = i.indexname
                                   AND c.connamespace = $1::regnamespace)""",
            schema,
        )
        for row in index_defs:
            await conn.execute(f'DROP INDEX "{schema}"."{row["indexname"]}"')
        inserted = await conn.execute(TICKETS_SQL, float(len(subjects)))
        for row in index_defs:
            await conn.execute(row["indexdef"])
        await conn.execute("VACUUM (ANALYZE) tickets")
        await conn.execute("VACUUM (ANALYZE) accounts")
        await conn.execute("VACUUM (ANALYZE) account_workspaces")
        stats = await conn.fetchrow(
            """SELECT count(*) AS tickets,
                      count(*) FILTER (WHERE status <> 'Closed') AS open,
                      count(*) FILTER (WHERE urgent) AS urgent,
                      count(*) FILTER (WHERE urgent AND status <> 'Closed') AS urgent_open,
                      pg_total_relation_size('tickets') AS bytes
               FROM tickets"""
        )
    finally:
        await conn.close()
    return {
        "seconds": time.perf_counter() - started,
        "inserted": int(inserted.split()[-1]),
        "customers": len(customers),
        **dict(stats),
    }


# The staff queue's index (migration 0004, first proposed by this benchmark): the open tickets
# already in queue order, so the queue reads 100 index entries instead of sorting every open
# ticket. Created here too, so a schema seeded before 0004 and reused matches the migrated one.
PROPOSED_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_tickets_open_queue ON tickets "
    "(urgent DESC, priority_rank, created_at, id) "
    "WHERE status IN ('Open', 'Waiting on customer')"
)


async def set_proposed_index(url: str, schema: str, present: bool) -> None:
    """Add the proposed index to the benchmark schema, or make sure it is absent, so a run
    measures exactly the schema it says it measures."""
    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"search_path": schema})
    try:
        if present:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute(PROPOSED_INDEX)
            await conn.execute("ANALYZE tickets")
        else:
            await conn.execute(f'DROP INDEX IF EXISTS "{schema}".ix_tickets_open_queue')
    finally:
        await conn.close()


async def schema_seeded(url: str, schema: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".tickets')
        return found is not None and bool(
            await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{schema}".tickets)')
        )
    finally:
        await conn.close()


def open_database(url: str, schema: str) -> Database:
    return Database(url, connect_args={"server_settings": {"search_path": schema}})


# ---- the queries -----------------------------------------------------------------------------


@dataclass
class Customers:
    """Who the benchmark asks about: every customer with tickets, and their ticket counts."""

    identities: list[Identity]
    ticket_counts: list[int]
    cum_counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        running = 0
        for count in self.ticket_counts:
            running += count
            self.cum_counts.append(running)

    def pick(self, rng: random.Random) -> Identity:
        """Half by ticket volume (busy customers come back more), 40 % uniformly over
        customers, 10 % someone with no ticket yet."""
        roll = rng.random()
        if roll < 0.5:
            return rng.choices(self.identities, cum_weights=self.cum_counts)[0]
        if roll < 0.9:
            return rng.choice(self.identities)
        known = rng.choice(self.identities)
        return Identity(
            platform=known.platform,
            workspace=known.workspace,
            user_id=f"new-{rng.randrange(10**9)}",
        )

    def heaviest(self) -> Identity:
        return self.identities[self.ticket_counts.index(max(self.ticket_counts))]


async def load_customers(url: str, schema: str) -> Customers:
    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT customer_key, count(*) AS n FROM tickets GROUP BY customer_key"
        )
    finally:
        await conn.close()
    identities, counts = [], []
    for row in rows:
        platform, workspace, user = row["customer_key"].split(":", 2)
        identities.append(Identity(platform=Platform(platform), workspace=workspace, user_id=user))
        counts.append(row["n"])
    return Customers(identities, counts)


_OPEN_STATES = (Status.OPEN.value, Status.WAITING_ON_CUSTOMER.value)


async def duplicate_check(desk: SupportDesk, customer: Identity, subject: str) -> int:
    """What ``SupportDesk.submit`` does before filing: the customer's open subjects (the same
    statement as in core/service.py), then ``find_duplicate``. Returns how many were compared."""
    async with desk.db.transaction() as session:
        open_tickets = (
            await session.execute(
                select(TicketRow.id, TicketRow.subject)
                .where(TicketRow.customer_key == customer.key, TicketRow.status.in_(_OPEN_STATES))
                .order_by(TicketRow.created_at.desc())
                .limit(200)
            )
        ).all()
    find_duplicate(subject, [(r.id, r.subject) for r in open_tickets])
    return len(open_tickets)


@dataclass
class Query:
    key: str
    name: str
    call: Callable[[Identity, str], Awaitable[int]]  # returns rows read


def queries(desk: SupportDesk) -> list[Query]:
    async def support_center(who: Identity, _subject: str) -> int:
        return len((await desk.support_center(who)).tickets)

    async def my_open(who: Identity, _subject: str) -> int:
        return len(await desk.my_tickets(who, open_only=True))

    async def staff_queue(_who: Identity, _subject: str) -> int:
        return len(await desk.list_tickets())

    async def duplicates(who: Identity, subject: str) -> int:
        return await duplicate_check(desk, who, subject)

    return [
        Query("support_center", "Support Center (support_center)", support_center),
        Query("my_open", "my open tickets (my_tickets open_only)", my_open),
        Query("queue", "staff queue (list_tickets)", staff_queue),
        Query("duplicate", "duplicate check (open subjects + find_duplicate)", duplicates),
    ]


QUERY_KEYS = ["support_center", "my_open", "queue", "duplicate"]


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Timing:
    name: str
    millis: list[float]
    driver_millis: list[float]
    rows: list[int]

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.millis)
        driver = sorted(self.driver_millis)
        return {
            "calls": len(ordered),
            "p50": percentile(ordered, 50),
            "p95": percentile(ordered, 95),
            "p99": percentile(ordered, 99),
            "max": ordered[-1],
            "driver_p50": percentile(driver, 50),
            "driver_p99": percentile(driver, 99),
            "rows_mean": sum(self.rows) / len(self.rows),
            "rows_max": max(self.rows),
        }


class DriverTime:
    """Time spent inside the database driver's execute calls (round trip, server, decoding
    the rows), summed per service call; the rest of a call is Python: the ORM and the views."""

    def __init__(self, db: Database) -> None:
        self.total = 0.0
        self._started = 0.0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args: Any) -> None:
        self.total += time.perf_counter() - self._started


async def time_queries(
    chosen: Sequence[Query],
    driver: DriverTime,
    customers: Customers,
    runs: int,
    max_seconds: float,
    rng: random.Random,
    subjects: list[str],
) -> list[Timing]:
    """``runs`` calls of each query, fewer if they take over ``max_seconds`` (a query that
    needs a second a call has made its point long before the thousandth)."""
    timings = []
    for query in chosen:
        for _ in range(WARMUP_CALLS):
            await query.call(customers.pick(rng), rng.choice(subjects))
        millis, driver_millis, rows = [], [], []
        deadline = time.perf_counter() + max_seconds
        while len(millis) < runs and (len(millis) < 5 or time.perf_counter() < deadline):
            who, subject = customers.pick(rng), rng.choice(subjects)
            driver.total = 0.0
            started = time.perf_counter()
            rows.append(await query.call(who, subject))
            millis.append((time.perf_counter() - started) * 1000)
            driver_millis.append(driver.total * 1000)
        timings.append(Timing(query.name, millis, driver_millis, rows))
    return timings


async def explain(desk: SupportDesk, url: str, schema: str, query: Query, who: Identity) -> str:
    """EXPLAIN ANALYZE of every statement on ``tickets`` that one call of ``query`` sends."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if re.search(r"\bFROM tickets\b", statement):
            sent.append((statement, parameters))

    event.listen(desk.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await query.call(who, "URGENT emails bouncing")
    finally:
        event.remove(desk.db.engine.sync_engine, "before_cursor_execute", record)
    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"search_path": schema})
    out = []
    try:
        for statement, parameters in sent:
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *(parameters or ()))
            out.append(" ".join(statement.split()))
            out.append(f"  parameters: {json.dumps(list(parameters or ()), default=str)}")
            out.extend("  " + row[0] for row in plan)
    finally:
        await conn.close()
    return "\n".join(out)


# ---- the command -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2000, help="timed calls per query")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120,
        help="stop timing a query after this long (at least 5 calls)",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="SQLAlchemy URL of PostgreSQL")
    parser.add_argument("--schema", default="bench_scale")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the rows already in --schema instead of seeding afresh",
    )
    parser.add_argument("--drop", action="store_true", help="drop --schema when done")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the plans of every query, not only of those over target",
    )
    parser.add_argument(
        "--only", action="append", choices=QUERY_KEYS, help="time only this query (repeatable)"
    )
    parser.add_argument(
        "--without-queue-index",
        action="store_true",
        help="drop the staff queue's index (migration 0004) from the benchmark schema before "
        "timing, to compare with the schema before it",
    )
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not args.url.startswith("postgresql"):
        raise SystemExit("bench_scale needs PostgreSQL (--url postgresql+asyncpg://...)")
    result: dict[str, Any] = {"seed": None}
    if not args.reuse:
        print(
            f"seeding {args.tickets:,} tickets across {args.accounts:,} accounts "
            f"into schema {args.schema} ...",
            flush=True,
        )
        stats = await seed(args.url, args.schema, args.tickets, args.accounts, args.seed)
        result["seed"] = stats
        print(
            f"seeded in {stats['seconds']:.1f} s: {stats['tickets']:,} tickets "
            f"({stats['open'] / stats['tickets']:.1%} open, "
            f"{stats['urgent'] / stats['tickets']:.1%} urgent, {stats['urgent_open']:,} urgent "
            f"and open), {stats['customers']:,} customers, tickets table with indexes "
            f"{stats['bytes'] / 2**20:,.0f} MiB"
        )
    elif not await schema_seeded(args.url, args.schema):
        raise SystemExit(f"schema {args.schema} holds no tickets: run once without --reuse")
    await set_proposed_index(args.url, args.schema, not args.without_queue_index)
    customers = await load_customers(args.url, args.schema)
    print(
        f"{len(customers.identities):,} customers; most tickets for one customer: "
        f"{max(customers.ticket_counts)}"
    )
    db = open_database(args.url, args.schema)
    desk = SupportDesk(db, DeskConfig(), load_knowledge_base())
    rng = random.Random(args.seed)
    subjects = subject_pool(5000, args.seed + 1)
    chosen = [q for q in queries(desk) if not args.only or q.key in args.only]
    try:
        load = os.getloadavg()[0]
        timings = await time_queries(
            chosen, DriverTime(db), customers, args.runs, args.max_seconds, rng, subjects
        )
        result["queries"] = {}
        index_note = " without the queue index" if args.without_queue_index else ""
        print(
            f"\ncalls per query{index_note}, ms (target: p99 < {TARGET_MS:g} ms); "
            f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
        )
        print(
            f"{'query':<52}{'calls':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
            f"{'in driver p50':>15}{'p99':>7}{'rows':>7}"
        )
        for timing in timings:
            s = timing.summary()
            result["queries"][timing.name] = s
            flag = "" if s["p99"] < TARGET_MS else "  <- over target"
            print(
                f"{timing.name:<52}{s['calls']:>6.0f}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['p99']:>8.2f}"
                f"{s['max']:>8.2f}{s['driver_p50']:>15.2f}{s['driver_p99']:>7.2f}"
                f"{s['rows_mean']:>7.1f}{flag}"
            )
        for query, timing in zip(chosen, timings, strict=True):
            if args.explain or timing.summary()["p99"] >= TARGET_MS:
                print(f"\n-- plan for {query.name}, customer with the most tickets")
                print(await explain(desk, args.url, args.schema, query, customers.heaviest()))
    finally:
        await db.dispose()
        if args.drop:
            admin = await asyncpg.connect(asyncpg_dsn(args.url))
            try:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            finally:
                await admin.close()
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
