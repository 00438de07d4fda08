"""The application commands: ``/support new|list|center|help`` for customers and two message
commands, "File as a ticket" and "Internal note". ``manifest/discord_commands.json`` is this
tree's registration payload (a test keeps them equal); ``helpline discord sync`` registers it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from adapters.discord.handlers import DiscordHandlers
from core.models import Category

MANIFEST = Path(__file__).resolve().parents[2] / "manifest" / "discord_commands.json"
Interaction = discord.Interaction[Any]

CATEGORY_CHOICES = [app_commands.Choice(name=c.value, value=c.value) for c in Category]


def build_tree(client: discord.Client, handlers: DiscordHandlers) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

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
