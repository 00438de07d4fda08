"""What core sends to chat platforms, and the port each adapter implements to send it.

The outbox stores these shapes as JSON; the delivery worker hands them to the transport of the
target's platform. Text is plain and unescaped: escaping mentions and splitting long text to the
platform's limits is the transport's job (with ``core.rules.text.split_text``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from core.models import Attachment, Destination, MessageRef, Platform, ThreadRef
from core.views import TicketCard


class OutboundKind(StrEnum):
    TICKET_OPENED = "ticket_opened"  # first message of the customer's thread
    RELAY = "relay"  # words of the other side
    NOTICE = "notice"  # Helpline speaking (status change, failure warning, ...)
    RATING_REQUEST = "rating_request"  # "how did we do?" with 1-5 buttons, after a close


class Reaction(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class Outbound(BaseModel):
    kind: OutboundKind
    ticket_id: int
    text: str
    author: str | None = None  # the person whose words are relayed
    author_is_staff: bool = False
    attachment: Attachment | None = None
    broadcast: bool = False  # staff notices that should show in the channel, not only the thread
    ping_group: str | None = None  # on-call user group / role to notify (the one ping allowed)
    rating_closing: int | None = None  # which closing a rating request is for


class OutboundFile(BaseModel):
    attachment: Attachment
    data: bytes


class CardPosted(BaseModel):
    card: MessageRef
    thread: ThreadRef


class DeliveryError(Exception):
    """Raised by a transport. ``permanent`` errors are not retried (a channel that does not
    exist, a user who blocks the bot); others are retried with backoff, no sooner than
    ``retry_after`` seconds when the platform said so."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    """One chat platform's way of delivering what core sends."""

    platform: Platform

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef: ...

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef: ...

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted: ...

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None: ...

    async def react(self, ref: MessageRef, reaction: Reaction) -> None: ...


class RecoveringTransport(Transport, Protocol):
    """A transport that can tell whether a post already reached the platform. The worker asks
    it before posting again a message whose delivery was cut off by a crash, so that a restart
    never posts twice (the key is the outbox row's idempotency key, carried with the post)."""

    async def find_delivered(self, thread: ThreadRef, key: str) -> MessageRef | None: ...
