"""Block Kit renderers: one function per view the Slack adapter shows.

Every function takes a core view (``core.views``) or an outbound message and returns plain
dicts ready for the Web API. User-written text (subjects, messages, names) is escaped with
``adapters.slack.text.escape`` before it goes into mrkdwn; plain_text fields need no escaping.
Action and block ids live here too, so handlers and renderers cannot drift apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.slack.text import (
    BLOCKS_PER_MESSAGE,
    PLAIN_INPUT_LIMIT,
    escape,
    escaped_chunks,
    preview,
    split_plain,
)
from core import guide
from core.models import Category, Status
from core.outbound import Outbound, OutboundKind
from core.rules.sla import TargetState
from core.views import (
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    HelpText,
    IncidentView,
    IntakeForm,
    SelfServiceOffer,
    SupportCenterView,
    TicketCard,
    TicketSummary,
)

Block = dict[str, Any]
View = dict[str, Any]

# ---- ids ------------------------------------------------------------------------------------

INTAKE_CALLBACK = "helpline_intake"
NOTE_CALLBACK = "helpline_note"
PROMPT_CALLBACK = "helpline_prompt"
SNIPPET_CALLBACK = "helpline_snippet"  # private_metadata: the snippet's name
SNIPPET_SEND_CALLBACK = "helpline_snippet_send"  # private_metadata: "channel:thread_ts"
RATE_CALLBACK = "helpline_rate"  # private_metadata: RatingMeta

NEW_TICKET_ACTION = "helpline_new_ticket"
DUP_CONTINUE_ACTION = "helpline_dup_continue"
DUP_CREATE_ACTION = "helpline_dup_create"
SS_SOLVED_ACTION = "helpline_ss_solved"
SS_FILE_ACTION = "helpline_ss_file"
CARD_ASSIGN_ACTION = "helpline_card_assign"
CARD_STATUS_ACTION = "helpline_card_status"
CARD_CATEGORY_ACTION = "helpline_card_category"
CARD_CLOSE_ACTION = "helpline_card_close"
CARD_REOPEN_ACTION = "helpline_card_reopen"
LINK_ACTION = "helpline_link"  # URL buttons still send an action; it is acked and ignored
RATE_ACTION_PREFIX = "helpline_rate_"  # + 1..5; value "ticket:closing:score"
RATE_COMMENT_ACTION = "helpline_rate_comment"  # value "ticket:closing"; opens the rating form

NEW_TICKET_SHORTCUT = "helpline_new_ticket_shortcut"
FILE_MESSAGE_SHORTCUT = "helpline_file_message"
INTERNAL_NOTE_SHORTCUT = "helpline_internal_note"
SEND_SNIPPET_SHORTCUT = "helpline_send_snippet"

# Input blocks of the new-ticket modal; errors are keyed by these block ids.
CATEGORY_BLOCK = "category"
SUBJECT_BLOCK = "subject"
MESSAGE_BLOCK = "message"
MESSAGE_MORE_BLOCK = "message_more"
IMAGE_BLOCK = "image"
NOTE_BLOCK = "note"
SNIPPET_BODY_BLOCK = "snippet_body"
SNIPPET_MORE_BLOCK = "snippet_more"
SNIPPET_PICK_BLOCK = "snippet"
RATING_SCORE_BLOCK = "score"
RATING_COMMENT_BLOCK = "comment"
INPUT_ACTION = "value"  # the action_id of every input element

RATING_COMMENT_MAX = 1000
"""What the desk keeps of a rating's comment."""

FIELD_TO_BLOCK = {
    "category": CATEGORY_BLOCK,
    "subject": SUBJECT_BLOCK,
    "message": MESSAGE_BLOCK,
    "attachment": IMAGE_BLOCK,
    "note": NOTE_BLOCK,
}

_STATUS_MARK = {
    Status.OPEN: ":large_blue_circle:",
    Status.WAITING_ON_CUSTOMER: ":hourglass_flowing_sand:",
    Status.CLOSED: ":white_check_mark:",
}
_OPTION_TEXT_MAX = 75
_IMAGE_TYPES = ["jpg", "jpeg", "png", "gif", "webp"]


