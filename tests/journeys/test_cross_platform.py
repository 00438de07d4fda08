"""Cross-platform journey: a ticket filed by a customer in Discord, answered by staff working in
Slack, and the conversation carried both ways. One core (one database, one delivery worker)
runs the real Discord adapter against FakeDiscord and the real Slack adapter against FakeSlack,
exactly as `helpline run` wires them; routing sends the Discord ticket's card to Slack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.discord.runtime import DiscordAdapter
from adapters.slack.runtime import SlackAdapter, create_slack_adapter
from bot.bootstrap import Core, build_core
from bot.settings import Settings
from core.config import DeskConfig, IntakeConfig, StaffConfig
from core.models import Identity, Platform, Status
from tests.adapters.discord_harness import GUILD_READY_TIMEOUT, png
from tests.adapters.slack_harness import SIGNING_SECRET, STAFF_CHANNEL, STAFF_USER, all_text
from tests.fakes.discord_api import CALLBACK_MODAL, FakeDiscord
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_requests import SlackRequester, message_event


@dataclass
class Both:
    discord: FakeDiscord
    slack: FakeSlack
    requester: SlackRequester
    core: Core
    support_channel: int


@asynccontextmanager
async def both_platforms(tmp_path: Path) -> AsyncIterator[Both]:
    async with FakeDiscord() as discord_fake, FakeSlack() as slack_fake:
        with discord_fake.patch_client():
            guild = discord_fake.add_guild(channels=[{"name": "general"}, {"name": "support"}])
            support = discord_fake.channel_id("support")
            config = DeskConfig(
                default_channel=f"slack:{STAFF_CHANNEL}",  # staff work in Slack
                staff=StaffConfig(slack_users=[STAFF_USER]),
                intake=IntakeConfig(discord_support_channels={guild["id"]: str(support)}),
            )
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite+aiosqlite:///{tmp_path}/helpline.db",
                slack_bot_token=slack_fake.bot_token, slack_signing_secret=SIGNING_SECRET,
                slack_app_token=None, slack_client_id=None, slack_client_secret=None,
                slack_api_url=slack_fake.api_url,
                discord_bot_token=discord_fake.token, discord_api_url=discord_fake.rest_url,
                discord_gateway_url=discord_fake.gateway_url,
            )
            core = await build_core(settings, config=config)
            slack: SlackAdapter = create_slack_adapter(core)
            assert settings.discord_bot_token is not None
            discord_adapter = DiscordAdapter(
                core.desk, core.config, settings.discord_bot_token.get_secret_value(),
                api_url=settings.discord_api_url, gateway_url=settings.discord_gateway_url,
                pace_identify=False, guild_ready_timeout=GUILD_READY_TIMEOUT)
            http = web.Application()
            await slack.start(http)
            await discord_adapter.start(http)
            server = TestServer(http, host="127.0.0.1")
            await server.start_server()
            worker = core.start_worker({Platform.SLACK: slack.transport,
                                        Platform.DISCORD: discord_adapter.transport})
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop, idle_interval=0.05))
            try:
                async with asyncio.timeout(5):
                    await discord_adapter.wait_until_ready()
                async with SlackRequester(str(server.make_url("/slack/events")), SIGNING_SECRET,
                                          response_url_base=slack_fake.hooks_url,
                                          team_id=slack_fake.team_id) as requester:
                    yield Both(discord_fake, slack_fake, requester, core, support)
            finally:
                stop.set()
                await task
                await discord_adapter.stop()
                await slack.stop()
                await server.close()
                await core.close()


async def test_discord_ticket_answered_in_slack_and_back(tmp_path: Path) -> None:
    async with both_platforms(tmp_path) as world:
        discord, slack = world.discord, world.slack

        # The customer files in Discord.
        command = await discord.slash_command("support", {"category": "Billing"},
                                              subcommand="new")
        modal = await discord.wait_callback(command)
        assert modal.type == CALLBACK_MODAL
        submit = await discord.submit_modal(modal, {
            "subject": "Invoice INV-2231 shows the wrong VAT number",
            "message": "Invoice INV-2231 shows VAT number GB123 but ours is GB456.",
        })
        answer = await discord.wait_response(submit)
        assert "Ticket #1 created" in answer["content"]

        # Its private thread opens in the Discord guild; its card and thread appear in Slack.
        await discord.wait_until(lambda: any(t["name"].startswith("Ticket #1 ")
                                             for t in discord.threads()), "the customer thread")
        thread = next(t for t in discord.threads() if t["name"].startswith("Ticket #1 "))
        card_calls = await slack.wait_for(
            "chat.postMessage", lambda c: c.ok and c.args.get("channel") == STAFF_CHANNEL
            and "thread_ts" not in c.args)
        assert card_calls[0].response is not None
        card_ts = str(card_calls[0].response["ts"])
        assert "#1" in all_text(card_calls[0].args.get("blocks"))
        await slack.wait_for("chat.postMessage", lambda c: c.ok and c.args.get("thread_ts") ==
                             card_ts and "GB456" in all_text(c.args))

        # Staff answer in the Slack card's thread; the answer arrives in the Discord thread.
        said = slack.add_message(STAFF_CHANNEL, "Thanks, we'll reissue it with GB456.",
                                 user=STAFF_USER, thread_ts=card_ts)
        reply = await world.requester.event(message_event(
            said["text"], channel=STAFF_CHANNEL, user=STAFF_USER, ts=said["ts"],
            thread_ts=card_ts))
        assert reply.status == 200
        relayed = await discord.wait_sent(
            lambda s: int(s.message["channel_id"]) == int(thread["id"])
            and "reissue it with GB456" in s.message["content"])
        assert "(support team)" in relayed[0].message["content"]
        assert relayed[0].request["allowed_mentions"] == {"parse": []}
        await slack.wait_for("reactions.add", lambda c: c.args.get("timestamp") == said["ts"])

        # The customer answers in Discord, with a screenshot; it arrives in the Slack thread.
        photo = discord.add_attachment(png(), "new-invoice.png", channel_id=int(thread["id"]))
        back = await discord.message_create(int(thread["id"]), "Great, here is how it looks now.",
                                            attachments=[photo])
        await slack.wait_for("chat.postMessage", lambda c: c.ok and c.args.get("thread_ts") ==
                             card_ts and "how it looks now" in all_text(c.args))
        await discord.wait_until(lambda: any(
            r["emoji"]["name"] == "✅" for r in discord.message(int(back["id"]))["reactions"]),
            "the delivered mark in Discord")
        summary = (await world.core.desk.my_tickets(_customer(world)))[0]
        assert summary.status is Status.OPEN
        detail = await world.core.desk.ticket_detail(1)
        assert [m.kind for m in detail.messages] == ["customer", "staff", "customer"]
        assert detail.messages[-1].attachment is not None


def _customer(world: Both) -> Identity:
    guild_id = world.discord.guild_ids[0]
    return Identity(platform=Platform.DISCORD, workspace=str(guild_id),
                    user_id=world.discord.customer["id"])
