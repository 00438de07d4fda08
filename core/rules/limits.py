"""The form's limits: one validator per field, each naming the field and the limit in words a
customer understands."""

from __future__ import annotations

from pydantic import BaseModel

from core.errors import FieldError
from core.models import Category
from core.rules.text import clean, one_line


class Limits(BaseModel):
    subject_min: int = 4
    subject_max: int = 150
    message_min: int = 5
    message_max: int = 5000
    attachment_max_bytes: int = 5 * 1024 * 1024


def check_category(value: str) -> tuple[Category | None, FieldError | None]:
    if not value or not value.strip():
        return None, FieldError("category", "Pick a category so the right team sees it.")
    try:
        return Category.parse(value), None
    except ValueError as exc:
        return None, FieldError("category", str(exc))


def check_subject(value: str, limits: Limits) -> tuple[str, FieldError | None]:
    subject = one_line(value)
    n = len(subject)
    if n == 0:
        return subject, FieldError(
            "subject", 'Add a subject: a short summary like "DNS not verifying after 24 hours".'
        )
    if n < limits.subject_min:
        return subject, FieldError(
            "subject",
            f"The subject needs at least {limits.subject_min} characters (it has {n}). "
            'Be specific: "DNS not verifying after 24 hours" is better than "Help".',
        )
    if n > limits.subject_max:
        return subject, FieldError(
            "subject",
            f"The subject can have at most {limits.subject_max} characters (it has {n}). "
            "Keep it to a short summary and put the details in the message.",
        )
    return subject, None


def check_body(value: str, limits: Limits, field: str = "message") -> tuple[str, FieldError | None]:
    """Validate a ticket message or a reply (same limits, different field name)."""
    body = clean(value)
    n = len(body)
    what = "message" if field == "message" else "reply"
    if n == 0:
        return body, FieldError(field, f"The {what} is empty. Describe the problem in a few words.")
    if n < limits.message_min:
        return body, FieldError(
            field, f"The {what} needs at least {limits.message_min} characters (it has {n})."
        )
    if n > limits.message_max:
        return body, FieldError(
            field,
            f"The {what} can have at most {limits.message_max} characters (it has {n}). "
            "Shorten it, or send the rest as a reply after the ticket is created.",
        )
    return body, None
