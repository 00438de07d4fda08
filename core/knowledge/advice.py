"""Advice on what a ticket message is missing, in the Support Center guide's own words.

The guide's "What to include in a good ticket" names four parts: what you were trying to do,
what actually happened, what you've already tried, and identifying info. This module checks a
message for each with simple cues and returns the advice for the parts it can't find. It is
advice shown on the form, never a reason to refuse a ticket, so the cues lean towards
"present": a false "you forgot X" is more irritating than a missed hint.
"""

from __future__ import annotations

import re
from enum import Enum

from core.knowledge.details import extract_details


class TicketPart(Enum):
    """A part of a good ticket, with the guide's advice for when it is missing."""

    GOAL = "Say what you were trying to do — the goal, not just the error."
    WHAT_HAPPENED = "Say what actually happened — the specific error message, status, or behaviour."
    WHAT_YOU_TRIED = (
        "Say what you've already tried — links to docs you read, settings you changed, "
        "restarts you did."
    )
    IDENTIFYING_INFO = (
        "Add identifying info — domain name, mailbox address, invoice ID, error timestamps. "
        "Don't share passwords or 2FA secrets in tickets."
    )

    @property
    def advice(self) -> str:
        return self.value


_GOAL_RE = re.compile(
    r"\b(?:trying|try|tried|attempting|attempted|want(?:ed)?|wanting|need(?:ed)?|would like"
    r"|i'?d like|wish|hoping|planning|plan|going)\s+to\b"
    r"|\b(?:when|whenever|while|after|each time|every time)\s+(?:i|we|my|our|the|a|an|trying)\b"
    r"|\bso (?:that|i|we)\b|\bin order to\b|\bmy goal\b|\bi(?:'m| am) (?:setting|moving|adding"
    r"|sending|migrating|connecting|configuring|paying|upgrading)\b"
    r"|\bhow (?:do|can|to|should)\b|\bis it possible\b|\bcan i\b",
    re.IGNORECASE,
)
_HAPPENED_RE = re.compile(
    r"[\"“”«»][^\"“”«»]{3,}[\"“”«»]"  # a quoted message
    r"|'[^']{8,}'"
    r"|\b(?:[45]\d\d|[45]\.\d{1,3}\.\d{1,3})\b"  # a status code
    r"|\berror\b|\bsays?\b|\bsaid\b|\bshows?\b|\bshowing\b|\bdisplay(?:s|ed)?\b|\bmessage\b"
    r"|\bi (?:get|got|see|saw|receive|received)\b|\bgetting\b|\breturns?\b|\breturned\b"
    r"|\bbounce[sd]?\b|\breject(?:s|ed)?\b|\bdeclined?\b|\bdenied\b|\btime[sd]? ?out\b"
    r"|\btimeout\b|\bstuck\b|\bpending\b|\bspinn(?:er|ing)\b|\bblank\b|\bnothing happens\b"
    r"|\bstatus\b|\bnever (?:arrive|arrived|showed|shows|loads?)\b|\bend(?:s|ed)? up\b"
    r"|\bland(?:s|ed|ing)? in\b|\bmarked as\b|\bkeeps? (?:asking|saying|showing|failing)\b"
    r"|\bwrong\b|\binvalid\b|\bincorrect\b|\bsuspended\b|\bcharged\b|\bmissing\b",
    re.IGNORECASE,
)
_TRIED_RE = re.compile(
    r"\b(?:i|we)(?:'ve| have)?\s+(?:already\s+|also\s+)?(?:tried|checked|changed|restarted"
    r"|rebooted|reinstalled|re-?entered|cleared|followed|read|verified|tested|reset|updated"
    r"|removed|re-?added|added|disabled|enabled|looked|waited|double-checked|confirmed"
    r"|contacted|asked|switched|deleted|created|set)\b"
    r"|\balready\s+(?:tried|checked|did|done|changed|restarted|followed|read|reset)\b"
    r"|\btried\s+(?:\w+ing|again|that|everything|both|another|a different|with)\b"
    r"|\b(?:restart(?:ed|ing)?|reboot(?:ed|ing)?|reinstall(?:ed|ing)?)\b"
    r"|\baccording to\b|\bas (?:the|your) (?:article|docs?|guide) says\b|\bfollowing the\b"
    r"|https?://",
    re.IGNORECASE,
)


def missing_parts(message: str) -> list[str]:
    """Advice sentences for the parts of a good ticket the message seems to lack.

    Empty when the message has all four (the guide's good example does); the guide's
    "Outlook doesn't work, please help." gets every one of them.
    """
    missing: list[TicketPart] = []
    if not _GOAL_RE.search(message):
        missing.append(TicketPart.GOAL)
    if not _HAPPENED_RE.search(message):
        missing.append(TicketPart.WHAT_HAPPENED)
    if not _TRIED_RE.search(message):
        missing.append(TicketPart.WHAT_YOU_TRIED)
    if extract_details(message).is_empty:
        missing.append(TicketPart.IDENTIFYING_INFO)
    return [part.advice for part in missing]
