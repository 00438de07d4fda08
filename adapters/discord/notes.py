"""Keeping staff talk internal. In a ticket's staff thread every message from the support team
is relayed to the customer, unless it is plainly meant for colleagues. Because a leaked
internal remark cannot be taken back, the rules err on the side of keeping a message internal:

- it starts with a note marker: ``note:``, ``internal:``, ``private:``, ``staff only:`` (a dash
  works instead of the colon), or ``[note]`` / ``(internal)`` in brackets, in any case, even
  inside bold/italic markup or a quote (``**Note:**``, ``> note -``);
- it starts by addressing someone: a user or role mention (``@sam can you check the logs?``);
  the customer is never in the staff thread, so whoever is addressed is a colleague;
- it is a reply (Discord's "Reply") to a message that was kept internal: answering a note
  continues the internal discussion.

Staff see the verdict at once: 🔒 on a kept-internal message, ✅ once a relayed one arrives.
The "Internal note" message command writes a note in a form, which never enters the thread.
"""

from __future__ import annotations

import re

from core.rules.notes import MARKUP, Verdict, note_body
from core.rules.notes import judge as judge_text

__all__ = ["LOCK", "Verdict", "judge", "note_body"]

_LEADING_MENTION = re.compile(rf"^\s*{MARKUP}<@[!&]?\d+>")

LOCK = "🔒"


def judge(text: str, *, replying_to_internal: bool = False) -> Verdict:
    """Whether a staff message in a ticket's thread stays internal, and what to store."""
    return judge_text(text, opens_with_mention=bool(_LEADING_MENTION.match(text)),
                      replying_to_internal=replying_to_internal)