# ---- small builders ---------------------------------------------------------------------


def plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None,
           url: str | None = None) -> Block:
    el: Block = {"type": "button", "text": plain(text), "action_id": action_id}
    if value:
        el["value"] = value
    if style:
        el["style"] = style
    if url:
        el["url"] = url
    return el


def option(value: str, text: str, description: str | None = None) -> dict[str, Any]:
    opt: dict[str, Any] = {"text": plain(_clip(text, _OPTION_TEXT_MAX)), "value": value}
    if description:
        opt["description"] = plain(_clip(description, _OPTION_TEXT_MAX))
    return opt


def link(url: str, title: str) -> str:
    """A mrkdwn link; the title is escaped, the URL comes from configuration."""
    return f"<{url}|{escape(title)}>"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _modal(title: str, blocks: list[Block], *, callback_id: str = PROMPT_CALLBACK,
           submit: str | None = None, close: str = "Close", metadata: str = "") -> View:
    view: View = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(_clip(title, 24)),
        "close": plain(close),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit)
    if metadata:
        view["private_metadata"] = metadata
    return view


# ---- Support Center (ephemeral and Home tab) -----------------------------------------------


def ticket_line(t: TicketSummary) -> str:
    urgent = " :red_circle: *URGENT*" if t.urgent else ""
    return (f"{_STATUS_MARK[t.status]} *{t.number}* {escape(t.subject)}{urgent}\n"
            f"{t.status.value} · {t.category.value} · opened {t.created_at:%Y-%m-%d}")


def support_center_blocks(view: SupportCenterView, *, limit: int = 20) -> list[Block]:
    """The customer's Support Center: tickets (most recent first), New ticket, links, plan."""
    badge = "  :star: *Priority Support*" if view.priority_badge else ""
    blocks: list[Block] = [
        section(f"*{escape(view.desk_name)}* — Support Center{badge}"),
    ]
    if view.incident is not None:
        blocks.append(section(
            f":warning: *Active incident:* {escape(view.incident.text)}\n"
            f"We're already on it; a ticket about it won't speed things up. "
            f"{link(view.incident.status_page, 'Status page')}"))
    blocks.append(context(escape(view.plan_notice)))
    blocks.append({"type": "actions", "block_id": "center_actions", "elements": [
        button("New ticket", NEW_TICKET_ACTION, "new", style="primary"),
    ]})
    blocks.append({"type": "divider"})
    if view.tickets:
        blocks.append(section("*Your tickets*"))
        blocks.extend(section(ticket_line(t)) for t in view.tickets[:limit])
        if len(view.tickets) > limit:
            blocks.append(context(f"…and {len(view.tickets) - limit} older. `/support list`"))
    else:
        blocks.append(section("*Your tickets*\nYou have no tickets yet."))
    blocks.append({"type": "divider"})
    links = " · ".join(link(q.url, q.title) for q in view.quick_links)
    if links:
        blocks.append(section(f"*Quick links*\n{links}"))
    blocks.append(context("`/support new` files a ticket · `/support list` lists yours · "
                          "`/support help` says what support can do"))
    return blocks


def home_view(view: SupportCenterView) -> View:
    return {"type": "home", "blocks": support_center_blocks(view)}


def ticket_list_blocks(tickets: list[TicketSummary]) -> list[Block]:
    if not tickets:
        return [section("You have no tickets yet. `/support new` files one.")]
    blocks = [section("*Your tickets* (most recent first)")]
    blocks.extend(section(ticket_line(t)) for t in tickets[: BLOCKS_PER_MESSAGE - 1])
    return blocks


