"""Renderers: one function per core view, turning it into what Discord shows (an embed, message
text, and the buttons that go with it). Pure functions of the view; no I/O.

Buttons carry only small ids in their custom_id (``helpline:<action>:<id>``); the state they
refer to (drafts, tickets) lives in the database. ``adapters.discord.components`` handles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import discord

from adapters.discord.components import ActionButton, ActionSelect, view_of
from adapters.discord.text import EMBED_DESCRIPTION_LIMIT, EMBED_FIELD_LIMIT, clip
from core.errors import FieldError
from core.models import Status
from core.views import (
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    HelpText,
    IncidentView,
    Rejected,
    SelfServiceOffer,
    SupportCenterView,
    TicketCard,
    TicketSummary,
)

STATUS_COLOURS = {
    Status.OPEN: discord.Colour.blue(),
    Status.WAITING_ON_CUSTOMER: discord.Colour.gold(),
    Status.CLOSED: discord.Colour.dark_grey(),
}
URGENT_COLOUR = discord.Colour.red()
FIELD_NAMES = {
    "category": "Category",
    "subject": "Subject",
    "message": "Message",
    "attachment": "Image",
    "reply": "Reply",
}

# actions in custom_ids (see adapters.discord.components)
CONTINUE = "continue"
CREATE = "create"
SOLVED = "solved"
FILE_ANYWAY = "file"
NEW_FOLLOWING = "follow"
NEW_TICKET = "new"
CARD_ASSIGN = "assign"
CARD_STATUS = "status"
CARD_CATEGORY = "category"
CARD_CLOSE = "close"
SET_STATUS = "set-status"
SET_CATEGORY = "set-category"
RATE = "rate"
RATE_COMMENT = "rate-comment"
RESUBMIT = "resubmit"
SCORES = range(1, 6)

# core.rules.sla.TargetState values, as the card and the queue show them
TARGET_ON_TRACK = "on track"
TARGET_NEARING = "nearing target"
TARGET_BREACHED = "target breached"
QUEUE_LINES = 25


@dataclass
class Rendered:
    """A message to send: content, embeds and buttons (any may be empty)."""

    content: str = ""
    embeds: list[discord.Embed] | None = None
    view: discord.ui.View | None = None

    def kwargs(self) -> dict[str, object]:
        """Keyword arguments for send/edit; ``view=None`` on edit removes old buttons."""
        return {"content": self.content or None, "embeds": self.embeds or [], "view": self.view}


_button = ActionButton.make
_view = view_of


def _links(links: list[tuple[str, str]]) -> str:
    return "\n".join(f"• [{title}]({url})" for title, url in links)


def incident_line(incident: IncidentView) -> str:
    return (f"⚠️ **Active incident:** {incident.text}\nCheck {incident.status_page} before "
            "filing — we're already on it, and a ticket about it won't speed things up.")


# ---- customer ---------------------------------------------------------------------------------


def support_center(view: SupportCenterView) -> Rendered:
    title = f"{view.desk_name} — Support Center"
    if view.priority_badge:
        title += " ★ Priority Support"
    parts: list[str] = []
    if view.incident:
        parts.append(incident_line(view.incident))
    parts.append(view.plan_notice)
    embed = discord.Embed(title=clip(title, 256), description="\n\n".join(parts),
                          colour=discord.Colour.blurple())
    embed.add_field(name="Your tickets (most recent first)",
                    value=_ticket_lines(view.tickets), inline=False)
    embed.add_field(name="Quick links",
                    value=clip(_links([(ln.title, ln.url) for ln in view.quick_links]),
                               EMBED_FIELD_LIMIT) or "—", inline=False)
    embed.add_field(name="Faster with self-service",
                    value=clip(_links([(ln.title, ln.url) for ln in view.help.self_service_first]),
                               EMBED_FIELD_LIMIT) or "—", inline=False)
    buttons = _view(_button("New ticket", NEW_TICKET, 0, discord.ButtonStyle.primary))
    buttons.add_item(discord.ui.Button(label="Status page", url=view.status_page))
    return Rendered(embeds=[embed], view=buttons)


def _ticket_lines(tickets: list[TicketSummary]) -> str:
    if not tickets:
        return "No tickets yet. Use **New ticket** or `/support new`."
    lines: list[str] = []
    used = 0
    for t in tickets:
        urgent = " 🔴" if t.urgent else ""
        line = f"`{t.number}` **{t.status}**{urgent} — {clip(t.subject, 80)}"
        if used + len(line) + 1 > EMBED_FIELD_LIMIT - 20:
            lines.append(f"…and {len(tickets) - len(lines)} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def ticket_list(tickets: list[TicketSummary]) -> Rendered:
    embed = discord.Embed(title="Your tickets (most recent first)",
                          description=_ticket_lines(tickets), colour=discord.Colour.blurple())
    return Rendered(embeds=[embed])


def help_text(help: HelpText, desk_name: str) -> Rendered:
    embed = discord.Embed(title=f"{desk_name} — how support works",
                          colour=discord.Colour.blurple())
    embed.description = clip(
        "File a ticket with `/support new` (or right-click a message → Apps → **File as a "
        "ticket**). Your ticket gets a private thread here; reply there to add details or "
        "screenshots. `/support list` shows your tickets, `/support center` the Support Center.",
        EMBED_DESCRIPTION_LIMIT)
    embed.add_field(name="What makes a good ticket",
                    value=clip("\n".join(f"• {g}" for g in help.good_ticket), EMBED_FIELD_LIMIT),
                    inline=False)
    embed.add_field(name="Faster with self-service",
                    value=clip(_links([(ln.title, ln.url) for ln in help.self_service_first]),
                               EMBED_FIELD_LIMIT), inline=False)
    embed.add_field(name="Support can",
                    value=clip("\n".join(f"• {c}" for c in help.can), EMBED_FIELD_LIMIT),
                    inline=False)
    embed.add_field(name="Support can't",
                    value=clip("\n".join(f"• {c}" for c in help.cant), EMBED_FIELD_LIMIT),
                    inline=False)
    embed.add_field(name="Outside support scope",
                    value=clip("\n".join(f"• {c}" for c in help.out_of_scope), EMBED_FIELD_LIMIT),
                    inline=False)
    return Rendered(embeds=[embed])


def rejected(result: Rejected, *, subject: str, reopen: discord.ui.View | None) -> Rendered:
    """The problems a modal could not show inline. ``reopen`` holds a button that opens the
    form again, filled in with what the customer typed."""
    lines = ["**Nothing was filed yet** — please fix this and submit again:"]
    lines += [_field_error(e) for e in result.errors]
    if subject:
        lines.append(f"\nYour subject and message are kept for an hour: **Edit and resubmit** "
                     f"opens the form filled in (subject: “{clip(subject, 100)}”).")
    return Rendered(content=clip("\n".join(lines), 2000), view=reopen)


def resubmit_view(refused: int, follows: int | None) -> discord.ui.View:
    """Edit and resubmit, under a refused form: ``refused`` is the submit whose values the
    adapter holds; the ticket it follows stays in the id for a fresh start once they are gone."""
    return _view(_button("Edit and resubmit", RESUBMIT, f"{refused}:{follows or 0}",
                         discord.ButtonStyle.primary))


FORM_EXPIRED = ("This form has expired: Helpline was restarted (or an hour has passed) since you "
                "submitted it, so what you typed is no longer kept, and nothing was filed. "
                "Please start again with the button below, or `/support new`.")


def form_expired(follows: int | None) -> Rendered:
    """The answer to Edit and resubmit once what the form held is gone."""
    if follows:
        return Rendered(content=FORM_EXPIRED, view=follow_up_view(follows))
    return Rendered(content=FORM_EXPIRED, view=_view(
        _button("New ticket", NEW_TICKET, 0, discord.ButtonStyle.primary)))


def _field_error(error: FieldError) -> str:
    return f"• **{FIELD_NAMES.get(error.field, error.field.title())}:** {error.message}"


def duplicate_prompt(prompt: DuplicatePrompt) -> Rendered:
    return Rendered(
        content=prompt.text,
        view=_view(
            _button(f"Continue #{prompt.ticket_id}", CONTINUE, prompt.draft_id,
                    discord.ButtonStyle.primary),
            _button("Create a new ticket", CREATE, prompt.draft_id,
                    discord.ButtonStyle.secondary),
        ),
    )


def self_service_offer(offer: SelfServiceOffer) -> Rendered:
    view = _view()
    for article in offer.articles[:3]:
        view.add_item(discord.ui.Button(label=clip(f"📄 {article.title}", 80), url=article.url,
                                        row=0))
    view.add_item(_button("This solved it", SOLVED, offer.draft_id, discord.ButtonStyle.success))
    view.add_item(_button("File the ticket anyway", FILE_ANYWAY, offer.draft_id,
                          discord.ButtonStyle.secondary))
    body = "\n".join([offer.text, *(f"• [{a.title}]({a.url})" for a in offer.articles)])
    return Rendered(content=clip(body, 2000), view=view)


def created(result: Created, *, thread_note: str, incident: IncidentView | None = None) -> Rendered:
    t = result.ticket
    lines = [f"✅ **Ticket {t.number} created:** {t.subject} — *{t.status}*", result.next_steps]
    if thread_note:
        lines.append(thread_note)
    for tip in result.advice:
        lines.append(f"💡 {tip}")
    if incident:
        lines.append(incident_line(incident))
    return Rendered(content=clip("\n".join(lines), 2000))


def continued(result: Continued) -> Rendered:
    return Rendered(content=f"✅ Added to ticket #{result.ticket_id} (*{result.status}*). "
                            "Follow it in that ticket's thread.")


def deflected(_: Deflected) -> Rendered:
    return Rendered(content="Glad that solved it. No ticket was filed — `/support new` is here "
                            "if it comes back.")


# ---- staff ------------------------------------------------------------------------------------


def card(card: TicketCard) -> Rendered:
    """The staff card: everything about the ticket at a glance, with the staff's buttons.
    Status lives here (and in the database), never in channel or thread names."""
    urgent = "🔴 URGENT · " if card.urgent else ""
    embed = discord.Embed(
        title=clip(f"{urgent}{card.number} {card.subject}", 256),
        colour=URGENT_COLOUR if card.urgent and card.status is not Status.CLOSED
        else STATUS_COLOURS[card.status],
        timestamp=card.created_at,
    )
    embed.add_field(name="Status", value=card.status.value)
    embed.add_field(name="Category", value=card.category.value)
    embed.add_field(name="Priority", value=f"{card.plan.value} · {card.priority_label}")
    embed.add_field(name="Customer",
                    value=clip(f"{card.customer} ({card.customer_platform}:{card.workspace})",
                               EMBED_FIELD_LIMIT))
    embed.add_field(name="Account", value=clip(card.account, EMBED_FIELD_LIMIT) or "—")
    embed.add_field(name="Assignee", value=card.assignee or "nobody")
    target = target_text(card.response_due_at, card.target_state)
    if target:
        embed.add_field(name="Response target", value=target)
    if card.rating is not None:
        embed.add_field(name="Rating", value=clip(rating_text(card.rating, card.rating_comment),
                                                  EMBED_FIELD_LIMIT))
    notes: list[str] = []
    if card.escalated_from:
        notes.append(f"Escalated from #{card.escalated_from} (White Label Lite account's "
                     "own support team)")
    if card.possible_duplicate_of:
        notes.append(f"Possible duplicate of #{card.possible_duplicate_of}")
    if card.follows_ticket_id:
        notes.append(f"Follows closed ticket #{card.follows_ticket_id}")
    if card.offered_articles:
        notes.append(f"Filed after these articles were offered: {', '.join(card.offered_articles)}")
    if card.reopen_count:
        notes.append(f"Reopened {card.reopen_count}×")
    for name, values in card.details.items():
        notes.append(f"{name.replace('_', ' ').capitalize()}: {', '.join(values)}")
    if notes:
        embed.add_field(name="Details", value=clip("\n".join(notes), EMBED_FIELD_LIMIT),
                        inline=False)
    embed.set_footer(text=f"{card.message_count} message(s) · reply in this card's thread; "
                          "start a message with note: to keep it internal")
    closed = card.status is Status.CLOSED
    view = _view(
        _button("Assign to me", CARD_ASSIGN, card.id, discord.ButtonStyle.primary),
        _button("Status", CARD_STATUS, card.id, discord.ButtonStyle.secondary),
        _button("Category", CARD_CATEGORY, card.id, discord.ButtonStyle.secondary),
        _button("Close", CARD_CLOSE, card.id, discord.ButtonStyle.danger, disabled=closed),
    )
    return Rendered(embeds=[embed], view=view)


def status_picker(ticket_id: int, current: Status | None = None) -> Rendered:
    select = ActionSelect.make(
        SET_STATUS, ticket_id, placeholder="New status",
        options=[discord.SelectOption(label=s.value, value=s.value, default=s is current)
                 for s in Status],
    )
    return Rendered(content=f"Set the status of #{ticket_id}:", view=_view(select))


def category_picker(ticket_id: int, categories: list[tuple[str, str]]) -> Rendered:
    select = ActionSelect.make(
        SET_CATEGORY, ticket_id, placeholder="New category",
        options=[discord.SelectOption(label=name, value=name, description=clip(hint, 100))
                 for name, hint in categories],
    )
    return Rendered(content=f"Move #{ticket_id} to another category:", view=_view(select))


def follow_up_view(ticket_id: int) -> discord.ui.View:
    """Under a refused reply to a long-closed ticket: a new ticket that links the old one."""
    return _view(_button("Open a new ticket", NEW_FOLLOWING, ticket_id,
                         discord.ButtonStyle.primary))


def _timestamp(at: datetime, style: str) -> str:
    """Discord's timestamp markup: each reader sees it in their own time zone, and the relative
    style (``R``) stays current without editing the message."""
    return f"<t:{int(at.timestamp())}:{style}>"


def target_text(due_at: datetime | None, state: str) -> str:
    """How a ticket stands against its response target; empty when it has none (Nano, or
    nothing awaits the support team)."""
    if due_at is None or state not in (TARGET_ON_TRACK, TARGET_NEARING, TARGET_BREACHED):
        return ""
    if state == TARGET_BREACHED:
        return f"🔥 breached — was due {_timestamp(due_at, 'R')}"
    if state == TARGET_NEARING:
        return f"⚠️ nearing — due {_timestamp(due_at, 'R')} ({_timestamp(due_at, 'f')})"
    return f"due {_timestamp(due_at, 'R')} ({_timestamp(due_at, 'f')})"


def rating_text(score: int, comment: str = "") -> str:
    stars = "★" * score + "☆" * (5 - score)
    text = f"{stars} {score}/5"
    return f"{text}\n“{comment}”" if comment else text


def rating_request(ticket_id: int, closing: int) -> discord.ui.View:
    """The buttons under "how did we do?": one per score, and one that opens a form for a
    score with a comment. Their ids name the closing, so a reopened and closed again ticket
    is rated again, once per closing."""
    view = _view(*(
        _button(str(score), RATE, f"{ticket_id}:{closing}:{score}",
                discord.ButtonStyle.success if score >= 4 else discord.ButtonStyle.secondary,
                row=0)
        for score in SCORES
    ))
    view.add_item(_button("Rate with a comment…", RATE_COMMENT, f"{ticket_id}:{closing}",
                          discord.ButtonStyle.primary, row=1))
    return view


def queue(tickets: list[TicketSummary], *, scope: str) -> Rendered:
    """The staff queue in the desk's order (urgent, plan, age): status, assignee and the
    response target of each ticket."""
    title = f"Queue — {scope}" if scope else "Queue"
    if not tickets:
        embed = discord.Embed(title=title, description="Nothing waiting here. 🎉",
                              colour=discord.Colour.blurple())
        return Rendered(embeds=[embed])
    lines: list[str] = []
    used = 0
    for t in tickets:
        line = _queue_line(t)
        if len(lines) == QUEUE_LINES or used + len(line) + 1 > EMBED_DESCRIPTION_LIMIT - 80:
            lines.append(f"…and {len(tickets) - len(lines)} more: narrow it with the filters.")
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(title=title, description="\n".join(lines),
                          colour=discord.Colour.blurple())
    embed.set_footer(text=f"{len(tickets)} ticket(s) · urgent first, then plan, then oldest")
    return Rendered(embeds=[embed])


def _queue_line(t: TicketSummary) -> str:
    urgent = "🔴 " if t.urgent else ""
    parts = [f"`{t.number}` {urgent}**{t.status}**", t.plan.value, t.assignee or "unassigned"]
    target = target_text(t.response_due_at, t.target_state)
    if target:
        parts.append(target)
    return " · ".join(parts) + f" — {clip(t.subject, 70)}"


def snippet_list(snippets: list[tuple[str, str]]) -> Rendered:
    if not snippets:
        text = ("No snippets yet. Add one with `/support snippet add`; {customer}, {ticket} and "
                "{agent} are filled in when it is sent.")
        return Rendered(embeds=[discord.Embed(title="Snippets", description=text,
                                              colour=discord.Colour.blurple())])
    lines: list[str] = []
    used = 0
    for name, body in snippets:
        preview = " ".join(body.split())
        line = f"**{name}** — {clip(preview, 90)}"
        if used + len(line) + 1 > EMBED_DESCRIPTION_LIMIT - 80:
            lines.append(f"…and {len(snippets) - len(lines)} more")
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(title="Snippets", description="\n".join(lines),
                          colour=discord.Colour.blurple())
    embed.set_footer(text="Send one in a ticket's staff thread: /support snippet send NAME")
    return Rendered(embeds=[embed])
