"""Priority: urgent first, then plan (Agency > Pro > Starter > Nano), then oldest first."""

from __future__ import annotations

import re
from datetime import datetime

from core.models import Plan

_URGENT = re.compile(r"(?<![\w-])(urgent|blocking)(?![\w-])", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|non|no)\s*$", re.IGNORECASE)


def is_urgent(subject: str) -> bool:
    """ "URGENT" or "BLOCKING" as a word in the subject, any case ("not urgent" is not)."""
    for match in _URGENT.finditer(subject):
        if not _NEGATED.search(subject[: match.start()]):
            return True
    return False


def queue_key(urgent: bool, plan: Plan, created_at: datetime) -> tuple[int, int, datetime]:
    """Sort key for the staff queue: smaller sorts first."""
    return (0 if urgent else 1, plan.rank, created_at)
