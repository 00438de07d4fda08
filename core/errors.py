"""Domain errors. Adapters turn them into the platform's form (a modal field error, an
ephemeral message, a thread notice); a user never sees a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class HelplineError(Exception):
    """Base of every error a user may be shown; ``str(error)`` is written for them."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one form field, worded for the customer."""

    field: str  # "category" | "subject" | "message" | "attachment" | "reply"
    message: str


class ValidationFailed(HelplineError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))

    def for_field(self, field: str) -> str | None:
        return next((e.message for e in self.errors if e.field == field), None)


class TicketNotFound(HelplineError):
    def __init__(self, ticket_id: int | str) -> None:
        self.ticket_id = ticket_id
        super().__init__(f"There is no ticket #{ticket_id} that you can see.")


class NotAllowed(HelplineError):
    """The actor may not do this (not staff, not the ticket's customer)."""


class DraftExpired(HelplineError):
    def __init__(self) -> None:
        super().__init__(
            "This form has expired or was already used. Run /support new to start again."
        )


class ReopenWindowPassed(HelplineError):
    """A reply to a ticket closed longer ago than the reopen window."""

    def __init__(self, ticket_id: int, days: int) -> None:
        self.ticket_id = ticket_id
        self.days = days
        super().__init__(
            f"Ticket #{ticket_id} was closed more than {days} days ago, so it can't be reopened. "
            f"Open a new ticket instead; it will link #{ticket_id} for the support team."
        )


class StorageUnavailable(HelplineError):
    def __init__(self) -> None:
        super().__init__(
            "Support is having a brief storage problem and nothing was saved. "
            "Please try again in a minute."
        )
