"""Who someone is on Slack: their display name, and whether they speak for the desk.

Staff are the users listed in ``staff.slack_users`` and the members of the user groups in
``staff.slack_usergroups`` (asked with usergroups.users.list and cached briefly, so removing
someone from the group takes effect within ``group_ttl`` seconds). A lookup that fails counts
as "not staff": the safe side for a desk that relays words to customers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from core.config import StaffConfig

log = logging.getLogger("helpline.slack")


class StaffDirectory:
    def __init__(self, staff: StaffConfig, *, group_ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = {u.split(":")[-1] for u in staff.slack_users}
        self.groups = [g.split(":")[-1] for g in staff.slack_usergroups]
        self.group_ttl = group_ttl
        self._clock = clock
        self._members: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    async def is_staff(self, client: AsyncWebClient, team: str, user_id: str) -> bool:
        if user_id in self.users:
            return True
        for group in self.groups:
            if user_id in await self._group_members(client, team, group):
                return True
        return False

    async def _group_members(self, client: AsyncWebClient, team: str, group: str) -> frozenset[str]:
        key = (team, group)
        cached = self._members.get(key)
        now = self._clock()
        if cached is not None and now - cached[0] < self.group_ttl:
            return cached[1]
        try:
            answer = await client.usergroups_users_list(usergroup=group)
            users: list[object] = answer.get("users", []) or []
            members = frozenset(str(u) for u in users)
        except Exception as exc:  # missing scope, unknown group, Slack down: deny, say why
            log.warning("usergroups.users.list %s failed: %s", group, exc)
            return cached[1] if cached is not None else frozenset()
        self._members[key] = (now, members)
        return members


class Names:
    """Display names from users.info, cached; the payload's user name when Slack can't say."""

    def __init__(self, *, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._names: dict[tuple[str, str], tuple[float, str]] = {}

    async def display_name(self, client: AsyncWebClient, team: str, user_id: str,
                           fallback: str = "") -> str:
        key = (team, user_id)
        cached = self._names.get(key)
        now = self._clock()
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            answer = await client.users_info(user=user_id)
            user = answer.get("user") or {}
            profile = user.get("profile") or {}
            name = str(profile.get("display_name") or profile.get("real_name")
                       or user.get("real_name") or user.get("name") or fallback or user_id)
        except Exception as exc:
            log.info("users.info %s failed: %s", user_id, exc)
            return fallback or user_id
        self._names[key] = (now, name)
        return name
