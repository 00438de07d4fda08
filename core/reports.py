"""The desk's report: first-response and resolution times (median, 90th percentile),
satisfaction, and volume by plan and category."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import RatingRow, TicketRow


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Group:
    tickets: int = 0
    open: int = 0
    first_response_hours: list[float] = field(default_factory=list)
    resolution_hours: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "tickets": self.tickets,
            "open": self.open,
            "first_response_median_h": _round(percentile(self.first_response_hours, 50)),
            "first_response_p90_h": _round(percentile(self.first_response_hours, 90)),
            "resolution_median_h": _round(percentile(self.resolution_hours, 50)),
            "resolution_p90_h": _round(percentile(self.resolution_hours, 90)),
            "satisfaction_avg": _round(sum(self.ratings) / len(self.ratings))
            if self.ratings
            else None,
            "ratings": len(self.ratings),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class DeskReport:
    since: datetime | None
    total: Group
    by_plan: dict[str, Group]
    by_category: dict[str, Group]

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "total": self.total.summary(),
            "by_plan": {k: g.summary() for k, g in sorted(self.by_plan.items())},
            "by_category": {k: g.summary() for k, g in sorted(self.by_category.items())},
        }


async def build_report(session: AsyncSession, since: datetime | None) -> DeskReport:
    query = select(
        TicketRow.id,
        TicketRow.plan,
        TicketRow.category,
        TicketRow.status,
        TicketRow.created_at,
        TicketRow.first_response_at,
        TicketRow.closed_at,
    )
    if since is not None:
        query = query.where(TicketRow.created_at >= since)
    rows = (await session.execute(query)).all()
    ratings: dict[int, list[int]] = {}
    rating_query = select(RatingRow.ticket_id, RatingRow.score)
    for tid, score in (await session.execute(rating_query)).all():
        ratings.setdefault(tid, []).append(score)
    report = DeskReport(since, Group(), {}, {})
    for row in rows:
        groups = [
            report.total,
            report.by_plan.setdefault(row.plan, Group()),
            report.by_category.setdefault(row.category, Group()),
        ]
        for g in groups:
            g.tickets += 1
            if row.status != "Closed":
                g.open += 1
            if row.first_response_at is not None:
                g.first_response_hours.append(
                    (row.first_response_at - row.created_at).total_seconds() / 3600
                )
            if row.closed_at is not None:
                g.resolution_hours.append((row.closed_at - row.created_at).total_seconds() / 3600)
            g.ratings.extend(ratings.get(row.id, []))
    return report
