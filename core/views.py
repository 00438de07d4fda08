"""Platform-neutral results of the service's use cases. Each adapter renders these into its own
form (Block Kit, embeds, console text); none of them carries platform detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.errors import FieldError
from core.models import Attachment, Category, HistoryEntry, Identity, Plan, Status, TicketMessage


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class IncidentView:
    id: int
    text: str
    started_at: datetime
    status_page: str


@dataclass(frozen=True)
class TicketSummary:
    id: int
    subject: str
    category: Category
    status: Status
    urgent: bool
    plan: Plan
    created_at: datetime
    updated_at: datetime
    assignee: str | None = None
    customer: str = ""
    response_due_at: datetime | None = None
    target_state: str = "none"  # core.rules.sla.TargetState value

    @property
    def number(self) -> str:
        return f"#{self.id}"


@dataclass(frozen=True)
class HelpText:
    """What support can and can't do, what is out of scope, and when self-service is faster."""

    can: tuple[str, ...]
    cant: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    self_service_first: tuple[Link, ...]
    good_ticket: tuple[str, ...]


@dataclass(frozen=True)
class SupportCenterView:
    customer: Identity
    desk_name: str
    plan: Plan
    priority_badge: bool
    tickets: list[TicketSummary]
    quick_links: list[Link]
    status_page: str
    incident: IncidentView | None
    plan_notice: str
    help: HelpText


@dataclass(frozen=True)
class CategoryChoice:
    category: Category
    hint: str


@dataclass(frozen=True)
class IntakeForm:
    """What the new-ticket form shows before anything is typed."""

    categories: list[CategoryChoice]
    incident: IncidentView | None
    plan_notice: str
    subject_min: int
    subject_max: int
    message_min: int
    message_max: int
    max_image_mb: float
    prefill_subject: str = ""
    prefill_message: str = ""
    follows_ticket_id: int | None = None


@dataclass(frozen=True)
class ArticleLink:
    slug: str
    title: str
    url: str
    score: float


# ---- results of submitting the form -------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    """The form has problems; nothing was stored. ``errors`` name their fields."""

    errors: list[FieldError]

    def for_field(self, name: str) -> str | None:
        return next((e.message for e in self.errors if e.field == name), None)


@dataclass(frozen=True)
class DuplicatePrompt:
    draft_id: str
    ticket_id: int
    ticket_subject: str

    @property
    def text(self) -> str:
        return (
            f"Looks like you have an open ticket about this: '{self.ticket_subject}' "
            "— want to continue that one instead?"
        )


@dataclass(frozen=True)
class SelfServiceOffer:
    draft_id: str
    articles: list[ArticleLink]

    @property
    def text(self) -> str:
        return (
            "This is usually faster to fix yourself. Try this first; if you're still stuck, "
            "file the ticket and mention what you tried."
        )


@dataclass(frozen=True)
class Created:
    ticket: TicketSummary
    next_steps: str
    advice: list[str] = field(default_factory=list)
    already_existed: bool = False


@dataclass(frozen=True)
class Continued:
    """The draft went into an existing ticket as a reply."""

    ticket_id: int
    status: Status


@dataclass(frozen=True)
class Deflected:
    """The customer said the article solved it; no ticket."""

    article_slugs: list[str]


SubmitResult = Rejected | DuplicatePrompt | SelfServiceOffer | Created | Continued | Deflected


# ---- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyAccepted:
    ticket_id: int
    status: Status
    reopened: bool = False
    redaction_notice: str | None = None  # tell the author what was removed and why
    duplicate: bool = False  # the same platform message was already recorded


@dataclass(frozen=True)
class ReplyRefused:
    ticket_id: int | None
    reason: str
    new_ticket_follows: int | None = None  # offer a new ticket that links this one


ReplyResult = ReplyAccepted | ReplyRefused


# ---- staff -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketCard:
    """Everything the staff card shows; rendered fresh from the database on every update."""

    id: int
    subject: str
    category: Category
    status: Status
    plan: Plan
    urgent: bool
    priority_label: str
    customer: str
    customer_platform: str
    workspace: str
    account: str
    assignee: str | None
    created_at: datetime
    details: dict[str, list[str]]
    offered_articles: list[str]
    filed_anyway: bool
    possible_duplicate_of: int | None
    follows_ticket_id: int | None
    reopen_count: int
    message_count: int
    response_due_at: datetime | None = None
    target_state: str = "none"  # core.rules.sla.TargetState value
    rating: int | None = None  # the latest satisfaction rating, 1-5
    rating_comment: str = ""
    escalated_from: int | None = None

    @property
    def number(self) -> str:
        return f"#{self.id}"


@dataclass(frozen=True)
class TicketDetail:
    summary: TicketSummary
    card: TicketCard
    messages: list[TicketMessage]
    history: list[HistoryEntry]
    attachments: list[Attachment]
