"""The desk's policy as data: routing, accounts and plans, staff, intake channels, links and
limits. Loaded by bot/ from an optional TOML file; every field has the guide's default."""

from __future__ import annotations

from pathlib import Path

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


class DeskConfig(_Strict):
    desk_name: str = "TrekMail Support"
    reopen_window_days: int = Field(default=7, ge=0)
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
