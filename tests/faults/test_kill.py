"""A Helpline process killed (SIGKILL) while it delivers: after a restart on the same database
nothing is lost and nothing is posted twice. The processes are real (`runner_helpline`: the
Slack adapter in HTTP mode, the delivery and timer workers) and post to a FakeSlack served from
this test."""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from core.storage.db import Database
from core.storage.tables import OutboxRow
from tests.adapters.slack_harness import eventually
from tests.fakes.slack_api import FakeSlack
from tests.faults.process_helper import (
    HelplineProcess,
    SlackPeople,
    delivery_keys,
    outbox_rows,
    process_env,
    stopped_at_exit,
    write_config,
)

ALICE, BOB = "U0ALICE", "U0BOB"
TO_ALICE = [f"Alice, step {n}: we re-issued invoice INV-77{n} with your VAT number." for n in (1, 2, 3)]
TO_BOB = [f"Bob, step {n}: the refund for order 88{n} is on its way to your card." for n in (1, 2, 3)]


async def quiet(db: Database) -> bool:
    """Nothing left to deliver."""
    return all(row.state == "done" for row in await outbox_rows(db))


async def accepted(db: Database, ticket_id: int, wanted: int) -> bool:
    async with db.sessions() as s:
        found = await s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.ordering_key == f"ticket:{ticket_id}:customer", OutboxRow.op == "post"))
    return int(found or 0) >= wanted


def relayed(people: SlackPeople, channel: str, thread_ts: str, texts: list[str]) -> list[str]:
    return [t for words in people.thread_texts(channel, thread_ts) for t in texts if t in words]


async def test_processes_killed_mid_delivery_lose_nothing_and_post_nothing_twice(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as slack:
        url = f"sqlite+aiosqlite:///{tmp_path}/helpline.db"
        env = process_env(slack, url, write_config(tmp_path),
                          HELPLINE_TEST_LEASE="2", HELPLINE_TEST_LIFETIME="60",
                          # one delivery in flight, so each kill lands on the post the
                          # scenario means (Alice's, then Bob's first)
                          HELPLINE_TEST_BATCH="1")
        first, second, third = (HelplineProcess(env, tmp_path / f"{name}.log")
                                for name in ("first", "second", "third"))
        db = Database(url)
        async with stopped_at_exit(first, second, third):
            people = SlackPeople(slack, (await first.start()).url)
            try:
                alice = await people.threads(
                    db, await people.file_ticket(ALICE, "Invoice shows the wrong VAT number",
                                                 "Invoice INV-771 shows GB123 but ours is GB456."),
                    ALICE)
                bob = await people.threads(
                    db, await people.file_ticket(BOB, "Refund for a cancelled order missing",
                                                 "Order 881 was cancelled a week ago, no refund."),
                    BOB)
                await eventually(partial(quiet, db), "the tickets fully posted", timeout=20)

                # 1. The relay of Alice's first answer reaches Slack, which never answers; the
                # other answers queue up behind it. SIGKILL; then Slack carries the post out.
                slack.hang_next("chat.postMessage")
                await people.staff_says(alice, TO_ALICE[0])
                [hung] = await slack.wait_for("chat.postMessage", lambda c: c.outcome == "hang",
                                              timeout=15)
                assert hung.args["channel"] == alice.dm_channel
                for n in range(3):
                    if n:
                        await people.staff_says(alice, TO_ALICE[n])
                    await people.staff_says(bob, TO_BOB[n])
                await eventually(partial(accepted, db, alice.id, 3), "Alice's answers accepted")
                await eventually(partial(accepted, db, bob.id, 3), "Bob's answers accepted")
                await first.kill()
                assert slack.finish_hung(lambda c: True, carry_out=True) == 1

                async def carried_out() -> bool:
                    return bool(relayed(people, alice.dm_channel, alice.customer_thread,
                                        TO_ALICE))

                await eventually(carried_out, "Slack storing the post it held")
                assert relayed(people, alice.dm_channel, alice.customer_thread,
                               TO_ALICE) == TO_ALICE[:1]

                # 2. A restarted process sends Bob's first answer, and is killed before Slack
                # has taken it in: this post never got through.
                slack.hang_next("chat.postMessage")
                await second.start()
                hangs = await slack.wait_for("chat.postMessage", lambda c: c.outcome == "hang",
                                             count=2, timeout=15)
                hung = hangs[-1]
                assert hung.args["channel"] == bob.dm_channel
                await second.kill()
                assert slack.finish_hung(lambda c: True, carry_out=False) == 1
                assert relayed(people, bob.dm_channel, bob.customer_thread, TO_BOB) == []

                # 3. Restarted again, with Slack healthy: everything arrives, once.
                await third.start()
                await eventually(partial(quiet, db), "everything delivered after the restarts",
                                 timeout=30)
            except BaseException:
                for process in (first, second, third):
                    print(f"--- {process.log.name}\n{process.tail()}")
                raise
            finally:
                await people.close()

        assert relayed(people, alice.dm_channel, alice.customer_thread, TO_ALICE) == TO_ALICE
        assert relayed(people, bob.dm_channel, bob.customer_thread, TO_BOB) == TO_BOB
        posted_twice = [k for k, n in Counter(delivery_keys(slack)).items() if n > 1]
        assert posted_twice == []
        rows = await outbox_rows(db)
        await db.dispose()
        recovered = {r.idem_key for r in rows if r.result and r.result.get("recovered")}
        first_to_alice = next(r.idem_key for r in rows if r.op == "post"
                              and r.ordering_key == f"ticket:{alice.id}:customer")
        assert recovered == {first_to_alice}
