"""Persistent buttons and selects: their custom_id is ``helpline:<action>:<id>`` and carries no
other state, so they keep working after a restart. discord.py rebuilds them from the message
(``DynamicItem``) and this module hands the click to the adapter's ``on_action``.

Actions and their ids: ``continue|create|solved|file:<draft_id>``, ``follow:<ticket_id>``,
``new:0``, ``assign|status|category|close:<ticket_id>``, ``set-status|set-category:<ticket_id>``,
the customer's rating buttons ``rate:<ticket_id>:<closing>:<score>`` and
``rate-comment:<ticket_id>:<closing>``, and Edit and resubmit under a refused form,
``resubmit:<submit interaction id>:<follows ticket_id or 0>`` (an argument may hold several ids,
joined by colons). Forms have ids of their own: ``adapters.discord.formdata``.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

BUTTON_TEMPLATE = r"helpline:(?P<action>(?!set-)[a-z-]+):(?P<arg>[A-Za-z0-9:-]+)"
SELECT_TEMPLATE = r"helpline:(?P<action>set-[a-z]+):(?P<arg>[A-Za-z0-9-]+)"

View = discord.ui.View


@runtime_checkable
class ActionHandler(Protocol):
    async def on_action(
        self, interaction: discord.Interaction[Any], action: str, arg: str, values: list[str]
    ) -> None: ...


@runtime_checkable
class HasHandler(Protocol):
    helpline: ActionHandler


def custom_id(action: str, arg: str | int) -> str:
    return f"helpline:{action}:{arg}"


def _parse(custom: str, template: str) -> tuple[str, str]:
    match = re.fullmatch(template, custom)
    if match is None:
        raise ValueError(f"custom_id {custom!r} is not a Helpline action")
    return match["action"], match["arg"]


async def _dispatch(
    interaction: discord.Interaction[Any], action: str, arg: str, values: list[str]
) -> None:
    client = interaction.client
    if isinstance(client, HasHandler):
        await client.helpline.on_action(interaction, action, arg, values)


class ActionButton(discord.ui.DynamicItem[discord.ui.Button[View]], template=BUTTON_TEMPLATE):
    """A button whose click becomes ``on_action(action, arg)``."""

    def __init__(self, button: discord.ui.Button[View]) -> None:
        super().__init__(button)
        self.action, self.arg = _parse(button.custom_id or "", BUTTON_TEMPLATE)

    @classmethod
    def make(
        cls, label: str, action: str, arg: str | int, style: discord.ButtonStyle, *,
        disabled: bool = False, row: int | None = None,
    ) -> ActionButton:
        return cls(discord.ui.Button(label=label, custom_id=custom_id(action, arg), style=style,
                                     disabled=disabled, row=row))

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py's signature is untyped
        cls, interaction: discord.Interaction[Any], item: discord.ui.Button[View],
        match: re.Match[str], /,
    ) -> ActionButton:
        return cls(item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _dispatch(interaction, self.action, self.arg, [])


class ActionSelect(discord.ui.DynamicItem[discord.ui.Select[View]], template=SELECT_TEMPLATE):
    """A select menu whose choice becomes ``on_action(action, arg, values)``."""

    def __init__(self, select: discord.ui.Select[View]) -> None:
        super().__init__(select)
        self.action, self.arg = _parse(select.custom_id, SELECT_TEMPLATE)

    @classmethod
    def make(
        cls, action: str, arg: str | int, options: list[discord.SelectOption], placeholder: str
    ) -> ActionSelect:
        return cls(discord.ui.Select(custom_id=custom_id(action, arg), options=options,
                                     placeholder=placeholder))

    @classmethod
    async def from_custom_id(  # type: ignore[override]  # discord.py's signature is untyped
        cls, interaction: discord.Interaction[Any], item: discord.ui.Select[View],
        match: re.Match[str], /,
    ) -> ActionSelect:
        return cls(item)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _dispatch(interaction, self.action, self.arg, [str(v) for v in self.item.values])


def view_of(*items: discord.ui.Item[Any]) -> View:
    """A view of persistent items (no timeout: the ids lead back to the database)."""
    view = View(timeout=None)
    for item in items:
        view.add_item(item)
    return view
