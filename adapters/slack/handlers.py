"""Bolt listeners: each turns one Slack interaction into one SupportDesk call and renders the
answer (blocks.py). Nothing here decides policy; core does.

Two kinds of Slack calls are made here, directly: answers to a live request (views.open /
update / publish, ephemeral replies, `response_action`) and look-ups (users.info,
usergroups.users.list, file downloads). Everything the desk posts, updates or reacts to goes
through the outbox and ``SlackTransport``.

Idempotency: Slack redelivers an event it thinks was missed (X-Slack-Retry-Num), so every
message is recorded under ``slack:{team}:{channel}:{ts}`` and core ignores a second one; a
modal submission is keyed by its view id and hash, so a retried submit returns the same
ticket."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks as ui
from adapters.slack import notes
from adapters.slack.blocks import IntakeMeta, View
from adapters.slack.files import FileProblem, fetch_file
from adapters.slack.operations import COMMANDS, Command, DeskOperations
from adapters.slack.people import Names, StaffDirectory
from adapters.slack.text import escape, from_slack_markup, join_message
from adapters.slack.transport import REACTIONS, SlackTransport
from core.config import DeskConfig
from core.errors import FieldError, HelplineError, StorageUnavailable, ValidationFailed
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
from core.outbound import Outbound, OutboundKind, Reaction
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
    SelfServiceOffer,
    SubmitResult,
)

log = logging.getLogger("helpline.slack")

JSON = dict[str, Any]

SUBMIT_BUDGET_SECONDS = 2.5
"""A view_submission must be answered within 3 s; past this, the modal says "working" and the
result replaces it when ready."""

SOMETHING_WENT_WRONG = ("Something went wrong on our side and nothing was saved. "
                        "Please try again in a minute.")
NOT_STAFF = ("Only the support team can act on tickets here; nothing was sent to the "
             "customer. If you need help yourself, use /support.")

RELAYED_SUBTYPES = {None, "file_share", "thread_broadcast"}


class SlackHandlers:
    something_went_wrong = SOMETHING_WENT_WRONG

    def __init__(
        self,
        desk: SupportDesk,
        config: DeskConfig,
        transport: SlackTransport,
        *,
        staff: StaffDirectory,
        names: Names,
    ) -> None:
        self.desk = desk
        self.config = config
        self.transport = transport
        self.staff = staff
        self.names = names
        self.intake_channels = {c.split(":")[-1] for c in config.intake.slack_intake_channels}
        self._inflight: set[str] = set()
        self._thread_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.submit_budget = SUBMIT_BUDGET_SECONDS
        self._background: set[asyncio.Task[Any]] = set()
        self.ops = DeskOperations(self)

    def register(self, app: AsyncApp) -> None:
        """Listeners on an app that answers Slack when a listener returns (bolt's
        ``process_before_response``): a thread message is recorded before Slack hears "got it",
        so a crash or a restart in between makes Slack retry it instead of losing it. Commands,
        buttons and shortcuts answer at once and carry on in the background (``_answer_first``);
        form submissions answer with their outcome."""
        first = self._answer_first
        app.error(self.on_error)
        app.command("/support")(first(self.on_support_command))
        app.event("app_home_opened")(self.on_home_opened)
        app.event("message")(self.on_message)
        app.action(ui.NEW_TICKET_ACTION)(first(self.on_new_ticket_button))
        app.shortcut(ui.NEW_TICKET_SHORTCUT)(first(self.on_new_ticket_shortcut))
        app.shortcut(ui.FILE_MESSAGE_SHORTCUT)(first(self.on_file_message_shortcut))
        app.shortcut(ui.INTERNAL_NOTE_SHORTCUT)(first(self.on_internal_note_shortcut))
        app.view(ui.INTAKE_CALLBACK)(self.on_intake_submit)
        app.view(ui.NOTE_CALLBACK)(self.on_note_submit)
        for action_id in (ui.DUP_CONTINUE_ACTION, ui.DUP_CREATE_ACTION, ui.SS_SOLVED_ACTION,
                          ui.SS_FILE_ACTION):
            app.action(action_id)(first(self.on_prompt_button))
        for action_id in (ui.CARD_ASSIGN_ACTION, ui.CARD_STATUS_ACTION, ui.CARD_CATEGORY_ACTION,
                          ui.CARD_CLOSE_ACTION, ui.CARD_REOPEN_ACTION):
            app.action(action_id)(first(self.on_card_action))
        app.action(ui.LINK_ACTION)(self.on_link_button)
        app.action(re.compile(rf"^{ui.RATE_ACTION_PREFIX}[1-5]$"))(first(self.on_rating))
        app.action(ui.RATE_COMMENT_ACTION)(first(self.ops.on_rate_comment_button))
        app.view(ui.RATE_CALLBACK)(self.ops.on_rating_submit)
        app.view(ui.SNIPPET_CALLBACK)(self.ops.on_snippet_submit)
        app.shortcut(ui.SEND_SNIPPET_SHORTCUT)(first(self.ops.on_send_snippet_shortcut))
        app.view(ui.SNIPPET_SEND_CALLBACK)(self.ops.on_snippet_send_submit)

    def _answer_first(
        self, listener: Callable[..., Awaitable[None]]
    ) -> Callable[..., Awaitable[None]]:
        """Let Slack have its answer as soon as ``listener`` acks, and finish the listener's
        work in the background (awaited by ``wait_idle`` when the adapter stops)."""

        @functools.wraps(listener)
        async def answered_first(**kwargs: Any) -> None:
            acked = asyncio.Event()
            bolt_ack = kwargs["ack"]

            async def ack(*args: Any, **fields: Any) -> Any:
                try:
                    return await bolt_ack(*args, **fields)
                finally:
                    acked.set()

            work = asyncio.ensure_future(listener(**{**kwargs, "ack": ack}))
            waiting = asyncio.ensure_future(acked.wait())
            await asyncio.wait({work, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if work.done():
                work.result()  # a failure before the ack is bolt's to answer (see on_error)
                return
            self._background.add(work)
            work.add_done_callback(self._finished_in_background)

        return answered_first

    def _finished_in_background(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack listener failed after answering", exc_info=task.exception())

    @staticmethod
    async def on_error(error: Exception, body: JSON) -> BoltResponse | None:
        """A listener failed before Slack got its answer. A command gets a plain apology (Slack
        would show "failed with the error 'dispatch_failed'"); anything else keeps bolt's 500,
        so Slack retries an event (handled once, by its message key) and keeps an open form,
        with what was typed, on screen."""
        log.error("Slack request failed", exc_info=error)
        if isinstance(body, dict) and body.get("command"):
            return BoltResponse(
                status=200, headers={"content-type": ["application/json"]},
                body=json.dumps({"response_type": "ephemeral", "text": SOMETHING_WENT_WRONG}))
        return None

    async def wait_idle(self) -> None:
        """Wait for work that outlived its request (after an early answer, or a slow modal
        submit); used by stop()."""
        while self._background:  # work may start more work: wait until none is left
            await asyncio.gather(*self._background, return_exceptions=True)

    # ---- who -----------------------------------------------------------------------------------

    async def identity(self, client: AsyncWebClient, team: str, user_id: str,
                        fallback: str = "") -> Identity:
        name = await self.names.display_name(client, team, user_id, fallback)
        return Identity(platform=Platform.SLACK, workspace=team, user_id=user_id, name=name)

    async def actor(self, client: AsyncWebClient, team: str, user_id: str,
                     fallback: str = "") -> Actor:
        identity = await self.identity(client, team, user_id, fallback)
        return Actor(identity=identity,
                     is_staff=await self.staff.is_staff(client, team, user_id))

    @staticmethod
    def team_of(body: JSON, context: AsyncBoltContext) -> str:
        team = (body.get("team") or {}).get("id") if isinstance(body.get("team"), dict) else None
        return str(context.team_id or body.get("team_id") or team or
                   (body.get("user") or {}).get("team_id") or "")

    @staticmethod
    def user_of(body: JSON) -> tuple[str, str]:
        """(user id, name from the payload) of an interaction or a command."""
        user = body.get("user")
        if isinstance(user, dict):
            return str(user["id"]), str(user.get("name") or user.get("username") or "")
        return str(body.get("user_id") or user or ""), str(body.get("user_name") or "")

    def _intake_channel(self, channel_id: str | None) -> str | None:
        return channel_id if channel_id and channel_id in self.intake_channels else None

    # ---- /support ----------------------------------------------------------------------------

    async def on_support_command(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                 respond: AsyncRespond, context: AsyncBoltContext) -> None:
        await ack()
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        word, _, rest = str(body.get("text") or "").strip().partition(" ")
        word = word.lower()
        try:
            if word == "new":
                meta = IntakeMeta(channel_id=self._intake_channel(body.get("channel_id")))
                await self._open_intake(client, str(body["trigger_id"]), team, user_id, meta,
                                        respond=respond, subject=rest.strip())
                return
            customer = await self.identity(client, team, user_id, user_name)
            if word in COMMANDS:
                await self.ops.command(Command(
                    word=word, rest=rest, team=team, user_id=user_id, user_name=user_name,
                    channel_id=str(body.get("channel_id") or ""),
                    trigger_id=str(body.get("trigger_id") or ""), client=client,
                    respond=respond))
                return
            if word in ("", "center", "home"):
                view = await self.desk.support_center(customer)
                blocks, text = ui.support_center_blocks(view), f"{view.desk_name} Support Center"
            elif word == "list":
                tickets = await self.desk.my_tickets(customer)
                blocks, text = ui.ticket_list_blocks(tickets), "Your tickets"
            elif word == "help":
                blocks, text = ui.help_blocks(self.desk.help_text()), "Support help"
                if await self.staff.is_staff(client, team, user_id):
                    blocks += ui.staff_help_blocks()
            else:
                blocks = [ui.section(f"I don't know `/support {escape(word)}`."),
                          *ui.help_blocks(self.desk.help_text())]
                text = "Support help"
        except HelplineError as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        except Exception:
            log.exception("/support failed")
            await respond(text=SOMETHING_WENT_WRONG, response_type="ephemeral")
            return
        await respond(text=text, blocks=blocks, response_type="ephemeral")

    async def on_home_opened(self, event: JSON, body: JSON, client: AsyncWebClient,
                             context: AsyncBoltContext) -> None:
        if event.get("tab", "home") != "home":
            return
        team = self.team_of(body, context)
        try:
            customer = await self.identity(client, team, str(event["user"]))
            view = await self.desk.support_center(customer)
            await client.views_publish(user_id=str(event["user"]), view=ui.home_view(view))
        except Exception:
            log.exception("could not publish the Home tab")

    # ---- opening the new-ticket modal -------------------------------------------------------

    async def _open_intake(self, client: AsyncWebClient, trigger_id: str, team: str,
                           user_id: str, meta: IntakeMeta, *,
                           respond: AsyncRespond | None = None, subject: str = "",
                           message: str = "") -> None:
        """Open the form at once: the trigger is good for 3 s and one use. The form depends on
        the workspace only, so no Slack lookup comes before it (the name is asked at submit)."""
        customer = Identity(platform=Platform.SLACK, workspace=team, user_id=user_id)
        try:
            form = await self.desk.intake_form(customer, prefill_subject=subject,
                                               prefill_message=message,
                                               follows_ticket_id=meta.follows)
            view = ui.intake_modal(form, meta)
        except HelplineError as exc:
            view = ui.message_view("Support", str(exc))
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except Exception as exc:
            log.warning("views.open failed: %s", exc)
            if respond is not None:
                await respond(text="The form took too long to open. Please run "
                                   "`/support new` again.", response_type="ephemeral")

    async def on_new_ticket_button(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                   context: AsyncBoltContext) -> None:
        await ack()
        team = self.team_of(body, context)
        user_id, _ = self.user_of(body)
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id")
        await self._open_intake(client, str(body["trigger_id"]), team, user_id,
                                IntakeMeta(channel_id=self._intake_channel(channel)))

    async def on_new_ticket_shortcut(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                     context: AsyncBoltContext) -> None:
        await ack()
        team = self.team_of(body, context)
        user_id, _ = self.user_of(body)
        await self._open_intake(client, str(body["trigger_id"]), team, user_id, IntakeMeta())

    async def on_file_message_shortcut(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                       context: AsyncBoltContext) -> None:
        """"File as a ticket": the form, with the chosen message and its link as the message."""
        await ack()
        team = self.team_of(body, context)
        user_id, _ = self.user_of(body)
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        text = from_slack_markup(str(message.get("text") or ""))
        link = permalink(str((body.get("team") or {}).get("domain") or ""), channel,
                         str(message.get("ts") or ""), message.get("thread_ts"))
        prefill = f"{text}\n\n(From {link})" if link else text
        await self._open_intake(client, str(body["trigger_id"]), team, user_id,
                                IntakeMeta(channel_id=self._intake_channel(channel)),
                                message=prefill)

    # ---- submitting the form ----------------------------------------------------------------

    async def on_intake_submit(self, ack: AsyncAck, body: JSON, view: JSON,
                               client: AsyncWebClient, context: AsyncBoltContext) -> None:
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        work = asyncio.ensure_future(
            self._submit(client, context.bot_token, team, user_id, user_name, view))
        done, _ = await asyncio.wait({work}, timeout=self.submit_budget)
        if work in done:
            answer = work.result()
            if answer.errors:
                await ack(response_action="errors", errors=answer.errors)
            else:
                await ack(response_action="update", view=answer.view)
            return
        # Too slow for Slack's 3 s: say so now, show the outcome when it is known.
        await ack(response_action="update",
                  view=ui.message_view("New support ticket", "Filing your ticket…"))
        task = asyncio.ensure_future(self._finish_late(client, work, view, team, user_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _finish_late(self, client: AsyncWebClient, work: asyncio.Future[_Answer],
                           view: JSON, team: str, user_id: str) -> None:
        answer = await work
        result_view = answer.view
        if answer.errors:
            values = _form_values(view)
            customer = Identity(platform=Platform.SLACK, workspace=team, user_id=user_id)
            try:
                form = await self.desk.intake_form(customer)
                result_view = ui.intake_modal(
                    form, IntakeMeta.load(view.get("private_metadata")),
                    category=values.category, subject=values.subject, message=values.message,
                    notes={field: msg for field, msg in answer.field_errors.items()})
            except HelplineError as exc:
                result_view = ui.message_view("Support", str(exc))
        try:
            await client.views_update(view_id=str(view["id"]), view=result_view)
        except Exception as exc:
            log.warning("could not show the late submit result: %s", exc)

    async def _submit(self, client: AsyncWebClient, token: str | None, team: str, user_id: str,
                      user_name: str, view: JSON) -> _Answer:
        values = _form_values(view)
        meta = IntakeMeta.load(view.get("private_metadata"))
        try:
            customer = await self.identity(client, team, user_id, user_name)
            attachment: AttachmentIn | None = None
            file_error: str | None = None
            if len(values.files) > 1:
                file_error = "Attach one image at a time; more can follow as replies."
            elif values.files:
                try:
                    attachment = await fetch_file(client, token, values.files[0])
                except FileProblem as exc:
                    file_error = str(exc)
            reply_to = None
            if meta.channel_id:
                reply_to = Destination(platform=Platform.SLACK, workspace=team,
                                       channel_id=meta.channel_id, user_id=user_id)
            draft = TicketDraft(category=values.category or "", subject=values.subject,
                                message=values.message, attachment=attachment, reply_to=reply_to)
            if file_error is not None:
                _, others = self.desk.validate(draft)
                return _Answer.rejected([*others, FieldError("attachment", file_error)])
            result = await self.desk.submit(
                customer, draft, source_key=f"slack:{team}:view:{view['id']}:{view.get('hash')}",
                follows_ticket_id=meta.follows)
        except StorageUnavailable as exc:
            return _Answer.rejected([FieldError("message", str(exc))])
        except HelplineError as exc:
            return _Answer(view=ui.message_view("Support", str(exc)))
        except Exception:
            log.exception("ticket submit failed")
            return _Answer.rejected([FieldError("message", SOMETHING_WENT_WRONG)])
        if isinstance(result, Rejected):
            return _Answer.rejected(result.errors)
        return _Answer(view=self._render_result(result, meta))

    def _render_result(self, result: SubmitResult, meta: IntakeMeta) -> View:
        if isinstance(result, DuplicatePrompt):
            return ui.duplicate_prompt_view(result, metadata=meta.dump())
        if isinstance(result, SelfServiceOffer):
            return ui.self_service_view(result, metadata=meta.dump())
        if isinstance(result, Created):
            where = (f"in <#{meta.channel_id}>" if meta.channel_id
                     else "in your direct messages with Helpline")
            return ui.created_view(result, where=where)
        if isinstance(result, Continued):
            return ui.continued_view(result)
        if isinstance(result, Deflected):
            return ui.deflected_view(result)
        return ui.message_view("Support", "; ".join(e.message for e in result.errors))

    async def on_prompt_button(self, ack: AsyncAck, body: JSON, action: JSON,
                               client: AsyncWebClient, context: AsyncBoltContext) -> None:
        """continue #N / create a new ticket / this solved it / file the ticket anyway."""
        await ack()
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        view = body.get("view") or {}
        meta = IntakeMeta.load(view.get("private_metadata"))
        draft_id = str(action.get("value") or "")
        try:
            customer = await self.identity(client, team, user_id, user_name)
            action_id = action["action_id"]
            result: SubmitResult
            if action_id == ui.DUP_CONTINUE_ACTION:
                result = await self.desk.continue_existing(customer, draft_id)
            elif action_id == ui.DUP_CREATE_ACTION:
                result = await self.desk.create_new(customer, draft_id)
            elif action_id == ui.SS_FILE_ACTION:
                result = await self.desk.file_anyway(customer, draft_id)
            else:
                result = await self.desk.solved_by_article(customer, draft_id)
            new_view = self._render_result(result, meta)
        except HelplineError as exc:
            new_view = ui.message_view("Support", str(exc))
        except Exception:
            log.exception("prompt answer failed")
            new_view = ui.message_view("Support", SOMETHING_WENT_WRONG)
        try:
            await client.views_update(view_id=str(view.get("id")), hash=view.get("hash"),
                                      view=new_view)
        except Exception as exc:
            log.warning("views.update failed: %s", exc)

    async def on_link_button(self, ack: AsyncAck) -> None:
        await ack()

    async def on_rating(self, ack: AsyncAck, body: JSON, action: JSON, client: AsyncWebClient,
                        respond: AsyncRespond, context: AsyncBoltContext) -> None:
        """A customer's 1–5 rating of a closed ticket; the buttons make way for the thanks."""
        await ack()
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        try:
            ticket, closing, score = (int(x) for x in str(action.get("value")).split(":"))
            customer = await self.identity(client, team, user_id, user_name)
            thanks = await self.desk.rate(customer, ticket, score, closing=closing or None)
        except HelplineError as exc:
            await respond(text=str(exc), response_type="ephemeral", replace_original=False)
            return
        except ValueError:
            await respond(text="That rating button is out of date.", response_type="ephemeral",
                          replace_original=False)
            return
        except Exception:
            log.exception("rating failed")
            await respond(text=SOMETHING_WENT_WRONG, response_type="ephemeral",
                          replace_original=False)
            return
        await respond(text=thanks, replace_original=True)

    # ---- staff: card buttons ----------------------------------------------------------------

    async def on_card_action(self, ack: AsyncAck, body: JSON, action: JSON,
                             client: AsyncWebClient, respond: AsyncRespond,
                             context: AsyncBoltContext) -> None:
        await ack()
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        action_id = str(action["action_id"])
        try:
            actor = await self.actor(client, team, user_id, user_name)
            if not actor.is_staff:
                await respond(text=NOT_STAFF, response_type="ephemeral", replace_original=False)
                return
            if action_id in (ui.CARD_STATUS_ACTION, ui.CARD_CATEGORY_ACTION):
                raw = str((action.get("selected_option") or {}).get("value") or "")
                ticket, _, choice = raw.partition(":")
                ticket_id = int(ticket)
                if action_id == ui.CARD_STATUS_ACTION:
                    await self.desk.set_status(actor, ticket_id, Status(choice))
                else:
                    await self.desk.recategorise(actor, ticket_id, Category(choice))
            else:
                ticket_id = int(str(action.get("value")))
                if action_id == ui.CARD_ASSIGN_ACTION:
                    await self.desk.assign(actor, ticket_id, actor.identity.display)
                elif action_id == ui.CARD_CLOSE_ACTION:
                    await self.desk.set_status(actor, ticket_id, Status.CLOSED)
                else:
                    await self.desk.set_status(actor, ticket_id, Status.OPEN)
        except HelplineError as exc:
            await respond(text=str(exc), response_type="ephemeral", replace_original=False)
        except (ValueError, KeyError):
            await respond(text="That button is out of date; the card will refresh.",
                          response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("card action failed")
            await respond(text=SOMETHING_WENT_WRONG, response_type="ephemeral",
                          replace_original=False)

    # ---- staff: internal notes ---------------------------------------------------------------

    async def on_internal_note_shortcut(self, ack: AsyncAck, body: JSON, client: AsyncWebClient,
                                        respond: AsyncRespond,
                                        context: AsyncBoltContext) -> None:
        await ack()
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        thread_ts = str(message.get("thread_ts") or message.get("ts") or "")
        try:
            actor = await self.actor(client, team, user_id, user_name)
            if not actor.is_staff:
                await respond(text=NOT_STAFF, response_type="ephemeral")
                return
            found = await self.desk.ticket_id_for_thread(ThreadRef(
                platform=Platform.SLACK, workspace=team, channel_id=channel, thread_id=thread_ts))
            if found is None or found[1] is not Side.STAFF:
                await respond(text="Use *Internal note* on a ticket's card (or a message in its "
                                   "thread) in the staff channel.", response_type="ephemeral")
                return
            is_card = message.get("ts") == thread_ts
            prefill = "" if is_card or message.get("bot_id") else from_slack_markup(
                str(message.get("text") or ""))
            meta = f"{channel}:{thread_ts}"
            await client.views_open(trigger_id=str(body["trigger_id"]),
                                    view=ui.note_modal(found[0], meta, prefill))
        except HelplineError as exc:
            await respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("internal note shortcut failed")
            await respond(text=SOMETHING_WENT_WRONG, response_type="ephemeral")

    async def on_note_submit(self, ack: AsyncAck, body: JSON, view: JSON,
                             client: AsyncWebClient, context: AsyncBoltContext) -> None:
        team = self.team_of(body, context)
        user_id, user_name = self.user_of(body)
        channel, _, thread_ts = str(view.get("private_metadata") or "").partition(":")
        text = str(((view["state"]["values"].get(ui.NOTE_BLOCK) or {}).get(ui.INPUT_ACTION)
                    or {}).get("value") or "")
        thread = ThreadRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                           thread_id=thread_ts)
        try:
            actor = await self.actor(client, team, user_id, user_name)
            result = await self.desk.internal_note(
                actor, text, thread=thread,
                source_key=f"slack:{team}:view:{view['id']}:{view.get('hash')}")
        except ValidationFailed as exc:
            await ack(response_action="errors",
                      errors={ui.NOTE_BLOCK: exc.for_field("note") or str(exc)})
            return
        except HelplineError as exc:
            await ack(response_action="errors", errors={ui.NOTE_BLOCK: str(exc)})
            return
        except Exception:
            log.exception("internal note failed")
            await ack(response_action="errors", errors={ui.NOTE_BLOCK: SOMETHING_WENT_WRONG})
            return
        await ack()
        if not result.duplicate:
            await self.transport.say_in_thread(client, channel, thread_ts, Outbound(
                kind=OutboundKind.NOTICE, ticket_id=result.ticket_id,
                text=f"🔒 Internal note by {actor.identity.display} (not sent to the "
                     f"customer):\n{text.strip()}"))

    # ---- messages in ticket threads ----------------------------------------------------------

    async def on_message(self, event: JSON, body: JSON, client: AsyncWebClient,
                         context: AsyncBoltContext) -> None:
        await self.thread_message(event, team=self.team_of(body, context), client=client,
                                  token=context.bot_token)

    async def thread_message(self, event: JSON, *, team: str, client: AsyncWebClient,
                             token: str | None, caught_up: bool = False) -> None:
        """A message as a ``message`` event carries it, live or read back from a thread after
        downtime (catchup.py, ``caught_up``: a customer's is then timed by its ``ts``): a
        person's reply in a ticket's thread is handled once per message key; anything else is
        ignored."""
        if event.get("subtype") not in RELAYED_SUBTYPES or event.get("bot_id"):
            return  # edits, deletions, joins, and every bot (Helpline included) are not relayed
        ts = str(event.get("ts") or "")
        thread_ts = event.get("thread_ts")
        user_id = event.get("user")
        if not thread_ts or thread_ts == ts or not user_id:
            return  # top-level messages are never relayed: only replies in a ticket's thread
        channel = str(event["channel"])
        thread = ThreadRef(platform=Platform.SLACK, workspace=team, channel_id=channel,
                           thread_id=str(thread_ts))
        key = f"slack:{team}:{channel}:{ts}"
        if key in self._inflight:
            return  # Slack's retry arrived while the first delivery is still being handled
        self._inflight.add(key)
        # Bolt handles requests concurrently; one thread's messages are handled one at a time,
        # in arrival order, so two quick replies reach the other side in the order written.
        lock_key = f"{team}:{channel}:{thread_ts}"
        lock, users = self._thread_locks.get(lock_key, (asyncio.Lock(), 0))
        self._thread_locks[lock_key] = (lock, users + 1)
        try:
            async with lock:
                found = await self.desk.ticket_id_for_thread(thread)
                if found is None:
                    return
                ticket_id, side = found
                if side is Side.CUSTOMER:
                    await self._customer_message(event, client, token, team, thread, key,
                                                 ticket_id, caught_up=caught_up)
                else:
                    await self._staff_message(event, client, token, team, thread, key,
                                              ticket_id)
        except StorageUnavailable as exc:
            await self._tell(client, channel, str(thread_ts), str(user_id), str(exc),
                             ticket_id=0, private=True)
        except Exception:
            log.exception("message handling failed")
        finally:
            self._inflight.discard(key)
            lock, users = self._thread_locks[lock_key]
            if users <= 1:
                del self._thread_locks[lock_key]
            else:
                self._thread_locks[lock_key] = (lock, users - 1)

    async def _attachment(self, event: JSON, client: AsyncWebClient,
                          token: str | None) -> tuple[AttachmentIn | None, str | None]:
        files = [f for f in event.get("files") or [] if isinstance(f, dict)]
        if not files:
            return None, None
        if len(files) > 1:
            return None, ("Your message wasn't sent: attach one image per message "
                          "(JPEG, PNG, GIF or WebP). Send the others one by one.")
        try:
            return await fetch_file(client, token, files[0]), None
        except FileProblem as exc:
            return None, f"Your message wasn't sent: {exc}"

    async def _customer_message(self, event: JSON, client: AsyncWebClient,
                                token: str | None, team: str, thread: ThreadRef,
                                key: str, ticket_id: int, *, caught_up: bool = False) -> None:
        user_id = str(event["user"])
        text = from_slack_markup(str(event.get("text") or ""))
        attachment, problem = await self._attachment(event, client, token)
        if problem:
            await self._refuse(client, thread, event, problem, ticket_id=ticket_id)
            return
        customer = await self.identity(client, team, user_id)
        result = await self.desk.customer_reply(
            customer, text, thread=thread, attachment=attachment, source_key=key,
            source_ref=MessageRef(platform=Platform.SLACK, workspace=team,
                                  channel_id=thread.channel_id, message_id=str(event["ts"])),
            written_at=slack_time(str(event["ts"])) if caught_up else None)
        if isinstance(result, ReplyRefused):
            reason = result.reason
            if result.new_ticket_follows:
                reason += " Run `/support new` to open it."
            await self._refuse(client, thread, event, reason, ticket_id=ticket_id)
        elif isinstance(result, ReplyAccepted) and result.redaction_notice and not result.duplicate:
            await self._tell(client, thread.channel_id, thread.thread_id, user_id,
                             result.redaction_notice, ticket_id=ticket_id)

    async def _staff_message(self, event: JSON, client: AsyncWebClient,
                             token: str | None, team: str, thread: ThreadRef,
                             key: str, ticket_id: int) -> None:
        user_id = str(event["user"])
        actor = await self.actor(client, team, user_id)
        if not actor.is_staff:
            await self._refuse(client, thread, event, NOT_STAFF, ticket_id=ticket_id,
                               private=True)
            return
        verdict = notes.judge(str(event.get("text") or ""))
        if verdict.internal:
            if event.get("files"):
                await self._tell(client, thread.channel_id, thread.thread_id, user_id,
                                 "Kept internal. Images are not stored with internal notes; "
                                 "the customer did not get this one either.",
                                 ticket_id=ticket_id, private=True)
            body = from_slack_markup(verdict.body)
            if body:
                await self.desk.internal_note(actor, body, thread=thread, source_key=key)
            await self._mark_internal(client, thread.channel_id, str(event["ts"]))
            return
        text = from_slack_markup(str(event.get("text") or ""))
        attachment, problem = await self._attachment(event, client, token)
        if problem:
            await self._refuse(client, thread, event, problem, ticket_id=ticket_id,
                               private=True)
            return
        result = await self.desk.staff_reply(
            actor, text, thread=thread, attachment=attachment, source_key=key,
            source_ref=MessageRef(platform=Platform.SLACK, workspace=team,
                                  channel_id=thread.channel_id, message_id=str(event["ts"])))
        if isinstance(result, ReplyRefused):
            await self._refuse(client, thread, event, result.reason, ticket_id=ticket_id,
                               private=True)
        elif result.redaction_notice and not result.duplicate:
            await self._tell(client, thread.channel_id, thread.thread_id, user_id,
                             result.redaction_notice, ticket_id=ticket_id, private=True)

    async def _refuse(self, client: AsyncWebClient, thread: ThreadRef, event: JSON, reason: str,
                      *, ticket_id: int, private: bool = False) -> None:
        """A thread message that was not passed on: its author is told why, and the message
        gets :warning: (not delivered), which also tells the catch-up after a restart that it
        was handled (see catchup.py)."""
        await self._tell(client, thread.channel_id, thread.thread_id, str(event["user"]), reason,
                         ticket_id=ticket_id, private=private)
        try:
            await client.reactions_add(channel=thread.channel_id, timestamp=str(event["ts"]),
                                       name=REACTIONS[Reaction.FAILED])
        except Exception as exc:
            log.info("could not mark a refused message: %s", exc)

    async def _mark_internal(self, client: AsyncWebClient, channel: str, ts: str) -> None:
        """:lock: on a staff message that stayed internal, so staff see it did not go out.
        Direct and best effort: the note is stored whether or not the mark lands."""
        try:
            await client.reactions_add(channel=channel, timestamp=ts, name=notes.LOCK_REACTION)
        except Exception as exc:
            log.info("could not mark a note internal: %s", exc)

    async def _tell(self, client: AsyncWebClient, channel: str, thread_ts: str, user_id: str,
                    text: str, *, ticket_id: int, private: bool = False) -> None:
        """Answer the author of a thread message: in the thread (customers: their own thread)
        or, in the staff channel, only to them (ephemeral)."""
        if not private:
            await self.transport.say_in_thread(client, channel, thread_ts, Outbound(
                kind=OutboundKind.NOTICE, ticket_id=ticket_id, text=text))
            return
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, thread_ts=thread_ts,
                                            text=escape(text))
        except Exception as exc:
            log.warning("could not answer %s privately: %s", user_id, exc)


