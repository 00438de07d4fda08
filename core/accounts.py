"""Accounts (tenants): which account owns a workspace or guild, its plan and White Label Lite.
An operator sets them with `helpline accounts ...` (stored in the database, shared by every
process) or in the config file; the database wins where both speak."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import AccountConfig, DeskConfig
from core.errors import HelplineError
from core.models import Destination, Plan, Platform
from core.storage.tables import AccountRow, WorkspaceRow


def workspace_ref(platform: Platform | str, workspace: str) -> str:
    return f"{platform}:{workspace}"


async def resolve(
    session: AsyncSession, config: DeskConfig, platform: Platform, workspace: str
) -> AccountConfig:
    ref = workspace_ref(platform, workspace)
    mapped = await session.get(WorkspaceRow, ref)
    if mapped is not None:
        row = await session.get(AccountRow, mapped.account_id)
        if row is not None:
            return _to_config(row, [ref])
    return config.account_for(platform, workspace)


async def by_id(session: AsyncSession, config: DeskConfig, account_id: str) -> AccountConfig | None:
    row = await session.get(AccountRow, account_id)
    if row is not None:
        refs = (
            await session.scalars(
                select(WorkspaceRow.workspace).where(WorkspaceRow.account_id == row.id)
            )
        ).all()
        return _to_config(row, list(refs))
    return next((a for a in config.accounts if a.id == account_id), None)


def _to_config(row: AccountRow, workspaces: list[str]) -> AccountConfig:
    return AccountConfig(
        id=row.id,
        name=row.name,
        plan=Plan(row.plan),
        white_label=row.white_label,
        staff_channel=row.staff_channel,
        workspaces=workspaces,
    )


async def list_all(session: AsyncSession, config: DeskConfig) -> list[AccountConfig]:
    """Accounts from the database, then those only in the config file."""
    rows = (await session.scalars(select(AccountRow).order_by(AccountRow.id))).all()
    result: list[AccountConfig] = []
    for row in rows:
        refs = (
            await session.scalars(
                select(WorkspaceRow.workspace).where(WorkspaceRow.account_id == row.id)
            )
        ).all()
        result.append(_to_config(row, sorted(refs)))
    known = {a.id for a in result}
    result.extend(a for a in config.accounts if a.id not in known)
    return result


async def upsert(
    session: AsyncSession,
    config: DeskConfig,
    account_id: str,
    now: datetime,
    *,
    name: str | None = None,
    plan: Plan | None = None,
    white_label: bool | None = None,
    staff_channel: str | None = None,
) -> AccountConfig:
    if not account_id.strip():
        raise HelplineError("An account needs an id.")
    if staff_channel:
        try:
            Destination.parse(staff_channel)
        except ValueError as exc:
            raise HelplineError(str(exc)) from None
    row = await session.get(AccountRow, account_id)
    if row is None:
        base = next((a for a in config.accounts if a.id == account_id), None)
        row = AccountRow(
            id=account_id,
            name=base.name if base else "",
            plan=(base.plan if base else config.default_plan).value,
            white_label=base.white_label if base else False,
            staff_channel=base.staff_channel if base else None,
            updated_at=now,
        )
        session.add(row)
        if base:
            for ref in base.workspaces:
                if await session.get(WorkspaceRow, ref) is None:
                    session.add(WorkspaceRow(workspace=ref, account_id=account_id))
    if name is not None:
        row.name = name
    if plan is not None:
        row.plan = plan.value
    if white_label is not None:
        row.white_label = white_label
    if staff_channel is not None:
        row.staff_channel = staff_channel or None
    row.updated_at = now
    await session.flush()
    found = await by_id(session, config, account_id)
    assert found is not None
    return found


async def map_workspace(
    session: AsyncSession, config: DeskConfig, ref: str, account_id: str, now: datetime
) -> None:
    platform, _, ws = ref.partition(":")
    if platform not in {p.value for p in Platform} or not ws:
        raise HelplineError(f"'{ref}' is not a workspace; write slack:TEAM_ID or discord:GUILD_ID")
    if await session.get(AccountRow, account_id) is None:
        await upsert(session, config, account_id, now)
    existing = await session.get(WorkspaceRow, ref)
    if existing is None:
        session.add(WorkspaceRow(workspace=ref, account_id=account_id))
    else:
        existing.account_id = account_id


async def unmap_workspace(session: AsyncSession, ref: str) -> bool:
    result = await session.execute(delete(WorkspaceRow).where(WorkspaceRow.workspace == ref))
    return bool(getattr(result, "rowcount", 0))
