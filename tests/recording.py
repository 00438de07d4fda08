"""A transport that records what it is asked to deliver and can be told to fail, for outbox
and service tests (the chat adapters have their own fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.models import Destination, MessageRef, Platform, ThreadRef
from core.outbound import CardPosted, DeliveryError, Outbound, OutboundFile, Reaction
from core.views import TicketCard


@dataclass
class Sent:
    op: str
    key: str
    text: str = ""
    ticket_id: int | None = None
    target: str = ""
    file: OutboundFile | None = None
    card: TicketCard | None = None


@dataclass
class RecordingTransport:
    platform: Platform = Platform.CONSOLE
    sent: list[Sent] = field(default_factory=list)
    failures: list[tuple[str | None, DeliveryError]] = field(default_factory=list)
    attempts: int = 0
    _n: int = 0

    def fail_next(self, *errors: DeliveryError, op: str | None = None) -> None:
        """The next calls (of ``op`` only, when given) raise these errors, in order."""
        self.failures.extend((op, e) for e in errors)

    def _maybe_fail(self, op: str) -> None:
        self.attempts += 1
        for i, (only, error) in enumerate(self.failures):
            if only is None or only == op:
                del self.failures[i]
                raise error

    def _id(self) -> str:
        self._n += 1
        return f"m{self._n}"

    async def open_thread(
        self, dest: Destination, message: Outbound, file: OutboundFile | None, key: str
    ) -> ThreadRef:
        self._maybe_fail("open_thread")
        self.sent.append(Sent("open_thread", key, message.text, message.ticket_id, str(dest), file))
        return ThreadRef(
            platform=self.platform,
            workspace="w",
            channel_id=f"dm-{dest.user_id}",
            thread_id=f"t{message.ticket_id}",
        )

    async def post(
        self, thread: ThreadRef, message: Outbound, file: OutboundFile | None, key: str
    ) -> MessageRef:
        self._maybe_fail("post")
        self.sent.append(
            Sent("post", key, message.text, message.ticket_id, thread.channel_id, file)
        )
        return MessageRef(
            platform=self.platform,
            workspace="w",
            channel_id=thread.channel_id,
            message_id=self._id(),
        )

    async def post_card(self, dest: Destination, card: TicketCard, key: str) -> CardPosted:
        self._maybe_fail("post_card")
        self.sent.append(Sent("post_card", key, card.subject, card.id, str(dest), card=card))
        ref = MessageRef(
            platform=self.platform, workspace="w", channel_id="staff", message_id=f"card{card.id}"
        )
        return CardPosted(
            card=ref,
            thread=ThreadRef(
                platform=self.platform, workspace="w", channel_id="staff", thread_id=ref.message_id
            ),
        )

    async def update_card(self, ref: MessageRef, card: TicketCard) -> None:
        self._maybe_fail("update_card")
        self.sent.append(
            Sent("update_card", "", card.status.value, card.id, ref.message_id, card=card)
        )

    async def react(self, ref: MessageRef, reaction: Reaction) -> None:
        self._maybe_fail("react")
        self.sent.append(Sent("react", "", reaction.value, None, ref.message_id))

    async def find_delivered(self, thread: ThreadRef, key: str) -> MessageRef | None:
        """Like a platform search for the outbox key carried in a message's metadata."""
        for i, sent in enumerate(self.sent):
            if sent.op == "post" and sent.key == key:
                return MessageRef(platform=self.platform, workspace="w",
                                  channel_id=thread.channel_id, message_id=f"found{i}")
        return None

    def posts(self, target: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.op == "post" and (target is None or s.target == target)]
