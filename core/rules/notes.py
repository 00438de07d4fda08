"""Keeping staff talk internal. In a ticket's staff thread every message from the support team
is relayed to the customer unless it is plainly meant for colleagues. A leaked remark cannot be
taken back, so the rules err on the side of keeping a message internal:

- it starts with a note marker: ``note:``, ``internal:``, ``private:``, ``staff only:`` (a dash
  works instead of the colon), or ``[note]`` / ``(internal)`` in brackets, in any case, even
  inside bold/italic markup or a quote (``*Note:*``, ``> note -``);
- it starts by addressing someone (a user, group or role mention): the customer is never in
  the staff thread, so whoever is addressed is a colleague. Each platform writes mentions its
  own way, so the adapter says whether the message opens with one;
- it answers (a platform "reply") a message that was itself kept internal.

The same rules hold on every platform; adapters only tell what their markup hides."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Leading emphasis and quote markup, as written (``>``) or escaped by Slack (``&gt;``).
MARKUP = r"(?:(?:[*_~`|]|&gt;|>)+\s*)*"
_WORDS = r"(?:note|internal(?:\s+note)?|private(?:\s+note)?|staff[\s-]+only)"
_MARKER = re.compile(
    rf"^\s*{MARKUP}(?:[\[(]\s*{_WORDS}\s*[\])]|{_WORDS}\s*{MARKUP}\s*[:：\-–—])\s*{MARKUP}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    internal: bool
    body: str  # what to store: the text without a note marker when there was one
    reason: str = ""


def note_body(text: str) -> str | None:
    """The text after a note marker, or None when the text has none."""
    match = _MARKER.match(text)
    return None if match is None else text[match.end() :].strip()


def judge(
    text: str, *, opens_with_mention: bool = False, replying_to_internal: bool = False
) -> Verdict:
    """Whether a staff message in a ticket's staff thread stays internal, and what to store."""
    body = note_body(text)
    if body is not None:
        return Verdict(True, body, "note marker")
    if opens_with_mention:
        return Verdict(True, text.strip(), "addressed to a colleague")
    if replying_to_internal:
        return Verdict(True, text.strip(), "reply to an internal note")
    return Verdict(False, text)
