"""`helpline discord ...`: register the application commands.

``helpline discord sync`` sends ``manifest/discord_commands.json`` to Discord, globally (every
server the bot is in; Discord may take a while to show changes) or with ``--guild ID`` to one
server (immediate; for trying things out). ``helpline discord manifest`` prints the commands as
the code defines them, to compare with or rewrite the manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import discord

from adapters.discord.commands import MANIFEST, load_manifest, offline_tree, tree_payload
from adapters.discord.runtime import use_endpoints
from bot.settings import Settings


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser("discord", help="Discord tools: register the slash commands")
    actions = parser.add_subparsers(dest="discord_command", required=True, metavar="ACTION")
    sync = actions.add_parser(
        "sync", help="register the commands of manifest/discord_commands.json with Discord")
    sync.add_argument("--guild", type=int, metavar="ID",
                      help="register for this server only (shows at once); default: globally")
    sync.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    sync.set_defaults(handler=sync_commands)
    manifest = actions.add_parser(
        "manifest", help="print the command definitions the code registers (JSON)")
    manifest.add_argument("--write", action="store_true",
                          help="write them to manifest/discord_commands.json")
    manifest.set_defaults(handler=print_manifest)


async def sync_commands(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_bot_token is None:
        print("helpline discord sync: set DISCORD_BOT_TOKEN first.", file=sys.stderr)
        return 2
    payload = load_manifest(args.manifest)
    use_endpoints(settings.discord_api_url, settings.discord_gateway_url)
    client = discord.Client(intents=discord.Intents.none())
    async with client:
        try:
            await client.login(settings.discord_bot_token.get_secret_value())
        except discord.LoginFailure:
            print("helpline discord sync: Discord refused DISCORD_BOT_TOKEN.", file=sys.stderr)
            return 1
        app_id = client.application_id
        assert app_id is not None  # set by login
        try:
            if args.guild:
                registered = await client.http.bulk_upsert_guild_commands(
                    app_id, args.guild, payload)
                where = f"server {args.guild}"
            else:
                registered = await client.http.bulk_upsert_global_commands(app_id, payload)
                where = "every server (global; Discord may take a while to show them)"
        except discord.Forbidden:
            print(f"helpline discord sync: not allowed to register commands in server "
                  f"{args.guild}; invite the bot with the applications.commands scope.",
                  file=sys.stderr)
            return 1
    names = ", ".join(f"/{c['name']}" if c.get("type", 1) == 1 else f"“{c['name']}”"
                      for c in registered)
    print(f"Registered {len(registered)} command(s) for {where}: {names}")
    return 0


async def print_manifest(args: argparse.Namespace, settings: Settings) -> int:
    text = json.dumps(tree_payload(offline_tree()), indent=2, ensure_ascii=False) + "\n"
    if args.write:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(text, encoding="utf-8")
        print(f"Wrote {MANIFEST}")
    else:
        sys.stdout.write(text)
    return 0
