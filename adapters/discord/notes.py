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
from dataclasses import dataclass

_MARKUP = r"(?:[*_~`>|]+\s*)*"
_WORDS = r"(?:note|internal(?:\s+note)?|private(?:\s+note)?|staff[\s-]+only)"
_PREFIX = re.compile(
    rf"^\s*{_MARKUP}(?:[\[(]\s*{_WORDS}\s*[\])]|{_WORDS}\s*{_MARKUP}\s*[:：\-–—])\s*{_MARKUP}",
    re.IGNORECASE,
)
_LEADING_MENTION = re.compile(r"^\s*{_MARKUP}<@[!&]?\d+>".replace("{_MARKUP}", _MARKUP))

LOCK = "🔒"


@dataclass(frozen=True)
class Verdict:
    internal: bool
    body: str  # what to store: the text without a note marker
    reason: str = ""


def note_body(text: str) -> str | None:
    """The text after a note marker, or None when the text has none."""
    match = _PREFIX.match(text)
    if match is None:
        return None
    return text[match.end():].strip()


def judge(text: str, *, replying_to_internal: bool = False) -> Verdict:
    """Whether a staff message in a ticket's thread stays internal, and what to store."""
    body = note_body(text)
    if body is not None:
        return Verdict(True, body, "note marker")
    if _LEADING_MENTION.match(text):
        return Verdict(True, text.strip(), "addressed to a colleague")
    if replying_to_internal:
        return Verdict(True, text.strip(), "reply to an internal note")
    return Verdict(False, text)
