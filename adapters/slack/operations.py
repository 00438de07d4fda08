"""Running the desk from Slack: the staff's ``/support queue``, ``snippet``, ``incident`` and
``escalate`` commands and the *Send snippet* message shortcut, and the customer's
``/support transcript N`` and rating form. Each translates one Slack request into
``SupportDesk`` calls and answers it; like the rest of the adapter it holds no rule of its own
beyond who may ask (the staff check) and where (which thread or channel it is used in).

Slash commands carry no ``thread_ts``, so a command cannot know the staff thread it was typed
under: commands that act on a ticket take its number (``snippet send NAME N``,
``escalate N``, ``transcript N``), and the *Send snippet* shortcut, used on a message in a
ticket's staff thread, covers "this ticket" and announces what went out in that thread.

Answers are ephemeral, except an escalation run in the account's own staff channel, which the
channel sees."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks as ui
from adapters.slack.text import PLAIN_INPUT_LIMIT, escape, from_slack_markup, join_message
from core.config import AccountConfig
from core.errors import HelplineError, ValidationFailed
from core.models import Actor, Category, Destination, Identity, Plan, Platform, Status, ThreadRef
from core.outbound import Outbound, OutboundKind
from core.outbox import Side
from core.service import SupportDesk, TicketFilter
from core.views import ReplyRefused

if TYPE_CHECKING:
    from adapters.slack.handlers import SlackHandlers

log = logging.getLogger("helpline.slack")

JSON = dict[str, Any]

COMMANDS = frozenset({"queue", "snippet", "snippets", "incident", "transcript", "escalate"})
"""The `/support` words handled here."""

MINE = "mine"
UNASSIGNED = "unassigned"
QUEUE_STATUSES = (Status.OPEN, Status.WAITING_ON_CUSTOMER)

SNIPPET_USAGE = ("`/support snippet add NAME TEXT` (or `add NAME` for a form) · "
                 "`/support snippet list` · `/support snippet send NAME N` (N: the ticket) · "
                 "`/support snippet delete NAME`. In a ticket's staff thread, *Send snippet* "
                 "from a message's menu sends one to that ticket.")
INCIDENT_USAGE = "`/support incident start TEXT` · `/support incident end`"


def staff_only(command: str) -> str:
    return (f"Only the support team can use `{command}`. If you need help, use `/support new`, "
            "or `/support` to see your tickets.")


def ticket_number(raw: str) -> int | None:
    """``12`` or ``#12``; None when it is not a ticket number."""
    raw = raw.strip().removeprefix("#")
    return int(raw) if raw.isdigit() else None


@dataclass(frozen=True)
class Command:
    """One `/support WORD …` request, as the operations need it."""

    word: str
    rest: str  # the words after WORD, as Slack sent them (escaped)
    team: str
    user_id: str
    user_name: str
    channel_id: str
    trigger_id: str
    client: AsyncWebClient
    respond: AsyncRespond

    async def answer(self, text: str, blocks: list[ui.Block] | None = None, *,
                     public: bool = False) -> None:
        kwargs: dict[str, Any] = {"text": text,
                                  "response_type": "in_channel" if public else "ephemeral"}
        if blocks is not None:
            kwargs["blocks"] = blocks
        await self.respond(**kwargs)