def help_blocks(help: HelpText) -> list[Block]:
    def bullets(items: tuple[str, ...]) -> str:
        return "\n".join(f"• {escape(i)}" for i in items)

    first = "\n".join(f"• {link(x.url, x.title)}" for x in help.self_service_first)
    return [
        section("*`/support`* your Support Center · *`/support new [subject]`* file a ticket · "
                "*`/support list`* your tickets · *`/support transcript N`* post ticket N's "
                "transcript into its thread · *`/support help`* this help"),
        section(f"*What support can do*\n{bullets(help.can)}"),
        section(f"*What support can't do*\n{bullets(help.cant)}"),
        section(f"*Faster via self-service*\n{first}"),
        section(f"*A good ticket has*\n{bullets(help.good_ticket)}"),
        section(f"*Outside support's scope*\n{bullets(help.out_of_scope)}"),
        context(escape(guide.URGENT_HINT)),
    ]


# ---- the new-ticket modal ----------------------------------------------------------------


@dataclass(frozen=True)
class IntakeMeta:
    """The only state a modal carries: where the ticket's thread goes and what it follows."""

    channel_id: str | None = None
    follows: int | None = None

    def dump(self) -> str:
        data = {k: v for k, v in (("c", self.channel_id), ("f", self.follows)) if v}
        return json.dumps(data, separators=(",", ":")) if data else ""

    @classmethod
    def load(cls, raw: str | None) -> IntakeMeta:
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        follows = data.get("f")
        channel = data.get("c")
        return cls(channel_id=channel if isinstance(channel, str) else None,
                   follows=follows if isinstance(follows, int) else None)


def intake_modal(form: IntakeForm, meta: IntakeMeta, *, category: str | None = None,
                 subject: str | None = None, message: str | None = None,
                 notes: dict[str, str] | None = None) -> View:
    """The new-ticket form. ``notes`` (field → text) shows problems found after the modal was
    acknowledged, when inline errors are no longer possible."""
    notes = notes or {}
    subject = form.prefill_subject if subject is None else subject
    message = form.prefill_message if message is None else message
    first, rest = split_plain(message, PLAIN_INPUT_LIMIT)
    blocks: list[Block] = []
    if form.incident is not None:
        blocks.append(section(
            f":warning: *Active incident:* {escape(form.incident.text)} — "
            f"{link(form.incident.status_page, 'status page')}. If this is what you're seeing, "
            "we're already on it."))
    if form.follows_ticket_id:
        blocks.append(context(
            f"This ticket will link your closed ticket #{form.follows_ticket_id}."))
    blocks.append(context(escape(form.plan_notice)))

    select: Block = {
        "type": "static_select",
        "action_id": INPUT_ACTION,
        "placeholder": plain("Pick the one that fits best"),
        "options": [option(c.category.value, c.category.value, c.hint) for c in form.categories],
    }
    if category:
        chosen = next((c for c in form.categories if c.category.value == category), None)
        if chosen is not None:
            select["initial_option"] = option(chosen.category.value, chosen.category.value,
                                              chosen.hint)
    blocks.append(_input(CATEGORY_BLOCK, "Category", select,
                         hint="The right category gets attention faster; a wrong one is fine, "
                              "we route it internally."))
    hints = "\n".join(f"*{c.category.value}* — {escape(c.hint)}" for c in form.categories)
    blocks.append(context(hints))
    _note(blocks, notes, "category")

    subject_el: Block = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "min_length": form.subject_min,
        "max_length": form.subject_max,
        "placeholder": plain("DNS not verifying after 24 hours"),
    }
    if subject:
        subject_el["initial_value"] = subject[: form.subject_max]
    blocks.append(_input(SUBJECT_BLOCK, "Subject", subject_el,
                         hint=f'{form.subject_min}–{form.subject_max} characters. Be specific: '
                              '"DNS not verifying after 24 hours" is better than "Help". '
                              'Add URGENT or BLOCKING only for genuine emergencies.'))
    _note(blocks, notes, "subject")

    message_el: Block = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "multiline": True,
        "max_length": min(PLAIN_INPUT_LIMIT, form.message_max),
        "placeholder": plain("What you were trying to do, what happened, what you tried"),
    }
    if first:
        message_el["initial_value"] = first
    blocks.append(_input(MESSAGE_BLOCK, "Message", message_el,
                         hint=f"{form.message_min}–{form.message_max} characters. Don't share "
                              "passwords or 2FA secrets."))
    _note(blocks, notes, "message")
    more_max = form.message_max - PLAIN_INPUT_LIMIT
    if more_max > 0:
        more_el: Block = {
            "type": "plain_text_input",
            "action_id": INPUT_ACTION,
            "multiline": True,
            "max_length": min(PLAIN_INPUT_LIMIT, more_max),
        }
        if rest:
            more_el["initial_value"] = rest
        blocks.append(_input(MESSAGE_MORE_BLOCK, "Message (continued)", more_el, optional=True,
                             hint="Only if your message is longer than 3000 characters: the "
                                  "rest goes here and is joined to the message."))
    blocks.append(_input(IMAGE_BLOCK, "Screenshot", {
        "type": "file_input",
        "action_id": INPUT_ACTION,
        "filetypes": _IMAGE_TYPES,
        "max_files": 1,
    }, optional=True, hint=f"One image (JPEG, PNG, GIF or WebP), at most {form.max_image_mb:g} MB. "
                            "More images can follow as replies in the ticket's thread."))
    _note(blocks, notes, "attachment")
    good = "\n".join(f"• {escape(p)}" for p in guide.GOOD_TICKET)
    blocks.append(context(f"*A good ticket has*\n{good}"))
    return _modal("New support ticket", blocks, callback_id=INTAKE_CALLBACK, submit="Submit",
                  close="Cancel", metadata=meta.dump())


