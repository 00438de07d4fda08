"""The application commands: ``/support new|list|center|help|transcript`` for customers;
``/support queue|escalate``, ``/support snippet add|list|send|delete`` and ``/support incident
start|end`` for staff (one ``/support`` command, so the staff's subcommands are visible to
everyone and refused at run time to whoever lacks the staff role); and two message commands,
"File as a ticket" and "Internal note". ``manifest/discord_commands.json`` is this tree's
registration payload (a test keeps them equal); ``helpline discord sync`` registers it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from adapters.discord.handlers import DiscordHandlers
from core.models import Category, Plan

MANIFEST = Path(__file__).resolve().parents[2] / "manifest" / "discord_commands.json"
Interaction = discord.Interaction[Any]

CATEGORY_CHOICES = [app_commands.Choice(name=c.value, value=c.value) for c in Category]
PLAN_CHOICES = [app_commands.Choice(name=p.value, value=p.value) for p in Plan]
ASSIGNEE_CHOICES = [
    app_commands.Choice(name="assigned to me", value="mine"),
    app_commands.Choice(name="unassigned", value="unassigned"),
]


# The Python values an option of each type arrives as (discord.py passes them on unchanged).
OPTION_VALUES: dict[discord.AppCommandOptionType, tuple[type, ...]] = {
    discord.AppCommandOptionType.string: (str,),
    discord.AppCommandOptionType.integer: (int,),
    discord.AppCommandOptionType.boolean: (bool,),
    discord.AppCommandOptionType.number: (int, float),
}
SNOWFLAKE_VALUES = (str, int)


class CheckedTree(app_commands.CommandTree[Any]):
    """The command tree, refusing a slash command whose subcommands or options differ from the
    ones defined here (an outdated registration in Discord, or a forged payload) before any
    handler runs: discord.py hands an option's value on as it came, whatever its type."""

    async def interaction_check(self, interaction: Interaction, /) -> bool:
        data: Any = interaction.data or {}
        if (interaction.type is discord.InteractionType.application_command
                and data.get("type", 1) == 1):
            check_options(self, data)
        return True


def check_options(tree: app_commands.CommandTree[Any], data: dict[str, Any]) -> None:
    """Raise ``CommandNotFound`` or ``CommandSignatureMismatch`` unless the command, its
    subcommand path and every option's name, type and value are this tree's."""
    command = tree.get_command(str(data.get("name")))
    if command is None:
        raise app_commands.CommandNotFound(str(data.get("name")), [])
    options: list[dict[str, Any]] = data.get("options") or []
    while isinstance(command, app_commands.Group):
        sub = next((o for o in options if o.get("type") in (1, 2)), None)
        if sub is None:
            raise app_commands.CommandSignatureMismatch(command)
        found = command.get_command(str(sub.get("name")))
        if found is None:
            raise app_commands.CommandNotFound(str(sub.get("name")),
                                               command.qualified_name.split())
        command, options = found, sub.get("options") or []
    if not isinstance(command, app_commands.Command):
        raise app_commands.CommandSignatureMismatch(command)
    parameters = {p.display_name: p for p in command.parameters}
    for option in options:
        parameter = parameters.get(str(option.get("name")))
        if (parameter is None or option.get("type") != parameter.type.value
                or not _fits(parameter.type, option.get("value"))):
            raise app_commands.CommandSignatureMismatch(command)


def _fits(kind: discord.AppCommandOptionType, value: Any) -> bool:
    """Whether an option's value is what an option of its type arrives as."""
    wanted = OPTION_VALUES.get(kind, SNOWFLAKE_VALUES)
    return isinstance(value, wanted) and (bool in wanted or not isinstance(value, bool))