# ---- helpers -----------------------------------------------------------------------------------


class _FormValues:
    def __init__(self, category: str | None, subject: str, message: str,
                 files: list[JSON]) -> None:
        self.category = category
        self.subject = subject
        self.message = message
        self.files = files


def _form_values(view: JSON) -> _FormValues:
    values: JSON = (view.get("state") or {}).get("values") or {}

    def entry(block: str) -> JSON:
        found = (values.get(block) or {}).get(ui.INPUT_ACTION) or {}
        return found if isinstance(found, dict) else {}

    selected = entry(ui.CATEGORY_BLOCK).get("selected_option") or {}
    first = str(entry(ui.MESSAGE_BLOCK).get("value") or "")
    more = str(entry(ui.MESSAGE_MORE_BLOCK).get("value") or "")
    return _FormValues(
        category=selected.get("value") if isinstance(selected, dict) else None,
        subject=str(entry(ui.SUBJECT_BLOCK).get("value") or ""),
        message=join_message(first, more),
        files=[f for f in entry(ui.IMAGE_BLOCK).get("files") or [] if isinstance(f, dict)],
    )


class _Answer:
    """What a form submit answers: inline field errors, or the view that replaces the form."""

    def __init__(self, *, view: View | None = None,
                 field_errors: dict[str, str] | None = None) -> None:
        self.view: View = view or {}
        self.field_errors = field_errors or {}

    @property
    def errors(self) -> dict[str, str]:
        """Errors keyed by the modal's block ids (Slack shows each under its input)."""
        out: dict[str, str] = {}
        for field, message in self.field_errors.items():
            block = ui.FIELD_TO_BLOCK.get(field, ui.MESSAGE_BLOCK)
            out[block] = f"{out[block]} {message}" if block in out else message
        return out

    @classmethod
    def rejected(cls, errors: list[FieldError]) -> _Answer:
        merged: dict[str, str] = {}
        for e in errors:
            merged[e.field] = f"{merged[e.field]} {e.message}" if e.field in merged else e.message
        return cls(field_errors=merged)


def slack_time(ts: str) -> datetime | None:
    """When a Slack message was written, from its ``ts`` (seconds since the epoch)."""
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def permalink(domain: str, channel: str, ts: str, thread_ts: object = None) -> str:
    """A message's link, built locally (no API call inside the 3-second trigger window)."""
    if not (domain and channel and ts):
        return ""
    link = f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if isinstance(thread_ts, str) and thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link