def _input(block_id: str, label: str, element: Block, *, optional: bool = False,
           hint: str | None = None) -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label),
                    "element": element, "optional": optional}
    if hint:
        block["hint"] = plain(hint)
    return block


def _note(blocks: list[Block], notes: dict[str, str], field: str) -> None:
    if field in notes:
        blocks.append(context(f":warning: {escape(notes[field])}"))


# ---- what replaces the modal after a submit ------------------------------------------------


def duplicate_prompt_view(prompt: DuplicatePrompt, *, metadata: str = "") -> View:
    text = (f"Looks like you have an open ticket about this: "
            f"*'{escape(prompt.ticket_subject)}'* (#{prompt.ticket_id}) "
            "— want to continue that one instead?")
    return _modal("Open ticket found", [
        section(text),
        {"type": "actions", "block_id": "duplicate", "elements": [
            button(f"Continue #{prompt.ticket_id}", DUP_CONTINUE_ACTION, prompt.draft_id,
                   style="primary"),
            button("Create a new ticket", DUP_CREATE_ACTION, prompt.draft_id),
        ]},
        context("Continuing adds what you wrote to that ticket. Duplicate threads on the same "
                "issue slow everyone down."),
    ], metadata=metadata)


def self_service_view(offer: SelfServiceOffer, *, metadata: str = "") -> View:
    blocks: list[Block] = [section(escape(offer.text))]
    for article in offer.articles:
        blocks.append(section(f":books: {link(article.url, article.title)}"))
    blocks.append({"type": "actions", "block_id": "self_service", "elements": [
        button("This solved it", SS_SOLVED_ACTION, offer.draft_id, style="primary"),
        button("File the ticket anyway", SS_FILE_ACTION, offer.draft_id),
    ]})
    blocks.append(context("If you file it, mention what you tried: support can skip past the "
                          "obvious checks."))
    return _modal("Try this first", blocks, metadata=metadata)


def created_view(created: Created, *, where: str) -> View:
    t = created.ticket
    blocks: list[Block] = [
        section(f":white_check_mark: *Ticket {t.number} filed* — {escape(t.subject)}\n"
                f"Status: *{t.status.value}* · Category: {t.category.value}"),
        section(escape(created.next_steps)),
        context(f"The ticket is waiting for you {where}: reply in its thread to add details "
                "or screenshots."),
    ]
    if created.advice:
        tips = "\n".join(f"• {escape(a)}" for a in created.advice)
        blocks.append(section(f"*It may help to add:*\n{tips}"))
    return _modal(f"Ticket {t.number}", blocks, close="Done")


