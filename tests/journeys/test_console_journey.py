"""The whole product in the console, driven as a script through the real `helpline console`
command: file → duplicate prompt → self-service offer → created → staff reply (Waiting on
customer) → customer reply (Open) → close → reply within the window (reopened) → reply after
it (refused, new ticket offered)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
customer alice
new Account | Forgot my webmail password for info@bakery.de | I forgot the password of my mailbox info@bakery.de and need to reset it to log in to webmail.
file
new Account | forgot webmail password info@bakery.de, URGENT | I still can't reset the password of my mailbox info@bakery.de, the reset mail never arrives.
create
file
staff sam
queue
reply 2 Please try the reset link again; I have cleared the lock on info@bakery.de.
note 2 Lock was set by the brute-force filter, see internal runbook
customer alice
reply 2 Still failing after the reset link, same error.
staff sam
close 2
customer alice
wait 6d
reply 2 It happened again this morning, sorry!
staff sam
close 2
customer alice
wait 8d
reply 2 And once more today.
new Account | Webmail login broken again | The webmail login keeps failing, same as my earlier ticket.
file
staff sam
show 2
"""


def run_console(tmp_path: Path, script: str) -> str:
    env = {**os.environ, "HELPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"}
    env.pop("HELPLINE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "console"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_console_journey_from_filing_to_refused_reopen(tmp_path: Path) -> None:
    out = run_console(tmp_path, SCRIPT)
    assert "✓ Ticket #1 created" in out
    # duplicate prompt on the second filing, then the self-service offer, then created
    assert (
        "Looks like you have an open ticket about this: 'Forgot my webmail password for "
        "info@bakery.de' — want to continue that one instead?"
    ) in out
    offer = out.split("create\n", 1)[1].split("customer> file", 1)[0]
    assert "articles/self-service-password-reset" in offer
    assert "✓ Ticket #2 created" in out
    # the staff reply reaches the customer thread, and the status waits on the customer
    assert "[#2 customer thread] sam (staff): Please try the reset link again" in out
    assert "✓ Reply added to #2; status Waiting on customer" in out
    # the internal note never reaches the customer thread
    assert "brute-force" not in "".join(
        line for line in out.splitlines() if "customer thread" in line
    )
    # customer reply → Open, relayed to staff
    assert "✓ Reply added to #2; status Open" in out
    assert "[#2 staff thread] alice: Still failing after the reset link" in out
    # within the window → reopened; after it → refused with the offer of a linked ticket
    assert "(reopened)" in out
    assert "was closed more than 7 days ago" in out
    assert "open a new ticket that links #2" in out
    assert "This new ticket will link #2." in out
    assert "✓ Ticket #3 created" in out
    assert "follows closed ticket #2" in out
    history = out.split("staff> show 2", 1)[1].split("History:", 1)[1]
    assert "reopened" in history
    assert history.count("Open → Closed") == 2 and "Closed → Open" in history
