"""The modals: the new-ticket form, the staff's internal-note and snippet forms, and the
customer's rating-with-a-comment form.

These classes only draw a form. Its submit is handled from what the submit itself carries (the
form's custom_id and every input's value, see ``adapters.discord.formdata``), never by the
object that drew it, so a form opened before a restart works the same when it is submitted.
The little a form needs that its custom_id cannot carry (an image, what a refused form held) is
``Kept`` in memory for a while; once it is gone the customer is told what to do instead.

Discord's limits shape the ticket form: at most five components, a text input holds at most
4000 characters while a ticket message may have 5000, so a second "continued" input carries
the rest and the two are joined. Discord enforces the inputs' min/max lengths itself; every
other check (secrets, the image's bytes) happens in core after submit, and its errors come
back as an ephemeral message whose button reopens this form filled in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import discord

from adapters.discord.formdata import (
    NoteFormId,
    RatingFormId,
    SnippetFormId,
    SubmittedFields,
    TicketFormId,
)
from adapters.discord.text import clip
from core.models import AttachmentIn
from core.views import IntakeForm

TEXT_INPUT_MAX = 4000  # Discord's limit for one text input
SELECT_DESCRIPTION_MAX = 100
LABEL_DESCRIPTION_MAX = 100
KEPT_SECONDS = 60 * 60  # the hour the refusal message promises
KEPT_LIMIT = 256

T = TypeVar("T")


@dataclass
class FormValues:
    """What the customer typed (or what prefills the form)."""

    category: str = ""
    subject: str = ""
    message: str = ""
    image: AttachmentIn | None = field(default=None, repr=False)  # kept from an earlier round
    follows: int | None = None


class Kept(Generic[T]):
    """What a form needs beyond its custom_id, each value for the one user it was made for,
    for ``seconds`` at most and never more than ``limit`` of them (the oldest go first). Held
    in memory only: after a restart nothing is found, and the caller says so."""

    def __init__(self, *, seconds: float = KEPT_SECONDS, limit: int = KEPT_LIMIT) -> None:
        self.seconds = seconds
        self.limit = limit
        self._values: OrderedDict[str, tuple[int, float, T]] = OrderedDict()

    def put(self, key: str, user_id: int, value: T) -> None:
        now = time.monotonic()
        while self._values and next(iter(self._values.values()))[1] <= now:
            self._values.popitem(last=False)
        self._values[key] = (user_id, now + self.seconds, value)
        self._values.move_to_end(key)
        while len(self._values) > self.limit:
            self._values.popitem(last=False)

    def get(self, key: str, user_id: int) -> T | None:
        found = self._values.get(key)
        if found is None or found[0] != user_id or found[1] <= time.monotonic():
            return None
        return found[2]


def split_for_inputs(message: str, first_max: int, more_max: int = TEXT_INPUT_MAX
                     ) -> tuple[str, str]:
    """Prefill the two message inputs with a longer message. Discord refuses a form whose
    prefill is longer than its input, so what fits neither is left out."""
    return message[:first_max], message[first_max:first_max + max(more_max, 0)]


def input_sizes(text_max: int) -> tuple[int, int]:
    """How much of a text of ``text_max`` characters the first input and its continuation
    take (0 for the second: no continuation)."""
    first_max = min(TEXT_INPUT_MAX, text_max)
    return first_max, min(TEXT_INPUT_MAX, text_max - first_max)


def join_inputs(first: str, more: str, first_max: int) -> str:
    """Join the message and its continuation. A full first input was cut mid-text by the
    limit, so the parts join directly; otherwise the continuation starts a new line."""
    if not more.strip():
        return first
    if len(first) >= first_max:
        return first + more
    return f"{first}\n{more}"


async def send_form(interaction: discord.Interaction[Any], form: discord.ui.Modal) -> None:
    """Open a form. Its submit is handled by its custom_id (``on_form_submit`` in the
    handlers), never by this object, so the object is stopped first: discord.py keeps no
    finished modal waiting for a submit, and nothing else can handle the submit a second time."""
    form.stop()
    await interaction.response.send_modal(form)


def ticket_values(form: TicketFormId, fields: SubmittedFields, message_max: int) -> FormValues:
    """What was submitted in a new-ticket form. A category fixed by the command wins over any
    category the submit claims."""
    first_max, _ = input_sizes(message_max)
    category = form.category.value if form.category is not None else fields.chosen("category")
    return FormValues(
        category=category, subject=fields.text("subject"),
        message=join_inputs(fields.text("message"), fields.text("message_more"), first_max),
        follows=form.follows,
    )


class TicketForm(discord.ui.Modal):
    """The new-ticket form. Without a category (context menu, Support Center button, reopened
    after an error) it asks for one with a select; then there is no room for a notice."""

    def __init__(
        self, form: IntakeForm, form_id: TicketFormId, prefill: FormValues | None = None
    ) -> None:
        super().__init__(title="New support ticket", custom_id=form_id.custom_id)
        category = form_id.category
        self.prefill = prefill or FormValues()
        self.first_max, more_max = input_sizes(form.message_max)
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

    def __init__(self, form_id: NoteFormId, ticket_id: int, prefill: str) -> None:
        super().__init__(title=f"Internal note on #{ticket_id}", custom_id=form_id.custom_id)
        self.text: discord.ui.TextInput[NoteForm] = discord.ui.TextInput(
            custom_id="note", style=discord.TextStyle.long, min_length=1,
            max_length=TEXT_INPUT_MAX, default=clip(prefill, TEXT_INPUT_MAX) or None)
        self.add_item(discord.ui.Label(
            text="Note (never sent to the customer)", component=self.text))


SNIPPET_HELP = "{customer}, {ticket} and {agent} are filled in when it is sent."


class SnippetForm(discord.ui.Modal):
    """A canned reply written in a form, since a slash-command option holds one line only.
    Like the ticket form, a second input takes what does not fit Discord's 4000 characters."""

    def __init__(self, form_id: SnippetFormId, body_max: int, prefill: str) -> None:
        super().__init__(title=clip(f"Snippet: {form_id.name}", 45),
                         custom_id=form_id.custom_id)
        first_max, more_max = input_sizes(body_max)
        first_text, more_text = split_for_inputs(prefill, first_max, more_max)
        self.body: discord.ui.TextInput[SnippetForm] = discord.ui.TextInput(
            custom_id="body", style=discord.TextStyle.long, min_length=1,
            max_length=first_max, default=first_text or None,
            placeholder="Hi {customer}, thanks for waiting on {ticket}. — {agent}")
        self.add_item(discord.ui.Label(text="Text", component=self.body,
                                       description=clip(SNIPPET_HELP, LABEL_DESCRIPTION_MAX)))
        if more_max > 0:
            more: discord.ui.TextInput[SnippetForm] = discord.ui.TextInput(
                custom_id="body_more", style=discord.TextStyle.long, required=False,
                max_length=more_max, default=more_text or None)
            self.add_item(discord.ui.Label(
                text="Text (continued)", component=more,
                description=f"Only if it is longer than {first_max} characters."))


def snippet_text(fields: SubmittedFields, body_max: int) -> str:
    """The text submitted in a snippet form."""
    first_max, _ = input_sizes(body_max)
    return join_inputs(fields.text("body"), fields.text("body_more"), first_max)


RATING_COMMENT_MAX = 1000  # what core keeps of a rating's comment
RATING_SCORES = ("5", "4", "3", "2", "1")


class RatingForm(discord.ui.Modal):
    """A rating with a comment. The desk takes one rating per closing, so the score and the
    comment are sent together rather than the comment after a score already recorded."""

    def __init__(self, form_id: RatingFormId) -> None:
        super().__init__(title=f"Rate ticket #{form_id.ticket_id}", custom_id=form_id.custom_id)
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


def rating_score(fields: SubmittedFields) -> int:
    """The score chosen in a rating form; 0 (refused by the desk) for anything but one of the
    offered scores."""
    chosen = fields.chosen("score")
    return int(chosen) if chosen in RATING_SCORES else 0