def continued_view(result: Continued) -> View:
    return _modal(f"Ticket #{result.ticket_id}", [
        section(f":white_check_mark: Added to ticket *#{result.ticket_id}* "
                f"(status: {result.status.value}). Follow it in that ticket's thread."),
    ], close="Done")


def deflected_view(_: Deflected) -> View:
    return _modal("Glad it helped", [
        section("Great — no ticket was filed. If the problem comes back, `/support new` is "
                "always there."),
    ], close="Done")


def message_view(title: str, text: str) -> View:
    """A modal that only says something (an expired draft, a storage problem)."""
    return _modal(title, [section(escape(text))])


def note_modal(ticket_id: int, thread_meta: str, prefill: str = "") -> View:
    el: Block = {"type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": True,
                 "max_length": PLAIN_INPUT_LIMIT}
    if prefill:
        el["initial_value"] = prefill[:PLAIN_INPUT_LIMIT]
    return _modal(f"Internal note #{ticket_id}", [
        context(":lock: Staff only: this note is stored on the ticket and never sent to the "
                "customer."),
        _input(NOTE_BLOCK, "Note", el),
    ], callback_id=NOTE_CALLBACK, submit="Save note", close="Cancel", metadata=thread_meta)


# ---- the staff card --------------------------------------------------------------------------


def card_message(card: TicketCard) -> tuple[str, list[Block]]:
    """(notification text, blocks) of a ticket's staff card."""
    urgent = ":red_circle: *URGENT* · " if card.urgent else ""
    fallback = f"{'URGENT · ' if card.urgent else ''}{card.number} {preview(card.subject)}"
    customer = (f"{escape(card.customer)} ({card.customer_platform}"
                f"{':' + escape(card.workspace) if card.workspace else ''})")
    fields = [
        mrkdwn(f"*Status*\n{_STATUS_MARK[card.status]} {card.status.value}"),
        mrkdwn(f"*Category*\n{card.category.value}"),
        mrkdwn(f"*Plan*\n{card.plan.value} · {escape(card.priority_label)}"),
        mrkdwn(f"*Customer*\n{customer}"),
        mrkdwn(f"*Account*\n{escape(card.account)}"),
        mrkdwn(f"*Assignee*\n{escape(card.assignee) if card.assignee else '_nobody_'}"),
        mrkdwn(f"*Opened*\n{card.created_at:%Y-%m-%d %H:%M} UTC"),
        mrkdwn(f"*Messages*\n{card.message_count}"),
    ]
    target = target_text(card.response_due_at, card.target_state)
    if target:
        fields.append(mrkdwn(f"*Response target*\n{target}"))
    if card.rating is not None:
        fields.append(mrkdwn(f"*Rating*\n{rating_text(card.rating, card.rating_comment)}"))
    blocks: list[Block] = [
        section(f"{urgent}*{card.number}* — *{escape(card.subject)}*"),
        {"type": "section", "fields": fields},
    ]
    notes: list[str] = []
    if card.escalated_from:
        notes.append(f":arrow_up: escalated from #{card.escalated_from} by a White Label Lite "
                     "account's own support team")
    if card.possible_duplicate_of:
        notes.append(
            f":twisted_rightwards_arrows: possible duplicate of #{card.possible_duplicate_of}")
    if card.follows_ticket_id:
        notes.append(f":link: follows closed ticket #{card.follows_ticket_id}")
    if card.offered_articles:
        notes.append(":books: articles offered before filing: "
                     + ", ".join(escape(a) for a in card.offered_articles) + " (filed anyway)")
    if card.reopen_count:
        notes.append(f":repeat: reopened {card.reopen_count}×")
    for name, values in card.details.items():
        notes.append(f"*{name.replace('_', ' ')}*: " + ", ".join(escape(v) for v in values))
    if notes:
        blocks.append(section("\n".join(notes)[:3000]))
    value = str(card.id)
    close = (button("Reopen", CARD_REOPEN_ACTION, value) if card.status is Status.CLOSED
             else button("Close", CARD_CLOSE_ACTION, value, style="danger"))
    blocks.append({"type": "actions", "block_id": f"card_{card.id}", "elements": [
        button("Assign to me", CARD_ASSIGN_ACTION, value),
        {"type": "static_select", "action_id": CARD_STATUS_ACTION,
         "placeholder": plain("Status"),
         "initial_option": option(f"{card.id}:{card.status.value}", card.status.value),
         "options": [option(f"{card.id}:{s.value}", s.value) for s in Status]},
        {"type": "static_select", "action_id": CARD_CATEGORY_ACTION,
         "placeholder": plain("Category"),
         "initial_option": option(f"{card.id}:{card.category.value}", card.category.value),
         "options": [option(f"{card.id}:{c.value}", c.value) for c in Category]},
        close,
    ]})
    blocks.append(context("Reply in this thread to answer the customer (each reply that went "
                          "out gets :white_check_mark:). Start with `note:` to keep it "
                          "internal, or use the *Internal note* shortcut."))
    return fallback, blocks


