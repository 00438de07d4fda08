"""`helpline console`: try the whole product in a terminal. You act as a customer (Support
Center, filing a ticket through the same steps as the chat form, replying) or as staff (queue,
reply, note, status, assign), and every message that would go to a chat is printed on the side
it would appear, so the relay is visible both ways.

On a terminal it prompts for each form field; otherwise it reads one command per line, so it
can be scripted. COMMANDS below is the help text."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.console.transport import WORKSPACE, ConsoleTransport
from core.clock import utcnow
from core.errors import HelplineError
from core.models import Actor, AttachmentIn, Category, Identity, Platform, Status, TicketDraft
from core.outbox import DeliveryWorker
from core.service import SupportDesk, TicketFilter
from core.timers import TimerWorker
from core.views import (
    Continued,
    Created,
    Deflected,
    DuplicatePrompt,
    Rejected,
    ReplyAccepted,
    ReplyRefused,
    SelfServiceOffer,
    SubmitResult,
    SupportCenterView,
    TicketSummary,
)

COMMANDS = """\
Who you are
  customer NAME [WORKSPACE]   act as a customer (default: alice in workspace 'local')
  staff NAME                  act as a member of staff (default: sam)

As a customer
  center                      your Support Center: tickets (newest first), links, plan, incident
  new                         file a ticket; on a terminal it asks for each field, in a script
                              write: new CATEGORY | SUBJECT | MESSAGE [| IMAGE_PATH]
  continue                    (after a duplicate prompt) add this to the open ticket instead
  create                      (after a duplicate prompt) it's a different problem: go on
  solved                      (after an article offer) the article solved it: no ticket
  file                        (after an article offer) still stuck: file the ticket
  reply N TEXT [| IMAGE_PATH] reply on ticket #N (as customer or staff, by who you are)
  tickets                     your tickets with status
  rate N SCORE [COMMENT]      rate the help on closed ticket #N from 1 to 5
  transcript N                post ticket #N's transcript into your thread

As staff
  queue [CATEGORY|PLAN|unassigned|mine]   open tickets in priority order
  show N                      a ticket with its messages and history
  note N TEXT                 internal note: never reaches the customer
  status N open|waiting|closed
  close N                     same as: status N closed
  assign N [NAME|me|none]
  category N CATEGORY
  incident start TEXT | incident end
  snippet add NAME TEXT       save a canned reply; {customer}, {ticket}, {agent} are filled in
  snippet list | snippet send NAME N | snippet delete NAME
  escalate N                  (White Label Lite) hand ticket #N to the provider's desk

Other
  wait DURATION               move the console's clock forward, e.g. wait 8d, wait 3h
  help                        this text
  quit                        leave (Ctrl-D works too)
"""

_STATUS_WORDS = {
    "open": Status.OPEN,
    "waiting": Status.WAITING_ON_CUSTOMER,
    "closed": Status.CLOSED,
    "close": Status.CLOSED,
}


class ConsoleClock:
    """Real time plus an offset the user moves with `wait`."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class ShellState:
    customer: Identity = field(
        default_factory=lambda: Identity(
            platform=Platform.CONSOLE, workspace=WORKSPACE, user_id="alice", name="alice"
        )
    )
    staff: Actor = field(
        default_factory=lambda: Actor(
            identity=Identity(
                platform=Platform.CONSOLE, workspace=WORKSPACE, user_id="sam", name="sam"
            ),
            is_staff=True,
        )
    )
    role: str = "customer"
    draft_id: str | None = None
    draft_stage: str | None = None
    follows: int | None = None


