"""Urgency: "URGENT" or "BLOCKING" in a subject puts a ticket first in the staff queue (the
queue's full order — urgent, plan, age — is SupportDesk.list_tickets' ORDER BY)."""

from __future__ import annotations

import re

_URGENT = re.compile(r"(?<![\w-])(urgent|blocking)(?![\w-])", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|non|no)\s*$", re.IGNORECASE)


def is_urgent(subject: str) -> bool:
    """ "URGENT" or "BLOCKING" as a word in the subject, any case ("not urgent" is not)."""
    for match in _URGENT.finditer(subject):
        if not _NEGATED.search(subject[: match.start()]):
            return True
    return False
