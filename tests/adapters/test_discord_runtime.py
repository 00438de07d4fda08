"""The Discord adapter's running parts: command registration from the manifest, intents,
sharding, endpoint overrides, and what a user sees when storage or the thread set-up fails."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import discord
import pytest
from pydantic import ValidationError

from adapters.discord.cli import sync_commands
from adapters.discord.commands import MANIFEST, load_manifest, offline_tree, tree_payload
from adapters.discord.runtime import (
    DiscordAdapter,
    HelplineClient,
    HelplineShardedClient,
    create_discord_adapter,
)
from adapters.discord.settings import DiscordSettings
from bot.bootstrap import build_core
from bot.settings import Settings
from core.config import DeskConfig, IntakeConfig
from core.storage.db import Database
from tests.adapters.discord_harness import GUILD_READY_TIMEOUT, running_world
from tests.fakes.discord_api import CALLBACK_MODAL, MESSAGE_FLAG_EPHEMERAL, running_fake


def test_manifest_matches_the_commands_the_code_registers() -> None:
    assert load_manifest() == json.loads(json.dumps(tree_payload(offline_tree())))


def test_manifest_declares_the_customer_and_staff_commands() -> None:
    by_name = {c["name"]: c for c in load_manifest()}
    support = {o["name"]: o for o in by_name["support"]["options"]}
    assert set(support) == {"new", "list", "center", "help", "transcript", "queue", "escalate",
                            "snippet", "incident"}
    snippet = {o["name"]: o for o in support["snippet"]["options"]}
    assert support["snippet"]["type"] == 2 and set(snippet) == {"add", "list", "send", "delete"}
    assert {o["name"] for o in support["incident"]["options"]} == {"start", "end"}
    send = {o["name"]: o for o in snippet["send"]["options"]}
    assert send["name"]["autocomplete"] is True and send["ticket"]["required"] is False
    queue = {o["name"]: o for o in support["queue"]["options"]}
    assert [c["value"] for c in queue["assignee"]["choices"]] == ["mine", "unassigned"]
    assert len(queue["plan"]["choices"]) == 4
    new = {o["name"]: o for o in support["new"]["options"]}
    assert new["category"]["type"] == 3 and len(new["category"]["choices"]) == 11
    assert new["image"]["type"] == 11 and new["image"]["required"] is False
    assert by_name["File as a ticket"]["type"] == 3
    assert by_name["Internal note"]["type"] == 3


@pytest.mark.parametrize("guild", [None, "the guild"])
async def test_sync_registers_the_manifest_globally_or_for_one_guild(
    guild: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_fake() as fake:
        fake.add_guild()
        guild_id = fake.guild_ids[0] if guild else None
        settings = Settings(_env_file=None, discord_bot_token=fake.token,
                            discord_api_url=fake.rest_url)
        args = argparse.Namespace(guild=guild_id, manifest=MANIFEST)
        assert await sync_commands(args, settings) == 0

        registered = fake.commands(guild_id)
    assert [(c["name"], c["type"]) for c in registered] == [
        (c["name"], c["type"]) for c in load_manifest()]
    assert "Registered 3 command(s)" in capsys.readouterr().out


async def test_sync_without_a_token_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, discord_bot_token=None)
    args = argparse.Namespace(guild=None, manifest=MANIFEST)
    assert await sync_commands(args, settings) == 2
    assert "DISCORD_BOT_TOKEN" in capsys.readouterr().err


def test_shard_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "2, 3")
    shards = DiscordSettings(_env_file=None)
    assert (shards.shard_count, shards.shard_ids, shards.sharded) == (4, [2, 3], True)

    monkeypatch.setenv("DISCORD_SHARD_IDS", "4")
    with pytest.raises(ValidationError, match=r"outside 0\.\.3"):
        DiscordSettings(_env_file=None)
    monkeypatch.delenv("DISCORD_SHARD_COUNT")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "0")
    with pytest.raises(ValidationError, match="needs DISCORD_SHARD_COUNT"):
        DiscordSettings(_env_file=None)


async def test_helpline_run_builds_the_adapter_from_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, discord_bot_token="t",
                        database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db")
    core = await build_core(settings, config=DeskConfig())
    try:
        adapter = create_discord_adapter(core)
        assert isinstance(adapter.client, HelplineClient)
        assert adapter.transport.platform == "discord"
    finally:
        await core.close()


async def test_a_process_runs_the_shards_it_was_given_with_only_the_needed_intents(
    tmp_path: Path,
) -> None:
    async with running_fake() as fake:
        fake.add_guild()
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/h.db")
        await db.upgrade()
        from core.knowledge import load_knowledge_base
        from core.service import SupportDesk

        desk = SupportDesk(db, DeskConfig(), load_knowledge_base())
        adapter = DiscordAdapter(desk, desk.config, fake.token, api_url=fake.rest_url,
                                 gateway_url=fake.gateway_url,
                                 shards=DiscordSettings(shard_count=2, shard_ids=[0, 1]),
                                 pace_identify=False, guild_ready_timeout=GUILD_READY_TIMEOUT)
        assert isinstance(adapter.client, HelplineShardedClient)
        await adapter.start()
        try:
            await fake.wait_ready(shards=2)
        finally:
            await adapter.stop()
            await db.dispose()

    assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
    wanted = discord.Intents(guilds=True, guild_messages=True, message_content=True).value
    assert {i["intents"] for i in fake.identifies} == {wanted}


async def test_a_storage_outage_is_a_clear_try_again_never_a_traceback(tmp_path: Path) -> None:
    async with running_world(tmp_path) as world:
        healthy = world.desk.db
        # Nothing listens on port 1: every transaction fails to connect.
        world.desk.db = Database("postgresql+asyncpg://helpline@127.0.0.1:1/helpline")
        try:
            listing = await world.fake.slash_command("support", subcommand="list")
            answer = await world.fake.wait_response(listing)
            new = await world.fake.slash_command("support", {"category": "Billing"},
                                                 subcommand="new")
            refused = await world.fake.wait_response(new)
        finally:
            await world.desk.db.dispose()
            world.desk.db = healthy

    for message in (answer, refused):
        assert message["flags"] & MESSAGE_FLAG_EPHEMERAL
        assert "try again" in message["content"]
        assert "Traceback" not in message["content"]
    assert CALLBACK_MODAL not in [c.type for c in world.fake.callbacks]


async def test_without_a_support_channel_the_customer_is_told_where_to_follow(
    tmp_path: Path,
) -> None:
    def no_support_channel(config: DeskConfig, ids: dict[str, int]) -> DeskConfig:
        return config.model_copy(update={"intake": IntakeConfig()})

    async with running_world(tmp_path, configure=no_support_channel) as world:
        modal = await world.support_new("Billing")
        _, answer = await world.submit(modal, "Invoice INV-77 is missing",
                                       "The invoice for May is not in the dashboard.")
        staff_thread = await world.staff_thread(1)
        await world.drain()
        # Staff still get the ticket; their answer cannot reach a thread that was never made,
        # and they are told so.
        await world.fake.message_create(int(staff_thread["id"]), "Which account is it?",
                                        author=world.staff)
        warned = await world.wait_in(int(staff_thread["id"]),
                                     lambda s: "could not be delivered" in s.message["content"])

    assert "created" in answer["content"]
    assert "couldn't open a private thread" in answer["content"]
    assert "no support channel is set up" in answer["content"]
    assert "/support list" in answer["content"]
    assert world.fake.threads(world.guild_id) == [staff_thread]
    assert "the customer" in warned[0].message["content"]