class ConsoleShell:
    def __init__(
        self,
        desk: SupportDesk,
        worker: DeliveryWorker,
        out: TextIO,
        *,
        clock: ConsoleClock | None = None,
        ask: Callable[[str], str] | None = None,
    ) -> None:
        self.desk = desk
        self.worker = worker
        self.timers = TimerWorker(desk.db, desk, desk.clock)
        self.out = out
        self.clock = clock
        self.ask = ask  # None: scripted mode, fields come on the command line
        self.state = ShellState()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def handle(self, line: str) -> bool:
        """Run one command line; False means quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        word = word.lower()
        rest = rest.strip()
        try:
            if word in ("quit", "exit"):
                return False
            handler = getattr(self, f"cmd_{word}", None)
            if handler is None:
                self.say(f"Unknown command '{word}'. Type 'help' for the list.")
                return True
            await handler(rest)
        except HelplineError as exc:
            self.say(f"✗ {exc}")
        except ValueError as exc:
            self.say(f"✗ {exc}")
        if self.timers is not None:
            await self.timers.run_once()
        await self.worker.drain()
        return True

    # ---- who -------------------------------------------------------------------------------

    async def cmd_help(self, _: str) -> None:
        self.say(COMMANDS)

    async def cmd_customer(self, rest: str) -> None:
        parts = rest.split()
        name = parts[0] if parts else "alice"
        workspace = parts[1] if len(parts) > 1 else WORKSPACE
        self.state.customer = Identity(
            platform=Platform.CONSOLE, workspace=workspace, user_id=name, name=name
        )
        self.state.role = "customer"
        plan = (await self.desk.account_of(self.state.customer)).plan
        self.say(f"You are customer {name} (workspace {workspace}, plan {plan}).")

    async def cmd_staff(self, rest: str) -> None:
        name = rest.split()[0] if rest.split() else "sam"
        self.state.staff = Actor(
            identity=Identity(
                platform=Platform.CONSOLE, workspace=WORKSPACE, user_id=name, name=name
            ),
            is_staff=True,
        )
        self.state.role = "staff"
        self.say(f"You are {name} of the support team.")

    async def cmd_wait(self, rest: str) -> None:
        if self.clock is None:
            raise ValueError("This console's clock can't be moved.")
        amount = rest.strip().lower()
        units = {"d": "days", "h": "hours", "m": "minutes"}
        if len(amount) < 2 or amount[-1] not in units or not amount[:-1].isdigit():
            raise ValueError("Write a duration like 8d, 3h or 30m.")
        self.clock.offset += timedelta(**{units[amount[-1]]: int(amount[:-1])})
        self.say(f"The clock is now {self.clock():%Y-%m-%d %H:%M} UTC.")

    # ---- customer ---------------------------------------------------------------------------

    async def cmd_center(self, _: str) -> None:
        view = await self.desk.support_center(self.state.customer)
        self._show_center(view)

    def _show_center(self, view: SupportCenterView) -> None:
        badge = "  ★ Priority Support" if view.priority_badge else ""
        self.say(f"== {view.desk_name} — Support Center =={badge}")
        if view.incident:
            self.say(f"⚠ Active incident: {view.incident.text} — {view.incident.status_page}")
        self.say(view.plan_notice)
        self.say("Your tickets (most recent first):")
        if not view.tickets:
            self.say("  (none yet)")
        for t in view.tickets:
            self.say(f"  {t.number}  {t.status:<20} {t.subject}")
        self.say("[New ticket: type 'new']")
        self.say("Quick links:")
        for link in view.quick_links:
            self.say(f"  {link.title}: {link.url}")
        self.say("Faster with self-service:")
        for link in view.help.self_service_first:
            self.say(f"  {link.title}: {link.url}")

    async def cmd_tickets(self, _: str) -> None:
        for t in await self.desk.my_tickets(self.state.customer):
            self.say(f"  {t.number}  {t.status:<20} {t.subject}")

    async def cmd_new(self, rest: str) -> None:
        form = await self.desk.intake_form(
            self.state.customer, follows_ticket_id=self.state.follows
        )
        if form.incident:
            self.say(
                f"⚠ There is an active incident: {form.incident.text}. "
                f"Check {form.incident.status_page} before filing — we're already on it."
            )
        if form.follows_ticket_id:
            self.say(f"This new ticket will link #{form.follows_ticket_id}.")
        if rest or self.ask is None:
            parts = [p.strip() for p in rest.split("|")]
            if len(parts) < 3:
                raise ValueError("Write: new CATEGORY | SUBJECT | MESSAGE [| IMAGE_PATH]")
            draft = TicketDraft(
                category=parts[0],
                subject=parts[1],
                message=parts[2],
                attachment=_read_image(parts[3]) if len(parts) > 3 and parts[3] else None,
            )
            await self._submit(draft)
            return
        self.say(form.plan_notice)
        for choice in form.categories:
            self.say(f"  {choice.category.value:<15} {choice.hint}")
        values = {"category": "", "subject": "", "message": "", "attachment": ""}
        prompts = {
            "category": "Category: ",
            "subject": f"Subject ({form.subject_min}-{form.subject_max} characters, be specific): ",
            "message": f"Message ({form.message_min}-{form.message_max} characters): ",
            "attachment": f"Image path (optional, JPEG/PNG/GIF/WebP, ≤ {form.max_image_mb:g} MB): ",
        }
        todo = list(values)
        while True:
            for name in todo:
                values[name] = self.ask(prompts[name])
            try:
                image = _read_image(values["attachment"]) if values["attachment"].strip() else None
            except ValueError as exc:
                self.say(f"✗ attachment: {exc}")
                todo = ["attachment"]
                continue
            draft = TicketDraft(
                category=values["category"],
                subject=values["subject"],
                message=values["message"],
                attachment=image,
            )
            result = await self._submit(draft)
            if not isinstance(result, Rejected):
                return
            todo = [e.field for e in result.errors]

    async def _submit(self, draft: TicketDraft) -> SubmitResult:
        result = await self.desk.submit(
            self.state.customer, draft, follows_ticket_id=self.state.follows
        )
        self._show_result(result)
        return result

    def _show_result(self, result: SubmitResult) -> None:
        if isinstance(result, Rejected):
            for err in result.errors:
                self.say(f"✗ {err.field}: {err.message}")
            self.say("Nothing was filed; fix the fields above and submit again.")
        elif isinstance(result, DuplicatePrompt):
            self.state.draft_id, self.state.draft_stage = result.draft_id, "duplicate"
            self.say(result.text)
            self.say(f"  continue → add this to #{result.ticket_id}    create → it's a new problem")
        elif isinstance(result, SelfServiceOffer):
            self.state.draft_id, self.state.draft_stage = result.draft_id, "self_service"
            self.say(result.text)
            for a in result.articles:
                self.say(f"  📄 {a.title}: {a.url}")
            self.say("  solved → the article fixed it    file → file the ticket anyway")
        elif isinstance(result, Created):
            self.state.draft_id = self.state.draft_stage = None
            self.state.follows = None
            t = result.ticket
            self.say(f"✓ Ticket {t.number} created: {t.subject} [{t.status}]")
            self.say(f"  {result.next_steps}")
            for tip in result.advice:
                self.say(f"  Tip: {tip}")
        elif isinstance(result, Continued):
            self.state.draft_id = self.state.draft_stage = None
            self.say(f"✓ Added to ticket #{result.ticket_id} [{result.status}]")
        elif isinstance(result, Deflected):
            self.state.draft_id = self.state.draft_stage = None
            self.say("Glad that solved it. No ticket was filed.")

    def _need_draft(self, stage: str) -> str:
        if self.state.draft_id is None or self.state.draft_stage != stage:
            what = "duplicate prompt" if stage == "duplicate" else "article offer"
            raise ValueError(f"No {what} is waiting for an answer.")
        return self.state.draft_id

    async def cmd_continue(self, _: str) -> None:
        self._show_result(
            await self.desk.continue_existing(self.state.customer, self._need_draft("duplicate"))
        )

    async def cmd_create(self, _: str) -> None:
        self._show_result(
            await self.desk.create_new(self.state.customer, self._need_draft("duplicate"))
        )

    async def cmd_solved(self, _: str) -> None:
        self._show_result(
            await self.desk.solved_by_article(self.state.customer, self._need_draft("self_service"))
        )

    async def cmd_file(self, _: str) -> None:
        self._show_result(
            await self.desk.file_anyway(self.state.customer, self._need_draft("self_service"))
        )

    async def cmd_reply(self, rest: str) -> None:
        number, _, text = rest.partition(" ")
        ticket_id = _ticket_number(number)
        text, _, image_path = text.partition("|")
        image = _read_image(image_path.strip()) if image_path.strip() else None
        if self.state.role == "staff":
            result = await self.desk.staff_reply(
                self.state.staff, text, ticket_id=ticket_id, attachment=image
            )
        else:
            result = await self.desk.customer_reply(
                self.state.customer, text, ticket_id=ticket_id, attachment=image
            )
        if isinstance(result, ReplyRefused):
            self.say(f"✗ {result.reason}")
            if result.new_ticket_follows:
                self.state.follows = result.new_ticket_follows
                self.say(
                    f"  Type 'new' to open a new ticket that links #{result.new_ticket_follows}."
                )
            return
        assert isinstance(result, ReplyAccepted)
        reopened = " (reopened)" if result.reopened else ""
        self.say(f"✓ Reply added to #{result.ticket_id}; status {result.status}{reopened}")
        if result.redaction_notice:
            self.say(f"  ⚠ {result.redaction_notice}")

    # ---- staff ----------------------------------------------------------------------------

    async def cmd_queue(self, rest: str) -> None:
        flt = _queue_filter(rest, self.state.staff.identity.display)
        tickets = await self.desk.list_tickets(flt)
        if not tickets:
            self.say("The queue is empty.")
        for t in tickets:
            self.say(_queue_line(t))

    async def cmd_show(self, rest: str) -> None:
        detail = await self.desk.ticket_detail(_ticket_number(rest), viewer=self._viewer())
        s = detail.summary
        self.say(
            f"{s.number} {s.subject} — {s.category} · {s.status} · {s.plan}"
            f" · assignee {s.assignee or 'nobody'}"
        )
        for m in detail.messages:
            tag = {"customer": "customer", "staff": "staff", "note": "internal note"}[m.kind]
            extra = f" [image {m.attachment.filename}]" if m.attachment else ""
            self.say(f"  {m.at:%Y-%m-%d %H:%M} {m.author} ({tag}): {m.body}{extra}")
        if detail.history:
            self.say("History:")
            for h in detail.history:
                self.say(f"  {h.at:%Y-%m-%d %H:%M} {h.actor}: {h.action} {h.detail}")

    def _viewer(self) -> Actor:
        if self.state.role == "staff":
            return self.state.staff
        return Actor(identity=self.state.customer)

    async def cmd_note(self, rest: str) -> None:
        number, _, text = rest.partition(" ")
        result = await self.desk.internal_note(
            self.state.staff, text, ticket_id=_ticket_number(number)
        )
        self.say(f"✓ Internal note added to #{result.ticket_id} (not sent to the customer)")

    async def cmd_status(self, rest: str) -> None:
        number, _, word = rest.partition(" ")
        status = _STATUS_WORDS.get(word.strip().lower())
        if status is None:
            raise ValueError("Status is one of: open, waiting, closed.")
        t = await self.desk.set_status(self.state.staff, _ticket_number(number), status)
        self.say(f"✓ {t.number} is {t.status}")

    async def cmd_close(self, rest: str) -> None:
        await self.cmd_status(f"{rest.strip()} closed")

    async def cmd_assign(self, rest: str) -> None:
        number, _, who = rest.partition(" ")
        who = who.strip()
        assignee = (
            None
            if who.lower() == "none"
            else (self.state.staff.identity.display if who in ("", "me") else who)
        )
        t = await self.desk.assign(self.state.staff, _ticket_number(number), assignee)
        self.say(f"✓ {t.number} assigned to {t.assignee or 'nobody'}")

    async def cmd_category(self, rest: str) -> None:
        number, _, name = rest.partition(" ")
        t = await self.desk.recategorise(
            self.state.staff, _ticket_number(number), Category.parse(name)
        )
        self.say(f"✓ {t.number} is now in {t.category}")

    async def cmd_rate(self, rest: str) -> None:
        parts = rest.split(maxsplit=2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError("Write: rate N SCORE [COMMENT], with a score from 1 to 5.")
        self.say(
            await self.desk.rate(
                self.state.customer,
                _ticket_number(parts[0]),
                int(parts[1]),
                parts[2] if len(parts) > 2 else "",
            )
        )

    async def cmd_transcript(self, rest: str) -> None:
        tid = await self.desk.request_transcript(
            self.state.customer, ticket_id=_ticket_number(rest)
        )
        self.say(f"✓ The transcript of #{tid} is on its way to your thread.")

    async def cmd_snippet(self, rest: str) -> None:
        action, _, args = rest.partition(" ")
        if action == "add":
            name, _, body = args.strip().partition(" ")
            await self.desk.snippet_save(self.state.staff, name, body)
            self.say(f"✓ Snippet '{name.lower()}' saved.")
        elif action == "list":
            for name, body in await self.desk.snippets():
                self.say(f"  {name}: {body}")
        elif action == "send":
            name, _, number = args.strip().partition(" ")
            result = await self.desk.snippet_send(
                self.state.staff, name, ticket_id=_ticket_number(number)
            )
            if isinstance(result, ReplyRefused):
                self.say(f"✗ {result.reason}")
            else:
                self.say(f"✓ Snippet '{name}' sent on #{result.ticket_id}")
        elif action == "delete":
            gone = await self.desk.snippet_delete(self.state.staff, args)
            self.say("✓ Deleted." if gone else f"There is no snippet '{args.strip()}'.")
        else:
            raise ValueError("Write: snippet add NAME TEXT | list | send NAME N | delete NAME")

    async def cmd_escalate(self, rest: str) -> None:
        actor = (
            self.state.staff if self.state.role == "staff" else Actor(identity=self.state.customer)
        )
        created = await self.desk.escalate(actor, _ticket_number(rest))
        self.say(f"✓ Escalated to the provider as {created.ticket.number}")

    async def cmd_incident(self, rest: str) -> None:
        action, _, text = rest.partition(" ")
        if action == "start":
            inc = await self.desk.start_incident(self.state.staff, text)
            self.say(f"✓ Incident started: {inc.text}")
        elif action == "end":
            ended = await self.desk.end_incident(self.state.staff)
            self.say("✓ Incident ended." if ended else "There was no active incident.")
        else:
            raise ValueError("Write: incident start TEXT, or incident end")


def _ticket_number(value: str) -> int:
    value = value.strip().lstrip("#")
    if not value.isdigit():
        raise ValueError(f"'{value}' is not a ticket number; write it like 12 or #12.")
    return int(value)


def _read_image(path: str) -> AttachmentIn:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"No file at {p}.")
    return AttachmentIn(filename=p.name, data=p.read_bytes())


def _queue_filter(rest: str, me: str) -> TicketFilter:
    word = rest.strip()
    open_states = [Status.OPEN, Status.WAITING_ON_CUSTOMER]
    if not word:
        return TicketFilter(status=open_states)
    if word.lower() == "unassigned":
        return TicketFilter(status=open_states, unassigned=True)
    if word.lower() == "mine":
        return TicketFilter(status=open_states, assignee=me)
    from core.models import Plan

    for plan in Plan:
        if plan.value.lower() == word.lower():
            return TicketFilter(status=open_states, plan=plan)
    return TicketFilter(status=open_states, category=Category.parse(word))


def _queue_line(t: TicketSummary) -> str:
    urgent = "URGENT " if t.urgent else ""
    return (
        f"  {t.number:<6} {urgent}{t.plan:<8} {t.status:<20} {t.category:<14} "
        f"{t.assignee or '-':<10} {t.subject}"
    )


async def run_console(
    desk: SupportDesk,
    worker: DeliveryWorker,
    *,
    clock: ConsoleClock | None,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> None:
    interactive = stdin.isatty()
    ask = input if interactive else None
    shell = ConsoleShell(desk, worker, out, clock=clock, ask=ask)
    if interactive:
        shell.say("Helpline console — type 'help' for commands, 'center' to start as a customer.")
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            try:
                line = await loop.run_in_executor(None, input, f"{shell.state.role}> ")
            except EOFError:
                break
        else:
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                break
            if line.strip() and not line.lstrip().startswith("#"):
                out.write(f"{shell.state.role}> {line.rstrip()}\n")
        if not await shell.handle(line):
            break


def console_transport(out: TextIO) -> ConsoleTransport:
    return ConsoleTransport(out)
