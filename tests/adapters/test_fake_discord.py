"""The Discord fake works with the real discord.py client.

These tests drive a real `discord.Client` (and an `AutoShardedClient`) over HTTP and WebSocket
against `tests.fakes.discord_api.FakeDiscord`, through every flow the Discord adapter's
end-to-end tests depend on: login, command registration, `/support new` → modal → submit with
Label/TextInput/FileUpload, buttons, private threads, messages with files, edits, reactions,
rate limits and other faults, and gateway resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord_api import (
    CALLBACK_MODAL,
    CALLBACK_UPDATE_MESSAGE,
    CHANNEL_PRIVATE_THREAD,
    COMPONENT_FILE_UPLOAD,
    COMPONENT_LABEL,
    COMPONENT_TEXT_INPUT,
    FakeDiscord,
    running_fake,
)

# on_ready fires this long after the last GUILD_CREATE (discord.py's default is 2 s).
GUILD_READY_TIMEOUT = 0.05
CATEGORIES = [
    app_commands.Choice(name="Billing", value="billing"),
    app_commands.Choice(name="Bug report", value="bug"),
]


@dataclass
class Submission:
    """What the modal's on_submit handler received."""

    category: str
    subject: str
    details: str
    uploads: list[bytes]
    command_attachment: bytes | None


class TicketModal(discord.ui.Modal, title="New support ticket"):
    """The intake form: two text inputs and a file upload, each inside a Label."""

    def __init__(
        self,
        category: str,
        screenshot: discord.Attachment | None,
        results: asyncio.Queue[Submission],
    ) -> None:
        super().__init__(custom_id="ticket-modal")
        self.category = category
        self.screenshot = screenshot
        self.results = results
        self.subject: discord.ui.TextInput[TicketModal] = discord.ui.TextInput(
            custom_id="subject", max_length=100
        )
        self.details: discord.ui.TextInput[TicketModal] = discord.ui.TextInput(
            custom_id="details", style=discord.TextStyle.long, max_length=4000
        )
        self.files: discord.ui.FileUpload[TicketModal] = discord.ui.FileUpload(
            custom_id="files", required=False, max_values=3
        )
        self.add_item(discord.ui.Label(text="Subject", component=self.subject))
        self.add_item(discord.ui.Label(text="What happened?", component=self.details))
        self.add_item(discord.ui.Label(text="Screenshots", component=self.files))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "Ticket filed.", ephemeral=True, view=TicketActions()
        )
        self.results.put_nowait(
            Submission(
                category=self.category,
                subject=self.subject.value,
                details=self.details.value,
                uploads=[await attachment.read() for attachment in self.files.values],
                command_attachment=await self.screenshot.read() if self.screenshot else None,
            )
        )


class TicketActions(discord.ui.View):
    """Buttons under the confirmation; "Close" edits the message in place."""

    @discord.ui.button(label="Close ticket", custom_id="ticket-close")
    async def close(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="Ticket closed.", view=None)


