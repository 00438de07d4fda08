"""SupportDesk: the use cases of the support desk, one async facade that every adapter calls.

Each method is one unit of work: it validates, changes the database, and writes the outbox rows
for whatever must reach a chat platform, all in one transaction. Results are platform-neutral
views (core.views); errors are domain exceptions (core.errors)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process
from sqlalchemy import BindParameter, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import accounts, guide, timers
from core.clock import Clock, utcnow
from core.config import AccountConfig, DeskConfig
from core.errors import DraftExpired, FieldError, NotAllowed, TicketNotFound, ValidationFailed
from core.knowledge import (
    KnowledgeBase,
    extract_details,
    find_duplicate,
    missing_parts,
    subject_similarity,
    suggest_articles,
)
from core.models import (
    Actor,
    Attachment,
    AttachmentIn,
    Category,
    Destination,
    HistoryEntry,
    Identity,
    MessageKind,
    MessageRef,
    Plan,
    Platform,
    Status,
    ThreadRef,
    TicketDraft,
    TicketMessage,
)
from core.outbound import Outbound, OutboundKind
from core.outbox import Outbox, Side, thread_key
from core.reports import DeskReport, build_report
from core.rules import secrets
from core.rules.attachments import CheckedImage, check_image
from core.rules.limits import check_body, check_category, check_subject
from core.rules.priority import is_urgent
from core.rules.sla import add_business_time, warning_time
from core.rules.status import Event, next_status
from core.rules.text import clean
from core.storage.db import Database
from core.storage.queries import SUMMARY_COLUMNS, load_card, to_card, to_summary
from core.storage.tables import (
    AttachmentRow,
    DraftRow,
    EventRow,
    IncidentAlertRow,
    IncidentRow,
    MessageRow,
    RatingRow,
    SnippetRow,
    TicketRow,
    TimerRow,
)
from core.timers import TimerKind
from core.transcripts import ExternalIncident, fill_snippet, transcript_markdown
from core.views import (
    ArticleLink,
    CategoryChoice,
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    HelpText,
    IncidentView,
    IntakeForm,
    Link,
    Rejected,
    ReplyAccepted,
    ReplyRefused,
    ReplyResult,
    SelfServiceOffer,
    SubmitResult,
    SupportCenterView,
    TicketCard,
    TicketDetail,
    TicketSummary,
)

_OPEN_STATES = (Status.OPEN.value, Status.WAITING_ON_CUSTOMER.value)
# Subjects of different customers this alike, filed within the window, count as one burst.
INCIDENT_SIMILARITY = 0.5


@dataclass(frozen=True)
class TicketFilter:
    """Staff/CLI ticket listing filters; ``None`` means any."""

    status: Sequence[Status] | None = None
    category: Category | None = None
    plan: Plan | None = None
    assignee: str | None = None
    unassigned: bool = False
    account_id: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ThreadToCatchUp:
    """One side's thread of a ticket that can still take replies, with the platform id of the
    message Helpline recorded last from it (None: none yet). What came after that was never
    seen if it was written while Helpline was down."""

    ticket_id: int
    side: Side
    thread: ThreadRef
    last_recorded: str | None


@dataclass(frozen=True)
class _ValidDraft:
    category: Category
    subject: str
    message: str
    image: CheckedImage | None
    data: bytes | None


class SupportDesk:
    def __init__(
        self,
        db: Database,
        config: DeskConfig,
        kb: KnowledgeBase,
        *,
        clock: Clock = utcnow,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.kb = kb
        self.clock = clock
        # Called after a transaction that wrote outbox rows, to wake the delivery worker.
        self.on_enqueue = on_enqueue

    # ---- customer: Support Center and intake -------------------------------------------------

    async def account_of(self, who: Identity) -> AccountConfig:
        """The account that owns the person's workspace: as set by an operator in the
        database, else as in the config file, else the workspace on its own on the default
        plan."""
        async with self.db.read() as session:
            return await self._account(session, who.platform, who.workspace)

    async def _account(
        self, session: AsyncSession, platform: Platform, workspace: str
    ) -> AccountConfig:
        return await accounts.resolve(session, self.config, platform, workspace)

    async def support_center(self, customer: Identity, limit: int = 20) -> SupportCenterView:
        async with self.db.read() as session:
            account = await self._account(session, customer.platform, customer.workspace)
            rows = (
                await session.scalars(
                    select(TicketRow)
                    .options(SUMMARY_COLUMNS)
                    .where(TicketRow.customer_key == customer.key)
                    .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
                    .limit(limit)
                )
            ).all()
            incident = await self._active_incident(session)
        return SupportCenterView(
            customer=customer,
            desk_name=self.config.desk_name,
            plan=account.plan,
            priority_badge=account.plan.has_priority_badge,
            tickets=[to_summary(r) for r in rows],
            quick_links=self._quick_links(),
            status_page=self.config.links.status_page,
            incident=incident,
            plan_notice=guide.PLAN_NOTICE[account.plan],
            help=self.help_text(),
        )

    def help_text(self) -> HelpText:
        links = []
        for label, slug in guide.SELF_SERVICE_FIRST:
            article = self.kb.get(slug)
            links.append(Link(label, article.url if article else self.config.links.help_center))
        return HelpText(
            can=guide.CAN,
            cant=guide.CANT,
            out_of_scope=guide.OUT_OF_SCOPE,
            self_service_first=tuple(links),
            good_ticket=guide.GOOD_TICKET,
        )

    def _quick_links(self) -> list[Link]:
        links = [Link(a.title, a.url) for a in self.kb.quick_links]
        links.append(Link("Status page", self.config.links.status_page))
        links.append(Link("Contact options", self.config.links.contact))
        return links

    async def intake_form(
        self,
        customer: Identity,
        *,
        prefill_subject: str = "",
        prefill_message: str = "",
        follows_ticket_id: int | None = None,
    ) -> IntakeForm:
        """What the new-ticket form shows. Cheap: adapters call it before opening a modal."""
        async with self.db.read() as session:
            account = await self._account(session, customer.platform, customer.workspace)
            incident = await self._active_incident(session)
        limits = self.config.limits
        return IntakeForm(
            categories=[CategoryChoice(c, self.config.hint_for(c)) for c in Category],
            incident=incident,
            plan_notice=guide.PLAN_NOTICE[account.plan],
            subject_min=limits.subject_min,
            subject_max=limits.subject_max,
            message_min=limits.message_min,
            message_max=limits.message_max,
            max_image_mb=limits.attachment_max_bytes / 1024 / 1024,
            prefill_subject=prefill_subject,
            prefill_message=prefill_message,
            follows_ticket_id=follows_ticket_id,
        )

    def validate(self, draft: TicketDraft) -> tuple[_ValidDraft | None, list[FieldError]]:
        """Every field checked at once, so the form shows every problem in one round."""
        errors: list[FieldError] = []
        category, err = check_category(draft.category)
        if err:
            errors.append(err)
        subject, err = check_subject(draft.subject, self.config.limits)
        if err:
            errors.append(err)
        elif found := secrets.find_secrets(subject):
            errors.append(FieldError("subject", secrets.describe(found)))
        message, err = check_body(draft.message, self.config.limits, "message")
        if err:
            errors.append(err)
        elif found := secrets.find_secrets(message):
            errors.append(FieldError("message", secrets.describe(found)))
        image: CheckedImage | None = None
        data: bytes | None = None
        if draft.attachment is not None:
            image, err = check_image(
                draft.attachment.filename,
                draft.attachment.data,
                self.config.limits.attachment_max_bytes,
            )
            if err:
                errors.append(err)
            else:
                data = draft.attachment.data
        if errors or category is None:
            return None, errors
        return _ValidDraft(category, subject, message, image, data), []

    async def submit(
        self,
        customer: Identity,
        draft: TicketDraft,
        *,
        source_key: str | None = None,
        follows_ticket_id: int | None = None,
    ) -> SubmitResult:
        """Submit the new-ticket form: field errors, a duplicate prompt, a self-service offer,
        or the created ticket. A rejected form stores nothing. ``source_key`` (the platform's id
        for this submission) makes a retried submit return the same ticket."""
        valid, errors = self.validate(draft)
        if valid is None:
            return Rejected(errors)
        now = self.clock()
        async with self.db.transaction() as session:
            if source_key and (existing := await self._ticket_by_source(session, source_key)):
                return self._created_view(existing, already=True)
            if flood := await self._ticket_flood(session, customer, now):
                return Rejected([FieldError("message", flood)])
            open_tickets = (
                await session.execute(
                    select(TicketRow.id, TicketRow.subject)
                    .where(
                        TicketRow.customer_key == customer.key, TicketRow.status.in_(_OPEN_STATES)
                    )
                    .order_by(TicketRow.created_at.desc())
                    .limit(200)
                )
            ).all()
            duplicate = find_duplicate(valid.subject, [(r.id, r.subject) for r in open_tickets])
            offer = self._self_service(valid)
            if duplicate is None and not offer:
                row = await self._create(
                    session,
                    customer,
                    valid,
                    now,
                    source_key=source_key,
                    offered=[],
                    duplicate_of=None,
                    follows=follows_ticket_id,
                    reply_to=draft.reply_to,
                )
                result: SubmitResult = self._created_view(row, message=valid.message)
            else:
                draft_row = await self._save_draft(
                    session,
                    customer,
                    valid,
                    draft.reply_to,
                    now,
                    stage="duplicate" if duplicate else "self_service",
                    duplicate_of=duplicate.ticket_id if duplicate else None,
                    offered=[a.slug for a in offer],
                    follows=follows_ticket_id,
                )
                if duplicate is not None:
                    result = DuplicatePrompt(draft_row.id, duplicate.ticket_id, duplicate.subject)
                else:
                    result = SelfServiceOffer(draft_row.id, offer)
        self._notify()
        return result

    async def continue_existing(self, customer: Identity, draft_id: str) -> Continued:
        """Answer to the duplicate prompt: the draft's message becomes a reply on the open
        ticket it resembled."""
        now = self.clock()
        async with self.db.transaction() as session:
            draft = await self._load_draft(session, customer, draft_id)
            if draft.outcome == "continued" and draft.duplicate_of is not None:
                ticket = await self._get_ticket(session, draft.duplicate_of)
                return Continued(ticket.id, Status(ticket.status))
            if draft.stage != "duplicate" or draft.duplicate_of is None or draft.outcome:
                raise DraftExpired()
            ticket = await self._get_ticket(session, draft.duplicate_of)
            if ticket.customer_key != customer.key:
                raise TicketNotFound(draft.duplicate_of)
            attachment = await self._attachment_of(
                session, draft.attachment_sha, draft.attachment_name
            )
            body = f"{draft.subject}\n\n{draft.message}"
            if len(body) > self.config.limits.message_max:
                body = draft.message
            await self._record_customer_message(
                session,
                ticket,
                customer,
                body,
                attachment,
                now,
                source_key=f"draft:{draft.id}",
                source_ref=None,
                redacted=False,
            )
            draft.outcome = "continued"
            status = Status(ticket.status)
        self._notify()
        return Continued(ticket.id, status)

    async def create_new(self, customer: Identity, draft_id: str) -> SubmitResult:
        """Answer to the duplicate prompt: it is a different problem. Goes on to the
        self-service check, then creates the ticket marked as a possible duplicate."""
        now = self.clock()
        async with self.db.transaction() as session:
            draft = await self._load_draft(session, customer, draft_id)
            if draft.ticket_id is not None:
                return self._created_view(
                    await self._get_ticket(session, draft.ticket_id), already=True
                )
            if draft.stage != "duplicate" or draft.outcome:
                raise DraftExpired()
            draft.acknowledged_duplicate = draft.duplicate_of
            valid = await self._valid_from_draft(session, draft)
            offer = self._self_service(valid)
            if offer:
                draft.stage = "self_service"
                draft.offered_articles = [a.slug for a in offer]
                return SelfServiceOffer(draft.id, offer)
            row = await self._create_from_draft(session, customer, draft, valid, now)
            result = self._created_view(row, message=valid.message)
        self._notify()
        return result

    async def file_anyway(self, customer: Identity, draft_id: str) -> Created:
        """Answer to the self-service offer: still stuck, file the ticket. The offered articles
        are recorded on it for staff."""
        now = self.clock()
        async with self.db.transaction() as session:
            draft = await self._load_draft(session, customer, draft_id)
            if draft.ticket_id is not None:
                return self._created_view(
                    await self._get_ticket(session, draft.ticket_id), already=True
                )
            if draft.stage != "self_service" or draft.outcome:
                raise DraftExpired()
            valid = await self._valid_from_draft(session, draft)
            row = await self._create_from_draft(session, customer, draft, valid, now)
            result = self._created_view(row, message=valid.message)
        self._notify()
        return result

    async def solved_by_article(self, customer: Identity, draft_id: str) -> Deflected:
        """Answer to the self-service offer: the article solved it. No ticket; recorded."""
        async with self.db.transaction() as session:
            draft = await self._load_draft(session, customer, draft_id)
            if draft.ticket_id is not None or (draft.outcome and draft.outcome != "deflected"):
                raise DraftExpired()
            draft.outcome = "deflected"
            return Deflected(list(draft.offered_articles or []))

    # ---- conversation ---------------------------------------------------------------------

    async def customer_reply(
        self,
        customer: Identity,
        body: str,
        *,
        thread: ThreadRef | None = None,
        ticket_id: int | None = None,
        attachment: AttachmentIn | None = None,
        source_key: str | None = None,
        source_ref: MessageRef | None = None,
        written_at: datetime | None = None,
    ) -> ReplyResult:
        """A customer's message in their ticket's thread (or, in the console, by number).
        ``written_at``, for a message read back after downtime, is when the customer wrote it:
        it is stored as the message's time and the per-minute limit counts around it, so a
        backlog recorded at once is not taken for a flood."""
        try:
            now = self.clock()
            written = min(written_at, now) if written_at is not None else now
            async with self.db.transaction() as session:
                if source_key and (seen := await self._seen_reply(session, source_key)):
                    return seen
                ticket = await self._ticket_for_customer(session, customer, thread, ticket_id)
                if flood := await self._message_flood(session, customer, written):
                    return ReplyRefused(ticket.id, flood)
                checked = self._checked_reply(ticket.id, body, attachment)
                if isinstance(checked, ReplyRefused):
                    return checked
                text, redaction, image = checked
                transition = next_status(
                    Status(ticket.status),
                    Event.CUSTOMER_REPLY,
                    closed_at=ticket.closed_at,
                    now=now,
                    reopen_window=timedelta(days=self.config.reopen_window_days),
                )
                if transition.refused:
                    return ReplyRefused(
                        ticket.id,
                        f"Ticket #{ticket.id} was closed more than "
                        f"{self.config.reopen_window_days} days ago, so this reply can't reopen "
                        f"it. Open a new ticket: it will link #{ticket.id} so the team has the "
                        "history.",
                        new_ticket_follows=ticket.id,
                    )
                stored = await self._store_image(session, image, attachment, now)
                await self._record_customer_message(
                    session,
                    ticket,
                    customer,
                    text,
                    stored,
                    now,
                    source_key=source_key,
                    source_ref=source_ref,
                    redacted=redaction is not None,
                    written=written,
                )
                result = ReplyAccepted(
                    ticket.id, Status(ticket.status), transition.reopened, redaction
                )
        except IntegrityError:
            # The same platform message handled by two processes at once: the other won.
            if source_key is None:
                raise
            return await self._recorded_reply(source_key)
        self._notify()
        return result

    async def staff_reply(
        self,
        actor: Actor,
        body: str,
        *,
        thread: ThreadRef | None = None,
        ticket_id: int | None = None,
        attachment: AttachmentIn | None = None,
        source_key: str | None = None,
        source_ref: MessageRef | None = None,
    ) -> ReplyResult:
        """A staff answer in the ticket's staff thread: relayed to the customer, and the ticket
        waits on the customer."""
        try:
            self._require_staff(actor)
            now = self.clock()
            async with self.db.transaction() as session:
                if source_key and (seen := await self._seen_reply(session, source_key)):
                    return seen
                ticket = await self._ticket_for_staff(session, thread, ticket_id)
                checked = self._checked_reply(ticket.id, body, attachment)
                if isinstance(checked, ReplyRefused):
                    return checked
                text, redaction, image = checked
                transition = next_status(
                    Status(ticket.status),
                    Event.STAFF_REPLY,
                    closed_at=ticket.closed_at,
                    now=now,
                    reopen_window=timedelta(days=self.config.reopen_window_days),
                )
                stored = await self._store_image(session, image, attachment, now)
                row = self._add_message(
                    session,
                    ticket,
                    MessageKind.STAFF,
                    actor.identity,
                    text,
                    stored,
                    now,
                    source_key,
                    source_ref,
                    redaction is not None,
                )
                await session.flush()
                if ticket.first_response_at is None:
                    ticket.first_response_at = now
                await self._stop_target(session, ticket)
                await self._change_status(session, ticket, transition.new_status, actor.label, now)
                ticket.updated_at = now
                self._history(session, ticket.id, actor.label, "staff_reply", _preview(text), now)
                outbox = Outbox(session, self.clock)
                outbox.post(
                    key=f"relay:{row.id}",
                    ticket_id=ticket.id,
                    side=Side.CUSTOMER,
                    platform=Platform(ticket.customer_platform),
                    message=Outbound(
                        kind=OutboundKind.RELAY,
                        ticket_id=ticket.id,
                        text=text,
                        author=actor.identity.display,
                        author_is_staff=True,
                        attachment=stored,
                    ),
                    ack=source_ref,
                )
                await outbox.update_card(ticket.id, _staff_platform(ticket))
                result = ReplyAccepted(ticket.id, Status(ticket.status), False, redaction)
        except IntegrityError:
            # The same platform message handled by two processes at once: the other won.
            if source_key is None:
                raise
            return await self._recorded_reply(source_key)
        self._notify()
        return result

    async def _recorded_reply(self, source_key: str) -> ReplyAccepted:
        """The answer to a message another process recorded first (its insert conflicted)."""
        async with self.db.read() as session:
            seen = await self._seen_reply(session, source_key)
        if seen is None:
            raise RuntimeError(f"message {source_key} conflicted but is not stored")
        return seen

    async def internal_note(
        self,
        actor: Actor,
        body: str,
        *,
        thread: ThreadRef | None = None,
        ticket_id: int | None = None,
        source_key: str | None = None,
    ) -> ReplyAccepted:
        """A note for staff only: stored in the ticket, never relayed, status unchanged."""
        self._require_staff(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            if source_key and (seen := await self._seen_reply(session, source_key)):
                return seen
            ticket = await self._ticket_for_staff(session, thread, ticket_id)
            text, redaction = secrets.redact(body.strip())
            if not text:
                raise ValidationFailed([FieldError("note", "The note is empty.")])
            self._add_message(
                session,
                ticket,
                MessageKind.NOTE,
                actor.identity,
                text,
                None,
                now,
                source_key,
                None,
                bool(redaction),
            )
            self._history(session, ticket.id, actor.label, "internal_note", _preview(text), now)
            await Outbox(session, self.clock).update_card(ticket.id, _staff_platform(ticket))
            return ReplyAccepted(ticket.id, Status(ticket.status))

    async def set_status(
        self, actor: Actor, ticket_id: int, status: Status, *, reason: str = ""
    ) -> TicketSummary:
        self._require_staff(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            ticket = await self._get_ticket(session, ticket_id, for_update=True)
            before = Status(ticket.status)
            if before is status:
                return to_summary(ticket)
            await self._change_status(session, ticket, status, actor.label, now)
            ticket.updated_at = now
            outbox = Outbox(session, self.clock)
            if status is Status.CLOSED:
                days = self.config.reopen_window_days
                text = (
                    f"Ticket #{ticket.id} is now closed. If the problem comes back, reply here "
                    f"within {days} days to reopen it."
                )
                if reason:
                    text = f"{text}\nReason: {reason}"
                self._notice_to_customer(
                    outbox, ticket, text, f"status:{ticket.id}:{uuid.uuid4().hex}"
                )
            elif before is Status.CLOSED:
                self._notice_to_customer(
                    outbox,
                    ticket,
                    f"Ticket #{ticket.id} was reopened by the support team.",
                    f"status:{ticket.id}:{uuid.uuid4().hex}",
                )
            await outbox.update_card(ticket.id, _staff_platform(ticket))
            summary = to_summary(ticket)
        self._notify()
        return summary

    async def assign(self, actor: Actor, ticket_id: int, assignee: str | None) -> TicketSummary:
        self._require_staff(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            ticket = await self._get_ticket(session, ticket_id, for_update=True)
            if ticket.assignee == assignee:
                return to_summary(ticket)
            ticket.assignee = assignee
            ticket.updated_at = now
            self._history(
                session,
                ticket.id,
                actor.label,
                "assigned" if assignee else "unassigned",
                assignee or "",
                now,
            )
            await Outbox(session, self.clock).update_card(ticket.id, _staff_platform(ticket))
            summary = to_summary(ticket)
        self._notify()
        return summary

    async def recategorise(self, actor: Actor, ticket_id: int, category: Category) -> TicketSummary:
        """Change the category shown on the card and used in reports. The conversation stays
        in the thread where it started."""
        self._require_staff(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            ticket = await self._get_ticket(session, ticket_id, for_update=True)
            if ticket.category == category.value:
                return to_summary(ticket)
            self._history(
                session,
                ticket.id,
                actor.label,
                "recategorised",
                f"{ticket.category} → {category.value}",
                now,
            )
            ticket.category = category.value
            ticket.updated_at = now
            await Outbox(session, self.clock).update_card(ticket.id, _staff_platform(ticket))
            summary = to_summary(ticket)
        self._notify()
        return summary

    # ---- reading ---------------------------------------------------------------------------

    async def list_tickets(self, flt: TicketFilter | None = None) -> list[TicketSummary]:
        """The staff queue order: urgent first, then plan, then oldest first."""
        flt = flt or TicketFilter(status=[Status.OPEN, Status.WAITING_ON_CUSTOMER])
        query = select(TicketRow).options(SUMMARY_COLUMNS)
        if flt.status:
            # Literal values, so SQLite can match the partial queue index's WHERE clause.
            statuses: BindParameter[list[str]] = bindparam(
                "statuses", [s.value for s in flt.status], expanding=True, literal_execute=True
            )
            query = query.where(TicketRow.status.in_(statuses))
        if flt.category:
            query = query.where(TicketRow.category == flt.category.value)
        if flt.plan:
            query = query.where(TicketRow.plan == flt.plan.value)
        if flt.unassigned:
            query = query.where(TicketRow.assignee.is_(None))
        elif flt.assignee:
            query = query.where(TicketRow.assignee == flt.assignee)
        if flt.account_id:
            query = query.where(TicketRow.account_id == flt.account_id)
        query = query.order_by(
            TicketRow.urgent.desc(), TicketRow.priority_rank, TicketRow.created_at, TicketRow.id
        ).limit(flt.limit)
        async with self.db.read() as session:
            return [to_summary(r, self.clock()) for r in (await session.scalars(query)).all()]

    async def my_tickets(
        self, customer: Identity, *, open_only: bool = False
    ) -> list[TicketSummary]:
        query = (
            select(TicketRow).options(SUMMARY_COLUMNS).where(TicketRow.customer_key == customer.key)
        )
        if open_only:
            query = query.where(TicketRow.status.in_(_OPEN_STATES))
        query = query.order_by(TicketRow.created_at.desc(), TicketRow.id.desc()).limit(50)
        async with self.db.read() as session:
            return [to_summary(r, self.clock()) for r in (await session.scalars(query)).all()]

    async def ticket_detail(self, ticket_id: int, *, viewer: Actor | None = None) -> TicketDetail:
        """Everything about a ticket. A customer viewer sees only their own ticket and no
        internal notes; staff (and the CLI, with no viewer) see everything."""
        async with self.db.read() as session:
            ticket = await self._get_ticket(session, ticket_id)
            customer_view = viewer is not None and not viewer.is_staff
            if customer_view and viewer is not None:
                who = viewer.identity
                if (
                    ticket.account_id
                    != (await self._account(session, who.platform, who.workspace)).id
                ):
                    raise TicketNotFound(ticket_id)
            messages = (
                await session.scalars(
                    select(MessageRow)
                    .where(MessageRow.ticket_id == ticket_id)
                    .order_by(MessageRow.id)
                )
            ).all()
            events = (
                await session.scalars(
                    select(EventRow).where(EventRow.ticket_id == ticket_id).order_by(EventRow.id)
                )
            ).all()
            shas = {m.attachment_sha for m in messages if m.attachment_sha}
            attachments: dict[str, Attachment] = {}
            for m in messages:
                if m.attachment_sha and m.attachment_sha not in attachments:
                    att = await session.get(AttachmentRow, m.attachment_sha)
                    if att is not None:
                        attachments[m.attachment_sha] = Attachment(
                            sha256=att.sha256,
                            filename=m.attachment_name or "image",
                            content_type=att.content_type,
                            size=att.size,
                        )
            del shas
            visible = [m for m in messages if not (customer_view and m.kind == MessageKind.NOTE)]
            return TicketDetail(
                summary=to_summary(ticket),
                card=to_card(ticket, len(messages)),
                messages=[
                    TicketMessage(
                        id=m.id,
                        kind=MessageKind(m.kind),
                        author=m.author_name or m.author_key,
                        body=m.body,
                        attachment=attachments.get(m.attachment_sha) if m.attachment_sha else None,
                        at=m.created_at,
                    )
                    for m in visible
                ],
                history=[]
                if customer_view
                else [
                    HistoryEntry(at=e.at, actor=e.actor, action=e.action, detail=e.detail)
                    for e in events
                ],
                attachments=list(attachments.values()),
            )

    async def card(self, ticket_id: int) -> TicketCard:
        async with self.db.read() as session:
            card = await load_card(session, ticket_id, self.clock())
        if card is None:
            raise TicketNotFound(ticket_id)
        return card

    async def ticket_id_for_thread(self, thread: ThreadRef) -> tuple[int, Side] | None:
        """Which ticket a thread belongs to, and which side of it."""
        key = thread_key(thread)
        async with self.db.read() as session:
            found = await session.scalar(
                select(TicketRow.id).where(TicketRow.staff_thread_key == key)
            )
            if found is not None:
                return found, Side.STAFF
            found = await session.scalar(
                select(TicketRow.id).where(TicketRow.customer_thread_key == key)
            )
            if found is not None:
                return found, Side.CUSTOMER
        return None

    async def threads_to_catch_up(self, platform: Platform) -> list[ThreadToCatchUp]:
        """The threads on ``platform`` of tickets updated within ``catch_up_days`` that can
        still take a reply (not closed, or closed within the reopen window), by ticket, the
        customer's first; each with the message recorded last from it, for an adapter to read
        what followed after downtime."""
        if self.config.catch_up_days == 0:
            return []
        now = self.clock()
        recent = (
            TicketRow.updated_at >= now - timedelta(days=self.config.catch_up_days),
            or_(
                TicketRow.status != Status.CLOSED.value,
                TicketRow.closed_at >= now - timedelta(days=self.config.reopen_window_days),
            ),
        )
        found: dict[tuple[int, Side], ThreadToCatchUp] = {}
        async with self.db.read() as session:
            tickets = await session.execute(
                select(TicketRow.id, TicketRow.customer_thread, TicketRow.staff_thread)
                .where(*recent)
                .order_by(TicketRow.id)
            )
            for ticket_id, customer_thread, staff_thread in tickets:
                for side, raw in ((Side.CUSTOMER, customer_thread), (Side.STAFF, staff_thread)):
                    if raw is not None and raw.get("platform") == platform.value:
                        found[(ticket_id, side)] = ThreadToCatchUp(
                            ticket_id, side, ThreadRef.model_validate(raw), None
                        )
            if not found:
                return []
            messages = await session.execute(
                select(MessageRow.ticket_id, MessageRow.kind, MessageRow.source_ref)
                .join(TicketRow, TicketRow.id == MessageRow.ticket_id)
                .where(*recent)
                .order_by(MessageRow.id)
            )
            for ticket_id, kind, raw_ref in messages:
                side = Side.CUSTOMER if kind == MessageKind.CUSTOMER.value else Side.STAFF
                entry = found.get((ticket_id, side))
                if entry is None or raw_ref is None:
                    continue
                ref = MessageRef.model_validate(raw_ref)
                if (
                    ref.platform is entry.thread.platform
                    and ref.channel_id == entry.thread.channel_id
                ):
                    found[(ticket_id, side)] = replace(entry, last_recorded=ref.message_id)
        return list(found.values())

    async def attachment_bytes(self, sha256: str) -> bytes | None:
        async with self.db.read() as session:
            row = await session.get(AttachmentRow, sha256)
            return row.data if row else None

    # ---- incidents ------------------------------------------------------------------------

    async def start_incident(self, actor: Actor, text: str) -> IncidentView:
        self._require_staff(actor)
        text = text.strip()
        if len(text) < 5:
            from core.errors import ValidationFailed

            raise ValidationFailed(
                [FieldError("incident", "Describe the incident in a few words.")]
            )
        now = self.clock()
        async with self.db.transaction() as session:
            current = await self._active_incident_row(session)
            if current is not None:
                current.ended_at = now
            row = IncidentRow(text=text, started_by=actor.label, started_at=now)
            session.add(row)
            await session.flush()
            return IncidentView(row.id, row.text, row.started_at, self.config.links.status_page)

    async def end_incident(self, actor: Actor) -> bool:
        self._require_staff(actor)
        async with self.db.transaction() as session:
            current = await self._active_incident_row(session)
            if current is None:
                return False
            current.ended_at = self.clock()
            return True

    async def active_incident(self) -> IncidentView | None:
        async with self.db.read() as session:
            return await self._active_incident(session)

    # ---- desk operations: timers, ratings, snippets, transcripts, accounts, escalation ------

    async def fire_timer(self, session: AsyncSession, timer: TimerRow) -> str:
        """Apply a due timer, re-checking the ticket and the current configuration."""
        ticket = await session.get(TicketRow, timer.ticket_id) if timer.ticket_id else None
        if ticket is None:
            return "no ticket"
        kind = TimerKind(timer.kind)
        now = self.clock()
        outbox = Outbox(session, self.clock)
        if kind in timers.AUTO_CLOSE_KINDS:
            auto = self.config.auto_close
            if not auto.enabled:
                return "auto-close is off"
            if (
                ticket.status != Status.WAITING_ON_CUSTOMER.value
                or ticket.waiting_since != timer.basis
            ):
                return "customer answered"
            waiting_since = ticket.waiting_since
            assert waiting_since is not None  # equal to the timer's basis, checked above
            close_at = waiting_since + timedelta(days=auto.close_after_days)
            if kind is TimerKind.AUTO_CLOSE_REMINDER:
                self._notice_to_customer(
                    outbox,
                    ticket,
                    f"We're waiting for your answer on ticket #{ticket.id}. If we don't hear from "
                    f"you, it will close on {close_at:%d %b %Y}. Reply here to keep it open.",
                    f"reminder:{ticket.id}:{timer.id}",
                )
                return "reminded"
            if now < close_at:  # the window was made longer since this timer was set
                timers.schedule(session, TimerKind.AUTO_CLOSE, ticket.id, close_at, waiting_since)
                return "rescheduled"
            await self._change_status(session, ticket, Status.CLOSED, "Helpline (auto-close)", now)
            ticket.updated_at = now
            self._notice_to_customer(
                outbox,
                ticket,
                f"Ticket #{ticket.id} was closed because we didn't hear back. If the problem "
                f"is still there, reply here within {self.config.reopen_window_days} days "
                "to reopen it.",
                f"autoclose:{ticket.id}:{timer.id}",
            )
            await outbox.update_card(ticket.id, _staff_platform(ticket))
            return "closed"
        if ticket.response_due_at != timer.basis or ticket.status == Status.CLOSED.value:
            return "answered in time"
        await outbox.update_card(ticket.id, _staff_platform(ticket))
        if kind is TimerKind.TARGET_BREACH:
            due = ticket.response_due_at
            outbox.post(
                key=f"breach:{ticket.id}:{timer.id}",
                ticket_id=ticket.id,
                side=Side.STAFF,
                platform=_staff_platform(ticket),
                message=Outbound(
                    kind=OutboundKind.NOTICE,
                    ticket_id=ticket.id,
                    text=f"⏰ Ticket #{ticket.id} ({ticket.plan}) missed its response target "
                    f"(due {due:%Y-%m-%d %H:%M} UTC): {ticket.subject}",
                    broadcast=True,
                ),
            )
            return "breach announced"
        return "flagged nearing"

    async def rate(
        self,
        customer: Identity,
        ticket_id: int,
        score: int,
        comment: str = "",
        *,
        closing: int | None = None,
    ) -> str:
        """The customer's rating of a closed ticket: one per closing."""
        if not 1 <= score <= 5:
            raise ValidationFailed([FieldError("rating", "A rating is a number from 1 to 5.")])
        now = self.clock()
        async with self.db.transaction() as session:
            ticket = await self._ticket_for_customer(session, customer, None, ticket_id)
            if ticket.customer_key != customer.key:
                raise NotAllowed(f"Only the person who filed ticket #{ticket.id} can rate it.")
            closing = closing or ticket.close_count
            if closing < 1:
                raise ValidationFailed(
                    [FieldError("rating", f"Ticket #{ticket.id} isn't closed yet.")]
                )
            exists_ = await session.scalar(
                select(RatingRow.id).where(
                    RatingRow.ticket_id == ticket.id, RatingRow.closing == closing
                )
            )
            if exists_ is not None:
                return f"You already rated ticket #{ticket.id}. Thank you!"
            session.add(
                RatingRow(
                    ticket_id=ticket.id,
                    closing=closing,
                    score=score,
                    comment=clean(comment)[:1000],
                    at=now,
                )
            )
            self._history(session, ticket.id, customer.display, "rated", f"{score}/5", now)
            await Outbox(session, self.clock).update_card(ticket.id, _staff_platform(ticket))
        self._notify()
        return f"Thanks for rating ticket #{ticket_id}: {score}/5."

    async def snippet_save(self, actor: Actor, name: str, body: str) -> None:
        self._require_staff(actor)
        name = name.strip().lower()
        if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
            raise ValidationFailed(
                [
                    FieldError(
                        "name",
                        "A snippet name is one word of letters, digits, - or _ (at most 64).",
                    )
                ]
            )
        text, err = check_body(body, self.config.limits, "message")
        if err:
            raise ValidationFailed(
                [FieldError("snippet", err.message.replace("message", "snippet"))]
            )
        async with self.db.transaction() as session:
            row = await session.get(SnippetRow, name)
            if row is None:
                session.add(
                    SnippetRow(
                        name=name, body=text, updated_by=actor.label, updated_at=self.clock()
                    )
                )
            else:
                row.body, row.updated_by, row.updated_at = text, actor.label, self.clock()

    async def snippets(self) -> list[tuple[str, str]]:
        async with self.db.read() as session:
            rows = (await session.scalars(select(SnippetRow).order_by(SnippetRow.name))).all()
            return [(r.name, r.body) for r in rows]

    async def snippet_delete(self, actor: Actor, name: str) -> bool:
        self._require_staff(actor)
        async with self.db.transaction() as session:
            row = await session.get(SnippetRow, name.strip().lower())
            if row is None:
                return False
            await session.delete(row)
            return True

    async def snippet_send(
        self,
        actor: Actor,
        name: str,
        *,
        thread: ThreadRef | None = None,
        ticket_id: int | None = None,
        source_key: str | None = None,
    ) -> ReplyResult:
        """Send a canned reply with {customer}, {ticket} and {agent} filled in."""
        self._require_staff(actor)
        async with self.db.transaction() as session:
            row = await session.get(SnippetRow, name.strip().lower())
            if row is None:
                raise ValidationFailed(
                    [
                        FieldError(
                            "name",
                            f"There is no snippet '{name}'. List them with /support snippet list.",
                        )
                    ]
                )
            ticket = await self._ticket_for_staff(session, thread, ticket_id)
            body = fill_snippet(
                row.body,
                customer=ticket.customer_name or ticket.customer_user_id,
                ticket=ticket.id,
                agent=actor.identity.display,
            )
            tid = ticket.id
        return await self.staff_reply(actor, body, ticket_id=tid, source_key=source_key)

    async def request_transcript(
        self, customer: Identity, *, thread: ThreadRef | None = None, ticket_id: int | None = None
    ) -> int:
        """Post the ticket's transcript (what the customer saw, no internal notes) into the
        customer's thread."""
        async with self.db.transaction() as session:
            ticket = await self._ticket_for_customer(session, customer, thread, ticket_id)
            if ticket.customer_key != customer.key:
                raise TicketNotFound(ticket.id)
            tid = ticket.id
        detail = await self.ticket_detail(tid, viewer=Actor(identity=customer))
        async with self.db.transaction() as session:
            ticket = await self._get_ticket(session, tid)
            Outbox(session, self.clock).post(
                key=f"transcript:{tid}:{uuid.uuid4().hex}",
                ticket_id=tid,
                side=Side.CUSTOMER,
                platform=Platform(ticket.customer_platform),
                message=Outbound(
                    kind=OutboundKind.NOTICE,
                    ticket_id=tid,
                    text=transcript_markdown(detail, include_notes=False),
                ),
            )
        self._notify()
        return tid

    async def export(self, since: datetime | None = None) -> AsyncIterator[TicketDetail]:
        """Every ticket (created at or after ``since``) with its full history, oldest first."""
        query = select(TicketRow.id).order_by(TicketRow.id)
        if since is not None:
            query = query.where(TicketRow.created_at >= since)
        async with self.db.read() as session:
            ids = list((await session.scalars(query)).all())
        for tid in ids:
            yield await self.ticket_detail(tid)

    async def accounts(self) -> list[AccountConfig]:
        async with self.db.read() as session:
            return await accounts.list_all(session, self.config)

    async def set_account(self, account_id: str, **fields: Any) -> AccountConfig:
        async with self.db.transaction() as session:
            return await accounts.upsert(session, self.config, account_id, self.clock(), **fields)

    async def map_workspace(self, ref: str, account_id: str) -> None:
        async with self.db.transaction() as session:
            await accounts.map_workspace(session, self.config, ref, account_id, self.clock())

    async def unmap_workspace(self, ref: str) -> bool:
        async with self.db.transaction() as session:
            return await accounts.unmap_workspace(session, ref)

    async def escalate(self, actor: Actor, ticket_id: int) -> Created:
        """White Label Lite: the account's own staff hand a ticket to the provider's desk. The
        provider's staff see the account and the conversation; the end customer sees nothing
        of it, and the escalation's thread lives in the account's own staff channel."""
        now = self.clock()
        async with self.db.transaction() as session:
            ticket = await self._get_ticket(session, ticket_id, for_update=True)
            who = actor.identity
            account = await self._account(session, who.platform, who.workspace)
            own_staff = account.white_label and account.id == ticket.account_id
            if not (actor.is_staff or own_staff):
                raise NotAllowed("Only the account's support team can escalate its tickets.")
            if ticket.staff_thread is None and ticket.staff_destination is None:
                raise NotAllowed("This ticket has no staff thread yet; try again in a moment.")
            existing = await session.scalar(
                select(TicketRow.id).where(TicketRow.escalated_from == ticket.id)
            )
            if existing is not None:
                return self._created_view(await self._get_ticket(session, existing), already=True)
            messages = (
                await session.scalars(
                    select(MessageRow)
                    .where(
                        MessageRow.ticket_id == ticket.id, MessageRow.kind != MessageKind.NOTE.value
                    )
                    .order_by(MessageRow.id)
                )
            ).all()
            lines = [
                f"Escalated by {who.display} of {account.name or account.id} from their "
                f"ticket #{ticket.id}.",
                "",
            ]
            lines += [f"{m.author_name or m.author_key}: {m.body}" for m in messages]
            body = "\n".join(lines)
            limit = self.config.limits.message_max
            if len(body) > limit:
                body = body[: limit - 1] + "…"
            staff_dest = Destination.model_validate(ticket.staff_destination)
            valid = _ValidDraft(
                Category(ticket.category),
                _preview(f"Escalated #{ticket.id}: {ticket.subject}", 150),
                body,
                None,
                None,
            )
            row = await self._create(
                session,
                who,
                valid,
                now,
                source_key=f"escalate:{ticket.id}",
                offered=[],
                duplicate_of=None,
                follows=None,
                reply_to=Destination(
                    platform=staff_dest.platform,
                    workspace=staff_dest.workspace,
                    channel_id=staff_dest.channel_id,
                    user_id=who.user_id,
                ),
                escalated_from=ticket.id,
            )
            row.account_id = ticket.account_id
            self._history(
                session, ticket.id, actor.label, "escalated", f"to the provider as #{row.id}", now
            )
            result = self._created_view(row)
        self._notify()
        return result

    async def sync_status_page(self, incidents: Sequence[ExternalIncident]) -> None:
        """Mirror a status page's unresolved incidents: new ones start, missing ones end."""
        now = self.clock()
        async with self.db.transaction() as session:
            open_rows = (
                await session.scalars(
                    select(IncidentRow).where(
                        IncidentRow.external_id.is_not(None), IncidentRow.ended_at.is_(None)
                    )
                )
            ).all()
            seen = {i.id for i in incidents}
            for row in open_rows:
                if row.external_id not in seen:
                    row.ended_at = now
            for incident in incidents:
                existing = (
                    await session.scalars(
                        select(IncidentRow).where(IncidentRow.external_id == incident.id)
                    )
                ).first()
                if existing is None:
                    session.add(
                        IncidentRow(
                            text=incident.name,
                            started_by="status page",
                            started_at=incident.started_at or now,
                            external_id=incident.id,
                            url=incident.url,
                        )
                    )
                else:
                    existing.text, existing.url = incident.name, incident.url
                    existing.ended_at = None

    async def report(self, since: datetime | None = None) -> DeskReport:
        async with self.db.read() as session:
            return await build_report(session, since)

    # ---- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    def _require_staff(self, actor: Actor) -> None:
        if not actor.is_staff:
            raise NotAllowed(
                "Only the support team can do that here. If you are a customer, use /support."
            )

    async def _ticket_flood(
        self, session: AsyncSession, customer: Identity, now: datetime
    ) -> str | None:
        limit = self.config.rate_limits.tickets_per_hour
        recent = await session.scalar(
            select(func.count())
            .select_from(TicketRow)
            .where(
                TicketRow.customer_key == customer.key,
                TicketRow.created_at > now - timedelta(hours=1),
            )
        )
        if int(recent or 0) < limit:
            return None
        return (
            f"You have filed {limit} tickets in the last hour, the most we take from one person. "
            "Add to one of your open tickets instead (/support list), or try again later: "
            "nothing you typed here is lost while this form stays open."
        )

    async def _message_flood(
        self, session: AsyncSession, customer: Identity, at: datetime
    ) -> str | None:
        """Why a message written at ``at`` is refused, if the customer wrote the per-minute
        limit's worth in the minute before it."""
        limit = self.config.rate_limits.messages_per_minute
        recent = await session.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(
                MessageRow.author_key == customer.key,
                MessageRow.created_at > at - timedelta(minutes=1),
                MessageRow.created_at <= at,
            )
        )
        if int(recent or 0) < limit:
            return None
        return (
            f"You've sent {limit} messages in the last minute, faster than we can take them. "
            "This one was not sent: wait a minute, then send it again."
        )

    def _self_service(self, valid: _ValidDraft) -> list[ArticleLink]:
        matches = suggest_articles(f"{valid.subject}\n{valid.message}", self.kb, limit=3)
        return [
            ArticleLink(m.slug, m.title, m.url, m.score)
            for m in matches
            if getattr(m, "self_service", False)
        ]

    async def _seen_reply(self, session: AsyncSession, source_key: str) -> ReplyAccepted | None:
        """The answer to a platform message recorded before (a resend): accepted, once."""
        prior = await self._message_by_source(session, source_key)
        if prior is None:
            return None
        ticket = await self._get_ticket(session, prior.ticket_id)
        return ReplyAccepted(ticket.id, Status(ticket.status), duplicate=True)

    def _checked_reply(
        self, ticket_id: int, body: str, attachment: AttachmentIn | None
    ) -> tuple[str, str | None, CheckedImage | None] | ReplyRefused:
        """A reply's text (secrets redacted) with its redaction notice and image, or why it
        can't be taken."""
        text, redaction, error = self._reply_text(body, attachment is not None)
        if error:
            return ReplyRefused(ticket_id, error)
        image, error = self._check_reply_image(attachment)
        if error:
            return ReplyRefused(ticket_id, error)
        return text, redaction, image

    def _reply_text(self, body: str, has_image: bool) -> tuple[str, str | None, str | None]:
        """(text to store, redaction notice, refusal reason)."""
        text, err = check_body(body, self.config.limits, "reply")
        if err and not (has_image and not text):
            return text, None, err.message
        redacted, found = secrets.redact(text)
        notice = None
        if found:
            notice = (
                f"{secrets.describe(found)} I removed it before your message was saved or "
                "shown to anyone."
            )
        return redacted, notice, None

    def _check_reply_image(
        self, attachment: AttachmentIn | None
    ) -> tuple[CheckedImage | None, str | None]:
        if attachment is None:
            return None, None
        image, err = check_image(
            attachment.filename, attachment.data, self.config.limits.attachment_max_bytes
        )
        if err:
            return None, f"Your message wasn't sent: {err.message}"
        return image, None

    async def _store_image(
        self,
        session: AsyncSession,
        image: CheckedImage | None,
        attachment: AttachmentIn | None,
        now: datetime,
    ) -> Attachment | None:
        if image is None or attachment is None:
            return None
        await self._put_blob(session, image, attachment.data, now)
        return Attachment(
            sha256=image.sha256,
            filename=image.filename,
            content_type=image.content_type,
            size=image.size,
        )

    async def _put_blob(
        self, session: AsyncSession, image: CheckedImage, data: bytes, now: datetime
    ) -> None:
        if await session.get(AttachmentRow, image.sha256) is None:
            session.add(
                AttachmentRow(
                    sha256=image.sha256,
                    content_type=image.content_type,
                    size=image.size,
                    data=data,
                    created_at=now,
                )
            )
            await session.flush()

    async def _attachment_of(
        self, session: AsyncSession, sha: str | None, name: str | None
    ) -> Attachment | None:
        if not sha:
            return None
        row = await session.get(AttachmentRow, sha)
        if row is None:
            return None
        return Attachment(
            sha256=sha, filename=name or "image", content_type=row.content_type, size=row.size
        )

    async def _record_customer_message(
        self,
        session: AsyncSession,
        ticket: TicketRow,
        customer: Identity,
        text: str,
        attachment: Attachment | None,
        now: datetime,
        *,
        source_key: str | None,
        source_ref: MessageRef | None,
        redacted: bool,
        written: datetime | None = None,
    ) -> None:
        transition = next_status(
            Status(ticket.status),
            Event.CUSTOMER_REPLY,
            closed_at=ticket.closed_at,
            now=now,
            reopen_window=timedelta(days=self.config.reopen_window_days),
        )
        row = self._add_message(
            session,
            ticket,
            MessageKind.CUSTOMER,
            customer,
            text,
            attachment,
            written or now,
            source_key,
            source_ref,
            redacted,
        )
        await session.flush()
        if transition.reopened:
            ticket.reopen_count += 1
            self._history(
                session,
                ticket.id,
                customer.display,
                "reopened",
                "customer replied within the reopen window",
                now,
            )
        await self._change_status(session, ticket, transition.new_status, customer.display, now)
        ticket.updated_at = now
        self._history(session, ticket.id, customer.display, "customer_reply", _preview(text), now)
        outbox = Outbox(session, self.clock)
        outbox.post(
            key=f"relay:{row.id}",
            ticket_id=ticket.id,
            side=Side.STAFF,
            platform=_staff_platform(ticket),
            message=Outbound(
                kind=OutboundKind.RELAY,
                ticket_id=ticket.id,
                text=text,
                author=customer.display,
                attachment=attachment,
            ),
            ack=source_ref,
        )
        await outbox.update_card(ticket.id, _staff_platform(ticket))

    def _add_message(
        self,
        session: AsyncSession,
        ticket: TicketRow,
        kind: MessageKind,
        who: Identity,
        text: str,
        attachment: Attachment | None,
        now: datetime,
        source_key: str | None,
        source_ref: MessageRef | None,
        redacted: bool,
    ) -> MessageRow:
        row = MessageRow(
            ticket_id=ticket.id,
            kind=kind.value,
            author_key=who.key,
            author_name=who.display,
            body=text,
            attachment_sha=attachment.sha256 if attachment else None,
            attachment_name=attachment.filename if attachment else None,
            source_key=source_key,
            source_ref=source_ref.model_dump(mode="json") if source_ref else None,
            redacted=redacted,
            created_at=now,
        )
        session.add(row)
        return row

    async def _change_status(
        self, session: AsyncSession, ticket: TicketRow, new: Status, actor: str, now: datetime
    ) -> None:
        """Move a ticket to ``new`` and keep its timers in step: auto-close runs only while it
        waits on the customer; a response target runs only while it waits on staff."""
        old = Status(ticket.status)
        if old is new:
            return
        ticket.status = new.value
        ticket.closed_at = now if new is Status.CLOSED else None
        self._history(session, ticket.id, actor, "status", f"{old.value} → {new.value}", now)
        if old is Status.WAITING_ON_CUSTOMER:
            ticket.waiting_since = None
            await timers.cancel(session, ticket.id, timers.AUTO_CLOSE_KINDS)
        if new is Status.WAITING_ON_CUSTOMER:
            ticket.waiting_since = now
            auto = self.config.auto_close
            if auto.enabled:
                timers.schedule(
                    session,
                    TimerKind.AUTO_CLOSE_REMINDER,
                    ticket.id,
                    now + timedelta(days=auto.remind_after_days),
                    now,
                )
                timers.schedule(
                    session,
                    TimerKind.AUTO_CLOSE,
                    ticket.id,
                    now + timedelta(days=auto.close_after_days),
                    now,
                )
        if new is Status.OPEN and ticket.response_due_at is None:
            await self._start_target(session, ticket, now, first=ticket.first_response_at is None)
        if new is Status.CLOSED:
            await self._stop_target(session, ticket)
            ticket.close_count += 1
            Outbox(session, self.clock).post(
                key=f"rating:{ticket.id}:{ticket.close_count}",
                ticket_id=ticket.id,
                side=Side.CUSTOMER,
                platform=Platform(ticket.customer_platform),
                message=Outbound(
                    kind=OutboundKind.RATING_REQUEST,
                    ticket_id=ticket.id,
                    text=f"How did we do on ticket #{ticket.id}? Rate the help from 1 (poor) "
                    "to 5 (great); a comment is welcome too.",
                    rating_closing=ticket.close_count,
                ),
            )

    async def _start_target(
        self, session: AsyncSession, ticket: TicketRow, now: datetime, *, first: bool
    ) -> None:
        times = self._target_times(Plan(ticket.plan), now, first=first)
        if times is None:
            return
        ticket.response_due_at, ticket.target_warn_at = times
        self._schedule_target(session, ticket.id, now, *times)

    def _target_times(
        self, plan: Plan, now: datetime, *, first: bool
    ) -> tuple[datetime, datetime] | None:
        """When the next answer is due under the plan's response target, and when to warn."""
        target = self.config.target_for(plan)
        if target is None:
            return None
        hours = target.first_response_hours if first else target.follow_up_hours
        due = add_business_time(now, hours, self.config.business_hours)
        return due, warning_time(due, hours, self.config.target_warning_fraction)

    @staticmethod
    def _schedule_target(
        session: AsyncSession, ticket_id: int, now: datetime, due: datetime, warn: datetime
    ) -> None:
        timers.schedule(session, TimerKind.TARGET_WARNING, ticket_id, max(warn, now), due)
        timers.schedule(session, TimerKind.TARGET_BREACH, ticket_id, due, due)

    async def _stop_target(self, session: AsyncSession, ticket: TicketRow) -> None:
        if ticket.response_due_at is None:
            return
        ticket.response_due_at = None
        ticket.target_warn_at = None
        await timers.cancel(session, ticket.id, timers.TARGET_KINDS)

    def _history(
        self,
        session: AsyncSession,
        ticket_id: int,
        actor: str,
        action: str,
        detail: str,
        now: datetime,
    ) -> None:
        session.add(
            EventRow(ticket_id=ticket_id, at=now, actor=actor, action=action, detail=detail)
        )

    def _notice_to_customer(self, outbox: Outbox, ticket: TicketRow, text: str, key: str) -> None:
        outbox.post(
            key=key,
            ticket_id=ticket.id,
            side=Side.CUSTOMER,
            platform=Platform(ticket.customer_platform),
            message=Outbound(kind=OutboundKind.NOTICE, ticket_id=ticket.id, text=text),
        )

    async def _create(
        self,
        session: AsyncSession,
        customer: Identity,
        valid: _ValidDraft,
        now: datetime,
        *,
        source_key: str | None,
        offered: list[str],
        duplicate_of: int | None,
        follows: int | None,
        reply_to: Destination | None,
        escalated_from: int | None = None,
    ) -> TicketRow:
        account = await self._account(session, customer.platform, customer.workspace)
        attachment: Attachment | None = None
        if valid.image is not None and valid.data is not None:
            await self._put_blob(session, valid.image, valid.data, now)
            attachment = Attachment(
                sha256=valid.image.sha256,
                filename=valid.image.filename,
                content_type=valid.image.content_type,
                size=valid.image.size,
            )
        if follows is not None:
            previous = await session.get(TicketRow, follows)
            if previous is None or previous.customer_key != customer.key:
                follows = None
        staff_dest = self.config.route_for(valid.category)
        if account.white_label and account.staff_channel and escalated_from is None:
            # White Label Lite: the account's own customers reach the account's own staff.
            staff_dest = Destination.parse(account.staff_channel)
        customer_dest = reply_to or Destination(
            platform=customer.platform, workspace=customer.workspace, user_id=customer.user_id
        )
        details = extract_details(f"{valid.subject}\n{valid.message}")
        row = TicketRow(
            source_key=source_key,
            account_id=account.id,
            plan=account.plan.value,
            priority_rank=account.plan.rank,
            urgent=is_urgent(valid.subject),
            customer_key=customer.key,
            customer_platform=customer.platform.value,
            customer_workspace=customer.workspace,
            customer_user_id=customer.user_id,
            customer_name=customer.name,
            category=valid.category.value,
            subject=valid.subject,
            status=Status.OPEN.value,
            assignee=None,
            created_at=now,
            updated_at=now,
            closed_at=None,
            customer_destination=customer_dest.model_dump(mode="json"),
            staff_destination=staff_dest.model_dump(mode="json"),
            possible_duplicate_of=duplicate_of,
            follows_ticket_id=follows,
            offered_articles=offered,
            details=_details_dict(details),
            reopen_count=0,
            escalated_from=escalated_from,
        )
        target_times = self._target_times(account.plan, now, first=True)
        if target_times is not None:  # set before the insert: no update after it
            row.response_due_at, row.target_warn_at = target_times
        session.add(row)
        await session.flush()
        self._history(
            session,
            row.id,
            customer.display,
            "created",
            f"{valid.category.value}: {valid.subject}",
            now,
        )
        if offered:
            self._history(
                session, row.id, customer.display, "filed_after_articles", ", ".join(offered), now
            )
        if duplicate_of:
            self._history(
                session,
                row.id,
                customer.display,
                "possible_duplicate",
                f"customer chose a new ticket over #{duplicate_of}",
                now,
            )
        msg = self._add_message(
            session,
            row,
            MessageKind.CUSTOMER,
            customer,
            valid.message,
            attachment,
            now,
            None,
            None,
            False,
        )
        await session.flush()
        outbox = Outbox(session, self.clock)
        plan = Plan(row.plan)
        outbox.open_customer_thread(
            row.id,
            customer_dest,
            Outbound(
                kind=OutboundKind.TICKET_OPENED,
                ticket_id=row.id,
                text=(
                    f"Ticket #{row.id} — {row.subject}\nStatus: {Status.OPEN.value} · "
                    f"Category: {row.category}\n{guide.WHAT_NEXT[plan]}"
                ),
            ),
        )
        outbox.post_card(row.id, staff_dest)
        outbox.post(
            key=f"relay:{msg.id}",
            ticket_id=row.id,
            side=Side.STAFF,
            platform=staff_dest.platform,
            message=Outbound(
                kind=OutboundKind.RELAY,
                ticket_id=row.id,
                text=valid.message,
                author=customer.display,
                attachment=attachment,
            ),
        )
        if target_times is not None:
            self._schedule_target(session, row.id, now, *target_times)
        if row.urgent:
            outbox.post(
                key=f"urgent:{row.id}",
                ticket_id=row.id,
                side=Side.STAFF,
                platform=staff_dest.platform,
                message=Outbound(
                    kind=OutboundKind.NOTICE,
                    ticket_id=row.id,
                    text=f"🚨 Urgent ticket #{row.id} from {customer.display} ({plan.value}): "
                    f"{row.subject}",
                    broadcast=True,
                    ping_group=self._oncall_for(staff_dest.platform),
                ),
            )
        await self._detect_incident(session, row, now)
        return row

    def _oncall_for(self, platform: Platform) -> str | None:
        if platform is Platform.SLACK:
            return self.config.oncall.slack_usergroup
        if platform is Platform.DISCORD:
            return self.config.oncall.discord_role
        return None

    async def _detect_incident(self, session: AsyncSession, row: TicketRow, now: datetime) -> None:
        """Several customers filing similar tickets within minutes may be an incident: tell
        staff once per burst, with the tickets listed."""
        rules = self.config.incidents
        recent = (
            await session.execute(
                select(TicketRow.id, TicketRow.subject, TicketRow.customer_key)
                .where(
                    TicketRow.created_at >= now - timedelta(minutes=rules.window_minutes),
                    TicketRow.id != row.id,
                    TicketRow.customer_key != row.customer_key,
                )
                .order_by(TicketRow.id)
                .limit(200)
            )
        ).all()
        # A cheap screen in one C call first: most recent subjects share nothing with this one.
        screened = process.extract(
            row.subject,
            [other.subject for other in recent],
            scorer=fuzz.token_set_ratio,
            processor=default_process,
            score_cutoff=40,
            limit=None,
        )
        similar: dict[str, int] = {}
        for index in sorted(index for _, _, index in screened):
            other = recent[index]
            if other.customer_key in similar:
                continue
            if subject_similarity(row.subject, other.subject) >= INCIDENT_SIMILARITY:
                similar[other.customer_key] = other.id
                if len(similar) >= 2 * rules.min_tickets:
                    break  # enough to tell staff; the earliest ones, as any earlier alert has
        if len(similar) + 1 < rules.min_tickets:
            return
        ids = sorted([*similar.values(), row.id])
        recent_alerts = (
            await session.scalars(
                select(IncidentAlertRow.ticket_ids).where(
                    IncidentAlertRow.at >= now - timedelta(minutes=2 * rules.window_minutes)
                )
            )
        ).all()
        if any(set(ids) & set(alerted or []) for alerted in recent_alerts):
            return  # this burst was announced already
        try:
            # In a savepoint: another process announcing the same burst at the same moment
            # must not cost this customer their ticket.
            async with session.begin_nested():
                session.add(IncidentAlertRow(first_ticket_id=ids[0], ticket_ids=ids, at=now))
                await session.flush()
        except IntegrityError:
            return
        listed = ", ".join(f"#{i}" for i in ids)
        Outbox(session, self.clock).post(
            key=f"incident-alert:{ids[0]}",
            ticket_id=row.id,
            side=Side.STAFF,
            platform=_staff_platform(row),
            message=Outbound(
                kind=OutboundKind.NOTICE,
                ticket_id=row.id,
                text=f"📣 {len(ids)} customers filed similar tickets within "
                f"{rules.window_minutes} minutes ({listed}). This may be an incident: "
                "consider `/support incident start`.",
                broadcast=True,
            ),
        )

    async def _create_from_draft(
        self,
        session: AsyncSession,
        customer: Identity,
        draft: DraftRow,
        valid: _ValidDraft,
        now: datetime,
    ) -> TicketRow:
        row = await self._create(
            session,
            customer,
            valid,
            now,
            source_key=f"draft:{draft.id}",
            offered=list(draft.offered_articles or []) if draft.stage == "self_service" else [],
            duplicate_of=draft.acknowledged_duplicate,
            follows=draft.follows_ticket_id,
            reply_to=Destination.model_validate(draft.reply_to) if draft.reply_to else None,
        )
        draft.ticket_id = row.id
        draft.outcome = "created"
        return row

    async def _valid_from_draft(self, session: AsyncSession, draft: DraftRow) -> _ValidDraft:
        image: CheckedImage | None = None
        data: bytes | None = None
        if draft.attachment_sha:
            blob = await session.get(AttachmentRow, draft.attachment_sha)
            if blob is not None:
                image = CheckedImage(
                    blob.sha256, draft.attachment_name or "image", blob.content_type, blob.size
                )
                data = blob.data
        return _ValidDraft(Category(draft.category), draft.subject, draft.message, image, data)

    async def _save_draft(
        self,
        session: AsyncSession,
        customer: Identity,
        valid: _ValidDraft,
        reply_to: Destination | None,
        now: datetime,
        *,
        stage: str,
        duplicate_of: int | None,
        offered: list[str],
        follows: int | None,
    ) -> DraftRow:
        if valid.image is not None and valid.data is not None:
            await self._put_blob(session, valid.image, valid.data, now)
        row = DraftRow(
            id=str(uuid.uuid4()),
            customer_key=customer.key,
            category=valid.category.value,
            subject=valid.subject,
            message=valid.message,
            attachment_sha=valid.image.sha256 if valid.image else None,
            attachment_name=valid.image.filename if valid.image else None,
            reply_to=reply_to.model_dump(mode="json") if reply_to else None,
            follows_ticket_id=follows,
            stage=stage,
            duplicate_of=duplicate_of,
            acknowledged_duplicate=None,
            offered_articles=offered,
            ticket_id=None,
            outcome=None,
            created_at=now,
            expires_at=now + timedelta(hours=self.config.draft_ttl_hours),
        )
        session.add(row)
        await session.flush()
        return row

    async def _load_draft(
        self, session: AsyncSession, customer: Identity, draft_id: str, *, allow_used: bool = False
    ) -> DraftRow:
        draft = await session.get(DraftRow, draft_id, with_for_update=not self.db.is_sqlite)
        if draft is None or draft.customer_key != customer.key:
            raise DraftExpired()
        if draft.expires_at < self.clock() and draft.ticket_id is None and not allow_used:
            raise DraftExpired()
        return draft

    async def _ticket_by_source(self, session: AsyncSession, key: str) -> TicketRow | None:
        return (await session.scalars(select(TicketRow).where(TicketRow.source_key == key))).first()

    async def _message_by_source(self, session: AsyncSession, key: str) -> MessageRow | None:
        return (
            await session.scalars(select(MessageRow).where(MessageRow.source_key == key))
        ).first()

    async def _get_ticket(
        self, session: AsyncSession, ticket_id: int, *, for_update: bool = False
    ) -> TicketRow:
        ticket = await session.get(
            TicketRow, ticket_id, with_for_update=for_update and not self.db.is_sqlite
        )
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    async def _ticket_for_customer(
        self,
        session: AsyncSession,
        customer: Identity,
        thread: ThreadRef | None,
        ticket_id: int | None,
    ) -> TicketRow:
        """The ticket a customer speaks to: by their thread, or by number. Someone of another
        account never finds it, whatever id they send."""
        ticket: TicketRow | None = None
        if thread is not None:
            found = await session.scalar(
                select(TicketRow.id).where(TicketRow.customer_thread_key == thread_key(thread))
            )
            if found is not None:
                ticket = await self._get_ticket(session, found, for_update=True)
        elif ticket_id is not None:
            ticket = await self._get_ticket(session, ticket_id, for_update=True)
        account = (await self._account(session, customer.platform, customer.workspace)).id
        if ticket is None or ticket.account_id != account:
            raise TicketNotFound(ticket_id if ticket_id is not None else "?")
        return ticket

    async def _ticket_for_staff(
        self, session: AsyncSession, thread: ThreadRef | None, ticket_id: int | None
    ) -> TicketRow:
        if thread is not None:
            ticket = (
                await session.scalars(
                    select(TicketRow).where(TicketRow.staff_thread_key == thread_key(thread))
                )
            ).first()
            if ticket is None:
                raise TicketNotFound("?")
            return await self._get_ticket(session, ticket.id, for_update=True)
        if ticket_id is None:
            raise TicketNotFound("?")
        return await self._get_ticket(session, ticket_id, for_update=True)

    def _created_view(self, row: TicketRow, *, message: str = "", already: bool = False) -> Created:
        return Created(
            ticket=to_summary(row),
            next_steps=guide.WHAT_NEXT[Plan(row.plan)],
            advice=missing_parts(message) if message else [],
            already_existed=already,
        )

    def advice(self, message: str) -> list[str]:
        """The guide's parts of a good ticket that ``message`` seems to lack: advice for the
        form, never a reason to refuse it."""
        return missing_parts(message)

    async def _active_incident_row(self, session: AsyncSession) -> IncidentRow | None:
        return (
            await session.scalars(
                select(IncidentRow)
                .where(IncidentRow.ended_at.is_(None))
                .order_by(IncidentRow.started_at.desc())
            )
        ).first()

    async def _active_incident(self, session: AsyncSession) -> IncidentView | None:
        row = await self._active_incident_row(session)
        if row is None:
            return None
        return IncidentView(row.id, row.text, row.started_at, self.config.links.status_page)

    async def count_tickets(self) -> int:
        async with self.db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(TicketRow)) or 0)


def _staff_platform(ticket: TicketRow) -> Platform:
    return Platform(ticket.staff_destination["platform"])


def _preview(text: str, n: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _details_dict(details: object) -> dict[str, list[str]]:
    fields = ("domains", "mailboxes", "invoice_ids", "smtp_codes", "timestamps")
    return {f: list(getattr(details, f, []) or []) for f in fields}
