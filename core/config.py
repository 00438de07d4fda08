"""The desk's policy as data: routing, accounts and plans, staff, intake channels, links and
limits. Loaded by bot/ from an optional TOML file; every field has the guide's default."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.models import CATEGORY_HINTS, Category, Destination, Plan, Platform
from core.rules.limits import Limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountConfig(_Strict):
    """A customer account (tenant): owns workspaces/guilds and has a plan."""

    id: str
    name: str = ""
    plan: Plan = Plan.STARTER
    white_label: bool = False
    staff_channel: str | None = Field(
        default=None,
        description="White Label Lite: the account's own staff channel, where its customers' "
        "tickets go instead of the provider's",
    )
    workspaces: list[str] = Field(
        default_factory=list, description="platform:workspace_id, e.g. slack:T0123 or discord:8123"
    )

    @field_validator("workspaces")
    @classmethod
    def _workspace_refs(cls, values: list[str]) -> list[str]:
        for value in values:
            platform, _, ws = value.partition(":")
            if platform not in {p.value for p in Platform} or not ws:
                raise ValueError(
                    f"'{value}' is not a workspace reference; "
                    "write slack:TEAM_ID or discord:GUILD_ID"
                )
        return values


class StaffConfig(_Strict):
    """Who speaks for the desk. Adapters check membership; core only sees the verdict."""

    slack_users: list[str] = Field(default_factory=list)
    slack_usergroups: list[str] = Field(default_factory=list)
    discord_users: list[str] = Field(default_factory=list)
    discord_roles: list[str] = Field(default_factory=list)
    console_users: list[str] = Field(default_factory=lambda: ["staff"])


class IntakeConfig(_Strict):
    slack_intake_channels: list[str] = Field(
        default_factory=list,
        description="channels where a ticket's customer thread stays in the channel, not a DM",
    )
    discord_support_channels: dict[str, str] = Field(
        default_factory=dict,
        description="guild id → text channel that holds private ticket threads",
    )


class Links(_Strict):
    help_center: str = "https://help.trekmail.net"
    status_page: str = "https://status.trekmail.net"
    contact: str = "https://trekmail.net/contact"


class BusinessHours(_Strict):
    """When response targets run: business hours in one time zone."""

    timezone: str = "UTC"
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday")
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}' (use a name like Europe/Berlin)"
            ) from None
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if not value or any(d < 0 or d > 6 for d in value):
            raise ValueError("days are numbers 0 (Monday) to 6 (Sunday), at least one")
        return sorted(set(value))

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        return self


class ResponseTarget(_Strict):
    """Business hours until the first staff response, and until each follow-up response."""

    first_response_hours: float = Field(gt=0)
    follow_up_hours: float = Field(gt=0)


def _default_targets() -> dict[Plan, ResponseTarget | None]:
    return {
        Plan.NANO: None,
        Plan.STARTER: ResponseTarget(first_response_hours=8, follow_up_hours=16),
        Plan.PRO: ResponseTarget(first_response_hours=4, follow_up_hours=8),
        Plan.AGENCY: ResponseTarget(first_response_hours=2, follow_up_hours=4),
    }


class AutoClose(_Strict):
    enabled: bool = True
    remind_after_days: float = Field(default=3, gt=0)
    close_after_days: float = Field(default=7, gt=0)

    @model_validator(mode="after")
    def _order(self) -> AutoClose:
        if self.close_after_days <= self.remind_after_days:
            raise ValueError("close_after_days must be later than remind_after_days")
        return self


class OnCall(_Strict):
    """Who is pinged the moment an urgent ticket is filed."""

    slack_usergroup: str | None = None
    discord_role: str | None = None


class IncidentDetection(_Strict):
    """Several customers filing similar tickets within minutes may be an incident."""

    window_minutes: int = Field(default=15, ge=1)
    min_tickets: int = Field(default=3, ge=2)
    status_page_api: str | None = Field(
        default=None,
        description="URL serving the common 'unresolved incidents' JSON, polled for incidents",
    )
    poll_seconds: int = Field(default=60, ge=10)


class RateLimits(_Strict):
    """Per customer, so one flooding user can't bury the queue (counted in the database, so
    the limits hold across processes)."""

    tickets_per_hour: int = Field(default=10, ge=1)
    messages_per_minute: int = Field(default=12, ge=1)


class DeskConfig(_Strict):
    desk_name: str = "TrekMail Support"
    reopen_window_days: int = Field(default=7, ge=0)
    catch_up_days: int = Field(
        default=14,
        ge=0,
        description="on start, the threads of tickets updated this many days back are read for "
        "replies written while Helpline was down (0: none are read)",
    )
    draft_ttl_hours: int = Field(default=24, ge=1)
    default_plan: Plan = Plan.STARTER
    limits: Limits = Field(default_factory=Limits)
    default_channel: str = "console:staff"
    routing: dict[Category, str] = Field(default_factory=dict)
    category_hints: dict[Category, str] = Field(default_factory=dict)
    accounts: list[AccountConfig] = Field(default_factory=list)
    staff: StaffConfig = Field(default_factory=StaffConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    links: Links = Field(default_factory=Links)
    knowledge_base_dir: Path | None = None
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    response_targets: dict[Plan, ResponseTarget | None] = Field(default_factory=_default_targets)
    target_warning_fraction: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="a ticket is flagged as nearing its target when this share of it is left",
    )
    auto_close: AutoClose = Field(default_factory=AutoClose)
    oncall: OnCall = Field(default_factory=OnCall)
    incidents: IncidentDetection = Field(default_factory=IncidentDetection)
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @field_validator("default_channel")
    @classmethod
    def _channel_ref(cls, value: str) -> str:
        Destination.parse(value)
        return value

    @field_validator("routing")
    @classmethod
    def _routes(cls, value: dict[Category, str]) -> dict[Category, str]:
        for ref in value.values():
            Destination.parse(ref)
        return value

    @model_validator(mode="after")
    def _unique_workspaces(self) -> DeskConfig:
        seen: dict[str, str] = {}
        for account in self.accounts:
            for ws in account.workspaces:
                if ws in seen:
                    raise ValueError(f"workspace {ws} belongs to both {seen[ws]} and {account.id}")
                seen[ws] = account.id
        return self

    def target_for(self, plan: Plan) -> ResponseTarget | None:
        if plan in self.response_targets:
            return self.response_targets[plan]
        return _default_targets()[plan]

    def route_for(self, category: Category) -> Destination:
        return Destination.parse(self.routing.get(category, self.default_channel))

    def hint_for(self, category: Category) -> str:
        return self.category_hints.get(category, CATEGORY_HINTS[category])

    def account_for(self, platform: Platform, workspace: str) -> AccountConfig:
        """The account that owns a workspace; an unknown workspace is its own account on the
        default plan, so a new install works before an operator maps it."""
        ref = f"{platform}:{workspace}"
        for account in self.accounts:
            if ref in account.workspaces:
                return account
        return AccountConfig(id=ref, name=workspace, plan=self.default_plan, workspaces=[ref])