def build_tree(client: discord.Client, handlers: DiscordHandlers) -> app_commands.CommandTree[Any]:
    tree = CheckedTree(client)

    support = app_commands.Group(
        name="support", description="Get help from the support team", guild_only=True)

    @support.command(name="new", description="File a support ticket")
    @app_commands.describe(
        category="Pick the one that fits best: it routes the ticket to the right team",
        image="Optional screenshot (JPEG, PNG, GIF or WebP, at most 5 MB)",
    )
    @app_commands.choices(category=CATEGORY_CHOICES)
    async def support_new(
        interaction: Interaction, category: app_commands.Choice[str],
        image: discord.Attachment | None = None,
    ) -> None:
        await handlers.support_new(interaction, category.value, image)

    @support.command(name="list", description="Your tickets, most recent first, with status")
    async def support_list(interaction: Interaction) -> None:
        await handlers.support_list(interaction)

    @support.command(name="center", description="The Support Center: your tickets, quick links, "
                                                "status page")
    async def support_center(interaction: Interaction) -> None:
        await handlers.support_center(interaction)

    @support.command(name="help", description="How support works, and what it can and can't do")
    async def support_help(interaction: Interaction) -> None:
        await handlers.support_help(interaction)

    @support.command(name="transcript",
                     description="In your ticket's thread: post the ticket's transcript there")
    async def support_transcript(interaction: Interaction) -> None:
        await handlers.operations.transcript(interaction)

    # ---- staff ----------------------------------------------------------------------------

    ops = handlers.operations

    @support.command(name="queue", description="Staff: open tickets in priority order (urgent, "
                                               "plan, age)")
    @app_commands.describe(category="Only this category", plan="Only this plan",
                           assignee="Only tickets assigned to you, or to nobody")
    @app_commands.choices(category=CATEGORY_CHOICES, plan=PLAN_CHOICES,
                          assignee=ASSIGNEE_CHOICES)
    async def support_queue(
        interaction: Interaction, category: app_commands.Choice[str] | None = None,
        plan: app_commands.Choice[str] | None = None,
        assignee: app_commands.Choice[str] | None = None,
    ) -> None:
        await ops.queue(interaction, category=category.value if category else None,
                        plan=plan.value if plan else None,
                        assignee=assignee.value if assignee else None)

    @support.command(name="escalate", description="Staff, in a ticket's staff thread: hand a "
                                                  "White Label Lite ticket to the provider")
    async def support_escalate(interaction: Interaction) -> None:
        await ops.escalate(interaction)

    snippet = app_commands.Group(name="snippet", description="Staff: canned replies",
                                 parent=support)

    @snippet.command(name="add", description="Save a canned reply (without text: a form for "
                                             "several lines)")
    @app_commands.describe(name="One word: letters, digits, - or _",
                           text="The reply, if one line; {customer}, {ticket}, {agent} are "
                                "filled in")
    async def snippet_add(interaction: Interaction, name: str, text: str | None = None) -> None:
        await ops.snippet_add(interaction, name, text)

    @snippet.command(name="list", description="The saved canned replies")
    async def snippet_list(interaction: Interaction) -> None:
        await ops.snippet_list(interaction)

    @snippet.command(name="send", description="In a ticket's staff thread: send a canned reply "
                                              "to the customer")
    @app_commands.describe(name="The snippet's name",
                           ticket="The ticket number, when not used in its staff thread")
    async def snippet_send(
        interaction: Interaction, name: str, ticket: app_commands.Range[int, 1] | None = None
    ) -> None:
        await ops.snippet_send(interaction, name, ticket)

    @snippet.command(name="delete", description="Delete a canned reply")
    @app_commands.describe(name="The snippet's name")
    async def snippet_delete(interaction: Interaction, name: str) -> None:
        await ops.snippet_delete(interaction, name)

    @snippet_send.autocomplete("name")
    @snippet_delete.autocomplete("name")
    async def snippet_names(
        interaction: Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        return await ops.snippet_choices(interaction, typed)

    incident = app_commands.Group(name="incident", description="Staff: the incident notice "
                                  "customers see before filing", parent=support)

    @incident.command(name="start", description="Tell customers about an ongoing incident")
    @app_commands.describe(text="What is wrong, in a few words (shown to customers)")
    async def incident_start(interaction: Interaction, text: str) -> None:
        await ops.incident_start(interaction, text)

    @incident.command(name="end", description="The incident is over: remove the notice")
    async def incident_end(interaction: Interaction) -> None:
        await ops.incident_end(interaction)

    tree.add_command(support)

    @app_commands.context_menu(name="File as a ticket")
    @app_commands.guild_only()
    async def file_as_ticket(interaction: Interaction, message: discord.Message) -> None:
        await handlers.file_message(interaction, message)

    @app_commands.context_menu(name="Internal note")
    @app_commands.guild_only()
    async def internal_note(interaction: Interaction, message: discord.Message) -> None:
        await handlers.note_command(interaction, message)

    tree.add_command(file_as_ticket)
    tree.add_command(internal_note)

    async def on_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
        await handlers.respond_error(interaction, error)

    tree.on_error = on_error  # type: ignore[method-assign]  # discord.py's documented hook
    return tree


def tree_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """The registration payload of every global command, as ``tree.sync()`` would send it."""
    return [command.to_dict(tree) for command in tree.get_commands()]


def offline_tree() -> app_commands.CommandTree[Any]:
    """The tree without a running bot (for the manifest and its test)."""
    from core.config import DeskConfig

    client = discord.Client(intents=discord.Intents.none())
    # The command callbacks are never called here, so no desk is needed.
    handlers = DiscordHandlers(desk=None, config=DeskConfig())  # type: ignore[arg-type]
    return build_tree(client, handlers)


def load_manifest(path: Path = MANIFEST) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list of commands")
    return data