# ---- messages in threads ---------------------------------------------------------------------


def outbound_message(message: Outbound, desk_name: str) -> tuple[str, list[Block]]:
    """(notification text, blocks) for a relay, a notice or a ticket's first message. The whole
    text is kept: long text becomes several section blocks of at most 3000 characters."""
    chunks = escaped_chunks(message.text)
    if message.ping_group:
        # The one ping the desk allows itself: the on-call user group, on an urgent ticket.
        chunks = [f"<!subteam^{message.ping_group}> {chunks[0]}", *chunks[1:]]
    if message.kind is OutboundKind.RELAY:
        who = escape(message.author or "someone")
        header = (f"*{who}* · {escape(desk_name)}" if message.author_is_staff
                  else f"*{who}* (customer) wrote:")
        fallback = f"{who}: {escape(preview(message.text))}"
    elif message.kind is OutboundKind.TICKET_OPENED:
        header = f":ticket: *{escape(desk_name)}*"
        fallback = escape(preview(message.text))
    else:
        header = f":information_source: *{escape(desk_name)}*"
        fallback = escape(preview(message.text))
    blocks: list[Block] = [context(header)]
    blocks.extend(section(chunk) for chunk in chunks if chunk)
    if message.kind is OutboundKind.RATING_REQUEST:
        closing = message.rating_closing or 0
        blocks.append({"type": "actions", "block_id": f"rate_{message.ticket_id}_{closing}",
                       "elements": [
                           button(label, f"{RATE_ACTION_PREFIX}{score}",
                                  f"{message.ticket_id}:{closing}:{score}")
                           for score, label in ((1, "1 · poor"), (2, "2"), (3, "3"), (4, "4"),
                                                (5, "5 · great"))] + [
                           button("Rate with a comment…", RATE_COMMENT_ACTION,
                                  f"{message.ticket_id}:{closing}")]})
    return fallback, blocks


# ---- running the desk: response targets, ratings, queue, snippets, incidents ----------------


def slack_date(at: datetime) -> str:
    """Slack's date markup: each reader sees the time in their own time zone; the fallback
    (old clients, notifications) is UTC."""
    return (f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|"
            f"{at:%Y-%m-%d %H:%M} UTC>")


