"""The relational schema (SQLAlchemy 2 declarative). Alembic migrations in
core/storage/migrations mirror it; change both together."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    account_id: Mapped[str] = mapped_column(String(128))
    plan: Mapped[str] = mapped_column(String(16))
    priority_rank: Mapped[int] = mapped_column(SmallInteger)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_key: Mapped[str] = mapped_column(String(255))
    customer_platform: Mapped[str] = mapped_column(String(16))
    customer_workspace: Mapped[str] = mapped_column(String(64))
    customer_user_id: Mapped[str] = mapped_column(String(64))
    customer_name: Mapped[str] = mapped_column(String(255), default="")
    category: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_destination: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    customer_thread: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    staff_destination: Mapped[dict[str, Any]] = mapped_column(JSON)
    staff_card: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    staff_thread: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    customer_thread_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    staff_thread_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    possible_duplicate_of: Mapped[int | None] = mapped_column(Integer)
    follows_ticket_id: Mapped[int | None] = mapped_column(Integer)
    offered_articles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    close_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    target_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_from: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_tickets_customer_recent", "customer_key", "created_at"),
        Index("ix_tickets_customer_status", "customer_key", "status"),
        Index("ix_tickets_queue", "status", "urgent", "priority_rank", "created_at"),
        # The staff queue: open tickets in priority order, read straight off the index.
        Index(
            "ix_tickets_open_queue",
            text("urgent DESC"),
            "priority_rank",
            "created_at",
            "id",
            postgresql_where=text("status IN ('Open', 'Waiting on customer')"),
            sqlite_where=text("status IN ('Open', 'Waiting on customer')"),
        ),
        Index("ix_tickets_account", "account_id", "created_at"),
    )


class AttachmentRow(Base):
    """Image bytes, stored once per content hash, in the database so every process sees them."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageRow(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    author_key: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text)
    attachment_sha: Mapped[str | None] = mapped_column(ForeignKey("attachments.sha256"))
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    source_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    source_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    redacted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_messages_ticket", "ticket_id", "id"),
        Index("ix_messages_author_recent", "author_key", "created_at"),
    )


class EventRow(Base):
    """The ticket's history: who did what, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_events_ticket", "ticket_id", "id"),)


class DraftRow(Base):
    """A validated form waiting on the customer's answer to a duplicate prompt or a
    self-service offer. Kept here, not in platform metadata, so no step loses what was typed."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_key: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    attachment_sha: Mapped[str | None] = mapped_column(ForeignKey("attachments.sha256"))
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    reply_to: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stage: Mapped[str] = mapped_column(String(16))
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    acknowledged_duplicate: Mapped[int | None] = mapped_column(Integer)
    follows_ticket_id: Mapped[int | None] = mapped_column(Integer)
    offered_articles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message that must reach a platform, written in the transaction that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    idem_key: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    op: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    ordering_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_order", "ordering_key", "state", "id"),
    )


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("external_id", name="uq_incidents_external_id"),)


class TimerRow(Base):
    """Something that must happen at a time: a reminder, an auto-close, a response-target
    warning or breach. Kept in the database so it survives restarts and fires once across
    processes; the handler re-checks the ticket when it fires."""

    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    basis: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_timers_due", "state", "due_at"),
        Index("ix_timers_ticket", "ticket_id", "state"),
    )


class RatingRow(Base):
    """The customer's satisfaction rating: one per closing of a ticket."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    closing: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("ticket_id", "closing", name="uq_ratings_closing"),)


class SnippetRow(Base):
    __tablename__ = "snippets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountRow(Base):
    """An account set by an operator (`helpline accounts ...`); overrides the config file."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    plan: Mapped[str] = mapped_column(String(16))
    white_label: Mapped[bool] = mapped_column(Boolean, default=False)
    staff_channel: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkspaceRow(Base):
    __tablename__ = "account_workspaces"

    workspace: Mapped[str] = mapped_column(String(128), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))


class IncidentAlertRow(Base):
    """A burst of similar tickets already announced to staff, so it is announced once."""

    __tablename__ = "incident_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    first_ticket_id: Mapped[int] = mapped_column(Integer, unique=True)
    ticket_ids: Mapped[list[Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
