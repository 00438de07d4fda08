"""Keeping staff talk internal in a card's thread on Slack.

Every message the support team writes in a ticket's staff thread is relayed to the customer,
unless it is plainly meant for colleagues. A leaked remark cannot be taken back, so the rules
err on the side of keeping a message internal (core.rules.notes, the same on
Discord; see docs/slack.md):

- it starts with a note marker: ``note:``, ``internal:``, ``private:``, ``staff only:`` (a dash
  works instead of the colon), or ``[note]`` / ``(internal)`` in brackets, in any case, even
  inside bold/italic markup or a quote (``*Note:*``, ``> note -``);
- it starts by addressing someone: a user or user-group mention (``@sam can you check the
  logs?``); the customer is never in the staff channel, so whoever is addressed is a colleague.

Staff see the verdict at once: :lock: on a kept-internal message, :white_check_mark: once a
relayed one has reached the customer. The "Internal note" shortcut writes a note in a form,
which never enters the relay at all."""

from __future__ import annotations

import re

from core.rules.notes import MARKUP, Verdict
from core.rules.notes import judge as judge_text

LOCK_REACTION = "lock"

# In Slack's own text: <@U123>, <@U123|name>, <!subteam^S123> (a user group).
_LEADING_MENTION = re.compile(rf"^\s*{MARKUP}<(?:@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+)[^>]*>")


def judge(slack_text: str) -> Verdict:
    """Whether a staff message (its text as Slack sends it) stays internal."""
    return judge_text(slack_text, opens_with_mention=bool(_LEADING_MENTION.match(slack_text)))