def span(delta: timedelta) -> str:
    """A duration as people say it in a queue: "2d 3h", "4h 05m", "12m"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def target_text(due_at: datetime | None, state: str, now: datetime | None = None) -> str:
    """How a ticket stands against its response target; empty when it has none (Nano, or
    nothing awaits the support team). With ``now`` (a one-off answer such as the queue) the
    time left is spelled out; the card, which stays on screen, only names the due time."""
    if due_at is None or state not in (TargetState.ON_TRACK, TargetState.NEARING,
                                       TargetState.BREACHED):
        return ""
    when = slack_date(due_at)
    if state == TargetState.BREACHED:
        late = f" ({span(now - due_at)} late)" if now is not None else ""
        return f":fire: breached — was due {when}{late}"
    left = f" (in {span(due_at - now)})" if now is not None else ""
    if state == TargetState.NEARING:
        return f":warning: nearing — due {when}{left}"
    return f"due {when}{left}"


def rating_text(score: int, comment: str = "") -> str:
    text = f"{'★' * score}{'☆' * (5 - score)} {score}/5"
    return f"{text}\n“{escape(_clip(comment, 1500))}”" if comment else text


QUEUE_LINES = 40
"""Tickets shown in one queue answer (a message holds 50 blocks; the rest is counted)."""


def queue_blocks(tickets: list[TicketSummary], *, scope: str, now: datetime) -> list[Block]:
    """The staff queue in the desk's order (urgent, plan, age): status, assignee and how each
    ticket stands against its response target."""
    blocks: list[Block] = [section(f"*Queue — {escape(scope)}*")]
    if not tickets:
        blocks.append(section("Nothing waiting here. :tada:"))
        return blocks
    for t in tickets[:QUEUE_LINES]:
        urgent = " :red_circle: *URGENT*" if t.urgent else ""
        parts = [t.status.value, t.plan.value, t.category.value,
                 escape(t.assignee) if t.assignee else "_unassigned_",
                 f"opened {span(now - t.created_at)} ago"]
        target = target_text(t.response_due_at, t.target_state, now)
        if target:
            parts.append(target)
        blocks.append(section(f"{_STATUS_MARK[t.status]} *{t.number}*{urgent} "
                              f"{escape(preview(t.subject, 100))}\n" + " · ".join(parts)))
    if len(tickets) > QUEUE_LINES:
        blocks.append(context(f"…and {len(tickets) - QUEUE_LINES} more: narrow it with a "
                              "filter (a category, a plan, `mine`, `unassigned`)."))
    blocks.append(context(f"{len(tickets)} ticket(s) · urgent first, then plan (Agency, Pro, "
                          "Starter, Nano), then oldest"))
    return blocks


def snippet_list_blocks(snippets: list[tuple[str, str]]) -> list[Block]:
    if not snippets:
        return [section("No snippets yet. Add one with `/support snippet add NAME TEXT` (or "
                        "`/support snippet add NAME` for a form); `{customer}`, `{ticket}` "
                        "and `{agent}` are filled in when it is sent.")]
    blocks: list[Block] = [section("*Snippets*")]
    shown = snippets[: BLOCKS_PER_MESSAGE - 3]
    blocks.extend(section(f"*{escape(name)}* — {escape(preview(body, 200))}")
                  for name, body in shown)
    if len(snippets) > len(shown):
        blocks.append(context(f"…and {len(snippets) - len(shown)} more"))
    blocks.append(context("Send one with `/support snippet send NAME N` (N: the ticket), or "
                          "*Send snippet* from the message menu in a ticket's staff thread."))
    return blocks


def snippet_modal(name: str, current: str, max_length: int) -> View:
    """A form for a snippet of several lines (slash command text is one line). Two inputs when
    the message limit is over Slack's 3000 characters, joined again on submit."""
    first, rest = split_plain(current, PLAIN_INPUT_LIMIT)
    body: Block = {"type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": True,
                   "max_length": min(PLAIN_INPUT_LIMIT, max_length)}
    if first:
        body["initial_value"] = first
    blocks: list[Block] = [
        context(f"Snippet `{escape(name)}`. `{{customer}}`, `{{ticket}}` and `{{agent}}` are "
                "filled in when it is sent."),
        _input(SNIPPET_BODY_BLOCK, "Text", body),
    ]
    more_max = max_length - PLAIN_INPUT_LIMIT
    if more_max > 0:
        more: Block = {"type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": True,
                       "max_length": min(PLAIN_INPUT_LIMIT, more_max)}
        if rest:
            more["initial_value"] = rest
        blocks.append(_input(SNIPPET_MORE_BLOCK, "Text (continued)", more, optional=True,
                             hint="Only past 3000 characters: joined to the text above."))
    return _modal(f"Snippet {name}", blocks, callback_id=SNIPPET_CALLBACK, submit="Save",
                  close="Cancel", metadata=name)