class SupportBot(discord.Client):
    """A minimal bot with the `/support new` command and an on_message that queues messages."""

    def __init__(self, *, message_content: bool = True, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(intents=intents, guild_ready_timeout=GUILD_READY_TIMEOUT, **options)
        self.tree = app_commands.CommandTree(self)
        self.received: asyncio.Queue[discord.Message] = asyncio.Queue()
        self.submissions: asyncio.Queue[Submission] = asyncio.Queue()
        self.tree.add_command(self._support_group())

    def _support_group(self) -> app_commands.Group:
        support = app_commands.Group(name="support", description="Talk to the support team")
        submissions = self.submissions

        @support.command(name="new", description="Open a support ticket")
        @app_commands.choices(category=CATEGORIES)
        async def new(
            interaction: discord.Interaction,
            category: app_commands.Choice[str],
            screenshot: discord.Attachment | None = None,
        ) -> None:
            await interaction.response.send_modal(
                TicketModal(category.value, screenshot, submissions)
            )

        return support

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every identify but the first; the fake needs no pacing."""

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.received.put_nowait(message)


@contextlib.asynccontextmanager
async def connected(client: discord.Client, fake: FakeDiscord) -> AsyncIterator[float]:
    """Log `client` in against the fake, run it until the block ends, then shut it down cleanly.

    Yields the seconds from login to on_ready.
    """
    async with client:
        started = time.monotonic()
        await client.login(fake.token)
        runner = asyncio.create_task(client.connect())
        try:
            async with asyncio.timeout(5):
                await client.wait_until_ready()
            yield time.monotonic() - started
        finally:
            await client.close()
            await runner


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running_fake() as fake:
        fake.add_guild(channels=[{"name": "general"}, {"name": "support"}])
        yield fake


async def test_client_logs_in_identifies_and_is_ready_quickly(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake) as login_seconds:
        assert [c.path for c in fake.calls("GET")][:2] == ["/users/@me", "/oauth2/applications/@me"]
        identify = fake.identifies[0]
        assert identify["intents"] & discord.Intents(message_content=True).value
        assert "shard" not in identify
        guild = client.guilds[0]
        assert guild.get_channel(fake.channel_id("support")) is not None
        assert guild.me is not None
        assert client.application_id == fake.application_id
    assert login_seconds < 1.0, f"login took {login_seconds:.2f}s"


async def test_command_registration_is_recorded_and_echoed(fake: FakeDiscord) -> None:
    client = SupportBot()
    guild_id = fake.guild_ids[0]
    async with connected(client, fake):
        synced = await client.tree.sync()
        client.tree.copy_global_to(guild=discord.Object(guild_id))
        synced_guild = await client.tree.sync(guild=discord.Object(guild_id))

    assert [c.name for c in synced] == ["support"]
    assert synced[0].id == int(fake.commands()[0]["id"])
    (put_global,) = fake.calls("PUT", f"/applications/{fake.application_id}/commands")
    support = put_global.json[0]
    assert support["options"][0]["name"] == "new"
    options = {o["name"]: o for o in support["options"][0]["options"]}
    assert options["category"]["choices"][0] == {"name": "Billing", "value": "billing"}
    assert options["screenshot"]["type"] == 11 and options["screenshot"]["required"] is False
    assert [c.guild_id for c in synced_guild] == [guild_id]
    assert fake.commands(guild_id)[0]["guild_id"] == str(guild_id)


async def test_support_new_opens_modal_and_submit_reaches_handler(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        screenshot = fake.add_attachment(b"\x89PNG command", "command.png", ephemeral=True)
        command = await fake.slash_command(
            "support", {"category": "bug", "screenshot": screenshot}, subcommand="new"
        )

        modal = await fake.wait_callback(command)
        assert modal.type == CALLBACK_MODAL
        assert modal.data["title"] == "New support ticket"
        labels = modal.data["components"]
        assert [c["type"] for c in labels] == [COMPONENT_LABEL] * 3
        assert [c["component"]["type"] for c in labels] == [
            COMPONENT_TEXT_INPUT,
            COMPONENT_TEXT_INPUT,
            COMPONENT_FILE_UPLOAD,
        ]

        upload = fake.add_attachment(b"\x89PNG modal", "modal.png", ephemeral=True)
        submit = await fake.submit_modal(
            modal,
            {"subject": "Cannot log in", "details": "x" * 4000, "files": [upload]},
        )
        async with asyncio.timeout(5):
            submission = await client.submissions.get()
        confirmation = await fake.wait_callback(submit)

    assert submission == Submission(
        category="bug",
        subject="Cannot log in",
        details="x" * 4000,
        uploads=[b"\x89PNG modal"],
        command_attachment=b"\x89PNG command",
    )
    assert confirmation.data["flags"] & discord.MessageFlags(ephemeral=True).value
    assert confirmation.data["components"][0]["components"][0]["custom_id"] == "ticket-close"


async def test_button_click_updates_the_message_in_place(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        channel = client.get_channel(fake.channel_id("support"))
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("Your ticket", view=TicketActions())

        click = await fake.component("ticket-close", fake.message(sent.id))
        callback = await fake.wait_callback(click)

    assert callback.type == CALLBACK_UPDATE_MESSAGE
    assert fake.message(sent.id)["content"] == "Ticket closed."
    assert fake.message(sent.id)["components"] == []


async def test_deferred_response_is_completed_by_the_first_followup(fake: FakeDiscord) -> None:
    client = SupportBot()

    @client.tree.command(name="status", description="Ticket status")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("All good", ephemeral=True)

    async with connected(client, fake):
        interaction = await fake.slash_command("status")
        await fake.wait_for(f"/webhooks/{fake.application_id}/")

    (response,) = fake.sent_messages()
    assert response.message["content"] == "All good"
    assert response.message["flags"] == discord.MessageFlags(ephemeral=True).value
    assert interaction.original_message_id == response.id


async def test_message_context_command_receives_the_target_message(fake: FakeDiscord) -> None:
    client = SupportBot()
    quoted: asyncio.Queue[str] = asyncio.Queue()

    @client.tree.context_menu(name="Open ticket")
    async def open_ticket(interaction: discord.Interaction, message: discord.Message) -> None:
        quoted.put_nowait(message.content)
        await interaction.response.send_message("Ticket opened", ephemeral=True)

    async with connected(client, fake):
        target = await fake.message_create(fake.channel_id("general"), "my order is missing")
        interaction = await fake.message_context("Open ticket", target)
        callback = await fake.wait_callback(interaction)
        async with asyncio.timeout(5):
            assert await quoted.get() == "my order is missing"
    assert callback.data["content"] == "Ticket opened"


async def test_private_thread_with_customer_and_bot_messages(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        channel = client.get_channel(fake.channel_id("support"))
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(
            name="ticket-1", type=discord.ChannelType.private_thread, invitable=False
        )
        await thread.add_user(discord.Object(int(fake.customer["id"])))
        message = await thread.send(
            "Hi <@{}> @everyone".format(fake.customer["id"]),
            allowed_mentions=discord.AllowedMentions.none(),
            file=discord.File(io.BytesIO(b"log line"), filename="log.txt"),
        )
        await message.edit(content="Hi again")
        await message.add_reaction("✅")

    (stored_thread,) = fake.threads()
    assert stored_thread["type"] == CHANNEL_PRIVATE_THREAD
    assert stored_thread["parent_id"] == str(channel.id)
    assert stored_thread["thread_metadata"]["invitable"] is False
    assert fake.thread_members(thread.id) == {fake.application_id, int(fake.customer["id"])}

    (sent,) = fake.sent_messages(thread.id)
    assert sent.request["allowed_mentions"] == {"parse": []}
    assert sent.message["mention_everyone"] is False and sent.message["mentions"] == []
    assert [(f.filename, f.data) for f in sent.files] == [("log.txt", b"log line")]
    assert fake.cdn_bytes(sent.message["attachments"][0]["url"]) == b"log line"
    assert sent.edits[0]["content"] == "Hi again"
    assert sent.message["content"] == "Hi again" and sent.message["edited_timestamp"]
    assert sent.message["reactions"][0]["emoji"]["name"] == "✅"


async def test_customer_message_in_thread_reaches_on_message(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        channel = client.get_channel(fake.channel_id("support"))
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(name="ticket-2")
        photo = fake.add_attachment(b"photo bytes", "photo.jpg", channel_id=thread.id)

        await fake.message_create(thread.id, "here is a photo", attachments=[photo])
        async with asyncio.timeout(5):
            received = await client.received.get()
        photo_bytes = await received.attachments[0].read()

    assert isinstance(received.channel, discord.Thread)
    assert received.channel.id == thread.id
    assert received.content == "here is a photo"
    assert received.author.id == int(fake.customer["id"])
    assert photo_bytes == b"photo bytes"
    assert fake.calls("GET", "/cdn/attachments/")


async def test_message_content_is_empty_without_the_intent(fake: FakeDiscord) -> None:
    client = SupportBot(message_content=False)
    async with connected(client, fake):
        await fake.message_create(fake.channel_id("support"), "secret words")
        async with asyncio.timeout(5):
            received = await client.received.get()
    assert received.content == ""


async def test_rate_limited_message_is_retried_and_arrives_once(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        channel = client.get_channel(fake.channel_id("support"))
        assert isinstance(channel, discord.TextChannel)
        fault = fake.fail_next("POST", f"/channels/{channel.id}/messages", retry_after=0.1)
        started = time.monotonic()
        await channel.send("after the limit")
        waited = time.monotonic() - started

    attempts = fake.calls("POST", f"/channels/{channel.id}/messages")
    assert [c.status for c in attempts] == [429, 200]
    assert fault.hits == 1
    assert [s.message["content"] for s in fake.sent_messages(channel.id)] == ["after the limit"]
    assert waited >= 0.1


async def test_other_faults_reach_the_caller(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        channel = client.get_channel(fake.channel_id("support"))
        assert isinstance(channel, discord.TextChannel)

        fake.fail_next("POST", "/messages", status=503)
        with pytest.raises(discord.DiscordServerError):
            await channel.send("unavailable")

        fake.fail_next("POST", "/messages", status=502)
        await channel.send("retried after 1 s")  # discord.py retries 500/502/504/524

        fake.drop_next("POST", "/messages")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await channel.send("dropped")

        hang = fake.hang_next("POST", "/messages")
        pending = asyncio.create_task(channel.send("slow"))
        await fake.wait_for("/messages", answered=False, count=5)
        assert not pending.done()
        hang.release()
        async with asyncio.timeout(5):
            await pending

    assert [c.status for c in fake.calls("POST", "/messages")] == [503, 502, 200, None, 200]
    assert [s.message["content"] for s in fake.sent_messages()] == ["retried after 1 s", "slow"]


async def test_gateway_resume_replays_events_sent_while_disconnected(fake: FakeDiscord) -> None:
    client = SupportBot()
    async with connected(client, fake):
        await fake.drop_gateway()
        await fake.message_create(fake.channel_id("support"), "sent while away")
        (resume,) = await fake.wait_gateway_op(6)
        async with asyncio.timeout(5):
            received = await client.received.get()
        session_id = client.ws.session_id

    assert received.content == "sent while away"
    assert resume["d"]["session_id"] == session_id
    assert fake.gateway_connections == ["/gateway", "/gateway-resume"]
    assert len(fake.identifies) == 1


async def test_auto_sharded_client_identifies_each_shard(fake: FakeDiscord) -> None:
    class ShardedBot(discord.AutoShardedClient):
        async def before_identify_hook(
            self, shard_id: int | None, *, initial: bool = False
        ) -> None:
            """Skip discord.py's 5 s pause between shard identifies."""

    client = ShardedBot(
        shard_count=2,
        intents=discord.Intents.default(),
        guild_ready_timeout=GUILD_READY_TIMEOUT,
    )
    async with connected(client, fake):
        assert len(client.guilds) == 1
        assert sorted(client.shards) == [0, 1]

    assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
    assert not fake.calls(path_contains="/gateway/bot")
