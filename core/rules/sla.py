"""Response targets in business hours: when a response is due, and how a ticket stands
against its target. Pure functions of their inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.config import BusinessHours


def add_business_time(start: datetime, hours: float, bh: BusinessHours) -> datetime:
    """The moment ``hours`` of business time have passed after ``start`` (aware, UTC out)."""
    zone = ZoneInfo(bh.timezone)
    remaining = timedelta(hours=hours)
    local = start.astimezone(zone)
    for _ in range(3700):  # ten years of days: ends long before for any sane target
        day_start = local.replace(
            hour=bh.start.hour, minute=bh.start.minute, second=0, microsecond=0
        )
        day_end = local.replace(hour=bh.end.hour, minute=bh.end.minute, second=0, microsecond=0)
        if local.weekday() in bh.days and local < day_end:
            begin = max(local, day_start)
            available = day_end - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        next_day = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        local = next_day.replace(tzinfo=zone)
    raise ValueError("business hours never open")


class TargetState(StrEnum):
    NONE = "none"  # no target (Nano, or nothing awaits staff)
    ON_TRACK = "on track"
    NEARING = "nearing target"
    BREACHED = "target breached"


def target_state(
    due_at: datetime | None, now: datetime, target_hours: float | None, warning_fraction: float
) -> TargetState:
    if due_at is None or target_hours is None:
        return TargetState.NONE
    if now >= due_at:
        return TargetState.BREACHED
    # Measured in wall time left against the target's business length: a simple, conservative
    # reading (a ticket due Monday 09:05 on Friday 16:59 is "nearing").
    if due_at - now <= timedelta(hours=target_hours * warning_fraction):
        return TargetState.NEARING
    return TargetState.ON_TRACK


def warning_time(due_at: datetime, target_hours: float, warning_fraction: float) -> datetime:
    return due_at - timedelta(hours=target_hours * warning_fraction)