SNIPPET_OPTIONS_MAX = 100
"""Options in one static_select (Slack's limit)."""


def snippet_send_modal(ticket_id: int, snippets: list[tuple[str, str]], thread_meta: str) -> View:
    """Pick a snippet to send to the customer of the staff thread the shortcut was used in."""
    if not snippets:
        return message_view("Send snippet", "No snippets yet. Add one with /support snippet "
                                            "add NAME TEXT.")
    select: Block = {
        "type": "static_select",
        "action_id": INPUT_ACTION,
        "placeholder": plain("Pick a snippet"),
        "options": [option(name, name, " ".join(body.split()))
                    for name, body in snippets[:SNIPPET_OPTIONS_MAX]],
    }
    return _modal(f"Snippet to #{ticket_id}", [
        context(f"Sent to the customer of ticket #{ticket_id} as your reply, with "
                "`{customer}`, `{ticket}` and `{agent}` filled in."),
        _input(SNIPPET_PICK_BLOCK, "Snippet", select),
    ], callback_id=SNIPPET_SEND_CALLBACK, submit="Send", close="Cancel", metadata=thread_meta)


@dataclass(frozen=True)
class RatingMeta:
    """What the rating form carries: the ticket, its closing, and the rating request's
    response_url so the buttons can make way for the thanks, as a button press does."""

    ticket_id: int
    closing: int
    response_url: str = ""

    def dump(self) -> str:
        return json.dumps({"t": self.ticket_id, "c": self.closing, "u": self.response_url},
                          separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> RatingMeta:
        data = json.loads(raw or "{}")
        return cls(int(data["t"]), int(data["c"]), str(data.get("u") or ""))


def rating_modal(meta: RatingMeta) -> View:
    """A score with a comment. The desk takes one rating per closing, so both are sent
    together rather than a comment after a score already recorded."""
    scores = [option(str(n), f"{n} · {word}") for n, word in (
        (5, "great"), (4, "good"), (3, "okay"), (2, "not good"), (1, "poor"))]
    return _modal(f"Rate ticket #{meta.ticket_id}", [
        _input(RATING_SCORE_BLOCK, "How did we do?",
               {"type": "radio_buttons", "action_id": INPUT_ACTION, "options": scores}),
        _input(RATING_COMMENT_BLOCK, "Comment", {
            "type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": True,
            "max_length": RATING_COMMENT_MAX,
            "placeholder": plain("What went well, what could be better")}, optional=True),
    ], callback_id=RATE_CALLBACK, submit="Rate", close="Cancel", metadata=meta.dump())


def incident_started_text(incident: IncidentView) -> str:
    status_page = link(incident.status_page, "the status page")
    return (f":mega: Incident started: *{escape(incident.text)}*\nCustomers now see it in the "
            f"Support Center and before they file, with {status_page}. End it with "
            "`/support incident end`.")


def staff_help_blocks() -> list[Block]:
    """The staff's commands, shown under `/support help` to staff only."""
    return [
        {"type": "divider"},
        section("*Running the desk* (support team only)\n"
                "• `/support queue [category | plan | mine | unassigned]` the open and waiting "
                "tickets: urgent first, then plan, then oldest\n"
                "• `/support snippet add NAME [TEXT]` · `list` · `send NAME N` · `delete NAME` "
                "canned replies; `{customer}`, `{ticket}`, `{agent}` are filled in\n"
                "• `/support incident start TEXT` · `end` the notice customers see before they "
                "file\n"
                "• `/support escalate N` hand a White Label Lite account's ticket to the "
                "provider\n"
                "• Message menu in a ticket's staff thread: *Send snippet*, *Internal note*"),
    ]
