"""What Helpline does with each Discord interaction and thread message: translate it into one
``SupportDesk`` call and render the result. No database access and no business rule here;
errors become an ephemeral message (or a reply in the thread), never a traceback.

Interaction responses (modals, ephemeral messages) are sent directly, since Discord wants them
within three seconds; everything that reaches a ticket's threads goes through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from adapters.discord import embeds, notes
from adapters.discord.formdata import (
    HeldImage,
    NoteFormId,
    SnippetFormId,
    SubmittedFields,
    TicketFormId,
    parse_form_id,
)
from adapters.discord.forms import (
    FormValues,
    Kept,
    NoteForm,
    TicketForm,
    rating_score,
    send_form,
    snippet_text,
    ticket_values,
)
from adapters.discord.operations import DeskOperations
from adapters.discord.text import clip, no_mentions
from adapters.discord.transport import REACTIONS, message_ref, thread_ref
from core.config import DeskConfig
from core.errors import HelplineError, StorageUnavailable
from core.models import (
    Actor,
    AttachmentIn,
    Category,
    Destination,
    Identity,
    MessageRef,
    Platform,
    Status,
    ThreadRef,
    TicketDraft,
)
from core.outbound import Reaction
from core.outbox import Side
from core.service import SupportDesk
from core.views import (
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    Rejected,
    ReplyAccepted,
    ReplyRefused,
    ReplyResult,
    SelfServiceOffer,
    SubmitResult,
)

log = logging.getLogger("helpline.discord")

Interaction = discord.Interaction[Any]
# Never download more than this, whatever the desk's own (smaller) image limit is: a bigger file
# is refused without fetching it.
DOWNLOAD_CAP = 25 * 1024 * 1024
UNEXPECTED = ("Something went wrong on our side and nothing was saved. Please try again in a "
              "minute.")
STAFF_ONLY = "Only the support team can do that."
STALE_BUTTON = "This button is no longer in use."
TWO_IMAGES = ("You attached two images; the one from the form was used. Send the other as a "
              "reply in your ticket's thread.")
IMAGE_NOT_KEPT = ("⚠️ The image you chose was not kept (Helpline restarted, or the form stayed "
                  "open over an hour) — attach it as a reply in your ticket thread.")
NOT_A_CHOICE = "That is not one of the choices offered, so nothing was changed."
UNKNOWN_COMMAND = ("That command doesn't match the ones Helpline offers (Discord may be showing an "
                   "outdated version of it), so nothing was done. Pick it again from the / menu, "
                   "or see `/support help`.")
# How many numbers each button's argument holds (see adapters.discord.components).
BUTTON_NUMBERS = {
    embeds.NEW_FOLLOWING: 1, embeds.CARD_ASSIGN: 1, embeds.CARD_STATUS: 1,
    embeds.CARD_CATEGORY: 1, embeds.CARD_CLOSE: 1, embeds.SET_STATUS: 1, embeds.SET_CATEGORY: 1,
    embeds.RATE: 3, embeds.RATE_COMMENT: 2,
}
# Ticket ids and the like fit a signed 64-bit column: at most 18 digits are taken.
_NUMBER = re.compile(r"[0-9]{1,18}")
# Edit and resubmit: the refused submit's interaction id (a snowflake) and the ticket it follows.
_RESUBMIT = re.compile(r"(?P<key>[0-9]{1,20}):(?P<follows>[0-9]{1,18})")
# Pauses before looking a bot-made thread up again (see _ticket_of_thread).
LOOKUP_RETRIES = (0.1, 0.25, 0.5, 1.0, 2.0)
THREAD_TYPES = (discord.ChannelType.private_thread, discord.ChannelType.public_thread)


class AttachmentProblem(Exception):
    """An attachment could not be fetched from Discord; the message is for the user."""


class Downloadable(Protocol):
    """A file on Discord's CDN: an attachment of a message or a command, or a form's upload."""

    @property
    def filename(self) -> str: ...

    @property
    def size(self) -> int: ...

    async def read(self) -> bytes: ...


@dataclass(frozen=True)
class ThreadCheck:
    channel_id: str | None
    problem: str | None


class DiscordHandlers:
    """The adapter's behaviour, shared by the command tree, the modals, the persistent buttons
    and the gateway's message events."""

    def __init__(self, desk: SupportDesk, config: DeskConfig) -> None:
        self.desk = desk
        self.config = config
        self.client: discord.Client | None = None
        # Ids of staff-thread messages kept internal, so a reply to one stays internal too.
        self._internal: OrderedDict[int, None] = OrderedDict()
        # Ids of thread messages taken up by this process: one that arrives live while the
        # catch-up reads it back too (or is replayed on a resume) is handled once.
        self._taken: OrderedDict[int, None] = OrderedDict()
        # The queue, snippets, incidents, escalation, transcripts and ratings.
        self.operations = DeskOperations(self)
        # What new-ticket forms need beyond their custom_id: the image a form was opened with
        # (by the id of the interaction that opened it), and what a refused form held (by the
        # id of its submit) for Edit and resubmit.
        self.held_images: Kept[discord.Attachment | AttachmentIn] = Kept()
        self.refused_forms: Kept[FormValues] = Kept()

    # ---- who is who -----------------------------------------------------------------------

    def identity(self, guild_id: int | None, user: discord.abc.User) -> Identity:
        return Identity(platform=Platform.DISCORD, workspace=str(guild_id or ""),
                        user_id=str(user.id), name=user.display_name)

    def is_staff(self, user: discord.abc.User) -> bool:
        """A listed user, or a member holding a listed role. A role listed by its id (digits)
        matches that role's id only, never a role's name: anyone may name a role in their own
        server after the staff role's id."""
        staff = self.config.staff
        if str(user.id) in staff.discord_users:
            return True
        roles = getattr(user, "roles", None) or []
        wanted = {r.strip().lower() for r in staff.discord_roles}
        ids = {w for w in wanted if w.isdigit()}
        names = wanted - ids
        return any(str(r.id) in ids or r.name.lower() in names for r in roles)

    def actor(self, guild_id: int | None, user: discord.abc.User) -> Actor:
        return Actor(identity=self.identity(guild_id, user), is_staff=self.is_staff(user))

    def support_channel(self, guild: discord.Guild | None, guild_id: int | None) -> ThreadCheck:
        """The guild's support channel for private ticket threads, and why a thread could not be
        made there (checked before filing, so the customer is told at once)."""
        channel_id = self.config.intake.discord_support_channels.get(str(guild_id or ""))
        if not channel_id:
            return ThreadCheck(None, "no support channel is set up for this server yet")
        if guild is None:
            return ThreadCheck(channel_id, None)  # not cached: the outbox will find out
        channel = guild.get_channel(int(channel_id))
        if not isinstance(channel, discord.TextChannel):
            return ThreadCheck(channel_id, f"the support channel (<#{channel_id}>) no longer "
                                           "exists or is not a text channel")
        me = guild.me
        if me is not None:
            perms = channel.permissions_for(me)
            missing = [name for name, ok in (
                ("View Channel", perms.view_channel),
                ("Create Private Threads", perms.create_private_threads),
                ("Send Messages in Threads", perms.send_messages_in_threads),
            ) if not ok]
            if missing:
                return ThreadCheck(channel_id, f"the bot lacks {', '.join(missing)} in "
                                               f"<#{channel_id}>")
        return ThreadCheck(channel_id, None)

    # ---- errors ---------------------------------------------------------------------------------

    async def respond_error(self, interaction: Interaction, error: Exception) -> None:
        """Any failure while handling an interaction, as an ephemeral message."""
        error = getattr(error, "original", error)  # app_commands wrap the callback's exception
        if isinstance(error, HelplineError):
            text = str(error)
        elif isinstance(error, AttachmentProblem):
            text = str(error)
        elif (isinstance(error, app_commands.AppCommandError)
              and not isinstance(error, app_commands.CommandInvokeError)):
            log.warning("refused a command unlike its definition: %s", error)
            text = UNKNOWN_COMMAND
        else:
            log.error("interaction failed", exc_info=error)
            text = UNEXPECTED
        await self.ephemeral(interaction, text)

    async def ephemeral(self, interaction: Interaction, text: str, **extra: Any) -> None:
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True,
                                                allowed_mentions=no_mentions(), **extra)
            else:
                await interaction.response.send_message(text, ephemeral=True,
                                                        allowed_mentions=no_mentions(), **extra)
        except discord.HTTPException:
            log.warning("could not answer interaction %s", interaction.id, exc_info=True)

    # ---- customer: commands ---------------------------------------------------------------------

    async def open_form(
        self, interaction: Interaction, *, category: Category | None,
        image: discord.Attachment | None = None, prefill: FormValues | None = None,
    ) -> None:
        """Open the new-ticket form. A modal must be Discord's first answer, so only the cheap
        ``intake_form`` runs before it. An image given before the form (with the command, or
        kept from a refused try) is held in memory for the form's submit."""
        customer = self.identity(interaction.guild_id, interaction.user)
        prefill = prefill or FormValues()
        form = await self.desk.intake_form(
            customer, prefill_subject=prefill.subject, prefill_message=prefill.message,
            follows_ticket_id=prefill.follows)
        held: discord.Attachment | AttachmentIn | None
        if image is not None:
            held, kind = image, HeldImage.COMMAND
        elif prefill.image is not None:
            held, kind = prefill.image, HeldImage.EARLIER
        else:
            held, kind = None, HeldImage.NONE
        form_id = TicketFormId(interaction.id, category, prefill.follows, kind)
        if held is not None:
            self.held_images.put(str(interaction.id), interaction.user.id, held)
        await send_form(interaction, TicketForm(form, form_id, prefill))

    async def support_new(
        self, interaction: Interaction, category: str, image: discord.Attachment | None
    ) -> None:
        if interaction.guild_id is None:
            await self.ephemeral(interaction, "Use /support in a server, not in direct messages.")
            return
        await self.open_form(interaction, category=Category.parse(category), image=image)

    async def support_list(self, interaction: Interaction) -> None:
        customer = self.identity(interaction.guild_id, interaction.user)
        tickets = await self.desk.my_tickets(customer)
        rendered = embeds.ticket_list(tickets)
        await interaction.response.send_message(embeds=rendered.embeds or [], ephemeral=True,
                                                allowed_mentions=no_mentions())

    async def support_center(self, interaction: Interaction) -> None:
        view = await self.desk.support_center(self.identity(interaction.guild_id, interaction.user))
        rendered = embeds.support_center(view)
        await interaction.response.send_message(
            embeds=rendered.embeds or [], view=rendered.view or discord.utils.MISSING,
            ephemeral=True, allowed_mentions=no_mentions())

    async def support_help(self, interaction: Interaction) -> None:
        rendered = embeds.help_text(self.desk.help_text(), self.config.desk_name)
        await interaction.response.send_message(embeds=rendered.embeds or [], ephemeral=True,
                                                allowed_mentions=no_mentions())

    async def file_message(self, interaction: Interaction, message: discord.Message) -> None:
        """The "File as a ticket" message command: the form, prefilled with that message."""
        if interaction.guild_id is None:
            await self.ephemeral(interaction, "Use this in a server, not in direct messages.")
            return
        content = message.content or ""
        first_line = next((ln.strip() for ln in content.splitlines() if ln.strip()), "")
        await self.open_form(interaction, category=None,
                             prefill=FormValues(subject=first_line[:80], message=content))

    # ---- customer: the form -------------------------------------------------------------------

    async def on_form_submit(self, interaction: Interaction) -> None:
        """A submitted form, whichever process opened it: its custom_id and values hold all it
        needs (see ``adapters.discord.formdata``), so it is handled the same after a restart.
        A submit for a form Helpline never makes is left alone: Discord would not send one."""
        data: Any = interaction.data or {}
        form = parse_form_id(data.get("custom_id"))
        if form is None:
            return
        fields = SubmittedFields.parse(data, interaction.client.http.get_from_cdn)
        try:
            if isinstance(form, TicketFormId):
                await self.submit_form(interaction, form, fields)
            elif isinstance(form, NoteFormId):
                await self.submit_note(interaction, form.thread_id, fields.text("note"))
            elif isinstance(form, SnippetFormId):
                await self.operations.submit_snippet(
                    interaction, form.name, snippet_text(fields, self.config.limits.message_max))
            else:
                await self.operations.submit_rating(
                    interaction, form.ticket_id, form.closing, rating_score(fields),
                    fields.text("comment"))
        except Exception as exc:  # every failure is shown to the person who submitted
            await self.respond_error(interaction, exc)

    async def submit_form(
        self, interaction: Interaction, form: TicketFormId, fields: SubmittedFields
    ) -> None:
        """The new-ticket form was submitted: fetch the image, then ask the desk. Deferred
        first, since downloading and the duplicate/self-service checks may take longer than
        3 s. An image held for the form but no longer in memory is not guessed at: the
        customer is asked to send it in the ticket's thread."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        values = ticket_values(form, fields, self.config.limits.message_max)
        uploads = fields.files.get("image", [])
        held = None
        if form.held is not HeldImage.NONE:
            held = self.held_images.get(str(form.opened), interaction.user.id)
        notes_for_customer: list[str] = []
        if uploads and form.held is HeldImage.COMMAND:
            notes_for_customer.append(TWO_IMAGES)
        elif not uploads and form.held is not HeldImage.NONE and held is None:
            notes_for_customer.append(IMAGE_NOT_KEPT)
        image: AttachmentIn | None = None
        if uploads:
            image = await download(uploads[0])
        elif isinstance(held, AttachmentIn):
            image = held
        elif held is not None:
            image = await download(held)
        customer = self.identity(interaction.guild_id, interaction.user)
        check = self.support_channel(interaction.guild, interaction.guild_id)
        draft = TicketDraft(
            category=values.category, subject=values.subject, message=values.message,
            attachment=image,
            reply_to=Destination(platform=Platform.DISCORD, workspace=customer.workspace,
                                 channel_id=check.channel_id, user_id=customer.user_id),
        )
        result = await self.desk.submit(customer, draft, source_key=f"discord:interaction:"
                                        f"{interaction.id}", follows_ticket_id=values.follows)
        if isinstance(result, Rejected):
            kept = None if result.for_field("attachment") else image
            retry = FormValues(values.category, values.subject, values.message, kept,
                               values.follows)
            self.refused_forms.put(str(interaction.id), interaction.user.id, retry)
            rendered = embeds.rejected(
                result, subject=values.subject,
                reopen=embeds.resubmit_view(interaction.id, values.follows))
        else:
            rendered = await self.render_submit(result, check)
        if notes_for_customer:
            rendered.content = clip("\n".join([rendered.content, *notes_for_customer]).strip(),
                                    2000)
        await interaction.followup.send(ephemeral=True, allowed_mentions=no_mentions(),
                                        **_send_kwargs(rendered))

    async def render_submit(self, result: SubmitResult, check: ThreadCheck) -> embeds.Rendered:
        if isinstance(result, DuplicatePrompt):
            return embeds.duplicate_prompt(result)
        if isinstance(result, SelfServiceOffer):
            return embeds.self_service_offer(result)
        if isinstance(result, Created):
            return embeds.created(result, thread_note=_thread_note(result, check),
                                  incident=await self.desk.active_incident())
        if isinstance(result, Continued):
            return embeds.continued(result)
        if isinstance(result, Deflected):
            return embeds.deflected(result)
        return embeds.Rendered(content="Nothing was filed: " + "; ".join(
            e.message for e in result.errors))

    # ---- buttons and selects ------------------------------------------------------------------

    async def on_action(
        self, interaction: Interaction, action: str, arg: str, values: list[str]
    ) -> None:
        try:
            await self._on_action(interaction, action, arg, values)
        except Exception as exc:  # every failure is shown to the person who clicked
            await self.respond_error(interaction, exc)

    async def _on_action(
        self, interaction: Interaction, action: str, arg: str, values: list[str]
    ) -> None:
        if action == embeds.NEW_TICKET:
            await self.open_form(interaction, category=None)
            return
        if action in (embeds.CONTINUE, embeds.CREATE, embeds.SOLVED, embeds.FILE_ANYWAY):
            await self._draft_answer(interaction, action, arg)
            return
        if action == embeds.RESUBMIT:
            await self._resubmit(interaction, arg)
            return
        numbers = _numbers(arg, BUTTON_NUMBERS.get(action, 0))
        if numbers is None:
            await self.ephemeral(interaction, STALE_BUTTON)
        elif action == embeds.NEW_FOLLOWING:
            await self.open_form(interaction, category=None,
                                 prefill=FormValues(follows=numbers[0]))
        elif action in (embeds.RATE, embeds.RATE_COMMENT):
            await self.operations.on_rating(interaction, action, numbers)
        else:
            await self._card_action(interaction, action, numbers[0], values)

    async def _resubmit(self, interaction: Interaction, arg: str) -> None:
        """Edit and resubmit: the refused form again, filled in with what was typed while that
        is held; once it is not (a restart, or an hour later), a clear answer and a fresh
        form one click away, never a silent failure."""
        match = _RESUBMIT.fullmatch(arg)
        if match is None:
            await self.ephemeral(interaction, STALE_BUTTON)
            return
        values = self.refused_forms.get(match["key"], interaction.user.id)
        if values is None:
            rendered = embeds.form_expired(int(match["follows"]) or None)
            await self.ephemeral(interaction, rendered.content, view=rendered.view)
            return
        await self.open_form(interaction, category=None, prefill=values)

    async def _draft_answer(self, interaction: Interaction, action: str, draft_id: str) -> None:
        """An answer to the duplicate prompt or the self-service offer: the prompt is edited in
        place, so its buttons cannot be clicked twice."""
        await interaction.response.defer()
        customer = self.identity(interaction.guild_id, interaction.user)
        result: SubmitResult
        if action == embeds.CONTINUE:
            result = await self.desk.continue_existing(customer, draft_id)
        elif action == embeds.CREATE:
            result = await self.desk.create_new(customer, draft_id)
        elif action == embeds.SOLVED:
            result = await self.desk.solved_by_article(customer, draft_id)
        else:
            result = await self.desk.file_anyway(customer, draft_id)
        check = self.support_channel(interaction.guild, interaction.guild_id)
        rendered = await self.render_submit(result, check)
        await interaction.edit_original_response(allowed_mentions=no_mentions(),
                                                 **rendered.kwargs())  # type: ignore[arg-type]

    # ---- staff: the card ------------------------------------------------------------------------

    async def _card_action(
        self, interaction: Interaction, action: str, ticket_id: int, values: list[str]
    ) -> None:
        actor = self.actor(interaction.guild_id, interaction.user)
        if not actor.is_staff:
            await self.ephemeral(interaction, STAFF_ONLY)
            return
        if action == embeds.CARD_STATUS:
            card = await self.desk.card(ticket_id)
            rendered = embeds.status_picker(ticket_id, card.status)
            await self.ephemeral(interaction, rendered.content, view=rendered.view)
            return
        if action == embeds.CARD_CATEGORY:
            rendered = embeds.category_picker(
                ticket_id, [(c.value, self.config.hint_for(c)) for c in Category])
            await self.ephemeral(interaction, rendered.content, view=rendered.view)
            return
        picked = _picked(action, values)
        if action in (embeds.SET_STATUS, embeds.SET_CATEGORY) and picked is None:
            await self.ephemeral(interaction, NOT_A_CHOICE)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if action == embeds.CARD_ASSIGN:
            summary = await self.desk.assign(actor, ticket_id, actor.identity.display)
            done = f"{summary.number} is assigned to you."
        elif action == embeds.CARD_CLOSE:
            summary = await self.desk.set_status(actor, ticket_id, Status.CLOSED)
            done = f"{summary.number} is closed; the customer was told."
        elif isinstance(picked, Status):
            summary = await self.desk.set_status(actor, ticket_id, picked)
            done = f"{summary.number} is now {summary.status}."
        else:
            assert isinstance(picked, Category)
            summary = await self.desk.recategorise(actor, ticket_id, picked)
            done = f"{summary.number} is now in {summary.category}."
        await interaction.followup.send(done, ephemeral=True, allowed_mentions=no_mentions())

    # ---- staff: internal notes ------------------------------------------------------------------

    async def note_command(self, interaction: Interaction, message: discord.Message) -> None:
        """The "Internal note" message command: a form for a note on this thread's ticket."""
        actor = self.actor(interaction.guild_id, interaction.user)
        if not actor.is_staff:
            await self.ephemeral(interaction, STAFF_ONLY)
            return
        channel_id = interaction.channel_id or message.channel.id
        found = await self.desk.ticket_id_for_thread(thread_ref(interaction.guild_id or 0,
                                                                channel_id))
        if found is None or found[1] is not Side.STAFF:
            await self.ephemeral(interaction, "Use Internal note on a message in a ticket's staff "
                                              "thread (the thread under its card).")
            return
        await send_form(interaction, NoteForm(NoteFormId(channel_id), found[0],
                                              message.content or ""))

    async def submit_note(self, interaction: Interaction, thread_id: int, text: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = self.actor(interaction.guild_id, interaction.user)
        result = await self.desk.internal_note(
            actor, text, thread=thread_ref(interaction.guild_id or 0, thread_id),
            source_key=f"discord:interaction:{interaction.id}")
        await interaction.followup.send(
            f"🔒 Internal note added to #{result.ticket_id}. It is not sent to the customer.",
            ephemeral=True, allowed_mentions=no_mentions())

    # ---- thread messages ------------------------------------------------------------------------

    async def thread_message(self, message: discord.Message, *, caught_up: bool = False) -> None:
        """A message in a ticket's thread, live from the gateway or read back after downtime
        (catchup.py, ``caught_up``: a customer's is then timed by when it was written): the
        customer's becomes a reply to staff, staff's is relayed to the customer or kept
        internal, anything refused is answered and marked ⚠️. Everything else is ignored, and a
        message already taken up by this process too."""
        if not is_person_message(message):
            return
        channel_type = getattr(message.channel, "type", None)
        if channel_type not in THREAD_TYPES or message.id in self._taken:
            return
        _remember(self._taken, message.id)
        assert message.guild is not None
        ref = thread_ref(message.guild.id, message.channel.id)
        try:
            found = await self._ticket_of_thread(message, ref)
            if found is None:
                return
            if found[1] is Side.STAFF:
                await self._staff_message(message, found[0])
            else:
                await self._customer_message(message, found[0], caught_up=caught_up)
        except StorageUnavailable as exc:
            # Unmarked: a passing failure, so a later catch-up may take the message up again.
            await self._answer(message, f"⚠️ {exc}")
        except (HelplineError, AttachmentProblem) as exc:
            await self._refuse(message, f"⚠️ {exc}")
        except Exception:
            log.exception("thread message %s failed", message.id)
            await self._answer(message, f"⚠️ {UNEXPECTED}")

    async def _ticket_of_thread(
        self, message: discord.Message, ref: ThreadRef
    ) -> tuple[int, Side] | None:
        """The ticket of a thread. A thread this bot made moments ago may not be recorded yet
        (the outbox records it once Discord has answered), so for the bot's own threads a miss
        is retried for a few seconds instead of dropping the customer's first words."""
        found = await self.desk.ticket_id_for_thread(ref)
        me = self.client.user if self.client is not None else None
        owner = getattr(message.channel, "owner_id", None)
        if found is not None or me is None or owner != me.id:
            return found
        for delay in LOOKUP_RETRIES:
            await asyncio.sleep(delay)
            found = await self.desk.ticket_id_for_thread(ref)
            if found is not None:
                return found
        return None

    async def _customer_message(self, message: discord.Message, ticket_id: int, *,
                                caught_up: bool = False) -> None:
        assert message.guild is not None
        if self.is_staff(message.author) and not await self._is_escalation(ticket_id):
            await self._refuse(message, "This is the customer's thread, so this message was not "
                                        "recorded. Answer in the ticket's staff thread (under "
                                        f"the card of #{ticket_id}); it is relayed here.")
            return
        attachment = await self._one_attachment(message)
        result = await self.desk.customer_reply(
            self.identity(message.guild.id, message.author), message.content,
            thread=thread_ref(message.guild.id, message.channel.id), attachment=attachment,
            source_key=_source_key(message), source_ref=_ref(message),
            written_at=message.created_at if caught_up else None)
        await self._reply_outcome(message, result)

    async def _is_escalation(self, ticket_id: int) -> bool:
        """Whether the ticket is a White Label Lite escalation: its "customer" is the account's
        own support team, so their messages in its customer thread are the customer side, not
        a staff answer in the wrong thread."""
        return (await self.desk.card(ticket_id)).escalated_from is not None

    async def _staff_message(self, message: discord.Message, ticket_id: int) -> None:
        assert message.guild is not None
        actor = self.actor(message.guild.id, message.author)
        if not actor.is_staff:
            await self._refuse(message, "Only the support team's messages reach the customer; "
                                        "this one was not sent.")
            return
        verdict = notes.judge(message.content, replying_to_internal=self._replies_to_internal(
            message))
        ref = thread_ref(message.guild.id, message.channel.id)
        if verdict.internal:
            self._remember_internal(message.id)
            if message.attachments:
                await self._answer(message, "Kept internal. Images are not stored with internal "
                                            "notes; the customer did not get this one either.")
            if not verdict.body:
                await _react(message, notes.LOCK)
                return
            await self.desk.internal_note(actor, verdict.body, thread=ref,
                                          source_key=_source_key(message))
            await _react(message, notes.LOCK)
            return
        attachment = await self._one_attachment(message)
        result = await self.desk.staff_reply(
            actor, message.content, thread=ref, attachment=attachment,
            source_key=_source_key(message), source_ref=_ref(message))
        await self._reply_outcome(message, result)

    async def _reply_outcome(self, message: discord.Message, result: ReplyResult) -> None:
        if isinstance(result, ReplyRefused):
            view = None
            if result.new_ticket_follows:
                view = embeds.follow_up_view(result.new_ticket_follows)
            await self._refuse(message, f"⚠️ {result.reason}", view=view)
        elif isinstance(result, ReplyAccepted) and result.redaction_notice:
            await self._answer(message, f"🔐 {result.redaction_notice}")

    async def _one_attachment(self, message: discord.Message) -> AttachmentIn | None:
        if not message.attachments:
            return None
        if len(message.attachments) > 1:
            raise AttachmentProblem(
                "Your message wasn't sent: one image per message, please. Send the images one "
                "at a time, each in its own message.")
        return await download(message.attachments[0])

    def _replies_to_internal(self, message: discord.Message) -> bool:
        reference = message.reference
        if reference is None or reference.message_id is None:
            return False
        if reference.message_id in self._internal:
            return True
        resolved = reference.resolved
        if isinstance(resolved, discord.Message):
            return notes.judge(resolved.content).internal
        return False

    def _remember_internal(self, message_id: int) -> None:
        _remember(self._internal, message_id)

    async def _answer(
        self, message: discord.Message, text: str, view: discord.ui.View | None = None
    ) -> None:
        """Helpline's direct answer to a thread message (a refusal, a redaction notice)."""
        try:
            await message.reply(text, mention_author=False, allowed_mentions=no_mentions(),
                                view=view or discord.utils.MISSING)
        except discord.HTTPException:
            log.warning("could not answer message %s", message.id, exc_info=True)

    async def _refuse(
        self, message: discord.Message, text: str, view: discord.ui.View | None = None
    ) -> None:
        """A thread message that was not passed on: its author is told why, and it gets ⚠️
        (as an undelivered one does). A refusal is not recorded, so the mark is also what
        tells the catch-up after a restart that the message was handled (catchup.py)."""
        await self._answer(message, text, view=view)
        await _react(message, REACTIONS[Reaction.FAILED])


def is_person_message(message: discord.Message) -> bool:
    """A message a person wrote in a server: not a bot's (Helpline's own included), a
    webhook's, or a system message (a thread's starter, a member added, a pin)."""
    return (not message.author.bot and message.guild is not None
            and message.webhook_id is None
            and message.type in (discord.MessageType.default, discord.MessageType.reply))


def _remember(ids: OrderedDict[int, None], message_id: int) -> None:
    """Keep an id among the latest ten thousand."""
    ids[message_id] = None
    while len(ids) > 10_000:
        ids.popitem(last=False)


async def download(attachment: Downloadable) -> AttachmentIn:
    """Copy a Discord attachment into memory now: its CDN link expires, and the desk stores
    the bytes by their hash."""
    if attachment.size > DOWNLOAD_CAP:
        raise AttachmentProblem(
            f"'{attachment.filename}' is {attachment.size / 1024 / 1024:.0f} MB, far above the "
            "image limit. Attach a screenshot (JPEG, PNG, GIF or WebP) instead.")
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        raise AttachmentProblem(
            f"I couldn't fetch '{attachment.filename}' from Discord ({exc.__class__.__name__}). "
            "Please attach it again.") from exc
    return AttachmentIn(filename=attachment.filename, data=data)


def _thread_note(result: Created, check: ThreadCheck) -> str:
    if result.already_existed:
        return "This ticket was already filed; its private thread is where you follow it."
    if check.problem is None and check.channel_id:
        return (f"Your private thread for it opens in <#{check.channel_id}> in a moment: the "
                "support team's answers arrive there, and your messages there reach them.")
    return (f"⚠️ I couldn't open a private thread for it: {check.problem}. Your ticket is filed "
            "and the support team has it. Follow it here with `/support list` (it shows the "
            "status), and ask a server admin to set up the support channel so replies can "
            "reach you.")


def _numbers(arg: str, count: int) -> list[int] | None:
    """The ``count`` numbers a button's argument holds (a ticket id, a closing, a score), or
    None when it holds something else: an id Helpline never made."""
    parts = arg.split(":")
    if count < 1 or len(parts) != count or not all(_NUMBER.fullmatch(p) for p in parts):
        return None
    return [int(p) for p in parts]


def _picked(action: str, values: list[str]) -> Status | Category | None:
    """The status or category chosen in a card's select menu; None for anything else."""
    if len(values) != 1:
        return None
    try:
        if action == embeds.SET_STATUS:
            return Status(values[0])
        if action == embeds.SET_CATEGORY:
            return Category.parse(values[0])
    except ValueError:
        return None
    return None


def _source_key(message: discord.Message) -> str:
    guild = message.guild.id if message.guild else 0
    return f"discord:{guild}:{message.channel.id}:{message.id}"


def _ref(message: discord.Message) -> MessageRef:
    return message_ref(message.guild.id if message.guild else 0, message.channel.id, message.id)


def _send_kwargs(rendered: embeds.Rendered) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if rendered.content:
        kwargs["content"] = rendered.content
    if rendered.embeds:
        kwargs["embeds"] = rendered.embeds
    if rendered.view is not None:
        kwargs["view"] = rendered.view
    return kwargs


async def _react(message: discord.Message, emoji: str) -> None:
    try:
        await message.add_reaction(emoji)
    except discord.HTTPException:
        log.warning("could not react to message %s", message.id, exc_info=True)
