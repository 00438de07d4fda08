"""Reading rows into the domain's views. Shared by the service and the delivery worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from core.clock import utcnow
from core.models import Category, Plan, Status
from core.rules.sla import TargetState
from core.storage.tables import MessageRow, RatingRow, TicketRow
from core.views import TicketCard, TicketSummary


def priority_label(urgent: bool, plan: Plan) -> str:
    if urgent:
        return "Urgent"
    return {
        Plan.AGENCY: "Priority Support",
        Plan.PRO: "Prioritised",
        Plan.STARTER: "Standard",
        Plan.NANO: "Self-service plan (no staff response promised)",
    }[plan]


def target_state(row: TicketRow, now: datetime | None = None) -> TargetState:
    """How the ticket stands against its response target right now."""
    if row.response_due_at is None:
        return TargetState.NONE
    now = now or utcnow()
    if now >= row.response_due_at:
        return TargetState.BREACHED
    if row.target_warn_at is not None and now >= row.target_warn_at:
        return TargetState.NEARING
    return TargetState.ON_TRACK


# The columns a summary reads: lists load only these, not the JSON columns of whole rows.
SUMMARY_COLUMNS = load_only(
    TicketRow.id,
    TicketRow.subject,
    TicketRow.category,
    TicketRow.status,
    TicketRow.urgent,
    TicketRow.plan,
    TicketRow.created_at,
    TicketRow.updated_at,
    TicketRow.assignee,
    TicketRow.customer_name,
    TicketRow.customer_user_id,
    TicketRow.response_due_at,
    TicketRow.target_warn_at,
    raiseload=True,
)


def to_summary(row: TicketRow, now: datetime | None = None) -> TicketSummary:
    return TicketSummary(
        id=row.id,
        subject=row.subject,
        category=Category(row.category),
        status=Status(row.status),
        urgent=row.urgent,
        plan=Plan(row.plan),
        created_at=row.created_at,
        updated_at=row.updated_at,
        assignee=row.assignee,
        customer=row.customer_name or row.customer_user_id,
        response_due_at=row.response_due_at,
        target_state=target_state(row, now).value,
    )


async def load_card(
    session: AsyncSession, ticket_id: int, now: datetime | None = None
) -> TicketCard | None:
    row = await session.get(TicketRow, ticket_id)
    if row is None:
        return None
    count = await session.scalar(
        select(func.count()).select_from(MessageRow).where(MessageRow.ticket_id == ticket_id)
    )
    rating = (
        await session.scalars(
            select(RatingRow).where(RatingRow.ticket_id == ticket_id).order_by(RatingRow.id.desc())
        )
    ).first()
    return to_card(row, int(count or 0), now=now, rating=rating)


def to_card(
    row: TicketRow,
    message_count: int,
    *,
    now: datetime | None = None,
    rating: RatingRow | None = None,
) -> TicketCard:
    plan = Plan(row.plan)
    offered = [str(slug) for slug in (row.offered_articles or [])]
    return TicketCard(
        id=row.id,
        subject=row.subject,
        category=Category(row.category),
        status=Status(row.status),
        plan=plan,
        urgent=row.urgent,
        priority_label=priority_label(row.urgent, plan),
        customer=row.customer_name or row.customer_user_id,
        customer_platform=row.customer_platform,
        workspace=row.customer_workspace,
        account=row.account_id,
        assignee=row.assignee,
        created_at=row.created_at,
        details={k: list(v) for k, v in (row.details or {}).items() if v},
        offered_articles=offered,
        filed_anyway=bool(offered),
        possible_duplicate_of=row.possible_duplicate_of,
        follows_ticket_id=row.follows_ticket_id,
        reopen_count=row.reopen_count,
        message_count=message_count,
        response_due_at=row.response_due_at,
        target_state=target_state(row, now).value,
        rating=rating.score if rating else None,
        rating_comment=rating.comment if rating else "",
        escalated_from=row.escalated_from,
    )
