"""The status machine. Status follows the conversation: staff reply → Waiting on customer;
customer reply → Open; a customer reply to a Closed ticket inside the reopen window → Open
(reopened); after the window the reply is refused. Internal notes change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import Status


class Event(StrEnum):
    STAFF_REPLY = "staff_reply"
    CUSTOMER_REPLY = "customer_reply"
    INTERNAL_NOTE = "internal_note"


@dataclass(frozen=True)
class Transition:
    new_status: Status
    reopened: bool = False
    refused: bool = False  # the reply may not be accepted (reopen window passed)


def next_status(
    current: Status,
    event: Event,
    *,
    closed_at: datetime | None,
    now: datetime,
    reopen_window: timedelta,
) -> Transition:
    if event is Event.INTERNAL_NOTE:
        return Transition(current)
    if event is Event.STAFF_REPLY:
        # A staff answer on a closed ticket is a follow-up note to the customer; it does not
        # reopen the ticket on the customer's behalf.
        if current is Status.CLOSED:
            return Transition(Status.CLOSED)
        return Transition(Status.WAITING_ON_CUSTOMER)
    # customer reply
    if current is Status.CLOSED:
        if closed_at is not None and now - closed_at <= reopen_window:
            return Transition(Status.OPEN, reopened=True)
        return Transition(Status.CLOSED, refused=True)
    return Transition(Status.OPEN)
