"""The domain's vocabulary: categories, statuses, plans, identities and the shapes that cross
the boundary between core and the chat adapters. Nothing here knows Slack or Discord."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """Where a ticket is routed and who looks at it first (the guide's eleven categories)."""

    BILLING = "Billing"
    TECHNICAL = "Technical"
    ACCOUNT = "Account"
    DELIVERABILITY = "Deliverability"
    API = "API"
    ABUSE = "Abuse"
    FEATURE = "Feature"
    PARTNERSHIP = "Partnership"
    SALES = "Sales"
    AFFILIATE = "Affiliate"
    OTHER = "Other"

    @classmethod
    def parse(cls, value: str) -> Category:
        """Accept a category by name in any case; raise ValueError naming the choices."""
        for member in cls:
            if member.value.lower() == value.strip().lower():
                return member
        choices = ", ".join(m.value for m in cls)
        raise ValueError(f"Unknown category '{value}'. Choose one of: {choices}.")


CATEGORY_HINTS: dict[Category, str] = {
    Category.BILLING: "Invoice questions, refund requests, payment failures, plan/add-on/credit purchases.",
    Category.TECHNICAL: "Anything functional that isn't billing: DNS, email delivery, client setup, webmail behaviour.",
    Category.ACCOUNT: "Profile changes, password issues that aren't solvable via self-service, 2FA recovery, account closures.",
    Category.DELIVERABILITY: "Bounce rates, spam folding, deliverability suspensions, sender reputation.",
    Category.API: "API integration questions, authentication problems, missing endpoints, rate limit issues.",
    Category.ABUSE: "Reporting spam, phishing, or other abuse from one of our addresses.",
    Category.FEATURE: "Feature requests or roadmap questions.",
    Category.PARTNERSHIP: "Bulk licensing, white-label, enterprise sales inquiries.",
    Category.SALES: "Pre-sales questions about plans or pricing.",
    Category.AFFILIATE: "Affiliate program questions, commission disputes, payment status.",
    Category.OTHER: "Anything that doesn't fit the above.",
}


class Status(StrEnum):
    OPEN = "Open"
    WAITING_ON_CUSTOMER = "Waiting on customer"
    CLOSED = "Closed"


class Plan(StrEnum):
    NANO = "Nano"
    STARTER = "Starter"
    PRO = "Pro"
    AGENCY = "Agency"

    @property
    def rank(self) -> int:
        """Queue order: lower is served first (Agency, Pro, Starter, Nano)."""
        return _PLAN_RANK[self]

    @property
    def has_priority_badge(self) -> bool:
        return self in (Plan.PRO, Plan.AGENCY)

    @property
    def staff_response_included(self) -> bool:
        return self is not Plan.NANO


_PLAN_RANK = {Plan.AGENCY: 0, Plan.PRO: 1, Plan.STARTER: 2, Plan.NANO: 3}


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    CONSOLE = "console"


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"


class MessageKind(StrEnum):
    """What a message in a ticket's conversation is, which decides who may see it."""

    CUSTOMER = "customer"
    STAFF = "staff"
    NOTE = "note"  # internal: never reaches the customer


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Identity(_Frozen):
    """A person on one platform: the user inside a Slack workspace or Discord guild."""

    platform: Platform
    workspace: str
    user_id: str
    name: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user_id}"

    @property
    def display(self) -> str:
        return self.name or self.user_id


class Destination(_Frozen):
    """Where a new conversation should start: a channel, or a user's direct messages when
    ``channel_id`` is None. ``user_id`` is the person to add to a private thread."""

    platform: Platform
    workspace: str
    channel_id: str | None = None
    user_id: str | None = None

    @classmethod
    def parse(cls, value: str) -> Destination:
        """Parse ``platform:channel`` or ``platform:workspace:channel`` from config."""
        parts = value.strip().split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"'{value}' is not a channel reference; write platform:channel_id "
                "(e.g. slack:C0123ABC) or platform:workspace:channel_id"
            )
        try:
            platform = Platform(parts[0].lower())
        except ValueError:
            raise ValueError(
                f"'{parts[0]}' in '{value}' is not a platform; use slack, discord or console"
            ) from None
        if len(parts) == 2:
            return cls(platform=platform, workspace="", channel_id=parts[1])
        return cls(platform=platform, workspace=parts[1], channel_id=parts[2])

    def __str__(self) -> str:
        ws = f"{self.workspace}:" if self.workspace else ""
        return f"{self.platform}:{ws}{self.channel_id or '@' + (self.user_id or '')}"


class ThreadRef(_Frozen):
    """A conversation thread on one platform: Slack (channel, thread_ts); Discord (thread
    channel id as both ``channel_id`` and ``thread_id``)."""

    platform: Platform
    workspace: str
    channel_id: str
    thread_id: str


class MessageRef(_Frozen):
    """One message on one platform, e.g. to react to it or edit it in place."""

    platform: Platform
    workspace: str
    channel_id: str
    message_id: str


class AttachmentIn(BaseModel):
    """A file as it arrives from a platform, bytes already fetched by the adapter."""

    filename: str
    data: bytes = Field(repr=False)


class Attachment(_Frozen):
    """A stored, validated image, addressed by the SHA-256 of its bytes."""

    sha256: str
    filename: str
    content_type: str
    size: int


class TicketDraft(BaseModel):
    """What the customer typed into the new-ticket form, before it is validated."""

    category: str
    subject: str
    message: str
    attachment: AttachmentIn | None = None
    reply_to: Destination | None = None  # where the customer's ticket thread should live


class HistoryEntry(_Frozen):
    at: datetime
    actor: str
    action: str
    detail: str = ""


class TicketMessage(_Frozen):
    id: int
    kind: MessageKind
    author: str
    body: str
    attachment: Attachment | None
    at: datetime


class Actor(_Frozen):
    """Someone acting on a ticket. ``is_staff`` is decided by the adapter from the staff
    configuration (user lists, a Slack user group, a Discord role); core enforces it."""

    identity: Identity
    is_staff: bool = False

    @property
    def label(self) -> str:
        return f"{self.identity.display} ({self.identity.platform})"