class DeskOperations:
    """The desk-operation requests. Shares identity, the staff check and the transport with
    ``SlackHandlers``, which owns it."""

    def __init__(self, handlers: SlackHandlers) -> None:
        self.handlers = handlers

    @property
    def desk(self) -> SupportDesk:
        return self.handlers.desk

    async def _staff(self, cmd: Command, command: str) -> Actor | None:
        """The staff member using ``command``, or None once anyone else has been refused."""
        actor = await self.handlers.actor(cmd.client, cmd.team, cmd.user_id, cmd.user_name)
        if not actor.is_staff:
            await cmd.answer(staff_only(command))
            return None
        return actor

    async def command(self, cmd: Command) -> None:
        """`/support queue|snippet|incident|transcript|escalate …`; domain errors reach the
        caller, which answers them privately."""
        if cmd.word == "queue":
            await self.queue(cmd)
        elif cmd.word in ("snippet", "snippets"):
            await self.snippet(cmd)
        elif cmd.word == "incident":
            await self.incident(cmd)
        elif cmd.word == "transcript":
            await self.transcript(cmd)
        else:
            await self.escalate(cmd)

    # ---- the queue ------------------------------------------------------------------------------

    async def queue(self, cmd: Command) -> None:
        actor = await self._staff(cmd, "/support queue")
        if actor is None:
            return
        category: Category | None = None
        plan: Plan | None = None
        assignee: str | None = None
        for word in cmd.rest.lower().split():
            if word in (MINE, UNASSIGNED):
                assignee = word
                continue
            found_plan = next((p for p in Plan if p.value.lower() == word), None)
            if found_plan is not None:
                plan = found_plan
                continue
            try:
                category = Category.parse(word)
            except ValueError:
                await cmd.answer(
                    f"`{escape(word)}` is not a queue filter. Use a category "
                    f"({', '.join(c.value for c in Category)}), a plan "
                    f"({', '.join(p.value for p in Plan)}), `mine` or `unassigned`.")
                return
        flt = TicketFilter(
            status=list(QUEUE_STATUSES), category=category, plan=plan,
            assignee=actor.identity.display if assignee == MINE else None,
            unassigned=assignee == UNASSIGNED,
        )
        tickets = await self.desk.list_tickets(flt)
        scope = " · ".join(part for part in (
            "open and waiting", category.value if category else "", plan.value if plan else "",
            {MINE: "assigned to you", UNASSIGNED: "unassigned"}.get(assignee or ""),
        ) if part)
        await cmd.answer(f"Queue: {len(tickets)} ticket(s)",
                         ui.queue_blocks(tickets, scope=scope, now=self.desk.clock()))

    # ---- snippets -------------------------------------------------------------------------------

    async def snippet(self, cmd: Command) -> None:
        action, _, args = cmd.rest.strip().partition(" ")
        action = action.lower() or "list"
        command = f"/support snippet {action}" if action in (
            "add", "list", "send", "delete") else "/support snippet"
        actor = await self._staff(cmd, command)
        if actor is None:
            return
        name, _, text = args.strip().partition(" ")
        name = name.strip().lower()
        if action == "list":
            await cmd.answer("Snippets", ui.snippet_list_blocks(await self.desk.snippets()))
        elif action == "add" and name and text.strip():
            await self.desk.snippet_save(actor, name, from_slack_markup(text.strip()))
            await cmd.answer(_saved(name))
        elif action == "add" and name:
            current = dict(await self.desk.snippets()).get(name, "")
            await cmd.client.views_open(trigger_id=cmd.trigger_id, view=ui.snippet_modal(
                name, current, self.handlers.config.limits.message_max))
        elif action == "send" and name and ticket_number(text) is not None:
            await self._send_by_number(cmd, actor, name, ticket_number(text) or 0)
        elif action == "delete" and name:
            if await self.desk.snippet_delete(actor, name):
                await cmd.answer(f"Deleted the snippet `{escape(name)}`.")
            else:
                await cmd.answer(f"There is no snippet `{escape(name)}`. "
                                 "`/support snippet list` shows them.")
        else:
            await cmd.answer(SNIPPET_USAGE)

    async def _send_by_number(self, cmd: Command, actor: Actor, name: str, ticket_id: int) -> None:
        result = await self.desk.snippet_send(
            actor, name, ticket_id=ticket_id,
            source_key=f"slack:{cmd.team}:command:{cmd.trigger_id}")
        if isinstance(result, ReplyRefused):
            await cmd.answer(f":warning: Not sent: {escape(result.reason)}")
            return
        text = f":paperclip: Sent the snippet `{escape(name)}` to the customer of #{ticket_id}."
        if result.redaction_notice:
            text += f"\n:closed_lock_with_key: {escape(result.redaction_notice)}"
        await cmd.answer(text)

    async def on_snippet_submit(self, ack: AsyncAck, body: JSON, view: JSON,
                                client: AsyncWebClient, context: AsyncBoltContext) -> None:
        """The snippet form: save, or show why not under the text."""
        team = self.handlers.team_of(body, context)
        user_id, user_name = self.handlers.user_of(body)
        name = str(view.get("private_metadata") or "")
        text = join_message(_value(view, ui.SNIPPET_BODY_BLOCK),
                            _value(view, ui.SNIPPET_MORE_BLOCK), PLAIN_INPUT_LIMIT)
        try:
            actor = await self.handlers.actor(client, team, user_id, user_name)
            await self.desk.snippet_save(actor, name, text)
        except HelplineError as exc:
            await ack(response_action="errors", errors={ui.SNIPPET_BODY_BLOCK: str(exc)})
            return
        except Exception:
            log.exception("snippet form failed")
            await ack(response_action="errors",
                      errors={ui.SNIPPET_BODY_BLOCK: self.handlers.something_went_wrong})
            return
        await ack(response_action="update",
                  view=ui.message_view(f"Snippet {name}", _saved(name).replace("`", "")))

    # ---- the "Send snippet" message shortcut, in a ticket's staff thread -----------------------

    async def on_send_snippet_shortcut(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                       respond: AsyncRespond,
                                       context: AsyncBoltContext) -> None:
        await ack()
        team = self.handlers.team_of(body, context)
        user_id, user_name = self.handlers.user_of(body)
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "")
        try:
            actor = await self.handlers.actor(client, team, user_id, user_name)
            if not actor.is_staff:
                await respond(text=staff_only("Send snippet"), response_type="ephemeral")
                return
            found = await self.desk.ticket_id_for_thread(ThreadRef(
                platform=Platform.SLACK, workspace=team, channel_id=channel, thread_id=thread_ts))
            if found is None or found[1] is not Side.STAFF:
                await respond(text="Use *Send snippet* on a ticket's card or a message in its "
                                   "thread in the staff channel, or `/support snippet send "
                                   "NAME N` from anywhere.", response_type="ephemeral")
                return
            view = ui.snippet_send_modal(found[0], await self.desk.snippets(),
                                         f"{channel}:{thread_ts}")
            await client.views_open(trigger_id=str(body["trigger_id"]), view=view)
        except HelplineError as exc:
            await respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("send snippet shortcut failed")
            await respond(text=self.handlers.something_went_wrong, response_type="ephemeral")

    async def on_snippet_send_submit(self, ack: AsyncAck, body: JSON, view: JSON,
                                     client: AsyncWebClient, context: AsyncBoltContext) -> None:
        team = self.handlers.team_of(body, context)
        user_id, user_name = self.handlers.user_of(body)
        channel, _, thread_ts = str(view.get("private_metadata") or "").partition(":")
        chosen = _entry(view, ui.SNIPPET_PICK_BLOCK).get("selected_option") or {}
        name = str(chosen.get("value") or "") if isinstance(chosen, dict) else ""
        thread = ThreadRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                           thread_id=thread_ts)
        try:
            actor = await self.handlers.actor(client, team, user_id, user_name)
            result = await self.desk.snippet_send(
                actor, name, thread=thread,
                source_key=f"slack:{team}:view:{view['id']}:{view.get('hash')}")
        except HelplineError as exc:
            await ack(response_action="errors", errors={ui.SNIPPET_PICK_BLOCK: str(exc)})
            return
        except Exception:
            log.exception("sending a snippet failed")
            await ack(response_action="errors",
                      errors={ui.SNIPPET_PICK_BLOCK: self.handlers.something_went_wrong})
            return
        if isinstance(result, ReplyRefused):
            await ack(response_action="errors",
                      errors={ui.SNIPPET_PICK_BLOCK: f"Not sent: {result.reason}"})
            return
        await ack()
        if result.duplicate:
            return
        # In the thread, so colleagues see what the customer got.
        text = (f"📎 {actor.identity.display} sent the snippet `{name}` to the customer of "
                f"#{result.ticket_id}.")
        if result.redaction_notice:
            text += f"\n🔐 {result.redaction_notice}"
        await self.handlers.transport.say_in_thread(client, channel, thread_ts, Outbound(
            kind=OutboundKind.NOTICE, ticket_id=result.ticket_id, text=text))

    # ---- incidents ------------------------------------------------------------------------------

    async def incident(self, cmd: Command) -> None:
        action, _, text = cmd.rest.strip().partition(" ")
        action = action.lower()
        command = f"/support incident {action}" if action in ("start", "end") else \
            "/support incident"
        actor = await self._staff(cmd, command)
        if actor is None:
            return
        if action == "start" and text.strip():
            incident = await self.desk.start_incident(actor, from_slack_markup(text.strip()))
            await cmd.answer(f"Incident started: {incident.text}",
                             [ui.section(ui.incident_started_text(incident))])
        elif action == "end":
            if await self.desk.end_incident(actor):
                await cmd.answer("Incident ended: customers no longer see the notice.")
            else:
                await cmd.answer("No incident is active.")
        else:
            current = await self.desk.active_incident()
            now = (f"Active now: *{escape(current.text)}*" if current is not None
                   else "No incident is active.")
            await cmd.answer(f"{now}\n{INCIDENT_USAGE}")

    # ---- the customer's transcript -------------------------------------------------------------

    async def transcript(self, cmd: Command) -> None:
        """Post the transcript of the customer's own ticket into that ticket's thread (what
        the customer saw; internal notes never)."""
        number = ticket_number(cmd.rest)
        customer = await self.handlers.identity(cmd.client, cmd.team, cmd.user_id,
                                                cmd.user_name)
        if number is None:
            await cmd.answer("Name the ticket: `/support transcript N` (`/support list` shows "
                             "yours). The transcript is posted into that ticket's thread.")
            return
        # Only the person who filed it: core lets anyone of the same account find a ticket by
        # number, and the transcript would land in its owner's thread.
        if not any(t.id == number for t in await self.desk.my_tickets(customer)):
            await cmd.answer(f"You have no ticket #{number}. `/support list` shows yours.")
            return
        ticket_id = await self.desk.request_transcript(customer, ticket_id=number)
        await cmd.answer(f"The transcript of #{ticket_id} is on its way to that ticket's "
                         "thread.")

    # ---- the customer's rating with a comment --------------------------------------------------

    async def on_rate_comment_button(self, ack: AsyncAck, body: JSON, action: JSON,
                                     client: AsyncWebClient) -> None:
        await ack()
        try:
            ticket, closing = (int(x) for x in str(action.get("value")).split(":"))
        except ValueError:
            return
        meta = ui.RatingMeta(ticket, closing, str(body.get("response_url") or ""))
        try:
            await client.views_open(trigger_id=str(body["trigger_id"]),
                                    view=ui.rating_modal(meta))
        except Exception as exc:
            log.warning("could not open the rating form: %s", exc)

    async def on_rating_submit(self, ack: AsyncAck, body: JSON, view: JSON,
                               client: AsyncWebClient, context: AsyncBoltContext) -> None:
        team = self.handlers.team_of(body, context)
        user_id, user_name = self.handlers.user_of(body)
        chosen = _entry(view, ui.RATING_SCORE_BLOCK).get("selected_option") or {}
        score = str(chosen.get("value") or "") if isinstance(chosen, dict) else ""
        comment = _value(view, ui.RATING_COMMENT_BLOCK)
        try:
            meta = ui.RatingMeta.load(view.get("private_metadata"))
            customer = await self.handlers.identity(client, team, user_id, user_name)
            thanks = await self.desk.rate(customer, meta.ticket_id, int(score or 0), comment,
                                          closing=meta.closing or None)
        except ValidationFailed as exc:
            await ack(response_action="errors",
                      errors={ui.RATING_SCORE_BLOCK: exc.for_field("rating") or str(exc)})
            return
        except HelplineError as exc:
            await ack(response_action="errors", errors={ui.RATING_SCORE_BLOCK: str(exc)})
            return
        except (ValueError, KeyError):
            await ack(response_action="errors",
                      errors={ui.RATING_SCORE_BLOCK: "This form is out of date."})
            return
        except Exception:
            log.exception("rating form failed")
            await ack(response_action="errors",
                      errors={ui.RATING_SCORE_BLOCK: self.handlers.something_went_wrong})
            return
        await ack()
        if meta.response_url:
            # The buttons under "how did we do?" make way for the thanks, as after a press.
            try:
                await AsyncRespond(response_url=meta.response_url)(text=thanks,
                                                                   replace_original=True)
            except Exception as exc:
                log.info("could not replace the rating request: %s", exc)

    # ---- White Label Lite: escalate to the provider -----------------------------------------

    async def escalate(self, cmd: Command) -> None:
        """Hand a White Label Lite account's ticket to the provider's desk. Provider staff may
        do it anywhere; the account's own team from the account's own staff channel (where
        its tickets' cards are, so whoever can type there is on that team)."""
        number = ticket_number(cmd.rest)
        actor = await self.handlers.actor(cmd.client, cmd.team, cmd.user_id, cmd.user_name)
        own_channel_of = await self._white_label_account_of_channel(cmd)
        if not actor.is_staff and own_channel_of is None:
            await cmd.answer(staff_only("/support escalate"))
            return
        if number is None:
            await cmd.answer("Name the ticket: `/support escalate N`.")
            return
        card = await self.desk.card(number)
        owner = Identity(platform=Platform(card.customer_platform), workspace=card.workspace,
                         user_id="")
        account = await self.desk.account_of(owner)
        if not actor.is_staff and own_channel_of is not None and own_channel_of.id != account.id:
            await cmd.answer(f"#{number} is not a ticket of "
                             f"{escape(own_channel_of.name or own_channel_of.id)}.")
            return
        if card.escalated_from:
            await cmd.answer(f"#{number} already is the provider's copy of "
                             f"#{card.escalated_from}.")
            return
        if not account.white_label:
            await cmd.answer(f"#{number} is not a White Label Lite account's ticket: it is "
                             "with the provider's support team already.")
            return
        created = await self.desk.escalate(actor, number)
        provider = created.ticket.id
        if created.already_existed:
            await cmd.answer(f"#{number} was already escalated to the provider as "
                             f"#{provider}.")
            return
        # Colleagues in the account's staff channel see it; elsewhere only the one who asked.
        public = own_channel_of is not None and own_channel_of.id == account.id
        await cmd.answer(
            f":arrow_up: *{escape(actor.identity.display)}* escalated #{number} to the "
            f"provider as #{provider}. The provider's answers arrive in the thread of "
            f"\"Ticket #{provider}\" in this account's staff channel; reply there to answer "
            "them.", public=public)

    async def _white_label_account_of_channel(self, cmd: Command) -> AccountConfig | None:
        """The White Label Lite account whose own staff channel the command was typed in."""
        for account in await self.desk.accounts():
            if not (account.white_label and account.staff_channel):
                continue
            dest = Destination.parse(account.staff_channel)
            if (dest.platform is Platform.SLACK and dest.channel_id == cmd.channel_id
                    and dest.workspace in ("", cmd.team)):
                return account
        return None


def _saved(name: str) -> str:
    return (f"Saved the snippet `{escape(name)}`. Send it with `/support snippet send "
            f"{escape(name)} N` (N: the ticket), or *Send snippet* from the message menu in a "
            "ticket's staff thread.")


def _entry(view: JSON, block: str) -> JSON:
    values: JSON = (view.get("state") or {}).get("values") or {}
    found = (values.get(block) or {}).get(ui.INPUT_ACTION) or {}
    return found if isinstance(found, dict) else {}


def _value(view: JSON, block: str) -> str:
    return str(_entry(view, block).get("value") or "")
