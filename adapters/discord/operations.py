"""Running the desk from Discord: the staff's ``/support queue``, ``snippet``, ``incident`` and
``escalate`` commands, and the customer's ``/support transcript`` and rating buttons. Each
translates one interaction into ``SupportDesk`` calls and answers it; like the rest of the
adapter it holds no rule of its own beyond who may ask (the staff-role check) and where
(which thread a command is used in).

Answers are ephemeral, except where colleagues should see what happened in a ticket's staff
thread: a snippet sent and an escalation are announced there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord import embeds
from adapters.discord.formdata import RatingFormId, SnippetFormId
from adapters.discord.forms import RatingForm, SnippetForm, send_form
from adapters.discord.text import clip, no_mentions
from adapters.discord.transport import thread_ref
from core.errors import ValidationFailed
from core.models import Actor, Category, Identity, Plan, Platform, Status, ThreadRef
from core.outbox import Side
from core.service import SupportDesk, TicketFilter
from core.views import ReplyRefused

if TYPE_CHECKING:
    from adapters.discord.handlers import DiscordHandlers

log = logging.getLogger("helpline.discord")

Interaction = discord.Interaction[Any]

MINE = "mine"
UNASSIGNED = "unassigned"
QUEUE_STATUSES = (Status.OPEN, Status.WAITING_ON_CUSTOMER)
RATED = "✅ Rated — thank you!"
AUTOCOMPLETE_MAX = 25  # Discord's limit on suggested choices


def staff_only(command: str) -> str:
    return (f"Only the support team can use `{command}`. If you need help, use `/support new`, "
            "or `/support center` to see your tickets.")


class DeskOperations:
    """The desk-operation interactions. Shares identity, the staff check and error answers with
    ``DiscordHandlers``, which owns it."""

    def __init__(self, handlers: DiscordHandlers) -> None:
        self.handlers = handlers

    @property
    def desk(self) -> SupportDesk:
        return self.handlers.desk

    async def respond_error(self, interaction: Interaction, error: Exception) -> None:
        await self.handlers.respond_error(interaction, error)

    async def _staff(self, interaction: Interaction, command: str) -> Actor | None:
        """The staff member using ``command``, or None once a customer has been refused."""
        actor = self.handlers.actor(interaction.guild_id, interaction.user)
        if not actor.is_staff:
            await self.handlers.ephemeral(interaction, staff_only(command))
            return None
        return actor

    async def _thread_of(
        self, interaction: Interaction, side: Side
    ) -> tuple[int, ThreadRef] | None:
        """The ticket whose ``side`` thread the command is used in."""
        if interaction.channel_id is None:
            return None
        ref = thread_ref(interaction.guild_id or 0, interaction.channel_id)
        found = await self.desk.ticket_id_for_thread(ref)
        if found is None or found[1] is not side:
            return None
        return int(found[0]), ref

    # ---- the queue ------------------------------------------------------------------------------

    async def queue(
        self, interaction: Interaction, *, category: str | None, plan: str | None,
        assignee: str | None,
    ) -> None:
        actor = await self._staff(interaction, "/support queue")
        if actor is None:
            return
        flt = TicketFilter(
            status=list(QUEUE_STATUSES),
            category=Category.parse(category) if category else None,
            plan=Plan(plan) if plan else None,
            assignee=actor.identity.display if assignee == MINE else None,
            unassigned=assignee == UNASSIGNED,
        )
        tickets = await self.desk.list_tickets(flt)
        scope = " · ".join(part for part in (
            "open and waiting", category, plan,
            {MINE: "assigned to you", UNASSIGNED: "unassigned"}.get(assignee or ""),
        ) if part)
        rendered = embeds.queue(tickets, scope=scope)
        await interaction.response.send_message(embeds=rendered.embeds or [], ephemeral=True,
                                                allowed_mentions=no_mentions())

    # ---- snippets -------------------------------------------------------------------------------

    async def snippet_add(self, interaction: Interaction, name: str, text: str | None) -> None:
        """Save a snippet: the text from the option (one line) or, without it, from a form
        (several lines), prefilled with the snippet's current text when it exists."""
        actor = await self._staff(interaction, "/support snippet add")
        if actor is None:
            return
        if text:
            await self.desk.snippet_save(actor, name, text)
            await self.handlers.ephemeral(interaction, _saved(name))
            return
        form_id = SnippetFormId(name.strip().lower())
        if not form_id.fits():
            await self.handlers.ephemeral(
                interaction, "A snippet name is one short word of letters, digits, - or _; "
                             "pick another name.")
            return
        current = dict(await self.desk.snippets()).get(form_id.name, "")
        await send_form(interaction, SnippetForm(
            form_id, self.handlers.config.limits.message_max, current))

    async def submit_snippet(self, interaction: Interaction, name: str, body: str) -> None:
        actor = self.handlers.actor(interaction.guild_id, interaction.user)
        try:
            await self.desk.snippet_save(actor, name, body)
        except ValidationFailed as exc:
            # The form is gone once submitted: hand the text back so nothing typed is lost.
            await self.handlers.ephemeral(
                interaction, clip(f"Not saved: {exc}\nYour text, to paste again:\n```\n{body}",
                                  1996) + "\n```")
            return
        await self.handlers.ephemeral(interaction, _saved(name))

    async def snippet_list(self, interaction: Interaction) -> None:
        if await self._staff(interaction, "/support snippet list") is None:
            return
        rendered = embeds.snippet_list(await self.desk.snippets())
        await interaction.response.send_message(embeds=rendered.embeds or [], ephemeral=True,
                                                allowed_mentions=no_mentions())

    async def snippet_send(
        self, interaction: Interaction, name: str, ticket: int | None
    ) -> None:
        """Send a snippet to the customer of the staff thread it is used in (or of ``ticket``).
        In the staff thread the answer is public, so colleagues see what the customer got."""
        actor = await self._staff(interaction, "/support snippet send")
        if actor is None:
            return
        here = await self._thread_of(interaction, Side.STAFF)
        if ticket is None and here is None:
            await self.handlers.ephemeral(
                interaction, "Use `/support snippet send` inside a ticket's staff thread (the "
                             "thread under its card), or name the ticket with `ticket:`.")
            return
        source_key = f"discord:interaction:{interaction.id}"
        if ticket is not None:
            result = await self.desk.snippet_send(actor, name, ticket_id=ticket,
                                                  source_key=source_key)
        else:
            assert here is not None
            result = await self.desk.snippet_send(actor, name, thread=here[1],
                                                  source_key=source_key)
        if isinstance(result, ReplyRefused):
            await self.handlers.ephemeral(interaction, f"⚠️ Not sent: {result.reason}")
            return
        text = (f"📎 **{actor.identity.display}** sent the snippet `{name.strip().lower()}` to "
                f"the customer of #{result.ticket_id}.")
        if result.redaction_notice:
            text += f"\n🔐 {result.redaction_notice}"
        public = here is not None and (ticket is None or ticket == here[0])
        await interaction.response.send_message(text, ephemeral=not public,
                                                allowed_mentions=no_mentions())

    async def snippet_choices(
        self, interaction: Interaction, typed: str
    ) -> list[discord.app_commands.Choice[str]]:
        """Snippet names for the ``name`` option as staff type it (nothing for others)."""
        if not self.handlers.is_staff(interaction.user):
            return []
        typed = typed.strip().lower()
        names = [name for name, _ in await self.desk.snippets() if typed in name]
        return [discord.app_commands.Choice(name=n, value=n) for n in names[:AUTOCOMPLETE_MAX]]

    async def snippet_delete(self, interaction: Interaction, name: str) -> None:
        actor = await self._staff(interaction, "/support snippet delete")
        if actor is None:
            return
        if await self.desk.snippet_delete(actor, name):
            await self.handlers.ephemeral(interaction, f"Deleted the snippet `{name}`.")
        else:
            await self.handlers.ephemeral(interaction, f"There is no snippet `{name}`. "
                                                       "`/support snippet list` shows them.")

    # ---- incidents ------------------------------------------------------------------------------

    async def incident_start(self, interaction: Interaction, text: str) -> None:
        actor = await self._staff(interaction, "/support incident start")
        if actor is None:
            return
        incident = await self.desk.start_incident(actor, text)
        await self.handlers.ephemeral(
            interaction,
            f"📣 Incident started: **{incident.text}**\nCustomers now see it in the Support "
            f"Center and before they file, with {incident.status_page}. End it with "
            "`/support incident end`.")

    async def incident_end(self, interaction: Interaction) -> None:
        actor = await self._staff(interaction, "/support incident end")
        if actor is None:
            return
        if await self.desk.end_incident(actor):
            await self.handlers.ephemeral(interaction, "Incident ended: customers no longer see "
                                                       "the notice.")
        else:
            await self.handlers.ephemeral(interaction, "No incident is active.")

    # ---- White Label Lite: escalate to the provider -----------------------------------------

    async def escalate(self, interaction: Interaction) -> None:
        """Hand a White Label Lite account's ticket to the provider's desk, from the ticket's
        staff thread (in the account's own staff channel)."""
        actor = await self._staff(interaction, "/support escalate")
        if actor is None:
            return
        here = await self._thread_of(interaction, Side.STAFF)
        if here is None:
            await self.handlers.ephemeral(
                interaction, "Use `/support escalate` inside the ticket's staff thread (the "
                             "thread under its card).")
            return
        ticket_id = here[0]
        card = await self.desk.card(ticket_id)
        if card.escalated_from:
            await self.handlers.ephemeral(
                interaction, f"#{ticket_id} already is the provider's copy of "
                             f"#{card.escalated_from}.")
            return
        owner = Identity(platform=Platform(card.customer_platform), workspace=card.workspace,
                         user_id="")
        account = await self.desk.account_of(owner)
        if not account.white_label:
            await self.handlers.ephemeral(
                interaction, f"#{ticket_id} is not a White Label Lite account's ticket: it is "
                             "with the provider's support team already.")
            return
        await interaction.response.defer(thinking=True)  # public: colleagues see it
        created = await self.desk.escalate(actor, ticket_id)
        number = created.ticket.id
        if created.already_existed:
            text = f"#{ticket_id} was already escalated to the provider as #{number}."
        else:
            text = (f"⬆️ **{actor.identity.display}** escalated #{ticket_id} to the provider "
                    f"as #{number}. The provider's answers arrive in the thread “Ticket "
                    f"#{number}” in this channel.")
        await interaction.followup.send(text, allowed_mentions=no_mentions())

    # ---- the customer: transcript and rating ---------------------------------------------------

    async def transcript(self, interaction: Interaction) -> None:
        """The customer asks, in their ticket's thread, for the transcript of it: posted into
        that thread by the outbox (what the customer saw; internal notes never)."""
        here = await self._thread_of(interaction, Side.CUSTOMER)
        if here is None:
            await self.handlers.ephemeral(
                interaction, "Use `/support transcript` inside your ticket's private thread: "
                             "the transcript is posted there.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        customer = self.handlers.identity(interaction.guild_id, interaction.user)
        ticket_id = await self.desk.request_transcript(customer, thread=here[1])
        await interaction.followup.send(
            f"The transcript of #{ticket_id} is on its way to this thread.", ephemeral=True,
            allowed_mentions=no_mentions())

    async def on_rating(self, interaction: Interaction, action: str, numbers: list[int]) -> None:
        """A press on the buttons under "how did we do?": a score at once (``numbers`` are the
        ticket, the closing and the score), or the form for a score with a comment (the ticket
        and the closing)."""
        ticket_id, closing = numbers[0], numbers[1]
        if self.handlers.is_staff(interaction.user):
            await self.handlers.ephemeral(
                interaction, "Ratings are the customer's to give; the card shows theirs.")
            return
        if action == embeds.RATE_COMMENT:
            await send_form(interaction, RatingForm(RatingFormId(ticket_id, closing)))
            return
        await self.submit_rating(interaction, ticket_id, closing, numbers[2], "")

    async def submit_rating(
        self, interaction: Interaction, ticket_id: int, closing: int, score: int, comment: str
    ) -> None:
        customer = self.handlers.identity(interaction.guild_id, interaction.user)
        answer = await self.desk.rate(customer, ticket_id, score, comment, closing=closing)
        await self.handlers.ephemeral(interaction, answer)
        await _retire_buttons(interaction.message)


async def _retire_buttons(message: discord.Message | None) -> None:
    """Take the buttons off a rating request once it is answered (one rating per closing);
    the desk refuses a second one either way, so a failure here is only cosmetic."""
    if message is None or not message.components:
        return
    done = message.content if message.content.endswith(RATED) else f"{message.content}\n{RATED}"
    try:
        await message.edit(content=done, view=None,
                           allowed_mentions=no_mentions())
    except discord.HTTPException:
        log.warning("could not take the rating buttons off message %s", message.id,
                    exc_info=True)


def _saved(name: str) -> str:
    return (f"Saved the snippet `{name.strip().lower()}`. Send it in a ticket's staff thread "
            f"with `/support snippet send name:{name.strip().lower()}`.")
