"""The modals: the new-ticket form, the staff's internal-note and snippet forms, and the
customer's rating-with-a-comment form.

Discord's limits shape the ticket form: at most five components, a text input holds at most
4000 characters while a ticket message may have 5000, so a second "continued" input carries
the rest and the two are joined. Discord enforces the inputs' min/max lengths itself; every
other check (secrets, the image's bytes) happens in core after submit, and its errors come
back as an ephemeral message whose button reopens this form filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import discord

from adapters.discord.text import clip
from core.models import AttachmentIn, Category
from core.views import IntakeForm

TEXT_INPUT_MAX = 4000  # Discord's limit for one text input
SELECT_DESCRIPTION_MAX = 100
LABEL_DESCRIPTION_MAX = 100


@dataclass
class FormValues:
    """What the customer typed (or what prefills the form)."""

    category: str = ""
    subject: str = ""
    message: str = ""
    image: AttachmentIn | None = field(default=None, repr=False)  # kept from an earlier round
    follows: int | None = None


@dataclass
class Submitted:
    values: FormValues
    uploads: list[discord.Attachment]
    command_image: discord.Attachment | None


class FormHandler(Protocol):
    async def submit_form(self, interaction: discord.Interaction[Any], form: Submitted) -> None: ...

    async def respond_error(
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None: ...


def split_for_inputs(message: str, first_max: int, more_max: int = TEXT_INPUT_MAX
                     ) -> tuple[str, str]:
    """Prefill the two message inputs with a longer message. Discord refuses a form whose
    prefill is longer than its input, so what fits neither is left out."""
    return message[:first_max], message[first_max:first_max + max(more_max, 0)]


def typed(item: discord.ui.TextInput[Any] | None) -> str:
    """What was typed into an input. A value that is not text (Discord never sends one) counts
    as nothing typed, so the desk answers it with its field errors."""
    value = item.value if item is not None else ""
    return value if isinstance(value, str) else ""


def join_inputs(first: str, more: str, first_max: int) -> str:
    """Join the message and its continuation. A full first input was cut mid-text by the
    limit, so the parts join directly; otherwise the continuation starts a new line."""
    if not more.strip():
        return first
    if len(first) >= first_max:
        return first + more
    return f"{first}\n{more}"


class TicketForm(discord.ui.Modal):
    """The new-ticket form. Without a category (context menu, Support Center button, reopened
    after an error) it asks for one with a select; then there is no room for a notice."""

    def __init__(
        self,
        handler: FormHandler,
        form: IntakeForm,
        *,
        category: Category | None,
        prefill: FormValues | None = None,
        command_image: discord.Attachment | None = None,
    ) -> None:
        super().__init__(title="New support ticket", timeout=15 * 60)
        self.handler = handler
        self.fixed_category = category
        self.prefill = prefill or FormValues()
        self.command_image = command_image
        self.first_max = min(TEXT_INPUT_MAX, form.message_max)
        more_max = min(TEXT_INPUT_MAX, form.message_max - self.first_max)
        first_text, more_text = split_for_inputs(self.prefill.message, self.first_max, more_max)

        self.category_select: discord.ui.Select[TicketForm] | None = None
        if category is None:
            self.category_select = discord.ui.Select(
                custom_id="category", placeholder="Pick the category that fits best",
                options=[
                    discord.SelectOption(
                        label=c.category.value, value=c.category.value,
                        description=clip(c.hint, SELECT_DESCRIPTION_MAX),
                        default=c.category.value == self.prefill.category)
                    for c in form.categories
                ],
            )
        self.subject: discord.ui.TextInput[TicketForm] = discord.ui.TextInput(
            custom_id="subject", min_length=form.subject_min, max_length=form.subject_max,
            placeholder="DNS not verifying after 24 hours",
            default=clip(self.prefill.subject, form.subject_max) or None,
        )
        self.message: discord.ui.TextInput[TicketForm] = discord.ui.TextInput(
            custom_id="message", style=discord.TextStyle.long, min_length=form.message_min,
            max_length=self.first_max, default=first_text or None,
        )
        self.message_more: discord.ui.TextInput[TicketForm] | None = None
        if more_max > 0:
            self.message_more = discord.ui.TextInput(
                custom_id="message_more", style=discord.TextStyle.long, required=False,
                max_length=more_max, default=more_text or None,
            )
        self.image: discord.ui.FileUpload[TicketForm] = discord.ui.FileUpload(
            custom_id="image", required=False, max_values=1)

        notice = _notice(form)
        if category is None:
            assert self.category_select is not None
            self.add_item(discord.ui.Label(
                text="Category", component=self.category_select,
                description="Routes the ticket to the right team."))
        elif notice:
            self.add_item(discord.ui.TextDisplay(clip(notice, 4000)))
        self.add_item(discord.ui.Label(
            text="Subject", component=self.subject,
            description=clip(f"{form.subject_min}–{form.subject_max} characters. Be specific: "
                             "what and since when.", LABEL_DESCRIPTION_MAX)))
        self.add_item(discord.ui.Label(
            text="Message", component=self.message,
            description=clip("Your goal, what happened (exact error), what you tried, domain/"
                             "mailbox. No passwords.", LABEL_DESCRIPTION_MAX)))
        if self.message_more is not None:
            self.add_item(discord.ui.Label(
                text="Message (continued)", component=self.message_more,
                description=f"Only if your message is longer than {self.first_max} characters."))
        self.add_item(discord.ui.Label(
            text="Screenshot (optional)", component=self.image,
            description=clip(f"One image: JPEG, PNG, GIF or WebP, at most "
                             f"{form.max_image_mb:g} MB.", LABEL_DESCRIPTION_MAX)))

    def values(self) -> FormValues:
        if self.fixed_category is not None:
            category = self.fixed_category.value
        elif self.category_select is not None and self.category_select.values:
            category = str(self.category_select.values[0])
        else:
            category = self.prefill.category
        return FormValues(
            category=category, subject=typed(self.subject),
            message=join_inputs(typed(self.message), typed(self.message_more), self.first_max),
            image=self.prefill.image, follows=self.prefill.follows,
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.handler.submit_form(
            interaction, Submitted(self.values(), list(self.image.values), self.command_image))

    async def on_error(  # type: ignore[override]  # a Modal's on_error gets no item
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await self.handler.respond_error(interaction, error)


def _notice(form: IntakeForm) -> str:
    lines: list[str] = []
    if form.incident:
        lines.append(f"⚠️ **Active incident:** {form.incident.text} — see "
                     f"{form.incident.status_page}; a ticket about it won't speed things up.")
    if form.follows_ticket_id:
        lines.append(f"This new ticket will link #{form.follows_ticket_id}.")
    return "\n".join(lines)


class NoteForm(discord.ui.Modal):
    """A staff-only internal note for the ticket of the thread it was opened from. The note
    never passes through the thread as a message, so it cannot be relayed by accident."""

    def __init__(self, handler: NoteHandler, ticket_id: int, thread_id: int, prefill: str) -> None:
        super().__init__(title=f"Internal note on #{ticket_id}", timeout=15 * 60)
        self.handler = handler
        self.ticket_id = ticket_id
        self.thread_id = thread_id
        self.text: discord.ui.TextInput[NoteForm] = discord.ui.TextInput(
            custom_id="note", style=discord.TextStyle.long, min_length=1,
            max_length=TEXT_INPUT_MAX, default=clip(prefill, TEXT_INPUT_MAX) or None)
        self.add_item(discord.ui.Label(
            text="Note (never sent to the customer)", component=self.text))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.handler.submit_note(interaction, self.thread_id, typed(self.text))

    async def on_error(  # type: ignore[override]  # a Modal's on_error gets no item
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await self.handler.respond_error(interaction, error)


class NoteHandler(Protocol):
    async def submit_note(
        self, interaction: discord.Interaction[Any], thread_id: int, text: str
    ) -> None: ...

    async def respond_error(
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None: ...


SNIPPET_HELP = "{customer}, {ticket} and {agent} are filled in when it is sent."


class SnippetForm(discord.ui.Modal):
    """A canned reply written in a form, since a slash-command option holds one line only.
    Like the ticket form, a second input takes what does not fit Discord's 4000 characters."""

    def __init__(self, handler: SnippetHandler, name: str, body_max: int, prefill: str) -> None:
        super().__init__(title=clip(f"Snippet: {name}", 45), timeout=15 * 60)
        self.handler = handler
        self.name = name
        self.first_max = min(TEXT_INPUT_MAX, body_max)
        more_max = min(TEXT_INPUT_MAX, body_max - self.first_max)
        first_text, more_text = split_for_inputs(prefill, self.first_max, more_max)
        self.body: discord.ui.TextInput[SnippetForm] = discord.ui.TextInput(
            custom_id="body", style=discord.TextStyle.long, min_length=1,
            max_length=self.first_max, default=first_text or None,
            placeholder="Hi {customer}, thanks for waiting on {ticket}. — {agent}")
        self.add_item(discord.ui.Label(text="Text", component=self.body,
                                       description=clip(SNIPPET_HELP, LABEL_DESCRIPTION_MAX)))
        self.body_more: discord.ui.TextInput[SnippetForm] | None = None
        if more_max > 0:
            self.body_more = discord.ui.TextInput(
                custom_id="body_more", style=discord.TextStyle.long, required=False,
                max_length=more_max, default=more_text or None)
            self.add_item(discord.ui.Label(
                text="Text (continued)", component=self.body_more,
                description=f"Only if it is longer than {self.first_max} characters."))

    def text(self) -> str:
        return join_inputs(typed(self.body), typed(self.body_more), self.first_max)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await self.handler.submit_snippet(interaction, self.name, self.text())

    async def on_error(  # type: ignore[override]  # a Modal's on_error gets no item
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await self.handler.respond_error(interaction, error)


class SnippetHandler(Protocol):
    async def submit_snippet(
        self, interaction: discord.Interaction[Any], name: str, body: str
    ) -> None: ...

    async def respond_error(
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None: ...


RATING_COMMENT_MAX = 1000  # what core keeps of a rating's comment
RATING_SCORES = ("5", "4", "3", "2", "1")


class RatingForm(discord.ui.Modal):
    """A rating with a comment. The desk takes one rating per closing, so the score and the
    comment are sent together rather than the comment after a score already recorded."""

    def __init__(self, handler: RatingHandler, ticket_id: int, closing: int) -> None:
        super().__init__(title=f"Rate ticket #{ticket_id}", timeout=15 * 60)
        self.handler = handler
        self.ticket_id = ticket_id
        self.closing = closing
        self.score: discord.ui.Select[RatingForm] = discord.ui.Select(
            custom_id="score", placeholder="1 (poor) to 5 (great)",
            options=[discord.SelectOption(label=f"{n} — {word}", value=n) for n, word in zip(
                RATING_SCORES, ("great", "good", "okay", "not good", "poor"), strict=True)],
        )
        self.comment: discord.ui.TextInput[RatingForm] = discord.ui.TextInput(
            custom_id="comment", style=discord.TextStyle.long, required=False,
            max_length=RATING_COMMENT_MAX)
        self.add_item(discord.ui.Label(text="How did we do?", component=self.score))
        self.add_item(discord.ui.Label(text="Comment (optional)", component=self.comment))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        chosen = self.score.values[0] if len(self.score.values) == 1 else ""
        score = int(chosen) if chosen in RATING_SCORES else 0
        await self.handler.submit_rating(interaction, self.ticket_id, self.closing, score,
                                         typed(self.comment))

    async def on_error(  # type: ignore[override]  # a Modal's on_error gets no item
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await self.handler.respond_error(interaction, error)


class RatingHandler(Protocol):
    async def submit_rating(
        self, interaction: discord.Interaction[Any], ticket_id: int, closing: int, score: int,
        comment: str,
    ) -> None: ...

    async def respond_error(
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None: ...
